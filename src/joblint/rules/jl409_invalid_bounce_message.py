from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..rails.app import App
from ..rails.mailboxes import BOUNCE_METHODS, mailbox_owner
from ..rails.mailers import DELIVERY_METHODS
from ..ruby import Node
from ..source import SourceFile
from . import Examples, Rule, register

_BOUNCES = ruby.calls_query(BOUNCE_METHODS)
_LITERALS = {
    "string": "a String", "simple_symbol": "a Symbol", "delimited_symbol": "a Symbol",
    "integer": "an Integer", "float": "a Float", "nil": "nil", "true": "true", "false": "false",
    "array": "an Array", "string_array": "an Array", "symbol_array": "an Array", "hash": "a Hash",
    "heredoc_beginning": "a String", "regex": "a Regexp",
}  # fmt: skip
# what the mailbox's own `mail` and `inbound_email` are
_MAILBOX_READERS = {
    "mail": "the inbound `Mail::Message`",
    "inbound_email": "the `InboundEmail` record",
}


def not_a_message(arg: Node) -> str | None:
    """What `arg` is, when it is certainly not an Action Mailer message: a literal, the result
    of a delivery, a `Mail::Message` or the mailbox's own inbound mail."""
    if arg.type in _LITERALS:
        return _LITERALS[arg.type]
    if arg.type == "call":
        method = ruby.call_method(arg)
        if method in DELIVERY_METHODS and ruby.call_receiver(arg) is not None:
            return f"the result of `{method}`, which has already delivered the message"
        receiver = ruby.constant_path(ruby.call_receiver(arg))
        if method == "new" and receiver in ("Mail", "Mail::Message"):
            return "a `Mail::Message`, which has no `deliver_later`"
        return None
    if arg.type == "identifier" and ruby.text(arg) in _MAILBOX_READERS:
        name = ruby.text(arg)
        if name in ruby.method_parameter_names(arg) or ruby.last_assignment(name, arg) is not None:
            return None  # a local variable of that name
        if ruby.block_binding(name, arg) is not None:
            return None
        return _MAILBOX_READERS[name]
    return None


@register
class InvalidBounceMessage(Rule):
    """
    ## What it does
    Finds `bounce_with` / `bounce_now_with` in an Action Mailbox (or in a module only mailboxes
    include) given something that is not a mailer message: a string or symbol, the result of
    `deliver_now`/`deliver_later`, `Mail.new(…)`, or the mailbox's own `mail`/`inbound_email`.

    ## Why is this bad?
    `bounce_with(message)` marks the inbound email `bounced` and then calls
    `message.deliver_later` (`bounce_now_with`: `deliver_now`). Only an Action Mailer message —
    `BounceMailer.missing_user(inbound_email)`, `BounceMailer.with(…).missing_user` — answers
    that: anything else raises `NoMethodError` in the routing job, after the status was changed,
    and the sender never hears back. A message that was already delivered
    (`….deliver_now`) has become a `Mail::Message` and fails the same way.

    Variables, method calls and mailer calls are not judged (a method may return a mailer
    message); mailboxes that define their own `bounce_with` are not checked.

    ## Example
    ```ruby
    def ensure_sender_is_a_user
      bounce_with "Unknown sender" unless User.exists?(email: mail.from)
    end
    ```

    ## Use instead
    ```ruby
    def ensure_sender_is_a_user
      bounce_with BounceMailer.unknown_sender(inbound_email) unless User.exists?(email: mail.from)
    end
    ```
    """

    code = "JL409"
    name = "invalid-bounce-message"
    severity = Severity.ERROR
    scope = "project"
    summary = "bounce_with given something that is not a mailer message"
    message = "`{method}` calls `{delivers}` on its argument, but this is {what}: NoMethodError in the routing job after the email was marked bounced"
    help = "Pass the undelivered mailer message: `bounce_with SomeMailer.action(inbound_email)`"
    triggers = BOUNCE_METHODS

    examples = Examples(
        bad=[
            {
                "app/mailboxes/application_mailbox.rb": """
                class ApplicationMailbox < ActionMailbox::Base
                  routing all: :replies
                end
                """,
                "app/mailers/application_mailer.rb": """
                class ApplicationMailer < ActionMailer::Base
                end
                """,
                "app/mailers/bounce_mailer.rb": """
                class BounceMailer < ApplicationMailer
                  def unknown_sender(inbound_email)
                    mail(to: inbound_email.mail.from, body: "Who are you?")
                  end
                end
                """,
                "app/mailboxes/replies_mailbox.rb": """
                class RepliesMailbox < ApplicationMailbox
                  before_processing :require_user

                  def process
                    Reply.create!(user: @user, body: mail.decoded)
                  end

                  private

                  def require_user
                    @user = User.find_by(email: mail.from.first)
                    bounce_with "Unknown sender" if @user.nil? # expect: JL409
                    bounce_now_with BounceMailer.unknown_sender(inbound_email).deliver_now if @user&.locked? # expect: JL409
                  end
                end
                """,
            },
            {
                "app/mailboxes/application_mailbox.rb": """
                class ApplicationMailbox < ActionMailbox::Base
                  routing all: :receipts
                end
                """,
                "app/mailboxes/concerns/requires_attachment.rb": """
                module RequiresAttachment
                  def require_attachment
                    bounce_with(mail) if mail.attachments.empty? # expect: JL409
                  end
                end
                """,
                "app/mailboxes/receipts_mailbox.rb": """
                class ReceiptsMailbox < ApplicationMailbox
                  include RequiresAttachment
                  before_processing :require_attachment

                  def process
                    Receipt.create!(file: mail.attachments.first.decoded)
                  end
                end
                """,
            },
        ],
        good=[
            {
                "app/mailboxes/application_mailbox.rb": """
                class ApplicationMailbox < ActionMailbox::Base
                  routing all: :replies
                end
                """,
                "app/mailers/application_mailer.rb": """
                class ApplicationMailer < ActionMailer::Base
                end
                """,
                "app/mailers/bounce_mailer.rb": """
                class BounceMailer < ApplicationMailer
                  def unknown_sender
                    mail(to: params[:to], body: "Who are you?")
                  end
                end
                """,
                "app/mailboxes/replies_mailbox.rb": """
                class RepliesMailbox < ApplicationMailbox
                  before_processing :require_user

                  def process
                    Reply.create!(user: @user, body: mail.decoded)
                  end

                  private

                  def require_user
                    @user = User.find_by(email: mail.from.first)
                    bounce_with BounceMailer.with(to: mail.from.first).unknown_sender if @user.nil?
                    bounce_now_with bounce_message if @user&.locked?
                  end

                  def bounce_message
                    mail = BounceMailer.with(to: inbound_email.mail.from.first).unknown_sender
                    bounce_with mail
                  end
                end
                """,
            },
            {
                "app/mailboxes/application_mailbox.rb": """
                class ApplicationMailbox < ActionMailbox::Base
                  routing all: :tickets

                  def bounce_with(reason)
                    inbound_email.bounced!
                    Rails.logger.info("bounced: #{reason}")
                  end
                end
                """,
                "app/mailboxes/tickets_mailbox.rb": """
                class TicketsMailbox < ApplicationMailbox
                  def process
                    return bounce_with("no subject") if mail.subject.blank?

                    Ticket.create!(subject: mail.subject)
                  end
                end
                """,
                "app/services/spam_filter.rb": """
                class SpamFilter
                  def bounce_with(reason)
                    Rails.logger.info(reason)
                  end

                  def call(mail)
                    bounce_with "spam" if mail.subject.include?("$$$")
                  end
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        for _, caps in ruby.matches(_BOUNCES, source.root):
            call = caps["call"][0]
            if ruby.call_receiver(call) is not None:
                continue
            args = [a for a in ruby.call_arguments(call) if a.type != "block_argument"]
            if len(args) != 1:
                continue
            what = not_a_message(args[0])
            if what is None:
                continue
            owner = mailbox_owner(app, call)
            method = ruby.call_method(call)
            if owner is None or _overridden(app, owner, method):
                continue
            delivers = "deliver_now" if method == "bounce_now_with" else "deliver_later"
            yield Hit.at(args[0], method=method, delivers=delivers, what=what)


def _overridden(app: App, owner: str, method: str) -> bool:
    """Does the project define `method` in the mailbox's chain (or, for a module, in it or any
    class including it)?"""
    classes = app.classes
    owners = [owner] + [name for name in classes.names() if owner in classes.mixins(name)]
    return any(classes.find_method(name, method) is not None for name in owners)
