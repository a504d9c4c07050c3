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
from preserve.catalogue.agreements import Agreement, AgreementParty, PartyRole
from preserve.catalogue.models import Copy, Organisation, StorageLocation
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
    disposal.propose(app, person(app, "root"), [w.short], kind="adhoc", reason="a duplicate")
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
    assert (museum.packages_owned, museum.packages_kept) == (4, 0)
    [artist] = [r for r in rep.organisations if r.name == "artist"]
    assert artist.packages == 0 and artist.placement_share is None
    assert (artist.packages_owned, artist.packages_kept) == (0, 0)
    assert (row.packages_owned, row.packages_kept) == (None, None)  # an agreement's row


def test_the_custodian_row_counts_the_packages_it_keeps(world: World, tmp_path: Path) -> None:
    """The archive service is the custodian of the agreement over the museum's three photos: its
    row covers those three (it owns none), with the agreement's figures; a package of its own
    collection adds to it, each package counted once."""
    w = world
    rep = compliance.report(w.app, now=NOW)
    [agreement] = [r for r in rep.agreements if r.name == f"{REF} v1"]
    [archive] = [r for r in rep.organisations if r.name == "archive"]
    assert (archive.packages, archive.packages_owned, archive.packages_kept) == (3, 0, 3)
    assert archive.agreements == (f"{REF} v1",)
    assert (archive.placement_assessed, archive.placement_met) == (3, 2)
    assert (archive.fixity_assessed, archive.fixity_within, archive.fixity_overdue_copies) == (
        3,
        2,
        1,
    )
    assert (archive.formats_assessed, archive.formats_accepted, archive.open_incidents) == (3, 2, 1)
    assert (archive.retention_due, archive.retention_errors) == ((0, 1, 1), 1)
    # the museum's disposal request is under the agreement the archive keeps the photos for
    assert (archive.pending_disposals, archive.packages_on_hold) == (1, 1)
    assert (archive.last_restore_test_outcome, archive.last_restore_test_package) == ("ok", w.ok)
    for figure in ("packages", "placement_met", "fixity_within", "formats_accepted"):
        assert getattr(archive, figure) == getattr(agreement, figure)
    # the custodian's staff see the same row
    cas = compliance.report(w.app, person(w.app, "cas"), organisation="archive", now=NOW)
    [mine] = cas.organisations
    assert (mine.packages, mine.packages_owned, mine.packages_kept) == (3, 0, 3)

    admin.add_collection(w.app, "records", organisation="archive", locations=("default",))
    folder = tmp_path / "records"
    folder.mkdir()
    (folder / "minutes.txt").write_bytes(b"minutes of the board\n" * 20)
    done = ingest(w.app, [folder], collection="records", organisation="archive")
    assert not done.failures, done.failures
    [archive] = compliance.report(w.app, organisation="archive", now=NOW).organisations
    assert (archive.packages, archive.packages_owned, archive.packages_kept) == (4, 1, 3)
    # a package both owned and kept counts once: the museum keeping its own photos too
    with w.app.uow() as uow:  # (an active agreement's parties are not edited: a direct row)
        s = uow.session
        museum_id = s.scalar(sa.select(Organisation.id).where(Organisation.slug == "museum"))
        party_id = s.scalar(
            sa.select(AgreementParty.id)
            .join(Agreement, Agreement.id == AgreementParty.agreement_id)
            .where(Agreement.reference == REF, AgreementParty.organisation_id == museum_id)
        )
        s.execute(sa.insert(PartyRole).values(party_id=party_id, role="custodian"))
        uow.commit()
    [museum] = compliance.report(w.app, organisation="museum", now=NOW).organisations
    assert (museum.packages, museum.packages_owned, museum.packages_kept) == (4, 4, 3)


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
    assert (rows[0]["packages_owned"], rows[0]["packages_kept"]) == ("", "")
    everything = compliance.report(w.app, now=NOW)
    lines = list(csv.DictReader(io.StringIO(compliance.to_csv(everything))))
    assert list(lines[0])[: len(compliance.CSV_COLUMNS) - 2] == list(
        compliance.CSV_COLUMNS[:-2]
    )  # the columns added at the end: the others stay where they were
    archive = next(r for r in lines if r["name"] == "archive")
    assert (archive["packages"], archive["packages_owned"], archive["packages_kept"]) == (
        "3",
        "0",
        "3",
    )
    [org] = [o for o in compliance.to_json(everything)["organisations"] if o["name"] == "archive"]
    assert (org["packages_owned"], org["packages_kept"]) == (0, 3)
    data = json.loads(json.dumps(compliance.to_json(rep)))
    [agreement] = data["agreements"]
    assert agreement["fixity_share"] == pytest.approx(2 / 3)
    assert agreement["retention_due"] == {"30d": 0, "90d": 1, "365d": 1}
    assert agreement["last_restore_test_outcome"] == "ok"
