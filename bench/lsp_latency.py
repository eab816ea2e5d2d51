"""Editor latency of `joblint server`: the time from a change of an open job file to its
diagnostics, warm (the project model already built by the first check).

    python bench/lsp_latency.py PATH [--file app/jobs/x_job.rb] [--repeat 5]

Prints the cold first check (which builds the project model) and the best and median warm
check. Target: warm ≤ 300 ms on a 2,000-file app.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

from lsprotocol import types
from pygls.uris import from_fs_path
from pytest_lsp import client_capabilities, make_test_lsp_client


async def measure(root: Path, file: Path, repeat: int) -> tuple[float, list[float]]:
    client = make_test_lsp_client()
    await client.start_io(sys.executable, "-m", "joblint", "server")
    await client.initialize_session(types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"), root_uri=from_fs_path(str(root))))
    uri = from_fs_path(str(file))
    text = file.read_text()
    start = time.perf_counter()
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
        uri=uri, language_id="ruby", version=1, text=text)))
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    cold = time.perf_counter() - start
    warm = []
    for version in range(2, repeat + 2):
        edited = text + f"\n# edit {version}\n"
        start = time.perf_counter()
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=edited)]))
        await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        warm.append(time.perf_counter() - start)
    await client.shutdown_session()
    await client.stop()
    return cold, warm


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("path", type=Path)
    parser.add_argument("--file", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    root = args.path.resolve()
    file = (root / args.file) if args.file else next(
        p for d in ("app/jobs", "app/workers", "app/sidekiq") for p in sorted((root / d).rglob("*.rb"))
    )
    ruby_files = sum(1 for _ in root.rglob("*.rb"))
    cold, warm = asyncio.run(measure(root, file, args.repeat))
    print(f"app:        {root} ({ruby_files} Ruby files)")
    print(f"file:       {file.relative_to(root)}")
    print(f"cold check: {cold * 1000:.0f} ms (builds the project model)")
    print(f"warm check: best {min(warm) * 1000:.0f} ms, median {statistics.median(warm) * 1000:.0f} ms "
          f"(debounce included; target <= 300 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
