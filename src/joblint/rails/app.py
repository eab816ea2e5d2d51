"""The App: root discovery, file inventory and the facts rules receive, built once per run."""

from __future__ import annotations

import os
from collections.abc import Callable, Container, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar, overload

from .. import ruby
from ..cache import DefinitionCache, content_hash, plain, revive, source_hash
from ..files import Excludes, FileProblem, read_bounded, read_source, walk_paths
from ..ruby import Node
from ..source import TREES, SourceFile
from . import config
from .classes import (
    ClassDef,
    ClassIndex,
    decode_definitions,
    encode_definitions,
    extract_definitions,
    lexical_names,
    model_names,
    qualified_name,
    scopes_of,
)
from .jobs import JobKind, JobModel

T = TypeVar("T")
MODEL_DIRS = ("app", "lib")
# Rails engines and packwerk packs keep their own app/ and lib/ one level down.
COMPONENT_DIRS = ("engines", "components", "packs", "gems", "plugins")
REQUEST_PATHS = ("app/controllers", "app/graphql", "app/channels")
JOB_DIRS = ("app/jobs", "app/workers", "app/sidekiq")
MAILBOX_BASE = "ActionMailbox::Base"
# The kind of the native Delayed Job or Resque job around a node: `native_jobs` registers its
# lookup here when it is imported (by `rails/__init__`), so that the App, which it builds on,
# does not import it back.
NATIVE_JOB_LOOKUPS: list[Callable[[App, SourceFile, Node], JobKind | None]] = []
ADAPTER_FILES = ("config/application.rb", "config/environments/production.rb")
# Facts whose value is plain data (dataclasses of strings, numbers, containers), which the cache
# may keep between runs: name → (the function that gets it, the dataclasses it is made of). The
# fact modules register theirs when imported.
PLAIN_FACTS: dict[str, tuple[Callable[[App], object], tuple[type, ...]]] = {}
_MENTION_FACTS: dict[tuple[bytes, ...], str] = {}  # words → the name of the file fact answering


def _read_later(path: str | Path) -> bytes:
    """A model file's bytes read on demand; it was readable when its size and times were
    checked, and a file gone since reads as empty rather than stopping the run."""
    try:
        return read_bounded(path) or b""
    except OSError:
        return b""


def _is_rb(relpath: str) -> bool:
    return relpath.endswith(".rb")


def find_root(path: Path) -> Path | None:
    """The first directory at or above `path` holding `config/application.rb` or a `Gemfile`."""
    current = path if path.is_dir() else path.parent
    for directory in (current, *current.parents):
        if (directory / "config" / "application.rb").is_file() or (directory / "Gemfile").is_file():
            return directory
    return None


@dataclass(frozen=True)
class Backend:
    """The job backend: the configured ActiveJob adapter and the gems that are locked."""

    adapter: str | None  # sidekiq, solid_queue, good_job, delayed_job, resque, async, …
    gems: frozenset[str]

    @property
    def name(self) -> str | None:
        return self.adapter


@dataclass
class Reads:
    """What a piece of work read: files (absolute paths) and facts (by name), for the cache."""

    files: set[str] = field(default_factory=set)
    facts: set[str] = field(default_factory=set)


class fact_property(Generic[T]):  # lower case, like the `cached_property` it replaces
    """A fact of the App computed once, like `cached_property`, but through `App.fact`, so that
    the cache learns which files each fact was built from and which facts each file used."""

    def __init__(self, build: Callable[[App], T]):
        self.build = build
        self.name = build.__name__
        self.__doc__ = build.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, app: None, owner: type | None = None) -> fact_property[T]: ...
    @overload
    def __get__(self, app: App, owner: type | None = None) -> T: ...
    def __get__(self, app: App | None, owner: type | None = None) -> T | fact_property[T]:
        if app is None:
            return self
        return app.fact(self.name, self.build)


class App:
    """A read-only model of one Rails app. Facts are computed lazily, at most once."""

    def __init__(
        self,
        root: Path | None,
        request_paths: Iterable[str] = (),
    ):
        self.root = root
        self.request_paths = tuple(REQUEST_PATHS) + tuple(request_paths)
        self._root_prefix = os.path.join(os.path.abspath(root), "") if root else ""
        self._sources: dict[str, SourceFile | None] = {}
        self._extra: list[SourceFile] = []  # analysed files outside the model directories
        self.problems: dict[str, FileProblem] = {}
        self._facts: dict[str, object] = {}
        self.overrides: dict[str, bytes] = {}  # absolute path → text to use (a buffer on stdin)
        self._raw: dict[str, bytes | None] = {}  # files read as bytes only (`read_bytes`)
        self.definition_cache: DefinitionCache | None = None  # the persistent cache's, if on
        self._trackers: list[Reads] = []  # what the work in progress reads, innermost last
        self.fact_reads: dict[str, Reads] = {}  # fact → what building it read
        self.extras: list[str] = []  # relpaths of the files `include` added to the class index
        # definitions extracted before the class index is built (by other processes, on several
        # cores): relpath → (definitions, encoded for the cache or None, too deep)
        self.extracted: dict[str, tuple[list[ClassDef], list[object] | None, bool]] = {}
        self.given_facts: dict[str, dict[str, object]] = {}  # and their per-file facts, by file
        # the cache's kept value of a PLAIN_FACTS fact, if what it was built from still holds:
        # (plain value, the files and facts behind it, by fact)
        self.kept_facts: Callable[[str], tuple[object, dict[str, tuple[set[str], set[str]]]] | None] | None = None

    # -- files -------------------------------------------------------------------------------

    def relpath(self, path: Path | str) -> str:
        """The path relative to the root (forward slashes); relative to the cwd without one."""
        absolute = os.path.abspath(path)
        if self._root_prefix and absolute.startswith(self._root_prefix):
            return absolute[len(self._root_prefix) :].replace(os.sep, "/")
        return os.path.relpath(absolute).replace(os.sep, "/")

    def source(self, path: Path) -> SourceFile | None:
        """The file's SourceFile, read once and shared by the model and the rules."""
        key = os.path.abspath(path)
        for tracker in self._trackers:
            tracker.files.add(key)
        if key not in self._sources:
            result = read_source(path, self.relpath(path), data=self.overrides.get(key))
            if isinstance(result, FileProblem):
                self.problems[key] = result
                self._sources[key] = None
            else:
                self._sources[key] = result
        return self._sources[key]

    def read_bytes(self, path: Path) -> bytes | None:
        """A regular file's bytes (None if unreadable or over the size limit), for facts that
        only scan a file; read through the App so that the cache knows the facts depend on it."""
        key = os.path.abspath(path)
        for tracker in self._trackers:
            tracker.files.add(key)
        if key not in self._raw:
            try:
                self._raw[key] = read_bounded(path)
            except OSError:
                self._raw[key] = None
        return self._raw[key]

    def digests(self, known: Container[str] = ()) -> dict[str, str | None]:
        """Every file read so far but those `known`, by absolute path: the hash of its bytes,
        or None if it could not be read (a model file whose hash came from the cache is not
        read for it)."""
        found: dict[str, str | None] = {
            key: None if data is None else content_hash(data)
            for key, data in self._raw.items() if key not in known
        }
        found.update((key, None) for key in self.problems if key not in known)
        found.update((key, source_hash(s)) for key, s in self._sources.items()
                     if s is not None and key not in known)
        return found

    @contextmanager
    def tracking(self) -> Iterator[Reads]:
        """Record the files and facts read inside the block (the cache's dependencies)."""
        reads = Reads()
        self._trackers.append(reads)
        try:
            yield reads
        finally:
            self._trackers.pop()

    def expand(self, reads: Reads) -> set[str]:
        """Every file behind some reads: their own, and those the facts were built from."""
        files = set(reads.files)
        pending, seen = list(reads.facts), set()
        while pending:
            name = pending.pop()
            if name in seen or name not in self.fact_reads:
                continue
            seen.add(name)
            files |= self.fact_reads[name].files
            pending.extend(self.fact_reads[name].facts)
        return files

    def forget(self, key: str) -> None:
        """Drop the text read for a file (by absolute path), so the next `source` reads it anew."""
        self._sources.pop(key, None)
        self.problems.pop(key, None)

    def text(self, relpath: str) -> str | None:
        """A small config file's text (Gemfile.lock, application.rb…), or None."""
        if self.root is None:
            return None
        path = self.root / relpath
        if not path.is_file():
            return None
        source = self.source(path)
        return None if source is None else source.data.decode("utf-8", errors="replace")

    def include(self, sources: Iterable[SourceFile]) -> None:
        """Add analysed files from outside `app/` and `lib/` to the class index (before it is
        first used): a job in `script/` is still known as a job when that file is checked."""
        self._extra.extend(s for s in sources if s.is_ruby and self.outside_model_dirs(s.path))

    def included(self) -> list[SourceFile]:
        """The analysed files `include` added to the class index."""
        return list(self._extra)

    def outside_model_dirs(self, path: Path) -> bool:
        """Is the file outside every directory the class index walks (so `include` adds it)?"""
        if self.root is None:
            return True
        absolute = os.path.abspath(path)
        return not any(absolute.startswith(prefix) for prefix in self._model_prefixes)

    @property
    def _model_prefixes(self) -> list[str]:
        if "_model_prefixes" not in self.__dict__:
            self.__dict__["_model_prefixes"] = [
                os.path.join(os.path.abspath(d), "") for d in self._model_dirs()
            ]
        return self.__dict__["_model_prefixes"]  # type: ignore[no-any-return]

    def model_dir_prefixes(self) -> tuple[str, ...]:
        """The directories the class index walks, relative to the root with a trailing `/`
        (`app/`, `engines/billing/lib/`…), for `walk_files(skip=)`."""
        return tuple(p[len(self._root_prefix):].replace(os.sep, "/") for p in self._model_prefixes)

    def _model_dirs(self) -> list[Path]:
        assert self.root is not None
        dirs = [self.root / d for d in MODEL_DIRS]
        for group in COMPONENT_DIRS:
            parent = self.root / group
            if parent.is_dir():
                for component in sorted(parent.iterdir()):
                    dirs.extend(component / d for d in MODEL_DIRS)
        return [d for d in dirs if d.is_dir() and not d.is_symlink()]

    @fact_property
    def model_files(self) -> list[SourceFile]:
        """The Ruby files the class index is built from: `app/` and `lib/` of the root and of
        its engines, plus the analysed files found elsewhere."""
        files: dict[int, SourceFile] = {}
        if self.root is not None:
            for source in self._model_sources(self.model_paths()):
                if source is not None:
                    files[id(source)] = source
        for source in self._extra:
            if id(source) not in files:
                files[id(source)] = source
                self.extras.append(source.relpath)
                for tracker in self._trackers:
                    tracker.files.add(os.path.abspath(source.path))
        return list(files.values())

    def _model_sources(self, paths: list[str]) -> list[SourceFile | None]:
        """`source(path)` of each path, but for a file whose definitions the cache holds for
        its current size and times, the bytes are read only if something asks for them. (One
        loop for the thousands of files: a call per file cost more than the stat.)"""
        cache = self.definition_cache
        if cache is None:
            return [self.source(Path(path)) for path in paths]
        prefix = self._root_prefix  # the walk's paths are absolute and normal below the root
        keys = [path if path.startswith(prefix) and "/." not in path else os.path.abspath(path)
                for path in paths]
        relpaths = [key[len(prefix):] if key.startswith(prefix) else self.relpath(key) for key in keys]
        kept = cache.unchanged(relpaths, keys)
        found: list[SourceFile | None] = []
        sources, overrides = self._sources, self.overrides
        added = []
        for path, key, relpath, known in zip(paths, keys, relpaths, kept):
            if known is None or key in sources or key in overrides:
                found.append(self.source(Path(path)))
                continue
            source = sources[key] = SourceFile(path, relpath, load=_read_later)
            # the entry kept for these bytes: their hash, definitions and per-file facts
            source.derived["content_hash"], source.derived["cache_entry"] = known[0], known
            found.append(source)
            added.append(key)
        for tracker in self._trackers:
            tracker.files.update(added)
        return found

    def model_paths(self) -> list[str]:
        """The Ruby files below the model directories, found once per run without reading
        them: a fact that needs a few of their bytes reads those and depends on those alone,
        where `model_files` is every file. (The files `include` adds are not among them.)"""
        if "_model_path_list" not in self.__dict__:
            self.__dict__["_model_path_list"] = self._model_paths() if self.root is not None else []
        return self.__dict__["_model_path_list"]  # type: ignore[no-any-return]

    def _model_paths(self) -> list[str]:
        """The Ruby files below the model directories; from the cache's last walk while no
        directory it went through changed."""
        assert self.root is not None
        tops = self._model_dirs()
        cache = self.definition_cache
        names = [str(top) for top in tops]
        if cache is not None:
            known = cache.listing(names)
            if known is not None:
                return known
        visited: list[str] = []
        excludes = Excludes(self.root)
        paths = [p for top in tops for p in walk_paths(top, self.root, _is_rb, excludes, visited)]
        if cache is not None and not excludes.problems:
            cache.record_listing(names, os.path.abspath(self.root), visited, paths)
        return paths

    # -- facts -------------------------------------------------------------------------------

    def fact(self, name: str, build: Callable[[App], T]) -> T:
        """A fact computed by `build(app)` at most once per run — the way fact modules
        (queues, schedules, mailer views…) attach to the App without editing this class."""
        if name not in self._facts and not self._kept(name):
            reads = Reads()
            self._trackers.append(reads)
            try:
                with TREES.reading_many():
                    self._facts[name] = build(self)
            finally:
                self._trackers.pop()
            self.fact_reads[name] = reads
        for tracker in self._trackers:
            tracker.facts.add(name)
        return self._facts[name]  # type: ignore[no-any-return]

    def built(self, name: str) -> bool:
        """Has the fact been built, or taken from the cache, in this run?"""
        return name in self._facts

    def file_fact(self, name: str, source: SourceFile, build: Callable[[SourceFile], T]) -> T:
        """What `build` finds in one file alone, as plain data (lists, tuples, strings,
        numbers), kept by the cache with the file's definitions while its bytes are the same:
        a fact gathered from every model file then reads and parses only the files that
        changed."""
        return self.file_facts(name, [source], build)[0]

    def file_facts(self, name: str, sources: list[SourceFile], build: Callable[[SourceFile], T]) -> list[T]:
        """`file_fact` of each file, asked in one go (of every model file, in turn). A file
        the model took unread from the cache carries the facts kept for its bytes; the others
        are looked up, and built if the cache has no value."""
        cache = self.definition_cache
        if cache is None:
            return [self._file_value(name, source, build) for source in sources]
        found: list[object] = []
        asked = []  # the indices of the files that carry no value
        for index, source in enumerate(sources):
            entry = source.derived.get("cache_entry")
            value = entry[4].get(name) if entry is not None else None  # type: ignore[index]
            if value is None:
                asked.append(index)
            found.append(value)
        if asked:
            digests = [source_hash(sources[index]) for index in asked]
            values = cache.file_facts(name, [sources[index].relpath for index in asked], digests)
            for index, digest, value in zip(asked, digests, values):
                if value is None:
                    value = self._file_value(name, sources[index], build)
                    cache.record_file_fact(sources[index].relpath, digest, name, value)
                found[index] = value
        return found  # type: ignore[return-value]

    def _file_value(self, name: str, source: SourceFile, build: Callable[[SourceFile], T]) -> T:
        """`build(source)`, unless the process that extracted the file's definitions built it
        from the same bytes."""
        given = self.given_facts.get(source.relpath)
        if given is not None and name in given:
            return given[name]  # type: ignore[return-value]
        return build(source)

    def mentions(self, source: SourceFile, words: tuple[bytes, ...]) -> bool:
        """Does the file hold one of `words`? For a model file, kept with its definitions: an
        unchanged file is not even read to answer."""
        if self.definition_cache is None or not self.definition_cache.holds(source.relpath):
            return source.contains_any(words)  # no entry to keep the answer with
        name = _MENTION_FACTS.get(words)
        if name is None:  # asked of every model file in turn: the name is made once
            name = _MENTION_FACTS[words] = "mentions:" + ",".join(w.decode("latin-1") for w in words)
        return self.file_fact(name, source, lambda s: s.contains_any(words))

    def _kept(self, name: str) -> bool:
        """Take the fact from the cache if it kept it and it still holds."""
        if self.kept_facts is None or name not in PLAIN_FACTS:
            return False
        kept = self.kept_facts(name)
        if kept is None:
            return False
        value, behind = kept
        try:
            self._facts[name] = revive(value, {c.__name__: c for c in PLAIN_FACTS[name][1]})
        except (KeyError, TypeError, ValueError):
            return False  # a value this code cannot read back: build the fact
        for fact, (files, facts) in behind.items():
            self.fact_reads.setdefault(fact, Reads(files, facts))
        return True

    def plain_facts(self, used: Iterable[str] = ()) -> dict[str, object]:
        """The PLAIN_FACTS facts of this run, as plain data, for the cache to keep; those only
        `used` elsewhere (by worker processes) are got here first."""
        for name in set(used) & set(PLAIN_FACTS) - set(self._facts):
            PLAIN_FACTS[name][0](self)
        found = {}
        for name in PLAIN_FACTS:
            if name in self._facts and name in self.fact_reads:
                try:
                    found[name] = plain(self._facts[name])
                except TypeError:
                    continue
        return found

    @fact_property
    def classes(self) -> ClassIndex:
        definitions: list[ClassDef] = []
        by_path: dict[str, list[ClassDef]] = {}  # each file's, for `definitions_in`
        cache = self.definition_cache
        sources = self.model_files
        # the files the model took unread from the cache carry their entry; the others' are
        # looked up by the hash of their bytes
        looked_up: dict[int, tuple[str, tuple[list[object], bool] | None]] = {}
        if cache is not None:
            asked = [s for s in sources if "cache_entry" not in s.derived]
            digests = [source_hash(source) for source in asked]
            kept = cache.lookup_all([source.relpath for source in asked], digests)
            looked_up = {id(s): (d, k) for s, d, k in zip(asked, digests, kept)}
        for source in sources:
            if cache is None:
                found = self._definitions_of(source)[0]
            elif "cache_entry" in source.derived:
                entry: list = source.derived["cache_entry"]  # type: ignore[assignment]
                source.too_deep = bool(entry[1])
                found = decode_definitions(entry[2], source)  # type: ignore[arg-type]
            else:
                digest, known = looked_up[id(source)]
                if known is not None:
                    encoded, source.too_deep = known
                    found = decode_definitions(encoded, source)
                else:
                    found, encoded = self._definitions_of(source)
                    cache.record(source.relpath, os.path.abspath(source.path), digest,
                                 encode_definitions(found) if encoded is None else encoded,
                                 source.too_deep)
            if found:
                definitions.extend(found)
                by_path.setdefault(source.relpath, []).extend(found)
        self.__dict__["_files_definitions"] = by_path
        return ClassIndex(definitions)

    def _definitions_of(self, source: SourceFile) -> tuple[list[ClassDef], list[object] | None]:
        """The file's definitions, and their encoding when they came encoded: extracted
        beforehand (`extracted`), else now."""
        done = self.extracted.pop(source.relpath, None)
        if done is None:
            return extract_definitions(source), None
        found, encoded, source.too_deep = done
        return found, encoded

    @fact_property
    def _definitions_by_path(self) -> dict[str, list[ClassDef]]:
        _ = self.classes  # builds the table as it reads each file
        table: dict[str, list[ClassDef]] = self.__dict__["_files_definitions"]
        for defs in table.values():
            if len(defs) > 1:
                defs.sort(key=lambda d: d.name_start)
        return table

    @fact_property
    def _model_file_set(self) -> set[SourceFile]:
        return set(self.model_files)

    def definitions_in(self, source: SourceFile) -> list[ClassDef]:
        """The class/module definitions of one file (read from the index when it holds them)."""
        if source.relpath in self._definitions_by_path or source in self._model_file_set:
            return self._definitions_by_path.get(source.relpath, [])
        return extract_definitions(source)

    @fact_property
    def jobs(self) -> JobModel:
        return JobModel(self.classes)

    @fact_property
    def gems(self) -> dict[str, config.Version]:
        text = self.text("Gemfile.lock")
        return config.locked_gems(text) if text else {}

    @fact_property
    def rails_version(self) -> config.Version | None:
        for gem in ("rails", "railties", "activejob"):
            if gem in self.gems:
                return self.gems[gem]
        return None

    @fact_property
    def load_defaults(self) -> config.Version | None:
        text = self.text("config/application.rb")
        return config.load_defaults(text) if text else None

    @fact_property
    def backend(self) -> Backend:
        texts = [t for t in (self.text(f) for f in ADAPTER_FILES) if t]
        adapter = config.queue_adapter(texts)
        locked = frozenset(g for g in config.BACKEND_GEMS if g in self.gems)
        if adapter is None and len(locked) == 1:
            adapter = next(iter(locked))  # the one backend gem is the adapter in practice
        return Backend(adapter, locked)

    @fact_property
    def model_classes(self) -> frozenset[str]:
        """Active Record models defined under `app/models`."""
        return frozenset(model_names(self.classes, lambda d: d.path.startswith("app/models/")))

    @fact_property
    def model_names(self) -> dict[str, str]:
        """Variable-style model names (`line_item`) → class name."""
        names: dict[str, str] = {}
        for name in sorted(self.model_classes):
            names.setdefault(underscore(name.rsplit("::", 1)[-1]), name)
        return names

    def chain_model(self, node) -> str | None:  # type: ignore[no-untyped-def]
        """The project model a method chain is rooted at (`Billing::Invoice.where(..)` →
        `Billing::Invoice`), resolved from where the chain is written; None otherwise."""
        written = ruby.constant_path(ruby.chain_root(node))
        if written is None:
            return None
        model = self.classes.resolve(written, self.lexical_scope(node))
        return model if model in self.model_classes else None

    def is_model_constant(self, written: str, scope: tuple[str, ...] = ()) -> bool:
        """Does a constant as written (`User`, `Billing::Invoice`) name a project model?"""
        return self.classes.resolve(written, scope) in self.model_classes

    # -- questions rules ask -----------------------------------------------------------------

    def enclosing_class(self, node) -> str | None:  # type: ignore[no-untyped-def]
        """The fully-qualified name of the innermost class/module around a node."""
        scope = ruby.enclosing(node, {"class", "module"})
        return None if scope is None else qualified_name(scope)

    def lexical_scope(self, node) -> tuple[str, ...]:  # type: ignore[no-untyped-def]
        """Namespaces around a node, outermost first, for constant lookup: ("A", "A::B")."""
        scope = ruby.enclosing(node, {"class", "module"})
        if scope is None:
            return ()
        return scopes_of(lexical_names(scope))

    def job_kind_at(self, source: SourceFile, node) -> JobKind | None:  # type: ignore[no-untyped-def]
        """Is `node` inside a job? Its kind if so (ActiveJob, Sidekiq, a native Delayed Job or
        Resque job, or unknown), else None. An Action Mailbox mailbox counts as an ActiveJob
        job: its `process` runs inside `ActionMailbox::RoutingJob`. A native job that is a model
        is a job only in the method the backend runs (`native_jobs.native_job_at`)."""
        name = self.enclosing_class(node)
        kind = self.jobs.kind(name) if name is not None else None
        if kind is None:  # `FooJob = Struct.new(:id) do … end` may stand outside any class
            for lookup in NATIVE_JOB_LOOKUPS:
                native = lookup(self, source, node)
                if native is not None:
                    return native
        if name is None:
            return None
        if kind is None and MAILBOX_BASE in self.classes.ancestors(name):
            return JobKind.ACTIVE_JOB  # a mailbox processes mail inside ActionMailbox::RoutingJob
        if kind is None and source.in_dir(*JOB_DIRS):
            return JobKind.UNKNOWN
        return kind

    def in_request_path(self, source: SourceFile) -> bool:
        return source.in_dir(*self.request_paths)


def underscore(name: str) -> str:
    """`LineItem` → `line_item`, `HTTPRequest` → `http_request` (ActiveSupport's rule)."""
    out = []
    for index, char in enumerate(name):
        if char.isupper() and index > 0:
            prev = name[index - 1]
            following = name[index + 1] if index + 1 < len(name) else ""
            if prev.islower() or prev.isdigit() or (prev.isupper() and following.islower()):
                out.append("_")
        out.append(char.lower())
    return "".join(out)

