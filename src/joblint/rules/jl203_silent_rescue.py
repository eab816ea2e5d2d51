from __future__ import annotations

import re
from collections.abc import Iterator
from typing import ClassVar

from .. import ruby
from ..findings import Hit, Severity
from ..patterns import lazy_pattern
from ..rails import native_jobs
from ..rails.app import MAILBOX_BASE, App
from ..rails.jobs import JobKind
from ..rails.retries import sidekiq_retries
from ..ruby import Node
from ..source import SourceFile
from . import Examples, Option, Rule, register
from ._loops import (
    LOG_CALLS,
    call_path,
    only_logs,
    path_matches,
    reraises,
    rescue_body,
    rescue_hit,
    rescued_classes,
    rescues,
)

BROAD = frozenset({"StandardError"})
DEFAULT_REPORTERS = (
    "Rails.error.report",
    "Rails.error.unexpected",
    "Sentry",
    "Raven",
    "Honeybadger",
    "Bugsnag",
    "Rollbar",
    "Airbrake",
    "Appsignal",
    "NewRelic::Agent.notice_error",
    "ErrorTracker",
    "ExceptionNotifier",
)
# Names that hand an error to some tracker or person: `ErrorNotifier.notify(e)`,
# `ExceptionReporter.call(e)`, `report_error(e)`, `create_failed_notification(e)`.
_REPORTING_NAME = lazy_pattern(
    r"report|notif|notice_error|capture_(?:exception|message)|track_(?:error|exception)",
    re.IGNORECASE,
)


@register
class SilentRescue(Rule):
    """
    ## What it does
    Finds a broad `rescue` — bare `rescue`, `rescue => e`, `rescue StandardError` — inside a
    method of a job whose clause neither re-raises (`raise`, `fail`), nor calls `retry_job`
    or `retry`, nor reports the error to a tracker (`Rails.error.report`, Sentry, Honeybadger,
    Bugsnag, Rollbar, Airbrake, Appsignal, `NewRelic::Agent.notice_error`, ErrorTracker —
    the `reporters` option).

    ## Why is this bad?
    The job finishes "successfully": the backend does not retry it, it never reaches the dead
    set or the failed executions, and no one learns that the work was not done. Logging alone
    is not reporting — nobody reads a warning in the job log.

    Rescues of specific exception classes are deliberate handling and are not reported;
    neither are rescue modifiers (`x rescue nil`), `Rails.error.handle` blocks (they report),
    and `rescue Exception` (JL204's). Nor are the multi-line forms of `x rescue nil` — a
    clause that substitutes a value: its `begin` is used as a value (`urls = begin … rescue
    [] end`), or it ends in a plain value (`nil`, `[]`, a variable) or assigns one
    (`id = nil`) — except when it rescues the whole `perform`, whose value nobody reads.
    A class that is a job only because it lives in `app/jobs` must define `perform`: helper
    classes kept there are not checked. The clause counts as reporting when it calls a method
    or class whose name says so (`ExceptionReporter.call`, `ErrorService.notify`,
    `report_error`, `create_failure_notification`, `capture_exception`, `track_error`…) or a
    method of the job or its ancestors that re-raises or reports, or when it passes the
    exception object itself (not just `e.message`) to a method joblint cannot find in the
    project (it may report).

    Only rescues in `perform` (or a block inside it) are reported, where the job then ends as
    a success — for a native Delayed Job or Resque job, the method the backend runs: a custom
    job's `perform`, a Resque job's `def self.perform` (in a model that is a Resque job, only
    that method), a `handle_asynchronously` or `delay`ed method; for an Action Mailbox
    mailbox, `process` (it runs inside `ActionMailbox::RoutingJob`; swallowed, the email is
    marked delivered instead of failed). A helper that rescues hands its result back to
    `perform`, which decides. And only bodies that are empty, only log (`Rails.logger`,
    `logger`, `puts`, `p`, `warn`, also in a loop over the backtrace) or only give a literal
    back: a rescue that records the failure, falls back to other work or calls anything else is
    handling, not swallowing. A job that sets `sidekiq_options retry: false`
    itself does best-effort work by choice: logging its failures is its policy. An empty
    clause holding only a comment that says why is a documented choice, as RuboCop's
    `Lint/SuppressedException` allows by default.

    ## Example
    ```ruby
    def perform(id)
      Invoice.find(id).sync!
    rescue => e
      Rails.logger.warn("sync failed: #{e.message}")
    end
    ```

    ## Use instead
    ```ruby
    def perform(id)
      Invoice.find(id).sync!
    rescue Faraday::TimeoutError => e
      Rails.error.report(e, handled: true)
    end
    ```
    """

    code = "JL203"
    name = "silent-rescue"
    severity = Severity.WARNING
    scope = "file"
    summary = "A broad rescue in a job that neither re-raises nor reports"
    message = "`{clause}` hides the failure: the clause neither re-raises, retries nor reports it"
    help = "Rescue the specific errors you handle, or re-raise / report (Rails.error.report) the rest"
    triggers = ("rescue",)
    options: ClassVar[dict[str, Option]] = {
        "reporters": Option(
            list(DEFAULT_REPORTERS),
            "Calls that report an error (a constant such as `Sentry` or a dotted path such as "
            "`Rails.error.report`)",
        )
    }

    examples = Examples(
        bad=[
            {
                "app/jobs/sync_invoice_job.rb": """
                class SyncInvoiceJob < ApplicationJob
                  retry_on Faraday::TimeoutError

                  def perform(id)
                    Invoice.find(id).sync!
                  rescue => e # expect: JL203
                    Rails.logger.warn("sync failed: #{e.message}")
                    e.backtrace.first(5).each { |line| Rails.logger.warn(line) }
                  end
                end
                """,
            },
            {
                "app/workers/import_worker.rb": """
                class ImportWorker
                  include Sidekiq::Job

                  def perform(ids)
                    ids.each do |id|
                      begin
                        Import.find(id).run!
                      rescue StandardError # expect: JL203
                        next
                      end
                    end
                    cleanup
                  rescue
                    mark_failed  # records the failure: handling, not swallowing
                  end

                  private

                  def mark_failed
                    Import.where(state: "running").update_all(state: "failed")
                  end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    resque (2.6.0)
                    delayed_job (4.1.11)
                """,
                "app/models/feed.rb": """
                class Feed < ApplicationRecord
                  @queue = :feeds

                  def self.perform(id)
                    find(id).refresh!
                  rescue => e # expect: JL203
                    Rails.logger.error(e.message)
                  end

                  def title
                    parsed.title
                  rescue => e
                    Rails.logger.info(e.message)
                  end
                end
                """,
                "app/models/device.rb": """
                class Device < ApplicationRecord
                  def notify(text)
                    Push.deliver(token, text)
                  rescue StandardError => e # expect: JL203
                    logger.warn(e.message)
                  end
                  handle_asynchronously :notify, queue: "push"
                end
                """,
            },
        ],
        good=[
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    resque (2.6.0)
                """,
                "app/models/feed.rb": """
                class Feed < ApplicationRecord
                  @queue = :feeds

                  def self.perform(id)
                    find(id).refresh!
                  rescue Feedjira::NoParserAvailable => e
                    Rails.logger.info(e.message)
                  end

                  def refresh!
                    update!(body: Fetcher.get(url))
                  rescue => e
                    Rails.logger.info(e.message)  # not what Resque runs: `perform` decides
                  end
                end
                """,
            },
            {
                "app/jobs/audit_job.rb": """
                class AuditJob < ApplicationJob
                  retry_on Timeout::Error

                  def perform(urls)
                    urls.each do |url|
                      Auditor.check(url)
                    rescue StandardError
                      # one unreachable page must not stop the audit of the others
                    end
                  end
                end
                """,
            },
            {
                "app/workers/favicon_worker.rb": """
                class FaviconWorker
                  include Sidekiq::Job
                  sidekiq_options retry: false  # best effort: many sites have no icon

                  def perform(host)
                    Favicon.fetch!(host)
                  rescue => error
                    Sidekiq.logger.info("no favicon for #{host}: #{error.message}")
                  end
                end
                """,
            },
            {
                "app/jobs/sync_invoice_job.rb": """
                class SyncInvoiceJob < ApplicationJob
                  retry_on Faraday::TimeoutError

                  def perform(id)
                    invoice = Invoice.find(id)
                    begin
                      invoice.sync!
                    rescue Faraday::ConnectionFailed => e
                      logger.info(e.message)
                    end
                    invoice.total rescue nil
                    Rails.error.handle { invoice.notify_accounting }
                  rescue => e
                    Rails.error.report(e)
                  end
                end
                """,
                "app/services/invoice_sync.rb": """
                class InvoiceSync
                  def call
                    sync!
                  rescue => e
                    nil
                  end
                end
                """,
                "app/jobs/feed_finder.rb": """
                class FeedFinder
                  def host(url)
                    URI(url).host
                  rescue
                    nil
                  end
                end
                """,
            },
            {
                "app/jobs/application_job.rb": """
                class ApplicationJob < ActiveJob::Base
                  discard_on ActiveJob::DeserializationError

                  private

                  def track(error)
                    Honeybadger.notify(error)
                  end
                end
                """,
                "app/jobs/export_job.rb": """
                class ExportJob < ApplicationJob
                  def perform(id)
                    attempts = 0
                    begin
                      Export.find(id).upload!
                    rescue StandardError => e
                      attempts += 1
                      retry if attempts < 3
                      raise
                    end
                  rescue => e
                    track(e)
                  end

                  def finish
                    Export.last.finish!
                  rescue StandardError => e
                    ErrorNotifier.notify(e)
                  rescue Exception => e
                    Sentry.capture_exception(e)
                    raise
                  end

                  def flush
                    Export.flush!
                  rescue => e
                    retry_job(wait: 1.minute)
                  end

                  def feeds(url)
                    found = begin
                      FeedFinder.new.feeds(url)
                    rescue
                      logger.info("no feeds at #{url}")
                      []
                    end
                    begin
                      id = verifier.verify(url)
                    rescue
                      id = nil
                    end
                    found
                  end
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        reporters = list(self.settings["reporters"])  # type: ignore[call-overload]
        for rescue in rescues(source):
            classes = rescued_classes(rescue)
            if classes is None or "Exception" in classes or (classes and not set(classes) & BROAD):
                continue  # specific classes are deliberate; `Exception` is JL204's
            method = ruby.enclosing(rescue, ruby.METHOD_TYPES)
            if method is None or not _in_job(source, rescue, app):
                continue
            if not _runs_the_job(method, source, app):
                continue  # a helper that rescues returns to `perform`, which decides
            if _retries_off_by_choice(rescue, app):
                continue  # the job chose no retries: logging the failure is its whole policy
            body = rescue_body(rescue)
            if body is None and _explained(rescue):
                continue  # an empty clause with a comment saying why: a documented choice
            if not only_logs(body):
                continue  # it records the failure, falls back or does other work: handling
            if _is_fallback(rescue, body) and not _swallows_perform(rescue, method):
                continue
            if reraises(body) or self._reports(rescue, body, app, reporters):
                continue
            yield rescue_hit(rescue)

    def _reports(self, rescue: Node, body: Node | None, app: App, reporters: list[str]) -> bool:
        if body is None:
            return False
        variable = rescue.child_by_field_name("variable")
        error_name = ruby.text(variable.named_children[0]) if variable is not None and variable.named_children else None
        owner = app.enclosing_class(rescue)
        for call in ruby.descendants(body, {"call", "identifier"}):
            if call.type == "identifier" and not _is_statement(call):
                continue
            method = ruby.call_method(call)
            if _is_report(call, reporters):
                return True
            if call.type == "identifier" or ruby.call_receiver(call) is None:
                if method in LOG_CALLS:
                    continue
                if self._helper_reports(owner, method, app, reporters):
                    return True
                if (
                    owner is not None
                    and error_name is not None
                    and app.classes.find_method(owner, method) is None
                    and _passes(call, error_name)
                ):
                    return True  # handed to a method joblint cannot see: it may report
        return False

    def _helper_reports(self, owner: str | None, method: str, app: App, reporters: list[str]) -> bool:
        """A method of the job (or its ancestors) that re-raises or reports, one call deep."""
        if owner is None:
            return False
        definition = app.classes.find_method(owner, method)
        if definition is None:
            return False
        if definition.reraises:
            return True
        node = definition.source.root.descendant_for_byte_range(definition.start_byte, definition.end_byte)
        if node is None:
            return False
        return any(_is_report(call, reporters) for call in ruby.descendants(node, {"call"}))


def _explained(rescue: Node) -> bool:
    """An empty `rescue` clause whose lines hold a comment (as RuboCop's
    Lint/SuppressedException allows): the author wrote down why nothing happens."""
    first_line = rescue.start_point[0]
    return any(
        child.type == "comment" and child.start_point[0] > first_line
        for child in rescue.named_children
    )


def _retries_off_by_choice(node: Node, app: App) -> bool:
    """The job's own class sets `sidekiq_options retry: false` (best-effort work)."""
    owner = app.enclosing_class(node)
    option = sidekiq_retries(app).get(owner) if owner is not None else None
    return option is not None and option.enabled is False


def _is_report(call: Node, reporters: list[str]) -> bool:
    """A call to a configured reporter, or one whose name says it reports or notifies."""
    path = call_path(call) if call.type == "call" else None
    if path is not None and path_matches(path, reporters):
        return True
    return bool(_REPORTING_NAME.search(path or ruby.call_method(call)))


def _runs_the_job(method: Node, source: SourceFile, app: App) -> bool:
    """The method the backend calls: `perform`, the method a native Delayed Job or Resque
    job runs (a Resque job's `def self.perform`, a `handle_asynchronously` method), or a
    mailbox's `process` (Action Mailbox's routing job calls it)."""
    if method.type == "method" and ruby.method_name(method) == "perform":
        return True
    if method.type == "method" and ruby.method_name(method) == "process":
        owner = app.enclosing_class(method)
        if owner is not None and MAILBOX_BASE in app.classes.ancestors(owner):
            return True
    return native_jobs.entry_point(app, source, method) is not None


def _in_job(source: SourceFile, node: Node, app: App) -> bool:
    """In a job class; a class that is a job only by its directory must define `perform`
    (helper classes kept in app/jobs are not jobs)."""
    kind = app.job_kind_at(source, node)
    if kind is None:
        return False
    if kind is JobKind.UNKNOWN:
        owner = app.enclosing_class(node)
        return owner is not None and app.classes.find_method(owner, "perform") is not None
    return True


VALUE_TYPES = frozenset(
    {"nil", "true", "false", "integer", "float", "string", "simple_symbol", "array", "hash",
     "constant", "scope_resolution", "identifier", "instance_variable", "self", "string_array",
     "symbol_array"}
)
VALUE_PARENTS = frozenset(
    {"assignment", "operator_assignment", "argument_list", "pair", "return", "array", "hash"}
)


def _is_fallback(rescue: Node, body: Node | None) -> bool:
    """A clause that substitutes a value, the multi-line form of `x rescue nil`: its `begin`
    is used as a value (`urls = begin … rescue [] end`), or its last statement is a plain value
    (`nil`, `[]`, `url`) or assigns one (`id = nil`)."""
    container = rescue.parent
    if container is not None and container.type == "begin":
        parent = container.parent
        if parent is not None and parent.type in VALUE_PARENTS:
            return True
    statements = [c for c in body.named_children if c.type != "comment"] if body is not None else []
    if not statements:
        return False
    last = statements[-1]
    if last.type == "assignment":
        last = last.child_by_field_name("right") or last
    return last.type in VALUE_TYPES


def _swallows_perform(rescue: Node, method: Node) -> bool:
    """A rescue of the whole `perform` method: its value is thrown away, so a fallback value
    there is no fallback — the job's work is swallowed."""
    if ruby.method_name(method) != "perform":
        return False
    container = rescue.parent
    if container is not None and container.type == "begin":  # `begin … end` as the whole body
        body = container.parent
        if body is None or len([c for c in body.named_children if c.type != "comment"]) != 1:
            return False
        container = body
    return container is not None and container.parent is not None and container.parent.id == method.id


_STATEMENT_PARENTS = frozenset(
    {"then", "else", "body_statement", "block_body", "begin", "parenthesized_statements"}
)


def _is_statement(identifier: Node) -> bool:
    """A bare identifier used as a statement: a call without receiver or arguments."""
    parent = identifier.parent
    return parent is not None and parent.type in _STATEMENT_PARENTS


def _passes(call: Node, name: str) -> bool:
    """Does the call pass the exception `name` itself (not `name.message`) as an argument, or
    as a value inside a hash or array argument?"""
    for argument in ruby.call_arguments(call):
        for node in ruby.walk(argument):
            if node.type == "identifier" and ruby.text(node) == name:
                parent = node.parent
                if parent is None or parent.type != "call":
                    return True
    return False
