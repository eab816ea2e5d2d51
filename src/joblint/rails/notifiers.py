"""The noticed gem: notifier classes and their `deliver_by :email` options.

noticed 2 (`class X < Noticed::Event`, or an `ApplicationNotifier` inheriting it) reads the
options of a block, `deliver_by :email do |config| config.mailer = "UserMailer" … end`, or of
keyword arguments; at delivery it calls `mailer.with(params).public_send(method, *args,
**kwargs)`. noticed 1 (`Noticed::Base`) takes `deliver_by :email, mailer: …, method: …` and
calls `mailer.with(params).send(method)`, the method defaulting to the notification's
underscored class name. A symbol or string naming a method of the notifier is evaluated
(that method returns the option); a proc is evaluated too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from .. import ruby
from ..ruby import Node
from .app import App
from .config import Version

NOTICED_V1_BASES = frozenset({"Noticed::Base"})
NOTICED_V2_BASES = frozenset({"Noticed::Event", "Noticed::Ephemeral"})
_DELIVER_BY = ruby.compile_query(
    '(call !receiver method: (identifier) @m (#eq? @m "deliver_by") arguments: (argument_list . (simple_symbol) @kind)) @call'
)


@dataclass
class EmailDelivery:
    """One `deliver_by :email` declaration: its options as written, value nodes by name."""

    call: Node
    notifier: str
    options: dict[str, Node] = field(default_factory=dict)
    readable: bool = True  # False: an option set in a way joblint does not read


def noticed_major(app: App, notifier: str) -> int | None:
    """The noticed major version: Gemfile.lock, else the notifier's base class."""
    locked: Version | None = app.gems.get("noticed")
    if locked is not None and locked.parts:
        return locked.parts[0]
    ancestors = set(app.classes.ancestors(notifier))
    if ancestors & NOTICED_V2_BASES:
        return 2
    if ancestors & NOTICED_V1_BASES:
        return 1
    return None


def is_notifier(app: App, name: str) -> bool:
    return bool(set(app.classes.ancestors(name)) & (NOTICED_V1_BASES | NOTICED_V2_BASES))


def email_deliveries(app: App, root: Node) -> Iterator[EmailDelivery]:
    """The `deliver_by :email` declarations at class level of noticed notifiers in a tree."""
    for _, caps in ruby.matches(_DELIVER_BY, root):
        if ruby.text(caps["kind"][0]) != ":email":
            continue
        call = caps["call"][0]
        notifier = app.enclosing_class(call)
        if notifier is None or not is_notifier(app, notifier):
            continue
        if ruby.enclosing(call, ruby.METHOD_TYPES) is not None:
            continue
        delivery = EmailDelivery(call, notifier)
        for arg in ruby.call_arguments(call)[1:]:
            key = ruby.pair_key(arg) if arg.type == "pair" else None
            value = arg.child_by_field_name("value") if arg.type == "pair" else None
            if key is None or value is None:
                delivery.readable = False  # `**options`, a hash variable
            else:
                delivery.options[key] = value
        block = ruby.call_block(call)
        if block is not None:
            _read_block(block, delivery)
        yield delivery


def _read_block(block: Node, delivery: EmailDelivery) -> None:
    """`config.key = value` / `config[:key] = value` statements of the options block."""
    params = ruby.block_parameters(block)
    body = block.child_by_field_name("body")
    if len(params) != 1:
        delivery.readable = delivery.readable and body is None
        return
    name = params[0]
    for statement in body.named_children if body is not None else ():
        if statement.type == "comment":
            continue
        key = _option_assigned(statement, name)
        if key is not None:
            value = statement.child_by_field_name("right")
            if value is not None:
                delivery.options[key] = value
                continue
        if any(n.type == "identifier" and ruby.text(n) == name for n in ruby.walk(statement)):
            delivery.readable = False  # `config.merge!(…)`, a conditional assignment…


def _option_assigned(statement: Node, name: str) -> str | None:
    if statement.type != "assignment":
        return None
    left = statement.child_by_field_name("left")
    if left is None:
        return None
    if left.type == "call":
        receiver = ruby.call_receiver(left)
        if receiver is not None and receiver.type == "identifier" and ruby.text(receiver) == name:
            return ruby.call_method(left)
    if left.type == "element_reference":
        children = left.named_children
        if len(children) == 2 and ruby.text(children[0]) == name:
            return ruby.string_value(children[1])
    return None


def returned_literal(value: Node) -> Node:
    """The literal a `-> { [a, b] }` option returns (noticed calls procs); else the value."""
    if value.type != "lambda":
        return value
    body = value.child_by_field_name("body")
    statements = body.child_by_field_name("body") if body is not None else None
    if statements is None and body is not None:
        statements = next(
            (c for c in body.named_children if c.type in ("block_body", "body_statement")), None
        )
    if statements is None:
        return value
    named = [c for c in statements.named_children if c.type != "comment"]
    return named[0] if len(named) == 1 else value
