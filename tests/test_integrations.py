"""`--format github`, `--format gitlab`, `-o FILE`, and the shell of the GitHub Action."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from joblint.cli import main
from joblint.engine import Report
from joblint.findings import Finding, Severity
from joblint.reporters import ReportContext, render
from joblint.reporters.github import escape_data, escape_property

from .conftest import write_tree
from .test_cli import DEMO, ROOT

COMMAND = re.compile(
    r"^::(error|warning|notice) file=([^,:]+),line=(\d+)(?:,col=(\d+))?,endLine=(\d+)"
    r"(?:,endColumn=(\d+))?,title=(JL\d{3} [a-z0-9-]+)::(.+)$"
)


@pytest.fixture
def in_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def finding(**changes: object) -> Finding:
    fields: dict[str, object] = {
        "code": "JL101",
        "name": "record-argument",
        "severity": Severity.WARNING,
        "path": "app/jobs/a.rb",
        "line": 3,
        "column": 5,
        "end_line": 3,
        "end_column": 9,
        "message": "m",
        "help": "",
        "fingerprint": "f" * 64,
        "line_text": "",
        "utf16_column": 5,
        "utf16_end_column": 9,
    }
    fields.update(changes)
    return Finding(**fields)  # type: ignore[arg-type]


# --- github -------------------------------------------------------------------------------


def test_github_escapes_data_and_properties_as_the_runner_expects():
    assert escape_data("100% done\r\nnext: a, b") == "100%25 done%0D%0Anext: a, b"
    assert escape_property("100% done\r\nnext: a, b") == "100%25 done%0D%0Anext%3A a%2C b"
    assert escape_property("%3A") == "%253A"  # escaped once, not twice


def test_github_command_for_a_finding_with_awkward_text(tmp_path):
    report = Report(
        findings=[
            finding(
                path="app/jobs/odd,name:v2.rb",
                message="50% of `a, b`: lost\nreally",
                help="Use ids",
            )
        ]
    )
    output = render("github", report, ReportContext(cwd=tmp_path))
    assert output == (
        "::warning file=app/jobs/odd%2Cname%3Av2.rb,line=3,col=5,endLine=3,endColumn=9,"
        "title=JL101 record-argument::50%25 of `a, b`: lost%0Areally%0AUse ids\n"
    )


def test_github_gives_no_columns_for_a_span_over_several_lines(tmp_path):
    report = Report(findings=[finding(end_line=6, end_column=4)])
    output = render("github", report, ReportContext(cwd=tmp_path))
    assert (
        output == "::warning file=app/jobs/a.rb,line=3,endLine=6,title=JL101 record-argument::m\n"
    )


def test_github_format_of_the_demo_app(in_root):
    result = invoke(DEMO, "--format", "github", "--extend-select", "JL001")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 5
    parsed = [COMMAND.match(line) for line in lines]
    assert all(parsed), lines
    by_place = {
        (m.group(7).split()[0], int(m.group(3))): m  # type: ignore[union-attr]
        for m in parsed
    }
    assert by_place[("JL101", 5)].group(1) == "error"
    assert by_place[("JL301", 8)].group(1) == "warning"
    assert by_place[("JL001", 5)].group(1) == "notice"
    jl401 = by_place[("JL401", 4)]
    assert jl401.group(2) == f"{DEMO}/app/controllers/orders_controller.rb"
    assert (jl401.group(4), jl401.group(5), jl401.group(6)) == ("5", "4", "48")
    for match in parsed:
        assert (ROOT / match.group(2)).is_file()  # type: ignore[union-attr]


def test_github_paths_are_relative_to_the_repository_root(monkeypatch, tmp_path):
    (tmp_path / ".git").mkdir()
    write_tree(
        tmp_path / "shop",
        {
            "Gemfile": "",
            "Gemfile.lock": "GEM\n  specs:\n    sidekiq (7.3.0)\n",
            "app/controllers/a_controller.rb": (
                "class AController\n  def show\n    UserMailer.hi.deliver_now\n  end\nend\n"
            ),
        },
    )
    monkeypatch.chdir(tmp_path / "shop")
    output = invoke(".", "--format", "github").stdout
    assert output.startswith("::warning file=shop/app/controllers/a_controller.rb,line=3,col=5,")


# --- gitlab -------------------------------------------------------------------------------


def test_gitlab_code_quality_report_of_the_demo_app(in_root):
    result = invoke(DEMO, "--format", "gitlab", "--extend-select", "JL001")
    assert result.exit_code == 1
    issues = json.loads(result.stdout)
    concise = invoke(DEMO, "--format", "concise", "--extend-select", "JL001").stdout.splitlines()
    concise = concise[:-1]  # the summary line
    assert len(issues) == len(concise) == 5
    for issue, line in zip(issues, concise):
        path, number, _, rest = line.split(":", 3)
        assert issue["location"] == {
            "path": path,
            "lines": {"begin": int(number), "end": issue["location"]["lines"]["end"]},
        }
        assert issue["check_name"] == rest.split()[0]
        assert issue["description"].startswith(issue["check_name"] + " ")
        assert re.fullmatch(r"[0-9a-f]{64}", issue["fingerprint"])
        assert (ROOT / path).is_file()
    assert len({issue["fingerprint"] for issue in issues}) == 5
    severities = {(i["check_name"], i["location"]["lines"]["begin"]): i["severity"] for i in issues}
    assert severities[("JL101", 5)] == "critical"
    assert severities[("JL301", 8)] == "major"
    assert severities[("JL001", 5)] == "info"
    assert set(severities.values()) <= {"info", "minor", "major", "critical", "blocker"}


def test_gitlab_fingerprints_survive_inserted_lines(monkeypatch, tmp_path):
    job = (
        "class SyncJob < ApplicationJob\n  def perform(id)\n    A.find(id).increment!(:n)\n"
        "  end\nend\n"
    )
    write_tree(tmp_path, {"Gemfile": "", "app/jobs/sync_job.rb": job})
    monkeypatch.chdir(tmp_path)
    before = {
        (i["check_name"], i["fingerprint"])
        for i in json.loads(invoke(".", "--format", "gitlab").stdout)
    }
    (tmp_path / "app/jobs/sync_job.rb").write_text("# Syncs.\n\n" + job)
    after = json.loads(invoke(".", "--format", "gitlab").stdout)
    assert {(i["check_name"], i["fingerprint"]) for i in after} == before
    assert {i["location"]["lines"]["begin"] for i in after if i["check_name"] == "JL301"} == {5}


def test_gitlab_report_of_a_clean_app_is_an_empty_list(monkeypatch, tmp_path):
    (tmp_path / "Gemfile").write_text("")
    monkeypatch.chdir(tmp_path)
    result = invoke(".", "--format", "gitlab")
    assert result.exit_code == 0 and json.loads(result.stdout) == []


# --- -o FILE ------------------------------------------------------------------------------


@pytest.mark.parametrize("output_format", ["sarif", "github", "gitlab"])
def test_output_file_gets_the_report_and_the_terminal_a_summary(in_root, tmp_path, output_format):
    target = tmp_path / f"report.{output_format}"
    result = invoke(DEMO, "--format", output_format, "-o", str(target))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "Found 4 findings" in result.stderr and str(target) in result.stderr
    assert target.read_text(encoding="utf-8") == invoke(DEMO, "--format", output_format).stdout


# --- the GitHub Action --------------------------------------------------------------------


def action_steps() -> dict[str, dict]:
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    assert action["runs"]["using"] == "composite"
    return {step["name"]: step for step in action["runs"]["steps"]}


def run_step(
    name: str, tmp_path: Path, cwd: Path, **inputs: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    step = action_steps()[name]
    assert "${{" not in step["run"]  # inputs come through env, never pasted into the script
    outputs = tmp_path / "github_output"
    outputs.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBLINT_")}
    env["JOBLINT_CACHE_DIR"] = str(tmp_path / "joblint-cache")  # the fixture apps stay clean
    env.update(
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        GITHUB_OUTPUT=str(outputs),
        GITHUB_PATH=str(tmp_path / "github_path"),
        RUNNER_TEMP=str(tmp_path),
        NO_COLOR="1",
    )
    env.update(inputs)
    process = subprocess.run(
        ["bash", "-c", step["run"]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    values = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    return process, values


def test_action_declares_its_inputs_and_passes_them_as_environment():
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    assert {"paths", "args", "upload-sarif", "sarif-file", "category"} <= set(action["inputs"])
    env = action_steps()["Run joblint"]["env"]
    assert env["JOBLINT_PATHS"] == "${{ inputs.paths }}"
    assert env["JOBLINT_UPLOAD_SARIF"] == "${{ inputs.upload-sarif }}"


def test_action_writes_sarif_and_leaves_findings_to_code_scanning(tmp_path):
    process, outputs = run_step(
        "Run joblint",
        tmp_path,
        ROOT,
        JOBLINT_PATHS=DEMO,
        JOBLINT_ARGS="--select 'JL1,JL4'",
        JOBLINT_UPLOAD_SARIF="true",
        JOBLINT_SARIF_FILE=str(tmp_path / "out.sarif"),
        JOBLINT_CATEGORY="joblint/shop/",
    )
    assert process.returncode == 0, process.stderr
    assert outputs == {"sarif-file": str(tmp_path / "out.sarif"), "exit-code": "1"}
    run = json.loads((tmp_path / "out.sarif").read_text())["runs"][0]
    assert {r["ruleId"] for r in run["results"]} == {"JL101", "JL401"}
    assert run["automationDetails"] == {"id": "joblint/shop/"}
    assert "Found 2 findings" in process.stderr


def test_action_without_sarif_annotates_and_fails_on_findings(tmp_path):
    process, outputs = run_step(
        "Run joblint",
        tmp_path,
        ROOT,
        JOBLINT_PATHS=f"{DEMO}/app/jobs\n{DEMO}/app/workers",
        JOBLINT_ARGS="",
        JOBLINT_UPLOAD_SARIF="false",
    )
    assert process.returncode == 1
    assert outputs == {"sarif-file": "", "exit-code": "1"}
    lines = process.stdout.splitlines()
    assert lines and all(COMMAND.match(line) for line in lines)
    folders = {COMMAND.match(line).group(2).split("/app/")[1].split("/")[0] for line in lines}
    assert "jobs" in folders and folders <= {"jobs", "workers"}  # both paths, nothing else


def test_action_fails_when_joblint_itself_fails(tmp_path):
    process, outputs = run_step(
        "Run joblint",
        tmp_path,
        ROOT,
        JOBLINT_PATHS="no/such/dir",
        JOBLINT_UPLOAD_SARIF="true",
        JOBLINT_SARIF_FILE=str(tmp_path / "out.sarif"),
    )
    assert process.returncode == 2
    assert outputs["exit-code"] == "2"
    written = (tmp_path / "out.sarif").is_file()
    assert outputs["sarif-file"] == (str(tmp_path / "out.sarif") if written else "")
    assert "no/such/dir" in process.stderr


def fake_joblint(tmp_path: Path, script: str) -> str:
    """A PATH on which `joblint` is a shell script: the action's reaction to any exit."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "joblint").write_text("#!/bin/sh\n" + script)
    (fake / "joblint").chmod(0o755)
    return os.pathsep.join([str(fake), os.environ["PATH"]])


@pytest.mark.parametrize(
    "script, sarif_output",
    [
        ("echo 'joblint: error: bad config' >&2\nexit 2\n", ""),  # nothing written
        (  # a rule crashed: the report was written all the same
            'while [ $# -gt 0 ]; do [ "$1" = -o ] && echo "{}" > "$2"; shift; done\nexit 2\n',
            "out.sarif",
        ),
    ],
    ids=["no-report", "report-of-a-crash"],
)
def test_action_names_the_sarif_file_only_when_joblint_wrote_it(tmp_path, script, sarif_output):
    process, outputs = run_step(
        "Run joblint",
        tmp_path,
        tmp_path,
        PATH=fake_joblint(tmp_path, script),
        JOBLINT_UPLOAD_SARIF="true",
        JOBLINT_SARIF_FILE="out.sarif",
    )
    assert process.returncode == 2
    assert outputs == {"sarif-file": sarif_output, "exit-code": "2"}


def test_action_fails_when_joblint_exits_1_without_writing_the_report(tmp_path):
    process, outputs = run_step(
        "Run joblint",
        tmp_path,
        ROOT,
        PATH=fake_joblint(tmp_path, "echo 'Traceback (most recent call last):' >&2\nexit 1\n"),
        JOBLINT_UPLOAD_SARIF="true",
        JOBLINT_SARIF_FILE=str(tmp_path / "out.sarif"),
    )
    assert process.returncode == 1
    assert outputs == {"sarif-file": "", "exit-code": "1"}


def test_action_install_step_puts_joblint_on_the_path(tmp_path, package_index):
    process, _ = run_step("Install joblint", tmp_path, tmp_path, JOBLINT_SOURCE=str(ROOT))
    assert process.returncode == 0, process.stderr
    (bin_dir,) = (tmp_path / "github_path").read_text().splitlines()
    assert Path(bin_dir) == tmp_path / "joblint-venv" / "bin"
    joblint = Path(bin_dir) / "joblint"
    version = subprocess.run(
        [str(joblint), "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.startswith("joblint, version ")
