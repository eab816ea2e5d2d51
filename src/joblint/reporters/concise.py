"""`--format concise`: `path:line:col: CODE [severity] message`, one finding per line."""

from __future__ import annotations

from ..engine import Report
from . import ReportContext


def render(report: Report, context: ReportContext) -> str:
    return "".join(
        f"{f.path}:{f.line}:{f.column}: {f.code} [{f.severity.label}] {f.message}\n"
        for f in report.findings
    )
