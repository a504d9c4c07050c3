"""Storage that tells its own story: the events recorded after a version's bag was written,
written to storage as dated, immutable PREMIS 3 event files beside the package's versions.

A version's bag holds the events of its making in ``v<N>/metadata/premis.xml``. Whatever
happens to the package afterwards (the replication and ingestion-end events at the end of
every ingest, fixity checks, exports, repairs, metadata corrections: every event whose
``stored_in`` is NULL) is written by :func:`flush_events` as a new object

    ``<org>/<collection>/<package>/events/<YYYY>/<MM>/<YYYYMMDDTHHMMSSZ>-<uuid>.xml``

on every location that holds a copy of the package: one file per package per flush, never
rewritten (S3 has no append), each verified like every other object (the location hashes what
it stored). Only once the file is verified on every location are the file recorded in
``event_files`` (size, SHA-512, SHA-256, number of events) and its events marked
``stored_in = <its path>``, in one transaction. A location that does not answer leaves the
events unstored, with a warning, for the next flush: nothing of the command fails.

An event file is a PREMIS 3 document (:mod:`preserve.premis`): the package as an
intellectual entity, the events with their agents, and as linked objects besides the package's
UUID ``v<N>/`` (a version), ``<location>:v<N>/`` (the copy of a version on a storage location)
and ``v<N>/data/...`` (a file of a version); a comment in the file says so. Beside the packages,
``<org>/_organisation.json`` and ``<org>/<collection>/_collection.json`` say what the
organisation and the collection are (names, address, title, BagIt profile): written when
missing or out of date by every flush, so that storage alone says what it holds
(:mod:`preserve.services.rebuild` reads all of it back).

Fixity covers the event files: :func:`check_event_files` re-reads a location's event files of
a package and compares their sizes and SHA-256 with the catalogue.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from preserve import premis
from preserve.errors import (
    InvalidInput,
    NotFound,
    PreserveError,
    StorageError,
    StorageUnavailable,
)
from preserve.text import plural

if TYPE_CHECKING:
    from preserve.bootstrap import Application
    from preserve.catalogue.journal import JournalCatalogue
    from preserve.services.fixity import FileProblem
    from preserve.storage import Storage

log = logging.getLogger(__name__)

#: The folder of a package's event files, relative to the package's folder.
EVENTS_FOLDER = "events/"
#: Beside the packages: what the organisation (``<org>/``) and the collection
#: (``<org>/<coll>/``) are. A slug starts with a letter or digit, so these names are never one.
ORGANISATION_FILE = "_organisation.json"
COLLECTION_FILE = "_collection.json"
ORGANISATION_FIELDS = ("slug", "name", "address", "contact_name", "contact_email")
#: Packages whose event files are written before one transaction records them.
CHUNK = 100
#: Other packages with events left unwritten (a location that did not answer) that a command
#: writes besides its own.
CATCH_UP = 10

OBJECTS_NOTE = (
    " Objects the events concern besides the package (its UUID): a version's bag as 'v<N>/',"
    " the copy of a version on a storage location as '<location>:v<N>/', a file of a version"
    " as 'v<N>/<path in its bag>'. Written by preserve after the bags of the versions; the"
    " events of a version's making are in its bag, v<N>/metadata/premis.xml. "
)

_VERSION = re.compile(r"v([1-9][0-9]*)/")
_COPY = re.compile(r"([a-z0-9][a-z0-9._-]*):v([1-9][0-9]*)/")
_FILE = re.compile(r"v([1-9][0-9]*)/(.+)", re.DOTALL)  # a name may hold a line break
_EVENT_FILE = re.compile(r"events/[0-9]{4}/[0-9]{2}/[0-9]{8}T[0-9]{6}Z-[0-9a-f-]{36}\.xml")
_VERSION_FOLDER = re.compile(r"v[1-9][0-9]*/$")


# --------------------------------------------------------------------------- names and objects


def event_file_path(when: datetime, token: str | None = None) -> str:
    """Where an event file written at ``when`` goes, relative to the package's folder:
    ``events/2026/11/20261129T091500Z-<uuid>.xml``."""
    when = when.astimezone(UTC)
    return f"{EVENTS_FOLDER}{when:%Y}/{when:%m}/{when:%Y%m%dT%H%M%SZ}-{token or uuid.uuid4()}.xml"


def is_event_file(path: str) -> bool:
    """Whether ``path`` (relative to a package's folder) is named as an event file."""
    return _EVENT_FILE.fullmatch(path) is not None


def package_folder(key_prefix: str) -> str:
    """``<org>/<coll>/<package>/`` of a copy's key prefix ``<org>/<coll>/<package>/v<N>/``."""
    if not _VERSION_FOLDER.search(key_prefix):
        raise ValueError(f"{key_prefix!r} is not the key prefix of a package version")
    return key_prefix[: _VERSION_FOLDER.search(key_prefix).start()]  # type: ignore[union-attr]


def version_object(number: int) -> str:
    return f"v{number}/"


def copy_object(location: str, number: int) -> str:
    return f"{location}:v{number}/"


def file_object(number: int, path: str) -> str:
    return f"v{number}/{path}"


@dataclass(frozen=True)
class Links:
    """What an event of an event file concerns, read back from its linked objects."""

    version: int | None = None
    #: (location name, version) of the copies it concerns
    copies: tuple[tuple[str, int], ...] = ()
    #: (version, path in that version's bag) of the files it concerns
    files: tuple[tuple[int, str], ...] = ()
    #: identifiers in none of these forms (kept, not understood)
    others: tuple[str, ...] = ()


def links_of(objects: Iterable[str], package_id: str) -> Links:
    """The version, copies and files an event's linked objects name (see :data:`OBJECTS_NOTE`);
    the package's own UUID is left out."""
    version: int | None = None
    copies: list[tuple[str, int]] = []
    files: list[tuple[int, str]] = []
    others: list[str] = []
    for value in objects:
        if value == package_id:
            continue
        if m := _VERSION.fullmatch(value):
            version = int(m.group(1))
        elif m := _COPY.fullmatch(value):
            copies.append((m.group(1), int(m.group(2))))
        elif m := _FILE.fullmatch(value):
            files.append((int(m.group(1)), m.group(2)))
        else:
            others.append(value)
    return Links(version, tuple(copies), tuple(files), tuple(others))


def event_file_document(package_id: str, title: str, events: Sequence[premis.EventRecord]) -> bytes:
    """The PREMIS 3 document of an event file: the package, the events and their agents, and
    a comment saying how the objects are named. The same bytes for the same input."""
    data = premis.premis_document(package_id, (), events, (), package_title=title)
    end = data.index(b"-->") + len(b"-->")  # after the path-encoding note
    note = f"\n  <!--{OBJECTS_NOTE}-->".encode()
    return data[:end] + note + data[end:]


# --------------------------------------------------------------------------- flushing


@dataclass(frozen=True)
class WrittenFile:
    """An event file written, verified on every location of the package, and recorded."""

    package_id: str
    path: str
    events: int
    size: int
    locations: tuple[str, ...]


@dataclass(frozen=True)
class Postponed:
    """Events of a package left unwritten, for the next flush, and why."""

    package_id: str
    events: int
    reason: str


@dataclass(frozen=True)
class FlushReport:
    written: tuple[WrittenFile, ...] = ()
    postponed: tuple[Postponed, ...] = ()

    @property
    def events(self) -> int:
        """The events written to storage."""
        return sum(w.events for w in self.written)


@dataclass(frozen=True)
class _Location:
    id: int
    name: str
    url: str


@dataclass
class _Pending:
    """One package's unwritten events, ready to be written."""

    package_id: str
    folder: str
    title: str
    locations: list[_Location]
    events: list[premis.EventRecord]
    #: the descriptors (organisation, collection) to keep up to date beside it
    descriptors: dict[str, bytes] = field(default_factory=dict)
    path: str = ""
    size: int = 0
    sha512: str = ""
    sha256: str = ""


def flush_events(
    app: Application,
    package_ids: Iterable[str] | None = None,
    *,
    catch_up: int = CATCH_UP,
    now: datetime | None = None,
) -> FlushReport:
    """Write the events of ``package_ids`` (None: of every package) that storage does not hold
    yet as one event file per package on every location holding a copy of it, and record them.
    With ``package_ids``, up to ``catch_up`` other packages whose events an earlier flush left
    (a location did not answer, the command was interrupted) are written too.

    Never raises for storage trouble: what could not be written stays in the catalogue, is
    listed in ``postponed`` and said in a warning, and the next flush writes it. The catalogue
    is read and written without the ORM (:mod:`preserve.catalogue.journal`)."""
    from preserve.catalogue.journal import open_journal_catalogue

    when = now or datetime.now(UTC)
    written: list[WrittenFile] = []
    postponed: list[Postponed] = []
    again: list[str] = []
    described: dict[tuple[str, str], bool] = {}  # (location url, descriptor key) -> done
    with open_journal_catalogue(app) as catalogue:
        if package_ids is None:
            chosen = catalogue.pending_packages()
        else:
            chosen = list(dict.fromkeys(package_ids))
            if catch_up > 0:
                seen = set(chosen)
                others = catalogue.pending_packages(limit=catch_up + len(seen))
                chosen += [p for p in others if p not in seen][:catch_up]
        for start in range(0, len(chosen), CHUNK):
            pending, unfit = _load(catalogue, chosen[start : start + CHUNK])
            postponed += unfit
            _describe(app, pending, described)
            ready, failed = _write(app, pending, when)
            postponed += failed
            done, conflicts = _record(app, catalogue, ready)
            written += done
            again += [p.package_id for p in conflicts]
    if again:  # another process wrote some of their events meanwhile: what is left, once more
        retried = flush_events(app, again, catch_up=0, now=now)
        written += retried.written
        postponed += retried.postponed
    _warn(postponed)
    if written:
        log.info(
            "%s written to storage in %s",
            plural(sum(w.events for w in written), "event"),
            plural(len(written), "event file"),
        )
    return FlushReport(tuple(written), tuple(postponed))


def _load(
    catalogue: JournalCatalogue, package_ids: Sequence[str]
) -> tuple[list[_Pending], list[Postponed]]:
    """The unwritten events of these packages as PREMIS records, with where to write them;
    apart, the packages whose copies name no package folder (a damaged catalogue)."""
    rows = catalogue.unstored(package_ids)
    if not rows:
        return [], []
    ids = list(dict.fromkeys(row["package_id"] for row in rows))
    packages = catalogue.packages(ids)
    holders: dict[str, list[tuple[str, _Location]]] = {}
    for package_id, _version, key_prefix, loc_id, name, url in catalogue.holders(ids):
        holders.setdefault(package_id, []).append((key_prefix, _Location(loc_id, name, url)))
    linked = catalogue.linked_agents([row["id"] for row in rows])
    chosen = catalogue.chosen_locations(sorted({p["collection"]["id"] for p in packages.values()}))
    by_package: dict[str, list[premis.EventRecord]] = {}
    for row in rows:
        objects = [row["package_id"]]
        if row["version"] is not None:
            objects.append(version_object(row["version"]))
        if row["location"] is not None:
            objects.append(copy_object(row["location"], row["copy_version"]))
        if row["file_path"] is not None:
            objects.append(file_object(row["file_version"], row["file_path"]))
        by_package.setdefault(row["package_id"], []).append(
            premis.EventRecord(
                identifier=row["id"],
                event_type=row["event_type"],
                occurred_at=row["occurred_at"],
                outcome=row["outcome"],
                detail=row["detail"],
                outcome_detail=row["outcome_detail"],
                agent=premis.AgentRecord(*row["agent"]),
                objects=tuple(objects),
                linked_agents=tuple(
                    (premis.AgentRecord(*agent), role) for agent, role in linked.get(row["id"], ())
                ),
            )
        )
    out: list[_Pending] = []
    unfit: list[Postponed] = []
    for package_id, events in by_package.items():
        package = packages[package_id]
        held = holders.get(package_id, [])
        if not held:
            log.debug("package %s has no stored copy: its events wait", package_id)
            continue
        try:
            folder = package_folder(held[0][0])
        except ValueError as exc:
            unfit.append(Postponed(package_id, len(events), f"its copies' key prefix: {exc}"))
            continue
        collection, org = package["collection"], package["organisation"]
        out.append(
            _Pending(
                package_id,
                folder,
                package["title"],
                list({loc.id: loc for _prefix, loc in held}.values()),
                events,
                {
                    f"{org['slug']}/{ORGANISATION_FILE}": organisation_descriptor(org),
                    f"{org['slug']}/{collection['slug']}/{COLLECTION_FILE}": collection_descriptor(
                        collection, chosen.get(collection["id"], [])
                    ),
                },
            )
        )
    return out, unfit


def _write(
    app: Application, pending: list[_Pending], when: datetime
) -> tuple[list[_Pending], list[Postponed]]:
    """Write each package's event file on every location of its copies and verify it there,
    a batch per location (one filesystem sync for all on a local location, parallel uploads on
    S3); a package whose file could not be written everywhere has it removed where it was."""
    from preserve.storage import PutItem

    failed: list[Postponed] = []
    documents: dict[str, bytes] = {}
    for p in pending:
        try:
            data = event_file_document(p.package_id, p.title, p.events)
        except ValueError as exc:  # an event the PREMIS vocabulary cannot carry
            failed.append(
                Postponed(p.package_id, len(p.events), f"cannot be written as PREMIS: {exc}")
            )
            continue
        p.path = event_file_path(when)
        p.size = len(data)
        p.sha512 = hashlib.sha512(data).hexdigest()
        p.sha256 = hashlib.sha256(data).hexdigest()
        documents[p.package_id] = data
    candidates = [p for p in pending if p.package_id in documents]
    by_location: dict[str, tuple[_Location, list[_Pending]]] = {}
    for p in candidates:
        for loc in p.locations:
            by_location.setdefault(loc.url, (loc, []))[1].append(p)
    broken: dict[str, str] = {}  # package id -> why
    written: dict[str, list[_Location]] = {}  # package id -> where its file is
    with tempfile.TemporaryDirectory(prefix="preserve-events-") as tmp:
        for p in candidates:
            (Path(tmp) / f"{p.package_id}.xml").write_bytes(documents[p.package_id])
        for loc, packages in sorted(by_location.values(), key=lambda item: item[0].name):
            batch = [p for p in packages if p.package_id not in broken]
            if not batch:
                continue
            items = [
                PutItem(p.folder + p.path, Path(tmp) / f"{p.package_id}.xml", {"sha256": p.sha256})
                for p in batch
            ]
            try:  # verified against the SHA-256 given: VerificationFailed otherwise
                app.storage(loc.url).put_many(items)
            except (StorageError, InvalidInput) as exc:
                # a location that does not answer is said in few words: the command that
                # needed it reports why (fixity of its copies, say)
                log.debug("event files not written on %s: %s", loc.name, exc)
                why = (
                    f"location {loc.name} does not answer"
                    if isinstance(exc, StorageUnavailable)
                    else f"location {loc.name}: {exc}"
                )
                for p in batch:
                    broken[p.package_id] = why
                continue
            for p in batch:
                written.setdefault(p.package_id, []).append(loc)
    ready: list[_Pending] = []
    undo: dict[str, tuple[_Location, list[str]]] = {}
    for p in candidates:
        if p.package_id not in broken:
            ready.append(p)
            continue
        failed.append(Postponed(p.package_id, len(p.events), broken[p.package_id]))
        for loc in written.get(p.package_id, []):
            undo.setdefault(loc.url, (loc, []))[1].append(p.folder + p.path)
    for loc, keys in undo.values():
        _remove(app, [loc], keys)
    return ready, failed


def _remove(app: Application, locations: Iterable[_Location], keys: Sequence[str]) -> None:
    """Remove event files that will not be recorded (best effort: a leftover is reported by
    :func:`check_event_files` and its events are written again in another file)."""
    for loc in locations:
        storage = app.storage(loc.url)
        for key in keys:
            try:
                storage.delete(key)
            except (StorageError, InvalidInput) as exc:
                log.warning("%s: %s could not be removed: %s", loc.name, key, exc)
                break  # the location fails: the others stay as leftovers too


def _record(
    app: Application, catalogue: JournalCatalogue, ready: list[_Pending]
) -> tuple[list[WrittenFile], list[_Pending]]:
    """One transaction: the event files of ``ready`` and their events marked as stored in them.
    Packages some of whose events another process stored meanwhile are left out (their files
    removed) and returned apart, to be written again. Should the catalogue fail, the files are
    removed and the error raised."""
    from preserve.catalogue.journal import Clash

    remaining = list(ready)
    conflicts: list[_Pending] = []
    while remaining:
        try:
            catalogue.record(
                [
                    {
                        "package_id": p.package_id,
                        "path": p.path,
                        "size": p.size,
                        "sha512": p.sha512,
                        "sha256": p.sha256,
                        "events": [e.identifier for e in p.events],
                    }
                    for p in remaining
                ],
                datetime.now(UTC),
            )
        except Clash as clash:
            lost = [p for p in remaining if p.package_id in clash.package_ids]
            for p in lost:
                _remove(app, p.locations, [p.folder + p.path])
            conflicts += lost
            remaining = [p for p in remaining if p not in lost]
            continue
        except BaseException:
            for p in remaining:
                _remove(app, p.locations, [p.folder + p.path])
            raise
        break
    written = [
        WrittenFile(
            p.package_id, p.path, len(p.events), p.size, tuple(loc.name for loc in p.locations)
        )
        for p in remaining
    ]
    return written, conflicts


def _warn(postponed: Sequence[Postponed]) -> None:
    """One warning per reason: what was left for later and why."""
    by_reason: dict[str, list[Postponed]] = {}
    for p in postponed:
        by_reason.setdefault(p.reason, []).append(p)
    for reason, items in by_reason.items():
        events = sum(p.events for p in items)
        what = (
            f"package {items[0].package_id}" if len(items) == 1 else plural(len(items), "package")
        )
        log.warning(
            "%s of %s not written to storage yet (%s); they stay in the catalogue and the next "
            "command that records events writes them (at the latest the next fixity check)",
            plural(events, "event"),
            what,
            reason,
        )


# --------------------------------------------------------------------------- descriptors


def organisation_descriptor(organisation: Mapping[str, Any]) -> bytes:
    """``<org>/_organisation.json``: the organisation's slug, full name, address and contact."""
    return _json(
        {
            "about": "a preserve organisation: the owner of the collections in this folder",
            **{k: organisation[k] or "" for k in ORGANISATION_FIELDS},
            "written_by": "preserve",
        }
    )


def collection_descriptor(collection: Mapping[str, Any], locations: Sequence[str]) -> bytes:
    """``<org>/<coll>/_collection.json``: the collection's slug, title, description, the BagIt
    profile its deliveries must conform to (``organisation`` is its organisation's slug), and
    the locations chosen for its packages (none: the default locations)."""
    return _json(
        {
            "about": "a preserve collection: one folder per package, one bag per version",
            "organisation": collection["organisation"],
            "slug": collection["slug"],
            "title": collection["title"],
            "description": collection["description"] or "",
            "bagit_profile": collection["bagit_profile"],
            "locations": list(locations),
            "written_by": "preserve",
        }
    )


def _organisation_fields(org: Any) -> dict[str, Any]:
    return {k: getattr(org, k) for k in ORGANISATION_FIELDS}


def _collection_fields(collection: Any) -> dict[str, Any]:
    return {
        "organisation": collection.organisation.slug,
        "slug": collection.slug,
        "title": collection.title,
        "description": collection.description,
        "bagit_profile": collection.bagit_profile,
    }


def _json(document: Mapping[str, Any]) -> bytes:
    return (json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


def _describe(
    app: Application, pending: Sequence[_Pending], described: dict[tuple[str, str], bool]
) -> None:
    """Write each descriptor the packages of ``pending`` name on their locations where it is
    missing or differs (once per flush; a location that fails is left to the next one)."""
    wanted: dict[tuple[str, str], bytes] = {}
    for p in pending:
        for key, data in p.descriptors.items():
            for loc in p.locations:
                wanted.setdefault((loc.url, key), data)
    for (url, key), data in wanted.items():
        if (url, key) in described:
            continue
        described[(url, key)] = True
        storage = app.storage(url)
        try:
            try:
                with storage.open(key) as stream:
                    if stream.read() == data:
                        continue
            except StorageError as exc:
                if exc.code != "object-not-found":
                    raise
            storage.put_bytes(key, data)
            log.info("%s written on %s", key, url)
        except (StorageError, InvalidInput) as exc:
            log.debug("%s not written on %s: %s", key, url, exc)


def describe_collection(app: Application, organisation: str, collection: str) -> None:
    """Write the descriptors of a collection (and of its organisation) on every location that
    holds a copy of one of its packages, after an edit (best effort: a location that fails gets
    it at the next flush of one of its packages)."""
    try:
        with app.uow() as uow:
            found = uow.collections.get(organisation, collection)
            if found is None:
                return
            ids = [p.id for p in uow.packages.list(collection_id=found.id, status="stored")]
            holders = uow.journal.holders(ids) if ids else []
            locations = {
                row[3].id: _Location(row[3].id, row[3].name, row[3].url) for row in holders
            }
            names = [c.name for c in uow.collections.locations(found)]
            descriptors = {
                f"{organisation}/{ORGANISATION_FILE}": organisation_descriptor(
                    _organisation_fields(found.organisation)
                ),
                f"{organisation}/{collection}/{COLLECTION_FILE}": collection_descriptor(
                    _collection_fields(found), names
                ),
            }
    except PreserveError as exc:
        log.debug("descriptors of %s/%s not written: %s", organisation, collection, exc)
        return
    if locations:
        probe = _Pending("", "", "", list(locations.values()), [], descriptors)
        _describe(app, [probe], {})


def describe_organisation(app: Application, organisation: str) -> None:
    """Write the descriptors of every collection of ``organisation`` (see
    :func:`describe_collection`), after its name, address or contact changed."""
    try:
        with app.uow() as uow:
            slugs = [c.slug for c in uow.collections.list(organisation)]
    except PreserveError as exc:
        log.debug("descriptors of %s not written: %s", organisation, exc)
        return
    for slug in slugs:
        describe_collection(app, organisation, slug)


# --------------------------------------------------------------------------- fixity


@dataclass(frozen=True)
class EventFileRow:
    """An event file as the catalogue holds it."""

    path: str
    size: int
    sha256: str
    sha512: str
    created_at: datetime


def check_event_files(app: Application, package_id: str, location: str) -> list[FileProblem]:
    """Re-read the package's event files on ``location`` and compare their sizes and SHA-256
    with the catalogue: the problems found (missing, mismatch, unexpected, error), their paths
    relative to the package's folder. The event files written since the package's first copy
    on that location are expected there."""
    with app.uow() as uow:
        loc = uow.locations.get_by_name(location)
        if loc is None:
            raise NotFound(f"storage location {location!r} does not exist")
        copies = [c for c in uow.copies.for_package(package_id) if c.location_id == loc.id]
        if not copies:
            return []
        since = min(c.created_at for c in copies)
        folder = package_folder(copies[0].key_prefix)
        expected = [
            EventFileRow(f.path, f.size, f.sha256, f.sha512, f.created_at)
            for f in uow.journal.files_of(package_id)
        ]
        url = loc.url
    return compare_event_files(
        app.storage(url), folder, [f for f in expected if f.created_at >= since], expected
    )


def compare_event_files(
    storage: Storage,
    folder: str,
    expected: Sequence[EventFileRow],
    known: Sequence[EventFileRow] = (),
) -> list[FileProblem]:
    """The problems of the event files under ``folder`` (``<org>/<coll>/<package>/``) on
    ``storage``: each of ``expected`` must be there with its size and SHA-256; an object under
    ``events/`` that is neither expected nor ``known`` (another location's) is unexpected."""
    from preserve.services.fixity import FileProblem

    try:
        present = set(storage.iter_keys(folder + EVENTS_FOLDER))
    except (StorageError, InvalidInput) as exc:
        return [FileProblem(EVENTS_FOLDER, "error", f"event files could not be listed: {exc}")]
    problems: list[FileProblem] = []
    requests: list[tuple[str, int, tuple[str, ...]]] = []
    wanted: dict[str, EventFileRow] = {}
    for row in expected:
        key = folder + row.path
        if key not in present:
            problems.append(FileProblem(row.path, "missing", "event file is missing"))
            continue
        wanted[key] = row
        requests.append((key, row.size, ("sha256",)))
    for key, size, digests, error in _hash(storage, requests):
        row = wanted[key]
        if error is not None:
            outcome = "missing" if error.code == "object-not-found" else "error"
            problems.append(
                FileProblem(row.path, outcome, f"event file could not be read: {error}")
            )
        elif size != row.size:
            problems.append(
                FileProblem(row.path, "mismatch", f"size is {size} bytes, expected {row.size}")
            )
        elif (digests or {}).get("sha256") != row.sha256:
            got = (digests or {}).get("sha256")
            problems.append(
                FileProblem(row.path, "mismatch", f"sha256 is {got}, expected {row.sha256}")
            )
    listed = {folder + row.path for row in (*expected, *known)}
    strangers = sorted(present - listed)
    recorded: set[str] | None = None  # the events of the recorded files, read when needed
    for key in strangers:
        message = "object among the event files that the catalogue does not know"
        if is_event_file(key[len(folder) :]):
            if recorded is None:
                recorded = _event_ids(storage, sorted(present & listed)) or set()
            message += _whose(storage, key, recorded)
        problems.append(FileProblem(key[len(folder) :], "unexpected", message))
    return sorted(problems, key=lambda p: p.path)


#: Said of an event file with events this catalogue never recorded.
OTHER_CATALOGUE = (
    "another catalogue using this location may have written it (a catalogue rebuilt from it "
    "for a drill, say: rebuild into a catalogue pointed at a copy of the storage instead)"
)


def _whose(storage: Storage, key: str, recorded: set[str]) -> str:
    """Why an event file the catalogue does not know is there: an interrupted flush leaves
    one whose events were written again in a recorded file; events found in no recorded file
    came from elsewhere."""
    found = _event_ids(storage, [key], strict=True)
    if found is None:
        return f": it cannot be read as PREMIS events; {OTHER_CATALOGUE}"
    if found <= recorded:
        return (
            " (an interrupted flush leaves one: its events were written again in a recorded "
            "event file)"
        )
    return (
        f": it holds {plural(len(found - recorded), 'event')} that no event file of this "
        f"catalogue holds; {OTHER_CATALOGUE}"
    )


def _event_ids(storage: Storage, keys: Sequence[str], strict: bool = False) -> set[str] | None:
    """The identifiers of the events in the event files ``keys``; None with ``strict`` when
    one cannot be read (otherwise it is skipped: its damage is reported apart). A file of
    unknown origin is parsed without entities or a DTD first."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    ids: set[str] = set()
    for key in keys:
        try:
            with storage.open(key) as stream:
                data = stream.read()
            if strict:
                fromstring(data, forbid_dtd=True)
            ids.update(e.identifier for e in premis.parse_events(data))
        except (StorageError, InvalidInput, ValueError, SyntaxError, DefusedXmlException):
            if strict:
                return None
    return ids


def _hash(
    storage: Storage, requests: Sequence[tuple[str, int, tuple[str, ...]]]
) -> Iterator[tuple[str, int, dict[str, str] | None, PreserveError | None]]:
    """Read and hash each object: from the device on a local location (as fixity reads)."""
    hash_objects = getattr(storage, "hash_objects", None)
    if hash_objects is not None:
        yield from hash_objects(requests, threads=2)
        return
    from preserve.checksums import hash_stream

    for key, _size, algorithms in requests:
        try:
            with storage.open(key) as stream:
                size, digests = hash_stream(stream, algorithms)
        except StorageError as exc:
            yield key, 0, None, exc
            continue
        yield key, size, digests, None
