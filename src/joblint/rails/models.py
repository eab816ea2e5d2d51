"""Active Record models: which project classes are records, their associations, scopes and
the callbacks that run inside the save transaction."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import ruby
from ..ruby import Node
from ..source import SourceFile
from .classes import ClassIndex, is_model, qualified_name
from .file_facts import file_fact
from .named_calls import calls_named

if TYPE_CHECKING:
    from .app import App

ASSOCIATION_MACROS = ("has_many", "has_one", "belongs_to", "has_and_belongs_to_many")
# callbacks that run inside the save/destroy transaction (the `*_commit` ones run after it)
SAVE_CALLBACKS = (
    "after_create", "after_save", "after_update", "after_destroy",
    "before_create", "before_save", "before_update", "before_destroy", "before_validation",
)  # fmt: skip


@dataclass(frozen=True)
class Association:
    owner: str  # the class or concern that declares it
    kind: str  # has_many, has_one, belongs_to, has_and_belongs_to_many
    name: str
    path: str
    line: int
    dependent: str | None = None  # `dependent: :destroy` → "destroy"
    class_name: str | None = None  # `class_name: "Billing::Invoice"`


@dataclass(frozen=True)
class Callback:
    """A save-transaction callback declaration: `after_save :sync` or `after_create { … }`."""

    owner: str
    macro: str
    call: Node
    methods: tuple[str, ...]  # the symbols it names
    body: Node | None  # a block or lambda given inline


@dataclass
class ModelFacts:
    associations: dict[str, dict[str, Association]] = field(default_factory=dict)
    scopes: dict[str, set[str]] = field(default_factory=dict)
    callback_methods: dict[str, set[str]] = field(default_factory=dict)  # owner → method names


def _class_level_owner(call: Node) -> str | None:
    """The class/module a class-level macro call belongs to (inside `included do` counts)."""
    if ruby.enclosing(call, ruby.METHOD_TYPES) is not None:
        return None
    scope = ruby.enclosing(call, {"class", "module"})
    return None if scope is None else qualified_name(scope)


def is_model_scope(classes: ClassIndex, name: str) -> bool:
    """A model, or a module (concern) that lives under app/models."""
    definitions = classes.definitions.get(name, ())
    if definitions and definitions[0].is_module:
        return any(
            d.path.startswith("app/models/") or "/app/models/" in d.path for d in definitions
        )
    return is_model(classes, name)


def save_callbacks(source: SourceFile, classes: ClassIndex) -> list[Callback]:
    """The save-transaction callbacks declared in one file by models and model concerns."""
    return [c for c in _save_callbacks(source) if is_model_scope(classes, c.owner)]


def _save_callbacks(source: SourceFile) -> list[Callback]:
    """The save-transaction callbacks declared at class level in one file, by any class."""
    if not source.contains_any(_CALLBACK_WORDS):
        return []
    found = []
    for call in calls_named(source, SAVE_CALLBACKS, receiver=False):
        owner = _class_level_owner(call)
        if owner is None:
            continue
        methods = []
        body = ruby.call_block(call)
        for arg in ruby.call_arguments(call):
            if arg.type == "simple_symbol":
                methods.append(ruby.text(arg)[1:])
            elif arg.type == "lambda" and body is None:
                body = arg
        found.append(Callback(owner, ruby.call_method(call), call, tuple(methods), body))
    return found


_CALLBACK_WORDS = tuple(m.encode() for m in SAVE_CALLBACKS)
_MACRO_NAMES = (*ASSOCIATION_MACROS, "scope")
_MACRO_WORDS = tuple(m.encode() for m in _MACRO_NAMES)


def model_facts(app: App) -> ModelFacts:
    return app.fact("model_facts", _build_model_facts)


def _build_model_facts(app: App) -> ModelFacts:
    facts = ModelFacts()
    classes = app.classes
    sources = app.model_files
    for source, (macros, callbacks) in zip(sources, app.file_facts("model_facts", sources, _file_model_facts)):
        for owner, macro, name, line, dependent, class_name in macros:
            if macro == "scope":
                facts.scopes.setdefault(owner, set()).add(name)
            else:
                facts.associations.setdefault(owner, {})[name] = Association(
                    owner, macro, name, source.relpath, line, dependent=dependent,
                    class_name=class_name,
                )
        for owner, methods in callbacks:
            if is_model_scope(classes, owner):
                facts.callback_methods.setdefault(owner, set()).update(methods)
    return facts


@file_fact("model_facts")
def _file_model_facts(source: SourceFile) -> tuple[list[tuple[object, ...]], list[tuple[str, tuple[str, ...]]]]:
    """One file's association and scope macros, as (owner, macro, name, line, dependent,
    class_name), and the owners and named methods of its save callbacks — whether an owner
    is a model is asked of the class index when the files are put together."""
    macros: list[tuple[object, ...]] = []
    if source.contains_any(_MACRO_WORDS):
        for call, first in _macro_calls(source):
            owner = _class_level_owner(call)
            name = ruby.string_value(first)
            if owner is None or name is None:
                continue
            macro = ruby.call_method(call)
            if macro == "scope":
                macros.append((owner, macro, name, 0, None, None))
                continue
            options = ruby.keyword_arguments(call)
            dependent = options.get("dependent")
            class_name = options.get("class_name")
            macros.append((
                owner, macro, name, ruby.line(call),
                ruby.string_value(dependent) if dependent is not None else None,
                ruby.string_value(class_name) if class_name is not None else None,
            ))
    return macros, [(c.owner, c.methods) for c in _save_callbacks(source)]


def _macro_calls(source: SourceFile) -> Iterator[tuple[Node, Node]]:
    """The association and scope macros a model declares by name, with that name's node, as
    `(call !receiver method: (identifier) @macro (#any-of? @macro …) arguments: (argument_list
    . [(simple_symbol) (string)] @name)) @call` matches them, without compiling it."""
    for call in calls_named(source, _MACRO_NAMES, receiver=False, arguments=True):
        arguments = call.child_by_field_name("arguments")
        first = arguments.named_children[0] if arguments is not None and arguments.named_children else None
        if first is not None and first.type in ("simple_symbol", "string"):
            yield call, first


def associations(app: App, model: str) -> dict[str, Association]:
    """The associations of a model, its project superclasses (STI) and concerns."""
    facts = model_facts(app)
    found: dict[str, Association] = {}
    for owner in reversed(app.classes.lineage(model)):
        found.update(facts.associations.get(owner, {}))
    return found


def scopes(app: App, model: str) -> set[str]:
    facts = model_facts(app)
    return {s for owner in app.classes.lineage(model) for s in facts.scopes.get(owner, ())}


# -- deletion ------------------------------------------------------------------------------

DELETE_METHODS = frozenset(
    {"destroy", "destroy!", "delete", "destroy_all", "delete_all", "destroy_by", "delete_by"}
)
CASCADES = frozenset({"destroy", "delete_all", "destroy_async", "delete"})
SOFT_DELETE_MACROS = frozenset({"acts_as_paranoid", "acts_as_archival", "soft_deletable"})
SOFT_DELETE_MODULES = ("Discard::Model", "Paranoia", "SoftDeletion", "SoftDeletable")
_DELETES = ruby.compile_query(
    "(call method: (identifier) @m (#any-of? @m {})) @call".replace(
        "{}", " ".join(f'"{m}"' for m in sorted(DELETE_METHODS))
    )
)
_DELETE_WORDS = (b"destroy", b"delete")
_SOFT_WORDS = tuple(m.encode() for m in SOFT_DELETE_MACROS) + (b"Discard", b"Paranoia", b"Soft")


@dataclass(frozen=True)
class DeletionFacts:
    deleted: frozenset[str]  # models whose rows the project destroys or deletes somewhere
    soft_deleted: frozenset[str]  # models (or their ancestors) that soft-delete


def deletion_facts(app: App) -> DeletionFacts:
    return app.fact("deletion_facts", _build_deletion_facts)


def deletes_records_of(app: App, model: str) -> bool:
    """Can a record of `model` be gone when a job runs? The project destroys or deletes it
    (directly, or by a `dependent:` cascade from a model it deletes), and does not
    soft-delete it."""
    facts = deletion_facts(app)
    if any(owner in facts.soft_deleted for owner in app.classes.lineage(model)):
        return False
    return model in facts.deleted


def _build_deletion_facts(app: App) -> DeletionFacts:
    direct: set[str] = set()
    soft: set[str] = set()
    names = app.model_names
    for source in app.model_files:
        if source.contains_any(_SOFT_WORDS):
            for definition in app.definitions_in(source):
                if any(m in SOFT_DELETE_MODULES or m.endswith("::Paranoid") for m in definition.includes):
                    soft.add(definition.name)
            for call in ruby.descendants(source.root, {"call", "identifier"}):
                if ruby.text(call) in SOFT_DELETE_MACROS or (
                    call.type == "call" and ruby.call_method(call) in SOFT_DELETE_MACROS
                ):
                    owner = app.enclosing_class(call)
                    if owner is not None:
                        soft.add(owner)
        if not source.contains_any(_DELETE_WORDS):
            continue
        for _, caps in ruby.matches(_DELETES, source.root):
            model = _deleted_model(caps["call"][0], app, names)
            if model is not None:
                direct.add(model)
    return DeletionFacts(frozenset(_cascade(app, direct)), frozenset(soft))


def _deleted_model(call: Node, app: App, names: dict[str, str]) -> str | None:
    """The model whose rows `x.destroy` / `Model.where(…).delete_all` / `destroy` (inside a
    model) removes, as far as the call shows."""
    receiver = ruby.call_receiver(call)
    if receiver is None or receiver.type == "self":
        owner = app.enclosing_class(call)
        return owner if owner in app.model_classes else None
    root = ruby.chain_root(call)
    written = ruby.constant_path(root)
    if written is not None:
        model = app.classes.resolve(written, app.lexical_scope(call))
        return model if model in app.model_classes else None
    if root.type in ("identifier", "instance_variable") or (
        root.type == "call" and ruby.call_receiver(root) is None
    ):
        name = ruby.text(root if root.type != "call" else root.child_by_field_name("method"))
        bare = name.lstrip("@")
        return names.get(bare) or names.get(_singular(bare))
    return None


def _singular(name: str) -> str:
    if name.endswith("ies"):
        return name[:-3] + "y"
    if name.endswith(("ses", "xes")):
        return name[:-2]
    return name.removesuffix("s")


def _cascade(app: App, deleted: set[str]) -> set[str]:
    """Add the models that `dependent: :destroy`/`:delete_all` associations of deleted models
    remove with them, transitively."""
    names = app.model_names
    result = set(deleted)
    frontier = list(deleted)
    while frontier:
        owner = frontier.pop()
        for association in associations(app, owner).values():
            if association.kind == "belongs_to" or association.dependent not in CASCADES:
                continue
            target = association.class_name or names.get(_singular(association.name))
            if target is not None:
                target = app.classes.resolve(target)
            if target in app.model_classes and target not in result:
                result.add(target)
                frontier.append(target)
    return result
