"""Project rules on mini apps: version- and config-dependent behaviour, and the false positives
found on real apps, kept fixed."""

from __future__ import annotations

from joblint.findings import Severity

RAILS_82 = {
    "Gemfile.lock": "GEM\n  specs:\n    rails (8.2.0)\n    sidekiq (8.0.1)\n",
    "config/application.rb": (
        "module Shop\n  class Application < Rails::Application\n"
        "    config.load_defaults 8.2\n  end\nend\n"
    ),
}
RAILS_71 = {"Gemfile.lock": "GEM\n  specs:\n    rails (7.1.3)\n    sidekiq (7.2.0)\n"}
CHECKOUT = {
    "app/services/checkout.rb": (
        "class Checkout\n"
        "  def call(order)\n"
        "    Order.transaction do\n"
        "      FulfilJob.perform_later(order.id)\n"
        "      LedgerWorker.perform_async(order.id)\n"
        "      OrderMailer.with(id: order.id).paid.deliver_later\n"
        "      order.update!(state: \"paid\")\n"
        "    end\n"
        "  end\n"
        "end\n"
    )
}


# JL302 and JL303 are off by default: these tests turn them on


def found(report, code):
    return sorted((f.path, f.line) for f in report.findings if f.code == code)


def test_rails_8_2_defers_perform_later_in_a_transaction_but_not_perform_async(app_tree):
    report = app_tree({**RAILS_82, **CHECKOUT}, "JL302", "JL303")
    assert found(report, "JL302") == [("app/services/checkout.rb", 5)]


def test_rails_7_1_defers_nothing(app_tree):
    report = app_tree({**RAILS_71, **CHECKOUT}, "JL302", "JL303")
    assert found(report, "JL302") == [("app/services/checkout.rb", n) for n in (4, 5, 6)]
    messages = {f.line: f.message for f in report.findings if f.code == "JL302"}
    assert "Rails 7.1.3 does not defer it" in messages[4]
    assert "Sidekiq enqueues immediately" in messages[5]


def test_a_job_that_opts_out_of_deferral_is_reported_even_on_rails_8_2(app_tree):
    jobs = {
        "app/jobs/application_job.rb": (
            "class ApplicationJob < ActiveJob::Base\n  discard_on ActiveJob::DeserializationError\nend\n"
        ),
        "app/jobs/fulfil_job.rb": (
            "class FulfilJob < ApplicationJob\n"
            "  self.enqueue_after_transaction_commit = false\n"
            "  def perform(id); end\n"
            "end\n"
        ),
        "app/workers/ledger_worker.rb": (
            "class LedgerWorker\n  include Sidekiq::Job\n  def perform(id); end\nend\n"
        ),
    }
    report = app_tree({**RAILS_82, **CHECKOUT, **jobs}, "JL302", "JL303")
    assert found(report, "JL302") == [
        ("app/services/checkout.rb", 4),
        ("app/services/checkout.rb", 5),
    ]


def test_enqueues_in_after_commit_blocks_and_lambdas_inside_a_transaction_are_not_reported(
    app_tree,
):
    code = (
        "class Checkout\n"
        "  def call(order)\n"
        "    order.with_lock do\n"
        "      order.after_commit { FulfilJob.perform_later(order.id) }\n"
        "      @later = -> { FulfilJob.perform_later(order.id) }\n"
        "    end\n"
        "  end\n"
        "end\n"
    )
    report = app_tree({**RAILS_71, "app/services/checkout.rb": code}, "JL302", "JL303")
    assert found(report, "JL302") == []


def test_save_callbacks_follow_the_same_version_awareness(app_tree):
    model = (
        "class User < ApplicationRecord\n"
        "  after_create :welcome\n"
        "  def welcome\n"
        "    WelcomeJob.perform_later(id)\n"
        "    CrmWorker.perform_async(id)\n"
        "  end\n"
        "end\n"
    )
    on_82 = app_tree({**RAILS_82, "app/models/user.rb": model}, "JL302", "JL303")
    assert found(on_82, "JL303") == [("app/models/user.rb", 5)]


def test_save_callbacks_on_non_models_are_not_read(app_tree):
    code = "class Builder\n  after_save { SyncWorker.perform_async(1) }\nend\n"
    assert found(app_tree({"app/services/builder.rb": code}, "JL302", "JL303"), "JL303") == []


def test_arity_ignores_a_splat_that_carries_the_schedule(app_tree):
    files = {
        "app/workers/ping_worker.rb": (
            "class PingWorker\n  include Sidekiq::Job\n  def perform(id, url); end\nend\n"
        ),
        "app/services/ping.rb": (
            "class Ping\n"
            "  def call\n"
            "    args = [5.seconds, 1, 'u']\n"
            "    PingWorker.perform_in(*args)\n"
            "    PingWorker.perform_in(5.seconds, 1)\n"
            "  end\n"
            "end\n"
        ),
    }
    report = app_tree(files)
    assert found(report, "JL106") == [("app/services/ping.rb", 5)]
    [finding] = [f for f in report.findings if f.code == "JL106"]
    assert finding.severity is Severity.ERROR
    assert "1 argument given, 2 expected" in finding.message


def test_arity_points_at_an_unknown_keyword(app_tree):
    files = {
        "app/jobs/mail_job.rb": (
            "class MailJob < ApplicationJob\n"
            "  discard_on ActiveJob::DeserializationError\n"
            "  def perform(id, force: false); end\n"
            "end\n"
        ),
        "app/services/x.rb": "class X\n  def call\n    MailJob.perform_later(1, forse: true)\n  end\nend\n",
    }
    [finding] = [f for f in app_tree(files).findings if f.code == "JL106"]
    assert (finding.line, finding.column) == (3, 30)
    assert "unknown keyword `forse:`" in finding.message


MAILER_APP = {
    "app/mailers/application_mailer.rb": "class ApplicationMailer < ActionMailer::Base\nend\n",
    "app/mailers/marketing_mailer.rb": (
        "class MarketingMailer < ApplicationMailer\n"
        "  def onboarding(user_id)\n"
        "    mail(to: 'x@example.com')\n"
        "  end\n"
        "end\n"
    ),
    "app/views/marketing_mailer/onboarding.text.erb": "hi\n",
}


def test_object_send_on_a_mailer_is_not_an_unknown_action(app_tree):
    code = (
        "class Onboarding\n"
        "  def call(message, user)\n"
        "    MarketingMailer.send(message, user.id).deliver\n"
        "    MarketingMailer.onbording(user.id).deliver_later\n"
        "  end\n"
        "end\n"
    )
    report = app_tree({**MAILER_APP, "app/services/onboarding.rb": code})
    assert found(report, "JL404") == [("app/services/onboarding.rb", 4)]


def test_mailer_arity_counts_the_action_arguments_not_with_params(app_tree):
    code = (
        "class Onboarding\n"
        "  def call(user)\n"
        "    MarketingMailer.with(a: 1, b: 2).onboarding(user.id).deliver_later\n"
        "    MarketingMailer.onboarding.deliver_later\n"
        "  end\n"
        "end\n"
    )
    report = app_tree({**MAILER_APP, "app/services/onboarding.rb": code})
    assert found(report, "JL405") == [("app/services/onboarding.rb", 4)]


def test_a_base_mailer_action_may_find_its_template_under_a_subclass(app_tree):
    files = {
        "app/mailers/application_mailer.rb": "class ApplicationMailer < ActionMailer::Base\nend\n",
        "app/mailers/notice_mailer.rb": (
            "class NoticeMailer < ApplicationMailer\n"
            "  def notice\n    mail(to: 'x@example.com')\n  end\n"
            "  def orphan\n    mail(to: 'x@example.com')\n  end\n"
            "end\n"
        ),
        "app/mailers/billing_notice_mailer.rb": "class BillingNoticeMailer < NoticeMailer\nend\n",
        "app/views/billing_notice_mailer/notice.html.erb": "<p>hi</p>\n",
    }
    report = app_tree(files)
    assert found(report, "JL403") == [("app/mailers/notice_mailer.rb", 5)]


def test_missing_template_is_silent_without_app_views(app_tree):
    files = {
        "app/mailers/application_mailer.rb": "class ApplicationMailer < ActionMailer::Base\nend\n",
        "app/mailers/notice_mailer.rb": (
            "class NoticeMailer < ApplicationMailer\n  def notice\n    mail(to: 'x')\n  end\nend\n"
        ),
    }
    assert found(app_tree(files), "JL403") == []


def test_n_plus_one_ignores_collection_reads_that_query_anyway(app_tree):
    files = {
        "app/models/rate.rb": "class Rate < ApplicationRecord\n  has_many :purchases\nend\n",
        "app/jobs/report_job.rb": (
            "class ReportJob < ApplicationJob\n"
            "  discard_on ActiveJob::DeserializationError\n"
            "  def perform\n"
            "    Rate.find_each do |rate|\n"
            "      rate.purchases.where(state: 'paid').sum(:cents)\n"
            "      rate.purchases.pluck(:id)\n"
            "      rate.purchases.sum(:cents)\n"
            "      rate.purchases.each { |p| puts p }\n"
            "    end\n"
            "  end\n"
            "end\n"
        ),
    }
    assert found(app_tree(files, "JL506"), "JL506") == [("app/jobs/report_job.rb", 8)]


def test_n_plus_one_only_runs_in_jobs_and_respects_nested_rebinding(app_tree):
    files = {
        "app/models/post.rb": "class Post < ApplicationRecord\n  belongs_to :author\nend\n",
        "app/jobs/digest_job.rb": (
            "class DigestJob < ApplicationJob\n"
            "  discard_on ActiveJob::DeserializationError\n"
            "  def perform(posts)\n"
            "    Post.find_each do |post|\n"
            "      posts.each { |post| puts post.author }\n"
            "    end\n"
            "  end\n"
            "end\n"
        ),
    }
    assert found(app_tree(files), "JL506") == []


def test_subclass_override_of_the_same_exception_is_deliberate(app_tree):
    files = {
        "app/jobs/application_job.rb": (
            "class ApplicationJob < ActiveJob::Base\n"
            "  retry_on ActiveRecord::Deadlocked\n"
            "  retry_on Net::ReadTimeout\n"
            "end\n"
        ),
        "app/jobs/a_job.rb": (
            "class AJob < ApplicationJob\n  discard_on ActiveRecord::Deadlocked\n  def perform; end\nend\n"
        ),
        "app/jobs/b_job.rb": (
            "class BJob < ApplicationJob\n  discard_on StandardError\n  def perform; end\nend\n"
        ),
    }
    report = app_tree(files)
    assert found(report, "JL205") == [("app/jobs/b_job.rb", 2)]
    [finding] = [f for f in report.findings if f.code == "JL205"]
    assert "`ApplicationJob`'s `retry_on ActiveRecord::Deadlocked`" in finding.message
    assert "`ApplicationJob`'s `retry_on Net::ReadTimeout`" in finding.message


def test_shadowing_by_a_project_exception_class(app_tree):
    files = {
        "app/errors/vendor_error.rb": "class VendorError < StandardError; end\n"
        "class VendorTimeout < VendorError; end\n",
        "app/jobs/sync_job.rb": (
            "class SyncJob < ApplicationJob\n"
            "  retry_on VendorTimeout\n"
            "  discard_on VendorError\n"
            "  retry_on Gem::Unknown\n"
            "  discard_on StandardError\n"
            "  def perform; end\n"
            "end\n"
        ),
    }
    report = app_tree(files)
    assert found(report, "JL205") == [("app/jobs/sync_job.rb", 2), ("app/jobs/sync_job.rb", 3)]


def test_mixed_retries_need_the_sidekiq_adapter(app_tree):
    job = (
        "class SyncJob < ApplicationJob\n"
        "  sidekiq_options retry: 3\n"
        "  retry_on Timeout::Error\n"
        "  def perform; end\n"
        "end\n"
    )
    assert found(app_tree({"app/jobs/sync_job.rb": job}), "JL208") == []


def test_mail_delivery_gap_is_closed_by_an_active_job_on_load_block(app_tree):
    files = {
        "Gemfile.lock": "GEM\n  specs:\n    solid_queue (1.1.0)\n",  # failures are final
        "app/jobs/application_job.rb": (
            "class ApplicationJob < ActiveJob::Base\n  retry_on Timeout::Error\nend\n"
        ),
        "app/services/x.rb": "class X\n  def call = UserMailer.hi.deliver_later\nend\n",
    }
    assert found(app_tree(files), "JL209") == [("app/jobs/application_job.rb", 1)]
    initializer = "ActiveSupport.on_load(:active_job) do\n  retry_on Timeout::Error\nend\n"
    closed = app_tree({**files, "config/initializers/jobs.rb": initializer})
    assert found(closed, "JL209") == []


def test_mail_delivery_gap_is_not_reported_where_the_backend_retries(app_tree):
    files = {
        "Gemfile.lock": "GEM\n  specs:\n    sidekiq (7.3.0)\n",
        "app/jobs/application_job.rb": (
            "class ApplicationJob < ActiveJob::Base\n  retry_on Timeout::Error\nend\n"
        ),
        "app/services/x.rb": "class X\n  def call = UserMailer.hi.deliver_later\nend\n",
    }
    assert found(app_tree(files), "JL209") == []


def test_untested_job_is_off_by_default_and_skips_jobs_defined_in_tests(app_tree):
    files = {
        "app/workers/hard_worker.rb": (
            "class HardWorker\n  include Sidekiq::Job\n  def perform; end\nend\n"
        ),
        "spec/spec_helper.rb": "# rspec\n",
        "spec/workers/other_spec.rb": (
            "class FakeWorker\n  include Sidekiq::Job\n  def perform; end\nend\n"
        ),
    }
    assert found(app_tree(files), "JL704") == []
    assert found(app_tree(files, "JL704"), "JL704") == [("app/workers/hard_worker.rb", 1)]


def test_untested_job_accepts_a_test_that_mirrors_the_path_under_app(app_tree):
    files = {
        "app/commands/cache_counts.rb": (
            "class CacheCounts < ApplicationJob\n"
            "  discard_on ActiveJob::DeserializationError\n"
            "  def perform; end\n"
            "end\n"
        ),
        "test/commands/cache_counts_test.rb": "# minitest\n",
    }
    assert found(app_tree(files, "JL704"), "JL704") == []


def test_missing_template_skips_helpers_and_searches_view_paths_inside_app_views(app_tree):
    files = {
        "app/mailers/application_mailer.rb": (
            "class ApplicationMailer < ActionMailer::Base\n"
            '  append_view_path Rails.root.join("app/views/mailers")\n'
            "  def mail_to(email)\n"
            "    mail(to: email)\n"
            "  end\n"
            "end\n"
        ),
        "app/mailers/notice_mailer.rb": (
            "class NoticeMailer < ApplicationMailer\n"
            "  def notice\n    mail_to('x')\n  end\n"
            "  def direct\n    mail(to: 'x')\n  end\n"
            "  def lost\n    mail(to: 'x')\n  end\n"
            "end\n"
        ),
        "app/views/mailers/notice_mailer/direct.html.erb": "<p>direct</p>\n",
    }
    assert found(app_tree(files), "JL403") == [("app/mailers/notice_mailer.rb", 8)]


def test_a_class_method_of_the_mailer_is_not_an_unknown_action(app_tree):
    mailer = MAILER_APP["app/mailers/marketing_mailer.rb"].replace(
        "class MarketingMailer < ApplicationMailer\n",
        "class MarketingMailer < ApplicationMailer\n  def self.digest(id) = with(id:).onboarding(id)\n",
    )
    code = "class X\n  def call = MarketingMailer.digest(1).deliver_later\nend\n"
    files = {**MAILER_APP, "app/mailers/marketing_mailer.rb": mailer, "app/services/x.rb": code}
    report = app_tree(files)
    assert found(report, "JL404") == [] and found(report, "JL405") == []


def test_arity_message_shows_a_multi_line_signature_on_one_line(app_tree):
    files = {
        "app/workers/ping_worker.rb": (
            "class PingWorker\n"
            "  include Sidekiq::Job\n"
            "  def perform(id,\n"
            "              url = default_url(1))\n"
            "  end\n"
            "end\n"
        ),
        "app/services/ping.rb": "class Ping\n  def call = PingWorker.perform_async\nend\n",
    }
    [finding] = [f for f in app_tree(files).findings if f.code == "JL106"]
    assert "`perform(id, url = default_url(1))`" in finding.message
    assert "0 arguments given, 1 to 2 expected" in finding.message


def test_enqueues_delayed_by_a_minute_or_more_cannot_race_the_commit(app_tree):
    code = (
        "class Checkout\n"
        "  def call(order, delay)\n"
        "    order.with_lock do\n"
        "      order.update!(state: 'paid')\n"
        "      PollWorker.perform_in(30, order.id)\n"
        "      PollWorker.perform_in(2.minutes, order.id)\n"
        "      PollWorker.perform_at(1.hour.from_now, order.id)\n"
        "      PollWorker.perform_in(delay, order.id)\n"
        "      PollJob.set(wait: 5.seconds).perform_later(order.id)\n"
        "      PollJob.set(wait: 1.day).perform_later(order.id)\n"
        "    end\n"
        "  end\n"
        "end\n"
    )
    report = app_tree({**RAILS_71, "app/services/checkout.rb": code}, "JL302")
    assert found(report, "JL302") == [("app/services/checkout.rb", n) for n in (5, 8, 9)]
