"""Reporters at the reporter level: fixability, summaries, quiet mode, JSON's extra keys and
GitLab categories."""

from __future__ import annotations

import io
import json
import re

import pytest
from rich.console import Console

from joblint import catalogue, rules
from joblint.console import colour_off, make_console
from joblint.engine import Report
from joblint.findings import EXTERNAL, Suppressed
from joblint.reporters import ReportContext, concise, gitlab, render
from joblint.reporters import text as text_reporter

from .conftest import run_tree, write_tree

# JL101 on line 4 (line 3's is disabled inline), JL701 (opt-in, fixable) on the worker
TREE = {
    "Gemfile": "",
    "app/models/user.rb": "class User < ApplicationRecord\nend\n",
    "app/workers/hard_worker.rb": (
        "class HardWorker\n  include Sidekiq::Worker\n\n  def perform(id); end\nend\n"
    ),
    "app/controllers/users_controller.rb": (
        "class UsersController\n  def create(user)\n"
        "    HardWorker.perform_async(user) # joblint:disable JL101 -- legacy\n"
        "    HardWorker.perform_async(user)\n  end\nend\n"
    ),
}
CODE_CLIMATE_CATEGORIES = {
    "Bug Risk", "Clarity", "Compatibility", "Complexity", "Duplication", "Performance",
    "Security", "Style",
}


@pytest.fixture
def report(tmp_path) -> Report:
    write_tree(tmp_path, TREE)
    found = run_tree(tmp_path, ("JL701",))
    assert [(f.code, f.fixable) for f in found.findings] == [("JL101", False), ("JL701", True)]
    return found


@pytest.fixture
def clean(tmp_path) -> Report:
    root = tmp_path / "clean"
    write_tree(root, {"Gemfile": "", "app/models/user.rb": TREE["app/models/user.rb"]})
    found = run_tree(root)
    assert found.findings == [] and found.files == 2
    return found


def as_text(report: Report, **options) -> str:
    out = io.StringIO()
    text_reporter.render(report, make_console(out, width=200), **options)
    return out.getvalue()


def statistics_text(report: Report) -> str:
    out = io.StringIO()
    text_reporter.statistics(report, make_console(out, width=200))
    return out.getvalue()


# --- fixability ---------------------------------------------------------------------------


def test_text_marks_fixable_findings_and_counts_them_at_the_end(report):
    lines = as_text(report).splitlines()
    assert any("JL701 [*] sidekiq-worker-alias" in line for line in lines)
    assert not any("[*]" in line for line in lines if "JL101" in line)
    assert lines[-1].startswith("Found 2 findings (1 error, 0 warnings, 1 info); 4 files checked.")
    assert lines[-1].endswith(" 1 fixable with `--fix`.")


def test_no_fixable_sentence_without_fixable_findings(tmp_path):
    write_tree(tmp_path, TREE)
    report = run_tree(tmp_path)  # JL701 is opt-in: only JL101, which has no fix
    assert "fixable" not in as_text(report)
    assert "[*]" not in as_text(report)


def test_json_findings_end_with_fix_help_and_url(report):
    document = json.loads(render("json", report, ReportContext()))
    by_code = {f["code"]: f for f in document["findings"]}
    assert list(by_code["JL701"])[-4:] == ["fingerprint", "fix", "help", "url"]
    assert (by_code["JL701"]["fix"], by_code["JL101"]["fix"]) == (True, False)
    for code, finding in by_code.items():
        rule = rules.lookup(code)
        assert finding["help"] == rule.help
        assert finding["url"] == catalogue.help_uri(rule)


def test_json_url_is_the_sarif_help_uri(report):
    sarif = json.loads(render("sarif", report, ReportContext()))
    help_uris = {r["id"]: r["helpUri"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]}
    document = json.loads(render("json", report, ReportContext()))
    assert {f["code"]: f["url"] for f in document["findings"]} == help_uris


# --- concise summary and quiet mode ---------------------------------------------------------


def test_concise_ends_with_the_text_summary_line(report):
    lines = concise.render(report, ReportContext()).splitlines()
    assert lines[:2] == [
        f"{f.path}:{f.line}:{f.column}: {f.code} [{f.severity.label}] {f.message}"
        for f in report.findings
    ]
    assert lines[2:] == [text_reporter.summary(report).plain]
    assert lines[2].endswith("1 fixable with `--fix`.")


def test_concise_of_a_clean_run_is_the_summary_alone(clean):
    assert concise.render(clean, ReportContext()) == "All checks passed! 2 files checked.\n"


@pytest.mark.parametrize("fixture", ["report", "clean"])
def test_quiet_concise_prints_findings_only(request, fixture):
    report = request.getfixturevalue(fixture)
    quiet = concise.render(report, ReportContext(), summary=False)
    assert quiet.splitlines() == concise.render(report, ReportContext()).splitlines()[:-1]
    assert render("concise", report, ReportContext(), summary=False) == quiet


def test_summary_keyword_is_ignored_by_formats_without_a_summary(report):
    for output_format in ("json", "sarif", "github", "gitlab"):
        assert render(output_format, report, ReportContext(), summary=False) == render(
            output_format, report, ReportContext()
        )


def test_quiet_text_prints_findings_only(report, clean):
    loud, quiet = as_text(report), as_text(report, summary=False)
    assert "JL701 [*]" in quiet and "Found 2 findings" not in quiet
    assert loud == quiet + text_reporter.summary(report).plain + "\n"
    assert as_text(clean, summary=False) == ""


def test_colour_underlines_the_file_header_alone_and_changes_no_character(report):
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system="standard", width=200)
    text_reporter.render(report, console, summary=False)
    coloured = out.getvalue()
    assert coloured.count("\x1b[1;4m") == len({f.path for f in report.findings})  # the headers
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == as_text(report, summary=False)


def plain_text(report: Report, **options) -> str:
    out = io.StringIO()
    text_reporter.render_plain(report, out, **options)
    return out.getvalue()


@pytest.mark.parametrize("quiet", [False, True])
def test_plain_text_is_what_rich_prints_without_colour(tmp_path, report, clean, quiet):
    wide = tmp_path / "wide"  # a frame whose caret sits after wide characters
    write_tree(wide, {**TREE, "app/controllers/users_controller.rb": (
        'class UsersController\n  def create(user)\n    note = "日本語"; HardWorker.perform_async(user)\n'
        "  end\nend\n"
    )})
    wide_report = run_tree(wide)
    assert [f.code for f in wide_report.findings] == ["JL101"]
    report.partial, report.baseline_fixed = 2, 3  # every clause of the summary line
    report.suppressed.append(Suppressed(report.findings[0], EXTERNAL))
    assert report.baselined == 1
    for each in (report, clean, wide_report):
        assert plain_text(each, summary=not quiet) == as_text(each, summary=not quiet)
    assert "  ^^^^" in plain_text(wide_report) and "日本語" in plain_text(wide_report)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("environment", "stream", "off"), [
    ({}, io.StringIO(), True),
    ({}, _Terminal(), False),
    ({"NO_COLOR": "1"}, _Terminal(), True),
    ({"FORCE_COLOR": "1"}, io.StringIO(), False),
    ({"FORCE_COLOR": ""}, io.StringIO(), False),  # rich reads it: left to rich
    ({"TTY_COMPATIBLE": "1"}, io.StringIO(), False),
])
def test_colour_is_known_off_only_where_rich_would_print_none(monkeypatch, environment, stream, off):
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "DATABRICKS_RUNTIME_VERSION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert colour_off(stream) is off
    if off:
        assert make_console(stream).color_system is None


# --- statistics ---------------------------------------------------------------------------


def test_statistics_without_findings_prints_the_summary_and_no_table(clean):
    assert statistics_text(clean) == "All checks passed! 2 files checked.\n"


def test_statistics_with_findings_prints_the_table_then_the_summary(report):
    lines = statistics_text(report).splitlines()
    assert lines[0].split() == ["Count", "Code", "Name", "Fixable"]
    assert [line.split()[:2] for line in lines[1:3]] == [["1", "JL101"], ["1", "JL701"]]
    assert lines[-1] == text_reporter.summary(report).plain


# --- GitLab categories --------------------------------------------------------------------


@pytest.mark.parametrize(
    "code, category",
    [
        ("JL001", "Clarity"),
        ("JL003", "Clarity"),
        ("JL002", "Bug Risk"),
        ("JL101", "Bug Risk"),
        ("JL104", "Security"),  # CWE-312
        ("JL206", "Bug Risk"),
        ("JL301", "Bug Risk"),
        ("JL401", "Performance"),
        ("JL403", "Bug Risk"),
        ("JL406", "Security"),  # CWE-93
        ("JL501", "Performance"),
        ("JL601", "Bug Risk"),
        ("JL605", "Security"),  # CWE-306
        ("JL701", "Style"),  # a rename
        ("JL702", "Style"),
        ("JL703", "Security"),  # CWE-470
        ("JL705", "Bug Risk"),
    ],
)
def test_gitlab_category_follows_the_rule_family(code, category):
    assert gitlab.category(code) == category


def test_every_rule_has_a_code_climate_category():
    for rule in rules.all_rules():
        assert gitlab.category(rule.code) in CODE_CLIMATE_CATEGORIES, rule.code
        if rule.cwe:
            assert gitlab.category(rule.code) == "Security"


def test_gitlab_issues_carry_the_category(report, tmp_path):
    issues = json.loads(render("gitlab", report, ReportContext(cwd=tmp_path)))
    assert {i["check_name"]: i["categories"] for i in issues} == {
        "JL101": ["Bug Risk"], "JL701": ["Style"]
    }


# --- suppressed findings stay out of every format but SARIF -------------------------------


@pytest.mark.parametrize("output_format", ["json", "concise", "github", "gitlab"])
def test_suppressed_findings_are_hidden_outside_sarif(report, output_format):
    assert [(s.finding.code, s.finding.line) for s in report.suppressed] == [("JL101", 3)]
    rendered = render(output_format, report, ReportContext())
    assert not re.search(r"users_controller\.rb\D+3\b", rendered), rendered
