"""Inline suppression comments and JL003 unused-suppression."""

from __future__ import annotations

from .conftest import run_tree, write_tree

MODEL = {"app/models/user.rb": "class User < ApplicationRecord\nend\n"}


def lint_controller(tmp_path, body: str, *extra: str):
    write_tree(tmp_path, {**MODEL, "app/controllers/c_controller.rb": body})
    report = run_tree(tmp_path, extra)
    return [(f.code, f.line) for f in report.findings], report


def test_trailing_comment_suppresses_that_line_only(tmp_path):
    found, report = lint_controller(
        tmp_path,
        "class CController\n  def a(user)\n"
        "    J.perform_async(user) # joblint:disable JL101\n"
        "    J.perform_async(user)\n  end\nend\n",
    )
    assert found == [("JL101", 4)]
    assert [(s.finding.code, s.finding.line, s.kind) for s in report.suppressed] == [
        ("JL101", 3, "inSource")
    ]


def test_suppressed_findings_keep_the_reason_given_after_two_dashes(tmp_path):
    _, report = lint_controller(
        tmp_path,
        "class CController\n  def a(user)\n"
        "    J.perform_async(user) # joblint:disable JL101 -- GlobalID is fine here\n"
        "    J.perform_async(user) # joblint:disable JL101\n  end\nend\n",
    )
    assert [(s.finding.line, s.justification) for s in report.suppressed] == [
        (3, "GlobalID is fine here"), (4, "")
    ]


def test_per_file_ignores_are_dropped_not_kept_as_suppressed(tmp_path):
    write_tree(tmp_path, {**MODEL, "app/controllers/c_controller.rb": (
        "class CController\n  def a(user)\n    J.perform_async(user)\n  end\nend\n"
    )})
    report = run_tree(tmp_path, (), per_file_ignores=(("app/controllers/*", ("JL101",)),))
    assert report.findings == [] and report.suppressed == [] and report.ignored == 1


def test_trailing_comment_on_the_line_a_multiline_call_points_at(tmp_path):
    found, _ = lint_controller(
        tmp_path,
        "class CController\n  def a(user)\n    J.perform_async(\n"
        "      user, # joblint:disable record-argument -- GlobalID is fine\n"
        "      1\n    )\n  end\nend\n",
    )
    assert found == []


def test_region_between_disable_and_enable(tmp_path):
    found, _ = lint_controller(
        tmp_path,
        "class CController\n  def a(user)\n    # joblint:disable JL101, JL401\n"
        "    J.perform_async(user)\n    J.perform_async(user)\n"
        "    # joblint:enable JL101\n    J.perform_async(user)\n  end\nend\n",
    )
    # JL401 stays disabled to the end of the file and suppressed nothing: JL003 for it
    assert found == [("JL003", 3), ("JL101", 7)]


def test_disable_file_and_all(tmp_path):
    found, _ = lint_controller(
        tmp_path,
        "class CController\n  def a(user)\n    J.perform_async(user)\n  end\n"
        "end\n# joblint:disable-file all\n",
    )
    assert found == []


def test_unknown_code_and_unused_code_are_reported(tmp_path):
    found, report = lint_controller(
        tmp_path,
        "class CController\n  def a(user)\n"
        "    J.perform_async(user) # joblint:disable JL101, JL301, JL777\n  end\nend\n",
    )
    assert found == [("JL003", 3), ("JL003", 3)]
    messages = sorted(f.message for f in report.findings)
    assert messages == [
        "`# joblint:disable JL301` suppresses no finding",
        "`JL777` in `# joblint:disable` is not a joblint rule",
    ]


def test_directive_for_a_rule_that_did_not_run_is_not_unused(tmp_path):
    write_tree(tmp_path, {**MODEL, "app/controllers/c_controller.rb":
                          "class C\n  def a(user)\n    J.perform_async(user) # joblint:disable JL101\n  end\nend\n"})
    from joblint import rules
    from joblint.engine import Options, lint

    report = lint([tmp_path], Options(rules=rules.select(["JL003", "JL201"]), root=tmp_path),
                  cwd=tmp_path)
    assert report.findings == []


def test_directive_text_inside_a_string_is_not_a_directive(tmp_path):
    found, _ = lint_controller(
        tmp_path,
        "class CController\n  def a(user)\n"
        "    J.perform_async(user, \"# joblint:disable JL101\")\n  end\nend\n",
    )
    assert found == [("JL101", 3)]


def test_same_comments_work_in_yaml_files(tmp_path):
    write_tree(tmp_path, {"config/sidekiq.yml": ":queues:\n  - default # joblint:disable JL601\n"})
    report = run_tree(tmp_path, ("JL003",))
    # nothing in this YAML produced a finding, so the directive is reported as unused —
    # proof that the YAML file's comments are read
    assert [(f.path, f.line, f.code) for f in report.findings] == [
        ("config/sidekiq.yml", 2, "JL003")
    ]


WORKER = "class HardWorker\n  include Sidekiq::Worker{comment}\n\n  def perform(id); end\nend\n"


def test_a_disabled_finding_is_not_fixed(tmp_path):
    write_tree(tmp_path, {"app/workers/hard_worker.rb": WORKER.format(
        comment=" # joblint:disable JL701")})
    report = run_tree(tmp_path, ("JL701",))
    assert report.findings == [] and [s.finding.code for s in report.suppressed] == ["JL701"]
    assert report.fixes == {}


def test_a_per_file_ignored_finding_is_not_fixed(tmp_path):
    write_tree(tmp_path, {"app/workers/hard_worker.rb": WORKER.format(comment="")})
    assert list(run_tree(tmp_path, ("JL701",)).fixes) == ["app/workers/hard_worker.rb"]
    report = run_tree(tmp_path, ("JL701",), per_file_ignores=(("app/workers/*", ("JL701",)),))
    assert report.findings == [] and report.fixes == {}
