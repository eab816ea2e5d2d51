from __future__ import annotations

from collections.abc import Iterator

from ..findings import Hit, Severity
from ..rails import schedules
from ..rails.app import App
from ..rails.cron import schedule_problem
from ..source import SourceFile
from . import Examples, Rule, register


@register
class InvalidSchedule(Rule):
    """
    ## What it does
    Checks every schedule string: Solid Queue `schedule:` in `config/recurring.yml`,
    sidekiq-cron and sidekiq-scheduler `cron:`, and GoodJob `cron:` in `config.good_job.cron`.
    A string must parse as cron — 5 fields, or 6 with seconds first; lists, ranges, steps,
    month and day names, `L`, `mon#2`, `~` random values, `@hourly`-style shortcuts, an
    optional trailing time zone — or as the Fugit natural language these backends accept
    (`every 5 minutes`, `every day at 9am`, `every monday at noon`, `every weekday at five`,
    `every hour at minute 50`…). Also reports a Solid Queue recurring entry with neither `class:`
    nor `command:`, and one that is a single value (`nightly: DigestJob`) instead of a mapping,
    at the entry's key.

    ## Why is this bad?
    Solid Queue validates recurring tasks only when the scheduler boots, and then refuses to
    start; GoodJob and sidekiq-cron skip or fail the entry. Either way the recurring job does
    not run, and nothing in CI notices.

    The natural-language check accepts the words of Fugit::Nat's grammar and rejects the
    shapes Fugit refuses (`every 2 weeks`, `every 2 years`, more than two digits after
    `every`); a value computed by ERB is not checked. sidekiq-scheduler `every:`/`in:`/`at:`
    durations and whenever's `every` are not checked. An environment left empty
    (`development:`) and keys beside the environment sections are not entries.

    ## Example
    ```yaml
    production:
      digest:
        class: DigestJob
        schedule: every weekday at 25:00
      sweep:
        schedule: every hour
    ```

    ## Use instead
    ```yaml
    production:
      digest:
        class: DigestJob
        schedule: every weekday at 9am
      sweep:
        class: SweepJob
        schedule: every hour
    ```
    """

    code = "JL603"
    name = "invalid-schedule"
    severity = Severity.ERROR
    scope = "project"
    summary = "A recurring schedule string that neither cron nor Fugit can parse"
    message = "Schedule entry `{entry}`: {why}"
    help = "Use cron (`0 9 * * 1-5`) or Fugit's natural language (`every weekday at 9am`)"
    triggers = ("schedule", "cron", "class", "command")

    @classmethod
    def applies_to(cls, source: SourceFile) -> bool:
        return source.relpath in schedules.SCHEDULE_FILES or schedules.is_ruby_schedule_file(source)

    @classmethod
    def wants(cls, source: SourceFile) -> bool:
        # a recurring file of single-value entries holds none of the trigger words
        return source.relpath in schedules.RECURRING_FILES or super().wants(source)

    examples = Examples(
        bad=[
            {
                "config/recurring.yml": """
                default: &default
                  digest:
                    class: DigestJob
                    schedule: every weekday at 25:00 # expect: JL603
                  sweep: # expect: JL603
                    args: [42]
                    schedule: every hour
                  nightly_digest: DigestJob # expect: JL603
                production:
                  <<: *default
                """,
                "app/jobs/digest_job.rb": """
                class DigestJob < ApplicationJob
                  retry_on Timeout::Error
                  def perform; end
                end
                """,
            },
            {
                "config/schedule.yml": """
                - name: sync
                  cron: "*/0 * * * *" # expect: JL603
                  class: SyncWorker
                - name: report
                  cron: "every 2 weeks" # expect: JL603
                  class: SyncWorker
                """,
                "app/workers/sync_worker.rb": """
                class SyncWorker
                  include Sidekiq::Job
                  def perform; end
                end
                """,
            },
        ],
        good=[
            {
                "config/recurring.yml": """
                production:
                  digest:
                    class: DigestJob
                    schedule: every weekday at five
                  sweep:
                    command: "Session.sweep"
                    schedule: "*/15 * * * *"
                  tidy:
                    class: DigestJob
                    schedule: <%= ENV.fetch("TIDY_SCHEDULE", "every hour") %>
                  <%= "extra: { class: DigestJob, schedule: every hour }" if ENV["EXTRA"] %>
                staging:
                development:
                """,
                "app/jobs/digest_job.rb": """
                class DigestJob < ApplicationJob
                  retry_on Timeout::Error
                  def perform; end
                end
                """,
            },
            {
                "config/initializers/good_job.rb": """
                Rails.application.configure do
                  config.good_job.cron = {
                    stats: { cron: "every 15s", class: "StatsJob" },
                    nightly: { cron: "0 4 * * * America/New_York", class: "StatsJob" },
                  }
                end
                """,
                "app/jobs/stats_job.rb": """
                class StatsJob < ApplicationJob
                  retry_on Timeout::Error
                  def perform; end
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        for entry in schedules.entries_in(app, source):
            if not entry.is_mapping:
                yield Hit(entry.key.start_byte, entry.key.end_byte,
                          {"entry": entry.key.text,
                           "why": "it is a single value, not a mapping of `class:`/`command:`, `schedule:`…"},
                          scope=entry.label, anchor="not-a-mapping")
                continue
            if entry.backend == "solid_queue" and not entry.names_target:
                yield Hit(entry.key.start_byte, entry.key.end_byte,
                          {"entry": entry.key.text,
                           "why": "it has neither `class:` nor `command:`, so it runs nothing"},
                          scope=entry.label, anchor="no-target")
            if entry.schedule is None:
                continue
            problem = schedule_problem(entry.schedule.text)
            if problem is not None:
                yield Hit(entry.schedule.start_byte, entry.schedule.end_byte,
                          {"entry": entry.key.text,
                           "why": f"`{entry.schedule.text}` cannot be parsed ({problem})"},
                          scope=entry.label, anchor=entry.schedule.text)
