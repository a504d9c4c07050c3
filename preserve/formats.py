"""Format identification (siegfried/PRONOM, libmagic) and image properties (Pillow).

PUIDs come from siegfried only: never from a MIME type or a file extension. ``UNKNOWN`` (with
siegfried's warning) is a valid result, not an error. Every result records the siegfried version and
the PRONOM signature files it used.

siegfried holds the GIL and libmagic handles are not thread-safe: use one :class:`Identifier` per
thread, and :func:`identify_files` with ``workers > 1`` to spread many files over processes.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import stat
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
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
]

UNKNOWN = "UNKNOWN"
EMPTY_WARNING = "empty file"
EMPTY_MIME = "application/x-empty"
PARALLEL_THRESHOLD = 200  # below this, starting processes costs more than it saves

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
        path = Path(path)
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

        if st.st_size == 0:
            return self._empty(mime, description)
        try:
            result = self._siegfried(path)
        except pygfried.EmptySourceError:
            return self._empty(mime, description)
        except pygfried.GoError as exc:
            raise InvalidInput(f"cannot identify {path}: {exc}") from exc

        files = result.get("files") or []
        entry: dict[str, Any] = dict(files[0]) if files else {"errors": "", "matches": []}
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
            tool=self._tool(result),
            signature_version=self._signature(result),
        )

    # -- helpers ----------------------------------------------------------------------------

    def _libmagic(self, fd: int, path: Path) -> tuple[str, str]:
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


# one Identifier per worker process (set by the pool initializer)
_WORKER: Identifier | None = None


def _init_worker() -> None:
    global _WORKER
    _WORKER = Identifier()


def _identify_chunk(paths: list[Path]) -> list[FormatInfo]:
    global _WORKER
    if _WORKER is None:  # pragma: no cover - the initializer always runs first
        _WORKER = Identifier()
    return [_WORKER.identify(p) for p in paths]


def identify_files(paths: Sequence[Path], *, workers: int = 1) -> list[FormatInfo]:
    """Identify ``paths``; results in the same order.

    With ``workers > 1`` and at least :data:`PARALLEL_THRESHOLD` files, the work is spread over
    ``workers`` spawned processes (siegfried holds the GIL), each with its own :class:`Identifier`,
    the paths sent in chunks. Otherwise everything runs in this process.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        return []
    if workers <= 1 or len(paths) < PARALLEL_THRESHOLD:
        identifier = Identifier()
        return [identifier.identify(p) for p in paths]
    workers = min(workers, os.cpu_count() or workers, max(1, len(paths) // 50))
    chunk = max(16, min(512, len(paths) // (workers * 4)))
    chunks = [paths[i : i + chunk] for i in range(0, len(paths), chunk)]
    results: list[FormatInfo] = []
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=get_context("spawn"), initializer=_init_worker
    ) as pool:
        for part in pool.map(_identify_chunk, chunks):
            results.extend(part)
    return results


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
