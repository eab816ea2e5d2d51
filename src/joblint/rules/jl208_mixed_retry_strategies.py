from __future__ import annotations

from collections.abc import Iterator

from ..findings import Hit, Severity
from ..rails.app import App
from ..rails.jobs import JobKind
from ..rails.retries import SidekiqRetry, sidekiq_retries
from ..source import SourceFile
from . import Examples, Rule, register


def mixed_retry_ons(app: App) -> dict[tuple[str, int], tuple[str, SidekiqRetry]]:
    """(path, start byte) of each `retry_on` that a job combines with Sidekiq retries → the job
    and the `sidekiq_options` declaration."""
    return app.fact("mixed_retry_ons", _build_mixed)


def _build_mixed(app: App) -> dict[tuple[str, int], tuple[str, SidekiqRetry]]:
    mixed: dict[tuple[str, int], tuple[str, SidekiqRetry]] = {}
    if app.backend.adapter != "sidekiq":
        return mixed
    retries = sidekiq_retries(app)
    if not retries:
        return mixed
    classes = app.classes
    for job in classes.names():
        if app.jobs.kind(job) is not JobKind.ACTIVE_JOB:
            continue
        option = next((retries[o] for o in classes.lineage(job) if o in retries), None)
        if option is None or not option.enabled:
            continue
        for handler in classes.handlers(job):
            if handler.method == "retry_on":
                mixed.setdefault((handler.path, handler.start_byte), (job, option))
    return mixed


@register
class MixedRetryStrategies(Rule):
    """
    ## What it does
    Finds a `retry_on` in an ActiveJob job (or its ancestors) that also has
    `sidekiq_options retry:` set to something other than `false`/`0` (in itself or an
    ancestor), when the app runs Active Job on the Sidekiq adapter.

    ## Why is this bad?
    `retry_on` re-enqueues the job itself, and re-raises once its attempts are used up — then
    Sidekiq's own retry mechanism starts over with its count. A failing job is retried twice
    over (5 × 25 attempts), for days, and its `retry_on` block (the give-up logic) does not
    end anything. With `retry_on`, give Sidekiq `retry: false`.

    The adapter comes from `config.active_job.queue_adapter` (or the only job backend in
    Gemfile.lock). A `retry:` value joblint cannot read is not reported; `sidekiq_options`
    without `retry:` is not reported either.

    ## Example
    ```ruby
    class SyncJob < ApplicationJob
      sidekiq_options retry: 10
      retry_on Faraday::Error, attempts: 5
    end
    ```

    ## Use instead
    ```ruby
    class SyncJob < ApplicationJob
      sidekiq_options retry: false
      retry_on Faraday::Error, attempts: 5
    end
    ```
    """

    code = "JL208"
    name = "mixed-retry-strategies"
    severity = Severity.WARNING
    scope = "project"
    summary = "ActiveJob retry_on combined with Sidekiq's own retries"
    message = "`retry_on` and `sidekiq_options retry:` ({option}) both retry `{job}`: failures are retried twice over"
    help = "Set sidekiq_options retry: false on jobs that use retry_on"
    triggers = ("retry_on",)

    examples = Examples(
        bad=[
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    sidekiq (7.3.0)
                """,
                "app/jobs/sync_job.rb": """
                class SyncJob < ApplicationJob
                  sidekiq_options retry: 10
                  retry_on Faraday::Error, attempts: 5 # expect: JL208

                  def perform(id); end
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
                  sidekiq_options retry: true
                end
                """,
                "app/jobs/import_job.rb": """
                class ImportJob < ApplicationJob
                  retry_on Timeout::Error # expect: JL208
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
                    sidekiq (7.3.0)
                """,
                "app/jobs/application_job.rb": """
                class ApplicationJob < ActiveJob::Base
                  sidekiq_options retry: 5
                end
                """,
                "app/jobs/sync_job.rb": """
                class SyncJob < ApplicationJob
                  sidekiq_options retry: false
                  retry_on Faraday::Error, attempts: 5

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
                "app/jobs/sync_job.rb": """
                class SyncJob < ApplicationJob
                  sidekiq_options retry: 3
                  retry_on Faraday::Error, attempts: 5

                  def perform(id); end
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        mixed = mixed_retry_ons(app)
        if not mixed:
            return
        for definition in app.definitions_in(source):
            for handler in definition.handlers:
                found = mixed.get((handler.path, handler.start_byte))
                if found is None or handler.path != source.relpath:
                    continue
                job, option = found
                where = (
                    f"line {option.line}"
                    if option.path == source.relpath
                    else f"{option.path}:{option.line}"
                )
                yield Hit(
                    handler.start_byte,
                    handler.end_byte,
                    {"job": job, "option": where},
                    scope=definition.name,
                    anchor=f"retry_on {' '.join(handler.exceptions)}",
                )
