"""The fix mechanism: rules return edits; --fix writes them, --diff shows them."""

from __future__ import annotations

from click.testing import CliRunner

from joblint import fixes
from joblint.engine import FileFixes, Report
from joblint.findings import Edit


def test_edits_apply_in_order_and_overlaps_are_skipped():
    data = b"include Sidekiq::Worker\n"
    start = data.index(b"Worker")
    edits = [
        Edit(start, start + 6, b"Job"),
        Edit(start + 1, start + 3, b"XX"),  # overlaps the first: skipped
        Edit(0, 7, b"include"),
    ]
    assert fixes.apply_edits(data, edits) == (b"include Sidekiq::Job\n", 2)


def test_a_fix_that_breaks_parsing_is_refused(tmp_path):
    path = tmp_path / "x.rb"
    data = b"def a\n  1\nend\n"
    report = Report()
    end = data.index(b"end")
    report.fixes["x.rb"] = FileFixes(path, data, [Edit(end, end + 3, b"")])  # removes `end`
    planned, refused = fixes.plan(report)
    assert planned == [] and refused == ["x.rb"]


def test_diff_is_unified_and_writes_nothing(tmp_path):
    path = tmp_path / "w.rb"
    data = b"class W\n  include Sidekiq::Worker\nend\n"
    path.write_bytes(data)
    start = data.index(b"Worker")
    report = Report()
    report.fixes["w.rb"] = FileFixes(path, data, [Edit(start, start + 6, b"Job")])
    planned, _ = fixes.plan(report)
    diff = fixes.unified_diff(planned)
    assert "--- a/w.rb\n+++ b/w.rb\n" in diff
    assert "-  include Sidekiq::Worker\n+  include Sidekiq::Job\n" in diff
    assert path.read_bytes() == data
    fixes.write(planned)
    assert path.read_bytes() == data.replace(b"Worker", b"Job")


def test_rule_options_reach_the_rule(tmp_path):
    from .conftest import run_tree, write_tree

    write_tree(
        tmp_path,
        {
            "app/models/user.rb": "class User < ApplicationRecord\nend\n",
            "app/jobs/j.rb": "class J < ApplicationJob\n  retry_on Timeout::Error\nend\n",
            "app/services/s.rb": "class S\n  def call(user)\n    J.perform_later(user)\n"
            "    W.perform_async(user)\n    user.destroy\n  end\nend\n",
        },
    )
    default = run_tree(tmp_path)  # the ActiveJob case is opt-in
    # JL107 reports the ActiveJob record either way: it is destroyed before the job can load it
    assert [(f.code, f.line) for f in default.findings] == [("JL107", 3), ("JL101", 4)]
    reported = run_tree(tmp_path, rule_options={"JL101": {"allow-global-id": False}})
    assert [(f.code, f.line) for f in reported.findings] == [
        ("JL101", 3),
        ("JL107", 3),
        ("JL101", 4),
    ]


def test_cli_fix_and_diff_flags_exist():
    from joblint.cli import main

    result = CliRunner().invoke(main, ["check", "--help"])
    assert "--fix" in result.output and "--diff" in result.output
