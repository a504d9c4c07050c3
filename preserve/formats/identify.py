"""The identifier: siegfried's PRONOM match first, libmagic only where that leaves a gap.

- PUIDs come from siegfried only, never from a MIME type or an extension. ``UNKNOWN`` (with
  siegfried's warning) is a valid result, not an error.
- The MIME type is PRONOM's preferred one for siegfried's first match (``mime_source`` =
  "siegfried"); libmagic gives it only where PRONOM has none (UNKNOWN, a record without a MIME
  type, an empty file: ``mime_source`` = "libmagic").
- Text files (see :mod:`preserve.formats.mediatypes`) get their character set from libmagic.
- So libmagic is asked at most once per file (MIME type and encoding in one call), and not at
  all where siegfried's match settles it; its description only with ``describe=True``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

from preserve.errors import InvalidInput
from preserve.formats.libmagic import LibMagic, LibMagicError
from preserve.formats.mediatypes import EMPTY_MIME, UNKNOWN, is_textual, preferred_mime
from preserve.formats.siegfried import EMPTY_SOURCE, Scan, Siegfried, SiegfriedError
from preserve.values import FormatInfo

EMPTY_WARNING = "empty file"
BATCH = 64  # files per siegfried call: one call per file costs ~40% more CPU


class Identifier:
    """Reusable identifier: one siegfried scanner and libmagic handles.

    Not thread-safe (libmagic): give each thread or process its own instance. With
    ``describe=True`` every result also carries libmagic's description (one more libmagic call
    per file).
    """

    def __init__(self, *, describe: bool = False) -> None:
        self._siegfried = Siegfried()
        self._magic = LibMagic()
        self.describe = describe
        self.tool: str = self._siegfried.tool
        self.signature_version: str = self._siegfried.signature_version

    def identify(self, path: Path) -> FormatInfo:
        """Identify one regular file; raise :class:`InvalidInput` when it cannot be read."""
        return raise_first(self.identify_outcomes([Path(path)]))[0]

    def identify_many(self, paths: Sequence[Path]) -> list[FormatInfo]:
        """Identify ``paths`` in order, siegfried scanning them in batches (one call per batch).

        Same results as :meth:`identify` for each path; raises the :class:`InvalidInput` of the
        first path (in order) that cannot be identified.
        """
        return raise_first(self.identify_outcomes([Path(p) for p in paths]))

    def identify_outcomes(self, paths: Sequence[Path]) -> list[FormatInfo | InvalidInput]:
        """Like :meth:`identify_many`, but a file's error is returned in its place, not raised."""
        out: list[FormatInfo | InvalidInput] = []
        for start in range(0, len(paths), BATCH):
            out.extend(self._batch([Path(p) for p in paths[start : start + BATCH]]))
        return out

    # -- helpers ----------------------------------------------------------------------------

    def _batch(self, paths: list[Path]) -> list[FormatInfo | InvalidInput]:
        out: list[FormatInfo | InvalidInput | None] = [None] * len(paths)
        batch: list[int] = []  # indexes of the files siegfried scans in one call
        names: list[str] = []
        for index, path in enumerate(paths):
            try:
                size = _regular_size(path)
            except InvalidInput as exc:
                out[index] = exc
                continue
            name = str(path)
            if size == 0:
                out[index] = self._empty(path)
            elif not _is_utf8(name):
                out[index] = self._one(path)  # through a UTF-8 alias
            else:
                batch.append(index)
                names.append(name)
        if batch:
            scans = self._siegfried.scan_many(names)
            for n, index in enumerate(batch):
                out[index] = (
                    self._one(paths[index])
                    if scans is None
                    else self._combine(paths[index], scans[n])
                )
        return [o for o in out if o is not None]

    def _one(self, path: Path) -> FormatInfo | InvalidInput:
        """siegfried on one file (a name that is not UTF-8, or a batch siegfried refused)."""
        try:
            scan = self._siegfried.scan(path)
        except SiegfriedError as exc:
            return InvalidInput(f"cannot identify {path}: {exc}")
        return self._combine(path, scan)

    def _combine(self, path: Path, scan: Scan) -> FormatInfo | InvalidInput:
        if scan.errors == EMPTY_SOURCE:  # the file became empty after the stat
            return self._empty(path)
        matches = scan.matches
        if not matches and scan.errors:
            # siegfried could not read what we could stat a moment ago (removed, permissions)
            return InvalidInput(f"cannot identify {path}: {scan.errors}")
        first = matches[0] if matches else None
        mime = preferred_mime(first.mime) if first else ""
        source = "siegfried" if mime else ""
        charset: str | None = None
        description = ""
        need_mime = not mime or is_textual(mime)  # a gap to fill, or a charset to tell
        if need_mime or self.describe:
            try:
                magic_mime, charset, description = self._libmagic(path, need_mime=need_mime)
            except InvalidInput as exc:
                return exc
            if not mime and magic_mime:
                mime, source = magic_mime, "libmagic"
            if not is_textual(mime):
                charset = None
        warnings: list[str] = [m.warning for m in matches if m.warning]
        if scan.errors:
            warnings.append(scan.errors)
        return FormatInfo(
            puid=first.puid if first else UNKNOWN,
            format_name=first.format_name if first else "",
            format_version=first.format_version if first else "",
            basis=first.basis if first else "",
            warnings=tuple(dict.fromkeys(warnings)) or (() if first else ("no match",)),
            matches=matches,
            mime=mime,
            tool=scan.tool,
            signature_version=scan.signature_version,
            mime_source=source,
            charset=charset,
            magic_description=description,
        )

    def _empty(self, path: Path) -> FormatInfo | InvalidInput:
        try:
            mime, _, description = self._libmagic(path, need_mime=True)
        except InvalidInput as exc:
            return exc
        return FormatInfo(
            puid=UNKNOWN,
            format_name="",
            format_version="",
            basis="",
            warnings=(EMPTY_WARNING,),
            matches=(),
            mime=mime or EMPTY_MIME,
            tool=self.tool,
            signature_version=self.signature_version,
            mime_source="libmagic" if mime else "",
            magic_description=description,
        )

    def _libmagic(self, path: Path, *, need_mime: bool) -> tuple[str, str | None, str]:
        """libmagic's MIME type and charset (one call), and its description if asked for."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise InvalidInput(f"cannot identify {path}: {exc.strerror or exc}") from exc
        try:
            mime, charset = self._magic.mime_and_charset(fd) if need_mime else ("", None)
            description = self._magic.describe(fd) if self.describe else ""
        except LibMagicError as exc:
            raise InvalidInput(f"cannot identify {path}: libmagic failed: {exc}") from exc
        finally:
            os.close(fd)
        return mime, charset, description


def raise_first(outcomes: list[FormatInfo | InvalidInput]) -> list[FormatInfo]:
    """The results, or the first error (in order) raised."""
    for outcome in outcomes:
        if isinstance(outcome, InvalidInput):
            raise outcome
    return outcomes  # type: ignore[return-value]  # no InvalidInput left


def _regular_size(path: Path) -> int:
    try:
        st = path.stat()
    except OSError as exc:
        raise InvalidInput(f"cannot identify {path}: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(st.st_mode):
        raise InvalidInput(f"cannot identify {path}: not a regular file")
    return st.st_size


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
