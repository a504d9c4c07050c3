"""libmagic adapter (python-magic): a MIME type with its character set, and a description.

Each call costs about as much as siegfried's scan of a small file, so the identifier asks only
where siegfried's PRONOM match leaves something open. Handles are not thread-safe: one
:class:`LibMagic` per thread. libmagic reads from the descriptor, not from a buffer of the head:
some of its tests read the end of the file.
"""

from __future__ import annotations

import contextlib
import os

import magic


class LibMagicError(Exception):
    """libmagic could not examine a file."""


class LibMagic:
    """libmagic handles: one for MIME type and encoding, one (made when first needed) for the
    description."""

    def __init__(self) -> None:
        self._mime = _limited(magic.Magic(mime=True, mime_encoding=True))
        self._text: magic.Magic | None = None

    def mime_and_charset(self, fd: int) -> tuple[str, str | None]:
        """One call: ``("text/plain", "utf-8")``; the charset is None where libmagic says
        "binary" (not text)."""
        answer = self._call(self._mime, fd)
        mime, _, params = answer.partition(";")
        charset: str | None = None
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.lower() == "charset" and value and value.lower() != "binary":
                charset = value.lower()
        return mime.strip(), charset

    def describe(self, fd: int) -> str:
        """libmagic's description, e.g. "PDF document, version 1.4, 1 page(s)"."""
        if self._text is None:
            self._text = _limited(magic.Magic())
        return self._call(self._text, fd)

    @staticmethod
    def _call(handle: magic.Magic, fd: int) -> str:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            return str(handle.from_descriptor(fd))
        except (OSError, magic.MagicException) as exc:
            raise LibMagicError(str(exc)) from exc


#: bytes of a file libmagic examines from its start (its default is 7 MiB, which it scans whole
#: on data it does not recognise: 14 ms for a 50 MB file of random bytes instead of 1.5 ms)
BYTES_MAX = 1 << 20


def _limited(handle: magic.Magic) -> magic.Magic:
    # an old libmagic without parameters keeps its own limit
    with contextlib.suppress(AttributeError, magic.MagicException):
        handle.setparam(magic.MAGIC_PARAM_BYTES_MAX, BYTES_MAX)
    return handle
