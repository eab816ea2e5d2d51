"""The command line: formats, selection, exit codes, colour, and the demo app snapshots."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from joblint import rules
from joblint.cli import main

ROOT = Path(__file__).resolve().parent.parent
DEMO = "tests/fixtures/apps/demo"
SNAPSHOTS = ROOT / "tests" / "snapshots"
UPDATE = bool(os.environ.get("JOBLINT_UPDATE_SNAPSHOTS"))
ALL_DEMO_CODES = {"JL101", "JL202", "JL301", "JL401"}  # JL001 and JL201 are opt-in


@pytest.fixture
def run(monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("NO_COLOR", raising=False)

    def invoke(*args: str, env: dict[str, str] | None = None):
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)

    return invoke


def assert_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if UPDATE or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), (
        f"snapshot {name} differs; if the change is intended, review and rerun with "
        "JOBLINT_UPDATE_SNAPSHOTS=1"
    )


def test_demo_app_text_snapshot(run):
    result = run(DEMO)
    assert result.exit_code == 1
    assert_snapshot("demo.text", result.output)


def test_demo_app_json_snapshot_and_contract_keys(run):
    result = run(DEMO, "--format", "json")
    assert result.exit_code == 1
    assert_snapshot("demo.json", result.output)
    document = json.loads(result.output)
    assert list(document) == ["version", "findings", "summary"]
    assert list(document["findings"][0]) == [
        "code", "name", "severity", "path", "line", "column",
        "end_line", "end_column", "message", "fingerprint", "fix", "help", "url",
    ]
    assert list(document["summary"]) == ["files", "findings", "by_severity"]
    assert list(document["summary"]["by_severity"]) == ["error", "warning", "info"]
    assert {f["code"] for f in document["findings"]} == ALL_DEMO_CODES


def test_concise_format_is_one_line_per_finding(run):
    result = run("check", DEMO, "--format", "concise")
    lines = result.output.splitlines()
    assert len(lines) == 5  # four findings, then the summary line
    assert lines[0].startswith(f"{DEMO}/app/controllers/orders_controller.rb:4:5: JL401 [warning] ")
    assert lines[-1].startswith("Found 4 findings (1 error, 3 warnings, 0 info); ")


def test_ruby_text_is_never_read_as_markup(run, tmp_path):
    app = tmp_path / "app"
    (tmp_path / "Gemfile").write_text("")
    (app / "controllers").mkdir(parents=True)
    (app / "controllers" / "x_controller.rb").write_text(
        "class XController\n  def show\n    M[:id].deliver_now\n"
        "    [bold]UserMailer.with(id: params[:id]).welcome.deliver_now\n  end\nend\n"
    )
    result = run(str(tmp_path), "--extend-select", "JL001")
    assert "[bold]UserMailer.with(id: params[:id])" in result.output
    assert "\x1b[" not in result.output  # not a terminal: no colour


def test_no_color_environment_disables_colour_even_when_forced(run, monkeypatch):
    from joblint.cli import make_console

    monkeypatch.setenv("NO_COLOR", "1")
    assert make_console().no_color


@pytest.mark.parametrize(
    "args, codes",
    [
        (("--select", "JL101"), {"JL101"}),
        (("--select", "record-argument,JL2"), {"JL101", "JL201", "JL202"}),
        (("--ignore", "JL1,rescue-from-swallows"), ALL_DEMO_CODES - {"JL101", "JL202"}),
        (("--select", "JL3", "--extend-select", "JL401"), {"JL301", "JL401"}),
    ],
)
def test_selection_by_code_name_and_prefix(run, args, codes):
    result = run(DEMO, "--format", "json", *args)
    assert {f["code"] for f in json.loads(result.output)["findings"]} == codes


def test_unknown_selector_is_a_usage_error(run):
    result = run(DEMO, "--select", "JL999")
    assert result.exit_code == 2
    assert "unknown rule" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    "args, code",
    [
        ((), 1),
        (("--fail-level", "error"), 1),  # the Sidekiq record argument is an error
        (("--select", "JL2", "--fail-level", "error"), 0),
        (("--select", "JL001"), 0),  # info is below the default fail level
        (("--select", "JL001", "--fail-level", "info"), 1),
        (("--exit-zero",), 0),
    ],
)
def test_exit_codes(run, args, code):
    assert run(DEMO, "--format", "concise", *args).exit_code == code


def test_clean_app_passes(run, tmp_path):
    (tmp_path / "Gemfile").write_text("")
    result = run(str(tmp_path))
    assert result.exit_code == 0
    assert "All checks passed!" in result.output


def test_output_file_gets_the_report_and_terminal_a_summary(run, tmp_path):
    target = tmp_path / "report.json"
    result = run(DEMO, "--format", "json", "-o", str(target))
    assert result.exit_code == 1
    assert json.loads(target.read_text())["summary"]["findings"] == 4
    assert "Found 4 findings" in result.output and "report.json" in result.output


def test_python_dash_m_and_default_command(run):
    assert run("--version").output.strip() == "joblint, version 0.1.0"
    assert run("check", DEMO, "--select", "JL201", "--format", "concise").output == run(
        DEMO, "--select", "JL201", "--format", "concise"
    ).output


def test_rules_table_lists_every_rule(run):
    output = run("rules").output
    for rule in rules.all_rules():
        assert rule.code in output and rule.name in output


def test_rule_page_matches_the_committed_catalogue(run):
    for key in ("JL101", "record-argument", "jl101"):
        result = run("rule", key)
        assert result.exit_code == 0
        assert result.output == (ROOT / "rules" / "JL101-record-argument.md").read_text()
    assert run("rule", "nope").exit_code == 2


def test_jobs_command_is_part_of_the_cli(run):
    result = run("jobs", DEMO, "--format", "json")
    assert result.exit_code == 0
    names = [row["name"] for row in json.loads(result.output)["jobs"]]
    assert "FulfilOrderJob" in names and "InvoiceWorker" in names
