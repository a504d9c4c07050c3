# ruff: noqa: F811 - ``world`` is the fixture of test_agreement_fixity, imported, not redefined
"""Gaps of issue 12's enforcement, closed: an agreement whose scope selects packages by a
metadata rule sets their fixity interval and their copies like a collection's agreement; the
schedule goes back to the interval in force without an agreement once it expires or a new
version no longer covers the collection; an ingest stores its first copies only where the
agreement allows, and is refused before anything is stored when nowhere is allowed; the
dashboard's "checked within interval" uses each copy's own interval. SQLite and PostgreSQL."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from preserve.catalogue.models import Copy, Package, StorageLocation
from preserve.catalogue.retention import PackageRetention
from preserve.errors import Conflict
from preserve.ingest import ingest
from preserve.services import admin, placement, replication, schedule
from preserve.services import agreements as service
from preserve.services.dashboard import compute_summary
from preserve.services.fixity import check_fixity
from tests.agreement_setup import T0, make_active, person, spec, walk_to_active
from tests.integration.test_agreement_fixity import CHECKED, World, world  # noqa: F401

#: the world's package is titled after its folder
RULE = [{"metadata": {"element": "title", "operator": "equals", "value": "delivery"}}]


def _second_package(w: World, tmp_path: Path, name: str = "other") -> str:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "b.bin").write_bytes(os.urandom(5_000))
    report = ingest(w.app, [folder], collection="photos", organisation="museum")
    assert not report.failures, report.failures
    package_id = report.results[0].package_id
    assert check_fixity(w.app, package_id=package_id, now=CHECKED).ok
    return package_id


def _next_check(w: World, package_id: str) -> datetime:
    with w.app.uow() as uow:
        [due] = uow.session.scalars(
            sa.select(Copy.next_check_at).where(Copy.package_id == package_id)
        ).all()
    assert due is not None
    return due if due.tzinfo else due.replace(tzinfo=UTC)


def test_a_metadata_rule_sets_the_interval_of_the_packages_it_selects(
    world: World, tmp_path: Path
) -> None:
    w = world
    other = _second_package(w, tmp_path)
    until = T0.date() + timedelta(days=400)
    make_active(
        w.app,
        spec(
            scope=RULE,
            effective_until=until.isoformat(),
            service_level={"fixity_interval_days": 30},
        ),
    )
    # linked by its rule when the agreement became active, and checked by its interval
    with w.app.uow() as uow:
        linked = uow.session.scalars(sa.select(PackageRetention.package_id)).all()
    assert linked == [w.package_id]
    assert w.next_checks() == [CHECKED + timedelta(days=30)]
    assert _next_check(w, other) == CHECKED + timedelta(days=365)  # not selected: the default

    # a check made now is next due after the rule's interval; the report counts it so
    later = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert check_fixity(w.app, package_id=w.package_id, now=later).ok
    assert w.next_checks() == [later + timedelta(days=30)]
    report = schedule.fixity_report(w.app, now=later + timedelta(days=31))
    assert report.total.overdue == 1  # the selected package's copy; the other is within 365

    # once it expires, the copies go back to the repository's interval
    service.advance(
        w.app, now=datetime.combine(until, datetime.min.time(), UTC) + timedelta(days=1)
    )
    assert service.show(w.app, "ENF-2026-001").state == "expired"
    assert w.next_checks() == [later + timedelta(days=365)]


def test_a_metadata_rule_asks_for_copies_of_the_packages_it_selects(
    world: World, tmp_path: Path
) -> None:
    w = world
    other = _second_package(w, tmp_path)
    admin.add_location(w.app, "second", (tmp_path / "second").as_uri())
    make_active(w.app, spec(scope=RULE, service_level={"min_copies": 2}))
    found = replication.shortfalls(w.app, collection="photos", organisation="museum")
    assert [(s.package_id, s.location, s.reason) for s in found] == [
        (w.package_id, "second", "agreement ENF-2026-001 v1")
    ]
    assert other not in {s.package_id for s in found}


def test_a_rule_agreement_refuses_a_replica_outside_its_regions(
    world: World, tmp_path: Path
) -> None:
    w = world
    admin.add_location(w.app, "abroad", (tmp_path / "abroad").as_uri(), region="US")
    make_active(w.app, spec(scope=RULE, service_level={"allowed_regions": ["BE"]}))
    with w.app.uow() as uow:
        package = uow.session.get(Package, w.package_id)
        assert package is not None
        abroad = uow.session.scalar(
            sa.select(StorageLocation).where(StorageLocation.name == "abroad")
        )
        req = placement.requirement_for(
            uow.session, package.collection_id, description=package.description
        )
        assert req is not None and req.refusal(abroad) is not None
        assert "outside the regions agreement ENF-2026-001 v1 allows (BE)" in str(
            req.refusal(abroad)
        )


def test_expiry_and_a_version_that_drops_the_collection_reschedule(world: World) -> None:
    w = world
    make_active(w.app, spec(service_level={"fixity_interval_days": 30}))
    assert w.next_checks() == [CHECKED + timedelta(days=30)]
    # v2 covers another collection only: photos falls back to the repository's interval
    admin.add_collection(w.app, "films", organisation="museum", locations=("default",))
    mia = person(w.app, "mia")
    v2 = service.amend(w.app, mia, "ENF-2026-001", "films only", now=T0)
    service.edit_draft(
        w.app,
        mia,
        v2.label.replace(" v", "/v"),
        {"scope": [{"collection": "museum/films"}]},
        now=T0,
    )
    walk_to_active(w.app, "ENF-2026-001/v2")
    assert service.show(w.app, "ENF-2026-001/v1").state == "superseded"
    assert w.next_checks() == [CHECKED + timedelta(days=365)]


def test_an_expired_collection_agreement_reschedules(world: World) -> None:
    w = world
    until = T0.date() + timedelta(days=10)
    make_active(
        w.app, spec(effective_until=until.isoformat(), service_level={"fixity_interval_days": 30})
    )
    assert w.next_checks() == [CHECKED + timedelta(days=30)]
    service.advance(w.app, now=T0 + timedelta(days=12))
    assert service.show(w.app, "ENF-2026-001").state == "expired"
    assert w.next_checks() == [CHECKED + timedelta(days=365)]


def _package_count(w: World) -> int:
    with w.app.uow() as uow:
        return int(uow.session.scalar(sa.select(sa.func.count()).select_from(Package)) or 0)


def _default_root(w: World) -> Path:
    from urllib.parse import unquote, urlparse

    with w.app.uow() as uow:
        url = uow.session.scalar(
            sa.select(StorageLocation.url).where(StorageLocation.name == "default")
        )
    assert url is not None and url.startswith("file:")
    return Path(unquote(urlparse(url).path))


def test_ingest_stores_only_where_the_agreement_allows(world: World, tmp_path: Path) -> None:
    w = world
    # 'default' has no region: outside an agreement that allows Belgium only
    make_active(w.app, spec(service_level={"allowed_regions": ["BE"]}))
    delivery = tmp_path / "new"
    delivery.mkdir()
    (delivery / "c.bin").write_bytes(os.urandom(3_000))
    before = _package_count(w)
    root = _default_root(w)
    stored_before = sorted(p.name for p in root.rglob("*"))
    with pytest.raises(Conflict) as refused:
        ingest(w.app, [delivery], collection="photos", organisation="museum")
    message = str(refused.value)
    assert message.startswith("ingest refused: agreement ENF-2026-001 v1 allows none of")
    assert "location default is in region unknown, outside the regions" in message
    assert _package_count(w) == before
    assert sorted(p.name for p in root.rglob("*")) == stored_before

    # a Belgian location added to the collection: the first copy goes there, not to default
    admin.add_location(w.app, "brussels", (tmp_path / "brussels").as_uri(), region="BE")
    admin.edit_collection(w.app, "photos", organisation="museum", add_locations=("brussels",))
    report = ingest(w.app, [delivery], collection="photos", organisation="museum")
    assert not report.failures, report.failures
    with w.app.uow() as uow:
        names = uow.session.scalars(
            sa.select(StorageLocation.name)
            .join(Copy, Copy.location_id == StorageLocation.id)
            .where(Copy.package_id == report.results[0].package_id)
        ).all()
    assert names == ["brussels"]


def test_the_dashboard_counts_copies_within_their_own_interval(world: World) -> None:
    w = world
    at = CHECKED + timedelta(days=31)
    [before] = compute_summary(w.app, None, now=at).locations
    assert before.checked_in_time == 1  # within the repository's 365 days
    make_active(w.app, spec(service_level={"fixity_interval_days": 30}))
    [after] = compute_summary(w.app, None, now=at).locations
    assert after.checked_in_time == 0  # not within the agreement's 30 days
