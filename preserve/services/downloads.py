"""Downloads: one file of any version, or a whole version of a package as a complete BagIt bag
packed as zip or tar, streamed from storage (local or S3) in chunks, never whole in memory nor
written to disk first.

The bag is the one ``preserve export --version N`` writes (:mod:`preserve.services.export`): the
version's files, each read from the version whose folder stores it (``fetch.txt`` resolved), its
tag files without ``fetch.txt`` and tag manifests without its line, the package's event files
under ``metadata/events/`` listed in the tag manifests. Every byte is checked against the
catalogue's digests while it is sent; a copy that cannot be opened is passed over for the next.
Sizes are known first (the zip by zipstream-ng in its sized mode, the tar by adding up its
blocks), so the response has a Content-Length.

Each completed download is a PREMIS ``dissemination`` event on the package (who, which version,
which file or which archive), written to storage with the package's other events.
"""

from __future__ import annotations

import logging
import tarfile
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from preserve import __version__, premis
from preserve.bagit.manifest import TAGMANIFEST_NAME, manifest_line
from preserve.bootstrap import Application
from preserve.checksums import MultiHasher, bagit_token
from preserve.errors import (
    InvalidInput,
    NotFound,
    ObjectNotFound,
    StorageError,
    StorageUnavailable,
)
from preserve.services import packages as pk
from preserve.services.access import Principal
from preserve.services.dissemination import require_download
from preserve.services.export import EVENTS_FOLDER, _Piece, _pieces
from preserve.services.sharing import require_package_view

log = logging.getLogger(__name__)

CHUNK = 1 << 20
#: MIME types never shown inline by the browser (stored XSS): every download is an attachment
#: anyway; these are named so a later inline view leaves them out.
ACTIVE_TYPES = ("text/html", "application/xhtml+xml", "image/svg+xml", "text/xml")
FORMATS = ("zip", "tar")


@dataclass
class Download:
    """A response to send: its body (``chunks``, iterated once; ``close()`` releases what is
    open), its length and headers' values."""

    filename: str
    mime: str
    size: int
    chunks: Iterable[bytes]
    close: Callable[[], None] = field(default=lambda: None)
    #: the organisation of the package (for the audit log)
    organisation_id: int | None = None

    @property
    def disposition(self) -> str:
        return content_disposition(self.filename)


def content_disposition(filename: str) -> str:
    """``attachment`` with an ASCII ``filename`` and the exact UTF-8 ``filename*`` (RFC 6266,
    RFC 8187)."""
    name = filename.rsplit("/", 1)[-1] or "download"
    ascii_name = (
        unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii") or "download"
    )
    ascii_name = "".join(c if c.isprintable() and c not in '"\\;' else "_" for c in ascii_name)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def check_path(path: str) -> str:
    """A file path inside a bag as asked for: relative, no '..', no NUL, control character or
    backslash (:class:`InvalidInput` otherwise)."""
    if (
        not path
        or path.startswith("/")
        or "\\" in path
        or any(ord(c) < 32 or ord(c) == 127 for c in path)
        or any(p in ("", ".", "..") for p in path.split("/"))
    ):
        raise InvalidInput(f"{path!r} is not a path of a file in a package")
    return path


# ----------------------------------------------------------------------------- one file


@dataclass(frozen=True)
class _Source:
    url: str
    key: str
    location: str


def _read_first(app: Application, sources: list[_Source]) -> tuple[Any, Any, bytes, _Source]:
    """Open the first source that answers and read its first chunk: (context, stream, first
    chunk, source). None answers: :class:`StorageUnavailable`."""
    problems = []
    for s in sources:
        ctx = None
        try:
            ctx = app.storage(s.url).open(s.key)
            stream = ctx.__enter__()
            first = stream.read(CHUNK)
            return ctx, stream, first, s
        except (StorageError, OSError) as exc:
            if ctx is not None:
                try:
                    ctx.__exit__(None, None, None)
                except Exception:
                    log.debug("closing %s failed", s.key, exc_info=True)
            problems.append(f"{s.location}: {exc}")
            log.warning("download: cannot read %s on %s: %s", s.key, s.location, exc)
    raise StorageUnavailable(
        "no copy of this file can be read right now ("
        + ("; ".join(problems) or "no stored copy")
        + "); try again later or tell an administrator"
    )


def _checked(
    stream: Any,
    first: bytes,
    size: int,
    sha256: str | None,
    sha512: str | None,
    what: str,
) -> Iterator[bytes]:
    """The bytes of ``stream`` (``first`` already read) checked against the catalogue: a
    difference stops the download (the client sees it cut short, never wrong bytes as whole)."""
    hasher = MultiHasher(("sha256", "sha512"))
    chunk = first
    while chunk:
        hasher.update(chunk)
        yield chunk
        chunk = stream.read(CHUNK)
    digests = hasher.hexdigests()
    if hasher.size != size or (
        (sha256 and digests["sha256"] != sha256.lower())
        or (sha512 and digests["sha512"] != sha512.lower())
    ):
        log.error("download of %s: the copy differs from the catalogue; stopped", what)
        raise StorageError(f"{what}: the stored copy differs from the catalogue")


def _file_sources(uow: Any, package_id: str, f: Any, copies: Any | None = None) -> list[_Source]:
    """Where the bytes of file row ``f`` can be read, the best copy first (``copies``: the
    package's copies, when the caller has them already)."""
    if copies is None:
        copies = uow.copies.for_package(package_id)
    pieces = _pieces(copies, [f.stored_version])
    stored = f.stored_path or f.path
    held = pieces.get(f.stored_version, [])
    return [_Source(p.url, p.key_prefix + stored, p.location) for p in held]


def _package(uow: Any, principal: Principal, package_id: str) -> Any:
    wanted = pk.uuid_of(package_id)
    p = uow.packages.get(wanted) if wanted else None
    if p is None:
        raise NotFound(f"package {package_id} not found")
    # its owner's members and the parties of an agreement over it; the agreement's rights
    # decide the download itself (below)
    require_package_view(uow.session, principal, p, f"package {package_id}")
    if p.status != "stored":
        raise InvalidInput(f"package {p.id} is not stored (status {p.status})")
    # the agreement's rights: disseminate granted, no embargo running for this person
    require_download(uow.session, principal, p.id, p.collection.organisation_id)
    return p


def download_file(
    app: Application,
    principal: Principal,
    package_id: str,
    *,
    file_id: int | None = None,
    path: str | None = None,
    version: int | None = None,
) -> Download:
    """One file of the package (by its id, or by ``path`` in ``version``, default the current
    one), streamed from the first copy that can be read. Its MIME type is the one recorded at
    ingest (``application/octet-stream`` when unknown). Unknown file, or one of another package:
    :class:`NotFound`; a bad path: :class:`InvalidInput`; no copy readable:
    :class:`StorageUnavailable`."""
    with app.uow() as uow:
        p = _package(uow, principal, package_id)
        if file_id is not None:
            f = uow.files.get(file_id)
            if f is None or f.package_id != p.id:
                raise NotFound(f"package {p.id} has no file {file_id}")
        else:
            number = pk.choose_version(uow, p.id, p.version, version)
            f = uow.files.get_by_path(p.id, check_path(path or ""), version=number)
            if f is None:
                raise NotFound(f"version {number} of package {p.id} has no file {path!r}")
        sources = _file_sources(uow, p.id, f)
        pid, fpath, fversion, size = p.id, f.path, f.version, f.size
        sha256, sha512, fid = f.sha256, f.sha512, f.id
        mime = f.mime or "application/octet-stream"
        org = p.collection.organisation_id
    ctx, stream, first, source = _read_first(app, sources)
    what = f"{fpath} (version {fversion} of package {pid})"
    closed: list[bool] = []

    def close() -> None:
        if not closed:
            closed.append(True)
            ctx.__exit__(None, None, None)

    def body() -> Iterator[bytes]:
        try:
            yield from _checked(stream, first, size, sha256, sha512, what)
        finally:
            close()
        record_dissemination(
            app,
            principal,
            pid,
            fversion,
            f"file {fpath} of version {fversion} downloaded from location {source.location}",
            file_id=fid,
        )

    return Download(
        fpath.rsplit("/", 1)[-1],
        mime.split(";")[0].strip() or "application/octet-stream",
        size,
        body(),
        close=close,
        organisation_id=org,
    )


# ----------------------------------------------------------------------------- the bag


@dataclass(frozen=True)
class _Member:
    """A file of the bag to send: its path in the bag, size, and where to read it (or its
    bytes, for the rewritten tag manifests)."""

    path: str
    size: int
    sha256: str | None
    sha512: str | None
    sources: tuple[_Source, ...] = ()
    data: bytes | None = None


@dataclass(frozen=True)
class BagPlan:
    package_id: str
    version: int
    #: the folder every member is under in the archive
    name: str
    members: tuple[_Member, ...]
    organisation_id: int | None = None

    @property
    def payload_bytes(self) -> int:
        return sum(m.size for m in self.members)


def bag_plan(
    app: Application, principal: Principal, package_id: str, version: int | None = None
) -> BagPlan:
    """What the bag of ``version`` (default: the current one) holds and where each file is
    read from; the tag manifests are read and rewritten now (they are small), so every size is
    known before anything is sent. A version with a file no copy holds:
    :class:`StorageUnavailable`."""
    with app.uow() as uow:
        p = _package(uow, principal, package_id)
        number = pk.choose_version(uow, p.id, p.version, version)
        files = [
            f
            for f in uow.files.iter_for_package(p.id, version=number)
            if not (f.role == "tag" and f.path == "fetch.txt")
        ]
        needed = sorted({f.stored_version for f in files} | {number})
        pieces = _pieces(uow.copies.for_package(p.id), needed)
        lacking = [v for v in needed if not pieces.get(v)]
        if lacking:
            raise StorageUnavailable(
                f"version {number} of package {p.id} cannot be downloaded: no copy of version "
                f"{', '.join(map(str, lacking))} is stored"
            )
        plain: list[_Member] = []
        manifests: list[Any] = []
        for f in files:
            stored = f.stored_path or f.path
            sources = tuple(
                _Source(pc.url, pc.key_prefix + stored, pc.location)
                for pc in pieces[f.stored_version]
            )
            member = _Member(f.path, f.size, f.sha256, f.sha512, sources)
            if f.role == "tag" and TAGMANIFEST_NAME.fullmatch(f.path):
                manifests.append(member)
            else:
                plain.append(member)
        events = _event_members(uow, p.id, pieces)
        pid, org = p.id, p.collection.organisation_id
    rewritten = [_tag_manifest(app, m, events) for m in manifests]
    return BagPlan(pid, number, f"{pid}-v{number}", tuple(plain + events + rewritten), org)


def _event_members(uow: Any, package_id: str, pieces: dict[int, list[_Piece]]) -> list[_Member]:
    where = {pc.location: pc for ps in pieces.values() for pc in ps}
    out = []
    for e in uow.journal.files_of(package_id):
        sources = tuple(
            _Source(pc.url, pc.package_folder + e.path, pc.location)
            for pc in where.values()
            if e.created_at is None or _utc(e.created_at) >= _utc(pc.since)
        )
        if sources:  # as export does: an event file older than every copy is not there
            inside = EVENTS_FOLDER + e.path.removeprefix("events/")
            out.append(_Member(inside, e.size, e.sha256, e.sha512, sources))
    return out


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _read_all(app: Application, member: _Member) -> bytes:
    """A small file (a tag manifest, an event file) read whole, checked."""
    ctx, stream, first, _s = _read_first(app, list(member.sources))
    try:
        return b"".join(
            _checked(stream, first, member.size, member.sha256, member.sha512, member.path)
        )
    finally:
        ctx.__exit__(None, None, None)


def _tag_manifest(app: Application, member: _Member, events: list[_Member]) -> _Member:
    """A tag manifest without the line of ``fetch.txt``, with a line for each event file."""
    m = TAGMANIFEST_NAME.fullmatch(member.path)
    assert m is not None
    algorithm = bagit_token(m.group(1))
    lines = _read_all(app, member).decode("utf-8").splitlines(keepends=True)
    kept = [line for line in lines if line.rstrip("\r\n").split(None, 1)[1:] != ["fetch.txt"]]
    for e in events:
        digest = {"sha256": e.sha256, "sha512": e.sha512}.get(algorithm)
        if not digest:
            hasher = MultiHasher((algorithm,))
            hasher.update(_read_all(app, e))
            digest = hasher.hexdigests()[algorithm]
        kept.append(manifest_line(digest.lower(), e.path))
    data = "".join(kept).encode("utf-8")
    return _Member(member.path, len(data), None, None, data=data)


def _member_chunks(app: Application, member: _Member, what: str) -> Iterator[bytes]:
    if member.data is not None:
        yield member.data
        return
    ctx, stream, first, _s = _read_first(app, list(member.sources))
    try:
        yield from _checked(stream, first, member.size, member.sha256, member.sha512, what)
    finally:
        ctx.__exit__(None, None, None)


def download_bag(
    app: Application,
    principal: Principal,
    package_id: str,
    version: int | None = None,
    fmt: str = "zip",
) -> Download:
    """``version`` of the package (default: the current one) as a complete bag in a zip or tar
    archive (one folder ``<package>-v<N>/``), streamed with its length known first."""
    if fmt not in FORMATS:
        raise InvalidInput(f"no archive format {fmt!r}: give zip or tar")
    plan = bag_plan(app, principal, package_id, version)
    # the first file must be readable before anything is sent (a 503, not a cut-short 200)
    first = next((m for m in plan.members if m.data is None), None)
    if first is not None:
        ctx, _stream, _chunk, _s = _read_first(app, list(first.sources))
        ctx.__exit__(None, None, None)
    body, size = (_zip if fmt == "zip" else _tar)(app, plan)
    what = f"version {plan.version} of the package downloaded as a bag in a {fmt} archive"

    def chunks() -> Iterator[bytes]:
        yield from body
        record_dissemination(app, principal, plan.package_id, plan.version, what)

    return Download(
        f"{plan.name}.{fmt}", _MIME[fmt], size, chunks(), organisation_id=plan.organisation_id
    )


_MIME = {"zip": "application/zip", "tar": "application/x-tar"}


def _zip(app: Application, plan: BagPlan) -> tuple[Iterable[bytes], int]:
    from zipstream import ZIP_STORED, ZipStream

    zs = ZipStream(sized=True, compress_type=ZIP_STORED)
    for m in plan.members:
        arcname = f"{plan.name}/{m.path}"
        zs.add(_member_chunks(app, m, arcname), arcname, size=m.size)
    return zs, len(zs)


def _tar_header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = int(datetime.now(UTC).timestamp())
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _tar(app: Application, plan: BagPlan) -> tuple[Iterable[bytes], int]:
    """A POSIX (pax) tar, block by block as ``tarfile`` writes it in stream mode (``w|``):
    each member's header (``TarInfo.tobuf``), its bytes padded to 512, two zero blocks, the
    whole padded to tarfile's record size. Written here so each file is sent in chunks as it
    is read (``tarfile.addfile`` copies a whole member into its output before returning)."""
    headers = [(m, _tar_header(f"{plan.name}/{m.path}", m.size)) for m in plan.members]
    total = sum(len(h) + m.size + (-m.size % tarfile.BLOCKSIZE) for m, h in headers)
    total += 2 * tarfile.BLOCKSIZE
    end_pad = -total % tarfile.RECORDSIZE
    size = total + end_pad

    def body() -> Iterator[bytes]:
        for m, header in headers:
            yield header
            yield from _member_chunks(app, m, f"{plan.name}/{m.path}")
            pad = -m.size % tarfile.BLOCKSIZE
            if pad:
                yield b"\0" * pad
        yield b"\0" * (2 * tarfile.BLOCKSIZE + end_pad)

    return body(), size


# ----------------------------------------------------------------------------- events


def record_dissemination(
    app: Application,
    principal: Principal,
    package_id: str,
    version: int,
    detail: str,
    *,
    file_id: int | None = None,
) -> None:
    """A PREMIS dissemination event on the package, the person as its implementer, written to
    storage with the package's other events (:func:`preserve.services.journal.flush_events`)."""
    from preserve.services.admin import link_actor_and_owner
    from preserve.services.journal import flush_events

    with app.uow() as uow:
        agent = uow.agents.get_or_create("preserve", __version__, "software")
        event = uow.events.add(
            premis.DISSEMINATION,
            "success",
            agent=agent,
            package_id=package_id,
            file_id=file_id,
            detail=f"{detail} by {principal.username}",
            outcome_detail="every byte sent matched the catalogue's digests",
            occurred_at=datetime.now(UTC),
            version=version,
        )
        link_actor_and_owner(uow, principal.username, event)
        uow.commit()
    flush_events(app, [package_id], catch_up=0)


__all__ = [
    "ACTIVE_TYPES",
    "BagPlan",
    "Download",
    "ObjectNotFound",
    "bag_plan",
    "check_path",
    "content_disposition",
    "download_bag",
    "download_file",
    "record_dissemination",
]
