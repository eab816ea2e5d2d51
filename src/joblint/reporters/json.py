"""`--format json`: one object, keys in the order of the contract (cli.md).

Each finding ends with three keys added after the contract's `fingerprint` (additive: the
earlier keys keep their order and meaning): `fix` (a safe fix exists, `--fix` applies it),
`help` (the rule's one-line help) and `url` (the rule's page, as SARIF's `helpUri`).
"""

from __future__ import annotations

import json

from .. import __version__, catalogue, rules
from ..engine import Report
from ..findings import Finding
from . import ReportContext, severity_counts


def render(report: Report, context: ReportContext) -> str:
    document = {
        "version": __version__,
        "findings": [_finding(f) for f in report.findings],
        "summary": {
            "files": report.files,
            "findings": len(report.findings),
            "by_severity": severity_counts(report),
        },
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _finding(f: Finding) -> dict[str, object]:
    rule = rules.lookup(f.code)
    return {
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
        "fix": f.fixable,
        "help": f.help,
        "url": catalogue.help_uri(rule) if rule is not None else None,
    }
