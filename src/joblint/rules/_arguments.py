"""Shared analysis of job arguments and of request data (`params[...]`, `request.*`).

Used by the argument rules (JL102–JL105) and the request-data rules (JL406, JL703). Plain
functions over nodes and the App; nothing here reports findings.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .. import ruby
from ..patterns import lazy_pattern
from ..rails.app import App
from ..rails.jobs import JobKind, enqueued_class
from ..rails.mailers import is_mailer, mailer_constant
from ..ruby import Node
from ..source import SourceFile

_MAX_DEPTH = 4  # variable assignments followed before giving up


def receiver_class(call: Node, app: App) -> str | None:
    """The project-resolved job class an enqueue call targets (`Foo::BarJob.set(..).perform_later`)."""
    return enqueued_class(call, app.classes, app.lexical_scope(call))


def perform_parameters(source: SourceFile) -> list[Node]:
    """The parameter lists of the file's `def perform(…)`, in document order; searched once
    for the rules that read them (JL103, JL104)."""
    found = source.derived.get("perform_parameters")
    if found is None:
        found = source.derived["perform_parameters"] = _perform_parameters(source)
    return found  # type: ignore[return-value]


def _perform_parameters(source: SourceFile) -> list[Node]:
    """What `ruby.matches` finds (in its order) with `(method name: (identifier) @name
    (#eq? @name "perform") parameters: (method_parameters) @params)`: from where `perform` is
    written, which costs less than compiling that query (see node_search)."""
    found = []
    for name, path in ruby.identifiers_named(source.root, source.data, ("perform",)):
        method, depth = path[-1], len(path) - 1
        params = method.child_by_field_name("parameters")
        if (
            method.type == "method" and depth <= ruby.MAX_ASCENT and params is not None
            and params.type == "method_parameters" and ruby.is_child(method, "name", name)
        ):
            found.append((ruby.document_order(params, depth + 1), params))
    return [params for _, params in sorted(found, key=lambda item: item[0])]


# Sidekiq enqueues of one job (`perform_bulk` takes a list of argument lists instead).
SIDEKIQ_SINGLE_ENQUEUE = ("perform_async", "perform_in", "perform_at")
JOB_CLASS_SUFFIXES = ("Job", "Worker")


def is_job_class(written: str, node: Node, app: App) -> bool:
    """A constant as written names a job: a project job, or a class named `…Job`/`…Worker`."""
    name = app.classes.resolve(written, app.lexical_scope(node))
    return app.jobs.kind(name) is not None or written.endswith(JOB_CLASS_SUFFIXES)


_DELIBERATE = lazy_pattern(
    r"\b(?:synchronous(?:ly)?|immediately|right away|on purpose|intentional(?:ly)?"
    r"|deliberate(?:ly)?)\b",
    re.IGNORECASE,
)


def said_deliberate(call: Node, source: SourceFile) -> bool:
    """A comment on the call's line or the line above says it runs now on purpose
    (`# deliver synchronously to avoid a backed-up queue`)."""
    line = source.position(call.start_byte).line
    for number in (line - 1, line):
        text = source.line_text(number)
        comment = text.split("#", 1)[1] if "#" in text else ""
        if number == line - 1 and not text.lstrip().startswith("#"):
            continue
        if comment and _DELIBERATE.search(comment):
            return True
    return False


# ActiveJob hand-offs that serialize their arguments for later: `perform_later`, `deliver_later`.
LATER = ("perform_later", "deliver_later", "deliver_later!")


def later_call(call: Node, app: App) -> bool:
    """`perform_later`, or `deliver_later` on a mailer message (not on something else)."""
    if ruby.call_method(call) == "perform_later":
        return True
    receiver = ruby.call_receiver(call)
    return receiver is not None and mailer_constant(receiver, app.classes) is not None


def in_job_or_mailer(node: Node, app: App) -> bool:
    """Is the node inside a job or mailer class (their own code, not the request's)?"""
    owner = app.enclosing_class(node)
    return owner is not None and (app.jobs.kind(owner) is not None or is_mailer(app.classes, owner))


# Gems other than Sidekiq whose job classes also answer `perform_async` (no JSON round trip).
NON_SIDEKIQ_MIXINS = frozenset({"SuckerPunch::Job"})


def is_sidekiq_call(call: Node, app: App) -> bool:
    """A `perform_async/in/at` call that goes through Sidekiq: not one on a project class known
    to be an ActiveJob job or a SuckerPunch job (their `perform_async` does not serialize)."""
    name = receiver_class(call, app)
    if name is None or name not in app.classes:
        return True
    if app.jobs.kind(name) is JobKind.ACTIVE_JOB:
        return False
    return not set(app.classes.ancestors(name)) & NON_SIDEKIQ_MIXINS


def symbol_key(pair: Node) -> bool:
    """A `key: value` / `:key => value` pair (symbol key), not `"key" => value`."""
    key = pair.child_by_field_name("key")
    return key is not None and key.type in ("hash_key_symbol", "simple_symbol", "delimited_symbol")


def elements(node: Node) -> Iterator[Node]:
    """The values inside an argument: the argument itself, then array elements and hash values,
    recursively (hash keys are not values)."""
    yield node
    if node.type == "array":
        for child in node.named_children:
            yield from elements(child)
    elif node.type == "hash":
        for pair in node.named_children:
            if pair.type == "pair":
                value = pair.child_by_field_name("value")
                if value is not None:
                    yield from elements(value)
    elif node.type == "parenthesized_statements" and node.named_child_count == 1:
        yield from elements(node.named_children[0])


def assigned_value(node: Node, depth: int = 0) -> Node:
    """For a local or instance variable, the value last assigned to it in its method (followed
    through further variables); otherwise the node itself."""
    current = node
    while current.type in ("identifier", "instance_variable") and depth < _MAX_DEPTH:
        assigned = ruby.last_assignment(ruby.text(current), current)
        if assigned is None:
            break
        current = assigned
        depth += 1
    return current


# -- request data --------------------------------------------------------------------------

REQUEST_ROOTS = frozenset({"params", "request", "cookies"})
# Methods that pick a value out of params without turning it into something else.
PARAMS_ACCESS = frozenset(
    {"[]", "fetch", "dig", "require", "permit", "slice", "values_at", "to_unsafe_h", "to_h",
     "presence", "to_s", "to_str", "strip", "squish", "downcase", "upcase", "first", "last",
     "split", "compact_blank", "to_sym", "camelize", "classify", "underscore", "singularize", "pluralize", "titleize", "capitalize"}
)


def _request_root(node: Node) -> str | None:
    """`params`, `request`, or a strong-parameters method such as `user_params` (by the Rails
    naming convention: a receiver-less call without arguments ending in `_params`)."""
    if node.type == "identifier":
        name = ruby.text(node)
        if ruby.last_assignment(name, node) is not None:
            return None  # a local variable of that name, not the controller's method
    elif node.type == "call" and ruby.call_receiver(node) is None and not ruby.call_arguments(node):
        name = ruby.call_method(node)
    else:
        return None
    return name if name in REQUEST_ROOTS or name.endswith("_params") else None


def request_chain(node: Node) -> tuple[str, list[str]] | None:
    """For an expression read from the request (`params[:a][:b]`, `request.headers["X"]`,
    `params.require(:u).permit(:e)`), its root (`params`, `request`, `user_params`) and the
    methods applied after it, innermost first (`[]` for indexing); None when the expression is
    not rooted at request data."""
    methods: list[str] = []
    current: Node | None = node
    while current is not None:
        root = _request_root(current)
        if root is not None:
            methods.reverse()
            return root, methods
        if current.type == "element_reference":
            methods.append("[]")
            current = current.child_by_field_name("object") or current.named_children[0]
        elif current.type == "call" and ruby.call_receiver(current) is not None:
            methods.append(ruby.call_method(current))
            current = ruby.call_receiver(current)
        elif current.type == "parenthesized_statements" and current.named_child_count == 1:
            current = current.named_children[0]
        else:
            return None
    return None


def is_request_value(node: Node) -> bool:
    """A value taken from the request as the user sent it: `params[:email]`,
    `params.require(:invite).fetch(:to)`, `request.headers["X-Reply"]` — not something derived
    from it through a record (`params[:user].email` is a method of an object, not user text).
    A variable assigned such a value in the same method counts too."""
    chain = request_chain(assigned_value(node))
    if chain is None:
        return False
    root, methods = chain
    if root == "request":
        return bool(methods)  # request.remote_ip, request.headers[...], request.referer …
    return all(method in PARAMS_ACCESS for method in methods)


def contains_request_value(node: Node) -> bool:
    """The node is request data, or is an interpolated string/array embedding some."""
    if is_request_value(node):
        return True
    return any(contains_request_value(part) for part in parts(node))


def parts(node: Node) -> list[Node]:
    """The elements of an array, or the interpolated expressions of a string; else none."""
    if node.type == "array":
        return list(node.named_children)
    if node.type == "string":
        return [
            child.named_children[0]
            for child in node.named_children
            if child.type == "interpolation" and child.named_child_count == 1
        ]
    return []


def is_interpolated_string(node: Node) -> bool:
    return node.type == "string" and any(c.type == "interpolation" for c in node.named_children)


# -- model relations -----------------------------------------------------------------------


def rooted_at_model(call: Node, app: App) -> bool:
    """A method chain whose receiver at the bottom is a model constant of `app/models`."""
    return app.chain_model(call) is not None


# -- names ---------------------------------------------------------------------------------


def argument_name(node: Node) -> str | None:
    """The name an argument carries: a local or instance variable, a receiver-less method call
    without arguments, or the key of `params[:key]`; None for anything else."""
    if node.type in ("identifier", "instance_variable"):
        return ruby.text(node).lstrip("@")
    if node.type == "call" and ruby.call_receiver(node) is None and not ruby.call_arguments(node):
        return ruby.call_method(node)
    if node.type == "element_reference" and request_chain(node) is not None:
        keys = [c for c in node.named_children[1:]]
        if len(keys) == 1:
            return ruby.string_value(keys[0])
    return None


def name_matches(name: str, words: tuple[str, ...] | list[str]) -> str | None:
    """The word that `name` equals or ends with as `_word` (`reset_token` → `token`), if any."""
    bare = name.lower().rstrip("?!")
    for word in words:
        word = word.lower()
        if bare == word or bare.endswith("_" + word):
            return word
    return None
