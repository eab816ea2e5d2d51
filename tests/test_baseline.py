"""Baselines: hidden findings stay hidden when code moves; new ones always show."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from joblint.cli import main

from .conftest import write_tree

CONTROLLER = """class UsersController < ApplicationController
  def create
    user = User.find(1)
    WelcomeJob.perform_async(user)
  end

  def update
    user = User.find(2)
    AuditJob.perform_async(user)
  end
end
"""


@pytest.fixture
def app(tmp_path, monkeypatch):
    write_tree(tmp_path, {
        "Gemfile": "",
        "app/models/user.rb": "class User < ApplicationRecord\nend\n",
        "app/controllers/users_controller.rb": CONTROLLER,
    })
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, [".", "--write-baseline", "baseline.json"])
    assert result.exit_code == 0, result.output
    return tmp_path


def lint(*args: str):
    result = CliRunner().invoke(main, [".", "--baseline", "baseline.json", *args])
    assert "Traceback" not in result.output
    return result


def edit(app, text: str) -> None:
    (app / "app/controllers/users_controller.rb").write_text(text)


def test_baseline_file_is_sorted_json_with_counts(app):
    document = json.loads((app / "baseline.json").read_text())
    rows = document["findings"]
    assert [r["code"] for r in rows] == ["JL101", "JL101"]
    assert all(set(r) == {"code", "path", "fingerprint", "message", "count"} for r in rows)
    assert rows == sorted(rows, key=lambda r: (r["path"], r["code"], r["fingerprint"]))


def test_nothing_shows_with_the_baseline(app):
    result = lint()
    assert result.exit_code == 0
    assert "All checks passed!" in result.output and "2 hidden by the baseline" in result.output


def test_lines_inserted_above_keep_findings_hidden(app):
    edit(app, "# frozen_string_literal: true\n\n# Users.\n" + CONTROLLER)
    assert lint().exit_code == 0


def test_method_moved_within_the_file_keeps_findings_hidden(app):
    create, update = CONTROLLER.split("\n\n")
    header, create_body = create.split("\n", 1)
    moved = header + "\n" + update.replace("\nend\n", "\n") + "\n\n" + create_body + "\nend\n"
    edit(app, moved)
    assert lint().exit_code == 0


def test_editing_another_method_keeps_findings_hidden(app):
    edit(app, CONTROLLER.replace("user = User.find(2)", "user = User.find(2)\n    log(:ok)"))
    assert lint().exit_code == 0


def test_a_duplicate_finding_in_the_same_method_shows(app):
    edit(app, CONTROLLER.replace(
        "    WelcomeJob.perform_async(user)\n",
        "    WelcomeJob.perform_async(user)\n    WelcomeJob.perform_async(user)\n",
    ))
    result = lint("--format", "concise")
    assert result.exit_code == 1
    assert result.output.count("JL101") == 1


def test_a_new_violation_shows_exactly_once(app):
    edit(app, CONTROLLER.replace("  def update\n", "  def destroy(user)\n"
                                 "    PurgeJob.perform_async(user)\n  end\n\n  def update\n"))
    result = lint("--format", "concise")
    lines = [line for line in result.output.splitlines() if "JL101" in line]
    assert lines == [lines[0]] and lines[0].startswith("app/controllers/users_controller.rb:8:")


def test_renamed_file_shows_its_findings_again(app):
    (app / "app/controllers/users_controller.rb").rename(app / "app/controllers/people_controller.rb")
    result = lint("--format", "concise")
    assert result.output.count("JL101") == 2  # documented: the path is part of the fingerprint


def test_fixed_findings_are_counted_for_pruning(app):
    edit(app, CONTROLLER.replace("AuditJob.perform_async(user)", "AuditJob.perform_async(user.id)"))
    result = lint()
    assert result.exit_code == 0
    assert "1 fixed — prune with --write-baseline" in result.output


@pytest.mark.parametrize(
    "content, message", [("{", "invalid JSON"), ('{"x": 1}', "no 'findings' list")]
)
def test_bad_baseline_files_are_clear_errors(app, content, message):
    (app / "baseline.json").write_text(content)
    result = lint()
    assert result.exit_code == 2 and message in result.output


def test_statistics_counts_per_rule(app):
    result = CliRunner().invoke(main, [".", "--statistics"])
    assert result.exit_code == 1
    row = [line for line in result.output.splitlines() if "JL101" in line][0]
    assert row.split()[:3] == ["2", "JL101", "record-argument"]
    data = json.loads(CliRunner().invoke(main, [".", "--statistics", "--format", "json"]).stdout)
    assert data == {"statistics": [
        {"code": "JL101", "name": "record-argument", "count": 2, "fixable": False}
    ]}


def test_no_progress_bar_outside_a_terminal(app):
    result = CliRunner().invoke(main, ["."])
    assert "linting" not in result.output and "\x1b[" not in result.output


def test_apply_moves_baselined_findings_to_the_suppressed_list(app):
    from joblint import baseline
    from joblint.findings import EXTERNAL

    from .conftest import run_tree

    edit(app, CONTROLLER.replace("AuditJob.perform_async(user)",
                                 "AuditJob.perform_async(user)\n    PurgeJob.perform_async(user)"))
    report = run_tree(app)
    assert [f.line for f in report.findings] == [4, 9, 10]
    baseline.apply(report, baseline.load(app / "baseline.json"))
    assert [f.line for f in report.findings] == [10]
    assert [(s.finding.line, s.kind) for s in report.suppressed] == [(4, EXTERNAL), (9, EXTERNAL)]
    assert report.baselined == 2
