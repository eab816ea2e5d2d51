from __future__ import annotations

from collections.abc import Iterator

from ..findings import Hit, Severity
from ..patterns import lazy_pattern
from ..rails.app import App
from ..rails.mailers import (
    PRODUCTION_CONFIG,
    literal_setting,
    mail_settings,
    setting_changed_elsewhere,
)
from ..source import SourceFile
from . import Examples, Rule, register

# `deliver_later`, not `deliver_later!` (whose job uses `deliver_now!`, which always raises)
_DELIVER_LATER = lazy_pattern(rb"\.deliver_later\b(?!!)")


@register
class SwallowedDeliveryErrors(Rule):
    """
    ## What it does
    Finds `config.action_mailer.raise_delivery_errors = false` in
    `config/environments/production.rb` of an app that sends mail with `deliver_later`.

    ## Why is this bad?
    `deliver_later` enqueues `ActionMailer::MailDeliveryJob`, which sends with `deliver_now`;
    with `raise_delivery_errors = false` the mail gem rescues every delivery error (an SMTP
    timeout, a refused login, a provider outage) and returns normally. The job succeeds, so it
    is never retried and no error tracker hears of it: the mail is lost. The default, `true`,
    lets the job fail and be retried.

    Not reported when the app only uses `deliver_later!` (its job delivers with `deliver_now!`,
    which ignores the setting), for a value from `ENV` or a variable, for a setting inside a
    condition, or when an initializer (a `*.rb.sample` one too) or the app's code sets
    `raise_delivery_errors` again.

    ## Example
    ```ruby
    # config/environments/production.rb
    config.action_mailer.raise_delivery_errors = false
    ```

    ## Use instead
    ```ruby
    # config/environments/production.rb
    config.action_mailer.raise_delivery_errors = true
    ```
    """

    code = "JL412"
    name = "swallowed-delivery-errors"
    severity = Severity.WARNING
    scope = "project"
    summary = "raise_delivery_errors = false in production with deliver_later: failed mail is lost, never retried"
    message = "`raise_delivery_errors = false`: a delivery error inside the `deliver_later` job is swallowed — the job succeeds, nothing retries or reports it, and the mail is lost"
    help = "Leave raise_delivery_errors true in production so a failed delivery job is retried"
    triggers = ("raise_delivery_errors",)

    examples = Examples(
        bad=[
            {
                "config/environments/production.rb": """
                Rails.application.configure do
                  config.action_mailer.delivery_method = :smtp
                  config.action_mailer.raise_delivery_errors = false # expect: JL412
                end
                """,
                "app/controllers/users_controller.rb": """
                class UsersController < ApplicationController
                  def create
                    user = User.create!(params.require(:user).permit(:email))
                    UserMailer.with(user: user).welcome.deliver_later
                  end
                end
                """,
            },
            {
                "config/environments/production.rb": """
                require "active_support/core_ext/integer/time"

                Rails.application.config.action_mailer.raise_delivery_errors = false # expect: JL412
                """,
                "app/models/order.rb": """
                class Order < ApplicationRecord
                  after_create_commit { OrderMailer.placed(self).deliver_later(queue: :mail) }
                end
                """,
            },
        ],
        good=[
            {
                "config/environments/production.rb": """
                Rails.application.configure do
                  config.action_mailer.raise_delivery_errors = false
                end
                """,
                "app/controllers/users_controller.rb": """
                class UsersController < ApplicationController
                  def create
                    user = User.create!(params.require(:user).permit(:email))
                    UserMailer.with(user: user).welcome.deliver_later!
                  end
                end
                """,
            },
            {
                "config/environments/production.rb": """
                Rails.application.configure do
                  config.action_mailer.raise_delivery_errors = ENV["RAISE_MAIL_ERRORS"] == "1"
                end
                """,
                "config/environments/staging.rb": """
                Rails.application.configure do
                  config.action_mailer.raise_delivery_errors = false
                end
                """,
                "app/models/order.rb": """
                class Order < ApplicationRecord
                  after_create_commit { OrderMailer.placed(self).deliver_later }
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        if source.relpath != PRODUCTION_CONFIG:
            return
        setting = literal_setting(mail_settings(source.root), "raise_delivery_errors")
        if setting is None or setting.value.type != "false":
            return
        if not any(
            _DELIVER_LATER.search(s.data)
            for s in app.model_files
            if not s.relpath.startswith("config/")
        ):
            return
        if setting_changed_elsewhere(app, "raise_delivery_errors"):
            return
        yield Hit.at(setting.value)
