"""Safe unpacking of zip and tar deliveries.

Every member is checked before anything is written (names, types, collisions after NFC, declared
sizes, compression ratio, member count), then the members are streamed one by one with bounded
memory while the bytes actually written are counted (declared sizes can lie). Symbolic links
are skipped with a warning naming them. A tar hard link to a regular member of the same archive
becomes a file of its own holding that member's content (its bytes count against the limits); a
hard link to anything else is refused. Any failure removes the destination entirely.
"""

from __future__ import annotations

import bz2
import contextlib
import dataclasses
import gzip
import lzma
import os
import re
import shutil
import stat
import struct
import tarfile
import time
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal, cast

from preserve.errors import InvalidInput, PreserveError, UnsafeArchive
from preserve.values import Problem

__all__ = [
    "DamagedArchive",
    "archive_kind",
    "claimed_kind",
    "damaged",
    "examine",
    "extra_data",
    "is_archive",
    "unpack",
    "unreadable",
]

CHUNK_SIZE = 1 << 20
_DRIVE = re.compile(r"^[A-Za-z]:")
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")

#: names that say "this is an archive": such a file is unpacked, or refused when it cannot be
_NAME_KINDS = (
    (".zip", "zip"),
    (".tar", "tar"),
    (".tar.gz", "tar"),
    (".tgz", "tar"),
    (".tar.bz2", "tar"),
    (".tbz2", "tar"),
    (".tar.xz", "tar"),
    (".txz", "tar"),
)
#: formats of their own built on zip (office documents, e-books, ...): a file named so is kept
#: as it is, never unpacked, whatever its content
_ZIP_BASED_FORMATS = (
    ".docx",
    ".xlsx",
    ".pptx",
    ".odt",
    ".ods",
    ".odp",
    ".odg",
    ".epub",
    ".jar",
    ".kmz",
    ".idml",
)
_TAR_BLOCK = 512

Kind = Literal["zip", "tar"]
EntryKind = Literal["file", "dir", "link", "hardlink", "skip", "root"]


class DamagedArchive(InvalidInput):
    """An archive that cannot be read (truncated, damaged), or one of whose members cannot.

    Its messages form one family, for ingest and ``bag validate`` alike: ``X: not a readable
    zip archive (what)`` and ``X: damaged zip archive: member 'm': what``."""

    code = "damaged-archive"


def unreadable(path: Path, kind: str, what: str) -> DamagedArchive:
    """``X: not a readable zip archive (what)``: ``path`` cannot be read as a ``kind``."""
    return DamagedArchive(f"{path}: not a readable {kind} archive ({what})")


def damaged(path: Path, kind: str, member: str, what: str) -> DamagedArchive:
    """``X: damaged zip archive: member 'm': what``: one member of ``path`` is damaged."""
    return DamagedArchive(f"{path}: damaged {kind} archive: member {member!r}: {what}")


# --------------------------------------------------------------------------------------------
# detection


def archive_kind(path: Path) -> Kind | None:
    """``"zip"`` or ``"tar"`` (plain, gzip, bzip2 or xz) judged by content, or None."""
    path = Path(path)
    try:
        if not path.is_file():
            return None
        with open(path, "rb") as fp:
            head = fp.read(512)
    except OSError:
        return None
    if head.startswith(_ZIP_MAGIC) and _is_zip(path):
        return "zip"
    if (head.startswith(_COMPRESSED_MAGIC) or _looks_like_tar_header(head)) and _is_tar(path):
        return "tar"
    if _is_zip(path):  # a zip with something prepended (self-extracting archives)
        return "zip"
    return None


def is_archive(path: Path) -> bool:
    """True for a zip, tar, tar.gz/tgz, tar.bz2 or tar.xz, judged by content, not by name."""
    return archive_kind(path) is not None


def claimed_kind(path: Path) -> Kind | None:
    """What a file says it is, by its name (``.zip``, ``.tar``, ``.tar.gz``, ``.tgz``,
    ``.tar.bz2``, ``.tar.xz`` ...) or else by its first bytes (a zip or ustar signature), whether
    or not it can be read as that; None for a name of a zip-based format (``.docx``, ``.epub``
    ...) and for anything else."""
    path = Path(path)
    lower = path.name.lower()
    for suffix, kind in _NAME_KINDS:
        if lower.endswith(suffix):
            return cast(Kind, kind)
    if lower.endswith(_ZIP_BASED_FORMATS):
        return None
    try:
        with open(path, "rb") as fp:
            head = fp.read(_TAR_BLOCK)
    except OSError:
        return None
    if head.startswith(_ZIP_MAGIC[:2]):
        return "zip"
    if head[257:262] == b"ustar":
        return "tar"
    return None


def examine(path: Path) -> tuple[Kind | None, str | None]:
    """How ingest takes the file ``path``: (the kind of archive to unpack, or None to keep the
    file as it is; why it cannot be read as the archive it claims to be, or None).

    A file is an archive when its content is one (see :func:`archive_kind`), unless its name
    is that of a zip-based format (``.docx`` ...). A file whose name or signature claims an
    archive (:func:`claimed_kind`) that cannot be read as one, or a tar that is truncated (its
    compressed data or its last member cut off, no end-of-archive marker, an unreadable header
    that would silently end the listing), is unreadable: the reason says what is wrong. A tar is
    read to its end once more for this.
    """
    path = Path(path)
    if path.name.lower().endswith(_ZIP_BASED_FORMATS):
        return None, None
    kind = archive_kind(path)
    if kind == "tar":
        return kind, _tar_problem(path)
    if kind == "zip":
        return kind, None
    claimed = claimed_kind(path)
    if claimed is None:
        return None, None
    return None, _zip_problem(path) if claimed == "zip" else _tar_problem(path)


def _zip_problem(path: Path) -> str:
    """Why ``path`` cannot be read as a zip archive."""
    try:
        with open(path, "rb") as fp:
            head = fp.read(4)
        if not head:
            return "empty file"
        with zipfile.ZipFile(path):
            pass
    except zipfile.BadZipFile as exc:
        if head.startswith(_ZIP_MAGIC):
            return "truncated or damaged: its central directory was not found"
        if str(exc) == "File is not a zip file":
            return "no zip signature"
        return str(exc)
    except (OSError, ValueError, EOFError) as exc:
        return str(exc)
    return "damaged"  # opens, yet zipfile.is_zipfile said no


def _decompressed(path: Path) -> IO[bytes]:
    """The bytes of the tar inside ``path`` (gzip, bzip2, xz or none, told by the first bytes)."""
    with open(path, "rb") as fp:
        head = fp.read(6)
    if head.startswith(b"\x1f\x8b"):
        return cast(IO[bytes], gzip.open(path, "rb"))
    if head.startswith(b"BZh"):
        return cast(IO[bytes], bz2.open(path, "rb"))
    if head.startswith(b"\xfd7zXZ\x00"):
        return cast(IO[bytes], lzma.open(path, "rb"))
    return open(path, "rb")


def _compressed_data_cut(path: Path) -> bool:
    """True when the compressed stream of ``path`` stops before its end-of-stream marker."""
    try:
        with _decompressed(path) as raw:
            while raw.read(CHUNK_SIZE):
                pass
    except EOFError:
        return True
    except (OSError, zlib.error, lzma.LZMAError, ValueError):
        return False
    return False


def _tar_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read to its end as a tar archive, or None.

    ``tarfile`` ends a listing quietly at a cut-off or unreadable header and does not notice a
    compressed stream that stops early, so a truncated tar would unpack as fewer files without
    a word: after listing the members, the stream is read to its end, and the block after the
    last member must be the end-of-archive marker (zeros)."""
    members = 0
    try:
        with _tar_stream(path) as tf:
            for _ti in _tar_members(tf):
                members += 1
            end = tf.offset
    except (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError, ValueError) as exc:
        if _compressed_data_cut(path):
            return "truncated: the compressed data ends early"
        if str(exc) == "unexpected end of data":
            return "truncated: the data of its last member is cut off"
        return str(exc) or type(exc).__name__
    if not members:
        return "no members (an empty tar)"
    seen = 0
    marker = b""
    try:
        with _decompressed(path) as raw:
            while seen < end and (chunk := raw.read(min(CHUNK_SIZE, end - seen))):
                seen += len(chunk)
            marker = raw.read(_TAR_BLOCK)
            while raw.read(CHUNK_SIZE):
                pass
    except EOFError:
        return "truncated: the compressed data ends early"
    except (OSError, zlib.error, lzma.LZMAError, ValueError) as exc:
        return f"damaged compressed data: {exc}"
    if seen < end:
        return "truncated: the data of its last member is cut off"
    if marker.strip(b"\x00"):
        return f"damaged: the header after member {members} cannot be read"
    if len(marker) < _TAR_BLOCK:
        return f"truncated after member {members}: no end-of-archive marker"
    return None


def _is_zip(path: Path) -> bool:
    try:
        return zipfile.is_zipfile(path)
    except OSError:
        return False


def _looks_like_tar_header(head: bytes) -> bool:
    if len(head) < 512 or head[0] == 0:
        return False
    if head[257:262] == b"ustar":
        return True
    # old (v7) tar: no magic, but a valid header checksum
    try:
        stored = int(head[148:156].replace(b"\x00", b" ").strip() or b"-1", 8)
    except ValueError:
        return False
    return stored == sum(head[:148]) + 8 * 32 + sum(head[156:512])


def _is_tar(path: Path) -> bool:
    """A tar with at least one member (a run of zeros is an empty tar to tarfile, not to us)."""
    try:
        with open(path, "rb") as fp, tarfile.open(fileobj=fp, mode="r|*") as tf:
            return tf.next() is not None
    except (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError, ValueError):
        return False


# --------------------------------------------------------------------------------------------
# unpacking


@dataclass(frozen=True)
class _Entry:
    kind: EntryKind
    parts: tuple[str, ...]  # the member's path below dest, as named in the archive
    size: int  # declared uncompressed size (files; hard links once resolved: their target's)
    mtime: float | None
    target: tuple[str, ...] = ()  # hard links: the target's path below dest


class _Budget:
    """Counts the bytes actually written against the limits."""

    def __init__(self, archive: Path, archive_size: int, max_total: int, max_ratio: int) -> None:
        self.archive = archive
        self.archive_size = max(1, archive_size)
        self.max_total = max_total
        self.max_ratio = max_ratio
        self.written = 0

    def add(self, name: str, count: int) -> None:
        self.written += count
        if self.written > self.max_total:
            raise UnsafeArchive(
                f"{self.archive}: member {name!r}: more than {self.max_total} bytes written "
                "while unpacking (the declared sizes are wrong)"
            )
        if self.written > self.max_ratio * self.archive_size:
            raise UnsafeArchive(
                f"{self.archive}: member {name!r}: compression ratio above {self.max_ratio} "
                "while unpacking (the declared sizes are wrong)"
            )


def unpack(
    archive: Path,
    dest: Path,
    *,
    max_total_bytes: int,
    max_ratio: int,
    max_members: int = 1_000_000,
) -> list[Problem]:
    """Unpack ``archive`` into ``dest`` (created here; it must not exist) and return warnings.

    Raises :class:`UnsafeArchive` (naming the archive and the member) for absolute members, ``..``
    segments, backslashes or drive letters, device or fifo members, names colliding after NFC,
    too many members, or too many bytes (declared or written) or too high a compression ratio;
    :class:`InvalidInput` for a corrupt or unsupported archive. Symbolic links are skipped with a
    ``symlink-skipped`` warning. A tar hard link whose target is a regular member becomes a copy of
    that member; one to an absent member or a directory is :class:`InvalidInput`, one outside the
    archive :class:`UnsafeArchive`. On failure ``dest`` is removed entirely.
    """
    archive = Path(archive)
    dest = Path(dest)
    try:
        archive_size = archive.stat().st_size
    except OSError as exc:
        raise InvalidInput(f"cannot read archive {archive}: {exc.strerror or exc}") from exc
    if not os.access(archive, os.R_OK):
        raise InvalidInput(f"cannot read archive {archive}: permission denied")
    kind = archive_kind(archive)
    if kind is None:
        raise unreadable(archive, claimed_kind(archive) or "zip or tar", "it cannot be read as one")
    if os.path.lexists(dest):
        raise InvalidInput(f"cannot unpack {archive}: destination {dest} already exists")
    try:
        dest.mkdir(parents=True)
    except OSError as exc:
        raise InvalidInput(f"cannot unpack {archive}: cannot create {dest}: {exc}") from exc

    budget = _Budget(archive, archive_size, max_total_bytes, max_ratio)
    try:
        with _read_errors(archive, kind):
            if kind == "zip":
                problems = _unpack_zip(archive, dest, budget, max_members)
            else:
                problems = _unpack_tar(archive, dest, budget, max_members)
        problems.extend(_empty_directories(dest))
        return problems
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise


@contextmanager
def _read_errors(archive: Path, kind: Kind) -> Iterator[None]:
    """Turn the many ways a broken archive fails into InvalidInput naming it."""
    try:
        yield
    except PreserveError:
        raise
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        tarfile.TarError,
        EOFError,
        zlib.error,
        lzma.LZMAError,
        NotImplementedError,
        UnicodeDecodeError,
        ValueError,
        OSError,
    ) as exc:
        raise unreadable(archive, kind, str(exc) or type(exc).__name__) from exc


class _Checker:
    """Validates member names and types, and tracks collisions, counts and declared sizes."""

    def __init__(self, archive: Path, budget: _Budget, max_members: int) -> None:
        self.archive = archive
        self.budget = budget
        self.max_members = max_members
        self.members = 0
        self.declared = 0
        self.files: dict[str, str] = {}  # NFC key -> name as in the archive
        self.dirs: dict[str, str] = {}

    def unsafe(self, name: str, reason: str) -> UnsafeArchive:
        return UnsafeArchive(f"{self.archive}: member {name!r}: {reason}")

    def parts(self, name: str) -> tuple[str, ...]:
        reason = _unsafe_name(name)
        if reason:
            raise self.unsafe(name, reason)
        return tuple(s for s in name.split("/") if s not in ("", "."))  # empty: the root itself

    def count(self, name: str) -> None:
        self.members += 1
        if self.members > self.max_members:
            raise self.unsafe(name, f"more than {self.max_members} members")

    def add(self, name: str, kind: EntryKind, parts: tuple[str, ...], size: int) -> EntryKind:
        """Record a member; returns its kind ("root" for a directory entry naming the root)."""
        if not parts:
            if kind == "dir":
                return "root"
            raise self.unsafe(name, "member names the archive root")
        keys = [
            "/".join(unicodedata.normalize("NFC", p) for p in parts[: i + 1])
            for i in range(len(parts))
        ]
        real = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        # every ancestor is a directory
        for key, actual in zip(keys[:-1], real[:-1], strict=True):
            self._dir(name, key, actual)
        if kind == "dir":
            self._dir(name, keys[-1], real[-1])
        elif kind in ("file", "link", "hardlink"):
            key, actual = keys[-1], real[-1]
            if key in self.dirs:
                raise self.unsafe(name, f"collides with the directory {self.dirs[key]!r}")
            if key in self.files:
                other = self.files[key]
                what = "duplicate member" if other == actual else "collides after NFC with"
                raise self.unsafe(name, f"{what} {other!r}")
            self.files[key] = actual
        if kind == "file":
            self.declare(name, size)
        return kind

    def declare(self, name: str, size: int) -> None:
        """Count ``size`` bytes that ``name`` will write against the limits."""
        self.declared += size
        if self.declared > self.budget.max_total:
            raise self.unsafe(
                name, f"declared total size above the limit of {self.budget.max_total} bytes"
            )
        if self.declared > self.budget.max_ratio * self.budget.archive_size:
            raise self.unsafe(
                name,
                f"compression ratio above {self.budget.max_ratio} "
                f"({self.declared} bytes from a {self.budget.archive_size}-byte archive)",
            )

    def link_target(self, name: str, linkname: str) -> tuple[str, ...]:
        """The path a hard link names, checked like a member name (nothing outside the archive)."""
        reason = _unsafe_name(linkname)
        if reason:
            raise self.unsafe(name, f"hard link to {linkname!r}: {reason}")
        parts = tuple(s for s in linkname.split("/") if s not in ("", "."))
        if not parts:
            raise self.unsafe(name, f"hard link to {linkname!r}: names the archive root")
        return parts

    @staticmethod
    def key(parts: tuple[str, ...]) -> str:
        return "/".join(unicodedata.normalize("NFC", p) for p in parts)

    def _dir(self, name: str, key: str, actual: str) -> None:
        if key in self.files:
            raise self.unsafe(name, f"collides with the file {self.files[key]!r}")
        other = self.dirs.setdefault(key, actual)
        if other != actual:
            raise self.unsafe(name, f"collides after NFC with {other!r}")


def _unsafe_name(name: str) -> str | None:
    """Why a member name (or a hard link's target) could reach outside dest, or None."""
    if not name:
        return "empty name"
    if "\x00" in name:
        return "NUL character in the name"
    if "\\" in name:
        return "backslash in the name"
    if name.startswith("/"):
        return "absolute path"
    if _DRIVE.match(name):
        return "drive letter in the name"
    if ".." in name.split("/"):
        return "'..' segment (path traversal)"
    return None


# -- zip ------------------------------------------------------------------------------------


def _zip_entry(info: zipfile.ZipInfo, checker: _Checker) -> _Entry:
    name = info.filename
    checker.count(name)
    parts = checker.parts(name)
    mode = info.external_attr >> 16
    fmt = stat.S_IFMT(mode) if mode else 0
    if fmt == stat.S_IFLNK:
        kind: EntryKind = "link"
    elif fmt in (stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK):
        raise checker.unsafe(name, "device, fifo or socket member")
    elif info.is_dir() or fmt == stat.S_IFDIR:
        kind = "dir"
    else:
        kind = "file"
        if info.flag_bits & 0x1:
            raise InvalidInput(f"{checker.archive}: member {name!r} is encrypted")
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            raise checker.unsafe(name, "stored member whose sizes disagree")
    kind = checker.add(name, kind, parts, info.file_size)
    return _Entry(kind, parts, info.file_size, _zip_mtime(info))


def _zip_mtime(info: zipfile.ZipInfo) -> float | None:
    try:
        return time.mktime((*info.date_time, 0, 0, -1))
    except (OverflowError, ValueError):
        return None


_EOCD = b"PK\x05\x06"
_EOCD_SIZE = 22


def extra_data(zf: zipfile.ZipFile, path: Path) -> tuple[int, int]:
    """The bytes of the zip file ``path`` (open as ``zf``) before its first member (a
    self-extractor's program, say) and after its end-of-central-directory record and comment:
    zipfile reads such a zip without a word, so what they hold would be dropped unseen."""
    infos = zf.infolist()
    before = min((i.header_offset for i in infos), default=zf.start_dir)
    size = path.stat().st_size
    with open(path, "rb") as fp:
        fp.seek(max(0, size - _EOCD_SIZE - 0xFFFF))
        tail = fp.read()
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < _EOCD_SIZE:
        return before, 0
    (comment,) = struct.unpack("<H", tail[at + 20 : at + 22])
    return before, max(0, len(tail) - at - _EOCD_SIZE - comment)


def _ignored(n: int, where: str) -> str:
    """``1,000 bytes <where> were ignored`` (singular for one byte)."""
    return f"{n:,} byte {where} was ignored" if n == 1 else f"{n:,} bytes {where} were ignored"


def _extra_data_warnings(zf: zipfile.ZipFile, archive: Path) -> list[Problem]:
    before, after = extra_data(zf, archive)
    found = []
    if before:
        found.append(
            Problem(
                "archive-data-before",
                archive.name,
                _ignored(before, "before the first member of the zip archive")
                + " (a self-extracting program?)",
                "warning",
            )
        )
    if after:
        found.append(
            Problem(
                "archive-data-after",
                archive.name,
                _ignored(after, "after the end of the zip archive"),
                "warning",
            )
        )
    return found


def _unpack_zip(archive: Path, dest: Path, budget: _Budget, max_members: int) -> list[Problem]:
    problems: list[Problem] = []
    with zipfile.ZipFile(archive) as zf:
        problems.extend(_extra_data_warnings(zf, archive))
        infos = zf.infolist()
        if len(infos) > max_members:
            raise UnsafeArchive(
                f"{archive}: member {infos[max_members].filename!r}: "
                f"more than {max_members} members"
            )
        checker = _Checker(archive, budget, max_members)
        entries = [_zip_entry(info, checker) for info in infos]  # every check before any write
        for info, entry in zip(infos, entries, strict=True):
            if entry.kind == "link":
                problems.append(_link_skipped(info.filename, "symbolic link member"))
                continue
            if entry.kind == "root":
                continue

            def opener(info: zipfile.ZipInfo = info) -> IO[bytes]:
                return zf.open(info)

            try:
                _materialise(archive, dest, info.filename, entry, opener, budget)
            except zipfile.BadZipFile as exc:
                raise _zip_member_error(archive, info, exc) from exc
    return problems


def _zip_member_error(archive: Path, info: zipfile.ZipInfo, exc: Exception) -> InvalidInput:
    """A CRC failure: find out whether the data is longer than declared (a lie) or just corrupt."""
    if info.compress_type == zipfile.ZIP_DEFLATED:
        try:
            with open(archive, "rb") as fp:
                fp.seek(info.header_offset)
                local = fp.read(30)
                name_len, extra_len = struct.unpack("<2H", local[26:30])
                fp.seek(info.header_offset + 30 + name_len + extra_len)
                compressed = fp.read(min(info.compress_size, 64 << 20))
            produced = len(zlib.decompressobj(-15).decompress(compressed, info.file_size + 1))
            if produced > info.file_size:
                return UnsafeArchive(
                    f"{archive}: member {info.filename!r}: holds more data than its declared "
                    f"size of {info.file_size} bytes"
                )
        except Exception:  # noqa: S110 - the diagnosis is best effort; report corruption
            pass
    return damaged(archive, "zip", info.filename, str(exc))


# -- tar ------------------------------------------------------------------------------------


def _tar_entry(ti: tarfile.TarInfo, checker: _Checker) -> _Entry:
    name = ti.name
    checker.count(name)
    parts = checker.parts(name)
    target: tuple[str, ...] = ()
    if ti.issym():
        kind: EntryKind = "link"
    elif ti.islnk():
        kind = "hardlink"
        target = checker.link_target(name, ti.linkname)
    elif ti.ischr() or ti.isblk() or ti.isfifo():
        raise checker.unsafe(name, "device or fifo member")
    elif ti.isdir():
        kind = "dir"
    elif ti.isreg():
        kind = "file"
    else:
        kind = "skip"  # GNU volume labels and other vendor types: nothing to extract
    kind = checker.add(name, kind, parts, ti.size if kind == "file" else 0)
    return _Entry(kind, parts, ti.size, float(ti.mtime) if ti.mtime else None, target)


def _resolve_hard_links(
    archive: Path, names: list[str], entries: list[_Entry], checker: _Checker
) -> list[_Entry]:
    """Point every hard link at the regular member it finally names (links to links are
    followed), with that member's size counted against the limits, before anything is written.

    A hard link to a symbolic link becomes a link entry (skipped with a warning like the symbolic
    link itself); one to an absent member, a directory, a loop or a special member is refused.
    """
    by_key = {checker.key(e.parts): e for e in entries if e.parts}
    final: dict[str, _Entry | None] = {}  # link key -> what it ends at (None: a loop)
    resolved = list(entries)
    for i, (name, entry) in enumerate(zip(names, entries, strict=True)):
        if entry.kind != "hardlink":
            continue
        what = f"{archive}: member {name!r}: hard link to {'/'.join(entry.target)!r}"
        # follow the chain once; every link on it learns where it ends (linear in all)
        chain: dict[str, None] = {}  # insertion-ordered set
        current: _Entry | None = entry
        while current is not None and current.kind == "hardlink":
            key = checker.key(current.parts)
            if key in final:
                current = final[key]
                break
            if key in chain:
                current = None
                break
            chain[key] = None
            target_key = checker.key(current.target)
            current = by_key.get(target_key)
            if current is None and target_key in checker.dirs:
                raise InvalidInput(f"{what}, which is a directory")
            if current is None:
                raise InvalidInput(
                    f"{what}, which is not in the archive (only a link to a file of the same "
                    "archive can be unpacked)"
                )
        for key in chain:
            final[key] = current
        if current is None:
            raise InvalidInput(f"{what}, which is a loop of hard links")
        if current.kind == "dir":
            raise InvalidInput(f"{what}, which is a directory")
        if current.kind == "link":
            resolved[i] = dataclasses.replace(entry, kind="link")
        elif current.kind == "file":
            checker.declare(name, current.size)
            resolved[i] = dataclasses.replace(
                entry, size=current.size, mtime=current.mtime, target=current.parts
            )
        else:
            raise InvalidInput(f"{what}, which is not a regular file")
    return resolved


@contextmanager
def _tar_stream(archive: Path) -> Iterator[tarfile.TarFile]:
    # stream mode: one linear pass, no seeking back in a compressed stream; names decoded as
    # UTF-8 with surrogateescape so that any byte sequence reaches the disk unchanged
    with (
        open(archive, "rb") as fp,
        tarfile.open(fileobj=fp, mode="r|*", encoding="utf-8", errors="surrogateescape") as tf,
    ):
        yield tf


def _tar_members(tf: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    for ti in tf:
        yield ti
        # stream mode keeps every TarInfo otherwise; we never look back (bounded memory)
        kept = getattr(tf, "members", None)
        if isinstance(kept, list):
            kept.clear()


def _unpack_tar(archive: Path, dest: Path, budget: _Budget, max_members: int) -> list[Problem]:
    checker = _Checker(archive, budget, max_members)
    # first pass: read the headers only and check everything before writing anything
    entries: list[_Entry] = []
    names: list[str] = []
    with _tar_stream(archive) as tf:
        for ti in _tar_members(tf):
            entries.append(_tar_entry(ti, checker))
            names.append(ti.name)
    entries = _resolve_hard_links(archive, names, entries, checker)
    del names
    # second pass: extract, counting the bytes actually written
    problems: list[Problem] = []
    hard_links: list[tuple[str, _Entry]] = []  # written last, once every target is on disk
    data_filter = getattr(tarfile, "data_filter", None)
    seen = 0
    with _tar_stream(archive) as tf:
        for ti in _tar_members(tf):
            if seen >= len(entries):
                raise InvalidInput(f"{archive} changed while it was being unpacked")
            entry = entries[seen]
            seen += 1
            if entry.kind == "link":
                what = (
                    f"symbolic link to {ti.linkname!r}"
                    if ti.issym()
                    else f"hard link to {ti.linkname!r} (a symbolic link)"
                )
                problems.append(_link_skipped(ti.name, what))
                continue
            if entry.kind == "root":
                continue
            if entry.kind == "skip":
                problems.append(
                    Problem(
                        code="member-skipped",
                        path=ti.name,
                        message=f"member of tar type {ti.type!r} has no content to unpack",
                        severity="warning",
                    )
                )
                continue
            if data_filter is not None:  # second line of defence: tarfile's own "data" filter
                try:
                    data_filter(ti, str(dest))
                except tarfile.FilterError as exc:
                    raise UnsafeArchive(f"{archive}: member {ti.name!r}: {exc}") from exc
            if entry.kind == "hardlink":
                hard_links.append((ti.name, entry))
                continue

            def opener(ti: tarfile.TarInfo = ti) -> IO[bytes]:
                member = tf.extractfile(ti)
                if member is None:
                    raise InvalidInput(f"{archive}: member {ti.name!r} has no data")
                return member

            _materialise(archive, dest, ti.name, entry, opener, budget)
    if seen != len(entries):
        raise InvalidInput(f"{archive} changed while it was being unpacked")
    for name, entry in hard_links:
        source = dest.joinpath(*entry.target)

        def copy_opener(source: Path = source) -> IO[bytes]:
            fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            return os.fdopen(fd, "rb")

        _materialise(archive, dest, name, entry, copy_opener, budget)
    return problems


# -- writing --------------------------------------------------------------------------------


def _materialise(
    archive: Path,
    dest: Path,
    name: str,
    entry: _Entry,
    opener: Callable[[], IO[bytes]],
    budget: _Budget,
) -> None:
    target = dest.joinpath(*entry.parts)
    try:
        _make_dirs(dest, entry.parts if entry.kind == "dir" else entry.parts[:-1])
        if entry.kind == "dir":
            return
        fd = os.open(
            target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644
        )
    except OSError as exc:
        raise InvalidInput(
            f"cannot unpack {archive}: member {name!r}: cannot create {target}: {exc.strerror}"
        ) from exc
    written = 0
    with os.fdopen(fd, "wb") as out, opener() as src:
        while chunk := src.read(CHUNK_SIZE):
            written += len(chunk)
            if written > entry.size:
                raise UnsafeArchive(
                    f"{archive}: member {name!r}: holds more data than its declared size "
                    f"of {entry.size} bytes"
                )
            budget.add(name, len(chunk))
            try:
                out.write(chunk)
            except OSError as exc:
                raise InvalidInput(
                    f"cannot unpack {archive}: member {name!r}: cannot write {target}: "
                    f"{exc.strerror}"
                ) from exc
    if written != entry.size:
        raise damaged(
            archive,
            archive_kind(archive) or "zip or tar",
            name,
            f"{written} bytes instead of the declared {entry.size}",
        )
    if entry.mtime is not None:
        # a timestamp the file system cannot hold: keep the extraction time
        with contextlib.suppress(OSError, OverflowError, ValueError):
            os.utime(target, (entry.mtime, entry.mtime), follow_symlinks=False)


def _make_dirs(dest: Path, parts: tuple[str, ...]) -> None:
    current = dest
    for part in parts:
        current = current / part
        try:
            current.mkdir()
        except FileExistsError:
            st = os.lstat(current)
            if not stat.S_ISDIR(st.st_mode):  # only our own files live here: a collision
                raise
            continue


def _link_skipped(name: str, what: str) -> Problem:
    return Problem(
        code="symlink-skipped",
        path=name,
        message=f"{what} not unpacked (symbolic links are never followed or created)",
        severity="warning",
    )


def _empty_directories(dest: Path) -> list[Problem]:
    problems = []
    for root, dirs, files in os.walk(dest):
        if not dirs and not files and Path(root) != dest:
            rel = Path(root).relative_to(dest).as_posix()
            problems.append(
                Problem(
                    code="empty-directory",
                    path=rel,
                    message="empty directory: a BagIt payload cannot hold it",
                    severity="warning",
                )
            )
    return sorted(problems, key=lambda p: p.path)
