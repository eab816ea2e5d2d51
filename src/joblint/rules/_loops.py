"""Shared analysis for the error-handling and performance rules: iteration blocks, relation
chains rooted at a model constant, rescue clauses, and calls named by a dotted path.

Kept general on purpose: nothing here knows a rule code.
"""

from __future__ import annotations

from collections.abc import Iterable

from .. import ruby
from ..findings import Edit, Hit, Severity, enclosing_scope, normalise
from ..rails.app import App
from ..rails.classes import contains_reraise
from ..rails.models import associations
from ..rails.models import scopes as declared_scopes
from ..ruby import Node
from ..source import SourceFile

# -- iteration blocks ----------------------------------------------------------------------

# Methods whose block runs once per element (or per batch) of the receiver.
ITERATION_METHODS = frozenset(
    {
        "each", "each_with_index", "each_with_object", "map", "collect", "flat_map", "filter_map",
        "find_each", "find_in_batches", "in_batches", "times",
    }
)
_SCOPE_BOUNDARIES = frozenset({"method", "singleton_method", "class", "module", "singleton_class"})
SMALL_LITERAL = 3  # loops over at most this many literal elements are not loops that matter
# Methods whose result has at most as many elements as their receiver.
NON_GROWING = frozenset(
    {
        "freeze", "dup", "to_a", "compact", "compact_blank", "uniq", "sort", "sort_by", "reverse",
        "select", "filter", "reject", "take", "first", "shuffle",
    }
)


def enclosing_iteration(node: Node, methods: frozenset[str] = ITERATION_METHODS) -> Node | None:
    """The innermost call among `methods` whose block (not its receiver or arguments) contains
    `node`, without crossing a `def` or class boundary."""
    for ancestor in ruby.ancestors(node):
        if ancestor.type in _SCOPE_BOUNDARIES:
            return None
        if ancestor.type in ruby.BLOCK_TYPES:
            call = ancestor.parent
            if call is not None and call.type == "call" and ruby.call_method(call) in methods:
                return call
    return None


def is_small_literal(node: Node | None, limit: int = SMALL_LITERAL) -> bool:
    """An array/hash/word-list/range literal of at most `limit` elements, or an integer ≤ `limit`
    (the receiver of `times`); parentheses, calls that cannot add elements (`.freeze`,
    `.compact.uniq`, `.select { … }`) and a constant assigned one in the same file are looked
    through."""
    if node is None:
        return False
    kind = node.type
    if kind == "parenthesized_statements" and node.named_child_count == 1:
        return is_small_literal(node.named_children[0], limit)
    if kind == "call" and ruby.call_method(node) in NON_GROWING:
        return is_small_literal(ruby.call_receiver(node), limit)
    if kind in ("array", "string_array", "symbol_array", "hash"):
        children = [c for c in node.named_children if c.type != "comment"]
        return len(children) <= limit and not any(
            c.type in ("splat_argument", "hash_splat_argument") for c in children
        )
    if kind == "integer":
        return _int(node) is not None and _int(node) <= limit  # type: ignore[operator]
    if kind == "range":
        low, high = node.child_by_field_name("begin"), node.child_by_field_name("end")
        if low is None or high is None or _int(low) is None or _int(high) is None:
            return False
        size = _int(high) - _int(low) + (0 if ruby.text(node).count(".") == 3 else 1)  # type: ignore[operator]
        return size <= limit
    if kind == "constant":
        value = constant_value(node)
        return value is not None and is_small_literal(value, limit)
    return False


def _int(node: Node) -> int | None:
    if node.type != "integer":
        return None
    try:
        return int(ruby.text(node).replace("_", ""), 0)
    except ValueError:
        return None


_CONSTANT_ASSIGNMENTS = ruby.compile_query("(assignment left: (constant) @name right: (_) @value)")


def constant_value(constant: Node) -> Node | None:
    """The value a constant is assigned in the same file (`KINDS = %w[a b]`), if exactly once."""
    root = constant
    while root.parent is not None:
        root = root.parent
    name = ruby.text(constant)
    values = [
        caps["value"][0]
        for _, caps in ruby.matches(_CONSTANT_ASSIGNMENTS, root)
        if ruby.text(caps["name"][0]) == name
    ]
    return values[0] if len(values) == 1 else None


# -- relation chains -----------------------------------------------------------------------

# Query methods that return a relation (`select` only with arguments: with a block it iterates).
RELATION_METHODS = frozenset(
    {
        "all", "where", "not", "or", "and", "rewhere", "invert_where", "includes", "preload",
        "eager_load", "joins", "left_joins", "left_outer_joins", "order", "reorder", "in_order_of",
        "distinct", "group", "having", "references", "unscoped", "unscope", "readonly", "lock",
        "merge", "from", "extending", "excluding", "without", "with", "strict_loading", "only",
        "except", "select", "limit", "offset", "none", "regroup", "annotate", "optimizer_hints",
        "create_with", "uniq",
    }
)
BOUNDING_METHODS = frozenset({"limit", "none"})
PRIMARY_KEYS = frozenset({"id", "ids", "uuid"})


def held_value(node: Node) -> Node:
    """What a variable iterated over holds: for a local, the value last assigned to it in the
    method; for an instance variable, that — or, when the method does not assign it, its one
    assignment in the class (`@users = User.where(…)` in `initialize`). The node itself when
    it is not a variable or the value is not known."""
    if node.type == "identifier":
        assigned = ruby.last_assignment(ruby.text(node), node)
        return assigned if assigned is not None else node
    if node.type == "instance_variable":
        assigned = ruby.last_assignment(ruby.text(node), node)
        if assigned is not None:
            return assigned
        owner = ruby.enclosing(node, {"class", "module"})
        if owner is not None:
            values = [
                value
                for assignment in ruby.descendants(owner, {"assignment"})
                if (left := assignment.child_by_field_name("left")) is not None
                and ruby.text(left) == ruby.text(node)
                and (value := assignment.child_by_field_name("right")) is not None
            ]
            if len(values) == 1:
                return values[0]
    return node


def model_relation(node: Node, app: App) -> str | None:
    """The model name when `node` is a relation built on a model constant through query
    methods and the model's declared `scope`s only (`User.active.where(..)`); else None."""
    if node.type != "call":
        return None
    methods = ruby.chain_methods(node)
    model = app.chain_model(node)
    if model is None:
        return None
    scopes = model_scopes(app, model)
    for call in _chain_calls(node):
        method = ruby.call_method(call)
        if method == "select" and iterates(call):
            return None  # `select { … }` filters loaded records: an array, not a relation
        if method not in RELATION_METHODS and method not in scopes:
            return None
    return model if methods else None


def iterates(call: Node) -> bool:
    """The call takes a block (`{ … }`, `do … end` or `&:name`) — or, for `select`, has no
    column arguments, which is the Enumerable form."""
    if ruby.call_block(call) is not None:
        return True
    arguments = ruby.call_arguments(call)
    if any(a.type == "block_argument" for a in arguments):
        return True
    return ruby.call_method(call) == "select" and not arguments


def _chain_calls(node: Node) -> Iterable[Node]:
    while node.type == "call":
        yield node
        receiver = ruby.call_receiver(node)
        if receiver is None:
            return
        node = receiver


def is_bounded(relation: Node) -> bool:
    """A relation limited in size: `limit(n)`, `none`, or a `where` on the primary key
    (`where(id: ids)` is as large as the list the caller chose)."""
    for call in _chain_calls(relation):
        method = ruby.call_method(call)
        if method in BOUNDING_METHODS:
            return True
        if method in ("where", "rewhere") and PRIMARY_KEYS & set(ruby.keyword_arguments(call)):
            return True
    return False


AGGREGATING = frozenset({"group", "having", "distinct"})
# values the code passes in (`feed.id`, `user`, `ids`, `params[:id]`): not literals or lists
PASSED_VALUES = frozenset({"identifier", "instance_variable", "call", "element_reference"})


def narrowed(relation: Node, app: App) -> bool:
    """A relation whose rows are few by construction: grouped or distinct (`group(..)`,
    `having`, `distinct`), or filtered on a foreign key or a belongs_to association by a value
    the code passes (`where(feed_id: feed.id)`, `where(user: user)`, `where(user_id: ids)`):
    the rows of one parent, or of a list the caller chose."""
    model = app.chain_model(relation)
    parents = {
        name
        for name, a in (associations(app, model) if model else {}).items()
        if a.kind == "belongs_to"
    }
    for call in _chain_calls(relation):
        method = ruby.call_method(call)
        if method in AGGREGATING:
            return True
        if method in ("where", "rewhere"):
            for key, value in ruby.keyword_arguments(call).items():
                foreign = key.endswith(("_id", "_ids")) or key in parents
                if foreign and value.type in PASSED_VALUES:
                    return True
    return False


def model_scopes(app: App, model: str) -> frozenset[str]:
    """Scopes declared with `scope :name` on the model and its project ancestors and concerns."""
    return frozenset(declared_scopes(app, model))


# -- rescue clauses ------------------------------------------------------------------------

LOG_CALLS = frozenset({"puts", "p", "pp", "print", "warn", "logger", "log"})
INERT_TYPES = frozenset(
    {
        "nil", "true", "false", "integer", "float", "string", "simple_symbol", "array", "hash",
        "comment", "self", "identifier",
    }
)


LOGGING_LOOPS = frozenset({"each", "each_with_index", "each_line", "first", "take"})


def only_logs(body: Node | None) -> bool:
    """The rescue body is empty, only logs (`Rails.logger`, `logger`, `puts`, `p`, `warn`) or
    only gives a literal back (`nil`, `false`, `next`, `return :failed`)."""
    while body is not None and body.type in ("block", "do_block"):
        body = body.child_by_field_name("body")  # a lambda's `{ … }`: its statements
    if body is None:
        return True
    for statement in body.named_children:
        kind = statement.type
        if kind in ("return", "next", "break"):
            values = [c for c in statement.named_children if c.type != "comment"]
            if all(inert(v) for v in values):
                continue
            return False
        if kind == "identifier" and ruby.text(statement) not in LOG_CALLS:
            return False  # a receiver-less call such as `mark_failed`
        if not inert(statement):
            return False
    return True


def inert(node: Node) -> bool:
    if node.type == "argument_list":
        return all(inert(c) for c in node.named_children)
    if node.type in INERT_TYPES:
        return True
    if node.type == "call":
        block = ruby.call_block(node)
        if block is not None and ruby.call_method(node) in LOGGING_LOOPS:
            return only_logs(block)  # `error.backtrace.each { |line| logger.error(line) }`
        if ruby.call_receiver(node) is None:
            return ruby.call_method(node) in LOG_CALLS
        root = ruby.chain_root(node)
        names = {ruby.text(root)} | set(ruby.chain_methods(node))
        return bool(names & LOG_CALLS) or ruby.text(root) == "Rails" and "logger" in names
    return False


def rescues(source: SourceFile) -> list[Node]:
    """The file's `rescue` clauses (not `x rescue y` modifiers), in document order, as the
    query `(rescue) @rescue` finds them, without compiling it."""
    return ruby.keyword_nodes(source.root, source.data, {"rescue": "rescue"})


def rescued_classes(rescue: Node) -> list[str] | None:
    """The exception classes a `rescue` clause names, as written ([] for a bare `rescue`);
    None when one is not a constant (a splat, a method call)."""
    exceptions = rescue.child_by_field_name("exceptions")
    if exceptions is None:
        return []
    names = []
    for child in exceptions.named_children:
        path = ruby.constant_path(child)
        if path is None:
            return None
        names.append(path)
    return names


def rescue_body(rescue: Node) -> Node | None:
    return rescue.child_by_field_name("body")


def reraises(body: Node | None) -> bool:
    """The clause body contains `raise`, `fail`, `retry_job`, or `retry` (which re-runs the
    `begin` block: the error is not swallowed on that path)."""
    if body is None:
        return False
    return contains_reraise(body) or any(True for _ in ruby.descendants(body, {"retry"}))


def rescue_hit(rescue: Node, severity: Severity | None = None, /, **args: str) -> Hit:
    """A finding on the clause's header (`rescue StandardError => e`), not its body; the
    header is the `clause` message argument."""
    end = rescue.children[0].end_byte
    for field in ("exceptions", "variable"):
        child = rescue.child_by_field_name(field)
        if child is not None:
            end = max(end, child.end_byte)
    header = (rescue.text or b"")[: end - rescue.start_byte].decode("utf-8", errors="replace")
    return Hit(
        rescue.start_byte,
        end,
        {"clause": normalise(header), **args},
        severity,
        scope=enclosing_scope(rescue),
        anchor=normalise(header),
    )


# -- calls by dotted path ------------------------------------------------------------------


def call_path(call: Node) -> str | None:
    """`Rails.error.report(e)` → "Rails.error.report"; `NewRelic::Agent.notice_error(e)` →
    "NewRelic::Agent.notice_error"; None when the chain is not rooted at a constant."""
    parts = []
    node: Node | None = call
    while node is not None and node.type == "call":
        parts.append(ruby.call_method(node))
        node = ruby.call_receiver(node)
    root = ruby.constant_path(node)
    if root is None:
        return None
    return ".".join([root, *reversed(parts)])


def path_matches(path: str, patterns: Iterable[str]) -> bool:
    """Does a dotted call path start with one of `patterns` (`Sentry` matches
    `Sentry.capture_exception` and `Sentry::Foo.bar`; `Rails.error.report` matches itself)?"""
    path = path.removeprefix("::")
    for pattern in patterns:
        pattern = pattern.removeprefix("::")
        if path == pattern or path.startswith((pattern + ".", pattern + "::")):
            return True
    return False


def head_hit(
    call: Node, severity: Severity | None = None, edits: tuple[Edit, ...] = (), /, **args: str
) -> Hit:
    """A finding on a call without its block: `User.all.each`, not the whole `do … end`."""
    block = ruby.call_block(call)
    if block is None:
        return Hit.at(call, severity, edits, **args)
    end = call.start_byte
    for child in call.children:
        if child.id != block.id:
            end = max(end, child.end_byte)
    head = (call.text or b"")[: end - call.start_byte].decode("utf-8", errors="replace")
    return Hit(
        call.start_byte,
        end,
        args,
        severity,
        scope=enclosing_scope(call),
        anchor=normalise(head),
        edits=edits,
    )
