from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..rails.app import App
from ..ruby import Node
from ..source import SourceFile
from . import Examples, Rule, register

_CONTROLS = ruby.compile_query(
    """
    (call !receiver method: (identifier) @method
      (#any-of? @method "limits_concurrency" "good_job_control_concurrency_with")) @call
    """
)


@register
class ConcurrencyLimitWithoutKey(Rule):
    """
    ## What it does
    Finds Solid Queue `limits_concurrency` without `key:` (or with `key: nil`) or with a
    literal `to:` below 1, and GoodJob `good_job_control_concurrency_with` without `key:`.

    ## Why is this bad?
    The key decides which jobs compete for the limit. Without one, GoodJob uses the class
    name: every job of the class shares one limit, whatever its arguments — a limit meant to
    stop two syncs of the same account serialises the syncs of all accounts. Current Solid
    Queue versions require `key:` and raise `ArgumentError` when the class loads; older ones
    fall back to a key shared by the whole class. With `to: 0` no job of the class can ever
    acquire the semaphore: they stay blocked (error).

    A `to:` or `key:` given by a variable or constant is not judged.

    A job whose `perform` takes no arguments has nothing to key on — one limit for the whole
    class is what it wants — and is not reported.

    ## Example
    ```ruby
    class SyncAccountJob < ApplicationJob
      limits_concurrency to: 1, duration: 5.minutes
    end
    ```

    ## Use instead
    ```ruby
    class SyncAccountJob < ApplicationJob
      limits_concurrency to: 1, key: ->(account_id) { account_id }, duration: 5.minutes
    end
    ```
    """

    code = "JL604"
    name = "concurrency-limit-without-key"
    severity = Severity.WARNING
    scope = "file"
    summary = "A concurrency limit without a key, or one no job can pass"
    message = "`{method}` {what}"
    help = "Give the limit a key built from the job's arguments, and a limit of at least 1"
    triggers = ("limits_concurrency", "good_job_control_concurrency_with")

    examples = Examples(
        bad=[
            {
                "app/jobs/sync_account_job.rb": """
                class SyncAccountJob < ApplicationJob
                  retry_on Net::ReadTimeout
                  limits_concurrency to: 1, duration: 5.minutes # expect: JL604

                  def perform(account_id); end
                end
                """,
                "app/jobs/import_job.rb": """
                class ImportJob < ApplicationJob
                  retry_on Net::ReadTimeout
                  limits_concurrency to: 0, key: ->(id) { id } # expect: JL604

                  def perform(id); end
                end
                """,
            },
            {
                "app/jobs/report_job.rb": """
                class ReportJob < ApplicationJob
                  include GoodJob::ActiveJobExtensions::Concurrency
                  retry_on Net::ReadTimeout

                  good_job_control_concurrency_with( # expect: JL604
                    total_limit: 2,
                    perform_limit: 1
                  )

                  def perform(report_id); end
                end
                """,
            },
        ],
        good=[
            {
                "app/jobs/nightly_rollup_job.rb": """
                class NightlyRollupJob < ApplicationJob
                  limits_concurrency to: 1

                  def perform
                    Rollup.rebuild!
                  end
                end
                """,
            },
            {
                "app/jobs/sync_account_job.rb": """
                class SyncAccountJob < ApplicationJob
                  retry_on Net::ReadTimeout
                  limits_concurrency to: 2, key: ->(account_id) { account_id }, duration: 5.minutes

                  def perform(account_id); end
                end
                """,
                "app/jobs/concerns/one_at_a_time.rb": """
                module OneAtATime
                  extend ActiveSupport::Concern
                  included do
                    limits_concurrency key: ->(record) { record }, to: MAX_SYNCS
                  end
                end
                """,
            },
            {
                "app/jobs/report_job.rb": """
                class ReportJob < ApplicationJob
                  include GoodJob::ActiveJobExtensions::Concurrency
                  retry_on Net::ReadTimeout

                  good_job_control_concurrency_with(
                    total_limit: 1,
                    key: -> { "report-#{arguments.first}" }
                  )

                  def perform(report_id); end
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        for _, caps in ruby.matches(_CONTROLS, source.root):
            call = caps["call"][0]
            if any(a.type == "hash_splat_argument" for a in ruby.call_arguments(call)):
                continue
            options = ruby.keyword_arguments(call)
            method = ruby.call_method(call)
            key = options.get("key")
            if (key is None or key.type == "nil") and not _perform_takes_nothing(call, app):
                yield Hit.at(call, method=method, what=f"has no `key:`: {_WITHOUT_KEY[method]}")
            limit = options.get("to") if method == "limits_concurrency" else None
            if limit is not None and _below_one(limit):
                yield Hit.at(
                    limit,
                    severity=Severity.ERROR,
                    method=method,
                    what=f"with `to: {ruby.text(limit)}` never lets a job run: they stay blocked",
                )


_WITHOUT_KEY = {
    "limits_concurrency": "Solid Queue raises ArgumentError when the class loads (older versions "
    "share one limit across every job of the class)",
    "good_job_control_concurrency_with": "every job of the class shares one limit, whatever its "
    "arguments",
}


def _perform_takes_nothing(call: Node, app: App) -> bool:
    """A job whose `perform` takes no arguments has nothing to key on: the class-wide limit is
    what it wants."""
    owner = app.enclosing_class(call)
    perform = app.classes.find_method(owner, "perform") if owner is not None else None
    if perform is None:
        return False
    signature = perform.signature
    return not (signature.required or signature.optional or signature.splat or signature.has_keywords)


def _below_one(value: Node) -> bool:
    if value.type not in ("integer", "float"):
        return False
    try:
        return float(ruby.text(value).replace("_", "")) < 1
    except ValueError:
        return False
