from __future__ import annotations

import re
from collections.abc import Iterator

from ..findings import Hit, Severity
from ..patterns import lazy_pattern
from ..rails.app import App
from ..rails.retries import app_failure_policy
from ..rails.transactions import app_config_texts
from ..source import SourceFile
from . import Examples, Rule, register

# ways an app gives the mail delivery job its own error handling
_CONFIGURED = lazy_pattern(
    rb"delivery_job\s*=|MailDeliveryJob\s*\.\s*(?:class_eval|class_exec|include|prepend|retry_on"
    rb"|discard_on|rescue_from)|ActiveJob::Base\s*\.\s*(?:include|prepend|retry_on|discard_on"
    rb"|rescue_from|class_eval)"
)
_ON_LOAD = lazy_pattern(
    rb"on_load\(?\s*:active_job\b.*?\bend\b|on_load\(?\s*:active_job\b[^\n]*\}", re.DOTALL
)
_HANDLER = lazy_pattern(rb"\b(?:retry_on|discard_on|rescue_from|include|prepend)\b")
DELIVERY_JOBS = ("ActionMailer::MailDeliveryJob", "MailDeliveryJob", "ActionMailer::DeliveryJob")


def delivery_job_handled(app: App) -> bool:
    """Does the app configure error handling that reaches ActionMailer::MailDeliveryJob?"""
    classes = app.classes
    if any(name in classes for name in DELIVERY_JOBS):
        return True  # reopened in the project
    if "ApplicationMailer" in classes and classes.handlers("ApplicationMailer"):
        return True  # mailer handlers run inside the delivery job
    texts = [t.encode() for t in app_config_texts(app)]
    texts.extend(
        s.data for s in app.model_files if b"MailDeliveryJob" in s.data or b"delivery_job" in s.data
    )
    for text in texts:
        if _CONFIGURED.search(text):
            return True
        for block in _ON_LOAD.finditer(text):
            if _HANDLER.search(block.group(0)):
                return True
    return False


@register
class MailDeliveryJobGap(Rule):
    """
    ## What it does
    Reports the project's `ApplicationJob` when it declares error handling (`retry_on`,
    `discard_on`, `rescue_from`) and the project calls `deliver_later`, but nothing gives
    `ActionMailer::MailDeliveryJob` — the job that runs `deliver_later` — the same care.

    ## Why is this bad?
    `ActionMailer::MailDeliveryJob` inherits `ActiveJob::Base`, not `ApplicationJob`: the
    retries and discards the team wrote for "all jobs" do not apply to mail. An SMTP timeout is
    not retried on Solid Queue or GoodJob, and the mail is lost.

    Reported only where a failed job is not retried (Solid Queue, GoodJob without
    `retry_on_unhandled_error`, Resque, Async, Delayed Job with `max_attempts = 1`, Sidekiq with
    retries off app-wide): where the backend retries, the delivery job is retried too, and the
    remaining gap (a `DeserializationError` retried instead of discarded) is noise, not loss.

    Any of these counts as handling it: `config.action_mailer.delivery_job` (or a mailer's
    `self.delivery_job =`) set to a project job, a reopened or `class_eval`ed
    `MailDeliveryJob`, handlers added to `ActiveJob::Base` (directly or in an
    `ActiveSupport.on_load(:active_job)` block), or `rescue_from`/`retry_on` in
    `ApplicationMailer` (mailer handlers run inside the delivery job).

    ## Example
    ```ruby
    class ApplicationJob < ActiveJob::Base
      retry_on Net::OpenTimeout, attempts: 5
    end
    # …and UserMailer.welcome(user).deliver_later elsewhere
    ```

    ## Use instead
    ```ruby
    class ApplicationMailer < ActionMailer::Base
      retry_on Net::OpenTimeout, attempts: 5   # or config.action_mailer.delivery_job = "MailJob"
    end
    ```
    """

    code = "JL209"
    name = "mail-delivery-job-gap"
    severity = Severity.WARNING
    scope = "project"
    summary = "ApplicationJob error handling that deliver_later mails do not get"
    message = "`ApplicationJob` declares {handlers}, but `deliver_later` runs `ActionMailer::MailDeliveryJob`, which inherits `ActiveJob::Base` and gets none of it"
    help = "Add the handlers to ApplicationMailer or set config.action_mailer.delivery_job to a job that has them"
    triggers = ("ApplicationJob",)

    examples = Examples(
        bad=[
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    solid_queue (1.1.0)
                """,
                "app/jobs/application_job.rb": """
                class ApplicationJob < ActiveJob::Base # expect: JL209
                  retry_on Net::OpenTimeout, attempts: 5
                  discard_on ActiveJob::DeserializationError
                end
                """,
                "app/controllers/users_controller.rb": """
                class UsersController < ApplicationController
                  def create
                    UserMailer.with(id: params[:id]).welcome.deliver_later
                  end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    good_job (4.4.0)
                """,
                "app/jobs/concerns/reports_errors.rb": """
                module ReportsErrors
                  extend ActiveSupport::Concern
                  included do
                    rescue_from(StandardError) { |error| raise error }
                  end
                end
                """,
                "app/jobs/application_job.rb": """
                class ApplicationJob < ActiveJob::Base # expect: JL209
                  include ReportsErrors
                end
                """,
                "app/mailers/application_mailer.rb": """
                class ApplicationMailer < ActionMailer::Base
                  default from: "shop@example.com"
                end
                """,
                "app/models/order.rb": """
                class Order < ApplicationRecord
                  after_create_commit { OrderMailer.with(order_id: id).placed.deliver_later }
                end
                """,
            },
        ],
        good=[
            {
                "app/jobs/application_job.rb": """
                class ApplicationJob < ActiveJob::Base
                  retry_on Net::OpenTimeout, attempts: 5
                end
                """,
                "app/mailers/application_mailer.rb": """
                class ApplicationMailer < ActionMailer::Base
                  retry_on Net::OpenTimeout, attempts: 5
                end
                """,
                "app/controllers/users_controller.rb": """
                class UsersController < ApplicationController
                  def create
                    UserMailer.with(id: params[:id]).welcome.deliver_later
                  end
                end
                """,
            },
            {
                "app/jobs/application_job.rb": """
                class ApplicationJob < ActiveJob::Base
                  retry_on Net::OpenTimeout, attempts: 5
                end
                """,
                "config/initializers/mail_delivery.rb": """
                Rails.application.config.action_mailer.delivery_job = "MailDeliveryWithRetriesJob"
                """,
                "app/controllers/users_controller.rb": """
                class UsersController < ApplicationController
                  def create
                    UserMailer.with(id: params[:id]).welcome.deliver_later
                  end
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        classes = app.classes
        first = classes.first_definition("ApplicationJob")
        if first is None or first.path != source.relpath:
            return
        handlers = classes.handlers("ApplicationJob")
        if not handlers:
            return
        if app.rails_version is not None and app.rails_version < (6, 0):
            return
        if not any(b"deliver_later" in s.data for s in app.model_files):
            return
        if delivery_job_handled(app):
            return
        if app_failure_policy(app).final is not True:
            return  # the backend retries the delivery job anyway: no mail is lost
        methods = sorted({h.method for h in handlers})
        yield Hit(
            first.name_start,
            first.name_end,
            {"handlers": " and ".join(f"`{m}`" for m in methods)},
            scope="ApplicationJob",
            anchor="ApplicationJob",
        )
