"""``python -m bench.versions``: what a new version of a large delivery costs, and what it stores.

A delivery of N files (``--files``, ``--size`` bytes each, random) is ingested as version 1;
then a copy of it with ``--changed`` files rewritten and one file added is ingested with
``--new-version-of``. Both runs go through the real command line, one process each, on a local
location under a temporary folder, so the times include start-up. Reported: the wall time of
each, the bytes the location holds before and after the version (the version must add only the
new content and its tag files), and the staging space the version used at its peak.

    python -m bench.versions                       # 2,000 files of 100 kB, 1 changed
    python -m bench.versions --files 10000 --size 20000 --changed 10
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def tree_bytes(root: Path, skip: str = ".preserve-tmp") -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and skip not in p.parts)


def run(env: dict[str, str], *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "preserve.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"preserve {' '.join(args)} failed: {result.stderr}")
    return wall, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--changed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="preserve-bench-versions-") as tmp:
        root = Path(tmp)
        home = root / "home"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PRESERVE_")}
        env["PRESERVE_HOME"] = str(home)
        run(env, "init")
        run(env, "collections", "add", "bench")
        first = root / "delivery"
        for i in range(args.files):
            folder = first / f"s{i % 50:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"f{i:06d}.bin").write_bytes(os.urandom(args.size))
        v1_wall, out = run(env, "ingest", str(first), "--collection", "bench", "--json")
        package_id = json.loads(out)["packages"][0]["package_id"]
        storage = home / "storage"
        before = tree_bytes(storage)

        second = root / "delivery-2"
        shutil.copytree(first, second)
        for i in range(args.changed):
            (second / f"s{i % 50:02d}" / f"f{i:06d}.bin").write_bytes(os.urandom(args.size))
        (second / "added.bin").write_bytes(os.urandom(args.size))

        staging = home / "staging"
        peak = 0
        done = threading.Event()

        def watch() -> None:
            nonlocal peak
            while not done.is_set():
                with contextlib.suppress(OSError):  # a file removed while it was counted
                    peak = max(peak, tree_bytes(staging, skip="\0"))
                time.sleep(0.05)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        v2_wall, out = run(env, "ingest", str(second), "--new-version-of", package_id, "--json")
        done.set()
        watcher.join()
        result = json.loads(out)["packages"][0]
        after = tree_bytes(storage)
        new_content = (args.changed + 1) * args.size
        total = args.files * args.size
        print(
            f"{args.files} files of {args.size:,} bytes ({total / 1e6:.1f} MB), "
            f"{args.changed} changed and 1 added:\n"
            f"  version 1: {v1_wall:.2f} s\n"
            f"  version 2: {v2_wall:.2f} s ({result['changes']['unchanged']} unchanged, "
            f"{result['stored_bytes']:,} payload bytes stored)\n"
            f"  the location grew by {after - before:,} bytes: {new_content:,} of new content "
            f"and {after - before - new_content:,} of tag files (manifests, premis.xml, "
            "fetch.txt, event files)\n"
            f"  staging at its peak during version 2: {peak:,} bytes"
        )


if __name__ == "__main__":
    main()
