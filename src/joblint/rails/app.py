"""The App: root discovery, file inventory and the facts rules receive, built once per run."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from .. import ruby
from ..files import FileProblem, read_source, walk_files
from ..source import SourceFile
from . import config
from .classes import ClassDef, ClassIndex, extract_definitions, lexical_names, qualified_name, scopes_of
from .jobs import JobKind, JobModel
from .models import model_names

MODEL_DIRS = ("app", "lib")
REQUEST_PATHS = ("app/controllers", "app/graphql", "app/channels")
JOB_DIRS = ("app/jobs", "app/workers", "app/sidekiq")
ADAPTER_FILES = ("config/application.rb", "config/environments/production.rb")


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


class App:
    """A read-only model of one Rails app. Facts are computed lazily, at most once."""

    def __init__(
        self,
        root: Path | None,
        request_paths: Iterable[str] = (),
        extra_files: Iterable[SourceFile] = (),
    ):
        self.root = root
        self.request_paths = tuple(REQUEST_PATHS) + tuple(request_paths)
        self._sources: dict[Path, SourceFile | None] = {}
        self._extra = list(extra_files)
        self.problems: dict[Path, FileProblem] = {}

    # -- files -------------------------------------------------------------------------------

    def relpath(self, path: Path) -> str:
        if self.root is not None:
            try:
                return path.resolve().relative_to(self.root.resolve()).as_posix()
            except ValueError:
                pass
        return Path(os.path.relpath(path)).as_posix()

    def source(self, path: Path) -> SourceFile | None:
        """The file's SourceFile, read once and shared by the model and the rules."""
        key = path.resolve()
        if key not in self._sources:
            result = read_source(path, self.relpath(path))
            if isinstance(result, FileProblem):
                self.problems[key] = result
                self._sources[key] = None
            else:
                self._sources[key] = result
        return self._sources[key]

    def add_source(self, source: SourceFile) -> None:
        self._sources[source.path.resolve()] = source

    def text(self, relpath: str) -> str | None:
        """A small config file's text (Gemfile.lock, application.rb…), or None."""
        if self.root is None:
            return None
        path = self.root / relpath
        if not path.is_file():
            return None
        source = self.source(path)
        return None if source is None else source.data.decode("utf-8", errors="replace")

    @cached_property
    def model_files(self) -> list[SourceFile]:
        """The Ruby files the class index is built from: `app/` and `lib/` of the root."""
        if self.root is None:
            return [s for s in self._extra if s.is_ruby]
        files = []
        for directory in MODEL_DIRS:
            top = self.root / directory
            if not top.is_dir():
                continue
            for path in walk_files(top, self.root, lambda p: p.endswith(".rb")):
                source = self.source(path)
                if source is not None:
                    files.append(source)
        return files

    # -- facts -------------------------------------------------------------------------------

    @cached_property
    def classes(self) -> ClassIndex:
        definitions: list[ClassDef] = []
        for source in self.model_files:
            definitions.extend(extract_definitions(source))
        return ClassIndex(definitions)

    @cached_property
    def _definitions_by_path(self) -> dict[str, list[ClassDef]]:
        table: dict[str, list[ClassDef]] = {}
        for defs in self.classes.definitions.values():
            for definition in defs:
                table.setdefault(definition.path, []).append(definition)
        for defs in table.values():
            defs.sort(key=lambda d: d.name_start)
        return table

    @cached_property
    def _model_file_set(self) -> set[SourceFile]:
        return set(self.model_files)

    def definitions_in(self, source: SourceFile) -> list[ClassDef]:
        """The class/module definitions of one file (read from the index when it holds them)."""
        if source.relpath in self._definitions_by_path or source in self._model_file_set:
            return self._definitions_by_path.get(source.relpath, [])
        return extract_definitions(source)

    @cached_property
    def jobs(self) -> JobModel:
        return JobModel(self.classes)

    @cached_property
    def gems(self) -> dict[str, config.Version]:
        text = self.text("Gemfile.lock")
        return config.locked_gems(text) if text else {}

    @cached_property
    def rails_version(self) -> config.Version | None:
        for gem in ("rails", "railties", "activejob"):
            if gem in self.gems:
                return self.gems[gem]
        return None

    @cached_property
    def load_defaults(self) -> config.Version | None:
        text = self.text("config/application.rb")
        return config.load_defaults(text) if text else None

    @cached_property
    def backend(self) -> Backend:
        texts = [t for t in (self.text(f) for f in ADAPTER_FILES) if t]
        adapter = config.queue_adapter(texts)
        locked = frozenset(g for g in config.BACKEND_GEMS if g in self.gems)
        if adapter is None and len(locked) == 1:
            adapter = next(iter(locked))  # the one backend gem is the adapter in practice
        return Backend(adapter, locked)

    @cached_property
    def model_classes(self) -> frozenset[str]:
        """Active Record models defined under `app/models`."""
        return frozenset(model_names(self.classes, lambda d: d.path.startswith("app/models/")))

    @cached_property
    def model_names(self) -> dict[str, str]:
        """Variable-style model names (`line_item`) → class name."""
        names: dict[str, str] = {}
        for name in sorted(self.model_classes):
            names.setdefault(underscore(name.rsplit("::", 1)[-1]), name)
        return names

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
        """Is `node` inside a job? Its kind if so (ActiveJob, Sidekiq or unknown), else None."""
        name = self.enclosing_class(node)
        if name is None:
            return None
        kind = self.jobs.kind(name)
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

