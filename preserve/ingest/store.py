"""Stage 5, store and verify: write the bag to every location of the collection.

A copy counts only once it is verified: S3 checks the SHA-256 (or a full-object CRC64NVME) the
server computed against ours; a local location re-reads its copy from the device. Staged files
that are already durable and verified (large files, see :mod:`preserve.ingest.stage`) are
hard-linked into the last local location without a second read of the same blocks.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from preserve.bootstrap import Application
from preserve.checksums import hash_file
from preserve.ingest.model import TRANSPORT_ALGORITHM, StagedFile
from preserve.progress import Progress, Stage
from preserve.storage import PutItem
from preserve.text import plural
from preserve.values import StoredObject

log = logging.getLogger(__name__)


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


#: Work a file costs besides its bytes (opening, syncing, a catalogue row), in bytes: the
#: estimate of a whole ingest weighs its stages by bytes plus this much per file.
PER_FILE_WORK = 256 * 1024
TAG_FILES = 12  # about as many tag files as a package has, for the estimate


@dataclass(frozen=True)
class IngestStages:
    """The four stages of one ingest (hashing and copying; storing the payload on each location;
    identifying formats; storing the metadata on each location) and the share of the work each
    stands for, so a progress display can estimate the whole ingest."""

    files: int
    nbytes: int
    locations: int

    def _weights(self) -> list[float]:
        payload = self.nbytes + self.files * PER_FILE_WORK
        return [
            payload,
            payload * self.locations,
            self.files * PER_FILE_WORK / 4,  # mostly done by helpers while staging
            TAG_FILES * PER_FILE_WORK * self.locations,
        ]

    def stage(self, number: int, part: int = 0, parts: int = 1) -> Stage:
        """Stage ``number`` (1-4), or its ``part``-th of ``parts`` (one per location)."""
        weights = self._weights()
        total = sum(weights) or 1.0
        before = sum(weights[: number - 1]) / total
        share = weights[number - 1] / total / max(1, parts)
        return Stage(
            number,
            len(weights),
            min(1.0, before + share * part),
            min(1.0, before + share * (part + 1)),
        )


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


def tag_items(bag_dir: Path) -> tuple[dict[str, tuple[int, dict[str, str]]], list[Item]]:
    """The finished bag's tag files: their sizes and digests (SHA-512 and SHA-256 for the
    catalogue, CRC64NVME for the transport check), and the items that store them."""
    digests = {
        path: hash_file(staged, ("sha512", "sha256", TRANSPORT_ALGORITHM))
        for path, staged in tag_files(str(bag_dir))
    }
    items = [
        Item(path, str(bag_dir / path), {a: d[a] for a in ("sha256", TRANSPORT_ALGORITHM)}, size)
        for path, (size, d) in digests.items()
    ]
    return digests, items


def store(
    app: Application,
    items: Sequence[Item],
    key_prefix: str,
    locations: Sequence[Location],
    progress: Progress,
    what: str,
    stages: IngestStages | None = None,
) -> dict[int, dict[str, StoredObject]]:
    """Write ``items`` under ``key_prefix`` on every location and verify each copy; returns
    location id -> path in bag -> stored object. Remote locations go first; the last local
    location hard-links the staged files instead of copying them.

    Progress advances per file: a location that writes every file before verifying them
    (local) counts half of a file's bytes once written and the rest, with the file, once its
    copy is verified; S3 counts each file once uploaded and verified."""
    ordered = sorted(locations, key=lambda loc: loc.url.startswith("file:"))
    total = sum(item.size for item in items)
    stored: dict[int, dict[str, StoredObject]] = {}
    for index, loc in enumerate(ordered):
        storage = app.storage(loc.url)
        last_local = index == len(ordered) - 1 and loc.url.startswith("file:")
        stage = None
        if stages is not None:
            stage = stages.stage(2 if what == "payload" else 4, index, len(ordered))
        progress.begin(f"storing {what} on {loc.name}", len(items), total, stage)
        counted = _Counted(progress)
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
                on_stored=counted.stored,
                on_written=counted.written,
            )
        finally:
            progress.end()
        stored[loc.id] = {item.path: obj for item, obj in zip(items, objects, strict=True)}
        log.info(
            "%s: %s stored and verified on %s (%s, %s)",
            key_prefix.rstrip("/"),
            what,
            loc.name,
            plural(len(objects), "object"),
            plural(sum(obj.size for obj in objects), "byte"),
        )
    return stored


class _Counted:
    """Turns a location's callbacks into progress: half a file's bytes when written, the rest
    (and the file) when its copy is verified. Called from the location's threads."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self._credited: dict[str, int] = {}
        self._lock = threading.Lock()

    def written(self, key: str, size: int) -> None:
        with self._lock:
            self._credited[key] = size // 2
        self.progress.advance(0, size // 2)

    def stored(self, obj: StoredObject) -> None:
        with self._lock:
            credited = self._credited.pop(obj.key, 0)
        self.progress.advance(1, max(0, obj.size - credited))
