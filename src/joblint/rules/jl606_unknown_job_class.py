from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ..files import walk_files
from ..findings import Hit, Severity
from ..patterns import lazy_pattern
from ..rails import schedules
from ..rails.app import App
from ..rails.jobs import ENQUEUE_METHODS
from ..rails.queues import enqueued_constants
from ..rails.schedules import external_constant
from ..source import SourceFile
from . import Examples, Option, Rule, register

# test code often defines its jobs in support files; migrations are history, never re-run
SKIPPED_DIRS = ("spec", "test", "features", "db")
_DEFINITION = lazy_pattern(rb"^[ \t]*(?:class|module)[ \t]+(?:::)?([A-Z][\w:]*)", re.MULTILINE)


def defined_anywhere(app: App) -> frozenset[str]:
    """The last segment of every `class`/`module` name written in the Ruby files of the root
    that the class index does not read."""

    def build(app: App) -> frozenset[str]:
        if app.root is None:
            return frozenset()
        indexed = {source.relpath for source in app.model_files}
        names: set[str] = set()
        accept = lambda p: p.endswith(".rb") and p not in indexed
        # the model directories are not walked again: every Ruby file there is indexed, but
        # for those the index could not read as text (not UTF-8…), which are scanned still
        paths = app.model_paths()
        unread = [] if len(indexed) - len(app.extras) >= len(paths) else [
            Path(p) for p in paths if app.relpath(p) not in indexed]
        walked = walk_files(app.root, app.root, accept, skip=app.model_dir_prefixes())
        for path in [*walked, *unread]:
            data = app.read_bytes(path)  # a regular file, at most the size limit
            if data is None:
                continue
            names.update(m.rsplit(b"::", 1)[-1].decode() for m in _DEFINITION.findall(data))
        return frozenset(names)

    return app.fact("defined_anywhere", build)


@register
class UnknownJobClass(Rule):
    """
    ## What it does
    Finds `Foo.perform_later`, `Foo.set(...).perform_later`, `Foo.perform_async` (and
    `perform_in`, `perform_at`, `perform_bulk`) where `Foo` ends in `Job` or `Worker`, the project
    defines jobs, and no class of that name is reachable by Ruby's constant lookup from the call
    site — the enclosing modules first, then the top level — anywhere in `app/`, `lib/` and
    engines. Points at the constant.

    ## Why is this bad?
    A typo or a job renamed without updating its callers raises `NameError` at the enqueue, in
    the middle of a request or another job, and only on that code path.

    Not reported: constants under framework or gem namespaces (`ActionMailer::`,
    `ActiveStorage::`, `Turbo::`, `SolidQueue::`, the namespace of any gem in `Gemfile.lock`),
    names in the `allow` option, calls in `spec/`, `test/` and `features/` (test jobs are often
    defined in support files) and in `db/` (old data migrations name jobs deleted since), apps
    that define no job at all, and names that a `class`/`module` line defines in a directory
    the class index does not read (`app/`, `lib/` and engines are read; multi-gem
    repositories keep jobs in `core/app/jobs`). Schedule files are JL602's.

    ## Example
    ```ruby
    class OrdersController < ApplicationController
      def create
        OrderConfirmationJob.perform_later(order.id)  # the job is OrderConfirmedJob
      end
    end
    ```

    ## Use instead
    ```ruby
    OrderConfirmedJob.perform_later(order.id)
    ```
    """

    code = "JL606"
    name = "unknown-job-class"
    severity = Severity.ERROR
    scope = "project"
    summary = "An enqueue names a job class the project does not define"
    message = "`{job}` is not defined in the project: this enqueue raises NameError"
    help = "Fix the class name, or add it to the rule's `allow` list if a gem defines it"
    triggers = ENQUEUE_METHODS
    options = {"allow": Option([], "Job class names defined outside the project (gems, engines)")}

    examples = Examples(
        bad=[
            {
                "app/jobs/order_confirmed_job.rb": """
                class OrderConfirmedJob < ApplicationJob
                  retry_on Timeout::Error
                  def perform(id); end
                end
                """,
                "app/controllers/orders_controller.rb": """
                class OrdersController < ApplicationController
                  def create
                    OrderConfirmationJob.perform_later(params[:id]) # expect: JL606
                    OrderConfirmedJob.set(wait: 5.minutes).perform_later(params[:id])
                  end
                end
                """,
            },
            {
                "app/workers/billing/charge_worker.rb": """
                module Billing
                  class ChargeWorker
                    include Sidekiq::Job
                    def perform(id); end
                  end
                end
                """,
                "app/models/invoice.rb": """
                class Invoice < ApplicationRecord
                  def charge
                    ChargeWorker.perform_async(id) # expect: JL606
                    Billing::ChargeWorker.perform_async(id)
                  end
                end
                """,
            },
        ],
        good=[
            {
                "app/workers/billing/charge_worker.rb": """
                module Billing
                  class ChargeWorker
                    include Sidekiq::Job
                    def perform(id); end
                  end
                end
                """,
                "app/models/billing/invoice.rb": """
                module Billing
                  class Invoice < ApplicationRecord
                    def charge
                      ChargeWorker.perform_async(id)
                      ActiveStorage::PurgeJob.perform_later(blob)
                      self.class.perform_later(id)
                    end
                  end
                end
                """,
            },
            {
                "app/jobs/sync_job.rb": """
                class SyncJob < ApplicationJob
                  retry_on Timeout::Error
                  def perform(id); end
                end
                """,
                "spec/jobs/sync_job_spec.rb": """
                RSpec.describe SyncJob do
                  it "enqueues" do
                    TestHelperJob.perform_later(1)
                  end
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        if source.in_dir(*SKIPPED_DIRS) or not schedules.defines_jobs(app):
            return
        allowed = set(self.settings["allow"])  # type: ignore[call-overload]
        for receiver, written in enqueued_constants(source):
            if not written.endswith(("Job", "Worker")) or written in allowed:
                continue
            scope = app.lexical_scope(receiver)
            if self._reachable(written, scope, app) or external_constant(written, app):
                continue
            if written.rsplit("::", 1)[-1] in defined_anywhere(app):
                continue  # defined outside the indexed directories (a gem's own `core/app`)
            yield Hit.at(receiver, job=written)

    @staticmethod
    def _reachable(written: str, scope: tuple[str, ...], app: App) -> bool:
        """Ruby's lookup: the enclosing modules innermost first, then the ancestors of the
        innermost class, then the top level."""
        classes = app.classes
        owners = list(reversed(scope))
        if scope:
            owners += [a for a in classes.ancestors(scope[-1]) if a in classes]
        return any(f"{owner}::{written}" in classes for owner in owners) or written in classes
