from __future__ import annotations

from collections.abc import Iterator

from ..findings import Hit, Severity
from ..rails.app import App
from ..source import SourceFile
from . import Examples, Rule, register


@register
class UnusedSuppression(Rule):
    """
    ## What it does
    Reports a `# joblint:disable` comment (trailing, region or `disable-file`) that suppressed
    no finding, once per rule it names, and names in it that are no joblint rule.

    ## Why is this bad?
    A stale suppression hides the next real finding on that line or in that region, and a
    misspelt code suppresses nothing while looking as if it did. Only rules that ran are judged:
    a directive for a rule turned off with `--ignore` is left alone.

    This rule is applied by the engine after the other rules, to every file containing
    `joblint:` — the file need not be parsed.

    ## Example
    ```ruby
    WelcomeJob.perform_later(user.id) # joblint:disable JL101
    ```

    ## Use instead
    ```ruby
    WelcomeJob.perform_later(user.id)
    ```
    """

    code = "JL003"
    name = "unused-suppression"
    severity = Severity.INFO
    scope = "file"
    summary = "A joblint:disable comment that suppresses nothing"
    message = "{detail}"
    help = "Remove the suppression, or fix the rule code it names"
    triggers = ("joblint:",)

    examples = Examples(
        bad=[
            {
                "app/models/user.rb": """
                class User < ApplicationRecord
                end
                """,
                "app/controllers/users_controller.rb": """
                class UsersController < ApplicationController
                  def create
                    user = User.create!(user_params)
                    WelcomeJob.perform_later(user.id) # joblint:disable JL101 # expect: JL003
                  end
                end
                """,
            },
            {
                "app/jobs/sync_job.rb": """
                # joblint:disable-file JL201, JL999 -- legacy, see #412 # expect: JL003
                class SyncJob < ApplicationJob
                  def perform; end
                end
                """,
            },
        ],
        good=[
            {
                "app/models/user.rb": """
                class User < ApplicationRecord
                end
                """,
                "app/workers/welcome_worker.rb": """
                class WelcomeWorker
                  include Sidekiq::Job
                  def perform(user); end
                end
                class AuditWorker < WelcomeWorker; end
                """,
                "app/controllers/users_controller.rb": """
                class UsersController < ApplicationController
                  def create
                    user = User.create!(user_params)
                    # joblint:disable record-argument -- a legacy custom serializer handles it
                    WelcomeWorker.perform_async(user)
                    AuditWorker.perform_async(user)
                    # joblint:enable record-argument
                    WelcomeWorker.perform_async(user.id)
                  end
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
                class SyncJob < ApplicationJob # joblint:disable JL201
                  def perform
                    log "# joblint:disable JL101 is only text here"
                  end
                end
                """,
            },
        ],
    )

    @classmethod
    def applies_to(cls, source: SourceFile) -> bool:
        return False  # applied by the engine after the other rules (see engine._suppress)

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        return iter(())
