"""Native Delayed Job and Resque jobs: classes that run as jobs without ActiveJob or Sidekiq,
known from how the app enqueues them rather than from their ancestry.

Delayed Job (custom jobs, `handle_asynchronously`, `delay`):
- a custom job is an object passed to `Delayed::Job.enqueue` (or its `payload_object:`):
  `FooJob.new(..)`, `new(..)`/`self.new(..)` in a class method, `self` in an instance method, a
  local variable assigned one of these. Every project class below it is one too (a `BaseJob`
  whose `enqueue!` does `Delayed::Job.enqueue(self)` makes each subclass a job), and a module
  whose method enqueues `self` makes each class including it one. Struct jobs count:
  `FooJob = Struct.new(:id) do … end` and `class FooJob < Struct.new(:id)`.
- `handle_asynchronously :m` makes `C#m` (`C.m` inside `class << self`) a method that runs as a
  job; `x.delay(..).m(..)` enqueues `X#m`, `Klass.delay.m` enqueues `Klass.m`.
- queue: the `queue:` option where it is enqueued, else the payload's `queue_name`, else
  `Delayed::Worker.default_queue_name`, else none. Attempts: the payload's `max_attempts`, else
  `Delayed::Worker.max_attempts`, else 25. Hooks: `reschedule_at`, `error`, `failure`.

Resque:
- a job is a class (or module) passed to `Resque.enqueue(K, ..)`, `enqueue_to(queue, K, ..)`,
  resque-scheduler's `enqueue_in`/`enqueue_at`(`_with_queue`), `Resque::Job.create(queue, K, ..)`,
  named by a resque-scheduler schedule file, or one that sets `@queue = :name` in its body and
  has a class-level `perform` (its own, a superclass's, or a concern's `class_methods`).
- queue: `@queue` or `def self.queue`, else the queue named where it is enqueued. Retries:
  none, unless resque-retry (`extend Resque::Plugins::Retry`/`ExponentialBackoff`,
  `@retry_limit`) or the app requeues its failures.

What the rules read (`JobModel.kind` still classifies by ancestry only; these are known from
how the app enqueues):
- `native_job_at`: is a node the code of a native job — anywhere in a job class that is not a
  model, else only inside the `def` the backend runs (`entry_point`): a custom job's `perform`,
  a Resque job's class-level `perform`, a delayed method. `App.job_kind_at` answers with it.
- `native_enqueues_in`: every enqueue call, with the values it serialises (a custom Delayed
  Job job's constructor arguments only where its YAML keeps them: a Struct's members, or
  parameters `initialize` stores unchanged, and no `encode_with`) and the queue it names.
- `racing_enqueues`: the enqueues that do not wait for the app's transaction (Resque's; Delayed
  Job's only on its Mongoid backend).
- `native_queue_names`: the static queue names written for native jobs, where they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field, replace

from .. import ruby
from ..files import walk_files
from ..patterns import lazy_pattern
from ..ruby import Node
from ..source import SourceFile
from . import retries, yaml_config
from .app import NATIVE_JOB_LOOKUPS, App
from .classes import (
    ClassDef,
    ClassIndex,
    MethodDef,
    _collect_methods,  # the index's own reading of a class body (no public twin yet)
    lexical_names,
    qualified_name,
    scopes_of,
)
from .jobs import JobKind
from .mailers import is_mailer
from .queues import SKIPPED_TOP_DIRS

DJ_RECEIVERS = frozenset(
    {"Delayed::Job", "Delayed::Backend::ActiveRecord::Job", "Delayed::Backend::Mongoid::Job"}
)
CONSTRUCTORS = frozenset({"new", "create", "create!"})
# a record read with one of these (`user = User.find(id)`) is an instance of the chain's model
FINDERS = frozenset(
    {"new", "create", "create!", "find", "find_by", "find_by!", "first", "last", "take"}
)
# Resque enqueue method → (index of the class argument, index of the queue argument or None)
RESQUE_ENQUEUE = {
    "enqueue": (0, None),
    "enqueue_to": (1, 0),
    "enqueue_in": (1, None),
    "enqueue_at": (1, None),
    "enqueue_in_with_queue": (2, 0),
    "enqueue_at_with_queue": (2, 0),
}
RESQUE_JOB_CREATE = (1, 0)  # Resque::Job.create(queue, klass, *args)
# resque-scheduler's delayed enqueues → the index of their delay or time argument
RESQUE_SCHEDULED = {"enqueue_in": 0, "enqueue_at": 0, "enqueue_in_with_queue": 1,
                    "enqueue_at_with_queue": 1}
# resque-retry's plugins and their default `retry_limit` (ExponentialBackoff: one retry per
# delay of its default backoff strategy, which has six)
RESQUE_RETRY_PLUGINS = {"Resque::Plugins::Retry": 1, "Resque::Plugins::ExponentialBackoff": 6}
DJ_DEFAULT_ATTEMPTS = 25
DJ_HOOKS = ("reschedule_at", "error", "failure")
# `x.delay.<m>` read off something else that is called `delay` (a duration, a number)
NOT_DELAYED = frozenset(
    {"to_i", "to_f", "to_s", "to_r", "to_d", "seconds", "minutes", "hours", "days", "in_seconds",
     "inspect", "nil?", "present?", "blank?", "zero?", "positive?", "negative?", "round", "ceil",
     "floor", "from_now", "ago", "since", "until", "presence", "to_json", "call"}
)
RESQUE_SCHEDULE_FILES = (
    "config/resque_schedule.yml", "config/resque-schedule.yml", "config/resque_scheduler.yml",
    "config/resque-scheduler.yml",
)
SHARED_SCHEDULE_FILE = "config/schedule.yml"  # resque-scheduler's when no Sidekiq is locked
CLASS_LEVEL_METHODS = ("perform", "queue", "retry_limit")
RESQUE_NO_RETRY = "none (Resque does not retry)"
CLASS_LEVEL_IVARS = ("@queue", "@retry_limit", "@backoff_strategy")



def _quoted(names: Iterable[str]) -> str:
    return " ".join(f'"{name}"' for name in sorted(names))


# class-level declarations: `def self.perform` (also in `class << self` and a concern's
# `class_methods do`), `@queue = …`, `extend …`, `handle_asynchronously :m` (what
# `class_level_matches` finds without compiling this; kept as its reference)
_CLASS_LEVEL = ruby.compile_query(
    f"""
    (singleton_method object: (self) name: (identifier) @name
      (#any-of? @name {_quoted(CLASS_LEVEL_METHODS)})) @def
    (singleton_class value: (self)
      body: (body_statement (method name: (identifier) @name
        (#any-of? @name {_quoted(CLASS_LEVEL_METHODS)})) @def))
    (call !receiver method: (identifier) @class_methods (#eq? @class_methods "class_methods")
      block: (_ body: (_ (method name: (identifier) @name
        (#any-of? @name {_quoted(CLASS_LEVEL_METHODS)})) @concern_def)))
    (assignment left: (instance_variable) @ivar
      (#any-of? @ivar {_quoted(CLASS_LEVEL_IVARS)}) right: (_) @value) @assign
    (call !receiver method: (identifier) @declaration
      (#any-of? @declaration "extend" "handle_asynchronously") arguments: (argument_list)) @call
    """
)
# `Delayed::Job.enqueue`, `Resque.enqueue*`, `Resque::Job.create`, and `x.delay(..).m` / `delay.m`
# (what `_native_calls` finds without compiling this; kept as its reference)
_CALLS = ruby.compile_query(
    f"""
    (call receiver: [(constant) (scope_resolution)] @receiver method: (identifier) @method
      (#any-of? @method {_quoted({"enqueue", "create", *RESQUE_ENQUEUE})})) @enqueue
    (call receiver: (call method: (identifier) @delay (#eq? @delay "delay")) @proxy
      method: (identifier) @delayed) @delayed_call
    (call receiver: (identifier) @proxy (#eq? @proxy "delay")
      method: (identifier) @delayed) @delayed_call
    """
)
# (what `constant_class_sites` finds without compiling this; kept as its reference)
_CONSTANT_CLASS = ruby.compile_query(
    """
    (assignment left: [(constant) (scope_resolution)] @name
      right: (call receiver: (constant) @base (#any-of? @base "Struct" "Class")
                   method: (identifier) @new (#eq? @new "new")) @value) @assign
    """
)
CALL_WORDS = (b"Delayed::", b"Resque", b"delay")
_ENQUEUE_NAMES = frozenset({"enqueue", "create", *RESQUE_ENQUEUE})


def _native_calls(source: SourceFile) -> list[tuple[Node, Node | None]]:
    """What `_CALLS` matches, without compiling it, in its order (by start, then end):
    (call, None) for an enqueue-named call on a constant, and (call, the proxy) for
    `x.delay(..).m` (the proxy is the `delay` call) and `delay.m` (the `delay` identifier) —
    found from where the names are written."""
    found: dict[tuple[int, int], tuple[Node, Node | None]] = {}
    for name, path in ruby.identifiers_named(source.root, source.data, (*_ENQUEUE_NAMES, "delay")):
        call = path[-1] if path else None
        if call is None or call.type != "call":
            continue
        if ruby.text(name) != "delay":
            receiver = call.child_by_field_name("receiver")
            if (ruby.is_child(call, "method", name) and len(path) - 1 <= ruby.MAX_ASCENT
                    and receiver is not None and receiver.type in ("constant", "scope_resolution")):
                found[(call.start_byte, call.end_byte)] = (call, None)
        elif ruby.is_child(call, "method", name):  # `x.delay(..)`: the call around it, if on it
            outer = path[-2] if len(path) >= 2 else None
            if (outer is not None and outer.type == "call" and len(path) - 2 <= ruby.MAX_ASCENT
                    and ruby.is_child(outer, "receiver", call) and _named_method(outer)):
                found[(outer.start_byte, outer.end_byte)] = (outer, call)
        elif (ruby.is_child(call, "receiver", name) and len(path) - 1 <= ruby.MAX_ASCENT
              and _named_method(call)):  # `delay.m`
            found[(call.start_byte, call.end_byte)] = (call, name)
    return [found[key] for key in sorted(found)]


_STATEMENT_LISTS = ("body_statement", "block_body", "then", "else")


def wrapper_call_sites(source: SourceFile, names: Collection[str]) -> list[tuple[Node, Node]]:
    """The calls of `names` — (call, its method name) — and the bare statements naming one (an
    identifier: no receiver, no arguments, `enqueue!` inside the job) — (identifier, itself) —
    in the order a query for both gives, that of the names (a match ends at its name); found
    from where the names are written, without compiling a query of the names (90 ms on an app
    with many wrappers)."""
    found = []
    for name, path in ruby.identifiers_named(source.root, source.data, names):
        parent = path[-1] if path else None
        if parent is None or len(path) - 1 > ruby.MAX_ASCENT:
            continue
        if parent.type == "call" and ruby.is_child(parent, "method", name):
            found.append((parent, name))
        elif parent.type in _STATEMENT_LISTS:
            found.append((name, name))
    return found


def _named_method(call: Node) -> bool:
    method = call.child_by_field_name("method")
    return method is not None and method.type == "identifier"
CLASS_WORDS = (b"@queue", b"@retry_limit", b"@backoff_strategy", b"def self.", b"class << self",
               b"class_methods", b"handle_asynchronously", b"extend ")


@dataclass(frozen=True)
class NativeJob:
    """A job Delayed Job or Resque runs without ActiveJob, as the app defines and enqueues it."""

    name: str  # the class, or `Class#method` / `Class.method` for a method that runs as a job
    kind: JobKind  # DELAYED_JOB | RESQUE
    path: str
    line: int
    why: str  # what makes it a job: "Delayed::Job.enqueue", "subclass of BaseJob", "@queue"…
    abstract: bool = False
    queues: tuple[str, ...] = ()  # static names: declared, or given where it is enqueued
    dynamic_queue: bool = False  # a queue is computed somewhere
    retry_policy: str = ""  # what a failure leads to, in the app's terms
    hooks: tuple[str, ...] = ()  # the Delayed Job hooks it defines (reschedule_at, error, failure)
    schedules: tuple[str, ...] = ()  # resque-scheduler entries that run it
    enqueue_sites: tuple[Node, ...] = field(default=(), repr=False, compare=False)


@dataclass(frozen=True)
class NativeEnqueue:
    """One call that hands work to Delayed Job or Resque: `Resque.enqueue(K, ..)`,
    `Delayed::Job.enqueue(FooJob.new(..))`, `x.delay.m(..)`, a call of a `handle_asynchronously`
    method or of a job's own enqueueing method (`FooJob.new(..).enqueue!`)."""

    call: Node
    path: str
    kind: JobKind
    job: str | None  # the native job it enqueues, when the project defines it
    # the values serialised as the job's arguments, as far as the call shows them (the
    # arguments of the payload's constructor for a custom Delayed Job job)
    arguments: tuple[Node, ...] = ()
    queue: Node | None = None  # the queue named at the call (`queue:`, `enqueue_to`'s first)
    root: Node | None = field(default=None, repr=False, compare=False)  # its file's tree


@dataclass(frozen=True)
class NativeQueue:
    """A static queue name written for a native job: `@queue = :x`, `def self.queue`, the
    queue of `Resque.enqueue_to`, `queue:` of a Delayed Job enqueue or `handle_asynchronously`,
    a payload's `queue_name`, or `Delayed::Worker.default_queue_name =` when a job falls back
    to it."""

    name: str
    path: str
    start_byte: int
    end_byte: int
    kind: JobKind
    via: str  # "@queue", "queue:", "queue_name", "default_queue_name", …
    owner: str = ""  # the job, for the finding's scope


@dataclass(frozen=True)
class NativeFacts:
    jobs: dict[str, NativeJob]
    enqueues: tuple[NativeEnqueue, ...]
    # (path, start byte) of each `def` that Delayed Job or Resque runs as a job → the job:
    # a custom job's `perform`, a Resque job's class-level `perform`, a delayed method
    entry_points: dict[tuple[str, int], str]
    queues: tuple[NativeQueue, ...] = ()
    performs: dict[str, tuple[str, int]] = field(default_factory=dict)  # job → its entry point


def native_jobs(app: App) -> dict[str, NativeJob]:
    """Every native Delayed Job and Resque job of the app, by name (see the module docstring)."""
    return native_facts(app).jobs


def native_facts(app: App) -> NativeFacts:
    """The native jobs, every call that enqueues one, and the methods that run as one."""
    return app.fact("native_jobs", lambda a: _Builder(a).build())


def may_have_native_jobs(app: App) -> bool:
    """Can the app hold native jobs at all (Delayed Job or Resque locked, the adapter, or
    nothing locked)? Apps on other backends skip the search."""
    return uses_delayed_job(app) or uses_resque(app)


def native_job_at(app: App, source: SourceFile, node: Node) -> NativeJob | None:
    """The native job whose code `node` is: inside a method Delayed Job or Resque runs as the
    job (`NativeFacts.entry_points`), or anywhere in a job class that is not a model. In a model
    that is also a job (`@queue` and a class-level `perform`, a record enqueued as its own
    payload, a `handle_asynchronously` method), only that method runs in the job."""
    if not may_have_native_jobs(app):
        return None
    facts = native_facts(app)
    if not facts.jobs:
        return None
    for ancestor in ruby.ancestors(node):
        if ancestor.type in ruby.METHOD_TYPES:
            name = facts.entry_points.get((source.relpath, ancestor.start_byte))
            if name is not None:
                return facts.jobs[name]
    owner = _context(node).owner
    job = facts.jobs.get(owner) if owner is not None else None
    if job is None or owner in app.model_classes:
        return None
    return job


def entry_point(app: App, source: SourceFile, method: Node) -> NativeJob | None:
    """The native job a `def` is the work of (the `perform` Delayed Job or Resque calls, or a
    delayed method), else None."""
    if not may_have_native_jobs(app):
        return None
    facts = native_facts(app)
    name = facts.entry_points.get((source.relpath, method.start_byte))
    return facts.jobs[name] if name is not None else None


def perform_of(app: App, job: str) -> Node | None:
    """The `def` a native job runs (see `NativeFacts.entry_points`), None when not found."""
    where = native_facts(app).performs.get(job) if may_have_native_jobs(app) else None
    source = app.source(app.root / where[0]) if where is not None and app.root else None
    if where is None or source is None:
        return None
    node = source.root.descendant_for_byte_range(where[1], where[1])
    while node is not None and not (node.type in ruby.METHOD_TYPES and node.start_byte == where[1]):
        node = node.parent
    return node


def native_queue_names(app: App, source: SourceFile) -> list[NativeQueue]:
    """The static queue names written in one file for native jobs."""
    if not may_have_native_jobs(app):
        return []
    return [q for q in native_facts(app).queues if q.path == source.relpath]


# words of a file that may enqueue natively; the file's findings depend on the native facts
# (and so on every file they are built from) only when it holds one
ENQUEUE_WORDS = (b"Resque", b"Delayed::", b"delay", b"enqueue")


def native_enqueues_in(app: App, source: SourceFile) -> list[NativeEnqueue]:
    """The native enqueue calls written in one file that names one of `ENQUEUE_WORDS`: a call
    of a `handle_asynchronously` method in a file without them is left out."""
    if not source.contains_any(ENQUEUE_WORDS) or not may_have_native_jobs(app):
        return []
    return [e for e in native_facts(app).enqueues if e.path == source.relpath]


def racing_enqueues(app: App) -> tuple[NativeEnqueue, ...]:
    """The native enqueues that do not wait for the app's database transaction: Resque pushes
    to Redis at once. Delayed Job's ActiveRecord backend saves the job row through the app's
    own connection, inside the transaction, so the job commits or rolls back with it; only its
    Mongoid backend races the commit."""
    if not may_have_native_jobs(app):
        return ()
    return app.fact("racing_enqueues", _build_racing_enqueues)


def _build_racing_enqueues(app: App) -> tuple[NativeEnqueue, ...]:
    outside = "delayed_job_mongoid" in app.gems and "delayed_job_active_record" not in app.gems
    return tuple(
        e for e in native_facts(app).enqueues
        if e.kind is JobKind.RESQUE or (outside and e.kind is JobKind.DELAYED_JOB)
    )


def enqueue_label(enqueue: NativeEnqueue) -> str:
    """How a message names the call: `Resque.enqueue`, `Delayed::Job.enqueue`, `delay.notify`,
    or the method called (`enqueue!`, a `handle_asynchronously` method)."""
    call = enqueue.call
    method = ruby.call_method(call) if call.type == "call" else ruby.text(call)
    receiver = ruby.call_receiver(call) if call.type == "call" else None
    written = ruby.constant_path(receiver)
    if written in ("Resque", "Resque::Job") or written in DJ_RECEIVERS:
        return f"{written}.{method}"
    if receiver is not None and (ruby.is_call(receiver, "delay") or ruby.text(receiver) == "delay"):
        return f"delay.{method}"
    return method


def uses_delayed_job(app: App) -> bool:
    """`x.delay.m` and `handle_asynchronously` are Delayed Job's: it is locked, it is the adapter,
    or nothing is locked to say otherwise (Sidekiq's old `delay` extension is the other one)."""
    return "delayed_job" in app.gems or app.backend.adapter == "delayed_job" or not app.gems


def uses_resque(app: App) -> bool:
    """`@queue = :name` with a class-level `perform` is a Resque job: Resque is locked, it is the
    adapter, or nothing is locked to say otherwise."""
    return "resque" in app.gems or app.backend.adapter == "resque" or not app.gems


def constant_classes(app: App) -> list[ClassDef]:
    """`FooJob = Struct.new(:id) do … end` and `Foo = Class.new(Base) do … end`: classes that
    are constants rather than `class` definitions, so the class index does not hold them."""
    found: list[ClassDef] = []
    for source in app.model_files:
        if not app.mentions(source, (b"Struct.new", b"Class.new")):
            continue
        try:
            found.extend(_constant_classes(source))
        except ruby.TooDeep:
            continue  # the class index leaves the file out too
    return found


def class_level_matches(source: SourceFile) -> list[dict[str, list[Node]]]:
    """What `_CLASS_LEVEL` matches, as its captures, in its order (that in which a walk of the
    tree reaches each match's last node): found from where the names are written, without
    compiling the query (47 ms a run on Delayed Job and Resque apps)."""
    root, data, limit = source.root, source.data, ruby.MAX_ASCENT
    found: list[tuple[int, dict[str, list[Node]]]] = []
    for name, path in ruby.identifiers_named(root, data, CLASS_LEVEL_METHODS, levels=4):
        parent = path[-1] if path else None
        if parent is None or not ruby.is_child(parent, "name", name):
            continue
        if parent.type == "singleton_method":
            owner = parent.child_by_field_name("object")
            if owner is not None and owner.type == "self" and len(path) - 1 <= limit:
                found.append((name.start_byte, {"def": [parent], "name": [name]}))
        elif parent.type == "method" and len(path) >= 3:
            body, outer = path[-2], path[-3]
            value = outer.child_by_field_name("value")
            if (outer.type == "singleton_class" and body.type == "body_statement" and len(path) - 3 <= limit
                    and value is not None and value.type == "self" and ruby.is_child(outer, "body", body)):
                found.append((name.start_byte, {"def": [parent], "name": [name]}))
            elif len(path) >= 4 and len(path) - 4 <= limit and ruby.is_child(outer, "body", body):
                call = path[-4]
                method = call.child_by_field_name("method") if call.type == "call" else None
                if (method is not None and method.type == "identifier" and ruby.text(method) == "class_methods"
                        and call.child_by_field_name("receiver") is None and ruby.is_child(call, "block", outer)):
                    found.append((name.start_byte, {"class_methods": [method], "name": [name],
                                                    "concern_def": [parent]}))
    for ivar in CLASS_LEVEL_IVARS:
        word = ivar.encode()
        for leaf in ruby.written_at(root, data, word):
            if leaf.type != "instance_variable" or leaf.end_byte != leaf.start_byte + len(word):
                continue
            path = ruby.path_to(root, leaf)
            assign = path[-1] if path else None
            value = assign.child_by_field_name("right") if assign is not None and assign.type == "assignment" else None
            if value is not None and ruby.is_child(assign, "left", leaf) and len(path) - 1 <= limit:  # type: ignore[arg-type]
                found.append((value.start_byte, {"ivar": [leaf], "value": [value], "assign": [assign]}))  # type: ignore[list-item]
    for name, path in ruby.identifiers_named(root, data, ("extend", "handle_asynchronously")):
        call = path[-1] if path else None
        arguments = call.child_by_field_name("arguments") if call is not None and call.type == "call" else None
        if (arguments is not None and arguments.type == "argument_list" and len(path) - 1 <= limit
                and ruby.is_child(call, "method", name) and call.child_by_field_name("receiver") is None):  # type: ignore[union-attr]
            found.append((arguments.start_byte, {"declaration": [name], "call": [call]}))  # type: ignore[list-item]
    found.sort(key=lambda item: item[0])
    return [caps for _, caps in found]


def constant_class_sites(source: SourceFile) -> list[tuple[Node, Node, Node, Node]]:
    """What `_CONSTANT_CLASS` matches, in its order, as (assignment, `Struct.new`/`Class.new`
    call, the constant assigned, `Struct`/`Class`): found from where `new` is written, without
    compiling the query (19 ms a run)."""
    found = []
    for new, path in ruby.identifiers_named(source.root, source.data, ("new",)):
        if len(path) < 2 or len(path) - 2 > ruby.MAX_ASCENT:
            continue
        value, assign = path[-1], path[-2]
        base = value.child_by_field_name("receiver") if value.type == "call" else None
        left = assign.child_by_field_name("left") if assign.type == "assignment" else None
        if (base is not None and base.type == "constant" and ruby.text(base) in ("Struct", "Class")
                and ruby.is_child(value, "method", new) and ruby.is_child(assign, "right", value)
                and left is not None and left.type in ("constant", "scope_resolution")):
            found.append((assign, value, left, base))
    return found


def _constant_classes(source: SourceFile) -> Iterator[ClassDef]:
    for assign, value, name_node, base in constant_class_sites(source):
        prefix = _namespace(assign)
        superclass = None
        if ruby.text(base) == "Class":
            args = ruby.call_arguments(value)
            superclass = ruby.constant_path(args[0]) if args else None
        definition = ClassDef(
            name="::".join([*prefix, ruby.constant_path(name_node) or ruby.text(name_node)]),
            is_module=False,
            path=source.relpath,
            line=ruby.line(assign),
            name_start=name_node.start_byte,
            name_end=name_node.end_byte,
            lexical_scope=scopes_of(prefix),
            superclass=superclass,
        )
        block = ruby.call_block(value)
        if block is not None:
            # the class index's own reading of a class body, so methods mean the same everywhere
            _collect_methods(block.child_by_field_name("body"), source, definition)
        yield definition


def _namespace(node: Node) -> list[str]:
    """The names of the classes/modules around a node, outermost first."""
    scope = ruby.enclosing(node, {"class", "module"})
    return lexical_names(scope) if scope is not None else []


def _constant_class_name(call: Node) -> str | None:
    """The constant a `Struct.new`/`Class.new` call is assigned to, qualified; else None."""
    assign = call.parent
    base = ruby.constant_path(ruby.call_receiver(call))
    if ruby.call_method(call) != "new" or base not in ("Struct", "Class"):
        return None
    if assign is None or assign.type != "assignment":
        return None
    written = ruby.constant_path(assign.child_by_field_name("left"))
    return None if written is None else "::".join([*_namespace(assign), written])


@dataclass(frozen=True)
class _Context:
    """Where a node is: the class (or module, or Struct constant) around it and the method."""

    owner: str | None
    method: str | None  # the innermost `def`
    self_is_class: bool  # class body, `def self.x`, `class << self`, `class_methods do`
    class_methods_scope: bool  # inside `class << self` or a concern's `class_methods do … end`
    concern: bool  # inside `class_methods do … end`: `self` is each class that includes it


def _context(node: Node) -> _Context:
    method = None
    singleton_def = scope = concern = False
    owner = None
    for ancestor in ruby.ancestors(node):
        kind = ancestor.type
        if kind in ruby.METHOD_TYPES and method is None:
            method = ruby.method_name(ancestor)
            singleton_def = kind == "singleton_method"
        elif kind == "singleton_class":
            scope = True
        elif kind in ruby.BLOCK_TYPES and ruby.is_call(ancestor.parent):
            call = ancestor.parent
            if ruby.call_method(call) == "class_methods" and ruby.call_receiver(call) is None:
                scope = concern = True
            elif (owner := _constant_class_name(call)) is not None:
                break
        elif kind in ("class", "module"):
            owner = qualified_name(ancestor)
            break
    return _Context(owner, method, method is None or singleton_def or scope, scope, concern)


def _is_self_class(node: Node | None) -> bool:
    """`self.class`."""
    return (node is not None and node.type == "call" and ruby.call_method(node) == "class"
            and (ruby.call_receiver(node) or node).type == "self")


def _literal(node: Node | None) -> tuple[str | None, bool]:
    """(the name, dynamic) of a queue value: a string or symbol literal, or something computed."""
    if node is None:
        return None, False
    value = ruby.string_value(node)
    return (value, False) if value else (None, True)


def _pairs(node: Node) -> dict[str, Node]:
    """`key: value` pairs of a call's arguments, or of a braced hash passed as one."""
    if node.type == "hash":
        pairs = {}
        for pair in node.named_children:
            key = ruby.pair_key(pair) if pair.type == "pair" else None
            value = pair.child_by_field_name("value") if pair.type == "pair" else None
            if key is not None and value is not None:
                pairs[key] = value
        return pairs
    return ruby.keyword_arguments(node)


def _constructor_arguments(payload: Node) -> list[Node]:
    """The arguments of the object a Delayed Job enqueue passes, when it is built there
    (`FooJob.new(a, b)`) or in a local assigned just before: they are what the YAML holds."""
    if payload.type in ("identifier", "instance_variable"):
        payload = ruby.last_assignment(ruby.text(payload), payload) or payload
    if payload.type == "call" and ruby.call_method(payload) in CONSTRUCTORS:
        return [a for a in ruby.call_arguments(payload) if a.type != "block_argument"]
    return []


def _positional(call: Node) -> list[Node]:
    return [a for a in ruby.call_arguments(call)
            if a.type not in ("pair", "block_argument", "hash_splat_argument")]


def _returned_literal(method: Node | None) -> str | None:
    """The literal a one-expression method returns (`def max_attempts; 3; end` → "3")."""
    body = _returned_node(method)
    if body is None:
        return None
    if body.type == "integer":
        return ruby.text(body)
    return ruby.string_value(body)


def _returned_node(method: Node | None) -> Node | None:
    """The one expression a one-expression method returns (`def queue; :low; end` → `:low`)."""
    body = method.child_by_field_name("body") if method is not None else None
    if body is not None and body.type in ("body_statement", "block_body"):
        statements = [c for c in body.named_children if c.type != "comment"]
        body = statements[0] if len(statements) == 1 else None
    return body


def _trivial(method: Node | None) -> bool:
    """A `def` with nothing in it, or one that raises `NotImplementedError`: abstract."""
    if method is None:
        return True
    body = method.child_by_field_name("body")
    if body is None or not [c for c in body.named_children if c.type != "comment"]:
        return True
    return b"NotImplementedError" in (body.text or b"")


@dataclass(frozen=True)
class _Found:
    """A node of one of the read files, with where it is."""

    node: Node
    path: str
    line: int

    @classmethod
    def at(cls, node: Node, source: SourceFile) -> _Found:
        return cls(node, source.relpath, ruby.line(node))


def _found_method(method: MethodDef | None) -> _Found | None:
    node = method.node() if method is not None else None
    return None if method is None or node is None else _Found(node, method.path, method.line)


@dataclass
class _ClassLevel:
    """What a class, module or Struct constant declares for itself rather than its instances."""

    methods: dict[str, _Found] = field(default_factory=dict)  # `def self.perform`, `class << self`
    concern_methods: dict[str, _Found] = field(default_factory=dict)  # `class_methods do def perform`
    ivars: dict[str, _Found] = field(default_factory=dict)  # `@queue = :low` → `:low`
    extends: list[str] = field(default_factory=list)
    # `handle_asynchronously :m` calls, and whether `m` is a class method (`class << self`)
    async_calls: list[tuple[_Found, bool]] = field(default_factory=list)


class _ClassLevels:
    """The class-level declarations (`_ClassLevel`) of each class, module or Struct constant,
    read from the files that define it when it is first asked about, in the model files' order:
    the declarations of most classes are never needed, and their files need not be parsed.
    `declaring(word)` gives the classes with a declaration in a file holding `word`, in the
    order a sweep through every model file would first meet each."""

    def __init__(self, builder: _Builder):
        self.builder = builder
        self.order: dict[str, int] = {}  # relpath → position among the model files
        self.sources: dict[str, SourceFile] = {}
        for position, source in enumerate(builder.app.model_files):
            self.order.setdefault(source.relpath, position)
            self.sources.setdefault(source.relpath, source)
        self.parts: dict[str, list[tuple[str, str, str, object]]] = {}
        self.known: dict[str, _ClassLevel | None] = {}
        self._declaring: dict[bytes, list[tuple[str, _ClassLevel]]] = {}  # asked once per word

    def _parts(self, relpath: str) -> list[tuple[str, str, str, object]]:
        found = self.parts.get(relpath)
        if found is None:
            source = self.sources[relpath]
            found = self.parts[relpath] = (
                self.builder._class_level_parts(source)
                if self.builder.app.mentions(source, CLASS_WORDS) else []
            )
        return found

    def _files(self, owner: str) -> list[str]:
        """The model files defining `owner` (a declaration's owner is a class of its file)."""
        paths = {d.path for d in self.builder.index.definitions.get(owner, ()) if d.path in self.order}
        return sorted(paths, key=self.order.__getitem__)

    def get(self, owner: str, default: _ClassLevel | None = None) -> _ClassLevel | None:
        if owner not in self.known:
            self.known[owner] = self._assemble(owner)
        found = self.known[owner]
        return default if found is None else found

    def _assemble(self, owner: str) -> _ClassLevel | None:
        facts = None
        for relpath in self._files(owner):
            for record_owner, kind, name, what in self._parts(relpath):
                if record_owner != owner:
                    continue
                facts = facts or _ClassLevel()
                if kind == "concern_def":
                    facts.concern_methods[name] = what  # type: ignore[assignment]
                elif kind == "def":
                    facts.methods[name] = what  # type: ignore[assignment]
                elif kind == "ivar":
                    facts.ivars[name] = what  # type: ignore[assignment]
                elif kind == "extend":
                    facts.extends.extend(what)  # type: ignore[arg-type]
                elif kind == "async":
                    facts.async_calls.append(what)  # type: ignore[arg-type]
        return facts

    def declaring(self, word: bytes) -> list[tuple[str, _ClassLevel]]:
        if word not in self._declaring:
            self._declaring[word] = self._declaring_now(word)
        return self._declaring[word]

    def _declaring_now(self, word: bytes) -> list[tuple[str, _ClassLevel]]:
        owners: set[str] = set()
        for relpath, source in self.sources.items():
            if self.builder.app.mentions(source, (word,)):
                owners.update(record[0] for record in self._parts(relpath))
        first: list[tuple[tuple[int, int], str]] = []
        for owner in owners:
            met = min(((self.order[p], i) for p in self._files(owner)
                       for i, record in enumerate(self._parts(p)) if record[0] == owner), default=None)
            if met is not None:
                first.append((met, owner))
        return [(owner, facts) for _, owner in sorted(first)
                if (facts := self.get(owner)) is not None]


@dataclass(frozen=True)
class _Site:
    """One enqueue of a native job, and the queue it names there."""

    call: Node
    queue: str | None
    dynamic_queue: bool


@dataclass(frozen=True)
class _Wrapper:
    """A method of a Delayed Job class that enqueues the job itself: `def enqueue!;
    Delayed::Job.enqueue(self)` (instance), `def self.create(..); Delayed::Job.enqueue(new(..))`."""

    owner: str
    method: str
    class_method: bool
    queue: str | None
    dynamic_queue: bool


class _Builder:
    """Reads the app once: constant classes, class-level declarations, enqueue calls."""

    def __init__(self, app: App):
        self.app = app
        self.delayed_job = uses_delayed_job(app)
        self.resque = uses_resque(app)
        definitions = [d for defs in app.classes.definitions.values() for d in defs]
        self.index = ClassIndex([*definitions, *constant_classes(app)])
        self.class_level = _ClassLevels(self)
        self.dj_roots: dict[str, list[_Site]] = {}  # class whose instances are enqueued → sites
        self.wrappers: list[tuple[_Wrapper, Node]] = []  # and the enqueue inside each
        self.wrapper_sites: dict[str, list[_Site]] = {}  # job → calls of its wrappers
        self.delayed: dict[str, list[_Site]] = {}  # `C#m` / `C.m` → its `delay` calls
        self.async_sites: dict[str, list[_Site]] = {}  # `C.m` (handle_asynchronously) → its calls
        self.resque_roots: dict[str, list[_Site]] = {}
        self.resque_includers: set[str] = set()  # concerns whose `class_methods` enqueue `self`
        self.enqueues: list[NativeEnqueue] = []
        self._definers: dict[str, list[str]] | None = None
        self._code: list[SourceFile] | None = None
        self.max_attempts = retries.delayed_job_max_attempts(app)
        self.default_queue = retries.delayed_job_default_queue(app)

    def build(self) -> NativeFacts:
        for source in self._code_files(CALL_WORDS):
            self._guarded(self._read_calls, source)
        self._read_wrapper_calls()
        jobs = dict(self._delayed_job_jobs())
        jobs.update(self._delayed_methods())
        jobs.update(self._resque_jobs())
        jobs = dict(sorted(jobs.items()))
        enqueues = tuple(
            e if e.job is None or e.job in jobs else replace(e, job=None) for e in self.enqueues
        )
        performs = {
            name: (found.path, found.node.start_byte)
            for name, job in jobs.items()
            if (found := self._entry_def(job)) is not None
        }
        entry_points: dict[tuple[str, int], str] = {}
        for name, where in performs.items():
            if not jobs[name].abstract:
                entry_points.setdefault(where, name)
        return NativeFacts(jobs, enqueues, entry_points, self._queue_literals(jobs), performs)

    # -- reading ---------------------------------------------------------------------------

    @staticmethod
    def _guarded(read: Callable[[SourceFile], None], source: SourceFile) -> None:
        try:
            read(source)
        except ruby.TooDeep:
            pass  # code nested that deep is analysed nowhere

    def _code_files(self, words: tuple[bytes, ...]) -> Iterator[SourceFile]:
        """The app's Ruby and rake files holding one of `words` (tests, migrations and vendored
        code left out, as for the other enqueue calls), or the indexed files without a root."""
        if self._code is None:
            if self.app.root is None:
                self._code = list(self.app.model_files)
            else:
                paths = walk_files(self.app.root, self.app.root, _code_path, skip=SKIPPED_TOP_DIRS)
                self._code = [s for s in map(self.app.source, paths) if s is not None]
        return (s for s in self._code if self.app.mentions(s, words))

    def _class_level_parts(self, source: SourceFile) -> list[tuple[str, str, str, object]]:
        """One file's class-level declarations, in match order, as (owner, kind, name, what):
        kind "" marks a declaration that declares nothing (`@queue =` inside a method) but still
        makes its owner known where a sweep meets it. A file nested too deep to analyse gives
        what was read before the limit."""
        parts: list[tuple[str, str, str, object]] = []
        try:
            for caps in class_level_matches(source):
                anchor = next(caps[c][0] for c in ("def", "concern_def", "assign", "call") if c in caps)
                context = _context(anchor)
                owner = context.owner
                if owner is None:
                    continue
                if "concern_def" in caps:
                    parts.append((owner, "concern_def", ruby.text(caps["name"][0]), _Found.at(anchor, source)))
                elif "def" in caps:
                    parts.append((owner, "def", ruby.text(caps["name"][0]), _Found.at(anchor, source)))
                elif context.method is not None:
                    parts.append((owner, "", "", None))  # `@queue =` or `extend` inside a method
                elif "assign" in caps:
                    parts.append((owner, "ivar", ruby.text(caps["ivar"][0]), _Found.at(caps["value"][0], source)))
                elif ruby.text(caps["declaration"][0]) == "extend":
                    scope = self.app.lexical_scope(anchor)
                    written = (ruby.constant_path(a) for a in ruby.call_arguments(anchor))
                    resolved = [self.index.resolve(w, scope) for w in written if w is not None]
                    parts.append((owner, "extend", "", resolved))
                elif self.delayed_job:
                    parts.append((owner, "async", "", (_Found.at(anchor, source), context.class_methods_scope)))
                else:
                    parts.append((owner, "", "", None))
        except ruby.TooDeep:
            pass  # code nested that deep is analysed nowhere
        return parts

    def _read_calls(self, source: SourceFile) -> None:
        for call, proxy in _native_calls(source):
            if proxy is not None:
                if self.delayed_job:
                    method = ruby.call_method(call)
                    self._read_delay(call, proxy, method, source)
                continue
            receiver = ruby.constant_path(call.child_by_field_name("receiver"))
            method = ruby.call_method(call)
            if receiver in DJ_RECEIVERS and method == "enqueue":
                self._read_dj_enqueue(call, source)
            elif receiver == "Resque" and method in RESQUE_ENQUEUE:
                self._read_resque_enqueue(call, source, *RESQUE_ENQUEUE[method])
            elif receiver == "Resque::Job" and method == "create":
                self._read_resque_enqueue(call, source, *RESQUE_JOB_CREATE)

    def _stored_arguments(self, job: str | None, arguments: list[Node]) -> list[Node]:
        """The constructor arguments a custom job's YAML keeps: a Struct's members, or the
        parameters `initialize` assigns unchanged to an instance variable (`@user = user`, not
        `@user_id = user.id`) — none when the class writes its own YAML (`encode_with`)."""
        if job is None or not arguments or self.index.find_method(job, "encode_with"):
            return []
        initialize = self.index.find_method(job, "initialize")
        node = initialize.node() if initialize is not None else None
        if node is None:
            return arguments if self._is_struct(job) else []
        parameters = node.child_by_field_name("parameters")
        names = [
            ruby.text(p) if p.type == "identifier" else ruby.text(p.child_by_field_name("name"))
            for p in (parameters.named_children if parameters is not None else [])
            if p.type in ("identifier", "optional_parameter")
        ]
        kept = {
            ruby.text(a.child_by_field_name("right"))
            for a in ruby.descendants(node, {"assignment"})
            if (a.child_by_field_name("left") or a).type == "instance_variable"
            and (a.child_by_field_name("right") or a).type == "identifier"
        }
        positional = [a for a in arguments if a.type not in ("pair", "splat_argument")]
        return [a for a, name in zip(positional, names) if name in kept]

    def _is_struct(self, name: str) -> bool:
        """`class FooJob < Struct.new(:id)` or `FooJob = Struct.new(:id)`, or a subclass."""
        for owner in self.index.lineage(name):
            for definition in self.index.definitions.get(owner, ()):
                source = self.app.source(self.app.root / definition.path) if self.app.root else None
                if source is not None and "Struct.new" in source.line_text(definition.line):
                    return True
        return False

    def _resolve(self, written: str | None, node: Node) -> str | None:
        """A constant as written at `node` → the project class it names, or None."""
        if written is None:
            return None
        name = self.index.resolve(written, self.app.lexical_scope(node))
        return name if name in self.index else None

    def _record(self, call: Node, source: SourceFile, kind: JobKind, job: str | None,
                arguments: Iterable[Node] = (), queue: Node | None = None) -> None:
        self.enqueues.append(
            NativeEnqueue(call, source.relpath, kind, job, tuple(arguments), queue, source.root)
        )

    def _read_dj_enqueue(self, call: Node, source: SourceFile) -> None:
        positional = _positional(call)
        options = ruby.keyword_arguments(call)
        if len(positional) > 1 and positional[1].type == "hash":
            options = {**_pairs(positional[1]), **options}  # `enqueue(job, {queue: "x"})`
        payload = positional[0] if positional else options.get("payload_object")
        if payload is None:
            return
        context = _context(call)
        target = self._payload(payload, context)
        name = target[0] if target is not None else None
        self._record(call, source, JobKind.DELAYED_JOB, name,
                     self._stored_arguments(name, _constructor_arguments(payload)),
                     options.get("queue"))
        if target is None:
            return
        name, itself = target
        queue, dynamic = _literal(options.get("queue"))
        if itself and context.method is not None:  # a method that enqueues its own class's job
            wrapper = _Wrapper(name, context.method, context.self_is_class, queue, dynamic)
            self.wrappers.append((wrapper, call))
            self.dj_roots.setdefault(name, [])
        else:
            self.dj_roots.setdefault(name, []).append(_Site(call, queue, dynamic))

    def _payload(
        self, expression: Node, context: _Context, depth: int = 0
    ) -> tuple[str, bool] | None:
        """The class of the object an enqueue passes, and whether it is the enclosing class's
        own (`self`, `new(..)` in a class method); None when it cannot be known."""
        if expression.type == "self":
            return (context.owner, True) if context.owner else None
        if expression.type == "call" and ruby.call_method(expression) in CONSTRUCTORS:
            receiver = ruby.call_receiver(expression)
            if receiver is None or receiver.type == "self":
                return (context.owner, True) if context.owner and context.self_is_class else None
            if _is_self_class(receiver):
                return (context.owner, False) if context.owner else None
            name = self._resolve(ruby.constant_path(receiver), expression)
            return (name, False) if name else None
        if expression.type in ("identifier", "instance_variable") and depth == 0:
            value = ruby.last_assignment(ruby.text(expression), expression)
            return None if value is None else self._payload(value, context, depth + 1)
        return None

    def _read_resque_enqueue(
        self, call: Node, source: SourceFile, class_index: int, queue_index: int | None
    ) -> None:
        positional = _positional(call)
        if len(positional) <= class_index:
            return
        klass = positional[class_index]
        context = _context(call)
        if (klass.type == "self" and context.self_is_class) or _is_self_class(klass):
            name = context.owner
            if name is not None and context.concern:
                self.resque_includers.add(name)
        else:
            name = self._resolve(ruby.constant_path(klass), klass)
        arguments = [a for a in ruby.call_arguments(call) if a.type != "block_argument"]
        after = arguments.index(klass) + 1
        self._record(call, source, JobKind.RESQUE, name, arguments[after:],
                     None if queue_index is None else positional[queue_index])
        if name is None:
            return  # a class the project does not define, or one computed at run time
        queue, dynamic = (None, False) if queue_index is None else _literal(positional[queue_index])
        self.resque_roots.setdefault(name, []).append(_Site(call, queue, dynamic))

    def _read_delay(self, call: Node, proxy: Node, method: str, source: SourceFile) -> None:
        if method in NOT_DELAYED:
            return
        options: dict[str, Node] = {}
        receiver = None
        if proxy.type == "call":
            arguments = ruby.call_arguments(proxy)
            if any(a.type not in ("pair", "hash") for a in arguments):
                return  # `delay(5)`: not Delayed Job's `delay(options)`
            for arg in arguments:
                if arg.type == "hash":
                    options.update(_pairs(arg))
            options.update(ruby.keyword_arguments(proxy))
            receiver = ruby.call_receiver(proxy)
        elif ruby.last_assignment("delay", call) or "delay" in ruby.method_parameter_names(call):
            return  # a local variable called `delay`
        target = self._delay_target(receiver, method, _context(call), call)
        arguments = [a for a in ruby.call_arguments(call) if a.type != "block_argument"]
        self._record(call, source, JobKind.DELAYED_JOB, target, arguments, options.get("queue"))
        if target is not None:
            queue, dynamic = _literal(options.get("queue"))
            self.delayed.setdefault(target, []).append(_Site(call, queue, dynamic))

    def _delay_target(
        self, receiver: Node | None, method: str, context: _Context, call: Node
    ) -> str | None:
        """`C#m` (an instance of C) or `C.m` (the class) that `<receiver>.delay.m` runs later."""
        if receiver is None or receiver.type == "self":
            if context.owner is None:
                return None
            return f"{context.owner}{'.' if context.self_is_class else '#'}{method}"
        if _is_self_class(receiver):
            return f"{context.owner}.{method}" if context.owner else None
        written = ruby.constant_path(receiver)
        if written is not None:
            name = self._resolve(written, receiver)
            return f"{name}.{method}" if name else None
        instance = self._instance_class(receiver, call)
        if instance is not None:
            return f"{instance}#{method}"
        definer = self._only_definer(method)
        return f"{definer}#{method}" if definer else None

    def _instance_class(self, receiver: Node, call: Node) -> str | None:
        """The class of the record a variable holds: named after a model (`user`, `@order`),
        or assigned a finder's result in the method (`invoice = Invoice.find(id)`)."""
        if receiver.type not in ("identifier", "instance_variable"):
            return None
        model = self.app.model_names.get(ruby.text(receiver).lstrip("@"))
        if model is not None:
            return model
        value = ruby.last_assignment(ruby.text(receiver), call)
        if value is not None and value.type == "call" and _finds_one(ruby.call_method(value)):
            return self._resolve(ruby.constant_path(ruby.chain_root(value)), value)
        return None

    def _only_definer(self, method: str) -> str | None:
        """The one project class that defines instance method `method`, if only one does."""
        if self._definers is None:
            table: dict[str, list[str]] = {}
            for name, defs in self.index.definitions.items():
                if not all(d.is_module for d in defs):
                    for defined in {m for d in defs for m in d.methods}:
                        table.setdefault(defined, []).append(name)
            self._definers = table
        owners = self._definers.get(method, [])
        return owners[0] if len(owners) == 1 else None

    def _read_wrapper_calls(self) -> None:
        """Calls of the methods that enqueue a job (`FooJob.new(..).enqueue!`, `FooJob.create(..)`,
        `enqueue!` inside the job) and of methods run by `handle_asynchronously`, each counted
        as an enqueue of the job it runs."""
        # (method, called on the class?) → [(the class defining it, the wrapper or the row)]
        targets: dict[tuple[str, bool], list[tuple[str, _Wrapper | str]]] = {}
        for wrapper, _ in self.wrappers:
            key = (wrapper.method, wrapper.class_method)
            targets.setdefault(key, []).append((wrapper.owner, wrapper))
        for owner, facts in self.class_level.declaring(b"handle_asynchronously"):
            for found, class_method in facts.async_calls:
                method = _async_method(found.node)
                if method:
                    row = f"{owner}{'.' if class_method else '#'}{method}"
                    targets.setdefault((method, class_method), []).append((owner, row))
        names = sorted({method for method, _ in targets})
        if not names:
            return
        for source in self._code_files(tuple(n.encode() for n in names)):
            try:
                for call, name in wrapper_call_sites(source, names):
                    called = self._called_on(ruby.call_receiver(call), call)
                    if called is not None:
                        self._count_call(call, ruby.text(name), *called, targets, source)
            except ruby.TooDeep:
                continue

    def _called_on(self, receiver: Node | None, call: Node) -> tuple[str, bool] | None:
        """The project class a call is made on and whether on the class itself (True) or on an
        instance of it: `Foo.x`, `Foo.new(..).x`, `self.class.x`, `self.x`, `x`, `new.x`."""
        if receiver is not None and receiver.type == "call" and ruby.call_method(receiver) == "new":
            inner = ruby.call_receiver(receiver)
            if inner is not None and not _is_self_class(inner) and inner.type != "self":
                name = self._resolve(ruby.constant_path(inner), inner)
                return (name, False) if name else None
            receiver = None if inner is None or inner.type == "self" else inner  # `new(..).x`
            context = _context(call)
            on_class = receiver is None and context.self_is_class or _is_self_class(receiver)
            return (context.owner, False) if context.owner and on_class else None
        if receiver is not None and receiver.type == "identifier" and ruby.text(receiver) == "new":
            context = _context(call)
            return (context.owner, False) if context.owner and context.self_is_class else None
        if receiver is None or receiver.type == "self":
            context = _context(call)
            return (context.owner, context.self_is_class) if context.owner else None
        if _is_self_class(receiver):
            context = _context(call)
            return (context.owner, True) if context.owner else None
        instance = self._instance_class(receiver, call)
        if instance is not None:
            return instance, False
        name = self._resolve(ruby.constant_path(receiver), receiver)
        return (name, True) if name else None

    def _count_call(self, call: Node, method: str, klass: str, on_class: bool,
                    targets: dict[tuple[str, bool], list[tuple[str, _Wrapper | str]]],
                    source: SourceFile) -> None:
        lineage = {klass, *self.index.ancestors(klass)}
        for owner, target in targets.get((method, on_class), []):
            if owner not in lineage:
                continue
            if isinstance(target, _Wrapper):
                site = _Site(call, target.queue, target.dynamic_queue)
                self.wrapper_sites.setdefault(klass, []).append(site)
                receiver = ruby.call_receiver(call) if call.type == "call" else None
                arguments = _constructor_arguments(receiver) if receiver is not None else []
                self._record(call, source, JobKind.DELAYED_JOB, klass,
                             self._stored_arguments(klass, arguments))
            else:
                self.async_sites.setdefault(target, []).append(_Site(call, None, False))
                arguments = ruby.call_arguments(call) if call.type == "call" else []
                self._record(call, source, JobKind.DELAYED_JOB, target,
                             [a for a in arguments if a.type != "block_argument"])
            return

    # -- queue names ------------------------------------------------------------------------

    def _queue_literals(self, jobs: dict[str, NativeJob]) -> tuple[NativeQueue, ...]:
        found: list[NativeQueue] = []

        def add(node: Node | None, path: str, kind: JobKind, via: str, owner: str) -> None:
            name = ruby.string_value(node) if node is not None else None
            if node is not None and name:
                found.append(NativeQueue(name, path, node.start_byte, node.end_byte, kind, via,
                                         owner))

        for enqueue in self.enqueues:
            add(enqueue.queue, enqueue.path, enqueue.kind, "queue", enqueue.job or "")
        falls_back = False
        for name, job in jobs.items():
            if job.abstract:
                continue
            if job.kind is JobKind.RESQUE:
                queue = self.class_level.get(name, _ClassLevel()).ivars.get("@queue")
                if queue is not None:
                    add(queue.node, queue.path, job.kind, "@queue", name)
                elif (method := self._class_method(name, "queue")) is not None:
                    add(_returned_node(method.node), method.path, job.kind, "queue", name)
                continue
            payload = None if "." in job.name else job.name.partition("#")[0]
            defined = self.index.find_method(payload, "queue_name") if payload else None
            if defined is not None:
                add(_returned_node(defined.node()), defined.path, job.kind, "queue_name", name)
            elif not job.dynamic_queue and self._named_nowhere(job):
                falls_back = True
        for owner, facts in self.class_level.declaring(b"handle_asynchronously"):
            for declared, _ in facts.async_calls:
                add(ruby.keyword_arguments(declared.node).get("queue"), declared.path,
                    JobKind.DELAYED_JOB, "handle_asynchronously", owner)
        if falls_back and self.default_queue is not None:
            found.extend(self._default_queue_literal())
        return tuple(found)

    def _named_nowhere(self, job: NativeJob) -> bool:
        """Some enqueue of a Delayed Job job (or the lack of one) names no queue: the job runs
        on `Delayed::Worker.default_queue_name`."""
        sites = [e for e in self.enqueues if e.job == job.name]
        return not sites or any(e.queue is None for e in sites)

    def _default_queue_literal(self) -> Iterator[NativeQueue]:
        """`Delayed::Worker.default_queue_name = "x"`, where the app's config sets it."""
        assert self.default_queue is not None
        relpath, written = self.default_queue
        source = self.app.source(self.app.root / relpath) if self.app.root else None
        name = _QUEUE_LITERAL.fullmatch(written.rstrip(";"))
        if source is None or name is None:
            return
        text = next(g for g in name.groups() if g)
        for match in re.finditer(rb"Delayed::Worker\.default_queue_name\s*=\s*(\S+)", source.data):
            if match.group(1).decode(errors="replace") == written:
                start, end = match.span(1)
                yield NativeQueue(text, relpath, start, end, JobKind.DELAYED_JOB,
                                  "default_queue_name")

    # -- entry points ----------------------------------------------------------------------

    def _entry_def(self, job: NativeJob) -> _Found | None:
        """The `def` the backend calls: a Resque job's class-level `perform`, a custom Delayed
        Job job's `perform`, the method a `handle_asynchronously`/`delay` row runs (not a
        mailer action: Delayed Job delivers what it builds)."""
        if job.kind is JobKind.RESQUE:
            return self._class_method(job.name, "perform")
        if "#" in job.name:
            owner, _, method = job.name.rpartition("#")
        elif "." in job.name:
            owner, _, method = job.name.rpartition(".")
            if is_mailer(self.app.classes, owner):
                return None
            return self._singleton_def(owner, method)
        else:
            owner, method = job.name, "perform"
        return _found_method(self.index.find_method(owner, method))

    def _singleton_def(self, owner: str, method: str) -> _Found | None:
        """`def self.<method>` (or `def <method>` in `class << self`) in the class's own body."""
        for definition in self.index.definitions.get(owner, ()):
            source = self.app.source(self.app.root / definition.path) if self.app.root else None
            if source is None:
                continue
            name = source.root.descendant_for_byte_range(definition.name_start, definition.name_end)
            scope = ruby.enclosing(name, {"class", "module"}) if name is not None else None
            if scope is None:
                continue
            for node in ruby.descendants(scope, ruby.METHOD_TYPES):
                if ruby.method_name(node) != method or _context(node).owner != owner:
                    continue
                if node.type == "singleton_method" or ruby.enclosing(node, {"singleton_class"}):
                    return _Found.at(node, source)
        return None

    # -- Delayed Job ---------------------------------------------------------------------------

    def _is_module(self, name: str) -> bool:
        defs = self.index.definitions.get(name, [])
        return bool(defs) and all(d.is_module for d in defs)

    def _other_kind(self, name: str) -> bool:
        """An ActiveJob or Sidekiq job: not a native job, whatever enqueues it."""
        return name in self.app.classes and self.app.jobs.kind(name) is not None

    def _below(self, root: str) -> Iterator[str]:
        """The classes that inherit from or include `root`."""
        for name in self.index.names():
            if root in self.index.ancestors(name) and not self._is_module(name):
                yield name

    def _delayed_job_jobs(self) -> Iterator[tuple[str, NativeJob]]:
        members: dict[str, str] = {}  # job → why it is one
        for root in sorted(self.dj_roots):
            if self._other_kind(root):
                continue
            if not self._is_module(root):
                members[root] = "Delayed::Job.enqueue"
        for root in sorted(self.dj_roots):
            relation = "includes" if self._is_module(root) else "subclass of"
            for name in self._below(root):
                members.setdefault(name, f"{relation} {root}")
        for name, why in sorted(members.items()):
            definition = self.index.first_definition(name)
            if definition is None or self._other_kind(name):
                continue
            sites = self.dj_roots.get(name, []) + self.wrapper_sites.get(name, [])
            queues, dynamic = self._queues(sites + self._wrapped(name), self._queue_name(name))
            yield name, NativeJob(
                name=name,
                kind=JobKind.DELAYED_JOB,
                path=definition.path,
                line=definition.line,
                why=why,
                abstract=self._abstract(name, members),
                queues=queues,
                dynamic_queue=dynamic,
                retry_policy=self._attempts(name),
                hooks=self._hooks(name),
                enqueue_sites=tuple(s.call for s in sites),
            )

    def _wrapped(self, name: str) -> list[_Site]:
        """The enqueues inside the job's wrappers (`def enqueue!; Delayed::Job.enqueue(self,
        queue: "x")`), for the queue they name even where no call of the wrapper is seen."""
        lineage = set(self.index.lineage(name))
        return [
            _Site(call, w.queue, w.dynamic_queue) for w, call in self.wrappers if w.owner in lineage
        ]

    def _abstract(self, name: str, members: dict[str, str]) -> bool:
        """A base of other jobs whose own `perform` is missing, empty or raises
        NotImplementedError."""
        if not any(sub in members for sub in self.index.subclasses(name)):
            return False
        defs = self.index.definitions.get(name, ())
        own = [d.methods["perform"] for d in defs if "perform" in d.methods]
        return all(_trivial(m.node()) for m in own)

    @staticmethod
    def _queues(
        sites: list[_Site], fallback: tuple[str | None, bool]
    ) -> tuple[tuple[str, ...], bool]:
        """The static queue names and whether one is computed: each site's `queue:`, and for the
        sites (or no site at all) naming none, `fallback` (the job's own queue, else the app's)."""
        names = {s.queue for s in sites if s.queue}
        dynamic = any(s.dynamic_queue for s in sites)
        if not sites or any(s.queue is None and not s.dynamic_queue for s in sites):
            name, computed = fallback
            names.update([name] if name else [])
            dynamic = dynamic or computed
        return tuple(sorted(names)), dynamic

    def _queue_name(self, payload: str | None) -> tuple[str | None, bool]:
        """The payload's `queue_name` method, else `Delayed::Worker.default_queue_name`."""
        method = self.index.find_method(payload, "queue_name") if payload else None
        if method is not None:
            value = _returned_literal(method.node())
            return (value, False) if value else (None, True)
        setting = self.default_queue
        if setting is None:
            return None, False
        value = _QUEUE_LITERAL.fullmatch(setting[1].rstrip(";"))
        return (next(g for g in value.groups() if g), False) if value else (None, True)

    def _attempts(self, payload: str | None) -> str:
        """How often Delayed Job runs the job before it gives up, and who says so."""
        owner = self._defining(payload, "max_attempts") if payload else None
        if payload is not None and owner is not None:
            method = self.index.find_method(owner, "max_attempts")
            value = (_returned_literal(method.node()) if method else None) or "computed"
            return f"max_attempts {value}" + ("" if owner == payload else f" [{owner}]")
        if self.max_attempts is not None:
            return f"max_attempts {self.max_attempts[1]} (Delayed::Worker.max_attempts)"
        return f"max_attempts {DJ_DEFAULT_ATTEMPTS} (Delayed Job default)"

    def _defining(self, name: str, method: str) -> str | None:
        """The class (or module) of `name`'s lineage whose own definition has `method`."""
        for owner in self.index.lineage(name):
            if any(method in d.methods for d in self.index.definitions.get(owner, ())):
                return owner
        return None

    def _hooks(self, payload: str | None) -> tuple[str, ...]:
        if payload is None:
            return ()
        return tuple(h for h in DJ_HOOKS if self.index.find_method(payload, h) is not None)

    def _delayed_methods(self) -> Iterator[tuple[str, NativeJob]]:
        """Methods that run as jobs: `handle_asynchronously` ones and `delay` targets. The
        payload (`Delayed::PerformableMethod`) answers `queue_name`, `max_attempts` and the hooks
        with the instance's own methods."""
        declared: dict[str, _Found] = {}
        for owner, facts in self.class_level.declaring(b"handle_asynchronously"):
            for found, class_method in facts.async_calls:
                method = _async_method(found.node)
                if method:
                    declared.setdefault(f"{owner}{'.' if class_method else '#'}{method}", found)
        for row in sorted(set(declared) | set(self.delayed)):
            instance = "#" in row
            owner, _, method = row.rpartition("#" if instance else ".")
            if self._other_kind(owner):
                continue
            sites = self.delayed.get(row, []) + self.async_sites.get(row, [])
            declaration = declared.get(row)
            queued = sites
            if declaration is not None:  # the declaration's `queue:` for calls that name none
                queue, dynamic = _literal(ruby.keyword_arguments(declaration.node).get("queue"))
                queued = [
                    s if s.queue or s.dynamic_queue else _Site(s.call, queue, dynamic) for s in sites
                ]
                queued = queued or [_Site(declaration.node, queue, dynamic)]
            payload = owner if instance else None
            queues, dynamic = self._queues(queued, self._queue_name(payload))
            path, line = self._location(owner, method, declaration)
            yield row, NativeJob(
                name=row,
                kind=JobKind.DELAYED_JOB,
                path=path,
                line=line,
                why="handle_asynchronously" if declaration is not None else "delay",
                queues=queues,
                dynamic_queue=dynamic,
                retry_policy=self._attempts(payload),
                hooks=self._hooks(payload),
                enqueue_sites=tuple(s.call for s in sites),
            )

    def _location(self, owner: str, method: str, declaration: _Found | None) -> tuple[str, int]:
        """Where a method that runs as a job is defined: its `def` (instance methods, mailer
        actions), else its `handle_asynchronously`, else its class."""
        found = self.index.find_method(owner, method)
        if found is not None:
            return found.path, found.line
        if declaration is not None:
            return declaration.path, declaration.line
        definition = self.index.first_definition(owner)
        return (definition.path, definition.line) if definition else ("", 0)

    # -- Resque --------------------------------------------------------------------------------

    def _superclass_chain(self, name: str) -> Iterator[str]:
        current: str | None = name
        seen: set[str] = set()
        while current is not None and current not in seen:
            seen.add(current)
            yield current
            current = self.index.superclass(current) if current in self.index else None

    def _class_method(self, name: str, method: str) -> _Found | None:
        """A class-level method as Ruby finds it: the class's and its superclasses' own (`def
        self.x`, `class << self`, a project module they extend), or an included concern's
        `class_methods`/`ClassMethods`."""
        for owner in self._superclass_chain(name):
            facts = self.class_level.get(owner)
            if facts is None:
                continue
            if method in facts.methods:
                return facts.methods[method]
            for extended in facts.extends:
                found = _found_method(self.index.find_method(extended, method))
                if found is not None:
                    return found
        for ancestor in self.index.ancestors(name):
            facts = self.class_level.get(ancestor)
            if facts is not None and method in facts.concern_methods:
                return facts.concern_methods[method]
            found = _found_method(self.index.find_method(f"{ancestor}::ClassMethods", method))
            if found is not None:
                return found
        return None

    def _resque_jobs(self) -> Iterator[tuple[str, NativeJob]]:
        members: dict[str, str] = {}
        for root in sorted(self.resque_roots):
            if root in self.resque_includers:
                for name in self._below(root):
                    members.setdefault(name, f"includes {root}")
            else:
                members[root] = "Resque.enqueue"
        scheduled = self._scheduled() if self.resque else {}
        for name in scheduled:
            if self._class_method(name, "perform") is not None:
                members.setdefault(name, "resque-scheduler")
        if self.resque:
            for name, facts in sorted(self.class_level.declaring(b"@queue")):
                if "@queue" in facts.ivars and self._class_method(name, "perform") is not None:
                    members.setdefault(name, "@queue")
        for name, why in sorted(members.items()):
            definition = self.index.first_definition(name)
            if definition is None or self._other_kind(name):
                continue
            sites = self.resque_roots.get(name, [])
            entries = scheduled.get(name, [])
            queues, dynamic = self._queues(sites, self._resque_queue(name))
            yield name, NativeJob(
                name=name,
                kind=JobKind.RESQUE,
                path=definition.path,
                line=definition.line,
                why=why,
                queues=tuple(sorted({*queues, *(q for _, q in entries if q)})),
                dynamic_queue=dynamic,
                retry_policy=self._resque_retries(name),
                schedules=tuple(label for label, _ in entries),
                enqueue_sites=tuple(s.call for s in sites),
            )

    def _resque_queue(self, name: str) -> tuple[str | None, bool]:
        """`@queue` (the class's own: class instance variables are not inherited), else a
        class-level `queue` method."""
        value = self.class_level.get(name, _ClassLevel()).ivars.get("@queue")
        if value is not None:
            return _literal(value.node)
        method = self._class_method(name, "queue")
        if method is None:
            return None, False
        literal = _returned_literal(method.node)
        return (literal, False) if literal else (None, True)

    def _resque_retries(self, name: str) -> str:
        extends = [e for owner in self._superclass_chain(name)
                   for e in self.class_level.get(owner, _ClassLevel()).extends]
        plugin = next((e for e in extends if e in RESQUE_RETRY_PLUGINS), None)
        if plugin is not None:
            own = self.class_level.get(name, _ClassLevel()).ivars
            limit = ruby.text(own["@retry_limit"].node) if "@retry_limit" in own else None
            method = self._class_method(name, "retry_limit") if limit is None else None
            if method is not None:
                limit = _returned_literal(method.node) or "computed"
            strategy = own["@backoff_strategy"].node if "@backoff_strategy" in own else None
            backoff = plugin.endswith("ExponentialBackoff")
            if limit is None and backoff and strategy is not None and strategy.type == "array":
                limit = str(len(strategy.named_children))
            return f"resque-retry: retry_limit {limit or RESQUE_RETRY_PLUGINS[plugin]}"
        if retries.requeues_resque_failures(self.app):
            return "the app requeues failed Resque jobs"
        return RESQUE_NO_RETRY

    def _scheduled(self) -> dict[str, list[tuple[str, str | None]]]:
        """Project classes a resque-scheduler schedule runs: name → (entry label, `queue:`)."""
        files = list(RESQUE_SCHEDULE_FILES)
        if "resque-scheduler" in self.app.gems and "sidekiq" not in self.app.gems:
            files.append(SHARED_SCHEDULE_FILE)
        table: dict[str, list[tuple[str, str | None]]] = {}
        for relpath in files:
            document = yaml_config.app_document(self.app, relpath)
            if not isinstance(document, dict):
                continue
            for key, entry in document.items():
                if not isinstance(entry, dict):
                    continue
                written = entry.get("class") or key  # without `class:`, the entry's name is it
                if not isinstance(written, str):
                    continue
                name = self.index.resolve(str(written).removeprefix("::"))
                if name in self.index:
                    queue = entry.get("queue")
                    queue_name = str(queue) if isinstance(queue, str) else None
                    table.setdefault(name, []).append((f"resque_scheduler:{key}", queue_name))
        return table


_QUEUE_LITERAL = lazy_pattern(r"""["']([\w.:-]+)["']|:(\w+)""")


def _finds_one(method: str) -> bool:
    """`User.find(..)`, `User.find_by_email(..)`, `User.new`: one record of the chain's model."""
    return method in FINDERS or method.startswith("find_by_")


def _code_path(relpath: str) -> bool:
    return relpath.endswith((".rb", ".rake")) and not relpath.startswith(SKIPPED_TOP_DIRS)


def _async_method(call: Node) -> str | None:
    """The method `handle_asynchronously :m` names."""
    args = ruby.call_arguments(call)
    return ruby.string_value(args[0]) if args else None


def _native_kind_at(app: App, source: SourceFile, node: Node) -> JobKind | None:
    native = native_job_at(app, source, node)
    return None if native is None else native.kind


NATIVE_JOB_LOOKUPS.append(_native_kind_at)
