from __future__ import annotations

from collections.abc import Iterator

from ..findings import Hit, Severity
from ..rails import native_jobs, queues, schedules
from ..rails.app import App
from ..source import SourceFile
from . import Examples, Rule, register

TEST_DIRS = ("spec", "test", "features")  # test jobs use throwaway queues
RECURRING_COMMAND = "where Solid Queue runs a recurring `command:` without `queue:`"


@register
class UnprocessedQueue(Rule):
    """
    ## What it does
    Finds a static queue name that no configured worker processes: `queue_as :name`,
    `self.queue_name = "name"`, `sidekiq_options queue: "name"` (native Sidekiq jobs),
    `Job.set(queue: :name).perform_later`, `deliver_later(queue: :name)`,
    `deliver_later_queue_name = :name` (app-wide in `config.action_mailer`, or in a mailer), and
    the `queue:` of a recurring or sidekiq-cron schedule entry.

    Queues used without being named count too. A Solid Queue recurring `command:` without
    `queue:` runs as `SolidQueue::RecurringJob` on `solid_queue_recurring` (reported at the
    command). A `deliver_later` on a project mailer that names no `queue:` enqueues mail on
    `mailers` before `load_defaults 6.1`, and on the ActiveJob default queue (`default`, or
    `config.active_job.default_queue_name`) from 6.1 or when `deliver_later_queue_name` is nil
    (reported at the `deliver_later` call). A queue named app-wide by `deliver_later_queue_name`
    is reported where it is written, not at each call.

    The worker lists are read from `config/sidekiq.yml` (`:queues:`, plain or `[name, weight]`,
    every environment section and Sidekiq 7 capsules, plus `sidekiq -q name` flags in
    `Procfile*`), `config/queue.yml` / `config/solid_queue.yml` (`workers: - queues:`, with `*`
    and `prefix*` wildcards; a worker without `queues:` processes everything) and GoodJob's
    `config.good_job.queues` (default `*`; `-name` excludes). ActiveJob names go to the adapter's
    list and honour the `config.active_job.queue_name_prefix`/`_delimiter` production runs with
    (set in application.rb, an initializer or production.rb; a `queue_as :scans` with prefix
    `shop` runs on `shop_scans` only, and a prefix built at runtime makes the names unknown);
    native Sidekiq names go to `sidekiq.yml` unprefixed. A sidekiq-cron or sidekiq-scheduler entry is read as ActiveJob
    when its class is an ActiveJob job or it says `active_job: true`.

    ## Why is this bad?
    A job pushed to a queue no worker listens to is never run, and nothing fails: Sidekiq keeps
    it in Redis forever (sidekiq#4897), Solid Queue keeps it in `solid_queue_ready_executions`.
    The usual cause is a new `queue_as` whose queue was not added to the worker config.

    A `sidekiq.yml` without `:queues:`, with no `-q` where Sidekiq is started, processes only
    `default`.

    Delayed Job and Resque take their queue lists on the worker's command line only, so those
    are read where the app starts its workers — `Procfile*`, `bin/*`, `Dockerfile*` and
    docker-compose services (a service's `environment:` too): `QUEUES=a,b rake jobs:work` (or
    `QUEUE=`, or as a rake argument), `bin/delayed_job --queues=a,b` / `--queue=a` /
    `--pool=a,b:2` (`--pool=*` works every queue), `QUEUE=a,b rake resque:work` (`*` for all),
    and resque-pool's `config/resque-pool.yml`. A Delayed Job worker started without a list
    works every queue; a Resque worker without one reads `QUEUE` from the environment
    (unknown). They apply to ActiveJob jobs on the `delayed_job`/`resque` adapter (with the
    queue name prefix) and to native jobs, whose queues are checked unprefixed where they are
    written: `@queue = :name` or `def self.queue` of a Resque job, the queue of
    `Resque.enqueue_to`/`Resque::Job.create`, `queue:` of `Delayed::Job.enqueue`,
    `delay(queue:)` and `handle_asynchronously`, a payload's `queue_name`, and
    `Delayed::Worker.default_queue_name = "name"` when a job falls back to it. A list from the
    environment (`QUEUES=$WORKER_QUEUES`, a compose service with an `env_file` and no list), set
    in Ruby (`Delayed::Worker.queues =`, `ENV["QUEUE"] ||=` in a rake file) or in a Capistrano
    recipe (`config/deploy*.rb` mentioning the backend) makes the set unknown.

    The rule is silent when it cannot know: no queue configuration, a list or prefix
    computed by ERB or Ruby at boot, a `-q` from an environment variable, or a dynamic queue
    name. For an
    implicit mail queue it is also silent without a known Rails version or `load_defaults`,
    with a computed `deliver_later_queue_name`, a custom `delivery_job`, a mailer (or
    ancestor) that sets either, and a message whose mailer is not a project mailer. A queue
    listed under any environment counts as processed. Code under `spec/`, `test/` and
    `features/` is not checked.

    ## Example
    ```ruby
    class ExportJob < ApplicationJob
      queue_as :exports   # config/sidekiq.yml lists only critical and default
    end
    ```

    ## Use instead
    ```yaml
    # config/sidekiq.yml
    :queues:
      - critical
      - default
      - exports
    ```
    """

    code = "JL601"
    name = "unprocessed-queue"
    severity = Severity.ERROR
    scope = "project"
    summary = "A job's queue is not processed by any configured worker"
    message = "Queue `{queue}`{implicit} is not processed by any configured worker ({workers})"
    help = "Add the queue to the worker configuration, or use a queue the workers process"
    triggers = ("queue", "deliver_later", "command")

    @classmethod
    def applies_to(cls, source: SourceFile) -> bool:
        return source.is_ruby or source.relpath in schedules.SCHEDULE_FILES

    examples = Examples(
        bad=[
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    sidekiq (7.2.0)
                """,
                "config/sidekiq.yml": """
                :queues:
                  - [critical, 4]
                  - default
                """,
                "config/application.rb": """
                module Shop
                  class Application < Rails::Application
                    config.action_mailer.deliver_later_queue_name = :mailers # expect: JL601
                  end
                end
                """,
                "app/jobs/export_job.rb": """
                class ExportJob < ApplicationJob
                  queue_as :exports # expect: JL601
                  discard_on ActiveJob::DeserializationError

                  def perform(id); end
                end
                """,
                "app/workers/sync_worker.rb": """
                class SyncWorker
                  include Sidekiq::Job
                  sidekiq_options queue: "sync", retry: 3 # expect: JL601

                  def perform(id); end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    solid_queue (1.1.0)
                """,
                "config/application.rb": """
                module Shop
                  class Application < Rails::Application
                    config.active_job.queue_adapter = :solid_queue
                    config.active_job.queue_name_prefix = "shop"
                  end
                end
                """,
                "config/queue.yml": """
                default: &default
                  workers:
                    - queues: [shop_default, shop_mail*, scans]
                production:
                  <<: *default
                """,
                "app/jobs/scan_job.rb": """
                class ScanJob < ApplicationJob
                  queue_as :scans # expect: JL601
                  retry_on Timeout::Error

                  def perform; end
                end
                """,
                "config/recurring.yml": """
                production:
                  nightly_report:
                    class: ReportJob
                    schedule: every day at 3am
                    queue: reports # expect: JL601
                  sweep_sessions:
                    command: "Session.sweep" # expect: JL601
                    schedule: every hour
                """,
                "app/jobs/report_job.rb": """
                class ReportJob < ApplicationJob
                  retry_on Timeout::Error

                  def perform; end
                end
                """,
                "app/controllers/orders_controller.rb": """
                class OrdersController < ApplicationController
                  def create
                    ReportJob.set(queue: :urgent).perform_later # expect: JL601
                    ReportJob.set(queue: :mailers_low).perform_later
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
                "config/application.rb": """
                module Shop
                  class Application < Rails::Application
                    config.load_defaults 6.0
                    config.active_job.queue_adapter = :sidekiq
                  end
                end
                """,
                "config/sidekiq.yml": """
                :queues:
                  - critical
                  - default
                """,
                "app/mailers/application_mailer.rb": """
                class ApplicationMailer < ActionMailer::Base
                  default from: "shop@example.com"
                end
                """,
                "app/mailers/order_mailer.rb": """
                class OrderMailer < ApplicationMailer
                  def receipt
                    mail(to: "orders@example.com")
                  end
                end
                """,
                "app/controllers/orders_controller.rb": """
                class OrdersController < ApplicationController
                  def create
                    OrderMailer.receipt.deliver_later # expect: JL601
                    OrderMailer.receipt.deliver_later(queue: :critical)
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
                """,
                "Procfile": """
                web: bundle exec puma -C config/puma.rb
                worker: QUEUES=default,mailers bundle exec rake jobs:work
                """,
                "docker-compose.yml": """
                services:
                  worker:
                    command: bundle exec rake jobs:work
                    environment:
                      - QUEUES=default,mailers,imports
                """,
                "config/initializers/delayed_job.rb": """
                Delayed::Worker.default_queue_name = "low" # expect: JL601
                """,
                "app/jobs/export_job.rb": """
                class ExportJob < ApplicationJob
                  queue_as :exports # expect: JL601

                  def perform(id); end
                end
                """,
                "app/jobs/report_job.rb": """
                ReportJob = Struct.new(:id) do
                  def perform; end
                end
                """,
                "app/models/user.rb": """
                class User < ApplicationRecord
                  def report
                    Delayed::Job.enqueue(ReportJob.new(id), queue: "reports") # expect: JL601
                    Delayed::Job.enqueue(ReportJob.new(id))
                    delay(queue: "imports").import!
                  end

                  def import!; end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    resque (2.6.0)
                """,
                "Procfile": """
                worker: QUEUE=critical,default bundle exec rake resque:work
                """,
                "app/jobs/digest_job.rb": """
                class DigestJob
                  @queue = :digests # expect: JL601

                  def self.perform(id); end
                end
                """,
                "app/models/account.rb": """
                class Account < ApplicationRecord
                  def close!
                    Resque.enqueue_to(:critical, DigestJob, id)
                    Resque.enqueue_to("cleanup", DigestJob, id) # expect: JL601
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
                "Procfile": """
                worker: QUEUES=default,mailers bundle exec rake jobs:work
                slow: bin/delayed_job --pool=exports,reports:2 run
                """,
                "app/jobs/export_job.rb": """
                class ExportJob < ApplicationJob
                  queue_as :exports

                  def perform(id); end
                end
                """,
                "app/models/user.rb": """
                class User < ApplicationRecord
                  def report
                    delay(queue: "reports").build_report
                  end

                  def build_report; end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    resque (2.6.0)
                """,
                "Procfile": """
                worker: QUEUE=$RESQUE_QUEUES bundle exec rake resque:work
                """,
                "app/jobs/digest_job.rb": """
                class DigestJob
                  @queue = :digests  # the worker's list comes from the environment: unknown

                  def self.perform(id); end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    delayed_job (4.1.13)
                """,
                "Procfile": """
                worker: QUEUES=default bundle exec rake jobs:work
                all: bundle exec rake jobs:work
                """,
                "app/jobs/export_job.rb": """
                class ExportJob < ApplicationJob
                  queue_as :exports  # the second worker has no list: it works every queue
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    sidekiq (7.2.0)
                """,
                "config/sidekiq.yml": """
                :queues:
                  - default
                production:
                  :queues:
                    - [critical, 4]
                    - default
                    - <%= ENV.fetch("EXTRA_QUEUE", "bulk") %>
                """,
                "app/jobs/export_job.rb": """
                class ExportJob < ApplicationJob
                  queue_as :exports
                  retry_on Timeout::Error

                  def perform(id); end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    solid_queue (1.1.0)
                """,
                "config/queue.yml": """
                production:
                  workers:
                    - queues: [critical, "mail*"]
                    - threads: 3
                """,
                "config/recurring.yml": """
                production:
                  sweep_sessions:
                    command: "Session.sweep"
                    queue: critical
                    schedule: every hour
                """,
                "app/mailers/invoice_mailer.rb": """
                class InvoiceMailer < ActionMailer::Base
                  def overdue = mail(to: "billing@example.com", subject: "Overdue")
                end
                """,
                "app/controllers/invoices_controller.rb": """
                class InvoicesController < ApplicationController
                  def remind
                    InvoiceMailer.overdue.deliver_later # no Rails version: the mail queue is unknown
                  end
                end
                """,
                "app/jobs/export_job.rb": """
                class ExportJob < ApplicationJob
                  queue_as :exports
                  retry_on Timeout::Error

                  def perform(id)
                    ExportJob.set(queue: "mailers").perform_later(id)
                    ExportJob.set(queue: priority_queue).perform_later(id)
                  end
                end
                """,
            },
            {
                "Gemfile.lock": """
                GEM
                  specs:
                    railties (7.2.1)
                    solid_queue (1.1.0)
                """,
                "config/application.rb": """
                module Shop
                  class Application < Rails::Application
                    config.load_defaults 7.2
                  end
                end
                """,
                "config/queue.yml": """
                production:
                  workers:
                    - queues: [default, low]
                """,
                "app/mailers/application_mailer.rb": """
                class ApplicationMailer < ActionMailer::Base
                  default from: "shop@example.com"
                end
                """,
                "app/mailers/digest_mailer.rb": """
                class DigestMailer < ApplicationMailer
                  self.deliver_later_queue_name = :low

                  def weekly
                    mail(to: "digest@example.com")
                  end
                end
                """,
                "app/mailers/welcome_mailer.rb": """
                class WelcomeMailer < ApplicationMailer
                  def hello
                    mail(to: "welcome@example.com")
                  end
                end
                """,
                "app/jobs/digest_job.rb": """
                class DigestJob < ApplicationJob
                  retry_on Net::OpenTimeout

                  def perform(email)
                    DigestMailer.with(email: email).weekly.deliver_later
                    WelcomeMailer.with(email: email).hello.deliver_later
                  end
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        if source.in_dir(*TEST_DIRS):
            return
        config = queues.queue_config(app)
        if source.is_ruby:
            for name in queues.queue_names(source, app) + queues.mail_delivery_queues(source, app):
                yield from self._verdict(config, name.name, name.native_sidekiq, name.start_byte,
                                         name.end_byte, name.owner or "", name.implicit)
            for queue in native_jobs.native_queue_names(app, source):
                processed, workers = config.processed_natively(queue.name, queue.kind.value)
                if processed is False and workers is not None:
                    yield Hit(queue.start_byte, queue.end_byte,
                              {"queue": queue.name, "workers": workers.describe(), "implicit": ""},
                              scope=queue.owner, anchor=queue.name)
            return
        for entry in schedules.entries_in(app, source):
            written, command = entry.queue, entry.command
            if written is not None:
                native = not schedules.through_active_job(entry, app)
                yield from self._verdict(config, written.text, native, written.start_byte,
                                         written.end_byte, entry.label)
            elif command is not None and (queue := queues.recurring_command_queue(entry, app)):
                yield from self._verdict(config, queue, False, command.start_byte, command.end_byte,
                                         entry.label, RECURRING_COMMAND)

    @staticmethod
    def _verdict(config: queues.QueueConfig, name: str, native: bool, start: int, end: int,
                 scope: str, implicit: str = "") -> Iterator[Hit]:
        processed, workers = config.processed(name, native)
        if processed is False and workers is not None:
            yield Hit(start, end, {"queue": name, "workers": workers.describe(),
                                   "implicit": f" ({implicit})" if implicit else ""},
                      scope=scope, anchor=f"implicit:{name}" if implicit else name)
