"""The pieces of a fixity check that need no catalogue: the setting, the local backend's
device reads (LocalStorage.hash_objects) and the comparison of a stored manifest with the
catalogue (the fast line-for-line path and the parser behind it)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from preserve.config.settings import Settings

import preserve.storage.local as local
from preserve.errors import ConfigError, ObjectNotFound, UnsafePath
from preserve.services.fixity import FIXITY_CHECK, _compare_manifest, _manifest_spelling
from preserve.storage.local import HASH_LARGE, LocalStorage

# ----------------------------------------------------------------------------- the setting


def test_sha256_alone_is_the_default() -> None:
    assert Settings().fixity_algorithms == ("sha256",)
    assert Settings.from_env({}).fixity_algorithms == ("sha256",)


def test_the_setting_takes_bagit_tokens_in_order() -> None:
    s = Settings.from_env({"PRESERVE_FIXITY_ALGORITHMS": "SHA-512, sha256,sha512"})
    assert s.fixity_algorithms == ("sha512", "sha256")


@pytest.mark.parametrize("value", ["crc64nvme", "sha256,rot13", ","])
def test_the_setting_refuses_what_cannot_be_a_fixity_reference(value: str) -> None:
    with pytest.raises(ConfigError, match="PRESERVE_FIXITY_ALGORITHMS"):
        Settings.from_env({"PRESERVE_FIXITY_ALGORITHMS": value})


def test_event_type_is_premis_vocabulary() -> None:
    from preserve import premis

    assert FIXITY_CHECK == premis.FIXITY_CHECK


# ----------------------------------------------------------------------------- device reads


@pytest.fixture
def location(tmp_path: Path) -> tuple[LocalStorage, Path]:
    root = tmp_path / "store"
    storage = LocalStorage(root.as_uri())
    storage.ensure()
    return storage, root


def _write(root: Path, key: str, data: bytes) -> bytes:
    path = root.joinpath(*key.split("/"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def test_hash_objects_hashes_small_large_and_empty_objects(
    location: tuple[LocalStorage, Path],
) -> None:
    storage, root = location
    contents = {
        "p/v1/data/empty": _write(root, "p/v1/data/empty", b""),
        "p/v1/data/small": _write(root, "p/v1/data/small", os.urandom(4000)),
        "p/v1/data/deep/er/x": _write(root, "p/v1/data/deep/er/x", os.urandom(10)),
        "p/v1/large": _write(root, "p/v1/large", os.urandom(2 * local.HASH_CHUNK + 12345)),
    }
    requests = [(k, len(v), ("sha256", "sha512")) for k, v in contents.items()]
    requests += [(f"p/v1/many/{i}", 5, ("md5",)) for i in range(300)]
    for i in range(300):
        contents[f"p/v1/many/{i}"] = _write(root, f"p/v1/many/{i}", f"x{i:04d}".encode())
    results = {r[0]: r for r in storage.hash_objects(requests, threads=3)}
    assert set(results) == set(contents)
    for key, _size, algorithms in requests:
        _key, got_size, digests, error = results[key]
        assert error is None and got_size == len(contents[key])
        assert digests == {a: hashlib.new(a, contents[key]).hexdigest() for a in algorithms}


def test_hash_objects_reads_what_is_there_not_what_was_expected(
    location: tuple[LocalStorage, Path],
) -> None:
    storage, root = location
    _write(root, "p/grown", os.urandom(HASH_LARGE + 10))
    _write(root, "p/shrunk", b"abc")
    results = {
        r[0]: r
        for r in storage.hash_objects(
            [("p/grown", 10, ("sha256",)), ("p/shrunk", HASH_LARGE, ("sha256",))]
        )
    }
    assert results["p/grown"][1] == HASH_LARGE + 10
    assert results["p/shrunk"][1] == 3
    assert results["p/shrunk"][2] == {"sha256": hashlib.sha256(b"abc").hexdigest()}


def test_missing_linked_and_special_objects_are_not_read(
    location: tuple[LocalStorage, Path], tmp_path: Path
) -> None:
    storage, root = location
    _write(root, "p/ok", b"ok")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    (root / "p" / "link").symlink_to(outside / "secret")
    (root / "p" / "folderlink").symlink_to(outside)
    os.mkfifo(root / "p" / "fifo")
    (root / "p" / "folder").mkdir()
    keys = ["p/ok", "p/gone", "p/link", "p/folderlink/secret", "p/fifo", "p/folder", "q/none"]
    results = {r[0]: r for r in storage.hash_objects([(k, 2, ("sha256",)) for k in keys])}
    assert results["p/ok"][3] is None
    for key in keys[1:]:
        assert isinstance(results[key][3], ObjectNotFound), key
        assert results[key][2] is None


@pytest.mark.parametrize("key", ["../escape", "p/../../escape", "/abs", ".preserve-tmp/x"])
def test_unsafe_keys_are_refused_before_anything_is_read(
    location: tuple[LocalStorage, Path], key: str
) -> None:
    storage, _root = location
    with pytest.raises(UnsafePath):
        list(storage.hash_objects([(key, 1, ("sha256",))]))


def test_each_object_is_dropped_from_the_page_cache_before_it_is_read(
    location: tuple[LocalStorage, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bytes hashed come from the device: every object's cached pages are dropped before
    its first read (and again after, to leave the cache as it was)."""
    storage, root = location
    _write(root, "p/small", b"s" * 100)
    _write(root, "p/large", b"l" * (HASH_LARGE + 1))
    calls: list[tuple[str, Any]] = []
    real_readv, real_drop = os.readv, local.drop_cache

    def drop_cache(fd: int, offset: int = 0, length: int = 0) -> None:
        calls.append(("drop", (os.fstat(fd).st_size, offset, length)))
        real_drop(fd, offset, length)

    def readv(fd: int, buffers: Any) -> int:
        calls.append(("read", os.fstat(fd).st_size))
        return real_readv(fd, buffers)

    monkeypatch.setattr(local, "drop_cache", drop_cache)
    monkeypatch.setattr(local.os, "readv", readv)
    list(
        storage.hash_objects(
            [("p/small", 100, ("sha256",)), ("p/large", HASH_LARGE + 1, ("sha256",))], threads=1
        )
    )
    for size in (100, HASH_LARGE + 1):
        mine = [c for c in calls if c == ("read", size) or (c[0] == "drop" and c[1][0] == size)]
        assert mine[0] == ("drop", (size, 0, 0)), mine  # the whole file, before any read
        assert mine[-1] == ("drop", (size, 0, 0)), mine  # and once more after the last read
        assert ("read", size) in mine


# ----------------------------------------------------------------------------- manifests

A = "a" * 64
B = "b" * 64
EXPECTED: dict[str, Any] = {
    "data/one.txt": ("data/one.txt", 1, None, A, "{}"),
    "data/50% off.txt": ("data/50% off.txt", 1, None, B, "{}"),
    "bagit.txt": ("bagit.txt", 1, None, "c" * 64, "{}"),
}


def _problems(text: str) -> list[tuple[str, str]]:
    found = _compare_manifest("manifest-sha256.txt", "sha256", text, EXPECTED)
    return sorted((p.path, p.outcome) for p in found)


@pytest.mark.parametrize(
    "text",
    [
        f"{A}  data/one.txt\n{B}  data/50%25 off.txt\n",
        f"{B}  data/50%25 off.txt\n{A}  data/one.txt\n",  # any order
        f"{A}  data/one.txt\r\n{B}  data/50%25 off.txt\r\n",  # parsed: CRLF is allowed
        f"{A.upper()}\tdata/one.txt\n{B}  data/50%25 off.txt",  # parsed: case, tab, no last LF
    ],
)
def test_a_manifest_that_agrees_passes(text: str) -> None:
    assert _problems(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"{A}  data/one.txt\n", [("data/50% off.txt", "mismatch")]),  # an entry missing
        (
            f"{A}  data/one.txt\n{A}  data/one.txt\n",
            [("data/50% off.txt", "mismatch"), ("manifest-sha256.txt", "mismatch")],
        ),
        (f"{B}  data/one.txt\n{B}  data/50%25 off.txt\n", [("data/one.txt", "mismatch")]),
        (
            f"{A}  data/one.txt\n{B}  data/50%25 off.txt\n{A}  data/two.txt\n",
            [("data/two.txt", "unexpected")],
        ),
        ("", [("data/50% off.txt", "mismatch"), ("data/one.txt", "mismatch")]),
    ],
    ids=["missing", "duplicate", "wrong-digest", "extra", "empty"],
)
def test_a_manifest_that_disagrees_is_explained(text: str, expected: list[Any]) -> None:
    assert _problems(text) == expected


@pytest.mark.parametrize(
    "path", ["data/plain.txt", "data/50% off.txt", "data/a\rb\nc%0A.txt", "data/%25%%.txt"]
)
def test_the_fast_comparison_spells_paths_as_the_bag_writer_does(path: str) -> None:
    from preserve.bagit.paths import encode_manifest_path

    assert _manifest_spelling(path) == encode_manifest_path(path)
