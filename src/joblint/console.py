"""The terminal console every command prints through: colour only on a terminal and never
with NO_COLOR; Ruby text is never read as markup. Below the CLI and the inventory alike."""

from __future__ import annotations

import os
import sys

from rich.console import Console


def make_console(stream=None, width: int | None = None) -> Console:  # type: ignore[no-untyped-def]
    """Colour only on a terminal and never with NO_COLOR; Ruby text is never markup."""
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
