from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
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


@pytest.fixture(autouse=True, scope="session")
def _cache_outside_the_fixtures(tmp_path_factory: pytest.TempPathFactory):
    """The command line keeps its cache at the Rails root; under test it goes to a temporary
    directory, so that the fixture apps stay clean (every CLI test still runs through it)."""
    patch = pytest.MonkeyPatch()
    patch.setenv("JOBLINT_CACHE_DIR", str(tmp_path_factory.mktemp("joblint-cache")))
    yield
    patch.undo()


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


# --- tests that need more than the repository ---------------------------------------------
# A test that uses one of these fixtures gets the `integration` marker (`pytest -m "not
# integration"` leaves them out) and is skipped, saying why, when its input is missing; with
# JOBLINT_REQUIRE_INTEGRATION=1, as .ci/run sets, a missing input fails it instead.

REPO_ROOT = Path(__file__).resolve().parent.parent
SARIF_SCHEMA_NAME = "sarif-schema-2.1.0.json"
INTEGRATION_FIXTURES = frozenset({"sarif_schema", "package_index", "pre_commit_tool"})


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


def missing_input(reason: str) -> None:
    """Skip the test for want of `reason`, or fail it when CI requires integration tests."""
    if os.environ.get("JOBLINT_REQUIRE_INTEGRATION") == "1":
        pytest.fail(f"{reason} (JOBLINT_REQUIRE_INTEGRATION=1: this test must run)", pytrace=False)
    pytest.skip(reason)


def sarif_schema_path() -> tuple[Path, str]:
    """Where the OASIS SARIF 2.1.0 schema is looked for, and how that place was chosen:
    `$JOBLINT_SARIF_SCHEMA`, else `shared/schemas/` beside the repository (the workspace's
    layout, and CI's: a clone with a copy of `shared/` next to it)."""
    configured = os.environ.get("JOBLINT_SARIF_SCHEMA")
    if configured:
        return Path(configured), "JOBLINT_SARIF_SCHEMA"
    return REPO_ROOT.parent / "shared" / "schemas" / SARIF_SCHEMA_NAME, "the default place"


@pytest.fixture(scope="session")
def sarif_schema() -> Path:
    """The OASIS SARIF 2.1.0 JSON schema, which the repository does not ship."""
    path, origin = sarif_schema_path()
    if not path.is_file():
        missing_input(
            f"SARIF schema not found at {path} ({origin}); "
            f"set JOBLINT_SARIF_SCHEMA to a copy of {SARIF_SCHEMA_NAME}"
        )
    return path


def reaches_package_index(tmp_path: Path) -> str | None:
    """None when pip can fetch joblint's build backend (what installing joblint from this
    checkout into a fresh virtualenv needs first), else what pip said."""
    try:
        process = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--retries", "0",
             "--timeout", "10", "--dest", str(tmp_path), "hatchling"],
            capture_output=True, text=True, timeout=120, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return str(error)
    if process.returncode != 0:
        return (process.stderr.strip().splitlines() or ["pip failed"])[-1]
    return None


@pytest.fixture(scope="session")
def package_index(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Skip unless pip can install packages: the test installs joblint into a new virtualenv."""
    problem = reaches_package_index(tmp_path_factory.mktemp("index-check"))
    if problem is not None:
        missing_input(f"no package index reachable (pip download hatchling: {problem})")


@pytest.fixture(scope="session")
def pre_commit_tool(package_index: None) -> None:
    """Skip unless pre-commit and git are installed and pip can install the hook's environment."""
    try:
        import pre_commit  # noqa: F401
    except ImportError:
        missing_input("pre-commit is not installed (pip install -e '.[test]')")
    if shutil.which("git") is None:
        missing_input("git is not installed")
