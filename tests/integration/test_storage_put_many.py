"""put_many: the batch path ingest uses, over the local and the S3 backend."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from preserve.checksums import hash_file
from preserve.errors import VerificationFailed
from preserve.storage import PutItem, open_location
from tests.s3server import corrupt_object


def _files(tmp_path: Path, n: int) -> list[Path]:
    src = tmp_path / "src"
    src.mkdir()
    paths = []
    for i in range(n):
        p = src / f"f{i}.bin"
        p.write_bytes(os.urandom(1000 + i))
        paths.append(p)
    return paths


def test_batch_round_trip_with_progress(tmp_path: Path, storage_url: str) -> None:
    storage = open_location(storage_url, retries=2, backoff=0.01)
    files = _files(tmp_path, 30)
    seen = []
    items = [
        PutItem(f"pkg/v1/data/sub{i % 3}/{p.name}", p, hash_file(p, ("sha256", "crc64nvme"))[1])
        for i, p in enumerate(files)
    ]
    stored = storage.put_many(items, on_stored=seen.append)
    assert [o.key for o in stored] == [i.key for i in items]
    assert len(seen) == 30 and all(o.verified_by for o in stored)
    for item in items:
        with storage.open(item.key) as f:
            assert hashlib.sha256(f.read()).hexdigest() == item.digests["sha256"]  # type: ignore[index]
    assert all(p.exists() for p in files)  # not consumed


def test_one_bad_item_leaves_nothing_of_the_batch(tmp_path: Path, storage_url: str) -> None:
    storage = open_location(storage_url, retries=2, backoff=0.01)
    files = _files(tmp_path, 10)
    items = [PutItem(f"pkg/v1/data/{p.name}", p, hash_file(p, ("sha256",))[1]) for p in files]
    items[7] = PutItem(items[7].key, files[7], {"sha256": "0" * 64})
    with pytest.raises(VerificationFailed, match=r"f7\.bin"):
        storage.put_many(items, consume=True)
    assert list(storage.iter_keys("pkg/")) == []
    assert all(p.exists() for p in files)  # consumed sources are given back


def test_consume_moves_local_files_and_verifies_them(tmp_path: Path, storage_url: str) -> None:
    storage = open_location(storage_url, retries=2, backoff=0.01)
    files = _files(tmp_path, 5)
    items = [PutItem(f"p/{p.name}", p, hash_file(p, ("sha256", "crc64nvme"))[1]) for p in files]
    stored = storage.put_many(items, consume=True)
    assert sorted(storage.iter_keys("p/")) == sorted(i.key for i in items)
    assert {o.size for o in stored} == {p for p in range(1000, 1005)}
    if storage_url.startswith("file:"):
        assert not any(p.exists() for p in files)


def test_damage_after_batch_is_visible(tmp_path: Path, storage_url: str) -> None:
    storage = open_location(storage_url, retries=2, backoff=0.01)
    files = _files(tmp_path, 2)
    storage.put_many([PutItem(f"q/{p.name}", p) for p in files])
    corrupt_object(storage_url, "q/f0.bin", lambda d: d[:-1])
    assert storage.stat("q/f0.bin").size == 999


def test_a_durable_staged_file_is_linked_without_a_second_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ingest stages large files durably (flushed and read back from the device): a local location
    that hard-links them stores those very blocks, so it does not read them again. A file not
    marked durable is still read back."""
    from preserve.storage.local import LocalStorage

    storage = open_location(f"file://{tmp_path / 'loc'}")
    storage.ensure()
    files = _files(tmp_path, 4)
    reads: list[str] = []
    real = LocalStorage._hash_copy

    def counting(self: LocalStorage, path: str, algorithms: tuple[str, ...], key: str):  # type: ignore[no-untyped-def]
        reads.append(key)
        return real(self, path, algorithms, key)

    monkeypatch.setattr(LocalStorage, "_hash_copy", counting)
    items = [
        PutItem(f"p/{p.name}", p, hash_file(p, ("sha256", "crc64nvme"))[1], durable=i % 2 == 0)
        for i, p in enumerate(files)
    ]
    stored = storage.put_many(items, link=True)
    assert reads == ["p/f1.bin", "p/f3.bin"]
    for item, obj in zip(items, stored, strict=True):
        assert obj.verified_by == "reread" and obj.size == item.source.stat().st_size  # type: ignore[union-attr]
        assert obj.digests["crc64nvme"] == item.digests["crc64nvme"]  # type: ignore[index]
        assert os.stat(item.source).st_ino == os.stat(tmp_path / "loc" / obj.key).st_ino
