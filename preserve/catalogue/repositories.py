"""Repositories: the only place in the application that writes queries.

Each repository wraps the session of one unit of work and returns models; the services turn them
into frozen dataclasses before the session closes. ``add`` methods flush, so the new row has its id
and a broken constraint shows up at the call that caused it (as ``sqlalchemy.exc.IntegrityError``).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from itertools import islice
from typing import Any, TypeVar, cast

from sqlalchemy import (
    Row,
    Table,
    Text,
    case,
    delete,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import ScalarResult
from sqlalchemy.orm import Session, joinedload

from preserve.catalogue.folding import TRANSLATE_FROM, TRANSLATE_TO, fold
from preserve.catalogue.models import (
    Agent,
    Collection,
    CollectionLocation,
    Copy,
    Event,
    EventAgent,
    EventFile,
    File,
    Job,
    Organisation,
    Package,
    PackageVersion,
    StorageLocation,
    new_uuid,
    utcnow,
)

FILE_BATCH_SIZE = 5_000
STREAM_BATCH_SIZE = 1_000


# Columns a file row may carry (everything but the generated id).
_FILE_COLUMNS = frozenset(c.key for c in File.__table__.columns if c.key != "id")

T = TypeVar("T")


def _streamed(result: ScalarResult[T]) -> Iterator[T]:
    """The rows of a streamed result; its cursor (a server-side one on PostgreSQL) is closed
    when the caller stops early (``any(...)``, ``break``) and the generator is closed or
    collected, not left open until the connection is returned."""
    try:
        yield from result
    finally:
        result.close()


def _batches(rows: Iterable[Mapping[str, Any]], size: int) -> Iterator[list[Mapping[str, Any]]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


class _Repository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _add(self, obj: T) -> T:
        self.session.add(obj)
        self.session.flush()
        return obj


class OrganisationRepository(_Repository):
    def get_by_slug(self, slug: str) -> Organisation | None:
        return self.session.scalar(select(Organisation).where(Organisation.slug == slug))

    def add(self, organisation: Organisation) -> Organisation:
        return self._add(organisation)

    def list(self) -> Sequence[Organisation]:
        return self.session.scalars(select(Organisation).order_by(Organisation.slug)).all()


class CollectionRepository(_Repository):
    def get(self, org_slug: str, slug: str) -> Collection | None:
        return self.session.scalar(
            select(Collection)
            .join(Collection.organisation)
            .where(Organisation.slug == org_slug, Collection.slug == slug)
        )

    def get_by_id(self, collection_id: int) -> Collection | None:
        return self.session.get(Collection, collection_id)

    def add(self, collection: Collection) -> Collection:
        return self._add(collection)

    def list(self, org_slug: str | None = None) -> Sequence[Collection]:
        stmt = select(Collection).join(Collection.organisation)
        if org_slug is not None:
            stmt = stmt.where(Organisation.slug == org_slug)
        return self.session.scalars(stmt.order_by(Organisation.slug, Collection.slug)).all()

    def locations(self, collection: Collection) -> Sequence[StorageLocation]:
        """The locations this collection's packages are stored on, by name."""
        return self.session.scalars(
            select(StorageLocation)
            .join(CollectionLocation, CollectionLocation.location_id == StorageLocation.id)
            .where(CollectionLocation.collection_id == collection.id)
            .order_by(StorageLocation.name)
        ).all()

    def set_locations(self, collection: Collection, locations: Iterable[StorageLocation]) -> None:
        """Replace the collection's locations with ``locations``."""
        self.session.flush()
        self.session.execute(
            delete(CollectionLocation).where(CollectionLocation.collection_id == collection.id)
        )
        ids = sorted({location.id for location in locations})
        if ids:
            self.session.execute(
                insert(CollectionLocation),
                [{"collection_id": collection.id, "location_id": i} for i in ids],
            )


class LocationRepository(_Repository):
    def get(self, location_id: int) -> StorageLocation | None:
        return self.session.get(StorageLocation, location_id)

    def get_by_name(self, name: str) -> StorageLocation | None:
        return self.session.scalar(select(StorageLocation).where(StorageLocation.name == name))

    def get_by_url(self, url: str) -> StorageLocation | None:
        return self.session.scalar(select(StorageLocation).where(StorageLocation.url == url))

    def add(self, location: StorageLocation) -> StorageLocation:
        return self._add(location)

    def list(self) -> Sequence[StorageLocation]:
        return self.session.scalars(select(StorageLocation).order_by(StorageLocation.name)).all()

    def defaults(self) -> Sequence[StorageLocation]:
        """The locations a collection without its own choice stores on."""
        return self.session.scalars(
            select(StorageLocation)
            .where(StorageLocation.is_default.is_(True))
            .order_by(StorageLocation.name)
        ).all()


class PackageRepository(_Repository):
    def get(self, package_id: str) -> Package | None:
        return self.session.get(Package, package_id)

    def add(self, package: Package) -> Package:
        return self._add(package)

    def list(
        self, collection_id: int | None = None, status: str | None = None
    ) -> Sequence[Package]:
        stmt = select(Package)
        if collection_id is not None:
            stmt = stmt.where(Package.collection_id == collection_id)
        if status is not None:
            stmt = stmt.where(Package.status == status)
        return self.session.scalars(stmt.order_by(Package.created_at, Package.id)).all()

    def with_id_prefix(self, prefix: str) -> Sequence[Package]:
        """The packages whose id starts with ``prefix`` (lowercase, as stored), with their
        collection and organisation loaded, oldest first. (Ids are random: a prefix of 4 hex
        digits is shared by one package in 65,536.)"""
        return self.session.scalars(
            select(Package)
            .options(joinedload(Package.collection).joinedload(Collection.organisation))
            .where(Package.id.like(_like_escape(prefix) + "%", escape="\\"))
            .order_by(Package.created_at, Package.id)
        ).all()

    def with_identifier(self, identifier: str) -> Sequence[Package]:
        """Packages that may carry the producer's ``identifier`` (External-Identifier, or a value
        of the description, compared case-insensitively): a superset the caller narrows down, as
        the description is JSON matched as text here."""
        quoted = json.dumps(identifier)  # as the JSON column spells the value, quotes included
        return self.session.scalars(
            select(Package)
            .options(joinedload(Package.collection).joinedload(Collection.organisation))
            .where(
                or_(
                    func.lower(Package.external_identifier) == identifier.lower(),
                    sql_cast(Package.description, Text).ilike(
                        "%" + _like_escape(quoted) + "%", escape="\\"
                    ),
                )
            )
            .order_by(Package.created_at, Package.id)
        ).all()

    def with_file_identifier(self, identifier: str) -> Sequence[tuple[Package, Any]]:
        """(package, item-level description) of the files that may carry the producer's
        ``identifier`` in their description (a metadata CSV row for one file): a superset the
        caller narrows down, as the description is JSON matched as text here."""
        quoted = json.dumps(identifier)
        rows = self.session.execute(
            select(Package, File.description)
            .join(File, File.package_id == Package.id)
            .options(joinedload(Package.collection).joinedload(Collection.organisation))
            .where(
                File.description.is_not(None),
                sql_cast(File.description, Text).ilike(
                    "%" + _like_escape(quoted) + "%", escape="\\"
                ),
            )
            .order_by(Package.created_at, Package.id, File.id)
        ).all()
        return [(package, description) for package, description in rows]

    def summaries(
        self,
        *,
        organisation_id: int | None = None,
        collection_id: int | None = None,
        status: str | None = None,
        since: datetime | None = None,
        before: datetime | None = None,
        text: str | None = None,
        delivery_kind: str | None = None,
    ) -> Sequence[Row[Any]]:
        """One row per package for listings, in one query (copies counted in a subquery):
        id, organisation slug, collection slug, title, status, version, file count, size, copies,
        verified copies, created_at, stored_at, external identifier, damaged_at, damage, copies
        found damaged (failed or quarantined), oldest first. Title, files,
        size and copies are those of the package's current version.

        ``since`` and ``before`` bound the ingest date (created_at, ``before`` excluded). With
        ``text`` only packages that may match it (see :func:`search_conditions`) are returned, with
        two more columns: whether something other than the description matched, and the
        description, which the caller checks value by value."""
        copies = (
            select(
                Copy.package_id,
                Copy.version,
                func.count().label("copies"),
                func.sum(case((Copy.status == "verified", 1), else_=0)).label("verified"),
                func.sum(case((Copy.status.in_(("failed", "quarantined")), 1), else_=0)).label(
                    "damaged"
                ),
            )
            # a copy on a retired location is kept, no longer one of the package's copies
            .join(StorageLocation, StorageLocation.id == Copy.location_id)
            .where(StorageLocation.retired_at.is_(None))
            .group_by(Copy.package_id, Copy.version)
            .subquery()
        )
        columns: list[Any] = [
            Package.id,
            Organisation.slug,
            Collection.slug,
            Package.title,
            Package.status,
            Package.version,
            Package.file_count,
            Package.size,
            func.coalesce(copies.c.copies, 0),
            func.coalesce(copies.c.verified, 0),
            Package.created_at,
            Package.stored_at,
            Package.external_identifier,
            Package.damaged_at,
            Package.damage,
            func.coalesce(copies.c.damaged, 0),
        ]
        conditions: list[Any] = []
        if text is not None:
            others, in_description = search_conditions(text, folding_of(self.session))
            columns += [case((others, True), else_=False), Package.description]
            conditions.append(or_(others, in_description))
        if organisation_id is not None:
            conditions.append(Collection.organisation_id == organisation_id)
        if collection_id is not None:
            conditions.append(Package.collection_id == collection_id)
        if status is not None:
            conditions.append(Package.status == status)
        if since is not None:
            conditions.append(Package.created_at >= since)
        if before is not None:
            conditions.append(Package.created_at < before)
        if delivery_kind is not None:  # what the producer delivered, for the current version
            conditions.append(
                exists(
                    select(PackageVersion.number).where(
                        PackageVersion.package_id == Package.id,
                        PackageVersion.number == Package.version,
                        PackageVersion.delivery_kind == delivery_kind,
                    )
                )
            )
        stmt = (
            select(*columns)
            .select_from(Package)
            .join(Collection, Collection.id == Package.collection_id)
            .join(Organisation, Organisation.id == Collection.organisation_id)
            .outerjoin(
                copies,
                (copies.c.package_id == Package.id) & (copies.c.version == Package.version),
            )
            .where(*conditions)
            .order_by(Package.created_at, Package.id)
        )
        return self.session.execute(stmt).all()

    def shared_id_prefixes(self, length: int) -> set[str]:
        """The id prefixes of ``length`` characters that more than one package shares."""
        prefix = func.substr(Package.id, 1, length)
        return set(
            self.session.scalars(select(prefix).group_by(prefix).having(func.count() > 1)).all()
        )

    def list_interrupted(self) -> Sequence[Package]:
        """Packages still marked as ingesting (compare ingest_host/ingest_pid to find dead ones),
        and failed ingests whose objects could not all be removed yet."""
        return self.session.scalars(
            select(Package)
            .where(Package.status.in_(("ingesting", "failed")))
            .order_by(Package.created_at, Package.id)
        ).all()

    def same_origin(
        self, collection_id: int, source: str, external_identifier: str | None
    ) -> Sequence[Package]:
        """Stored packages of the collection ingested from ``source`` or carrying the same
        external identifier: a new delivery of the same thing may be meant as a new version."""
        match = Package.source == source
        if external_identifier:
            match = or_(match, Package.external_identifier == external_identifier)
        return self.session.scalars(
            select(Package)
            .where(Package.collection_id == collection_id, Package.status == "stored", match)
            .order_by(Package.created_at)
            .limit(5)
        ).all()

    def earlier_version_with(
        self, collection_id: int, fingerprint: str
    ) -> tuple[str, int, int] | None:
        """(package id, version, current version) of a stored package of the collection one of
        whose earlier (not current) versions holds exactly this payload."""
        row = self.session.execute(
            select(Package.id, PackageVersion.number, Package.version)
            .join(PackageVersion, PackageVersion.package_id == Package.id)
            .where(
                Package.collection_id == collection_id,
                Package.status == "stored",
                PackageVersion.payload_fingerprint == fingerprint,
                PackageVersion.status == "stored",
                PackageVersion.number != Package.version,
            )
            .order_by(PackageVersion.created_at.desc())
            .limit(1)
        ).first()
        return (str(row[0]), int(row[1]), int(row[2])) if row is not None else None

    def find_live_by_fingerprint(self, collection_id: int, fingerprint: str) -> Package | None:
        """The package of this collection, stored or being ingested, that holds this payload
        (at most one: ``uq_packages_live_fingerprint``)."""
        return self.session.scalars(
            select(Package).where(
                Package.collection_id == collection_id,
                Package.payload_fingerprint == fingerprint,
                Package.status.in_(("ingesting", "stored")),
            )
        ).first()

    def delete(self, package: Package) -> None:
        """Delete the package; the database cascades to its files, copies and events."""
        self.session.delete(package)
        self.session.flush()


class VersionRepository(_Repository):
    """The versions of packages (``package_versions``)."""

    def get(self, package_id: str, number: int) -> PackageVersion | None:
        return self.session.get(PackageVersion, (package_id, number))

    def add(self, version: PackageVersion) -> PackageVersion:
        return self._add(version)

    def for_package(self, package_id: str) -> Sequence[PackageVersion]:
        """Every version of the package, the first first."""
        return self.session.scalars(
            select(PackageVersion)
            .where(PackageVersion.package_id == package_id)
            .order_by(PackageVersion.number)
        ).all()

    def latest(self, package_id: str) -> PackageVersion | None:
        """The highest-numbered version, whatever its status (a version may be under way)."""
        return self.session.scalars(
            select(PackageVersion)
            .where(PackageVersion.package_id == package_id)
            .order_by(PackageVersion.number.desc())
            .limit(1)
        ).first()

    def list_interrupted(self) -> Sequence[PackageVersion]:
        """Later versions (2 and up) still being made or left failed; a first version is
        recovered through its package row."""
        return self.session.scalars(
            select(PackageVersion)
            .where(
                PackageVersion.status.in_(("ingesting", "failed")),
                PackageVersion.number > 1,
            )
            .order_by(PackageVersion.created_at)
        ).all()

    def delete(self, version: PackageVersion) -> None:
        """Delete a version that never became current: its files, copies and events too."""
        pid, number = version.package_id, version.number
        self.session.execute(delete(File).where(File.package_id == pid, File.version == number))
        self.session.execute(delete(Copy).where(Copy.package_id == pid, Copy.version == number))
        self.session.execute(delete(Event).where(Event.package_id == pid, Event.version == number))
        self.session.delete(version)
        self.session.flush()


def _like_escape(text: str) -> str:
    """``text`` matched literally by LIKE with ``escape='\\'``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_PUID = re.compile(r"(x-)?fmt/[0-9]+", re.IGNORECASE)


class Folding:
    """How a database folds text for accent- and case-insensitive search (see
    :mod:`preserve.catalogue.folding`): SQLite with the registered ``fold()``, PostgreSQL with
    ``unaccent()`` when the extension is installed, else with ``translate()``."""

    def __init__(self, dialect: str, unaccent: bool = False) -> None:
        self.dialect = dialect
        self.unaccent = unaccent

    def text(self, column: Any) -> Any:
        """``column`` folded in SQL."""
        if self.dialect == "sqlite":
            return func.fold(column)
        if self.unaccent:
            return func.lower(func.unaccent(column))
        return func.lower(func.translate(column, TRANSLATE_FROM, TRANSLATE_TO))

    def values(self, column: Any) -> Any:
        """The values of the JSON description ``column`` (not its keys), folded, as one text."""
        if self.dialect == "sqlite":
            return func.fold_values(column)
        if self.dialect == "postgresql":
            values = func.jsonb_path_query_array(
                sql_cast(column, postgresql.JSONB), literal_column("'lax $.*[*]'::jsonpath")
            )
            return self.text(sql_cast(values, Text))
        return self.text(sql_cast(column, Text))

    def contains(self, column: Any, text: str, *, values: bool = False) -> Any:
        """``column`` (the values of a JSON description, with ``values``) contains ``text``
        once both are folded."""
        folded = self.values(column) if values else self.text(column)
        return folded.like("%" + _like_escape(fold(text)) + "%", escape="\\")


def folding_of(session: Session) -> Folding:
    """How the catalogue ``session`` talks to folds text (PostgreSQL: whether ``unaccent`` is
    installed in its database is asked once per connection)."""
    bind = session.get_bind()
    dialect = bind.dialect.name
    if dialect != "postgresql":
        return Folding(dialect)
    connection = session.connection()
    known = connection.info.get("preserve_unaccent")
    if known is None:
        known = bool(
            connection.exec_driver_sql(
                "SELECT to_regprocedure('unaccent(text)') IS NOT NULL"
            ).scalar()
        )
        connection.info["preserve_unaccent"] = known
    return Folding(dialect, known)


def _codepoint_order(session: Session) -> bool:
    """Whether the catalogue compares text by code point (SQLite; PostgreSQL with the C,
    POSIX or C.UTF-8 collation), so a prefix is a range of an index; asked once per
    connection."""
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        return True
    if bind.dialect.name != "postgresql":
        return False
    connection = session.connection()
    known = connection.info.get("preserve_codepoint_order")
    if known is None:
        collation = connection.exec_driver_sql(
            "SELECT datcollate FROM pg_database WHERE datname = current_database()"
        ).scalar()
        known = str(collation or "").lower().replace("-", "") in ("c", "posix", "c.utf8")
        connection.info["preserve_codepoint_order"] = known
    return bool(known)


def search_conditions(text: str, folding: Folding | None = None) -> tuple[Any, Any]:
    """What ``packages search`` matches ``text`` with, in any case and with or without accents
    ("zoe" finds "Zoë"): the title, the External-Identifier, a payload file's path, format name,
    PUID (a whole PUID such as ``fmt/43`` only matches itself, not fmt/430) or the values of its
    item-level description; and, separately, the package's description, whose matches the caller
    confirms value by value (on PostgreSQL the values are matched as one JSON text). Files are
    those of the package's current version (as its title and description are)."""
    folding = folding or Folding("sqlite")
    text = unicodedata.normalize("NFC", text)
    if _PUID.fullmatch(text):
        puid = func.lower(File.puid) == text.lower()
    else:
        puid = folding.contains(File.puid, text)
    in_files = exists(
        select(File.id).where(
            File.package_id == Package.id,
            File.version == Package.version,
            File.role == "payload",
            or_(
                folding.contains(File.path_nfc, text),
                folding.contains(File.format_name, text),
                puid,
                folding.contains(File.description, text, values=True),
            ),
        )
    )
    others = or_(
        folding.contains(Package.title, text),
        folding.contains(Package.external_identifier, text),
        in_files,
    )
    in_description = folding.contains(Package.description, text, values=True)
    return others, in_description


class FileRepository(_Repository):
    def add_many(self, package_id: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Insert file rows in batches without building ORM objects; returns how many.

        Each row needs ``path`` and ``size``; ``path_nfc`` defaults to the NFC form of ``path``,
        ``role`` to "payload". ``rows`` may be a generator, so 100,000 files need not sit in memory.
        """
        count = 0
        for batch in _batches(rows, FILE_BATCH_SIZE):
            # RETURNING makes SQLAlchemy send each batch as multi-row INSERTs ("insertmanyvalues",
            # 1,000 rows a statement) on every driver. Without it psycopg's executemany sends a
            # statement per row, and PostgreSQL's statement-level search trigger on files then
            # rewrites the package's search document once per file: 20,000 files took 226 s.
            inserted = self.session.execute(
                insert(_FILES_TABLE).returning(_FILES_TABLE.c.id),
                [_file_row(package_id, row) for row in batch],
            )
            count += len(inserted.all())
        return count

    def get(self, file_id: int) -> File | None:
        return self.session.get(File, file_id)

    def get_by_path(self, package_id: str, path: str, version: int | None = None) -> File | None:
        """The file at ``path`` in ``version`` of the package (by default its current one)."""
        return self.session.scalar(
            select(File).where(
                File.package_id == package_id, File.path == path, _in_version(package_id, version)
            )
        )

    def iter_for_package(
        self, package_id: str, role: str | None = None, version: int | None = None
    ) -> Iterator[File]:
        """Stream the files of ``version`` of the package (by default its current one) in
        insertion order, a batch at a time."""
        stmt = select(File).where(File.package_id == package_id, _in_version(package_id, version))
        if role is not None:
            stmt = stmt.where(File.role == role)
        stmt = stmt.order_by(File.id).execution_options(yield_per=STREAM_BATCH_SIZE)
        yield from _streamed(self.session.scalars(stmt))

    def iter_stored_payload(self, package_id: str) -> Iterator[File]:
        """The payload files each stored version of the package stored itself (the bytes the
        package holds, each once), the latest version first."""
        stmt = (
            select(File)
            .join(
                PackageVersion,
                (PackageVersion.package_id == File.package_id)
                & (PackageVersion.number == File.version),
            )
            .where(
                File.package_id == package_id,
                File.role == "payload",
                File.version == File.stored_version,
                PackageVersion.status == "stored",
            )
            .order_by(File.version.desc(), File.id)
            .execution_options(yield_per=STREAM_BATCH_SIZE)
        )
        yield from _streamed(self.session.scalars(stmt))

    def count(self, package_id: str, role: str | None = None, version: int | None = None) -> int:
        stmt = (
            select(func.count())
            .select_from(File)
            .where(File.package_id == package_id, _in_version(package_id, version))
        )
        if role is not None:
            stmt = stmt.where(File.role == role)
        return self.session.scalar(stmt) or 0

    def page(
        self,
        package_id: str,
        version: int,
        *,
        folder: str = "",
        offset: int = 0,
        limit: int = 100,
        count_limit: int | None = None,
        role: str | None = None,
    ) -> tuple[Sequence[File], int]:
        """One page of the files of ``version`` under ``folder`` (a path prefix ending in "/",
        "" for all), by path, and how many there are in all (the package page's file list);
        with ``count_limit``, counted up to ``count_limit + 1`` only (counting 100,000 rows
        takes tens of milliseconds); with ``role``, only the files of that role ("payload",
        "tag")."""
        where = [File.package_id == package_id, File.version == version]
        if role is not None:
            where.append(File.role == role)
        if folder:
            where.append(File.path.startswith(folder, autoescape=True))
            if _codepoint_order(self.session):
                # the same rows as a range of the (package_id, version, path) index, which a
                # LIKE cannot use unless the collation is "C": every path starting with
                # "a/b/" sorts from "a/b/" to "a/b0" ("0" follows "/") in code point order
                where += [File.path >= folder, File.path < folder[:-1] + chr(ord(folder[-1]) + 1)]
        matching = select(File.id).where(*where)
        if count_limit is not None:
            matching = matching.limit(count_limit + 1)
        counted = select(func.count()).select_from(matching.subquery())
        total = self.session.scalar(counted) or 0
        rows = self.session.scalars(
            select(File).where(*where).order_by(File.path).offset(offset).limit(limit)
        ).all()
        return rows, total


def _in_version(package_id: str, version: int | None) -> Any:
    """The condition "a file row of ``version``", by default the package's current version."""
    if version is not None:
        return File.version == version
    current = select(Package.version).where(Package.id == package_id).scalar_subquery()
    return File.version == current


#: Core inserts of file rows skip the ORM's per-row bookkeeping (no File objects are made)
_FILES_TABLE = cast(Table, File.__table__)


def _file_row(package_id: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """Every column present in every row, so each batch is one executemany of one statement."""
    unknown = row.keys() - _FILE_COLUMNS
    if unknown:
        raise ValueError(f"unknown file columns: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = dict.fromkeys(_FILE_COLUMNS)
    values.update(row)
    if values["path"] is None or values["size"] is None:
        raise ValueError(f"a file row needs a path and a size: {dict(row)!r}")
    values["package_id"] = package_id
    if values["path_nfc"] is None:
        values["path_nfc"] = unicodedata.normalize("NFC", values["path"])
    if values["role"] is None:
        values["role"] = "payload"
    if values["digests"] is None:
        values["digests"] = {}
    if values["version"] is None:
        values["version"] = 1
    if values["stored_version"] is None:
        values["stored_version"] = values["version"]
    return values


class CopyRepository(_Repository):
    def add(self, copy: Copy | None = None, /, **fields: Any) -> Copy:
        """Add ``copy``, or a copy made from keyword ``fields`` (package_id, location_id ...)."""
        if (copy is None) == (not fields):
            raise TypeError("give either a Copy or its fields as keywords")
        return self._add(copy if copy is not None else Copy(**fields))

    def for_package(self, package_id: str, version: int | None = None) -> Sequence[Copy]:
        """The copies of the package: of every version, or of ``version`` only."""
        stmt = select(Copy).where(Copy.package_id == package_id)
        if version is not None:
            stmt = stmt.where(Copy.version == version)
        return self.session.scalars(stmt.order_by(Copy.version, Copy.id)).all()

    def get(self, package_id: str, location_id: int, version: int | None = None) -> Copy | None:
        """The copy of ``version`` (by default the current one) on the location."""
        if version is None:
            wanted = select(Package.version).where(Package.id == package_id).scalar_subquery()
        return self.session.scalar(
            select(Copy).where(
                Copy.package_id == package_id,
                Copy.location_id == location_id,
                Copy.version == (wanted if version is None else version),
            )
        )

    def get_by_id(self, copy_id: int) -> Copy | None:
        return self.session.get(Copy, copy_id)

    def iter_due_for_fixity(
        self,
        now: datetime,
        interval: timedelta,
        limit: int,
        *,
        statuses: Sequence[str] = ("verified",),
    ) -> Sequence[Copy]:
        """Up to ``limit`` copies whose check is due: never-checked first, then the oldest.

        On PostgreSQL the rows are claimed with ``FOR UPDATE SKIP LOCKED`` until the transaction
        ends, so two schedulers never take the same copy. The package and location come loaded.
        """
        stmt = (
            select(Copy)
            .options(
                joinedload(Copy.package, innerjoin=True), joinedload(Copy.location, innerjoin=True)
            )
            .where(
                Copy.status.in_(statuses),
                (Copy.last_checked_at.is_(None)) | (Copy.last_checked_at <= now - interval),
            )
            .order_by(Copy.last_checked_at.asc().nulls_first(), Copy.created_at, Copy.id)
            .limit(limit)
        )
        if self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=Copy)
        return self.session.scalars(stmt).all()


class AgentRepository(_Repository):
    def get_or_create(self, name: str, version: str, agent_type: str = "software") -> Agent:
        """The agent with this name, version and type, inserted if it is new.

        ``INSERT ... ON CONFLICT DO NOTHING`` makes this safe when two processes race to record the
        same agent (a plain insert would fail one of them on the unique constraint).
        """
        stmt = select(Agent).where(
            Agent.name == name, Agent.version == version, Agent.agent_type == agent_type
        )
        agent = self.session.scalar(stmt)
        if agent is not None:
            return agent
        dialect_insert = (
            postgresql.insert
            if self.session.get_bind().dialect.name == "postgresql"
            else sqlite.insert
        )
        self.session.execute(
            dialect_insert(Agent)
            .values(name=name, version=version, agent_type=agent_type)
            .on_conflict_do_nothing(index_elements=["name", "version", "agent_type"])
        )
        return self.session.scalars(stmt).one()


class EventRepository(_Repository):
    def add(
        self,
        event_type: str,
        outcome: str,
        *,
        agent: Agent,
        package_id: str | None = None,
        copy_id: int | None = None,
        file_id: int | None = None,
        detail: str = "",
        outcome_detail: str = "",
        occurred_at: datetime | None = None,
        event_type_uri: str | None = None,
        event_id: str | None = None,
        version: int | None = None,
        stored_in: str | None = None,
    ) -> Event:
        """Record a PREMIS event (``event_type`` is the Library of Congress label).

        ``event_id`` keeps an identifier already written elsewhere (a bag's premis.xml, named
        by ``stored_in``); a new UUID is made otherwise. ``version``: the package version the
        event concerns.
        """
        if agent.id is None:
            self.session.flush()
        return self._add(
            Event(
                id=event_id or new_uuid(),
                event_type=event_type,
                event_type_uri=event_type_uri,
                outcome=outcome,
                agent_id=agent.id,
                package_id=package_id,
                copy_id=copy_id,
                file_id=file_id,
                detail=detail,
                outcome_detail=outcome_detail,
                occurred_at=occurred_at or utcnow(),
                version=version,
                stored_in=stored_in,
            )
        )

    def for_package(self, package_id: str, limit: int | None = None) -> Sequence[Event]:
        """The package's events, oldest first; with ``limit``, the latest ``limit`` of them
        (still oldest first)."""
        stmt = select(Event).where(Event.package_id == package_id)
        if limit is None:
            return self.session.scalars(stmt.order_by(Event.occurred_at, Event.id)).all()
        latest = self.session.scalars(
            stmt.order_by(Event.occurred_at.desc(), Event.id.desc()).limit(limit)
        ).all()
        return list(reversed(latest))

    def count_for_package(self, package_id: str) -> int:
        return (
            self.session.scalar(
                select(func.count()).select_from(Event).where(Event.package_id == package_id)
            )
            or 0
        )

    def link_agents(self, links: Iterable[tuple[str, Agent, str]]) -> None:
        """Link agents to events besides their executing program: (event id, agent, role)
        triples, inserted in one statement."""
        rows = [{"event_id": e, "agent_id": a.id, "role": r} for e, a, r in links]
        if rows:
            self.session.flush()
            self.session.execute(insert(EventAgent), rows)

    def linked_agents(self, package_id: str) -> dict[str, list[tuple[Agent, str]]]:
        """The agents linked to the package's events, by event id, implementer first."""
        found = self.session.execute(
            select(EventAgent.event_id, Agent, EventAgent.role)
            .join(Agent, Agent.id == EventAgent.agent_id)
            .join(Event, Event.id == EventAgent.event_id)
            .where(Event.package_id == package_id)
            .order_by(EventAgent.event_id, EventAgent.role)
        ).all()
        out: dict[str, list[tuple[Agent, str]]] = {}
        for event_id, agent, role in found:
            out.setdefault(event_id, []).append((agent, role))
        return out


#: ids per statement when a query names many events or packages (SQLite's variable limit)
_ID_BATCH = 500


class JournalRepository(_Repository):
    """The event files written to storage (:mod:`preserve.services.journal`; the flush itself
    reads and writes the catalogue in plain SQL, :mod:`preserve.catalogue.journal`), and what a
    catalogue rebuild needs."""

    def holders(self, package_ids: Sequence[str]) -> list[Any]:
        """(package id, version, key prefix, location) of the copies of the stored versions of
        these packages: the locations that hold a copy of each."""
        rows: list[Any] = []
        for start in range(0, len(package_ids), _ID_BATCH):
            chunk = list(package_ids[start : start + _ID_BATCH])
            rows += self.session.execute(
                select(Copy.package_id, Copy.version, Copy.key_prefix, StorageLocation)
                .join(StorageLocation, StorageLocation.id == Copy.location_id)
                .join(
                    PackageVersion,
                    (PackageVersion.package_id == Copy.package_id)
                    & (PackageVersion.number == Copy.version),
                )
                .where(Copy.package_id.in_(chunk), PackageVersion.status == "stored")
                .order_by(Copy.package_id, Copy.version, StorageLocation.name)
            ).all()
        return rows

    def add_file(self, event_file: EventFile) -> EventFile:
        return self._add(event_file)

    def files_of(self, package_id: str) -> Sequence[EventFile]:
        """The event files written for the package, oldest first."""
        return self.session.scalars(
            select(EventFile)
            .where(EventFile.package_id == package_id)
            .order_by(EventFile.path, EventFile.id)
        ).all()

    def table_counts(self) -> dict[str, int]:
        """How many rows the tables a catalogue rebuild fills hold (all 0: nothing to lose)."""
        counted = {
            "collections": Collection,
            "packages": Package,
            "files": File,
            "copies": Copy,
            "events": Event,
            "event files": EventFile,
        }
        return {
            name: int(self.session.scalar(select(func.count()).select_from(model)) or 0)
            for name, model in counted.items()
        }


class JobRepository(_Repository):
    """The ``jobs`` table. Every change of a job's state is one conditional UPDATE (it takes
    effect only if the job is still in the state the caller saw), so two workers, a duplicate
    message or the reaper racing a slow worker can never both win, on SQLite and PostgreSQL
    alike, without holding row locks across work."""

    def add(self, job: Job) -> Job:
        return self._add(job)

    def get(self, job_id: str) -> Job | None:
        return self.session.get(Job, job_id)

    def by_idempotency_key(self, key: str) -> Job | None:
        return self.session.scalar(select(Job).where(Job.idempotency_key == key))

    def with_id_prefix(self, prefix: str) -> Sequence[Job]:
        return self.session.scalars(
            select(Job).where(Job.id.startswith(prefix, autoescape=True)).limit(10)
        ).all()

    def _change(self, job_id: str, *conditions: Any, **values: Any) -> bool:
        result = self.session.execute(
            update(Job)
            .where(Job.id == job_id, *conditions)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)

    def claim(self, job_id: str, owner: str, now: datetime, lease_until: datetime) -> bool:
        """Take the lease of a job that is queued and due, or running with a lease run out."""
        due = (Job.state == "queued") & (Job.not_before.is_(None) | (Job.not_before <= now))
        expired = (Job.state == "running") & (Job.lease_until < now)
        return self._change(
            job_id,
            due | expired,
            Job.cancel_requested.is_(False),
            state="running",
            lease_owner=owner,
            lease_until=lease_until,
            heartbeat_at=now,
            attempts=Job.attempts + 1,
            started_at=func.coalesce(Job.started_at, now),
        )

    def renew(
        self, job_id: str, owner: str, now: datetime, lease_until: datetime, **progress: Any
    ) -> bool:
        """Extend the lease of a job this owner holds (and record its progress); False when
        it no longer holds it, or a cancellation was asked for."""
        return self._change(
            job_id,
            Job.state == "running",
            Job.lease_owner == owner,
            Job.cancel_requested.is_(False),
            lease_until=lease_until,
            heartbeat_at=now,
            **progress,
        )

    def finish(self, job_id: str, owner: str, now: datetime, state: str, **values: Any) -> bool:
        """End a job this owner holds: succeeded, failed or cancelled."""
        return self._change(
            job_id,
            Job.state == "running",
            Job.lease_owner == owner,
            state=state,
            finished_at=now,
            lease_owner=None,
            lease_until=None,
            **values,
        )

    def requeue(
        self, job_id: str, owner: str | None, not_before: datetime | None, **values: Any
    ) -> bool:
        """Queue a running job again (a failed attempt with attempts left; a lease run out:
        ``owner`` None)."""
        held = Job.lease_owner == owner if owner is not None else Job.lease_owner.is_not(None)
        return self._change(
            job_id,
            Job.state == "running",
            held,
            state="queued",
            not_before=not_before,
            lease_owner=None,
            lease_until=None,
            **values,
        )

    def save_checkpoint(self, job_id: str, owner: str, data: dict[str, Any]) -> bool:
        """Record where the owner's running job has got to."""
        return self._change(
            job_id,
            Job.state == "running",
            Job.lease_owner == owner,
            Job.cancel_requested.is_(False),
            checkpoint=data,
        )

    def waiting(self, now: datetime, since: datetime, limit: int = 500) -> Sequence[str]:
        """Queued jobs due by ``now`` that have waited since before ``since``: since they were
        queued, became due after a back-off, or were last published (``not_before``)."""
        waited_from = func.coalesce(Job.not_before, Job.created_at)
        return self.session.scalars(
            select(Job.id)
            .where(Job.state == "queued", waited_from < since, waited_from <= now)
            .order_by(waited_from)
            .limit(limit)
        ).all()

    def mark_published(self, job_ids: list[str], now: datetime) -> None:
        """Queued jobs just published again: their wait starts over (``not_before`` = now,
        which leaves them due)."""
        self.session.execute(
            update(Job)
            .where(Job.id.in_(job_ids), Job.state == "queued")
            .values(not_before=now)
            .execution_options(synchronize_session=False)
        )

    def expired(self, now: datetime, limit: int = 1000) -> Sequence[Job]:
        """Running jobs whose lease ran out: their worker died or lost its message."""
        return self.session.scalars(
            select(Job)
            .where(Job.state == "running", Job.lease_until < now)
            .order_by(Job.lease_until)
            .limit(limit)
        ).all()

    def list(self, state: str | None = None, limit: int = 100) -> Sequence[Job]:
        stmt = select(Job).order_by(Job.created_at.desc(), Job.id).limit(limit)
        if state is not None:
            stmt = stmt.where(Job.state == state)
        return self.session.scalars(stmt).all()
