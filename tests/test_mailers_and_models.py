"""Mailer, model and exception facts: actions, mail() shapes, templates, associations,
save callbacks and the exception hierarchy."""

from __future__ import annotations

from pathlib import Path

from joblint import ruby
from joblint.rails.app import App
from joblint.rails.classes import is_model
from joblint.rails.exceptions import exception_hierarchy
from joblint.rails.mailers import (
    action_call,
    default_template_path,
    is_mailer,
    is_project_mailer,
    mail_calls,
    mailer_actions,
    mailer_path,
    view_templates,
)
from joblint.rails.models import associations, model_facts, save_callbacks, scopes

from .conftest import write_tree


def make_app(tmp_path: Path, files: dict[str, str]) -> App:
    write_tree(tmp_path, {"Gemfile": "", **files})
    return App(tmp_path)


MAILERS = {
    "app/mailers/application_mailer.rb": (
        "class ApplicationMailer < ActionMailer::Base\n"
        '  default from: "x@example.com", template_path: "mail"\n'
        "  def shared_action; end\n"
        "end\n"
    ),
    "app/mailers/concerns/digest.rb": "module Digest\n  def digest; end\nend\n",
    "app/mailers/user_mailer.rb": (
        "class UserMailer < ApplicationMailer\n"
        "  include Digest\n"
        "  def welcome(user, locale = 'en'); end\n"
        "  private\n"
        "  def helper; end\n"
        "end\n"
    ),
    "app/mailers/admin/report_mailer.rb": (
        "module Admin\n  class ReportMailer < Devise::Mailer\n    def daily; end\n  end\nend\n"
    ),
}


def test_mailer_actions_come_from_the_class_its_concerns_and_ancestors(tmp_path):
    app = make_app(tmp_path, MAILERS)
    actions = mailer_actions(app.classes, "UserMailer")
    assert set(actions) == {"welcome", "digest", "shared_action"}
    assert actions["welcome"].signature.optional == 1
    assert is_mailer(app.classes, "UserMailer")  # the JL401 helpers keep working


def test_a_mailer_inheriting_a_gem_mailer_is_not_a_project_mailer(tmp_path):
    app = make_app(tmp_path, MAILERS)
    assert is_project_mailer(app.classes, "UserMailer")
    assert not is_project_mailer(app.classes, "Admin::ReportMailer")
    assert mailer_path("Admin::ReportMailer") == "admin/report_mailer"


def test_default_template_path_is_inherited_from_the_nearest_ancestor(tmp_path):
    app = make_app(tmp_path, MAILERS)
    assert default_template_path(app, "UserMailer") == ("mail",)


def _method_node(source_text: str) -> ruby.Node:
    tree = ruby.parse(source_text.encode())
    return next(ruby.descendants(tree.root_node, {"method"}))


def test_mail_call_shapes_tell_inline_bodies_paths_and_unknown_arguments_apart():
    plain, block, body, paths, dynamic = (
        mail_calls(_method_node(f"def a\n  {call}\nend\n"))[0]
        for call in (
            "mail(to: x)",
            "mail(to: x) { |f| f.text { render plain: 'hi' } }",
            "mail(to: x, body: 'hi')",
            "mail(to: x, template_path: ['a', 'b'])",
            "mail(headers)",
        )
    )
    assert not plain.renders_inline and not plain.dynamic and plain.template_path is None
    assert block.renders_inline and body.renders_inline
    assert paths.template_path == ("a", "b")
    assert dynamic.dynamic


def test_view_templates_ignore_handler_format_locale_and_variant(tmp_path):
    app = make_app(
        tmp_path,
        {
            "app/views/user_mailer/welcome.de.html.erb": "",
            "app/views/user_mailer/digest+phone.text.haml": "",
            "app/views/layouts/mailer.mjml": "",
            "engines/billing/app/views/billing/invoice_mailer/paid.text.erb": "",
        },
    )
    templates = view_templates(app)
    assert templates is not None
    assert {
        "user_mailer/welcome",
        "user_mailer/digest",
        "layouts/mailer",
        "billing/invoice_mailer/paid",
    } <= templates


def test_view_templates_are_unknown_without_app_views(tmp_path):
    assert view_templates(make_app(tmp_path, {"app/models/user.rb": "class User; end\n"})) is None


def test_action_call_reads_with_chains_and_skips_object_methods(tmp_path):
    app = make_app(tmp_path, MAILERS)
    tree = ruby.parse(b"UserMailer.with(a: 1).welcome(u)\nUserMailer.send(:welcome, u)\n")
    calls = [
        n
        for n in ruby.descendants(tree.root_node, {"call"})
        if ruby.call_method(n) in ("welcome", "send")
    ]
    assert [action_call(c, app) for c in calls] == [("UserMailer", "welcome"), None]


MODELS = {
    "app/models/application_record.rb": "class ApplicationRecord < ActiveRecord::Base\nend\n",
    "app/models/concerns/taggable.rb": (
        "module Taggable\n"
        "  extend ActiveSupport::Concern\n"
        "  included do\n"
        "    has_and_belongs_to_many :tags\n"
        "    after_save :touch_tags\n"
        "  end\n"
        "  def touch_tags; end\n"
        "end\n"
    ),
    "app/models/post.rb": (
        "class Post < ApplicationRecord\n"
        "  include Taggable\n"
        "  belongs_to :author, class_name: 'User'\n"
        "  has_many :comments, dependent: :destroy\n"
        "  scope :published, -> { where(published: true) }\n"
        "  after_create { NotifyJob.perform_later(id) }\n"
        "  after_commit :index\n"
        "  def comments_count\n"
        "    has_many = 1\n"
        "  end\n"
        "end\n"
    ),
    "app/models/guest_post.rb": "class GuestPost < Post\n  has_one :invitation\nend\n",
    "app/services/builder.rb": "class Builder\n  after_save :x\nend\n",
}


def test_associations_include_concerns_and_sti_parents(tmp_path):
    app = make_app(tmp_path, MODELS)
    found = associations(app, "GuestPost")
    assert {name: a.kind for name, a in found.items()} == {
        "tags": "has_and_belongs_to_many",
        "author": "belongs_to",
        "comments": "has_many",
        "invitation": "has_one",
    }
    assert found["comments"].path == "app/models/post.rb"
    assert scopes(app, "GuestPost") == {"published"}
    assert is_model(app.classes, "Post") and not is_model(app.classes, "ApplicationRecord")


def test_save_callbacks_are_read_from_models_and_model_concerns_only(tmp_path):
    app = make_app(tmp_path, MODELS)
    assert model_facts(app).callback_methods == {"Taggable": {"touch_tags"}, "Post": set()}
    post = app.source(tmp_path / "app/models/post.rb")
    assert post is not None
    [callback] = save_callbacks(post, app.classes)
    assert callback.macro == "after_create" and callback.body is not None


def test_exception_hierarchy_covers_ruby_rails_gems_and_project_classes(tmp_path):
    app = make_app(
        tmp_path,
        {
            "app/errors/retryable.rb": "module Retryable\nend\n",
            "app/errors/vendor_error.rb": (
                "class VendorError < Faraday::Error\n  include Retryable\nend\n"
                "class VendorTimeout < VendorError; end\n"
                "class Plain; end\n"
            ),
        },
    )
    hierarchy = exception_hierarchy(app)
    assert hierarchy.is_a("Net::ReadTimeout", "Timeout::Error")
    assert hierarchy.is_a("Net::ReadTimeout", "StandardError")
    assert hierarchy.is_a("Errno::ECONNRESET", "SystemCallError")
    assert hierarchy.is_a("Net::SMTPServerBusy", "Net::SMTPError")
    assert hierarchy.is_a("ActiveRecord::Deadlocked", "ActiveRecord::StatementInvalid")
    assert hierarchy.is_a("::ActiveRecord::RecordNotFound", "ActiveRecord::ActiveRecordError")
    assert hierarchy.is_a("Timeout::Error", "Net::ReadTimeout") is False
    assert hierarchy.is_a("Sidekiq::Shutdown", "StandardError") is False
    assert hierarchy.is_a("VendorTimeout", "Faraday::Error")
    assert hierarchy.is_a("VendorTimeout", "Retryable")
    assert hierarchy.is_a("Vendor::Unknown", "StandardError") is None
    assert hierarchy.is_a("Plain", "StandardError") is None
    assert hierarchy.project_exceptions() == ["VendorError", "VendorTimeout"]
