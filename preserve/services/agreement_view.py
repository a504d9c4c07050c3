"""What the agreement and hold pages (web and API) show beyond one service call: which steps
the signed-in person may take on an agreement version, the agreements awaiting their party's
decision or signature, the packages under a version, a document to download, and a package's
holds, governing agreement and download gate.

Nothing here decides anew who may do what: each answer asks the guards of
:mod:`preserve.services.agreements` (the same functions its transitions call) and
:mod:`preserve.services.dissemination`, so a button is shown exactly when the service would
accept the step (the state and permission guards; a guard on dates or on another version, such
as an activation before the start date, still answers with its reason).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Session

from preserve.bootstrap import Application
from preserve.catalogue.agreements import Agreement
from preserve.catalogue.models import Collection, Organisation, Package
from preserve.catalogue.retention import PackageRetention
from preserve.errors import NotFound, PermissionDenied
from preserve.services import agreements as service
from preserve.services.access import Principal
from preserve.services.sharing import require_package_view, shared_agreements

if TYPE_CHECKING:
    from preserve.services.holds import HoldRef
    from preserve.services.retention import RetentionStatus

#: The steps a person may be offered on one version (the names of the service functions).
STEPS = (
    "edit",
    "propose",
    "withdraw",
    "activate",
    "confirm_review",
    "suspend",
    "resume",
    "amend",
    "start_exit",
    "close",
    "attach_signed_copy",
)
#: Packages listed on an agreement's page (the count says how many there are in all).
PACKAGES_SHOWN = 50


@dataclass(frozen=True)
class AgreementActions:
    """What ``who`` may do on one version: ``steps`` (of :data:`STEPS`) and, per step taken
    for a party, the parties (organisation slugs) they may take it for."""

    steps: frozenset[str]
    agree: tuple[str, ...]
    sign: tuple[str, ...]
    give_notice: tuple[str, ...]

    def can(self, step: str) -> bool:
        return step in self.steps

    @property
    def any(self) -> bool:
        return bool(self.steps or self.agree or self.sign or self.give_notice)


@dataclass(frozen=True)
class Awaiting:
    """An agreement version where a party of the person still has to agree or sign."""

    reference: str
    version_no: int
    title: str
    state: str
    #: "agree" (proposed) or "sign" (pending signature).
    step: str
    parties: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.reference} v{self.version_no}"


@dataclass(frozen=True)
class PackageUnder:
    id: str
    title: str
    collection: str
    state: str
    retention_due: date | None


@dataclass(frozen=True)
class PackagesUnder:
    total: int
    shown: tuple[PackageUnder, ...]
    page: int = 1
    per_page: int = PACKAGES_SHOWN

    @property
    def has_next(self) -> bool:
        return self.page * self.per_page < self.total


@dataclass(frozen=True)
class DocumentFile:
    info: service.DocumentInfo
    path: Path


@dataclass(frozen=True)
class Governance:
    """What the package page shows of its agreement and holds."""

    agreement: service.AgreementRef | None
    retention: RetentionStatus | None
    holds: tuple[HoldRef, ...]
    #: Why the person may not download the package (None: they may).
    download_refusal: str | None


def _allowed(check: object, *args: object) -> bool:
    try:
        check(*args)  # type: ignore[operator]
    except PermissionDenied:
        return False
    return True


def _actions(who: Principal, a: Agreement, newer_preparing: bool) -> AgreementActions:
    steps: set[str] = set()
    prepare = _allowed(service._may_prepare, who, a)
    custodian = _allowed(service._custodian_staff, who, a, "act on")
    if a.state == "draft" and prepare:
        steps.update(("edit", "propose", "withdraw"))
    if a.state == "proposed" and prepare:
        steps.add("withdraw")
    if a.state in ("active", "under_review", "suspended") and prepare and not newer_preparing:
        steps.add("amend")
    by_state = {
        "signed": ("activate",),
        "under_review": ("confirm_review", "suspend"),
        "active": ("suspend",),
        "suspended": ("resume",),
        "expired": ("start_exit",),
        "notice_given": ("start_exit",),
        "exiting": ("close",),
    }
    if custodian:
        steps.update(by_state.get(a.state, ()))
    if a.state not in ("draft", "withdrawn") and prepare:
        steps.add("attach_signed_copy")
    agree: list[str] = []
    sign: list[str] = []
    notice: list[str] = []
    for party in a.parties:
        slug = party.organisation.slug
        acts = _allowed(service._may_act_for, who, party, "act")
        if a.state == "proposed" and acts and service._decision(party, a.proposal_round) is None:
            agree.append(slug)
        if (
            a.state == "pending_signature"
            and acts
            and len(party.signatures) < party.required_signatures
            and not any(s.user_id == who.user_id for s in party.signatures)
        ):
            sign.append(slug)
        if a.state in ("active", "under_review", "suspended") and (
            acts or (who.is_admin and "custodian" in party.role_names)
        ):
            notice.append(slug)
    return AgreementActions(frozenset(steps), tuple(agree), tuple(sign), tuple(notice))


def _newer_preparing(session: Session, a: Agreement) -> bool:
    return (
        session.scalar(
            sa.select(Agreement.id)
            .where(
                Agreement.reference == a.reference,
                Agreement.version_no > a.version_no,
                Agreement.state.in_(service.PREPARING),
            )
            .limit(1)
        )
        is not None
    )


def actions(app: Application, who: Principal, ident: str) -> AgreementActions:
    """The steps ``who`` may take on the version ``ident`` (NotFound if they may not see it)."""
    with app.uow() as uow:
        a = service._find(uow.session, ident)
        service._check_visible(who, a)
        return _actions(who, a, _newer_preparing(uow.session, a))


def awaiting(app: Application, who: Principal) -> list[Awaiting]:
    """The versions where a party the person may act for has still to agree (proposed) or to
    sign (pending signature), oldest reference first."""
    with app.uow() as uow:
        s = uow.session
        rows = s.scalars(
            service._load(s)
            .where(Agreement.state.in_(("proposed", "pending_signature")))
            .order_by(Agreement.reference, Agreement.version_no)
        ).all()
        out = []
        for a in rows:
            try:
                service._check_visible(who, a)
            except NotFound:
                continue
            found = _actions(who, a, newer_preparing=True)
            parties = found.agree if a.state == "proposed" else found.sign
            if parties:
                out.append(
                    Awaiting(
                        reference=a.reference,
                        version_no=a.version_no,
                        title=a.title,
                        state=a.state,
                        step="agree" if a.state == "proposed" else "sign",
                        parties=parties,
                    )
                )
        return out


def packages_under(
    app: Application, who: Principal, ident: str, *, limit: int = PACKAGES_SHOWN, page: int = 1
) -> PackagesUnder:
    """The packages linked to the version (ingested under it or linked when it took effect)
    that the person may see: how many, and page ``page`` of ``limit`` of them (by title)."""
    page = max(1, page)
    with app.uow() as uow:
        s = uow.session
        a = service._find(s, ident)
        service._check_visible(who, a)
        query = (
            sa.select(Package, PackageRetention, Organisation.slug, Collection.slug)
            .join(PackageRetention, PackageRetention.package_id == Package.id)
            .join(Collection, Collection.id == Package.collection_id)
            .join(Organisation, Organisation.id == Collection.organisation_id)
            .where(PackageRetention.agreement_id == a.id)
        )
        visible = who.visible_organisations()
        # a party of the version in force sees every package under it (shared with it)
        if visible is not None and a.id not in shared_agreements(s, who):
            query = query.where(Collection.organisation_id.in_(visible))
        total = s.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
        rows = s.execute(
            query.order_by(Package.title, Package.id).offset((page - 1) * limit).limit(limit)
        ).all()
        return PackagesUnder(
            page=page,
            per_page=limit,
            total=total,
            shown=tuple(
                PackageUnder(p.id, p.title, f"{org}/{coll}", r.state, r.retention_due)
                for p, r, org, coll in rows
            ),
        )


def document_file(app: Application, who: Principal, ident: str, document_id: int) -> DocumentFile:
    """A document of the version, where it is kept (NotFound when the person may not see the
    agreement, the document is not of this version, or its file is gone)."""
    with app.uow() as uow:
        a = service._find(uow.session, ident)
        service._check_visible(who, a)
        for d in a.documents:
            if d.id == document_id:
                path = Path(app.settings.home) / d.storage_key
                if not path.is_file():
                    raise NotFound(f"the file of document {d.name} of {a.reference} is missing")
                info = service.DocumentInfo(
                    d.id,
                    d.name,
                    d.kind,
                    d.media_type,
                    d.size,
                    d.sha256,
                    d.uploaded_by,
                    d.uploaded_at,
                )
                return DocumentFile(info, path)
    raise NotFound(f"no document {document_id} of {ident}")


def party_choices(app: Application) -> list[tuple[str, str]]:
    """Every organisation (slug, name): the parties an editor may name."""
    with app.uow() as uow:
        return [
            (o.slug, o.name)
            for o in uow.session.scalars(sa.select(Organisation).order_by(Organisation.name))
        ]


def governance(app: Application, who: Principal, package_id: str) -> Governance:
    """The package's governing agreement and retention, the active holds on it and whether the
    person may download it."""
    from preserve.services import holds, retention
    from preserve.services.dissemination import download_refusal

    with app.uow() as uow:
        s = uow.session
        p = s.get(Package, package_id)
        if p is None:
            raise NotFound(f"package {package_id} not found")
        owner = p.collection.organisation_id
        # its owner's members and the parties of an agreement in force over it
        require_package_view(s, who, p, f"package {package_id}")
        return Governance(
            agreement=service.governing_agreement(s, package_id=p.id),
            retention=retention.status_of(s, p.id),
            holds=tuple(holds.holds_on(s, [p.id]).get(p.id, ())),
            download_refusal=download_refusal(s, who, p.id, owner),
        )


__all__ = [
    "AgreementActions",
    "Awaiting",
    "Governance",
    "PackagesUnder",
    "actions",
    "awaiting",
    "document_file",
    "governance",
    "packages_under",
    "party_choices",
]
