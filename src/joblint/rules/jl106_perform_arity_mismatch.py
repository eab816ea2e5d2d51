from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from .. import ruby
from ..findings import Hit, Severity
from ..rails.app import App
from ..rails.classes import MethodDef, Signature
from ..rails.jobs import SCHEDULED_ENQUEUE, JobKind
from ..rails.transactions import enqueued_job
from ..ruby import Node
from ..source import SourceFile
from . import Examples, Rule, register

ACTIVE_JOB_CALLS = ("perform_later", "perform_now")
SIDEKIQ_CALLS = ("perform_async", "perform_in", "perform_at")
_CALLS = ruby.calls_query(ACTIVE_JOB_CALLS + SIDEKIQ_CALLS, with_receiver=True)
_UNKNOWN_SHAPE = frozenset({"splat_argument", "hash_splat_argument", "forward_argument"})


@dataclass(frozen=True)
class CallShape:
    """What a call passes: positional arguments and keyword-style `key: value` pairs."""

    positional: int
    keywords: dict[str, Node]


def call_shape(arguments: list[Node]) -> CallShape | None:
    """The shape of a call's arguments; None when it cannot be counted (splats, `...`,
    non-symbol keys)."""
    positional = 0
    keywords: dict[str, Node] = {}
    for arg in arguments:
        if arg.type in _UNKNOWN_SHAPE:
            return None
        if arg.type == "block_argument":
            continue
        if arg.type == "pair":
            key = arg.child_by_field_name("key")
            if key is None or key.type != "hash_key_symbol":
                return None
            keywords[ruby.text(key)] = arg
        else:
            positional += 1
    return CallShape(positional, keywords)


def arity_problem(
    signature: Signature, shape: CallShape, keywords_as_hash: bool = False
) -> tuple[str, Node | None] | None:
    """Why a call of this shape raises ArgumentError under Ruby 3 (and the offending keyword
    argument, if one is at fault), or None when it fits. Keyword-style arguments to a method
    without keyword parameters — or through Sidekiq's JSON — arrive as one positional hash."""
    positional = shape.positional
    keywords = shape.keywords
    if keywords_as_hash or not signature.has_keywords:
        positional += 1 if keywords else 0
        keywords = {}
    else:
        if not signature.double_splat:
            known = signature.required_keywords | signature.optional_keywords
            for name, pair in keywords.items():
                if name not in known:
                    return f"unknown keyword `{name}:`", pair
        missing = sorted(signature.required_keywords - set(keywords))
        if missing:
            return "missing keyword " + ", ".join(f"`{m}:`" for m in missing), None
    low = signature.required
    high = None if signature.splat else signature.required + signature.optional
    if positional < low or (high is not None and positional > high):
        if high is None:
            expected = f"at least {low}"
        elif high == low:
            expected = str(low)
        else:
            expected = f"{low} to {high}"
        plural = "" if positional == 1 else "s"
        return f"{positional} argument{plural} given, {expected} expected", None
    return None


def defines_class_method(app: App, name: str, method: str) -> bool:
    """Does the class or a project ancestor define `self.<method>` (or use `class << self`)?
    Then the call may not reach the instance method the usual way."""
    pattern = re.compile(rb"def\s+self\." + re.escape(method.encode()) + rb"\b|class\s*<<\s*self")
    for owner in app.classes.lineage(name):
        for definition in app.classes.definitions.get(owner, ()):
            source = app.source(app.root / definition.path) if app.root else None
            if source is not None and pattern.search(source.data):
                return True
    return False


def parameter_text(method: MethodDef) -> str:
    """The parameter list as written (`a, b = 1, *rest`), on one line, without parentheses."""
    text = method.source.data[method.start_byte : method.end_byte].decode("utf-8", "replace")
    header = text.split("\n", 1)[0]
    if "(" not in header:
        return ""  # `def perform` without parameters (or `def perform a, b`: rare)
    depth = 0
    start = text.index("(")
    for index in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[index], 0)
        if depth == 0:
            return " ".join(text[start + 1 : index].split())
    return ""


@register
class PerformArityMismatch(Rule):
    """
    ## What it does
    Finds `perform_later`, `perform_now`, `perform_async`, `perform_in` and `perform_at` calls
    on a project job whose arguments cannot satisfy the job's `perform` signature: too few or
    too many positional arguments, a missing required keyword, or an unknown keyword.

    ## Why is this bad?
    Enqueueing succeeds — the arguments are only serialized — and the job raises
    `ArgumentError` in the worker, every attempt, until it lands in the dead set or the failed
    executions. Nothing fails where the mistake was made.

    Arguments follow Ruby 3: keyword-style arguments to a `perform` without keyword parameters
    arrive as one positional hash, and for Sidekiq (`perform_async`/`perform_in`/`perform_at`,
    whose schedule argument is not counted) they always do — a Sidekiq `perform` with keyword
    parameters is JL103's. Calls with a splat (`*args`), a double splat or `...` are not
    checked, nor are jobs whose `perform` is not found in the project, or that define their
    own class-level `perform_later`/`perform_async`.

    ## Example
    ```ruby
    class InvoiceJob < ApplicationJob
      def perform(invoice_id, resend:) = ...
    end

    InvoiceJob.perform_later(invoice.id, true)
    ```

    ## Use instead
    ```ruby
    InvoiceJob.perform_later(invoice.id, resend: true)
    ```
    """

    code = "JL106"
    name = "perform-arity-mismatch"
    severity = Severity.ERROR
    scope = "project"
    summary = "An enqueue whose arguments do not fit the job's perform signature"
    message = "`{job}.{method}` does not fit `perform({params})`: {problem} — ArgumentError when the job runs"
    help = "Pass the arguments `perform` declares"
    triggers = ACTIVE_JOB_CALLS + SIDEKIQ_CALLS

    examples = Examples(
        bad=[
            {
                "app/jobs/invoice_job.rb": """
                class InvoiceJob < ApplicationJob
                  discard_on ActiveJob::DeserializationError

                  def perform(invoice_id, resend:)
                  end
                end
                """,
                "app/services/billing.rb": """
                class Billing
                  def call(invoice)
                    InvoiceJob.perform_later(invoice.id, true) # expect: JL106
                    InvoiceJob.set(wait: 1.hour).perform_later(invoice.id, resend: true, force: true) # expect: JL106
                    InvoiceJob.perform_later(invoice.id, resend: false)
                  end
                end
                """,
            },
            {
                "app/workers/sync_worker.rb": """
                class SyncWorker
                  include Sidekiq::Job

                  def perform(account_id, full = false)
                  end
                end
                """,
                "app/services/sync.rb": """
                class Sync
                  def call(account)
                    SyncWorker.perform_in(5.minutes) # expect: JL106
                    SyncWorker.perform_async(account.id, true, "now") # expect: JL106
                  end
                end
                """,
            },
        ],
        good=[
            {
                "app/jobs/invoice_job.rb": """
                class InvoiceJob < ApplicationJob
                  discard_on ActiveJob::DeserializationError

                  def perform(invoice_id, options = {})
                  end
                end
                """,
                "app/services/billing.rb": """
                class Billing
                  def call(invoice, args)
                    InvoiceJob.perform_later(invoice.id)
                    InvoiceJob.perform_later(invoice.id, resend: true)
                    InvoiceJob.perform_later(*args)
                    InvoiceJob.perform_now(invoice.id, { "resend" => true })
                  end
                end
                """,
            },
            {
                "app/workers/sync_worker.rb": """
                class SyncWorker
                  include Sidekiq::Job

                  def perform(account_id, *flags)
                  end
                end
                """,
                "app/services/sync.rb": """
                class Sync
                  def call(account)
                    SyncWorker.perform_in(5.minutes, account.id)
                    SyncWorker.perform_async(account.id, "full", "now")
                    SyncWorker.perform_at(1.hour.from_now, account.id, "full")
                  end
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        for _, caps in ruby.matches(_CALLS, source.root):
            call = caps["call"][0]
            job = enqueued_job(call, app)
            if job is None or job not in app.classes:
                continue
            method = ruby.call_method(call)
            kind = app.jobs.kind(job)
            sidekiq = method in SIDEKIQ_CALLS
            if kind is None or kind is (JobKind.ACTIVE_JOB if sidekiq else JobKind.SIDEKIQ):
                continue
            perform = app.classes.find_method(job, "perform")
            if perform is None or (sidekiq and perform.signature.has_keywords):
                continue
            arguments = ruby.call_arguments(call)
            if call_shape(arguments) is None:
                continue  # a splat may hold the schedule and the arguments alike
            if method in SCHEDULED_ENQUEUE:
                if not arguments:
                    continue
                arguments = arguments[1:]
            shape = call_shape(arguments)
            if shape is None:
                continue
            problem = arity_problem(perform.signature, shape, keywords_as_hash=sidekiq)
            if problem is None or defines_class_method(app, job, method):
                continue
            reason, culprit = problem
            yield Hit.at(
                culprit or call,
                job=ruby.text(ruby.call_receiver(call) or call).split(".", 1)[0],
                method=method,
                problem=reason,
                params=parameter_text(perform),
            )
