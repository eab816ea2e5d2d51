"""Positions: 1-based lines, character columns, UTF-16 columns for SARIF."""

from __future__ import annotations

from pathlib import Path

from joblint import ruby
from joblint.source import SourceFile


def source(text: str) -> SourceFile:
    return SourceFile(Path("x.rb"), "x.rb", text.encode("utf-8"))


def test_columns_count_characters_and_utf16_units():
    file = source('x = "é😀"; Job.perform_later(user)\n')
    offset = file.data.index(b"user")
    position = file.position(offset)
    assert position.line == 1
    assert position.column == 29  # characters: é and 😀 are one each
    assert position.utf16_column == 30  # 😀 is two UTF-16 code units


def test_line_text_and_positions_on_later_lines():
    file = source("a\r\nbb\n\ncc")
    assert file.position(file.data.index(b"cc")).line == 4
    assert file.line_text(1) == "a"
    assert file.line_text(4) == "cc"
    assert file.line_text(9) == ""


def test_a_node_line_from_its_row_is_the_line_position_gives():
    """The model takes a definition's line from the tree (`ruby.line`, the row + 1): it is the
    line `position` counts on every node, with CRLF, lone CR, tabs and wide characters."""
    file = source("# é😀\r\nclass A\r  def x; end\r\n\tdef y\n    z = 'é\n😀'\n  end\nend\n\rmodule B; end\n")
    nodes = list(ruby.walk(file.root))
    assert len(nodes) >= 15
    for node in nodes:
        assert ruby.line(node) == file.position(node.start_byte).line


def test_first_error_is_the_innermost_error():
    tree = ruby.parse(b"def a\n  foo(1))\nend\n")
    error = ruby.first_error(tree)
    assert error is not None and error.start_point.row == 1
    assert ruby.first_error(ruby.parse(b"def a = 1\n")) is None


def test_every_rule_query_compiles_at_import():
    from joblint import rules

    assert len(rules.all_rules()) >= 6  # importing the modules compiled their queries
