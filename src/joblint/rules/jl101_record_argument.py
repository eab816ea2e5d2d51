from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from .. import ruby
from ..findings import Hit, Severity
from ..rails import native_jobs
from ..rails.app import App
from ..rails.jobs import ENQUEUE_METHODS, JobKind, enqueue_family, enqueued_class, job_arguments
from ..rails.models import deletes_records_of
from ..rails.named_calls import calls_named
from ..rails.wrappers import wrapped_enqueues
from ..ruby import Node
from ..source import SourceFile
from . import Examples, Option, Rule, register
from ._records import _names_record, record_model

_ENQUEUES = frozenset(ENQUEUE_METHODS)


@register
class RecordArgument(Rule):
    """
    ## What it does
    Finds an Active Record object passed as a job argument to `perform_later`,
    `set(...).perform_later`, `perform_async`, `perform_in`, `perform_at` or `perform_bulk`:
    a finder result (`User.find(id)`, `find_by`, `first`, `create`…), a variable assigned one,
    a block variable iterating a model relation, `current_user`, `self` inside a model, or a
    variable named after a model of `app/models` (`user`, `@order`, `line_item`) — also when
    nested in an array or hash argument.

    ## Why is this bad?
    Sidekiq arguments must be native JSON: Sidekiq 7 raises on a record (strict arguments),
    so the call is an error. ActiveJob serializes a record as a GlobalID and loads it again when
    the job runs; if the record was deleted meanwhile the job fails with
    `ActiveJob::DeserializationError`, and if it changed, the job sees the new state.

    GlobalID arguments are the documented Rails idiom, so the ActiveJob case is off by default
    (`allow-global-id: true`): on the real apps of the ecosystem check, even reported only
    where the harm can happen, fewer than a third of those findings were worth changing. With
    `allow-global-id: false` it is a warning, reported only when the record can really be
    gone: the target job is a project class that does not handle
    `ActiveJob::DeserializationError` (`discard_on`/`retry_on`/`rescue_from` naming it, in the
    job or an ancestor), the project destroys or deletes records of that model somewhere
    (`destroy`/`delete`/`destroy_all`… on it or on a variable named after it, or a
    `dependent: :destroy` cascade from a model it deletes), and the model is not soft-deleted
    (`acts_as_paranoid`, `include Discard::Model`). Mailer `deliver_later` arguments are not
    checked: GlobalID is the Rails idiom there.

    Resque enqueues count too (`Resque.enqueue`, `enqueue_to`, resque-scheduler's
    `enqueue_in`/`enqueue_at`, `Resque::Job.create`): Resque stores arguments as JSON, so a
    record reaches `perform` as a string — an error, as for Sidekiq. Delayed Job's are not
    checked: its YAML keeps the record's class and id and loads it again with `find`; when the
    record is gone the worker rescues `Delayed::DeserializationError` and drops the job at once,
    without an error anywhere or a retry — for a job about a deleted record, the outcome wanted
    (on the Delayed Job apps of the ecosystem check, none of the 5 such arguments was worth
    changing).

    Values are followed where the project shows them: a local assigned earlier in the method,
    a method of the class chain without arguments (its last expression, `@x ||= value`, one
    level deep), a parameter of a method that a caller in the class passes a record (that call
    fails; a parameter every caller passes ids or strings is not a record), `self` in a concern
    that one model
    includes, a `current_<model>` helper, a belongs_to/has_one reader of a record
    (`order.customer`), and the first block variable of a model callback or state-machine
    transition (`after_transition do |order, transition|`), whose class is the model declaring
    the hook (or the one model including the concern that declares it).

    A variable counts as a record by its name only when nothing visible says it holds something
    else: the method does not assign it other data (`user = params.require(:user)` is request
    data), it is not a parameter with a plain default (`channel: "email"`, or a constant the file
    assigns a string), and, for an attribute or `@variable`, the class does not assign it only
    such data. `self` inside `def self.x` or `class << self` is the class, not a record.
    `user.id`, `user_id`, strings and numbers are never flagged.

    ## Example
    ```ruby
    user = User.find(params[:id])
    WelcomeJob.perform_later(user)
    ```

    ## Use instead
    ```ruby
    WelcomeJob.perform_later(user.id)  # and `User.find_by(id: user_id)` in perform
    ```
    """

    code = "JL101"
    name = "record-argument"
    severity = Severity.WARNING
    scope = "project"
    summary = "An Active Record object passed as a job argument"
    message = "`{argument}` is an Active Record object passed to `{method}`: {why}"
    help = "Pass the record's id and look the record up inside the job"
    triggers = (*ENQUEUE_METHODS, "Resque")
    options: ClassVar[dict[str, Option]] = {
        "allow-global-id": Option(
            True,
            "Do not report records passed to ActiveJob `perform_later` (GlobalID); set false "
            "to report those whose record can be gone when the job runs",
        )
    }

    examples = Examples(
        bad=[
            {
                "app/models/user.rb": """
                class User < ApplicationRecord
                end
                """,
                "app/jobs/welcome_job.rb": """
                class WelcomeJob < ApplicationJob
                  def perform(user); end
                end
                class AuditJob < ApplicationJob
                  def perform(actor:); end
                end
                """,
                "app/controllers/users_controller.rb": """
                class UsersController < ApplicationController
                  def create
                    user = User.create!(user_params)
                    WelcomeJob.perform_later(user) # expect: JL101
                    AuditJob.set(wait: 5.minutes).perform_later(actor: current_user) # expect: JL101
                  end

                  def destroy
                    User.find(params[:id]).destroy
                  end
                end
                """,
            },
            {
                "app/models/order.rb": """
                class Order < ApplicationRecord
                  after_commit { ReceiptWorker.perform_async([self]) } # expect: JL101
                end
                """,
                "app/services/order_sync.rb": """
                class OrderSync
                  def call
                    Order.where(state: "paid").find_each do |paid|
                      SyncWorker.perform_in(5.minutes, paid) # expect: JL101
                    end
                    SyncWorker.perform_async(@order) # expect: JL101
                  end
                end
                """,
            },
            {
                "app/models/shop/order.rb": """
                module Shop
                  class Order < ApplicationRecord
                    belongs_to :customer
                    state_machine :state do
                      after_transition to: :paid do |paid, transition|
                        FulfilmentWorker.perform_async(paid) # expect: JL101
                      end
                    end
                  end
                end
                """,
                "app/models/customer.rb": """
                class Customer < ApplicationRecord
                end
                """,
                "app/controllers/application_controller.rb": """
                class ApplicationController < ActionController::Base
                  def current_customer
                    @current_customer ||= Customer.find_by(id: session[:customer_id])
                  end
                end
                """,
                "app/controllers/orders_controller.rb": """
                class OrdersController < ApplicationController
                  def update
                    ReminderWorker.perform_async(current_customer) # expect: JL101
                    ReminderWorker.perform_async(target.customer) # expect: JL101
                  end

                  private

                  def target
                    Shop::Order.find(params[:id])
                  end
                end
                """,
            },
            {
                "app/models/organization.rb": """
                class Organization < ApplicationRecord
                  include Syncable
                end
                """,
                "app/models/concerns/syncable.rb": """
                module Syncable
                  def sync_later
                    OrganizationSyncJob.perform_later(self) # expect: JL101
                  end
                end
                """,
                "app/jobs/organization_sync_job.rb": """
                class OrganizationSyncJob < ApplicationJob
                  def perform(organization); end
                end
                class PartnerMailWorker
                  include Sidekiq::Job
                  def perform(organization_id, event); end

                  def self.perform_async_in_queue(queue, *args)
                    set(queue: queue).perform_async(*args)
                  end
                end
                """,
                "app/controllers/distributions_controller.rb": """
                class DistributionsController < ApplicationController
                  def create
                    organization = Organization.find(params[:organization_id])
                    notify(organization.id, "opened")
                    notify(organization, "created")
                    organization.destroy if params[:undo]
                  end

                  private

                  def notify(target, event)
                    PartnerMailWorker.perform_async(target, event) # expect: JL101
                    PartnerMailWorker.perform_async_in_queue("low", target, event) # expect: JL101
                  end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    resque (2.6.0)
                """,
                "app/models/invoice.rb": """
                class Invoice < ApplicationRecord
                end
                """,
                "app/jobs/pdf_job.rb": """
                class PdfJob
                  @queue = :pdfs
                  def self.perform(invoice_id); end
                end
                """,
                "app/controllers/invoices_controller.rb": """
                class InvoicesController < ApplicationController
                  def create
                    invoice = Invoice.create!(invoice_params)
                    Resque.enqueue(PdfJob, invoice) # expect: JL101
                    Resque.enqueue_in(5.minutes, PdfJob, invoice) # expect: JL101
                    Resque.enqueue_to(:pdfs, PdfJob, invoice.id, { "by" => current_user }) # expect: JL101
                  end
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
                    delayed_job (4.1.11)
                    delayed_job_active_record (4.1.8)
                """,
                "app/models/invoice.rb": """
                class Invoice < ApplicationRecord
                  def render_pdf; end
                  def send_reminder(user); end
                  handle_asynchronously :send_reminder
                end
                """,
                "app/jobs/pdf_job.rb": """
                class PdfJob
                  @queue = :pdfs
                  def self.perform(invoice_id); end
                end
                PrintJob = Struct.new(:invoice) do
                  def perform; end
                end
                """,
                "app/controllers/invoices_controller.rb": """
                class InvoicesController < ApplicationController
                  def create
                    invoice = Invoice.create!(invoice_params)
                    Resque.enqueue(PdfJob, invoice.id)
                    # Delayed Job reloads records with `find`; a gone one only drops the job
                    invoice.delay.render_pdf
                    Delayed::Job.enqueue(PrintJob.new(invoice))
                    invoice.send_reminder(current_user)
                  end

                  def destroy
                    Invoice.find(params[:id]).destroy
                  end
                end
                """,
            },
            {
                "app/models/account.rb": """
                class Account < ApplicationRecord
                  has_many :users, dependent: :destroy
                end
                """,
                "app/models/project.rb": """
                class Project < ApplicationRecord
                  acts_as_paranoid
                end
                """,
                "app/models/invoice.rb": """
                class Invoice < ApplicationRecord
                end
                """,
                "app/jobs/application_job.rb": """
                class ApplicationJob < ActiveJob::Base
                end
                """,
                "app/jobs/export_job.rb": """
                class ExportJob < ApplicationJob
                  discard_on ActiveJob::DeserializationError
                  def perform(record); end
                end
                class SyncJob < ApplicationJob
                  def perform(record); end
                end
                """,
                "app/controllers/accounts_controller.rb": """
                class AccountsController < ApplicationController
                  def export
                    account = Account.find(params[:id])
                    ExportJob.perform_later(account.users.first)  # the job discards a gone record
                    SyncJob.perform_later(Invoice.find(params[:invoice_id]))  # never deleted
                    SyncJob.perform_later(Project.find(params[:project_id]))  # soft-deleted
                    Ahoy::GeocodeV2Job.perform_later(account)  # a gem's job: it may handle it
                  end

                  def destroy
                    Account.find(params[:id]).destroy
                    Project.find(params[:project_id]).destroy
                  end
                end
                """,
            },
            {
                "app/models/user.rb": """
                class User < ApplicationRecord
                end
                """,
                "app/controllers/users_controller.rb": """
                class UsersController < ApplicationController
                  def create
                    user = User.create!(user_params)
                    WelcomeJob.perform_later(user.id)
                    WelcomeJob.perform_later(user_id: user.id, email: user.email)
                    SyncWorker.perform_async(params[:stripe_id], "full", 3)
                    UserMailer.with(user: user).welcome.deliver_later
                  end
                end
                """,
            },
            {
                "app/models/user.rb": """
                class User < ApplicationRecord
                end
                """,
                "app/services/report.rb": """
                class Report
                  def call(account)
                    user = params[:user_id]
                    ReportJob.perform_later(user, account)
                    ReportJob.perform_later(User.where(active: true).pluck(:id).first)
                  end
                end
                """,
            },
            {
                "app/models/shop/order.rb": """
                module Shop
                  class Order < ApplicationRecord
                    has_many :items
                  end
                end
                """,
                "app/models/customer.rb": """
                class Customer < ApplicationRecord
                  include Notifying
                end
                """,
                "app/models/concerns/notifying.rb": """
                module Notifying
                  extend ActiveSupport::Concern
                  included do
                    after_commit { |record| NotifyWorker.perform_async(record.id) }
                  end
                end
                """,
                "app/controllers/orders_controller.rb": """
                class OrdersController < ApplicationController
                  def update
                    ReminderWorker.perform_async(current_customer_id)
                    ReminderWorker.perform_async(customer)  # the helper returns an id
                    ReminderWorker.perform_async(order.items)  # many records: JL105's concern
                  end

                  private

                  def customer
                    params[:customer_id]
                  end

                  def order
                    Shop::Order.find(params[:id])
                  end
                end
                """,
            },
            {
                "app/models/organization.rb": """
                class Organization < ApplicationRecord
                end
                """,
                "app/controllers/distributions_controller.rb": """
                class DistributionsController < ApplicationController
                  def create
                    organization = Organization.find(params[:organization_id])
                    notify(organization.id)
                    notify(params[:organization_id])
                  end

                  private

                  def notify(organization)
                    PartnerMailWorker.perform_async(organization)
                  end
                end
                """,
            },
        ],
        settings={"allow-global-id": False},  # the ActiveJob case is opt-in
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        yield from self._native(source, app)
        calls = [(c, None) for c in calls_named(source, _ENQUEUES)]
        calls += [(call, (w, args)) for call, w, args in wrapped_enqueues(source, app)]
        for call, wrapped in calls:
            if wrapped is None:
                family, arguments = enqueue_family(call), job_arguments(call)
            else:
                wrapper, arguments = wrapped
                family = (
                    JobKind.ACTIVE_JOB if wrapper.enqueue == "perform_later" else JobKind.SIDEKIQ
                )
            if family is JobKind.ACTIVE_JOB and self.settings["allow-global-id"]:
                continue
            for argument in arguments:
                for record, model in self._records(argument, app):
                    if family is JobKind.ACTIVE_JOB and not _can_be_gone(call, model, app):
                        continue
                    yield Hit.at(
                        record,
                        severity=Severity.ERROR if family is JobKind.SIDEKIQ else None,
                        argument=ruby.pair_key(record) or ""
                        if record.type == "pair"
                        else ruby.text(record),
                        method=ruby.call_method(call),
                        why=_WHY[family],  # type: ignore[index]
                    )

    def _native(self, source: SourceFile, app: App) -> Iterator[Hit]:
        """Records given to Resque: its JSON hands the job a string. (Delayed Job's YAML loads
        a record again with `find`, and a gone one only drops the job: not reported.)"""
        for enqueue in native_jobs.native_enqueues_in(app, source):
            if enqueue.kind is not JobKind.RESQUE:
                continue
            for argument in enqueue.arguments:
                for record, _ in self._records(argument, app):
                    yield Hit.at(
                        record,
                        severity=Severity.ERROR,
                        argument=ruby.pair_key(record) or ""
                        if record.type == "pair"
                        else ruby.text(record),
                        method=native_jobs.enqueue_label(enqueue),
                        why=_WHY[JobKind.RESQUE],
                    )

    def _records(self, node: Node, app: App) -> Iterator[tuple[Node, str]]:
        """The record-valued expressions in an argument, descending into arrays and hashes,
        with the model of each."""
        if node.type in ("array", "argument_list"):
            for child in node.named_children:
                yield from self._records(child, app)
        elif node.type == "hash":
            for pair in node.named_children:
                yield from self._records(pair, app)
        elif node.type == "pair":
            value = node.child_by_field_name("value")
            if value is not None:
                yield from self._records(value, app)
            else:  # `user:` shorthand for `user: user` (Ruby 3.1)
                model = _names_record(ruby.pair_key(node) or "", "identifier", node, app, 0)
                if model is not None:
                    yield node, model
        else:
            model = record_model(node, app)
            if model is not None:
                yield node, model


DESERIALIZATION_ERRORS = frozenset({"ActiveJob::DeserializationError", "DeserializationError"})


def _can_be_gone(call: Node, model: str, app: App) -> bool:
    """Can the GlobalID argument fail to load when the job runs? Only when the target job
    (a project class) does not handle `ActiveJob::DeserializationError` and the project deletes
    records of that model (without soft-deleting them)."""
    job = enqueued_class(call, app.classes, app.lexical_scope(call))
    if job is None or job not in app.classes:
        return False  # a job joblint cannot read may well handle it
    if any(DESERIALIZATION_ERRORS & set(h.exceptions) for h in app.classes.handlers(job)):
        return False
    return deletes_records_of(app, model)


_WHY = {
    JobKind.SIDEKIQ: "Sidekiq arguments must be native JSON (strict arguments raise)",
    JobKind.ACTIVE_JOB: "its GlobalID raises ActiveJob::DeserializationError if the record is "
    "deleted before the job runs",
    JobKind.RESQUE: "Resque stores arguments as JSON, so the job gets a string, not the record",
}
