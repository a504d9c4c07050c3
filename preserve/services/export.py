"""Export a package back out as a bag (a DIP), validated, from a copy that proves intact; as a
folder, or packed as a zip or tar to send."""

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
from preserve.checksums import MultiHasher
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
from preserve.values import Problem, ValidationReport

log = logging.getLogger(__name__)


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


def export_package(
    app: Application, package_id: str, destination: Path, format: str | None = None
) -> ExportResult:
    """Write the package out as a bag at ``destination`` from a verified copy, checking every
    file against the catalogue while writing, then validate the bag. Nothing is left at
    ``destination`` unless the whole bag is there and valid.

    ``format`` (default: by the name's ending, ``.zip``, ``.tar``, ``.tar.gz``, else a folder)
    packs the validated bag as an archive holding one folder named after the bag; the archive is
    read back before it gets its name. Missing parent folders of ``destination`` are made (and
    removed again if the export fails).

    A copy found damaged (a file whose size or digests differ from the catalogue's, or a missing
    object) is recorded as a failed fixity check on that copy and the next copy is tried. The bag
    is written into a temporary folder next to ``destination`` whose name says which process
    owns it; those left by killed exports are removed first."""
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
        files = [(f.path, f.size, f.sha512, f.sha256) for f in uow.files.iter_for_package(p.id)]
        all_copies = [(c.location.name, c.status) for c in uow.copies.for_package(p.id)]
        copies = [
            (c.id, c.location.name, c.location.url, c.key_prefix, c.location.offline)
            for c in uow.copies.for_package(p.id)
            if c.status == "verified"
        ]
    copies.sort(key=lambda c: c[4])  # online copies first
    if not copies:
        held = ", ".join(f"{name} {status}" for name, status in all_copies) or "none"
        raise StorageError(
            f"package {package_id} has no verified copy to export from (copies: {held})"
        )
    created = make_parents(target.parent)
    try:
        return _export_from_copies(
            app, package_id, destination, target, fmt, name, files, copies, created
        )
    except BaseException:
        with critical():
            remove_folders(created)
        raise


def _export_from_copies(
    app: Application,
    package_id: str,
    destination: Path,
    target: Path,
    fmt: Format,
    name: str,
    files: list[tuple[str, int, str | None, str | None]],
    copies: list[tuple[int, str, str, str, bool]],
    created: list[Path],
) -> ExportResult:
    removed = remove_abandoned(target.parent, "an export")
    owner = owner_tag()
    errors: list[str] = []
    damaged: list[str] = []
    for copy_id, location, url, prefix, _offline in copies:
        work = target.parent / partial_name(target.name, owner)
        # an archive's bag is assembled in a folder of its own, named as the archive's folder
        partial = work if fmt == "folder" else work / name
        try:
            nbytes = _download(app.storage(url), prefix, files, partial)
            report = validate_bag(partial)
            if not report.valid:
                raise InvalidBag(f"exported bag from {location} is invalid", report.errors)
        except _Damaged as exc:
            shutil.rmtree(work, ignore_errors=True)
            message = _record_damage(app, package_id, copy_id, location, target, exc)
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
        archive = None
        try:
            if fmt == "folder":
                if destination.exists():
                    destination.rmdir()
                partial.rename(destination)
            else:
                archive = serialise_bag(partial, destination, fmt, name=name)
        finally:
            with critical():
                shutil.rmtree(work, ignore_errors=True)
        _record_dissemination(app, package_id, location, destination, fmt)
        # the report names the bag where it now is, not the temporary folder it was checked in
        report = _as_exported(report, destination, "" if fmt == "folder" else name)
        advice = _repair_advice(package_id)
        return ExportResult(
            package_id,
            str(destination),
            location,
            report.payload_files,
            report.payload_bytes,
            report,
            tuple(
                f"{line}; exported from location {location} instead; {advice}" for line in damaged
            ),
            tuple(str(r) for r in removed),
            format=fmt,
            archive_bytes=None if archive is None else archive.bytes,
            algorithms=_algorithms(report),
            created_folders=tuple(str(f) for f in created),
            bag_files=len(files),
            bag_bytes=nbytes,
        )
    advice = f"; {_repair_advice(package_id)}" if damaged else ""
    if not errors:
        raise FixityMismatch(
            f"package {package_id} could not be exported: every copy is damaged: "
            + "; ".join(damaged)
            + advice
        )
    raise StorageError(
        f"package {package_id} could not be exported: " + "; ".join(damaged + errors) + advice
    )


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
    """A copy's object differs from the catalogue, or is missing: what was read until then."""

    def __init__(
        self, problem: FileProblem, files_read: int, bytes_read: int, digests: dict[str, int]
    ) -> None:
        super().__init__(f"{problem.path}: {problem.message}")
        self.problem = problem
        self.files_read = files_read
        self.bytes_read = bytes_read
        self.digests = digests


def _download(
    storage: Any, prefix: str, files: list[tuple[str, int, str | None, str | None]], dest: Path
) -> int:
    total = 0
    counts: dict[str, int] = {}
    for read, (path, size, sha512, sha256) in enumerate(files, start=1):
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        hasher = MultiHasher(("sha512", "sha256"))
        try:
            with storage.open(prefix + path) as stream, open(target, "wb") as out:
                while chunk := stream.read(1 << 20):
                    hasher.update(chunk)
                    out.write(chunk)
        except ObjectNotFound as exc:
            problem = FileProblem(path, "missing", f"object is missing: {exc}")
            raise _Damaged(problem, read - 1, total, counts) from exc
        except OSError as exc:
            if exc.errno in NO_SPACE:
                raise StorageFull(f"{dest}: no space left while exporting {path}") from exc
            raise
        if hasher.size != size:
            message = f"size is {hasher.size} bytes, expected {size}"
            problem = FileProblem(path, "mismatch", message)
            raise _Damaged(problem, read, total + hasher.size, counts)
        digests = hasher.hexdigests()
        references = {"sha256": sha256, "sha512": sha512}  # in the order fixity reports them
        for algorithm, reference in references.items():
            if reference:
                counts[algorithm] = counts.get(algorithm, 0) + 1
        for algorithm, reference in references.items():
            if reference and digests[algorithm] != reference.lower():
                message = f"{algorithm} is {digests[algorithm]}, expected {reference.lower()}"
                problem = FileProblem(path, "mismatch", message)
                raise _Damaged(problem, read, total + size, counts)
        total += size
    return total


def _record_damage(
    app: Application,
    package_id: str,
    copy_id: int,
    location: str,
    destination: Path,
    damage: _Damaged,
) -> str:
    """Record what the export found as a failed fixity check of the copy; one line saying so."""
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
    return f"copy on location {location} is damaged: {damage}; {recorded}"


# Temporary folders (``.<name>.partial-<host>-<pid>-<start>-<token>``) and the removal of those
# left by killed exports: preserve.bagit.serialise, shared with bag make.


def _record_dissemination(
    app: Application, package_id: str, location: str, dest: Path, fmt: Format = "folder"
) -> None:
    packed = "a bag" if fmt == "folder" else f"a bag in a {fmt} archive"
    with app.uow() as uow:
        agent = uow.agents.get_or_create("preserve", __version__, "software")
        event = uow.events.add(
            premis.DISSEMINATION,
            "success",
            agent=agent,
            package_id=package_id,
            detail=f"package exported as {packed} to {dest} from location {location}",
            outcome_detail="every file matched its reference digests; the bag validated"
            + ("" if fmt == "folder" else "; the archive read back as packed"),
            occurred_at=datetime.now(UTC),
        )
        link_actor_and_owner(uow, app.actor, event)  # who exported it, and the owner
        uow.commit()
