"""The `joblint` console script: answers `--version` without importing the analyzer, so the
question costs what starting Python costs; replays a check run that nothing can have changed
(`replay.py`); everything else goes to the click CLI."""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not `typing`'s: importing typing is a third of `--version`
if TYPE_CHECKING:
    from typing import NoReturn


def main() -> None:
    argv = sys.argv[1:]
    if argv in (["--version"], ["-V"]):
        from . import __version__

        sys.stdout.write(f"joblint, version {__version__}\n")
        return
    from . import replay

    key = replay.run_key(argv)
    if key is not None:
        code = replay.replay(key)
        if code is not None:
            sys.exit(code)
    import gc

    if "server" in argv or "mcp" in argv:
        # a server lives for hours: collect, but seldom (the default every 700 allocations
        # cost 5-10 % of an analysis)
        gc.set_threshold(100_000, 50, 1000)
    else:
        # a command allocates millions of objects and leaves no cyclic garbage of note before
        # it exits (peak memory the same to 1 MB on real apps): each collection only walked the
        # newest 100,000 objects, 15-20 ms apiece, a tenth of a one-file check
        gc.disable()
    from .cli import main as cli_main

    recorder = replay.Recorder(key) if key is not None else None
    code: object = None  # a crash is never recorded
    try:
        cli_main()
        code = 0
    except SystemExit as done:
        code = done.code
    finally:
        if recorder is not None:
            recorder.finish(code)
    _leave(code)


def _leave(code: object) -> NoReturn:
    """`sys.exit(code)`, skipping the interpreter's teardown — freeing every object of the
    project model took 30 ms of a 350 ms pre-commit run — when nothing waits for it: no exit
    handler registered (a coverage tool, a test's), no profiler or tracer, no other thread."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe: let the interpreter report it as it does
        sys.exit(code)
    import atexit
    import threading

    handlers = getattr(atexit, "_ncallbacks", None)
    if (code is None or isinstance(code, int)) and handlers is not None and handlers() == 0 \
            and threading.active_count() == 1 and sys.getprofile() is None and sys.gettrace() is None:
        os._exit(code or 0)
    sys.exit(code)
