from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..patterns import lazy_pattern
from ..rails import native_jobs
from ..rails.app import COMPONENT_DIRS, JOB_DIRS, App
from ..rails.jobs import JobKind
from ..rails.retries import delayed_job_max_attempts, job_failure_policy
from ..rails.schedules import scheduled_jobs
from ..ruby import Node
from ..source import SourceFile
from . import Examples, Rule, register
from ._loops import only_logs, reraises, rescue_body

TEST_DIRS = ("spec", "test")  # jobs defined there are test doubles
PATCH_DIRS = ("config",)  # a job class opened in an initializer patches a gem's job
# `include ActiveJob::Retry` (a gem), Rails 8.1's `ActiveJob::Continuable` (declares retry_on)
RETRY_MIXIN_WORDS = ("Retry", "Retries", "Retryable", "Continuable")


def in_test_dir(path: str) -> bool:
    """`spec/…`, `test/…`, or the same inside an engine or pack (`engines/billing/spec/…`)."""
    parts = path.split("/")
    if parts[0] in COMPONENT_DIRS and len(parts) > 2:
        parts = parts[2:]
    return parts[0] in TEST_DIRS


@register
class MissingRetryPolicy(Rule):
    """
    ## What it does
    Finds an ActiveJob job class with no `retry_on`, `discard_on` or `rescue_from` in itself or
    in any of its project ancestors (`ApplicationJob` and included concerns count).

    ## Why is this bad?
    Where the backend does not retry, a job that raises is simply lost: one network blip and
    the work is gone. It is reported only where a failure really is final for that job:
    Solid Queue, GoodJob without `retry_on_unhandled_error`, Resque, the Async and inline
    adapters, Delayed Job with `Delayed::Worker.max_attempts = 1`, and Sidekiq with retries
    turned off (`:max_retries: 0`, `default_job_options` or `sidekiq_options retry: false` on
    an ancestor such as `ApplicationJob`; a job that sets `sidekiq_options retry:` itself has
    chosen its retries deliberately and is not reported). On Sidekiq, Delayed Job and Que with their default retries the
    backend already retries the job, and an unknown adapter is not guessed at: not reported.

    Not reported either: `ApplicationJob` itself, native Sidekiq jobs, abstract base jobs
    (subclassed by other project jobs, with no `perform` of their own or one that raises
    `NotImplementedError`), jobs that run on a recurring schedule (the next run is the
    retry), jobs that include a retry module (`include ActiveJob::Retry`, any module whose
    name says it retries, or a concern that declares handlers), anonymous classes, job
    classes defined under `spec/` or `test/` (test doubles), job classes opened under
    `config/` (an initializer patching a gem's job: the gem owns its policy), jobs whose
    `perform` rescues errors and acts on them (records the failure, tries again later) —
    their policy is in the code — and classes with only a class-level `self.perform`, which no
    backend runs as a job.
    The message names the backend's actual behaviour for the job.

    Native job classes count too (see `joblint jobs`). A Resque job class without resque-retry
    (`extend Resque::Plugins::Retry`/`ExponentialBackoff`) or an `on_failure` hook of its own,
    in an app that does not requeue its failed jobs (`Resque::Failure.requeue…`), is reported:
    Resque runs a job once. A custom Delayed Job job is reported only when
    `Delayed::Worker.max_attempts` is 1 (or 0) and the job declares none of its own policy —
    `max_attempts`, `reschedule_at`, an `error` or `failure` hook; otherwise Delayed Job retries
    it (25 attempts by default). Models that are also jobs (a Resque `@queue` model, a record
    that enqueues itself), methods run by `delay`/`handle_asynchronously`, abstract bases,
    scheduled jobs and jobs whose `perform` rescues and acts are not reported.

    Off by default (`--extend-select JL201`). Where a failure is final for every job, whether
    losing one matters depends on the job's work — a job that only writes rows and hands the
    outside call to another job, a cache refresh the next run redoes, or one that only runs
    with `perform_now` needs no policy; a job sending a text message through an API does. On an
    app that makes every failure final (Delayed Job with `max_attempts = 1`), 8 of its 30
    findings were worth changing, far below the 95 % a default rule must meet.

    ## Example
    ```ruby
    class SyncInvoiceJob < ApplicationJob
      def perform(invoice_id) = Invoice.find(invoice_id).sync!
    end
    ```

    ## Use instead
    ```ruby
    class SyncInvoiceJob < ApplicationJob
      retry_on Net::ReadTimeout, wait: :polynomially_longer, attempts: 5
      discard_on ActiveRecord::RecordNotFound
      def perform(invoice_id) = Invoice.find(invoice_id).sync!
    end
    ```
    """

    code = "JL201"
    name = "missing-retry-policy"
    severity = Severity.WARNING
    default_enabled = False  # whether a lost job matters depends on its work; see the docstring
    scope = "project"
    summary = "An ActiveJob job with no retry_on, discard_on or rescue_from policy"
    message = "`{job}` declares no {policy} (nor do its ancestors): {why}"
    help = "Declare what to retry and what to discard, here or in ApplicationJob"
    triggers = ("Job",)  # ApplicationJob, ActiveJob::Base, or a job's own name

    @classmethod
    def wants(cls, source: SourceFile) -> bool:
        return super().wants(source) or source.in_dir(*JOB_DIRS)

    examples = Examples(
        bad=[
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    solid_queue (1.1.0)
                """,
                "app/jobs/application_job.rb": """
                class ApplicationJob < ActiveJob::Base
                end
                """,
                "app/jobs/sync_invoice_job.rb": """
                class SyncInvoiceJob < ApplicationJob # expect: JL201
                  def perform(invoice_id)
                    Invoice.find(invoice_id).sync!
                  end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    good_job (4.4.0)
                """,
                "app/jobs/reports/base_job.rb": """
                module Reports
                  class BaseJob < ActiveJob::Base
                  end
                end
                """,
                "app/jobs/reports/daily_job.rb": """
                module Reports
                  class DailyJob < BaseJob # expect: JL201
                    def perform; end
                  end
                end
                """,
            },
            {
                "config/application.rb": """
                module Shop
                  class Application < Rails::Application
                    config.active_job.queue_adapter = :sidekiq
                  end
                end
                """,
                "app/jobs/application_job.rb": """
                class ApplicationJob < ActiveJob::Base
                  sidekiq_options retry: false
                end
                """,
                "app/jobs/charge_job.rb": """
                class ChargeJob < ApplicationJob # expect: JL201
                  def perform(payment_id); end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    delayed_job (4.1.13)
                    delayed_job_active_record (4.1.10)
                """,
                "config/initializers/delayed_job.rb": """
                Delayed::Worker.max_attempts = 1
                """,
                "app/jobs/export_job.rb": """
                class ExportJob < ApplicationJob # expect: JL201
                  def perform(id); end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    resque (2.6.0)
                    delayed_job (4.1.13)
                    delayed_job_active_record (4.1.10)
                """,
                "config/initializers/delayed_job.rb": """
                Delayed::Worker.max_attempts = 1
                """,
                "app/jobs/sms_job.rb": """
                class SmsJob # expect: JL201
                  @queue = :sms

                  def self.perform(number, text)
                    Twilio.send_sms(number, text)
                  end
                end
                """,
                "app/jobs/invoice_pdf_job.rb": """
                class InvoicePdfJob < Struct.new(:invoice_id) # expect: JL201
                  def perform
                    Invoice.find(invoice_id).render_pdf!
                  end
                end
                """,
                "app/controllers/invoices_controller.rb": """
                class InvoicesController < ApplicationController
                  def create
                    Delayed::Job.enqueue(InvoicePdfJob.new(params[:id]))
                    Resque.enqueue(SmsJob, params[:phone], "Invoice sent")
                  end
                end
                """,
            },
        ],
        good=[
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    resque (2.6.0)
                    delayed_job (4.1.13)
                """,
                "app/jobs/sms_job.rb": """
                class SmsJob
                  extend Resque::Plugins::Retry
                  @queue = :sms
                  @retry_limit = 3

                  def self.perform(number, text)
                    Twilio.send_sms(number, text)
                  end
                end
                """,
                "app/jobs/invoice_pdf_job.rb": """
                class InvoicePdfJob < Struct.new(:invoice_id)
                  def perform
                    Invoice.find(invoice_id).render_pdf!
                  end
                end
                """,
                "app/models/feed.rb": """
                class Feed < ApplicationRecord
                  @queue = :feeds

                  def self.perform(id)
                    find(id).refresh!
                  end
                end
                """,
                "app/controllers/invoices_controller.rb": """
                class InvoicesController < ApplicationController
                  def create
                    Delayed::Job.enqueue(InvoicePdfJob.new(params[:id]))  # 25 attempts
                    Resque.enqueue(SmsJob, params[:phone], "Invoice sent")
                  end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    sidekiq (7.3.0)
                """,
                "app/jobs/sync_job.rb": """
                class SyncJob < ApplicationJob
                  def perform(id); end
                end
                """,
                "config/initializers/delayed_job.rb": """
                # Sidekiq retries SyncJob 25 times; this file is not read for it
                Delayed::Worker.max_attempts = 1
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    solid_queue (1.1.0)
                """,
                "config/recurring.yml": """
                production:
                  nightly_cleanup:
                    class: CleanupJob
                    schedule: every day at 3am
                  digest:
                    command: "DigestJob.perform_later"
                    schedule: every hour
                """,
                "app/jobs/cleanup_job.rb": """
                class CleanupJob < ApplicationJob
                  def perform; end
                end
                """,
                "app/jobs/digest_job.rb": """
                class DigestJob < ApplicationJob
                  def perform; end
                end
                """,
                "app/jobs/base_sync_job.rb": """
                class BaseSyncJob < ApplicationJob
                  def perform(*)
                    raise NotImplementedError
                  end
                end
                """,
                "app/jobs/submit_return_job.rb": """
                class SubmitReturnJob < ApplicationJob
                  def perform(submission)
                    submission.transmit!
                  rescue Efile::LockBusy
                    submission.retry_later!
                  end
                end
                """,
                "app/jobs/crm_sync_job.rb": """
                class CrmSyncJob < BaseSyncJob
                  include ActiveJob::Retry
                  def perform(id); end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    solid_queue (1.1.0)
                """,
                "app/jobs/application_job.rb": """
                class ApplicationJob < ActiveJob::Base
                  retry_on ActiveRecord::Deadlocked
                end
                """,
                "app/jobs/sync_invoice_job.rb": """
                class SyncInvoiceJob < ApplicationJob
                  def perform(invoice_id); end
                end
                """,
                "app/workers/hard_worker.rb": """
                class HardWorker
                  include Sidekiq::Job
                  def perform(id); end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    resque (2.6.0)
                """,
                "app/jobs/concerns/retries_network_errors.rb": """
                module RetriesNetworkErrors
                  extend ActiveSupport::Concern
                  included do
                    retry_on Timeout::Error, attempts: 3
                  end
                end
                """,
                "app/jobs/application_job.rb": """
                class ApplicationJob < ActiveJob::Base
                end
                """,
                "app/jobs/base_import_job.rb": """
                class BaseImportJob < ApplicationJob
                  def rows = []
                end
                """,
                "app/jobs/csv_import_job.rb": """
                class CsvImportJob < BaseImportJob
                  include RetriesNetworkErrors
                  def perform(path); end
                end
                """,
                "app/jobs/anonymous.rb": """
                Cleanup = Class.new(ApplicationJob) do
                  def perform; end
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        classes = app.classes
        for definition in app.definitions_in(source):
            name = definition.name
            if definition.is_module or name == "ApplicationJob":
                continue
            first = classes.first_definition(name)
            if first is not None and (first.path, first.line) != (definition.path, definition.line):
                continue  # a reopened class is reported once, where it declares its superclass
            if app.jobs.kind(name) is not JobKind.ACTIVE_JOB or app.jobs.is_abstract(name):
                continue
            if classes.handlers(name) or in_test_dir(definition.path):
                continue
            if definition.path.split("/", 1)[0] in PATCH_DIRS:
                continue
            policy = job_failure_policy(app, name)
            if policy.final is not True:
                continue  # the backend retries it, or joblint cannot tell
            if name in scheduled_jobs(app) or _includes_retry_module(name, app):
                continue
            if _handles_failures_in_perform(name, app):
                continue  # `perform` rescues and acts: the job has an error policy in code
            yield Hit(
                definition.name_start,
                definition.name_end,
                {"job": name, "why": policy.why, "policy": ACTIVE_JOB_POLICY},
                scope=name,
                anchor=name,
            )
        yield from self._native(source, app)

    def _native(self, source: SourceFile, app: App) -> Iterator[Hit]:
        """Native job classes defined in this file whose failure is final."""
        if not native_jobs.may_have_native_jobs(app):
            return
        for definition in app.definitions_in(source):
            job = native_jobs.native_jobs(app).get(definition.name)
            first = app.classes.first_definition(definition.name)
            if job is None or first is None or (first.path, first.line) != (definition.path, definition.line):
                continue
            why = _native_final(job, app)
            if why is None or in_test_dir(definition.path):
                continue
            yield Hit(
                definition.name_start,
                definition.name_end,
                {"job": job.name, "why": why, "policy": NATIVE_POLICY[job.kind]},
                scope=job.name,
                anchor=job.name,
            )


ACTIVE_JOB_POLICY = "`retry_on`, `discard_on` or `rescue_from`"
NATIVE_POLICY = {
    JobKind.RESQUE: "retry plugin (`extend Resque::Plugins::Retry`) or `on_failure` hook",
    JobKind.DELAYED_JOB: "`max_attempts`, `reschedule_at`, `error` or `failure` hook",
}
_ON_FAILURE = lazy_pattern(rb"def\s+(?:self\.)?on_failure")


def _native_final(job: native_jobs.NativeJob, app: App) -> str | None:
    """Why a failure of this native job is final, or None when it is retried, handled, or the
    job is not one to report: a model (its other methods are not the job), an abstract base,
    a scheduled job (the next run retries), a `perform` that rescues and acts."""
    if job.abstract or job.schedules or job.name in app.model_classes:
        return None
    perform = native_jobs.perform_of(app, job.name)
    if job.name in scheduled_jobs(app) or perform is None or _rescues_and_acts(perform):
        return None
    if job.kind is JobKind.RESQUE:
        if job.retry_policy != native_jobs.RESQUE_NO_RETRY:
            return None
        texts = [(app.text(d.path) or "").encode() for d in app.classes.definitions.get(job.name, ())]
        if any(_ON_FAILURE.search(text) for text in texts):
            return None  # a failure hook of its own
        return "Resque does not retry a failed job (it stays in the failed queue)"
    if job.hooks or app.classes.find_method(job.name, "max_attempts") is not None:
        return None  # the job decides what a failure leads to
    setting = delayed_job_max_attempts(app)
    if setting is None or setting[1] not in ("0", "1"):
        return None  # Delayed Job retries it (25 attempts unless set)
    return f"`Delayed::Worker.max_attempts = {setting[1]}` in {setting[0]} makes a failure final"


def _handles_failures_in_perform(name: str, app: App) -> bool:
    """`perform` rescues errors and does something about them (records the failure, tries
    again later, falls back) — or there is no instance `perform` at all, only a class-level
    one that no backend runs as a job."""
    perform = app.classes.find_method(name, "perform")
    if perform is None:
        return any(
            b"def self.perform" in (app.text(d.path) or "").encode()
            for d in app.classes.definitions.get(name, ())
        )
    node = perform.source.root.descendant_for_byte_range(perform.start_byte, perform.end_byte)
    return node is not None and _rescues_and_acts(node)


def _rescues_and_acts(perform: Node) -> bool:
    """A rescue in `perform` that does more than log, or re-raises: an error policy in code."""
    return any(
        not only_logs(rescue_body(rescue)) or reraises(rescue_body(rescue))
        for rescue in ruby.descendants(perform, {"rescue"})
        if rescue_body(rescue) is not None
    )


def _includes_retry_module(name: str, app: App) -> bool:
    """A gem's retry module among the job's mixins (project concerns are read for handlers)."""
    return any(
        mixin not in app.classes and any(w in mixin for w in RETRY_MIXIN_WORDS)
        for owner in app.classes.lineage(name)
        for mixin in app.classes.mixins(owner)
    )
