from __future__ import annotations

import re
from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..rails import queues, yaml_config
from ..rails.app import App
from ..rails.yaml_config import YList, YMap, YStr, YValue
from ..ruby import Node
from ..source import SourceFile
from . import Examples, Rule, register

_GOOD_JOB_SETTINGS = ruby.compile_query(
    """
    (assignment
      left: (call receiver: (call method: (identifier) @owner (#eq? @owner "good_job"))
                  method: (identifier) @setting (#eq? @setting "queues"))
      right: (_) @value)
    (assignment
      left: (element_reference
              object: (call method: (identifier) @owner (#eq? @owner "good_job"))
              . (simple_symbol) @setting (#eq? @setting ":queues"))
      right: (_) @value)
    (assignment
      left: (call method: (identifier) @owner (#eq? @owner "good_job"))
      right: (hash) @options)
    """
)


@register
class InvalidQueueConfig(Rule):
    """
    ## What it does
    Reads the queue lists the job backends are configured with and reports values the backend
    reads differently from what was meant. Points at the value.

    - GoodJob `queues` (`config.good_job.queues = "…"`, `config.good_job[:queues]`,
      `config.good_job = { queues: … }`, and the default of an `ENV.fetch("GOOD_JOB_QUEUES", "…")`),
      read as GoodJob does: `;` separates pools, each pool is a `,` list of queue names with an
      optional `:threads` suffix, `*` means every queue, and a leading `-` (exclude these) or
      `+` (in this order) applies to the whole list. Reported: an empty pool (`a;;b`, `:5`), a
      thread count that is not a positive number (`mailers:high`) or a second `:`, a `-`/`+` in
      the middle of a list (`a,-b` names a queue called `-b`), a `prefix*` pattern (GoodJob has
      only `*`), a name with a space in it (`default mailers`), `*` in an exclusion list, and a
      Hash or Array literal where the string belongs (GoodJob splits a string; anything else
      fails when the worker starts).
    - Solid Queue `config/queue.yml` worker `queues:` that is neither a string nor a list of
      strings (a mapping, a nested list, an empty item), or a string with a comma in it (one
      queue literally named `a,b`: Solid Queue does not split strings, solid_queue#67) or a
      space.
    - Sidekiq `config/sidekiq.yml` `:queues:` entries (and capsules') that are neither a name
      nor `[name, weight]` with a whole-number weight: a mapping (`- default: 2`), an empty
      entry, a list of more than two items, a weight that is not a number.

    ## Why is this bad?
    None of these fail loudly. GoodJob silently creates a pool for a queue named `-b` or
    `mail*` that nothing enqueues to, a pool with zero threads, or a pool whose scheduler errors
    on every poll; Solid Queue polls a queue named `default,mailers`; Sidekiq turns
    `- default: 2` into a queue named after the whole hash. Meanwhile the queues that were meant
    are not processed and their jobs wait forever.

    A value computed by ERB or read from the environment is not judged (an `ENV.fetch` default
    written in the code is). Numbers as queue names and fractional Sidekiq weights work and are
    not reported.

    ## Example
    ```ruby
    config.good_job.queues = "critical:2;default,-low:3;mail*"
    ```

    ## Use instead
    ```ruby
    config.good_job.queues = "critical:2;-critical,low:3;mailers"
    ```
    """

    code = "JL608"
    name = "invalid-queue-config"
    severity = Severity.ERROR
    scope = "project"
    summary = "A worker queue list the backend reads differently from what was meant"
    message = "{backend} queues {value}: {problem}"
    help = "Write the queue list in the backend's syntax (see the rule's documentation)"
    triggers = ("queues",)

    @classmethod
    def applies_to(cls, source: SourceFile) -> bool:
        path = source.relpath
        return (
            path in queues.SIDEKIQ_FILES or path in queues.SOLID_QUEUE_FILES or _ruby_config(path)
        )

    examples = Examples(
        bad=[
            {
                "config/initializers/good_job.rb": """
                Rails.application.configure do
                  config.good_job.queues = "critical:2;default,-low:3;mail*" # expect: JL608
                  config.good_job[:queues] = ENV.fetch("GOOD_JOB_QUEUES", "default;;low:0") # expect: JL608
                end
                """,
                "config/environments/staging.rb": """
                Rails.application.configure do
                  config.good_job = {
                    execution_mode: :external,
                    queues: "default mailers", # expect: JL608
                  }
                end
                """,
                "config/environments/production.rb": """
                Rails.application.configure do
                  config.good_job.queues = { # expect: JL608
                    "default" => { max_threads: 4 },
                    "*" => { max_threads: 1 },
                  }
                end
                """,
            },
            {
                "config/queue.yml": """
                default: &default
                  workers:
                    - queues: "default,mailers" # expect: JL608
                      threads: 3
                    - queues:
                        - background
                        - low: 1 # expect: JL608
                production:
                  <<: *default
                """,
                "config/sidekiq.yml": """
                :queues:
                  - critical
                  - default: 2 # expect: JL608
                  - [low, high] # expect: JL608
                """,
            },
        ],
        good=[
            {
                "config/initializers/good_job.rb": """
                Rails.application.configure do
                  config.good_job.queues = "critical:2;-critical,low:3;+mailers,default:1;*"
                  config.good_job.max_threads = 5
                end
                """,
                "config/environments/production.rb": """
                Rails.application.configure do
                  config.good_job.queues = ENV["GOOD_JOB_QUEUES"]
                  config.good_job.queues = ENV.fetch("GOOD_JOB_QUEUES") { default_queues }
                end
                """,
            },
            {
                "config/queue.yml": """
                production:
                  workers:
                    - queues: "*"
                    - queues: [real_time, "background*"]
                      threads: 5
                    - queues: <%= ENV.fetch("QUEUES", "default,low") %>
                    - threads: 1
                """,
                "config/sidekiq.yml": """
                :queues:
                  - [critical, 4]
                  - ["default", "2"]
                  - low,1
                  - :mailers
                :capsules:
                  single:
                    :queues: [serial]
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        if source.relpath in queues.SIDEKIQ_FILES:
            found = _sidekiq(source)
        elif source.relpath in queues.SOLID_QUEUE_FILES:
            found = _solid_queue(source, app)
        else:
            found = _good_job(source)
        seen: set[tuple[int, int]] = set()
        for start, end, args in found:
            if (start, end) not in seen:
                seen.add((start, end))
                yield Hit(start, end, args, anchor=args["value"])


Found = Iterator[tuple[int, int, dict[str, str]]]


def _ruby_config(path: str) -> bool:
    if path == "config/application.rb":
        return True
    directory, _, name = path.rpartition("/")
    return directory in queues.RUBY_CONFIG_DIRS and name.endswith(".rb")


# -- GoodJob ---------------------------------------------------------------------------------


def _good_job(source: SourceFile) -> Found:
    if b"good_job" not in source.data:
        return
    for _, caps in ruby.matches(_GOOD_JOB_SETTINGS, source.root):
        values = caps.get("value", [])
        for options in caps.get("options", []):
            values += [
                p.child_by_field_name("value")
                for p in options.named_children
                if p.type == "pair" and ruby.pair_key(p) == "queues"
            ]
        for value in values:
            if value is not None and value.type in ("hash", "array", "symbol_array", "string_array"):
                what = "a Hash" if value.type == "hash" else "an Array"
                yield (
                    value.start_byte,
                    value.end_byte,
                    {
                        "backend": "GoodJob",
                        "value": "{ … }" if value.type == "hash" else "[ … ]",
                        "problem": f"{what}, not a queue string: GoodJob parses a string "
                        "(`\"a:5;b,c:2;*\"`) and fails on anything else",
                    },
                )
                continue
            literal = _written_queue_string(value) if value is not None else None
            if literal is None:
                continue
            problems = good_job_queue_problems(ruby.string_value(literal) or "")
            if problems:
                yield (
                    literal.start_byte,
                    literal.end_byte,
                    {
                        "backend": "GoodJob",
                        "value": ruby.text(literal),
                        "problem": "; ".join(problems),
                    },
                )


def _written_queue_string(value: Node) -> Node | None:
    """The string literal a `queues` setting is, or falls back to (`ENV.fetch("X", "…")`,
    `ENV["X"] || "…"`); None when the value is computed."""
    if ruby.string_value(value) is not None and value.type == "string":
        return value
    if (
        value.type == "call"
        and ruby.call_method(value) == "fetch"
        and _is_env(ruby.call_receiver(value))
    ):
        args = ruby.call_arguments(value)
        if len(args) == 2 and args[1].type == "string" and ruby.string_value(args[1]) is not None:
            return args[1]
    if value.type == "binary" and ruby.text(value.child_by_field_name("operator")) == "||":
        left, right = value.child_by_field_name("left"), value.child_by_field_name("right")
        if left is not None and right is not None and "ENV" in ruby.text(left):
            return _written_queue_string(right)
    return None


def _is_env(node: Node | None) -> bool:
    return node is not None and ruby.constant_path(node) == "ENV"


def _ruby_split(text: str, separator: str) -> list[str]:
    """Ruby's `String#split(sep)`: trailing empty fields are dropped."""
    parts = text.split(separator)
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def good_job_queue_problems(text: str) -> list[str]:
    """What GoodJob reads differently from what a `queues` string seems to say
    (GoodJob::MultiScheduler.from_configuration and GoodJob::Job.queue_parser)."""
    if not text.strip():
        return []  # blank: GoodJob falls back to `*`
    problems: list[str] = []
    for pool in (p.strip() for p in _ruby_split(text, ";")):
        parts = [p.strip() for p in _ruby_split(pool, ":")]
        if not parts or not parts[0]:
            problems.append(
                f"the pool `{pool}` has no queues, so its scheduler fails on every poll"
                if pool
                else "an empty pool (`;;`) fails on every poll"
            )
            continue
        if len(parts) > 1 and parts[1] and _leading_integer(parts[1]) <= 0:
            read_as = (
                ""
                if parts[1].isdigit()
                else f", which GoodJob reads as {_leading_integer(parts[1])}"
            )
            problems.append(
                f"`{pool}` gives the pool `{parts[1]}` threads{read_as}: it runs nothing"
            )
        elif len(parts) > 2:
            problems.append(
                f"`{pool}` has more than one `:`; GoodJob ignores what follows the thread count"
            )
        problems.extend(_queue_list_problems(parts[0]))
    return problems


def _leading_integer(text: str) -> int:
    """Ruby's `String#to_i`."""
    match = re.match(r"[+-]?\d{1,18}", text.replace("_", ""))  # no 4,300-digit int() error
    return int(match.group(0)) if match else 0


def _queue_list_problems(spec: str) -> Iterator[str]:
    excluded = spec.startswith("-")
    names = [n.strip() for n in _ruby_split(spec[1:] if spec[:1] in "-+" else spec, ",")]
    for name in names:
        if name[:1] in ("-", "+"):
            yield (
                f"`{name}` names a queue called `{name}`: a `{name[0]}` applies only at the "
                f"start of a pool's list (use a separate pool)"
            )
        elif "*" in name and name != "*":
            yield f"`{name}` names one queue literally: GoodJob has no `prefix*` patterns, only `*`"
        elif re.search(r"\s", name):
            yield f"`{name}` is one queue name with a space in it: separate queue names with `,`"
    if excluded and "*" in names:
        yield f"`{spec}` excludes nothing: a `*` in the list makes the pool take every queue"


# -- Solid Queue -----------------------------------------------------------------------------


def _solid_queue(source: SourceFile, app: App) -> Found:
    document = yaml_config.document(source)
    splits_commas = queues.solid_queue_splits_commas(app)
    for section in yaml_config.sections(document):
        workers = yaml_config.get(section, "workers")
        if not isinstance(workers, list):
            continue
        for worker in workers:
            if not isinstance(worker, dict) or "queues" not in worker:
                continue
            value = worker["queues"]
            key = _key(worker, "queues")
            if isinstance(value, YStr):
                yield from _solid_queue_name(value, splits_commas)
            elif isinstance(value, YList):
                for item in value:
                    if isinstance(item, YStr):
                        yield from _solid_queue_name(item, splits_commas)
                    elif isinstance(item, (YMap, YList)) or item is None:
                        yield _at(
                            source,
                            item,
                            key,
                            "Solid Queue",
                            _shape(item),
                            "a queue list item must be a queue name",
                        )
            elif isinstance(value, (YMap, bool)):  # an empty `queues:` means every queue
                yield _at(
                    source,
                    value,
                    key,
                    "Solid Queue",
                    _shape(value, "value"),
                    "`queues:` must be a queue name or a list of names",
                )


def _solid_queue_name(name: YStr, splits_commas: bool) -> Found:
    if name.has_erb:
        return
    if "," in name and not splits_commas:
        yield (
            name.start_byte,
            name.end_byte,
            {
                "backend": "Solid Queue",
                "value": f"`{name}`",
                "problem": "Solid Queue does not split a string on commas: this is one queue literally "
                "named so; write a list (`[a, b]`)",
            },
        )
    elif re.search(r"\s", name.strip()):
        yield (
            name.start_byte,
            name.end_byte,
            {
                "backend": "Solid Queue",
                "value": f"`{name}`",
                "problem": "one queue name with a space in it: write a list (`[a, b]`)",
            },
        )


# -- Sidekiq ---------------------------------------------------------------------------------


def _sidekiq(source: SourceFile) -> Found:
    document = yaml_config.document(source)
    if not isinstance(document, dict):
        return
    for section in queues.sidekiq_sections(document):
        listed = yaml_config.get(section, ":queues", "queues")
        if not isinstance(listed, YList):
            continue
        key = _key(section, ":queues", "queues")
        for item in listed:
            problem = _sidekiq_entry_problem(item)
            if problem is not None:
                yield _at(source, item, key, "Sidekiq", _shape(item), problem)


def _sidekiq_entry_problem(item: YValue) -> str | None:
    """Sidekiq reads an entry as `name, weight = entry` (a string is split on `,`)."""
    if isinstance(item, YStr) or isinstance(item, (int, float)) and not isinstance(item, bool):
        return None
    if isinstance(item, YMap):
        return (
            "a mapping is not `[name, weight]`: Sidekiq takes the whole hash as the queue "
            "name; write `[name, weight]`"
        )
    if item is None or isinstance(item, bool):
        return "an entry must be a queue name or `[name, weight]`"
    if isinstance(item, YList):
        if not item or not isinstance(item[0], YStr):
            return "the first item of `[name, weight]` must be a queue name"
        if len(item) > 2:
            return "Sidekiq reads only `[name, weight]` and ignores the rest"
        if len(item) == 2 and not _weight(item[1]):
            return "the weight must be a whole number"
    return None


def _weight(value: YValue) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    return isinstance(value, YStr) and (
        value.has_erb or re.fullmatch(r"\s*\d+\s*", value) is not None
    )


# -- positions -------------------------------------------------------------------------------


def _key(mapping: dict, *names: str) -> YStr | None:  # type: ignore[type-arg]
    return next((k for k in mapping if isinstance(k, YStr) and k in names), None)


def _at(
    source: SourceFile, value: YValue, key: YStr | None, backend: str, shown: str, problem: str
) -> tuple[int, int, dict[str, str]]:
    """A span for a YAML value: a string's own, the first line of a list or mapping, else
    the key it belongs to."""
    if isinstance(value, YStr):
        start, end = value.start_byte, value.end_byte
    elif isinstance(value, (YList, YMap)) and value.start_byte:
        start = value.start_byte
        end = source.data.find(b"\n", start)
        end = len(source.data) if end == -1 else end
    elif key is not None:
        start, end = key.start_byte, key.end_byte
    else:
        start = end = 0
    return start, end, {"backend": backend, "value": shown, "problem": problem}


def _shape(value: YValue, what: str = "entry") -> str:
    if isinstance(value, YMap):
        return f"{what} `" + ", ".join(f"{k}: {_scalar(v)}" for k, v in value.items()) + "`"
    if isinstance(value, YList):
        return f"{what} `[" + ", ".join(_scalar(v) for v in value) + "]`"
    if value is None:
        return f"{what} (empty)"
    return f"{what} `{_scalar(value)}`"


def _scalar(value: YValue) -> str:
    """A YAML value as it is written."""
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "~"
    return str(value)
