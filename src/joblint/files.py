"""Finding and reading files: directory walking with .gitignore and excludes, safe reads."""

from __future__ import annotations

import errno
import fnmatch
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .source import SourceFile

if TYPE_CHECKING:
    import pathspec

MAX_FILE_BYTES = 4 * 1024 * 1024  # larger .rb files are generated (schema dumps, fixtures)
# Directories never walked, as RuboCop's default AllCops/Exclude.
SKIPPED_DIRS = frozenset({".git", "node_modules", "tmp", "vendor", ".bundle", ".joblint_cache"})
# YAML files the job rules read; walked so that findings in them can be reported.
JOB_CONFIG_FILES = frozenset(
    {
        "config/sidekiq.yml",
        "config/queue.yml",
        "config/solid_queue.yml",
        "config/recurring.yml",
        "config/schedule.yml",
        "config/sidekiq_cron.yml",
        "config/sidekiq_schedule.yml",
        "config/sidekiq_scheduler.yml",
        "config/sidekiq-schedule.yml",
        "config/sidekiq-scheduler.yml",
        "config/sidekiq-cron.yml",
        "config/sidekiq_cron_schedule.yml",
        "config/scheduler.yml",
        "config/cron.yml",
        "config/resque_schedule.yml",
        "config/resque-schedule.yml",
    }
)


@dataclass(frozen=True)
class FileProblem:
    """A file that could not be analysed, with a one-line reason for the user."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def is_lintable(relpath: str) -> bool:
    """Files a directory walk picks up: Ruby sources, Gemfile, rake tasks, job YAML configs."""
    name = relpath.rsplit("/", 1)[-1]
    return name.endswith((".rb", ".rake")) or name == "Gemfile" or relpath in JOB_CONFIG_FILES


class NotARegularFile(OSError):
    """A device (`/dev/zero`), a FIFO or a socket: reading it never ends, or blocks."""


# opened without waiting: a FIFO opened for reading would block until a writer came (where
# there is no O_NONBLOCK, Windows, the file's type is checked before it is opened)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_READ_FLAGS = os.O_RDONLY | _NONBLOCK | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
_CHUNK = 64 * 1024  # read past the size the file had when opened (it may grow) in such pieces


def read_bounded(path: Path, limit: int | None = None) -> bytes | None:
    """A regular file's bytes, or None when it is over `limit` (default: the 4 MB limit).
    Anything but a regular file (followed through links) is refused before it is read. The size
    is only a hint (`st_size` is 0 for some files, and a file may grow): it is read to its end,
    never more than limit + 1 bytes. (A buffered `read(limit + 1)` made a buffer of the limit
    for every file: 29 µs a file, three times the read itself.)"""
    limit = MAX_FILE_BYTES if limit is None else limit
    if not _NONBLOCK and not stat.S_ISREG(os.stat(path).st_mode):
        raise NotARegularFile(errno.EINVAL, "not a regular file", str(path))
    try:
        descriptor = os.open(path, _READ_FLAGS)
    except OSError:
        if not stat.S_ISREG(os.stat(path).st_mode):  # a socket cannot be opened at all
            raise NotARegularFile(errno.EINVAL, "not a regular file", str(path)) from None
        raise
    try:
        found = os.fstat(descriptor)
        if not stat.S_ISREG(found.st_mode):
            raise NotARegularFile(errno.EINVAL, "not a regular file", str(path))
        chunks = []
        total, wanted = 0, min(found.st_size, limit) + 1
        while total <= limit:
            chunk = os.read(descriptor, wanted)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            wanted = min(_CHUNK, limit + 1 - total)
    finally:
        os.close(descriptor)
    if total > limit:
        return None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def read_source(
    path: Path, relpath: str, display: str | None = None, data: bytes | None = None
) -> SourceFile | FileProblem:
    """The file's SourceFile, or why it is skipped. `data`: the text to use instead of the
    file's (a buffer given on standard input for that path)."""
    shown = display or relpath
    try:
        if data is None:
            data = read_bounded(path)
        if data is None or len(data) > MAX_FILE_BYTES:
            size = path.stat().st_size if data is None else len(data)
            return FileProblem(
                shown, f"skipped: {size // (1024 * 1024)} MB is over the 4 MB limit (generated?)"
            )
    except NotARegularFile:
        return FileProblem(shown, "skipped: not a regular file (a device, FIFO or socket)")
    except OSError as error:
        return FileProblem(shown, os_reason(error))
    if b"\0" in data:
        return FileProblem(shown, "skipped: binary file (contains NUL bytes)")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        return FileProblem(shown, f"skipped: not valid UTF-8 (line {line})")
    return SourceFile(path=path, relpath=relpath, data=data)


def os_reason(error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return "skipped: symbolic link loop"
    if error.errno == errno.ENOENT:
        return "no such file or directory"
    if error.errno in (errno.EACCES, errno.EPERM):
        return "skipped: permission denied"
    if error.errno == errno.EISDIR:
        return "skipped: is a directory"
    return f"skipped: {error.strerror or error}"


def _anchored(glob: str, base: Path) -> str:
    """A glob given as a filesystem path (the command line turns `../app/legacy` into an
    absolute path) becomes a pattern anchored at the base (`/app/legacy`), the way a glob
    written from the root is read. Other globs are left as written."""
    if not os.path.isabs(glob) or not glob.startswith(os.path.join(str(base), "")):
        return glob
    relative = os.path.relpath(glob, base).replace(os.sep, "/")
    return "/" + relative + ("/" if glob.endswith(("/", os.sep)) else "")


def valid_pattern(pattern: str) -> bool:
    """Is this a gitignore pattern pathspec can compile? It refuses a pattern ending in an
    escaping `\\` (an odd number of them); checked without compiling, which costs 0.1 ms a
    pattern — seconds for a configuration with tens of thousands of excludes."""
    trailing = len(pattern) - len(pattern.rstrip("\\"))
    if trailing % 2 == 0:
        return True
    try:
        import pathspec  # imported by the first pattern: a run that walks nothing never needs it

        pathspec.GitIgnoreSpec.from_lines([pattern])
    except ValueError:  # pathspec's GitIgnorePatternError
        return False
    return True


def split_patterns(lines: list[str]) -> tuple[list[str], list[int]]:
    """The valid gitignore patterns, and the 1-based numbers of the invalid lines; the list is
    compiled once when it is all valid (the usual case), line by line only when it is not."""
    good: list[str] = []
    bad: list[int] = []
    for number, line in enumerate(lines, start=1):
        if valid_pattern(line):
            good.append(line)
        else:
            bad.append(number)
    return good, bad


def gitignore_spec(lines: list[str], where: str) -> tuple[pathspec.GitIgnoreSpec, list[FileProblem]]:
    """A spec of the valid lines, and one problem per invalid line (real repositories carry
    lines pathspec refuses): the pattern is ignored, the run goes on."""
    good, bad = split_patterns(lines)
    problems = [
        FileProblem(f"{where}:{number}", f"not a valid gitignore pattern, ignored: {lines[number - 1]!r}")
        for number in bad
    ]
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(good), problems


class FastSpec:
    """A GitIgnoreSpec matched as one regular expression when none of its patterns negates
    (`!keep.log`): pathspec tries each pattern in turn, in Python, so 50,000 excludes took
    minutes. With a negation, the order matters and pathspec decides."""

    def __init__(self, spec: pathspec.GitIgnoreSpec | None):
        self.spec = spec
        patterns = [p for p in spec.patterns if p.include is not None] if spec is not None else []
        self.combined: re.Pattern[str] | None = None
        if patterns and all(p.include for p in patterns):
            sources = [p.regex.pattern.replace("(?P<ps_d>", "(?:") for p in patterns]
            self.combined = re.compile("|".join(f"(?:{s})" for s in sources))
        self.empty = not patterns

    @classmethod
    def combining(cls, sources: list[str]) -> FastSpec:
        """A spec of including patterns given as regular-expression sources."""
        fast = cls(None)
        if sources:
            fast.combined = re.compile("|".join(f"(?:{s})" for s in sources))
            fast.empty = False
        return fast

    def match_file(self, path: str) -> bool:
        if self.empty:
            return False
        if self.combined is not None:
            return self.combined.match(path) is not None
        assert self.spec is not None
        return self.spec.match_file(path)


_COMPILED: dict[tuple[str, ...], tuple[FastSpec, re.Pattern[str] | None]] = {}


def _compiled_globs(globs: tuple[str, ...]) -> tuple[FastSpec, re.Pattern[str] | None]:
    """The user globs as a spec and, for bare names matching at any depth (fnmatch), one
    expression — compiled once per run, however many paths are named (pre-commit names many).
    A glob with a `/` never matches a bare name, so only the others join that expression."""
    cached = _COMPILED.get(globs)
    if cached is None:
        good, _ = split_patterns(list(globs))
        names = "|".join(f"(?:{fnmatch.translate(g)})" for g in good if "/" not in g)
        cached = (_user_spec(good), re.compile(names) if names else None)
        _COMPILED.clear()  # one set of globs per run: keep only the latest
        _COMPILED[globs] = cached
    return cached


def _user_spec(lines: list[str]) -> FastSpec:
    """The globs as one expression built from pathspec's own translation of each, without
    compiling every pattern on its own first (50,000 excludes: 2.8 s of 11); with a negation
    (`!keep/`), order matters and pathspec matches them in turn."""
    if not lines:
        return FastSpec.combining([])
    import pathspec

    translate = type(pathspec.GitIgnoreSpec.from_lines(["x"]).patterns[0]).pattern_to_regex
    sources = []
    for line in lines:
        regex, include = translate(line)
        if include is False:
            return FastSpec(pathspec.GitIgnoreSpec.from_lines(lines))
        if regex is not None:
            sources.append(regex.replace("(?P<ps_d>", "(?:"))
    return FastSpec.combining(sources)


class Excludes:
    """`.gitignore` files (the base's and nested ones) plus user `--exclude` globs.

    Globs use gitignore syntax relative to the base (`app/legacy/`, `*_spec.rb`).
    """

    def __init__(self, base: Path, globs: Iterable[str] = ()):
        self.base = Path(os.path.abspath(base))  # walks may start from `..`: compare absolutes
        self.globs = tuple(_anchored(g, self.base) for g in globs)
        self._user, self._names = _compiled_globs(self.globs)
        self._specs: dict[Path, list[tuple[Path, FastSpec]]] = {}
        self._by_text: dict[str, list[tuple[str, FastSpec]]] = {}
        self._base_text = str(self.base)
        self.problems: list[FileProblem] = []  # invalid .gitignore lines met while walking

    def _own(self, directory: Path) -> FastSpec | None:
        path = directory / ".gitignore"
        try:
            data = read_bounded(path)
        except OSError:
            return None
        if data is None:
            self.problems.append(FileProblem(str(path), "skipped: over the 4 MB limit"))
            return None
        lines = data.decode("utf-8", errors="replace")
        spec, problems = gitignore_spec(lines.splitlines(), str(path))
        self.problems.extend(problems)
        return FastSpec(spec)

    def specs(self, directory: Path) -> list[tuple[Path, FastSpec]]:
        """The .gitignore specs that apply inside `directory`, outermost first."""
        cached = self._specs.get(directory)
        if cached is not None:
            return cached
        inside = directory == self.base or self.base in directory.parents
        inherited = self.specs(directory.parent) if inside and directory != self.base else []
        own = self._own(directory) if inside else None
        specs = inherited + [(directory, own)] if own is not None else inherited
        self._specs[directory] = specs
        return specs

    def excluded(self, path: Path, is_dir: bool) -> bool:
        absolute = os.path.abspath(path)  # a walk from `..`: compare normal paths
        directory, name = os.path.split(absolute)
        return self.excluded_entry(directory, name, is_dir)

    def excluded_entry(self, directory: str, name: str, is_dir: bool) -> bool:
        """`excluded` for the entry `name` of an absolute, normal `directory`, with strings
        only: a walk asks this of every file."""
        suffix = "/" if is_dir else ""
        if self.globs:
            rel = self._relative(directory)
            rel = name if rel == "" else f"{rel}/{name}" if rel is not None else f"{directory}/{name}"
            if self._user.match_file(rel + suffix) or (
                self._names is not None and self._names.match(name)
            ):
                return True
        for prefix, spec in self._prefixed_specs(directory):
            if spec.match_file(prefix + name + suffix):
                return True
        return False

    def _relative(self, directory: str) -> str | None:
        """The directory relative to the base ("" for the base), or None outside it."""
        base = self._base_text
        if directory == base:
            return ""
        if directory.startswith(base + "/") or (base == "/" and directory.startswith("/")):
            return directory[len(base) :].lstrip("/")
        return None

    def _prefixed_specs(self, directory: str) -> list[tuple[str, FastSpec]]:
        """The specs that apply in `directory`, each with the directory's path relative to the
        spec's own directory ("" or "sub/dir/"), computed once per directory."""
        cached = self._by_text.get(directory)
        if cached is None:
            cached = []
            for spec_dir, spec in self.specs(Path(directory)):
                rel = os.path.relpath(directory, spec_dir).replace(os.sep, "/")
                cached.append(("" if rel == "." else rel + "/", spec))
            self._by_text[directory] = cached
        return cached


def walk_files(top: Path, base: Path, accept: Callable[[str], bool] = is_lintable, **options: Any) -> Iterator[Path]:
    """`walk_paths` (`options`: its `excludes`, `visited` and `skip`), as Path objects."""
    return map(Path, walk_paths(top, base, accept, **options))


def walk_paths(
    top: Path,
    base: Path,
    accept: Callable[[str], bool] = is_lintable,
    excludes: Excludes | None = None,
    visited: list[str] | None = None,
    skip: tuple[str, ...] = (),
) -> Iterator[str]:
    """Files below `top` whose path relative to `base` is accepted, in sorted order, as text
    (making a Path of each of 10,000 model files cost 60 ms, for a caller that wants text); the
    directories walked are appended to `visited` when given. Directories whose relative path
    (with a trailing `/`) starts with one of `skip` are not walked: for a caller whose `accept`
    rejects every file below them (`spec/`, `db/`…).

    Symbolic links to directories are not followed (no loops); ignored directories are
    pruned before they are read. A link to a file outside `base` is not read (on a CI runner a
    link to `/etc/passwd` would print it in a code frame): it is left out with a problem, as is
    a directory that cannot be read — both land in `excludes.problems`.
    """
    excludes = excludes or Excludes(base)
    real_base = os.path.join(os.path.realpath(base), "")

    def unreadable(error: OSError) -> None:
        where = os.path.relpath(error.filename or str(top))
        reason = os_reason(error).removeprefix("skipped: ")
        excludes.problems.append(FileProblem(where, f"directory not walked: {reason}"))

    base_text = str(Path(base))
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False, onerror=unreadable):
        absolute = os.path.abspath(dirpath)
        if visited is not None:
            visited.append(absolute)
        prefix = _walk_prefix(dirpath, base_text)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in SKIPPED_DIRS and not excludes.excluded_entry(absolute, d, is_dir=True)
            and not (skip and f"{prefix}{d}/".startswith(skip))
        )
        for name in sorted(filenames):
            if accept(prefix + name) and not excludes.excluded_entry(absolute, name, is_dir=False):
                path = os.path.join(dirpath, name)
                if os.path.islink(path) and not os.path.realpath(path).startswith(real_base):
                    excludes.problems.append(FileProblem(
                        os.path.relpath(path),
                        "skipped: a link to a file outside the project (name it to lint it)",
                    ))
                    continue
                yield path


def _walk_prefix(dirpath: str, base: str) -> str:
    """`Path(dirpath).relative_to(base)` as a prefix ("app/jobs/"; "" for the base itself; the
    directory as written when it is not below the base), without building paths."""
    directory = str(Path(dirpath))
    if directory == base or base == ".":
        rel = "" if directory in (base, ".") else directory
    elif directory.startswith(base.rstrip("/") + "/"):
        rel = directory[len(base.rstrip("/")) + 1 :]
    else:
        rel = directory
    return rel + "/" if rel else ""
