from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..rails.app import App
from ..rails.mailers import mailer_constant
from ..rails.named_calls import calls_named
from ..ruby import Node
from ..source import SourceFile
from . import Examples, Rule, register
from ._arguments import in_job_or_mailer, said_deliberate
from ._records import chain_arguments, destroyed_after

DELIVER_NOW = ("deliver_now", "deliver_now!", "deliver", "deliver!")
_DELIVERIES = frozenset(DELIVER_NOW)


@register
class DeliverNowInRequest(Rule):
    """
    ## What it does
    Finds `deliver_now`, `deliver_now!`, `deliver` or `deliver!` on a mailer message in the
    request path (`app/controllers`, `app/graphql`, `app/channels`, plus configured paths).

    ## Why is this bad?
    Delivering in the request makes the user wait for the SMTP server, and an SMTP timeout or
    authentication error becomes a 500 for them — while the record they just saved stays saved.
    `deliver_later` hands the delivery to a job that can be retried.

    A message is an expression rooted at a mailer class (`UserMailer.welcome(user)`,
    `UserMailer.with(user:).welcome`) or a variable assigned one in the same method; other
    objects with a `deliver` method (webhooks, notifiers) are not reported. Jobs, mailers, rake
    tasks and models are out of scope (models are JL303's). A synchronous send whose outcome the
    request deliberately handles is not reported either: its result is tested or assigned
    (`if TestMailer.ping(u).deliver_now`), or it sits inside a `begin`/`def` with a `rescue`
    (an SMTP settings page that sends a test mail and shows the error).

    A call whose line, or the comment line above it, says it is sent now on purpose
    ("synchronously", "immediately", "on purpose", "deliberately", "intentionally") is a
    documented choice and is not reported.

    Not reported in an app with no background backend to deliver later with (no adapter
    configured, or `:async`/`:inline`, and no job backend gem in `Gemfile.lock`): there
    `deliver_later` would be wrong advice. Nor when a record handed to the mailer is destroyed
    later in the same action (`UserMailer.goodbye(user).deliver_now; user.destroy`): a
    `deliver_later` job would find it gone, so sending now is the correct form.

    ## Example
    ```ruby
    UserMailer.welcome(@user).deliver_now
    ```

    ## Use instead
    ```ruby
    UserMailer.welcome(@user).deliver_later
    ```
    """

    code = "JL401"
    name = "deliver-now-in-request"
    severity = Severity.WARNING
    scope = "file"
    summary = "A mailer delivered synchronously inside a web request"
    message = "`{method}` sends the mail inside the request: the user waits for SMTP and its errors"
    help = "Use deliver_later so a job delivers it, with retries"
    triggers = ("deliver",)

    examples = Examples(
        bad=[
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    sidekiq (7.3.0)
                """,
                "app/controllers/users_controller.rb": """
                class UsersController < ApplicationController
                  def create
                    @user = User.create!(user_params)
                    UserMailer.welcome(@user).deliver_now # expect: JL401
                    UserMailer.with(user: @user).confirm.deliver # expect: JL401
                  end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    sidekiq (7.3.0)
                """,
                "app/mailers/receipt_mailer.rb": """
                class ReceiptMailer < ApplicationMailer
                  def receipt(order); end
                end
                """,
                "app/graphql/mutations/checkout.rb": """
                module Mutations
                  class Checkout < BaseMutation
                    def resolve(order_id:)
                      message = ReceiptMailer.receipt(Order.find(order_id))
                      message.deliver_now! # expect: JL401
                    end
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
                    rails (7.2.1)
                """,
                "app/controllers/contact_controller.rb": """
                class ContactController < ApplicationController
                  def create
                    ContactMailer.message(params[:email], params[:body]).deliver_now  # no job backend
                  end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    sidekiq (7.3.0)
                """,
                "app/controllers/accounts_controller.rb": """
                class AccountsController < ApplicationController
                  def destroy
                    account = current_user.account
                    AccountMailer.goodbye(account).deliver_now
                    account.destroy
                  end
                end
                """,
            },
            {
                "app/controllers/users_controller.rb": """
                class UsersController < ApplicationController
                  def create
                    @user = User.create!(user_params)
                    UserMailer.welcome(@user).deliver_later
                    WebhookEvent.new(@user).deliver
                    @notifier.deliver
                  end

                  def confirm
                    # deliver synchronously: a backed-up mail queue must not delay sign-up
                    UserMailer.confirmation(current_user).deliver_now
                  end

                  def test_smtp
                    if SettingsMailer.test_email(current_user).deliver_now
                      redirect_to settings_path, notice: "Sent"
                    end
                  end

                  def verify_smtp
                    SettingsMailer.test_email(current_user).deliver_now!
                    redirect_to settings_path
                  rescue Net::SMTPError => error
                    redirect_to settings_path, alert: error.message
                  end
                end
                """,
            },
            {
                "app/jobs/digest_job.rb": """
                class DigestJob < ApplicationJob
                  retry_on Net::SMTPServerBusy

                  def perform(user_id)
                    DigestMailer.weekly(user_id).deliver_now
                  end
                end
                """,
                "lib/tasks/digest.rake": """
                task digest: :environment do
                  DigestMailer.weekly(1).deliver_now
                end
                """,
                "app/models/user.rb": """
                class User < ApplicationRecord
                  after_create_commit { UserMailer.welcome(self).deliver_now }
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        if not app.in_request_path(source) or not _has_background_backend(app):
            return
        for call in calls_named(source, _DELIVERIES):
            receiver = ruby.call_receiver(call)
            if receiver is None or not self._is_message(receiver, app):
                continue
            if ruby.value_used(call) or _rescued(call) or said_deliberate(call, source):
                continue  # a deliberate synchronous send whose outcome the request handles
            if _record_destroyed_after(call):
                continue  # deliver_later would find the record gone: now is the right time
            if in_job_or_mailer(call, app):
                continue
            yield Hit.at(call, method=ruby.call_method(call))

    @staticmethod
    def _is_message(receiver: Node, app: App) -> bool:
        if receiver.type == "identifier":
            assigned = ruby.last_assignment(ruby.text(receiver), receiver)
            return assigned is not None and mailer_constant(assigned, app.classes) is not None
        return mailer_constant(receiver, app.classes) is not None


FOREGROUND_ADAPTERS = frozenset({"async", "inline"})


def _has_background_backend(app: App) -> bool:
    """A real job backend to deliver later with: an adapter other than `:async`/`:inline`, or a
    job backend gem in Gemfile.lock."""
    if app.backend.adapter is not None:
        return app.backend.adapter not in FOREGROUND_ADAPTERS
    return bool(app.backend.gems)


def _record_destroyed_after(call: Node) -> bool:
    """A value handed to the mailer is destroyed later in the same method."""
    return any(
        destroyed_after(call, leaf) is not None
        for argument in chain_arguments(call)
        for leaf in ruby.walk(argument)
        if leaf.type in ("identifier", "instance_variable", "self")
    )


def _rescued(call: Node) -> bool:
    """Inside a `begin`/`def` body whose `rescue` handles delivery errors in the request."""
    for ancestor in ruby.ancestors(call):
        if ancestor.type == "rescue_modifier":
            return True
        if ancestor.type in ("begin", "body_statement") and any(
            child.type == "rescue" and child.start_byte > call.end_byte
            for child in ancestor.named_children
        ):
            return True
        if ancestor.type in ("method", "singleton_method", "class", "module"):
            return False
    return False
