"""Paths inside a bag: manifest encoding, safety and name collisions (RFC 8493 §2.1.3, §5, §6).

Manifest and fetch paths are relative POSIX paths in which only CR, LF and ``%`` are
percent-encoded (``%0D``, ``%0A``, ``%25``). Bags older than 1.0 never encoded ``%``, and the
conformance suite holds 0.96/0.97 bags with literal names such as ``%7Etest1.txt``, so decoding
depends on the bag's version. Most tools still write a raw ``%`` in 1.0 bags;
:func:`unencoded_percent` finds it so the validator can say so.

Safety is stricter than the RFC's "never touch anything outside the bag": any path that could
mean something else on another system (absolute, ``..``, ``~``, backslashes, drive letters,
``%VAR%``) is refused outright instead of being resolved and compared.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from preserve.values import Problem

__all__ = [
    "NameIndex",
    "check_payload_names",
    "decode_manifest_path",
    "encode_manifest_path",
    "normal_form",
    "printable",
    "safe_text",
    "unencoded_percent",
    "unsafe_reason",
]

_DECODE_1_0 = re.compile(r"%(0[AaDd]|25)")
_DECODE_OLD = re.compile(r"%(0[AaDd])")
_UNENCODED_PERCENT = re.compile(r"%(?!0[AaDd]|25)")
_DRIVE = re.compile(r"[A-Za-z]:")
_ENV_VAR = re.compile(r"%[^%/\\]+%")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# Windows device names (with or without an extension) and characters Windows refuses (§6.1.2)
_WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"{dev}{n}" for dev in ("COM", "LPT") for n in (*"123456789", "¹", "²", "³")]
)
_WINDOWS_FORBIDDEN = re.compile(r'[<>:"|?*\x00-\x1f]')

# files and folders that operating systems leave behind; ordinary payload, but worth a warning
_SYSTEM_FILES = frozenset(
    name.casefold()
    for name in (".DS_Store", "Thumbs.db", "ehthumbs.db", "desktop.ini", "Icon\r", ".localized")
)
_SYSTEM_DIRS = frozenset(
    name.casefold()
    for name in (
        "__MACOSX",
        ".Spotlight-V100",
        ".Trashes",
        ".fseventsd",
        ".TemporaryItems",
        "$RECYCLE.BIN",
        "System Volume Information",
    )
)


def encode_manifest_path(path: str) -> str:
    """The manifest spelling of ``path``: ``%``, CR and LF become ``%25``, ``%0D``, ``%0A``."""
    return path.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def decode_manifest_path(path: str, version: tuple[int, int]) -> str:
    """The file name a manifest or fetch path stands for, by the bag's BagIt version.

    1.0 decodes ``%0A``, ``%0D`` and ``%25`` (either case of hex digit) and nothing else. Older
    bags never encoded ``%``, so only ``%0A``/``%0D`` (the post-0.97 draft's rule) are decoded and
    a literal ``%7E`` or ``%25`` stays as written.
    """
    if tuple(version) >= (1, 0):
        return _DECODE_1_0.sub(lambda m: chr(int(m.group(1), 16)), path)
    return _DECODE_OLD.sub(lambda m: chr(int(m.group(1), 16)), path)


def unencoded_percent(path: str) -> bool:
    """True if a 1.0 manifest or fetch path, as written, holds a ``%`` that starts none of
    ``%25``, ``%0A``, ``%0D``: RFC 8493 §2.1.3 wants it written ``%25``. Such a ``%`` can only
    mean itself, so :func:`decode_manifest_path` keeps it."""
    return _UNENCODED_PERCENT.search(path) is not None


def safe_text(text: str) -> str:
    """``text`` with undecodable file-name bytes (lone surrogates) shown as ``\\xNN``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text


def printable(path: str) -> str:
    """A one-line rendering of a path for messages: control characters become ``\\r``, ``\\n``..."""

    def escape(m: re.Match[str]) -> str:
        return {"\r": "\\r", "\n": "\\n", "\t": "\\t"}.get(m.group(0), f"\\x{ord(m.group(0)):02x}")

    return _CONTROL.sub(escape, safe_text(path))


def normal_form(name: str) -> str:
    """``NFC``, ``NFD`` or ``mixed``: which Unicode normalisation a name is in (for messages)."""
    if unicodedata.is_normalized("NFC", name):
        return "NFC"
    return "NFD" if unicodedata.is_normalized("NFD", name) else "mixed"


def unsafe_reason(path: str) -> str | None:
    """None if ``path`` is a safe bag-relative POSIX path; otherwise why it is refused."""
    if path == "":
        return "empty path"
    if "\x00" in path:
        return "contains a NUL character"
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return "contains bytes that are not valid UTF-8"
    if "\\" in path:
        return "contains a backslash (a Windows path, not a POSIX one)"
    if path.startswith("/"):
        return "absolute path"
    if _DRIVE.match(path):
        return "starts with a drive letter"
    if path.startswith("~"):
        return "starts with '~' (a home-directory shortcut)"
    if _ENV_VAR.match(path):
        return "starts with a %VARIABLE% (Windows environment expansion)"
    for segment in path.split("/"):
        if segment == "..":
            return "contains a '..' segment"
        if segment == ".":
            return "contains a '.' segment"
        if segment == "":
            return "contains an empty segment ('//' or a trailing '/')"
    return None


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _name_problems(path: str, name: str, *, is_file: bool) -> list[Problem]:
    """Warnings about one path segment: OS junk files, Windows-reserved or -incompatible names.
    Their messages do not name the path: they are shown after it (``d/Thumbs.db: ...``)."""
    problems: list[Problem] = []
    folded = name.casefold()
    if (is_file and (folded in _SYSTEM_FILES or name.startswith("._"))) or (
        not is_file and folded in _SYSTEM_DIRS
    ):
        problems.append(
            Problem(
                "system-file",
                safe_text(path),
                "an operating-system file, not content; kept as payload",
                "warning",
            )
        )
    stem = name.split(".", 1)[0].strip().upper()
    if stem in _WINDOWS_RESERVED:
        problems.append(
            Problem(
                "windows-reserved-name",
                safe_text(path),
                f"uses the reserved Windows device name {stem}: it cannot be restored on Windows",
                "warning",
            )
        )
    elif _WINDOWS_FORBIDDEN.search(name) or name.endswith((".", " ")):
        problems.append(
            Problem(
                "windows-incompatible-name",
                safe_text(path),
                'contains characters Windows does not allow (< > : " | ? *, control '
                "characters, or a trailing dot or space)",
                "warning",
            )
        )
    return problems


class NameIndex:
    """Incremental check of payload names: NFC collisions (errors), case collisions and odd names.

    Directories count too: ``Núñez/a`` and ``Nu\u0301n\u0303ez/b`` put two folders whose names
    differ only by normalisation side by side. Memory holds one entry per file and folder name.
    """

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix  # prepended to every Problem path, e.g. "data/"
        self._nfc: dict[str, str] = {}
        self._folded: dict[str, str] = {}

    def __contains__(self, name: object) -> bool:
        """True if the file ``name`` itself (exact spelling) was added."""
        return isinstance(name, str) and self._nfc.get(_nfc(name)) == name

    def collision(self, name: str) -> Problem | None:
        """The NFC collision adding ``name`` would cause (without adding it)."""
        parts = name.split("/")
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            is_file = i == len(parts)
            have = self._nfc.get(_nfc(sub) + ("" if is_file else "/"))
            if have is None or (have == sub and not is_file):
                continue
            a, b = printable(self.prefix + have), printable(self.prefix + sub)
            if have == sub:
                return Problem("duplicate-name", safe_text(self.prefix + sub), f"'{b}' added twice")
            what = "file" if is_file else "folder"
            return Problem(
                "normalization-collision",
                safe_text(self.prefix + sub),
                f"{what} names '{a}' ({normal_form(have)}) and '{b}' ({normal_form(sub)}) are the "
                "same after Unicode NFC normalisation",
            )
        return None

    def add(self, name: str) -> tuple[Problem | None, list[Problem]]:
        """Record ``name``; returns (the NFC collision error or None, warnings)."""
        error = self.collision(name)
        if error is not None:
            return error, []
        warnings: list[Problem] = []
        parts = name.split("/")
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            is_file = i == len(parts)
            key = _nfc(sub) + ("" if is_file else "/")
            if key in self._nfc:
                continue  # a folder seen before
            self._nfc[key] = sub
            other = self._folded.setdefault(key.casefold(), sub)
            if other != sub:
                a, b = printable(self.prefix + other), printable(self.prefix + sub)
                warnings.append(
                    Problem(
                        "case-collision",
                        safe_text(self.prefix + sub),
                        f"'{a}' and '{b}' differ only by case: they collide on case-insensitive "
                        "file systems (Windows, macOS)",
                        "warning",
                    )
                )
            warnings.extend(_name_problems(self.prefix + sub, parts[i - 1], is_file=is_file))
        return None, warnings


def check_payload_names(names: Iterable[str]) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings) for a set of payload-relative names.

    Errors: ``normalization-collision`` (two names equal after NFC; the message names both).
    Warnings: ``case-collision``, ``system-file`` (.DS_Store, Thumbs.db, desktop.ini ...),
    ``windows-reserved-name`` and ``windows-incompatible-name``. Repeated names are ignored.
    """
    index = NameIndex()
    errors: list[Problem] = []
    warnings: list[Problem] = []
    for name in names:
        error, found = index.add(name)
        if error is not None:
            if error.code != "duplicate-name":
                errors.append(error)
            continue
        warnings.extend(found)
    return errors, warnings
