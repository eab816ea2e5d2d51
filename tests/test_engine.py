"""The engine: dispatch by trigger words, single parse, crash isolation, scope of reporting."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from joblint import ruby, rules
from joblint.engine import Options, display_path, lint
from joblint.findings import Hit, Severity
from joblint.rules import Examples, Rule

from .conftest import write_tree

APP = {
    "Gemfile": "",
    "Gemfile.lock": "GEM\n  specs:\n    solid_queue (1.1.0)\n",  # a backend where failure is final (JL201)
    "app/models/user.rb": "class User < ApplicationRecord\nend\n",
    "app/jobs/welcome_job.rb": (
        "class WelcomeJob < ApplicationJob\n  retry_on Timeout::Error\n"
        "  def perform(id); end\nend\n"
    ),
    "app/controllers/users_controller.rb": (
        "class UsersController < ApplicationController\n"
        "  def create\n    user = User.find(1)\n    WelcomeJob.perform_async(user)\n  end\nend\n"
    ),
    "spec/models/user_spec.rb": "RSpec.describe User do\n  it { expect(1).to eq 1 }\nend\n",
}


def test_each_file_is_parsed_at_most_once(tmp_path, monkeypatch):
    write_tree(tmp_path, APP)
    parsed: Counter[bytes] = Counter()
    real_parse = ruby.parse

    def counting_parse(data: bytes):
        parsed[data] += 1
        return real_parse(data)

    monkeypatch.setattr(ruby, "parse", counting_parse)
    report = lint([tmp_path], Options(rules=rules.select()), cwd=tmp_path)
    assert [f.code for f in report.findings] == ["JL101"]
    assert parsed and max(parsed.values()) == 1


def test_files_without_trigger_words_are_not_parsed(tmp_path, monkeypatch):
    write_tree(tmp_path, APP)
    seen: list[bytes] = []
    real_parse = ruby.parse
    monkeypatch.setattr(ruby, "parse", lambda data: seen.append(data) or real_parse(data))
    lint([tmp_path / "spec"], Options(rules=rules.select()), cwd=tmp_path)
    assert seen == []  # the spec file has no job words and no project rule needed the model


def test_model_is_built_from_the_whole_root_when_one_file_is_named(tmp_path):
    write_tree(tmp_path, APP)
    named = tmp_path / "app/controllers/users_controller.rb"
    report = lint([named], Options(rules=rules.select()), cwd=tmp_path)
    # `user` is a record only because app/models/user.rb (not named) defines User
    assert [(f.path, f.code) for f in report.findings] == [
        ("app/controllers/users_controller.rb", "JL101")
    ]
    assert report.files == 1


class Crashing(Rule):
    """## What it does\nx\n## Why is this bad?\nx\n## Example\nx\n## Use instead\nx"""

    code = "JL999"
    name = "crashing"
    severity = Severity.ERROR
    scope = "file"
    summary = message = help = "boom"
    triggers = ("perform",)
    examples = Examples()

    def check(self, source, app):
        if "welcome" in source.relpath:
            raise RuntimeError("boom")
        yield Hit(0, 1)


def test_a_crashing_rule_is_reported_and_the_run_goes_on(tmp_path):
    write_tree(tmp_path, APP)
    report = lint([tmp_path], Options(rules=[Crashing, *rules.select()]), cwd=tmp_path)
    assert report.failed
    assert len(report.crashes) == 1
    assert "app/jobs/welcome_job.rb" in report.crashes[0] and "JL999" in report.crashes[0]
    codes = sorted(f.code for f in report.findings)
    assert codes == ["JL101", "JL999"]  # other files and other rules still ran


def test_output_is_sorted_and_identical_across_runs(tmp_path):
    write_tree(tmp_path, APP)
    write_tree(
        tmp_path,
        {"app/jobs/b_job.rb": "class BJob < ApplicationJob\n  def perform; end\nend\n",
         "app/jobs/a_job.rb": "class AJob < ApplicationJob\n  def perform; end\nend\n"},
    )
    first = lint([tmp_path], Options(rules=rules.select()), cwd=tmp_path)
    second = lint([tmp_path / "app", tmp_path], Options(rules=rules.select()), cwd=tmp_path)
    assert first.findings == second.findings
    assert [f.sort_key for f in first.findings] == sorted(f.sort_key for f in first.findings)


def test_gitignored_and_excluded_paths_are_not_walked_but_named_files_are(tmp_path):
    write_tree(tmp_path, APP)
    write_tree(
        tmp_path,
        {
            ".gitignore": "generated/\n",
            "generated/x_job.rb": "class XJob < ApplicationJob\n  def perform; end\nend\n",
            "vendor/gems/y_job.rb": "class YJob < ApplicationJob\n  def perform; end\nend\n",
        },
    )
    walked = lint([tmp_path], Options(rules=rules.select(), excludes=("app/controllers",)),
                  cwd=tmp_path)
    paths = {f.path for f in walked.findings}
    assert not any(p.startswith(("generated/", "vendor/", "app/controllers")) for p in paths)
    named = lint(
        [tmp_path / "generated/x_job.rb"],
        Options(rules=rules.select(extend_select=["JL201"])),
        cwd=tmp_path,
    )
    assert [f.code for f in named.findings] == ["JL201"]


def test_paths_are_relative_to_the_current_directory(tmp_path):
    write_tree(tmp_path, APP)
    report = lint([Path("app")], Options(rules=rules.select()), cwd=tmp_path)
    assert [f.path for f in report.findings] == ["app/controllers/users_controller.rb"]
    elsewhere = lint([tmp_path / "app"], Options(rules=rules.select()), cwd=tmp_path / "spec")
    assert [f.path for f in elsewhere.findings] == ["../app/controllers/users_controller.rb"]


def test_output_does_not_depend_on_the_number_of_workers(tmp_path):
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        return  # workers need fork; elsewhere the engine always runs in one process
    write_tree(tmp_path, APP)
    for index in range(70):  # enough files for several batches
        write_tree(tmp_path, {f"app/jobs/j{index}_job.rb": (
            f"class J{index}Job < ApplicationJob\n  def perform(user)\n"
            f"    user.increment!(:n)\n    J{index + 1}Job.perform_async(User.find(1))\n  end\nend\n")})
    one = lint([tmp_path], Options(rules=rules.select(["ALL"]), jobs=1), cwd=tmp_path)
    two = lint([tmp_path], Options(rules=rules.select(["ALL"]), jobs=2), cwd=tmp_path)
    assert one.findings and one.findings == two.findings
    assert (one.linted, one.suppressed, one.crashes) == (two.linted, two.suppressed, two.crashes)


def _workers_app(root: Path) -> None:
    write_tree(root, APP)
    for index in range(70):  # enough files for several batches
        write_tree(root, {f"app/jobs/j{index}_job.rb": (
            f"class J{index}Job < ApplicationJob\n  def perform(user)\n"
            f"    user.increment!(:n)\n    J{index + 1}Job.perform_async(User.find(1))\n  end\nend\n")})
    for index in range(30):  # files no rule wants: the other processes take them first
        write_tree(root, {f"app/models/plain{index}.rb": f"class Plain{index} < Base{index}\nend\n"})
    # nested past the limit, and analysed: not, with a notice, whichever process extracted it
    deep = ("".join(f"module M{i}\n" for i in range(ruby.MAX_ASCENT + 5))
            + "J1Job.perform_later(User.find(1))\n" + "end\n" * (ruby.MAX_ASCENT + 5))
    write_tree(root, {"app/models/deep.rb": deep})


def _extracted_in_this_process(monkeypatch) -> list[str]:
    """The relpaths of the files whose definitions this process extracts from now on (the
    engine's share on several cores, and the class index's own), in order."""
    from joblint import engine
    from joblint.rails import app as app_module

    extracted: list[str] = []
    for module in (engine, app_module):
        real = module.extract_definitions
        monkeypatch.setattr(module, "extract_definitions",
                            lambda s, real=real: extracted.append(s.relpath) or real(s))
    return extracted


def test_the_class_index_is_extracted_by_the_workers_too_with_the_same_output(tmp_path, monkeypatch):
    """With several workers, other processes extract part of the class index's definitions
    while this one extracts the rest; the output is still the one-process output."""
    import multiprocessing

    from joblint import engine

    if "fork" not in multiprocessing.get_all_start_methods():
        return  # workers need fork; elsewhere the engine always runs in one process
    _workers_app(tmp_path)
    one = lint([tmp_path], Options(rules=rules.select(["ALL"]), jobs=1), cwd=tmp_path)
    extracted_here = _extracted_in_this_process(monkeypatch)
    monkeypatch.setattr(engine, "PARALLEL_EXTRACTION_BYTES", 0)
    two = lint([tmp_path], Options(rules=rules.select(["ALL"]), jobs=2), cwd=tmp_path)
    model_files = 1 + 70 + 30 + 1
    assert 0 < len(extracted_here) < model_files  # the others' came back from another process
    assert len(set(extracted_here)) == len(extracted_here)  # and none was extracted twice
    assert not any(p.startswith("app/models/plain") for p in extracted_here)  # the others' first
    assert one.findings and one.findings == two.findings
    assert (one.linted, one.suppressed, one.crashes, one.problems) == (
        two.linted, two.suppressed, two.crashes, two.problems)
    assert any("deep.rb" in p.path for p in two.problems)


def test_a_per_file_fact_failing_in_a_worker_fails_as_in_one_process(tmp_path, monkeypatch):
    """A per-file fact the extracting process cannot build is left to the rule that asks for
    it, which reports the crash it reports in one process, instead of the run stopping."""
    import multiprocessing

    from joblint import engine
    from joblint.rails import file_facts, wrappers

    if "fork" not in multiprocessing.get_all_start_methods():
        return
    _workers_app(tmp_path)
    real = wrappers._file_wrappers

    def failing(source):
        if source.relpath == "app/models/plain0.rb":  # no rule wants it: the other process has it
            raise ValueError("no facts here")
        return real(source)

    monkeypatch.setattr(wrappers, "_file_wrappers", failing)
    monkeypatch.setitem(file_facts.BUILDERS, "enqueue_wrappers", failing)
    monkeypatch.setattr(engine, "PARALLEL_EXTRACTION_BYTES", 0)
    one = lint([tmp_path], Options(rules=rules.select(["ALL"]), jobs=1), cwd=tmp_path)
    two = lint([tmp_path], Options(rules=rules.select(["ALL"]), jobs=2), cwd=tmp_path)
    assert one.crashes and all("no facts here" in crash for crash in one.crashes)
    assert (one.findings, one.crashes) == (two.findings, two.crashes)


def test_definitions_extracted_by_the_workers_are_kept_by_the_cache(tmp_path, monkeypatch):
    """The definitions another process extracted are cached as it encoded them: the next run
    extracts none of the unchanged files, even with new times (a checkout) and several
    workers, and reports what a run without the cache reports."""
    import multiprocessing

    from joblint import engine

    if "fork" not in multiprocessing.get_all_start_methods():
        return
    _workers_app(tmp_path)
    monkeypatch.setattr(engine, "PARALLEL_EXTRACTION_BYTES", 0)
    cached = Options(rules=rules.select(["ALL"]), jobs=2, cache=True, cache_dir=tmp_path / "cache")
    first = lint([tmp_path], cached, cwd=tmp_path)
    (tmp_path / "app/jobs/j3_job.rb").write_text("# edited\n" + (tmp_path / "app/jobs/j3_job.rb").read_text())
    fresh = lint([tmp_path], Options(rules=rules.select(["ALL"]), jobs=1), cwd=tmp_path)
    for path in tmp_path.glob("app/**/*.rb"):
        os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 60))
    extracted = _extracted_in_this_process(monkeypatch)
    second = lint([tmp_path], cached, cwd=tmp_path)
    assert set(extracted) <= {"app/jobs/j3_job.rb"}  # that one perhaps by the other process
    assert first.findings and second.findings == fresh.findings
    assert second.problems == fresh.problems and any("deep.rb" in p.path for p in fresh.problems)


def test_trees_past_the_budget_are_let_go_and_parsed_again_with_the_same_findings(monkeypatch):
    """A run that may keep one tree at a time (besides the file being analysed) reports exactly
    what an unbounded run reports: a released tree is parsed again when a rule asks for it."""
    from joblint.source import TREES

    fixtures = Path(__file__).parent / "fixtures" / "apps"
    enabled = rules.select(extend_select=("JL302", "JL303", "JL502", "JL506", "JL201"))

    def findings(app: Path) -> list[tuple[str, int, str, str]]:
        report = lint([app], Options(rules=enabled, root=app), cwd=app)
        assert not report.crashes
        return [(f.path, f.line, f.code, f.message) for f in report.findings]

    parses = Counter()
    original = ruby.parse
    monkeypatch.setattr(ruby, "parse", lambda data: parses.update([data]) or original(data))
    monkeypatch.setattr(TREES, "fixed", True)  # not adapted to the app's size
    for app in sorted(fixtures.iterdir()):
        unbounded = findings(app)
        once = sum(parses.values())
        monkeypatch.setattr(TREES, "limit", 1)
        assert findings(app) == unbounded
        monkeypatch.setattr(TREES, "limit", 1 << 40)
        assert sum(parses.values()) > 2 * once  # the bounded run did parse trees again
        parses.clear()


@given(
    st.lists(st.sampled_from(["a", "b.rb", ".", "..", "", ".h", "a b"]), max_size=6),
    st.booleans(),
    st.sampled_from(["/", "/w", "/w/app", "/w/"]),
)
def test_display_paths_are_what_relpath_says(segments, absolute, cwd):
    """The fast path for files below the working directory gives relpath's answer, always."""
    path = ("/w/" if absolute else "") + "/".join(segments)
    expected = os.path.relpath(os.path.join(cwd, path), cwd)
    assert display_path(path, Path(cwd)) == expected
