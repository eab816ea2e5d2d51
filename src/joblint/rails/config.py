"""Facts from the app's configuration: gems and versions, queue adapter, load_defaults.

Ruby config files are read with anchored regular expressions over non-comment lines, not
evaluated: a value computed at boot is unknown, and unknown facts keep rules silent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..patterns import lazy_pattern

BACKEND_GEMS = ("sidekiq", "solid_queue", "good_job", "delayed_job", "resque", "que", "sneakers")
_SPEC_LINE = lazy_pattern(r"^    ([A-Za-z0-9_.\-]+) \(([^)]+)\)\s*$")
_ADAPTER = lazy_pattern(
    r"^[^\S\n]*(?:config|Rails\.application\.config)\.active_job\.queue_adapter\s*=\s*:?[\"']?(\w+)",
    re.MULTILINE,
)
_LOAD_DEFAULTS = lazy_pattern(r"^[^\S\n]*config\.load_defaults\s*\(?\s*[\"']?(\d+(?:\.\d+)?)", re.MULTILINE)


@dataclass(frozen=True)
class Version:
    parts: tuple[int, ...]

    @classmethod
    def parse(cls, text: str) -> Version | None:
        match = re.match(r"(\d+(?:\.\d+)*)", text.strip())
        if match is None:
            return None
        parts = match.group(1).split(".")
        if any(len(p) > 9 for p in parts):
            return None  # not a version anyone released: unknown, never a crash
        return cls(tuple(int(p) for p in parts))

    def __ge__(self, other: tuple[int, ...]) -> bool:  # type: ignore[override]
        return self.parts >= other

    def __lt__(self, other: tuple[int, ...]) -> bool:  # type: ignore[override]
        return self.parts < other

    def __str__(self) -> str:
        return ".".join(str(p) for p in self.parts)


def locked_gems(lockfile_text: str) -> dict[str, Version]:
    """Top-level specs of a Gemfile.lock (`    name (version)` lines), name → version."""
    gems: dict[str, Version] = {}
    for line in lockfile_text.splitlines():
        match = _SPEC_LINE.match(line)
        if match is None:
            continue
        version = Version.parse(match.group(2))
        if version is not None and match.group(1) not in gems:
            gems[match.group(1)] = version
    return gems


def active_lines(text: str) -> str:
    """The text with comment lines blanked, so commented-out settings do not count."""
    return "\n".join("" if line.lstrip().startswith("#") else line for line in text.splitlines())


def queue_adapter(config_texts: list[str]) -> str | None:
    """The last `queue_adapter =` among the given config files (later files override)."""
    adapter = None
    for text in config_texts:
        found = _ADAPTER.findall(active_lines(text))
        real = [a for a in found if a not in ("test", "inline")]
        if real:
            adapter = real[-1]
    return adapter


def load_defaults(application_rb: str) -> Version | None:
    found = _LOAD_DEFAULTS.findall(active_lines(application_rb))
    return Version.parse(found[-1]) if found else None
