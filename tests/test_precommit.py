"""The pre-commit hooks, run by the real `pre-commit try-repo` against this repository.

try-repo installs the hook's environment with pip from this checkout (uncommitted changes to
tracked files included), as a user's `pre-commit install` would from a tag: that test is an
`integration` test (the `pre_commit_tool` fixture), skipped without pre-commit, git or a package
index.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from .conftest import write_tree
from .test_cli import ROOT

JOB = """\
class SyncJob < ApplicationJob
  retry_on ActiveRecord::Deadlocked

  def perform(id)
    Account.find(id).increment!(:syncs)
  end
end
"""
FIXED = JOB.replace("increment!(:syncs)", "update!(synced_at: Time.current)")
APP = {
    "Gemfile": 'source "https://rubygems.org"\ngem "rails"\n',
    "config/application.rb": "module Shop\n  class Application < Rails::Application\n  end\nend\n",
    "app/jobs/application_job.rb": "class ApplicationJob < ActiveJob::Base\nend\n",
    "app/jobs/sync_job.rb": JOB,
    "config/locales/en.yml": "en:\n  hello: Hello\n",
    # excluded, and staged: the hook passes its name, and --force-exclude still skips it
    ".joblint.yml": "exclude:\n  - app/legacy/\n",
    "app/legacy/old_sync_job.rb": JOB.replace("SyncJob", "OldSyncJob"),
}


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env=git_env())


def git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    env.update(
        GIT_AUTHOR_NAME="joblint test",
        GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="joblint test",
        GIT_COMMITTER_EMAIL="test@example.com",
        GIT_CONFIG_NOSYSTEM="1",
        NO_COLOR="1",
    )
    return env


def try_repo(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pre_commit",
            "try-repo",
            str(ROOT),
            "--all-files",
            "--color",
            "never",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        env=git_env(),
        timeout=600,
        check=False,
    )


def test_hook_manifest_declares_both_hooks():
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"joblint", "joblint-project"}
    assert hooks["joblint"]["language"] == "python"
    assert set(hooks["joblint"]["types_or"]) == {"ruby", "yaml"}
    assert hooks["joblint"]["require_serial"] is True
    assert hooks["joblint-project"]["pass_filenames"] is False
    assert hooks["joblint-project"]["always_run"] is True
    for hook in hooks.values():  # in `entry`: a user's `args:` replace the hook's `args`
        assert hook["entry"] == "joblint check --force-exclude"
        assert "args" not in hook


def test_pre_commit_try_repo_fails_on_a_finding_and_passes_once_fixed(tmp_path, pre_commit_tool):
    repo = tmp_path / "shop"
    write_tree(repo, APP)
    git(repo, "init", "-q")
    git(repo, "add", "-A")

    failing = try_repo(repo)
    output = failing.stdout + failing.stderr
    assert failing.returncode == 1, output
    for hook in ("joblint", "joblint-project"):
        assert f"- hook id: {hook}\n- exit code: 1" in output, output
    assert "app/jobs/sync_job.rb" in output and "JL301 non-idempotent-update" in output
    assert "old_sync_job.rb" not in output
    assert "Traceback" not in output

    (repo / "app/jobs/sync_job.rb").write_text(FIXED)
    git(repo, "add", "-A")
    passing = try_repo(repo)
    output = passing.stdout + passing.stderr
    assert passing.returncode == 0, output
    assert "JL301" not in output
    assert output.count("Passed") == 2, output
