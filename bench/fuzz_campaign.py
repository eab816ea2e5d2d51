"""The hostile-input campaign, kept so what it found stays fixed: mutated copies of real Ruby and
YAML files, and shapes built to hurt (deep nesting, long lines and chains, control characters in
code and file names, broken and nested configuration, devices and FIFOs), each linted in its own
process with a time limit.

    python bench/fuzz_campaign.py [--source DIR] [--cases 200] [--seed 1] [--timeout 10]
                                  [--batch 25] [--workers 1]
    python bench/fuzz_campaign.py --tree 10000    # peak memory of `check` and `jobs`

A case is linted four times: JSON with one worker and with two, text, and JSON again replayed
from the cache the first run wrote. It fails when joblint prints a traceback or an internal
error, exits with anything but 0, 1 or 2 (a crash), runs past the time limit (a hang), writes
JSON that does not parse or lets a control character reach the text output (bad output), or
gives different output with one worker and with two, or from the cache (non-deterministic).
The exit code is 0 when every case passed, 1 otherwise.

`--batch K` lints K mutated cases in one run, each an app of its own in one directory (joblint
finds apps below a directory as in a monorepo), and splits a failing batch in halves until the
failing case is alone: the verdicts of one run per case at a fraction of the start-ups (a batch
that fails only as a whole is reported as such).
`--tree N` writes N mutated files into one app and prints the CPU time and peak memory (of the
process and its workers, from wait4) of `joblint check` and `joblint jobs` on it; over 500 MB
fails.

Before a release, run the long campaign and the memory check, then `bench/linearity.py` (about
half an hour on 2 cores in all; docs/usage.md, "Hostile input"):

    python bench/fuzz_campaign.py --cases 10000 --batch 100 --workers 2
    python bench/fuzz_campaign.py --tree 10000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "apps"
APP = {
    "Gemfile": 'source "https://rubygems.org"\n',
    "Gemfile.lock": "GEM\n  specs:\n    rails (7.1.3)\n    sidekiq (7.2.0)\n",
    "config/application.rb": "module Shop\n  class Application < Rails::Application\n  end\nend\n",
    "config/sidekiq.yml": ":queues:\n  - default\n",
    "app/models/user.rb": "class User < ApplicationRecord\nend\n",
}
TOKENS = ["end\n", " do |x|\n", "(", ")", '"', "#{", "*", "**", "&", ":", ",", "\n", "::",
          " rescue ", "self.", "@", "[", "]", " => ", "\t", "é", "\x1b[31m", "\r", "<%", "%>",
          "---\n", "- ", ": [", "&a ", "*a ", "!!python/object:os.system "]


@dataclass
class Case:
    name: str
    files: dict[str, bytes]
    special: Callable[[Path], None] | None = None  # a FIFO, a link to a device


def shapes() -> Iterator[Case]:
    """The shapes the stress run found, at a size that used to take seconds to minutes."""
    job = "class DeepJob < ApplicationJob\n  def perform\n{}\n  end\nend\n"
    yield Case("nested-ifs", {"app/jobs/deep_job.rb": job.format("if x\n" * 3000 + "end\n" * 3000).encode()})
    yield Case("nested-blocks", {"app/jobs/deep_job.rb": job.format(
        "User.all.each do |u|\n" * 1000 + "SyncWorker.perform_async(u)\n" + "end\n" * 1000).encode()})
    yield Case("nested-modules", {"app/jobs/deep_job.rb": (
        "module M\n" * 1000 + "class DeepJob < ApplicationJob\nend\n" + "end\n" * 1000).encode()})
    yield Case("long-chain", {"app/jobs/deep_job.rb": job.format(
        "User" + ".where(a: 1)" * 10_000 + ".each { |u| u }").encode()})
    yield Case("wide-line", {"app/jobs/deep_job.rb": job.format(
        "SyncWorker.perform_async(User.find(1)); " * 5_000).encode()})
    yield Case("many-keywords", {"app/jobs/deep_job.rb": job.format(
        "SyncWorker.perform_async(" + ", ".join(f"k{i}: {i}" for i in range(10_000)) + ")").encode()})
    yield Case("constant-path", {"app/jobs/deep_job.rb": (
        "class " + "A::" * 5000 + "BJob < ApplicationJob\nend\n").encode()})
    yield Case("control-characters", {"app/jobs/evil\x1b]8;;x\x07_job.rb": (
        b'class EvilJob < ApplicationJob\n  queue_as "a\n::error::pwned\x1b[2J"\nend\n')})
    yield Case("bad-file-name", {os.fsdecode(b"app/jobs/bad\xff\xfe_job.rb"): b"class BadJob < ApplicationJob\nend\n"})
    yield Case("nested-toml", {"pyproject.toml": ("[tool.joblint]\nx = " + "[" * 3000 + "]" * 3000).encode()})
    yield Case("nested-yaml", {".joblint.yml": ("select: " + "[" * 5000 + "]" * 5000).encode()})
    yield Case("erb-unclosed", {"config/sidekiq.yml": (":queues:\n  - default\n# <%" + " x" * 200_000).encode()})
    yield Case("yaml-aliases", {"config/sidekiq.yml": (
        "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
            f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
            for p, c in zip("abcdefgh", "bcdefghi"))).encode()})
    yield Case("invalid-gitignore", {".gitignore": b"ok.log\nbroken\\\n"})
    yield Case("huge-version", {"Gemfile.lock": ("GEM\n  specs:\n    rails (" + "7" * 5000 + ")\n").encode()})
    if hasattr(os, "mkfifo"):
        yield Case("fifo-and-device", {}, special=_fifo_and_device)


def _fifo_and_device(root: Path) -> None:
    os.mkfifo(root / "app/jobs/fifo_job.rb")
    os.symlink("/dev/zero", root / "app/jobs/zero_job.rb")


def mutations(source: Path, count: int, rng: random.Random) -> Iterator[Case]:
    """`count` copies of files of `source` cut, duplicated and spliced at random places, with
    the tokens most likely to confuse a rule inserted."""
    files = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix in (".rb", ".yml"))
    if not files:
        return
    for number in range(count):
        chosen = rng.choice(files)
        data = chosen.read_bytes()
        for _ in range(rng.randint(1, 6)):
            at = rng.randint(0, len(data))
            kind = rng.random()
            if kind < 0.4:
                data = data[:at] + rng.choice(TOKENS).encode() + data[at:]
            elif kind < 0.7:
                end = min(len(data), at + rng.randint(1, 200))
                data = data[:at] + data[end:]
            else:
                data = data[:at] + data[at : at + rng.randint(1, 400)] * rng.randint(2, 50) + data[at:]
        yield Case(f"mutation-{number}-{chosen.name}", {_in_app(chosen.relative_to(source)): data})


def _in_app(relpath: Path) -> str:
    """Where a file of `source` goes in the app: from its `app/`, `config/` or `lib/` on (the
    fixtures are apps side by side: `sidekiq/config/sidekiq.yml` is read as a queue config),
    else into app/jobs."""
    parts = relpath.parts
    top = next((i for i, part in enumerate(parts[:-1]) if part in ("app", "config", "lib")), None)
    return "/".join(parts[top:]) if top is not None else "app/jobs/" + relpath.name


def write_app(root: Path, files: dict[str, bytes]) -> None:
    """The minimal app, then `files` over it."""
    for relpath, data in {**{k: v.encode() for k, v in APP.items()}, **files}.items():
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        (root / relpath).write_bytes(data)
    (root / "app/jobs").mkdir(parents=True, exist_ok=True)


@dataclass
class Run:
    """One joblint process: what it printed, how it ended, and what it cost as the kernel counted
    it, for the process and the workers it waited for."""

    returncode: int | None  # None: killed at the time limit
    stdout: bytes
    stderr: bytes
    cpu: float  # user + system seconds
    peak_mb: float  # the largest resident set of the process or one of its workers


def run_joblint(args: list[str], cwd: Path, timeout: float, cache: Path | None = None) -> Run:
    """`python -m joblint ARGS` in `cwd`, reaped with wait4: usage per child, so runs side by side
    (`--workers`) do not mix their numbers as RUSAGE_CHILDREN would. Past `timeout` the process
    group (with any workers) is killed. The run keeps its cache in `cache`, else in a cold one of
    its own: it analyses, and replays nothing an earlier run wrote."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.TemporaryDirectory(prefix="joblint-cache-") as fresh:
        env = {**os.environ, "NO_COLOR": "1", "JOBLINT_CACHE_DIR": str(cache or fresh)}
        child = subprocess.Popen([sys.executable, "-m", "joblint", *args], cwd=cwd, stdin=subprocess.DEVNULL,
                                 stdout=out, stderr=err, env=env, start_new_session=True)
        deadline, pause = time.monotonic() + timeout, 0.001
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        while not pid and time.monotonic() < deadline:
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if not pid:
            os.killpg(child.pid, signal.SIGKILL)
            _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        return Run(child.returncode if pid else None, out.read(), err.read(),
                   usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


CRASH, HANG, NON_DETERMINISTIC, BAD_OUTPUT = "crash", "hang", "non-deterministic", "bad output"


@dataclass
class Outcome:
    case: str
    problem: str | None
    seconds: float
    kind: str | None = None  # CRASH, HANG, NON_DETERMINISTIC or BAD_OUTPUT when it failed
    peak_mb: float = 0.0  # of the largest of its runs (of its batch's, when batched)


RUNS = (("json", ["--format", "json", "-j", "1"]), ("json-2", ["--format", "json", "-j", "2"]),
        ("text", ["--format", "text"]), ("json-warm", ["--format", "json", "-j", "1"]))


def check_tree(name: str, root: Path, timeout: float) -> Outcome:
    """Lint `root` four ways (JSON with one worker and with two, text, and JSON again from the
    cache the first run wrote) and judge the output."""
    cache = Path(tempfile.mkdtemp(prefix="joblint-cache-"))
    try:
        return _judge(name, root, timeout, cache)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def _judge(name: str, root: Path, timeout: float, cache: Path) -> Outcome:
    start = time.perf_counter()
    outputs: dict[str, bytes] = {}
    peak = 0.0
    for label, args in RUNS:
        done = run_joblint([".", *args], root, timeout, cache if label in ("json", "json-warm") else None)
        peak = max(peak, done.peak_mb)
        if done.returncode is None:
            return Outcome(name, f"{label}: over {timeout:.0f} s", time.perf_counter() - start, HANG, peak)
        stderr = done.stderr.decode("utf-8", "replace")
        if "Traceback" in stderr or "internal error" in stderr:
            return Outcome(name, f"{label}: {stderr.strip().splitlines()[-1][:200]}", 0, CRASH, peak)
        if done.returncode not in (0, 1, 2):
            return Outcome(name, f"{label}: exit code {done.returncode}", 0, CRASH, peak)
        outputs[label] = done.stdout
    if outputs["json"] != outputs["json-2"]:
        return Outcome(name, "output differs between one and two workers", 0, NON_DETERMINISTIC, peak)
    if outputs["json"] != outputs["json-warm"]:
        return Outcome(name, "output differs when replayed from the cache", 0, NON_DETERMINISTIC, peak)
    if outputs["json"].strip():
        try:
            json.loads(outputs["json"])
        except ValueError as error:
            return Outcome(name, f"JSON does not parse: {error}", 0, BAD_OUTPUT, peak)
    if any(byte in outputs["text"] for byte in (b"\x1b", b"\x07", b"\r")):
        return Outcome(name, "a control character reached the text output", 0, BAD_OUTPUT, peak)
    return Outcome(name, None, time.perf_counter() - start, None, peak)


def run_case(case: Case, timeout: float) -> Outcome:
    root = Path(tempfile.mkdtemp(prefix="joblint-fuzz-"))
    try:
        write_app(root, case.files)
        if case.special is not None:
            case.special(root)
        return check_tree(case.name, root, timeout)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_batch(cases: list[Case], timeout: float) -> list[Outcome]:
    """`cases` as apps side by side in one directory, linted together; a failing batch is split
    in halves until each failure is a case of its own, judged alone."""
    if len(cases) == 1:
        return [run_case(cases[0], timeout)]
    root = Path(tempfile.mkdtemp(prefix="joblint-fuzz-"))
    try:
        for number, case in enumerate(cases):
            write_app(root / f"app-{number:04d}", case.files)
        together = check_tree(f"{cases[0].name} and {len(cases) - 1} more", root, timeout * max(1, len(cases) / 10))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if together.problem is None:
        return [Outcome(case.name, None, together.seconds / len(cases), None, together.peak_mb) for case in cases]
    half = len(cases) // 2
    alone = run_batch(cases[:half], timeout) + run_batch(cases[half:], timeout)
    if not any(outcome.problem for outcome in alone):  # kept, though no case fails by itself
        alone[0] = replace(together, problem=f"{together.problem} (only when linted together)")
    return alone


def campaign(source: Path, count: int, seed: int, timeout: float, batch: int = 1,
             workers: int = 1) -> list[Outcome]:
    rng = random.Random(seed)
    mutated = list(mutations(source, count, rng))
    units = [[case] for case in shapes()] + [mutated[i : i + batch] for i in range(0, len(mutated), batch)]
    with ThreadPoolExecutor(workers) as pool:  # each unit waits on its own processes
        return [outcome for outcomes in pool.map(lambda unit: run_batch(unit, timeout), units)
                for outcome in outcomes]


def app_of_mutations(source: Path, count: int, rng: random.Random) -> dict[str, bytes]:
    """`count` mutated files as one app: each keeps its directory, with its number in its name,
    except the first copy of each YAML config, which keeps its name so that it is read."""
    files: dict[str, bytes] = {}
    for number, case in enumerate(mutations(source, count, rng)):
        ((relpath, data),) = case.files.items()
        if relpath in files or not relpath.endswith(".yml"):
            stem, dot, suffix = relpath.rpartition(".")
            relpath = f"{stem}_{number}{dot}{suffix}"
        files[relpath] = data
    return files


LIMIT_MB = 500  # the bound for `check` and `jobs` on 10,000 files


def memory(source: Path, count: int, seed: int, timeout: float) -> int:
    """Peak memory and CPU time of `check` and `jobs` on one app of `count` mutated files."""
    root = Path(tempfile.mkdtemp(prefix="joblint-tree-"))
    try:
        write_app(root, app_of_mutations(source, count, random.Random(seed)))
        failed = 0
        print(f"one app of {count} mutated files (seed {seed})")
        for command in (["check", ".", "--exit-zero", "-q"], ["jobs", "."]):
            done = run_joblint(command, root, timeout)
            stderr = done.stderr.decode("utf-8", "replace")
            bad = done.returncode is None or done.returncode not in (0, 1) or "Traceback" in stderr
            over = done.peak_mb > LIMIT_MB
            failed += bad or over
            verdict = ("FAIL: " + ("over the time limit" if done.returncode is None else stderr.strip()[-200:])
                       if bad else f"FAIL: over {LIMIT_MB} MB" if over else "ok")
            print(f"  joblint {command[0]:<6} cpu {done.cpu:6.1f} s   peak {done.peak_mb:6.0f} MB   {verdict}")
        return 1 if failed else 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--source", type=Path, default=FIXTURES, help="files to mutate (default: the fixture apps)")
    parser.add_argument("--cases", type=int, default=200, help="how many mutated copies")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per run of a case")
    parser.add_argument("--batch", type=int, default=25, help="mutated cases linted in one run (split when one fails)")
    parser.add_argument("--workers", type=int, default=1, help="cases run side by side")
    parser.add_argument("--tree", type=int, metavar="N", help="instead: peak memory of check and jobs on N files")
    args = parser.parse_args(argv)
    if args.tree:
        return memory(args.source, args.tree, args.seed, max(args.timeout, 600))
    start = time.perf_counter()
    outcomes = campaign(args.source, args.cases, args.seed, args.timeout, max(1, args.batch), max(1, args.workers))
    failed = [o for o in outcomes if o.problem]
    counts = Counter(o.kind for o in failed)
    slowest = max(outcomes, key=lambda o: o.seconds)
    largest = max(outcomes, key=lambda o: o.peak_mb)
    print(f"cases: {len(outcomes)} ({args.cases} mutated, seed {args.seed}), failed: {len(failed)} "
          f"({', '.join(f'{counts[k]} {k}' for k in (CRASH, HANG, NON_DETERMINISTIC, BAD_OUTPUT))}) "
          f"in {time.perf_counter() - start:.0f} s")
    print(f"slowest: {slowest.case} ({slowest.seconds:.1f} s); "
          f"peak memory: {largest.peak_mb:.0f} MB ({largest.case})")
    for outcome in failed:
        print(f"  FAIL {outcome.case} [{outcome.kind}]: {outcome.problem}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
