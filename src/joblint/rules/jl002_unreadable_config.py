from __future__ import annotations

from collections.abc import Iterator

from ..files import JOB_CONFIG_FILES
from ..findings import Hit, Severity
from ..rails import yaml_config
from ..rails.app import App
from ..source import SourceFile
from . import Examples, Rule, register


@register
class UnreadableConfig(Rule):
    """
    ## What it does
    Reports a job configuration YAML file — `config/sidekiq.yml`, `config/queue.yml`,
    `config/solid_queue.yml`, `config/recurring.yml`, `config/schedule.yml` and the other
    schedule files — that cannot be parsed as YAML, at the line where the parser gave up.

    ## Why is this bad?
    The backend reads these files when its process boots: a syntax error there stops Sidekiq or
    the Solid Queue supervisor from starting, or (for schedules) silently drops every recurring
    job. joblint cannot check queues or schedules in a file it cannot read either.

    ERB tags (`<%= ENV.fetch("THREADS", 5) %>`, `<% if … %>`) are neutralised, never evaluated,
    before parsing: a file is reported only when it is broken whatever its ERB produces. A
    tag alone on its line is read as a comment, so ERB that writes whole YAML lines is not
    reported.

    ## Example
    ```yaml
    production:
      cleanup:
        class: CleanupJob
         schedule: every hour
    ```

    ## Use instead
    ```yaml
    production:
      cleanup:
        class: CleanupJob
        schedule: every hour
    ```
    """

    code = "JL002"
    name = "unreadable-config"
    severity = Severity.ERROR
    scope = "project"
    summary = "A job-related YAML config (sidekiq.yml, queue.yml, recurring.yml…) does not parse"
    message = "This job configuration is not valid YAML: {problem}"
    help = "Fix the YAML syntax; the backend reads this file when it boots"
    triggers = (":",)

    @classmethod
    def applies_to(cls, source: SourceFile) -> bool:
        return source.relpath in JOB_CONFIG_FILES

    @classmethod
    def wants(cls, source: SourceFile) -> bool:
        return True  # an unreadable file may lack any trigger word

    examples = Examples(
        bad=[
            {
                "config/recurring.yml": """
                production:
                  cleanup:
                    class: CleanupJob
                     schedule: every hour # expect: JL002
                """,
            },
            {
                "config/sidekiq.yml": """
                :concurrency: <%= ENV.fetch("SIDEKIQ_THREADS", 5) %>
                :queues:
                  - [critical, 2
                  - default # expect: JL002
                """,
            },
        ],
        good=[
            {
                "config/sidekiq.yml": """
                <% require_relative "../lib/settings" %>
                ---
                :concurrency: <%= ENV.fetch("SIDEKIQ_THREADS", 5) %>
                :queues:
                  - [critical, 2]
                  - default
                production:
                  :concurrency: 20
                """,
            },
            {
                "config/queue.yml": """
                default: &default
                  workers:
                    - queues: "*"
                      threads: <%= ENV.fetch("JOB_THREADS", 3) %>
                <% if ENV["EXTRA"] %>
                    - queues: [imports]
                <% end %>
                development: *default
                production:
                  <<: *default
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        document = yaml_config.document(source)
        if isinstance(document, yaml_config.YamlError):
            yield Hit(
                document.start_byte,
                document.end_byte,
                {"problem": document.message},
                scope=source.relpath,
                anchor="yaml-error",
            )
