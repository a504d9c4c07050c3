"""Stage 5, store and verify: write the bag to every location of the collection.

A copy counts only once it is verified: S3 checks the SHA-256 (or a full-object CRC64NVME) the
server computed against ours; a local location re-reads its copy from the device. Staged files
that are already durable and verified (large files, see :mod:`preserve.ingest.stage`) are
hard-linked into the last local location without a second read of the same blocks.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from preserve.bootstrap import Application
from preserve.ingest.model import TRANSPORT_ALGORITHM, StagedFile
from preserve.progress import Progress
from preserve.storage import PutItem
from preserve.values import StoredObject


@dataclass(frozen=True)
class Item:
    """One file of the bag to store: its path in the bag, the staged file, the digests it must
    have, and whether the staged file is already durable and verified."""

    path: str
    staged: str
    digests: dict[str, str]
    size: int
    durable: bool = False


@dataclass(frozen=True)
class Location:
    id: int
    name: str
    url: str


def payload_items(files: Sequence[StagedFile]) -> list[Item]:
    return [
        Item(
            f.bag_path,
            f.staged or f.source,
            {a: f.digests[a] for a in ("sha256", TRANSPORT_ALGORITHM)},
            f.size,
            f.durable,
        )
        for f in files
    ]


def tag_files(bag_dir: str) -> list[tuple[str, str]]:
    """Every tag file of the finished bag (everything outside data/), as (path in bag, file)."""
    out: list[tuple[str, str]] = []
    for dirpath, dirs, names in os.walk(bag_dir):
        if dirpath == bag_dir:
            dirs[:] = [d for d in dirs if d != "data"]
        for name in names:
            full = os.path.join(dirpath, name)
            out.append((os.path.relpath(full, bag_dir).replace(os.sep, "/"), full))
    return sorted(out)


def store(
    app: Application,
    items: Sequence[Item],
    key_prefix: str,
    locations: Sequence[Location],
    progress: Progress,
    what: str,
) -> dict[int, dict[str, StoredObject]]:
    """Write ``items`` under ``key_prefix`` on every location and verify each copy; returns
    location id -> path in bag -> stored object. Remote locations go first; the last local
    location hard-links the staged files instead of copying them."""
    ordered = sorted(locations, key=lambda loc: loc.url.startswith("file:"))
    total = sum(item.size for item in items)
    stored: dict[int, dict[str, StoredObject]] = {}
    for index, loc in enumerate(ordered):
        storage = app.storage(loc.url)
        last_local = index == len(ordered) - 1 and loc.url.startswith("file:")
        progress.begin(f"storing {what} on {loc.name}", len(items), total)
        try:
            objects = storage.put_many(
                [
                    PutItem(
                        key_prefix + item.path,
                        item.staged,
                        item.digests,
                        durable=item.durable and last_local,
                    )
                    for item in items
                ],
                link=last_local,
                on_stored=lambda obj: progress.advance(1, obj.size),
            )
        finally:
            progress.end()
        stored[loc.id] = {item.path: obj for item, obj in zip(items, objects, strict=True)}
    return stored
