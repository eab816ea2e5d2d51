from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..rails import native_jobs
from ..rails.app import App
from ..rails.jobs import JobKind, job_arguments
from ..rails.named_calls import calls_named
from ..rails.wrappers import wrapped_enqueues
from ..ruby import Node
from ..source import SourceFile
from . import Examples, Rule, register
from ._arguments import (
    SIDEKIQ_SINGLE_ENQUEUE,
    assigned_value,
    is_sidekiq_call,
    symbol_key,
)

_CALLS = frozenset(SIDEKIQ_SINGLE_ENQUEUE)

TIME_CLASSES = frozenset({"Time", "Date", "DateTime", "ActiveSupport::TimeWithZone"})
DURATION_UNITS = frozenset(
    {
        "second", "seconds", "minute", "minutes", "hour", "hours", "day", "days", "week", "weeks",
        "fortnight", "fortnights", "month", "months", "year", "years",
    }
)
# duration → time: `1.day.ago`, `2.hours.from_now`
DURATION_TO_TIME = frozenset({"ago", "from_now", "since", "after", "before", "until"})
# Methods that turn a time, duration or decimal into a string or a number: JSON-safe.
CONVERSIONS = frozenset(
    {
        "to_i", "to_f", "to_s", "to_r", "iso8601", "xmlschema", "strftime", "to_json", "to_fs",
        "to_formatted_s", "httpdate", "rfc2822", "rfc3339", "inspect", "year", "month", "day",
        "hour", "min", "sec", "wday", "yday", "usec", "nsec", "to_param", "in_milliseconds",
        "in_seconds", "cweek", "utc_offset", "zone", "name", "present?", "blank?", "nil?",
        "between?", "past?", "future?", "today?", "size", "count", "length", "sum", "max",
    }
)


@register
class NonJsonArgument(Rule):
    """
    ## What it does
    Finds arguments of Sidekiq's `perform_async`, `perform_in` and `perform_at` that are not
    native JSON types: symbols (`:full`, `%i[a b]`), hashes with symbol keys (`{ full: true }`),
    `Time`/`Date`/`DateTime` values (`Time.current`, `Date.today`, `1.day.ago`), durations
    (`5.minutes`), ranges, `BigDecimal` values (`BigDecimal("1.5")`, `x.to_d`) and classes
    (`User`, `record.class`). Values nested in arrays and hash values count too, and so does a
    local variable assigned such a value in the same method (`options = { full: true }`).

    ## Why is this bad?
    Sidekiq stores arguments as JSON. Since Sidekiq 7 strict arguments are the default and
    `perform_async` raises `ArgumentError` for these values; before 7 they silently change type
    on the way — a symbol arrives as a string, a symbol-keyed hash with string keys, a time as
    a string — so `perform` sees something else than the caller passed. `perform_inline` and
    the testing mode skip the check, so tests pass while production fails.

    ActiveJob's `perform_later` serializes these types itself and is not checked. Conversions
    (`.to_i`, `.iso8601`, `.to_s`) and string keys are fine. Keyword-style arguments
    (`perform_async(id, force: true)`) are reported by JL103 only, values included.
    `perform_async` on a project class known to be an ActiveJob or SuckerPunch job is ignored.

    Keyword-style arguments (`perform_async(id, since: 1.week.ago)`) are JL103's for the
    keywords, and their values are still checked here: a Time stays a Time once the keys
    become strings. `ActiveSupport::Duration.build(…)` and `n.minutes` with `n` a number
    assigned earlier are durations. A project class method that forwards a splat to
    `perform_async` (`def self.perform_async_in_queue(queue, *args)`) is an enqueue too: its
    callers' arguments after the ones it keeps are checked.

    Resque stores arguments as JSON too, without rejecting anything: its enqueues
    (`Resque.enqueue`, `enqueue_to`, resque-scheduler's `enqueue_in`/`enqueue_at`,
    `Resque::Job.create`) are a warning when `perform` would get a string instead of a time, a
    date, a range, a duration or a BigDecimal, or string keys instead of symbol keys (a
    symbol-keyed hash, or trailing `key: value` arguments, which arrive as one hash). Symbols
    and classes are not reported for Resque: they arrive as their names, which `send`,
    interpolation and `constantize` still read — the usual way Resque jobs take a method name.
    Delayed Job stores its jobs as YAML, which keeps Ruby's types: not checked.

    ## Example
    ```ruby
    ReportWorker.perform_async(account.id, :weekly, { notify: true }, Time.current)
    ```

    ## Use instead
    ```ruby
    ReportWorker.perform_async(account.id, "weekly", { "notify" => true }, Time.current.to_i)
    ```
    """

    code = "JL102"
    name = "non-json-argument"
    severity = Severity.ERROR
    scope = "file"
    summary = "A Sidekiq job argument that is not a native JSON type"
    message = "`{argument}` is {what}, not a native JSON type: {consequence}"
    help = "Pass strings, numbers, booleans, nil, and arrays or string-keyed hashes of them"
    triggers = (*SIDEKIQ_SINGLE_ENQUEUE, "Resque")

    examples = Examples(
        bad=[
            {
                "app/controllers/reports_controller.rb": """
                class ReportsController < ApplicationController
                  def create
                    ReportWorker.perform_async(params[:id], :weekly) # expect: JL102
                    ReportWorker.perform_async({ full: true }) # expect: JL102
                    ReportWorker.perform_in(5.minutes, 1.day.ago, Date.today) # expect: JL102
                    ReportWorker.perform_at(1.hour.from_now, [1..5, BigDecimal("1.5")]) # expect: JL102
                    ReportWorker.perform_async(params[:id], since: 1.week.ago) # expect: JL102, JL103
                  end
                end
                """,
            },
            {
                "app/services/sync.rb": """
                class Sync
                  def call(record)
                    since = Time.zone.now
                    SyncWorker.perform_async(record.id, since) # expect: JL102
                    SyncWorker.perform_async(record.class, "full") # expect: JL102
                    SyncWorker.perform_async(record.id, { "mode" => :full }) # expect: JL102
                    SyncWorker.perform_async("id" => record.id, "at" => Date.current) # expect: JL102
                    options = { full: true, notify: false }
                    SyncWorker.perform_async(record.id, options) # expect: JL102
                    SyncWorker.perform_async_in_queue("low", record.id, :full) # expect: JL102
                    SyncWorker.perform_async_pushed(:low, record.id, options) # expect: JL102
                  end
                end
                """,
                "app/workers/worker_base.rb": """
                class WorkerBase
                  include Sidekiq::Job

                  def self.perform_async_in_queue(queue, *args)
                    set(queue: queue).perform_async(*args)
                  end

                  def self.perform_async_pushed(queue, *args)
                    client_push("class" => self, "args" => args, "queue" => queue)
                  end
                end
                class SyncWorker < WorkerBase
                  def perform(id, mode); end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    resque (2.6.0)
                """,
                "app/models/report.rb": """
                class Report < ApplicationRecord
                  @queue = :reports

                  def self.perform(id, options)
                    find(id).render(since: options[:since])
                  end

                  def render_later
                    Resque.enqueue(Report, id, { since: 1.week.ago }) # expect: JL102
                    Resque.enqueue(Report, id, "since" => 1.week.ago) # expect: JL102
                    Resque.enqueue_in(1.hour, Report, id, full: true) # expect: JL102
                    Resque.enqueue_to("low", Report, id, 1..5, BigDecimal("1.5")) # expect: JL102
                  end
                end
                """,
            },
        ],
        good=[
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    resque (2.6.0)
                    delayed_job (4.1.11)
                """,
                "app/models/report.rb": """
                class Report < ApplicationRecord
                  @queue = :reports

                  def self.perform(method, *args)
                    send(method, *args)
                  end

                  def render_later
                    Resque.enqueue(Report, :render_all, id, "since" => 1.week.ago.iso8601)
                    Resque.enqueue(Report, :copy_from, self.class, [id])
                    delay.render(since: 1.week.ago, full: true)
                  end
                end
                """,
            },
            {
                "app/controllers/reports_controller.rb": """
                class ReportsController < ApplicationController
                  def create
                    ReportJob.perform_later(params[:id], :weekly, { full: true }, Time.current)
                    ReportJob.set(wait: 5.minutes).perform_later(1.day.ago, User)
                    ReportWorker.perform_async(params[:id], "weekly", { "full" => true })
                  end
                end
                """,
            },
            {
                "app/services/sync.rb": """
                class Sync
                  MODE = "full"

                  def call(record)
                    SyncWorker.perform_in(5.minutes, record.id, Time.current.to_i, MODE)
                    SyncWorker.perform_at(1.hour.from_now, Date.today.iso8601, 1.day.to_i, nil)
                    SyncWorker.perform_async(record.updated_at.to_s, [1, 2.5, "x", true])
                    options = { full: true }.stringify_keys
                    SyncWorker.perform_async(record.id, options)
                    ids = [record.id, record.parent_id]
                    SyncWorker.perform_async(ids, { "mode" => "full" })
                  end
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        for call in calls_named(source, _CALLS):
            if is_sidekiq_call(call, app):
                yield from _hits(job_arguments(call))
        for call, wrapper, arguments in wrapped_enqueues(source, app):
            if wrapper.enqueue in SIDEKIQ_SINGLE_ENQUEUE and is_sidekiq_call(call, app):
                yield from _hits(arguments)
        for enqueue in native_jobs.native_enqueues_in(app, source):
            if enqueue.kind is JobKind.RESQUE:
                yield from _resque_hits(list(enqueue.arguments))


SIDEKIQ_CONSEQUENCE = "Sidekiq strict arguments reject it"
# what Resque's JSON leaves of a value that some `perform` still reads correctly: a symbol
# becomes its name (`send(method)`, interpolation and `to_sym` still work), a class its name
RESQUE_HARMLESS = frozenset({"a symbol", "an array of symbols", "a class"})


def _hits(arguments: list[Node]) -> Iterator[Hit]:
    for argument in arguments:
        if argument.type == "pair":
            # `"key" => value` without braces is a string-keyed hash; `key: value` is
            # JL103's for the key, and its value is still checked here (a Time stays a
            # Time once the keys become strings)
            argument = argument.child_by_field_name("value") or argument
        if argument.type == "hash_splat_argument":
            continue
        for node, what in _non_json(argument, 0):
            yield Hit.at(node, argument=ruby.text(node), what=what, consequence=SIDEKIQ_CONSEQUENCE)


def _resque_hits(arguments: list[Node]) -> Iterator[Hit]:
    """Resque does not reject these values: its JSON changes them on the way, so `perform`
    gets a string (a time, a date, a range, a duration, a BigDecimal) or a hash whose keys
    are strings. Trailing `key: value` arguments arrive as one such hash."""
    keywords = [a for a in arguments if a.type == "pair" and symbol_key(a)]
    if keywords:
        yield Hit.at(keywords[0], Severity.WARNING, argument=ruby.text(keywords[0]),
                     what="a keyword argument (a hash with symbol keys)",
                     consequence="Resque's JSON hands `perform` a hash with string keys")
    for argument in arguments:
        if argument.type == "pair":
            argument = argument.child_by_field_name("value") or argument
        if argument.type in ("hash_splat_argument", "splat_argument"):
            continue
        for node, what in _non_json(argument, 0):
            if what in RESQUE_HARMLESS or what.startswith(tuple(RESQUE_HARMLESS)):
                continue
            becomes = "a hash with string keys" if "symbol keys" in what else "a string"
            yield Hit.at(node, Severity.WARNING, argument=ruby.text(node), what=what,
                         consequence=f"Resque's JSON hands `perform` {becomes}")


def _non_json(node: Node, depth: int) -> Iterator[tuple[Node, str]]:
    """The non-JSON values in an argument, descending into arrays and hash values."""
    if node.type == "array":
        for child in node.named_children:
            yield from _non_json(child, depth)
        return
    if node.type == "hash":
        if any(symbol_key(pair) for pair in node.named_children if pair.type == "pair"):
            yield node, "a hash with symbol keys"
            return
        for pair in node.named_children:
            value = pair.child_by_field_name("value") if pair.type == "pair" else None
            if value is not None:
                yield from _non_json(value, depth)
        return
    what = non_json_kind(node)
    if what is not None:
        yield node, what
    elif node.type in ("identifier", "instance_variable") and depth == 0:
        value = assigned_value(node)
        if value is node:
            return
        if value.type in ("array", "hash"):  # `options = { full: true }` earlier in the method
            for _, what in _non_json(value, depth + 1):
                yield node, f"{what} (assigned at line {value.start_point[0] + 1})"
                return
            return
        what = non_json_kind(value)
        if what is not None:
            yield node, what


def non_json_kind(node: Node) -> str | None:
    """What kind of non-JSON value an expression is (`a symbol`, `a time`…), else None."""
    kind = node.type
    if kind in ("simple_symbol", "delimited_symbol"):
        return "a symbol"
    if kind == "symbol_array":
        return "an array of symbols"
    if kind == "range":
        return "a range"
    if kind == "parenthesized_statements" and node.named_child_count == 1:
        return non_json_kind(node.named_children[0])
    if kind in ("constant", "scope_resolution"):
        written = ruby.constant_path(node)
        last = written.rsplit("::", 1)[-1] if written else ""
        return "a class" if last and not last.isupper() and not last.startswith("_") else None
    if kind != "call":
        return None
    method = ruby.call_method(node)
    receiver = ruby.call_receiver(node)
    if receiver is None:
        return "a BigDecimal" if method == "BigDecimal" else None
    if method == "to_d":
        return "a BigDecimal"
    if method == "class" and not ruby.call_arguments(node):
        return "a class"
    if method in DURATION_TO_TIME and _is_duration(receiver):
        return "a time"
    if _is_duration(node):
        return "a duration"
    if ruby.constant_path(receiver) == "BigDecimal":
        return "a BigDecimal"
    if ruby.constant_path(receiver) in ("ActiveSupport::Duration", "::ActiveSupport::Duration"):
        return "a duration" if method in ("new", "build", "parse", *DURATION_UNITS) else None
    root = ruby.constant_path(ruby.chain_root(node))
    if root in TIME_CLASSES:
        direct = ruby.constant_path(receiver) in TIME_CLASSES
        if method in CONVERSIONS and not direct:
            return None
        if method in ("zone", "name") and direct:
            return None
        return "a time" if root == "Time" else "a date"
    return None


def _is_duration(node: Node) -> bool:
    """`5.minutes`, `1.day`, `(n * 2).hours` — a numeric receiver and a unit."""
    if node.type != "call" or ruby.call_method(node) not in DURATION_UNITS:
        return False
    receiver = ruby.call_receiver(node)
    if receiver is None:
        return False
    if receiver.type in ("integer", "float"):
        return True
    if receiver.type == "identifier":  # `delay.minutes` with `delay = 5` earlier
        value = assigned_value(receiver)
        return value is not receiver and value.type in ("integer", "float")
    return receiver.type == "parenthesized_statements" or _is_duration(receiver)
