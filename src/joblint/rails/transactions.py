"""`enqueue_after_transaction_commit`: is a `perform_later` inside a transaction deferred?

The setting has changed meaning from release to release (rules.md, "Facts"):
- Rails ≤ 7.1: the setting does not exist; enqueues are never deferred.
- Rails 7.2: `:never` (framework default), `:always`, or `:default` (set by `load_defaults 7.2`),
  which lets the adapter decide: Sidekiq, Solid Queue and Resque defer, the others do not.
- Rails 8.0–8.1: a boolean, default false (`:always` still means true; `:default` and `:never`
  mean false). `ActionMailer::MailDeliveryJob` is not deferred even when it is on (rails#55692).
- Rails ≥ 8.2: default true with `load_defaults 8.2` or later.
Raw Sidekiq (`perform_async`…) is never deferred. When neither the Rails version nor
`load_defaults` is known, the behaviour of every Rails through 8.1 is assumed: not deferred,
unless the app explicitly turns the setting on.

Some adapters store jobs in the app's own database, in the same transaction: an ActiveJob
enqueue then commits or rolls back with it, which is as good as deferring it (rules.md,
"Precision revision"): GoodJob (unless `active_record_parent_class` names a class connected to
another database), Delayed Job's ActiveRecord backend, que, and Solid Queue when the app shows
it shares the primary database (`config/database.yml` has no `queue` database and no
environment sets `config.solid_queue.connects_to`; without `database.yml`, Rails 8's default
separate database is assumed).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from .. import ruby
from ..patterns import lazy_pattern
from ..ruby import Node
from .app import App
from .classes import qualified_name
from .config import Version
from .jobs import ACTIVE_JOB_ENQUEUE, SIDEKIQ_ENQUEUE, enqueued_class

DEFERRING_ADAPTERS = frozenset({"sidekiq", "solid_queue", "resque"})
SETTING = "enqueue_after_transaction_commit"
_GLOBAL = lazy_pattern(
    r"^[^\S\n]*(?:(?:Rails\.application\.)?config\.active_job|ActiveJob::Base)"
    r"\.enqueue_after_transaction_commit\s*=\s*(\S+)",
    re.MULTILINE,
)
_PER_CLASS = ruby.compile_query(
    """
    (assignment
      left: (call receiver: (self) method: (identifier) @name (#eq? @name "enqueue_after_transaction_commit"))
      right: (_) @value) @assign
    """
)
# inside `ActiveSupport.on_load(:active_job) do … end`, `self` is ActiveJob::Base: global too
_ON_LOAD_SELF = lazy_pattern(r"^[^\S\n]*self\.enqueue_after_transaction_commit\s*=\s*(\S+)", re.MULTILINE)
CONFIG_FILES = ("config/application.rb", "config/environments/production.rb")

# a setting as written: True, False, "default" (adapter decides, 7.2), or None (not readable)
Setting = bool | str | None


def parse_setting(written: str) -> Setting:
    value = written.strip().rstrip(";")
    if value in ("true", ":always"):
        return True
    if value in ("false", ":never"):
        return False
    if value == ":default":
        return "default"
    return None


@dataclass(frozen=True)
class TransactionFacts:
    rails: Version | None  # the Rails version, or load_defaults when Gemfile.lock is missing
    load_defaults: Version | None
    adapter: str | None
    configured: Setting  # the app's explicit global setting, or "unset"
    explicit: bool
    per_class: dict[str, Setting]  # class/module → `self.enqueue_after_transaction_commit =`

    @property
    def global_setting(self) -> Setting:
        if self.explicit:
            return self.configured
        rails, defaults = self.rails, self.load_defaults
        if rails is None or rails < (7, 2):
            return False
        if rails < (8, 0):
            return "default" if defaults is not None and defaults >= (7, 2) else False
        if rails < (8, 2):
            return False
        return defaults is not None and defaults >= (8, 2)

    def resolve(self, setting: Setting) -> bool:
        """Does this setting defer enqueues, on this Rails version and adapter?"""
        if self.rails is not None and self.rails < (7, 2):
            return False
        if setting is None:
            return True  # a value joblint cannot read: assume it defers, to stay silent
        if setting == "default":
            if self.rails is not None and self.rails >= (8, 0):
                return False
            return self.adapter in DEFERRING_ADAPTERS
        return bool(setting)


_SOLID_QUEUE_CONNECTS = lazy_pattern(
    r"^[^\S\n]*(?:Rails\.application\.)?config\.solid_queue\.connects_to\b", re.MULTILINE
)
_GOOD_JOB_PARENT = lazy_pattern(
    r"^[^\S\n]*(?:GoodJob|(?:Rails\.application\.)?config\.good_job)\.active_record_parent_class\s*=\s*[\"':]?([\w:]+)",
    re.MULTILINE,
)
_DATABASE_KEY = lazy_pattern(r"^ {2,4}(\w+):\s*(?:#.*)?$", re.MULTILINE)
_CONNECTS_TO = lazy_pattern(rb"^[^\S\n]*connects_to\b", re.MULTILINE)
PRIMARY_CLASSES = frozenset({"ApplicationRecord", "ActiveRecord::Base"})


def transactional_store(app: App) -> bool:
    """Does the adapter write jobs to the app's database inside the app's transaction?"""
    return app.fact("transactional_store", _build_transactional_store)


def _build_transactional_store(app: App) -> bool:
    adapter = app.backend.adapter
    if adapter == "que":
        return True
    if adapter == "delayed_job":
        return "delayed_job_active_record" in app.gems or "delayed_job_mongoid" not in app.gems
    if adapter == "good_job":
        parents = [
            p for text in app_config_texts(app) for p in _GOOD_JOB_PARENT.findall(_active(text))
        ]
        if not parents or parents[-1] in PRIMARY_CLASSES:
            return True
        return not _connects_elsewhere(app, parents[-1])
    if adapter == "solid_queue":
        database = app.text("config/database.yml")
        if database is None:
            return False  # Rails 8's default: a separate queue database
        if "queue" in _DATABASE_KEY.findall(database):
            return False
        return not any(_SOLID_QUEUE_CONNECTS.search(_active(t)) for t in _environment_texts(app))
    return False


def _connects_elsewhere(app: App, class_name: str) -> bool:
    """Does the project class call `connects_to` (another database)? Unknown classes: yes."""
    definitions = app.classes.definitions.get(app.classes.resolve(class_name), [])
    if not definitions:
        return True
    return any(_CONNECTS_TO.search((app.text(d.path) or "").encode()) for d in definitions)


def _environment_texts(app: App) -> list[str]:
    texts = app_config_texts(app)
    if app.root is not None:
        for path in sorted((app.root / "config" / "environments").glob("*.rb")):
            text = app.text(f"config/environments/{path.name}")
            if text:
                texts.append(text)
    return texts


def _active(text: str) -> str:
    return "\n".join("" if line.lstrip().startswith("#") else line for line in text.splitlines())


def transaction_facts(app: App) -> TransactionFacts:
    return app.fact("transaction_facts", _build)


def _build(app: App) -> TransactionFacts:
    configured: Setting = None
    explicit = False
    for text in app_config_texts(app):
        lines = "\n".join("" if l.lstrip().startswith("#") else l for l in text.splitlines())
        found = _GLOBAL.findall(lines)
        if "on_load(:active_job" in lines.replace(" ", ""):
            found += _ON_LOAD_SELF.findall(lines)
        for written in found:
            configured, explicit = parse_setting(written), True
    per_class: dict[str, Setting] = {}
    word = SETTING.encode()
    for source in app.model_files:
        if word not in source.data:
            continue
        for _, caps in ruby.matches(_PER_CLASS, source.root):
            owner = ruby.enclosing(caps["assign"][0], {"class", "module"})
            name = qualified_name(owner) if owner is not None else None
            if name is not None and ruby.enclosing(caps["assign"][0], ruby.METHOD_TYPES) is None:
                per_class[name] = parse_setting(ruby.text(caps["value"][0]))
    return TransactionFacts(
        rails=app.rails_version or app.load_defaults,
        load_defaults=app.load_defaults,
        adapter=app.backend.adapter,
        configured=configured,
        explicit=explicit,
        per_class=per_class,
    )


def app_config_texts(app: App) -> list[str]:
    """application.rb, production.rb, then the initializers in load order."""
    names = list(CONFIG_FILES)
    if app.root is not None:
        directory = app.root / "config" / "initializers"
        if directory.is_dir():
            names.extend(
                f"config/initializers/{n}"
                for n in sorted(os.listdir(directory))
                if n.endswith(".rb")
            )
    return [t for t in (app.text(n) for n in names) if t]


def defers_job(app: App, job: str | None) -> bool:
    """Is `job.perform_later` inside a transaction deferred to after the commit?"""
    facts = transaction_facts(app)
    if job is not None:
        for owner in app.classes.lineage(job):
            if owner in facts.per_class:
                return facts.resolve(facts.per_class[owner])
    return facts.resolve(facts.global_setting)


def defers_mail(app: App) -> bool:
    """Is `deliver_later` inside a transaction deferred? MailDeliveryJob inherits
    ActiveJob::Base, so only the global setting counts, and 8.0–8.1 never defer it."""
    facts = transaction_facts(app)
    if facts.rails is not None and (8, 0) <= facts.rails.parts < (8, 2):
        return False
    return facts.resolve(facts.global_setting)


# Calls that put work on a queue (or send mail) and so must not run before the commit.
MAIL_DELIVERIES = ("deliver_later", "deliver_later!", "deliver_now", "deliver_now!")
TRANSACTION_SENSITIVE = ACTIVE_JOB_ENQUEUE + SIDEKIQ_ENQUEUE + MAIL_DELIVERIES


def enqueued_job(call: Node, app: App) -> str | None:
    return enqueued_class(call, app.classes, app.lexical_scope(call))


def deferred_until_commit(call: Node, app: App) -> bool:
    """Inside a transaction, is this enqueue or delivery postponed until the commit?"""
    method = ruby.call_method(call)
    if method in ACTIVE_JOB_ENQUEUE:
        return transactional_store(app) or defers_job(app, enqueued_job(call, app))
    if method in ("deliver_later", "deliver_later!"):
        return transactional_store(app) or defers_mail(app)
    return False  # raw Sidekiq and synchronous delivery never wait for the commit


def not_deferred_reason(call: Node, app: App) -> str:
    """Why the call is not deferred, for messages."""
    method = ruby.call_method(call)
    if method in SIDEKIQ_ENQUEUE:
        return "Sidekiq enqueues immediately"
    if method in ("deliver_now", "deliver_now!", "deliver", "deliver!"):
        return "the mail is sent immediately"
    facts = transaction_facts(app)
    version = f"Rails {facts.rails}" if facts.rails is not None else "this Rails version"
    return f"{version} does not defer it (`enqueue_after_transaction_commit` is off)"


TRANSACTION_BLOCKS = frozenset({"transaction", "with_lock"})
# blocks that run after the commit, even when written inside the transaction
AFTER_COMMIT_BLOCKS = frozenset(
    {
        "after_commit", "after_all_transactions_commit", "after_transaction_commit",
        "after_transaction",
    }
)


def transaction_around(call: Node) -> Node | None:
    """The `transaction do … end` / `with_lock do … end` call lexically around `call`, unless an
    after-commit block, a lambda or a method definition comes first."""
    for ancestor in ruby.ancestors(call):
        if ancestor.type in ruby.METHOD_TYPES or ancestor.type in ruby.SCOPE_TYPES:
            return None
        if ancestor.type == "lambda":
            return None
        if ancestor.type in ruby.BLOCK_TYPES and ancestor.parent is not None:
            method = ruby.call_method(ancestor.parent)
            if method in AFTER_COMMIT_BLOCKS:
                return None
            if method in TRANSACTION_BLOCKS:
                return ancestor.parent
    return None


def in_after_commit_block(node: Node, container: Node) -> bool:
    """Is `node` inside an after-commit block or a lambda that lies within `container`?"""
    return ruby.in_block_of(node, AFTER_COMMIT_BLOCKS, stop=container, lambdas=True)


# -- scheduled enqueues -------------------------------------------------------------------------

DURATION_UNITS = {
    "second": 1,
    "seconds": 1,
    "minute": 60,
    "minutes": 60,
    "hour": 3600,
    "hours": 3600,
    "day": 86400,
    "days": 86400,
    "week": 604800,
    "weeks": 604800,
    "month": 2592000,
    "months": 2592000,
    "year": 31536000,
    "years": 31536000,
}
A_MINUTE = 60


def delayed_at_least_a_minute(call: Node) -> bool:
    """`perform_in(5.minutes, …)`, `perform_at(1.day.from_now, …)` or `set(wait: 1.hour)`:
    the job starts long after the commit, so it cannot race it."""
    method = ruby.call_method(call)
    delay: Node | None = None
    at: Node | None = None  # a point in time rather than a delay
    if method in ("perform_in", "perform_at"):
        arguments = ruby.call_arguments(call)
        delay = arguments[0] if arguments else None
        if method == "perform_at":
            at = delay
    elif method in ("deliver_later", "deliver_later!") and ruby.call_arguments(call):
        options = ruby.keyword_arguments(call)  # `deliver_later(wait_until: 1.day.from_now)`
        at = options.get("wait_until")
        delay = options.get("wait") or at
    else:
        receiver = ruby.call_receiver(call)
        while receiver is not None and receiver.type == "call":
            if ruby.call_method(receiver) == "set":
                options = ruby.keyword_arguments(receiver)
                at = options.get("wait_until")
                delay = options.get("wait") or at
                break
            receiver = ruby.call_receiver(receiver)
    if at is not None and _scheduled_time(at):
        return True
    return delay is not None and _seconds(delay) >= A_MINUTE


NOW = frozenset({"now", "current", "today"})


def _scheduled_time(node: Node) -> bool:
    """A time to run at read from the app's data (`perform_at(closing_at, …)`,
    `set(wait_until: event.starts_at)`): a schedule, not "now" — it cannot race the commit.
    `Time.current` and durations from now are read by `_seconds` instead."""
    if node.type in ("identifier", "instance_variable"):
        return True
    if node.type != "call":
        return False
    method = ruby.call_method(node)
    root = ruby.constant_path(ruby.chain_root(node))
    if root in ("Time", "DateTime", "Date") or method in NOW or method in DURATION_UNITS:
        return False
    return method not in ("from_now", "since", "after", "ago")


def _seconds(node: Node) -> float:
    """A delay written as a literal duration (`5.minutes`, `2.hours.from_now`) or a number of
    seconds; 0 when it cannot be read."""
    if node.type == "integer":
        try:
            return int(ruby.text(node).replace("_", ""), 0)
        except ValueError:
            return 0
    if node.type != "call":
        return 0
    method = ruby.call_method(node)
    receiver = ruby.call_receiver(node)
    if method in ("from_now", "since", "after") and receiver is not None:
        return _seconds(receiver)
    if method in DURATION_UNITS and receiver is not None and receiver.type == "integer":
        return _seconds(receiver) * DURATION_UNITS[method]
    return 0  # `(trial_days - 1).days` may be nothing at all: unknown
