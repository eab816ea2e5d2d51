"""Start-up cost: `--version` imports nothing of the analyzer, and queries compile on first use
(every declared query still compiles: a malformed one fails here, not in a user's run)."""

from __future__ import annotations

import subprocess
import sys

from joblint import __version__, ruby


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
    import joblint.inventory  # noqa: F401 - declares the queries of every module
    from joblint import rules

    rules.all_rules()
    assert ruby.compile_all() > 40  # 49: six became searches without a query (node_search)
    assert lazy._query is not None
