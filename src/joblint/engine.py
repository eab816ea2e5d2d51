"""Run rules over files and facts: file collection, dispatch, crash isolation, ordering."""

from __future__ import annotations

import enum
import gc
import json
import os
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import cache, ruby, rules, suppressions
from .files import SKIPPED_DIRS, Excludes, FileProblem, is_lintable, os_reason, walk_files
from .findings import EXTERNAL, IN_SOURCE, Edit, Finding, Hit, Severity, Suppressed, fingerprint
from .rails import file_facts
from .rails.app import App, Reads
from .rails.classes import decode_definitions, encode_definitions, extract_definitions
from .roots import owning_app, root_for
from .rules import Rule
from .source import TREES, SourceFile, is_ruby_path


@dataclass(frozen=True)
class Options:
    rules: Sequence[type[Rule]]
    excludes: tuple[str, ...] = ()
    request_paths: tuple[str, ...] = ()
    root: Path | None = None  # force the Rails root (tests, examples); found from paths otherwise
    rule_options: Mapping[str, Mapping[str, object]] = field(default_factory=dict)  # code → options
    severity: Mapping[str, Severity] = field(default_factory=dict)  # code → overriding severity
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()  # root-relative glob → codes
    progress: Callable[[int, int], None] | None = None  # (files done, files in all)
    jobs: int | None = None  # worker processes; None: automatic (several only for big apps)
    force_exclude: bool = False  # apply the excludes to files named on the command line too
    buffers: Mapping[str, bytes] = field(default_factory=dict)  # absolute path → text (stdin)
    cache: bool = False  # keep and use the persistent cache (the command line's default)
    cache_dir: Path | None = None  # where: `.joblint_cache` at each Rails root when None


@dataclass
class FileFixes:
    """The safe fixes offered for one file, with the bytes they apply to."""

    path: Path
    data: bytes
    edits: list[Edit] = field(default_factory=list)


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    problems: list[FileProblem] = field(default_factory=list)  # bad input, on stderr
    crashes: list[str] = field(default_factory=list)  # internal errors: exit code 2
    missing_paths: list[str] = field(default_factory=list)  # named paths that do not exist
    fixes: dict[str, FileFixes] = field(default_factory=dict)  # display path → safe fixes
    # findings hidden by `# joblint:disable` or the baseline, kept for SARIF's `suppressions`
    suppressed: list[Suppressed] = field(default_factory=list)
    ignored: int = 0  # findings dropped by per-file-ignores (like an unselected rule: not kept)
    linted: set[str] = field(default_factory=set)  # display paths of the files analysed
    baseline_fixed: int = 0  # baseline entries that no longer occur
    partial: int = 0  # analysed Ruby files the parser could not read completely
    unrooted: int = 0  # files linted with no Rails root: project rules see only what was given
    # for the whole-run replay (`replay.py`): per cache directory, every path the report rests
    # on; None once a part of the run cannot be replayed (no cache, a path outside the root…)
    inputs: dict[str, set[str]] | None = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return bool(self.crashes or self.missing_paths)

    @property
    def baselined(self) -> int:
        """Findings hidden by the baseline."""
        return sum(1 for s in self.suppressed if s.kind == EXTERNAL)


def display_path(path: Path | str, cwd: Path) -> str:
    base = os.fspath(cwd)
    absolute = os.path.join(base, path)
    if os.sep == "/" and absolute.startswith(base.rstrip("/") + "/") and "/." not in absolute \
            and "//" not in absolute and not absolute.endswith("/") and base == os.path.normpath(base):
        shown = absolute[len(base.rstrip("/")) + 1 :]  # below cwd, already normal: relpath's answer
    else:
        try:
            shown = os.path.relpath(absolute, cwd).replace(os.sep, "/")
        except ValueError:  # another drive on Windows
            shown = Path(absolute).as_posix()
    return printable_path(shown)


def printable_path(path: str) -> str:
    """A file name that is not valid UTF-8 (`bad\\xff.rb`) shown with escapes, so that every
    format can write it and fingerprints can hash it."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return path


def lint(paths: Sequence[Path], options: Options, cwd: Path | None = None) -> Report:
    cwd = cwd or Path.cwd()
    report = Report()
    groups: dict[Path | None, dict[str, Path]] = defaultdict(dict)
    for given in paths:
        path = given if given.is_absolute() else cwd / given
        if os.path.abspath(path) in options.buffers:
            root, _ = root_for(Path(os.path.abspath(path)))
            groups[options.root or root][os.path.abspath(path)] = path
            continue
        if not os.path.lexists(path):
            report.missing_paths.append(given.as_posix())
            report.problems.append(FileProblem(given.as_posix(), "no such file or directory"))
            continue
        try:
            path.stat()
        except OSError as error:
            report.problems.append(FileProblem(given.as_posix(), os_reason(error)))
            continue
        if options.root is not None:
            groups[options.root].update(_targets(path, options.root, options))
            continue
        root, apps = root_for(Path(os.path.abspath(path)))
        if apps or not _walked_by_scans(path, root):
            report.inputs = None
        for resolved, walked in _targets(path, root, options, report.problems).items():
            groups[owning_app(resolved, apps) or root][resolved] = walked
    if report.missing_paths or report.problems or options.root is not None or len(groups) != 1:
        report.inputs = None
    models = [_lint_group(root, groups[root], options, cwd, report)
              for root in sorted(groups, key=lambda r: str(r))]
    if not gc.isenabled():
        # a command (`_entry` turned the collector off) exits without freeing anything: the
        # models are kept for it to drop, not freed here (13 ms on 10,000 files). A server
        # or a test frees each run's as it ends.
        _LAST_MODELS[:] = models
    report.findings.sort(key=lambda f: f.sort_key)
    report.suppressed.sort(key=lambda s: s.finding.sort_key)
    report.problems.sort(key=lambda p: p.path)
    return report


_LAST_MODELS: list[App] = []


def _walked_by_scans(path: Path, root: Path | None) -> bool:
    """Is a named path inside the root, and not in a directory the cache's scans skip? Only
    then does a scan of the root see a file added where the path is walked."""
    if root is None:
        return False
    relative = os.path.relpath(os.path.abspath(path), root)
    parts = relative.split(os.sep)
    return relative == "." or (parts[0] != ".." and not SKIPPED_DIRS.intersection(parts))


def _targets(
    path: Path, root: Path | None, options: Options, problems: list[FileProblem] | None = None
) -> dict[str, Path]:
    """Files to report on below a named path: resolved path → path as walked."""
    if not path.is_dir():
        absolute = Path(os.path.abspath(path))
        if options.force_exclude and Excludes(root or path.parent, options.excludes).excluded(
            absolute, False
        ):
            return {}  # ruff's --force-exclude
        return {os.path.abspath(path): path}  # named files are linted unless --force-exclude
    base = root or path
    excludes = Excludes(base, options.excludes)
    found = {os.path.abspath(f): f for f in walk_files(path, base, is_lintable, excludes=excludes)}
    if problems is not None:
        problems.extend(excludes.problems)
    return found


def _lint_group(
    root: Path | None, targets: dict[str, Path], options: Options, cwd: Path, report: Report
) -> App:
    started = cache.now_ns()
    store = _store(root, options)
    app = App(root, request_paths=options.request_paths)
    app.overrides.update(options.buffers)
    code = cache.code_id() if store is not None else ""
    shares = None
    if store is not None:
        app.definition_cache = cache.DefinitionCache(store, code)
        shares = cache.FindingCache(store, _context(options, root, cwd, code))
        app.kept_facts = shares.fact
    shown = {resolved: display_path(path, cwd) for resolved, path in targets.items()}
    active = [r for r in options.rules if r.triggers]
    passive = [r for r in options.rules if not r.triggers]  # run wherever an active rule ran
    dispatch = _Dispatch(active)

    files: list[str] = []  # the readable targets (resolved paths), in display order
    read: dict[str, SourceFile] = {}
    stored: dict[str, dict[str, object]] = {}  # cache entries recorded for the files' bytes
    for resolved in sorted(targets, key=shown.__getitem__):
        path = targets[resolved]
        key = os.path.abspath(path)
        # a file whose size and time match its entry is not even read
        entry = shares.matching(key) if shares is not None else None
        if entry is None:
            source = app.source(path)
            if source is None:
                problem = app.problems[resolved]
                report.problems.append(FileProblem(shown[resolved], problem.reason))
                continue
            read[resolved] = source
            if shares is not None:
                entry = shares.matching(key, cache.source_hash(source))
        files.append(resolved)
        if entry is not None:
            stored[resolved] = entry
    report.files += len(files)
    if root is None:
        report.unrooted += len(files)

    wanted: dict[str, list[type[Rule]]] = {}

    def wants(resolved: str) -> bool:
        if resolved in stored:
            return bool(stored[resolved]["share"]["wanted"])  # type: ignore[index]
        if resolved not in wanted:
            wanted[resolved] = dispatch.rules_for(read[resolved])
        return bool(wanted[resolved])

    # analysed files from outside app/ and lib/ join the class index, so that a job in
    # `script/` is still known as a job; findings that used the index depend on which did
    outside = [r for r in files if is_ruby_path(targets[r].name) and app.outside_model_dirs(targets[r])]
    extras = sorted(app.relpath(targets[r]) for r in outside if wants(r))
    replayed = [r for r in files if r in stored and shares is not None
                and shares.valid(os.path.abspath(targets[r]), stored[r], extras)]
    for resolved in replayed:
        _replay(stored[resolved]["share"], shown[resolved], report)  # type: ignore[arg-type]
    done = set(replayed)
    sources = []
    for resolved in files:
        if resolved not in done:
            source = read.get(resolved) or app.source(targets[resolved])
            if source is None:  # unreadable since its size and time were checked
                problem = app.problems[resolved]
                report.problems.append(FileProblem(shown[resolved], problem.reason))
                continue
            read[resolved] = source
            if resolved not in wanted:
                wanted[resolved] = dispatch.rules_for(source)
            sources.append(source)
    if not sources:
        if shares is not None:
            report.problems.extend(FileProblem(*p) for p in shares.replayed_problems())
            shares.save()
            _rests_on(report, store, shares, files, targets)
        return app

    app.include(s for s in (app.source(targets[r]) for r in outside if wants(r)) if s is not None)
    by_source = {id(read[r]): wanted[r] for r in files if r in read and r in wanted}
    TREES.expect((s for s in sources if by_source[id(s)]), len(files))  # the model's other trees go first
    run = _FileRun(app, options, cwd, by_source, passive, bool(active))
    workers = _worker_count(options)
    parts: dict[int, Report] = {}
    reads: dict[int, Reads] = {}
    worker_digests: dict[str, str | None] = {}
    worker_facts: dict[str, Reads] = {}
    if workers > 1:
        worker_digests, worker_facts = _run_parallel(
            run, sources, workers, parts, reads, len(replayed), report.files
        )
    else:
        for count, source in enumerate(sources):
            if options.progress is not None:
                options.progress(len(replayed) + count, report.files)
            parts[id(source)] = part = Report()
            reads[id(source)] = run.file(source, part)
    for source in sources:
        _merge(parts[id(source)], report)
    model_problems = _model_problems(app, targets, cwd)
    if shares is not None:
        model_problems = sorted(
            set(model_problems) | {FileProblem(*p) for p in shares.replayed_problems()},
            key=lambda p: (p.path, p.reason),
        )
    report.problems.extend(model_problems)
    small = shares is not None and len(sources) * SMALL_RUN_SHARE < shares.count
    if store is not None and shares is not None and root is not None and not (
            small and _changed_just_before(sources, started)):
        plain_facts = app.plain_facts(worker_facts)  # before the reads are gathered
        facts = {**app.fact_reads, **worker_facts}
        _keep(app, store, shares, sources, parts, reads, by_source, facts, worker_digests, extras,
              started, cwd, targets, plain_facts, small)
        _rests_on(report, store, shares, files, targets)
    else:
        # a small run keeps its shares for the replay only, and a file it analysed changed too
        # recently for a replay to trust: nothing to keep (the pre-commit path, just edited)
        if small:
            _save_definitions(app, small)
        report.inputs = None
    return app


def _changed_just_before(sources: list[SourceFile], started: int) -> bool:
    """Was one of the files modified so shortly before the run that its times cannot tell a
    later change (`cache.RACY_NS`)?"""
    for source in sources:
        found = cache.stamp(os.path.abspath(source.path))
        if found is None or found[1] >= started - cache.RACY_NS:
            return True
    return False


def _save_definitions(app: App, small: bool) -> None:
    """The class definitions are kept by full runs, and by any run that walked the model
    directories again."""
    if app.definition_cache is not None and not (small and not app.definition_cache.walked):
        app.definition_cache.save()


def _rests_on(
    report: Report, store: cache.Store | None, shares: cache.FindingCache, files: list[str],
    targets: dict[str, Path],
) -> None:
    """Say, for the whole-run replay, what this group's part of the report rests on."""
    if report.inputs is None or store is None or len(files) != len(targets):
        report.inputs = None  # an unreadable file: its problem may not last
        return
    paths = shares.inputs(os.path.abspath(targets[r]) for r in files)
    if paths is None:
        report.inputs = None
    else:
        report.inputs[str(store.directory)] = paths


def _store(root: Path | None, options: Options) -> cache.Store | None:
    """The cache for this root, unless it is off, there is no root, or a buffer is linted."""
    if not options.cache or root is None or options.buffers:
        return None
    return cache.open_store(Path(os.path.abspath(root)), options.cache_dir)


def _context(options: Options, root: Path | None, cwd: Path, code: str) -> str:
    """Everything besides the files that decides a file's share of the report."""
    described = {
        "code": code,
        "root": os.path.abspath(root) if root else None,
        "cwd": os.path.abspath(cwd),
        "rules": [rule.code for rule in options.rules],
        "rule_options": options.rule_options,
        "severity": {code: int(level) for code, level in options.severity.items()},
        "per_file_ignores": options.per_file_ignores,
        "request_paths": options.request_paths,
        "excludes": options.excludes,
    }
    text = json.dumps(described, sort_keys=True, default=_plain)
    return cache.content_hash(text.encode("utf-8", "surrogateescape"))


def _plain(value: object) -> object:
    """Settings values JSON does not know, the same way in every run (a set's order is not)."""
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, enum.Enum):
        return value.value
    return repr(value)


def _share(part: Report, wanted: bool) -> dict[str, object]:
    """One file's share of the report, as the cache keeps it."""
    return {
        "wanted": wanted,
        "findings": [cache.encode_finding(f) for f in part.findings],
        "suppressed": [cache.encode_suppressed(s) for s in part.suppressed],
        "ignored": part.ignored,
        "partial": part.partial,
        "problems": [[p.path, p.reason] for p in part.problems],
    }


def _replay(share: dict[str, object], display: str, report: Report) -> None:
    report.linted.add(display)
    report.findings.extend(cache.decode_finding(f) for f in share["findings"])  # type: ignore[attr-defined]
    report.suppressed.extend(cache.decode_suppressed(s) for s in share["suppressed"])  # type: ignore[attr-defined]
    report.ignored += share["ignored"]  # type: ignore[operator]
    report.partial += share["partial"]  # type: ignore[operator]
    report.problems.extend(FileProblem(path, reason) for path, reason in share["problems"])  # type: ignore[attr-defined]


def _merge(part: Report, report: Report) -> None:
    report.findings.extend(part.findings)
    report.crashes.extend(part.crashes)
    report.linted |= part.linted
    report.fixes.update(part.fixes)
    report.suppressed.extend(part.suppressed)
    report.ignored += part.ignored
    report.partial += part.partial
    report.problems.extend(part.problems)


def _keep(
    app: App,
    store: cache.Store,
    shares: cache.FindingCache,
    sources: list[SourceFile],
    parts: dict[int, Report],
    reads: dict[int, Reads],
    wanted: dict[int, list[type[Rule]]],
    facts: dict[str, Reads],
    worker_digests: dict[str, str | None],
    extras: list[str],
    started: int,
    cwd: Path,
    targets: dict[str, Path],
    plain_facts: dict[str, object],
    small: bool,
) -> None:
    """Write this run's shares to the cache, each under the state of what its analysis read.

    A `small` run, one that analysed a few files of a large cache (the pre-commit path), keeps
    its shares in memory only, for the whole-run replay: rewriting megabytes of cache to save
    the next full run the analysis of those few files costs more than it saves."""
    assert app.root is not None
    _save_definitions(app, small)
    digests = app.digests()
    digests.update(worker_digests)
    files = digests if small else cache.file_records(digests)  # a small run's scan is not saved
    problems = {key: (display_path(key, cwd), problem.reason)
                for key, problem in app.problems.items() if key not in targets}
    scan_id = shares.add_scan(
        started,
        shares.directories(app.root, [store.directory]),
        files,
        {name: (r.files, r.facts) for name, r in facts.items()},
        problems,
        extras,
        unsaved=small,
    )
    for name, value in plain_facts.items():
        shares.keep_value(name, scan_id, value)
    states: dict[tuple[frozenset[str], frozenset[str]], str] = {}
    behind: dict[frozenset[str], set[str]] = {}  # facts → the files they rest on
    for source in sources:
        part, used = parts[id(source)], reads[id(source)]
        if part.crashes:
            continue  # an internal error is never replayed
        key = os.path.abspath(source.path)
        names = frozenset(used.facts)
        if names not in behind:
            behind[names] = _files_behind(names, facts)
        # a file the facts already rest on (a model read again through the index) is not
        # listed again: states stay few and small
        group = (frozenset(used.files - {key} - behind[names]), names)
        if group not in states:
            states[group] = shares.add_state(scan_id, group[0], names, _uses(names, facts, "model_files"))
        if states[group]:
            share = _share(part, bool(wanted[id(source)]))
            shares.record(key, cache.source_hash(source), share, states[group])
    if not small:
        shares.save()


def _files_behind(names: frozenset[str], facts: dict[str, Reads]) -> set[str]:
    files: set[str] = set()
    pending, seen = list(names), set()
    while pending:
        name = pending.pop()
        if name not in seen and name in facts:
            seen.add(name)
            files |= facts[name].files
            pending.extend(facts[name].facts)
    return files


def _uses(names: frozenset[str], facts: dict[str, Reads], wanted: str) -> bool:
    """Does any of these facts rest, transitively, on the fact `wanted`?"""
    pending, seen = list(names), set()
    while pending:
        name = pending.pop()
        if name == wanted:
            return True
        if name not in seen and name in facts:
            seen.add(name)
            pending.extend(facts[name].facts)
    return False


def lint_buffer(app: App, path: Path, data: bytes, options: Options, cwd: Path) -> Report:
    """Lint one file's text against a project model that is already built — the language
    server's path: the model is kept between keystrokes, and only this buffer is read and
    checked. The model keeps what it learnt from the file's saved text until it is rebuilt."""
    report = Report()
    key = os.path.abspath(path)
    app.overrides[key] = data
    app.forget(key)
    source = app.source(path)
    if source is None:
        problem = app.problems.get(key)
        reason = problem.reason if problem is not None else "cannot be read"
        report.problems.append(FileProblem(display_path(path, cwd), reason))
        return report
    report.files = 1
    active = [r for r in options.rules if r.triggers]
    passive = [r for r in options.rules if not r.triggers]
    wanted = {id(source): _Dispatch(active).rules_for(source)}
    _FileRun(app, options, cwd, wanted, passive, bool(active)).file(source, report)
    report.findings.sort(key=lambda f: f.sort_key)
    return report


def _model_problems(app: App, targets: dict[str, Path], cwd: Path) -> list[FileProblem]:
    """Files the project model could not read (an unreadable `Gemfile.lock`, a link out of the
    root), said once, after the run: they change what the rules know."""

    _ = app.gems  # read in worker processes too; its problem must reach this one
    return [
        FileProblem(display_path(key, cwd), problem.reason)
        for key, problem in sorted(app.problems.items())
        if key not in targets
    ]


class _FileRun:
    """Everything needed to analyse one file of a group; shared by the worker processes."""

    def __init__(
        self,
        app: App,
        options: Options,
        cwd: Path,
        wanted: dict[int, list[type[Rule]]],
        passive: list[type[Rule]],
        any_active: bool,
    ):
        self.app = app
        self.options = options
        self.cwd = cwd
        self.wanted = wanted
        self.passive = passive
        self.any_active = any_active
        self.ignores = _PerFileIgnores(options.per_file_ignores)
        self.enabled = {rule.code for rule in options.rules}
        self.checkers: dict[type[Rule], Rule] = {}

    def _run_rule(self, rule: type[Rule], source: SourceFile, display: str, report: Report) -> list[Hit]:
        try:
            checker = self.checkers.get(rule)
            if checker is None:  # one per run: a rule keeps nothing between files but its settings
                checker = self.checkers[rule] = rule(self.options.rule_options.get(rule.code))
            return list(checker.check(source, self.app))
        except ruby.TooDeep:
            raise  # the file is not analysed at all
        except Exception as error:  # a crashing rule must not stop the run
            report.crashes.append(
                f"{display}: rule {rule.code} ({rule.name}) crashed: {type(error).__name__}: {error}"
            )
            return []

    def file(self, source: SourceFile, report: Report) -> Reads:
        """Analyse one file into `report`; what the analysis read is returned, for the cache."""
        with self.app.tracking() as reads, TREES.pinning(source):
            self._file(source, report)
        TREES.analysed(source)
        return reads

    def _file(self, source: SourceFile, report: Report) -> None:
        options = self.options
        display = display_path(source.path, self.cwd)
        report.linted.add(display)
        wanted = self.wanted[id(source)]
        hits: list[tuple[type[Rule], Hit]] = []
        run = self._run_rule
        try:
            if wanted and source.is_ruby and (source.too_deep or ruby.too_deep(source.root)):
                raise ruby.TooDeep(f"nested deeper than {ruby.MAX_ASCENT} levels")
            for rule in wanted:
                hits.extend((rule, hit) for hit in run(rule, source, display, report))
            if source.is_ruby and (wanted or not self.any_active):
                for rule in self.passive:
                    hits.extend((rule, hit) for hit in run(rule, source, display, report))
        except ruby.TooDeep as error:  # one notice, and no findings from guesses
            report.problems.append(FileProblem(display, f"not analysed: the code is {error}"))
            hits = []
        if wanted and source.parsed and source.root.has_error:
            report.partial += 1  # said in the summary even with JL001 off
        findings = _findings(source, display, hits, options.severity)
        findings = _suppress(source, display, findings, self.ignores, self.enabled, report)
        report.findings.extend(findings)
        # only reported findings are fixed: a disabled or per-file-ignored one stays as written
        reported = {(f.code, f.line, f.column, f.end_line, f.end_column) for f in findings}
        edits = [
            edit
            for rule, hit in hits
            if hit.edits and _span(source, rule, hit) in reported
            for edit in hit.edits
        ]
        if edits:
            report.fixes[display] = FileFixes(source.path, source.data, edits)


SMALL_RUN_SHARE = 20  # a run analysing under 1/20 of the files a cache holds does not rewrite it
_parallel: tuple[_FileRun, list[SourceFile], set[str], set[str]] | None = None  # what forked workers inherit


def _worker_count(options: Options) -> int:
    """`-j N` processes where the system can fork; one by default. The class index is
    extracted by all of them, but the workers fork once it is built and each builds the
    project-wide facts its files need again: two cost more CPU than they save time (2,563
    files: 1.6 s wall instead of 1.8, 0.8 s more CPU; 10,000 files: 3.5 s instead of 4.0, 1.5 s
    more CPU)."""
    requested = options.jobs if options.jobs is not None else 1
    if requested <= 1:
        return 1
    import multiprocessing  # only when more processes are asked for

    fork_available = "fork" in multiprocessing.get_all_start_methods()
    return max(1, requested) if fork_available else 1


def _run_parallel(
    run: _FileRun,
    sources: list[SourceFile],
    workers: int,
    parts: dict[int, Report],
    reads: dict[int, Reads],
    done_before: int,
    total: int,
) -> tuple[dict[str, str | None], dict[str, Reads]]:
    """Analyse files in forked workers. They inherit the App with its class index already
    built (and the trees parsed for it), so each file is still parsed once; each file's share
    comes back as plain findings, merged by the caller in file order, so the output does not
    depend on the number of workers. Returns, for the cache, what the workers read beyond what
    this process had (path → content hash) and what the facts they built read."""
    global _parallel
    if not run.app.built("classes"):
        _extract_in_parallel(run.app, workers, {key for key, rules in run.wanted.items() if rules})
    _ = (run.app.classes, run.app.jobs, run.app.model_classes)  # build the model before forking
    _parallel = (run, sources, set(run.app.digests()), set(run.app.fact_reads))
    if run.app.definition_cache is not None:
        run.app.definition_cache.new_facts = []  # the workers send back only theirs
    batches = [list(range(i, min(i + 32, len(sources)))) for i in range(0, len(sources), 32)]
    digests: dict[str, str | None] = {}
    facts: dict[str, Reads] = {}
    try:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(workers) as pool:
            done = done_before
            for shares, batch_digests, batch_facts, file_facts in pool.imap(_run_batch, batches):
                for index, part, used in shares:
                    parts[id(sources[index])] = part
                    reads[id(sources[index])] = used
                done += len(shares)
                digests.update(batch_digests)
                for name, used in batch_facts.items():
                    facts.setdefault(name, used)  # the same fact read the same files anywhere
                if run.app.definition_cache is not None:
                    for kept in file_facts:  # for the cache: the next run need not build them
                        run.app.definition_cache.record_file_fact(*kept)
                if run.options.progress is not None:
                    run.options.progress(done, total)
    finally:
        _parallel = None
    return digests, facts


_extracting: list[SourceFile] | None = None  # the class index's files, for the forked extraction
PARALLEL_EXTRACTION_BYTES = 256 * 1024  # of source for the other processes, at least


def _extract_in_parallel(app: App, workers: int, analysed: set[int]) -> None:
    """The definitions of the class index's files, extracted by `workers - 1` forked processes
    and this one at once (the index was the longest part of a cold run done on one core). This
    process keeps the trees it parses for the analysis, so the others take first the files no
    rule wants, then files it wants (parsed again when analysed) up to their share of bytes."""
    global _extracting
    sources = [s for s in app.model_files if "cache_entry" not in s.derived]
    if app.definition_cache is not None:  # nor those whose bytes the cache knows
        known = app.definition_cache.lookup_all([s.relpath for s in sources],
                                                [cache.source_hash(s) for s in sources])
        sources = [source for source, entry in zip(sources, known) if entry is None]
    order = sorted(range(len(sources)), key=lambda i: id(sources[i]) in analysed)
    share = sum(len(s.data) for s in sources) * (workers - 1) // workers
    given: list[int] = []
    size = 0
    for index in order:
        if size >= share:
            break
        given.append(index)
        size += len(sources[index].data)
    if size < PARALLEL_EXTRACTION_BYTES:
        return  # too little to parse for a process to pay: the index extracts it as it goes
    batches = [given[i::workers - 1] for i in range(workers - 1)]
    mine = sorted(set(range(len(sources))) - set(given))
    _extracting = sources
    try:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(workers - 1) as pool:
            pending = pool.map_async(_extract_batch, batches)
            with TREES.reading_many():
                for index in mine:
                    source = sources[index]
                    try:
                        app.extracted[source.relpath] = (extract_definitions(source), None, source.too_deep)
                    except Exception:  # noqa: BLE001, S112  met again, as in one process, by the rule asking
                        continue
            for batch in pending.get():
                for index, encoded, too_deep, facts in batch:
                    source = sources[index]
                    app.extracted[source.relpath] = (decode_definitions(encoded, source), encoded, too_deep)
                    app.given_facts[source.relpath] = facts
    finally:
        _extracting = None


def _extract_batch(indexes: list[int]) -> list[tuple[int, list[object], bool, dict[str, object]]]:
    """Each file's definitions, encoded, and its per-file facts: built here from the tree this
    process parsed, they would otherwise be built by parsing the file again."""
    assert _extracting is not None
    found = []
    for index in indexes:
        source = _extracting[index]
        # what fails here is left out: the main process meets it again, as one process does, in
        # the rule that asks, which then reports a crash instead of the run stopping
        try:
            encoded = encode_definitions(extract_definitions(source))
        except Exception:  # noqa: BLE001, S112
            continue
        facts = {}
        for name, build in file_facts.BUILDERS.items() if not source.too_deep else ():
            try:
                facts[name] = build(source)
            except Exception:  # noqa: BLE001, S112
                continue
        found.append((index, encoded, source.too_deep, facts))
        source.release()
    return found


def _run_batch(
    indexes: list[int],
) -> tuple[list[tuple[int, Report, Reads]], dict[str, str | None], dict[str, Reads], list[tuple[str, str, str, object]]]:
    assert _parallel is not None
    run, sources, known, known_facts = _parallel
    shares = []
    for index in indexes:
        part = Report()
        used = run.file(sources[index], part)
        shares.append((index, part, used))
    digests = run.app.digests(known)
    known.update(digests)  # said once per worker
    facts = {name: r for name, r in run.app.fact_reads.items() if name not in known_facts}
    known_facts.update(facts)
    file_facts: list[tuple[str, str, str, object]] = []
    if run.app.definition_cache is not None:
        file_facts, run.app.definition_cache.new_facts = run.app.definition_cache.new_facts, []
    return shares, digests, facts, file_facts




class _Dispatch:
    """Which rules want a file: each distinct trigger word is looked up once per file, and the
    rules are found from the words present (a file holds few of the 60 words)."""

    def __init__(self, active: list[type[Rule]]):
        self.active = active
        words = sorted({w for rule in active for w in rule.trigger_bytes}, key=lambda w: (len(w), w))
        # each word after the longest other word it contains: a file without that one cannot
        # hold it either (no `perform` in a file, no `perform_later`), so it is not looked up
        self.words = [
            (word, max((w for w in words[:index] if w in word), key=len, default=None))
            for index, word in enumerate(words)
        ]
        own = [rules.own_dispatch(rule) for rule in active]
        self.custom = [i for i, methods in enumerate(own) if "wants" in methods]  # asked each file
        # rules reading Ruby files, as `Rule.applies_to` says: asked once per file, not per rule
        self.own_applies = {i for i, methods in enumerate(own) if "applies_to" in methods}
        self.by_word: dict[bytes, list[int]] = {}
        for index, rule in enumerate(active):
            if index not in self.custom:
                for word in rule.trigger_bytes:
                    self.by_word.setdefault(word, []).append(index)
        self.methods: dict[tuple[int, str], Callable[[SourceFile], bool]] = {}

    def rules_for(self, source: SourceFile) -> list[type[Rule]]:
        data = source.data
        present: set[bytes] = set()
        found: set[int] = set()
        for word, within in self.words:
            if (within is None or within in present) and word in data:
                present.add(word)
                found.update(self.by_word.get(word, ()))
        found.update(i for i in self.custom if self._method(i, "wants")(source))
        is_ruby = source.is_ruby
        # a rule's own `applies_to` is asked (and its module imported) only for a file it wants
        return [
            self.active[i]
            for i in sorted(found)
            if (self._method(i, "applies_to")(source) if i in self.own_applies else is_ruby)
        ]

    def _method(self, index: int, name: str) -> Callable[[SourceFile], bool]:
        """A rule's own `wants` or `applies_to`, got once (a rule not imported yet is then)."""
        key = (index, name)
        if key not in self.methods:
            self.methods[key] = getattr(self.active[index], name)
        return self.methods[key]


def _suppress(
    source: SourceFile,
    display: str,
    findings: list[Finding],
    ignores: _PerFileIgnores,
    enabled: set[str],
    report: Report,
) -> list[Finding]:
    """Drop findings covered by per-file-ignores; move those covered by `# joblint:disable`
    to `report.suppressed`; add JL003 for directives that suppressed nothing."""
    ignored = ignores.codes_for(source.relpath)
    directives = suppressions.parse(source)
    table = suppressions.Suppressions(directives)
    kept = []
    for finding in findings:
        if finding.code in ignored or "all" in ignored:
            report.ignored += 1
            continue
        directive = table.suppress(finding.code, finding.line)
        if directive is not None:
            report.suppressed.append(Suppressed(finding, IN_SOURCE, directive.reason))
        else:
            kept.append(finding)
    if "JL003" in enabled and directives:
        unused_rule = rules.lookup("JL003")
        assert unused_rule is not None
        hits = [
            (unused_rule, Hit(
                directive.start_byte,
                directive.end_byte,
                {"detail": _unused_detail(directive.kind, code)},
                scope=f"line:{directive.kind}:{code}",
                anchor=code,
            ))
            for directive, code in table.unused(enabled)
        ]
        if "JL003" not in ignored:
            kept.extend(_findings(source, display, hits, {}))
    return kept


def _span(source: SourceFile, rule: type[Rule], hit: Hit) -> tuple[str, int, int, int, int]:
    """A hit's code and 1-based span, as its Finding records them."""
    start, end = source.position(hit.start_byte), source.position(hit.end_byte)
    return (rule.code, start.line, start.column, end.line, end.column)


def _unused_detail(kind: str, code: str) -> str:
    if code == "all" or rules.lookup(code) is not None:
        return f"`# joblint:{kind} {code}` suppresses no finding"
    return f"`{code}` in `# joblint:{kind}` is not a joblint rule"


class _PerFileIgnores:
    """`per-file-ignores`: root-relative globs (gitignore syntax) → codes."""

    def __init__(self, entries: tuple[tuple[str, tuple[str, ...]], ...]):
        if not entries:
            self.entries: list[tuple[object, set[str]]] = []
            return
        from pathspec import GitIgnoreSpec  # only with per-file-ignores configured

        self.entries = [
            (GitIgnoreSpec.from_lines([glob]), set(codes)) for glob, codes in entries
        ]

    def codes_for(self, relpath: str) -> set[str]:
        codes: set[str] = set()
        for spec, entry_codes in self.entries:
            if spec.match_file(relpath):  # type: ignore[attr-defined]
                codes |= entry_codes
        return codes


FRAME_CHARS = 240  # a code frame shows at most this much of a line: a 1 MB line is not copied


def _frame(line: str, column: int) -> dict[str, object]:
    """The part of the finding's line kept for its code frame, and where that part starts.
    Keeping whole lines made memory grow with findings × line length (a generated 1 MB line
    with many findings reached gigabytes)."""
    if len(line) <= FRAME_CHARS:
        return {"line_text": line, "frame_start": 0}
    start = max(0, min(column - 1 - FRAME_CHARS // 4, len(line) - FRAME_CHARS))
    return {"line_text": line[start : start + FRAME_CHARS], "frame_start": start}


def _findings(
    source: SourceFile,
    display: str,
    hits: list[tuple[type[Rule], Hit]],
    severity: Mapping[str, Severity],
) -> list[Finding]:
    hits.sort(key=lambda rh: (rh[1].start_byte, rh[0].code, rh[1].end_byte))
    occurrences: dict[tuple[str, str, str], int] = defaultdict(int)
    findings = []
    seen = set()
    for rule, hit in hits:
        key = (rule.code, hit.start_byte, hit.end_byte, tuple(sorted(hit.args.items())))
        if key in seen:
            continue
        seen.add(key)
        start = source.position(hit.start_byte)
        end = source.position(hit.end_byte)
        identity = (rule.code, hit.scope, hit.anchor)
        occurrence = occurrences[identity]
        occurrences[identity] += 1
        findings.append(
            Finding(
                code=rule.code,
                name=rule.name,
                severity=severity.get(rule.code) or hit.severity or rule.severity,
                path=display,
                line=start.line,
                column=start.column,
                end_line=end.line,
                end_column=end.column,
                message=rule.format_message(hit),
                help=rule.help,
                fingerprint=fingerprint(
                    rule.code, source.relpath, hit.scope, hit.anchor, occurrence
                ),
                **_frame(source.line_text(start.line), start.column),
                utf16_column=start.utf16_column,
                utf16_end_column=end.utf16_column,
                fixable=bool(hit.edits),
            )
        )
    return findings
