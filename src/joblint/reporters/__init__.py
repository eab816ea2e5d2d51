"""Reporters turn a finished Report into output. They never see a tree.

Every machine format is a module with `render(report, context) -> str`, registered in
`FORMATS`; `text` is rendered on a rich console by `reporters.text`.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..engine import Report
from ..findings import Severity

if TYPE_CHECKING:
    from ..rules import Rule

# format name → module under joblint.reporters with `render(report, context) -> str`
FORMATS: dict[str, str] = {
    "text": "text",
    "concise": "concise",
    "json": "json",
    "sarif": "sarif",
    "github": "github",
    "gitlab": "gitlab",
}


def _ignore(message: str) -> None:
    pass


@dataclass(frozen=True)
class ReportContext:
    """What a reporter may need beyond the findings."""

    rules: Sequence[type[Rule]] = ()  # the enabled rules
    cwd: Path = field(default_factory=Path.cwd)  # finding paths are relative to it
    sarif_category: str = "joblint/"
    warn: Callable[[str], None] = _ignore  # a one-line notice for stderr


# formats that end with a summary line, which `summary=False` (`--quiet`) leaves out
WITH_SUMMARY = frozenset({"concise"})


def render(
    output_format: str, report: Report, context: ReportContext, *, summary: bool = True
) -> str:
    module = importlib.import_module(f"{__name__}.{FORMATS[output_format]}")
    if output_format in WITH_SUMMARY:
        return module.render(report, context, summary=summary)  # type: ignore[no-any-return]
    return module.render(report, context)  # type: ignore[no-any-return]


def severity_counts(report: Report) -> dict[str, int]:
    counts = Counter(f.severity for f in report.findings)
    return {s.label: counts.get(s, 0) for s in sorted(Severity, reverse=True)}
