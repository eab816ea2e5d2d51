"""Safe fixes: apply rules' byte edits, refuse a fix that breaks parsing, show diffs."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from . import ruby
from .engine import FileFixes, Report
from .findings import Edit


@dataclass(frozen=True)
class FixedFile:
    display: str
    path: Path
    before: bytes
    after: bytes
    applied: int  # edits applied


def apply_edits(data: bytes, edits: list[Edit]) -> tuple[bytes, int]:
    """Apply non-overlapping edits (an edit overlapping an earlier one is skipped)."""
    out = []
    position = 0
    applied = 0
    for edit in sorted(set(edits), key=lambda e: (e.start_byte, e.end_byte)):
        if edit.start_byte < position:
            continue
        out.append(data[position : edit.start_byte])
        out.append(edit.replacement)
        position = edit.end_byte
        applied += 1
    out.append(data[position:])
    return b"".join(out), applied


def plan(report: Report) -> tuple[list[FixedFile], list[str]]:
    """The fixed contents of each file, and the files whose fix was refused."""
    fixed, refused = [], []
    for display in sorted(report.fixes):
        fixes: FileFixes = report.fixes[display]
        after, applied = apply_edits(fixes.data, fixes.edits)
        if after == fixes.data:
            continue
        broke = ruby.first_error(ruby.parse(after)) is not None
        if broke and ruby.first_error(ruby.parse(fixes.data)) is None:
            refused.append(display)  # the fix would introduce a syntax error: not written
            continue
        fixed.append(FixedFile(display, fixes.path, fixes.data, after, applied))
    return fixed, refused


def write(files: list[FixedFile]) -> None:
    for file in files:
        file.path.write_bytes(file.after)


def unified_diff(files: list[FixedFile]) -> str:
    chunks = []
    for file in files:
        chunks.extend(
            difflib.unified_diff(
                file.before.decode("utf-8").splitlines(keepends=True),
                file.after.decode("utf-8").splitlines(keepends=True),
                fromfile=f"a/{file.display}",
                tofile=f"b/{file.display}",
            )
        )
    return "".join(chunks)
