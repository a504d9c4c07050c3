"""Export a package back out as a bag (a DIP), validated, from a copy that proves intact, or
assembled from the good files of each copy when none does; as a folder, or packed as a zip or
tar to send.

Any version of the package can be exported (the current one by default) as a complete bag: a
stored version holds only the payload files it brought itself and names the others in its
``fetch.txt`` (an earlier version holds them), so each payload file is read from the version
that stores it (``files.stored_version``, under its path there), and the version's tag files are
written without ``fetch.txt``, their tag manifests without its line. The package's event files
(written to storage after ingest, ``<package>/events/``) go under ``metadata/events/``, listed in
the tag manifests (:func:`add_event_files`).
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from preserve import __version__, premis
from preserve.bagit import validate_bag
from preserve.bagit.manifest import manifest_line
from preserve.bagit.serialise import (
    Format,
    bag_name,
    check_parents,
    choose_format,
    make_parents,
    owner_tag,
    partial_name,
    remove_abandoned,
    remove_folders,
    serialise_bag,
)
from preserve.bootstrap import Application
from preserve.checksums import MultiHasher, bagit_token
from preserve.errors import (
    FixityMismatch,
    InvalidBag,
    InvalidInput,
    NotFound,
    ObjectNotFound,
    StorageError,
    StorageFull,
)
from preserve.fsio import NO_SPACE
from preserve.interrupts import critical
from preserve.services.admin import link_actor_and_owner
from preserve.services.fixity import FileProblem, record_damage
from preserve.services.packages import choose_version
from preserve.text import plural
from preserve.values import Problem, ValidationReport

log = logging.getLogger(__name__)


#: Where a package's event files go in an exported bag (a tag folder)
EVENTS_FOLDER = "metadata/events/"


@dataclass(frozen=True)
class ExportFile:
    """A file of the exported version: its path in the bag, the version whose folder holds its
    bytes and its path there, and the digests the catalogue holds."""

    path: str
    size: int
    sha512: str | None
    sha256: str | None
    stored_version: int
    stored_path: str
    role: str = "payload"


@dataclass(frozen=True)
class EventFileRef:
    """An event file of the package on storage (relative to its folder: ``events/...``)."""

    path: str
    size: int
    sha512: str
    sha256: str
    created_at: datetime


@dataclass(frozen=True)
class _Source:
    """A location to export from: its verified copy of every version the export reads."""

    location: str
    url: str
    offline: bool
    #: version -> (copy id, key prefix)
    copies: dict[int, tuple[int, str]]
    #: when the package's first copy on this location was made: the event files written since
    #: are there (see :func:`preserve.services.journal.check_event_files`)
    since: datetime | None = None

    @property
    def package_folder(self) -> str:
        """``<org>/<coll>/<package>/``: the folder of every version and of the event files."""
        prefix = next(iter(self.copies.values()))[1]
        return prefix.rstrip("/").rsplit("/", 1)[0] + "/"


@dataclass(frozen=True)
class ExportResult:
    package_id: str
    destination: str
    location: str
    #: payload files and their bytes (tag files apart, as every command counts)
    files: int
    bytes: int
    report: ValidationReport
    #: copies found damaged on the way, one line each (recorded as failed fixity checks)
    damaged: tuple[str, ...] = ()
    #: temporary folders of killed exports removed next to the destination
    removed_leftovers: tuple[str, ...] = ()
    #: "folder", or the archive's format ("zip", "tar", "tar.gz")
    format: Format = "folder"
    #: size of the archive file (None for a folder)
    archive_bytes: int | None = None
    #: the payload manifests' algorithms
    algorithms: tuple[str, ...] = ()
    #: folders made for the destination (its missing parents)
    created_folders: tuple[str, ...] = ()
    #: every file of the bag, tag files included, and their bytes
    bag_files: int = 0
    bag_bytes: int = 0
    #: the version exported, and the package's current one
    version: int = 1
    current_version: int = 1
    #: the package's event files written under metadata/events/
    event_files: int = 0


def export_package(
    app: Application,
    package_id: str,
    destination: Path,
    format: str | None = None,
    version: int | None = None,
    *,
    location: str | None = None,
    record: bool = True,
) -> ExportResult:
    """Write ``version`` of the package (by default its current one) out as a complete bag at
    ``destination`` from verified copies on one location, checking every file against the
    catalogue while writing, then validate the bag. When no location gives a whole bag (or
    none holds verified copies), the bag is assembled from the good files of each copy
    (:func:`_assemble`); a file with no good copy anywhere is named in the refusal. Nothing is
    left at ``destination`` unless the whole bag is there and valid. An unknown version is
    :class:`NotFound` naming the versions there are; a version not stored (being made, or
    failed) :class:`InvalidInput`.

    ``format`` (default: by the name's ending, ``.zip``, ``.tar``, ``.tar.gz``, else a folder)
    packs the validated bag as an archive holding one folder named after the bag; the archive is
    read back before it gets its name. Missing parent folders of ``destination`` are made (and
    removed again if the export fails).

    A copy found damaged (a file whose size or digests differ from the catalogue's, or a missing
    object) is recorded as a failed fixity check on that copy (of the version whose folder held
    the file) and the next location is tried. The bag
    is written into a temporary folder next to ``destination`` whose name says which process
    owns it; those left by killed exports are removed first.

    ``location`` reads from that location's copies only (a restore test of one location: no
    other location stands in for a damaged copy there); ``record`` False leaves out the PREMIS
    dissemination event (the caller records its own)."""
    destination = Path(destination)
    fmt = choose_format(destination, format)
    name = bag_name(destination, fmt)
    if fmt == "folder":
        if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
            raise InvalidInput(f"{destination}: already exists and is not an empty folder")
    elif destination.exists() or destination.is_symlink():
        raise InvalidInput(f"{destination}: already exists")
    target = destination.absolute()
    check_parents(destination)
    with app.uow() as uow:
        p = uow.packages.get(package_id)
        if p is None:
            raise NotFound(f"package {package_id} does not exist")
        if p.status != "stored":
            raise InvalidInput(f"package {package_id} is not stored (status {p.status})")
        current = p.version
        number = choose_version(uow, package_id, current, version)
        files = [
            ExportFile(
                f.path,
                f.size,
                f.sha512,
                f.sha256,
                f.stored_version,
                f.stored_path or f.path,
                f.role,
            )
            for f in uow.files.iter_for_package(p.id, version=number)
            if not (f.role == "tag" and f.path == "fetch.txt")
        ]
        had_fetch = uow.files.get_by_path(p.id, "fetch.txt", version=number) is not None
        events = [
            EventFileRef(e.path, e.size, e.sha512, e.sha256, e.created_at)
            for e in uow.journal.files_of(p.id)
        ]
        needed = sorted({f.stored_version for f in files} | {number})
        all_copies = uow.copies.for_package(p.id)
        if location is not None:
            all_copies = [c for c in all_copies if c.location.name == location]
        sources = _sources(all_copies, needed)
        pieces = _pieces(all_copies, needed)
        held = ", ".join(
            f"{c.location.name} {c.status}" + (f" (v{c.version})" if current > 1 else "")
            for c in all_copies
            if c.version in needed
        )
    which = f"package {package_id}" if current == 1 else f"version {number} of {package_id}"
    reads = "" if needed == [number] else f" (it reads versions {', '.join(map(str, needed))})"
    refusal = (
        f"{which} has no verified copy to export from{reads} (copies: {held or 'none'})",
        f"preserve fixity --package {package_id} names what is damaged",
    )
    if not sources and not all(pieces.get(v) for v in needed):
        raise StorageError(f"{refusal[0]}; {refusal[1]}")
    created = make_parents(target.parent)
    bag = _Bag(number, current, files, had_fetch, events, record)
    try:
        return _export_from_copies(
            app,
            package_id,
            destination,
            target,
            fmt,
            name,
            bag,
            sources,
            created,
            pieces,
            refusal if not sources else None,
        )
    except BaseException:
        with critical():
            remove_folders(created)
        raise


@dataclass(frozen=True)
class _Bag:
    """What to write: the files of version ``number`` of the package (fetch.txt apart), whether
    it has a fetch.txt (whose line the tag manifests then lose), the package's event files."""

    number: int
    current: int
    files: list[ExportFile]
    had_fetch: bool
    events: list[EventFileRef]
    #: record the PREMIS dissemination event once the bag is in place
    record: bool = True


def _sources(copies: Any, needed: list[int]) -> list[_Source]:
    """The locations holding a verified copy of every version in ``needed``, online ones
    first (then by name)."""
    by_location: dict[str, dict[int, Any]] = {}
    first: dict[str, datetime] = {}
    for c in copies:
        name = c.location.name
        first[name] = min(first.get(name, c.created_at), c.created_at)
        if c.status == "verified" and c.version in needed:
            by_location.setdefault(name, {})[c.version] = c
    sources = []
    for name, held in by_location.items():
        if set(held) != set(needed):
            continue
        location = next(iter(held.values())).location
        sources.append(
            _Source(
                name,
                location.url,
                location.offline,
                {v: (c.id, c.key_prefix) for v, c in sorted(held.items())},
                first[name],
            )
        )
    return sorted(sources, key=lambda s: s.offline)


@dataclass(frozen=True)
class _Piece:
    """A copy of one version that files may be read from when no location holds the whole
    package intact: the export then takes each file from whichever copy holds it good."""

    location: str
    url: str
    copy_id: int
    key_prefix: str
    verified: bool
    #: the event files written since the package's first copy on the location are there
    since: datetime

    @property
    def package_folder(self) -> str:
        return self.key_prefix.rstrip("/").rsplit("/", 1)[0] + "/"


def _pieces(copies: Any, needed: list[int]) -> dict[int, list[_Piece]]:
    """version -> the copies of it to read files from (every stored copy, whatever its status:
    each file is verified as it is read), verified ones first, then online ones, then by
    location name."""
    first: dict[str, datetime] = {}
    for c in copies:
        name = c.location.name
        first[name] = min(first.get(name, c.created_at), c.created_at)
    found: dict[int, list[tuple[tuple[bool, bool, str], _Piece]]] = {}
    for c in copies:
        if c.version not in needed or c.status == "pending":
            continue
        loc = c.location
        piece = _Piece(
            loc.name, loc.url, c.id, c.key_prefix, c.status == "verified", first[loc.name]
        )
        found.setdefault(c.version, []).append(
            ((c.status != "verified", bool(loc.offline), loc.name), piece)
        )
    return {v: [p for _k, p in sorted(ps, key=lambda x: x[0])] for v, ps in found.items()}


def _export_from_copies(
    app: Application,
    package_id: str,
    destination: Path,
    target: Path,
    fmt: Format,
    name: str,
    bag: _Bag,
    sources: list[_Source],
    created: list[Path],
    pieces: dict[int, list[_Piece]] | None = None,
    refusal: tuple[str, str] | None = None,
) -> ExportResult:
    removed = remove_abandoned(target.parent, "an export")
    owner = owner_tag()
    errors: list[str] = []
    damaged: list[str] = []
    #: (copy id, stored path) found damaged by this export, and the copies it recorded
    bad: set[tuple[int, str]] = set()
    for source in sources:
        location = source.location
        work = target.parent / partial_name(target.name, owner)
        # an archive's bag is assembled in a folder of its own, named as the archive's folder
        partial = work if fmt == "folder" else work / name
        try:
            storage = app.storage(source.url)
            prefixes = {v: prefix for v, (_id, prefix) in source.copies.items()}
            nbytes = _download(storage, prefixes, bag.files, partial)
            # the event files written since the package came to this location are on it
            events = [e for e in bag.events if source.since is None or e.created_at >= source.since]
            nbytes += add_event_files(storage, source.package_folder, events, partial)
            if bag.had_fetch or events:
                _rewrite_tag_manifests(partial, events)
            report = validate_bag(partial)
            if not report.valid:
                raise InvalidBag(f"exported bag from {location} is invalid", report.errors)
        except _Damaged as exc:
            shutil.rmtree(work, ignore_errors=True)
            copy_id = source.copies[exc.version][0]
            bad.add((copy_id, exc.problem.path))
            message = _record_damage(app, package_id, copy_id, location, target, exc, bag.current)
            log.info("export of %s: %s", package_id, message)
            damaged.append(message)
            continue
        except (StorageError, InvalidBag) as exc:
            shutil.rmtree(work, ignore_errors=True)
            if isinstance(exc, StorageFull):
                raise
            log.info("export of %s from %s failed: %s", package_id, location, exc)
            errors.append(f"{location}: {exc}")
            continue
        except BaseException:
            with critical():
                shutil.rmtree(work, ignore_errors=True)
            raise
        # a good bag: what fails from here on concerns the destination, not the copy
        return _place(
            app,
            package_id,
            destination,
            fmt,
            name,
            bag,
            _Assembled(work, partial, report, nbytes, len(events), f"location {location}"),
            damaged,
            removed,
            created,
        )
    # no location holds the whole package intact: each file from whichever copy holds it good
    missing: list[str] = []
    if pieces:
        work = target.parent / partial_name(target.name, owner)
        partial = work if fmt == "folder" else work / name
        try:
            assembled = _assemble(
                app, package_id, target, bag, pieces, partial, bad, damaged, missing, errors
            )
        except BaseException:
            with critical():
                shutil.rmtree(work, ignore_errors=True)
            raise
        if assembled is not None:
            assembled = dataclasses.replace(assembled, work=work)
            return _place(
                app, package_id, destination, fmt, name, bag, assembled, damaged, removed, created
            )
        shutil.rmtree(work, ignore_errors=True)
    lacking = "; ".join(missing)
    if refusal is not None:
        found = "; ".join([*damaged, lacking] if lacking else damaged)
        raise (FixityMismatch if lacking else StorageError)(
            f"{refusal[0]}; " + (f"{found}; " if found else "") + refusal[1]
        )
    advice = f"; {_repair_advice(package_id)}" if damaged else ""
    if lacking:
        damaged.append(lacking)
    if not errors:
        raise FixityMismatch(
            f"package {package_id} could not be exported: every copy is damaged: "
            + "; ".join(damaged)
            + advice
        )
    raise StorageError(
        f"package {package_id} could not be exported: " + "; ".join(damaged + errors) + advice
    )


@dataclass(frozen=True)
class _Assembled:
    """A bag written and validated in its temporary folder, and where its files came from."""

    work: Path
    partial: Path
    report: ValidationReport
    nbytes: int
    event_files: int
    #: "location default", or "locations default and second"
    origin: str


def _place(
    app: Application,
    package_id: str,
    destination: Path,
    fmt: Format,
    name: str,
    bag: _Bag,
    done: _Assembled,
    damaged: list[str],
    removed: list[Path],
    created: list[Path],
) -> ExportResult:
    """Move the good bag to ``destination`` (or pack it there), record the dissemination."""
    archive = None
    try:
        if fmt == "folder":
            if destination.exists():
                destination.rmdir()
            done.partial.rename(destination)
        else:
            archive = serialise_bag(done.partial, destination, fmt, name=name)
    finally:
        with critical():
            shutil.rmtree(done.work, ignore_errors=True)
    if bag.record:
        _record_dissemination(app, package_id, done.origin, destination, fmt, bag, done.event_files)
    # the report names the bag where it now is, not the temporary folder it was checked in
    report = _as_exported(done.report, destination, "" if fmt == "folder" else name)
    advice = _repair_advice(package_id)
    return ExportResult(
        package_id,
        str(destination),
        done.origin.split(" ", 1)[1],
        report.payload_files,
        report.payload_bytes,
        report,
        tuple(f"{line}; exported from {done.origin} instead; {advice}" for line in damaged),
        tuple(str(r) for r in removed),
        format=fmt,
        archive_bytes=None if archive is None else archive.bytes,
        algorithms=_algorithms(report),
        created_folders=tuple(str(f) for f in created),
        bag_files=len(bag.files) + done.event_files,
        bag_bytes=done.nbytes,
        version=bag.number,
        current_version=bag.current,
        event_files=done.event_files,
    )


def _assemble(
    app: Application,
    package_id: str,
    target: Path,
    bag: _Bag,
    pieces: dict[int, list[_Piece]],
    partial: Path,
    bad: set[tuple[int, str]],
    damaged: list[str],
    missing: list[str],
    errors: list[str],
) -> _Assembled | None:
    """Write the bag into ``partial`` taking each file from the first copy (of the version
    that stores it) whose bytes match the catalogue as they are read; damage found in a copy
    still taken as verified is recorded as a failed fixity check (added to ``damaged``).
    None, with the files no copy holds good in ``missing``, when the bag cannot be made."""
    recorded = {copy_id for copy_id, _p in bad}
    used: list[str] = []
    nbytes = 0
    for f in bag.files:
        found: list[str] = []
        for piece in pieces.get(f.stored_version, []):
            if (piece.copy_id, f.stored_path) in bad:
                found.append(f"damaged on {piece.location}")
                continue
            try:
                storage = app.storage(piece.url)
                nbytes += _download(storage, {f.stored_version: piece.key_prefix}, [f], partial)
            except _Damaged as exc:
                bad.add((piece.copy_id, f.stored_path))
                found.append(f"damaged on {piece.location}")
                if piece.verified and piece.copy_id not in recorded:
                    recorded.add(piece.copy_id)
                    damaged.append(
                        _record_damage(
                            app, package_id, piece.copy_id, piece.location, target, exc, bag.current
                        )
                    )
                continue
            except StorageError as exc:
                if isinstance(exc, StorageFull):
                    raise
                found.append(f"unreadable on {piece.location}")
                errors.append(f"{piece.location}: {exc}")
                continue
            if piece.location not in used:
                used.append(piece.location)
            break
        else:
            version = f" (of version {f.stored_version})" if bag.current > 1 else ""
            missing.append(
                f"{f.stored_path}{version} has no good copy on any location ("
                + (", ".join(found) or "no copy")
                + ")"
            )
    if missing:
        return None
    events: list[EventFileRef] = []
    where = {p.location: p for ps in pieces.values() for p in ps}
    for e in bag.events:
        for piece in where.values():
            if e.created_at < piece.since:
                continue  # written before the package came to that location
            try:
                nbytes += add_event_files(
                    app.storage(piece.url), piece.package_folder, [e], partial
                )
            except StorageError as exc:
                if isinstance(exc, StorageFull):
                    raise
                errors.append(f"{piece.location}: {exc}")
                continue
            events.append(e)
            break
        else:
            missing.append(f"event file {e.path} has no good copy on any location")
    if missing:
        return None
    if bag.had_fetch or events:
        _rewrite_tag_manifests(partial, events)
    report = validate_bag(partial)
    if not report.valid:
        errors.append(f"the bag assembled from {', '.join(used)} is invalid")
        return None
    used.sort()
    origin = (
        f"location {used[0]}"
        if len(used) == 1
        else f"locations {', '.join(used[:-1])} and {used[-1]}"
    )
    return _Assembled(partial, partial, report, nbytes, len(events), origin)


def _repair_advice(package_id: str) -> str:
    """What to do about a copy the export found damaged (the export checks it only up to the
    first damaged file, and nothing repairs it on the way)."""
    return (
        f"run preserve fixity --package {package_id} to check every copy in full; "
        "the damaged copy is not repaired yet"
    )


def _as_exported(report: ValidationReport, destination: Path, name: str) -> ValidationReport:
    """The report of the bag validated in its temporary folder, naming the destination (the
    folder, or the archive with the files as its members, under ``name``)."""

    def member(problem: Problem) -> Problem:
        if not name:
            return problem
        return dataclasses.replace(problem, path=f"{name}/{problem.path}".rstrip("/"))

    return dataclasses.replace(
        report,
        path=str(destination),
        errors=tuple(member(p) for p in report.errors),
        warnings=tuple(member(p) for p in report.warnings),
    )


def _algorithms(report: ValidationReport) -> tuple[str, ...]:
    """The payload manifests' algorithms of the exported bag, sha512 first."""
    return tuple(sorted(report.algorithms, key=lambda a: a != "sha512"))


class _Damaged(StorageError):
    """A copy's object differs from the catalogue, or is missing: what was read until then, and
    the version whose folder (copy) holds the object."""

    def __init__(
        self,
        problem: FileProblem,
        files_read: int,
        bytes_read: int,
        digests: dict[str, int],
        version: int = 1,
    ) -> None:
        super().__init__(f"{problem.path}: {problem.message}")
        self.problem = problem
        self.files_read = files_read
        self.bytes_read = bytes_read
        self.digests = digests
        self.version = version


def _download(storage: Any, prefixes: dict[int, str], files: list[ExportFile], dest: Path) -> int:
    """Copy every file from the folder of the version that stores it to its path in the bag
    at ``dest``, checking its size and digests against the catalogue; the bytes copied."""
    total = 0
    counts: dict[str, int] = {}
    for read, f in enumerate(files, start=1):
        path, size, sha512, sha256 = f.path, f.size, f.sha512, f.sha256
        # damage is recorded on the copy of the version whose folder holds the object, under
        # the object's path there
        held, stored = f.stored_version, f.stored_path
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        hasher = MultiHasher(("sha512", "sha256"))
        try:
            with storage.open(prefixes[held] + stored) as stream, open(target, "wb") as out:
                while chunk := stream.read(1 << 20):
                    hasher.update(chunk)
                    out.write(chunk)
        except ObjectNotFound as exc:
            problem = FileProblem(stored, "missing", f"object is missing: {exc}")
            raise _Damaged(problem, read - 1, total, counts, held) from exc
        except OSError as exc:
            if exc.errno in NO_SPACE:
                raise StorageFull(f"{dest}: no space left while exporting {path}") from exc
            raise
        if hasher.size != size:
            message = f"size is {hasher.size} bytes, expected {size}"
            problem = FileProblem(stored, "mismatch", message)
            raise _Damaged(problem, read, total + hasher.size, counts, held)
        digests = hasher.hexdigests()
        references = {"sha256": sha256, "sha512": sha512}  # in the order fixity reports them
        for algorithm, reference in references.items():
            if reference:
                counts[algorithm] = counts.get(algorithm, 0) + 1
        for algorithm, reference in references.items():
            if reference and digests[algorithm] != reference.lower():
                message = f"{algorithm} is {digests[algorithm]}, expected {reference.lower()}"
                problem = FileProblem(stored, "mismatch", message)
                raise _Damaged(problem, read, total + size, counts, held)
        total += size
    return total


def add_event_files(
    storage: Any, package_folder: str, events: list[EventFileRef], dest: Path
) -> int:
    """Copy the package's event files (PREMIS events recorded after ingest, stored under
    ``<package_folder>events/``) into the bag at ``dest`` under :data:`EVENTS_FOLDER`,
    checking each against the catalogue (``event_files``); the bytes copied.
    :func:`_rewrite_tag_manifests` then lists them. A missing or damaged event file makes
    this location unusable for the export (:class:`StorageError`): the next one is tried."""
    total = 0
    for e in events:
        inside = e.path.removeprefix("events/")
        target = dest / EVENTS_FOLDER / inside
        target.parent.mkdir(parents=True, exist_ok=True)
        hasher = MultiHasher(("sha512", "sha256"))
        try:
            with storage.open(package_folder + e.path) as stream, open(target, "wb") as out:
                while chunk := stream.read(1 << 20):
                    hasher.update(chunk)
                    out.write(chunk)
        except ObjectNotFound as exc:
            raise StorageError(f"event file {e.path} is missing: {exc}") from exc
        except OSError as exc:
            if exc.errno in NO_SPACE:
                raise StorageFull(f"{dest}: no space left while exporting {e.path}") from exc
            raise
        digests = hasher.hexdigests()
        if hasher.size != e.size or digests["sha256"] != e.sha256.lower():
            raise StorageError(
                f"event file {e.path} differs from the catalogue ({hasher.size} bytes, sha256 "
                f"{digests['sha256']}; expected {e.size} bytes, sha256 {e.sha256.lower()})"
            )
        total += e.size
    return total


def _rewrite_tag_manifests(bag: Path, events: list[EventFileRef]) -> None:
    """The exported bag's tag manifests: without the line of ``fetch.txt`` (not exported: every
    payload file is in ``data/``), with a line for each event file added."""
    from preserve.bagit.manifest import TAGMANIFEST_NAME

    added = [EVENTS_FOLDER + e.path.removeprefix("events/") for e in events]
    for manifest in sorted(bag.iterdir()):
        m = TAGMANIFEST_NAME.fullmatch(manifest.name)
        if m is None:
            continue
        algorithm = bagit_token(m.group(1))
        lines = manifest.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [line for line in lines if line.rstrip("\r\n").split(None, 1)[1:] != ["fetch.txt"]]
        for path in added:
            hasher = MultiHasher((algorithm,))
            with open(bag / path, "rb") as stream:
                while chunk := stream.read(1 << 20):
                    hasher.update(chunk)
            kept.append(manifest_line(hasher.hexdigests()[algorithm], path))
        with open(manifest, "w", encoding="utf-8", newline="\n") as out:
            out.write("".join(kept))


def _record_damage(
    app: Application,
    package_id: str,
    copy_id: int,
    location: str,
    destination: Path,
    damage: _Damaged,
    current: int = 1,
) -> str:
    """Record what the export found as a failed fixity check of the copy; one line saying so
    (naming the version the copy holds when the package has several)."""
    check = record_damage(
        app,
        package_id=package_id,
        copy_id=copy_id,
        problems=(damage.problem,),
        files_checked=damage.files_read,
        bytes_checked=damage.bytes_read,
        digests_checked=damage.digests,
        digests="sha256, sha512",
        reading=f" while exporting the package to {destination}",
        scope="the export stopped at the first damaged file: the other files, unexpected "
        "objects and the manifests of this copy were not checked (preserve fixity checks them)",
    )
    recorded = (
        f"recorded as a failed fixity check ({check.outcome})"
        if check is not None
        else "not recorded: the copy no longer exists"
    )
    copy = "copy" if current == 1 else f"copy of version {damage.version}"
    return f"{copy} on location {location} is damaged: {damage}; {recorded}"


# Temporary folders (``.<name>.partial-<host>-<pid>-<start>-<token>``) and the removal of those
# left by killed exports: preserve.bagit.serialise, shared with bag make.


def _record_dissemination(
    app: Application,
    package_id: str,
    origin: str,
    dest: Path,
    fmt: Format,
    bag: _Bag,
    event_files: int,
) -> None:
    packed = "a bag" if fmt == "folder" else f"a bag in a {fmt} archive"
    what = "package" if bag.current == 1 else f"version {bag.number} of the package"
    events = (
        f" (with the package's {plural(event_files, 'event file')}, under {EVENTS_FOLDER})"
        if event_files
        else ""
    )
    with app.uow() as uow:
        agent = uow.agents.get_or_create("preserve", __version__, "software")
        event = uow.events.add(
            premis.DISSEMINATION,
            "success",
            agent=agent,
            package_id=package_id,
            detail=f"{what} exported as {packed} to {dest} from {origin}",
            outcome_detail=f"every file{events} matched its reference digests; the bag "
            "validated" + ("" if fmt == "folder" else "; the archive read back as packed"),
            occurred_at=datetime.now(UTC),
            version=bag.number,
        )
        link_actor_and_owner(uow, app.actor, event)  # who exported it, and the owner
        uow.commit()
