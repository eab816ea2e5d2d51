from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..rails.app import App
from ..rails.classes import qualified_name
from ..rails.models import SAVE_CALLBACKS, model_facts, save_callbacks
from ..rails.transactions import TRANSACTION_SENSITIVE
from ..ruby import Node
from ..source import SourceFile
from . import Examples, Rule, register
from ._enqueues import call_name, enqueues_in, why_not_deferred

_CALLS = ruby.calls_query(TRANSACTION_SENSITIVE, with_receiver=True)
_METHODS = ruby.compile_query("(method) @def")


@register
class EnqueueInSaveCallback(Rule):
    """
    ## What it does
    Finds a model callback that runs inside the save transaction — `after_create`,
    `after_save`, `after_update`, `after_destroy`, `before_create`, `before_save`,
    `before_update`, `before_destroy`, `before_validation` — whose code enqueues a job
    (`perform_later`, `perform_async`, `perform_in`, `perform_at`, `perform_bulk`) or delivers
    mail (`deliver_later`, `deliver_now`). The callback is a block (or lambda) given to the
    macro, or a method of the same class or concern named by a symbol. An enqueue one call away
    counts too: a method of the class chain, or of a model called on a record of it
    (`account.notify_removal`), that enqueues or delivers; the message names the path. Methods
    are followed one level. `deliver`/`deliver!` on a mailer message send now. The
    `after_create(record)`… methods of an `ActiveRecord::Observer` (rails-observers) are save
    callbacks too.

    ## Why is this bad?
    Save callbacks run inside the transaction that writes the record. The job is on the queue
    before the row is committed: a fast worker does not find it yet, and if the save rolls back
    the job still runs (and the mail still goes out). `after_create_commit`/`after_commit` run
    once the data is visible to other connections.

    The same version awareness as JL302 applies: a `perform_later` that Rails defers until the
    commit (`enqueue_after_transaction_commit`, see JL302) is not reported; raw Sidekiq calls,
    `deliver_now` and — unless the global setting defers it — `deliver_later` are. Only the
    callback's own code is read, not the methods it calls; calls in an `after_commit` block
    inside the callback are not reported.

    A scheduled enqueue with a literal delay of at least a minute (`perform_in(5.minutes, …)`,
    `set(wait: 1.hour)`), or one scheduled at a time read from the app's data
    (`perform_at(closes_at, …)`), starts long after the commit and is not reported.

    Native enqueues count too: Resque's (`Resque.enqueue`, `enqueue_to`, `Resque::Job.create`,
    resque-scheduler's `enqueue_in`/`enqueue_at` with less than a minute) push to Redis at once
    and are always reported; Delayed Job's (`Delayed::Job.enqueue`, `x.delay.m`, a
    `handle_asynchronously` method) are reported only on its Mongoid backend — its
    ActiveRecord backend saves the job row on the app's own connection, inside the transaction.

    Off by default (`--extend-select JL303`): whether an early or rolled-back job does harm
    depends on what the job reads and does — a job handed a host name to fetch a favicon, or a
    mail about a refund the payment processor already made, is harmless; one that looks up the
    record the transaction is writing is a bug. joblint cannot see that, and on the real apps
    of the ecosystem check only about 85 % of these findings were worth changing.

    ## Example
    ```ruby
    class User < ApplicationRecord
      after_create :send_welcome
      def send_welcome = UserMailer.with(user: self).welcome.deliver_later
    end
    ```

    ## Use instead
    ```ruby
    class User < ApplicationRecord
      after_create_commit :send_welcome
      def send_welcome = UserMailer.with(user: self).welcome.deliver_later
    end
    ```
    """

    code = "JL303"
    name = "enqueue-in-save-callback"
    severity = Severity.WARNING
    default_enabled = (
        False  # what the job reads and does decides whether an early or rolled-back run matters
    )
    scope = "project"
    summary = "A job enqueued or a mail sent from a callback inside the save transaction"
    message = "`{method}` in `{callback}`{via} runs inside the save transaction: the work can start before the commit, or after a rollback ({why})"
    help = "Use after_create_commit / after_update_commit / after_commit for side effects"
    triggers = SAVE_CALLBACKS

    examples = Examples(
        bad=[
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    rails (7.1.3)
                """,
                "app/models/invoice.rb": """
                class Invoice < ApplicationRecord
                  belongs_to :account
                  after_save :refresh_totals
                  before_destroy { account.notify_removal } # expect: JL303

                  private

                  def refresh_totals
                    publish_to_api # expect: JL303
                    recalculate
                    InvoiceMailer.receipt(id).deliver # expect: JL303
                  end

                  def publish_to_api
                    ApiSyncJob.perform_later(id)
                  end

                  def recalculate
                    self.total = 0
                  end
                end
                """,
                "app/models/account.rb": """
                class Account < ApplicationRecord
                  def notify_removal
                    AccountMailer.removal(id).deliver_now
                  end
                end
                """,
                "app/models/invoice_observer.rb": """
                class InvoiceObserver < ActiveRecord::Observer
                  def after_create(invoice)
                    InvoiceMailer.created(invoice.id).deliver # expect: JL303
                  end

                  def after_commit(invoice)
                    InvoiceMailer.created(invoice.id).deliver
                  end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    rails (7.1.3)
                """,
                "app/models/user.rb": """
                class User < ApplicationRecord
                  after_create :send_welcome
                  after_save { SearchIndexJob.perform_later(id) } # expect: JL303

                  private

                  def send_welcome
                    UserMailer.with(user_id: id).welcome.deliver_later # expect: JL303
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
                "app/models/concerns/syncable.rb": """
                module Syncable
                  extend ActiveSupport::Concern
                  included do
                    before_destroy :sync_removal
                  end

                  def sync_removal
                    SyncJob.perform_later(id)
                    LegacySyncWorker.perform_async(id) # expect: JL303
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
                "app/models/work.rb": """
                class Work < ApplicationRecord
                  after_save :reindex
                  after_commit :notify_followers

                  def reindex
                    Resque.enqueue_to(:search, IndexJob, id) # expect: JL303
                  end

                  def notify_followers
                    Resque.enqueue(NotifyJob, id)
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
                    rails (7.1.3)
                """,
                "app/models/invoice.rb": """
                class Invoice < ApplicationRecord
                  after_save :refresh_totals
                  after_commit :publish_to_api

                  private

                  def refresh_totals
                    schedule_reminder
                    WebhookPayload.new(self).deliver
                  end

                  def schedule_reminder
                    ReminderJob.set(wait: 3.days).perform_later(id)
                    ReminderWorker.perform_at(due_at, id) if due_at&.future?
                  end

                  def publish_to_api
                    ApiSyncJob.perform_later(id)
                  end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    rails (7.1.3)
                """,
                "app/models/user.rb": """
                class User < ApplicationRecord
                  after_create_commit :send_welcome
                  after_commit(on: :update) { SearchIndexJob.perform_later(id) }
                  after_save :normalise_email

                  private

                  def send_welcome
                    UserMailer.with(user_id: id).welcome.deliver_later
                  end

                  def normalise_email
                    self.email = email.downcase
                  end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    rails (7.2.1)
                    sidekiq (7.3.0)
                """,
                "config/application.rb": """
                module Shop
                  class Application < Rails::Application
                    config.load_defaults 7.2
                  end
                end
                """,
                "app/models/order.rb": """
                class Order < ApplicationRecord
                  after_create { FulfilOrderJob.perform_later(id) }
                  after_update :notify

                  def notify
                    OrderMailer.with(order_id: id).updated.deliver_later
                  end
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        for callback in save_callbacks(source, app.classes):
            if callback.body is not None:
                yield from self._hits(callback.body, callback.macro, app)
        callback_methods = model_facts(app).callback_methods
        for _, caps in ruby.matches(_METHODS, source.root):
            method = caps["def"][0]
            owner_node = ruby.enclosing(method, {"class", "module"})
            owner = qualified_name(owner_node) if owner_node is not None else None
            name = ruby.method_name(method)
            if owner is not None and name in callback_methods.get(owner, ()) or owner is not None and name in SAVE_CALLBACKS and _is_observer(owner, app):
                yield from self._hits(method, f"{owner}#{name}", app)

    def _hits(self, body: Node, callback: str, app: App) -> Iterator[Hit]:
        for enqueue in enqueues_in(body, app, app.enclosing_class(body)):
            yield Hit.at(
                enqueue.at,
                method=enqueue.via or call_name(enqueue.call, app),
                callback=callback,
                via=enqueue.path,
                why=why_not_deferred(enqueue.call, app),
            )


OBSERVERS = frozenset({"ActiveRecord::Observer", "Mongoid::Observer"})


def _is_observer(owner: str, app: App) -> bool:
    """An `ActiveRecord::Observer` (rails-observers): its `after_create(record)`… methods run
    as the observed model's callbacks, inside the save transaction."""
    return bool(OBSERVERS & set(app.classes.ancestors(owner)))
