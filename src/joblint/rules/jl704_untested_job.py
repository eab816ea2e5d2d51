from __future__ import annotations

from collections.abc import Iterator

from ..findings import Hit, Severity
from ..rails.app import COMPONENT_DIRS, JOB_DIRS, App, underscore
from ..source import SourceFile
from . import Examples, Rule, register

TEST_DIRS = ("jobs", "workers", "sidekiq")


def test_candidates(name: str, path: str) -> list[str]:
    """Spec/test files that would test a job, relative to its component's root: by class name
    (`Admin::ReportJob` → `admin/report_job`) and by its path under the job directory."""
    stems = {"/".join(underscore(part) for part in name.split("::"))}
    for directory in JOB_DIRS:
        prefix = directory + "/"
        if path.startswith(prefix) and path.endswith(".rb"):
            stems.add(path[len(prefix) : -3])
    candidates = []
    for stem in sorted(stems):
        for folder in TEST_DIRS:
            candidates.append(f"spec/{folder}/{stem}_spec.rb")
            candidates.append(f"test/{folder}/{stem}_test.rb")
    if path.startswith("app/") and path.endswith(".rb"):
        mirrored = path[len("app/") : -3]  # app/commands/x.rb → spec/commands/x_spec.rb
        candidates += [f"spec/{mirrored}_spec.rb", f"test/{mirrored}_test.rb"]
    return candidates


def component_root(path: str) -> str:
    """`engines/billing/app/jobs/x.rb` → `engines/billing/`; the app root → ``."""
    parts = path.split("/")
    if len(parts) > 2 and parts[0] in COMPONENT_DIRS:
        return f"{parts[0]}/{parts[1]}/"
    return ""


def _suggested(app: App, base: str, path: str, candidates: list[str]) -> str:
    """The candidate in the test tree the app uses, in the folder named like the job's."""
    assert app.root is not None
    folder = path.split("/")[1] if path.count("/") >= 2 else "jobs"
    tops = [t for t in ("spec", "test") if (app.root / base / t).is_dir()]
    for candidate in candidates:
        top, sub = candidate.split("/")[:2]
        if top in tops and sub == folder:
            return candidate
    return next((c for c in candidates if c.split("/")[0] in tops), candidates[0])


@register
class UntestedJob(Rule):
    """
    ## What it does
    Reports a job class (ActiveJob or Sidekiq) with no test of its own:
    neither `spec/jobs/<path>_spec.rb` nor `test/jobs/<path>_test.rb` (nor the same under
    `workers/` or `sidekiq/`), where `<path>` is the class name underscored
    (`Admin::ReportJob` → `admin/report_job`) or the file's path under `app/jobs`,
    `app/workers` or `app/sidekiq`; for a job elsewhere under `app/`, the test that mirrors its
    path (`app/commands/x.rb` → `spec/commands/x_spec.rb`) counts too. Off by default: enable it with
    `--extend-select JL704`.

    ## Why is this bad?
    Jobs run far from the code that enqueues them, with serialized arguments, retries and
    concurrency: the failures a test catches in a second (a wrong argument, a missing record,
    an error that should be discarded) surface in production as dead jobs. A spec per job is a
    cheap habit.

    `ApplicationJob`, abstract base jobs (subclassed by other jobs, without a `perform` of
    their own) and classes defined under `spec/`, `test/`, `config/` or `db/` are not
    reported; a class reopened in several files is reported once. Engines
    are looked up in their own `spec/` and `test/`. Apps with neither a `spec/` nor a `test/`
    directory are not reported (their tests live elsewhere, if anywhere).

    ## Example
    ```ruby
    # app/jobs/sync_invoice_job.rb — and no spec/jobs/sync_invoice_job_spec.rb
    class SyncInvoiceJob < ApplicationJob
    end
    ```

    ## Use instead
    ```ruby
    # spec/jobs/sync_invoice_job_spec.rb
    RSpec.describe SyncInvoiceJob do
      it "syncs the invoice" do
      end
    end
    ```
    """

    code = "JL704"
    name = "untested-job"
    severity = Severity.INFO
    scope = "project"
    summary = "A job class without a spec or test file of its own"
    message = "`{job}` has no test: expected {expected}"
    help = "Add a spec/jobs or test/jobs file for the job"
    default_enabled = False
    triggers = ("Job", "Worker", "Sidekiq")

    examples = Examples(
        bad=[
            {
                "app/jobs/application_job.rb": """
                class ApplicationJob < ActiveJob::Base
                  discard_on ActiveJob::DeserializationError
                end
                """,
                "app/jobs/billing/sync_invoice_job.rb": """
                module Billing
                  class SyncInvoiceJob < ApplicationJob # expect: JL704
                    def perform(id); end
                  end
                end
                """,
                "spec/jobs/sync_invoice_job_spec.rb": "# tests another class\n",
            },
            {
                "app/workers/hard_worker.rb": """
                class HardWorker # expect: JL704
                  include Sidekiq::Job
                  def perform(id); end
                end
                """,
                "test/test_helper.rb": "# minitest\n",
            },
        ],
        good=[
            {
                "app/jobs/application_job.rb": """
                class ApplicationJob < ActiveJob::Base
                  discard_on ActiveJob::DeserializationError
                end
                """,
                "app/jobs/billing/sync_invoice_job.rb": """
                module Billing
                  class SyncInvoiceJob < ApplicationJob
                    def perform(id); end
                  end
                end
                """,
                "spec/jobs/billing/sync_invoice_job_spec.rb": "# RSpec.describe Billing::SyncInvoiceJob\n",
            },
            {
                "app/workers/hard_worker.rb": """
                class HardWorker
                  include Sidekiq::Job
                  def perform(id); end
                end
                """,
                "test/workers/hard_worker_test.rb": "# minitest\n",
                "engines/billing/app/jobs/billing/charge_job.rb": """
                module Billing
                  class ChargeJob < ApplicationJob
                    discard_on ActiveJob::DeserializationError
                    def perform; end
                  end
                end
                """,
                "engines/billing/spec/jobs/billing/charge_job_spec.rb": "# spec\n",
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        if app.root is None or source.in_dir("spec", "test", "config", "db"):
            return  # test doubles, and framework glue defined in initializers
        classes = app.classes
        for definition in app.definitions_in(source):
            name = definition.name
            if definition.is_module or name == "ApplicationJob":
                continue
            first = classes.first_definition(name)
            if first is not None and (first.path, first.line) != (definition.path, definition.line):
                continue
            if app.jobs.kind(name) is None or app.jobs.is_abstract(name):
                continue
            base = component_root(definition.path)
            inner = definition.path[len(base) :]
            if not any((app.root / base / d).is_dir() for d in ("spec", "test")):
                continue
            candidates = test_candidates(name, inner)
            if any((app.root / base / c).is_file() for c in candidates):
                continue
            yield Hit(
                definition.name_start,
                definition.name_end,
                {"job": name, "expected": f"`{base}{_suggested(app, base, inner, candidates)}`"},
                scope=name,
                anchor=name,
            )
