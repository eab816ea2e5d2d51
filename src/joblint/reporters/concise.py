"""`--format concise`: `path:line:col: CODE [severity] message`, one finding per line."""

from __future__ import annotations

from ..engine import Report


def render(report: Report) -> str:
    return "".join(
        f"{f.path}:{f.line}:{f.column}: {f.code} [{f.severity.label}] {f.message}\n"
        for f in report.findings
    )
