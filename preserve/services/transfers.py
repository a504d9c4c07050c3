"""Transfers: a delivery uploaded through the web catalogue, file by file (issue 11).

A *transfer* is one folder (or a set of files) on its way to one ingest: it names the
collection, the delivery's name and its Dublin Core description (from the form, or a metadata
CSV among its files). Each file arrives as an *upload* through the tus server (``web/tus.py``):
``create_upload`` checks its path and size before any byte is written, ``append`` writes a
chunk, fsyncs it and only then commits the new offset, so the catalogue never claims bytes that
are not on disk (bytes beyond the committed offset, left by a crash, are cut off on the next
request). ``complete`` checks that every upload is whole, moves (renames) the files into a
delivery folder under their relative paths, writes the description as a metadata CSV and queues
ONE ingest job, keyed ``transfer:<id>``: completing again (a re-sent request, a second tab)
returns that same job. After the job succeeds the files are removed; after it fails they stay,
so it can be tried again or the transfer discarded. ``expire_abandoned`` (the reaper's tick)
removes open transfers nobody touched for ``upload_expiry_hours``.

Files live under ``settings.upload_dir/<transfer id>/``: ``<upload id>`` while they arrive,
``delivery/<name>/<relative path>`` once complete. Ids are ours (UUIDs); a relative path given
by a browser names nothing on disk before it passed :func:`check_relative_path`.

``ingest_from_folder`` queues the same ingest job for a folder inside one of the server-side
folders an administrator allowed (``PRESERVE_INGEST_FOLDERS``).
"""

from __future__ import annotations

import csv
import errno
import fcntl
import hashlib
import logging
import os
import re
import shutil
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from preserve import descriptive
from preserve.bagit.paths import printable, unsafe_reason
from preserve.bootstrap import Application
from preserve.catalogue.models import (
    Collection,
    Organisation,
    Package,
    Transfer,
    Upload,
    new_uuid,
)
from preserve.errors import InvalidInput, NotFound, PermissionDenied, PreserveError, UnsafePath
from preserve.services import jobs
from preserve.services.access import Principal, require_role
from preserve.services.jobs import JobRecord
from preserve.uow import UnitOfWork

log = logging.getLogger(__name__)

#: How much of a request body is read (and written) at a time.
PIECE = 1024 * 1024
#: The simple Dublin Core elements the form offers (the CSV accepts every DCMI term).
DC_ELEMENTS = descriptive.DC_ELEMENTS
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SHA256 = re.compile(r"[0-9a-f]{64}")

# ----------------------------------------------------------------------------- errors


class OffsetConflict(InvalidInput):
    """A chunk that does not start where the upload stands (tus: 409)."""

    code = "upload-offset-conflict"


class UploadLocked(OffsetConflict):
    """Another request is writing the same upload right now (tus: 409; the client retries)."""

    code = "upload-busy"


class TooLarge(InvalidInput):
    """A file or transfer larger than the configured limits, or a body longer than announced
    (HTTP 413)."""

    code = "too-large"


class ChecksumMismatch(InvalidInput):
    """A chunk whose ``Upload-Checksum`` does not match the bytes received (tus: 460)."""

    code = "checksum-mismatch"


class InsufficientStorage(PreserveError):
    """The upload folder has no room for the file (HTTP 507)."""

    code = "insufficient-storage"


class UploadGone(NotFound):
    """The upload's transfer was discarded, expired or already handed to ingest (HTTP 410)."""

    code = "upload-gone"


# ----------------------------------------------------------------------------- records


@dataclass(frozen=True)
class UploadRecord:
    id: str
    transfer_id: str
    relative_path: str
    length: int
    offset: int
    sha256: str | None
    metadata: dict[str, Any]
    completed_at: datetime | None
    expires_at: datetime | None

    @property
    def complete(self) -> bool:
        return self.offset == self.length


@dataclass(frozen=True)
class TransferRecord:
    id: str
    organisation_id: int
    organisation: str
    collection_id: int
    collection: str
    collection_title: str
    user_id: int | None
    name: str
    state: str
    description: dict[str, list[str]]
    metadata_path: str | None
    expected_files: int | None
    expected_bytes: int | None
    new_version_of: str | None
    job_id: str | None
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None
    completed_at: datetime | None
    files: int
    bytes_received: int
    bytes_total: int
    uploads: tuple[UploadRecord, ...] = ()

    @property
    def files_complete(self) -> int:
        return sum(u.complete for u in self.uploads)


@dataclass(frozen=True)
class FileProblem:
    """One problem of a failed ingest, in words: the file (or the delivery) and what is wrong."""

    path: str
    message: str
    code: str = ""


@dataclass(frozen=True)
class TransferStatus:
    """A transfer and its ingest job, as the ingest page follows it."""

    transfer: TransferRecord
    job: JobRecord | None
    #: ``uploading``, ``queued``, ``running``, ``succeeded``, ``failed``, ``discarded``, ``expired``
    phase: str
    package_ids: tuple[str, ...]
    problems: tuple[FileProblem, ...]
    #: Of ``package_ids``, those preserved before: the delivery was a duplicate of them, so
    #: nothing new was stored and the form's description was not applied.
    duplicate_ids: tuple[str, ...] = ()

    @property
    def description_not_applied(self) -> bool:
        """The form's description was given but not applied (the delivery was a duplicate)."""
        return bool(self.duplicate_ids) and any(self.transfer.description.values())


@dataclass(frozen=True)
class CollectionChoice:
    id: int
    slug: str
    title: str
    organisation_id: int
    organisation: str
    organisation_name: str

    @property
    def key(self) -> str:
        return f"{self.organisation}/{self.slug}"


@dataclass(frozen=True)
class FolderEntry:
    name: str
    is_dir: bool
    size: int | None


@dataclass(frozen=True)
class FolderListing:
    folder: str
    path: str  # relative POSIX path inside the folder ("" for its top)
    entries: tuple[FolderEntry, ...]


# ----------------------------------------------------------------------------- helpers


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware UTC")
    return now


def _aware(at: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back: they are UTC."""
    if at is not None and at.tzinfo is None:
        return at.replace(tzinfo=UTC)
    return at


def _expiry(app: Application, at: datetime) -> datetime:
    return at + timedelta(hours=app.settings.upload_expiry_hours)


def transfer_folder(app: Application, transfer_id: str) -> Path:
    return Path(app.settings.upload_dir) / transfer_id


def upload_file(app: Application, transfer_id: str, upload_id: str) -> Path:
    return transfer_folder(app, transfer_id) / upload_id


def free_space(path: Path) -> int:
    """Bytes free for an unprivileged writer in the file system holding ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    return shutil.disk_usage(path).free


#: What tells the free space of the upload folder; tests put their own function here.
FreeSpace = Callable[[Path], int]


def check_relative_path(path: str) -> str:
    """A file's path inside its delivery as a browser sends it (``relativePath``), checked
    with the bag's own rules before it names anything on disk; returned unchanged."""
    reason = unsafe_reason(path)
    if reason is None and _CONTROL.search(path):
        reason = "contains a control character"
    if reason is None and path.endswith("/"):
        reason = "ends with '/' (a folder, not a file)"
    if reason is not None:
        raise UnsafePath(f"the file path '{printable(path)}' is refused: {reason}")
    if len(path.encode("utf-8")) > 4096:
        raise UnsafePath("the file path is longer than 4,096 bytes")
    for segment in path.split("/"):
        if len(segment.encode("utf-8")) > 255:
            raise UnsafePath(
                f"the file path '{printable(path)}' is refused: a name longer than 255 bytes"
            )
    return path


def name_conflict(path: str, others: Iterable[str]) -> str | None:
    """Why ``path`` cannot join files at ``others`` (None if it can): a file and a folder of the
    same name, or a name equal to another after Unicode NFC normalisation (they would collide
    on disk and in the bag)."""
    files: dict[str, str] = {}
    folders: dict[str, str] = {}
    for other in others:
        files[_nfc(other)] = other
        parts = other.split("/")
        for i in range(1, len(parts)):
            sub = "/".join(parts[:i])
            folders.setdefault(_nfc(sub), sub)
    key = _nfc(path)
    if key in files:
        return (
            f"'{printable(files[key])}' and '{printable(path)}' are the same name after Unicode "
            "NFC normalisation"
        )
    if key in folders:
        return (
            f"'{printable(folders[key])}' is a folder: a file and a folder cannot have the "
            "same name"
        )
    parts = path.split("/")
    for i in range(1, len(parts)):
        sub = "/".join(parts[:i])
        key = _nfc(sub)
        if key in files:
            return (
                f"'{printable(files[key])}' is a file: a file and a folder cannot have the "
                "same name"
            )
        if key in folders and folders[key] != sub:
            return (
                f"the folders '{printable(folders[key])}' and '{printable(sub)}' are the same name "
                "after Unicode NFC normalisation"
            )
    return None


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _one_segment(name: str) -> str:
    """A transfer's name as one safe folder name (the delivery's folder)."""
    cleaned = _CONTROL.sub("", unicodedata.normalize("NFC", name)).strip()
    cleaned = cleaned.replace("/", "-").replace("\\", "-").strip(". ")
    return cleaned[:200] or "upload"


def _description(raw: Mapping[str, str | Sequence[str]] | None) -> dict[str, list[str]]:
    """The form's Dublin Core: element -> values (a text with several lines: one value each)."""
    found: dict[str, list[str]] = {}
    for key, value in (raw or {}).items():
        element = key.strip().lower()
        if element not in DC_ELEMENTS:
            raise InvalidInput(
                f"{key!r} is not a Dublin Core element: one of {', '.join(DC_ELEMENTS)}"
            )
        values = value.splitlines() if isinstance(value, str) else list(value)
        cleaned = [v.strip() for v in values if v and v.strip()]
        for v in cleaned:
            if _CONTROL.search(v.replace("\t", " ")):
                raise InvalidInput(f"the {element} contains a control character")
            if len(v) > 10_000:
                raise InvalidInput(f"the {element} is longer than 10,000 characters")
        if cleaned:
            found[element] = cleaned
    return found


def _upload_record(u: Upload, expires_at: datetime | None) -> UploadRecord:
    return UploadRecord(
        id=u.id,
        transfer_id=u.transfer_id,
        relative_path=u.relative_path,
        length=u.length,
        offset=u.offset,
        sha256=u.sha256,
        metadata=dict(u.upload_metadata or {}),
        completed_at=_aware(u.completed_at),
        expires_at=_aware(expires_at),
    )


def _record(uow: UnitOfWork, t: Transfer, *, with_uploads: bool = True) -> TransferRecord:
    s = uow.session
    coll = s.get(Collection, t.collection_id)
    org = s.get(Organisation, t.organisation_id)
    assert coll is not None and org is not None
    uploads: list[Upload] = []
    files = received = total = 0
    if with_uploads:
        uploads = list(
            s.scalars(
                sa.select(Upload).where(Upload.transfer_id == t.id).order_by(Upload.relative_path)
            )
        )
        files = len(uploads)
        received = sum(u.offset for u in uploads)
        total = sum(u.length for u in uploads)
    else:
        files, received, total = s.execute(
            sa.select(
                sa.func.count(Upload.id),
                sa.func.coalesce(sa.func.sum(Upload.offset), 0),
                sa.func.coalesce(sa.func.sum(Upload.length), 0),
            ).where(Upload.transfer_id == t.id)
        ).one()
    return TransferRecord(
        id=t.id,
        organisation_id=t.organisation_id,
        organisation=org.slug,
        collection_id=t.collection_id,
        collection=coll.slug,
        collection_title=coll.title,
        user_id=t.user_id,
        name=t.name,
        state=t.state,
        description={k: list(v) for k, v in (t.description or {}).items()},
        metadata_path=t.metadata_path,
        expected_files=t.expected_files,
        expected_bytes=t.expected_bytes,
        new_version_of=t.new_version_of,
        job_id=t.job_id,
        created_at=_aware(t.created_at),  # type: ignore[arg-type]
        updated_at=_aware(t.updated_at),  # type: ignore[arg-type]
        expires_at=_aware(t.expires_at),
        completed_at=_aware(t.completed_at),
        files=int(files),
        bytes_received=int(received),
        bytes_total=int(total),
        uploads=tuple(_upload_record(u, t.expires_at) for u in uploads),
    )


def _transfer(
    uow: UnitOfWork, principal: Principal, transfer_id: str, *, lock: bool = False
) -> Transfer:
    """The transfer, if the person may ingest into its organisation (else NotFound, or
    PermissionDenied for a viewer of it)."""
    query = sa.select(Transfer).where(Transfer.id == str(transfer_id))
    if lock and uow.session.bind is not None and uow.session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    found = uow.session.scalar(query)
    if found is None:
        raise NotFound(f"no transfer {transfer_id}")
    require_role(principal, found.organisation_id, "archivist", f"transfer {transfer_id}")
    return found


def _upload(uow: UnitOfWork, principal: Principal, upload_id: str) -> tuple[Upload, Transfer]:
    found = uow.session.get(Upload, str(upload_id))
    if found is None:
        raise NotFound(f"no upload {upload_id}")
    transfer = uow.session.get(Transfer, found.transfer_id)
    assert transfer is not None
    require_role(principal, transfer.organisation_id, "archivist", f"upload {upload_id}")
    return found, transfer


def _touch(app: Application, t: Transfer, at: datetime) -> None:
    t.updated_at = at
    if t.state == "open":
        t.expires_at = _expiry(app, at)


# ----------------------------------------------------------------------------- transfers


def collections_for_ingest(app: Application, principal: Principal) -> list[CollectionChoice]:
    """The collections the person may ingest into (archivist or more in its organisation)."""
    allowed = principal.organisations_where("archivist")
    with app.uow() as uow:
        query = (
            sa.select(Collection, Organisation)
            .join(Organisation, Organisation.id == Collection.organisation_id)
            .order_by(Organisation.name, Collection.title, Collection.slug)
        )
        if allowed is not None:
            query = query.where(Collection.organisation_id.in_(sorted(allowed)))
        return [
            CollectionChoice(c.id, c.slug, c.title, o.id, o.slug, o.name)
            for c, o in uow.session.execute(query).all()
        ]


def _collection(uow: UnitOfWork, principal: Principal, collection: str | int) -> Collection:
    """A collection by id or ``organisation/slug`` (or a slug naming one collection the
    person may ingest into)."""
    s = uow.session
    found: Collection | None = None
    text = str(collection).strip()
    if text.isdigit():
        found = s.get(Collection, int(text))
    elif "/" in text:
        org, _, slug = text.partition("/")
        found = s.scalar(
            sa.select(Collection)
            .join(Organisation, Organisation.id == Collection.organisation_id)
            .where(Organisation.slug == org, Collection.slug == slug)
        )
    else:
        allowed = principal.organisations_where("archivist")
        query = sa.select(Collection).where(Collection.slug == text)
        if allowed is not None:
            query = query.where(Collection.organisation_id.in_(sorted(allowed)))
        matches = list(s.scalars(query))
        if len(matches) > 1:
            raise InvalidInput(
                f"more than one collection is called {text!r}: give organisation/collection"
            )
        found = matches[0] if matches else None
    if found is None or not principal.can_view(found.organisation_id):
        raise NotFound(f"no collection {text!r} you may ingest into")
    require_role(principal, found.organisation_id, "archivist", f"collection {text!r}")
    return found


def create_transfer(
    app: Application,
    principal: Principal,
    *,
    collection: str | int,
    name: str,
    description: Mapping[str, str | Sequence[str]] | None = None,
    metadata_path: str | None = None,
    expected_files: int | None = None,
    expected_bytes: int | None = None,
    new_version_of: str | None = None,
    request_id: str | None = None,
    now: datetime | None = None,
) -> TransferRecord:
    """Open a transfer into ``collection`` for the person (an archivist of its organisation).

    ``request_id`` (a random id the page makes once per form submission) makes opening
    idempotent: the same person sending the same id again (a double click, a re-sent request)
    gets the transfer the first request opened, never a second one."""
    at = _now(now)
    transfer_id = _request_transfer_id(principal, request_id)
    if transfer_id is not None:
        try:
            return get_transfer(app, principal, transfer_id)
        except NotFound:
            pass
    if not name or not name.strip():
        raise InvalidInput("give the delivery a name")
    if len(name) > 255:
        raise InvalidInput("the delivery's name is longer than 255 characters")
    if _CONTROL.search(name):
        raise InvalidInput("the delivery's name contains a control character")
    described = _description(description)
    if metadata_path is not None:
        metadata_path = check_relative_path(metadata_path)
        if not metadata_path.lower().endswith(".csv"):
            raise InvalidInput("the metadata file must be a CSV file (.csv)")
    for label, value in (("expected_files", expected_files), ("expected_bytes", expected_bytes)):
        if value is not None and (not isinstance(value, int) or value < 0):
            raise InvalidInput(f"{label} must be a whole number, 0 or more")
    if expected_bytes is not None and expected_bytes > app.settings.transfer_max_size:
        raise TooLarge(
            f"the files add up to {expected_bytes:,} bytes; a transfer may hold at most "
            f"{app.settings.transfer_max_size:,} bytes (PRESERVE_TRANSFER_MAX_SIZE)"
        )
    with app.uow() as uow:
        coll = _collection(uow, principal, collection)
        if new_version_of is not None:
            package = uow.session.get(Package, str(new_version_of))
            if package is None:
                raise NotFound(f"no package {new_version_of}")
            base = uow.session.get(Collection, package.collection_id)
            assert base is not None
            require_role(principal, base.organisation_id, "archivist", f"package {new_version_of}")
            if base.id != coll.id:
                raise InvalidInput(
                    "a new version goes into the collection of the package it is a version of"
                )
        transfer = Transfer(
            id=transfer_id or new_uuid(),
            organisation_id=coll.organisation_id,
            collection_id=coll.id,
            user_id=principal.user_id,
            name=name.strip(),
            state="open",
            description=described,
            metadata_path=metadata_path,
            expected_files=expected_files,
            expected_bytes=expected_bytes,
            new_version_of=new_version_of,
            created_at=at,
            updated_at=at,
            expires_at=_expiry(app, at),
        )
        uow.session.add(transfer)
        try:
            uow.flush()
        except IntegrityError:
            if transfer_id is None:
                raise
            uow.rollback()
            # the same request, sent twice at the same moment: the other one opened it
            return get_transfer(app, principal, transfer_id)
        record = _record(uow, transfer)
        uow.commit()
    log.info("transfer %s opened by %s into %s", record.id, principal.username, record.collection)
    return record


#: Namespace of the transfer ids derived from a person's request id.
_REQUEST_NAMESPACE = uuid.UUID("5d0f3c1e-8f0e-4c57-9b59-7f4a2f0e1b11")


def _request_transfer_id(principal: Principal, request_id: str | None) -> str | None:
    """The transfer id a person's request id stands for (one per person and id), or None."""
    if request_id is None or request_id == "":
        return None
    if not isinstance(request_id, str) or len(request_id) > 100 or _CONTROL.search(request_id):
        raise InvalidInput("the request id must be text of at most 100 printable characters")
    return str(uuid.uuid5(_REQUEST_NAMESPACE, f"{principal.user_id}\x00{request_id}"))


def get_transfer(app: Application, principal: Principal, transfer_id: str) -> TransferRecord:
    with app.uow() as uow:
        return _record(uow, _transfer(uow, principal, transfer_id))


def open_transfers(app: Application, principal: Principal) -> list[TransferRecord]:
    """The person's own transfers that still hold files: open (unfinished), or handed to an
    ingest that failed (to try again or discard). Newest first."""
    with app.uow() as uow:
        found = list(
            uow.session.scalars(
                sa.select(Transfer)
                .where(
                    Transfer.user_id == principal.user_id, Transfer.state.in_(("open", "queued"))
                )
                .order_by(Transfer.updated_at.desc())
                .limit(50)
            )
        )
        records = []
        for t in found:
            if not principal.can(t.organisation_id, "archivist"):
                continue
            if t.state == "queued":
                job = uow.jobs.get(t.job_id) if t.job_id else None
                if job is None or job.state != "failed":
                    continue
            records.append(_record(uow, t, with_uploads=False))
        return records


def discard_transfer(
    app: Application, principal: Principal, transfer_id: str, *, now: datetime | None = None
) -> TransferRecord:
    """Give up a transfer: its files are removed. Refused while its ingest is queued or runs."""
    at = _now(now)
    with app.uow() as uow:
        t = _transfer(uow, principal, transfer_id, lock=True)
        if t.state in ("discarded", "expired"):
            return _record(uow, t)
        if t.state == "queued":
            job = uow.jobs.get(t.job_id) if t.job_id else None
            if job is not None and job.state in ("queued", "running"):
                raise InvalidInput(
                    "the ingest of this transfer is under way: wait for it to end (or cancel "
                    "its job) before discarding it"
                )
            if job is not None and job.state == "succeeded":
                raise InvalidInput("this transfer was ingested: there is nothing to discard")
        t.state = "discarded"
        t.updated_at = at
        t.expires_at = None
        record = _record(uow, t)
        uow.commit()
    _remove_folder(app, transfer_id)
    log.info("transfer %s discarded by %s", transfer_id, principal.username)
    return record


def _remove_folder(app: Application, transfer_id: str) -> None:
    folder = transfer_folder(app, transfer_id)
    if folder.exists():
        shutil.rmtree(folder, ignore_errors=True)


# ----------------------------------------------------------------------------- uploads (tus)


def create_upload(
    app: Application,
    principal: Principal,
    *,
    transfer_id: str,
    relative_path: str,
    length: int,
    metadata: Mapping[str, str] | None = None,
    sha256: str | None = None,
    free: FreeSpace = free_space,
    now: datetime | None = None,
) -> UploadRecord:
    """Announce one file of a transfer: its path and size are checked (and the room left in
    the upload folder) before an empty file is made for it. A file announced again under the
    same path while its upload is unfinished replaces that upload (a browser that lost its
    record of it); one that arrived whole is a duplicate and refused."""
    at = _now(now)
    relative_path = check_relative_path(relative_path)
    if not isinstance(length, int) or length < 0:
        raise InvalidInput("Upload-Length must be a whole number of bytes, 0 or more")
    if sha256 is not None:
        sha256 = sha256.strip().lower()
        if not _SHA256.fullmatch(sha256):
            raise InvalidInput("sha256 must be 64 hexadecimal digits")
    if length > app.settings.upload_max_size:
        raise TooLarge(
            f"'{printable(relative_path)}' is {length:,} bytes; a file may be at most "
            f"{app.settings.upload_max_size:,} bytes (PRESERVE_UPLOAD_MAX_SIZE)"
        )
    with app.uow() as uow:
        t = _transfer(uow, principal, transfer_id, lock=True)
        if t.state != "open":
            raise UploadGone(f"transfer {t.id} is {t.state}: it takes no more files")
        s = uow.session
        # the other files' paths and sizes only (a folder of 5,000 files: no ORM objects)
        rows = s.execute(
            sa.select(Upload.id, Upload.relative_path, Upload.offset, Upload.length).where(
                Upload.transfer_id == t.id
            )
        ).all()
        replaced: Upload | None = None
        others: list[str] = []
        total = length
        for upload_id, other, offset, size in rows:
            if other == relative_path:
                if offset == size:
                    raise InvalidInput(
                        f"'{printable(relative_path)}' is already in this transfer (two files "
                        "with the same path)"
                    )
                replaced = s.get(Upload, upload_id)
                continue
            others.append(other)
            total += size
        conflict = name_conflict(relative_path, others)
        if conflict is not None:
            raise InvalidInput(
                f"'{printable(relative_path)}' cannot join this transfer: {conflict}"
            )
        if total > app.settings.transfer_max_size:
            raise TooLarge(
                f"with '{printable(relative_path)}' the transfer would hold {total:,} bytes; a "
                f"transfer may hold at most {app.settings.transfer_max_size:,} bytes "
                "(PRESERVE_TRANSFER_MAX_SIZE)"
            )
        folder = transfer_folder(app, t.id)
        available = free(Path(app.settings.upload_dir))
        if length > available:
            raise InsufficientStorage(
                f"the server has {available:,} bytes free for uploads and "
                f"'{printable(relative_path)}' needs {length:,}: ask an administrator to make "
                "room, then try again"
            )
        if replaced is not None:
            replaced_id = replaced.id
            s.delete(replaced)
            uow.flush()
            upload_file(app, t.id, replaced_id).unlink(missing_ok=True)
        extra = {k: v for k, v in (metadata or {}).items() if k not in ("transfer_id",)}
        upload = Upload(
            transfer_id=t.id,
            relative_path=relative_path,
            length=length,
            offset=0,
            upload_metadata=extra,
            sha256=sha256,
            created_at=at,
            updated_at=at,
            completed_at=at if length == 0 else None,
        )
        s.add(upload)
        if extra.get("role") == "metadata":
            if not relative_path.lower().endswith(".csv"):
                raise InvalidInput("the metadata file must be a CSV file (.csv)")
            t.metadata_path = relative_path
        _touch(app, t, at)
        uow.flush()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / upload.id
        path.touch()
        try:
            record = _upload_record(upload, t.expires_at)
            uow.commit()
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    return record


def upload_info(app: Application, principal: Principal, upload_id: str) -> UploadRecord:
    """The upload and its committed offset (tus HEAD)."""
    with app.uow() as uow:
        u, t = _upload(uow, principal, upload_id)
        if t.state in ("discarded", "expired"):
            raise UploadGone(f"upload {upload_id} was {t.state} with its transfer")
        return _upload_record(u, t.expires_at)


def append(
    app: Application,
    principal: Principal,
    upload_id: str,
    *,
    offset: int,
    read: Callable[[int], bytes],
    content_length: int | None,
    checksum: tuple[str, bytes] | None = None,
    now: datetime | None = None,
) -> UploadRecord:
    """Write one chunk (tus PATCH): ``read(n)`` gives the request body at most ``n`` bytes at a
    time (b"" at its end). The chunk must start at the committed offset; it is written,
    fsynced, and only then is the new offset committed. A body cut short (the connection
    dropped) keeps what arrived, unless a checksum was given (then nothing of it is kept)."""
    at = _now(now)
    if checksum is not None and checksum[0] != "sha256":
        raise InvalidInput(f"checksum algorithm {checksum[0]!r} is not supported: use sha256")
    with app.uow() as uow:
        u, t = _upload(uow, principal, upload_id)
        if t.state in ("discarded", "expired"):
            raise UploadGone(f"upload {upload_id} was {t.state} with its transfer")
        if t.state != "open":
            raise OffsetConflict(f"transfer {t.id} is complete: its files take no more bytes")
        transfer_id, length = t.id, u.length
    if content_length is not None and content_length < 0:
        raise InvalidInput("Content-Length must be 0 or more")
    path = upload_file(app, transfer_id, upload_id)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o640)
    except FileNotFoundError:
        raise UploadGone(f"upload {upload_id} has no file any more") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise UploadLocked(
                    f"another request is writing upload {upload_id}: try again in a moment"
                ) from None
            raise
        # under the lock: the committed offset is the truth
        with app.uow() as uow:
            u, t = _upload(uow, principal, upload_id)
            committed, announced_sha256 = u.offset, u.sha256
            if t.state != "open":
                raise OffsetConflict(f"transfer {t.id} is complete: its files take no more bytes")
        if offset != committed:
            raise OffsetConflict(
                f"the chunk starts at byte {offset:,} but upload {upload_id} stands at byte "
                f"{committed:,}"
            )
        room = length - committed
        if content_length is not None and content_length > room:
            raise TooLarge(
                f"the chunk of {content_length:,} bytes goes beyond the file's announced "
                f"length ({length:,} bytes, {committed:,} received)"
            )
        # bytes a crash left beyond the committed offset were never claimed: cut them off
        os.ftruncate(fd, committed)
        os.lseek(fd, committed, os.SEEK_SET)
        digest = hashlib.sha256() if checksum is not None else None
        received = 0
        limit = content_length if content_length is not None else room
        too_long = False
        try:
            while received < limit:
                piece = read(min(PIECE, limit - received))
                if not piece:
                    break  # the body ended (or the connection dropped) here
                _write_all(fd, piece)
                received += len(piece)
                if digest is not None:
                    digest.update(piece)
            if content_length is None and received >= room and read(1):
                too_long = True
        except OSError as exc:
            os.ftruncate(fd, committed)
            if exc.errno == errno.ENOSPC:
                raise InsufficientStorage(
                    "the upload folder is full: ask an administrator to make room, then resume"
                ) from None
            raise
        if too_long:
            os.ftruncate(fd, committed)
            raise TooLarge(f"the chunk goes beyond the file's announced length ({length:,} bytes)")
        cut_short = content_length is not None and received < content_length
        if (
            checksum is not None
            and digest is not None
            and (cut_short or digest.digest() != checksum[1])
        ):
            os.ftruncate(fd, committed)
            if cut_short:
                raise InvalidInput(
                    "the chunk arrived incomplete, so its checksum cannot be verified: "
                    "nothing of it was kept"
                )
            raise ChecksumMismatch(
                "the chunk's SHA-256 does not match the Upload-Checksum header: nothing of "
                "it was kept; send it again"
            )
        os.fdatasync(fd)  # the bytes and the file's size: what the offset claims
        new_offset = committed + received
        whole_digest_ok = True
        if new_offset == length and announced_sha256:
            whole_digest_ok = _sha256_of(path) == announced_sha256
            if not whole_digest_ok:
                os.ftruncate(fd, 0)
                os.fsync(fd)
                new_offset = 0
        with app.uow() as uow:
            u, t = _upload(uow, principal, upload_id)
            u.offset = new_offset
            u.updated_at = at
            u.completed_at = at if new_offset == length else None
            _touch(app, t, at)
            record = _upload_record(u, t.expires_at)
            uow.commit()
        if not whole_digest_ok:
            raise ChecksumMismatch(
                f"'{printable(record.relative_path)}' arrived whole but its SHA-256 is not the "
                "one announced: it was emptied; upload it again"
            )
        return record
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(PIECE):
            digest.update(chunk)
    return digest.hexdigest()


def delete_upload(app: Application, principal: Principal, upload_id: str) -> None:
    """tus termination: the upload and its file are removed (its transfer stays open)."""
    with app.uow() as uow:
        u, t = _upload(uow, principal, upload_id)
        if t.state != "open":
            raise UploadGone(f"transfer {t.id} is {t.state}: its uploads cannot be removed")
        uow.session.delete(u)
        if t.metadata_path == u.relative_path:
            t.metadata_path = None
        transfer_id = t.id
        uow.commit()
    upload_file(app, transfer_id, upload_id).unlink(missing_ok=True)


# ----------------------------------------------------------------------------- completion


def _delivery_layout(
    uploads: Sequence[Upload], metadata_path: str | None, name: str
) -> tuple[str, bool]:
    """(the delivery folder's name, whether the relative paths already start with it): a
    dropped folder's files all start with its name; loose files go into a folder named after
    the transfer."""
    payload = [u.relative_path for u in uploads if u.relative_path != metadata_path]
    tops = {p.split("/", 1)[0] for p in payload}
    if len(tops) == 1 and all("/" in p for p in payload):
        return tops.pop(), True
    return _one_segment(name), False


def complete(
    app: Application, principal: Principal, transfer_id: str, *, now: datetime | None = None
) -> TransferRecord:
    """Hand the transfer to ingest: every upload whole, the files moved into the delivery
    folder, the description written as a metadata CSV, ONE ingest job queued (key
    ``transfer:<id>``). Asking again returns the transfer with the same job."""
    from preserve.services.runner import check_ingest, ingest_payload

    at = _now(now)
    with app.uow() as uow:
        t = _transfer(uow, principal, transfer_id, lock=True)
        if t.state == "queued" and t.job_id:
            return _record(uow, t)
        if t.state in ("discarded", "expired"):
            raise UploadGone(f"transfer {t.id} was {t.state}: upload the files again")
        uploads = list(uow.session.scalars(sa.select(Upload).where(Upload.transfer_id == t.id)))
        payload_uploads = [u for u in uploads if u.relative_path != t.metadata_path]
        if not payload_uploads:
            raise InvalidInput("the transfer holds no files yet: add files, then complete it")
        unfinished = [u for u in uploads if u.offset != u.length]
        if unfinished:
            names = ", ".join(f"'{printable(u.relative_path)}'" for u in unfinished[:5])
            more = f" and {len(unfinished) - 5} more" if len(unfinished) > 5 else ""
            raise InvalidInput(
                f"{len(unfinished)} file(s) have not arrived whole yet ({names}{more}): resume "
                "the upload, then complete the transfer"
            )
        if t.expected_files is not None and len(payload_uploads) < t.expected_files:
            raise InvalidInput(
                f"{t.expected_files} files were announced and {len(payload_uploads)} arrived: "
                "add the missing ones, then complete the transfer"
            )
        coll = uow.session.get(Collection, t.collection_id)
        org = uow.session.get(Organisation, t.organisation_id)
        assert coll is not None and org is not None
        root = transfer_folder(app, t.id) / "delivery"
        top, prefixed = _delivery_layout(uploads, t.metadata_path, t.name)
        delivery = root / top
        for u in payload_uploads:
            target = root / u.relative_path if prefixed else delivery / u.relative_path
            _move(upload_file(app, t.id, u.id), target, u.length)
        if not delivery.exists():
            delivery.mkdir(parents=True)
        metadata_csv: Path | None = None
        if t.metadata_path is not None:
            meta = next(u for u in uploads if u.relative_path == t.metadata_path)
            metadata_csv = root / "metadata.csv"
            _move(upload_file(app, t.id, meta.id), metadata_csv, meta.length)
        elif t.description:
            metadata_csv = root / "metadata.csv"
            write_metadata_csv(metadata_csv, top, t.description)
        job_payload = ingest_payload(
            [delivery],
            collection=coll.slug,
            organisation=org.slug,
            title=None,
            metadata_csv=metadata_csv,
            metadata_encoding=None,
            new_version_of=t.new_version_of,
        )
        job_payload["transfer_id"] = t.id
        check_ingest(app, job_payload)
        publish = _publisher(app)
        try:
            job = jobs.enqueue(
                uow,
                "version" if t.new_version_of else "ingest",
                job_payload,
                requested_by=principal.username,
                idempotency_key=f"transfer:{t.id}",
                publish=publish,
                now=at,
            )
            t.job_id = job.id
            t.state = "queued"
            t.completed_at = at
            t.updated_at = at
            t.expires_at = None
            record = _record(uow, t)
            uow.commit()
        except IntegrityError:  # another request completed it at the same moment
            uow.rollback()
            with app.uow() as again:
                return _record(again, _transfer(again, principal, transfer_id))
    log.info("transfer %s completed by %s: job %s", transfer_id, principal.username, job.id)
    return record


def _publisher(app: Application) -> Callable[[str], None]:
    from preserve.services.runner import publisher

    return publisher(app)


def _move(source: Path, target: Path, length: int) -> None:
    """Rename an upload's file to its place in the delivery (again after a crash: done)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(source, target)
    except FileNotFoundError:
        if not (target.exists() and target.stat().st_size == length):
            raise InvalidInput(
                f"the file received for '{target.name}' is missing from the upload folder: "
                "discard the transfer and upload it again"
            ) from None


def write_metadata_csv(path: Path, delivery: str, description: Mapping[str, Sequence[str]]) -> None:
    """The form's description in the format of ``preserve ingest --metadata``: a ``path``
    column, then one column per value (an element with several values gets several columns,
    as the CSV has no escape for its ``|`` separator)."""
    header = ["path"]
    row = [delivery]
    for element in DC_ELEMENTS:
        for value in description.get(element, ()):
            header.append(element)
            row.append(value)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerow(row)


def retry(app: Application, principal: Principal, transfer_id: str) -> TransferRecord:
    """Try the failed ingest of a transfer again (its files were kept)."""
    with app.uow() as uow:
        t = _transfer(uow, principal, transfer_id)
        job_id = t.job_id
        if t.state != "queued" or job_id is None:
            raise InvalidInput("this transfer has no ingest to try again: complete it first")
    job = jobs.show(app, job_id)
    if job.state != "failed" and job.state != "cancelled":
        raise InvalidInput(f"the ingest of this transfer is {job.state}: nothing to try again")
    jobs.retry(app, job_id)
    _publisher(app)(job_id)
    return get_transfer(app, principal, transfer_id)


def status(app: Application, principal: Principal, transfer_id: str) -> TransferStatus:
    """Where the transfer stands: uploading, its ingest's progress, the package or the
    problems per file. A transfer whose ingest succeeded has its files removed here (the
    package is in storage) if the reaper has not done it yet."""
    transfer = get_transfer(app, principal, transfer_id)
    job = jobs.show(app, transfer.job_id) if transfer.job_id else None
    if transfer.state in ("open", "discarded", "expired") or job is None:
        phase = "uploading" if transfer.state == "open" else transfer.state
        return TransferStatus(transfer, job, phase, (), ())
    phase = job.state if job.state != "cancelled" else "failed"
    packages: tuple[str, ...] = ()
    duplicates: tuple[str, ...] = ()
    problems: tuple[FileProblem, ...] = ()
    if job.state == "succeeded":
        result = job.result or {}
        packages = tuple(
            p.get("package_id") or p.get("duplicate_of")
            for p in result.get("packages", [])
            if p.get("package_id") or p.get("duplicate_of")
        )
        duplicates = tuple(
            p["duplicate_of"]
            for p in result.get("packages", [])
            if p.get("status") == "duplicate" and p.get("duplicate_of")
        )
        _remove_folder(app, transfer.id)
    elif job.state in ("failed", "cancelled"):
        problems = job_problems(job)
    return TransferStatus(transfer, job, phase, packages, problems, duplicates)


def job_problems(job: JobRecord) -> tuple[FileProblem, ...]:
    """A failed ingest's problems, per file where the ingest named files (the job's result
    carries them), else its error in one line."""
    found: list[FileProblem] = []
    for failure in (job.result or {}).get("failures", []):
        details = failure.get("problems") or []
        for p in details:
            found.append(
                FileProblem(p.get("path") or "", p.get("message") or "", p.get("code") or "")
            )
        if not details:
            found.append(
                FileProblem(
                    Path(failure.get("source") or "").name,
                    failure.get("message") or "",
                    failure.get("code") or "",
                )
            )
    if not found and job.error:
        found.append(FileProblem("", job.error, "error"))
    return tuple(found)


def expire_abandoned(app: Application, now: datetime | None = None) -> list[str]:
    """Open transfers untouched for ``upload_expiry_hours`` lose their files and become
    ``expired``; ingested transfers whose files are still there lose them. The ids expired."""
    at = _now(now)
    expired: list[str] = []
    ingested: list[str] = []
    with app.uow() as uow:
        s = uow.session
        for t in s.scalars(
            sa.select(Transfer).where(Transfer.state == "open", Transfer.expires_at < at).limit(500)
        ):
            t.state = "expired"
            t.updated_at = at
            t.expires_at = None
            expired.append(t.id)
        for transfer_id, job_id in s.execute(
            sa.select(Transfer.id, Transfer.job_id).where(
                Transfer.state == "queued", Transfer.job_id.is_not(None)
            )
        ).all():
            if transfer_folder(app, transfer_id).exists():
                job = uow.jobs.get(str(job_id))
                if job is not None and job.state == "succeeded":
                    ingested.append(transfer_id)
        uow.commit()
    for transfer_id in [*expired, *ingested]:
        _remove_folder(app, transfer_id)
    if expired:
        log.info("expired %d abandoned transfer(s): %s", len(expired), ", ".join(expired))
    return expired


# ----------------------------------------------------------------------------- server folders


def ingest_folders(app: Application, principal: Principal) -> list[str]:
    """The names of the server-side folders the person may ingest from (archivists)."""
    if principal.organisations_where("archivist") == frozenset():
        return []
    return sorted(app.settings.ingest_folder_map())


def _folder_path(
    app: Application, principal: Principal, folder: str, path: str
) -> tuple[Path, Path]:
    if principal.organisations_where("archivist") == frozenset():
        raise PermissionDenied("you need the archivist role to ingest from a server folder")
    folders = app.settings.ingest_folder_map()
    if folder not in folders:
        if not folders:
            raise NotFound("no server folders are set up for ingest (PRESERVE_INGEST_FOLDERS)")
        raise NotFound(f"no server folder {folder!r}: one of {', '.join(sorted(folders))}")
    root = folders[folder].resolve()
    if not root.is_dir():
        raise NotFound(f"the server folder {folder!r} does not exist on this server")
    path = path.strip().strip("/")
    if path:
        check_relative_path(path)
    target = (root / path).resolve()
    if target != root and not target.is_relative_to(root):
        raise UnsafePath(f"'{printable(path)}' leads outside the server folder {folder!r}")
    if not target.exists():
        raise NotFound(f"no folder '{printable(path)}' in the server folder {folder!r}")
    return root, target


def list_folder(
    app: Application, principal: Principal, folder: str, path: str = ""
) -> FolderListing:
    """One level of a server-side folder (sub-folders first, then files), every entry checked to
    stay inside it."""
    root, target = _folder_path(app, principal, folder, path)
    if not target.is_dir():
        raise InvalidInput(f"'{printable(path)}' is a file, not a folder")
    entries: list[FolderEntry] = []
    for entry in sorted(os.scandir(target), key=lambda e: (not e.is_dir(), e.name.lower())):
        try:
            resolved = Path(entry.path).resolve()
        except OSError:
            continue
        if resolved != root and not resolved.is_relative_to(root):
            continue  # a link leading outside: not offered
        is_dir = resolved.is_dir()
        size = None if is_dir else resolved.stat().st_size
        entries.append(FolderEntry(entry.name, is_dir, size))
    relative = target.relative_to(root).as_posix()
    return FolderListing(folder, "" if relative == "." else relative, tuple(entries))


def ingest_from_folder(
    app: Application,
    principal: Principal,
    *,
    folder: str,
    path: str,
    collection: str | int,
    description: Mapping[str, str | Sequence[str]] | None = None,
    request_id: str | None = None,
) -> JobRecord:
    """Queue the ingest of a folder (or file) inside a server-side folder, as the person.
    ``request_id`` (a form's one-time id) makes a re-sent form queue nothing more."""
    from preserve.services.runner import check_ingest, ingest_payload

    described = _description(description)
    root, target = _folder_path(app, principal, folder, path)
    if target == root:
        raise InvalidInput("choose a folder or file inside the server folder, not all of it")
    with app.uow() as uow:
        coll = _collection(uow, principal, collection)
        org = uow.session.get(Organisation, coll.organisation_id)
        assert org is not None
        coll_slug, org_slug = coll.slug, org.slug
    metadata_csv: Path | None = None
    key = f"folder:{request_id}" if request_id else None
    if described:
        name = re.sub(r"[^A-Za-z0-9_-]", "", request_id or "") or os.urandom(8).hex()
        metadata_csv = Path(app.settings.upload_dir) / "folder-ingests" / name / "metadata.csv"
        write_metadata_csv(metadata_csv, str(target), described)
    payload = ingest_payload(
        [target],
        collection=coll_slug,
        organisation=org_slug,
        title=None,
        metadata_csv=metadata_csv,
        metadata_encoding=None,
        new_version_of=None,
    )
    payload["server_folder"] = folder
    check_ingest(app, payload)
    return jobs.submit(app, "ingest", payload, requested_by=principal.username, idempotency_key=key)
