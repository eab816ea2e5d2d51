from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..rails import schedules, yaml_config
from ..rails.app import App
from ..ruby import Node
from ..source import SourceFile
from . import Examples, Rule, register

# Ruby nodes whose evaluation has no effect (and calls no method)
_LITERALS = frozenset(
    {
        "integer", "float", "rational", "imaginary", "nil", "true", "false", "simple_symbol",
        "string_array", "symbol_array", "self", "instance_variable", "global_variable", "character",
    }
)
_EMPTY = "is empty: Solid Queue rejects the task and refuses to start"
_CONSTANTS = frozenset({"constant", "scope_resolution"})
_CONTAINERS = frozenset({"array", "hash", "pair", "parenthesized_statements", "range"})
_INTERPOLATED = frozenset({"string", "delimited_symbol", "regex"})


@register
class NoOpRecurringCommand(Rule):
    """
    ## What it does
    Finds a Solid Queue recurring task in `config/recurring.yml` whose `command:` is Ruby that
    does nothing when it is evaluated: a bare constant (`command: CleanupJob`), a literal
    (a number, a quoted string or symbol, `nil`, `true`, `false`) or only such values. Also
    finds a `command:` that is empty, or a YAML number or boolean rather than a string of Ruby
    code, in a task without `class:`. Points at the command.

    ## Why is this bad?
    Solid Queue runs a `command:` task as `SolidQueue::RecurringJob`, which `eval`s the string.
    Evaluating a constant or a literal succeeds and does nothing: the task is enqueued and
    performed on schedule, every run reports success, and the work it was meant to do never
    happens. The usual slip is naming the job (`command: CleanupJob`) where `class:` was meant,
    or quoting the code twice (`command: "'Cleanup.run'"`). An empty command is worse: Solid
    Queue rejects the task (“either command or class must be present”) and refuses to start. A
    YAML boolean is stored as `t`/`f`, which fails with `NameError` at every run.

    A command that calls any method — `Cleanup.run`, `cleanup!`, `1.day.ago` — is not judged.
    A value computed by ERB, and an unquoted `:symbol` (which YAML turns into a method name), is
    not judged either; nor is `command:` in a task that also has `class:` (the class runs).

    ## Example
    ```yaml
    production:
      fetch_blocklist:
        command: FetchBlocklistJob
        schedule: every day at 3am
    ```

    ## Use instead
    ```yaml
    production:
      fetch_blocklist:
        class: FetchBlocklistJob
        schedule: every day at 3am
    ```
    """

    code = "JL609"
    name = "no-op-recurring-command"
    severity = Severity.ERROR
    scope = "project"
    summary = "A recurring `command:` that evaluates to a value and does nothing"
    message = "Recurring task `{entry}`: `command:` {problem}"
    help = "Call a method in the command (`CleanupJob.perform_later`, `Session.sweep`) or use `class:` for a job"
    triggers = ("command",)

    @classmethod
    def applies_to(cls, source: SourceFile) -> bool:
        return source.relpath in schedules.RECURRING_FILES

    examples = Examples(
        bad=[
            {
                "config/recurring.yml": """
                production:
                  fetch_blocklist:
                    command: FetchBlocklistJob # expect: JL609
                    schedule: every day at 3am
                  sweep:
                    command: "'Session.sweep'" # expect: JL609
                    schedule: every hour
                  rollup:
                    command: Stats::Rollup # expect: JL609
                    schedule: every day at 4am
                """,
                "app/jobs/fetch_blocklist_job.rb": """
                class FetchBlocklistJob < ApplicationJob
                  retry_on Timeout::Error
                  def perform; end
                end
                """,
            },
            {
                "config/recurring.yml": """
                default: &default
                  heartbeat:
                    command: 42 # expect: JL609
                    schedule: every minute
                  noop:
                    command: "nil" # expect: JL609
                    schedule: every 5 minutes
                  blank:
                    command: "" # expect: JL609
                    schedule: every hour
                development:
                  <<: *default
                production:
                  <<: *default
                """,
            },
        ],
        good=[
            {
                "config/recurring.yml": """
                production:
                  sweep:
                    command: Session.sweep
                    schedule: every hour
                  clear_jobs:
                    command: "SolidQueue::Job.clear_finished_in_batches(sleep_between_batches: 0.3)"
                    schedule: every day at 3am
                  fetch_blocklist:
                    command: FetchBlocklistJob.perform_later
                    schedule: every day at 4am
                  cleanup:
                    command: cleanup_stale_sessions
                    schedule: every day at 5am
                  digest:
                    class: DigestJob
                    command: DigestJob
                    schedule: every day at 6am
                  tidy:
                    command: <%= ENV.fetch("TIDY_COMMAND", "Tidy.run") %>
                    schedule: every day at 7am
                """,
                "app/jobs/digest_job.rb": """
                class DigestJob < ApplicationJob
                  retry_on Timeout::Error
                  def perform; end
                end
                """,
            },
            {
                "config/recurring.yml": """
                production:
                  report:
                    command: "Report.deliver(\\"#{Date.today}\\")"
                    schedule: every monday at 9am
                  ping:
                    command: |
                      # keep the connection warm
                      Heartbeat.ping
                    schedule: every minute
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        for entry in schedules.entries_in(app, source):
            if (
                entry.backend != "solid_queue"
                or not entry.is_mapping
                or entry.class_name is not None
            ):
                continue
            task = _task(source, entry)
            if task is None or yaml_config.get(task, "class") is not None:
                continue
            command = yaml_config.get(task, "command")
            key = next(
                (k for k in task if k == "command" and isinstance(k, yaml_config.YStr)), None
            )
            problem = None
            if isinstance(command, yaml_config.YStr):
                if command.has_erb or _plain_symbol(source, command):
                    continue
                problem = _no_op(str(command))
                start, end = command.start_byte, command.end_byte
            elif key is not None and "command" in task and not isinstance(command, (dict, list)):
                if command is None:
                    problem = _EMPTY
                elif isinstance(command, bool):
                    problem = (
                        "is a boolean, not Ruby code: Solid Queue stores it as "
                        f"`{'t' if command else 'f'}` and the command fails with NameError"
                    )
                else:
                    problem = "is a number, not Ruby code: evaluating it does nothing"
                start, end = key.start_byte, key.end_byte
            if problem is not None:
                yield Hit(
                    start,
                    end,
                    {"entry": entry.key.text, "problem": problem},
                    scope=entry.label,
                    anchor=f"command:{command}",
                )


def _task(source: SourceFile, entry: schedules.ScheduleEntry) -> yaml_config.YMap | None:
    """The YAML mapping of a schedule entry, found again by the position of its key."""
    document = yaml_config.document(source)
    pending = [document]
    for _ in range(4):  # environments, an unknown environment name, tasks
        found: list[yaml_config.YValue] = []
        for mapping in pending:
            if not isinstance(mapping, dict):
                continue
            for key, value in mapping.items():
                if isinstance(key, yaml_config.YStr) and key.start_byte == entry.key.start_byte:
                    return value if isinstance(value, yaml_config.YMap) else None
                found.append(value)
        pending = found
    return None


def _plain_symbol(source: SourceFile, value: yaml_config.YStr) -> bool:
    """An unquoted `:name`: Ruby's YAML loads a Symbol, which Solid Queue stores as `name`."""
    return source.data[value.start_byte : value.start_byte + 1] == b":"


def _no_op(command: str) -> str | None:
    """Why evaluating the command does nothing, or None when it may do something."""
    if not command.strip():
        return _EMPTY
    tree = ruby.parse(command.encode("utf-8"))
    if tree.root_node.has_error:
        return None
    statements = [
        n for n in tree.root_node.named_children if n.type not in ("comment", "empty_statement")
    ]
    if not statements or not all(_inert(n) for n in statements):
        return None
    shown = command.strip() if len(command.strip()) <= 60 else command.strip()[:57] + "..."
    if len(statements) == 1 and statements[0].type in _CONSTANTS:
        return (
            f"`{shown}` is a bare constant: evaluating it does nothing (call a method on it, "
            "or use `class:` for a job)"
        )
    return f"`{shown}` is only a literal value: evaluating it does nothing"


def _inert(node: Node) -> bool:
    """Does evaluating the node have no effect? Literals, constants and collections of them."""
    kind = node.type
    if kind in _LITERALS:
        return True
    if kind in _CONSTANTS:
        return ruby.constant_path(node) is not None
    if kind in _INTERPOLATED:
        return all(c.type in ("string_content", "escape_sequence") for c in node.named_children)
    if kind in _CONTAINERS:
        return all(_inert(c) for c in node.named_children if c.type != "comment")
    return kind == "hash_key_symbol"
