"""`joblint jobs`: the job inventory — one row per job class with its backend, queue (and whether
a configured worker processes it), retry/discard policy, concurrency limit, schedule entries and
number of enqueue sites — as a terminal table, JSON (`{"jobs": [...]}`) or Markdown. ActiveJob
and Sidekiq jobs come from the class hierarchy, native Delayed Job and Resque jobs (and methods
run as Delayed Job jobs: `Class#method`) from `rails/native_jobs.py`."""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import click
from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from . import ruby
from .console import make_console
from .files import walk_files
from .rails import native_jobs, queues, schedules
from .rails.app import App, find_root
from .rails.jobs import JobKind
from .source import SourceFile

SKIPPED_PARTS = frozenset({"spec", "test", "features", "db", "vendor", "node_modules", "tmp"})
JOB_WORDS = (b"Job", b"Sidekiq", b"Worker", b"perform", b"Resque")
_CLASS_SETTINGS = ruby.compile_query(
    """
    (call !receiver method: (identifier) @method
      (#any-of? @method "sidekiq_options" "limits_concurrency" "good_job_control_concurrency_with")
      arguments: (argument_list) @args) @call
    """
)
UNBOUNDED_WIDTH = 100_000
PIPED_WIDTH = 80  # piped output is at least this wide (the summary line)
CONCURRENCY_KEYS = ("to", "total_limit", "perform_limit", "enqueue_limit", "perform_throttle")
# rows of jobs that run without ActiveJob or Sidekiq (see rails/native_jobs.py)
NATIVE_JOB_BACKENDS = frozenset({JobKind.DELAYED_JOB.value, JobKind.RESQUE.value})


@dataclass
class Handler:
    method: str  # retry_on | discard_on | rescue_from
    exceptions: list[str]
    declared_in: str  # the class that declares it (the job itself or an ancestor)


@dataclass
class JobRow:
    name: str  # the class; `Class#method` / `Class.method` for a method run as a Delayed Job job
    path: str
    line: int
    backend: str  # activejob | sidekiq | delayed_job | resque (the last two: native jobs)
    adapter: str | None
    abstract: bool
    queue: str | None  # None: dynamic, or none named (`queue_unnamed`); native: "a, b" for several
    queue_processed: bool | None  # None: unknown
    handlers: list[Handler] = field(default_factory=list)
    sidekiq_retry: str | None = None  # `sidekiq_options retry:` as written (own or inherited)
    concurrency: str | None = None  # `limits_concurrency to: 2` → "to: 2"
    schedules: list[str] = field(default_factory=list)
    enqueue_sites: int = 0
    retry_policy: str | None = None  # native jobs: what a failure leads to (attempts, resque-retry)
    hooks: list[str] = field(default_factory=list)  # Delayed Job hooks: reschedule_at, error, failure
    queue_unnamed: bool = False  # native jobs: no queue is named anywhere (Delayed Job: none)


def inventory(app: App) -> list[JobRow]:
    """Every job class of the app, sorted by name."""
    config = queues.queue_config(app)
    scheduled = schedules.scheduled_classes(app)
    sites = enqueue_sites(app)
    settings = _class_settings(app)
    rows = []
    for name in app.jobs.job_names():
        definitions = app.classes.definitions[name]
        if all(d.is_module for d in definitions):
            continue  # a mixin that includes Sidekiq::Job is not itself a job
        first = app.classes.first_definition(name) or definitions[0]
        kind = app.jobs.kind(name)
        native = kind is JobKind.SIDEKIQ
        queue, _ = queues.job_queue(app, name)
        processed = config.processed(queue, native)[0] if queue is not None else None
        lineage = app.classes.lineage(name)
        rows.append(
            JobRow(
                name=name,
                path=first.path,
                line=first.line,
                backend="sidekiq" if native else "activejob",
                adapter=None if native else app.backend.adapter,
                abstract=app.jobs.is_abstract(name) or name == "ApplicationJob",
                queue=queue,
                queue_processed=processed,
                handlers=[
                    Handler(h.method, list(h.exceptions), _owner(app, h.path, h.line, lineage))
                    for h in app.classes.handlers(name)
                ],
                sidekiq_retry=_inherited(settings, lineage, "retry"),
                concurrency=_inherited(settings, lineage, "concurrency"),
                schedules=[e.label for e in scheduled.get(name, [])],
                enqueue_sites=sites.get(name, 0),
            )
        )
    rows.extend(_native_row(job) for job in native_jobs.native_jobs(app).values())
    return sorted(rows, key=lambda row: row.name)


def _native_row(job: native_jobs.NativeJob) -> JobRow:
    """A Delayed Job or Resque job run without ActiveJob. Which queues its workers process is
    not read yet: unknown."""
    return JobRow(
        name=job.name,
        path=job.path,
        line=job.line,
        backend=job.kind.value,
        adapter=None,
        abstract=job.abstract,
        queue=", ".join(job.queues) or None,
        queue_processed=None,
        schedules=list(job.schedules),
        enqueue_sites=len(job.enqueue_sites),
        retry_policy=job.retry_policy,
        hooks=list(job.hooks),
        queue_unnamed=not job.queues and not job.dynamic_queue,
    )


def _owner(app: App, path: str, line: int, lineage: list[str]) -> str:
    for owner in lineage:
        for definition in app.classes.definitions.get(owner, ()):
            if definition.path == path and any(h.line == line for h in definition.handlers):
                return owner
    return lineage[0]


def _inherited(settings: dict[str, dict[str, str]], lineage: list[str], key: str) -> str | None:
    for owner in lineage:
        if key in settings.get(owner, {}):
            return settings[owner][key]
    return None


def _class_settings(app: App) -> dict[str, dict[str, str]]:
    """`sidekiq_options retry:` and concurrency limits declared at class level, per class."""
    table: dict[str, dict[str, str]] = {}
    for source in app.model_files:
        if b"sidekiq_options" not in source.data and b"concurrency" not in source.data:
            continue
        for _, caps in ruby.matches(_CLASS_SETTINGS, source.root):
            call = caps["call"][0]
            if ruby.enclosing(call, ruby.METHOD_TYPES) is not None:
                continue
            owner = app.enclosing_class(call)
            if owner is None:
                continue
            pairs = ruby.keyword_arguments(call)
            if ruby.call_method(call) == "sidekiq_options":
                if "retry" in pairs:
                    table.setdefault(owner, {})["retry"] = ruby.text(pairs["retry"])
            else:
                limits = [f"{k}: {ruby.text(pairs[k])}" for k in CONCURRENCY_KEYS if k in pairs]
                table.setdefault(owner, {})["concurrency"] = ", ".join(limits) or "yes"
    return table


def job_files_outside_model_dirs(app: App) -> list[SourceFile]:
    """Ruby files that may define jobs below the root but outside `app/`, `lib/` and engines
    (a Rails app in a sub-directory of a monorepo, a gem's `core/app/jobs`), so that the
    inventory lists every job class; test, migration and vendored code is left out."""
    if app.root is None:
        return []
    found = []  # files of app/ and lib/ come again: the index keeps one copy of each
    for path in walk_files(app.root, app.root, lambda p: p.endswith(".rb")
                           and not set(p.split("/")[:-1]) & SKIPPED_PARTS):
        source = app.source(path)
        if source is not None and b"class " in source.data and source.contains_any(JOB_WORDS):
            found.append(source)
    return found


def enqueue_sites(app: App) -> Counter[str]:
    """How many calls enqueue each project class (see `queues.enqueue_calls`)."""
    return queues.enqueue_counts(app)


# -- rendering -------------------------------------------------------------------------------


def _queue_cell(row: JobRow) -> str:
    if row.queue is None:
        return "(none)" if row.queue_unnamed else "(dynamic)"
    mark = {True: "processed", False: "NOT PROCESSED", None: "unknown"}[row.queue_processed]
    return f"{row.queue} ({mark})"


def _policy_parts(row: JobRow) -> list[str]:
    parts = []
    for handler in row.handlers:
        where = "" if handler.declared_in == row.name else f" [{handler.declared_in}]"
        parts.append(f"{handler.method} {', '.join(handler.exceptions) or '…'}{where}")
    if row.sidekiq_retry is not None:
        parts.append(f"sidekiq retry: {row.sidekiq_retry}")
    if row.retry_policy is not None:
        parts.append(row.retry_policy)
    parts.extend(f"{hook} hook" for hook in row.hooks)
    return parts


BACKEND_NAMES = {"sidekiq": "Sidekiq", "delayed_job": "Delayed Job", "resque": "Resque"}


def _backend_cell(row: JobRow) -> str:
    if row.backend in BACKEND_NAMES:
        return BACKEND_NAMES[row.backend]
    return f"ActiveJob ({row.adapter})" if row.adapter else "ActiveJob"


def _class_cell(row: JobRow) -> str:
    return f"{row.name} (abstract)" if row.abstract else row.name


def _cells(row: JobRow, separator: str = "; ") -> list[str]:
    """One row's cells; `separator` joins the several entries of one cell (policies, schedules)."""
    return [
        _class_cell(row), f"{row.path}:{row.line}", _backend_cell(row), _queue_cell(row),
        separator.join(_policy_parts(row)) or "-", row.concurrency or "-",
        separator.join(row.schedules) or "-", str(row.enqueue_sites),
    ]


HEADERS = ["Class", "File", "Backend", "Queue", "Retry / discard", "Concurrency", "Schedules", "Enqueued"]
# in a block, rows that would only say "-" are left out: most jobs have neither
OPTIONAL_IN_BLOCK = frozenset({"Concurrency", "Schedules"})


def render_json(rows: list[JobRow]) -> str:
    return json.dumps({"jobs": [asdict(r) for r in rows]}, indent=2) + "\n"


def render_markdown(rows: list[JobRow]) -> str:
    def escape(cell: str) -> str:
        return cell.replace("|", "\\|")

    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(escape(c) for c in _cells(row)) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def render_table(rows: list[JobRow], separator: str = "\n") -> Table:
    """One row per job, a cell's several policies or schedules joined by `separator` (one under
    the other by default); no cell is ever wrapped, so the table is as wide as its entries."""
    table = Table(box=None, pad_edge=False, show_edge=False)
    for header in HEADERS:
        table.add_column(header, no_wrap=True)
    for row in rows:
        table.add_row(*_cells(row, separator))
    return table


def render_blocks(rows: list[JobRow]) -> Group:
    """One block per job for a narrow terminal: the class on a line of its own, then one
    labelled line per column; a value too long for the terminal folds inside its own column."""
    blocks: list[RenderableType] = []
    for index, row in enumerate(rows):
        if index:
            blocks.append(Text(""))
        blocks.append(Text(_class_cell(row), style="bold", overflow="fold"))
        fields = Table.grid(padding=(0, 2))
        fields.add_column(no_wrap=True)
        fields.add_column(overflow="fold")
        for header, cell in zip(HEADERS[1:], _cells(row, separator="\n")[1:]):
            if header in OPTIONAL_IN_BLOCK and cell == "-":
                continue
            fields.add_row(header, cell)
        blocks.append(Padding(fields, (0, 0, 0, 2)))
    return Group(*blocks)


def table_width(console: Console, table: Table) -> int:
    """The width `table` needs to show every cell unwrapped, whatever the console's width."""
    unbounded = console.options.update(width=UNBOUNDED_WIDTH)
    return Measurement.get(console, unbounded, table).maximum


def render_text(console: Console, rows: list[JobRow]) -> RenderableType:
    """The wide table when it fits the console, else one block per job."""
    table = render_table(rows)
    return table if table_width(console, table) <= console.width else render_blocks(rows)


@click.command(name="jobs")
@click.argument("path", required=False, default=".", type=click.Path(exists=True, path_type=Path))
@click.option("--format", "output_format", type=click.Choice(["text", "json", "markdown"]),
              default="text", show_default=True, help="Output format.")
def jobs_command(path: Path, output_format: str) -> None:
    """The job inventory of the Rails app at PATH: backend, queue, retries, schedules, enqueues."""

    absolute = Path(os.path.abspath(path))
    app = App(find_root(absolute) or (absolute if absolute.is_dir() else absolute.parent))
    app.include(job_files_outside_model_dirs(app))
    rows = inventory(app)
    if output_format == "json":
        click.echo(render_json(rows), nl=False)
    elif output_format == "markdown":
        click.echo(render_markdown(rows), nl=False)
    else:
        console = make_console()
        if console.is_terminal:
            layout = render_text(console, rows)
        else:  # piped: one line per job, however long, for grep and sort
            layout = render_table(rows, separator="; ")
            console = make_console(width=max(PIPED_WIDTH, table_width(console, layout)))
        if rows:
            console.print(layout)
        console.print(f"{len(rows)} job class{'es' if len(rows) != 1 else ''}", soft_wrap=True)


def inventory_app(path: Path) -> App:
    """The App `joblint jobs PATH` lists: the Rails root at or above PATH (else PATH itself),
    with the job files found outside `app/` and `lib/` in its class index."""
    absolute = Path(os.path.abspath(path))
    app = App(find_root(absolute) or (absolute if absolute.is_dir() else absolute.parent))
    app.include(job_files_outside_model_dirs(app))
    return app
