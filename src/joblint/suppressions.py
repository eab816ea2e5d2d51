"""Inline suppression comments, RuboCop-style, in Ruby and YAML files.

    x = 1  # joblint:disable JL101 -- reason      that line
    # joblint:disable JL101, record-argument      a region, until `# joblint:enable JL101`
    # joblint:disable-file all                    the whole file

Comments are found by scanning the text, so a file need not be parsed for its directives to
count (and YAML files use the same syntax).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from . import rules
from .patterns import lazy_pattern
from .source import SourceFile

_DIRECTIVE = lazy_pattern(
    rb"#[ \t]*joblint:(disable-file|disable|enable)\b[ \t]*([^\r\n]*)"
)
ALL = "all"


@dataclass
class Directive:
    kind: str  # disable | enable | disable-file
    codes: tuple[str, ...]  # resolved rule codes, or "all"
    unknown: tuple[str, ...]  # names in the comment that are no rule
    line: int
    start_byte: int
    end_byte: int
    trailing: bool  # code precedes the comment on its line
    reason: str = ""  # the text after ` -- `
    used: set[str] = field(default_factory=set)  # codes that suppressed a finding

    def covers(self, code: str) -> str | None:
        if code in self.codes:
            return code
        return ALL if ALL in self.codes else None


def parse(source: SourceFile) -> list[Directive]:
    if b"joblint:" not in source.data:
        return []
    directives = []
    for match in _DIRECTIVE.finditer(source.data):
        start = match.start()
        position = source.position(start)
        line_start = source.line_starts[position.line - 1]
        before = source.data[line_start:start]
        if before.count(b'"') % 2 or before.count(b"'") % 2:
            continue  # inside a string literal, not a comment
        words, _, reason = match.group(2).decode("utf-8", errors="replace").partition(" -- ")
        codes, unknown = _resolve(re.split(r"[,\s]+", words.strip()))
        directives.append(
            Directive(
                kind=match.group(1).decode(),
                codes=codes,
                unknown=unknown,
                line=position.line,
                start_byte=start,
                end_byte=match.end(),
                trailing=bool(before.strip()),
                reason=reason.strip(),
            )
        )
    return directives


def _resolve(words: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    codes: list[str] = []
    unknown: list[str] = []
    for word in words:
        if not word:
            continue
        if word.lower() == ALL:
            codes.append(ALL)
            continue
        rule = rules.lookup(word)
        if rule is None:
            unknown.append(word)
        else:
            codes.append(rule.code)
    return tuple(dict.fromkeys(codes)), tuple(unknown)


class Suppressions:
    """Answers "is finding CODE on LINE suppressed?" and remembers which directives were used."""

    def __init__(self, directives: list[Directive]):
        self.directives = directives
        self._trailing = {d.line: d for d in directives if d.kind == "disable" and d.trailing}
        self._file = [d for d in directives if d.kind == "disable-file"]
        self._regions: list[tuple[Directive, int, int]] = []  # directive, first line, last line
        open_regions: list[Directive] = []
        for directive in sorted(directives, key=lambda d: d.start_byte):
            if directive.kind == "disable" and not directive.trailing:
                open_regions.append(directive)
            elif directive.kind == "enable":
                for region in list(open_regions):
                    closing = [c for c in directive.codes if c == ALL or c in region.codes]
                    if closing:
                        self._regions.append((region, region.line + 1, directive.line - 1))
                        open_regions.remove(region)
        self._regions.extend((region, region.line + 1, 1 << 30) for region in open_regions)

    def suppress(self, code: str, line: int) -> Directive | None:
        """The directive that covers the finding, marked used; None when none does."""
        candidates: list[Directive] = []
        trailing = self._trailing.get(line)
        if trailing is not None:
            candidates.append(trailing)
        candidates.extend(d for d, first, last in self._regions if first <= line <= last)
        candidates.extend(self._file)
        for directive in candidates:
            covered = directive.covers(code)
            if covered is not None:
                directive.used.add(covered)
                return directive
        return None

    def unused(self, enabled: set[str]) -> list[tuple[Directive, str]]:
        """(directive, code or unknown name) pairs that suppressed nothing; only codes of
        enabled rules count (a directive for a rule that did not run cannot be judged)."""
        found = []
        for directive in self.directives:
            if directive.kind == "enable":
                continue
            for code in directive.codes:
                if code not in directive.used and (code == ALL or code in enabled):
                    found.append((directive, code))
            found.extend((directive, name) for name in directive.unknown)
        return found
