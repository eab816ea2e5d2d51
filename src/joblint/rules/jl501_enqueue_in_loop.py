from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..rails.app import App
from ..ruby import Node
from ..source import SourceFile
from . import Examples, Rule, register
from ._arguments import assigned_value
from ._loops import enclosing_iteration, is_bounded, model_relation

# enqueue method → the API that enqueues many at once, and what it needs
BULK_INSTEAD = {
    "perform_later": "`ActiveJob.perform_all_later`",
    "perform_async": "`perform_bulk`",
    "deliver_later": "`ActionMailer.deliver_all_later`",
}
# ActiveJob adapters whose `enqueue_all` pushes many jobs at once (the others loop anyway)
BULK_ADAPTERS = frozenset({"sidekiq", "good_job", "solid_queue"})
# blocks that already collect enqueues into one bulk push
BULK_BLOCKS = frozenset({"perform_all_later", "push_bulk", "enqueue", "perform_bulk"})
# blocks that give each enqueue its own context: batching them would lose it
CONTEXT_BLOCKS = frozenset({"with_locale", "use_zone", "with_tenant", "switch"})
OUT_OF_SCOPE_DIRS = ("db", "lib/tasks")  # one-off data migrations and rake tasks
_ENQUEUES = ruby.calls_query(BULK_INSTEAD, with_receiver=True)


@register
class EnqueueInLoop(Rule):
    """
    ## What it does
    Finds `perform_later`, `perform_async` or `deliver_later` inside the block of `each`,
    `each_with_index`, `each_with_object`, `map`, `collect`, `flat_map`, `filter_map`,
    `times`, `find_each`, `find_in_batches` or `in_batches` — anywhere in the app, not only in
    jobs.

    ## Why is this bad?
    Every iteration is one round trip to Redis or one `INSERT` into the jobs table (plus, on
    Solid Queue and GoodJob, its own transaction). Ten thousand users means ten thousand
    round trips in the request or job that loops. The bulk APIs push all of them at once:
    `ActiveJob.perform_all_later` (Rails ≥ 7.1), Sidekiq's `perform_bulk` (≥ 6.3, batches of
    1,000) and `ActionMailer.deliver_all_later` (Rails ≥ 8.1).

    The cost only matters over a collection as large as a table, so the rule reports loops
    over a relation rooted at a model constant (`User.find_each`, `Order.where(state:
    "open").each`, `Account.pluck(:id).each`, the batches of `in_batches`), directly or through
    a local variable assigned one. It is silent over what is bounded by something it cannot
    see: one record's association, an array, a parameter, a method's result, a relation
    filtered by a variable or a range (`where(user: user)`, `where(created_at: 1.hour.ago..)`),
    `limit`, or ids. It is silent where the replacement does not exist: `perform_all_later`
    needs Rails ≥ 7.1 and an adapter that pushes in bulk (Sidekiq, GoodJob, Solid Queue — on
    Delayed Job and Resque it enqueues one by one anyway), `deliver_all_later` Rails ≥ 8.1,
    `perform_bulk` Sidekiq ≥ 6.3; versions come from `Gemfile.lock`. Not reported either:
    enqueues already inside a bulk block (`ActiveJob.perform_all_later`,
    `GoodJob::Batch.enqueue`, `Sidekiq::Client.push_bulk`), inside a per-item
    `I18n.with_locale`/`Time.use_zone` block (each job keeps its own locale), and files under
    `db/` and `lib/tasks/` (one-off data migrations and tasks).

    Only enqueues in the loop's block count, not in its receiver or arguments. Calls without
    a receiver (`deliver_later(payload)`) are the class's own methods, not enqueues.
    `perform_in` / `perform_at` are not reported: staggering enqueues in time is usually the
    point.

    Off by default (`--extend-select JL501`): even over a whole table the cost depends on how
    many rows it has, which joblint cannot see — a loop over a handful of configured providers
    is harmless. On the real apps of the ecosystem check 85 % of its findings were worth
    changing, below the 95 % that default rules must meet.

    ## Example
    ```ruby
    User.where(digest: true).find_each do |user|
      DigestJob.perform_later(user.id)
    end
    ```

    ## Use instead
    ```ruby
    User.where(digest: true).in_batches do |batch|
      ActiveJob.perform_all_later(batch.ids.map { |id| DigestJob.new(id) })
    end
    ```
    """

    code = "JL501"
    name = "enqueue-in-loop"
    severity = Severity.WARNING
    default_enabled = False  # the cost depends on table sizes joblint cannot see
    scope = "project"
    summary = "One enqueue per iteration of a loop instead of a bulk enqueue"
    message = "`{method}` inside `{loop}` over `{model}` enqueues one job per row: use {instead}"
    help = "Collect the jobs in the loop and enqueue them at once"
    triggers = tuple(BULK_INSTEAD)

    examples = Examples(
        bad=[
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    rails (7.2.1)
                    sidekiq (7.3.0)
                """,
                "app/models/user.rb": "class User < ApplicationRecord\nend\n",
                "app/models/account.rb": "class Account < ApplicationRecord\nend\n",
                "app/services/digest_sender.rb": """
                class DigestSender
                  def call
                    User.where(digest: true).find_each do |user|
                      DigestJob.perform_later(user.id) # expect: JL501
                    end
                    Account.pluck(:id).each_with_index do |id, index|
                      next if index.zero?
                      SyncWorker.perform_async(id) # expect: JL501
                    end
                  end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    rails (8.1.0)
                    solid_queue (1.2.0)
                """,
                "app/models/user.rb": "class User < ApplicationRecord\nend\n",
                "app/jobs/score_job.rb": """
                class ScoreJob < ApplicationJob
                  discard_on ActiveJob::DeserializationError
                  def perform(user); end
                end
                """,
                "app/jobs/newsletter_job.rb": """
                class NewsletterJob < ApplicationJob
                  retry_on Net::SMTPServerBusy
                  def perform
                    subscribers = User.where(newsletter: true)
                    subscribers.each do |user|
                      NewsletterMailer.issue(user).deliver_later # expect: JL501
                    end
                    User.in_batches do |batch|
                      batch.each { |user| ScoreJob.perform_later(user) } # expect: JL501
                    end
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
                    rails (7.2.1)
                    sidekiq (7.3.0)
                """,
                "app/models/user.rb": "class User < ApplicationRecord\nend\n",
                "app/models/order.rb": "class Order < ApplicationRecord\nend\n",
                "app/services/digest_sender.rb": """
                class DigestSender
                  PERIODS = %i[daily weekly monthly yearly].freeze

                  def call(user, emails)
                    PERIODS.each { |period| DigestJob.perform_later(user.id, period.to_s) }
                    user.devices.find_each { |device| PushJob.perform_later(device.id) }
                    emails.each { |email| InviteMailer.invite(email).deliver_later }
                    Order.where(user: user).find_each { |order| SyncJob.perform_later(order.id) }
                    Order.where(created_at: 1.hour.ago..).each { |o| SyncJob.perform_later(o.id) }
                    Order.where(id: params[:ids]).each { |o| SyncJob.perform_later(o.id) }
                    User.limit(10).each { |u| DigestJob.perform_later(u.id) }
                    # deliver_all_later needs Rails 8.1
                    User.find_each { |u| DigestMailer.weekly(u).deliver_later }
                    User.find_each do |u|
                      I18n.with_locale(u.locale) { WelcomeJob.perform_later(u.id) }
                    end
                    ActiveJob.perform_all_later(User.find_each.map { |u| DigestJob.new(u.id) })
                  end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    rails (7.1.3)
                    delayed_job (4.1.13)
                    delayed_job_active_record (4.1.10)
                """,
                "app/models/user.rb": "class User < ApplicationRecord\nend\n",
                "app/services/reminder.rb": """
                class Reminder
                  def call
                    # perform_all_later on Delayed Job still inserts one row per job
                    User.find_each { |user| ReminderJob.perform_later(user.id) }
                  end
                end
                """,
                "db/migrate/20250101000000_backfill.rb": """
                class Backfill < ActiveRecord::Migration[7.1]
                  def up
                    User.find_each { |user| BackfillJob.perform_later(user.id) }
                  end
                end
                """,
                "lib/tasks/reindex.rake": """
                task reindex: :environment do
                  User.find_each { |user| ReindexJob.perform_later(user.id) }
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        if source.in_dir(*OUT_OF_SCOPE_DIRS):
            return
        for _, caps in ruby.matches(_ENQUEUES, source.root):
            call = caps["call"][0]
            loop = enclosing_iteration(call)
            if loop is None:
                continue
            method = ruby.call_method(call)
            instead = bulk_replacement(method, app)
            if instead is None or ruby.in_block_of(call, BULK_BLOCKS) or ruby.in_block_of(call, CONTEXT_BLOCKS, loop):
                continue
            model = unbounded_collection(loop, app)
            if model is None:
                continue
            yield Hit.at(call, method=method, loop=ruby.call_method(loop), model=model, instead=instead)


def bulk_replacement(method: str, app: App) -> str | None:
    """The bulk API for `method` when the app's versions and adapter have it, else None."""
    rails = app.rails_version or app.load_defaults
    if method == "perform_async":
        sidekiq = app.gems.get("sidekiq")
        return f"{BULK_INSTEAD[method]} (Sidekiq {sidekiq})" if sidekiq and sidekiq >= (6, 3) else None
    if rails is None or app.backend.adapter not in BULK_ADAPTERS:
        return None
    needed = (8, 1) if method == "deliver_later" else (7, 1)
    return f"{BULK_INSTEAD[method]} (Rails {rails})" if rails >= needed else None


def unbounded_collection(loop: Node, app: App) -> str | None:
    """The model whose whole table the loop walks: the loop's receiver is a relation rooted at
    a model constant (or the constant itself), through a local variable or the batches of an
    `in_batches` / `find_in_batches` block; None when anything bounds it."""
    receiver = ruby.call_receiver(loop)
    if receiver is None:
        return None
    receiver = assigned_value(receiver)
    if receiver.type == "identifier":  # a block variable: the batches of an outer batch loop
        binding = ruby.block_binding(ruby.text(receiver), receiver)
        if binding is None or ruby.call_method(binding[0]) not in ("in_batches", "find_in_batches"):
            return None
        return unbounded_collection(binding[0], app)
    if receiver.type in ("constant", "scope_resolution"):
        return _model_constant(receiver, app)
    if receiver.type != "call":
        return None
    if ruby.call_method(receiver) in ("pluck", "ids"):
        base = ruby.call_receiver(receiver)
        if base is None:
            return None
        if base.type in ("constant", "scope_resolution"):
            return _model_constant(base, app)
        receiver = base
    model = model_relation(receiver, app)
    if model is None or is_bounded(receiver) or _filtered_by_variable(receiver):
        return None
    return model


def _model_constant(constant: Node, app: App) -> str | None:
    """The project model a constant names at its place (`User`, `Billing::Invoice`)."""
    written = ruby.constant_path(constant)
    model = app.classes.resolve(written, app.lexical_scope(constant)) if written else None
    return model if model in app.model_classes else None


LITERAL_TYPES = frozenset(
    {"true", "false", "nil", "integer", "float", "string", "simple_symbol", "constant",
     "scope_resolution", "array", "string_array", "symbol_array", "hash_key_symbol"}
)


def _filtered_by_variable(relation: Node) -> bool:
    """A query method or scope given anything but literals (`where(user: user)`, a range, a
    parameter): the relation is as large as that value makes it, which the rule cannot see."""
    node: Node | None = relation
    while node is not None and node.type == "call":
        for argument in ruby.call_arguments(node):
            values = [argument]
            if argument.type == "pair":
                values = [argument.child_by_field_name("value")]
            for value in values:
                if value is not None and not _literal(value):
                    return True
        node = ruby.call_receiver(node)
    return False


def _literal(node: Node) -> bool:
    if node.type in ("string",):
        return not any(c.type == "interpolation" for c in node.named_children)
    if node.type in ("array",):
        return all(_literal(c) for c in node.named_children)
    if node.type == "hash":
        return all(
            _literal(p.child_by_field_name("value")) for p in node.named_children if p.type == "pair"
        )
    return node.type in LITERAL_TYPES
