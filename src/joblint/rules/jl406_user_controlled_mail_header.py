from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .. import ruby
from ..findings import Hit, Severity
from ..rails.app import App
from ..rails.mailers import is_mailer, mailer_action_calls
from ..ruby import Node
from ..source import SourceFile
from . import Examples, Rule, register
from ._arguments import assigned_value, contains_request_value, parts

HEADER_KEYS = ("to", "from", "cc", "bcc", "reply_to")
DELIVERIES = frozenset(
    {"deliver_later", "deliver_now", "deliver_later!", "deliver_now!", "deliver", "deliver!",
     "with", "new", "method", "respond_to?", "send", "public_send", "default", "name"}
)


def _header_uses(source: SourceFile) -> Iterator[tuple[Node, Node | None, Node | None]]:
    """(pair, None, None) for each `key: value` of a receiver-less `mail(...)` call, and
    (assignment, target, value) for each `headers[...] = value`: what the query
    `(call !receiver method: (identifier) @method (#eq? @method "mail") arguments:
    (argument_list (pair) @pair))` and `(assignment left: (element_reference object:
    (identifier) @headers (#eq? @headers "headers")) @target right: (_) @value) @assign`
    find, without compiling it."""
    for call in ruby.calls_below(source.root, ("mail",), receiver=False):
        arguments = call.child_by_field_name("arguments")
        if arguments is not None and arguments.type == "argument_list":
            for pair in arguments.named_children:
                if pair.type == "pair":
                    yield pair, None, None
    for name, path in ruby.identifiers_named(source.root, source.data, ("headers",)):
        if len(path) < 2 or len(path) - 2 > ruby.MAX_ASCENT:
            continue
        target, assignment = path[-1], path[-2]
        value = assignment.child_by_field_name("right")
        if (target.type == "element_reference" and ruby.is_child(target, "object", name)
                and assignment.type == "assignment" and ruby.is_child(assignment, "left", target)
                and value is not None):
            yield assignment, target, value
Slot = tuple[str, object]  # ("position", 0) | ("keyword", "email") | ("with", "email")


@dataclass(frozen=True)
class RequestFill:
    """A request-path mailer call that fills one slot of an action with request data."""

    mailer: str
    action: str
    slot: Slot
    path: str
    line: int
    value: str  # the request expression as written


@register
class UserControlledMailHeader(Rule):
    """
    ## What it does
    Finds a mail header chosen by the web request: a mailer action uses one of its parameters
    (or `params[:key]` of `.with(key: …)`) directly as `to:`, `from:`, `cc:`, `bcc:` or
    `reply_to:` of `mail(...)`, or in `headers[...] =`, and a call in the request path
    (`app/controllers`, `app/graphql`, `app/channels`) passes `params[...]` or `request.*`
    into exactly that parameter. The finding points at the header in the mailer and names the
    request-path call.

    ## Why is this bad?
    Whoever sends the request chooses who receives the mail, or whom it claims to come from:
    the app becomes a spam relay for mail sent under its own domain and reputation, or a tool
    to spoof a sender (CWE-93). The mail gem strips CR/LF from header values, so the practical
    risk is the choice of recipients and senders, not raw header injection.

    Values derived from records (`user.email`, `params[:user].email` — a method of an object
    looked up, not the text sent) are not reported, nor are mailer parameters that no
    request-path call fills from request data. A value used inside an interpolated string
    (`"#{name} <#{email}>"`) or an array counts; a local or instance variable assigned from
    the parameter in the action counts too. Request data is `params[...]` (also through
    `require`/`permit`/`fetch`/`dig` and strong-parameter methods named `*_params`) and
    `request.*`, used directly or through a local variable of the calling method.

    A membership guard earlier in the action (`raise … unless ALLOWED.include?(params[:to])`,
    `return head(:bad_request) unless params[:to].in?(TEAM)`) sanitises the value: the mailer
    gets one of a fixed list, and the call is not reported.

    ## Example
    ```ruby
    # app/controllers/invites_controller.rb
    InviteMailer.invite(params[:email]).deliver_later

    # app/mailers/invite_mailer.rb
    def invite(email)
      mail(to: email)
    end
    ```

    ## Use instead
    ```ruby
    invite = current_account.invites.create!(email: params[:email])  # validated, rate-limited
    InviteMailer.invite(invite).deliver_later

    def invite(invite)
      mail(to: invite.email)
    end
    ```
    """

    code = "JL406"
    name = "user-controlled-mail-header"
    severity = Severity.WARNING
    scope = "project"
    summary = "A mail recipient or sender taken from request data"
    message = "`{header}` of `{action}` is {value}, filled from request data at {site}"
    help = "Send to addresses of records the app validated, never to raw request values"
    triggers = ("mail", "headers")
    tags = ("security",)
    cwe = 93

    examples = Examples(
        bad=[
            {
                "app/mailers/application_mailer.rb": """
                class ApplicationMailer < ActionMailer::Base
                  default from: "team@example.com"
                end
                """,
                "app/mailers/invite_mailer.rb": """
                class InviteMailer < ApplicationMailer
                  def invite(email, note)
                    @note = note
                    mail(to: email, subject: "You are invited") # expect: JL406
                  end

                  def share
                    mail(to: "x@example.com", reply_to: params[:reply_to]) # expect: JL406
                  end
                end
                """,
                "app/controllers/invites_controller.rb": """
                class InvitesController < ApplicationController
                  def create
                    InviteMailer.invite(params[:email], params[:note]).deliver_later
                    InviteMailer.with(reply_to: params.require(:share)[:from]).share.deliver_later
                  end
                end
                """,
            },
            {
                "app/mailers/contact_mailer.rb": """
                class ContactMailer < ApplicationMailer
                  def contact(from:, body:)
                    sender = from
                    headers["Reply-To"] = "#{sender}" # expect: JL406
                    mail(to: "support@example.com", body: body)
                  end
                end
                """,
                "app/graphql/mutations/contact.rb": """
                module Mutations
                  class Contact < BaseMutation
                    def resolve(body:)
                      address = request.headers["X-Contact"]
                      ContactMailer.contact(from: address, body: body).deliver_later
                    end
                  end
                end
                """,
            },
        ],
        good=[
            {
                "app/controllers/support_controller.rb": """
                class SupportController < ApplicationController
                  TEAMS = %w[billing@example.com help@example.com].freeze

                  def create
                    team = params[:team]
                    return head(:bad_request) unless TEAMS.include?(team)
                    SupportMailer.ticket(team, params[:body]).deliver_later
                  end
                end
                """,
                "app/mailers/support_mailer.rb": """
                class SupportMailer < ApplicationMailer
                  def ticket(team, body)
                    @body = body
                    mail(to: team, subject: "Support request")
                  end
                end
                """,
                "app/views/support_mailer/ticket.text.erb": "<%= @body %>\n",
            },
            {
                "app/mailers/invite_mailer.rb": """
                class InviteMailer < ApplicationMailer
                  def invite(user, note)
                    mail(to: user.email, subject: note)
                  end

                  def share
                    mail(to: params[:user].email, reply_to: params[:reply_to])
                  end
                end
                """,
                "app/controllers/invites_controller.rb": """
                class InvitesController < ApplicationController
                  def create
                    InviteMailer.invite(User.find(params[:id]), params[:note]).deliver_later
                    reply_to = current_user.email
                    InviteMailer.with(user: current_user, reply_to: reply_to).share.deliver_later
                  end
                end
                """,
            },
            {
                "app/mailers/invite_mailer.rb": """
                class InviteMailer < ApplicationMailer
                  def invite(email)
                    mail(to: email)
                  end
                end
                """,
                "app/jobs/invite_job.rb": """
                class InviteJob < ApplicationJob
                  retry_on Net::SMTPServerBusy

                  def perform(params)
                    InviteMailer.invite(params[:email]).deliver_now
                  end
                end
                """,
                "app/controllers/invites_controller.rb": """
                class InvitesController < ApplicationController
                  def create
                    invite = Invite.create!(email: params[:email])
                    InviteMailer.invite(invite.email).deliver_later
                  end
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        if not any(is_mailer(app.classes, d.name) for d in app.definitions_in(source)):
            return
        fills = app.fact("request_mailer_fills", request_mailer_fills)
        if not fills:
            return
        for node, target, assigned in _header_uses(source):
            if target is None:
                header = ruby.pair_key(node)
                if header not in HEADER_KEYS:
                    continue
                value = node.child_by_field_name("value")
                header_text = f"{header}:"
            else:
                value = assigned
                header_text = ruby.text(target)
            if value is None:
                continue
            method = ruby.enclosing(node, ruby.METHOD_TYPES)
            owner = app.enclosing_class(node)
            if method is None or owner is None or not is_mailer(app.classes, owner):
                continue
            action = ruby.method_name(method)
            for slot, used in _slots(value, method):
                fill = _first_fill(fills, app, owner, action, slot)
                if fill is not None:
                    yield Hit.at(
                        node,
                        header=header_text,
                        action=f"{owner}#{action}",
                        value=f"`{used}`",
                        site=f"{fill.path}:{fill.line} (`{fill.value}`)",
                    )
                    break


def _first_fill(
    fills: list[RequestFill], app: App, owner: str, action: str, slot: Slot
) -> RequestFill | None:
    for fill in fills:
        same_action = fill.action == action and fill.slot == slot
        if same_action and owner in app.classes.lineage(fill.mailer):
            return fill
    return None


def _slots(value: Node, method: Node) -> Iterator[tuple[Slot, str]]:
    """The action's inputs a header value is made of: its parameters (by position or keyword)
    and `params[:key]`, also inside arrays and interpolated strings."""
    if value.type in ("array", "string"):
        for part in parts(value):
            yield from _slots(part, method)
        return
    source = assigned_value(value)
    if source.type == "identifier":
        slot = _parameter_slot(ruby.text(source), method)
        if slot is not None:
            yield slot, ruby.text(value)
    elif source.type == "element_reference":
        obj = source.named_children[0]
        keys = source.named_children[1:]
        if ruby.text(obj) == "params" and len(keys) == 1:
            key = ruby.string_value(keys[0])
            if key is not None:
                yield ("with", key), ruby.text(value)
    elif source.type == "call" and ruby.call_method(source) == "fetch":
        receiver = ruby.call_receiver(source)
        args = ruby.call_arguments(source)
        if receiver is not None and ruby.text(receiver) == "params" and args:
            key = ruby.string_value(args[0])
            if key is not None:
                yield ("with", key), ruby.text(value)


def _parameter_slot(name: str, method: Node) -> Slot | None:
    params = method.child_by_field_name("parameters")
    position = 0
    for param in params.named_children if params is not None else ():
        if param.type in ("identifier", "optional_parameter"):
            name_node = param if param.type == "identifier" else param.child_by_field_name("name")
            param_name = ruby.text(name_node)
            if param_name == name:
                return ("position", position)
            position += 1
        elif param.type == "keyword_parameter":
            if ruby.text(param.child_by_field_name("name")) == name:
                return ("keyword", name)
        elif param.type == "splat_parameter":
            return None  # positions after a splat are not knowable
    return None


def request_mailer_fills(app: App) -> list[RequestFill]:
    """Every request-path mailer call that passes request data into an action's argument."""
    fills: list[RequestFill] = []
    for source in app.model_files:
        data = source.data
        if not app.in_request_path(source) or b"Mailer" not in data:
            continue
        if b"params" not in data and b"request" not in data:
            continue  # no request data to pass on
        for call in mailer_action_calls(source, app):
            action = ruby.call_method(call)
            if action in DELIVERIES:
                continue
            receiver = ruby.call_receiver(call)
            with_call = receiver if receiver is not None and receiver.type == "call" else None
            written = ruby.constant_path(ruby.call_receiver(with_call) if with_call else receiver)
            if written is None:
                continue
            mailer = app.classes.resolve(written, app.lexical_scope(call))
            if mailer not in app.classes or not is_mailer(app.classes, mailer):
                continue
            slots = list(_call_slots(call))
            if with_call is not None:
                with_args = _call_slots(with_call)
                slots += [(("with", key), v) for (kind, key), v in with_args if kind == "keyword"]
            for slot, value in slots:
                if contains_request_value(value) and not _membership_checked(value, call):
                    line = source.position(value.start_byte).line
                    fills.append(
                        RequestFill(mailer, action, slot, source.relpath, line, _shown(value))
                    )
    return fills


MEMBERSHIP = frozenset({"include?", "in?", "member?", "key?", "has_key?"})


def _membership_checked(value: Node, call: Node) -> bool:
    """Before the call, the method checks the value against a fixed list
    (`raise unless ALLOWED.include?(params[:to])`, `params[:to].in?(TEAM)`): the value that
    reaches the mailer is one of those, not whatever the user typed."""
    method = ruby.enclosing(call, ruby.METHOD_TYPES)
    if method is None:
        return False
    names = {ruby.text(value)}
    if value.type == "identifier":
        assigned = ruby.last_assignment(ruby.text(value), value)
        if assigned is not None:
            names.add(ruby.text(assigned))
    for check in ruby.descendants(method, {"call"}):
        if check.start_byte >= call.start_byte or ruby.call_method(check) not in MEMBERSHIP:
            continue
        receiver = ruby.call_receiver(check)
        checked = [*ruby.call_arguments(check), *([receiver] if receiver is not None else [])]
        if any(ruby.text(node) in names for node in checked):
            return True
    return False


def _call_slots(call: Node) -> Iterator[tuple[Slot, Node]]:
    position = 0
    for arg in ruby.call_arguments(call):
        if arg.type == "pair":
            key = ruby.pair_key(arg)
            value = arg.child_by_field_name("value")
            if key is not None and value is not None:
                yield ("keyword", key), value
        elif arg.type in ("splat_argument", "hash_splat_argument", "block_argument"):
            if arg.type == "splat_argument":
                return
        else:
            yield ("position", position), arg
            position += 1


def _shown(value: Node) -> str:
    """`params[:to]`, or `to = params[:to]` for a variable, as the message shows it."""
    origin = assigned_value(value)
    if origin is value:
        return ruby.text(value)
    return f"{ruby.text(value)} = {ruby.text(origin)}"
