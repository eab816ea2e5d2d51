"""The whole-run replay: a check run that nothing can have changed prints the last identical
run's output and exit code without importing the analyzer; any change to what the run read, to
the command line or to the environment runs the check again, and the output is then the cold
output."""

from __future__ import annotations

import json
import marshal
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from joblint import cache, replay

from .conftest import write_tree
from .test_cache import APP
from .test_cache import age as age_below

DRIVER = """
import atexit, sys
marker, *args = sys.argv[1:]
atexit.register(lambda: open(marker, "w").write("analysed" if "joblint.engine" in sys.modules else "replayed"))
sys.argv = ["joblint", *args]
from joblint._entry import main
main()
"""


class Runner:
    def __init__(self, root: Path, home: Path):
        self.root = root
        self.env = {**os.environ, "XDG_CACHE_HOME": str(home), "NO_COLOR": "1"}
        self.env.pop("FORCE_COLOR", None)
        self.marker = home / "marker"
        home.mkdir(parents=True, exist_ok=True)

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> tuple[str, str, int, str]:
        """(stdout, stderr, exit code, "analysed" or "replayed")."""
        done = subprocess.run(
            [sys.executable, "-c", DRIVER, str(self.marker), *args], cwd=self.root,
            env={**self.env, **(env or {})}, capture_output=True, text=True, check=False,
        )
        return done.stdout, done.stderr, done.returncode, self.marker.read_text()

    def cold(self, *args: str) -> tuple[str, str, int]:
        stdout, stderr, code, _ = self(*args, "--no-cache")
        return stdout, stderr, code


def age(root: Path) -> None:
    """The app's files and directories, the root's own included, written long enough ago that
    their modification times are trusted."""
    age_below(root)
    os.utime(root, (os.stat(root).st_atime, os.stat(root).st_mtime - 100))


def saved_before(path: Path) -> None:
    """One file's times set 50 s back, as an edit saved a while before the run meets it (after
    `age`, the others' are 100 s back; `age` itself would touch every file, whose change times
    then tell any memo that it no longer holds, whichever paths it lists)."""
    then = time.time() - 50
    os.utime(path, (then, then))


@pytest.fixture
def run(tmp_path: Path) -> Runner:
    root = tmp_path / "shop"
    write_tree(root, APP)
    age(root)
    return Runner(root, tmp_path / "home")


def settled(run: Runner, *args: str) -> tuple[str, str, int]:
    """Run until the memo is recorded (the first run writes the cache, whose directory is then
    too new to trust); the output of the last run."""
    for _ in range(3):
        age(run.root)
        stdout, stderr, code, how = run(*args)
    assert how == "analysed"
    return stdout, stderr, code


def test_an_unchanged_run_is_replayed_byte_for_byte(run: Runner) -> None:
    expected = run.cold(".")
    assert expected[2] == 1 and "JL101" in expected[0]
    assert settled(run, ".") == expected
    stdout, stderr, code, how = run(".")
    assert how == "replayed"
    assert (stdout, stderr, code) == expected
    # and each format, summary and exit code on its own
    for args in ([".", "--format", "json", "-q"], [".", "--exit-zero"], ["check", "app", "--statistics"]):
        expected = run.cold(*args)
        settled(run, *args)
        *output, how = run(*args)
        assert how == "replayed" and tuple(output) == expected


@pytest.mark.parametrize(
    "relpath, text",
    [
        ("app/jobs/notify_job.rb", APP["app/jobs/notify_job.rb"].replace(":default", ":mailers")),
        ("config/sidekiq.yml", ":queues:\n  - critical\n"),
        ("Gemfile.lock", APP["Gemfile.lock"].replace("sidekiq (7.3.9)", "sidekiq (6.5.0)")),
        ("app/jobs/report_job.rb", "class ReportJob < ApplicationJob\n  def perform\n    sleep 5\n  end\nend\n"),
        (".joblint.yml", "ignore: [JL101]\n"),
        ("app/.gitignore", "controllers/\n"),
        ("app/models/user.rb", None),
    ],
)
def test_any_change_to_what_the_run_read_runs_the_check(run: Runner, relpath: str, text: str | None) -> None:
    settled(run, ".")
    assert run(".")[3] == "replayed"
    path = run.root / relpath
    if text is None:
        path.unlink()
    else:
        path.write_text(text)
        saved_before(path)  # even with a time that looks old, the change time tells
    *output, how = run(".")
    assert how == "analysed"
    assert tuple(output) == run.cold(".")


def test_a_file_no_rule_reads_outside_the_scanned_tree_changes_nothing(run: Runner) -> None:
    (run.root / "vendor").mkdir()
    (run.root / "vendor" / "gem.rb").write_text("class Gem\nend\n")
    settled(run, ".")
    (run.root / "vendor" / "gem.rb").write_text("class Gem\n  def x; end\nend\n")
    assert run(".")[3] == "replayed"


def test_the_command_line_and_environment_are_part_of_the_key(run: Runner) -> None:
    settled(run, ".")
    assert run(".")[3] == "replayed"
    assert run(".", "-q")[3] == "analysed"
    assert run(".", env={"COLUMNS": "40"})[3] == "analysed"
    assert run(".", env={"JOBLINT_TREE_BUDGET": "1"})[3] == "analysed"
    assert run(".")[3] == "replayed"
    (run.root.parent / ".git").mkdir()  # SARIF paths are given from the repository
    assert run(".")[3] == "analysed"


@pytest.mark.parametrize("args", [
    [".", "--no-cache"], [".", "--fix"], [".", "--diff"], [".", "-o", "report.txt"],
    ["rules"], ["jobs", "."], [".", "--write-baseline", "b.json"], [".", "--show-settings"],
    [".", "-qj2"], [".", "--unknown-flag"],
])
def test_only_plain_check_runs_are_replayed(args: list[str]) -> None:
    assert replay.run_key(args) is None


def test_plain_runs_have_a_key() -> None:
    for args in ([], ["."], ["check", "app", "-q", "-j", "2", "--format=json", "--select", "JL1"], ["-j2"]):
        assert replay.run_key(args) is not None


def test_a_damaged_or_foreign_memo_is_not_trusted(run: Runner, tmp_path: Path) -> None:
    expected = settled(run, ".")
    store = cache.cache_directory(run.root, Path(os.environ["JOBLINT_CACHE_DIR"]))
    memos = list(store.glob("run-*.bin"))
    assert len(memos) == 1
    data = memos[0].read_bytes()
    memos[0].write_bytes(data.replace(b"JL101", b"JL999"))  # the signature no longer matches
    *output, how = run(".")
    assert how == "analysed" and tuple(output) == expected
    body = replay.verified(replay_key(run), data)
    assert body is not None
    memos[0].write_bytes(replay.signed(os.urandom(32), body))  # signed, but not by this user
    assert run(".")[3] == "analysed"
    settled(run, ".")
    assert run(".")[3] == "replayed"


def replay_key(run: Runner) -> bytes:
    return (Path(run.env["XDG_CACHE_HOME"]) / "joblint" / "cache-key").read_bytes()


def test_the_process_leaves_with_its_whole_output_and_its_exit_code(run: Runner) -> None:
    """The console entry skips the interpreter's teardown when nothing waits for it: what it
    printed (more than a pipe holds) and its exit code are still all there."""
    for index in range(300):
        (run.root / "app" / "controllers" / f"c{index}_controller.rb").write_text(
            f"class C{index}Controller < ApplicationController\n  def update\n"
            f"    NotifyJob.perform_async(User.find(params[:id]))\n  end\nend\n"
        )
    for extra, expected in (([], 1), (["--exit-zero"], 0)):
        done = subprocess.run(
            [sys.executable, "-m", "joblint", ".", "--format", "json", "--no-cache", *extra],
            cwd=run.root, env=run.env, capture_output=True, check=False,
        )
        assert done.returncode == expected, done.stderr
        findings = json.loads(done.stdout)["findings"]
        assert len(done.stdout) > 65536 and len(findings) >= 300


def test_the_memo_lists_the_directory_changed_last_first(run: Runner) -> None:
    job = run.root / "app" / "jobs" / "report_job.rb"
    job.write_text("class ReportJob < ApplicationJob\n  def perform; end\nend\n")
    settled(run, ".")
    saved_before(job)
    assert run(".")[3] == "analysed"  # a new time: the check runs again, and records that
    store = cache.cache_directory(run.root, Path(os.environ["JOBLINT_CACHE_DIR"]))
    (memo,) = store.glob("run-*.bin")
    body = replay.verified(replay_key(run), memo.read_bytes())
    assert body is not None
    groups = list(marshal.loads(body)["paths"])
    assert len(groups) > 3 and os.path.basename(groups[0]) == "jobs", groups


def test_a_directory_digest_depends_on_the_stamps_not_on_which_objects_hold_them() -> None:
    taken = [4096, 1_795_957_264_366_609_334, 1_795_957_264_366_609_335]
    shared = [taken, None, taken]  # as the recording run holds them: one stamp seen twice
    fresh = [list(taken), None, list(taken)]  # as a replay makes them
    assert replay._digest(shared) == replay._digest(fresh)
    assert replay._digest(fresh) != replay._digest([list(taken), None, [4096, 1, 2]])


@pytest.mark.parametrize("relpath, text", [
    ("app/models/thing7.rb", "class Thing7 < ApplicationRecord\n  has_many :users\nend\n"),
    ("app/models/thing40.rb", "class Thing40 < ApplicationRecord\nend\n"),
    ("app/models/thing7.rb", None),
    ("app/models/user.rb", "class Account < ApplicationRecord\nend\n"),
])
def test_a_one_file_run_of_a_large_cache_is_replayed_until_a_model_file_changes(
    run: Runner, relpath: str, text: str | None
) -> None:
    """The pre-commit path: a run on one file of a large cache does not rewrite the cache, but
    its memo still lists every model file the run read (the class index rests on all of them)."""
    write_tree(run.root, {f"app/models/thing{i}.rb": f"class Thing{i} < ApplicationRecord\nend\n"
                          for i in range(40)})
    settled(run, ".")
    store = cache.cache_directory(run.root, Path(os.environ["JOBLINT_CACHE_DIR"]))
    (findings,) = store.glob("findings-*.bin")
    written = findings.stat().st_mtime_ns
    job = run.root / "app" / "jobs" / "notify_job.rb"
    job.write_text(job.read_text().replace("touch", "touch(:seen_at)"))
    one_file = "app/jobs/notify_job.rb"
    expected = settled(run, one_file)
    assert findings.stat().st_mtime_ns == written  # a small run: the cache was not rewritten
    assert run(one_file) == (*expected, "replayed")
    path = run.root / relpath
    if text is None:
        path.unlink()
    else:
        path.write_text(text)
        saved_before(path)
    *output, how = run(one_file)
    assert how == "analysed"
    assert tuple(output) == run.cold(one_file)
