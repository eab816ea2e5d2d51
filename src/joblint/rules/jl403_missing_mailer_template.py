from __future__ import annotations

from collections.abc import Iterator

from ..findings import Hit, Severity
from ..rails.app import App
from ..rails.mailers import (
    has_dynamic_actions,
    is_project_mailer,
    mail_calls,
    template_folders,
    view_templates,
)
from ..source import SourceFile
from . import Examples, Rule, register


def _called_by_other_methods(app: App, name: str) -> set[str]:
    """Names called without a receiver by the methods of the mailer and of its subclasses: a
    public method that others call is a helper, not an action of its own."""
    called: set[str] = set()
    pending, seen = [name], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        pending.extend(app.classes.subclasses(current))
        for definition in app.classes.definitions.get(current, ()):
            for method in definition.methods.values():
                called |= method.calls - {method.name}
    return called


@register
class MissingMailerTemplate(Rule):
    """
    ## What it does
    Finds a public mailer action that calls `mail(...)` without a block, `body:`,
    `html:`/`text:` or `template_name:`, when no template named after the action exists in
    `app/views/<mailer path>/` — or in the `template_path:` of the `mail` call, or the mailer's
    `default template_path:`. Any handler, format, locale or variant counts (`.html.erb`,
    `.text.erb`, `.mjml`, `.haml`, `.slim`, `welcome.de.html.erb`…); engines' `app/views`
    count too.

    ## Why is this bad?
    `mail` raises `ActionView::MissingTemplate` when it finds no template — at delivery time,
    that is inside the `deliver_later` job, after the request that triggered it returned
    successfully. Every retry fails the same way.

    A public method that other methods of the mailer (or of its subclasses) call is a helper:
    its `mail` renders the calling action's template, so it is not checked itself.
    `append_view_path`/`prepend_view_path` folders inside `app/views` are searched too, and a
    template for an action of a base mailer is also looked for under its subclasses' paths.
    Silent when the app has no `app/views`, for mailers that inherit a gem's mailer, and for
    mailers whose actions or views are not static (`method_missing`, `define_method`, `alias`,
    `class << self`, a custom `mailer_name`, a view path outside `app/views` or computed).

    Not reported either: `mail(template: …)` (and `template_alias:`, `template_id:`,
    `template_model:`), which name a template the mail provider renders, and mailers that
    define or override `mail` themselves or in a project ancestor: their own `mail` decides
    what is rendered.

    ## Example
    ```ruby
    class UserMailer < ApplicationMailer
      def welcome(user)
        mail(to: user.email)   # and no app/views/user_mailer/welcome.*
      end
    end
    ```

    ## Use instead
    ```ruby
    # add app/views/user_mailer/welcome.html.erb (and .text.erb), or render inline:
    mail(to: user.email) { |format| format.text { render plain: "Welcome!" } }
    ```
    """

    code = "JL403"
    name = "missing-mailer-template"
    severity = Severity.ERROR
    scope = "project"
    summary = "A mailer action with no template to render"
    message = "`{mailer}#{action}` calls `mail` but no template `{looked}.*` exists: ActionView::MissingTemplate in the delivery job"
    help = "Add the template under app/views, or give mail a block, body: or template_name:"
    triggers = ("mail",)

    examples = Examples(
        bad=[
            {
                "app/mailers/application_mailer.rb": """
                class ApplicationMailer < ActionMailer::Base
                end
                """,
                "app/mailers/user_mailer.rb": """
                class UserMailer < ApplicationMailer
                  def welcome(user) # expect: JL403
                    mail(to: user.email, subject: "Welcome")
                  end

                  def goodbye(user)
                    mail(to: user.email)
                  end
                end
                """,
                "app/views/user_mailer/goodbye.text.erb": "Bye\n",
            },
            {
                "app/mailers/admin/report_mailer.rb": """
                module Admin
                  class ReportMailer < ApplicationMailer
                    default template_path: "mailers/reports"

                    def daily # expect: JL403
                      mail(to: "ops@example.com")
                    end

                    def weekly
                      mail(to: "ops@example.com", template_path: "admin/report_mailer")
                    end
                  end
                end
                """,
                "app/mailers/application_mailer.rb": "class ApplicationMailer < ActionMailer::Base\nend\n",
                "app/views/admin/report_mailer/daily.html.erb": "<p>wrong folder</p>\n",
                "app/views/admin/report_mailer/weekly.html.erb": "<p>weekly</p>\n",
            },
        ],
        good=[
            {
                "app/mailers/application_mailer.rb": """
                class ApplicationMailer < ActionMailer::Base
                  def mail(headers = {}, &block)
                    headers[:template_path] ||= "mailers/shared"
                    super
                  end
                end
                """,
                "app/mailers/receipt_mailer.rb": """
                class ReceiptMailer < ApplicationMailer
                  def paid(order)
                    mail(to: order.email)
                  end
                end
                """,
                "app/mailers/postmark_mailer.rb": """
                class PostmarkMailer < ApplicationMailer
                  def welcome(user)
                    mail(to: user.email, template_alias: "welcome", template_model: { name: user.name })
                  end
                end
                """,
            },
            {
                "app/mailers/application_mailer.rb": "class ApplicationMailer < ActionMailer::Base\nend\n",
                "app/mailers/user_mailer.rb": """
                class UserMailer < ApplicationMailer
                  def welcome(user)
                    mail(to: user.email)
                  end

                  def ping(user)
                    mail(to: user.email, body: "pong")
                  end

                  def report(user)
                    mail(to: user.email) do |format|
                      format.text { render plain: "report" }
                    end
                  end

                  private

                  def helper_mail
                    mail(to: "x@example.com")
                  end
                end
                """,
                "app/views/user_mailer/welcome.de.mjml": "<mjml></mjml>\n",
            },
            {
                "app/mailers/notifier_mailer.rb": """
                class NotifierMailer < Devise::Mailer
                  def confirmation(record)
                    mail(to: record.email)
                  end
                end
                """,
                "app/mailers/order_mailer.rb": """
                class OrderMailer < ApplicationMailer
                  default template_path: "mailers/orders"

                  def shipped(order)
                    mail(to: order.email)
                  end

                  def custom(order)
                    mail(to: order.email, template_name: "shipped")
                  end
                end
                """,
                "app/mailers/application_mailer.rb": "class ApplicationMailer < ActionMailer::Base\nend\n",
                "app/views/mailers/orders/shipped.text.haml": "Shipped\n",
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        templates = None
        for definition in app.definitions_in(source):
            name = definition.name
            if definition.is_module or not is_project_mailer(app.classes, name, strict=False):
                continue
            actions = [m for m in definition.methods.values() if m.visibility == "public"]
            if not actions or has_dynamic_actions(app, name):
                continue
            if app.classes.find_method(name, "mail") is not None:
                continue  # the mailer's own `mail` decides what is rendered
            if templates is None:
                templates = view_templates(app)
                if templates is None:
                    return
            folders = template_folders(app, name)
            if folders is None:
                continue
            helpers = _called_by_other_methods(app, name)
            for action in actions:
                if action.name in helpers:
                    continue  # `mail` runs under the calling action's name and template
                node = source.root.descendant_for_byte_range(action.start_byte, action.end_byte)
                while node is not None and node.type != "method":
                    node = node.parent
                if node is None:
                    continue
                calls = mail_calls(node)
                if not calls or any(c.renders_inline or c.dynamic for c in calls):
                    continue
                for call in calls:
                    paths = call.template_path or folders
                    if not any(f"{p.strip('/')}/{action.name}" in templates for p in paths):
                        name_node = node.child_by_field_name("name")
                        yield Hit(
                            node.start_byte,
                            (name_node or node).end_byte,
                            {
                                "mailer": name,
                                "action": action.name,
                                "looked": f"app/views/{paths[0].strip('/')}/{action.name}",
                            },
                            scope=f"{name}#{action.name}",
                            anchor=action.name,
                        )
                        break
