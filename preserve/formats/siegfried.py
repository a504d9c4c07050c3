"""siegfried adapter (pygfried): PRONOM matches for files, in this process.

pygfried embeds siegfried and its PRONOM signatures. It holds the GIL for the whole of each call
(threads cannot share its work: use processes) and ``Scanner.identify_many`` costs less per file
than one ``identify`` call per file, so files are scanned in batches. Its ``workers`` option
(Go-side concurrency) brings little on small files and takes a core from the other processes:
it is left at 1. Names must be valid UTF-8; others go through a temporary alias.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pygfried

from preserve.formats.mediatypes import UNKNOWN
from preserve.values import FormatMatch

EMPTY_SOURCE = "empty source"  # siegfried's error for a zero-byte file


class SiegfriedError(Exception):
    """siegfried could not scan a file (or a batch of files)."""


@dataclass(frozen=True)
class Scan:
    """siegfried's answer for one file: its PRONOM matches, in siegfried's order."""

    matches: tuple[FormatMatch, ...]
    errors: str  # siegfried's error text ("" if none; EMPTY_SOURCE for a zero-byte file)
    tool: str  # e.g. "siegfried 1.11.9"
    signature_version: str


class Siegfried:
    """One reusable siegfried scanner (loading the signatures takes ~20 ms)."""

    def __init__(self) -> None:
        self._scanner = pygfried.Scanner()
        header = self._scanner.identify_many([])
        self.tool: str = f"siegfried {header.get('siegfried') or pygfried.version()}"
        identifiers = header.get("identifiers") or []
        self.signature_version: str = str(identifiers[0].get("details", "")) if identifiers else ""

    def scan_many(self, names: Sequence[str]) -> list[Scan] | None:
        """Several files (names valid UTF-8) in one call; None when siegfried refused the batch
        or its answers do not line up with ``names`` (scan them one at a time then)."""
        try:
            result: dict[str, Any] = dict(self._scanner.identify_many(list(names), workers=1))
        except (pygfried.GoError, pygfried.EmptySourceError):
            return None
        entries = list(result.get("files") or [])
        if len(entries) != len(names) or any(
            not isinstance(e, dict) or e.get("filename") != n
            for e, n in zip(entries, names, strict=True)
        ):
            return None
        tool, signature = self._tool(result), self._signature(result)
        return [_scan(entry, tool, signature) for entry in entries]

    def scan(self, path: Path) -> Scan:
        """One file, whatever its name; raises :class:`SiegfriedError`."""
        name = str(path)
        try:
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                # a name that is not valid UTF-8 cannot cross into siegfried: scan it through a
                # temporary symlink with the same extension (when that extension is valid UTF-8)
                with _utf8_alias(path) as alias:
                    result: dict[str, Any] = dict(self._scanner.identify(alias, detailed=True))
            else:
                result = dict(self._scanner.identify(name, detailed=True))
        except pygfried.EmptySourceError:
            return Scan((), EMPTY_SOURCE, self.tool, self.signature_version)
        except pygfried.GoError as exc:
            raise SiegfriedError(str(exc)) from exc
        files = result.get("files") or []
        entry: dict[str, Any] = dict(files[0]) if files else {"errors": "", "matches": []}
        return _scan(entry, self._tool(result), self._signature(result))

    def _tool(self, result: dict[str, Any]) -> str:
        version = result.get("siegfried")
        return f"siegfried {version}" if version else self.tool

    def _signature(self, result: dict[str, Any]) -> str:
        identifiers = result.get("identifiers") or []
        if identifiers and identifiers[0].get("details"):
            return str(identifiers[0]["details"])
        return self.signature_version


def _scan(entry: dict[str, Any], tool: str, signature: str) -> Scan:
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
    return Scan(matches, str(entry.get("errors") or ""), tool, signature)


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


#: siegfried's signature file header (``sf``, 0x00, 0xFF, then a version byte and the minor
#: version), followed by the raw-deflated signature data.
_SIGNATURE_MAGIC = b"sf\x00\xff"
_PUID_BYTES = re.compile(rb"(?:x-)?fmt/\d+")


@functools.cache
def known_puids() -> frozenset[str] | None:
    """Every PUID in the PRONOM signature file pygfried embeds (the ones it can identify; about
    2,600), read from the extension module itself since pygfried offers no listing; None when the
    embedded signature file cannot be found (a pygfried built differently), so callers skip the
    check rather than refuse every PUID."""
    try:
        data = Path(pygfried.__file__ or "").read_bytes()
    except OSError:
        return None
    start = data.find(_SIGNATURE_MAGIC + b"\x01")
    while start != -1:
        try:
            inflated = zlib.decompressobj(-15).decompress(data[start + 6 :], 16 * 1024 * 1024)
        except zlib.error:
            inflated = b""
        puids = {m.decode() for m in _PUID_BYTES.findall(inflated)}
        if len(puids) > 100:
            return frozenset(puids)
        start = data.find(_SIGNATURE_MAGIC + b"\x01", start + 1)
    return None
