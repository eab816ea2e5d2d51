"""The linearity benchmark (`bench/linearity.py`) runs and prints its table; the timing itself is
judged when it runs at full size before a release, never here."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import linearity


def test_every_shape_has_three_growing_sizes_and_builds_files_at_each():
    for shape in linearity.shapes(0.001):
        assert shape.sizes[0] < shape.sizes[1] < shape.sizes[2], shape.name
        assert all(shape.build(size) for size in shape.sizes), shape.name


def test_the_benchmark_prints_a_row_per_shape_on_tiny_sizes(capsys):
    linearity.main(["--scale", "0.001", "--repeat", "1", "--only", "blank-lines", "nested-modules"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("bare app:") and lines[1].split()[:2] == ["shape", "sizes"]
    assert [line.split()[0] for line in lines[2:]] == ["blank-lines", "nested-modules"]
    assert all("MB" in line for line in lines[2:])
