"""The class index: every class and module of the app, its nesting, superclass and mixins.

Facts here are plain data (names, paths, byte spans), never tree nodes, so that they can
outlive the trees they came from.
"""

from __future__ import annotations

import marshal
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import pairwise

from .. import ruby
from ..ruby import Node
from ..source import SourceFile

HANDLER_METHODS = ("retry_on", "discard_on", "rescue_from")
VISIBILITY_WORDS = ("private", "protected", "public")
RERAISE_CALLS = ("raise", "fail", "retry_job")


@dataclass(frozen=True)
class Signature:
    """What a `def` accepts: counts of positional parameters and the keyword names."""

    required: int = 0
    optional: int = 0
    splat: bool = False
    required_keywords: frozenset[str] = frozenset()
    optional_keywords: frozenset[str] = frozenset()
    double_splat: bool = False
    positional_names: tuple[str, ...] = ()  # required and optional positional parameters

    @classmethod
    def of(cls, method: Node) -> Signature:
        params = method.child_by_field_name("parameters")
        required = optional = 0
        splat = double_splat = False
        required_kw: set[str] = set()
        optional_kw: set[str] = set()
        names: list[str] = []
        for param in params.named_children if params is not None else ():
            kind = param.type
            if kind in ("identifier", "destructured_parameter"):
                required += 1
                if kind == "identifier":
                    names.append(ruby.text(param))
            elif kind == "optional_parameter":
                optional += 1
                names.append(ruby.text(param.child_by_field_name("name")))
            elif kind == "splat_parameter":
                splat = True
            elif kind == "hash_splat_parameter" or kind == "forward_parameter":
                double_splat = True
                splat = splat or kind == "forward_parameter"
            elif kind == "keyword_parameter":
                name = ruby.text(param.child_by_field_name("name"))
                (optional_kw if param.child_by_field_name("value") else required_kw).add(name)
        return cls(
            required, optional, splat, frozenset(required_kw), frozenset(optional_kw), double_splat,
            tuple(names),
        )

    @property
    def has_keywords(self) -> bool:
        return bool(self.required_keywords or self.optional_keywords or self.double_splat)


@dataclass(frozen=True)
class MethodDef:
    name: str
    path: str
    line: int
    visibility: str  # public | private | protected
    signature: Signature
    start_byte: int
    end_byte: int
    source: SourceFile = field(repr=False, compare=False)

    @property
    def reraises(self) -> bool:
        """The body contains `raise`, `fail` or `retry_job`."""
        return call_sites(self.source).reraises_in(self.start_byte, self.end_byte)

    def node(self) -> Node | None:
        """The `def` node of this method in its file's tree."""
        found = self.source.root.descendant_for_byte_range(self.start_byte, self.end_byte)
        while found is not None and found.type not in ruby.METHOD_TYPES:
            found = found.parent
        return found

    @property
    def body_bytes(self) -> bytes:
        return self.source.data[self.start_byte : self.end_byte]

    @property
    def calls(self) -> frozenset[str]:
        """Receiver-less method calls in the body, for one level of lookup."""
        return call_sites(self.source).calls_in(self.start_byte, self.end_byte)


@dataclass(frozen=True)
class HandlerDecl:
    """A `retry_on`, `discard_on` or `rescue_from` declaration."""

    method: str
    exceptions: tuple[str, ...]
    path: str
    line: int
    start_byte: int
    end_byte: int
    with_method: str | None  # `with: :handle_error`
    has_block: bool


@dataclass(eq=False)
class ClassDef:
    """One `class`/`module` definition in one file (a class reopened twice has two)."""

    name: str  # fully qualified: "Admin::ReportJob"
    is_module: bool
    path: str
    line: int
    name_start: int  # byte span of the name, where class-level findings point
    name_end: int
    lexical_scope: tuple[str, ...]  # enclosing namespaces, innermost last, for lookup
    superclass: str | None  # as written, without a leading `::`
    includes: list[str] = field(default_factory=list)
    handlers: list[HandlerDecl] = field(default_factory=list)
    _methods: dict[str, MethodDef] = field(default_factory=dict, repr=False)
    # methods read from the cache, decoded when first asked for: a run on one file never asks
    # for most of them
    pending: tuple[bytes, SourceFile] | None = field(default=None, repr=False)

    @property
    def methods(self) -> dict[str, MethodDef]:
        if self.pending is not None:
            encoded, source = self.pending
            self.pending = None
            for m_name, m_line, visibility, signature, m_start, m_end in marshal.loads(encoded):
                self._methods[m_name] = MethodDef(
                    m_name, self.path, m_line, visibility, _decode_signature(signature), m_start,
                    m_end, source,
                )
        return self._methods

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ClassDef):
            return NotImplemented
        return self._compared() == other._compared()

    def _compared(self) -> tuple[object, ...]:
        return (self.name, self.is_module, self.path, self.line, self.name_start, self.name_end,
                self.lexical_scope, self.superclass, self.includes, self.methods, self.handlers)


def lexical_names(node: Node) -> list[str]:
    """The names of the classes/modules enclosing `node` (and `node` itself), outermost first."""
    names = []
    for current in (node, *ruby.ancestors(node)):
        if current.type in ("class", "module"):
            name = ruby.constant_path(current.child_by_field_name("name"))
            if name is not None:
                names.append(name)
    names.reverse()
    return names


def qualified_name(node: Node) -> str | None:
    """`module A; class B::C` → "A::B::C" for the class node (None for anonymous shapes)."""
    if node.type not in ("class", "module"):
        return None
    names = lexical_names(node)
    return "::".join(names) if names else None


def scopes_of(names: list[str]) -> tuple[str, ...]:
    """Lexical scopes for constant lookup: `["A", "B::C"]` → ("A", "A::B::C")."""
    scopes = []
    prefix = ""
    for name in names:
        prefix = f"{prefix}::{name}" if prefix else name
        scopes.append(prefix)
    return tuple(scopes)


def _body_statements(body: Node | None) -> Iterator[Node]:
    if body is None:
        return
    for child in body.named_children:
        yield child


# calls without a receiver: `notify(e)`, and bare statements such as `cleanup`
_RECEIVERLESS = ruby.compile_query(
    """
    (call !receiver method: (identifier) @name)
    (body_statement (identifier) @name)
    (block_body (identifier) @name)
    (then (identifier) @name)
    (else (identifier) @name)
    """
)


class CallSites:
    """Where a file re-raises and calls methods without a receiver, by byte offset, from one
    query each, so that per-method questions do not walk the tree from Python."""

    def __init__(self, root: Node):
        # the identifiers `raise`, `fail`, `retry_job`, as the query `((identifier) @name
        # (#any-of? @name …))` finds them (none deeper than MAX_ASCENT below `root`)
        self.reraises = sorted(
            node.start_byte
            for node, path in ruby.identifiers_named(root, root.text or b"", RERAISE_CALLS, root.start_byte)
            if len(path) <= ruby.MAX_ASCENT
        )
        self.calls = sorted(
            (n.start_byte, ruby.text(n)) for n in ruby.captures(_RECEIVERLESS, root).get("name", [])
        )

    def reraises_in(self, start: int, end: int) -> bool:
        index = bisect_left(self.reraises, start)
        return index < len(self.reraises) and self.reraises[index] < end

    def calls_in(self, start: int, end: int) -> frozenset[str]:
        first = bisect_left(self.calls, (start, ""))
        last = bisect_left(self.calls, (end, ""))
        return frozenset(name for _, name in self.calls[first:last])


def call_sites(source: SourceFile) -> CallSites:
    """The file's call sites, computed on first use and kept with the file."""
    sites = source.derived.get("call_sites")
    if sites is None:
        sites = source.derived["call_sites"] = CallSites(source.root)
    return sites  # type: ignore[return-value]


def receiverless_calls(node: Node) -> frozenset[str]:
    return CallSites(node).calls_in(node.start_byte, node.end_byte)


def contains_reraise(node: Node) -> bool:
    return CallSites(node).reraises_in(node.start_byte, node.end_byte)


def handler_decl(call: Node, source: SourceFile) -> HandlerDecl:
    exceptions = []
    with_method = None
    for arg in ruby.call_arguments(call):
        path = ruby.constant_path(arg)
        if path is not None:
            exceptions.append(path)
        elif arg.type == "string":
            value = ruby.string_value(arg)
            if value:
                exceptions.append(value.removeprefix("::"))
        elif arg.type == "pair" and ruby.pair_key(arg) == "with":
            value = arg.child_by_field_name("value")
            if value is not None and value.type == "simple_symbol":
                with_method = ruby.string_value(value)
            elif value is not None and value.type == "lambda":
                pass  # a lambda handler is read like a block
    block = ruby.call_block(call)
    has_block = block is not None or any(
        a.type == "pair"
        and ruby.pair_key(a) == "with"
        and (a.child_by_field_name("value") or a).type == "lambda"
        for a in ruby.call_arguments(call)
    )
    return HandlerDecl(
        method=ruby.call_method(call),
        exceptions=tuple(exceptions),
        path=source.relpath,
        line=ruby.line(call),
        start_byte=call.start_byte,
        end_byte=call.end_byte,
        with_method=with_method,
        has_block=has_block,
    )


def _class_level_calls(body: Node | None) -> Iterator[Node]:
    """Calls at class level, including inside a concern's `included do … end` block."""
    for stmt in _body_statements(body):
        if stmt.type == "call":
            yield stmt
            if ruby.call_method(stmt) in ("included", "class_eval", "prepended"):
                block = ruby.call_block(stmt)
                if block is not None:
                    yield from _class_level_calls(block.child_by_field_name("body"))


def extract_definitions(source: SourceFile) -> list[ClassDef]:
    """Every class/module definition in a parsed file, with its methods and declarations, in
    the order they are written."""
    defs: list[ClassDef] = []
    scopes: dict[tuple[str, ...], tuple[str, ...]] = {}  # shared by nested definitions
    try:
        for node in ruby.definition_nodes(source.root, source.data):
            definition = _definition(node, source, scopes)
            if definition is not None:
                defs.append(definition)
    except ruby.TooDeep:
        source.too_deep = True  # the file adds nothing to the index; the engine says so once
        return []
    return defs


def encode_definitions(defs: list[ClassDef]) -> list[object]:
    """A file's definitions as plain lists, for the persistent cache; each class's methods as
    one marshal string, decoded when they are first asked for (loading the cache then makes
    one object per class rather than a dozen per method)."""
    return [
        [
            d.name, d.is_module, d.line, d.name_start, d.name_end, _segments(d.lexical_scope),
            d.superclass, d.includes,
            marshal.dumps([[m.name, m.line, m.visibility, _encode_signature(m.signature),
                            m.start_byte, m.end_byte] for m in d.methods.values()]),
            [[h.method, list(h.exceptions), h.line, h.start_byte, h.end_byte, h.with_method,
              h.has_block] for h in d.handlers],
        ]
        for d in defs
    ]


def decode_definitions(encoded: list, source: SourceFile) -> list[ClassDef]:  # type: ignore[type-arg]
    """The inverse of `encode_definitions`, attached to the file they were read from."""
    defs = []
    path = source.relpath
    scopes: dict[tuple[str, ...], tuple[str, ...]] = {}
    for name, is_module, line, start, end, scope, superclass, includes, methods, handlers in encoded:
        definition = ClassDef(name, is_module, path, line, start, end,
                              shared_scopes(tuple(scope), scopes) if scope else (), superclass,
                              list(includes))
        definition.pending = (methods, source)
        if handlers:
            definition.handlers.extend(
                HandlerDecl(method, tuple(exceptions), path, h_line, h_start, h_end, with_method, block)
                for method, exceptions, h_line, h_start, h_end, with_method, block in handlers
            )
        defs.append(definition)
    return defs


def _segments(scope: tuple[str, ...]) -> list[str]:
    """The names a lexical scope was built from (`("A", "A::B")` → `["A", "B"]`): the cache
    keeps these rather than every prefix, which grows with the square of the depth."""
    return [scope[0], *(full[len(outer) + 2 :] for outer, full in pairwise(scope))] if scope else []


def _encode_signature(s: Signature) -> list[object]:
    return [s.required, s.optional, s.splat, sorted(s.required_keywords),
            sorted(s.optional_keywords), s.double_splat, list(s.positional_names)]


def _decode_signature(fields: list) -> Signature:  # type: ignore[type-arg]
    required, optional, splat, required_kw, optional_kw, double_splat, names = fields
    return Signature(required, optional, splat, frozenset(required_kw), frozenset(optional_kw),
                     double_splat, tuple(names))


def shared_scopes(names: tuple[str, ...], memo: dict[tuple[str, ...], tuple[str, ...]]) -> tuple[str, ...]:
    """`scopes_of(names)`, built from the enclosing scope's tuple and sharing its strings: in
    code nested d deep, each definition's scopes are then d references, not d new strings of up
    to d names (120 nested modules in a 1 MB file took a gigabyte)."""
    if not names:
        return ()
    found = memo.get(names)
    if found is None:
        outer = shared_scopes(names[:-1], memo)
        found = memo[names] = (*outer, f"{outer[-1]}::{names[-1]}" if outer else names[-1])
    return found


def _definition(
    node: Node, source: SourceFile, scopes: dict[tuple[str, ...], tuple[str, ...]] | None = None
) -> ClassDef | None:
    name_node = node.child_by_field_name("name")
    if ruby.constant_path(name_node) is None:
        return None
    names = lexical_names(node)
    superclass = None
    if node.type == "class":
        sup = node.child_by_field_name("superclass")
        if sup is not None and sup.named_children:
            superclass = ruby.constant_path(sup.named_children[0])
    definition = ClassDef(
        name="::".join(names),
        is_module=node.type == "module",
        path=source.relpath,
        line=ruby.line(node),
        name_start=name_node.start_byte,
        name_end=name_node.end_byte,
        lexical_scope=shared_scopes(tuple(names[:-1]), {} if scopes is None else scopes),
        superclass=superclass,
    )
    body = node.child_by_field_name("body")
    for call in _class_level_calls(body):
        method = ruby.call_method(call)
        if method in ("include", "prepend"):
            for arg in ruby.call_arguments(call):
                path = ruby.constant_path(arg)
                if path is not None:
                    definition.includes.append(path)
        elif method in HANDLER_METHODS:
            definition.handlers.append(handler_decl(call, source))
    _collect_methods(body, source, definition)
    return definition


def _collect_methods(body: Node | None, source: SourceFile, definition: ClassDef) -> None:
    visibility = "public"
    for stmt in _body_statements(body):
        if stmt.type == "identifier" and ruby.text(stmt) in VISIBILITY_WORDS:
            visibility = ruby.text(stmt)
            continue
        method_node = None
        own_visibility = visibility
        if stmt.type == "method":
            method_node = stmt
        elif stmt.type == "call" and ruby.call_method(stmt) in VISIBILITY_WORDS:
            args = ruby.call_arguments(stmt)
            if len(args) == 1 and args[0].type == "method":
                method_node = args[0]
                own_visibility = ruby.call_method(stmt)
            else:
                for arg in args:
                    name = ruby.string_value(arg)
                    if name and name in definition.methods:
                        old = definition.methods[name]
                        definition.methods[name] = replace(old, visibility=ruby.call_method(stmt))
        if method_node is None:
            continue
        name = ruby.method_name(method_node)
        definition.methods[name] = MethodDef(
            name=name,
            path=source.relpath,
            line=ruby.line(method_node),
            visibility=own_visibility,
            signature=Signature.of(method_node),
            start_byte=method_node.start_byte,
            end_byte=method_node.end_byte,
            source=source,
        )


class ClassIndex:
    """All definitions of the app by fully-qualified name, with hierarchy queries."""

    def __init__(self, definitions: Iterable[ClassDef]):
        self.definitions: dict[str, list[ClassDef]] = {}
        for definition in definitions:
            self.definitions.setdefault(definition.name, []).append(definition)
        for defs in self.definitions.values():
            if len(defs) > 1:
                defs.sort(key=lambda d: (d.path, d.line))
        self._ancestors: dict[str, tuple[str, ...]] = {}
        self._subclasses: dict[str, set[str]] | None = None

    def __contains__(self, name: str) -> bool:
        return name in self.definitions

    def names(self) -> list[str]:
        return sorted(self.definitions)

    def resolve(self, written: str, scope: tuple[str, ...] = ()) -> str:
        """Ruby's lexical constant lookup, approximated: innermost scope first, then top level.

        A name the project does not define is returned as written (a gem or framework class).
        """
        for prefix in reversed(scope):
            candidate = f"{prefix}::{written}"
            if candidate in self.definitions:
                return candidate
        return written

    def superclass(self, name: str) -> str | None:
        for definition in self.definitions.get(name, ()):
            if definition.superclass is not None:
                return self.resolve(definition.superclass, definition.lexical_scope + (name,))
        return None

    def mixins(self, name: str) -> list[str]:
        mixins = []
        for definition in self.definitions.get(name, ()):
            for written in definition.includes:
                mixins.append(self.resolve(written, definition.lexical_scope + (name,)))
        return mixins

    def ancestors(self, name: str) -> tuple[str, ...]:
        """Superclasses and mixins, nearest first, project and external names alike."""
        cached = self._ancestors.get(name)
        if cached is not None:
            return cached
        self._ancestors[name] = ()  # cycle guard
        result: list[str] = []
        for mixin in self.mixins(name):
            result.append(mixin)
            result.extend(self.ancestors(mixin))
        parent = self.superclass(name)
        if parent is not None:
            result.append(parent)
            result.extend(self.ancestors(parent))
        unique = tuple(dict.fromkeys(a for a in result if a != name))
        self._ancestors[name] = unique
        return unique

    def lineage(self, name: str) -> list[str]:
        """The class itself and its project ancestors (superclasses and mixins), nearest first."""
        return [name] + [a for a in self.ancestors(name) if a in self.definitions]

    def subclasses(self, name: str) -> set[str]:
        if self._subclasses is None:
            table: dict[str, set[str]] = {}
            for candidate in self.definitions:
                parent = self.superclass(candidate)
                if parent is not None:
                    table.setdefault(parent, set()).add(candidate)
            self._subclasses = table
        return self._subclasses.get(name, set())

    def find_method(self, name: str, method: str) -> MethodDef | None:
        for owner in self.lineage(name):
            for definition in self.definitions.get(owner, ()):
                if method in definition.methods:
                    return definition.methods[method]
        return None

    def handlers(self, name: str) -> list[HandlerDecl]:
        """Handlers declared on the class and its project ancestors, nearest first."""
        found = []
        for owner in self.lineage(name):
            for definition in self.definitions.get(owner, ()):
                found.extend(definition.handlers)
        return found

    def first_definition(self, name: str) -> ClassDef | None:
        defs = self.definitions.get(name)
        if not defs:
            return None
        with_super = [d for d in defs if d.superclass is not None]
        return (with_super or defs)[0]


# -- Active Record models (the class-index part: which classes are records) ------------------

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
