from __future__ import annotations

from collections.abc import Iterator

from ..findings import Hit, Severity
from ..rails.app import App
from ..rails.mailboxes import TEST_DIRS, does_other_work, is_project_mailbox
from ..source import SourceFile
from . import Examples, Rule, register


@register
class MailboxWithoutProcess(Rule):
    """
    ## What it does
    Finds an Action Mailbox class — its ancestry reaches `ActionMailbox::Base` — that has no
    `process` method of its own, from a project ancestor or from an included project module.

    ## Why is this bad?
    `ActionMailbox::Base#process` is empty. A mailbox without its own `process` receives the
    email, runs nothing, and marks the inbound email `delivered`: the mail is dropped with
    every sign of success — a renamed method (`def processs`, `def perform`) is enough.

    Not reported: `ApplicationMailbox` and any mailbox other project mailboxes inherit (an
    abstract base), throwaway mailboxes in `test/`, `spec/` or `features/`, mailboxes whose chain includes a gem's class or module (it may define
    `process`), and mailboxes that may do their work elsewhere — processing callbacks
    (`before_processing`, `after_processing`, `around_processing`), an override of
    `receive` or `perform_processing`, or methods made at run time (`define_method`,
    `alias`, `method_missing`) anywhere in the chain.

    ## Example
    ```ruby
    class RepliesMailbox < ApplicationMailbox
      def perform
        Reply.create!(body: mail.decoded)
      end
    end
    ```

    ## Use instead
    ```ruby
    class RepliesMailbox < ApplicationMailbox
      def process
        Reply.create!(body: mail.decoded)
      end
    end
    ```
    """

    code = "JL408"
    name = "mailbox-without-process"
    severity = Severity.ERROR
    scope = "project"
    summary = "A mailbox with no process method: routed mail is marked delivered and dropped"
    message = "`{mailbox}` has no `process` method: routed emails are marked delivered and nothing is done with them"
    help = "Define `process` (ActionMailbox::Base#process does nothing)"
    triggers = ("Mailbox",)

    examples = Examples(
        bad=[
            {
                "app/mailboxes/application_mailbox.rb": """
                class ApplicationMailbox < ActionMailbox::Base
                  routing /^replies@/i => :replies
                  routing all: :backstop
                end
                """,
                "app/mailboxes/replies_mailbox.rb": """
                class RepliesMailbox < ApplicationMailbox # expect: JL408
                  def perform
                    Reply.create!(body: mail.decoded)
                  end
                end
                """,
                "app/mailboxes/backstop_mailbox.rb": """
                class BackstopMailbox < ApplicationMailbox # expect: JL408
                end
                """,
            },
            {
                "app/mailboxes/application_mailbox.rb": """
                class ApplicationMailbox < ActionMailbox::Base
                  routing all: :"support/tickets"
                end
                """,
                "app/mailboxes/concerns/sender_lookup.rb": """
                module SenderLookup
                  def sender
                    User.find_by(email: mail.from.first)
                  end
                end
                """,
                "app/mailboxes/support/tickets_mailbox.rb": """
                module Support
                  class TicketsMailbox < ApplicationMailbox # expect: JL408
                    include SenderLookup

                    private

                    def proces
                      Ticket.create!(user: sender, body: mail.decoded)
                    end
                  end
                end
                """,
            },
        ],
        good=[
            {
                "app/mailboxes/application_mailbox.rb": """
                class ApplicationMailbox < ActionMailbox::Base
                  routing /^replies@/i => :replies
                  routing /^forwards@/i => :forwards
                end
                """,
                "app/mailboxes/base_inbox_mailbox.rb": """
                class BaseInboxMailbox < ApplicationMailbox
                end
                """,
                "app/mailboxes/concerns/creates_replies.rb": """
                module CreatesReplies
                  def process
                    Reply.create!(body: mail.decoded)
                  end
                end
                """,
                "app/mailboxes/replies_mailbox.rb": """
                class RepliesMailbox < BaseInboxMailbox
                  include CreatesReplies
                end
                """,
                "app/mailboxes/forwards_mailbox.rb": """
                class ForwardsMailbox < BaseInboxMailbox
                  private

                  def process
                    Forward.create!(body: mail.decoded)
                  end
                end
                """,
            },
            {
                "app/mailboxes/application_mailbox.rb": """
                class ApplicationMailbox < ActionMailbox::Base
                  routing /^audit@/i => :audit
                  routing /^vendor@/i => :vendor
                  routing /^legacy@/i => :legacy
                end
                """,
                "app/mailboxes/audit_mailbox.rb": """
                class AuditMailbox < ApplicationMailbox
                  after_processing :record_audit

                  private

                  def record_audit
                    AuditLog.create!(message_id: mail.message_id)
                  end
                end
                """,
                "app/mailboxes/vendor_mailbox.rb": """
                class VendorMailbox < ApplicationMailbox
                  include Vendor::InboundHandling
                end
                """,
                "app/mailboxes/legacy_mailbox.rb": """
                class LegacyMailbox < ApplicationMailbox
                  alias_method :process, :handle_legacy

                  def handle_legacy
                    Legacy.import(mail)
                  end
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        if source.in_dir(*TEST_DIRS):
            return
        classes = app.classes
        for definition in app.definitions_in(source):
            name = definition.name
            if definition.is_module or name.rsplit("::", 1)[-1] == "ApplicationMailbox":
                continue
            if not is_project_mailbox(classes, name) or classes.subclasses(name):
                continue
            if classes.find_method(name, "process") is not None or does_other_work(app, name):
                continue
            if definition is not classes.first_definition(name):
                continue  # one finding per class, at the definition that declares its parent
            yield Hit(
                definition.name_start,
                definition.name_end,
                {"mailbox": name},
                scope=name,
                anchor=name.rsplit("::", 1)[-1],
            )
