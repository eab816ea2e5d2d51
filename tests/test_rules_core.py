"""Behaviour of the first six rules beyond their examples."""

from __future__ import annotations

import pytest

from .conftest import run_tree, write_tree

MODELS = {
    "app/models/user.rb": "class User < ApplicationRecord\nend\n",
    "app/models/line_item.rb": "class LineItem < ApplicationRecord\nend\n",
    "app/jobs/application_job.rb": "class ApplicationJob < ActiveJob::Base\n  retry_on Timeout::Error\nend\n",
    # jobs that do not handle DeserializationError, and records the app deletes: JL101's
    # ActiveJob warning applies
    "app/jobs/j.rb": (
        "class J < ApplicationJob\n  discard_on Timeout::Error\nend\n"
        "class RebuildJob < ApplicationJob\n  discard_on Timeout::Error\nend\n"),
    "app/controllers/cleanup_controller.rb": (
        "class CleanupController < ApplicationController\n  def destroy\n"
        "    User.find(params[:id]).destroy\n    @line_item.destroy!\n"
        "    Billing::Invoice.where(void: true).delete_all\n  end\nend\n"),
}


CORE = {"JL001", "JL101", "JL201", "JL202", "JL301", "JL401"}


def found(tmp_path, files, *extra):
    """Findings of the core rules only: other rules may legitimately fire on the same code."""
    write_tree(tmp_path, {**MODELS, **files})
    # JL101's ActiveJob case is opt-in; these tests are about what counts as a record
    report = run_tree(tmp_path, ("JL201", *extra), rule_options={"JL101": {"allow-global-id": False}})
    assert not report.crashes, report.crashes
    return [(f.code, f.path, f.line, f.message) for f in report.findings if f.code in CORE]


def test_record_argument_ignores_foreign_ids_and_attributes(tmp_path):
    result = found(tmp_path, {"app/services/s.rb": (
        "class S\n  def call(user, stripe_id, line_item_id)\n"
        "    J.perform_later(user.id, user_id, stripe_id, line_item_id, user.email, 'x', 3)\n"
        "  end\nend\n")})
    assert result == []


def test_record_argument_follows_ruby_31_hash_shorthand(tmp_path):
    result = found(tmp_path, {"app/services/s.rb": (
        "class S\n  def call(user)\n    J.perform_later(user:, id: 1)\n  end\nend\n")})
    assert [(c, line) for c, _, line, _ in result] == [("JL101", 3)]
    assert result[0][3].startswith("`user` is an Active Record object")


def test_record_argument_knows_multiword_and_namespaced_models(tmp_path):
    result = found(tmp_path, {
        "app/models/billing/invoice.rb": "module Billing\n  class Invoice < ApplicationRecord\n  end\nend\n",
        "app/services/s.rb": (
            "module Billing\n  class S\n    def call(line_item)\n"
            "      J.perform_later(line_item)\n      J.perform_later(Invoice.last)\n"
            "      J.perform_later(Invoice.where(x: 1).pluck(:id))\n    end\n  end\nend\n"),
    })
    assert [(c, line) for c, _, line, _ in result] == [("JL101", 4), ("JL101", 5)]


def test_record_argument_trusts_a_non_record_assignment_over_the_name(tmp_path):
    result = found(tmp_path, {"app/services/s.rb": (
        "class S\n  def call\n    user = current_user.id\n    J.perform_later(user)\n"
        "    other = current_user\n    J.perform_later(other)\n  end\nend\n")})
    assert [(c, line) for c, _, line, _ in result] == [("JL101", 6)]


def test_record_argument_schedule_of_perform_in_is_not_an_argument(tmp_path):
    result = found(tmp_path, {"app/services/s.rb": (
        "class S\n  def call(user)\n    W.perform_in(user, 1)\n    W.perform_at(1.hour, user)\n"
        "  end\nend\n")})
    assert [(c, line) for c, _, line, _ in result] == [("JL101", 4)]


def test_record_argument_request_params_are_data_whatever_the_name(tmp_path):
    result = found(tmp_path, {"app/controllers/hooks_controller.rb": (
        "class HooksController < ApplicationController\n  def create\n"
        "    user = params.require(:user)\n    line_item = params.fetch(:item, {}).permit(:sku)\n"
        "    SyncWorker.perform_async(user, line_item)\n"
        "    SyncWorker.perform_async(current_user)\n  end\nend\n")})
    assert [(c, line) for c, _, line, _ in result] == [("JL101", 6)]


CHANNEL = {"app/models/channel.rb": "class Channel < ApplicationRecord\nend\n"}


def test_record_argument_trusts_a_plain_data_default_over_the_name(tmp_path):
    result = found(tmp_path, {**CHANNEL, "app/services/fanout.rb": (
        "class Fanout\n  DEFAULT_CHANNEL = \"email\".freeze\n  attr_reader :channel\n"
        "  def initialize(scope, channel: DEFAULT_CHANNEL)\n    @scope = scope\n"
        "    @channel = channel\n  end\n"
        "  def call\n    SendWorker.perform_async(channel)\n    SendWorker.perform_async(@channel)\n"
        "  end\n"
        "  def again(channel = \"sms\")\n    SendWorker.perform_async(channel)\n  end\nend\n")})
    assert result == []


def test_record_argument_still_reports_an_attribute_assigned_a_record(tmp_path):
    result = found(tmp_path, {**CHANNEL, "app/services/fanout.rb": (
        "class Fanout\n  attr_reader :channel\n"
        "  def initialize(channel)\n    @channel = channel\n  end\n"
        "  def call\n    SendWorker.perform_async(channel)\n    SendWorker.perform_async(@channel)\n"
        "  end\nend\n")})
    assert [(c, line) for c, _, line, _ in result] == [("JL101", 7), ("JL101", 8)]


def test_record_argument_self_in_a_class_method_is_the_class(tmp_path):
    result = found(tmp_path, {"app/models/user.rb": (
        "class User < ApplicationRecord\n"
        "  def self.rebuild_all\n    RebuildJob.perform_later(self)\n  end\n"
        "  class << self\n    def purge\n      PurgeJob.perform_later(self)\n    end\n  end\n"
        "  def rebuild\n    RebuildJob.perform_later(self)\n  end\nend\n")})
    assert [(c, line) for c, _, line, _ in result] == [("JL101", 11)]


FINAL_LOCK = {"Gemfile.lock": "GEM\n  specs:\n    solid_queue (1.1.0)\n"}  # failure is final


def test_missing_retry_policy_reports_a_reopened_class_once(tmp_path):
    result = found(tmp_path, {
        **FINAL_LOCK,
        "app/jobs/sync_job.rb": "class SyncJob < ApplicationJob\n  def perform; end\nend\n",
        "lib/ext/sync_job.rb": "class SyncJob\n  def extra; end\nend\n",
    })
    # ApplicationJob here has a policy, so nothing; without it, one finding at the superclass clause
    assert result == []
    write_tree(tmp_path, {"app/jobs/application_job.rb": "class ApplicationJob < ActiveJob::Base\nend\n"})
    result = [(c, p, line) for c, p, line, _ in run_tree_findings(tmp_path)]
    assert result == [("JL201", "app/jobs/sync_job.rb", 1)]


def run_tree_findings(tmp_path):
    report = run_tree(tmp_path, ("JL201",))
    return [(f.code, f.path, f.line, f.message) for f in report.findings if f.code in CORE]


def test_missing_retry_policy_message_names_the_backend(tmp_path):
    write_tree(tmp_path, {
        "Gemfile.lock": "GEM\n  specs:\n    good_job (4.1.0)\n",
        "app/jobs/x_job.rb": "class XJob < ActiveJob::Base\n  def perform; end\nend\n",
    })
    [finding] = [f for f in run_tree(tmp_path, ("JL201",)).findings if f.code == "JL201"]
    assert finding.message.endswith(
        "on GoodJob (without `retry_on_unhandled_error`) a failed job is not retried")


def test_missing_retry_policy_is_silent_where_good_job_retries_unhandled_errors(tmp_path):
    write_tree(tmp_path, {
        "Gemfile.lock": "GEM\n  specs:\n    good_job (4.1.0)\n",
        "config/initializers/good_job.rb": (
            "Rails.application.configure do\n"
            "  config.good_job.retry_on_unhandled_error = true\nend\n"),
        "app/jobs/x_job.rb": "class XJob < ActiveJob::Base\n  def perform; end\nend\n",
    })
    assert [f for f in run_tree(tmp_path, ("JL201",)).findings if f.code == "JL201"] == []


@pytest.mark.parametrize(
    "setting, reported",
    [("", False), (":max_retries: 0\n", True), (":max_retries: 3\n", False)],
)
def test_missing_retry_policy_on_sidekiq_follows_max_retries(tmp_path, setting, reported):
    write_tree(tmp_path, {
        **SIDEKIQ_LOCK,
        "config/sidekiq.yml": f":concurrency: 5\n{setting}",
        "app/jobs/x_job.rb": "class XJob < ActiveJob::Base\n  def perform; end\nend\n",
    })
    findings = [f for f in run_tree(tmp_path, ("JL201",)).findings if f.code == "JL201"]
    assert bool(findings) is reported
    if reported:
        assert "`:max_retries: 0` in config/sidekiq.yml" in findings[0].message


def test_missing_retry_policy_is_silent_where_resque_failures_are_requeued(tmp_path):
    tree = {
        "Gemfile.lock": "GEM\n  specs:\n    resque (2.6.0)\n",
        "app/jobs/x_job.rb": "class XJob < ActiveJob::Base\n  def perform; end\nend\n",
    }
    write_tree(tmp_path, tree)
    assert [f.code for f in run_tree(tmp_path, ("JL201",)).findings if f.code == "JL201"] == ["JL201"]
    write_tree(tmp_path, {"lib/tasks/failures.rake": (
        "task :retry_failures do\n  Resque::Failure.requeue_all\nend\n")})
    assert [f for f in run_tree(tmp_path, ("JL201",)).findings if f.code == "JL201"] == []


def test_missing_retry_policy_skips_a_job_scheduled_through_an_adapter_wrapper(tmp_path):
    write_tree(tmp_path, {
        "Gemfile.lock": "GEM\n  specs:\n    resque (2.6.0)\n",
        "config/resque_schedule.yml": (
            "spawn:\n  every: 2m\n  class: ActiveJob::QueueAdapters::ResqueAdapter::JobWrapper\n"
            "  args:\n    job_class: SpawnerJob\n"),
        "app/jobs/spawner_job.rb": "class SpawnerJob < ActiveJob::Base\n  def perform; end\nend\n",
    })
    assert [f for f in run_tree(tmp_path, ("JL201",)).findings if f.code == "JL201"] == []


def test_missing_retry_policy_ignores_jobs_defined_in_tests(tmp_path):
    write_tree(tmp_path, {
        **FINAL_LOCK,
        "test/jobs/flaky_probe_test.rb": (
            "class FlakyProbeTest < ActiveSupport::TestCase\n"
            "  class BoomJob < ActiveJob::Base\n    def perform = raise(\"boom\")\n  end\nend\n"),
        "engines/billing/spec/jobs/noop_job_spec.rb": (
            "class NoopJob < ActiveJob::Base\n  def perform; end\nend\n"),
        "app/jobs/probe_job.rb": "class ProbeJob < ActiveJob::Base\n  def perform; end\nend\n",
    })
    result = [(c, p, line) for c, p, line, _ in run_tree_findings(tmp_path) if c == "JL201"]
    assert result == [("JL201", "app/jobs/probe_job.rb", 1)]


SIDEKIQ_LOCK = {"Gemfile.lock": "GEM\n  specs:\n    sidekiq (7.2.0)\n"}
SIDEKIQ_OPTION_JOBS = {
    "app/jobs/base_import_job.rb": (
        "class BaseImportJob < ActiveJob::Base\n  sidekiq_options retry: 3\nend\n"),
    "app/jobs/csv_import_job.rb": "class CsvImportJob < BaseImportJob\n  def perform; end\nend\n",
    "app/jobs/purge_job.rb": (
        "class PurgeJob < ActiveJob::Base\n  sidekiq_options retry: false\n  def perform; end\nend\n"),
    "app/jobs/plain_job.rb": "class PlainJob < ActiveJob::Base\n  def perform; end\nend\n",
}


def test_missing_retry_policy_on_sidekiq_is_silent_for_retries_on_or_chosen_by_the_job(tmp_path):
    write_tree(tmp_path, {**SIDEKIQ_LOCK, **SIDEKIQ_OPTION_JOBS})
    result = [(c, p) for c, p, _, _ in run_tree_findings(tmp_path) if c == "JL201"]
    assert result == []  # PurgeJob chose `retry: false` itself: deliberate


def test_missing_retry_policy_sidekiq_option_means_nothing_on_another_adapter(tmp_path):
    write_tree(tmp_path, {
        "Gemfile.lock": "GEM\n  specs:\n    solid_queue (1.1.0)\n", **SIDEKIQ_OPTION_JOBS})
    result = sorted(p for c, p, _, _ in run_tree_findings(tmp_path) if c == "JL201")
    assert result == [
        "app/jobs/csv_import_job.rb", "app/jobs/plain_job.rb", "app/jobs/purge_job.rb"]


def test_missing_retry_policy_ignores_jobs_of_a_sidekiq_application_job(tmp_path):
    write_tree(tmp_path, {
        **SIDEKIQ_LOCK,
        "app/jobs/application_job.rb": "class ApplicationJob\n  include Sidekiq::Job\nend\n",
        "app/jobs/digest_job.rb": "class DigestJob < ApplicationJob\n  def perform(id); end\nend\n",
    })
    assert [f for f in run_tree_findings(tmp_path) if f[0] == "JL201"] == []


def test_rescue_from_handler_calling_a_reraising_method_is_fine(tmp_path):
    result = found(tmp_path, {"app/jobs/x_job.rb": (
        "class XJob < ApplicationJob\n"
        "  rescue_from(Net::ReadTimeout) { |e| handle(e) }\n"
        "  rescue_from(Net::OpenTimeout) { |e| log(e) }\n"
        "  def perform; end\n"
        "  private\n"
        "  def handle(e)\n    raise e if executions < 3\n  end\n"
        "  def log(e)\n    Rails.logger.warn(e)\n  end\nend\n")})
    assert [(c, line) for c, _, line, _ in result] == [("JL202", 3)]


def test_non_idempotent_update_guard_must_mention_the_same_record(tmp_path):
    result = found(tmp_path, {"app/jobs/x_job.rb": (
        "class XJob < ApplicationJob\n  def perform(order, account)\n"
        "    return if account.closed?\n    order.increment!(:n)\n"
        "    return if order.counted?\n    order.increment!(:m)\n  end\nend\n")})
    assert [(c, line) for c, _, line, _ in result] == [("JL301", 4)]


def test_non_idempotent_update_only_in_jobs(tmp_path):
    result = found(tmp_path, {"app/services/counter.rb": (
        "class Counter\n  def call(order)\n    order.increment!(:n)\n  end\nend\n")})
    assert result == []


def test_deliver_now_needs_a_mailer_message(tmp_path):
    result = found(tmp_path, {
        "Gemfile.lock": "GEM\n  specs:\n    sidekiq (7.3.0)\n",
        "app/mailers/notifier.rb": "class Notifier < ApplicationMailer\n  def ping; end\nend\n",
        "app/controllers/c_controller.rb": (
            "class CController < ApplicationController\n  def a\n"
            "    Notifier.ping.deliver_now\n    Webhook.new.deliver\n"
            "    msg = Notifier.ping\n    msg.deliver!\n  end\nend\n"),
    })
    assert [(c, line) for c, _, line, _ in result] == [("JL401", 3), ("JL401", 6)]


def test_missing_retry_policy_ignores_a_gem_job_patched_in_an_initializer(tmp_path):
    result = found(tmp_path, {
        **FINAL_LOCK,
        "app/jobs/application_job.rb": "class ApplicationJob < ActiveJob::Base\nend\n",
        "config/initializers/attachments.rb": (
            "module Attachments\n  class ProcessJob < ActiveJob::Base\n"
            "    def perform(id); end\n  end\nend\n"),
        "app/jobs/own_job.rb": "class OwnJob < ApplicationJob\n  def perform; end\nend\n",
    })
    assert [(c, p) for c, p, _, _ in result if c == "JL201"] == [("JL201", "app/jobs/own_job.rb")]
