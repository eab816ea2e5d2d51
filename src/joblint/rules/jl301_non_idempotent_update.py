from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..patterns import lazy_pattern
from ..rails.app import App
from ..rails.named_calls import calls_named
from ..ruby import Node
from ..source import SourceFile
from . import Examples, Rule, register

COUNTER_METHODS = frozenset(
    {"increment!", "decrement!", "increment_counter", "decrement_counter", "update_counters"}
)
CLASS_COUNTER_METHODS = frozenset({"increment_counter", "decrement_counter", "update_counters"})
UPDATE_PAIRS = frozenset({"update", "update!", "update_columns", "update_attributes"})
UPDATE_ONE = frozenset({"update_column", "update_attribute"})
SAVES = frozenset({"save", "save!"})
_SELF_REFERENCE = lazy_pattern(r"\b(\w+)\s*=\s*\1\s*[-+]")
_UPDATE_CALLS = COUNTER_METHODS | UPDATE_PAIRS | UPDATE_ONE | {"update_all"}


def _candidates(source: SourceFile) -> list[Node]:
    """The calls of `_UPDATE_CALLS` and the `+=`/`-=` assignments, in document order: what the
    query `(call method: (identifier) @method (#any-of? @method …)) @call
    (operator_assignment) @assign` finds that this rule reads (the other operators are
    never a non-idempotent update), without compiling it."""
    found = [(call.start_byte, call) for call in calls_named(source, _UPDATE_CALLS)]
    found.extend((n.start_byte, n) for n in ruby.operator_assignments(source.root, source.data, ("+=", "-=")))
    found.sort(key=lambda pair: pair[0])
    return [node for _, node in found]


@register
class NonIdempotentUpdate(Rule):
    """
    ## What it does
    Finds, inside a job, updates that add to a stored value: `increment!`, `decrement!`,
    `increment_counter`, `decrement_counter`, `update_counters`, `update_all` with a
    self-referencing SQL expression (`"count = count + 1"`), `update(x: x + n)` or
    `update_column(:x, x + n)`, and `record.x += n` followed by `save`.

    Not reported inside failure handling — a `rescue` body, a `rescue_from`/`retry_on`/
    `discard_on`/`after_discard` block, a `with:` handler method, or a method only called from
    those: counting failures per attempt is what that code is for. `x + "text"` is a
    concatenation, not a counter.

    ## Why is this bad?
    Jobs are retried — after an exception later in `perform`, a worker crash, a deploy that
    kills the process — and every backend delivers at least once. A relative update applied
    twice counts twice: a balance credited twice, a usage counter that drifts.

    Not reported when the update is guarded: an earlier `return if`/`return unless`/`next if`
    in the same method whose condition mentions the same record, or a guard inside an
    enclosing `with_lock` block.

    ## Example
    ```ruby
    def perform(order_id)
      order = Order.find(order_id)
      order.customer.increment!(:orders_count)
    end
    ```

    ## Use instead
    ```ruby
    def perform(order_id)
      order = Order.find(order_id)
      return if order.counted?
      order.with_lock do
        order.customer.increment!(:orders_count)
        order.update!(counted: true)
      end
    end
    ```
    """

    code = "JL301"
    name = "non-idempotent-update"
    severity = Severity.WARNING
    scope = "file"
    summary = "A relative update in a job that a retry applies twice"
    message = "{what} in a job is applied again when the job is retried"
    help = "Guard it with a state check (return if already done) or make the write absolute"
    triggers = (
        "increment",
        "decrement",
        "update_counters",
        "update_all",
        "update",
        "+=",
        "-=",
    )

    examples = Examples(
        bad=[
            {
                "app/jobs/count_order_job.rb": """
                class CountOrderJob < ApplicationJob
                  discard_on ActiveRecord::RecordNotFound

                  def perform(order_id)
                    order = Order.find(order_id)
                    order.customer.increment!(:orders_count) # expect: JL301
                    Customer.update_counters(order.customer_id, orders_count: 1) # expect: JL301
                    Order.where(id: order_id).update_all("attempts = attempts + 1") # expect: JL301
                  end
                end
                """,
            },
            {
                "app/workers/credit_worker.rb": """
                class CreditWorker
                  include Sidekiq::Job

                  def perform(account_id, cents)
                    account = Account.find(account_id)
                    account.update!(balance: account.balance + cents) # expect: JL301
                    account.credits += 1 # expect: JL301
                    account.save!
                  end
                end
                """,
            },
        ],
        good=[
            {
                "app/jobs/verify_link_job.rb": """
                class VerifyLinkJob < ApplicationJob
                  rescue_from Faraday::ConnectionFailed do |error|
                    record_failure
                    retry_job(wait: 5.minutes) if link.failures < 3
                  end
                  rescue_from Faraday::SSLError, with: :give_up

                  def perform(link)
                    link.check!
                  rescue Timeout::Error
                    link.increment!(:timeouts)
                    raise
                  end

                  private

                  def record_failure
                    link.increment!(:failures)
                  end

                  def give_up(error)
                    link.increment!(:failures)
                    link.update!(path: link.path + "/broken")
                  end
                end
                """,
            },
            {
                "app/jobs/count_order_job.rb": """
                class CountOrderJob < ApplicationJob
                  discard_on ActiveRecord::RecordNotFound

                  def perform(order_id)
                    order = Order.find(order_id)
                    return if order.counted?

                    order.customer.increment!(:orders_count)
                    order.update!(counted: true, status: "sent")
                    Order.find_or_create_by(number: order.number)
                  end
                end
                """,
            },
            {
                "app/jobs/credit_job.rb": """
                class CreditJob < ApplicationJob
                  retry_on ActiveRecord::Deadlocked

                  def perform(account_id, cents)
                    account = Account.find(account_id)
                    account.with_lock do
                      next if account.credited_at
                      account.update!(balance: account.balance + cents, credited_at: Time.current)
                    end
                  end
                end
                """,
                "app/models/account.rb": """
                class Account < ApplicationRecord
                  def credit!(cents)
                    increment!(:balance, cents)
                  end
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        for node in _candidates(source):
            if node.type == "operator_assignment":
                hit = self._compound_assignment(node)
            else:
                hit = self._call(node)
            if hit is None:
                continue
            target, what, identity = hit
            if app.job_kind_at(source, node) is None or _guarded(node, identity):
                continue
            if in_failure_handling(node, source):
                continue  # counting failures is what it is there for
            yield Hit.at(target, what=what)

    def _call(self, call: Node) -> tuple[Node, str, set[str]] | None:
        method = ruby.call_method(call)
        receiver = ruby.call_receiver(call)
        args = ruby.call_arguments(call)
        if method in COUNTER_METHODS:
            if method in CLASS_COUNTER_METHODS:
                identity = set().union(*(_names(a) for a in args[1:])) if args else set()
            else:
                identity = _names(receiver) if receiver is not None else {"self"}
            return call, f"`{method}`", identity
        if method == "update_all" and args:
            first = args[0]
            sql = first.named_children[0] if first.type == "array" and first.named_children else first
            value = ruby.string_value(sql) if sql.type == "string" else None
            if value and _SELF_REFERENCE.search(value):
                return first, "`update_all` with a self-referencing expression", set()
            return None
        identity = _names(receiver) if receiver is not None else {"self"}
        if method in UPDATE_PAIRS:
            for arg in args:
                pairs = arg.named_children if arg.type == "hash" else [arg]
                for pair in pairs:
                    if pair.type == "pair" and _adds_to_itself(
                        ruby.pair_key(pair), pair.child_by_field_name("value")
                    ):
                        return pair, f"`{method}` adding to the stored value", identity
        if method in UPDATE_ONE and len(args) >= 2:
            if _adds_to_itself(ruby.string_value(args[0]), args[1]):
                return args[1], f"`{method}` adding to the stored value", identity
        return None

    def _compound_assignment(self, node: Node) -> tuple[Node, str, set[str]] | None:
        operator = ruby.text(node.child_by_field_name("operator"))
        left = node.child_by_field_name("left")
        if operator not in ("+=", "-=") or left is None or left.type != "call":
            return None
        receiver = ruby.call_receiver(left)
        if receiver is None:
            return None
        saved = ruby.text(receiver)
        scope = ruby.enclosing_method_or_root(node)
        for call in ruby.descendants(scope, {"call"}):
            if (
                call.start_byte > node.end_byte
                and ruby.call_method(call) in SAVES
                and ruby.text(ruby.call_receiver(call)) == saved
            ):
                return node, f"`{ruby.text(left)} {operator}` then `{ruby.call_method(call)}`", _names(receiver)
        return None


def _adds_to_itself(attribute: str | None, value: Node | None) -> bool:
    """`x + n` / `record.x - n` where `x` is the attribute being written."""
    if attribute is None or value is None or value.type != "binary":
        return False
    operator = value.child_by_field_name("operator")
    if ruby.text(operator) not in ("+", "-"):
        return False
    right = value.child_by_field_name("right")
    if right is not None and right.type in ("string", "array"):
        return False  # `key + "index.m3u8"`: a concatenation, not a counter
    left = value.child_by_field_name("left")
    if left is None:
        return False
    if left.type == "identifier":
        return ruby.text(left) == attribute
    return left.type == "call" and ruby.call_method(left) == attribute


def _names(node: Node | None) -> set[str]:
    """Variable names an expression is built on (`order.customer` → {"order"})."""
    if node is None:
        return set()
    found = set()
    for inner in ruby.walk(node):
        if inner.type in ("identifier", "instance_variable") and not _is_method_name(inner):
            found.add(ruby.text(inner))
        elif inner.type == "self":
            found.add("self")
    return found


def _is_method_name(identifier: Node) -> bool:
    parent = identifier.parent
    return (
        parent is not None
        and parent.type == "call"
        and parent.child_by_field_name("method") is not None
        and parent.child_by_field_name("method").id == identifier.id
    )


GUARD_JUMPS = frozenset({"return", "next", "break"})


HANDLER_BLOCKS = frozenset({"rescue_from", "retry_on", "discard_on", "after_discard"})


def in_failure_handling(node: Node, source: SourceFile, depth: int = 0) -> bool:
    """Inside a `rescue` body, a `rescue_from`/`retry_on`/`discard_on`/`after_discard` block, a
    `with:` handler method, or a method of the class that is only called from those."""
    for ancestor in ruby.ancestors(node):
        if ancestor.type == "rescue":
            return True
        if ancestor.type in ruby.BLOCK_TYPES and ancestor.parent is not None:
            if ruby.call_method(ancestor.parent) in HANDLER_BLOCKS:
                return True
        if ancestor.type in ruby.METHOD_TYPES:
            return depth == 0 and _only_called_in_failure_handling(ancestor, source, depth)
    return False


def _only_called_in_failure_handling(method: Node, source: SourceFile, depth: int) -> bool:
    name = ruby.method_name(method)
    owner = ruby.enclosing(method, {"class", "module"})
    if owner is None:
        return False
    handlers = [
        ruby.string_value(value)
        for call in ruby.descendants(owner, {"call"})
        if ruby.call_method(call) in HANDLER_BLOCKS
        and (value := ruby.keyword_arguments(call).get("with")) is not None
    ]
    if name in handlers:
        return True
    sites = [
        n for n in ruby.descendants(owner, {"call", "identifier"})
        if (ruby.call_method(n) if n.type == "call" else ruby.text(n)) == name
        and (n.type == "identifier" or ruby.call_receiver(n) is None)
        and not (n.parent is not None and n.parent.type in ruby.METHOD_TYPES)
    ]
    return bool(sites) and all(in_failure_handling(site, source, depth + 1) for site in sites)


def _guarded(node: Node, identity: set[str]) -> bool:
    """An earlier `return if …` on the same record, or any guard inside an enclosing with_lock."""
    scope = ruby.enclosing_method_or_root(node)
    locks = [
        a
        for a in ruby.ancestors(node)
        if a.type == "call" and ruby.call_method(a) == "with_lock" and ruby.is_inside(a, scope)
    ]
    for guard in ruby.descendants(scope, {"if_modifier", "unless_modifier", "if", "unless"}):
        if guard.start_byte >= node.start_byte:
            break
        if ruby.is_inside(node, guard) or not _jumps(guard):
            continue
        condition = guard.child_by_field_name("condition")
        if any(ruby.is_inside(guard, lock) for lock in locks):
            return True
        if identity & _names(condition):
            return True
    return False


def _jumps(guard: Node) -> bool:
    if guard.type in ("if_modifier", "unless_modifier"):
        body = guard.child_by_field_name("body")
        return body is not None and body.type in GUARD_JUMPS
    consequence = guard.child_by_field_name("consequence")
    return consequence is not None and any(
        child.type in GUARD_JUMPS for child in consequence.named_children
    )
