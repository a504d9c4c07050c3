"""Retention under agreements (issue 12, retention-agreements.md 4.2 and 5.1 E10): the start and
due dates from each trigger kind (ingest date, creation date, a metadata field, an event), the
retention_error of a missing or unparsable trigger value, linking when an agreement is activated
over packages already in its collection, mark_due with an injected ``now`` (in_retention -> due,
due -> under_review for the action review, idempotent), keep permanently, an expired agreement's
packages flagged for review and never deleted, the ingest gate's error; on SQLite and
PostgreSQL."""

# ruff: noqa: F811 - ``app`` is the fixture of test_agreements_model, imported, not redefined
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from preserve.bootstrap import Application
from preserve.catalogue.models import Agent, Collection, Event, Package
from preserve.catalogue.retention import PackageRetention
from preserve.errors import Conflict, InvalidInput, NotFound
from preserve.services import agreements as service
from preserve.services import retention
from tests.integration.test_agreements_model import (  # noqa: F401 (the app fixture)
    T0,
    app,
    full_spec,
    person,
    to_active,
)

#: to_active activates on this day
ACTIVATED = datetime(2027, 1, 1, 9, tzinfo=UTC)


def _rule(trigger: str, action: str = "destroy", **period: Any) -> dict[str, Any]:
    return {
        "action": action,
        "trigger": trigger,
        "period": period or {"value": 10, "unit": "years"},
        "bound": "minimum",
        "motivation": "Kept ten years, then destroyed.",
        "legal_basis": "Selection list item 7",
    }


def _package(
    app: Application,
    name: str,
    description: dict[str, Any] | None = None,
    *,
    collection: str = "photos",
    created: datetime = datetime(2026, 3, 4, 12, tzinfo=UTC),
    events: tuple[tuple[str, datetime], ...] = (),
) -> str:
    """A stored package row in museum/<collection> (the catalogue as an ingest leaves it)."""
    with app.uow() as uow:
        s = uow.session
        coll = s.scalars(sa.select(Collection).where(Collection.slug == collection)).one()
        p = Package(
            collection_id=coll.id,
            title=name,
            description={"title": [name], **(description or {})},
            status="stored",
            created_at=created,
            payload_fingerprint=name.ljust(64, "0")[:64],
        )
        s.add(p)
        s.flush()
        if events:
            agent = s.scalars(sa.select(Agent).where(Agent.name == "tester")).first()
            if agent is None:
                agent = Agent(name="tester", agent_type="person")
                s.add(agent)
                s.flush()
            for event_type, at in events:
                s.add(
                    Event(
                        event_type=event_type,
                        occurred_at=at,
                        outcome="success",
                        agent_id=agent.id,
                        package_id=p.id,
                    )
                )
        pid = p.id
        uow.commit()
    return pid


def _status(app: Application, package_id: str) -> retention.RetentionStatus:
    with app.uow() as uow:
        status = retention.status_of(uow.session, package_id)
    assert status is not None
    return status


def _active(app: Application, rule: dict[str, Any], **changes: Any) -> None:
    service.create_draft(app, person(app, "mia"), full_spec(retention=rule, **changes), now=T0)
    to_active(app)


@pytest.mark.parametrize(
    ("trigger", "description", "events", "start"),
    [
        ("ingest_date", {}, (), date(2026, 3, 4)),
        ("creation_date", {"dcterms:created": ["1998-06-30"]}, (), date(1998, 6, 30)),
        ("creation_date", {"date": ["2001-02-03T10:00:00Z"]}, (), date(2001, 2, 3)),
        ("metadata_field:dateAccepted", {"dcterms:dateAccepted": ["2010-01-31"]}, (), None),
        (
            "event:accession",
            {},
            (
                ("accession", datetime(2024, 5, 6, 23, 30, tzinfo=UTC)),
                ("accession", datetime(2025, 1, 1, tzinfo=UTC)),
            ),
            date(2024, 5, 6),
        ),
        (
            "event:message_digest_calculation",
            {},
            (("message digest calculation", datetime(2023, 8, 9, tzinfo=UTC)),),
            date(2023, 8, 9),
        ),
    ],
)
def test_each_trigger_kind(
    app: Application,
    trigger: str,
    description: dict[str, Any],
    events: tuple[tuple[str, datetime], ...],
    start: date | None,
) -> None:
    pid = _package(app, "harbour", description, events=events)
    _active(app, _rule(trigger))  # activation links the package already in the collection
    s = _status(app, pid)
    expected = start or date(2010, 1, 31)
    due = date(expected.year + 10, expected.month, expected.day)
    # reached already on the day of activation: due at once
    assert (s.state, s.error) == ("due" if due <= ACTIVATED.date() else "in_retention", None)
    assert (s.retention_start, s.basis, s.agreement) == (expected, "rule", "CRA-2026-001 v1")
    assert s.retention_due == due
    assert s.rule == f"destroy 10 years after {trigger} (minimum)"


@pytest.mark.parametrize(
    ("trigger", "description", "error"),
    [
        (
            "creation_date",
            {},
            "the description has no creation date (dcterms:created or date)",
        ),
        ("creation_date", {"date": ["1914"]}, "'1914' is not a full date (YYYY-MM-DD)"),
        ("creation_date", {"date": ["circa 1914"]}, "'circa 1914' is not a full date"),
        ("creation_date", {"date": ["2023-02-30"]}, "'2023-02-30' is not a valid date"),
        ("metadata_field:coverage", {}, "the description has no coverage"),
        (
            "metadata_field:coverage",
            {"coverage": ["Antwerp"]},
            "coverage: 'Antwerp' is not a full date (YYYY-MM-DD)",
        ),
        ("event:accession", {}, "the package has no 'accession' event"),
    ],
)
def test_a_missing_or_unparsable_trigger_is_a_retention_error(
    app: Application, trigger: str, description: dict[str, Any], error: str
) -> None:
    pid = _package(app, "harbour", description)
    _active(app, _rule(trigger))
    s = _status(app, pid)
    assert s.state == "retention_error"
    assert s.error is not None and s.error.startswith(error)
    assert (s.retention_start, s.retention_due) == (None, None)
    listed = retention.due(app, now=ACTIVATED)
    assert [(r.package_id, r.state) for r in listed] == [(pid, "retention_error")]
    # mark_due never moves a package in error
    assert retention.mark_due(app, now=datetime(2099, 1, 1, tzinfo=UTC)) == []


def test_the_description_corrected_fixes_the_error(app: Application) -> None:
    pid = _package(app, "harbour")
    _active(app, _rule("creation_date", value=5, unit="years"))
    assert _status(app, pid).state == "retention_error"
    with app.uow() as uow:  # what preserve describe writes (tested end to end in functional/)
        p = uow.session.get(Package, pid)
        assert p is not None
        p.description = {**p.description, "date": ["2001-05-17"]}
        uow.commit()
    s = retention.schedule(app, pid, now=datetime(2003, 1, 1, tzinfo=UTC))
    assert s is not None
    assert (s.state, s.retention_start, s.retention_due, s.error) == (
        "in_retention",
        date(2001, 5, 17),
        date(2006, 5, 17),
        None,
    )


INGESTED = datetime(2027, 3, 4, 12, tzinfo=UTC)


def test_mark_due_with_an_injected_now(app: Application) -> None:
    _active(app, _rule("ingest_date", action="review"))
    # a second agreement over films: destroy after 6 months
    service.create_draft(
        app,
        person(app, "mia"),
        full_spec(
            reference="CRA-2026-002",
            scope=[{"collection": "museum/films"}],
            retention=_rule("ingest_date", value=6, unit="months"),
        ),
        now=T0,
    )
    to_active(app, "CRA-2026-002")
    # ingested after both took effect (linked as an ingest would)
    reviewed = _package(app, "reviewed", created=INGESTED)
    destroyed = _package(app, "destroyed", collection="films", created=INGESTED)
    retention.recompute(app, now=INGESTED)
    assert _status(app, destroyed).retention_due == date(2027, 9, 4)
    assert _status(app, reviewed).retention_due == date(2037, 3, 4)

    # the day before: nothing moves
    assert retention.mark_due(app, now=datetime(2027, 9, 3, 23, tzinfo=UTC)) == []
    moved = retention.mark_due(app, now=datetime(2027, 9, 4, 0, 5, tzinfo=UTC))
    assert [(m.package_id, m.state) for m in moved] == [(destroyed, "due")]
    # again the same day (a second scheduler): nothing more; a destroy stays due
    assert retention.mark_due(app, now=datetime(2027, 9, 4, 8, tzinfo=UTC)) == []
    assert retention.mark_due(app, now=datetime(2030, 1, 1, tzinfo=UTC)) == []
    moved = retention.mark_due(app, now=datetime(2037, 3, 4, tzinfo=UTC))
    assert [(m.package_id, m.state) for m in moved] == [(reviewed, "under_review")]

    listed = retention.due(app, now=datetime(2037, 3, 4, tzinfo=UTC))
    assert [(r.package_id, r.state) for r in listed] == [
        (destroyed, "due"),
        (reviewed, "under_review"),
    ]
    # recompute leaves a package under review alone, and finds the destroy due again
    later = datetime(2037, 3, 5, tzinfo=UTC)
    again = {r.package_id: r.state for r in retention.recompute(app, now=later)}
    assert again == {reviewed: "under_review", destroyed: "due"}


def test_due_within_days(app: Application) -> None:
    _active(app, _rule("ingest_date", value=30, unit="days"))
    pid = _package(app, "soon", created=INGESTED)
    retention.recompute(app, collection="museum/photos", now=INGESTED)
    now = datetime(2027, 3, 10, tzinfo=UTC)  # due 2027-04-03
    assert retention.due(app, now=now) == []
    assert retention.due(app, within_days=23, now=now) == []
    assert [r.package_id for r in retention.due(app, within_days=24, now=now)] == [pid]
    with pytest.raises(InvalidInput, match="--within -1"):
        retention.due(app, within_days=-1, now=now)


def test_keep_permanently_has_no_due_date(app: Application) -> None:
    pid = _package(app, "kept")
    rule = _rule("ingest_date", action="keep_permanently")
    del rule["period"]
    _active(app, rule)
    s = _status(app, pid)
    assert (s.state, s.retention_start, s.retention_due) == ("in_retention", date(2026, 3, 4), None)
    assert s.rule == "keep permanently"
    assert retention.mark_due(app, now=datetime(2999, 1, 1, tzinfo=UTC)) == []


def test_an_expired_agreements_packages_are_flagged_for_review_never_deleted(
    app: Application,
) -> None:
    pid = _package(app, "harbour")
    _active(app, _rule("ingest_date"), effective_until="2030-12-31")
    after = datetime(2031, 1, 2, tzinfo=UTC)
    moved = service.advance(app, now=after)
    assert [(t.reference, t.to_state) for t in moved] == [("CRA-2026-001", "expired")]
    flagged = retention.mark_due(app, now=after)
    assert [(m.package_id, m.state) for m in flagged] == [(pid, "under_review")]
    with app.uow() as uow:
        p = uow.session.get(Package, pid)
        assert p is not None and p.status == "stored"
    assert retention.mark_due(app, now=after) == []


def test_the_ingest_gate_and_the_link(app: Application) -> None:
    _active(app, _rule("ingest_date"))
    with app.uow() as uow:
        cid = uow.session.scalars(sa.select(Collection.id).where(Collection.slug == "photos")).one()
        retention.require_ingest_open(uow.session, cid)  # active: no error
    service.suspend(app, person(app, "cas"), "CRA-2026-001", "unpaid", now=T0)
    with (
        app.uow() as uow,
        pytest.raises(
            Conflict,
            match=r"^ingest refused: agreement CRA-2026-001 v1 over museum/photos is suspended",
        ),
    ):
        retention.require_ingest_open(uow.session, cid)
    pid = _package(app, "claimed")  # a package claimed just before the suspension
    with pytest.raises(Conflict, match="is suspended"):
        retention.link_package(app, pid)
    with pytest.raises(NotFound, match="no package nothing"):
        retention.link_package(app, "nothing")
    service.resume(app, person(app, "cas"), "CRA-2026-001", now=T0)
    link, warnings = retention.link_package(app, pid, sip_reference="cra-2026-001 v1", actor="x")
    assert link is not None and warnings == []
    assert (link.label, link.basis) == ("CRA-2026-001 v1", "sip_reference")
    assert link.bag_info() == [("Agreement-Identifier", "CRA-2026-001"), ("Agreement-Version", "1")]
    # asked again (a new version of the package): the same link
    assert retention.link_package(app, pid)[0] == link
    with app.uow() as uow:
        row = uow.session.get(PackageRetention, pid)
        assert row is not None and (row.assigned_by, row.state) == ("x", "unscheduled")


def test_recompute_names_a_bad_collection(app: Application) -> None:
    with pytest.raises(InvalidInput, match=r"collection 'photos' is not ORG/SLUG"):
        retention.recompute(app, collection="photos")
    with pytest.raises(NotFound, match=r"^no collection 'museum/none'"):
        retention.recompute(app, collection="museum/none")
    with pytest.raises(
        NotFound, match=r"^no collection 'museum/phtos'; did you mean 'museum/photos'"
    ):
        retention.recompute(app, collection="museum/phtos")
    assert retention.recompute(app, collection="museum/photos") == []


def _statements(app: Application, action: Callable[[], Any]) -> list[str]:
    """The SQL statements ``action`` sends to the catalogue."""
    sent: list[str] = []

    def keep(*args: Any) -> None:
        sent.append(args[2])

    sa.event.listen(app.engine, "before_cursor_execute", keep)
    try:
        action()
    finally:
        sa.event.remove(app.engine, "before_cursor_execute", keep)
    return sent


def test_linking_reads_the_agreements_once_not_per_package(app: Application) -> None:
    """Activating an agreement with a metadata rule, or recomputing, finds the agreement that
    governs each unlinked package from agreements read once: a query per package made an
    activation over 20,000 packages take two minutes. The packages of a collection no agreement
    covers are linked when the rule matches their description, and only then; those of its
    collection are linked with their rule read once and their rows written in batches (three
    queries per package made an activation over 10,000 of them take 33 s)."""
    in_scope = [_package(app, f"photo {i:03d}", collection="photos") for i in range(40)]
    matching = [
        _package(app, f"biennale {i}", {"subject": [subject]}, collection="films")
        for i, subject in enumerate(("Biennale", "biennale", "BIENNALE"))
    ]
    others = [_package(app, "film", {"subject": ["Festival"]}, collection="films")]
    others += [_package(app, f"reel {i:03d}", collection="films") for i in range(59)]
    service.create_draft(app, person(app, "mia"), full_spec(retention=_rule("ingest_date")), now=T0)
    service.propose(app, person(app, "mia"), "CRA-2026-001", now=T0)
    parties = (("mia", "museum"), ("arno", "artist"), ("cas", "archive"))
    for who, party in parties:
        service.agree(app, person(app, who), "CRA-2026-001", party, now=T0)
    for who, party in parties:
        service.sign(app, person(app, who), "CRA-2026-001", party, capacity="director", now=T0)
    cas = person(app, "cas")
    sent = _statements(app, lambda: service.activate(app, cas, "CRA-2026-001", now=ACTIVATED))
    scope_reads = [q for q in sent if "agreement_scopes" in q]
    assert len(scope_reads) <= 12, scope_reads  # 194 when each package was looked up alone
    rule_reads = [q for q in sent if "FROM retention_rules" in q]
    assert len(rule_reads) <= 3, rule_reads  # was one per package linked
    package_reads = [q for q in sent if q.lstrip().startswith("SELECT") and "FROM packages" in q]
    assert len(package_reads) <= 12, package_reads  # was one per package linked
    inserts = [q for q in sent if q.lstrip().startswith("INSERT INTO package_retention")]
    assert len(inserts) <= 5, inserts  # in batches; was a statement per row (43 here)
    for pid in matching + in_scope:
        assert _status(app, pid).state == "in_retention"
    with app.uow() as uow:
        assert all(retention.status_of(uow.session, pid) is None for pid in others)

    # packages that arrived unlinked later (a catalogue rebuilt from storage): recompute
    later = [_package(app, "late", {"subject": ["Biennale"]}, collection="films")]
    later += [_package(app, f"late reel {i:03d}", collection="films") for i in range(60)]
    sent = _statements(app, lambda: retention.recompute(app, now=ACTIVATED))
    reads = len([q for q in sent if "agreement_scopes" in q])
    assert _status(app, later[0]).state == "in_retention"
    with app.uow() as uow:
        assert all(retention.status_of(uow.session, pid) is None for pid in later[1:])
    assert reads <= 12, reads
