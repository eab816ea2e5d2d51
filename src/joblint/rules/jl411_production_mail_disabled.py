from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..rails.app import App
from ..rails.mailers import (
    PRODUCTION_CONFIG,
    literal_setting,
    mail_settings,
    sends_mail,
    setting_changed_elsewhere,
)
from ..source import SourceFile
from . import Examples, Rule, register

# delivery methods that keep the message on the machine instead of sending it
NOT_SENDING = {
    "test": ": messages are kept in `ActionMailer::Base.deliveries` and never sent, silently",
    "file": ": messages are written to tmp/mails and never sent, silently",
    "letter_opener": ", a development previewer: no mail is sent (or, without the gem in production, every delivery raises)",
    "letter_opener_web": ", a development previewer: no mail is sent (or, without the gem in production, every delivery raises)",
}


@register
class ProductionMailDisabled(Rule):
    """
    ## What it does
    Finds `config/environments/production.rb` settings that stop Action Mailer from sending:
    `config.action_mailer.delivery_method = :test`, `:file`, `:letter_opener` or
    `:letter_opener_web`, and `config.action_mailer.perform_deliveries = false`.

    ## Why is this bad?
    None of them raises: `deliver_now` returns, `deliver_later`'s job succeeds, the logs say the
    mail was delivered — and no one receives it. Password resets, confirmations and receipts
    silently stop. These values are meant for development and test; a copy of a development
    line into production is the usual cause.

    Only literal values set whenever the file loads are judged: a value from `ENV`, a variable,
    or a setting inside a condition (`if ENV["SMTP_HOST"]`) is not. Silent when an
    initializer (a `*.rb.sample` one copied in at deploy time too) or the app's code sets the
    same option again (`ActionMailer::Base.delivery_method =`, a mailer's own
    `delivery_method`), and for apps that send no mail (no mailer besides `ApplicationMailer`,
    no delivery, no Devise).

    ## Example
    ```ruby
    # config/environments/production.rb
    config.action_mailer.delivery_method = :letter_opener
    ```

    ## Use instead
    ```ruby
    # config/environments/production.rb
    config.action_mailer.delivery_method = :smtp
    config.action_mailer.smtp_settings = { address: ENV.fetch("SMTP_HOST"), port: 587 }
    ```
    """

    code = "JL411"
    name = "production-mail-disabled"
    severity = Severity.ERROR
    scope = "project"
    summary = "Production configured never to send mail (test/file/letter_opener delivery, perform_deliveries = false)"
    message = "Production {what}"
    help = "Configure a real delivery method (smtp, a provider) for production"
    triggers = ("action_mailer",)

    examples = Examples(
        bad=[
            {
                "config/environments/production.rb": """
                Rails.application.configure do
                  config.eager_load = true
                  config.action_mailer.delivery_method = :letter_opener_web # expect: JL411
                  config.action_mailer.default_url_options = { host: "example.com" }
                end
                """,
                "app/mailers/application_mailer.rb": """
                class ApplicationMailer < ActionMailer::Base
                end
                """,
                "app/mailers/user_mailer.rb": """
                class UserMailer < ApplicationMailer
                  def welcome(user)
                    mail(to: user.email, body: "Welcome")
                  end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    devise (4.9.4)
                """,
                "config/environments/production.rb": """
                Rails.application.configure do
                  config.action_mailer.perform_deliveries = false # expect: JL411
                  config.action_mailer.delivery_method = :test # expect: JL411
                end
                """,
                "config/initializers/mail_interceptor.rb": """
                class BlockTestAddresses
                  def self.delivering_email(message)
                    message.perform_deliveries = false if message.to.all? { |to| to.end_with?("@example.test") }
                  end
                end
                ActionMailer::Base.register_interceptor(BlockTestAddresses)
                """,
            },
        ],
        good=[
            {
                "config/environments/production.rb": """
                Rails.application.configure do
                  config.action_mailer.delivery_method = ENV.fetch("MAIL_DELIVERY", "smtp").to_sym
                  config.action_mailer.perform_deliveries = ENV["SEND_MAIL"] == "true"
                  if ENV["REVIEW_APP"]
                    config.action_mailer.delivery_method = :letter_opener_web
                  end
                end
                """,
                "config/environments/development.rb": """
                Rails.application.configure do
                  config.action_mailer.delivery_method = :letter_opener
                end
                """,
                "app/mailers/application_mailer.rb": """
                class ApplicationMailer < ActionMailer::Base
                end
                """,
                "app/mailers/user_mailer.rb": """
                class UserMailer < ApplicationMailer
                  def welcome(user)
                    mail(to: user.email, body: "Welcome")
                  end
                end
                """,
            },
            {
                "config/environments/production.rb": """
                Rails.application.configure do
                  config.action_mailer.delivery_method = :test
                end
                """,
                "config/initializers/postmark.rb": """
                ActionMailer::Base.delivery_method = :postmark
                """,
                "app/mailers/application_mailer.rb": """
                class ApplicationMailer < ActionMailer::Base
                end
                """,
                "app/mailers/user_mailer.rb": """
                class UserMailer < ApplicationMailer
                  def welcome(user)
                    mail(to: user.email, body: "Welcome")
                  end
                end
                """,
            },
            {
                "config/environments/production.rb": """
                Rails.application.configure do
                  config.action_mailer.perform_deliveries = false
                end
                """,
                "app/mailers/application_mailer.rb": """
                class ApplicationMailer < ActionMailer::Base
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        if source.relpath != PRODUCTION_CONFIG:
            return
        settings = mail_settings(source.root)
        if not settings or not sends_mail(app):
            return
        method = literal_setting(settings, "delivery_method")
        if method is not None:
            name = ruby.string_value(method.value) or ""
            if name in NOT_SENDING and not setting_changed_elsewhere(app, "delivery_method"):
                what = f"delivers mail with `:{name}`{NOT_SENDING[name]}"
                yield Hit.at(method.value, what=what)
        perform = literal_setting(settings, "perform_deliveries")
        if (
            perform is not None
            and perform.value.type == "false"
            and not setting_changed_elsewhere(app, "perform_deliveries", ignore=b"false")
        ):
            what = "sets `perform_deliveries = false`: every delivery is skipped, no mail is sent and nothing fails"
            yield Hit.at(perform.value, what=what)
