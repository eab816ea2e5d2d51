"""Active Record models: which project classes are records."""

from __future__ import annotations

from collections.abc import Callable

from .classes import ClassDef, ClassIndex

RECORD_BASES = frozenset({"ActiveRecord::Base", "ApplicationRecord"})


def is_model(classes: ClassIndex, name: str) -> bool:
    if name == "ApplicationRecord":
        return False  # the abstract base, not a table
    return bool(set(classes.ancestors(name)) & RECORD_BASES)


def model_names(classes: ClassIndex, where: Callable[[ClassDef], bool]) -> list[str]:
    """Models with a definition matching `where` (e.g. defined under app/models)."""
    return [
        name
        for name in classes.names()
        if not any(d.is_module for d in classes.definitions[name])
        and any(where(d) for d in classes.definitions[name])
        and is_model(classes, name)
    ]
