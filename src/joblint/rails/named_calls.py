"""Calls of given methods in a file, found once for all rules: each rule searching the tree for
its own few methods cost, per search, about what parsing the file costs (and compiling each
search, once per run, as much again as a few files). One search per family of names finds
them all; each rule then keeps its own."""

from __future__ import annotations

from collections.abc import Collection

from .. import ruby
from ..ruby import Node
from ..source import SourceFile

# the names rules ask for, by family: a file is searched once per family it is asked about
FAMILIES = (
    frozenset(
        {"perform_later", "perform_async", "perform_in", "perform_at", "perform_bulk",
         "perform_now", "perform_inline", "perform", "set", "new", "start", "fork",
         "deliver_later", "deliver_later!", "deliver_now", "deliver_now!", "deliver", "deliver!",
         "send", "public_send", "__send__"}
    ),
    frozenset(
        {"retry_on", "rescue_from", "sidekiq_options", "mount", "bounce_with", "bounce_now_with"}
    ),
    # the model macros of `models.py`: associations, scopes and save callbacks
    frozenset(
        {"has_many", "has_one", "belongs_to", "has_and_belongs_to_many", "scope",
         "after_create", "after_save", "after_update", "after_destroy", "before_create",
         "before_save", "before_update", "before_destroy", "before_validation"}
    ),
    # the record updates of JL301
    frozenset(
        {"increment!", "decrement!", "increment_counter", "decrement_counter", "update_counters",
         "update", "update!", "update_columns", "update_attributes", "update_column",
         "update_attribute", "update_all"}
    ),
    # the whole-file loads of JL503
    frozenset({"read", "table", "readlines", "parse", "to_a", "load"}),
)  # fmt: skip


def calls_named(
    source: SourceFile,
    methods: Collection[str],
    receiver: bool | None = None,
    arguments: bool = False,
) -> list[Node]:
    """The calls of `methods` in the file, as `ruby.matches` finds them (in the same order) with
    `(call method: (identifier) @method (#any-of? @method …)) @call` — and `receiver: (_)` when
    `receiver` is True, `!receiver` when it is False, `arguments: (argument_list)` when
    `arguments`."""
    family = next(i for i, names in enumerate(FAMILIES) if names.issuperset(methods))
    key = f"named_calls:{family}"
    found = source.derived.get(key)  # kept with the tree, let go with it
    if found is None:
        found = source.derived[key] = _calls_of(source, FAMILIES[family])
    calls = [call for call, method in found if method in methods]  # type: ignore[attr-defined]
    if receiver is not None:
        calls = [c for c in calls if (c.child_by_field_name("receiver") is not None) is receiver]
    if arguments:
        calls = [c for c in calls if _argument_list(c)]
    return calls


def _calls_of(source: SourceFile, methods: Collection[str]) -> list[tuple[Node, str]]:
    """(call, method) as `ruby.matches` finds them with `ruby.calls_query(methods)`: from where
    the names are written, which costs less than compiling that query (see node_search)."""
    return [
        (path[-1], ruby.text(name))
        for name, path in ruby.identifiers_named(source.root, source.data, methods)
        if len(path) - 1 <= ruby.MAX_ASCENT and path[-1].type == "call"
        and ruby.is_child(path[-1], "method", name)
    ]


def _argument_list(call: Node) -> bool:
    found = call.child_by_field_name("arguments")
    return found is not None and found.type == "argument_list"
