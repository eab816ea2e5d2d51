"""Native Delayed Job and Resque jobs: which classes (and methods) are jobs, and their queue,
attempts and hooks, as the project model and `joblint jobs` see them."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from joblint.inventory import inventory_app, jobs_command
from joblint.rails.jobs import JobKind
from joblint.rails.native_jobs import NativeJob, native_enqueues_in, native_jobs, racing_enqueues
from joblint.rails.queues import queue_config
from joblint.ruby import descendants

from .conftest import run_tree, write_tree


def lockfile(*gems: str) -> str:
    specs = "".join(f"    {gem} (1.0.0)\n" for gem in gems)
    return f"GEM\n  remote: https://rubygems.org/\n  specs:\n{specs}\nPLATFORMS\n  ruby\n"


DELAYED_JOB_APP = {"Gemfile": "", "Gemfile.lock": lockfile("rails", "delayed_job", "delayed_job_active_record")}
RESQUE_APP = {"Gemfile": "", "Gemfile.lock": lockfile("rails", "resque")}


def native(tmp_path: Path, files: dict[str, str]) -> dict[str, NativeJob]:
    write_tree(tmp_path, files)
    return native_jobs(inventory_app(tmp_path))


def rows(path: Path) -> dict[str, dict]:
    result = CliRunner().invoke(jobs_command, [str(path), "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0
    return {row["name"]: row for row in json.loads(result.output)["jobs"]}


# -- Delayed Job: custom jobs ----------------------------------------------------------------


def test_struct_subclass_enqueued_with_new_is_a_delayed_job_with_the_queue_of_the_call(tmp_path):
    jobs = native(tmp_path, {
        **DELAYED_JOB_APP,
        "app/jobs/welcome_job.rb": (
            "class WelcomeJob < Struct.new(:user_id)\n  def perform\n    User.find(user_id)\n  end\nend\n"
        ),
        "app/controllers/users_controller.rb": (
            "class UsersController < ApplicationController\n  def create\n"
            "    Delayed::Job.enqueue(WelcomeJob.new(1), queue: \"mail\", priority: 3)\n  end\nend\n"
        ),
    })
    job = jobs["WelcomeJob"]
    assert (job.kind, job.path, job.line, job.why) == (
        JobKind.DELAYED_JOB, "app/jobs/welcome_job.rb", 1, "Delayed::Job.enqueue")
    assert (job.queues, job.dynamic_queue, len(job.enqueue_sites)) == (("mail",), False, 1)
    assert job.retry_policy == "max_attempts 25 (Delayed Job default)"


def test_struct_constant_with_a_block_is_a_job_and_its_own_methods_answer(tmp_path):
    jobs = native(tmp_path, {
        **DELAYED_JOB_APP,
        "app/jobs/newsletter_job.rb": (
            "module Mailing\n"
            "  NewsletterJob = Struct.new(:text, :emails) do\n"
            "    def perform; end\n"
            "    def max_attempts\n      3\n    end\n"
            "    def queue_name\n      'newsletters'\n    end\n"
            "    def reschedule_at(time, attempts)\n      time + attempts\n    end\n"
            "    def failure(job); end\n"
            "  end\n"
            "end\n"
        ),
        "lib/tasks/newsletter.rake": (
            "task newsletter: :environment do\n"
            "  job = Mailing::NewsletterJob.new('hi', [])\n  Delayed::Job.enqueue job\nend\n"
        ),
    })
    job = jobs["Mailing::NewsletterJob"]
    assert (job.path, job.line) == ("app/jobs/newsletter_job.rb", 2)
    assert job.queues == ("newsletters",)  # no `queue:` where it is enqueued: its `queue_name`
    assert job.retry_policy == "max_attempts 3"
    assert job.hooks == ("reschedule_at", "failure")
    assert len(job.enqueue_sites) == 1


def test_base_job_enqueueing_self_makes_every_subclass_a_job(tmp_path):
    jobs = native(tmp_path, {
        **DELAYED_JOB_APP,
        "config/initializers/delayed_job.rb": "Delayed::Worker.max_attempts = 5\n",
        "app/jobs/base_job.rb": (
            "class BaseJob\n"
            "  def perform\n    # override in subclass\n  end\n\n"
            "  def enqueue!(options = {})\n    Delayed::Job.enqueue(self, options)\n  end\n\n"
            "  def error(job, exception)\n    Rails.logger.error(exception)\n  end\nend\n"
        ),
        "app/jobs/export/people_job.rb": (
            "module Export\n  class PeopleJob < BaseJob\n    def initialize(ids)\n      @ids = ids\n    end\n\n"
            "    def perform; end\n  end\nend\n"
        ),
        "app/jobs/cleanup_job.rb": (
            "class CleanupJob < BaseJob\n  def perform; end\n"
            "  def max_attempts\n    1\n  end\nend\n"
        ),
        "app/controllers/people_controller.rb": (
            "class PeopleController < ApplicationController\n  def export\n"
            "    Export::PeopleJob.new(params[:ids]).enqueue!\n  end\nend\n"
        ),
        "app/models/person.rb": "class Person < ApplicationRecord\n  def perform; end\nend\n",
    })
    assert set(jobs) == {"BaseJob", "Export::PeopleJob", "CleanupJob"}  # Person is never enqueued
    assert jobs["BaseJob"].abstract and not jobs["Export::PeopleJob"].abstract
    people = jobs["Export::PeopleJob"]
    assert (people.why, len(people.enqueue_sites)) == ("subclass of BaseJob", 1)
    assert people.retry_policy == "max_attempts 5 (Delayed::Worker.max_attempts)"
    assert people.hooks == ("error",)
    assert jobs["CleanupJob"].retry_policy == "max_attempts 1"
    assert len(jobs["CleanupJob"].enqueue_sites) == 0
    assert not people.queues and not people.dynamic_queue


def test_class_method_enqueueing_new_counts_each_call_of_it(tmp_path):
    jobs = native(tmp_path, {
        **DELAYED_JOB_APP,
        "config/initializers/delayed_job.rb": "Delayed::Worker.default_queue_name = 'low'\n",
        "app/jobs/mails/welcome_job.rb": (
            "class Mails::WelcomeJob < Struct.new(:user_id)\n"
            "  def self.create(user_id)\n    Delayed::Job.enqueue(new(user_id))\n  end\n\n"
            "  def perform; end\nend\n"
        ),
        "app/services/signup.rb": (
            "class Signup\n  def call(user)\n    Mails::WelcomeJob.create(user.id)\n"
            "    Mails::WelcomeJob.create(user.id) if user.invited?\n  end\nend\n"
        ),
    })
    job = jobs["Mails::WelcomeJob"]
    assert len(job.enqueue_sites) == 2
    assert job.queues == ("low",)  # `Delayed::Worker.default_queue_name`


def test_payload_object_option_braced_options_and_self_class_new_are_enqueues(tmp_path):
    jobs = native(tmp_path, {
        **DELAYED_JOB_APP,
        "app/jobs/import_job.rb": (
            "class ImportJob < Struct.new(:file)\n  def perform; end\n\n"
            "  def again\n    Delayed::Job.enqueue(self.class.new(file), {:queue => \"imports\"})\n  end\nend\n"
        ),
        "app/controllers/api/uploads_controller.rb": (
            "module Api\n  class UploadsController < ApplicationController\n    def create\n"
            "      Delayed::Job.enqueue(payload_object: ImportJob.new(params[:file]), queue: queue_for(params))\n"
            "    end\n  end\nend\n"
        ),
    })
    job = jobs["ImportJob"]
    assert (job.queues, job.dynamic_queue, len(job.enqueue_sites)) == (("imports",), True, 2)


def test_module_enqueueing_self_makes_the_classes_including_it_jobs(tmp_path):
    jobs = native(tmp_path, {
        **DELAYED_JOB_APP,
        "app/models/concerns/delayable.rb": (
            "module Delayable\n  def schedule\n    Delayed::Job.enqueue(self, queue: 'sync')\n  end\nend\n"
        ),
        "app/models/feed.rb": "class Feed < ApplicationRecord\n  include Delayable\n  def perform; end\nend\n",
    })
    assert set(jobs) == {"Feed"}
    assert (jobs["Feed"].why, jobs["Feed"].queues) == ("includes Delayable", ("sync",))


def test_a_class_with_perform_that_nothing_enqueues_is_not_a_job(tmp_path):
    jobs = native(tmp_path, {
        **DELAYED_JOB_APP,
        "app/jobs/orphan_job.rb": "class OrphanJob < Struct.new(:id)\n  def perform; end\nend\n",
        "app/services/runner.rb": (
            "class Runner\n  def call(job)\n    Delayed::Job.enqueue(job)\n"  # a parameter: unknown
            "    Delayed::Job.enqueue(Gem::Thing.new)\n  end\nend\n"  # not the project's
        ),
    })
    assert jobs == {}


def test_an_activejob_class_is_never_listed_as_a_native_job(tmp_path):
    jobs = native(tmp_path, {
        **DELAYED_JOB_APP,
        "app/jobs/sync_job.rb": "class SyncJob < ApplicationJob\n  def perform; end\nend\n",
        "app/models/user.rb": (
            "class User < ApplicationRecord\n  def sync\n    Delayed::Job.enqueue(SyncJob.new)\n"
            "    SyncJob.delay.perform_now\n  end\nend\n"
        ),
    })
    assert jobs == {}


# -- Delayed Job: handle_asynchronously and delay -----------------------------------------------


def test_handle_asynchronously_makes_the_method_a_job_with_its_queue(tmp_path):
    jobs = native(tmp_path, {
        **DELAYED_JOB_APP,
        "app/models/device.rb": (
            "class Device < ApplicationRecord\n"
            "  def deliver\n    Push.send(token)\n  end\n"
            "  handle_asynchronously :deliver, queue: 'tracking'\n\n"
            "  def register\n    deliver\n  end\n\n"
            "  class << self\n    def ping(id); end\n    handle_asynchronously :ping\n  end\nend\n"
        ),
        "app/controllers/devices_controller.rb": (
            "class DevicesController < ApplicationController\n  def create\n    Device.ping(1)\n  end\nend\n"
        ),
    })
    deliver = jobs["Device#deliver"]
    assert (deliver.kind, deliver.why, deliver.path, deliver.line) == (
        JobKind.DELAYED_JOB, "handle_asynchronously", "app/models/device.rb", 2)
    assert (deliver.queues, len(deliver.enqueue_sites)) == (("tracking",), 1)  # `deliver` in `register`
    ping = jobs["Device.ping"]
    assert (ping.queues, len(ping.enqueue_sites)) == ((), 1)
    assert ping.line == 13  # the handle_asynchronously line: class methods are not indexed


def test_delay_calls_name_the_record_class_or_the_mailer(tmp_path):
    jobs = native(tmp_path, {
        **DELAYED_JOB_APP,
        "app/models/user.rb": "class User < ApplicationRecord\n  def send_digest; end\nend\n",
        "app/mailers/user_mailer.rb": "class UserMailer < ApplicationMailer\n  def welcome(id); end\nend\n",
        "app/controllers/users_controller.rb": (
            "class UsersController < ApplicationController\n  def update\n"
            "    user.delay(queue: :digests).send_digest\n"
            "    UserMailer.delay(run_at: 5.minutes.from_now).welcome(user.id)\n"
            "    retry_delay = settings.delay.to_i\n  end\nend\n"
        ),
    })
    assert set(jobs) == {"User#send_digest", "UserMailer.welcome"}
    assert jobs["User#send_digest"].queues == ("digests",)
    assert (jobs["UserMailer.welcome"].path, jobs["UserMailer.welcome"].line) == ("app/mailers/user_mailer.rb", 2)


def test_delay_is_sidekiqs_when_delayed_job_is_not_locked(tmp_path):
    jobs = native(tmp_path, {
        "Gemfile": "", "Gemfile.lock": lockfile("rails", "sidekiq"),
        "app/mailers/user_mailer.rb": "class UserMailer < ApplicationMailer\n  def welcome(id); end\nend\n",
        "app/models/user.rb": "class User < ApplicationRecord\n  def greet\n    UserMailer.delay.welcome(id)\n  end\nend\n",
    })
    assert jobs == {}


# -- Resque ------------------------------------------------------------------------------------


def test_resque_job_with_queue_and_class_perform_is_listed_with_its_enqueues(tmp_path):
    jobs = native(tmp_path, {
        **RESQUE_APP,
        "app/jobs/report_job.rb": "class ReportJob\n  @queue = :reports\n\n  def self.perform(id); end\nend\n",
        "app/jobs/cleanup_job.rb": "class CleanupJob\n  def self.perform; end\nend\n",
        "app/jobs/idle_job.rb": "class IdleJob\n  @queue = :idle\nend\n",  # no perform: not a job
        "app/controllers/reports_controller.rb": (
            "class ReportsController < ApplicationController\n  def create\n"
            "    Resque.enqueue(ReportJob, 1)\n    Resque.enqueue_to('urgent', CleanupJob)\n"
            "    Resque.enqueue(MissingJob, 2)\n  end\nend\n"
        ),
    })
    assert set(jobs) == {"ReportJob", "CleanupJob"}
    report = jobs["ReportJob"]
    assert (report.kind, report.queues, len(report.enqueue_sites)) == (JobKind.RESQUE, ("reports",), 1)
    assert report.retry_policy == "none (Resque does not retry)"
    assert jobs["CleanupJob"].queues == ("urgent",)


def test_resque_job_create_and_a_class_queue_method(tmp_path):
    jobs = native(tmp_path, {
        **RESQUE_APP,
        "app/jobs/export_job.rb": (
            "class ExportJob\n  class << self\n    def queue\n      :exports\n    end\n\n"
            "    def perform(id); end\n  end\nend\n"
        ),
        "lib/tasks/export.rake": "task export: :environment do\n  Resque::Job.create(:exports, ExportJob, 1)\nend\n",
    })
    assert (jobs["ExportJob"].queues, len(jobs["ExportJob"].enqueue_sites)) == (("exports",), 1)


def test_queue_ivar_with_perform_from_a_concern_is_a_resque_job(tmp_path):
    jobs = native(tmp_path, {
        **RESQUE_APP,
        "app/models/concerns/async_with_resque.rb": (
            "module AsyncWithResque\n  extend ActiveSupport::Concern\n\n"
            "  class_methods do\n    def async(method, *args)\n      Resque.enqueue(self, method, *args)\n    end\n\n"
            "    def perform(method, *args)\n      send(method, *args)\n    end\n  end\nend\n"
        ),
        "app/models/work.rb": "class Work < ApplicationRecord\n  include AsyncWithResque\n  @queue = :utilities\nend\n",
        "app/models/tag.rb": "class Tag < ApplicationRecord\n  include AsyncWithResque\nend\n",
    })
    assert jobs["Work"].queues == ("utilities",)
    assert jobs["Tag"].why == "includes AsyncWithResque"
    assert not jobs["Tag"].queues and not jobs["Tag"].dynamic_queue  # Resque raises NoQueueError


def test_resque_retry_plugins_set_the_retry_policy(tmp_path):
    jobs = native(tmp_path, {
        **RESQUE_APP,
        "app/jobs/webhook_job.rb": (
            "class WebhookJob\n  extend Resque::Plugins::Retry\n  @queue = :hooks\n  @retry_limit = 5\n\n"
            "  def self.perform(url); end\nend\n"
        ),
        "app/jobs/sms_job.rb": (
            "class SmsJob\n  extend Resque::Plugins::ExponentialBackoff\n  @queue = :sms\n\n"
            "  def self.perform(number); end\nend\n"
        ),
        "app/jobs/mail_job.rb": "class MailJob < SmsJob\n  @queue = :mail\nend\n",
    })
    assert jobs["WebhookJob"].retry_policy == "resque-retry: retry_limit 5"
    assert jobs["SmsJob"].retry_policy == "resque-retry: retry_limit 6"
    assert jobs["MailJob"].retry_policy == "resque-retry: retry_limit 6"  # extended by the superclass


def test_resque_scheduler_entries_name_their_jobs(tmp_path):
    jobs = native(tmp_path, {
        **RESQUE_APP,
        "config/resque_schedule.yml": (
            "reindex:\n  cron: '0 * * * *'\n  class: ReindexJob\n  queue: utilities\n"
            "ScheduledTagJob:\n  every: 1h\n"
        ),
        "app/jobs/reindex_job.rb": "class ReindexJob\n  def self.perform; end\nend\n",
        "app/jobs/scheduled_tag_job.rb": "class ScheduledTagJob\n  def self.perform; end\nend\n",
    })
    assert jobs["ReindexJob"].schedules == ("resque_scheduler:reindex",)
    assert jobs["ReindexJob"].queues == ("utilities",)
    assert jobs["ScheduledTagJob"].why == "resque-scheduler"  # the entry's name is the class


# -- the inventory and the rules -----------------------------------------------------------------


def test_jobs_command_lists_native_jobs_with_backend_queue_and_retry_policy(tmp_path):
    write_tree(tmp_path, {
        **DELAYED_JOB_APP,
        "app/jobs/base_job.rb": "class BaseJob\n  def enqueue!\n    Delayed::Job.enqueue(self)\n  end\nend\n",
        "app/jobs/sync_job.rb": "class SyncJob < BaseJob\n  def perform; end\n  def error(job, e); end\nend\n",
        "app/jobs/report_job.rb": "class ReportJob\n  @queue = :reports\n  def self.perform; end\nend\n",
        "app/controllers/sync_controller.rb": "class SyncController\n  def create\n    Resque.enqueue(ReportJob)\n  end\nend\n",
    })
    table = rows(tmp_path)
    assert set(table) == {"BaseJob", "SyncJob", "ReportJob"}
    sync = table["SyncJob"]
    assert (sync["backend"], sync["queue"], sync["queue_unnamed"], sync["retry_policy"], sync["hooks"]) == (
        "delayed_job", None, True, "max_attempts 25 (Delayed Job default)", ["error"])
    assert table["BaseJob"]["abstract"] is True
    report = table["ReportJob"]
    assert (report["backend"], report["queue"], report["enqueue_sites"]) == ("resque", "reports", 1)
    text = CliRunner().invoke(jobs_command, [str(tmp_path)]).output
    assert "Delayed Job" in text and "(none)" in text and "error hook" in text and "3 job classes" in text


def test_the_job_model_classifies_by_ancestry_only(tmp_path):
    write_tree(tmp_path, {
        **DELAYED_JOB_APP,
        "app/jobs/sync_job.rb": "class SyncJob < Struct.new(:id)\n  def perform; end\nend\n",
        "app/models/user.rb": "class User < ApplicationRecord\n  def sync\n    Delayed::Job.enqueue(SyncJob.new(id))\n  end\nend\n",
    })
    app = inventory_app(tmp_path)
    assert "SyncJob" in native_jobs(app)
    assert app.jobs.kind("SyncJob") is None  # known from its enqueue: `job_kind_at` answers



# -- "in a job" --------------------------------------------------------------------------------


def kinds_at(tmp_path: Path, files: dict[str, str], path: str) -> dict[str, JobKind | None]:
    """The job kind `App.job_kind_at` gives the first call of each method in one file."""
    write_tree(tmp_path, files)
    app = inventory_app(tmp_path)
    source = app.source(tmp_path / path)
    kinds = {}
    for method in descendants(source.root, {"method", "singleton_method"}):
        name = method.child_by_field_name("name").text.decode()
        kinds.setdefault(name, app.job_kind_at(source, method.child_by_field_name("name")))
    return kinds


def test_only_the_perform_of_a_resque_model_runs_in_the_job(tmp_path):
    kinds = kinds_at(tmp_path, {
        **RESQUE_APP,
        "app/models/work.rb": (
            "class Work < ApplicationRecord\n  @queue = :utilities\n\n"
            "  def self.perform(id)\n    find(id).reindex\n  end\n\n  def reindex; end\nend\n"
        ),
    }, "app/models/work.rb")
    assert kinds == {"perform": JobKind.RESQUE, "reindex": None}  # never the whole model


def test_a_concerns_class_level_perform_runs_in_the_job_of_each_model_including_it(tmp_path):
    kinds = kinds_at(tmp_path, {
        **RESQUE_APP,
        "app/models/concerns/async_with_resque.rb": (
            "module AsyncWithResque\n  extend ActiveSupport::Concern\n  class_methods do\n"
            "    def perform(method, *args)\n      send(method, *args)\n    end\n\n"
            "    def async(method, *args)\n      Resque.enqueue(self, method, *args)\n    end\n"
            "  end\nend\n"
        ),
        "app/models/work.rb": "class Work < ApplicationRecord\n  include AsyncWithResque\n  @queue = :utilities\nend\n",
    }, "app/models/concerns/async_with_resque.rb")
    assert kinds == {"perform": JobKind.RESQUE, "async": None}


def test_a_delayed_job_class_outside_app_jobs_and_a_delayed_method_run_in_the_job(tmp_path):
    files = {
        **DELAYED_JOB_APP,
        "app/services/sync/run.rb": (
            "module Sync\n  Run = Struct.new(:id) do\n    def perform\n      work\n    end\n\n"
            "    def work; end\n  end\nend\n"
        ),
        "app/models/device.rb": (
            "class Device < ApplicationRecord\n  def notify(text); end\n"
            "  handle_asynchronously :notify\n\n  def register\n    Delayed::Job.enqueue(Sync::Run.new(id))\n"
            "  end\nend\n"
        ),
    }
    assert kinds_at(tmp_path, files, "app/services/sync/run.rb") == {
        "perform": JobKind.DELAYED_JOB, "work": JobKind.DELAYED_JOB}
    assert kinds_at(tmp_path, files, "app/models/device.rb") == {
        "notify": JobKind.DELAYED_JOB, "register": None}


def test_apps_on_other_backends_do_not_look_for_native_jobs(tmp_path):
    kinds = kinds_at(tmp_path, {
        "Gemfile": "", "Gemfile.lock": lockfile("rails", "sidekiq"),
        "app/models/work.rb": "class Work < ApplicationRecord\n  @queue = :x\n  def self.perform; end\nend\n",
    }, "app/models/work.rb")
    assert kinds == {"perform": None}


# -- enqueues ------------------------------------------------------------------------------------


def test_enqueues_carry_the_values_their_job_serialises(tmp_path):
    write_tree(tmp_path, {
        **DELAYED_JOB_APP,
        "app/jobs/struct_job.rb": "class StructJob < Struct.new(:user, :note)\n  def perform; end\nend\n",
        "app/jobs/ids_job.rb": (
            "class IdsJob\n  def initialize(user, note)\n    @user_id = user.id\n    @note = note\n  end\n"
            "  def perform; end\nend\n"
        ),
        "app/jobs/own_yaml_job.rb": (
            "class OwnYamlJob\n  def initialize(user)\n    @user = user\n  end\n"
            "  def encode_with(coder)\n    coder['user_id'] = @user.id\n  end\n  def perform; end\nend\n"
        ),
        "app/models/user.rb": (
            "class User < ApplicationRecord\n  def later\n"
            "    Delayed::Job.enqueue(StructJob.new(self, 'a'), queue: 'low')\n"
            "    Delayed::Job.enqueue(IdsJob.new(self, 'b'))\n"
            "    Delayed::Job.enqueue(OwnYamlJob.new(self))\n  end\nend\n"
        ),
    })
    app = inventory_app(tmp_path)
    enqueues = native_enqueues_in(app, app.source(tmp_path / "app/models/user.rb"))
    kept = {e.job: [a.text.decode() for a in e.arguments] for e in enqueues}
    assert kept == {"StructJob": ["self", "'a'"], "IdsJob": ["'b'"], "OwnYamlJob": []}
    assert [e.queue.text.decode() for e in enqueues if e.queue is not None] == ["'low'"]


def test_resque_enqueues_race_the_transaction_and_delayed_jobs_active_record_ones_do_not(tmp_path):
    files = {
        "app/models/user.rb": (
            "class User < ApplicationRecord\n  def later\n    Resque.enqueue(ReportJob, id)\n"
            "    delay.refresh\n  end\n  def refresh; end\nend\n"
        ),
    }
    write_tree(tmp_path / "ar", {"Gemfile": "", "Gemfile.lock": lockfile(
        "rails", "resque", "delayed_job", "delayed_job_active_record"), **files})
    write_tree(tmp_path / "mongo", {"Gemfile": "", "Gemfile.lock": lockfile(
        "rails", "resque", "delayed_job", "delayed_job_mongoid"), **files})
    on_ar = [e.kind for e in racing_enqueues(inventory_app(tmp_path / "ar"))]
    on_mongoid = sorted(e.kind.value for e in racing_enqueues(inventory_app(tmp_path / "mongo")))
    assert on_ar == [JobKind.RESQUE]
    assert on_mongoid == ["delayed_job", "resque"]


# -- worker queue lists --------------------------------------------------------------------------


def worker_lists(tmp_path: Path, files: dict[str, str]) -> tuple[str | None, str | None]:
    write_tree(tmp_path, files)
    config = queue_config(inventory_app(tmp_path))
    return tuple(w.describe() if w is not None else None for w in (config.delayed_job, config.resque))


def test_delayed_job_worker_lists_from_env_rake_arguments_flags_and_compose(tmp_path):
    both = {"Gemfile": "", "Gemfile.lock": lockfile("rails", "delayed_job", "resque")}
    assert worker_lists(tmp_path / "a", {
        **both,
        "Procfile": "worker: QUEUES=mail,default bundle exec rake jobs:work\n"
                    "low: bundle exec rake jobs:work QUEUE=low\n"
                    "pool: bin/delayed_job --pool=imports,exports:2 --queues=x run\n"
                    "resque: QUEUE=critical,default bundle exec rake resque:work\n",
        "docker-compose.yml": "services:\n  worker:\n    command: bundle exec rake jobs:work\n"
                              "    environment:\n      QUEUES: compose\n",
    }) == ("Procfile, docker-compose.yml: compose, default, exports, imports, low, mail, x",
           "Procfile: critical, default")
    assert worker_lists(tmp_path / "b", {
        **both, "Procfile": "worker: bundle exec rake jobs:work\nr: QUEUE=* rake resque:work\n",
        "config/resque-pool.yml": "production:\n  'a,b': 2\n",
    }) == ("Procfile: *", "Procfile, config/resque-pool.yml: *")


def test_worker_lists_are_unknown_when_they_come_from_elsewhere(tmp_path):
    both = {"Gemfile": "", "Gemfile.lock": lockfile("rails", "delayed_job", "resque")}
    unknown = (None, None)
    assert worker_lists(tmp_path / "env", {
        **both, "Procfile": "w: QUEUES=$DJ_QUEUES rake jobs:work\nr: rake resque:work\n",
    }) == unknown  # a list from the environment; a Resque worker reads QUEUE from outside
    assert worker_lists(tmp_path / "envfile", {
        **both,
        "docker-compose.yml": "services:\n  worker:\n    command: rake jobs:work\n    env_file: .env\n",
    }) == unknown
    assert worker_lists(tmp_path / "ruby", {
        **both, "Procfile": "w: QUEUES=a rake jobs:work\nr: QUEUE=a rake resque:work\n",
        "config/initializers/delayed_job.rb": "Delayed::Worker.queues = %w[a b]\n",
        "lib/tasks/resque.rake": "task 'resque:setup' => :environment do\n  ENV['QUEUE'] ||= '*'\nend\n",
    }) == unknown
    assert worker_lists(tmp_path / "setup", {
        **both, "Procfile": "r: QUEUE=a rake resque:work\n",
        "lib/tasks/resque.rake": "task 'resque:setup' => :environment do\n  ENV['QUEUE'] = '*'\nend\n",
    }) == unknown  # the rake task overrides the command line's list
    assert worker_lists(tmp_path / "deploy", {
        **both, "Procfile": "w: QUEUES=a rake jobs:work\nr: QUEUE=a rake resque:work\n",
        "config/deploy.rb": "set :delayed_job_args, '-n 2'\nafter 'deploy', 'resque:restart'\n",
    }) == unknown
    assert worker_lists(tmp_path / "none", {**both, "Procfile": "web: rails s\n"}) == unknown


# -- the rules -----------------------------------------------------------------------------------


def findings_of(tmp_path: Path, files: dict[str, str], *codes: str) -> list[tuple[str, int, str]]:
    write_tree(tmp_path, files)
    report = run_tree(tmp_path, codes)
    return sorted((f.code, f.line, f.message) for f in report.findings if f.code in codes)


def test_jl302_reports_resque_in_a_transaction_but_not_delayed_jobs_active_record_backend(tmp_path):
    found = findings_of(tmp_path, {
        "Gemfile": "", "Gemfile.lock": lockfile("rails", "resque", "delayed_job", "delayed_job_active_record"),
        "app/jobs/report_job.rb": "class ReportJob\n  @queue = :reports\n  def self.perform(id); end\nend\n",
        "app/models/order.rb": (
            "class Order < ApplicationRecord\n  def pay!\n    transaction do\n      update!(paid: true)\n"
            "      Resque.enqueue(ReportJob, id)\n      Resque.enqueue_in(10.minutes, ReportJob, id)\n"
            "      delay.notify_buyer\n      Delayed::Job.enqueue(ReceiptJob.new(id))\n    end\n"
            "    Resque.enqueue(ReportJob, id)\n  end\n\n  def notify_buyer; end\nend\n"
        ),
    }, "JL302")
    assert found == [("JL302", 5, (
        "`Resque.enqueue` inside `transaction`: the work can start before the commit, or after a "
        "rollback (Resque pushes the job to Redis at once)"))]


def test_jl303_reports_a_resque_enqueue_in_a_save_callback(tmp_path):
    found = findings_of(tmp_path, {
        **RESQUE_APP,
        "app/models/user.rb": (
            "class User < ApplicationRecord\n  after_create :index\n  after_create_commit :welcome\n\n"
            "  def index\n    Resque.enqueue_to(:search, IndexJob, id)\n  end\n\n"
            "  def welcome\n    Resque.enqueue(WelcomeJob, id)\n  end\nend\n"
        ),
    }, "JL303")
    assert [(code, line) for code, line, _ in found] == [("JL303", 6)]
    assert "`Resque.enqueue_to` in `User#index` runs inside the save transaction" in found[0][2]


def test_jl204_names_what_each_native_backend_loses(tmp_path):
    found = findings_of(tmp_path, {
        "Gemfile": "", "Gemfile.lock": lockfile("rails", "resque", "delayed_job"),
        "app/services/report.rb": (
            "class Report\n  @queue = :reports\n  def self.perform(id)\n    run(id)\n"
            "  rescue Exception => e\n    log(e)\n  end\nend\n"
        ),
        "app/services/sync_job.rb": (
            "SyncJob = Struct.new(:id) do\n  def perform\n    run\n  rescue Exception\n    nil\n  end\nend\n"
        ),
        "app/models/user.rb": (
            "class User < ApplicationRecord\n  def sync\n    Delayed::Job.enqueue(SyncJob.new(id))\n"
            "    Resque.enqueue(Report, id)\n  end\nend\n"
        ),
    }, "JL204")
    messages = [message for _, _, message in found]
    assert len(messages) == 2
    assert any("`Resque::TermException`" in m and "a deploy restart loses the job" in m for m in messages)
    assert any("Delayed Job marks the job done and never retries it" in m for m in messages)


def test_jl101_and_jl102_on_resque_arguments(tmp_path):
    found = findings_of(tmp_path, {
        **RESQUE_APP,
        "app/models/user.rb": "class User < ApplicationRecord\nend\n",
        "app/controllers/users_controller.rb": (
            "class UsersController < ApplicationController\n  def create\n"
            "    user = User.find(params[:id])\n"
            "    Resque.enqueue(WelcomeJob, user, :welcome, Time.current)\n  end\nend\n"
        ),
    }, "JL101", "JL102")
    assert [(code, line) for code, line, _ in found] == [("JL101", 4), ("JL102", 4)]
    assert "Resque stores arguments as JSON, so the job gets a string" in found[0][2]
    assert found[1][2] == ("`Time.current` is a time, not a native JSON type: Resque's JSON hands "
                           "`perform` a string")  # the symbol arrives as its name: not reported


def test_jl601_checks_native_queues_against_the_visible_workers(tmp_path):
    found = findings_of(tmp_path, {
        **RESQUE_APP,
        "Procfile": "worker: QUEUE=critical bundle exec rake resque:work\n",
        "app/jobs/report_job.rb": "class ReportJob\n  @queue = :reports\n  def self.perform(id); end\nend\n",
    }, "JL601")
    assert found == [("JL601", 2, (
        "Queue `reports` is not processed by any configured worker (Procfile: critical)"))]


def test_class_level_declarations_are_read_from_the_files_of_the_classes_asked_about(
    tmp_path, monkeypatch
):
    """The declarations of a class that no enqueue, `@queue` or `handle_asynchronously` makes a
    job are never asked for, and its file is not parsed for them; a class reopened in two files
    takes its declarations in the model files' order (the later `def self.queue` wins)."""
    from joblint.rails import native_jobs as module

    read: list[str] = []
    original = module._Builder._class_level_parts
    monkeypatch.setattr(
        module._Builder, "_class_level_parts",
        lambda self, source: read.append(source.relpath) or original(self, source),
    )
    jobs = native(tmp_path, {
        **RESQUE_APP,
        "app/jobs/export_job.rb": (
            "class ExportJob\n  def self.queue\n    :slow\n  end\n\n  def self.perform(id); end\nend\n"
        ),
        "lib/export_job_queue.rb": "class ExportJob\n  def self.queue\n    :exports\n  end\nend\n",
        "app/models/report.rb": (
            "class Report < ApplicationRecord\n  extend Reporting\n\n  def self.perform; end\nend\n"
        ),
        "app/controllers/exports_controller.rb": (
            "class ExportsController < ApplicationController\n"
            "  def create\n    Resque.enqueue(ExportJob, 1)\n  end\nend\n"
        ),
    })
    assert jobs["ExportJob"].queues == ("exports",)
    assert "Report" not in jobs
    assert "app/models/report.rb" not in read
    assert {"app/jobs/export_job.rb", "lib/export_job_queue.rb"} <= set(read)
