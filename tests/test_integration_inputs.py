"""The `integration` marker: tests that need more than the repository (the SARIF schema, a
package index, pre-commit) are marked, skipped with a reason when their input is missing, and
failed instead when JOBLINT_REQUIRE_INTEGRATION=1 (.ci/run)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO_ROOT, missing_input, reaches_package_index, sarif_schema_path


def pytest_run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("JOBLINT_", "PYTEST_"))}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=REPO_ROOT, env=clean, capture_output=True, text=True, timeout=600, check=False,
    )


def test_missing_input_skips_with_its_reason(monkeypatch):
    monkeypatch.delenv("JOBLINT_REQUIRE_INTEGRATION", raising=False)
    with pytest.raises(pytest.skip.Exception, match="^schema not found$"):
        missing_input("schema not found")


def test_missing_input_fails_when_ci_requires_integration_tests(monkeypatch):
    monkeypatch.setenv("JOBLINT_REQUIRE_INTEGRATION", "1")
    with pytest.raises(pytest.fail.Exception, match="schema not found .*must run"):
        missing_input("schema not found")


def test_sarif_schema_is_taken_from_the_environment_else_beside_the_repository(monkeypatch):
    monkeypatch.setenv("JOBLINT_SARIF_SCHEMA", "/somewhere/schema.json")
    assert sarif_schema_path() == (Path("/somewhere/schema.json"), "JOBLINT_SARIF_SCHEMA")
    monkeypatch.delenv("JOBLINT_SARIF_SCHEMA")
    path, _ = sarif_schema_path()
    assert path == REPO_ROOT.parent / "shared" / "schemas" / "sarif-schema-2.1.0.json"


def test_an_unreachable_package_index_is_reported(monkeypatch, tmp_path):
    for name in [k for k in os.environ if k.startswith("PIP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # no configured indexes or wheel folders
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    problem = reaches_package_index(tmp_path)
    assert problem and "hatchling" in problem


def test_tests_needing_outside_inputs_carry_the_integration_marker():
    result = pytest_run("--collect-only", "-m", "integration", "tests/test_sarif.py",
                        "tests/test_precommit.py", "tests/test_integrations.py")
    assert result.returncode == 0, result.stdout + result.stderr
    selected = {line.split("::")[1].split("[")[0] for line in result.stdout.splitlines()
                if "::" in line}
    assert {
        "test_sarif_of_every_fixture_app_is_valid", "test_a_clean_run_is_valid_and_lists_no_rules",
        "test_pre_commit_try_repo_fails_on_a_finding_and_passes_once_fixed",
        "test_action_install_step_puts_joblint_on_the_path",
    } <= selected
    assert "test_hook_manifest_declares_both_hooks" not in selected  # needs nothing outside
    assert "test_action_writes_sarif_and_leaves_findings_to_code_scanning" not in selected


def test_a_missing_schema_skips_the_sarif_validation_unless_required(tmp_path):
    missing = str(tmp_path / "no-schema.json")
    test = "tests/test_sarif.py::test_a_clean_run_is_valid_and_lists_no_rules"
    skipped = pytest_run("-rs", test, JOBLINT_SARIF_SCHEMA=missing)
    assert skipped.returncode == 0, skipped.stdout
    assert "1 skipped" in skipped.stdout
    assert f"SARIF schema not found at {missing} (JOBLINT_SARIF_SCHEMA)" in skipped.stdout
    required = pytest_run(test, JOBLINT_SARIF_SCHEMA=missing, JOBLINT_REQUIRE_INTEGRATION="1")
    assert required.returncode == 1 and "1 error" in required.stdout, required.stdout
