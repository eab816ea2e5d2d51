"""Regular expressions compiled when first used. A module declares its patterns at import, but a
run uses few of them: compiling the hundred or so that the modules of a one-file check declare
took 9 ms of its 300."""

from __future__ import annotations

import re
from typing import Any

_METHODS = ("search", "match", "fullmatch", "finditer", "findall", "sub", "subn", "split")


class _LazyPattern:
    """Stands in for `re.compile(pattern, flags)`: the first attribute asked for compiles it
    and binds its methods here, so later uses cost what the compiled pattern's do."""

    def __init__(self, pattern: str | bytes, flags: int):
        self._source = (pattern, flags)

    def __getattr__(self, name: str) -> Any:  # what is not bound yet (all, before first use)
        if name.startswith("__"):
            raise AttributeError(name)
        compiled = self.__dict__.get("_compiled")
        if compiled is None:
            compiled = self._compiled = re.compile(*self._source)
            for attribute in (*_METHODS, "pattern", "flags", "groups", "groupindex"):
                setattr(self, attribute, getattr(compiled, attribute))
        return getattr(compiled, name)

    def __repr__(self) -> str:
        return f"lazy_pattern({self._source[0]!r})"


def lazy_pattern(pattern: str | bytes, flags: int = 0) -> re.Pattern[Any]:
    """`re.compile`, compiled on first use (for patterns declared at import)."""
    return _LazyPattern(pattern, flags)  # type: ignore[return-value]
