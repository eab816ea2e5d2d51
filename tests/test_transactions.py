"""The effective `enqueue_after_transaction_commit`, release by release (rules.md's table)."""

from __future__ import annotations

from pathlib import Path

import pytest

from joblint.rails.app import App
from joblint.rails.transactions import defers_job, defers_mail, parse_setting, transaction_facts

from .conftest import write_tree


def make_app(
    tmp_path: Path,
    rails: str | None = None,
    defaults: str | None = None,
    adapter: str | None = None,
    config: str = "",
    files: dict[str, str] | None = None,
) -> App:
    tree: dict[str, str] = {"Gemfile": "", **(files or {})}
    specs = []
    if rails:
        specs.append(f"    rails ({rails})")
    if adapter:
        specs.append(f"    {adapter} (1.0.0)")
    if specs:
        tree["Gemfile.lock"] = "GEM\n  specs:\n" + "\n".join(specs) + "\n"
    lines = []
    if defaults:
        lines.append(f"    config.load_defaults {defaults}")
    if config:
        lines.append(f"    {config}")
    tree["config/application.rb"] = (
        "module Shop\n  class Application < Rails::Application\n"
        + "\n".join(lines)
        + "\n  end\nend\n"
    )
    write_tree(tmp_path, tree)
    return App(tmp_path)


@pytest.mark.parametrize(
    "rails, defaults, adapter, config, deferred",
    [
        (None, None, "sidekiq", "", False),  # unknown version: Rails through 8.1
        ("7.1.3", "7.1", "sidekiq", "", False),
        (
            "7.1.3",
            "7.1",
            "sidekiq",
            "config.active_job.enqueue_after_transaction_commit = true",
            False,
        ),
        ("7.2.1", "7.2", "sidekiq", "", True),  # :default → the adapter decides
        ("7.2.1", "7.2", "solid_queue", "", True),
        ("7.2.1", "7.2", "resque", "", True),
        ("7.2.1", "7.2", "good_job", "", False),
        ("7.2.1", "7.2", "delayed_job", "", False),
        ("7.2.1", "7.1", "sidekiq", "", False),  # framework default :never
        (
            "7.2.1",
            "7.1",
            "sidekiq",
            "config.active_job.enqueue_after_transaction_commit = :default",
            True,
        ),
        (
            "7.2.1",
            "7.1",
            "good_job",
            "config.active_job.enqueue_after_transaction_commit = :always",
            True,
        ),
        ("8.0.1", "8.0", "sidekiq", "", False),
        ("8.1.0", "7.2", "solid_queue", "", False),  # 8.0 stopped asking the adapter
        (
            "8.1.0",
            "8.1",
            "good_job",
            "config.active_job.enqueue_after_transaction_commit = true",
            True,
        ),
        (
            "8.1.0",
            "8.1",
            "sidekiq",
            "config.active_job.enqueue_after_transaction_commit = :default",
            False,
        ),
        ("8.2.0", "8.2", "sidekiq", "", True),
        ("8.2.0", "8.1", "sidekiq", "", False),
        (
            "8.2.0",
            "8.2",
            "sidekiq",
            "config.active_job.enqueue_after_transaction_commit = false",
            False,
        ),
        (None, None, None, "config.active_job.enqueue_after_transaction_commit = true", True),
        (None, "8.2", None, "", True),  # no Gemfile.lock: load_defaults stands in for the version
    ],
)
def test_perform_later_deferral_follows_the_version_table(
    tmp_path, rails, defaults, adapter, config, deferred
):
    app = make_app(tmp_path, rails, defaults, adapter, config)
    assert defers_job(app, None) is deferred


def test_a_commented_out_setting_does_not_count(tmp_path):
    config = "# config.active_job.enqueue_after_transaction_commit = true"
    app = make_app(tmp_path, "8.1.0", "8.1", "sidekiq", config)
    assert defers_job(app, None) is False


def test_a_per_class_override_applies_to_subclasses_and_wins_over_the_global(tmp_path):
    files = {
        "app/jobs/application_job.rb": (
            "class ApplicationJob < ActiveJob::Base\n"
            "  self.enqueue_after_transaction_commit = true\n"
            "end\n"
        ),
        "app/jobs/sync_job.rb": "class SyncJob < ApplicationJob\nend\n",
        "app/jobs/eager_job.rb": (
            "class EagerJob < ApplicationJob\n  self.enqueue_after_transaction_commit = false\nend\n"
        ),
    }
    app = make_app(tmp_path, "8.1.0", "8.1", "sidekiq", files=files)
    assert defers_job(app, "SyncJob") is True
    assert defers_job(app, "EagerJob") is False
    assert defers_job(app, "ExternalJob") is False
    assert defers_mail(app) is False  # MailDeliveryJob does not inherit ApplicationJob


def test_an_on_load_block_in_an_initializer_sets_the_global_value(tmp_path):
    files = {
        "config/initializers/active_job.rb": (
            "ActiveSupport.on_load(:active_job) do\n"
            "  self.enqueue_after_transaction_commit = true\n"
            "end\n"
        )
    }
    app = make_app(tmp_path, "8.2.0", "8.1", "solid_queue", files=files)
    assert transaction_facts(app).explicit
    assert defers_job(app, None) is True
    assert defers_mail(app) is True


@pytest.mark.parametrize(
    "rails, defaults, config, deferred",
    [
        ("7.2.1", "7.2", "", True),  # global :default on Sidekiq covers MailDeliveryJob
        ("8.1.0", "8.1", "config.active_job.enqueue_after_transaction_commit = true", False),
        ("8.0.1", "8.0", "config.active_job.enqueue_after_transaction_commit = true", False),
        ("8.2.0", "8.2", "", True),
        ("7.1.3", "7.1", "", False),
    ],
)
def test_deliver_later_follows_the_global_setting_and_never_defers_on_8_0_and_8_1(
    tmp_path, rails, defaults, config, deferred
):
    app = make_app(tmp_path, rails, defaults, "sidekiq", config)
    assert defers_mail(app) is deferred


def test_settings_are_parsed_from_their_written_form():
    assert parse_setting("true") is True
    assert parse_setting(":always") is True
    assert parse_setting("false") is False
    assert parse_setting(":never") is False
    assert parse_setting(":default") == "default"
    assert parse_setting('ENV["DEFER"]') is None


def test_an_unreadable_setting_is_taken_as_deferring_to_stay_silent(tmp_path):
    config = 'config.active_job.enqueue_after_transaction_commit = ENV["DEFER"] == "1"'
    app = make_app(tmp_path, "8.1.0", "8.1", "sidekiq", config)
    assert defers_job(app, None) is True


# -- transactional job stores -----------------------------------------------------------------

PRIMARY_ONLY = "production:\n  primary:\n    database: shop\n"
WITH_QUEUE_DB = "production:\n  primary:\n    database: shop\n  queue:\n    database: shop_queue\n"


@pytest.mark.parametrize(
    "adapter, files, transactional",
    [
        ("good_job", {}, True),
        ("good_job", {"config/initializers/good_job.rb": 'GoodJob.active_record_parent_class = "ApplicationRecord"\n'}, True),
        ("good_job", {
            "config/initializers/good_job.rb": 'GoodJob.active_record_parent_class = "JobsRecord"\n',
            "app/models/jobs_record.rb": (
                "class JobsRecord < ActiveRecord::Base\n  self.abstract_class = true\n"
                "  connects_to database: { writing: :jobs }\nend\n"),
        }, False),
        ("solid_queue", {}, False),  # no database.yml: Rails 8's separate queue database
        ("solid_queue", {"config/database.yml": PRIMARY_ONLY}, True),
        ("solid_queue", {"config/database.yml": WITH_QUEUE_DB}, False),
        ("solid_queue", {
            "config/database.yml": PRIMARY_ONLY,
            "config/environments/production.rb": (
                "Rails.application.configure do\n"
                "  config.solid_queue.connects_to = { database: { writing: :queue } }\nend\n"),
        }, False),
        ("que", {}, True),
        ("sidekiq", {}, False),
    ],
)
def test_transactional_job_stores(tmp_path, adapter, files, transactional):
    from joblint.rails.transactions import transactional_store

    app = make_app(tmp_path, rails="7.1.3", adapter=adapter, files=files)
    assert transactional_store(app) is transactional


def test_delayed_job_is_transactional_with_its_active_record_backend(tmp_path):
    from joblint.rails.transactions import transactional_store

    app = make_app(tmp_path, files={
        "Gemfile.lock": "GEM\n  specs:\n    delayed_job (4.1.13)\n    delayed_job_active_record (4.1.10)\n"})
    assert app.backend.adapter == "delayed_job" and transactional_store(app)
