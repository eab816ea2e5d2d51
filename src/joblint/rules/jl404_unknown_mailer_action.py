from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..rails.app import App
from ..rails.mailers import DELIVERY_METHODS, judgeable_action_call
from ..source import SourceFile
from . import Examples, Rule, register

_DELIVERIES = ruby.compile_query(
    "(call receiver: (call) @action method: (identifier) @method (#any-of? @method {})) @call".format(
        " ".join(f'"{m}"' for m in DELIVERY_METHODS)
    )
)


@register
class UnknownMailerAction(Rule):
    """
    ## What it does
    Finds a delivered mailer call — `SomeMailer.action(...).deliver_later`,
    `SomeMailer.with(...).action.deliver_now` — where `SomeMailer` is a project mailer and no
    public method `action` exists in it or its project ancestors (concerns included).

    ## Why is this bad?
    Mailer actions are looked up by `method_missing` on the class: a typo or a removed action
    only raises `NoMethodError` when the message is built — with `deliver_later`, inside the
    job, after the request that wanted the mail has succeeded. A private method is not an
    action either.

    Only calls that are delivered on the spot are checked, so that class methods of the mailer
    are not mistaken for actions, and a mailer's own `def self.x` methods are not actions
    either. Silent for mailers that inherit a gem's mailer or include a gem module (either may
    add actions), and for mailers with `method_missing`, `define_method`, `alias` or
    `class << self`.

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
    summary = "A delivered mailer call naming an action the mailer does not define"
    message = (
        "`{mailer}` has no public action `{action}`: NoMethodError when the mail is built{where}"
    )
    help = "Call an action the mailer defines (a public instance method)"
    triggers = ("deliver",)

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
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        for _, caps in ruby.matches(_DELIVERIES, source.root):
            call = caps["action"][0]
            judged = judgeable_action_call(call, app, strict=True)
            if judged is None or judged.method is not None:
                continue
            deliver = ruby.call_method(caps["call"][0])
            yield Hit.at(
                call,
                mailer=judged.mailer,
                action=judged.action,
                where=" (inside the delivery job)" if deliver.startswith("deliver_later") else "",
            )
