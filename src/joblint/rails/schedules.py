"""Schedule facts: the recurring entries of Solid Queue, sidekiq-cron, sidekiq-scheduler,
GoodJob and whenever, with the file and byte span of each part, for pointing.

- Solid Queue `config/recurring.yml` (per environment): `class:`/`command:`, `schedule:`,
  `args:`, `queue:`.
- sidekiq-cron YAML (`config/schedule.yml` and the other names of `files.JOB_CONFIG_FILES`): a
  hash of entries or a list of entries with `name:`; `cron:`, `class:`/`klass:`, `queue:`.
- sidekiq-scheduler: `:scheduler: :schedule:` in `config/sidekiq.yml`, or `:schedule:` in its
  own file; `cron:` (validated), `every:`/`at:`/`in:`/`interval:` (not validated).
- GoodJob: `config.good_job.cron = { key: { cron:, class: } }` and `config.good_job.cron[:key] =
  { … }` in `config/application.rb`, `config/environments/*.rb`, `config/initializers/*.rb`.
- whenever `config/schedule.rb`: `runner "Foo.perform_later"` names a class; `rake`/`command`
  entries are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from .. import ruby
from ..files import JOB_CONFIG_FILES
from ..patterns import lazy_pattern
from ..ruby import Node
from ..source import SourceFile
from . import yaml_config
from .app import App
from .classes import extract_definitions
from .jobs import JobKind
from .yaml_config import YMap, YStr

RECURRING_FILES = ("config/recurring.yml",)
SIDEKIQ_FILE = "config/sidekiq.yml"
SCHEDULE_YAML_FILES = tuple(
    sorted(f for f in JOB_CONFIG_FILES if f not in RECURRING_FILES + (SIDEKIQ_FILE,)
           and f not in ("config/queue.yml", "config/solid_queue.yml"))
)
WHENEVER_FILE = "config/schedule.rb"
# the YAML files that can hold schedule entries (recurring, sidekiq-cron, sidekiq-scheduler)
SCHEDULE_FILES = frozenset(RECURRING_FILES + SCHEDULE_YAML_FILES + (SIDEKIQ_FILE,))
RUBY_CONFIG_GLOBS = ("config/application.rb", "config/environments/*.rb", "config/initializers/*.rb")
TASK_KEYS = frozenset({"class", "klass", "command", "schedule", "cron", "every", "at", "in",
                       "interval", "args", "queue", "priority", "description"})


@dataclass(frozen=True)
class Span:
    """A piece of a schedule entry: its text and where it is."""

    text: str
    start_byte: int
    end_byte: int


@dataclass(frozen=True)
class ScheduleEntry:
    backend: str  # solid_queue | sidekiq_cron | sidekiq_scheduler | good_job | whenever
    path: str  # the file the entry is written in, relative to the root
    key: Span  # the entry's name (whenever: the `runner` call)
    class_name: Span | None
    command: Span | None
    schedule: Span | None  # a cron/Fugit string to validate
    queue: Span | None
    names_target: bool = True  # has a `class:`/`klass:`/`command:` key (its value may be unknown)
    active_job: bool = True  # enqueued through ActiveJob (sidekiq-cron: only with `active_job: true`)
    is_mapping: bool = True  # False: a scalar where the settings of the entry belong

    @property
    def label(self) -> str:
        return f"{self.backend}:{self.key.text}"


def schedules(app: App) -> list[ScheduleEntry]:
    return app.fact("schedules", _build)


def entries_in(app: App, source: SourceFile) -> list[ScheduleEntry]:
    return [e for e in schedules(app) if e.path == source.relpath]


def _build(app: App) -> list[ScheduleEntry]:
    entries: list[ScheduleEntry] = []
    for relpath in RECURRING_FILES:
        document = _document(app, relpath)
        for section in yaml_config.sections(document):
            # Solid Queue reads the current environment's section, or the whole file when it has
            # none: the keys beside the environment sections are not tasks
            tasks = not isinstance(document, dict) or section is document or any(
                section is value for key, value in document.items() if key in yaml_config.ENVIRONMENTS)
            entries.extend(_yaml_entries(section, "solid_queue", relpath, scalar_tasks=tasks))
    for relpath in SCHEDULE_YAML_FILES:
        document = _document(app, relpath)
        backend = "sidekiq_scheduler" if "scheduler" in relpath or _scheduler_keys(document) else "sidekiq_cron"
        if isinstance(document, dict) and yaml_config.get(document, ":schedule", "schedule") is not None:
            document, backend = yaml_config.get(document, ":schedule", "schedule"), "sidekiq_scheduler"
        for section in _schedule_sections(document):
            entries.extend(_yaml_entries(section, backend, relpath))
    sidekiq = _document(app, SIDEKIQ_FILE)
    for section in yaml_config.sections(sidekiq):
        scheduler = yaml_config.get(section, ":scheduler", "scheduler")
        inline = yaml_config.get(scheduler, ":schedule", "schedule") if isinstance(scheduler, dict) else None
        inline = inline if inline is not None else yaml_config.get(section, ":schedule")
        if isinstance(inline, dict):
            entries.extend(_yaml_entries(inline, "sidekiq_scheduler", SIDEKIQ_FILE))
    entries.extend(_good_job_entries(app))
    entries.extend(_whenever_entries(app))
    return _unique(entries)


def _document(app: App, relpath: str) -> yaml_config.YValue:
    document = yaml_config.app_document(app, relpath)
    return None if isinstance(document, yaml_config.YamlError) else document


def _scheduler_keys(document: yaml_config.YValue) -> bool:
    """sidekiq-scheduler's own keys (`every:`, `interval:`, `in:`, `at:`) in any entry."""
    return isinstance(document, dict) and any(
        isinstance(task, dict) and {"every", "interval", "in", "at"} & {str(k) for k in task}
        for task in document.values()
    )


def _schedule_sections(document: yaml_config.YValue) -> list[YMap]:
    if isinstance(document, list):  # sidekiq-cron's list form: `- name: …`
        table = YMap()
        for item in document:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                table[item["name"]] = item
        return [table]
    return yaml_config.sections(document)


def _yaml_entries(  # type: ignore[type-arg]
    section: dict, backend: str, relpath: str, nested: bool = False, scalar_tasks: bool = False
) -> Iterator[ScheduleEntry]:
    for key, task in section.items():
        if not isinstance(key, YStr):
            continue
        if not isinstance(task, dict):
            if scalar_tasks and _is_scalar_task(key, task):
                span = Span(str(key), key.start_byte, key.end_byte)
                yield ScheduleEntry(backend, relpath, span, None, None, None, None,
                                    names_target=False, is_mapping=False)
            continue
        keys = {str(k).lstrip(":") for k in task}
        if not keys & TASK_KEYS and task and all(isinstance(v, dict) for v in task.values()):
            if not nested:  # an environment whose name is not a well-known one, one level only
                yield from _yaml_entries(task, backend, relpath, nested=True)
            continue
        schedule_key = "schedule" if backend == "solid_queue" else "cron"
        class_name = _span(yaml_config.get(task, "class", "klass", ":class"))
        if class_name is not None and class_name.text.endswith("::JobWrapper"):
            # an ActiveJob adapter's wrapper scheduled directly: the job is `args: job_class:`
            args = yaml_config.get(task, "args", ":args")
            wrapped = _span(yaml_config.get(args, "job_class")) if isinstance(args, dict) else None
            class_name = wrapped or class_name
        if class_name is None and backend == "sidekiq_scheduler" and not keys & {"class", "klass"}:
            class_name = _span(key)  # sidekiq-scheduler runs the class named by the key
        yield ScheduleEntry(
            backend=backend,
            path=relpath,
            key=_span(key) or Span(str(key), key.start_byte, key.end_byte),
            class_name=class_name,
            command=_span(yaml_config.get(task, "command")),
            schedule=_span(yaml_config.get(task, schedule_key, ":" + schedule_key)),
            queue=_span(yaml_config.get(task, "queue", ":queue")),
            names_target=bool(keys & {"class", "klass", "command"}),
            active_job=backend == "solid_queue" or yaml_config.get(task, "active_job") is True,
        )


def _is_scalar_task(key: YStr, task: yaml_config.YValue) -> bool:
    """A string, number or boolean where a task's mapping belongs (not an environment left
    empty, not a value ERB computes)."""
    if key in yaml_config.ENVIRONMENTS or task is None or isinstance(task, (list, dict)):
        return False
    return not (isinstance(task, YStr) and task.has_erb)


def _span(value: yaml_config.YValue) -> Span | None:
    if isinstance(value, YStr) and not value.has_erb:
        return Span(str(value), value.start_byte, value.end_byte)
    return None


# -- GoodJob ---------------------------------------------------------------------------------

_GOOD_JOB_CRON = ruby.compile_query(
    """
    (assignment
      left: [(call method: (identifier) @cron (#eq? @cron "cron"))
             (element_reference object: (call method: (identifier) @cron (#eq? @cron "cron")))] @left
      right: (hash) @value)
    """
)


def _good_job_entries(app: App) -> Iterator[ScheduleEntry]:
    if app.root is None:
        return
    for pattern in RUBY_CONFIG_GLOBS:
        for path in sorted(app.root.glob(pattern)):
            source = app.source(path)
            if source is None or b"good_job" not in source.data or b"cron" not in source.data:
                continue
            for _, caps in ruby.matches(_GOOD_JOB_CRON, source.root):
                left, value = caps["left"][0], caps["value"][0]
                if "good_job" not in ruby.text(left):
                    continue
                if left.type == "element_reference":
                    key = left.named_children[1] if left.named_child_count > 1 else left
                    yield _good_job_entry(source, key, value)
                else:
                    for pair in value.named_children:
                        task = pair.child_by_field_name("value") if pair.type == "pair" else None
                        if task is not None and task.type == "hash":
                            yield _good_job_entry(source, pair.child_by_field_name("key") or pair, task)


def _good_job_entry(source: SourceFile, key: Node, task: Node) -> ScheduleEntry:
    pairs = {ruby.pair_key(p): p.child_by_field_name("value") for p in task.named_children if p.type == "pair"}
    klass = pairs.get("class")
    class_span = None
    if klass is not None:
        written = ruby.string_value(klass) or ruby.constant_path(klass)
        if written:
            class_span = Span(written.removeprefix("::"), klass.start_byte, klass.end_byte)
    cron = pairs.get("cron")
    cron_text = ruby.string_value(cron) if cron is not None else None
    name = ruby.string_value(key) if key.type in ("simple_symbol", "string") else ruby.text(key).rstrip(":")
    return ScheduleEntry(
        backend="good_job",
        path=source.relpath,
        key=Span(name or ruby.text(key), key.start_byte, key.end_byte),
        class_name=class_span,
        command=None,
        schedule=Span(cron_text, cron.start_byte, cron.end_byte) if cron_text and cron is not None else None,
        queue=None,
    )


# -- whenever --------------------------------------------------------------------------------

_RUNNER = ruby.compile_query(
    '(call !receiver method: (identifier) @method (#eq? @method "runner") arguments: (argument_list . (string) @code)) @call'
)
_RUNNER_CLASS = lazy_pattern(r"^\s*(?:::)?([A-Z]\w*(?:::[A-Z]\w*)*)\.(\w+)")


def _whenever_entries(app: App) -> Iterator[ScheduleEntry]:
    if app.root is None or not (app.root / WHENEVER_FILE).is_file():
        return
    source = app.source(app.root / WHENEVER_FILE)
    if source is None:
        return
    for _, caps in ruby.matches(_RUNNER, source.root):
        code = caps["code"][0]
        text = ruby.string_value(code)
        match = _RUNNER_CLASS.match(text or "")
        if match is None:
            continue
        call = caps["call"][0]
        yield ScheduleEntry(
            backend="whenever",
            path=source.relpath,
            key=Span(text or "", call.start_byte, call.end_byte),
            class_name=Span(match.group(1), code.start_byte, code.end_byte),
            command=Span(text or "", code.start_byte, code.end_byte),
            schedule=None,
            queue=None,
        )


def is_ruby_schedule_file(source: SourceFile) -> bool:
    """whenever's `config/schedule.rb` and the Ruby config files GoodJob cron is set in."""
    path = source.relpath
    return path in (WHENEVER_FILE, "config/application.rb") or (
        path.endswith(".rb") and path.startswith(("config/environments/", "config/initializers/"))
        and path.count("/") == 2
    )


def runner_method(entry: ScheduleEntry) -> str | None:
    """The method a whenever `runner` string calls on its class (`perform_later`)."""
    match = _RUNNER_CLASS.match(entry.command.text if entry.command else "")
    return match.group(2) if match else None


def _unique(entries: list[ScheduleEntry]) -> list[ScheduleEntry]:
    """Environments that alias one section (`development: *production`) list an entry once."""
    seen: set[tuple[str, int, int]] = set()
    unique = []
    for entry in entries:
        identity = (entry.path, entry.key.start_byte, entry.key.end_byte)
        if identity not in seen:
            seen.add(identity)
            unique.append(entry)
    return unique


# Namespaces of Rails, the job backends and common gems whose jobs the project does not define.
FRAMEWORK_NAMESPACES = frozenset(
    {
        "ActionMailer", "ActionMailbox", "ActionText", "ActionCable", "ActionView",
        "ActionDispatch", "ActiveJob", "ActiveRecord", "ActiveStorage", "ActiveSupport",
        "ActiveModel", "Rails", "Turbo", "SolidQueue", "SolidCable", "SolidCache", "GoodJob",
        "Sidekiq", "MissionControl", "Noticed", "Devise", "Searchkick", "Ahoy", "PgHero",
        "Maintenance", "MaintenanceTasks", "Que", "Resque", "Delayed", "Shrine", "Paperclip",
        "Kaminari", "Audited", "PaperTrail", "Doorkeeper", "Ckeditor",
    }
)


def external_constant(name: str, app: App) -> bool:
    """A constant under a framework namespace or the namespace of a locked gem (`PgHero::` for
    `pghero`, `Maintenance::` for `maintenance_tasks`…), assumed to exist outside the project.
    A gem names a namespace by its whole name or by leading words of it (`maintenance_tasks` →
    `Maintenance`, `MaintenanceTasks`), never by a mere prefix (`useragent` is not `User`), and
    never one the project defines itself."""
    top = name.removeprefix("::").split("::", 1)[0]
    if top in FRAMEWORK_NAMESPACES:
        return True
    if top in _project_namespaces(app):
        return False
    return top.lower() in _gem_namespaces(app)


def _gem_namespaces(app: App) -> frozenset[str]:
    """Lower-case namespaces the locked gems may define: each gem name's leading words, joined."""
    def build(a: App) -> frozenset[str]:
        found = set()
        for gem in a.gems:
            words = [w for w in re.split(r"[-_.]", gem.lower()) if w]
            found.update("".join(words[:n]) for n in range(1, len(words) + 1))
        return frozenset(found)
    return app.fact("gem_namespaces", build)


# Ancestors that make no job of a class: Rails' non-job bases and Ruby's own mixins.
NON_JOB_NAMESPACES = frozenset(
    {"ActiveRecord", "ActiveModel", "ActiveSupport", "ActionMailer", "ActionController",
     "ActionView", "ActionDispatch", "ActionCable", "ActionMailbox", "ActionText"}
)
RUBY_CONSTANTS = frozenset(
    {"Object", "BasicObject", "Kernel", "Comparable", "Enumerable", "Singleton", "Forwardable",
     "StandardError", "Struct", "Time", "Date", "DateTime", "File", "Dir", "FileUtils", "IO", "GC",
     "ObjectSpace", "Process", "Signal", "Thread", "ENV", "JSON", "YAML", "URI", "Net", "Logger",
     "Marshal", "Math", "Random", "SecureRandom", "Benchmark", "Rake", "Open3", "Timeout", "ERB",
     "Base64", "Digest", "OpenSSL", "CSV", "Zlib", "Pathname", "Tempfile", "Set", "BigDecimal",
     "Integer", "Float", "String", "Array", "Hash", "Module", "Class"}
)
# class-level methods a scheduler may call instead of a job's: `perform` (Resque runs
# `klass.perform`), `perform_later`, `perform_async`, `set`
SCHEDULER_ENTRY_POINTS = frozenset({"perform", "perform_later", "perform_async", "perform_in", "set"})


def _class_method_names(root: Node, data: bytes) -> set[str]:
    """The names of `def self.x` methods and of the `def x` written directly in a `class << self`
    body: what `(singleton_method name: (identifier) @name)` and `(singleton_class body:
    (body_statement (method name: (identifier) @name)))` capture, without compiling them."""
    names = set()
    for node in ruby.keyword_nodes(root, data, {"def": "singleton_method", "class": "singleton_class"}):
        if node.type == "singleton_method":
            methods = [node]
        else:
            body = node.child_by_field_name("body")
            methods = [m for m in body.named_children if m.type == "method"] if (
                body is not None and body.type == "body_statement") else []
        for method in methods:
            name = method.child_by_field_name("name")
            if name is not None and name.type == "identifier":
                names.add(ruby.text(name))
    return names

# a module extending the class, or methods defined at run time: it may answer after all
_OPEN_CLASS = lazy_pattern(
    rb"define_singleton_method|^[^\S\n]*extend\s+(?!self\b|Forwardable\b|ActiveSupport::Concern\b)[A-Z]",
    re.MULTILINE,
)
# instance methods that are also the module's own: `extend self`, `module_function`
_SELF_EXTENDED = lazy_pattern(rb"^[^\S\n]*(?:extend\s+self\b|module_function\b)", re.MULTILINE)


def plain_class(name: str, app: App) -> bool:
    """A project class that is visibly no job, so a scheduler's `perform_later` (or Sidekiq's
    `perform_async`) on it raises `NoMethodError`: neither ActiveJob nor Sidekiq, every
    ancestor is the project's, Ruby's or a non-job Rails base, and it defines no class-level
    entry point of its own (`self.perform` as Resque runs it, `self.perform_later`…) and is
    extended by no module."""
    classes = app.classes
    if name not in classes or app.jobs.kind(name) is not None:
        return False
    for ancestor in classes.ancestors(name):
        if ancestor not in classes and ancestor not in RUBY_CONSTANTS and (
            ancestor.split("::", 1)[0] not in NON_JOB_NAMESPACES
        ):
            return False  # a gem's class or module: it may make a job
    for owner in classes.lineage(name):
        for source in _defining_sources(app, owner):
            if _OPEN_CLASS.search(source.data):
                return False
            methods = _class_method_names(source.root, source.data)
            if _SELF_EXTENDED.search(source.data):
                methods.update(m for d in classes.definitions[owner] for m in d.methods)
            if methods & SCHEDULER_ENTRY_POINTS:
                return False
    return True


def source_matches(app: App, name: str, pattern: re.Pattern[bytes]) -> bool:
    """Does a file that defines the class match the pattern?"""
    return any(pattern.search(source.data) for source in _defining_sources(app, name))


def _defining_sources(app: App, name: str) -> Iterator[SourceFile]:
    for definition in app.classes.definitions.get(name, ()):
        source = app.source(app.root / definition.path) if app.root else None
        if source is not None:
            yield source


_CONSTANT_ASSIGNMENT = lazy_pattern(rb"\n[^\S\n]*([A-Z]\w*)(?=\s*=[^=~])")


def _constants_assigned(data: bytes) -> list[str]:
    """The constants assigned at the start of a line (`OldJob = NewJob`). The text is searched
    with a newline before it: a pattern that starts with a newline is found by scanning for it,
    where `^` (multiline) was tried at every byte, twice the time over the model files; the rest
    is looked ahead, so that a match does not take the newline the next line starts with."""
    return [m.decode() for m in _CONSTANT_ASSIGNMENT.findall(b"\n" + data)]


def runner_constant_known(name: str, app: App) -> bool:
    """Can `rails runner` find the constant a whenever `runner` string starts with? The
    project's classes, Ruby's constants, and the frameworks' and locked gems' namespaces."""
    top = name.removeprefix("::").split("::", 1)[0]
    return top in RUBY_CONSTANTS or project_constant(name, app) or external_constant(name, app)


def project_constant(name: str, app: App) -> bool:
    """Does the project define the constant: a class or module of the index, one defined under
    `config/`, or a constant assigned in `app/`, `lib/` or `config/` (`OldJob = NewJob`)?"""
    name = name.removeprefix("::")
    known = _constants_outside_index(app)
    return name in app.classes or name in known or name.rsplit("::", 1)[-1] in known


def _constants_outside_index(app: App) -> frozenset[str]:
    """Classes and modules defined by the Ruby files under `config/`, and the names of the
    constants assigned in them and in the indexed files (the last part of a nested name)."""
    def build(a: App) -> frozenset[str]:
        names: set[str] = set()
        config = a.root / "config" if a.root else None
        paths = sorted(config.rglob("*.rb")) if config and config.is_dir() else []
        for source in [s for s in (a.source(p) for p in paths) if s is not None]:
            names.update(d.name for d in extract_definitions(source))
            names.update(_constants_assigned(source.data))
        for source in a.model_files:
            names.update(_constants_assigned(source.data))
        return frozenset(names)
    return app.fact("constants_outside_index", build)


def defines_jobs(app: App) -> bool:
    """Does the class index hold any job? Without one, "not defined" cannot be judged."""
    return app.fact(
        "defines_jobs", lambda a: any(a.jobs.kind(n) is not None for n in a.classes.names())
    )


def _project_namespaces(app: App) -> frozenset[str]:
    return app.fact(
        "project_namespaces", lambda a: frozenset(n.split("::", 1)[0] for n in a.classes.definitions)
    )


def scheduled_classes(app: App) -> dict[str, list[ScheduleEntry]]:
    """Class name as written → the entries that run it."""
    table: dict[str, list[ScheduleEntry]] = {}
    for entry in schedules(app):
        if entry.class_name is not None:
            table.setdefault(entry.class_name.text.removeprefix("::"), []).append(entry)
    return table



def scheduled_jobs(app: App) -> frozenset[str]:
    """Project classes that a schedule runs: named by `class:`, or by a `command:` or whenever
    `runner` that starts with `Foo.` (resolved from the top level)."""
    return app.fact("scheduled_jobs", _build_scheduled_jobs)


def _build_scheduled_jobs(app: App) -> frozenset[str]:
    names = set(scheduled_classes(app))
    for entry in schedules(app):
        if entry.command is not None:
            match = _RUNNER_CLASS.match(entry.command.text)
            if match:
                names.add(match.group(1))
    return frozenset(app.classes.resolve(n) for n in names)


def through_active_job(entry: ScheduleEntry, app: App) -> bool:
    """sidekiq-cron and sidekiq-scheduler enqueue an ActiveJob class through ActiveJob (its
    queue then takes the ActiveJob prefix); a native Sidekiq class goes to Sidekiq as named."""
    if entry.active_job:
        return True
    name = entry.class_name.text.removeprefix("::") if entry.class_name else None
    return name is not None and app.jobs.kind(name) is JobKind.ACTIVE_JOB
