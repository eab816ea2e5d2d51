"""The speed targets, measured the way a user meets them: separate processes, CPU and wall time,
peak memory, and each figure as a ratio of a parse-only pass over the same Ruby files measured in
the same run.

    python bench/targets.py PATH [--repeat 3]
    python bench/targets.py --synthetic 2500   # a generated app of 10,000 Ruby files

Figures:
- cold full check: CPU (user + system) and wall time of `joblint PATH --no-cache`, with one
  worker (the default) and with two;
- warm re-run: CPU of `joblint PATH` with the cache the previous run left, nothing changed;
- one-file check: wall time of `joblint FILE` for a job file of the app just after a comment is
  appended to it (the pre-commit path: the project's cache is warm, that file is not), for five
  job files spread over the app, the slowest and the median; again with the file's modification
  time set 10 s back (saved a while before the commit: past the 2 s within which a file's time
  is not trusted, the run also records itself for the whole-run replay, which the run of a file
  just written skips); and with nothing changed;
- `joblint --version`: wall time;
- peak memory (maximum resident set) of the full check.
The parse-only pass is a process that imports tree-sitter and parses every Ruby file once. The
dispatch floor is what a cold check costs before any rule runs: joblint imported, the files
walked and read, each file's rules found from its trigger words, and the Ruby files some rule
wants parsed once. A cold check cannot cost less while its rules read the trees of the files
they are dispatched to, so the ratio of the cold check to the floor is what the rules and the
class index add.
joblint's modules are byte-compiled first, as `pip install` leaves them (an editable install
run with PYTHONDONTWRITEBYTECODE would otherwise compile every module on every run).
Best of --repeat runs for each figure. The ratios, not the seconds, are comparable between
machines; the core count is printed with them.
"""

from __future__ import annotations

import os
import resource
import shutil
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


# The least a run can cost that reads the files `joblint .` checks, asks the dispatch which rules
# want each, and parses the Ruby files some rule wants: the rules themselves and the class index
# cost nothing in it. It is what the cold check is measured against besides the parse-only pass.
DISPATCH_FLOOR = """
import os
from pathlib import Path
import joblint.cli
from joblint import config, ruby
from joblint.engine import Options, _Dispatch, _targets
from joblint.files import FileProblem, read_source
from joblint.rails.app import find_root
root = find_root(Path.cwd()) or Path.cwd()
rules = config.load(config.find_config(root)).enabled_rules()
dispatch = _Dispatch([rule for rule in rules if rule.triggers])
read = parsed = 0
for resolved, path in _targets(Path("."), root, Options(rules=rules)).items():
    source = read_source(path, os.path.relpath(resolved, root))
    if isinstance(source, FileProblem):
        continue
    read += 1
    if source.is_ruby and dispatch.rules_for(source):
        ruby.parse(source.data)
        parsed += 1
print(f"read {read} files, parsed {parsed}")
"""


JOB_DIRS = ("/app/jobs/", "/app/workers/", "/app/sidekiq/")  # where apps keep their job files
PRE_COMMIT_FILES = 5  # job files edited one at a time for the pre-commit figure
EDITED_EARLIER = 10  # seconds: an edit saved before `git commit` runs the hook


def _spread(paths: list[Path], count: int) -> list[Path]:
    """`count` paths spread evenly over a sorted list (all of them when it is shorter): the
    first job file alone is often the base class, the cheapest file to check."""
    if len(paths) <= count:
        return paths
    step = (len(paths) - 1) / (count - 1)
    return [paths[round(i * step)] for i in range(count)]


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

    import compileall

    import joblint
    from joblint.files import walk_files
    from joblint.source import is_ruby_path

    compileall.compile_dir(os.path.dirname(joblint.__file__), quiet=1)
    ruby_files = list(walk_files(root, root, is_ruby_path))
    size = sum(p.stat().st_size for p in ruby_files)
    listing = Path(tempfile.mkstemp(prefix="joblint-files-", suffix=".txt")[1])
    listing.write_text("\n".join(str(p) for p in ruby_files))
    jobs = sorted(p for p in ruby_files if any(d in str(p) for d in JOB_DIRS))
    python = [sys.executable]
    joblint = [sys.executable, "-m", "joblint"]

    parse_cpu, parse_wall, _ = best([*python, "-c", PARSE_ONLY, str(listing)], root, args.repeat)
    floor_cpu, _, _ = best([*python, "-c", DISPATCH_FLOOR], root, args.repeat)
    cache_dir = tempfile.mkdtemp(prefix="joblint-bench-cache-")
    cold = [*joblint, ".", "--exit-zero", "-q", "--no-cache"]
    one_cpu, one_wall, one_peak = best([*cold, "-j", "1"], root, args.repeat)
    auto_cpu, auto_wall, auto_peak = best([*cold, "-j", "2"], root, args.repeat)
    cached = [*joblint, ".", "--exit-zero", "-q", "--cache-dir", cache_dir]
    measure(cached, root)  # fills the cache
    warm_cpu, warm_wall, _ = best(cached, root, args.repeat)
    version = best([*joblint, "--version"], root, args.repeat)
    single = None
    edited: list[tuple[float, Path]] = []
    aged: list[tuple[float, Path]] = []
    for job in _spread(jobs, PRE_COMMIT_FILES):
        one_file = [*joblint, str(job), "--exit-zero", "-q", "--cache-dir", cache_dir]
        original = job.read_bytes()
        try:
            runs, aged_runs = [], []
            for attempt in range(args.repeat):
                job.write_bytes(original + f"# edited {attempt}\n".encode())
                runs.append(measure(one_file, root))
                # saved a while before the commit: past the racy margin, the run also records
                # itself for the whole-run replay
                job.write_bytes(original + f"# edited earlier {attempt}\n".encode())
                earlier = time.time() - EDITED_EARLIER
                os.utime(job, (earlier, earlier))
                aged_runs.append(measure(one_file, root))
            edited.append((min(r[1] for r in runs), job))
            aged.append((min(r[1] for r in aged_runs), job))
        finally:
            job.write_bytes(original)
    if jobs:  # nothing changed since: a run records its memo, the next ones replay it
        time.sleep(2.1)  # files modified within 2 s of a run are not trusted to be unchanged
        one_file = [*joblint, str(jobs[0]), "--exit-zero", "-q", "--cache-dir", cache_dir]
        measure(one_file, root)
        single = best(one_file, root, args.repeat)
    listing.unlink()
    shutil.rmtree(cache_dir, ignore_errors=True)
    if args.synthetic:
        shutil.rmtree(root, ignore_errors=True)  # the generated app

    print(f"app:                     {root}")
    print(f"ruby files:              {len(ruby_files)} ({size / 1e6:.1f} MB); cores: {os.cpu_count()}")
    print(f"parse-only pass:         {parse_cpu:.2f} s CPU, {parse_wall:.2f} s wall")
    print(f"dispatch floor:          {floor_cpu:.2f} s CPU = {floor_cpu / parse_cpu:.2f}x parse-only "
          f"(read, dispatch, parse what a rule wants; no rule run)")
    print(f"cold check, -j 1:        {one_cpu:.2f} s CPU = {one_cpu / parse_cpu:.2f}x parse-only (target <= 1.0x), "
          f"{one_wall:.2f} s wall")
    print(f"cold check, -j 2:        {auto_cpu:.2f} s CPU = {auto_cpu / parse_cpu:.2f}x parse-only, "
          f"{auto_wall:.2f} s wall")
    print(f"peak memory (check):     {max(one_peak, auto_peak) / 1024:.0f} MB (target <= 250 MB on 10,000 files)")
    print(f"warm re-run, no change:  {warm_cpu:.2f} s CPU = {warm_cpu / parse_cpu:.2f}x parse-only "
          f"(target <= 0.1x), {warm_wall:.2f} s wall")
    if single is not None and edited:
        edited.sort()
        slowest, slowest_job = edited[-1]
        print(f"one job file, edited:    {slowest:.2f} s wall, the slowest of {len(edited)} job files "
              f"({slowest_job.relative_to(root)}; target <= 0.3 s); median {edited[len(edited) // 2][0]:.2f} s")
        aged.sort()
        slowest, slowest_job = aged[-1]
        print(f"  ... edited {EDITED_EARLIER} s before: {slowest:.2f} s wall, the slowest "
              f"({slowest_job.relative_to(root)}); median {aged[len(aged) // 2][0]:.2f} s")
        print(f"one job file, unchanged: {single[1]:.2f} s wall")
    print(f"joblint --version:       {version[1]:.3f} s wall (target <= 0.15 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
