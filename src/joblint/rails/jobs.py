"""What a job is: classification by ancestry, and what an enqueue call looks like."""

from __future__ import annotations

import enum

from .. import ruby
from ..ruby import Node
from .classes import ClassIndex

SIDEKIQ_MIXINS = frozenset({"Sidekiq::Job", "Sidekiq::Worker"})
# enqueue methods by family; `perform_in`/`perform_at` take the schedule first
ACTIVE_JOB_ENQUEUE = ("perform_later",)
SIDEKIQ_ENQUEUE = ("perform_async", "perform_in", "perform_at", "perform_bulk")
SCHEDULED_ENQUEUE = ("perform_in", "perform_at")
ENQUEUE_METHODS = ACTIVE_JOB_ENQUEUE + SIDEKIQ_ENQUEUE


class JobKind(enum.Enum):
    ACTIVE_JOB = "activejob"
    SIDEKIQ = "sidekiq"
    UNKNOWN = "unknown"  # a class under app/jobs whose ancestry is not visible
    # native jobs of the other backends, known from how the app enqueues them (see
    # native_jobs.py): `App.job_kind_at` returns them; `JobModel.kind` never does
    DELAYED_JOB = "delayed_job"
    RESQUE = "resque"


class JobModel:
    """ActiveJob and Sidekiq job classification over the class index (by ancestry). Native
    Delayed Job and Resque jobs are known from how they are enqueued: `native_jobs.py`."""

    def __init__(self, classes: ClassIndex):
        self.classes = classes

    def kind(self, name: str) -> JobKind | None:
        ancestors = set(self.classes.ancestors(name))
        if "ActiveJob::Base" in ancestors:
            return JobKind.ACTIVE_JOB
        if ancestors & SIDEKIQ_MIXINS:
            return JobKind.SIDEKIQ  # even an `ApplicationJob` that includes Sidekiq::Job
        if name == "ApplicationJob" or "ApplicationJob" in ancestors:
            return JobKind.ACTIVE_JOB  # its definition is not visible: the Rails default
        return None

    def job_names(self) -> list[str]:
        return [n for n in self.classes.names() if self.kind(n) is not None]

    def is_abstract(self, name: str) -> bool:
        """A base class for other project jobs with no `perform` of its own, or one that
        raises `NotImplementedError`."""
        if not any(self.kind(sub) for sub in self.classes.subclasses(name)):
            return False
        performs = [
            d.methods["perform"] for d in self.classes.definitions.get(name, ()) if "perform" in d.methods
        ]
        return all(b"NotImplementedError" in m.body_bytes for m in performs)


def enqueue_family(call: Node) -> JobKind | None:
    """ActiveJob for `perform_later`, Sidekiq for `perform_async/in/at/bulk`, else None."""
    method = ruby.call_method(call)
    if method in ACTIVE_JOB_ENQUEUE:
        return JobKind.ACTIVE_JOB
    if method in SIDEKIQ_ENQUEUE:
        return JobKind.SIDEKIQ
    return None


def enqueued_class(call: Node, classes: ClassIndex, scope: tuple[str, ...]) -> str | None:
    """The class `Foo.perform_later(..)` / `Foo.set(..).perform_async(..)` enqueues, resolved
    from the call site's lexical scope; None for other receivers (`self.class`, variables)."""
    receiver = ruby.call_receiver(call)
    while receiver is not None and receiver.type == "call" and ruby.call_method(receiver) == "set":
        receiver = ruby.call_receiver(receiver)
    written = ruby.constant_path(receiver)
    return None if written is None else classes.resolve(written, scope)


def job_arguments(call: Node) -> list[Node]:
    """The arguments that reach the job: the schedule of `perform_in`/`perform_at` is not one."""
    args = [a for a in ruby.call_arguments(call) if a.type != "block_argument"]
    if ruby.call_method(call) in SCHEDULED_ENQUEUE:
        return args[1:]
    return args
