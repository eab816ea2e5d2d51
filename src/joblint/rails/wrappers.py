"""Project methods that enqueue on behalf of their callers.

Apps wrap the enqueue call: `def self.perform_async_in_queue(queue, *args) =
set(queue: queue).perform_async(*args)` in a worker base class. A call of the wrapper is an
enqueue whose job arguments are the caller's arguments after the ones the wrapper keeps
(`queue` here), so the argument rules read `Worker.perform_async_in_queue("low", a, b)` as
`perform_async(a, b)`.

Only class methods (`def self.x`) of project classes are wrappers, and only when they hand a
splat parameter on unchanged as the job's arguments — to `perform_async`/`perform_later`…, or
as the `"args"` of a Sidekiq `client_push`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import ruby
from ..patterns import lazy_pattern
from ..ruby import Node
from ..source import SourceFile
from .classes import qualified_name
from .file_facts import file_fact
from .jobs import ENQUEUE_METHODS, SCHEDULED_ENQUEUE

if TYPE_CHECKING:
    from .app import App

@dataclass(frozen=True)
class Wrapper:
    name: str
    owner: str  # the class defining it
    enqueue: str  # the call it makes: perform_async, perform_later…
    kept: int  # leading arguments the wrapper keeps for itself


def enqueue_wrappers(app: App) -> dict[str, Wrapper]:
    """Wrappers by method name; a name defined differently by two classes is left out."""
    return app.fact("enqueue_wrappers", _build)


def _build(app: App) -> dict[str, Wrapper]:
    found: dict[str, Wrapper | None] = {}
    for part in app.file_facts("enqueue_wrappers", app.model_files, _file_wrappers):
        for fields in part:
            wrapper = Wrapper(*fields)
            known = found.get(wrapper.name, wrapper)
            same = known is not None and (known.enqueue, known.kept) == (
                wrapper.enqueue,
                wrapper.kept,
            )
            found[wrapper.name] = wrapper if same else None
    return {name: w for name, w in sorted(found.items()) if w is not None}


@file_fact("enqueue_wrappers")
def _file_wrappers(source: SourceFile) -> list[tuple[str, str, str, int]]:
    """The wrappers one file defines, as plain fields, in the order they appear."""
    if not source.contains_any((b"perform_async", b"perform_later", b"perform_in", b"perform_at")):
        return []
    if not SINGLETON_DEF.search(source.data):
        return []  # no `def self.x` (nor `def obj.x`): nothing to parse the file for
    found = []
    for method in ruby.keyword_nodes(source.root, source.data, {"def": "singleton_method"}):
        wrapper = _wrapper(method)
        if wrapper is not None and wrapper.name not in ENQUEUE_METHODS:
            found.append((wrapper.name, wrapper.owner, wrapper.enqueue, wrapper.kept))
    return found


# where a `def` may define a singleton method: `def` then `(`, or a name then `.` or `::`, with
# spaces, line breaks or a line continuation between them (`def self .x`, `def @o.x`). A file
# without one holds no `singleton_method` to parse it for (not every file with one holds one).
SINGLETON_DEF = lazy_pattern(rb"\bdef\b[\s\\]*(?:\(|[^\s.(;:]+[\s\\]*(?:\.|::))")


def _wrapper(method: Node) -> Wrapper | None:
    scope = ruby.enclosing(method, {"class"})
    params = method.child_by_field_name("parameters")
    if scope is None or params is None:
        return None
    kept = 0
    splat = None
    for param in params.named_children:
        if param.type == "identifier" and splat is None:
            kept += 1
        elif param.type == "splat_parameter" and splat is None:
            name = param.child_by_field_name("name")
            splat = ruby.text(name) if name is not None else None
        else:
            return None  # optional, keyword or block parameters: not a plain forwarder
    if splat is None:
        return None
    for call in ruby.descendants(method, {"call"}):
        if ruby.call_method(call) in PUSHES and _pushes_args(call, splat):
            owner = qualified_name(scope)  # `client_push("class" => self, "args" => args)`
            return (
                None
                if owner is None
                else Wrapper(ruby.method_name(method), owner, "perform_async", kept)
            )
        enqueue = ruby.call_method(call)
        if enqueue not in ENQUEUE_METHODS or not _on_self(call):
            continue
        arguments = [a for a in ruby.call_arguments(call) if a.type != "block_argument"]
        if enqueue in SCHEDULED_ENQUEUE:
            arguments = arguments[1:]
        if (
            len(arguments) == 1
            and arguments[0].type == "splat_argument"
            and ruby.text(arguments[0]) == f"*{splat}"
        ):
            owner = qualified_name(scope)
            if owner is None:
                return None
            return Wrapper(ruby.method_name(method), owner, enqueue, kept)
    return None


PUSHES = frozenset({"client_push", "push"})  # Sidekiq's `client_push` / `Sidekiq::Client.push`


def _pushes_args(call: Node, splat: str) -> bool:
    """A Sidekiq push whose item hash takes the splat as its `"args"`."""
    for argument in ruby.call_arguments(call):
        pairs = argument.named_children if argument.type == "hash" else [argument]
        for pair in pairs:
            if pair.type != "pair" or ruby.pair_key(pair) != "args":
                continue
            value = pair.child_by_field_name("value")
            if value is not None and ruby.text(value) == splat:
                return True
    return False


def _on_self(call: Node) -> bool:
    """`perform_async(…)`, `self.perform_async(…)` or `set(…).perform_async(…)` on the class."""
    receiver = ruby.call_receiver(call)
    while receiver is not None and receiver.type == "call" and ruby.call_method(receiver) == "set":
        receiver = ruby.call_receiver(receiver)
    return receiver is None or receiver.type == "self"


def wrapped_enqueues(source: SourceFile, app: App) -> Iterator[tuple[Node, Wrapper, list[Node]]]:
    """Calls of enqueue wrappers in a file, with the wrapper and the job's arguments."""
    wrappers = enqueue_wrappers(app)
    if not wrappers or not source.contains_any(tuple(n.encode() for n in wrappers)):
        return
    for call in ruby.descendants(source.root, {"call"}):
        wrapper = wrappers.get(ruby.call_method(call))
        if wrapper is None or ruby.call_receiver(call) is None:
            continue
        arguments = [a for a in ruby.call_arguments(call) if a.type != "block_argument"]
        if any(
            a.type in ("splat_argument", "hash_splat_argument") for a in arguments[: wrapper.kept]
        ):
            continue
        yield call, wrapper, arguments[wrapper.kept :]
