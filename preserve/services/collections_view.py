"""Collections as the web catalogue shows and edits them, for the person who asks.

Listing: the collections of the person's organisations with their packages, files and bytes.
Creating and editing go through :func:`preserve.services.admin.add_collection` and
:func:`~preserve.services.admin.edit_collection` (what ``preserve collections add/edit`` call),
so a location added queues the replication jobs exactly as the command does; the fixity
interval through :func:`preserve.services.schedule.set_collection_schedule` (``preserve fixity
schedule``). Every field is checked first, and all problems are reported together
(:class:`CollectionFormErrors`), so nothing is half-written. Only an admin of the organisation
(or a repository admin) creates and edits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from preserve.errors import InvalidInput, NotFound, PermissionDenied
from preserve.services.access import Principal

if TYPE_CHECKING:
    from preserve.bootstrap import Application

MAX_INTERVAL_DAYS = 36_500


@dataclass(frozen=True)
class CollectionRow:
    organisation_id: int
    organisation: str
    organisation_name: str
    slug: str
    title: str
    description: str
    #: the locations its packages are stored on (its own, else the default ones)
    locations: tuple[str, ...]
    #: the locations chosen for it ("": none chosen, so the default ones)
    own_locations: tuple[str, ...]
    fixity_interval_days: int | None
    packages: int
    files: int
    bytes: int
    #: whether the person may edit it (admin of its organisation)
    can_edit: bool


@dataclass(frozen=True)
class CollectionInput:
    """A filled-in form: text as typed."""

    slug: str = ""
    title: str = ""
    description: str = ""
    organisation: str = ""
    locations: tuple[str, ...] = ()
    fixity_interval_days: str = ""


class CollectionFormErrors(InvalidInput):
    """The form's problems, per field (field name -> message)."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = dict(fields)


def _visible_ids(principal: Principal) -> frozenset[int] | None:
    return principal.visible_organisations()


def list_collections(
    app: Application, principal: Principal, *, holdings: bool = True
) -> tuple[CollectionRow, ...]:
    """The collections the person sees, by organisation and slug, with their holdings (stored
    packages, their files and bytes in their current version; zeros without ``holdings``,
    which the search form's list does not need)."""
    from preserve.catalogue.models import Collection, Organisation, Package
    from preserve.services.admin import collection_locations

    visible = _visible_ids(principal)
    with app.uow() as uow:
        s = uow.session
        stmt = (
            sa.select(Collection, Organisation)
            .join(Organisation, Organisation.id == Collection.organisation_id)
            .order_by(Organisation.slug, Collection.slug)
        )
        if visible is not None:
            stmt = stmt.where(Collection.organisation_id.in_(sorted(visible) or [-1]))
        pairs = s.execute(stmt).all()
        ids = [c.id for c, _o in pairs]
        sums = {}
        if ids and holdings:
            sums = {
                r[0]: (int(r[1]), int(r[2] or 0), int(r[3] or 0))
                for r in s.execute(
                    sa.select(
                        Package.collection_id,
                        sa.func.count(),
                        sa.func.sum(Package.file_count),
                        sa.func.sum(Package.size),
                    )
                    .where(Package.collection_id.in_(ids), Package.status == "stored")
                    .group_by(Package.collection_id)
                )
            }
        out = []
        for coll, org in pairs:
            n, files, size = sums.get(coll.id, (0, 0, 0))
            out.append(
                CollectionRow(
                    organisation_id=org.id,
                    organisation=org.slug,
                    organisation_name=org.name,
                    slug=coll.slug,
                    title=coll.title,
                    description=coll.description or "",
                    locations=tuple(loc.name for loc in collection_locations(uow, coll))
                    if holdings
                    else (),
                    own_locations=tuple(sorted(loc.name for loc in uow.collections.locations(coll)))
                    if holdings
                    else (),
                    fixity_interval_days=coll.fixity_interval_days,
                    packages=n,
                    files=files,
                    bytes=size,
                    can_edit=principal.can(org.id, "admin"),
                )
            )
        return tuple(out)


def get_collection(
    app: Application, principal: Principal, organisation: str, slug: str
) -> CollectionRow:
    """One collection the person sees; NotFound otherwise (another organisation's too)."""
    for row in list_collections(app, principal):
        if row.organisation == organisation and row.slug == slug:
            return row
    raise NotFound(f"collection {organisation}/{slug} not found")


def editable_organisations(app: Application, principal: Principal) -> tuple[tuple[str, str], ...]:
    """(slug, name) of the organisations where the person may create collections."""
    from preserve.catalogue.models import Organisation

    allowed = principal.organisations_where("admin")
    with app.uow() as uow:
        stmt = sa.select(Organisation.id, Organisation.slug, Organisation.name).order_by(
            Organisation.slug
        )
        return tuple(
            (slug, name)
            for org_id, slug, name in uow.session.execute(stmt)
            if allowed is None or org_id in allowed
        )


def location_choices(app: Application) -> tuple[str, ...]:
    """The names of the locations a collection can be put on (not retired)."""
    from preserve.catalogue.models import StorageLocation

    with app.uow() as uow:
        return tuple(
            uow.session.scalars(
                sa.select(StorageLocation.name)
                .where(StorageLocation.retired_at.is_(None))
                .order_by(StorageLocation.name)
            )
        )


def _check_admin(app: Application, principal: Principal, organisation: str) -> None:
    """PermissionDenied unless the person is an admin of ``organisation`` (NotFound when they
    do not see it at all)."""
    from preserve.catalogue.models import Organisation

    with app.uow() as uow:
        org_id = uow.session.scalar(
            sa.select(Organisation.id).where(Organisation.slug == organisation)
        )
    if org_id is None or not principal.can_view(org_id):
        raise NotFound(f"organisation {organisation} not found")
    if not principal.can(org_id, "admin"):
        raise PermissionDenied("you need the admin role in this organisation to do that")


def _check_fields(
    app: Application, form: CollectionInput, *, new: bool, organisations: tuple[str, ...]
) -> tuple[dict[str, str], int | None]:
    from preserve.services.admin import SLUG

    errors: dict[str, str] = {}
    if new:
        if not form.slug.strip():
            errors["slug"] = "give a short name (slug) for the collection"
        elif not SLUG.match(form.slug.strip()):
            errors["slug"] = (
                "use lower-case letters, digits, '.', '_' or '-' (at most 63 characters, "
                "starting with a letter or digit)"
            )
        if form.organisation not in organisations:
            errors["organisation"] = "choose one of your organisations"
    if not form.title.strip():
        errors["title"] = "give a title"
    elif len(form.title.strip()) > 255:
        errors["title"] = "give at most 255 characters"
    if len(form.description) > 10_000:
        errors["description"] = "give at most 10,000 characters"
    choices = location_choices(app)
    unknown = [name for name in form.locations if name not in choices]
    if unknown:
        errors["locations"] = f"no location {unknown[0]!r}: choose from the list"
    elif not new and not form.locations:
        errors["locations"] = "choose at least one location"
    interval: int | None = None
    text = form.fixity_interval_days.strip()
    if text:
        if not text.isdigit():
            errors["fixity_interval_days"] = f"{text[:20]!r} is not a whole number of days"
        else:
            interval = int(text)
            if not 1 <= interval <= MAX_INTERVAL_DAYS:
                errors["fixity_interval_days"] = f"give between 1 and {MAX_INTERVAL_DAYS} days"
    return errors, interval


def create_collection(
    app: Application, principal: Principal, form: CollectionInput
) -> CollectionRow:
    """Create a collection in one of the organisations where the person is an admin."""
    from preserve.services import admin, schedule

    organisations = tuple(s for s, _n in editable_organisations(app, principal))
    if not organisations:
        raise PermissionDenied("you need the admin role in an organisation to add collections")
    errors, interval = _check_fields(app, form, new=True, organisations=organisations)
    if errors:
        raise CollectionFormErrors(errors)
    _check_admin(app, principal, form.organisation)
    slug = form.slug.strip()
    from preserve.errors import AlreadyExists

    try:
        admin.add_collection(
            app,
            slug,
            title=form.title.strip(),
            description=form.description,
            organisation=form.organisation,
            locations=tuple(form.locations),
        )
    except AlreadyExists:
        raise CollectionFormErrors(
            {"slug": f"{form.organisation} already has a collection {slug!r}"}
        ) from None
    if interval is not None:
        schedule.set_collection_schedule(app, form.organisation, slug, interval_days=interval)
    return get_collection(app, principal, form.organisation, slug)


@dataclass(frozen=True)
class CollectionChange:
    collection: CollectionRow
    #: (field, old, new) for each field changed
    changes: tuple[tuple[str, str, str], ...]
    #: replicate jobs queued for the locations added
    queued: int


def edit_collection(
    app: Application, principal: Principal, organisation: str, slug: str, form: CollectionInput
) -> CollectionChange:
    """Change a collection's title, description, locations and fixity interval (admins of its
    organisation); only what differs is changed."""
    from preserve.services import admin, schedule

    current = get_collection(app, principal, organisation, slug)
    _check_admin(app, principal, organisation)
    errors, interval = _check_fields(app, form, new=False, organisations=(organisation,))
    if errors:
        raise CollectionFormErrors(errors)
    have = set(current.locations)
    want = set(form.locations)
    title = form.title.strip() if form.title.strip() != current.title else None
    description = form.description if form.description != current.description else None
    changes: list[tuple[str, str, str]] = []
    queued = 0
    if title is not None or description is not None or have != want:
        result = admin.edit_collection(
            app,
            slug,
            organisation=organisation,
            title=title,
            description=description,
            add_locations=tuple(sorted(want - have)),
            remove_locations=tuple(sorted(have - want)),
        )
        changes.extend((c.field, c.old, c.new) for c in result.changes)
        queued = len(result.queued)
    if interval != current.fixity_interval_days:
        schedule.set_collection_schedule(app, organisation, slug, interval_days=interval)
        changes.append(
            (
                "fixity interval",
                str(current.fixity_interval_days or ""),
                str(interval or ""),
            )
        )
    return CollectionChange(
        get_collection(app, principal, organisation, slug), tuple(changes), queued
    )
