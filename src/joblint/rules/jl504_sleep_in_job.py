from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..rails.app import App
from ..source import SourceFile
from . import Examples, Rule, register

_SLEEPS = ruby.compile_query(
    """
    (call !receiver method: (identifier) @method (#eq? @method "sleep")) @call
    (call receiver: (constant) @kernel (#eq? @kernel "Kernel")
      method: (identifier) @method (#eq? @method "sleep")) @call
    ((identifier) @call (#eq? @call "sleep"))
    """
)


@register
class SleepInJob(Rule):
    """
    ## What it does
    Finds `sleep` (without a receiver, or `Kernel.sleep`) in a job.

    ## Why is this bad?
    A sleeping job holds a worker thread (and, for Solid Queue and GoodJob, a claimed
    execution) while doing nothing: five jobs sleeping 60 seconds on a five-thread worker stop
    the whole queue for a minute. A deploy that waits for running jobs waits for the sleeps
    too, and Sidekiq kills the job after its shutdown timeout. Waiting belongs to the queue:
    `retry_job(wait:)`, `set(wait:).perform_later`, `perform_in`, or `retry_on … wait:`.

    `sleep` outside jobs, and `sleep` methods of other objects (`throttle.sleep`), are not
    reported.

    ## Example
    ```ruby
    def perform(id)
      return sleep(30) && retry_job unless Export.find(id).ready?
    end
    ```

    ## Use instead
    ```ruby
    def perform(id)
      return retry_job(wait: 30.seconds) unless Export.find(id).ready?
    end
    ```
    """

    code = "JL504"
    name = "sleep-in-job"
    severity = Severity.WARNING
    default_enabled = False
    scope = "file"
    summary = "sleep inside a job, blocking a worker thread"
    message = "`{call}` blocks a worker thread while the job does nothing"
    help = "Let the queue wait: retry_job(wait:), set(wait:).perform_later or perform_in"
    triggers = ("sleep",)

    examples = Examples(
        bad=[
            {
                "app/jobs/poll_export_job.rb": """
                class PollExportJob < ApplicationJob
                  discard_on ActiveJob::DeserializationError

                  def perform(id)
                    until Export.find(id).ready?
                      sleep 5 # expect: JL504
                    end
                  end
                end
                """,
            },
            {
                "app/workers/rate_limited_worker.rb": """
                class RateLimitedWorker
                  include Sidekiq::Job

                  def perform(ids)
                    ids.each do |id|
                      Api.push(id)
                      Kernel.sleep(0.5) # expect: JL504
                    end
                    sleep # expect: JL504
                  end
                end
                """,
            },
        ],
        good=[
            {
                "app/jobs/poll_export_job.rb": """
                class PollExportJob < ApplicationJob
                  discard_on ActiveJob::DeserializationError

                  def perform(id)
                    retry_job(wait: 5.seconds) unless Export.find(id).ready?
                    throttle.sleep
                  end
                end
                """,
            },
            {
                "app/services/poller.rb": """
                class Poller
                  def call
                    sleep 5
                  end

                  def sleep(seconds) = Kernel.sleep(seconds)
                end
                """,
                "lib/tasks/wait.rake": """
                task wait: :environment do
                  sleep 1
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        for _, caps in ruby.matches(_SLEEPS, source.root):
            call = caps["call"][0]
            if call.type == "identifier" and not ruby.is_call(call, "sleep"):
                continue
            if app.job_kind_at(source, call) is None:
                continue
            yield Hit.at(call, call=ruby.text(call).split("\n", 1)[0])
