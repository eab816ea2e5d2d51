"""The command line: parse options, run the engine, choose a reporter. No analysis here."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import click
from rich.console import Console
from rich.markdown import Markdown
from rich.progress import Progress, TaskID
from rich.table import Table
from rich.text import Text

from . import __version__, baseline, catalogue, config, fixes, reporters, rules
from .console import make_console
from .engine import Options, Report, lint
from .findings import Severity
from .inventory import jobs_command
from .rails.app import find_root
from .reporters import text as text_reporter

COMMANDS = ("check", "rules", "rule", "jobs")


class DefaultToCheck(click.Group):
    """`joblint PATH` means `joblint check PATH`, as `ruff` and `rubocop` users expect."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h", "--version")):
            args = ["check", *args]
        return super().parse_args(ctx, args)


def _split(values: tuple[str, ...]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _error(message: str) -> None:
    click.echo(f"joblint: {message}", err=True)


@click.group(cls=DefaultToCheck, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="joblint")
def main() -> None:
    """Static analysis for the background jobs and mailers of Ruby on Rails apps.

    Run `joblint PATH` (the same as `joblint check PATH`).
    """


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "output_format", type=click.Choice(list(reporters.FORMATS)), default="text",
              show_default=True, help="Output format.")
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
              help="Worker processes (default: several for apps over 300 analysed files).")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when there are findings.")
@click.option("--fail-level", type=click.Choice(["error", "warning", "info"]), default="warning",
              show_default=True, help="Lowest severity that makes the exit code 1.")
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
) -> None:
    """Lint PATHS (default: the current directory)."""
    targets = list(paths) or [Path(".")]
    try:
        settings = _settings(targets, config_file).with_overrides(
            select=tuple(_split(select)) if select else None,
            ignore=tuple(_split(ignore)) if ignore else None,
            extend_select=tuple(_split(extend_select)) if extend_select else None,
            exclude=exclude or None,
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
    if show_settings:
        _print_settings(settings)
        return
    options = Options(
        rules=enabled,
        excludes=settings.exclude,
        request_paths=settings.request_paths,
        rule_options=settings.rule_options,
        severity=settings.severity,
        per_file_ignores=settings.per_file_ignores,
        jobs=jobs,
    )
    with _ProgressBar() as progress:
        report = lint(targets, replace(options, progress=progress))

    for problem in report.problems:
        _error(str(problem))
    for crash in report.crashes:
        _error(f"internal error: {crash}")

    failed = report.failed
    if show_diff or fix:
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

    if statistics:
        _emit_statistics(report, output_format)
    else:
        context = reporters.ReportContext(
            rules=enabled, cwd=Path.cwd(), sarif_category=sarif_category, warn=_error
        )
        _emit(report, output_format, output, context)
    sys.exit(2 if failed else exit_code(report, Severity.parse(fail_level), exit_zero))


def _settings(targets: list[Path], config_file: Path | None) -> config.Settings:
    if config_file is not None:
        if not config_file.is_file():
            raise config.ConfigError(f"{config_file}: no such configuration file")
        return config.load(config_file)
    first = targets[0].absolute()
    return config.load(config.find_config(find_root(first) if first.exists() else None))


def _print_settings(settings: config.Settings) -> None:
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("Setting", "Value", "From"):
        table.add_column(column, overflow="fold")
    for key, value, origin in config.describe(settings):
        table.add_row(key, value, origin)
    make_console().print(table)


def _emit_statistics(report: Report, output_format: str) -> None:
    if output_format == "json":
        rows = text_reporter.statistics_rows(report)
        sys.stdout.write(json.dumps({"statistics": rows}, indent=2) + "\n")
    else:
        text_reporter.statistics(report, make_console())


class _ProgressBar:
    """A transient progress bar on a terminal's stderr, only for runs longer than ~2 s."""

    DELAY = 2.0

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.bar: Progress | None = None
        self.task: TaskID | None = None
        self.enabled = sys.stderr.isatty() and not os.environ.get("CI")

    def __enter__(self) -> _ProgressBar:
        return self

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            if time.monotonic() - self.start < self.DELAY:
                return
            self.bar = Progress(console=Console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("linting", total=total)
        assert self.task is not None
        self.bar.update(self.task, completed=done)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _emit(
    report: Report, output_format: str, output: Path | None, context: reporters.ReportContext
) -> None:
    if output_format == "text" and output is None:
        text_reporter.render(report, make_console())
        return
    if output_format == "text":
        with output.open("w", encoding="utf-8") as stream:  # type: ignore[union-attr]
            text_reporter.render(report, make_console(stream, width=100))
    else:
        rendered = reporters.render(output_format, report, context)
        if output is None:
            sys.stdout.write(rendered)
            return
        output.write_text(rendered, encoding="utf-8")
    console = make_console(sys.stderr)
    console.print(text_reporter.summary(report), soft_wrap=True)
    console.print(Text(f"Report written to {output}"), soft_wrap=True)


def exit_code(report: Report, fail_level: Severity, exit_zero: bool) -> int:
    if report.failed:
        return 2
    if exit_zero:
        return 0
    return 1 if any(f.severity >= fail_level for f in report.findings) else 0


@main.command(name="rules")
def list_rules() -> None:
    """Table of every rule."""
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("Code", "Name", "Severity", "Scope", "Default", "Summary"):
        table.add_column(column, no_wrap=column != "Summary")
    for rule in rules.all_rules():
        table.add_row(
            rule.code, rule.name, rule.severity.label, rule.scope,
            "on" if rule.default_enabled else "off", rule.summary,
        )
    make_console().print(table)


@main.command()
@click.argument("code_or_name")
def rule(code_or_name: str) -> None:
    """The documentation page of one rule (by code or name)."""
    found = rules.lookup(code_or_name)
    if found is None:
        _error(f"unknown rule {code_or_name!r} (see `joblint rules`)")
        sys.exit(2)
    page = catalogue.page(found)
    console = make_console()
    if console.is_terminal:
        console.print(Markdown(page))
    else:
        sys.stdout.write(page)


main.add_command(jobs_command)

if __name__ == "__main__":
    main()
