"""Packages: find, list, search and show what is kept (exporting one is
:mod:`preserve.services.export`).

A person names a package by its UUID, a unique prefix of it, its ``urn:uuid:`` form or the
producer's identifier (External-Identifier, ``dc:identifier``): :func:`resolve_package` is the one
place that turns such a name into a package id, for show, export and fixity alike.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from preserve.errors import InvalidInput, NotFound
from preserve.formats.checks import recorded_problems
from preserve.names import collection_not_found, unknown

if TYPE_CHECKING:
    from preserve.bootstrap import Application
    from preserve.uow import UnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackageSummary:
    id: str
    organisation: str
    collection: str
    title: str
    status: str
    version: int
    files: int
    bytes: int
    copies: int
    verified_copies: int
    #: when its ingest began (the ingest date listings show) and when it was stored
    created_at: datetime
    stored_at: datetime | None
    #: the producer's identifier (bag-info.txt External-Identifier), if any
    external_identifier: str | None = None
    #: when a repair found a file with no good copy anywhere, and those files
    #: ({"version", "path", "reason"} each); None and () while the package is whole
    damaged_at: datetime | None = None
    damage: tuple[dict[str, Any], ...] = ()
    #: copies of the version shown that fixity found damaged (failed or quarantined)
    damaged_copies: int = 0

    @property
    def is_damaged(self) -> bool:
        """Marked damaged (a file has no good copy anywhere), or every copy of the version
        shown found damaged and not repaired yet."""
        return self.damaged_at is not None or (
            self.copies > 0 and self.damaged_copies == self.copies
        )


@dataclass(frozen=True)
class FileDetail:
    path: str
    role: str
    size: int
    sha512: str | None
    sha256: str | None
    puid: str | None
    mime: str | None
    format_name: str | None
    format_version: str | None
    image: dict[str, Any] | None
    #: what is wrong with it, one reason each (see :func:`file_problems`); empty when all is well
    problems: tuple[str, ...] = ()
    #: the producer's item-level Dublin Core (a --metadata CSV row for this file), or None
    description: dict[str, list[str]] | None = None


@dataclass(frozen=True)
class FormatCount:
    """How many payload files of a package have one format."""

    puid: str
    format_name: str
    files: int


@dataclass(frozen=True)
class CopyDetail:
    location: str
    url: str
    key_prefix: str
    status: str
    verified_by: str | None
    verified_at: datetime | None
    last_checked_at: datetime | None
    last_outcome: str | None
    #: the package version the copy holds (its folder ``v<N>/``)
    version: int = 1


@dataclass(frozen=True)
class VersionDetail:
    """One version of a package: what it holds, what it stored itself, what changed."""

    number: int
    #: "content" (from a delivery) or "metadata" (the description corrected only)
    kind: str
    status: str
    created_at: datetime
    stored_at: datetime | None
    title: str
    #: its whole payload ...
    files: int
    bytes: int
    #: ... and what it stored itself (the rest is held by earlier versions: its fetch.txt)
    stored_files: int
    stored_bytes: int
    #: {"added": [path], "modified": [path], "removed": [path], "renamed": [[old, new]],
    #: "unchanged": count}; {} for the first version
    changes: dict[str, Any]
    #: the changes in a few words: "1 added, 1 modified, 2 unchanged" ("" for the first version)
    changes_summary: str
    source: str
    delivery_kind: str
    delivery_profile: str
    #: who made it (the person or system account)
    actor: str


@dataclass(frozen=True)
class EventDetail:
    id: str
    event_type: str
    occurred_at: datetime
    outcome: str
    detail: str
    outcome_detail: str
    agent: str
    #: the person who ran the command (implementer) and the owning organisation (owner)
    agents: tuple[EventAgentDetail, ...] = ()
    #: the package version the event concerns, where it concerns one
    version: int | None = None

    @property
    def by(self) -> str:
        """ "by jan (person); owner: meemoo, Vlaams Instituut voor het Archief" ("" when no
        agent is linked): "; " between agents, as a full name may hold commas."""
        parts = []
        for a in self.agents:
            if a.role == "implementer":
                parts.append(f"by {a.name} ({a.agent_type})")
            else:
                parts.append(f"{a.role}: {a.name}")
        return "; ".join(parts)


@dataclass(frozen=True)
class EventAgentDetail:
    name: str
    agent_type: str
    role: str


@dataclass(frozen=True)
class PackageDetail:
    summary: PackageSummary
    external_identifier: str | None
    source: str | None
    description: dict[str, list[str]]
    bag_info: tuple[tuple[str, str], ...]
    #: every file, payload and tag files; empty when asked for a summary only
    files: tuple[FileDetail, ...]
    copies: tuple[CopyDetail, ...]
    events: tuple[EventDetail, ...]
    #: the payload files by format, the most frequent first
    formats: tuple[FormatCount, ...] = ()
    #: how many payload files have problems (:attr:`FileDetail.problems`)
    files_with_problems: int = 0
    #: every version, the first first; ``summary`` (title, files, size), the description,
    #: bag-info and the files are those of the version shown (``summary.version``)
    versions: tuple[VersionDetail, ...] = ()
    #: the package's current version
    current_version: int = 1
    #: the agreement it was ingested under and its retention
    #: (:class:`preserve.services.retention.RetentionStatus`); None: under no agreement
    retention: Any = None


def _summary(uow: Any, p: Any, shown: Any = None) -> PackageSummary:
    """The package as listings show it; with ``shown`` (a version row), that version's title,
    files and size, and its copies."""
    number = p.version if shown is None else shown.number
    copies = uow.copies.for_package(p.id, number)
    coll = p.collection
    return PackageSummary(
        id=p.id,
        organisation=coll.organisation.slug,
        collection=coll.slug,
        title=p.title if shown is None else shown.title,
        status=p.status,
        version=number,
        files=p.file_count if shown is None else shown.file_count,
        bytes=p.size if shown is None else shown.size,
        # a copy on a retired location is kept, no longer one of the package's copies
        copies=sum(c.location.retired_at is None for c in copies),
        verified_copies=sum(
            c.status == "verified" and c.location.retired_at is None for c in copies
        ),
        created_at=p.created_at,
        stored_at=p.stored_at,
        external_identifier=p.external_identifier,
        damaged_at=p.damaged_at,
        damage=_damage(p.damage),
        damaged_copies=sum(c.status in DAMAGED_COPY for c in copies),
    )


#: copy statuses of a copy fixity found damaged and no repair has restored yet
DAMAGED_COPY = ("failed", "quarantined")


def _damage(value: Any) -> tuple[dict[str, Any], ...]:
    """``packages.damage`` as a tuple of {"version", "path", "reason"} (() when None)."""
    return tuple(dict(d) for d in value or () if isinstance(d, dict))


def changes_summary(changes: Any) -> str:
    """What a version changed, in a few words: ``1 added, 1 modified, 1 removed, 1 renamed,
    3 unchanged`` (kinds with none left out; "" for a first version, which changes nothing)."""
    if not isinstance(changes, dict) or not changes:
        return ""
    parts = [
        f"{len(changes.get(kind) or ())} {kind}"
        for kind in ("added", "modified", "removed", "renamed")
        if changes.get(kind)
    ]
    unchanged = changes.get("unchanged")
    if unchanged:
        parts.append(f"{unchanged} unchanged")
    return ", ".join(parts) or "no payload change"


def choose_version(uow: Any, package_id: str, current: int, version: int | None) -> int:
    """``version`` of the package, or its current one when None; :class:`NotFound` naming the
    versions there are when it has no such version, :class:`InvalidInput` when that version
    is not stored (being made, or failed)."""
    if version is None:
        return current
    records = uow.versions.for_package(package_id)
    stored = [v.number for v in records if v.status == "stored"] or [current]
    if version in stored:
        return version
    listed = ", ".join(map(str, stored))
    other = next((v for v in records if v.number == version), None)
    if other is not None:
        raise InvalidInput(
            f"version {version} of package {package_id} is not stored (status {other.status}); "
            f"its stored versions: {listed}"
        )
    raise NotFound(f"package {package_id} has no version {version}; its versions: {listed}")


#: The statuses a package can have, for listing filters.
STATUSES = ("stored", "ingesting", "failed")
#: The fewest hex digits of a UUID accepted as a prefix.
MIN_PREFIX = 4
#: Candidates named when a name fits several packages.
_CANDIDATES_SHOWN = 10
#: The characters of a package id a listing shows, unless two packages share them.
SHORT_ID = 8

_URN = re.compile(r"urn:uuid:", re.IGNORECASE)
_HEX_ID = re.compile(r"[0-9a-fA-F-]+")
_IDENTIFIER_ELEMENTS = ("identifier", "dc:identifier", "dcterms:identifier")


def resolve_package(uow: UnitOfWork, text: str) -> str:
    """The id of the one package ``text`` names: its UUID (any case, with or without hyphens,
    or as ``urn:uuid:...``), a prefix of at least :data:`MIN_PREFIX` hex digits, or the producer's
    identifier (External-Identifier or a ``dc:identifier`` value, case-insensitive).

    :class:`InvalidInput` when it fits several packages (the candidates are named),
    :class:`NotFound` when it fits none (the message says what was tried)."""
    given = text.strip()
    digits = hex_digits(given)
    if digits is not None and len(digits) == 32:
        package = uow.packages.get(hyphenated(digits))
        if package is not None:
            return package.id
    found: dict[str, Any] = {}
    prefix_too_short = False
    if digits is not None:
        if len(digits) >= MIN_PREFIX:
            for p in uow.packages.with_id_prefix(hyphenated(digits)):
                found[p.id] = p
        else:
            prefix_too_short = True
    # the producer's identifiers: the text as given, not stripped of urn:uuid:
    folded = given.casefold()
    for p in uow.packages.with_identifier(given):
        if (p.external_identifier or "").casefold() == folded or folded in _identifiers(p):
            found.setdefault(p.id, p)
    if not found:  # then the identifiers of single files (item-level description)
        for p, description in uow.packages.with_file_identifier(given):
            if folded in _identifier_values(description):
                found.setdefault(p.id, p)
    if len(found) == 1:
        return next(iter(found))
    if not found:
        raise NotFound(_nothing_found(given, digits, prefix_too_short))
    raise InvalidInput(_ambiguous(given, list(found.values())))


def uuid_of(text: str) -> str | None:
    """``text`` as a package id is stored, when it is a whole UUID (any case, with or without
    hyphens, or ``urn:uuid:...``); None otherwise."""
    digits = hex_digits(text.strip())
    return hyphenated(digits) if digits is not None and len(digits) == 32 else None


def hex_digits(text: str) -> str | None:
    """The lowercase hex digits of ``text`` read as a UUID or a prefix of one (``urn:uuid:``
    and hyphens dropped), or None when it cannot be one."""
    bare = _URN.sub("", text, count=1) if _URN.match(text) else text
    if not _HEX_ID.fullmatch(bare):
        return None
    digits = bare.replace("-", "").lower()
    return digits if 0 < len(digits) <= 32 else None


def hyphenated(digits: str) -> str:
    """Hex digits (a whole UUID or a prefix) spelled as package ids are stored: 8-4-4-4-12."""
    parts = []
    for start, end in ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32)):
        if len(digits) > start:
            parts.append(digits[start:end])
    return "-".join(parts)


def _identifiers(package: Any) -> set[str]:
    """The package's dc:identifier values, casefolded."""
    return _identifier_values(package.description)


def _identifier_values(description: Any) -> set[str]:
    """The dc:identifier values of a description, casefolded."""
    if not isinstance(description, dict):
        return set()
    values: set[str] = set()
    for element in _IDENTIFIER_ELEMENTS:
        raw = description.get(element) or []
        for value in [raw] if isinstance(raw, str) else raw:
            values.add(str(value).strip().casefold())
    return values


def _nothing_found(given: str, hex_digits: str | None, prefix_too_short: bool) -> str:
    if hex_digits is not None and len(hex_digits) == 32:
        tried = "as a package id, an External-Identifier and a dc:identifier"
    elif hex_digits is not None and not prefix_too_short:
        tried = "as the start of a package id, an External-Identifier and a dc:identifier"
    else:
        tried = "as an External-Identifier and a dc:identifier"
    tried += " (of a package or of one of its files)"
    message = f"no package {given!r} (looked it up {tried})"
    if prefix_too_short:
        message += f"; a prefix of a package id needs at least {MIN_PREFIX} hex digits"
    return message + "; `preserve packages search TEXT` finds packages by title and contents"


def _ambiguous(given: str, packages: Sequence[Any]) -> str:
    shown = [
        f"{p.id} ({p.collection.organisation.slug}/{p.collection.slug}, {p.status}, "
        f"ingested {p.created_at.date().isoformat()}, {p.title!r})"
        for p in packages[:_CANDIDATES_SHOWN]
    ]
    more = len(packages) - _CANDIDATES_SHOWN
    listed = "; ".join(shown) + (f"; and {more} more" if more > 0 else "")
    return f"{given!r} names more than one package: {listed}; give more of the id, or the whole id"


def package_id(app: Application, text: str) -> str:
    """The id of the package ``text`` names (see :func:`resolve_package`)."""
    with app.uow() as uow:
        return resolve_package(uow, text)


# ----------------------------------------------------------------------------- listing


@dataclass(frozen=True)
class PackageListing:
    """Packages for a listing, and how many characters of their ids tell each from every other
    package in the catalogue (:data:`SHORT_ID`, or more when two packages share those)."""

    packages: tuple[PackageSummary, ...]
    id_length: int


def parse_date(text: str, option: str) -> datetime | date:
    """An ISO 8601 date (``2024-03-31``) or date and time (``2024-03-31T14:00``, UTC unless it
    says otherwise) given to ``option``; :class:`InvalidInput` otherwise."""
    value = text.strip()
    try:
        return date.fromisoformat(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{option} {text!r} is not a date: give an ISO date such as 2024-03-31 "
            "(or a date and time such as 2024-03-31T14:00)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _bounds(
    since: datetime | date | None, until: datetime | date | None
) -> tuple[datetime | None, datetime | None]:
    """``since`` and ``until`` (both included; a date means that whole day, UTC) as the first
    instant included and the first excluded."""
    start = end = None
    if since is not None:
        start = since if isinstance(since, datetime) else datetime.combine(since, time(), UTC)
    if until is not None:
        if isinstance(until, datetime):
            end = until + timedelta(microseconds=1)
        else:
            end = datetime.combine(until + timedelta(days=1), time(), UTC)
    if since is not None and until is not None and start and end and start >= end:
        raise InvalidInput(
            f"--since {since.isoformat()} is after --until {until.isoformat()}: "
            "no package can match"
        )
    return start, end


#: What a delivery can have been (``package_versions.delivery_kind``)
DELIVERY_KINDS = ("folder", "file", "bag", "meemoo-sip", "eark-sip")


def _filters(
    app: Application,
    uow: UnitOfWork,
    organisation: str | None,
    collection: str | None,
    status: str | None,
    delivered_as: str | None = None,
) -> dict[str, Any]:
    """The repository's filters for the names given; unknown names are refused."""
    filters: dict[str, Any] = {"status": status, "delivery_kind": delivered_as}
    if delivered_as is not None and delivered_as not in DELIVERY_KINDS:
        raise InvalidInput(
            f"no delivery kind {delivered_as!r}: give one of {', '.join(DELIVERY_KINDS)}"
        )
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"no status {status!r}: give one of {', '.join(STATUSES)}")
    if organisation is not None:
        org = uow.organisations.get_by_slug(organisation)
        if org is None:
            raise unknown("organisation", organisation, (o.slug for o in uow.organisations.list()))
        filters["organisation_id"] = org.id
    if collection is not None:
        org_slug = organisation or app.settings.organisation
        coll = uow.collections.get(org_slug, collection)
        if coll is None:
            raise collection_not_found(
                collection,
                org_slug,
                [c.slug for c in uow.collections.list(org_slug)],
                [c.organisation.slug for c in uow.collections.list() if c.slug == collection],
            )
        filters["collection_id"] = coll.id
    return filters


def list_packages(
    app: Application,
    collection: str | None = None,
    organisation: str | None = None,
    *,
    status: str | None = None,
    since: datetime | date | None = None,
    until: datetime | date | None = None,
    delivered_as: str | None = None,
) -> PackageListing:
    """The packages that pass every filter given, oldest first, in one query: of an
    organisation, of a collection (of ``organisation``, else of the default organisation), with a
    status, ingested from ``since`` to ``until`` (both included), whose current version was
    delivered as ``delivered_as`` (folder, file, bag, meemoo-sip, eark-sip)."""
    start, end = _bounds(since, until)
    with app.uow() as uow:
        filters = _filters(app, uow, organisation, collection, status, delivered_as)
        rows = uow.packages.summaries(**filters, since=start, before=end)
        summaries = tuple(_row_summary(r) for r in rows)
        return PackageListing(summaries, _id_length(uow, summaries))


def search_packages(
    app: Application,
    text: str,
    collection: str | None = None,
    organisation: str | None = None,
    *,
    status: str | None = None,
    since: datetime | date | None = None,
    until: datetime | date | None = None,
    delivered_as: str | None = None,
) -> PackageListing:
    """The packages whose title, description values, External-Identifier, payload file paths,
    format names or PUIDs contain ``text`` (case-insensitive; a whole PUID matches only itself),
    with the filters of :func:`list_packages`."""
    wanted = unicodedata.normalize("NFC", text.strip())
    if not wanted:
        raise InvalidInput("give the text to search for")
    start, end = _bounds(since, until)
    from preserve.catalogue.folding import fold

    folded = fold(wanted)
    with app.uow() as uow:
        filters = _filters(app, uow, organisation, collection, status, delivered_as)
        rows: Sequence[Any] = uow.packages.summaries(
            **filters, since=start, before=end, text=wanted
        )
        summaries = tuple(_row_summary(r) for r in rows if r[16] or _describes(r[17], folded))
        return PackageListing(summaries, _id_length(uow, summaries))


def _describes(description: Any, folded: str) -> bool:
    """Whether a value of the description contains ``folded`` (see
    :func:`preserve.catalogue.folding.fold`)."""
    from preserve.catalogue.folding import fold, values_of

    return any(folded in fold(value) for value in values_of(description))


def _row_summary(r: Any) -> PackageSummary:
    return PackageSummary(
        id=r[0],
        organisation=r[1],
        collection=r[2],
        title=r[3],
        status=r[4],
        version=r[5],
        files=r[6],
        bytes=r[7],
        copies=int(r[8]),
        verified_copies=int(r[9]),
        created_at=r[10],
        stored_at=r[11],
        external_identifier=r[12],
        damaged_at=r[13],
        damage=_damage(r[14]),
        damaged_copies=int(r[15]),
    )


def _id_length(uow: UnitOfWork, packages: Iterable[PackageSummary]) -> int:
    """How many characters of the ids tell each listed package from every other one: 8, or
    13 (``xxxxxxxx-xxxx``), or the whole id, whichever is the shortest that is unique."""
    ids = [p.id for p in packages]
    for length in (SHORT_ID, 13):
        shared = uow.packages.shared_id_prefixes(length) if ids else set()
        if not any(i[:length] in shared for i in ids):
            return length
    return 36


# ----------------------------------------------------------------------------- show


def file_problems(
    puid: str | None, identification: dict[str, Any] | None, image: dict[str, Any] | None
) -> tuple[str, ...]:
    """What is wrong with a payload file, from what ingest recorded: its format not identified
    (no PRONOM match), a warning of the identification, an image that does not decode
    completely; the check ingest warns with and ``preserve identify`` reports
    (:func:`preserve.formats.checks.recorded_problems`). Each reason once, in that order."""
    warnings = [str(w) for w in (identification or {}).get("warnings") or () if w]
    complete = None if image is None else image.get("complete") is not False
    error = None if image is None else image.get("decode_error")
    problems = recorded_problems("", puid, warnings, complete, error)
    return tuple(dict.fromkeys(p.message for p in problems))


def show_package(
    app: Application, package_id: str, *, files: bool = True, version: int | None = None
) -> PackageDetail:
    """Everything the catalogue holds about the package ``package_id`` names (see
    :func:`resolve_package`): with ``files=False`` the file list is left out (the format counts
    and the number of files with problems are still given), for packages with many files.

    Every version is listed; the title, description, bag-info, files and size are those of
    ``version`` (by default the current one). The copies of every version are given, and
    every event."""
    with app.uow() as uow:
        p = uow.packages.get(resolve_package(uow, package_id))
        if p is None:  # deleted between the two queries
            raise NotFound(f"package {package_id} does not exist")
        number = choose_version(uow, p.id, p.version, version)
        records = uow.versions.for_package(p.id)
        shown = next((v for v in records if v.number == number), None)
        if number == p.version:
            shown = None  # the package row holds the current version's values
        formats: Counter[tuple[str, str]] = Counter()
        with_problems = 0
        details: list[FileDetail] = []
        # the files of this version a repair found with no good copy anywhere
        damaged = damaged_paths(p, number)
        for f in uow.files.iter_for_package(p.id, version=number):
            detail = file_detail(f, damaged)
            if f.role == "payload":
                formats[(f.puid or "UNKNOWN", f.format_name or "")] += 1
                with_problems += bool(detail.problems)
            if files:
                details.append(detail)
        counted = tuple(
            FormatCount(puid, name, n)
            for (puid, name), n in sorted(formats.items(), key=lambda kv: (-kv[1], kv[0]))
        )
        copies = copy_details(uow, p.id)
        events = event_details(uow, p.id)
        versions = tuple(_version_detail(v) for v in records)
        from preserve.services.retention import status_of

        return PackageDetail(
            summary=_summary(uow, p, shown),
            external_identifier=p.external_identifier,
            source=p.source if shown is None else shown.source,
            description=dict((p.description if shown is None else shown.description) or {}),
            bag_info=tuple(
                (k, v) for k, v in ((p.bag_info if shown is None else shown.bag_info) or [])
            ),
            files=tuple(details),
            copies=copies,
            events=events,
            formats=counted,
            files_with_problems=with_problems,
            versions=versions,
            current_version=p.version,
            retention=status_of(uow.session, p.id),
        )


def damaged_paths(p: Any, number: int) -> dict[str, str]:
    """The files of version ``number`` a repair found with no good copy anywhere: path ->
    reason."""
    found = _damage(p.damage)
    return {str(d.get("path")): d.get("reason") or "" for d in found if d.get("version") == number}


def file_detail(f: Any, damaged: dict[str, str]) -> FileDetail:
    """A file row as :class:`FileDetail`, with its problems (``damaged``: see
    :func:`damaged_paths`)."""
    problems: tuple[str, ...] = ()
    if f.role == "payload":
        problems = file_problems(f.puid, f.identification, f.image)
    if f.path in damaged:
        why = damaged[f.path]
        why = f" ({why})" if why and "no good copy" not in why else ""
        problems = (f"DAMAGED, no good copy anywhere{why}", *problems)
    return FileDetail(
        f.path,
        f.role,
        f.size,
        f.sha512,
        f.sha256,
        f.puid,
        f.mime,
        f.format_name,
        f.format_version,
        f.image,
        problems,
        f.description,
    )


def copy_details(uow: Any, package_id: str) -> tuple[CopyDetail, ...]:
    """Every copy of every version of the package."""
    return tuple(
        CopyDetail(
            c.location.name,
            c.location.url,
            c.key_prefix,
            c.status,
            c.verified_by,
            c.verified_at,
            c.last_checked_at,
            c.last_outcome,
            c.version,
        )
        for c in uow.copies.for_package(package_id)
    )


def event_details(uow: Any, package_id: str, limit: int | None = None) -> tuple[EventDetail, ...]:
    """The package's events, oldest first (with ``limit``: the latest ``limit`` of them)."""
    linked = uow.events.linked_agents(package_id)
    return tuple(
        EventDetail(
            e.id,
            e.event_type,
            e.occurred_at,
            e.outcome,
            e.detail or "",
            e.outcome_detail or "",
            f"{e.agent.name} {e.agent.version}",
            tuple(EventAgentDetail(a.name, a.agent_type, role) for a, role in linked.get(e.id, ())),
            e.version,
        )
        for e in uow.events.for_package(package_id, limit)
    )


def _version_detail(v: Any) -> VersionDetail:
    return VersionDetail(
        number=v.number,
        kind=v.kind,
        status=v.status,
        created_at=v.created_at,
        stored_at=v.stored_at,
        title=v.title,
        files=v.file_count,
        bytes=v.size,
        stored_files=v.stored_files,
        stored_bytes=v.stored_bytes,
        changes=dict(v.changes or {}),
        changes_summary=changes_summary(v.changes) if v.number > 1 else "",
        source=v.source,
        delivery_kind=v.delivery_kind,
        delivery_profile=v.delivery_profile,
        actor=v.actor,
    )
