"""Administration: initialise a repository, organisations, collections and storage locations."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from preserve.bootstrap import Application
from preserve.catalogue.database import upgrade
from preserve.catalogue.models import Collection, Organisation, StorageLocation
from preserve.errors import AlreadyExists, InvalidInput, NotFound
from preserve.storage import describe_location

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class CollectionSummary:
    organisation: str
    slug: str
    title: str
    description: str
    locations: tuple[str, ...]
    packages: int


@dataclass(frozen=True)
class InitResult:
    database_url: str
    revision: str | None
    organisation: str
    location: LocationSummary


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
    )


def initialise(app: Application) -> InitResult:
    """Create the home folders, migrate the catalogue, and register the default organisation and
    location. Safe to run again: existing records are kept."""
    settings = app.settings
    # the catalogue first: when its server cannot be reached, nothing is created on the way
    upgrade(app.new_catalogue_engine())
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.staging_dir.mkdir(parents=True, exist_ok=True)
    ensure_organisation(app, settings.organisation)
    with app.uow() as uow:
        loc = uow.locations.get_by_url(settings.storage_url)
        if loc is None:
            name = "default"
            if uow.locations.get_by_name(name) is not None:
                name = f"default-{len(uow.locations.list()) + 1}"
            summary = add_location(app, name, settings.storage_url, default=True)
        else:
            summary = _location_summary(loc)
    from preserve.catalogue.database import current_revision

    return InitResult(
        database_url=_redact(settings.database_url),
        revision=current_revision(app.engine),
        organisation=settings.organisation,
        location=summary,
    )


def _redact(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]+@", r"//\1:***@", url)


def ensure_organisation(app: Application, slug: str, name: str | None = None) -> None:
    """Register an organisation if it does not exist yet."""
    _check_slug("organisation", slug)
    with app.uow() as uow:
        if uow.organisations.get_by_slug(slug) is None:
            uow.organisations.add(Organisation(slug=slug, name=name or slug))
            uow.commit()


def add_location(
    app: Application,
    name: str,
    url: str,
    *,
    region: str | None = None,
    storage_type: str | None = None,
    offline: bool = False,
    default: bool = False,
) -> LocationSummary:
    """Register a storage location after checking it can be reached (local root created)."""
    _check_slug("location", name)
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
) -> CollectionSummary:
    """Create a collection in an organisation; its packages go to ``locations`` (default: the
    default locations)."""
    org = organisation or app.settings.organisation
    _check_slug("collection", slug)
    ensure_organisation(app, org)
    with app.uow() as uow:
        existing = uow.collections.get(org, slug)
        if existing is not None:
            if exist_ok:
                return _collection_summary(uow, existing, org)
            raise AlreadyExists(f"collection {slug!r} already exists in organisation {org!r}")
        chosen = []
        for name in locations:
            loc = uow.locations.get_by_name(name)
            if loc is None:
                raise NotFound(f"storage location {name!r} does not exist")
            chosen.append(loc)
        organisation_row = uow.organisations.get_by_slug(org)
        coll = uow.collections.add(
            Collection(
                organisation=organisation_row,
                slug=slug,
                title=title or slug,
                description=description,
            )
        )
        uow.flush()
        if chosen:
            uow.collections.set_locations(coll, chosen)
        uow.commit()
        return _collection_summary(uow, coll, org)


def collection_locations(uow: object, coll: object) -> list:
    """The locations a collection's packages are stored on: its own, else the default ones."""
    return list(uow.collections.locations(coll)) or list(uow.locations.defaults())  # type: ignore[attr-defined]


def _collection_summary(uow: object, coll: object, org: str) -> CollectionSummary:
    locs = collection_locations(uow, coll)
    return CollectionSummary(
        organisation=org,
        slug=coll.slug,  # type: ignore[attr-defined]
        title=coll.title,  # type: ignore[attr-defined]
        description=coll.description or "",  # type: ignore[attr-defined]
        locations=tuple(loc.name for loc in locs),
        packages=len(uow.packages.list(collection_id=coll.id, status="stored")),  # type: ignore[attr-defined]
    )


def list_collections(app: Application, organisation: str | None = None) -> list[CollectionSummary]:
    with app.uow() as uow:
        out = []
        for coll in uow.collections.list(organisation):
            out.append(_collection_summary(uow, coll, coll.organisation.slug))
        return out
