"""Hostile and unusual input found by the stress run: each ends with one line and the run goes
on — never a traceback, never a hang."""

from __future__ import annotations

import json
import os
import sys

import pytest
from click.testing import CliRunner

from joblint.cli import main

from .conftest import write_tree

JOB = (
    "class SyncJob < ApplicationJob\n  def perform(id)\n"
    "    SyncWorker.perform_async(User.find(id))\n  end\nend\n"
)
APP = {"Gemfile": 'source "https://rubygems.org"\n', "app/jobs/sync_job.rb": JOB}


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def app(tmp_path, monkeypatch):
    write_tree(tmp_path, APP)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_an_invalid_gitignore_line_is_ignored_with_a_warning(app):
    (app / ".gitignore").write_text("ok.log\nbroken\\\n")
    result = run(".", "--format", "json")
    assert result.exit_code == 1  # the JL606 finding: the run went on
    assert ".gitignore:2: not a valid gitignore pattern, ignored" in result.stderr
    assert json.loads(result.stdout)["findings"]


def test_invalid_exclude_and_per_file_ignore_patterns_are_ignored_with_a_warning(app):
    (app / ".joblint.yml").write_text('exclude: ["bad\\\\"]\nper-file-ignores:\n  "worse\\\\": [JL606]\n')
    result = run(".", "--exclude", "cli\\", "--format", "json")
    assert result.exit_code == 1
    assert "key 'exclude': not a valid gitignore pattern, ignored" in result.stderr
    assert "key 'per-file-ignores': not a valid gitignore pattern, ignored" in result.stderr
    assert "--exclude 'cli\\\\': not a valid gitignore pattern, ignored" in result.stderr


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("pyproject.toml", "[tool.joblint]\nx = " + "[" * 3000 + "]" * 3000 + "\n", "TOML nests too deeply"),
        (".joblint.yml", "select: " + "[" * 5000 + "]" * 5000 + "\n", "YAML nests too deeply"),
    ],
)
def test_a_deeply_nested_configuration_is_one_line(app, name, text, says):
    (app / name).write_text(text)
    result = run(".")
    assert result.exit_code == 2
    assert says in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_versions_with_thousands_of_digits_are_unknown_not_a_crash(app):
    write_tree(app, {
        "Gemfile.lock": f"GEM\n  specs:\n    rails ({'7' * 5000})\n    sidekiq ({'9' * 6000}.0)\n",
        "config/recurring.yml": f"production:\n  t:\n    class: SyncJob\n    schedule: \"*/{'1' * 5000} * * * *\"\n",
    })
    result = run(".", "--select", "ALL", "--format", "json")
    assert "internal error" not in result.stderr
    assert result.exit_code in (0, 1)


def test_a_5000_deep_constant_path_is_read_without_recursion(app):
    (app / "app/jobs/deep_job.rb").write_text(
        "class " + "A::" * 5000 + "DeepJob < ApplicationJob\n  def perform; end\nend\n")
    result = run(".", "--select", "ALL", "--format", "json")
    assert "internal error" not in result.stderr and result.exit_code in (0, 1)


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS refuses file names that are not UTF-8")
@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "concise", "github", "gitlab"])
def test_a_file_name_that_is_not_utf8_is_shown_escaped_in_every_format(app, fmt):
    name = os.fsencode(app / "app/jobs") + b"/bad\xff\xfe_job.rb"
    with open(name, "wb") as handle:
        handle.write(JOB.replace("SyncJob", "BadJob").encode())
    result = run(".", "--format", fmt)
    assert result.exit_code == 1
    shown = result.stdout.replace("\\\\", "\\")  # JSON formats escape the backslash itself
    shown = shown.replace("%5C", "\\")  # SARIF percent-encodes it in the URI
    assert "bad\\xff\\xfe_job.rb" in shown


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_devices_and_fifos_are_skipped_not_read(app):
    os.symlink("/dev/zero", app / "app/jobs/zero_job.rb")
    os.symlink("/dev/zero", app / "config_sidekiq.yml")
    os.mkfifo(app / "app/jobs/fifo_job.rb")
    result = run(".", "--format", "concise")  # would hang on the FIFO, or fill memory from /dev/zero
    assert result.exit_code == 1
    assert "app/jobs/fifo_job.rb: skipped: not a regular file" in result.stderr
    assert "app/jobs/zero_job.rb: skipped: a link to a file outside the project" in result.stderr
    assert "not a regular file" in run("app/jobs/zero_job.rb").stderr  # named: still not read
    named = run("app/jobs/fifo_job.rb")
    assert named.exit_code == 0 and "not a regular file" in named.stderr
    assert "no files to check" not in named.stderr  # the skip already said why


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no sockets as files here")
def test_a_socket_file_is_skipped_as_not_regular(app):
    import socket

    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(app / "app/jobs/socket_job.rb"))  # opening it fails: no device
        result = run(".", "--format", "concise")
    finally:
        server.close()
    assert "app/jobs/socket_job.rb: skipped: not a regular file" in result.stderr


def test_a_file_is_read_to_its_end_whatever_size_it_had_when_opened(tmp_path, monkeypatch):
    """The size is a hint: a file that grows while it is read (here, one whose size reads 0)
    is read to its end, in pieces, and refused once it passes the limit."""
    from joblint import files

    path = tmp_path / "grown.rb"
    real_fstat = os.fstat

    def shrunk(descriptor):
        found = real_fstat(descriptor)
        return os.stat_result((found.st_mode, *[0] * 5, 0, *found[7:]))

    for size, limit, expected in ((0, 10, b""), (10, 10, b"x" * 10), (11, 10, None),
                                  (200_000, 300_000, b"x" * 200_000), (200_001, 200_000, None)):
        path.write_bytes(b"x" * size)
        assert files.read_bounded(path, limit) == expected
        monkeypatch.setattr(files.os, "fstat", shrunk)
        assert files.read_bounded(path, limit) == expected
        monkeypatch.setattr(files.os, "fstat", real_fstat)


@pytest.mark.parametrize("fmt", ["text", "concise", "github"])
def test_control_characters_from_code_and_file_names_are_escaped(app, fmt, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    write_tree(app, {
        "Gemfile.lock": "GEM\n  specs:\n    rails (7.1.3)\n    sidekiq (7.2.0)\n",
        "config/application.rb": "module Shop\n  class Application < Rails::Application\n"
                                 "    config.active_job.queue_adapter = :sidekiq\n  end\nend\n",
        "config/sidekiq.yml": ":queues:\n  - default\n",
        "app/jobs/evil\x1b]8;;x\x07_job.rb": (
            'class EvilJob < ApplicationJob\n  queue_as "a\\n::error::pwned\\e[31m"\n'
            '  queue_as "b\n::error file=x::pwned"\n  def perform; end\nend\n'),
    })
    result = run(".", "--format", fmt)
    everything = result.stdout + result.stderr
    assert "\x1b" not in everything and "\x07" not in everything
    assert not any(line.startswith(("::error::pwned", "::error file=x"))
                   for line in everything.splitlines())
    assert "evil\\x1b]8;;x\\x07_job.rb" in everything.replace("%5C", "\\")


def test_a_link_out_of_the_project_is_not_read_unless_named(app, tmp_path_factory):
    secret = tmp_path_factory.mktemp("outside") / "secret.rb"
    secret.write_text("SECRET = 'hunter2'\nSyncWorker.perform_async(:leak)\n")
    os.symlink(secret, app / "app/jobs/leak_job.rb")
    walked = run(".", "--format", "text")
    assert "hunter2" not in walked.stdout + walked.stderr
    assert "app/jobs/leak_job.rb: skipped: a link to a file outside the project" in walked.stderr
    named = run("app/jobs/leak_job.rb", "--format", "concise")
    assert "app/jobs/leak_job.rb" in named.stdout  # named on the command line: the user chose it


def test_an_unreadable_gemfile_lock_and_directory_are_said_once(app, monkeypatch):
    from joblint import files

    real_open = os.open

    (app / "Gemfile.lock").write_text("GEM\n  specs:\n    rails (7.1.3)\n")

    def deny(path, *args, **kwargs):
        if str(path).endswith("Gemfile.lock"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    real_walk = os.walk

    def walk(top, *args, onerror=None, **kwargs):
        if onerror is not None:
            onerror(PermissionError(13, "Permission denied", str(app / "app/secret")))
        return real_walk(top, *args, onerror=onerror, **kwargs)

    monkeypatch.setattr(files.os, "open", deny)  # how `read_bounded` opens a file
    monkeypatch.setattr(files.os, "walk", walk)
    result = run(".", "--format", "concise")
    assert result.stderr.count("Gemfile.lock: skipped: permission denied") == 1
    assert "app/secret: directory not walked: permission denied" in result.stderr


def test_a_megabyte_line_keeps_a_small_code_frame_per_finding(app):
    from pathlib import Path

    from joblint import rules
    from joblint.engine import Options, lint

    call = "SyncWorker.perform_async(User.find(1)); "
    write_tree(app, {"app/models/user.rb": "class User < ApplicationRecord\nend\n"})
    (app / "app/jobs/wide_job.rb").write_text("# " + "x" * 100_000 + "\n" + call * 2000 + "\n")
    report = lint([Path(".")], Options(rules=rules.select(["JL101"])), cwd=app)
    frames = [f for f in report.findings if f.path == "app/jobs/wide_job.rb"]
    assert len(frames) == 2000
    assert max(len(f.line_text) for f in frames) <= 240  # not 80 KB each
    last = frames[-1]
    assert last.frame_start > 0 and "User.find(1)" in last.line_text
    text = run("app/jobs/wide_job.rb", "--select", "JL101", "--format", "text").stdout
    assert "│ …" in text and max(len(line) for line in text.splitlines()) < 400


@pytest.mark.parametrize(
    "text",
    [
        "class EachJob < ApplicationJob\n  def perform\n" + "User.all.each do |u|\n" * 100
        + "SyncWorker.perform_async(u)\n" + "end\n" * 100 + "  end\nend\n",
        "module M\n" * 300 + "class DeepJob < ApplicationJob\n  def perform; end\nend\n" + "end\n" * 300,
        "class DeepJob < ApplicationJob\n  def perform\n    User" + ".where(a: 1)" * 3000
        + ".each { |u| SyncWorker.perform_async(u) }\n  end\nend\n",
    ],
    ids=["nested-blocks", "nested-modules", "long-method-chain"],
)
def test_code_nested_past_what_rules_handle_gets_one_notice_and_no_guesses(app, text):
    (app / "app/jobs/deep_job.rb").write_text(text)
    result = run("app/jobs/deep_job.rb", "--select", "ALL", "--format", "json")
    assert json.loads(result.stdout)["findings"] == []
    assert result.stderr.count("app/jobs/deep_job.rb: not analysed: the code is nested deeper") == 1
    assert "internal error" not in result.stderr


def test_many_excludes_are_matched_as_one_expression(app):
    from joblint.files import Excludes

    globs = [f"generated/dir{i}/*.rb" for i in range(2000)] + ["legacy/", "*_spec.rb"]
    excludes = Excludes(app, globs)
    assert excludes._user.combined is not None  # no negation: one expression, not 2,002 tries
    assert excludes.excluded(app / "generated/dir1999/x.rb", is_dir=False)
    assert excludes.excluded(app / "app/legacy", is_dir=True)
    assert excludes.excluded(app / "app/models/user_spec.rb", is_dir=False)
    assert not excludes.excluded(app / "app/models/user.rb", is_dir=False)
    negated = Excludes(app, ["*.rb", "!keep.rb"])
    assert negated._user.combined is None  # order matters: pathspec decides
    assert not negated._user.match_file("keep.rb")
    assert negated._user.match_file("other.rb")


def test_a_long_walk_up_finds_the_same_ancestors_as_the_parent_chain():
    from joblint import ruby

    def parent_chain(node):
        chain = []
        while (node := node.parent) is not None:
            chain.append(node)
        return chain

    code = ("module M\n" * 60 + "class A::B < C\n  def x = y.z(1) { |a| [a, *b, {c: <<~T}] }\nT\n"
            "  def broken(\nend\n" + "end\n" * 60 + "foo(((1)))\n")
    root = ruby.parse(code.encode()).root_node
    nodes = list(ruby.walk(root))
    deepest = max(nodes, key=lambda node: len(parent_chain(node)))
    elsewhere = ruby.parse(b"module M\n  x\nend\n").root_node
    for lead in (elsewhere, root):  # the root the last walk reached: another tree, then this one
        list(ruby.ancestors(lead.descendant_for_byte_range(7, 8)))  # a leaf: up to the root
        assert list(ruby.ancestors(deepest)) == parent_chain(deepest)
    for node in nodes:
        assert list(ruby.ancestors(node)) == parent_chain(node)


def test_the_depth_probe_stops_early_with_the_answer_of_the_full_probe():
    """`too_deep` stops where the nodes left below cannot reach MAX_ASCENT; around the limit,
    and on shapes nested in different ways, it answers as the probe walked to the end does."""
    from joblint import ruby

    def full_probe(node):
        depth = 0
        while node.child_count:
            depth += 1
            if depth > ruby.MAX_ASCENT:
                return True
            node = max(node.children, key=lambda child: child.descendant_count)
        return False

    shapes = [lambda n: "[" * n + "1" + "]" * n, lambda n: "x" + ".y" * n,
              lambda n: "module M\n" * n + "end\n" * n, lambda n: "f(" * n + ")" * n,
              lambda n: "a = " * n + "1"]
    answers = set()
    for shape in shapes:
        for n in [*range(60, 300, 20), *range(120, 140), *range(245, 262)]:
            root = ruby.parse(shape(n).encode()).root_node
            answers.add(ruby.too_deep(root))
            assert ruby.too_deep(root) == full_probe(root), (shape(3), n)
    assert answers == {True, False}


def test_a_walk_past_max_ascent_raises_however_it_finds_the_path():
    from joblint import ruby

    deep = ruby.parse(("[" * 300 + "1" + "]" * 300).encode()).root_node
    leaf = deep
    while leaf.named_child_count:
        leaf = leaf.named_children[0]
    list(ruby.ancestors(deep.children[0]))  # the deep tree is the last walked: the search runs
    with pytest.raises(ruby.TooDeep):
        list(ruby.ancestors(leaf))
    walk = ruby.ancestors(leaf)
    assert len([next(walk) for _ in range(ruby.MAX_ASCENT)]) == ruby.MAX_ASCENT
    with pytest.raises(ruby.TooDeep):
        next(walk)


def test_no_line_anchored_expression_can_run_over_blank_lines():
    """`^\\s*` under MULTILINE starts at every blank line and runs over all those after it: a
    config/application.rb padded with 10,000 blank lines took 3 s, a million would take hours."""
    import importlib
    import pkgutil
    import re

    import joblint

    found = []
    for module in pkgutil.walk_packages(joblint.__path__, "joblint."):
        if module.name.endswith("__main__"):
            continue  # runs the command line
        for name, value in vars(importlib.import_module(module.name)).items():
            if isinstance(value, re.Pattern) and value.flags & re.MULTILINE:
                source = value.pattern if isinstance(value.pattern, str) else value.pattern.decode()
                if re.search(r"\^\\s\*", source):
                    found.append(f"{module.name}.{name}")
    assert found == []


def test_last_assignment_from_the_scope_index_is_the_one_a_walk_finds():
    from joblint import ruby

    def walked(name, before):  # the definition: the last assignment in document order before
        found = None
        for node in ruby.descendants(ruby.enclosing_method_or_root(before), {"assignment", "operator_assignment"}):
            if node.start_byte >= before.start_byte:
                break
            left = node.child_by_field_name("left")
            if left is not None and left.type in ("identifier", "instance_variable") and ruby.text(left) == name:
                found = node.child_by_field_name("right") if node.type == "assignment" else None
        return found

    code = (b"a = 1\nuse(a)\ndef m(x)\n  a = b = User.find(x)\n  use(a, b)\n  a += 1\n  use(a)\n"
            b"  @r = a\n  items.each { |i| a = i; use(a, @r) }\n  use(a)\nend\na = 2\nuse(a, b)\n")
    for root in (ruby.parse(code).root_node, ruby.parse(code).root_node):  # a tree the index has not seen
        for node in ruby.walk(root):
            if node.type in ("identifier", "instance_variable"):
                assert ruby.last_assignment(ruby.text(node), node) == walked(ruby.text(node), node)
