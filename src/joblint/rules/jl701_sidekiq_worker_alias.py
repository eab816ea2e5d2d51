from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Edit, Hit, Severity
from ..rails.app import App
from ..source import SourceFile
from . import Examples, Rule, register

_INCLUDES = ruby.compile_query(
    """
    (call
      method: (identifier) @method (#eq? @method "include")
      arguments: (argument_list
        (scope_resolution
          scope: [(constant) (scope_resolution)] @scope
          name: (constant) @name (#eq? @name "Worker")) @mixin))
    """
)
FIRST_JOB_VERSION = (6, 3)  # Sidekiq::Job exists since 6.3


@register
class SidekiqWorkerAlias(Rule):
    """
    ## What it does
    Finds `include Sidekiq::Worker` and offers to replace it with `include Sidekiq::Job`.

    ## Why is this bad?
    `Sidekiq::Job` has been the primary name since Sidekiq 6.3; `Sidekiq::Worker` is kept
    only as a compatibility alias, and new documentation, generators and APIs use `Job`.
    Mixing both names in one app makes searching for jobs harder.

    The rule stays silent when `Gemfile.lock` locks a Sidekiq older than 6.3, where
    `Sidekiq::Job` does not exist; without a lock file it assumes a current Sidekiq.

    ## Example
    ```ruby
    class HardWorker
      include Sidekiq::Worker
    end
    ```

    ## Use instead
    ```ruby
    class HardWorker
      include Sidekiq::Job
    end
    ```

    ## Fix safety
    Safe: `Sidekiq::Worker` is the same module as `Sidekiq::Job` (an alias), so `--fix`
    rewrites only the constant name and nothing else changes.
    """

    code = "JL701"
    name = "sidekiq-worker-alias"
    severity = Severity.INFO
    default_enabled = False
    scope = "file"
    summary = "`include Sidekiq::Worker` instead of `Sidekiq::Job`"
    message = "`{mixin}` is the old alias of `Sidekiq::Job`"
    help = "Include Sidekiq::Job (same module, primary name since Sidekiq 6.3)"
    triggers = ("Sidekiq::Worker",)
    fixable = True

    examples = Examples(
        bad=[
            {
                "app/workers/hard_worker.rb": """
                class HardWorker
                  include Sidekiq::Worker # expect: JL701

                  def perform(id); end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    sidekiq (7.2.4)
                """,
                "app/workers/concerns/base_worker.rb": """
                module BaseWorker
                  def self.included(base)
                    base.include ::Sidekiq::Worker # expect: JL701
                  end
                end
                """,
                "app/sidekiq/sync_worker.rb": """
                class SyncWorker
                  include ::Sidekiq::Worker, Sidekiq::Throttled::Job # expect: JL701
                end
                """,
            },
        ],
        good=[
            {
                "app/workers/hard_worker.rb": """
                class HardWorker
                  include Sidekiq::Job

                  def perform(id); end
                end
                """,
                "spec/workers/hard_worker_spec.rb": """
                RSpec.describe HardWorker do
                  before { Sidekiq::Worker.clear_all }
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    sidekiq (5.2.10)
                """,
                "app/workers/legacy_worker.rb": """
                class LegacyWorker
                  include Sidekiq::Worker
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        version = app.gems.get("sidekiq")
        if version is not None and version < FIRST_JOB_VERSION:
            return
        for _, caps in ruby.matches(_INCLUDES, source.root):
            if ruby.constant_path(caps["scope"][0]) != "Sidekiq":
                continue
            mixin = caps["mixin"][0]
            name = caps["name"][0]
            yield Hit.at(mixin, edits=(Edit.replace(name, "Job"),), mixin=ruby.text(mixin))
