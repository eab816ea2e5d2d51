"""Bad input: a clear one-line message naming the file, the rest analysed, no traceback."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from joblint.cli import main
from joblint.files import MAX_FILE_BYTES

JOB = "class XJob < ApplicationJob\n  def perform; end\nend\n"


@pytest.fixture
def app(tmp_path, monkeypatch):
    (tmp_path / "Gemfile").write_text("")
    (tmp_path / "Gemfile.lock").write_text("GEM\n  specs:\n    solid_queue (1.1.0)\n")  # JL201 reports on it
    jobs = tmp_path / "app" / "jobs"
    jobs.mkdir(parents=True)
    (jobs / "x_job.rb").write_text(JOB)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(*args: str):
    # JL201 (opt-in) on the fixture's job is the finding that shows the rest was analysed
    return CliRunner().invoke(
        main, [*args, "--format", "concise", "--extend-select", "JL201"], catch_exceptions=False
    )


def assert_reported_and_rest_analysed(result, name: str, reason: str) -> None:
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if name in line and "joblint:" in line]
    assert len(lines) == 1 and reason in lines[0], result.output
    assert "app/jobs/x_job.rb:1:7: JL201" in result.output


def test_nonexistent_path(app):
    result = invoke("app", "missing/dir")
    assert_reported_and_rest_analysed(result, "missing/dir", "no such file or directory")
    assert result.exit_code == 2


def test_unreadable_file(app, monkeypatch):
    from joblint import files

    real_open = os.open

    def deny(path, *args, **kwargs):  # as a file the user cannot read (tests may run as root)
        if str(path).endswith("secret_job.rb"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    (app / "app" / "jobs" / "secret_job.rb").write_text(JOB.replace("XJob", "SecretJob"))
    monkeypatch.setattr(files.os, "open", deny)  # how `read_bounded` opens a file
    assert_reported_and_rest_analysed(invoke("app"), "secret_job.rb", "permission denied")


def test_non_utf8_file(app):
    (app / "app" / "jobs" / "latin_job.rb").write_bytes(b"# caf\xe9\nclass LatinJob; end\n")
    assert_reported_and_rest_analysed(invoke("app"), "latin_job.rb", "not valid UTF-8 (line 1)")


def test_binary_file_named_rb(app):
    (app / "app" / "jobs" / "blob_job.rb").write_bytes(b"\x7fELF\x00\x01\x02")
    assert_reported_and_rest_analysed(invoke("app"), "blob_job.rb", "binary file")


def test_huge_generated_file(app):
    big = app / "app" / "jobs" / "generated_job.rb"
    line = b"# generated " + b"x" * 100 + b"\n"
    big.write_bytes(line * (MAX_FILE_BYTES // len(line) + 10))
    assert_reported_and_rest_analysed(invoke("app"), "generated_job.rb", "over the 4 MB limit")


def test_empty_file_is_fine(app):
    (app / "app" / "jobs" / "empty_job.rb").write_text("")
    result = invoke("app")
    assert "empty_job" not in result.output
    assert "app/jobs/x_job.rb:1:7: JL201" in result.output


def test_file_with_syntax_errors_is_still_analysed(app):
    (app / "app" / "jobs" / "broken_job.rb").write_text(
        "class BrokenJob < ApplicationJob\n  def perform(id)\n    x = foo(id))\n  end\nend\n"
    )
    result = invoke("app", "--extend-select", "JL001")
    assert "app/jobs/broken_job.rb:3:16: JL001 [info]" in result.output
    assert "app/jobs/broken_job.rb:1:7: JL201" in result.output
    assert "Traceback" not in result.output


def test_symlink_loop(app):
    os.symlink("loop_b.rb", app / "app" / "jobs" / "loop_a.rb")
    os.symlink("loop_a.rb", app / "app" / "jobs" / "loop_b.rb")
    os.symlink("..", app / "app" / "jobs" / "up")  # a directory loop is not followed
    result = invoke("app")
    assert_reported_and_rest_analysed(result, "loop_a.rb", "symbolic link loop")
    assert result.output.count("JL201") == 1


def test_named_symlink_loop(app):
    os.symlink("self.rb", app / "self.rb")
    result = invoke("self.rb", "app")
    assert "self.rb: skipped: symbolic link loop" in result.output
    assert "Traceback" not in result.output


def test_partly_analysed_files_are_counted_in_the_summary_with_jl001_off(app):
    (app / "app" / "jobs" / "broken_job.rb").write_text(
        "class BrokenJob < ApplicationJob\n  def perform(id)\n    x = foo(id))\n  end\nend\n"
    )
    result = CliRunner().invoke(main, ["app", "--extend-select", "JL201"], catch_exceptions=False)
    assert "JL001" not in result.output.split("Found")[0]
    assert "1 file was only partly analysed" in result.output
