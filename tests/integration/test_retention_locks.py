"""S3 Object Lock applied by itself from retention and holds (issue 12, retention-agreements.md
5.1 E11), against the S3 test endpoint (a bucket with Object Lock enabled), on SQLite and
PostgreSQL: an ingest under an agreement with a minimum retention locks every object until the
due date; a stolen credential (a plain delete of the object's version) is refused; a hold sets
a legal hold and lifting it clears it, also for a package ingested later into a held
collection; a copy made later gets the lock; keep permanently gets a rolling retention renewed
by the daily task; a maximum bound locks nothing; a location that does not answer keeps the
wish pending with an alert, and the daily task applies it once, idempotently."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
import sqlalchemy as sa
from preserve.config.settings import Settings

from preserve import premis
from preserve.bootstrap import Application, bootstrap
from preserve.catalogue.models import Alert, Event, StorageLocation
from preserve.catalogue.object_locks import ObjectLockIntent
from preserve.catalogue.retention import PackageRetention
from preserve.ingest import ingest
from preserve.services import admin, holds, placement, replication, retention_locks, runner
from preserve.storage import open_location
from preserve.storage.base import ObjectLocked, ObjectRetention
from preserve.storage.s3 import S3Storage
from tests.agreement_setup import add_people, make_active, person, spec
from tests.s3server import _empty_and_remove_bucket

pytestmark = pytest.mark.s3


def _rule(action: str = "destroy", bound: str = "minimum", years: int = 10) -> dict[str, Any]:
    return {
        "action": action,
        "trigger": "ingest_date",
        "period": {"value": years if action != "keep_permanently" else 0, "unit": "years"},
        "bound": bound,
        "motivation": "Kept for the period of the selection list.",
        "legal_basis": "Selection list item 7",
    }


@pytest.fixture
def locked_url(s3_endpoint: str, s3_admin: Any) -> Iterator[str]:
    bucket = f"preserve-lock-{uuid.uuid4().hex[:16]}"
    s3_admin.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    yield f"s3://{bucket}/prefix?endpoint_url={s3_endpoint}&addressing_style=path"
    _empty_and_remove_bucket(s3_admin, bucket)


@dataclass
class World:
    app: Application
    tmp: Path
    locked_url: str
    s3_admin: Any

    def ingest(self, name: str, collection: str = "photos") -> str:
        delivery = self.tmp / name
        delivery.mkdir()
        (delivery / "a.bin").write_bytes(os.urandom(20_000))
        (delivery / "b.txt").write_text(f"{name}\n")
        report = ingest(self.app, [delivery], collection=collection, organisation="museum")
        assert not report.failures, report.failures
        return report.results[0].package_id

    def storage(self) -> S3Storage:
        storage = open_location(self.locked_url, retries=1, backoff=0.01)
        assert isinstance(storage, S3Storage)
        return storage

    def keys(self, package_id: str) -> list[str]:
        keys = sorted(k for k in self.storage().iter_keys() if f"/{package_id}/" in k)
        assert keys, f"no object of {package_id} on the locked location"
        return keys

    def intent(self, package_id: str) -> ObjectLockIntent | None:
        with self.app.uow() as uow:
            row = uow.session.get(ObjectLockIntent, package_id)
            if row is not None:
                uow.session.expunge(row)
            return row

    def lock_events(self, package_id: str) -> list[str]:
        with self.app.uow() as uow:
            return list(
                uow.session.scalars(
                    sa.select(Event.detail)
                    .where(
                        Event.package_id == package_id,
                        Event.event_type == premis.POLICY_ASSIGNMENT,
                        Event.detail.like("S3 Object Lock%"),
                    )
                    .order_by(Event.occurred_at, Event.id)
                )
            )


def _world(
    tmp_path: Path, database_url: str, locked_url: str, s3_admin: Any, rule: dict[str, Any]
) -> Iterator[World]:
    app = bootstrap(
        Settings.from_env(
            {
                "PRESERVE_HOME": str(tmp_path / "home"),
                "PRESERVE_DATABASE_URL": database_url,
                "PRESERVE_STORAGE_RETRIES": "1",
                "PRESERVE_STORAGE_BACKOFF": "0.01",
            }
        ),
        actor="archivist",
    )
    admin.initialise(app)
    add_people(app)
    admin.add_location(app, "vault", locked_url)
    for name in ("default", "vault"):
        placement.set_facts(app, name, site=name, region="BE", operator="own")
    admin.add_collection(app, "photos", organisation="museum", locations=("default", "vault"))
    admin.add_collection(app, "films", organisation="museum", locations=("default", "vault"))
    admin.add_collection(app, "prints", organisation="museum", locations=("default",))
    scope = [{"collection": "museum/photos"}, {"collection": "museum/prints"}]
    make_active(app, spec(retention=rule, scope=scope))
    yield World(app, tmp_path, locked_url, s3_admin)
    app.close()


@pytest.fixture
def world(tmp_path: Path, database_url: str, locked_url: str, s3_admin: Any) -> Iterator[World]:
    """museum/photos (under an agreement: destroy 10 years after ingest, minimum; two copies)
    and museum/films (no agreement), both on 'default' (a local folder) and 'vault' (a bucket
    with Object Lock); museum/prints under the agreement too, on 'default' only."""
    yield from _world(tmp_path, database_url, locked_url, s3_admin, _rule())


def _due(w: World, package_id: str) -> datetime:
    with w.app.uow() as uow:
        row = uow.session.get(PackageRetention, package_id)
        assert row is not None and row.retention_due is not None
        return datetime.combine(row.retention_due, time(0), tzinfo=UTC)


def test_ingest_under_a_minimum_retention_locks_every_object_until_the_due_date(
    world: World,
) -> None:
    w = world
    pid = w.ingest("harbour")
    until = _due(w, pid)
    assert until.date() > (datetime.now(UTC) + timedelta(days=9 * 365)).date()
    storage = w.storage()
    keys = w.keys(pid)
    assert any("/v1/data/" in k for k in keys)
    for key in keys:
        assert storage.get_retention(key) == ObjectRetention("COMPLIANCE", until), key
    intent = w.intent(pid)
    assert intent is not None and not intent.pending and intent.last_error is None
    assert intent.applied_until == until and intent.retain_until == until
    assert intent.retain_reason == "minimum retention of ENF-2026-001 v1"
    assert w.lock_events(pid) == [
        "S3 Object Lock retention COMPLIANCE until "
        f"{until:%Y-%m-%dT%H:%M:%SZ}: every object of the package's copies on vault"
    ]
    # a stolen credential: a plain S3 delete of the object's very version is refused
    bucket, full = w.locked_url.split("/")[2], "prefix/" + keys[0]
    version = w.s3_admin.list_object_versions(Bucket=bucket, Prefix=full)["Versions"][0]
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        w.s3_admin.delete_object(Bucket=bucket, Key=full, VersionId=version["VersionId"])
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ObjectLocked, match="COMPLIANCE"):
        storage.delete(keys[0])
    assert storage.exists(keys[0])
    # the daily task has nothing more to do: no second application, no new event
    run = retention_locks.sweep(w.app)
    assert run.ok and run.packages == ()
    assert len(w.lock_events(pid)) == 1


def test_a_package_outside_any_agreement_is_not_locked(world: World) -> None:
    pid = world.ingest("newsreel", collection="films")
    assert world.intent(pid) is None
    assert all(world.storage().get_retention(k) is None for k in world.keys(pid))
    assert world.lock_events(pid) == []


def test_a_hold_sets_a_legal_hold_and_lifting_it_clears_it(world: World) -> None:
    w = world
    pid = w.ingest("newsreel", collection="films")
    storage = w.storage()
    hold = holds.place(
        w.app,
        person(w.app, "mia"),
        kind="legal",
        title="Court case 2026/17",
        reason="seized",
        packages=[pid],
    )
    keys = w.keys(pid)
    assert all(storage.get_legal_hold(k) for k in keys)
    with pytest.raises(ObjectLocked, match="legal hold"):
        storage.delete(keys[0])
    intent = w.intent(pid)
    assert intent is not None and intent.legal_hold and intent.applied_hold is True
    assert not intent.pending
    holds.lift(w.app, person(w.app, "mia"), hold.id, reason="case dismissed")
    assert not any(storage.get_legal_hold(k) for k in w.keys(pid))
    intent = w.intent(pid)
    assert intent is not None and not intent.legal_hold and intent.applied_hold is False
    assert [e.split(":")[0] for e in w.lock_events(pid)] == [
        "S3 Object Lock legal hold on",
        "S3 Object Lock legal hold off",
    ]
    storage.delete(keys[0])  # no longer held, no retention: it may go


def test_a_collection_hold_covers_its_packages_and_later_ingests(world: World) -> None:
    w = world
    before = w.ingest("harbour")
    hold = holds.place(
        w.app,
        person(w.app, "mia"),
        kind="audit",
        title="Audit 2026",
        reason="annual audit",
        collections=["museum/photos"],
    )
    later = w.ingest("lighthouse")
    storage = w.storage()
    for pid in (before, later):
        assert all(storage.get_legal_hold(k) for k in w.keys(pid)), pid
        # the retention stays on the bag's objects: the hold adds to it (event files written
        # after the retention was applied carry the legal hold only)
        bag = [k for k in w.keys(pid) if "/v1/" in k]
        assert all(storage.get_retention(k) is not None for k in bag), pid
    holds.lift(w.app, person(w.app, "mia"), hold.id, reason="audit closed")
    for pid in (before, later):
        assert not any(storage.get_legal_hold(k) for k in w.keys(pid)), pid
        bag = [k for k in w.keys(pid) if "/v1/" in k]
        assert all(storage.get_retention(k) is not None for k in bag), pid


def test_an_unreachable_location_keeps_the_wish_and_the_daily_task_applies_it(
    world: World,
) -> None:
    w = world
    pid = w.ingest("newsreel", collection="films")
    dead = "s3://nowhere/prefix?endpoint_url=http://127.0.0.1:9&addressing_style=path"
    with w.app.uow() as uow:
        uow.session.execute(
            sa.update(StorageLocation).where(StorageLocation.name == "vault").values(url=dead)
        )
        uow.commit()
    holds.place(
        w.app,
        person(w.app, "mia"),
        kind="dispute",
        title="Ownership",
        reason="disputed",
        packages=[pid],
    )  # the hold itself is placed: the lock is what waits
    intent = w.intent(pid)
    assert intent is not None and intent.pending and intent.legal_hold
    assert intent.attempts == 1 and "could not be asked" in (intent.last_error or "")
    with w.app.uow() as uow:
        alerts = uow.session.execute(
            sa.select(Alert.subject, Alert.package_id).where(Alert.kind == "object_lock")
        ).all()
    assert alerts == [(f"S3 Object Lock not applied to package {pid}", pid)]
    assert not any(w.storage().get_legal_hold(k) for k in w.keys(pid))
    assert [i.package_id for i in retention_locks.intents(w.app, pending_only=True)] == [pid]
    # the location is back; the daily task applies the hold, once
    with w.app.uow() as uow:
        uow.session.execute(
            sa.update(StorageLocation)
            .where(StorageLocation.name == "vault")
            .values(url=w.locked_url)
        )
        uow.commit()
    run = retention_locks.sweep(w.app)
    assert run.ok and [p.package_id for p in run.packages] == [pid]
    assert run.packages[0].done == ("legal hold on",)
    assert all(w.storage().get_legal_hold(k) for k in w.keys(pid))
    intent = w.intent(pid)
    assert intent is not None and not intent.pending and intent.last_error is None
    again = retention_locks.sweep(w.app)
    assert again.packages == () and len(w.lock_events(pid)) == 1


def test_a_copy_made_later_gets_the_retention(world: World) -> None:
    w = world
    pid = w.ingest("print", collection="prints")
    intent = w.intent(pid)  # wanted, but no copy where a lock holds: nothing applied
    assert intent is not None and not intent.pending and w.lock_events(pid) == []
    queued = replication.queue_sync(w.app, publish=lambda _id: None)
    assert [q.location for q in queued] == ["vault"]
    assert [runner.run_job(w.app, q.job_id, "worker-1") for q in queued] == ["succeeded"]
    until = _due(w, pid)
    storage = w.storage()
    assert all(
        storage.get_retention(k) == ObjectRetention("COMPLIANCE", until) for k in w.keys(pid)
    )
    assert len(w.lock_events(pid)) == 1


@pytest.fixture
def permanent(tmp_path: Path, database_url: str, locked_url: str, s3_admin: Any) -> Iterator[World]:
    yield from _world(tmp_path, database_url, locked_url, s3_admin, _rule("keep_permanently"))


def test_keep_permanently_gets_a_rolling_retention_renewed_daily(permanent: World) -> None:
    w = permanent
    pid = w.ingest("harbour")
    now = datetime.now(UTC)
    first = datetime.combine((now + timedelta(days=365)).date(), time(0), tzinfo=UTC)
    storage = w.storage()
    assert all(
        storage.get_retention(k) == ObjectRetention("COMPLIANCE", first) for k in w.keys(pid)
    )
    # two hundred days on: more than 90 days left, nothing renewed
    assert retention_locks.sweep(w.app, now=now + timedelta(days=200)).packages == ()
    # three hundred days on: fewer than 90 left, a new year from then
    later = now + timedelta(days=300)
    run = retention_locks.sweep(w.app, now=later)
    renewed = datetime.combine((later + timedelta(days=365)).date(), time(0), tzinfo=UTC)
    assert [p.retain_until for p in run.packages] == [renewed]
    assert all(
        storage.get_retention(k) == ObjectRetention("COMPLIANCE", renewed) for k in w.keys(pid)
    )
    assert retention_locks.sweep(w.app, now=later).packages == ()  # idempotent


@pytest.fixture
def maximum(tmp_path: Path, database_url: str, locked_url: str, s3_admin: Any) -> Iterator[World]:
    yield from _world(
        tmp_path, database_url, locked_url, s3_admin, _rule("destroy", bound="maximum")
    )


def test_a_maximum_bound_locks_nothing(maximum: World) -> None:
    pid = maximum.ingest("harbour")
    assert maximum.intent(pid) is None
    assert all(maximum.storage().get_retention(k) is None for k in maximum.keys(pid))
