from __future__ import annotations

from collections.abc import Iterator

from ..findings import Hit, Severity
from ..rails.app import App
from ..rails.classes import ClassDef, HandlerDecl
from ..rails.exceptions import ExceptionHierarchy, exception_hierarchy
from ..rails.mailers import is_mailer
from ..source import SourceFile
from . import Examples, Rule, register


def _resolved(handler: HandlerDecl, definition: ClassDef, app: App) -> list[str]:
    scope = definition.lexical_scope + (definition.name,)
    return [app.classes.resolve(e, scope) for e in handler.exceptions]


def _label(handler: HandlerDecl, exception: str) -> str:
    return f"{handler.method} {exception}"


@register
class ShadowedHandler(Rule):
    """
    ## What it does
    Finds a `retry_on`, `discard_on` or `rescue_from` in a job or mailer that can never run,
    because a handler for the same exception or one of its ancestors is declared **later** —
    in the same class, or in a subclass.

    ## Why is this bad?
    Active Job's and Action Mailer's handlers are all `rescue_from` handlers, and Rails searches
    them from the last declared to the first, subclass before parent: the last matching
    declaration wins. So `retry_on Net::ReadTimeout` followed by `discard_on StandardError`
    discards timeouts instead of retrying them — silently.

    Within one class the finding points at the shadowed (earlier, now dead) handler and names
    the later one. When a subclass declares a handler for an ancestor of an exception its
    parent handles, the finding points at the subclass's handler and names the parent
    handlers it shadows (they still work for other subclasses); a subclass handler for the very
    same exception is taken as a deliberate override and not reported. The hierarchy is Ruby's
    and Rails' common exceptions plus the exception classes the project defines; a handler for
    an exception whose ancestry joblint does not know is never reported. Handlers that concerns
    add are only compared within the concern. Jobs defined under `spec/` and `test/` (test
    doubles) are not checked.

    ## Example
    ```ruby
    class SyncJob < ApplicationJob
      retry_on Net::ReadTimeout, attempts: 5
      discard_on StandardError
    end
    ```

    ## Use instead
    ```ruby
    class SyncJob < ApplicationJob
      discard_on StandardError
      retry_on Net::ReadTimeout, attempts: 5  # narrower handlers last
    end
    ```
    """

    code = "JL205"
    name = "shadowed-handler"
    severity = Severity.WARNING
    scope = "project"
    summary = "An error handler that a later handler for a broader exception makes unreachable"
    message = "{what}: handlers are searched from the last declared, so {consequence}"
    help = "Declare broad handlers first and narrower ones after them"
    triggers = ("retry_on", "discard_on", "rescue_from")

    examples = Examples(
        bad=[
            {
                "app/jobs/sync_job.rb": """
                class SyncJob < ApplicationJob
                  retry_on Net::ReadTimeout, attempts: 5 # expect: JL205
                  discard_on Timeout::Error

                  def perform(id); end
                end
                """,
            },
            {
                "app/jobs/application_job.rb": """
                class ApplicationJob < ActiveJob::Base
                  class TransientError < StandardError; end

                  retry_on TransientError, attempts: 3
                  discard_on ActiveRecord::RecordNotFound
                end
                """,
                "app/jobs/import_job.rb": """
                class ImportJob < ApplicationJob
                  rescue_from StandardError do |error| # expect: JL205
                    Rails.error.report(error)
                    raise error
                  end

                  def perform(id); end
                end
                """,
            },
        ],
        good=[
            {
                "app/jobs/sync_job.rb": """
                class SyncJob < ApplicationJob
                  discard_on Timeout::Error
                  retry_on Net::ReadTimeout, attempts: 5
                  retry_on Faraday::ConnectionFailed, Faraday::TimeoutError
                  discard_on ActiveJob::DeserializationError

                  def perform(id); end
                end
                """,
            },
            {
                "app/jobs/application_job.rb": """
                class ApplicationJob < ActiveJob::Base
                  retry_on ActiveRecord::Deadlocked
                  retry_on Stripe::RateLimitError
                  discard_on Vendor::GoneError
                end
                """,
                "app/jobs/charge_job.rb": """
                class ChargeJob < ApplicationJob
                  discard_on ActiveRecord::Deadlocked
                  retry_on Vendor::Error

                  def perform(id); end
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        if source.in_dir("spec", "test"):
            return  # test doubles override handlers on purpose
        hierarchy = exception_hierarchy(app)
        for definition in app.definitions_in(source):
            name = definition.name
            if definition.is_module or not definition.handlers:
                continue
            if app.jobs.kind(name) is None and not is_mailer(app.classes, name):
                continue
            reported: set[int] = set()  # one finding per handler, never two
            for hit in (*self._within_class(definition, hierarchy, app),
                        *self._over_parent(definition, hierarchy, app)):
                if hit.start_byte not in reported:
                    reported.add(hit.start_byte)
                    yield hit

    def _within_class(
        self, definition: ClassDef, hierarchy: ExceptionHierarchy, app: App
    ) -> Iterator[Hit]:
        handlers = sorted(definition.handlers, key=lambda h: h.start_byte)
        for index, earlier in enumerate(handlers):
            for exception in _resolved(earlier, definition, app):
                shadow = next(
                    (
                        (later, broader)
                        for later in reversed(handlers[index + 1 :])
                        for broader in _resolved(later, definition, app)
                        if hierarchy.is_a(exception, broader)
                    ),
                    None,
                )
                if shadow is None:
                    continue
                later, broader = shadow
                yield Hit(
                    earlier.start_byte,
                    earlier.end_byte,
                    {
                        "what": f"`{_label(earlier, exception)}` never runs",
                        "consequence": f"the later `{_label(later, broader)}` "
                        f"(line {later.line}) handles `{exception}` first",
                    },
                    scope=definition.name,
                    anchor=f"{earlier.method} {exception}",
                )
                break  # one finding per handler

    def _over_parent(
        self, definition: ClassDef, hierarchy: ExceptionHierarchy, app: App
    ) -> Iterator[Hit]:
        parent = app.classes.superclass(definition.name)
        if parent is None or parent not in app.classes:
            return
        inherited = app.classes.handlers(parent)
        parent_defs = {
            id(h): d
            for owner in app.classes.lineage(parent)
            for d in app.classes.definitions.get(owner, ())
            for h in d.handlers
        }
        for handler in definition.handlers:
            for broader in _resolved(handler, definition, app):
                shadowed = []
                for old in inherited:
                    old_def = parent_defs.get(id(old))
                    if old_def is None:
                        continue
                    for exception in _resolved(old, old_def, app):
                        if exception != broader and hierarchy.is_a(exception, broader):
                            shadowed.append((old, old_def, exception))
                if not shadowed:
                    continue
                names = ", ".join(
                    f"`{d.name}`'s `{_label(h, e)}` ({h.path}:{h.line})" for h, d, e in shadowed
                )
                yield Hit(
                    handler.start_byte,
                    handler.end_byte,
                    {
                        "what": f"`{_label(handler, broader)}` in `{definition.name}` shadows {names}",
                        "consequence": f"those never run for `{definition.name}`",
                    },
                    scope=definition.name,
                    anchor=f"{handler.method} {broader}",
                )
                break
