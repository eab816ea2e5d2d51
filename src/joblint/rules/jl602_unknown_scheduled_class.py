from __future__ import annotations

from collections.abc import Iterator

from ..findings import Hit, Severity
from ..rails import schedules
from ..rails.app import App
from ..rails.jobs import ENQUEUE_METHODS
from ..source import SourceFile
from . import Examples, Rule, register


@register
class UnknownScheduledClass(Rule):
    """
    ## What it does
    Finds a schedule entry naming a class the project does not define: Solid Queue
    `config/recurring.yml` `class:`, sidekiq-cron and sidekiq-scheduler YAML `class:`/`klass:`,
    GoodJob `config.good_job.cron` `class:`, and whenever `runner "Foo.perform_later"` lines in
    `config/schedule.rb`. Points at the class name in the YAML (or Ruby) line.

    ## Why is this bad?
    The scheduler constantizes the name only when the entry is due: a typo or a renamed job
    means the recurring work silently never happens (GoodJob cron class typos are silent,
    good_job#1261; Solid Queue validates only when the scheduler boots).

    Names are looked up as written, from the top level, among the classes of `app/`, `lib/`
    and engines. Classes under framework namespaces (`ActiveStorage::`, `SolidQueue::`…) or the
    namespace of a gem in `Gemfile.lock` (`PgHero::` for `pghero`) are assumed to exist. A whenever `runner` is checked only when it enqueues
    or performs a job (`perform_later`, `perform_async`, `perform_now`…) or names a `…Job`/
    `…Worker` class; `command:`, `rake` and plain Ruby entries are not checked. An app in
    which joblint finds no job class at all is not checked either.

    ## Example
    ```yaml
    production:
      cleanup:
        class: CleanUpJob   # the class is CleanupJob
        schedule: every hour
    ```

    ## Use instead
    ```yaml
    production:
      cleanup:
        class: CleanupJob
        schedule: every hour
    ```
    """

    code = "JL602"
    name = "unknown-scheduled-class"
    severity = Severity.ERROR
    scope = "project"
    summary = "A schedule entry names a class the project does not define"
    message = "Schedule entry `{entry}` runs `{klass}`, which the project does not define"
    help = "Fix the class name (fully qualified, as `Module::NameJob`) or remove the entry"
    triggers = ("class", "runner", "cron")

    @classmethod
    def applies_to(cls, source: SourceFile) -> bool:
        return source.relpath in schedules.SCHEDULE_FILES or schedules.is_ruby_schedule_file(source)

    examples = Examples(
        bad=[
            {
                "config/recurring.yml": """
                production: &production
                  cleanup:
                    class: CleanUpJob # expect: JL602
                    schedule: every hour
                  reindex:
                    class: "Search::ReindexJob"
                    schedule: "0 3 * * *"
                development: *production
                """,
                "app/jobs/cleanup_job.rb": """
                class CleanupJob < ApplicationJob
                  retry_on Timeout::Error
                  def perform; end
                end
                """,
                "app/jobs/search/reindex_job.rb": """
                module Search
                  class ReindexJob < ApplicationJob
                    retry_on Timeout::Error
                    def perform; end
                  end
                end
                """,
            },
            {
                "config/initializers/good_job.rb": """
                Rails.application.configure do
                  config.good_job.cron = {
                    digest: { cron: "every day at 7am", class: "DailyDigestJob" }, # expect: JL602
                    sweep: { cron: "*/10 * * * *", class: "SweepJob" },
                  }
                end
                """,
                "config/schedule.rb": """
                every 1.day, at: "4:30 am" do
                  runner "NightlyExportJob.perform_later" # expect: JL602
                  runner "SweepJob.perform_later"
                  rake "db:sessions:trim"
                end
                """,
                "app/jobs/sweep_job.rb": """
                class SweepJob < ApplicationJob
                  discard_on ActiveJob::DeserializationError
                  def perform; end
                end
                """,
            },
        ],
        good=[
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    pghero (3.6.0)
                """,
                "config/schedule.yml": """
                capture_query_stats:
                  cron: "*/5 * * * *"
                  class: "PgHero::CaptureQueryStatsJob"
                purge_blobs:
                  cron: "0 4 * * *"
                  class: "ActiveStorage::PurgeJob"
                heartbeat:
                  cron: "* * * * *"
                  class: "HeartbeatWorker"
                """,
                "app/workers/heartbeat_worker.rb": """
                class HeartbeatWorker
                  include Sidekiq::Job
                  def perform; end
                end
                """,
            },
            {
                "config/recurring.yml": """
                production:
                  clear_finished:
                    command: "SolidQueue::Job.clear_finished_in_batches"
                    schedule: every hour at minute 12
                """,
                "config/schedule.rb": """
                every :hour do
                  runner "Rails.cache.cleanup"
                  runner "Report.refresh_all"
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        if not schedules.defines_jobs(app):
            return
        for entry in schedules.entries_in(app, source):
            klass = entry.class_name
            if klass is None or klass.text.removeprefix("::") in app.classes:
                continue
            if entry.backend == "whenever" and not (
                schedules.runner_method(entry) in ENQUEUE_METHODS + ("perform_now",)
                or klass.text.endswith(("Job", "Worker"))
            ):
                continue
            if schedules.external_constant(klass.text, app):
                continue
            yield Hit(klass.start_byte, klass.end_byte, {"entry": entry.key.text, "klass": klass.text},
                      scope=entry.label, anchor=klass.text)
