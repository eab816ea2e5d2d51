"""`--format json`: one object, keys in the order of the contract (cli.md)."""

from __future__ import annotations

import json

from .. import __version__
from ..engine import Report
from . import ReportContext, severity_counts


def render(report: Report, context: ReportContext) -> str:
    document = {
        "version": __version__,
        "findings": [
            {
                "code": f.code,
                "name": f.name,
                "severity": f.severity.label,
                "path": f.path,
                "line": f.line,
                "column": f.column,
                "end_line": f.end_line,
                "end_column": f.end_column,
                "message": f.message,
                "fingerprint": f.fingerprint,
            }
            for f in report.findings
        ],
        "summary": {
            "files": report.files,
            "findings": len(report.findings),
            "by_severity": severity_counts(report),
        },
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
