"""The validity checks ingest makes on each file, for anyone who wants them without ingesting
(``preserve identify``): format identification, image properties and whether the image decodes.

A file's problems, each a :class:`~preserve.values.Problem` with a stable code, all warnings
(ingest stores such a file and records the problem; it does not refuse it):

``empty-file``             a zero-byte file
``format-unknown``         siegfried matched no PRONOM signature (UNKNOWN), with its warnings
``identification-warning`` siegfried's warning about its match (e.g. extension mismatch)
``image-incomplete``       an image that does not decode completely (truncated, corrupt, or a
                           decompression bomb refused), with Pillow's reason
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from preserve.formats.identify import EMPTY_WARNING
from preserve.formats.images import image_properties
from preserve.formats.mediatypes import UNKNOWN, is_image
from preserve.formats.pool import identify_files
from preserve.values import FormatInfo, ImageInfo, Problem


@dataclass(frozen=True)
class CheckedFile:
    """One file identified and checked as ingest would."""

    path: Path
    format: FormatInfo
    image: ImageInfo | None
    problems: tuple[Problem, ...]


def file_problems(path: str, info: FormatInfo, image: ImageInfo | None) -> list[Problem]:
    """The problems ingest records for a file with this identification and image properties."""
    return recorded_problems(
        path,
        info.puid,
        info.warnings,
        None if image is None else image.complete,
        None if image is None else image.decode_error,
    )


def recorded_problems(
    path: str,
    puid: str | None,
    warnings: Sequence[str],
    image_complete: bool | None,
    decode_error: str | None,
) -> list[Problem]:
    """The problems of a file from what its identification found (its PUID, siegfried's
    warnings) and whether it decodes completely (None: not an image): the one check behind
    ingest's warnings, ``preserve show``'s marks and ``preserve identify``'s problems."""
    problems: list[Problem] = []
    warnings = [str(w) for w in warnings if w]
    if EMPTY_WARNING in warnings:
        problems.append(Problem("empty-file", path, "zero-byte file", "warning"))
    elif not puid or puid == UNKNOWN:
        reason = "format not identified (no PRONOM match)"
        if warnings:
            reason += ": " + "; ".join(warnings)
        problems.append(Problem("format-unknown", path, reason, "warning"))
    else:
        problems.extend(
            Problem("identification-warning", path, f"identification warning: {w}", "warning")
            for w in warnings
        )
    if image_complete is False:
        reason = "image does not decode completely" + (f": {decode_error}" if decode_error else "")
        problems.append(Problem("image-incomplete", path, reason, "warning"))
    return problems


def check_files(
    paths: Sequence[Path], *, workers: int | None = None, describe: bool = False
) -> list[CheckedFile]:
    """Identify ``paths`` (in helper processes when there are many), read the image properties
    of images and list each file's problems; results in the order given."""
    paths = [Path(p) for p in paths]
    infos = identify_files(paths, workers=workers or os.cpu_count() or 1, describe=describe)
    checked = []
    for path, info in zip(paths, infos, strict=True):
        image = image_properties(path, info.mime) if is_image(info) else None
        problems = tuple(file_problems(str(path), info, image))
        checked.append(CheckedFile(path, info, image, problems))
    return checked
