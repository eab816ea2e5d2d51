from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..rails.app import App
from ..rails.jobs import ENQUEUE_METHODS, job_arguments
from ..rails.named_calls import calls_named
from ..rails.queues import enqueue_calls
from ..ruby import Node
from ..source import SourceFile
from . import Examples, Option, Rule, register
from ._arguments import argument_name, assigned_value, name_matches, perform_parameters

SENSITIVE_NAMES = (
    "password", "passwd", "secret", "token", "api_key", "access_token", "refresh_token",
    "private_key", "credit_card", "card_number", "cvv", "ssn",
)
_CALLS = frozenset(ENQUEUE_METHODS)


@register
class SensitiveArgument(Rule):
    """
    ## What it does
    Finds a secret passed as a job argument, judged by its name: a local or instance variable,
    a method call without receiver, a hash key, or `params[:key]` named `password`, `token`,
    `api_key`, `secret`, `credit_card`, `ssn`… — or ending in `_` plus one of them
    (`reset_token`, `stripe_api_key`) — given to `perform_later`, `perform_async`,
    `perform_in`, `perform_at` or `perform_bulk`; and a job's `perform` parameter with such
    a name.

    ## Why is this bad?
    Job arguments are stored in plaintext — in Redis for Sidekiq, in a database table for Solid
    Queue, GoodJob and Delayed Job — for as long as the job waits, retries or sits in the dead
    set, and they are printed in logs, dashboards and error reports. A password or token in an
    argument is a credential at rest that nobody rotates (CWE-312).

    Names are compared whole: `token_id`, `password_reset_id` and `tokens_count` are not
    secrets, and neither is a variable holding an object built or looked up in the same method
    (`token = Token.find(id)`, `Token.new(...).tap do |token|`) — a record named `token`.
    Values nested in arrays and hashes are checked; method calls with a receiver
    (`user.api_key`) are not, since their name says little about what is passed. Mailer
    `deliver_later` arguments are not checked.

    The value decides when it is visible: a number, a time or date, or a `.to_i`/`.to_f`
    conversion is not a secret (`perform_later(token_ttl: 1.hour.to_i)`). A `perform`
    parameter is reported only when some caller may fill it with a secret: when every enqueue
    call in the project passes it a value named like something else (`payload`) or visibly
    not a secret, the parameter's name alone is not reported.

    Options: `names` replaces the list of secret words; `allow` lists argument names that
    are never reported (`push_token`).

    ## Example
    ```ruby
    SignupWorker.perform_async(user.id, params[:password])
    ```

    ## Use instead
    ```ruby
    SignupWorker.perform_async(user.id)  # read the secret from the database or credentials
    ```
    """

    code = "JL104"
    name = "sensitive-argument"
    severity = Severity.WARNING
    scope = "file"
    summary = "A secret passed as a job argument (stored in plaintext)"
    message = (
        "`{argument}` is named like a secret (`{word}`): job arguments are stored and logged "
        "in plaintext"
    )
    help = "Pass an id and load the secret inside the job, or encrypt it"
    triggers = ("perform",)
    tags = ("security",)
    cwe = 312
    options = {
        "names": Option(list(SENSITIVE_NAMES), "Words that make an argument name sensitive"),
        "allow": Option([], "Argument names never reported"),
    }

    examples = Examples(
        bad=[
            {
                "app/controllers/signups_controller.rb": """
                class SignupsController < ApplicationController
                  def create
                    SignupWorker.perform_async(params[:email], params[:password]) # expect: JL104
                    ImportJob.perform_later(account_id: 1, api_key: params[:key]) # expect: JL104
                    ImportJob.perform_later(current_api_token) # expect: JL104
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
                "app/jobs/charge_job.rb": """
                class ChargeJob < ApplicationJob
                  def perform(order_id, card_number) # expect: JL104
                    ChargeJob.set(wait: 1.hour).perform_later(order_id, [@reset_token]) # expect: JL104
                  end
                end
                """,
            },
        ],
        good=[
            {
                "app/workers/app_store_notification_worker.rb": """
                class AppStoreNotificationWorker
                  include Sidekiq::Job

                  def perform(token, user_id = nil); end
                end
                """,
                "app/jobs/session_cleanup_job.rb": """
                class SessionCleanupJob < ApplicationJob
                  retry_on Timeout::Error
                  def perform(session_token_ttl:, refresh_token:); end
                end
                """,
                "app/controllers/app_store_controller.rb": """
                class AppStoreController < ApplicationController
                  def create
                    payload = request.raw_post
                    AppStoreNotificationWorker.perform_async(payload, current_user&.id)
                    SessionCleanupJob.perform_later(session_token_ttl: 3600, refresh_token: 1.day.to_i)
                  end
                end
                """,
            },
            {
                "app/controllers/signups_controller.rb": """
                class SignupsController < ApplicationController
                  def create
                    SignupWorker.perform_async(params[:email], params[:token_id])
                    ResetJob.perform_later(password_reset_id: reset.id, tokens_count: 2)
                    ImportJob.perform_later(user.api_key_id, secretary_id)
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
                "app/jobs/charge_job.rb": """
                class ChargeJob < ApplicationJob
                  def perform(order_id, token_id)
                    token = Token.find(token_id)
                    ChargeJob.set(wait: 1.day).perform_later(order_id, token)
                  end
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        words = tuple(self.settings["names"])  # type: ignore[arg-type]
        allowed = frozenset(self.settings["allow"])  # type: ignore[arg-type]

        def sensitive(name: str | None) -> str | None:
            if not name or name in allowed:
                return None
            return name_matches(name, words)

        for call in calls_named(source, _CALLS):
            for argument in job_arguments(call):
                for node, name in _named_values(argument):
                    word = sensitive(name)
                    if word is not None and not constructed_object(node) and not _plainly_not_secret(node):
                        yield Hit.at(node, argument=ruby.text(node), word=word)
        for params in perform_parameters(source):
            if app.job_kind_at(source, params) is None:
                continue
            for param in params.named_children:
                name_node = (
                    param if param.type == "identifier" else param.child_by_field_name("name")
                )
                word = sensitive(ruby.text(name_node)) if name_node is not None else None
                if word is None:
                    continue
                if _callers_pass_no_secret(app, params, param, sensitive):
                    continue  # every caller fills it with something that is not a secret
                yield Hit.at(param, argument=ruby.text(name_node), word=word)


NUMERIC_METHODS = frozenset({"to_i", "to_f", "to_r", "to_d", "count", "size", "length", "iso8601",
                             "to_date", "to_time", "ago", "from_now", "since", "current", "now",
                             "today"})


def _plainly_not_secret(node: Node) -> bool:
    """A hash key whose value, or a value, that is visibly not a secret: a number, a time or
    date, or a numeric conversion (`expires_in: 1.hour.to_i`, `token_count: 3`)."""
    value = node
    if node.parent is not None and node.parent.type == "pair" and node.parent.child_by_field_name("key") == node:
        value = node.parent.child_by_field_name("value") or node
    if value.type in ("integer", "float", "true", "false", "nil"):
        return True
    return value.type == "call" and ruby.call_method(value) in NUMERIC_METHODS


def _callers_pass_no_secret(app: App, params: Node, param: Node, sensitive) -> bool:  # type: ignore[no-untyped-def]
    """Do the project's enqueue calls of this job all fill `param` with a value that is
    neither named like a secret nor of unknown name? (No callers: unknown → False.)"""
    job = app.enclosing_class(params)
    calls = enqueue_calls(app).get(job or "", [])
    if not calls:
        return False
    positional = [p for p in params.named_children if p.type in ("identifier", "optional_parameter")]
    for call in calls:
        arguments = job_arguments(call)
        if any(a.type in ("splat_argument", "hash_splat_argument") for a in arguments):
            return False
        if param.type == "keyword_parameter":
            key = ruby.text(param.child_by_field_name("name"))
            values = [
                a.child_by_field_name("value") for a in arguments
                if a.type == "pair" and ruby.pair_key(a) == key
            ]
        elif param in positional:
            plain = [a for a in arguments if a.type != "pair"]
            index = positional.index(param)
            values = [plain[index]] if index < len(plain) else []
        else:
            return False
        for value in values:
            if value is None:
                return False
            name = argument_name(value)
            if not _plainly_not_secret(value) and (name is None or sensitive(name)):
                return False
    return True


def _named_values(node: Node) -> Iterator[tuple[Node, str | None]]:
    """(node, name) for an argument and what it contains: hash keys (as the node of the key),
    array elements and hash values, recursively."""
    if node.type == "array":
        for child in node.named_children:
            yield from _named_values(child)
    elif node.type == "hash":
        for pair in node.named_children:
            yield from _named_values(pair)
    elif node.type == "pair":
        key = node.child_by_field_name("key")
        if key is not None:
            yield key, ruby.pair_key(node)
        value = node.child_by_field_name("value")
        if value is not None:
            yield from _named_values(value)
    else:
        yield node, argument_name(node)


# Calls that return a model or another object, never a secret string.
CONSTRUCTORS = frozenset(
    {"new", "find", "find_by", "find_by!", "create", "create!", "first", "last", "take", "build",
     "find_or_create_by", "find_or_create_by!", "find_or_initialize_by", "create_or_find_by"}
)


def constructed_object(node: Node) -> bool:
    """A variable holding a constructed or looked-up object (`token = Token.find(id)`,
    `Token.new(...).tap do |token|`): a record named `token` is not a secret."""
    if node.type not in ("identifier", "instance_variable"):
        return False
    value: Node | None = None
    binding = ruby.block_binding(ruby.text(node), node) if node.type == "identifier" else None
    if binding is not None:
        call, _ = binding
        value = ruby.call_receiver(call) if ruby.call_method(call) == "tap" else None
    else:
        value = assigned_value(node)
    return value is not None and value.type == "call" and ruby.call_method(value) in CONSTRUCTORS
