"""Reporters turn a finished Report into output. They never see a tree."""

from __future__ import annotations

from collections import Counter

from ..engine import Report
from ..findings import Severity

FORMATS = ("text", "concise", "json")


def severity_counts(report: Report) -> dict[str, int]:
    counts = Counter(f.severity for f in report.findings)
    return {s.label: counts.get(s, 0) for s in sorted(Severity, reverse=True)}
