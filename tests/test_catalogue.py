"""The committed rule catalogue is generated from the registry and must be current."""

from __future__ import annotations

import re
import string
from pathlib import Path

from joblint import catalogue, rules

ROOT = Path(__file__).resolve().parent.parent


def test_committed_catalogue_is_current():
    stale = catalogue.stale_files(ROOT / "rules")
    assert not stale, f"regenerate with `python -m joblint.catalogue`: {stale}"


def test_stale_pages_are_detected(tmp_path):
    catalogue.write(tmp_path)
    assert catalogue.stale_files(tmp_path) == []
    page = tmp_path / "JL101-record-argument.md"
    page.write_text(page.read_text() + "edited\n")
    (tmp_path / "JL100-retired.md").write_text("old")
    assert catalogue.stale_files(tmp_path) == ["JL101-record-argument.md", "JL100-retired.md"]


def test_every_page_has_the_documented_sections_and_examples():
    for rule in rules.all_rules():
        page = catalogue.page(rule)
        for section in rules.DOC_SECTIONS:
            assert f"## {section}" in page, (rule.code, section)
        assert "## Examples that are reported" in page
        assert "# expect: " + rule.code in page


def test_registry_rejects_a_rule_in_the_wrong_module():
    import pytest

    from joblint.findings import Severity

    class Misplaced(rules.Rule):
        """## What it does\nx\n## Why is this bad?\nx\n## Example\nx\n## Use instead\nx"""

        code = "JL998"
        name = "misplaced"
        severity = Severity.INFO
        scope = "file"

    with pytest.raises(ValueError, match="must live in rules/jl998_misplaced.py"):
        rules.register(Misplaced)


def test_importing_one_rule_first_still_loads_them_all():
    import subprocess
    import sys

    code = (
        "import joblint.rules.jl101_record_argument\n"
        "from joblint import rules\n"
        "print(len(rules.all_rules()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) == len(rules.all_rules())


# `{name}` left over from a `str.format` template; Ruby's `#{…}`, a block's `{ |x| … }` are not
PLACEHOLDER = re.compile(r"(?<!#)\{[A-Za-z_][A-Za-z0-9_.]*\}")


def template_fields(*templates: str) -> set[str]:
    """`{read}`, `{model}`… for every field the templates name (`#{x}` included)."""
    formatter = string.Formatter()
    return {
        "{" + field + "}"
        for template in templates
        for _, field, _, _ in formatter.parse(template)
        if field
    }


def test_placeholder_checks_tell_a_template_field_from_ruby():
    assert PLACEHOLDER.search("Add includes(:{association})")
    assert not PLACEHOLDER.search('"job_#{id}" or { |x| x } or {a: 1}')
    assert template_fields("`{read}` loads `{model}#{association}`", "plain") == {
        "{read}", "{model}", "{association}"}


def test_every_rule_help_is_static_text():
    """`help` is printed as it is (the engine never formats it), so a field in it would show."""
    for rule in rules.all_rules():
        assert not PLACEHOLDER.search(rule.help), (rule.code, rule.help)


def test_no_finding_of_a_rule_example_shows_an_unformatted_placeholder(tmp_path):
    from .conftest import run_tree, write_tree
    from .test_examples import EXAMPLES

    checked = set()
    for rule, kind, index, files in EXAMPLES:
        if kind != "bad":
            continue
        tree = tmp_path / f"{rule.code}-{index}"
        write_tree(tree, files)
        report = run_tree(tree, (rule.code,), rule_options={rule.code: rule.examples.settings})
        for finding in report.findings:
            finder = rules.lookup(finding.code)
            assert finder is not None
            fields = template_fields(finder.message, finder.help)
            for text in (finding.message, finding.help):
                assert not PLACEHOLDER.search(text), (finding.code, index, text)
                assert not [f for f in fields if f in text], (finding.code, index, text)
            checked.add(finding.code)
    assert checked >= {rule.code for rule in rules.all_rules()}  # every rule, once at least
