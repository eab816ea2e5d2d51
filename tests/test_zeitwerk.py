"""Zeitwerk facts: camelize, roots, collapsed/ignored directories, inflections from config."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from joblint.rails.app import App
from joblint.rails.zeitwerk import autoloading, camelize

LOCK = "GEM\n  remote: https://rubygems.org/\n  specs:\n    rails ({version})\n"


def make_app(tmp_path: Path, files: dict[str, str], rails: str = "7.1.3") -> App:
    tree = {"Gemfile.lock": LOCK.format(version=rails), **files}
    for relpath, text in tree.items():
        path = tmp_path / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return App(tmp_path)


@pytest.mark.parametrize(
    "term, acronyms, expected",
    [
        ("user_job", {}, "UserJob"),
        ("html_parser", {}, "HtmlParser"),
        ("html_parser", {"html": "HTML"}, "HTMLParser"),
        ("api_sync_job", {"api": "API"}, "APISyncJob"),
        ("apis_job", {"api": "API"}, "ApisJob"),
        ("api", {"api": "API"}, "API"),
        ("v2_job", {}, "V2Job"),
        ("x_y", {}, "XY"),
        ("chatgpt_job", {"chatgpt": "ChatGPT"}, "ChatGPTJob"),
    ],
)
def test_camelize_follows_active_support(term, acronyms, expected):
    assert camelize(term, acronyms) == expected


def test_expected_constant_uses_namespaces_and_concerns_roots(tmp_path):
    facts = autoloading(make_app(tmp_path, {}))
    assert facts.zeitwerk
    assert facts.expected_constant("app/jobs/sync/user_job.rb").constant == "Sync::UserJob"
    assert facts.expected_constant("app/jobs/concerns/retryable.rb").constant == "Retryable"
    assert facts.expected_constant("app/jobs/sync/concerns/x.rb").constant == "Sync::Concerns::X"
    assert facts.expected_constant("app/mailers/user_mailer.rb").constant == "UserMailer"


def test_inflections_collapse_ignore_and_roots_are_read(tmp_path):
    app = make_app(
        tmp_path,
        {
            "config/application.rb": """
            module Shop
              class Application < Rails::Application
                config.load_defaults 7.1
                %w[legacy].each do |folder|
                  config.autoload_paths.push(Rails.root.join("app", "jobs", folder))
                end
                config.eager_load_paths += %W[#{config.root}/app/workers/flat]
              end
            end
            """,
            "config/initializers/inflections.rb": """
            ActiveSupport::Inflector.inflections(:en) do |inflect|
              %w[API JSON].each { |word| inflect.acronym word }
            end
            ActiveSupport::Inflector.inflections(:es) do |inflect|
              inflect.acronym "IVA"
            end
            """,
            "config/initializers/zeitwerk.rb": """
            imports = "#{Rails.root}/app/jobs/imports"
            Rails.autoloaders.each do |autoloader|
              autoloader.inflector.inflect("csv_job" => "CSVJob")
              autoloader.collapse(imports)
              autoloader.ignore(Rails.root.join("app/jobs/scratch"))
            end
            """,
        },
    )
    facts = autoloading(app)
    assert facts.inflection_known and facts.layout_known and facts.ignore_known
    assert facts.expected_constant("app/jobs/api_json_job.rb").constant == "APIJSONJob"
    assert facts.expected_constant("app/jobs/iva_job.rb").constant == "IvaJob"
    assert facts.expected_constant("app/jobs/csv_job.rb").constant == "CSVJob"
    assert facts.expected_constant("app/jobs/imports/contact_job.rb").constant == "ContactJob"
    assert facts.expected_constant("app/jobs/legacy/old_job.rb").constant == "OldJob"
    assert facts.expected_constant("app/workers/flat/a_worker.rb").constant == "AWorker"
    assert facts.expected_constant("app/jobs/scratch/try.rb") is None


def test_unreadable_config_is_recorded_as_unknown(tmp_path):
    app = make_app(
        tmp_path,
        {
            "config/initializers/inflections.rb": """
            ActiveSupport::Inflector.inflections(:en) do |inflect|
              Acronyms::ALL.each { |word| inflect.acronym word }
            end
            Rails.autoloaders.main.collapse(Rails.root.join(ENV["EXTRA"]))
            """,
        },
    )
    expectation = autoloading(app).expected_constant("app/jobs/sync/html_job.rb")
    assert expectation is not None
    assert expectation.case_unknown and expectation.layout_unknown
    assert expectation.could_be("HTMLJob") and expectation.could_be("Sync::HtmlJob")
    assert not expectation.could_be("Sync::HtmlWorker")


def test_classic_autoloader_and_old_rails_are_not_zeitwerk(tmp_path):
    classic = make_app(
        tmp_path / "classic",
        {"config/application.rb": "config.load_defaults 6.1\nconfig.autoloader = :classic\n"},
        rails="6.1.7",
    )
    assert not autoloading(classic).zeitwerk
    old = make_app(
        tmp_path / "old", {"config/application.rb": "config.load_defaults 5.2\n"}, "5.2.8"
    )
    assert not autoloading(old).zeitwerk
    six = make_app(
        tmp_path / "six", {"config/application.rb": "config.load_defaults 6.0\n"}, "6.0.6"
    )
    assert autoloading(six).zeitwerk
