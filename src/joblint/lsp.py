"""`joblint server`: the language server (LSP over stdio) for editors.

Diagnostics for open Ruby files and job YAML configs on open, change (debounced) and save; code
actions for the safe fixes and for "disable JLnnn for this line"; a hover on a diagnostic with
the rule's summary and help. Each Rails root of the workspace keeps its settings and project model
between requests, so a keystroke costs one file. Saving a project file (a model, a job, a config,
`Gemfile.lock`) rebuilds that root's model and refreshes every open document of it; saving
`.joblint.yml` or `pyproject.toml` reloads the settings.

Only protocol goes to stdout; logs go to stderr. A file that cannot be read, a broken
configuration or a rule that crashes becomes a message to the client, never an exit.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from . import __version__, catalogue, config, rules
from .engine import Options, Report, lint_buffer
from .files import is_lintable
from .findings import Finding, Severity
from .fixes import apply_edits
from .rails.app import App, find_root

log = logging.getLogger("joblint.lsp")
DEBOUNCE = 0.15  # seconds of quiet typing before a changed document is checked
CONFIG_NAMES = frozenset({".joblint.yml", "pyproject.toml"})
SEVERITIES = {
    Severity.ERROR: types.DiagnosticSeverity.Error,
    Severity.WARNING: types.DiagnosticSeverity.Warning,
    Severity.INFO: types.DiagnosticSeverity.Information,
}


@dataclass
class Project:
    """One Rails root (or the files outside any): its settings and its project model, kept
    between requests."""

    root: Path | None
    options: Options | None = None
    problem: str | None = None  # why the settings could not be read
    app: App | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def load_settings(self) -> None:
        self.options, self.problem, self.app = None, None, None
        try:
            settings = config.load(config.find_config(self.root))
            self.options = Options(
                rules=settings.enabled_rules(),
                excludes=settings.exclude,
                request_paths=settings.request_paths,
                rule_options=settings.rule_options,
                severity=settings.severity,
                per_file_ignores=settings.per_file_ignores,
                jobs=1,
            )
        except (config.ConfigError, rules.UnknownSelector) as error:
            self.problem = f"joblint: {error}"

    def model(self) -> App:
        if self.app is None:
            request_paths = self.options.request_paths if self.options else ()
            self.app = App(self.root, request_paths=request_paths)
        return self.app


class JoblintServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("joblint", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Full)
        self.projects: dict[Path | None, Project] = {}
        self.reports: dict[str, Report] = {}  # uri → the last report of that document
        self.pending: dict[str, asyncio.Task[None]] = {}

    # -- projects and documents ------------------------------------------------------------

    def project_for(self, path: Path) -> Project:
        root = find_root(path)
        project = self.projects.get(root)
        if project is None:
            project = self.projects[root] = Project(root)
            project.load_settings()
        return project

    def lintable(self, path: Path) -> bool:
        root = find_root(path)
        relpath = os.path.relpath(path, root) if root is not None else path.name
        return is_lintable(relpath.replace(os.sep, "/"))

    def check(self, uri: str) -> None:
        """Lint one open document and publish its diagnostics (runs in a worker thread)."""
        path_text = to_fs_path(uri)
        document = self.workspace.text_documents.get(uri)
        if path_text is None or document is None:
            return
        path = Path(path_text)
        if not self.lintable(path):
            return
        project = self.project_for(path)
        if project.options is None:
            self.window_show_message(
                types.ShowMessageParams(type=types.MessageType.Error, message=project.problem or "")
            )
            self.publish(uri, [])
            return
        with project.lock:
            try:
                report = lint_buffer(
                    project.model(), path, document.source.encode("utf-8"), project.options,
                    Path(os.path.dirname(path)),
                )
            except Exception as error:  # a server must outlive any one file
                log.exception("joblint failed on %s", path)
                self.window_log_message(types.LogMessageParams(
                    type=types.MessageType.Error, message=f"joblint failed on {path}: {error}"))
                return
        for crash in report.crashes:
            self.window_log_message(types.LogMessageParams(type=types.MessageType.Error, message=crash))
        for problem in report.problems:
            self.window_log_message(types.LogMessageParams(type=types.MessageType.Warning, message=str(problem)))
        self.reports[uri] = report
        self.publish(uri, [diagnostic(f) for f in report.findings])

    def publish(self, uri: str, diagnostics: list[types.Diagnostic]) -> None:
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics)
        )

    def schedule(self, uri: str, delay: float = 0.0) -> None:
        """Check a document after `delay` seconds of quiet (a newer change cancels the wait)."""
        previous = self.pending.pop(uri, None)
        if previous is not None:
            previous.cancel()

        async def later() -> None:
            if delay:
                await asyncio.sleep(delay)
            await asyncio.get_running_loop().run_in_executor(self.thread_pool, self.check, uri)

        self.pending[uri] = asyncio.ensure_future(later())

    def project_changed(self, path: Path) -> None:
        """A saved or changed file on disk: reload settings or rebuild the model it belongs to,
        then re-check the open documents of that root."""
        root = find_root(path)
        project = self.projects.get(root)
        if project is None:
            return
        with project.lock:
            if path.name in CONFIG_NAMES and path.parent == root:
                project.load_settings()
            else:
                project.app = None
        for uri in list(self.workspace.text_documents):
            fs_path = to_fs_path(uri)
            if fs_path is not None and find_root(Path(fs_path)) == root:
                self.schedule(uri)


server = JoblintServer()


def diagnostic(finding: Finding) -> types.Diagnostic:
    rule = rules.lookup(finding.code)
    return types.Diagnostic(
        range=types.Range(
            start=types.Position(line=finding.line - 1, character=max(finding.utf16_column - 1, 0)),
            end=types.Position(line=finding.end_line - 1, character=max(finding.utf16_end_column - 1, 0)),
        ),
        severity=SEVERITIES[finding.severity],
        code=finding.code,
        code_description=types.CodeDescription(href=catalogue.help_uri(rule)) if rule else None,
        source="joblint",
        message=f"{finding.message} ({finding.name})",
        data={"fingerprint": finding.fingerprint, "fixable": finding.fixable},
    )


WATCHED = "**/{*.rb,*.rake,*.yml,*.yaml,Gemfile,Gemfile.lock,pyproject.toml,Procfile*}"


@server.feature(types.INITIALIZED)
def initialized(ls: JoblintServer, params: types.InitializedParams) -> None:
    """Ask the client to tell us about project files changed outside the editor (a `git
    checkout`, a generator): the model and settings they feed are rebuilt."""
    workspace = ls.client_capabilities.workspace
    watched = workspace.did_change_watched_files if workspace is not None else None
    if watched is None or not watched.dynamic_registration:
        return
    ls.client_register_capability(types.RegistrationParams(registrations=[types.Registration(
        id="joblint-watched-files",
        method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
        register_options=types.DidChangeWatchedFilesRegistrationOptions(
            watchers=[types.FileSystemWatcher(glob_pattern=WATCHED)]
        ),
    )]))


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: JoblintServer, params: types.DidOpenTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: JoblintServer, params: types.DidChangeTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri, DEBOUNCE)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: JoblintServer, params: types.DidSaveTextDocumentParams) -> None:
    path = to_fs_path(params.text_document.uri)
    if path is not None:
        ls.project_changed(Path(path))
    ls.schedule(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: JoblintServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.reports.pop(params.text_document.uri, None)
    ls.publish(params.text_document.uri, [])


@server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
def did_change_watched_files(ls: JoblintServer, params: types.DidChangeWatchedFilesParams) -> None:
    for change in params.changes:
        path = to_fs_path(change.uri)
        if path is not None:
            ls.project_changed(Path(path))


@server.feature(types.TEXT_DOCUMENT_HOVER)
def hover(ls: JoblintServer, params: types.HoverParams) -> types.Hover | None:
    report = ls.reports.get(params.text_document.uri)
    if report is None:
        return None
    line, character = params.position.line + 1, params.position.character + 1
    parts = []
    for finding in report.findings:
        starts = (finding.line, finding.utf16_column) <= (line, character)
        ends = (line, character) <= (finding.end_line, finding.utf16_end_column)
        rule = rules.lookup(finding.code)
        if starts and ends and rule is not None:
            parts.append(
                f"**{rule.code} {rule.name}** — {rule.summary}\n\n{rule.help}\n\n"
                f"[Rule documentation]({catalogue.help_uri(rule)})"
            )
    if not parts:
        return None
    return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value="\n\n---\n\n".join(parts)))


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
)
def code_action(ls: JoblintServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    uri = params.text_document.uri
    report = ls.reports.get(uri)
    document = ls.workspace.text_documents.get(uri)
    if report is None or document is None:
        return []
    wanted = {(d.code, d.range.start.line) for d in params.context.diagnostics if d.source == "joblint"}
    actions: list[types.CodeAction] = []
    lines = document.source.splitlines()
    fix = _fix_all(uri, document.source, report)
    for finding in report.findings:
        if (finding.code, finding.line - 1) not in wanted:
            continue
        if finding.fixable and fix is not None:
            actions.append(types.CodeAction(
                title=f"Fix {finding.code} ({finding.name})",
                kind=types.CodeActionKind.QuickFix,
                diagnostics=[diagnostic(finding)],
                edit=fix,
                is_preferred=True,
            ))
        actions.append(types.CodeAction(
            title=f"Disable {finding.code} for this line",
            kind=types.CodeActionKind.QuickFix,
            diagnostics=[diagnostic(finding)],
            edit=_disable_edit(uri, lines, finding),
        ))
    return actions


def _fix_all(uri: str, text: str, report: Report) -> types.WorkspaceEdit | None:
    """The safe fixes of the document as one edit replacing its text."""
    fixes = next(iter(report.fixes.values()), None)
    if fixes is None:
        return None
    after, applied = apply_edits(fixes.data, fixes.edits)
    if not applied or after == fixes.data:
        return None
    lines = text.split("\n")
    whole = types.Range(start=types.Position(line=0, character=0),
                        end=types.Position(line=len(lines), character=0))
    return types.WorkspaceEdit(changes={uri: [types.TextEdit(range=whole, new_text=after.decode("utf-8"))]})


def _disable_edit(uri: str, lines: list[str], finding: Finding) -> types.WorkspaceEdit:
    """`# joblint:disable JLnnn` at the end of the finding's line (cli.md's inline form); an
    existing disable comment on the line gets the code added."""
    index = finding.line - 1
    text = lines[index] if index < len(lines) else ""
    marker = "# joblint:disable "
    if marker in text:
        at = text.index(marker) + len(marker)
        rest = text[at:]
        codes_end = len(rest.split(" --", 1)[0].rstrip())
        position = _utf16(text[: at + codes_end])
        new_text = f", {finding.code}"
    else:
        position = _utf16(text.rstrip())
        new_text = f" # joblint:disable {finding.code}"
    point = types.Position(line=index, character=position)
    return types.WorkspaceEdit(changes={uri: [types.TextEdit(range=types.Range(start=point, end=point), new_text=new_text)]})


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def serve() -> None:
    logging.basicConfig(level=logging.WARNING, format="joblint server: %(message)s")
    server.start_io()


__all__ = ["JoblintServer", "Project", "diagnostic", "from_fs_path", "serve", "server"]
