"""Restore tests (issue 12, retention-agreements.md 5.1 E7): a package read back from one location
and validated as a bag in a temporary folder, recorded with a PREMIS event; the package not
tested for the longest time first (small ones first), each location in turn; a damaged copy
fails the test (and no other location stands in for it); due tests run at the agreement's
interval. SQLite and PostgreSQL; one from S3 (moto)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from preserve.config.settings import Settings

from preserve import premis
from preserve.bootstrap import Application, bootstrap
from preserve.catalogue.exits import RestoreTest
from preserve.catalogue.models import Copy, Event, StorageLocation
from preserve.errors import InvalidInput, NotFound
from preserve.ingest import ingest
from preserve.services import admin, restore_tests
from tests.agreement_setup import T0, add_people, make_active, spec
from tests.s3server import corrupt_object

REF = "ENF-2026-001"


@dataclass
class World:
    app: Application
    small: str
    large: str
    temp: Path

    def copy_of(self, package_id: str, location: str) -> tuple[str, str]:
        """(location url, key prefix) of the package's copy on ``location``."""
        with self.app.uow() as uow:
            url, prefix = uow.session.execute(
                sa.select(StorageLocation.url, Copy.key_prefix)
                .join(Copy, Copy.location_id == StorageLocation.id)
                .where(Copy.package_id == package_id, StorageLocation.name == location)
            ).one()
        return url, prefix

    def rows(self) -> list[RestoreTest]:
        with self.app.uow() as uow:
            found = list(uow.session.scalars(sa.select(RestoreTest).order_by(RestoreTest.id)))
            uow.session.expunge_all()
        return found


def _world(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, second: str = ""
) -> World:
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    app = bootstrap(
        Settings.from_env(
            {"PRESERVE_HOME": str(tmp_path / "home"), "PRESERVE_DATABASE_URL": database_url}
        ),
        actor="archivist",
    )
    admin.initialise(app)
    add_people(app)
    admin.add_location(app, "second", second or f"file://{tmp_path / 'second'}")
    admin.add_collection(app, "photos", organisation="museum", locations=("default", "second"))
    ids = []
    for name, size in (("large", 60_000), ("small", 2_000)):
        delivery = tmp_path / name
        delivery.mkdir()
        (delivery / f"{name}.bin").write_bytes(os.urandom(size))
        report = ingest(app, [delivery], collection="photos", organisation="museum")
        assert not report.failures, report.failures
        ids.append(report.results[0].package_id)
    make_active(app, spec(service_level={"restore_test_interval_days": 30}))
    return World(app, ids[1], ids[0], temp)


@pytest.fixture
def world(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    w = _world(tmp_path, database_url, monkeypatch)
    yield w
    w.app.close()


def _flip(data: bytes) -> bytes:
    return bytes([data[0] ^ 0x01]) + data[1:]


def test_restore_tests_take_the_least_recently_tested_package_and_each_location_in_turn(
    world: World,
) -> None:
    w = world
    first = restore_tests.run(w.app, agreement=REF, now=T0)
    assert (first.package_id, first.location, first.outcome) == (w.small, "default", "ok")
    assert first.agreement == f"{REF} v1" and first.files == 1 and first.bytes == 2_000
    second = restore_tests.run(w.app, agreement=REF, now=T0 + timedelta(hours=1))
    assert (second.package_id, second.location, second.outcome) == (w.large, "second", "ok")
    third = restore_tests.run(w.app, agreement=REF, now=T0 + timedelta(hours=2))
    assert (third.package_id, third.location) == (w.small, "default")
    # recorded, with a PREMIS validation event each, and the temporary folders are gone
    assert [r.outcome for r in w.rows()] == ["ok", "ok", "ok"]
    with w.app.uow() as uow:
        events = uow.session.execute(
            sa.select(Event.package_id, Event.outcome, Event.detail).where(
                Event.event_type == premis.VALIDATION, Event.detail.like("restore test%")
            )
        ).all()
    assert sorted(e.package_id for e in events) == sorted([w.small, w.small, w.large])
    assert all(e.outcome == "success" for e in events)
    assert any("from location second" in e.detail for e in events)
    assert list(w.temp.iterdir()) == []
    history = restore_tests.history(w.app, agreement=REF)
    assert [h.id for h in history] == [third.id, second.id, first.id]


def test_a_damaged_copy_fails_the_restore_test(world: World) -> None:
    w = world
    url, prefix = w.copy_of(w.small, "second")
    corrupt_object(url, prefix + "data/small.bin", _flip)
    failed = restore_tests.run(w.app, package=w.small, location="second", now=T0)
    assert failed.outcome == "failed" and not failed.ok
    [problem] = failed.problems
    assert "small.bin" in problem.message and "sha256 is" in problem.message
    # no other location stood in, and the damage is recorded on the copy as fixity found it
    with w.app.uow() as uow:
        status = uow.session.scalar(
            sa.select(Copy.last_outcome)
            .join(StorageLocation, StorageLocation.id == Copy.location_id)
            .where(Copy.package_id == w.small, StorageLocation.name == "second")
        )
        event = uow.session.execute(
            sa.select(Event.outcome, Event.outcome_detail).where(
                Event.event_type == premis.VALIDATION, Event.package_id == w.small
            )
        ).one()
    assert status == "mismatch"
    assert event.outcome == "failure" and "small.bin" in event.outcome_detail
    ok = restore_tests.run(w.app, package=w.small, location="default", now=T0)
    assert ok.outcome == "ok"
    assert [r.outcome for r in w.rows()] == ["failed", "ok"]
    assert list(w.temp.iterdir()) == []


def test_due_restore_tests_run_at_the_agreement_interval(world: World) -> None:
    w = world
    [done] = restore_tests.run_due(w.app, now=T0)
    assert done.agreement == f"{REF} v1" and done.result is not None and done.result.ok
    assert restore_tests.run_due(w.app, now=T0 + timedelta(days=29)) == []
    [again] = restore_tests.run_due(w.app, now=T0 + timedelta(days=30))
    assert again.result is not None and again.result.package_id == w.large
    assert len(w.rows()) == 2


def test_bad_input_records_nothing(world: World) -> None:
    w = world
    with pytest.raises(NotFound, match="nowhere"):
        restore_tests.run(w.app, package=w.small, location="nowhere")
    with pytest.raises(InvalidInput, match="give --agreement or --package, not both"):
        restore_tests.run(w.app, agreement=REF, package=w.small)
    with pytest.raises(NotFound):
        restore_tests.run(w.app, agreement="NOPE-1")
    with pytest.raises(NotFound):
        restore_tests.run(w.app, package="ffffffff")
    admin.add_location(w.app, "empty", f"file://{w.temp.parent / 'empty'}")
    with pytest.raises(InvalidInput, match="location empty holds no copy of package"):
        restore_tests.run(w.app, package=w.small, location="empty")
    assert w.rows() == []


def test_restore_test_from_s3(
    tmp_path: Path, s3_bucket_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = _world(tmp_path, f"sqlite:///{tmp_path / 'catalogue.db'}", monkeypatch, s3_bucket_url)
    try:
        ok = restore_tests.run(w.app, package=w.large, location="second", now=T0)
        assert ok.outcome == "ok" and ok.bytes == 60_000
        url, prefix = w.copy_of(w.large, "second")
        corrupt_object(url, prefix + "data/large.bin", lambda data: data[:-10])
        failed = restore_tests.run(w.app, package=w.large, location="second", now=T0)
        assert failed.outcome == "failed"
        assert "size is 59990 bytes, expected 60000" in failed.problems[0].message
    finally:
        w.app.close()
