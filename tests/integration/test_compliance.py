"""Compliance per agreement and per organisation (issue 12, retention-agreements.md 5.3): every
figure checked on a small world with known answers (a copy missing, a check overdue, a file
outside the accepted formats, an incident, a retention error, a hold, a pending disposal, a
restore test), on SQLite and PostgreSQL; CSV and JSON parsed."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from preserve.config.settings import Settings

from preserve.bootstrap import Application, bootstrap
from preserve.catalogue.models import Copy, StorageLocation
from preserve.catalogue.retention import PackageRetention
from preserve.errors import InvalidInput, NotFound
from preserve.ingest import ingest
from preserve.services import admin, compliance, disposal, holds, placement, restore_tests
from tests.agreement_setup import add_people, make_active, person, spec

REF = "ENF-2026-001"
NOW = datetime.now(UTC)


@dataclass
class World:
    app: Application
    #: ok: meets everything; short: a copy missing; odd: a file outside the formats, a check
    #: overdue, a retention error; loose: in a collection no agreement governs
    ok: str
    short: str
    odd: str
    loose: str


def _ingest(app: Application, folder: Path, files: dict[str, bytes], collection: str) -> str:
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    report = ingest(app, [folder], collection=collection, organisation="museum")
    assert not report.failures, report.failures
    return report.results[0].package_id


def _set_copy(app: Application, package_id: str, location: str, **values: object) -> None:
    with app.uow() as uow:
        loc = uow.session.scalar(
            sa.select(StorageLocation.id).where(StorageLocation.name == location)
        )
        uow.session.execute(
            sa.update(Copy)
            .where(Copy.package_id == package_id, Copy.location_id == loc)
            .values(**values)
        )
        uow.commit()


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    app = bootstrap(
        Settings.from_env(
            {"PRESERVE_HOME": str(tmp_path / "home"), "PRESERVE_DATABASE_URL": database_url}
        ),
        actor="archivist",
    )
    admin.initialise(app)
    add_people(app)
    admin.add_location(app, "second", f"file://{tmp_path / 'second'}")
    placement.set_facts(app, "default", site="Gent", region="BE")
    placement.set_facts(app, "second", site="Amsterdam", region="NL")
    admin.add_collection(app, "photos", organisation="museum", locations=("default", "second"))
    admin.add_collection(app, "films", organisation="museum", locations=("default",))
    make_active(
        app,
        spec(
            service_level={
                "min_copies": 2,
                "min_distinct_sites": 2,
                "allowed_regions": ["EU"],
                "fixity_interval_days": 30,
                "restore_test_interval_days": 90,
            },
            formats={"accepted": ["x-fmt/111"]},
            retention={
                "action": "review",
                "trigger": "ingest_date",
                "period": {"value": 60, "unit": "days"},
                "bound": "minimum",
                "motivation": "Looked at again after two months.",
                "legal_basis": "Deposit",
            },
        ),
    )
    text = {"notes.txt": b"plain text notes\n" * 20}
    w = World(
        app,
        ok=_ingest(app, tmp_path / "ok", text, "photos"),
        short=_ingest(app, tmp_path / "short", {"notes.txt": b"other notes\n" * 20}, "photos"),
        odd=_ingest(app, tmp_path / "odd", {"noise.bin": os.urandom(3_000)}, "photos"),
        loose=_ingest(app, tmp_path / "loose", {"notes.txt": b"a film's notes\n" * 20}, "films"),
    )
    recent = NOW - timedelta(days=5)
    for pid in (w.ok, w.short, w.odd, w.loose):
        for loc in ("default", "second"):
            _set_copy(app, pid, loc, last_checked_at=recent, last_outcome="ok")
    with app.uow() as uow:  # short lost its second copy
        loc = uow.session.scalar(
            sa.select(StorageLocation.id).where(StorageLocation.name == "second")
        )
        uow.session.execute(
            sa.delete(Copy).where(Copy.package_id == w.short, Copy.location_id == loc)
        )
        row = uow.session.get_one(PackageRetention, w.odd)
        row.state, row.error = "retention_error", "the trigger's date is missing"
        uow.commit()
    _set_copy(app, w.odd, "second", last_checked_at=NOW - timedelta(days=40))  # overdue
    _set_copy(app, w.short, "default", last_outcome="mismatch")  # an open incident
    holds.place(
        app, person(app, "mia"), kind="legal", title="Case 17", reason="seized", packages=[w.ok]
    )
    disposal.propose(app, person(app, "mia"), [w.short], kind="adhoc", reason="a duplicate")
    restore_tests.run(app, package=w.ok, location="default", now=NOW - timedelta(days=1))
    yield w
    app.close()


def test_the_figures_of_an_agreement_and_of_its_owner(world: World) -> None:
    w = world
    rep = compliance.report(w.app, now=NOW)
    assert rep.notes == ()
    [row] = [r for r in rep.agreements if r.name == f"{REF} v1"]
    assert row.packages == 3
    assert (row.placement_assessed, row.placement_met) == (3, 2)  # short lacks a copy
    assert (row.fixity_assessed, row.fixity_within, row.fixity_overdue_copies) == (3, 2, 1)
    assert row.open_incidents == 1
    assert (row.formats_assessed, row.formats_accepted) == (3, 2)  # odd's file is not text
    assert (row.last_restore_test_outcome, row.last_restore_test_package) == ("ok", w.ok)
    assert row.next_restore_test_due == NOW - timedelta(days=1) + timedelta(days=90)
    # ok is due for review in 60 days; short is proposed for disposal; odd is in error
    assert (row.retention_due_now, row.retention_due, row.retention_errors) == (0, (0, 1, 1), 1)
    assert (row.pending_disposals, row.packages_on_hold) == (1, 1)
    assert row.reviews_due == (0, 0, 0) and row.exit_state is None
    assert row.placement_share == pytest.approx(2 / 3)

    [museum] = [r for r in rep.organisations if r.name == "museum"]
    assert museum.packages == 4  # with the film no agreement governs
    assert (museum.placement_assessed, museum.placement_met) == (3, 2)
    assert (museum.fixity_assessed, museum.fixity_within) == (4, 3)
    assert (museum.formats_assessed, museum.formats_accepted) == (3, 2)
    assert museum.agreements == (f"{REF} v1",)
    assert (museum.pending_disposals, museum.packages_on_hold, museum.retention_errors) == (1, 1, 1)
    [artist] = [r for r in rep.organisations if r.name == "artist"]
    assert artist.packages == 0 and artist.placement_share is None


def test_one_agreement_one_organisation_and_who_may_see(world: World) -> None:
    w = world
    one = compliance.report(w.app, agreement=REF, now=NOW)
    assert one.scope == f"agreement {REF} v1" and [r.name for r in one.rows] == [f"{REF} v1"]
    org = compliance.report(w.app, person(w.app, "mia"), organisation="museum", now=NOW)
    assert [(r.kind, r.name) for r in org.rows] == [
        ("agreement", f"{REF} v1"),
        ("organisation", "museum"),
    ]
    # a person sees the organisations they belong to
    arno = compliance.report(w.app, person(w.app, "arno"), now=NOW)
    assert [r.name for r in arno.organisations] == ["artist"]
    assert [r.name for r in arno.agreements] == [f"{REF} v1"]  # the artist is a party
    with pytest.raises(NotFound):
        compliance.report(w.app, person(w.app, "arno"), organisation="museum", now=NOW)
    with pytest.raises(NotFound):
        compliance.report(w.app, agreement="NOPE-1", now=NOW)
    with pytest.raises(InvalidInput, match="not both"):
        compliance.report(w.app, agreement=REF, organisation="museum", now=NOW)


def test_csv_and_json(world: World) -> None:
    w = world
    rep = compliance.report(w.app, agreement=REF, now=NOW)
    rows = list(csv.DictReader(io.StringIO(compliance.to_csv(rep))))
    assert len(rows) == 1
    assert rows[0]["name"] == f"{REF} v1" and rows[0]["placement_pct"] == "66.7"
    assert (rows[0]["formats_accepted"], rows[0]["retention_due_90d"]) == ("2", "1")
    assert rows[0]["pending_disposals"] == "1" and rows[0]["exit_state"] == ""
    data = json.loads(json.dumps(compliance.to_json(rep)))
    [agreement] = data["agreements"]
    assert agreement["fixity_share"] == pytest.approx(2 / 3)
    assert agreement["retention_due"] == {"30d": 0, "90d": 1, "365d": 1}
    assert agreement["last_restore_test_outcome"] == "ok"
