"""Job YAML configs (sidekiq.yml, queue.yml, recurring.yml, schedule.yml…) read with positions.

ERB tags are neutralised, never evaluated: a tag alone on its line becomes a comment, control
tags (`<% if … %>`) become blanks, and an output tag inside a value (`<%= ENV[...] %>`) becomes
the token `_ERB_…`, so a value that depends on ERB is recognisably unknown. Each replacement keeps the tag's length, so lines and columns still point
into the original file. Anchors, aliases and `<<:` merges are resolved. A YAML syntax error is a
fact too (`YamlError`), reported by JL002.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..patterns import lazy_pattern
from ..source import SourceFile

if TYPE_CHECKING:
    from .app import App

ERB = "_ERB_"
_ERB_TAG = lazy_pattern(r"<%(?P<kind>[=#-]?)(?P<body>.*?)-?%>", re.DOTALL)
# Top-level keys that are per-environment sections in Rails-style YAML files.
ENVIRONMENTS = frozenset(
    {"default", "defaults", "shared", "common", "base", "development", "test", "production",
     "staging", "beta", "preview", "review", "qa", "uat", "sandbox", "demo", "local", "ci"}
)


class YStr(str):
    """A YAML string scalar that remembers where it is (byte offsets into the file)."""

    start_byte: int
    end_byte: int
    line: int

    def __new__(cls, value: str, start_byte: int, end_byte: int, line: int) -> YStr:  # noqa: PYI034
        obj = super().__new__(cls, value)
        obj.start_byte, obj.end_byte, obj.line = start_byte, end_byte, line
        return obj

    @property
    def has_erb(self) -> bool:
        return ERB in self


class YMap(dict):  # type: ignore[type-arg]
    """A YAML mapping; its keys are `YStr` when they are strings, so they carry positions."""

    start_byte: int = 0
    line: int = 0


class YList(list):  # type: ignore[type-arg]
    start_byte: int = 0
    line: int = 0


YValue = YMap | YList | YStr | int | float | bool | None


@dataclass(frozen=True)
class YamlError:
    """Why a file could not be read as YAML, and where (byte offset of the error line)."""

    message: str
    line: int
    start_byte: int
    end_byte: int


def neutralise_erb(text: str) -> str:
    """The text with every ERB tag replaced by something YAML reads and that keeps positions."""

    def replace(match: re.Match[str]) -> str:
        tag = match.group(0)
        if "\n" in tag:  # keep the line structure of multi-line tags
            return "".join("\n" if ch == "\n" else " " for ch in tag)
        line_start = text.rfind("\n", 0, match.start()) + 1
        line_end = text.find("\n", match.end())
        line_end = len(text) if line_end == -1 else line_end
        alone = not text[line_start : match.start()].strip() and not text[match.end() : line_end].strip()
        if match.group("kind") != "=" or alone:
            return "#" + " " * (len(tag) - 1) if alone else " " * len(tag)
        return ERB + "_" * (len(tag) - len(ERB))

    return _ERB_TAG.sub(replace, text)


class _Converter:
    """Composed YAML nodes → YMap/YList/YStr with byte positions, merges and aliases resolved."""

    def __init__(self, source: SourceFile, text: str):
        self.source = source
        self.lines = text.split("\n")
        self.memo: dict[int, YValue] = {}
        self.constructor = yaml.SafeLoader("")

    def byte_offset(self, mark: yaml.Mark) -> int:
        starts = self.source.line_starts
        if mark.line >= len(starts):
            return len(self.source.data)
        prefix = self.lines[mark.line][: mark.column] if mark.line < len(self.lines) else ""
        return starts[mark.line] + len(prefix.encode("utf-8"))

    def convert(self, node: yaml.Node) -> YValue:
        key = id(node)
        if key in self.memo:
            return self.memo[key]
        if isinstance(node, yaml.MappingNode):
            result: YValue = self._mapping(node)
        elif isinstance(node, yaml.SequenceNode):
            items = YList()
            self.memo[key] = items
            items.extend(self.convert(child) for child in node.value)
            items.start_byte, items.line = self.byte_offset(node.start_mark), node.start_mark.line + 1
            result = items
        else:
            result = self._scalar(node)
        self.memo[key] = result
        return result

    def _mapping(self, node: yaml.MappingNode) -> YMap:
        mapping = YMap()
        self.memo[id(node)] = mapping
        mapping.start_byte, mapping.line = self.byte_offset(node.start_mark), node.start_mark.line + 1
        merged: list[YMap] = []
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                value = self.convert(value_node)
                sources = value if isinstance(value, list) else [value]
                merged.extend(m for m in sources if isinstance(m, YMap))
                continue
            key = self.convert(key_node)
            try:
                mapping[key] = self.convert(value_node)
            except TypeError:  # an unhashable key (a mapping as a key): not a job config
                continue
        for base in reversed(merged):  # explicit keys win over merged ones, earlier merges win
            for key, value in base.items():
                if key not in mapping:
                    mapping[key] = value
        return mapping

    def _scalar(self, node: yaml.Node) -> YValue:
        start, end = self.byte_offset(node.start_mark), self.byte_offset(node.end_mark)
        line = node.start_mark.line + 1
        if node.tag == "tag:yaml.org,2002:str" or not isinstance(node, yaml.ScalarNode):
            return YStr(str(node.value), start, end, line)
        try:
            value = self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError:
            return YStr(str(node.value), start, end, line)
        if isinstance(value, str):
            return YStr(value, start, end, line)
        if isinstance(value, (int, float, bool)) or value is None:
            return value
        return YStr(str(node.value), start, end, line)  # dates and timestamps: keep the text


def load(source: SourceFile) -> YValue | YamlError:
    """The first YAML document of a file, with ERB neutralised; a YamlError if it is not YAML."""
    global yaml  # PyYAML is imported (15 ms) by the first run that reads a YAML file
    import yaml

    text = source.data.decode("utf-8", errors="replace")
    neutral = neutralise_erb(text)
    try:
        for document in yaml.compose_all(neutral, Loader=yaml.SafeLoader):
            if document is not None:
                return _Converter(source, neutral).convert(document)
        return None
    except yaml.YAMLError as error:
        return _error(source, error)
    except RecursionError:
        return YamlError("the YAML nests too deeply", 1, 0, 0)


def _error(source: SourceFile, error: yaml.YAMLError) -> YamlError:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    row = mark.line if mark is not None else 0
    starts = source.line_starts
    row = min(row, len(starts) - 1)
    start = starts[row]
    end = starts[row + 1] - 1 if row + 1 < len(starts) else len(source.data)
    if end <= start:  # an empty line: point at the line before when there is one
        while row > 0 and end <= start:
            row -= 1
            start = starts[row]
            end = starts[row + 1] - 1
    return YamlError(str(problem), row + 1, start, max(end, start))


def document(source: SourceFile) -> YValue | YamlError:
    """`load`, memoised on the file so every fact module and rule shares one parse."""
    if "yaml" not in source.derived:
        source.derived["yaml"] = load(source)
    return source.derived["yaml"]  # type: ignore[return-value]


def app_document(app: App, relpath: str) -> YValue | YamlError:
    """The document of a config file of the app (None when the file is absent or unreadable)."""
    if app.root is None or not (app.root / relpath).is_file():
        return None
    source = app.source(app.root / relpath)
    return None if source is None else document(source)


def sections(root: YValue) -> list[YMap]:
    """The mappings that hold the settings: each per-environment section (and the keys beside
    them) when the top level is split by environment, else the top level itself."""
    if not isinstance(root, dict):
        return []
    env_keys = [k for k in root if isinstance(k, str) and k in ENVIRONMENTS and isinstance(root[k], dict)]
    if env_keys:
        found = [root[k] for k in env_keys]
        others = YMap({k: v for k, v in root.items() if k not in env_keys})
        if others:
            found.insert(0, others)
        return _unique(found)
    return [root]


def _unique(maps: list[YMap]) -> list[YMap]:
    seen: set[int] = set()
    unique = []
    for mapping in maps:
        if id(mapping) not in seen:
            seen.add(id(mapping))
            unique.append(mapping)
    return unique


def get(mapping: dict, *names: str) -> YValue:  # type: ignore[type-arg]
    """The value of the first key present among `names` (`queues`, `:queues`), or None."""
    for name in names:
        if name in mapping:
            return mapping[name]  # type: ignore[no-any-return]
    return None
