"""Ingest: turn a delivery (folder, file, bag, zip or tar) into a verified, catalogued AIP.

The order of work makes an interrupted ingest harmless:

1. the delivery is copied into a staging bag while every digest is computed in the same read;
2. formats are identified and the preservation metadata written as tag files;
3. the package row is committed as ``ingesting`` *before* anything reaches storage, naming the key
   prefix on every location, so a crash at any later point leaves a record that the next run
   (:func:`recover_interrupted`) uses to remove what was written;
4. every file is written to every location of the collection and each copy verified;
5. file rows, PREMIS events and the ``stored`` status are committed in one transaction; only
   then is the package visible as stored, and only then is staging removed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import socket
import stat
import time
import unicodedata
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from preserve import SOFTWARE_AGENT, __version__, archives, premis
from preserve.bagit import BagWriter, check_payload_names, read_bag, validate_bag
from preserve.bootstrap import Application
from preserve.catalogue.models import Agent, Collection, Copy, Package
from preserve.checksums import MultiHasher, chunk_buffer, hash_file
from preserve.descriptive import bag_info_from_dublin_core, dublin_core_xml, read_metadata_csv
from preserve.errors import (
    InvalidBag,
    InvalidInput,
    NotFound,
    PreserveError,
    StorageError,
    StorageFull,
)
from preserve.formats import (
    PendingIdentification,
    image_properties,
    is_image,
    start_pool,
    submit_identification,
)
from preserve.fsio import NO_SPACE, start_writeback
from preserve.progress import NoProgress, Progress
from preserve.services.admin import collection_locations
from preserve.storage import PutItem
from preserve.uow import UnitOfWork
from preserve.values import FormatInfo, ImageInfo, Problem, StoredObject, as_dict

log = logging.getLogger(__name__)

TRANSPORT_ALGORITHM = "crc64nvme"  # rides along in the read pass; verifies copies cheaply
STALE_AFTER_SECONDS = 24 * 3600  # an ingest owned by another host is presumed dead after this
OWNERLESS_GRACE_SECONDS = 60  # a staging folder gets its owner file microseconds after mkdir
LARGE_AVERAGE = 1 << 20  # files this large on average are hashed on several threads
WRITEBACK_EVERY = 8 << 20  # start the disk writing a staged file every 8 MiB


@dataclass(frozen=True)
class IngestedFile:
    path: str  # as in the bag: "data/..."
    size: int
    puid: str
    mime: str
    format_name: str
    format_version: str
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class IngestResult:
    source: str
    status: str  # "stored" or "duplicate"
    package_id: str
    organisation: str
    collection: str
    title: str
    version: int
    files: int
    bytes: int
    copies: tuple[str, ...] = ()
    key_prefix: str = ""
    duplicate_of: str | None = None
    warnings: tuple[Problem, ...] = ()
    file_details: tuple[IngestedFile, ...] = ()


@dataclass(frozen=True)
class IngestFailure:
    source: str
    error: PreserveError


@dataclass(frozen=True)
class IngestReport:
    results: tuple[IngestResult, ...]
    failures: tuple[IngestFailure, ...]
    recovered: tuple[str, ...] = ()


@dataclass
class _StagedFile:
    relpath: str  # relative to data/
    source: Path
    size: int = 0
    staged: Path | None = None  # the copy inside the staging bag
    digests: dict[str, str] = field(default_factory=dict)
    fmt: FormatInfo | None = None
    image: ImageInfo | None = None


@dataclass
class _Delivery:
    """A delivery prepared for bagging: what to copy and what we learnt about it."""

    source: Path
    payload_root: Path | None  # folder whose tree is the payload (None for a single file)
    files: list[_StagedFile]
    warnings: list[Problem]
    bag_info: list[tuple[str, str]]
    producer_digests: dict[str, dict[str, str]]  # relpath -> {alg: hex} from an incoming bag
    events: list[premis.EventRecord]
    external_identifier: str
    #: identification of staged batches, running in a helper process while staging goes on
    pending: list[tuple[list[_StagedFile], PendingIdentification]] = field(default_factory=list)


# --------------------------------------------------------------------------- entry point


def ingest(
    app: Application,
    sources: Sequence[Path],
    *,
    collection: str,
    organisation: str | None = None,
    title: str | None = None,
    metadata_csv: Path | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest each source as one package into ``collection``.

    Everything that can be checked before any work (collection, paths, metadata CSV) is checked
    first and raises; a failure of one package afterwards is reported in ``failures`` and does not
    stop the others.
    """
    org = organisation or app.settings.organisation
    progress = progress or NoProgress()
    with app.uow() as uow:
        coll = uow.collections.get(org, collection)
        if coll is None:
            raise NotFound(
                f"collection {collection!r} does not exist in organisation {org!r} "
                f"(create it with: preserve collections add {collection})"
            )
        if not collection_locations(uow, coll):
            raise InvalidInput(
                f"collection {collection!r} has no storage location and there is no default "
                "location (run: preserve init, or preserve locations add)"
            )
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
    metadata = read_metadata_csv(metadata_csv) if metadata_csv else {}
    for listed in metadata:
        if listed not in {p.resolve() for p in resolved}:
            log.warning("metadata CSV lists %s, which is not being ingested", listed)

    # siegfried's helper processes start now, while deliveries are scanned and hashed
    start_pool(app.settings.workers or os.cpu_count() or 1)
    recovered = tuple(recover_interrupted(app))
    results: list[IngestResult] = []
    failures: list[IngestFailure] = []
    for path in resolved:
        try:
            results.append(
                _ingest_one(
                    app,
                    path,
                    organisation=org,
                    collection=collection,
                    title=title,
                    dublin_core=metadata.get(path.resolve(), {}),
                    progress=progress,
                )
            )
        except PreserveError as exc:
            log.error("ingest of %s failed: %s", path, exc)
            failures.append(IngestFailure(str(path), exc))
    return IngestReport(tuple(results), tuple(failures), recovered)


# --------------------------------------------------------------------------- recovery


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner_gone(host: str | None, pid: int | None, started: datetime | None) -> bool:
    if host == socket.gethostname() and pid is not None:
        return pid == os.getpid() or not _pid_alive(pid)
    if started is None:
        return True
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    return (datetime.now(UTC) - started).total_seconds() > STALE_AFTER_SECONDS


def recover_interrupted(app: Application) -> list[str]:
    """Remove what interrupted ingests left behind: their objects on every location, their
    staging folders and their ``ingesting`` rows. Returns the package ids cleaned up."""
    cleaned: list[str] = []
    with app.uow() as uow:
        stale = [
            (p.id, [(c.location.url, c.key_prefix) for c in uow.copies.for_package(p.id)])
            for p in uow.packages.list_interrupted()
            if _owner_gone(p.ingest_host, p.ingest_pid, p.created_at)
        ]
    for package_id, copies in stale:
        try:
            for url, prefix in copies:
                removed = app.storage(url).delete_prefix(prefix)
                log.info(
                    "removed %d objects of interrupted ingest %s from %s", removed, package_id, url
                )
        except StorageError as exc:
            log.warning("could not clean up interrupted ingest %s yet: %s", package_id, exc)
            continue
        with app.uow() as uow:
            package = uow.packages.get(package_id)
            if package is not None and package.status == "ingesting":
                uow.packages.delete(package)
                uow.commit()
        shutil.rmtree(app.settings.staging_dir / package_id, ignore_errors=True)
        cleaned.append(package_id)
    # staging folders whose owner died before the package row was committed
    staging = app.settings.staging_dir
    if staging.is_dir():
        for entry in staging.iterdir():
            owner = entry / "owner.json"
            try:
                info = json.loads(owner.read_text())
            except (OSError, ValueError):
                info = {}
            if info.get("started"):
                gone = _owner_gone(
                    info.get("host"), info.get("pid"), datetime.fromisoformat(info["started"])
                )
            else:  # no owner file: killed right after mkdir, or a live ingest that just made it
                try:
                    gone = time.time() - entry.stat().st_mtime > OWNERLESS_GRACE_SECONDS
                except OSError:
                    continue
            if gone:
                with app.uow() as uow:
                    package = uow.packages.get(entry.name)
                    busy = package is not None and package.status == "ingesting"
                if not busy:
                    shutil.rmtree(entry, ignore_errors=True)
                    log.info("removed orphan staging folder %s", entry)
    return cleaned


# --------------------------------------------------------------------------- one package


def _now() -> datetime:
    return datetime.now(UTC)


def _event(
    event_type: str,
    outcome: str,
    detail: str,
    outcome_detail: str = "",
    objects: Sequence[str] = (),
    agent: premis.AgentRecord | None = None,
) -> premis.EventRecord:
    return premis.EventRecord(
        identifier=str(uuid.uuid4()),
        event_type=event_type,
        occurred_at=_now(),
        outcome=outcome,
        detail=detail,
        outcome_detail=outcome_detail,
        agent=agent or PRESERVE_AGENT,
        objects=tuple(objects),
    )


PRESERVE_AGENT = premis.AgentRecord(name="preserve", version=__version__)


def _ingest_one(
    app: Application,
    source: Path,
    *,
    organisation: str,
    collection: str,
    title: str | None,
    dublin_core: Mapping[str, Sequence[str]],
    progress: Progress,
) -> IngestResult:
    settings = app.settings
    package_id = str(uuid.uuid4())
    staging = settings.staging_dir / package_id
    staging.mkdir(parents=True)
    (staging / "owner.json").write_text(
        json.dumps(
            {"host": socket.gethostname(), "pid": os.getpid(), "started": _now().isoformat()}
        )
    )
    registered = False
    try:
        start = _event(premis.INGESTION_START, "success", f"ingest of {source.name} started")
        delivery = _prepare(app, source, staging)
        delivery.events.insert(0, start)
        algorithms = tuple(dict.fromkeys((*settings.algorithms, TRANSPORT_ALGORITHM)))
        writer = BagWriter(staging / "bag", settings.algorithms)
        _stage_payload(app, delivery, writer, algorithms, progress)
        fingerprint = _fingerprint(delivery.files)

        with app.uow() as uow:
            coll = _collection(uow, organisation, collection)
            existing = uow.packages.find_stored_by_fingerprint(coll.id, fingerprint)
            if existing is not None:
                log.info("%s is identical to package %s: not ingested again", source, existing.id)
                for _files, pending in delivery.pending:
                    pending.cancel()
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
            org_name = coll.organisation.name

        fields = _dublin_core(dublin_core, delivery, title, package_id)
        bag_title = fields["title"][0]
        version = 1
        key_prefix = f"{organisation}/{collection}/{package_id}/v{version}/"

        # the record exists before any byte reaches storage: an interruption is recoverable
        with app.uow() as uow:
            coll = _collection(uow, organisation, collection)
            locations = collection_locations(uow, coll)
            location_info = [(loc.id, loc.name, loc.url) for loc in locations]
            package = uow.packages.add(
                Package(
                    id=package_id,
                    collection_id=coll.id,
                    external_identifier=delivery.external_identifier,
                    title=bag_title,
                    description={k: list(v) for k, v in fields.items()},
                    status="ingesting",
                    version=version,
                    size=sum(f.size for f in delivery.files),
                    file_count=len(delivery.files),
                    payload_fingerprint=fingerprint,
                    bag_info=[],
                    source=str(source),
                    ingest_host=socket.gethostname(),
                    ingest_pid=os.getpid(),
                )
            )
            uow.flush()
            for loc in locations:
                uow.copies.add(
                    Copy(
                        package_id=package.id,
                        location_id=loc.id,
                        key_prefix=key_prefix,
                        status="pending",
                    )
                )
            uow.commit()
        registered = True

        # the payload is stored while the helper process is still identifying it (staged files
        # are linked, not moved, so identification can still read them) ...
        payload_items = [
            (
                f"data/{f.relpath}",
                f.staged or f.source,
                {a: f.digests[a] for a in ("sha256", TRANSPORT_ALGORITHM)},
            )
            for f in delivery.files
        ]
        stored = _store(app, payload_items, key_prefix, location_info, progress, "payload")
        # ... then the formats are known and the tag files can be written and stored
        _identify(app, delivery, progress)
        bag_info = _bag_info(delivery, fields, org_name, collection, package_id)
        delivery.events.extend(
            [
                _event(
                    premis.MESSAGE_DIGEST_CALCULATION,
                    "success",
                    f"computed {', '.join(settings.algorithms)} of {len(delivery.files)} "
                    "payload files while copying them into the package",
                    objects=[f"data/{f.relpath}" for f in delivery.files[:1000]],
                ),
                _identification_event(delivery),
                _event(
                    premis.INFORMATION_PACKAGE_CREATION,
                    "success",
                    f"BagIt 1.0 package {package_id} version {version} created by {SOFTWARE_AGENT}",
                    objects=[package_id],
                ),
            ]
        )
        _write_metadata(writer, delivery, fields, package_id, bag_title)
        summary = writer.finish(bag_info)
        delivery.warnings.extend(writer.warnings)
        tag_digests = {
            path: hash_file(staged, ("sha512", "sha256", TRANSPORT_ALGORITHM))
            for path, staged in _tag_files(summary.path)
        }
        tag_items = [
            (path, summary.path / path, {a: d[a] for a in ("sha256", TRANSPORT_ALGORITHM)})
            for path, (_size, d) in tag_digests.items()
        ]
        tags_stored = _store(app, tag_items, key_prefix, location_info, progress, "metadata")
        for location_id, objects in tags_stored.items():
            stored[location_id].update(objects)
        _register(app, package_id, delivery, _Stored(stored, tag_digests), summary.bag_info)
        shutil.rmtree(staging, ignore_errors=True)
        log.info("package %s stored from %s on %d locations", package_id, source, len(stored))
        return IngestResult(
            source=str(source),
            status="stored",
            package_id=package_id,
            organisation=organisation,
            collection=collection,
            title=bag_title,
            version=version,
            files=summary.payload_files,
            bytes=summary.payload_bytes,
            copies=tuple(name for _, name, _ in location_info),
            key_prefix=key_prefix,
            warnings=tuple(delivery.warnings),
            file_details=tuple(
                IngestedFile(
                    path=f"data/{f.relpath}",
                    size=f.size,
                    puid=f.fmt.puid if f.fmt else "UNKNOWN",
                    mime=f.fmt.mime if f.fmt else "",
                    format_name=f.fmt.format_name if f.fmt else "",
                    format_version=f.fmt.format_version if f.fmt else "",
                    warnings=tuple(f.fmt.warnings) if f.fmt else (),
                )
                for f in delivery.files
            ),
        )
    except BaseException:
        _abandon(app, package_id, staging, registered)
        raise


def _collection(uow: UnitOfWork, organisation: str, slug: str) -> Collection:
    coll = uow.collections.get(organisation, slug)
    if coll is None:  # checked at the start; only a concurrent deletion gets here
        raise NotFound(f"collection {slug!r} does not exist in organisation {organisation!r}")
    return coll


def _abandon(app: Application, package_id: str, staging: Path, registered: bool) -> None:
    """Undo a failed ingest: objects, row and staging. What cannot be undone now is left for
    :func:`recover_interrupted` (the row stays ``ingesting``)."""
    if registered:
        clean = True
        try:
            with app.uow() as uow:
                copies = [
                    (c.location.url, c.key_prefix) for c in uow.copies.for_package(package_id)
                ]
            for url, prefix in copies:
                app.storage(url).delete_prefix(prefix)
        except PreserveError as exc:
            clean = False
            log.warning("could not remove the copies of failed ingest %s: %s", package_id, exc)
        if clean:
            with app.uow() as uow:
                package = uow.packages.get(package_id)
                if package is not None:
                    uow.packages.delete(package)
                    uow.commit()
    shutil.rmtree(staging, ignore_errors=True)


# --------------------------------------------------------------------------- delivery


def _prepare(app: Application, source: Path, staging: Path) -> _Delivery:
    """Work out what the payload is: a folder, a single file, a bag, or an unpacked archive."""
    events: list[premis.EventRecord] = []
    warnings: list[Problem] = []
    name = source.name
    root = source
    if source.is_file() and archives.is_archive(source):
        target = staging / "unpacked"
        warnings.extend(
            archives.unpack(
                source,
                target,
                max_total_bytes=app.settings.max_unpack_bytes,
                max_ratio=app.settings.max_unpack_ratio,
            )
        )
        events.append(_event(premis.UNPACKING, "success", f"unpacked {source.name}"))
        entries = list(target.iterdir())
        root = entries[0] if len(entries) == 1 and entries[0].is_dir() else target
        for suffix in (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".zip", ".tar"):
            if name.lower().endswith(suffix):
                name = name[: -len(suffix)]
                break
    elif not source.is_file() and not source.is_dir():
        raise InvalidInput(f"{source}: not a regular file or folder")

    if root.is_dir() and (root / "bagit.txt").is_file():
        return _prepare_bag(source, root, name, events, warnings)
    if root.is_file():
        if root.stat().st_size == 0:
            warnings.append(Problem("empty-file", root.name, "zero-byte file", "warning"))
        files = [_StagedFile(relpath=root.name, source=root, size=root.stat().st_size)]
        return _Delivery(source, None, files, warnings, [], {}, events, name)
    files, scan_warnings = _scan_folder(root)
    warnings.extend(scan_warnings)
    if not files:
        raise InvalidInput(f"{source}: nothing to ingest (no regular files)")
    return _Delivery(source, root, files, warnings, [], {}, events, name)


def _prepare_bag(
    source: Path, root: Path, name: str, events: list[premis.EventRecord], warnings: list[Problem]
) -> _Delivery:
    """An incoming bag: validate it (fixity on receipt) and keep its bag-info."""
    report = validate_bag(root)
    if not report.valid:
        raise InvalidBag(
            f"{source}: invalid bag ({len(report.errors)} problems): "
            + "; ".join(str(p) for p in report.errors[:20])
            + (" ..." if len(report.errors) > 20 else ""),
            report.errors,
        )
    warnings.extend(report.warnings)
    contents = read_bag(root)
    files: list[_StagedFile] = []
    producer: dict[str, dict[str, str]] = {}
    for manifest_path, digests in sorted(contents.payload.items()):
        real = contents.real_names.get(manifest_path, manifest_path)
        rel = real[len("data/") :]
        path = root / real
        files.append(_StagedFile(relpath=rel, source=path, size=path.lstat().st_size))
        producer[rel] = dict(digests)
    algs = ", ".join(report.algorithms)
    events.append(
        _event(
            premis.VALIDATION,
            "success" if not report.warnings else "warning",
            f"incoming BagIt {report.version} bag validated",
            "; ".join(str(w) for w in report.warnings[:50]),
        )
    )
    events.append(
        _event(
            premis.FIXITY_CHECK,
            "success",
            f"producer checksums ({algs}) verified on receipt for {len(files)} files",
        )
    )
    info = [(k, v) for k, v in contents.bag_info if k.lower() not in _RECOMPUTED]
    external = next((v for k, v in info if k.lower() == "external-identifier"), name)
    return _Delivery(source, root / "data", files, warnings, info, producer, events, external)


_RECOMPUTED = {"payload-oxum", "bag-size", "bagging-date", "bag-software-agent"}


def _scan_folder(root: Path) -> tuple[list[_StagedFile], list[Problem]]:
    """Every regular file under ``root`` (links are not followed), with warnings."""
    files: list[_StagedFile] = []
    warnings: list[Problem] = []

    def walk(folder: Path, rel: str) -> Iterator[None]:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except PermissionError:
            raise InvalidInput(f"{folder}: permission denied") from None
        if not entries and rel:
            warnings.append(
                Problem(
                    "empty-directory",
                    rel.rstrip("/"),
                    "empty folder left out: BagIt cannot hold an empty folder",
                    "warning",
                )
            )
        for entry in entries:
            relpath = f"{rel}{entry.name}"
            try:
                relpath.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidInput(f"{entry.path!r}: file name is not valid UTF-8") from None
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                warnings.append(
                    Problem("symlink-skipped", relpath, "symbolic link not followed", "warning")
                )
            elif stat.S_ISDIR(st.st_mode):
                yield from walk(Path(entry.path), relpath + "/")
            elif stat.S_ISREG(st.st_mode):
                if not os.access(entry.path, os.R_OK):
                    raise InvalidInput(f"{entry.path}: permission denied")
                if st.st_size == 0:
                    warnings.append(Problem("empty-file", relpath, "zero-byte file", "warning"))
                files.append(_StagedFile(relpath=relpath, source=Path(entry.path), size=st.st_size))
            else:
                warnings.append(
                    Problem("special-file-skipped", relpath, "not a regular file", "warning")
                )
        yield None

    for _ in walk(root, ""):
        pass
    errors, name_warnings = check_payload_names(f.relpath for f in files)
    if errors:
        from preserve.errors import NameCollision

        raise NameCollision(f"{root}: " + "; ".join(p.message for p in errors))
    warnings.extend(name_warnings)
    return files, warnings


# --------------------------------------------------------------------------- staging


def _copy_and_hash(src: Path, dest: Path, algorithms: Sequence[str]) -> tuple[int, dict[str, str]]:
    """Copy one file while hashing it: the one read of its bytes."""
    hasher = MultiHasher(algorithms)
    buf = chunk_buffer()
    view = memoryview(buf)
    try:
        with open(src, "rb", buffering=0) as fin, open(dest, "wb", buffering=0) as fout:
            written = 0
            while n := fin.readinto(buf):
                chunk = view[:n]
                hasher.update(chunk)
                while chunk:
                    chunk = chunk[fout.write(chunk) :]
                # let the disk write while the next chunks are hashed: the sync before the
                # copies are verified then finds little left to do
                if (written + n) // WRITEBACK_EVERY != written // WRITEBACK_EVERY:
                    start_writeback(fout.fileno(), 0, 0)
                written += n
    except OSError as exc:
        if exc.errno in NO_SPACE:
            raise StorageFull(f"staging area is full while copying {src}: {exc.strerror}") from exc
        raise InvalidInput(f"{src}: cannot be read: {exc.strerror or exc}") from exc
    return hasher.size, hasher.hexdigests()


def _batches(
    files: Sequence[_StagedFile], count: int = 64, nbytes: int = 32 << 20
) -> Iterator[list[_StagedFile]]:
    """Group small files into one task each (a future per 4 KB file costs more than its copy);
    a large file travels alone so both cores hash large files at once."""
    batch: list[_StagedFile] = []
    size = 0
    for f in files:
        if batch and (len(batch) >= count or size + f.size > nbytes):
            yield batch
            batch, size = [], 0
        batch.append(f)
        size += f.size
    if batch:
        yield batch


def _stage_payload(
    app: Application,
    delivery: _Delivery,
    writer: BagWriter,
    algorithms: Sequence[str],
    progress: Progress,
) -> None:
    total = sum(f.size for f in delivery.files)
    progress.begin("hashing and copying", len(delivery.files), total)

    def one(f: _StagedFile) -> _StagedFile:
        f.staged = writer.payload_path(f.relpath)
        size, digests = _copy_and_hash(f.source, f.staged, algorithms)
        if size != f.size:
            raise InvalidInput(f"{f.source}: changed while it was being read")
        f.digests = digests
        produced = delivery.producer_digests.get(f.relpath, {})
        for alg, expected in produced.items():
            if alg in digests and digests[alg].lower() != expected.lower():
                raise InvalidBag(
                    f"{f.source}: {alg} checksum does not match the producer's manifest",
                    [Problem("checksum-mismatch", f"data/{f.relpath}", f"{alg} mismatch")],
                )
        progress.advance(1, size)
        return f

    workers = app.settings.workers or os.cpu_count() or 1

    def batch(files: list[_StagedFile]) -> list[_StagedFile]:
        return [one(f) for f in files]

    try:
        # hashing large files releases the GIL, so threads use every core; for small files
        # the threads would only pass the GIL to each other
        threads = max(1, workers) if total >= LARGE_AVERAGE * len(delivery.files) else 1
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for done in pool.map(batch, _batches(delivery.files)):
                staged = [f.staged or f.source for f in done]
                delivery.pending.append((done, submit_identification(staged, workers=workers)))
                for f in done:
                    entry = {a: f.digests[a] for a in app.settings.algorithms}
                    writer.add_payload_entry(f.relpath, f.size, entry)
    finally:
        progress.end()


def _fingerprint(files: Sequence[_StagedFile]) -> str:
    """Identity of a payload: names and SHA-512s, independent of order."""
    h = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.relpath):
        h.update(f"{f.digests['sha512']}  {f.relpath}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


# --------------------------------------------------------------------------- identification


def _identify(app: Application, delivery: _Delivery, progress: Progress) -> None:
    """Collect the identifications started while staging; read image properties."""
    progress.begin("identifying formats", len(delivery.files), 0)
    try:
        for files, pending in delivery.pending:
            for f, info in zip(files, pending.result(), strict=True):
                f.fmt = info
                if is_image(info):
                    f.image = image_properties(f.staged or f.source, info.mime)
                    if f.image is not None and not f.image.complete:
                        delivery.warnings.append(
                            Problem(
                                "image-incomplete",
                                f"data/{f.relpath}",
                                f"image does not decode completely: {f.image.decode_error}",
                                "warning",
                            )
                        )
            progress.advance(len(files), 0)
        delivery.pending.clear()
    finally:
        progress.end()


def _identification_event(delivery: _Delivery) -> premis.EventRecord:
    puids: dict[str, int] = {}
    tool = ""
    for f in delivery.files:
        if f.fmt:
            puids[f.fmt.puid] = puids.get(f.fmt.puid, 0) + 1
            tool = f"{f.fmt.tool} ({f.fmt.signature_version})"
    counted = ", ".join(f"{p}: {n}" for p, n in sorted(puids.items()))
    name, _, version = tool.partition(" ")
    agent = premis.AgentRecord(name=name or "siegfried", version=version.strip() or "unknown")
    unknown = puids.get("UNKNOWN", 0)
    return _event(
        premis.FORMAT_IDENTIFICATION,
        "warning" if unknown else "success",
        f"identified {len(delivery.files)} files with {tool}",
        counted,
        agent=agent,
    )


# --------------------------------------------------------------------------- metadata


def _dublin_core(
    fields: Mapping[str, Sequence[str]], delivery: _Delivery, title: str | None, package_id: str
) -> dict[str, list[str]]:
    out = {k: list(v) for k, v in fields.items() if v}
    if title:
        out["title"] = [title]
    if not out.get("title"):
        described = next(
            (v for k, v in delivery.bag_info if k.lower() == "external-description"), None
        )
        out["title"] = [described or delivery.external_identifier]
    identifiers = out.setdefault("identifier", [])
    if f"urn:uuid:{package_id}" not in identifiers:
        identifiers.append(f"urn:uuid:{package_id}")
    return out


def _bag_info(
    delivery: _Delivery,
    fields: Mapping[str, Sequence[str]],
    org_name: str,
    collection: str,
    package_id: str,
) -> list[tuple[str, str]]:
    """bag-info.txt of the AIP: the producer's elements in their order, then ours. Elements that
    should not repeat and that we set (the group is the collection) keep the producer's value
    as a description."""
    info: list[tuple[str, str]] = []
    for label, value in delivery.bag_info:
        if label.lower() in ("bag-group-identifier", "bag-count"):
            info.append(("Internal-Sender-Description", f"producer's {label}: {value}"))
        else:
            info.append((label, value))
    labels = {k.lower() for k, _ in info}
    if "source-organization" not in labels:
        info.insert(0, ("Source-Organization", org_name))
    for k, v in bag_info_from_dublin_core(fields):
        if k.lower() not in labels:
            info.append((k, v))
    if "external-identifier" not in labels:
        info.append(("External-Identifier", delivery.external_identifier))
    info.append(("Internal-Sender-Identifier", f"urn:uuid:{package_id}"))
    info.append(("Bag-Group-Identifier", collection))
    return info


def _file_object(f: _StagedFile) -> premis.FileObject:
    fmt = f.fmt
    return premis.FileObject(
        path=f"data/{f.relpath}",
        size=f.size,
        digests={a: d for a, d in f.digests.items() if a != TRANSPORT_ALGORITHM},
        puid=fmt.puid if fmt else "UNKNOWN",
        format_name=fmt.format_name if fmt else "",
        format_version=fmt.format_version if fmt else "",
        mime=fmt.mime if fmt else "",
        identification_tool=fmt.tool if fmt else "",
        signature_version=fmt.signature_version if fmt else "",
        image=as_dict(f.image) if f.image else None,
    )


def _write_metadata(
    writer: BagWriter,
    delivery: _Delivery,
    fields: Mapping[str, Sequence[str]],
    package_id: str,
    title: str,
) -> None:
    writer.add_tag_file("metadata/dc.xml", dublin_core_xml(fields))
    agents = {e.agent for e in delivery.events}
    with writer.open_tag_file("metadata/premis.xml") as stream:
        premis.write_premis(
            stream,
            package_id,
            (_file_object(f) for f in sorted(delivery.files, key=lambda f: f.relpath)),
            delivery.events,
            sorted(agents, key=lambda a: (a.name, a.version)),
            package_title=title,
        )


# --------------------------------------------------------------------------- storage


def _tag_files(bag_dir: Path) -> list[tuple[str, Path]]:
    """Every tag file of the finished bag (everything outside data/), as (path in bag, file)."""
    out: list[tuple[str, Path]] = []
    for dirpath, dirs, names in os.walk(bag_dir):
        if Path(dirpath) == bag_dir:
            dirs[:] = [d for d in dirs if d != "data"]
        for name in names:
            full = Path(dirpath) / name
            out.append((full.relative_to(bag_dir).as_posix(), full))
    return sorted(out)


@dataclass(frozen=True)
class _Stored:
    """What every location now holds, and the digests of the tag files written at bagging."""

    objects: dict[int, dict[str, StoredObject]]  # location id -> path in bag -> object
    tag_digests: dict[str, tuple[int, dict[str, str]]]  # tag path -> (size, digests)


def _store(
    app: Application,
    items: Sequence[tuple[str, Path, dict[str, str]]],
    key_prefix: str,
    locations: Sequence[tuple[int, str, str]],
    progress: Progress,
    what: str,
) -> dict[int, dict[str, StoredObject]]:
    """Write files of the bag (path in bag, staged file, digests) to every location and verify
    each copy. The last local location hard-links the staged files instead of copying them."""
    ordered = sorted(locations, key=lambda loc: loc[2].startswith("file:"))
    total = sum(staged.stat().st_size for _, staged, _ in items)
    stored: dict[int, dict[str, StoredObject]] = {}
    for index, (location_id, name, url) in enumerate(ordered):
        storage = app.storage(url)
        last_local = index == len(ordered) - 1 and url.startswith("file:")
        progress.begin(f"storing {what} on {name}", len(items), total)
        try:
            objects = storage.put_many(
                [PutItem(key_prefix + path, staged, digests) for path, staged, digests in items],
                link=last_local,
                on_stored=lambda obj: progress.advance(1, obj.size),
            )
        finally:
            progress.end()
        stored[location_id] = {path: obj for (path, _, _), obj in zip(items, objects, strict=True)}
    return stored


def _file_rows(delivery: _Delivery, result: _Stored) -> Iterator[dict[str, object]]:
    """Catalogue rows for every file of the bag: payload with formats, then tag files."""
    for f in delivery.files:
        fmt = f.fmt
        path = f"data/{f.relpath}"
        yield {
            "path": path,
            "path_nfc": unicodedata.normalize("NFC", path),
            "role": "payload",
            "size": f.size,
            "sha512": f.digests.get("sha512"),
            "sha256": f.digests.get("sha256"),
            "digests": {a: d for a, d in f.digests.items() if a not in ("sha512", "sha256")},
            "puid": fmt.puid if fmt else None,
            "format_name": fmt.format_name if fmt else None,
            "format_version": fmt.format_version if fmt else None,
            "mime": fmt.mime if fmt else None,
            "basis": fmt.basis if fmt else None,
            "identification": as_dict(fmt) if fmt else None,
            "image": as_dict(f.image) if f.image else None,
        }
    for path, (size, digests) in sorted(result.tag_digests.items()):
        yield {
            "path": path,
            "path_nfc": unicodedata.normalize("NFC", path),
            "role": "tag",
            "size": size,
            "sha512": digests["sha512"],
            "sha256": digests["sha256"],
            "digests": {},
            "puid": None,
            "format_name": None,
            "format_version": None,
            "mime": None,
            "basis": None,
            "identification": None,
            "image": None,
        }


def _register(
    app: Application,
    package_id: str,
    delivery: _Delivery,
    result: _Stored,
    bag_info: Sequence[tuple[str, str]],
) -> None:
    """One transaction: file rows, events, verified copies, ``stored`` status."""
    stored = result.objects
    now = _now()
    with app.uow() as uow:
        package = uow.packages.get(package_id)
        if package is None:  # removed by someone else's clean-up: our copies are orphans now
            raise StorageError(f"package {package_id} vanished from the catalogue during ingest")
        # a generator: add_many inserts in batches, so 100,000 rows are never all in memory
        uow.files.add_many(package_id, _file_rows(delivery, result))

        agents: dict[tuple[str, str], Agent] = {}

        def agent_for(record: premis.AgentRecord) -> Agent:
            key = (record.name, record.version)
            if key not in agents:
                agents[key] = uow.agents.get_or_create(
                    record.name, record.version, record.agent_type
                )
            return agents[key]

        for e in delivery.events:
            uow.events.add(
                e.event_type,
                e.outcome,
                agent=agent_for(e.agent),
                package_id=package_id,
                detail=e.detail,
                outcome_detail=e.outcome_detail,
                occurred_at=e.occurred_at,
                event_type_uri=premis.event_type_uri(e.event_type),
                event_id=e.identifier,  # the same identifier as in the bag's premis.xml
            )
        for copy in uow.copies.for_package(package_id):
            objects = stored[copy.location_id]
            methods = sorted({o.verified_by for o in objects.values()})
            copy.status = "verified"
            copy.verified_by = ",".join(methods)
            copy.verified_at = now
            copy.last_checked_at = now
            copy.last_outcome = "ok"
            uow.events.add(
                premis.REPLICATION,
                "success",
                agent=agent_for(PRESERVE_AGENT),
                package_id=package_id,
                copy_id=copy.id,
                detail=f"{len(objects)} files written to location {copy.location.name} "
                f"under {copy.key_prefix}",
                outcome_detail=f"every object verified ({', '.join(methods)})",
                occurred_at=now,
            )
        detail = "; ".join(str(w) for w in delivery.warnings[:100])
        uow.events.add(
            premis.INGESTION_END,
            "warning" if delivery.warnings else "success",
            agent=agent_for(PRESERVE_AGENT),
            package_id=package_id,
            detail=f"package stored with {len(stored)} verified copies",
            outcome_detail=detail,
            occurred_at=_now(),
        )
        package.bag_info = [list(item) for item in bag_info]
        package.status = "stored"
        package.stored_at = now
        package.ingest_pid = None
        uow.commit()
