"""Mail beyond the mailer class: Action Mailbox routes, mailboxes and bounces, noticed email
deliveries, production delivery settings, and mailer previews (JL404, JL407–JL412)."""

from __future__ import annotations

from .conftest import run_tree, write_tree

MAILBOX_APP = {
    "Gemfile": "",
    "app/mailboxes/application_mailbox.rb": (
        "class ApplicationMailbox < ActionMailbox::Base\n  routing all: :replies\nend\n"
    ),
    "app/mailboxes/replies_mailbox.rb": (
        "class RepliesMailbox < ApplicationMailbox\n  def process\n    bounced!\n  end\nend\n"
    ),
}
MAILER_APP = {
    "Gemfile": "",
    "app/mailers/application_mailer.rb": "class ApplicationMailer < ActionMailer::Base\nend\n",
    "app/mailers/user_mailer.rb": (
        "class UserMailer < ApplicationMailer\n"
        "  def welcome(user)\n    mail(to: user.email, body: 'hi')\n  end\n"
        "end\n"
    ),
}


def found(tmp_path, files, code):
    write_tree(tmp_path, files)
    report = run_tree(tmp_path, (code,))
    assert not report.crashes, report.crashes
    return sorted((f.path, f.line) for f in report.findings if f.code == code)


def test_unknown_mailbox_resolves_nested_names_and_engine_mailboxes(tmp_path):
    files = {
        **MAILBOX_APP,
        "app/mailboxes/application_mailbox.rb": (
            "class ApplicationMailbox < ActionMailbox::Base\n"
            '  routing "a@example.com" => "billing/invoices"\n'
            "  routing /^b@/i => :archive\n"
            "  routing all: :replies\n"
            "end\n"
        ),
        "engines/billing/app/mailboxes/billing/invoices_mailbox.rb": (
            "module Billing\n  class InvoicesMailbox < ApplicationMailbox\n"
            "    def process = Invoice.import(mail)\n  end\nend\n"
        ),
    }
    assert found(tmp_path, files, "JL407") == [("app/mailboxes/application_mailbox.rb", 3)]


def test_unknown_mailbox_ignores_routes_in_methods_and_tests(tmp_path):
    files = {
        **MAILBOX_APP,
        "app/mailboxes/application_mailbox.rb": (
            "class ApplicationMailbox < ActionMailbox::Base\n"
            "  def self.add_tenant(name)\n    routing(/^#{name}@/ => :tenant)\n  end\n"
            "  routing all: :replies\n"
            "end\n"
        ),
        "test/mailboxes/routing_test.rb": (
            "class RoutingTestMailbox < ActionMailbox::Base\n  routing all: :nowhere\nend\n"
        ),
    }
    assert found(tmp_path, files, "JL407") == []


def test_mailbox_without_process_skips_gem_parents_and_test_mailboxes(tmp_path):
    files = {
        **MAILBOX_APP,
        "app/mailboxes/vendor_mailbox.rb": "class VendorMailbox < Vendor::BaseMailbox\nend\n",
        "test/mailboxes/fake_mailbox.rb": "class FakeMailbox < ApplicationMailbox\nend\n",
        "app/mailboxes/empty_mailbox.rb": "class EmptyMailbox < ApplicationMailbox\nend\n",
    }
    assert found(tmp_path, files, "JL408") == [("app/mailboxes/empty_mailbox.rb", 1)]


def test_bounce_with_a_variable_or_method_result_is_not_judged(tmp_path):
    files = {
        **MAILBOX_APP,
        "app/mailboxes/replies_mailbox.rb": (
            "class RepliesMailbox < ApplicationMailbox\n"
            "  def process\n"
            "    bounce_with notice_for(mail)\n"
            "    bounce_with @notice\n"
            "    bounce_with :unknown_sender\n"
            "  end\n"
            "end\n"
        ),
    }
    assert found(tmp_path, files, "JL409") == [("app/mailboxes/replies_mailbox.rb", 5)]


def test_bounced_message_naming_no_action_is_an_unknown_mailer_action(tmp_path):
    files = {
        **MAILBOX_APP,
        **MAILER_APP,
        "app/mailboxes/replies_mailbox.rb": (
            "class RepliesMailbox < ApplicationMailbox\n"
            "  def process\n"
            "    bounce_with UserMailer.welcome(nil)\n"
            "    bounce_now_with UserMailer.with(x: 1).goodbye\n"
            "  end\n"
            "end\n"
        ),
    }
    assert found(tmp_path, files, "JL404") == [("app/mailboxes/replies_mailbox.rb", 4)]


def test_preview_calls_are_checked_but_framework_class_methods_are_not(tmp_path):
    files = {
        **MAILER_APP,
        "test/mailers/previews/user_mailer_preview.rb": (
            "class UserMailerPreview < ActionMailer::Preview\n"
            "  def welcome\n"
            "    UserMailer.deliveries.clear\n"
            "    UserMailer.welcome(User.first)\n"
            "  end\n"
            "  def goodbye = UserMailer.goodbye(User.first)\n"
            "end\n"
        ),
    }
    assert found(tmp_path, files, "JL404") == [("test/mailers/previews/user_mailer_preview.rb", 6)]


NOTIFIER_APP = {
    **MAILER_APP,
    "app/notifiers/application_notifier.rb": "class ApplicationNotifier < Noticed::Event\nend\n",
}


def notifier(body: str) -> dict[str, str]:
    return {
        **NOTIFIER_APP,
        "app/notifiers/welcome_notifier.rb": (
            f"class WelcomeNotifier < ApplicationNotifier\n{body}end\n"
        ),
    }


def test_noticed_version_comes_from_the_base_class_without_a_lockfile(tmp_path):
    body = "  deliver_by :email do |config|\n    config.mailer = UserMailer\n    config.method = :welcome\n  end\n"
    # noticed 2, no `args`: `welcome(user)` gets no argument
    assert found(tmp_path, notifier(body), "JL410") == [("app/notifiers/welcome_notifier.rb", 4)]


def test_noticed_custom_delivery_class_and_gem_mixins_are_not_judged(tmp_path):
    body = (
        "  include Notifications::Routing\n"
        '  deliver_by :email, class: "SesEmailDelivery", mailer: "UserMailer", method: :nope\n'
        "  deliver_by :email do |config|\n"
        '    config.mailer = "UserMailer"\n'
        "    config.method = :chosen_by_routing\n"
        "  end\n"
    )
    assert found(tmp_path, notifier(body), "JL410") == []


def test_noticed_unreadable_block_options_are_not_judged(tmp_path):
    body = (
        "  deliver_by :email do |config|\n"
        "    config.merge!(EMAIL_DEFAULTS)\n"
        "    config.method = :nope\n"
        "  end\n"
    )
    assert found(tmp_path, notifier(body), "JL410") == []


def production(settings: str) -> dict[str, str]:
    return {
        **MAILER_APP,
        "config/environments/production.rb": f"Rails.application.configure do\n{settings}end\n",
        "app/models/user.rb": (
            "class User < ApplicationRecord\n"
            "  after_create_commit { UserMailer.welcome(self).deliver_later }\nend\n"
        ),
    }


def test_production_settings_in_conditions_or_set_twice_are_not_judged(tmp_path):
    settings = (
        "  config.action_mailer.delivery_method = :test unless ENV['SMTP_HOST']\n"
        "  config.action_mailer.raise_delivery_errors = false\n"
        "  config.action_mailer.raise_delivery_errors = true if ENV['STRICT_MAIL']\n"
    )
    files = production(settings)
    assert found(tmp_path, files, "JL411") == []
    assert found(tmp_path, files, "JL412") == []


def test_swallowed_delivery_errors_silent_when_an_initializer_sets_it_again(tmp_path):
    files = {
        **production("  config.action_mailer.raise_delivery_errors = false\n"),
        "config/initializers/mail.rb": "ActionMailer::Base.raise_delivery_errors = true\n",
    }
    assert found(tmp_path, files, "JL412") == []
    del files["config/initializers/mail.rb"]
    (tmp_path / "config/initializers/mail.rb").unlink()
    assert found(tmp_path, files, "JL412") == [("config/environments/production.rb", 2)]


def test_a_mailbox_process_runs_in_a_job(tmp_path):
    """`process` runs inside ActionMailbox::RoutingJob: the job rules apply to mailboxes (and
    not to a look-alike class that is not one)."""
    files = {
        **MAILBOX_APP,
        "app/mailboxes/replies_mailbox.rb": (
            "class RepliesMailbox < ApplicationMailbox\n"
            "  def process\n"
            "    sleep 5\n"
            "    Reply.create!(body: mail.decoded)\n"
            "  rescue => e\n"
            "    Rails.logger.info(e.message)\n"
            "  end\n"
            "end\n"
        ),
        "app/services/replies_importer.rb": (
            "class RepliesImporter\n  def process\n    sleep 5\n  rescue => e\n    nil\n  end\nend\n"
        ),
    }
    assert found(tmp_path, files, "JL504") == [("app/mailboxes/replies_mailbox.rb", 3)]
    assert found(tmp_path, files, "JL203") == [("app/mailboxes/replies_mailbox.rb", 5)]
