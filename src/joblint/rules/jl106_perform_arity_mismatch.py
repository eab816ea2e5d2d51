from __future__ import annotations

import re
from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..rails.app import App
from ..rails.calls import arity_problem, call_shape, parameter_text
from ..rails.jobs import SCHEDULED_ENQUEUE, JobKind
from ..rails.named_calls import calls_named
from ..rails.transactions import enqueued_job
from ..source import SourceFile
from . import Examples, Rule, register

ACTIVE_JOB_CALLS = ("perform_later", "perform_now")
SIDEKIQ_CALLS = ("perform_async", "perform_in", "perform_at")
_CALLS = frozenset(ACTIVE_JOB_CALLS + SIDEKIQ_CALLS)


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

    Keyword-style arguments whose names are the positional parameters of a `perform` without
    keyword parameters (`perform_later(event_id: 1, code_id: 2)` for
    `def perform(event_id, code_id = nil)`) are legal Ruby 3 and still wrong: the first
    parameter receives the whole hash. They are reported at the first such keyword. So are
    keyword-style arguments whose hash lands in a parameter named as an id (`id`, `*_id`,
    `*_ids`): `perform_later(intake: intake)` for `def perform(intake_id)` hands the job a
    hash where it looks up an id.

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
                "app/jobs/application_job.rb": """
                class ApplicationJob < ActiveJob::Base
                  retry_on Timeout::Error
                end
                """,
                "app/jobs/sync_code_job.rb": """
                class SyncCodeJob < ApplicationJob
                  def perform(event_id, code_id = nil); end
                end
                """,
                "app/controllers/codes_controller.rb": """
                class CodesController < ApplicationController
                  def update
                    SyncCodeJob.perform_later(event_id: 1, code_id: 2) # expect: JL106
                    SyncCodeJob.perform_later(1, 2)
                    SyncCodeJob.perform_later(1, { code_id: 2 })
                    SyncCodeJob.perform_later(event: Event.last) # expect: JL106
                  end
                end
                """,
            },
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
        for call in calls_named(source, _CALLS, receiver=True):
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
