"""Retry facts: what the backend does with a job that raises, per app and per job.

- Sidekiq retries 25 times unless `:max_retries:` (sidekiq.yml) or
  `Sidekiq.default_job_options` / `sidekiq_options retry:` (on the job or an ancestor) say
  otherwise.
- Delayed Job retries 25 times unless `Delayed::Worker.max_attempts` says otherwise.
- GoodJob retries only with `retry_on_unhandled_error = true`; Solid Queue, Resque and the
  Async/inline adapters never retry on their own.
- Que retries with its own backoff.

Settings are read from the config files as written, never evaluated: a value joblint cannot
read leaves the behaviour unknown, and unknown behaviour keeps the rules silent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .. import ruby
from ..patterns import lazy_pattern
from ..source import SourceFile
from . import yaml_config
from .app import App
from .classes import qualified_name
from .config import active_lines
from .file_facts import file_fact
from .named_calls import calls_named

_SIDEKIQ_OPTIONS = frozenset({"sidekiq_options"})
RUBY_CONFIG_GLOBS = ("config/application.rb", "config/environments/*.rb", "config/initializers/*.rb")
_DJ_MAX_ATTEMPTS = lazy_pattern(r"^[^\S\n]*Delayed::Worker\.max_attempts\s*=\s*(\S+)", re.MULTILINE)
_DJ_DEFAULT_QUEUE = lazy_pattern(r"^[^\S\n]*Delayed::Worker\.default_queue_name\s*=\s*(\S+)", re.MULTILINE)
_GOOD_JOB_RETRY = lazy_pattern(
    r"^[^\S\n]*(?:(?:config|Rails\.application\.config)\.good_job\.retry_on_unhandled_error|"
    r"GoodJob\.retry_on_unhandled_error|retry_on_unhandled_error:?)\s*=?\s*(\w+)",
    re.MULTILINE,
)
_SIDEKIQ_DEFAULT_RETRY = lazy_pattern(
    r"default_job_options\s*=\s*\{[^}]*?[\"':]retry[\"']?\s*(?:=>|:)\s*(\w+)", re.DOTALL
)
_SIDEKIQ_MAX_RETRIES = lazy_pattern(r"\[:max_retries\]\s*=\s*(\w+)|max_retries\s*=\s*(\w+)")

FINAL_ADAPTERS = {
    "solid_queue": "Solid Queue",
    "resque": "Resque",  # unless the app requeues its failed jobs (see requeues_resque_failures)
    "async": "the Async adapter",
    "inline": "the inline adapter",
}


@dataclass(frozen=True)
class SidekiqRetry:
    """A `sidekiq_options retry: …` declaration: whether it leaves Sidekiq's retries on."""

    enabled: bool | None  # None: a value joblint cannot read
    path: str
    line: int


@dataclass(frozen=True)
class FailurePolicy:
    """What happens to a failed job: `final` True (never retried), False (the backend
    retries), None (unknown); `why` says it in the app's terms."""

    final: bool | None
    why: str


def sidekiq_retries(app: App) -> dict[str, SidekiqRetry]:
    """class/module → its last `sidekiq_options retry:` declaration."""
    return app.fact("sidekiq_retries", _build_sidekiq_retries)


def _build_sidekiq_retries(app: App) -> dict[str, SidekiqRetry]:
    found: dict[str, SidekiqRetry] = {}
    sources = app.model_files
    for source, part in zip(sources, app.file_facts("sidekiq_retries", sources, _file_retries)):
        for owner, enabled, line in part:
            found[owner] = SidekiqRetry(enabled, source.relpath, line)
    return found


@file_fact("sidekiq_retries")
def _file_retries(source: SourceFile) -> list[tuple[str, bool | None, int]]:
    """One file's class-level `sidekiq_options retry:` declarations: (owner, enabled, line)."""
    if b"sidekiq_options" not in source.data:
        return []
    found = []
    for call in calls_named(source, _SIDEKIQ_OPTIONS, receiver=False, arguments=True):
        value = ruby.keyword_arguments(call).get("retry")
        scope = ruby.enclosing(call, {"class", "module"})
        owner = qualified_name(scope) if scope is not None else None
        if value is None or owner is None or ruby.enclosing(call, ruby.METHOD_TYPES):
            continue
        found.append((owner, _enabled(value), ruby.line(call)))
    return found


def _enabled(value: ruby.Node) -> bool | None:
    if value.type == "false" or (value.type == "integer" and ruby.text(value) in ("0", "0x0")):
        return False
    if value.type in ("true", "integer"):
        return True
    return None


def _ruby_config(app: App) -> list[tuple[str, str]]:
    """(relpath, active text) of the app's Ruby configuration files."""
    if app.root is None:
        return []
    found = []
    for pattern in RUBY_CONFIG_GLOBS:
        for path in sorted(app.root.glob(pattern)):
            relpath = path.relative_to(app.root).as_posix()
            text = app.text(relpath)
            if text:
                found.append((relpath, active_lines(text)))
    return found


def app_failure_policy(app: App) -> FailurePolicy:
    """The backend's behaviour for a job that raises and declares nothing of its own."""
    return app.fact("app_failure_policy", _build_app_policy)


def _build_app_policy(app: App) -> FailurePolicy:
    adapter = app.backend.adapter
    if adapter == "resque" and requeues_resque_failures(app):
        return FailurePolicy(False, "the app requeues failed Resque jobs")
    if adapter in FINAL_ADAPTERS:
        return FailurePolicy(True, f"on {FINAL_ADAPTERS[adapter]} a failed job is not retried")
    if adapter == "good_job":
        for relpath, text in _ruby_config(app):
            for value in _GOOD_JOB_RETRY.findall(text):
                if value == "true":
                    return FailurePolicy(False, "GoodJob retries unhandled errors")
                if value != "false":
                    return FailurePolicy(None, "")
        return FailurePolicy(
            True, "on GoodJob (without `retry_on_unhandled_error`) a failed job is not retried"
        )
    if adapter == "delayed_job":
        attempts = delayed_job_max_attempts(app)
        if attempts is None:
            return FailurePolicy(False, "Delayed Job retries it")
        relpath, value = attempts
        if value in ("1", "0"):
            return FailurePolicy(
                True, f"`Delayed::Worker.max_attempts = {value}` in {relpath} makes a failure final"
            )
        return FailurePolicy(False if value.isdigit() else None, "Delayed Job retries it")
    if adapter == "sidekiq":
        return _sidekiq_policy(app)
    return FailurePolicy(None, "")  # que retries; other or unknown adapters: unknown


_RESQUE_REQUEUE = lazy_pattern(rb"Resque::Failure\.(?:requeue|all|each)|\.requeue_all\b")


def requeues_resque_failures(app: App) -> bool:
    """A task or job of the app that walks `Resque::Failure` to run failed jobs again: the app
    retries every failure itself."""
    return app.fact("requeues_resque_failures", _build_requeues_resque_failures)


def _build_requeues_resque_failures(app: App) -> bool:
    if app.root is None:
        return False
    for top in ("lib", "app"):
        for path in sorted((app.root / top).rglob("*.ra*")) + sorted((app.root / top).rglob("*.rb")):
            source = app.source(path) if path.suffix in (".rake", ".rb") else None
            if source is not None and b"Resque::Failure" in source.data and _RESQUE_REQUEUE.search(source.data):
                return True
    return False


def delayed_job_max_attempts(app: App) -> tuple[str, str] | None:
    """`Delayed::Worker.max_attempts = N` in the app's Ruby config, the last one as written:
    (relpath, value); None when the app leaves Delayed Job's default (25)."""
    return _last_setting(_DJ_MAX_ATTEMPTS, app)


def delayed_job_default_queue(app: App) -> tuple[str, str] | None:
    """`Delayed::Worker.default_queue_name = "name"` in the app's Ruby config, the last one as
    written: (relpath, value); None when unset (jobs without a queue then have none)."""
    return _last_setting(_DJ_DEFAULT_QUEUE, app)


def _last_setting(pattern: re.Pattern[str], app: App) -> tuple[str, str] | None:
    last = None
    for relpath, text in _ruby_config(app):
        for value in pattern.findall(text):
            last = (relpath, value)
    return last


def _sidekiq_policy(app: App) -> FailurePolicy:
    for relpath, text in _ruby_config(app):
        for value in _SIDEKIQ_DEFAULT_RETRY.findall(text):
            if value in ("false", "0"):
                return FailurePolicy(
                    True, f"Sidekiq's `default_job_options` in {relpath} turn retries off"
                )
        for pair in _SIDEKIQ_MAX_RETRIES.findall(text):
            value = next(v for v in pair if v)
            if value == "0":
                return FailurePolicy(True, f"`max_retries` is 0 in {relpath}: Sidekiq does not retry")
    document = yaml_config.app_document(app, "config/sidekiq.yml")
    if isinstance(document, (dict, list)):
        for section in yaml_config.sections(document):
            value = yaml_config.get(section, ":max_retries", "max_retries")
            if value is not None and str(value).strip() == "0":
                return FailurePolicy(
                    True, "`:max_retries: 0` in config/sidekiq.yml: Sidekiq does not retry"
                )
    return FailurePolicy(False, "Sidekiq retries it")


def job_failure_policy(app: App, job: str) -> FailurePolicy:
    """The backend's behaviour for this job: the app's, unless an ancestor sets
    `sidekiq_options retry:` on the Sidekiq adapter. A job that sets it itself has made a
    deliberate choice about retries: unknown (nothing to report)."""
    policy = app_failure_policy(app)
    if app.backend.adapter != "sidekiq":
        return policy
    retries = sidekiq_retries(app)
    if job in retries:
        return FailurePolicy(None, "")  # the job itself chose its Sidekiq retries: deliberate
    option = next((retries[o] for o in app.classes.lineage(job) if o in retries), None)
    if option is None:
        return policy
    if option.enabled is False:
        return FailurePolicy(
            True, f"`sidekiq_options retry:` at {option.path}:{option.line} turns Sidekiq's retries off"
        )
    if option.enabled is True:
        return FailurePolicy(False, "Sidekiq retries it")
    return FailurePolicy(None, "")
