"""The `joblint` console script: answers `--version` without importing the analyzer, so the
question costs what starting Python costs; everything else goes to the click CLI."""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:] in (["--version"], ["-V"]):
        from . import __version__

        sys.stdout.write(f"joblint, version {__version__}\n")
        return
    from .cli import main as cli_main

    cli_main()
