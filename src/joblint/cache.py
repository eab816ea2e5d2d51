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

The files are plain data — strings, numbers, lists and dicts, written with `marshal`, which
loads them in a third of JSON's time; never pickle, which runs code — signed with a key kept in
the user's cache directory, so a cache written anywhere else (committed to a repository,
restored on another machine, crafted in a pull request) is not even decoded: only bytes this
user's joblint signed are. A cache that cannot be read, verified or decoded is ignored and
rewritten; writes go to a temporary file and are renamed into place, so two runs
racing leave one whole cache, never a torn one.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import time
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, is_dataclass
from dataclasses import fields as dataclass_fields
from functools import cached_property
from itertools import chain
from pathlib import Path

from .files import SKIPPED_DIRS, read_bounded
from .findings import Finding, Severity, Suppressed
from .replay import code_id, content_hash, signed, stamp, stamps, user_key, verified

__all__ = ["code_id", "content_hash", "user_key"]  # shared with the whole-run replay

DIR_NAME = ".joblint_cache"
# 9: findings entries in parts by path, each made into objects when first asked for; 8: findings
# entries as lists, equal shares written once; 7: each findings entry one marshal string;
# 6: methods as one marshal string per class; 5: per-file facts kept with the definitions;
# 4: marshal, not JSON (a third of the time to load); 3: definitions with file times
FORMAT = 9
RACY_NS = 2_000_000_000  # file times this close to the recording run are not trusted
KEEP_CONTEXTS = 6  # findings files of other settings or versions kept beside the current one
KEEP_MEMOS = 32  # run memos (one per command line) kept
MAX_SCANS = 4  # runs whose shares are kept (a full run, some one-file runs…)
SHARDS = 64  # findings entries are kept in this many parts, by path (`FindingCache`)


class Store:
    """Signed documents in one directory, which is made on first write with a `.gitignore`
    and a `CACHEDIR.TAG` (backup tools skip it)."""

    def __init__(self, directory: Path, key: bytes):
        self.directory = directory
        self.key = key

    def load(self, name: str) -> dict | None:  # type: ignore[type-arg]
        try:
            data = read_bounded(self.directory / name, 512 * 1024 * 1024)
            if data is None:
                return None
            body = verified(self.key, data)
            if body is None:
                return None
            document = marshal.loads(body)  # signed by this user: data joblint wrote
        except (OSError, ValueError, EOFError, TypeError):
            return None
        return document if isinstance(document, dict) and document.get("format") == FORMAT else None

    def save(self, name: str, document: dict) -> None:  # type: ignore[type-arg]
        document = {**document, "format": FORMAT}
        body = marshal.dumps(document)
        import tempfile  # only a run that writes pays for it

        try:
            self._prepare()
            descriptor, temporary = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
            try:
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(signed(self.key, body))
                os.replace(temporary, self.directory / name)
                with contextlib.suppress(OSError):  # what format 3 wrote under the same name
                    os.unlink(self.directory / name.replace(".bin", ".json"))
            except BaseException:
                os.unlink(temporary)
                raise
        except OSError:
            pass  # a read-only checkout: run without keeping a cache

    def prune(self, prefix: str, keep: int) -> None:
        """Remove all but the `keep` most recently written files named `prefix…` (findings of
        other settings or joblint versions, memos of other command lines)."""
        try:
            found = [e for e in os.scandir(self.directory) if e.name.startswith(prefix)]
            found.sort(key=lambda e: e.stat().st_mtime_ns, reverse=True)
        except OSError:
            return
        for entry in found[keep:]:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)

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
        listing = _listing(dirnames, filenames)  # every entry, as `dirs_hold` lists them
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


def file_records(digests: Mapping[str, str | None]) -> dict[str, list[object]]:
    """By path: [size, modification time, hash of the bytes the run used] — None for a file
    it could not read, which then holds only while its size and time do. (One loop: a
    one-file run records the thousands of model files it read.)"""
    paths = list(digests)
    return {path: [-1, -1, None] if found is None else [found[0], found[1], digests[path]]
            for path, found in zip(paths, stamps(paths))}


def dirs_hold(dirs: Mapping[str, object], started: int) -> bool:
    """Does every directory still list the same entries?"""
    for path, record in dirs.items():
        try:
            mtime, listing = record  # type: ignore[misc]
            # a time close to the recording run may hide an entry added in the same tick
            if os.stat(path).st_mtime_ns != mtime or mtime >= started - RACY_NS:
                entries = os.listdir(path)
                dirnames = [e for e in entries if os.path.isdir(os.path.join(path, e))]
                filenames = [e for e in entries if e not in dirnames]
                if _listing(dirnames, filenames) != listing:
                    return False
        except (OSError, ValueError, TypeError):
            return False
    return True


def file_holds(path: str, record: object, started: int, known: Mapping[str, str]) -> bool:
    """Are the file's bytes those recorded? `known`: hashes of files this run has read."""
    try:
        size, mtime, digest = record  # type: ignore[misc]
    except (ValueError, TypeError):
        return False
    if path in known and digest is not None:
        return known[path] == digest
    try:
        stat = os.stat(path)
    except OSError:
        return size == -1  # was missing, still is
    if stat.st_size == size and stat.st_mtime_ns == mtime and mtime < started - RACY_NS:
        return True
    if digest is None:
        return False
    try:
        data = read_bounded(Path(path))
    except OSError:
        return False
    return data is not None and content_hash(data) == digest


def state_id(document: Mapping[str, object]) -> str:
    """A content id, to find the same state made twice; documents are built in a fixed order
    (sorted paths and facts), so marshal's bytes are a fraction of JSON's time to make."""
    return content_hash(marshal.dumps(document))


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
    """Class definitions by file, valid while the file's bytes are the same; with them, the
    file's other per-file facts (plain data built from that file alone, by fact name)."""

    NAME = "definitions.bin"

    def __init__(self, store: Store, code: str):
        self.store = store
        self.code = code
        self.started = now_ns()  # the run's start: file times after it are not trusted
        self._entries: dict[str, list[object]] | None = None
        self.used: dict[str, list[object]] = {}
        self.changed = False
        self._listing: object = None  # the last walk of the model directories, as loaded
        self._listing_used: object = None  # and as this run leaves it
        self.walked = False  # this run walked the model directories (and will keep the walk)
        self._pending: dict[str, tuple[str, dict[str, object]]] = {}  # file facts before `record`
        self.new_facts: list[tuple[str, str, str, object]] = []  # recorded by this process

    def _load(self) -> dict[str, list[object]]:
        if self._entries is None:
            document = self.store.load(self.NAME)
            valid = document is not None and document.get("code") == self.code
            entries = document.get("entries") if valid else None  # type: ignore[union-attr]
            self._entries = entries if isinstance(entries, dict) else {}
            self._listing = document.get("listing") if valid else None  # type: ignore[union-attr]
        return self._entries

    def lookup(self, relpath: str, digest: str) -> tuple[list[object], bool] | None:
        """(encoded definitions, too deep) recorded for these bytes, or None."""
        return self.lookup_all([relpath], [digest])[0]

    def lookup_all(self, relpaths: list[str], digests: list[str]) -> list[tuple[list[object], bool] | None]:
        """`lookup` of each file, in one loop (the class index asks for every model file)."""
        entries, used = self._load(), self.used
        found: list[tuple[list[object], bool] | None] = []
        for relpath, digest in zip(relpaths, digests):
            entry = entries.get(relpath)
            if type(entry) is list and len(entry) == 5 and entry[0] == digest:
                used[relpath] = entry
                found.append((entry[2], bool(entry[1])))  # type: ignore[arg-type]
            else:
                found.append(None)
        return found

    def unchanged(self, relpaths: list[str], paths: list[str]) -> list[list[object] | None]:
        """For each file whose size and times are still those recorded with its definitions
        (so it need not be read to be looked up), its entry — [hash of its bytes, too deep,
        encoded definitions, size and times, per-file facts] — which this run then keeps."""
        entries, used = self._load(), self.used
        found: list[list[object] | None] = []
        for relpath, entry, now in zip(relpaths, [entries.get(r) for r in relpaths], stamps(paths)):
            if (type(entry) is list and len(entry) == 5 and entry[3] is not None
                    and type(entry[0]) is str and now == entry[3] and type(entry[4]) is dict):
                used[relpath] = entry
                found.append(entry)
            else:
                found.append(None)
        return found

    def record(self, relpath: str, path: str, digest: str, encoded: list[object], too_deep: bool) -> None:
        """Keep a file's definitions, with its size and times when they were taken before this
        run started by more than the racy margin (else the next run reads the file again)."""
        found = stamp(path)
        trusted = found if found is not None and found[1] < self.started - RACY_NS else None
        pending = self._pending.pop(relpath, None)
        facts = pending[1] if pending is not None and pending[0] == digest else {}
        self.used[relpath] = [digest, too_deep, encoded, trusted, facts]
        self.changed = True

    def holds(self, relpath: str) -> bool:
        """Is there an entry for the file (this run's or the last one's)?"""
        return relpath in self.used or relpath in self._load()

    def file_facts(self, name: str, relpaths: list[str], digests: list[str]) -> list[object | None]:
        """The per-file fact `name` kept for these bytes of each file, or None."""
        entries, used, pending = self._load(), self.used, self._pending
        found: list[object | None] = []
        for relpath, digest in zip(relpaths, digests):
            entry = used.get(relpath) or entries.get(relpath)
            if type(entry) is list and len(entry) == 5 and entry[0] == digest and type(entry[4]) is dict:
                found.append(entry[4].get(name))
            else:
                waiting = pending.get(relpath)
                found.append(waiting[1].get(name) if waiting is not None and waiting[0] == digest else None)
        return found

    def record_file_fact(self, relpath: str, digest: str, name: str, value: object) -> None:
        """Keep a per-file fact with the file's entry (or until its definitions are recorded)."""
        entry = self.used.get(relpath) or self._load().get(relpath)
        if isinstance(entry, list) and len(entry) == 5 and entry[0] == digest and isinstance(entry[4], dict):
            entry[4] = {**entry[4], name: value}  # a new dict: loaded ones are shared (`save`)
        else:
            pending = self._pending.get(relpath)
            if pending is None or pending[0] != digest:
                pending = self._pending[relpath] = (digest, {})
            pending[1][name] = value
        self.new_facts.append((relpath, digest, name, value))
        self.changed = True

    def listing(self, tops: list[str]) -> list[str] | None:
        """The Ruby files found below these directories by the last walk, if every directory
        it went through and every `.gitignore` it could have read are unchanged."""
        self._load()
        found = self._listing
        if not (isinstance(found, dict) and found.get("tops") == tops):
            return None
        try:
            stamps: dict[str, object] = found["stamps"]
            if all(stamp(path) == recorded for path, recorded in stamps.items()):
                self._listing_used = found
                return list(found["files"])
        except (KeyError, TypeError, ValueError):
            pass
        return None

    def record_listing(self, tops: list[str], root: str, visited: list[str], files: list[str]) -> None:
        """Keep a walk's result (see `listing`); not when a directory changed too recently for
        its time to tell a later change."""
        trusted = now_ns() - RACY_NS
        stamps: dict[str, object] = {}
        for directory in visited:
            recorded = stamps[directory] = stamp(directory)
            if recorded is None or recorded[1] >= trusted:
                return
            current = directory  # the .gitignore files that apply here, up to the root
            while True:
                ignore = os.path.join(current, ".gitignore")
                if ignore not in stamps:
                    recorded = stamps[ignore] = stamp(ignore)
                    if recorded is not None and recorded[1] >= trusted:
                        return
                if current == root or len(current) <= len(root):
                    break
                current = os.path.dirname(current)
        self._listing_used = {"tops": tops, "stamps": stamps, "files": files}
        self.changed = self.walked = True

    def save(self) -> None:
        if self.used and (self.changed or set(self.used) != set(self._load())):
            self.store.save(self.NAME, {"code": self.code, "entries": _shared(self.used),
                                        "listing": self._listing_used})


def _shared(entries: dict[str, list[object]]) -> dict[str, list[object]]:
    """The entries with equal per-file facts, and equal definition lists, made one object:
    marshal writes an object met again as a reference, and loading then makes it once, not
    once per file (most files' facts are the same few empty lists: a quarter of the load).
    Nothing changes a loaded entry's facts or definitions in place (`record_file_fact`)."""
    seen: dict[bytes, object] = {}
    empty: list[object] = []  # a definition's scope, includes or handlers, most often
    found = {}
    for relpath, entry in entries.items():
        if isinstance(entry, list) and len(entry) == 5 and isinstance(entry[2], list):
            facts = _once(seen, entry[4])
            encoded = [[*d[:5], d[5] or empty, d[6], d[7] or empty, d[8], d[9] or empty]
                       if isinstance(d, list) and len(d) == 10 else d for d in entry[2]]
            entry = [entry[0], entry[1], encoded or empty, entry[3], facts]
        found[relpath] = entry
    return found


def _once(seen: dict[bytes, object], value: object) -> object:
    """The first value seen equal to this one (by marshal's bytes in version 2, which do not
    depend on which objects are shared), so that a document holds it once."""
    return seen.setdefault(marshal.dumps(value, 2), value)


class FindingCache:
    """Each analysed file's share of the report, by absolute path, and what it depended on.

    The document (one per context) holds:
    - `scans`: one per run that analysed files — when it started, the directory listings, the
      size, time and hash of every file it read, which files and facts each fact was built
      from (`App.fact_reads`), and the project-model problems it met;
    - `states`: what one or more files' analyses read — files and facts of a scan, and
      whether they used the class index (then the files `App.include` added to it, which the
      scan records, must be the same);
    - `entries`: per analysed file, [its state, its hash, its size and time, its share]; equal
      shares (most are empty) are one object in a part, which marshal writes once. The entries
      are split by path (`_shard`) into parts, each one marshal string in the document, made
      into objects when a file in it is first asked for: a run that checks one file of
      thousands does not build the entries of the others (22 of 26 ms of loading the
      document, on 10,000 files);
    - `count`: how many entries there are.
    A share is replayed when the file's bytes match and its state holds: the scan's listings,
    and every file behind the state's files and facts.
    """

    def __init__(self, store: Store, context: str):
        self.store = store
        self.name = f"findings-{context[:32]}.bin"
        document = store.load(self.name) or {}
        self.scans: dict[str, dict[str, object]] = _mapping(document.get("scans"))
        self.states: dict[str, dict[str, object]] = _mapping(document.get("states"))
        shards = document.get("entries")  # parts of path → [state id, hash, [size, time], share]
        self._shards: list[bytes] = shards if isinstance(shards, list) and shards and all(
            isinstance(shard, bytes) for shard in shards) else []
        self._parts: dict[int, dict[str, list[object]]] = {}  # the parts made into objects
        count = document.get("count")
        self.count = count if isinstance(count, int) and self._shards else 0
        self._decoded: dict[str, dict[str, object]] = {}  # entries decoded, by path
        values = document.get("values")  # fact → [scan id, its value as plain data]
        self.values: dict[str, list[object]] = {
            k: v for k, v in values.items() if isinstance(v, list) and len(v) == 2
        } if isinstance(values, dict) else {}
        self._loaded = (dict(self.scans), dict(self.states), dict(self.values))
        self.known: dict[str, str] = {}  # path → hash of the bytes, for files read this run
        self._holds: dict[str, bool] = {}
        self._scan_holds: dict[str, bool] = {}
        self._file_holds: dict[tuple[str, str], bool] = {}
        self.kept: dict[str, dict[str, object]] = {}  # this run's files: replayed or new
        self.seen: set[str] = set()
        self._index: dict[str, int] = {}  # path → index in the scan being written

    # -- reading -----------------------------------------------------------------------

    def matching(self, key: str, digest: str | None = None) -> dict[str, object] | None:
        """The entry of the file `key` if it was recorded for these bytes (`digest`; without
        it, for this size and time, old enough to be trusted)."""
        self.seen.add(key)
        if digest is not None:
            self.known[key] = digest
        entry = self._entry(key)
        if entry is None:
            return None
        if digest is None:
            try:
                now = os.stat(key)
            except OSError:
                return None
            scan = self._scan_of(entry)
            started = scan.get("started") if scan else None
            if not (isinstance(started, int) and entry.get("stat") == [now.st_size, now.st_mtime_ns]
                    and now.st_mtime_ns < started - RACY_NS):
                return None
            digest = entry.get("hash")  # type: ignore[assignment]
            if isinstance(digest, str):
                self.known[key] = digest
        return entry if entry.get("hash") == digest else None

    def _part(self, index: int) -> dict[str, list[object]]:
        if index not in self._parts:
            try:
                part = marshal.loads(self._shards[index])
            except (ValueError, EOFError, TypeError):
                part = None
            self._parts[index] = {k: v for k, v in part.items() if isinstance(v, list) and len(v) == 4
                                  } if isinstance(part, dict) else {}
        return self._parts[index]

    @cached_property
    def entries(self) -> dict[str, list[object]]:
        """Every entry of the document (a run that writes it needs them all)."""
        entries: dict[str, list[object]] = {}
        for index in range(len(self._shards)):
            entries.update(self._part(index))
        return entries

    def _entry(self, key: str) -> dict[str, object] | None:
        if key not in self._decoded:
            raw = self._part(_shard(key, len(self._shards))).get(key) if self._shards else None
            entry = None
            if raw is not None and isinstance(raw[3], dict):
                entry = {"hash": raw[1], "stat": raw[2], "state": raw[0], "share": raw[3]}
            self._decoded[key] = entry
        return self._decoded[key]

    def valid(self, key: str, entry: dict[str, object], extras: list[str]) -> bool:
        """Does the state the entry was computed in still hold, with these files added to the
        class index? The entry is then kept."""
        sid = entry.get("state")
        state = self.states.get(sid) if isinstance(sid, str) else None
        if not isinstance(state, dict):
            return False
        if state.get("index"):  # it used the class index: the same files must have joined it
            scan = self._scan_of(state)
            if scan is None or scan.get("extras") != extras:
                return False
        if sid not in self._holds:
            self._holds[sid] = self._state_holds(state)  # type: ignore[index]
        if self._holds[sid]:  # type: ignore[index]
            self.kept[key] = entry
        return self._holds[sid]  # type: ignore[index]

    def _scan_of(self, holder: dict[str, object]) -> dict[str, object] | None:
        if "scan" not in holder:  # an entry: through its state
            state = self.states.get(holder.get("state"))  # type: ignore[arg-type]
            holder = state if isinstance(state, dict) else {}
        scan = self.scans.get(holder.get("scan"))  # type: ignore[arg-type]
        return scan if isinstance(scan, dict) else None

    def _listings_hold(self, scan_id: str, scan: dict[str, object]) -> bool:
        """Does every directory of the scan still list the same entries? Asked once per run."""
        if scan_id not in self._scan_holds:
            try:
                self._scan_holds[scan_id] = dirs_hold(scan["dirs"], int(scan["started"]))  # type: ignore[arg-type, call-overload]
            except (KeyError, TypeError, ValueError):
                self._scan_holds[scan_id] = False
        return self._scan_holds[scan_id]

    def _state_holds(self, state: dict[str, object]) -> bool:
        scan_id = state.get("scan")
        scan = self._scan_of(state)
        if scan is None or not isinstance(scan_id, str):
            return False
        try:
            return (
                self._listings_hold(scan_id, scan)
                and all(self._file_ok(scan_id, scan, i) for i in state["files"])  # type: ignore[attr-defined]
                and all(self._fact_ok(scan_id, scan, n) for n in state["facts"])  # type: ignore[attr-defined]
            )
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            return False

    def _file_ok(self, scan_id: str, scan: dict[str, object], index: int) -> bool:
        path = scan["paths"][index]  # type: ignore[index]
        memo = (scan_id, path)
        if memo not in self._file_holds:
            record = scan["files"][index]  # type: ignore[index]
            self._file_holds[memo] = file_holds(path, record, int(scan["started"]), self.known)  # type: ignore[call-overload]
        return self._file_holds[memo]

    def _fact_ok(self, scan_id: str, scan: dict[str, object], name: str) -> bool:
        """Do the files a fact was built from, and those of the facts it used, still hold?"""
        memo = (scan_id, "fact:" + name)
        if memo not in self._file_holds:
            self._file_holds[memo] = True  # a cycle is decided by its other members
            files, facts = scan["facts"][name]  # type: ignore[index]
            self._file_holds[memo] = all(self._file_ok(scan_id, scan, i) for i in files) and all(
                self._fact_ok(scan_id, scan, n) for n in facts
            )
        return self._file_holds[memo]

    @staticmethod
    def _files_of(state: dict[str, object], scan: dict[str, object]) -> set[int]:
        """The state's files and those behind its facts, transitively (indexes in the scan)."""
        facts: dict[str, list[list[object]]] = scan["facts"]  # type: ignore[assignment]
        files = set(state["files"])  # type: ignore[call-overload]
        pending, seen = list(state["facts"]), set()  # type: ignore[call-overload]
        while pending:
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            fact_files, fact_facts = facts[name]
            files.update(fact_files)  # type: ignore[arg-type]
            pending.extend(fact_facts)
        return files  # type: ignore[return-value]

    def fact(self, name: str) -> tuple[object, dict[str, tuple[set[str], set[str]]]] | None:
        """A fact's value as an earlier run kept it, if every file behind it (and every
        directory listing of that run) still holds: (plain value, the files and facts each fact
        behind it was built from, by name)."""
        record = self.values.get(name)
        if record is None:
            return None
        scan_id, value = record
        scan = self.scans.get(scan_id)  # type: ignore[call-overload]
        if not isinstance(scan_id, str) or scan is None:
            return None
        try:
            if not (self._listings_hold(scan_id, scan) and self._fact_ok(scan_id, scan, name)):
                return None
            paths: list[str] = scan["paths"]  # type: ignore[assignment]
            facts: dict[str, list[list[object]]] = scan["facts"]  # type: ignore[assignment]
            behind: dict[str, tuple[set[str], set[str]]] = {}
            pending = [name]
            while pending:
                current = pending.pop()
                if current in behind:
                    continue
                files, names = facts[current]
                behind[current] = ({paths[i] for i in files}, set(names))  # type: ignore[index]
                pending.extend(names)  # type: ignore[arg-type]
        except (KeyError, IndexError, TypeError, ValueError):
            return None
        return value, behind

    def keep_value(self, name: str, scan_id: str, value: object) -> None:
        """Keep a fact's value (plain data) with the scan that recorded what it was built from."""
        self.values[name] = [scan_id, value]

    def replayed_problems(self) -> list[tuple[str, str]]:
        """The project-model problems (an unreadable `Gemfile.lock`…) behind the shares kept."""
        problems: set[tuple[str, str]] = set()
        for sid in {entry["state"] for entry in self.kept.values()}:
            state = self.states[sid]  # type: ignore[index]
            scan = self._scan_of(state)
            known: dict[str, list[str]] = scan.get("problems", {}) if scan else {}  # type: ignore[assignment]
            if not known:
                continue
            for index in self._files_of(state, scan):
                if str(index) in known:
                    display, reason = known[str(index)]
                    problems.add((display, reason))
        return sorted(problems)

    def inputs(self, keys: Iterable[str]) -> set[str] | None:
        """Every path the kept shares of these files rest on — the files, the files behind the
        states they were computed in, each directory of those states' scans and its
        `.gitignore` — for the whole-run replay; None when a file has no kept share."""
        paths: set[str] = set()
        states: set[str] = set()
        for key in keys:
            entry = self.kept.get(key)
            if entry is None:
                return None
            paths.add(key)
            states.add(entry["state"])  # type: ignore[arg-type]
        scans: set[str] = set()
        for sid in states:
            state = self.states[sid]
            scan = self._scan_of(state)
            if scan is None:
                return None
            scans.add(state["scan"])  # type: ignore[arg-type]
            names: list[str] = scan["paths"]  # type: ignore[assignment]
            paths.update(names[i] for i in self._files_of(state, scan))
        for scan_id in scans:
            for directory in self.scans[scan_id]["dirs"]:  # type: ignore[attr-defined]
                paths.add(directory)  # a .gitignore added changes the directory's time
                ignore = os.path.join(directory, ".gitignore")
                if os.path.lexists(ignore):
                    paths.add(ignore)
        return paths

    # -- writing -----------------------------------------------------------------------

    def directories(self, root: Path, skip: Iterable[Path]) -> dict[str, list[object]]:
        """`directories(root, skip)`, taken from a scan this run found to still hold when
        there is one (the same directories, listing the same entries) instead of walking."""
        for scan_id, holds in self._scan_holds.items():
            if holds:
                return self.scans[scan_id]["dirs"]  # type: ignore[return-value]
        newest = max(self.scans, key=lambda s: self.scans[s].get("started", 0), default=None)  # type: ignore[arg-type, return-value]
        if newest is not None and self._listings_hold(newest, self.scans[newest]):
            return self.scans[newest]["dirs"]  # type: ignore[return-value]  # the pre-commit path
        return directories(root, skip)

    def add_scan(
        self,
        started: int,
        dirs: dict[str, list[object]],
        files: Mapping[str, object],
        facts: Mapping[str, tuple[Iterable[str], Iterable[str]]],
        problems: Mapping[str, tuple[str, str]],
        extras: list[str],
        unsaved: bool = False,
    ) -> str:
        """Record a run: each path once, referred to by its index elsewhere in the scan.
        `extras`: the files `App.include` added to the class index. An `unsaved` scan (a small
        run's, never written: `save` is not called) serves only `inputs`, for this run's memo:
        its paths need no order, its files no records, and its id no hash."""
        if unsaved:
            paths = list(dict.fromkeys(chain(files, *(fact_files for fact_files, _ in facts.values()))))
            self._index = {path: index for index, path in enumerate(paths)}
            scan_id = f"unsaved-{started}"
            self.scans[scan_id] = {
                "started": started, "dirs": dirs, "paths": paths, "extras": extras,
                "facts": {name: [[self._index[p] for p in fact_files], list(fact_facts)]
                          for name, (fact_files, fact_facts) in facts.items()},
            }
            return scan_id
        paths = sorted(set(files) | {p for fact_files, _ in facts.values() for p in fact_files})
        self._index = {path: index for index, path in enumerate(paths)}
        scan = {
            "started": started,
            "dirs": dirs,
            "paths": paths,
            "files": [files.get(path, [-1, -1, None]) for path in paths],
            "facts": {name: [sorted(self._index[p] for p in fact_files), sorted(fact_facts)]
                      for name, (fact_files, fact_facts) in sorted(facts.items())},
            "problems": {str(self._index[p]): list(v) for p, v in problems.items() if p in self._index},
            "extras": extras,
        }
        scan_id = state_id(scan)
        self.scans[scan_id] = scan
        return scan_id

    def add_state(self, scan_id: str, files: Iterable[str], facts: Iterable[str], index: bool) -> str:
        """What some analyses of the scan `scan_id` (the last added) read; "" when a file is
        not in the scan (then the shares are not kept: they could not be checked)."""
        if any(p not in self._index for p in files):
            return ""
        state = {"scan": scan_id, "files": sorted(self._index[p] for p in files),
                 "facts": sorted(facts), "index": index}
        sid = state_id(state)
        self.states[sid] = state
        return sid

    def record(self, key: str, digest: str, share: dict[str, object], sid: str) -> None:
        now = stamp(key)
        if now is None:
            return
        stat = now[:2]
        self.kept[key] = {"hash": digest, "stat": stat, "state": sid, "share": share}

    def save(self) -> None:
        # files of earlier runs that this one did not look at are kept for the next
        entries = {k: e for k, e in self.entries.items() if k not in self.seen}
        for key, entry in self.kept.items():
            entries[key] = [entry["state"], entry["hash"], entry["stat"], entry["share"]]
        entries = {k: e for k, e in entries.items() if e[0] in self.states}
        scans_by_age = sorted(
            {self.states[e[0]].get("scan") for e in entries.values()} & set(self.scans),  # type: ignore[index]
            key=lambda s: -int(self.scans[s].get("started", 0)),  # type: ignore[arg-type, call-overload]
        )
        scans = {s: self.scans[s] for s in scans_by_age[:MAX_SCANS]}
        states = {s: st for s, st in self.states.items() if st.get("scan") in scans}
        entries = {k: e for k, e in sorted(entries.items()) if e[0] in states}
        states = {s: states[s] for s in sorted({e[0] for e in entries.values()})}  # type: ignore[misc]
        values = {k: v for k, v in self.values.items() if v[0] in scans}
        if (scans, states, values) == self._loaded and entries == self.entries:
            return  # nothing new: a warm run writes nothing
        shared: dict[bytes, object] = {}  # equal states and shares made one object (see FORMAT)
        parts: list[dict[str, list[object]]] = [{} for _ in range(SHARDS)]
        for key, entry in entries.items():
            entry[0], entry[3] = _once(shared, entry[0]), _once(shared, entry[3])
            parts[_shard(key, SHARDS)][key] = entry
        self.store.save(self.name, {"scans": scans, "states": states, "values": values,
                                    "entries": [marshal.dumps(part) for part in parts],
                                    "count": len(entries)})
        self.store.prune("findings-", KEEP_CONTEXTS)
        self.store.prune("run-", KEEP_MEMOS)


def _shard(key: str, shards: int) -> int:
    """The part of the findings entries that holds a path's (the same in every process, as
    `hash` is not)."""
    return zlib.crc32(key.encode("utf-8", "surrogateescape")) % shards


def _mapping(value: object) -> dict[str, dict[str, object]]:
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if isinstance(k, str) and isinstance(v, dict)}


# -- facts kept as plain data ------------------------------------------------------------

_CLASS = "\0class"  # the key naming a dataclass in its plain form (no fact has such a key)


def plain(value: object) -> object:
    """A fact's value as plain data (dataclasses become dicts naming their class); TypeError
    for anything else than dataclasses, containers, strings, numbers, booleans and None."""
    if is_dataclass(value) and not isinstance(value, type):
        fields_ = {f.name: plain(getattr(value, f.name)) for f in dataclass_fields(value)}
        return {_CLASS: type(value).__name__, **fields_}
    if isinstance(value, (list, tuple, set, frozenset)):
        return type(value)(plain(item) for item in value)
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bytes)):
        return value
    raise TypeError(f"not plain data: {type(value).__name__}")


def revive(value: object, classes: Mapping[str, type]) -> object:
    """The inverse of `plain`, with the dataclasses it may name."""
    if isinstance(value, dict):
        if _CLASS in value:
            cls = classes[value[_CLASS]]
            return cls(**{k: revive(v, classes) for k, v in value.items() if k != _CLASS})
        return {revive(k, classes): revive(v, classes) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return type(value)(revive(item, classes) for item in value)
    return value
