"""The rule registry. One module per rule; `all_rules()` imports and registers every rule.

A rule module defines one `Rule` subclass decorated with `@register`. The registry checks,
at import time, that codes are unique, that the module is named after the code and the name
(`jl101_record_argument`), and that the docstring has the documented sections.

A check run selects rules without importing them: `select` and `lookup` answer with a
`LazyRule` per code, made from the generated `rule_index` (code, name, severity, triggers…),
which imports its rule's module when something else is asked of it — running it, its options,
its documentation. A run then imports only the rules some file needs (a fifth of the start-up
of a one-file run went to importing all 45).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import textwrap
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar

from ..findings import Hit, Severity
from ..patterns import lazy_pattern
from ..source import SourceFile

if TYPE_CHECKING:
    from ..rails.app import App

DOC_SECTIONS = ("What it does", "Why is this bad?", "Example", "Use instead")
FAMILIES = {
    "JL0": "joblint",
    "JL1": "arguments",
    "JL2": "errors and retries",
    "JL3": "idempotency and transactions",
    "JL4": "request path and mailers",
    "JL5": "performance and memory",
    "JL6": "queues, schedules and backends",
    "JL7": "conventions and safety",
}

ExampleTree = dict[str, str]  # relative path → file text


@dataclass(frozen=True)
class Option:
    """A per-rule setting (`.joblint.yml`: `JL104: {names: [...]}`)."""

    default: object
    help: str


@dataclass(frozen=True)
class Examples:
    """Mini Rails trees. Lines of `bad` trees carry `# expect: JLnnn`; `good` trees none.
    `settings` are the rule options the examples run with (`.joblint.yml` under the code),
    for a rule whose examples show a case that is off by default."""

    bad: list[ExampleTree] = field(default_factory=list)
    good: list[ExampleTree] = field(default_factory=list)
    settings: dict[str, object] = field(default_factory=dict)


class _Dedented:
    """A rule's examples as registered: the trees are dedented when first read (by the tests
    and the catalogue), not when a check run imports the rule."""

    def __init__(self, written: Examples):
        self._written = written
        self.settings = dict(written.settings)

    @cached_property
    def bad(self) -> list[ExampleTree]:
        return [{p: dedent(t) for p, t in ex.items()} for ex in self._written.bad]

    @cached_property
    def good(self) -> list[ExampleTree]:
        return [{p: dedent(t) for p, t in ex.items()} for ex in self._written.good]


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


class Rule:
    """Base class. Subclasses set the class attributes and implement `check`."""

    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity]
    scope: ClassVar[str]  # "file" or "project"
    summary: ClassVar[str]  # one line, for tables
    message: ClassVar[str]  # str.format template over the hit's args
    help: ClassVar[str]  # one-line advice shown under each finding
    triggers: ClassVar[tuple[str, ...]] = ()  # words a file must contain for the rule to run
    default_enabled: ClassVar[bool] = True
    fixable: ClassVar[bool] = False
    tags: ClassVar[tuple[str, ...]] = ()
    cwe: ClassVar[int | None] = None
    examples: ClassVar[Examples] = Examples()
    options: ClassVar[dict[str, Option]] = {}  # name (kebab-case) → Option
    trigger_bytes: ClassVar[tuple[bytes, ...]] = ()

    def __init__(self, settings: Mapping[str, object] | None = None):
        self.settings = {name: option.default for name, option in self.options.items()}
        self.settings.update(settings or {})

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.trigger_bytes = tuple(t.encode() for t in cls.triggers)

    def check(self, source: SourceFile, app: App) -> Iterable[Hit]:
        raise NotImplementedError

    @classmethod
    def applies_to(cls, source: SourceFile) -> bool:
        """Which kind of file the rule reads: Ruby by default; YAML rules override this."""
        return source.is_ruby

    @classmethod
    def wants(cls, source: SourceFile) -> bool:
        return source.contains_any(cls.trigger_bytes)

    @classmethod
    def format_message(cls, hit: Hit) -> str:
        return cls.message.format(**hit.args)

    @classmethod
    def family(cls) -> str:
        return FAMILIES.get(cls.code[:3], "")

    @classmethod
    def doc_sections(cls) -> dict[str, str]:
        return parse_doc(cls.__doc__ or "")


_REGISTRY: dict[str, type[Rule]] = {}
_CODE = lazy_pattern(r"^JL\d{3}$")
_NAME = lazy_pattern(r"^[a-z]+(-[a-z0-9]+)*$")


def parse_doc(doc: str) -> dict[str, str]:
    """Split a rule docstring into its `## Section` parts."""
    sections: dict[str, str] = {}
    current = None
    lines: list[str] = []
    for line in textwrap.dedent(doc).splitlines():
        if line.startswith("## "):
            if current is not None:
                sections[current] = "\n".join(lines).strip()
            current = line[3:].strip()
            lines = []
        elif current is not None:
            lines.append(line)
    if current is not None:
        sections[current] = "\n".join(lines).strip()
    return sections


def register(cls: type[Rule]) -> type[Rule]:
    code = cls.code
    if not _CODE.match(code) or not _NAME.match(cls.name):
        raise ValueError(f"bad rule code or name: {code} {cls.name}")
    if code in _REGISTRY:
        raise ValueError(f"duplicate rule code {code}")
    if any(r.name == cls.name for r in _REGISTRY.values()):
        raise ValueError(f"duplicate rule name {cls.name}")
    expected_module = f"{code.lower()}_{cls.name.replace('-', '_')}"
    if cls.__module__.rsplit(".", 1)[-1] != expected_module:
        raise ValueError(f"rule {code} must live in rules/{expected_module}.py")
    doc = textwrap.dedent(cls.__doc__ or "")
    missing = [s for s in DOC_SECTIONS if f"\n## {s}\n" not in f"\n{doc}"]
    if missing:
        raise ValueError(f"rule {code} docstring lacks sections: {', '.join(missing)}")
    if cls.scope not in ("file", "project"):
        raise ValueError(f"rule {code}: scope must be file or project")
    cls.examples = _Dedented(cls.examples)  # type: ignore[assignment]
    unknown = set(cls.examples.settings) - set(cls.options)
    if unknown:
        raise ValueError(f"rule {code}: examples use unknown options {sorted(unknown)}")
    _REGISTRY[code] = cls
    return cls


class LazyRule:
    """A rule as `rule_index` describes it, standing in for its class: what the index does not
    hold is read from the class, imported then."""

    def __init__(self, row: tuple[str, str, str, str, bool, bool, str, str],
                 dispatch: tuple[tuple[str, ...], tuple[str, ...]]):
        self.code, self.name, severity, self.scope, self.default_enabled, self.fixable, \
            self.summary, self.module = row
        self.severity = Severity.parse(severity)
        self.triggers, self.own_dispatch = dispatch
        self.trigger_bytes = tuple(t.encode() for t in self.triggers)

    def loaded(self) -> type[Rule]:
        """The rule's class, its module imported on first use."""
        found = self.__dict__.get("_class")
        if found is None:
            found = self.__dict__["_class"] = load(self.code, self.module)
        return found  # type: ignore[no-any-return]

    def __getattr__(self, attribute: str) -> object:  # only what __init__ did not set
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        return getattr(self.loaded(), attribute)

    def __call__(self, settings: Mapping[str, object] | None = None) -> Rule:
        return self.loaded()(settings)

    def __repr__(self) -> str:
        return f"<rule {self.code} {self.name}>"


_LAZY: dict[str, LazyRule] = {}


def _lazy() -> dict[str, LazyRule]:
    """Every rule of the index, by code, without importing any."""
    if not _LAZY:
        from .. import rule_index

        for row in rule_index.RULES:
            _LAZY[row[0]] = LazyRule(row, rule_index.DISPATCH[row[0]])
    return _LAZY


def own_dispatch(rule: type[Rule] | LazyRule) -> tuple[str, ...]:
    """Which of `wants` and `applies_to` the rule defines itself (the dispatch asks it then)."""
    if isinstance(rule, LazyRule):
        return rule.own_dispatch
    return tuple(m for m in ("wants", "applies_to")
                 if getattr(rule, m).__func__ is not getattr(Rule, m).__func__)


_loaded = False


def _load() -> None:
    """Import every rule module once (importing one rule directly must not stop the rest)."""
    global _loaded
    if _loaded:
        return
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if re.match(r"^jl\d{3}_", module.name):
            importlib.import_module(f"{__name__}.{module.name}")
    _loaded = True


def load(code: str, module: str) -> type[Rule]:
    """One rule, importing its module only (`rule_index` names it): `joblint rule`."""
    importlib.import_module(f"{__name__}.{module}")
    return _REGISTRY[code]


def all_rules() -> list[type[Rule]]:
    _load()
    return [_REGISTRY[code] for code in sorted(_REGISTRY)]


def lookup(code_or_name: str) -> LazyRule | None:
    known = _lazy()
    key = code_or_name.strip()
    if key.upper() in known:
        return known[key.upper()]
    for rule in known.values():
        if rule.name == key.lower():
            return rule
    return None


class UnknownSelector(ValueError):
    pass


def expand(selector: str) -> list[str]:
    """Codes for a selector: a code, a name, a family prefix (`JL5`, `JL50`) or `ALL`."""
    known = _lazy()
    key = selector.strip()
    if key.upper() == "ALL":
        return sorted(known)
    rule = lookup(key)
    if rule is not None:
        return [rule.code]
    if re.match(r"^JL\d{0,2}$", key.upper()):
        codes = [c for c in sorted(known) if c.startswith(key.upper())]
        if codes:
            return codes
    raise UnknownSelector(selector)


def select(
    select: Iterable[str] | None = None,
    ignore: Iterable[str] = (),
    extend_select: Iterable[str] = (),
) -> list[LazyRule]:
    """The enabled rules: `select` (or the defaults), plus `extend_select`, minus `ignore`."""
    known = _lazy()
    if select is None:
        codes = {c for c, r in known.items() if r.default_enabled}
    else:
        codes = {c for s in select for c in expand(s)}
    codes |= {c for s in extend_select for c in expand(s)}
    codes -= {c for s in ignore for c in expand(s)}
    return [known[c] for c in sorted(codes)]


def iter_examples() -> Iterator[tuple[type[Rule], str, int, ExampleTree]]:
    for rule in all_rules():
        for kind, trees in (("bad", rule.examples.bad), ("good", rule.examples.good)):
            for index, example in enumerate(trees):
                yield rule, kind, index, example
