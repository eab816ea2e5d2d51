"""The ecosystem check's harness (ecosystem/check.py) on a tiny generated app in a git repo:
export at the pinned commit, lint, compare with reviewed verdicts, record, prune."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import write_tree

CHECK = Path(__file__).resolve().parents[1] / "ecosystem" / "check.py"
spec = importlib.util.spec_from_file_location("ecosystem_check", CHECK)
assert spec is not None and spec.loader is not None
check = importlib.util.module_from_spec(spec)
sys.modules["ecosystem_check"] = check  # dataclasses look their module up
spec.loader.exec_module(check)

APP = {
    "backend/Gemfile": 'source "https://rubygems.org"\n',
    "backend/Gemfile.lock": "GEM\n  specs:\n    solid_queue (1.1.0)\n",
    "backend/config/application.rb": "module Shop\n  class Application < Rails::Application\n  end\nend\n",
    "backend/app/jobs/application_job.rb": "class ApplicationJob < ActiveJob::Base\nend\n",
    "backend/app/jobs/sync_job.rb": "class SyncJob < ApplicationJob\n  def perform; end\nend\n",
    "backend/app/jobs/ping_job.rb": (
        "class PingJob < ApplicationJob\n  retry_on Timeout::Error\n  def perform; end\nend\n"),
    "backend/app/controllers/users_controller.rb": (
        "class UsersController < ApplicationController\n  def create\n"
        "    UserMailer.welcome(1).deliver_now\n  end\nend\n"),
    "backend/spec/jobs/sync_job_spec.rb": "# not exported\n",
    "README.md": "not exported\n",
}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def ecosystem(tmp_path):
    repo = tmp_path / "mirror" / "acme+shop"
    write_tree(repo, APP)
    git(repo, "init", "-q")
    git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "add", ".")
    git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "app")
    commit = git(repo, "rev-parse", "HEAD")
    apps_toml = tmp_path / "apps.toml"
    apps_toml.write_text(
        f'[[app]]\nrepo = "acme/shop"\ncommit = "{commit}"\nbackend = "solid_queue"\n'
        'root = "backend"\n'
    )
    return tmp_path, apps_toml


def run(tmp_path: Path, apps_toml: Path, *args: str) -> int:
    return check.main(
        ["--apps-toml", str(apps_toml), "--reviewed", str(tmp_path / "reviewed"), *args]
    )


def test_export_writes_only_what_joblint_reads_at_the_pinned_commit(ecosystem):
    tmp_path, apps_toml = ecosystem
    assert run(tmp_path, apps_toml, "export", "--mirror", str(tmp_path / "mirror"),
               "--into", str(tmp_path / "apps")) == 0
    exported = sorted(
        p.relative_to(tmp_path / "apps" / "shop").as_posix()
        for p in (tmp_path / "apps" / "shop").rglob("*") if p.is_file()
    )
    assert exported == [
        ".ecosystem-commit", "Gemfile", "Gemfile.lock", "app/controllers/users_controller.rb",
        "app/jobs/application_job.rb",
        "app/jobs/ping_job.rb", "app/jobs/sync_job.rb", "config/application.rb",
    ]


def test_run_lists_new_findings_then_records_verdicts_and_reports_precision(ecosystem, capsys):
    tmp_path, apps_toml = ecosystem
    apps = str(tmp_path / "apps")
    run(tmp_path, apps_toml, "export", "--mirror", str(tmp_path / "mirror"), "--into", apps)
    pending = tmp_path / "pending.jsonl"
    capsys.readouterr()
    assert run(tmp_path, apps_toml, "run", "--apps-dir", apps, "--pending", str(pending)) == 1
    out = capsys.readouterr().out
    assert "new or unreviewed findings (1)" in out and "JL401 app/controllers/users_controller.rb:3" in out

    [line] = pending.read_text().splitlines()
    judged = dict(json.loads(line), verdict="tp", reason="SMTP inside the request")
    verdicts = tmp_path / "verdicts.jsonl"
    verdicts.write_text(json.dumps(judged) + "\n")
    assert run(tmp_path, apps_toml, "record", str(verdicts)) == 0
    stored = json.loads((tmp_path / "reviewed" / "shop.jsonl").read_text())
    assert set(stored) == {"fingerprint", "code", "path", "line", "verdict", "reason"}

    capsys.readouterr()
    assert run(tmp_path, apps_toml, "run", "--apps-dir", apps, "--markdown") == 0
    out = capsys.readouterr().out
    assert "| JL401 | 1 | 1 | 1 | 0 | 100.0 % |" in out
    assert "| all | 1 | 1 | 1 | 0 | 100.0 % |" in out


def test_a_vanished_finding_is_listed_and_pruned(ecosystem, capsys):
    tmp_path, apps_toml = ecosystem
    apps = str(tmp_path / "apps")
    run(tmp_path, apps_toml, "export", "--mirror", str(tmp_path / "mirror"), "--into", apps)
    reviewed = tmp_path / "reviewed"
    reviewed.mkdir()
    gone = {"fingerprint": "0" * 64, "code": "JL401", "path": "app/x.rb", "line": 3,
            "verdict": "fp", "reason": "a deliberate synchronous send"}
    opt_in = {"fingerprint": "1" * 64, "code": "JL501", "path": "app/y.rb", "line": 4,
              "verdict": "tp", "reason": "an enqueue per user"}  # its rule did not run: kept
    (reviewed / "shop.jsonl").write_text(json.dumps(gone) + "\n" + json.dumps(opt_in) + "\n")
    capsys.readouterr()
    assert run(tmp_path, apps_toml, "run", "--apps-dir", apps, "--prune") == 1
    out = capsys.readouterr().out
    assert "vanished findings (1)" in out and "JL401 app/x.rb:3  [fp]" in out
    assert (reviewed / "shop.jsonl").read_text() == json.dumps(opt_in) + "\n"


def test_a_verdict_needs_a_reason(ecosystem):
    tmp_path, apps_toml = ecosystem
    verdicts = tmp_path / "verdicts.jsonl"
    verdicts.write_text(json.dumps({"app": "shop", "fingerprint": "f", "code": "JL201",
                                    "path": "a.rb", "line": 1, "verdict": "tp"}) + "\n")
    with pytest.raises(SystemExit, match="needs a verdict"):
        run(tmp_path, apps_toml, "record", str(verdicts))


def test_recall_replays_fix_commits_on_their_parents(ecosystem, capsys):
    tmp_path, _ = ecosystem
    repo = tmp_path / "mirror" / "acme+shop"
    parent = git(repo, "rev-parse", "HEAD")
    controller = repo / "backend/app/controllers/users_controller.rb"
    controller.write_text(controller.read_text().replace("deliver_now", "deliver_later"))
    git(repo, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qam", "fix")
    fix = git(repo, "rev-parse", "HEAD")

    def case(rule, path, lines, how="literal"):
        return {"repo": "acme/shop", "root": "backend", "fix": fix, "parent": parent,
                "path": path, "lines": lines, "rule": rule, "shape": "words", "how": how}

    cases = tmp_path / "recall.jsonl"
    cases.write_text("".join(json.dumps(c) + "\n" for c in [
        case("JL401", "app/controllers/users_controller.rb", [3, 3]),  # default rules
        case("JL201", "app/jobs/sync_job.rb", [1, 1], "indirect"),  # opt-in: everything on
        case("JL101", "app/jobs/ping_job.rb", [3, 3]),  # nothing there: missed
        case(None, "app/jobs/sync_job.rb", [1, 1]),  # the catalogue has no rule for it
    ]))
    capsys.readouterr()
    assert check.main(["recall", "--mirror", str(tmp_path / "mirror"), "--cases", str(cases),
                       "--markdown"]) == 0
    out = capsys.readouterr().out
    assert "| JL401 | 1 | 1 | 1 |" in out
    assert "| JL201 | 1 | 0 | 1 |" in out
    assert "| JL101 | 1 | 0 | 0 |" in out
    assert "| all | 3 | 1 | 2 |" in out
    assert "| indirect | 1 | 0 | 1 |" in out
    assert "fixes the catalogue does not cover: 1" in out
    assert "missed with everything on (1):" in out and "JL101 acme/shop@" in out
