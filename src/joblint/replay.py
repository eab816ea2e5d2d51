"""Whole-run replay: a check run that changes nothing prints what the last identical run printed.

The persistent cache (`cache.py`) replays each file's findings, but a warm run still imports the
analyzer, walks the app and re-checks every state: a large part of a parse-only pass. A run
that nothing can have changed is answered here instead, before the command line is even
imported, the way `make` answers a target that is up to date.

What a run printed depends on:
- the command line, the working directory and the repository holding it, the environment
  variables joblint, Click and Rich read, whether stdout and stderr are terminals and how wide:
  together the run's *key*;
- joblint's code, Python and tree-sitter (`code_id`), also in the key;
- the files and directories the run read: every analysed file, every file behind the project
  facts its findings used (as the finding cache records them), every directory below the Rails
  root (a file added or removed changes its directory), each directory's `.gitignore`, the
  configuration and the baseline.
A finished `check` run that used the cache records its output, its exit code and the size and
times of each of those paths (the *memo*, in the cache directory, signed like the cache); the
next run with the same key replays it only when every path still has the same size, modification
and change time, and was modified longer before the recording run than the racy margin git uses
(an edit in the same clock tick as the recording would not change the time). Anything else —
another key, a file touched, a memo that is missing, unsigned or damaged — runs the check.

Only plain check runs are replayed: not `--fix`, `--diff`, `--no-cache`, `--output`,
`--write-baseline`, `--show-settings`, standard input, or another command. This module imports
nothing heavy: it runs before the command line is imported.
"""

from __future__ import annotations

import io
import os
import sys
import time

try:  # hashlib's own back end: importing hashlib loads OpenSSL, a tenth of a replay
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - a Python without the builtin module
    from hashlib import blake2b
try:
    from _operator import _compare_digest as compare_digest
except ImportError:  # pragma: no cover
    from hmac import compare_digest

MAGIC = b"joblint-cache"
KEY_BYTES = 32
RACY_NS = 2_000_000_000  # file times this close to the recording run are not trusted
# 4: a directory's digest hashes marshal's bytes of its stamps; 3: marshal; 2: paths grouped by
# directory, one digest of their stamps per directory
MEMO_FORMAT = 4

# what the output depends on besides the command line: joblint's, Click's and Rich's variables
ENV_NAMES = (
    "NO_COLOR", "FORCE_COLOR", "TERM", "COLORTERM", "COLUMNS", "LINES", "CI", "CLICOLOR",
    "CLICOLOR_FORCE", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "JUPYTER_COLUMNS", "JUPYTER_LINES",
    "PYTHONIOENCODING", "PYTHONUTF8", "LANG", "LC_ALL", "LC_CTYPE", "XDG_CACHE_HOME", "HOME",
    "GITHUB_ACTIONS",
)
# `check` options that a replay can answer; any other option runs the check
PLAIN_OPTIONS = frozenset({
    "--format", "--output-format", "--select", "--extend-select", "--ignore", "--exclude",
    "--request-path", "--sarif-category", "--config", "--baseline", "--statistics", "--jobs",
    "--exit-zero", "--fail-level", "--force-exclude", "--quiet", "--no-progress", "--cache-dir",
})
FLAGS = frozenset({"--statistics", "--exit-zero", "--force-exclude", "--quiet", "--no-progress"})
COMMANDS = ("rules", "rule", "jobs", "server", "mcp")


def content_hash(data: bytes) -> str:
    return blake2b(data, digest_size=16).hexdigest()


def mac(key: bytes, body: bytes) -> bytes:
    return blake2b(body, key=key, digest_size=32).hexdigest().encode()


def signed(key: bytes, body: bytes) -> bytes:
    """The bytes of a signed cache file: a header line with the signature, then the body."""
    return MAGIC + b" " + mac(key, body) + b"\n" + body


def verified(key: bytes, data: bytes) -> bytes | None:
    """The body of a signed cache file, or None when it was not signed with this key."""
    header, _, body = data.partition(b"\n")
    magic, _, signature = header.partition(b" ")
    if magic != MAGIC or not compare_digest(signature, mac(key, body)):
        return None
    return body


def user_directory() -> str:
    home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(home, "joblint")


def user_key() -> bytes | None:
    """This user's signing key, made on first use; None when it cannot be kept (no cache then)."""
    path = os.path.join(user_directory(), "cache-key")
    try:
        with open(path, "rb") as handle:
            key = handle.read(KEY_BYTES + 1)
        return key if len(key) == KEY_BYTES else None
    except FileNotFoundError:
        pass
    except OSError:
        return None
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another run made it first
        return user_key()
    except OSError:
        return None
    key = os.urandom(KEY_BYTES)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key)
    return key


def code_id() -> str:
    """joblint's version and the size and time of each of its modules (an editable install being
    worked on gets a new cache for each change to a rule), Python's version, and the installed
    tree-sitter and grammar (a new grammar parses differently)."""
    from . import __version__

    package = os.path.dirname(os.path.abspath(__file__))
    parts = [__version__, sys.version]  # not the executable: `python` and `python3` are one
    for directory, _, names in sorted(os.walk(package)):
        for name in sorted(n for n in names if n.endswith(".py")):
            parts.append(f"{directory}/{name}:{stamp(os.path.join(directory, name))}")
    for module in ("tree_sitter", "tree_sitter_ruby"):
        for entry in sys.path:
            init = os.path.join(entry or ".", module, "__init__.py")
            found = stamp(init)
            if found is not None:
                parts.append(f"{init}:{found}")
                break
    return content_hash("\n".join(parts).encode("utf-8", "surrogateescape"))


_SEEN: dict[str, list[int] | None] | None = None  # stamps taken by the run, when it is the process


def stamp(path: str) -> list[int] | None:
    """Size, modification and change time: what a replay compares; None for a missing path.
    In a check run being recorded, a path is stat'ed once: the model, the cache and the memo
    ask about the same thousands of files, and a file changed after its first stamp is seen by
    the next run, whose stamp differs."""
    return stamps([path])[0]


def stamps(paths: list[str]) -> list[list[int] | None]:
    """`stamp` of each path, in one go: the project model asks for thousands at once."""
    seen = _SEEN
    if not seen:  # no recording, or nothing stat'ed yet (the model's thousands come first)
        found = _stamps_in(None, paths)
        if seen is not None:
            seen.update(zip(paths, found))
        return found
    missing = [path for path in paths if path not in seen]
    seen.update(zip(missing, _stamps_in(None, missing)))
    return [seen[path] for path in paths]


# -- which runs ----------------------------------------------------------------------------


def run_key(argv: list[str]) -> str | None:
    """The key of a plain check run, or None for a run that is never replayed."""
    if not _plain(argv):
        return None
    cwd = os.getcwd()
    parts = [repr(argv), cwd, _repository(cwd), code_id()]
    parts.extend(f"{name}={os.environ.get(name)!r}" for name in ENV_NAMES)
    parts.extend(f"{name}={value!r}" for name, value in sorted(os.environ.items())
                 if name.startswith("JOBLINT_"))
    for stream in (sys.stdout, sys.stderr):
        try:
            terminal = stream.isatty()
            parts.append(f"{terminal}:{os.get_terminal_size(stream.fileno()) if terminal else ''}")
        except (AttributeError, OSError, ValueError):
            return None  # a stream without a descriptor: nothing a replay could write to
    return content_hash("\n".join(parts).encode("utf-8", "surrogateescape"))


def _repository(cwd: str) -> str:
    """The nearest directory holding `.git` at or above the working directory: the SARIF,
    GitHub and GitLab reports give paths from it."""
    directory = cwd
    while True:
        if os.path.exists(os.path.join(directory, ".git")):
            return directory
        parent = os.path.dirname(directory)
        if parent == directory:
            return ""
        directory = parent


def _plain(argv: list[str]) -> bool:
    """Is this `joblint [check] [PATH…] [plain options]`? Conservative: anything unusual is not."""
    args = argv[1:] if argv[:1] == ["check"] else argv
    if args[:1] and args[0] in COMMANDS:
        return False
    expects_value = False
    for arg in args:
        if expects_value:
            expects_value = False
            continue
        if arg == "-" or arg == "--":
            return False
        if arg.startswith("--"):
            name, equals, _ = arg.partition("=")
            if name not in PLAIN_OPTIONS:
                return False
            expects_value = not equals and name not in FLAGS
        elif arg.startswith("-"):
            if arg == "-q":
                continue
            if arg == "-j":
                expects_value = True
            elif not (arg.startswith("-j") and arg[2:].isdigit()):
                return False
    return not expects_value


# -- replaying -----------------------------------------------------------------------------


def _pointer(key: str) -> str:
    return os.path.join(user_directory(), "runs", key[:32])


def replay(key: str) -> int | None:
    """Print the memo of the run `key` and return its exit code, if it still holds; else None."""
    try:
        with open(_pointer(key), encoding="utf-8", errors="surrogateescape") as handle:
            memo_path = handle.read()
        with open(memo_path, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    secret = user_key()
    body = verified(secret, data) if secret is not None else None
    if body is None:
        return None
    import marshal

    try:
        memo = marshal.loads(body)  # signed with this user's key: a memo joblint wrote
        if memo.get("format") != MEMO_FORMAT or memo.get("key") != key:
            return None
        if not _holds(memo["base"], memo["paths"]):
            return None
        out, err, code = bytes(memo["stdout"]), bytes(memo["stderr"]), int(memo["code"])
    except (ValueError, KeyError, TypeError, AttributeError, EOFError):
        return None
    sys.stdout.flush()
    sys.stdout.buffer.write(out)
    sys.stdout.buffer.flush()
    sys.stderr.flush()
    sys.stderr.buffer.write(err)
    sys.stderr.buffer.flush()
    return code


def _holds(base: str, groups: dict[str, list[object]]) -> bool:
    """Does every path still have the size and times recorded? `groups`: per directory
    (relative to `base`), the names recorded in it and a digest of their stamps."""
    for directory, (names, digest) in groups.items():  # type: ignore[misc]
        try:  # names are looked up in the open directory: no path is joined or walked again
            descriptor = os.open(os.path.join(base, directory), os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return False
        try:
            taken = _stamps_in(descriptor, names)  # type: ignore[arg-type]
        finally:
            os.close(descriptor)
        if _digest(taken) != digest:
            return False
    return True


def _stamps_in(directory: int | None, names: list[str]) -> list[list[int] | None]:
    """The stamp of each name in an open directory (None: paths), in one loop: a call per
    file was a fifth of a replay."""
    found: list[list[int] | None] = []
    for name in names:
        try:
            taken = os.stat(name, dir_fd=directory)
        except OSError:
            found.append(None)
        else:
            found.append([taken.st_size, taken.st_mtime_ns, taken.st_ctime_ns])
    return found


def _digest(stamps: list[list[int] | None]) -> str:
    """A hash of the stamps: of marshal's bytes in version 2, which has no back-references, so
    equal stamps give equal bytes whichever objects hold them (and 5 times faster than repr)."""
    import marshal

    return content_hash(marshal.dumps(stamps, 2))


# -- recording -----------------------------------------------------------------------------


class _Tee(io.RawIOBase):
    """A byte stream that writes through to a real one and keeps a copy."""

    def __init__(self, target: io.BufferedIOBase):
        self.target = target
        self.copy = bytearray()
        self.recording = True

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[no-untyped-def, override]
        if self.recording:
            self.copy += data
        self.target.write(data)
        return len(data)

    def flush(self) -> None:
        self.target.flush()

    def isatty(self) -> bool:
        return self.target.isatty()

    def fileno(self) -> int:
        return self.target.fileno()


class Recorder:
    """Keeps a copy of what a run prints; `finish` writes the memo if the run said what it read
    (`depends_on`)."""

    active: Recorder | None = None  # the run being recorded, for the command line to report to

    def __init__(self, key: str):
        self.key = key
        self.started = time.time_ns()
        self.store: str | None = None
        self.paths: set[str] = set()
        self.replayable = False
        self.streams = (sys.stdout, sys.stderr)
        self.tees = []
        wrapped = []
        for stream in self.streams:
            tee = _Tee(stream.buffer)  # type: ignore[attr-defined]
            self.tees.append(tee)
            wrapped.append(io.TextIOWrapper(
                tee, encoding=stream.encoding, errors=stream.errors,  # type: ignore[arg-type]
                line_buffering=stream.line_buffering, write_through=True,
            ))
        sys.stdout, sys.stderr = wrapped
        Recorder.active = self
        global _SEEN
        _SEEN = {}

    def progress(self, shown: bool) -> None:
        """A transient progress display is on stderr (True) or gone (False): not recorded."""
        self.tees[1].recording = not shown

    def depends_on(self, store: str, paths: set[str]) -> None:
        """The run can be replayed: it read these paths (absolute), and keeps its cache in
        `store`. Called once by a finished check; a second call (several roots) cancels it."""
        self.replayable = self.store is None
        self.store = store
        self.paths = paths

    def finish(self, code: object) -> None:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        sys.stdout, sys.stderr = self.streams
        Recorder.active = None
        global _SEEN
        if (self.replayable and self.store is not None and isinstance(code, int) and code in (0, 1)
                and os.path.isfile(os.path.join(self.store, ".gitignore"))):  # the cache's own
            try:
                self._save(code)  # with the stamps the run took
            except (OSError, ValueError):
                pass  # a read-only checkout: no memo
        _SEEN = None

    def _save(self, code: int) -> None:
        assert self.store is not None
        secret = user_key()
        if secret is None:
            return
        trusted = self.started - RACY_NS
        ordered = sorted(self.paths)
        taken = stamps(ordered)
        if any(found is not None and found[1] >= trusted for found in taken):
            return  # changed during or just before the run (or in the same clock tick)
        by_directory: dict[str, list[str]] = {}
        found_in: dict[str, list[list[int] | None]] = {}
        for path, found in zip(ordered, taken):
            directory, _, name = path.rpartition(os.sep)  # absolute and normal: `os.path.split`
            by_directory.setdefault(directory or os.sep, []).append(name)
            found_in.setdefault(directory or os.sep, []).append(found)
        # the paths' common directory: `commonpath` of thousands of paths split each of them
        base = os.path.commonpath(list(by_directory)) if by_directory else "/"
        # the directory changed last first: the next edit is likeliest there, and a replay
        # that no longer holds then learns it from one directory rather than thousands
        newest = {d: max((s[1] for s in found if s is not None), default=0) for d, found in found_in.items()}
        paths: dict[str, list[object]] = {
            os.path.relpath(directory, base): [by_directory[directory], _digest(found_in[directory])]
            for directory in sorted(by_directory, key=lambda d: (-newest[d], d))
        }
        import marshal

        body = marshal.dumps({
            "format": MEMO_FORMAT, "key": self.key, "started": self.started, "code": code,
            "stdout": bytes(self.tees[0].copy), "stderr": bytes(self.tees[1].copy),
            "base": base, "paths": paths,
        })
        memo_path = os.path.join(self.store, f"run-{self.key[:32]}.bin")
        _write(memo_path, signed(secret, body))
        pointer = _pointer(self.key)
        os.makedirs(os.path.dirname(pointer), mode=0o700, exist_ok=True)
        _write(pointer, memo_path.encode("utf-8", "surrogateescape"))


def _write(path: str, data: bytes) -> None:
    """Write through a temporary file renamed into place: racing runs leave one whole file."""
    import tempfile

    os.makedirs(os.path.dirname(path), exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
