from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..rails.app import App
from ..rails.mailboxes import BOUNCE_METHODS
from ..rails.mailers import DELIVERY_METHODS, is_preview, judgeable_action_call, mailer_action_calls
from ..rails.named_calls import calls_named
from ..ruby import Node
from ..source import SourceFile
from . import Examples, Rule, register

_BOUNCES = frozenset(BOUNCE_METHODS)
_DELIVERIES = frozenset(DELIVERY_METHODS)


@register
class UnknownMailerAction(Rule):
    """
    ## What it does
    Finds a delivered mailer call — `SomeMailer.action(...).deliver_later`,
    `SomeMailer.with(...).action.deliver_now`, or a message given to Action Mailbox's
    `bounce_with`/`bounce_now_with` — or a mailer call in a mailer preview (a class inheriting
    `ActionMailer::Preview`), where `SomeMailer` is a project mailer and no public method
    `action` exists in it or its project ancestors (concerns included).

    ## Why is this bad?
    Mailer actions are looked up by `method_missing` on the class, which raises `NoMethodError`
    for a name that is not a public action — at run time only: a typo or a removed action in
    code that tests do not reach (a mailbox's bounce path) fails in production, and a preview
    whose action was renamed fails when it is opened. A private method is not an action either.

    Only calls that are delivered on the spot, bounced, or written in a preview are checked,
    so that class methods of the mailer are not mistaken for actions, and a mailer's own
    `def self.x` methods are not actions either. Silent for mailers that inherit a gem's mailer
    or include a gem module (either may add actions), and for mailers with `method_missing`,
    `define_method`, `alias` or `class << self`.

    ## Example
    ```ruby
    UserMailer.with(user: user).welcom.deliver_later
    ```

    ## Use instead
    ```ruby
    UserMailer.with(user: user).welcome.deliver_later
    ```
    """

    code = "JL404"
    name = "unknown-mailer-action"
    severity = Severity.ERROR
    scope = "project"
    summary = "A delivered, bounced or previewed mailer call naming an action the mailer does not define"
    message = "`{mailer}` has no public action `{action}`: NoMethodError {when}"
    help = "Call an action the mailer defines (a public instance method)"
    triggers = ("deliver", "bounce_", "Preview")

    examples = Examples(
        bad=[
            {
                "app/mailers/application_mailer.rb": """
                class ApplicationMailer < ActionMailer::Base
                end
                """,
                "app/mailers/user_mailer.rb": """
                class UserMailer < ApplicationMailer
                  def welcome
                    mail(to: params[:email])
                  end

                  private

                  def reminder
                    mail(to: params[:email])
                  end
                end
                """,
                "app/views/user_mailer/welcome.text.erb": "Hi\n",
                "app/views/user_mailer/reminder.text.erb": "Hi\n",
                "app/services/signup.rb": """
                class Signup
                  def call(email)
                    UserMailer.with(email: email).welcom.deliver_later # expect: JL404
                    UserMailer.with(email: email).reminder.deliver_now # expect: JL404
                  end
                end
                """,
            },
            {
                "app/mailers/application_mailer.rb": """
                class ApplicationMailer < ActionMailer::Base
                end
                """,
                "app/mailers/billing/invoice_mailer.rb": """
                module Billing
                  class InvoiceMailer < ApplicationMailer
                    def paid(invoice_id)
                      mail(to: "billing@example.com")
                    end
                  end
                end
                """,
                "app/views/billing/invoice_mailer/paid.text.erb": "Paid\n",
                "app/models/billing/invoice.rb": """
                module Billing
                  class Invoice < ApplicationRecord
                    after_commit { InvoiceMailer.refunded(id).deliver_later } # expect: JL404
                  end
                end
                """,
            },
            {
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
                "app/mailboxes/application_mailbox.rb": """
                class ApplicationMailbox < ActionMailbox::Base
                  routing all: :replies
                end
                """,
                "app/mailboxes/replies_mailbox.rb": """
                class RepliesMailbox < ApplicationMailbox
                  def process
                    user = User.find_by(email: mail.from.first)
                    return bounce_with BounceMailer.unknown_user(inbound_email) if user.nil? # expect: JL404

                    Reply.create!(user: user, body: mail.decoded)
                  end
                end
                """,
                "test/mailers/previews/bounce_mailer_preview.rb": """
                class BounceMailerPreview < ActionMailer::Preview
                  def unknown_sender
                    BounceMailer.unknown_sendr(ActionMailbox::InboundEmail.last) # expect: JL404
                  end
                end
                """,
            },
        ],
        good=[
            {
                "app/mailers/application_mailer.rb": """
                class ApplicationMailer < ActionMailer::Base
                end
                """,
                "app/mailers/concerns/digest_actions.rb": """
                module DigestActions
                  def digest
                    mail(to: params[:email], body: "digest")
                  end
                end
                """,
                "app/mailers/user_mailer.rb": """
                class UserMailer < ApplicationMailer
                  include DigestActions

                  def welcome
                    mail(to: params[:email])
                  end
                end
                """,
                "app/views/user_mailer/welcome.text.erb": "Hi\n",
                "app/services/signup.rb": """
                class Signup
                  def call(email)
                    UserMailer.with(email: email).welcome.deliver_later
                    UserMailer.with(email: email).digest.deliver_later
                    Devise::Mailer.confirmation_instructions(email, "t").deliver_later
                  end
                end
                """,
            },
            {
                "app/mailers/application_mailer.rb": """
                class ApplicationMailer < ActionMailer::Base
                end
                """,
                "app/mailers/dynamic_mailer.rb": """
                class DynamicMailer < ApplicationMailer
                  %w[daily weekly].each do |period|
                    define_method(period) { mail(to: "ops@example.com", body: period) }
                  end
                end
                """,
                "app/mailers/devise_mailer.rb": """
                class DeviseMailer < Devise::Mailer
                end
                """,
                "app/services/reports.rb": """
                class Reports
                  def call(user)
                    DynamicMailer.daily.deliver_later
                    DeviseMailer.reset_password_instructions(user, "t").deliver_now
                  end
                end
                """,
            },
            {
                "app/mailers/application_mailer.rb": """
                class ApplicationMailer < ActionMailer::Base
                end
                """,
                "app/mailers/user_mailer.rb": """
                class UserMailer < ApplicationMailer
                  def welcome(user)
                    mail(to: user.email, body: "Hi")
                  end
                end
                """,
                "spec/mailers/previews/application_preview.rb": """
                class ApplicationPreview < ActionMailer::Preview
                  def sample_user = User.first
                end
                """,
                "spec/mailers/previews/user_mailer_preview.rb": """
                class UserMailerPreview < ApplicationPreview
                  def welcome
                    UserMailer.default_url_options[:host] ||= "localhost"
                    UserMailer.welcome(sample_user)
                  end

                  def welcome_with_devise
                    Devise::Mailer.confirmation_instructions(sample_user, "token")
                  end
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        for call, when in _candidates(source, app):
            judged = judgeable_action_call(call, app, strict=True)
            if judged is not None and judged.method is None:
                yield Hit.at(call, mailer=judged.mailer, action=judged.action, when=when)


def _candidates(source: SourceFile, app: App) -> Iterator[tuple[Node, str]]:
    """Mailer calls that are certainly meant as actions: delivered, bounced, or previewed."""
    seen: set[int] = set()
    if source.contains_any((b"deliver",)):
        for delivery in calls_named(source, _DELIVERIES, receiver=True):
            call = delivery.child_by_field_name("receiver")
            if call is None or call.type != "call":
                continue
            seen.add(call.id)
            yield call, "when this line runs, before anything is delivered"
    if source.contains_any((b"bounce_",)):
        for bounce in calls_named(source, _BOUNCES):
            args = ruby.call_arguments(bounce)
            if ruby.call_receiver(bounce) is None and len(args) == 1 and args[0].id not in seen:
                seen.add(args[0].id)
                yield args[0], "when the mailbox bounces the email (in the routing job)"
    previews = {d.name for d in app.definitions_in(source) if is_preview(app, d)}
    if previews:
        for call in mailer_action_calls(source, app):  # the calls a mailer's action can be
            if call.id not in seen and app.enclosing_class(call) in previews:
                seen.add(call.id)
                yield call, "when the preview is opened"
