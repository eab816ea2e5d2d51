"""`--format text`: findings grouped by file, each with a code frame; a summary line.

A finding with a safe fix is marked `[*]` after its code (as ruff does), and the summary line
ends with "N fixable with `--fix`." when there are any.

Everything printed is a `rich.text.Text` or plain pieces of text, never a markup string, so
Ruby such as `params[:id]` is shown as written. Without colour (a pipe, a file, `NO_COLOR`) the
same pieces are written as they are, and rich is not imported (a sixth of a pre-commit run).
"""

from __future__ import annotations

from collections import Counter
from itertools import groupby
from typing import TYPE_CHECKING, TextIO

from ..engine import Report
from ..findings import Finding, Severity, printable
from . import severity_counts

if TYPE_CHECKING:
    from rich.console import Console
    from rich.style import Style
    from rich.text import Text

STYLES = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
TAB = "    "
FIXABLE = "[*]"


# (text, style), no newline inside a styled piece. Findings are written as these pieces, each
# styled as rich styles a segment, not printed through rich: a `Text` of 20,000 findings took
# 7 s to split into lines and spans that were written back unchanged (no wrapping: soft wrap).
Piece = tuple[str, str]


def render(report: Report, console: Console, *, summary: bool = True) -> None:
    """The findings, then the summary line unless `summary` is false (`--quiet`)."""
    styles: dict[str, Style] = {}
    for pieces in _files(report):
        console.file.write("".join(_styled(piece, console, styles) for piece in pieces) + "\n")
    if summary:
        console.print(_summary_line(report), soft_wrap=True)


def render_plain(report: Report, stream: TextIO, *, summary: bool = True) -> None:
    """`render` on a console without colour, character for character, without rich."""
    stream.writelines("".join(text for text, _ in pieces) + "\n" for pieces in _files(report))
    if summary:
        stream.write("".join(text for text, _ in summary_pieces(report)) + "\n")


def _files(report: Report) -> list[list[Piece]]:
    """Each file's findings as pieces: its header, then each finding."""
    found = []
    for path, group in groupby(report.findings, key=lambda f: f.path):
        pieces: list[Piece] = [(printable(path), "bold underline")]
        for finding in group:
            pieces.append(("\n", ""))
            pieces += _finding(finding)
        found.append(pieces)
    return found


def _styled(piece: Piece, console: Console, styles: dict[str, Style]) -> str:
    """The piece as rich writes a segment: with ANSI codes, or as it is without colour."""
    text, name = piece
    if not name or console.color_system is None:
        return text
    style = styles.get(name) or styles.setdefault(name, console.get_style(name))
    return style.render(text, color_system=console.color_system, legacy_windows=console.legacy_windows)


def _finding(f: Finding) -> list[Piece]:
    style = STYLES[f.severity]
    gutter = str(f.line)
    pad = " " * len(gutter)
    shown = f.line_text
    column = f.column - f.frame_start  # the line may be a window of a very long one
    end_column = f.end_column - f.frame_start if f.end_line == f.line else len(shown) + 1
    lead = "…" if f.frame_start else ""
    source = lead + printable(shown.replace("\t", TAB))
    prefix = lead + printable(shown[: column - 1].replace("\t", TAB))
    span = printable(shown[column - 1 : end_column - 1].replace("\t", TAB))
    width = max(1, _cells(span.rstrip()) if span.strip() else 1)
    return [
        (f"  {f.line}:{f.column} ", "dim"), (f"{f.severity.label} ", style), (f"{f.code} ", "bold"),
        *([(f"{FIXABLE} ", "bold")] if f.fixable else []),
        (f.name, "bold"), (f"  {printable(f.message)}\n", ""),
        (f"   {pad} │", "dim"), ("\n", ""),
        (f"   {gutter} │ ", "dim"), (f"{source}\n", ""),
        (f"   {pad} │ ", "dim"), (" " * _cells(prefix), ""), ("^" * width, style), ("\n", ""),
        (f"   {pad} = help: ", "dim"), (f"{printable(f.help)}\n", ""),
    ]


def _cells(text: str) -> int:
    """The terminal cells the text takes: one per printable ASCII character (as rich counts
    them), else rich's count."""
    if text.isascii() and text.isprintable():
        return len(text)
    from rich.cells import cell_len

    return cell_len(text)


def summary(report: Report) -> Text:
    from rich.text import Text

    return Text.assemble(*summary_pieces(report))


def summary_pieces(report: Report) -> list[Piece]:
    """The summary line, as pieces of text with their styles."""
    total = len(report.findings)
    files = report.files
    checked = f"{files} file{'s' if files != 1 else ''} checked"
    if total == 0:
        text = [("All checks passed!", "bold green"), (f" {checked}.", "")]
    else:
        counts = severity_counts(report)
        parts = ", ".join(
            f"{counts[s.label]} {s.label}"
            f"{'s' if counts[s.label] != 1 and s is not Severity.INFO else ''}"
            for s in sorted(Severity, reverse=True)
        )
        noun = "finding" if total == 1 else "findings"
        text = [(f"Found {total} {noun}", "bold"), (f" ({parts}); {checked}.", "")]
    if report.partial:
        noun = "file was" if report.partial == 1 else "files were"
        text.append((
            (f" {report.partial} {noun} only partly analysed (the parser could not read"
             " all of it; --extend-select JL001 shows where)."), ""
        ))
    if report.baselined:
        text.append((f" {report.baselined} hidden by the baseline.", ""))
    if report.baseline_fixed:
        text.append((f" {report.baseline_fixed} fixed — prune with --write-baseline.", "green"))
    fixable = sum(1 for f in report.findings if f.fixable)
    if fixable:
        text.append((f" {fixable} fixable with `--fix`.", ""))
    return text


_summary_line = summary  # `render`'s keyword `summary` shadows the function there


def statistics(report: Report, console: Console) -> None:
    """`--statistics`: one row per rule with findings, most frequent first, then the
    summary line; with no findings only the summary (no empty table)."""
    from rich.table import Table

    rows = statistics_rows(report)
    if not rows:
        console.print(summary(report), soft_wrap=True)
        return
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column, justify in (("Count", "right"), ("Code", "left"), ("Name", "left"),
                            ("Fixable", "left")):
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(str(row["count"]), row["code"], row["name"],
                      "yes" if row["fixable"] else "")
    console.print(table)
    console.print(summary(report), soft_wrap=True)


def statistics_rows(report: Report) -> list[dict]:  # type: ignore[type-arg]
    counts = Counter(f.code for f in report.findings)
    names = {f.code: f.name for f in report.findings}
    fixable = {f.code for f in report.findings if f.fixable}
    return [
        {"code": code, "name": names[code], "count": count, "fixable": code in fixable}
        for code, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]
