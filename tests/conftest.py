from __future__ import annotations

import re
from pathlib import Path

import pytest

from joblint import rules
from joblint.engine import Options, Report, lint

EXPECT = re.compile(r"#\s*expect:\s*([A-Z0-9, ]+)")


def write_tree(root: Path, files: dict[str, str]) -> None:
    for relpath, text in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def expectations(files: dict[str, str]) -> set[tuple[str, int, str]]:
    """(path, line, code) for every `# expect: JLnnn[, JLmmm]` annotation."""
    expected = set()
    for relpath, text in files.items():
        for number, line in enumerate(text.splitlines(), start=1):
            match = EXPECT.search(line)
            if match:
                for code in match.group(1).replace(" ", "").split(","):
                    if code:
                        expected.add((relpath, number, code))
    return expected


def run_tree(root: Path, extra_codes: tuple[str, ...] = (), **options) -> Report:
    enabled = rules.select(extend_select=extra_codes)
    return lint([root], Options(rules=enabled, root=root, **options), cwd=root)


@pytest.fixture
def app_tree(tmp_path: Path):
    """Write a mini Rails tree and lint it: `app_tree({path: text})` → Report."""

    def build(files: dict[str, str], *extra_codes: str, **options) -> Report:
        write_tree(tmp_path, files)
        return run_tree(tmp_path, extra_codes, **options)

    return build


def diff_writing_nothing(path: Path, code: str) -> str:
    """`joblint check . --select CODE --diff` in the current directory: the diff it prints,
    having checked that the file was left untouched."""
    from click.testing import CliRunner

    from joblint.cli import main

    before = path.read_bytes()
    result = CliRunner().invoke(main, ["check", ".", "--select", code, "--diff"])
    assert path.read_bytes() == before
    return result.output


def fixed_twice(path: Path, code: str) -> str:
    """Run `--fix` twice: the first fixes every finding of CODE, the second changes nothing
    and exits 0. Returns the fixed text."""
    from click.testing import CliRunner

    from joblint.cli import main

    first = CliRunner().invoke(main, ["check", ".", "--select", code, "--fix"])
    fixed = path.read_text()
    assert code not in first.output
    second = CliRunner().invoke(main, ["check", ".", "--select", code, "--fix"])
    assert path.read_text() == fixed
    assert second.exit_code == 0
    return fixed
