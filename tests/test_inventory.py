"""`joblint jobs`: one row per job class, in text, JSON and Markdown."""

from __future__ import annotations

import json
from pathlib import Path

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
