"""Storage.move on every backend: what quarantine uses to set a damaged object aside on the
same location, verified before the original name is given up."""

from __future__ import annotations

import hashlib
import os

import pytest

from preserve.errors import ObjectNotFound, VerificationFailed
from preserve.storage import Storage, open_location
from tests.s3server import corrupt_object


@pytest.fixture
def storage(storage_url: str) -> Storage:
    s = open_location(storage_url, retries=2, backoff=0.01)
    s.ensure()
    return s


def read(storage: Storage, key: str) -> bytes:
    with storage.open(key) as f:
        return f.read()


def test_move_keeps_the_bytes_under_the_new_key_only(storage: Storage) -> None:
    data = os.urandom(70_000)
    storage.put_bytes("org/c/p/v1/data/a.bin", data)
    size = storage.move(
        "org/c/p/v1/data/a.bin",
        "quarantine/org/c/p/v1/data/a.bin/x",
        sha256=hashlib.sha256(data).hexdigest(),
    )
    assert size == len(data)
    assert not storage.exists("org/c/p/v1/data/a.bin")
    assert read(storage, "quarantine/org/c/p/v1/data/a.bin/x") == data
    assert list(storage.iter_keys("org/")) == []


def test_move_without_a_digest_checks_the_size(storage: Storage) -> None:
    storage.put_bytes("a/b.txt", b"hello")
    assert storage.move("a/b.txt", "q/a/b.txt") == 5
    assert read(storage, "q/a/b.txt") == b"hello"
    assert not storage.exists("a/b.txt")


def test_move_of_a_missing_object(storage: Storage) -> None:
    with pytest.raises(ObjectNotFound):
        storage.move("no/such.txt", "q/no/such.txt")
    assert list(storage.iter_keys("q/")) == []


def test_interrupted_move_is_finished_when_run_again(storage: Storage) -> None:
    """The copy landed, the original was not removed yet: moving again removes it and keeps
    the copy."""
    data = b"damaged bytes"
    storage.put_bytes("x/a.txt", data)
    storage.put_bytes("q/x/a.txt", data)
    digest = hashlib.sha256(data).hexdigest()
    assert storage.move("x/a.txt", "q/x/a.txt", sha256=digest) == len(data)
    assert not storage.exists("x/a.txt")
    assert read(storage, "q/x/a.txt") == data


def test_move_onto_another_object_is_refused(storage: Storage) -> None:
    storage.put_bytes("x/a.txt", b"one")
    storage.put_bytes("q/x/a.txt", b"two")
    with pytest.raises(VerificationFailed, match="another object is there"):
        storage.move("x/a.txt", "q/x/a.txt", sha256=hashlib.sha256(b"one").hexdigest())
    assert read(storage, "x/a.txt") == b"one"
    assert read(storage, "q/x/a.txt") == b"two"


def test_move_refuses_when_the_bytes_are_not_what_the_caller_read(
    storage: Storage, storage_url: str
) -> None:
    """The object changed between the caller's reading and the move: nothing is moved."""
    storage.put_bytes("x/a.txt", b"what was read")
    digest = hashlib.sha256(b"what was read").hexdigest()
    corrupt_object(storage_url, "x/a.txt", lambda old: b"changed since")
    with pytest.raises(VerificationFailed):
        storage.move("x/a.txt", "q/x/a.txt", sha256=digest)
    assert read(storage, "x/a.txt") == b"changed since"
    assert not storage.exists("q/x/a.txt")
