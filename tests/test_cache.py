"""The persistent cache: a warm run prints exactly what a cold run prints, after any kind of edit;
unchanged files are replayed, not analysed; a corrupt, foreign or unwritable cache is rebuilt
or ignored, never trusted and never a traceback."""

from __future__ import annotations

import json
import marshal
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from joblint import cache, engine
from joblint.cli import main
from joblint.rails.classes import decode_definitions, encode_definitions, extract_definitions
from joblint.source import SourceFile

from .conftest import write_tree

APP = {
    "README.md": "# Shop\n",
    "Gemfile": "source 'https://rubygems.org'\ngem 'rails'\ngem 'sidekiq'\n",
    "Gemfile.lock": "GEM\n  specs:\n    rails (7.2.2)\n    sidekiq (7.3.9)\n",
    "config/application.rb": (
        "module Shop\n  class Application < Rails::Application\n"
        "    config.active_job.queue_adapter = :sidekiq\n  end\nend\n"
    ),
    "config/sidekiq.yml": ":queues:\n  - default\n",
    "app/models/application_record.rb": "class ApplicationRecord < ActiveRecord::Base\n  self.abstract_class = true\nend\n",
    "app/models/user.rb": "class User < ApplicationRecord\nend\n",
    "app/jobs/application_job.rb": "class ApplicationJob < ActiveJob::Base\nend\n",
    "app/jobs/notify_job.rb": (
        "class NotifyJob\n  include Sidekiq::Job\n  sidekiq_options queue: :default\n\n"
        "  def perform(user_id)\n    User.find(user_id).touch\n  end\nend\n"
    ),
    "app/jobs/sync_job.rb": (
        "class SyncJob < ApplicationJob\n  retry_on Timeout::Error, wait: :exponentially_longer, attempts: 5\n\n"
        "  def perform\n  end\nend\n"
    ),
    "app/controllers/users_controller.rb": (
        "class UsersController < ApplicationController\n  def update\n"
        "    user = User.find(params[:id])\n    NotifyJob.perform_async(user)\n  end\nend\n"
    ),
}

# (description, relpath, new text or None to delete, whether the cold output changes, files
# whose findings cannot depend on the edit and must be replayed rather than analysed again)
UNRELATED = ["app/controllers/users_controller.rb", "app/models/user.rb"]
EDITS = [
    ("a job's queue", "app/jobs/notify_job.rb", APP["app/jobs/notify_job.rb"].replace(":default", ":mailers"),
     True, ["Gemfile", "config/sidekiq.yml"]),
    ("a model renamed", "app/models/user.rb", "class Account < ApplicationRecord\nend\n", True, ["Gemfile"]),
    ("a YAML config", "config/sidekiq.yml", ":queues:\n  - critical\n", True, UNRELATED),
    ("Gemfile.lock", "Gemfile.lock", APP["Gemfile.lock"].replace("7.2.2", "7.0.8"), True, UNRELATED),
    ("a file added", "app/jobs/report_job.rb",
     "class ReportJob < ApplicationJob\n  def perform\n    sleep 5\n  end\nend\n", True, []),
    ("a file deleted", "app/models/user.rb", None, True, []),
    ("a comment only", "app/controllers/users_controller.rb",
     "# users\n" + APP["app/controllers/users_controller.rb"], True, ["Gemfile", "config/sidekiq.yml"]),
    ("a file no rule reads", "README.md", "# The shop\n", False, sorted(APP)),
    ("a .gitignore hiding a model", "app/.gitignore", "models/user.rb\n", True, []),
]


def age(root: Path, seconds: float = 100) -> None:
    """Files written long enough ago that their times are trusted (not too close to the run)."""
    past = time.time() - seconds
    for path in root.rglob("*"):
        if ".cache" not in path.parts:
            os.utime(path, (past, past))


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "shop"
    write_tree(root, APP)
    age(root)
    monkeypatch.chdir(root)
    monkeypatch.setenv("JOBLINT_CACHE_DIR", str(tmp_path / ".cache"))
    return root


@pytest.fixture
def analysed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files the engine analyses (rather than replays), run by run."""
    seen: list[str] = []
    original = engine._FileRun.file

    def spy(self, source, report):  # type: ignore[no-untyped-def]
        seen.append(source.relpath)
        return original(self, source, report)

    monkeypatch.setattr(engine._FileRun, "file", spy)
    return seen


def run(*args: str, path: str = ".") -> str:
    result = CliRunner().invoke(main, ["check", path, "--format", "json", "--exit-zero", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def codes(output: str) -> list[tuple[str, int, str]]:
    return [(f["path"], f["line"], f["code"]) for f in json.loads(output)["findings"]]


def test_a_warm_run_replays_every_file_and_prints_the_same(app: Path, analysed: list[str]) -> None:
    cold = run()
    assert {"JL101"} <= {code for _, _, code in codes(cold)}
    assert len(analysed) == 9
    analysed.clear()
    assert run() == cold
    assert analysed == []  # nothing analysed: every share came from the cache
    assert run("--no-cache") == cold
    assert len(analysed) == 9


@pytest.mark.parametrize(("what", "relpath", "text", "changes", "kept"), EDITS, ids=[e[0] for e in EDITS])
def test_after_each_kind_of_edit_a_warm_run_prints_what_a_cold_run_prints(
    app: Path, analysed: list[str], what: str, relpath: str, text: str | None, changes: bool,
    kept: list[str],
) -> None:
    before = run()
    if text is None:
        (app / relpath).unlink()
    else:
        (app / relpath).write_text(text, encoding="utf-8")
    analysed.clear()
    warm = run()
    assert relpath in analysed or text is None or not relpath.endswith((".rb", ".yml"))
    assert not set(kept) & set(analysed)  # an edit invalidates only what depends on it
    assert warm == run("--no-cache")
    assert (warm != before) == changes


def test_an_edit_with_trusted_times_is_still_seen(app: Path) -> None:
    """Same size, new time, files old enough for their times to be trusted: the cache compares
    times first and content when they differ."""
    run()
    job = app / "app/jobs/notify_job.rb"
    text = job.read_text(encoding="utf-8").replace(":default", ":xxxxxxx")
    job.write_text(text, encoding="utf-8")
    age(app, seconds=50)
    assert run() == run("--no-cache")
    assert "xxxxxxx" in run()


def test_only_the_named_file_is_analysed_on_the_pre_commit_path(app: Path, analysed: list[str]) -> None:
    run()
    job = app / "app/jobs/notify_job.rb"
    job.write_text(job.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    analysed.clear()
    result = CliRunner().invoke(main, ["check", "app/jobs/notify_job.rb", "--format", "json", "--exit-zero"])
    assert analysed == ["app/jobs/notify_job.rb"]
    assert result.stdout == CliRunner().invoke(
        main, ["check", "app/jobs/notify_job.rb", "--format", "json", "--exit-zero", "--no-cache"]
    ).stdout


def test_settings_are_part_of_the_key(app: Path, analysed: list[str]) -> None:
    run()
    (app / ".joblint.yml").write_text("ignore: [JL101]\n", encoding="utf-8")
    analysed.clear()
    warm = run()
    assert "JL101" not in {code for _, _, code in codes(warm)}
    assert warm == run("--no-cache")
    assert analysed  # new settings: a new context, analysed afresh


def cache_files(tmp_path: Path, pattern: str) -> list[Path]:
    return sorted((tmp_path / ".cache").rglob(pattern))


@pytest.mark.parametrize("damage", ["truncated", "garbage", "forged", "empty", "directory"])
def test_a_damaged_or_foreign_cache_is_rebuilt_not_trusted(
    app: Path, tmp_path: Path, analysed: list[str], damage: str
) -> None:
    cold = run()
    for path in cache_files(tmp_path, "*.bin"):
        data = path.read_bytes()
        if damage == "truncated":
            path.write_bytes(data[: len(data) // 2])
        elif damage == "garbage":
            path.write_bytes(os.urandom(300))
        elif damage == "forged":  # a valid document, findings removed, signature not ours
            header, _, body = data.partition(b"\n")
            document = marshal.loads(body)
            if path.name.startswith("findings-"):  # entries in parts, each a marshal string
                document["entries"] = [
                    marshal.dumps({key: [*entry[:3], {**entry[3], "findings": []}]
                                   for key, entry in marshal.loads(part).items()})
                    for part in document["entries"]
                ]
            path.write_bytes(header + b"\n" + marshal.dumps(document))
        elif damage == "empty":
            path.write_bytes(b"")
        else:
            path.unlink()
            path.mkdir()
    analysed.clear()
    assert run() == cold
    assert analysed  # analysed again
    if damage != "directory":
        analysed.clear()
        assert run() == cold
        assert analysed == []  # and the rebuilt cache is used


def test_two_runs_racing_leave_a_whole_cache(app: Path, tmp_path: Path) -> None:
    env = {**os.environ, "JOBLINT_CACHE_DIR": str(tmp_path / ".cache")}
    command = [sys.executable, "-m", "joblint", ".", "--format", "json", "--exit-zero"]
    processes = [
        subprocess.Popen(command, cwd=app, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert all(p.returncode == 0 for p in processes), [o[1] for o in outputs]
    assert len({o[0] for o in outputs}) == 1
    assert all(b"Traceback" not in o[1] for o in outputs)
    assert run() == outputs[0][0].decode()
    assert not cache_files(tmp_path, ".tmp-*")  # no temporary file left behind


def test_cache_location_and_switches(app: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOBLINT_CACHE_DIR")
    run("--no-cache")
    assert not (app / cache.DIR_NAME).exists()
    run()
    assert (app / cache.DIR_NAME / ".gitignore").read_text().splitlines()[-1] == "*"
    assert (app / cache.DIR_NAME / "CACHEDIR.TAG").is_file()
    run("--cache-dir", str(tmp_path / "elsewhere"))
    assert list((tmp_path / "elsewhere").rglob("findings-*.bin"))
    # the cache is never linted, and never read as part of the project
    assert cache.DIR_NAME not in run()


def test_an_unwritable_cache_directory_only_means_no_cache(app: Path, tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where a directory should be")
    blocked = blocked / "cache"
    cold = run("--no-cache")
    result = CliRunner().invoke(
        main, ["check", ".", "--format", "json", "--exit-zero", "--cache-dir", str(blocked)]
    )
    assert result.exit_code == 0
    assert result.stdout == cold
    assert "Traceback" not in result.output


def test_definitions_survive_the_cache_unchanged() -> None:
    fixtures = Path(__file__).parent / "fixtures"
    files = sorted(fixtures.rglob("*.rb"))
    assert len(files) > 20
    compared = 0
    for path in files:
        source = SourceFile(path, path.name, path.read_bytes())
        extracted = extract_definitions(source)
        encoded = marshal.loads(marshal.dumps(encode_definitions(extracted)))  # as the cache keeps it
        assert decode_definitions(encoded, source) == extracted
        compared += len(extracted)
    assert compared > 30


def test_entries_sharing_one_loaded_object_stay_apart(tmp_path: Path) -> None:
    """The saved definitions document writes equal facts and empty lists once; a file fact
    recorded for one file after loading it reaches that file only."""
    files = {name: tmp_path / f"{name}.rb" for name in ("a", "b", "c")}
    store = cache.Store(tmp_path / "cache", b"k" * 32)
    first = cache.DefinitionCache(store, "code")
    for name, path in files.items():
        path.write_text(f"class {name.upper()}\nend\n")
        source = SourceFile(path, path.name, path.read_bytes())
        encoded = encode_definitions(extract_definitions(source))
        first.record(path.name, str(path), cache.source_hash(source), encoded, False)
        first.record_file_fact(path.name, cache.source_hash(source), "wrappers", [])
    first.save()
    digests = [cache.source_hash(SourceFile(p, p.name, p.read_bytes())) for p in files.values()]
    names = [p.name for p in files.values()]
    loaded = cache.DefinitionCache(store, "code")
    assert loaded.file_facts("wrappers", names, digests) == [[], [], []]
    entries = loaded._load()
    assert entries["a.rb"][4] is entries["b.rb"][4]  # one object, as marshal wrote it
    loaded.record_file_fact("a.rb", digests[0], "wrappers", [["perform_soon", "A", "perform_async", 0]])
    loaded.record_file_fact("b.rb", digests[1], "retries", [])
    assert loaded.file_facts("wrappers", names, digests) == [[["perform_soon", "A", "perform_async", 0]], [], []]
    assert loaded.file_facts("retries", names, digests) == [None, [], None]
    for name, digest in zip(names, digests):
        found = loaded.lookup(name, digest)
        assert found is not None
        decoded = decode_definitions(found[0], SourceFile(files[name[0]], name, b""))
        decoded[0].includes.append("Mixin")  # a decoded list is the definition's own
    assert all(d[7] == [] for e in loaded._load().values() for d in e[2])


def test_problems_met_by_the_project_model_are_said_on_warm_runs_too(app: Path, analysed: list[str]) -> None:
    (app / "app/models/legacy.rb").write_bytes(b"class Legacy < ApplicationRecord\n  # caf\xe9\nend\n")
    age(app)
    args = ["check", "app/controllers", "--format", "json", "--exit-zero"]
    cold = CliRunner().invoke(main, args)
    analysed.clear()
    warm = CliRunner().invoke(main, args)
    assert analysed == []
    assert "app/models/legacy.rb: skipped: not valid UTF-8" in cold.stderr
    assert (warm.stdout, warm.stderr) == (cold.stdout, cold.stderr)


def test_deeply_nested_definitions_share_their_scopes() -> None:
    """Each level's scope tuple reuses the enclosing one's strings, and the cache stores names,
    not prefixes: memory and cache size grow with the depth, not its square."""
    depth = 60
    text = "".join(f"module M{i}\n" for i in range(depth)) + "class B::C\nend\n" + "end\n" * depth
    source = SourceFile(Path("deep.rb"), "app/models/deep.rb", text.encode())
    defs = extract_definitions(source)
    deepest = max(defs, key=lambda d: len(d.lexical_scope))
    outer = max((d for d in defs if d is not deepest), key=lambda d: len(d.lexical_scope))
    assert deepest.lexical_scope[-1] == "::".join(f"M{i}" for i in range(depth))
    assert all(a is b for a, b in zip(outer.lexical_scope, deepest.lexical_scope))
    encoded = marshal.dumps(encode_definitions(defs))
    assert len(encoded) < 60 * len(text)
    assert decode_definitions(marshal.loads(encoded), source) == defs


def test_the_model_directories_are_walked_again_only_when_a_directory_changed(
    app: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from joblint.rails import app as app_module
    from joblint.rails.app import App

    store = cache.Store(tmp_path / "store", b"k" * 32)
    walks: list[Path] = []

    def walk(top, *args, **kwargs):  # type: ignore[no-untyped-def]
        walks.append(top)
        return real_walk(top, *args, **kwargs)

    real_walk = app_module.walk_paths
    monkeypatch.setattr(app_module, "walk_paths", walk)

    def listed() -> set[str]:
        model = App(app)
        model.definition_cache = cache.DefinitionCache(store, "code")
        names = {s.relpath for s in model.model_files}
        _ = model.classes  # records the definitions, and the walk with them
        model.definition_cache.save()
        return names

    first = listed()
    assert "app/models/user.rb" in first and walks
    walks.clear()
    assert listed() == first and not walks  # nothing changed: the last walk is used
    (app / "app" / "models" / "admin").mkdir()
    (app / "app" / "models" / "admin" / "role.rb").write_text("class Admin::Role\nend\n")
    age(app)
    assert listed() == first | {"app/models/admin/role.rb"} and walks
    walks.clear()
    (app / "app" / ".gitignore").write_text("models/admin/\n")
    age(app)
    assert listed() == first and walks


def test_model_files_with_cached_definitions_are_read_only_when_asked(app: Path, tmp_path: Path) -> None:
    """A model file whose definitions the cache holds for its size and times is not read to
    build the class index; it is read when a rule asks for its bytes; an edit that keeps size
    and modification time still changes its change time, and the file is read again."""
    from joblint.rails.app import App

    store = cache.Store(tmp_path / "store", b"k" * 32)

    def model() -> App:
        built = App(app)
        built.definition_cache = cache.DefinitionCache(store, "code")
        return built

    first = model()
    assert "User" in first.classes
    first.definition_cache.save()  # type: ignore[union-attr]
    second = model()
    assert "User" in second.classes
    user = next(s for s in second.model_files if s.relpath == "app/models/user.rb")
    assert not user.loaded
    assert user.data == (app / "app/models/user.rb").read_bytes()
    path = app / "app/models/user.rb"
    before = os.stat(path)
    path.write_text("class Usxr < ApplicationRecord\nend\n")  # same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    third = model()
    assert "Usxr" in third.classes and "User" not in third.classes


def test_model_files_taken_from_the_cache_carry_their_per_file_facts(app: Path, tmp_path: Path) -> None:
    """A model file the model takes unread from the cache answers a per-file fact kept for its
    bytes without being read or looked up again; a fact the cache does not hold is built (and
    then kept), and a file edited since gets its fact built again."""
    from joblint.rails.app import App

    store = cache.Store(tmp_path / "store", b"k" * 32)
    built: list[str] = []

    def words(source) -> list[str]:  # type: ignore[no-untyped-def]
        built.append(source.relpath)
        return sorted(w.decode() for w in (b"perform_async", b"retry_on", b"has_many") if w in source.data)

    def model() -> App:
        made = App(app)
        made.definition_cache = cache.DefinitionCache(store, "code")
        return made

    first = model()
    cold = first.file_facts("words", first.model_files, words)
    _ = first.classes
    first.definition_cache.save()  # type: ignore[union-attr]
    assert sorted(built) == sorted(s.relpath for s in first.model_files) and ["retry_on"] in cold
    built.clear()
    second = model()
    lookups: list[int] = []
    real = second.definition_cache.file_facts  # type: ignore[union-attr]
    second.definition_cache.file_facts = lambda n, r, d: lookups.append(len(r)) or real(n, r, d)  # type: ignore[union-attr, method-assign]
    assert second.file_facts("words", second.model_files, words) == cold
    assert not built and not lookups and not any(s.loaded for s in second.model_files)
    assert "User" in second.classes and not any(s.loaded for s in second.model_files)
    other = second.file_facts("other", second.model_files, lambda s: [len(s.data)])
    assert other == [[len(s.data)] for s in second.model_files] and lookups == [len(other)]
    second.definition_cache.save()  # type: ignore[union-attr]
    (app / "app/models/user.rb").write_text("class User < ApplicationRecord\n  has_many :orders\nend\n")
    age(app)
    third = model()
    assert third.file_facts("other", third.model_files, lambda s: [-1]) == [
        [-1] if s.relpath == "app/models/user.rb" else [len(s.data)] for s in third.model_files]
    assert third.file_facts("words", third.model_files, words) == [
        ["has_many"] if s.relpath == "app/models/user.rb" else found
        for s, found in zip(third.model_files, cold)]
    assert built == ["app/models/user.rb"]


def test_findings_of_old_settings_do_not_pile_up(app: Path, tmp_path: Path) -> None:
    for code in ("JL101", "JL102", "JL103", "JL104", "JL105", "JL106", "JL107", "JL108", "JL201",
                 "JL202"):  # ten different selections: ten contexts
        run("--ignore", code)
    assert len(cache_files(tmp_path, "findings-*.bin")) == cache.KEEP_CONTEXTS


def test_facts_kept_between_runs_are_rebuilt_when_what_they_read_changes(
    app: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Zeitwerk and queue facts are kept with the files they were read from: a run that
    changed none of those takes them from the cache; an edited initializer or queue config, or
    a new file, rebuilds them, and the output is then the cold output."""
    from joblint.rails import queues, zeitwerk

    built: list[str] = []
    for module, name in ((zeitwerk, "_read"), (queues, "_build")):
        original = getattr(module, name)
        monkeypatch.setattr(module, name, lambda a, f=original, n=name: built.append(n) or f(a))
    write_tree(app, {
        "config/initializers/inflections.rb":
            'ActiveSupport::Inflector.inflections(:en) { |inflect| inflect.acronym "API" }\n',
        "app/jobs/api_sync_job.rb":
            "class APISyncJob < ApplicationJob\n  queue_as :default\n\n  def perform; end\nend\n",
    })
    age(app)

    def one_file(*extra: str) -> str:
        return run(*extra, path="app/jobs/api_sync_job.rb")

    run()  # a full run keeps the facts
    built.clear()
    assert one_file() == one_file("--no-cache")
    assert "JL705" not in one_file()
    built.clear()
    one_file()
    assert built == []  # both facts came from the cache
    (app / "config/initializers/inflections.rb").write_text("# no acronyms any more\n")
    age(app)
    built.clear()
    warm = one_file()
    assert "_read" in built  # the initializer changed: read again (the queue facts read it too)
    assert warm == one_file("--no-cache") and "JL705" in warm
    run()
    (app / "config/sidekiq.yml").write_text(":queues:\n  - critical\n")
    age(app)
    built.clear()
    warm = one_file()
    assert "_build" in built
    assert warm == one_file("--no-cache") and "JL601" in warm


@pytest.mark.parametrize("workers", ["1", "2"])
def test_per_file_facts_are_kept_with_the_definitions_and_rebuilt_for_edited_files(
    app: Path, monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    """Facts gathered from every model file (enqueue wrappers, associations and callbacks,
    Sidekiq retry options) keep each file's part with its definitions — also when worker
    processes built them: the pre-commit path rebuilds the part of the edited file only, and
    an edit to a file that contributes to them gives the cold output."""
    from joblint.rails import models, retries, wrappers

    built: list[str] = []
    for module, name in ((wrappers, "_file_wrappers"), (models, "_file_model_facts"),
                         (retries, "_file_retries")):
        original = getattr(module, name)
        monkeypatch.setattr(
            module, name, lambda s, f=original, n=name: built.append(f"{n}:{s.relpath}") or f(s)
        )
    write_tree(app, {
        "app/workers/base_worker.rb": (
            "class BaseWorker\n  include Sidekiq::Job\n  sidekiq_options retry: false\n\n"
            "  def self.perform_in_queue(queue, *args)\n    set(queue: queue).perform_async(*args)\n"
            "  end\nend\n"
        ),
        "app/workers/mail_worker.rb": (
            "class MailWorker < BaseWorker\n  def perform(user_id); end\nend\n"
        ),
        "app/controllers/mails_controller.rb": (
            "class MailsController < ApplicationController\n  def create\n"
            "    user = User.find(params[:id])\n    MailWorker.perform_in_queue(\"low\", user)\n"
            "  end\nend\n"
        ),
        "app/models/user.rb": "class User < ApplicationRecord\n  has_many :orders\nend\n",
    })
    age(app)

    def one_file(*extra: str) -> str:
        return run(*extra, path="app/controllers/mails_controller.rb")

    run("-j", workers)
    cold = one_file("--no-cache")
    assert ("app/controllers/mails_controller.rb", 4, "JL101") in codes(cold)  # through the wrapper
    (app / "app/controllers/mails_controller.rb").write_text(
        "# mails\n" + (app / "app/controllers/mails_controller.rb").read_text())
    built.clear()
    warm = one_file()
    assert built and {b.split(":", 1)[1] for b in built} == {"app/controllers/mails_controller.rb"}
    assert warm == one_file("--no-cache")
    built.clear()
    run()  # a full run: of the model directories' files, only the edited one is built again
    # (files from elsewhere join the index when they are analysed; the one-file run had none)
    rebuilt = {b.split(":", 1)[1] for b in built}
    assert {p for p in rebuilt if p.startswith("app/")} == {"app/controllers/mails_controller.rb"}
    (app / "app/workers/base_worker.rb").write_text(
        (app / "app/workers/base_worker.rb").read_text().replace("perform_in_queue", "enqueue_in"))
    built.clear()
    warm = one_file()
    assert "_file_wrappers:app/workers/base_worker.rb" in built
    assert "_file_wrappers:app/models/user.rb" not in built
    assert warm == one_file("--no-cache")
    assert "JL101" not in {code for _, _, code in codes(warm)}


def test_a_small_run_on_a_file_just_edited_keeps_nothing_and_prints_the_cold_output(
    app: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pre-commit path right after an edit: a run on a few files of a large cache keeps its
    shares for the whole-run replay only, and a file changed within the racy margin cannot be
    replayed — so the run keeps nothing. Once the file's time can be trusted, it keeps them."""
    write_tree(app, {f"app/models/thing{i}.rb": f"class Thing{i} < ApplicationRecord\nend\n"
                     for i in range(30)})
    age(app)
    kept: list[int] = []
    original = engine._keep
    monkeypatch.setattr(engine, "_keep", lambda *a: kept.append(1) or original(*a))
    run()
    assert kept
    job = app / "app/jobs/notify_job.rb"
    job.write_text(job.read_text().replace("touch", "touch(:seen_at)"))
    kept.clear()
    assert run(path="app/jobs/notify_job.rb") == run("--no-cache", path="app/jobs/notify_job.rb")
    assert kept == []
    age(app)
    run(path="app/jobs/notify_job.rb")
    assert kept == [1]


def test_a_one_file_run_makes_objects_of_one_part_of_the_findings_entries(
    app: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The entries are kept in parts by path: a run on one file of many builds only the part
    that holds it, and still prints what a cold run prints."""
    write_tree(app, {f"app/models/thing{i}.rb": f"class Thing{i} < ApplicationRecord\nend\n"
                     for i in range(60)})
    age(app)
    cold = run()
    parts: list[int] = []
    original = cache.FindingCache._part
    monkeypatch.setattr(cache.FindingCache, "_part", lambda self, i: parts.append(i) or original(self, i))
    one_file = "app/controllers/users_controller.rb"
    assert run(path=one_file) == run("--no-cache", path=one_file)
    assert len(set(parts)) == 1
    (app / one_file).write_text("# users\n" + APP[one_file])
    parts.clear()
    assert run(path=one_file) == run("--no-cache", path=one_file)
    assert len(set(parts)) == 1
    parts.clear()
    warm = run()
    assert len(set(parts)) == cache.SHARDS  # a full run writes the cache: it needs them all
    assert warm == run("--no-cache") != cold
