"""The ecosystem check: joblint on pinned real Rails apps, judged against reviewed verdicts.

    python ecosystem/check.py export --mirror DIR [--into DIR] [--app NAME ...]
    python ecosystem/check.py run [--apps-dir DIR] [--app NAME ...] [--pending FILE] [--markdown]
                                  [--prune]
    python ecosystem/check.py record VERDICTS.jsonl ...
    python ecosystem/check.py recall --mirror DIR [--cases FILE] [--rule CODE ...] [--markdown]

`export` writes each app of `apps.toml` at its pinned commit from a local git directory
(`DIR/<owner>+<name>/repo`, or `DIR/<owner>+<name>`, or `DIR/<name>`) into `--into`
(default `ecosystem/.apps/`, ignored by git). Only `app config lib db bin Gemfile Gemfile.lock
Procfile* Dockerfile* docker-compose*` are exported: what joblint reads. Nothing exported is
committed.

`run` lints every export with the default rules, compares the findings with
`reviewed/<app>.jsonl` by fingerprint, and prints per rule: findings, reviewed, tp, fp and
precision, then every new (unreviewed) and vanished finding. `--pending FILE` writes the
unreviewed findings as JSON lines with `"verdict": null`, ready to be judged and appended to
`reviewed/`. `--prune` drops the vanished findings from `reviewed/` (after the change that removed them
has been judged). The exit code is 0 when every finding is reviewed and nothing vanished,
else 1.

`record` files judged lines (the `--pending` format with `verdict` set to "tp" or "fp" and a
one-line `reason`) into `reviewed/<app>.jsonl`; a later verdict for the same fingerprint
replaces the earlier one. A reviewed line is metadata only: fingerprint, code, path, line,
verdict, reason — never the app's code.

`recall` replays real history: `recall.jsonl` lists commits of the apps that fixed a job or
mailer bug (repository, fix and parent commits, the path and lines in the parent where the bug
was, the rule that covers it, its shape in words — never the code). Each parent is exported
from the local git directory and linted twice — with the default settings, and with every rule
and opt-in option on; a case is caught when a finding of its rule points into its lines. It
prints the cases caught each way, per rule and per shape (`literal`: the bug written in one
place; `indirect`: one step away).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

HERE = Path(__file__).resolve().parent
EXPORTED = ("app", "config", "lib", "db", "bin", "Gemfile", "Gemfile.lock")
EXPORTED_GLOBS = ("Procfile*", "Dockerfile*", "docker-compose*")
MAX_BLOB = 4 * 1024 * 1024  # snapshots lack larger files; joblint skips them anyway
VERDICTS = ("tp", "fp")


@dataclass(frozen=True)
class AppEntry:
    repo: str  # owner/name
    commit: str
    backend: str
    root: str = ""  # the Rails root inside the repository, for monorepos
    label: str = ""  # a short name when the repository's is vague (`exercism/website`)

    @property
    def name(self) -> str:
        return self.label or self.repo.split("/", 1)[1]


def load_apps(path: Path) -> list[AppEntry]:
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    apps = []
    for table in data.get("app", []):
        apps.append(
            AppEntry(
                repo=table["repo"],
                commit=table["commit"],
                backend=table["backend"],
                root=table.get("root", ""),
                label=table.get("name", ""),
            )
        )
    names = [a.name for a in apps]
    duplicates = sorted(n for n, count in Counter(names).items() if count > 1)
    if duplicates:
        raise SystemExit(f"apps.toml: app names must be unique: {', '.join(duplicates)}")
    return apps


# -- export ------------------------------------------------------------------------------------


def find_git_dir(mirror: Path, app: AppEntry) -> Path | None:
    owner, name = app.repo.split("/", 1)
    for candidate in (
        mirror / f"{owner}+{name}" / "repo",
        mirror / f"{owner}+{name}",
        mirror / name,
    ):
        if (candidate / "HEAD").is_file() or (candidate / ".git").exists():
            return candidate
    return None


def _git(git_dir: Path, *args: str, data: bytes | None = None) -> bytes:
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", *args], input=data, capture_output=True, check=True
    ).stdout


def _wanted(relpath: str) -> bool:
    top = relpath.split("/", 1)[0]
    if top in EXPORTED:
        return True
    return "/" not in relpath and any(fnmatch.fnmatch(relpath, g) for g in EXPORTED_GLOBS)


def export_app(git_dir: Path, app: AppEntry, into: Path) -> int:
    """Write the app's joblint-relevant files at the pinned commit; returns the file count.
    Blobs missing from a snapshot (large files) are skipped, not fatal."""
    if (git_dir / ".git").exists():
        git_dir = git_dir / ".git"
    prefix = f"{app.root.strip('/')}/" if app.root else ""
    listing = _git(git_dir, "ls-tree", "-r", "-z", "--long", app.commit, "--", prefix or ".")
    entries = []
    for record in listing.split(b"\0"):
        if not record:
            continue
        meta, path = record.split(b"\t", 1)
        mode, kind, sha, size = meta.split()
        relpath = path.decode("utf-8", "surrogateescape")[len(prefix) :]
        if kind != b"blob" or mode == b"120000" or not _wanted(relpath):
            continue
        if not size.isdigit() or int(size) >= MAX_BLOB:
            continue  # "BAD": the blob is not in the snapshot
        entries.append((relpath, sha.decode()))
    target = into / app.name
    if target.exists():
        subprocess.run(["rm", "-rf", str(target)], check=True)
    target.mkdir(parents=True)
    request = "".join(f"{sha}\n" for _, sha in entries).encode()
    stream = _git(git_dir, "cat-file", "--batch", data=request)
    written = 0
    offset = 0
    for relpath, _ in entries:
        end = stream.index(b"\n", offset)
        header = stream[offset:end].split()
        offset = end + 1
        if len(header) != 3 or header[1] != b"blob":
            continue  # "<sha> missing": not in the snapshot
        size = int(header[2])
        path = target / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(stream[offset : offset + size])
        offset += size + 1
        written += 1
    (target / ".ecosystem-commit").write_text(app.commit + "\n")
    return written


# -- run ---------------------------------------------------------------------------------------


def lint_app(app_dir: Path, extra: tuple[str, ...] = ()) -> list[dict]:
    """The default-rule findings on one exported app, as `--format json` gives them."""
    command = [sys.executable, "-m", "joblint", ".", "--format", "json", "--exit-zero", "--no-cache",
               *extra]
    done = subprocess.run(command, cwd=app_dir, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"joblint failed on {app_dir.name}: {done.stderr.strip()[-2000:]}")
    if "Traceback" in done.stderr or "internal error" in done.stderr:
        raise RuntimeError(f"joblint crashed on {app_dir.name}: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout)["findings"]


def load_reviewed(path: Path) -> dict[str, dict]:
    reviewed: dict[str, dict] = {}
    if not path.is_file():
        return reviewed
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        entry = json.loads(line)
        if entry.get("verdict") not in VERDICTS:
            raise SystemExit(f"{path}:{number}: verdict must be one of {VERDICTS}")
        reviewed[entry["fingerprint"]] = entry
    return reviewed


@dataclass
class Comparison:
    app: str
    findings: list[dict]
    reviewed: dict[str, dict]

    @property
    def new(self) -> list[dict]:
        return [f for f in self.findings if f["fingerprint"] not in self.reviewed]

    @property
    def vanished(self) -> list[dict]:
        present = {f["fingerprint"] for f in self.findings}
        return [r for fp, r in sorted(self.reviewed.items()) if fp not in present]


def compare(
    app: str, findings: list[dict], reviewed: dict[str, dict], codes: frozenset[str] | None = None
) -> Comparison:
    """Compare one app's findings with its reviews; reviews of rules that did not run
    (`codes`: the rules that did) are set aside, neither matched nor vanished."""
    if codes is not None:
        reviewed = {fp: r for fp, r in reviewed.items() if r["code"] in codes}
    return Comparison(app, findings, reviewed)


def selected_codes(extend: str) -> frozenset[str]:
    """The codes joblint runs by default, plus `extend` (a comma-separated selector list)."""
    from joblint import rules

    extra = [c for c in extend.split(",") if c.strip()]
    return frozenset(r.code for r in rules.select(extend_select=extra))


def table(comparisons: list[Comparison]) -> list[tuple[str, int, int, int, int, str]]:
    """Rows of (rule, findings, reviewed, tp, fp, precision), then a total row."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for comparison in comparisons:
        for finding in comparison.findings:
            row = counts[finding["code"]]
            row["findings"] += 1
            verdict = comparison.reviewed.get(finding["fingerprint"], {}).get("verdict")
            if verdict in VERDICTS:
                row["reviewed"] += 1
                row[verdict] += 1
    rows = []
    total: Counter = Counter()
    for code in sorted(counts):
        row = counts[code]
        total.update(row)
        rows.append((code, *_row(row)))
    rows.append(("all", *_row(total)))
    return rows


def _row(row: Counter) -> tuple[int, int, int, int, str]:
    precision = f"{100 * row['tp'] / row['reviewed']:.1f} %" if row["reviewed"] else "-"
    return row["findings"], row["reviewed"], row["tp"], row["fp"], precision


def render_rows(header: tuple[str, ...], rows: list[tuple], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths))
        )
        for r in [header, *rows]
    )


def render_table(rows: list[tuple], markdown: bool) -> str:
    return render_rows(("rule", "findings", "reviewed", "tp", "fp", "precision"), rows, markdown)


def _describe(app: str, finding: dict) -> str:
    return f"  {app}: {finding['code']} {finding['path']}:{finding['line']}  {finding.get('message', '')}"


def pending_line(app: str, finding: dict) -> dict:
    return {
        "app": app,
        "fingerprint": finding["fingerprint"],
        "code": finding["code"],
        "path": finding["path"],
        "line": finding["line"],
        "message": finding["message"],
        "verdict": None,
        "reason": "",
    }


REVIEWED_KEYS = ("fingerprint", "code", "path", "line", "verdict", "reason")


def record(verdict_files: list[Path], reviewed_dir: Path) -> dict[str, int]:
    """File judged lines into `reviewed/<app>.jsonl`; returns how many per app."""
    by_app: dict[str, dict[str, dict]] = defaultdict(dict)
    for path in verdict_files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            entry = json.loads(line)
            if entry.get("verdict") not in VERDICTS or not entry.get("reason"):
                raise SystemExit(f"{path}:{number}: needs a verdict (tp/fp) and a reason")
            by_app[entry["app"]][entry["fingerprint"]] = {k: entry[k] for k in REVIEWED_KEYS}
    reviewed_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for app, entries in sorted(by_app.items()):
        target = reviewed_dir / f"{app}.jsonl"
        merged = load_reviewed(target)
        merged.update(entries)
        write_reviewed(target, merged)
        counts[app] = len(entries)
    return counts


def write_reviewed(target: Path, entries: dict[str, dict]) -> None:
    ordered = sorted(
        entries.values(), key=lambda e: (e["path"], e["line"], e["code"], e["fingerprint"])
    )
    target.write_text(
        "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in ordered), encoding="utf-8"
    )


# -- recall ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FixCase:
    repo: str
    fix: str
    parent: str
    path: str
    lines: tuple[int, int]
    rule: str | None
    shape: str
    how: str
    root: str = ""

    def caught_by(self, findings: list[dict]) -> bool:
        start, end = self.lines
        return any(
            f["code"] == self.rule and f["path"] == self.path and start <= f["line"] <= end
            for f in findings
        )


def load_cases(path: Path) -> list[FixCase]:
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        entry = json.loads(line)
        try:
            start, end = entry["lines"]
            cases.append(
                FixCase(
                    repo=entry["repo"],
                    fix=entry["fix"],
                    parent=entry["parent"],
                    path=entry["path"],
                    lines=(int(start), int(end)),
                    rule=entry.get("rule"),
                    shape=entry.get("shape", ""),
                    how=entry.get("how", "literal"),
                    root=entry.get("root", ""),
                )
            )
        except (KeyError, TypeError, ValueError) as error:
            raise SystemExit(f"{path}:{number}: not a fix case ({error})") from None
    return cases


# Everything joblint can report: every rule, and the opt-in cases of rule options.
EVERYTHING_CONFIG = "select: [ALL]\nrecord-argument:\n  allow-global-id: false\n"


@dataclass(frozen=True)
class Replayed:
    default: list[dict]  # the findings of a plain `joblint .`
    everything: list[dict]  # with every rule and opt-in option on


def replay(cases: list[FixCase], mirror: Path, scratch: Path) -> dict[FixCase, Replayed]:
    """Lint each covered case's parent commit twice (default settings; everything on)."""
    by_parent: dict[tuple[str, str, str], list[FixCase]] = defaultdict(list)
    for case in cases:
        if case.rule:
            by_parent[(case.repo, case.parent, case.root)].append(case)
    config = scratch / "everything.yml"
    config.write_text(EVERYTHING_CONFIG)
    results: dict[FixCase, Replayed] = {}
    for (repo, parent, root), group in sorted(by_parent.items()):
        label = f"{repo.replace('/', '+')}-{parent[:12]}"
        entry = AppEntry(repo=repo, commit=parent, backend="", root=root, label=label)
        git_dir = find_git_dir(mirror, entry)
        if git_dir is None:
            print(
                f"{repo}: no git directory under {mirror}; {len(group)} case(s) skipped",
                file=sys.stderr,
            )
            continue
        export_app(git_dir, entry, scratch)
        replayed = Replayed(
            default=lint_app(scratch / entry.name),
            everything=lint_app(scratch / entry.name, ("--config", str(config))),
        )
        subprocess.run(["rm", "-rf", str(scratch / entry.name)], check=True)
        for case in group:
            results[case] = replayed
    return results


def recall_rows(cases: list[FixCase], results: dict[FixCase, Replayed], key) -> list[tuple]:
    """Rows of (group, cases, caught by default, caught with everything on), then a total."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for case in cases:
        if case not in results:
            continue
        row = counts[key(case)]
        row["cases"] += 1
        row["default"] += case.caught_by(results[case].default)
        row["all"] += case.caught_by(results[case].everything)
    rows = []
    total: Counter = Counter()
    for group in sorted(counts):
        total.update(counts[group])
        rows.append((group, counts[group]["cases"], counts[group]["default"], counts[group]["all"]))
    rows.append(("all", total["cases"], total["default"], total["all"]))
    return rows


def run_recall(args: argparse.Namespace) -> int:
    import tempfile

    cases = [c for c in load_cases(args.cases) if not args.rule or c.rule in args.rule]
    uncovered = [c for c in cases if not c.rule]
    with tempfile.TemporaryDirectory(prefix="joblint-recall-") as scratch:
        results = replay(cases, args.mirror, Path(scratch))
    header = ("rule", "cases", "default settings", "everything on")
    print(render_rows(header, recall_rows(cases, results, lambda c: c.rule), args.markdown))
    print()
    by_shape = recall_rows(cases, results, lambda c: c.how)
    print(render_rows(("shape", *header[1:]), by_shape, args.markdown))
    print(f"\nfixes the catalogue does not cover: {len(uncovered)}")
    missed = [c for c in cases if c in results and not c.caught_by(results[c].everything)]
    if missed:
        print(f"\nmissed with everything on ({len(missed)}):")
        for case in missed:
            where = f"{case.path}:{case.lines[0]}-{case.lines[1]}"
            print(f"  {case.rule} {case.repo}@{case.parent[:12]} {where}  {case.shape}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--apps-toml", type=Path, default=HERE / "apps.toml")
    parser.add_argument("--reviewed", type=Path, default=HERE / "reviewed")
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="export the pinned apps from local git directories")
    export.add_argument("--mirror", type=Path, required=True)
    export.add_argument("--into", type=Path, default=HERE / ".apps")
    export.add_argument("--app", action="append", default=[])
    run = commands.add_parser("run", help="lint the exports and compare with the reviews")
    run.add_argument("--apps-dir", type=Path, default=HERE / ".apps")
    run.add_argument("--app", action="append", default=[])
    run.add_argument("--pending", type=Path, help="write unreviewed findings here (JSON lines)")
    run.add_argument("--markdown", action="store_true", help="print the table as markdown")
    run.add_argument("--prune", action="store_true", help="drop vanished findings from reviewed/")
    run.add_argument(
        "--extend-select", default="", help="opt-in rules to measure too (JL302,JL501)"
    )
    record_command = commands.add_parser("record", help="file judged findings into reviewed/")
    record_command.add_argument("verdicts", type=Path, nargs="+")
    recall = commands.add_parser("recall", help="replay fix commits of the apps' histories")
    recall.add_argument("--mirror", type=Path, required=True)
    recall.add_argument("--cases", type=Path, default=HERE / "recall.jsonl")
    recall.add_argument("--rule", action="append", default=[])
    recall.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)

    if args.command == "recall":
        return run_recall(args)
    if args.command == "record":
        for app, count in record(args.verdicts, args.reviewed).items():
            print(f"{app}: {count} verdicts recorded")
        return 0

    apps = [a for a in load_apps(args.apps_toml) if not args.app or a.name in args.app]
    if args.command == "export":
        for app in apps:
            git_dir = find_git_dir(args.mirror, app)
            if git_dir is None:
                print(
                    f"{app.name}: no git directory for {app.repo} under {args.mirror}",
                    file=sys.stderr,
                )
                continue
            count = export_app(git_dir, app, args.into)
            print(f"{app.name}: {count} files at {app.commit[:12]}")
        return 0

    comparisons = []
    missing = []
    codes = selected_codes(args.extend_select)
    for app in apps:
        app_dir = args.apps_dir / app.name
        if not app_dir.is_dir():
            missing.append(app.name)
            continue
        stamp = app_dir / ".ecosystem-commit"
        if stamp.is_file() and stamp.read_text().strip() != app.commit:
            print(f"{app.name}: export is not at the pinned commit; export again", file=sys.stderr)
            return 2
        reviewed = load_reviewed(args.reviewed / f"{app.name}.jsonl")
        extra = ("--extend-select", args.extend_select) if args.extend_select else ()
        comparisons.append(compare(app.name, lint_app(app_dir, extra), reviewed, codes))
    if missing:
        print(f"not exported (skipped): {', '.join(missing)}", file=sys.stderr)
    if not comparisons:
        print("no exported apps to check", file=sys.stderr)
        return 2

    print(render_table(table(comparisons), args.markdown))
    new = [(c.app, f) for c in comparisons for f in c.new]
    vanished = [(c.app, r) for c in comparisons for r in c.vanished]
    if new:
        print(f"\nnew or unreviewed findings ({len(new)}):")
        print("\n".join(_describe(app, f) for app, f in new))
    if vanished:
        print(f"\nvanished findings ({len(vanished)}), reviewed but no longer reported:")
        print(
            "\n".join(
                f"  {app}: {r['code']} {r['path']}:{r['line']}  [{r['verdict']}] {r['reason']}"
                for app, r in vanished
            )
        )
    if args.prune:
        for comparison in comparisons:
            if comparison.vanished:
                gone = {r["fingerprint"] for r in comparison.vanished}
                target = args.reviewed / f"{comparison.app}.jsonl"
                kept = {fp: r for fp, r in load_reviewed(target).items() if fp not in gone}
                write_reviewed(target, kept)
    if args.pending is not None:
        with args.pending.open("w", encoding="utf-8") as handle:
            for app, finding in new:
                handle.write(json.dumps(pending_line(app, finding)) + "\n")
    return 0 if not new and not vanished else 1


if __name__ == "__main__":
    os.environ.setdefault("NO_COLOR", "1")
    sys.exit(main())
