"""Administration: initialise a repository, organisations, collections and storage locations."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from preserve.bootstrap import Application
from preserve.catalogue.database import upgrade
from preserve.catalogue.models import Collection, Organisation, StorageLocation
from preserve.config.settings import Settings
from preserve.errors import AlreadyExists, ConfigError, InvalidInput
from preserve.names import collection_not_found, unknown
from preserve.storage import describe_location

log = logging.getLogger(__name__)

#: The organisation a command uses when neither --organisation nor PRESERVE_ORGANISATION names one.
DEFAULT_ORGANISATION: str = Settings.organisation

SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


@dataclass(frozen=True)
class LocationSummary:
    name: str
    url: str
    provider: str
    region: str | None
    storage_type: str
    offline: bool
    is_default: bool
    #: when the location was retired (nothing new is stored there); None: in use
    retired_at: datetime | None = None
    #: what agreements judge it by (:mod:`preserve.services.placement`)
    site: str | None = None
    jurisdiction: str | None = None
    operator: str | None = None


@dataclass(frozen=True)
class CollectionSummary:
    organisation: str
    slug: str
    title: str
    description: str
    locations: tuple[str, ...]
    packages: int
    #: the BagIt profile its deliveries must conform to: its identifier and version ("": none)
    profile: str = ""
    profile_version: str = ""


@dataclass(frozen=True)
class OrganisationSummary:
    slug: str
    name: str
    address: str
    contact_name: str
    contact_email: str
    collections: int
    packages: int


@dataclass(frozen=True)
class OrganisationDetail:
    organisation: OrganisationSummary
    collections: tuple[CollectionSummary, ...]


@dataclass(frozen=True)
class OrganisationAdded:
    """The organisation ``add`` leaves in place; ``created`` is False when it existed already
    with the details given (``--exist-ok``)."""

    organisation: OrganisationSummary
    created: bool


@dataclass(frozen=True)
class Change:
    """One field changed by an edit, with its old and new value."""

    field: str
    old: str
    new: str


@dataclass(frozen=True)
class OrganisationEdit:
    organisation: OrganisationSummary
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class CollectionEdit:
    collection: CollectionSummary
    changes: tuple[Change, ...]
    #: replicate jobs queued for the locations added: (job id, package id, version, location)
    queued: tuple[tuple[str, str, int, str], ...] = ()


@dataclass(frozen=True)
class InitResult:
    """What ``init`` did, and what it found done already (a second ``init`` changes nothing)."""

    database_url: str  # password hidden
    catalogue: str  # as messages name it: a SQLite file's path, a server's URL
    revision_before: str | None  # None: the catalogue was empty (or new)
    revision: str | None
    organisation: str
    organisation_created: bool
    location: LocationSummary
    location_created: bool


def _check_slug(kind: str, slug: str) -> None:
    if not SLUG.match(slug):
        raise InvalidInput(
            f"{kind} {slug!r} is not a valid identifier: use lower-case letters, digits, '.', '_' "
            "or '-' (at most 63 characters, starting with a letter or digit)"
        )


def _location_summary(loc: object) -> LocationSummary:
    return LocationSummary(
        name=loc.name,  # type: ignore[attr-defined]
        url=loc.url,  # type: ignore[attr-defined]
        provider=loc.provider,  # type: ignore[attr-defined]
        region=loc.region,  # type: ignore[attr-defined]
        storage_type=loc.storage_type,  # type: ignore[attr-defined]
        offline=loc.offline,  # type: ignore[attr-defined]
        is_default=loc.is_default,  # type: ignore[attr-defined]
        retired_at=loc.retired_at,  # type: ignore[attr-defined]
        site=loc.site,  # type: ignore[attr-defined]
        jurisdiction=loc.jurisdiction,  # type: ignore[attr-defined]
        operator=loc.operator,  # type: ignore[attr-defined]
    )


def initialise(app: Application) -> InitResult:
    """Create the home folders, migrate the catalogue, and register the default organisation and
    location. Safe to run again: existing records are kept."""
    from preserve.catalogue.database import catalogue_name, current_revision

    settings = app.settings
    # what can be checked without touching anything, first: nothing is created for a bad name
    _check_slug("organisation", settings.organisation)
    try:
        describe_location(settings.storage_url)
    except ConfigError as error:
        raise ConfigError(f"the default storage location (PRESERVE_STORAGE_URL): {error}") from None
    # then the catalogue: when its server cannot be reached, nothing is created on the way
    engine = app.new_catalogue_engine()
    before = current_revision(engine)
    upgrade(engine)
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.staging_dir.mkdir(parents=True, exist_ok=True)
    organisation_created = ensure_organisation(app, settings.organisation)
    with app.uow() as uow:
        loc = uow.locations.get_by_url(settings.storage_url)
        if loc is None:
            name = "default"
            if uow.locations.get_by_name(name) is not None:
                name = f"default-{len(uow.locations.list()) + 1}"
            summary = add_location(app, name, settings.storage_url, default=True)
        else:
            summary = _location_summary(loc)
    return InitResult(
        database_url=_redact(settings.database_url),
        catalogue=catalogue_name(settings.database_url),
        revision_before=before,
        revision=current_revision(engine),
        organisation=settings.organisation,
        organisation_created=organisation_created,
        location=summary,
        location_created=loc is None,
    )


def _redact(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]+@", r"//\1:***@", url)


def ensure_organisation(app: Application, slug: str, name: str | None = None) -> bool:
    """Register an organisation if it does not exist yet (``init``: the default one); whether
    it was registered now."""
    _check_slug("organisation", slug)
    with app.uow() as uow:
        if uow.organisations.get_by_slug(slug) is not None:
            return False
        uow.organisations.add(Organisation(slug=slug, name=name or slug))
        uow.commit()
        return True


# -- looking up what a person typed --------------------------------------------------------------


def require_organisation(uow: Any, slug: str) -> Organisation:
    """The organisation ``slug``, or :class:`NotFound` with "did you mean ...?"."""
    org = uow.organisations.get_by_slug(slug)
    if org is None:
        raise unknown("organisation", slug, [o.slug for o in uow.organisations.list()])
    return org


def require_collection(uow: Any, organisation: str, slug: str) -> Collection:
    """The collection ``slug`` of ``organisation`` (both checked), or :class:`NotFound` naming
    the organisations that have a collection of that name, else the nearest collections of
    ``organisation``."""
    require_organisation(uow, organisation)
    coll = uow.collections.get(organisation, slug)
    if coll is None:
        raise collection_not_found(
            slug,
            organisation,
            [c.slug for c in uow.collections.list(organisation)],
            [c.organisation.slug for c in uow.collections.list() if c.slug == slug],
        )
    return coll


def require_collection_path(
    uow: Any, text: str, *, visible: Callable[[Collection], bool] | None = None
) -> Collection:
    """The collection ``text`` names as "ORG/SLUG" (:class:`InvalidInput` when it is not of that
    form), if ``visible`` admits it (every collection when None); otherwise :class:`NotFound`
    with "did you mean ...?" among the collections ``visible`` admits only, so that nobody
    learns of a collection they may not see."""
    given = text.strip()
    org, sep, slug = given.partition("/")
    if not sep or not org.strip() or not slug.strip() or "/" in slug:
        raise InvalidInput(f"collection {given!r} is not ORG/SLUG (e.g. museum/photos)")
    found = uow.collections.get(org.strip(), slug.strip())
    if found is not None and (visible is None or visible(found)):
        return found
    known = [
        f"{c.organisation.slug}/{c.slug}"
        for c in uow.collections.list()
        if visible is None or visible(c)
    ]
    raise unknown("collection", given, known)


def require_location(uow: Any, name: str) -> StorageLocation:
    """The storage location ``name``, or :class:`NotFound` with "did you mean ...?"."""
    loc = uow.locations.get_by_name(name)
    if loc is None:
        raise unknown("storage location", name, [x.name for x in uow.locations.list()])
    return loc


def require_active_location(uow: Any, name: str) -> StorageLocation:
    """The storage location ``name``, refused when it is retired (nothing new goes there)."""
    loc = require_location(uow, name)
    if loc.retired_at is not None:
        raise InvalidInput(
            f"location {name!r} is retired (since {loc.retired_at:%Y-%m-%d}): nothing new is "
            "stored there"
        )
    return loc


def link_actor_and_owner(uow: Any, actor: str, event: Any) -> None:
    """Link ``actor`` (the person who ran the command: implementer) and the organisation owning
    the event's package (owner) to ``event``, a new row of ``uow.events``."""
    org = uow.packages.get(event.package_id).collection.organisation
    person = uow.agents.get_or_create(actor, "", "person")
    owner = uow.agents.get_or_create(org.name, "", "organization")
    uow.events.link_agents([(event.id, person, "implementer"), (event.id, owner, "owner")])


# -- organisations -------------------------------------------------------------------------------

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


def _check_organisation_fields(
    name: str | None, address: str | None, contact_name: str | None, contact_email: str | None
) -> None:
    if name is not None and not name.strip():
        raise InvalidInput("the organisation's full name (--name) is empty")
    for label, value in (("--name", name), ("--contact-name", contact_name)):
        if value is not None and ("\n" in value or "\r" in value):
            raise InvalidInput(f"{label} must be one line (it goes into bag-info.txt)")
    if contact_email and not _EMAIL.match(contact_email):
        raise InvalidInput(
            f"contact e-mail {contact_email!r} is not an e-mail address "
            "(one '@', no spaces, e.g. archive@example.org)"
        )


def _organisation_summary(uow: Any, org: Organisation) -> OrganisationSummary:
    colls = uow.collections.list(org.slug)
    return OrganisationSummary(
        slug=org.slug,
        name=org.name,
        address=org.address or "",
        contact_name=org.contact_name or "",
        contact_email=org.contact_email or "",
        collections=len(colls),
        packages=sum(_stored_packages(uow, c) for c in colls),
    )


def _stored_packages(uow: Any, coll: Collection) -> int:
    return len(uow.packages.list(collection_id=coll.id, status="stored"))


def _same_name(uow: Any, name: str, slug: str) -> None:
    """Two organisations with one full name would be one agent in PREMIS: refused."""
    for other in uow.organisations.list():
        if other.slug != slug and other.name == name:
            raise AlreadyExists(
                f"organisation {other.slug!r} already has the full name {name!r}; "
                "choose a distinct name"
            )


def add_organisation(
    app: Application,
    slug: str,
    *,
    name: str,
    address: str | None = None,
    contact_name: str | None = None,
    contact_email: str | None = None,
    exist_ok: bool = False,
) -> OrganisationAdded:
    """Register organisation ``slug`` with its full name, address and contact (they go into
    the bag-info.txt of its packages and into PREMIS as their owner); None: not given, empty.
    With ``exist_ok`` an existing organisation is fine if the values given agree with it;
    otherwise the message names each difference."""
    _check_slug("organisation", slug)
    _check_organisation_fields(name, address, contact_name, contact_email)
    given = {
        "name": name,
        "address": address,
        "contact_name": contact_name,
        "contact_email": contact_email,
    }
    with app.uow() as uow:
        existing = uow.organisations.get_by_slug(slug)
        if existing is not None:
            edit = f"preserve organisations edit {slug}"
            if not exist_ok:
                raise AlreadyExists(
                    f"organisation {slug!r} already exists (change it with: {edit})"
                )
            differ = [
                f"{key.replace('_', ' ')} is {_shown(getattr(existing, key))}, not "
                f"{_shown(value.strip(), empty='an empty value')}"
                for key, value in given.items()
                if value is not None and value.strip() != (getattr(existing, key) or "")
            ]
            if differ:
                raise AlreadyExists(
                    f"organisation {slug!r} exists with other details: "
                    + "; ".join(differ)
                    + f"; change it with: {edit}"
                )
            return OrganisationAdded(_organisation_summary(uow, existing), created=False)
        _same_name(uow, name.strip(), slug)
        org = uow.organisations.add(
            Organisation(
                slug=slug,
                name=name.strip(),
                address=(address or "").strip(),
                contact_name=(contact_name or "").strip(),
                contact_email=(contact_email or "").strip(),
            )
        )
        summary = _organisation_summary(uow, org)
        uow.commit()
        log.info("registered organisation %s (%s)", slug, name)
        return OrganisationAdded(summary, created=True)


def _shown(value: str | None, empty: str = "not set") -> str:
    """A detail quoted for a message; an empty one in words (a bare '' is easily misread)."""
    return repr(value) if value else empty


def list_organisations(app: Application) -> list[OrganisationSummary]:
    with app.uow() as uow:
        return [_organisation_summary(uow, o) for o in uow.organisations.list()]


def show_organisation(app: Application, slug: str) -> OrganisationDetail:
    with app.uow() as uow:
        org = require_organisation(uow, slug)
        return OrganisationDetail(
            organisation=_organisation_summary(uow, org),
            collections=tuple(
                _collection_summary(uow, c, slug) for c in uow.collections.list(slug)
            ),
        )


def edit_organisation(
    app: Application,
    slug: str,
    *,
    name: str | None = None,
    address: str | None = None,
    contact_name: str | None = None,
    contact_email: str | None = None,
) -> OrganisationEdit:
    """Change the given fields (None: leave as is; "" clears address and contact). Packages
    stored already keep their bag-info.txt; new ingests use the new values."""
    given = {
        "name": name,
        "address": address,
        "contact_name": contact_name,
        "contact_email": contact_email,
    }
    if all(v is None for v in given.values()):
        raise InvalidInput(
            "nothing to change: give at least one of --name, --address, --contact-name, "
            "--contact-email"
        )
    _check_organisation_fields(name, address, contact_name, contact_email)
    with app.uow() as uow:
        org = require_organisation(uow, slug)
        if name is not None:
            _same_name(uow, name.strip(), slug)
        changes = []
        for key, value in given.items():
            if value is None:
                continue
            old = getattr(org, key) or ""
            if value.strip() != old:
                setattr(org, key, value.strip())
                changes.append(Change(key.replace("_", " "), old, value.strip()))
        uow.flush()
        summary = _organisation_summary(uow, org)
        uow.commit()
    if changes:  # storage says what the organisation is, beside its packages
        from preserve.services.journal import describe_organisation

        describe_organisation(app, slug)
    return OrganisationEdit(summary, tuple(changes))


def add_location(
    app: Application,
    name: str,
    url: str,
    *,
    region: str | None = None,
    storage_type: str | None = None,
    offline: bool = False,
    default: bool = False,
    site: str | None = None,
    operator: str | None = None,
) -> LocationSummary:
    """Register a storage location after checking it can be reached (local root created).
    ``region`` as an ISO 3166-1 alpha-2 code or ``EU`` is also its jurisdiction for agreements'
    allowed regions; ``site`` and ``operator`` (own, storage_node) are what agreements judge
    too (:mod:`preserve.services.placement`)."""
    from preserve.services import placement

    _check_slug("location", name)
    site = placement.check_site(site) if site else None
    operator = placement.check_operator(operator) if operator else None
    if region:
        placement.check_region(region)
    described = describe_location(url)  # ConfigError for a malformed URL
    storage = app.storage(url)
    storage.ensure()  # StorageUnavailable / StorageError when it cannot be reached
    with app.uow() as uow:
        if uow.locations.get_by_name(name) is not None:
            raise AlreadyExists(f"storage location {name!r} already exists")
        if uow.locations.get_by_url(url) is not None:
            raise AlreadyExists(f"storage location with URL {url} already exists")
        loc = uow.locations.add(
            StorageLocation(
                name=name,
                url=url,
                provider=described.get("provider", "local"),
                region=region or described.get("region"),
                storage_type=storage_type
                or ("filesystem" if described.get("provider") == "local" else "object"),
                offline=offline,
                is_default=default,
                site=site,
                jurisdiction=placement.jurisdiction_of(region),
                operator=operator,
            )
        )
        uow.commit()
        log.info("registered storage location %s at %s", name, url)
        return _location_summary(loc)


def list_locations(app: Application) -> list[LocationSummary]:
    with app.uow() as uow:
        return [_location_summary(loc) for loc in uow.locations.list()]


def add_collection(
    app: Application,
    slug: str,
    *,
    title: str = "",
    description: str = "",
    organisation: str | None = None,
    locations: tuple[str, ...] = (),
    exist_ok: bool = False,
    profile: str | None = None,
) -> CollectionSummary:
    """Create a collection in an existing organisation; its packages go to ``locations``
    (default: the default locations). With ``exist_ok`` an existing collection is fine if the
    options given agree with it; otherwise the message names what differs. ``profile`` (a
    local JSON file or a bundled profile's name) is the BagIt profile every delivery must
    conform to; its document is kept in the catalogue."""
    org = organisation or app.settings.organisation
    _check_slug("collection", slug)
    document = _profile_document(profile)
    with app.uow() as uow:
        organisation_row = require_organisation(uow, org)
        chosen = [require_active_location(uow, name) for name in dict.fromkeys(locations)]
        existing = uow.collections.get(org, slug)
        if existing is not None:
            # the command that changes it names the organisation whenever this one did, or
            # it is not the built-in default (PRESERVE_ORGANISATION may be another one where
            # that command is run)
            edit = f"preserve collections edit {slug}" + (
                f" --organisation {org}"
                if organisation is not None or org != DEFAULT_ORGANISATION
                else ""
            )
            if not exist_ok:
                raise AlreadyExists(
                    f"collection {slug!r} already exists in organisation {org!r} (change it "
                    f"with: {edit})"
                )
            differ = _differences(uow, existing, title, description, chosen)
            if document is not None and document != existing.bagit_profile:
                differ.append(f"BagIt profile is {_profile_name(existing.bagit_profile)}")
            if differ:
                raise AlreadyExists(
                    f"collection {slug!r} exists in organisation {org!r} with other options: "
                    + "; ".join(differ)
                    + f"; change it with: {edit}"
                )
            return _collection_summary(uow, existing, org)
        coll = uow.collections.add(
            Collection(
                organisation=organisation_row,
                slug=slug,
                title=title or slug,
                description=description,
                bagit_profile=document,
            )
        )
        uow.flush()
        if chosen:
            uow.collections.set_locations(coll, chosen)
        uow.commit()
        return _collection_summary(uow, coll, org)


def _differences(
    uow: Any, coll: Collection, title: str, description: str, chosen: list[StorageLocation]
) -> list[str]:
    """What the options of ``collections add`` given (empty: not given) say otherwise than
    ``coll``."""
    out = []
    if title and title != coll.title:
        out.append(f"title is {coll.title!r}, not {title!r}")
    if description and description != (coll.description or ""):
        out.append(f"description is {coll.description or ''!r}, not {description!r}")
    if chosen:
        have = sorted(loc.name for loc in collection_locations(uow, coll))
        want = sorted(loc.name for loc in chosen)
        if have != want:
            out.append(f"locations are {', '.join(have) or '(none)'}, not {', '.join(want)}")
    return out


def edit_collection(
    app: Application,
    slug: str,
    *,
    organisation: str | None = None,
    title: str | None = None,
    description: str | None = None,
    add_locations: tuple[str, ...] = (),
    remove_locations: tuple[str, ...] = (),
    profile: str | None = None,
    no_profile: bool = False,
) -> CollectionEdit:
    """Change a collection's title, description, locations or BagIt profile (``profile``: a
    file or a bundled profile's name; ``no_profile``: require none). Packages stored already
    keep their copies where they are; only new ingests use the new set of locations and are
    checked against the new profile. Each location added gets the collection's packages: a
    replicate job per stored package version is queued in the same transaction."""
    org = organisation or app.settings.organisation
    if (
        title is None
        and description is None
        and not add_locations
        and not remove_locations
        and profile is None
        and not no_profile
    ):
        raise InvalidInput(
            "nothing to change: give at least one of --title, --description, --add-location, "
            "--remove-location, --profile, --no-profile"
        )
    if profile is not None and no_profile:
        raise InvalidInput("--profile and --no-profile contradict each other: give one")
    document = _profile_document(profile)
    if title is not None and not title.strip():
        raise InvalidInput("the collection's title (--title) is empty")
    both = sorted(set(add_locations) & set(remove_locations))
    if both:
        raise InvalidInput(f"location {both[0]!r} is both added and removed")
    with app.uow() as uow:
        coll = require_collection(uow, org, slug)
        changes = []
        queued: tuple[tuple[str, str, int, str], ...] = ()
        if title is not None and title.strip() != coll.title:
            changes.append(Change("title", coll.title, title.strip()))
            coll.title = title.strip()
        if description is not None and description != (coll.description or ""):
            changes.append(Change("description", coll.description or "", description))
            coll.description = description
        if add_locations or remove_locations:
            before = list(collection_locations(uow, coll))
            current = {loc.name: loc for loc in before}
            for name in dict.fromkeys(add_locations):
                if name not in current:
                    current[name] = require_active_location(uow, name)
            for name in dict.fromkeys(remove_locations):
                require_location(uow, name)
                if name not in current:
                    raise InvalidInput(
                        f"collection {slug!r} is not stored on location {name!r} (its "
                        f"locations: {', '.join(sorted(current)) or '(none)'})"
                    )
                if len(current) == 1:
                    raise InvalidInput(
                        f"location {name!r} is the last location of collection {slug!r}: a "
                        "collection needs at least one (add another first)"
                    )
                del current[name]
            old = ", ".join(sorted(loc.name for loc in before))
            new = ", ".join(sorted(current))
            if old != new:
                uow.collections.set_locations(coll, current.values())
                changes.append(Change("locations", old, new))
                added = [current[n].id for n in current if n not in {x.name for x in before}]
                if added:
                    queued = _queue_replication(app, uow, coll, added)
        if (document is not None or no_profile) and document != coll.bagit_profile:
            changes.append(
                Change(
                    "BagIt profile",
                    _profile_name(coll.bagit_profile),
                    _profile_name(document),
                )
            )
            coll.bagit_profile = document
        uow.flush()
        summary = _collection_summary(uow, coll, org)
        uow.commit()
    if changes:  # storage says what the collection is, beside its packages
        from preserve.services.journal import describe_collection

        describe_collection(app, org, slug)
    return CollectionEdit(summary, tuple(changes), queued)


def _queue_replication(
    app: Application, uow: Any, coll: Collection, location_ids: list[int]
) -> tuple[tuple[str, str, int, str], ...]:
    """Queue, in ``uow``'s transaction, a replicate job per stored package version of ``coll``
    lacking a verified copy on one of ``location_ids``."""
    from preserve.services import replication

    uow.flush()
    found = replication._shortfalls(uow, collection_ids=[coll.id], location_ids=location_ids)
    queued = replication.enqueue_replications(
        uow, found, requested_by=app.actor, publish=replication._publisher(app)
    )
    return tuple((q.job_id, q.package_id, q.version, q.location) for q in queued)


def collection_locations(uow: object, coll: object) -> list:
    """The locations a collection's packages are stored on: its own, else the default ones;
    never a retired one."""
    own = [loc for loc in uow.collections.locations(coll) if loc.retired_at is None]  # type: ignore[attr-defined]
    if own:
        return own
    return [loc for loc in uow.locations.defaults() if loc.retired_at is None]  # type: ignore[attr-defined]


def _collection_summary(uow: object, coll: object, org: str) -> CollectionSummary:
    locs = collection_locations(uow, coll)
    return CollectionSummary(
        organisation=org,
        slug=coll.slug,  # type: ignore[attr-defined]
        title=coll.title,  # type: ignore[attr-defined]
        description=coll.description or "",  # type: ignore[attr-defined]
        locations=tuple(loc.name for loc in locs),
        packages=_stored_packages(uow, coll),  # type: ignore[arg-type]
        **_profile_fields(coll.bagit_profile),  # type: ignore[attr-defined]
    )


def _profile_document(given: str | None) -> dict[str, Any] | None:
    """The JSON document of the profile ``given`` names (checked), or None."""
    if given is None:
        return None
    from preserve.bagit.profiles import resolve_profile

    return dict(resolve_profile(given).document)


def _profile_fields(document: Any) -> dict[str, str]:
    info = document.get("BagIt-Profile-Info", {}) if isinstance(document, dict) else {}
    return {
        "profile": str(info.get("BagIt-Profile-Identifier", "")),
        "profile_version": str(info.get("Version", "")),
    }


def _profile_name(document: Any) -> str:
    """How a change names a profile: its identifier and version, "" for none."""
    fields = _profile_fields(document)
    if not fields["profile"]:
        return ""
    return f"{fields['profile']} (version {fields['profile_version']})"


def list_collections(app: Application, organisation: str | None = None) -> list[CollectionSummary]:
    with app.uow() as uow:
        if organisation is not None:
            require_organisation(uow, organisation)
        out = []
        for coll in uow.collections.list(organisation):
            out.append(_collection_summary(uow, coll, coll.organisation.slug))
        return out
