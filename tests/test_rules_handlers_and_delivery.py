"""JL202 and JL401 choices made after reading real apps: explicit no-op handlers and
deliberate synchronous sends are not reported."""

from __future__ import annotations

import pytest

from .conftest import run_tree, write_tree


def codes_at(tmp_path, files, code):
    write_tree(tmp_path, files)
    return [f.line for f in run_tree(tmp_path).findings if f.code == code]


def test_rescue_from_with_an_empty_or_literal_handler_is_explicit_intent(tmp_path):
    lines = codes_at(tmp_path, {"app/mailers/m.rb": (
        "class M < ActionMailer::Base\n"
        "  rescue_from(A) {}\n"
        "  rescue_from(B) { nil }\n"
        "  rescue_from C, with: -> {}\n"
        "  rescue_from(D) { |e| Rails.logger.info(e) }\n"
        "  rescue_from E, with: ->(e) { Rails.logger.info(e) }\n"
        "end\n")}, "JL202")
    assert lines == [5, 6]


SIDEKIQ_LOCK = {"Gemfile.lock": "GEM\n  specs:\n    sidekiq (7.3.0)\n"}  # a backend to defer to


def test_deliver_now_whose_result_is_used_or_rescued_is_deliberate(tmp_path):
    lines = codes_at(tmp_path, {**SIDEKIQ_LOCK, "app/controllers/c_controller.rb": (
        "class CController < ApplicationController\n"
        "  def a\n"
        "    ok = TestMailer.ping(1).deliver_now\n"
        "    TestMailer.ping(2).deliver_now unless ok\n"
        "    TestMailer.ping(3).deliver_now rescue nil\n"
        "    begin\n      TestMailer.ping(4).deliver_now\n    rescue Net::SMTPError\n    end\n"
        "  end\n"
        "  def b\n"
        "    TestMailer.ping(5).deliver_now\n"
        "  rescue StandardError\n"
        "    head :bad_gateway\n"
        "  end\n"
        "end\n")}, "JL401")
    assert lines == [4]


def test_shadowed_handler_is_reported_once_even_when_shadowed_twice(tmp_path):
    files = {
        "app/jobs/application_job.rb": (
            "class ApplicationJob < ActiveJob::Base\n  retry_on Timeout::Error\nend\n"),
        "app/jobs/sync_job.rb": (
            "class SyncJob < ApplicationJob\n"
            "  retry_on StandardError\n"  # shadows the parent's handler, and is shadowed below
            "  discard_on Exception\n"
            "end\n"),
    }
    assert codes_at(tmp_path, files, "JL205") == [2, 3]  # line 2 once, not twice


@pytest.mark.parametrize(
    "lock, config, reported",
    [
        ("", "", False),  # no backend at all
        ("    rails (7.2.1)\n", "", False),
        ("    sidekiq (7.3.0)\n", "", True),
        ("    sidekiq (7.3.0)\n", "config.active_job.queue_adapter = :async\n", False),
        ("", "config.active_job.queue_adapter = :solid_queue\n", True),
    ],
)
def test_deliver_now_is_reported_only_where_a_backend_can_deliver_later(tmp_path, lock, config, reported):
    files = {
        "Gemfile.lock": f"GEM\n  specs:\n{lock}",
        "config/application.rb": f"module Shop\n  class Application < Rails::Application\n    {config}  end\nend\n",
        "app/controllers/c_controller.rb": (
            "class CController < ApplicationController\n  def a\n"
            "    TestMailer.ping(1).deliver_now\n  end\nend\n"),
    }
    assert bool(codes_at(tmp_path, files, "JL401")) is reported
