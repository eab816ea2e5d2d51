"""Is joblint's time linear in file size and nesting depth? Each growth shape of the hostile-input
issue is built at three sizes (N, 2N, 4N) and linted in a child process; the table gives the
child's CPU time (best of --repeat) and the ratio of each size to the one before. Doubling the
input may at most double the time: a ratio over 2.3 (2 and room for noise) or a run over 10 s is
flagged, and the exit code is 1.

    python bench/linearity.py [--scale 1] [--repeat 2] [--only SHAPE ...]

The ratios are of the time above the bare app's (start-up, rule imports, the model of a small
app), so a quadratic part is not hidden under the fixed cost; below 0.2 s above it a ratio is
noise and shown as `-`. Size shapes double at a shallow depth. Nesting shapes double their depth
at a constant size (fewer nests as they deepen), so that neither hides the other: 30, 60 and
120 `if`s or modules, 20, 40 and 80 blocks, 50, 100 and 200 chained calls — under the 256 tree
levels past which a file is refused with a "not analysed" notice; `long-chain-refused` checks
that the refusal itself stays linear. CPU time is the kernel's count for the child and its
workers (wait4), so a busy machine disturbs the table less than it would wall time. `--scale`
multiplies the sizes (and the nests of the nesting shapes): 0.01 makes a smoke test, 1 is the
release check (about five minutes on 2 cores; docs/usage.md, "Hostile input").
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from fuzz_campaign import run_joblint, write_app

# the bare app has the job and the worker the shapes enqueue, so the findings are the shape's own
BARE = {
    "app/jobs/sync_job.rb": "class SyncJob < ApplicationJob\n  def perform(user)\n  end\nend\n",
    "app/workers/sync_worker.rb": "class SyncWorker\n  include Sidekiq::Job\n\n  def perform(id)\n  end\nend\n",
}
MAX_RATIO = 2.3
MAX_SECONDS = 10.0
NOISE = 0.2  # CPU seconds above the bare app below which a ratio is noise, not judged
COMMAND = ["check", ".", "--exit-zero", "-q"]  # text output, as a person runs it


@dataclass(frozen=True)
class Shape:
    name: str
    unit: str  # what the size counts
    sizes: tuple[int, int, int]
    build: Callable[[int], dict[str, str]]  # size → files over the bare app


def _method(body: str) -> str:
    return f"class DeepJob < ApplicationJob\n  def perform\n{body}\n  end\nend\n"


def _nested(depth: int, opening: str, inner: str) -> str:
    return opening * depth + inner + "end\n" * depth


def shapes(scale: float) -> list[Shape]:
    """The shapes at `scale`. Sizes double at a shallow depth; depths double at a constant size
    (`levels` nests in all, fewer as they deepen), so neither hides the other."""
    def sized(base: int) -> tuple[int, int, int]:
        n = max(1, round(base * scale))
        return n, 2 * n, 4 * n

    levels = max(240, round(8_000 * scale))

    def nests(depth: int, opening: str, inner: str) -> str:
        return _nested(depth, opening, inner) * max(1, levels // depth)

    enqueue = "SyncJob.perform_later(User.find(1))\n"
    record = "SyncWorker.perform_async(User.find(1)); "  # a JL101 finding each
    in_all = f"levels, {levels:,} in all"
    return [
        Shape("blank-lines", "lines", sized(250_000), lambda n: {
            "config/application.rb": "module Shop\n  class Application < Rails::Application\n"
                                     + "\n" * n + "  end\nend\n"}),
        Shape("long-controller", "actions", sized(1_000), lambda n: {
            "app/controllers/orders_controller.rb": "class OrdersController < ApplicationController\n" + "".join(
                f"  def action_{i}\n" + _nested(5, "if params[:a]\n", enqueue) + "  end\n" for i in range(n))
            + "end\n"}),
        Shape("nested-ifs", in_all, (30, 60, 120), lambda d: {
            "app/controllers/orders_controller.rb": "class OrdersController < ApplicationController\n  def create\n"
            + nests(d, "if params[:a]\n", enqueue) + "  end\nend\n"}),
        Shape("nested-blocks", in_all, (20, 40, 80), lambda d: {
            "app/jobs/deep_job.rb": _method(nests(d, "User.all.each do |u|\n", enqueue))}),
        Shape("nested-modules", in_all, (30, 60, 120), lambda d: {
            "app/jobs/deep_job.rb": nests(d, "module M\n", "class DeepJob < ApplicationJob\nend\n")}),
        Shape("long-chain", f"calls, {levels * 2:,} in all", (50, 100, 200), lambda d: {
            "app/jobs/deep_job.rb": _method(("User" + ".where(a: 1)" * d + ".each { |u| u }\n")
                                            * max(1, levels * 2 // d))}),
        Shape("long-chain-refused", "calls", sized(20_000), lambda n: {
            "app/jobs/deep_job.rb": _method("User" + ".where(a: 1)" * n + ".each { |u| u }")}),
        Shape("erb-unclosed", "bytes", sized(400_000), lambda n: {
            "config/sidekiq.yml": ":queues:\n  - default\n# <%" + " x" * (n // 2) + "\n"}),
        Shape("many-excludes", "patterns", sized(12_500), lambda n: {
            ".joblint.yml": "exclude: [" + ", ".join(f"legacy/f{i}.rb" for i in range(n)) + "]\n"}),
        Shape("wide-line", "calls", sized(5_000), lambda n: {
            "app/jobs/deep_job.rb": _method(record * n)}),
        Shape("many-variables", "enqueues", sized(2_000), lambda n: {
            "app/jobs/deep_job.rb": _method("".join(
                f"user = User.find({i})\nSyncWorker.perform_async(user)\n" for i in range(n)))}),
        Shape("many-keywords", "keywords", sized(5_000), lambda n: {
            "app/jobs/deep_job.rb": _method(
                "SyncJob.perform_later(" + ", ".join(f"k{i}: {i}" for i in range(n)) + ")")}),
    ]


TIMEOUT = 120.0  # seconds of one run: far past the flag, and the table still ends


@dataclass(frozen=True)
class Cost:
    seconds: float | None  # the best CPU seconds; None when a run failed
    peak_mb: float
    failure: str = ""  # why there are no seconds: ">120 s", "exit 2"


def cost(files: dict[str, str], repeat: int) -> Cost:
    """The best of `repeat` runs of `joblint check` on the bare app with `files`, each in a
    fresh copy of the app, so no cache is warm."""
    best, peak = float("inf"), 0.0
    for _ in range(repeat):
        root = Path(tempfile.mkdtemp(prefix="joblint-linearity-"))
        try:
            write_app(root, {path: text.encode() for path, text in {**BARE, **files}.items()})
            done = run_joblint(COMMAND, root, timeout=TIMEOUT)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        peak = max(peak, done.peak_mb)
        if done.returncode not in (0, 1):
            why = f">{TIMEOUT:.0f} s" if done.returncode is None else f"exit {done.returncode}"
            return Cost(None, peak, why)
        best = min(best, done.cpu)
    return Cost(best, peak)


def row(shape: Shape, bare: float, repeat: int) -> tuple[str, bool]:
    """The shape's line of the table, and whether it is flagged."""
    costs: list[Cost] = []
    for size in shape.sizes:
        costs.append(cost(shape.build(size), repeat))
        if costs[-1].seconds is None:
            break  # the larger sizes would only fail slower
    seconds = [c.seconds for c in costs if c.seconds is not None]
    above = [max(s - bare, 0.001) for s in seconds]
    ratios = [later / earlier if earlier >= NOISE else None for earlier, later in pairwise(above)]
    bad = len(seconds) < 3 or max(seconds) > MAX_SECONDS or any(r and r > MAX_RATIO for r in ratios)
    sizes = ", ".join(f"{size:,}" for size in shape.sizes) + f" {shape.unit}"
    times = "  ".join(f"{c.seconds:6.2f}" if c.seconds is not None else f"{c.failure:>6}" for c in costs)
    shown = "  ".join("   -" if r is None else f"{r:4.2f}" for r in ratios)
    return (f"{shape.name:<19} {sizes:<36} {times:>20}  {shown:>11}  "
            f"{max(c.peak_mb for c in costs):4.0f} MB{'  <- SUPER-LINEAR OR SLOW' if bad else ''}"), bad


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every size (default 1)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per size; the best counts")
    parser.add_argument("--only", nargs="+", metavar="SHAPE", help="these shapes only")
    args = parser.parse_args(argv)
    bare = cost({}, args.repeat)
    if bare.seconds is None:
        raise SystemExit(f"joblint fails on the bare app: {bare.failure}")
    print(f"bare app: {bare.seconds:.2f} s CPU; ratios are of the time above it (flagged: > "
          f"{MAX_RATIO} or > {MAX_SECONDS:.0f} s)")
    print(f"{'shape':<19} {'sizes':<36} {'CPU seconds':>20}  {'ratios':>11}  {'peak':>7}")
    flagged = 0
    for shape in shapes(args.scale):
        if not args.only or shape.name in args.only:
            line, bad = row(shape, bare.seconds, args.repeat)
            print(line, flush=True)
            flagged += bad
    return 1 if flagged else 0


if __name__ == "__main__":
    raise SystemExit(main())
