from __future__ import annotations

from collections.abc import Iterator

from ..findings import Hit, Severity
from ..rails.app import COMPONENT_DIRS, JOB_DIRS, App
from ..rails.jobs import JobKind
from ..source import SourceFile
from . import Examples, Rule, register
from .jl208_mixed_retry_strategies import sidekiq_retries

FINAL_FAILURE = {
    "solid_queue": "Solid Queue",
    "good_job": "GoodJob",
    "resque": "Resque",
    "async": "the Async adapter",
    "que": "Que",
}
ADAPTER_RETRIES = {"sidekiq": "Sidekiq", "delayed_job": "Delayed Job"}
TEST_DIRS = ("spec", "test")  # jobs defined there are test doubles
PATCH_DIRS = ("config",)  # a job class opened in an initializer patches a gem's job


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
    On Solid Queue, GoodJob (default configuration), Resque and the Async adapter a job that
    raises is not retried: one network blip and the work is lost. On Sidekiq and Delayed Job
    the adapter retries, but every error the same way — a record that no longer exists is
    retried for weeks, a timeout is given up after the same count as a bug.

    `ApplicationJob` itself, native Sidekiq jobs, abstract base jobs (subclassed by other
    project jobs and without a `perform` of their own), anonymous classes and job classes
    defined under `spec/` or `test/` (test doubles) are not reported, nor a job class opened
    under `config/` (an initializer patching a gem's job, such as a reopened
    `DelayedPaperclip::ProcessJob`: the gem owns its policy). On Sidekiq (or when the
    adapter is not known) a job whose class or ancestor declares `sidekiq_options retry: …`
    has chosen its retry policy and is not reported either.
    The message names the backend found in `Gemfile.lock` and `config.active_job.queue_adapter`.

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
    scope = "project"
    summary = "An ActiveJob job with no retry_on, discard_on or rescue_from policy"
    message = "`{job}` declares no `retry_on`, `discard_on` or `rescue_from` (nor do its ancestors): {why}"
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
        ],
        good=[
            {
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
            if self._sidekiq_policy(name, app):
                continue
            yield Hit(
                definition.name_start,
                definition.name_end,
                {"job": name, "why": self._why(app.backend.adapter)},
                scope=name,
                anchor=name,
            )

    @staticmethod
    def _sidekiq_policy(name: str, app: App) -> bool:
        """`sidekiq_options retry: …` on the job or an ancestor, where Sidekiq runs it."""
        if app.backend.adapter not in ("sidekiq", None):
            return False  # on another adapter the Sidekiq option does nothing
        retries = sidekiq_retries(app)
        return any(owner in retries for owner in app.classes.lineage(name))

    @staticmethod
    def _why(adapter: str | None) -> str:
        if adapter in FINAL_FAILURE:
            return f"on {FINAL_FAILURE[adapter]} a failed job is not retried"
        if adapter in ADAPTER_RETRIES:
            return (
                f"{ADAPTER_RETRIES[adapter]} retries every error the same way, "
                "with no per-error policy"
            )
        return "on most backends a failed job is not retried"
