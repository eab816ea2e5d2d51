from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..rails.app import App
from ..rails.jobs import JobKind, job_arguments
from ..rails.named_calls import calls_named
from ..ruby import Node
from ..source import SourceFile
from . import Examples, Rule, register
from ._arguments import SIDEKIQ_SINGLE_ENQUEUE, is_sidekiq_call, perform_parameters, symbol_key

_CALLS = frozenset(SIDEKIQ_SINGLE_ENQUEUE)
_KEYWORDS = frozenset({"keyword_parameter", "hash_splat_parameter"})


@register
class KeywordArgument(Rule):
    """
    ## What it does
    Finds a Sidekiq job whose `perform` takes keyword arguments (`def perform(id, force: false)`
    or `**options`), and a `perform_async`/`perform_in`/`perform_at` call passing keyword-style
    arguments with symbol keys (`perform_async(id, force: true)`).

    ## Why is this bad?
    Sidekiq arguments are a JSON array: keyword arguments do not exist there. Keyword-style
    arguments at the call site become one trailing hash with symbol keys, which strict
    arguments (the default since Sidekiq 7) reject; before 7 it arrives with string keys, so a
    `perform` declared with keywords raises `ArgumentError` (missing or unknown keyword) on
    every run and the job goes to the retry queue.

    A `perform` with a required keyword fails on every run (error). One with only optional
    keywords or `**options` keeps its defaults, which is harmless: it is not reported, and a
    caller that tries to pass keywords is reported at the call.

    ActiveJob jobs are not checked: ActiveJob supports keyword arguments. A braced hash argument
    (`perform_async(id, { force: true })`) is JL102's. Unbraced string keys
    (`perform_async("id" => 1)`) are one positional hash with string keys — native JSON — and
    a double splat (`**options`) is not reported, since its keys may be strings. `perform_async` on a project class known
    to be an ActiveJob or SuckerPunch job is ignored.

    ## Example
    ```ruby
    class ExportWorker
      include Sidekiq::Job

      def perform(account_id, full: false)
      end
    end

    ExportWorker.perform_async(account.id, full: true)
    ```

    ## Use instead
    ```ruby
    def perform(account_id, options = {})
      full = options["full"]
    end

    ExportWorker.perform_async(account.id, { "full" => true })
    ```
    """

    code = "JL103"
    name = "keyword-argument"
    severity = Severity.ERROR
    scope = "file"
    summary = "Keyword arguments in a Sidekiq job"
    message = "{what}: Sidekiq arguments are a JSON array, keywords arrive as a symbol-keyed hash"
    help = "Use positional arguments, or one hash with string keys"
    triggers = ("perform",)

    examples = Examples(
        bad=[
            {
                "app/workers/export_worker.rb": """
                class ExportWorker
                  include Sidekiq::Job

                  def perform(account_id, full:) # expect: JL103
                  end
                end
                """,
                "app/controllers/exports_controller.rb": """
                class ExportsController < ApplicationController
                  def create
                    ExportWorker.perform_async(params[:id], full: true) # expect: JL103
                  end
                end
                """,
            },
            {
                "app/sidekiq/sync_job.rb": """
                class SyncJob
                  include Sidekiq::Worker

                  def perform(id, **options)
                    SyncJob.perform_in(10, id, retried: true) # expect: JL103
                  end
                end
                """,
            },
        ],
        good=[
            {
                "app/jobs/application_job.rb": """
                class ApplicationJob < ActiveJob::Base
                  retry_on Timeout::Error
                end
                """,
                "app/jobs/export_job.rb": """
                class ExportJob < ApplicationJob
                  def perform(account_id, full: false)
                  end
                end
                """,
                "app/workers/export_worker.rb": """
                class ExportWorker
                  include Sidekiq::Job

                  def perform(account_id, options = {}); end
                end
                """,
                "app/controllers/exports_controller.rb": """
                class ExportsController < ApplicationController
                  def create
                    ExportJob.perform_later(params[:id], full: true)
                    ExportWorker.perform_async(params[:id], { "full" => true })
                    ExportWorker.perform_async("account_id" => params[:id], "full" => true)
                  end
                end
                """,
            },
            {
                "app/workers/export_worker.rb": """
                class ExportWorker
                  include Sidekiq::Job

                  def perform(account_id, options = {})
                    Exporter.new(full: options["full"]).perform(account_id, verbose: true)
                  end
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        reported: set[int] = set()  # one finding per `def`, at its first keyword parameter
        keywords = [
            p for ps in perform_parameters(source) for p in ps.named_children if p.type in _KEYWORDS
        ]
        for param in sorted(keywords, key=lambda p: p.start_byte):  # document order
            method = param.parent.parent if param.parent is not None else None
            if method is None or method.id in reported:
                continue
            if app.job_kind_at(source, param) is JobKind.SIDEKIQ:
                reported.add(method.id)
                hit = self._perform_hit(param)
                if hit is not None:
                    yield hit
        for call in calls_named(source, _CALLS):
            if not is_sidekiq_call(call, app):
                continue
            keywords = [a for a in job_arguments(call) if a.type == "pair" and symbol_key(a)]
            if keywords:
                method = ruby.call_method(call)
                yield Hit.at(keywords[0], what=f"`{method}` is passed keyword-style arguments")

    @staticmethod
    def _perform_hit(first: Node) -> Hit | None:
        """Required keywords make every run raise. Optional ones keep their defaults, which is
        harmless: a caller that passes keywords is reported at the call."""
        params = first.parent.named_children if first.parent is not None else [first]
        required = next(
            (p for p in params
             if p.type == "keyword_parameter" and p.child_by_field_name("value") is None),
            None,
        )
        if required is not None:
            what = f"`perform` requires keyword argument `{ruby.text(required)}`"
            return Hit.at(required, what=what)
        return None
