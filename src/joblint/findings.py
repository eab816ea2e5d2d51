"""What rules produce (Hit) and what reporters consume (Finding). Reporters never see a tree."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from . import ruby
from .patterns import lazy_pattern
from .ruby import Node

try:  # the interpreter's own SHA-256: hashlib would load OpenSSL for it
    from _sha2 import sha256  # Python 3.12+
except ImportError:
    try:
        from _sha256 import sha256  # type: ignore[no-redef]  # Python 3.10, 3.11
    except ImportError:  # pragma: no cover - a build without them
        from hashlib import sha256  # type: ignore[assignment]


class Severity(enum.IntEnum):
    INFO = 1
    WARNING = 2
    ERROR = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str) -> Severity:
        return cls[value.upper()]


@dataclass(frozen=True)
class Edit:
    """Replace the bytes `start_byte:end_byte` of a file with `replacement` (a safe fix)."""

    start_byte: int
    end_byte: int
    replacement: bytes

    @classmethod
    def replace(cls, node: Node, replacement: str) -> Edit:
        return cls(node.start_byte, node.end_byte, replacement.encode("utf-8"))


@dataclass(frozen=True)
class Hit:
    """A rule's verdict on one span of a file: where, the message arguments, and context."""

    start_byte: int
    end_byte: int
    args: dict[str, str] = field(default_factory=dict)
    severity: Severity | None = None  # overrides the rule's default for this hit
    scope: str = ""  # enclosing `Class#method`, for the line-independent fingerprint
    anchor: str = ""  # normalised source text of the node, likewise
    edits: tuple[Edit, ...] = ()  # a safe fix: applying every edit cannot change behaviour

    @classmethod
    def at(
        cls,
        node: Node,
        severity: Severity | None = None,
        edits: tuple[Edit, ...] = (),
        **args: str,
    ) -> Hit:
        return cls(
            node.start_byte,
            node.end_byte,
            args,
            severity,
            scope=enclosing_scope(node),
            anchor=normalise(ruby.text(node)),
            edits=edits,
        )


def enclosing_scope(node: Node) -> str:
    """`Admin::ReportJob#perform` for a node inside that method; `Admin::ReportJob` at class level."""
    classes = []
    method = ""
    for current in ruby.ancestors(node):
        if current.type in ("method", "singleton_method") and not method:
            method = ruby.method_name(current)
            if current.type == "singleton_method":
                method = "." + method
        elif current.type in ("class", "module"):
            name = ruby.constant_path(current.child_by_field_name("name"))
            if name:
                classes.append(name)
    scope = "::".join(reversed(classes))
    if method:
        scope += method if method.startswith(".") else f"#{method}"
    return scope


_SPACE = lazy_pattern(r"\s+")


def normalise(source_text: str) -> str:
    return _SPACE.sub(" ", source_text).strip()


@dataclass(frozen=True)
class Finding:
    code: str
    name: str
    severity: Severity
    path: str  # relative to the current directory, forward slashes
    line: int
    column: int  # 1-based, characters
    end_line: int
    end_column: int
    message: str
    help: str
    fingerprint: str
    line_text: str  # the source line the finding starts on (a window of it), for code frames
    utf16_column: int = 0  # 1-based, UTF-16 code units (SARIF)
    utf16_end_column: int = 0
    fixable: bool = False
    frame_start: int = 0  # where `line_text` starts in the line, when the line was too long

    @property
    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.path, self.line, self.column, self.code)


IN_SOURCE = "inSource"  # hidden by a `# joblint:disable` comment (SARIF suppression kind)
EXTERNAL = "external"  # hidden by the baseline, a file outside the code


@dataclass(frozen=True)
class Suppressed:
    """A finding hidden from the report and what hid it: SARIF lists it as a suppressed result
    (code scanning shows it dismissed); every other format leaves it out."""

    finding: Finding
    kind: str  # IN_SOURCE or EXTERNAL
    justification: str = ""  # the comment's ` -- reason`, if any


def fingerprint(code: str, relpath: str, scope: str, anchor: str, occurrence: int) -> str:
    """Line-independent identity: rule, file, enclosing class/method, node text, occurrence."""
    raw = "\0".join((code, relpath, scope, anchor, str(occurrence)))
    return sha256(raw.encode("utf-8", "surrogateescape")).hexdigest()  # odd file names


_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)]}
_CONTROL.update({0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"})
_CONTROL.update({c: f"\\u{c:04x}" for c in (0x2028, 0x2029, 0x200E, 0x200F, *range(0x202A, 0x202F),
                                               *range(0x2066, 0x206A))})


def printable(text: str) -> str:
    """Text from the analysed code or file names (attacker-controlled on a pull request) made safe
    for a terminal or a CI log: control characters — newlines that would start a `::error::`
    workflow command, ESC/OSC sequences, bidi overrides — are shown as escapes (`\\n`, `\\x1b`)."""
    return text.translate(_CONTROL)
