from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..rails.app import App
from ..rails.jobs import ENQUEUE_METHODS, JobKind, enqueue_family, enqueued_class, job_arguments
from ..rails.models import deletes_records_of
from ..ruby import Node
from ..source import SourceFile
from . import Examples, Option, Rule, register

# Methods that return one record when called on a model or one of its relations.
FINDERS = frozenset(
    {
        "find", "find_by", "find_by!", "first", "first!", "last", "last!", "take", "take!",
        "sole", "find_sole_by", "create", "create!", "new", "find_or_create_by",
        "find_or_create_by!", "find_or_initialize_by", "create_or_find_by", "create_or_find_by!",
    }
)
# Methods whose result is not a relation of records: a chain through one is not a record.
NOT_RECORDS = frozenset(
    {
        "pluck", "ids", "pick", "count", "sum", "minimum", "maximum", "average", "size",
        "map", "collect", "flat_map", "group_by", "index_by", "to_json", "as_json", "id",
        "attributes", "exists?", "any?", "none?", "to_sql", "calculate", "select_all",
    }
)
ITERATORS = frozenset(
    {"each", "find_each", "each_with_index", "map", "flat_map", "each_with_object", "select",
     "reject", "filter_map", "collect"}
)
_ENQUEUES = ruby.calls_query(ENQUEUE_METHODS)
_MAX_DEPTH = 4  # variable chains followed before giving up


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
    triggers = ENQUEUE_METHODS
    options = {
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
        ],
        good=[
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
        ],
        settings={"allow-global-id": False},  # the ActiveJob case is opt-in
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        for _, caps in ruby.matches(_ENQUEUES, source.root):
            call = caps["call"][0]
            family = enqueue_family(call)
            if family is JobKind.ACTIVE_JOB and self.settings["allow-global-id"]:
                continue
            for argument in job_arguments(call):
                for record, model in self._records(argument, app):
                    if family is JobKind.ACTIVE_JOB and not _can_be_gone(call, model, app):
                        continue
                    yield Hit.at(
                        record,
                        severity=Severity.ERROR if family is JobKind.SIDEKIQ else None,
                        argument=ruby.pair_key(record) or "" if record.type == "pair"
                        else ruby.text(record),
                        method=ruby.call_method(call),
                        why=_WHY[family],
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
}


def is_record(node: Node, app: App, depth: int = 0) -> bool:
    """Does this expression evaluate to one Active Record object, as far as one file shows?"""
    return record_model(node, app, depth) is not None


def record_model(node: Node, app: App, depth: int = 0) -> str | None:
    """The model of the one Active Record object this expression evaluates to, or None."""
    if depth > _MAX_DEPTH:
        return None
    kind = node.type
    if kind == "parenthesized_statements" and node.named_child_count == 1:
        return record_model(node.named_children[0], app, depth + 1)
    if kind == "self":
        if ruby.enclosing(node, {"singleton_method", "singleton_class"}) is not None:
            return None  # `def self.x` / `class << self`: self is the class, not a record
        owner = app.enclosing_class(node)
        return owner if owner is not None and owner in app.model_classes else None
    if kind == "call":
        if ruby.call_method(node) in FINDERS:
            return _model_chain(node, app)
        return _current_record(node, app)
    if kind in ("identifier", "instance_variable"):
        return _names_record(ruby.text(node), kind, node, app, depth)
    return None


def _names_record(name: str, kind: str, node: Node, app: App, depth: int) -> str | None:
    """The model of the record the variable `name`, read at `node`, holds (None: not one)."""
    if kind == "identifier":
        binding = ruby.block_binding(name, node)
        if binding is not None:
            call, index = binding
            return _iterated_model(call, app) if index == 0 else None
    assigned = ruby.last_assignment(name, node)
    if assigned is not None:
        model = record_model(assigned, app, depth + 1)
        if model is not None:
            return model
        if _plainly_data(assigned):
            return None
    elif kind == "identifier" and name in ruby.method_parameter_names(node):
        if _holds_data(name, node):
            return None  # a parameter whose default value is a string, number…
    elif _stored_data(name if kind == "instance_variable" else f"@{name}", node):
        return None  # an attribute whose every assignment in the class is plain data
    bare = name.lstrip("@")
    if bare == "current_user":
        return app.model_names.get("user", "User")
    return app.model_names.get(bare)


def _model_chain(call: Node, app: App) -> str | None:
    """The model a method chain is rooted at, through relation-returning methods only."""
    root = ruby.chain_root(call)
    written = ruby.constant_path(root)
    if written is None:
        return None
    model = app.classes.resolve(written, app.lexical_scope(call))
    if model not in app.model_classes:
        return None
    return None if set(ruby.chain_methods(call)) & NOT_RECORDS else model


def _current_record(call: Node, app: App) -> str | None:
    """`current_user`, or `Current.user` where `user` names a model."""
    receiver = ruby.call_receiver(call)
    method = ruby.call_method(call)
    if receiver is None:
        if method == "current_user" and not ruby.call_arguments(call):
            return app.model_names.get("user", "User")
        return None
    if ruby.constant_path(receiver) == "Current":
        return app.model_names.get(method)
    return None


def _iterated_model(call: Node, app: App) -> str | None:
    receiver = ruby.call_receiver(call)
    if ruby.call_method(call) not in ITERATORS or receiver is None:
        return None
    return _model_chain(receiver, app)


DATA_TYPES = frozenset(
    {"string", "integer", "float", "simple_symbol", "array", "hash", "nil", "true", "false",
     "element_reference", "binary", "interpolation", "string_array", "symbol_array"}
)
DATA_METHODS = frozenset(
    {"to_s", "to_i", "to_f", "to_sym", "to_param", "to_gid", "to_global_id", "to_sgid", "to_h"}
)
COPIES = frozenset({"freeze", "dup", "presence"})  # same kind of value as the receiver
REQUEST_DATA = frozenset({"params"})  # `params.require(:event)` is request data, never a record


def _plainly_data(value: Node) -> bool:
    """Values that are clearly not a record: literals, `params[...]`, ids and conversions."""
    if value.type in DATA_TYPES:
        return True
    if value.type == "call":
        method = ruby.call_method(value)
        if method in NOT_RECORDS or method in DATA_METHODS or method.endswith("_id"):
            return True
        root = ruby.chain_root(value)
        if root.type in ("identifier", "call") and ruby.text(root) in REQUEST_DATA:
            return True
        receiver = ruby.call_receiver(value)
        return method in COPIES and receiver is not None and _plainly_data(receiver)
    return False


def _holds_data(parameter: str, node: Node) -> bool:
    """Is `parameter` of the method around `node` declared with a plain-data default value
    (`action: "reindex"`, or a constant the file assigns plain data: `action: DEFAULT_ACTION`)?"""
    method = ruby.enclosing(node, ruby.METHOD_TYPES)
    params = method.child_by_field_name("parameters") if method is not None else None
    for param in params.named_children if params is not None else ():
        if param.type not in ("optional_parameter", "keyword_parameter"):
            continue
        name, default = param.child_by_field_name("name"), param.child_by_field_name("value")
        if name is not None and default is not None and ruby.text(name) == parameter:
            return _plainly_data(default) or _data_constant(default)
    return False


def _data_constant(value: Node) -> bool:
    """A constant that its file assigns plain data: `DEFAULT_ACTION = "reindex".freeze`."""
    if value.type != "constant":
        return False
    root = value
    while root.parent is not None:
        root = root.parent
    name = ruby.text(value)
    for assignment in ruby.descendants(root, {"assignment"}):
        left = assignment.child_by_field_name("left")
        if left is not None and left.type == "constant" and ruby.text(left) == name:
            right = assignment.child_by_field_name("right")
            return right is not None and _plainly_data(right)
    return False


_IVAR_ASSIGNMENTS = ruby.compile_query(
    """
    (assignment left: (instance_variable) @ivar right: (_) @value)
    (operator_assignment left: (instance_variable) @ivar right: (_) @value)
    """
)
_last_owner: tuple[int, dict[str, list[Node]]] | None = None  # one class at a time


def _ivar_values(owner: Node) -> dict[str, list[Node]]:
    """Every value assigned to each instance variable in a class, by one query (cached for
    the class being checked: rules look at one file's classes in turn)."""
    global _last_owner
    if _last_owner is None or _last_owner[0] != owner.id:
        table: dict[str, list[Node]] = {}
        for _, caps in ruby.matches(_IVAR_ASSIGNMENTS, owner):
            table.setdefault(ruby.text(caps["ivar"][0]), []).append(caps["value"][0])
        _last_owner = (owner.id, table)
    return _last_owner[1]


def _stored_data(ivar: str, node: Node) -> bool:
    """Does the class around `node` assign instance variable `ivar` only plain data — literals,
    or a parameter with a plain-data default (`@action = action` with `action: "reindex"`)?
    An attribute reader or `@ivar` read in another method then holds data, whatever its name."""
    owner = ruby.enclosing(node, {"class", "module"})
    if owner is None:
        return False
    values = _ivar_values(owner).get(ivar, [])
    return bool(values) and all(
        _plainly_data(value)
        or (value.type == "identifier" and _holds_data(ruby.text(value), value))
        for value in values
    )
