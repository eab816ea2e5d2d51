from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..rails.app import App
from ..rails.named_calls import calls_named
from ..source import SourceFile
from . import Examples, Rule, register
from ._arguments import LATER, elements, later_call
from ._records import chain_arguments, destroyed_after, record_model

_CALLS = frozenset(LATER)


@register
class EnqueueThenDestroy(Rule):
    """
    ## What it does
    Finds a record passed to `perform_later` or to a mailer delivered with `deliver_later`
    (`Mailer.action(record)`, `Mailer.with(record: record)`) and then destroyed or deleted
    later in the same method (`record.destroy`, `destroy!`, `delete`; a bare `destroy` when the
    record is `self`).

    ## Why is this bad?
    ActiveJob passes a record as its GlobalID and loads it again when the job runs. By then
    this method has deleted the row, so the job — or the mail delivery job — fails with
    `ActiveJob::DeserializationError` (or is discarded, if it discards that error): the work
    the enqueue promised never happens. It fails every time, not once in a race.

    Deliver the mail now, before the destroy (`deliver_now` is the right call here, and
    JL401 does not report it), or pass the values the job needs (ids, strings) instead of the
    record. A destroy in another branch of an `if`/`case` than the enqueue is not reported.

    ## Example
    ```ruby
    def perform(trace)
      TraceMailer.import_failed(trace).deliver_later
      trace.destroy
    end
    ```

    ## Use instead
    ```ruby
    def perform(trace)
      TraceMailer.import_failed(trace).deliver_now
      trace.destroy
    end
    ```
    """

    code = "JL107"
    name = "enqueue-then-destroy"
    severity = Severity.ERROR
    scope = "project"
    summary = "A record handed to a job or mail, then destroyed before it can run"
    message = (
        "`{argument}` is passed to `{method}` and destroyed at line {line}: the job cannot load "
        "it (ActiveJob::DeserializationError)"
    )
    help = "Deliver now before the destroy, or pass the values the job needs instead of the record"
    triggers = LATER

    examples = Examples(
        bad=[
            {
                "app/models/trace.rb": """
                class Trace < ApplicationRecord
                end
                """,
                "app/jobs/cleanup_jobs.rb": """
                class ExportCleanupJob < ApplicationJob
                  def perform(account); end
                end
                class AuditJob < ApplicationJob
                  def perform(record, event); end
                end
                """,
                "app/jobs/trace_import_job.rb": """
                class TraceImportJob < ApplicationJob
                  def perform(trace)
                    trace.import!
                  rescue ImportError => error
                    TraceMailer.import_failed(trace, error.message).deliver_later # expect: JL107
                    trace.destroy
                  end
                end
                """,
            },
            {
                "app/jobs/cleanup_jobs.rb": """
                class ExportCleanupJob < ApplicationJob
                  def perform(account); end
                end
                class AuditJob < ApplicationJob
                  def perform(record, event); end
                end
                """,
                "app/controllers/accounts_controller.rb": """
                class AccountsController < ApplicationController
                  def destroy
                    @account = Account.find(params[:id])
                    AccountMailer.with(account: @account).goodbye.deliver_later # expect: JL107
                    ExportCleanupJob.perform_later(@account) # expect: JL107
                    @account.destroy!
                    redirect_to root_path
                  end
                end
                """,
                "app/models/account.rb": """
                class Account < ApplicationRecord
                  def close!
                    AuditJob.set(queue: :low).perform_later(self, "closed") # expect: JL107
                    destroy
                  end
                end
                """,
            },
        ],
        good=[
            {
                "app/models/trace.rb": """
                class Trace < ApplicationRecord
                end
                """,
                "app/jobs/cleanup_jobs.rb": """
                class ExportCleanupJob < ApplicationJob
                  def perform(account_id); end
                end
                class SyncJob < ApplicationJob
                  def perform(account); end
                end
                """,
                "app/jobs/trace_import_job.rb": """
                class TraceImportJob < ApplicationJob
                  def perform(trace)
                    trace.import!
                  rescue ImportError => error
                    TraceMailer.import_failed(trace, error.message).deliver_now
                    trace.destroy
                  end
                end
                """,
            },
            {
                "app/jobs/cleanup_jobs.rb": """
                class ExportCleanupJob < ApplicationJob
                  def perform(account_id); end
                end
                class SyncJob < ApplicationJob
                  def perform(account); end
                end
                """,
                "app/controllers/accounts_controller.rb": """
                class AccountsController < ApplicationController
                  def destroy
                    account = Account.find(params[:id])
                    AccountMailer.goodbye(account.email, account.name).deliver_later
                    ExportCleanupJob.perform_later(account.id)
                    account.destroy!
                  end

                  def update
                    account = Account.find(params[:id])
                    if account.closing?
                      account.destroy
                    else
                      SyncJob.perform_later(account)
                    end
                    account.tags.delete(params[:tag])
                  end
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        if not source.contains_any((b"destroy", b"delete")):
            return
        for call in calls_named(source, _CALLS, receiver=True):
            if not later_call(call, app):
                continue
            seen: set[str] = set()
            for argument in chain_arguments(call):
                if argument.type == "pair":  # `with(account: account)`
                    argument = argument.child_by_field_name("value") or argument
                for value in elements(argument):
                    destroy = destroyed_after(call, value)
                    if destroy is None or ruby.text(value) in seen:
                        continue
                    if (
                        record_model(value, app) is None
                        and ruby.text(destroy).rsplit(".", 1)[-1] != "destroy!"
                    ):
                        continue  # `x.destroy` of something joblint cannot tell is a record
                    seen.add(ruby.text(value))
                    yield Hit.at(
                        value,
                        argument=ruby.text(value),
                        method=ruby.call_method(call),
                        line=str(destroy.start_point[0] + 1),
                    )
