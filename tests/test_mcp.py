"""`joblint mcp`: the MCP server driven over real stdio by the SDK's own client
(`python -m joblint mcp` as a subprocess whose working directory is a fixture app)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult

APPS = Path(__file__).parent / "fixtures" / "apps"
TOOLS = {"lint", "explain_rule", "job_inventory", "queues"}
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def server(cwd: Path, *extra: str) -> AsyncIterator[tuple[Client, list[object]]]:
    """A connected client, and what the client could not read from the server's stdout
    (anything but a JSON-RPC message lands there)."""
    unreadable: list[object] = []

    async def on_message(message: object) -> None:
        if isinstance(message, Exception):
            unreadable.append(message)

    parameters = StdioServerParameters(
        command=sys.executable, args=["-m", "joblint", "mcp", *extra], cwd=cwd
    )
    async with Client(parameters, message_handler=on_message, read_timeout_seconds=30) as client:
        yield client, unreadable


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, _text(result)
    assert result.structured_content is not None
    return result.structured_content


async def error(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    return _text(result)


def _text(result: CallToolResult) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


async def test_tools_are_listed_with_input_and_output_schemas() -> None:
    async with server(APPS / "demo") as (client, unreadable):
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(listed) == TOOLS
    lint = listed["lint"].input_schema
    assert lint["required"] == ["paths"]
    assert lint["properties"]["paths"]["type"] == "array"
    assert set(lint["properties"]) == {"paths", "select"}
    assert listed["explain_rule"].input_schema["required"] == ["code_or_name"]
    for name in ("job_inventory", "queues"):
        assert set(listed[name].input_schema["properties"]) == {"path"}
        assert "required" not in listed[name].input_schema
    for tool in listed.values():
        assert tool.output_schema is not None and tool.output_schema["type"] == "object"
        assert tool.annotations is not None and tool.annotations.read_only_hint
    assert set(listed["lint"].output_schema["properties"]) == {"version", "findings", "summary", "problems"}
    assert unreadable == []


async def test_each_tool_answers_about_the_demo_app() -> None:
    async with server(APPS / "demo") as (client, unreadable):
        linted = await call(client, "lint", {"paths": ["app/controllers/orders_controller.rb"]})
        selected = await call(client, "lint", {"paths": ["."], "select": ["JL4"]})
        page = await call(client, "explain_rule", {"code_or_name": "JL101"})
        by_name = await call(client, "explain_rule", {"code_or_name": "record-argument"})
        jobs = await call(client, "job_inventory", {})
        queues = await call(client, "queues", {})
    assert unreadable == []

    record = [f for f in linted["findings"] if f["code"] == "JL101"]
    assert [(f["path"], f["line"], f["column"]) for f in record] == [
        ("app/controllers/orders_controller.rb", 5, 33)
    ]
    assert list(record[0]) == ["code", "name", "severity", "path", "line", "column", "end_line",
                               "end_column", "message", "fingerprint", "fix", "help", "url"]
    assert linted["summary"]["files"] == 1
    assert linted["summary"]["findings"] == len(linted["findings"])
    assert linted["problems"] == []
    assert {f["code"] for f in selected["findings"]} == {"JL401"}

    assert page["code"] == "JL101" and page["name"] == "record-argument"
    assert page["page"].startswith("# JL101 record-argument")
    assert set(page) >= {"severity", "default", "fixable", "url"}
    assert by_name == page

    assert jobs["root"] == "."
    names = [job["name"] for job in jobs["jobs"]]
    assert names == ["ApplicationJob", "CleanupJob", "FulfilOrderJob", "InvoiceWorker",
                     "ReceiptPdfJob", "RefundJob"]
    fulfil = next(job for job in jobs["jobs"] if job["name"] == "FulfilOrderJob")
    assert fulfil["path"] == "app/jobs/fulfil_order_job.rb"
    assert fulfil["backend"] == "activejob" and fulfil["enqueue_sites"] == 2

    default = next(q for q in queues["queues"] if q["name"] == "default" and q["kind"] == "activejob")
    assert "FulfilOrderJob" in default["jobs"]
    assert {("FulfilOrderJob", "app/models/order.rb")} <= {
        (s["job"], s["path"]) for s in default["enqueued_by"]
    }
    assert default["processed"] is None  # no worker configuration: unknown, not unprocessed
    assert queues["unprocessed"] == []


async def test_queues_reports_the_unprocessed_queues_and_who_fills_them() -> None:
    async with server(APPS / "sidekiq") as (client, unreadable):
        queues = await call(client, "queues", {"path": "."})
        jobs = await call(client, "job_inventory", {"path": "app"})
    assert unreadable == []
    assert queues["unprocessed"] == ["exports", "maintenance", "tracking"]
    assert queues["workers"] == [{"backend": "sidekiq", "config": "config/sidekiq.yml",
                                  "queues": ["critical", "default", "labels"], "excluded": [],
                                  "runs_active_job": True}]
    by_name = {q["name"]: q for q in queues["queues"]}
    tracking = by_name["tracking"]
    assert tracking["kind"] == "sidekiq" and tracking["jobs"] == ["TrackingWorker"]
    assert tracking["processed"] is False and tracking["processed_by"] is None
    assert [(s["path"], s["line"], s["via"]) for s in tracking["enqueued_by"]] == [
        ("app/controllers/shipments_controller.rb", 5, "perform_async")
    ]
    labels = by_name["labels"]
    assert labels["processed_by"] == {"backend": "sidekiq", "config": "config/sidekiq.yml"}
    assert {s["via"] for s in labels["enqueued_by"]} == {"perform_later", "schedule sidekiq_cron:nightly_labels"}
    assert by_name["maintenance"]["enqueued_by"][0]["path"] == "config/schedule.yml"
    exports = next(job for job in jobs["jobs"] if job["name"] == "ExportManifestJob")
    assert (exports["queue"], exports["queue_processed"]) == ("exports", False)


async def test_queues_shows_the_names_the_workers_see_with_the_prefix() -> None:
    async with server(APPS / "solid_queue") as (client, _):
        queues = await call(client, "queues", {})
    statements = next(q for q in queues["queues"] if q["name"] == "statements")
    assert statements["runs_as"] == ["ledger_statements"]
    assert statements["processed"] is False
    assert "statements" in queues["unprocessed"]


@pytest.fixture
def broken_app(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    shutil.copytree(APPS / "demo", app)
    (app / "app" / "jobs" / "broken_job.rb").write_text(
        "class BrokenJob < ApplicationJob\n  def perform(id\n    User.find(id))\n  end\nend\n",
        encoding="utf-8",
    )
    return app


async def test_bad_requests_are_tool_errors_and_the_server_keeps_answering(broken_app: Path) -> None:
    outside = broken_app.parent / "elsewhere"
    outside.mkdir()
    async with server(broken_app) as (client, unreadable):
        assert "unknown rule" in await error(client, "explain_rule", {"code_or_name": "JL999"})
        assert "JL999" in await error(client, "lint", {"paths": ["."], "select": ["JL999"]})
        assert "outside the workspace" in await error(client, "lint", {"paths": ["../elsewhere"]})
        assert "outside the workspace" in await error(client, "job_inventory", {"path": str(outside)})
        assert "outside the workspace" in await error(client, "queues", {"path": "/"})
        assert "no such file" in await error(client, "lint", {"paths": ["app/jobs/missing_job.rb"]})
        assert "could not be parsed" in await error(client, "lint", {"paths": ["app/jobs/broken_job.rb"]})
        whole = await call(client, "lint", {"paths": ["."]})
        # the demo's receipt_pdf_job.rb holds Ruby the parser does not know: partial, too
        assert ("app/jobs/broken_job.rb", 2) in {(p["path"], p["line"]) for p in whole["problems"]}
        assert "JL001" not in {f["code"] for f in whole["findings"]}  # off by default
        assert "JL101" in {f["code"] for f in whole["findings"]}

        (broken_app / ".joblint.yml").write_text("select: [JL1\nignore: oops\n", encoding="utf-8")
        assert ".joblint.yml" in await error(client, "lint", {"paths": ["."]})
        (broken_app / ".joblint.yml").write_text("selekt: [JL1]\n", encoding="utf-8")
        assert "selekt" in await error(client, "lint", {"paths": ["."]})

        assert (await call(client, "explain_rule", {"code_or_name": "JL601"}))["code"] == "JL601"
        jobs = await call(client, "job_inventory", {})
    assert "BrokenJob" in {job["name"] for job in jobs["jobs"]}
    assert unreadable == []
    assert not (broken_app / ".joblint_cache").exists()


async def test_workspace_option_names_the_app_when_the_client_cannot_set_a_directory(
    tmp_path: Path,
) -> None:
    async with server(tmp_path, "--workspace", str(APPS / "demo")) as (client, unreadable):
        linted = await call(client, "lint", {"paths": ["app/controllers/orders_controller.rb"]})
        outside = await error(client, "lint", {"paths": [str(tmp_path)]})
    assert unreadable == []
    assert any(f["code"] == "JL101" for f in linted["findings"])
    assert "outside" in outside
