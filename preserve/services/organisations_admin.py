"""Organisations as the web catalogue's admin pages manage them: a repository admin lists,
creates and edits every organisation; an organisation admin sees and edits their own (another
organisation is reported as not found). The work is done by :mod:`preserve.services.admin`,
which the command line uses too; this module adds who may do it."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from preserve.bootstrap import Application
from preserve.catalogue.models import Membership, Organisation, User
from preserve.errors import NotFound, PermissionDenied
from preserve.services import admin
from preserve.services.access import Principal, require_admin


@dataclass(frozen=True)
class OrganisationRow:
    organisation_id: int
    summary: admin.OrganisationSummary


@dataclass(frozen=True)
class Member:
    user_id: int
    username: str
    display_name: str
    role: str
    active: bool


@dataclass(frozen=True)
class OrganisationPage:
    organisation_id: int
    summary: admin.OrganisationSummary
    members: tuple[Member, ...]


def _managed(principal: Principal) -> frozenset[int] | None:
    managed = principal.organisations_where("admin")
    if managed is not None and not managed:
        raise PermissionDenied("only an administrator may manage organisations")
    return managed


def list_organisations(app: Application, principal: Principal) -> list[OrganisationRow]:
    managed = _managed(principal)
    with app.uow() as uow:
        ids = dict(uow.session.execute(sa.select(Organisation.slug, Organisation.id)).all())
    return [
        OrganisationRow(ids[o.slug], o)
        for o in admin.list_organisations(app)
        if managed is None or ids[o.slug] in managed
    ]


def _slug_of(app: Application, principal: Principal, organisation_id: int) -> str:
    managed = _managed(principal)
    if managed is not None and organisation_id not in managed:
        raise NotFound("organisation not found")
    with app.uow() as uow:
        org = uow.session.get(Organisation, organisation_id)
        if org is None:
            raise NotFound("organisation not found")
        return org.slug


def show(app: Application, principal: Principal, organisation_id: int) -> OrganisationPage:
    slug = _slug_of(app, principal, organisation_id)
    detail = admin.show_organisation(app, slug)
    with app.uow() as uow:
        rows = uow.session.execute(
            sa.select(User.id, User.username, User.display_name, Membership.role, User.active)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.organisation_id == organisation_id)
            .order_by(User.username)
        ).all()
    return OrganisationPage(
        organisation_id, detail.organisation, tuple(Member(*row) for row in rows)
    )


def create(
    app: Application,
    principal: Principal,
    slug: str,
    *,
    name: str,
    address: str = "",
    contact_name: str = "",
    contact_email: str = "",
) -> int:
    """A new organisation (repository admins only); its id."""
    require_admin(principal)
    admin.add_organisation(
        app,
        slug.strip(),
        name=name,
        address=address,
        contact_name=contact_name,
        contact_email=contact_email,
    )
    with app.uow() as uow:
        found = uow.organisations.get_by_slug(slug.strip())
        assert found is not None
        return found.id


def edit(
    app: Application,
    principal: Principal,
    organisation_id: int,
    *,
    name: str,
    address: str,
    contact_name: str,
    contact_email: str,
) -> list[str]:
    """Change an organisation's details (its admins or a repository admin); what changed."""
    slug = _slug_of(app, principal, organisation_id)
    result = admin.edit_organisation(
        app,
        slug,
        name=name,
        address=address,
        contact_name=contact_name,
        contact_email=contact_email,
    )
    return [c.field for c in result.changes]
