from __future__ import annotations

from collections.abc import Iterator

from ..findings import Hit, Severity
from ..rails.app import App
from ..rails.mailboxes import TEST_DIRS, routes
from ..rails.mailers import constant_assigned
from ..source import SourceFile
from . import Examples, Rule, register


@register
class UnknownMailbox(Rule):
    """
    ## What it does
    Finds a `routing` rule of Action Mailbox — `routing /^replies@/i => :replies`,
    `routing all: :backstop`, `routing ->(email) { … } => :support` — whose mailbox the project
    does not define: the route names `:replies`, Action Mailbox looks up `RepliesMailbox`
    (`"#{name.to_s.camelize}Mailbox"`, so `"admin/replies"` is `Admin::RepliesMailbox`, and
    the app's `inflect.acronym`s apply), and no such class exists.

    ## Why is this bad?
    Routes are resolved only when an email arrives: the routing job raises `NameError`, the
    inbound email is never processed, and every email matching that route (for `all:`,
    every email the earlier routes did not take) fails the same way. Nothing fails at boot or
    in a test that does not deliver a matching email.

    A class as the mailbox name (`=> RepliesMailbox`) is looked up as `RepliesMailboxMailbox`
    and reported too. Silent for names built at run time (a variable, an interpolated symbol),
    for `routing` inside a method or in `test/`, `spec/` or `features/`, for constants
    assigned rather than defined with `class`, and when the app's acronyms cannot be read.

    ## Example
    ```ruby
    class ApplicationMailbox < ActionMailbox::Base
      routing /^replies@/i => :reply   # but the class is RepliesMailbox
    end
    ```

    ## Use instead
    ```ruby
    class ApplicationMailbox < ActionMailbox::Base
      routing /^replies@/i => :replies
    end
    ```
    """

    code = "JL407"
    name = "unknown-mailbox"
    severity = Severity.ERROR
    scope = "project"
    summary = "An Action Mailbox route naming a mailbox class that does not exist"
    message = "This route sends mail to `{mailbox}`, which the project does not define: NameError in the routing job for every matching email"
    help = "Name an existing mailbox (`:replies` → RepliesMailbox) or add the mailbox class"
    triggers = ("routing",)

    examples = Examples(
        bad=[
            {
                "app/mailboxes/application_mailbox.rb": """
                class ApplicationMailbox < ActionMailbox::Base
                  routing /^replies@/i => :reply # expect: JL407
                  routing "help@example.com" => "support/tickets" # expect: JL407
                  routing all: :backstop
                end
                """,
                "app/mailboxes/replies_mailbox.rb": """
                class RepliesMailbox < ApplicationMailbox
                  def process
                    Reply.create!(body: mail.decoded)
                  end
                end
                """,
                "app/mailboxes/backstop_mailbox.rb": """
                class BackstopMailbox < ApplicationMailbox
                  def process
                    bounced!
                  end
                end
                """,
            },
            {
                "app/mailboxes/application_mailbox.rb": """
                class ApplicationMailbox < ActionMailbox::Base
                  routing ->(inbound_email) { inbound_email.mail.to.size > 2 } => :bulk # expect: JL407
                  routing ForwardsMailbox => :forwards
                  routing(/^receipts/i => ReceiptsMailbox) # expect: JL407
                end
                """,
                "app/mailboxes/forwards_mailbox.rb": """
                class ForwardsMailbox < ApplicationMailbox
                  def self.match?(inbound_email)
                    inbound_email.mail.subject.to_s.start_with?("Fwd:")
                  end

                  def process
                    Forward.create!(source: mail.from.first)
                  end
                end
                """,
                "app/mailboxes/receipts_mailbox.rb": """
                class ReceiptsMailbox < ApplicationMailbox
                  def process
                    Receipt.create!(raw: mail.decoded)
                  end
                end
                """,
            },
        ],
        good=[
            {
                "config/application.rb": """
                module Helpdesk
                  class Application < Rails::Application
                    config.load_defaults 7.1
                  end
                end
                """,
                "config/initializers/inflections.rb": """
                ActiveSupport::Inflector.inflections(:en) do |inflect|
                  inflect.acronym "CRM"
                end
                """,
                "app/mailboxes/application_mailbox.rb": """
                class ApplicationMailbox < ActionMailbox::Base
                  routing /^crm@/i => :crm_sync
                  routing "help@example.com" => "support/tickets"
                  routing all: :backstop
                end
                """,
                "app/mailboxes/crm_sync_mailbox.rb": """
                class CRMSyncMailbox < ApplicationMailbox
                  def process
                    Crm.import(mail)
                  end
                end
                """,
                "app/mailboxes/support/tickets_mailbox.rb": """
                module Support
                  class TicketsMailbox < ApplicationMailbox
                    def process
                      Ticket.open_from(mail)
                    end
                  end
                end
                """,
                "app/mailboxes/backstop_mailbox.rb": """
                class BackstopMailbox < ApplicationMailbox
                  def process
                    bounced!
                  end
                end
                """,
            },
            {
                "app/mailboxes/application_mailbox.rb": """
                class ApplicationMailbox < ActionMailbox::Base
                  TENANTS.each do |tenant|
                    routing(/^#{tenant}@/i => :"#{tenant}_inbox")
                  end
                  routing all: BACKSTOP_NAME
                  routing /^legacy@/i => :legacy
                end
                """,
                "app/mailboxes/legacy_mailbox.rb": """
                LegacyMailbox = Class.new(ApplicationMailbox) do
                  def process
                    bounced!
                  end
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        if b"Mailbox" not in source.data or source.in_dir(*TEST_DIRS):
            return
        for route in routes(app, source.root):
            if route.mailbox in app.classes or constant_assigned(app, route.mailbox):
                continue
            yield Hit.at(route.target, mailbox=route.mailbox)
