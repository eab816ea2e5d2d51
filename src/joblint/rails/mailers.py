"""Action Mailer: which classes are mailers, and what a mailer message expression is."""

from __future__ import annotations

from .. import ruby
from ..ruby import Node
from .classes import ClassIndex

MAILER_BASES = frozenset({"ActionMailer::Base", "ApplicationMailer"})


def is_mailer(classes: ClassIndex, name: str) -> bool:
    return name == "ApplicationMailer" or bool(set(classes.ancestors(name)) & MAILER_BASES)


def mailer_constant(expression: Node, classes: ClassIndex) -> str | None:
    """For `UserMailer.with(..).welcome(u)`, the mailer name when the chain is rooted at one.

    A constant counts when the project defines it as a mailer, or — for mailers of gems or
    of files not in the index — when its name ends in `Mailer`.
    """
    if expression.type != "call" or ruby.call_receiver(expression) is None:
        return None
    root = ruby.chain_root(expression)
    name = ruby.constant_path(root)
    if name is None:
        return None
    if name in classes:
        return name if is_mailer(classes, name) else None
    return name if name.rsplit("::", 1)[-1].endswith("Mailer") else None
