"""What a call passes, and whether a method signature accepts it (Ruby 3 rules).

Shared by the arity rules for jobs (JL106) and mailer actions (JL405).
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import ruby
from ..ruby import Node
from .classes import MethodDef, Signature

_UNKNOWN_SHAPE = frozenset({"splat_argument", "hash_splat_argument", "forward_argument"})


@dataclass(frozen=True)
class CallShape:
    """What a call passes: positional arguments and keyword-style `key: value` pairs."""

    positional: int
    keywords: dict[str, Node]


def call_shape(arguments: list[Node]) -> CallShape | None:
    """The shape of a call's arguments; None when it cannot be counted (splats, `...`,
    non-symbol keys)."""
    positional = 0
    keywords: dict[str, Node] = {}
    for arg in arguments:
        if arg.type in _UNKNOWN_SHAPE:
            return None
        if arg.type == "block_argument":
            continue
        if arg.type == "pair":
            key = arg.child_by_field_name("key")
            if key is None or key.type != "hash_key_symbol":
                return None
            keywords[ruby.text(key)] = arg
        else:
            positional += 1
    return CallShape(positional, keywords)


def arity_problem(
    signature: Signature, shape: CallShape, keywords_as_hash: bool = False
) -> tuple[str, Node | None] | None:
    """Why a call of this shape raises ArgumentError under Ruby 3 (and the offending keyword
    argument, if one is at fault), or None when it fits. Keyword-style arguments to a method
    without keyword parameters — or through Sidekiq's JSON — arrive as one positional hash."""
    positional = shape.positional
    keywords = shape.keywords
    if not keywords_as_hash and not signature.has_keywords:
        named = [name for name in keywords if name in signature.positional_names]
        if named:  # `perform_later(event_id: 1)` for `def perform(event_id)`: legal, but wrong
            first = signature.positional_names[0]
            return (
                f"keyword `{named[0]}:` names a positional parameter: `{first}` receives the "
                "whole hash",
                keywords[named[0]],
            )
        names = signature.positional_names
        slot = shape.positional  # where the hash lands
        if keywords and slot < len(names) and _names_an_id(names[slot]):
            first = next(iter(keywords))  # `perform_later(intake: x)` for `def perform(intake_id)`
            why = f"keyword-style arguments arrive as one hash in `{names[slot]}`, which takes an id"
            return why, keywords[first]
    if keywords_as_hash or not signature.has_keywords:
        positional += 1 if keywords else 0
        keywords = {}
    else:
        if not signature.double_splat:
            known = signature.required_keywords | signature.optional_keywords
            for name, pair in keywords.items():
                if name not in known:
                    return f"unknown keyword `{name}:`", pair
        missing = sorted(signature.required_keywords - set(keywords))
        if missing:
            return "missing keyword " + ", ".join(f"`{m}:`" for m in missing), None
    low = signature.required
    high = None if signature.splat else signature.required + signature.optional
    if positional < low or (high is not None and positional > high):
        if high is None:
            expected = f"at least {low}"
        elif high == low:
            expected = str(low)
        else:
            expected = f"{low} to {high}"
        plural = "" if positional == 1 else "s"
        return f"{positional} argument{plural} given, {expected} expected", None
    return None


def _names_an_id(parameter: str) -> bool:
    return parameter in ("id", "ids") or parameter.endswith(("_id", "_ids"))


def parameter_text(method: MethodDef) -> str:
    """The parameter list as written (`a, b = 1, *rest`), on one line, without parentheses."""
    text = method.source.data[method.start_byte : method.end_byte].decode("utf-8", "replace")
    header = text.split("\n", 1)[0]
    if "(" not in header:
        return ""  # `def perform` without parameters (or `def perform a, b`: rare)
    depth = 0
    start = text.index("(")
    for index in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[index], 0)
        if depth == 0:
            return " ".join(text[start + 1 : index].split())
    return ""
