"""`joblint jobs`: one row per job class, in text, JSON and Markdown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from joblint.inventory import jobs_command

from .conftest import write_tree
from .test_cli import assert_snapshot

APPS = Path(__file__).resolve().parent / "fixtures" / "apps"


def jobs(path: Path, *args: str):
    return CliRunner().invoke(jobs_command, [str(path), *args], catch_exceptions=False)


def rows(path: Path) -> dict[str, dict]:
    result = jobs(path, "--format", "json")
    assert result.exit_code == 0
    assert list(json.loads(result.output)) == ["jobs"]
    return {row["name"]: row for row in json.loads(result.output)["jobs"]}


def test_sidekiq_app_rows_show_queue_processing_policy_schedules_and_enqueues():
    table = rows(APPS / "sidekiq")
    assert set(table) == {
        "ApplicationJob", "ExportManifestJob", "PrintLabelsJob", "StaleShipmentsWorker",
        "TrackingWorker",
    }
    labels = table["PrintLabelsJob"]
    assert (labels["backend"], labels["adapter"], labels["queue"], labels["queue_processed"]) == (
        "activejob", "sidekiq", "labels", True)
    assert [h["declared_in"] for h in labels["handlers"]] == ["ApplicationJob", "ApplicationJob"]
    assert labels["schedules"] == ["sidekiq_cron:nightly_labels"]
    assert labels["enqueue_sites"] == 1
    assert table["ExportManifestJob"]["queue_processed"] is False
    tracking = table["TrackingWorker"]
    assert (tracking["backend"], tracking["queue"], tracking["sidekiq_retry"]) == ("sidekiq", "tracking", "5")
    assert table["ApplicationJob"]["abstract"] is True


def test_concurrency_limits_of_solid_queue_and_good_job_are_listed():
    assert rows(APPS / "solid_queue")["Billing::CloseBooksJob"]["concurrency"] == "to: 1"
    assert rows(APPS / "good_job")["OverdueNoticesJob"]["concurrency"] == "total_limit: 1"


def test_good_job_and_whenever_schedules_name_their_jobs():
    usage = rows(APPS / "good_job")["UsageReportJob"]
    assert usage["schedules"] == ["good_job:usage_report", "whenever:UsageReportJob.perform_later"]


def test_enqueue_sites_count_set_chains_and_skip_tests(tmp_path):
    write_tree(tmp_path, {
        "Gemfile": "",
        "app/jobs/sync_job.rb": "class SyncJob < ApplicationJob\n  def perform(id); end\nend\n",
        "app/models/user.rb": (
            "class User < ApplicationRecord\n  def sync\n    SyncJob.perform_later(id)\n"
            "    SyncJob.set(wait: 1.minute).perform_later(id)\n  end\nend\n"
        ),
        "lib/tasks/sync.rake": "task sync: :environment do\n  SyncJob.perform_later(1)\nend\n",
        "spec/jobs/sync_job_spec.rb": "SyncJob.perform_later(1)\n",
    })
    assert rows(tmp_path)["SyncJob"]["enqueue_sites"] == 3


def test_text_and_markdown_formats(tmp_path):
    text = jobs(APPS / "solid_queue")
    assert text.exit_code == 0
    assert "Billing::SendStatementsJob" in text.output and "4 job classes" in text.output
    markdown = jobs(APPS / "solid_queue", "--format", "markdown").output
    assert markdown.splitlines()[0].startswith("| Class | File | Backend | Queue |")
    assert_snapshot("solid_queue.jobs.md", markdown)


def test_an_app_without_jobs_lists_none(tmp_path):
    (tmp_path / "Gemfile").write_text("")
    assert json.loads(jobs(tmp_path, "--format", "json").output)["jobs"] == []
    assert "0 job classes" in jobs(tmp_path).output


def test_jobs_outside_app_and_lib_are_listed_but_not_test_jobs(tmp_path):
    write_tree(tmp_path, {
        "Gemfile": "",
        "core/app/jobs/spree/state_job.rb": "module Spree\n  class StateJob < ActiveJob::Base\n  end\nend\n",
        "core/spec/support/fake_job.rb": "class FakeJob < ActiveJob::Base\nend\n",
    })
    assert set(rows(tmp_path)) == {"Spree::StateJob"}


# --- the text layout: the wide table only when it fits, else one block per job ------------


def app_rows(name: str) -> list:
    from joblint.inventory import inventory, job_files_outside_model_dirs
    from joblint.rails.app import App

    app = App(APPS / name)
    app.include(job_files_outside_model_dirs(app))
    return inventory(app)


def rendered(rows: list, width: int) -> list[str]:
    from io import StringIO

    from rich.console import Console

    from joblint.inventory import render_text

    console = Console(file=StringIO(), width=width, no_color=True, highlight=False, markup=False)
    console.print(render_text(console, rows))
    return console.file.getvalue().splitlines()


@pytest.mark.parametrize("width", [40, 80, 100, 160])
def test_jobs_on_a_narrow_terminal_get_one_block_per_job_with_every_field(width):
    rows = app_rows("sidekiq")
    lines = rendered(rows, width)
    assert all(len(line) <= width for line in lines), max(lines, key=len)
    assert not any(line.startswith("Class ") for line in lines)  # not the table
    names = [line for line in lines if line and not line.startswith(" ")]
    assert names == ["ApplicationJob (abstract)", "ExportManifestJob", "PrintLabelsJob",
                     "StaleShipmentsWorker", "TrackingWorker"]
    labels = {line[2:].split("  ")[0] for line in lines if line.startswith("  ") and line[2] != " "}
    assert labels == {"File", "Backend", "Queue", "Retry / discard", "Schedules", "Enqueued"}
    text = "".join(line.strip() for line in lines)  # a value folded at a narrow width joins up
    for expected in ("app/workers/stale_shipments_worker.rb:1", "exports(NOT PROCESSED)",
                     "discard_onActiveJob::DeserializationError[ApplicationJob]",
                     "sidekiq_cron:nightly_labels", "sidekiq retry: 5"):
        assert expected.replace(" ", "") in text.replace(" ", ""), expected


def test_jobs_block_lists_concurrency_and_schedules_only_when_there_are_some():
    lines = rendered(app_rows("solid_queue"), 80)
    block = lines[lines.index("Billing::CloseBooksJob"):]
    block = block[:block.index("")]
    assert [line.split()[0] for line in block[1:] if not line.startswith("   ")] == [
        "File", "Backend", "Queue", "Retry", "Concurrency", "Schedules", "Enqueued"]
    assert "  Concurrency      to: 1" in [line.rstrip() for line in block]
    first = lines[:lines.index("")]
    assert not any("Concurrency" in line or "Schedules" in line for line in first)


@pytest.mark.parametrize("width", [240, 300])
def test_jobs_on_a_wide_terminal_get_the_table_with_unbroken_headers(width):
    lines = rendered(app_rows("sidekiq"), width)
    assert lines[0].split() == ["Class", "File", "Backend", "Queue", "Retry", "/", "discard",
                                "Concurrency", "Schedules", "Enqueued"]
    assert all(len(line) <= width for line in lines)
    assert lines[1].split()[:2] == ["ApplicationJob", "(abstract)"]
    assert lines[2].split() == ["discard_on", "ActiveJob::DeserializationError"]  # under retry_on
    assert len(lines) == 1 + 5 + 3  # three jobs with two handlers each take two lines


def test_jobs_table_is_used_exactly_when_it_fits():
    from rich.console import Console

    from joblint.inventory import render_table, table_width

    rows = app_rows("sidekiq")
    needed = table_width(Console(width=80), render_table(rows))
    assert 160 < needed < 300
    assert rendered(rows, needed)[0].startswith("Class ")
    assert not rendered(rows, needed - 1)[0].startswith("Class ")


def test_jobs_command_on_a_terminal_follows_its_width(monkeypatch):
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich: stdout counts as a terminal
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "80")
    narrow = jobs(APPS / "sidekiq").output.splitlines()
    assert narrow[0] == "ApplicationJob (abstract)" and narrow[-1] == "5 job classes"
    assert all(len(line) <= 80 for line in narrow)
    monkeypatch.setenv("COLUMNS", "240")
    assert jobs(APPS / "sidekiq").output.startswith("Class ")


def test_jobs_piped_print_one_line_per_job_however_long():
    lines = jobs(APPS / "sidekiq").output.splitlines()
    assert lines[0].split()[:2] == ["Class", "File"] and lines[-1] == "5 job classes"
    assert len(lines) == 1 + 5 + 1
    labels = next(line for line in lines if line.startswith("PrintLabelsJob"))
    assert ("retry_on Timeout::Error [ApplicationJob]; discard_on "
            "ActiveJob::DeserializationError [ApplicationJob]") in labels
    assert len(labels) > 240
