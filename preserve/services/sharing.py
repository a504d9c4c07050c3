"""Packages shared through an agreement: visible to the people of its party organisations
(issue 12; retention-agreements.md 3.3, 3.8).

A package is seen by the members of its owner organisation (:mod:`preserve.services.access`)
and, read-only, by the members (viewers and up) of every party of an agreement in force that
governs it: the package is linked to an agreement version (``package_retention``), and the
version of that reference now in force names the person's organisation as a party. They see it
in lists, search and its page; describing it, a new version or a fixity request stay with the
owner's archivists (:class:`~preserve.errors.PermissionDenied` for the others), and downloads
are still decided by the agreement's rights (:mod:`preserve.services.dissemination`).

The search filters by agreement version ids (:func:`shared_agreements`): a short list, tested
per package with an ``EXISTS`` on ``package_retention``'s primary key.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from preserve.catalogue.agreements import Agreement, AgreementParty, PartyRole
from preserve.catalogue.retention import PackageRetention
from preserve.errors import NotFound, PermissionDenied
from preserve.services.access import Principal


def shared_agreements(session: Session, principal: Principal) -> list[int]:
    """The agreement version ids whose packages ``principal`` sees as a party (every version of
    a reference whose version in force names one of their organisations as a party); empty
    for a repository admin (who sees everything anyway) and for someone of no organisation."""
    from preserve.services.agreements import IN_FORCE

    if principal.is_admin or not principal.roles:
        return []
    references = (
        sa.select(Agreement.reference)
        .join(AgreementParty, AgreementParty.agreement_id == Agreement.id)
        .where(
            Agreement.state.in_(IN_FORCE),
            AgreementParty.organisation_id.in_(sorted(principal.roles)),
        )
    )
    return sorted(
        session.scalars(
            sa.select(Agreement.id).where(Agreement.reference.in_(references.scalar_subquery()))
        )
    )


def shares(session: Session, principal: Principal, package_id: str) -> bool:
    """Whether ``principal`` sees the package as a party of an agreement in force over it."""
    ids = shared_agreements(session, principal)
    if not ids:
        return False
    return (
        session.scalar(
            sa.select(PackageRetention.package_id).where(
                PackageRetention.package_id == package_id,
                PackageRetention.agreement_id.in_(ids),
            )
        )
        is not None
    )


def custodian_staff(
    session: Session, principal: Principal, package_id: str, role: str = "archivist"
) -> bool:
    """Whether ``principal`` holds ``role`` in an organisation that is the custodian party of
    the agreement version in force over the package: the archive service's staff, who keep it
    and may place (and lift) holds on it, as a GDPR request or a court order often reaches
    them first."""
    from preserve.services.agreements import IN_FORCE

    orgs = sorted(o for o in principal.roles if principal.can(o, role))
    if not orgs:
        return False
    found = session.scalar(
        sa.select(PackageRetention.package_id)
        .join(Agreement, Agreement.id == PackageRetention.agreement_id)
        .join(AgreementParty, AgreementParty.agreement_id == Agreement.id)
        .join(PartyRole, PartyRole.party_id == AgreementParty.id)
        .where(
            PackageRetention.package_id == package_id,
            Agreement.state.in_(IN_FORCE),
            AgreementParty.organisation_id.in_(orgs),
            PartyRole.role == "custodian",
        )
        .limit(1)
    )
    return found is not None


def can_see(session: Session, principal: Principal, package: Any) -> bool:
    """Whether the person sees ``package`` (a package row): a member of its owner organisation,
    or a party of an agreement in force over it."""
    owner = package.collection.organisation_id
    return principal.can_view(owner) or shares(session, principal, package.id)


def require_package_view(session: Session, principal: Principal, package: Any, what: str) -> None:
    """:class:`NotFound` (as if it did not exist) unless the person sees the package."""
    if not can_see(session, principal, package):
        raise NotFound(f"{what} not found")


def require_owner_role(
    session: Session, principal: Principal, package: Any, role: str, what: str
) -> None:
    """The person may see the package (else :class:`NotFound`) and holds ``role`` in its owner
    organisation (else :class:`PermissionDenied`: a party sees a shared package, read-only)."""
    require_package_view(session, principal, package, what)
    if not principal.can(package.collection.organisation_id, role):
        raise PermissionDenied(
            f"you need the {role} role in the organisation that owns {what} to do that"
            + (
                ""
                if principal.can_view(package.collection.organisation_id)
                else " (it is shared with you through an agreement: you may only see it)"
            )
        )


def visible_package(app: Any, principal: Principal, text: str) -> str:
    """The id of the package ``text`` names (as ``preserve show`` takes it), if ``principal``
    sees it; :class:`NotFound` otherwise, exactly as for a package that does not exist."""
    from preserve.services.packages import resolve_package

    with app.uow() as uow:
        try:
            package_id = resolve_package(uow, text)
        except NotFound:
            raise NotFound(f"no package {text!r} that you may see") from None
        p = uow.packages.get(package_id)
        if p is None or not can_see(uow.session, principal, p):
            raise NotFound(f"no package {text!r} that you may see")
        return str(p.id)


__all__ = [
    "can_see",
    "require_owner_role",
    "require_package_view",
    "shared_agreements",
    "shares",
    "visible_package",
]
