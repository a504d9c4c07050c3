"""Collective retention agreements: drafts, their lifecycle and its guards (issue 12;
retention-agreements.md 4.1).

::

    draft -> proposed (only when complete) -> every party agrees (or one sends it back to draft
    with a comment) -> pending_signature -> signed (every party has its required signatures;
    the version is frozen and its canonical content hashed) -> active (from its start date)
    -> under_review (at its review date, still in force) -> active (review confirmed)
    active -> suspended -> active; active|under_review|suspended -> notice_given -> exiting
    (after the notice period) -> closed; active|under_review -> expired (after its end date)
    -> exiting; draft|proposed -> withdrawn; an amendment is a new draft version that, once
    signed and activated, supersedes the version it amends.

Every transition is an :class:`AgreementEvent` with who, when, from and to. A refused transition
raises :class:`~preserve.errors.Conflict` naming the guard (a proposal lists every missing item);
bad input raises :class:`~preserve.errors.InvalidInput` naming the field. Only a draft can be
edited: the service refuses every other edit and a ``before_flush`` hook refuses any change to a
version's terms that is not a draft, whichever code path tries it.

People act for a party only with the archivist or admin role in the party's organisation (or in
the umbrella party that represents it). A repository administrator may prepare drafts and act as
custodian staff, but never agree or sign for another organisation.

Later tasks (ingest, workers, web) call :func:`ingest_allowed`, :func:`governing_agreement`,
:func:`service_level_for` and :func:`rights_for` with their own session.
"""

from __future__ import annotations

import calendar
import hashlib
import io
import json
import logging
import os
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from preserve.bootstrap import Application
from preserve.catalogue.agreements import (
    ACCESS_ACTIONS,
    ACCESS_GROUPS,
    AGREEMENT_KINDS,
    AUTHORITIES,
    COMPONENTS,
    CREATIVE_COMMONS,
    DOCUMENT_KINDS,
    EDITABLE,
    EXIT_ACTIONS,
    EXIT_FORMATS,
    FORMAT_LEVELS,
    PARTY_ROLES,
    PERIOD_UNITS,
    RESTRICTIONS,
    RETENTION_ACTIONS,
    RETENTION_TRIGGERS,
    RIGHTS_ACTS,
    RIGHTS_STATEMENTS,
    SCOPE_OPERATORS,
    SIGNATURE_METHODS,
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
    frozen,
)
from preserve.catalogue.models import Collection, Organisation, Package
from preserve.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from preserve.formats.siegfried import known_puids
from preserve.names import suggestions, unknown
from preserve.services.access import Principal
from preserve.territories import is_region
from preserve.uow import UnitOfWork

log = logging.getLogger(__name__)

#: Versions in force: their terms apply to the packages in scope.
IN_FORCE = ("active", "under_review", "suspended", "notice_given", "exiting")
#: In force and accepting new ingest.
INGEST_OPEN = ("active", "under_review")
#: Versions that took effect at some time (the latest of these speaks for its reference).
TOOK_EFFECT = (*IN_FORCE, "expired", "closed")
#: Versions still on their way to taking effect (an amendment in preparation).
PREPARING = ("draft", "proposed", "pending_signature", "signed")

MAX_DOCUMENT_BYTES = 25 * 1024 * 1024
DOCUMENT_TYPES = {
    "application/pdf": (".pdf",),
    "text/plain": (".txt",),
    "application/vnd.oasis.opendocument.text": (".odt",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (".docx",),
}
_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,49}$")
_PUID = re.compile(r"^(x-)?fmt/\d+$")
_REGION = re.compile(r"^([A-Z]{2}|EU)$")
_TRIGGER = re.compile(r"^(metadata_field|event):[A-Za-z][A-Za-z0-9_.:-]{0,100}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


# ---------------------------------------------------------------------------- values out


@dataclass(frozen=True)
class SignatureInfo:
    signatory: str
    capacity: str
    method: str
    signed_at: datetime
    document_sha256: str


@dataclass(frozen=True)
class PartyInfo:
    organisation: str
    organisation_name: str
    roles: tuple[str, ...]
    authorities: tuple[str, ...]
    required_signatures: int
    represented_by: str | None
    #: This proposal round's decision: None (waiting), "agree" or "send_back".
    decision: str | None
    decided_by: str | None
    decided_at: datetime | None
    decision_comment: str
    signatures: tuple[SignatureInfo, ...]


@dataclass(frozen=True)
class ScopeInfo:
    selector: str
    collection: str | None
    element: str | None
    operator: str | None
    value: str | None


@dataclass(frozen=True)
class RetentionInfo:
    action: str
    trigger: str
    period_value: int
    period_unit: str
    bound: str
    motivation: str
    legal_basis: str


@dataclass(frozen=True)
class ServiceLevelInfo:
    min_copies: int
    min_distinct_sites: int
    allowed_regions: tuple[str, ...]
    offline_copy_required: bool
    fixity_interval_days: int
    restore_test_interval_days: int | None
    agreement: str = ""


@dataclass(frozen=True)
class RightsGrantInfo:
    act: str
    restriction: str
    start_date: date | None
    end_date: date | None
    note: str


@dataclass(frozen=True)
class AccessInfo:
    action: str
    group: str
    organisation: str | None
    embargo_until: date | None
    note: str


@dataclass(frozen=True)
class ExitInfo:
    recipient: str | None
    package_format: str
    deadline_days: int
    post_exit_action: str
    retain_until: date | None


@dataclass(frozen=True)
class DocumentInfo:
    id: int
    name: str
    kind: str
    media_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime


@dataclass(frozen=True)
class EventInfo:
    action: str
    from_state: str | None
    to_state: str
    actor: str
    party: str | None
    occurred_at: datetime
    comment: str


@dataclass(frozen=True)
class AgreementSummary:
    id: int
    reference: str
    version_no: int
    kind: str
    component: str
    title: str
    state: str
    effective_from: date | None
    effective_until: date | None
    parties: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.reference} v{self.version_no}"


@dataclass(frozen=True)
class AgreementDetail:
    id: int
    reference: str
    version_no: int
    kind: str
    component: str
    title: str
    summary: str
    state: str
    parent: str | None
    supersedes: str | None
    effective_from: date | None
    effective_until: date | None
    review_interval_months: int | None
    next_review_on: date | None
    notice_period_days: int | None
    notice_given_on: date | None
    legal_basis: str
    rights_statement: str | None
    licence: str | None
    parties: tuple[PartyInfo, ...]
    scope: tuple[ScopeInfo, ...]
    retention: RetentionInfo | None
    service_level: ServiceLevelInfo | None
    accepted_formats: tuple[str, ...]
    preferred_formats: tuple[str, ...]
    rights: tuple[RightsGrantInfo, ...]
    access: tuple[AccessInfo, ...]
    exit: ExitInfo | None
    documents: tuple[DocumentInfo, ...]
    history: tuple[EventInfo, ...]
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime
    signed_at: datetime | None
    content_hash: str | None
    #: What a proposal still lacks (drafts only; empty when it may be proposed).
    missing: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.reference} v{self.version_no}"


@dataclass(frozen=True)
class AgreementRef:
    """The agreement version that governs a package or collection."""

    id: int
    reference: str
    version_no: int
    state: str

    @property
    def label(self) -> str:
        return f"{self.reference} v{self.version_no}"


@dataclass(frozen=True)
class RightsInfo:
    agreement: str
    rights_statement: str | None
    licence: str | None
    grants: tuple[RightsGrantInfo, ...]
    access: tuple[AccessInfo, ...]

    def act(self, name: str, on: date | None = None) -> str | None:
        """The restriction of act ``name`` on day ``on`` (None: not granted or out of term)."""
        for grant in self.grants:
            if grant.act != name:
                continue
            if on is not None and (
                (grant.start_date and on < grant.start_date)
                or (grant.end_date and on > grant.end_date)
            ):
                return None
            return grant.restriction
        return None


@dataclass(frozen=True)
class Transition:
    """One move made (or, rehearsing, that would be made) by :func:`advance`, and the day it
    is due (the last one's, when several are due at once)."""

    reference: str
    version_no: int
    from_state: str
    to_state: str
    due_on: date | None = field(default=None, compare=False)


# ---------------------------------------------------------------------------- small helpers


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _label(a: Agreement) -> str:
    return f"{a.reference} v{a.version_no}"


def _who_label(who: Principal | None) -> str:
    return who.username if who is not None else "system"


def canonical_rights_uri(uri: str) -> str | None:
    """The listed form (``http://``, trailing slash) of a RightsStatements.org or Creative
    Commons URI, or None when it is not one of them."""
    text = uri.strip()
    if text.startswith("https://"):
        text = "http://" + text[len("https://") :]
    if not text.endswith("/"):
        text += "/"
    return text if text in RIGHTS_STATEMENTS or text in CREATIVE_COMMONS else None


# ---------------------------------------------------------------------------- reading


def _load(session: Session) -> sa.Select[Agreement]:
    return sa.select(Agreement).options(
        selectinload(Agreement.parties).selectinload(AgreementParty.roles),
        selectinload(Agreement.parties).selectinload(AgreementParty.decisions),
        selectinload(Agreement.parties).selectinload(AgreementParty.signatures),
        selectinload(Agreement.parties).selectinload(AgreementParty.organisation),
        selectinload(Agreement.scopes),
        selectinload(Agreement.rights_grants),
        selectinload(Agreement.access_conditions),
        selectinload(Agreement.formats),
        selectinload(Agreement.documents),
        selectinload(Agreement.events),
    )


def parse_identifier(ident: str) -> tuple[str, int | None]:
    """``CRA-2026-001`` (its newest version) or ``CRA-2026-001/v2``."""
    text = ident.strip()
    match = re.fullmatch(r"(.+?)(?:/v(\d+))?", text)
    if not text or match is None:
        raise InvalidInput(
            f"agreement {ident!r}: give a reference such as CRA-2026-001 or CRA-2026-001/v2"
        )
    return match.group(1), int(match.group(2)) if match.group(2) else None


def _write_lock(session: Session) -> None:
    """On SQLite, take the database's write lock before reading what a transition depends on
    (PostgreSQL locks the row with FOR UPDATE instead): two people agreeing at the same moment
    then see each other's decision instead of both reading 'not everyone agreed yet'."""
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql("UPDATE agreements SET id = id WHERE 0")


def same_reference(reference: str) -> sa.ColumnElement[bool]:
    """Agreement references match whatever their case: a person writes ``cra-2026-001`` for
    CRA-2026-001 (and no two agreements have references differing only in case)."""
    return sa.func.lower(Agreement.reference) == reference.lower()


def _find(session: Session, ident: str, *, for_update: bool = False) -> Agreement:
    reference, version = parse_identifier(ident)
    if for_update:
        _write_lock(session)
    query = _load(session).where(same_reference(reference))
    if version is not None:
        query = query.where(Agreement.version_no == version)
    query = query.order_by(Agreement.version_no.desc()).limit(1)
    if for_update:
        query = query.with_for_update(of=Agreement)
    found = session.scalars(query).first()
    if found is None:
        raise NotFound(f"no agreement {ident!r}")
    return found


def _find_visible(
    session: Session, ident: str, who: Principal | None, *, for_update: bool = False
) -> Agreement:
    """:func:`_find` for ``who``: an agreement they may not see is not found either, and a
    reference not found is answered with the closest ones they may see ("did you mean")."""
    try:
        a = _find(session, ident, for_update=for_update)
        _check_visible(who, a)
    except NotFound:
        raise _no_agreement(session, ident, who) from None
    return a


def _no_agreement(session: Session, ident: str, who: Principal | None) -> NotFound:
    """No agreement ``ident`` (for ``who``): "did you mean" with the references they may see
    (with the version asked for, when ``ident`` names one), or the versions there are."""
    reference, version = parse_identifier(ident)
    rows = session.execute(
        sa.select(
            Agreement.reference, Agreement.created_by, AgreementParty.organisation_id
        ).outerjoin(AgreementParty, AgreementParty.agreement_id == Agreement.id)
    )
    seen: set[str] = set()
    for ref, created_by, org in rows:
        if (
            who is None
            or who.is_admin
            or created_by == who.username
            or (org is not None and who.can_view(org))
        ):
            seen.add(ref)
    known = {ref.lower(): ref for ref in seen}
    if version is not None and reference.lower() in known:
        reference = known[reference.lower()]
        numbers = session.scalars(
            sa.select(Agreement.version_no)
            .where(Agreement.reference == reference)
            .order_by(Agreement.version_no)
        )
        return NotFound(
            f"no agreement {ident!r}: {reference} has "
            + ", ".join(f"{reference}/v{n}" for n in numbers)
        )
    if version is not None:
        return unknown("agreement", ident, (f"{ref}/v{version}" for ref in seen))
    return unknown("agreement", ident, seen)


def _party_orgs(a: Agreement) -> set[int]:
    return {p.organisation_id for p in a.parties}


def _check_visible(who: Principal | None, a: Agreement) -> None:
    if who is None or who.is_admin or a.created_by == who.username:
        return
    if not any(who.can_view(org) for org in _party_orgs(a)):
        raise NotFound(f"no agreement {a.reference!r}")


def _decision(party: AgreementParty, round_no: int) -> PartyDecision | None:
    current = [d for d in party.decisions if d.proposal_round == round_no]
    return current[-1] if current else None


def _collection_label(session: Session, collection_id: int | None) -> str | None:
    if collection_id is None:
        return None
    c = session.get(Collection, collection_id)
    return None if c is None else f"{c.organisation.slug}/{c.slug}"


def _org_slug(session: Session, organisation_id: int | None) -> str | None:
    if organisation_id is None:
        return None
    org = session.get(Organisation, organisation_id)
    return None if org is None else org.slug


def _summary(a: Agreement) -> AgreementSummary:
    return AgreementSummary(
        id=a.id,
        reference=a.reference,
        version_no=a.version_no,
        kind=a.kind,
        component=a.component,
        title=a.title,
        state=a.state,
        effective_from=a.effective_from,
        effective_until=a.effective_until,
        parties=tuple(p.organisation.slug for p in a.parties),
    )


def _retention_info(r: RetentionRule) -> RetentionInfo:
    return RetentionInfo(
        action=r.action,
        trigger=r.trigger,
        period_value=r.period_value,
        period_unit=r.period_unit,
        bound=r.bound,
        motivation=r.motivation,
        legal_basis=r.legal_basis,
    )


def _service_info(s: ServiceLevel, label: str = "") -> ServiceLevelInfo:
    return ServiceLevelInfo(
        min_copies=s.min_copies,
        min_distinct_sites=s.min_distinct_sites,
        allowed_regions=tuple(s.allowed_regions or ()),
        offline_copy_required=s.offline_copy_required,
        fixity_interval_days=s.fixity_interval_days,
        restore_test_interval_days=s.restore_test_interval_days,
        agreement=label,
    )


def _grant_info(g: RightsGrant) -> RightsGrantInfo:
    return RightsGrantInfo(
        act=g.act,
        restriction=g.restriction,
        start_date=g.start_date,
        end_date=g.end_date,
        note=g.note,
    )


def _access_info(session: Session, c: AccessCondition) -> AccessInfo:
    return AccessInfo(
        action=c.action,
        group=c.access_group,
        organisation=_org_slug(session, c.organisation_id),
        embargo_until=c.embargo_until,
        note=c.note,
    )


def _detail(session: Session, a: Agreement) -> AgreementDetail:
    parties = []
    for p in a.parties:
        d = _decision(p, a.proposal_round) if a.proposal_round else None
        parties.append(
            PartyInfo(
                organisation=p.organisation.slug,
                organisation_name=p.organisation.name,
                roles=tuple(p.role_names),
                authorities=tuple(x for x in AUTHORITIES if getattr(p, x)),
                required_signatures=p.required_signatures,
                represented_by=p.represented_by.organisation.slug if p.represented_by else None,
                decision=d.decision if d else None,
                decided_by=d.decided_by if d else None,
                decided_at=d.decided_at if d else None,
                decision_comment=d.comment if d else "",
                signatures=tuple(
                    SignatureInfo(s.signatory, s.capacity, s.method, s.signed_at, s.document_sha256)
                    for s in p.signatures
                ),
            )
        )
    parent = session.get(Agreement, a.parent_id) if a.parent_id else None
    old = session.get(Agreement, a.supersedes_id) if a.supersedes_id else None
    ex = a.exit_terms
    return AgreementDetail(
        id=a.id,
        reference=a.reference,
        version_no=a.version_no,
        kind=a.kind,
        component=a.component,
        title=a.title,
        summary=a.summary,
        state=a.state,
        parent=parent.reference if parent else None,
        supersedes=_label(old) if old else None,
        effective_from=a.effective_from,
        effective_until=a.effective_until,
        review_interval_months=a.review_interval_months,
        next_review_on=a.next_review_on,
        notice_period_days=a.notice_period_days,
        notice_given_on=a.notice_given_on,
        legal_basis=a.legal_basis,
        rights_statement=a.rights_statement_uri,
        licence=a.licence_uri,
        parties=tuple(parties),
        scope=tuple(
            ScopeInfo(
                s.selector,
                _collection_label(session, s.collection_id),
                s.element,
                s.operator,
                s.value,
            )
            for s in a.scopes
        ),
        retention=_retention_info(a.retention_rule) if a.retention_rule else None,
        service_level=_service_info(a.service_level) if a.service_level else None,
        accepted_formats=tuple(f.puid for f in a.formats),
        preferred_formats=tuple(f.puid for f in a.formats if f.level == "preferred"),
        rights=tuple(_grant_info(g) for g in a.rights_grants),
        access=tuple(_access_info(session, c) for c in a.access_conditions),
        exit=ExitInfo(
            recipient=ex.recipient.organisation.slug if ex.recipient else None,
            package_format=ex.package_format,
            deadline_days=ex.deadline_days,
            post_exit_action=ex.post_exit_action,
            retain_until=ex.retain_until,
        )
        if ex
        else None,
        documents=tuple(
            DocumentInfo(
                d.id, d.name, d.kind, d.media_type, d.size, d.sha256, d.uploaded_by, d.uploaded_at
            )
            for d in a.documents
        ),
        history=tuple(
            EventInfo(
                e.action, e.from_state, e.to_state, e.actor, e.party, e.occurred_at, e.comment
            )
            for e in a.events
        ),
        created_by=a.created_by,
        created_at=a.created_at,
        updated_by=a.updated_by,
        updated_at=a.updated_at,
        signed_at=a.signed_at,
        content_hash=a.content_hash,
        missing=tuple(missing_for_proposal(a)) if a.state == "draft" else (),
    )


def list_agreements(
    app: Application,
    who: Principal | None = None,
    *,
    state: str | None = None,
    organisation: str | None = None,
    all_versions: bool = False,
) -> list[AgreementSummary]:
    """The agreements ``who`` may see (None: everything), newest version of each reference
    unless ``all_versions``."""
    with app.uow() as uow:
        s = uow.session
        rows = list(s.scalars(_load(s).order_by(Agreement.reference, Agreement.version_no)))
        if not all_versions:
            newest: dict[str, Agreement] = {}
            for a in rows:
                newest[a.reference] = a
            rows = list(newest.values())
        out = []
        for a in rows:
            if (
                who is not None
                and not who.is_admin
                and not any(who.can_view(o) for o in _party_orgs(a))
            ):
                continue
            if state is not None and a.state != state:
                continue
            if organisation is not None and organisation not in {
                p.organisation.slug for p in a.parties
            }:
                continue
            out.append(_summary(a))
        return out


def show(app: Application, ident: str, who: Principal | None = None) -> AgreementDetail:
    with app.uow() as uow:
        a = _find_visible(uow.session, ident, who)
        return _detail(uow.session, a)


def versions(
    app: Application, reference: str, who: Principal | None = None
) -> list[AgreementSummary]:
    with app.uow() as uow:
        s = uow.session
        rows = list(
            s.scalars(_load(s).where(same_reference(reference)).order_by(Agreement.version_no))
        )
        if not rows:
            raise _no_agreement(s, reference, who)
        try:
            _check_visible(who, rows[-1])
        except NotFound:
            raise _no_agreement(s, reference, who) from None
        return [_summary(a) for a in rows]


# ---------------------------------------------------------------------------- completeness


def missing_for_proposal(a: Agreement) -> list[str]:
    """Every item a draft lacks before it may be proposed, each naming the field or party."""
    missing: list[str] = []
    if len(a.parties) < 2:
        missing.append(f"parties: at least two parties are needed (there are {len(a.parties)})")
    if not any("custodian" in p.role_names for p in a.parties):
        missing.append("parties: no party has the custodian role")
    for p in a.parties:
        if not p.roles:
            missing.append(f"party {p.organisation.slug}: has no role")
    if a.effective_from is None:
        missing.append("effective_from: the start date is missing")
    if a.component != "main":
        if a.parent_id is None:
            missing.append(f"parent: an {a.component} names the main agreement it belongs to")
        return missing
    if not a.scopes:
        missing.append("scope: no collection or metadata rule")
    if a.retention_rule is None:
        missing.append("retention: no retention rule (exactly one is needed)")
    if a.service_level is None:
        missing.append("service_level: missing (copies, sites, fixity interval)")
    if not a.rights_grants:
        missing.append("rights: no rights granted to the custodian")
    if a.exit_terms is None:
        missing.append("exit: no exit terms")
    return missing


# ---------------------------------------------------------------- the spec (create and edit)

_TOP_KEYS = {
    "reference",
    "kind",
    "title",
    "summary",
    "component",
    "parent",
    "effective_from",
    "effective_until",
    "review_interval_months",
    "next_review_on",
    "notice_period_days",
    "legal_basis",
    "rights_statement",
    "licence",
    "parties",
    "scope",
    "retention",
    "service_level",
    "formats",
    "rights",
    "access",
    "exit",
}


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, message: str) -> None:
        self.items.append(message)

    def raise_if_any(self, what: str) -> None:
        if self.items:
            raise InvalidInput(f"{what}: " + "; ".join(self.items))


def _text(
    p: _Problems, field: str, value: Any, *, required: bool = False, max_len: int | None = None
) -> str | None:
    if value is None:
        if required:
            p.add(f"{field}: required")
        return None
    if not isinstance(value, str):
        p.add(f"{field}: must be text, not {type(value).__name__}")
        return None
    value = value.strip()
    if required and not value:
        p.add(f"{field}: must not be empty")
        return None
    if max_len is not None and len(value) > max_len:
        p.add(f"{field}: at most {max_len} characters (got {len(value)})")
        return None
    return value


def _choice(
    p: _Problems, field: str, value: Any, allowed: Sequence[str], *, required: bool = True
) -> str | None:
    if value is None:
        if required:
            p.add(f"{field}: required, one of {', '.join(allowed)}")
        return None
    if not isinstance(value, str) or value not in allowed:
        close = suggestions(value, allowed) if isinstance(value, str) else []
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        p.add(f"{field}: {value!r} is not one of {', '.join(allowed)}{hint}")
        return None
    return value


def _int(
    p: _Problems, field: str, value: Any, *, minimum: int = 0, required: bool = False
) -> int | None:
    if value is None:
        if required:
            p.add(f"{field}: required (a whole number)")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        else:
            p.add(f"{field}: {value!r} is not a whole number")
            return None
    if value < minimum:
        p.add(f"{field}: must be at least {minimum} (got {value})")
        return None
    return int(value)


def _bool(p: _Problems, field: str, value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
        return value.lower() in ("true", "yes", "1")
    p.add(f"{field}: {value!r} is not true or false")
    return None


def _date(p: _Problems, field: str, value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    p.add(f"{field}: {value!r} is not a date (YYYY-MM-DD)")
    return None


def _mapping(p: _Problems, field: str, value: Any) -> Mapping[str, Any] | None:
    if not isinstance(value, Mapping):
        p.add(f"{field}: must be a mapping of names to values, not {type(value).__name__}")
        return None
    return value


def _list(p: _Problems, field: str, value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        p.add(f"{field}: must be a list, not {type(value).__name__}")
        return []
    return value


def _unknown(p: _Problems, field: str, value: Mapping[str, Any], allowed: Iterable[str]) -> None:
    for key in value:
        if key not in allowed:
            p.add(f"{field}.{key}: unknown field (known: {', '.join(sorted(allowed))})")


def _organisation(p: _Problems, session: Session, field: str, value: Any) -> Organisation | None:
    slug = _text(p, field, value, required=True)
    if slug is None:
        return None
    org = session.scalar(sa.select(Organisation).where(Organisation.slug == slug))
    if org is None:
        close = suggestions(slug, session.scalars(sa.select(Organisation.slug)))
        hint = (
            f"did you mean {' or '.join(repr(c) for c in close)}?"
            if close
            else "see preserve organisations list"
        )
        p.add(f"{field}: no organisation {slug!r} ({hint})")
    return org


def _collection(p: _Problems, session: Session, field: str, value: Any) -> Collection | None:
    text = _text(p, field, value, required=True)
    if text is None:
        return None
    query = sa.select(Collection).join(Organisation)
    if "/" in text:
        org, slug = text.split("/", 1)
        found = list(
            session.scalars(query.where(Organisation.slug == org, Collection.slug == slug))
        )
    else:
        found = list(session.scalars(query.where(Collection.slug == text)))
    if not found:
        names = session.execute(sa.select(Organisation.slug, Collection.slug).join(Organisation))
        close = suggestions(text, [f"{o}/{c}" if "/" in text else c for o, c in names])
        hint = (
            f"did you mean {' or '.join(repr(c) for c in close)}?"
            if close
            else "give ORGANISATION/COLLECTION"
        )
        p.add(f"{field}: no collection {text!r} ({hint})")
        return None
    if len(found) > 1:
        p.add(
            f"{field}: {text!r} names collections of several organisations; "
            "give ORGANISATION/COLLECTION"
        )
        return None
    return found[0]


def _rights_uri(
    p: _Problems, field: str, value: Any, allowed: Sequence[str], vocabulary: str
) -> str | None:
    text = _text(p, field, value)
    if not text:
        return None
    canonical = canonical_rights_uri(text)
    if canonical is None or canonical not in allowed:
        p.add(f"{field}: {text!r} is not a {vocabulary} URI (e.g. {allowed[0]})")
        return None
    return canonical


def _apply_spec(session: Session, a: Agreement, spec: Mapping[str, Any], *, creating: bool) -> None:
    """Validate ``spec`` (every problem, each naming its field) and write it into the draft ``a``.
    A section given replaces that section; sections left out stay as they are."""
    p = _Problems()
    if not isinstance(spec, Mapping):
        raise InvalidInput("the agreement description must be a mapping (a JSON object)")
    _unknown(p, "agreement", spec, _TOP_KEYS)
    if creating:
        ref = _text(p, "reference", spec.get("reference"), required=True)
        if ref is not None and not _REFERENCE.match(ref):
            p.add(
                f"reference: {ref!r} must be 1 to 50 letters, digits, '.', '_' or '-' "
                "(e.g. CRA-2026-001)"
            )
        elif ref is not None:
            a.reference = ref
        kind = _choice(p, "kind", spec.get("kind"), AGREEMENT_KINDS)
        title = _text(p, "title", spec.get("title"), required=True, max_len=255)
    else:
        if "reference" in spec and spec["reference"] != a.reference:
            p.add(f"reference: cannot change ({a.reference!r}); create a new agreement instead")
        kind = _choice(p, "kind", spec["kind"], AGREEMENT_KINDS) if "kind" in spec else None
        title = (
            _text(p, "title", spec["title"], required=True, max_len=255)
            if "title" in spec
            else None
        )
    if kind:
        a.kind = kind
    if title:
        a.title = title
    if "summary" in spec:
        a.summary = _text(p, "summary", spec["summary"]) or ""
    if "component" in spec:
        component = _choice(p, "component", spec["component"], COMPONENTS)
        if component:
            a.component = component
    if "parent" in spec:
        if spec["parent"] in (None, ""):
            a.parent_id = None
        else:
            ref = _text(p, "parent", spec["parent"], required=True)
            parent = (
                session.scalars(
                    sa.select(Agreement)
                    .where(same_reference(ref), Agreement.component == "main")
                    .order_by(Agreement.version_no.desc())
                ).first()
                if ref
                else None
            )
            if ref and parent is None:
                p.add(f"parent: no main agreement {ref!r}")
            elif parent is not None:
                a.parent_id = parent.id
    for name in ("effective_from", "effective_until", "next_review_on"):
        if name in spec:
            setattr(a, name, _date(p, name, spec[name]))
    for name in ("review_interval_months", "notice_period_days"):
        if name in spec:
            setattr(a, name, _int(p, name, spec[name], minimum=1))
    if a.effective_from and a.effective_until and a.effective_until < a.effective_from:
        p.add(f"effective_until: {a.effective_until} is before effective_from {a.effective_from}")
    if "legal_basis" in spec:
        a.legal_basis = _text(p, "legal_basis", spec["legal_basis"]) or ""
    if "rights_statement" in spec:
        a.rights_statement_uri = _rights_uri(
            p,
            "rights_statement",
            spec["rights_statement"],
            RIGHTS_STATEMENTS,
            "RightsStatements.org",
        )
    if "licence" in spec:
        a.licence_uri = _rights_uri(
            p, "licence", spec["licence"], CREATIVE_COMMONS, "Creative Commons licence or tool"
        )
    parties_by_slug = {party.organisation.slug: party for party in a.parties}
    if "parties" in spec:
        recipient = a.exit_terms.recipient if a.exit_terms is not None else None
        given = spec["parties"] if isinstance(spec["parties"], list) else []
        if (
            "exit" not in spec
            and recipient is not None
            and not any(
                isinstance(x, Mapping) and x.get("organisation") == recipient.organisation.slug
                for x in given
            )
        ):
            p.add(
                f"exit.recipient: {recipient.organisation.slug} would no longer be a party; "
                "give the exit terms again with another recipient"
            )
        parties_by_slug = _apply_parties(p, session, a, spec["parties"])
    if "scope" in spec:
        _apply_scope(p, session, a, spec["scope"])
    if "retention" in spec:
        _apply_retention(p, a, spec["retention"])
    if "service_level" in spec:
        _apply_service_level(p, a, spec["service_level"])
    if "formats" in spec:
        _apply_formats(p, a, spec["formats"])
    if "rights" in spec:
        _apply_rights(p, a, spec["rights"])
    if "access" in spec:
        _apply_access(p, session, a, spec["access"])
    if "exit" in spec:
        _apply_exit(p, a, spec["exit"], parties_by_slug)
    p.raise_if_any(f"agreement {a.reference or '(new)'}")


def _replace(a: Agreement, name: str, value: Any) -> None:
    """Set a collection or one-to-one of the draft ``a``: the old rows are deleted (flushed)
    before the new ones are inserted, so unique constraints never see both."""
    session = sa.orm.object_session(a)
    if session is not None and sa.inspect(a).persistent:
        setattr(a, name, [] if isinstance(getattr(a, name), list) else None)
        session.flush()
    setattr(a, name, value)


_PARTY_KEYS = {"organisation", "roles", "authorities", "required_signatures", "represented_by"}


@dataclass
class _PartyTerms:
    organisation: Organisation
    position: int
    roles: list[str]
    authorities: set[str]
    required_signatures: int
    represented_by: str | None


def _apply_parties(
    p: _Problems, session: Session, a: Agreement, value: Any
) -> dict[str, AgreementParty]:
    """Parties as given: a party already on the draft is updated in place (its decisions stay
    with it), a new one is added, one left out is removed."""
    items = _list(p, "parties", value)
    wanted: dict[str, _PartyTerms] = {}
    for i, raw in enumerate(items, 1):
        field = f"parties[{i}]"
        item = _mapping(p, field, raw)
        if item is None:
            continue
        _unknown(p, field, item, _PARTY_KEYS)
        org = _organisation(p, session, f"{field}.organisation", item.get("organisation"))
        roles = [
            _choice(p, f"{field}.roles", r, PARTY_ROLES)
            for r in _list(p, f"{field}.roles", item.get("roles"))
        ]
        if not item.get("roles"):
            p.add(f"{field}.roles: at least one role ({', '.join(PARTY_ROLES)})")
        authorities = [
            _choice(p, f"{field}.authorities", x, AUTHORITIES)
            for x in _list(p, f"{field}.authorities", item.get("authorities"))
        ]
        required = _int(
            p, f"{field}.required_signatures", item.get("required_signatures", 1), minimum=0
        )
        if org is None:
            continue
        if org.slug in wanted:
            p.add(f"{field}.organisation: {org.slug} is already a party")
            continue
        represented = item.get("represented_by")
        wanted[org.slug] = _PartyTerms(
            organisation=org,
            position=i,
            roles=list(dict.fromkeys(r for r in roles if r)),
            authorities={x for x in authorities if x},
            required_signatures=1 if required is None else required,
            represented_by=str(represented) if represented else None,
        )
    for slug, terms in wanted.items():
        rep = terms.represented_by
        if rep is None:
            continue
        if rep not in wanted:
            p.add(f"party {slug}: represented_by {rep!r} is not a party of this agreement")
        elif "umbrella_representative" not in wanted[rep].roles:
            p.add(f"party {slug}: represented_by {rep!r} lacks the umbrella_representative role")
        elif rep == slug:
            p.add(f"party {slug}: cannot represent itself")
    existing = {party.organisation.slug: party for party in a.parties}
    if p.items:
        return existing
    by_slug: dict[str, AgreementParty] = {}
    for slug, terms in wanted.items():
        party = existing.get(slug) or AgreementParty(organisation=terms.organisation, roles=[])
        party.position = terms.position
        party.required_signatures = terms.required_signatures
        for x in AUTHORITIES:
            setattr(party, x, x in terms.authorities)
        for role in [r for r in party.roles if r.role not in terms.roles]:
            party.roles.remove(role)
        held = set(party.role_names)
        party.roles.extend(PartyRole(role=r) for r in terms.roles if r not in held)
        by_slug[slug] = party
    for slug, terms in wanted.items():
        by_slug[slug].represented_by = (
            by_slug[terms.represented_by] if terms.represented_by else None
        )
    a.parties[:] = list(by_slug.values())
    return by_slug


_SCOPE_KEYS = {"collection", "metadata"}


def _apply_scope(p: _Problems, session: Session, a: Agreement, value: Any) -> None:
    rows: list[AgreementScope] = []
    for i, raw in enumerate(_list(p, "scope", value), 1):
        field = f"scope[{i}]"
        item = _mapping(p, field, raw)
        if item is None:
            continue
        _unknown(p, field, item, _SCOPE_KEYS)
        if ("collection" in item) == ("metadata" in item):
            p.add(f"{field}: give either collection or metadata")
            continue
        if "collection" in item:
            c = _collection(p, session, f"{field}.collection", item["collection"])
            if c is not None:
                rows.append(AgreementScope(selector="collection", collection_id=c.id))
            continue
        rule = _mapping(p, f"{field}.metadata", item["metadata"])
        if rule is None:
            continue
        _unknown(p, f"{field}.metadata", rule, {"element", "operator", "value"})
        element = _text(
            p, f"{field}.metadata.element", rule.get("element"), required=True, max_len=100
        )
        operator = _choice(
            p, f"{field}.metadata.operator", rule.get("operator", "equals"), SCOPE_OPERATORS
        )
        text = _text(p, f"{field}.metadata.value", rule.get("value"), required=True)
        if element and operator and text:
            rows.append(
                AgreementScope(selector="metadata", element=element, operator=operator, value=text)
            )
    if not p.items:
        _replace(a, "scopes", rows)


_RETENTION_KEYS = {"action", "trigger", "period", "bound", "motivation", "legal_basis"}


def _apply_retention(p: _Problems, a: Agreement, value: Any) -> None:
    if isinstance(value, list):
        if len(value) != 1:
            p.add(f"retention: exactly one retention rule per agreement (got {len(value)})")
            return
        value = value[0]
    if value is None:
        a.retention_rule = None
        return
    item = _mapping(p, "retention", value)
    if item is None:
        return
    _unknown(p, "retention", item, _RETENTION_KEYS)
    action = _choice(p, "retention.action", item.get("action"), RETENTION_ACTIONS)
    trigger = _text(p, "retention.trigger", item.get("trigger"), required=True, max_len=120)
    if trigger and trigger not in RETENTION_TRIGGERS and not _TRIGGER.match(trigger):
        p.add(
            f"retention.trigger: {trigger!r} is not ingest_date, creation_date, "
            "metadata_field:<element> or event:<type>"
        )
    period = item.get("period")
    value_, unit = None, None
    if action == "keep_permanently" and period is None:
        value_, unit = 0, "years"
    else:
        period_map = _mapping(p, "retention.period", period) if period is not None else None
        if period is None:
            p.add("retention.period: required ({value: N, unit: days|weeks|months|years})")
        if period_map is not None:
            _unknown(p, "retention.period", period_map, {"value", "unit"})
            value_ = _int(
                p, "retention.period.value", period_map.get("value"), minimum=0, required=True
            )
            unit = _choice(p, "retention.period.unit", period_map.get("unit"), PERIOD_UNITS)
    bound = _choice(p, "retention.bound", item.get("bound", "minimum"), ("minimum", "maximum"))
    motivation = _text(p, "retention.motivation", item.get("motivation"), required=True)
    legal_basis = _text(p, "retention.legal_basis", item.get("legal_basis"), required=True)
    if p.items or None in (action, trigger, value_, unit, bound, motivation, legal_basis):
        return
    _replace(
        a,
        "retention_rule",
        RetentionRule(
            action=action,
            trigger=trigger,
            period_value=value_,
            period_unit=unit,
            bound=bound,
            motivation=motivation,
            legal_basis=legal_basis,
        ),
    )


_SERVICE_KEYS = {
    "min_copies",
    "min_distinct_sites",
    "allowed_regions",
    "offline_copy_required",
    "fixity_interval_days",
    "restore_test_interval_days",
}


def _apply_service_level(p: _Problems, a: Agreement, value: Any) -> None:
    if value is None:
        a.service_level = None
        return
    item = _mapping(p, "service_level", value)
    if item is None:
        return
    _unknown(p, "service_level", item, _SERVICE_KEYS)
    copies = _int(p, "service_level.min_copies", item.get("min_copies"), minimum=1, required=True)
    sites = _int(
        p, "service_level.min_distinct_sites", item.get("min_distinct_sites", 1), minimum=1
    )
    if copies is not None and sites is not None and sites > copies:
        p.add(
            f"service_level.min_distinct_sites: {sites} sites need at least {sites} copies "
            f"(min_copies is {copies})"
        )
    regions: list[str] = []
    for r in _list(p, "service_level.allowed_regions", item.get("allowed_regions")):
        code = r.strip().upper() if isinstance(r, str) else None
        if code is None or not _REGION.match(code) or not is_region(code):
            p.add(
                f"service_level.allowed_regions: {r!r} is not an assigned ISO 3166-1 alpha-2 "
                "code or EU"
            )
        elif code not in regions:
            regions.append(code)
    offline = _bool(
        p, "service_level.offline_copy_required", item.get("offline_copy_required", False)
    )
    fixity = _int(
        p,
        "service_level.fixity_interval_days",
        item.get("fixity_interval_days"),
        minimum=1,
        required=True,
    )
    restore = _int(
        p,
        "service_level.restore_test_interval_days",
        item.get("restore_test_interval_days"),
        minimum=1,
    )
    if p.items or copies is None or fixity is None:
        return
    _replace(
        a,
        "service_level",
        ServiceLevel(
            min_copies=copies,
            min_distinct_sites=sites or 1,
            allowed_regions=regions,
            offline_copy_required=bool(offline),
            fixity_interval_days=fixity,
            restore_test_interval_days=restore,
        ),
    )


def _apply_formats(p: _Problems, a: Agreement, value: Any) -> None:
    item = _mapping(p, "formats", value) if value is not None else {}
    if item is None:
        return
    _unknown(p, "formats", item, FORMAT_LEVELS)
    chosen: dict[str, str] = {}
    for level in FORMAT_LEVELS:
        for puid in _list(p, f"formats.{level}", item.get(level)):
            if not isinstance(puid, str) or not _PUID.match(puid.strip()):
                p.add(f"formats.{level}: {puid!r} is not a PRONOM PUID (fmt/NNN or x-fmt/NNN)")
                continue
            known = known_puids()
            if known is not None and puid.strip() not in known:
                p.add(
                    f"formats.{level}: {puid.strip()!r} is not in the PRONOM signatures this "
                    "repository identifies formats with"
                )
                continue
            # a preferred format is accepted too; one row with the stronger level
            chosen[puid.strip()] = (
                "preferred" if level == "preferred" else chosen.get(puid.strip(), "accepted")
            )
    if not p.items:
        _replace(a, "formats", [FormatPolicy(puid=k, level=v) for k, v in sorted(chosen.items())])


_RIGHTS_KEYS = {"act", "restriction", "start", "end", "note"}


def _apply_rights(p: _Problems, a: Agreement, value: Any) -> None:
    rows: dict[str, RightsGrant] = {}
    for i, raw in enumerate(_list(p, "rights", value), 1):
        field = f"rights[{i}]"
        item = _mapping(p, field, raw)
        if item is None:
            continue
        _unknown(p, field, item, _RIGHTS_KEYS)
        act = _choice(p, f"{field}.act", item.get("act"), RIGHTS_ACTS)
        restriction = _choice(p, f"{field}.restriction", item.get("restriction"), RESTRICTIONS)
        start = _date(p, f"{field}.start", item.get("start"))
        end = _date(p, f"{field}.end", item.get("end"))
        note = _text(p, f"{field}.note", item.get("note")) or ""
        if start and end and end < start:
            p.add(f"{field}.end: {end} is before the start {start}")
        if restriction == "conditional" and not note:
            p.add(f"{field}.note: a conditional grant says its condition in the note")
        if act and act in rows:
            p.add(f"{field}.act: {act} is granted twice")
        elif act and restriction:
            rows[act] = RightsGrant(
                act=act, restriction=restriction, start_date=start, end_date=end, note=note
            )
    if not p.items:
        _replace(a, "rights_grants", list(rows.values()))


_ACCESS_KEYS = {"action", "group", "organisation", "embargo_until", "note"}


def _apply_access(p: _Problems, session: Session, a: Agreement, value: Any) -> None:
    rows: list[AccessCondition] = []
    for i, raw in enumerate(_list(p, "access", value), 1):
        field = f"access[{i}]"
        item = _mapping(p, field, raw)
        if item is None:
            continue
        _unknown(p, field, item, _ACCESS_KEYS)
        action = _choice(p, f"{field}.action", item.get("action"), ACCESS_ACTIONS)
        group = _choice(p, f"{field}.group", item.get("group"), ACCESS_GROUPS)
        org_id = None
        if group == "organisation":
            org = _organisation(p, session, f"{field}.organisation", item.get("organisation"))
            org_id = org.id if org else None
        elif item.get("organisation") is not None:
            p.add(f"{field}.organisation: only for group 'organisation'")
        embargo = _date(p, f"{field}.embargo_until", item.get("embargo_until"))
        note = _text(p, f"{field}.note", item.get("note")) or ""
        if action and group and (group != "organisation" or org_id is not None):
            rows.append(
                AccessCondition(
                    action=action,
                    access_group=group,
                    organisation_id=org_id,
                    embargo_until=embargo,
                    note=note,
                )
            )
    if not p.items:
        _replace(a, "access_conditions", rows)


_EXIT_KEYS = {"recipient", "package_format", "deadline_days", "post_exit_action", "retain_until"}


def _apply_exit(
    p: _Problems, a: Agreement, value: Any, parties: Mapping[str, AgreementParty]
) -> None:
    if value is None:
        a.exit_terms = None
        return
    item = _mapping(p, "exit", value)
    if item is None:
        return
    _unknown(p, "exit", item, _EXIT_KEYS)
    recipient_slug = _text(p, "exit.recipient", item.get("recipient"), required=True)
    recipient = parties.get(recipient_slug) if recipient_slug else None
    if recipient_slug and recipient is None:
        p.add(f"exit.recipient: {recipient_slug!r} is not a party of this agreement")
    fmt = _choice(
        p, "exit.package_format", item.get("package_format", "bagit_premis"), EXIT_FORMATS
    )
    deadline = _int(p, "exit.deadline_days", item.get("deadline_days"), minimum=1, required=True)
    action = _choice(p, "exit.post_exit_action", item.get("post_exit_action"), EXIT_ACTIONS)
    retain = _date(p, "exit.retain_until", item.get("retain_until"))
    if action == "retain_until" and retain is None:
        p.add("exit.retain_until: required when post_exit_action is retain_until")
    if p.items or recipient is None or fmt is None or deadline is None or action is None:
        return
    _replace(
        a,
        "exit_terms",
        ExitTerms(
            recipient=recipient,
            package_format=fmt,
            deadline_days=deadline,
            post_exit_action=action,
            retain_until=retain,
        ),
    )


# ---------------------------------------------------------------------------- permissions


def _membership_role(who: Principal, organisation_id: int) -> str | None:
    """The role the person holds *as a member* (a repository admin's implied role not counted)."""
    return who.roles.get(organisation_id)


def _may_create(who: Principal, a: Agreement) -> None:
    """A repository admin, or an archivist or admin of one of the parties (of some organisation
    while the draft names no party yet)."""
    if who.is_admin:
        return
    mine = who.organisations_where("archivist") or frozenset()
    if a.parties and not any(p.organisation.id in mine for p in a.parties):
        raise PermissionDenied(
            f"{who.username} may not prepare this agreement: that needs the archivist or admin "
            "role in one of its parties' organisations (or a repository administrator)"
        )
    if not mine:
        raise PermissionDenied(
            f"{who.username} may not prepare agreements: that needs the archivist or admin role "
            "in an organisation (or a repository administrator)"
        )


def _may_prepare(who: Principal, a: Agreement) -> None:
    if who.is_admin or (a.state == "draft" and not a.parties and a.created_by == who.username):
        return
    if not any(who.can(org, "archivist") for org in _party_orgs(a)):
        raise PermissionDenied(
            f"{who.username} may not prepare {_label(a)}: that needs the archivist or admin role "
            "in one of its parties' organisations (or a repository administrator)"
        )


def _custodian_staff(who: Principal, a: Agreement, doing: str) -> None:
    if who.is_admin:
        return
    custodians = [p for p in a.parties if "custodian" in p.role_names]
    if not any(who.can(p.organisation_id, "archivist") for p in custodians):
        raise PermissionDenied(
            f"{who.username} may not {doing} {_label(a)}: that needs the archivist or admin "
            "role in the custodian's organisation (or a repository administrator)"
        )


def _party(a: Agreement, slug: str) -> AgreementParty:
    for party in a.parties:
        if party.organisation.slug == slug:
            return party
    raise InvalidInput(
        f"party {slug!r} is not a party of {_label(a)} (its parties: "
        f"{', '.join(p.organisation.slug for p in a.parties)})"
    )


def _may_act_for(who: Principal, party: AgreementParty, doing: str) -> None:
    """Agree, send back or sign for ``party``: a member with the archivist or admin role of the
    party's organisation or of its umbrella representative; a repository admin only for the
    custodian (as custodian staff), never for another organisation."""
    for org in (
        party.organisation,
        party.represented_by.organisation if party.represented_by else None,
    ):
        if org is not None and _membership_role(who, org.id) in ("archivist", "admin"):
            return
    slug = party.organisation.slug
    if who.is_admin and "custodian" in party.role_names:
        return
    held = _membership_role(who, party.organisation_id)
    if held == "viewer":
        raise PermissionDenied(
            f"{who.username} is a viewer in {slug}: to {doing} for {slug} needs the archivist or "
            "admin role there"
        )
    if who.is_admin:
        raise PermissionDenied(
            f"{who.username} is a repository administrator, not a member of {slug}: an "
            f"administrator may act as custodian staff but never {doing} for another organisation"
        )
    raise PermissionDenied(
        f"{who.username} may not {doing} for {slug}: only its own archivists and admins (or those "
        "of the umbrella party that represents it) may"
    )


# ---------------------------------------------------------------------------- writing


def _event(
    a: Agreement,
    action: str,
    to_state: str,
    who: Principal | None,
    now: datetime,
    *,
    comment: str = "",
    party: str | None = None,
    from_state: str | None = None,
) -> None:
    a.events.append(
        AgreementEvent(
            action=action,
            from_state=from_state,
            to_state=to_state,
            user_id=who.user_id if who is not None else None,
            actor=_who_label(who),
            party=party,
            occurred_at=now,
            comment=comment,
        )
    )


def _move(
    a: Agreement,
    to_state: str,
    action: str,
    who: Principal | None,
    now: datetime,
    *,
    comment: str = "",
    party: str | None = None,
) -> None:
    from_state = a.state
    a.state = to_state
    a.updated_by = _who_label(who)
    a.updated_at = now
    _event(a, action, to_state, who, now, comment=comment, party=party, from_state=from_state)
    log.info(
        "agreement %s: %s -> %s (%s by %s)",
        _label(a),
        from_state,
        to_state,
        action,
        _who_label(who),
    )


def _require(a: Agreement, states: Sequence[str], doing: str) -> None:
    if a.state not in states:
        wanted = " or ".join(s.replace("_", " ") for s in states)
        raise Conflict(
            f"cannot {doing} {_label(a)}: it is {a.state.replace('_', ' ')}, not {wanted}"
        )


def _require_draft(a: Agreement) -> None:
    if a.state not in EDITABLE:
        raise frozen(a, a.state)


def _commit_new(uow: UnitOfWork, clash: str) -> None:
    """Commit a new version; another one made with the same reference and number at the same
    moment (the unique constraint) is a Conflict, not a crash."""
    try:
        uow.commit()
    except sa.exc.IntegrityError:
        raise Conflict(clash) from None


def create_draft(
    app: Application, who: Principal, spec: Mapping[str, Any], *, now: datetime | None = None
) -> AgreementDetail:
    """A new agreement (version 1, draft) from a description; the person must be a repository
    admin or an archivist or admin of one of its parties."""
    at = _now(now)
    with app.uow() as uow:
        s = uow.session
        a = Agreement(
            reference="",
            version_no=1,
            kind="collaboration",
            title="",
            state="draft",
            created_by=who.username,
            created_at=at,
            updated_by=who.username,
            updated_at=at,
        )
        _write_lock(s)
        with s.no_autoflush:
            _apply_spec(s, a, spec, creating=True)
        existing = s.scalar(
            sa.select(Agreement.reference).where(same_reference(a.reference)).limit(1)
        )
        if existing == a.reference:
            raise Conflict(
                f"agreement {a.reference} exists already; amend it or choose another reference"
            )
        if existing is not None:
            raise Conflict(
                f"agreement {existing} exists already ({a.reference} differs only in case: "
                "references are matched whatever their case); amend it or choose another "
                "reference"
            )
        _may_create(who, a)
        _event(a, "create", "draft", who, at)
        s.add(a)
        _commit_new(
            uow, f"agreement {a.reference} exists already; amend it or choose another reference"
        )
        return show(app, f"{a.reference}/v{a.version_no}")


def edit_draft(
    app: Application,
    who: Principal,
    ident: str,
    spec: Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> AgreementDetail:
    """Change the sections of a draft named in ``spec``; refused for any other state."""
    at = _now(now)
    with app.uow() as uow:
        s = uow.session
        a = _find_visible(s, ident, who, for_update=True)
        _require_draft(a)
        _may_prepare(who, a)
        with s.no_autoflush:
            _apply_spec(s, a, spec, creating=False)
        a.updated_by, a.updated_at = who.username, at
        _event(a, "edit", a.state, who, at, from_state=a.state, comment=", ".join(sorted(spec)))
        uow.commit()
        return show(app, f"{a.reference}/v{a.version_no}")


def propose(
    app: Application, who: Principal, ident: str, *, now: datetime | None = None
) -> AgreementDetail:
    at = _now(now)
    with app.uow() as uow:
        a = _find_visible(uow.session, ident, who, for_update=True)
        _require(a, ("draft",), "propose")
        _may_prepare(who, a)
        missing = missing_for_proposal(a)
        if missing:
            raise Conflict(
                f"cannot propose {_label(a)}: it is incomplete: " + "; ".join(missing),
                problems=missing,
            )
        a.proposal_round += 1
        _move(a, "proposed", "propose", who, at)
        uow.commit()
        return show(app, f"{a.reference}/v{a.version_no}")


def agree(
    app: Application,
    who: Principal,
    ident: str,
    party: str,
    *,
    comment: str = "",
    now: datetime | None = None,
) -> AgreementDetail:
    """``party`` agrees to the proposal; when every party has agreed: pending signature."""
    at = _now(now)
    with app.uow() as uow:
        a = _find_visible(uow.session, ident, who, for_update=True)
        _require(a, ("proposed",), "agree to")
        target = _party(a, party)
        _may_act_for(who, target, "agree")
        current = _decision(target, a.proposal_round)
        if current is not None:
            raise Conflict(f"{party} has already agreed to {_label(a)} (by {current.decided_by})")
        target.decisions.append(
            PartyDecision(
                proposal_round=a.proposal_round,
                decision="agree",
                comment=comment.strip(),
                user_id=who.user_id,
                decided_by=who.username,
                decided_at=at,
            )
        )
        _event(
            a, "agree", a.state, who, at, comment=comment.strip(), party=party, from_state=a.state
        )
        if all(_decision(p, a.proposal_round) is not None for p in a.parties):
            _move(a, "pending_signature", "all_agreed", who, at)
        uow.commit()
        return show(app, f"{a.reference}/v{a.version_no}")


def send_back(
    app: Application,
    who: Principal,
    ident: str,
    party: str,
    comment: str,
    *,
    now: datetime | None = None,
) -> AgreementDetail:
    """``party`` does not agree: the version goes back to draft with the (required) comment."""
    at = _now(now)
    if not comment or not comment.strip():
        raise InvalidInput(
            "comment: sending an agreement back needs a comment saying what to change"
        )
    with app.uow() as uow:
        a = _find_visible(uow.session, ident, who, for_update=True)
        _require(a, ("proposed",), "send back")
        target = _party(a, party)
        _may_act_for(who, target, "send back")
        target.decisions.append(
            PartyDecision(
                proposal_round=a.proposal_round,
                decision="send_back",
                comment=comment.strip(),
                user_id=who.user_id,
                decided_by=who.username,
                decided_at=at,
            )
        )
        _move(a, "draft", "send_back", who, at, comment=comment.strip(), party=party)
        uow.commit()
        return show(app, f"{a.reference}/v{a.version_no}")


def canonical_content(a: Agreement) -> dict[str, Any]:
    """The terms of a version as plain data (what the parties sign): everything but the
    lifecycle (state, decisions, signatures, events, signed copies)."""

    def d(value: date | None) -> str | None:
        return value.isoformat() if value else None

    r, sl, ex = a.retention_rule, a.service_level, a.exit_terms
    return {
        "reference": a.reference,
        "version_no": a.version_no,
        "kind": a.kind,
        "component": a.component,
        "parent_id": a.parent_id,
        "supersedes_id": a.supersedes_id,
        "title": a.title,
        "summary": a.summary,
        "effective_from": d(a.effective_from),
        "effective_until": d(a.effective_until),
        "review_interval_months": a.review_interval_months,
        "notice_period_days": a.notice_period_days,
        "legal_basis": a.legal_basis,
        "rights_statement": a.rights_statement_uri,
        "licence": a.licence_uri,
        "parties": [
            {
                "organisation": p.organisation.slug,
                "roles": sorted(p.role_names),
                "authorities": [x for x in AUTHORITIES if getattr(p, x)],
                "required_signatures": p.required_signatures,
                "represented_by": p.represented_by.organisation.slug if p.represented_by else None,
            }
            for p in a.parties
        ],
        "scope": [[s.selector, s.collection_id, s.element, s.operator, s.value] for s in a.scopes],
        "retention": None
        if r is None
        else [
            r.action,
            r.trigger,
            r.period_value,
            r.period_unit,
            r.bound,
            r.motivation,
            r.legal_basis,
        ],
        "service_level": None
        if sl is None
        else [
            sl.min_copies,
            sl.min_distinct_sites,
            list(sl.allowed_regions or []),
            sl.offline_copy_required,
            sl.fixity_interval_days,
            sl.restore_test_interval_days,
        ],
        "formats": sorted([f.puid, f.level] for f in a.formats),
        "rights": sorted(
            [g.act, g.restriction, d(g.start_date), d(g.end_date), g.note] for g in a.rights_grants
        ),
        "access": [
            [c.action, c.access_group, c.organisation_id, d(c.embargo_until), c.note]
            for c in a.access_conditions
        ],
        "exit": None
        if ex is None
        else [
            ex.recipient.organisation.slug if ex.recipient else None,
            ex.package_format,
            ex.deadline_days,
            ex.post_exit_action,
            d(ex.retain_until),
        ],
        "documents": sorted(
            [doc.sha256, doc.kind, doc.name] for doc in a.documents if doc.kind != "signed_copy"
        ),
    }


def content_hash(a: Agreement) -> str:
    text = json.dumps(
        canonical_content(a), sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def verify_frozen(app: Application, ident: str) -> bool:
    """Whether a signed version's terms still hash to what was stored when it was signed."""
    with app.uow() as uow:
        a = _find(uow.session, ident)
        if a.content_hash is None:
            raise Conflict(f"{_label(a)} is not signed: it has no frozen content hash")
        return content_hash(a) == a.content_hash


def sign(
    app: Application,
    who: Principal,
    ident: str,
    party: str,
    *,
    capacity: str,
    method: str = "digital",
    document_sha256: str | None = None,
    now: datetime | None = None,
) -> AgreementDetail:
    """A signature for ``party`` by ``who`` in ``capacity``; when every party has its required
    signatures the version is signed and frozen (its content hash stored)."""
    at = _now(now)
    p = _Problems()
    capacity_text = _text(p, "capacity", capacity, required=True, max_len=255)
    _choice(p, "method", method, SIGNATURE_METHODS)
    if document_sha256 is not None and not _SHA256.match(document_sha256.strip().lower()):
        p.add(f"document_sha256: {document_sha256!r} is not a SHA-256 (64 hexadecimal digits)")
    p.raise_if_any("signature")
    with app.uow() as uow:
        a = _find_visible(uow.session, ident, who, for_update=True)
        _require(a, ("pending_signature",), "sign")
        target = _party(a, party)
        _may_act_for(who, target, "sign")
        if target.required_signatures == 0:
            raise Conflict(f"{party} signs nothing on {_label(a)}: it needs no signature")
        if len(target.signatures) >= target.required_signatures:
            raise Conflict(
                f"{party} has already signed {_label(a)} "
                f"({len(target.signatures)} of {target.required_signatures})"
            )
        if any(s.user_id == who.user_id for s in target.signatures):
            raise Conflict(
                f"{who.username} has already signed {_label(a)} for {party}: "
                "a second signature needs another person"
            )
        version_hash = content_hash(a)
        if document_sha256 is None:
            signed_hash = version_hash
        else:
            signed_hash = document_sha256.strip().lower()
            if signed_hash not in {d.sha256 for d in a.documents if d.kind != "signed_copy"}:
                raise InvalidInput(
                    f"document_sha256: {signed_hash} is not the SHA-256 of a document of "
                    f"{_label(a)} (see preserve agreements show)"
                )
        target.signatures.append(
            Signature(
                user_id=who.user_id,
                signatory=who.display_name or who.username,
                capacity=capacity_text or "",
                method=method,
                signed_at=at,
                document_sha256=signed_hash,
            )
        )
        _event(
            a,
            "sign",
            a.state,
            who,
            at,
            party=party,
            from_state=a.state,
            comment=f"{capacity_text}, {method}",
        )
        if all(len(x.signatures) >= x.required_signatures for x in a.parties):
            a.content_hash = version_hash
            a.signed_at = at
            _move(a, "signed", "all_signed", who, at, comment=f"content sha256 {version_hash}")
        uow.commit()
        return show(app, f"{a.reference}/v{a.version_no}")


def _activate(
    session: Session,
    a: Agreement,
    who: Principal | None,
    at: datetime,
    default_days: int | None = None,
) -> None:
    a.activated_at = at
    a.next_review_on = _first_review(a)
    _move(a, "active", "activate", who, at)
    if a.supersedes_id is not None:
        old = session.get(Agreement, a.supersedes_id)
        if old is not None and old.state in (*IN_FORCE, "expired"):
            _move(old, "superseded", "supersede", who, at, comment=f"superseded by {_label(a)}")
            # what the old version governed and the new one does not falls back
            _release_schedule(session, old, default_days)
    _enforce_service_level(session, a, at)
    from preserve.services.retention import backfill

    backfill(session, a, at)  # the packages already in its collections are linked and scheduled
    _enforce_rule_scopes(session, a, at, default_days)


def _rule_packages(session: Session, a: Agreement) -> list[str]:
    """The stored packages linked to a version of ``a``'s reference (``package_retention``),
    when ``a`` selects packages by a metadata rule: those it governs by that rule."""
    from preserve.catalogue.retention import PackageRetention

    if not any(s.selector == "metadata" for s in a.scopes):
        return []
    return list(
        session.scalars(
            sa.select(PackageRetention.package_id)
            .join(Package, Package.id == PackageRetention.package_id)
            .where(PackageRetention.reference == a.reference, Package.status == "stored")
            .order_by(PackageRetention.package_id)
        )
    )


def _enforce_rule_scopes(
    session: Session, a: Agreement, at: datetime, default_days: int | None
) -> None:
    """The service level of an agreement with a metadata-rule scope takes effect for the
    packages it governs (linked by :func:`preserve.services.retention.backfill`): their copies
    are next due by its fixity interval, and a ``sync`` job per collection holding them places
    the copies it asks for."""
    from preserve.services.schedule import reschedule

    packages = _rule_packages(session, a)
    if not packages:
        return
    reschedule(session, [], default_days, package_ids=packages)
    collection_ids = sorted(
        set(session.scalars(sa.select(Package.collection_id).where(Package.id.in_(packages))))
    )
    for collection_id in collection_ids:
        _queue_sync(session, a, collection_id, at)


def _release_schedule(session: Session, a: Agreement, default_days: int | None) -> None:
    """``a`` stopped governing (expired, superseded, closed): the copies of its collections and
    of the packages its metadata rule governed are next due by the interval in force without
    it (another agreement's, the collection's, the location's, else ``default_days``)."""
    from preserve.services.schedule import reschedule

    session.flush()  # its new state, so that its interval no longer counts
    ids = [s.collection_id for s in a.scopes if s.collection_id is not None]
    reschedule(session, ids, default_days, package_ids=_rule_packages(session, a))


def _enforce_service_level(session: Session, a: Agreement, at: datetime) -> None:
    """Its service level takes effect: the copies of the collections in scope are next due by
    the fixity interval now in force (the shortest of the collection's, its agreements' and
    the location's), and a ``sync`` job per collection with stored packages places the copies
    it asks for (queued with the activation; a worker's reaper tick picks it up)."""
    from preserve.services.schedule import reschedule

    ids = [s.collection_id for s in a.scopes if s.collection_id is not None]
    reschedule(session, ids)
    for collection_id in ids:
        _queue_sync(session, a, collection_id, at)


def _queue_sync(session: Session, a: Agreement, collection_id: int, at: datetime) -> None:
    """A ``sync`` job for the collection with ``a``'s activation (once per version and
    collection; none while it holds no stored package)."""
    from preserve.catalogue.models import Job

    coll = session.get(Collection, collection_id)
    key = f"agreement-sync:{a.reference}:v{a.version_no}:{collection_id}"
    stored = session.scalar(
        sa.select(Package.id)
        .where(Package.collection_id == collection_id, Package.status == "stored")
        .limit(1)
    )
    if (
        coll is None
        or stored is None  # nothing to place yet
        or session.scalar(sa.select(Job.id).where(Job.idempotency_key == key))
    ):
        return
    session.add(
        Job(
            kind="sync",
            state="queued",
            payload={"collection": coll.slug, "organisation": coll.organisation.slug},
            requested_by=f"agreement {_label(a)}",
            idempotency_key=key,
            attempts=0,
            max_attempts=5,
            cancel_requested=False,
            files_done=0,
            bytes_done=0,
            created_at=at,
        )
    )


def activate(
    app: Application, who: Principal, ident: str, *, now: datetime | None = None
) -> AgreementDetail:
    """signed -> active, from its start date on (refused before it, with the date)."""
    at = _now(now)
    with app.uow() as uow:
        a = _find_visible(uow.session, ident, who, for_update=True)
        _require(a, ("signed",), "activate")
        _custodian_staff(who, a, "activate")
        if a.effective_from is None or a.effective_from > at.date():
            raise Conflict(f"cannot activate {_label(a)} before its start date {a.effective_from}")
        _activate(uow.session, a, who, at, app.settings.fixity_interval_days)
        uow.commit()
        return show(app, f"{a.reference}/v{a.version_no}")


def confirm_review(
    app: Application, who: Principal, ident: str, *, now: datetime | None = None
) -> AgreementDetail:
    """under_review -> active; the next review moves one review interval on from today."""
    at = _now(now)
    with app.uow() as uow:
        a = _find_visible(uow.session, ident, who, for_update=True)
        _require(a, ("under_review",), "confirm the review of")
        _custodian_staff(who, a, "confirm the review of")
        a.next_review_on = add_months(at.date(), a.review_interval_months or 60)
        _move(a, "active", "review_confirmed", who, at, comment=f"next review {a.next_review_on}")
        uow.commit()
        return show(app, f"{a.reference}/v{a.version_no}")


def suspend(
    app: Application, who: Principal, ident: str, reason: str, *, now: datetime | None = None
) -> AgreementDetail:
    """active|under_review -> suspended: new ingest is refused, preservation goes on."""
    at = _now(now)
    if not reason or not reason.strip():
        raise InvalidInput(
            "reason: say why the agreement is suspended (breach, rights challenge ...)"
        )
    with app.uow() as uow:
        a = _find_visible(uow.session, ident, who, for_update=True)
        _require(a, ("active", "under_review"), "suspend")
        _custodian_staff(who, a, "suspend")
        _move(a, "suspended", "suspend", who, at, comment=reason.strip())
        uow.commit()
        return show(app, f"{a.reference}/v{a.version_no}")


def resume(
    app: Application, who: Principal, ident: str, *, comment: str = "", now: datetime | None = None
) -> AgreementDetail:
    at = _now(now)
    with app.uow() as uow:
        a = _find_visible(uow.session, ident, who, for_update=True)
        _require(a, ("suspended",), "resume")
        _custodian_staff(who, a, "resume")
        _move(a, "active", "resume", who, at, comment=comment.strip())
        uow.commit()
        return show(app, f"{a.reference}/v{a.version_no}")


def give_notice(
    app: Application,
    who: Principal,
    ident: str,
    party: str,
    reason: str,
    *,
    now: datetime | None = None,
) -> AgreementDetail:
    """A party terminates: notice_given now, exiting when the notice period has run out."""
    at = _now(now)
    if not reason or not reason.strip():
        raise InvalidInput("reason: say why notice is given")
    with app.uow() as uow:
        a = _find_visible(uow.session, ident, who, for_update=True)
        _require(a, ("active", "under_review", "suspended"), "give notice on")
        target = _party(a, party)
        if not (who.is_admin and "custodian" in target.role_names):
            _may_act_for(who, target, "give notice")
        a.notice_given_on = at.date()
        _move(a, "notice_given", "give_notice", who, at, comment=reason.strip(), party=party)
        uow.commit()
        return show(app, f"{a.reference}/v{a.version_no}")


def start_exit(
    app: Application, who: Principal, ident: str, *, now: datetime | None = None
) -> AgreementDetail:
    """expired -> exiting (or notice_given -> exiting once the notice period is over)."""
    at = _now(now)
    with app.uow() as uow:
        a = _find_visible(uow.session, ident, who, for_update=True)
        _require(a, ("expired", "notice_given"), "start the exit of")
        _custodian_staff(who, a, "start the exit of")
        if a.state == "notice_given":
            ends = _notice_ends(a)
            if ends is not None and ends > at.date():
                raise Conflict(
                    f"cannot start the exit of {_label(a)}: its notice period runs until {ends}"
                )
        _move(a, "exiting", "start_exit", who, at)
        uow.commit()
        return show(app, f"{a.reference}/v{a.version_no}")


def close(
    app: Application, who: Principal, ident: str, evidence: str, *, now: datetime | None = None
) -> AgreementDetail:
    """exiting -> closed, with what shows that the exit obligations were met; refused while
    packages in scope wait for their export, the receiving party's confirmation or the post-exit
    action (:func:`preserve.services.exits.close_refusal`)."""
    at = _now(now)
    if not evidence or not evidence.strip():
        raise InvalidInput(
            "evidence: say how the exit obligations were met "
            "(return, transfer, deletion certificate)"
        )
    with app.uow() as uow:
        a = _find_visible(uow.session, ident, who, for_update=True)
        _require(a, ("exiting",), "close")
        _custodian_staff(who, a, "close")
        from preserve.services.exits import close_refusal

        refusal = close_refusal(uow.session, a)
        if refusal is not None:
            raise Conflict(f"cannot close {_label(a)}: {refusal}")
        _move(a, "closed", "close", who, at, comment=evidence.strip())
        _release_schedule(uow.session, a, app.settings.fixity_interval_days)
        uow.commit()
        return show(app, f"{a.reference}/v{a.version_no}")


def withdraw(
    app: Application, who: Principal, ident: str, reason: str = "", *, now: datetime | None = None
) -> AgreementDetail:
    at = _now(now)
    with app.uow() as uow:
        a = _find_visible(uow.session, ident, who, for_update=True)
        _require(a, ("draft", "proposed"), "withdraw")
        _may_prepare(who, a)
        _move(a, "withdrawn", "withdraw", who, at, comment=reason.strip())
        uow.commit()
        return show(app, f"{a.reference}/v{a.version_no}")


def _copy_terms(old: Agreement, new: Agreement) -> None:
    parties: dict[int, AgreementParty] = {}
    for p in old.parties:
        copy = AgreementParty(
            organisation=p.organisation,
            position=p.position,
            required_signatures=p.required_signatures,
            roles=[PartyRole(role=r) for r in p.role_names],
            **{x: getattr(p, x) for x in AUTHORITIES},
        )
        parties[p.id] = copy
        new.parties.append(copy)
    for p in old.parties:
        if p.represented_by_id is not None:
            parties[p.id].represented_by = parties.get(p.represented_by_id)
    new.scopes = [
        AgreementScope(
            selector=s.selector,
            collection_id=s.collection_id,
            element=s.element,
            operator=s.operator,
            value=s.value,
        )
        for s in old.scopes
    ]
    if old.retention_rule is not None:
        r = old.retention_rule
        new.retention_rule = RetentionRule(
            action=r.action,
            trigger=r.trigger,
            period_value=r.period_value,
            period_unit=r.period_unit,
            bound=r.bound,
            motivation=r.motivation,
            legal_basis=r.legal_basis,
        )
    if old.service_level is not None:
        sl = old.service_level
        new.service_level = ServiceLevel(
            min_copies=sl.min_copies,
            min_distinct_sites=sl.min_distinct_sites,
            allowed_regions=list(sl.allowed_regions or []),
            offline_copy_required=sl.offline_copy_required,
            fixity_interval_days=sl.fixity_interval_days,
            restore_test_interval_days=sl.restore_test_interval_days,
        )
    new.formats = [FormatPolicy(puid=f.puid, level=f.level) for f in old.formats]
    new.rights_grants = [
        RightsGrant(
            act=g.act,
            restriction=g.restriction,
            start_date=g.start_date,
            end_date=g.end_date,
            note=g.note,
        )
        for g in old.rights_grants
    ]
    new.access_conditions = [
        AccessCondition(
            action=c.action,
            access_group=c.access_group,
            organisation_id=c.organisation_id,
            embargo_until=c.embargo_until,
            note=c.note,
        )
        for c in old.access_conditions
    ]
    if old.exit_terms is not None:
        ex = old.exit_terms
        new.exit_terms = ExitTerms(
            recipient=parties.get(ex.recipient_party_id) if ex.recipient_party_id else None,
            package_format=ex.package_format,
            deadline_days=ex.deadline_days,
            post_exit_action=ex.post_exit_action,
            retain_until=ex.retain_until,
        )
    new.documents = [
        AgreementDocument(
            name=d.name,
            kind=d.kind,
            media_type=d.media_type,
            size=d.size,
            sha256=d.sha256,
            storage_key=d.storage_key,
            uploaded_by=d.uploaded_by,
            uploaded_at=d.uploaded_at,
        )
        for d in old.documents
        if d.kind != "signed_copy"
    ]


def amend(
    app: Application, who: Principal, ident: str, reason: str = "", *, now: datetime | None = None
) -> AgreementDetail:
    """A new draft version with the terms of an active (or under review) version; once signed and
    activated it supersedes that version, which is kept."""
    at = _now(now)
    with app.uow() as uow:
        s = uow.session
        old = _find_visible(s, ident, who, for_update=True)
        _require(old, ("active", "under_review", "suspended"), "amend")
        _may_prepare(who, old)
        pending = s.scalars(
            sa.select(Agreement).where(
                Agreement.reference == old.reference,
                Agreement.version_no > old.version_no,
                Agreement.state.in_(PREPARING),
            )
        ).first()
        if pending is not None:
            raise Conflict(
                f"cannot amend {_label(old)}: {_label(pending)} is already being prepared "
                f"({pending.state.replace('_', ' ')})"
            )
        newest = (
            s.scalar(
                sa.select(sa.func.max(Agreement.version_no)).where(
                    Agreement.reference == old.reference
                )
            )
            or 0
        )
        new = Agreement(
            reference=old.reference,
            version_no=newest + 1,
            kind=old.kind,
            title=old.title,
            summary=old.summary,
            component=old.component,
            parent_id=old.parent_id,
            supersedes_id=old.id,
            state="draft",
            effective_from=old.effective_from,
            effective_until=old.effective_until,
            review_interval_months=old.review_interval_months,
            notice_period_days=old.notice_period_days,
            legal_basis=old.legal_basis,
            rights_statement_uri=old.rights_statement_uri,
            licence_uri=old.licence_uri,
            created_by=who.username,
            created_at=at,
            updated_by=who.username,
            updated_at=at,
        )
        _copy_terms(old, new)
        _event(
            new,
            "amend",
            "draft",
            who,
            at,
            comment=f"amends {_label(old)}" + (f": {reason.strip()}" if reason.strip() else ""),
        )
        s.add(new)
        _event(
            old,
            "amendment_started",
            old.state,
            who,
            at,
            from_state=old.state,
            comment=f"{_label(new)} drafted",
        )
        _commit_new(uow, f"{_label(new)} was made by someone else at the same time; try again")
        return show(app, f"{new.reference}/v{new.version_no}")


# ---------------------------------------------------------------------------- time


def _notice_ends(a: Agreement) -> date | None:
    if a.notice_given_on is None:
        return None
    return a.notice_given_on + timedelta(days=a.notice_period_days or 0)


@dataclass(frozen=True)
class _Step:
    """One move :func:`advance` makes (or would make) on an agreement, and the day it is due."""

    to_state: str
    action: str
    comment: str
    due_on: date


def _first_review(a: Agreement) -> date | None:
    """The review date an agreement has once active: its own, else its start date plus its
    review interval."""
    if a.next_review_on is None and a.review_interval_months and a.effective_from:
        return add_months(a.effective_from, a.review_interval_months)
    return a.next_review_on


def _due_steps(a: Agreement, today: date) -> list[_Step]:
    """The moves due on ``today`` for ``a``, in order, worked out without changing it: signed
    -> active at the start date, active|under_review -> expired after the end date (else
    active -> under_review at the review date), notice_given -> exiting when the notice
    period has run out."""
    steps: list[_Step] = []
    state, review_on = a.state, a.next_review_on
    if state == "signed" and a.effective_from is not None and a.effective_from <= today:
        steps.append(_Step("active", "activate", "", a.effective_from))
        state, review_on = "active", _first_review(a)
    if (
        state in ("active", "under_review")
        and a.effective_until is not None
        and a.effective_until < today
    ):
        ended = a.effective_until
        steps.append(
            _Step("expired", "expire", f"end date {ended} passed", ended + timedelta(days=1))
        )
    elif state == "active" and review_on is not None and review_on <= today:
        steps.append(_Step("under_review", "review_due", f"review date {review_on}", review_on))
    if state == "notice_given":
        ends = _notice_ends(a)
        if ends is not None and ends <= today:
            steps.append(_Step("exiting", "notice_ended", f"notice period ended {ends}", ends))
    return steps


def advance(
    app: Application, now: datetime | None = None, *, dry_run: bool = False
) -> list[Transition]:
    """Move what is due on ``now``'s date: signed -> active at the start date, active ->
    under_review at the review date, active|under_review -> expired after the end date,
    notice_given -> exiting when the notice period has run out. Run daily by the workers.
    With ``dry_run`` nothing is written: the moves that would be made are returned (a
    rehearsal of a later day must not move real agreements)."""
    at = _now(now)
    today = at.date()
    moved: list[Transition] = []
    with app.uow() as uow:
        s = uow.session
        query = (
            _load(s)
            .where(Agreement.state.in_(("signed", "active", "under_review", "notice_given")))
            .order_by(Agreement.id)
        )
        if not dry_run:
            _write_lock(s)
            query = query.with_for_update(of=Agreement, skip_locked=True)
        for a in list(s.scalars(query)):
            steps = _due_steps(a, today)
            if not steps:
                continue
            moved.append(
                Transition(a.reference, a.version_no, a.state, steps[-1].to_state, steps[-1].due_on)
            )
            if dry_run:
                continue
            for step in steps:
                if step.action == "activate":
                    _activate(s, a, None, at, app.settings.fixity_interval_days)
                else:
                    _move(a, step.to_state, step.action, None, at, comment=step.comment)
                    if step.action == "expire":
                        _release_schedule(s, a, app.settings.fixity_interval_days)
        if not dry_run:
            uow.commit()
    return moved


# ---------------------------------------------------------------------------- documents


def _sniff(name: str, data: bytes) -> str:
    """The media type of an agreement document, from its bytes, or InvalidInput."""
    suffix = Path(name).suffix.lower()
    if data.startswith(b"%PDF-"):
        media = "application/pdf"
    elif data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                names = set(z.namelist())
                if (
                    "mimetype" in names
                    and z.read("mimetype").strip() == b"application/vnd.oasis.opendocument.text"
                ):
                    media = "application/vnd.oasis.opendocument.text"
                elif "[Content_Types].xml" in names and "word/document.xml" in names:
                    if any(n.lower().endswith("vbaproject.bin") for n in names):
                        raise InvalidInput(f"{name}: a Word document with macros is refused")
                    media = (
                        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
                    )
                else:
                    raise InvalidInput(
                        f"{name}: a zip archive that is neither ODT nor DOCX is refused"
                    )
        except zipfile.BadZipFile:
            raise InvalidInput(f"{name}: not a readable ODT or DOCX (damaged zip)") from None
    else:
        if b"\x00" in data:
            raise InvalidInput(f"{name}: not a PDF, plain text, ODT or DOCX document")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(
                f"{name}: not a PDF, ODT or DOCX, and not UTF-8 plain text"
            ) from None
        head = text.lstrip("\ufeff \t\r\n")[:100].lower()
        if head.startswith(("<!doctype html", "<html", "<script", "<svg", "<?xml")):
            raise InvalidInput(
                f"{name}: HTML, SVG or XML is refused; give PDF, plain text, ODT or DOCX"
            )
        media = "text/plain"
    if suffix not in DOCUMENT_TYPES[media]:
        raise InvalidInput(
            f"{name}: the content is {media} but the name ends in {suffix or 'nothing'}; "
            f"name it *{DOCUMENT_TYPES[media][0]}"
        )
    return media


def attach_document(
    app: Application,
    who: Principal,
    ident: str,
    source: Path,
    *,
    kind: str = "main_text",
    name: str | None = None,
    now: datetime | None = None,
) -> DocumentInfo:
    """Keep a document (PDF, plain text, ODT, DOCX; at most 25 MiB) with its SHA-256 under
    ``PRESERVE_HOME/agreements``. A draft takes every kind; a version past drafting only a
    ``signed_copy`` (evidence that does not change its terms)."""
    at = _now(now)
    if kind not in DOCUMENT_KINDS:
        raise InvalidInput(f"kind: {kind!r} is not one of {', '.join(DOCUMENT_KINDS)}")
    shown = name or source.name
    if not source.is_file():
        raise InvalidInput(f"{source}: no such file")
    size = source.stat().st_size
    if size > MAX_DOCUMENT_BYTES:
        raise InvalidInput(
            f"{shown}: {size:,} bytes is more than the limit of "
            f"{MAX_DOCUMENT_BYTES:,} bytes (25 MiB)"
        )
    if size == 0:
        raise InvalidInput(f"{shown}: the file is empty")
    data = source.read_bytes()
    media = _sniff(shown, data)
    digest = hashlib.sha256(data).hexdigest()
    with app.uow() as uow:
        a = _find_visible(uow.session, ident, who, for_update=True)
        if kind != "signed_copy":
            _require_draft(a)
        elif a.state in ("draft", "withdrawn"):
            raise Conflict(
                f"a signed copy belongs to a version being signed or signed, not a {a.state} one"
            )
        _may_prepare(who, a)
        folder = Path(app.settings.home) / "agreements" / str(a.id)
        folder.mkdir(parents=True, exist_ok=True)
        key = f"agreements/{a.id}/{digest}"
        target = Path(app.settings.home) / key
        if not target.exists():
            temporary = folder / f".{digest}.part"
            temporary.write_bytes(data)
            os.replace(temporary, target)
        doc = AgreementDocument(
            name=shown,
            kind=kind,
            media_type=media,
            size=size,
            sha256=digest,
            storage_key=key,
            uploaded_by=who.username,
            uploaded_at=at,
        )
        a.documents.append(doc)
        _event(
            a,
            "attach",
            a.state,
            who,
            at,
            from_state=a.state,
            comment=f"{kind} {shown} sha256 {digest}",
        )
        uow.commit()
        return DocumentInfo(
            doc.id,
            doc.name,
            doc.kind,
            doc.media_type,
            doc.size,
            doc.sha256,
            doc.uploaded_by,
            doc.uploaded_at,
        )


# ---------------------------------------------------------------------------- for later tasks


def _covering(session: Session, collection_id: int) -> list[Agreement]:
    """For each main agreement with the collection in scope, its latest version that took
    effect (superseded versions and amendments in preparation left out)."""
    rows = session.scalars(
        sa.select(Agreement)
        .join(AgreementScope, AgreementScope.agreement_id == Agreement.id)
        .where(
            AgreementScope.selector == "collection",
            AgreementScope.collection_id == collection_id,
            Agreement.component == "main",
            Agreement.state.in_(TOOK_EFFECT),
        )
        .order_by(Agreement.reference, Agreement.version_no)
    ).unique()
    latest: dict[str, Agreement] = {}
    for a in rows:
        latest[a.reference] = a
    return list(latest.values())


def ingest_allowed(session: Session, collection_id: int) -> tuple[bool, str]:
    """Whether new packages may enter the collection, and why: refused while an agreement over it
    is suspended, under notice, exiting, expired or closed; allowed under an active one (or when
    no agreement covers the collection)."""
    covering = _covering(session, collection_id)
    label = _collection_label(session, collection_id) or f"collection {collection_id}"
    for a in covering:
        if a.state not in INGEST_OPEN:
            why = {
                "suspended": (
                    "is suspended: new ingest is refused until it is resumed (preservation goes on)"
                ),
                "notice_given": "is under notice of termination: no new ingest",
                "exiting": "is exiting: no new ingest",
                "expired": "has expired: no new ingest until a new agreement is active",
                "closed": "is closed: no new ingest",
            }[a.state]
            return False, f"agreement {_label(a)} over {label} {why}"
    if covering:
        return True, f"under agreement {_label(covering[0])}"
    return True, f"no agreement covers {label}"


def _matches(scope: AgreementScope, description: Mapping[str, Any]) -> bool:
    values = description.get(scope.element or "", [])
    if isinstance(values, str):
        values = [values]
    wanted = (scope.value or "").casefold()
    for v in values:
        text = str(v).casefold()
        if (
            (scope.operator == "equals" and text == wanted)
            or (scope.operator == "contains" and wanted in text)
            or (scope.operator == "starts_with" and text.startswith(wanted))
        ):
            return True
    return False


def _oldest_activated(agreements: Iterable[Agreement]) -> Agreement | None:
    """The one that governs among several that apply: the oldest activated."""
    return min(
        agreements,
        key=lambda a: (a.activated_at or datetime.max.replace(tzinfo=UTC), a.id),
        default=None,
    )


def rule_candidates(session: Session) -> list[Agreement]:
    """The main versions in force with a metadata-rule scope, oldest activated first."""
    return list(
        session.scalars(
            sa.select(Agreement)
            .join(AgreementScope, AgreementScope.agreement_id == Agreement.id)
            .where(
                AgreementScope.selector == "metadata",
                Agreement.component == "main",
                Agreement.state.in_(IN_FORCE),
            )
            .options(selectinload(Agreement.scopes))
            .order_by(Agreement.activated_at, Agreement.id)
        ).unique()
    )


def _first_matching(
    candidates: Iterable[Agreement], description: Mapping[str, Any]
) -> Agreement | None:
    """The first of ``candidates`` whose metadata rule matches ``description``."""
    for a in candidates:
        if any(s.selector == "metadata" and _matches(s, description) for s in a.scopes):
            return a
    return None


def _governing(
    session: Session, package_id: str | None, collection_id: int | None
) -> Agreement | None:
    description: Mapping[str, Any] = {}
    if package_id is not None:
        package = session.get(Package, package_id)
        if package is None:
            raise NotFound(f"no package {package_id}")
        collection_id = package.collection_id
        description = package.description or {}
    by_collection = _oldest_activated(
        a
        for a in (_covering(session, collection_id) if collection_id else [])
        if a.state in IN_FORCE
    )
    if by_collection is not None or package_id is None:
        return by_collection
    return _first_matching(rule_candidates(session), description)


class GoverningLookup:
    """:func:`governing_agreement` for many packages in one session, without a query per
    package: each collection's agreement in force and the metadata-rule candidates are read
    once. For a pass that does not change agreements (linking packages does not)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._by_collection: dict[int, Agreement | None] = {}
        self._candidates: list[Agreement] | None = None

    def package(
        self, collection_id: int | None, description: Mapping[str, Any] | None
    ) -> AgreementRef | None:
        """The version in force that governs a package of ``collection_id`` with
        ``description`` (the same answer as :func:`governing_agreement`)."""
        a: Agreement | None = None
        if collection_id is not None:
            if collection_id not in self._by_collection:
                self._by_collection[collection_id] = _oldest_activated(
                    c for c in _covering(self._session, collection_id) if c.state in IN_FORCE
                )
            a = self._by_collection[collection_id]
        if a is None:
            if self._candidates is None:
                self._candidates = rule_candidates(self._session)
            a = _first_matching(self._candidates, description or {})
        return None if a is None else AgreementRef(a.id, a.reference, a.version_no, a.state)


def governing_agreement(
    session: Session, *, package_id: str | None = None, collection_id: int | None = None
) -> AgreementRef | None:
    """The version in force that governs a package (its collection's agreement, else the first
    whose metadata rule matches its description) or a collection; None when there is none. The
    oldest activated one wins when several apply (one governing rule per package)."""
    a = _governing(session, package_id, collection_id)
    return None if a is None else AgreementRef(a.id, a.reference, a.version_no, a.state)


def service_level_for(session: Session, collection_id: int) -> ServiceLevelInfo | None:
    """The service level of the agreement in force over the collection, or None."""
    a = _governing(session, None, collection_id)
    if a is None or a.service_level is None:
        return None
    return _service_info(a.service_level, _label(a))


def rights_for(
    session: Session, *, package_id: str | None = None, collection_id: int | None = None
) -> RightsInfo | None:
    """The rights granted to the custodian and the access conditions for a package or a
    collection, from the agreement in force; None when no agreement governs it."""
    a = _governing(session, package_id, collection_id)
    if a is None:
        return None
    return RightsInfo(
        agreement=_label(a),
        rights_statement=a.rights_statement_uri,
        licence=a.licence_uri,
        grants=tuple(_grant_info(g) for g in a.rights_grants),
        access=tuple(_access_info(session, c) for c in a.access_conditions),
    )


def principal_for_cli(app: Application, username: str) -> Principal:
    """The person named by ``--as`` (an unknown or deactivated one is NotFound)."""
    from preserve.services.tokens import principal_for_username

    return principal_for_username(app, username)


__all__ = [
    "AgreementDetail",
    "AgreementRef",
    "AgreementSummary",
    "GoverningLookup",
    "RightsInfo",
    "ServiceLevelInfo",
    "Transition",
    "activate",
    "advance",
    "agree",
    "amend",
    "attach_document",
    "canonical_rights_uri",
    "close",
    "confirm_review",
    "create_draft",
    "edit_draft",
    "give_notice",
    "governing_agreement",
    "ingest_allowed",
    "list_agreements",
    "propose",
    "resume",
    "rights_for",
    "rule_candidates",
    "same_reference",
    "send_back",
    "service_level_for",
    "show",
    "sign",
    "start_exit",
    "suspend",
    "verify_frozen",
    "withdraw",
]
