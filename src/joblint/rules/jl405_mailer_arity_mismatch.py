from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..rails.app import App
from ..rails.calls import arity_problem, call_shape, parameter_text
from ..rails.mailers import judgeable_action_call, mailer_action_calls
from ..source import SourceFile
from . import Examples, Rule, register


@register
class MailerArityMismatch(Rule):
    """
    ## What it does
    Finds a call of a project mailer's action — `UserMailer.welcome(user)`,
    `UserMailer.with(...).welcome(user)` — whose arguments cannot satisfy the action's
    signature: too few or too many positional arguments, a missing required keyword or an
    unknown keyword (Ruby 3 rules, as JL106).

    ## Why is this bad?
    The mailer class only records the call; the action runs when the message is built — with
    `deliver_later`, inside the delivery job — and raises `ArgumentError` there, on every retry.
    Values passed through `.with(...)` are `params`, not arguments: they are not counted.

    Calls with a splat, a double splat or `...` are not checked, nor calls of the mailer's own
    `def self.x` methods, nor mailers that inherit a gem's mailer or define actions
    dynamically (`method_missing`, `define_method`, `alias`, `class << self`).

    ## Example
    ```ruby
    class UserMailer < ApplicationMailer
      def welcome(user, locale) = ...
    end

    UserMailer.welcome(user).deliver_later
    ```

    ## Use instead
    ```ruby
    UserMailer.welcome(user, user.locale).deliver_later
    ```
    """

    code = "JL405"
    name = "mailer-arity-mismatch"
    severity = Severity.ERROR
    scope = "project"
    summary = "A mailer action called with arguments its signature does not accept"
    message = "`{mailer}.{action}` does not fit `{action}({params})`: {problem} — ArgumentError when the mail is built"
    help = "Pass the arguments the action declares"
    triggers = ("Mailer",)

    examples = Examples(
        bad=[
            {
                "app/mailers/application_mailer.rb": """
                class ApplicationMailer < ActionMailer::Base
                end
                """,
                "app/mailers/user_mailer.rb": """
                class UserMailer < ApplicationMailer
                  def welcome(user, locale)
                    mail(to: user.email, body: locale)
                  end
                end
                """,
                "app/services/signup.rb": """
                class Signup
                  def call(user)
                    UserMailer.welcome(user).deliver_later # expect: JL405
                    UserMailer.with(source: "web").welcome(user, "en", true).deliver_now # expect: JL405
                  end
                end
                """,
            },
            {
                "app/mailers/application_mailer.rb": """
                class ApplicationMailer < ActionMailer::Base
                end
                """,
                "app/mailers/invoice_mailer.rb": """
                class InvoiceMailer < ApplicationMailer
                  def paid(invoice_id, copy_to: nil)
                    mail(to: "billing@example.com", body: "paid")
                  end
                end
                """,
                "app/jobs/invoice_job.rb": """
                class InvoiceJob < ApplicationJob
                  discard_on ActiveJob::DeserializationError

                  def perform(invoice_id)
                    InvoiceMailer.paid(invoice_id, cc: "boss@example.com").deliver_now # expect: JL405
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
                "app/mailers/user_mailer.rb": """
                class UserMailer < ApplicationMailer
                  def welcome(user, locale = "en")
                    mail(to: user.email, body: locale)
                  end
                end
                """,
                "app/services/signup.rb": """
                class Signup
                  def call(user, args)
                    UserMailer.welcome(user).deliver_later
                    UserMailer.with(source: "web").welcome(user, "de").deliver_later
                    UserMailer.welcome(*args).deliver_later
                  end
                end
                """,
            },
            {
                "app/mailers/application_mailer.rb": """
                class ApplicationMailer < ActionMailer::Base
                end
                """,
                "app/mailers/invoice_mailer.rb": """
                class InvoiceMailer < ApplicationMailer
                  def paid(invoice_id, **options)
                    mail(to: "billing@example.com", body: "paid")
                  end
                end
                """,
                "app/services/billing.rb": """
                class Billing
                  def call(invoice)
                    InvoiceMailer.paid(invoice.id, cc: "boss@example.com").deliver_later
                    InvoiceMailer.default(from: "x@example.com")
                  end
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        for call in mailer_action_calls(source, app):
            judged = judgeable_action_call(call, app, strict=False)
            if judged is None or judged.method is None:
                continue
            method = judged.method
            shape = call_shape(ruby.call_arguments(call))
            if shape is None:
                continue
            problem = arity_problem(method.signature, shape)
            if problem is None:
                continue
            reason, culprit = problem
            yield Hit.at(
                culprit or call,
                mailer=judged.mailer,
                action=judged.action,
                params=parameter_text(method),
                problem=reason,
            )
