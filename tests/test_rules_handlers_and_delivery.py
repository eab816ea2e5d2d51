"""JL202 and JL401 choices made after reading real apps: explicit no-op handlers and
deliberate synchronous sends are not reported."""

from __future__ import annotations

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


def test_deliver_now_whose_result_is_used_or_rescued_is_deliberate(tmp_path):
    lines = codes_at(tmp_path, {"app/controllers/c_controller.rb": (
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
