"""The dispatch floor of `bench/targets.py` (what a cold check costs before any rule runs) reads
what `joblint .` checks and parses only the Ruby files some rule wants; the timing itself is
judged when the benchmark runs, never here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import targets


def _app(root: Path, files: dict[str, str]) -> Path:
    for relpath, text in {"Gemfile": 'source "https://rubygems.org"\ngem "rails"\n', **files}.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _floor(root: Path) -> str:
    done = subprocess.run([sys.executable, "-c", targets.DISPATCH_FLOOR], cwd=root,
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


JOB = "class ReportJob < ApplicationJob\n  def perform(id)\n    Report.find(id).touch\n  end\nend\n"


def test_the_floor_parses_the_files_a_rule_wants_and_reads_the_others(tmp_path):
    root = _app(tmp_path, {
        "app/jobs/report_job.rb": JOB,
        "app/models/note.rb": "class Note < ApplicationRecord\nend\n",
        "app/models/invoice.rb": "class Invoice < ApplicationRecord\n"
                                 "  after_commit { ReportJob.perform_later(id) }\nend\n",
        "vendor/bundle/gem.rb": "ReportJob.perform_later(1)\n",  # not checked: not read
    })
    assert _floor(root) == "read 4 files, parsed 2"
    (root / "app/models/invoice.rb").write_text("class Invoice < ApplicationRecord\nend\n")
    assert _floor(root) == "read 4 files, parsed 1"
