from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..rails.app import App
from ..source import SourceFile
from . import Examples, Rule, register
from ._loops import RESCUES, reraises, rescue_body, rescue_hit, rescued_classes


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
    message = "`{clause}` without re-raise also swallows `Sidekiq::Shutdown` and signals: a deploy restart loses the job"
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
        ],
        good=[
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
        for _, caps in ruby.matches(RESCUES, source.root):
            rescue = caps["rescue"][0]
            classes = rescued_classes(rescue)
            if not classes or "Exception" not in classes:
                continue
            if app.job_kind_at(source, rescue) is None or reraises(rescue_body(rescue)):
                continue
            yield rescue_hit(rescue)
