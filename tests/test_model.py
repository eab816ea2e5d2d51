"""The project model: class index, constant lookup, classification, backend and versions."""

from __future__ import annotations

from pathlib import Path

from joblint.rails.app import App, find_root, underscore
from joblint.rails.config import Version, load_defaults, locked_gems, queue_adapter
from joblint.rails.jobs import JobKind

from .conftest import write_tree


def make_app(tmp_path: Path, files: dict[str, str]) -> App:
    write_tree(tmp_path, {"Gemfile": "", **files})
    return App(tmp_path)


def test_nested_and_compact_class_names_are_fully_qualified(tmp_path):
    app = make_app(
        tmp_path,
        {
            "app/jobs/a.rb": "module Billing\n  class Admin::SyncJob < BaseJob\n  end\nend\n",
            "app/jobs/b.rb": "module Billing\n  module Admin\n    class BaseJob < ApplicationJob; end\n  end\nend\n",
        },
    )
    assert "Billing::Admin::SyncJob" in app.classes
    assert app.classes.superclass("Billing::Admin::BaseJob") == "ApplicationJob"


def test_constant_lookup_prefers_the_innermost_namespace(tmp_path):
    app = make_app(
        tmp_path,
        {
            "app/jobs/base_job.rb": "class BaseJob < ApplicationJob; end\n",
            "app/jobs/reports/base_job.rb": "module Reports\n  class BaseJob; end\nend\n",
            "app/jobs/reports/daily_job.rb": "module Reports\n  class DailyJob < BaseJob; end\nend\n",
        },
    )
    assert app.classes.superclass("Reports::DailyJob") == "Reports::BaseJob"
    assert app.jobs.kind("Reports::DailyJob") is None  # Reports::BaseJob is not a job


def test_job_kind_through_project_ancestors_and_concerns(tmp_path):
    app = make_app(
        tmp_path,
        {
            "app/workers/concerns/worker.rb": "module Worker\n  include Sidekiq::Worker\nend\n",
            "app/workers/base.rb": "class BaseWorker\n  include Worker\nend\n",
            "app/workers/hard.rb": "class HardWorker < BaseWorker\n  def perform(id); end\nend\n",
            "app/jobs/application_job.rb": "class ApplicationJob < ActiveJob::Base; end\n",
            "app/jobs/mail_job.rb": "class MailJob < ApplicationJob; end\n",
            "app/models/user.rb": "class User < ApplicationRecord; end\n",
        },
    )
    assert app.jobs.kind("HardWorker") is JobKind.SIDEKIQ
    assert app.jobs.kind("MailJob") is JobKind.ACTIVE_JOB
    assert app.jobs.kind("ApplicationJob") is JobKind.ACTIVE_JOB
    assert app.jobs.kind("User") is None
    assert app.model_classes == {"User"}
    assert app.model_names == {"user": "User"}


def test_perform_signature_and_visibility(tmp_path):
    app = make_app(
        tmp_path,
        {
            "app/jobs/x_job.rb": (
                "class XJob < ApplicationJob\n"
                "  def perform(a, b = 1, *rest, k:, o: 2, **opts, &blk); end\n"
                "  private\n"
                "  def helper; raise; end\n"
                "end\n"
            )
        },
    )
    perform = app.classes.find_method("XJob", "perform")
    assert perform is not None and perform.visibility == "public"
    sig = perform.signature
    assert (sig.required, sig.optional, sig.splat, sig.double_splat) == (1, 1, True, True)
    assert sig.required_keywords == {"k"} and sig.optional_keywords == {"o"}
    helper = app.classes.find_method("XJob", "helper")
    assert helper is not None and helper.visibility == "private" and helper.reraises


def test_handlers_come_from_included_concerns(tmp_path):
    app = make_app(
        tmp_path,
        {
            "app/jobs/concerns/retrying.rb": (
                "module Retrying\n  extend ActiveSupport::Concern\n"
                "  included do\n    retry_on Timeout::Error, attempts: 3\n  end\nend\n"
            ),
            "app/jobs/x_job.rb": "class XJob < ApplicationJob\n  include Retrying\nend\n",
        },
    )
    [handler] = app.classes.handlers("XJob")
    assert handler.method == "retry_on" and handler.exceptions == ("Timeout::Error",)


def test_root_is_found_from_a_nested_file(tmp_path):
    write_tree(tmp_path, {"config/application.rb": "", "app/jobs/x_job.rb": ""})
    assert find_root(tmp_path / "app" / "jobs" / "x_job.rb") == tmp_path


def test_backend_from_production_config_wins_over_gems(tmp_path):
    app = make_app(
        tmp_path,
        {
            "Gemfile.lock": "GEM\n  specs:\n    rails (8.0.1)\n    sidekiq (7.3.0)\n    solid_queue (1.1.0)\n",
            "config/application.rb": "config.load_defaults 7.1\n",
            "config/environments/production.rb": (
                "  # config.active_job.queue_adapter = :resque\n"
                "  config.active_job.queue_adapter = :solid_queue\n"
            ),
        },
    )
    assert app.backend.adapter == "solid_queue"
    assert str(app.rails_version) == "8.0.1"
    assert str(app.load_defaults) == "7.1"


def test_single_backend_gem_is_the_adapter_when_none_is_configured(tmp_path):
    app = make_app(tmp_path, {"Gemfile.lock": "GEM\n  specs:\n    good_job (4.0.0)\n"})
    assert app.backend.adapter == "good_job"


def test_config_readers_ignore_comments_and_nested_dependencies():
    gems = locked_gems("GEM\n  specs:\n    rails (7.1.3)\n      activejob (= 7.1.3)\n")
    assert gems == {"rails": Version((7, 1, 3))}
    assert queue_adapter(["# config.active_job.queue_adapter = :sidekiq\n"]) is None
    assert queue_adapter(["config.active_job.queue_adapter = :test\n"]) is None
    assert load_defaults('  config.load_defaults "8.0"\n') == Version((8, 0))
    assert load_defaults("config.load_defaults Rails::VERSION::STRING.to_f\n") is None


def test_underscore_follows_active_support():
    assert underscore("LineItem") == "line_item"
    assert underscore("HTTPRequest") == "http_request"
    assert underscore("User") == "user"


def test_a_per_file_fact_given_by_the_extracting_process_is_not_built_again(tmp_path):
    """`file_facts` takes a file's value from `given_facts` (built by the process that
    extracted its definitions, from the same bytes) and builds the others'."""
    write_tree(tmp_path, {
        "Gemfile": "", "app/models/a.rb": "class A\nend\n", "app/models/b.rb": "class B\nend\n",
    })
    app = App(tmp_path)
    app.given_facts["app/models/a.rb"] = {"sizes": 999, "other": 1}
    built: list[str] = []

    def size(source):
        built.append(source.relpath)
        return len(source.data)

    sources = sorted(app.model_files, key=lambda s: s.relpath)
    assert app.file_facts("sizes", sources, size) == [999, len(b"class B\nend\n")]
    assert built == ["app/models/b.rb"]
    assert app.file_facts("lines", sources, lambda s: s.data.count(b"\n")) == [2, 2]
