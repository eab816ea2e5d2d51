"""Action Mailbox: which classes are mailboxes, the routes of `routing`, and the mailbox
class each route names (`:replies` → `RepliesMailbox`, by ActiveSupport's `camelize`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .. import ruby
from ..patterns import lazy_pattern
from ..ruby import Node
from .app import App
from .classes import ClassIndex
from .mailers import FRAMEWORK_PREFIXES
from .zeitwerk import autoloading, camelize

MAILBOX_BASE = "ActionMailbox::Base"
# where throwaway mailboxes and routes in tests live: not the app's mail flow
TEST_DIRS = ("test", "spec", "features")
# the `bounce_with`-style methods of ActionMailbox::Base: each delivers the message it is given
BOUNCE_METHODS = ("bounce_with", "bounce_now_with")
# work a mailbox can do besides `process`: processing callbacks and overrides of the machinery
_OTHER_WORK = lazy_pattern(
    rb"\b(?:before|after|around)_processing\b|def\s+(?:self\.receive|perform_processing)\b"
)
_DYNAMIC = lazy_pattern(
    rb"method_missing|define_method|\balias(?:_method)?\b|instance_eval|class_eval"
)
_ROUTING = ruby.compile_query(
    '(call !receiver method: (identifier) @m (#eq? @m "routing") arguments: (argument_list)) @call'
)


def is_mailbox(classes: ClassIndex, name: str) -> bool:
    return MAILBOX_BASE in classes.ancestors(name)


def is_project_mailbox(classes: ClassIndex, name: str) -> bool:
    """A mailbox whose superclasses are project classes down to `ActionMailbox::Base`, and
    whose mixins are project or framework modules: every method it has is visible."""
    if name not in classes or not is_mailbox(classes, name):
        return False
    current: str | None = name
    while current is not None and current != MAILBOX_BASE:
        if current not in classes:
            return False  # a gem's mailbox may define `process`
        for mixin in classes.mixins(current):
            if mixin not in classes and not mixin.startswith(
                FRAMEWORK_PREFIXES + ("ActionMailbox::",)
            ):
                return False
        current = classes.superclass(current)
    return current == MAILBOX_BASE


def does_other_work(app: App, name: str) -> bool:
    """Processing callbacks, a `receive`/`perform_processing` override, or methods made at run
    time in the mailbox or its project ancestors: the work may not be in `process`."""
    for owner in app.classes.lineage(name):
        for definition in app.classes.definitions.get(owner, ()):
            source = app.source(app.root / definition.path) if app.root else None
            if source is None:
                return True
            if _OTHER_WORK.search(source.data) or _DYNAMIC.search(source.data):
                return True
    return False


@dataclass(frozen=True)
class MailboxRoute:
    """One `address => mailbox` pair of a `routing` call."""

    target: Node  # the mailbox name as written (`:replies`, `"admin/replies"`)
    mailbox: str  # the constant `constantize` looks up: `RepliesMailbox`


def routes(app: App, root: Node) -> Iterator[MailboxRoute]:
    """The routes declared by `routing` at class level of the mailboxes in a tree whose mailbox
    class joblint can name; dynamic names (`mailbox_for(x)`, `:"#{x}"`) are left out."""
    facts = autoloading(app)
    if not facts.inflection_known or (not facts.zeitwerk and _mentions_acronyms(app)):
        return  # an acronym joblint cannot read may change every camelized name
    for _, caps in ruby.matches(_ROUTING, root):
        call = caps["call"][0]
        owner = app.enclosing_class(call)
        if owner is None or not is_mailbox(app.classes, owner):
            continue
        if ruby.enclosing(call, ruby.METHOD_TYPES) is not None:
            continue  # inside a method: not a route declared when the class loads
        for pair in _pairs(call):
            target = pair.child_by_field_name("value")
            if target is None:
                continue
            mailbox = _mailbox_constant(app, target, facts.acronyms)
            if mailbox is not None:
                yield MailboxRoute(target, mailbox)


def _mentions_acronyms(app: App) -> bool:
    """Acronyms are read with the Zeitwerk facts; without Zeitwerk, any mention is unknown."""
    if app.root is None:
        return False
    config = app.root / "config"
    paths = sorted(config.glob("initializers/**/*.rb")) + [config / "application.rb"]
    return any(b"acronym" in (app.read_bytes(p) or b"") for p in paths if p.is_file())


def _pairs(call: Node) -> Iterator[Node]:
    for arg in ruby.call_arguments(call):
        if arg.type == "pair":
            yield arg
        elif arg.type == "hash":
            yield from (c for c in arg.named_children if c.type == "pair")


_NAME = lazy_pattern(r"^[a-z][a-z0-9_]*(?:/[a-z][a-z0-9_]*)*$")


def _mailbox_constant(app: App, target: Node, acronyms: dict[str, str]) -> str | None:
    """`"#{mailbox_name.to_s.camelize}Mailbox"` for a literal mailbox name; for a project
    class written as the name (`=> RepliesMailbox`), its name plus `Mailbox`."""
    written = ruby.constant_path(target)
    if written is not None:
        resolved = app.classes.resolve(written, app.lexical_scope(target))
        return f"{resolved}Mailbox" if resolved in app.classes else None
    name = ruby.string_value(target)
    if not name or not _NAME.match(name):
        return None  # computed, or a spelling whose camelize joblint does not model
    return f"{camelize(name, acronyms)}Mailbox"


def mailbox_owner(app: App, node: Node) -> str | None:
    """The mailbox whose code `node` is: inside a mailbox class, or inside a module that only
    mailboxes include (or that lives under `app/mailboxes`). None elsewhere."""
    owner = app.enclosing_class(node)
    if owner is None:
        return None
    classes = app.classes
    if is_mailbox(classes, owner):
        return owner
    definitions = classes.definitions.get(owner, ())
    if not definitions or not all(d.is_module for d in definitions):
        return None
    includers = [name for name in classes.names() if owner in classes.mixins(name)]
    if includers and all(is_mailbox(classes, name) for name in includers):
        return owner
    if not includers and all(d.path.startswith("app/mailboxes/") for d in definitions):
        return owner
    return None
