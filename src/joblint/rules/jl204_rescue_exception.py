from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..rails.app import App
from ..rails.jobs import JobKind
from ..ruby import Node
from ..source import SourceFile
from . import Examples, Rule, register
from ._loops import reraises, rescue_body, rescue_hit, rescued_classes, rescues


@register
class RescueException(Rule):
    """
    ## What it does
    Finds `rescue Exception` (or `rescue Exception => e`, or `Exception` among the rescued
    classes) in a job whose clause does not re-raise (`raise`, `fail`) or hand the job back
    to the queue (`retry_job`).

    ## Why is this bad?
    `Exception` includes `SignalException`, `Interrupt`, `SystemExit`, `NoMemoryError` and
    `Sidekiq::Shutdown`, which Sidekiq raises in the jobs still running when a deploy restarts
    the process, so that they are pushed back to the queue. Swallowing it marks the job as
    done: every deploy silently loses the jobs that were in flight.

    Anywhere in the job class counts (methods and blocks). A clause whose body re-raises on any
    path is not reported.

    Native Delayed Job and Resque jobs count too (see `joblint jobs`): a custom Delayed Job job
    class, a `handle_asynchronously` or `delay`ed method, a Resque job class — and in a model
    that is also a job, only the method the backend runs (its `perform`). Resque raises
    `Resque::TermException` (a `SignalException`) in the job when a worker with `TERM_CHILD`
    shuts down, so swallowing it loses the job on every deploy, as with Sidekiq. Delayed Job
    raises signals in the job only with `Delayed::Worker.raise_signal_exceptions`, but the
    clause also swallows `NoMemoryError`, `SystemStackError`, `ScriptError` and `SystemExit`:
    the job is marked done and never retried. A clause in Delayed Job's `error`, `failure`,
    `after` or `success` hook (or a method only those hooks call) is not reported: the job's
    outcome is already decided when they run.

    ## Example
    ```ruby
    def perform(id)
      Export.find(id).upload!
    rescue Exception => e
      Rails.error.report(e)
    end
    ```

    ## Use instead
    ```ruby
    def perform(id)
      Export.find(id).upload!
    rescue => e  # StandardError
      Rails.error.report(e)
    end
    ```
    """

    code = "JL204"
    name = "rescue-exception"
    severity = Severity.ERROR
    scope = "file"
    summary = "rescue Exception in a job, which swallows shutdown signals"
    message = "`{clause}` without re-raise also swallows {swallowed}: {consequence}"
    help = "Rescue StandardError (a bare `rescue`), or re-raise after handling"
    triggers = ("Exception",)

    examples = Examples(
        bad=[
            {
                "app/jobs/export_job.rb": """
                class ExportJob < ApplicationJob
                  retry_on Timeout::Error

                  def perform(id)
                    Export.find(id).upload!
                  rescue Exception => e # expect: JL204
                    Rails.error.report(e)
                  end
                end
                """,
            },
            {
                "app/workers/hard_worker.rb": """
                class HardWorker
                  include Sidekiq::Job

                  def perform(ids)
                    ids.each do |id|
                      begin
                        Item.find(id).process!
                      rescue Timeout::Error, ::Exception # expect: JL204
                        Sentry.capture_message("item #{id} failed")
                      end
                    end
                  end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    resque (2.6.0)
                """,
                "app/models/report.rb": """
                class Report < ApplicationRecord
                  @queue = :reports

                  def self.perform(id)
                    find(id).render!
                  rescue Exception => e # expect: JL204
                    Rails.logger.error(e)
                  end

                  def render!
                    Pdf.render(self)
                  rescue Exception
                    nil
                  end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    delayed_job (4.1.11)
                    delayed_job_active_record (4.1.8)
                """,
                "app/services/exports/people_export.rb": """
                module Exports
                  PeopleExport = Struct.new(:ids) do
                    def perform
                      Person.where(id: ids).each(&:export!)
                    rescue Exception => e # expect: JL204
                      Rails.logger.error(e)
                    end
                  end
                end
                """,
                "app/controllers/people_controller.rb": """
                class PeopleController < ApplicationController
                  def export
                    Delayed::Job.enqueue(Exports::PeopleExport.new(params[:ids]))
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
                    delayed_job (4.1.11)
                """,
                "app/jobs/relay_job.rb": """
                class RelayJob
                  def enqueue!
                    Delayed::Job.enqueue(self)
                  end

                  def perform
                    MailRelay.relay!
                  end

                  def error(job, exception)
                    Airbrake.notify(exception, mail: mail_for_report(exception))
                  end

                  def failure(job)
                    AdminMailer.relay_failed.deliver_now
                  rescue Exception
                    nil
                  end

                  private

                  def mail_for_report(exception)
                    exception.mail.to_s
                  rescue Exception
                    nil
                  end
                end
                """,
            },
            {
                "app/jobs/export_job.rb": """
                class ExportJob < ApplicationJob
                  retry_on Timeout::Error

                  def perform(id)
                    Export.find(id).upload!
                  rescue Exception => e
                    Rails.error.report(e)
                    raise
                  end
                end
                """,
            },
            {
                "app/jobs/poll_job.rb": """
                class PollJob < ApplicationJob
                  discard_on ActiveJob::DeserializationError

                  def perform(id)
                    Poll.find(id).refresh!
                  rescue Exception => e
                    raise e unless e.is_a?(StandardError)
                    Rails.error.report(e)
                  end
                end
                """,
                "app/services/importer.rb": """
                class Importer
                  def call
                    run!
                  rescue Exception
                    nil
                  end
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        for rescue in rescues(source):
            classes = rescued_classes(rescue)
            if not classes or "Exception" not in classes:
                continue
            kind = app.job_kind_at(source, rescue)
            if kind is None or reraises(rescue_body(rescue)):
                continue
            if kind is JobKind.DELAYED_JOB and _after_the_outcome(rescue, app):
                continue
            yield rescue_hit(rescue, None, **_CONSEQUENCES.get(kind, _CONSEQUENCES[None]))


_CONSEQUENCES: dict[JobKind | None, dict[str, str]] = {
    None: {
        "swallowed": "`Sidekiq::Shutdown` and signals",
        "consequence": "a deploy restart loses the job",
    },
    JobKind.RESQUE: {
        "swallowed": "`Resque::TermException` (a worker shutting down with `TERM_CHILD`) and signals",
        "consequence": "a deploy restart loses the job",
    },
    JobKind.DELAYED_JOB: {
        "swallowed": "`NoMemoryError`, `SystemStackError`, `ScriptError`, `SystemExit` and "
        "signals (with `raise_signal_exceptions`)",
        "consequence": "Delayed Job marks the job done and never retries it",
    },
}
# Delayed Job hooks that run once the job has succeeded or failed: nothing there decides it
OUTCOME_HOOKS = frozenset({"error", "failure", "after", "success"})


def _after_the_outcome(rescue: Node, app: App) -> bool:
    """In a Delayed Job hook that runs after the job's outcome, or in a method of the job
    that only such hooks call (one level)."""
    method = ruby.enclosing(rescue, ruby.METHOD_TYPES)
    if method is None:
        return False
    name = ruby.method_name(method)
    if name in OUTCOME_HOOKS:
        return True
    owner = app.enclosing_class(method)
    if owner is None:
        return False
    callers = {
        defined.name
        for ancestor in app.classes.lineage(owner)
        for definition in app.classes.definitions.get(ancestor, ())
        for defined in definition.methods.values()
        if name in defined.calls and defined.name != name
    }
    return bool(callers) and callers <= OUTCOME_HOOKS
