"""The speed targets, measured the way a user meets them: separate processes, CPU and wall time,
peak memory, and each figure as a ratio of a parse-only pass over the same Ruby files measured in
the same run.

    python bench/targets.py PATH [--repeat 3]
    python bench/targets.py --synthetic 10000

Figures:
- cold full check: CPU (user + system) of `joblint PATH`, one worker and the default workers;
- one-file check: wall time of `joblint FILE` for one job file of the app (the pre-commit path);
- `joblint --version`: wall time;
- peak memory (maximum resident set) of the full check.
The parse-only pass is a process that imports tree-sitter and parses every Ruby file once.
Best of --repeat runs for each figure. The ratios, not the seconds, are comparable between
machines; the core count is printed with them.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PARSE_ONLY = """
import sys
from pathlib import Path
from joblint import ruby
for line in Path(sys.argv[1]).read_text().splitlines():
    ruby.parse(Path(line).read_bytes())
"""


def measure(command: list[str], cwd: Path) -> tuple[float, float, int]:
    """(CPU seconds, wall seconds, peak KB) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, after.ru_maxrss


def best(command: list[str], cwd: Path, repeat: int) -> tuple[float, float, int]:
    runs = [measure(command, cwd) for _ in range(repeat)]
    return min(r[0] for r in runs), min(r[1] for r in runs), max(r[2] for r in runs)


def main() -> int:
    sys.path.insert(0, str(Path(__file__).parent))
    from generate_app import app_from_arguments

    root, args = app_from_arguments(__doc__)

    from joblint.files import walk_files
    from joblint.source import is_ruby_path

    ruby_files = list(walk_files(root, root, is_ruby_path))
    size = sum(p.stat().st_size for p in ruby_files)
    listing = Path(tempfile.mkstemp(prefix="joblint-files-", suffix=".txt")[1])
    listing.write_text("\n".join(str(p) for p in ruby_files))
    jobs = sorted(p for p in ruby_files if "/app/jobs/" in str(p) or "/app/workers/" in str(p))
    python = [sys.executable]
    joblint = [sys.executable, "-m", "joblint"]

    parse_cpu, parse_wall, _ = best([*python, "-c", PARSE_ONLY, str(listing)], root, args.repeat)
    one_cpu, _one_wall, one_peak = best([*joblint, ".", "-j", "1", "--exit-zero", "-q"], root, args.repeat)
    auto_cpu, auto_wall, auto_peak = best([*joblint, ".", "--exit-zero", "-q"], root, args.repeat)
    version = best([*joblint, "--version"], root, args.repeat)
    single = best([*joblint, str(jobs[0]), "--exit-zero", "-q"], root, args.repeat) if jobs else None
    listing.unlink()

    print(f"app:                     {root}")
    print(f"ruby files:              {len(ruby_files)} ({size / 1e6:.1f} MB); cores: {os.cpu_count()}")
    print(f"parse-only pass:         {parse_cpu:.2f} s CPU, {parse_wall:.2f} s wall")
    print(f"cold check, -j 1:        {one_cpu:.2f} s CPU = {one_cpu / parse_cpu:.2f}x parse-only (target <= 1.0x)")
    print(f"cold check, auto:        {auto_cpu:.2f} s CPU = {auto_cpu / parse_cpu:.2f}x parse-only, "
          f"{auto_wall:.2f} s wall")
    print(f"peak memory (check):     {max(one_peak, auto_peak) / 1024:.0f} MB (target <= 250 MB on 10,000 files)")
    if single is not None:
        print(f"one job file:            {single[1]:.2f} s wall (target <= 0.3 s, warm)")
    print(f"joblint --version:       {version[1]:.3f} s wall (target <= 0.15 s)")
    print("warm re-run:             not measured: joblint has no persistent cache yet")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
