"""The hostile-input campaign, kept so what it found stays fixed: mutated copies of real Ruby and
YAML files, and shapes built to hurt (deep nesting, long lines and chains, control characters in
code and file names, broken and nested configuration, devices and FIFOs), each linted in its own
process with a time limit.

    python bench/fuzz_campaign.py [--source DIR] [--cases 200] [--seed 1] [--timeout 10]

A case fails when joblint prints a traceback or an internal error, exits with anything but 0, 1
or 2, runs past the time limit, writes JSON that does not parse, lets a control character reach
the text output, or gives different output with one worker and with two. The exit code is the
number of failed cases (capped at 1 for scripts: 0 all passed, 1 some failed).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
        relpath = chosen.relative_to(source).as_posix()
        if not relpath.startswith(("app/", "config/", "lib/")):
            relpath = "app/jobs/" + chosen.name
        yield Case(f"mutation-{number}-{chosen.name}", {relpath: data})


@dataclass
class Outcome:
    case: str
    problem: str | None
    seconds: float


def run_case(case: Case, timeout: float) -> Outcome:
    root = Path(tempfile.mkdtemp(prefix="joblint-fuzz-"))
    try:
        for relpath, text in APP.items():
            (root / relpath).parent.mkdir(parents=True, exist_ok=True)
            (root / relpath).write_text(text)
        (root / "app/jobs").mkdir(parents=True, exist_ok=True)
        for relpath, data in case.files.items():
            path = root / relpath
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        if case.special is not None:
            case.special(root)
        start = time.perf_counter()
        outputs = {}
        for label, args in (("json", ["--format", "json", "-j", "1"]), ("json-2", ["--format", "json", "-j", "2"]),
                            ("text", ["--format", "text"])):
            try:
                done = subprocess.run([sys.executable, "-m", "joblint", ".", *args], cwd=root,
                                      capture_output=True, timeout=timeout, check=False,
                                      env={**os.environ, "NO_COLOR": "1"})
            except subprocess.TimeoutExpired:
                return Outcome(case.name, f"{label}: over {timeout:.0f} s", time.perf_counter() - start)
            stderr = done.stderr.decode("utf-8", "replace")
            if "Traceback" in stderr or "internal error" in stderr:
                return Outcome(case.name, f"{label}: {stderr.strip().splitlines()[-1][:200]}", 0)
            if done.returncode not in (0, 1, 2):
                return Outcome(case.name, f"{label}: exit code {done.returncode}", 0)
            outputs[label] = done.stdout
        if outputs["json"] != outputs["json-2"]:
            return Outcome(case.name, "output differs between one and two workers", 0)
        if outputs["json"].strip():
            try:
                json.loads(outputs["json"])
            except ValueError as error:
                return Outcome(case.name, f"JSON does not parse: {error}", 0)
        if any(byte in outputs["text"] for byte in (b"\x1b", b"\x07", b"\r")):
            return Outcome(case.name, "a control character reached the text output", 0)
        return Outcome(case.name, None, time.perf_counter() - start)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def campaign(source: Path, count: int, seed: int, timeout: float) -> list[Outcome]:
    rng = random.Random(seed)
    return [run_case(case, timeout) for case in [*shapes(), *mutations(source, count, rng)]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--source", type=Path, default=FIXTURES, help="files to mutate (default: the fixture apps)")
    parser.add_argument("--cases", type=int, default=200, help="how many mutated copies")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per run of a case")
    args = parser.parse_args(argv)
    outcomes = campaign(args.source, args.cases, args.seed, args.timeout)
    failed = [o for o in outcomes if o.problem]
    slowest = max(outcomes, key=lambda o: o.seconds)
    print(f"cases: {len(outcomes)}, failed: {len(failed)}; slowest: {slowest.case} ({slowest.seconds:.1f} s)")
    for outcome in failed:
        print(f"  FAIL {outcome.case}: {outcome.problem}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
