"""A source file: its bytes, its lazily parsed tree, and byte offset → line/column."""

from __future__ import annotations

import os
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import ruby


@dataclass(frozen=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based, in characters
    utf16_column: int  # 1-based, in UTF-16 code units (SARIF)


class SourceFile:
    """One file of the app. `relpath` is relative to the Rails root, with forward slashes.

    `load`, instead of `data`: reads the bytes from the path when they are first asked for —
    a model file whose class definitions come from the cache may never be."""

    def __init__(
        self, path: Path | str, relpath: str, data: bytes | None = None,
        load: Callable[[str | Path], bytes] | None = None,
    ):
        self._path = path  # made a Path when asked for: most model files never are
        self.relpath = relpath
        self._data = data
        self._load = load
        self._tree: ruby.Tree | None = None
        self._line_starts: list[int] | None = None
        # analyses derived from the tree, computed once and shared by the model and the rules
        self.derived: dict[str, object] = {}
        self.too_deep = False  # nested past ruby.MAX_ASCENT: not analysed

    def __repr__(self) -> str:
        return f"SourceFile(path={self.path!r}, relpath={self.relpath!r})"

    @property
    def path(self) -> Path:
        if not isinstance(self._path, Path):
            self._path = Path(self._path)
        return self._path

    @property
    def data(self) -> bytes:
        if self._data is None:
            self._data = self._load(self._path) if self._load is not None else b""
            self._load = None
        return self._data

    @property
    def loaded(self) -> bool:
        """Have the bytes been read (always, for a file not made with `load`)?"""
        return self._data is not None

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


# not from the tree: the bytes' hash, and the cache's entry for them
DATA_DERIVED = frozenset({"content_hash", "cache_entry", "line_texts", "ascii_lines"})


class TreeBudget:
    """The parsed trees kept at once, by the size of their sources. A tree takes about sixty
    times its source in memory, and the project model keeps every file it reads: on 10,000
    files that was gigabytes. Past the budget, trees are let go and parsed again if a rule asks
    for them: first those of files the run will not analyse (the project model read them once),
    least recently used first; then those of files still to be analysed. `JOBLINT_TREE_BUDGET`
    (bytes of source) sets the budget, for tests that make every run re-parse."""

    DEFAULT = 5 * 1024 * 1024
    PER_FILE = 334  # what each file's share of the project model costs, in bytes of trees' source
    MINIMUM = 512 * 1024

    def __init__(self, limit: int | None = None):
        self.fixed = limit is not None  # set by JOBLINT_TREE_BUDGET: not adapted to the app
        self.limit = self.DEFAULT if limit is None else limit
        self.others: dict[int, SourceFile] = {}  # trees of files not (or no longer) to analyse
        self.ahead: dict[int, SourceFile] = {}  # trees of files still to analyse
        self.expected: set[int] = set()  # the files still to analyse
        self.size = 0
        self.pinned: set[int] = set()  # files being analysed: their nodes are in use
        self.filling = 0  # > 0 while the project model reads many files once

    def expect(self, sources: Iterable[SourceFile], files: int = 0) -> None:
        """The files this run will analyse: their trees are kept before the others'. `files`:
        how many the run checks; the model holds several KB per file besides the trees, so the
        trees get less on a large app (4.9 MB of source on 1,000 files, 4.4 MB on 2,500 — no
        tree parsed twice on a 4 MB app —, 1.9 MB on 10,000), and the whole run stays under
        250 MB: 206–214 MB on the generated 10,000-file app. (Measured again once files were read
        without a buffer of the size limit, which had held 36 MB of that app's peak.)"""
        if not self.fixed:
            self.limit = max(self.MINIMUM, self.DEFAULT - self.PER_FILE * files)
        self.expected = {id(s) for s in sources}
        for pool, other in ((self.others, self.ahead), (self.ahead, self.others)):
            for key in [k for k in pool if (k in self.expected) == (pool is self.others)]:
                other[key] = pool.pop(key)

    def analysed(self, source: SourceFile) -> None:
        """The file has been analysed: its tree is now the first to go."""
        key = id(source)
        self.expected.discard(key)
        if key in self.ahead:
            self.others[key] = self.ahead.pop(key)

    @contextmanager
    def reading_many(self) -> Iterator[None]:
        """While the project model reads files one after another (the class index, a fact
        scanning every model), the trees of files still to analyse that do not fit are the
        most recent ones, not the oldest: the oldest are the files the analysis starts with,
        and a sweep through more files than fit would otherwise evict each before its use."""
        self.filling += 1
        try:
            yield
        finally:
            self.filling -= 1

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
        pool = self.ahead if key in self.expected else self.others
        if key in pool:
            if next(reversed(pool)) != key:
                pool[key] = pool.pop(key)
            return
        pool[key] = source
        self.size += len(source.data)
        while self.size > self.limit:
            victim = self._victim(key)
            if victim is None:
                break
            evicted = victim.pop(next(k for k in self._order(victim) if k != key and k not in self.pinned))
            self.size -= len(evicted.data)
            evicted.release()

    def _order(self, pool: dict[int, SourceFile]) -> Iterator[int]:
        return reversed(pool) if pool is self.ahead and self.filling else iter(pool)

    def _victim(self, key: int) -> dict[int, SourceFile] | None:
        """The pool to let a tree go from: one with a tree that is not in use."""
        for pool in (self.others, self.ahead):
            if any(k != key and k not in self.pinned for k in self._order(pool)):
                return pool
        return None


TREES = TreeBudget(int(os.environ["JOBLINT_TREE_BUDGET"]) if os.environ.get("JOBLINT_TREE_BUDGET") else None)


RUBY_SUFFIXES = (".rb", ".rake", ".ru", ".jbuilder")
RUBY_NAMES = ("Gemfile", "Rakefile")


def is_ruby_path(relpath: str) -> bool:
    name = relpath.rsplit("/", 1)[-1]
    return name.endswith(RUBY_SUFFIXES) or name in RUBY_NAMES
