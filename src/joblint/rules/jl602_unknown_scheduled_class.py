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
    GoodJob `config.good_job.cron` `class:`, and whenever `runner "Foo.bar"` lines in
    `config/schedule.rb`. Also finds an entry whose class exists but is not a job — a plain
    service class or model with no `perform_later`/`perform_async` — and a whenever `runner`
    that calls `perform_later` on one. Points at the class name in the YAML (or Ruby) line.

    ## Why is this bad?
    The scheduler constantizes the name only when the entry is due: a typo or a renamed job
    means the recurring work silently never happens (GoodJob cron class typos are silent,
    good_job#1261; Solid Queue validates only when the scheduler boots). A class that is not a
    job passes that check and then fails with `NoMethodError` at the first tick.

    Names are looked up as written, from the top level, among the classes of `app/`, `lib/`
    and engines, the classes and modules defined under `config/`, and the constants assigned
    in those files (`OldSyncWorker = SyncJob`). Classes under framework namespaces
    (`ActiveStorage::`, `SolidQueue::`…), Ruby's own constants (in a `runner`) and the
    namespace of a gem in `Gemfile.lock` are assumed to exist. A gem names a namespace by its
    whole name or its leading words (`pghero` → `PgHero::`, `maintenance_tasks` →
    `Maintenance::`), never by a mere prefix (`useragent` does not excuse `User::`), and never
    one the project defines itself. A class counts as "not a job" only when joblint sees its
    whole ancestry (project classes, Ruby's mixins, non-job Rails bases such as
    `ApplicationRecord`), it defines no class-level `perform` (a Resque job), `perform_later`,
    `perform_async` or `set` of its own, and no module extends it. `command:`, `rake` and
    whenever `command` entries are not checked. An app in which joblint finds no job class at
    all is not checked either.

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
    message = "Schedule entry `{entry}` runs `{klass}`, {problem}"
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
                  reconcile:
                    class: Billing::Reconciler # expect: JL602
                    schedule: every day at 2am
                  purge_users:
                    class: User::PurgeInactiveJob # expect: JL602
                    schedule: every day at 3am
                development: *production
                """,
                "Gemfile.lock": """
                GEM
                  specs:
                    useragent (0.16.10)
                """,
                "app/models/user.rb": """
                class User < ApplicationRecord
                end
                """,
                "app/services/billing/reconciler.rb": """
                module Billing
                  class Reconciler
                    def self.call = new.run
                    def run; end
                  end
                end
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
                  runner "Invoice.close_overdue!" # expect: JL602
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
                "Gemfile.lock": """
                GEM
                  specs:
                    blazer (3.0.0)
                """,
                "config/recurring.yml": """
                production:
                  clear_finished:
                    command: "SolidQueue::Job.clear_finished_in_batches"
                    schedule: every hour at minute 12
                  refresh:
                    class: RefreshReportsJob
                    schedule: every day at 5am
                """,
                "config/schedule.rb": """
                every :hour do
                  runner "Rails.cache.cleanup"
                  runner "Report.refresh_all"
                  runner "Blazer.run_checks(schedule: '1 hour')"
                  runner "Housekeeping.sweep"
                end
                """,
                "config/initializers/housekeeping.rb": """
                module Housekeeping
                  def self.sweep; end
                end
                """,
                "app/models/report.rb": """
                class Report < ApplicationRecord
                  def self.refresh_all; end
                end
                """,
                "app/jobs/refresh_reports_job.rb": """
                class RefreshReportsJob < ApplicationJob
                  retry_on Timeout::Error
                  def perform = Report.refresh_all
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
            if klass is None:
                continue
            name = klass.text.removeprefix("::")
            problem = None
            if name in app.classes:
                if self._enqueued(entry) and schedules.plain_class(name, app):
                    problem = "which is not a job (neither ActiveJob nor `Sidekiq::Job`): it cannot be enqueued"
            elif entry.backend == "whenever":
                if not schedules.runner_constant_known(name, app):
                    problem = "which the project does not define"
            elif not schedules.external_constant(name, app) and not schedules.project_constant(name, app):
                problem = "which the project does not define"
            if problem is not None:
                yield Hit(klass.start_byte, klass.end_byte,
                          {"entry": entry.key.text, "klass": klass.text, "problem": problem},
                          scope=entry.label, anchor=klass.text)

    @staticmethod
    def _enqueued(entry: schedules.ScheduleEntry) -> bool:
        """Does the scheduler enqueue the class? A `class:` entry does; a whenever `runner`
        only when it calls an enqueue method."""
        return entry.backend != "whenever" or schedules.runner_method(entry) in ENQUEUE_METHODS
