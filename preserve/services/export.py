"""Export a package back out as a bag (a DIP), validated, from a copy that proves intact."""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from preserve import __version__, premis
from preserve.bagit import validate_bag
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
from preserve.processes import process_alive, process_start_time
from preserve.services.fixity import FileProblem, record_damage
from preserve.values import ValidationReport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportResult:
    package_id: str
    destination: str
    location: str
    files: int
    bytes: int
    report: ValidationReport
    #: copies found damaged on the way, one line each (recorded as failed fixity checks)
    damaged: tuple[str, ...] = ()
    #: temporary folders of killed exports removed next to the destination
    removed_leftovers: tuple[str, ...] = ()


def export_package(app: Application, package_id: str, destination: Path) -> ExportResult:
    """Write the package out as a bag at ``destination`` from a verified copy, checking every
    file against the catalogue while writing, then validate the bag. Nothing is left at
    ``destination`` unless the whole bag is there and valid.

    A copy found damaged (a file whose size or digests differ from the catalogue's, or a missing
    object) is recorded as a failed fixity check on that copy and the next copy is tried. The bag
    is written into a temporary folder next to ``destination`` whose name says which process
    owns it; those left by killed exports are removed first."""
    destination = Path(destination)
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise InvalidInput(f"{destination}: already exists and is not an empty folder")
    target = destination.absolute()
    if not target.parent.is_dir():
        raise InvalidInput(f"{destination.parent}: no such folder")
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
    removed = remove_abandoned_exports(target.parent)
    owner = _owner_tag()
    errors: list[str] = []
    damaged: list[str] = []
    for copy_id, location, url, prefix, _offline in copies:
        partial = target.parent / _partial_name(target.name, owner)
        try:
            nbytes = _download(app.storage(url), prefix, files, partial)
            report = validate_bag(partial)
            if not report.valid:
                raise InvalidBag(f"exported bag from {location} is invalid", report.errors)
            if destination.exists():
                destination.rmdir()
            partial.rename(destination)
        except _Damaged as exc:
            shutil.rmtree(partial, ignore_errors=True)
            message = _record_damage(app, package_id, copy_id, location, target, exc)
            log.info("export of %s: %s", package_id, message)
            damaged.append(message)
            continue
        except (StorageError, InvalidBag) as exc:
            shutil.rmtree(partial, ignore_errors=True)
            if isinstance(exc, StorageFull):
                raise
            log.info("export of %s from %s failed: %s", package_id, location, exc)
            errors.append(f"{location}: {exc}")
            continue
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        _record_dissemination(app, package_id, location, destination)
        return ExportResult(
            package_id,
            str(destination),
            location,
            len(files),
            nbytes,
            report,
            tuple(damaged),
            tuple(str(r) for r in removed),
        )
    if not errors:
        raise FixityMismatch(
            f"package {package_id} could not be exported: every copy is damaged: "
            + "; ".join(damaged)
        )
    raise StorageError(
        f"package {package_id} could not be exported: " + "; ".join(damaged + errors)
    )


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


# ------------------------------------------------------------ temporary export folders
#
# A bag is written into ``.<name>.partial-<host>-<pid>-<start>-<token>`` next to the
# destination and renamed at the end. A killed export (kill -9, power loss) leaves that folder
# behind; its name says which process owned it, so the next export into the same folder
# removes it once that process is gone. The start time of the process tells a reused pid apart.

_PARTIAL = re.compile(
    r"\.(?P<name>.*)\.partial-(?P<host>[A-Za-z0-9_.-]+)-(?P<pid>[0-9]+)"
    r"-(?P<start>[0-9]+\.[0-9]+|unknown)-(?P<token>[0-9a-f]{12})",
    re.DOTALL,
)
_NAME_BYTES = 100  # of the destination's name kept in the temporary name (names max 255 bytes)


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname())[:64] or "_"


def _owner_tag() -> str:
    started = process_start_time(os.getpid())
    start = "unknown" if started is None else f"{started:.2f}"
    return f"{_host()}-{os.getpid()}-{start}"


def _partial_name(name: str, owner: str) -> str:
    short = os.fsencode(name)[:_NAME_BYTES].decode("utf-8", "ignore")
    return f".{short}.partial-{owner}-{uuid.uuid4().hex[:12]}"


def remove_abandoned_exports(folder: Path) -> list[Path]:
    """Remove the temporary folders that exports killed on this host left in ``folder`` (their
    process is gone, or its pid now belongs to another process). Folders of running exports,
    of other hosts and anything else are left alone. Returns the folders removed."""
    removed: list[Path] = []
    host = _host()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _PARTIAL.fullmatch(entry.name)
        if m is None or m["host"] != host:
            continue
        try:
            if not entry.is_dir(follow_symlinks=False):
                continue
        except OSError:
            continue
        start = None if m["start"] == "unknown" else float(m["start"])
        if process_alive(int(m["pid"]), start):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        if os.path.lexists(entry.path):
            log.warning("could not remove %s, left by a killed export", entry.path)
            continue
        log.info("removed %s, left by a killed export (process %s)", entry.path, m["pid"])
        removed.append(Path(entry.path))
    return removed


def _record_dissemination(app: Application, package_id: str, location: str, dest: Path) -> None:
    with app.uow() as uow:
        agent = uow.agents.get_or_create("preserve", __version__, "software")
        uow.events.add(
            premis.DISSEMINATION,
            "success",
            agent=agent,
            package_id=package_id,
            detail=f"package exported as a bag to {dest} from location {location}",
            outcome_detail="every file matched its reference digests; the bag validated",
            occurred_at=datetime.now(UTC),
        )
        uow.commit()
