"""Who may download a package under its agreement (issue 12, retention-agreements.md 5.1 E8/E9).

The governing agreement's rights decide, for every download (one file or the whole bag, web and
API, :mod:`preserve.services.downloads`):

- the repository's admins and the owner organisation's staff (archivists and admins of the
  organisation the package belongs to) may always download: they keep the content;
- anyone else who can see the package (today: the owner organisation's viewers) needs
  ``disseminate`` granted (allow) to the custodian, and, when the agreement has download
  conditions, one of them naming a group they are in (``public``: any signed-in person;
  ``owner``: the owner organisation's members; ``parties``: members of a party organisation;
  ``organisation``: members of the one named) whose embargo, if any, has ended. An embargo
  lifts by itself at its end date.

Refused: :class:`preserve.errors.PermissionDenied` (HTTP 403) naming the agreement and, for an
embargo, its end date; nothing is recorded as a dissemination. Without an agreement nothing
changes. Viewing the package page is not affected.

The owner organisation's viewers, not all its members, are judged by the conditions: a package
is visible only to its organisation's members and the repository's admins, so exempting every
member would leave the conditions nobody to apply to.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import sqlalchemy as sa

from preserve.errors import PermissionDenied

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from preserve.services.access import Principal

#: the roles of the owner organisation always allowed to download
STAFF_ROLES = ("archivist", "admin")


def download_refusal(
    session: Session,
    principal: Principal,
    package_id: str,
    owner_organisation_id: int,
    today: date | None = None,
) -> str | None:
    """Why ``principal`` may not download the package (None: they may)."""
    from preserve.catalogue.agreements import AgreementParty
    from preserve.catalogue.models import Organisation
    from preserve.services.agreements import governing_agreement, rights_for

    if principal.is_admin or principal.role_in(owner_organisation_id) in STAFF_ROLES:
        return None
    rights = rights_for(session, package_id=package_id)
    if rights is None:
        return None
    day = today or date.today()
    granted = rights.act("disseminate", day)
    if granted != "allow":
        how = (
            "grants 'disseminate' only on conditions"
            if granted == "conditional"
            else "does not grant 'disseminate'"
        )
        return f"agreement {rights.agreement} {how}: downloads are for the owner's staff only"
    conditions = [c for c in rights.access if c.action == "download"]
    if not conditions:
        return None
    ref = governing_agreement(session, package_id=package_id)
    parties: set[int] = set()
    if ref is not None:
        parties = set(
            session.scalars(
                sa.select(AgreementParty.organisation_id).where(
                    AgreementParty.agreement_id == ref.id
                )
            )
        )
    mine = set(principal.roles)
    embargoes: list[date] = []
    for c in conditions:
        if c.group == "public":
            member = True
        elif c.group == "owner":
            member = owner_organisation_id in mine
        elif c.group == "parties":
            member = bool(parties & mine)
        else:
            org_id = session.scalar(
                sa.select(Organisation.id).where(Organisation.slug == c.organisation)
            )
            member = org_id in mine
        if not member:
            continue
        if c.embargo_until is not None and c.embargo_until > day:
            embargoes.append(c.embargo_until)
            continue
        return None
    if embargoes:
        return (
            f"under embargo until {min(embargoes).isoformat()} by agreement {rights.agreement}: "
            "not downloadable before then"
        )
    groups = ", ".join(
        c.organisation if c.group == "organisation" and c.organisation else c.group
        for c in conditions
    )
    return f"agreement {rights.agreement} allows downloads only to: {groups}"


def require_download(
    session: Session, principal: Principal, package_id: str, owner_organisation_id: int
) -> None:
    """Raise PermissionDenied when the agreement refuses ``principal`` the download."""
    why = download_refusal(session, principal, package_id, owner_organisation_id)
    if why is not None:
        raise PermissionDenied(f"package {package_id} cannot be downloaded: {why}")


__all__ = ["STAFF_ROLES", "download_refusal", "require_download"]
