"""Streaming multi-digest hashing: one read of the bytes feeds every algorithm.

Algorithms are named by their BagIt token (RFC 8493 §2.4: lower case, non-alphanumerics removed):
``sha512``, ``sha256``, ``sha1``, ``md5``, ``sha3256``, ``blake2b512`` ... Any algorithm that
:mod:`hashlib` offers is accepted. ``crc64nvme`` (the S3 full-object checksum) is also offered, as a
transport check only, never as a fixity reference.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO, Protocol

DEFAULT_ALGORITHMS: tuple[str, ...] = ("sha512", "sha256")
CHUNK_SIZE = 1 << 20  # 1 MiB: large enough for hashlib to release the GIL, small enough to stream


def bagit_token(name: str) -> str:
    """The RFC 8493 token for an algorithm name: ``SHA-256`` and ``sha_256`` become ``sha256``."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _hashlib_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for name in sorted(hashlib.algorithms_available):
        # shake_* need a length; they cannot serve as manifest algorithms
        if name.startswith("shake"):
            continue
        names.setdefault(bagit_token(name), name)
    # "blake2b" is hashlib's 512-bit BLAKE2b; RFC-style tokens sometimes name the size
    names.setdefault("blake2b512", "blake2b")
    names.setdefault("blake2s256", "blake2s")
    return names


_HASHLIB = _hashlib_names()


def is_supported(algorithm: str) -> bool:
    """True when ``algorithm`` (a BagIt token or hashlib name) can be computed here."""
    token = bagit_token(algorithm)
    return token in _HASHLIB or token == "crc64nvme"


class _Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...
    def hexdigest(self) -> str: ...


class _Crc64Nvme:
    """CRC64NVME through awscrt (the S3 full-object checksum), as a hashlib-like object."""

    def __init__(self) -> None:
        from awscrt import checksums  # imported lazily: only storage verification needs it

        self._fn = checksums.crc64nvme
        self._crc = 0

    def update(self, data: bytes | memoryview, /) -> None:
        self._crc = self._fn(data, self._crc)

    def hexdigest(self) -> str:
        return f"{self._crc:016x}"


def new_hasher(algorithm: str) -> _Hasher:
    """A fresh hasher for a BagIt token or hashlib name; ValueError when unsupported."""
    token = bagit_token(algorithm)
    if token == "crc64nvme":
        return _Crc64Nvme()
    try:
        return hashlib.new(_HASHLIB[token])
    except KeyError:
        raise ValueError(f"unsupported checksum algorithm: {algorithm!r}") from None


class MultiHasher:
    """Feeds every chunk to several hashers and counts the bytes."""

    def __init__(self, algorithms: Iterable[str] = DEFAULT_ALGORITHMS) -> None:
        self.algorithms = tuple(dict.fromkeys(bagit_token(a) for a in algorithms))
        self._hashers = [new_hasher(a) for a in self.algorithms]
        self.size = 0

    def update(self, data: bytes | memoryview) -> None:
        for h in self._hashers:
            h.update(data)
        self.size += len(data)

    def hexdigests(self) -> dict[str, str]:
        return {a: h.hexdigest() for a, h in zip(self.algorithms, self._hashers, strict=True)}


_local = threading.local()


def chunk_buffer() -> bytearray:
    """A reusable CHUNK_SIZE buffer for the calling thread (allocating 1 MiB per small file
    would cost more than hashing it)."""
    buf = getattr(_local, "buf", None)
    if buf is None:
        buf = _local.buf = bytearray(CHUNK_SIZE)
    return buf


def hash_stream(
    stream: BinaryIO, algorithms: Iterable[str] = DEFAULT_ALGORITHMS, chunk_size: int = CHUNK_SIZE
) -> tuple[int, dict[str, str]]:
    """Read ``stream`` to its end once; return its size and a digest per algorithm."""
    hasher = MultiHasher(algorithms)
    buf = chunk_buffer() if chunk_size == CHUNK_SIZE else bytearray(chunk_size)
    view = memoryview(buf)
    readinto = getattr(stream, "readinto", None)
    while True:
        if readinto is not None:
            n = readinto(buf)
            if not n:
                break
            hasher.update(view[:n])
        else:
            chunk = stream.read(chunk_size)
            if not chunk:
                break
            hasher.update(chunk)
    return hasher.size, hasher.hexdigests()


def hash_file(
    path: str | Path, algorithms: Iterable[str] = DEFAULT_ALGORITHMS, chunk_size: int = CHUNK_SIZE
) -> tuple[int, dict[str, str]]:
    """Size and digests of the file at ``path``, read once."""
    with open(path, "rb", buffering=0) as f:
        return hash_stream(f, algorithms, chunk_size)


def hex_to_b64(hexdigest: str) -> str:
    """S3 reports checksums as base64 of the raw digest; convert from our hex."""
    return base64.b64encode(bytes.fromhex(hexdigest)).decode("ascii")


def b64_to_hex(b64: str) -> str:
    return base64.b64decode(b64).hex()


def _constructors() -> dict[str, object]:
    out: dict[str, object] = {}
    for token, name in _HASHLIB.items():
        out[token] = getattr(hashlib, name, None) or (lambda data, _n=name: hashlib.new(_n, data))
    return out


_CONSTRUCTORS = _constructors()


_CRC64NVME: Callable[..., int] | None = None


def _crc64nvme() -> Callable[..., int]:
    """awscrt's CRC64NVME, imported on first use (only storing needs it)."""
    global _CRC64NVME
    if _CRC64NVME is None:
        from awscrt import checksums

        _CRC64NVME = checksums.crc64nvme
    return _CRC64NVME


def digest_bytes(data: bytes | memoryview, algorithms: Iterable[str]) -> dict[str, str]:
    """A digest per algorithm (BagIt tokens) of bytes already in memory: the cheapest way for
    small files, with no hasher objects kept between calls."""
    out: dict[str, str] = {}
    for alg in algorithms:
        if alg == "crc64nvme":
            out[alg] = f"{_crc64nvme()(data):016x}"
        else:
            ctor = _CONSTRUCTORS.get(alg)
            if ctor is None:
                raise ValueError(f"unsupported checksum algorithm: {alg!r}")
            out[alg] = ctor(data).hexdigest()  # type: ignore[operator]
    return out
