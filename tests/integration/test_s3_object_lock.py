"""S3 Object Lock (issue 12): the storage side of keeping a package from early deletion, against
the real S3 test endpoint (moto server over HTTP, tests/s3server.py): one bucket created with
Object Lock enabled and one without. Capability detection, retention set/read/extended and
refused when shorter or weaker, legal hold on and off, a locked version's deletion refused with
our own error, the requests carrying the checksum AWS requires, a local location saying it
cannot lock, and the service over a really ingested package."""

from __future__ import annotations

import base64
import os
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.session
import pytest
import sqlalchemy as sa
from preserve.config.settings import Settings

from preserve import premis
from preserve.bootstrap import Application, bootstrap
from preserve.catalogue.models import Event
from preserve.errors import InvalidInput, NotFound, ObjectNotFound
from preserve.ingest import ingest
from preserve.services import admin, object_lock
from preserve.storage import open_location
from preserve.storage.base import (
    ObjectLocked,
    ObjectLockUnsupported,
    ObjectRetention,
    RetentionNotExtended,
)
from preserve.storage.local import LocalStorage
from preserve.storage.s3 import S3Storage
from tests.s3server import _empty_and_remove_bucket

pytestmark = pytest.mark.s3


def _bucket_url(admin_client: Any, endpoint: str, *, lock: bool) -> Iterator[str]:
    bucket = f"preserve-lock-{uuid.uuid4().hex[:16]}" if lock else f"preserve-{uuid.uuid4().hex}"
    if lock:
        admin_client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    else:
        admin_client.create_bucket(Bucket=bucket)
    try:
        yield f"s3://{bucket}/prefix?endpoint_url={endpoint}&addressing_style=path"
    finally:
        # locked objects stay (moto keeps them until the server stops, as S3 would)
        _empty_and_remove_bucket(admin_client, bucket)


@pytest.fixture
def locked_url(s3_endpoint: str, s3_admin: Any) -> Iterator[str]:
    """A fresh bucket created with Object Lock enabled (hence versioned)."""
    yield from _bucket_url(s3_admin, s3_endpoint, lock=True)


@pytest.fixture
def plain_url(s3_endpoint: str, s3_admin: Any) -> Iterator[str]:
    """A fresh bucket without Object Lock."""
    yield from _bucket_url(s3_admin, s3_endpoint, lock=False)


def _storage(url: str) -> S3Storage:
    storage = open_location(url, retries=1, backoff=0.01)
    assert isinstance(storage, S3Storage)
    return storage


def _later(days: float) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0)


def _requests(storage: S3Storage) -> list[tuple[str, Any]]:
    """Every request the storage's client sends from now on: (operation, prepared request),
    observed with botocore's own ``before-send`` event (nothing is replaced)."""
    seen: list[tuple[str, Any]] = []

    def record(request: Any, event_name: str = "", **kwargs: Any) -> None:
        seen.append((event_name.rsplit(".", 1)[-1], request))

    storage._client.meta.events.register("before-send.s3", record)
    return seen


# ---------------------------------------------------------------------------- capability


def test_capability_is_asked_of_the_bucket_once(locked_url: str, plain_url: str) -> None:
    locked, plain = _storage(locked_url), _storage(plain_url)
    seen = _requests(locked)
    assert locked.supports_object_lock() is True
    assert locked.supports_object_lock() is True
    asked = [op for op, _ in seen if op == "GetObjectLockConfiguration"]
    assert asked == ["GetObjectLockConfiguration"]  # cached: Object Lock cannot be turned off
    assert plain.supports_object_lock() is False


def test_capability_of_a_missing_bucket_is_an_error(s3_endpoint: str) -> None:
    storage = _storage(
        f"s3://preserve-no-such-{uuid.uuid4().hex[:12]}/x?endpoint_url={s3_endpoint}"
        "&addressing_style=path"
    )
    with pytest.raises(Exception) as caught:
        storage.supports_object_lock()
    assert "does not exist" in str(caught.value)
    assert type(caught.value).__module__.startswith("preserve")


def test_a_local_location_cannot_lock(tmp_path: Path) -> None:
    storage = LocalStorage((tmp_path / "store").as_uri())
    storage.ensure()
    storage.put_bytes("a/b.txt", b"kept")
    assert storage.supports_object_lock() is False
    for call in (
        lambda: storage.set_retention("a/b.txt", _later(1)),
        lambda: storage.get_retention("a/b.txt"),
        lambda: storage.set_legal_hold("a/b.txt", True),
        lambda: storage.get_legal_hold("a/b.txt"),
    ):
        with pytest.raises(ObjectLockUnsupported, match="not supported by this location"):
            call()


def test_a_bucket_without_object_lock_refuses_every_lock(plain_url: str) -> None:
    storage = _storage(plain_url)
    storage.put_bytes("a.txt", b"kept")
    with pytest.raises(ObjectLockUnsupported, match="does not have S3 Object Lock enabled"):
        storage.set_retention("a.txt", _later(1))
    with pytest.raises(ObjectLockUnsupported):
        storage.set_legal_hold("a.txt", True)
    with pytest.raises(ObjectLockUnsupported):
        storage.get_retention("a.txt")
    # and deleting there works as it always did
    storage.delete("a.txt")
    assert not storage.exists("a.txt")


# ---------------------------------------------------------------------------- retention


def test_retention_is_set_read_and_only_extended(locked_url: str) -> None:
    storage = _storage(locked_url)
    storage.put_bytes("pkg/v1/data/a.txt", b"kept")
    key = "pkg/v1/data/a.txt"
    assert storage.get_retention(key) is None
    first = _later(2)
    assert storage.set_retention(key, first) is True
    assert storage.get_retention(key) == ObjectRetention("COMPLIANCE", first)
    assert storage.set_retention(key, first) is False  # already so: nothing sent
    later = _later(5)
    assert storage.set_retention(key, later, "COMPLIANCE") is True
    assert storage.get_retention(key) == ObjectRetention("COMPLIANCE", later)
    with pytest.raises(RetentionNotExtended, match="only ever extended") as caught:
        storage.set_retention(key, first)
    assert caught.value.current == ObjectRetention("COMPLIANCE", later)
    assert "later than" in str(caught.value) and key in str(caught.value)
    with pytest.raises(RetentionNotExtended, match="cannot become GOVERNANCE"):
        storage.set_retention(key, _later(10), "GOVERNANCE")
    assert storage.get_retention(key) == ObjectRetention("COMPLIANCE", later)  # unchanged


def test_governance_may_become_compliance(locked_url: str) -> None:
    storage = _storage(locked_url)
    storage.put_bytes("g.txt", b"kept")
    until = _later(3)
    assert storage.set_retention("g.txt", until, "governance") is True
    assert storage.get_retention("g.txt") == ObjectRetention("GOVERNANCE", until)
    assert storage.set_retention("g.txt", until, "COMPLIANCE") is True
    assert storage.get_retention("g.txt") == ObjectRetention("COMPLIANCE", until)


def test_bad_retention_requests(locked_url: str) -> None:
    storage = _storage(locked_url)
    storage.put_bytes("b.txt", b"kept")
    with pytest.raises(InvalidInput, match="timezone-aware"):
        storage.set_retention("b.txt", datetime(2040, 1, 1))
    with pytest.raises(InvalidInput, match="in the future"):
        storage.set_retention("b.txt", datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(InvalidInput, match="COMPLIANCE, GOVERNANCE"):
        storage.set_retention("b.txt", _later(1), "FOREVER")
    with pytest.raises(ObjectNotFound):
        storage.set_retention("no/such.txt", _later(1))
    with pytest.raises(ObjectNotFound):
        storage.set_legal_hold("no/such.txt", True)
    assert storage.get_retention("b.txt") is None


# ---------------------------------------------------------------------------- legal hold


def test_legal_hold_on_and_off(locked_url: str) -> None:
    storage = _storage(locked_url)
    storage.put_bytes("h.txt", b"held")
    assert storage.get_legal_hold("h.txt") is False
    storage.set_legal_hold("h.txt", True)
    assert storage.get_legal_hold("h.txt") is True
    with pytest.raises(ObjectLocked, match="under a legal hold"):
        storage.delete("h.txt")
    assert storage.exists("h.txt")
    storage.set_legal_hold("h.txt", False)
    assert storage.get_legal_hold("h.txt") is False
    storage.delete("h.txt")
    assert not storage.exists("h.txt")


# ---------------------------------------------------------------------------- deleting


def _versions(s3_admin: Any, url: str, key: str) -> list[dict[str, Any]]:
    bucket = url.split("/")[2]
    full = "prefix/" + key
    answer = s3_admin.list_object_versions(Bucket=bucket, Prefix=full)
    return [
        v for v in answer.get("Versions", []) + answer.get("DeleteMarkers", []) if v["Key"] == full
    ]


def test_deleting_a_retained_object_is_refused_with_our_error(
    locked_url: str, s3_admin: Any
) -> None:
    storage = _storage(locked_url)
    storage.put_bytes("r.txt", b"one")
    storage.put_bytes("r.txt", b"two")  # a second version of the key
    until = _later(4)
    storage.set_retention("r.txt", until)
    with pytest.raises(ObjectLocked) as caught:
        storage.delete("r.txt")
    message = str(caught.value)
    assert f"retained in COMPLIANCE mode until {until:%Y-%m-%dT%H:%M:%SZ}" in message
    assert "r.txt" in message and "Traceback" not in message
    assert caught.value.code == "object-locked"
    # the object reads as before: no delete marker hides it (the unlocked old version went)
    with storage.open("r.txt") as stream:
        assert stream.read() == b"two"
    assert [v.get("IsLatest") for v in _versions(s3_admin, locked_url, "r.txt")] == [True]


def test_deleting_an_unlocked_object_removes_every_version(locked_url: str, s3_admin: Any) -> None:
    storage = _storage(locked_url)
    storage.put_bytes("u.txt", b"one")
    storage.put_bytes("u.txt", b"two")
    assert len(_versions(s3_admin, locked_url, "u.txt")) == 2
    storage.delete("u.txt")
    assert not storage.exists("u.txt")
    assert _versions(s3_admin, locked_url, "u.txt") == []  # no delete marker, no old bytes
    storage.delete("u.txt")  # a missing key is not an error


def test_deleting_a_folder_keeps_and_names_the_locked_objects(locked_url: str) -> None:
    storage = _storage(locked_url)
    for name in ("a", "b", "c"):
        storage.put_bytes(f"pkg/v1/data/{name}.txt", name.encode())
    storage.set_legal_hold("pkg/v1/data/b.txt", True)
    with pytest.raises(ObjectLocked, match="1 object could not be deleted, 2 were") as caught:
        storage.delete_prefix("pkg/")
    assert "pkg/v1/data/b.txt" in str(caught.value)
    assert list(storage.iter_keys("pkg/")) == ["pkg/v1/data/b.txt"]


def test_a_move_cannot_take_a_locked_object_away(locked_url: str) -> None:
    """Quarantine moves a damaged object aside; a locked one stays where it is."""
    storage = _storage(locked_url)
    storage.put_bytes("m.txt", b"kept")
    storage.set_retention("m.txt", _later(1), "GOVERNANCE")
    with pytest.raises(ObjectLocked, match="GOVERNANCE"):
        storage.move("m.txt", "quarantine/m.txt")
    assert storage.exists("m.txt")


# ---------------------------------------------------------------------------- checksums


def test_lock_requests_carry_the_checksum_aws_requires(locked_url: str) -> None:
    """AWS refuses PutObjectRetention and PutObjectLegalHold without Content-MD5 or a flexible
    checksum (botocore's model: httpChecksum.requestChecksumRequired); moto does not check.
    Under request_checksum_calculation=when_required (our default) botocore must still add
    one: each request must carry x-amz-sdk-checksum-algorithm and a CRC32 of its very body."""
    model = botocore.session.get_session().get_service_model("s3")
    for operation in ("PutObjectRetention", "PutObjectLegalHold"):
        assert model.operation_model(operation).http_checksum["requestChecksumRequired"]
    storage = _storage(locked_url)
    assert storage.location.request_checksum_calculation == "when_required"
    storage.put_bytes("c.txt", b"kept")
    seen = _requests(storage)
    storage.set_retention("c.txt", _later(1))
    storage.set_legal_hold("c.txt", True)
    storage.set_legal_hold("c.txt", False)
    sent = [(op, r) for op, r in seen if op in ("PutObjectRetention", "PutObjectLegalHold")]
    assert [op for op, _ in sent] == ["PutObjectRetention", "PutObjectLegalHold"] * 1 + [
        "PutObjectLegalHold"
    ]
    for op, request in sent:
        headers = {k.lower(): v for k, v in request.headers.items()}
        body = request.body if isinstance(request.body, bytes) else request.body.encode()
        assert body, op
        algorithm = headers.get("x-amz-sdk-checksum-algorithm")
        if algorithm is not None:
            assert algorithm in (b"CRC32", "CRC32"), (op, algorithm)
            expected = base64.b64encode(zlib.crc32(body).to_bytes(4, "big"))
            got = headers["x-amz-checksum-crc32"]
            assert (got if isinstance(got, bytes) else got.encode()) == expected, op
        else:  # older botocore: Content-MD5
            assert "content-md5" in headers, (op, sorted(headers))


def test_uploads_to_a_bucket_with_default_retention(
    locked_url: str, s3_admin: Any, tmp_path: Path
) -> None:
    """A bucket whose owner set a default retention locks every new object; S3 then wants a
    checksum header on each upload (moto checks this one): a single PUT and every part of a
    multipart upload carry ours, and the objects come out retained."""
    bucket = locked_url.split("/")[2]
    s3_admin.put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}},
        },
    )
    mib = 1024 * 1024
    storage = open_location(locked_url, retries=1, multipart_threshold=5 * mib, part_size=5 * mib)
    assert isinstance(storage, S3Storage)
    seen = _requests(storage)
    small = storage.put_bytes("d/small.txt", b"kept")
    large_file = tmp_path / "large.bin"
    large_file.write_bytes(os.urandom(6 * 1024 * 1024))
    large = storage.put("d/large.bin", large_file)
    assert small.verified_by == "server-sha256" and large.part_size
    writes = [(op, r) for op, r in seen if op in ("PutObject", "UploadPart")]
    assert [op for op, _ in writes] == ["PutObject", "UploadPart", "UploadPart"]
    for op, request in writes:
        headers = {k.lower() for k in request.headers}
        assert "x-amz-sdk-checksum-algorithm" in headers or "content-md5" in headers, op
        assert any(h.startswith("x-amz-checksum-") for h in headers), (op, sorted(headers))
    # (moto gives a completed multipart upload no default retention; AWS does)
    retention = storage.get_retention("d/small.txt")
    assert retention is not None and retention.mode == "GOVERNANCE"
    with pytest.raises(ObjectLocked, match="GOVERNANCE"):
        storage.delete("d/small.txt")


# ---------------------------------------------------------------------------- the service


@dataclass
class World:
    app: Application
    package_id: str
    locked_url: str


def _settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings.from_env(
        {
            "PRESERVE_HOME": str(tmp_path / "home"),
            "PRESERVE_DATABASE_URL": database_url,
            "PRESERVE_STORAGE_RETRIES": "2",
            "PRESERVE_STORAGE_BACKOFF": "0.01",
            "PRESERVE_WORKERS": "2",
        }
    )


@pytest.fixture
def world(tmp_path: Path, database_url: str, locked_url: str) -> Iterator[World]:
    """Collection 'kept' stored on 'default' (a local folder) and 'locked' (a bucket with
    Object Lock); one package of two versions ingested into it."""
    app = bootstrap(_settings(tmp_path, database_url), actor="archivist")
    admin.initialise(app)
    admin.add_location(app, "locked", locked_url)
    admin.add_collection(app, "kept", locations=("default", "locked"))
    delivery = tmp_path / "delivery"
    delivery.mkdir()
    (delivery / "a.bin").write_bytes(os.urandom(50_000))
    (delivery / "b.txt").write_text("bee\n")
    report = ingest(app, [delivery], collection="kept")
    assert not report.failures, report.failures
    package_id = report.results[0].package_id
    (delivery / "c.txt").write_text("a file of version 2\n")
    again = ingest(app, [delivery], collection="kept", new_version_of=package_id)
    assert not again.failures, again.failures
    yield World(app, package_id, locked_url)
    app.close()


def _policy_events(w: World) -> list[Event]:
    with w.app.uow() as uow:
        rows = uow.session.scalars(
            sa.select(Event)
            .where(Event.package_id == w.package_id, Event.event_type == premis.POLICY_ASSIGNMENT)
            .order_by(Event.occurred_at)
        ).all()
        for r in rows:
            uow.session.expunge(r)
        return list(rows)


def test_retention_applied_to_every_object_of_a_package(world: World) -> None:
    w = world
    storage = _storage(w.locked_url)
    keys = sorted(storage.iter_keys())
    assert any("/v1/data/" in k for k in keys) and any("/v2/" in k for k in keys)
    until = _later(30)
    report = object_lock.apply_retention(w.app, w.package_id, until)
    by = {(c.location, c.version): c for c in report.copies}
    assert by[("default", 1)].status == by[("default", 2)].status == object_lock.NOT_SUPPORTED
    assert "a local folder" in by[("default", 1)].reason
    locked = [c for c in report.copies if c.location == "locked"]
    # both versions, and the package's event files: none before (ingest wrote its events into
    # the bags), then the one recording this application, locked right after it is written
    assert {c.version for c in locked} == {1, 2, None}
    own = next(c for c in locked if c.version is None)
    assert (own.applied, own.already, own.prefix) == (1, 0, f"{keys[0].split('/v1/')[0]}/events/")
    assert all(c.status == object_lock.APPLIED and not c.failures for c in locked)
    assert report.ok and report.outcome == "warning"  # one location cannot lock
    # every object the catalogue names on the location is retained (event files written
    # before this application included)
    locked_objects = sum(c.applied for c in locked)
    assert locked_objects >= len([k for k in keys if "/events/" not in k])
    for key in keys:
        assert storage.get_retention(key) == ObjectRetention("COMPLIANCE", until), key
    with pytest.raises(ObjectLocked):
        storage.delete(keys[0])
    events = _policy_events(w)
    assert len(events) == 1 and events[0].id == report.event_id
    assert events[0].outcome == "warning"
    assert "retention COMPLIANCE until" in events[0].detail and "locked" in events[0].detail
    assert "not supported by default" in events[0].outcome_detail
    # again, shorter: every object is kept longer already; nothing changes, nothing fails
    again = object_lock.apply_retention(w.app, w.package_id, _later(10))
    assert again.ok and sum(c.applied for c in again.copies if c.version is not None) == 0
    assert all(c.already > 0 for c in again.copies if c.location == "locked" and c.version)
    for key in keys:
        assert storage.get_retention(key) == ObjectRetention("COMPLIANCE", until), key
    # the event file written for the first application is now retained too
    # the first application's event file is kept longer already; this one's is locked now
    events_row = [c for c in again.copies if c.location == "locked" and c.version is None]
    assert len(events_row) == 1 and events_row[0].status == "applied"
    assert (events_row[0].applied, events_row[0].already) == (1, 1)
    event_keys = sorted(k for k in storage.iter_keys() if "/events/" in k)
    assert len(event_keys) == 2
    assert [storage.get_retention(k) is not None for k in event_keys] == [True, True]
    assert len(_policy_events(w)) == 2


def test_legal_hold_applied_and_lifted(world: World) -> None:
    w = world
    storage = _storage(w.locked_url)
    report = object_lock.apply_legal_hold(w.app, w.package_id, True)
    assert report.ok and report.what == "legal hold on"
    # the package's objects (the organisation's and collection's descriptors beside them,
    # written by the event journal, are not the package's)
    keys = sorted(k for k in storage.iter_keys() if f"/{w.package_id}/v" in k)
    assert len(keys) == sum(c.applied for c in report.copies if c.version is not None)
    event_keys = [k for k in storage.iter_keys() if "/events/" in k]
    assert event_keys and all(storage.get_legal_hold(k) for k in event_keys)  # its own record
    assert all(storage.get_legal_hold(k) for k in keys)
    with pytest.raises(ObjectLocked, match="legal hold"):
        storage.delete(keys[-1])
    lifted = object_lock.apply_legal_hold(w.app, w.package_id, False)
    assert lifted.ok and lifted.what == "legal hold off"
    assert not any(storage.get_legal_hold(k) for k in keys)
    assert [e.detail.split(":")[0] for e in _policy_events(w)] == [
        "S3 Object Lock legal hold on",
        "S3 Object Lock legal hold off",
    ]


def test_a_missing_object_is_a_failure_named_in_the_event(world: World) -> None:
    w = world
    storage = _storage(w.locked_url)
    victim = next(k for k in sorted(storage.iter_keys()) if "/v1/data/" in k)
    storage.delete(victim)
    report = object_lock.apply_legal_hold(w.app, w.package_id, True)
    assert not report.ok and report.outcome == "failure"
    failed = [c for c in report.copies if c.status == object_lock.FAILED]
    assert [(c.location, c.version) for c in failed] == [("locked", 1)]
    assert failed[0].failures[0].key == victim and "no such object" in failed[0].reason
    assert victim in str(report.as_json())
    event = _policy_events(w)[-1]
    assert event.outcome == "failure" and "locked v1: 1 object not locked" in (event.outcome_detail)


def test_service_bad_input(world: World) -> None:
    w = world
    with pytest.raises(NotFound, match="does not exist"):
        object_lock.apply_retention(w.app, "no-such-package", _later(1))
    with pytest.raises(NotFound, match="does not exist"):
        object_lock.apply_legal_hold(w.app, "no-such-package", True)
    with pytest.raises(InvalidInput, match="timezone-aware"):
        object_lock.apply_retention(w.app, w.package_id, datetime(2040, 1, 1))
    with pytest.raises(InvalidInput, match="in the future"):
        object_lock.apply_retention(w.app, w.package_id, datetime(2000, 1, 1, tzinfo=UTC))
    with pytest.raises(InvalidInput, match="retention mode"):
        object_lock.apply_retention(w.app, w.package_id, _later(1), mode="LEGAL")
    assert _policy_events(w) == []  # nothing recorded for a refused request


def test_location_capability_by_name(world: World) -> None:
    assert object_lock.location_supports_object_lock(world.app, "locked") is True
    assert object_lock.location_supports_object_lock(world.app, "default") is False
    with pytest.raises(NotFound, match="nowhere"):
        object_lock.location_supports_object_lock(world.app, "nowhere")


# ---------------------------------------------------------------------------- the command line


def test_locations_show_says_whether_a_location_can_lock(
    tmp_path: Path, locked_url: str, plain_url: str
) -> None:
    from tests.functional.cli import AWS_VARS, Repo

    repo = Repo(tmp_path / "home", f"sqlite:///{tmp_path / 'catalogue.db'}")
    repo.extra_env.update({k: os.environ[k] for k in AWS_VARS if k in os.environ})
    repo.run("init")
    repo.run("locations", "add", "vault", locked_url)
    repo.run("locations", "add", "plain", plain_url)
    shown = repo.run("locations", "show", "vault").stdout
    assert "object lock:  yes (the bucket has S3 Object Lock enabled)" in shown
    assert f"url:          {locked_url}" in shown
    assert (
        "object lock:  no (its bucket does not have S3 Object Lock enabled)"
        in repo.run("locations", "show", "plain").stdout
    )
    local = repo.json("locations", "show", "default")
    assert local["object_lock"] is False and local["provider"] == "local"
    assert local["object_lock_reason"] == "a local folder cannot lock objects"
    assert repo.json("locations", "show", "vault")["object_lock"] is True
    unknown = repo.run("locations", "show", "vualt", ok=False)
    assert unknown.exit_code == 3 and "Traceback" not in unknown.output
    assert "vualt" in unknown.stderr and "vault" in unknown.stderr  # did you mean


def test_repair_cannot_set_a_retained_object_aside(world: World) -> None:
    """Quarantine moves a damaged object aside (copy, then delete): a retained one cannot be
    deleted, and repair stops with our one-line error naming it and its retention, instead of
    a botocore traceback or a silent delete marker. (Writing the good bytes as a new version
    over it is left to repair; see the report.)"""
    from preserve.services.repair import repair_copy
    from tests.s3server import corrupt_object

    w = world
    until = _later(30)
    object_lock.apply_retention(w.app, w.package_id, until)
    storage = _storage(w.locked_url)
    victim = next(k for k in sorted(storage.iter_keys()) if "/v1/data/b.txt" in k)
    corrupt_object(w.locked_url, victim, lambda old: b"rot" + old[3:])
    with w.app.uow() as uow:
        loc = uow.locations.get_by_name("locked")
        assert loc is not None
        copy = uow.copies.get(w.package_id, loc.id, 1)
        assert copy is not None
        copy_id = copy.id
    with pytest.raises(ObjectLocked) as caught:
        repair_copy(w.app, copy_id)
    message = str(caught.value)
    assert victim in message
    assert f"retained in COMPLIANCE mode until {until:%Y-%m-%dT%H:%M:%SZ}" in message
    with storage.open(victim) as stream:
        assert stream.read().startswith(b"rot")  # still there, still readable
