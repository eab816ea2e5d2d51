from __future__ import annotations

from collections.abc import Iterator

from ..findings import Hit, Severity
from ..rails.app import App
from ..ruby import first_error
from ..source import SourceFile
from . import Examples, Rule, register


@register
class SyntaxErrorRule(Rule):
    """
    ## What it does
    Reports a Ruby file that the parser could not read completely, at the first place it gave up.

    ## Why is this bad?
    joblint's analysis of such a file is partial: findings after the error may be missing.
    It is reported as information, not as an error, because tree-sitter-ruby does not know
    every valid Ruby form — anonymous block forwarding in a call without parentheses
    (`content_tag :div, &`) and endless methods whose body is `raise` are known examples.
    The rest of the file is still analysed.

    ## Example
    ```ruby
    def perform(id
      User.find(id)
    end
    ```

    ## Use instead
    Fix the syntax, or — for valid Ruby this parser does not know — add parentheses:
    `content_tag(:div, &)`.
    """

    code = "JL001"
    name = "syntax-error"
    severity = Severity.INFO
    default_enabled = False
    scope = "file"
    summary = "The file could not be parsed completely; analysis of it is partial"
    message = "Could not parse this Ruby (syntax error, or syntax the parser does not know); analysis of the file is partial"
    help = "Fix the syntax; for valid Ruby the parser does not know, parentheses usually help"
    triggers = ()  # runs on every file that was parsed for any other reason

    examples = Examples(
        bad=[
            {
                "app/jobs/import_job.rb": """
                class ImportJob < ApplicationJob
                  retry_on Timeout::Error

                  def perform(id)
                    rows = load(id)) # expect: JL001
                    rows.each(&:save!)
                  end
                end
                """
            },
            {
                "app/jobs/render_job.rb": """
                class RenderJob < ApplicationJob
                  discard_on ActiveJob::DeserializationError

                  def perform(id, &)
                    tag :div, & # expect: JL001
                  end
                end
                """
            },
        ],
        good=[
            {
                "app/jobs/render_job.rb": """
                class RenderJob < ApplicationJob
                  discard_on ActiveJob::DeserializationError

                  def perform(id, &)
                    tag(:div, &)
                  end
                end
                """
            },
            {"app/jobs/empty_job.rb": ""},
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        error = first_error(source.tree)
        if error is None:
            return
        while error.child_count:  # point at the first token the parser could not place
            error = error.children[0]
        start = min(error.start_byte, max(len(source.data) - 1, 0))
        yield Hit(start, max(error.end_byte, start + 1), scope="", anchor=error.type)
