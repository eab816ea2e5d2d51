"""`--format gitlab`: GitLab Code Quality JSON, for a job's `artifacts:reports:codequality`.

Each finding is an object with `description`, `check_name`, `fingerprint`, `severity`,
`location.path` (relative to the repository root) and `location.lines.begin`, plus the Code
Climate fields GitLab ignores but other consumers want (`type`, `categories`, `engine_name`).

Categories (the Code Climate list GitLab reads: Bug Risk, Clarity, Compatibility, Complexity,
Duplication, Performance, Security, Style) follow the rule family — see `category` — and a rule
with a CWE is always "Security".

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
# family prefix → Code Climate category
FAMILY_CATEGORIES = {
    "JL0": "Clarity",  # joblint itself: partial parses, unused suppressions
    "JL1": "Bug Risk",  # arguments
    "JL2": "Bug Risk",  # errors and retries
    "JL3": "Bug Risk",  # idempotency and transactions
    "JL4": "Bug Risk",  # request path and mailers
    "JL5": "Performance",  # performance and memory
    "JL6": "Bug Risk",  # queues, schedules and backends
    "JL7": "Style",  # conventions
}
# rules whose nature differs from their family's
RULE_CATEGORIES = {
    "JL002": "Bug Risk",  # a job config the backend cannot read
    "JL401": "Performance",  # mail delivered inside the request: the user waits for SMTP
    "JL402": "Performance",  # a job performed inside the request: likewise
    "JL705": "Bug Risk",  # a constant Zeitwerk cannot load raises NameError
}


def render(report: Report, context: ReportContext) -> str:
    root = repository_root(context.cwd)
    issues = [
        _issue(finding, repository_path(finding.path, context.cwd, root))
        for finding in report.findings
    ]
    return json.dumps(issues, indent=2, ensure_ascii=False) + "\n"


def category(code: str) -> str:
    """The Code Climate category of a rule: "Security" for a rule with a CWE, else the rule's
    own entry, else its family's."""
    rule = rules.lookup(code)
    if rule is not None and rule.cwe is not None:
        return "Security"
    return RULE_CATEGORIES.get(code) or FAMILY_CATEGORIES.get(code[:3], "Bug Risk")


def _issue(finding: Finding, path: str) -> dict[str, object]:
    return {
        "type": "issue",
        "engine_name": "joblint",
        "check_name": finding.code,
        "description": f"{finding.code} {finding.name}: {finding.message}",
        "categories": [category(finding.code)],
        "severity": SEVERITIES[finding.severity],
        "fingerprint": hashlib.sha256(f"{path}\0{finding.fingerprint}".encode()).hexdigest(),
        "location": {"path": path, "lines": {"begin": finding.line, "end": finding.end_line}},
    }
