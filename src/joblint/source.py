"""A source file: its bytes, its lazily parsed tree, and byte offset → line/column."""

from __future__ import annotations

import os
from bisect import bisect_right
from collections.abc import Iterator
from contextlib import contextmanager
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
        TREES.used(self)
        return self._tree

    def release(self) -> None:
        """Let the tree go (it is parsed again if asked for), with what was derived from it."""
        self._tree = None
        for key in [k for k in self.derived if k not in DATA_DERIVED]:
            del self.derived[key]

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


DATA_DERIVED = frozenset({"content_hash", "line_texts", "ascii_lines"})  # not from the tree


class TreeBudget:
    """The parsed trees kept at once, by the size of their sources. A tree takes about sixty
    times its source in memory, and the project model keeps every file it reads: on 10,000
    files that was gigabytes. Past the budget the least recently used trees are let go, and
    parsed again if a rule asks for them. The default (3 MB of source, about 200 MB of trees)
    is more than a large app's files that rules parse, so apps of that size never re-parse;
    `JOBLINT_TREE_BUDGET` (bytes) sets it, for tests that make every run re-parse."""

    def __init__(self, limit: int):
        self.limit = limit
        self.live: dict[int, SourceFile] = {}  # in order of use, oldest first
        self.size = 0
        self.pinned: set[int] = set()  # files being analysed: their nodes are in use

    @contextmanager
    def pinning(self, source: SourceFile) -> Iterator[None]:
        """Keep the file's tree while it is analysed: a rule compares nodes of one tree."""
        self.pinned.add(id(source))
        try:
            yield
        finally:
            self.pinned.discard(id(source))

    def used(self, source: SourceFile) -> None:
        key = id(source)
        if key in self.live:
            if next(reversed(self.live)) != key:
                self.live[key] = self.live.pop(key)
            return
        self.live[key] = source
        self.size += len(source.data)
        if self.size <= self.limit:
            return
        for oldest in list(self.live):
            if self.size <= self.limit:
                break
            if oldest == key or oldest in self.pinned:
                continue
            evicted = self.live.pop(oldest)
            self.size -= len(evicted.data)
            evicted.release()


TREES = TreeBudget(int(os.environ.get("JOBLINT_TREE_BUDGET") or 3 * 1024 * 1024))


RUBY_SUFFIXES = (".rb", ".rake", ".ru", ".jbuilder")
RUBY_NAMES = ("Gemfile", "Rakefile")


def is_ruby_path(relpath: str) -> bool:
    name = relpath.rsplit("/", 1)[-1]
    return name.endswith(RUBY_SUFFIXES) or name in RUBY_NAMES
