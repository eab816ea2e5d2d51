from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..rails.app import App
from ..rails.named_calls import calls_named
from ..ruby import Node
from ..source import SourceFile
from . import Examples, Rule, register
from ._loops import head_hit

_RETRY_ON = frozenset({"retry_on"})


@register
class UnlimitedRetry(Rule):
    """
    ## What it does
    Finds `retry_on` with `attempts: :unlimited` (or `Float::INFINITY`), and `retry_on
    Exception`.

    ## Why is this bad?
    A job retried without limit never gives up: an error that cannot heal — a deleted record,
    a bug, a revoked API key — keeps the job cycling through the queue forever, taking worker
    time and hiding the failure from the dead set or failed executions where someone would see
    it. `retry_on Exception` retries everything, including errors that can never succeed and
    `SignalException`/`Interrupt`, which are not errors of the job at all.

    `retry_on` with a bounded `attempts:` (the default is 5) is not reported unless it names
    `Exception`.

    ## Example
    ```ruby
    retry_on Exception, attempts: :unlimited
    ```

    ## Use instead
    ```ruby
    retry_on Net::ReadTimeout, Faraday::ConnectionFailed, attempts: 10, wait: :polynomially_longer
    ```
    """

    code = "JL207"
    name = "unlimited-retry"
    severity = Severity.WARNING
    scope = "file"
    summary = "retry_on without a bound: attempts: :unlimited or retry_on Exception"
    message = "{what}: a failure that cannot heal is retried forever instead of surfacing"
    help = "Retry the specific transient errors, with a bounded attempts: count"
    triggers = ("retry_on",)

    examples = Examples(
        bad=[
            {
                "app/jobs/sync_job.rb": """
                class SyncJob < ApplicationJob
                  retry_on Net::ReadTimeout, attempts: :unlimited # expect: JL207

                  def perform(id); end
                end
                """,
            },
            {
                "app/jobs/application_job.rb": """
                class ApplicationJob < ActiveJob::Base
                  retry_on ::Exception, wait: 5.minutes # expect: JL207
                  retry_on Redis::CannotConnectError, # expect: JL207
                    attempts: Float::INFINITY
                end
                """,
            },
        ],
        good=[
            {
                "app/jobs/sync_job.rb": """
                class SyncJob < ApplicationJob
                  retry_on StandardError, wait: :polynomially_longer
                  retry_on Net::ReadTimeout, attempts: 10

                  def perform(id); end
                end
                """,
            },
            {
                "app/jobs/application_job.rb": """
                class ApplicationJob < ActiveJob::Base
                  MAX_ATTEMPTS = 8
                  retry_on ActiveRecord::Deadlocked, attempts: MAX_ATTEMPTS
                  retry_on CustomException, attempts: 3
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        for call in calls_named(source, _RETRY_ON):
            reasons = []
            if any(ruby.constant_path(arg) == "Exception" for arg in ruby.call_arguments(call)):
                reasons.append("`retry_on Exception` retries every error, signals included")
            attempts = ruby.keyword_arguments(call).get("attempts")
            if attempts is not None and _unlimited(attempts):
                reasons.append(f"`attempts: {ruby.text(attempts)}` never gives up")
            if reasons:
                yield head_hit(call, what="; ".join(reasons))


def _unlimited(value: Node) -> bool:
    if value.type == "simple_symbol":
        return ruby.string_value(value) == "unlimited"
    return ruby.constant_path(value) == "Float::INFINITY"
