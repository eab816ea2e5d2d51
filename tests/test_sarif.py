"""`--format sarif`: valid SARIF 2.1.0 that GitHub code scanning ingests as intended."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

import jsonschema
import pytest
from click.testing import CliRunner

from joblint import __version__, rules
from joblint.cli import main
from joblint.engine import Report
from joblint.findings import Finding, Severity
from joblint.reporters import ReportContext, render, sarif
from joblint.rules import Rule

from .conftest import run_tree, write_tree
from .test_cli import ALL_DEMO_CODES, DEMO, ROOT, assert_snapshot

FIXTURE_APPS = sorted(
    p.name for p in (ROOT / "tests" / "fixtures" / "apps").iterdir() if p.is_dir()
)


@pytest.fixture(scope="module")
def validator(sarif_schema: Path) -> jsonschema.Draft4Validator:
    """Tests using it are `integration` tests: the schema is found by conftest's `sarif_schema`."""
    schema = json.loads(sarif_schema.read_text(encoding="utf-8"))
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    return jsonschema.Draft4Validator(
        schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    )


def assert_valid(validator: jsonschema.Draft4Validator, document: dict) -> None:
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


def sarif_of(path: str | Path, *args: str) -> dict:
    result = CliRunner().invoke(
        main, [str(path), "--format", "sarif", *args], catch_exceptions=False
    )
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def mailing_controller(name: str = "Orders") -> str:
    """A controller that delivers mail in the request: one JL401 finding, on line 3."""
    return f"class {name}Controller\n  def create\n    UserMailer.welcome.deliver_now\n  end\nend\n"


@pytest.fixture
def in_root(monkeypatch):
    monkeypatch.chdir(ROOT)


@pytest.mark.parametrize("app", FIXTURE_APPS)
def test_sarif_of_every_fixture_app_is_valid(validator, in_root, app):
    document = sarif_of(f"tests/fixtures/apps/{app}")
    assert_valid(validator, document)
    assert document["version"] == "2.1.0"


def test_sarif_of_every_rule_example_is_valid(validator, tmp_path):
    for number, (rule, kind, index, example) in enumerate(rules.iter_examples()):
        root = tmp_path / str(number)
        write_tree(root, example)
        report = run_tree(root, (rule.code,), rule_options={rule.code: rule.examples.settings})
        document = json.loads(render("sarif", report, ReportContext(cwd=root)))
        assert_valid(validator, document)
        if kind == "bad":
            assert rule.code in {r["ruleId"] for r in document["runs"][0]["results"]}, (rule, index)


def test_demo_sarif_snapshot_with_version_and_paths_masked(in_root):
    result = CliRunner().invoke(main, [DEMO, "--format", "sarif"], catch_exceptions=False)
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert {r["ruleId"] for r in document["runs"][0]["results"]} == ALL_DEMO_CODES
    root_uri = document["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"]
    assert root_uri == ROOT.as_uri() + "/"
    redacted = result.stdout.replace(f'"{root_uri}"', '"file:///<SRCROOT>/"')
    redacted = redacted.replace(f'"version": "{__version__}"', '"version": "<VERSION>"')
    redacted = redacted.replace(
        f'"semanticVersion": "{__version__}"', '"semanticVersion": "<VERSION>"'
    )
    assert str(ROOT) not in redacted
    assert_snapshot("demo.sarif", redacted)


def test_tool_driver_describes_every_reported_rule(in_root):
    run = sarif_of(DEMO)["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "joblint"
    assert re.fullmatch(r"\d+\.\d+\.\d+", driver["semanticVersion"])
    assert driver["informationUri"].startswith("https://")
    for descriptor in driver["rules"]:
        rule = rules.lookup(descriptor["id"])
        assert descriptor["name"] == rule.name
        assert descriptor["shortDescription"]["text"] == rule.summary
        assert descriptor["fullDescription"]["text"]
        assert "Why is this bad?" in descriptor["help"]["text"]
        assert descriptor["help"]["markdown"].startswith(f"# {rule.code} {rule.name}")
        assert descriptor["helpUri"].endswith(f"/rules/{rule.code}-{rule.name}.md")
        family = re.sub(r"[^a-z0-9]+", "-", rule.family().lower()).strip("-")
        assert family in descriptor["properties"]["tags"]
        assert all(re.fullmatch(r"[a-z0-9/-]+", tag) for tag in descriptor["properties"]["tags"])
        assert descriptor["properties"]["precision"] in ("very-high", "high", "medium", "low")


def test_rule_index_points_at_the_rule_of_each_result(in_root):
    run = sarif_of(DEMO)["runs"][0]
    ids = [descriptor["id"] for descriptor in run["tool"]["driver"]["rules"]]
    assert len(ids) == len(set(ids))
    assert len(run["results"]) == 4
    for result in run["results"]:
        assert ids[result["ruleIndex"]] == result["ruleId"]
    assert set(ids) == {result["ruleId"] for result in run["results"]}


def test_levels_follow_each_finding_severity(in_root):
    results = sarif_of(DEMO, "--extend-select", "JL001")["runs"][0]["results"]
    levels = {
        (r["ruleId"], r["locations"][0]["physicalLocation"]["region"]["startLine"]): r["level"]
        for r in results
    }
    assert levels[("JL101", 5)] == "error"  # Sidekiq: an error, above the rule's default
    assert levels[("JL301", 8)] == "warning"
    assert levels[("JL001", 5)] == "note"


def test_uris_are_relative_to_the_repository_root(in_root):
    run = sarif_of(DEMO)["runs"][0]
    base = run["originalUriBaseIds"]["%SRCROOT%"]["uri"]
    assert base.startswith("file:///") and base.endswith("/")
    root = Path(url2pathname(urlparse(base).path))
    assert (root / ".git").exists() or root == ROOT
    for result in run["results"]:
        (location,) = result["locations"]
        artifact = location["physicalLocation"]["artifactLocation"]
        assert artifact["uriBaseId"] == "%SRCROOT%"
        uri = artifact["uri"]
        assert not urlparse(uri).scheme and not uri.startswith("/")
        assert "\\" not in uri and ".." not in uri.split("/")
        assert uri.startswith(DEMO + "/app/")
        assert (root / unquote(uri)).is_file()


def test_uris_are_relative_to_the_repository_root_from_a_subdirectory(monkeypatch, tmp_path):
    repository = tmp_path / "monorepo"
    (repository / ".git").mkdir(parents=True)
    write_tree(
        repository / "shop",
        {
            "Gemfile": "",
            "Gemfile.lock": "GEM\n  specs:\n    solid_queue (1.1.0)\n",  # a backend where failure is final (JL201)
            "app/controllers/orders_controller.rb": mailing_controller(),
        },
    )
    monkeypatch.chdir(repository / "shop")
    run = sarif_of(".")["runs"][0]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == repository.as_uri() + "/"
    (result,) = run["results"]
    uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "shop/app/controllers/orders_controller.rb"


def test_uris_are_percent_encoded_references(monkeypatch, tmp_path):
    write_tree(
        tmp_path,
        {
            "Gemfile": "",
            "Gemfile.lock": "GEM\n  specs:\n    solid_queue (1.1.0)\n",  # a backend where failure is final (JL201)
            "app/controllers/café orders#1_controller.rb": mailing_controller(),
        },
    )
    monkeypatch.chdir(tmp_path)
    (result,) = sarif_of(".")["runs"][0]["results"]
    uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "app/controllers/caf%C3%A9%20orders%231_controller.rb"
    assert (tmp_path / unquote(uri)).is_file()


def test_a_file_outside_the_repository_keeps_an_absolute_uri(monkeypatch, tmp_path):
    (tmp_path / "repository" / ".git").mkdir(parents=True)
    write_tree(
        tmp_path / "elsewhere",
        {
            "Gemfile": "",
            "Gemfile.lock": "GEM\n  specs:\n    solid_queue (1.1.0)\n",  # a backend where failure is final (JL201)
            "app/controllers/a_controller.rb": mailing_controller("A"),
        },
    )
    monkeypatch.chdir(tmp_path / "repository")
    (result,) = sarif_of("../elsewhere")["runs"][0]["results"]
    artifact = result["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact == {"uri": (tmp_path / "elsewhere/app/controllers/a_controller.rb").as_uri()}


def test_columns_count_utf16_code_units_on_a_non_ascii_line(monkeypatch, tmp_path):
    line = '    flash[:notice] = "café 🎉 ok"; UserMailer.welcome(user).deliver_now'
    write_tree(
        tmp_path,
        {
            "Gemfile": "",
            "Gemfile.lock": "GEM\n  specs:\n    solid_queue (1.1.0)\n",  # a backend where failure is final (JL201)
            "app/controllers/users_controller.rb": (
                f"class UsersController\n  def create\n{line}\n  end\nend\n"
            ),
        },
    )
    monkeypatch.chdir(tmp_path)
    run = sarif_of(".", "--select", "JL401")["runs"][0]
    assert run["columnKind"] == "utf16CodeUnits"
    (result,) = run["results"]
    region = result["locations"][0]["physicalLocation"]["region"]
    start = line.index("UserMailer")
    utf16 = len(line[:start].encode("utf-16-le")) // 2
    assert utf16 == start + 1  # the emoji is two UTF-16 code units, é is one
    assert region == {
        "startLine": 3,
        "startColumn": utf16 + 1,
        "endLine": 3,
        "endColumn": len(line.encode("utf-16-le")) // 2 + 1,
    }


def test_fingerprints_survive_inserted_lines_and_reformatting_elsewhere(monkeypatch, tmp_path):
    job = (
        "class SyncJob < ApplicationJob\n"
        "  def perform(id)\n"
        "    Account.find(id).increment!(:syncs)\n"
        "  end\n"
        "end\n"
    )
    controller = mailing_controller()
    write_tree(
        tmp_path,
        {
            "Gemfile": "",
            "Gemfile.lock": "GEM\n  specs:\n    solid_queue (1.1.0)\n",  # a backend where failure is final (JL201)
            "app/jobs/sync_job.rb": job,
            "app/controllers/orders_controller.rb": controller,
        },
    )
    monkeypatch.chdir(tmp_path)

    def fingerprints() -> dict[str, tuple[int, str]]:
        results = sarif_of(".", "--extend-select", "JL201")["runs"][0]["results"]
        return {
            r["ruleId"]: (
                r["locations"][0]["physicalLocation"]["region"]["startLine"],
                r["partialFingerprints"]["joblint/v1"],
            )
            for r in results
        }

    before = fingerprints()
    assert {"JL201", "JL301", "JL401"} <= set(before)
    (tmp_path / "app/jobs/sync_job.rb").write_text(
        "# frozen_string_literal: true\n\n# Syncs an account.\n"
        + job.replace("  def perform(id)\n", "  def perform(id)\n\n\n")
    )
    (tmp_path / "app/controllers/orders_controller.rb").write_text(
        "\n\n" + controller.replace("  def create\n", "  def create\n    x   =   1\n")
    )
    after = fingerprints()
    assert set(after) == set(before)
    for code, (line, fingerprint) in before.items():
        assert after[code][0] > line, code  # the finding moved...
        assert after[code][1] == fingerprint, code  # ...and kept its identity
    assert len({fp for _, fp in after.values()}) == len(after)


def test_we_never_set_github_reserved_line_hash(in_root):
    for result in sarif_of(DEMO)["runs"][0]["results"]:
        assert list(result["partialFingerprints"]) == ["joblint/v1"]
        assert re.fullmatch(r"[0-9a-f]{64}", result["partialFingerprints"]["joblint/v1"])


def test_automation_details_id_comes_from_sarif_category(in_root):
    assert sarif_of(DEMO)["runs"][0]["automationDetails"] == {"id": "joblint/"}
    document = sarif_of(DEMO, "--sarif-category", "joblint/backend/")
    assert document["runs"][0]["automationDetails"] == {"id": "joblint/backend/"}


class SecretArgument(Rule):
    """A security rule for the test: never registered.

    ## What it does
    Reports a secret passed to a job.

    ## Why is this bad?
    Job arguments are stored in clear text.

    ## Example
    `ChargeJob.perform_later(password)`

    ## Use instead
    Pass an id.
    """

    code = "JL104"
    name = "secret-argument"
    severity = Severity.ERROR
    scope = "file"
    summary = "A secret passed as a job argument"
    message = "secret"
    help = "Pass an id"
    cwe = 312


def finding(
    code: str,
    name: str,
    severity: Severity,
    path: str = "app/jobs/a.rb",
    line: int = 1,
    fingerprint: str = "0" * 64,
) -> Finding:
    return Finding(
        code=code,
        name=name,
        severity=severity,
        path=path,
        line=line,
        column=1,
        end_line=line,
        end_column=5,
        message="m",
        help="h",
        fingerprint=fingerprint,
        line_text="",
        utf16_column=1,
        utf16_end_column=5,
    )


def test_security_rules_carry_security_severity_and_cwe_tag(validator, monkeypatch, tmp_path):
    real_lookup = rules.lookup
    monkeypatch.setattr(
        rules, "lookup", lambda key: SecretArgument if key == "JL104" else real_lookup(key)
    )
    report = Report(
        findings=[
            finding("JL104", "secret-argument", Severity.ERROR),
            finding("JL201", "missing-retry-policy", Severity.WARNING, line=2),
        ]
    )
    document = json.loads(render("sarif", report, ReportContext(cwd=tmp_path)))
    assert_valid(validator, document)
    descriptors = {d["id"]: d for d in document["runs"][0]["tool"]["driver"]["rules"]}
    security = descriptors["JL104"]["properties"]
    assert {"security", "external/cwe/cwe-312"} <= set(security["tags"])
    assert isinstance(security["security-severity"], str)
    assert 7.0 <= float(security["security-severity"]) < 9.0  # an error is "high"
    plain = descriptors["JL201"]["properties"]
    assert "security-severity" not in plain and "security" not in plain["tags"]


def test_every_registered_security_rule_gets_a_security_severity():
    for rule in rules.all_rules():
        descriptor = sarif.to_json(sarif._descriptor(rule))
        if rule.cwe:
            score = float(descriptor["properties"]["security-severity"])
            assert 0.1 <= score <= 10.0
            assert f"external/cwe/cwe-{rule.cwe}" in descriptor["properties"]["tags"]
        else:
            assert "security-severity" not in descriptor["properties"]


def test_more_than_25000_results_keep_the_most_severe_and_say_so(tmp_path):
    total = sarif.MAX_RESULTS + 3
    findings = [
        finding(
            "JL101",
            "record-argument",
            Severity.ERROR if n % 1000 == 0 else Severity.WARNING,
            path=f"app/jobs/j{n:05}.rb",
            fingerprint=f"{n:064x}",
        )
        for n in range(total)
    ]
    findings[7] = finding("JL001", "syntax-error", Severity.INFO, path="app/jobs/j00007.rb")
    findings[9] = finding("JL001", "syntax-error", Severity.INFO, path="app/jobs/j00009.rb")
    notices: list[str] = []
    document = json.loads(
        render("sarif", Report(findings=findings), ReportContext(cwd=tmp_path, warn=notices.append))
    )
    results = document["runs"][0]["results"]
    assert len(results) == 25_000
    kept = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results}
    assert "app/jobs/j00007.rb" not in kept and "app/jobs/j00009.rb" not in kept
    assert sum(r["level"] == "error" for r in results) == len(range(0, total, 1000))
    uris = [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results]
    assert uris == sorted(uris)  # still in path order
    expected = (
        f"SARIF: {total} results exceed GitHub's limit of 25,000 per run; "
        "kept the 25,000 most severe"
    )
    assert notices == [expected]


def test_result_limit_notice_reaches_stderr(monkeypatch, in_root):
    monkeypatch.setattr(sarif, "MAX_RESULTS", 2)
    result = CliRunner().invoke(main, [DEMO, "--format", "sarif"], catch_exceptions=False)
    assert len(json.loads(result.stdout)["runs"][0]["results"]) == 2
    assert "joblint: SARIF: 4 results exceed GitHub's limit of 2 per run" in result.stderr


def test_unreadable_files_and_crashes_become_notifications(validator, tmp_path):
    from joblint.files import FileProblem

    report = Report(
        problems=[FileProblem("app/jobs/bin.rb", "not UTF-8")],
        crashes=["app/jobs/a.rb: rule JL101 (record-argument) crashed: KeyError: 'x'"],
    )
    document = json.loads(render("sarif", report, ReportContext(cwd=tmp_path)))
    assert_valid(validator, document)
    (invocation,) = document["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is False
    notes = [(n["level"], n["message"]["text"]) for n in invocation["toolExecutionNotifications"]]
    assert notes[0][0] == "warning" and "app/jobs/bin.rb" in notes[0][1] and "UTF-8" in notes[0][1]
    assert notes[1] == ("error", report.crashes[0])


def test_a_clean_run_is_valid_and_lists_no_rules(validator, monkeypatch, tmp_path):
    (tmp_path / "Gemfile").write_text("")
    (tmp_path / "Gemfile.lock").write_text("GEM\n  specs:\n    solid_queue (1.1.0)\n")  # JL201 reports on it
    monkeypatch.chdir(tmp_path)
    document = sarif_of(".")
    assert_valid(validator, document)
    run = document["runs"][0]
    assert run["results"] == [] and "rules" not in run["tool"]["driver"]
    assert run["invocations"] == [{"executionSuccessful": True}]


# --- suppressed findings: inline disables and the baseline ---------------------------------

SUPPRESSING_CONTROLLER = (
    "class UsersController\n  def create(user)\n"
    "    AJob.perform_async(user) # joblint:disable JL101 -- GlobalID is fine here\n"
    "    BJob.perform_async(user)\n  end\nend\n"
)


def suppressions_by_line(document: dict) -> dict[int, list | None]:
    return {
        r["locations"][0]["physicalLocation"]["region"]["startLine"]: r.get("suppressions")
        for r in document["runs"][0]["results"]
        if r["ruleId"] == "JL101"
    }


def test_inline_and_baselined_findings_are_suppressed_results(validator, monkeypatch, tmp_path):
    write_tree(tmp_path, {
        "Gemfile": "",
        "app/models/user.rb": "class User < ApplicationRecord\nend\n",
        "app/controllers/users_controller.rb": SUPPRESSING_CONTROLLER,
    })
    monkeypatch.chdir(tmp_path)
    recorded = CliRunner().invoke(main, [".", "--write-baseline", "baseline.json"])
    assert recorded.exit_code == 0, recorded.output  # records line 4's finding
    controller = tmp_path / "app/controllers/users_controller.rb"
    controller.write_text(SUPPRESSING_CONTROLLER.replace(
        "  end\nend\n", "    CJob.perform_async(user)\n  end\nend\n"
    ))  # a new finding on line 5
    document = sarif_of(".", "--baseline", "baseline.json")
    assert_valid(validator, document)
    assert suppressions_by_line(document) == {
        3: [{"kind": "inSource", "justification": "GlobalID is fine here"}],
        4: [{"kind": "external"}],
        5: None,
    }
    # every other format still hides them
    result = CliRunner().invoke(main, [".", "--baseline", "baseline.json", "--format", "json"])
    assert [f["line"] for f in json.loads(result.stdout)["findings"]] == [5]


def test_a_rule_reported_only_by_suppressed_findings_is_described(validator, tmp_path):
    write_tree(tmp_path, {
        "Gemfile": "",
        "app/models/user.rb": "class User < ApplicationRecord\nend\n",
        "app/controllers/users_controller.rb": SUPPRESSING_CONTROLLER.replace(
            "    BJob.perform_async(user)\n", ""
        ),
    })
    report = run_tree(tmp_path)
    assert report.findings == [] and len(report.suppressed) == 1
    document = json.loads(render("sarif", report, ReportContext(cwd=tmp_path)))
    assert_valid(validator, document)
    run = document["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["JL101"]
    (result,) = run["results"]
    assert result["ruleIndex"] == 0 and result["suppressions"][0]["kind"] == "inSource"


def test_the_result_limit_keeps_open_findings_before_suppressed_ones(monkeypatch, tmp_path):
    from joblint.findings import EXTERNAL, Suppressed

    monkeypatch.setattr(sarif, "MAX_RESULTS", 2)
    report = Report(
        findings=[finding("JL101", "record-argument", Severity.WARNING, path="app/jobs/b.rb")],
        suppressed=[
            Suppressed(finding("JL101", "record-argument", Severity.ERROR, path="app/jobs/a.rb"),
                       EXTERNAL),
            Suppressed(finding("JL101", "record-argument", Severity.ERROR, path="app/jobs/c.rb"),
                       EXTERNAL),
        ],
    )
    document = json.loads(render("sarif", report, ReportContext(cwd=tmp_path)))
    results = document["runs"][0]["results"]
    uris = [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results]
    assert uris == ["app/jobs/a.rb", "app/jobs/b.rb"]  # path order; the open one kept
    assert ["suppressions" in r for r in results] == [True, False]
