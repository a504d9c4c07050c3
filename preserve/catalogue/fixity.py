"""What a fixity check reads from and writes to the catalogue, as plain SQL without the ORM.

A check of a small package is mostly start-up and one of a large package streams every file
row: neither needs ORM objects. The embedded SQLite catalogue is therefore read and written
through the standard library's :mod:`sqlite3` (SQLAlchemy is not even imported; that alone
takes a quarter of a second), any other database through SQLAlchemy Core with the same
statements (both take ``:name`` parameters). The statements name only columns the migrations
create; the integration tests run them on SQLite and PostgreSQL and read the results back
through the ORM.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from preserve.errors import InvalidInput, NoCatalogue, NotFound

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_S = 30  # as preserve.catalogue.database configures every SQLite connection

#: One catalogue row of a file of a version: path, size, sha512, sha256, the other digests (a
#: JSON object, as text or already decoded, depending on the driver), the version whose folder
#: holds its bytes and its path there when it differs (renamed since; None otherwise).
FileRow = tuple[str, int, "str | None", "str | None", Any, int, "str | None"]
#: A payload file of an earlier version as the catalogue holds it: version, path, size, sha512,
#: sha256, and the version that stores its bytes (its own, for a file it stored itself).
StoredRow = tuple[int, str, int, "str | None", "str | None", int]


@dataclass(frozen=True)
class CopyRow:
    """One stored copy to check: one version of a package on one location."""

    copy_id: int
    package_id: str
    location: str
    url: str
    key_prefix: str
    #: the version the copy holds, and the package's current version
    version: int = 1
    current_version: int = 1
    #: no later stored version of the package has a copy on this location: this copy's check
    #: also checks the package's event files there (``<package>/events/``)
    latest_here: bool = True
    #: the shortest of the collection's, its agreements' and the location's fixity intervals,
    #: in days (None: none sets one, so the PRESERVE_FIXITY_INTERVAL_DAYS setting applies)
    interval_days: int | None = None
    #: the fixity job that holds the copy's claim (None: not claimed)
    claimed_by: str | None = None


#: The states of an agreement in force (``preserve.services.agreements.IN_FORCE``).
AGREEMENT_IN_FORCE = ("active", "under_review", "suspended", "notice_given", "exiting")
#: Per collection, the shortest fixity interval of the agreements in force over it (issue 12:
#: the service level's interval is each copy's interval too), joined as ``ag``.
AGREEMENT_INTERVALS = f"""(SELECT s.collection_id AS collection_id,
        MIN(sl.fixity_interval_days) AS days
 FROM agreement_scopes s
 JOIN agreements a ON a.id = s.agreement_id
 JOIN agreement_service_levels sl ON sl.agreement_id = a.id
 WHERE s.selector = 'collection' AND a.component = 'main'
 AND a.state IN ({", ".join(f"'{state}'" for state in AGREEMENT_IN_FORCE)})
 GROUP BY s.collection_id)"""  # noqa: S608 (constants only)
#: Per package, the shortest fixity interval of the agreement in force it is linked to
#: (``package_retention``: the version it was ingested under, or the version of the same
#: reference in force now) when that agreement selects packages by a metadata rule (issue 12:
#: collection scopes are in :data:`AGREEMENT_INTERVALS`), joined as ``pag``.
PACKAGE_AGREEMENT_INTERVALS = f"""(SELECT pr.package_id AS package_id,
        MIN(sl.fixity_interval_days) AS days
 FROM package_retention pr
 JOIN agreements a ON a.reference = pr.reference
 JOIN agreement_service_levels sl ON sl.agreement_id = a.id
 WHERE a.component = 'main'
 AND a.state IN ({", ".join(f"'{state}'" for state in AGREEMENT_IN_FORCE)})
 AND EXISTS (SELECT 1 FROM agreement_scopes ms WHERE ms.agreement_id = a.id
             AND ms.selector = 'metadata')
 GROUP BY pr.package_id)"""  # noqa: S608 (constants only)


def shorter_sql(a: str, b: str) -> str:
    """SQL for the shorter of two intervals in days, either of which may be NULL."""
    return (
        f"CASE WHEN ({b}) IS NULL THEN ({a}) "
        f"WHEN ({a}) IS NULL OR ({b}) < ({a}) THEN ({b}) ELSE ({a}) END"
    )


#: A package's interval from its collection and agreements: the shortest of the collection's
#: own, its collection's agreements' (``ag``) and its own metadata-rule agreement's (``pag``;
#: None: none of them), for queries that join ``co``, ``ag`` and ``pag``.
COLLECTION_DAYS = shorter_sql(shorter_sql("co.fixity_interval_days", "ag.days"), "pag.days")
#: The joins :data:`COLLECTION_DAYS` needs, after ``packages p`` and ``collections co``.
AGREEMENT_JOINS = f"""LEFT JOIN {AGREEMENT_INTERVALS} ag ON ag.collection_id = co.id
LEFT JOIN {PACKAGE_AGREEMENT_INTERVALS} pag ON pag.package_id = p.id"""

_COPIES = f"""
SELECT c.id, c.package_id, l.name, l.url, c.key_prefix, c.version, p.version,
       NOT EXISTS (SELECT 1 FROM copies n WHERE n.package_id = c.package_id
                   AND n.location_id = c.location_id AND n.version > c.version
                   AND NOT EXISTS (SELECT 1 FROM package_versions w
                                   WHERE w.package_id = n.package_id AND w.number = n.version
                                   AND w.status <> 'stored')),
       {COLLECTION_DAYS}, l.fixity_interval_days, c.fixity_job_id
FROM copies c
JOIN packages p ON p.id = c.package_id
JOIN storage_locations l ON l.id = c.location_id
JOIN collections co ON co.id = p.collection_id
JOIN organisations o ON o.id = co.organisation_id
{AGREEMENT_JOINS}
WHERE {{where}}
AND NOT EXISTS (SELECT 1 FROM package_versions v WHERE v.package_id = c.package_id
                AND v.number = c.version AND v.status <> 'stored')
ORDER BY {{order}}
"""  # noqa: S608 (constants only)
#: a run's usual order: package by package, as they were ingested, each version in turn
_BY_PACKAGE = "p.created_at, p.id, c.version, c.id"
#: when copies are chosen by age: never checked first, then the least recently checked
_BY_LAST_CHECK = (
    "c.last_checked_at IS NOT NULL, c.last_checked_at, p.created_at, p.id, c.version, c.id"
)
_FILES = """
SELECT path, size, sha512, sha256, digests, stored_version, stored_path FROM files
WHERE package_id = :package_id AND version = :version ORDER BY id
"""
# the payload files of earlier versions that a version's fetch.txt may name
_STORED = """
SELECT version, path, size, sha512, sha256, stored_version FROM files
WHERE package_id = :package_id AND version < :version AND role = 'payload'
AND stored_version = version
"""
# the package's event files, and whether each is expected on the copy's location: written
# since the package's first copy there (see preserve.services.journal.check_event_files)
_EVENT_FILES = """
SELECT e.path, e.size, e.sha256, e.sha512, e.created_at,
       e.created_at >= (SELECT MIN(f.created_at) FROM copies f WHERE f.package_id = c.package_id
                        AND f.location_id = c.location_id)
FROM event_files e JOIN copies c ON c.package_id = e.package_id
WHERE c.id = :copy_id
ORDER BY e.path
"""
# the later versions that hold a file stored by :version (at its path there, or renamed)
_HOLDERS = """
SELECT version, path, stored_path FROM files
WHERE package_id = :package_id AND stored_version = :version AND version > :version
ORDER BY version, id
"""
# the check's outcome, when the copy is next due, and its claim released (a claim by a fixity
# job: only while that job still holds it, so a job run again never records a copy twice)
_UPDATE_COPY = """
UPDATE copies SET last_checked_at = :now, last_outcome = :outcome, next_check_at = :next_check,
       fixity_job_id = NULL, claimed_until = NULL{status}
WHERE id = :copy_id{claim}
"""
_ADD_AGENT = """
INSERT INTO agents (name, version, agent_type) VALUES (:name, :version, :agent_type)
ON CONFLICT (name, version, agent_type) DO NOTHING
"""
_AGENT_ID = """
SELECT id FROM agents WHERE name = :name AND version = :version AND agent_type = :agent_type
"""
_ADD_EVENT = """
INSERT INTO events (id, event_type, event_type_uri, occurred_at, outcome, detail, outcome_detail,
                    agent_id, package_id, copy_id, file_id, version)
VALUES (:id, :event_type, NULL, :occurred_at, :outcome, :detail, :outcome_detail,
        :agent_id, :package_id, :copy_id, NULL, :version)
"""
# the organisations as PREMIS agents (by full name), so each event can link its owner
_ADD_ORGANISATION_AGENTS = """
INSERT INTO agents (name, version, agent_type)
SELECT name, '', 'organization' FROM organisations WHERE true
ON CONFLICT (name, version, agent_type) DO NOTHING
"""
# who ran the check (implementer) and the organisation owning the package (owner), one statement
_LINK_AGENTS = """
INSERT INTO event_agents (event_id, agent_id, role)
SELECT :event_id, :person_id, 'implementer'
UNION ALL
SELECT :event_id, a.id, 'owner'
FROM packages p
JOIN collections co ON co.id = p.collection_id
JOIN organisations o ON o.id = co.organisation_id
JOIN agents a ON a.name = o.name AND a.version = '' AND a.agent_type = 'organization'
WHERE p.id = :package_id
"""
# what a check outcome makes of the copy's status (an error leaves it as it was)
_COPY_STATUS = {"ok": "verified", "mismatch": "failed", "missing": "missing"}


class _Connection(Protocol):
    def rows(self, sql: str, params: Mapping[str, Any]) -> Iterator[tuple[Any, ...]]: ...
    def transaction(self) -> AbstractContextManager[_Writer]: ...
    def timestamp(self, value: datetime) -> Any: ...
    def close(self) -> None: ...


class _Writer(Protocol):
    #: what locks the rows a SELECT reads until the transaction ends ("" on SQLite, whose
    #: writer holds the whole database)
    lock_rows: str

    def execute(self, sql: str, params: Mapping[str, Any]) -> int: ...
    def executemany(self, sql: str, params: Sequence[Mapping[str, Any]]) -> None: ...
    def scalar(self, sql: str, params: Mapping[str, Any]) -> Any: ...
    def rows(self, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]: ...


class FixityCatalogue:
    """The copies to check, the expected files of a package, and the record of each check."""

    def __init__(self, connection: _Connection) -> None:
        self._db = connection
        self._actor: str | None = None
        self._person_id: int | None = None
        self._batch: _Writer | None = None
        self._agents: dict[tuple[str, str, str], Any] = {}
        #: the fixity interval of a copy whose collection and location set none (the
        #: PRESERVE_FIXITY_INTERVAL_DAYS setting; :func:`preserve.services.fixity.open_catalogue`)
        self.default_interval_days = 90

    def interval(self, copy: CopyRow) -> timedelta:
        """How long after a check the copy is due again."""
        return timedelta(days=copy.interval_days or self.default_interval_days)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Record every check made inside in one transaction (a simulation of many checks)."""
        if self._batch is not None:
            yield
            return
        with self._db.transaction() as tx:
            self._batch = tx
            try:
                yield
            finally:
                self._batch = None

    @contextmanager
    def _transaction(self) -> Iterator[_Writer]:
        if self._batch is not None:
            yield self._batch
            return
        with self._db.transaction() as tx:
            yield tx

    def act_as(self, actor: str) -> None:
        """Link ``actor`` (a person, as implementer) and the owning organisation (as owner) to
        every event recorded from now on. Their agent rows are made once, at the first event."""
        self._actor = actor
        self._person_id = None

    def __enter__(self) -> FixityCatalogue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    def copies(
        self,
        *,
        package_id: str | None = None,
        collection: tuple[str, str] | None = None,
        organisation: str | None = None,
        location: str | None = None,
        checked_before: datetime | None = None,
        limit: int | None = None,
        copy_ids: Sequence[int] | None = None,
    ) -> list[CopyRow]:
        """The copies of one package (whatever its status, unless it is still being ingested or
        its ingest failed: :class:`InvalidInput`), of the stored packages of ``collection``
        (organisation slug, collection slug), of ``organisation``, or of every stored package;
        :class:`NotFound` when the package, collection, organisation or location does not
        exist (unknown names get a "did you mean").

        Of those, only the copies on ``location`` (else only those on locations not retired),
        only those never checked or last checked
        before ``checked_before``, and at most ``limit`` of them; when chosen by age or
        limited, the never-checked and least recently checked copies come first.

        ``copy_ids`` (the copies a fixity job claimed) chooses those copies, whatever their
        package's status, the ones still there."""
        conditions: list[str] = []
        params: dict[str, Any] = {}
        if copy_ids is not None:
            ids = sorted({int(i) for i in copy_ids})
            if not ids:
                return []
            names = ", ".join(f":copy{n}" for n in range(len(ids)))
            conditions.append(f"c.id IN ({names})")
            params.update({f"copy{n}": i for n, i in enumerate(ids)})
        elif package_id is not None:
            found = list(
                self._db.rows("SELECT status FROM packages WHERE id = :id", {"id": package_id})
            )
            if not found:
                raise NotFound(f"package {package_id} does not exist")
            if found[0][0] == "ingesting":
                raise InvalidInput(
                    f"package {package_id} is not stored yet (status ingesting): its ingest is "
                    "running, or was interrupted; re-run that ingest to complete it or clean it up"
                )
            if found[0][0] == "failed":
                raise InvalidInput(
                    f"package {package_id} was never stored (status failed): its ingest failed "
                    "and what it wrote on a location that did not answer is removed by the next "
                    "ingest once the location answers again"
                )
            conditions.append("p.id = :package_id")
            params["package_id"] = package_id
        else:
            conditions.append("p.status = :status")
            params["status"] = "stored"
            if collection is not None:
                org_slug, slug = collection
                self._known_collection(org_slug, slug)
                conditions.append("o.slug = :organisation AND co.slug = :slug")
                params.update(organisation=org_slug, slug=slug)
            elif organisation is not None:
                self._known("organisation", organisation, "SELECT slug FROM organisations")
                conditions.append("o.slug = :organisation")
                params["organisation"] = organisation
        if location is not None:
            self._known("location", location, "SELECT name FROM storage_locations")
            conditions.append("l.name = :location")
            params["location"] = location
        elif copy_ids is None:
            # a retired location's copies are no longer checked unless it is named
            conditions.append("l.retired_at IS NULL")
        if checked_before is not None:
            conditions.append("(c.last_checked_at IS NULL OR c.last_checked_at < :checked_before)")
            params["checked_before"] = self._db.timestamp(checked_before)
        by_age = checked_before is not None or limit is not None
        sql = _COPIES.format(
            where=" AND ".join(conditions), order=_BY_LAST_CHECK if by_age else _BY_PACKAGE
        )
        if limit is not None:
            sql += "LIMIT :limit\n"
            params["limit"] = limit
        return [
            CopyRow(
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                row[5],
                row[6],
                bool(row[7]),
                shortest_interval(row[8], row[9]),
                row[10],
            )
            for row in self._db.rows(sql, params)
        ]

    def _known(self, kind: str, name: str, names_sql: str) -> None:
        """:class:`NotFound` with the closest names unless ``names_sql`` lists ``name``."""
        names = [row[0] for row in self._db.rows(names_sql, {})]
        if name not in names:
            from preserve.names import unknown

            raise unknown(kind, name, names)

    def _known_collection(self, organisation: str, slug: str) -> None:
        """:class:`NotFound` unless the organisation exists and holds the collection."""
        self._known("organisation", organisation, "SELECT slug FROM organisations")
        names = [
            row[0]
            for row in self._db.rows(
                "SELECT co.slug FROM collections co JOIN organisations o "
                "ON o.id = co.organisation_id WHERE o.slug = :organisation",
                {"organisation": organisation},
            )
        ]
        if slug not in names:
            # The same message as every other command: where else a collection of that name is.
            from preserve.names import collection_not_found

            elsewhere = [
                row[0]
                for row in self._db.rows(
                    "SELECT o.slug FROM collections co JOIN organisations o "
                    "ON o.id = co.organisation_id WHERE co.slug = :slug",
                    {"slug": slug},
                )
            ]
            raise collection_not_found(slug, organisation, names, elsewhere)

    def files(self, package_id: str, version: int = 1) -> Iterator[FileRow]:
        """The files (payload and tag files) of ``version`` of the package as catalogued,
        streamed in ingest order: those it stores and those its fetch.txt names."""
        for row in self._db.rows(_FILES, {"package_id": package_id, "version": version}):
            yield row[0], row[1], row[2], row[3], row[4], row[5], row[6]

    def stored_before(self, package_id: str, version: int) -> Iterator[StoredRow]:
        """The payload files the versions before ``version`` stored themselves: what its
        fetch.txt may name."""
        for row in self._db.rows(_STORED, {"package_id": package_id, "version": version}):
            yield row[0], row[1], row[2], row[3], row[4], row[5]

    def event_files(self, copy_id: int) -> list[tuple[str, int, str, str, Any, bool]]:
        """The event files of the copy's package: path (relative to the package's folder),
        size, sha256, sha512, created_at, and whether the copy's location should hold it."""
        return [
            (row[0], row[1], row[2], row[3], row[4], bool(row[5]))
            for row in self._db.rows(_EVENT_FILES, {"copy_id": copy_id})
        ]

    def holders(self, package_id: str, version: int) -> Iterator[tuple[int, str, str]]:
        """(later version, its path, the path stored in ``version``) of each file of a later
        version whose bytes ``version`` stores: the versions a damaged file also harms."""
        for row in self._db.rows(_HOLDERS, {"package_id": package_id, "version": version}):
            yield row[0], row[1], row[2] or row[1]

    def record_check(
        self,
        copy: CopyRow,
        *,
        outcome: str,
        occurred_at: datetime,
        event_type: str,
        event_outcome: str,
        detail: str,
        outcome_detail: str,
        agent: tuple[str, str, str],
        claimed_by: str | None = None,
    ) -> bool:
        """Store the outcome on the copy (and when it is next due: the check's time plus its
        interval; its claim released) and add the PREMIS event (agent: name, version, type), in
        one transaction. False when the copy no longer exists, or when ``claimed_by`` (a fixity
        job) no longer holds its claim (recorded already, or claimed again by another job):
        nothing is recorded."""
        check = CheckEvent(copy, outcome, occurred_at, event_outcome, detail, outcome_detail)
        return self.record_checks(
            [check], event_type=event_type, agent=agent, claimed_by=claimed_by
        )[0]

    def record_checks(
        self,
        checks: Sequence[CheckEvent],
        *,
        event_type: str,
        agent: tuple[str, str, str],
        claimed_by: str | None = None,
    ) -> list[bool]:
        """:meth:`record_check` for many checks in one transaction (statements run once for
        them all); whether each was recorded."""
        with self._transaction() as tx:
            ids = [c.copy.copy_id for c in checks]
            held: set[int] = set()
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                params: dict[str, Any] = {f"c{n}": i for n, i in enumerate(chunk)}
                names = ", ".join(":" + k for k in params)  # placeholders, never values
                sql = f"SELECT id FROM copies WHERE id IN ({names})"  # noqa: S608
                if claimed_by is not None:
                    sql += " AND fixity_job_id = :claimed_by"
                    params["claimed_by"] = claimed_by
                held.update(row[0] for row in tx.rows(sql + tx.lock_rows, params))
            recorded = [c.copy.copy_id in held for c in checks]
            updates: dict[str, list[dict[str, Any]]] = {}
            events: list[dict[str, Any]] = []
            links: list[dict[str, Any]] = []
            agent_id = self._agent_id(tx, agent) if any(recorded) else None
            person_id = self._person(tx) if any(recorded) else None
            for c, done in zip(checks, recorded, strict=True):
                copy = c.copy
                if not done:
                    (log.warning if claimed_by is None else log.info)(
                        "fixity: copy %s of package %s %s; not recorded",
                        copy.copy_id,
                        copy.package_id,
                        "disappeared during the check"
                        if claimed_by is None
                        else f"is no longer claimed by fixity job {claimed_by}",
                    )
                    continue
                now = self._db.timestamp(c.occurred_at)
                status = _COPY_STATUS.get(c.outcome)
                update = _UPDATE_COPY.format(
                    status=", status = :status"
                    + (", verified_at = :now" if c.outcome == "ok" else "")
                    if status
                    else "",
                    claim="",
                )
                row = {
                    "now": now,
                    "outcome": c.outcome,
                    "copy_id": copy.copy_id,
                    "next_check": self._db.timestamp(c.occurred_at + self.interval(copy)),
                }
                if status:
                    row["status"] = status
                updates.setdefault(update, []).append(row)
                event_id = str(uuid.uuid4())
                events.append(
                    {
                        "id": event_id,
                        "event_type": event_type,
                        "occurred_at": now,
                        "outcome": c.event_outcome,
                        "detail": c.detail,
                        "outcome_detail": c.outcome_detail,
                        "agent_id": agent_id,
                        "package_id": copy.package_id,
                        "copy_id": copy.copy_id,
                        "version": copy.version,
                    }
                )
                if person_id is not None:
                    links.append(
                        {
                            "event_id": event_id,
                            "person_id": person_id,
                            "package_id": copy.package_id,
                        }
                    )
            for sql, rows in updates.items():
                tx.executemany(sql, rows)
            if events:
                tx.executemany(_ADD_EVENT, events)
            if links:
                tx.executemany(_LINK_AGENTS, links)
        return recorded

    def _agent_id(self, tx: _Writer, agent: tuple[str, str, str]) -> Any:
        if agent not in self._agents:
            name, version, agent_type = agent
            params = {"name": name, "version": version, "agent_type": agent_type}
            tx.execute(_ADD_AGENT, params)
            self._agents[agent] = tx.scalar(_AGENT_ID, params)
        return self._agents[agent]

    def _person(self, tx: _Writer) -> int | None:
        """The agent of the person acting (made once, with the organisations' agents)."""
        if self._actor is None:
            return None
        if self._person_id is None:
            person = {"name": self._actor, "version": "", "agent_type": "person"}
            tx.execute(_ADD_AGENT, person)
            tx.execute(_ADD_ORGANISATION_AGENTS, {})
            self._person_id = tx.scalar(_AGENT_ID, person)
        return self._person_id


@dataclass(frozen=True)
class CheckEvent:
    """One check to record: the copy, its outcome and its PREMIS event's text."""

    copy: CopyRow
    outcome: str
    occurred_at: datetime
    event_outcome: str
    detail: str
    outcome_detail: str


def shortest_interval(*days: int | None) -> int | None:
    """The shortest of the fixity intervals given (a collection's, a location's), in days;
    None when none is set."""
    given = [d for d in days if d is not None]
    return min(given) if given else None


def other_digests(value: Any) -> dict[str, str]:
    """The ``digests`` column of a :data:`FileRow` as a dict (drivers return text or a dict)."""
    if not value:
        return {}
    if isinstance(value, str | bytes):
        value = json.loads(value)
    return dict(value) if isinstance(value, Mapping) else {}


def open_fixity_catalogue(database_url: str, engine: Callable[[], Engine]) -> FixityCatalogue:
    """The catalogue at ``database_url``: a SQLite file directly through :mod:`sqlite3`,
    anything else through the SQLAlchemy engine ``engine()`` returns."""
    path = sqlite_path(database_url)
    if path is not None:
        return FixityCatalogue(_SqliteConnection(path))
    return FixityCatalogue(_EngineConnection(engine()))


def sqlite_path(database_url: str) -> str | None:
    """The file of a plain ``sqlite:///path`` URL; None for any other URL (other databases,
    in-memory databases, URLs with options or escapes), which SQLAlchemy then handles."""
    for scheme in ("sqlite:///", "sqlite+pysqlite:///"):
        if database_url.startswith(scheme):
            path = database_url[len(scheme) :]
            if path and path != ":memory:" and not any(c in path for c in "?#%"):
                return path
    return None


# ----------------------------------------------------------------------------- SQLite


class _SqliteConnection:
    def __init__(self, path: str) -> None:
        if not os.path.isfile(path):
            raise NoCatalogue.at(os.path.abspath(path))
        # mode=rw: never create an empty catalogue where the real one was expected
        uri = f"file:{quote(os.path.abspath(path))}?mode=rw"
        self._conn = sqlite3.connect(
            uri, uri=True, timeout=SQLITE_BUSY_TIMEOUT_S, isolation_level=None
        )
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute("PRAGMA journal_mode=WAL")

    def rows(self, sql: str, params: Mapping[str, Any]) -> Iterator[tuple[Any, ...]]:
        return iter(self._conn.execute(sql, params))

    @contextmanager
    def transaction(self) -> Iterator[_SqliteWriter]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield _SqliteWriter(self._conn)
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def timestamp(self, value: datetime) -> str:
        # SQLAlchemy's SQLite DATETIME text, in UTC without an offset (see models.UTCDateTime)
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    def close(self) -> None:
        self._conn.close()


class _SqliteWriter:
    lock_rows = ""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def executemany(self, sql: str, params: Sequence[Mapping[str, Any]]) -> None:
        self._conn.executemany(sql, params)

    def rows(self, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        return list(self._conn.execute(sql, params))

    def execute(self, sql: str, params: Mapping[str, Any]) -> int:
        return self._conn.execute(sql, params).rowcount

    def scalar(self, sql: str, params: Mapping[str, Any]) -> Any:
        row = self._conn.execute(sql, params).fetchone()
        return row[0] if row else None


# ----------------------------------------------------------------------------- SQLAlchemy Core


class _EngineConnection:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def rows(self, sql: str, params: Mapping[str, Any]) -> Iterator[tuple[Any, ...]]:
        from sqlalchemy import text

        with self._engine.connect() as conn:
            result = conn.execution_options(yield_per=1000).execute(text(sql), dict(params))
            for row in result:
                yield tuple(row)

    @contextmanager
    def transaction(self) -> Iterator[_EngineWriter]:
        with self._engine.begin() as conn:
            yield _EngineWriter(conn)

    def timestamp(self, value: datetime) -> Any:
        value = value.astimezone(UTC)
        if self._engine.dialect.name == "sqlite":
            return value.strftime("%Y-%m-%d %H:%M:%S.%f")
        return value

    def close(self) -> None:
        pass  # the engine belongs to the application


class _EngineWriter:
    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.lock_rows = "" if conn.dialect.name == "sqlite" else " FOR UPDATE"

    def executemany(self, sql: str, params: Sequence[Mapping[str, Any]]) -> None:
        from sqlalchemy import text

        self._conn.execute(text(sql), [dict(p) for p in params])

    def rows(self, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        from sqlalchemy import text

        return [tuple(r) for r in self._conn.execute(text(sql), dict(params))]

    def execute(self, sql: str, params: Mapping[str, Any]) -> int:
        from sqlalchemy import text

        return int(self._conn.execute(text(sql), dict(params)).rowcount)

    def scalar(self, sql: str, params: Mapping[str, Any]) -> Any:
        from sqlalchemy import text

        return self._conn.execute(text(sql), dict(params)).scalar()
