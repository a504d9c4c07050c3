"""A repository with a museum, an archive service and an agreement between them over the
museum's collection 'photos', for the enforcement tests (copies, fixity, access)."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from preserve.bootstrap import Application
from preserve.catalogue.models import Membership, Organisation, User
from preserve.services import agreements as service
from preserve.services.access import Principal
from preserve.services.accounts import principal_for

T0 = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
START = date(2026, 11, 29)
#: people: username -> (memberships, repository admin)
PEOPLE: dict[str, tuple[dict[str, str], bool]] = {
    "mia": ({"museum": "archivist"}, False),
    "vera": ({"museum": "viewer"}, False),
    "pia": ({"museum": "viewer", "artist": "viewer"}, False),
    "arno": ({"artist": "admin"}, False),
    "cas": ({"archive": "archivist"}, False),
    "root": ({}, True),
}


def add_people(app: Application) -> None:
    """Organisations museum, artist and archive, and the people of :data:`PEOPLE`."""
    with app.uow() as uow:
        s = uow.session
        orgs = {}
        for slug, name in (
            ("museum", "The Museum"),
            ("artist", "Studio An Artist"),
            ("archive", "The Archive Service"),
        ):
            org = s.scalar(sa.select(Organisation).where(Organisation.slug == slug))
            if org is None:
                org = Organisation(slug=slug, name=name)
                s.add(org)
            orgs[slug] = org
        s.flush()
        for username, (memberships, admin) in PEOPLE.items():
            user = User(username=username, display_name=username.title(), is_admin=admin)
            s.add(user)
            s.flush()
            for slug, role in memberships.items():
                s.add(Membership(user_id=user.id, organisation_id=orgs[slug].id, role=role))
        uow.commit()


def person(app: Application, username: str) -> Principal:
    with app.uow() as uow:
        user_id = uow.session.scalar(sa.select(User.id).where(User.username == username))
    assert user_id is not None
    found = principal_for(app, user_id)
    assert found is not None
    return found


BASE: dict[str, Any] = {
    "reference": "ENF-2026-001",
    "kind": "deposit",
    "title": "Deposit of the museum's photos",
    "effective_from": START.isoformat(),
    "review_interval_months": 60,
    "notice_period_days": 90,
    "parties": [
        {"organisation": "museum", "roles": ["owner_depositor"], "authorities": []},
        {"organisation": "artist", "roles": ["creator_rights_holder"], "authorities": []},
        {"organisation": "archive", "roles": ["custodian"], "authorities": []},
    ],
    "scope": [{"collection": "museum/photos"}],
    "retention": {
        "action": "keep_permanently",
        "trigger": "ingest_date",
        "period": {"value": 0, "unit": "years"},
        "bound": "minimum",
        "motivation": "Kept for good.",
        "legal_basis": "Deposit",
    },
    "service_level": {
        "min_copies": 2,
        "min_distinct_sites": 1,
        "allowed_regions": [],
        "offline_copy_required": False,
        "fixity_interval_days": 90,
    },
    "rights": [{"act": "replicate", "restriction": "allow"}],
    "access": [],
    "exit": {
        "recipient": "museum",
        "package_format": "bagit_premis",
        "deadline_days": 90,
        "post_exit_action": "delete_with_certificate",
    },
}


def spec(**changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(BASE)
    for key, value in changes.items():
        if key == "service_level":
            out["service_level"].update(value)
        else:
            out[key] = value
    return out


def make_active(
    app: Application, the_spec: dict[str, Any], *, at: datetime = T0
) -> service.AgreementDetail:
    """Create, propose, agree, sign and activate ``the_spec`` for all three parties."""
    detail = service.create_draft(app, person(app, "mia"), the_spec, now=at)
    return walk_to_active(app, detail.label.replace(" v", "/v"), at=at)


def walk_to_active(app: Application, ident: str, *, at: datetime = T0) -> service.AgreementDetail:
    service.propose(app, person(app, "mia"), ident, now=at)
    signers = (("mia", "museum"), ("arno", "artist"), ("cas", "archive"))
    for who, party in signers:
        service.agree(app, person(app, who), ident, party, now=at)
    for who, party in signers:
        service.sign(app, person(app, who), ident, party, capacity="director", now=at)
    return service.activate(app, person(app, "cas"), ident, now=at)
