"""The persistent cache (`.joblint_cache/` at the Rails root, or `--cache-dir`), as ruff and
RuboCop keep one: each analysed file's findings, and each Ruby file's class definitions.

What a file's findings depend on: its own bytes, joblint's code, the settings (one cache file
per combination: the *context*), and the *project state* the run read — every file the project
model opened (models, configs, `Gemfile.lock`, the other files a rule looked into) and every
directory below the root (a file added or removed changes what a glob or a walk finds). A
finding is replayed only when the file's bytes and the state it was computed under both still
hold; otherwise the file is checked again. A state is checked by `stat` (size and
modification time, as git's index does), and by content when the time is too close to the run
that recorded it to be trusted. So an edited model, YAML config or `Gemfile.lock` invalidates
exactly the findings computed under a state that read it; a file no rule read changes nothing.

The definitions of a Ruby file depend on its bytes alone: a run whose state changed still
takes the unchanged files' definitions from here instead of parsing them.

The files are JSON (never pickle: a cache can come from a pull request) signed with a key kept
in the user's cache directory, so a cache written anywhere else — committed to a repository,
restored on another machine — is not trusted. A cache that cannot be read, verified or parsed
is ignored and rewritten; writes go to a temporary file and are renamed into place, so two runs
racing leave one whole cache, never a torn one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from pathlib import Path

from . import __version__
from .files import SKIPPED_DIRS, read_bounded
from .findings import Finding, Severity, Suppressed

DIR_NAME = ".joblint_cache"
FORMAT = 1
MAGIC = b"joblint-cache"
KEY_BYTES = 32
RACY_NS = 2_000_000_000  # file times this close to the recording run are not trusted
MAX_STATES = 8  # states kept per cache file (a full run, some one-file runs…)


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def code_id() -> str:
    """joblint's version and the size and time of each of its modules: an editable install being
    worked on gets a new cache for each change to a rule."""
    package = Path(__file__).parent
    parts = [__version__]
    for directory, _, names in sorted(os.walk(package)):
        for name in sorted(n for n in names if n.endswith(".py")):
            stat = os.stat(os.path.join(directory, name))
            parts.append(f"{directory}/{name}:{stat.st_size}:{stat.st_mtime_ns}")
    return content_hash("\n".join(parts).encode("utf-8", "surrogateescape"))


def user_key() -> bytes | None:
    """This user's signing key, made on first use; None when it cannot be kept (no cache then)."""
    home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = os.path.join(home, "joblint", "cache-key")
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


class Store:
    """Signed JSON documents in one directory, which is made on first write with a `.gitignore`
    and a `CACHEDIR.TAG` (backup tools skip it)."""

    def __init__(self, directory: Path, key: bytes):
        self.directory = directory
        self.key = key

    def _mac(self, body: bytes) -> bytes:
        return hashlib.blake2b(body, key=self.key, digest_size=32).hexdigest().encode()

    def load(self, name: str) -> dict | None:  # type: ignore[type-arg]
        try:
            data = read_bounded(self.directory / name, 512 * 1024 * 1024)
            if data is None:
                return None
            header, _, body = data.partition(b"\n")
            magic, _, mac = header.partition(b" ")
            if magic != MAGIC or not hmac.compare_digest(mac, self._mac(body)):
                return None
            document = json.loads(body)
        except (OSError, ValueError):
            return None
        return document if isinstance(document, dict) and document.get("format") == FORMAT else None

    def save(self, name: str, document: dict) -> None:  # type: ignore[type-arg]
        document = {**document, "format": FORMAT}
        body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode(
            "utf-8", "surrogateescape"
        )
        try:
            self._prepare()
            descriptor, temporary = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
            try:
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(MAGIC + b" " + self._mac(body) + b"\n" + body)
                os.replace(temporary, self.directory / name)
            except BaseException:
                os.unlink(temporary)
                raise
        except OSError:
            pass  # a read-only checkout: run without keeping a cache

    def _prepare(self) -> None:
        if (self.directory / ".gitignore").is_file():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / ".gitignore").write_text("# made by joblint\n*\n")
        (self.directory / "CACHEDIR.TAG").write_text(
            "Signature: 8a477f597d28d172789f06886806bc55\n# joblint's cache: https://bford.info/cachedir/\n"
        )


def cache_directory(root: Path, cache_dir: Path | None) -> Path:
    """`.joblint_cache` at the root; under `--cache-dir`, one folder per root."""
    if cache_dir is None:
        return root / DIR_NAME
    return cache_dir / content_hash(os.fsencode(os.path.abspath(root)))


def open_store(root: Path, cache_dir: Path | None) -> Store | None:
    key = user_key()
    return None if key is None else Store(cache_directory(root, cache_dir), key)


# -- the project state ---------------------------------------------------------------------


def directories(root: Path, skip: Iterable[Path] = ()) -> dict[str, list[object]]:
    """Every directory below the root that the project model may list (the walks skip the same
    names), with its modification time and a hash of its entries' names."""
    skipped = {os.path.abspath(p) for p in skip}
    found: dict[str, list[object]] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        listing = _listing(dirnames, filenames)  # every entry, as `state_holds` lists them
        dirnames[:] = sorted(
            d for d in dirnames
            if d not in SKIPPED_DIRS and os.path.join(os.path.abspath(dirpath), d) not in skipped
        )
        try:
            mtime = os.stat(dirpath).st_mtime_ns
        except OSError:
            continue
        found[dirpath] = [mtime, listing]
    return found


def _listing(dirnames: Iterable[str], filenames: Iterable[str]) -> str:
    names = "\0".join(sorted([*dirnames, *filenames]))
    return content_hash(names.encode("utf-8", "surrogateescape"))


def file_record(path: str, digest: str | None) -> list[object]:
    """[size, modification time, hash of the bytes the run used] — None for a file it could
    not read, which then holds only while its size and time do."""
    try:
        stat = os.stat(path)
    except OSError:
        return [-1, -1, None]
    return [stat.st_size, stat.st_mtime_ns, digest]


def state_holds(state: Mapping[str, object], known: Mapping[str, str]) -> bool:
    """Does the recorded state still describe the disk? `known`: path → hash of files this run
    has already read."""
    started = state.get("started")
    files, dirs = state.get("files"), state.get("dirs")
    if not isinstance(started, int) or not isinstance(files, dict) or not isinstance(dirs, dict):
        return False
    for path, record in dirs.items():
        try:
            mtime, listing = record
            # a time close to the recording run may hide an entry added in the same tick
            if os.stat(path).st_mtime_ns != mtime or mtime >= started - RACY_NS:
                entries = os.listdir(path)
                dirnames = [e for e in entries if os.path.isdir(os.path.join(path, e))]
                filenames = [e for e in entries if e not in dirnames]
                if _listing(dirnames, filenames) != listing:
                    return False
        except (OSError, ValueError, TypeError):
            return False
    for path, record in files.items():
        try:
            size, mtime, digest = record
        except (ValueError, TypeError):
            return False
        if path in known and digest is not None:
            if known[path] != digest:
                return False
            continue
        try:
            stat = os.stat(path)
        except OSError:
            if size == -1:
                continue  # was missing, still is
            return False
        if stat.st_size == size and stat.st_mtime_ns == mtime and mtime < started - RACY_NS:
            continue
        if digest is None:
            return False
        try:
            data = read_bounded(Path(path))
        except OSError:
            return False
        if data is None or content_hash(data) != digest:
            return False
    return True


def new_state(
    reads: Mapping[str, str | None], dirs: dict[str, list[object]], started: int,
    problems: list[tuple[str, str]],
) -> dict[str, object]:
    return {
        "started": started,
        "files": {path: file_record(path, digest) for path, digest in sorted(reads.items())},
        "dirs": dirs,
        "problems": [list(p) for p in problems],
    }


def state_id(state: Mapping[str, object]) -> str:
    return content_hash(json.dumps(state, sort_keys=True).encode("utf-8", "surrogateescape"))


def now_ns() -> int:
    return time.time_ns()


# -- findings ------------------------------------------------------------------------------


def encode_finding(finding: Finding) -> dict[str, object]:
    fields = asdict(finding)
    fields["severity"] = int(finding.severity)
    return fields


def decode_finding(fields: dict[str, object]) -> Finding:
    return Finding(**{**fields, "severity": Severity(fields["severity"])})  # type: ignore[arg-type]


def encode_suppressed(item: Suppressed) -> list[object]:
    return [encode_finding(item.finding), item.kind, item.justification]


def decode_suppressed(item: list) -> Suppressed:  # type: ignore[type-arg]
    return Suppressed(decode_finding(item[0]), item[1], item[2])


def source_hash(source) -> str:  # type: ignore[no-untyped-def]
    """The content hash of a SourceFile, computed once."""
    digest = source.derived.get("content_hash")
    if digest is None:
        digest = source.derived["content_hash"] = content_hash(source.data)
    return digest  # type: ignore[no-any-return]


class DefinitionCache:
    """Class definitions by file, valid while the file's bytes are the same."""

    NAME = "definitions.json"

    def __init__(self, store: Store, code: str):
        self.store = store
        self.code = code
        self._entries: dict[str, list[object]] | None = None
        self.used: dict[str, list[object]] = {}
        self.changed = False

    def _load(self) -> dict[str, list[object]]:
        if self._entries is None:
            document = self.store.load(self.NAME)
            entries = document.get("entries") if document and document.get("code") == self.code else None
            self._entries = entries if isinstance(entries, dict) else {}
        return self._entries

    def lookup(self, relpath: str, digest: str) -> tuple[list[object], bool] | None:
        """(encoded definitions, too deep) recorded for these bytes, or None."""
        entry = self._load().get(relpath)
        if isinstance(entry, list) and len(entry) == 3 and entry[0] == digest:
            self.used[relpath] = entry
            return entry[2], bool(entry[1])  # type: ignore[return-value]
        return None

    def record(self, relpath: str, digest: str, encoded: list[object], too_deep: bool) -> None:
        self.used[relpath] = [digest, too_deep, encoded]
        self.changed = True

    def save(self) -> None:
        if self.used and (self.changed or set(self.used) != set(self._load())):
            self.store.save(self.NAME, {"code": self.code, "entries": self.used})


class FindingCache:
    """Each analysed file's share of the report, by absolute path, under the state it was
    computed in. One document per context (code, settings, root and working directory)."""

    def __init__(self, store: Store, context: str):
        self.store = store
        self.name = f"findings-{context[:32]}.json"
        document = store.load(self.name) or {}
        states, entries = document.get("states"), document.get("entries")
        self.states: dict[str, dict[str, object]] = states if isinstance(states, dict) else {}
        self.entries: dict[str, dict[str, object]] = entries if isinstance(entries, dict) else {}
        self.known: dict[str, str] = {}  # path → hash of the bytes, for files known this run
        self._holds: dict[str, bool] = {}
        self.kept: dict[str, dict[str, object]] = {}  # this run's files: replayed or new
        self.seen: set[str] = set()

    def hit(self, key: str, digest: str | None = None) -> dict[str, object] | None:
        """The stored share of the file `key`, if its bytes (`digest`; without it, its size and
        time) and the state it was computed in both still hold."""
        self.seen.add(key)
        entry = self.entries.get(key)
        if not isinstance(entry, dict):
            return None
        if digest is None:
            stat = entry.get("stat")
            try:
                now = os.stat(key)
            except OSError:
                return None
            if not (isinstance(stat, list) and stat == [now.st_size, now.st_mtime_ns]
                    and now.st_mtime_ns < self._started(entry) - RACY_NS):
                return None
            digest = entry.get("hash")  # type: ignore[assignment]
        else:
            self.known[key] = digest
        if entry.get("hash") != digest:
            return None
        sid = entry.get("state")
        state = self.states.get(sid) if isinstance(sid, str) else None
        if not isinstance(state, dict):
            return None
        self.known[key] = digest  # type: ignore[assignment]
        if sid not in self._holds:
            self._holds[sid] = state_holds(state, self.known)  # type: ignore[index]
        if not self._holds[sid]:  # type: ignore[index]
            return None
        self.kept[key] = entry
        return entry["share"]  # type: ignore[return-value]

    def _started(self, entry: dict[str, object]) -> int:
        state = self.states.get(entry.get("state"))  # type: ignore[arg-type]
        started = state.get("started") if isinstance(state, dict) else None
        return started if isinstance(started, int) else 0

    def replayed_problems(self) -> list[tuple[str, str]]:
        """The project-model problems (an unreadable `Gemfile.lock`…) of the states replayed."""
        problems: set[tuple[str, str]] = set()
        for sid in {entry["state"] for entry in self.kept.values()}:
            for path, reason in self.states[sid].get("problems", ()):  # type: ignore[union-attr, index, attr-defined]
                problems.add((path, reason))
        return sorted(problems)

    def record(self, key: str, digest: str, share: dict[str, object], sid: str) -> None:
        try:
            now = os.stat(key)
        except OSError:
            return
        stat = [now.st_size, now.st_mtime_ns]
        self.kept[key] = {"hash": digest, "stat": stat, "state": sid, "share": share}

    def save(self, new_state: dict[str, object] | None, sid: str) -> None:
        if new_state is not None:
            self.states[sid] = new_state
        # files of earlier runs that this one did not look at are kept for the next
        kept = {k: e for k, e in self.entries.items() if k not in self.seen and isinstance(e, dict)}
        kept.update(self.kept)
        kept = {k: e for k, e in kept.items() if e.get("state") in self.states}
        referenced = {entry["state"] for entry in kept.values()}
        newest = sorted(referenced, key=lambda s: -int(self.states[s]["started"]))[:MAX_STATES]  # type: ignore[arg-type, index]
        states = {s: self.states[s] for s in newest}
        entries = {k: e for k, e in sorted(kept.items()) if e["state"] in states}
        if entries == self.entries and states == self.states:
            return  # nothing new: a warm run writes nothing
        self.store.save(self.name, {"states": states, "entries": entries})
