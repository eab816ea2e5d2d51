from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..rails.app import App
from ..rails.classes import ClassIndex, contains_reraise, receiverless_calls
from ..rails.mailers import is_mailer
from ..rails.named_calls import calls_named
from ..ruby import Node
from ..source import SourceFile
from . import Examples, Rule, register
from ._loops import only_logs

_RESCUE_FROM = frozenset({"rescue_from"})
# Receiver-less calls a handler makes that are known not to re-raise.
HARMLESS = frozenset({"logger", "puts", "p", "pp", "print", "warn", "format", "sprintf"})


@register
class RescueFromSwallows(Rule):
    """
    ## What it does
    Finds a `rescue_from` in a job or mailer whose handler — its block, or the `with:` method
    found in the class or its ancestors — neither re-raises (`raise`, `raise e`) nor calls
    `retry_job`.

    ## Why is this bad?
    A `rescue_from` handler that returns normally marks the job as performed: it is never
    retried, never lands in the dead set or failed executions, and nobody notices the work was
    lost. Mailer handlers apply to `deliver_later` jobs the same way. Use `discard_on` when
    dropping the job is intended: it says so.

    When the handler calls a method joblint cannot find in the project, it stays silent. An
    explicitly empty handler (`rescue_from(Net::SMTPFatalError) {}`, `with: -> {}`, or a block
    holding only `true`/`nil`) says "drop it" as clearly as `discard_on` — and is the only way
    to say it in a mailer, which has no `discard_on` — so it is not reported. Nor is a handler
    for specific exception classes (not `StandardError`, `Exception` or `RuntimeError`) that
    does work beyond logging — records the failure, notifies someone, falls back: that is
    deliberate handling of a failure the code names.

    ## Example
    ```ruby
    rescue_from(Faraday::Error) { |error| Rails.logger.warn(error.message) }
    ```

    ## Use instead
    ```ruby
    retry_on Faraday::Error, attempts: 5
    discard_on ActiveJob::DeserializationError
    ```
    """

    code = "JL202"
    name = "rescue-from-swallows"
    severity = Severity.WARNING
    scope = "project"
    summary = "A job or mailer rescue_from handler that neither re-raises nor retries"
    message = "This `rescue_from` handler neither re-raises nor calls `retry_job`: {what} is marked successful and never retried"
    help = "Re-raise, call retry_job, or say discard_on if dropping the job is intended"
    triggers = ("rescue_from",)

    examples = Examples(
        bad=[
            {
                "app/jobs/sync_job.rb": """
                class SyncJob < ApplicationJob
                  rescue_from(Faraday::Error) { |error| Rails.logger.warn(error.message) } # expect: JL202

                  def perform(id); end
                end
                """,
            },
            {
                "app/jobs/application_job.rb": """
                class ApplicationJob < ActiveJob::Base
                  private

                  def report(error)
                    Rails.error.report(error)
                  end
                end
                """,
                "app/mailers/invoice_mailer.rb": """
                class InvoiceMailer < ActionMailer::Base
                  rescue_from Net::SMTPAuthenticationError, with: :log_failure # expect: JL202

                  private

                  def log_failure(error)
                    Rails.logger.error(error)
                  end
                end
                """,
                "app/jobs/import_job.rb": """
                class ImportJob < ApplicationJob
                  rescue_from StandardError, with: :report # expect: JL202
                  def perform; end
                end
                """,
            },
        ],
        good=[
            {
                "app/mailers/application_mailer.rb": """
                class ApplicationMailer < ActionMailer::Base
                  rescue_from Postmark::InactiveRecipientError do |error|
                    EmailBounce.record!(error.recipients)
                  end
                end
                """,
                "app/jobs/verify_link_job.rb": """
                class VerifyLinkJob < ApplicationJob
                  rescue_from InsecureURLError, with: :mark_insecure

                  def perform(link) = link.verify!

                  private

                  def mark_insecure(error)
                    Rails.logger.info(error.message)
                    link.update!(state: :insecure)
                  end
                end
                """,
            },
            {
                "app/jobs/sync_job.rb": """
                class SyncJob < ApplicationJob
                  rescue_from(Faraday::Error) do |error|
                    Rails.logger.warn(error.message)
                    raise error
                  end
                  rescue_from(Faraday::TimeoutError) { |error| retry_job(wait: 5.minutes) }
                  rescue_from(ActiveJob::DeserializationError) { true } # the record is gone: skip

                  def perform(id); end
                end
                """,
            },
            {
                "app/jobs/application_job.rb": """
                class ApplicationJob < ActiveJob::Base
                  rescue_from StandardError, with: :notify_and_raise
                  rescue_from Timeout::Error, with: :handled_by_gem

                  private

                  def notify_and_raise(error)
                    notify(error)
                  end

                  def notify(error)
                    Honeybadger.notify(error)
                    raise error
                  end
                end
                """,
                "app/mailers/digest_mailer.rb": """
                class DigestMailer < ApplicationMailer
                  rescue_from(Net::SMTPSyntaxError) {}
                  rescue_from Postmark::InactiveRecipientError, with: -> {}
                end
                """,
                "app/controllers/pages_controller.rb": """
                class PagesController < ApplicationController
                  rescue_from(ActiveRecord::RecordNotFound) { head :not_found }
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        classes = app.classes
        for call in calls_named(source, _RESCUE_FROM):
            owner = app.enclosing_class(call)
            if owner is None:
                continue
            job = app.jobs.kind(owner) is not None
            if not job and not is_mailer(classes, owner):
                continue
            if _acts_on_specific_errors(call, owner, classes):
                continue  # deliberate handling of a named failure, as discard_on would be
            if self._handler_swallows(call, owner, classes):
                yield Hit.at(call, what="the job" if job else "the delivery job")

    def _handler_swallows(self, call: Node, owner: str, classes: ClassIndex) -> bool:
        body = ruby.call_block(call)
        for arg in ruby.call_arguments(call):
            if arg.type == "pair" and ruby.pair_key(arg) == "with":
                value = arg.child_by_field_name("value")
                if value is not None and value.type == "lambda":
                    body = value.child_by_field_name("body")
                elif value is not None and value.type == "simple_symbol":
                    method = classes.find_method(owner, ruby.string_value(value) or "")
                    if method is None:
                        return False  # defined where joblint cannot see: stay silent
                    return not _method_reraises(method.reraises, method.calls, owner, classes)
                else:
                    return False
        if body is None or _explicit_no_op(body):
            return False
        if contains_reraise(body):
            return False
        calls = receiverless_calls(body)
        return not _method_reraises(False, calls, owner, classes)


BROAD_ERRORS = frozenset({"StandardError", "Exception", "RuntimeError", "ScriptError"})


def _acts_on_specific_errors(call: Node, owner: str, classes: ClassIndex) -> bool:
    """`rescue_from` of specific exception classes whose handler does work beyond logging
    (records the failure, notifies, falls back)."""
    written = [ruby.constant_path(a) for a in ruby.call_arguments(call) if a.type != "pair"]
    if not written or None in written:
        return False
    if any(name.removeprefix("::") in BROAD_ERRORS for name in written if name is not None):
        return False
    handler = _handler_body(call, owner, classes)
    return handler is not None and not only_logs(handler)


def _handler_body(call: Node, owner: str, classes: ClassIndex) -> Node | None:
    """The handler's statements: the block's or lambda's body, or the `with:` method's."""
    for arg in ruby.call_arguments(call):
        if arg.type == "pair" and ruby.pair_key(arg) == "with":
            value = arg.child_by_field_name("value")
            if value is not None and value.type == "lambda":
                return value.child_by_field_name("body")
            if value is not None and value.type == "simple_symbol":
                method = classes.find_method(owner, ruby.string_value(value) or "")
                if method is None:
                    return None
                node = method.source.root.descendant_for_byte_range(method.start_byte, method.end_byte)
                return node.child_by_field_name("body") if node is not None else None
            return None
    block = ruby.call_block(call)
    return block.child_by_field_name("body") if block is not None else None


LITERALS = frozenset({"true", "false", "nil", "integer", "symbol", "simple_symbol", "comment"})


def _explicit_no_op(block: Node) -> bool:
    """`{}`, `-> {}` or `{ true }`: a handler written to drop the error, as clear as discard_on
    (and the only way to say it in a mailer, which has no discard_on)."""
    body = block.child_by_field_name("body")
    return body is None or all(child.type in LITERALS for child in body.named_children)


def _method_reraises(
    reraises: bool, calls: frozenset[str] | set[str], owner: str, classes: ClassIndex
) -> bool:
    """True when the handler re-raises, directly or one call deep — or when it calls a method
    joblint cannot see (unknown counts as "may re-raise", to stay silent)."""
    if reraises:
        return True
    for name in calls - HARMLESS:
        method = classes.find_method(owner, name)
        if method is None or method.reraises:
            return True
    return False
