from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..rails.app import App
from ..source import SourceFile
from . import Examples, Rule, register
from ._loops import head_hit, held_value, is_bounded, iterates, model_relation, narrowed

# Methods that load the whole relation into memory to iterate it (`select`/`reject` only
# with a block: without one, `select` is a query method).
LOADING_ITERATORS = (
    "each", "each_with_index", "each_with_object", "map", "collect", "flat_map", "filter_map",
    "select", "reject",
)
_ITERATIONS = ruby.compile_query(
    "(call receiver: [(call) (identifier) (instance_variable)] method: (identifier) @method (#any-of? @method {})) @call".format(
        " ".join(f'"{m}"' for m in LOADING_ITERATORS)
    )
)


@register
class UnbatchedIteration(Rule):
    """
    ## What it does
    Finds, in a job, `each`, `map`, `select`, `each_with_index` (and `collect`, `flat_map`,
    `filter_map`, `reject`, `each_with_object`) called on a relation built on a model
    constant — `User.all.each`, `Order.where(…).map`, `Post.includes(:tags).each`, or a chain
    through the model's declared `scope`s — directly, through a local assigned one earlier in
    the method, or through an instance variable the class assigns one (`@users = User.all`
    in `initialize`, iterated in `perform`). Relations that are few rows by construction are
    not reported: grouped or `distinct` ones, and those filtered on a foreign key or a
    belongs_to association by a value the code passes (`where(feed_id: feed.id)`: the rows of
    one parent).

    ## Why is this bad?
    Iterating a relation loads every matching row and instantiates every record before the
    first iteration: on a table that grows, the job's memory grows with it until the worker is
    killed for exceeding its memory limit — and with it every other job that worker was
    running. `find_each`/`in_batches` load 1,000 rows at a time.

    Not reported: `find_each`, `find_in_batches`, `in_batches`; relations bounded by `limit(n)`
    or by a `where` on the primary key (`where(id: ids)`: the caller chose the list); results
    that are already arrays (`first(n)`, `pluck`, `to_a` — see JL503 for `.all.to_a`);
    associations (`user.posts.each`), whose size the model does not show; chains through a
    class method joblint does not know to return a relation.

    ## Example
    ```ruby
    def perform
      User.where(subscribed: true).each { |user| user.refresh_quota! }
    end
    ```

    ## Use instead
    ```ruby
    def perform
      User.where(subscribed: true).find_each { |user| user.refresh_quota! }
    end
    ```
    """

    code = "JL502"
    name = "unbatched-iteration"
    severity = Severity.WARNING
    default_enabled = False
    scope = "file"
    summary = "A job iterating a whole relation instead of in batches"
    message = "`{method}` on a `{model}` relation loads every row at once in a job"
    help = "Iterate with find_each (or in_batches), which loads 1,000 rows at a time"
    triggers = LOADING_ITERATORS

    examples = Examples(
        bad=[
            {
                "app/models/user.rb": """
                class User < ApplicationRecord
                  scope :subscribed, -> { where(subscribed: true) }
                end
                """,
                "app/jobs/refresh_quotas_job.rb": """
                class RefreshQuotasJob < ApplicationJob
                  discard_on ActiveJob::DeserializationError

                  def perform
                    User.all.each { |user| user.refresh_quota! } # expect: JL502
                    User.subscribed.order(:id).each_with_index do |user, index| # expect: JL502
                      user.update!(rank: index)
                    end
                  end
                end
                """,
            },
            {
                "app/models/billing/order.rb": """
                module Billing
                  class Order < ApplicationRecord
                  end
                end
                """,
                "app/workers/billing/export_worker.rb": """
                module Billing
                  class ExportWorker
                    include Sidekiq::Job

                    def perform(state)
                      rows = Order.where(state: state).includes(:lines).map(&:to_row) # expect: JL502
                      Order.where.not(state: state).select { |o| o.stale? } # expect: JL502
                      pending = Order.where(state: "pending")
                      pending.each { |order| order.expire! } # expect: JL502
                      @open.map(&:id) # expect: JL502
                    end

                    def initialize
                      @open = Order.where(state: "open")
                    end
                  end
                end
                """,
            },
        ],
        good=[
            {
                "app/models/user.rb": """
                class User < ApplicationRecord
                  has_many :posts
                end
                """,
                "app/jobs/refresh_quotas_job.rb": """
                class RefreshQuotasJob < ApplicationJob
                  discard_on ActiveJob::DeserializationError

                  def perform(ids)
                    User.all.find_each { |user| user.refresh_quota! }
                    User.where(subscribed: true).in_batches { |batch| batch.touch_all }
                    User.order(:created_at).limit(100).each { |user| user.refresh_quota! }
                    User.where(id: ids).each { |user| user.refresh_quota! }
                    User.order(:id).first(10).each { |user| user.refresh_quota! }
                    recent = User.where(active: true)
                    recent = recent.limit(50)
                    recent.each { |user| user.refresh_quota! }
                    batch = User.where(id: ids)
                    batch.each { |user| user.refresh_quota! }
                    User.where(team_id: ids.first).each { |user| user.refresh_quota! }
                    User.group(:country).select(:country).each { |row| puts row.country }
                    User.where(active: true).pluck(:id).each { |id| puts id }
                    User.select(:id, :email).find_each { |user| puts user.email }
                  end
                end
                """,
            },
            {
                "app/models/user.rb": """
                class User < ApplicationRecord
                  has_many :posts
                  def self.admins = where(admin: true).to_a
                end
                """,
                "app/jobs/notify_job.rb": """
                class NotifyJob < ApplicationJob
                  discard_on ActiveJob::DeserializationError

                  def perform(user_id)
                    user = User.find(user_id)
                    user.posts.each { |post| post.touch }
                    User.admins.each { |admin| admin.touch }
                    [1, 2, 3].map { |n| n * 2 }
                  end
                end
                """,
                "app/services/report.rb": """
                class Report
                  def rows = User.all.map(&:email)
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        for _, caps in ruby.matches(_ITERATIONS, source.root):
            call = caps["call"][0]
            method = ruby.call_method(call)
            if method in ("select", "reject") and not iterates(call):
                continue
            relation = ruby.call_receiver(call)
            if relation is None:
                continue
            relation = held_value(relation)  # `users = User.where(…)` earlier
            model = model_relation(relation, app)
            if model is None or is_bounded(relation) or narrowed(relation, app):
                continue
            if app.job_kind_at(source, call) is None:
                continue
            yield head_hit(call, method=method, model=model)
