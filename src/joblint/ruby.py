"""The Ruby layer: the only module that imports tree_sitter.

Everything else sees `Node` objects through the small helpers here, so that a change of
grammar or binding version touches one file.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Collection, Iterable, Iterator

import tree_sitter_ruby
from tree_sitter import Language, Node, Parser, Query, QueryCursor, Tree

__all__ = [
    "Node",
    "Tree",
    "call_arguments",
    "call_method",
    "call_receiver",
    "calls_query",
    "captures",
    "chain_root",
    "compile_query",
    "constant_path",
    "descendants",
    "enclosing",
    "first_error",
    "is_call",
    "matches",
    "parse",
    "text",
    "walk",
]

RUBY = Language(tree_sitter_ruby.language())
_parser = Parser(RUBY)  # one per process: a Parser is not thread-safe

CALL_TYPES = frozenset({"call"})
SCOPE_TYPES = frozenset({"class", "module", "singleton_class"})
METHOD_TYPES = frozenset({"method", "singleton_method"})
BLOCK_TYPES = frozenset({"block", "do_block"})


def parse(source: bytes) -> Tree:
    return _parser.parse(source)


class LazyQuery:
    """A query compiled on first use, once: modules declare their queries at import, and a run
    (or `joblint --version`) pays only for the ones its rules actually match. `compile_all`
    compiles every declared query, so a malformed one is still found by the tests."""

    __slots__ = ("_query", "source")

    def __init__(self, source: str):
        self.source = source
        self._query: Query | None = None

    @property
    def query(self) -> Query:
        if self._query is None:
            self._query = Query(RUBY, self.source)
        return self._query


_DECLARED: dict[str, LazyQuery] = {}


def compile_query(source: str) -> LazyQuery:
    """The query for `source`, compiled when first used (the same object for the same text)."""
    declared = _DECLARED.get(source)
    if declared is None:
        declared = _DECLARED[source] = LazyQuery(source)
    return declared


def compile_all() -> int:
    """Compile every query declared so far (a malformed one raises); returns how many."""
    for declared in list(_DECLARED.values()):
        declared.query  # noqa: B018 - compiling is the point
    return len(_DECLARED)


def calls_query(methods: Iterable[str], *, with_receiver: bool = False) -> LazyQuery:
    """A compiled query capturing `@call` (and `@method`) for calls of any of `methods`."""
    names = " ".join(f'"{m}"' for m in sorted(set(methods)))
    receiver = "receiver: (_) " if with_receiver else ""
    return compile_query(
        f"(call {receiver}method: (identifier) @method (#any-of? @method {names})) @call"
    )


def _cursor(query: LazyQuery) -> QueryCursor:
    """A cursor that starts no match deeper than MAX_ASCENT: tree-sitter's matching time grows
    faster than the depth of what it walks (a 10,000-call chain took 30 s); code that deep is
    not analysed (see TooDeep)."""
    cursor = QueryCursor(query.query)
    cursor.set_max_start_depth(MAX_ASCENT)
    return cursor


def matches(query: LazyQuery, node: Node) -> list[tuple[int, dict[str, list[Node]]]]:
    return _cursor(query).matches(node)


def captures(query: LazyQuery, node: Node) -> dict[str, list[Node]]:
    return _cursor(query).captures(node)


def first_error(tree: Tree) -> Node | None:
    """The innermost ERROR or MISSING node on the path to the first error, or None.

    tree-sitter often wraps a whole file in one ERROR node; the precise spot is the
    innermost error inside it.
    """
    node = tree.root_node
    if not node.has_error:
        return None
    found = None
    while True:
        if node.type == "ERROR" or node.is_missing:
            found = node
        inner = next((c for c in node.children if c.has_error or c.is_missing), None)
        if inner is None:
            return found or node
        node = inner


def line(node: Node) -> int:
    """The 1-based line the node starts on: its row counts newlines as `SourceFile.position`
    does (a lone CR breaks no line for either), without building the file's line table."""
    return node.start_point[0] + 1


def text(node: Node | None) -> str:
    if node is None or node.text is None:
        return ""
    return node.text.decode("utf-8", errors="replace")


def is_call(node: Node | None, *methods: str) -> bool:
    """True for a method call (with or without receiver), optionally one of `methods`."""
    if node is None:
        return False
    if node.type == "call":
        return not methods or call_method(node) in methods
    if node.type == "identifier" and methods:
        # a bare `retry_job` or `raise` is an identifier when it has no arguments
        parent = node.parent
        if parent is not None and parent.type in ("call", "method", "parameters"):
            field = _field_of(node)
            if field in ("method", "name", "receiver"):
                return False
        return text(node) in methods
    return False


def _field_of(node: Node) -> str | None:
    parent = node.parent
    if parent is None:
        return None
    for index, child in enumerate(parent.children):
        if child.id == node.id:
            return parent.field_name_for_child(index)
    return None


def call_method(node: Node) -> str:
    if node.type == "identifier":
        return text(node)
    method = node.child_by_field_name("method")
    return text(method)


def call_receiver(node: Node) -> Node | None:
    if node.type != "call":
        return None
    return node.child_by_field_name("receiver")


def call_arguments(node: Node) -> list[Node]:
    """The argument nodes of a call (positional, pairs, splats, block arguments)."""
    if node.type != "call":
        return []
    args = node.child_by_field_name("arguments")
    if args is None:
        return []
    return [child for child in args.named_children if child.type != "comment"]


def call_block(node: Node) -> Node | None:
    if node.type != "call":
        return None
    return node.child_by_field_name("block")


def block_parameters(block: Node) -> list[str]:
    params = block.child_by_field_name("parameters")
    if params is None:
        return []
    names = []
    for child in params.named_children:
        if child.type == "identifier":
            names.append(text(child))
        elif child.type == "destructured_parameter":
            names.extend(text(c) for c in child.named_children if c.type == "identifier")
    return names


def keyword_arguments(node: Node) -> dict[str, Node]:
    """`key: value` pairs of a call's arguments (symbol keys only), key → value node."""
    pairs: dict[str, Node] = {}
    for arg in call_arguments(node):
        if arg.type == "pair":
            key = pair_key(arg)
            value = arg.child_by_field_name("value")
            if key is not None and value is not None:
                pairs[key] = value
    return pairs


def pair_key(pair: Node) -> str | None:
    key = pair.child_by_field_name("key")
    if key is None:
        return None
    if key.type == "hash_key_symbol":
        return text(key)
    if key.type == "simple_symbol":
        return text(key)[1:]
    if key.type == "string" and not any(c.type == "interpolation" for c in key.named_children):
        return string_value(key)
    return None


def string_value(node: Node) -> str | None:
    """The value of a plain string or symbol literal; None when dynamic."""
    if node.type == "simple_symbol":
        return text(node)[1:]
    if node.type in ("string", "delimited_symbol"):
        parts = []
        for child in node.named_children:
            if child.type == "string_content" or child.type == "escape_sequence":
                parts.append(text(child))
            else:
                return None
        return "".join(parts)
    return None


def constant_path(node: Node | None) -> str | None:
    """`Foo`, `Foo::Bar`, `::Foo::Bar` → the path as written without a leading `::`; else None."""
    if node is None:
        return None
    parts: list[str] = []  # innermost last; a loop, not recursion: `A::A::…` may be 5,000 deep
    current: Node | None = node
    while current is not None and current.type == "scope_resolution":
        name = current.child_by_field_name("name")
        if name is None or name.type != "constant":
            return None
        parts.append(text(name))
        current = current.child_by_field_name("scope")
    if current is not None:
        if current.type != "constant":
            return None
        parts.append(text(current))
    return "::".join(reversed(parts)) if parts else None


def chain_root(node: Node) -> Node:
    """The receiver at the bottom of a method chain: `User.where(..).first` → `User`."""
    while node.type == "call":
        receiver = node.child_by_field_name("receiver")
        if receiver is None:
            return node
        node = receiver
    return node


def chain_methods(node: Node) -> list[str]:
    """Method names along a chain, outermost first: `User.where.first` → [first, where]."""
    methods = []
    while node.type == "call":
        methods.append(call_method(node))
        receiver = node.child_by_field_name("receiver")
        if receiver is None:
            break
        node = receiver
    return methods


# How far up the tree a walk goes. In tree-sitter `node.parent` searches down from the root, so
# each step costs the node's depth and a walk to the root the square of it: code nested
# thousands deep (generated, or hostile) took seconds per walk. Real code is a few dozen deep.
MAX_ASCENT = 256


def enclosing(node: Node, types: frozenset[str] | set[str]) -> Node | None:
    for parent in ancestors(node):
        if parent.type in types:
            return parent
    return None


def too_deep(root: Node) -> bool:
    """Does the tree nest past MAX_ASCENT? Probed down the biggest child at each level (how
    nesting that deep is built: a chain, nested blocks or modules) — a few hundred steps for
    real code, which is a few dozen deep. The probe stops where what is left below cannot reach
    the limit: a chain down from a node holds at most its descendants."""
    node: Node | None = root
    depth = 0
    while node is not None and node.child_count:
        if depth + node.descendant_count - 1 <= MAX_ASCENT:  # descendant_count counts the node
            return False
        depth += 1
        if depth > MAX_ASCENT:
            return True
        node = max(node.children, key=lambda child: child.descendant_count)
    return False


class TooDeep(Exception):
    """The code is nested deeper than MAX_ASCENT: the file is not analysed (no guesses)."""


# Steps a walk takes with `node.parent` before it searches down from a root instead: each step
# searches down from the root on its own, so past a few the one search is cheaper.
STEPS_BEFORE_SEARCH = 8
_last_root: Node | None = None  # the root the last walk reached; walks come file by file


def ancestors(node: Node) -> Iterator[Node]:
    """The node's parent, its parent's parent… up to the root; TooDeep past MAX_ASCENT.

    A walk going on past STEPS_BEFORE_SEARCH steps finds the rest of the path in one search
    down from the root of the tree walked last, when the node is in that tree: step by step,
    a walk of the nested modules of a 100-deep file costs the square of its depth."""
    global _last_root
    current, steps = node, 0
    while True:
        if steps == STEPS_BEFORE_SEARCH and _last_root is not None:
            path = _path_down(_last_root, current)
            if path is not None:
                yield from reversed(path[-(MAX_ASCENT - steps):])
                if len(path) > MAX_ASCENT - steps:
                    raise TooDeep(f"nested deeper than {MAX_ASCENT} levels")
                return
        parent = current.parent
        if parent is None:
            _last_root = current
            return
        if steps == MAX_ASCENT:
            raise TooDeep(f"nested deeper than {MAX_ASCENT} levels")
        yield parent
        current, steps = parent, steps + 1


def _path_down(root: Node, node: Node, limit: int = MAX_ASCENT + 1) -> list[Node] | None:
    """The nodes from `root` down to the parent of `node` (as `node.parent` finds them), or
    None when there would be `limit` or more of them (another tree, or too deep)."""
    path: list[Node] = []
    current: Node | None = root
    while current is not None and current != node:  # `==` compares the trees too
        if len(path) >= limit:
            return None
        path.append(current)
        current = current.child_with_descendant(node)
    return path if current is not None else None


def calls_below(node: Node, methods: Collection[str], receiver: bool | None = None) -> list[Node]:
    """The calls of `methods` below `node`, in the order `matches` finds them with
    `(call method: (identifier) @method (#any-of? @method …)) @call` run on `node` (plus
    `receiver: (_)` when `receiver` is True, `!receiver` when it is False): from where the
    names are written in the node's text."""
    found = []
    for name, path in identifiers_named(node, node.text or b"", methods, node.start_byte):
        call = path[-1] if path else None
        if (call is not None and len(path) - 1 <= MAX_ASCENT and call.type == "call"
                and is_child(call, "method", name)
                and (receiver is None or (call.child_by_field_name("receiver") is not None) is receiver)):
            found.append(call)
    return found


def path_to(root: Node, node: Node) -> list[Node]:
    """The nodes from `root` down to the parent of `node`, for a node at most MAX_ASCENT + 3
    deep (a query may start a match three levels up); [] for one deeper, or `root` itself."""
    return _path_down(root, node, MAX_ASCENT + 4) or []


def walk(node: Node) -> Iterator[Node]:
    """Every named node below (and including) `node`, in document order."""
    cursor = node.walk()
    visited_children = False
    while True:
        if not visited_children:
            if cursor.node.is_named:
                yield cursor.node
            if cursor.goto_first_child():
                continue
        if cursor.goto_next_sibling():
            visited_children = False
            continue
        if not cursor.goto_parent() or cursor.node.id == node.id:
            return
        visited_children = True


# -- searches without a compiled query ---------------------------------------------------
# Compiling a query costs ~4 ms, plus ~9 ms for each pattern that constrains a child of a call,
# and a run compiles each anew: on the one-file run (pre-commit) that was a third of the time.
# A search here finds what `matches` finds, in its order (a match is returned when its last node
# is reached), and like it starts no match deeper than MAX_ASCENT.


def children_in_fields(root: Node, fields: Collection[str]) -> Iterator[tuple[Node, str, Node]]:
    """Each node below `root` that is its parent's child in one of `fields`, with the field and
    the parent, in document order; only the children of nodes at most MAX_ASCENT deep (no match
    starts deeper)."""
    cursor = root.walk()
    if not cursor.goto_first_child():
        return
    depth = 1  # of the cursor's node
    while True:
        field = cursor.field_name
        if field is not None and field in fields:
            node = cursor.node
            yield node, field, node.parent  # type: ignore[misc]  # a node below root has one
        if depth <= MAX_ASCENT and cursor.goto_first_child():
            depth += 1
            continue
        while not cursor.goto_next_sibling():
            cursor.goto_parent()
            depth -= 1
            if depth == 0:
                return


def written_at(root: Node, data: bytes, word: bytes, offset: int = 0) -> Iterator[Node]:
    """For each place `word` is written in `data` — the text `root` was parsed from, or the part
    of it from byte `offset` on — the smallest node covering it, when that node starts there
    (the token spelled so, or one spelled longer: callers check its type and end). Searching the
    text costs what a file mentions; a query walks the whole tree."""
    at = data.find(word)
    while at != -1:
        start = at + offset
        node = root.descendant_for_byte_range(start, start + len(word))
        if node is not None and node.start_byte == start:
            yield node
        at = data.find(word, at + 1)


_PREFIXES: dict[object, tuple[list[bytes], frozenset[bytes]]] = {}


def _prefixes(names: Collection[str]) -> tuple[list[bytes], frozenset[bytes]]:
    """The names as bytes, and those of them that no other name starts: the text is searched
    for those alone, as a search for `perform` finds `perform_later` and `perform_async` too
    (eight names of the enqueue family, one search). Kept by collection of names."""
    try:
        return _PREFIXES[names]
    except (KeyError, TypeError):  # not asked yet, or a list
        pass
    words = frozenset(name.encode() for name in names)
    prefixes = sorted(w for w in words if not any(other != w and w.startswith(other) for other in words))
    try:
        _PREFIXES[names] = (prefixes, words)
    except TypeError:
        pass
    return prefixes, words


def identifiers_named(
    root: Node, data: bytes, names: Collection[str], offset: int = 0, levels: int = 1
) -> list[tuple[Node, list[Node]]]:
    """The identifiers spelled as one of `names`, in document order, each with its ancestors
    (root first; as many as its depth below `root`); those too deep for a match of a pattern
    rooted `levels` above them to start (past MAX_ASCENT) left out. `data` and `offset` as
    for `written_at`."""
    found: dict[int, Node] = {}
    prefixes, words = _prefixes(names)
    for prefix in prefixes:
        for leaf in written_at(root, data, prefix, offset):
            if leaf.type == "identifier" and data[leaf.start_byte - offset : leaf.end_byte - offset] in words:
                found[leaf.start_byte] = leaf
    named = []
    for start in sorted(found):
        path = _path_down(root, found[start], MAX_ASCENT + levels + 1)
        if path is not None:
            named.append((found[start], path))
    return named


def definition_nodes(root: Node, data: bytes) -> list[Node]:
    """The `class` and `module` nodes below `root`, as `captures("[(class) (module)] @def")`
    finds them — in document order (the query's own is not, for nested ones)."""
    return keyword_nodes(root, data, {"class": "class", "module": "module"})


def keyword_nodes(root: Node, data: bytes, kinds: dict[str, str]) -> list[Node]:
    """The nodes below `root` whose keyword is written first — `{"rescue": "rescue"}`: each
    `rescue` clause; `{"def": "singleton_method"}`: each `def self.x` — in document order, none
    deeper than MAX_ASCENT (no match of a query starts deeper), as a one-node query would find
    them; from where the keywords are written (`written_at`)."""
    return _parents_of_tokens(root, data, kinds.items(), named=False)


def operator_assignments(root: Node, data: bytes, operators: Collection[str]) -> list[Node]:
    """The `operator_assignment` nodes below `root` whose operator is one of `operators`
    (`+=`…), in document order, none deeper than MAX_ASCENT; from where the operators are
    written (`written_at`)."""
    return _parents_of_tokens(root, data, ((o, "operator_assignment") for o in operators), named=None)


def _parents_of_tokens(
    root: Node, data: bytes, kinds: Iterable[tuple[str, str]], named: bool | None
) -> list[Node]:
    """The parents of type `kind` of the tokens written as `token`, for each (token, kind), by
    where they start; `named`: what the token must be (None: either)."""
    found: dict[int, Node] = {}
    for token, kind in kinds:
        for leaf in written_at(root, data, token.encode()):
            if leaf.type != token or (named is not None and leaf.is_named != named):
                continue
            path = _path_down(root, leaf, MAX_ASCENT + 2)
            if path is not None and path[-1].type == kind and len(path) - 1 <= MAX_ASCENT:
                found[path[-1].start_byte] = path[-1]
    return [found[start] for start in sorted(found)]


def is_child(parent: Node, field: str, node: Node) -> bool:
    """Is `node` the child of `parent` in `field`?"""
    child = parent.child_by_field_name(field)
    return child is not None and child.id == node.id


def document_order(node: Node, depth: int) -> tuple[int, int, int]:
    """A sort key putting nodes in the order a walk of the tree reaches them."""
    return node.start_byte, -node.end_byte, depth


def descendants(node: Node, types: frozenset[str] | set[str]) -> Iterator[Node]:
    return (n for n in walk(node) if n.type in types)


def method_name(method: Node) -> str:
    return text(method.child_by_field_name("name"))


def is_inside(node: Node, container: Node) -> bool:
    return container.start_byte <= node.start_byte and node.end_byte <= container.end_byte


def enclosing_method_or_root(node: Node) -> Node:
    """The `def` around a node, else the outermost block or the whole program."""
    method = enclosing(node, METHOD_TYPES)
    if method is not None:
        return method
    current = node
    for current in ancestors(node):
        pass
    return current


def last_assignment(name: str, before: Node) -> Node | None:
    """The value last assigned to local/instance variable `name` before `before`, in its method."""
    starts, values = _assignments(enclosing_method_or_root(before)).get(name, ([], []))
    at = bisect_left(starts, before.start_byte)  # document order: the starts never decrease
    return values[at - 1] if at else None


# name → (where each assignment starts, the value it assigns: None for `+=` and the like)
Assignments = dict[str, tuple[list[int], list[Node | None]]]
_ASSIGNMENTS: dict[Node, Assignments] = {}  # the last few scopes: rules ask scope by scope


def _assignments(scope: Node) -> Assignments:
    """The assignments to each variable in `scope`, found in one walk: a walk per question made
    a method of n enqueues of variables cost n² (a script of 2,000 took seconds)."""
    index = _ASSIGNMENTS.get(scope)  # a Node key compares its tree too, and keeps it alive
    if index is None:
        index = {}
        for node in descendants(scope, {"assignment", "operator_assignment"}):
            left = node.child_by_field_name("left")
            if left is not None and left.type in ("identifier", "instance_variable"):
                starts, values = index.setdefault(text(left), ([], []))
                starts.append(node.start_byte)
                values.append(node.child_by_field_name("right") if node.type == "assignment" else None)
        if len(_ASSIGNMENTS) >= 4:
            _ASSIGNMENTS.clear()
        _ASSIGNMENTS[scope] = index
    return index


def block_binding(name: str, node: Node) -> tuple[Node, int] | None:
    """The call whose block declares parameter `name` around `node`, and the parameter's index."""
    for ancestor in ancestors(node):
        if ancestor.type in BLOCK_TYPES:
            params = block_parameters(ancestor)
            if name in params and ancestor.parent is not None and ancestor.parent.type == "call":
                return ancestor.parent, params.index(name)
        if ancestor.type in METHOD_TYPES:
            return None
    return None


def method_parameter_names(node: Node) -> set[str]:
    method = enclosing(node, METHOD_TYPES)
    if method is None:
        return set()
    params = method.child_by_field_name("parameters")
    names = set()
    for param in params.named_children if params is not None else ():
        if param.type == "identifier":
            names.add(text(param))
        else:
            name = param.child_by_field_name("name")
            if name is not None:
                names.add(text(name))
    return names


VALUE_PARENTS = frozenset(
    {"assignment", "operator_assignment", "argument_list", "pair", "return", "conditional",
     "binary", "unary", "array", "interpolation", "element_reference"}
)
VALUE_CONDITIONS = frozenset({"if", "unless", "while", "until", "elsif"})


def value_used(call: Node) -> bool:
    """Is the call's value used: assigned, passed on, returned with `return`, or tested?"""
    node = call
    parent = node.parent
    while parent is not None and parent.type == "parenthesized_statements":
        node, parent = parent, parent.parent
    if parent is None:
        return False
    if parent.type in VALUE_CONDITIONS:
        return parent.child_by_field_name("condition") == node
    if parent.type in ("if_modifier", "unless_modifier"):
        return parent.child_by_field_name("condition") == node
    return parent.type in VALUE_PARENTS


def in_block_of(
    node: Node, methods: frozenset[str], stop: Node | None = None, lambdas: bool = False
) -> bool:
    """Is `node` inside the block of a call to one of `methods` (or, with `lambdas`, inside a
    lambda), below `stop` when given and within its method?"""
    for ancestor in ancestors(node):
        if stop is not None and ancestor.id == stop.id:
            return False
        if ancestor.type in METHOD_TYPES:
            return False
        if lambdas and ancestor.type == "lambda":
            return True
        if (
            ancestor.type in BLOCK_TYPES
            and ancestor.parent is not None
            and call_method(ancestor.parent) in methods
        ):
            return True
    return False
