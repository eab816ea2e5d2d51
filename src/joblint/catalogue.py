"""The rule catalogue: registry → `rules/README.md` and one page per rule.

`python -m joblint.catalogue [DIR]` writes it (default `rules/`), and `src/joblint/rule_index.py`
(each rule's metadata, which `joblint rules` reads without importing the analyzer); `--check`
exits 1 when the committed pages or index differ from what the registry generates.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the rules are imported when a page is made: `joblint rules` needs none
    from .rules import ExampleTree, Rule

REPOSITORY = "https://github.com/joblint/joblint"


def page_name(rule: type[Rule]) -> str:
    return f"{rule.code}-{rule.name}.md"


def help_uri_of(code: str, name: str) -> str:
    return f"{REPOSITORY}/blob/main/rules/{code}-{name}.md"


def help_uri(rule: type[Rule]) -> str:
    return help_uri_of(rule.code, rule.name)


def _language(path: str) -> str:
    if path.endswith((".yml", ".yaml")):
        return "yaml"
    if path.endswith((".erb", ".html")):
        return "erb"
    if path.endswith(".lock"):
        return "text"
    return "ruby"


def _trees(title: str, trees: list[ExampleTree]) -> list[str]:
    lines = [f"## {title}", ""]
    for number, example in enumerate(trees, start=1):
        lines += [f"### {number}", ""]
        for path, text in example.items():
            fence = "````" if "```" in text else "```"
            lines += [f"`{path}`", "", f"{fence}{_language(path)}", text.rstrip("\n"), fence, ""]
    return lines


def page(rule: type[Rule]) -> str:
    """The rule's documentation page, in Markdown."""
    sections = rule.doc_sections()
    lines = [
        f"# {rule.code} {rule.name}",
        "",
        rule.summary + ".",
        "",
        "| | |",
        "|---|---|",
        f"| Family | {rule.family()} |",
        f"| Severity | {rule.severity.label} |",
        f"| Scope | {rule.scope} |",
        f"| Enabled by default | {'yes' if rule.default_enabled else 'no'} |",
        f"| Autofix | {'yes (safe)' if rule.fixable else 'no'} |",
    ]
    if rule.cwe:
        lines.append(f"| CWE | [CWE-{rule.cwe}](https://cwe.mitre.org/data/definitions/{rule.cwe}.html) |")
    lines.append("")
    for title, body in sections.items():
        lines += [f"## {title}", "", body, ""]
    if rule.options:
        lines += ["## Options", "", "Set in `.joblint.yml` under the rule's code.", "",
                  "| Option | Default | Meaning |", "|---|---|---|"]
        for name, option in rule.options.items():
            lines.append(f"| `{name}` | `{json.dumps(option.default)}` | {option.help} |")
        lines.append("")
    if rule.examples.settings:
        written = ", ".join(f"`{k}: {json.dumps(v)}`" for k, v in rule.examples.settings.items())
        lines += [f"The examples below run with {written} (`.joblint.yml`, under `{rule.code}`).", ""]
    lines += _trees("Examples that are reported", rule.examples.bad)
    lines += _trees("Examples that are not reported", rule.examples.good)
    lines += [
        "Lines ending in `# expect: CODE` are where joblint reports; these examples are run as",
        "tests, so this page shows exactly what the rule does.",
        "",
    ]
    return "\n".join(lines)


def index() -> str:
    from . import rules

    lines = [
        "# joblint rules",
        "",
        "Generated from the rule registry by `python -m joblint.catalogue`; do not edit by hand.",
        "",
        "| Code | Name | Severity | Scope | Default | Summary |",
        "|---|---|---|---|---|---|",
    ]
    for rule in rules.all_rules():
        lines.append(
            f"| [{rule.code}]({page_name(rule)}) | {rule.name} | {rule.severity.label} | "
            f"{rule.scope} | {'on' if rule.default_enabled else 'off'} | {rule.summary} |"
        )
    lines.append("")
    return "\n".join(lines)


INDEX_MODULE = Path(__file__).parent / "rule_index.py"


def index_rows() -> list[tuple[str, str, str, str, bool, bool, str, str]]:
    """Each rule's metadata as `rule_index.RULES` holds it."""
    from . import rules

    return [
        (r.code, r.name, r.severity.label, r.scope, r.default_enabled, r.fixable, r.summary,
         r.__module__.rsplit(".", 1)[-1])
        for r in rules.all_rules()
    ]


def dispatch_rows() -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Each rule's trigger words and which of `wants` and `applies_to` it defines itself, as
    `rule_index.DISPATCH` holds them."""
    from . import rules

    return {r.code: (tuple(r.triggers), rules.own_dispatch(r)) for r in rules.all_rules()}


def index_module() -> str:
    """The text of `rule_index.py`: `joblint rules` and `joblint rule` read the rules from it
    without importing the analyzer, and a check run learns which rules a file needs before
    importing them."""
    rows = "".join(f"    {row!r},\n" for row in index_rows())
    dispatch = "".join(f"    {code!r}: {row!r},\n" for code, row in dispatch_rows().items())
    return (
        '"""Every rule\'s code, name, severity, scope, default, fixability, summary and module:\n'
        "`joblint rules` and `joblint rule` answer from here without importing the analyzer; and\n"
        "its trigger words and the dispatch methods it defines itself (`wants`, `applies_to`): a\n"
        "check run imports a rule's module only when a file needs the rule.\n"
        'Written by `python -m joblint.catalogue` from the rule classes; do not edit."""\n\n'
        "RULES = (\n" + rows + ")\n\n"
        "DISPATCH = {\n" + dispatch + "}\n"
    )


def expected_files() -> dict[str, str]:
    from . import rules

    files = {"README.md": index()}
    for rule in rules.all_rules():
        files[page_name(rule)] = page(rule)
    return files


def stale_files(directory: Path) -> list[str]:
    """Pages that are missing, different, or left over from a renamed rule."""
    expected = expected_files()
    stale = [
        name
        for name, text in expected.items()
        if not (directory / name).is_file() or (directory / name).read_text("utf-8") != text
    ]
    if directory.is_dir():
        stale += sorted(p.name for p in directory.glob("*.md") if p.name not in expected)
    return stale


def write(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    expected = expected_files()
    for leftover in directory.glob("*.md"):
        if leftover.name not in expected:
            leftover.unlink()
    for name, text in expected.items():
        (directory / name).write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    check = "--check" in args
    targets = [a for a in args if a != "--check"]
    directory = Path(targets[0] if targets else "rules")
    if check:
        stale = stale_files(directory)
        if INDEX_MODULE.read_text("utf-8") != index_module():
            stale.append(str(INDEX_MODULE))
        if stale:
            print(f"stale rule pages in {directory}: {', '.join(stale)}", file=sys.stderr)
            print("regenerate with: python -m joblint.catalogue", file=sys.stderr)
            return 1
        return 0
    write(directory)
    INDEX_MODULE.write_text(index_module(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
