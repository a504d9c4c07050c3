"""What writing the events to storage (:mod:`preserve.services.journal`) reads from and writes
to the catalogue, as plain SQL without the ORM.

Every command that records events ends with a flush, ``preserve fixity --package ID`` among
them, which reads and writes the catalogue without the ORM (:mod:`preserve.catalogue.fixity`):
importing the ORM, the models and the repositories would triple the time of such a check. So
the flush goes the same way: the standard library's :mod:`sqlite3` on the embedded SQLite
catalogue, SQLAlchemy Core on any other, with the same statements (``:name`` parameters) and
the connections of :mod:`preserve.catalogue.fixity`. The statements name only columns the
migrations create; the functional tests run them on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from preserve.catalogue.fixity import _EngineConnection, _SqliteConnection, sqlite_path

if TYPE_CHECKING:
    from preserve.bootstrap import Application
    from preserve.catalogue.fixity import _Connection

#: ids per statement (SQLite's limit of variables is far above)
BATCH = 500

# (both: the event concerns no version, or a stored one, not one being made)
_PENDING = """
SELECT e.package_id, MIN(e.occurred_at) AS first_at FROM events e
JOIN packages p ON p.id = e.package_id
WHERE e.stored_in IS NULL AND p.status = 'stored'
AND (e.version IS NULL OR EXISTS (SELECT 1 FROM package_versions v
     WHERE v.package_id = e.package_id AND v.number = e.version AND v.status = 'stored'))
GROUP BY e.package_id ORDER BY first_at, e.package_id
"""
_UNSTORED = """
SELECT e.id, e.package_id, e.event_type, e.occurred_at, e.outcome, e.detail, e.outcome_detail,
       e.version, a.name, a.version, a.agent_type, l.name, c.version, f.version, f.path
FROM events e
JOIN agents a ON a.id = e.agent_id
JOIN packages p ON p.id = e.package_id
LEFT JOIN copies c ON c.id = e.copy_id
LEFT JOIN storage_locations l ON l.id = c.location_id
LEFT JOIN files f ON f.id = e.file_id
WHERE e.package_id IN ({ids}) AND e.stored_in IS NULL AND p.status = 'stored'
AND (e.version IS NULL OR EXISTS (SELECT 1 FROM package_versions v
     WHERE v.package_id = e.package_id AND v.number = e.version AND v.status = 'stored'))
ORDER BY e.package_id, e.occurred_at, e.id
"""
_LINKED = """
SELECT ea.event_id, a.name, a.version, a.agent_type, ea.role
FROM event_agents ea JOIN agents a ON a.id = ea.agent_id
WHERE ea.event_id IN ({ids}) ORDER BY ea.event_id, ea.role, a.id
"""
_PACKAGES = """
SELECT p.id, p.title, co.id, co.slug, co.title, co.description, co.bagit_profile,
       o.slug, o.name, o.address, o.contact_name, o.contact_email
FROM packages p
JOIN collections co ON co.id = p.collection_id
JOIN organisations o ON o.id = co.organisation_id
WHERE p.id IN ({ids})
"""
_HOLDERS = """
SELECT c.package_id, c.version, c.key_prefix, l.id, l.name, l.url
FROM copies c
JOIN storage_locations l ON l.id = c.location_id
JOIN package_versions v ON v.package_id = c.package_id AND v.number = c.version
WHERE c.package_id IN ({ids}) AND v.status = 'stored'
ORDER BY c.package_id, c.version, l.name
"""
_CHOSEN = """
SELECT cl.collection_id, l.name FROM collection_locations cl
JOIN storage_locations l ON l.id = cl.location_id
WHERE cl.collection_id IN ({ids}) ORDER BY l.name
"""
_MARK = "UPDATE events SET stored_in = :path WHERE id = :id AND stored_in IS NULL"
_ADD_FILE = """
INSERT INTO event_files (package_id, path, size, sha512, sha256, event_count, created_at)
VALUES (:package_id, :path, :size, :sha512, :sha256, :event_count, :created_at)
"""


class Clash(Exception):
    """Another process stored some of the events meanwhile: nothing was recorded."""

    def __init__(self, package_ids: Sequence[str]) -> None:
        super().__init__(", ".join(package_ids))
        self.package_ids = tuple(package_ids)


class JournalCatalogue:
    """The events not yet written to storage, what their files need, and their record."""

    def __init__(self, connection: _Connection) -> None:
        self._db = connection

    def __enter__(self) -> JournalCatalogue:
        return self

    def __exit__(self, *exc: object) -> None:
        self._db.close()

    def _in(self, sql: str, ids: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        """The rows of ``sql`` (with ``{ids}`` where the list goes) for ``ids``, in batches."""
        for start in range(0, len(ids), BATCH):
            chunk = list(ids[start : start + BATCH])
            names = {f"i{n}": value for n, value in enumerate(chunk)}
            yield from list(self._db.rows(sql.format(ids=", ".join(f":{k}" for k in names)), names))

    def pending_packages(self, limit: int | None = None) -> list[str]:
        """The stored packages with events storage does not hold yet, the one whose oldest such
        event is oldest first."""
        sql, params = _PENDING, {}
        if limit is not None:
            sql, params = sql + "LIMIT :limit\n", {"limit": limit}
        return [str(row[0]) for row in self._db.rows(sql, params)]

    def unstored(self, package_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Every event of these stored packages that storage does not hold yet, by package and
        time, with its agent, the location and version of its copy and the version and path of
        its file."""
        out = []
        for row in self._in(_UNSTORED, package_ids):
            out.append(
                {
                    "id": row[0],
                    "package_id": row[1],
                    "event_type": row[2],
                    "occurred_at": _utc(row[3]),
                    "outcome": row[4],
                    "detail": row[5] or "",
                    "outcome_detail": row[6] or "",
                    "version": row[7],
                    "agent": (row[8], row[9] or "", row[10]),
                    "location": row[11],
                    "copy_version": row[12],
                    "file_version": row[13],
                    "file_path": row[14],
                }
            )
        return out

    def linked_agents(
        self, event_ids: Sequence[str]
    ) -> dict[str, list[tuple[tuple[str, ...], str]]]:
        """(name, version, type) and role of the agents linked to each event besides its main
        one, implementer first."""
        out: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for event_id, name, version, agent_type, role in self._in(_LINKED, event_ids):
            out.setdefault(event_id, []).append(((name, version or "", agent_type), role))
        return out

    def packages(self, package_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Title, collection and organisation of each package (what the descriptors say)."""
        out = {}
        for row in self._in(_PACKAGES, package_ids):
            out[row[0]] = {
                "title": row[1] or "",
                "collection": {
                    "id": row[2],
                    "slug": row[3],
                    "title": row[4],
                    "description": row[5] or "",
                    "bagit_profile": _json(row[6]),
                    "organisation": row[7],
                },
                "organisation": {
                    "slug": row[7],
                    "name": row[8],
                    "address": row[9] or "",
                    "contact_name": row[10] or "",
                    "contact_email": row[11] or "",
                },
            }
        return out

    def holders(self, package_ids: Sequence[str]) -> list[tuple[str, int, str, int, str, str]]:
        """(package id, version, key prefix, location id, name, URL) of every copy of a
        stored version of these packages."""
        return [
            (row[0], row[1], row[2], row[3], row[4], row[5])
            for row in self._in(_HOLDERS, package_ids)
        ]

    def chosen_locations(self, collection_ids: Sequence[int]) -> dict[int, list[str]]:
        """The locations each collection chose for its packages (none: the default ones)."""
        out: dict[int, list[str]] = {i: [] for i in collection_ids}
        for collection_id, name in self._in(_CHOSEN, collection_ids):
            out.setdefault(collection_id, []).append(name)
        return out

    def record(self, files: Sequence[Mapping[str, Any]], now: datetime) -> None:
        """One transaction: each event file (package_id, path, size, sha512, sha256 and its
        ``events`` ids) recorded, and its events marked as stored in it. :class:`Clash` (and
        nothing recorded) when some of them were stored meanwhile, naming their packages."""
        clash: list[str] = []
        created = self._db.timestamp(now)
        with self._db.transaction() as tx:
            for f in files:
                marked = sum(tx.execute(_MARK, {"path": f["path"], "id": e}) for e in f["events"])
                if marked != len(f["events"]):
                    clash.append(f["package_id"])
            if clash:
                raise Clash(clash)  # rolls the transaction back
            for f in files:
                tx.execute(
                    _ADD_FILE,
                    {
                        "package_id": f["package_id"],
                        "path": f["path"],
                        "size": f["size"],
                        "sha512": f["sha512"],
                        "sha256": f["sha256"],
                        "event_count": len(f["events"]),
                        "created_at": created,
                    },
                )


def open_journal_catalogue(app: Application) -> JournalCatalogue:
    """The catalogue of ``app`` as the journal reads and writes it: a SQLite file through
    :mod:`sqlite3`, anything else through SQLAlchemy Core on the application's engine."""
    path = sqlite_path(app.settings.database_url)
    if path is not None:
        return JournalCatalogue(_SqliteConnection(path))
    return JournalCatalogue(_EngineConnection(app.engine))


def _utc(value: Any) -> datetime:
    """A timestamp as the driver returns it (SQLite: UTC text without an offset) as an aware
    UTC datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json(value: Any) -> Any:
    """A JSON column as the driver returns it (SQLite: text) as Python values."""
    if isinstance(value, str | bytes):
        return json.loads(value)
    return value
