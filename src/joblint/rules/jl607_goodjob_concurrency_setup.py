from __future__ import annotations

import re
from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..patterns import lazy_pattern
from ..rails import schedules
from ..rails.app import App
from ..ruby import Node
from ..source import SourceFile
from . import Examples, Rule, register

CONCURRENCY = "GoodJob::ActiveJobExtensions::Concurrency"
_CONTROLS = ruby.compile_query(
    """
    (call method: (identifier) @method
      (#eq? @method "good_job_control_concurrency_with")) @call
    """
)
_INCLUDES = ruby.compile_query(
    """
    (call method: (identifier) @method
      (#any-of? @method "include" "prepend" "send" "public_send" "include_module")) @call
    """
)
# Ancestors that are known not to bring the extension (anything else from a gem may).
_KNOWN_EXTERNAL = lazy_pattern(
    r"^(?:ActiveJob::|ActiveSupport::|GoodJob::ActiveJobExtensions::(?!Concurrency$)\w+$|"
    r"(?:Kernel|Comparable|Enumerable|Forwardable|Singleton)$)"
)
# Methods every ActiveJob job answers (ActiveJob::Base and the GoodJob extensions), and the
# methods of Kernel/Object and ActiveSupport's Object extensions a key may call.
JOB_METHODS = frozenset(
    [
        "arguments", "job_id", "queue_name", "priority", "executions", "exception_executions",
        "provider_job_id", "scheduled_at", "enqueued_at", "locale", "timezone",
        "serialized_arguments", "serialize", "deserialize", "successfully_enqueued?",
        "enqueue_error", "enqueue", "perform", "perform_now", "retry_job", "logger",
        "queue_adapter", "run_callbacks", "rescue_with_handler", "handler_for_rescue",
        "executions_for", "good_job_concurrency_key", "good_job_labels", "good_job_notify", "batch",
        "batch?", "puts", "p", "pp", "print", "format", "sprintf", "raise", "fail", "rand", "srand",
        "sleep", "loop", "lambda", "proc", "binding", "caller", "block_given?", "catch", "throw",
        "require", "require_relative", "load", "Integer", "Float", "String", "Array", "Hash",
        "Rational", "Complex", "freeze", "frozen?", "dup", "clone", "itself", "then", "yield_self",
        "tap", "send", "public_send", "__send__", "respond_to?", "method", "methods",
        "instance_variable_get", "instance_variable_set", "instance_variables", "is_a?", "kind_of?",
        "instance_of?", "nil?", "hash", "object_id", "inspect", "to_s", "display", "extend",
        "singleton_class", "define_singleton_method", "instance_exec", "instance_eval", "exit",
        "abort", "warn", "__method__", "__dir__", "present?", "blank?", "presence", "try", "try!",
        "in?", "presence_in", "deep_dup", "duplicable?", "acts_like?", "as_json", "to_json",
        "to_param", "to_query", "instance_values", "with_options", "html_safe?", "it",
    ]
)
_BINDING_PARENTS = frozenset(
    {
        "block_parameters", "lambda_parameters", "method_parameters", "optional_parameter",
        "keyword_parameter", "splat_parameter", "hash_splat_parameter", "block_parameter",
        "destructured_parameter", "exception_variable", "left_assignment_list", "rest_assignment",
        "destructured_left_assignment",
    }
)
_CONDITIONALS = frozenset(
    {"if", "unless", "if_modifier", "unless_modifier", "conditional", "case", "rescue_modifier"}
)
_ASSIGNMENTS = frozenset({"assignment", "operator_assignment"})
_NUMBERED_PARAMETER = lazy_pattern(r"^_\d$")
_HARD_SCOPES = frozenset({"method", "singleton_method", "class", "module", "singleton_class"})


@register
class GoodJobConcurrencySetup(Rule):
    """
    ## What it does
    Checks each `good_job_control_concurrency_with` in a job:

    - the job must include `GoodJob::ActiveJobExtensions::Concurrency` — itself, before the
      call, or through a project ancestor or concern (`ApplicationJob` counts);
    - its `key:` lambda must only call what the job answers: GoodJob evaluates the lambda with
      `instance_exec` on the job, without arguments. A bare name in the lambda that is neither
      a method of the job's class chain (`def`, `attr_reader`, `delegate`…), nor an ActiveJob
      method (`arguments`, `job_id`, `queue_name`…), nor a Kernel/Object method, nor a local
      variable or parameter, is reported — typically a `perform` parameter
      (`key: -> { account_id }`). A lambda that takes parameters (`->(account_id) { … }`, the
      Solid Queue way) is reported too.

    ## Why is this bad?
    `good_job_control_concurrency_with` is defined by the extension module, not by ActiveJob:
    without the `include`, the class body raises `NoMethodError` when the class loads, so every
    enqueue and perform of the job fails. A key lambda that calls an undefined name, or that
    expects arguments GoodJob does not pass, raises (`NameError`, `ArgumentError`) in the
    `before_enqueue` callback: `perform_later` fails every time.

    The rule is silent when it cannot see everything: a job whose superclass comes from a gem
    (other than `ActiveJob::Base`), a job mixing in a `GoodJob::` module other than the known
    extensions, and an app that includes the extension from outside a class body
    (`ActiveJob::Base.include …`, an `on_load` hook). A call under a condition
    (`if respond_to?(:good_job_control_concurrency_with)`) is not reported as missing the
    include. The key is not judged in a job that mixes in any module from a gem (it may define
    the method), in a class chain that defines `method_missing`, or in a concern (the classes
    including it may define the method).

    ## Example
    ```ruby
    class SyncAccountJob < ApplicationJob
      good_job_control_concurrency_with total_limit: 1, key: -> { "sync-#{account_id}" }

      def perform(account_id); end
    end
    ```

    ## Use instead
    ```ruby
    class SyncAccountJob < ApplicationJob
      include GoodJob::ActiveJobExtensions::Concurrency

      good_job_control_concurrency_with total_limit: 1, key: -> { "sync-#{arguments.first}" }

      def perform(account_id); end
    end
    ```
    """

    code = "JL607"
    name = "goodjob-concurrency-setup"
    severity = Severity.ERROR
    scope = "project"
    summary = "GoodJob concurrency control without the extension, or with a key that raises"
    message = "{problem}"
    help = (
        "Include `GoodJob::ActiveJobExtensions::Concurrency` before the call, and build the "
        "key from `arguments` and methods the job defines"
    )
    triggers = ("good_job_control_concurrency_with",)

    examples = Examples(
        bad=[
            {
                "app/jobs/sync_account_job.rb": """
                class SyncAccountJob < ApplicationJob
                  good_job_control_concurrency_with( # expect: JL607
                    total_limit: 1,
                    key: -> { "sync-#{account_id}" } # expect: JL607
                  )

                  def perform(account_id); end
                end
                """,
                "app/jobs/application_job.rb": """
                class ApplicationJob < ActiveJob::Base
                  retry_on Timeout::Error
                end
                """,
            },
            {
                "app/jobs/import_job.rb": """
                class ImportJob < ApplicationJob
                  good_job_control_concurrency_with perform_limit: 1, key: -> { "import-#{import_id}" } # expect: JL607
                  include GoodJob::ActiveJobExtensions::Concurrency

                  def perform(import_id); end
                end
                """,
                "app/jobs/export_job.rb": """
                class ExportJob < ApplicationJob
                  include GoodJob::ActiveJobExtensions::Concurrency
                  good_job_control_concurrency_with total_limit: 1, key: ->(export_id) { export_id } # expect: JL607

                  def perform(export_id); end
                end
                """,
                "app/jobs/application_job.rb": """
                class ApplicationJob < ActiveJob::Base
                  retry_on Timeout::Error
                end
                """,
            },
        ],
        good=[
            {
                "app/jobs/application_job.rb": """
                class ApplicationJob < ActiveJob::Base
                  include GoodJob::ActiveJobExtensions::Concurrency
                  retry_on Timeout::Error
                end
                """,
                "app/jobs/sync_account_job.rb": """
                class SyncAccountJob < ApplicationJob
                  good_job_control_concurrency_with(
                    total_limit: 1,
                    key: -> { "sync-#{account_key}-#{queue_name}-#{region}" }
                  )

                  delegate :region, to: :account

                  def perform(account_id); end

                  private

                  def account_key
                    arguments.first.then { |id| format("%05d", id) }
                  end
                end
                """,
                "app/jobs/report_job.rb": """
                class ReportJob < ApplicationJob
                  include Throttled

                  def perform(report_id); end
                end
                """,
                "app/jobs/concerns/throttled.rb": """
                module Throttled
                  extend ActiveSupport::Concern

                  included do
                    good_job_control_concurrency_with(
                      perform_limit: 1,
                      key: -> { [self.class.name, *arguments].join("-") }
                    )
                  end
                end
                """,
            },
            {
                "app/jobs/digest_job.rb": """
                class DigestJob < Base::BatchJob
                  good_job_control_concurrency_with total_limit: 1, key: -> { digest_key }

                  def perform(user_id); end
                end
                """,
                "app/jobs/cleanup_job.rb": """
                class CleanupJob < ApplicationJob
                  include GoodJob::ActiveJobExtensions::Concurrency
                  good_job_control_concurrency_with total_limit: 1, key: -> {
                    scope = arguments.first || "all"
                    "cleanup-#{scope}"
                  }

                  def perform(scope = nil); end
                end
                """,
                "app/jobs/embed_job.rb": """
                class EmbedJob < ApplicationJob
                  if respond_to?(:good_job_control_concurrency_with)
                    good_job_control_concurrency_with total_limit: 1, key: -> { "embed-#{arguments.first}" }
                  end

                  def perform(document_id); end
                end
                """,
                "app/jobs/application_job.rb": """
                class ApplicationJob < ActiveJob::Base
                  retry_on Timeout::Error
                end
                """,
                "config/initializers/good_job.rb": """
                ActiveSupport.on_load(:active_job) do
                  include GoodJob::ActiveJobExtensions::Labels
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        for _, caps in ruby.matches(_CONTROLS, source.root):
            call = caps["call"][0]
            receiver = ruby.call_receiver(call)
            if receiver is not None and receiver.type != "self":
                continue
            owner = app.enclosing_class(call)
            if owner is None or not _ancestry_known(app, owner, mixins=False):
                continue
            missing = _missing_include(app, owner, call)
            if missing is not None:
                yield Hit.at(call, problem=missing)
            key = ruby.keyword_arguments(call).get("key")
            if key is not None and _ancestry_known(app, owner, mixins=True):
                yield from _key_problems(app, owner, key, call)


# -- the include -----------------------------------------------------------------------------


def _ancestry_known(app: App, owner: str, mixins: bool) -> bool:
    """Does joblint see every ancestor that could matter? The superclasses must be the
    project's or ActiveJob's. With `mixins`, so must every module (one from a gem may define
    the methods a key calls); without, a gem's module is assumed not to bring GoodJob's
    extension unless it lives under `GoodJob::`."""
    classes = app.classes
    superclasses = set()
    current: str | None = owner
    while current is not None and current not in superclasses:
        superclasses.add(current)
        current = classes.superclass(current)
    for ancestor in classes.ancestors(owner):
        if ancestor in classes or ancestor == CONCURRENCY or _KNOWN_EXTERNAL.match(ancestor):
            continue
        if mixins or ancestor in superclasses or ancestor.startswith("GoodJob::"):
            return False
    return True


def _missing_include(app: App, owner: str, call: Node) -> str | None:
    if _included_outside_classes(app) or _guarded(call):
        return None
    scope = ruby.enclosing(call, {"class", "module"})
    if scope is not None and scope.type == "module":
        return _missing_in_module(app, owner)
    if CONCURRENCY not in app.classes.ancestors(owner):
        return (
            f"`good_job_control_concurrency_with` in `{owner}`, which does not include "
            f"`{CONCURRENCY}`: NoMethodError when the class loads"
        )
    own = _own_includes(scope) if scope is not None else []
    if not own or any(node.start_byte < call.start_byte for node in own):
        return None
    if _inherits_extension(app, owner):
        return None
    return (
        f"`good_job_control_concurrency_with` comes before `include {CONCURRENCY}` in "
        f"`{owner}`: NoMethodError when the class loads"
    )


def _guarded(call: Node) -> bool:
    """A call under a condition (`if respond_to?(:good_job_control_concurrency_with)`) may
    never run."""
    return ruby.enclosing(call, _CONDITIONALS) is not None


def _missing_in_module(app: App, module: str) -> str | None:
    """A concern calling it in `included do`: wrong when no class including it has the
    extension (and some class does include it)."""
    if CONCURRENCY in app.classes.ancestors(module):
        return None
    includers = [
        n for n in app.classes.names() if module in app.classes.ancestors(n) and n != module
    ]
    if not includers or any(
        CONCURRENCY in app.classes.ancestors(n) or not _ancestry_known(app, n, mixins=False)
        for n in includers
    ):
        return None
    shown = ", ".join(f"`{n}`" for n in sorted(includers)[:3])
    return (
        f"`good_job_control_concurrency_with` in `{module}`, included by {shown} without "
        f"`{CONCURRENCY}`: NoMethodError when the class loads"
    )


def _own_includes(scope: Node) -> list[Node]:
    """The class body's own `include …Concurrency` calls."""
    body = scope.child_by_field_name("body")
    found = []
    for statement in body.named_children if body is not None else ():
        if (
            ruby.is_call(statement, "include", "prepend")
            and ruby.call_receiver(statement) is None
            and any(
                (ruby.constant_path(a) or "").removeprefix("::") == CONCURRENCY
                for a in ruby.call_arguments(statement)
            )
        ):
            found.append(statement)
    return found


def _inherits_extension(app: App, owner: str) -> bool:
    """Does the class get the extension from its superclass or another module?"""
    classes = app.classes
    parent = classes.superclass(owner)
    sources = [parent] if parent else []
    sources += [m for m in classes.mixins(owner) if m != CONCURRENCY]
    return any(s == CONCURRENCY or CONCURRENCY in classes.ancestors(s) for s in sources)


def _included_outside_classes(app: App) -> bool:
    """Is the extension included from outside a class body (`ActiveJob::Base.include …`, an
    `on_load(:active_job)` hook, `send(:include, …)`)? Then every job may have it."""
    return app.fact("good_job_concurrency_hooked", _find_hooks)


def _find_hooks(app: App) -> bool:
    sources = list(app.model_files)
    if app.root is not None and (app.root / "config").is_dir():
        sources += [
            s for s in (app.source(p) for p in sorted((app.root / "config").rglob("*.rb"))) if s
        ]
    for source in sources:
        if b"ActiveJobExtensions::Concurrency" not in source.data:
            continue
        for _, caps in ruby.matches(_INCLUDES, source.root):
            call = caps["call"][0]
            if "ActiveJobExtensions::Concurrency" not in ruby.text(call):
                continue
            if ruby.call_receiver(call) is not None or ruby.call_method(call) not in (
                "include",
                "prepend",
            ):
                return True
            if ruby.enclosing(call, {"class", "module"}) is None:
                return True
    return False


# -- the key ---------------------------------------------------------------------------------


def _key_problems(app: App, owner: str, key: Node, call: Node) -> Iterator[Hit]:
    body, parameters = _lambda_parts(key)
    if body is None:
        return
    if parameters is not None and any(
        p.type in ("identifier", "destructured_parameter") for p in parameters.named_children
    ):
        yield Hit.at(
            parameters,
            problem=(
                f"The `key:` lambda of `{owner}` takes parameters, but GoodJob calls it on the job "
                "without arguments: ArgumentError at enqueue (read `arguments` instead)"
            ),
        )
        return
    scope = ruby.enclosing(call, {"class", "module"})
    if scope is None or scope.type != "class" or _defines_method_missing(app, owner):
        return  # a concern's key may call methods of the classes that include it
    bound = _bound_names(key, scope)
    perform = app.classes.find_method(owner, "perform")
    signature = perform.signature if perform else None
    perform_parameters = (
        set(signature.positional_names) | signature.required_keywords | signature.optional_keywords
        if signature
        else set()
    )
    reported: set[str] = set()
    for node, name in _bare_names(body):
        if (
            name in reported
            or name in bound
            or name in JOB_METHODS
            or _NUMBERED_PARAMETER.match(name)
        ):
            continue
        if _defined(app, owner, name):
            continue
        reported.add(name)
        why = (
            " (a `perform` parameter is not in scope there: read it from `arguments`)"
            if name in perform_parameters
            else ""
        )
        yield Hit.at(
            node,
            problem=(
                f"The `key:` lambda of `{owner}` calls `{name}`, which the job does not define{why}: "
                "NameError when the job is enqueued"
            ),
        )


def _lambda_parts(key: Node) -> tuple[Node | None, Node | None]:
    """The body and parameters of `-> { }`, `lambda { }` or `proc { }` (None when the key is
    not written as one)."""
    if key.type == "lambda":
        return key.child_by_field_name("body"), key.child_by_field_name("parameters")
    if ruby.is_call(key, "lambda") and ruby.call_receiver(key) is None:
        block = ruby.call_block(key)
        if block is not None:
            return block.child_by_field_name("body"), block.child_by_field_name("parameters")
    if (ruby.is_call(key, "proc") and ruby.call_receiver(key) is None) or (
        ruby.is_call(key, "new") and ruby.constant_path(ruby.call_receiver(key)) == "Proc"
    ):
        block = ruby.call_block(key)
        if block is not None:
            return block.child_by_field_name("body"), None  # a proc ignores missing arguments
    return None, None


def _bare_names(body: Node) -> Iterator[tuple[Node, str]]:
    """Receiver-less calls and bare identifiers read in the lambda."""
    for node in ruby.descendants(body, {"identifier"}):
        parent = node.parent
        if parent is None or parent.type in _BINDING_PARENTS:
            continue
        if parent.type in _ASSIGNMENTS and parent.child_by_field_name("left") == node:
            continue
        if parent.type == "call" and parent.child_by_field_name("method") == node:
            if ruby.call_receiver(parent) is not None:
                continue
        elif parent.type == "call":
            pass  # a receiver or an argument: a read
        yield node, ruby.text(node)


def _bound_names(key: Node, scope: Node) -> set[str]:
    """Local names the lambda can see: its own parameters and locals, and those bound in the
    method, class body or blocks around it (any block of that method or body, generously)."""
    home = ruby.enclosing(key, _HARD_SCOPES)
    names = set()
    for node in ruby.descendants(scope, {"identifier"}):
        parent = node.parent
        if parent is None:
            continue
        binds = (
            parent.type in _BINDING_PARENTS
            or (parent.type in _ASSIGNMENTS and parent.child_by_field_name("left") == node)
            or (parent.type == "for" and parent.child_by_field_name("pattern") == node)
        )
        if binds and (ruby.is_inside(node, key) or _same(ruby.enclosing(node, _HARD_SCOPES), home)):
            names.add(ruby.text(node))
    return names


def _same(a: Node | None, b: Node | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.start_byte, a.end_byte, a.type) == (b.start_byte, b.end_byte, b.type)


def _defines_method_missing(app: App, owner: str) -> bool:
    return app.classes.find_method(owner, "method_missing") is not None


def _defined(app: App, owner: str, name: str) -> bool:
    """Is `name` a method of the class chain: a `def`, or named as a symbol or string
    (`attr_reader :x`, `delegate :x`, `define_method(:x)`, `alias_method :x`)?"""
    if app.classes.find_method(owner, name) is not None:
        return True
    mentions = re.compile(
        rb"(?:\bdef\s+(?:self\.)?|:|[\"'])" + re.escape(name.encode()) + rb"(?![\w?!])"
    )
    return any(
        schedules.source_matches(app, ancestor, mentions) for ancestor in app.classes.lineage(owner)
    )
