"""Format identification (siegfried/PRONOM, libmagic) and image properties (Pillow).

PUIDs come from siegfried only: never from a MIME type or a file extension. ``UNKNOWN`` (with
siegfried's warning) is a valid result, not an error. Every result records the siegfried version and
the PRONOM signature files it used.

siegfried holds the GIL and libmagic handles are not thread-safe: use one :class:`Identifier` per
thread, and :func:`identify_files` with ``workers > 1`` to spread many files over processes (a
persistent pool: :func:`start_pool` starts it early, :func:`shutdown_pool` stops it).

Cost per small file (2 cores, 4 KB random data): libmagic ~0.35-0.5 ms for each of its two passes
(MIME type, description), siegfried ~0.3-0.45 ms in batches (``identify_many``; ~40% more when
called per file), Python ~0.1 ms. libmagic must read from the descriptor, not from a buffer of the
head: some of its tests read the end of the file.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import multiprocessing
import os
import re
import stat
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import magic
import pygfried
from PIL import Image, ImageCms, ImageFile

from preserve.errors import InvalidInput
from preserve.values import FormatInfo, FormatMatch, ImageInfo

__all__ = [
    "PARALLEL_THRESHOLD",
    "Identifier",
    "identify_files",
    "image_properties",
    "is_image",
    "shutdown_pool",
    "start_pool",
]

UNKNOWN = "UNKNOWN"
EMPTY_WARNING = "empty file"
EMPTY_MIME = "application/x-empty"
PARALLEL_THRESHOLD = 200  # below this, starting processes costs more than it saves
_BATCH = 64  # files per siegfried call (identify_many): per-file calls cost ~40% more CPU
_CHUNK = 64  # at most this many files per task sent to a helper process

# PRONOM image formats whose siegfried match may carry no image/* MIME type
_IMAGE_PUIDS = frozenset(
    {
        "fmt/353",  # TIFF
        "x-fmt/387",  # TIFF (Exif)
        "x-fmt/399",  # TIFF (Exif)
        "x-fmt/388",  # TIFF (Exif)
        "fmt/1917",  # TIFF (BigTIFF)
    }
)


# --------------------------------------------------------------------------------------------
# identification


class Identifier:
    """Reusable identifier: one siegfried scanner and libmagic handles.

    Not thread-safe (libmagic): give each thread or process its own instance.
    """

    def __init__(self) -> None:
        self._scanner = pygfried.Scanner()
        self._magic_mime = magic.Magic(mime=True)
        self._magic_text = magic.Magic()
        header = self._scanner.identify_many([])
        self.tool: str = f"siegfried {header.get('siegfried') or pygfried.version()}"
        identifiers = header.get("identifiers") or []
        self.signature_version: str = str(identifiers[0].get("details", "")) if identifiers else ""

    def identify(self, path: Path) -> FormatInfo:
        """Identify one regular file; raise :class:`InvalidInput` when it cannot be read."""
        return _raise_first(self.identify_outcomes([Path(path)]))[0]

    def identify_many(self, paths: Sequence[Path]) -> list[FormatInfo]:
        """Identify ``paths`` in order, siegfried scanning them in batches (one call per batch).

        Same results as :meth:`identify` for each path; raises the :class:`InvalidInput` of the
        first path (in order) that cannot be identified.
        """
        return _raise_first(self.identify_outcomes([Path(p) for p in paths]))

    def identify_outcomes(self, paths: Sequence[Path]) -> list[FormatInfo | InvalidInput]:
        """Like :meth:`identify_many`, but a file's error is returned in its place, not raised."""
        out: list[FormatInfo | InvalidInput] = []
        for start in range(0, len(paths), _BATCH):
            out.extend(self._batch(paths[start : start + _BATCH]))
        return out

    # -- helpers ----------------------------------------------------------------------------

    def _batch(self, paths: Sequence[Path]) -> list[FormatInfo | InvalidInput]:
        out: list[FormatInfo | InvalidInput | None] = []
        magic_of: dict[int, tuple[str, str]] = {}
        batch: list[int] = []  # indexes of the files siegfried scans in one call
        names: list[str] = []
        for index, path in enumerate(paths):
            try:
                mime, description, size = self._stat_and_libmagic(path)
            except InvalidInput as exc:
                out.append(exc)
                continue
            if size == 0:
                out.append(self._empty(mime, description))
                continue
            name = str(path)
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                out.append(self._one(path, mime, description))  # through a UTF-8 alias
                continue
            out.append(None)  # siegfried's answer comes below
            magic_of[index] = (mime, description)
            batch.append(index)
            names.append(name)
        answers: dict[int, FormatInfo | InvalidInput] = {}
        if batch:
            answers = self._siegfried_batch([paths[i] for i in batch], names, magic_of, batch)
        return [answers[i] if o is None else o for i, o in enumerate(out)]

    def _siegfried_batch(
        self,
        paths: list[Path],
        names: list[str],
        magic_of: dict[int, tuple[str, str]],
        batch: list[int],
    ) -> dict[int, FormatInfo | InvalidInput]:
        """siegfried on several files in one call; one at a time if that call fails."""
        result: dict[str, Any] = {}
        entries: list[Any] = []
        try:
            result = dict(self._scanner.identify_many(names, workers=1))
            entries = list(result.get("files") or [])
        except (pygfried.GoError, pygfried.EmptySourceError):
            pass
        answers: dict[int, FormatInfo | InvalidInput] = {}
        if len(entries) != len(batch) or any(
            not isinstance(e, dict) or e.get("filename") != n
            for e, n in zip(entries, names, strict=False)
        ):
            for index, path in zip(batch, paths, strict=True):
                answers[index] = self._one(path, *magic_of[index])
            return answers
        tool, signature = self._tool(result), self._signature(result)
        for index, path, entry in zip(batch, paths, entries, strict=True):
            try:
                answers[index] = self._from_entry(
                    path, dict(entry), *magic_of[index], tool, signature
                )
            except InvalidInput as exc:
                answers[index] = exc
        return answers

    def _stat_and_libmagic(self, path: Path) -> tuple[str, str, int]:
        try:
            st = path.stat()
        except OSError as exc:
            raise InvalidInput(f"cannot identify {path}: {exc.strerror or exc}") from exc
        if not stat.S_ISREG(st.st_mode):
            raise InvalidInput(f"cannot identify {path}: not a regular file")
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise InvalidInput(f"cannot identify {path}: {exc.strerror or exc}") from exc
        try:
            mime, description = self._libmagic(fd, path)
        finally:
            os.close(fd)
        return mime, description, st.st_size

    def _one(self, path: Path, mime: str, description: str) -> FormatInfo | InvalidInput:
        """siegfried on one file (names that are not UTF-8, or a batch siegfried refused)."""
        try:
            result = self._siegfried(path)
        except pygfried.EmptySourceError:
            return self._empty(mime, description)
        except pygfried.GoError as exc:
            return InvalidInput(f"cannot identify {path}: {exc}")
        files = result.get("files") or []
        entry: dict[str, Any] = dict(files[0]) if files else {"errors": "", "matches": []}
        try:
            return self._from_entry(
                path, entry, mime, description, self._tool(result), self._signature(result)
            )
        except InvalidInput as exc:
            return exc

    def _from_entry(
        self,
        path: Path,
        entry: dict[str, Any],
        mime: str,
        description: str,
        tool: str,
        signature: str,
    ) -> FormatInfo:
        errors = str(entry.get("errors") or "")
        if errors == "empty source":  # the file became empty after the stat above
            return self._empty(mime, description)
        matches = tuple(
            FormatMatch(
                puid=str(m.get("id") or UNKNOWN),
                format_name=str(m.get("format") or ""),
                format_version=str(m.get("version") or ""),
                mime=str(m.get("mime") or ""),
                basis=str(m.get("basis") or ""),
                warning=str(m.get("warning") or ""),
            )
            for m in entry.get("matches") or []
            if (m.get("ns") or "pronom") == "pronom"
        )
        if not matches and errors:
            # siegfried could not read what we could open a moment ago (removed, permissions)
            raise InvalidInput(f"cannot identify {path}: {errors}")
        warnings_: list[str] = [m.warning for m in matches if m.warning]
        if errors:
            warnings_.append(errors)
        first = matches[0] if matches else None
        return FormatInfo(
            puid=first.puid if first else UNKNOWN,
            format_name=first.format_name if first else "",
            format_version=first.format_version if first else "",
            basis=first.basis if first else "",
            warnings=tuple(dict.fromkeys(warnings_)) or (() if first else ("no match",)),
            matches=matches,
            mime=mime,
            magic_description=description,
            tool=tool,
            signature_version=signature,
        )

    def _libmagic(self, fd: int, path: Path) -> tuple[str, str]:
        # from a descriptor, not a buffer of the head: some magic tests read the end of the file
        try:
            mime = self._magic_mime.from_descriptor(fd)
            os.lseek(fd, 0, os.SEEK_SET)
            description = self._magic_text.from_descriptor(fd)
        except (OSError, magic.MagicException) as exc:
            raise InvalidInput(f"cannot identify {path}: libmagic failed: {exc}") from exc
        return str(mime), str(description)

    def _siegfried(self, path: Path) -> dict[str, Any]:
        name = str(path)
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            # a name that is not valid UTF-8 cannot cross into siegfried: identify it through a
            # temporary symlink with the same extension (when that extension is valid UTF-8)
            with _utf8_alias(path) as alias:
                return dict(self._scanner.identify(alias, detailed=True))
        return dict(self._scanner.identify(name, detailed=True))

    def _tool(self, result: dict[str, Any]) -> str:
        version = result.get("siegfried")
        return f"siegfried {version}" if version else self.tool

    def _signature(self, result: dict[str, Any]) -> str:
        identifiers = result.get("identifiers") or []
        if identifiers and identifiers[0].get("details"):
            return str(identifiers[0]["details"])
        return self.signature_version

    def _empty(self, mime: str, description: str) -> FormatInfo:
        return FormatInfo(
            puid=UNKNOWN,
            format_name="",
            format_version="",
            basis="",
            warnings=(EMPTY_WARNING,),
            matches=(),
            mime=mime or EMPTY_MIME,
            magic_description=description,
            tool=self.tool,
            signature_version=self.signature_version,
        )


def _raise_first(outcomes: list[FormatInfo | InvalidInput]) -> list[FormatInfo]:
    for outcome in outcomes:
        if isinstance(outcome, InvalidInput):
            raise outcome
    return outcomes  # type: ignore[return-value]  # no InvalidInput left


@contextmanager
def _utf8_alias(path: Path) -> Iterator[str]:
    suffix = ""
    try:
        path.suffix.encode("utf-8")
        suffix = path.suffix
    except UnicodeEncodeError:
        pass
    with tempfile.TemporaryDirectory(prefix="preserve-id-") as tmp:
        alias = os.path.join(tmp, "file" + suffix)
        os.symlink(os.fsencode(path.absolute()), os.fsencode(alias))
        yield alias


# --------------------------------------------------------------------------------------------
# many files: this process plus a persistent pool of spawned helper processes
#
# siegfried (pygfried) holds the GIL for the whole of each call, so threads cannot share its work;
# helper processes can. The calling process identifies chunks too (from the end of the list)
# while the helpers take chunks from the front, so a cold pool costs no waiting: the helpers
# join in when they are up. The pool is kept for later calls and shut down at exit.

# A compact, cheap-to-pickle form of one outcome: an error message, or FormatInfo's fields
# with the matches as plain tuples.
_Wire = str | tuple[Any, ...]

_local = threading.local()
_pool_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_pool_size = 0

# one Identifier per helper process (set by the pool initializer)
_WORKER: Identifier | None = None


def _local_identifier() -> Identifier:
    """This thread's Identifier (created once: loading the signatures takes ~20 ms)."""
    identifier: Identifier | None = getattr(_local, "identifier", None)
    if identifier is None:
        identifier = _local.identifier = Identifier()
    return identifier


def _exit_with_parent(parent: int) -> None:
    """A helper's queue keeps its pipe open, so it would outlive a killed ingest (kill -9):
    poll the parent and leave as soon as it is gone."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def _init_worker() -> None:
    global _WORKER
    # the pid recorded when the ingest spawned us: it may have died before this runs
    parent = multiprocessing.parent_process()
    watchdog = threading.Thread(
        target=_exit_with_parent,
        args=(parent.pid if parent is not None else os.getppid(),),
        name="parent-watchdog",
        daemon=True,
    )
    watchdog.start()
    _WORKER = Identifier()
    # siegfried's first scan in a process takes ~0.15 s (lazy set-up): pay it during start-up
    _WORKER.identify_outcomes([Path(__file__)])


def _ready() -> bool:
    return _WORKER is not None


def _identify_chunk(paths: list[Path]) -> list[_Wire]:
    global _WORKER
    if _WORKER is None:  # pragma: no cover - the initializer always runs first
        _WORKER = Identifier()
    return [_to_wire(o) for o in _WORKER.identify_outcomes(paths)]


def _to_wire(outcome: FormatInfo | InvalidInput) -> _Wire:
    if isinstance(outcome, InvalidInput):
        return str(outcome)
    i = outcome
    matches = tuple(
        (m.puid, m.format_name, m.format_version, m.mime, m.basis, m.warning) for m in i.matches
    )
    return (
        i.puid,
        i.format_name,
        i.format_version,
        i.basis,
        i.warnings,
        matches,
        i.mime,
        i.magic_description,
        i.tool,
        i.signature_version,
    )


def _from_wire(wire: _Wire) -> FormatInfo | InvalidInput:
    if isinstance(wire, str):
        return InvalidInput(wire)
    puid, name, version, basis, warnings_, matches, mime, description, tool, signature = wire
    return FormatInfo(
        puid=puid,
        format_name=name,
        format_version=version,
        basis=basis,
        warnings=warnings_,
        matches=tuple(FormatMatch(*m) for m in matches),
        mime=mime,
        magic_description=description,
        tool=tool,
        signature_version=signature,
    )


def start_pool(workers: int = 2) -> None:
    """Start the helper processes for ``identify_files(paths, workers=workers)`` now.

    Optional: :func:`identify_files` starts them itself when it first needs them. Calling this
    early (e.g. at the start of an ingest, before files are hashed and copied) lets their start-up
    (a spawned interpreter importing siegfried and libmagic, ~0.2-1 s) overlap that other work.
    Returns at once; the pool is reused by every later call and shut down at exit (or by
    :func:`shutdown_pool`). ``workers`` counts the calling process: ``workers=2`` starts one
    helper; ``workers <= 1`` starts nothing.
    """
    pool = _get_pool(workers)
    if pool is not None:
        for _ in range(_pool_size):  # one task per helper: each submit spawns one process
            pool.submit(_ready)


def shutdown_pool() -> None:
    """Stop the helper processes (they are started again when needed)."""
    global _pool, _pool_size
    with _pool_lock:
        pool, _pool, _pool_size = _pool, None, 0
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


atexit.register(shutdown_pool)


def _helpers(workers: int) -> int:
    return max(0, min(workers, os.cpu_count() or workers) - 1)


def _get_pool(workers: int) -> ProcessPoolExecutor | None:
    """The persistent pool, with at least ``workers - 1`` helpers; None when none is needed."""
    global _pool, _pool_size
    helpers = _helpers(workers)
    if helpers == 0:
        return None
    old: ProcessPoolExecutor | None = None
    with _pool_lock:
        if _pool is None or _pool_size < helpers:
            old = _pool
            _pool = ProcessPoolExecutor(
                max_workers=helpers, mp_context=get_context("spawn"), initializer=_init_worker
            )
            _pool_size = helpers
        pool = _pool
    if old is not None:
        old.shutdown(wait=False)  # calls already running on it finish
    return pool


def _drop_pool(pool: ProcessPoolExecutor) -> None:
    global _pool, _pool_size
    with _pool_lock:
        if _pool is pool:
            _pool, _pool_size = None, 0
    pool.shutdown(wait=False, cancel_futures=True)


def identify_files(paths: Sequence[Path], *, workers: int = 1) -> list[FormatInfo]:
    """Identify ``paths``; results in the same order.

    With ``workers > 1`` and at least :data:`PARALLEL_THRESHOLD` files, this process and
    ``workers - 1`` helper processes (spawned once, kept for later calls: see :func:`start_pool`)
    share the work in chunks; otherwise everything runs in this process. Raises the
    :class:`InvalidInput` of the first path (in order) that cannot be identified.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        return []
    pool = _get_pool(workers) if len(paths) >= PARALLEL_THRESHOLD else None
    if pool is None:
        return _local_identifier().identify_many(paths)
    return _raise_first(_shared(paths, pool, _pool_size))


def _shared(
    paths: list[Path], pool: ProcessPoolExecutor, helpers: int
) -> list[FormatInfo | InvalidInput]:
    """Helpers take chunks from the front, this process from the back, until they meet."""
    size = max(8, min(_CHUNK, len(paths) // ((helpers + 1) * 8)))
    chunks = [paths[i : i + size] for i in range(0, len(paths), size)]
    done: list[list[FormatInfo | InvalidInput] | None] = [None] * len(chunks)
    running: dict[int, Future[list[_Wire]]] = {}
    front, back = 0, len(chunks) - 1
    identifier = _local_identifier()
    broken = False
    while front <= back:
        # keep every helper fed with up to two chunks queued behind the one it works on
        while not broken and front <= back and _unfinished(running) < helpers * 3:
            try:
                running[front] = pool.submit(_identify_chunk, chunks[front])
            except (BrokenProcessPool, RuntimeError):  # the pool died or was shut down
                broken = True
                break
            front += 1
        if front <= back:
            done[back] = identifier.identify_outcomes(chunks[back])
            back -= 1
    for index, future in running.items():
        try:
            done[index] = [_from_wire(w) for w in future.result()]
        except BrokenProcessPool:  # a helper died (killed, out of memory): do it here
            broken = True
            done[index] = identifier.identify_outcomes(chunks[index])
    if broken:
        _drop_pool(pool)
    return [outcome for part in done for outcome in part or ()]


class PendingIdentification:
    """Identification of some files under way in a helper process (see
    :func:`submit_identification`); :meth:`result` waits for it, or does it here when no helper
    has started on it yet."""

    def __init__(self, paths: list[Path], future: Future[list[_Wire]] | None) -> None:
        self._paths = paths
        self._future = future

    def cancel(self) -> None:
        """The results are no longer wanted (a helper already on it finishes in vain)."""
        if self._future is not None:
            self._future.cancel()

    def result(self) -> list[FormatInfo]:
        future = self._future
        if future is None or future.cancel():  # not started yet: this process is free now
            return _local_identifier().identify_many(self._paths)
        try:
            wires = future.result()
        except BrokenProcessPool:  # a helper died (killed, out of memory): do it here
            return _local_identifier().identify_many(self._paths)
        return _raise_first([_from_wire(w) for w in wires])


def submit_identification(paths: Sequence[Path], *, workers: int = 2) -> PendingIdentification:
    """Start identifying ``paths`` in a helper process and return at once, so identification
    overlaps whatever this process does next (the ingest hashes and stores meanwhile).

    Helpers are those of :func:`start_pool`; with ``workers <= 1`` (or one core) nothing runs
    in the background and :meth:`PendingIdentification.result` does the work itself.
    """
    files = [Path(p) for p in paths]
    pool = _get_pool(workers)
    future: Future[list[_Wire]] | None = None
    if pool is not None and files:
        try:
            future = pool.submit(_identify_chunk, files)
        except (BrokenProcessPool, RuntimeError):  # the pool died or was shut down
            _drop_pool(pool)
    return PendingIdentification(files, future)


def _unfinished(running: dict[int, Future[list[_Wire]]]) -> int:
    return sum(1 for f in running.values() if not f.done())


def is_image(info: FormatInfo) -> bool:
    """True when siegfried (PUID or match MIME) or libmagic says ``image/*``."""
    for match in info.matches:
        if match.puid in _IMAGE_PUIDS:
            return True
        if any(m.strip().startswith("image/") for m in match.mime.split(",")):
            return True
    return info.puid in _IMAGE_PUIDS or info.mime.startswith("image/")


# --------------------------------------------------------------------------------------------
# image properties

_EXIF_IFD = 0x8769
_TAG_DATETIME_ORIGINAL = 36867
_TAG_DATETIME = 306
_TAG_MAKE = 271
_TAG_MODEL = 272
_TAG_ORIENTATION = 274
_TIFF_BITS_PER_SAMPLE = 258
_TIFF_X_RESOLUTION = 282
_TIFF_Y_RESOLUTION = 283
_TIFF_RESOLUTION_UNIT = 296

_MODE_DEPTH = {
    "1": 1,
    "L": 8,
    "LA": 8,
    "La": 8,
    "P": 8,
    "PA": 8,
    "RGB": 8,
    "RGBA": 8,
    "RGBa": 8,
    "RGBX": 8,
    "CMYK": 8,
    "YCbCr": 8,
    "LAB": 8,
    "HSV": 8,
    "I": 32,
    "F": 32,
}
_NOT_IMAGE_MIME = ("text/", "audio/", "video/", "inode/", EMPTY_MIME)


def bit_depth_for_mode(mode: str) -> int | None:
    """Bits per sample for a Pillow mode: ``"I;16"`` -> 16, ``"RGB"`` -> 8, ``"1"`` -> 1."""
    if mode in _MODE_DEPTH:
        return _MODE_DEPTH[mode]
    found = re.search(r";(\d+)", mode)
    return int(found.group(1)) if found else None


def image_properties(path: Path, mime: str | None = None) -> ImageInfo | None:
    """Pillow's view of an image, or None when Pillow cannot open ``path`` as an image.

    ``mime`` (libmagic's, when known) lets obvious non-images (text, audio, video, empty) skip
    Pillow. ``complete`` is True only when every frame decodes; decompression bombs (more than
    ``Image.MAX_IMAGE_PIXELS`` pixels) are not decoded and give ``complete=False``.
    """
    path = Path(path)
    if mime and mime.startswith(_NOT_IMAGE_MIME):
        return None
    try:
        st = path.stat()
    except OSError as exc:
        raise InvalidInput(
            f"cannot read image properties of {path}: {exc.strerror or exc}"
        ) from exc
    if not stat.S_ISREG(st.st_mode):
        raise InvalidInput(f"cannot read image properties of {path}: not a regular file")
    if st.st_size == 0:
        return None

    # record=True: Pillow's warnings (DecompressionBombWarning, bad EXIF ...) never escape; a
    # decompression bomb is reported through ``complete``/``decode_error`` instead
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        try:
            with open(path, "rb") as fp:
                return _properties(fp, path)
        except OSError as exc:
            raise InvalidInput(f"cannot read image properties of {path}: {exc}") from exc


def _properties(fp: io.BufferedReader, path: Path) -> ImageInfo | None:
    bomb: str | None = None
    try:
        im = Image.open(fp)
    except Image.DecompressionBombError as exc:
        bomb = str(exc)
        header_only = _open_unchecked(fp, path)
        if header_only is None:
            return _bomb_without_header(bomb)
        im = header_only
    except Exception:  # UnidentifiedImageError and whatever a plugin raises on a broken header
        return None
    try:
        if bomb is None and im.width * im.height > (Image.MAX_IMAGE_PIXELS or 0) > 0:
            bomb = (
                f"image size ({im.width * im.height} pixels) exceeds the limit of "
                f"{Image.MAX_IMAGE_PIXELS} pixels"
            )
        x_res, y_res, unit = _resolution(im)
        depth = _bit_depth(im)
        icc = _icc_description(im)
        exif_dt, make, model, orientation = _exif(im)
        complete, error = (False, f"decompression bomb refused: {bomb}") if bomb else _decode(im)
        return ImageInfo(
            width=int(im.width),
            height=int(im.height),
            mode=str(im.mode),
            bit_depth=depth,
            x_resolution=x_res,
            y_resolution=y_res,
            resolution_unit=unit,
            icc_profile=icc,
            exif_datetime=exif_dt,
            camera_make=make,
            camera_model=model,
            orientation=orientation,
            complete=complete,
            decode_error=error,
        )
    finally:
        im.close()


def _bomb_without_header(message: str) -> ImageInfo:
    return ImageInfo(
        width=0,
        height=0,
        mode="",
        bit_depth=None,
        x_resolution=None,
        y_resolution=None,
        resolution_unit=None,
        icc_profile=None,
        exif_datetime=None,
        camera_make=None,
        camera_model=None,
        orientation=None,
        complete=False,
        decode_error=f"decompression bomb refused: {message}",
    )


def _open_unchecked(fp: io.BufferedReader, path: Path) -> Image.Image | None:
    """Parse the header the way Image.open does, without its pixel-count check (never decodes)."""
    Image.init()
    fp.seek(0)
    prefix = fp.read(16)
    for fmt in Image.ID:
        factory, accept = Image.OPEN[fmt]
        if accept is not None and not accept(prefix):
            continue
        fp.seek(0)
        try:
            return factory(fp, str(path))
        except Exception:  # noqa: S112 - try the next plugin, as Image.open does
            continue
    return None


def _decode(im: Image.Image) -> tuple[bool, str | None]:
    """Decode every frame; Pillow's LOAD_TRUNCATED_IMAGES is left as it is (False by default)."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        return False, "cannot verify decoding: PIL.ImageFile.LOAD_TRUNCATED_IMAGES is enabled"
    frames = int(getattr(im, "n_frames", 1) or 1)
    try:
        for index in range(frames):
            if frames > 1:
                im.seek(index)
            im.load()
    except (OSError, SyntaxError) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # broken files make plugins raise ValueError, struct.error ...
        return False, f"{type(exc).__name__}: {exc}"
    finally:
        if frames > 1:
            with contextlib.suppress(Exception):  # only restoring the first frame for the caller
                im.seek(0)
    return True, None


def _bit_depth(im: Image.Image) -> int | None:
    tags = getattr(im, "tag_v2", None)
    if tags is not None:
        bits = tags.get(_TIFF_BITS_PER_SAMPLE)
        if isinstance(bits, (tuple, list)) and bits:
            return int(max(bits))
        if isinstance(bits, int):
            return bits
    return bit_depth_for_mode(im.mode)


def _resolution(im: Image.Image) -> tuple[float | None, float | None, str | None]:
    tags = getattr(im, "tag_v2", None)
    if tags is not None and _TIFF_X_RESOLUTION in tags and _TIFF_Y_RESOLUTION in tags:
        x, y = _as_float(tags[_TIFF_X_RESOLUTION]), _as_float(tags[_TIFF_Y_RESOLUTION])
        unit_code = tags.get(_TIFF_RESOLUTION_UNIT, 2)  # TIFF default: inch
        unit = {2: "dpi", 3: "dpcm"}.get(int(unit_code))
        if x and y:
            return x, y, unit
    info = im.info
    if info.get("jfif_unit") == 2 and info.get("jfif_density"):
        x, y = info["jfif_density"][:2]
        return _as_float(x), _as_float(y), "dpcm"
    dpi = info.get("dpi")
    if isinstance(dpi, (tuple, list)) and len(dpi) >= 2:
        x, y = _as_float(dpi[0]), _as_float(dpi[1])
        if x and y:
            return x, y, "dpi"
    return None, None, None


def _as_float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if number != number or number <= 0:  # NaN from a 0/0 rational
        return None
    return round(number, 4)


def _icc_description(im: Image.Image) -> str | None:
    icc = im.info.get("icc_profile")
    if not icc:
        return None
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        description = ImageCms.getProfileDescription(profile)
    except Exception:
        return "unreadable ICC profile"
    return description.strip() or "ICC profile without description"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).strip("\x00 \t\r\n")
    return text or None


def _exif(im: Image.Image) -> tuple[str | None, str | None, str | None, int | None]:
    try:
        exif = im.getexif()
    except Exception:
        return None, None, None, None
    if not exif:
        return None, None, None, None
    try:
        sub = exif.get_ifd(_EXIF_IFD)
    except Exception:
        sub = {}
    dt = _text(sub.get(_TAG_DATETIME_ORIGINAL)) or _text(exif.get(_TAG_DATETIME))
    orientation: int | None
    try:
        raw = exif.get(_TAG_ORIENTATION)
        orientation = int(raw) if raw is not None else None
    except (TypeError, ValueError):
        orientation = None
    return dt, _text(exif.get(_TAG_MAKE)), _text(exif.get(_TAG_MODEL)), orientation
