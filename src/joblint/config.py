"""Configuration: `.joblint.yml`, `[tool.joblint]` in pyproject.toml, or `--config FILE`,
validated into a frozen Settings. Unknown keys, codes, options and wrong types are errors that
name the key and the file.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import rules
from .files import read_bounded, split_patterns
from .findings import Severity

CONFIG_FILE = ".joblint.yml"
LIST_KEYS = ("select", "ignore", "extend-select", "exclude", "request-paths")
TOP_KEYS = (*LIST_KEYS, "severity", "per-file-ignores")
DEFAULT_ORIGIN = "default"
CLI_ORIGIN = "command line"


class ConfigError(Exception):
    """A configuration problem; the message names the file and the key."""


@dataclass(frozen=True)
class Settings:
    select: tuple[str, ...] | None = None  # None: the rules enabled by default
    ignore: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    request_paths: tuple[str, ...] = ()
    severity: Mapping[str, Severity] = field(default_factory=dict)  # code → severity
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()  # glob → codes
    rule_options: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    origins: Mapping[str, str] = field(default_factory=dict)  # key → where it was set
    path: Path | None = None  # the configuration file, if any
    warnings: tuple[str, ...] = ()  # entries ignored with a warning (an invalid pattern)

    def enabled_rules(self) -> list[type[rules.Rule]]:
        return rules.select(self.select, self.ignore, self.extend_select)

    def with_overrides(self, **overrides: Any) -> Settings:
        """Command-line values replace the file's (None means "not given")."""
        changes = {k: v for k, v in overrides.items() if v is not None}
        origins = dict(self.origins)
        for key in changes:
            origins[key.replace("_", "-")] = CLI_ORIGIN
        values = {**self.__dict__, **changes, "origins": origins}
        return Settings(**values)


def find_config(root: Path | None) -> Path | None:
    """`.joblint.yml` at the root, else a pyproject.toml there with a [tool.joblint] table."""
    if root is None:
        return None
    candidate = root / CONFIG_FILE
    if candidate.is_file():
        return candidate
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and b"[tool.joblint" in (read_bounded(pyproject, CONFIG_LIMIT) or b""):
        return pyproject
    return None


def load(path: Path | None) -> Settings:
    if path is None:
        return Settings()
    data = _read(path)
    origin = f"{path.name} [tool.joblint]" if path.name == "pyproject.toml" else path.name
    return parse(data, path, origin)


CONFIG_LIMIT = 1024 * 1024  # a .joblint.yml or pyproject.toml over 1 MB is not a configuration


def _read(path: Path) -> dict[str, Any]:
    try:
        data = read_bounded(path, CONFIG_LIMIT)
        if data is None:
            raise ConfigError(f"{path}: the configuration is over {CONFIG_LIMIT // 1024} KB: not read")
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not valid UTF-8"
        raise ConfigError(f"{path}: cannot read the configuration: {reason}") from None
    if path.suffix == ".toml":
        if sys.version_info >= (3, 11):  # imported here: most runs read no TOML
            import tomllib
        else:  # pragma: no cover - exercised on Python 3.10 only
            import tomli as tomllib
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path}: invalid TOML: {error}") from None
        except RecursionError:
            raise ConfigError(f"{path}: the TOML nests too deeply to read") from None
        data = document.get("tool", {}).get("joblint", {})
    else:
        import yaml  # only for a YAML configuration file

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            problem = getattr(error, "problem", None) or "syntax error"
            raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None
        except RecursionError:
            raise ConfigError(f"{path}: the YAML nests too deeply to read") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the configuration must be a mapping of keys to values")
    return data


def parse(data: Mapping[str, Any], path: Path, origin: str) -> Settings:
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    rule_options: dict[str, dict[str, object]] = {}
    warnings: list[str] = []
    for key, value in data.items():
        where = f"{path}: key '{key}'"
        if key in LIST_KEYS:
            items = _string_list(value, where)
            if key in ("select", "ignore", "extend-select"):
                _check_selectors(items, where)
            if key == "exclude":
                listed = items
                items, bad = split_patterns(listed)
                warnings.extend(f"{where}: not a valid gitignore pattern, ignored: {listed[n - 1]!r}"
                                for n in bad)
            values[key.replace("-", "_")] = tuple(items)
        elif key == "severity":
            values["severity"] = _severities(value, where)
        elif key == "per-file-ignores":
            entries = _per_file_ignores(value, where)
            _, bad = split_patterns([g for g, _ in entries])
            warnings.extend(f"{where}: not a valid gitignore pattern, ignored: {entries[n - 1][0]!r}"
                            for n in bad)
            invalid = {n - 1 for n in bad}
            values["per_file_ignores"] = tuple(e for i, e in enumerate(entries) if i not in invalid)
        else:
            rule = rules.lookup(str(key))
            if rule is None:
                raise ConfigError(
                    f"{where}: unknown key (expected one of {', '.join(TOP_KEYS)}, "
                    "or a rule code or name with its options)"
                )
            rule_options[rule.code] = _rule_options(rule, value, where)
            origins[rule.code] = origin
            continue
        origins[key] = origin
    return Settings(
        **values, rule_options=rule_options, origins=origins, path=path, warnings=tuple(warnings)
    )


def _string_list(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of strings")
    return value


def _check_selectors(items: list[str], where: str) -> None:
    for item in items:
        try:
            rules.expand(item)
        except rules.UnknownSelector:
            raise ConfigError(f"{where}: unknown rule, name or prefix '{item}'") from None


def _codes(items: list[str], where: str) -> tuple[str, ...]:
    codes: list[str] = []
    for item in items:
        if item.lower() == "all":
            codes.append("all")
            continue
        try:
            codes.extend(rules.expand(item))
        except rules.UnknownSelector:
            raise ConfigError(f"{where}: unknown rule, name or prefix '{item}'") from None
    return tuple(codes)


def _severities(value: Any, where: str) -> dict[str, Severity]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping of rule → error|warning|info")
    result = {}
    for name, level in value.items():
        rule = rules.lookup(str(name))
        if rule is None:
            raise ConfigError(f"{where}: unknown rule '{name}'")
        if not isinstance(level, str) or level.lower() not in ("error", "warning", "info"):
            raise ConfigError(f"{where}: severity of {rule.code} must be error, warning or info")
        result[rule.code] = Severity.parse(level)
    return result


def _per_file_ignores(value: Any, where: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping of glob → list of rules")
    return tuple(
        (str(glob), _codes(_string_list(items, f"{where} '{glob}'"), f"{where} '{glob}'"))
        for glob, items in value.items()
    )


def _rule_options(rule: type[rules.Rule], value: Any, where: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping of {rule.code}'s options")
    options: dict[str, object] = {}
    for name, setting in value.items():
        option = rule.options.get(str(name))
        if option is None:
            known = ", ".join(rule.options) or "none"
            raise ConfigError(
                f"{where}: unknown option '{name}' for {rule.code} (its options: {known})"
            )
        expected = type(option.default)
        if expected is list:
            setting = _string_list(setting, f"{where}.{name}")
        elif not isinstance(setting, expected):
            raise ConfigError(f"{where}.{name}: expected {expected.__name__}")
        options[str(name)] = setting
    return options


def describe(settings: Settings) -> list[tuple[str, str, str]]:
    """(key, value, origin) rows for `--show-settings`."""
    enabled = ", ".join(r.code for r in settings.enabled_rules())
    origin = settings.origins.get
    rows = [
        ("config file", str(settings.path) if settings.path else "(none)", ""),
        ("select", _show(settings.select) if settings.select is not None else "(defaults)",
         origin("select", DEFAULT_ORIGIN)),
        ("extend-select", _show(settings.extend_select), origin("extend-select", DEFAULT_ORIGIN)),
        ("ignore", _show(settings.ignore), origin("ignore", DEFAULT_ORIGIN)),
        ("enabled rules", enabled, ""),
        ("exclude", _show(settings.exclude), origin("exclude", DEFAULT_ORIGIN)),
        ("request-paths", _show(settings.request_paths), origin("request-paths", DEFAULT_ORIGIN)),
        ("severity", ", ".join(f"{c}={s.label}" for c, s in sorted(settings.severity.items()))
         or "[]", origin("severity", DEFAULT_ORIGIN)),
        ("per-file-ignores", "; ".join(f"{g}: {', '.join(c)}" for g, c in settings.per_file_ignores)
         or "[]", origin("per-file-ignores", DEFAULT_ORIGIN)),
    ]
    for rule in rules.all_rules():
        for name, option in rule.options.items():
            own = settings.rule_options.get(rule.code, {})
            value = own.get(name, option.default)
            rows.append((f"{rule.code}.{name}", repr(value),
                         origin(rule.code, DEFAULT_ORIGIN) if name in own else DEFAULT_ORIGIN))
    return rows


def _show(values: tuple[str, ...] | None) -> str:
    return "[" + ", ".join(values or ()) + "]"
