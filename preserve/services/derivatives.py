"""Thumbnails and previews of a package's images, made in a worker (a ``derive`` job) with
pyvips and kept apart from the AIP: JPEG files under ``settings.derivatives_dir``, never on a
storage location, recorded in the ``derivatives`` table (or why one could not be made). They can
always be made again from the masters.

pyvips shrinks while it decodes (``Image.thumbnail``), so a 300 MB TIFF master is never held
whole in memory. A master on a local location is read where it is; one on S3 is copied into a
temporary folder that is removed after. The job is idempotent and resumable: a file whose
derivatives are recorded is passed over, and files with the same content share one derivative
file (a file unchanged between versions is a new file row but the same bytes).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preserve.bootstrap import Application
from preserve.errors import NotFound, StorageError
from preserve.progress import NoProgress, Progress
from preserve.services import jobs
from preserve.services.access import Principal
from preserve.services.sharing import require_package_view

log = logging.getLogger(__name__)

#: The longest side of each kind, in pixels.
SIZES = {"thumbnail": 256, "preview": 1600}
#: The MIME types of the images derivatives are made of.
IMAGE_TYPES = (
    "image/jpeg",
    "image/png",
    "image/tiff",
    "image/gif",
    "image/webp",
    "image/jp2",
    "image/jpx",
)
#: Images of more pixels than this are refused (a decompression bomb, or a master too large
#: to be worth a thumbnail): 1 gigapixel.
MAX_PIXELS = 1_000_000_000
JPEG_QUALITY = 85


@dataclass(frozen=True)
class DeriveReport:
    package_id: str
    #: image files looked at, derivatives made, reused (same bytes as another file's), failed
    images: int
    made: int
    reused: int
    failed: int
    #: files whose derivatives were already recorded
    skipped: int


def _is_image(f: Any) -> bool:
    mime = (f.mime or "").split(";")[0].strip().lower()
    return f.role == "payload" and mime in IMAGE_TYPES


def _target(settings: Any, package_id: str, digest: str, kind: str) -> tuple[str, Path]:
    relative = f"{package_id[:2]}/{package_id}/{digest[:40]}-{kind}.jpg"
    return relative, Path(settings.derivatives_dir) / relative


@contextlib.contextmanager
def _master(app: Application, sources: Sequence[Any]) -> Iterator[str]:
    """A filesystem path of the master: where a local location keeps it, or a temporary copy
    of the first copy that can be read (removed afterwards)."""
    problems = []
    for s in sources:
        storage = app.storage(s.url)
        root = getattr(storage, "root", None)
        if getattr(storage, "provider", "") == "local" and root:
            path = os.path.join(root, *s.key.split("/"))
            real = os.path.realpath(path)
            inside = os.path.commonpath([os.path.realpath(root), real]) == os.path.realpath(root)
            if inside and os.path.isfile(real):
                yield real
                return
            problems.append(f"{s.location}: missing")
            continue
        folder = tempfile.mkdtemp(prefix="preserve-derive-")
        try:
            local = os.path.join(folder, "master" + Path(s.key).suffix.lower())
            try:
                with storage.open(s.key) as stream, open(local, "wb") as out:
                    shutil.copyfileobj(stream, out, 1 << 20)
            except (StorageError, OSError) as exc:
                problems.append(f"{s.location}: {exc}")
                continue
            yield local
            return
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    raise StorageError("no copy of the master can be read: " + ("; ".join(problems) or "none"))


def _make(master: str, preview: Path, thumbnail: Path) -> tuple[tuple[int, int], tuple[int, int]]:
    """Write the preview (1600 px) from the master and the thumbnail (256 px) from the
    preview; their sizes. Raises ValueError for an image too large or unreadable."""
    import pyvips

    try:
        header = pyvips.Image.new_from_file(master, access="sequential")
    except pyvips.Error as exc:
        raise ValueError(f"libvips cannot read it: {str(exc).splitlines()[0]}") from exc
    pixels = header.width * header.height
    if pixels > MAX_PIXELS:
        raise ValueError(
            f"{header.width} x {header.height} pixels is more than the {MAX_PIXELS:,} allowed"
        )
    made = []
    steps = ((master, preview, "preview"), (str(preview), thumbnail, "thumbnail"))
    for source, target, kind in steps:
        side = SIZES[kind]
        try:
            image = pyvips.Image.thumbnail(source, side, height=side, size="down")
            if image.hasalpha():
                image = image.flatten(background=[255, 255, 255])
            if image.interpretation not in ("srgb", "b-w"):
                image = image.colourspace("srgb")
            if image.format != "uchar":
                image = image.cast("uchar")
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
            image.jpegsave(str(partial), Q=JPEG_QUALITY, strip=True)
            os.replace(partial, target)
        except pyvips.Error as exc:
            raise ValueError(f"libvips cannot read it: {str(exc).splitlines()[0]}") from exc
        made.append((image.width, image.height))
    return made[0], made[1]


def make_derivatives(
    app: Application,
    package_id: str,
    *,
    progress: Progress | None = None,
    again: bool = False,
) -> DeriveReport:
    """Make the thumbnail and preview of every image of the package's current version that
    has none recorded yet (``again``: of every image, replacing them). Each file is recorded as
    it is done, so an interrupted run goes on where it was."""
    from sqlalchemy import select

    from preserve.catalogue.models import Derivative
    from preserve.services.downloads import _file_sources

    progress = progress or NoProgress()
    settings = app.settings
    with app.uow() as uow:
        p = uow.packages.get(package_id)
        if p is None:
            raise NotFound(f"package {package_id} does not exist")
        copies = uow.copies.for_package(p.id)
        images = [
            (
                f.id,
                f.sha512 or f.sha256 or str(f.id),
                f.size,
                f.path,
                _file_sources(uow, p.id, f, copies),
            )
            for f in uow.files.iter_for_package(p.id)
            if _is_image(f)
        ]
        done = {
            d.file_id
            for d in uow.session.scalars(select(Derivative).where(Derivative.package_id == p.id))
            if d.kind == "thumbnail"
        }
        if again:
            done = set()
    made = reused = failed = skipped = 0
    progress.begin("derivatives", len(images), sum(i[2] for i in images))
    for file_id, digest, size, path, sources in images:
        if file_id in done:
            skipped += 1
            progress.advance(1, size)
            continue
        rel_preview, preview = _target(settings, package_id, digest, "preview")
        rel_thumb, thumbnail = _target(settings, package_id, digest, "thumbnail")
        error = None
        sizes: tuple[tuple[int, int], tuple[int, int]] | None = None
        if not again and preview.is_file() and thumbnail.is_file():
            sizes = (_size_of(preview), _size_of(thumbnail))
            reused += 1
        else:
            try:
                with _master(app, sources) as master:
                    sizes = _make(master, preview, thumbnail)
                made += 1
            except ValueError as exc:
                error = str(exc)
                failed += 1
                log.warning("derivatives of %s in %s: %s", path, package_id, error)
        _record(app, package_id, file_id, rel_preview, rel_thumb, sizes, error)
        progress.advance(1, size)
    progress.end()
    return DeriveReport(package_id, len(images), made, reused, failed, skipped)


def _size_of(path: Path) -> tuple[int, int]:
    import pyvips

    image = pyvips.Image.new_from_file(str(path))
    return image.width, image.height


def _record(
    app: Application,
    package_id: str,
    file_id: int,
    rel_preview: str,
    rel_thumb: str,
    sizes: tuple[tuple[int, int], tuple[int, int]] | None,
    error: str | None,
) -> None:
    """One row per kind (replacing any), in one transaction."""
    from sqlalchemy import delete

    from preserve.catalogue.models import Derivative

    settings = app.settings
    with app.uow() as uow:
        uow.session.execute(delete(Derivative).where(Derivative.file_id == file_id))
        for kind, rel, index in (("preview", rel_preview, 0), ("thumbnail", rel_thumb, 1)):
            w = h = nbytes = None
            if sizes is not None:
                w, h = sizes[index]
                nbytes = (Path(settings.derivatives_dir) / rel).stat().st_size
            uow.session.add(
                Derivative(
                    package_id=package_id,
                    file_id=file_id,
                    kind=kind,
                    path=rel if sizes is not None else None,
                    width=w,
                    height=h,
                    size=nbytes,
                    error=error,
                )
            )
        uow.commit()


@jobs.handles("derive")
def derive_job(app: Application, job: jobs.JobRecord, work: jobs.Work) -> Mapping[str, Any]:
    """The ``derive`` job: thumbnails and previews of one package's images."""
    report = make_derivatives(app, job.payload["package"], progress=work)
    return {
        "package": report.package_id,
        "images": report.images,
        "made": report.made,
        "reused": report.reused,
        "failed": report.failed,
        "skipped": report.skipped,
    }


def queue_derivatives(
    app: Application, package_id: str, version: int | None = None, *, occasion: str = ""
) -> str | None:
    """Queue a ``derive`` job for the package if its current version has images (one per
    package version and ``occasion``, e.g. a restore after a disposal removed them: asking twice
    queues one); the job's id, or None when there is nothing to make."""
    with app.uow() as uow:
        p = uow.packages.get(package_id)
        if p is None or p.status != "stored":
            return None
        number = version or p.version
        if not any(_is_image(f) for f in uow.files.iter_for_package(p.id, role="payload")):
            return None
    record = jobs.submit(
        app,
        "derive",
        {"package": package_id},
        package_id=package_id,
        idempotency_key=f"derive:{package_id}:v{number}" + (f":{occasion}" if occasion else ""),
    )
    return record.id


def queue_after_ingest(app: Application, package_ids: Sequence[str], *, occasion: str = "") -> None:
    """Queue the derivatives of packages just stored (or restored: ``occasion``); a failure
    here never fails the ingest or the restore (the thumbnails can be made later: ``preserve
    derivatives make``)."""
    for package_id in package_ids:
        try:
            queue_derivatives(app, package_id, occasion=occasion)
        except Exception:
            log.warning("could not queue the derivatives of %s", package_id, exc_info=True)


# ----------------------------------------------------------------------------- serving


@dataclass(frozen=True)
class DerivativeFile:
    path: Path
    mime: str
    etag: str


def derivative_file(
    app: Application, principal: Principal, package_id: str, file_id: int, kind: str
) -> DerivativeFile | None:
    """The thumbnail or preview of a file of the package, if made (None: show a placeholder).
    A package the person may not see, or a file not of it: :class:`NotFound`."""
    from sqlalchemy import select

    from preserve.catalogue.models import Derivative
    from preserve.services.packages import uuid_of

    if kind not in SIZES:
        raise NotFound(f"no derivative kind {kind!r}")
    with app.uow() as uow:
        wanted = uuid_of(package_id)
        p = uow.packages.get(wanted) if wanted else None
        if p is None:
            raise NotFound(f"package {package_id} not found")
        require_package_view(uow.session, principal, p, f"package {package_id}")
        f = uow.files.get(file_id)
        if f is None or f.package_id != p.id:
            raise NotFound(f"package {package_id} has no file {file_id}")
        d = uow.session.scalar(
            select(Derivative).where(Derivative.file_id == file_id, Derivative.kind == kind)
        )
        if d is None or d.path is None:
            return None
        path = Path(app.settings.derivatives_dir) / d.path
        etag = f"{d.id}-{int(d.created_at.timestamp())}"
    if not path.is_file():
        return None
    return DerivativeFile(path, "image/jpeg", etag)
