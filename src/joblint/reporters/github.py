"""`--format github`: GitHub Actions workflow commands, one annotation per finding.

`::error file=…,line=…,col=…,endLine=…,endColumn=…,title=JL101 record-argument::message`.
Paths are relative to the repository root (what GitHub resolves annotations against); columns
count characters. GitHub takes columns only for a one-line span, so a finding that spans lines
gives `line` and `endLine` alone.
"""

from __future__ import annotations

from ..engine import Report
from ..findings import Finding, Severity, printable
from . import ReportContext
from .sarif import repository_path, repository_root

COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(text: str) -> str:
    """The message part of a workflow command: `%`, CR and LF are percent-encoded, and the other
    control characters (ESC sequences the log viewer would interpret) shown as escapes."""
    encoded = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return printable(encoded)


def escape_property(text: str) -> str:
    """A property value: as the message, plus `:` and `,`, which delimit properties."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render(report: Report, context: ReportContext) -> str:
    root = repository_root(context.cwd)
    return "".join(
        _command(finding, repository_path(finding.path, context.cwd, root))
        for finding in report.findings
    )


def _command(finding: Finding, path: str) -> str:
    properties = [("file", path), ("line", str(finding.line))]
    if finding.end_line == finding.line:
        properties.append(("col", str(finding.column)))
    properties.append(("endLine", str(finding.end_line)))
    if finding.end_line == finding.line:
        properties.append(("endColumn", str(finding.end_column)))
    properties.append(("title", f"{finding.code} {finding.name}"))
    listed = ",".join(f"{key}={escape_property(value)}" for key, value in properties)
    message = f"{finding.message}\n{finding.help}" if finding.help else finding.message
    return f"::{COMMANDS[finding.severity]} {listed}::{escape_data(message)}\n"
