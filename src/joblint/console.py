"""The terminal console every command prints through: colour only on a terminal and never
with NO_COLOR; Ruby text is never read as markup. Below the CLI and the inventory alike."""

from __future__ import annotations

import builtins
import os
import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.console import Console


def colour_off(stream: TextIO) -> bool:
    """Would `make_console` surely print to the stream without colour? With NO_COLOR, or on a
    stream that is not a terminal, when nothing rich reads could make it one (FORCE_COLOR,
    TTY_COMPATIBLE, a notebook): the caller can then print plain text without importing rich."""
    if os.environ.get("NO_COLOR"):
        return True
    if "FORCE_COLOR" in os.environ or "TTY_COMPATIBLE" in os.environ:
        return False
    if os.environ.get("DATABRICKS_RUNTIME_VERSION") or hasattr(builtins, "get_ipython"):
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return isatty is None or not isatty()
    except ValueError:  # a closed stream: rich counts it as no terminal too
        return True


def make_console(stream=None, width: int | None = None) -> Console:  # type: ignore[no-untyped-def]
    """Colour only on a terminal and never with NO_COLOR; Ruby text is never markup."""
    from rich.console import Console

    no_color = bool(os.environ.get("NO_COLOR"))
    return Console(
        file=stream or sys.stdout,
        no_color=no_color,
        highlight=False,
        markup=False,
        emoji=False,
        width=width,
        color_system=None if no_color else "auto",
    )
