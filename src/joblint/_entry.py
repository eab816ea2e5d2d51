"""The `joblint` console script: answers `--version` without importing the analyzer, so the
question costs what starting Python costs; replays a check run that nothing can have changed
(`replay.py`); everything else goes to the click CLI."""

from __future__ import annotations

import sys


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

    # a run allocates millions of short-lived objects and makes few cycles: the default
    # collection every 700 allocations cost 5-10 % of its time, for no memory saved
    gc.set_threshold(100_000, 50, 1000)
    from .cli import main as cli_main

    if key is None:
        cli_main()
        return
    recorder = replay.Recorder(key)
    code: object = None  # a crash is never recorded
    try:
        cli_main()
        code = 0
    except SystemExit as done:
        code = done.code
        raise
    finally:
        recorder.finish(code)
