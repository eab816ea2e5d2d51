from __future__ import annotations

import re
from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity
from ..patterns import lazy_pattern
from ..rails.app import App
from ..rails.named_calls import calls_named
from ..ruby import Node
from ..source import SourceFile
from . import Examples, Rule, register

DASHBOARDS = {
    "Sidekiq::Web": "sidekiq",
    "MissionControl::Jobs::Engine": "mission_control",
    "GoodJob::Engine": "good_job",
    "Resque::Server": "resque",
}
# Settings anywhere under config/ that put authentication in front of each dashboard.
AUTH_SETTINGS = {
    "sidekiq": lazy_pattern(r"^[^\S\n]*Sidekiq::Web\.use\b", re.MULTILINE),
    "resque": lazy_pattern(r"^[^\S\n]*Resque::Server\.use\b", re.MULTILINE),
    "good_job": lazy_pattern(
        r"^[^\S\n]*GoodJob::Engine\.middleware\.use\b|good_job_application_controller", re.MULTILINE
    ),
    "mission_control": lazy_pattern(
        r"^[^\S\n]*(?:config\.mission_control\.jobs|MissionControl::Jobs)\."
        r"(?:base_controller_class|http_basic_auth_user|http_basic_auth_password)\s*=",
        re.MULTILINE,
    ),
}
# Mission Control Jobs closes its dashboard with HTTP basic auth unless this turns it off.
MISSION_CONTROL_OPEN = lazy_pattern(
    r"^[^\S\n]*(?:config\.mission_control\.jobs|MissionControl::Jobs)\.http_basic_auth_enabled\s*=\s*false",
    re.MULTILINE,
)
GUARD_BLOCKS = frozenset({"authenticate", "authenticated", "constraints"})
_DEV_ONLY = lazy_pattern(r"Rails\.env\.(development|local|test)\?|Rails\.env\s*==\s*['\"]development")

_MOUNTS = frozenset({"mount"})


@register
class UnprotectedJobDashboard(Rule):
    """
    ## What it does
    Finds `mount Sidekiq::Web`, `mount MissionControl::Jobs::Engine`, `mount GoodJob::Engine`
    or `mount Resque::Server` in `config/routes.rb` that is not inside an `authenticate` /
    `authenticated` block or any `constraints` wrapper (a block, or a `constraints:` option on
    the mount or on an enclosing `scope`/`namespace`), when no authentication is configured for
    that dashboard under `config/`: `Sidekiq::Web.use Rack::Auth::Basic`,
    `Resque::Server.use …`, `GoodJob::Engine.middleware.use …` or a
    `good_job_application_controller` hook, and for Mission Control Jobs a
    `base_controller_class` or `http_basic_auth_user`/`_password`. Points at the mount.

    ## Why is this bad?
    The dashboards show every job's arguments (emails, tokens, ids) and let a visitor retry,
    delete or enqueue jobs. Mounted without authentication they are open to the internet
    (CWE-306, missing authentication for a critical function).

    Mission Control Jobs is closed by HTTP basic auth unless `http_basic_auth_enabled = false`,
    so its mount is reported only when that setting turns it off and no base controller is
    configured. Mounts inside `if Rails.env.development?` are not reported.

    ## Example
    ```ruby
    Rails.application.routes.draw do
      mount Sidekiq::Web => "/sidekiq"
    end
    ```

    ## Use instead
    ```ruby
    Rails.application.routes.draw do
      authenticate :user, ->(user) { user.admin? } do
        mount Sidekiq::Web => "/sidekiq"
      end
    end
    ```
    """

    code = "JL605"
    name = "unprotected-job-dashboard"
    severity = Severity.ERROR
    scope = "project"
    summary = "A job dashboard (Sidekiq::Web, Mission Control, GoodJob) mounted without authentication"
    message = "`{dashboard}` is mounted without authentication: anyone can read job arguments and retry or delete jobs"
    help = "Mount it inside `authenticate`/`constraints`, or configure HTTP basic auth for it"
    triggers = ("mount",)
    tags = ("security",)
    cwe = 306

    @classmethod
    def applies_to(cls, source: SourceFile) -> bool:
        return source.relpath == "config/routes.rb" or source.relpath.startswith("config/routes/")

    examples = Examples(
        bad=[
            {
                "config/routes.rb": """
                require "sidekiq/web"

                Rails.application.routes.draw do
                  resources :orders
                  mount Sidekiq::Web => "/sidekiq" # expect: JL605
                end
                """,
            },
            {
                "config/application.rb": """
                module Shop
                  class Application < Rails::Application
                    config.mission_control.jobs.http_basic_auth_enabled = false
                  end
                end
                """,
                "config/routes.rb": """
                Rails.application.routes.draw do
                  namespace :admin do
                    mount MissionControl::Jobs::Engine, at: "/jobs" # expect: JL605
                  end
                  mount GoodJob::Engine, at: "/good_job" # expect: JL605
                end
                """,
            },
        ],
        good=[
            {
                "config/routes.rb": """
                Rails.application.routes.draw do
                  authenticate :user, ->(user) { user.admin? } do
                    mount Sidekiq::Web => "/sidekiq"
                  end
                  constraints(AdminConstraint.new) do
                    mount GoodJob::Engine => "/good_job"
                  end
                  namespace :admin, constraints: AdminConstraint do
                    mount Resque::Server, at: "/resque"
                  end
                  mount MissionControl::Jobs::Engine, at: "/jobs"
                end
                """,
            },
            {
                "config/initializers/sidekiq.rb": """
                Sidekiq::Web.use Rack::Auth::Basic do |user, password|
                  ActiveSupport::SecurityUtils.secure_compare(user, ENV["SIDEKIQ_USER"])
                end
                """,
                "config/routes.rb": """
                Rails.application.routes.draw do
                  mount Sidekiq::Web, at: "/sidekiq"
                  if Rails.env.development?
                    mount GoodJob::Engine => "/good_job"
                  end
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        for call in calls_named(source, _MOUNTS, receiver=False, arguments=True):
            target = _mounted_constant(call.child_by_field_name("arguments"))
            if target is None or ruby.constant_path(target) not in DASHBOARDS:
                continue
            written = ruby.constant_path(target)
            dashboard = DASHBOARDS[written]  # type: ignore[index]
            if _guarded(call) or _configured(dashboard, app):
                continue
            yield Hit.at(call, dashboard=written)  # type: ignore[arg-type]


def _mounted_constant(args: Node) -> Node | None:
    """`mount Sidekiq::Web => "/sidekiq"` and `mount Sidekiq::Web, at: "/sidekiq"`."""
    if not args.named_children:
        return None
    first = args.named_children[0]
    if first.type == "pair":
        first = first.child_by_field_name("key")
    if first is not None and first.type == "call" and ruby.call_method(first) == "new":
        return ruby.call_receiver(first)  # `mount Resque::Server.new, at: …`
    return first


def _guarded(call: Node) -> bool:
    if "constraints" in ruby.keyword_arguments(call):
        return True
    for ancestor in ruby.ancestors(call):
        if ancestor.type in ("if", "if_modifier") and _DEV_ONLY.search(
            ruby.text(ancestor.child_by_field_name("condition"))
        ):
            return True
        if ancestor.type == "call" and ruby.call_block(ancestor) is not None:
            if ruby.call_method(ancestor) in GUARD_BLOCKS:
                return True
            if "constraints" in ruby.keyword_arguments(ancestor):
                return True
    return False


def _configured(dashboard: str, app: App) -> bool:
    texts = _config_texts(app)
    if dashboard == "mission_control" and not any(MISSION_CONTROL_OPEN.search(t) for t in texts):
        return True  # basic auth is on, and closed until credentials are set
    return any(AUTH_SETTINGS[dashboard].search(t) for t in texts)


def _config_texts(app: App) -> list[str]:
    def build(app: App) -> list[str]:
        if app.root is None or not (app.root / "config").is_dir():
            return []
        texts = []
        for path in sorted((app.root / "config").rglob("*.rb")):
            text = app.text(path.relative_to(app.root).as_posix())
            if text:
                texts.append(text)
        return texts

    return app.fact("config_ruby_texts", build)
