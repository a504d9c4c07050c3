"""Replication (issue 10): every package version on every location its collection requires.

A collection names the storage locations its packages must be on (``collection_locations``;
none: the default locations; retired locations never count). :func:`shortfalls` lists every
stored package version that lacks a *verified* copy on one of them (a location added later, a
copy lost or found missing). :func:`replicate` makes that copy from a verified one:

1. a short transaction reads what the copy holds (the version's tag files and the payload
   files that version stored itself: a version's folder holds only what its ``fetch.txt`` does
   not point to) and records the copy row ``pending`` (or takes up the one a killed attempt
   left);
2. without a transaction, each object the target does not already hold with the catalogue's
   digests is read from a source copy, hashed as it streams and compared with the catalogue
   (a source whose bytes do not match is not used for that file: the next verified copy is),
   then written to the target, which verifies what it stored (:meth:`Storage.put`); the
   package's event files follow, so the location tells the package's whole story;
3. the new copy is read back in full and compared with the catalogue;
4. one transaction marks the copy ``verified`` (``next_check_at`` NULL: scheduled fixity checks
   it first) and records one PREMIS replication event, only if no other attempt did so first;
   the event is then written to storage with the package's other events (journal).

Run twice, or killed anywhere and run again, it ends with one copy row and one replication
event; objects already in place are not copied again.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from preserve import premis
from preserve.bootstrap import Application
from preserve.catalogue.models import (
    Collection,
    CollectionLocation,
    Copy,
    File,
    Organisation,
    Package,
    PackageVersion,
    StorageLocation,
)
from preserve.checksums import MultiHasher, chunk_buffer, hash_stream
from preserve.errors import (
    InvalidInput,
    NotFound,
    ObjectNotFound,
    PermissionDenied,
    PreserveError,
    StorageError,
    StorageUnavailable,
)
from preserve.progress import NoProgress, Progress
from preserve.services import jobs
from preserve.text import plural

log = logging.getLogger(__name__)


class NoGoodSource(PreserveError):
    """No verified copy could give a file with the bytes the catalogue records."""

    code = "no-good-source"


class DamagedCopy(PreserveError):
    """The target holds a damaged copy: it is repaired (damaged bytes set aside first, with
    their PREMIS events), never overwritten by a replication."""

    code = "damaged-copy"


#: Copy statuses that say fixity found wrong bytes: such a copy is repaired, not replicated.
DAMAGED = ("quarantined", "failed")


class RetireRefused(PreserveError):
    """A location cannot be retired yet: some package it holds lacks its required copies."""

    code = "retire-refused"


@dataclass(frozen=True)
class Shortfall:
    """A stored package version without a verified copy on a location its collection needs."""

    package_id: str
    version: int
    organisation: str
    collection: str
    location: str
    #: what is there now: "none" (no copy row), or the copy's status (pending, missing ...)
    status: str
    size_bytes: int
    #: the copy row there is (None: none): a damaged one (:data:`DAMAGED`) is repaired
    copy_id: int | None = None
    #: why the copy is needed when the collection does not name the location: the agreement's
    #: service level (copies, sites, offline copy); "" for a location the collection requires
    reason: str = ""


@dataclass(frozen=True)
class Unmet:
    """What an agreement asks of a package version that no eligible location can give."""

    package_id: str
    version: int
    collection: str
    requirement: Any  # placement.Requirement
    unmet: tuple[str, ...]
    #: the placement.VersionPlan: what the locations give (None: only refusals are unmet)
    plan: Any = None


@dataclass(frozen=True)
class Replicated:
    """What :func:`replicate` did."""

    package_id: str
    version: int
    location: str
    #: the copy was verified already: nothing was done
    already: bool
    files: int
    size_bytes: int
    #: objects written now; the others were in place with the right digests
    copied: int
    copied_bytes: int
    sources: tuple[str, ...]
    event_files: int = 0
    event_id: str | None = None


@dataclass(frozen=True)
class Queued:
    """A replication job queued for a shortfall (or the one already queued for it)."""

    job_id: str
    package_id: str
    version: int
    location: str
    new: bool


@dataclass(frozen=True)
class RetireResult:
    location: str
    retired_at: datetime
    #: package versions replicated (or their damaged copies repaired) elsewhere first
    replicated: tuple[Any, ...]
    #: copies left on the retired location (their bytes are kept)
    copies_kept: int


@dataclass(frozen=True)
class _Object:
    key: str  # relative to the location's root
    size: int
    sha256: str
    sha512: str | None


@dataclass
class _Plan:
    package_id: str
    version: int
    target: tuple[int, str, str]  # id, name, url
    sources: list[tuple[int, str, str]]
    key_prefix: str
    objects: list[_Object]
    event_files: list[_Object]
    already: bool = False
    bad: dict[str, list[str]] = field(default_factory=dict)  # key -> why each source failed


# --------------------------------------------------------------------------- shortfalls


def required_locations(uow: Any, collection: Collection) -> list[StorageLocation]:
    """The locations a collection's packages must be on: its own, else the default ones;
    retired locations never."""
    from preserve.services.admin import collection_locations

    return collection_locations(uow, collection)


def _shortfalls(
    uow: Any,
    *,
    collection_ids: Iterable[int] | None = None,
    organisation: str | None = None,
    location_ids: Iterable[int] | None = None,
    package_ids: Iterable[str] | None = None,
    excluded_location_ids: Iterable[int] = (),
    unmet: list[Unmet] | None = None,
) -> list[Shortfall]:
    """The shortfalls on the locations each collection requires, then those the service level
    of the agreement over it asks for (:mod:`preserve.services.placement`); what it asks that
    no eligible location can give is appended to ``unmet``."""
    from preserve.services import placement

    session = uow.session
    excluded = set(excluded_location_ids)
    wanted_locations = set(location_ids) if location_ids is not None else None
    stmt = sa.select(Collection).join(Collection.organisation)
    if collection_ids is not None:
        stmt = stmt.where(Collection.id.in_(list(collection_ids)))
    if organisation is not None:
        stmt = stmt.where(Organisation.slug == organisation)
    out: list[Shortfall] = []
    everywhere: list[StorageLocation] | None = None
    # agreements selecting packages by a metadata rule: they count for the packages they match
    rules = placement.rule_agreements(session)
    for coll in session.scalars(stmt.order_by(Organisation.slug, Collection.slug)).all():
        collection_req = placement.requirement_for(session, coll.id)
        named = [loc for loc in required_locations(uow, coll) if loc.id not in excluded]

        def placing(
            req: Any, named: list[StorageLocation] = named
        ) -> tuple[dict[int, str], list[StorageLocation], set[int]]:
            """What ``req`` refuses of the locations the collection names, those that are
            required, and those that will get a copy (their shortfalls below)."""
            refused = {loc.id: why for loc in named if req and (why := req.refusal(loc))}
            required = [
                loc
                for loc in named
                if loc.id not in refused
                and (wanted_locations is None or loc.id in wanted_locations)
            ]
            return refused, required, {loc.id for loc in named if loc.id not in refused}

        collection_placing = placing(collection_req)
        if not collection_placing[1] and collection_req is None and not rules:
            continue
        if (collection_req is not None or rules) and everywhere is None:
            everywhere = [loc for loc in placement.all_locations(session) if loc.id not in excluded]
        versions = sa.select(
            PackageVersion.package_id,
            PackageVersion.number,
            PackageVersion.size,
            Package.description,
        ).join(Package, Package.id == PackageVersion.package_id)
        versions = versions.where(
            Package.collection_id == coll.id,
            Package.status == "stored",
            PackageVersion.status == "stored",
        )
        if package_ids is not None:
            versions = versions.where(Package.id.in_(list(package_ids)))
        rows = session.execute(
            versions.order_by(Package.created_at, Package.id, PackageVersion.number)
        ).all()
        if not rows:
            continue
        have: dict[tuple[str, int, int], tuple[str, int]] = {}
        verified: dict[tuple[str, int], set[int]] = {}
        copies = (
            sa.select(Copy.package_id, Copy.version, Copy.location_id, Copy.status, Copy.id)
            .join(Package, Package.id == Copy.package_id)
            .where(Package.collection_id == coll.id)
        )
        for pid, ver, loc_id, status, copy_id in session.execute(copies):
            have[(pid, ver, loc_id)] = (status, copy_id)
            if status == "verified":
                verified.setdefault((pid, ver), set()).add(loc_id)
        label = f"{coll.organisation.slug}/{coll.slug}"
        by_package: dict[str, tuple[Any, tuple[dict[int, str], list[StorageLocation], set[int]]]]
        by_package = {}
        for pid, number, size, description in rows:
            if pid not in by_package:
                if rules and placement.matching_rules(rules, description):
                    own = placement.requirement_for(
                        session, coll.id, description=description or {}, rules=rules
                    )
                    by_package[pid] = (own, placing(own))
                else:
                    by_package[pid] = (collection_req, collection_placing)
            req, (refused, required, prospective) = by_package[pid]
            if req is not None and everywhere is not None:
                on = verified.get((pid, number), set())
                counted = [loc for loc in everywhere if loc.id in on or loc.id in prospective]
                plan = placement.plan_version(
                    req,
                    counted,
                    [loc for loc in everywhere if loc.id not in on],
                    preferred=[loc.id for loc in named],
                )
                for loc in plan.targets:
                    if wanted_locations is not None and loc.id not in wanted_locations:
                        continue
                    status, copy_id = have.get((pid, number, loc.id), ("none", None))
                    out.append(
                        Shortfall(
                            pid,
                            number,
                            coll.organisation.slug,
                            coll.slug,
                            loc.name,
                            status,
                            size or 0,
                            copy_id,
                            reason=f"agreement {req.agreement}",
                        )
                    )
                problems = plan.unmet + tuple(refused.values())
                if problems and unmet is not None:
                    unmet.append(Unmet(pid, number, label, req, problems, plan))
            for loc in required:
                status, copy_id = have.get((pid, number, loc.id), ("none", None))
                if status != "verified":
                    out.append(
                        Shortfall(
                            pid,
                            number,
                            coll.organisation.slug,
                            coll.slug,
                            loc.name,
                            status,
                            size or 0,
                            copy_id,
                        )
                    )
    return out


def shortfalls(
    app: Application,
    *,
    collection: str | None = None,
    organisation: str | None = None,
    location: str | None = None,
) -> list[Shortfall]:
    """Every stored package version lacking a verified copy on a location its collection
    requires (retired locations excluded), of one collection (in ``organisation``, by default
    PRESERVE_ORGANISATION), of one organisation, or on one location; and the copies the
    service level of the agreement over a collection asks for (``reason`` names it)."""
    with app.uow() as uow:
        return _filtered(app, uow, collection, organisation, location)


def unmet_requirements(
    app: Application,
    *,
    collection: str | None = None,
    organisation: str | None = None,
    package_ids: Iterable[str] | None = None,
) -> list[Unmet]:
    """What the agreements over the collections (or over the packages ``package_ids``: an
    ingest's summary) ask of their package versions that no eligible location can give, as
    ``preserve locations sync`` finds it (nothing is recorded)."""
    found: list[Unmet] = []
    with app.uow() as uow:
        if package_ids is None:
            _filtered(app, uow, collection, organisation, None, found)
            return found
        from preserve.services import placement

        ids = sorted(set(package_ids))
        collection_ids = sorted(
            {p.collection_id for pid in ids if (p := uow.packages.get(pid)) is not None}
        )
        if not placement.rule_agreements(uow.session):  # no agreement, no copies to count
            collection_ids = [
                c for c in collection_ids if placement.requirement_for(uow.session, c)
            ]
        if collection_ids:
            _shortfalls(uow, collection_ids=collection_ids, package_ids=ids, unmet=found)
    return found


def _filtered(
    app: Application,
    uow: Any,
    collection: str | None,
    organisation: str | None,
    location: str | None,
    unmet: list[Unmet] | None = None,
) -> list[Shortfall]:
    from preserve.services.admin import require_collection, require_location, require_organisation

    collection_ids = None
    if collection is not None:
        org = organisation or app.settings.organisation
        collection_ids = [require_collection(uow, org, collection).id]
    elif organisation is not None:
        require_organisation(uow, organisation)
    location_ids = None
    if location is not None:
        loc = require_location(uow, location)
        if loc.retired_at is not None:
            raise InvalidInput(f"location {location!r} is retired: nothing is required there")
        location_ids = [loc.id]
    return _shortfalls(
        uow,
        collection_ids=collection_ids,
        organisation=organisation,
        location_ids=location_ids,
        unmet=unmet,
    )


# --------------------------------------------------------------------------- queueing


def _publisher(app: Application) -> Callable[[str], None] | None:
    try:
        from preserve.services.runner import publisher  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # no workers' doorbell yet: the job waits for a worker's sweep
        return None
    return publisher(app)  # type: ignore[no-any-return,unused-ignore]


def _key(package_id: str, version: int, location_id: int) -> str:
    return f"replicate:{package_id}:v{version}:{location_id}"


def enqueue_replications(
    uow: Any,
    found: Sequence[Shortfall],
    *,
    requested_by: str,
    publish: Callable[[str], None] | None = None,
    now: datetime | None = None,
) -> list[Queued]:
    """Queue a replicate job per shortfall in ``uow``'s transaction (a repair job for a copy
    fixity found damaged: its bytes are set aside, never overwritten); a shortfall that has a
    job queued or running already keeps that one (one job per package, version and location
    at a time: the idempotency key is the triple and how many ended before)."""
    from preserve.catalogue.models import Job

    out: list[Queued] = []
    for s in found:
        loc = uow.locations.get_by_name(s.location)
        damaged = s.status in DAMAGED and s.copy_id is not None
        base = f"repair:{s.copy_id}" if damaged else _key(s.package_id, s.version, loc.id)
        earlier = uow.session.scalars(
            sa.select(Job).where(
                (Job.idempotency_key == base) | Job.idempotency_key.like(base + "#%")
            )
        ).all()
        active = [j for j in earlier if j.state in ("queued", "running")]
        if active:
            out.append(Queued(active[0].id, s.package_id, s.version, s.location, False))
            continue
        record = jobs.enqueue(
            uow,
            "repair" if damaged else "replicate",
            {"copy_id": s.copy_id}
            if damaged
            else {"package_id": s.package_id, "version": s.version, "location": s.location},
            requested_by=requested_by,
            package_id=s.package_id,
            idempotency_key=f"{base}#{len(earlier) + 1}",
            publish=publish,
            now=now,
        )
        out.append(Queued(record.id, s.package_id, s.version, s.location, True))
    return out


def queue_sync(
    app: Application,
    *,
    collection: str | None = None,
    organisation: str | None = None,
    location: str | None = None,
    publish: Callable[[str], None] | None = None,
    now: datetime | None = None,
) -> list[Queued]:
    """Queue a replicate job for every shortfall (:func:`shortfalls` with the same filters),
    and record an alert for each requirement of an agreement that no eligible location can
    meet (once per package version and requirement)."""
    from preserve.services import placement

    if publish is None:
        publish = _publisher(app)
    with app.uow() as uow:
        unmet: list[Unmet] = []
        found = _filtered(app, uow, collection, organisation, location, unmet)
        for u in unmet:
            placement.record_unmet(
                uow, u.package_id, u.version, u.collection, u.requirement, u.unmet
            )
        queued = enqueue_replications(uow, found, requested_by=app.actor, publish=publish, now=now)
        uow.commit()
    return queued


def queue_package_copies(
    app: Application,
    package_id: str,
    *,
    publish: Callable[[str], None] | None = None,
    now: datetime | None = None,
) -> list[Queued]:
    """Queue the replications one package lacks (its collection's locations and its agreement's
    service level), and record the agreement's requirements no eligible location can meet; for
    a package just stored under an agreement (the ingest's last step may call it)."""
    from preserve.services import placement

    if publish is None:
        publish = _publisher(app)
    with app.uow() as uow:
        package = uow.packages.get(package_id)
        if package is None:
            raise NotFound(f"no package {package_id}")
        unmet: list[Unmet] = []
        found = _shortfalls(
            uow,
            collection_ids=[package.collection_id],
            package_ids=[package_id],
            unmet=unmet,
        )
        for u in unmet:
            placement.record_unmet(
                uow, u.package_id, u.version, u.collection, u.requirement, u.unmet
            )
        queued = enqueue_replications(uow, found, requested_by=app.actor, publish=publish, now=now)
        uow.commit()
    return queued


# --------------------------------------------------------------------------- replicate


def _plan(app: Application, package_id: str, version: int, location: str, at: datetime) -> _Plan:
    """Transaction 1: what the copy holds, where from, and its copy row (pending)."""
    from preserve.services.admin import require_location

    with app.uow() as uow:
        package = uow.packages.get(package_id)
        if package is None:
            raise NotFound(f"no package {package_id}")
        record = uow.versions.get(package_id, version)
        if record is None or record.status != "stored":
            state = "does not exist" if record is None else f"is {record.status}"
            raise InvalidInput(f"package {package_id} version {version} {state}: not replicated")
        target = require_location(uow, location)
        if target.retired_at is not None:
            raise InvalidInput(
                f"location {target.name!r} is retired (since {target.retired_at:%Y-%m-%d}): "
                "nothing new is stored there"
            )
        from preserve.services.placement import requirement_for

        req = requirement_for(
            uow.session, package.collection_id, at.date(), description=package.description or {}
        )
        refusal = req.refusal(target) if req is not None else None
        if refusal is not None:
            raise PermissionDenied(f"package {package_id} is not copied: {refusal}")
        copies = list(uow.copies.for_package(package_id, version))
        mine = next((c for c in copies if c.location_id == target.id), None)
        others = [c for c in copies if c.location_id != target.id and c.status == "verified"]
        # reachable first (a location marked unreachable last), locations in use before
        # retired ones, then by name
        others.sort(
            key=lambda c: (
                c.location.unreachable_at is not None,
                c.location.retired_at is not None,
                c.location.name,
            )
        )
        sources = [(c.location.id, c.location.name, c.location.url) for c in others]
        tgt = (target.id, target.name, target.url)
        if mine is not None and mine.status == "verified":
            return _Plan(package_id, version, tgt, sources, mine.key_prefix, [], [], True)
        if mine is not None and mine.status in DAMAGED:
            raise DamagedCopy(
                f"the copy of package {package_id} version {version} on {target.name} is "
                f"damaged ({mine.status}): it is repaired, not replicated over (its damaged "
                f"bytes are set aside first): preserve fixity --package {package_id} "
                f"--location {target.name} --repair"
            )
        if not others:
            raise NoGoodSource(
                f"package {package_id} version {version} has no verified copy to replicate "
                f"to {target.name} from"
            )
        key_prefix = others[0].key_prefix
        objects = [
            _Object(key_prefix + (f.stored_path or f.path), f.size, f.sha256 or "", f.sha512)
            for f in uow.session.scalars(
                sa.select(File)
                .where(
                    File.package_id == package_id,
                    File.version == version,
                    File.stored_version == version,
                )
                .order_by(File.id)
            )
        ]
        missing_digest = [o.key for o in objects if not o.sha256]
        if missing_digest:
            raise InvalidInput(f"no SHA-256 in the catalogue for {missing_digest[0]}")
        from preserve.services.journal import package_folder

        folder = package_folder(key_prefix)
        event_files = [
            _Object(folder + f.path, f.size, f.sha256, f.sha512)
            for f in uow.journal.files_of(package_id)
        ]
        if mine is None:
            uow.copies.add(
                package_id=package_id,
                location_id=target.id,
                version=version,
                key_prefix=key_prefix,
                status="pending",
                created_at=at,
            )
        elif mine.status != "pending":  # lost (missing, failed, quarantined): made again
            mine.status = "pending"
            mine.verified_at = None
            mine.verified_by = None
            mine.key_prefix = key_prefix
        uow.commit()
        return _Plan(package_id, version, tgt, sources, key_prefix, objects, event_files)


def _hash_all(
    storage: Any, objects: Sequence[_Object], tick: Callable[[int], None] | None = None
) -> dict[str, tuple[int, dict[str, str]]]:
    """Read what ``storage`` holds under each object's key and hash it (SHA-256): key ->
    (size, digests); absent when missing or unreadable. A local location reads from the
    device (as fixity does). ``tick`` is called with the bytes read after each object (so a
    job renews its lease during a long read)."""
    found: dict[str, tuple[int, dict[str, str]]] = {}
    hash_objects = getattr(storage, "hash_objects", None)
    if hash_objects is not None:
        for key, size, digests, error in hash_objects(
            [(o.key, o.size, ("sha256",)) for o in objects], threads=2
        ):
            if error is None and digests is not None:
                found[key] = (size, digests)
            if tick is not None:
                tick(size)
        return found
    for o in objects:
        try:
            with storage.open(o.key) as stream:
                found[o.key] = hash_stream(stream, ("sha256",))
        except ObjectNotFound:
            pass
        if tick is not None:
            tick(found[o.key][0] if o.key in found else 0)
    return found


def _matches(held: tuple[int, dict[str, str]] | None, o: _Object) -> bool:
    return held is not None and held[0] == o.size and held[1].get("sha256") == o.sha256


#: How many bytes a fetch reads between two progress reports (each may renew a job's lease).
REPORT_EVERY = 32 * 1024 * 1024


def _fetch(
    storage: Any, o: _Object, dest: Path, on_bytes: Callable[[int], None] | None = None
) -> str | None:
    """Stream the object from a source into ``dest``, hashing as it comes; None when its
    bytes are the catalogue's, else what is wrong with them. ``on_bytes`` hears of the bytes
    read now and then."""
    algorithms = ("sha256", "sha512") if o.sha512 else ("sha256",)
    hasher = MultiHasher(algorithms)
    buf = chunk_buffer()
    view = memoryview(buf)
    unreported = 0
    with storage.open(o.key) as stream, open(dest, "wb") as out:
        while True:
            n = stream.readinto(buf)
            if not n:
                break
            hasher.update(view[:n])
            out.write(view[:n])
            unreported += n
            if on_bytes is not None and unreported >= REPORT_EVERY:
                on_bytes(unreported)
                unreported = 0
    digests = hasher.hexdigests()
    if hasher.size != o.size:
        return f"size is {hasher.size} bytes, the catalogue says {o.size}"
    for algorithm in algorithms:
        expected = o.sha256 if algorithm == "sha256" else o.sha512
        if digests[algorithm] != expected:
            return f"{algorithm} is {digests[algorithm]}, the catalogue says {expected}"
    return None


def _copy_objects(
    app: Application,
    plan: _Plan,
    objects: Sequence[_Object],
    progress: Progress,
    label: str,
    *,
    required: bool = True,
) -> tuple[int, int, set[str]]:
    """Write to the target each of ``objects`` it does not hold with the right digests, from
    the first source that gives the catalogue's bytes; returns (objects copied, bytes copied,
    the sources used). ``required`` False: an object no source has is skipped (event files)."""
    target = app.storage(plan.target[2])
    total = sum(o.size for o in objects)
    copied = copied_bytes = 0
    used: set[str] = set()
    unavailable: dict[str, str] = {}
    progress.begin(label, len(objects), total)
    try:
        # what an earlier, interrupted attempt left in place with the right bytes stays
        present = _hash_all(target, objects, tick=lambda _n: progress.advance(0, 0))
        with tempfile.TemporaryDirectory(prefix=_tmp_prefix(), dir=_tmp_root(app)) as tmp:
            from preserve.ingest.recover import write_owner

            # its owner named, so an ingest's clean-up of the staging area leaves it alone
            write_owner(Path(tmp), datetime.now(UTC))
            wrong = [o.key for o in objects if o.key in present and not _matches(present[o.key], o)]
            if wrong and required:
                raise DamagedCopy(
                    f"location {plan.target[1]} holds {plural(len(wrong), 'object')} of package "
                    f"{plan.package_id} version {plan.version} with other bytes than the "
                    f"catalogue records (first: {wrong[0]}): replication never overwrites "
                    f"them; repair the copy: preserve fixity --package {plan.package_id} "
                    f"--location {plan.target[1]} --repair"
                )
            for index, o in enumerate(objects):
                if _matches(present.get(o.key), o):
                    progress.advance(1, o.size)
                    continue
                if o.key in present:  # an event file with other bytes: left to fixity
                    progress.advance(1, o.size)
                    continue
                dest = Path(tmp) / f"{index}"
                counted = [0]

                def read(n: int, counted: list[int] = counted) -> None:
                    counted[0] += n
                    progress.advance(0, n)

                source = _first_good_source(app, plan, o, dest, unavailable, required, read)
                if source is None:
                    progress.advance(1, max(0, o.size - counted[0]))
                    continue
                target.put(o.key, dest, digests={"sha256": o.sha256}, consume=True)
                if dest.exists():
                    dest.unlink()
                used.add(source)
                copied += 1
                copied_bytes += o.size
                progress.advance(1, max(0, o.size - counted[0]))
    finally:
        progress.end()
    return copied, copied_bytes, used


def _tmp_prefix() -> str:
    """A replication's temporary folder names its owner: host, pid, process start time."""
    from preserve.processes import process_start_time

    pid = os.getpid()
    started = process_start_time(pid)
    return f"replicate-{socket.gethostname()}-{pid}-{int(started or 0)}-"


def _tmp_root(app: Application) -> str | None:
    """The staging folder, where the files being copied wait (not /tmp, which may be small);
    the folders a killed replication left there are removed first."""
    staging = app.settings.staging_dir
    try:
        staging.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    _remove_leftovers(staging)
    return str(staging)


def _remove_leftovers(staging: Path) -> None:
    from preserve.processes import process_alive

    mine = f"replicate-{socket.gethostname()}-"
    try:
        entries = list(os.scandir(staging))
    except OSError:
        return
    for entry in entries:
        if not entry.name.startswith(mine):
            continue
        try:
            pid_text, started_text = entry.name[len(mine) :].split("-")[:2]
            pid, started = int(pid_text), int(started_text)
        except ValueError:
            continue
        # the start time in the name is in whole seconds, within the tolerance it is read with
        if process_alive(pid, float(started) if started else None):
            continue
        log.info("removing %s, left by a replication that was killed", entry.path)
        shutil.rmtree(entry.path, ignore_errors=True)


def _first_good_source(
    app: Application,
    plan: _Plan,
    o: _Object,
    dest: Path,
    unavailable: dict[str, str],
    required: bool,
    on_bytes: Callable[[int], None] | None = None,
) -> str | None:
    """The name of the source whose bytes of ``o`` were fetched into ``dest`` (matching the
    catalogue); raises when none could give them (None for an object not ``required``)."""
    reasons: list[str] = []
    for _loc_id, name, url in plan.sources:
        if name in unavailable:
            reasons.append(f"{name}: {unavailable[name]}")
            continue
        try:
            wrong = _fetch(app.storage(url), o, dest, on_bytes)
        except ObjectNotFound:
            wrong = "missing"
        except StorageUnavailable as exc:
            unavailable[name] = f"does not answer ({exc})"
            reasons.append(f"{name}: {unavailable[name]}")
            continue
        except StorageError as exc:
            wrong = f"could not be read ({exc})"
        if wrong is None:
            return name
        reasons.append(f"{name}: {wrong}")
        if required:
            plan.bad.setdefault(o.key, []).append(f"{name}: {wrong}")
            log.debug("replication source %s: %s: %s", name, o.key, wrong)
    if not required:
        return None
    if plan.sources and all(name in unavailable for _i, name, _u in plan.sources):
        raise StorageUnavailable(
            f"package {plan.package_id} version {plan.version}: no verified copy answers ("
            + "; ".join(reasons)
            + ")"
        )
    raise NoGoodSource(
        f"package {plan.package_id} version {plan.version}: no verified copy gives "
        f"{o.key} with the bytes the catalogue records ({'; '.join(reasons)}); run "
        f"preserve fixity {plan.package_id} to see what is damaged"
    )


def _verify(app: Application, plan: _Plan, progress: Progress) -> None:
    """Read the new copy back in full and compare it with the catalogue."""
    progress.begin(
        f"verifying the copy on {plan.target[1]}",
        len(plan.objects),
        sum(o.size for o in plan.objects),
    )
    try:
        held = _hash_all(
            app.storage(plan.target[2]), plan.objects, tick=lambda n: progress.advance(1, n)
        )
    finally:
        progress.end()
    wrong = [o.key for o in plan.objects if not _matches(held.get(o.key), o)]
    if wrong:
        from preserve.errors import VerificationFailed

        raise VerificationFailed(
            f"location {plan.target[1]}: {plural(len(wrong), 'object')} of package "
            f"{plan.package_id} version {plan.version} read back wrong or missing after "
            f"replication (first: {wrong[0]})"
        )


def replicate(
    app: Application,
    package_id: str,
    version: int,
    location: str,
    *,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> Replicated:
    """Copy version ``version`` of a package to ``location`` (a name) from a verified copy,
    verify the new copy and record it with a PREMIS replication event. Idempotent: a verified
    copy there already means nothing to do; a pending one left by a killed attempt is
    continued."""
    at = now or datetime.now(UTC)
    progress = progress or NoProgress()
    try:
        plan = _plan(app, package_id, version, location, at)
    except sa.exc.IntegrityError:  # another attempt recorded the copy row first: take it up
        plan = _plan(app, package_id, version, location, at)
    total = sum(o.size for o in plan.objects)
    if plan.already:
        from preserve.services.journal import flush_events

        # a run killed after recording the copy left its event for the event files: written now
        flush_events(app, [package_id], catch_up=0)
        return Replicated(package_id, version, plan.target[1], True, 0, 0, 0, 0, (), 0, None)
    copied, copied_bytes, used = _copy_objects(
        app,
        plan,
        plan.objects,
        progress,
        f"replicating {package_id[:8]} v{version} to {plan.target[1]}",
    )
    events_copied, _, _ = _copy_objects(
        app, plan, plan.event_files, progress, "copying its event files", required=False
    )
    _verify(app, plan, progress)
    event_id = _record(app, plan, total, copied, at, sorted(used))
    if event_id is not None:  # a new copy: the package's retention and legal hold on it too
        from preserve.services.retention_locks import protect

        protect(app, [package_id], new_objects=True)
    if plan.bad:
        _alert_bad_sources(app, plan, at)
        key, why = next(iter(plan.bad.items()))
        log.warning(
            "package %s version %s: a source copy is damaged, %s taken from another copy "
            "(%s); run preserve fixity %s",
            package_id,
            version,
            plural(len(plan.bad), "file"),
            f"{key}: {'; '.join(why)}",
            package_id,
        )
    if event_id is not None:
        from preserve.services.journal import flush_events

        flush_events(app, [package_id])
    log.info(
        "package %s version %s replicated to %s (%s copied, %s in place)",
        package_id,
        version,
        plan.target[1],
        plural(copied, "object"),
        len(plan.objects) - copied,
    )
    return Replicated(
        package_id,
        version,
        plan.target[1],
        False,
        len(plan.objects),
        total,
        copied,
        copied_bytes,
        tuple(sorted(used)),
        events_copied,
        event_id,
    )


def _record(
    app: Application, plan: _Plan, total: int, copied: int, at: datetime, used: list[str]
) -> str | None:
    """Transaction 2: the copy verified and one replication event, unless another attempt
    recorded them first (then None)."""
    from preserve.ingest.model import PRESERVE_AGENT
    from preserve.services.admin import link_actor_and_owner

    done = at
    method = "sha256 re-read"
    with app.uow() as uow:
        copy = uow.copies.get(plan.package_id, plan.target[0], plan.version)
        if copy is None:  # removed meanwhile (the package deleted): nothing to record
            uow.rollback()
            return None
        changed: Any = uow.session.execute(
            sa.update(Copy)
            .where(Copy.id == copy.id, Copy.status != "verified")
            .values(
                status="verified",
                verified_by=method,
                verified_at=done,
                last_checked_at=None,
                last_outcome=None,
                next_check_at=None,
                size_bytes=total,
                fixity_job_id=None,
                claimed_until=None,
            )
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount != 1:
            uow.rollback()
            return None
        agent = uow.agents.get_or_create(
            PRESERVE_AGENT.name, PRESERVE_AGENT.version, PRESERVE_AGENT.agent_type
        )
        event = uow.events.add(
            premis.REPLICATION,
            "success",
            agent=agent,
            package_id=plan.package_id,
            copy_id=copy.id,
            detail=f"{plural(len(plan.objects), 'file')} of version {plan.version} replicated "
            f"to location {plan.target[1]} under {plan.key_prefix}"
            + (f" from {', '.join(used)}" if used else " (every object was in place)"),
            outcome_detail=f"every object verified ({method}); {copied} written now, "
            f"{len(plan.objects) - copied} already in place",
            occurred_at=done,
            version=plan.version,
        )
        uow.flush()
        link_actor_and_owner(uow, app.actor, event)
        event_id = event.id
        uow.commit()
    return event_id


def _alert_bad_sources(app: Application, plan: _Plan, at: datetime) -> None:
    """A source copy gave bytes that do not match the catalogue: people must know (fixity
    of that copy says the rest)."""
    from preserve.services import alerts

    first = next(iter(plan.bad.items()))
    with app.uow() as uow:
        alerts.record(
            uow,
            "replication",
            f"package {plan.package_id} version {plan.version}: a source copy is damaged",
            f"While replicating to {plan.target[1]}, {plural(len(plan.bad), 'file')} could not "
            f"be taken from every verified copy: {first[0]}: {'; '.join(first[1])}. Another "
            f"copy gave the right bytes. Run: preserve fixity {plan.package_id}",
            severity="warning",
            dedup_key=f"replication-source:{plan.package_id}:v{plan.version}:{first[0]}",
            package_id=plan.package_id,
            details={"files": {k: v for k, v in list(plan.bad.items())[:50]}},
            now=at,
        )
        uow.commit()


def fix(app: Application, shortfall: Shortfall, *, progress: Progress | None = None) -> Any:
    """Make good one shortfall in the foreground: a copy fixity found damaged is repaired
    (:func:`preserve.services.repair.repair_copy`: its bad bytes set aside, the good ones
    written back; :class:`DamagedCopy` when it stays damaged), any other is replicated
    (:func:`replicate`). Returns the repair's or the replication's result."""
    if shortfall.status in DAMAGED and shortfall.copy_id is not None:
        from preserve.services.repair import repair_copy

        result = repair_copy(app, shortfall.copy_id, progress=progress)
        if not result.repaired:
            raise DamagedCopy(
                f"the copy of package {shortfall.package_id} version {shortfall.version} on "
                f"{shortfall.location} could not be repaired: "
                + "; ".join(result.remaining[:3] or [p for p, _r in result.unrepairable[:3]])
            )
        return result
    return replicate(
        app, shortfall.package_id, shortfall.version, shortfall.location, progress=progress
    )


# --------------------------------------------------------------------------- retiring


def retire_location(
    app: Application,
    name: str,
    *,
    progress: Progress | None = None,
    now: datetime | None = None,
    on_replicated: Callable[[Any], None] | None = None,
) -> RetireResult:
    """Retire location ``name``: first every package version it holds gets a verified copy on
    each location its collection requires besides this one (replicated here and now); only
    then is the location marked retired (nothing new stored there, its copies no longer
    required nor scheduled). No byte is deleted. Refused, with what is missing, when a
    replication fails; refused when a collection has no other location."""
    from preserve.services.admin import collection_locations, require_location

    at = now or datetime.now(UTC)
    with app.uow() as uow:
        loc = require_location(uow, name)
        if loc.retired_at is not None:
            raise InvalidInput(
                f"location {name!r} is retired already (since {loc.retired_at:%Y-%m-%d %H:%M} UTC)"
            )
        loc_id = loc.id
        alone = [
            f"{c.organisation.slug}/{c.slug}"
            for c in uow.collections.list()
            if [x.id for x in collection_locations(uow, c)] == [loc_id]
        ]
        if alone:
            raise InvalidInput(
                f"location {name!r} is the only location of collection "
                f"{', '.join(alone)}: add another first (preserve collections edit "
                f"{alone[0].split('/', 1)[1]} --add-location OTHER), then retire {name}"
            )
        held = sorted(
            set(
                uow.session.scalars(
                    sa.select(Copy.package_id).where(Copy.location_id == loc_id)
                ).all()
            )
        )
        found = _shortfalls(uow, package_ids=held, excluded_location_ids=[loc_id]) if held else []
    replicated: list[Any] = []
    failures: list[str] = []
    for s in found:
        try:
            r = fix(app, s, progress=progress)
        except PreserveError as exc:
            failures.append(f"{s.package_id} v{s.version} to {s.location}: {exc}")
            continue
        replicated.append(r)
        if on_replicated is not None:
            on_replicated(r)
    if failures:
        raise RetireRefused(
            f"location {name!r} not retired: {plural(len(failures), 'package version')} "
            f"{'lacks its' if len(failures) == 1 else 'lack their'} required copies elsewhere "
            "and could not be replicated: "
            + " | ".join(failures[:20])
            + (f" | and {len(failures) - 20} more" if len(failures) > 20 else "")
        )
    with app.uow() as uow:
        loc = require_location(uow, name)
        left = _shortfalls(uow, package_ids=held, excluded_location_ids=[loc_id]) if held else []
        if left:  # a copy was lost meanwhile
            raise RetireRefused(
                f"location {name!r} not retired: {plural(len(left), 'package version')} "
                f"still lack a verified copy elsewhere (first: {left[0].package_id} "
                f"v{left[0].version} on {left[0].location}); run preserve locations retire "
                f"{name} again"
            )
        loc.retired_at = at
        loc.is_default = False
        uow.session.execute(
            sa.delete(CollectionLocation).where(CollectionLocation.location_id == loc_id)
        )
        kept = uow.session.scalar(
            sa.select(sa.func.count()).select_from(Copy).where(Copy.location_id == loc_id)
        )
        uow.commit()
    log.info("location %s retired; %s kept on it", name, plural(kept or 0, "copy"))
    return RetireResult(name, at, tuple(replicated), kept or 0)


# --------------------------------------------------------------------------- job handlers


@jobs.handles("replicate")
def _replicate_job(app: Application, job: jobs.JobRecord, work: jobs.Work) -> Mapping[str, Any]:
    p = job.payload
    try:
        package_id, version, location = p["package_id"], int(p["version"]), p["location"]
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"replicate job {job.id}: bad payload {p!r} ({exc})") from None
    r = replicate(app, package_id, version, location, progress=work)
    return {
        "package_id": r.package_id,
        "version": r.version,
        "location": r.location,
        "already": r.already,
        "files": r.files,
        "size_bytes": r.size_bytes,
        "copied": r.copied,
        "copied_bytes": r.copied_bytes,
        "sources": list(r.sources),
        "event_id": r.event_id,
    }


@jobs.handles("sync")
def _sync_job(app: Application, job: jobs.JobRecord, work: jobs.Work) -> Mapping[str, Any]:
    p = job.payload
    queued = queue_sync(
        app,
        collection=p.get("collection"),
        organisation=p.get("organisation"),
        location=p.get("location"),
    )
    work.check()
    return {
        "queued": [q.job_id for q in queued if q.new],
        "already_queued": [q.job_id for q in queued if not q.new],
    }


if StorageUnavailable not in jobs.RETRYABLE:
    jobs.RETRYABLE.append(StorageUnavailable)
