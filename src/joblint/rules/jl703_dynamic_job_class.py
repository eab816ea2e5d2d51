from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..rails.app import App
from ..rails.jobs import ENQUEUE_METHODS
from ..rails.mailers import is_mailer
from ..rails.named_calls import calls_named
from ..ruby import Node
from ..source import SourceFile
from . import Examples, Rule, register
from ._arguments import (
    assigned_value,
    contains_request_value,
    is_interpolated_string,
    is_job_class,
)

RUNS = ENQUEUE_METHODS + ("perform_now", "perform_inline", "perform", "set", "new")
CONSTANTIZE = ("constantize", "safe_constantize")
CONST_GET = ("const_get",)
SENDS = ("send", "public_send", "__send__")
_RUNS = frozenset(RUNS)
_SENDS = frozenset(SENDS)


@register
class DynamicJobClass(Rule):
    """
    ## What it does
    Finds a job or mailer class chosen at run time from request data: `constantize`,
    `safe_constantize` or `const_get` applied to request data (`params[...]`, `request.*`,
    `cookies[...]`) or to a string interpolating it, whose result is then enqueued or performed (`perform_later`, `perform_async`,
    `perform_now`, `set(...)`, `new.perform`) — directly or through a local variable; and
    `send`/`public_send` of a `params` value to a job or mailer class.

    ## Why is this bad?
    Whoever controls the string chooses which class runs (CWE-470, unsafe reflection): any job
    of the app, with arguments it was never meant to get, or — through `send` — any class method
    of a mailer or job (`destroy_all`-style methods of ancestors included).

    Constant class names are fine. A `constantize` whose result is not enqueued or performed is
    left to general-purpose security scanners. A string interpolating something other than
    request data (a record's attribute, a method's parameter) is not reported: the user does
    not choose it.

    ## Example
    ```ruby
    params[:job].constantize.perform_later(current_user.id)
    ```

    ## Use instead
    ```ruby
    EXPORTS = { "csv" => CsvExportJob, "pdf" => PdfExportJob }.freeze
    EXPORTS.fetch(params[:format]).perform_later(current_user.id)
    ```
    """

    code = "JL703"
    name = "dynamic-job-class"
    severity = Severity.WARNING
    scope = "file"
    summary = "A job or mailer class chosen from request data"
    message = "{what}: whoever controls the string chooses which {chosen} runs"
    help = "Map the allowed names to job classes explicitly (a constant hash)"
    triggers = ("constantize", "const_get", "send")
    tags = ("security",)
    cwe = 470

    examples = Examples(
        bad=[
            {
                "app/controllers/exports_controller.rb": """
                class ExportsController < ApplicationController
                  def create
                    params[:job].constantize.perform_later(current_user.id) # expect: JL703
                    klass = "#{params[:format].camelize}ExportJob".safe_constantize # expect: JL703
                    klass.set(queue: :exports).perform_later(current_user.id)
                  end
                end
                """,
            },
            {
                "app/controllers/notifications_controller.rb": """
                class NotificationsController < ApplicationController
                  def create
                    job = Object.const_get(request.headers["X-Job"]) # expect: JL703
                    job.perform_async(params[:id])
                    NotificationMailer.public_send(params[:kind], current_user).deliver_later # expect: JL703
                  end
                end
                """,
            },
        ],
        good=[
            {
                "app/services/report_runner.rb": """
                class ReportRunner
                  def call(report)
                    "#{report.kind.camelize}ReportJob".constantize.perform_later(report.id)
                  end
                end
                """,
            },
            {
                "app/controllers/exports_controller.rb": """
                class ExportsController < ApplicationController
                  EXPORTS = { "csv" => CsvExportJob, "pdf" => PdfExportJob }.freeze

                  def create
                    EXPORTS.fetch(params[:format]).perform_later(current_user.id)
                    "CsvExportJob".constantize.perform_later(current_user.id)
                    model = params[:type].constantize
                    render json: model.find(params[:id])
                  end
                end
                """,
            },
            {
                "app/services/dispatcher.rb": """
                class Dispatcher
                  def call(event)
                    handler = event.handler_class.constantize
                    handler.perform_later(event.id)
                    NotificationMailer.public_send(:digest, event.user).deliver_later
                    Report.send(params[:scope])
                  end
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        reported: set[int] = set()
        for call in calls_named(source, _RUNS):
            if not _runs_a_class(call):
                continue
            lookup = _class_lookup(call)
            if lookup is None or lookup.id in reported:
                continue
            what = _dynamic(lookup)
            if what is not None:
                reported.add(lookup.id)
                yield Hit.at(lookup, what=what, chosen="class")
        for call in calls_named(source, _SENDS):
            args = ruby.call_arguments(call)
            receiver = ruby.call_receiver(call)
            if not args or receiver is None or not contains_request_value(args[0]):
                continue
            if not _job_or_mailer(receiver, app):
                continue
            yield Hit.at(
                call,
                what=f"`{ruby.call_method(call)}` calls a method named by request data on "
                f"`{ruby.text(receiver)}`",
                chosen="method",
            )


def _runs_a_class(call: Node) -> bool:
    """An enqueue or perform call, `set(...)` followed by one, or `.new.perform`."""
    method = ruby.call_method(call)
    if method == "new":
        parent = call.parent
        return ruby.is_call(parent, "perform")
    if method == "set":
        parent = call.parent
        return ruby.is_call(parent, *RUNS)
    if method == "perform":
        return False  # `x.perform` alone: only `.new.perform` is a job run
    return ruby.call_receiver(call) is not None


def _class_lookup(call: Node) -> Node | None:
    """The `constantize`/`const_get` call the receiver chain of `call` goes through, directly
    or through a variable assigned one."""
    current = ruby.call_receiver(call)
    while current is not None:
        current = assigned_value(current)
        if current.type != "call":
            return None
        if ruby.call_method(current) in CONSTANTIZE + CONST_GET:
            return current
        current = ruby.call_receiver(current)
    return None


def _dynamic(lookup: Node) -> str | None:
    """Why a class lookup is dynamic, or None when it reads a constant name."""
    method = ruby.call_method(lookup)
    if method in CONST_GET:
        args = ruby.call_arguments(lookup)
        name = args[0] if args else None
    else:
        name = ruby.call_receiver(lookup)
    if name is None:
        return None
    if contains_request_value(name):
        return f"`{method}` on request data picks the class that is enqueued"
    value = assigned_value(name)
    if is_interpolated_string(value) and contains_request_value(value):
        return f"`{method}` on a string built from request data picks the class that is enqueued"
    return None


def _job_or_mailer(receiver: Node, app: App) -> bool:
    written = ruby.constant_path(receiver)
    if written is None:
        return False
    if is_job_class(written, receiver, app) or written.endswith("Mailer"):
        return True
    return is_mailer(app.classes, app.classes.resolve(written, app.lexical_scope(receiver)))
