from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..rails.app import App
from ..source import SourceFile
from . import Examples, Rule, register
from ._loops import enclosing_iteration, is_small_literal

# enqueue method → the API that enqueues many at once
BULK_INSTEAD = {
    "perform_later": "`ActiveJob.perform_all_later` (Rails ≥ 7.1)",
    "perform_async": "`perform_bulk` (Sidekiq ≥ 6.3)",
    "deliver_later": "`ActionMailer.deliver_all_later` (Rails ≥ 8.1)",
}
# Loops over a whole table: the fan-out is large by design.
BATCH_LOOPS = frozenset({"find_each", "find_in_batches", "in_batches"})
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

    Loops over literals of at most three elements (`%i[daily weekly].each`, `2.times`,
    `[a, b].compact.uniq.each`, a constant assigned such a literal in the same file) are not
    reported, and neither are
    enqueues in the receiver or arguments of the loop call, only in its block. Calls without a
    receiver (`deliver_later(payload)`) are the class's own methods, not enqueues. `perform_in` /
    `perform_at` are not reported: staggering enqueues in time is usually the point.

    Severity: a warning inside `find_each`, `find_in_batches` and `in_batches`, which walk a
    whole table; information inside other loops, which are often over a handful of
    associated records.

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
    severity = Severity.INFO
    scope = "file"
    summary = "One enqueue per iteration of a loop instead of a bulk enqueue"
    message = "`{method}` inside `{loop}` enqueues one job per iteration: use {instead}"
    help = "Collect the jobs in the loop and enqueue them at once"
    triggers = tuple(BULK_INSTEAD)

    examples = Examples(
        bad=[
            {
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
                "app/controllers/invitations_controller.rb": """
                class InvitationsController < ApplicationController
                  def create
                    params[:emails].map do |email|
                      InviteMailer.invite(email).deliver_later # expect: JL501
                    end
                    5.times { WarmupJob.set(wait: 1.minute).perform_later } # expect: JL501
                  end
                end
                """,
            },
        ],
        good=[
            {
                "app/services/digest_sender.rb": """
                class DigestSender
                  PERIODS = %i[daily weekly].freeze

                  def call(user)
                    DigestJob.perform_later(user.id)
                    PERIODS.each { |period| DigestJob.perform_later(user.id, period.to_s) }
                    [:email, :sms, :push].each do |channel|
                      NotifyJob.perform_later(user.id, channel.to_s)
                    end
                    2.times { PingJob.perform_later }
                    [user.id, user.inviter_id].compact.uniq.each { |id| SyncJob.perform_later(id) }
                  end
                end
                """,
            },
            {
                "app/services/reminder.rb": """
                class Reminder
                  def call(user_ids)
                    jobs = user_ids.map { |id| ReminderJob.new(id) }
                    ActiveJob.perform_all_later(jobs)
                    ReminderWorker.perform_bulk(user_ids.map { |id| [id] })
                    user_ids.each_with_index { |id, i| ReminderWorker.perform_in(i * 10, id) }
                    user_ids.each { |id| deliver_later(id) }
                  end

                  private

                  def deliver_later(id) = ReminderMailer.remind(id).deliver_now
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        for _, caps in ruby.matches(_ENQUEUES, source.root):
            call = caps["call"][0]
            loop = enclosing_iteration(call)
            if loop is None or is_small_literal(ruby.call_receiver(loop)):
                continue
            method = ruby.call_method(call)
            loop_method = ruby.call_method(loop)
            yield Hit.at(
                call,
                severity=Severity.WARNING if loop_method in BATCH_LOOPS else None,
                method=method,
                loop=loop_method,
                instead=BULK_INSTEAD[method],
            )
