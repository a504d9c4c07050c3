"""Versions of a package: what a new version starts from, what changed, and where the bytes of
its unchanged files already are.

Every version is a complete BagIt bag under ``<org>/<collection>/<package>/v<N>/`` whose
manifests list all its payload files. A file whose bytes an earlier version of the package
already stores (unchanged, renamed, or the same content under another name: matched by SHA-512)
is not stored again: the version's ``fetch.txt`` names it, as the Wellcome storage service does.
The URL is the object's absolute URL on the first location of the package's copies; the key
layout below a location's root is the same on every location, so preserve resolves a fetch
entry on whichever location it reads, and never over the network. ``preserve export`` writes a
version as a complete bag without ``fetch.txt``.

Why fetch.txt rather than copying unchanged files inside storage: S3 CopyObject and
UploadPartCopy avoid sending the bytes again but S3 still stores (and bills) them twice, and a
hard link works on one filesystem only; a reference stores every byte once on every backend.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from preserve.bootstrap import Application
from preserve.catalogue.models import PackageVersion
from preserve.checksums import hash_file
from preserve.errors import InvalidInput, NotFound, PreserveError, StorageError, StorageUnavailable
from preserve.ingest.model import Delivery, StagedFile
from preserve.ingest.recover import ACTIVE, mark_unreachable, owner_gone, write_owner
from preserve.ingest.stage import check_producer
from preserve.ingest.store import Location
from preserve.interrupts import critical
from preserve.progress import Progress
from preserve.text import plural
from preserve.values import FormatInfo, FormatMatch, ImageInfo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BaseFile:
    """A payload file of the version a new one starts from, and where its bytes are."""

    path: str  # in the bag: "data/..."
    size: int
    sha512: str
    sha256: str
    digests: dict[str, str]  # the other algorithms
    stored_version: int
    stored_path: str  # its path in that version's bag
    puid: str | None = None
    format_name: str | None = None
    format_version: str | None = None
    mime: str | None = None
    basis: str | None = None
    identification: dict[str, Any] | None = None
    image: dict[str, Any] | None = None
    description: dict[str, Any] | None = None

    def all_digests(self) -> dict[str, str]:
        return {"sha512": self.sha512, "sha256": self.sha256, **self.digests}


@dataclass(frozen=True)
class Base:
    """The current version of a package, which a new version starts from."""

    package_id: str
    number: int
    organisation: str
    collection: str
    collection_id: int
    title: str
    description: dict[str, Any]
    bag_info: list[Any]
    payload_fingerprint: str | None
    external_identifier: str | None
    #: the locations of the current version's copies, the first one first
    locations: tuple[Location, ...]
    files: dict[str, BaseFile] = field(default_factory=dict)
    #: the latest version that corrected the description only (``preserve describe``) since
    #: the last delivery, if any: a delivery with a description of its own replaces it
    corrected_in: int | None = None
    #: every content the package holds, in any version (SHA-512 -> where it is stored): what
    #: a new version need not store again, even content an earlier version had and the
    #: current one dropped
    held: dict[str, BaseFile] = field(default_factory=dict)

    @property
    def package_prefix(self) -> str:
        return f"{self.organisation}/{self.collection}/{self.package_id}/"

    def key_prefix(self, number: int) -> str:
        return f"{self.package_prefix}v{number}/"

    def fetch_url(self, f: BaseFile) -> str:
        """The absolute URL of ``f``'s object on the first location (see the module's text)."""
        root = self.locations[0].url.split("?", 1)[0].rstrip("/")
        return f"{root}/{quote(self.key_prefix(f.stored_version) + f.stored_path, safe='/')}"


def load_base(app: Application, package_id: str, *, with_files: bool = True) -> Base:
    """The current version of ``package_id`` (already resolved), refusing a package that is
    not stored."""
    with app.uow() as uow:
        package = uow.packages.get(package_id)
        if package is None:
            raise NotFound(f"no package {package_id}")
        if package.status != "stored":
            raise InvalidInput(
                f"package {package_id} is still being ingested ({package.status}): a new "
                "version can be made once it is stored"
            )
        coll = package.collection
        copies = uow.copies.for_package(package_id, package.version)
        if not copies:
            raise InvalidInput(f"package {package_id} has no copy of version {package.version}")
        locations = tuple(Location(c.location.id, c.location.name, c.location.url) for c in copies)
        kinds = {
            v.number: v.kind for v in uow.versions.for_package(package_id) if v.status == "stored"
        }
        last_delivery = max((n for n, k in kinds.items() if k == "content"), default=0)
        corrected = [n for n, k in kinds.items() if k == "metadata" and n > last_delivery]
        base = Base(
            package_id=package.id,
            number=package.version,
            organisation=coll.organisation.slug,
            collection=coll.slug,
            collection_id=coll.id,
            title=package.title,
            description=dict(package.description or {}),
            bag_info=list(package.bag_info or []),
            payload_fingerprint=package.payload_fingerprint,
            external_identifier=package.external_identifier,
            locations=locations,
            corrected_in=max(corrected) if corrected else None,
        )
        if with_files:
            for f in uow.files.iter_for_package(package_id, "payload", package.version):
                base.files[f.path] = _base_file(f)
            for current in base.files.values():
                base.held.setdefault(current.sha512, current)
            for row in uow.files.iter_stored_payload(package_id):
                if row.sha512 and row.sha512 not in base.held:
                    base.held[row.sha512] = _base_file(row)
    return base


def _base_file(f: Any) -> BaseFile:
    return BaseFile(
        path=f.path,
        size=f.size,
        sha512=f.sha512 or "",
        sha256=f.sha256 or "",
        digests=dict(f.digests or {}),
        stored_version=f.stored_version,
        stored_path=f.stored_path or f.path,
        puid=f.puid,
        format_name=f.format_name,
        format_version=f.format_version,
        mime=f.mime,
        basis=f.basis,
        identification=f.identification,
        image=f.image,
        description=f.description,
    )


@dataclass(frozen=True)
class Changes:
    """What a delivery changes in the version it is compared with, matched by SHA-512."""

    added: tuple[str, ...]
    modified: tuple[str, ...]
    removed: tuple[str, ...]
    renamed: tuple[tuple[str, str], ...]
    unchanged: int
    #: payload files (path in the bag) whose bytes the package stores already: the base file
    fetched: Mapping[str, BaseFile]

    @property
    def empty(self) -> bool:
        return not (self.added or self.modified or self.removed or self.renamed)

    def as_json(self) -> dict[str, Any]:
        return {
            "added": list(self.added),
            "modified": list(self.modified),
            "removed": list(self.removed),
            "renamed": [list(pair) for pair in self.renamed],
            "unchanged": self.unchanged,
        }

    def summary(self) -> str:
        parts = [
            f"{len(self.added)} added",
            f"{len(self.modified)} modified",
            f"{len(self.removed)} removed",
            f"{len(self.renamed)} renamed",
            f"{self.unchanged} unchanged",
        ]
        return ", ".join(parts)


def classify(before: Mapping[str, str], after: Mapping[str, str]) -> dict[str, Any]:
    """What changed between two payloads given as path -> SHA-512: unchanged (same path, same
    content), modified (same path), renamed (a removed path's content under a new path; each
    old path used once), added; the paths of ``before`` not in ``after`` are removed. As
    ``package_versions.changes`` holds it."""
    by_digest: dict[str, list[str]] = {}
    for path in sorted(before):
        by_digest.setdefault(before[path], []).append(path)
    gone = {p for p in before if p not in after}
    added: list[str] = []
    modified: list[str] = []
    renamed: list[list[str]] = []
    unchanged = 0
    for path in sorted(after, key=lambda p: p[len("data/") :]):
        digest = after[path]
        if path in before:
            if before[path] == digest:
                unchanged += 1
            else:
                modified.append(path)
            continue
        origin = next((p for p in by_digest.get(digest, []) if p in gone), None)
        if origin is not None:
            gone.discard(origin)
            renamed.append([origin, path])
        else:
            added.append(path)
    return {
        "added": added,
        "modified": modified,
        "removed": sorted(gone),
        "renamed": renamed,
        "unchanged": unchanged,
    }


def compare(base: Base, files: Sequence[StagedFile]) -> Changes:
    """Classify the delivery's files against ``base`` (:func:`classify`); every file whose
    content the package stores already is fetched from there, whatever its path."""
    held = dict(base.held)
    for f in sorted(base.files.values(), key=lambda f: f.path):
        held.setdefault(f.sha512, f)
    after = {f.bag_path: f.digests["sha512"] for f in files}
    found = classify({p: f.sha512 for p, f in base.files.items()}, after)
    fetched = {path: held[digest] for path, digest in after.items() if digest in held}
    for path, digest in after.items():  # a file unchanged is fetched from its own path
        same = base.files.get(path)
        if same is not None and same.sha512 == digest:
            fetched[path] = same
    return Changes(
        added=tuple(found["added"]),
        modified=tuple(found["modified"]),
        removed=tuple(found["removed"]),
        renamed=tuple((a, b) for a, b in found["renamed"]),
        unchanged=found["unchanged"],
        fetched=fetched,
    )


# --------------------------------------------------------------------- claiming a version


def version_key(package_id: str, number: int) -> str:
    """The :data:`ACTIVE` entry of a later version this process is making."""
    return f"{package_id}.v{number}"


def staging_name(package_id: str, number: int) -> str:
    """The staging folder of a run making version ``number``: the package id for a first
    ingest; for a later version, one of its own per run (two runs racing for the same version
    never share one: the loser learns it only when it claims the version)."""
    if number == 1:
        return package_id
    return f"{version_key(package_id, number)}.{uuid.uuid4().hex[:12]}"


def begin_staging(app: Application, package_id: str, number: int) -> tuple[Path, set[str]]:
    """Make this run's staging folder for version ``number`` (with its owner file) and mark
    it and the version as this process's (:data:`ACTIVE`, so recovery running beside leaves
    them alone); returns the folder and the marks, which the caller removes from ACTIVE."""
    staging = app.settings.staging_dir / staging_name(package_id, number)
    busy = {staging.name, version_key(package_id, number)}
    ACTIVE.update(busy)
    staging.mkdir(parents=True)
    write_owner(staging, datetime.now(UTC))
    return staging, busy


def version_abandoned(version: PackageVersion) -> bool:
    """Whether a later version (ingesting or failed) was left by a process that no longer
    runs."""
    if version.status == "failed":
        return True
    if version_key(version.package_id, version.number) in ACTIVE:
        return False
    return owner_gone(
        version.ingest_host, version.ingest_pid, version.ingest_process_started, version.created_at
    )


class VersionBusy(InvalidInput):
    """Another process is making a version of the package right now."""


def claim_version(
    app: Application, base: Base, record: PackageVersion
) -> tuple[list[Location], Any]:
    """Record version ``record.number`` as ``ingesting``, with its copies ``pending`` on the
    locations of the current version's copies, before any byte of it reaches storage. Returns
    the locations and the owning organisation's (slug, name, address, contact name, contact
    email).

    Refused: the package changed meanwhile (another version became current, it is no longer
    stored), another live process is making a version of it. A version an interrupted process
    left is removed first."""
    from sqlalchemy import exc as sa_exc

    while True:
        with app.uow() as uow:
            package = uow.packages.get(base.package_id)
            if package is None:
                raise NotFound(f"package {base.package_id} was removed meanwhile")
            if package.version != base.number:
                raise InvalidInput(
                    f"package {base.package_id} became version {package.version} while this "
                    "delivery was being read; run the command again to make the next version"
                )
            latest = uow.versions.latest(base.package_id)
            if latest is not None and latest.number > base.number:
                if not version_abandoned(latest):
                    raise VersionBusy(
                        f"version {latest.number} of package {base.package_id} is being made "
                        f"right now (process {latest.ingest_pid} on {latest.ingest_host}); wait "
                        "for it to finish, then run again"
                    )
                number = latest.number
                leftover = True
            else:
                leftover = False
        if leftover:
            log.info(
                "removing version %s of package %s, which an interrupted run left",
                number,
                base.package_id,
            )
            if not remove_version(app, base.package_id, number):
                raise StorageError(
                    f"version {number} of package {base.package_id}, left by an interrupted "
                    "run, could not be removed yet (a location does not answer); try again later"
                )
            continue
        with app.uow() as uow:
            try:
                uow.versions.add(record)
                uow.flush()
            except sa_exc.IntegrityError:  # a concurrent run claimed it between look and insert
                uow.rollback()
                continue
            for loc in base.locations:
                uow.copies.add(
                    package_id=base.package_id,
                    version=record.number,
                    location_id=loc.id,
                    key_prefix=base.key_prefix(record.number),
                    status="pending",
                )
            coll = uow.collections.get_by_id(base.collection_id)
            assert coll is not None
            o = coll.organisation
            owner = (o.slug, o.name, o.address, o.contact_name, o.contact_email)
            uow.commit()
            return list(base.locations), owner


def remove_version(
    app: Application, package_id: str, number: int, down: set[str] | None = None
) -> bool:
    """Remove a version that never became current: its objects on every location, then its
    rows. A stored version is never touched. What a location that does not answer still holds
    stays recorded (the version ``failed``) until it answers. True when nothing is left."""
    down = down or set()
    with app.uow() as uow:
        version = uow.versions.get(package_id, number)
        if version is None:
            return True
        if version.status not in ("ingesting", "failed") or number == 1:
            return True  # stored, or a first version (recovered with its package row)
        copies = [
            (c.id, c.location.url, c.key_prefix) for c in uow.copies.for_package(package_id, number)
        ]
    cleaned: list[int] = []
    unreachable: dict[str, str] = {}
    for copy_id, url, prefix in copies:
        if url in down:
            continue
        try:
            removed = app.storage(url).delete_prefix(prefix)
        except StorageError as exc:
            log.warning(
                "could not remove unfinished version %s of %s on %s: %s",
                number,
                package_id,
                url,
                exc,
            )
            if isinstance(exc, StorageUnavailable):
                unreachable[url] = str(exc)
            continue
        log.info(
            "removed %s of unfinished version %s of package %s from %s",
            plural(removed, "object"),
            number,
            package_id,
            url,
        )
        cleaned.append(copy_id)
    mark_unreachable(app, unreachable)
    with app.uow() as uow:
        version = uow.versions.get(package_id, number)
        if version is None or version.status not in ("ingesting", "failed"):
            return version is None
        if len(cleaned) == len(copies):
            uow.versions.delete(version)
        else:
            for copy in uow.copies.for_package(package_id, number):
                if copy.id in cleaned:
                    uow.session.delete(copy)
            version.status = "failed"
            version.ingest_pid = None
        uow.commit()
    # a dead run's staging folder is removed with the other orphans (it has an owner file)
    return len(cleaned) == len(copies)


def recover_versions(app: Application, down: set[str] | None = None) -> list[str]:
    """Remove the versions interrupted runs left ("<package>.v<N>" for each)."""
    with app.uow() as uow:
        stale = [
            (v.package_id, v.number)
            for v in uow.versions.list_interrupted()
            if version_abandoned(v)
        ]
    cleaned = []
    for package_id, number in stale:
        try:
            if remove_version(app, package_id, number, down):
                cleaned.append(f"{package_id}.v{number}")
        except PreserveError as exc:
            log.warning("could not remove unfinished version %s of %s: %s", number, package_id, exc)
    return cleaned


def abandon_version(
    app: Application, package_id: str, number: int, staging: Path, registered: bool
) -> None:
    """Undo a failed or interrupted version: its objects and rows (the package stays at its
    current version) and its staging. Never raises; a second Ctrl-C waits until it is done."""
    with critical():
        try:
            if registered and not remove_version(app, package_id, number):
                log.info(
                    "what unfinished version %s of %s wrote is left for recovery to remove",
                    number,
                    package_id,
                )
        except Exception as exc:  # the catalogue or a location failed too: recovery retries
            log.debug("could not undo version %s of %s: %s", number, package_id, exc, exc_info=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


# ------------------------------------------------------------ content the package holds


def format_of(held: BaseFile) -> FormatInfo | None:
    """The format recorded for ``held`` as a :class:`FormatInfo` (None when the row does not
    hold a whole one: then the file is identified again)."""
    d = held.identification
    if not d:
        return None
    try:
        names = {f.name for f in dataclasses.fields(FormatInfo)}
        match_names = {f.name for f in dataclasses.fields(FormatMatch)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["warnings"] = tuple(kw.get("warnings") or ())
        kw["matches"] = tuple(
            FormatMatch(**{k: v for k, v in m.items() if k in match_names})
            for m in kw.get("matches") or ()
        )
        return FormatInfo(**kw)
    except (TypeError, AttributeError):
        return None


def image_of(held: BaseFile) -> ImageInfo | None:
    if not held.image:
        return None
    try:
        names = {f.name for f in dataclasses.fields(ImageInfo)}
        return ImageInfo(**{k: v for k, v in held.image.items() if k in names})
    except TypeError:
        return None


def match_known(
    base: Base,
    delivery: Delivery,
    algorithms: Sequence[str],
    *,
    workers: int,
    progress: Progress,
) -> dict[str, BaseFile]:
    """The delivery's files whose content the package stores already, found before staging:
    a file with the size of a stored one is hashed where it is (read once, never copied) and
    matched by SHA-512. Those files get their digests, format and image properties from the
    catalogue; they are neither copied into staging nor identified again. Returns path in the
    bag -> the stored file."""
    holdings = {**base.held, **{f.sha512: f for f in base.files.values()}}
    sizes = {f.size for f in holdings.values()}
    by_digest = holdings
    candidates = [f for f in delivery.files if f.size in sizes]
    progress.begin(
        f"comparing with version {base.number}",
        len(candidates),
        sum(f.size for f in candidates),
    )
    known: dict[str, BaseFile] = {}
    try:

        def digest(f: StagedFile) -> tuple[StagedFile, dict[str, str]]:
            size, digests = hash_file(f.source, algorithms)
            return f, digests if size == f.size else {}

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for f, digests in pool.map(digest, candidates):
                progress.advance(1, f.size)
                held = by_digest.get(digests.get("sha512", ""))
                fmt = format_of(held) if held is not None else None
                if held is None or fmt is None:
                    continue  # staged and identified like any new file
                f.digests = digests
                check_producer(delivery.producer_digests, f)
                f.fmt = fmt
                f.image = image_of(held)
                f.held = True
                known[f.bag_path] = held
    finally:
        progress.end()
    return known
