from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..rails.app import App
from ..rails.named_calls import calls_named
from ..ruby import Node
from ..source import SourceFile
from . import Examples, Rule, register
from ._arguments import in_job_or_mailer, is_job_class, said_deliberate

SYNCHRONOUS = ("perform_now", "perform_inline")
_CALLS = frozenset(SYNCHRONOUS + ("perform",))


@register
class PerformNowInRequest(Rule):
    """
    ## What it does
    Finds a job run synchronously in the request path (`app/controllers`, `app/graphql`,
    `app/channels`, plus configured paths): `perform_now`, Sidekiq's `perform_inline`, or
    `SomeJob.new.perform(...)`.

    ## Why is this bad?
    The user waits for the whole job, with no retry when it fails: its exception becomes a 500
    (or is swallowed by the job's handlers while the request reports success), and a slow
    dependency of the job ties up a web worker. Jobs exist to move that work out of the request.

    `SomeJob.new.perform` is reported only when `SomeJob` is a project job or its name ends in
    `Job` or `Worker` — service objects with a `perform` method are not jobs. Calls inside job
    or mailer classes, tests and rake tasks are out of scope.

    Synchronous by design, and not reported: a call whose result the request uses (assigned,
    passed on as in `render json: Job.perform_now(…)`, returned with `return`, or tested in a
    condition); a call in one branch of a conditional (`if`/`case`/`respond_to` formats)
    whose other branch enqueues the same job; a job given a record the action shows in its view
    (`FeedRefresh.perform_now(@feed.id)` in an action that renders rather than redirects); and
    a call whose line, or the comment line above it, says it runs now on purpose
    ("synchronously", "immediately", "on purpose", "deliberately", "intentionally").

    ## Example
    ```ruby
    def create
      ImportJob.perform_now(params[:file_id])
    end
    ```

    ## Use instead
    ```ruby
    def create
      ImportJob.perform_later(params[:file_id])
    end
    ```
    """

    code = "JL402"
    name = "perform-now-in-request"
    severity = Severity.WARNING
    scope = "file"
    summary = "A job performed synchronously inside a web request"
    message = "`{call}` runs the job inside the request: the user waits for it, without retries"
    help = "Enqueue it with perform_later / perform_async"
    triggers = ("perform",)

    examples = Examples(
        bad=[
            {
                "app/controllers/imports_controller.rb": """
                class ImportsController < ApplicationController
                  def create
                    ImportJob.perform_now(params[:file_id]) # expect: JL402
                    ImportWorker.perform_inline(params[:file_id]) # expect: JL402
                  end
                end
                """,
            },
            {
                "app/jobs/application_job.rb": """
                class ApplicationJob < ActiveJob::Base
                  retry_on Timeout::Error
                end
                """,
                "app/jobs/sync_task.rb": """
                class SyncTask < ApplicationJob
                  def perform(id); end
                end
                """,
                "app/graphql/mutations/sync.rb": """
                module Mutations
                  class Sync < BaseMutation
                    def resolve(id:)
                      SyncTask.new.perform(id) # expect: JL402
                      ImportJob.set(queue: :urgent).perform_now(id) # expect: JL402
                    end
                  end
                end
                """,
            },
        ],
        good=[
            {
                "app/controllers/imports_controller.rb": """
                class ImportsController < ApplicationController
                  def create
                    ImportJob.perform_later(params[:file_id])
                    ImportWorker.perform_async(params[:file_id])
                    CsvImporter.new(params[:file]).perform
                  end

                  def preview
                    @rows = PreviewJob.perform_now(params[:file_id])
                    render json: SummaryJob.perform_now(params[:file_id])
                  end

                  def replace
                    respond_to do |format|
                      format.html { ReplaceWorker.new.perform(params[:id]) && redirect_to(imports_path) }
                      format.js { ReplaceWorker.perform_async(params[:id]) }
                    end
                    if params[:now]
                      RefreshJob.perform_now(params[:id])  # the user asked for it now
                    else
                      RefreshJob.perform_later(params[:id])
                    end
                  end

                  def show
                    @import = Import.find(params[:id])
                    StatusJob.perform_now(@import.id) if @import.stale?
                  end

                  def retry
                    # run synchronously: support staff wait for the outcome on the phone
                    RetryJob.perform_now(params[:id])
                    redirect_to imports_path
                  end
                end
                """,
            },
            {
                "app/jobs/application_job.rb": """
                class ApplicationJob < ActiveJob::Base
                  retry_on Timeout::Error
                end
                """,
                "app/jobs/batch_job.rb": """
                class BatchJob < ApplicationJob
                  def perform(ids)
                    ids.each { |id| ImportJob.perform_now(id) }
                  end
                end
                """,
                "lib/tasks/import.rake": """
                task import: :environment do
                  ImportJob.perform_now(1)
                end
                """,
                "test/jobs/import_job_test.rb": """
                class ImportJobTest < ActiveJob::TestCase
                  test "imports" do
                    ImportJob.perform_now(1)
                  end
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        if not app.in_request_path(source):
            return
        for call in calls_named(source, _CALLS):
            receiver = ruby.call_receiver(call)
            if receiver is None:
                continue
            if ruby.call_method(call) == "perform" and not self._new_job(receiver, app):
                continue
            if in_job_or_mailer(call, app):
                continue
            if ruby.value_used(call) or _other_branch_enqueues(call) or _shows_its_record(call):
                continue  # synchronous by design: the request needs the job's result
            if said_deliberate(call, source):
                continue  # a comment says the call runs now on purpose
            yield Hit.at(call, call=_head(call))

    @staticmethod
    def _new_job(receiver: Node, app: App) -> bool:
        """`SomeJob.new` / `SomeJob.new(args)` where SomeJob is a job."""
        if receiver.type != "call" or ruby.call_method(receiver) != "new":
            return False
        written = ruby.constant_path(ruby.call_receiver(receiver))
        return written is not None and is_job_class(written, receiver, app)


ENQUEUES = frozenset({"perform_later", "perform_async", "perform_in", "perform_at"})


def _shows_its_record(call: Node) -> bool:
    """The job works on a record the action hands to its view (`@feed`, `@feed.id`) and the
    action renders rather than redirects: the page shows what the job just did."""
    if not any(
        leaf.type == "instance_variable"
        for argument in ruby.call_arguments(call)
        for leaf in ruby.walk(argument)
    ):
        return False
    method = ruby.enclosing(call, ruby.METHOD_TYPES)
    if method is None:
        return False
    return not any(
        ruby.call_method(later) == "redirect_to" and later.start_byte > call.end_byte
        for later in ruby.descendants(method, {"call"})
    )


def _other_branch_enqueues(call: Node) -> bool:
    """The call is one branch of a conditional (`if`/`case`/`respond_to` formats) whose other
    branch enqueues the same job: the synchronous branch is chosen on purpose."""
    job = _job_text(call)
    branching = ruby.enclosing(call, {"if", "unless", "case", "conditional", "call"})
    while branching is not None and branching.type == "call" and ruby.call_method(branching) != "respond_to":
        branching = ruby.enclosing(branching, {"if", "unless", "case", "conditional", "call"})
    if branching is None or ruby.enclosing(call, ruby.METHOD_TYPES) != ruby.enclosing(branching, ruby.METHOD_TYPES):
        return False
    for other in ruby.descendants(branching, {"call"}):
        if ruby.call_method(other) in ENQUEUES and _job_text(other) == job:
            return True
    return False


def _job_text(call: Node) -> str:
    """The job a call runs or enqueues, as written (`FeedReplacer`, `Foo::SyncJob`)."""
    receiver = ruby.call_receiver(call)
    while receiver is not None and receiver.type == "call" and ruby.call_method(receiver) in ("new", "set"):
        receiver = ruby.call_receiver(receiver)
    return ruby.text(receiver).lstrip(":") if receiver is not None else ""


def _head(call: Node) -> str:
    """The call without its arguments: `ImportJob.perform_now`."""
    receiver = ruby.call_receiver(call)
    text = f"{ruby.text(receiver)}.{ruby.call_method(call)}" if receiver is not None else ""
    text = " ".join(text.split())
    return text if len(text) <= 60 else "…" + text[-59:]
