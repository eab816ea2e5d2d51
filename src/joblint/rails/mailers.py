"""Action Mailer: which classes are mailers (and mailer previews), their actions, the shape of
their `mail(...)` calls, template paths, the templates under `app/views`, what a mailer call
looks like, and the delivery settings of `config/environments/production.rb`."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

from .. import ruby
from ..patterns import lazy_pattern
from ..ruby import Node
from ..source import SourceFile
from .app import COMPONENT_DIRS, App, underscore
from .classes import ClassDef, ClassIndex, MethodDef

MAILER_BASES = frozenset({"ActionMailer::Base", "ApplicationMailer"})
PREVIEW_BASE = "ActionMailer::Preview"


def is_mailer(classes: ClassIndex, name: str) -> bool:
    return name == "ApplicationMailer" or bool(set(classes.ancestors(name)) & MAILER_BASES)


def is_preview(app: App, definition: ClassDef) -> bool:
    """A mailer preview: a class whose ancestry reaches `ActionMailer::Preview`. Read from the
    definition itself too, for a preview file the class index does not hold."""
    if definition.is_module:
        return False
    classes = app.classes
    if PREVIEW_BASE in classes.ancestors(definition.name):
        return True
    if definition.superclass is None:
        return False
    scope = definition.lexical_scope + (definition.name,)
    parent = classes.resolve(definition.superclass, scope)
    return parent == PREVIEW_BASE or PREVIEW_BASE in classes.ancestors(parent)


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


DELIVERY_METHODS = (
    "deliver_later", "deliver_later!", "deliver_now", "deliver_now!", "deliver", "deliver!",
)  # fmt: skip
# keys of `mail(...)` that make it render without looking up `<path>/<action>` templates
# (`template:`/`template_alias:`… name a template the mail provider renders)
INLINE_BODY_KEYS = frozenset(
    {"body", "html", "text", "template_name", "template", "template_alias", "template_id",
     "template_model"}
)
# framework modules that add no actions to a mailer
FRAMEWORK_PREFIXES = (
    "ActionMailer::", "ActionView::", "ActionDispatch::", "AbstractController::",
    "ActiveSupport::", "Rails::", "Roadie::", "Premailer::",
)  # fmt: skip
# class-level methods every mailer answers that are not actions (Object's, ActionMailer's)
CLASS_METHODS = frozenset(
    {
        "send", "public_send", "__send__", "try", "try!", "tap", "then", "yield_self", "method",
        "respond_to?", "new", "with", "default", "instance_method", "name", "to_s", "inspect",
        "class", "is_a?", "kind_of?", "const_get", "freeze", "dup", "clone", "deliver_mail",
        "mailer_name", "default_url_options", "default_params", "action_methods",
        "instance_variable_get", "public_method", "singleton_class", "receive",
        # ActionMailer::Base's own class-level API, which previews and tests also call
        "deliveries", "delivery_method", "delivery_methods", "delivery_job", "smtp_settings",
        "sendmail_settings", "file_settings", "test_settings", "perform_deliveries",
        "raise_delivery_errors", "deliver_later_queue_name", "default_options",
        "register_observer", "register_observers", "register_interceptor",
        "register_interceptors", "unregister_observer", "unregister_interceptor",
        "email_address_with_name", "controller_path", "layout", "helper", "helpers",
        "view_paths", "append_view_path", "prepend_view_path", "handle_exception", "descendants",
        "subclasses", "superclass", "ancestors", "instance_methods", "public_instance_methods",
        "method_defined?", "public_method_defined?", "respond_to_missing?", "preview_paths",
        "rescue_from", "before_action", "after_action", "around_action", "include",
    }
)  # fmt: skip
# `SomeMailer.action(..)` and `SomeMailer.with(..).action(..)`: calls that may be mailer actions
# (what `mailer_action_calls` finds of them without compiling this; kept as its reference)
ACTION_CALLS = ruby.compile_query(
    """
    (call receiver: [(constant) (scope_resolution)] method: (identifier)) @call
    (call receiver: (call method: (identifier) @with (#eq? @with "with")) method: (identifier)) @call
    """
)
_DEFAULT_CALLS = ruby.compile_query(
    '(call !receiver method: (identifier) @m (#eq? @m "default") arguments: (argument_list)) @call'
)


@dataclass(frozen=True)
class MailCall:
    """The shape of one `mail(...)` call in an action."""

    start_byte: int
    renders_inline: bool  # a block, `body:`, `html:`/`text:` or `template_name:`
    template_path: tuple[str, ...] | None  # `template_path:` strings, None when not given
    dynamic: bool  # arguments joblint cannot read: a hash variable, a splat, a computed path


def mail_call(call: Node) -> MailCall:
    inline = ruby.call_block(call) is not None
    template_path: tuple[str, ...] | None = None
    dynamic = False
    for arg in ruby.call_arguments(call):
        if arg.type == "block_argument":
            inline = True
        elif arg.type == "pair":
            key = ruby.pair_key(arg)
            if key is None:
                continue
            if key in INLINE_BODY_KEYS:
                inline = True
            elif key == "template_path":
                template_path = _strings(arg.child_by_field_name("value"))
                dynamic = dynamic or template_path is None
        else:
            dynamic = True  # `mail(headers)`, `mail(**opts)`: the keys are unknown
    return MailCall(call.start_byte, inline, template_path, dynamic)


def _strings(node: Node | None) -> tuple[str, ...] | None:
    """A string/symbol literal or an array of them; None when anything is computed."""
    if node is None:
        return None
    if node.type in ("array", "string_array"):
        values = [ruby.string_value(c) for c in node.named_children]
        if node.type == "string_array":
            values = [ruby.text(c) for c in node.named_children]
        return None if any(v is None for v in values) else tuple(v for v in values if v)
    value = ruby.string_value(node)
    return None if value is None else (value,)


def mail_calls(method: Node) -> list[MailCall]:
    """The receiver-less `mail(...)` calls inside a method."""
    return [mail_call(call) for call in ruby.calls_below(method, ("mail",), receiver=False)]


def mailer_path(name: str) -> str:
    """`Admin::UserMailer` → `admin/user_mailer`, the default template directory."""
    return "/".join(underscore(part) for part in name.split("::"))


def is_project_mailer(classes: ClassIndex, name: str, strict: bool = True) -> bool:
    """A mailer whose superclasses are all project classes down to `ActionMailer::Base`. With
    `strict`, its mixins must also be project or framework modules: then every action it has
    is visible (a gem module could add actions; it cannot change a project action)."""
    if name not in classes or not is_mailer(classes, name):
        return False
    current: str | None = name
    while current is not None and current != "ActionMailer::Base":
        if current not in classes:
            return False  # a gem's mailer (Devise::Mailer…) defines actions joblint cannot see
        for mixin in classes.mixins(current) if strict else ():
            if mixin not in classes and not mixin.startswith(FRAMEWORK_PREFIXES):
                return False
        current = classes.superclass(current)
    return current == "ActionMailer::Base"


def mailer_actions(classes: ClassIndex, name: str) -> dict[str, MethodDef]:
    """Public instance methods of a mailer and its project ancestors (nearest wins)."""
    actions: dict[str, MethodDef] = {}
    hidden: set[str] = set()
    for owner in classes.lineage(name):
        for definition in classes.definitions.get(owner, ()):
            for method_name, method in definition.methods.items():
                if method_name in actions or method_name in hidden:
                    continue
                if method.visibility == "public":
                    actions[method_name] = method
                else:
                    hidden.add(method_name)
    return actions


def _lineage_sources(app: App, name: str) -> Iterator[SourceFile]:
    """The files that define the mailer and its project ancestors."""
    for owner in app.classes.lineage(name):
        for definition in app.classes.definitions.get(owner, ()):
            source = app.source(app.root / definition.path) if app.root else None
            if source is not None:
                yield source


def has_dynamic_actions(app: App, name: str) -> bool:
    """`method_missing`, `define_method`, `alias` or `class << self` in the mailer or its
    project ancestors: which actions exist is not static."""
    return _lineage_texts(app, name)[0]


def class_methods(app: App, name: str) -> frozenset[str]:
    """`def self.x` names of the mailer and its project ancestors: `Mailer.x` calls them, not
    an action."""
    return _lineage_texts(app, name)[1]


def _lineage_texts(app: App, name: str) -> tuple[bool, frozenset[str]]:
    """What the mailer's files say (`has_dynamic_actions`, `class_methods`), read once per
    mailer: every call of one of its actions asks."""

    def build(app: App) -> tuple[bool, frozenset[str]]:
        sources = list(_lineage_sources(app, name))
        return (
            any(_DYNAMIC.search(s.data) for s in sources),
            frozenset(m.decode() for s in sources for m in _CLASS_METHOD.findall(s.data)),
        )

    return app.fact(f"mailer_texts:{name}", build)


def template_folders(app: App, name: str) -> tuple[str, ...] | None:
    """The folders under `app/views` where the mailer's action templates may be: the
    `default template_path:` (or the mailer's own path and its subclasses'), also below each
    `append_view_path`/`prepend_view_path` inside `app/views`. None when joblint cannot tell
    (a custom `mailer_name`, a computed path, a view path outside `app/views`)."""
    default = default_template_path(app, name)
    if default is None:
        return None
    folders = default or (mailer_path(name),)
    for sub in sorted(app.classes.subclasses(name)):
        folders += (mailer_path(sub),)
    prefixes = [""]
    for source in _lineage_sources(app, name):
        if _CUSTOM_VIEWS.search(source.data):
            return None
        for match in _VIEW_PATH.finditer(source.data):
            parts = _STRING.findall(match.group(1))
            path = "/".join(p.decode().strip("/") for p in parts)
            if not parts or not (path == "app/views" or path.startswith("app/views/")):
                return None
            prefixes.append(path[len("app/views/") :] if path != "app/views" else "")
    return tuple(f"{prefix}/{folder}".strip("/") for prefix in prefixes for folder in folders)


_DYNAMIC = lazy_pattern(rb"method_missing|define_method|\balias(?:_method)?\b|class\s*<<\s*self")
_CLASS_METHOD = lazy_pattern(rb"def\s+self\.(\w+[?!]?)")
_CUSTOM_VIEWS = lazy_pattern(
    rb"mailer_name\s*=|def\s+(?:self\.)?mailer_name\b|template_root|view_paths\s*="
)
_VIEW_PATH = lazy_pattern(rb"(?:append|prepend)_view_path\b([^\n]*)")
_STRING = lazy_pattern(rb"[\"']([^\"'#]*)[\"']")


def default_template_path(app: App, name: str) -> tuple[str, ...] | None | bool:
    """`default template_path: "…"` of the mailer or its nearest project ancestor: the paths,
    False when none is declared, None when it is computed."""
    for owner in app.classes.lineage(name):
        for definition in app.classes.definitions.get(owner, ()):
            source = app.source(app.root / definition.path) if app.root else None
            if source is None or b"template_path" not in source.data:
                continue
            for _, caps in ruby.matches(_DEFAULT_CALLS, source.root):
                call = caps["call"][0]
                if app.enclosing_class(call) != owner:
                    continue
                pairs = ruby.keyword_arguments(call)
                if "template_path" in pairs:
                    return _strings(pairs["template_path"])
    return False


def view_templates(app: App) -> frozenset[str] | None:
    """`<dir>/<name>` of every template under `app/views` (of the root and its engines), any
    handler, format, locale or variant; None when the app has no `app/views`."""
    return app.fact("view_templates", _build_view_templates)


def _build_view_templates(app: App) -> frozenset[str] | None:
    if app.root is None:
        return None
    roots = [app.root / "app" / "views"]
    for group in COMPONENT_DIRS:
        parent = app.root / group
        if parent.is_dir():
            roots.extend(c / "app" / "views" for c in sorted(parent.iterdir()) if c.is_dir())
    roots = [r for r in roots if r.is_dir()]
    if not roots:
        return None
    found: set[str] = set()
    for top in roots:
        for dirpath, _, filenames in os.walk(top):
            relative = os.path.relpath(dirpath, top).replace(os.sep, "/")
            for filename in filenames:
                stem = filename.split(".", 1)[0].split("+", 1)[0]
                if stem:
                    found.add(stem if relative == "." else f"{relative}/{stem}")
    return frozenset(found)


def constant_assigned(app: App, name: str) -> bool:
    """Is `Name = …` written anywhere in the project (a mailer or mailbox class made without
    `class`, which the class index does not hold)?"""
    short = re.escape(name.rsplit("::", 1)[-1].encode())
    pattern = re.compile(rb"(?<![\w:])" + short + rb"\s*=[^=~>]")
    return any(pattern.search(source.data) for source in app.model_files)


def action_call(call: Node, app: App) -> tuple[str, str] | None:
    """For `UserMailer.welcome(..)` or `UserMailer.with(..).welcome(..)`: (mailer, action), when
    the receiver is a project mailer."""
    if call.type != "call":
        return None
    receiver = ruby.call_receiver(call)
    if receiver is not None and receiver.type == "call" and ruby.call_method(receiver) == "with":
        receiver = ruby.call_receiver(receiver)
    written = ruby.constant_path(receiver)
    if written is None or written.rsplit("::", 1)[-1] not in _mailer_tails(app):
        return None  # no mailer is named so: whatever the scope, it resolves to no mailer
    name = app.classes.resolve(written, app.lexical_scope(call))
    action = ruby.call_method(call)
    if not is_mailer(app.classes, name) or action in CLASS_METHODS:
        return None
    return name, action


def mailer_action_calls(source: SourceFile, app: App) -> list[Node]:
    """The calls `ACTION_CALLS` matches that `action_call` can answer for — those on a constant
    ending in a mailer's name, directly or through `.with(..)` — in document order: found from
    where the mailers' names are written, which costs what the file mentions, where the query
    walks the whole tree (and costs 30 ms to compile)."""
    root = source.root
    found: dict[int, Node] = {}
    for tail in _mailer_tails(app):
        for leaf in ruby.written_at(root, source.data, tail.encode()):
            if leaf.type != "constant" or leaf.end_byte != leaf.start_byte + len(tail.encode()):
                continue
            path = ruby.path_to(root, leaf)
            receiver = leaf
            if path and path[-1].type == "scope_resolution" and ruby.is_child(path[-1], "name", leaf):
                receiver = path.pop()
            call = path.pop() if path else None
            if call is not None and _calls_on(call, receiver):
                if len(path) <= ruby.MAX_ASCENT:  # no match starts deeper
                    found[call.id] = call
                outer = path.pop() if path else None
                if (ruby.call_method(call) == "with" and outer is not None
                        and _calls_on(outer, call) and len(path) <= ruby.MAX_ASCENT):
                    found[outer.id] = outer
    return sorted(found.values(), key=lambda n: (n.start_byte, n.end_byte))


def _calls_on(call: Node, receiver: Node) -> bool:
    """`call` is a call of an identifier-named method on `receiver`."""
    method = call.child_by_field_name("method")
    return (call.type == "call" and method is not None and method.type == "identifier"
            and ruby.is_child(call, "receiver", receiver))


def _mailer_tails(app: App) -> frozenset[str]:
    """The last part of every mailer's name (`UserMailer` of `Admin::UserMailer`): a constant
    resolves to its scope's name for it (`Admin::` + `UserMailer`) or stays as written."""

    def build(app: App) -> frozenset[str]:
        classes = app.classes
        names = [n for n in classes.names() if is_mailer(classes, n)] + ["ApplicationMailer"]
        return frozenset(n.rsplit("::", 1)[-1] for n in names)

    return app.fact("mailer_tails", build)


@dataclass(frozen=True)
class ActionCall:
    """A call of a project mailer's action that joblint can judge."""

    mailer: str
    action: str
    method: MethodDef | None  # the action's definition; None when the mailer has no such action


def judgeable_action_call(call: Node, app: App, strict: bool) -> ActionCall | None:
    """`Mailer.action(..)` / `Mailer.with(..).action(..)` on a project mailer whose actions are
    static, not naming one of its `def self.x` methods; None for anything joblint cannot judge.
    `strict` also requires that no gem module is mixed in (it could add the action)."""
    found = action_call(call, app)
    if found is None:
        return None
    mailer, action = found
    if not is_project_mailer(app.classes, mailer, strict=strict):
        return None
    if action in class_methods(app, mailer) or has_dynamic_actions(app, mailer):
        return None
    return ActionCall(mailer, action, mailer_actions(app.classes, mailer).get(action))


# -- delivery settings -------------------------------------------------------------------------

PRODUCTION_CONFIG = "config/environments/production.rb"
# (what `mail_settings` finds without compiling this; kept as its reference)
_SETTINGS = ruby.compile_query(
    """
    (assignment
      left: (call receiver: (call method: (identifier) @am (#eq? @am "action_mailer"))
                  method: (identifier) @name)
      right: (_) @value) @assignment
    """
)
# what may hold a statement that runs whenever the file is loaded
_UNCONDITIONAL_PARENTS = frozenset(
    {"program", "body_statement", "block_body", "do_block", "block", "call"}
)


@dataclass(frozen=True)
class MailSetting:
    """`config.action_mailer.<name> = <value>` in a config file."""

    name: str
    value: Node
    unconditional: bool  # runs whenever the file loads: not in a condition, method or rescue


def mail_settings(root: Node) -> list[MailSetting]:
    """The `config.action_mailer.<name> = <value>` assignments below `root`, in document order:
    what `_SETTINGS` matches, found from where `action_mailer` is written."""
    settings = []
    for word in ruby.written_at(root, root.text or b"", b"action_mailer", root.start_byte):
        if word.type != "identifier" or word.end_byte != word.start_byte + len("action_mailer"):
            continue
        path = ruby.path_to(root, word)  # three levels up is where the match starts
        if len(path) < 3 or len(path) - 3 > ruby.MAX_ASCENT:
            continue
        inner, outer, assignment = path[-1], path[-2], path[-3]
        name = outer.child_by_field_name("method")
        value = assignment.child_by_field_name("right")
        if (inner.type == "call" and ruby.is_child(inner, "method", word)
                and outer.type == "call" and ruby.is_child(outer, "receiver", inner)
                and name is not None and name.type == "identifier"
                and assignment.type == "assignment" and ruby.is_child(assignment, "left", outer)
                and value is not None):
            unconditional = all(a.type in _UNCONDITIONAL_PARENTS for a in ruby.ancestors(assignment))
            settings.append(MailSetting(ruby.text(name), value, unconditional))
    return settings


def literal_setting(settings: list[MailSetting], name: str) -> MailSetting | None:
    """The one assignment of `name` when it is unconditional and a literal (a symbol, string,
    `true`/`false`); None when the setting is absent, assigned twice, conditional or computed."""
    found = [s for s in settings if s.name == name]
    if len(found) != 1 or not found[0].unconditional:
        return None
    if found[0].value.type in ("true", "false") or ruby.string_value(found[0].value) is not None:
        return found[0]
    return None


def setting_changed_elsewhere(app: App, name: str, ignore: bytes | None = None) -> bool:
    """Does an initializer or the app's code also set `name` (`ActionMailer::Base.x =`,
    `self.x =`, `config.action_mailer.x =`, a mailer's `default x:`…)? Initializers run after
    the environment file; a mailer's own setting wins for its mail; a sample initializer
    (`production.rb.sample`, copied in at deploy time) counts too. An assignment of the
    `ignore` value (`message.perform_deliveries = false` in an interceptor) does not count."""
    pattern = re.compile(rb"\b" + name.encode() + rb"\b\s*(?:=(?![=~>])\s*(\S*)|:)")
    # app/ and lib/ code (the analysed config files join the model files: not those)
    texts = [s.data for s in app.model_files if not s.relpath.startswith("config/")]
    if app.root is not None:
        for path in sorted((app.root / "config" / "initializers").glob("**/*.rb*")):
            texts.append(app.read_bytes(path) or b"")
    for text in texts:
        for match in pattern.finditer(text):
            line_start = text.rfind(b"\n", 0, match.start()) + 1
            if text[line_start : match.start()].lstrip().startswith(b"#"):
                continue
            value = match.group(1)
            if ignore is None or value is None or not value.startswith(ignore):
                return True
    return False


def sends_mail(app: App) -> bool:
    """Does the app send mail at all: a project mailer besides `ApplicationMailer`, a
    delivery in its code, or Devise (which mails confirmations and resets)?"""
    classes = app.classes
    if any(n != "ApplicationMailer" and is_mailer(classes, n) for n in classes.names()):
        return True
    if "devise" in app.gems:
        return True
    return any(b".deliver" in s.data for s in app.model_files)
