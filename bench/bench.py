"""How much does joblint cost over parsing? Times a full `joblint` run on a directory and a
parse-only pass over the same Ruby files, in the same process and run, and prints the ratio.

    python bench/bench.py PATH [--repeat 3]
    python bench/bench.py --synthetic 1000     # generate an app of 1000 jobs first

Both sides take the best of --repeat runs. The ratio, not the seconds, is the number to
compare between machines.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from joblint import ruby, rules
from joblint.engine import Options, lint
from joblint.files import walk_files
from joblint.source import is_ruby_path


def parse_only(paths: list[Path]) -> float:
    start = time.perf_counter()
    for path in paths:
        ruby.parse(path.read_bytes())
    return time.perf_counter() - start


def joblint_run(root: Path, jobs: int | None) -> tuple[float, int, int]:
    start = time.perf_counter()
    report = lint([root], Options(rules=rules.select(), jobs=jobs), cwd=root)
    return time.perf_counter() - start, report.files, len(report.findings)


def main() -> int:
    sys.path.insert(0, str(Path(__file__).parent))
    from generate_app import app_from_arguments

    root, args = app_from_arguments(__doc__)
    rules.all_rules()  # import and compile queries outside the timed part
    ruby_files = [p for p in walk_files(root, root, is_ruby_path)]
    size = sum(p.stat().st_size for p in ruby_files)
    parse_best = min(parse_only(ruby_files) for _ in range(args.repeat))
    runs = [joblint_run(root, 1) for _ in range(args.repeat)]
    lint_best = min(r[0] for r in runs)
    auto_best = min(joblint_run(root, None)[0] for _ in range(args.repeat))
    print(f"app:            {root}")
    print(f"ruby files:     {len(ruby_files)} ({size / 1e6:.1f} MB)")
    print(f"files linted:   {runs[0][1]}, findings: {runs[0][2]}")
    print(f"parse only:     {parse_best:.3f} s")
    print(f"joblint -j1:    {lint_best:.3f} s")
    print(f"joblint (auto): {auto_best:.3f} s")
    print(f"ratio:          {lint_best / parse_best:.2f}x of a parse-only pass in one process, "
          f"{auto_best / parse_best:.2f}x with the default workers")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
