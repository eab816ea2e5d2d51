"""Argument, request-path and convention rules (JL102–JL105, JL402, JL406, JL701–JL703):
behaviour the catalogue examples do not show, and the JL701 safe fix through the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from joblint import rules

from .conftest import diff_writing_nothing, fixed_twice, run_tree, write_tree

WORKER = "class SyncWorker\n  include Sidekiq::Job\n\n  def perform(*args); end\nend\n"


def findings(tmp_path: Path, files: dict[str, str], code: str, **options) -> list[tuple[str, int, str]]:
    write_tree(tmp_path, files)
    report = run_tree(tmp_path, (code,), **options)
    assert not report.crashes
    return [(f.path, f.line, f.message) for f in report.findings if f.code == code]


def lines(found: list[tuple[str, int, str]]) -> list[int]:
    return [line for _, line, _ in found]


def service(body: str) -> dict[str, str]:
    """A service object whose `call` holds `body` (one statement per line, from line 3)."""
    indented = "".join(f"    {line}\n" for line in body.strip("\n").splitlines())
    return {
        "app/workers/sync_worker.rb": WORKER,
        "app/services/sync.rb": f"class Sync\n  def call(record)\n{indented}  end\nend\n",
    }


# -- _arguments helpers ----------------------------------------------------------------------


def test_every_rule_of_this_family_is_registered_with_its_metadata():
    codes = {"JL102", "JL103", "JL104", "JL105", "JL402", "JL406", "JL701", "JL702", "JL703"}
    registered = {r.code: r for r in rules.all_rules()}
    assert codes <= set(registered)
    assert registered["JL104"].cwe == 312 and "security" in registered["JL104"].tags
    assert registered["JL406"].cwe == 93 and registered["JL406"].scope == "project"
    assert registered["JL703"].cwe == 470 and "security" in registered["JL703"].tags
    assert registered["JL701"].fixable and not registered["JL702"].fixable


# -- JL102 -----------------------------------------------------------------------------------


def test_non_json_argument_follows_a_local_variable_and_names_the_kind(tmp_path):
    found = findings(
        tmp_path,
        service("mode = :full\nSyncWorker.perform_async(record.id, mode)\nwindow = 2.hours\n"
                "SyncWorker.perform_async(window)"),
        "JL102",
    )
    assert lines(found) == [4, 6]
    assert "a symbol" in found[0][2] and "a duration" in found[1][2]


def test_non_json_argument_ignores_the_schedule_of_perform_in_and_perform_at(tmp_path):
    found = findings(
        tmp_path,
        service("SyncWorker.perform_in(5.minutes, record.id)\n"
                "SyncWorker.perform_at(Time.current + 60, record.id)"),
        "JL102",
    )
    assert found == []


def test_non_json_argument_checks_the_values_of_keyword_style_arguments(tmp_path):
    # JL103 reports the keywords; the values are still not JSON once the keys are strings
    files = service("SyncWorker.perform_async(record.id, at: Time.current, mode: :full, n: 1)")
    assert [text for _, _, text in findings(tmp_path, files, "JL102")] == [
        "`Time.current` is a time, not a native JSON type: Sidekiq strict arguments reject it",
        "`:full` is a symbol, not a native JSON type: Sidekiq strict arguments reject it",
    ]
    assert lines(findings(tmp_path, files, "JL103")) == [3]


def test_non_json_argument_knows_duration_constructions(tmp_path):
    files = service(
        "delay = 5\n"
        "SyncWorker.perform_async(ActiveSupport::Duration.build(90), delay.minutes, delay)"
    )
    assert [text.split(" is ")[1].split(",")[0] for _, _, text in findings(tmp_path, files, "JL102")] == [
        "a duration", "a duration"]


def test_non_json_argument_ignores_perform_async_of_an_activejob_class(tmp_path):
    files = {
        "app/jobs/sync_job.rb": "class SyncJob < ApplicationJob\n  def perform(x); end\nend\n",
        "app/services/sync.rb": "class Sync\n  def call\n    SyncJob.perform_async(:full)\n"
        "    LogJob.perform_async(:login)\n  end\nend\n",
        "app/jobs/log_job.rb": "class LogJob\n  include SuckerPunch::Job\nend\n",
    }
    assert findings(tmp_path, files, "JL102") == []


def test_non_json_argument_ignores_screaming_constants_and_converted_times(tmp_path):
    found = findings(
        tmp_path,
        service("SyncWorker.perform_async(LIMIT, Foo::MODE, Time.zone.now.to_i, Date.today.to_s)\n"
                "SyncWorker.perform_async(record.class.name, 3.days.ago.iso8601)"),
        "JL102",
    )
    assert found == []


# -- JL103 -----------------------------------------------------------------------------------


def test_keyword_argument_reports_a_perform_once_at_its_first_keyword(tmp_path):
    files = {
        "app/workers/export_worker.rb": "class ExportWorker\n  include Sidekiq::Job\n\n"
        "  def perform(id, full: false, mode:, **rest)\n  end\n\n  def helper(a:); end\nend\n",
    }
    found = findings(tmp_path, files, "JL103")
    assert lines(found) == [4]
    assert "`mode:`" in found[0][2]


def test_keyword_argument_on_perform_is_reported_only_when_a_keyword_is_required(tmp_path):
    files = {
        "app/workers/a_worker.rb": "class AWorker\n  include Sidekiq::Job\n\n"
        "  def perform(id, full: false, mode:)\n  end\nend\n",
        "app/workers/b_worker.rb": "class BWorker\n  include Sidekiq::Job\n\n"
        "  def perform(id, full: false)\n  end\nend\n",
    }
    write_tree(tmp_path, files)
    report = run_tree(tmp_path, ("JL103",))
    found = {(f.path, f.severity.label, f.message.split(": Sidekiq")[0]) for f in report.findings}
    assert found == {
        ("app/workers/a_worker.rb", "error", "`perform` requires keyword argument `mode:`"),
    }  # BWorker's optional keyword keeps its default: harmless


def test_keyword_argument_ignores_string_keyed_pairs_without_braces(tmp_path):
    files = service("SyncWorker.perform_async('id' => record.id,\n  'mode' => 'full')\n"
                    "SyncWorker.perform_async(**options)")
    assert findings(tmp_path, files, "JL103") == []
    assert findings(tmp_path, files, "JL102") == []


def test_keyword_argument_ignores_activejob_perform_and_plain_classes(tmp_path):
    files = {
        "app/jobs/export_job.rb": "class ExportJob < ApplicationJob\n  def perform(id, full: false); end\nend\n",
        "app/services/exporter.rb": "class Exporter\n  def perform(id, full: false); end\nend\n",
    }
    assert findings(tmp_path, files, "JL103") == []


# -- JL104 -----------------------------------------------------------------------------------


def test_sensitive_argument_ignores_token_id(tmp_path):
    found = findings(
        tmp_path,
        service("token_id = record.token_id\nSyncWorker.perform_async(token_id, password_reset_id)\n"
                "SyncWorker.perform_async(params[:token_id], { 'tokenizer' => 1 })"),
        "JL104",
    )
    assert found == []


def test_sensitive_argument_ignores_records_named_like_secrets(tmp_path):
    found = findings(
        tmp_path,
        service("token = ApiToken.find(record.token_id)\nSyncWorker.perform_async(token)\n"
                "Badge.new(user: record).tap do |token|\n"
                "  SyncWorker.perform_async(record.id, context: token)\nend\n"
                "SyncWorker.perform_async(secret)"),
        "JL104",
    )
    assert lines(found) == [8]


def test_sensitive_argument_reads_params_keys_hash_keys_and_suffixes(tmp_path):
    found = findings(
        tmp_path,
        service("SyncWorker.perform_async(params[:user][:password])\n"
                "SyncWorker.perform_async({ 'stripe_api_key' => key })\n"
                "SyncWorker.perform_async(github_access_token)"),
        "JL104",
    )
    assert lines(found) == [3, 4, 5]
    assert "password" in found[0][2] and "api_key" in found[1][2]


def test_sensitive_argument_options_replace_the_words_and_allow_names(tmp_path):
    files = service("SyncWorker.perform_async(push_token, pin_code)")
    default = findings(tmp_path, files, "JL104")
    assert lines(default) == [3]
    allowed = findings(tmp_path, files, "JL104", rule_options={"JL104": {"allow": ["push_token"]}})
    assert allowed == []
    custom = findings(tmp_path, files, "JL104", rule_options={"JL104": {"names": ["pin_code"]}})
    assert [m for _, _, m in custom] and "pin_code" in custom[0][2]


def test_sensitive_argument_checks_perform_parameters_only_in_jobs(tmp_path):
    files = {
        "app/workers/login_worker.rb": "class LoginWorker\n  include Sidekiq::Job\n\n"
        "  def perform(user_id, api_token:)\n  end\nend\n",
        "app/services/login.rb": "class Login\n  def perform(password)\n  end\nend\n",
    }
    assert [(p, line) for p, line, _ in findings(tmp_path, files, "JL104")] == [
        ("app/workers/login_worker.rb", 4)
    ]


# -- JL105 -----------------------------------------------------------------------------------


MODELS = {"app/models/user.rb": "class User < ApplicationRecord\nend\n"}


def test_unbounded_argument_is_not_also_a_record_argument(tmp_path):
    files = {
        **MODELS,
        **service("SyncWorker.perform_async(User.where(active: true).map(&:id))\n"
                  "users = User.active.to_a\nSyncWorker.perform_async(users)\n"
                  "SyncWorker.perform_async(User.pluck(:email))"),
    }
    assert lines(findings(tmp_path, files, "JL105")) == [3, 5, 6]
    assert findings(tmp_path, files, "JL101") == []


def test_unbounded_argument_ignores_bounded_chains_and_small_literals(tmp_path):
    files = {
        **MODELS,
        **service("SyncWorker.perform_async(User.limit(10).pluck(:id), User.first(5).map(&:id))\n"
                  "SyncWorker.perform_async(User.page(2).ids, #{list(range(50))})\n"
                  "SyncWorker.perform_async(record.users.pluck(:id))"),
    }
    assert findings(tmp_path, files, "JL105") == []


# -- JL402 -----------------------------------------------------------------------------------


def test_perform_now_in_request_ignores_service_objects_and_jobs_own_code(tmp_path):
    files = {
        "app/controllers/a_controller.rb": "class AController < ApplicationController\n"
        "  def create\n    Importer.new(params).perform\n    ImportJob.new(1).perform\n  end\nend\n",
        "app/channels/sync_channel.rb": "class SyncChannel < ApplicationCable::Channel\n"
        "  def receive(data)\n    SyncWorker.new.perform(data['id'])\n  end\nend\n",
    }
    assert [(p, line) for p, line, _ in findings(tmp_path, files, "JL402")] == [
        ("app/channels/sync_channel.rb", 3),
        ("app/controllers/a_controller.rb", 4),
    ]


def test_perform_now_in_request_honours_configured_request_paths(tmp_path):
    files = {"app/api/v1/imports.rb": "class Imports\n  def post\n    ImportJob.perform_now(1)\n  end\nend\n"}
    assert findings(tmp_path, files, "JL402") == []
    found = findings(tmp_path, files, "JL402", request_paths=("app/api",))
    assert lines(found) == [3]


# -- JL406 -----------------------------------------------------------------------------------


MAILER = (
    "class NoteMailer < ApplicationMailer\n"
    "  def note(recipient, body)\n"
    "    mail(to: [recipient], subject: body)\n"
    "  end\n"
    "end\n"
)


def test_user_controlled_mail_header_names_the_request_call_site(tmp_path):
    files = {
        "app/mailers/note_mailer.rb": MAILER,
        "app/controllers/notes_controller.rb": "class NotesController < ApplicationController\n"
        "  def create\n    to = note_params[:to]\n    NoteMailer.note(to, 'hi').deliver_later\n"
        "  end\nend\n",
    }
    found = findings(tmp_path, files, "JL406")
    assert [(p, line) for p, line, _ in found] == [("app/mailers/note_mailer.rb", 3)]
    assert "app/controllers/notes_controller.rb:4" in found[0][2]
    assert "NoteMailer#note" in found[0][2]


def test_user_controlled_mail_header_ignores_the_other_parameters_and_non_request_callers(tmp_path):
    files = {
        "app/mailers/note_mailer.rb": MAILER,
        "app/controllers/notes_controller.rb": "class NotesController < ApplicationController\n"
        "  def create\n    NoteMailer.note(current_user.email, params[:body]).deliver_later\n"
        "  end\nend\n",
        "app/services/notes.rb": "class Notes\n  def call(params)\n"
        "    NoteMailer.note(params[:to], 'x').deliver_later\n  end\nend\n",
    }
    assert findings(tmp_path, files, "JL406") == []


# -- JL701 -----------------------------------------------------------------------------------


@pytest.fixture
def worker_app(tmp_path, monkeypatch):
    write_tree(
        tmp_path,
        {
            "Gemfile": "source 'https://rubygems.org'\n",
            "app/workers/hard_worker.rb": "class HardWorker\n  include Sidekiq::Worker # keep\n"
            "  include ::Sidekiq::Worker\n\n  def perform(id); end\nend\n",
        },
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path / "app/workers/hard_worker.rb"


def test_sidekiq_worker_alias_diff_shows_the_fix_and_writes_nothing(worker_app):
    diff = diff_writing_nothing(worker_app, "JL701")
    assert "-  include Sidekiq::Worker # keep\n" in diff
    assert "+  include Sidekiq::Job # keep\n" in diff
    assert "+  include ::Sidekiq::Job\n" in diff


def test_sidekiq_worker_alias_fix_is_idempotent(worker_app):
    assert fixed_twice(worker_app, "JL701") == (
        "class HardWorker\n  include Sidekiq::Job # keep\n  include ::Sidekiq::Job\n\n"
        "  def perform(id); end\nend\n"
    )


def test_sidekiq_worker_alias_ignores_other_uses_of_the_constant(tmp_path):
    files = {
        "app/workers/a.rb": "class A\n  include Sidekiq::Job\n  include MyApp::Worker\nend\n",
        "spec/support/sidekiq.rb": "Sidekiq::Worker.clear_all\n",
    }
    assert findings(tmp_path, files, "JL701") == []


# -- JL702 -----------------------------------------------------------------------------------


def test_job_base_class_ignores_test_support_jobs(tmp_path):
    files = {
        "app/jobs/application_job.rb": "class ApplicationJob < ActiveJob::Base\nend\n",
        "test/jobs/retry_test.rb": "class RetryTest < ActiveSupport::TestCase\n"
        "  class FailingJob < ActiveJob::Base\n  end\nend\n",
    }
    assert findings(tmp_path, files, "JL702") == []


# -- JL703 -----------------------------------------------------------------------------------


def test_dynamic_job_class_reports_one_lookup_once(tmp_path):
    files = {
        "app/controllers/a_controller.rb": "class AController < ApplicationController\n"
        "  def create\n    job = params[:job].classify.safe_constantize\n"
        "    job.set(wait: 1.minute).perform_later(1)\n    job.perform_later(2)\n  end\nend\n",
    }
    found = findings(tmp_path, files, "JL703")
    assert lines(found) == [3] and "request data" in found[0][2]


def test_dynamic_job_class_reports_a_class_name_built_from_request_data_only(tmp_path):
    files = {
        "app/controllers/runs_controller.rb": "class RunsController\n  def create(kind)\n"
        "    name = \"#{params[:kind]}Job\"\n    name.constantize.new.perform\n"
        "    \"#{kind}Job\".constantize.new.perform\n"
        "    \"#{@report.kind}Job\".constantize.perform_later(1)\n  end\nend\n",
    }
    found = findings(tmp_path, files, "JL703")
    assert lines(found) == [4] and "built from request data" in found[0][2]


# -- robustness --------------------------------------------------------------------------------

ODD_SHAPES = {
    "app/controllers/odd_controller.rb": """class OddController < ApplicationController
  def create
    SyncWorker.perform_async
    SyncWorker.perform_async(*args, **opts, &blk)
    SyncWorker.perform_in
    job.perform_now
    params[].constantize.perform_later
    Object.const_get.perform_later
    NoteMailer.public_send
    NoteMailer.note(*params[:to]).deliver_later
    NoteMailer.with(**params).note.deliver_later
    klass = klass.constantize
    klass.perform_later
  end
end
""",
    "app/mailers/note_mailer.rb": """class NoteMailer < ApplicationMailer
  def note(*recipients, **opts)
    headers[] = recipients
    headers["X"] = params
    mail(**opts)
    mail(to:)
  end
end
""",
    "app/workers/odd_worker.rb": """class OddWorker
  include Sidekiq::Job
  def perform(*, **, &); end
end
""",
}


def test_rules_survive_unusual_shapes(tmp_path):
    write_tree(tmp_path, ODD_SHAPES)
    codes = ("JL102", "JL103", "JL104", "JL105", "JL402", "JL406", "JL701", "JL702", "JL703")
    report = run_tree(tmp_path, codes)
    assert not report.crashes
    assert {(f.code, f.line) for f in report.findings if f.code in codes} >= {("JL402", 6)}
