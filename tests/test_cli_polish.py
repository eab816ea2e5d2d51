"""The command line as ruff and RuboCop users expect it: errors before work, no false success,
monorepos, conflicting flags, quiet runs, standard input, settings, the rules table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from joblint.cli import main

from .conftest import write_tree

ROOT = Path(__file__).resolve().parent.parent
DEMO = str(ROOT / "tests/fixtures/apps/demo")

APP = {
    "Gemfile": 'source "https://rubygems.org"\n',
    "Gemfile.lock": "GEM\n  specs:\n    rails (7.1.3)\n    sidekiq (7.2.0)\n",
    "config/application.rb": (
        "module Shop\n  class Application < Rails::Application\n"
        "    config.active_job.queue_adapter = :sidekiq\n  end\nend\n"),
    "config/sidekiq.yml": ":queues:\n  - default\n",
    "app/jobs/export_job.rb": (
        "class ExportJob < ApplicationJob\n  queue_as :exports\n  retry_on Timeout::Error\n\n"
        "  def perform(id); end\nend\n"),
}


def invoke(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- wrong or alarming behaviour -------------------------------------------------------------


def test_an_unwritable_output_path_is_refused_before_the_run(here):
    result = invoke(DEMO, "-o", str(here / "missing" / "x.json"), "--format", "json")
    assert result.exit_code == 2
    assert result.stdout == ""
    expected = (f"joblint: cannot write the report to {here / 'missing' / 'x.json'}: "
                f"no such directory {here / 'missing'}")
    assert result.stderr.strip().splitlines() == [expected]


def test_a_mistyped_command_is_a_usage_error_with_a_suggestion(here):
    result = invoke("chek", ".")
    assert result.exit_code == 2
    assert "did you mean `check`?" in result.stderr
    assert result.stdout == ""


def test_a_word_far_from_any_command_is_still_a_path(here):
    result = invoke("somewhere")
    assert result.exit_code == 2
    assert "somewhere: no such file or directory" in result.stderr


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "concise"])
def test_a_missing_path_never_reports_success(here, fmt):
    result = invoke(str(here / "nonexistent"), "--format", fmt)
    assert result.exit_code == 2
    assert result.stdout == ""  # no "All checks passed!", no empty document
    assert "no such file or directory" in result.stderr


def test_a_missing_path_next_to_a_real_one_still_reports_the_real_findings(here):
    result = invoke(DEMO, str(here / "nonexistent"), "--format", "json")
    assert result.exit_code == 2
    assert json.loads(result.stdout)["findings"]


def test_an_empty_directory_says_so(here):
    (here / "empty").mkdir()
    result = invoke("empty")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr.strip() == "joblint: no files to check under empty"


def test_an_empty_selection_is_a_usage_error(here):
    result = invoke(DEMO, "--select", "")
    assert result.exit_code == 2
    assert "no rule selected" in result.stderr and result.stdout == ""


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--diff", "--format", "json"), "--diff prints a unified diff"),
        (("--diff", "-o", "x.txt"), "--diff prints a unified diff"),
        (("--fix", "--statistics"), "--statistics counts findings without fixing them"),
        (("--show-settings", "--statistics"), "--show-settings prints the settings"),
        (("--write-baseline", "b.json", "--baseline", "b.json"), "--write-baseline records"),
        (("--stdin-filename", "app/x.rb"), "--stdin-filename goes with the path `-` alone"),
    ],
)
def test_conflicting_flags_are_refused_with_one_line(here, args, says):
    write_tree(here, APP)
    before = sorted(p.name for p in here.rglob("*"))
    result = invoke(".", *args)
    assert result.exit_code == 2
    assert says in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in here.rglob("*")) == before  # nothing written


def test_a_dash_needs_a_stdin_filename(here):
    result = invoke("-", input="puts 1\n")
    assert result.exit_code == 2 and "give --stdin-filename PATH" in result.stderr


# -- monorepos -----------------------------------------------------------------------------


def _codes(result) -> list[tuple[str, str, int]]:
    return [(f["code"], f["path"], f["line"]) for f in json.loads(result.stdout)["findings"]]


def test_an_app_in_a_subdirectory_keeps_its_project_model_from_the_repository_root(here):
    write_tree(here / "backend", APP)
    write_tree(here, {"scripts/tool.rb": "puts 1\n"})
    from_app = invoke("backend", "--format", "json")
    from_repo = invoke(".", "--format", "json")
    assert ("JL601", "backend/app/jobs/export_job.rb", 2) in _codes(from_app)
    assert _codes(from_repo) == _codes(from_app)  # the queue config was found
    assert "no Rails root" in from_repo.stderr and "for 1 file" in from_repo.stderr


def test_a_tooling_gemfile_at_the_repository_root_does_not_hide_the_apps(here):
    write_tree(here, {"Gemfile": 'gem "rubocop"\n'})
    write_tree(here / "apps" / "shop", APP)
    write_tree(here / "apps" / "admin", {**APP, "config/sidekiq.yml": ":queues:\n  - exports\n"})
    result = invoke(".", "--format", "json")
    codes = _codes(result)
    assert ("JL601", "apps/shop/app/jobs/export_job.rb", 2) in codes
    assert not [c for c in codes if c[1].startswith("apps/admin/")]  # its own sidekiq.yml


# -- force-exclude and anchored excludes ---------------------------------------------------


def test_force_exclude_skips_a_named_file_the_configuration_excludes(here):
    write_tree(here, APP)
    write_tree(here, {".joblint.yml": "exclude: [app/jobs/export_job.rb]\n"})
    named = invoke("app/jobs/export_job.rb", "--format", "json")
    assert _codes(named)  # named files are linted by default
    forced = invoke("app/jobs/export_job.rb", "--force-exclude", "--format", "json")
    assert _codes(forced) == []


def test_an_exclude_given_with_dot_dot_anchors_at_the_root(here, monkeypatch):
    write_tree(here, APP)
    write_tree(here, {"app/jobs/legacy/old_job.rb": APP["app/jobs/export_job.rb"].replace(
        "ExportJob", "OldJob")})
    monkeypatch.chdir(here / "app")
    result = invoke("..", "--exclude", "../app/jobs/legacy", "--format", "json")
    paths = {c[1] for c in _codes(result)}
    assert "jobs/export_job.rb" in paths and not any("legacy" in p for p in paths)


# -- quiet runs, aliases, standard input ---------------------------------------------------


def test_quiet_prints_the_findings_only(here):
    result = invoke(DEMO, "--quiet", "--no-progress")
    assert result.exit_code == 1
    assert "JL101" in result.stdout
    assert "Found" not in result.stdout and "checked" not in result.stdout


def test_output_format_is_an_alias_and_dash_v_the_version(here):
    assert invoke(DEMO, "--output-format", "json").stdout == invoke(DEMO, "--format", "json").stdout
    assert invoke("-V").stdout == invoke("--version").stdout
    assert "version" in invoke("-V").stdout


def test_standard_input_is_linted_as_the_named_file(here):
    write_tree(here, APP)
    buffer = APP["app/jobs/export_job.rb"].replace(":exports", ":reports")
    result = invoke("-", "--stdin-filename", "app/jobs/export_job.rb", "--format", "json",
                    input=buffer)
    assert _codes(result) == [("JL601", "app/jobs/export_job.rb", 2)]
    assert "`reports`" in json.loads(result.stdout)["findings"][0]["message"]
    unsaved = invoke("-", "--stdin-filename", "app/jobs/new_job.rb", "--format", "json",
                     input=buffer.replace("ExportJob", "NewJob"))
    assert _codes(unsaved) == [("JL601", "app/jobs/new_job.rb", 2)]  # not on disk yet


# -- settings and the rules table ----------------------------------------------------------


def test_show_settings_names_what_joblint_found_about_the_app(here):
    write_tree(here, APP)
    result = invoke(".", "--show-settings", "--format", "json")
    rows = {r["setting"]: r["value"] for r in json.loads(result.stdout)["settings"]}
    assert rows["rails root"] == "."
    assert rows["rails version"] == "7.1.3"
    assert rows["backend"] == "sidekiq"
    assert rows["queue sources"] == "config/sidekiq.yml"
    text = invoke(".", "--show-settings")
    assert "rails version" in text.stdout and "7.1.3" in text.stdout


def test_rules_as_json_and_the_fixable_column(here):
    document = json.loads(invoke("rules", "--format", "json").stdout)["rules"]
    by_code = {r["code"]: r for r in document}
    assert by_code["JL206"]["fixable"] is True and by_code["JL101"]["fixable"] is False
    assert by_code["JL101"]["url"].endswith("rules/JL101-record-argument.md")
    table = invoke("rules").stdout
    assert "Fixable" in table.splitlines()[0]


def test_rule_page_is_markdown_when_piped(here):
    page = invoke("rule", "JL101").stdout
    assert page.startswith("# JL101")


def test_gitignore_applies_when_walking_from_a_subdirectory(here, monkeypatch):
    write_tree(here, APP)
    write_tree(here, {".gitignore": "app/jobs/legacy/\n",
                      "app/jobs/legacy/old_job.rb": APP["app/jobs/export_job.rb"]})
    monkeypatch.chdir(here / "app")
    paths = {c[1] for c in _codes(invoke("..", "--format", "json"))}
    assert paths == {"jobs/export_job.rb"}


def test_quiet_concise_has_no_summary_line(here):
    loud = invoke(DEMO, "--format", "concise").stdout.strip().splitlines()
    quiet = invoke(DEMO, "--format", "concise", "--quiet").stdout.strip().splitlines()
    assert loud[:-1] == quiet and loud[-1].startswith("Found")


def test_the_progress_display_starts_with_the_run_and_quiet_has_none(monkeypatch):
    from joblint import cli

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(cli.sys.stderr, "isatty", lambda: True, raising=False)
    with cli._ProgressBar() as progress:
        assert progress.bar is not None  # before any file: the model build is in progress
        progress(0, 10)
        assert progress.bar.tasks[0].description == "building the project model"
        progress(3, 10)
        assert progress.bar.tasks[0].completed == 3
    with cli._ProgressBar(enabled=False) as quiet:
        assert quiet.bar is None
