from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..rails.app import App
from ..rails.named_calls import calls_named
from ..source import SourceFile
from . import Examples, Rule, register
from ._loops import head_hit

_THREADS = frozenset({"new", "start", "fork"})


@register
class ThreadInJob(Rule):
    """
    ## What it does
    Finds `Thread.new`, `Thread.start` and `Thread.fork` in a job.

    ## Why is this bad?
    The job is reported done when `perform` returns, not when its threads finish: the
    backend acknowledges the job, a deploy or a memory kill ends the process, and the threads'
    work is lost without a retry. An exception in a thread never reaches the job's
    `retry_on`/`rescue_from` or the backend's retries. The threads also use database
    connections the pool was not sized for (`ActiveRecord::ConnectionTimeoutError`) and run
    outside the Rails executor, so they miss the job's `Current` attributes and query cache.
    Fan out with more jobs instead — the backend already runs them concurrently.

    ## Example
    ```ruby
    def perform(ids)
      ids.map { |id| Thread.new { Api.push(id) } }.each(&:join)
    end
    ```

    ## Use instead
    ```ruby
    def perform(ids)
      ActiveJob.perform_all_later(ids.map { |id| PushJob.new(id) })
    end
    ```
    """

    code = "JL507"
    name = "thread-in-job"
    severity = Severity.WARNING
    scope = "file"
    summary = "A job starting threads of its own"
    message = "`{call}` in a job: its work and errors escape the backend's retries and shutdown"
    help = "Enqueue more jobs instead of starting threads; the backend runs them concurrently"
    triggers = ("Thread",)

    examples = Examples(
        bad=[
            {
                "app/jobs/push_job.rb": """
                class PushJob < ApplicationJob
                  discard_on ActiveJob::DeserializationError

                  def perform(ids)
                    ids.map { |id| Thread.new { Api.push(id) } }.each(&:join) # expect: JL507
                  end
                end
                """,
            },
            {
                "app/workers/push_worker.rb": """
                class PushWorker
                  include Sidekiq::Job

                  def perform(id)
                    ::Thread.start(id) do |pushed| # expect: JL507
                      Api.push(pushed)
                    end
                  end
                end
                """,
            },
        ],
        good=[
            {
                "app/jobs/push_job.rb": """
                class PushJob < ApplicationJob
                  discard_on ActiveJob::DeserializationError

                  def perform(ids)
                    ActiveJob.perform_all_later(ids.map { |id| PushOneJob.new(id) })
                    Thread.current[:pushed] = true
                    Queue.new
                  end
                end
                """,
            },
            {
                "config/initializers/metrics.rb": """
                Thread.new { Metrics.flush_forever }
                """,
                "app/services/pusher.rb": """
                class Pusher
                  def call(ids)
                    ids.map { |id| Thread.new { Api.push(id) } }.each(&:join)
                  end
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        for call in calls_named(source, _THREADS, receiver=True):
            if ruby.constant_path(ruby.call_receiver(call)) != "Thread":
                continue
            if app.job_kind_at(source, call) is None:
                continue
            yield head_hit(call, call=f"Thread.{ruby.call_method(call)}")
