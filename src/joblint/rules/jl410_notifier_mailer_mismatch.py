from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..patterns import lazy_pattern
from ..rails.app import App, underscore
from ..rails.calls import CallShape, arity_problem, parameter_text
from ..rails.mailers import (
    constant_assigned,
    has_dynamic_actions,
    is_mailer,
    is_project_mailer,
    mailer_actions,
)
from ..rails.notifiers import EmailDelivery, email_deliveries, noticed_major, returned_literal
from ..ruby import Node
from ..source import SourceFile
from . import Examples, Rule, register

_CONSTANT = lazy_pattern(r"^[A-Z]\w*(?:::[A-Z]\w*)*$")
# modules a notifier may include that add no methods an option could name
_KNOWN_MIXINS = (
    "Noticed::",
    "ActiveSupport::",
    "ActionView::",
    "ActionDispatch::",
    "Rails::",
    "GlobalID::",
)


@register
class NotifierMailerMismatch(Rule):
    """
    ## What it does
    Finds a notifier of the `noticed` gem whose `deliver_by :email` names a mailer the project
    does not define, an action that mailer (with its project ancestors) does not have as a
    public method, or — through `args`/`kwargs`, or their absence — arguments the action's
    signature does not accept. Both forms are read: noticed 2's
    `deliver_by :email do |config| config.mailer = "UserMailer"; config.method = :new_comment end`
    and noticed 1's `deliver_by :email, mailer: "UserMailer", method: :new_comment` (where a
    missing `method:` means the notification's underscored class name).

    ## Why is this bad?
    noticed resolves the options only when it delivers: `"UserMailer".constantize`, then
    `UserMailer.with(params).public_send(method, *args, **kwargs)` inside the delivery job.
    A typo in the mailer or action name, an action renamed later, or an action that takes an
    argument noticed does not pass raises `NameError`, `NoMethodError` or `ArgumentError`
    there — for every notification of that kind, while the in-app notification still appears.

    noticed calls `method` on the notifier when the notifier defines a method of that name
    (and a proc option is evaluated): then the action is computed, and not judged; nor are
    arguments from a method or a proc that does not return a literal array/hash. Silent for
    a `class:` option (a custom delivery method), options set in ways joblint does not read,
    mailers named in a gem's namespace, and mailers whose actions are not static (a gem
    mixin, `method_missing`, `define_method`). Records in `params`/`with` are not reported:
    noticed serialises params through Active Job (GlobalID), and a record deleted before
    delivery loads as an error value, not an exception.

    ## Example
    ```ruby
    class CommentNotifier < ApplicationNotifier
      deliver_by :email do |config|
        config.mailer = "CommentMailer"
        config.method = :new_coment
      end
    end
    ```

    ## Use instead
    ```ruby
    class CommentNotifier < ApplicationNotifier
      deliver_by :email do |config|
        config.mailer = "CommentMailer"
        config.method = :new_comment
      end
    end
    ```
    """

    code = "JL410"
    name = "notifier-mailer-mismatch"
    severity = Severity.ERROR
    scope = "project"
    summary = (
        "A noticed email delivery naming a missing mailer or action, or passing the wrong arguments"
    )
    message = "`deliver_by :email` {problem} in the delivery job"
    help = "Name a mailer and a public action the project defines, and pass the arguments the action takes"
    triggers = ("deliver_by",)

    examples = Examples(
        bad=[
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    noticed (2.9.3)
                """,
                "app/mailers/application_mailer.rb": """
                class ApplicationMailer < ActionMailer::Base
                end
                """,
                "app/mailers/comment_mailer.rb": """
                class CommentMailer < ApplicationMailer
                  def new_comment
                    mail(to: params[:recipient].email, body: params[:record].body)
                  end

                  def mention(user, comment)
                    mail(to: user.email, body: comment.body)
                  end
                end
                """,
                "app/notifiers/application_notifier.rb": """
                class ApplicationNotifier < Noticed::Event
                end
                """,
                "app/notifiers/comment_notifier.rb": """
                class CommentNotifier < ApplicationNotifier
                  deliver_by :email do |config|
                    config.mailer = "CommentMailer"
                    config.method = :new_coment # expect: JL410
                  end
                end
                """,
                "app/notifiers/mention_notifier.rb": """
                class MentionNotifier < ApplicationNotifier
                  deliver_by :email do |config|
                    config.mailer = "CommentMailer"
                    config.method = "mention"
                    config.args = -> { [recipient] } # expect: JL410
                  end
                end
                """,
                "app/notifiers/digest_notifier.rb": """
                class DigestNotifier < ApplicationNotifier
                  deliver_by :email do |config|
                    config.mailer = "DigestMailer" # expect: JL410
                    config.method = :weekly
                  end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    noticed (1.6.3)
                """,
                "app/mailers/application_mailer.rb": """
                class ApplicationMailer < ActionMailer::Base
                end
                """,
                "app/mailers/invoice_mailer.rb": """
                class InvoiceMailer < ApplicationMailer
                  def paid(invoice)
                    mail(to: invoice.email, body: "Paid")
                  end
                end
                """,
                "app/notifications/invoice_paid_notification.rb": """
                class InvoicePaidNotification < Noticed::Base
                  deliver_by :database
                  deliver_by :email, mailer: "InvoiceMailer", method: :paid # expect: JL410
                end
                """,
                "app/notifications/invoice_overdue_notification.rb": """
                class InvoiceOverdueNotification < Noticed::Base
                  deliver_by :email, mailer: "InvoiceMailer" # expect: JL410
                end
                """,
            },
        ],
        good=[
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    noticed (2.9.3)
                """,
                "app/mailers/application_mailer.rb": """
                class ApplicationMailer < ActionMailer::Base
                end
                """,
                "app/mailers/comment_mailer.rb": """
                class CommentMailer < ApplicationMailer
                  def new_comment
                    mail(to: params[:recipient].email, body: params[:record].body)
                  end

                  def mention(user, comment, urgent: false)
                    mail(to: user.email, body: comment.body)
                  end
                end
                """,
                "app/notifiers/application_notifier.rb": """
                class ApplicationNotifier < Noticed::Event
                end
                """,
                "app/notifiers/comment_notifier.rb": """
                class CommentNotifier < ApplicationNotifier
                  deliver_by :email do |config|
                    config.mailer = "CommentMailer"
                    config.method = :new_comment
                  end
                end
                """,
                "app/notifiers/mention_notifier.rb": """
                class MentionNotifier < ApplicationNotifier
                  deliver_by :email do |config|
                    config.mailer = "CommentMailer"
                    config.method = "mention"
                    config.args = -> { [recipient, record] }
                    config.kwargs = -> { {urgent: params[:urgent]} }
                  end
                end
                """,
                "app/notifiers/moderation_notifier.rb": """
                class ModerationNotifier < ApplicationNotifier
                  deliver_by :email do |config|
                    config.mailer = "CommentMailer"
                    config.method = :mailer_action
                  end

                  def mailer_action(notification)
                    notification.recipient.admin? ? :new_comment : :flagged
                  end
                end
                """,
                "app/notifiers/devise_notifier.rb": """
                class DeviseNotifier < ApplicationNotifier
                  deliver_by :email do |config|
                    config.mailer = "Devise::Mailer"
                    config.method = :confirmation_instructions
                    config.args = :devise_arguments
                  end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    noticed (1.6.3)
                """,
                "app/mailers/application_mailer.rb": """
                class ApplicationMailer < ActionMailer::Base
                end
                """,
                "app/mailers/invoice_mailer.rb": """
                class InvoiceMailer < ApplicationMailer
                  def invoice_overdue_notification
                    mail(to: params[:recipient].email, body: "Overdue")
                  end
                end
                """,
                "app/notifications/invoice_overdue_notification.rb": """
                class InvoiceOverdueNotification < Noticed::Base
                  deliver_by :email, mailer: "InvoiceMailer"
                end
                """,
                "app/notifications/invoice_reminder_notification.rb": """
                class InvoiceReminderNotification < Noticed::Base
                  deliver_by :email, mailer: "InvoiceMailer", method: :chosen_action

                  def chosen_action
                    :invoice_overdue_notification
                  end
                end
                """,
                "app/notifications/invoice_disputed_notification.rb": """
                class InvoiceDisputedNotification < Noticed::Base
                  deliver_by :email, **EMAIL_OPTIONS
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        for delivery in email_deliveries(app, source.root):
            if not delivery.readable or "class" in delivery.options:
                continue
            found = _problem(app, delivery)
            if found is not None:
                node, problem = found
                yield Hit.at(node, problem=problem)


def _problem(app: App, delivery: EmailDelivery) -> tuple[Node, str] | None:
    options = delivery.options
    mailer_node = options.get("mailer")
    if mailer_node is None:
        return None
    mailer = _mailer(app, mailer_node)
    if mailer is None:
        return None
    classes = app.classes
    if mailer not in classes:
        if ruby.constant_path(mailer_node) is not None or constant_assigned(app, mailer):
            return None  # a constant as written fails at load, not in the job
        if "::" in mailer and mailer.split("::", 1)[0] not in classes:
            return None  # a gem's namespace
        return mailer_node, f"names `{mailer}`, which the project does not define: NameError"
    if not is_mailer(classes, mailer) or not is_project_mailer(classes, mailer, strict=True):
        return None
    if has_dynamic_actions(app, mailer):
        return None
    major = noticed_major(app, delivery.notifier)
    method_node = options.get("method")
    action = _action(app, delivery, method_node, major)
    if action is None:
        return None
    where = method_node if method_node is not None else delivery.call
    method = mailer_actions(classes, mailer).get(action)
    if method is None:
        return (
            where,
            f"calls `{mailer}.{action}`, which is not a public action of the mailer: NoMethodError",
        )
    shape = _shape(options, major)
    if shape is None:
        return None
    problem = arity_problem(method.signature, shape)
    if problem is None:
        return None
    reason = problem[0]
    at = options.get("args") or where
    return (
        at,
        f"calls `{mailer}.{action}`, which takes `({parameter_text(method)})`: {reason} — ArgumentError",
    )


def _mailer(app: App, node: Node) -> str | None:
    written = ruby.constant_path(node)
    if written is not None:
        return app.classes.resolve(written, app.lexical_scope(node))
    if node.type != "string":
        return None  # a symbol or proc is evaluated on the notifier
    value = ruby.string_value(node)
    if value is None or not _CONSTANT.match(value.removeprefix("::")):
        return None
    return value.removeprefix("::")


def _action(app: App, delivery: EmailDelivery, node: Node | None, major: int | None) -> str | None:
    """The mailer action noticed calls; None when it is computed or unknown."""
    if node is None:
        if major == 1 and "::" not in delivery.notifier:
            return underscore(delivery.notifier)  # noticed 1's default
        return None  # noticed 2 requires `method` and says so when delivering
    if node.type not in ("simple_symbol", "string", "delimited_symbol"):
        return None
    name = ruby.string_value(node)
    if not name:
        return None
    evaluated = node.type != "string" or major != 2  # noticed 1 also evaluates strings
    if evaluated and _notifier_may_define(app, delivery.notifier, name):
        return None
    return name


def _notifier_may_define(app: App, notifier: str, name: str) -> bool:
    classes = app.classes
    if classes.find_method(notifier, name) is not None:
        return True
    for owner in classes.lineage(notifier):
        for mixin in classes.mixins(owner):
            if mixin not in classes and not mixin.startswith(_KNOWN_MIXINS):
                return True  # a gem module may define it
    return False


def _shape(options: dict[str, Node], major: int | None) -> CallShape | None:
    """What noticed passes to the action: `args` and `kwargs` (noticed 2), else nothing."""
    if major == 1:
        return CallShape(0, {})
    positional = 0
    keywords: dict[str, Node] = {}
    if "args" in options:
        value = returned_literal(options["args"])
        if value.type != "array" or any(
            c.type in ("splat_argument", "hash_splat_argument") for c in value.named_children
        ):
            return None
        positional = len([c for c in value.named_children if c.type != "comment"])
    if "kwargs" in options:
        value = returned_literal(options["kwargs"])
        if value.type != "hash":
            return None
        for pair in value.named_children:
            if pair.type == "comment":
                continue
            key = pair.child_by_field_name("key") if pair.type == "pair" else None
            if key is None or key.type != "hash_key_symbol":
                return None
            keywords[ruby.text(key)] = pair
    return CallShape(positional, keywords)
