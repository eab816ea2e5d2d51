"""Queue and schedule facts, job YAML loading, and the three backend fixture apps' snapshots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from joblint.cli import main
from joblint.rails import queues, schedules, yaml_config
from joblint.rails.app import App
from joblint.source import SourceFile

from .conftest import run_tree, write_tree
from .test_cli import assert_snapshot

ROOT = Path(__file__).resolve().parent.parent
BACKEND_APPS = ("sidekiq", "solid_queue", "good_job")


def yaml_source(text: str, relpath: str = "config/queue.yml") -> SourceFile:
    return SourceFile(path=Path(relpath), relpath=relpath, data=text.encode())


def app_with(tmp_path: Path, files: dict[str, str]) -> App:
    write_tree(tmp_path, {"Gemfile": "", **files})
    return App(tmp_path)


# -- YAML loading ----------------------------------------------------------------------------


def test_erb_is_neutralised_keeping_positions():
    text = '<% require "x" %>\nthreads: <%= ENV.fetch("T", 3) %>\nname: "café <%= x %>"\nlast: 1\n'
    neutral = yaml_config.neutralise_erb(text)
    assert len(neutral) == len(text) and neutral.count("\n") == text.count("\n")
    document = yaml_config.load(yaml_source(text))
    assert document["threads"].has_erb and document["name"].has_erb
    assert document["last"] == 1


def test_anchors_and_merges_are_resolved_and_explicit_keys_win():
    document = yaml_config.load(yaml_source(
        "base: &base\n  workers: [{queues: a}]\n  threads: 1\n"
        "production:\n  <<: *base\n  threads: 5\n"
    ))
    production = document["production"]
    assert production["threads"] == 5
    assert production["workers"][0]["queues"] == "a"


def test_scalar_positions_are_byte_offsets_into_the_file():
    text = "é: 1\nqueues:\n  - crème\n"
    source = yaml_source(text)
    item = yaml_config.load(source)["queues"][0]
    assert source.data[item.start_byte:item.end_byte].decode() == "crème"
    assert item.line == 3


def test_syntax_error_is_a_fact_pointing_at_its_line():
    error = yaml_config.load(yaml_source("a:\n  b: 1\n   c: 2\n"))
    assert isinstance(error, yaml_config.YamlError)
    assert error.line == 3


def test_erb_that_writes_whole_lines_is_not_a_syntax_error():
    document = yaml_config.load(yaml_source(
        "production:\n  <%= render_more_settings %>\n  threads: 3\n<% if x %>\n  extra: 1\n<% end %>\n"
    ))
    assert document == {"production": {"threads": 3, "extra": 1}}


# -- queues ----------------------------------------------------------------------------------


def test_sidekiq_queues_read_weights_environments_and_procfile(tmp_path):
    app = app_with(tmp_path, {
        "config/sidekiq.yml": ":queues:\n  - [critical, 2]\n  - default\nproduction:\n  :queues: [bulk]\n",
        "Procfile": "worker: bundle exec sidekiq -C config/sidekiq.yml -q urgent\n",
    })
    workers = queues.queue_config(app).sidekiq
    assert workers is not None
    assert workers.patterns == {"critical", "default", "bulk", "urgent"}


def test_sidekiq_queue_list_depending_on_erb_is_unknown(tmp_path):
    app = app_with(tmp_path, {"config/sidekiq.yml": ":queues:\n  - <%= ENV['Q'] %>\n"})
    assert queues.queue_config(app).sidekiq is None


def test_sidekiq_yml_without_queues_processes_default_unless_the_command_line_says(tmp_path):
    app = app_with(tmp_path, {"config/sidekiq.yml": ":concurrency: 5\n"})
    assert queues.queue_config(app).sidekiq.patterns == {"default"}
    launched = app_with(tmp_path / "b", {
        "config/sidekiq.yml": ":concurrency: 5\n",
        "Procfile": "worker: bundle exec sidekiq -q critical -q low\n",
        "bin/worker": "#!/bin/sh\nexec sidekiq --queue=imports\n",
    })
    assert queues.queue_config(launched).sidekiq.patterns == {"critical", "low", "imports"}
    from_env = app_with(tmp_path / "c", {
        "config/sidekiq.yml": ":concurrency: 5\n",
        "Procfile": "worker: bundle exec sidekiq -q $SIDEKIQ_QUEUES\n",
    })
    assert queues.queue_config(from_env).sidekiq is None


def test_sidekiq_capsule_queues_in_an_initializer_are_processed(tmp_path):
    app = app_with(tmp_path, {
        "config/sidekiq.yml": ":queues:\n  - default\n",
        "config/initializers/sidekiq.rb": (
            "Sidekiq.configure_server do |config|\n"
            "  config.capsule(\"throttled\") do |capsule|\n"
            "    capsule.queues = %w[metrics reports]\n    capsule.concurrency = 2\n  end\nend\n"),
    })
    assert queues.queue_config(app).sidekiq.patterns == {"default", "metrics", "reports"}
    computed = app_with(tmp_path / "b", {
        "config/sidekiq.yml": ":queues:\n  - default\n",
        "config/initializers/sidekiq.rb": (
            "Sidekiq.configure_server do |config|\n"
            "  config.queues = ENV.fetch(\"QUEUES\").split(\",\")\nend\n"),
    })
    assert queues.queue_config(computed).sidekiq is None


def test_solid_queue_wildcards_and_default_worker(tmp_path):
    app = app_with(tmp_path, {
        "config/queue.yml": "production:\n  workers:\n    - queues: [real_time, \"mail*\"]\n",
    })
    workers = queues.queue_config(app).solid_queue
    assert workers is not None
    assert workers.processes("mailers") and workers.processes("real_time")
    assert not workers.processes("default")
    no_workers = app_with(tmp_path / "b", {"config/queue.yml": "production:\n  dispatchers: []\n"})
    assert no_workers.fact("queue_config", queues._build).solid_queue.processes("anything")


@pytest.mark.parametrize(
    "setting, processed, unprocessed",
    [
        ("default,mailers;reports:2", {"default", "mailers", "reports"}, {"imports"}),
        ("-imports", {"default", "reports"}, {"imports"}),
        ("+high,low:2;*", {"anything"}, set()),
    ],
)
def test_good_job_queue_strings(setting, processed, unprocessed):
    workers = queues.parse_good_job_queues(setting)
    assert all(workers.processes(q) for q in processed)
    assert not any(workers.processes(q) for q in unprocessed)


def test_queue_name_prefix_applies_to_active_job_only(tmp_path):
    app = app_with(tmp_path, {
        "Gemfile.lock": "GEM\n  specs:\n    sidekiq (7.2.0)\n",
        "config/application.rb": 'config.active_job.queue_name_prefix = "shop"\n',
        "config/sidekiq.yml": ":queues:\n  - shop_exports\n  - native\n",
    })
    config = queues.queue_config(app)
    assert config.processed("exports", native_sidekiq=False)[0] is True
    assert config.processed("exports", native_sidekiq=True)[0] is False
    assert config.processed("native", native_sidekiq=True)[0] is True


def test_dynamic_prefix_makes_active_job_queues_unknown(tmp_path):
    app = app_with(tmp_path, {
        "Gemfile.lock": "GEM\n  specs:\n    sidekiq (7.2.0)\n",
        "config/application.rb": 'config.active_job.queue_name_prefix = "shop_#{Rails.env}"\n',
        "config/sidekiq.yml": ":queues:\n  - default\n",
    })
    assert queues.queue_config(app).processed("exports", native_sidekiq=False)[0] is None


def test_job_queue_is_inherited_and_defaults_to_default(tmp_path):
    app = app_with(tmp_path, {
        "app/jobs/application_job.rb": "class ApplicationJob < ActiveJob::Base\nend\n",
        "app/jobs/base_export_job.rb": "class BaseExportJob < ApplicationJob\n  queue_as :exports\nend\n",
        "app/jobs/csv_export_job.rb": "class CsvExportJob < BaseExportJob\n  def perform; end\nend\n",
        "app/jobs/plain_job.rb": "class PlainJob < ApplicationJob\n  def perform; end\nend\n",
        "app/jobs/dynamic_job.rb": "class DynamicJob < ApplicationJob\n  queue_as { :x }\nend\n",
    })
    assert queues.job_queue(app, "CsvExportJob")[0] == "exports"
    assert queues.job_queue(app, "PlainJob")[0] == "default"
    assert queues.job_queue(app, "DynamicJob")[0] is None


# -- schedules -------------------------------------------------------------------------------


def test_recurring_entries_shared_by_environments_are_listed_once(tmp_path):
    app = app_with(tmp_path, {
        "config/recurring.yml": (
            "production: &p\n  a:\n    class: AJob\n    schedule: every hour\n"
            "development: *p\nstaging:\n  <<: *p\n"
        ),
    })
    entries = schedules.schedules(app)
    assert [(e.backend, e.key.text, e.class_name.text) for e in entries] == [("solid_queue", "a", "AJob")]


def test_sidekiq_scheduler_entry_without_class_runs_the_class_named_by_its_key(tmp_path):
    app = app_with(tmp_path, {
        "config/sidekiq.yml": ":queues: [default]\n:scheduler:\n  :schedule:\n    CleanupJob:\n      cron: '0 * * * *'\n",
    })
    (entry,) = schedules.schedules(app)
    assert (entry.backend, entry.class_name.text, entry.schedule.text) == (
        "sidekiq_scheduler", "CleanupJob", "0 * * * *")


def test_sidekiq_cron_list_form_and_good_job_and_whenever(tmp_path):
    app = app_with(tmp_path, {
        "config/schedule.yml": "- name: sync\n  cron: '*/5 * * * *'\n  class: SyncWorker\n",
        "config/initializers/good_job.rb": (
            "Rails.application.configure do\n"
            "  config.good_job.cron = { stats: { cron: 'every 15s', class: 'StatsJob' } }\n"
            "  config.good_job.cron[:extra] = { cron: '0 4 * * *', class: ExtraJob }\n"
            "end\n"
        ),
        "config/schedule.rb": 'every 1.day do\n  runner "Nightly::ExportJob.perform_later"\n  rake "x"\nend\n',
    })
    found = {(e.backend, e.key.text, e.class_name.text) for e in schedules.schedules(app)}
    assert found == {
        ("sidekiq_cron", "sync", "SyncWorker"),
        ("good_job", "stats", "StatsJob"),
        ("good_job", "extra", "ExtraJob"),
        ("whenever", "Nightly::ExportJob.perform_later", "Nightly::ExportJob"),
    }


# -- the backend fixture apps ----------------------------------------------------------------


@pytest.fixture
def run(monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("NO_COLOR", raising=False)

    def invoke(*args: str):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return invoke


@pytest.mark.parametrize("name", BACKEND_APPS)
def test_backend_app_text_snapshot(run, name):
    result = run(f"tests/fixtures/apps/{name}")
    assert result.exit_code == 1
    assert_snapshot(f"{name}.text", result.output)


@pytest.mark.parametrize("name", BACKEND_APPS)
def test_backend_app_json_snapshot(run, name):
    result = run(f"tests/fixtures/apps/{name}", "--format", "json")
    assert result.exit_code == 1
    assert_snapshot(f"{name}.json", result.output)
    codes = {f["code"] for f in json.loads(result.output)["findings"]}
    assert {"JL601", "JL602"} <= codes


def test_findings_in_yaml_are_reported_with_the_yaml_path_and_line(run):
    result = run("tests/fixtures/apps/solid_queue", "--format", "json", "--select", "JL603")
    found = [(f["path"], f["line"]) for f in json.loads(result.output)["findings"]]
    assert found == [
        ("tests/fixtures/apps/solid_queue/config/recurring.yml", 16),
        ("tests/fixtures/apps/solid_queue/config/recurring.yml", 17),
    ]


def test_unreadable_yaml_is_one_finding_and_no_crash(run, tmp_path):
    write_tree(tmp_path, {"Gemfile": "", "config/sidekiq.yml": ":queues:\n  - [a, 1\n  - b\n"})
    result = run(str(tmp_path), "--format", "concise")
    assert "internal error" not in result.output and "Traceback" not in result.output
    assert "config/sidekiq.yml:3:1: JL002" in result.output


# -- false positives found on real apps --------------------------------------------------------


def test_jobs_defined_outside_indexed_directories_and_old_data_migrations_are_not_unknown(app_tree):
    report = app_tree({
        "Gemfile": "",
        "core/app/jobs/spree/state_job.rb": "module Spree\n  class StateJob < BaseJob\n  end\nend\n",
        "core/app/models/spree/order.rb": (
            "module Spree\n  class Order < Base\n    def track\n      StateJob.perform_later(1)\n    end\n"
            "  end\nend\n"
        ),
        "app/jobs/live_job.rb": "class LiveJob < ApplicationJob\n  retry_on Timeout::Error\n  def perform; end\nend\n",
        "db/data_migration/20200101_republish.rb": "RemovedWorker.perform_async(1)\n",
    }, "JL606")
    assert [f.code for f in report.findings if f.code == "JL606"] == []


def test_a_job_in_a_model_file_the_index_cannot_read_is_not_unknown(tmp_path):
    write_tree(tmp_path, {
        "Gemfile": "",
        "app/jobs/live_job.rb": "class LiveJob < ApplicationJob\n  def perform; end\nend\n",
        "app/models/order.rb": "class Order\n  def ship\n    LegacyJob.perform_later(1)\n    GoneJob.perform_later(1)\n  end\nend\n",
    })
    (tmp_path / "app/jobs/legacy_job.rb").write_bytes(  # Latin-1: the class index skips it
        b"# caf\xe9\nclass LegacyJob < ApplicationJob\n  def perform(id); end\nend\n")
    report = run_tree(tmp_path, ("JL606",))
    assert [(f.code, f.line) for f in report.findings if f.code == "JL606"] == [("JL606", 4)]


def test_queues_in_test_code_are_not_checked(app_tree):
    report = app_tree({
        "Gemfile.lock": "GEM\n  specs:\n    sidekiq (7.2.0)\n",
        "config/sidekiq.yml": ":queues:\n  - default\n",
        "test/unit/job_base_test.rb": (
            "class JobBaseTest\n  class MyJob\n    include Sidekiq::Job\n"
            "    sidekiq_options queue: \"my-test-queue\"\n  end\nend\n"
        ),
    }, "JL601")
    assert [f for f in report.findings if f.code == "JL601"] == []


def test_a_schedule_file_using_sidekiq_scheduler_keys_is_read_as_sidekiq_scheduler(tmp_path):
    app = app_with(tmp_path, {
        "config/sidekiq-schedule.yml": "ClearLocksJob:\n  interval: 1m\nnightly:\n  cron: '0 0 * * *'\n  class: NightlyJob\n",
    })
    found = {(e.backend, e.class_name.text) for e in schedules.schedules(app)}
    assert found == {("sidekiq_scheduler", "ClearLocksJob"), ("sidekiq_scheduler", "NightlyJob")}


def test_mail_delivery_queue_follows_the_framework_defaults_and_the_setting(tmp_path):
    config = queues.queue_config(app_with(tmp_path, {}))
    assert config.implicit_mail_queue((7, 1)) == "default"
    assert config.implicit_mail_queue((6, 0)) == config.implicit_mail_queue(()) == "mailers"
    assert config.implicit_mail_queue(None) is None  # defaults unknown
    named = app_with(tmp_path / "b", {
        "config/application.rb": "config.action_mailer.deliver_later_queue_name = :mail\n",
    })
    assert queues.queue_config(named).mailer_queue_name == "mail"
    assert queues.queue_config(named).implicit_mail_queue((7, 1)) is None  # checked where written
    nil = app_with(tmp_path / "c", {
        "config/initializers/new_framework_defaults_6_1.rb": (
            "Rails.application.config.action_mailer.deliver_later_queue_name = nil\n"
            "Rails.application.config.active_job.default_queue_name = :normal\n"
        ),
    })
    assert queues.queue_config(nil).implicit_mail_queue((6, 0)) == "normal"
    custom = app_with(tmp_path / "d", {
        "config/application.rb": "config.action_mailer.delivery_job = \"MailJob\"\n",
    })
    assert queues.queue_config(custom).implicit_mail_queue((7, 1)) is None


def test_framework_defaults_come_from_load_defaults_or_an_old_rails(tmp_path):
    lock = "GEM\n  specs:\n    rails ({})\n"
    cases = [
        ({"Gemfile.lock": lock.format("7.1.3"), "config/application.rb": "config.load_defaults 6.0\n"}, (6, 0)),
        ({"Gemfile.lock": lock.format("6.0.4"), "config/application.rb": "x\n"}, (6, 0, 4)),
        ({"Gemfile.lock": lock.format("7.1.3"), "config/application.rb": "module A; end\n"}, ()),
        ({"Gemfile.lock": lock.format("7.1.3"),
          "config/application.rb": "config.load_defaults Rails::VERSION::STRING.to_f\n"}, None),
        ({"config/application.rb": "module A; end\n"}, None),
    ]
    for index, (files, expected) in enumerate(cases):
        assert queues.framework_defaults(app_with(tmp_path / str(index), files)) == expected, files


def test_schedule_classes_are_not_judged_in_an_app_without_any_job(app_tree):
    files = {"Gemfile": "", "config/recurring.yml": "production:\n  a:\n    class: AJob\n    schedule: every hour\n"}
    assert [f.code for f in app_tree(files).findings] == []
    files["app/jobs/b_job.rb"] = "class BJob < ApplicationJob\n  retry_on Timeout::Error\n  def perform; end\nend\n"
    assert [f.code for f in app_tree(files).findings] == ["JL602"]


def test_dashboard_mounts_in_development_only_are_fine_and_server_instances_are_seen(app_tree):
    report = app_tree({
        "Gemfile": "",
        "config/routes.rb": (
            "Rails.application.routes.draw do\n"
            '  mount Sidekiq::Web => "/sidekiq" if Rails.env.development?\n'
            '  mount GoodJob::Engine => "/gj" unless Rails.env.development?\n'
            '  mount Resque::Server.new, at: "/resque"\n'
            "end\n"
        ),
    })
    assert [(f.code, f.line) for f in report.findings] == [("JL605", 3), ("JL605", 4)]


def test_sidekiq_cron_queues_of_active_job_classes_take_the_prefix(app_tree):
    report = app_tree({
        "Gemfile.lock": "GEM\n  specs:\n    sidekiq (7.2.0)\n",
        "config/application.rb": 'config.active_job.queue_name_prefix = "shop"\n',
        "config/sidekiq.yml": ":queues:\n  - shop_reports\n  - native\n",
        "config/schedule.yml": (
            "report:\n  cron: '0 * * * *'\n  class: ReportJob\n  queue: reports\n"
            "flagged:\n  cron: '0 * * * *'\n  class: Plain\n  queue: reports\n  active_job: true\n"
            "sync:\n  cron: '0 * * * *'\n  class: SyncWorker\n  queue: reports\n"
        ),
        "app/jobs/report_job.rb": "class ReportJob < ApplicationJob\n  retry_on Timeout::Error\n  def perform; end\nend\n",
        "app/workers/sync_worker.rb": "class SyncWorker\n  include Sidekiq::Job\n  def perform; end\nend\n",
    }, "JL601")
    assert [(f.path, f.line) for f in report.findings if f.code == "JL601"] == [("config/schedule.yml", 13)]


def test_odd_yaml_shapes_are_unknown_and_never_crash(app_tree):
    report = app_tree({
        "Gemfile": "",
        "config/queue.yml": "- a\n- b\n",
        "config/sidekiq.yml": "just a string\n",
        "config/recurring.yml": "production:\n  - 1\n  - 2\n",
        "config/schedule.yml": "a: &a\n  b: *a\n",
        "config/cron.yml": "? [a, b]\n: 1\n",
        "config/scheduler.yml": "x:\n  cron: 5\n  class: [1]\n  queue: {a: 1}\n",
        "app/jobs/a_job.rb": "class AJob < ApplicationJob\n  retry_on Timeout::Error\n  queue_as :x\nend\n",
    })
    assert not report.crashes
    assert [f.code for f in report.findings] == []


# -- queues used without being named ---------------------------------------------------------

SOLID_QUEUE_APP = {
    "Gemfile.lock": "GEM\n  specs:\n    solid_queue (1.1.0)\n",
    "app/jobs/report_job.rb": "class ReportJob < ApplicationJob\n  retry_on Timeout::Error\n  def perform; end\nend\n",
}


@pytest.mark.parametrize("queue_yml, expected", [
    ("production:\n  workers:\n    - queues: [default, reports]\n", [("config/recurring.yml", 3)]),
    ("production:\n  workers:\n    - queues: [default, solid_queue_recurring]\n", []),
    ("production:\n  workers:\n    - queues: \"*\"\n", []),
    ("production:\n  workers:\n    - queues: <%= ENV['QUEUES'] %>\n", []),
])
def test_recurring_command_without_queue_runs_on_solid_queue_recurring(app_tree, queue_yml, expected):
    report = app_tree({
        **SOLID_QUEUE_APP,
        "config/queue.yml": queue_yml,
        "config/recurring.yml": (
            "production:\n"
            "  sweep:\n    command: \"Session.sweep\"\n    schedule: every hour\n"
            "  pinned:\n    command: \"Session.sweep\"\n    queue: default\n    schedule: every hour\n"
            "  report:\n    class: ReportJob\n    schedule: every hour\n"
        ),
    }, "JL601")
    assert [(f.path, f.line) for f in report.findings if f.code == "JL601"] == expected


def test_recurring_command_queue_is_unknown_without_worker_config(app_tree):
    report = app_tree({
        **SOLID_QUEUE_APP,
        "config/recurring.yml": "production:\n  sweep:\n    command: \"Session.sweep\"\n    schedule: every hour\n",
    })
    assert [f.code for f in report.findings] == []


MAIL_APP = {
    "Gemfile.lock": "GEM\n  specs:\n    rails (7.1.3)\n    sidekiq (7.2.0)\n",
    "config/sidekiq.yml": ":queues:\n  - default\n  - low\n",
    "app/mailers/application_mailer.rb": "class ApplicationMailer < ActionMailer::Base\nend\n",
    "app/mailers/user_mailer.rb": (
        "class UserMailer < ApplicationMailer\n  def welcome\n    mail(to: \"a@example.com\")\n  end\nend\n"
    ),
    "app/controllers/users_controller.rb": (
        "class UsersController < ApplicationController\n"
        "  def create\n"
        "    UserMailer.welcome.deliver_later\n"
        "    UserMailer.with(id: 1).welcome.deliver_later!(wait: 5.minutes)\n"
        "    UserMailer.welcome.deliver_later(queue: :low)\n"
        "    Devise::Mailer.reset_password_instructions(1, \"t\").deliver_later\n"
        "    message.deliver_later\n"
        "  end\n"
        "end\n"
    ),
}


def _application(setting: str) -> str:
    return f"module Shop\n  class Application < Rails::Application\n    {setting}\n  end\nend\n"


@pytest.mark.parametrize("application, expected", [
    (_application("config.load_defaults 6.0"), [3, 4]),  # `mailers`, which no worker processes
    (_application("config.load_defaults 7.1"), []),  # the default queue
    (_application("config.time_zone = 'UTC'"), [3, 4]),  # no load_defaults: Rails' own `mailers`
    (_application("config.load_defaults Rails::VERSION::STRING.to_f"), []),  # unknown defaults
])
def test_deliver_later_uses_the_mailer_queue_of_the_framework_defaults(app_tree, application, expected):
    report = app_tree({**MAIL_APP, "config/application.rb": application}, "JL601")
    found = [(f.path, f.line) for f in report.findings if f.code == "JL601"]
    assert found == [("app/controllers/users_controller.rb", line) for line in expected]
    assert all("`deliver_later` enqueues mail" in f.message for f in report.findings if f.code == "JL601")


def test_deliver_later_is_silent_when_the_version_or_the_workers_are_unknown(app_tree):
    files = {**MAIL_APP, "Gemfile.lock": "GEM\n  specs:\n    sidekiq (7.2.0)\n", "Gemfile": ""}
    assert [f.code for f in app_tree(files, "JL601").findings if f.code == "JL601"] == []
    files = {**MAIL_APP, "config/application.rb": _application("config.load_defaults 6.0"),
             "config/sidekiq.yml": ":queues:\n  - <%= ENV['QUEUE'] %>\n"}
    assert [f.code for f in app_tree(files, "JL601").findings if f.code == "JL601"] == []


def test_deliver_later_of_a_mailer_choosing_its_own_queue_is_not_judged(app_tree):
    report = app_tree({
        **MAIL_APP,
        "config/application.rb": _application("config.load_defaults 6.0"),
        "app/mailers/application_mailer.rb": (
            "class ApplicationMailer < ActionMailer::Base\n  self.deliver_later_queue_name = :low\nend\n"
        ),
    }, "JL601")
    assert [f.code for f in report.findings if f.code == "JL601"] == []


def test_an_app_wide_mail_queue_is_reported_where_it_is_set_not_at_each_call(app_tree):
    report = app_tree({
        **MAIL_APP,
        "config/application.rb": _application("config.load_defaults 6.0"),
        "config/initializers/mail.rb": "ActionMailer::Base.deliver_later_queue_name = :mailers\n",
    }, "JL601")
    assert [(f.path, f.line) for f in report.findings if f.code == "JL601"] == [("config/initializers/mail.rb", 1)]


def test_a_nil_mail_queue_setting_sends_mail_to_the_default_queue(app_tree):
    report = app_tree({
        **MAIL_APP,
        "config/application.rb": _application("config.load_defaults 6.0"),
        "config/initializers/new_framework_defaults_6_1.rb": (
            "# Rails.application.config.action_mailer.deliver_later_queue_name = :x\n"
            "Rails.application.config.action_mailer.deliver_later_queue_name = nil\n"
        ),
    }, "JL601")
    assert [f.code for f in report.findings if f.code == "JL601"] == []


# -- schedule entries that cannot run --------------------------------------------------------

JOB = "class SweepJob < ApplicationJob\n  retry_on Timeout::Error\n  def perform; end\nend\n"


def test_a_scalar_recurring_entry_is_an_invalid_schedule_at_its_key(app_tree):
    report = app_tree({
        "Gemfile": "",
        "app/jobs/sweep_job.rb": JOB,
        "config/recurring.yml": (
            "shared_note: not a task\n"
            "production:\n  sweep: SweepJob\n  ok:\n    class: SweepJob\n    schedule: every hour\n"
            "  computed: <%= task %>\n"
            "development:\n"
        ),
    })
    assert [(f.code, f.line) for f in report.findings] == [("JL603", 3)]
    flat = app_tree({"Gemfile": "", "app/jobs/sweep_job.rb": JOB, "config/recurring.yml": "sweep: 5\n"})
    assert [(f.code, f.line) for f in flat.findings] == [("JL603", 1)]


def test_a_scheduled_class_that_is_not_a_job_is_reported(app_tree):
    report = app_tree({
        "Gemfile": "",
        "app/jobs/sweep_job.rb": JOB,
        "app/models/application_record.rb": "class ApplicationRecord < ActiveRecord::Base\nend\n",
        "app/models/session.rb": "class Session < ApplicationRecord\n  include Comparable\nend\n",
        "app/services/sweeper.rb": "class Sweeper\n  def self.call; end\nend\n",
        "app/services/gem_based.rb": "class GemBased < Hutch::Consumer\nend\n",
        "app/services/mixed.rb": "class Mixed\n  include Shoryuken::Worker\nend\n",
        "app/services/own_enqueue.rb": "class OwnEnqueue\n  def self.perform_later; end\nend\n",
        "app/services/extended.rb": "class Extended\n  extend Enqueueable\nend\n",
        "app/services/resque_style.rb": "class ResqueStyle\n  class << self\n    def perform; end\n  end\nend\n",
        "app/services/sidekiq_style.rb": "class SidekiqStyle\n  def perform; end\nend\n",
        "app/services/module_style.rb": "module ModuleStyle\n  extend self\n  def perform; end\nend\n",
        "config/schedule.yml": "".join(
            f"{key}:\n  cron: '0 * * * *'\n  class: {name}\n"
            for key, name in [("a", "Session"), ("b", "Sweeper"), ("c", "GemBased"), ("d", "Mixed"),
                              ("e", "OwnEnqueue"), ("f", "Extended"), ("g", "SweepJob"),
                              ("h", "ResqueStyle"), ("i", "SidekiqStyle"), ("j", "ModuleStyle")]
        ),
    })
    found = [(f.code, f.line) for f in report.findings]
    assert found == [("JL602", 3), ("JL602", 6), ("JL602", 27)]  # SidekiqStyle lacks Sidekiq::Job
    assert "not a job" in report.findings[0].message


def test_whenever_runner_naming_a_class_the_project_lacks_is_reported(app_tree):
    report = app_tree({
        "Gemfile": "",
        "Gemfile.lock": "GEM\n  specs:\n    blazer (3.0.0)\n    sitemap_generator (6.3.0)\n",
        "app/jobs/sweep_job.rb": JOB,
        "app/models/report.rb": "class Report\n  def self.refresh; end\nend\n",
        "config/initializers/stats.rb": "module Stats\n  def self.flush; end\nend\nHOOKS = []\n",
        "app/models/point.rb": "Point = Struct.new(:x, :y) do\n  def self.prune; end\nend\n",
        "config/schedule.rb": (
            "every 1.day do\n"
            "  runner \"Reprot.refresh\"\n"
            "  runner \"Report.refresh\"\n"
            "  runner \"Blazer.run_checks(schedule: '1 day')\"\n"
            "  runner \"SitemapGenerator::Interpreter.run\"\n"
            "  runner \"Stats.flush\"\n"
            "  runner \"Rails.cache.cleanup\"\n"
            "  runner \"GC.start\"\n"
            "  runner \"HOOKS.each(&:call)\"\n"
            "  runner \"Point.prune\"\n"
            "  runner \"Report.perform_later\"\n"
            "  runner \"SweepJob.perform_later\"\n"
            "end\n"
        ),
    })
    assert [(f.code, f.line) for f in report.findings] == [("JL602", 2), ("JL602", 11)]


def test_a_gem_excuses_a_namespace_by_its_leading_words_never_by_a_prefix(tmp_path):
    app = app_with(tmp_path, {
        "Gemfile.lock": "GEM\n  specs:\n    useragent (0.16.10)\n    reports_kit (0.7.0)\n    pghero (3.6.0)\n",
        "app/models/reports.rb": "module Reports\nend\n",
    })
    assert not schedules.external_constant("User::PurgeJob", app)
    assert schedules.external_constant("Useragent::Parser", app)
    assert schedules.external_constant("PgHero::CaptureQueryStatsJob", app)
    assert schedules.external_constant("ReportsKit::Model", app)
    assert not schedules.external_constant("Reports::SweepJob", app)  # the project's own


def test_a_scheduled_constant_aliasing_a_job_is_defined(app_tree):
    report = app_tree({
        "Gemfile": "",
        "app/jobs/sweep_job.rb": JOB,
        "app/jobs/old_sweep_worker.rb": "# kept for jobs still queued under the old name\nOldSweepWorker = SweepJob\n",
        "config/schedule.yml": "a:\n  cron: '0 * * * *'\n  class: OldSweepWorker\nb:\n  cron: '0 * * * *'\n  class: OldSweepJob\n",
    })
    assert [(f.code, f.line) for f in report.findings] == [("JL602", 6)]


@pytest.mark.parametrize(("version", "processed"), [("1.1.0", None), ("0.2.0", True)])
def test_a_solid_queue_comma_string_is_one_queue_since_0_2_1(tmp_path, version, processed):
    write_tree(tmp_path, {
        "Gemfile.lock": f"GEM\n  specs:\n    solid_queue ({version})\n",
        "config/application.rb": "module Shop\n  class Application < Rails::Application\n"
                                 "    config.active_job.queue_adapter = :solid_queue\n  end\nend\n",
        "config/queue.yml": "production:\n  workers:\n    - queues: \"default,mailers\"\n",
    })
    config = queues.queue_config(App(tmp_path))
    # Solid Queue >= 0.2.1 reads one queue named `default,mailers`: unknown here (JL608 reports
    # the value); older versions split it
    assert config.processed("default", native_sidekiq=False)[0] is processed
