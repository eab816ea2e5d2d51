"""`joblint mcp`: a Model Context Protocol server (stdio) for coding agents, on the official `mcp`
SDK (2.x, `MCPServer`). Four read-only tools over the same engine and project model as the
command line: `lint`, `explain_rule`, `job_inventory` and `queues`.

Read-only: no tool writes a file or runs app code (the app is parsed, never loaded). Paths are
resolved against the server's working directory — the workspace — and a path outside it is
refused. Every user error (a missing or outside path, an unknown rule, a broken configuration,
nothing that could be read) is a tool error result (`isError: true`), never an exit. Nothing
here prints: stdout carries only the protocol (the SDK also points file descriptor 1 at stderr
while it serves, so a stray print cannot corrupt the stream).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field
from typing_extensions import TypedDict

from . import __version__, catalogue, config, ruby, rules
from .engine import Options, Report
from .engine import lint as run_lint
from .files import walk_files
from .findings import Finding
from .inventory import NATIVE_JOB_BACKENDS, JobRow, inventory, inventory_app
from .rails import queues as queue_facts
from .rails import schedules
from .rails.app import App, find_root
from .reporters import ReportContext
from .reporters import json as json_reporter
from .ruby import Node
from .source import SourceFile

PARSE_PROBLEM = "JL001"  # its findings say where a file could not be parsed

# -- result shapes (they become the tools' output schemas) ----------------------------------


class FindingResult(TypedDict):
    """One finding, with the keys of `joblint --format json`."""

    code: str
    name: str
    severity: Literal["error", "warning", "info"]
    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    message: str
    fingerprint: str
    fix: bool
    help: str
    url: str | None


class Summary(TypedDict):
    files: int
    findings: int
    by_severity: dict[str, int]


class Problem(TypedDict):
    """A file joblint could not analyse (completely), or a rule that crashed on a file."""

    path: str
    line: int | None
    message: str


class LintResult(TypedDict):
    version: str
    findings: list[FindingResult]
    summary: Summary
    problems: list[Problem]


class RulePage(TypedDict):
    code: str
    name: str
    severity: Literal["error", "warning", "info"]
    default: bool
    fixable: bool
    summary: str
    url: str
    page: str


class InventoryResult(TypedDict):
    root: str
    jobs: list[JobRow]


class Site(TypedDict):
    """A place that puts work on a queue."""

    job: str | None  # the class enqueued, when known
    path: str  # relative to the Rails root
    line: int
    via: str  # perform_later, perform_async…, set, deliver_later, schedule, …


class WorkerRef(TypedDict):
    backend: str
    config: str


class Worker(WorkerRef):
    queues: list[str]  # names, `*`, `prefix*`
    excluded: list[str]  # GoodJob `-name`: every queue but these
    runs_active_job: bool  # the adapter's list: ActiveJob names are checked against it


class QueueEntry(TypedDict):
    name: str  # as written in the code (or the implicit default)
    kind: Literal["activejob", "sidekiq"]  # ActiveJob name (prefixed) or native Sidekiq name
    runs_as: list[str]  # the name(s) the workers must list, with the queue_name_prefix
    jobs: list[str]  # job classes whose queue it is
    enqueued_by: list[Site]
    processed: bool | None  # None: cannot be known statically
    processed_by: WorkerRef | None


class WorkerOnlyQueue(TypedDict):
    name: str
    backend: str
    config: str


class QueuesResult(TypedDict):
    root: str
    adapter: str | None
    workers: list[Worker]
    queues: list[QueueEntry]
    unprocessed: list[str]  # names of the queues with `processed: false`
    dynamic: list[str]  # job classes whose queue is computed at runtime
    worker_only: list[WorkerOnlyQueue]  # listed by a worker, used by no code joblint sees


# -- the workspace ---------------------------------------------------------------------------


def _resolve(path: str, workspace: Path) -> Path:
    """`path` (relative to the workspace, or absolute) as an existing path inside it."""
    candidate = Path(path).expanduser()
    absolute = candidate if candidate.is_absolute() else workspace / candidate
    real, root = os.path.realpath(absolute), os.path.realpath(workspace)
    if real != root and not real.startswith(os.path.join(root, "")):
        raise ToolError(f"{path}: outside the workspace {workspace} (the server's working directory)")
    if not os.path.lexists(absolute):
        raise ToolError(f"{path}: no such file or directory")
    return Path(os.path.abspath(absolute))


def _shown(path: Path | None, workspace: Path) -> str:
    if path is None:
        return "."
    return os.path.relpath(path, workspace).replace(os.sep, "/")


# -- lint ------------------------------------------------------------------------------------


def lint_paths(paths: list[str], select: list[str] | None, workspace: Path) -> LintResult:
    given = paths or ["."]
    targets = [_resolve(p, workspace) for p in given]
    try:
        settings = config.load(config.find_config(find_root(targets[0])))
        selectors = [part.strip() for item in select or () for part in item.split(",") if part.strip()]
        if selectors:
            settings = settings.with_overrides(select=tuple(selectors))
        enabled = settings.enabled_rules()
    except rules.UnknownSelector as error:
        raise ToolError(f"unknown rule, name or prefix: {error.args[0]!r}") from None
    except config.ConfigError as error:
        raise ToolError(f"configuration error: {error}") from None
    if not enabled:
        raise ToolError("no rule selected: the selection (select or the configuration) is empty")
    parse_rule = rules.lookup(PARSE_PROBLEM)
    wants_parse_findings = any(r.code == PARSE_PROBLEM for r in enabled)
    options = Options(
        rules=enabled if wants_parse_findings or parse_rule is None else [*enabled, parse_rule],
        excludes=settings.exclude,
        request_paths=settings.request_paths,
        rule_options=settings.rule_options,
        severity=settings.severity,
        per_file_ignores=settings.per_file_ignores,
        jobs=1,  # no forked workers from a threaded server; output is the same either way
    )
    relative = [Path(os.path.relpath(t, workspace)) for t in targets]
    report = run_lint(relative, options, cwd=workspace)

    unparsed = [f for f in report.findings if f.code == PARSE_PROBLEM]
    if not wants_parse_findings:
        report.findings = [f for f in report.findings if f.code != PARSE_PROBLEM]
    problems = _problems(report, unparsed)
    if report.files == 0 and problems:
        raise ToolError("nothing could be analysed: " + "; ".join(_problem_text(p) for p in problems))
    if report.files and len({f.path for f in unparsed}) == report.files:
        raise ToolError("the Ruby could not be parsed, so the analysis would be partial; fix the "
                        "syntax and lint again: " + "; ".join(_problem_text(p) for p in problems))
    document = json.loads(json_reporter.render(report, ReportContext(rules=enabled, cwd=workspace)))
    document["problems"] = problems
    return document  # type: ignore[no-any-return]


def _problems(report: Report, unparsed: list[Finding]) -> list[Problem]:
    problems: list[Problem] = [
        {"path": p.path, "line": None, "message": p.reason} for p in report.problems
    ]
    problems += [
        {"path": f.path, "line": f.line, "message": f"{f.message} (column {f.column})"}
        for f in unparsed
    ]
    problems += [{"path": c.split(":", 1)[0], "line": None, "message": f"internal error: {c}"}
                 for c in report.crashes]
    return sorted(problems, key=lambda p: (p["path"], p["line"] or 0))


def _problem_text(problem: Problem) -> str:
    where = f"{problem['path']}:{problem['line']}" if problem["line"] else problem["path"]
    return f"{where}: {problem['message']}"


# -- explain_rule ----------------------------------------------------------------------------


def explain(code_or_name: str) -> RulePage:
    rule = rules.lookup(code_or_name)
    if rule is None:
        raise ToolError(f"unknown rule {code_or_name!r}: give a code (JL101) or a name "
                        "(record-argument)")
    return {
        "code": rule.code,
        "name": rule.name,
        "severity": rule.severity.label,  # type: ignore[typeddict-item]
        "default": rule.default_enabled,
        "fixable": rule.fixable,
        "summary": rule.summary,
        "url": catalogue.help_uri(rule),
        "page": catalogue.page(rule),
    }


# -- job_inventory ---------------------------------------------------------------------------


def inventory_result(path: str | None, workspace: Path) -> InventoryResult:
    app = inventory_app(_resolve(path or ".", workspace))
    return {"root": _shown(app.root, workspace), "jobs": inventory(app)}


# -- queues ----------------------------------------------------------------------------------


@dataclass
class _Queue:
    name: str
    native: bool
    jobs: set[str] = field(default_factory=set)
    sites: list[Site] = field(default_factory=list)


class _QueueTable:
    """The queues found so far, by (name as written, native Sidekiq name)."""

    def __init__(self) -> None:
        self.queues: dict[tuple[str, bool], _Queue] = {}

    def get(self, name: str, native: bool) -> _Queue:
        return self.queues.setdefault((name, native), _Queue(name, native))

    def of_job(self, job: str) -> list[_Queue]:
        return [q for q in self.queues.values() if job in q.jobs]


@dataclass(frozen=True)
class _EnqueueSite:
    job: str
    path: str
    line: int
    method: str
    set_queue_byte: int | None  # `Job.set(queue: …)`: where the queue is written


def queue_table(path: str | None, workspace: Path) -> QueuesResult:
    app = inventory_app(_resolve(path or ".", workspace))
    config_ = queue_facts.queue_config(app)
    files = _code_files(app)
    sites = _enqueue_sites(app, files)
    table = _QueueTable()
    dynamic = []
    set_jobs = {(s.path, s.set_queue_byte): s.job for ss in sites.values() for s in ss}
    for row in inventory(app):
        if row.abstract or row.backend in NATIVE_JOB_BACKENDS:
            continue  # Delayed Job / Resque workers are not read yet: their queues stay out
        if row.queue is None:
            dynamic.append(row.name)
            continue
        queue = table.get(row.queue, row.backend == "sidekiq")
        queue.jobs.add(row.name)
        queue.sites += [_site(s.job, s.path, s.line, s.method)
                        for s in sites.get(row.name, []) if s.set_queue_byte is None]
    for source in files:
        for name in queue_facts.queue_names(source, app) + queue_facts.mail_delivery_queues(source, app):
            if name.class_level:
                continue  # a class's own queue: its jobs above say it
            job = set_jobs.get((source.relpath, name.start_byte)) if name.via == "set" else None
            table.get(name.name, name.native_sidekiq).sites.append(
                _site(job, source.relpath, source.position(name.start_byte).line, name.via))
    for schedule in schedules.schedules(app):
        _schedule_use(app, schedule, table)

    queue_entries = [_queue_entry(q, config_) for _, q in sorted(table.queues.items())]
    return {
        "root": _shown(app.root, workspace),
        "adapter": app.backend.adapter,
        "workers": _workers(config_),
        "queues": queue_entries,
        "unprocessed": sorted({q["name"] for q in queue_entries if q["processed"] is False}),
        "dynamic": sorted(dynamic),
        "worker_only": _worker_only(config_, queue_entries),
    }


def _site(job: str | None, path: str, line: int, via: str) -> Site:
    return {"job": job, "path": path, "line": line, "via": via}


def _code_files(app: App) -> list[SourceFile]:
    """The app's Ruby and rake files outside tests, migrations and vendored code: where
    `queues.enqueue_calls` looks for enqueues."""
    if app.root is None:
        return []
    accept: Callable[[str], bool] = lambda p: p.endswith((".rb", ".rake")) and not p.startswith(
        queue_facts.SKIPPED_TOP_DIRS)
    found = (app.source(p) for p in walk_files(app.root, app.root, accept))
    return [s for s in found if s is not None]


def _enqueue_sites(app: App, files: list[SourceFile]) -> dict[str, list[_EnqueueSite]]:
    """`queues.enqueue_calls` with the file and line of each call."""
    calls = queue_facts.enqueue_calls(app)  # parses the files it matches, once
    by_tree = {s.root.id: s for s in files if s.parsed}
    sites: dict[str, list[_EnqueueSite]] = {}
    for job, nodes in calls.items():
        for call in nodes:
            top = call
            while top.parent is not None:
                top = top.parent
            source = by_tree.get(top.id)
            if source is None:
                continue
            sites.setdefault(job, []).append(_EnqueueSite(
                job, source.relpath, source.position(call.start_byte).line,
                ruby.call_method(call), _set_queue_byte(call)))
    return sites


def _set_queue_byte(call: Node) -> int | None:
    receiver = ruby.call_receiver(call)
    if receiver is None or receiver.type != "call" or ruby.call_method(receiver) != "set":
        return None
    queue = ruby.keyword_arguments(receiver).get("queue")
    return None if queue is None else queue.start_byte


def _schedule_use(app: App, schedule: schedules.ScheduleEntry, table: _QueueTable) -> None:
    job = schedule.class_name.text.removeprefix("::") if schedule.class_name else None
    via = f"schedule {schedule.label}"
    if schedule.queue is not None:
        queue = table.get(schedule.queue.text, not schedules.through_active_job(schedule, app))
        queue.sites.append(_site(job, schedule.path, _line(app, schedule.path, schedule.queue.start_byte), via))
    elif schedule.command is not None:
        name = queue_facts.recurring_command_queue(schedule, app)
        if name is not None:
            table.get(name, False).sites.append(
                _site("SolidQueue::RecurringJob", schedule.path,
                      _line(app, schedule.path, schedule.command.start_byte), via))
    elif job is not None:  # runs on the class's own queue
        for queue in table.of_job(job):
            queue.sites.append(_site(job, schedule.path, _line(app, schedule.path, schedule.key.start_byte), via))


def _line(app: App, relpath: str, start_byte: int) -> int:
    source = app.source(app.root / relpath) if app.root is not None else None
    return source.position(start_byte).line if source is not None else 0


def _queue_entry(queue: _Queue, config_: queue_facts.QueueConfig) -> QueueEntry:
    processed, workers = config_.processed(queue.name, queue.native)
    runs_as = [queue.name] if queue.native else (
        config_.active_job_name(queue.name) if config_.prefix_known else [])
    return {
        "name": queue.name,
        "kind": "sidekiq" if queue.native else "activejob",
        "runs_as": runs_as,
        "jobs": sorted(queue.jobs),
        "enqueued_by": sorted(queue.sites, key=lambda s: (s["path"], s["line"], s["via"])),
        "processed": processed,
        "processed_by": _worker_ref(workers) if processed and workers is not None else None,
    }


def _worker_ref(workers: queue_facts.WorkerQueues) -> WorkerRef:
    return {"backend": workers.backend, "config": workers.path or f"{workers.backend} default"}


def _configured(config_: queue_facts.QueueConfig) -> list[queue_facts.WorkerQueues]:
    return [w for w in (config_.sidekiq, config_.solid_queue, config_.good_job) if w is not None]


def _workers(config_: queue_facts.QueueConfig) -> list[Worker]:
    active = config_.for_active_job()
    return [
        {**_worker_ref(w), "queues": sorted(w.patterns), "excluded": sorted(w.excluded),
         "runs_active_job": w is active}  # type: ignore[typeddict-item]
        for w in _configured(config_)
    ]


def _worker_only(config_: queue_facts.QueueConfig, entries: list[QueueEntry]) -> list[WorkerOnlyQueue]:
    used = {name for e in entries for name in e["runs_as"]}
    return [
        {"name": name, **_worker_ref(w)}  # type: ignore[typeddict-item]
        for w in _configured(config_)
        for name in sorted(w.patterns)
        if "*" not in name and name not in used
    ]


# -- the server ------------------------------------------------------------------------------

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                            open_world_hint=False)
T = TypeVar("T")
_one_at_a_time = threading.Lock()  # the SDK runs sync tools on worker threads; the parser is shared


def _serialised(fn: Callable[..., T]) -> Callable[..., T]:
    @wraps(fn)
    def run(*args: Any, **kwargs: Any) -> T:
        with _one_at_a_time:
            return fn(*args, **kwargs)

    return run


def build_server(workspace: Path | None = None) -> MCPServer:
    root = Path(os.path.abspath(workspace or Path.cwd()))
    server = MCPServer(
        "joblint",
        version=__version__,
        instructions=(
            "joblint statically analyses the background jobs and mailers of a Ruby on Rails app. "
            f"Paths are relative to the workspace {root}. Use `lint` after editing job, mailer or "
            "enqueuing code; `explain_rule` for what a finding means and how to fix it; "
            "`job_inventory` and `queues` before adding a job or a queue. Nothing is written and "
            "no app code is run."
        ),
        log_level="WARNING",
    )

    @server.tool(annotations=READ_ONLY)
    @_serialised
    def lint(
        paths: Annotated[list[str], Field(description="Files or directories, relative to the "
                                          "workspace; `[\".\"]` for the whole app.")],
        select: Annotated[list[str] | None, Field(description="Only these rules: codes, names "
                                                  "or family prefixes (`JL1`). Default: the "
                                                  "configuration's selection.")] = None,
    ) -> LintResult:
        """Lint Rails job, mailer and enqueuing code. Returns the findings with the keys of
        `joblint --format json` (code, name, severity, path, line, column, end_line,
        end_column, message, fingerprint, fix, help, url), the summary, and the files that
        could not be analysed completely (`problems`). `.joblint.yml` / `[tool.joblint]` at the
        Rails root applies, as on the command line."""
        return lint_paths(paths, select, root)

    @server.tool(annotations=READ_ONLY)
    @_serialised
    def explain_rule(
        code_or_name: Annotated[str, Field(description="A rule code (`JL101`) or name "
                                           "(`record-argument`).")],
    ) -> RulePage:
        """A rule's documentation page (Markdown: what it does, why it is bad, examples that are
        and are not reported, options), with its code, name, severity, whether it is enabled
        by default and whether it has a safe fix."""
        return explain(code_or_name)

    @server.tool(annotations=READ_ONLY)
    @_serialised
    def job_inventory(
        path: Annotated[str | None, Field(description="A path in the Rails app (default: the "
                                          "workspace).")] = None,
    ) -> InventoryResult:
        """Every job class of the Rails app, as `joblint jobs --format json` lists them: file,
        backend (ActiveJob adapter or native Sidekiq), queue and whether a configured worker
        processes it, retry/discard handlers, Sidekiq retry, concurrency limit, schedule
        entries, and how many places enqueue it."""
        return inventory_result(path, root)

    @server.tool(annotations=READ_ONLY)
    @_serialised
    def queues(
        path: Annotated[str | None, Field(description="A path in the Rails app (default: the "
                                          "workspace).")] = None,
    ) -> QueuesResult:
        """Every queue the app uses: the job classes that run on it, the places that enqueue to
        it (enqueue calls, `set(queue:)`, `deliver_later`, schedule entries), whether a
        configured worker processes it and which configuration does; the worker configurations;
        the unprocessed queues (jobs put there never run); jobs with a runtime-computed queue;
        and queues a worker lists that no code uses."""
        return queue_table(path, root)

    return server


def serve(workspace: Path | None = None) -> None:
    """Run the server over stdio until the client closes the connection; `workspace` defaults
    to the working directory."""
    build_server(workspace).run("stdio")
