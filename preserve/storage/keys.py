"""Object keys: validated once, at the storage boundary, and then used unchanged.

A key is a relative POSIX path (``org/collection/pkg/v1/data/photo.tif``). Payload names are
preserved byte for byte, so a key is *not* normalised to NFC and may hold any Unicode except NUL;
what is refused is whatever could escape a root or mean different things to different backends:
an empty key, a leading ``/``, empty, ``.`` or ``..`` segments, a backslash, NUL, and text that is
not valid Unicode (lone surrogates) or longer than S3's 1024 UTF-8 bytes.
"""

from __future__ import annotations

from preserve.errors import UnsafePath

MAX_KEY_BYTES = 1024  # S3's limit; the local backend keeps to it so both accept the same keys


def validate_key(key: str) -> str:
    """Return ``key`` unchanged when it is a safe object key, else raise :class:`UnsafePath`."""
    if not isinstance(key, str):
        raise UnsafePath(f"object key must be text, not {type(key).__name__}: {key!r}")
    problem = _key_problem(key)
    if problem:
        raise UnsafePath(f"unsafe object key {key!r}: {problem}")
    return key


def validate_prefix(prefix: str) -> str:
    """Return ``prefix`` unchanged when it may start a key ("" and ``a/b/`` included)."""
    if not isinstance(prefix, str):
        raise UnsafePath(f"key prefix must be text, not {type(prefix).__name__}: {prefix!r}")
    if prefix == "":
        return prefix
    problem = _key_problem(prefix[:-1] if prefix.endswith("/") else prefix)
    if problem:
        raise UnsafePath(f"unsafe key prefix {prefix!r}: {problem}")
    return prefix


def _key_problem(key: str) -> str | None:
    if key == "":
        return "it is empty"
    if "\x00" in key:
        return "it contains a NUL character"
    if "\\" in key:
        return "it contains a backslash"
    if key.startswith("/"):
        return "it is absolute (starts with '/')"
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:
        return "it is not valid Unicode (lone surrogate)"
    if len(encoded) > MAX_KEY_BYTES:
        return f"it is {len(encoded)} bytes long in UTF-8 (at most {MAX_KEY_BYTES})"
    for segment in key.split("/"):
        if segment == "":
            return "it has an empty path segment ('//' or a trailing '/')"
        if segment in (".", ".."):
            return f"it has a {segment!r} path segment"
    return None
