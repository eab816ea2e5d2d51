"""Queue facts: which queues the configured workers process, the static queue names the
code uses (`queue_as`, `sidekiq_options queue:`, `self.queue_name =`, `set(queue:)`,
`deliver_later(queue:)`, `deliver_later_queue_name =`), and the queues used without being
named: the mail queue of a `deliver_later` (`mailers` before `load_defaults 6.1`, the ActiveJob
default queue from it) and `solid_queue_recurring` for a recurring `command:`.

Worker queue lists come from `config/sidekiq.yml` (`:queues:` and per-environment sections,
Sidekiq 7 capsules, plus `-q` flags in Procfiles), `config/queue.yml` / `config/solid_queue.yml`
(`workers: - queues:`, `*` and `prefix*`), and GoodJob's `config.good_job.queues` (default `*`).
A list that depends on ERB or on Ruby evaluated at boot is unknown, and unknown means silent.
"""

from __future__ import annotations

import fnmatch
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from .. import ruby
from ..files import walk_files
from ..patterns import lazy_pattern
from ..ruby import Node
from ..source import SourceFile
from . import mailers, schedules, yaml_config
from .app import PLAIN_FACTS, App
from .config import active_lines
from .jobs import ENQUEUE_METHODS, JobKind
from .named_calls import calls_named

SIDEKIQ_FILES = ("config/sidekiq.yml",)
SOLID_QUEUE_FILES = ("config/queue.yml", "config/solid_queue.yml")
RUBY_CONFIG_DIRS = ("config/environments", "config/initializers")
DEFAULT_QUEUE = "default"
MAILERS_QUEUE = "mailers"  # ActionMailer's `deliver_later_queue_name` before `load_defaults 6.1`
RECURRING_COMMAND_QUEUE = "solid_queue_recurring"  # `queue_as` of SolidQueue::RecurringJob

_PREFIX = lazy_pattern(r"^[^\S\n]*(?:config|Rails\.application\.config)\.active_job\.queue_name_prefix\s*=\s*(.+?)\s*$", re.MULTILINE)
_DELIMITER = lazy_pattern(r"^[^\S\n]*(?:config|Rails\.application\.config)\.active_job\.queue_name_delimiter\s*=\s*(.+?)\s*$", re.MULTILINE)
_MAILER_QUEUE = lazy_pattern(r"^[^\S\n]*(?:config|Rails\.application\.config|ActionMailer::Base)\.(?:action_mailer\.)?deliver_later_queue_name\s*=\s*(.+?)\s*$", re.MULTILINE)
_MAILER_JOB = lazy_pattern(r"^[^\S\n]*(?:config|Rails\.application\.config|ActionMailer::Base)\.(?:action_mailer\.)?delivery_job\s*=", re.MULTILINE)
_DEFAULT_QUEUE_NAME = lazy_pattern(r"^[^\S\n]*(?:config|Rails\.application\.config|ActiveJob::Base)\.(?:active_job\.)?default_queue_name\s*=\s*(.+?)\s*$", re.MULTILINE)
_RECURRING_JOB_CLASS = lazy_pattern(r"\bRecurringTask\.default_job_class\s*=")
_GOOD_JOB_QUEUES = lazy_pattern(r"^[^\S\n]*(?:config|Rails\.application\.config)\.good_job\.queues\s*=\s*(.+?)\s*$", re.MULTILINE)
_GOOD_JOB_HASH_QUEUES = lazy_pattern(r"^[^\S\n]*(?:config|Rails\.application\.config)\.good_job\s*=\s*\{", re.MULTILINE)
_LITERAL = lazy_pattern(r"""^(?:"([^"#\\]*)"|'([^'\\]*)'|:(\w+))(?:\.freeze)?$""")
_PROCFILE_QUEUE = lazy_pattern(r"(?:^|\s)(?:-q|--queue)[\s=]+([\w.:\-]+)")


@dataclass(frozen=True)
class WorkerQueues:
    """The queues one backend's workers process, read from one configuration."""

    backend: str  # sidekiq | solid_queue | good_job
    path: str  # where the list was read ("" for a default)
    patterns: frozenset[str]  # names, `*`, `prefix*`
    excluded: frozenset[str] = frozenset()  # GoodJob `-name`: every queue except these

    def processes(self, name: str) -> bool:
        if self.excluded:
            return name not in self.excluded
        return any(p == "*" or p == name or (p.endswith("*") and fnmatch.fnmatchcase(name, p))
                   for p in self.patterns)

    def describe(self) -> str:
        shown = ", ".join(sorted(self.patterns)) if not self.excluded else (
            "all but " + ", ".join(sorted(self.excluded)))
        return f"{self.path or self.backend}: {shown}"


@dataclass(frozen=True)
class QueueConfig:
    """Queue facts of the app. `None` for a worker list means unknown or absent."""

    sidekiq: WorkerQueues | None
    solid_queue: WorkerQueues | None
    good_job: WorkerQueues | None
    adapter: str | None
    prefix: str | None  # queue_name_prefix; "" when unset
    prefix_known: bool
    delimiter: str
    # app-wide `deliver_later_queue_name`: None when unset, "" when set to nil
    mailer_queue_name: str | None = None
    mailer_queue_known: bool = True
    custom_delivery_job: bool = False  # `config.action_mailer.delivery_job =`: its own queue
    default_queue: str | None = DEFAULT_QUEUE  # `config.active_job.default_queue_name`; None: computed
    recurring_job_known: bool = True  # no custom `SolidQueue::RecurringTask.default_job_class`
    delayed_job: WorkerQueues | None = None  # from the visible worker command lines
    resque: WorkerQueues | None = None

    def implicit_mail_queue(self, defaults: tuple[int, ...] | None) -> str | None:
        """The queue a `deliver_later` uses when nothing names one, from the framework
        defaults version (`()`: no `load_defaults`): `mailers` before 6.1, the ActiveJob
        default queue from 6.1 or when `deliver_later_queue_name` is nil. None when it cannot
        be known, and when a queue is named app-wide (that name is checked where it is written)."""
        if not self.mailer_queue_known or self.custom_delivery_job or self.mailer_queue_name:
            return None
        if self.mailer_queue_name == "":
            return self.default_queue
        if defaults is None:
            return None
        return self.default_queue if defaults >= (6, 1) else MAILERS_QUEUE

    def for_active_job(self) -> WorkerQueues | None:
        """The worker list that runs ActiveJob jobs: the adapter's, or the only one there is."""
        lists = {"sidekiq": self.sidekiq, "solid_queue": self.solid_queue, "good_job": self.good_job}
        if self.adapter in ("delayed_job", "resque"):
            return self.delayed_job if self.adapter == "delayed_job" else self.resque
        if self.adapter in lists:
            return lists[self.adapter]
        if self.adapter is None:
            present = [w for w in lists.values() if w is not None]
            return present[0] if len(present) == 1 else None
        return None

    def active_job_name(self, name: str) -> list[str]:
        """The real queue name a `queue_as` name has in production: with the
        `queue_name_prefix` production sets (application.rb, an initializer or production.rb)."""
        if not self.prefix:
            return [name]
        return [f"{self.prefix}{self.delimiter}{name}"]

    def processed_natively(self, name: str, backend: str) -> tuple[bool | None, WorkerQueues | None]:
        """Is a native Delayed Job or Resque job's queue processed (no ActiveJob prefix)? None
        when it cannot be known."""
        workers = self.delayed_job if backend == "delayed_job" else self.resque
        return (None if workers is None else workers.processes(name)), workers

    def processed(self, name: str, native_sidekiq: bool) -> tuple[bool | None, WorkerQueues | None]:
        """Is the queue processed? None when it cannot be known."""
        workers = self.sidekiq if native_sidekiq else self.for_active_job()
        if workers is None or (not native_sidekiq and not self.prefix_known):
            return None, workers
        names = [name] if native_sidekiq else self.active_job_name(name)
        return any(workers.processes(n) for n in names), workers


def queue_config(app: App) -> QueueConfig:
    """The app's queue facts, read once per run (kept by the cache between runs)."""
    return app.fact("queue_config", _build)


PLAIN_FACTS["queue_config"] = (queue_config, (QueueConfig, WorkerQueues))


def _build(app: App) -> QueueConfig:
    ruby_configs = _ruby_config_texts(app)
    # the prefix production runs with: development/test/staging files do not set it there
    production_configs = _ruby_config_texts(app, production_only=True)
    prefix, prefix_known = _setting(_PREFIX, production_configs, "")
    delimiter, delimiter_known = _setting(_DELIMITER, production_configs, "_")
    mailer_queue, mailer_queue_known = _setting(_MAILER_QUEUE, ruby_configs, None)
    default_queue, _ = _setting(_DEFAULT_QUEUE_NAME, ruby_configs, DEFAULT_QUEUE)
    return QueueConfig(
        sidekiq=_sidekiq_queues(app),
        solid_queue=_solid_queue_queues(app),
        good_job=_good_job_queues(app, ruby_configs),
        adapter=app.backend.adapter,
        prefix=prefix,
        prefix_known=prefix_known and delimiter_known,
        delimiter=delimiter or "_",
        mailer_queue_name=mailer_queue,
        mailer_queue_known=mailer_queue_known,
        custom_delivery_job=any(_MAILER_JOB.search(t) for t in ruby_configs),
        default_queue=default_queue or None,
        recurring_job_known=not any(_RECURRING_JOB_CLASS.search(t) for t in ruby_configs),
        delayed_job=_launched_workers(app, "delayed_job", ruby_configs),
        resque=_launched_workers(app, "resque", ruby_configs),
    )


def _ruby_config_texts(app: App, production_only: bool = False) -> list[str]:
    """application.rb, the environment files and the initializers (with `production_only`,
    of the environment files only production.rb); read once per run (several facts ask)."""
    return app.fact(f"ruby_config_texts:{production_only}",
                    lambda app: _read_ruby_config_texts(app, production_only))


def _read_ruby_config_texts(app: App, production_only: bool) -> list[str]:
    texts = [app.text("config/application.rb")]
    if app.root is not None:
        for directory in RUBY_CONFIG_DIRS:
            folder = app.root / directory
            if folder.is_dir():
                texts.extend(
                    app.text(f"{directory}/{p.name}")
                    for p in sorted(folder.glob("*.rb"))
                    if not production_only
                    or directory != "config/environments"
                    or p.name == "production.rb"
                )
    return [active_lines(t) for t in texts if t]


def _setting(pattern: re.Pattern[str], texts: list[str], default: str | None) -> tuple[str | None, bool]:
    """A string setting: (value, known); `nil` reads as "". Several different or dynamic
    values are unknown."""
    values = {m.group(1) for t in texts for m in pattern.finditer(t)}
    if not values:
        return default, True
    literals = {"" if v.split(" #")[0].strip() == "nil" else _literal(v) for v in values}
    if None in literals or len(literals) > 1:
        return None, False
    return literals.pop(), True


def _literal(expression: str) -> str | None:
    match = _LITERAL.match(expression.split(" #")[0].strip())
    if match is None:
        return None
    return next(g for g in match.groups() if g is not None)


# -- Sidekiq ---------------------------------------------------------------------------------


def _sidekiq_queues(app: App) -> WorkerQueues | None:
    extra = _launched_queues(app)
    if extra is None:
        return None  # a queue list from the environment: unknown
    for relpath in SIDEKIQ_FILES:
        document = yaml_config.app_document(app, relpath)
        if document is None:
            continue
        if isinstance(document, yaml_config.YamlError) or not isinstance(document, dict):
            return None
        names: set[str] = set()
        found = False
        for section in sidekiq_sections(document):
            queues = yaml_config.get(section, ":queues", "queues")
            if queues is None:
                continue
            found = True
            listed = _sidekiq_list(queues)
            if listed is None:
                return None
            names |= listed
        if not found and not extra:
            names = {DEFAULT_QUEUE}  # no list anywhere: Sidekiq processes `default` only
        return WorkerQueues("sidekiq", relpath, frozenset(names | extra))
    return None


def sidekiq_sections(document: yaml_config.YValue) -> Iterator[dict]:  # type: ignore[type-arg]
    for section in yaml_config.sections(document):
        yield section
        capsules = yaml_config.get(section, ":capsules", "capsules")
        if isinstance(capsules, dict):
            yield from (c for c in capsules.values() if isinstance(c, dict))


def _sidekiq_list(queues: yaml_config.YValue) -> set[str] | None:
    items = [queues] if isinstance(queues, str) else queues
    if not isinstance(items, list):
        return None
    names = set()
    for item in items:
        name = item[0] if isinstance(item, list) and item else item
        if not isinstance(name, str) or yaml_config.ERB in name:
            return None
        names.add(name.split(",")[0].strip().lstrip(":"))  # `- :default` is the default queue
    return names


LAUNCH_GLOBS = ("Procfile*", "bin/*", "Dockerfile*", "docker-compose*.yml", "docker-compose*.yaml")
_RUBY_QUEUES = lazy_pattern(r"^[^\S\n]*(?:\w+\.queues|\w+\[:queues\])\s*=\s*(.+)$", re.MULTILINE)
_WORD_LIST = lazy_pattern(r"^%[wi][\[(]([^\])]*)[\])]")
_STRING_LIST = lazy_pattern(r"^\[([^\]]*)\]")


def _launched_queues(app: App) -> set[str] | None:
    """Queues named where Sidekiq is started or configured in Ruby: `-q name` in Procfiles,
    `bin/*`, Dockerfiles and docker-compose files, and `queues =` in initializers (Sidekiq 7
    capsules: `config.capsule("x") { |c| c.queues = %w[a b] }`). None when a list comes from
    the environment (`-q $QUEUE`, `ENV.fetch(…)`): then the set is unknown."""
    if app.root is None:
        return set()
    names: set[str] = set()
    for pattern in LAUNCH_GLOBS:
        for path in sorted(app.root.glob(pattern)):
            if not path.is_file():
                continue
            text = app.text(path.relative_to(app.root).as_posix()) or ""
            for line in text.splitlines():
                if "sidekiq" not in line:
                    continue
                if re.search(r"(?:^|\s)(?:-q|--queue)[\s=]+[\"']?\$", line):
                    return None
                names.update(q.split(",")[0] for q in _PROCFILE_QUEUE.findall(line))
    for text in _ruby_config_texts(app):
        if "sidekiq" not in text.lower():
            continue
        for value in _RUBY_QUEUES.findall(text):
            listed = _ruby_list(value.strip())
            if listed is None:
                return None
            names |= listed
    return names


def _ruby_list(value: str) -> set[str] | None:
    """`%w[a b]`, `["a", "b"]` or `"a"` → names; None for anything computed."""
    if "ENV" in value:
        return None
    match = _WORD_LIST.match(value)
    if match:
        return set(match.group(1).split())
    match = _STRING_LIST.match(value)
    items = match.group(1).split(",") if match else [value]
    names = set()
    for item in items:
        literal = _literal(item.strip())
        if literal is None:
            return None
        names.add(literal)
    return names


# -- Delayed Job and Resque -----------------------------------------------------------------
# Their workers take the queue list on the command line only: `QUEUES=a,b rake jobs:work`
# (`QUEUE=`, or as a rake argument), `bin/delayed_job --queues=a,b` / `--queue=a` /
# `--pool=a,b:2`, `QUEUE=a,b rake resque:work`. A Delayed Job worker without a list works every
# queue (and jobs without one); a Resque worker without one reads it from the environment.

_DJ_LAUNCH = lazy_pattern(r"\bjobs:work(?:off)?\b|(?:^|[\s/\"'])(?:bin|script)/delayed_job\b")
_RESQUE_LAUNCH = lazy_pattern(r"\bresque:work(?:ers)?\b")
_ENV_QUEUES = lazy_pattern(r"(?:^|[\s;&(\"'])QUEUES?=(\"[^\"]*\"|'[^']*'|[^\s;&|)]*)")
_DJ_QUEUE_FLAG = lazy_pattern(r"--queues?[=\s]+(\"[^\"]*\"|'[^']*'|[^\s;&|)]+)")
_DJ_POOL_FLAG = lazy_pattern(r"--pool[=\s]+(\"[^\"]*\"|'[^']*'|[^\s;&|)]+)")
# the queue list set in Ruby, where it wins over (or stands in for) the command line's
_RUBY_WORKER_QUEUES = {
    "delayed_job": lazy_pattern(r"Delayed::Worker\.queues\s*=|ENV\[[\"']QUEUES?[\"']\]\s*(?:\|\|)?=(?!=)"),
    "resque": lazy_pattern(r"ENV\[[\"']QUEUES?[\"']\]\s*(?:\|\|)?=(?!=)|Resque::Worker\.new"),
}
DEPLOY_FILES = ("config/deploy.rb", "config/deploy/*.rb")
_DEPLOY_MENTION = {"delayed_job": lazy_pattern(r"delayed_job"), "resque": lazy_pattern(r"resque")}
RESQUE_POOL_FILES = ("config/resque-pool.yml", "resque-pool.yml")
ALL = frozenset({"*"})


def _launched_workers(app: App, backend: str, ruby_configs: list[str]) -> WorkerQueues | None:
    """The queues the Delayed Job (or Resque) workers started in the app's Procfiles, `bin/`
    scripts, Dockerfiles and docker-compose files process (`*` for all); None when a list is
    unknown — from the environment, set in Ruby, in a Capistrano recipe — or no worker is seen."""
    if app.root is None or backend not in app.backend.gems and app.backend.adapter != backend:
        return None
    rake_texts = [app.text(p.relative_to(app.root).as_posix()) or ""
                  for p in sorted((app.root / "lib" / "tasks").glob("*.rake"))]
    if any(_RUBY_WORKER_QUEUES[backend].search(active_lines(t)) for t in ruby_configs + rake_texts):
        return None
    for pattern in DEPLOY_FILES:
        for path in sorted(app.root.glob(pattern)):
            text = active_lines(app.text(path.relative_to(app.root).as_posix()) or "")
            if _DEPLOY_MENTION[backend].search(text):
                return None  # a Capistrano recipe starts the real workers
    patterns: set[str] = set()
    paths: list[str] = []
    for path in (p for glob in LAUNCH_GLOBS for p in sorted(app.root.glob(glob))):
        if not path.is_file():
            continue
        relpath = path.relative_to(app.root).as_posix()
        if path.name.startswith("docker-compose"):
            found = _compose_launches(app, relpath, backend)
        else:
            text = app.text(relpath) or ""
            found = [_launch_queues(line, backend) for line in text.splitlines()
                     if not line.lstrip().startswith("#") and _launches(line, backend)]
        for queues in found:
            if queues is None:
                return None
            patterns |= queues
            paths.append(relpath)
    if backend == "resque":
        pool = _resque_pool(app)
        if pool is None:
            return None
        if pool:
            patterns |= pool
            paths.append("config/resque-pool.yml")
    if not paths:
        return None
    label = ", ".join(dict.fromkeys(paths))
    return WorkerQueues(backend, label, frozenset(ALL if "*" in patterns else patterns))


def _launches(line: str, backend: str) -> bool:
    return bool((_DJ_LAUNCH if backend == "delayed_job" else _RESQUE_LAUNCH).search(line))


def _launch_queues(line: str, backend: str, environment: str | None = None) -> frozenset[str] | None:
    """The queues one worker command processes: `*` for all, None when unknown."""
    lists = [m.group(1) for m in _ENV_QUEUES.finditer(line)]
    if backend == "delayed_job":
        lists += [m.group(1) for m in _DJ_QUEUE_FLAG.finditer(line)]
        pools = [m.group(1).strip("\"'").split(":")[0] for m in _DJ_POOL_FLAG.finditer(line)]
        if any(p in ("", "*") for p in pools):
            return ALL
        lists += pools
    if not lists and environment is not None:
        lists = [environment]
    if not lists:
        return ALL if backend == "delayed_job" else None  # Resque reads QUEUE from outside
    names: set[str] = set()
    for written in lists:
        value = written.strip("\"'")
        if "$" in value or "<%" in value:
            return None
        if not value:
            return ALL if backend == "delayed_job" else None
        names.update(n.strip() for n in value.split(",") if n.strip())
    return frozenset(ALL if "*" in names else names)


def _compose_launches(app: App, relpath: str, backend: str) -> list[frozenset[str] | None]:
    """Each docker-compose service that runs a worker: its command's list, else the `QUEUES`
    (or `QUEUE`) of its `environment`."""
    document = yaml_config.app_document(app, relpath)
    if not isinstance(document, dict):
        text = app.text(relpath) or ""
        return [None] if any(_launches(line, backend) for line in text.splitlines()) else []
    services = document.get("services")
    found: list[frozenset[str] | None] = []
    for service in (services.values() if isinstance(services, dict) else []):
        if not isinstance(service, dict):
            continue
        command = service.get("command")
        line = " ".join(str(c) for c in command) if isinstance(command, list) else str(command or "")
        if not _launches(line, backend):
            continue
        environment = _compose_environment(service.get("environment"))
        listed = None if environment is None else environment.get("QUEUES", environment.get("QUEUE"))
        if environment is None or (listed is None and service.get("env_file") and not _lists(line)):
            found.append(None)  # the list may come from an env file
        else:
            found.append(_launch_queues(line, backend, listed))
    return found


def _lists(line: str) -> bool:
    """Does the command itself name its queues?"""
    return any(p.search(line) for p in (_ENV_QUEUES, _DJ_QUEUE_FLAG, _DJ_POOL_FLAG))


def _compose_environment(value: yaml_config.YValue) -> dict[str, str] | None:
    """A service's `environment:` (a list of `KEY=value` or a mapping); None when unreadable."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    if isinstance(value, list):
        pairs = [str(item).split("=", 1) for item in value]
        return {pair[0]: pair[1] if len(pair) > 1 else "$" for pair in pairs}
    return None


def _resque_pool(app: App) -> frozenset[str] | None:
    """The queues resque-pool's config runs (its keys are queue lists); empty without one."""
    names: set[str] = set()
    for relpath in RESQUE_POOL_FILES:
        document = yaml_config.app_document(app, relpath)
        if document is None:
            continue
        if not isinstance(document, dict):
            return None
        for section in yaml_config.sections(document):
            for key, count in section.items():
                if not isinstance(key, str) or yaml_config.ERB in key:
                    return None
                if isinstance(count, dict):  # an environment not named as Rails names them
                    return None
                names.update(n.strip() for n in key.split(",") if n.strip())
    return frozenset(ALL if "*" in names else names)


# -- Solid Queue -----------------------------------------------------------------------------


def _solid_queue_queues(app: App) -> WorkerQueues | None:
    for relpath in SOLID_QUEUE_FILES:
        document = yaml_config.app_document(app, relpath)
        if document is None:
            continue
        if isinstance(document, yaml_config.YamlError):
            return None
        if not isinstance(document, dict):
            return None  # not a mapping: not a configuration Solid Queue can read either
        patterns: set[str] = set()
        for section in yaml_config.sections(document):
            workers = yaml_config.get(section, "workers")
            if workers is None:
                patterns.add("*")  # Solid Queue's default worker processes every queue
                continue
            if not isinstance(workers, list):
                return None
            for worker in workers:
                if not isinstance(worker, dict):
                    return None
                queues = yaml_config.get(worker, "queues")
                listed = ["*"] if queues is None else queues if isinstance(queues, list) else [queues]
                for name in listed:
                    if not isinstance(name, str) or yaml_config.ERB in name:
                        return None
                    if "," in name and not solid_queue_splits_commas(app):
                        return None  # one queue literally named `a,b` (solid_queue#67): JL608's
                    patterns.update(n.strip() for n in name.split(",") if n.strip())
        return WorkerQueues("solid_queue", relpath, frozenset(patterns or {"*"}))
    return None


SOLID_QUEUE_SPLITS_COMMAS_BEFORE = (0, 2, 1)  # later versions take `"a,b"` as one queue name


def solid_queue_splits_commas(app: App) -> bool:
    version = app.gems.get("solid_queue")
    return version is not None and version.parts < SOLID_QUEUE_SPLITS_COMMAS_BEFORE


# -- GoodJob ---------------------------------------------------------------------------------


def _good_job_queues(app: App, ruby_configs: list[str]) -> WorkerQueues | None:
    if "good_job" not in app.backend.gems and app.backend.adapter != "good_job":
        return None
    if any(_GOOD_JOB_HASH_QUEUES.search(t) for t in ruby_configs):
        return None  # `config.good_job = { queues: … }`: read as unknown
    values = [m.group(1) for t in ruby_configs for m in _GOOD_JOB_QUEUES.finditer(t)]
    if not values:
        return WorkerQueues("good_job", "", frozenset({"*"}))  # GOOD_JOB_QUEUES defaults to *
    literals = {_literal(v) for v in values}
    if None in literals or len(literals) != 1:
        return None
    return parse_good_job_queues(literals.pop() or "*")


def parse_good_job_queues(text: str) -> WorkerQueues:
    """`"queue1,queue2;queue3:5;-queue4"` → the processed names (or the excluded ones)."""
    names: set[str] = set()
    excluded: set[str] = set()
    for pool in text.split(";"):
        spec = pool.rsplit(":", 1)[0] if re.search(r":\d+$", pool) else pool
        spec = spec.strip().lstrip("+")
        if spec.startswith("-"):
            excluded.update(n.strip() for n in spec[1:].split(",") if n.strip())
            continue
        names.update(n.strip() for n in spec.split(",") if n.strip())
    if "*" in names:
        excluded = set()
    return WorkerQueues("good_job", "config.good_job.queues", frozenset(names or {"*"}),
                        frozenset(excluded) if not names else frozenset())


# -- static queue names in code --------------------------------------------------------------


@dataclass(frozen=True)
class QueueName:
    """A static queue name written in code, and whether native Sidekiq or ActiveJob reads it."""

    name: str
    start_byte: int
    end_byte: int
    native_sidekiq: bool
    via: str  # queue_as | sidekiq_options | queue_name= | set | deliver_later | deliver_later_queue_name=
    owner: str | None  # the enclosing class
    class_level: bool = field(default=False)  # declares the class's own queue
    implicit: str = ""  # why a queue nobody wrote is used here ("" for a written name)


_QUEUE_METHODS = ("queue_as", "sidekiq_options", "set", "deliver_later")
_QUEUE_ATTRIBUTES = ("queue_name", "deliver_later_queue_name")


def _queue_statements(source: SourceFile) -> list[tuple[str, Node, Node]]:
    """What `ruby.matches` finds (in its order) with the patterns
    `(call method: (identifier) @method (#any-of? @method …_QUEUE_METHODS)
      arguments: (argument_list) @args) @call`,
    `(assignment left: (call receiver: (self) method: (identifier) @attr (#eq? @attr "queue_name"))
      right: (_) @value) @assign` and the same with `deliver_later_queue_name` and any receiver,
    as (method or attribute, call or assignment, arguments or value): found from where the names
    are written, which costs less than compiling that query (see node_search)."""
    root, found = source.root, []
    for name, path in ruby.identifiers_named(root, source.data, _QUEUE_METHODS + _QUEUE_ATTRIBUTES):
        depth = len(path) - 1  # of the call
        call = path[-1]
        if call.type != "call" or not ruby.is_child(call, "method", name):
            continue
        method = ruby.text(name)
        if method in _QUEUE_METHODS:
            args = call.child_by_field_name("arguments")
            if args is not None and args.type == "argument_list" and depth <= ruby.MAX_ASCENT:
                found.append((ruby.document_order(args, depth + 1), (method, call, args)))
            continue
        if depth < 1 or depth - 1 > ruby.MAX_ASCENT or path[-2].type != "assignment":
            continue
        assign = path[-2]
        value = assign.child_by_field_name("right")
        if value is None or not value.is_named or not ruby.is_child(assign, "left", call):
            continue
        if method == "queue_name":
            receiver = call.child_by_field_name("receiver")
            if receiver is None or receiver.type != "self":
                continue
        found.append((ruby.document_order(value, depth), (method, assign, value)))
    return [statement for _, statement in sorted(found, key=lambda item: item[0])]


def queue_names(source: SourceFile, app: App) -> list[QueueName]:
    """Every static queue name of one Ruby file (memoised on the file)."""
    if "queue_names" not in source.derived:
        source.derived["queue_names"] = list(_queue_names(source, app)) if b"queue" in source.data else []
    return source.derived["queue_names"]  # type: ignore[return-value]


def _queue_names(source: SourceFile, app: App) -> Iterator[QueueName]:
    for method, call, operand in _queue_statements(source):
        if method == "deliver_later_queue_name":  # the mail delivery job's queue (app-wide or per mailer)
            name = ruby.string_value(operand)
            if name:  # `call` is the assignment
                yield QueueName(name, operand.start_byte, operand.end_byte, False,
                                "deliver_later_queue_name=", _class_owner(call, app))
            continue
        if method == "queue_name":
            name = ruby.string_value(operand)
            if name:
                owner = _class_owner(call, app)
                yield QueueName(name, operand.start_byte, operand.end_byte, False, "queue_name=",
                                owner, class_level=owner is not None)
            continue
        if method == "queue_as":
            args = ruby.call_arguments(call)
            name = ruby.string_value(args[0]) if args else None
            owner = _class_owner(call, app)
            if name and ruby.call_receiver(call) is None:
                yield QueueName(name, args[0].start_byte, args[0].end_byte, False, method, owner,
                                class_level=owner is not None)
            continue
        queue = ruby.keyword_arguments(call).get("queue")
        name = ruby.string_value(queue) if queue is not None else None
        if not name or queue is None:
            continue
        value = queue
        if method == "sidekiq_options":
            owner = _class_owner(call, app)
            kind = app.jobs.kind(owner) if owner else None
            if ruby.call_receiver(call) is not None or kind is JobKind.ACTIVE_JOB:
                continue  # ActiveJob ignores `sidekiq_options queue:`: `queue_as` decides
            yield QueueName(name, value.start_byte, value.end_byte, True, method, owner,
                            class_level=owner is not None)
        elif method == "set":
            native = _set_family(call)
            if native is not None and ruby.constant_path(ruby.call_receiver(call) or call) is not None:
                yield QueueName(name, value.start_byte, value.end_byte, native, method, None)
        else:  # deliver_later(queue:) enqueues ActionMailer's delivery job
            yield QueueName(name, value.start_byte, value.end_byte, False, method, None)


# -- queues used without being named ---------------------------------------------------------

MAIL_QUEUE_OVERRIDE = lazy_pattern(rb"\b(?:deliver_later_queue_name|delivery_job)\b")
_DELIVER_LATER = ruby.compile_query(
    """
    (call receiver: (call) @message method: (identifier) @method
      (#any-of? @method "deliver_later" "deliver_later!")) @call
    """
)


def framework_defaults(app: App) -> tuple[int, ...] | None:
    """The framework defaults the app runs with: its `load_defaults` version, `()` when
    `config/application.rb` calls none (Rails' own defaults), None when unknown. An app on
    Rails < 6.1 cannot load 6.1 defaults, so its Rails version stands in."""
    if app.load_defaults is not None:
        return app.load_defaults.parts
    if app.rails_version is not None and app.rails_version < (6, 1):
        return app.rails_version.parts
    text = app.text("config/application.rb")
    if text is not None and app.rails_version is not None and "load_defaults" not in active_lines(text):
        return ()
    return None


def mail_delivery_queues(source: SourceFile, app: App) -> list[QueueName]:
    """The implicit queue of each `deliver_later` on a project mailer's message that names no
    `queue:`, when the mailer and its ancestors leave the queue and delivery job alone."""
    if b"deliver_later" not in source.data:
        return []
    config = queue_config(app)
    defaults = framework_defaults(app)
    queue = config.implicit_mail_queue(defaults)
    if queue is None:
        return []
    if config.mailer_queue_name == "":
        why = "where `deliver_later` enqueues mail: `deliver_later_queue_name` is nil"
    elif defaults is not None and defaults >= (6, 1):
        why = "where `deliver_later` enqueues mail from `load_defaults 6.1`"
    else:
        why = "where `deliver_later` enqueues mail without `load_defaults 6.1`"
    found = []
    for _, caps in ruby.matches(_DELIVER_LATER, source.root):
        call = caps["call"][0]
        if "queue" in ruby.keyword_arguments(call):
            continue  # a written queue: `queue_names` reads it
        written = ruby.constant_path(ruby.chain_root(caps["message"][0]))
        if written is None:
            continue
        mailer = app.classes.resolve(written, app.lexical_scope(call))
        if not mailers.is_project_mailer(app.classes, mailer, strict=False) or any(
            schedules.source_matches(app, owner, MAIL_QUEUE_OVERRIDE) for owner in app.classes.lineage(mailer)
        ):
            continue
        found.append(QueueName(queue, call.start_byte, call.end_byte, False, "deliver_later",
                               app.enclosing_class(call), implicit=why))
    return found


def recurring_command_queue(entry: schedules.ScheduleEntry, app: App) -> str | None:
    """The queue of a Solid Queue recurring `command:` without `queue:`: Solid Queue runs the
    command as `SolidQueue::RecurringJob`, which is queued as `solid_queue_recurring`."""
    if (entry.backend != "solid_queue" or entry.queue is not None or entry.command is None
            or entry.class_name is not None or not queue_config(app).recurring_job_known):
        return None
    return RECURRING_COMMAND_QUEUE


def _class_owner(node: Node, app: App) -> str | None:
    """The class a class-level declaration belongs to (None inside a method)."""
    if ruby.enclosing(node, ruby.METHOD_TYPES) is not None:
        return None
    return app.enclosing_class(node)


SKIPPED_TOP_DIRS = ("spec/", "test/", "features/", "db/", "vendor/", "node_modules/", "tmp/")


def enqueue_calls(app: App) -> dict[str, list[Node]]:
    """Every call that enqueues each project class, over the app's Ruby and rake files (tests,
    migrations and vendored code excluded): class name → the enqueue calls."""
    return app.fact("enqueue_calls", _build_enqueue_calls)


def _build_enqueue_calls(app: App) -> dict[str, list[Node]]:
    table: dict[str, list[Node]] = {}
    for name, call in _each_enqueue_call(app):
        table.setdefault(name, []).append(call)
    return table


def enqueue_counts(app: App) -> Counter[str]:
    """How many calls enqueue each project class: `enqueue_calls` without keeping the nodes,
    which would keep every file's tree alive (the job inventory needs only the counts)."""
    return app.fact("enqueue_counts", lambda a: Counter(name for name, _ in _each_enqueue_call(a)))


def _each_enqueue_call(app: App) -> Iterator[tuple[str, Node]]:
    if app.root is None:
        return
    accept = lambda p: p.endswith((".rb", ".rake")) and not p.startswith(SKIPPED_TOP_DIRS)
    words = tuple(m.encode() for m in ENQUEUE_METHODS)
    for path in walk_files(app.root, app.root, accept, skip=SKIPPED_TOP_DIRS):
        source = app.source(path)
        if source is None or not app.mentions(source, words):
            continue
        for receiver, written in enqueued_constants(source):
            call = receiver.parent
            while call is not None and not (call.type == "call" and ruby.call_method(call) in ENQUEUE_METHODS):
                call = call.parent
            if call is not None:
                yield app.classes.resolve(written, app.lexical_scope(receiver)), call


def enqueued_constants(source: SourceFile) -> Iterator[tuple[Node, str]]:
    """The class constant of every enqueue call (`Foo.perform_later`, `Foo.set(…).perform_async`),
    as its node and as written."""
    # the calls `(call receiver: (_) method: (identifier) @m (#any-of? @m ENQUEUE_METHODS))`
    # matches, in its order, without compiling it
    for call in calls_named(source, ENQUEUE_METHODS, receiver=True):
        receiver = call.child_by_field_name("receiver")
        if receiver.type == "call" and ruby.call_method(receiver) == "set":
            receiver = ruby.call_receiver(receiver) or receiver
        written = ruby.constant_path(receiver)
        if written is not None:
            yield receiver, written


def _set_family(call: Node) -> bool | None:
    """`Job.set(queue:).perform_later` → False (ActiveJob), `.perform_async` → True (Sidekiq)."""
    parent = call.parent
    if parent is None or parent.type != "call" or parent.child_by_field_name("receiver") != call:
        return None
    method = ruby.call_method(parent)
    if method in ("perform_later", "perform_now"):
        return False
    if method in ("perform_async", "perform_in", "perform_at", "perform_bulk"):
        return True
    return None


def class_queues(app: App) -> dict[str, QueueName]:
    """Each class's own static queue declaration (the last one in its files)."""
    return app.fact("class_queues", _build_class_queues)


def _build_class_queues(app: App) -> dict[str, QueueName]:
    table: dict[str, QueueName] = {}
    for source in app.model_files:
        for name in queue_names(source, app):
            if name.class_level and name.owner:
                table[name.owner] = name
    return table


def job_queue(app: App, job: str) -> tuple[str | None, QueueName | None]:
    """The static queue a job runs on (own or inherited declaration, else `default`), and the
    declaration; (None, None) when a declaration exists but is dynamic."""
    declared = class_queues(app)
    for owner in app.classes.lineage(job):
        if owner in declared:
            return declared[owner].name, declared[owner]
        if _declares_dynamic_queue(app, owner):
            return None, None
    return DEFAULT_QUEUE, None


_QUEUE_DECLARATION = lazy_pattern(rb"^[^\S\n]*(queue_as|self\.queue_name\s*=|sidekiq_options\b.*queue:)", re.MULTILINE)


def _declares_dynamic_queue(app: App, name: str) -> bool:
    return schedules.source_matches(app, name, _QUEUE_DECLARATION)
