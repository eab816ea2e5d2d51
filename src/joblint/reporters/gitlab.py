"""`--format gitlab`: GitLab Code Quality JSON, for a job's `artifacts:reports:codequality`.

Each finding is an object with `description`, `check_name`, `fingerprint`, `severity`,
`location.path` (relative to the repository root) and `location.lines.begin`, plus the Code
Climate fields GitLab ignores but other consumers want (`type`, `categories`, `engine_name`).

Severity: error → critical, warning → major, info → info (GitLab's scale is info, minor,
major, critical, blocker; joblint reports nothing as a blocker). The fingerprint is the SHA-256
of the repository path and joblint's line-independent fingerprint, so moving code keeps the
issue and two apps of one repository never collide.
"""

from __future__ import annotations

import hashlib
import json

from .. import rules
from ..engine import Report
from ..findings import Finding, Severity
from . import ReportContext
from .sarif import repository_path, repository_root

SEVERITIES = {Severity.ERROR: "critical", Severity.WARNING: "major", Severity.INFO: "info"}
CATEGORIES = {"JL5": "Performance"}  # family prefix → Code Climate category; "Bug Risk" otherwise


def render(report: Report, context: ReportContext) -> str:
    root = repository_root(context.cwd)
    issues = [
        _issue(finding, repository_path(finding.path, context.cwd, root))
        for finding in report.findings
    ]
    return json.dumps(issues, indent=2, ensure_ascii=False) + "\n"


def _issue(finding: Finding, path: str) -> dict[str, object]:
    rule = rules.lookup(finding.code)
    security = rule is not None and rule.cwe is not None
    category = "Security" if security else CATEGORIES.get(finding.code[:3], "Bug Risk")
    return {
        "type": "issue",
        "engine_name": "joblint",
        "check_name": finding.code,
        "description": f"{finding.code} {finding.name}: {finding.message}",
        "categories": [category],
        "severity": SEVERITIES[finding.severity],
        "fingerprint": hashlib.sha256(f"{path}\0{finding.fingerprint}".encode()).hexdigest(),
        "location": {"path": path, "lines": {"begin": finding.line, "end": finding.end_line}},
    }
