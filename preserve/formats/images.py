"""Pillow adapter: image properties (dimensions, mode, bit depth, resolution, ICC profile, EXIF)
and whether an image decodes completely. Decompression bombs are never decoded: they give
``complete=False`` with the reason, not an exception.

The EXIF date (DateTimeOriginal, else DateTime) is recorded in ISO 8601: ``2023:04:05 10:11:12``
becomes ``2023-04-05T10:11:12``, with its sub-seconds and with the UTC offset when EXIF gives
one (OffsetTimeOriginal, OffsetTime: ``2023-04-05T10:11:12+02:00``). A date EXIF marks as
unknown (blanks, zeros) or that is not a date is not recorded."""

from __future__ import annotations

import contextlib
import datetime
import io
import re
import stat
import warnings
from pathlib import Path
from typing import Any

from PIL import Image, ImageCms, ImageFile

from preserve.errors import InvalidInput
from preserve.formats.mediatypes import EMPTY_MIME
from preserve.values import ImageInfo

_EXIF_IFD = 0x8769
_TAG_DATETIME_ORIGINAL = 36867
_TAG_DATETIME = 306
_TAG_OFFSET_TIME = 36880
_TAG_OFFSET_TIME_ORIGINAL = 36881
_TAG_SUBSEC_TIME = 37520
_TAG_SUBSEC_TIME_ORIGINAL = 37521
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

    ``mime`` (the identified MIME type, when known) lets obvious non-images (text, audio,
    video, empty) skip Pillow. ``complete`` is True only when every frame decodes; decompression
    bombs (more than ``Image.MAX_IMAGE_PIXELS`` pixels) are not decoded and give
    ``complete=False``.
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


_EXIF_DATE = re.compile(r"(\d{4})[:\-](\d{2})[:\-](\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?")
_EXIF_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})|Z")


def exif_iso8601(
    value: str | None, offset: str | None = None, subseconds: str | None = None
) -> str | None:
    """An EXIF date and time (``2023:04:05 10:11:12``) in ISO 8601 (``2023-04-05T10:11:12``),
    with ``subseconds`` (EXIF SubSecTime, digits) as a fraction and ``offset`` (EXIF OffsetTime,
    ``+02:00``) when they are well formed. None for a date EXIF marks as unknown (blanks or
    zeros) or one that is not a real date."""
    if not value:
        return None
    found = _EXIF_DATE.fullmatch(value.strip())
    if found is None:
        return None
    year, month, day, hour, minute, second = found.groups()
    try:
        datetime.date(int(year), int(month), int(day))
    except ValueError:  # 0000:00:00, 2023:02:30 ...
        return None
    if hour is None:
        return f"{year}-{month}-{day}"
    if int(hour) > 23 or int(minute) > 59 or int(second or 0) > 59:
        return None
    text = f"{year}-{month}-{day}T{hour}:{minute}:{second or '00'}"
    digits = (subseconds or "").strip()
    if digits.isdigit():
        text += f".{digits}"
    zone = _EXIF_OFFSET.fullmatch((offset or "").strip())
    if zone is not None:
        if zone.group(0) == "Z":
            text += "Z"
        elif int(zone.group(2)) <= 14 and int(zone.group(3)) <= 59:
            text += zone.group(0)
    return text


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
    dt = exif_iso8601(
        _text(sub.get(_TAG_DATETIME_ORIGINAL)),
        _text(sub.get(_TAG_OFFSET_TIME_ORIGINAL)),
        _text(sub.get(_TAG_SUBSEC_TIME_ORIGINAL)),
    ) or exif_iso8601(
        _text(exif.get(_TAG_DATETIME)),
        _text(sub.get(_TAG_OFFSET_TIME)),
        _text(sub.get(_TAG_SUBSEC_TIME)),
    )
    orientation: int | None
    try:
        raw = exif.get(_TAG_ORIENTATION)
        orientation = int(raw) if raw is not None else None
    except (TypeError, ValueError):
        orientation = None
    return dt, _text(exif.get(_TAG_MAKE)), _text(exif.get(_TAG_MODEL)), orientation
