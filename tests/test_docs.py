"""The README and docs/: the sample output is what its command prints today, and every page or
file they point to exists."""

from __future__ import annotations

import re
import shlex

from click.testing import CliRunner

from joblint.cli import main

from .test_cli import ROOT

SAMPLE = re.compile(r"```text\n\$ (joblint [^\n]*)\n(.*?)```", re.DOTALL)


def test_readme_sample_output_is_a_real_run_of_its_command(monkeypatch):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    samples = SAMPLE.findall(readme)
    assert len(samples) == 1
    command, shown = samples[0]
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("NO_COLOR", "1")
    result = CliRunner().invoke(main, shlex.split(command)[1:], catch_exceptions=False)
    assert result.exit_code == 1
    assert result.output == shown, "regenerate the README sample from a real run"
    count = int(re.search(r"^Found (\d+) findings", shown, re.MULTILINE).group(1))
    headings = re.findall(r"^  \d+:\d+ (?:error|warning|info) JL\d{3}", shown, re.MULTILINE)
    assert len(headings) == count


PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
NAMED_PAGE = re.compile(r"`([\w./-]+\.md)`")


def test_doc_links_and_named_pages_exist():
    dangling = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # a URL, or an anchor of the page itself
            if not (page.parent / target.split("#")[0]).exists():
                dangling.append(f"{page.name}: ({target})")
        for name in NAMED_PAGE.findall(text):  # `jobs.md` in prose is a page the reader looks for
            if not any((base / name).exists() for base in (page.parent, ROOT)):
                dangling.append(f"{page.name}: `{name}`")
    assert not dangling, dangling
