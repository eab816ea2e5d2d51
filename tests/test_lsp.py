"""`joblint server` driven over real stdio by a JSON-RPC client (pytest-lsp): diagnostics on
open and change, hover, the code actions (disable comment, safe fix) clearing the diagnostic,
and a server that survives a broken config, a malformed file and a file outside the workspace."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.uris import from_fs_path
from pytest_lsp import ClientServerConfig, LanguageClient

from .conftest import write_tree

APP = {
    "Gemfile": 'source "https://rubygems.org"\n',
    "Gemfile.lock": "GEM\n  specs:\n    rails (7.1.3)\n    sidekiq (7.2.0)\n",
    "config/application.rb": "module Shop\n  class Application < Rails::Application\n  end\nend\n",
    "app/models/user.rb": "class User < ApplicationRecord\nend\n",
    "app/workers/sync_worker.rb": (
        "class SyncWorker\n  include Sidekiq::Job\n\n  def perform(user_id); end\nend\n"),
    "app/jobs/report_job.rb": (
        "class ReportJob < ApplicationJob\n"
        "  retry_on Timeout::Error, wait: :exponentially_longer\n\n  def perform; end\nend\n"),
    "app/controllers/users_controller.rb": (
        "class UsersController < ApplicationController\n  def create\n"
        "    SyncWorker.perform_async(User.find(params[:id]))\n  end\nend\n"),
}


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[sys.executable, "-m", "joblint", "server"]),
)
async def client(lsp_client: LanguageClient, tmp_path_factory):
    root = tmp_path_factory.mktemp("app")
    write_tree(root, APP)
    lsp_client.root = root  # type: ignore[attr-defined]
    lsp_client.registrations = []  # type: ignore[attr-defined]

    @lsp_client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register(params: types.RegistrationParams) -> None:
        lsp_client.registrations.extend(params.registrations)  # type: ignore[attr-defined]

    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=pytest_lsp.client_capabilities("visual-studio-code"),
            root_uri=from_fs_path(str(root)),
        )
    )
    yield
    await lsp_client.shutdown_session()


async def open_and_wait(client: LanguageClient, path: Path, text: str | None = None) -> str:
    uri = from_fs_path(str(path))
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(
            uri=uri, language_id="ruby", version=1,
            text=path.read_text() if text is None else text,
        )
    ))
    await asyncio.wait_for(client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS), 20)
    return uri


async def change_and_wait(client: LanguageClient, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
    ))
    await asyncio.wait_for(client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS), 20)


def apply(text: str, edit: types.WorkspaceEdit, uri: str) -> str:
    lines = text.split("\n")
    for change in sorted(edit.changes[uri], key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        start, end = change.range.start, change.range.end
        if start.line == 0 and start.character == 0 and end.line >= len(lines) - 1:
            return change.new_text  # the whole document
        line = lines[start.line]
        lines[start.line] = line[: start.character] + change.new_text + line[end.character:]
    return "\n".join(lines)


@pytest.mark.asyncio
async def test_a_record_argument_is_diagnosed_hovered_and_disabled(client: LanguageClient):
    path = client.root / "app/controllers/users_controller.rb"  # type: ignore[attr-defined]
    uri = await open_and_wait(client, path)
    [found] = client.diagnostics[uri]
    assert found.code == "JL101" and found.severity == types.DiagnosticSeverity.Error
    assert found.source == "joblint" and found.range.start.line == 2
    assert found.code_description.href.endswith("rules/JL101-record-argument.md")

    hovered = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=found.range.start))
    assert "record-argument" in hovered.contents.value

    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), range=found.range,
        context=types.CodeActionContext(diagnostics=[found])))
    [disable] = [a for a in actions if a.title == "Disable JL101 for this line"]
    text = apply(path.read_text(), disable.edit, uri)
    assert "perform_async(User.find(params[:id])) # joblint:disable JL101" in text
    await change_and_wait(client, uri, text, 2)
    assert list(client.diagnostics[uri]) == []


@pytest.mark.asyncio
async def test_a_safe_fix_is_offered_and_clears_the_diagnostic(client: LanguageClient):
    path = client.root / "app/jobs/report_job.rb"  # type: ignore[attr-defined]
    uri = await open_and_wait(client, path)
    [found] = [d for d in client.diagnostics[uri] if d.code == "JL206"]
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), range=found.range,
        context=types.CodeActionContext(diagnostics=[found])))
    [fix] = [a for a in actions if a.title.startswith("Fix JL206")]
    text = apply(path.read_text(), fix.edit, uri)
    assert ":polynomially_longer" in text
    await change_and_wait(client, uri, text, 2)
    assert not [d for d in client.diagnostics[uri] if d.code == "JL206"]


@pytest.mark.asyncio
async def test_an_edit_is_checked_with_the_kept_model(client: LanguageClient):
    path = client.root / "app/controllers/users_controller.rb"  # type: ignore[attr-defined]
    uri = await open_and_wait(client, path)
    fixed = path.read_text().replace("User.find(params[:id])", "params[:id]")
    await change_and_wait(client, uri, fixed, 2)
    assert list(client.diagnostics[uri]) == []


@pytest.mark.asyncio
async def test_the_server_survives_bad_input(client: LanguageClient, tmp_path):
    root = client.root  # type: ignore[attr-defined]
    broken = await open_and_wait(client, root / "app/models/broken.rb", "class Broken < \n  def (\n")
    assert broken in client.diagnostics
    outside = tmp_path / "elsewhere" / "thing.rb"
    outside.parent.mkdir()
    outside.write_text("SyncWorker.perform_async(:sym)\n")
    await open_and_wait(client, outside)
    (root / ".joblint.yml").write_text("selekt: [JL1]\n")
    client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(changes=[
        types.FileEvent(uri=from_fs_path(str(root / ".joblint.yml")), type=types.FileChangeType.Changed)]))
    await asyncio.wait_for(client.wait_for_notification(types.WINDOW_SHOW_MESSAGE), 20)
    assert any("selekt" in m.message for m in client.messages)
    # still answering
    hovered = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=broken), position=types.Position(line=0, character=0)))
    assert hovered is None


@pytest.mark.asyncio
async def test_a_changed_config_refreshes_the_open_documents(client: LanguageClient):
    root = client.root  # type: ignore[attr-defined]
    (root / "config/sidekiq.yml").write_text(":queues:\n  - default\n")
    job = root / "app/workers/export_worker.rb"
    job.write_text("class ExportWorker\n  include Sidekiq::Job\n  sidekiq_options queue: :exports\n\n"
                   "  def perform(id); end\nend\n")
    uri = await open_and_wait(client, job)
    assert [d.code for d in client.diagnostics[uri]] == ["JL601"]
    assert [r.method for r in client.registrations] == [  # type: ignore[attr-defined]
        types.WORKSPACE_DID_CHANGE_WATCHED_FILES
    ]
    (root / "config/sidekiq.yml").write_text(":queues:\n  - default\n  - exports\n")
    client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(changes=[
        types.FileEvent(uri=from_fs_path(str(root / "config/sidekiq.yml")), type=types.FileChangeType.Changed)]))
    await asyncio.wait_for(client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS), 20)
    assert list(client.diagnostics[uri]) == []


@pytest.mark.asyncio
async def test_a_job_yaml_config_gets_diagnostics(client: LanguageClient):
    root = client.root  # type: ignore[attr-defined]
    config = root / "config/sidekiq.yml"
    config.write_text(":queues:\n  - default: 2\n")
    uri = await open_and_wait(client, config)
    assert [(d.code, d.range.start.line) for d in client.diagnostics[uri]] == [("JL608", 1)]
