"""`--format sarif`: SARIF 2.1.0, built with `sarif-om`, ready for GitHub code scanning.

What GitHub code scanning needs, and how we meet it:
- Percent-encoded URIs relative to the repository root (the nearest directory at or above the
  current one that holds `.git`; the current directory without one), with `uriBaseId: %SRCROOT%`
  and the root as an absolute `file://` URI in the run's `originalUriBaseIds`.
- Regions with 1-based lines and columns counted in UTF-16 code units (`columnKind`).
- `partialFingerprints["joblint/v1"]`: the line-independent fingerprint of the finding (the
  baseline's recipe), so an alert survives lines inserted above it. We never set
  `primaryLocationLineHash`: upload-sarif computes that key itself and warns on a different value.
- Rules carry `precision` and `tags`; security rules (those with a CWE) also carry the `security`
  tag, `external/cwe/cwe-N`, and a `security-severity` score (see `SECURITY_SEVERITY`).
- Findings hidden by `# joblint:disable` or by the baseline are results too, with
  `suppressions: [{"kind": "inSource"}]` (and the comment's reason as `justification`) or
  `[{"kind": "external"}]`: code scanning shows them as dismissed instead of open, or closes the
  open alert. (per-file-ignores act like an unselected rule: no result.)
- At most 25,000 results per run: beyond that we keep the most severe, unsuppressed first, and
  say so on stderr.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import attr
import sarif_om as om

from .. import __version__, catalogue, rules
from ..engine import Report
from ..findings import Finding, Severity, Suppressed
from ..rules import Rule
from . import ReportContext

SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "joblint/v1"
MAX_RESULTS = 25_000  # GitHub code scanning rejects a run with more

LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
# GitHub reads security-severity as CVSS-like: >= 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium,
# 0.1-3.9 low. We map the rule's severity onto the middle of the matching band.
SECURITY_SEVERITY = {Severity.ERROR: "8.0", Severity.WARNING: "5.5", Severity.INFO: "3.0"}
# Rules are written to keep false positives lowest; none is a heuristic "low" precision check.
PRECISION = "high"


# a result to write: the finding, and what suppressed it (None: an open finding)
Entry = tuple[Finding, Suppressed | None]


def render(report: Report, context: ReportContext) -> str:
    entries: list[Entry] = [(f, None) for f in report.findings]
    entries += [(s.finding, s) for s in report.suppressed]
    entries.sort(key=lambda entry: entry[0].sort_key)
    entries = _within_limit(entries, context)
    root = repository_root(context.cwd)
    descriptors = _rules([finding for finding, _ in entries])
    index = {rule.code: number for number, rule in enumerate(descriptors)}
    run = om.Run(
        tool=om.Tool(
            driver=om.ToolComponent(
                name="joblint",
                version=__version__,
                semantic_version=__version__,
                information_uri=catalogue.REPOSITORY,
                rules=[_descriptor(rule) for rule in descriptors] or None,
            )
        ),
        results=[
            _result(f, index[f.code], _artifact(f.path, context.cwd, root), suppressed)
            for f, suppressed in entries
        ],
        column_kind="utf16CodeUnits",
        original_uri_base_ids={SRCROOT: om.ArtifactLocation(uri=root.as_uri() + "/")},
        automation_details=om.RunAutomationDetails(id=context.sarif_category),
        invocations=[_invocation(report)],
    )
    log = om.SarifLog(version="2.1.0", schema_uri=SCHEMA_URI, runs=[run])
    document = to_json(log)
    ordered = {key: document[key] for key in ("$schema", "version", "runs")}
    return json.dumps(ordered, indent=2, ensure_ascii=False) + "\n"


def _within_limit(entries: list[Entry], context: ReportContext) -> list[Entry]:
    if len(entries) <= MAX_RESULTS:
        return entries
    # open findings before suppressed ones, then the most severe; stable: path order within
    kept = sorted(entries, key=lambda e: (e[1] is not None, -e[0].severity))[:MAX_RESULTS]
    context.warn(
        f"SARIF: {len(entries)} results exceed GitHub's limit of {MAX_RESULTS:,} per run; "
        f"kept the {MAX_RESULTS:,} most severe"
    )
    return sorted(kept, key=lambda e: e[0].sort_key)


def _rules(findings: list[Finding]) -> list[type[Rule]]:
    """The rules that reported, by code: a new rule elsewhere never changes an upload's rules."""
    found = (rules.lookup(code) for code in sorted({f.code for f in findings}))
    return [rule for rule in found if rule is not None]


def _descriptor(rule: type[Rule]) -> om.ReportingDescriptor:
    sections = rule.doc_sections()
    properties: dict[str, object] = {"tags": _tags(rule), "precision": PRECISION}
    if rule.cwe:
        properties["security-severity"] = SECURITY_SEVERITY[rule.severity]
    return om.ReportingDescriptor(
        id=rule.code,
        name=rule.name,
        short_description=om.MultiformatMessageString(text=rule.summary),
        full_description=om.MultiformatMessageString(
            text=sections.get("What it does", rule.summary)
        ),
        help=om.MultiformatMessageString(text=_help_text(sections), markdown=catalogue.page(rule)),
        help_uri=catalogue.help_uri(rule),
        default_configuration=om.ReportingConfiguration(level=LEVELS[rule.severity]),
        properties=properties,
    )


def _tags(rule: type[Rule]) -> list[str]:
    """Slugs, so they work in code scanning's `tag:` filter: `queues-schedules-and-backends`."""
    tags = [_slug(tag) for tag in (rule.family(), *rule.tags)]
    if rule.cwe:
        tags += ["security", f"external/cwe/cwe-{rule.cwe}"]
    return list(dict.fromkeys(t for t in tags if t))  # unique, in order


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9/]+", "-", text.lower()).strip("-")


def _help_text(sections: dict[str, str]) -> str:
    return "\n\n".join(f"{title}\n\n{body}" for title, body in sections.items())


def _artifact(display_path: str, cwd: Path, root: Path) -> om.ArtifactLocation:
    """Percent-encoded and relative to %SRCROOT%; a file outside the repository keeps its
    absolute `file://` URI (code scanning will not show it, a SARIF viewer can open it)."""
    absolute = Path(os.path.normpath(os.path.join(os.path.abspath(cwd), display_path)))
    if not absolute.is_relative_to(root):
        return om.ArtifactLocation(uri=absolute.as_uri())
    relative = repository_path(display_path, cwd, root)
    return om.ArtifactLocation(uri=quote(relative), uri_base_id=SRCROOT)


def _result(
    finding: Finding,
    rule_index: int,
    artifact: om.ArtifactLocation,
    suppressed: Suppressed | None = None,
) -> om.Result:
    region = om.Region(
        start_line=finding.line,
        start_column=finding.utf16_column or finding.column,
        end_line=finding.end_line,
        end_column=finding.utf16_end_column or finding.end_column,
    )
    return om.Result(
        rule_id=finding.code,
        rule_index=rule_index,
        level=LEVELS[finding.severity],
        message=om.Message(text=finding.message),
        locations=[
            om.Location(
                physical_location=om.PhysicalLocation(
                    artifact_location=artifact,
                    region=region,
                )
            )
        ],
        partial_fingerprints={FINGERPRINT_KEY: finding.fingerprint},
        suppressions=[_suppression(suppressed)] if suppressed is not None else None,
    )


def _suppression(suppressed: Suppressed) -> om.Suppression:
    return om.Suppression(kind=suppressed.kind, justification=suppressed.justification or None)


def _invocation(report: Report) -> om.Invocation:
    notifications = [
        om.Notification(message=om.Message(text=str(problem)), level="warning")
        for problem in report.problems
    ] + [om.Notification(message=om.Message(text=crash), level="error") for crash in report.crashes]
    return om.Invocation(
        execution_successful=not report.failed,
        tool_execution_notifications=notifications or None,
    )


def repository_root(cwd: Path) -> Path:
    """The repository root code scanning resolves paths against: the nearest `.git` above cwd."""
    start = Path(os.path.abspath(cwd))
    for directory in (start, *start.parents):
        if (directory / ".git").exists():
            return directory
    return start


def repository_path(display_path: str, cwd: Path, root: Path) -> str:
    """A finding's path (relative to cwd) made relative to the repository root, forward slashes."""
    absolute = os.path.normpath(os.path.join(os.path.abspath(cwd), display_path))
    try:
        relative = os.path.relpath(absolute, root)
    except ValueError:  # another drive on Windows
        return Path(absolute).as_posix()
    return relative.replace(os.sep, "/")


# sarif-om fields whose default we still write, because GitHub reads them
_ALWAYS = {"level"}


def to_json(value: Any) -> Any:
    """sarif-om objects → JSON values: schema property names; unset and default fields omitted."""
    if attr.has(type(value)):
        document = {}
        for field in attr.fields(type(value)):
            item = getattr(value, field.name)
            default = field.default
            if isinstance(default, attr.Factory):  # type: ignore[arg-type]
                default = default.factory()
            if item is None or (item == default and field.name not in _ALWAYS):
                continue
            document[field.metadata["schema_property_name"]] = to_json(item)
        return document
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    return value
