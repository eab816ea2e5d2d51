from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..rails.app import App
from ..rails.transactions import (
    TRANSACTION_BLOCKS,
    deferred_until_commit,
    delayed_at_least_a_minute,
    transaction_around,
)
from ..ruby import Node
from ..source import SourceFile
from . import Examples, Rule, register
from ._enqueues import (
    SYNCHRONOUS,
    call_name,
    enqueues_in,
    sensitive_calls,
    sent_last,
    why_not_deferred,
)


@register
class EnqueueInTransaction(Rule):
    """
    ## What it does
    Finds `perform_later`, `perform_async`, `perform_in`, `perform_at`, `perform_bulk`,
    `deliver_later` and `deliver_now` written inside a `transaction do … end` block (any
    receiver) or a `with_lock do … end` block.

    ## Why is this bad?
    The job is pushed to the queue before the transaction commits. A fast worker picks it up
    and does not find the row yet (`ActiveRecord::RecordNotFound`, or a `DeserializationError`
    for a GlobalID argument), or the transaction rolls back and the job works on data that
    never existed; a mail goes out for an order that was not saved.

    joblint knows when Rails defers the enqueue itself (`enqueue_after_transaction_commit`) and
    then stays silent for `perform_later`:
    - Rails ≤ 7.1: never deferred;
    - Rails 7.2: deferred with `load_defaults 7.2` (or the setting `:default`) on the Sidekiq,
      Solid Queue and Resque adapters, or with the setting `:always`;
    - Rails 8.0–8.1: deferred only when the setting is `true`;
    - Rails ≥ 8.2: deferred by default with `load_defaults 8.2`;
    - a job class (or its `ApplicationJob`) can opt in or out with
      `self.enqueue_after_transaction_commit = …`.

    `deliver_later` runs `ActionMailer::MailDeliveryJob`, which inherits `ActiveJob::Base`, not
    `ApplicationJob`: only the global setting counts for it, and Rails 8.0–8.1 never defer it.
    Adapters that store jobs in the app's own database, in the same transaction, make an
    ActiveJob enqueue (`perform_later`, `deliver_later`) commit or roll back with it: GoodJob
    (unless `active_record_parent_class` names a class connected to another database), Delayed
    Job's ActiveRecord backend, que, and Solid Queue when `config/database.yml` has no `queue`
    database and no environment sets `config.solid_queue.connects_to`. Those are not reported.
    Raw Sidekiq calls and `deliver_now` are always reported — except a mail sent synchronously
    as the last thing the block does: it sees the uncommitted rows on the same connection, and
    nothing after it can roll the transaction back.

    An enqueue one call away counts: a method of the same class called in the block, or a
    method of a model called on a record of it (`order.fulfil!`), that enqueues or delivers —
    the message names the path (`via fulfil! → FulfilOrderJob.perform_later`). Methods are
    followed one level. `deliver`/`deliver!` on a mailer message (the pre-Rails-5 names) send
    now, like `deliver_now`. Calls inside an `after_commit`
    (or `ActiveRecord.after_all_transactions_commit`) block or a lambda are not reported.
    Without a Gemfile.lock or `load_defaults`, the behaviour of Rails through 8.1 is assumed.

    Native enqueues count too: Resque's (`Resque.enqueue`, `enqueue_to`, `Resque::Job.create`,
    resque-scheduler's `enqueue_in`/`enqueue_at` with less than a minute) push to Redis at once
    and are always reported; Delayed Job's (`Delayed::Job.enqueue`, `x.delay.m`, a
    `handle_asynchronously` method) are reported only on its Mongoid backend — its
    ActiveRecord backend saves the job row on the app's own connection, inside the transaction.

    A scheduled enqueue with a literal delay of at least a minute (`perform_in(5.minutes, …)`,
    `set(wait: 1.hour)`), or one scheduled at a time read from the app's data
    (`perform_at(closes_at, …)`), starts long after the commit and is not reported.

    Off by default (`--extend-select JL302`): whether an early or rolled-back job does harm
    depends on what the job reads and does — a job handed a host name to fetch a favicon, or a
    mail about a refund the payment processor already made, is harmless; one that looks up the
    record the transaction is writing is a bug. joblint cannot see that, and on the real apps
    of the ecosystem check only about two in three of these findings were worth changing.

    ## Example
    ```ruby
    Order.transaction do
      order.update!(state: "paid")
      FulfilOrderJob.perform_later(order.id)
    end
    ```

    ## Use instead
    ```ruby
    Order.transaction do
      order.update!(state: "paid")
    end
    FulfilOrderJob.perform_later(order.id)
    ```
    """

    code = "JL302"
    name = "enqueue-in-transaction"
    severity = Severity.WARNING
    default_enabled = (
        False  # what the job reads and does decides whether an early or rolled-back run matters
    )
    scope = "project"
    summary = "A job enqueued or a mail sent inside a database transaction"
    message = "`{method}` inside `{block}`{via}: the work can start before the commit, or after a rollback ({why})"
    help = "Move the call after the block, into an after_commit callback, or enable enqueue_after_transaction_commit"
    triggers = ("transaction", "with_lock")

    examples = Examples(
        bad=[
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    rails (7.1.3)
                    sidekiq (7.2.0)
                """,
                "app/models/order.rb": """
                class Order < ApplicationRecord
                  def fulfil!
                    update!(state: "fulfilling")
                    FulfilOrderJob.perform_later(id)
                  end

                  def archive!
                    update!(archived: true)
                  end
                end
                """,
                "app/services/payment.rb": """
                class Payment
                  def call(order)
                    Order.transaction do
                      order.update!(state: "paid")
                      order.fulfil! # expect: JL302
                      order.archive!
                      notify_warehouse # expect: JL302
                      PaymentMailer.receipt(order.id).deliver # expect: JL302
                      order.receipts.create!
                    end
                  end

                  private

                  def notify_warehouse
                    WarehouseWorker.perform_async("order-paid")
                  end
                end
                """,
                "app/models/tag.rb": """
                class Tag < ApplicationRecord
                  def add_alias(name)
                    transaction do
                      add_alias(name.downcase) if name.match?(/[A-Z]/)  # itself: not followed
                      TagIndexWorker.perform_async(name) # expect: JL302
                    end
                  end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    rails (7.1.3)
                    sidekiq (7.2.0)
                """,
                "app/services/checkout.rb": """
                class Checkout
                  def call(order)
                    Order.transaction do
                      order.update!(state: "paid")
                      FulfilOrderJob.perform_later(order.id) # expect: JL302
                    end
                    order.with_lock do
                      OrderMailer.with(id: order.id).receipt.deliver_later # expect: JL302
                      order.update!(receipt_sent_at: Time.current)
                    end
                  end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    rails (8.2.0)
                    sidekiq (8.0.1)
                """,
                "config/application.rb": """
                module Shop
                  class Application < Rails::Application
                    config.load_defaults 8.2
                  end
                end
                """,
                "app/services/refund.rb": """
                class Refund
                  def call(order)
                    ApplicationRecord.transaction do
                      order.refund!
                      RefundJob.perform_later(order.id)
                      LedgerWorker.perform_async(order.id) # expect: JL302
                      OrderMailer.refunded(order.id).deliver_now # expect: JL302
                      order.ledger_entries.create!(kind: "refund")
                    end
                  end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    delayed_job (4.1.13)
                    delayed_job_active_record (4.1.10)
                    rails (7.1.3)
                """,
                "config/database.yml": """
                production:
                  database: shop_production
                """,
                "app/models/order.rb": """
                class Order < ApplicationRecord
                  def pay!
                    transaction do
                      update!(state: "paid")
                      FulfilOrderJob.perform_later(id)
                      OrderMailer.paid(self).deliver_now # expect: JL302
                      touch(:paid_at)
                    end
                  end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    solid_queue (1.1.0)
                    rails (8.0.1)
                """,
                "config/database.yml": """
                production:
                  primary:
                    database: shop_production
                  queue:
                    database: shop_production_queue
                """,
                "app/models/order.rb": """
                class Order < ApplicationRecord
                  def pay!
                    transaction do
                      update!(state: "paid")
                      FulfilOrderJob.perform_later(id) # expect: JL302
                    end
                  end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    resque (2.6.0)
                """,
                "app/models/order.rb": """
                class Order < ApplicationRecord
                  def pay!
                    with_lock do
                      update!(state: "paid")
                      Resque.enqueue(FulfilOrderJob, id) # expect: JL302
                      Resque.enqueue_in(1.hour, ReminderJob, id)
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
                    delayed_job (4.1.13)
                    delayed_job_active_record (4.1.10)
                """,
                "app/models/order.rb": """
                class Order < ApplicationRecord
                  def pay!
                    transaction do
                      update!(state: "paid")
                      Delayed::Job.enqueue(FulfilOrderJob.new(id))  # the job row commits with it
                      delay.send_receipt
                    end
                  end

                  def send_receipt; end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    rails (7.1.3)
                    sidekiq (7.2.0)
                """,
                "app/services/signup.rb": """
                class Signup
                  def call(user)
                    User.transaction do
                      user.save!
                      Membership.create!(user: user)
                      UserMailer.welcome(user.id).deliver_now  # the last step: nothing rolls back after it
                    end
                  end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    good_job (4.4.0)
                    rails (7.1.3)
                """,
                "config/initializers/good_job.rb": """
                GoodJob.active_record_parent_class = "ApplicationRecord"
                """,
                "app/models/order.rb": """
                class Order < ApplicationRecord
                  def pay!
                    transaction do
                      update!(state: "paid")
                      FulfilOrderJob.perform_later(id)
                      OrderMailer.paid(self).deliver_later
                      ReviewReminderWorker.perform_in(5.days, id)  # long after the commit
                      OrderMailer.survey(id).deliver_later(wait_until: 2.days.from_now)
                      StatusPollJob.set(wait: 10.minutes).perform_later(id)
                    end
                  end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    solid_queue (1.1.0)
                    rails (8.0.1)
                """,
                "config/database.yml": """
                production:
                  primary:
                    database: shop_production
                """,
                "app/models/order.rb": """
                class Order < ApplicationRecord
                  def pay!
                    transaction do
                      update!(state: "paid")
                      FulfilOrderJob.perform_later(id)
                    end
                  end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    rails (7.2.1)
                    solid_queue (1.0.0)
                """,
                "config/application.rb": """
                module Shop
                  class Application < Rails::Application
                    config.load_defaults 7.2
                  end
                end
                """,
                "app/services/checkout.rb": """
                class Checkout
                  def call(order)
                    Order.transaction do
                      order.update!(state: "paid")
                      FulfilOrderJob.perform_later(order.id)
                      OrderMailer.with(id: order.id).receipt.deliver_later
                    end
                  end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    rails (8.0.1)
                """,
                "app/services/checkout.rb": """
                class Checkout
                  def call(order)
                    Order.transaction do
                      order.update!(state: "paid")
                      ActiveRecord.after_all_transactions_commit do
                        OrderMailer.with(id: order.id).receipt.deliver_later
                      end
                    end
                    FulfilOrderJob.perform_later(order.id)
                  end
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        for call in sensitive_calls(source.root, app):
            block = transaction_around(call)
            if block is None or deferred_until_commit(call, app) or delayed_at_least_a_minute(call):
                continue
            if ruby.call_method(call) in SYNCHRONOUS and _sent_last(call, block):
                continue  # nothing after the mail can roll the transaction back
            yield Hit.at(
                call,
                method=call_name(call, app),
                block=ruby.call_method(block),
                via="",
                why=why_not_deferred(call, app),
            )
        yield from self._one_call_away(source, app)

    def _one_call_away(self, source: SourceFile, app: App) -> Iterator[Hit]:
        """Calls in a transaction block of a project method that enqueues or delivers."""
        if not source.contains_any(_TRANSACTION_WORDS):
            return
        for _, caps in ruby.matches(_TRANSACTIONS, source.root):
            block = caps["call"][0]
            body = ruby.call_block(block)
            if body is None:
                continue
            for enqueue in enqueues_in(body, app, app.enclosing_class(block)):
                if not enqueue.via or transaction_around(enqueue.at) != block:
                    continue  # written in the block (reported above), or in an inner block
                if ruby.call_method(enqueue.call) in SYNCHRONOUS and _sent_last(enqueue.at, block):
                    continue
                yield Hit.at(
                    enqueue.at,
                    method=enqueue.method,
                    block=ruby.call_method(block),
                    via=enqueue.path,
                    why=why_not_deferred(enqueue.call, app),
                )


_TRANSACTIONS = ruby.calls_query(TRANSACTION_BLOCKS)
_TRANSACTION_WORDS = tuple(w.encode() for w in TRANSACTION_BLOCKS)


def _sent_last(site: Node, transaction: Node) -> bool:
    body = ruby.call_block(transaction)
    return body is not None and sent_last(site, body)
