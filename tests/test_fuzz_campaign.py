"""The hostile-input campaign kept in bench/: a few of its cases run here (the whole campaign,
`python bench/fuzz_campaign.py`, takes about a minute), and it does notice a failure."""

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
    chosen += list(campaign.mutations(campaign.FIXTURES, 3, random.Random(7)))
    outcomes = [campaign.run_case(case, timeout=30) for case in chosen]
    assert [(o.case, o.problem) for o in outcomes if o.problem] == []


def test_a_run_past_the_time_limit_is_a_failure():
    case = campaign.Case("tiny", {"app/jobs/a_job.rb": b"class AJob < ApplicationJob\nend\n"})
    outcome = campaign.run_case(case, timeout=0.001)
    assert outcome.problem is not None and "over" in outcome.problem
