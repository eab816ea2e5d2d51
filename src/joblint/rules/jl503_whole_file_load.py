from __future__ import annotations

from collections.abc import Iterator

from .. import ruby
from ..findings import Hit, Severity, normalise
from ..rails.app import App
from ..rails.named_calls import calls_named
from ..ruby import Node
from ..source import SourceFile
from . import Examples, Rule, register
from ._loops import call_path, head_hit, is_bounded, model_relation

# dotted call → what to use instead
WHOLE_FILE_CALLS = {
    "CSV.read": "CSV.foreach",
    "CSV.table": "CSV.foreach(path, headers: true, header_converters: :symbol)",
    "CSV.readlines": "CSV.foreach",
    "File.readlines": "File.foreach",
    "IO.readlines": "File.foreach",
}
FILE_READS = frozenset({"File.read", "IO.read", "File.binread", "IO.binread"})
_LOADS = ("read", "table", "readlines", "parse", "to_a", "load")


@register
class WholeFileLoad(Rule):
    """
    ## What it does
    Finds, in a job, reads that load a whole file or table into memory: `CSV.read`,
    `CSV.table`, `CSV.parse(File.read(…))`, `File.readlines`, `IO.readlines`, `.all.to_a`
    on a model, and `.load` on a model relation that is not bounded by `limit`.

    ## Why is this bad?
    Import and export jobs meet the biggest files and tables the app has. Reading everything
    at once makes the job's memory as large as its input: the worker is killed for exceeding
    its memory limit (taking its other jobs with it), and the retry does the same again.
    `CSV.foreach` and `File.foreach` stream one row or line at a time; `find_each` and
    `in_batches` load 1,000 records at a time.

    `CSV.foreach`, `File.foreach`, `CSV.parse` of something other than `File.read` (a
    downloaded blob, a string argument) and bounded relations are not reported.

    ## Example
    ```ruby
    def perform(path)
      CSV.read(path, headers: true).each { |row| Contact.upsert(row.to_h) }
    end
    ```

    ## Use instead
    ```ruby
    def perform(path)
      CSV.foreach(path, headers: true) { |row| Contact.upsert(row.to_h) }
    end
    ```
    """

    code = "JL503"
    name = "whole-file-load"
    severity = Severity.WARNING
    scope = "file"
    summary = "A job loading a whole file or table into memory"
    message = "`{what}` loads all of it into memory in a job: use {instead}"
    help = "Stream the input: CSV.foreach / File.foreach for files, find_each / in_batches for tables"
    triggers = ("CSV", "readlines", "to_a", ".load")

    examples = Examples(
        bad=[
            {
                "app/jobs/import_contacts_job.rb": """
                class ImportContactsJob < ApplicationJob
                  discard_on Errno::ENOENT

                  def perform(path)
                    rows = CSV.read(path, headers: true) # expect: JL503
                    table = ::CSV.parse(File.read(path), headers: true) # expect: JL503
                    File.readlines(path).each { |line| puts line } # expect: JL503
                  end
                end
                """,
            },
            {
                "app/models/contact.rb": """
                class Contact < ApplicationRecord
                end
                """,
                "app/workers/export_worker.rb": """
                class ExportWorker
                  include Sidekiq::Job

                  def perform
                    contacts = Contact.all.to_a # expect: JL503
                    Contact.where(exported: false).load # expect: JL503
                    IO.readlines("/tmp/list").size # expect: JL503
                  end
                end
                """,
            },
        ],
        good=[
            {
                "app/jobs/import_contacts_job.rb": """
                class ImportContactsJob < ApplicationJob
                  discard_on Errno::ENOENT

                  def perform(path, blob_id)
                    CSV.foreach(path, headers: true) { |row| Contact.upsert(row.to_h) }
                    File.foreach(path) { |line| puts line }
                    CSV.parse(ActiveStorage::Blob.find(blob_id).download, headers: true)
                    YAML.load(File.read("config/mapping.yml"))
                  end
                end
                """,
            },
            {
                "app/models/contact.rb": """
                class Contact < ApplicationRecord
                end
                """,
                "app/jobs/export_job.rb": """
                class ExportJob < ApplicationJob
                  discard_on ActiveJob::DeserializationError

                  def perform(ids)
                    Contact.where(id: ids).to_a
                    Contact.order(:id).limit(500).load
                    Contact.all.find_each { |contact| contact.touch }
                  end
                end
                """,
                "lib/tasks/export.rake": """
                task export: :environment do
                  CSV.read("contacts.csv")
                  Contact.all.to_a
                end
                """,
            },
        ],
    )

    def check(self, source: SourceFile, app: App) -> Iterator[Hit]:
        for call in calls_named(source, _LOADS, receiver=True):
            found = self._whole_load(call, app)
            if found is None or app.job_kind_at(source, call) is None:
                continue
            what, instead = found
            yield head_hit(call, what=what, instead=instead)

    @staticmethod
    def _whole_load(call: Node, app: App) -> tuple[str, str] | None:
        method = ruby.call_method(call)
        path = call_path(call)
        if path is not None:
            path = path.removeprefix("::")
            if path in WHOLE_FILE_CALLS:
                return path, f"`{WHOLE_FILE_CALLS[path]}`"
            if path == "CSV.parse":
                args = ruby.call_arguments(call)
                if args and args[0].type == "call" and (call_path(args[0]) or "").removeprefix("::") in FILE_READS:
                    return "CSV.parse(File.read(…))", "`CSV.foreach`"
                return None
        if method not in ("to_a", "load") or ruby.call_arguments(call):
            return None
        relation = ruby.call_receiver(call)
        if relation is None or model_relation(relation, app) is None or is_bounded(relation):
            return None
        if method == "to_a" and ruby.call_method(relation) != "all":
            return None  # `.where(…).to_a` is usually bounded by its condition
        written = normalise(ruby.text(relation))
        if len(written) > 40:
            written = f"{ruby.constant_path(ruby.chain_root(relation))}…"
        return f"{written}.{method}", "`find_each` or `in_batches`"
