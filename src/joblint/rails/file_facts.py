"""The per-file facts (`App.file_facts`): what a builder finds in one file alone, as plain data,
by the name the App keeps it under. The fact modules register their builders here, so that a
process extracting class definitions from a share of the files (a cold run on several cores)
builds these from the same trees while it has them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ..source import SourceFile

T = TypeVar("T")
BUILDERS: dict[str, Callable[[SourceFile], object]] = {}


def file_fact(name: str) -> Callable[[Callable[[SourceFile], T]], Callable[[SourceFile], T]]:
    """Register the decorated function as the builder of the per-file fact `name`."""

    def register(build: Callable[[SourceFile], T]) -> Callable[[SourceFile], T]:
        BUILDERS[name] = build
        return build

    return register
