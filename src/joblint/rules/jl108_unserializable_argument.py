from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..patterns import lazy_pattern
from ..rails.app import App
from ..rails.classes import is_model
from ..rails.named_calls import calls_named
from ..ruby import Node
from ..source import SourceFile
from . import Examples, Rule, register
from ._arguments import LATER, elements, later_call
from ._records import chain_arguments

_CALLS = frozenset(LATER)
# Ancestors known not to make instances serializable: the class's own code decides.
PLAIN_ANCESTORS = frozenset(
    {
        "Object", "BasicObject", "Comparable", "Enumerable", "Kernel", "ActiveModel::Model",
        "ActiveModel::API", "ActiveModel::Attributes", "ActiveModel::Validations",
        "ActiveModel::Conversion", "ActiveModel::Naming", "ActiveModel::Callbacks",
        "ActiveModel::Serialization", "ActiveModel::Serializers::JSON", "ActiveModel::Dirty",
        "ActiveSupport::Callbacks", "ActiveJob::Base", "ActionMailer::Base",
        "ActionController::Base", "ActionController::API", "ActionDispatch::IntegrationTest",
        "ApplicationService", "Callable",
    }
)  # fmt: skip
_SERIALIZER = lazy_pattern(rb"ActiveJob::Serializers|GlobalID::Identification|def to_global_id")


@register
class UnserializableArgument(Rule):
    """
    ## What it does
    Finds `self`, or an instance of a project class built with `new` (directly or through a
    local variable), passed to `perform_later` or to a mailer delivered with `deliver_later`,
    when that class is neither an Active Record model nor `GlobalID::Identification` — a
    service object, a form object, a plain Ruby object, the job or controller itself.

    ## Why is this bad?
    ActiveJob serializes arguments when the job is enqueued and accepts only JSON types,
    symbols, times, durations, GlobalID objects and types with a registered serializer. Any
    other object raises `ActiveJob::SerializationError` at the enqueue — in production, since
    tests running jobs inline may never serialize them. A service object that enqueues itself
    (`SyncJob.perform_later(self)`) is the common form.

    Only classes whose every ancestor joblint can read are judged: a class including a gem's
    module might get `GlobalID::Identification` from it. A project with its own
    `ActiveJob::Serializers` serializer, or a class defining `to_global_id`, is not reported.

    ## Example
    ```ruby
    class InvoiceSync
      def call
        SyncJob.perform_later(self)
      end
    end
    ```

    ## Use instead
    ```ruby
    class InvoiceSync
      def call
        SyncJob.perform_later(@invoice.id)
      end
    end
    ```
    """

    code = "JL108"
    name = "unserializable-argument"
    severity = Severity.ERROR
    scope = "project"
    summary = "An argument ActiveJob cannot serialize: SerializationError at enqueue"
    message = (
        "`{argument}` is a `{klass}`, neither a model nor GlobalID::Identification: `{method}` "
        "raises ActiveJob::SerializationError"
    )
    help = "Pass ids or plain values and rebuild the object inside the job"
    triggers = LATER

    examples = Examples(
        bad=[
            {
                "app/services/invoice_sync.rb": """
                class InvoiceSync
                  def initialize(invoice)
                    @invoice = invoice
                  end

                  def call
                    SyncJob.perform_later(self) # expect: JL108
                  end
                end
                """,
                "app/jobs/sync_job.rb": """
                class SyncJob < ApplicationJob
                  def perform(sync); end
                end
                """,
            },
            {
                "app/forms/signup_form.rb": """
                class SignupForm
                  include ActiveModel::Model
                  attr_accessor :email
                end
                """,
                "app/controllers/signups_controller.rb": """
                class SignupsController < ApplicationController
                  def create
                    form = SignupForm.new(email: params[:email])
                    SignupMailer.with(form: form).confirm.deliver_later # expect: JL108
                    AuditJob.perform_later(SignupForm.new(email: "x"), "signup") # expect: JL108
                  end
                end
                """,
                "app/jobs/audit_job.rb": """
                class AuditJob < ApplicationJob
                  def perform(subject, event); end
                end
                """,
            },
        ],
        good=[
            {
                "app/models/invoice.rb": """
                class Invoice < ApplicationRecord
                  def sync_later
                    SyncJob.perform_later(self)
                  end
                end
                """,
                "app/services/invoice_sync.rb": """
                class InvoiceSync
                  def initialize(invoice)
                    @invoice = invoice
                  end

                  def call
                    SyncJob.perform_later(@invoice)
                    SyncJob.perform_now(self)
                  end

                  def self.enqueue
                    SyncJob.perform_later(self)
                  end
                end
                """,
                "app/jobs/sync_job.rb": """
                class SyncJob < ApplicationJob
                  def perform(record); end
                end
                """,
            },
            {
                "app/models/money_amount.rb": """
                class MoneyAmount
                  def initialize(cents)
                    @cents = cents
                  end
                end
                """,
                "app/serializers/money_amount_serializer.rb": """
                class MoneyAmountSerializer < ActiveJob::Serializers::ObjectSerializer
                  def serialize?(argument) = argument.is_a?(MoneyAmount)
                end
                """,
                "app/services/gem_backed.rb": """
                class GemBacked
                  include SomeGem::Identifiable

                  def call
                    AuditJob.perform_later(self, MoneyAmount.new(5))
                  end
                end
                """,
                "app/jobs/audit_job.rb": """
                class AuditJob < ApplicationJob
                  def perform(subject, amount); end
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        for call in calls_named(source, _CALLS, receiver=True):
            method = ruby.call_method(call)
            if not later_call(call, app):
                continue
            for argument in chain_arguments(call):
                if argument.type == "pair":
                    argument = argument.child_by_field_name("value") or argument
                for value in elements(argument):
                    klass = _plain_object_class(value, app, 0)
                    if klass is not None and klass not in serializable_classes(app):
                        yield Hit.at(value, argument=ruby.text(value), klass=klass, method=method)


def _plain_object_class(value: Node, app: App, depth: int) -> str | None:
    """The project class of a value that is an instance of it: `self` in an instance method of
    a class, `Foo.new(…)`, or a local assigned one; only when ActiveJob cannot serialize it."""
    name: str | None = None
    if value.type == "self":
        if ruby.enclosing(value, {"singleton_method", "singleton_class"}) is not None:
            return None  # the class itself
        scope = ruby.enclosing(value, {"class", "module"})
        if scope is None or scope.type != "class":
            return None  # a module's `self` is whatever includes it
        name = app.enclosing_class(value)
    elif value.type == "call" and ruby.call_method(value) == "new":
        written = ruby.constant_path(ruby.call_receiver(value))
        if written is None:
            return None
        name = app.classes.resolve(written, app.lexical_scope(value))
    elif value.type == "identifier" and depth < 2:
        assigned = ruby.last_assignment(ruby.text(value), value)
        return None if assigned is None else _plain_object_class(assigned, app, depth + 1)
    if name is None or name not in app.classes:
        return None
    return name if _unserializable(name, app) else None


def _unserializable(name: str, app: App) -> bool:
    """A class (not a module) whose every ancestor joblint can read and none of which is a
    model or gives GlobalID."""
    classes = app.classes
    if any(d.is_module for d in classes.definitions.get(name, ())) or is_model(classes, name):
        return False
    for owner in classes.lineage(name):
        if classes.find_method(owner, "to_global_id") is not None:
            return False
    return all(a in classes or a in PLAIN_ANCESTORS for a in classes.ancestors(name))


def serializable_classes(app: App) -> frozenset[str]:
    return app.fact("jl108_serializable", _build_serializable)


def _build_serializable(app: App) -> frozenset[str]:
    """Project classes a custom `ActiveJob::Serializers` serializer or GlobalID may handle:
    every class whose name appears in a project file that mentions either."""
    names: set[str] = set()
    paths = sorted({d.path for n in app.classes.names() for d in app.classes.definitions[n]})
    for relpath in paths if app.root is not None else ():
        source = app.source(app.root / relpath)
        if source is not None and _SERIALIZER.search(source.data):
            names.update(ruby.text(node) for node in ruby.descendants(source.root, {"constant"}))
    return frozenset(n for n in app.classes.names() if n.rsplit("::", 1)[-1] in names)
