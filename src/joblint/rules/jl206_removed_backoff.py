from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Edit, Hit, Severity
from ..rails.app import App
from ..source import SourceFile
from . import Examples, Rule, register
from ._loops import head_hit

_RETRY_ON = ruby.compile_query(
    '(call method: (identifier) @method (#eq? @method "retry_on")) @call'
)
REMOVED = "exponentially_longer"
REPLACEMENT = ":polynomially_longer"


@register
class RemovedBackoff(Rule):
    """
    ## What it does
    Finds `retry_on …, wait: :exponentially_longer`.

    ## Why is this bad?
    `:exponentially_longer` was deprecated in Rails 7.1 and removed in 7.2. Nothing fails when
    the class loads: the error (`Couldn't determine a delay based on :exponentially_longer`)
    is raised only when a retry is about to be scheduled — so the job that should have been
    retried fails for good, in production, on the first error it meets.

    The symbol was renamed, not changed: `:polynomially_longer` computes the same delay
    (`executions ** 4` plus jitter). When the app's `Gemfile.lock` pins Rails below 7.1 the
    old name is the only one that exists there, so nothing is reported.

    ## Fix safety
    The fix replaces the symbol with `:polynomially_longer`; it is safe on every Rails that
    has the new name (7.1 and later).

    ## Example
    ```ruby
    retry_on Net::ReadTimeout, wait: :exponentially_longer, attempts: 10
    ```

    ## Use instead
    ```ruby
    retry_on Net::ReadTimeout, wait: :polynomially_longer, attempts: 10
    ```
    """

    code = "JL206"
    name = "removed-backoff"
    severity = Severity.ERROR
    scope = "file"
    summary = "retry_on wait: :exponentially_longer, removed in Rails 7.2"
    message = "`wait: :exponentially_longer` was removed in Rails 7.2: the job fails when it should be retried"
    help = "Use wait: :polynomially_longer (the same delay, renamed in Rails 7.1)"
    triggers = (REMOVED,)
    fixable = True

    examples = Examples(
        bad=[
            {
                "app/jobs/sync_job.rb": """
                class SyncJob < ApplicationJob
                  retry_on Net::ReadTimeout, wait: :exponentially_longer, attempts: 10 # expect: JL206

                  def perform(id); end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    rails (7.2.1)
                """,
                "app/jobs/concerns/network_retries.rb": """
                module NetworkRetries
                  extend ActiveSupport::Concern

                  included do
                    retry_on Faraday::TimeoutError, # expect: JL206
                      attempts: 5,
                      wait: :exponentially_longer
                  end
                end
                """,
            },
        ],
        good=[
            {
                "app/jobs/sync_job.rb": """
                class SyncJob < ApplicationJob
                  retry_on Timeout::Error, wait: 5
                  retry_on Net::ReadTimeout, wait: :polynomially_longer, attempts: 10
                  retry_on Faraday::TimeoutError, wait: 30.seconds
                  retry_on Redis::TimeoutError, wait: ->(executions) { executions * 2 }

                  def perform(id); end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    rails (7.0.8)
                """,
                "app/jobs/sync_job.rb": """
                class SyncJob < ApplicationJob
                  retry_on Net::ReadTimeout, wait: :exponentially_longer, attempts: 10

                  def perform(id); end
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        version = app.rails_version
        if version is not None and version < (7, 1):
            return  # the new name does not exist yet: the old one is right there
        for _, caps in ruby.matches(_RETRY_ON, source.root):
            call = caps["call"][0]
            wait = ruby.keyword_arguments(call).get("wait")
            if wait is None or wait.type != "simple_symbol" or ruby.string_value(wait) != REMOVED:
                continue
            yield head_hit(call, None, (Edit.replace(wait, REPLACEMENT),))
