"""Active Record models: which project classes are records, their associations, scopes and
the callbacks that run inside the save transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import ruby
from ..ruby import Node
from ..source import SourceFile
from .classes import ClassDef, ClassIndex, qualified_name

if TYPE_CHECKING:
    from .app import App

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


ASSOCIATION_MACROS = ("has_many", "has_one", "belongs_to", "has_and_belongs_to_many")
# callbacks that run inside the save/destroy transaction (the `*_commit` ones run after it)
SAVE_CALLBACKS = (
    "after_create", "after_save", "after_update", "after_destroy",
    "before_create", "before_save", "before_update", "before_destroy", "before_validation",
)  # fmt: skip
_MACROS = ruby.compile_query(
    """
    (call
      !receiver
      method: (identifier) @macro
      (#any-of? @macro {})
      arguments: (argument_list . [(simple_symbol) (string)] @name)) @call
    """.replace("{}", " ".join(f'"{m}"' for m in (*ASSOCIATION_MACROS, "scope")))
)
_CALLBACKS = ruby.compile_query(
    "(call !receiver method: (identifier) @macro (#any-of? @macro {})) @call".replace(
        "{}", " ".join(f'"{m}"' for m in SAVE_CALLBACKS)
    )
)


@dataclass(frozen=True)
class Association:
    owner: str  # the class or concern that declares it
    kind: str  # has_many, has_one, belongs_to, has_and_belongs_to_many
    name: str
    path: str
    line: int


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
    if not source.contains_any(_CALLBACK_WORDS):
        return []
    found = []
    for _, caps in ruby.matches(_CALLBACKS, source.root):
        call = caps["call"][0]
        owner = _class_level_owner(call)
        if owner is None or not is_model_scope(classes, owner):
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
_MACRO_WORDS = tuple(m.encode() for m in (*ASSOCIATION_MACROS, "scope"))


def model_facts(app: App) -> ModelFacts:
    return app.fact("model_facts", _build_model_facts)


def _build_model_facts(app: App) -> ModelFacts:
    facts = ModelFacts()
    classes = app.classes
    for source in app.model_files:
        if source.contains_any(_MACRO_WORDS):
            for _, caps in ruby.matches(_MACROS, source.root):
                call = caps["call"][0]
                owner = _class_level_owner(call)
                name = ruby.string_value(caps["name"][0])
                if owner is None or name is None:
                    continue
                macro = ruby.call_method(call)
                if macro == "scope":
                    facts.scopes.setdefault(owner, set()).add(name)
                else:
                    line = source.position(call.start_byte).line
                    facts.associations.setdefault(owner, {})[name] = Association(
                        owner, macro, name, source.relpath, line
                    )
        for callback in save_callbacks(source, classes):
            facts.callback_methods.setdefault(callback.owner, set()).update(callback.methods)
    return facts


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
