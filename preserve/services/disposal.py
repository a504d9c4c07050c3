"""Disposal: the only way a package is ever deleted (issue 12; retention-agreements.md 3.5,
4.2-4.4, 5.1 E11/E12 and 5.2; after RODA's DisposalConfirmation and APTrust's deletion requests).

A request is a batch of packages of one organisation under one agreement version::

    pending -> approved (every party that must approve did) -> executing -> executed (soft)
        -> permanently_deleted (the daily task, once the restore window has passed)
    pending -> rejected (one party said no, with a comment: the packages go back)
    pending, approved -> withdrawn (its requester, the custodian's staff or an administrator
        take it back, with a reason: the packages go back; a hold placed after the approval
        otherwise leaves it stuck)
    executed -> restored (within the window: everything back)
    executing -> execution_failed (not one package could be disposed of)

Kinds: ``scheduled`` (packages whose retention is ``due`` under a rule whose action destroys,
transfers, returns or samples them; approved by every party holding ``approve_disposal``,
by default the owner and the custodian), ``adhoc`` (a deletion outside any schedule, with a
motivation: every party holding ``approve_deletion`` and always the owner, whose approval only
its own archivists and admins may give) and ``exit`` (the post-exit "delete with certificate"
of an agreement, once the receiving party confirmed the checksums: :func:`propose_what_can`
with ``kind="exit"``, which leaves out the packages on hold or in another request and proposes
the others; :func:`propose` refuses the whole list instead). A party's approval is given by one
of its own people as :mod:`preserve.services.agreements` decides for agreeing and signing (its
umbrella party may act for it; a repository administrator only for the custodian); whoever
asked may not approve.

**Execution** re-checks everything under the locks of :func:`holds.require_no_holds` (so a
hold and a disposal are ordered whatever comes first): the request is fully approved, the
agreement is still in force and not suspended, its rights do not disallow ``delete``, and no
package is on hold. Then, one package per transaction, still holding that package's locks:
every object of the package on every location (every version, its event files and what was
quarantined of it) is moved under ``disposed/`` on the same location (``Storage.move``: the
restore bin), its copies leave ``copies`` (kept in ``disposal_copies``) so fixity, replication
and repair never see them again, the package becomes ``disposed`` (the row is its tombstone:
identifiers, events, description, versions), its retention ``disposed``, and a PREMIS
``deletion`` event names the requester, the approvers and who executed it. A package whose
objects a location refuses to delete (S3 Object Lock retention or legal hold) fails with that
reason and everything moved of it is moved back; the others go on. A hold placed after the
execution began waits for that package's transaction; a package disposed of first then carries
the hold in the restore bin, and the permanent deletion leaves it there while the hold lasts.

The execution ends with a dated **declaration** (JSON, its SHA-256 kept, and a Markdown
rendering): every package destroyed (id, title, identifiers, collection, size, files with their
SHA-256), the agreement and the rule, the requester and the approvers with their times.

**Restore window**: ``PRESERVE_DISPOSAL_RESTORE_DAYS`` (30). :func:`restore` moves everything
back within it; afterwards :func:`purge_expired` (the daily task) deletes the restore bin for
good, once per package (locked, idempotent; two at once do it once), prunes the description,
drops the file rows (the declaration lists them) and records a second ``deletion`` event.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from preserve import __version__, premis
from preserve.bootstrap import Application
from preserve.catalogue.agreements import Agreement, AgreementParty, RetentionRule
from preserve.catalogue.disposal import (
    DISPOSAL_KINDS,
    DISPOSAL_STATES,
    DisposalApproval,
    DisposalCopy,
    DisposalPackage,
    DisposalRequest,
)
from preserve.catalogue.models import (
    AuditEntry,
    Collection,
    Copy,
    Derivative,
    File,
    Membership,
    Organisation,
    Package,
    PackageVersion,
    QuarantinedObject,
    StorageLocation,
    User,
)
from preserve.catalogue.retention import PackageRetention
from preserve.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    OnHold,
    PermissionDenied,
    PreserveError,
    StorageError,
    StorageUnavailable,
)
from preserve.services import agreements as ag
from preserve.services import holds, jobs
from preserve.services import retention as schedule
from preserve.services.access import Principal
from preserve.storage.base import ObjectLocked, Storage
from preserve.text import plural

log = logging.getLogger(__name__)

#: What a due package's rule must do for a scheduled disposal.
DISPOSING_ACTIONS = ("destroy", "transfer", "return_to_depositor", "keep_sample")
#: Agreement states under which a disposal may run (suspended: it may not).
IN_FORCE_FOR_DISPOSAL = ("active", "under_review", "notice_given", "exiting")
#: Requests whose packages are still spoken for (a package is in at most one of these).
OPEN_STATES = ("pending", "approved", "executing", "executed")
#: A package's states within an open request that keep it spoken for.
SPOKEN_FOR = ("proposed", "disposed")
#: Where a disposed package's objects wait on their location until restored or purged.
RESTORE_PREFIX = "disposed/"
#: Quarantined objects of a package wait beside its folder's objects under this name.
_QUARANTINE_FOLDER = "_quarantine/"
_QUARANTINE = "quarantine/"
#: Package ids per statement (SQLite's variable limit).
_BATCH = 500


# ----------------------------------------------------------------------------- values


@dataclass(frozen=True)
class PartyDecision:
    """A party whose approval is needed, and its decision so far (None: still to decide)."""

    party: str
    name: str
    decision: str | None
    decided_by: str | None
    decided_at: datetime | None
    comment: str


@dataclass(frozen=True)
class ItemInfo:
    """One package of a request."""

    package_id: str
    title: str
    collection: str
    state: str
    previous_state: str | None
    failure: str | None
    size: int
    file_count: int
    identifiers: tuple[str, ...]
    disposed_at: datetime | None
    #: The active holds on the package (described), while the request is open.
    on_hold: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExitCause:
    """What an exit disposal comes from: the agreement's exit terms (its post-exit action) and
    the exit whose export the receiving party confirmed, not the agreement's retention rule."""

    post_exit_action: str
    recipient: str | None
    export_id: int | None
    confirmed_by: str | None
    confirmed_at: datetime | None

    def as_json(self, *, iso: bool = True) -> dict[str, Any]:
        at = self.confirmed_at
        return {
            "post_exit_action": self.post_exit_action,
            "recipient": self.recipient,
            "export": self.export_id,
            "confirmed_by": self.confirmed_by,
            "confirmed_at": at.isoformat() if iso and at is not None else at,
        }

    def describe(self) -> str:
        """``exit terms: post-exit action delete_with_certificate, after export 1 to museum
        (confirmed by mia on 2026-05-01)``."""
        text = f"the agreement's exit terms: post-exit action {self.post_exit_action}"
        if self.export_id is not None:
            text += f", after export {self.export_id}"
            if self.recipient:
                text += f" to {self.recipient}"
            if self.confirmed_at is not None:
                text += f" (confirmed by {self.confirmed_by} on {self.confirmed_at:%Y-%m-%d})"
        return text


@dataclass(frozen=True)
class DisposalInfo:
    id: int
    kind: str
    state: str
    organisation: str
    agreement: str | None
    rule: dict[str, Any]
    reason: str
    requested_by: str
    requested_at: datetime
    decided_at: datetime | None
    executed_by: str | None
    executed_at: datetime | None
    job_id: str | None
    failure: str | None
    restore_until: datetime | None
    restored_at: datetime | None
    restored_by: str | None
    permanently_deleted_at: datetime | None
    declaration_sha256: str | None
    parties: tuple[PartyDecision, ...]
    items: tuple[ItemInfo, ...]
    #: Of an exit disposal: its exit terms and exit (its ``rule`` is then empty).
    exit: ExitCause | None = None
    withdrawn_at: datetime | None = None
    withdrawn_by: str | None = None
    withdrawal_reason: str | None = None

    @property
    def label(self) -> str:
        return f"disposal {self.id}"

    @property
    def cause(self) -> str:
        """What the disposal comes from: ``retention_rule`` (scheduled), ``exit_terms``
        (exit) or ``adhoc`` (a deletion outside any schedule, with its reason)."""
        return {"scheduled": "retention_rule", "exit": "exit_terms"}.get(self.kind, self.kind)

    @property
    def waiting_for(self) -> tuple[str, ...]:
        """The parties that have not decided yet."""
        return tuple(p.party for p in self.parties if p.decision is None)

    def as_json(self, *, iso: bool = True) -> dict[str, Any]:
        """Plain JSON; ``iso`` False keeps the times as datetimes (for a schema to write)."""

        def when(value: datetime | None) -> str | datetime | None:
            return value.isoformat() if iso and value is not None else value

        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "organisation": self.organisation,
            "agreement": self.agreement,
            "cause": self.cause,
            "rule": self.rule,
            "exit": None if self.exit is None else self.exit.as_json(iso=iso),
            "reason": self.reason,
            "requested_by": self.requested_by,
            "requested_at": when(self.requested_at),
            "decided_at": when(self.decided_at),
            "executed_by": self.executed_by,
            "executed_at": when(self.executed_at),
            "job_id": self.job_id,
            "failure": self.failure,
            "restore_until": when(self.restore_until),
            "restored_at": when(self.restored_at),
            "restored_by": self.restored_by,
            "permanently_deleted_at": when(self.permanently_deleted_at),
            "withdrawn_at": when(self.withdrawn_at),
            "withdrawn_by": self.withdrawn_by,
            "withdrawal_reason": self.withdrawal_reason,
            "declaration_sha256": self.declaration_sha256,
            "waiting_for": list(self.waiting_for),
            "parties": [
                {
                    "party": p.party,
                    "name": p.name,
                    "decision": p.decision,
                    "decided_by": p.decided_by,
                    "decided_at": when(p.decided_at),
                    "comment": p.comment,
                }
                for p in self.parties
            ],
            "packages": [
                {
                    "id": i.package_id,
                    "title": i.title,
                    "collection": i.collection,
                    "state": i.state,
                    "previous_state": i.previous_state,
                    "failure": i.failure,
                    "size": i.size,
                    "file_count": i.file_count,
                    "identifiers": list(i.identifiers),
                    "disposed_at": when(i.disposed_at),
                    "on_hold": list(i.on_hold),
                }
                for i in self.items
            ],
        }


@dataclass(frozen=True)
class Declaration:
    """The dated disposal declaration of an executed request."""

    request_id: int
    sha256: str
    json: str
    text: str


@dataclass(frozen=True)
class Blocked:
    """Why one package cannot be put in a new disposal now (:func:`blocked`)."""

    package_id: str
    #: The open request it is in already (None: none).
    request_id: int | None
    #: The active holds that cover it.
    on_hold: tuple[holds.HoldRef, ...]

    def describe(self) -> str:
        reasons = []
        if self.on_hold:
            reasons.append("on hold: " + "; ".join(r.describe() for r in self.on_hold))
        if self.request_id is not None:
            reasons.append(f"already in disposal {self.request_id}")
        return ", and ".join(reasons)


class HeldPackages(OnHold):
    """A disposal step refused because packages are on hold. HTTP 409 as every
    :class:`OnHold`, and on the command line exit 4 (refused in this state, as every other
    refused disposal step) rather than :class:`PermissionDenied`'s 77: a hold is the state of
    the packages, not a lack of rights of whoever asks."""

    exit_code = Conflict.exit_code


@dataclass(frozen=True)
class PartialProposal:
    """What :func:`propose_what_can` proposed and what it left out."""

    #: The request made (None: every package was left out).
    request: DisposalInfo | None
    #: Package id -> why it was left out.
    left_out: Mapping[str, str]


# ----------------------------------------------------------------------------- helpers


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def _write_lock(session: Session) -> None:
    """SQLite: the database's write lock now (PostgreSQL locks rows instead)."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(sa.text("UPDATE disposal_requests SET id = id WHERE 0"))


def _request(session: Session, request_id: int, *, for_update: bool = False) -> DisposalRequest:
    if for_update:
        _write_lock(session)
        session.execute(
            sa.select(DisposalRequest.id).where(DisposalRequest.id == request_id).with_for_update()
        )
    found = session.get(DisposalRequest, request_id, populate_existing=for_update)
    if found is None:
        raise NotFound(f"no disposal {request_id}")
    return found


def _may_see(session: Session, who: Principal | None, r: DisposalRequest) -> bool:
    """Whoever sees the owning organisation, and the members of the agreement's parties."""
    if who is None or who.is_admin or who.can_view(r.organisation_id):
        return True
    if any(who.role_in(p["organisation_id"]) is not None for p in r.required):
        return True
    if r.agreement_id is None:
        return False
    parties = session.scalars(
        sa.select(AgreementParty.organisation_id).where(
            AgreementParty.agreement_id == r.agreement_id
        )
    )
    return any(who.role_in(org) is not None for org in parties)


def _visible(
    session: Session, who: Principal | None, request_id: int, **kw: Any
) -> DisposalRequest:
    """The request, if ``who`` may see it; NotFound the same whether it does not exist or
    ``who`` may not see it (its existence does not leak)."""
    hidden = NotFound(f"no disposal {request_id} that you may see")
    try:
        r = _request(session, request_id, **kw)
    except NotFound:
        if who is None:
            raise
        raise hidden from None
    if not _may_see(session, who, r):
        raise hidden
    return r


def _label(r: DisposalRequest) -> str:
    return f"disposal {r.id}"


def _collection_label(c: Collection) -> str:
    return f"{c.organisation.slug}/{c.slug}"


def _identifiers(p: Package) -> tuple[str, ...]:
    found: list[str] = [p.id]
    if p.external_identifier:
        found.append(p.external_identifier)
    for label, value in p.bag_info or ():
        if str(label).lower() == "external-identifier" and value:
            found.append(str(value))
    for key in ("identifier", "dc:identifier", "dcterms:identifier"):
        values = (p.description or {}).get(key) or []
        found += [str(v) for v in ([values] if isinstance(values, str) else values)]
    return tuple(dict.fromkeys(found))


def _rule_snapshot(rule: RetentionRule | None) -> dict[str, Any]:
    if rule is None:
        return {}
    return {
        "id": rule.id,
        "action": rule.action,
        "trigger": rule.trigger,
        "period_value": rule.period_value,
        "period_unit": rule.period_unit,
        "bound": rule.bound,
        "motivation": rule.motivation,
        "legal_basis": rule.legal_basis,
    }


def rule_text(rule: Mapping[str, Any]) -> str:
    """One line for a rule snapshot: action, period, trigger, bound."""
    if not rule:
        return "none (an ad-hoc deletion under no agreement)"
    return (
        f"{rule['action']} {rule['period_value']} {rule['period_unit']} after "
        f"{rule['trigger']} ({rule['bound']})"
    )


def _exit_cause(session: Session, r: DisposalRequest) -> ExitCause | None:
    """Of an exit disposal: the exit terms' post-exit action and the latest confirmed export of
    its agreement (once confirmed, no new export is made), else None."""
    if r.kind != "exit" or r.reference is None:
        return None
    from preserve.catalogue.exits import AgreementExit

    row = session.scalars(
        sa.select(AgreementExit)
        .where(AgreementExit.reference == r.reference, AgreementExit.confirmed_at.is_not(None))
        .order_by(AgreementExit.id.desc())
        .limit(1)
    ).first()
    if row is None:
        a = session.get(Agreement, r.agreement_id) if r.agreement_id is not None else None
        terms = a.exit_terms if a is not None else None
        if terms is None:
            return ExitCause("delete_with_certificate", None, None, None, None)
        recipient = terms.recipient.organisation.slug if terms.recipient else None
        return ExitCause(terms.post_exit_action, recipient, None, None, None)
    return ExitCause(
        row.post_exit_action, row.confirmed_party, row.id, row.confirmed_by, row.confirmed_at
    )


def _rule_of(r: DisposalRequest) -> dict[str, Any]:
    """The retention rule a request comes from: none for an exit disposal (its exit terms are
    the cause; requests made before this held the agreement's rule all the same)."""
    return {} if r.kind == "exit" else dict(r.rule or {})


def _cause_text(session: Session, r: DisposalRequest) -> str:
    """``rule destroy 10 years after ...`` or, of an exit disposal, its exit terms."""
    cause = _exit_cause(session, r)
    return cause.describe() if cause is not None else f"rule {rule_text(r.rule)}"


def _exit_json(session: Session, r: DisposalRequest) -> dict[str, Any] | None:
    cause = _exit_cause(session, r)
    return None if cause is None else cause.as_json()


def _info(session: Session, r: DisposalRequest) -> DisposalInfo:
    org = session.get_one(Organisation, r.organisation_id)
    decided = {a.organisation_id: a for a in r.approvals}
    parties = []
    for p in r.required:
        a = decided.get(p["organisation_id"])
        parties.append(
            PartyDecision(
                party=p["organisation"],
                name=p.get("name", p["organisation"]),
                decision=a.decision if a else None,
                decided_by=a.decided_by if a else None,
                decided_at=a.decided_at if a else None,
                comment=a.comment if a else "",
            )
        )
    items = []
    held = (
        holds.holds_on(session, [i.package_id for i in r.items if i.state == "proposed"])
        if r.state in ("pending", "approved", "executing")
        else {}
    )
    for item in r.items:
        t = item.tombstone or {}
        items.append(
            ItemInfo(
                package_id=item.package_id,
                title=t.get("title", ""),
                collection=t.get("collection", ""),
                state=item.state,
                previous_state=item.previous_state,
                failure=item.failure,
                size=int(t.get("size", 0)),
                file_count=int(t.get("file_count", 0)),
                identifiers=tuple(t.get("identifiers", ())),
                disposed_at=item.disposed_at,
                on_hold=tuple(h.describe() for h in held.get(item.package_id, ())),
            )
        )
    return DisposalInfo(
        id=r.id,
        kind=r.kind,
        state=r.state,
        organisation=org.slug,
        agreement=f"{r.reference} v{r.version_no}" if r.reference else None,
        rule=_rule_of(r),
        reason=r.reason,
        requested_by=r.requested_by,
        requested_at=r.requested_at,
        decided_at=r.decided_at,
        executed_by=r.executed_by,
        executed_at=r.executed_at,
        job_id=r.job_id,
        failure=r.failure,
        restore_until=None if _closed_on_its_certificate(session, r) else r.restore_until,
        restored_at=r.restored_at,
        restored_by=r.restored_by,
        permanently_deleted_at=r.permanently_deleted_at,
        declaration_sha256=r.declaration_sha256,
        parties=tuple(parties),
        items=tuple(items),
        exit=_exit_cause(session, r),
        withdrawn_at=r.withdrawn_at,
        withdrawn_by=r.withdrawn_by,
        withdrawal_reason=r.withdrawal_reason,
    )


def _audit(
    session: Session,
    who: Principal | None,
    r: DisposalRequest,
    action: str,
    when: datetime,
    *,
    channel: str,
    remote_addr: str | None = None,
    **detail: Any,
) -> None:
    session.add(
        AuditEntry(
            occurred_at=when,
            user_id=who.user_id if who is not None else None,
            username=who.username if who is not None else "system",
            action=action,
            object_type="disposal",
            object_id=str(r.id),
            organisation_id=r.organisation_id,
            remote_addr=remote_addr,
            channel=channel,
            detail={"kind": r.kind, "packages": [i.package_id for i in r.items], **detail},
        )
    )


def _put_back(session: Session, r: DisposalRequest, item_state: str) -> None:
    """A request that ends before it ran (rejected, withdrawn): each of its packages takes
    ``item_state`` and goes back to the retention state it had before the proposal."""
    for item in r.items:
        item.state = item_state
        row = session.get(PackageRetention, item.package_id)
        if row is not None:
            row.state = item.previous_state or "in_retention"


def _set_retention(session: Session, package_id: str, state: str) -> str | None:
    """Set the package's retention state (when it is under an agreement); returns the old one."""
    row = session.get(PackageRetention, package_id)
    if row is None:
        return None
    old = row.state
    row.state = state
    if state != "retention_error":
        row.error = None
    return old


# ----------------------------------------------------------------------------- reading


def list_requests(
    app: Application, who: Principal | None, *, state: str | None = None
) -> list[DisposalInfo]:
    """The requests the person may see (of their organisations, or naming them as a party
    that must approve), newest first; ``state`` one of :data:`DISPOSAL_STATES`, or ``open``
    (pending, approved, executing, executed)."""
    if state is not None and state not in (*DISPOSAL_STATES, "open"):
        raise InvalidInput(f"unknown state {state!r}: one of open, {', '.join(DISPOSAL_STATES)}")
    with app.uow() as uow:
        s = uow.session
        stmt = sa.select(DisposalRequest).order_by(DisposalRequest.id.desc())
        if state == "open":
            stmt = stmt.where(DisposalRequest.state.in_(OPEN_STATES))
        elif state is not None:
            stmt = stmt.where(DisposalRequest.state == state)
        return [_info(s, r) for r in s.scalars(stmt) if _may_see(s, who, r)]


def show(app: Application, who: Principal | None, request_id: int) -> DisposalInfo:
    with app.uow() as uow:
        return _info(uow.session, _visible(uow.session, who, request_id))


# ----------------------------------------------------------------------------- proposing


def _agreement_now(session: Session, reference: str) -> Agreement | None:
    """The latest version of ``reference`` that took effect (it speaks for the agreement)."""
    return session.scalars(
        sa.select(Agreement)
        .where(Agreement.reference == reference, Agreement.state.in_(ag.TOOK_EFFECT))
        .order_by(Agreement.version_no.desc())
        .limit(1)
    ).first()


def _party_entry(party: AgreementParty) -> dict[str, Any]:
    return {
        "party_id": party.id,
        "organisation_id": party.organisation_id,
        "organisation": party.organisation.slug,
        "name": party.organisation.name,
    }


def _required(a: Agreement | None, kind: str, owner: Organisation) -> list[dict[str, Any]]:
    """The parties whose approval a request needs (retention-agreements.md 5.2)."""
    owner_entry = {
        "party_id": None,
        "organisation_id": owner.id,
        "organisation": owner.slug,
        "name": owner.name,
    }
    if a is None:
        return [owner_entry]
    if kind == "adhoc":
        chosen = [p for p in a.parties if p.approve_deletion]
        out = [_party_entry(p) for p in chosen]
        if not any(p.organisation_id == owner.id for p in chosen):
            mine = [p for p in a.parties if p.organisation_id == owner.id]
            out.insert(0, _party_entry(mine[0]) if mine else owner_entry)
        return out
    chosen = [p for p in a.parties if p.approve_disposal]
    if not chosen:  # the default of 5.2: the owner and the custodian
        chosen = [
            p
            for p in a.parties
            if {"owner_depositor", "custodian"} & set(p.role_names) or p.organisation_id == owner.id
        ]
    return [_party_entry(p) for p in chosen]


def _may_propose(who: Principal, owner_id: int, a: Agreement | None, kind: str) -> None:
    if who.is_admin or who.can(owner_id, "archivist"):
        return
    if kind != "adhoc" and a is not None:
        custodians = [p for p in a.parties if "custodian" in p.role_names]
        if any(who.can(p.organisation_id, "archivist") for p in custodians):
            return
    raise PermissionDenied(
        f"{who.username} may not propose a disposal of these packages: that needs the "
        "archivist or admin role in the organisation owning them"
        + ("" if kind == "adhoc" else " or in the agreement's custodian")
    )


class NoOtherApprover(Conflict):
    """The requester is the only person who could approve for a party whose approval the
    request needs (a requester never approves their own request): it could never be approved."""


def _deciders(session: Session, entry: Mapping[str, Any], r_kind: str, owner_id: int) -> set[int]:
    """The active people who may approve for the party ``entry`` of a request (as
    :func:`_may_decide` allows): archivists and admins of its organisation or of the umbrella
    party representing it, and repository administrators for the custodian (not for the owner
    of an ad-hoc deletion)."""
    orgs = {entry["organisation_id"]}
    admins = False
    party_id = entry.get("party_id")
    party = session.get(AgreementParty, party_id) if party_id is not None else None
    if party is not None and not (r_kind == "adhoc" and entry["organisation_id"] == owner_id):
        if party.represented_by is not None:
            orgs.add(party.represented_by.organisation_id)
        admins = "custodian" in party.role_names
    found = set(
        session.scalars(
            sa.select(Membership.user_id)
            .join(User, User.id == Membership.user_id)
            .where(
                Membership.organisation_id.in_(orgs),
                Membership.role.in_(("archivist", "admin")),
                User.active.is_(True),
            )
        )
    )
    if admins:
        found |= set(
            session.scalars(
                sa.select(User.id).where(User.is_admin.is_(True), User.active.is_(True))
            )
        )
    return found


def _check_approvable(
    session: Session, who: Principal, kind: str, owner: Organisation, a: Agreement | None
) -> None:
    """Refuse (:class:`NoOtherApprover`, exit 4, HTTP 409) a request that could never be
    approved: a party must approve it and nobody but the requester may approve for it (the
    only archivist of the owner, say). Names who else may propose it."""
    for entry in _required(a, kind, owner):
        if _deciders(session, entry, kind, owner.id) != {who.user_id}:
            continue  # others may approve for it (or no one at all: not the requester's doing)
        org = entry["organisation"]
        raise NoOtherApprover(
            f"{who.username} may not propose this disposal: {org} must approve it and "
            f"{who.username} is the only person who may approve for {org} (whoever proposes a "
            f"disposal may not approve it); {_other_proposers(session, who, kind, owner, a)}"
        )


def _other_proposers(
    session: Session, who: Principal, kind: str, owner: Organisation, a: Agreement | None
) -> str:
    """``it may be proposed by cas (archive) or carl (archive)``: people who may propose (as
    :func:`_may_propose` allows), custodian staff first, other than ``who``."""
    orgs = [p.organisation for p in (a.parties if a else []) if "custodian" in p.role_names]
    if kind == "adhoc":
        orgs = []
    orgs.append(owner)
    names: list[str] = []
    for org in orgs:
        for name in session.scalars(
            sa.select(User.username)
            .join(Membership, Membership.user_id == User.id)
            .where(
                Membership.organisation_id == org.id,
                Membership.role.in_(("archivist", "admin")),
                User.active.is_(True),
                User.id != who.user_id,
            )
            .order_by(User.username)
        ):
            names.append(f"{name} ({org.slug})")
    names += [
        f"{name} (administrator)"
        for name in session.scalars(
            sa.select(User.username)
            .where(User.is_admin.is_(True), User.active.is_(True), User.id != who.user_id)
            .order_by(User.username)
        )
    ]
    names = list(dict.fromkeys(names))
    if not names:
        return (
            f"no one else may propose it: give another person the archivist role in "
            f"{owner.slug} (preserve users set-role USER {owner.slug} archivist)"
        )
    shown = " or ".join(names[:3]) + (" ..." if len(names) > 3 else "")
    return f"it may be proposed by {shown}"


def _spoken_for(session: Session, package_ids: Sequence[str]) -> dict[str, int]:
    """Packages already in an open request: package id -> request id."""
    found: dict[str, int] = {}
    for start in range(0, len(package_ids), _BATCH):
        chunk = package_ids[start : start + _BATCH]
        for pid, rid in session.execute(
            sa.select(DisposalPackage.package_id, DisposalRequest.id)
            .join(DisposalRequest, DisposalRequest.id == DisposalPackage.request_id)
            .where(
                DisposalPackage.package_id.in_(chunk),
                DisposalPackage.state.in_(SPOKEN_FOR),
                DisposalRequest.state.in_(OPEN_STATES),
            )
        ):
            found[pid] = rid
    return found


def blocked(session: Session, package_ids: Iterable[str]) -> dict[str, Blocked]:
    """The packages of ``package_ids`` that cannot be put in a new disposal now, by id, each
    with why: already in an open request, or under an active hold (directly or through its
    collection). Packages not named are free of these per-package guards (the whole request
    may still be refused: permission, the agreement ...). :func:`propose` refuses a list with
    any of them; :func:`propose_what_can` and :func:`propose_due` leave them out."""
    ids = sorted(set(package_ids))
    busy = _spoken_for(session, ids)
    held = holds.holds_on(session, ids)
    return {
        pid: Blocked(pid, busy.get(pid), tuple(held.get(pid, ())))
        for pid in sorted(busy.keys() | held.keys())
    }


def _new_request(
    session: Session,
    who: Principal,
    *,
    kind: str,
    owner: Organisation,
    agreement: Agreement | None,
    packages: Sequence[Package],
    reason: str,
    at: datetime,
) -> DisposalRequest:
    rule = (
        session.scalar(sa.select(RetentionRule).where(RetentionRule.agreement_id == agreement.id))
        if agreement is not None and kind != "exit"  # an exit's deletion: its exit terms
        else None
    )
    r = DisposalRequest(
        kind=kind,
        state="pending",
        organisation_id=owner.id,
        agreement_id=agreement.id if agreement else None,
        reference=agreement.reference if agreement else None,
        version_no=agreement.version_no if agreement else None,
        rule=_rule_snapshot(rule),
        reason=reason,
        required=_required(agreement, kind, owner),
        requested_by=who.username,
        requested_by_id=who.user_id,
        requested_at=at,
    )
    for p in packages:
        previous = _set_retention(session, p.id, "disposal_proposed")
        r.items.append(
            DisposalPackage(
                package_id=p.id,
                state="proposed",
                previous_state=previous,
                tombstone=_tombstone(p),
            )
        )
    session.add(r)
    session.flush()
    return r


def _marked_on(row: PackageRetention, at: datetime) -> Any:
    """The day a ``due`` package is judged on when it is proposed: today, or the day it was
    marked due as of (``preserve agreements advance --date`` rehearses a later day), so a
    rehearsal can propose; the execution judges on the real today."""
    today = at.date()
    return max(today, row.retention_due) if row.retention_due is not None else today


def _tombstone(p: Package) -> dict[str, Any]:
    """What is kept of a package in its request: enough to say what it was."""
    return {
        "title": p.title,
        "identifiers": list(_identifiers(p)),
        "collection": _collection_label(p.collection),
        "created_at": p.created_at.isoformat() if p.created_at else None,
        "stored_at": p.stored_at.isoformat() if p.stored_at else None,
        "versions": p.version,
        "size": p.size,
        "file_count": p.file_count,
    }


def propose(
    app: Application,
    who: Principal,
    packages: Sequence[str],
    *,
    kind: str = "adhoc",
    reason: str = "",
    agreement: str | None = None,
    channel: str = "cli",
    remote_addr: str | None = None,
    now: datetime | None = None,
) -> DisposalInfo:
    """Propose the disposal of ``packages`` (ids, prefixes or identifiers, as ``preserve show``
    takes them), all of one organisation and one agreement: ``adhoc`` (needs ``reason``),
    ``scheduled`` (each must be due under a rule that disposes) or ``exit`` (the post-exit
    deletion of ``agreement``, which must be exiting or closing). A package that is not
    stored, already in an open request or on hold refuses the whole list."""
    info, _left_out = _propose(
        app,
        who,
        packages,
        kind=kind,
        reason=reason,
        agreement=agreement,
        channel=channel,
        remote_addr=remote_addr,
        now=now,
        partial=False,
    )
    assert info is not None
    return info


def propose_what_can(
    app: Application,
    who: Principal,
    packages: Sequence[str],
    *,
    kind: str = "adhoc",
    reason: str = "",
    agreement: str | None = None,
    channel: str = "cli",
    remote_addr: str | None = None,
    now: datetime | None = None,
) -> PartialProposal:
    """As :func:`propose`, but the packages refused one by one (not stored, already in an open
    request, on hold: :func:`blocked`) are left out and named with why, and the others are
    proposed in one request (none when every package is left out). What is not about one
    package (the person may not propose, several organisations or agreements, the agreement's
    state ...) still refuses the whole list. A held package is never in the request."""
    info, left_out = _propose(
        app,
        who,
        packages,
        kind=kind,
        reason=reason,
        agreement=agreement,
        channel=channel,
        remote_addr=remote_addr,
        now=now,
        partial=True,
    )
    return PartialProposal(info, left_out)


def _propose(
    app: Application,
    who: Principal,
    packages: Sequence[str],
    *,
    kind: str,
    reason: str,
    agreement: str | None,
    channel: str,
    remote_addr: str | None,
    now: datetime | None,
    partial: bool,
) -> tuple[DisposalInfo | None, dict[str, str]]:
    """:func:`propose` (``partial`` False) and :func:`propose_what_can` (True)."""
    at = _now(now)
    if kind not in DISPOSAL_KINDS:
        raise InvalidInput(f"unknown kind of disposal {kind!r}: one of {', '.join(DISPOSAL_KINDS)}")
    reason = (reason or "").strip()
    if kind == "adhoc" and not reason:
        raise InvalidInput(
            "an ad-hoc deletion needs a motivation (--reason): why must these go outside "
            "their schedule?"
        )
    if not packages:
        raise InvalidInput("name at least one package to dispose of")
    with app.uow() as uow:
        s = uow.session
        found: dict[str, Package] = {}
        for text in packages:
            p = holds._package(uow, who, text)
            found[p.id] = p
        chosen = [found[k] for k in sorted(found)]
        not_stored = [p for p in chosen if p.status != "stored"]
        if not_stored and not partial:
            p = not_stored[0]
            raise Conflict(
                f"package {p.id} is {p.status}: only a stored package can be disposed of"
            )
        left_out = {
            p.id: f"it is {p.status}: only a stored package can be disposed of" for p in not_stored
        }
        owners = {p.collection.organisation_id for p in chosen}
        if len(owners) > 1:
            raise InvalidInput(
                "the packages belong to several organisations: propose one disposal per "
                "organisation"
            )
        owner = s.get_one(Organisation, owners.pop())
        links = {p.id: s.get(PackageRetention, p.id) for p in chosen}
        references = {row.reference for row in links.values() if row is not None}
        versions = {row.agreement_id for row in links.values() if row is not None}
        if agreement is not None:
            a = ag._find(s, agreement)
            wrong = [
                pid for pid, row in links.items() if row is None or row.reference != a.reference
            ]
            if wrong:
                raise InvalidInput(f"package {wrong[0]} is not under agreement {a.reference}")
        elif len(references) > 1:
            raise InvalidInput(
                "the packages are under several agreements ("
                + ", ".join(sorted(references))
                + "): propose one disposal per agreement"
            )
        elif references:
            if _agreement_now(s, references.pop()) is None:
                raise Conflict("the packages' agreement is no longer in force")
            if len(versions) > 1:
                raise InvalidInput(
                    "the packages are under several versions of their agreement ("
                    + ", ".join(
                        sorted({f"{r.reference} v{r.version_no}" for r in links.values() if r})
                    )
                    + "): propose one disposal per version"
                )
            # the version the packages are under: its rule made them due, its parties approve
            a = s.get_one(Agreement, versions.pop())
        else:
            a = None
        if kind != "adhoc" and a is None:
            raise InvalidInput(
                f"a {kind} disposal needs packages under an agreement; for others propose an "
                "ad-hoc deletion (--adhoc --reason ...)"
            )
        if kind == "scheduled":
            for p in chosen:
                if p.id in left_out:
                    continue
                row = links[p.id]
                if row is None or row.state != "due":
                    raise Conflict(
                        f"package {p.id} is not due for disposal (its retention is "
                        f"{row.state if row else 'not under an agreement'})"
                    )
                why = schedule.not_due_reason(s, p.id, _marked_on(row, at))
                if why is not None:
                    raise Conflict(f"package {p.id} is not due for disposal: {why}")
        if kind == "scheduled" and chosen:
            refusal = _delete_disallowed(s, chosen[0].id, at.date(), kind)
            if refusal is not None:
                raise Conflict(f"cannot propose this disposal: {refusal}")
        if kind == "exit" and a is not None and a.state not in ("exiting", "closed", "expired"):
            raise Conflict(
                f"agreement {a.reference} v{a.version_no} is {a.state}: the exit's deletion "
                "comes after its exit has started"
            )
        if kind == "adhoc" and a is not None:
            refusal = _delete_disallowed(s, chosen[0].id, at.date(), kind)
            if refusal is not None:
                raise Conflict(refusal)
        _may_propose(who, owner.id, a, kind)
        _check_approvable(s, who, kind, owner, a)
        found_blocked = blocked(s, [p.id for p in chosen if p.id not in left_out])
        if not partial:
            busy = sorted(pid for pid, b in found_blocked.items() if b.request_id is not None)
            if busy:
                raise Conflict(
                    f"package {busy[0]} is already in disposal {found_blocked[busy[0]].request_id}"
                )
            if found_blocked:
                raise HeldPackages(
                    holds._on_hold_message(
                        {pid: list(b.on_hold) for pid, b in found_blocked.items()}
                    )
                )
        left_out.update((pid, b.describe()) for pid, b in found_blocked.items())
        chosen = [p for p in chosen if p.id not in left_out]
        if not chosen:
            return None, left_out
        r = _new_request(
            s, who, kind=kind, owner=owner, agreement=a, packages=chosen, reason=reason, at=at
        )
        _audit(s, who, r, "disposal.propose", at, channel=channel, remote_addr=remote_addr)
        info = _info(s, r)
        uow.commit()
    log.info(
        "disposal %s proposed (%s, %d packages%s) by %s",
        info.id,
        kind,
        len(chosen),
        f", {len(left_out)} left out" if left_out else "",
        who.label,
    )
    return info, left_out


def propose_due(
    app: Application,
    who: Principal,
    *,
    agreement: str | None = None,
    channel: str = "cli",
    remote_addr: str | None = None,
    now: datetime | None = None,
) -> list[DisposalInfo]:
    """Propose the scheduled disposal of every package that is ``due`` under a rule that
    disposes (of ``agreement`` only, when given) and that the person may propose: one request
    per agreement and organisation. Packages on hold or already in a request are left out."""
    at = _now(now)
    made: list[DisposalInfo] = []
    with app.uow() as uow:
        s = uow.session
        stmt = (
            sa.select(PackageRetention, RetentionRule.action)
            .join(RetentionRule, RetentionRule.agreement_id == PackageRetention.agreement_id)
            .join(Package, Package.id == PackageRetention.package_id)
            .where(
                PackageRetention.state == "due",
                RetentionRule.action.in_(DISPOSING_ACTIONS),
                Package.status == "stored",
            )
            .order_by(PackageRetention.package_id)
        )
        if agreement is not None:
            a = ag._find_visible(s, agreement, who)
            stmt = stmt.where(PackageRetention.reference == a.reference)
        rows = [row for row, _action in s.execute(stmt)]
        ids = [row.package_id for row in rows]
        left_out = blocked(s, ids)
        held = [pid for pid, b in left_out.items() if b.on_hold]
        groups: dict[tuple[int, int], list[Package]] = {}
        not_due: list[str] = []
        for row in rows:
            if row.package_id in left_out:
                continue
            # still due with the rule and description as they are now (recomputed dates count)
            why = schedule.not_due_reason(s, row.package_id, _marked_on(row, at))
            if why is not None:
                not_due.append(f"package {row.package_id}: {why}")
                schedule.reschedule_package(s, row.package_id, at)
                continue
            p = s.get_one(Package, row.package_id)
            # one request per version the packages are under (its rule made them due)
            groups.setdefault((row.agreement_id, p.collection.organisation_id), []).append(p)
        if not groups:
            uow.commit()  # the packages found not due go back under their retention
            raise NotFound(
                "no package is due for disposal"
                + (f" under agreement {agreement}" if agreement else "")
                + (f" ({len(held)} due on hold)" if held else "")
                + (
                    f"; {len(not_due)} marked due are not due by their rule as it is now: "
                    + "; ".join(not_due[:3])
                    + ("; ..." if len(not_due) > 3 else "")
                    if not_due
                    else ""
                )
            )
        requests = []
        refused: list[PreserveError] = []
        for (version_id, owner_id), chosen in sorted(groups.items()):
            version = s.get_one(Agreement, version_id)
            if _agreement_now(s, version.reference) is None:
                continue
            a_now = version
            owner = s.get_one(Organisation, owner_id)
            try:
                refusal = _delete_disallowed(s, chosen[0].id, at.date(), "scheduled")
                if refusal is not None:
                    raise Conflict(
                        f"{plural(len(chosen), 'due package')} of {owner.slug} not proposed: "
                        + refusal
                    )
                _may_propose(who, owner_id, a_now, "scheduled")
                _check_approvable(s, who, "scheduled", owner, a_now)
            except (PermissionDenied, NoOtherApprover, Conflict) as exc:
                if len(groups) == 1:
                    raise
                refused.append(exc)
                continue
            r = _new_request(
                s,
                who,
                kind="scheduled",
                owner=owner,
                agreement=a_now,
                packages=chosen,
                reason="",
                at=at,
            )
            _audit(s, who, r, "disposal.propose", at, channel=channel, remote_addr=remote_addr)
            requests.append(r)
        if not requests:
            unapprovable = [e for e in refused if isinstance(e, NoOtherApprover | Conflict)]
            if unapprovable:
                raise unapprovable[0]
            raise PermissionDenied(
                f"{who.username} may not propose the disposal of any of the due packages"
            )
        made = [_info(s, r) for r in requests]
        uow.commit()
    for left_out_why in refused:  # the others were proposed: say what was left out, and why
        log.warning("%s", left_out_why)
    for info in made:
        log.info("disposal %s proposed (scheduled, %d packages)", info.id, len(info.items))
    return made


# ----------------------------------------------------------------------------- deciding


def _party_of(r: DisposalRequest, party: str) -> dict[str, Any]:
    slug = party.strip()
    for p in r.required:
        if p["organisation"] == slug:
            return dict(p)
    raise InvalidInput(
        f"{slug!r} does not decide on {_label(r)}: the parties that must approve it are "
        + ", ".join(p["organisation"] for p in r.required)
    )


def _may_decide(
    session: Session, who: Principal, r: DisposalRequest, entry: Mapping[str, Any]
) -> None:
    """Whether ``who`` may decide for the party ``entry`` of ``r``."""
    doing = "approve or reject the disposal"
    if r.requested_by_id is not None and who.user_id == r.requested_by_id:
        raise PermissionDenied(
            f"{who.username} asked for {_label(r)} and may not approve or reject it: another "
            "person of each party decides (four eyes)"
        )
    party_id = entry.get("party_id")
    party = session.get(AgreementParty, party_id) if party_id is not None else None
    owner = entry["organisation_id"] == r.organisation_id
    if r.kind == "adhoc" and owner:
        # the owner's approval of a deletion outside any schedule: only its own people
        if ag._membership_role(who, r.organisation_id) in ("archivist", "admin"):
            return
        if who.is_admin:
            raise PermissionDenied(
                f"{who.username} is a repository administrator, not a member of "
                f"{entry['organisation']}: operator staff never approve a deletion for the owner"
            )
        raise PermissionDenied(
            f"{who.username} may not {doing} for {entry['organisation']}: only its own "
            "archivists and admins may"
        )
    if party is None:
        if ag._membership_role(who, entry["organisation_id"]) in ("archivist", "admin"):
            return
        raise PermissionDenied(
            f"{who.username} may not {doing} for {entry['organisation']}: only its own "
            "archivists and admins may"
        )
    ag._may_act_for(who, party, doing)


def _decide(
    app: Application,
    who: Principal,
    request_id: int,
    party: str,
    decision: str,
    comment: str,
    *,
    channel: str,
    remote_addr: str | None,
    now: datetime | None,
) -> DisposalInfo:
    at = _now(now)
    with app.uow() as uow:
        s = uow.session
        r = _visible(s, who, request_id, for_update=True)
        entry = _party_of(r, party)
        if r.state != "pending":
            raise Conflict(
                f"cannot {decision} {_label(r)}: it is {r.state.replace('_', ' ')}, not pending"
            )
        _may_decide(s, who, r, entry)
        earlier = [a for a in r.approvals if a.organisation_id == entry["organisation_id"]]
        if earlier:
            e = earlier[0]
            raise Conflict(
                f"{entry['organisation']} has already decided on {_label(r)}: {e.decision} by "
                f"{e.decided_by} on {e.decided_at:%Y-%m-%d %H:%M} UTC"
            )
        if decision == "approve":
            held = holds.holds_on(s, [i.package_id for i in r.items])
            if held:
                raise HeldPackages(_held_message(r, held))
        r.approvals.append(
            DisposalApproval(
                organisation_id=entry["organisation_id"],
                party=entry["organisation"],
                decision=decision,
                user_id=who.user_id,
                decided_by=who.username,
                decided_at=at,
                comment=comment,
            )
        )
        s.flush()
        if decision == "reject":
            r.state, r.decided_at = "rejected", at
            _put_back(s, r, "rejected")
        elif all(
            any(
                a.organisation_id == p["organisation_id"] and a.decision == "approve"
                for a in r.approvals
            )
            for p in r.required
        ):
            r.state, r.decided_at = "approved", at
            for item in r.items:
                _set_retention(s, item.package_id, "disposal_approved")
        _audit(
            s,
            who,
            r,
            f"disposal.{decision}",
            at,
            channel=channel,
            remote_addr=remote_addr,
            party=entry["organisation"],
            comment=comment,
        )
        info = _info(s, r)
        try:
            uow.commit()
        except sa.exc.IntegrityError:  # the same party decided at the same moment elsewhere
            raise Conflict(f"{entry['organisation']} has already decided on {_label(r)}") from None
    log.info("%s: %s %s for %s", info.label, who.label, decision, entry["organisation"])
    return info


def approve(
    app: Application,
    who: Principal,
    request_id: int,
    party: str,
    *,
    comment: str = "",
    channel: str = "cli",
    remote_addr: str | None = None,
    now: datetime | None = None,
) -> DisposalInfo:
    """``party`` approves; once every party that must has approved, the request is approved."""
    return _decide(
        app,
        who,
        request_id,
        party,
        "approve",
        (comment or "").strip(),
        channel=channel,
        remote_addr=remote_addr,
        now=now,
    )


def reject(
    app: Application,
    who: Principal,
    request_id: int,
    party: str,
    comment: str,
    *,
    channel: str = "cli",
    remote_addr: str | None = None,
    now: datetime | None = None,
) -> DisposalInfo:
    """``party`` rejects (a comment is required): the packages go back to the retention state
    they had before the proposal."""
    text = (comment or "").strip()
    if not text:
        raise InvalidInput("a rejection needs a comment (--comment): why must these be kept?")
    return _decide(
        app,
        who,
        request_id,
        party,
        "reject",
        text,
        channel=channel,
        remote_addr=remote_addr,
        now=now,
    )


#: The states a request may be withdrawn in (not once it runs: executing, executed).
WITHDRAWABLE = ("pending", "approved")


def _may_withdraw(session: Session, who: Principal, r: DisposalRequest) -> None:
    """Its requester, or whoever may execute it (the custodian's archivists and admins, a
    repository administrator; without an agreement, the owner's archivists and admins)."""
    if r.requested_by_id is not None and who.user_id == r.requested_by_id:
        return
    if r.reference is None:
        _may_execute(who, r, None, "withdraw")
        return
    a = _agreement_now(session, r.reference) or session.get(Agreement, r.agreement_id)
    try:
        _may_execute(who, r, a, "withdraw")
    except PermissionDenied:
        raise PermissionDenied(
            f"{who.username} may not withdraw {_label(r)}: only whoever asked for it "
            f"({r.requested_by}), the archivists and admins of the agreement's custodian or a "
            "repository administrator may"
        ) from None


def withdraw(
    app: Application,
    who: Principal,
    request_id: int,
    reason: str,
    *,
    channel: str = "cli",
    remote_addr: str | None = None,
    now: datetime | None = None,
) -> DisposalInfo:
    """Take back a pending or approved request (a ``reason`` is required): it becomes
    ``withdrawn`` and its packages go back to the retention state they had before the
    proposal, as on a rejection. The way out of an approved disposal that a hold placed
    afterwards blocks: withdraw it and propose again without the held package."""
    text = (reason or "").strip()
    if not text:
        raise InvalidInput("a withdrawal needs a reason (--reason): why is it taken back?")
    at = _now(now)
    with app.uow() as uow:
        s = uow.session
        r = _visible(s, who, request_id, for_update=True)
        if r.state not in WITHDRAWABLE:
            hint = "; restore it instead, in its restore window" if r.state == "executed" else ""
            raise Conflict(
                f"cannot withdraw {_label(r)}: it is {r.state.replace('_', ' ')} (only a "
                f"pending or approved disposal can be withdrawn{hint})"
            )
        _may_withdraw(s, who, r)
        was = r.state
        r.state = "withdrawn"
        r.withdrawn_at, r.withdrawn_by, r.withdrawal_reason = at, who.username, text
        _put_back(s, r, "withdrawn")
        _audit(
            s,
            who,
            r,
            "disposal.withdraw",
            at,
            channel=channel,
            remote_addr=remote_addr,
            reason=text,
            was=was,
        )
        info = _info(s, r)
        uow.commit()
    log.info("%s withdrawn by %s: %s", info.label, who.label, text)
    return info


# ----------------------------------------------------------------------------- executing


def _may_execute(who: Principal, r: DisposalRequest, a: Agreement | None, doing: str) -> None:
    if who.is_admin:
        return
    if a is not None:
        ag._custodian_staff(who, a, doing)
        return
    if not who.can(r.organisation_id, "archivist"):
        raise PermissionDenied(
            f"{who.username} may not {doing} {_label(r)}: that needs the archivist or admin "
            "role in the organisation owning the packages"
        )


def _held_message(r: DisposalRequest, held: Mapping[str, Sequence[holds.HoldRef]]) -> str:
    """Why a disposal cannot go on: the packages on hold and their holds, and the two ways out
    (lift the hold, or withdraw the disposal and propose again without them)."""
    others = len(r.items) - len(held)
    again = ""
    if others > 0:
        without = "it" if len(held) == 1 else "them"
        again = f" and propose the other {plural(others, 'package')} again without {without}"
    return (
        f"{_label(r)} cannot go on: "
        + holds._on_hold_message({pid: list(refs) for pid, refs in held.items()})
        + f"; or withdraw it (preserve disposal withdraw {r.id} --reason ...){again}"
    )


def _fully_approved(r: DisposalRequest) -> list[str]:
    """The parties whose approval is missing."""
    return [
        p["organisation"]
        for p in r.required
        if not any(
            a.organisation_id == p["organisation_id"] and a.decision == "approve"
            for a in r.approvals
        )
    ]


def _delete_disallowed(session: Session, package_id: str, today: Any, kind: str) -> str | None:
    """Why the agreement over ``package_id`` forbids deleting it on ``today`` (its rights
    disallow the act delete) in a disposal of ``kind``, or None. A scheduled disposal is refused
    on it when proposed, not only when executed: approved by every party and then refused, it
    could only be withdrawn. (An exit's deletion is allowed by its exit terms: not asked.)"""
    rights = ag.rights_for(session, package_id=package_id)
    if rights is None or rights.act("delete", today) != "disallow":
        return None
    if kind == "scheduled":
        return (
            f"agreement {rights.agreement} disallows delete, although its retention rule "
            "disposes of the packages: the parties amend it (rights: delete allow or "
            "conditional) before they can be disposed of"
        )
    return (
        f"agreement {rights.agreement} disallows delete: these packages cannot be deleted "
        "outside their schedule"
    )


def _recheck(session: Session, r: DisposalRequest, today: Any) -> Agreement | None:
    """What must still hold when a disposal runs (Conflict naming what does not)."""
    missing = _fully_approved(r)
    if missing:
        raise Conflict(
            f"cannot execute {_label(r)}: it still needs the approval of " + ", ".join(missing)
        )
    if r.reference is None:
        return None
    a = _agreement_now(session, r.reference)
    if a is None or a.state not in IN_FORCE_FOR_DISPOSAL:
        state = a.state.replace("_", " ") if a is not None else "no longer in force"
        raise Conflict(
            f"cannot execute {_label(r)}: agreement {r.reference} is {state}"
            + (
                " (a suspended agreement allows no disposal until it is resumed)"
                if a is not None and a.state == "suspended"
                else ""
            )
        )
    for item in r.items:
        if item.state != "proposed" or r.kind == "exit":
            # an exit's deletion is the post-exit action the parties signed in the exit terms
            # (delete with certificate): those terms, not the custodian's delete grant during
            # custody, allow it; a grant that disallows delete would otherwise leave the exit
            # unable to end (approved, then refused, and the agreement never closed)
            continue
        refusal = _delete_disallowed(session, item.package_id, today, r.kind)
        if refusal is not None:
            raise Conflict(
                f"cannot execute {_label(r)} (package {item.package_id}): {refusal}; or "
                f"withdraw it (preserve disposal withdraw {r.id} --reason ...)"
            )
        break
    return a


def _start(
    app: Application,
    who: Principal | None,
    request_id: int,
    at: datetime,
    *,
    job_id: str | None = None,
    on_behalf_of: str | None = None,
    channel: str = "cli",
    remote_addr: str | None = None,
) -> list[str]:
    """Check everything under the locks and mark the request executing; the packages still
    to dispose of."""
    with app.uow() as uow:
        s = uow.session
        r = _visible(s, who, request_id, for_update=True)
        if r.state not in ("approved", "executing"):
            raise Conflict(
                f"cannot execute {_label(r)}: it is {r.state.replace('_', ' ')}"
                + (
                    " (every party must approve it first: " + ", ".join(_fully_approved(r)) + ")"
                    if r.state == "pending"
                    else ""
                )
            )
        a = _recheck(s, r, at.date())
        if who is not None:
            _may_execute(who, r, a, "execute")
        todo = [i.package_id for i in r.items if i.state == "proposed"]
        try:
            holds.require_no_holds(s, todo)  # locks collections, then packages
        except OnHold:
            raise HeldPackages(_held_message(r, holds.holds_on(s, todo))) from None
        if r.state == "approved":
            r.state = "executing"
            r.executed_by = who.username if who is not None else on_behalf_of or "system"
            if job_id is not None:
                r.job_id = job_id
            for pid in todo:
                _set_retention(s, pid, "disposing")
            _audit(s, who, r, "disposal.execute", at, channel=channel, remote_addr=remote_addr)
        uow.commit()
    return todo


def execute(
    app: Application,
    who: Principal | None,
    request_id: int,
    *,
    job_id: str | None = None,
    on_behalf_of: str | None = None,
    channel: str = "cli",
    remote_addr: str | None = None,
    now: datetime | None = None,
) -> DisposalInfo:
    """Execute an approved request now (see the module's documentation); ``who`` None: the
    worker running a job queued by someone who was allowed to. Resumes an interrupted
    execution. Raises :class:`OnHold` when a package is on hold, :class:`Conflict` when
    an approval is missing or the agreement no longer allows it."""
    at = _now(now)
    todo = _start(
        app,
        who,
        request_id,
        at,
        job_id=job_id,
        on_behalf_of=on_behalf_of,
        channel=channel,
        remote_addr=remote_addr,
    )
    for pid in todo:
        _dispose_package(app, request_id, pid, at)
    return _finish(app, request_id, _now(None) if now is None else at)


def queue_execution(
    app: Application,
    who: Principal,
    request_id: int,
    *,
    publish: Callable[[str], None] | None = None,
    channel: str = "cli",
    remote_addr: str | None = None,
) -> DisposalInfo:
    """Check that ``who`` may execute the request now and queue it as a ``dispose`` job for
    the workers (which check everything again when they run it)."""
    with app.uow() as uow:
        s = uow.session
        r = _visible(s, who, request_id)
        if r.state != "approved":
            raise Conflict(
                f"cannot execute {_label(r)}: it is {r.state.replace('_', ' ')}"
                + (
                    " (every party must approve it first: " + ", ".join(_fully_approved(r)) + ")"
                    if r.state == "pending"
                    else ""
                )
            )
        a = _recheck(s, r, datetime.now(UTC).date())
        _may_execute(who, r, a, "execute")
        held = holds.holds_on(s, [i.package_id for i in r.items])
        if held:
            raise HeldPackages(_held_message(r, held))
    job = jobs.submit(
        app,
        "dispose",
        {"request_id": request_id, "by": who.username},
        requested_by=who.username,
        idempotency_key=f"dispose:{request_id}",
        max_attempts=5,
        publish=publish,
    )
    with app.uow() as uow:
        r = _request(uow.session, request_id, for_update=True)
        r.job_id = job.id
        _audit(
            uow.session, who, r, "disposal.queue", datetime.now(UTC),
            channel=channel, remote_addr=remote_addr, job=job.id,
        )  # fmt: skip
        uow.commit()
    return show(app, None, request_id)


@jobs.handles("dispose")
def dispose_job(app: Application, job: jobs.JobRecord, work: jobs.Work) -> Mapping[str, Any]:
    """The worker's side of :func:`queue_execution`. A request withdrawn since it was queued
    is left as it is: the job ends with nothing done (not a failure, nor an alert)."""
    request_id = int(job.payload["request_id"])
    by = job.payload.get("by")
    queued = show(app, None, request_id)
    if queued.state == "withdrawn":
        log.info("%s was withdrawn after it was queued: nothing to do", queued.label)
        return {
            "request_id": queued.id,
            "state": queued.state,
            "disposed": 0,
            "failed": 0,
            "declaration_sha256": None,
        }
    info = execute(
        app, None, request_id, job_id=job.id, on_behalf_of=str(by) if by else None, channel="worker"
    )
    work.check()
    return {
        "request_id": info.id,
        "state": info.state,
        "disposed": sum(1 for i in info.items if i.state == "disposed"),
        "failed": sum(1 for i in info.items if i.state == "failed"),
        "declaration_sha256": info.declaration_sha256,
    }


def _package_objects(storage: Storage, folder: str) -> list[tuple[str, str]]:
    """(key, key in the restore bin) of every object of the package folder on a location:
    its versions, event files, and what was quarantined of it."""
    moves = [(key, RESTORE_PREFIX + key) for key in storage.iter_keys(folder)]
    for key in storage.iter_keys(_QUARANTINE + folder):
        rest = key[len(_QUARANTINE + folder) :]
        moves.append((key, RESTORE_PREFIX + folder + _QUARANTINE_FOLDER + rest))
    return moves


def _locked(storage: Storage, keys: Iterable[str], at: datetime) -> list[str]:
    """The keys a location would refuse to delete: under retention until later, or a legal
    hold (checked before anything is moved, so nothing is half-deleted)."""
    if not storage.supports_object_lock():
        return []
    found = []
    for key in keys:
        retention = storage.get_retention(key)
        if retention is not None and retention.until > at:
            found.append(f"{key} (retained until {retention.until:%Y-%m-%d})")
        elif storage.get_legal_hold(key):
            found.append(f"{key} (legal hold)")
    return found


def _move_all(moves: Sequence[tuple[Storage, str, str]]) -> None:
    """Move every object; on any failure put back what was moved and raise."""
    done: list[tuple[Storage, str, str]] = []
    try:
        for storage, src, dst in moves:
            try:
                storage.move(src, dst)
            except StorageError:
                # S3 copies before it deletes: a refused delete leaves the copy behind
                if storage.exists(src) and storage.exists(dst):
                    storage.delete(dst)
                raise
            done.append((storage, src, dst))
    except StorageError:
        for storage, src, dst in reversed(done):
            try:
                storage.move(dst, src)
            except StorageError as again:  # pragma: no cover - logged for a person to finish
                log.error("could not move %s back to %s on %s: %s", dst, src, storage, again)
        raise


def _folder(key_prefix: str) -> str:
    from preserve.ingest.recover import package_folder

    return package_folder(key_prefix)


def _fail_item(app: Application, request_id: int, package_id: str, reason: str) -> None:
    with app.uow() as uow:
        s = uow.session
        item = s.scalars(
            sa.select(DisposalPackage).where(
                DisposalPackage.request_id == request_id, DisposalPackage.package_id == package_id
            )
        ).one()
        item.state, item.failure = "failed", reason
        _set_retention(s, package_id, "disposal_failed")
        uow.commit()
    log.warning("disposal %s: package %s not disposed of: %s", request_id, package_id, reason)


def _dispose_package(app: Application, request_id: int, package_id: str, at: datetime) -> None:
    """Soft-delete one package in its own transaction, holding its locks while its objects
    move (a hold placed meanwhile waits for this one to commit)."""
    failure: str | None = None
    with app.uow() as uow:
        s = uow.session
        try:
            holds.require_no_holds(s, [package_id])
        except OnHold as exc:
            failure = str(exc)
        except NotFound:
            failure = "the package no longer exists"
        if failure is None:
            item = s.scalars(
                sa.select(DisposalPackage)
                .where(
                    DisposalPackage.request_id == request_id,
                    DisposalPackage.package_id == package_id,
                )
                .with_for_update()
            ).one()
            if item.state != "proposed":
                return  # done by an earlier attempt
            not_due = _not_due(s, item.request, package_id, at)
            if not_due is not None:
                # not disposed of: listed with the reason, its retention back as it is now
                item.state, item.failure = "failed", not_due
                schedule.reschedule_package(s, package_id, at)
                uow.commit()
                log.warning(
                    "disposal %s: package %s not disposed of: %s", request_id, package_id, not_due
                )
                return
            failure = _soft_delete(app, uow, item, at)
            if failure is None:
                uow.commit()
    if failure is not None:
        _fail_item(app, request_id, package_id, failure)
        return
    _remove_derivatives(app, package_id)


def _not_due(session: Session, r: DisposalRequest, package_id: str, at: datetime) -> str | None:
    """Why a package of a scheduled disposal may not be disposed of now (None: it may): it
    must still be under the version the request cites (an amendment since the proposal put it
    under the new version's rule) and, under a ``minimum`` bound, its due date (computed
    again from its rule and description) must be reached on the real day of execution."""
    if r.kind != "scheduled":
        return None
    row = session.get(PackageRetention, package_id)
    if row is not None and r.agreement_id is not None and row.agreement_id != r.agreement_id:
        return (
            f"it is now under {row.reference} v{row.version_no}, not {r.reference} "
            f"v{r.version_no} (its agreement was amended since the proposal); its retention "
            "is computed again under that version: propose it again when it is due"
        )
    return schedule.not_due_reason(session, package_id, at.date())


def _soft_delete(app: Application, uow: Any, item: DisposalPackage, at: datetime) -> str | None:
    """Move the package's objects to the restore bin and record it; the reason it could not."""
    s: Session = uow.session
    package = s.get_one(Package, item.package_id)
    copies = list(s.scalars(sa.select(Copy).where(Copy.package_id == package.id).order_by(Copy.id)))
    by_location: dict[int, tuple[StorageLocation, str]] = {}
    for c in copies:
        by_location.setdefault(c.location_id, (c.location, _folder(c.key_prefix)))
    for q in s.scalars(
        sa.select(QuarantinedObject).where(QuarantinedObject.package_id == package.id)
    ):
        loc = s.get_one(StorageLocation, q.location_id)
        if q.location_id not in by_location and copies:
            by_location[q.location_id] = (loc, _folder(copies[0].key_prefix))
    moves: list[tuple[Storage, str, str]] = []
    counts: dict[int, int] = {}
    try:
        for location_id, (loc, folder) in sorted(by_location.items()):
            storage = app.storage(loc.url)
            pairs = _package_objects(storage, folder)
            locked = _locked(storage, [k for k, _ in pairs], at)
            if locked:
                return (
                    f"location {loc.name} refuses to delete {len(locked)} of its objects "
                    f"(S3 Object Lock): {', '.join(locked[:3])}"
                    + (f" and {len(locked) - 3} more" if len(locked) > 3 else "")
                    + "; nothing of the package was deleted"
                )
            moves += [(storage, src, dst) for src, dst in pairs]
            counts[location_id] = len(pairs)
        _move_all(moves)
    except ObjectLocked as exc:
        return (
            f"a location refuses to delete its objects (S3 Object Lock): {exc}; nothing of "
            "the package was deleted"
        )
    except StorageUnavailable:
        raise  # the job is tried again later (what moved was moved back)
    except StorageError as exc:
        return f"storage refused: {exc}; nothing of the package was deleted"
    for c in copies:
        s.add(
            DisposalCopy(
                item_id=item.id,
                location_id=c.location_id,
                version=c.version,
                key_prefix=c.key_prefix,
                status=c.status,
                verified_by=c.verified_by,
                created_at=c.created_at,
                verified_at=c.verified_at,
                last_checked_at=c.last_checked_at,
                last_outcome=c.last_outcome,
                size_bytes=c.size_bytes,
                restore_prefix=RESTORE_PREFIX + _folder(c.key_prefix),
                objects=counts.pop(c.location_id, 0),
            )
        )
        s.delete(c)
    s.execute(sa.delete(Derivative).where(Derivative.package_id == package.id))
    package.status = "disposed"
    package.damaged_at, package.damage = None, None
    _set_retention(s, package.id, "disposed")
    item.state, item.disposed_at = "disposed", at
    item.tombstone = {**(item.tombstone or {}), **_tombstone(package)}
    r = s.get_one(DisposalRequest, item.request_id)
    _deletion_event(
        uow,
        r,
        package,
        at,
        outcome_detail=(
            f"disposed of by {_label(r)} ({r.kind}): {len(moves)} objects on "
            f"{len(by_location)} locations moved to the restore bin ({RESTORE_PREFIX}) until "
            f"the restore window ends"
        ),
    )
    s.flush()
    return None


def _deletion_event(
    uow: Any, r: DisposalRequest, package: Package, at: datetime, *, outcome_detail: str
) -> None:
    """A PREMIS deletion event naming the requester, the approvers, who executed it and
    the owner."""
    s: Session = uow.session
    software = uow.agents.get_or_create("preserve", __version__, "software")
    event = uow.events.add(
        premis.DELETION,
        "success",
        agent=software,
        package_id=package.id,
        detail=(
            f"{_label(r)}: "
            + (
                f"agreement {r.reference} v{r.version_no}, " + _cause_text(s, r)
                if r.reference
                else "no agreement"
            )
            + (f"; reason: {r.reason}" if r.reason else "")
        ),
        outcome_detail=outcome_detail,
        occurred_at=at,
    )
    links = [(event.id, uow.agents.get_or_create(r.requested_by, "", "person"), "requester")]
    for a in r.approvals:
        if a.decision == "approve":
            links.append(
                (event.id, uow.agents.get_or_create(a.decided_by, "", "person"), "approver")
            )
    if r.executed_by and r.executed_by != "system":
        links.append(
            (event.id, uow.agents.get_or_create(r.executed_by, "", "person"), "implementer")
        )
    org = s.get_one(Organisation, r.organisation_id)
    links.append((event.id, uow.agents.get_or_create(org.name, "", "organization"), "owner"))
    uow.events.link_agents(list(dict.fromkeys(links)))


def _remove_derivatives(app: Application, package_id: str) -> None:
    """Thumbnails and previews are copies of the content too (they can be made again after a
    restore)."""
    folder = Path(app.settings.derivatives_dir) / package_id[:2] / package_id
    shutil.rmtree(folder, ignore_errors=True)


def _finish(app: Application, request_id: int, at: datetime) -> DisposalInfo:
    with app.uow() as uow:
        s = uow.session
        r = _request(s, request_id, for_update=True)
        if r.state == "executing" and all(i.state != "proposed" for i in r.items):
            disposed = [i for i in r.items if i.state == "disposed"]
            r.executed_at = at
            if disposed:
                r.state = "executed"
                r.restore_until = at + timedelta(days=app.settings.disposal_restore_days)
                failed = [i for i in r.items if i.state == "failed"]
                r.failure = (
                    f"{len(failed)} of {len(r.items)} packages could not be disposed of"
                    if failed
                    else None
                )
            else:
                r.state = "execution_failed"
                r.failure = "; ".join(
                    f"package {i.package_id}: {i.failure}" for i in r.items if i.failure
                )
            if disposed:
                doc = _declaration(s, r)
                r.declaration_json = doc.json
                r.declaration_text = doc.text
                r.declaration_sha256 = doc.sha256
        info = _info(s, r)
        uow.commit()
    log.info("%s: %s", info.label, info.state)
    return info


# ----------------------------------------------------------------------------- declaration


def _declaration(session: Session, r: DisposalRequest) -> Declaration:
    org = session.get_one(Organisation, r.organisation_id)
    assert r.executed_at is not None
    destroyed = []
    for item in r.items:
        if item.state not in ("disposed", "permanently_deleted"):
            continue
        t = item.tombstone or {}
        files = [
            {"version": v, "path": path, "size": size, "sha256": sha}
            for v, path, size, sha in session.execute(
                sa.select(File.version, File.path, File.size, File.sha256)
                .where(File.package_id == item.package_id)
                .order_by(File.version, File.path)
            )
        ]
        destroyed.append(
            {
                "id": item.package_id,
                "title": t.get("title", ""),
                "identifiers": t.get("identifiers", []),
                "collection": t.get("collection", ""),
                "created_at": t.get("created_at"),
                "versions": t.get("versions"),
                "size": t.get("size", 0),
                "file_count": t.get("file_count", 0),
                "files": files,
            }
        )
    kept = [
        {"id": i.package_id, "title": (i.tombstone or {}).get("title", ""), "reason": i.failure}
        for i in r.items
        if i.state == "failed"
    ]
    doc = {
        "declaration": "disposal declaration",
        "request": r.id,
        "kind": r.kind,
        "date": r.executed_at.date().isoformat(),
        "executed_at": r.executed_at.isoformat(),
        "executed_by": r.executed_by,
        "organisation": {"slug": org.slug, "name": org.name},
        "agreement": ({"reference": r.reference, "version": r.version_no} if r.reference else None),
        "rule": _rule_of(r) or None,
        "exit": _exit_json(session, r),
        "reason": r.reason or None,
        "requested_by": r.requested_by,
        "requested_at": r.requested_at.isoformat(),
        "approvals": [
            {
                "party": a.party,
                "by": a.decided_by,
                "at": a.decided_at.isoformat(),
                "comment": a.comment,
            }
            for a in r.approvals
            if a.decision == "approve"
        ],
        "restore_until": r.restore_until.isoformat() if r.restore_until else None,
        "packages": destroyed,
        "not_disposed": kept,
        "software": f"preserve {__version__}",
    }
    text_json = json.dumps(doc, sort_keys=True, ensure_ascii=False, indent=1)
    sha = hashlib.sha256(text_json.encode("utf-8")).hexdigest()
    return Declaration(r.id, sha, text_json, _markdown(doc, sha))


def _markdown(doc: Mapping[str, Any], sha: str) -> str:
    lines = [
        f"# Disposal declaration {doc['request']}",
        "",
        f"Date: {doc['date']} (executed {doc['executed_at']} by {doc['executed_by']})",
        f"Organisation: {doc['organisation']['name']} ({doc['organisation']['slug']})",
    ]
    if doc["agreement"]:
        lines.append(
            f"Agreement: {doc['agreement']['reference']} version {doc['agreement']['version']}"
        )
    else:
        lines.append("Agreement: none")
    lines.append(f"Kind: {doc['kind']}")
    if doc.get("exit"):
        e = doc["exit"]
        lines.append(
            f"Cause: the agreement's exit terms: post-exit action {e['post_exit_action']}"
            + (f", after export {e['export']} to {e['recipient']}" if e["export"] else "")
            + (f" (confirmed by {e['confirmed_by']} on {e['confirmed_at']})" if e["export"] else "")
        )
    rule = doc["rule"]
    if rule:
        lines += [
            f"Rule: {rule_text(rule)}",  # the rule's database id stays in the JSON only
            f"Legal basis: {rule['legal_basis']}",
            f"Motivation: {rule['motivation']}",
        ]
    if doc["reason"]:
        lines.append(f"Reason: {doc['reason']}")
    lines += [
        f"Requested by: {doc['requested_by']} on {doc['requested_at']}",
        "Approved by:",
    ]
    lines += [
        f"- {a['party']}: {a['by']} on {a['at']}" + (f" ({a['comment']})" if a["comment"] else "")
        for a in doc["approvals"]
    ]
    lines += ["", f"## Destroyed ({plural(len(doc['packages']), 'package')})", ""]
    for p in doc["packages"]:
        lines += [
            f"### {p['title'] or '(untitled)'}",
            "",
            f"- id: {p['id']}",
            f"- identifiers: {', '.join(p['identifiers'])}",
            f"- collection: {p['collection']}",
            f"- size: {p['size']} bytes in {p['file_count']} files",
            "- files:",
        ]
        lines += [
            f"  - v{f['version']} {f['path']} ({f['size']} bytes, sha256 {f['sha256']})"
            for f in p["files"]
        ]
        lines.append("")
    if doc["not_disposed"]:
        lines += ["## Not disposed of", ""]
        lines += [f"- {p['id']} {p['title']}: {p['reason']}" for p in doc["not_disposed"]]
        lines.append("")
    lines += [
        f"Restorable until: {doc['restore_until']}",
        f"SHA-256 of the JSON declaration: {sha}",
        "",
    ]
    return "\n".join(lines)


def declaration(app: Application, who: Principal | None, request_id: int) -> Declaration:
    """The declaration of an executed request (NotFound before it was executed)."""
    with app.uow() as uow:
        r = _visible(uow.session, who, request_id)
        if r.declaration_json is None or r.declaration_text is None or r.declaration_sha256 is None:
            raise NotFound(
                f"{_label(r)} has no declaration: it is {r.state.replace('_', ' ')} (a "
                "declaration is made when it is executed)"
            )
        return Declaration(r.id, r.declaration_sha256, r.declaration_json, r.declaration_text)


# ----------------------------------------------------------------------------- restore, purge


def _restore_moves(storage: Storage, restore_prefix: str) -> list[tuple[str, str]]:
    folder = restore_prefix[len(RESTORE_PREFIX) :]
    moves = []
    for key in storage.iter_keys(restore_prefix):
        rest = key[len(restore_prefix) :]
        if rest.startswith(_QUARANTINE_FOLDER):
            moves.append((key, _QUARANTINE + folder + rest[len(_QUARANTINE_FOLDER) :]))
        else:
            moves.append((key, folder + rest))
    return moves


def _closed_on_its_certificate(session: Session, r: DisposalRequest) -> bool:
    """An executed exit disposal whose agreement is closed: it can no longer be restored
    (:func:`_exit_to_reopen`), so it shows no restore window."""
    if r.kind != "exit" or r.reference is None or r.state != "executed":
        return False
    closed = sa.select(Agreement.id).where(
        Agreement.reference == r.reference, Agreement.state == "closed"
    )
    return session.scalar(sa.select(closed.exists())) is True


def _exit_to_reopen(session: Session, r: DisposalRequest) -> Any:
    """Of an exit disposal about to be restored: refuse (Conflict) once its agreement is
    closed (closing relied on this disposal's deletion certificate, which a restore would make
    untrue); else the confirmed exit whose post-exit deletion it carried out (None: none), so
    the restore can mark that deletion not done any more. Locks the agreement's versions, so
    a close at the same moment waits and then sees the restore."""
    if r.kind != "exit" or r.reference is None:
        return None
    from preserve.catalogue.exits import AgreementExit

    versions = list(
        session.scalars(
            sa.select(Agreement)
            .where(Agreement.reference == r.reference)
            .order_by(Agreement.version_no)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )
    closed = [a for a in versions if a.state == "closed"]
    if closed:
        raise Conflict(
            f"cannot restore {_label(r)}: agreement {r.reference} is closed, and its closing "
            f"relied on this exit disposal's deletion certificate (declaration sha256 "
            f"{r.declaration_sha256}); its packages cannot come back under a closed agreement"
        )
    return session.scalars(
        sa.select(AgreementExit)
        .where(
            AgreementExit.reference == r.reference,
            AgreementExit.confirmed_at.is_not(None),
            AgreementExit.post_exit_action == "delete_with_certificate",
        )
        .order_by(AgreementExit.id.desc())
        .limit(1)
    ).first()


def _reopen_exit(session: Session, row: Any) -> None:
    """The exit's post-exit deletion is no longer done once its packages are restored: it is
    pending again, with its detail worked out again (``preserve exit status``) and the
    agreement cannot be closed until the packages are disposed of again."""
    from preserve.services import exits

    row.post_exit_state, row.post_exit_at = "pending", None
    session.flush()
    exits._refresh(session, session.get_one(Agreement, row.agreement_id), row)


def restore(
    app: Application,
    who: Principal,
    request_id: int,
    *,
    channel: str = "cli",
    remote_addr: str | None = None,
    now: datetime | None = None,
) -> DisposalInfo:
    """Put every disposed package of an executed request back, within the restore window:
    its objects, its copies (checked first by the next fixity run), its state."""
    at = _now(now)
    with app.uow() as uow:
        s = uow.session
        r = _visible(s, who, request_id, for_update=True)
        if r.state != "executed":
            raise Conflict(
                f"cannot restore {_label(r)}: it is {r.state.replace('_', ' ')}, not executed"
            )
        assert r.restore_until is not None
        if at > r.restore_until:
            raise Conflict(
                f"cannot restore {_label(r)}: its restore window ended on "
                f"{r.restore_until:%Y-%m-%d %H:%M} UTC"
            )
        a = _agreement_now(s, r.reference) if r.reference else None
        _may_execute(who, r, a, "restore")
        reopened = _exit_to_reopen(s, r)
        for item in r.items:
            if item.state != "disposed":
                continue
            saved = list(s.scalars(sa.select(DisposalCopy).where(DisposalCopy.item_id == item.id)))
            moves: list[tuple[Storage, str, str]] = []
            for prefix_loc in {(c.location_id, c.restore_prefix) for c in saved}:
                loc = s.get_one(StorageLocation, prefix_loc[0])
                storage = app.storage(loc.url)
                moves += [
                    (storage, src, dst) for src, dst in _restore_moves(storage, prefix_loc[1])
                ]
            _move_all(moves)
            package = s.get_one(Package, item.package_id)
            for c in saved:
                s.add(
                    Copy(
                        package_id=package.id,
                        location_id=c.location_id,
                        version=c.version,
                        key_prefix=c.key_prefix,
                        status=c.status,
                        verified_by=c.verified_by,
                        created_at=c.created_at,
                        verified_at=c.verified_at,
                        last_checked_at=c.last_checked_at,
                        last_outcome=c.last_outcome,
                        next_check_at=None,  # checked first: the bytes travelled
                        size_bytes=c.size_bytes,
                    )
                )
                s.delete(c)
            package.status = "stored"
            _set_retention(s, package.id, "restored")
            item.state = "restored"
            software = uow.agents.get_or_create("preserve", __version__, "software")
            event = uow.events.add(
                premis.RECOVERY,
                "success",
                agent=software,
                package_id=package.id,
                detail=f"{_label(r)} restored within its restore window",
                outcome_detail=f"{len(moves)} objects moved back from the restore bin",
                occurred_at=at,
            )
            uow.events.link_agents(
                [(event.id, uow.agents.get_or_create(who.label, "", "person"), "implementer")]
            )
        r.state, r.restored_at, r.restored_by = "restored", at, who.username
        if reopened is not None:
            _reopen_exit(s, reopened)
        _audit(s, who, r, "disposal.restore", at, channel=channel, remote_addr=remote_addr)
        info = _info(s, r)
        try:
            uow.commit()
        except sa.exc.IntegrityError:
            raise Conflict(
                f"cannot restore {_label(r)}: the same content was ingested into the collection "
                "again meanwhile"
            ) from None
    from preserve.services.journal import flush_events

    restored = [i.package_id for i in info.items if i.state == "restored"]
    flush_events(app, restored, catch_up=0)
    # the disposal removed their thumbnails and previews: made again by a worker
    from preserve.services.derivatives import queue_after_ingest

    queue_after_ingest(app, restored, occasion=f"restored-{request_id}")
    log.info("%s restored by %s", info.label, who.label)
    return info


def purge_expired(app: Application, now: datetime | None = None) -> list[str]:
    """Daily: delete for good the restore bin of every package whose restore window has
    passed (not one under a hold placed meanwhile: it waits for the hold to be lifted).
    Idempotent, and two at once delete each package once. Returns the packages deleted."""
    at = _now(now)
    with app.uow() as uow:
        due = list(
            uow.session.execute(
                sa.select(DisposalPackage.request_id, DisposalPackage.package_id)
                .join(DisposalRequest, DisposalRequest.id == DisposalPackage.request_id)
                .where(
                    DisposalRequest.state == "executed",
                    DisposalRequest.restore_until <= at,
                    DisposalPackage.state == "disposed",
                )
                .order_by(DisposalPackage.request_id, DisposalPackage.package_id)
            )
        )
    deleted: list[str] = []
    requests: set[int] = set()
    for request_id, package_id in due:
        requests.add(request_id)
        if _purge_package(app, request_id, package_id, at):
            deleted.append(package_id)
    for request_id in sorted(requests):
        with app.uow() as uow:
            r = _request(uow.session, request_id, for_update=True)
            if r.state == "executed" and not any(i.state == "disposed" for i in r.items):
                r.state, r.permanently_deleted_at = "permanently_deleted", at
                uow.commit()
                log.info("disposal %s: permanently deleted", request_id)
    return deleted


#: What a tombstone keeps of the description (Dublin Core elements).
KEPT_ELEMENTS = ("title", "identifier", "date", "created", "dcterms:created", "dcterms:identifier")


def _purge_package(app: Application, request_id: int, package_id: str, at: datetime) -> bool:
    with app.uow() as uow:
        s = uow.session
        try:
            holds.require_no_holds(s, [package_id])
        except OnHold as exc:
            log.warning(
                "disposal %s: package %s stays in the restore bin: %s", request_id, package_id, exc
            )
            return False
        item = s.scalars(
            sa.select(DisposalPackage)
            .where(
                DisposalPackage.request_id == request_id, DisposalPackage.package_id == package_id
            )
            .with_for_update()
        ).one()
        s.refresh(item)
        if item.state != "disposed":
            return False  # another run did it
        removed = 0
        for c in s.scalars(sa.select(DisposalCopy).where(DisposalCopy.item_id == item.id)):
            if c.purged_at is None:
                loc = s.get_one(StorageLocation, c.location_id)
                removed += app.storage(loc.url).delete_prefix(c.restore_prefix)
                c.purged_at = at
        package = s.get_one(Package, package_id)
        package.description = {
            k: v for k, v in (package.description or {}).items() if k in KEPT_ELEMENTS
        }
        s.execute(sa.delete(File).where(File.package_id == package_id))
        s.execute(
            sa.update(PackageVersion)
            .where(PackageVersion.package_id == package_id)
            .values(description={})
        )
        _set_retention(s, package_id, "permanently_deleted")
        item.state = "permanently_deleted"
        r = s.get_one(DisposalRequest, request_id)
        _deletion_event(
            uow,
            r,
            package,
            at,
            outcome_detail=(
                f"deleted for good after the restore window of {_label(r)} ({removed} objects); "
                "the tombstone (identifiers, events, pruned description) and the declaration "
                "remain"
            ),
        )
        uow.commit()
    log.info("disposal %s: package %s permanently deleted", request_id, package_id)
    return True


__all__ = [
    "DISPOSAL_KINDS",
    "DISPOSAL_STATES",
    "Blocked",
    "Declaration",
    "DisposalInfo",
    "HeldPackages",
    "ItemInfo",
    "NoOtherApprover",
    "PartialProposal",
    "PartyDecision",
    "approve",
    "blocked",
    "declaration",
    "execute",
    "list_requests",
    "propose",
    "propose_due",
    "propose_what_can",
    "purge_expired",
    "queue_execution",
    "reject",
    "restore",
    "rule_text",
    "show",
    "withdraw",
]
