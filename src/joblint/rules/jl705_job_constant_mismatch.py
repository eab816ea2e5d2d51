from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..rails.app import JOB_DIRS, App
from ..rails.classes import ClassDef
from ..rails.mailers import is_mailer
from ..rails.zeitwerk import autoloading
from ..ruby import Node
from ..source import SourceFile
from . import Examples, Rule, register

MAILER_DIRS = ("app/mailers",)
CHECKED_DIRS = JOB_DIRS + MAILER_DIRS
_CONSTANT_ASSIGNMENTS = ruby.compile_query(
    "(assignment left: [(constant) (scope_resolution)] @constant)"
)
# calls that define constants Zeitwerk would see but this rule cannot name
DYNAMIC_DEFINITIONS = (b"const_set", b"class_eval", b"module_eval", b"instance_eval", b"eval(")

_GEMFILE_LOCK = "GEM\n  remote: https://rubygems.org/\n  specs:\n    rails (7.1.3)\n"


@register
class JobConstantMismatch(Rule):
    """
    ## What it does
    Finds a job or mailer class under `app/jobs`, `app/workers`, `app/sidekiq` or
    `app/mailers` whose file does not define the constant Zeitwerk expects from its path:
    `app/jobs/sync/user_job.rb` must define `Sync::UserJob` (as `module Sync; class UserJob`
    or `class Sync::UserJob`).

    ## Why is this bad?
    Zeitwerk finds a constant by its file name and nothing else. When the file defines some
    other constant, referencing the job's constant raises `NameError` — at enqueue time, or in
    the worker when it loads the job class — and eager loading (production, CI) fails with
    `Zeitwerk::NameError`.

    The expected name follows Rails: every `app/*` and `app/*/concerns` directory (of the app
    and its engines) is a root, plus the app's `autoload_paths`/`eager_load_paths` additions;
    names are camelized by ActiveSupport with the acronyms of `inflect.acronym` and the
    overrides of `autoloader.inflector.inflect(...)`. Files in collapsed or ignored
    directories, and files that define the expected constant anywhere in them, are not
    reported. It is silent for apps on the classic autoloader (Rails < 6, or
    `config.autoloader = :classic`), when the Rails version is unknown, and — for differences
    an unread setting could explain — when an inflection, root or collapse is computed rather
    than written.

    ## Example
    ```ruby
    # app/jobs/sync/user_job.rb
    class UserJob < ApplicationJob
    end
    ```

    ## Use instead
    ```ruby
    # app/jobs/sync/user_job.rb
    module Sync
      class UserJob < ApplicationJob
      end
    end
    ```
    """

    code = "JL705"
    name = "job-constant-mismatch"
    severity = Severity.ERROR
    scope = "project"
    summary = "A job or mailer whose constant does not match its file path under Zeitwerk"
    message = "`{name}` does not match its file: Zeitwerk expects `{path}` to define `{expected}`, so {what}"
    help = "Rename the class or move the file so that the constant matches the path"
    triggers = ("class",)

    examples = Examples(
        bad=[
            {
                "Gemfile.lock": _GEMFILE_LOCK,
                "app/jobs/application_job.rb": """
                class ApplicationJob < ActiveJob::Base
                  retry_on Timeout::Error
                end
                """,
                "app/jobs/sync/user_job.rb": """
                class UserJob < ApplicationJob # expect: JL705
                  def perform(user_id); end
                end
                """,
                "app/mailers/application_mailer.rb": """
                class ApplicationMailer < ActionMailer::Base
                end
                """,
                "app/mailers/admin_mailer.rb": """
                class AdminsMailer < ApplicationMailer # expect: JL705
                  def alert(email)
                    mail(to: email, body: "alert")
                  end
                end
                """,
            },
            {
                "Gemfile.lock": _GEMFILE_LOCK,
                "config/initializers/inflections.rb": """
                ActiveSupport::Inflector.inflections(:en) do |inflect|
                  inflect.acronym "JSON"
                end
                """,
                "app/jobs/api_sync_job.rb": """
                class APISyncJob < ApplicationJob # expect: JL705
                  discard_on ActiveJob::DeserializationError
                  def perform(id); end
                end
                """,
                "app/workers/reports/weekly_worker.rb": """
                module Report
                  class WeeklyWorker # expect: JL705
                    include Sidekiq::Job
                    def perform; end
                  end
                end
                """,
            },
        ],
        good=[
            {
                "Gemfile.lock": _GEMFILE_LOCK,
                "app/jobs/sync/user_job.rb": """
                module Sync
                  class UserJob < ApplicationJob
                    discard_on ActiveJob::DeserializationError
                    def perform(user_id); end
                  end
                end
                """,
                "app/jobs/sync/team_job.rb": """
                class Sync::TeamJob < ApplicationJob
                  discard_on ActiveJob::DeserializationError
                  def perform(team_id); end
                end
                """,
                "app/jobs/concerns/base_import_job.rb": """
                class BaseImportJob < ApplicationJob
                  discard_on ActiveJob::DeserializationError
                  def perform(id); end
                end
                """,
                "app/jobs/report_job.rb": """
                class ReportJob < ApplicationJob
                  discard_on ActiveJob::DeserializationError
                  def perform(id); end
                end

                class ReportPartJob < ReportJob
                end
                """,
            },
            {
                "Gemfile.lock": _GEMFILE_LOCK,
                "config/initializers/inflections.rb": """
                ActiveSupport::Inflector.inflections(:en) do |inflect|
                  inflect.acronym "API"
                end
                """,
                "config/initializers/zeitwerk.rb": """
                Rails.autoloaders.each do |autoloader|
                  autoloader.inflector.inflect("csv_export_job" => "CSVExportJob")
                end
                Rails.autoloaders.main.collapse("#{Rails.root}/app/jobs/imports")
                Rails.autoloaders.main.ignore(Rails.root.join("app", "jobs", "legacy"))
                """,
                "app/jobs/api_sync_job.rb": """
                class APISyncJob < ApplicationJob
                  discard_on ActiveJob::DeserializationError
                  def perform(id); end
                end
                """,
                "app/jobs/csv_export_job.rb": """
                class CSVExportJob < ApplicationJob
                  discard_on ActiveJob::DeserializationError
                  def perform(id); end
                end
                """,
                "app/jobs/imports/contact_import_job.rb": """
                class ContactImportJob < ApplicationJob
                  discard_on ActiveJob::DeserializationError
                  def perform(id); end
                end
                """,
                "app/jobs/legacy/old_import.rb": """
                class LegacyImportJob < ApplicationJob
                  discard_on ActiveJob::DeserializationError
                  def perform(id); end
                end
                """,
            },
            {
                "Gemfile.lock": _GEMFILE_LOCK,
                "config/initializers/inflections.rb": """
                ActiveSupport::Inflector.inflections(:en) do |inflect|
                  Acronyms::LIST.each { |word| inflect.acronym word }
                end
                """,
                "app/jobs/html_render_job.rb": """
                class HTMLRenderJob < ApplicationJob
                  discard_on ActiveJob::DeserializationError
                  def perform(id); end
                end
                """,
            },
            {
                "Gemfile.lock": "GEM\n  remote: https://rubygems.org/\n  specs:\n    rails (6.1.7)\n",
                "config/application.rb": """
                module Shop
                  class Application < Rails::Application
                    config.load_defaults 6.1
                    config.autoloader = :classic
                  end
                end
                """,
                "app/jobs/sync/user_job.rb": """
                class UserJob < ApplicationJob
                  discard_on ActiveJob::DeserializationError
                  def perform(user_id); end
                end
                """,
            },
        ],
    )

    @classmethod
    def wants(cls, source: SourceFile) -> bool:
        return _checked_dir(source.relpath) is not None and b"class" in source.data

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        kind_of_dir = _checked_dir(source.relpath)
        if kind_of_dir is None or source.contains_any(DYNAMIC_DEFINITIONS):
            return
        facts = autoloading(app)
        if not facts.zeitwerk:
            return
        expectation = facts.expected_constant(source.relpath)
        if expectation is None:
            return
        defined = _defined_constants(source)
        if any(expectation.could_be(name) for names in defined.values() for name in names):
            return
        if any(expectation.could_be(name) for name in _assigned_constants(source)):
            return
        for definition in app.definitions_in(source):
            if definition.is_module:
                continue
            what = _what_breaks(app, definition, kind_of_dir)
            if what is None:
                continue
            name = defined.get(definition.name_start, [definition.name])[0]
            yield Hit(
                definition.name_start,
                definition.name_end,
                {
                    "name": name,
                    "path": source.relpath,
                    "expected": expectation.constant,
                    "what": what,
                },
                scope=name,
                anchor=name,
            )


def _checked_dir(relpath: str) -> str | None:
    """Which checked directory (of the app or an engine) holds the file: job, mailer or None."""
    parts = relpath.split("/")
    for start in (0, 2):
        if len(parts) > start + 2 and parts[start] == "app":
            directory = f"app/{parts[start + 1]}"
            if directory in JOB_DIRS:
                return "job"
            if directory in MAILER_DIRS:
                return "mailer"
    return None


def _what_breaks(app: App, definition: ClassDef, kind_of_dir: str) -> str | None:
    """What a wrong constant breaks, for a job or mailer class; None for other classes."""
    name = definition.name
    short = name.rsplit("::", 1)[-1]
    job = app.jobs.kind(name) is not None or (
        kind_of_dir == "job"
        and short.endswith(("Job", "Worker"))
        and "perform" in definition.methods
    )
    if job:
        return "the job cannot be autoloaded: `NameError` when it is enqueued or performed"
    mailer = is_mailer(app.classes, name) or (kind_of_dir == "mailer" and short.endswith("Mailer"))
    if mailer:
        return "the mailer cannot be autoloaded: `NameError` when a mail is built or delivered"
    return None


def _defined_constants(source: SourceFile) -> dict[int, list[str]]:
    """Every class/module the file defines, by the byte where its name starts, with the names
    it may have, innermost reading first (`class A::B` inside `module M` is `M::A::B` or
    `A::B`, as Ruby resolves `A`; `class ::Foo` is the top-level `Foo`)."""
    names: dict[int, list[str]] = {}
    known: dict[int, list[str]] = {}  # by node id: nested definitions share their outer names
    for node in ruby.definition_nodes(source.root, source.data):
        name_node = node.child_by_field_name("name")
        candidates = _names_of(node, known)
        if name_node is not None and candidates:
            names[name_node.start_byte] = candidates
    return names


def _names_of(node: Node, known: dict[int, list[str]]) -> list[str]:
    if node.id not in known:
        known[node.id] = _own_names(node, known)
    return known[node.id]


def _own_names(node: Node, known: dict[int, list[str]]) -> list[str]:
    name_node = node.child_by_field_name("name")
    written = ruby.constant_path(name_node)
    if written is None:
        return []
    parent = ruby.enclosing(node, {"class", "module"})
    if ruby.text(name_node).startswith("::") or parent is None:
        return [written]
    outer = _names_of(parent, known)
    if not outer:
        return []
    if "::" not in written:
        return [f"{prefix}::{written}" for prefix in outer]
    candidates: list[str] = []
    for prefix in outer:  # the first segment is looked up lexically, innermost scope first
        parts = prefix.split("::")
        candidates += ["::".join([*parts[:depth], written]) for depth in range(len(parts), -1, -1)]
    return list(dict.fromkeys(candidates))


def _assigned_constants(source: SourceFile) -> list[str]:
    """`UserJob = Class.new(ApplicationJob)` and the like, with the enclosing namespaces."""
    names = []
    known: dict[int, list[str]] = {}
    for node in ruby.captures(_CONSTANT_ASSIGNMENTS, source.root).get("constant", []):
        written = ruby.constant_path(node)
        if written is None:
            continue
        scope = ruby.enclosing(node, {"class", "module"})
        outer = _names_of(scope, known) if scope is not None else []
        if ruby.text(node).startswith("::") or not outer:
            names.append(written)
        else:
            names.extend(f"{prefix}::{written}" for prefix in outer)
    return names
