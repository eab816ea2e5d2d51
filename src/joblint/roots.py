"""Where the Rails apps are under a named path: a monorepo's `backend/`, apps side by side.

`find_root` walks up from a path to the first directory with `config/application.rb` or a
`Gemfile`. From a repository root that holds the app in a subdirectory, that finds nothing (or
a tooling Gemfile), and every file would be linted without its project model. So a named
directory that is not inside an app is searched downwards for apps (`config/application.rb`);
each file below one belongs to it. An app's own engines and its `test/dummy` are part of the app,
not apps of their own.
"""

from __future__ import annotations

import os
from pathlib import Path

from .rails.app import find_root

# directories never holding an app worth linting, skipped on the way down
SKIPPED = frozenset({"node_modules", "vendor", "tmp", "log", "coverage", "public", "storage"})
MAX_DEPTH = 4  # `apps/shop/backend/` is deep enough; a whole disk is not searched


def is_app(directory: Path) -> bool:
    return (directory / "config" / "application.rb").is_file()


def apps_below(path: Path) -> list[Path]:
    """Rails apps under directory `path` (not `path` itself), outermost only, sorted."""
    found: list[Path] = []
    base_depth = len(path.parts)
    for current, directories, _ in os.walk(path):
        here = Path(current)
        if here != path and is_app(here):
            found.append(here)
            directories[:] = []  # its engines and dummy apps are part of it
            continue
        if len(here.parts) - base_depth >= MAX_DEPTH:
            directories[:] = []
            continue
        directories[:] = sorted(
            d for d in directories if not d.startswith(".") and d not in SKIPPED
        )
    return sorted(found)


def root_for(path: Path) -> tuple[Path | None, list[Path]]:
    """The root of a named path and, when that root is not an app (no root, or only a Gemfile),
    the apps found below the path: their files belong to them instead."""
    root = find_root(path)
    if root is not None and is_app(root):
        return root, []
    return root, apps_below(path) if path.is_dir() else []


def owning_app(file: str, apps: list[Path]) -> Path | None:
    """The app (of `apps`) holding an absolute file path, deepest first."""
    for app in sorted(apps, key=lambda a: len(a.parts), reverse=True):
        prefix = os.path.join(str(app), "")
        if file.startswith(prefix):
            return app
    return None
