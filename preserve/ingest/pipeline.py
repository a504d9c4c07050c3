"""The ingest pipeline: one delivery in, one verified, catalogued AIP out.

The order of work makes an interrupted ingest harmless:

1. receive: work out the payload (folder, file, bag validated on receipt, unpacked archive);
2. stage: copy it into a staging bag, every digest computed in the same read; identification
   starts on each staged batch in helper processes;
3. the package row is committed as ``ingesting`` *before* anything reaches storage, naming the key
   prefix on every location, so a crash at any later point leaves a record that recovery uses to
   remove what was written;
4. store: every payload file is written to every location and each copy verified, while the
   helpers are still identifying;
5. identify and describe: formats are collected, dc.xml, premis.xml, bag-info and the manifests
   written, and the tag files stored and verified the same way;
6. register: file rows, PREMIS events and the ``stored`` status in one transaction; only then is
   the package visible as stored, and only then is staging removed.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import exc as sa_exc

from preserve import SOFTWARE_AGENT, premis
from preserve.bagit import BagWriter
from preserve.bootstrap import Application
from preserve.catalogue.models import Collection, Copy, Package, PackageVersion
from preserve.descriptive import ItemRow, corrected_description, read_metadata
from preserve.errors import InvalidInput, PreserveError
from preserve.formats import PARALLEL_THRESHOLD, start_pool
from preserve.formats.mediatypes import media_type
from preserve.ingest.identify import Identification, identification_event
from preserve.ingest.metadata import bag_info, dublin_core, title_source, write_metadata
from preserve.ingest.model import (
    TRANSPORT_ALGORITHM,
    Delivery,
    IngestedFile,
    IngestFailure,
    IngestReport,
    IngestResult,
    Owner,
    agents_of,
    event,
)
from preserve.ingest.producer import (
    absent_items,
    match_items,
    not_in_delivery,
    write_producer_metadata,
)
from preserve.ingest.receive import receive, staging_algorithms, verify_promised
from preserve.ingest.recover import (
    ACTIVE,
    abandon,
    abandoned,
    remove_package,
    start_recovery,
    this_process,
)
from preserve.ingest.register import Stored, register
from preserve.ingest.stage import fingerprint, stage_payload
from preserve.ingest.store import IngestStages, Location, payload_items, store, tag_items
from preserve.ingest.versions import (
    Base,
    BaseFile,
    Changes,
    abandon_version,
    begin_staging,
    claim_version,
    compare,
    load_base,
    match_known,
)
from preserve.progress import NoProgress, Prefixed, Progress
from preserve.services.admin import collection_locations, require_collection
from preserve.services.placement import ingest_locations
from preserve.services.retention import (
    format_warnings,
    link_package,
    require_ingest_open,
    schedule,
)
from preserve.text import plural
from preserve.uow import UnitOfWork
from preserve.values import Problem

log = logging.getLogger(__name__)


class _Timer:
    """Wall and CPU seconds of each stage of one ingest, logged at debug level (``-vv``): the
    profile that tells which stage bounds an ingest."""

    def __init__(self, package_id: str) -> None:
        self.package_id = package_id
        self._wall = time.perf_counter()
        self._cpu = time.process_time()

    def lap(self, stage: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        log.debug(
            "ingest %s: %s took %.3f s (%.3f s of CPU in this process)",
            self.package_id,
            stage,
            wall - self._wall,
            cpu - self._cpu,
        )
        self._wall, self._cpu = wall, cpu


def ingest(
    app: Application,
    sources: Sequence[Path],
    *,
    collection: str | None,
    organisation: str | None = None,
    title: str | None = None,
    metadata_csv: Path | None = None,
    metadata_encoding: str | None = None,
    progress: Progress | None = None,
    on_result: Callable[[IngestResult | IngestFailure], None] | None = None,
    new_version_of: str | None = None,
) -> IngestReport:
    """Ingest each source as one package into ``collection``.

    Everything that can be checked before any work (collection, paths, metadata CSV) is checked
    first and raises; a failure of one package afterwards is reported in ``failures`` and does not
    stop the others. ``on_result`` is told each delivery's outcome as soon as it is known, so
    an adapter can report it at once (an interruption later does not lose it).

    ``new_version_of`` (a package id, a prefix of one or a producer's identifier) makes the
    one source the package's next version instead of a new package; ``collection`` and
    ``organisation`` may then be omitted, and must be the package's when given.
    """
    progress = progress or NoProgress()
    request = check_request(
        app,
        sources,
        collection=collection,
        organisation=organisation,
        metadata_csv=metadata_csv,
        metadata_encoding=metadata_encoding,
        new_version_of=new_version_of,
    )
    org, collection, base_id = request.organisation, request.collection, request.base_id
    resolved, metadata, items = request.resolved, request.metadata, request.items
    location_count = request.location_count

    # what interrupted ingests left is cleaned up meanwhile, in a thread: a location that is down
    # then delays no ingest that does not use it
    recovery = start_recovery(app)
    results: list[IngestResult] = []
    failures: list[IngestFailure] = []
    for number, path in enumerate(resolved, start=1):
        shown: Progress = progress
        if len(resolved) > 1:  # each delivery an equal part of the run: their sizes are not known
            shown = Prefixed(
                progress,
                f"{path.name} ({number}/{len(resolved)}): ",
                (number - 1) / len(resolved),
                number / len(resolved),
            )
        try:
            outcome: IngestResult | IngestFailure
            try:
                outcome = ingest_one(
                    app,
                    path,
                    organisation=org,
                    collection=collection,
                    title=title,
                    dublin_core_fields=metadata.get(path.resolve(), {}),
                    item_rows=items.get(path, ()),
                    progress=shown,
                    location_count=location_count,
                    new_version_of=base_id,
                )
                results.append(outcome)
            except PreserveError as exc:
                log.debug("ingest of %s failed: %s", path, exc, exc_info=True)  # the adapter says
                outcome = IngestFailure(str(path), exc)
                failures.append(outcome)
            if on_result is not None:  # an interruption while it reports still counts it done
                on_result(outcome)
        except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: say what the run leaves
            under_way = interruption(exc) or Interrupted()
            left = len(resolved) - number
            setattr(
                exc,
                _INTERRUPTED,
                dataclasses.replace(under_way, results=tuple(results), remaining=left),
            )
            raise
    return IngestReport(tuple(results), tuple(failures), tuple(recovery.result()))


@dataclass(frozen=True)
class Request:
    """An ingest's arguments, checked: what :func:`check_request` found."""

    organisation: str
    collection: str
    base_id: str | None
    resolved: list[Path]
    metadata: Mapping[Path, Mapping[str, list[str]]]
    items: dict[Path, list[ItemRow]]
    location_count: int


def check_request(
    app: Application,
    sources: Sequence[Path],
    *,
    collection: str | None,
    organisation: str | None = None,
    metadata_csv: Path | None = None,
    metadata_encoding: str | None = None,
    new_version_of: str | None = None,
) -> Request:
    """Everything that can be checked before any work (the collection or the package a new
    version is of, the paths, the metadata CSV): raises on the first problem. ``ingest``
    starts with it; ``preserve ingest --async`` calls it before it queues a job."""
    org = organisation or app.settings.organisation
    base_id: str | None = None
    if new_version_of is not None:
        org, collection, base_id = _version_target(
            app, new_version_of, sources, organisation, collection
        )
    if collection is None:
        raise InvalidInput("give the collection to ingest into (--collection)")
    with app.uow() as uow:
        coll = require_collection(uow, org, collection)  # NotFound: "did you mean ...?"
        # the collection's agreement must accept new packages (refused with its reason)
        require_ingest_open(uow.session, coll.id)
        named = collection_locations(uow, coll)
        if not named:
            raise InvalidInput(
                f"collection {collection!r} has no storage location and there is no default "
                "location (run: preserve init, or preserve locations add)"
            )
        # only the locations its agreement allows (refused with the reasons when none is)
        location_count = len(
            ingest_locations(uow.session, coll.id, named, collection=f"{org}/{collection}")
        )
    resolved = _check_sources(sources)
    table = read_metadata(metadata_csv, encoding=metadata_encoding) if metadata_csv else None
    metadata = table.rows if table else {}
    items: dict[Path, list[ItemRow]] = {}
    if table:
        for note in table.notes():
            log.warning("%s", note)
        # a path the CSV has no row for would be stored without its description: refuse first
        missing = [str(p) for p in resolved if p.resolve() not in metadata]
        if missing:
            raise InvalidInput(
                f"{metadata_csv}: no row for {', '.join(missing)} (its 'path' column names each "
                "delivery to describe, relative to the CSV's folder or absolute); add a row, or "
                "ingest it without --metadata"
            )
        # rows for single files inside a delivery: each must name a file of it, all said at once
        absent: list[str] = []
        for p in resolved:
            items[p] = table.items_under(p.resolve())
            absent.extend(absent_items(p, items[p]))
        if absent:
            raise not_in_delivery(absent, resolved[0] if len(resolved) == 1 else "being ingested")
    described = {p.resolve() for p in resolved}
    described.update(p.resolve() / i.relpath for p, rows in items.items() for i in rows)
    for listed in metadata:
        if listed not in described:
            log.warning("metadata CSV lists %s, which is not being ingested", listed)
    return Request(org, collection, base_id, resolved, metadata, items, location_count)


def _version_target(
    app: Application,
    given: str,
    sources: Sequence[Path],
    organisation: str | None,
    collection: str | None,
) -> tuple[str, str, str]:
    """(organisation, collection, package id) of the package ``given`` names, checked against
    the options given with ``--new-version-of``."""
    from preserve.services.packages import resolve_package

    if len(sources) != 1:
        raise InvalidInput(
            f"--new-version-of makes one new version from one delivery; {len(sources)} were given"
        )
    with app.uow() as uow:
        package_id = resolve_package(uow, given)
        package = uow.packages.get(package_id)
        assert package is not None
        coll = package.collection
        org, slug = coll.organisation.slug, coll.slug
        if package.status != "stored":
            raise InvalidInput(
                f"package {package_id} is still being ingested: a new version can be made once "
                "it is stored"
            )
    if collection is not None and collection != slug:
        raise InvalidInput(
            f"package {package_id} is in collection {slug!r}, not {collection!r}: a new "
            "version stays in its package's collection (leave out --collection)"
        )
    if organisation is not None and organisation != org:
        raise InvalidInput(
            f"package {package_id} belongs to organisation {org!r}, not {organisation!r}"
        )
    return org, slug, package_id


#: Where a title comes from when the delivery itself says nothing about it
_FALLBACK_TITLES = frozenset({"folder name", "archive name", "file name"})


def _hint_new_version(
    app: Application,
    organisation: str,
    collection: str,
    source: Path,
    external_identifier: str,
    delivery: Delivery,
    fingerprint: str,
) -> None:
    """Warn when the collection holds an earlier version with exactly this content, or a
    package from the same folder or with the same identifier: a changed delivery is better a
    new version of it than a package of its own that stores the unchanged files again."""
    with app.uow() as uow:
        coll = _collection(uow, organisation, collection)
        earlier = uow.packages.earlier_version_with(coll.id, fingerprint)
        same = [p.id for p in uow.packages.same_origin(coll.id, str(source), external_identifier)]
    if earlier is not None:
        package, number, current = earlier
        delivery.warnings.append(
            Problem(
                "earlier-version",
                source.name,
                f"identical to version {number} of package {package[:8]} (now at version "
                f"{current}); this delivery becomes a package of its own: to make it that "
                f"package's current content again, ingest it with --new-version-of {package[:8]}",
                "warning",
            )
        )
    elif same:
        delivery.warnings.append(
            Problem(
                "same-origin",
                source.name,
                f"package {same[0][:8]} was ingested from the same folder or carries the same "
                "identifier; this delivery becomes a package of its own: if it replaces that "
                f"one, ingest it with --new-version-of {same[0][:8]} instead",
                "warning",
            )
        )


def _described(description: Mapping[str, object]) -> dict[str, object]:
    """A description without the package's own URN (which differs between two packages)."""
    out = dict(description)
    given = out.get("identifier")
    ids = (
        [i for i in given if not str(i).startswith("urn:uuid:")] if isinstance(given, list) else []
    )
    if ids:
        out["identifier"] = ids
    else:
        out.pop("identifier", None)
    return out


def _change_lists(changes: Changes, limit: int = 100) -> str:
    """The paths a version changes, for an event's outcome detail (the first ``limit`` of
    each kind; the catalogue keeps them all)."""
    parts = []
    for kind, paths in (
        ("added", list(changes.added)),
        ("modified", list(changes.modified)),
        ("removed", list(changes.removed)),
        ("renamed", [f"{a} -> {b}" for a, b in changes.renamed]),
    ):
        if paths:
            more = f" and {len(paths) - limit} more" if len(paths) > limit else ""
            parts.append(f"{kind}: {', '.join(paths[:limit])}{more}")
    return "; ".join(parts)


def _claim_next_version(
    app: Application, base: Base, record: PackageVersion
) -> tuple[list[Location], Owner] | _Original:
    """Record the version as ``ingesting`` (see :func:`claim_version`), unless another package
    of the collection holds exactly this content: then that one is reported as the original."""
    with app.uow() as uow:
        assert record.payload_fingerprint is not None
        holder = uow.packages.find_live_by_fingerprint(
            base.collection_id, record.payload_fingerprint
        )
        if holder is not None and holder.id != base.package_id:
            return _Original(
                holder.id, holder.title, holder.version, holder.file_count, holder.size
            )
    locations, o = claim_version(app, base, record)
    return locations, Owner(*o)


def _add_writer_warnings(delivery: Delivery, found: Sequence[Problem]) -> None:
    """The bag writer checks the payload's names again (a system file, a Windows-reserved
    name ...) and names the AIP's paths (``data/...``): add only what the delivery's own checks
    did not report already, with the path as the delivery has it, so each problem is reported
    once."""
    root = delivery.payload_root
    is_bag = root is not None and root.name == "data" and (root.parent / "bagit.txt").is_file()
    seen = {(w.code, w.path) for w in delivery.warnings}
    for w in found:
        path = w.path if is_bag or not w.path.startswith("data/") else w.path[len("data/") :]
        if (w.code, path) not in seen:
            seen.add((w.code, path))
            delivery.warnings.append(dataclasses.replace(w, path=path))


def _check_sources(sources: Sequence[Path]) -> list[Path]:
    resolved = []
    for src in sources:
        path = Path(src)
        if not os.path.lexists(path):
            raise InvalidInput(f"{path}: no such file or folder")
        if path.is_symlink():
            raise InvalidInput(
                f"{path}: is a symbolic link; give the real path (links are not followed)"
            )
        if not os.access(path, os.R_OK):
            raise InvalidInput(f"{path}: permission denied")
        resolved.append(path.absolute())
    if len({p.resolve() for p in resolved}) != len(resolved):
        raise InvalidInput("the same path is given more than once")
    return resolved


def _collection(uow: UnitOfWork, organisation: str, slug: str) -> Collection:
    # checked at the start; only a concurrent deletion fails here
    return require_collection(uow, organisation, slug)


@dataclass(frozen=True)
class _Original:
    """The stored package that holds a delivery's content already."""

    id: str
    title: str
    version: int
    file_count: int
    size: int
    description: Mapping[str, object] = dataclasses.field(default_factory=dict)


def first_version(package: Package) -> PackageVersion:
    """The version row of a package's first ingest, ``ingesting`` like the package."""
    return PackageVersion(
        package_id=package.id,
        number=package.version,
        kind="content",
        status="ingesting",
        title=package.title,
        description=package.description,
        payload_fingerprint=package.payload_fingerprint,
        file_count=package.file_count,
        size=package.size,
        stored_files=package.file_count,
        stored_bytes=package.size,
        source=package.source,
        ingest_host=package.ingest_host,
        ingest_pid=package.ingest_pid,
        ingest_process_started=package.ingest_process_started,
    )


#: How often an ingest waiting for a concurrent ingest of the same content looks again.
CLAIM_POLL_SECONDS = 0.5


def _claim(
    app: Application,
    organisation: str,
    collection: str,
    source: Path,
    fingerprint: str,
    record: Callable[[Collection], Package],
    key_prefix: str,
) -> tuple[list[Location], Owner] | _Original:
    """Record the package as ``ingesting`` with its copies ``pending`` (returns the locations to
    store on and the owning organisation), or return the stored package that already holds
    this content.

    The duplicate check and the insert are one: ``uq_packages_live_fingerprint`` lets only one
    package per content and collection be ingesting or stored. When another ingest holds the
    content, this one waits for it: stored, it is the original; failed or killed (its owner
    gone), it is cleaned up and the content claimed again."""
    waiting_for: str | None = None
    while True:
        with app.uow() as uow:
            coll = _collection(uow, organisation, collection)
            holder = uow.packages.find_live_by_fingerprint(coll.id, fingerprint)
            if holder is None:
                new = record(coll)
                # the first copies go where the package's agreements allow (none: refused)
                allowed = ingest_locations(
                    uow.session,
                    coll.id,
                    collection_locations(uow, coll),
                    description=new.description or {},
                    collection=f"{organisation}/{collection}",
                )
                locations = [Location(loc.id, loc.name, loc.url) for loc in allowed]
                try:
                    package = uow.packages.add(new)  # flushes: the insert is here
                    uow.flush()
                    uow.versions.add(first_version(package))
                    uow.flush()
                except sa_exc.IntegrityError:
                    # a concurrent ingest claimed the same content between the look and the
                    # insert: look again (the next look sees its row)
                    uow.rollback()
                    continue
                for loc in locations:
                    uow.copies.add(
                        Copy(
                            package_id=package.id,
                            location_id=loc.id,
                            key_prefix=key_prefix,
                            status="pending",
                        )
                    )
                o = coll.organisation
                owning = Owner(o.slug, o.name, o.address, o.contact_name, o.contact_email)
                uow.commit()
                return locations, owning
            if holder.status == "stored":
                return _Original(
                    holder.id,
                    holder.title,
                    holder.version,
                    holder.file_count,
                    holder.size,
                    dict(holder.description or {}),
                )
            holder_id = holder.id
            gone = abandoned(holder)
            owner = f"process {holder.ingest_pid} on {holder.ingest_host}"
        if gone:
            # removed, or (a location did not answer) marked failed: either way it no longer
            # holds the content
            log.info("removing interrupted ingest %s of the same content first", holder_id)
            remove_package(app, holder_id)
            continue
        if waiting_for != holder_id:
            log.warning(
                "%s: the same content is being ingested into %s right now (package %s, %s); "
                "waiting for that ingest to finish",
                source,
                collection,
                holder_id,
                owner,
            )
            waiting_for = holder_id
        time.sleep(CLAIM_POLL_SECONDS)


def ingest_one(
    app: Application,
    source: Path,
    *,
    organisation: str,
    collection: str,
    title: str | None,
    dublin_core_fields: Mapping[str, Sequence[str]],
    progress: Progress,
    item_rows: Sequence[ItemRow] = (),
    location_count: int = 1,
    new_version_of: str | None = None,
) -> IngestResult:
    """Run every stage for one delivery; on any failure undo what was done. With
    ``new_version_of`` (a package id), the delivery becomes that package's next version."""
    settings = app.settings
    workers = settings.workers or os.cpu_count() or 1
    base = load_base(app, new_version_of) if new_version_of else None
    package_id = base.package_id if base else str(uuid.uuid4())
    version = base.number + 1 if base else 1
    staging, busy = begin_staging(app, package_id, version)  # recovery leaves them alone
    registered = False
    identification = Identification(1)
    timer = _Timer(package_id)
    try:
        start = event(premis.INGESTION_START, "success", f"ingest of {source.name} started")
        from preserve.ingest.conformance import check_delivery, required_profile

        required = required_profile(app, organisation, collection)  # a BagIt profile it requires
        delivery = receive(
            source,
            staging,
            max_unpack_bytes=settings.max_unpack_bytes,
            max_unpack_ratio=settings.max_unpack_ratio,
            profile=required,  # an invalid bag is refused with its breaches of it too
        )
        delivery.events.insert(0, start)
        if required is not None:
            check_delivery(delivery, required.profile, required.required_by)
        item_fields = match_items(delivery, item_rows)  # before any copying
        if base is None and len(delivery.files) >= PARALLEL_THRESHOLD and workers > 1:
            # siegfried holds the GIL: helper processes, one per core, identify each batch as
            # soon as it is staged (their start-up overlaps the staging); a few files are
            # identified here, which costs less than starting the helpers
            start_pool(workers, helpers=workers)
            identification = Identification(workers)
        timer.lap("receive")
        stages = IngestStages(
            len(delivery.files), sum(f.size for f in delivery.files), location_count
        )
        kept = (*settings.algorithms, TRANSPORT_ALGORITHM)
        algorithms = staging_algorithms(delivery, kept)  # and what a SIP's checksums need
        writer = BagWriter(staging / "bag", settings.algorithms)
        known: dict[str, BaseFile] = {}
        if base is not None:  # content the package holds is neither copied nor identified again
            known = match_known(base, delivery, algorithms, workers=workers, progress=progress)
            timer.lap(f"compare with version {base.number} ({len(known)} files held already)")
        every_file = delivery.files
        delivery.files = [f for f in every_file if f.bag_path not in known]
        if base is not None and len(delivery.files) >= PARALLEL_THRESHOLD and workers > 1:
            start_pool(workers, helpers=workers)  # only for what is new to the package
            identification = Identification(workers)
        try:
            stage_payload(
                delivery,
                writer,
                algorithms,
                workers=workers,
                progress=progress,
                on_staged=identification.submit,
                stage=stages.stage(1),
            )
        finally:
            delivery.files = every_file
        verify_promised(delivery, kept)  # a SIP's METS and PREMIS checksums, before storing
        payload_fingerprint = fingerprint(delivery.files)
        timer.lap("stage")

        fields = dublin_core(dublin_core_fields, delivery, title, package_id)
        given_title = title_source(dublin_core_fields, delivery, title)
        changes: Changes | None = None
        if base is not None:
            if payload_fingerprint == base.payload_fingerprint:
                log.info("%s is identical to version %s of %s", source, base.number, package_id)
                identification.cancel()
                shutil.rmtree(staging, ignore_errors=True)
                return IngestResult(
                    source=str(source),
                    status="unchanged",
                    package_id=package_id,
                    organisation=organisation,
                    collection=collection,
                    title=base.title,
                    version=base.number,
                    files=len(base.files),
                    bytes=sum(f.size for f in base.files.values()),
                    warnings=tuple(delivery.warnings),
                )
            changes = compare(base, delivery.files)
            if not delivery.description:  # the delivery says nothing itself: keep what was
                # said, with what the CSV and --title correct (other languages kept)
                fields = corrected_description(
                    base.description, title=title, replacements=dublin_core_fields
                )
                if given_title in _FALLBACK_TITLES:
                    given_title = f"version {base.number}"
            elif base.corrected_in is not None:
                delivery.warnings.append(
                    Problem(
                        "description-replaced",
                        source.name,
                        f"the description corrected in version {base.corrected_in} (preserve "
                        "describe) is replaced by the one this delivery gives; to correct it "
                        f"again: preserve describe {package_id[:8]}",
                        "warning",
                    )
                )
            if base.external_identifier:  # the package keeps its name; the folder is noted
                delivery.external_identifier = base.external_identifier
        # the producer's dc:identifier names the package (the folder name stays in bag-info)
        external_identifier = next(
            (i for i in dublin_core_fields.get("identifier", ()) if 0 < len(i) <= 255),
            delivery.external_identifier,
        )
        bag_title = fields["title"][0]
        key_prefix = f"{organisation}/{collection}/{package_id}/v{version}/"
        host, pid, process_started = this_process()

        description = {k: dict(v) if isinstance(v, Mapping) else list(v) for k, v in fields.items()}

        def record(coll: Collection) -> Package:
            return Package(
                id=package_id,
                collection_id=coll.id,
                external_identifier=external_identifier,
                title=bag_title,
                description=description,
                status="ingesting",
                version=version,
                size=sum(f.size for f in delivery.files),
                file_count=len(delivery.files),
                payload_fingerprint=payload_fingerprint,
                bag_info=[],
                source=str(source),
                ingest_host=host,
                ingest_pid=pid,
                ingest_process_started=process_started,
            )

        # the record exists before any byte reaches storage: an interruption is recoverable;
        # it also claims the content, so a concurrent ingest of the same delivery waits for
        # this one and then reports a duplicate
        claim: tuple[list[Location], Owner] | _Original
        if base is None:
            claim = _claim(
                app, organisation, collection, source, payload_fingerprint, record, key_prefix
            )
        else:
            assert changes is not None
            claim = _claim_next_version(
                app,
                base,
                PackageVersion(
                    package_id=package_id,
                    number=version,
                    kind="content",
                    status="ingesting",
                    title=bag_title,
                    description=description,
                    payload_fingerprint=payload_fingerprint,
                    file_count=len(delivery.files),
                    size=sum(f.size for f in delivery.files),
                    stored_files=sum(
                        1 for f in delivery.files if f.bag_path not in changes.fetched
                    ),
                    stored_bytes=sum(
                        f.size for f in delivery.files if f.bag_path not in changes.fetched
                    ),
                    changes=changes.as_json(),
                    source=str(source),
                    actor=app.actor,
                    ingest_host=host,
                    ingest_pid=pid,
                    ingest_process_started=process_started,
                ),
            )
        if isinstance(claim, _Original):
            existing = claim
            log.info("%s is identical to package %s: not ingested again", source, existing.id)
            if (title or dublin_core_fields) and _described(fields) != _described(
                existing.description
            ):  # a corrected description must not be dropped without a word
                delivery.warnings.append(
                    Problem(
                        "description-not-applied",
                        source.name,
                        f"the description given differs from package {existing.id[:8]}'s and "
                        "was not applied (the content is preserved already); to correct it: "
                        f"preserve describe {existing.id[:8]}"
                        + (" --metadata CSV" if dublin_core_fields else "")
                        + (' --title "..."' if title else ""),
                        "warning",
                    )
                )
            identification.cancel()
            shutil.rmtree(staging, ignore_errors=True)
            return IngestResult(
                source=str(source),
                status="duplicate",
                package_id=existing.id,
                organisation=organisation,
                collection=collection,
                title=existing.title,
                version=existing.version,
                files=existing.file_count,
                bytes=existing.size,
                duplicate_of=existing.id,
                warnings=tuple(delivery.warnings),
            )
        locations, owner = claim
        registered = True
        # the agreement is checked again now the package is claimed, before anything is
        # stored, and the package linked to the version in force (named in bag-info)
        mets = getattr(getattr(delivery.sip, "detected", None), "mets", None)
        link, link_warnings = link_package(
            app,
            package_id,
            sip_reference=getattr(mets, "submission_agreement", "") or None,
            actor=app.actor,
        )
        delivery.warnings.extend(link_warnings)
        if base is None:  # a new package: say when it looks like a new version of another
            _hint_new_version(
                app,
                organisation,
                collection,
                source,
                external_identifier,
                delivery,
                payload_fingerprint,
            )
        fetched = changes.fetched if changes else {}
        timer.lap("record the package as ingesting")

        # the payload is stored while the helpers are still identifying it (staged files are
        # linked, not moved, so identification can still read them) ...
        stored = store(
            app,
            payload_items([f for f in delivery.files if f.bag_path not in fetched]),
            key_prefix,
            locations,
            progress,
            "payload",
            stages,
        )
        timer.lap("store the payload")
        # ... then the formats are known and the tag files can be written and stored
        identification.collect(delivery, progress, stages.stage(3))
        timer.lap("collect the identification")
        # formats the agreement does not accept: a warning per file, never a refusal
        not_accepted = (
            format_warnings(
                app,
                link,
                [
                    (
                        f.bag_path,
                        f.fmt.puid if f.fmt else "UNKNOWN",
                        f.fmt.format_name if f.fmt else "",
                    )
                    for f in delivery.files
                    if f.fmt is not None or base is None  # held files were identified before
                ],
            )
            if link is not None
            else []
        )
        delivery.warnings.extend(not_accepted)
        # the first External-Identifier is the catalogue's (a rebuilt catalogue reads it)
        named = base.external_identifier if base is not None else None
        info = bag_info(
            delivery, fields, owner, collection, package_id, named or external_identifier
        )
        if link is not None:
            info.extend(link.bag_info())
        if base is not None and changes is not None:
            info.append(("Package-Version", str(version)))
            info.append(
                (
                    "Internal-Sender-Description",
                    f"version {version} of urn:uuid:{package_id}, from version {base.number}: "
                    f"{changes.summary()}",
                )
            )
            by_path = {f.bag_path: f for f in delivery.files}
            for path, held in fetched.items():  # named in fetch.txt, stored by an earlier version
                staged = by_path[path]
                writer.add_fetch_entry(
                    staged.relpath,
                    staged.size,
                    staged.digests,
                    base.fetch_url(held),
                    present=path not in known,
                )
        delivery.events.extend(
            [
                event(
                    premis.MESSAGE_DIGEST_CALCULATION,
                    "success",
                    f"computed {', '.join(settings.algorithms)} of {len(delivery.files)} "
                    "payload files while copying them into the package",
                    objects=[f.bag_path for f in delivery.files[:1000]],
                ),
                identification_event(delivery),
                event(
                    premis.INFORMATION_PACKAGE_CREATION,
                    "success",
                    f"BagIt 1.0 package {package_id} version {version} created by {SOFTWARE_AGENT}"
                    + (
                        f" from version {base.number}: {changes.summary()}; unchanged content "
                        "is named in fetch.txt, not stored again"
                        if base is not None and changes is not None
                        else ""
                    ),
                    _change_lists(changes) if changes is not None else "",
                    objects=[package_id],
                ),
            ]
        )
        delivery.link_agents(agents_of(app.actor, owner))  # who did it, for whom
        write_metadata(writer, delivery, fields, package_id, bag_title)
        write_producer_metadata(writer, delivery, item_fields)
        summary = writer.finish(info)
        _add_writer_warnings(delivery, writer.warnings)
        timer.lap("write the metadata and manifests")
        tag_digests, items = tag_items(summary.path)
        tags_stored = store(app, items, key_prefix, locations, progress, "metadata", stages)
        for location_id, objects in tags_stored.items():
            stored[location_id].update(objects)
        timer.lap("store the tag files")
        register(
            app,
            package_id,
            delivery,
            Stored(stored, tag_digests),
            summary.bag_info,
            descriptions=item_fields,
            actor=app.actor,
            version=version,
            fetched={p: (b.stored_version, b.stored_path) for p, b in fetched.items()},
        )
        timer.lap("register")
        if link is not None:  # stored: a failure here loses nothing (retention recompute)
            try:
                schedule(app, package_id, warnings=not_accepted)
            except Exception:
                log.exception("package %s: retention not computed", package_id)
                delivery.warnings.append(
                    Problem(
                        "retention-not-computed",
                        "",
                        "the retention dates could not be computed now: run preserve "
                        "retention recompute",
                        "warning",
                    )
                )
            # the copies its agreement's service level asks for beyond the collection's
            # locations (sites, regions, an offline copy): queued for the workers now, never
            # failing the ingest (preserve locations sync queues them too)
            try:
                from preserve.services.replication import queue_package_copies

                queue_package_copies(app, package_id)
            except Exception:
                log.warning(
                    "package %s: its agreement's copies not queued", package_id, exc_info=True
                )
        # S3 Object Lock: its minimum retention, and the legal hold of a hold on its
        # collection, on every object of its copies (what fails is retried daily)
        from preserve.services.retention_locks import protect

        protect(app, [package_id], new_objects=True)
        shutil.rmtree(staging, ignore_errors=True)
        timer.lap("remove staging")
        log.info(
            "package %s stored from %s: %s, %s, copies on %s",
            package_id,
            source,
            plural(summary.payload_files, "file"),
            plural(summary.payload_bytes, "byte"),
            ", ".join(loc.name for loc in locations),
        )
        return IngestResult(
            source=str(source),
            status="stored",
            changes=changes.as_json() if changes else None,
            stored_bytes=sum(f.size for f in delivery.files if f.bag_path not in fetched),
            package_id=package_id,
            organisation=organisation,
            collection=collection,
            title=bag_title,
            version=version,
            files=summary.payload_files,
            bytes=summary.payload_bytes,
            copies=tuple(loc.name for loc in locations),
            key_prefix=key_prefix,
            warnings=tuple(delivery.warnings),
            title_source=given_title,
            file_details=tuple(
                IngestedFile(
                    path=f.bag_path,
                    size=f.size,
                    puid=f.fmt.puid if f.fmt else "UNKNOWN",
                    mime=media_type(f.fmt) if f.fmt else "",
                    format_name=f.fmt.format_name if f.fmt else "",
                    format_version=f.fmt.format_version if f.fmt else "",
                    warnings=tuple(f.fmt.warnings) if f.fmt else (),
                )
                for f in delivery.files
            ),
        )
    except BaseException as exc:
        identification.cancel()
        if base is None:
            abandon(app, package_id, staging, registered)
        else:
            abandon_version(app, package_id, version, staging, registered)
        if isinstance(exc, KeyboardInterrupt):
            setattr(exc, _INTERRUPTED, _left_by(app, str(source), package_id, registered, version))
        raise
    finally:
        ACTIVE.difference_update(busy)


_INTERRUPTED = "preserve_ingest"


@dataclass(frozen=True)
class Interrupted:
    """What an ingest stopped by Ctrl-C or SIGTERM leaves (see :func:`interruption`)."""

    #: the deliveries done before the interruption, stored or duplicates
    results: tuple[IngestResult, ...] = ()
    #: the delivery under way, its package and what became of it: ``removed`` (nothing of it
    #: is left, or nothing had reached storage), ``left`` (a location or the catalogue did
    #: not answer: recovery at the next ingest removes it), ``stored`` (the interruption came
    #: after its final commit) or ``unknown`` (the catalogue could not be asked)
    source: str | None = None
    package_id: str | None = None
    fate: str = "removed"
    #: deliveries of the run not started
    remaining: int = 0
    #: the version under way: 1 for a new package, N for a new version of a stored one
    version: int = 1


def interruption(exc: BaseException) -> Interrupted | None:
    """What the ingest that ``exc`` (a KeyboardInterrupt) stopped leaves, when it stopped
    one."""
    found = getattr(exc, _INTERRUPTED, None)
    return found if isinstance(found, Interrupted) else None


def _left_by(
    app: Application, source: str, package_id: str, registered: bool, version: int = 1
) -> Interrupted:
    """What an interrupted, abandoned ingest left: its row is gone once everything it wrote
    is removed; before it was registered, nothing of it had reached storage. For a later
    version, what became of that version (the package itself stays as it was)."""
    if not registered:
        return Interrupted(source=source, package_id=package_id, fate="removed", version=version)
    try:
        with app.uow() as uow:
            if version == 1:
                package = uow.packages.get(package_id)
                status = package.status if package is not None else None
            else:
                record = uow.versions.get(package_id, version)
                status = record.status if record is not None else None
    except Exception as exc:  # the catalogue is what failed: say less
        log.debug("could not look up interrupted ingest %s: %s", package_id, exc)
        return Interrupted(source=source, package_id=package_id, fate="unknown", version=version)
    fate = "removed" if status is None else "stored" if status == "stored" else "left"
    return Interrupted(source=source, package_id=package_id, fate=fate, version=version)
