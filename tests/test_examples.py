"""Every rule's bad and good examples, run through all rules: exactly the annotated findings."""

from __future__ import annotations

from pathlib import Path

import pytest

from joblint import rules
from joblint.engine import Options, lint

from .conftest import expectations, run_tree, write_tree

EXAMPLES = list(rules.iter_examples())


@pytest.mark.parametrize(
    "rule, kind, index, files",
    EXAMPLES,
    ids=[f"{r.code}-{kind}{i}" for r, kind, i, _ in EXAMPLES],
)
def test_example_yields_exactly_annotated_findings(tmp_path, rule, kind, index, files):
    write_tree(tmp_path, files)
    report = run_tree(tmp_path, (rule.code,), rule_options={rule.code: rule.examples.settings})
    assert not report.crashes
    found = {(f.path, f.line, f.code) for f in report.findings}
    expected = expectations(files)
    missing = expected - found
    noisy = found - expected
    assert not missing and not noisy, f"missing={sorted(missing)} noisy={sorted(noisy)}"


def test_every_rule_has_two_bad_and_two_good_examples():
    for rule in rules.all_rules():
        assert len(rule.examples.bad) >= 2, rule.code
        assert len(rule.examples.good) >= 2, rule.code


def test_bad_examples_are_annotated_for_their_rule_and_good_ones_are_clean():
    for rule, kind, _, files in EXAMPLES:
        codes = {code for _, _, code in expectations(files)}
        if kind == "bad":
            assert rule.code in codes, rule.code
        else:
            assert not codes, rule.code


FIXTURE_APPS = sorted(p for p in (Path(__file__).parent / "fixtures" / "apps").iterdir() if p.is_dir())


@pytest.mark.parametrize("app_dir", FIXTURE_APPS, ids=[p.name for p in FIXTURE_APPS])
def test_fixture_app_yields_exactly_annotated_findings(app_dir):
    files = {
        p.relative_to(app_dir).as_posix(): p.read_text(encoding="utf-8")
        for p in app_dir.rglob("*")
        if p.is_file()
    }
    report = lint([app_dir], Options(rules=rules.select(), root=app_dir), cwd=app_dir)
    found = {(f.path, f.line, f.code) for f in report.findings}
    expected = expectations(files)
    assert found == expected, f"missing={sorted(expected - found)} noisy={sorted(found - expected)}"
