"""Enqueues and deliveries a piece of code makes, written there or one project method away.

Used by the transaction rules (JL302, JL303): a transaction block or a save callback that calls
`publish` of the same class — or `order.mark_paid!` of a model the project defines — which
enqueues, enqueues as surely as if the call were written in the block. Methods are followed one
level; a call inside an after-commit block or a lambda, deferred until the commit, or scheduled
at least a minute later does not count (it cannot race the commit). Native enqueues count where
they race the commit (`native_jobs.racing_enqueues`): Resque's always, Delayed Job's only on its
Mongoid backend.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .. import ruby
from ..rails import native_jobs
from ..rails.app import App
from ..rails.jobs import JobKind
from ..rails.mailers import mailer_constant
from ..rails.transactions import (  # the reading `perform_in`/`perform_at` get
    A_MINUTE,
    TRANSACTION_SENSITIVE,
    _scheduled_time,
    _seconds,
    deferred_until_commit,
    delayed_at_least_a_minute,
    in_after_commit_block,
    not_deferred_reason,
)
from ..ruby import Node
from ._records import record_model

# `deliver`/`deliver!` on a mailer message send it now, as `deliver_now` does (Rails < 5 name).
OLD_DELIVERIES = ("deliver", "deliver!")
_SENSITIVE = ruby.calls_query(TRANSACTION_SENSITIVE + OLD_DELIVERIES, with_receiver=True)
_CALLS = ruby.compile_query("[(call) (identifier)] @call")
# Receiver-less names that are Ruby or Rails, never a project method worth following.
_NOT_FOLLOWED = frozenset({"raise", "fail", "puts", "p", "require", "lambda", "proc", "loop"})


# Where an identifier names something rather than calls it: `def name`, parameters, aliases.
_NAMING_PARENTS = frozenset(
    {"method", "singleton_method", "method_parameters", "block_parameters", "lambda_parameters",
     "optional_parameter", "keyword_parameter", "splat_parameter", "hash_splat_parameter",
     "block_parameter", "alias", "undef", "destructured_parameter", "destructured_left_assignment",
     "left_assignment_list", "rest_assignment", "operator_assignment"}
)  # fmt: skip


@dataclass(frozen=True)
class Enqueue:
    """An enqueue or delivery reached from a body: `at` is where the body makes it (the call
    itself, or the call of the method that makes it), `call` the enqueue, `via` the method
    followed (empty when `at` is `call`)."""

    at: Node
    call: Node
    via: str = ""

    @property
    def method(self) -> str:
        """The name the finding's message starts with: the call made in the body."""
        return self.via or ruby.call_method(self.call)

    @property
    def path(self) -> str:
        """`, via `publish_to_api` → `SyncJob.perform_later``, for messages; empty when direct."""
        return f", via `{self.via}` → `{_short(self.call)}`" if self.via else ""


def _short(call: Node) -> str:
    """`SyncJob.perform_later` / `UserMailer.welcome.deliver_later`: the call without arguments."""
    parts = []
    node: Node | None = call
    while node is not None and node.type == "call":
        parts.append(ruby.call_method(node))
        node = ruby.call_receiver(node)
    if node is not None:
        parts.append(ruby.text(node) if node.type in ("constant", "scope_resolution") else "…")
    return ".".join(reversed(parts))


def sensitive_calls(node: Node, app: App) -> Iterator[Node]:
    """Every enqueue or delivery call under `node`: `perform_later`, `perform_async`…,
    `deliver_later`/`deliver_now`, `deliver`/`deliver!` on a mailer message, and the native
    enqueues that do not wait for the commit (`Resque.enqueue`…; Delayed Job's only on its
    Mongoid backend — its ActiveRecord backend writes the job in the transaction)."""
    found = []
    for _, caps in ruby.matches(_SENSITIVE, node):
        call = caps["call"][0]
        if ruby.call_method(call) in OLD_DELIVERIES:
            receiver = ruby.call_receiver(call)
            if receiver is None or mailer_constant(receiver, app.classes) is None:
                continue  # `deliver` of something else (a webhook, a notification object)
        found.append(call)
    found.extend(_native_racing(node, app))
    yield from sorted(found, key=lambda call: call.start_byte)


def _native_racing(node: Node, app: App) -> Iterator[Node]:
    enqueues = native_jobs.racing_enqueues(app)
    if not enqueues:
        return
    root = _root(node)
    for enqueue in enqueues:
        call = enqueue.call
        if enqueue.root != root or not ruby.is_inside(call, node):
            continue  # another file, or elsewhere in this one
        if not _scheduled_natively(enqueue):
            yield call


def _root(node: Node) -> Node:
    root = node
    for root in ruby.ancestors(node):  # the last one is the root
        pass
    return root


def native_enqueue(call: Node, app: App) -> native_jobs.NativeEnqueue | None:
    """The native enqueue a call is, if `sensitive_calls` found it as one."""
    for enqueue in native_jobs.racing_enqueues(app):
        if enqueue.call == call:
            return enqueue
    return None


def call_name(call: Node, app: App) -> str:
    """The name a message gives the call: `perform_later`, `Resque.enqueue`."""
    enqueue = native_enqueue(call, app)
    return native_jobs.enqueue_label(enqueue) if enqueue is not None else ruby.call_method(call)


def why_not_deferred(call: Node, app: App) -> str:
    """Why the call does not wait for the commit, for messages."""
    enqueue = native_enqueue(call, app)
    if enqueue is None:
        return not_deferred_reason(call, app)
    if enqueue.kind is JobKind.RESQUE:
        return "Resque pushes the job to Redis at once"
    return "Delayed Job's Mongoid backend stores the job outside the transaction"


def _scheduled_natively(enqueue: native_jobs.NativeEnqueue) -> bool:
    """`Resque.enqueue_in(5.minutes, …)` / `enqueue_at(…)`: as `perform_in`, the job starts
    long after the commit."""
    method = ruby.call_method(enqueue.call)
    if enqueue.kind is not JobKind.RESQUE or method not in native_jobs.RESQUE_SCHEDULED:
        return False
    arguments = [a for a in ruby.call_arguments(enqueue.call) if a.type != "block_argument"]
    index = native_jobs.RESQUE_SCHEDULED[method]
    if len(arguments) <= index:
        return False
    when = arguments[index]
    if method.startswith("enqueue_at") and _scheduled_time(when):
        return True
    return _seconds(when) >= A_MINUTE


def direct_enqueues(body: Node, app: App) -> Iterator[Node]:
    """Enqueues and deliveries written in `body` that run before the commit."""
    for call in sensitive_calls(body, app):
        if in_after_commit_block(call, body) or deferred_until_commit(call, app):
            continue
        if delayed_at_least_a_minute(call):
            continue
        yield call


def enqueues_in(body: Node, app: App, owner: str | None) -> Iterator[Enqueue]:
    """Enqueues of `body` (`owner`: the class whose code it is), then those one project method
    away: a method of `owner`'s class chain called without a receiver (or on `self`), or a
    method of a model called on a record of it. One `Enqueue` per call site."""
    for call in direct_enqueues(body, app):
        yield Enqueue(call, call)
    seen: set[int] = set()
    for _, caps in ruby.matches(_CALLS, body):
        site = caps["call"][0]
        if site.id in seen or in_after_commit_block(site, body):
            continue
        seen.add(site.id)
        method = _followed_method(site, app, owner)
        if method is None or _calls_itself(site, method):
            continue  # not a project method, or the method calling itself
        for inner in direct_enqueues(method, app):
            yield Enqueue(site, inner, _site_name(site))
            break


def _calls_itself(site: Node, method: Node) -> bool:
    return ruby.enclosing(site, ruby.METHOD_TYPES) == method


def _site_name(site: Node) -> str:
    return ruby.text(site) if site.type == "identifier" else ruby.call_method(site)


def _followed_method(site: Node, app: App, owner: str | None) -> Node | None:
    """The `def` a call site runs, when the project defines it and the site is not itself an
    enqueue."""
    if site.type == "identifier":
        name = ruby.text(site)
        parent = site.parent
        if (
            parent is not None
            and parent.type == "call"
            and site
            in (parent.child_by_field_name("method"), parent.child_by_field_name("receiver"))
        ):
            return None  # part of a call: handled as the call
        if parent is None or parent.type in _NAMING_PARENTS or _is_local(name, site):
            return None
        if parent.type == "assignment" and parent.child_by_field_name("left") == site:
            return None
        target = owner
    elif site.type == "call":
        name = ruby.call_method(site)
        if name in TRANSACTION_SENSITIVE or name in OLD_DELIVERIES:
            return None
        receiver = ruby.call_receiver(site)
        if receiver is None or receiver.type == "self":
            target = owner
        elif receiver.type in ("constant", "scope_resolution"):
            return None  # class methods: not followed
        else:
            target = record_model(receiver, app)
    else:
        return None
    if target is None or name in _NOT_FOLLOWED:
        return None
    definition = app.classes.find_method(target, name)
    if definition is None:
        return None
    return definition.node()


def _is_local(name: str, node: Node) -> bool:
    """A local variable, a method parameter or a block parameter — not a method call."""
    return (
        ruby.last_assignment(name, node) is not None
        or name in ruby.method_parameter_names(node)
        or ruby.block_binding(name, node) is not None
    )


SYNCHRONOUS = frozenset({"deliver_now", "deliver_now!", *OLD_DELIVERIES})
_STATEMENT_LISTS = frozenset({"body_statement", "block_body", "then", "else", "begin"})
_NOT_STATEMENTS = frozenset({"comment", "rescue", "ensure", "block_parameters"})
# a block's value given back after the mail: nothing that can fail
_VALUES = frozenset(
    {
        "identifier", "instance_variable", "self", "true", "false", "nil", "integer", "string",
        "simple_symbol",
    }
)


def sent_last(site: Node, block: Node) -> bool:
    """Is `site` the last thing the transaction's `block` does — nothing after it, at any
    level, that could still fail and roll back? For a mail sent synchronously that rollback is
    the only harm: the mail sees the uncommitted rows on the same connection."""
    node = site
    while node.parent is not None and node.id != block.id:
        parent = node.parent
        if parent.type in _STATEMENT_LISTS:
            statements = [c for c in parent.named_children if c.type not in _NOT_STATEMENTS]
            after = [c for c in statements if c.start_byte > node.end_byte]
            if not all(_plain_value(c) for c in after):
                return False  # more work follows: it can still fail and roll back
        node = parent
    return node.id == block.id


def _plain_value(node: Node) -> bool:
    """A literal, `self`, an instance variable or a local variable — not a method call, which
    a bare identifier may also be."""
    if node.type == "identifier":
        return _is_local(ruby.text(node), node)
    return node.type in _VALUES
