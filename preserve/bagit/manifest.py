"""Payload and tag manifests, ``manifest-<alg>.txt`` / ``tagmanifest-<alg>.txt`` (RFC 8493 §2.1.3,
§2.2.1).

A line is ``checksum<one or more spaces or tabs>path``. Paths are decoded by the bag's version
(:func:`~preserve.bagit.paths.decode_manifest_path`) and checked for safety before anything else
sees them; an unsafe entry is reported and dropped, so it can never be opened.

md5sum conventions (``hash *path``, ``./data/...``, a leading ``\\`` escaping the line) are
accepted with a warning, as §6.1.3 requires of a tool that accepts them. So is a raw ``%`` in a
1.0 path (§2.1.3 wants ``%25``; most tools write it raw, and it can only mean itself).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from preserve.bagit.paths import (
    decode_manifest_path,
    encode_manifest_path,
    normal_form,
    printable,
    safe_text,
    unencoded_percent,
    unsafe_reason,
)
from preserve.bagit.taginfo import split_lines
from preserve.values import Problem

__all__ = [
    "MANIFEST_NAME",
    "TAGMANIFEST_NAME",
    "ParsedManifest",
    "manifest_line",
    "parse_manifest",
]

MANIFEST_NAME = re.compile(r"manifest-([^/]*)\.txt")
TAGMANIFEST_NAME = re.compile(r"tagmanifest-([^/]*)\.txt")

_LINE = re.compile(r"([^ \t]+)[ \t]+(.+)")
_HEX = re.compile(r"[0-9A-Fa-f]+")
_MD5SUM_ESCAPES = re.compile(r"\\(.)")


def manifest_line(digest: str, path: str) -> str:
    """One manifest line for the bag-relative ``path`` (CR, LF and % encoded)."""
    return f"{digest}  {encode_manifest_path(path)}\n"


@dataclass
class ParsedManifest:
    """The entries of one manifest (decoded bag-relative path -> lower-case hex), in file order."""

    name: str
    algorithm: str
    entries: dict[str, str] = field(default_factory=dict)
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


def percent_message(where: str, written: str, path: str) -> str:
    """The ``percent-not-encoded`` warning for a 1.0 manifest or fetch.txt path."""
    return (
        f"{where}: '{printable(written)}' has a '%' not written as %25 (RFC 8493 §2.1.3 requires "
        f"it); read as the literal name '{printable(path)}'"
    )


def _md5sum_unescape(path: str) -> str:
    return _MD5SUM_ESCAPES.sub(
        lambda m: {"n": "\n", "r": "\r", "\\": "\\"}.get(m.group(1), m.group(0)), path
    )


def parse_manifest(
    text: str, *, name: str, algorithm: str, version: tuple[int, int], tag: bool = False
) -> ParsedManifest:
    """Parse a payload manifest (``tag=False``: every path must be under ``data/``) or a tag
    manifest (``tag=True``: no payload files, no tag manifests)."""
    strict = version >= (1, 0)
    result = ParsedManifest(name, algorithm)
    nfc_seen: dict[str, str] = {}
    md5sum_lines = 0

    def error(code: str, path: str, message: str) -> None:
        prefix = "" if path == name else f"{name}: "
        result.errors.append(Problem(code, safe_text(path), prefix + message))

    def warn(code: str, path: str, message: str) -> None:
        prefix = "" if path == name else f"{name}: "
        result.warnings.append(Problem(code, safe_text(path), prefix + message, "warning"))

    for number, line in enumerate(split_lines(text), 1):
        if not line.strip():
            continue
        escaped = line.startswith("\\")
        m = _LINE.fullmatch(line[1:] if escaped else line)
        if m is None:
            error(
                "manifest-line-invalid",
                name,
                f"line {number} is not 'checksum path': {printable(line)!r}",
            )
            continue
        digest, path = m.group(1), m.group(2)
        if not _HEX.fullmatch(digest):
            error(
                "manifest-line-invalid",
                name,
                f"line {number}: {digest!r} is not a hexadecimal checksum",
            )
            continue
        md5sum = escaped
        if escaped:
            path = _md5sum_unescape(path)
        if path.startswith("*"):
            path, md5sum = path[1:], True
        if path.startswith("./"):
            path, md5sum = path[2:], True
        md5sum_lines += md5sum
        written = path
        path = decode_manifest_path(path, version)
        reason = unsafe_reason(path)
        if reason is not None:
            error(
                "unsafe-path",
                path,
                f"line {number}: unsafe path '{printable(path)}' ({reason}); never opened",
            )
            continue
        if not tag and not path.startswith("data/"):
            error(
                "manifest-path-not-payload",
                path,
                f"line {number}: '{printable(path)}' is outside data/ "
                "(a payload manifest lists payload files only)",
            )
            continue
        if tag and path.startswith("data/"):
            error(
                "tag-manifest-lists-payload",
                path,
                f"line {number}: a tag manifest must not list the payload file '{printable(path)}'",
            )
            continue
        if tag and TAGMANIFEST_NAME.fullmatch(path):
            message = f"line {number}: a tag manifest must not list a tag manifest ('{path}')"
            if strict:
                error("tag-manifest-lists-tag-manifest", path, message)
            else:
                warn("tag-manifest-lists-tag-manifest", path, message)
            continue
        digest = digest.lower()
        previous = result.entries.get(path)
        if previous is not None:
            if previous != digest:
                error(
                    "duplicate-entry",
                    path,
                    f"'{printable(path)}' is listed twice with different checksums",
                )
            elif strict:
                error(
                    "duplicate-entry",
                    path,
                    f"'{printable(path)}' is listed twice (not allowed in BagIt 1.0)",
                )
            else:
                warn(
                    "duplicate-entry",
                    path,
                    f"'{printable(path)}' is listed twice with the same checksum",
                )
            continue
        result.entries[path] = digest
        if strict and unencoded_percent(written):
            warn("percent-not-encoded", path, percent_message(f"line {number}", written, path))
        nfc = unicodedata.normalize("NFC", path)
        other = nfc_seen.setdefault(nfc, path)
        if other != path:
            warn(
                "normalization-duplicate",
                path,
                f"'{printable(other)}' ({normal_form(other)}) and '{printable(path)}' "
                f"({normal_form(path)}) differ only by Unicode normalisation",
            )
    if md5sum_lines:
        warn(
            "md5sum-style",
            name,
            f"{md5sum_lines} line(s) use md5sum conventions ('*path', './path' or '\\' escapes): "
            "accepted, but strict BagIt validators will reject this manifest",
        )
    return result
