"""Start-up cost: `--version` imports nothing of the analyzer, and queries compile on first use
(every declared query still compiles: a malformed one fails here, not in a user's run)."""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys

import pytest

from joblint import __version__, ruby
from joblint.source import SourceFile


def test_version_imports_neither_the_parser_nor_the_terminal_library():
    probe = (
        "import sys; sys.argv = ['joblint', '--version']\n"
        "from joblint._entry import main; main()\n"
        "print(sorted(m for m in ('tree_sitter', 'rich', 'click', 'joblint.rules') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == [f"joblint, version {__version__}", "[]"]


def test_dash_v_and_python_dash_m_agree_with_click():
    for args in (["-V"], ["--version"]):
        done = subprocess.run([sys.executable, "-m", "joblint", *args], capture_output=True,
                              text=True, check=True)
        assert done.stdout == f"joblint, version {__version__}\n"


def test_queries_compile_on_first_use_and_all_of_them_compile():
    lazy = ruby.compile_query("(call method: (identifier) @m (#eq? @m \"never_used_here\")) @call")
    assert lazy._query is None
    import joblint

    for module in pkgutil.walk_packages(joblint.__path__, "joblint."):  # each declares its own
        if module.name != "joblint.__main__":
            importlib.import_module(module.name)
    assert ruby.compile_all() > 30  # 35 declared by joblint's modules, whichever ran first
    assert lazy._query is not None


def test_rules_lists_every_rule_without_importing_the_analyzer():
    probe = (
        "import atexit, sys; sys.argv = ['joblint', 'rules', '--format', 'json']\n"
        "atexit.register(lambda: print(sorted(m for m in ('tree_sitter', 'joblint.engine',"
        " 'joblint.rules', 'joblint.rails', 'yaml') if m in sys.modules), file=sys.stderr))\n"
        "from joblint._entry import main\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stderr.strip() == "[]"
    import json

    from joblint import rules

    listed = [(r["code"], r["name"], r["severity"], r["default"]) for r in json.loads(done.stdout)["rules"]]
    assert listed == [(r.code, r.name, r.severity.label, r.default_enabled) for r in rules.all_rules()]


def test_the_generated_rule_index_and_the_format_list_are_current():
    from joblint import catalogue, cli, reporters

    assert catalogue.INDEX_MODULE.read_text("utf-8") == catalogue.index_module(), (
        "regenerate with `python -m joblint.catalogue`"
    )
    assert cli.FORMATS == tuple(reporters.FORMATS)


def test_findings_printed_to_a_pipe_do_not_import_the_terminal_library(tmp_path):
    from .conftest import write_tree

    write_tree(tmp_path, {
        "Gemfile": "",
        "app/models/user.rb": "class User < ApplicationRecord\nend\n",
        "app/workers/touch_worker.rb": (
            "class TouchWorker\n  include Sidekiq::Worker\n\n  def perform(id); end\nend\n"
        ),
        "app/controllers/users_controller.rb": (
            "class UsersController\n  def create(user)\n    TouchWorker.perform_async(user)\n  end\nend\n"
        ),
    })
    probe = (
        "import atexit, sys; sys.argv = ['joblint', '.', '--no-cache']\n"
        "atexit.register(lambda: print(sorted(m for m in sys.modules if m.split('.')[0] == 'rich'),"
        " file=sys.stderr))\n"
        "from joblint._entry import main\n"
        "main()\n"
    )
    environment = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd=tmp_path, env=environment, check=False)
    assert "JL101" in done.stdout and "Found 1 finding" in done.stdout, done.stdout + done.stderr
    assert done.stderr.strip() == "[]"


def test_a_check_of_one_job_imports_only_the_rules_its_words_call_for(tmp_path):
    from .conftest import write_tree

    write_tree(tmp_path, {
        "Gemfile": "",
        "app/jobs/touch_job.rb": "class TouchJob < ApplicationJob\n  def perform(id); end\nend\n",
        "app/mailboxes/inbox_mailbox.rb": "class InboxMailbox < ApplicationMailbox\n  def process; end\nend\n",
    })
    probe = (
        "import atexit, sys; sys.argv = ['joblint', 'app/jobs/touch_job.rb', '--no-cache']\n"
        "atexit.register(lambda: print(sorted(m.rsplit('.', 1)[1][:5] for m in sys.modules"
        " if m.startswith('joblint.rules.jl')), file=sys.stderr))\n"
        "from joblint._entry import main\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path,
                          check=True)
    imported = set(eval(done.stderr.strip().splitlines()[-1]))  # our own probe's list
    from joblint import rules

    wanted = {r.code.lower() for r in rules.select() if r.wants(
        SourceFile("app/jobs/touch_job.rb", "app/jobs/touch_job.rb",
                   (tmp_path / "app/jobs/touch_job.rb").read_bytes()))}
    assert wanted and wanted <= imported
    assert "jl408" not in imported and len(imported) < len(rules.select()) // 2, imported


def test_the_rules_a_run_selects_answer_as_their_classes_do():
    from joblint import rules

    classes = {r.code: r for r in rules.all_rules()}
    selected = rules.select(["ALL"])
    assert [r.code for r in selected] == sorted(classes)
    for lazy in selected:
        rule = classes[lazy.code]
        described = ("name", "severity", "scope", "default_enabled", "fixable", "summary", "triggers",
                     "trigger_bytes")
        assert [lazy.__dict__[a] for a in described] == [getattr(rule, a) for a in described]
        assert rules.own_dispatch(lazy) == rules.own_dispatch(rule)
        assert lazy.help == rule.help and lazy.loaded() is rule  # the rest, from the class
        assert rules.lookup(rule.name) is rules.lookup(rule.code) is lazy


def test_dispatch_picks_the_rules_that_want_the_file_from_the_index_as_from_the_classes():
    from joblint import engine, rules

    lazy = engine._Dispatch(rules.select(["ALL"]))
    loaded = engine._Dispatch(rules.all_rules())
    compared = 0
    for _, _, _, tree in rules.iter_examples():
        for path, text in tree.items():
            source = SourceFile(path, path, text.encode())
            defined = [r.code for r in rules.all_rules() if r.wants(source) and r.applies_to(source)]
            assert [r.code for r in lazy.rules_for(source)] == defined, path
            assert [r.code for r in loaded.rules_for(source)] == defined, path
            compared += 1
    assert compared > 200


@pytest.mark.parametrize(("command", "collects"), [
    (["rules", "--format", "json"], False),
    (["server"], True),  # a process that lives for hours
])
def test_only_long_running_commands_keep_the_cycle_collector(command, collects):
    probe = (
        "import atexit, gc, sys\n"
        "import joblint.lsp; joblint.lsp.serve = lambda: None  # not a real session\n"
        f"sys.argv = ['joblint', *{command!r}]\n"
        "atexit.register(lambda: print(gc.isenabled(), gc.get_threshold()[0], file=sys.stderr))\n"
        "from joblint._entry import main\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    enabled, threshold = done.stderr.split()[-2:]
    assert enabled == str(collects)
    assert not collects or int(threshold) >= 100_000


def test_a_pattern_declared_at_import_compiles_on_first_use_and_answers_as_re_does():
    import re

    from joblint.patterns import lazy_pattern

    lazy = lazy_pattern(r"(?P<word>\w+)=(\d+)", re.ASCII)
    assert "_compiled" not in vars(lazy)
    compiled = re.compile(r"(?P<word>\w+)=(\d+)", re.ASCII)
    text = "a=1 bé=2 c=3"
    assert lazy.search(text).group("word") == compiled.search(text).group("word")
    assert [m.span() for m in lazy.finditer(text)] == [m.span() for m in compiled.finditer(text)]
    assert lazy.sub(r"\2", text) == compiled.sub(r"\2", text) and lazy.findall(text) == compiled.findall(text)
    assert (lazy.pattern, lazy.flags, lazy.groups, lazy.groupindex) == (
        compiled.pattern, compiled.flags, compiled.groups, compiled.groupindex)
    assert lazy.scanner(text).search().group() == "a=1"  # what is not bound comes from the pattern
    assert vars(lazy)["search"].__self__ is vars(lazy)["_compiled"]  # bound once


@pytest.mark.parametrize("collecting", [False, True])
def test_a_command_leaves_its_project_model_to_the_exit_and_a_server_frees_it(tmp_path, collecting):
    """A command (the collector off) exits without freeing the model: freeing 10,000 files'
    took 13 ms of a one-file run. A server (the collector on) must not hold it between runs."""
    import gc
    import weakref

    from joblint import engine, rules

    from .conftest import write_tree

    write_tree(tmp_path, {"Gemfile": "", "app/jobs/touch_job.rb": "class TouchJob < ApplicationJob\nend\n"})
    engine._LAST_MODELS.clear()
    was = gc.isenabled()
    (gc.enable if collecting else gc.disable)()
    try:
        made = []
        original = engine.App
        engine.App = lambda *a, **k: made.append(original(*a, **k)) or made[-1]
        try:
            engine.lint([tmp_path / "app/jobs/touch_job.rb"],
                        engine.Options(rules=rules.select(), cache=False), cwd=tmp_path)
        finally:
            engine.App = original
        model = weakref.ref(made.pop())
        if collecting:
            gc.collect()  # nothing holds it: gone, whether by count or by the collector
        assert (model() is None) == collecting
        assert engine._LAST_MODELS == ([] if collecting else [model()])
    finally:
        engine._LAST_MODELS.clear()
        (gc.enable if was else gc.disable)()
