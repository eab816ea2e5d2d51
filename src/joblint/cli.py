"""The command line: parse options, run the engine, choose a reporter. No analysis here."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from . import __version__, rule_index
from .replay import Recorder

if TYPE_CHECKING:  # each command imports what it runs: `joblint rules` needs no analyzer
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from . import config, reporters
    from .engine import Report
    from .findings import Severity

COMMANDS = ("check", "rules", "rule", "jobs", "server", "mcp")
# reporters.FORMATS, written here so that `--help` and `rules` do not import the reporters
# (a test keeps the two equal)
FORMATS = ("text", "concise", "json", "sarif", "github", "gitlab")


class DefaultToCheck(click.Group):
    """`joblint PATH` means `joblint check PATH`, as `ruff` and `rubocop` users expect. A first
    word that is neither a command nor an existing path, but close to a command (`chek`), is a
    usage error before any work."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in COMMANDS and args[0] not in GROUP_OPTIONS:
            first = args[0]
            if not first.startswith("-") and not os.path.lexists(first):
                import difflib  # only for a mistyped command

                close = difflib.get_close_matches(first, list(COMMANDS), n=1, cutoff=0.6)
                if close:
                    raise click.UsageError(
                        f"{first!r} is neither a command nor a path; did you mean `{close[0]}`?",
                        ctx,
                    )
            args = ["check", *args]
        elif not args:
            args = ["check"]
        return super().parse_args(ctx, args)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name == "jobs":  # imported when used: a check run starts without it
            from .inventory import jobs_command

            return jobs_command
        return super().get_command(ctx, name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), "jobs"})


GROUP_OPTIONS = ("--help", "-h", "--version", "-V")


def _split(values: tuple[str, ...]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _error(message: str) -> None:
    """One line on stderr; control characters from file names or code shown as escapes."""
    from .findings import printable

    click.echo(f"joblint: {printable(message)}", err=True)


@click.group(cls=DefaultToCheck, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="joblint")
def main() -> None:
    """Static analysis for the background jobs and mailers of Ruby on Rails apps.

    Run `joblint PATH` (the same as `joblint check PATH`).
    """


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "--output-format", "output_format",
              type=click.Choice(list(FORMATS)), default="text", show_default=True,
              help="Output format (`--output-format` is ruff's spelling).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report to FILE; a summary still goes to the terminal.")
@click.option("--select", multiple=True, metavar="RULES",
              help="Only these rules: codes, names or prefixes (JL1), comma-separated.")
@click.option("--extend-select", multiple=True, metavar="RULES",
              help="Rules to enable on top of the selection (e.g. off-by-default ones).")
@click.option("--ignore", multiple=True, metavar="RULES", help="Rules to disable.")
@click.option("--exclude", multiple=True, metavar="GLOB",
              help="Files or directories to skip when walking (gitignore syntax).")
@click.option("--request-path", "request_paths", multiple=True, metavar="DIR",
              help="Extra request-path directories (beyond app/controllers, app/graphql, app/channels).")
@click.option("--sarif-category", default="joblint/", show_default=True,
              help="SARIF runAutomationDetails.id, to tell several uploads apart.")
@click.option("--fix", is_flag=True, help="Apply the safe fixes in place, then report what remains.")
@click.option("--diff", "show_diff", is_flag=True,
              help="Print the safe fixes as a unified diff; write nothing.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Configuration file (default: .joblint.yml or pyproject.toml at the Rails root).")
@click.option("--show-settings", is_flag=True,
              help="Print the effective settings and where each came from, then exit.")
@click.option("--baseline", "baseline_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Hide the findings recorded in this baseline file.")
@click.option("--write-baseline", "write_baseline_file",
              type=click.Path(dir_okay=False, path_type=Path),
              help="Record today's findings in FILE (then exit 0).")
@click.option("--statistics", is_flag=True, help="Counts per rule instead of the findings.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Worker processes (default: 1).")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
@click.option("--fail-level", type=click.Choice(["error", "warning", "info"]), default="warning",
              show_default=True, help="Lowest severity that makes the exit code 1.")
@click.option("--force-exclude", is_flag=True,
              help="Apply the exclude settings to files named on the command line too (pre-commit).")
@click.option("-q", "--quiet", is_flag=True, help="Print the findings only: no summary, no progress.")
@click.option("--no-progress", is_flag=True, help="No progress display.")
@click.option("--stdin-filename", type=click.Path(dir_okay=False, path_type=Path),
              help="With PATH `-`: lint standard input as if it were this file.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the cache.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), envvar="JOBLINT_CACHE_DIR",
              help="Keep the cache here instead of `.joblint_cache/` at the Rails root "
                   "[env: JOBLINT_CACHE_DIR].")
def check(
    paths: tuple[Path, ...],
    output_format: str,
    output: Path | None,
    select: tuple[str, ...],
    extend_select: tuple[str, ...],
    ignore: tuple[str, ...],
    exclude: tuple[str, ...],
    request_paths: tuple[str, ...],
    sarif_category: str,
    fix: bool,
    show_diff: bool,
    config_file: Path | None,
    show_settings: bool,
    baseline_file: Path | None,
    write_baseline_file: Path | None,
    statistics: bool,
    jobs: int | None,
    exit_zero: bool,
    fail_level: str,
    force_exclude: bool,
    quiet: bool,
    no_progress: bool,
    stdin_filename: Path | None,
    no_cache: bool,
    cache_dir: Path | None,
) -> None:
    """Lint PATHS (default: the current directory; `-` for standard input)."""
    from . import baseline, config, reporters, rules
    from .engine import Options, lint
    from .files import valid_pattern
    from .findings import Severity

    _refuse_conflicts(output_format, output, show_diff, fix, statistics, show_settings,
                      baseline_file, write_baseline_file, paths, stdin_filename)
    if output is not None:
        _check_output_path(output)
    buffers: dict[str, bytes] = {}
    if stdin_filename is not None:
        buffers[os.path.abspath(stdin_filename)] = sys.stdin.buffer.read()
        paths = tuple(stdin_filename if str(p) == "-" else p for p in paths)
    targets = list(paths) or [Path(".")]
    try:
        settings = _settings(targets, config_file).with_overrides(
            select=tuple(_split(select)) if select else None,
            ignore=tuple(_split(ignore)) if ignore else None,
            extend_select=tuple(_split(extend_select)) if extend_select else None,
            exclude=tuple(_from_cwd(e) for e in exclude if valid_pattern(e)) or None,
            request_paths=request_paths or None,
        )
        enabled = settings.enabled_rules()
        accepted = baseline.load(baseline_file) if baseline_file else None
    except rules.UnknownSelector as error:
        _error(f"unknown rule, name or prefix: {error.args[0]!r} (see `joblint rules`)")
        sys.exit(2)
    except (config.ConfigError, baseline.BaselineError) as error:
        _error(str(error))
        sys.exit(2)
    for warning in settings.warnings:
        _error(warning)
    bad = [e for e in exclude if not valid_pattern(e)]
    for glob in bad:
        _error(f"--exclude {glob!r}: not a valid gitignore pattern, ignored")
    if show_settings:
        _print_settings(settings, targets, output_format)
        return
    if not enabled:
        _error("no rule selected: the selection (--select, --ignore or the configuration) is empty")
        sys.exit(2)
    options = Options(
        rules=enabled,
        excludes=settings.exclude,
        request_paths=settings.request_paths,
        rule_options=settings.rule_options,
        severity=settings.severity,
        per_file_ignores=settings.per_file_ignores,
        jobs=jobs,
        force_exclude=force_exclude,
        buffers=buffers,
        cache=not (no_cache or fix or show_diff),  # fixes need the trees: always a fresh run
        cache_dir=Path(os.path.abspath(cache_dir)) if cache_dir else None,
    )
    with _ProgressBar(enabled=not (quiet or no_progress)) as progress:
        report = lint(targets, replace(options, progress=progress))

    for problem in report.problems:
        _error(str(problem))
    for crash in report.crashes:
        _error(f"internal error: {crash}")
    if report.unrooted and not quiet:
        _error(f"no Rails root (config/application.rb or Gemfile) found for {report.unrooted} "
               f"file{'s' if report.unrooted != 1 else ''}: project rules see only the files given")
    if not report.files and not report.failed and not report.problems and not quiet:
        where = ", ".join(str(t) for t in targets)
        _error(f"no files to check under {where}")

    failed = report.failed
    if show_diff or fix:
        from . import fixes  # only the runs that fix pay for it (and difflib)

        planned, refused = fixes.plan(report)
        for display in refused:
            _error(f"{display}: fix not applied: the result would not parse")
        if show_diff:
            sys.stdout.write(fixes.unified_diff(planned))
            sys.exit(2 if report.failed else 1 if planned else 0)
        fixes.write(planned)
        if planned:
            report = lint(targets, options)  # report what remains
            applied = sum(f.applied for f in planned)
            _error(f"fixed {applied} finding{'s' if applied != 1 else ''} in "
                   f"{len(planned)} file{'s' if len(planned) != 1 else ''}")

    if write_baseline_file is not None:
        recorded = baseline.write(report, write_baseline_file)
        _error(f"wrote {recorded} finding{'s' if recorded != 1 else ''} to {write_baseline_file}")
        sys.exit(2 if failed else 0)
    if accepted is not None:
        baseline.apply(report, accepted)

    if failed and not report.files:
        sys.exit(2)  # nothing was checked: no report that could read as a success
    if statistics:
        _emit_statistics(report, output_format)
    else:
        context = reporters.ReportContext(
            rules=enabled, cwd=Path.cwd(), sarif_category=sarif_category, warn=_error
        )
        _emit(report, output_format, output, context, summary=not quiet and bool(report.files))
    if Recorder.active is not None and report.inputs and len(report.inputs) == 1 and not (
        fix or show_diff or output or write_baseline_file or stdin_filename or show_settings
    ):
        [(store, paths)] = report.inputs.items()
        Recorder.active.depends_on(store, paths | _settings_paths(targets, config_file, baseline_file))
    sys.exit(2 if failed else exit_code(report, Severity.parse(fail_level), exit_zero))


def _settings_paths(targets: list[Path], config_file: Path | None, baseline_file: Path | None) -> set[str]:
    """The files the settings were read from, or would be if they existed: a replay of the run
    holds only while they are unchanged."""
    from . import config
    from .rails.app import find_root

    if config_file is not None:
        paths = {os.path.abspath(config_file)}
    else:
        first = targets[0].absolute()
        root = find_root(first) if first.exists() else None
        paths = set() if root is None else {
            os.path.abspath(root / config.CONFIG_FILE), os.path.abspath(root / "pyproject.toml")
        }
    if baseline_file is not None:
        paths.add(os.path.abspath(baseline_file))
    return paths


def _from_cwd(glob: str) -> str:
    """An `--exclude` written as a path from the current directory (`../app/legacy`,
    `./tmp`) becomes an absolute path, which the excludes anchor at the Rails root, so it means
    the same from any directory. Plain globs (`*_spec.rb`, `app/legacy/`) are left as written."""
    if glob in (".", "..") or glob.startswith(("./", "../")):
        absolute = os.path.abspath(glob)
        return absolute + ("/" if glob.endswith("/") else "")
    return glob


def _refuse_conflicts(
    output_format: str, output: Path | None, show_diff: bool, fix: bool, statistics: bool,
    show_settings: bool, baseline_file: Path | None, write_baseline_file: Path | None,
    paths: tuple[Path, ...], stdin_filename: Path | None,
) -> None:
    """Flags that cannot be combined: one line, exit 2, before any work."""
    problem = None
    if show_diff and (output_format != "text" or output is not None):
        problem = "--diff prints a unified diff: it takes no --format or --output"
    elif fix and statistics:
        problem = "--statistics counts findings without fixing them: run --fix on its own first"
    elif show_settings and (fix or show_diff or statistics or write_baseline_file):
        problem = "--show-settings prints the settings and exits: it runs no check"
    elif baseline_file is not None and write_baseline_file is not None:
        problem = ("--write-baseline records every current finding: give it without --baseline "
                   "(it replaces the file)")
    elif any(str(p) == "-" for p in paths) and stdin_filename is None:
        problem = "`-` reads standard input: give --stdin-filename PATH to say which file it is"
    elif stdin_filename is not None and [str(p) for p in paths] != ["-"]:
        problem = "--stdin-filename goes with the path `-` alone"
    elif stdin_filename is not None and (fix or show_diff):
        problem = "--fix and --diff rewrite files: they cannot work on standard input"
    if problem is not None:
        _error(problem)
        sys.exit(2)


def _check_output_path(output: Path) -> None:
    """The report can be written there: checked before the run, not after it."""
    directory = output.parent if str(output.parent) else Path(".")
    if output.is_dir():
        _error(f"cannot write the report to {output}: it is a directory")
    elif not directory.is_dir():
        _error(f"cannot write the report to {output}: no such directory {directory}")
    elif not os.access(directory, os.W_OK) or (output.exists() and not os.access(output, os.W_OK)):
        _error(f"cannot write the report to {output}: permission denied")
    else:
        return
    sys.exit(2)


def _settings(targets: list[Path], config_file: Path | None) -> config.Settings:
    from . import config
    from .rails.app import find_root

    if config_file is not None:
        if not config_file.is_file():
            raise config.ConfigError(f"{config_file}: no such configuration file")
        return config.load(config_file)
    first = targets[0].absolute()
    return config.load(config.find_config(find_root(first) if first.exists() else None))


def _print_settings(settings: config.Settings, targets: list[Path], output_format: str) -> None:
    from . import config

    rows = config.describe(settings) + _project_rows(targets)
    if output_format == "json":
        document = [{"setting": k, "value": v, "from": o} for k, v, o in rows]
        import json  # only the JSON outputs pay for it

        sys.stdout.write(json.dumps({"settings": document}, indent=2) + "\n")
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("Setting", "Value", "From"):
        table.add_column(column, overflow="fold")
    for key, value, origin in rows:
        table.add_row(key, value, origin)
    make_console().print(table)


def _project_rows(targets: list[Path]) -> list[tuple[str, str, str]]:
    """What joblint found about the app(s): the first thing to check when a finding surprises."""
    from .rails.app import App
    from .roots import root_for

    found: dict[Path | None, None] = {}
    for target in targets:
        path = Path(os.path.abspath(target))
        if not path.exists():
            continue
        root, apps = root_for(path)
        for app_root in apps or [root]:
            found.setdefault(app_root)
    rows: list[tuple[str, str, str]] = []
    for root in found:
        if root is None:
            rows.append(("rails root", "(none found: project rules see only the files given)", "found"))
            continue
        app = App(root)
        version = app.rails_version
        defaults = app.load_defaults
        backend = app.backend
        from .rails.queues import queue_config

        queues = queue_config(app)
        sources = sorted({w.path or f"{w.backend} default" for w in
                          (queues.sidekiq, queues.solid_queue, queues.good_job) if w is not None})
        rows += [
            ("rails root", os.path.relpath(root), "found"),
            ("rails version", ".".join(map(str, version.parts)) if version else "(unknown)", "Gemfile.lock"),
            ("load_defaults", ".".join(map(str, defaults.parts)) if defaults else "(unknown)",
             "config/application.rb"),
            ("backend", backend.adapter or "(not configured)", "queue_adapter / Gemfile.lock"),
            ("queue sources", ", ".join(sources) or "(none)", "found"),
        ]
    return rows


def _emit_statistics(report: Report, output_format: str) -> None:
    from .reporters import text as text_reporter

    if output_format == "json":
        rows = text_reporter.statistics_rows(report)
        import json

        sys.stdout.write(json.dumps({"statistics": rows}, indent=2) + "\n")
    else:
        text_reporter.statistics(report, make_console())


class _ProgressBar:
    """A transient progress display on a terminal's stderr. It starts with the run — the project
    model is built while the first file is checked, which takes the first seconds — as a
    spinner, and becomes a bar once the files are counted."""

    def __init__(self, enabled: bool = True) -> None:
        self.bar: Progress | None = None  # rich's, imported only when shown
        self.task: TaskID | None = None
        self.enabled = enabled and sys.stderr.isatty() and not os.environ.get("CI")

    def __enter__(self) -> _ProgressBar:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
            )

            self.bar = Progress(
                SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                MofNCompleteColumn(), console=Console(stderr=True), transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task("reading the app", total=None)
            if Recorder.active is not None:
                Recorder.active.progress(True)
        return self

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None or self.task is None:
            return
        label = "building the project model" if done == 0 else "checking files"
        self.bar.update(self.task, description=label, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
            if Recorder.active is not None:
                Recorder.active.progress(False)


def _emit(
    report: Report,
    output_format: str,
    output: Path | None,
    context: reporters.ReportContext,
    summary: bool = True,
) -> None:
    if output_format == "text" and output is None and not (report.findings or summary):
        return  # nothing to print: rich is not even imported
    from . import reporters
    from .reporters import text as text_reporter

    if output_format == "text" and output is None:
        from .console import colour_off

        if colour_off(sys.stdout):
            text_reporter.render_plain(report, sys.stdout, summary=summary)
        else:
            text_reporter.render(report, make_console(), summary=summary)
        return
    if output_format == "text":
        with output.open("w", encoding="utf-8") as stream:  # type: ignore[union-attr]
            text_reporter.render(report, make_console(stream, width=100))
    else:
        rendered = reporters.render(output_format, report, context, summary=summary)
        if output is None:
            sys.stdout.write(rendered)
            return
        output.write_text(rendered, encoding="utf-8")
    if summary:
        console = make_console(sys.stderr)
        console.print(text_reporter.summary(report), soft_wrap=True)
        from rich.text import Text

        console.print(Text(f"Report written to {output}"), soft_wrap=True)


def exit_code(report: Report, fail_level: Severity, exit_zero: bool) -> int:
    if report.failed:
        return 2
    if exit_zero:
        return 0
    return 1 if any(f.severity >= fail_level for f in report.findings) else 0


@main.command(name="rules")
@click.option("--format", "--output-format", "output_format", type=click.Choice(["text", "json"]),
              default="text", show_default=True, help="Output format.")
def list_rules(output_format: str) -> None:
    """Table of every rule."""
    if output_format == "json":
        from . import catalogue  # its help addresses; a check run does not import it

        document = [
            {"code": code, "name": name, "severity": severity, "scope": scope, "default": default,
             "fixable": fixable, "summary": summary, "url": catalogue.help_uri_of(code, name)}
            for code, name, severity, scope, default, fixable, summary, _ in rule_index.RULES
        ]
        import json

        sys.stdout.write(json.dumps({"rules": document}, indent=2) + "\n")
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("Code", "Name", "Severity", "Scope", "Default", "Fixable", "Summary"):
        table.add_column(column, no_wrap=column != "Summary")
    for code, name, severity, scope, default, fixable, summary, _ in rule_index.RULES:
        table.add_row(code, name, severity, scope, "on" if default else "off",
                      "yes" if fixable else "", summary)
    make_console().print(table)


@main.command()
@click.argument("code_or_name")
def rule(code_or_name: str) -> None:
    """The documentation page of one rule (by code or name)."""
    key = code_or_name.strip()
    row = next((r for r in rule_index.RULES if r[0] == key.upper() or r[1] == key.lower()), None)
    if row is None:
        _error(f"unknown rule {code_or_name!r} (see `joblint rules`)")
        sys.exit(2)
    from . import catalogue, rules

    page = catalogue.page(rules.load(row[0], row[7]))  # that rule's module only
    console = make_console()
    if console.is_terminal:
        from rich.markdown import Markdown  # markdown-it: only for this command

        console.print(Markdown(page))
    else:
        sys.stdout.write(page)




@main.command()
def server() -> None:
    """The language server (LSP over stdio) for editors: diagnostics, fixes, hovers."""
    from .lsp import serve

    serve()


@main.command(name="mcp")
@click.option("--workspace", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The directory the tools may read (default: the current directory).")
def mcp_command(workspace: Path | None) -> None:
    """The Model Context Protocol server (stdio) for coding agents: lint, rules, jobs, queues."""
    from .mcp_server import serve

    serve(workspace)

if __name__ == "__main__":
    main()


def make_console(stream=None, width: int | None = None) -> Console:  # type: ignore[no-untyped-def]
    """The terminal console (`console.make_console`), imported with rich when first needed."""
    from .console import make_console as make

    return make(stream, width)
