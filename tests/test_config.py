"""Configuration: every key, precedence, and every error path."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from joblint.cli import main

from .conftest import write_tree

APP = {
    "Gemfile": "",
    "Gemfile.lock": "GEM\n  specs:\n    solid_queue (1.1.0)\n",  # a backend where failure is final (JL201)
    "app/models/user.rb": "class User < ApplicationRecord\nend\n",
    "app/jobs/plain_job.rb": "class PlainJob < ApplicationJob\n  def perform(id); end\nend\n",
    "app/controllers/users_controller.rb": (
        "class UsersController < ApplicationController\n  def create\n"
        "    user = User.find(1)\n    WelcomeJob.perform_later(user)\n"
        "    SyncWorker.perform_async(user)\n  end\nend\n"
    ),
    "app/api/hooks.rb": (
        "class Hooks\n  def call\n    OrderMailer.receipt(1).deliver_now\n  end\nend\n"
    ),
    "legacy/old_job.rb": "class OldJob < ApplicationJob\n  def perform; end\nend\n",
    "app/jobs/welcome_job.rb": (
        "class WelcomeJob < ApplicationJob\n  discard_on ActiveJob::DeserializationError\n"
        "  def perform(user); end\nend\n"
    ),
    "app/workers/sync_worker.rb": (
        "class SyncWorker\n  include Sidekiq::Job\n  def perform(user_id); end\nend\n"
    ),
}


@pytest.fixture
def app(tmp_path, monkeypatch):
    write_tree(tmp_path, APP)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str):
    result = CliRunner().invoke(main, [*args, "--format", "json"], catch_exceptions=False)
    return result


def findings(*args: str) -> list[tuple[str, str, str]]:
    result = run(*args)
    assert "Traceback" not in result.output
    return [(f["code"], f["path"], f["severity"])
            for f in json.loads(result.stdout)["findings"]]


def codes(*args: str) -> set[str]:
    return {code for code, _, _ in findings(*args)}


def test_without_configuration_the_defaults_apply(app):
    assert codes(".") == {"JL101"}  # JL201 is opt-in


def test_select_ignore_and_extend_select_keys(app):
    (app / ".joblint.yml").write_text("select: [JL2]\nextend-select: [record-argument]\n")
    assert codes(".") == {"JL101", "JL201"}
    (app / ".joblint.yml").write_text("ignore: [JL201]\n")
    assert codes(".") == {"JL101"}


def test_exclude_key(app):
    (app / ".joblint.yml").write_text("exclude: ['legacy/']\n")
    assert "legacy/old_job.rb" not in {path for _, path, _ in findings(".")}


def test_request_paths_key(app):
    assert "JL401" not in codes(".")
    (app / ".joblint.yml").write_text("request-paths: [app/api]\n")
    assert "JL401" in codes(".")


def test_severity_key_overrides_every_hit_of_a_rule(app):
    (app / ".joblint.yml").write_text(
        "extend-select: [JL201]\nseverity: {JL101: info, missing-retry-policy: error}\n")
    severities = {(code, sev) for code, _, sev in findings(".")}
    assert ("JL101", "info") in severities and ("JL101", "error") not in severities
    assert ("JL201", "error") in severities


def test_per_file_ignores_key(app):
    (app / ".joblint.yml").write_text(
        "extend-select: [JL201]\n"
        "per-file-ignores:\n  'app/controllers/**': [JL101]\n  'legacy/*.rb': [all]\n"
    )
    paths = {(code, path) for code, path, _ in findings(".")}
    assert not any(code == "JL101" for code, _ in paths)
    assert not any(path.startswith("legacy/") for _, path in paths)
    assert ("JL201", "app/jobs/plain_job.rb") in paths


def test_rule_options_by_code_or_name(app):
    # a project job without a DeserializationError handler, and users the app deletes: the
    # opt-in ActiveJob case of JL101 has something to report
    (app / "app/jobs/welcome_job.rb").write_text(
        "class WelcomeJob < ApplicationJob\n  retry_on Timeout::Error\n  def perform(u); end\nend\n")
    (app / "app/controllers/accounts_controller.rb").write_text(
        "class AccountsController < ApplicationController\n"
        "  def destroy\n    User.find(params[:id]).destroy\n  end\nend\n")
    default = [(c, s) for c, _, s in findings(".") if c == "JL101"]
    assert default == [("JL101", "error")]  # only the Sidekiq call: GlobalID is allowed
    (app / ".joblint.yml").write_text("record-argument: {allow-global-id: false}\n")
    by_name = [(c, s) for c, _, s in findings(".") if c == "JL101"]
    assert by_name == [("JL101", "warning"), ("JL101", "error")]
    (app / ".joblint.yml").write_text("JL101: {allow-global-id: false}\n")
    assert [(c, s) for c, _, s in findings(".") if c == "JL101"] == by_name


def test_pyproject_table_is_read(app):
    (app / "pyproject.toml").write_text(
        '[tool.joblint]\nignore = ["JL101"]\nextend-select = ["JL201"]\n')
    assert codes(".") == {"JL201"}


def test_yml_wins_over_pyproject_and_config_option_wins_over_both(app, tmp_path_factory):
    (app / "pyproject.toml").write_text('[tool.joblint]\nignore = ["JL101"]\n')
    (app / ".joblint.yml").write_text("ignore: [JL201]\n")
    assert codes(".") == {"JL101"}
    other = tmp_path_factory.mktemp("cfg") / "strict.yml"
    other.write_text("select: [JL201]\n")
    assert codes(".", "--config", str(other)) == {"JL201"}


def test_command_line_overrides_the_file(app):
    (app / ".joblint.yml").write_text("select: [JL201]\n")
    assert codes(".", "--select", "JL101") == {"JL101"}


def test_config_is_found_from_a_named_file(app):
    (app / ".joblint.yml").write_text("ignore: [JL101]\n")
    assert codes("app/controllers/users_controller.rb") == set()


@pytest.mark.parametrize(
    "text, message",
    [
        ("selct: [JL101]\n", "key 'selct': unknown key"),
        ("select: JL999\n", "key 'select': unknown rule, name or prefix 'JL999'"),
        ("select: {a: 1}\n", "key 'select': expected a list of strings"),
        ("severity: {JL101: fatal}\n", "severity of JL101 must be error, warning or info"),
        ("severity: {JL999: error}\n", "unknown rule 'JL999'"),
        ("per-file-ignores: {'spec/**': [JL9]}\n", "unknown rule, name or prefix 'JL9'"),
        ("JL101: {allow-globalid: true}\n", "unknown option 'allow-globalid' for JL101"),
        ("JL101: {allow-global-id: 'yes'}\n", "allow-global-id: expected bool"),
        ("JL101: true\n", "expected a mapping of JL101's options"),
        ("select: [JL1\n", "invalid YAML (line 2)"),
        ("- just\n- a list\n", "must be a mapping"),
    ],
)
def test_configuration_errors_name_the_key_and_file(app, text, message):
    (app / ".joblint.yml").write_text(text)
    result = run(".")
    assert result.exit_code == 2
    assert ".joblint.yml" in result.output and message in result.output
    assert "Traceback" not in result.output


def test_unreadable_and_missing_config_files_are_errors(app):
    result = run(".", "--config", "nope.yml")
    assert result.exit_code == 2 and "nope.yml: no such configuration file" in result.output
    (app / ".joblint.yml").write_bytes(b"select: [\xff]\n")
    result = run(".")
    assert result.exit_code == 2 and "cannot read the configuration: not valid UTF-8" in result.output


def test_invalid_pyproject_is_an_error(app):
    (app / "pyproject.toml").write_text("[tool.joblint]\nselect = [\n")
    result = run(".")
    assert result.exit_code == 2 and "pyproject.toml: invalid TOML" in result.output


def test_show_settings_names_where_each_value_came_from(app):
    (app / ".joblint.yml").write_text("ignore: [JL001]\nJL101: {allow-global-id: true}\n")
    result = CliRunner().invoke(main, [".", "--show-settings", "--select", "JL1"])
    assert result.exit_code == 0
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert "command line" in lines["select"]
    assert ".joblint.yml" in lines["ignore"]
    assert "True" in lines["JL101.allow-global-id"] and ".joblint.yml" in lines["JL101.allow-global-id"]
    assert "default" in lines["exclude"]
