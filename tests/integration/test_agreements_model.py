"""Agreements (issue 12): the lifecycle of retention-agreements.md 4.1 and its guards, the frozen
signed version, amendments, suspension and ingest, advance() with an injected time, who may act
for a party, documents and rights URIs; on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import hashlib
import io
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from preserve.config.settings import Settings

from preserve.bootstrap import Application, bootstrap
from preserve.catalogue.agreements import (
    AccessCondition,
    Agreement,
    AgreementDocument,
    AgreementEvent,
    AgreementParty,
    AgreementScope,
    ExitTerms,
    FormatPolicy,
    PartyDecision,
    PartyRole,
    RetentionRule,
    RightsGrant,
    ServiceLevel,
    Signature,
)
from preserve.catalogue.database import upgrade
from preserve.catalogue.models import Collection, Membership, Organisation, Package, User
from preserve.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from preserve.services import agreements as service
from preserve.services.access import Principal
from preserve.services.accounts import principal_for

T0 = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
START = date(2027, 1, 1)


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> Iterator[Application]:
    upgrade(database_url)
    application = bootstrap(
        Settings.from_env({"PRESERVE_HOME": str(tmp_path), "PRESERVE_DATABASE_URL": database_url}),
        actor="tester",
    )
    with application.uow() as uow:
        s = uow.session
        orgs = {
            slug: Organisation(slug=slug, name=name)
            for slug, name in (
                ("museum", "The Museum"),
                ("artist", "Studio An Artist"),
                ("archive", "The Archive Service"),
                ("city", "City of Mechelen"),
                ("other", "Another Organisation"),
            )
        }
        s.add_all(orgs.values())
        s.add(Collection(organisation=orgs["museum"], slug="photos", title="Photos"))
        s.add(Collection(organisation=orgs["museum"], slug="films", title="Films"))
        for username, memberships, admin in (
            ("mia", {"museum": "archivist"}, False),
            ("vera", {"museum": "viewer"}, False),
            ("arno", {"artist": "admin"}, False),
            ("cas", {"archive": "archivist"}, False),
            ("cleo", {"city": "archivist"}, False),
            ("otto", {"other": "admin"}, False),
            ("root", {}, True),
        ):
            user = User(username=username, display_name=username.title(), is_admin=admin)
            s.add(user)
            s.flush()
            for slug, role in memberships.items():
                s.add(Membership(user_id=user.id, organisation_id=orgs[slug].id, role=role))
        uow.commit()
    yield application
    application.close()


def person(app: Application, username: str) -> Principal:
    with app.uow() as uow:
        user_id = uow.session.scalar(sa.select(User.id).where(User.username == username))
    assert user_id is not None
    found = principal_for(app, user_id)
    assert found is not None
    return found


def full_spec(**changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "reference": "CRA-2026-001",
        "kind": "collaboration",
        "title": "Collective agreement on the photo collection",
        "summary": "Museum, artist and archive service keep the photos together.",
        "effective_from": START.isoformat(),
        "review_interval_months": 60,
        "notice_period_days": 90,
        "legal_basis": "Cultureelerfgoeddecreet art. 5",
        "rights_statement": "http://rightsstatements.org/vocab/InC/1.0/",
        "licence": "https://creativecommons.org/licenses/by/4.0",
        "parties": [
            {
                "organisation": "museum",
                "roles": ["owner_depositor"],
                "authorities": ["approve_disposal", "approve_amendment"],
            },
            {
                "organisation": "artist",
                "roles": ["creator_rights_holder"],
                "authorities": ["approve_access_change"],
            },
            {
                "organisation": "archive",
                "roles": ["custodian"],
                "authorities": ["approve_disposal"],
            },
        ],
        "scope": [
            {"collection": "museum/photos"},
            {"metadata": {"element": "subject", "operator": "equals", "value": "Biennale"}},
        ],
        "retention": {
            "action": "review",
            "trigger": "ingest_date",
            "period": {"value": 10, "unit": "years"},
            "bound": "minimum",
            "motivation": "Exhibition history is reviewed after ten years.",
            "legal_basis": "Selection list item 4.2",
        },
        "service_level": {
            "min_copies": 3,
            "min_distinct_sites": 2,
            "allowed_regions": ["BE", "nl"],
            "offline_copy_required": True,
            "fixity_interval_days": 90,
            "restore_test_interval_days": 180,
        },
        "formats": {"accepted": ["fmt/353", "fmt/43"], "preferred": ["fmt/353"]},
        "rights": [
            {"act": "replicate", "restriction": "allow"},
            {"act": "migrate", "restriction": "allow"},
            {"act": "disseminate", "restriction": "conditional", "note": "after the embargo"},
            {"act": "delete", "restriction": "disallow"},
        ],
        "access": [
            {"action": "consult", "group": "public", "embargo_until": "2030-01-01"},
            {"action": "download", "group": "owner"},
        ],
        "exit": {
            "recipient": "museum",
            "package_format": "bagit_premis",
            "deadline_days": 90,
            "post_exit_action": "delete_with_certificate",
        },
    }
    spec.update(changes)
    return spec


def to_active(app: Application, ident: str = "CRA-2026-001") -> None:
    """Propose, agree for all three parties, sign for all three, activate at the start date."""
    service.propose(app, person(app, "mia"), ident, now=T0)
    for who, party in (("mia", "museum"), ("arno", "artist"), ("cas", "archive")):
        service.agree(app, person(app, who), ident, party, now=T0)
    for who, party in (("mia", "museum"), ("arno", "artist"), ("cas", "archive")):
        service.sign(app, person(app, who), ident, party, capacity="director", now=T0)
    service.activate(app, person(app, "cas"), ident, now=datetime(2027, 1, 1, 9, tzinfo=UTC))


# ---------------------------------------------------------------------------- lifecycle


def test_walk_from_draft_to_active_with_every_guard(app: Application) -> None:
    mia, arno, cas = person(app, "mia"), person(app, "arno"), person(app, "cas")
    draft = service.create_draft(
        app, mia, {"reference": "CRA-2026-001", "kind": "collaboration", "title": "Photos"}, now=T0
    )
    assert draft.state == "draft" and draft.version_no == 1

    # an empty draft: every missing item is named
    with pytest.raises(Conflict) as refused:
        service.propose(app, mia, "CRA-2026-001", now=T0)
    assert refused.value.problems == (
        "parties: at least two parties are needed (there are 0)",
        "parties: no party has the custodian role",
        "effective_from: the start date is missing",
        "scope: no collection or metadata rule",
        "retention: no retention rule (exactly one is needed)",
        "service_level: missing (copies, sites, fixity interval)",
        "rights: no rights granted to the custodian",
        "exit: no exit terms",
    )
    assert str(refused.value).startswith("cannot propose CRA-2026-001 v1: it is incomplete: ")

    # one party, no custodian: both named
    service.edit_draft(
        app,
        mia,
        "CRA-2026-001",
        {"parties": [{"organisation": "museum", "roles": ["owner_depositor"]}]},
        now=T0,
    )
    with pytest.raises(Conflict) as refused:
        service.propose(app, mia, "CRA-2026-001", now=T0)
    assert "parties: at least two parties are needed (there are 1)" in refused.value.problems
    assert "parties: no party has the custodian role" in refused.value.problems

    spec = full_spec()
    del spec["reference"]
    detail = service.edit_draft(app, mia, "CRA-2026-001", spec, now=T0)
    assert detail.missing == ()
    proposed = service.propose(app, mia, "CRA-2026-001", now=T0)
    assert proposed.state == "proposed"

    # agreeing before all have agreed keeps it proposed; agreeing twice is refused
    service.agree(app, mia, "CRA-2026-001", "museum", now=T0)
    with pytest.raises(Conflict, match="museum has already agreed"):
        service.agree(app, mia, "CRA-2026-001", "museum", now=T0)

    # sending back needs a comment, then the version is a draft again and decisions start over
    with pytest.raises(InvalidInput, match="comment"):
        service.send_back(app, arno, "CRA-2026-001", "artist", "  ", now=T0)
    back = service.send_back(
        app, arno, "CRA-2026-001", "artist", "Name the portrait rights", now=T0
    )
    assert back.state == "draft"
    assert back.history[-1].action == "send_back"
    assert back.history[-1].comment == "Name the portrait rights"
    assert back.history[-1].party == "artist" and back.history[-1].actor == "arno"
    # signing a draft is refused with the state
    with pytest.raises(Conflict, match="cannot sign CRA-2026-001 v1: it is draft, not pending"):
        service.sign(app, mia, "CRA-2026-001", "museum", capacity="director", now=T0)

    service.propose(app, mia, "CRA-2026-001", now=T0)
    again = service.show(app, "CRA-2026-001")
    assert all(p.decision is None for p in again.parties)
    service.agree(app, mia, "CRA-2026-001", "museum", now=T0)
    service.agree(app, arno, "CRA-2026-001", "artist", now=T0)
    pending = service.agree(app, cas, "CRA-2026-001", "archive", now=T0)
    assert pending.state == "pending_signature"
    assert [p.decision for p in pending.parties] == ["agree", "agree", "agree"]

    # activation before signing is refused
    with pytest.raises(Conflict, match="it is pending signature, not signed"):
        service.activate(app, cas, "CRA-2026-001", now=T0)

    service.sign(app, mia, "CRA-2026-001", "museum", capacity="director", method="paper", now=T0)
    with pytest.raises(Conflict, match="museum has already signed"):
        service.sign(app, mia, "CRA-2026-001", "museum", capacity="director", now=T0)
    service.sign(app, arno, "CRA-2026-001", "artist", capacity="artist", now=T0)
    signed = service.sign(app, cas, "CRA-2026-001", "archive", capacity="head", now=T0)
    assert signed.state == "signed" and signed.signed_at == T0
    assert signed.content_hash is not None and len(signed.content_hash) == 64
    assert signed.parties[0].signatures[0].method == "paper"
    assert signed.parties[0].signatures[0].document_sha256 == signed.content_hash
    assert service.verify_frozen(app, "CRA-2026-001")

    # activate refuses before the start date, naming it
    with pytest.raises(Conflict, match="before its start date 2027-01-01"):
        service.activate(app, cas, "CRA-2026-001", now=datetime(2026, 12, 31, 23, tzinfo=UTC))
    active = service.activate(app, cas, "CRA-2026-001", now=datetime(2027, 1, 1, 9, tzinfo=UTC))
    assert active.state == "active"
    assert active.next_review_on == date(2032, 1, 1)
    states = [(e.action, e.from_state, e.to_state) for e in active.history]
    assert ("propose", "draft", "proposed") in states
    assert ("send_back", "proposed", "draft") in states
    assert ("all_agreed", "proposed", "pending_signature") in states
    assert ("all_signed", "pending_signature", "signed") in states
    assert states[-1] == ("activate", "signed", "active")


def test_withdraw_from_draft_or_proposed_only(app: Application) -> None:
    mia = person(app, "mia")
    service.create_draft(app, mia, full_spec(), now=T0)
    service.propose(app, mia, "CRA-2026-001", now=T0)
    assert service.withdraw(app, mia, "CRA-2026-001", "not needed", now=T0).state == "withdrawn"
    with pytest.raises(Conflict, match="cannot propose CRA-2026-001 v1: it is withdrawn"):
        service.propose(app, mia, "CRA-2026-001", now=T0)
    service.create_draft(app, mia, full_spec(reference="CRA-2026-002"), now=T0)
    to_active(app, "CRA-2026-002")
    with pytest.raises(Conflict, match="cannot withdraw CRA-2026-002 v1: it is active"):
        service.withdraw(app, mia, "CRA-2026-002", now=T0)


def test_invalid_transitions_are_conflicts(app: Application) -> None:
    mia, cas = person(app, "mia"), person(app, "cas")
    service.create_draft(app, mia, full_spec(), now=T0)
    for call, message in (
        (lambda: service.agree(app, mia, "CRA-2026-001", "museum", now=T0), "agree to"),
        (lambda: service.suspend(app, cas, "CRA-2026-001", "breach", now=T0), "suspend"),
        (lambda: service.resume(app, cas, "CRA-2026-001", now=T0), "resume"),
        (lambda: service.give_notice(app, mia, "CRA-2026-001", "museum", "x", now=T0), "notice"),
        (lambda: service.close(app, cas, "CRA-2026-001", "returned", now=T0), "close"),
        (lambda: service.amend(app, mia, "CRA-2026-001", now=T0), "amend"),
        (lambda: service.activate(app, cas, "CRA-2026-001", now=T0), "activate"),
        (lambda: service.confirm_review(app, cas, "CRA-2026-001", now=T0), "review"),
        (lambda: service.start_exit(app, cas, "CRA-2026-001", now=T0), "exit"),
    ):
        with pytest.raises(Conflict, match=message):
            call()
    with pytest.raises(NotFound, match="no agreement 'CRA-9'"):
        service.show(app, "CRA-9")
    with pytest.raises(Conflict, match="exists already"):
        service.create_draft(app, mia, full_spec(), now=T0)


# ---------------------------------------------------------------------------- frozen


def _editable_sections() -> dict[str, Any]:
    spec = full_spec()
    return {
        "kind": "service",
        "title": "Changed",
        "summary": "Changed",
        "component": "annex",
        "effective_from": "2027-02-01",
        "effective_until": "2040-01-01",
        "review_interval_months": 12,
        "next_review_on": "2028-01-01",
        "notice_period_days": 30,
        "legal_basis": "Changed",
        "rights_statement": "http://rightsstatements.org/vocab/CNE/1.0/",
        "licence": "http://creativecommons.org/publicdomain/zero/1.0/",
        "parties": [*spec["parties"][:2], {"organisation": "archive", "roles": ["custodian"]}],
        "scope": [{"collection": "museum/films"}],
        "retention": dict(spec["retention"], action="destroy"),
        "service_level": dict(spec["service_level"], min_copies=2),
        "formats": {"accepted": ["fmt/1"]},
        "rights": [{"act": "replicate", "restriction": "disallow"}],
        "access": [{"action": "consult", "group": "parties"}],
        "exit": dict(spec["exit"], deadline_days=10),
    }


ORM_EDITS: dict[str, Callable[[sa.orm.Session, Agreement], None]] = {
    "agreement.title": lambda s, a: setattr(a, "title", "Changed"),
    "agreement.effective_until": lambda s, a: setattr(a, "effective_until", date(2040, 1, 1)),
    "agreement.rights_statement_uri": lambda s, a: setattr(a, "rights_statement_uri", None),
    "party.required_signatures": lambda s, a: setattr(a.parties[0], "required_signatures", 2),
    "party.approve_disposal": lambda s, a: setattr(a.parties[1], "approve_disposal", True),
    "party added": lambda s, a: s.add(
        AgreementParty(
            agreement_id=a.id,
            organisation_id=s.scalar(
                sa.select(Organisation.id).where(Organisation.slug == "other")
            ),
        )
    ),
    "party role added": lambda s, a: s.add(PartyRole(party_id=a.parties[0].id, role="successor")),
    "party role removed": lambda s, a: s.delete(a.parties[0].roles[0]),
    "scope removed": lambda s, a: s.delete(s.scalars(sa.select(AgreementScope)).first()),
    "scope changed": lambda s, a: setattr(
        s.scalars(sa.select(AgreementScope).where(AgreementScope.selector == "metadata")).one(),
        "value",
        "Other",
    ),
    "retention.period_value": lambda s, a: setattr(
        s.scalars(sa.select(RetentionRule)).one(), "period_value", 1
    ),
    "service_level.min_copies": lambda s, a: setattr(
        s.scalars(sa.select(ServiceLevel)).one(), "min_copies", 1
    ),
    "format added": lambda s, a: s.add(
        FormatPolicy(agreement_id=a.id, puid="fmt/999", level="accepted")
    ),
    "rights restriction": lambda s, a: setattr(
        s.scalars(sa.select(RightsGrant).where(RightsGrant.act == "delete")).one(),
        "restriction",
        "allow",
    ),
    "access embargo": lambda s, a: setattr(
        s.scalars(sa.select(AccessCondition)).first(), "embargo_until", None
    ),
    "exit deadline": lambda s, a: setattr(
        s.scalars(sa.select(ExitTerms)).one(), "deadline_days", 1
    ),
    "scope taken out of the collection": lambda s, a: a.scopes.remove(a.scopes[0]),
    "role taken out of the collection": lambda s, a: a.parties[0].roles.clear(),
    "party taken out of the collection": lambda s, a: a.parties.remove(a.parties[-1]),
    "retention rule dropped": lambda s, a: setattr(a, "retention_rule", None),
    "service level replaced": lambda s, a: setattr(
        a,
        "service_level",
        ServiceLevel(min_copies=1, fixity_interval_days=1, allowed_regions=[]),
    ),
    "annex document appended": lambda s, a: a.documents.append(
        AgreementDocument(
            name="x.txt",
            kind="annex",
            media_type="text/plain",
            size=1,
            sha256="0" * 64,
            storage_key="agreements/x",
        )
    ),
}
HISTORY_EDITS: dict[str, Callable[[sa.orm.Session, Agreement], None]] = {
    "signature changed": lambda s, a: setattr(
        s.scalars(sa.select(Signature)).first(), "capacity", "forged"
    ),
    "signature removed": lambda s, a: s.delete(s.scalars(sa.select(Signature)).first()),
    "decision removed": lambda s, a: s.delete(s.scalars(sa.select(PartyDecision)).first()),
    "event changed": lambda s, a: setattr(
        s.scalars(sa.select(AgreementEvent)).first(), "comment", "rewritten"
    ),
    "event removed": lambda s, a: s.delete(s.scalars(sa.select(AgreementEvent)).first()),
}


def test_a_signed_version_is_frozen_for_every_field_and_path(
    app: Application, tmp_path: Path
) -> None:
    mia, cas = person(app, "mia"), person(app, "cas")
    service.create_draft(app, mia, full_spec(), now=T0)
    to_active(app)
    for state_check in ("active",):
        assert service.show(app, "CRA-2026-001").state == state_check
    before = service.show(app, "CRA-2026-001")

    # the service: every section of the description
    for key, value in _editable_sections().items():
        with pytest.raises(
            Conflict, match="CRA-2026-001 v1 is active: a version that is not a draft is frozen"
        ):
            service.edit_draft(app, mia, "CRA-2026-001", {key: value}, now=T0)
    note = tmp_path / "annex.txt"
    note.write_text("Annex 1: basic annotation\n")
    with pytest.raises(Conflict, match="frozen"):
        service.attach_document(app, mia, "CRA-2026-001", note, kind="annex", now=T0)

    # any other code path: the flush refuses, the catalogue keeps the signed terms
    for name, edit in ORM_EDITS.items():
        with app.uow() as uow:
            a = uow.session.scalars(sa.select(Agreement)).one()
            edit(uow.session, a)
            with pytest.raises(Conflict, match="frozen"):
                uow.commit()
            uow.rollback()
        assert service.verify_frozen(app, "CRA-2026-001"), name

    for edit in HISTORY_EDITS.values():
        with app.uow() as uow:
            a = uow.session.scalars(sa.select(Agreement)).one()
            edit(uow.session, a)
            with pytest.raises(Conflict, match="agreement history is never"):
                uow.commit()
            uow.rollback()

    after = service.show(app, "CRA-2026-001")
    assert after.history == before.history
    assert after.content_hash == before.content_hash and after.parties == before.parties
    assert after.retention == before.retention and after.service_level == before.service_level

    # a signed copy is evidence, not terms: it may be attached, and the hash still holds
    service.attach_document(app, cas, "CRA-2026-001", note, kind="signed_copy", now=T0)
    assert service.verify_frozen(app, "CRA-2026-001")


def test_a_proposed_version_cannot_be_edited_either(app: Application) -> None:
    mia = person(app, "mia")
    service.create_draft(app, mia, full_spec(), now=T0)
    service.propose(app, mia, "CRA-2026-001", now=T0)
    with pytest.raises(Conflict, match="is proposed: its terms can change only as a draft"):
        service.edit_draft(app, mia, "CRA-2026-001", {"title": "x"}, now=T0)


# ---------------------------------------------------------------------------- amend, suspend, exit


def test_amend_supersedes_the_old_version_once_active(app: Application) -> None:
    mia, arno, cas = person(app, "mia"), person(app, "arno"), person(app, "cas")
    service.create_draft(app, mia, full_spec(), now=T0)
    to_active(app)
    at = datetime(2027, 6, 1, tzinfo=UTC)
    v2 = service.amend(app, mia, "CRA-2026-001", "three sites", now=at)
    assert (v2.version_no, v2.state, v2.supersedes) == (2, "draft", "CRA-2026-001 v1")
    assert v2.service_level is not None and v2.service_level.min_copies == 3
    assert [p.organisation for p in v2.parties] == ["museum", "artist", "archive"]
    assert v2.exit is not None and v2.exit.recipient == "museum"
    with pytest.raises(Conflict, match="CRA-2026-001 v2 is already being prepared"):
        service.amend(app, mia, "CRA-2026-001/v1", now=at)

    sl = dict(full_spec()["service_level"], min_distinct_sites=3)
    service.edit_draft(
        app, mia, "CRA-2026-001", {"service_level": sl, "effective_from": "2027-07-01"}, now=at
    )
    # the old version is still the one in force
    with app.uow() as uow:
        c = uow.session.scalars(sa.select(Collection).where(Collection.slug == "photos")).one()
        assert service.ingest_allowed(uow.session, c.id) == (
            True,
            "under agreement CRA-2026-001 v1",
        )
        level = service.service_level_for(uow.session, c.id)
        assert level is not None and level.min_distinct_sites == 2
    service.propose(app, mia, "CRA-2026-001", now=at)
    for who, party in ((mia, "museum"), (arno, "artist"), (cas, "archive")):
        service.agree(app, who, "CRA-2026-001/v2", party, now=at)
    for who, party in ((mia, "museum"), (arno, "artist"), (cas, "archive")):
        service.sign(app, who, "CRA-2026-001/v2", party, capacity="director", now=at)
    moved = service.advance(app, datetime(2027, 7, 1, 0, 5, tzinfo=UTC))
    assert service.Transition("CRA-2026-001", 2, "signed", "active") in moved
    assert service.show(app, "CRA-2026-001/v1").state == "superseded"
    assert (
        service.show(app, "CRA-2026-001/v1").history[-1].comment == "superseded by CRA-2026-001 v2"
    )
    assert service.show(app, "CRA-2026-001").version_no == 2
    with app.uow() as uow:
        c = uow.session.scalars(sa.select(Collection).where(Collection.slug == "photos")).one()
        level = service.service_level_for(uow.session, c.id)
        assert level is not None and level.min_distinct_sites == 3
        assert level.agreement == "CRA-2026-001 v2"
    listed = service.list_agreements(app, all_versions=True)
    assert [(a.version_no, a.state) for a in listed] == [(1, "superseded"), (2, "active")]


def test_suspend_blocks_ingest_and_resume_reopens_it(app: Application) -> None:
    mia, cas = person(app, "mia"), person(app, "cas")
    with app.uow() as uow:
        c = uow.session.scalars(sa.select(Collection).where(Collection.slug == "photos")).one()
        films = uow.session.scalars(sa.select(Collection).where(Collection.slug == "films")).one()
        cid, fid = c.id, films.id
        assert service.ingest_allowed(uow.session, cid) == (
            True,
            "no agreement covers museum/photos",
        )
    service.create_draft(app, mia, full_spec(), now=T0)
    to_active(app)
    with pytest.raises(InvalidInput, match="reason"):
        service.suspend(app, cas, "CRA-2026-001", " ", now=T0)
    with pytest.raises(PermissionDenied, match="custodian"):
        service.suspend(app, mia, "CRA-2026-001", "breach", now=T0)
    service.suspend(app, cas, "CRA-2026-001", "rights challenge by a third party", now=T0)
    with app.uow() as uow:
        allowed, reason = service.ingest_allowed(uow.session, cid)
        assert not allowed
        assert reason == (
            "agreement CRA-2026-001 v1 over museum/photos is suspended: new ingest is refused "
            "until it is resumed (preservation goes on)"
        )
        # preservation continues: the service level still applies
        assert service.service_level_for(uow.session, cid) is not None
        assert service.ingest_allowed(uow.session, fid)[0]
    service.resume(app, cas, "CRA-2026-001", now=T0)
    with app.uow() as uow:
        assert service.ingest_allowed(uow.session, cid)[0]


def test_notice_exit_and_close(app: Application) -> None:
    mia, cas = person(app, "mia"), person(app, "cas")
    service.create_draft(app, mia, full_spec(), now=T0)
    to_active(app)
    at = datetime(2028, 1, 10, tzinfo=UTC)
    with pytest.raises(NotFound):  # another organisation does not see it
        service.give_notice(app, person(app, "otto"), "CRA-2026-001", "museum", "x", now=at)
    with pytest.raises(PermissionDenied, match="vera is a viewer in museum"):
        service.give_notice(app, person(app, "vera"), "CRA-2026-001", "museum", "x", now=at)
    given = service.give_notice(app, mia, "CRA-2026-001", "museum", "Museum merges", now=at)
    assert given.state == "notice_given" and given.notice_given_on == date(2028, 1, 10)
    with app.uow() as uow:
        c = uow.session.scalars(sa.select(Collection).where(Collection.slug == "photos")).one()
        assert not service.ingest_allowed(uow.session, c.id)[0]
    with pytest.raises(Conflict, match="notice period runs until 2028-04-09"):
        service.start_exit(app, cas, "CRA-2026-001", now=at)
    assert service.advance(app, datetime(2028, 4, 8, tzinfo=UTC)) == []
    assert service.advance(app, datetime(2028, 4, 9, tzinfo=UTC)) == [
        service.Transition("CRA-2026-001", 1, "notice_given", "exiting")
    ]
    with pytest.raises(InvalidInput, match="evidence"):
        service.close(app, cas, "CRA-2026-001", "", now=at)
    closed = service.close(app, cas, "CRA-2026-001", "returned; certificate 2028-17", now=at)
    assert closed.state == "closed"
    with app.uow() as uow:
        c = uow.session.scalars(sa.select(Collection).where(Collection.slug == "photos")).one()
        assert service.ingest_allowed(uow.session, c.id) == (
            False,
            "agreement CRA-2026-001 v1 over museum/photos is closed: no new ingest",
        )


def test_advance_with_an_injected_now(app: Application) -> None:
    mia, arno, cas = person(app, "mia"), person(app, "arno"), person(app, "cas")
    service.create_draft(
        app,
        mia,
        full_spec(effective_until="2035-12-31", review_interval_months=24),
        now=T0,
    )
    service.propose(app, mia, "CRA-2026-001", now=T0)
    for who, party in ((mia, "museum"), (arno, "artist"), (cas, "archive")):
        service.agree(app, who, "CRA-2026-001", party, now=T0)
    for who, party in ((mia, "museum"), (arno, "artist"), (cas, "archive")):
        service.sign(app, who, "CRA-2026-001", party, capacity="director", now=T0)
    assert service.advance(app, datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == []
    assert service.advance(app, datetime(2027, 1, 1, 0, 1, tzinfo=UTC)) == [
        service.Transition("CRA-2026-001", 1, "signed", "active")
    ]
    assert service.show(app, "CRA-2026-001").next_review_on == date(2029, 1, 1)
    assert service.advance(app, datetime(2028, 12, 31, tzinfo=UTC)) == []
    assert service.advance(app, datetime(2029, 1, 1, tzinfo=UTC)) == [
        service.Transition("CRA-2026-001", 1, "active", "under_review")
    ]
    # still in force while under review
    with app.uow() as uow:
        c = uow.session.scalars(sa.select(Collection).where(Collection.slug == "photos")).one()
        assert service.ingest_allowed(uow.session, c.id)[0]
        assert service.governing_agreement(uow.session, collection_id=c.id) is not None
    confirmed = service.confirm_review(
        app, cas, "CRA-2026-001", now=datetime(2029, 2, 1, tzinfo=UTC)
    )
    assert confirmed.state == "active" and confirmed.next_review_on == date(2031, 2, 1)
    assert service.advance(app, datetime(2035, 12, 31, tzinfo=UTC)) == [
        service.Transition("CRA-2026-001", 1, "active", "under_review")
    ]
    assert service.advance(app, datetime(2036, 1, 1, tzinfo=UTC)) == [
        service.Transition("CRA-2026-001", 1, "under_review", "expired")
    ]
    exiting = service.start_exit(app, cas, "CRA-2026-001", now=datetime(2036, 1, 2, tzinfo=UTC))
    assert exiting.state == "exiting"
    assert [e.actor for e in exiting.history if e.action in ("review_due", "expire")] == [
        "system",
        "system",
        "system",
    ]


# ---------------------------------------------------------------------------- permissions


def test_who_may_act_for_a_party(app: Application) -> None:
    mia, cas, root = person(app, "mia"), person(app, "cas"), person(app, "root")
    with pytest.raises(PermissionDenied, match="otto may not prepare"):
        service.create_draft(app, person(app, "otto"), full_spec(), now=T0)
    with pytest.raises(PermissionDenied, match="vera may not prepare"):
        service.create_draft(app, person(app, "vera"), full_spec(), now=T0)
    # a repository admin may prepare drafts
    service.create_draft(app, root, full_spec(), now=T0)
    with pytest.raises(NotFound):  # another organisation does not even see it
        service.show(app, "CRA-2026-001", person(app, "otto"))
    service.propose(app, root, "CRA-2026-001", now=T0)

    with pytest.raises(PermissionDenied, match="vera is a viewer in museum"):
        service.agree(app, person(app, "vera"), "CRA-2026-001", "museum", now=T0)
    with pytest.raises(PermissionDenied, match="mia may not agree for artist"):
        service.agree(app, mia, "CRA-2026-001", "artist", now=T0)
    with pytest.raises(NotFound):
        service.agree(app, person(app, "otto"), "CRA-2026-001", "museum", now=T0)
    with pytest.raises(PermissionDenied, match="never agree for another organisation"):
        service.agree(app, root, "CRA-2026-001", "museum", now=T0)
    with pytest.raises(InvalidInput, match="'city' is not a party"):
        service.agree(app, mia, "CRA-2026-001", "city", now=T0)
    # ... but acts as custodian staff
    service.agree(app, root, "CRA-2026-001", "archive", now=T0)
    service.agree(app, mia, "CRA-2026-001", "museum", now=T0)
    service.agree(app, person(app, "arno"), "CRA-2026-001", "artist", now=T0)
    with pytest.raises(PermissionDenied, match="root is a repository administrator"):
        service.sign(app, root, "CRA-2026-001", "museum", capacity="admin", now=T0)
    with pytest.raises(PermissionDenied, match="vera is a viewer"):
        service.sign(app, person(app, "vera"), "CRA-2026-001", "museum", capacity="x", now=T0)
    service.sign(app, cas, "CRA-2026-001", "archive", capacity="head", now=T0)
    service.sign(app, mia, "CRA-2026-001", "museum", capacity="director", now=T0)
    service.sign(app, person(app, "arno"), "CRA-2026-001", "artist", capacity="artist", now=T0)
    at = datetime(2027, 1, 2, tzinfo=UTC)
    with pytest.raises(PermissionDenied, match="mia may not activate"):
        service.activate(app, mia, "CRA-2026-001", now=at)
    assert service.activate(app, root, "CRA-2026-001", now=at).state == "active"


def test_an_umbrella_party_acts_for_the_parties_it_represents(app: Application) -> None:
    spec = full_spec()
    spec["parties"] = [
        {"organisation": "museum", "roles": ["owner_depositor"], "represented_by": "city"},
        {"organisation": "city", "roles": ["umbrella_representative"], "required_signatures": 2},
        {"organisation": "archive", "roles": ["custodian"]},
    ]
    cleo = person(app, "cleo")
    service.create_draft(app, cleo, spec, now=T0)
    service.propose(app, cleo, "CRA-2026-001", now=T0)
    service.agree(app, cleo, "CRA-2026-001", "museum", now=T0)
    service.agree(app, cleo, "CRA-2026-001", "city", now=T0)
    service.agree(app, person(app, "cas"), "CRA-2026-001", "archive", now=T0)
    shown = service.show(app, "CRA-2026-001")
    assert shown.parties[0].represented_by == "city"
    service.sign(app, cleo, "CRA-2026-001", "museum", capacity="alderman", now=T0)
    service.sign(app, cleo, "CRA-2026-001", "city", capacity="alderman", now=T0)
    with pytest.raises(Conflict, match="a second signature needs another person"):
        service.sign(app, cleo, "CRA-2026-001", "city", capacity="mayor", now=T0)
    # the representative needs the umbrella role
    bad = copy.deepcopy(spec)
    bad["reference"] = "CRA-2026-002"
    bad["parties"][1]["roles"] = ["owner_depositor"]
    with pytest.raises(InvalidInput, match="lacks the umbrella_representative role"):
        service.create_draft(app, cleo, bad, now=T0)


# ---------------------------------------------------------------------------- input


def test_every_bad_field_is_named(app: Application) -> None:
    mia = person(app, "mia")
    spec = full_spec(
        reference="bad ref",
        kind="gift",
        effective_from="tomorrow",
        colour="blue",
        rights_statement="http://example.org/rights",
        licence="http://creativecommons.org/licenses/by/5.0/",
    )
    spec["parties"][0]["roles"] = ["owner"]
    spec["parties"][1]["organisation"] = "nobody"
    spec["scope"] = [{"collection": "museum/none"}, {"metadata": {"element": "subject"}}]
    spec["retention"] = dict(spec["retention"], trigger="yesterday", motivation="")
    spec["service_level"] = dict(spec["service_level"], min_copies=0, allowed_regions=["Belgium"])
    spec["formats"] = {"accepted": ["PDF"]}
    spec["rights"] = [
        {"act": "sell", "restriction": "allow"},
        {"act": "use", "restriction": "conditional"},
    ]
    spec["access"] = [{"action": "consult", "group": "organisation"}]
    spec["exit"] = dict(spec["exit"], recipient="other", post_exit_action="retain_until")
    with pytest.raises(InvalidInput) as refused:
        service.create_draft(app, mia, spec, now=T0)
    message = str(refused.value)
    for expected in (
        "agreement.colour: unknown field",
        "reference: 'bad ref' must be 1 to 50 letters",
        "kind: 'gift' is not one of collaboration",
        "effective_from: 'tomorrow' is not a date (YYYY-MM-DD)",
        "rights_statement: 'http://example.org/rights' is not a RightsStatements.org URI",
        "licence: 'http://creativecommons.org/licenses/by/5.0/' is not a Creative Commons",
        "parties[1].roles: 'owner' is not one of owner_depositor",
        "parties[2].organisation: no organisation 'nobody'",
        "scope[1].collection: no collection 'museum/none'",
        "scope[2].metadata.value: required",
        "retention.trigger: 'yesterday' is not ingest_date",
        "retention.motivation: must not be empty",
        "service_level.min_copies: must be at least 1 (got 0)",
        "service_level.allowed_regions: 'Belgium' is not an assigned ISO 3166-1 alpha-2 code",
        "formats.accepted: 'PDF' is not a PRONOM PUID",
        "rights[1].act: 'sell' is not one of replicate",
        "rights[2].note: a conditional grant says its condition in the note",
        "access[1].organisation: required",
        "exit.recipient: 'other' is not a party of this agreement",
        "exit.retain_until: required when post_exit_action is retain_until",
    ):
        assert expected in message, expected
    assert service.list_agreements(app) == []  # nothing was left behind
    many = full_spec(retention=[full_spec()["retention"], full_spec()["retention"]])
    with pytest.raises(InvalidInput, match="exactly one retention rule per agreement \\(got 2\\)"):
        service.create_draft(app, mia, many, now=T0)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (
            "http://rightsstatements.org/vocab/InC/1.0/",
            "http://rightsstatements.org/vocab/InC/1.0/",
        ),
        (
            "https://rightsstatements.org/vocab/NoC-NC/1.0",
            "http://rightsstatements.org/vocab/NoC-NC/1.0/",
        ),
        ("http://rightsstatements.org/vocab/InC/2.0/", None),
        ("http://creativecommons.org/licenses/by/4.0/", None),  # a licence, not a statement
        ("rightsstatements.org/vocab/InC/1.0/", None),
    ],
)
def test_rights_statement_uris(given: str, stored: str | None) -> None:
    from preserve.catalogue.agreements import RIGHTS_STATEMENTS

    canonical = service.canonical_rights_uri(given)
    assert (canonical if canonical in RIGHTS_STATEMENTS else None) == stored


def test_licence_uri_is_stored_in_its_listed_form(app: Application) -> None:
    detail = service.create_draft(app, person(app, "mia"), full_spec(), now=T0)
    assert detail.licence == "http://creativecommons.org/licenses/by/4.0/"
    assert detail.rights_statement == "http://rightsstatements.org/vocab/InC/1.0/"
    assert detail.service_level is not None and detail.service_level.allowed_regions == ("BE", "NL")


# ---------------------------------------------------------------------------- documents


def _docx(macros: bool = False) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<document/>")
        if macros:
            z.writestr("word/vbaProject.bin", b"\x00macro")
    return out.getvalue()


def _odt() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        z.writestr("content.xml", "<office/>")
    return out.getvalue()


def test_documents_are_checked_and_their_sha256_recorded(app: Application, tmp_path: Path) -> None:
    mia, arno, cas = person(app, "mia"), person(app, "arno"), person(app, "cas")
    service.create_draft(app, mia, full_spec(), now=T0)
    pdf = tmp_path / "agreement.pdf"
    pdf.write_bytes(b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n")
    doc = service.attach_document(app, mia, "CRA-2026-001", pdf, now=T0)
    digest = hashlib.sha256(pdf.read_bytes()).hexdigest()
    assert (doc.name, doc.media_type, doc.size, doc.sha256) == (
        "agreement.pdf",
        "application/pdf",
        pdf.stat().st_size,
        digest,
    )
    kept = tmp_path / "agreements"
    assert [p.read_bytes() for p in kept.rglob(digest)] == [pdf.read_bytes()]
    for name, data, kind in (
        ("annex.odt", _odt(), "annex"),
        ("addendum.docx", _docx(), "addendum"),
        ("notes.txt", b"Annexe 2: doelgroepen\n", "other"),
    ):
        (tmp_path / name).write_bytes(data)
        assert service.attach_document(app, mia, "CRA-2026-001", tmp_path / name, kind=kind, now=T0)

    big = tmp_path / "big.pdf"
    with big.open("wb") as f:
        f.write(b"%PDF-")
        f.truncate(service.MAX_DOCUMENT_BYTES + 1)
    for name, data, message in (
        ("image.pdf", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "not a PDF, plain text, ODT or DOCX"),
        (
            "agreement.txt",
            b"%PDF-1.4\n",
            "the content is application/pdf but the name ends in .txt",
        ),
        (
            "page.txt",
            b"<!DOCTYPE html><html><script>alert(1)</script>",
            "HTML, SVG or XML is refused",
        ),
        ("run.exe", b"MZ\x90\x00\x03", "not a PDF, plain text, ODT or DOCX"),
        ("macro.docx", _docx(macros=True), "a Word document with macros is refused"),
        ("archive.odt", b"PK\x03\x04broken", "damaged zip"),
        ("empty.txt", b"", "the file is empty"),
    ):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InvalidInput, match=message):
            service.attach_document(app, mia, "CRA-2026-001", tmp_path / name, now=T0)
    with pytest.raises(InvalidInput, match="more than the limit of 26,214,400 bytes"):
        service.attach_document(app, mia, "CRA-2026-001", big, now=T0)
    with pytest.raises(InvalidInput, match="kind: 'poster'"):
        service.attach_document(app, mia, "CRA-2026-001", pdf, kind="poster", now=T0)
    with pytest.raises(PermissionDenied):
        service.attach_document(app, person(app, "vera"), "CRA-2026-001", pdf, now=T0)
    assert len(service.show(app, "CRA-2026-001").documents) == 4

    # signatures name the document signed
    service.propose(app, mia, "CRA-2026-001", now=T0)
    for who, party in ((mia, "museum"), (arno, "artist"), (cas, "archive")):
        service.agree(app, who, "CRA-2026-001", party, now=T0)
    with pytest.raises(InvalidInput, match="is not the SHA-256 of a document"):
        service.sign(app, mia, "CRA-2026-001", "museum", capacity="d", document_sha256="a" * 64)
    with pytest.raises(InvalidInput, match="is not a SHA-256"):
        service.sign(app, mia, "CRA-2026-001", "museum", capacity="d", document_sha256="xyz")
    with pytest.raises(InvalidInput, match="method: 'fax'"):
        service.sign(app, mia, "CRA-2026-001", "museum", capacity="d", method="fax")
    with pytest.raises(InvalidInput, match="capacity: must not be empty"):
        service.sign(app, mia, "CRA-2026-001", "museum", capacity=" ")
    signed = service.sign(
        app, mia, "CRA-2026-001", "museum", capacity="director", document_sha256=digest, now=T0
    )
    assert signed.parties[0].signatures[0].document_sha256 == digest


# ---------------------------------------------------------------------------- for later tasks


def test_governing_agreement_rights_and_service_level(app: Application) -> None:
    mia = person(app, "mia")
    service.create_draft(app, mia, full_spec(), now=T0)
    with app.uow() as uow:
        s = uow.session
        photos = s.scalars(sa.select(Collection).where(Collection.slug == "photos")).one()
        films = s.scalars(sa.select(Collection).where(Collection.slug == "films")).one()
        in_photos = Package(collection_id=photos.id, title="a", status="stored")
        biennale = Package(
            collection_id=films.id,
            title="b",
            status="stored",
            description={"subject": ["biennale"]},
        )
        other = Package(collection_id=films.id, title="c", status="stored", description={})
        s.add_all([in_photos, biennale, other])
        uow.commit()
        ids = (in_photos.id, biennale.id, other.id, photos.id)
    with app.uow() as uow:
        # a draft governs nothing
        assert service.governing_agreement(uow.session, package_id=ids[0]) is None
        assert service.rights_for(uow.session, collection_id=ids[3]) is None
    to_active(app)
    with app.uow() as uow:
        s = uow.session
        ref = service.governing_agreement(s, package_id=ids[0])
        assert ref is not None and (ref.label, ref.state) == ("CRA-2026-001 v1", "active")
        by_rule = service.governing_agreement(s, package_id=ids[1])
        assert by_rule is not None and by_rule.label == "CRA-2026-001 v1"
        assert service.governing_agreement(s, package_id=ids[2]) is None
        rights = service.rights_for(s, package_id=ids[1])
        assert rights is not None
        assert rights.act("replicate") == "allow" and rights.act("delete") == "disallow"
        assert rights.act("modify") is None
        assert [(a.action, a.group, a.embargo_until) for a in rights.access] == [
            ("consult", "public", date(2030, 1, 1)),
            ("download", "owner", None),
        ]
        level = service.service_level_for(s, ids[3])
        assert level is not None
        assert (level.min_copies, level.allowed_regions, level.fixity_interval_days) == (
            3,
            ("BE", "NL"),
            90,
        )
        with pytest.raises(NotFound):
            service.governing_agreement(s, package_id="no-such-package")


def test_an_annex_needs_only_its_parties_and_parent(app: Application) -> None:
    mia = person(app, "mia")
    service.create_draft(app, mia, full_spec(), now=T0)
    annex = service.create_draft(
        app,
        mia,
        {
            "reference": "CRA-2026-001-A1",
            "kind": "collaboration",
            "title": "Annex 1: basic annotation",
            "component": "annex",
            "parent": "CRA-2026-001",
            "effective_from": "2027-01-01",
            "parties": full_spec()["parties"],
        },
        now=T0,
    )
    assert annex.parent == "CRA-2026-001" and annex.missing == ()
    assert service.propose(app, mia, "CRA-2026-001-A1", now=T0).state == "proposed"
    with pytest.raises(InvalidInput, match="parent: no main agreement 'CRA-404'"):
        service.create_draft(
            app, mia, {"reference": "X-1", "kind": "service", "title": "x", "parent": "CRA-404"}
        )


def test_editing_the_parties_of_a_draft_keeps_its_exit_recipient(app: Application) -> None:
    mia = person(app, "mia")
    service.create_draft(app, mia, full_spec(), now=T0)
    parties = [*full_spec()["parties"], {"organisation": "city", "roles": ["successor"]}]
    edited = service.edit_draft(app, mia, "CRA-2026-001", {"parties": parties}, now=T0)
    assert [p.organisation for p in edited.parties] == ["museum", "artist", "archive", "city"]
    assert edited.exit is not None and edited.exit.recipient == "museum"
    without_museum = [p for p in parties if p["organisation"] != "museum"]
    with pytest.raises(InvalidInput, match=r"exit\.recipient: museum would no longer be a party"):
        service.edit_draft(app, mia, "CRA-2026-001", {"parties": without_museum}, now=T0)
    moved = service.edit_draft(
        app,
        mia,
        "CRA-2026-001",
        {"parties": without_museum, "exit": dict(full_spec()["exit"], recipient="city")},
        now=T0,
    )
    assert moved.exit is not None and moved.exit.recipient == "city"
    assert moved.accepted_formats == ("fmt/353", "fmt/43")
    assert moved.preferred_formats == ("fmt/353",)


def test_parties_agreeing_at_the_same_moment_are_all_counted(app: Application) -> None:
    import threading

    mia = person(app, "mia")
    service.create_draft(app, mia, full_spec(), now=T0)
    service.propose(app, mia, "CRA-2026-001", now=T0)
    service.agree(app, mia, "CRA-2026-001", "museum", now=T0)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def agree(username: str, party: str) -> None:
        who = person(app, username)
        start.wait()
        try:
            service.agree(app, who, "CRA-2026-001", party, now=T0)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [
        threading.Thread(target=agree, args=("arno", "artist")),
        threading.Thread(target=agree, args=("cas", "archive")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    shown = service.show(app, "CRA-2026-001")
    assert shown.state == "pending_signature"
    assert [p.decision for p in shown.parties] == ["agree", "agree", "agree"]


def test_the_same_reference_created_twice_at_once_is_a_conflict(app: Application) -> None:
    import threading

    start = threading.Barrier(2)
    outcomes: list[str] = []

    def create(username: str) -> None:
        who = person(app, username)
        start.wait()
        try:
            service.create_draft(app, who, full_spec(), now=T0)
            outcomes.append("created")
        except Conflict as refused:
            outcomes.append(str(refused))

    threads = [threading.Thread(target=create, args=(u,)) for u in ("mia", "cas")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == [
        "agreement CRA-2026-001 exists already; amend it or choose another reference",
        "created",
    ]
    assert len(service.list_agreements(app, all_versions=True)) == 1
