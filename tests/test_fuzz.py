"""Fuzzing: every rule on mangled versions of every example tree must never crash.

Real code is full of half-written and odd Ruby; a rule that raises on it loses the user's run
(exit 2). The mutations cut, duplicate and splice the example files at random places and
insert the tokens most likely to confuse a rule (unbalanced `end`, `do`, quotes, splats).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from joblint import rules
from joblint.engine import Options, lint

from .conftest import write_tree

EXAMPLES = [files for _, _, _, files in rules.iter_examples()]
TOKENS = ["end\n", " do |x|\n", "(", ")", '"', "#{", "*", "**", "&", ":", ",", "\n", "::",
          " rescue ", "self.", "@", "[", "]", " => ", "\t", "é", "---\n", "- ", ": ["]


@st.composite
def mangled_trees(draw: st.DrawFn) -> dict[str, str]:
    files = dict(draw(st.sampled_from(EXAMPLES)))
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(sorted(files)))
        text = files[path]
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "duplicate"]))
        if action == "insert":
            text = text[:at] + draw(st.sampled_from(TOKENS)) + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 40)) :]
        else:
            end = min(len(text), at + draw(st.integers(1, 80)))
            text = text[:end] + text[at:end] + text[end:]
        files[path] = text
    return files


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mangled_trees())
def test_no_rule_crashes_on_mangled_code(files):
    root = Path(tempfile.mkdtemp(prefix="joblint-fuzz-"))
    try:
        write_tree(root, files)
        every_rule = rules.select(["ALL"])
        report = lint([root], Options(rules=every_rule, root=root), cwd=root)
        assert report.crashes == []
    finally:
        shutil.rmtree(root)
