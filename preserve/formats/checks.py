"""The validity checks ingest makes on each file, for anyone who wants them without ingesting
(``preserve identify``): format identification, image properties and whether the image decodes.

A file's problems, each a :class:`~preserve.values.Problem` with a stable code, all warnings
(ingest stores such a file and records the problem; it does not refuse it):

``empty-file``             a zero-byte file
``format-unknown``         siegfried matched no PRONOM signature (UNKNOWN), with its reason
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
    problems: list[Problem] = []
    if EMPTY_WARNING in info.warnings:
        problems.append(Problem("empty-file", path, "zero-byte file", "warning"))
    elif info.puid == UNKNOWN:
        reason = "; ".join(w for w in info.warnings if w != "no match") or "no match"
        problems.append(
            Problem("format-unknown", path, f"format not identified (UNKNOWN): {reason}", "warning")
        )
    else:
        problems.extend(
            Problem("identification-warning", path, warning, "warning") for warning in info.warnings
        )
    if image is not None and not image.complete:
        problems.append(
            Problem(
                "image-incomplete",
                path,
                f"image does not decode completely: {image.decode_error}",
                "warning",
            )
        )
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
