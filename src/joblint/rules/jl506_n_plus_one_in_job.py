from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..rails.app import App
from ..rails.models import associations, scopes
from ..ruby import Node
from ..source import SourceFile
from . import Examples, Rule, register
from ._loops import held_value, is_bounded, narrowed

ITERATORS = (
    "each", "find_each", "each_with_index", "each_with_object", "map", "flat_map", "collect",
    "select", "reject", "filter_map", "sum", "group_by", "index_by", "sort_by", "each_slice",
)  # fmt: skip
# methods that keep a relation a relation of the same model
RELATION_METHODS = frozenset(
    {
        "all", "where", "not", "or", "and", "order", "reorder", "reverse_order", "limit",
        "offset", "includes", "preload", "eager_load", "joins", "left_joins",
        "left_outer_joins", "distinct", "group", "having", "unscope", "unscoped", "rewhere",
        "readonly", "lock", "references", "extending", "in_order_of", "excluding", "without",
        "merge", "from", "none", "find_each_record", "to_a", "load", "records",
    }
)  # fmt: skip
PRELOADS = frozenset({"includes", "preload", "eager_load"})
COLLECTION_MACROS = frozenset({"has_many", "has_and_belongs_to_many"})
# what a preloaded collection answers from memory; anything else (`where`, `pluck`, `count`,
# a scope of the target) queries whether it was preloaded or not
LOADED_CONSUMERS = frozenset(
    {
        "each", "map", "flat_map", "collect", "select", "reject", "filter_map", "find", "detect",
        "size", "length", "any?", "empty?", "none?", "present?", "blank?", "to_a", "first",
        "last", "sort_by", "sum", "include?", "each_with_index", "each_with_object", "group_by",
        "index_by", "min_by", "max_by", "partition", "inject", "reduce", "uniq", "sort",
        "to_set", "zip",
    }
)  # fmt: skip
_ITERATIONS = ruby.compile_query(
    "(call receiver: (_) method: (identifier) @method (#any-of? @method {}) block: (_) @block) @call".format(
        " ".join(f'"{m}"' for m in ITERATORS)
    )
)
_READS = ruby.compile_query(
    "(call receiver: (identifier) @receiver method: (identifier) @method) @call"
)


def preloaded_names(node: Node) -> set[str] | None:
    """Association names in an `includes(...)` argument: symbols, strings, hash keys, arrays
    (nested ones count by their top-level name). None when an argument is computed."""
    names: set[str] = set()
    if node.type in ("simple_symbol", "string"):
        value = ruby.string_value(node)
        if value is None:
            return None
        names.add(value)
    elif node.type in ("array", "hash", "argument_list"):
        for child in node.named_children:
            found = preloaded_names(child)
            if found is None:
                return None
            names |= found
    elif node.type == "pair":
        key = ruby.pair_key(node)
        if key is None:
            return None
        names.add(key)
    elif node.type in ("symbol_array", "string_array"):
        names.update(ruby.text(c) for c in node.named_children)
    elif node.type != "comment":
        return None
    return names


def relation_of(receiver: Node, app: App) -> tuple[str, set[str]] | None:
    """For a relation chain rooted at a model constant (`Order.where(..).includes(:items)`):
    the model and the associations it preloads; None for anything else, or when a preload is
    computed (then every association may be loaded)."""
    preloaded: set[str] = set()
    node = receiver
    chain: list[Node] = []
    while node.type == "call":
        chain.append(node)
        inner = ruby.call_receiver(node)
        if inner is None:
            return None
        node = inner
    model = app.chain_model(receiver)
    if model is None:
        return None
    known_scopes = scopes(app, model)
    for call in chain:
        method = ruby.call_method(call)
        if method == "strict_loading":
            return None  # a lazy load raises instead of querying
        if method not in RELATION_METHODS and method not in known_scopes:
            return None
        if method in PRELOADS:
            args = call.child_by_field_name("arguments")
            found = preloaded_names(args) if args is not None else set()
            if found is None:
                return None
            preloaded |= found
    return model, preloaded


def _read_from_memory(read: Node) -> bool:
    """Would a preloaded collection answer what is done with `read` (`.each`, `.size`, passed
    along as is) — rather than run a query of its own (`.where`, `.pluck`, a scope)?"""
    parent = read.parent
    if parent is None or parent.type != "call" or ruby.call_receiver(parent) is None:
        return True
    if ruby.call_receiver(parent).id != read.id:
        return True
    method = ruby.call_method(parent)
    if method == "sum" and any(a.type != "block_argument" for a in ruby.call_arguments(parent)):
        return False  # `sum(:column)` is a SQL SUM; `sum(&:cents)` adds loaded records
    return method in LOADED_CONSUMERS


@register
class NPlusOneInJob(Rule):
    """
    ## What it does
    Finds, inside a job, an iteration (`each`, `find_each`, `map`, `each_with_index`…) over a
    relation of a model `M` rooted at the model constant (`Order.where(...).find_each do |o|`)
    whose block reads an association declared on `M` in `app/models` (`has_many`, `has_one`,
    `belongs_to`, `has_and_belongs_to_many`, including those of its concerns and STI parents)
    on the block variable (`o.customer`), while the relation does not `includes`, `preload`
    or `eager_load` that association. The relation may be held in a local assigned earlier in
    the method or an instance variable the class assigns once; one that preloads some
    associations but not the one read is reported for that one. A relation of few rows — bounded
    by a limit or the primary key, grouped, or filtered on a foreign key by a value the code
    passes — is not reported: a query per row costs little there.

    ## Why is this bad?
    Each read runs one query per record: a nightly job over 100,000 orders sends 100,001
    queries, holds a worker for minutes and loads the database while it does. Jobs are where
    whole tables get iterated, so this is where the N+1 hurts most.

    The relation must be built from methods joblint knows keep it a relation of `M` (`where`,
    `order`, `includes`…, and the model's own `scope`s); a computed `includes(...)` argument,
    or `strict_loading`, keeps the rule silent. A collection read that queries anyway
    (`order.line_items.where(...)`, `.pluck`, `.count`, a scope) is not reported: preloading
    would not remove that query. Each association is reported once per loop, at its first read.

    ## Example
    ```ruby
    Order.where(state: "paid").find_each do |order|
      ReceiptMailer.receipt(order.customer.email).deliver_later
    end
    ```

    ## Use instead
    ```ruby
    Order.where(state: "paid").includes(:customer).find_each do |order|
      ReceiptMailer.receipt(order.customer.email).deliver_later
    end
    ```
    """

    code = "JL506"
    name = "n-plus-one-in-job"
    severity = Severity.WARNING
    default_enabled = False
    scope = "project"
    summary = "An association read once per record while a job iterates a relation"
    message = "`{read}` loads `{model}#{association}` once per record of this loop: one query each"
    help = "Preload the association: add `includes` (or `preload`) to the relation the job iterates"
    triggers = ITERATORS

    examples = Examples(
        bad=[
            {
                "app/models/order.rb": """
                class Order < ApplicationRecord
                  belongs_to :customer
                  has_many :line_items
                  scope :paid, -> { where(state: "paid") }
                end
                """,
                "app/jobs/receipt_job.rb": """
                class ReceiptJob < ApplicationJob
                  discard_on ActiveJob::DeserializationError

                  def perform
                    Order.paid.includes(:line_items).find_each do |order|
                      total = order.line_items.sum(&:cents)
                      puts order.customer.email, total # expect: JL506
                      puts order.customer.name
                    end
                  end
                end
                """,
            },
            {
                "app/models/concerns/taggable.rb": """
                module Taggable
                  extend ActiveSupport::Concern
                  included do
                    has_and_belongs_to_many :tags
                  end
                end
                """,
                "app/models/post.rb": """
                class Post < ApplicationRecord
                  include Taggable
                  has_one :cover
                end
                """,
                "app/workers/index_worker.rb": """
                class IndexWorker
                  include Sidekiq::Job

                  def perform
                    Post.where(published: true).find_each.with_index do |post, i|
                      puts i, post.title
                    end
                    Post.find_each { |post| puts post.tags.map(&:name) } # expect: JL506
                    drafts = Post.where(published: false).includes(:tags)
                    drafts.each { |post| puts post.cover.url } # expect: JL506
                  end
                end
                """,
            },
        ],
        good=[
            {
                "app/models/order.rb": """
                class Order < ApplicationRecord
                  belongs_to :customer
                  has_many :line_items
                end
                """,
                "app/jobs/receipt_job.rb": """
                class ReceiptJob < ApplicationJob
                  discard_on ActiveJob::DeserializationError

                  def perform
                    Order.includes(:customer, line_items: :product).find_each do |order|
                      puts order.customer.email, order.line_items.size, order.total
                    end
                    Order.preload(associations).find_each { |order| puts order.customer }
                    Order.strict_loading.find_each { |order| puts order.customer }
                  end
                end
                """,
            },
            {
                "app/models/order.rb": """
                class Order < ApplicationRecord
                  belongs_to :customer
                end
                """,
                "app/services/export.rb": """
                class Export
                  def call
                    Order.find_each { |order| puts order.customer.email }
                  end
                end
                """,
                "app/jobs/export_job.rb": """
                class ExportJob < ApplicationJob
                  discard_on ActiveJob::DeserializationError

                  def perform(ids)
                    Order.recent_first.find_each { |order| puts order.customer }
                    ids.each { |id| puts Order.find(id).customer }
                    orders = Order.includes(:customer).where(id: ids)
                    orders.each { |order| puts order.customer.email }
                    Order.where(customer_id: ids.first).each { |order| puts order.customer }
                  end
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        if not app.model_classes:
            return
        for _, caps in ruby.matches(_ITERATIONS, source.root):
            call = caps["call"][0]
            block = caps["block"][0]
            params = ruby.block_parameters(block) if block.type != "block_argument" else []
            receiver = ruby.call_receiver(call)
            if not params or receiver is None or app.job_kind_at(source, call) is None:
                continue
            source_relation = held_value(receiver)
            if is_bounded(source_relation) or narrowed(source_relation, app):
                continue  # few rows: a query each is no burden worth a preload
            relation = relation_of(source_relation, app)
            if relation is None:
                continue
            model, preloaded = relation
            declared = associations(app, model)
            variable = params[0]
            reported: set[str] = set()
            for _, read_caps in ruby.matches(_READS, block):
                read = read_caps["call"][0]
                name = ruby.call_method(read)
                if ruby.text(read_caps["receiver"][0]) != variable or name in reported:
                    continue
                if name not in declared or name in preloaded:
                    continue
                if declared[name].kind in COLLECTION_MACROS and not _read_from_memory(read):
                    continue
                binding = ruby.block_binding(variable, read)
                if binding is None or binding[0].id != call.id:
                    continue
                reported.add(name)
                yield Hit.at(
                    read, read=ruby.text(read).split("(")[0], model=model, association=name
                )
