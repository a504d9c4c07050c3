"""The storage interface every backend implements, and the choice of backend by URL.

A location is named by a URL: ``file:///abs/path`` (:class:`~preserve.storage.local.LocalStorage`)
or ``s3://bucket/optional/prefix?endpoint_url=...`` (:class:`~preserve.storage.s3.S3Storage`).
Every stored copy records the URL of its location, so copies written under an old configuration
stay readable. Backends raise only :mod:`preserve.errors` exceptions: callers never see botocore
exceptions or ``OSError``.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol, runtime_checkable
from urllib.parse import urlsplit

from preserve.checksums import CHUNK_SIZE, bagit_token, is_supported
from preserve.errors import ConfigError, InvalidInput, StorageError, VerificationFailed
from preserve.values import ObjectStat, StoredObject

log = logging.getLogger(__name__)

#: Always computed while storing: sha256 is the reference digest (and what a single S3 PUT sends
#: for the server to check); crc64nvme is the cheap transport check (re-reads, S3 multipart).
PUT_ALGORITHMS: tuple[str, ...] = ("sha256", "crc64nvme")
#: The algorithm used to re-read a written copy: about three times cheaper than SHA-256.
REREAD_ALGORITHM = "crc64nvme"

DEFAULT_MULTIPART_THRESHOLD = 64 * 1024 * 1024
DEFAULT_PART_SIZE = 16 * 1024 * 1024


@dataclass(frozen=True)
class PutItem:
    """One file for :meth:`Storage.put_many`: the key, the file, the digests it must have."""

    key: str
    source: Path | str
    digests: Mapping[str, str] | None = None
    #: the source was flushed to the device and read back from it, and matched ``digests``
    #: (crc64nvme): a local location that hard-links it stores those very blocks, verified
    durable: bool = False


#: S3 Object Lock's retention modes: COMPLIANCE cannot be shortened or removed by anyone (not
#: even the account's root user) before its date; GOVERNANCE can, by someone holding
#: ``s3:BypassGovernanceRetention``.
RETENTION_MODES: tuple[str, ...] = ("COMPLIANCE", "GOVERNANCE")


@dataclass(frozen=True)
class ObjectRetention:
    """An object's S3 Object Lock retention: its mode and the UTC time it holds until."""

    mode: str
    until: datetime


class ObjectLockUnsupported(StorageError):
    """The location cannot lock objects (a local folder; a bucket without Object Lock)."""

    code = "object-lock-unsupported"


class ObjectLocked(StorageError):
    """The location refused to delete or overwrite an object its object lock protects
    (a retention date not yet reached, or a legal hold)."""

    code = "object-locked"


class RetentionNotExtended(StorageError):
    """A retention was asked that would end sooner than (or be weaker than) the object's
    current one: retention is only ever extended. ``current`` is the object's retention."""

    code = "retention-not-extended"

    def __init__(self, message: str, current: ObjectRetention | None = None) -> None:
        super().__init__(message)
        self.current = current


@runtime_checkable
class Storage(Protocol):
    """A place that holds objects under keys (see :func:`preserve.storage.keys.validate_key`)."""

    url: str  # the configured URL (never holds secrets)

    def ensure(self) -> None:
        """Make the location usable (local: create the root) or check that it is reachable."""
        ...

    def answers(self, timeout: float = ...) -> str | None:
        """Whether the location answers, asked once and quickly: ``None``, or why not."""
        ...

    def put(
        self,
        key: str,
        source: Path,
        *,
        digests: Mapping[str, str] | None = None,
        consume: bool = False,
    ) -> StoredObject:
        """Store the file ``source`` under ``key`` and verify the copy.

        The bytes are hashed while they are sent (sha256 and crc64nvme, plus any other supported
        algorithm named in ``digests``); when ``digests`` is given, every algorithm both sides
        have must agree, otherwise :class:`VerificationFailed` is raised and nothing new is left
        under ``key``. Readers never see a partial object. ``consume=True`` says the caller no
        longer needs ``source`` (the local backend may move it into place instead of copying).
        """
        ...

    def put_many(
        self,
        items: Sequence[PutItem],
        *,
        consume: bool = False,
        link: bool = False,
        on_stored: Callable[[StoredObject], None] | None = None,
        on_written: Callable[[str, int], None] | None = None,
    ) -> list[StoredObject]:
        """Store many files, each as :meth:`put` would, in the order given; faster than a loop
        (the local backend syncs the filesystem once for the whole batch, S3 uploads in
        parallel). ``consume`` may move the sources into place; ``link`` may hard-link them
        (the caller keeps them unchanged until it deletes them); both are local concerns. If
        any item fails, no object of the batch is left in place and the error is raised;
        ``on_stored`` is called as each copy is verified (from any thread). A backend that
        writes every file first and verifies them in a second pass (local) also calls
        ``on_written`` with the key and size as each file's bytes are written, so progress
        moves during the first pass too."""
        ...

    def put_bytes(self, key: str, data: bytes) -> StoredObject:
        """Store a small in-memory object (a tag file, a report) under ``key``, verified."""
        ...

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A streaming reader of the object; :class:`ObjectNotFound` when it does not exist."""
        ...

    def stat(self, key: str) -> ObjectStat:
        """Size, time and the checksums the location reports; :class:`ObjectNotFound` if missing."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove the object; a missing key is not an error."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Remove every object under ``prefix`` (which must end with '/'); return how many."""
        ...

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        """Every key that starts with ``prefix``, in sorted (UTF-8 byte) order."""
        ...

    def move(self, src_key: str, dst_key: str, *, sha256: str | None = None) -> int:
        """Move the object ``src_key`` to ``dst_key`` on this location (quarantine sets a
        damaged object aside with it) and return its size. The object at ``dst_key`` is
        verified before ``src_key`` is removed: by re-reading it when ``sha256`` (what the
        caller read at ``src_key``) is given, else by its size. An object already at
        ``dst_key`` with that digest is kept (a move interrupted after the copy); any other
        object there is :class:`~preserve.errors.VerificationFailed` and nothing is moved.
        :class:`~preserve.errors.ObjectNotFound` when ``src_key`` does not exist."""
        ...

    # Object lock (S3 Object Lock): objects a location itself refuses to delete before a date
    # (retention) or while a legal hold is on, whatever credentials ask.

    def supports_object_lock(self) -> bool:
        """Whether this location can lock objects (asked of the location once, then cached)."""
        ...

    def set_retention(self, key: str, until: datetime, mode: str = "COMPLIANCE") -> bool:
        """Keep the object ``key`` until ``until`` (timezone-aware) in ``mode``; only ever
        extends: True when set, False when the object already holds that date or a later one in
        the same or a stronger mode; :class:`RetentionNotExtended` when ``until`` is sooner than
        its current date, or the mode weaker; :class:`ObjectLockUnsupported` on a location
        without object lock."""
        ...

    def get_retention(self, key: str) -> ObjectRetention | None:
        """The object's retention (None: none set); :class:`ObjectNotFound` when missing."""
        ...

    def set_legal_hold(self, key: str, on: bool) -> None:
        """Put the object under a legal hold (``on``) or lift it."""
        ...

    def get_legal_hold(self, key: str) -> bool:
        """Whether the object is under a legal hold."""
        ...


def open_location(
    url: str,
    *,
    retries: int = 5,
    backoff: float = 0.5,
    multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
    part_size: int = DEFAULT_PART_SIZE,
) -> Storage:
    """The backend for ``url``; :class:`ConfigError` naming the URL when it cannot be used.

    ``retries`` is the number of attempts per request against a remote location and ``backoff``
    the first delay between them (doubling, with jitter); the S3 multipart settings apply to
    objects larger than ``multipart_threshold``.
    """
    scheme = _scheme(url)
    if scheme == "file":
        from preserve.storage.local import LocalStorage

        return LocalStorage(url)
    from preserve.storage.s3 import S3Storage

    return S3Storage(
        url,
        retries=retries,
        backoff=backoff,
        multipart_threshold=multipart_threshold,
        part_size=part_size,
    )


def describe_location(url: str) -> dict[str, Any]:
    """What the catalogue records about a location: provider, region, bucket or path ...

    Nothing is contacted; a malformed URL raises :class:`ConfigError`.
    """
    scheme = _scheme(url)
    if scheme == "file":
        from preserve.storage.local import parse_file_url

        return {"provider": "local", "region": None, "path": parse_file_url(url)}
    from preserve.storage.s3 import describe_s3_url

    return describe_s3_url(url)


def _scheme(url: str) -> str:
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f"storage location URL is empty: {url!r}")
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError as exc:
        raise ConfigError(f"storage location URL {url!r} is malformed: {exc}") from None
    if scheme not in ("file", "s3"):
        raise ConfigError(
            f"storage location URL {url!r} has an unsupported scheme {scheme or '(none)'!r}: "
            "use file:///absolute/path or s3://bucket/prefix?endpoint_url=..."
        )
    return scheme


# --------------------------------------------------------------------------- shared by backends


def retention_request(
    until: datetime, mode: str, *, location: str, now: datetime | None = None
) -> tuple[datetime, str]:
    """``until`` as UTC to the second (S3 keeps no fractions) and ``mode`` upper-cased, or
    :class:`~preserve.errors.InvalidInput` naming what is wrong: a naive time, a time not in
    the future, an unknown mode."""
    if not isinstance(until, datetime) or until.tzinfo is None or until.utcoffset() is None:
        raise InvalidInput(
            f"{location}: a retention date must be a timezone-aware time, not {until!r}"
        )
    wanted = str(mode).upper()
    if wanted not in RETENTION_MODES:
        raise InvalidInput(
            f"{location}: retention mode must be one of {', '.join(RETENTION_MODES)}, not {mode!r}"
        )
    until = until.astimezone(UTC).replace(microsecond=0)
    current = (now or datetime.now(UTC)).astimezone(UTC)
    if until <= current:
        raise InvalidInput(
            f"{location}: a retention date must be in the future, not {until:%Y-%m-%dT%H:%M:%SZ}"
        )
    return until, wanted


def put_algorithms(digests: Mapping[str, str] | None) -> tuple[str, ...]:
    """What :meth:`Storage.put` computes: sha256, crc64nvme and every supported expected one."""
    extra = [bagit_token(a) for a in (digests or {}) if is_supported(a)]
    return tuple(dict.fromkeys((*PUT_ALGORITHMS, *extra)))


def check_digests(
    expected: Mapping[str, str] | None,
    computed: Mapping[str, str],
    *,
    location: str,
    key: str,
    what: str = "the bytes sent",
) -> None:
    """Raise :class:`VerificationFailed` when an algorithm both sides have disagrees."""
    if not expected:
        return
    wanted = {bagit_token(a): v.strip().lower() for a, v in expected.items()}
    differing = [a for a, v in computed.items() if a in wanted and wanted[a] != v.lower()]
    if differing:
        detail = "; ".join(f"{a} expected {wanted[a]}, got {computed[a]}" for a in differing)
        raise VerificationFailed(f"{location}: {key}: {what} do not match ({detail})")
    if not any(a in wanted for a in computed):
        log.warning(
            "%s: %s: none of the expected digests (%s) could be checked",
            location,
            key,
            ", ".join(sorted(wanted)),
        )


def moved_object_problem(storage: Storage, key: str, size: int, sha256: str | None) -> str | None:
    """What is wrong with the object at ``key`` as the target of a move of an object of
    ``size`` bytes with SHA-256 ``sha256`` (re-read when given): None when it is that object."""
    from preserve.checksums import hash_stream

    if sha256 is None:
        got_size = storage.stat(key).size
        return None if got_size == size else f"it holds {got_size} bytes, expected {size}"
    with storage.open(key) as stream:
        got_size, digests = hash_stream(stream, ("sha256",))
    if got_size != size or digests["sha256"] != sha256.lower():
        return (
            f"it reads back as {got_size} bytes with sha256 {digests['sha256']}; expected "
            f"{size} bytes with sha256 {sha256.lower()}"
        )
    return None


class ObjectReader(io.RawIOBase):
    """A read-only stream over a backend's raw stream that reports failures as StorageErrors.

    ``translate`` turns whatever the underlying stream raises into a
    :class:`~preserve.errors.StorageError`; closing the reader closes the underlying stream.
    """

    def __init__(
        self,
        raw: Any,
        translate: Callable[[BaseException], BaseException],
        on_close: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self._raw = raw
        self._translate = translate
        self._on_close = on_close

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            readinto = getattr(self._raw, "readinto", None)
            if readinto is not None:
                return int(readinto(buffer) or 0)
            data = self._raw.read(len(buffer))
            buffer[: len(data)] = data
            return len(data)
        except Exception as exc:
            raise self._translate(exc) from exc

    def readall(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            chunk = self.read(CHUNK_SIZE)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)

    def close(self) -> None:
        if self.closed:
            return
        try:
            self._raw.close()
        except Exception as exc:  # closing a half-read HTTP body may fail; the data was read
            log.debug("closing a stored object's stream failed: %s", exc)
        finally:
            if self._on_close is not None:
                self._on_close()
            super().close()
