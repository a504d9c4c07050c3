from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from preserve.checksums import (
    MultiHasher,
    b64_to_hex,
    bagit_token,
    hash_file,
    hash_stream,
    hex_to_b64,
    is_supported,
    new_hasher,
)


def test_bagit_tokens_follow_rfc8493() -> None:
    assert bagit_token("SHA-256") == "sha256"
    assert bagit_token("sha3_256") == "sha3256"
    assert bagit_token("SHA512") == "sha512"


@pytest.mark.parametrize("name", ["sha512", "sha256", "sha1", "md5", "sha3256", "blake2b"])
def test_every_hashlib_algorithm_by_its_bagit_token(name: str) -> None:
    data = b"preserve" * 1000
    hashlib_name = {"sha3256": "sha3_256"}.get(name, name)
    h = new_hasher(name)
    h.update(data)
    assert h.hexdigest() == hashlib.new(hashlib_name, data).hexdigest()


def test_unknown_algorithm_is_refused() -> None:
    assert not is_supported("rot13")
    with pytest.raises(ValueError, match="rot13"):
        new_hasher("rot13")


def test_one_pass_gives_every_digest(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)  # spans several chunks, odd tail
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    size, digests = hash_file(path, ("sha512", "sha256", "md5"))
    assert size == len(data)
    assert digests == {
        "sha512": hashlib.sha512(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "md5": hashlib.md5(data).hexdigest(),
    }


def test_stream_without_readinto() -> None:
    class Reader:
        def __init__(self, data: bytes) -> None:
            self._buf = io.BytesIO(data)

        def read(self, n: int = -1) -> bytes:
            return self._buf.read(n)

    size, digests = hash_stream(Reader(b"abc"), ("sha256",))  # type: ignore[arg-type]
    assert size == 3 and digests["sha256"] == hashlib.sha256(b"abc").hexdigest()


def test_crc64nvme_matches_awscrt_and_is_incremental() -> None:
    from awscrt import checksums

    data = os.urandom(100_000)
    h = MultiHasher(("crc64nvme",))
    h.update(data[:40_000])
    h.update(data[40_000:])
    assert h.hexdigests()["crc64nvme"] == f"{checksums.crc64nvme(data):016x}"


def test_hex_base64_round_trip() -> None:
    digest = hashlib.sha256(b"x").hexdigest()
    assert b64_to_hex(hex_to_b64(digest)) == digest
