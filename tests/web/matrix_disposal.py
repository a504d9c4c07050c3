"""Objects of the authorisation matrix for the disposal routes (issue 12): a fresh disposal of
``ours`` or ``theirs`` in the state a step needs, over a fresh package row of its own.

Each organisation has one agreement (made once per world) whose parties are the organisation
itself (owner and custodian, approving disposals) and ``node`` (a storage node none of the
matrix's people belongs to, as in tests/web/matrix_agreements.py), so the organisation's
archivists and admins may approve and execute, a repository admin may act as custodian staff,
and no one of the other organisation sees it. Requests are asked for by ``node-keeper``, so no
matrix person is refused as the requester, and each organisation has a second archivist, so a
request a matrix person proposes is never refused for having no approver but them. The
packages are bare catalogue rows (no objects): the routes' guards, not storage, are what the
matrix checks."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from preserve.catalogue.agreements import AgreementParty
from preserve.catalogue.disposal import DisposalApproval, DisposalPackage, DisposalRequest
from preserve.catalogue.models import Collection, Organisation, Package, User
from preserve.catalogue.retention import PackageRetention
from preserve.services import accounts, agreements, disposal

NODE = "node"
NODE_KEEPER = "node-keeper"
COLLECTIONS = {"ours": "photos", "theirs": "letters"}
_numbers = itertools.count(1)
#: (id of the world, organisation) -> (agreement id, party entry)
_agreements: dict[tuple[int, str], tuple[int, dict[str, Any]]] = {}


def _principal(app: Any, username: str) -> Any:
    with app.uow() as uow:
        user_id = uow.session.scalar(sa.select(User.id).where(User.username == username))
    return accounts.principal_for(app, user_id)


def _ensure_node(w: Any) -> None:
    if NODE_KEEPER not in w.site.users:
        w.site.repo.run("organisations", "add", NODE, "--name", "Storage node")
        w.site.user(NODE_KEEPER, "archivist", NODE)
    # a second archivist of each organisation: a request a matrix person proposes can still be
    # approved by someone else (one whose only approver is its requester is refused: 409)
    for org in COLLECTIONS:
        w.site.user(f"{org}-colleague", "archivist", org)


def _agreement(w: Any, org: str) -> tuple[int, dict[str, Any]]:
    key = (id(w), org)
    if key in _agreements:
        return _agreements[key]
    _ensure_node(w)
    app = w.app
    mine = w.principal("archivist" if org == "ours" else "stranger")
    node = _principal(app, NODE_KEEPER)
    ref = f"MD-{org}-{next(_numbers)}"
    agreements.create_draft(
        app,
        mine,
        {
            "reference": ref,
            "kind": "deposit",
            "title": f"Disposals of {org}",
            "effective_from": date.today().isoformat(),
            "parties": [
                {
                    "organisation": org,
                    "roles": ["owner_depositor", "custodian"],
                    "authorities": ["approve_disposal"],
                },
                {"organisation": NODE, "roles": ["storage_node"]},
            ],
            "scope": [{"metadata": {"element": "subject", "value": "selects-no-package"}}],
            "retention": {
                "action": "destroy",
                "trigger": "ingest_date",
                "period": {"value": 1, "unit": "years"},
                "motivation": "Kept a year.",
                "legal_basis": "Matrix",
            },
            "service_level": {"min_copies": 1, "fixity_interval_days": 90},
            "rights": [{"act": "replicate", "restriction": "allow"}],
            "exit": {
                "recipient": org,
                "package_format": "bagit",
                "deadline_days": 30,
                "post_exit_action": "delete_with_certificate",
            },
        },
    )
    agreements.propose(app, mine, ref)
    agreements.agree(app, mine, ref, org)
    agreements.agree(app, node, ref, NODE)
    agreements.sign(app, mine, ref, org, capacity="director")
    agreements.sign(app, node, ref, NODE, capacity="director")
    detail = agreements.activate(app, mine, ref)
    with app.uow() as uow:
        party = uow.session.scalars(
            sa.select(AgreementParty)
            .join(Organisation, Organisation.id == AgreementParty.organisation_id)
            .where(AgreementParty.agreement_id == detail.id, Organisation.slug == org)
        ).one()
        entry = {
            "party_id": party.id,
            "organisation_id": party.organisation_id,
            "organisation": org,
            "name": party.organisation.name,
        }
    _agreements[key] = (detail.id, entry)
    return _agreements[key]


def package(w: Any, org: str, agreement_id: int | None = None) -> str:
    """A fresh stored package row of ``org`` (no objects), ingested two years ago: under the
    agreement ``agreement_id`` (its rule destroys a year after ingest) it is really due, as
    execution checks on the real day."""
    _ensure_node(w)  # (and the second archivists: a proposal of it can be approved)
    with w.app.uow() as uow:
        coll = uow.session.scalars(
            sa.select(Collection)
            .join(Organisation, Organisation.id == Collection.organisation_id)
            .where(Organisation.slug == org, Collection.slug == COLLECTIONS[org])
        ).one()
        ingested = datetime.now(UTC) - timedelta(days=730)
        made = Package(
            collection_id=coll.id, title=f"Doomed {org}", status="stored", created_at=ingested
        )
        uow.session.add(made)
        uow.session.flush()
        if agreement_id is not None:
            ref, _, number = _reference(uow.session, agreement_id)
            uow.session.add(
                PackageRetention(
                    package_id=made.id,
                    agreement_id=agreement_id,
                    reference=ref,
                    version_no=number,
                    state="disposal_proposed",
                    retention_start=ingested.date(),
                    retention_due=ingested.date() + timedelta(days=365),
                )
            )
        uow.commit()
        return str(made.id)


def _reference(session: Any, agreement_id: int) -> tuple[str, str, int]:
    from preserve.catalogue.agreements import Agreement

    a = session.get(Agreement, agreement_id)
    return a.reference, "v", a.version_no


def request(w: Any, org: str, state: str = "pending") -> int:
    """A fresh disposal of ``org`` in ``state`` (pending, approved or executed)."""
    agreement_id, entry = _agreement(w, org)
    pid = package(w, org, agreement_id)
    node = _principal(w.app, NODE_KEEPER)
    with w.app.uow() as uow:
        r = DisposalRequest(
            kind="scheduled",
            state="pending",
            organisation_id=entry["organisation_id"],
            agreement_id=agreement_id,
            reference=None,
            rule={},
            reason="",
            required=[entry],
            requested_by=NODE_KEEPER,
            requested_by_id=node.user_id,
        )
        r.items.append(DisposalPackage(package_id=pid, tombstone={"title": f"Doomed {org}"}))
        if state in ("approved", "executed"):
            r.state = "approved"
            r.approvals.append(
                DisposalApproval(
                    organisation_id=entry["organisation_id"],
                    party=org,
                    decision="approve",
                    decided_by="matrix",
                )
            )
        uow.session.add(r)
        uow.commit()
        request_id = r.id
    if state == "executed":
        disposal.execute(w.app, None, request_id)
    return request_id
