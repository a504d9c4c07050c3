"""The agreement's fixity interval drives the schedule (issue 12, retention-agreements.md 5.1 E5):
each copy's interval is the shortest of its collection's, its agreement's and its location's;
activating the agreement, and later a new version of it, moves ``next_check_at`` of the copies
in scope; checks made afterwards and the schedule's report use it too. SQLite and PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from preserve.config.settings import Settings

from preserve.bootstrap import Application, bootstrap
from preserve.catalogue.fixity import AGREEMENT_IN_FORCE
from preserve.catalogue.models import Alert, Copy
from preserve.ingest import ingest
from preserve.services import admin, schedule
from preserve.services import agreements as service
from preserve.services.fixity import check_fixity
from tests.agreement_setup import T0, add_people, make_active, person, spec, walk_to_active

CHECKED = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@dataclass
class World:
    app: Application
    package_id: str

    def next_checks(self) -> list[datetime]:
        with self.app.uow() as uow:
            rows = uow.session.scalars(
                sa.select(Copy.next_check_at).where(Copy.package_id == self.package_id)
            ).all()
        assert all(r is not None for r in rows)
        return [r if r.tzinfo else r.replace(tzinfo=UTC) for r in rows if r is not None]


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    """museum/photos on 'default' with one package, checked once on CHECKED; the repository's
    interval is a year."""
    app = bootstrap(
        Settings.from_env(
            {
                "PRESERVE_HOME": str(tmp_path / "home"),
                "PRESERVE_DATABASE_URL": database_url,
                "PRESERVE_FIXITY_INTERVAL_DAYS": "365",
            }
        ),
        actor="archivist",
    )
    admin.initialise(app)
    add_people(app)
    admin.add_collection(app, "photos", organisation="museum", locations=("default",))
    delivery = tmp_path / "delivery"
    delivery.mkdir()
    (delivery / "a.bin").write_bytes(os.urandom(20_000))
    report = ingest(app, [delivery], collection="photos", organisation="museum")
    assert not report.failures, report.failures
    w = World(app, report.results[0].package_id)
    assert check_fixity(app, package_id=w.package_id, now=CHECKED).ok
    yield w
    app.close()


def test_the_agreement_interval_moves_the_schedule_and_a_new_version_again(
    world: World,
) -> None:
    w = world
    assert w.next_checks() == [CHECKED + timedelta(days=365)]
    make_active(w.app, spec(service_level={"fixity_interval_days": 30}))
    assert w.next_checks() == [CHECKED + timedelta(days=30)]

    # a check made now is next due after the agreement's interval
    later = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert check_fixity(w.app, package_id=w.package_id, now=later).ok
    assert w.next_checks() == [later + timedelta(days=30)]

    # the report counts a copy as within its interval by the agreement's
    report = schedule.fixity_report(w.app, now=later + timedelta(days=31))
    assert (report.total.overdue, report.total.within_interval) == (1, 0)

    # a new version with a shorter interval moves it again once activated, not before
    mia = person(w.app, "mia")
    v2 = service.amend(w.app, mia, "ENF-2026-001", "weekly checks", now=T0)
    level = dict(spec()["service_level"], fixity_interval_days=7)
    service.edit_draft(w.app, mia, v2.label.replace(" v", "/v"), {"service_level": level}, now=T0)
    assert w.next_checks() == [later + timedelta(days=30)]
    walk_to_active(w.app, "ENF-2026-001/v2")
    assert service.show(w.app, "ENF-2026-001/v1").state == "superseded"
    assert w.next_checks() == [later + timedelta(days=7)]

    # a third version with a longer interval: the superseded one no longer counts
    v3 = service.amend(w.app, mia, "ENF-2026-001", "monthly after all", now=T0)
    level = dict(spec()["service_level"], fixity_interval_days=60)
    service.edit_draft(w.app, mia, v3.label.replace(" v", "/v"), {"service_level": level}, now=T0)
    walk_to_active(w.app, "ENF-2026-001/v3")
    assert w.next_checks() == [later + timedelta(days=60)]


def test_the_shortest_of_collection_agreement_and_location(world: World) -> None:
    w = world
    make_active(w.app, spec(service_level={"fixity_interval_days": 30}))
    schedule.set_collection_schedule(w.app, "museum", "photos", interval_days=10)
    assert w.next_checks() == [CHECKED + timedelta(days=10)]
    schedule.set_collection_schedule(w.app, "museum", "photos", interval_days=None)
    assert w.next_checks() == [CHECKED + timedelta(days=30)]
    schedule.set_location_schedule(w.app, "default", interval_days=20)
    # the next check takes the location's interval into the minimum too
    again = CHECKED + timedelta(days=1)
    assert check_fixity(w.app, package_id=w.package_id, now=again).ok
    assert w.next_checks() == [again + timedelta(days=20)]


def test_a_suspended_agreement_still_sets_the_interval_and_the_scheduler_uses_it(
    world: World,
) -> None:
    w = world
    make_active(w.app, spec(service_level={"fixity_interval_days": 30}))
    service.suspend(w.app, person(w.app, "cas"), "ENF-2026-001", "audit", now=T0)
    assert check_fixity(w.app, package_id=w.package_id, now=CHECKED).ok
    assert w.next_checks() == [CHECKED + timedelta(days=30)]
    # the scheduler's tick, 31 days on, finds the copy overdue by the agreement's interval
    # (a backlog alert) and queues a check for it
    queued = schedule.dispatch_due(
        w.app, now=CHECKED + timedelta(days=31), publish=lambda _id: None
    )
    assert len(queued) == 1
    with w.app.uow() as uow:
        backlog = uow.session.scalars(sa.select(Alert.subject).where(Alert.kind == "backlog"))
        assert len(backlog.all()) == 1


def test_in_force_states_match_the_service() -> None:
    assert set(AGREEMENT_IN_FORCE) == set(service.IN_FORCE)
