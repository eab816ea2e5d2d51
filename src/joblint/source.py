"""A source file: its bytes, its lazily parsed tree, and byte offset → line/column."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path

from . import ruby


@dataclass(frozen=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based, in characters
    utf16_column: int  # 1-based, in UTF-16 code units (SARIF)


@dataclass(eq=False)
class SourceFile:
    """One file of the app. `relpath` is relative to the Rails root, with forward slashes."""

    path: Path
    relpath: str
    data: bytes
    _tree: ruby.Tree | None = field(default=None, repr=False)
    _line_starts: list[int] | None = field(default=None, repr=False)
    # analyses derived from the tree, computed once and shared by the model and the rules
    derived: dict[str, object] = field(default_factory=dict, repr=False)
    too_deep: bool = field(default=False, repr=False)  # nested past ruby.MAX_ASCENT: not analysed

    @property
    def is_ruby(self) -> bool:
        return is_ruby_path(self.relpath)

    @property
    def parsed(self) -> bool:
        return self._tree is not None

    @property
    def tree(self) -> ruby.Tree:
        if self._tree is None:
            self._tree = ruby.parse(self.data)
        return self._tree

    @property
    def root(self) -> ruby.Node:
        return self.tree.root_node

    def contains_any(self, words: tuple[bytes, ...]) -> bool:
        return any(word in self.data for word in words)

    def in_dir(self, *prefixes: str) -> bool:
        return any(self.relpath.startswith(prefix.rstrip("/") + "/") for prefix in prefixes)

    @property
    def line_starts(self) -> list[int]:
        if self._line_starts is None:
            starts = [0]
            index = self.data.find(b"\n")
            while index != -1:
                starts.append(index + 1)
                index = self.data.find(b"\n", index + 1)
            self._line_starts = starts
        return self._line_starts

    def position(self, byte_offset: int) -> Position:
        starts = self.line_starts
        row = bisect_right(starts, byte_offset) - 1
        if self._ascii_line(row):  # the usual case: a column is a byte count, no decoding
            column = byte_offset - starts[row] + 1
            return Position(row + 1, column, column)
        prefix = self.data[starts[row] : byte_offset].decode("utf-8", errors="replace")
        utf16 = len(prefix.encode("utf-16-le")) // 2
        return Position(row + 1, len(prefix) + 1, utf16 + 1)

    def _ascii_line(self, row: int) -> bool:
        """Is line `row` (0-based) pure ASCII? Decided once per line: findings on one very long
        line would otherwise decode it again each (20,000 findings on an 800 KB line: minutes)."""
        known = self.derived.setdefault("ascii_lines", {})
        assert isinstance(known, dict)
        if row not in known:
            starts = self.line_starts
            end = starts[row + 1] if row + 1 < len(starts) else len(self.data)
            known[row] = self.data[starts[row] : end].isascii()
        return known[row]

    def line_text(self, line: int) -> str:
        starts = self.line_starts
        if not 1 <= line <= len(starts):
            return ""
        texts = self.derived.setdefault("line_texts", {})
        assert isinstance(texts, dict)
        if line not in texts:  # decoded once per line, however many findings it has
            start = starts[line - 1]
            end = starts[line] - 1 if line < len(starts) else len(self.data)
            texts[line] = self.data[start:end].decode("utf-8", errors="replace").rstrip("\r")
        return texts[line]


RUBY_SUFFIXES = (".rb", ".rake", ".ru", ".jbuilder")
RUBY_NAMES = ("Gemfile", "Rakefile")


def is_ruby_path(relpath: str) -> bool:
    name = relpath.rsplit("/", 1)[-1]
    return name.endswith(RUBY_SUFFIXES) or name in RUBY_NAMES
