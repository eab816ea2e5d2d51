"""The hostile-input campaign kept in bench/: a few of its cases run here (the default campaign,
`python bench/fuzz_campaign.py`, takes a minute or two; the release run of 10,000 cases about
twenty), and it does notice a failure."""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

CAMPAIGN = Path(__file__).resolve().parents[1] / "bench" / "fuzz_campaign.py"
spec = importlib.util.spec_from_file_location("fuzz_campaign", CAMPAIGN)
assert spec is not None and spec.loader is not None
campaign = importlib.util.module_from_spec(spec)
sys.modules["fuzz_campaign"] = campaign
spec.loader.exec_module(campaign)


def test_hostile_shapes_and_mutations_pass():
    shapes = {case.name: case for case in campaign.shapes()}
    chosen = [shapes[name] for name in ("control-characters", "bad-file-name", "nested-yaml",
                                        "invalid-gitignore") if name in shapes]
    outcomes = [campaign.run_case(case, timeout=30) for case in chosen]
    outcomes += campaign.run_batch(list(campaign.mutations(campaign.FIXTURES, 6, random.Random(7))), 30)
    assert [(o.case, o.problem) for o in outcomes if o.problem] == []


def test_a_run_past_the_time_limit_is_a_failure():
    case = campaign.Case("tiny", {"app/jobs/a_job.rb": b"class AJob < ApplicationJob\nend\n"})
    outcome = campaign.run_case(case, timeout=0.001)
    assert outcome.problem is not None and "over" in outcome.problem


def test_mutated_files_keep_their_place_in_the_app():
    assert campaign._in_app(Path("sidekiq/config/sidekiq.yml")) == "config/sidekiq.yml"
    assert campaign._in_app(Path("demo/app/jobs/billing/close_books_job.rb")) == "app/jobs/billing/close_books_job.rb"
    assert campaign._in_app(Path("loose/thing.rb")) == "app/jobs/thing.rb"


def test_a_failing_batch_is_split_until_each_failure_is_a_case_of_its_own():
    cases = list(campaign.mutations(campaign.FIXTURES, 3, random.Random(7)))
    assert [o.problem for o in campaign.run_batch(cases, timeout=60)] == [None, None, None]
    hung = campaign.run_batch(cases, timeout=0.001)
    assert [(o.case, o.kind) for o in hung] == [(c.name, campaign.HANG) for c in cases]


def test_the_memory_check_runs_check_and_jobs_on_one_app(capsys):
    assert campaign.main(["--tree", "30", "--seed", "2"]) == 0
    printed = capsys.readouterr().out
    assert "one app of 30 mutated files" in printed
    assert "joblint check" in printed and "joblint jobs" in printed and "peak" in printed
