from __future__ import annotations

from collections.abc import Iterator

from ..findings import Hit, Severity
from ..rails.app import App
from ..rails.classes import ClassDef
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
    as `Billing::ApplicationJob`) are not reported. When the app has no `ApplicationJob` (resp.
    `ApplicationMailer`) at all and several classes inherit the framework base directly, the
    finding says to create one, as rubocop-rails' `Rails/ApplicationJob` does; when the app's
    base has another name (`BaseMailer`, inherited by the other mailers), the finding names it.
    It is silent when the class is itself the base of other project classes, when it is the
    only such class (it is already the one place for its defaults), when
    an `ApplicationJob` exists only in another namespace (an engine's), and for classes opened
    under `config/` (an initializer reopening a gem's class). Not reported either: classes in `test/`, `spec/` and `features/`,
    where a throwaway job opts out on purpose, and a mailer that only mailer previews use.

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
    message = "`{name}` inherits `{base}` directly: {why}"
    help = "Inherit the application base class so app-wide retries, logging and defaults apply"
    triggers = tuple(APPLICATION_BASES)

    examples = Examples(
        bad=[
            {
                "app/mailers/ping_mailer.rb": """
                class PingMailer < ActionMailer::Base # expect: JL702
                  def ping(email)
                    mail(to: email, body: "pong")
                  end
                end
                """,
                "app/mailers/digest_mailer.rb": """
                class DigestMailer < ActionMailer::Base # expect: JL702
                  default from: "digest@example.com"
                end
                """,
            },
            {
                "app/mailers/base_mailer.rb": """
                class BaseMailer < ActionMailer::Base
                  default from: "hello@example.com"
                  layout "mailer"
                end
                """,
                "app/mailers/receipt_mailer.rb": """
                class ReceiptMailer < BaseMailer
                end
                """,
                "app/mailers/drip_mailer.rb": """
                class DripMailer < ActionMailer::Base # expect: JL702
                end
                """,
            },
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
                "lib/mailers/debug_preview_mailer.rb": """
                class DebugPreviewMailer < ActionMailer::Base
                  def no_data(kind)
                    mail(body: "No #{kind} to preview")
                  end
                end
                """,
                "lib/mailers/previews/user_mailer_preview.rb": """
                class UserMailerPreview < ActionMailer::Preview
                  def welcome = User.first ? UserMailer.welcome(User.first) : DebugPreviewMailer.no_data("user")
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        if source.in_dir(*TEST_DIRS):
            return  # a test's throwaway job opts out of app-wide behaviour on purpose
        if source.in_dir("config"):
            return  # an initializer reopening a gem's class (`DelayedPaperclip::ProcessJob`)
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
            if app.classes.resolve(application_base, scope) in app.classes:
                why = f"it misses `{application_base}`"
            elif _base_exists_elsewhere(app, application_base):
                continue  # an engine's own base class is not this class's to inherit
            elif app.classes.subclasses(definition.name):
                continue  # it is the app's base class under another name (`SchoolMailer`)
            elif (named := _base_under_another_name(app, base)) is not None:
                why = f"it misses `{named}`, the base the app's other classes inherit"
            elif len(_direct_heirs(app, base)) < 2:
                continue  # the one job or mailer is itself the one place for its defaults
            else:
                why = (
                    f"the app has no `{application_base}` yet; create `class {application_base} "
                    f"< {base}` and inherit it, so app-wide defaults have one place"
                )
            if base == "ActionMailer::Base" and _preview_only(app, definition):
                continue  # a helper mailer that only mailer previews use
            yield Hit(
                definition.name_start,
                definition.name_end,
                {"name": definition.name, "base": base, "why": why},
                scope=definition.name,
                anchor=definition.name,
            )


def _direct_heirs(app: App, base: str) -> list[str]:
    """Project classes (outside tests and config) that inherit the framework base directly."""
    return [
        name
        for name, definitions in app.classes.definitions.items()
        if any(
            d.superclass in (base, f"::{base}")
            and not d.path.split("/", 1)[0] in ("config", *TEST_DIRS)
            for d in definitions
        )
    ]


def _base_under_another_name(app: App, base: str) -> str | None:
    """A project class inheriting the framework base directly that other project classes
    inherit (`BaseMailer`): the app's base class under another name."""
    bases = sorted(name for name in _direct_heirs(app, base) if app.classes.subclasses(name))
    return bases[0] if bases else None


def _base_exists_elsewhere(app: App, application_base: str) -> bool:
    """An `ApplicationJob` in another namespace (an engine's `Billing::ApplicationJob`)."""
    return any(name.rsplit("::", 1)[-1] == application_base for name in app.classes.names())


PREVIEW_DIRS = ("/previews/", "mailer_previews/")


def _preview_only(app: App, definition: ClassDef) -> bool:
    """Is the mailer named in no app or lib file but its own and mailer previews? (Config
    files are not usage: an initializer may name it to filter it out.)"""
    short = definition.name.rsplit("::", 1)[-1].encode()
    users = [
        source.relpath
        for source in app.model_files
        if source.relpath != definition.path and short in source.data
        and source.relpath.split("/", 1)[0] not in ("config", *TEST_DIRS)
    ]
    return bool(users) and all(any(d in f"/{path}" for d in PREVIEW_DIRS) for path in users)
