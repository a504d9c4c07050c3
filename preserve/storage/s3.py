"""A storage location in an S3-compatible bucket (``s3://bucket/prefix?endpoint_url=...``).

URL query parameters (all optional; credentials never go in the URL, they come from boto3's own
chain: environment, shared files, instance or container roles):

``endpoint_url``      another S3 implementation (LocalStack, MinIO, moto ...): ``http(s)://host:port``
``region``            the bucket's region (default: boto3's configured region)
``addressing_style``  ``auto`` (default), ``path`` or ``virtual``
``verification``      ``server`` (default): trust the checksum the server reports after checking
                      it against ours, and re-read only when it reports none; ``reread``: always
                      read the object back and hash it (for servers that store a client's checksum
                      without checking it)
``request_checksum_calculation`` / ``response_checksum_validation``
                      botocore's settings, ``when_required`` (default) or ``when_supported``
``connect_timeout`` / ``read_timeout``  seconds (default 5 / 20): how long to wait for a
                      connection, and for the server between two bytes of its answer

An unreachable location fails fast. A request is tried ``retries`` times (with backoff) when the
connection is refused or reset, but only twice when it times out, so an endpoint that accepts
connections and never answers costs at most about ``2 × (connect_timeout + read_timeout)``. Once a
request has failed for want of an answer, the location counts as unreachable for
:data:`UNREACHABLE_HOLD_SECONDS`: every other request to it fails at once (no one waits for the same
time-outs again), retries under way stop, and a failed batch upload leaves what it already wrote
for recovery to remove instead of deleting it object by object.

How a copy is verified (the digests computed while reading the source are the reference):

* up to ``multipart_threshold`` bytes: one PUT carrying our SHA-256 (``x-amz-checksum-sha256``
  with ``x-amz-sdk-checksum-algorithm: SHA256``), which S3 checks and stores; the checksum the
  server answers with (or, when its answer carries none, a HEAD's size and SHA-256) must be ours:
  ``verified_by="server-sha256"``;
* larger: a multipart upload in ``part_size`` parts (read from the file at their offsets, four at
  a time) with our full-object CRC64NVME, which S3 checks at completion; HEAD must then report it:
  ``verified_by="server-crc64nvme"`` and ``part_size`` is recorded. An ETag is never taken for an
  MD5, and composite checksums are never compared with whole-object digests;
* when the server reports no usable checksum (or ``verification=reread``): the object is read
  back with GET and its CRC64NVME compared: ``verified_by="reread"``.

A copy that fails verification is deleted before :class:`VerificationFailed` is raised.
"""

from __future__ import annotations

import io
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, cast
from urllib.parse import parse_qsl, unquote, urlsplit

import botocore.exceptions as bce
import botocore.loaders
import botocore.session
from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore.config import Config
from s3transfer.utils import ChunksizeAdjuster

from preserve.checksums import MultiHasher, hash_file, hash_stream, hex_to_b64
from preserve.errors import (
    ConfigError,
    ObjectNotFound,
    StorageError,
    StorageUnavailable,
    UnsafePath,
    VerificationFailed,
)
from preserve.storage.base import (
    DEFAULT_MULTIPART_THRESHOLD,
    DEFAULT_PART_SIZE,
    REREAD_ALGORITHM,
    ObjectLocked,
    ObjectLockUnsupported,
    ObjectReader,
    ObjectRetention,
    PutItem,
    RetentionNotExtended,
    check_digests,
    moved_object_problem,
    put_algorithms,
    retention_request,
)
from preserve.storage.keys import MAX_KEY_BYTES, validate_key, validate_prefix
from preserve.text import plural
from preserve.values import ObjectStat, StoredObject

log = logging.getLogger(__name__)

#: Objects uploaded at once by put_many (each large one also uploads its parts in parallel).
PARALLEL_UPLOADS = 10  # objects in flight in put_many (as boto3's TransferManager's default)

#: After a request found the location unreachable, others fail at once for this long.
UNREACHABLE_HOLD_SECONDS = 30.0
TIMEOUT_ATTEMPTS = 2  # a request that timed out is tried this often at most
DEFAULT_CONNECT_TIMEOUT = 5.0
PROBE_TIMEOUT = 2.0  # connect and read time-out of answers(): one attempt
DEFAULT_READ_TIMEOUT = 20.0
MIN_PART_SIZE = 5 * 1024 * 1024  # S3's smallest part (every part but the last)
MAX_CONCURRENCY = 4  # parts in flight per multipart upload
MAX_COPY_BYTES = 5 * 1024 * 1024 * 1024  # the largest object one CopyObject copies
_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$")
_CHECKSUM_SETTINGS = ("when_required", "when_supported")
_ADDRESSING = ("auto", "path", "virtual")
_VERIFICATION = ("server", "reread")
_QUERY_KEYS = (
    "endpoint_url",
    "region",
    "addressing_style",
    "verification",
    "request_checksum_calculation",
    "response_checksum_validation",
    "connect_timeout",
    "read_timeout",
)
_SECRET_HINTS = ("secret", "key_id", "access_key", "token", "password", "credential")

# server answers worth another attempt (besides 5xx and 429)
_TRANSIENT_CODES = frozenset(
    {
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "InternalError",
        "ServiceUnavailable",
    }
)
_MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "403",
        "Forbidden",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AllAccessDisabled",
        "AccountProblem",
        "InvalidToken",
        "ExpiredToken",
    }
)
_DIGEST_CODES = frozenset(
    {"BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch", "InvalidChecksum"}
)
# answers meaning "this bucket (or server) has no Object Lock"
_NO_LOCK_CODES = frozenset(
    {"ObjectLockConfigurationNotFoundError", "NotImplemented", "MethodNotAllowed"}
)
# answers to Get/PutObjectLegalHold and PutObjectRetention when the bucket has no Object Lock
_LOCK_NOT_ENABLED = "InvalidRequest"
_NETWORK_ERRORS = (bce.ConnectionError, bce.HTTPClientError)
_TIMEOUTS = (bce.ConnectTimeoutError, bce.ReadTimeoutError)
# XML 1.0 cannot carry these: a DeleteObjects request naming such a key is refused (HTTP 500 by
# LocalStack), so such keys are deleted one at a time
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\r]")


# --------------------------------------------------------------------------- URL


@dataclass(frozen=True)
class S3Location:
    """A parsed ``s3://`` URL."""

    bucket: str
    prefix: str  # "" or "some/prefix/"
    endpoint_url: str | None
    region: str | None
    addressing_style: str = "auto"
    verification: str = "server"
    request_checksum_calculation: str = "when_required"
    response_checksum_validation: str = "when_required"
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT


def parse_s3_url(url: str) -> S3Location:
    """Parse and check an ``s3://bucket/prefix?...`` URL; :class:`ConfigError` naming it if bad."""

    def bad(problem: str) -> ConfigError:
        return ConfigError(f"storage location URL {url!r}: {problem}")

    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise bad(f"malformed ({exc})") from None
    if parts.scheme.lower() != "s3":
        raise bad("not an s3:// URL")
    if "@" in parts.netloc:
        raise bad(
            "credentials do not belong in the URL; boto3 finds them (environment, files, roles)"
        )
    bucket = parts.netloc
    if not bucket:
        raise bad("no bucket name (expected s3://bucket/optional/prefix)")
    if not _BUCKET.match(bucket):
        raise bad(f"{bucket!r} is not a valid bucket name")
    if parts.fragment:
        raise bad("a fragment ('#...') is not allowed")
    prefix = unquote(parts.path).strip("/")
    if prefix:
        try:
            validate_key(prefix)
        except UnsafePath as exc:
            raise bad(f"the prefix is unsafe: {exc}") from None
        prefix += "/"
    try:
        pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError as exc:
        raise bad(f"malformed query ({exc})") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if any(hint in name.lower() for hint in _SECRET_HINTS):
            raise bad(
                f"{name!r}: credentials do not belong in the URL; boto3 finds them "
                "(environment, shared files, roles)"
            )
        if name not in _QUERY_KEYS:
            raise bad(f"unknown parameter {name!r} (known: {', '.join(_QUERY_KEYS)})")
        if name in params:
            raise bad(f"parameter {name!r} is given twice")
        params[name] = value

    def choice(name: str, allowed: tuple[str, ...], default: str) -> str:
        value = params.get(name, default)
        if value not in allowed:
            raise bad(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
        return value

    def seconds(name: str, default: float) -> float:
        if name not in params:
            return default
        try:
            value = float(params[name])
        except ValueError:
            raise bad(f"{name} must be a number of seconds, not {params[name]!r}") from None
        if not value > 0:
            raise bad(f"{name} must be positive")
        return value

    endpoint = params.get("endpoint_url") or None
    if endpoint is not None:
        try:
            ep = urlsplit(endpoint)
            ep.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError as exc:
            raise bad(f"endpoint_url {endpoint!r} is malformed ({exc})") from None
        if ep.scheme not in ("http", "https") or not ep.hostname:
            raise bad(f"endpoint_url {endpoint!r} must be http(s)://host[:port]")
        if ep.username or ep.password:
            raise bad("credentials do not belong in endpoint_url; boto3 finds them")
        if ep.path not in ("", "/") or ep.query or ep.fragment:
            raise bad(f"endpoint_url {endpoint!r} must not have a path or query")
        endpoint = endpoint.rstrip("/")
    region = params.get("region") or None
    return S3Location(
        bucket=bucket,
        prefix=prefix,
        endpoint_url=endpoint,
        region=region,
        addressing_style=choice("addressing_style", _ADDRESSING, "auto"),
        verification=choice("verification", _VERIFICATION, "server"),
        request_checksum_calculation=choice(
            "request_checksum_calculation", _CHECKSUM_SETTINGS, "when_required"
        ),
        response_checksum_validation=choice(
            "response_checksum_validation", _CHECKSUM_SETTINGS, "when_required"
        ),
        connect_timeout=seconds("connect_timeout", DEFAULT_CONNECT_TIMEOUT),
        read_timeout=seconds("read_timeout", DEFAULT_READ_TIMEOUT),
    )


def describe_s3_url(url: str) -> dict[str, Any]:
    """The catalogue's view of an S3 location; nothing is contacted."""
    loc = parse_s3_url(url)
    region = loc.region or _session().get_config_variable("region")
    described = asdict(loc)
    described.update(provider="s3", region=region, prefix=loc.prefix.rstrip("/"))
    return described


# --------------------------------------------------------------------------- client


class _Circuit:
    """Whether a location was just found unreachable: then requests to it fail at once.

    Opened when a request fails for want of an answer (after its retries); it closes by itself
    after ``hold`` seconds, so a long-running process (a worker) tries the location again later.
    Registered as a botocore ``before-call`` handler, it stops every request of the client.
    """

    def __init__(self, url: str, endpoint: str, hold: float = UNREACHABLE_HOLD_SECONDS) -> None:
        self.url = url
        self.endpoint = endpoint
        self.hold = hold
        self._lock = threading.Lock()
        self._since = 0.0
        self._reason: str | None = None

    def open(self, reason: str) -> None:
        with self._lock:
            if self.reason() is None:
                self._reason, self._since = reason, time.monotonic()
                log.info(
                    "%s: %s is unreachable (%s); no more requests to it for %.0f s",
                    self.url,
                    self.endpoint,
                    reason,
                    self.hold,
                )

    def reason(self) -> str | None:
        """Why the location is unreachable, or ``None`` when it may be tried."""
        if self._reason is not None and time.monotonic() - self._since >= self.hold:
            self._reason = None
        return self._reason

    def __call__(self, model: Any = None, **_: Any) -> None:
        reason = self.reason()
        if reason is not None:
            ago = time.monotonic() - self._since
            raise StorageUnavailable(
                f"{self.url}: not tried: {self.endpoint} could not be reached {ago:.0f} s ago "
                f"({reason})"
            )


class _RetryPolicy:
    """botocore ``needs-retry`` handler: bounded attempts with exponential backoff and jitter.

    Retries connection failures, 5xx, 429 and S3's throttling answers, for every request (so one
    failed part does not restart a whole multipart upload); a time-out only once more, and
    nothing once the location's circuit is open.
    """

    def __init__(
        self, attempts: int, backoff: float, cap: float = 20.0, circuit: _Circuit | None = None
    ) -> None:
        self.attempts = attempts
        self.backoff = backoff
        self.cap = cap
        self.circuit = circuit

    def __call__(
        self,
        response: Any = None,
        attempts: int = 1,
        caught_exception: BaseException | None = None,
        operation: Any = None,
        **_: Any,
    ) -> float | None:
        if attempts >= self.attempts:
            return None
        if self.circuit is not None and self.circuit.reason() is not None:
            return None  # another request found the location unreachable meanwhile
        if caught_exception is not None:
            if not isinstance(caught_exception, _NETWORK_ERRORS):
                return None
            limit = self.attempts
            if isinstance(caught_exception, _TIMEOUTS):
                limit = min(limit, TIMEOUT_ATTEMPTS)
                if attempts >= limit:
                    return None
            reason = str(caught_exception)
        elif response is not None:
            http, parsed = response
            code = str(parsed.get("Error", {}).get("Code", ""))
            status = getattr(http, "status_code", 0)
            if not (status >= 500 or status == 429 or code in _TRANSIENT_CODES):
                return None
            reason = f"HTTP {status} {code}".strip()
            limit = self.attempts
        else:
            return None
        delay = min(self.cap, self.backoff * 2 ** (attempts - 1))
        delay *= 0.5 + random.random() / 2  # jitter, so clients do not retry in lockstep
        log.info(
            "S3 %s failed (%s); attempt %d of %d in %.2f s",
            getattr(operation, "name", "request"),
            reason,
            attempts + 1,
            limit,
            delay,
        )
        return delay


_loader: Any = None
_loader_lock = threading.Lock()


def _session() -> Any:
    """A fresh botocore session (so credentials and region are read anew) sharing one loader
    of the service models, which makes a client in ~20 ms instead of ~200 ms."""
    global _loader
    with _loader_lock:
        if _loader is None:
            _loader = botocore.loaders.create_loader()
    session = botocore.session.get_session()
    session.register_component("data_loader", _loader)
    return session


def make_s3_client(
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    addressing_style: str = "auto",
    retries: int = 5,
    backoff: float = 0.5,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
    request_checksum_calculation: str = "when_required",
    response_checksum_validation: str = "when_required",
    max_pool_connections: int = 32,
    circuit: _Circuit | None = None,
) -> Any:
    """The one place S3 clients are made: explicit checksum settings, timeouts and retries.

    ``when_required`` keeps botocore from adding its own CRC32 (and aws-chunked trailers over
    HTTPS) to every upload, which many S3-compatible servers mishandle; our own checksums are
    sent explicitly instead. ``retries`` is the number of attempts per request.
    """
    options: dict[str, Any] = {
        "region_name": region,
        "connect_timeout": connect_timeout,
        "read_timeout": read_timeout,
        # botocore makes one attempt; _RetryPolicy decides about the others
        "retries": {"total_max_attempts": 1, "mode": "standard"},
        "s3": {"addressing_style": addressing_style},
        "request_checksum_calculation": request_checksum_calculation,
        "response_checksum_validation": response_checksum_validation,
        "max_pool_connections": max_pool_connections,
        "user_agent_extra": "preserve",
    }
    config = Config(**options)
    client = _session().create_client("s3", endpoint_url=endpoint_url, config=config)
    client.meta.events.register(
        "needs-retry.s3", _RetryPolicy(max(1, retries), backoff, circuit=circuit)
    )
    if circuit is not None:
        client.meta.events.register("before-call.s3", circuit)
    return client


# --------------------------------------------------------------------------- storage


class S3Storage:
    """Objects in one bucket, under an optional key prefix."""

    provider = "s3"

    def __init__(
        self,
        url: str,
        *,
        retries: int = 5,
        backoff: float = 0.5,
        multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
        part_size: int = DEFAULT_PART_SIZE,
    ) -> None:
        self.url = url
        self.location = loc = parse_s3_url(url)
        if part_size < MIN_PART_SIZE:
            raise ConfigError(
                f"{url}: the S3 part size must be at least {MIN_PART_SIZE} bytes, not {part_size}"
            )
        if multipart_threshold < 1:
            raise ConfigError(f"{url}: the multipart threshold must be positive")
        self.bucket = loc.bucket
        self.prefix = loc.prefix
        self.retries = max(1, int(retries))
        self.backoff = max(0.0, float(backoff))
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size
        self._circuit = _Circuit(url, loc.endpoint_url or f"the S3 endpoint of {url}")
        self._client = make_s3_client(
            endpoint_url=loc.endpoint_url,
            region=loc.region,
            addressing_style=loc.addressing_style,
            retries=self.retries,
            backoff=self.backoff,
            connect_timeout=loc.connect_timeout,
            read_timeout=loc.read_timeout,
            request_checksum_calculation=loc.request_checksum_calculation,
            response_checksum_validation=loc.response_checksum_validation,
            max_pool_connections=8 * MAX_CONCURRENCY,
            circuit=self._circuit,
        )
        self.endpoint = self._circuit.endpoint = loc.endpoint_url or str(
            self._client.meta.endpoint_url
        )
        #: whether the bucket has Object Lock (asked once: it cannot be turned off)
        self._object_lock: bool | None = None

    def __repr__(self) -> str:
        return f"S3Storage({self.url!r})"

    # ------------------------------------------------------------------ location

    def ensure(self) -> None:
        """Check that the bucket exists and these credentials may use it."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except bce.ClientError as exc:
            code = _code(exc)
            if code in ("404", "NoSuchBucket", "NotFound"):
                raise StorageError(
                    f"{self.url}: bucket {self.bucket!r} does not exist at {self.endpoint}"
                ) from None
            if code in ("301", "PermanentRedirect"):
                raise StorageError(
                    f"{self.url}: bucket {self.bucket!r} is in another region; add region=... "
                    "to the URL"
                ) from None
            raise self._error(exc, "cannot use the bucket") from exc
        except bce.BotoCoreError as exc:
            raise self._error(exc, "cannot reach the bucket") from exc
        log.debug("S3 location %s is reachable", self.url)

    def answers(self, timeout: float = PROBE_TIMEOUT) -> str | None:
        """Whether the endpoint answers at all, asked once with short time-outs (recovery asks
        before cleaning up, so that a location that is down costs it seconds at most): ``None``
        when it does, else why not. Opens no circuit: a slow but healthy server is not judged by
        this."""
        if self._circuit.reason() is not None:
            return self._circuit.reason()
        client = make_s3_client(
            endpoint_url=self.location.endpoint_url,
            region=self.location.region,
            addressing_style=self.location.addressing_style,
            retries=1,
            connect_timeout=timeout,
            read_timeout=timeout,
        )
        try:
            client.head_bucket(Bucket=self.bucket)
        except bce.ClientError:
            return None  # it answered (what it thinks of us is for the real requests to tell)
        except bce.BotoCoreError as exc:
            return f"{self.endpoint} does not answer ({exc})"
        finally:
            client.close()
        return None

    # ------------------------------------------------------------------ writing

    def put_many(
        self,
        items: Sequence[PutItem],
        *,
        consume: bool = False,
        link: bool = False,
        on_stored: Callable[[StoredObject], None] | None = None,
        on_written: Callable[[str, int], None] | None = None,  # one pass: on_stored says all
    ) -> list[StoredObject]:
        """Upload in parallel (bounded threads). On the first failure the uploads not yet
        started are cancelled and what was uploaded is removed, unless the location is
        unreachable: then that is left to recovery (it would only wait for the same time-outs)."""

        def one(item: PutItem) -> StoredObject:
            obj = self.put(item.key, Path(item.source), digests=item.digests)
            if on_stored is not None:
                on_stored(obj)
            return obj

        pool = ThreadPoolExecutor(max_workers=PARALLEL_UPLOADS)
        try:
            futures = [pool.submit(one, item) for item in items]
            return [future.result() for future in futures]
        except BaseException as exc:
            pool.shutdown(wait=True, cancel_futures=True)
            if isinstance(exc, StorageUnavailable) or self._circuit.reason() is not None:
                raise
            keys = [validate_key(item.key) for item in items]
            try:
                self._delete_keys(keys)
            except StorageError as cleanup:
                log.warning(
                    "%s: could not remove the objects of a failed upload: %s", self.url, cleanup
                )
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def put(
        self,
        key: str,
        source: Path,
        *,
        digests: Mapping[str, str] | None = None,
        consume: bool = False,  # a local concern: an upload always copies
    ) -> StoredObject:
        key = validate_key(key)
        full = self._full_key(key)
        try:
            size, computed = hash_file(source, put_algorithms(digests))
        except OSError as exc:
            raise StorageError(
                f"{self.url}: cannot read {source} to store it as {key}: {exc.strerror or exc}"
            ) from exc
        check_digests(digests, computed, location=self.url, key=key)
        if size > self.multipart_threshold:
            part_size = ChunksizeAdjuster().adjust_chunksize(self.part_size, size)
            verified_by = self._put_multipart(key, full, str(source), size, computed, part_size)
            return StoredObject(key, size, computed, verified_by, part_size)

        def body() -> BinaryIO:
            return open(source, "rb")  # closed by _put_single

        verified_by = self._put_single(key, full, body, size, computed)
        return StoredObject(key, size, computed, verified_by)

    def put_bytes(self, key: str, data: bytes) -> StoredObject:
        key = validate_key(key)
        full = self._full_key(key)
        hasher = MultiHasher(put_algorithms(None))
        hasher.update(data)
        computed = hasher.hexdigests()
        verified_by = self._put_single(key, full, lambda: io.BytesIO(data), len(data), computed)
        return StoredObject(key, len(data), computed, verified_by)

    def _put_single(
        self,
        key: str,
        full: str,
        body: Callable[[], BinaryIO],
        size: int,
        computed: Mapping[str, str],
    ) -> str:
        sha256 = hex_to_b64(computed["sha256"])
        try:
            with body() as stream:
                # the algorithm header makes servers that only store a checksum announced with
                # it (moto) keep ours; S3 checks the bytes against it and answers BadDigest
                response = self._client.put_object(
                    Bucket=self.bucket,
                    Key=full,
                    Body=stream,
                    ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=sha256,
                )
        except (bce.ClientError, bce.BotoCoreError) as exc:
            # first: botocore's time-outs are also OSErrors (through requests and urllib3)
            raise self._error(exc, "cannot store", key) from exc
        except OSError as exc:
            raise StorageError(f"{self.url}: {key}: cannot read the source: {exc}") from exc
        # the server checked the bytes it received against our SHA-256 and answers with the
        # checksum it stored: the same verdict a HEAD would give, one request sooner
        if self._server_sha256(key, full, response.get("ChecksumSHA256"), sha256, size):
            return "server-sha256"
        head = self._head(key, full)
        self._check_size(key, full, head, size)
        if self._server_sha256(key, full, head.get("ChecksumSHA256"), sha256, size):
            return "server-sha256"
        return self._reread(key, full, size, computed)

    def _server_sha256(
        self, key: str, full: str, reported: str | None, sha256: str, size: int
    ) -> bool:
        """True when the server reports a whole-object SHA-256 and verification trusts it; a
        different one rejects the copy."""
        if self.location.verification != "server" or not reported or "-" in reported:
            return False
        if reported != sha256:
            self._reject(key, full, f"the server reports SHA-256 {reported}, we sent {sha256}")
        log.debug(
            "stored %s on %s (%s, server-verified SHA-256)", key, self.url, plural(size, "byte")
        )
        return True

    def _put_multipart(
        self,
        key: str,
        full: str,
        filename: str,
        size: int,
        computed: Mapping[str, str],
        part_size: int,
    ) -> str:
        crc = hex_to_b64(computed["crc64nvme"])
        config = TransferConfig(
            multipart_threshold=self.multipart_threshold,
            multipart_chunksize=part_size,
            max_concurrency=MAX_CONCURRENCY,
            use_threads=True,
            preferred_transfer_client="classic",
        )
        try:
            with create_transfer_manager(self._client, config) as manager:
                # a full-object CRC64NVME (FULL_OBJECT), checked by S3 at completion; SHA-256
                # has no full-object form for multipart uploads
                future = manager.upload(
                    filename, self.bucket, full, extra_args={"ChecksumCRC64NVME": crc}
                )
                future.result()
        except (bce.ClientError, bce.BotoCoreError) as exc:
            # first: botocore's time-outs are also OSErrors (through requests and urllib3)
            raise self._error(exc, "cannot store", key) from exc
        except OSError as exc:
            raise StorageError(f"{self.url}: {key}: cannot read the source: {exc}") from exc
        head = self._head(key, full)
        self._check_size(key, full, head, size)
        reported = head.get("ChecksumCRC64NVME")
        full_object = head.get("ChecksumType") in (None, "FULL_OBJECT")
        if self.location.verification == "server" and reported and full_object:
            if reported != crc:
                self._reject(key, full, f"the server reports CRC64NVME {reported}, we sent {crc}")
            log.debug(
                "stored %s on %s (%s in %d-byte parts, server-verified CRC64NVME)",
                key,
                self.url,
                plural(size, "byte"),
                part_size,
            )
            return "server-crc64nvme"
        return self._reread(key, full, size, computed)

    def _reread(self, key: str, full: str, size: int, computed: Mapping[str, str]) -> str:
        """Read the stored object back and compare its size and CRC64NVME with what was sent."""
        log.debug("%s: %s: no usable server checksum; reading the copy back", self.url, key)
        with self._get(key, full) as stream:
            got_size, got = hash_stream(stream, (REREAD_ALGORITHM,))
        if got_size != size or got[REREAD_ALGORITHM] != computed[REREAD_ALGORITHM]:
            self._reject(
                key,
                full,
                f"it reads back as {got_size} bytes with {REREAD_ALGORITHM} "
                f"{got[REREAD_ALGORITHM]}; we sent {size} bytes with "
                f"{computed[REREAD_ALGORITHM]}",
            )
        log.debug(
            "stored %s on %s (%s, verified by re-reading)", key, self.url, plural(size, "byte")
        )
        return "reread"

    def _check_size(self, key: str, full: str, head: Mapping[str, Any], size: int) -> None:
        if head.get("ContentLength") != size:
            self._reject(
                key, full, f"the server holds {head.get('ContentLength')} bytes, we sent {size}"
            )

    def _reject(self, key: str, full: str, problem: str) -> None:
        """Remove a copy that failed verification and raise VerificationFailed."""
        log.debug("%s: %s: copy failed verification: %s", self.url, key, problem)
        try:
            self._client.delete_object(Bucket=self.bucket, Key=full)
        except (bce.ClientError, bce.BotoCoreError) as exc:
            problem += f" (and removing the bad copy failed: {self._error(exc, 'delete', key)})"
        raise VerificationFailed(f"{self.url}: {key}: the stored copy is wrong: {problem}")

    # ------------------------------------------------------------------ reading

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        key = validate_key(key)
        return self._get(key, self._full_key(key))

    def _get(self, key: str, full: str) -> AbstractContextManager[BinaryIO]:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=full)
        except (bce.ClientError, bce.BotoCoreError) as exc:
            raise self._error(exc, "cannot read", key, reading=True) from exc

        def translate(exc: BaseException) -> BaseException:
            if isinstance(exc, bce.ClientError | bce.BotoCoreError):
                return self._error(exc, "cannot read", key)
            if isinstance(exc, OSError):
                return StorageUnavailable(f"{self.url}: {key}: reading was interrupted: {exc}")
            return exc

        reader = ObjectReader(response["Body"], translate)
        return cast(AbstractContextManager[BinaryIO], reader)

    def stat(self, key: str) -> ObjectStat:
        key = validate_key(key)
        head = self._head(key, self._full_key(key))
        etag = head.get("ETag")
        return ObjectStat(
            key=key,
            size=int(head.get("ContentLength", 0)),
            modified=head.get("LastModified"),
            checksum_sha256=head.get("ChecksumSHA256"),
            checksum_crc64nvme=head.get("ChecksumCRC64NVME"),
            etag=etag.strip('"') if isinstance(etag, str) else None,
        )

    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
        except ObjectNotFound:
            return False
        return True

    def _head(self, key: str, full: str) -> dict[str, Any]:
        try:
            return cast(
                dict[str, Any],
                self._client.head_object(Bucket=self.bucket, Key=full, ChecksumMode="ENABLED"),
            )
        except (bce.ClientError, bce.BotoCoreError) as exc:
            raise self._error(exc, "cannot stat", key, reading=True) from exc

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        prefix = validate_prefix(prefix)
        paginator = self._client.get_paginator("list_objects_v2")
        start = len(self.prefix)
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                for item in page.get("Contents", ()):
                    name = item["Key"]
                    if name.startswith(self.prefix):
                        yield name[start:]
        except (bce.ClientError, bce.BotoCoreError) as exc:
            raise self._error(exc, f"cannot list {prefix or '/'}") from exc

    # ------------------------------------------------------------------ moving

    def move(self, src_key: str, dst_key: str, *, sha256: str | None = None) -> int:
        """See :meth:`preserve.storage.base.Storage.move`: a server-side copy (in parts above
        5 GiB), verified, then the source deleted."""
        src_key = validate_key(src_key)
        dst_key = validate_key(dst_key)
        src, dst = self._full_key(src_key), self._full_key(dst_key)
        size = int(self._head(src_key, src).get("ContentLength", 0))
        if self.exists(dst_key):
            problem = moved_object_problem(self, dst_key, size, sha256)
            if problem is not None:
                raise VerificationFailed(
                    f"{self.url}: cannot move {src_key} to {dst_key}: another object is there "
                    f"({problem})"
                )
            self.delete(src_key)  # an earlier move was interrupted after the copy
            return size
        source = {"Bucket": self.bucket, "Key": src}
        try:
            if size <= MAX_COPY_BYTES:
                self._client.copy_object(Bucket=self.bucket, Key=dst, CopySource=source)
            else:
                self._copy_in_parts(source, dst, size)
        except (bce.ClientError, bce.BotoCoreError) as exc:
            raise self._error(exc, f"cannot copy to {dst_key}", src_key) from exc
        problem = moved_object_problem(self, dst_key, size, sha256)
        if problem is not None:
            self._reject(dst_key, dst, f"the copy of {src_key} is wrong: {problem}")
        self.delete(src_key)
        log.debug("moved %s to %s on %s", src_key, dst_key, self.url)
        return size

    def _copy_in_parts(self, source: dict[str, str], dst: str, size: int) -> None:
        """A server-side copy of an object larger than one CopyObject may copy."""
        upload = self._client.create_multipart_upload(Bucket=self.bucket, Key=dst)["UploadId"]
        try:
            parts = []
            part_size = max(self.part_size, -(-size // 10_000))
            for number, start in enumerate(range(0, size, part_size), start=1):
                end = min(start + part_size, size) - 1
                answer = self._client.upload_part_copy(
                    Bucket=self.bucket,
                    Key=dst,
                    UploadId=upload,
                    PartNumber=number,
                    CopySource=source,
                    CopySourceRange=f"bytes={start}-{end}",
                )
                parts.append({"PartNumber": number, "ETag": answer["CopyPartResult"]["ETag"]})
            self._client.complete_multipart_upload(
                Bucket=self.bucket, Key=dst, UploadId=upload, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            try:
                self._client.abort_multipart_upload(Bucket=self.bucket, Key=dst, UploadId=upload)
            except (bce.ClientError, bce.BotoCoreError) as exc:
                log.warning("%s: could not abort the copy to %s: %s", self.url, dst, exc)
            raise

    # ------------------------------------------------------------------ object lock

    def supports_object_lock(self) -> bool:
        """Whether the bucket has Object Lock enabled (GetObjectLockConfiguration, asked once:
        S3 cannot turn it off again). A bucket without it, or a server that does not know the
        request, cannot lock objects."""
        if self._object_lock is None:
            try:
                answer = self._client.get_object_lock_configuration(Bucket=self.bucket)
            except bce.ClientError as exc:
                if _code(exc) not in _NO_LOCK_CODES:
                    raise self._error(exc, "cannot ask whether the bucket has Object Lock") from exc
                self._object_lock = False
            except bce.BotoCoreError as exc:
                raise self._error(exc, "cannot ask whether the bucket has Object Lock") from exc
            else:
                config = answer.get("ObjectLockConfiguration") or {}
                self._object_lock = config.get("ObjectLockEnabled") == "Enabled"
            log.debug("%s: object lock %s", self.url, "on" if self._object_lock else "off")
        return self._object_lock

    def _require_object_lock(self) -> None:
        if not self.supports_object_lock():
            raise self._no_object_lock()

    def _no_object_lock(self) -> ObjectLockUnsupported:
        self._object_lock = False
        return ObjectLockUnsupported(
            f"{self.url}: object lock is not supported by this location: bucket {self.bucket!r} "
            "does not have S3 Object Lock enabled (it can only be enabled on the bucket, by its "
            "owner)"
        )

    def get_retention(self, key: str) -> ObjectRetention | None:
        """The current version's retention, from HEAD (the same fields GetObjectRetention gives,
        under the same permission, s3:GetObjectRetention; moto has no GetObjectRetention)."""
        key = validate_key(key)
        self._require_object_lock()
        head = self._head(key, self._full_key(key))
        return _retention(head)

    def set_retention(self, key: str, until: datetime, mode: str = "COMPLIANCE") -> bool:
        key = validate_key(key)
        until, mode = retention_request(until, mode, location=f"{self.url}: {key}")
        current = self.get_retention(key)  # ObjectLockUnsupported, ObjectNotFound
        now = datetime.now(UTC)
        if current is not None and current.until > now:
            problem = _weaker(current, until, mode)
            if problem is not None:
                raise RetentionNotExtended(
                    f"{self.url}: {key}: refusing to shorten or weaken its retention: {problem}; "
                    "retention is only ever extended",
                    current=current,
                )
            if current.until == until and current.mode == mode:
                return False
        full = self._full_key(key)
        try:
            # PutObjectRetention requires Content-MD5 or a flexible checksum (the model's
            # httpChecksum.requestChecksumRequired): botocore adds its CRC32 even under
            # request_checksum_calculation=when_required
            self._client.put_object_retention(
                Bucket=self.bucket, Key=full, Retention={"Mode": mode, "RetainUntilDate": until}
            )
        except (bce.ClientError, bce.BotoCoreError) as exc:
            if isinstance(exc, bce.ClientError):
                if _code(exc) == _LOCK_NOT_ENABLED and "ObjectLock" in _message(exc):
                    raise self._no_object_lock() from None
                if _code(exc) in _DENIED_CODES:
                    again = _retention(self._head(key, full))
                    if again is not None and _weaker(again, until, mode) is not None:
                        raise RetentionNotExtended(
                            f"{self.url}: {key}: S3 refused to shorten or weaken its retention: "
                            f"{_weaker(again, until, mode)}",
                            current=again,
                        ) from None
            raise self._error(exc, "cannot set the retention of", key, reading=True) from exc
        log.info(
            "%s: %s retained in %s mode until %s",
            self.url,
            key,
            mode,
            f"{until:%Y-%m-%dT%H:%M:%SZ}",
        )
        return True

    def get_legal_hold(self, key: str) -> bool:
        key = validate_key(key)
        self._require_object_lock()
        try:
            answer = self._client.get_object_legal_hold(Bucket=self.bucket, Key=self._full_key(key))
        except bce.ClientError as exc:
            code = _code(exc)
            if code == "NoSuchObjectLockConfiguration":  # AWS: no legal hold was ever set
                return False
            if code == _LOCK_NOT_ENABLED and "ObjectLock" in _message(exc):
                raise self._no_object_lock() from None
            raise self._error(exc, "cannot read the legal hold of", key, reading=True) from exc
        except bce.BotoCoreError as exc:
            raise self._error(exc, "cannot read the legal hold of", key, reading=True) from exc
        return (answer.get("LegalHold") or {}).get("Status") == "ON"

    def set_legal_hold(self, key: str, on: bool) -> None:
        key = validate_key(key)
        self._require_object_lock()
        full = self._full_key(key)
        if not self.exists(key):  # S3 would answer 404 for the key; say it as a missing object
            raise ObjectNotFound(f"{self.url}: {key}: no such object")
        try:
            # requires Content-MD5 or a flexible checksum, like PutObjectRetention
            self._client.put_object_legal_hold(
                Bucket=self.bucket, Key=full, LegalHold={"Status": "ON" if on else "OFF"}
            )
        except bce.ClientError as exc:
            if _code(exc) == _LOCK_NOT_ENABLED and "ObjectLock" in _message(exc):
                raise self._no_object_lock() from None
            raise self._error(exc, "cannot set the legal hold of", key, reading=True) from exc
        except bce.BotoCoreError as exc:
            raise self._error(exc, "cannot set the legal hold of", key, reading=True) from exc
        log.info("%s: %s legal hold %s", self.url, key, "on" if on else "off")

    def _lock_on(self, full: str, version_id: str | None) -> str | None:
        """What keeps one version of an object (a retention not yet over, a legal hold), in
        words; None when nothing does (or it cannot be told)."""
        try:
            head = self._client.head_object(
                Bucket=self.bucket, Key=full, **({"VersionId": version_id} if version_id else {})
            )
        except (bce.ClientError, bce.BotoCoreError):
            return None
        what = []
        retention = _retention(head)
        if retention is not None and retention.until > datetime.now(UTC):
            what.append(
                f"retained in {retention.mode} mode until {retention.until:%Y-%m-%dT%H:%M:%SZ}"
            )
        if head.get("ObjectLockLegalHoldStatus") == "ON":
            what.append("under a legal hold")
        return " and ".join(what) or None

    def _deletes_versions(self) -> bool:
        """Whether deleting removes an object's versions (a bucket with Object Lock, which is
        always versioned) rather than hiding them behind a delete marker. A bucket whose lock
        configuration may not be read is deleted from as before."""
        try:
            return self.supports_object_lock()
        except StorageUnavailable:
            raise
        except StorageError as exc:
            log.warning("%s: deleting as from a bucket without object lock: %s", self.url, exc)
            self._object_lock = False
            return False

    def _delete_versions(self, key: str, full: str) -> None:
        """Delete every version (and delete marker) of ``full``, the oldest first, so that the
        object reads as before until its last version goes; :class:`ObjectLocked` when S3
        refuses one because its object lock protects it."""
        found: list[dict[str, Any]] = []
        try:
            paginator = self._client.get_paginator("list_object_versions")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full):
                for item in [*page.get("Versions", ()), *page.get("DeleteMarkers", ())]:
                    if item.get("Key") == full:
                        found.append(item)
        except (bce.ClientError, bce.BotoCoreError) as exc:
            raise self._error(exc, "cannot list the versions of", key) from exc
        found.sort(key=lambda v: (bool(v.get("IsLatest")), v.get("LastModified") or 0))
        for item in found:
            version = item.get("VersionId")
            try:
                self._client.delete_object(
                    Bucket=self.bucket,
                    Key=full,
                    **({"VersionId": version} if version and version != "null" else {}),
                )
            except bce.ClientError as exc:
                lock = self._lock_on(full, version) if _code(exc) in _DENIED_CODES else None
                if lock is not None:
                    raise ObjectLocked(
                        f"{self.url}: {key}: cannot delete it: S3 Object Lock protects it ({lock})"
                    ) from None
                raise self._error(exc, "cannot delete", key) from exc
            except bce.BotoCoreError as exc:
                raise self._error(exc, "cannot delete", key) from exc

    # ------------------------------------------------------------------ deleting

    def delete(self, key: str) -> None:
        """Remove the object. In a bucket with Object Lock every version of it is deleted (a
        delete marker would only hide the bytes), and a version its lock protects is refused
        with :class:`ObjectLocked`."""
        key = validate_key(key)
        if self._deletes_versions():
            self._delete_versions(key, self._full_key(key))
            log.debug("deleted %s (every version) from %s", key, self.url)
            return
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._full_key(key))
        except (bce.ClientError, bce.BotoCoreError) as exc:
            raise self._error(exc, "cannot delete", key) from exc
        log.debug("deleted %s from %s", key, self.url)

    def delete_prefix(self, prefix: str) -> int:
        prefix = validate_prefix(prefix)
        if not prefix.endswith("/"):
            raise UnsafePath(
                f"{self.url}: refusing to delete under prefix {prefix!r}: it must name a folder "
                "and end with '/'"
            )
        count = self._delete_keys(self.iter_keys(prefix))
        self._abort_uploads(prefix)
        log.info("deleted %s under %s from %s", plural(count, "object"), prefix, self.url)
        return count

    def _delete_keys(self, keys: Iterable[str]) -> int:
        """Delete ``keys`` in batches of DeleteObjects' 1,000; a key XML cannot carry, alone.
        In a bucket with Object Lock, one at a time with every version (see :meth:`delete`):
        those its lock protects are named in one :class:`ObjectLocked` at the end."""
        count = 0
        if self._deletes_versions():
            locked: list[str] = []
            for key in keys:
                try:
                    self.delete(key)
                except ObjectLocked as exc:
                    locked.append(str(exc))
                    continue
                count += 1
            if locked:
                more = f" (and {len(locked) - 3} more)" if len(locked) > 3 else ""
                raise ObjectLocked(
                    f"{self.url}: {plural(len(locked), 'object')} could not be deleted, "
                    f"{count} were: " + "; ".join(locked[:3]) + more
                )
            return count
        batch: list[str] = []
        for key in keys:
            if _NOT_XML.search(self._full_key(key)):
                self.delete(key)
                count += 1
                continue
            batch.append(key)
            if len(batch) == 1000:  # DeleteObjects' limit
                count += self._delete_batch(batch)
                batch = []
        if batch:
            count += self._delete_batch(batch)
        return count

    def _delete_batch(self, keys: list[str]) -> int:
        objects = [{"Key": self._full_key(k)} for k in keys]
        try:
            response = self._client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
            )
        except bce.ClientError as exc:
            if _code(exc) in ("MissingContentMD5", "NotImplemented"):
                # a server without DeleteObjects (or one wanting Content-MD5): one at a time
                for key in keys:
                    self.delete(key)
                return len(keys)
            raise self._error(exc, "cannot delete objects") from exc
        except bce.BotoCoreError as exc:
            raise self._error(exc, "cannot delete objects") from exc
        errors = response.get("Errors", [])
        if errors:
            first = ", ".join(f"{e.get('Key')} ({e.get('Code')})" for e in errors[:5])
            raise StorageError(f"{self.url}: could not delete {len(errors)} objects: {first}")
        return len(keys)

    def _abort_uploads(self, prefix: str) -> None:
        """Abort unfinished multipart uploads under ``prefix`` (they are billed but invisible)."""
        try:
            paginator = self._client.get_paginator("list_multipart_uploads")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                for upload in page.get("Uploads", ()):
                    self._client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    log.info("aborted unfinished upload of %s on %s", upload["Key"], self.url)
        except (bce.ClientError, bce.BotoCoreError) as exc:
            log.warning(
                "%s: could not abort unfinished uploads under %s: %s", self.url, prefix, exc
            )

    # ------------------------------------------------------------------ keys and errors

    def _full_key(self, key: str) -> str:
        full = self.prefix + key
        if len(full.encode("utf-8")) > MAX_KEY_BYTES:
            raise UnsafePath(
                f"{self.url}: {key}: with the location prefix the key is longer than "
                f"{MAX_KEY_BYTES} bytes"
            )
        return full

    def _error(
        self, exc: BaseException, doing: str, key: str | None = None, *, reading: bool = False
    ) -> StorageError:
        """The StorageError a caller sees for a botocore failure (ObjectNotFound only when
        ``reading`` an object: a 404 to a write means something else is wrong)."""
        where = f"{self.url}: {key}" if key else self.url
        if isinstance(exc, bce.ClientError):
            code = _code(exc)
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            message = exc.response.get("Error", {}).get("Message") or code
            if code == "NoSuchBucket":
                return StorageError(
                    f"{where}: {doing}: bucket {self.bucket!r} does not exist at {self.endpoint}"
                )
            if code in _MISSING_CODES and reading and key is not None:
                return ObjectNotFound(f"{where}: no such object")
            if code in _DENIED_CODES:
                return StorageError(
                    f"{where}: {doing}: access denied by {self.endpoint} ({code}: {message}); "
                    "check the credentials boto3 finds and the bucket policy"
                )
            if code in _DIGEST_CODES:
                return VerificationFailed(
                    f"{where}: the server rejected the bytes sent ({code}: {message})"
                )
            if status >= 500 or status == 429 or code in _TRANSIENT_CODES:
                return StorageUnavailable(
                    f"{where}: {doing}: {self.endpoint} answered {status} {code} "
                    f"after {self.retries} attempts"
                )
            return StorageError(f"{where}: {doing}: {code}: {message}")
        if isinstance(exc, _NETWORK_ERRORS):
            self._circuit.open(str(exc))
            attempts = (
                min(self.retries, TIMEOUT_ATTEMPTS) if isinstance(exc, _TIMEOUTS) else self.retries
            )
            return StorageUnavailable(
                f"{where}: {doing}: cannot reach {self.endpoint} after {attempts} "
                f"attempt{'s' if attempts > 1 else ''} ({exc})"
            )
        if isinstance(exc, bce.NoCredentialsError | bce.PartialCredentialsError):
            return StorageError(
                f"{where}: {doing}: no usable AWS credentials ({exc}); set them where boto3 "
                "looks (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws, an instance role)"
            )
        return StorageError(f"{where}: {doing}: {exc}")


def _code(exc: bce.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _message(exc: bce.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", ""))


def _retention(head: Mapping[str, Any]) -> ObjectRetention | None:
    """The retention a HEAD answer reports (None: none)."""
    mode, until = head.get("ObjectLockMode"), head.get("ObjectLockRetainUntilDate")
    if not mode or not isinstance(until, datetime):
        return None
    if until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    return ObjectRetention(str(mode).upper(), until.astimezone(UTC))


def _weaker(current: ObjectRetention, until: datetime, mode: str) -> str | None:
    """Why retaining until ``until`` in ``mode`` would shorten or weaken ``current`` (None:
    it would not)."""
    if until < current.until.replace(microsecond=0):
        return (
            f"it is retained until {current.until:%Y-%m-%dT%H:%M:%SZ} ({current.mode}), later "
            f"than {until:%Y-%m-%dT%H:%M:%SZ}"
        )
    if current.mode == "COMPLIANCE" and mode == "GOVERNANCE":
        return (
            "it is retained in COMPLIANCE mode, which cannot become GOVERNANCE (that could be "
            "bypassed)"
        )
    return None


__all__ = ["S3Location", "S3Storage", "describe_s3_url", "make_s3_client", "parse_s3_url"]
