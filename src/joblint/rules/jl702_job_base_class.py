from __future__ import annotations

from collections.abc import Iterator

from ..findings import Hit, Severity
from ..rails.app import App
from ..source import SourceFile
from . import Examples, Rule, register

# framework base class → the application base class that should sit between
TEST_DIRS = ("test", "spec", "features")
APPLICATION_BASES = {"ActiveJob::Base": "ApplicationJob", "ActionMailer::Base": "ApplicationMailer"}


@register
class JobBaseClass(Rule):
    """
    ## What it does
    Finds a job class inheriting `ActiveJob::Base`, or a mailer inheriting `ActionMailer::Base`,
    directly instead of the application's `ApplicationJob` / `ApplicationMailer`.

    ## Why is this bad?
    The application base class is where app-wide retry and discard policies, error reporting,
    logging tags, default queues and mailer defaults (`from:`, layout) live. A class that skips
    it silently misses all of them — a failure in it is handled differently from every other job.

    `ApplicationJob` and `ApplicationMailer` themselves (also inside an engine's namespace, such
    as `Billing::ApplicationJob`) are not reported. The rule stays silent when no
    `ApplicationJob` (resp. `ApplicationMailer`) is reachable from the class — from its
    namespace or at top level — because then there is nothing app-wide to miss — and in
    `test/`, `spec/` and `features/`, where a throwaway job opts out on purpose.

    ## Example
    ```ruby
    class ExportJob < ActiveJob::Base
    end
    ```

    ## Use instead
    ```ruby
    class ExportJob < ApplicationJob
    end
    ```
    """

    code = "JL702"
    name = "job-base-class"
    severity = Severity.WARNING
    scope = "file"
    summary = "A job or mailer inheriting the framework base class directly"
    message = "`{name}` inherits `{base}` directly and misses `{application_base}`"
    help = "Inherit the application base class so app-wide retries, logging and defaults apply"
    triggers = tuple(APPLICATION_BASES)

    examples = Examples(
        bad=[
            {
                "app/jobs/application_job.rb": """
                class ApplicationJob < ActiveJob::Base
                  retry_on Timeout::Error
                end
                """,
                "app/jobs/export_job.rb": """
                class ExportJob < ActiveJob::Base # expect: JL702
                  def perform(id); end
                end
                """,
            },
            {
                "app/mailers/application_mailer.rb": """
                class ApplicationMailer < ActionMailer::Base
                  default from: "team@example.com"
                end
                """,
                "app/mailers/admin/alert_mailer.rb": """
                module Admin
                  class AlertMailer < ::ActionMailer::Base # expect: JL702
                    def alert(email)
                      mail(to: email)
                    end
                  end
                end
                """,
            },
        ],
        good=[
            {
                "app/jobs/application_job.rb": """
                class ApplicationJob < ActiveJob::Base
                  retry_on Timeout::Error
                end
                """,
                "app/jobs/export_job.rb": """
                class ExportJob < ApplicationJob
                  def perform(id); end
                end
                """,
                "app/mailers/application_mailer.rb": """
                class ApplicationMailer < ActionMailer::Base
                end
                """,
            },
            {
                "engines/billing/app/jobs/billing/application_job.rb": """
                module Billing
                  class ApplicationJob < ActiveJob::Base
                    discard_on ActiveJob::DeserializationError
                  end
                end
                """,
                "lib/legacy/ping_mailer.rb": """
                class PingMailer < ActionMailer::Base
                  def ping(email)
                    mail(to: email)
                  end
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        if source.in_dir(*TEST_DIRS):
            return  # a test's throwaway job opts out of app-wide behaviour on purpose
        for definition in app.definitions_in(source):
            if definition.is_module or definition.superclass is None:
                continue
            base = definition.superclass
            application_base = APPLICATION_BASES.get(base)
            if application_base is None:
                continue
            if definition.name.rsplit("::", 1)[-1] == application_base:
                continue
            scope = definition.lexical_scope
            if app.classes.resolve(application_base, scope) not in app.classes:
                continue
            yield Hit(
                definition.name_start,
                definition.name_end,
                {"name": definition.name, "base": base, "application_base": application_base},
                scope=definition.name,
                anchor=definition.name,
            )
