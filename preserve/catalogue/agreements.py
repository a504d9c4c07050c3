"""Collective retention agreements as typed catalogue rows (issue 12; the model of
``retention-agreements.md`` sections 3 and 4).

One ``agreements`` row per *version*: versions share a ``reference`` (``CRA-2026-001``) and differ
in ``version_no``; an amendment is a new draft version whose ``supersedes_id`` names the version it
replaces once it is signed and activated. Everything the parties sign hangs off the version in its
own table (parties and their roles, scope, the one retention rule, the service level, formats,
rights, access conditions, exit terms, documents), so that a signed version can be frozen as a
whole and its canonical content hashed (``content_hash``). The lifecycle lives in
:mod:`preserve.services.agreements`; the vocabularies below are enforced by CHECK constraints,
so changing one needs a migration.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from preserve.catalogue.models import Base, Organisation, utcnow
from preserve.errors import Conflict, FrozenVersion

AGREEMENT_KINDS = (
    "collaboration",
    "service",
    "management",
    "deposit",
    "submission",
    "data_processing",
    "escrow",
)
COMPONENTS = ("main", "annex", "addendum")
#: The states of retention-agreements.md 4.1 (each row is one version).
STATES = (
    "draft",
    "proposed",
    "pending_signature",
    "signed",
    "active",
    "under_review",
    "suspended",
    "notice_given",
    "exiting",
    "expired",
    "closed",
    "withdrawn",
    "superseded",
)
PARTY_ROLES = (
    "owner_depositor",
    "creator_rights_holder",
    "submitting_agent",
    "custodian",
    "storage_node",
    "umbrella_representative",
    "successor",
)
AUTHORITIES = ("approve_disposal", "approve_deletion", "approve_access_change", "approve_amendment")
DECISIONS = ("agree", "send_back")
SIGNATURE_METHODS = ("digital", "paper")
DOCUMENT_KINDS = ("main_text", "annex", "addendum", "signed_copy", "other")
SCOPE_SELECTORS = ("collection", "metadata")
SCOPE_OPERATORS = ("equals", "contains", "starts_with")
RETENTION_ACTIONS = (
    "keep_permanently",
    "review",
    "destroy",
    "transfer",
    "return_to_depositor",
    "keep_sample",
)
#: Fixed triggers; ``metadata_field:<element>`` and ``event:<type>`` are checked by the service.
RETENTION_TRIGGERS = ("ingest_date", "creation_date")
PERIOD_UNITS = ("days", "weeks", "months", "years")
BOUNDS = ("minimum", "maximum")
FORMAT_LEVELS = ("accepted", "preferred")
#: The PREMIS rightsGranted acts (Library of Congress vocabulary).
RIGHTS_ACTS = ("replicate", "migrate", "modify", "use", "disseminate", "delete")
RESTRICTIONS = ("allow", "disallow", "conditional")
ACCESS_ACTIONS = ("consult", "download")
ACCESS_GROUPS = ("public", "owner", "parties", "organisation")
EXIT_ACTIONS = ("delete_with_certificate", "retain_until", "transfer")
#: Versions whose terms may still change.
EDITABLE = ("draft",)
EXIT_FORMATS = ("bagit", "bagit_premis", "e_ark_aip")

#: The 12 statements of RightsStatements.org, version 1.0 (source: rightsstatements/data-model,
#: rights-statements.ttl; https://rightsstatements.org/page/1.0/). URIs are ``http://``, exactly
#: as Europeana asks; ``https://`` is accepted and stored as ``http://``.
RIGHTS_STATEMENTS = tuple(
    f"http://rightsstatements.org/vocab/{code}/1.0/"
    for code in (
        "InC",
        "InC-OW-EU",
        "InC-EDU",
        "InC-NC",
        "InC-RUU",
        "NoC-CR",
        "NoC-NC",
        "NoC-OKLR",
        "NoC-US",
        "CNE",
        "UND",
        "NKC",
    )
)
#: Creative Commons licences (4.0, 3.0 and 2.0 of the six BY licences), CC0 1.0 and the Public
#: Domain Mark 1.0 (source: https://creativecommons.org/licenses/ and
#: https://creativecommons.org/publicdomain/; Europeana's list of available rights statements).
CREATIVE_COMMONS = (
    *(
        f"http://creativecommons.org/licenses/{licence}/{version}/"
        for version in ("4.0", "3.0", "2.0")
        for licence in ("by", "by-sa", "by-nd", "by-nc", "by-nc-sa", "by-nc-nd")
    ),
    "http://creativecommons.org/publicdomain/zero/1.0/",
    "http://creativecommons.org/publicdomain/mark/1.0/",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Agreement(Base):
    """One version of an agreement (main text, annex or addendum)."""

    __tablename__ = "agreements"
    __table_args__ = (
        sa.UniqueConstraint("reference", "version_no"),
        sa.CheckConstraint(_in("kind", AGREEMENT_KINDS), name="kind"),
        sa.CheckConstraint(_in("component", COMPONENTS), name="component"),
        sa.CheckConstraint(_in("state", STATES), name="state"),
        sa.CheckConstraint("version_no >= 1", name="version_no"),
        sa.Index(None, "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The human code shared by every version: ``CRA-2026-001``.
    reference: Mapped[str] = mapped_column(sa.String(50))
    version_no: Mapped[int] = mapped_column(default=1)
    kind: Mapped[str] = mapped_column(sa.String(20))
    title: Mapped[str] = mapped_column(sa.String(255))
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    component: Mapped[str] = mapped_column(sa.String(10), default="main")
    #: The main agreement an annex or addendum belongs to (re-signed on its own).
    parent_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("agreements.id", ondelete="SET NULL"), index=True
    )
    #: The version this one replaces once it is signed and activated.
    supersedes_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("agreements.id", ondelete="SET NULL"), index=True
    )
    state: Mapped[str] = mapped_column(sa.String(20), default="draft")
    #: Start date (in force from that day) and end date (the last day in force; None: open).
    effective_from: Mapped[date | None] = mapped_column(sa.Date)
    effective_until: Mapped[date | None] = mapped_column(sa.Date)
    review_interval_months: Mapped[int | None] = mapped_column()
    next_review_on: Mapped[date | None] = mapped_column(sa.Date)
    notice_period_days: Mapped[int | None] = mapped_column()
    #: Legal basis or mandate: decree article, Series Register series, selection-list item.
    legal_basis: Mapped[str] = mapped_column(sa.Text, default="")
    #: A RightsStatements.org URI and/or a Creative Commons licence URI for the scope's content.
    rights_statement_uri: Mapped[str | None] = mapped_column(sa.String(255))
    licence_uri: Mapped[str | None] = mapped_column(sa.String(255))
    #: Incremented at every proposal: a party's decision counts for the round it was made in.
    proposal_round: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[str] = mapped_column(sa.String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(sa.String(100), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    signed_at: Mapped[datetime | None] = mapped_column()
    activated_at: Mapped[datetime | None] = mapped_column()
    notice_given_on: Mapped[date | None] = mapped_column(sa.Date)
    #: sha256 hex of the canonical content, stored when the version is signed (frozen).
    content_hash: Mapped[str | None] = mapped_column(sa.String(64))

    parties: Mapped[list[AgreementParty]] = relationship(
        back_populates="agreement",
        cascade="all, delete-orphan",
        order_by="AgreementParty.position",
        foreign_keys="AgreementParty.agreement_id",
    )
    scopes: Mapped[list[AgreementScope]] = relationship(
        cascade="all, delete-orphan", order_by="AgreementScope.id"
    )
    retention_rule: Mapped[RetentionRule | None] = relationship(cascade="all, delete-orphan")
    service_level: Mapped[ServiceLevel | None] = relationship(cascade="all, delete-orphan")
    formats: Mapped[list[FormatPolicy]] = relationship(
        cascade="all, delete-orphan", order_by="FormatPolicy.puid"
    )
    rights_grants: Mapped[list[RightsGrant]] = relationship(
        cascade="all, delete-orphan", order_by="RightsGrant.id"
    )
    access_conditions: Mapped[list[AccessCondition]] = relationship(
        cascade="all, delete-orphan", order_by="AccessCondition.id"
    )
    exit_terms: Mapped[ExitTerms | None] = relationship(
        cascade="all, delete-orphan", foreign_keys="ExitTerms.agreement_id"
    )
    documents: Mapped[list[AgreementDocument]] = relationship(
        cascade="all, delete-orphan", order_by="AgreementDocument.id"
    )
    events: Mapped[list[AgreementEvent]] = relationship(
        cascade="all, delete-orphan", order_by="AgreementEvent.id"
    )

    def __repr__(self) -> str:
        return f"<Agreement {self.reference} v{self.version_no} {self.state}>"


class AgreementParty(Base):
    """An organisation's place in one version: its roles, authorities and signatures."""

    __tablename__ = "agreement_parties"
    __table_args__ = (
        sa.UniqueConstraint("agreement_id", "organisation_id"),
        sa.CheckConstraint("required_signatures >= 0", name="required_signatures"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(sa.ForeignKey("agreements.id", ondelete="CASCADE"))
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    #: An umbrella party that agrees and signs on this party's behalf.
    represented_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("agreement_parties.id", ondelete="SET NULL")
    )
    required_signatures: Mapped[int] = mapped_column(default=1)
    approve_disposal: Mapped[bool] = mapped_column(default=False)
    approve_deletion: Mapped[bool] = mapped_column(default=False)
    approve_access_change: Mapped[bool] = mapped_column(default=False)
    approve_amendment: Mapped[bool] = mapped_column(default=False)

    agreement: Mapped[Agreement] = relationship(
        back_populates="parties", foreign_keys=[agreement_id]
    )
    organisation: Mapped[Organisation] = relationship()
    represented_by: Mapped[AgreementParty | None] = relationship(remote_side=[id])
    roles: Mapped[list[PartyRole]] = relationship(
        cascade="all, delete-orphan", order_by="PartyRole.role"
    )
    decisions: Mapped[list[PartyDecision]] = relationship(
        cascade="all, delete-orphan", order_by="PartyDecision.id"
    )
    signatures: Mapped[list[Signature]] = relationship(
        cascade="all, delete-orphan", order_by="Signature.id"
    )

    @property
    def role_names(self) -> list[str]:
        return [r.role for r in self.roles]


class PartyRole(Base):
    __tablename__ = "agreement_party_roles"
    __table_args__ = (sa.CheckConstraint(_in("role", PARTY_ROLES), name="role"),)

    party_id: Mapped[int] = mapped_column(
        sa.ForeignKey("agreement_parties.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(sa.String(30), primary_key=True)


class PartyDecision(Base):
    """A party agreeing to a proposal, or sending it back with a comment."""

    __tablename__ = "agreement_decisions"
    __table_args__ = (sa.CheckConstraint(_in("decision", DECISIONS), name="decision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    party_id: Mapped[int] = mapped_column(
        sa.ForeignKey("agreement_parties.id", ondelete="CASCADE"), index=True
    )
    proposal_round: Mapped[int] = mapped_column()
    decision: Mapped[str] = mapped_column(sa.String(10))
    comment: Mapped[str] = mapped_column(sa.Text, default="")
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    decided_by: Mapped[str] = mapped_column(sa.String(100))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)


class Signature(Base):
    """A signatory's signature for a party: person, capacity, method, time, what was signed."""

    __tablename__ = "agreement_signatures"
    __table_args__ = (sa.CheckConstraint(_in("method", SIGNATURE_METHODS), name="method"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    party_id: Mapped[int] = mapped_column(
        sa.ForeignKey("agreement_parties.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    signatory: Mapped[str] = mapped_column(sa.String(255))
    #: The capacity (hoedanigheid) the person signs in: "director", "alderman for culture".
    capacity: Mapped[str] = mapped_column(sa.String(255))
    method: Mapped[str] = mapped_column(sa.String(10))
    signed_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: sha256 hex of the document signed (an attached document, or the version's content).
    document_sha256: Mapped[str] = mapped_column(sa.String(64))


class AgreementDocument(Base):
    """An attached document (text, annex, signed copy); the bytes are kept under the preserve
    home at ``storage_key`` and served only as a download, never rendered."""

    __tablename__ = "agreement_documents"
    __table_args__ = (sa.CheckConstraint(_in("kind", DOCUMENT_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(
        sa.ForeignKey("agreements.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(255))
    kind: Mapped[str] = mapped_column(sa.String(20))
    media_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    storage_key: Mapped[str] = mapped_column(sa.String(255))
    uploaded_by: Mapped[str] = mapped_column(sa.String(100), default="")
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)


class AgreementScope(Base):
    """What the agreement covers: a collection, or a metadata rule open to future accruals."""

    __tablename__ = "agreement_scopes"
    __table_args__ = (
        sa.CheckConstraint(_in("selector", SCOPE_SELECTORS), name="selector"),
        sa.CheckConstraint(
            "(selector = 'collection' AND collection_id IS NOT NULL) OR "
            "(selector = 'metadata' AND element IS NOT NULL AND operator IS NOT NULL "
            "AND value IS NOT NULL)",
            name="complete",
        ),
        sa.CheckConstraint(
            "operator IS NULL OR " + _in("operator", SCOPE_OPERATORS), name="operator"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(
        sa.ForeignKey("agreements.id", ondelete="CASCADE"), index=True
    )
    selector: Mapped[str] = mapped_column(sa.String(20))
    collection_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("collections.id", ondelete="CASCADE"), index=True
    )
    #: A Dublin Core element of the package description (``subject``, ``type`` ...).
    element: Mapped[str | None] = mapped_column(sa.String(100))
    operator: Mapped[str | None] = mapped_column(sa.String(20))
    value: Mapped[str | None] = mapped_column(sa.Text)


class RetentionRule(Base):
    """The one governing retention rule of a version (its disposal schedule)."""

    __tablename__ = "retention_rules"
    __table_args__ = (
        sa.CheckConstraint(_in("action", RETENTION_ACTIONS), name="action"),
        sa.CheckConstraint(_in("period_unit", PERIOD_UNITS), name="period_unit"),
        sa.CheckConstraint(_in("bound", BOUNDS), name="bound"),
        sa.CheckConstraint("period_value >= 0", name="period_value"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(
        sa.ForeignKey("agreements.id", ondelete="CASCADE"), unique=True
    )
    action: Mapped[str] = mapped_column(sa.String(30))
    #: ``ingest_date``, ``creation_date``, ``metadata_field:<element>`` or ``event:<type>``.
    trigger: Mapped[str] = mapped_column(sa.String(120))
    period_value: Mapped[int] = mapped_column()
    period_unit: Mapped[str] = mapped_column(sa.String(10))
    bound: Mapped[str] = mapped_column(sa.String(10), default="minimum")
    motivation: Mapped[str] = mapped_column(sa.Text)
    legal_basis: Mapped[str] = mapped_column(sa.Text)


class ServiceLevel(Base):
    """The preservation service level: copies, sites, regions, fixity and restore tests."""

    __tablename__ = "agreement_service_levels"
    __table_args__ = (
        sa.CheckConstraint("min_copies >= 1", name="min_copies"),
        sa.CheckConstraint("min_distinct_sites >= 1", name="min_distinct_sites"),
        sa.CheckConstraint("fixity_interval_days >= 1", name="fixity_interval_days"),
        sa.CheckConstraint(
            "restore_test_interval_days IS NULL OR restore_test_interval_days >= 1",
            name="restore_test_interval_days",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(
        sa.ForeignKey("agreements.id", ondelete="CASCADE"), unique=True
    )
    min_copies: Mapped[int] = mapped_column()
    min_distinct_sites: Mapped[int] = mapped_column(default=1)
    #: Region codes (ISO 3166-1 alpha-2 or ``EU``), checked by the service; empty: any region.
    allowed_regions: Mapped[list[Any]] = mapped_column(sa.JSON, default=list)
    offline_copy_required: Mapped[bool] = mapped_column(default=False)
    fixity_interval_days: Mapped[int] = mapped_column()
    restore_test_interval_days: Mapped[int | None] = mapped_column()


class FormatPolicy(Base):
    """An accepted or preferred format, by PRONOM PUID."""

    __tablename__ = "agreement_formats"
    __table_args__ = (
        sa.UniqueConstraint("agreement_id", "puid"),
        sa.CheckConstraint(_in("level", FORMAT_LEVELS), name="level"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(sa.ForeignKey("agreements.id", ondelete="CASCADE"))
    puid: Mapped[str] = mapped_column(sa.String(30))
    level: Mapped[str] = mapped_column(sa.String(10))


class RightsGrant(Base):
    """A PREMIS act granted to (or withheld from) the custodian, with its term."""

    __tablename__ = "agreement_rights"
    __table_args__ = (
        sa.UniqueConstraint("agreement_id", "act"),
        sa.CheckConstraint(_in("act", RIGHTS_ACTS), name="act"),
        sa.CheckConstraint(_in("restriction", RESTRICTIONS), name="restriction"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(sa.ForeignKey("agreements.id", ondelete="CASCADE"))
    act: Mapped[str] = mapped_column(sa.String(20))
    restriction: Mapped[str] = mapped_column(sa.String(20))
    start_date: Mapped[date | None] = mapped_column(sa.Date)
    end_date: Mapped[date | None] = mapped_column(sa.Date)
    note: Mapped[str] = mapped_column(sa.Text, default="")


class AccessCondition(Base):
    """Who may consult or download the content in scope, and until when an embargo runs."""

    __tablename__ = "agreement_access"
    __table_args__ = (
        sa.CheckConstraint(_in("action", ACCESS_ACTIONS), name="action"),
        sa.CheckConstraint(_in("access_group", ACCESS_GROUPS), name="access_group"),
        sa.CheckConstraint(
            "(access_group = 'organisation') = (organisation_id IS NOT NULL)", name="organisation"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(
        sa.ForeignKey("agreements.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(sa.String(10))
    access_group: Mapped[str] = mapped_column(sa.String(20))
    organisation_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("organisations.id", ondelete="CASCADE")
    )
    embargo_until: Mapped[date | None] = mapped_column(sa.Date)
    note: Mapped[str] = mapped_column(sa.Text, default="")


class ExitTerms(Base):
    """What happens on exit: who receives what, by when, and what the custodian does after."""

    __tablename__ = "agreement_exit_terms"
    __table_args__ = (
        sa.CheckConstraint(_in("post_exit_action", EXIT_ACTIONS), name="post_exit_action"),
        sa.CheckConstraint(_in("package_format", EXIT_FORMATS), name="package_format"),
        sa.CheckConstraint("deadline_days >= 1", name="deadline_days"),
        sa.CheckConstraint(
            "post_exit_action <> 'retain_until' OR retain_until IS NOT NULL", name="retain_until"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(
        sa.ForeignKey("agreements.id", ondelete="CASCADE"), unique=True
    )
    recipient_party_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("agreement_parties.id", ondelete="SET NULL")
    )
    package_format: Mapped[str] = mapped_column(sa.String(20), default="bagit_premis")
    deadline_days: Mapped[int] = mapped_column()
    post_exit_action: Mapped[str] = mapped_column(sa.String(30))
    retain_until: Mapped[date | None] = mapped_column(sa.Date)

    recipient: Mapped[AgreementParty | None] = relationship()


class AgreementEvent(Base):
    """Every transition (and every edit of a draft): who, when, from which state to which."""

    __tablename__ = "agreement_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(
        sa.ForeignKey("agreements.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(sa.String(30))
    from_state: Mapped[str | None] = mapped_column(sa.String(20))
    to_state: Mapped[str] = mapped_column(sa.String(20))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(sa.String(100))
    #: The party the person acted for (agree, send back, sign), by organisation slug.
    party: Mapped[str | None] = mapped_column(sa.String(100))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    comment: Mapped[str] = mapped_column(sa.Text, default="")


# ---------------------------------------------------------------------------- the frozen guard
# Registered here, beside the models, so that whatever code changes a version's terms (a
# service, a web form, a script) is refused at flush once the version is no longer a draft.

#: Agreement columns that record the lifecycle, not the terms: they change after signing.
_LIFECYCLE_COLUMNS = frozenset(
    {
        "state",
        "proposal_round",
        "updated_by",
        "updated_at",
        "signed_at",
        "activated_at",
        "notice_given_on",
        "content_hash",
        "next_review_on",
    }
)
_TERM_CLASSES = (
    AgreementScope,
    RetentionRule,
    ServiceLevel,
    FormatPolicy,
    RightsGrant,
    AccessCondition,
    ExitTerms,
    AgreementParty,
    PartyRole,
)


_CHILDREN = ("parties", "scopes", "formats", "rights_grants", "access_conditions", "documents")
_CHILD = ("retention_rule", "service_level", "exit_terms")


def _owners(session: Session) -> dict[int, Agreement]:
    """Term rows not flushed yet (no foreign key set) -> the agreement whose loaded
    relationships hold them; read from ``__dict__`` so nothing is loaded here."""
    owners: dict[int, Agreement] = {}
    agreements = [
        o for o in (*session.identity_map.values(), *session.new) if isinstance(o, Agreement)
    ]
    for a in agreements:
        for name in _CHILDREN:
            for child in a.__dict__.get(name, ()):
                owners[id(child)] = a
                for role in child.__dict__.get("roles", ()) if name == "parties" else ():
                    owners[id(role)] = a
        for name in _CHILD:
            child = a.__dict__.get(name)
            if child is not None:
                owners[id(child)] = a
    return owners


def _owning_agreement(
    session: Session, obj: Any, owners: Mapping[int, Agreement]
) -> Agreement | None:
    found = owners.get(id(obj))
    if found is not None:
        return found
    if isinstance(obj, PartyRole):
        party = session.get(AgreementParty, obj.party_id) if obj.party_id is not None else None
        if party is None:
            return None
        return party.__dict__.get("agreement") or session.get(Agreement, party.agreement_id)
    if isinstance(obj, AgreementParty) and obj.__dict__.get("agreement") is not None:
        return obj.agreement
    agreement_id = getattr(obj, "agreement_id", None)
    return None if agreement_id is None else session.get(Agreement, agreement_id)


#: Relationships of an agreement that hold its terms (a change to them is a change of terms).
_TERM_RELATIONSHIPS = tuple(n for n in (*_CHILDREN, *_CHILD) if n != "documents")
#: Rows that record what happened: added, never changed or removed on their own.
_HISTORY_CLASSES = (Signature, PartyDecision, AgreementEvent)


def _previous_state(obj: Agreement) -> str:
    was = sa.inspect(obj).attrs.state.history.deleted
    return str(was[0]) if was else obj.state


def _terms_changed(obj: Agreement) -> bool:
    state = sa.inspect(obj)
    for attr in state.attrs:
        if attr.key in Agreement.__table__.c:
            if attr.key not in _LIFECYCLE_COLUMNS and attr.history.has_changes():
                return True
        elif attr.key in _TERM_RELATIONSHIPS and attr.history.has_changes():
            return True
    documents = state.attrs.documents.history
    # a signed copy may be added to a version past drafting; nothing else, and none removed
    return bool(documents.deleted) or any(d.kind != "signed_copy" for d in documents.added)


def _check_history(session: Session, obj: Any) -> None:
    if obj in session.dirty and session.is_modified(obj, include_collections=False):
        raise Conflict(f"{type(obj).__name__} {obj.id}: agreement history is never changed")
    if obj in session.deleted:
        parent: Any
        if isinstance(obj, AgreementEvent):
            parent = session.get(Agreement, obj.agreement_id)
        else:
            parent = session.get(AgreementParty, obj.party_id)
        if parent is not None and parent not in session.deleted:
            raise Conflict(f"{type(obj).__name__} {obj.id}: agreement history is never removed")


def _touches_terms(session: Session, obj: Any) -> bool:
    """Whether a pending ``obj`` adds, changes or removes a row of an agreement's terms."""
    if isinstance(obj, AgreementDocument):
        return not (obj in session.new and obj.kind == "signed_copy")
    if not isinstance(obj, _TERM_CLASSES):
        return False
    if obj not in session.dirty:
        return True
    if session.is_modified(obj, include_collections=False):
        return True
    return isinstance(obj, AgreementParty) and sa.inspect(obj).attrs.roles.history.has_changes()


def _frozen_guard(session: Session, flush_context: Any, instances: Any) -> None:
    """Refuse, at flush, any change to the terms of a version that is not a draft, and any
    change or removal of its history (decisions, signatures, events)."""
    with session.no_autoflush:
        owners: dict[int, Agreement] | None = None
        for obj in [*session.new, *session.dirty, *session.deleted]:
            if isinstance(obj, Agreement):
                if obj in session.new or obj in session.deleted:
                    continue
                previous = _previous_state(obj)
                if previous not in EDITABLE and _terms_changed(obj):
                    raise frozen(obj, previous)
                continue
            if isinstance(obj, _HISTORY_CLASSES):
                _check_history(session, obj)
                continue
            if not _touches_terms(session, obj):
                continue
            if owners is None:
                owners = _owners(session)
            agreement = _owning_agreement(session, obj, owners)
            if agreement is None or agreement in session.new or agreement in session.deleted:
                continue
            if _previous_state(agreement) not in EDITABLE:
                raise frozen(agreement, agreement.state)


def frozen(a: Agreement, state: str) -> FrozenVersion:
    """The refusal to change the terms of ``a`` (in ``state``); its message names no adapter's
    way to amend (each adds its own: :meth:`FrozenVersion.told`)."""
    return FrozenVersion(a.reference, a.version_no, state)


def frozen_message(a: Agreement, state: str) -> str:
    """Why the terms of ``a`` (in ``state``) cannot change."""
    return str(frozen(a, state))


event.listen(Session, "before_flush", _frozen_guard)
