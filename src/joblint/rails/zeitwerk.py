"""Zeitwerk: which constant a file under an autoload root must define.

Rails registers every `app/*` directory and every `app/*/concerns` directory (of the app and
of its engines) as a root; config files add roots (`autoload_paths`, `eager_load_paths`,
`autoload_lib`, `push_dir`), collapse or ignore directories, and teach the inflector acronyms
(`inflect.acronym`) and overrides (`autoloader.inflector.inflect("x" => "Y")`). Config is read,
never evaluated: whatever cannot be read is recorded as unknown, and callers stay silent
about what the unknown part could explain.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

from .. import ruby
from ..files import walk_files
from ..patterns import lazy_pattern
from ..ruby import Node
from ..source import SourceFile
from .app import PLAIN_FACTS, App
from .config import Version, active_lines

ENGINE_DIRS = ("engines", "components")  # their app/ is autoloaded by the engine
PACK_GEMS = ("packs-rails", "stimpack")  # packs/*/app/* are roots only with these
# words a config file must contain to be read for autoloading facts
CONFIG_WORDS = (
    b"autoload", b"eager_load_paths", b"collapse", b"ignore", b"acronym", b"inflect",
    b"push_dir", b"autoloader", b"loader",
)  # fmt: skip
_CLASSIC = lazy_pattern(r"^[^\S\n]*config\.autoloader\s*=\s*:classic\b", re.MULTILINE)
_ZEITWERK = lazy_pattern(r"^[^\S\n]*config\.autoloader\s*=\s*:zeitwerk\b", re.MULTILINE)
_PATH_LISTS = lazy_pattern(r"(?:^|\.)(autoload_paths|eager_load_paths|autoload_once_paths)$")
_LOADER = lazy_pattern(r"(?:^|\.)(?:autoloaders\.(?:main|once)|autoloader|loader|main_autoloader)$")
_ROOT_EXPRESSIONS = frozenset(
    {"Rails.root", "Rails.application.root", "Rails.application.config.root"}
)
_COMPONENT_ROOTS = frozenset({"root", "config.root", "Engine.root", "self.root", "called_from"})
_READ_ONLY_LIST_METHODS = frozenset(
    {"each", "map", "include?", "to_a", "dup", "freeze", "uniq", "uniq!"}
)
_CONSTANT = lazy_pattern(r"^[A-Z][A-Za-z0-9_]*$")
_ROOT = "\0root\0"  # stands for the Rails root inside a path being read
_HERE = "\0here\0"  # the directory of the config file being read


@dataclass(frozen=True)
class ExtraRoot:
    pattern: str  # a directory relative to the Rails root, possibly a glob
    namespace: str = ""  # `push_dir(dir, namespace: Foo)`


@dataclass
class Autoloading:
    """What the app's config says about Zeitwerk."""

    zeitwerk: bool  # is the app autoloaded by Zeitwerk at all?
    acronyms: dict[str, str] = field(default_factory=dict)  # "api" → "API"
    overrides: dict[str, str] = field(default_factory=dict)  # basename → constant name
    inflection_known: bool = True  # False: an acronym or an inflector we cannot read
    extra_roots: list[ExtraRoot] = field(default_factory=list)
    removed_roots: set[str] = field(default_factory=set)
    collapsed: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    layout_known: bool = True  # False: a root or a collapsed directory we cannot read
    ignore_known: bool = True  # False: an ignored path we cannot read (any file may be ignored)
    components: tuple[str, ...] = ("",)  # "" (the app) and "engines/billing/"-style prefixes

    def camelize(self, basename: str) -> str:
        """`Rails::Autoloaders::Inflector.camelize`: an override, else ActiveSupport's camelize."""
        if basename in self.overrides:
            return self.overrides[basename]
        return camelize(basename, self.acronyms)

    def expected_constant(self, relpath: str) -> Expectation | None:
        """The constant Zeitwerk expects `relpath` to define; None when the file is not under a
        root, is ignored, or has a name Zeitwerk cannot map to a constant."""
        if not relpath.endswith(".rb") or not self.ignore_known:
            return None
        directory, _, filename = relpath.rpartition("/")
        root = self._root_of(directory)
        if root is None:
            return None
        root_dir, namespace = root
        if self._ignored(relpath):
            return None
        inner = directory[len(root_dir) :].strip("/")
        names: list[str] = [n for n in namespace.split("::") if n]
        walked = root_dir
        for segment in inner.split("/") if inner else ():
            walked = f"{walked}/{segment}"
            if segment.startswith("."):
                return None  # Zeitwerk skips hidden directories
            if self._matches(walked, self.collapsed):
                continue
            names.append(self.camelize(segment))
        if filename.startswith("."):
            return None
        names.append(self.camelize(filename[: -len(".rb")]))
        if not all(_CONSTANT.match(n) for n in names):
            return None  # a name Zeitwerk itself would reject
        return Expectation(
            "::".join(names), tuple(names), not self.inflection_known, not self.layout_known
        )

    def _root_of(self, directory: str) -> tuple[str, str] | None:
        """The deepest root directory holding `directory` (nested roots are their own roots),
        with its namespace."""
        best: tuple[str, str] | None = None
        parts = directory.split("/")
        for depth in range(1, len(parts) + 1):
            candidate = "/".join(parts[:depth])
            found = self._root_namespace(candidate)
            if found is not None:
                best = (candidate, found)
        return best

    def _root_namespace(self, directory: str) -> str | None:
        if directory in self.removed_roots:
            return None
        for extra in self.extra_roots:
            if _glob_match(directory, extra.pattern):
                return extra.namespace
        for prefix in self.components:
            if not directory.startswith(prefix):
                continue
            rest = directory[len(prefix) :].split("/")
            if len(rest) == 2 and rest[0] == "app" and rest[1] not in ("assets", "javascript"):
                return ""
            if len(rest) == 3 and rest[0] == "app" and rest[2] == "concerns":
                return ""
        return None

    def _ignored(self, relpath: str) -> bool:
        parts = relpath.split("/")
        return any(
            self._matches("/".join(parts[:depth]), self.ignored)
            for depth in range(1, len(parts) + 1)
        )

    @staticmethod
    def _matches(path: str, patterns: list[str]) -> bool:
        return any(_glob_match(path, p) for p in patterns)


@dataclass(frozen=True)
class Expectation:
    """The constant a file must define, and how sure that is."""

    constant: str  # "Sync::UserJob"
    segments: tuple[str, ...]
    case_unknown: bool  # inflection config we cannot read: a segment's case may differ
    layout_unknown: bool  # roots or collapsed directories we cannot read

    def could_be(self, defined: str) -> bool:
        """Could `defined` be what Zeitwerk expects, given what is unknown?"""
        names = defined.split("::")
        expected = list(self.segments)

        def same(a: str, b: str) -> bool:
            return a.lower() == b.lower() if self.case_unknown else a == b

        if not self.layout_unknown:
            return len(names) == len(expected) and all(
                same(a, b) for a, b in zip(names, expected, strict=True)
            )
        # an unread root, collapse or `push_dir(namespace:)` can change every namespace
        return bool(names) and same(names[-1], expected[-1])


def _glob_match(path: str, pattern: str) -> bool:
    if path == pattern:
        return True
    if pattern.endswith("/**") and path == pattern[: -len("/**")]:
        return True  # `dir/**/` matches the directory itself too
    return any(c in pattern for c in "*?[") and fnmatch.fnmatchcase(path, pattern)


def camelize(term: str, acronyms: dict[str, str]) -> str:
    """ActiveSupport's `String#camelize` (upper first letter) with the app's acronyms."""

    def word(text: str) -> str:
        return acronyms.get(text) or text.capitalize()

    if re.fullmatch(r"[a-z\d]*", term):
        return word(term)
    text = re.sub(r"^[a-z\d]*", lambda m: word(m.group(0)), term, count=1)
    return re.sub(
        r"(?:_|(/))([a-z\d]*)",
        lambda m: ("::" if m.group(1) else "") + word(m.group(2)),
        text,
        flags=re.IGNORECASE,
    )


# -- reading the config ------------------------------------------------------------------------


def autoloading(app: App) -> Autoloading:
    """The app's autoloading facts, read once per run (kept by the cache between runs)."""
    return app.fact("zeitwerk", _read)


PLAIN_FACTS["zeitwerk"] = (autoloading, (Autoloading, ExtraRoot))


def _read(app: App) -> Autoloading:
    facts = Autoloading(zeitwerk=_zeitwerk_mode(app))
    if app.root is None or not facts.zeitwerk:
        return facts
    facts.components = _components(app)
    reader = _ConfigReader(facts)
    seen: set[str] = set()
    for source in _config_sources(app, facts.components):
        if source.relpath not in seen and source.contains_any(CONFIG_WORDS):
            seen.add(source.relpath)
            reader.read(source, _component_of(source.relpath, facts.components))
    return facts


def _zeitwerk_mode(app: App) -> bool:
    """Zeitwerk autoloads the app: Rails ≥ 7; Rails 6 with 6.x defaults (or `config.autoloader =
    :zeitwerk`) and without `config.autoloader = :classic`. Unknown → False."""
    if app.root is None:
        return False
    if not (app.root / "config" / "application.rb").is_file() and not (
        "rails" in app.gems or "railties" in app.gems
    ):
        return False  # not a Rails app or engine (ActiveJob alone autoloads nothing)
    texts = [t for t in (app.text(f) for f in _mode_files(app)) if t]
    settings = "\n".join(active_lines(t) for t in texts)
    if _CLASSIC.search(settings):
        return False
    rails = app.rails_version
    if rails is not None and rails < (6,):
        return False
    if rails is not None and rails >= (7,):
        return True
    if _ZEITWERK.search(settings):
        return True
    defaults: Version | None = app.load_defaults
    return defaults is not None and defaults >= (6, 0)


def _mode_files(app: App) -> list[str]:
    files = ["config/application.rb"]
    if app.root is not None and (app.root / "config" / "environments").is_dir():
        files += sorted(
            f"config/environments/{p.name}"
            for p in (app.root / "config" / "environments").glob("*.rb")
        )
    return files


def _components(app: App) -> tuple[str, ...]:
    """The app and the engines whose `app/` Rails autoloads."""
    assert app.root is not None
    found = [""]
    groups = list(ENGINE_DIRS) + (["packs"] if any(g in app.gems for g in PACK_GEMS) else [])
    for group in groups:
        parent = app.root / group
        if not parent.is_dir():
            continue
        for component in sorted(parent.iterdir()):
            if component.is_dir() and not component.is_symlink() and _is_engine(component, group):
                found.append(f"{group}/{component.name}/")
    return tuple(found)


def _is_engine(component: Path, group: str) -> bool:
    if group == "packs":
        return (component / "app").is_dir()
    lib = component / "lib"
    return lib.is_dir() and any(lib.glob("**/engine.rb"))


def _component_of(relpath: str, components: tuple[str, ...]) -> str:
    return max((c for c in components if relpath.startswith(c)), key=len, default="")


def _config_sources(app: App, components: tuple[str, ...]) -> list[SourceFile]:
    """Ruby files under each component's `config/`, engine files, and `lib/` files that
    mention the inflector (acronyms defined in a core extension)."""
    assert app.root is not None
    sources: list[SourceFile] = []
    for prefix in components:
        top = app.root / prefix / "config"
        if top.is_dir():
            for path in walk_files(top, app.root, lambda p: p.endswith(".rb")):
                source = app.source(path)
                if source is not None:
                    sources.append(source)
    # the model directories' files under a `lib/`, read one by one (not `app.model_files`: an
    # edit to a job would then mean reading the config again), then the files `include` added
    candidates = [Path(p) for p in app.model_paths() if "/lib/" in f"/{app.relpath(p)}"]
    candidates += [s.path for s in app.included() if "/lib/" in f"/{s.relpath}"]
    for path in candidates:
        source = app.source(path)
        if source is not None and (
            source.relpath.endswith("engine.rb") or source.contains_any((b"acronym", b"inflector"))
        ):
            sources.append(source)
    return sources


_APPEND_OPERATORS = {"binary": "<<", "operator_assignment": "+=", "assignment": None}
_STATEMENT_FIELDS = frozenset({"method", "right"})


def _statements(root: Node) -> tuple[list[tuple[Node, str]], list[tuple[Node, Node]]]:
    """The calls of a named method, `(call method: (identifier) @method) @call`, and the appends
    and assignments, `(binary left: (_) @list operator: "<<" right: (_) @value)`, `+=` and `=`,
    as `ruby.matches` finds them: a walk of a few small config files costs less than compiling
    those queries (see node_search)."""
    calls: list[tuple[Node, str]] = []
    appends: list[tuple[Node, Node]] = []
    for node, role, parent in ruby.children_in_fields(root, _STATEMENT_FIELDS):
        if role == "method":
            if node.type == "identifier" and parent.type == "call":
                calls.append((parent, ruby.text(node)))
        elif role == "right" and node.is_named and parent.type in _APPEND_OPERATORS:
            target = parent.child_by_field_name("left")
            operator = _APPEND_OPERATORS[parent.type]
            if target is not None and target.is_named and (
                operator is None or _child_type(parent, "operator") == operator
            ):
                appends.append((target, node))
    return calls, appends


def _child_type(node: Node, field: str) -> str | None:
    child = node.child_by_field_name(field)
    return child.type if child is not None else None


class _ConfigReader:
    """Reads one config file's autoloading statements into the facts."""

    def __init__(self, facts: Autoloading):
        self.facts = facts
        self.source: SourceFile | None = None
        self.component = ""

    def read(self, source: SourceFile, component: str) -> None:
        self.source, self.component = source, component
        calls, appends = _statements(source.root)
        for call, method in calls:
            self._call(call, method)
        for target, value in appends:
            self._append(target, value)

    # -- statements ----------------------------------------------------------------------------

    def _call(self, call: Node, method: str) -> None:
        receiver = ruby.call_receiver(call)
        receiver_text = ruby.text(receiver) if receiver is not None else ""
        args = ruby.call_arguments(call)
        if method == "acronym":
            self._acronym(call, args)
        elif method == "inflect" and receiver_text.endswith("inflector"):
            self._overrides(args)
        elif method in ("collapse", "ignore") and self._is_loader(receiver):
            if method == "collapse":
                self.facts.collapsed.extend(self._all_paths(args) or ())
            else:
                self._ignore(args)
        elif method == "push_dir" and self._is_loader(receiver):
            self._push_dir(args)
        elif method in ("autoload_lib", "autoload_lib_once") and receiver_text.endswith("config"):
            self._autoload_lib(args)
        elif _PATH_LISTS.search(receiver_text):
            if method in ("push", "unshift", "append", "prepend", "concat", "insert"):
                values = args[1:] if method == "insert" else args
                self._roots(values)
            elif method == "delete":
                for path in self._all_paths(args) or ():
                    self.facts.removed_roots.add(path)
            elif method not in _READ_ONLY_LIST_METHODS:
                self.facts.layout_known = False  # a list rebuilt some other way

    def _append(self, target: Node, value: Node) -> None:
        text = ruby.text(target)
        if _PATH_LISTS.search(text):
            self._roots([value])
        elif text.endswith(".inflector"):
            self.facts.inflection_known = False  # a custom inflector

    def _acronym(self, call: Node, args: list[Node]) -> None:
        locale = _inflections_locale(call)
        if locale is None or locale != "en":
            return  # not an inflector's acronym, or another locale's (camelize uses :en)
        if len(args) != 1:
            self.facts.inflection_known = False
            return
        value = ruby.string_value(args[0])
        if value is not None:
            self.facts.acronyms[value.lower()] = value
            return
        words = self._block_words(call, args[0])
        if words is None:
            self.facts.inflection_known = False
            return
        for word in words:
            self.facts.acronyms[word.lower()] = word

    def _block_words(self, call: Node, arg: Node) -> list[str] | None:
        """`%w[API JSON].each { |a| inflect.acronym a }`: the literal list a block variable
        iterates."""
        if arg.type != "identifier":
            return None
        name = ruby.text(arg)
        for block in ruby.ancestors(call):
            if block.type not in ruby.BLOCK_TYPES or name not in ruby.block_parameters(block):
                continue
            owner = block.parent
            receiver = ruby.call_receiver(owner) if owner is not None else None
            if receiver is None or ruby.call_method(owner) != "each":
                return None
            return _literal_strings(receiver)
        return None

    def _overrides(self, args: list[Node]) -> None:
        pairs = [a for a in args if a.type == "pair"]
        for arg in args:
            if arg.type == "hash":
                pairs.extend(c for c in arg.named_children if c.type == "pair")
            elif arg.type != "pair":
                self.facts.inflection_known = False
        for pair in pairs:
            key = pair.child_by_field_name("key")
            value = pair.child_by_field_name("value")
            key_text = ruby.string_value(key) if key is not None else None
            value_text = ruby.string_value(value) if value is not None else None
            if key is None or key.type == "hash_key_symbol":
                key_text = ruby.text(key) if key is not None else None
            if key_text is None or value_text is None:
                self.facts.inflection_known = False
            else:
                self.facts.overrides[key_text] = value_text

    def _is_loader(self, receiver: Node | None) -> bool:
        """`Rails.autoloaders.main`, `loader`, or the variable of `Rails.autoloaders.each`."""
        if receiver is None:
            return False
        text = ruby.text(receiver)
        if _LOADER.search(text):
            return True
        if receiver.type == "identifier":
            for block in ruby.ancestors(receiver):
                if block.type in ruby.BLOCK_TYPES and text in ruby.block_parameters(block):
                    owner = block.parent
                    return owner is not None and "autoloaders" in ruby.text(
                        ruby.call_receiver(owner)
                    )
        return False

    def _push_dir(self, args: list[Node]) -> None:
        positional = [a for a in args if a.type != "pair"]
        namespace = ""
        for arg in args:
            if arg.type == "pair" and ruby.pair_key(arg) == "namespace":
                value = arg.child_by_field_name("value")
                written = ruby.constant_path(value)
                if written is None:
                    self.facts.layout_known = False
                    return
                namespace = written
        paths = self._all_paths(positional[:1])
        for path in paths or ():
            self.facts.extra_roots.append(ExtraRoot(path, namespace))

    def _autoload_lib(self, args: list[Node]) -> None:
        lib = f"{self.component}lib"
        self.facts.extra_roots.append(ExtraRoot(lib))
        for arg in args:
            if arg.type == "pair" and ruby.pair_key(arg) == "ignore":
                value = arg.child_by_field_name("value")
                words = _literal_strings(value) if value is not None else None
                if words is None:
                    self.facts.layout_known = False
                else:
                    self.facts.ignored.extend(f"{lib}/{w}" for w in words)

    def _roots(self, values: list[Node]) -> None:
        paths = self._all_paths(values)
        for path in paths or ():
            self.facts.extra_roots.append(ExtraRoot(path))

    def _ignore(self, args: list[Node]) -> None:
        paths, readable = self._read_paths(args)
        self.facts.ignored.extend(paths)
        self.facts.ignore_known = self.facts.ignore_known and readable

    def _all_paths(self, values: list[Node]) -> list[str]:
        """The paths of several expressions; an unreadable one makes the layout unknown (the
        readable ones still count)."""
        paths, readable = self._read_paths(values)
        self.facts.layout_known = self.facts.layout_known and readable
        return paths

    def _read_paths(self, values: list[Node]) -> tuple[list[str], bool]:
        found: list[str] = []
        readable = True
        for value in values:
            if value.type in ("pair", "block_argument"):
                continue
            paths = self._paths(value, depth=0)
            if paths is None:
                readable = False
            else:
                found.extend(paths)
        return found, readable

    # -- path expressions ----------------------------------------------------------------------

    def _paths(self, node: Node, depth: int) -> list[str] | None:
        """Relative paths (globs kept) a path expression names, or None when not readable."""
        if depth > 8:
            return None
        kind = node.type
        if kind in ("array", "string_array"):
            results: list[str] = []
            for child in node.named_children:
                if child.type == "comment":
                    continue
                paths = self._paths(child, depth + 1)
                if paths is None:
                    return None
                results.extend(paths)
            return results
        if kind == "splat_argument" and node.named_children:
            return self._paths(node.named_children[0], depth + 1)
        if kind == "parenthesized_statements" and len(node.named_children) == 1:
            return self._paths(node.named_children[0], depth + 1)
        if kind == "element_reference":  # Dir["…"]
            target = node.child_by_field_name("object")
            inner = [c for c in node.named_children if c != target]
            if ruby.text(target) == "Dir" and len(inner) == 1:
                return self._paths(inner[0], depth + 1)
            return None
        if kind == "identifier" and (assigned := self._local_value(node)) is not None:
            return self._paths(assigned, depth + 1)
        texts = self._strings(node, depth)
        if texts is None:
            return None
        paths = [_relative(t, self._here()) for t in texts]
        return None if any(p is None for p in paths) else [p for p in paths if p is not None]

    def _strings(self, node: Node, depth: int) -> list[str] | None:
        """A path as strings (one per value a block variable takes) with `_ROOT`/`_HERE`
        markers; None when not readable."""
        if depth > 8:
            return None
        kind = node.type
        text = ruby.text(node)
        if text in _ROOT_EXPRESSIONS:
            return [_ROOT]
        if text in _COMPONENT_ROOTS or text.endswith("::Engine.root"):
            return [_ROOT + "/" + self.component]
        if text == "__dir__":
            return [_HERE]
        if kind in ("string", "bare_string"):
            pieces: list[list[str] | None] = []
            for child in node.named_children:
                if child.type in ("string_content", "escape_sequence"):
                    pieces.append([ruby.text(child)])
                elif child.type == "interpolation" and len(child.named_children) == 1:
                    pieces.append(self._strings(child.named_children[0], depth + 1))
                else:
                    return None
            return _product(pieces, "")
        if kind == "identifier":
            assigned = self._local_value(node)
            if assigned is not None:
                return self._strings(assigned, depth + 1)
            return self._block_words(node, node)
        if kind != "call":
            return None
        method = ruby.call_method(node)
        receiver = ruby.call_receiver(node)
        receiver_text = ruby.text(receiver)
        args = [a for a in ruby.call_arguments(node) if a.type != "block_argument"]
        if (
            method in ("to_s", "to_path", "realpath", "expand_path")
            and receiver is not None
            and not args
        ):
            return self._strings(receiver, depth + 1)
        if method == "join" and receiver is not None:
            parts = [self._strings(a, depth + 1) for a in args]
            if receiver_text != "File":
                parts.insert(0, self._strings(receiver, depth + 1))
            return _product(parts, "/")
        if method == "expand_path" and receiver_text == "File" and args:
            first = self._strings(args[0], depth + 1)
            if len(args) == 1 or first is None:
                return first
            base = self._strings(args[1], depth + 1)
            if base is None:
                return None
            return [f if f.startswith(_ROOT) else f"{b}/{f}" for f in first for b in base]
        if method == "glob" and receiver_text == "Dir" and len(args) == 1:
            return self._strings(args[0], depth + 1)
        return None

    def _local_value(self, name: Node) -> Node | None:
        return ruby.last_assignment(ruby.text(name), name)

    def _here(self) -> str:
        assert self.source is not None
        return self.source.relpath.rpartition("/")[0]


def _inflections_locale(call: Node) -> str | None:
    """For `inflect.acronym`, the locale of the `inflections` block or receiver it is called
    on ("en" by default); None when the receiver is not an inflector."""
    receiver = ruby.call_receiver(call)
    if receiver is None:
        return None
    owner: Node | None = receiver
    if receiver.type == "identifier":
        name = ruby.text(receiver)
        owner = None
        for block in ruby.ancestors(call):
            if block.type in ruby.BLOCK_TYPES and name in ruby.block_parameters(block):
                owner = block.parent
                break
    if owner is None or owner.type != "call" or ruby.call_method(owner) != "inflections":
        return None
    args = ruby.call_arguments(owner)
    if not args:
        return "en"
    return ruby.string_value(args[0]) or "?"


def _product(parts: list[list[str] | None], separator: str) -> list[str] | None:
    """Every combination of the alternatives of each part, joined; None if a part is None."""
    results = [""]
    for index, alternatives in enumerate(parts):
        if alternatives is None:
            return None
        glue = separator if index and separator else ""
        results = [r + glue + a for r in results for a in alternatives]
    return results


def _literal_strings(node: Node) -> list[str] | None:
    """`%w[a b]`, `["a", "b"]`, `"a"`: the strings; None when anything is computed."""
    if node.type in ("array", "string_array"):
        values = []
        for child in node.named_children:
            if child.type == "bare_string":
                parts = child.named_children
                if any(p.type != "string_content" for p in parts):
                    return None
                values.append(ruby.text(child))
            else:
                value = ruby.string_value(child)
                if value is None:
                    return None
                values.append(value)
        return values
    value = ruby.string_value(node)
    return None if value is None else [value]


def _relative(text: str, here: str) -> str | None:
    """A path relative to the Rails root (globs kept), from a marked string; None when it
    points outside the app or starts somewhere unknown."""
    if text.startswith(_ROOT):
        text = "." + text[len(_ROOT) :]
    elif text.startswith(_HERE):
        text = (here or ".") + text[len(_HERE) :]
    elif text.startswith("/") or "\0" in text:
        return None
    if "\0" in text:
        return None
    normal = posixpath.normpath(text)
    if normal == "." or normal.startswith(".."):
        return None if normal.startswith("..") else ""
    return normal.rstrip("/")
