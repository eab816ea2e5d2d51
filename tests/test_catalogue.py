"""The committed rule catalogue is generated from the registry and must be current."""

from __future__ import annotations

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
