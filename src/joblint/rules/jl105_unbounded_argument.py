from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..rails.app import App
from ..rails.jobs import job_arguments
from ..rails.named_calls import calls_named
from ..ruby import Node
from ..source import SourceFile
from . import Examples, Rule, register
from ._arguments import assigned_value, elements, rooted_at_model

# `perform_bulk` is left out: a large array of argument lists is what it is for.
CHECKED_CALLS = ("perform_later", "perform_async", "perform_in", "perform_at")
_CALLS = frozenset(CHECKED_CALLS)
# The last method of a chain that materialises every row of a relation.
MATERIALISING = frozenset({"pluck", "ids", "to_a", "map", "collect", "records", "load"})
# Methods anywhere in the chain that bound the number of rows.
BOUNDING = frozenset(
    {"limit", "first", "last", "take", "page", "per", "paginate", "per_page", "find", "find_by",
     "sole", "find_sole_by", "in_groups_of"}
)
MAX_LITERAL_ELEMENTS = 50


@register
class UnboundedArgument(Rule):
    """
    ## What it does
    Finds a job argument that is an unbounded collection: `pluck(...)`, `.ids`, `.to_a`,
    `.map { ... }` / `.map(&:id)` of a relation chain rooted at a model constant
    (`User.where(active: true).pluck(:id)`), or an array or hash literal with more than 50
    elements. A local variable assigned such a collection in the same method counts too, and
    so do values nested in an array or hash argument.

    ## Why is this bad?
    Every id of the table ends up in one job payload: in Redis or the jobs table, in logs and in
    the dashboard. As the table grows the payload grows with it — megabytes per job, slow
    enqueues, Redis memory alerts, and one job that must finish all the work at once and starts
    over from the beginning after any failure.

    A chain that is bounded anywhere (`limit(n)`, `first(10)`, `page(n)`, `find`) is not
    reported, nor are collections not rooted at a model constant (a batch passed in,
    association readers). These arguments are JL105's only, never also JL101's.
    `perform_bulk` is not checked (a large list of argument lists is what it takes).

    ## Example
    ```ruby
    ReindexJob.perform_later(Product.where(stale: true).pluck(:id))
    ```

    ## Use instead
    ```ruby
    ReindexJob.perform_later("stale")  # the job runs the query with find_each / in_batches
    ```
    """

    code = "JL105"
    name = "unbounded-argument"
    severity = Severity.WARNING
    scope = "file"
    summary = "A whole table's ids or records passed as one job argument"
    message = "`{argument}` passes {what} to one job: the payload grows with the table"
    help = "Pass the query's criteria and iterate in batches inside the job"
    triggers = CHECKED_CALLS

    examples = Examples(
        bad=[
            {
                "app/models/product.rb": """
                class Product < ApplicationRecord
                end
                """,
                "app/controllers/products_controller.rb": """
                class ProductsController < ApplicationController
                  def reindex
                    ReindexJob.perform_later(Product.where(stale: true).pluck(:id)) # expect: JL105
                    ReindexWorker.perform_async(Product.all.map(&:sku)) # expect: JL105
                    ids = Product.ids
                    ReindexWorker.perform_in(5.minutes, ids) # expect: JL105
                  end
                end
                """,
            },
            {
                "app/models/user.rb": """
                class User < ApplicationRecord
                end
                """,
                "app/services/digest.rb": """
                class Digest
                  def call
                    DigestJob.perform_later(users: User.active.to_a) # expect: JL105
                    DigestJob.perform_later(User.all.map { |u| u.email }) # expect: JL105
                    DigestJob.perform_later([ # expect: JL105
                      1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20,
                      21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38,
                      39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51,
                    ])
                  end
                end
                """,
            },
        ],
        good=[
            {
                "app/models/user.rb": """
                class User < ApplicationRecord
                end
                """,
                "app/services/digest.rb": """
                class Digest
                  def call(user)
                    DigestJob.perform_later(user.id)
                    DigestJob.perform_later(User.order(:id).first(10).map(&:id))
                    DigestJob.perform_later(User.where(active: true).limit(100).pluck(:id))
                    DigestJob.perform_later(user.posts.pluck(:id), [1, 2, 3])
                  end
                end
                """,
            },
            {
                "app/models/user.rb": """
                class User < ApplicationRecord
                end
                """,
                "app/services/digest.rb": """
                class Digest
                  def call(batch)
                    DigestJob.perform_later(batch.ids, batch.map(&:id))
                    DigestWorker.perform_bulk(User.ids.map { |id| [id] })
                  end
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        for call in calls_named(source, _CALLS):
            for argument in job_arguments(call):
                if argument.type == "pair":
                    argument = argument.child_by_field_name("value") or argument
                for node in elements(argument):
                    what = self._unbounded(node, app)
                    if what is not None:
                        yield Hit.at(node, argument=_short(node), what=what)

    def _unbounded(self, node: Node, app: App) -> str | None:
        if node.type in ("array", "hash"):
            count = sum(1 for c in node.named_children if c.type != "comment")
            if count > MAX_LITERAL_ELEMENTS:
                return f"a literal {node.type} of {count} elements"
            return None
        value = assigned_value(node) if node.type in ("identifier", "instance_variable") else node
        if value.type == "call":
            return unbounded_relation(value, app)
        return None


def unbounded_relation(call: Node, app: App) -> str | None:
    """`every row of Product` for a materialising chain on a model with no bound, else None."""
    methods = ruby.chain_methods(call)
    if not methods or methods[0] not in MATERIALISING or set(methods) & BOUNDING:
        return None
    if not rooted_at_model(call, app):
        return None
    model = ruby.constant_path(ruby.chain_root(call))
    return f"every matching row of `{model}` (`{methods[0]}`)"


def _short(node: Node) -> str:
    if node.type == "array":
        return "[…]"
    if node.type == "hash":
        return "{…}"
    text = " ".join(ruby.text(node).split())
    return text if len(text) <= 60 else text[:57] + "..."
