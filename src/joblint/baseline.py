"""Baselines: record today's findings by fingerprint, then hide exactly those.

The fingerprint has no line numbers (rule, root-relative path, enclosing class and method,
normalised node text, occurrence index), so moving code or adding lines above a finding keeps
it hidden, while a new finding — even a second identical one in the same method — shows.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .engine import Report
from .findings import EXTERNAL, Suppressed

FORMAT_VERSION = 1


class BaselineError(Exception):
    pass


@dataclass(frozen=True)
class Entry:
    code: str
    path: str
    fingerprint: str
    message: str
    count: int


def entries(report: Report) -> list[Entry]:
    counts = Counter(f.fingerprint for f in report.findings)
    first = {}
    for finding in report.findings:
        first.setdefault(finding.fingerprint, finding)
    return sorted(
        (
            Entry(f.code, f.path, fp, f.message, counts[fp])
            for fp, f in first.items()
        ),
        key=lambda e: (e.path, e.code, e.fingerprint),
    )


def write(report: Report, path: Path) -> int:
    rows = entries(report)
    document = {
        "joblint-baseline": FORMAT_VERSION,
        "findings": [
            {"code": e.code, "path": e.path, "fingerprint": e.fingerprint,
             "message": e.message, "count": e.count}
            for e in rows
        ],
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return sum(e.count for e in rows)


@dataclass
class Baseline:
    accepted: Counter[str]  # fingerprint → how many findings with it are accepted
    paths: dict[str, str]  # fingerprint → the path it was recorded for


def load(path: Path) -> Baseline:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise BaselineError(f"{path}: cannot read the baseline: {error.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BaselineError(f"{path}: not a joblint baseline (invalid JSON: {error})") from None
    if not isinstance(document, dict) or not isinstance(document.get("findings"), list):
        raise BaselineError(f"{path}: not a joblint baseline (no 'findings' list)")
    accepted: Counter[str] = Counter()
    paths: dict[str, str] = {}
    for row in document["findings"]:
        if not isinstance(row, dict) or not isinstance(row.get("fingerprint"), str):
            raise BaselineError(f"{path}: not a joblint baseline (an entry has no fingerprint)")
        count = row.get("count", 1)
        accepted[row["fingerprint"]] += count if isinstance(count, int) and count > 0 else 1
        paths[row["fingerprint"]] = str(row.get("path", ""))
    return Baseline(accepted, paths)


def apply(report: Report, baseline: Baseline) -> None:
    """Move baselined findings to `report.suppressed` (kind `external`: SARIF lists them as
    suppressed, other formats hide them); count the entries, for files linted in this run,
    that no longer occur (entries of files outside this run are not "fixed", just not looked at)."""
    remaining = Counter(baseline.accepted)
    kept = []
    for finding in report.findings:
        if remaining[finding.fingerprint] > 0:
            remaining[finding.fingerprint] -= 1
            report.suppressed.append(Suppressed(finding, EXTERNAL))
        else:
            kept.append(finding)
    report.findings = kept
    report.suppressed.sort(key=lambda s: s.finding.sort_key)
    report.baseline_fixed = sum(
        count for fp, count in remaining.items() if baseline.paths.get(fp) in report.linted
    )
