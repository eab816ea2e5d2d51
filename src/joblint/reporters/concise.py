"""`--format concise`: `path:line:col: CODE [severity] message`, one finding per line, then
the text format's summary line (plain, one line) unless `summary` is false (`--quiet`)."""

from __future__ import annotations

from ..engine import Report
from ..findings import printable
from . import ReportContext
from .text import summary as summary_line


def render(report: Report, context: ReportContext, *, summary: bool = True) -> str:
    lines = [
        f"{printable(f.path)}:{f.line}:{f.column}: {f.code} [{f.severity.label}] "
        f"{printable(f.message)}\n"
        for f in report.findings
    ]
    if summary:
        lines.append(summary_line(report).plain + "\n")
    return "".join(lines)
