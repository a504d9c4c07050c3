"""The version in force governs, and a disposal runs only when its packages are due (issue 12,
trial 12 findings 2 and 3; retention-agreements.md 4.1 "amending -> active: new version
becomes active, old one superseded", 4.2): an amendment's activation moves the packages of the
version it supersedes onto it with its rule (a policy assignment event each) unless its scope
no longer covers them (flagged for review, never deleted); a disposal and its declaration cite
the version and rule each package is under; a package an amendment moved since its proposal,
or whose minimum retention has not run out on the real day of execution, is not disposed of
(listed with the reason, its retention back); on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from preserve.catalogue.models import Event, Package
from preserve.errors import Conflict, NotFound
from preserve.premis import DELETION, POLICY_ASSIGNMENT
from preserve.services import admin, agreements, disposal, retention
from tests.agreement_setup import T0, walk_to_active
from tests.integration.disposal_world import DESTROY, LATER, World, make_world

REF = "ENF-2026-001"
#: v2's rule: three years instead of one
THREE_YEARS = dict(DESTROY, period={"value": 3, "unit": "years"})


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    w = make_world(tmp_path, database_url)
    yield w
    w.app.close()


def _amend(w: World, **changes: object) -> None:
    """v2 with ``changes``, agreed, signed and activated by every party (it supersedes v1)."""
    agreements.amend(w.app, w.who("mia"), REF, "a longer retention", now=T0)
    agreements.edit_draft(w.app, w.who("mia"), REF, changes, now=T0)
    walk_to_active(w.app, f"{REF}/v2", at=T0)


def _status(w: World, package_id: str) -> retention.RetentionStatus:
    with w.app.uow() as uow:
        found = retention.status_of(uow.session, package_id)
    assert found is not None
    return found


def _events(w: World, package_id: str, event_type: str) -> list[str]:
    with w.app.uow() as uow:
        return list(
            uow.session.scalars(
                sa.select(Event.detail)
                .where(Event.package_id == package_id, Event.event_type == event_type)
                .order_by(Event.occurred_at)
            )
        )


def _ingested_on(w: World, package_id: str) -> date:
    with w.app.uow() as uow:
        return uow.session.get_one(Package, package_id).created_at.astimezone(UTC).date()


def test_an_amendment_takes_over_the_packages_and_the_disposal_cites_it(world: World) -> None:
    w = world
    pid = w.ingest("harbour")
    day = _ingested_on(w, pid)
    assert _status(w, pid).agreement == f"{REF} v1"

    _amend(w, retention=THREE_YEARS)
    assert agreements.show(w.app, f"{REF}/v1").state == "superseded"
    s = _status(w, pid)
    assert (s.agreement, s.agreement_state, s.superseded_by) == (f"{REF} v2", "active", None)
    assert s.rule == "destroy 3 years after ingest_date (minimum)"
    assert (s.state, s.retention_due) == ("in_retention", date(day.year + 3, day.month, day.day))
    [assigned] = _events(w, pid, POLICY_ASSIGNMENT)
    assert f"agreement {REF} v1 superseded by {REF} v2" in assigned
    assert "destroy 3 years after ingest_date" in assigned
    # recompute keeps it there
    [again] = retention.recompute(w.app)
    assert (again.agreement, again.retention_due) == (f"{REF} v2", s.retention_due)

    # due by v2's rule; the disposal and its declaration cite v2's rule, which made it due
    w.due()
    [info] = disposal.propose_due(w.app, w.who("cas"), now=LATER)
    assert info.agreement == f"{REF} v2" and info.rule["period_value"] == 3
    w.approve_all(info.id)
    done = disposal.execute(w.app, w.who("cas"), info.id, now=LATER)
    assert done.state == "executed"
    text = disposal.declaration(w.app, w.who("cas"), info.id).text
    assert f"Agreement: {REF} version 2" in text and "3 years" in text
    [deleted] = _events(w, pid, DELETION)
    assert f"agreement {REF} v2, rule destroy 3 years after ingest_date" in deleted


def test_a_package_the_new_version_no_longer_covers_is_flagged_for_review(
    world: World,
) -> None:
    w = world
    admin.add_collection(w.app, "films", organisation="museum", locations=("default",))
    pid = w.ingest("harbour")
    _amend(w, scope=[{"collection": "museum/films"}])
    s = _status(w, pid)
    # it keeps its link to v1, which is said to be superseded; never deleted
    assert (s.agreement, s.agreement_state, s.superseded_by) == (
        f"{REF} v1",
        "superseded",
        f"{REF} v2",
    )
    assert s.state == "under_review" and w.status(pid) == "stored"
    [assigned] = _events(w, pid, POLICY_ASSIGNMENT)
    assert "whose scope no longer covers this package: flagged for review" in assigned
    # recompute and the daily task leave it so (a person decides), with no second event
    retention.recompute(w.app)
    retention.mark_due(w.app, now=LATER)
    assert _status(w, pid).state == "under_review"
    assert len(_events(w, pid, POLICY_ASSIGNMENT)) == 1
    with pytest.raises(NotFound, match="no package is due for disposal"):
        disposal.propose_due(w.app, w.who("cas"), now=LATER)


def test_a_package_amended_after_its_proposal_is_not_disposed_of(world: World) -> None:
    w = world
    pid = w.ingest("harbour")
    w.due()
    [info] = disposal.propose_due(w.app, w.who("cas"), now=LATER)
    assert info.agreement == f"{REF} v1"
    w.approve_all(info.id)
    _amend(w, retention=THREE_YEARS)  # moves it onto v2 while it waits in the request
    assert (_status(w, pid).agreement, w.retention_state(pid)) == (
        f"{REF} v2",
        "disposal_approved",
    )
    done = disposal.execute(w.app, w.who("cas"), info.id, now=LATER)
    [item] = done.items
    assert done.state == "execution_failed" and item.state == "failed"
    assert item.failure is not None
    assert f"it is now under {REF} v2, not {REF} v1" in item.failure
    assert w.status(pid) == "stored" and w.package_keys("default", pid)
    # its retention is back, computed under v2 on the day of execution (2099: due)
    s = _status(w, pid)
    assert (s.state, s.rule) == ("due", "destroy 3 years after ingest_date (minimum)")


def test_execution_checks_the_real_day_against_a_minimum_retention(world: World) -> None:
    w = world
    pid = w.ingest("harbour")
    day = _ingested_on(w, pid)
    due_on = date(day.year + 1, day.month, day.day)
    retention.mark_due(w.app, now=LATER)  # a rehearsal: marked due as of 2099
    assert w.retention_state(pid) == "due"
    # a rehearsal may propose (and approve) ...
    [info] = disposal.propose_due(w.app, w.who("cas"))
    w.approve_all(info.id)
    # ... but on the real day the package is not due yet: not disposed of, state back
    done = disposal.execute(w.app, w.who("cas"), info.id)
    [item] = done.items
    assert (done.state, item.state) == ("execution_failed", "failed")
    assert item.failure is not None
    assert item.failure.startswith(f"due on {due_on.isoformat()}, not yet")
    assert w.status(pid) == "stored" and w.package_keys("default", pid)
    s = _status(w, pid)
    assert (s.state, s.retention_due) == ("in_retention", due_on)
    # proposed by name, it is refused with the same reason
    retention.mark_due(w.app, now=LATER)
    with w.app.uow() as uow:  # its trigger moved later since: recomputed dates count
        p = uow.session.get_one(Package, pid)
        p.created_at = datetime(2200, 1, 1, tzinfo=UTC)
        uow.commit()
    with pytest.raises(Conflict, match=r"is not due for disposal: due on 2201-01-01, not yet"):
        disposal.propose(w.app, w.who("mia"), [pid], kind="scheduled")
    with pytest.raises(NotFound, match=r"1 marked due are not due .*due on 2201-01-01, not yet"):
        disposal.propose_due(w.app, w.who("cas"), now=LATER)
    assert _status(w, pid).state == "in_retention"
