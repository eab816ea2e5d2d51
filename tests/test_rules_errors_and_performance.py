"""Behaviour of the error-handling, loop, performance and backend rules (JL203–JL207,
JL501–JL507, JL604) beyond their catalogue examples, and of their shared helpers."""

from __future__ import annotations

import pytest

from joblint import ruby
from joblint.findings import Severity
from joblint.rules import _loops

from .conftest import diff_writing_nothing, fixed_twice, run_tree, write_tree

APPLICATION_JOB = "class ApplicationJob < ActiveJob::Base\n  discard_on ActiveJob::DeserializationError\nend\n"


def findings(tmp_path, files, code, **options):
    """(path, line, message) of one rule's findings on a mini tree."""
    write_tree(tmp_path, {"app/jobs/application_job.rb": APPLICATION_JOB, **files})
    report = run_tree(tmp_path, (code,), **options)
    assert not report.crashes
    return [(f.path, f.line, f.message) for f in report.findings if f.code == code]


def job(body: str, name: str = "WorkJob") -> str:
    """A job class whose body is `body` (already indented by two spaces per level)."""
    return f"class {name} < ApplicationJob\n{body}end\n"


# -- JL203 -----------------------------------------------------------------------------------


def test_silent_rescue_reports_a_fallback_value_that_rescues_the_whole_perform(tmp_path):
    files = {"app/jobs/work_job.rb": job("  def perform\n    work!\n  rescue\n    nil\n  end\n")}
    assert [line for _, line, _ in findings(tmp_path, files, "JL203")] == [4]


def test_silent_rescue_points_at_the_clause_header_and_names_it(tmp_path):
    files = {
        "app/jobs/work_job.rb": job(
            "  def perform\n    work!\n  rescue StandardError => error\n    logger.warn(error)\n  end\n"
        )
    }
    ((_, line, message),) = findings(tmp_path, files, "JL203")
    assert line == 4 and message.startswith("`rescue StandardError => error` hides the failure")


@pytest.mark.parametrize(
    "handler, reported",
    [
        ("Rails.logger.error(e.message)", True),
        ("logger.warn(\"failed: #{e.message}\")\n    nil", True),
        ("puts e", True),
        ("", True),
        ("return :failed", True),
        ("Honeybadger.notify(e)", False),
        ("ExceptionReporter.call(e, 'work failed')", False),
        ("handle_failure(e)", False),
        ("update!(state: :failed, error: e.message)", False),
        ("FallbackJob.perform_later(id)", False),
    ],
)
def test_silent_rescue_reports_only_bodies_that_log_or_return_a_literal(tmp_path, handler, reported):
    files = {"app/jobs/work_job.rb": job(f"  def perform(id)\n    work!\n  rescue => e\n    {handler}\n  end\n")}
    assert bool(findings(tmp_path, files, "JL203")) is reported


def test_silent_rescue_leaves_helpers_to_perform(tmp_path):
    files = {
        "app/jobs/work_job.rb": job(
            "  def perform\n    fetch || Rails.logger.info('nothing')\n  end\n\n"
            "  private\n\n  def fetch\n    remote!\n  rescue => e\n    Rails.logger.warn(e)\n    nil\n  end\n"
        )
    }
    assert findings(tmp_path, files, "JL203") == []


def test_silent_rescue_follows_a_helper_that_reports_but_not_one_that_does_not(tmp_path):
    files = {
        "app/jobs/work_job.rb": job(
            "  def perform\n    work!\n  rescue => e\n    notify_team(e)\n  end\n\n"
            "  private\n\n  def notify_team(e) = Bugsnag.notify(e)\n"
        )
    }
    assert findings(tmp_path, files, "JL203") == []


def test_silent_rescue_ignores_helper_classes_in_app_jobs_but_not_unknown_jobs(tmp_path):
    files = {
        "app/jobs/parser.rb": "class Parser\n  def call\n    parse!\n  rescue => e\n    log(e.message)\n  end\nend\n",
        "app/jobs/legacy_job.rb": "class LegacyJob < Legacy::Base\n  def perform\n    run!\n"
        "  rescue => e\n    log(e.message)\n  end\nend\n",
    }
    assert [(p, line) for p, line, _ in findings(tmp_path, files, "JL203")] == [
        ("app/jobs/legacy_job.rb", 4)
    ]


# -- JL204 -----------------------------------------------------------------------------------


def test_rescue_of_standard_error_and_exception_is_reported_once_by_jl204(tmp_path):
    files = {"app/jobs/work_job.rb": job("  def perform\n    x\n  rescue StandardError, Exception\n  end\n")}
    write_tree(tmp_path, {"app/jobs/application_job.rb": APPLICATION_JOB, **files})
    report = run_tree(tmp_path, ("JL203", "JL204"))
    assert [(f.code, f.line) for f in report.findings] == [("JL204", 4)]


def test_rescue_exception_is_an_error_only_in_jobs(tmp_path):
    files = {
        "app/jobs/work_job.rb": job("  after_perform do\n    begin\n      x\n    rescue Exception\n"
                                    "      nil\n    end\n  end\n"),
        "lib/tool.rb": "class Tool\n  def run\n    x\n  rescue Exception\n    nil\n  end\nend\n",
    }
    write_tree(tmp_path, {"app/jobs/application_job.rb": APPLICATION_JOB, **files})
    report = run_tree(tmp_path, ("JL204",))
    assert [(f.path, f.line, f.severity) for f in report.findings if f.code == "JL204"] == [
        ("app/jobs/work_job.rb", 5, Severity.ERROR)
    ]


# -- JL206 -----------------------------------------------------------------------------------


@pytest.fixture
def backoff_app(tmp_path, monkeypatch):
    write_tree(
        tmp_path,
        {
            "Gemfile": "source 'https://rubygems.org'\n",
            "app/jobs/application_job.rb": APPLICATION_JOB,
            "app/jobs/sync_job.rb": "class SyncJob < ApplicationJob\n"
            "  retry_on Net::ReadTimeout, wait: :exponentially_longer # keep\n"
            "  retry_on(Timeout::Error, attempts: 3,\n           wait: :exponentially_longer)\n"
            "  def perform; end\nend\n",
        },
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path / "app/jobs/sync_job.rb"


def test_removed_backoff_diff_shows_the_fix_and_writes_nothing(backoff_app):
    diff = diff_writing_nothing(backoff_app, "JL206")
    assert "-  retry_on Net::ReadTimeout, wait: :exponentially_longer # keep\n" in diff
    assert "+  retry_on Net::ReadTimeout, wait: :polynomially_longer # keep\n" in diff
    assert "+           wait: :polynomially_longer)\n" in diff


def test_removed_backoff_fix_is_idempotent(backoff_app):
    assert fixed_twice(backoff_app, "JL206") == (
        "class SyncJob < ApplicationJob\n"
        "  retry_on Net::ReadTimeout, wait: :polynomially_longer # keep\n"
        "  retry_on(Timeout::Error, attempts: 3,\n           wait: :polynomially_longer)\n"
        "  def perform; end\nend\n"
    )


def test_removed_backoff_points_at_the_retry_on_call(tmp_path):
    files = {
        "app/jobs/work_job.rb": job("  retry_on Net::ReadTimeout,\n    attempts: 3,\n"
                                    "    wait: :exponentially_longer\n  def perform; end\n")
    }
    assert [line for _, line, _ in findings(tmp_path, files, "JL206")] == [2]


def test_removed_backoff_finding_spans_the_call_not_its_block(tmp_path):
    files = {
        "app/jobs/work_job.rb": job("  retry_on(Net::ReadTimeout, wait: :exponentially_longer) do |job, error|\n"
                                    "    job.logger.warn(error)\n  end\n  def perform; end\n")
    }
    write_tree(tmp_path, {"app/jobs/application_job.rb": APPLICATION_JOB, **files})
    report = run_tree(tmp_path, ("JL206",))
    ((finding,),) = [[f for f in report.findings if f.code == "JL206"]]
    assert (finding.line, finding.end_line, finding.fixable) == (2, 2, True)


# -- JL207 -----------------------------------------------------------------------------------


def test_unlimited_retry_names_both_reasons_in_one_finding(tmp_path):
    files = {"app/jobs/work_job.rb": job("  retry_on Exception, attempts: :unlimited\n  def perform; end\n")}
    ((_, line, message),) = findings(tmp_path, files, "JL207")
    assert line == 2
    assert "retry_on Exception" in message and "attempts: :unlimited" in message


# -- JL501 -----------------------------------------------------------------------------------


BULK_APP = {
    "Gemfile.lock": "GEM\n  specs:\n    rails (8.1.0)\n    solid_queue (1.2.0)\n",
    "app/models/user.rb": "class User < ApplicationRecord\nend\n",
    "app/models/account.rb": "class Account < ApplicationRecord\nend\n",
}


def test_enqueue_in_loop_reports_the_innermost_enqueue_once_and_ignores_the_receiver(tmp_path):
    files = {
        **BULK_APP,
        "app/services/fan_out.rb": "class FanOut\n  def call\n"
        "    [Job.perform_later(1)].each { |x| x }\n"
        "    Account.find_each do |account|\n      User.where(active: true).each do |user|\n"
        "        UserMailer.hello(user).deliver_later\n      end\n    end\n  end\nend\n",
    }
    found = findings(tmp_path, files, "JL501")
    assert [line for _, line, _ in found] == [6]
    assert "`deliver_later` inside `each` over `User`" in found[0][2]
    assert "deliver_all_later` (Rails 8.1.0)" in found[0][2]


def test_enqueue_in_loop_stops_at_method_definitions_and_ignores_literals(tmp_path):
    files = {
        **BULK_APP,
        "app/services/fan_out.rb": "class FanOut\n  KINDS = %w[a b c d].freeze\n"
        "  def call\n    (1..300).each { |n| Job.perform_later(n) }\n"
        "    KINDS.each { |k| Job.perform_later(k) }\n"
        "    User.find_each do |user|\n      def user.later = Job.perform_later(1)\n    end\n"
        "    users = User.all\n    users.each { |u| Job.perform_later(u.id) }\n  end\nend\n",
    }
    assert [line for _, line, _ in findings(tmp_path, files, "JL501")] == [10]


def test_enqueue_in_loop_reports_only_whole_tables_as_warnings(tmp_path):
    files = {
        **BULK_APP,
        "app/services/fan_out.rb": "class FanOut\n  def call(users)\n"
        "    users.each { |u| Job.perform_later(u.id) }\n"
        "    User.find_each { |u| Job.perform_later(u.id) }\n  end\nend\n",
    }
    write_tree(tmp_path, files)
    report = run_tree(tmp_path, ("JL501",))
    assert [(f.line, f.severity) for f in report.findings if f.code == "JL501"] == [
        (4, Severity.WARNING),
    ]


@pytest.mark.parametrize(
    "lock, reported",
    [
        ("rails (7.0.8)\n    sidekiq (7.3.0)\n", False),  # no perform_all_later before 7.1
        ("rails (7.1.3)\n    sidekiq (7.3.0)\n", True),
        ("rails (7.1.3)\n    resque (2.6.0)\n", False),  # Resque enqueues one by one anyway
        ("sidekiq (7.3.0)\n", False),  # Rails version unknown
    ],
)
def test_enqueue_in_loop_suggests_only_what_the_app_has(tmp_path, lock, reported):
    files = {
        **BULK_APP,
        "Gemfile.lock": f"GEM\n  specs:\n    {lock}",
        "app/services/fan_out.rb": "class FanOut\n  def call\n"
        "    User.find_each { |u| Job.perform_later(u.id) }\n  end\nend\n",
    }
    assert bool(findings(tmp_path, files, "JL501")) is reported


# -- JL502 -----------------------------------------------------------------------------------


MODELS = {
    "app/models/application_record.rb": "class ApplicationRecord < ActiveRecord::Base\n"
    "  primary_abstract_class\n  scope :recent, -> { order(created_at: :desc) }\nend\n",
    "app/models/user.rb": "class User < ApplicationRecord\n  scope :active, -> { where(active: true) }\nend\n",
}


def test_unbatched_iteration_follows_declared_scopes_of_the_model_and_its_ancestors(tmp_path):
    files = {
        **MODELS,
        "app/jobs/work_job.rb": job(
            "  def perform(ids)\n    User.active.recent.each { |u| u.touch }\n"
            "    User.unknown_class_method.each { |u| u.touch }\n"
            "    User.where(id: ids).active.each { |u| u.touch }\n"
            "    User.active.select(:id).map(&:id)\n"
            "    User.where(a: 1).select(&:admin?)\n"
            "    User.where(a: 1).select(&:admin?).each { |u| u.touch }\n  end\n"
        ),
    }
    found = findings(tmp_path, files, "JL502")
    assert [line for _, line, _ in found] == [3, 6, 7, 8]  # 8: the `select`, not the `each`
    assert found[0][2] == "`each` on a `User` relation loads every row at once in a job"


def test_unbatched_iteration_is_silent_outside_jobs_and_on_select_without_block(tmp_path):
    files = {
        **MODELS,
        "app/controllers/users_controller.rb": "class UsersController\n  def index\n"
        "    User.all.each { |u| u.touch }\n  end\nend\n",
        "app/jobs/work_job.rb": job("  def perform\n    User.where(a: 1).select(:id)\n  end\n"),
    }
    assert findings(tmp_path, files, "JL502") == []


# -- JL503 -----------------------------------------------------------------------------------


def test_whole_file_load_reads_only_whole_file_calls_in_jobs(tmp_path):
    files = {
        **MODELS,
        "app/jobs/work_job.rb": job(
            "  def perform(path, text)\n    CSV.table(path)\n    CSV.parse(text)\n"
            "    CSV.parse(IO.read(path))\n    User.active.to_a\n    User.all.to_a\n"
            "    User.all.limit(5).to_a\n  end\n"
        ),
    }
    found = findings(tmp_path, files, "JL503")
    assert [line for _, line, _ in found] == [3, 5, 7]
    assert found[2][2].startswith("`User.all.to_a` loads all of it into memory")


# -- JL504 / JL507 ---------------------------------------------------------------------------


def test_sleep_in_job_ignores_a_sleep_method_definition_and_other_receivers(tmp_path):
    files = {
        "app/jobs/work_job.rb": job(
            "  def perform\n    clock.sleep(1)\n    sleep(2)\n  end\n\n  def sleep(n) = nil\n"
        )
    }
    assert [line for _, line, _ in findings(tmp_path, files, "JL504")] == [4]


def test_thread_in_job_points_at_the_call_not_its_block(tmp_path):
    files = {
        "app/jobs/work_job.rb": job(
            "  def perform\n    Thread.new do\n      work\n    end\n    Thread.current\n  end\n"
        )
    }
    write_tree(tmp_path, {"app/jobs/application_job.rb": APPLICATION_JOB, **files})
    report = run_tree(tmp_path, ("JL507",))
    ((finding,),) = [[f for f in report.findings if f.code == "JL507"]]
    assert (finding.line, finding.end_line) == (3, 3)


# -- JL505 -----------------------------------------------------------------------------------


def test_missing_http_timeout_trusts_options_it_cannot_read(tmp_path):
    files = {
        "app/jobs/work_job.rb": job(
            "  def perform(url, opts)\n    Faraday.new(url, opts)\n    Faraday.new(url: url, request: opts)\n"
            "    HTTParty.get(url, opts)\n    HTTParty.get(url, headers: {})\n"
            "    Net::HTTP.get_response(URI(url))\n  end\n"
        )
    }
    found = findings(tmp_path, files, "JL505")
    assert [line for _, line, _ in found] == [6, 7]
    assert "`Net::HTTP.get_response` in a job has no timeout" in found[1][2]


# -- JL604 -----------------------------------------------------------------------------------


def test_concurrency_limit_below_one_is_an_error_at_the_limit(tmp_path):
    files = {
        "app/jobs/work_job.rb": job(
            "  limits_concurrency key: ->(id) { id },\n    to: 0\n"
            "  limits_concurrency key: nil, to: 1\n  def perform(id); end\n"
        )
    }
    write_tree(tmp_path, {"app/jobs/application_job.rb": APPLICATION_JOB, **files})
    report = run_tree(tmp_path, ("JL604",))
    assert [(f.line, f.column, f.severity) for f in report.findings if f.code == "JL604"] == [
        (3, 9, Severity.ERROR),
        (4, 3, Severity.WARNING),
    ]


# -- helpers ---------------------------------------------------------------------------------


def _expression(code: str) -> ruby.Node:
    return ruby.parse(code.encode()).root_node.named_children[-1]


@pytest.mark.parametrize(
    "code, small",
    [
        ("[1, 2, 3]", True),
        ("[a, b, c, d]", False),
        ("[*list]", False),
        ("%i[a b]", True),
        ("(1..3)", True),
        ("(1...5)", False),
        ("3", True),
        ("4", False),
        ("{a: 1}.freeze", True),
        ("[a, b].compact.uniq", True),
        ("[a, b, c, d].compact", False),
        ("K = [1, 2]\nK", True),
        ("users", False),
    ],
)
def test_is_small_literal(code, small):
    assert _loops.is_small_literal(_expression(code)) is small


@pytest.mark.parametrize(
    "code, path",
    [
        ("Rails.error.report(e)", "Rails.error.report"),
        ("::NewRelic::Agent.notice_error(e)", "NewRelic::Agent.notice_error"),
        ("logger.error(e)", None),
    ],
)
def test_call_path(code, path):
    assert _loops.call_path(_expression(code)) == path


def test_path_matches_prefixes_on_name_boundaries():
    assert _loops.path_matches("Sentry.capture_exception", ["Sentry"])
    assert _loops.path_matches("Sentry::Hub.capture", ["Sentry"])
    assert not _loops.path_matches("SentryLike.capture", ["Sentry"])
    assert _loops.path_matches("Rails.error.report", ["Rails.error.report"])
    assert not _loops.path_matches("Rails.error.handle", ["Rails.error.report"])
