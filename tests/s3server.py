"""pytest plugin: a real S3 HTTP endpoint for the tests, and storage URLs over every backend.

Loaded with ``pytest_plugins = ["tests.s3server"]``. Fixtures:

* ``s3_endpoint`` (session): ``http://127.0.0.1:<port>`` of a moto server started in this process
  on a free loopback port, with throw-away AWS credentials in the environment for the session.
  ``PRESERVE_TEST_S3_ENDPOINT_URL`` points the suite at another server instead (LocalStack, MinIO;
  credentials then come from the environment as usual).
* ``s3_admin`` (session): a plain boto3 client for that endpoint.
* ``s3_bucket_url``: a fresh, empty bucket as ``s3://<bucket>/prefix?endpoint_url=...``.
* ``storage_url``: parametrised over ``local`` and ``s3``, so one test runs on both backends.

:func:`corrupt_object` changes stored bytes behind a backend's back (bit rot, truncation, loss),
for the tests that prove damage is detected.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from preserve.storage.keys import validate_key

EXTERNAL_ENDPOINT_VAR = "PRESERVE_TEST_S3_ENDPOINT_URL"
TEST_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # moto accepts anything
    "AWS_DEFAULT_REGION": "us-east-1",
}
# settings from a developer's own AWS setup that must not leak into the tests
_ISOLATE = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_REQUEST_CHECKSUM_CALCULATION",
    "AWS_RESPONSE_CHECKSUM_VALIDATION",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)

_in_process_endpoints: set[str] = set()  # endpoints served by moto inside this process


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The URL of a live S3 endpoint (moto server in this process unless configured otherwise)."""
    external = os.environ.get(EXTERNAL_ENDPOINT_VAR)
    if external:
        yield external.rstrip("/")
        return
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        message = "moto[server] is not installed: the S3 tests need it (pip install -e '.[dev]')"
        if os.environ.get("PRESERVE_TEST_REQUIRE_SERVICES"):
            pytest.fail(message)
        pytest.skip(message)

    env = pytest.MonkeyPatch()
    for name in _ISOLATE:
        env.delenv(name, raising=False)
    for name, value in TEST_CREDENTIALS.items():
        env.setenv(name, value)
    # nothing from ~/.aws either, and no instance-metadata lookups
    env.setenv("AWS_CONFIG_FILE", os.devnull)
    env.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    env.setenv("AWS_EC2_METADATA_DISABLED", "true")
    werkzeug_log = logging.getLogger("werkzeug")
    level = werkzeug_log.level
    werkzeug_log.setLevel(logging.ERROR)  # one INFO line per request otherwise

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    _in_process_endpoints.add(endpoint)
    try:
        yield endpoint
    finally:
        _in_process_endpoints.discard(endpoint)
        server.stop()
        werkzeug_log.setLevel(level)
        env.undo()


@pytest.fixture(scope="session")
def s3_admin(s3_endpoint: str) -> Iterator[Any]:
    """A plain boto3 client for the test endpoint, to set up and inspect buckets directly."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3", endpoint_url=s3_endpoint, config=Config(s3={"addressing_style": "path"})
    )
    yield client
    client.close()


@pytest.fixture
def s3_bucket_url(s3_endpoint: str, s3_admin: Any) -> Iterator[str]:
    """A fresh bucket, as ``s3://<bucket>/prefix?endpoint_url=...``; removed afterwards."""
    bucket = f"preserve-test-{uuid.uuid4().hex[:20]}"
    s3_admin.create_bucket(Bucket=bucket)
    try:
        yield f"s3://{bucket}/prefix?endpoint_url={s3_endpoint}&addressing_style=path"
    finally:
        _empty_and_remove_bucket(s3_admin, bucket)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A ready, empty location URL: ``file://`` under tmp_path, or a fresh S3 bucket."""
    if request.param == "local":
        root = tmp_path / "store"
        root.mkdir()
        return root.as_uri()
    return str(request.getfixturevalue("s3_bucket_url"))


def corrupt_object(url: str, key: str, mutate: Callable[[bytes], bytes | None]) -> None:
    """Replace the bytes stored under ``key`` at ``url`` with ``mutate(old)`` behind the backend.

    ``mutate`` returning None deletes the object. The change bypasses the storage code and keeps
    what the location reports about the object: a local file keeps its modification time, and an
    S3 object keeps its ETag, stored checksums and modification time (moto's in-process state is
    changed directly), the way bit rot on a disk would. Raises LookupError when there is no such
    object. S3 needs the moto server of :func:`s3_endpoint` (the test is skipped otherwise).
    """
    validate_key(key)
    scheme = urlsplit(url).scheme.lower()
    if scheme == "file":
        _corrupt_file(url, key, mutate)
    elif scheme == "s3":
        _corrupt_moto(url, key, mutate)
    else:
        raise ValueError(f"corrupt_object: unsupported location URL {url!r}")


def _corrupt_file(url: str, key: str, mutate: Callable[[bytes], bytes | None]) -> None:
    from preserve.storage.local import parse_file_url

    path = Path(parse_file_url(url), *key.split("/"))
    if path.is_symlink() or not path.is_file():
        raise LookupError(f"corrupt_object: no object {key!r} at {url}")
    before = path.stat()
    new = mutate(path.read_bytes())
    if new is None:
        path.unlink()
        return
    os.chmod(path, before.st_mode | 0o200)  # in case the file was made read-only
    with open(path, "r+b") as f:  # the same inode, rewritten in place
        f.write(new)
        f.truncate()
        f.flush()
        os.fsync(f.fileno())
    os.chmod(path, before.st_mode)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def _corrupt_moto(url: str, key: str, mutate: Callable[[bytes], bytes | None]) -> None:
    from preserve.storage.s3 import parse_s3_url

    loc = parse_s3_url(url)
    if loc.endpoint_url not in _in_process_endpoints:
        pytest.skip(f"corrupt_object needs the in-process moto server, not {loc.endpoint_url}")
    full = loc.prefix + key
    backend, fake_key = _moto_key(loc.bucket, full)
    if fake_key is None:
        raise LookupError(f"corrupt_object: no object {key!r} at {url}")
    fake_key.etag  # noqa: B018 - computes and keeps the ETag of the original bytes
    new = mutate(fake_key.value)
    if new is None:
        backend.delete_object(loc.bucket, full)
        return
    with fake_key.lock:  # the same lock moto's own reads take
        fake_key.value = new  # keeps ETag, checksum and last_modified: only the bytes change


def _moto_key(bucket: str, full: str) -> tuple[Any, Any]:
    """The moto backend holding ``bucket`` and the current version of ``full`` (or None)."""
    from moto.s3.models import FakeKey, s3_backends

    for account in list(dict.values(s3_backends)):
        for backend in list(dict.values(account)):
            if bucket in backend.buckets:
                fake_key = backend.buckets[bucket].keys.get(full)
                return backend, fake_key if isinstance(fake_key, FakeKey) else None
    raise LookupError(f"corrupt_object: bucket {bucket!r} is not on the in-process moto server")


def _empty_and_remove_bucket(client: Any, bucket: str) -> None:
    """Delete every version, delete marker and unfinished upload, then the bucket."""
    try:
        for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
            doomed = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            if doomed:
                client.delete_objects(Bucket=bucket, Delete={"Objects": doomed, "Quiet": True})
        for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
            for upload in page.get("Uploads", []):
                client.abort_multipart_upload(
                    Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                )
        client.delete_bucket(Bucket=bucket)
    except Exception as exc:  # cleanup must not hide the test's own outcome
        logging.getLogger(__name__).warning("could not remove test bucket %s: %s", bucket, exc)
