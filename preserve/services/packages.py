"""Packages: list and show what is kept, and export a package back out as a bag (a DIP)."""

from __future__ import annotations

import logging
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from preserve import __version__, premis
from preserve.bagit import validate_bag
from preserve.bootstrap import Application
from preserve.checksums import MultiHasher
from preserve.errors import InvalidBag, InvalidInput, NotFound, StorageError, StorageFull
from preserve.fsio import NO_SPACE
from preserve.values import ValidationReport

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
    created_at: datetime
    stored_at: datetime | None


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


@dataclass(frozen=True)
class EventDetail:
    id: str
    event_type: str
    occurred_at: datetime
    outcome: str
    detail: str
    outcome_detail: str
    agent: str


@dataclass(frozen=True)
class PackageDetail:
    summary: PackageSummary
    external_identifier: str | None
    source: str | None
    description: dict[str, list[str]]
    bag_info: tuple[tuple[str, str], ...]
    files: tuple[FileDetail, ...]
    copies: tuple[CopyDetail, ...]
    events: tuple[EventDetail, ...]


@dataclass(frozen=True)
class ExportResult:
    package_id: str
    destination: str
    location: str
    files: int
    bytes: int
    report: ValidationReport


def _summary(uow: Any, p: Any) -> PackageSummary:
    copies = uow.copies.for_package(p.id)
    coll = p.collection
    return PackageSummary(
        id=p.id,
        organisation=coll.organisation.slug,
        collection=coll.slug,
        title=p.title,
        status=p.status,
        version=p.version,
        files=p.file_count,
        bytes=p.size,
        copies=len(copies),
        verified_copies=sum(c.status == "verified" for c in copies),
        created_at=p.created_at,
        stored_at=p.stored_at,
    )


def list_packages(
    app: Application, collection: str | None = None, organisation: str | None = None
) -> list[PackageSummary]:
    with app.uow() as uow:
        if collection is not None:
            org = organisation or app.settings.organisation
            coll = uow.collections.get(org, collection)
            if coll is None:
                raise NotFound(f"collection {collection!r} does not exist in {org!r}")
            packages = uow.packages.list(collection_id=coll.id)
        else:
            packages = uow.packages.list()
        return [_summary(uow, p) for p in packages]


def show_package(app: Application, package_id: str) -> PackageDetail:
    with app.uow() as uow:
        p = uow.packages.get(package_id)
        if p is None:
            raise NotFound(f"package {package_id} does not exist")
        files = tuple(
            FileDetail(
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
            )
            for f in uow.files.iter_for_package(p.id)
        )
        copies = tuple(
            CopyDetail(
                c.location.name,
                c.location.url,
                c.key_prefix,
                c.status,
                c.verified_by,
                c.verified_at,
                c.last_checked_at,
                c.last_outcome,
            )
            for c in uow.copies.for_package(p.id)
        )
        events = tuple(
            EventDetail(
                e.id,
                e.event_type,
                e.occurred_at,
                e.outcome,
                e.detail or "",
                e.outcome_detail or "",
                f"{e.agent.name} {e.agent.version}",
            )
            for e in uow.events.for_package(p.id)
        )
        return PackageDetail(
            summary=_summary(uow, p),
            external_identifier=p.external_identifier,
            source=p.source,
            description=dict(p.description or {}),
            bag_info=tuple((k, v) for k, v in (p.bag_info or [])),
            files=files,
            copies=copies,
            events=events,
        )


def export_package(app: Application, package_id: str, destination: Path) -> ExportResult:
    """Write the package out as a bag at ``destination`` from a verified copy, checking every
    file against the catalogue while writing, then validate the bag. Nothing is left at
    ``destination`` unless the whole bag is there and valid."""
    destination = Path(destination)
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise InvalidInput(f"{destination}: already exists and is not an empty folder")
    if not destination.absolute().parent.is_dir():
        raise InvalidInput(f"{destination.parent}: no such folder")
    with app.uow() as uow:
        p = uow.packages.get(package_id)
        if p is None:
            raise NotFound(f"package {package_id} does not exist")
        if p.status != "stored":
            raise InvalidInput(f"package {package_id} is not stored (status {p.status})")
        files = [(f.path, f.size, f.sha512, f.sha256) for f in uow.files.iter_for_package(p.id)]
        copies = [
            (c.location.name, c.location.url, c.key_prefix, c.location.offline)
            for c in uow.copies.for_package(p.id)
            if c.status == "verified"
        ]
    copies.sort(key=lambda c: c[3])  # online copies first
    if not copies:
        raise StorageError(f"package {package_id} has no verified copy to export from")
    errors: list[str] = []
    for location, url, prefix, _offline in copies:
        partial = destination.absolute().parent / f".{destination.name}.partial-{uuid.uuid4().hex}"
        try:
            nbytes = _download(app.storage(url), prefix, files, partial)
            report = validate_bag(partial)
            if not report.valid:
                raise InvalidBag(f"exported bag from {location} is invalid", report.errors)
            if destination.exists():
                destination.rmdir()
            partial.rename(destination)
        except (StorageError, InvalidBag) as exc:
            shutil.rmtree(partial, ignore_errors=True)
            if isinstance(exc, StorageFull):
                raise
            log.warning("export of %s from %s failed: %s", package_id, location, exc)
            errors.append(f"{location}: {exc}")
            continue
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        _record_dissemination(app, package_id, location, destination)
        return ExportResult(package_id, str(destination), location, len(files), nbytes, report)
    raise StorageError(f"package {package_id} could not be exported: " + "; ".join(errors))


def _download(
    storage: Any, prefix: str, files: list[tuple[str, int, str | None, str | None]], dest: Path
) -> int:
    total = 0
    for path, size, sha512, sha256 in files:
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        hasher = MultiHasher(("sha512", "sha256"))
        try:
            with storage.open(prefix + path) as stream, open(target, "wb") as out:
                while chunk := stream.read(1 << 20):
                    hasher.update(chunk)
                    out.write(chunk)
        except OSError as exc:
            if exc.errno in NO_SPACE:
                raise StorageFull(f"{dest}: no space left while exporting {path}") from exc
            raise
        digests = hasher.hexdigests()
        if (
            hasher.size != size
            or (sha512 and digests["sha512"] != sha512)
            or (sha256 and digests["sha256"] != sha256)
        ):
            raise StorageError(f"{path} does not match its reference digests")
        total += size
    return total


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
