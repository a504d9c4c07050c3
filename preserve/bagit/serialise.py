"""A bag as one file to send: a zip or tar holding one top-level folder named after the bag.

RFC 8493 §4.3 leaves serialisation to the parties; bagit-python users, BDBag, DART and the
``Serialization`` rule of BagIt profiles all expect an archive with exactly one top-level folder,
named after the bag, that holds ``bagit.txt`` and the rest. That is what is written here.

An archive is written under a temporary name next to its destination (saying which process owns
it, so that one left by a killed process can be removed later), read back completely, and only
then given its final name, which must still be free: nothing is ever half-written under the
final name, nor overwritten. Members are streamed in a fixed order (tag files first, then folders
by name), with modes 0644/0755 and no owner names, whatever the files on disk have.
"""

from __future__ import annotations

import dataclasses
import errno
import gzip
import hashlib
import logging
import os
import re
import shutil
import socket
import stat
import tarfile
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal, cast

from preserve.bagit.validator import validate_bag
from preserve.bagit.writer import BagSummary, make_bag
from preserve.errors import InvalidInput, StorageError, StorageFull
from preserve.fsio import NO_SPACE
from preserve.interrupts import critical
from preserve.processes import process_alive, process_start_time
from preserve.text import plural
from preserve.values import Problem, ValidationReport

__all__ = [
    "FORMATS",
    "ArchivedBagReport",
    "SerialisedBag",
    "bag_name",
    "check_parents",
    "choose_format",
    "make_bag_file",
    "make_parents",
    "partial_name",
    "remove_abandoned",
    "remove_folders",
    "serialise_bag",
    "validate_bag_file",
]

log = logging.getLogger(__name__)

Format = Literal["folder", "zip", "tar", "tar.gz"]
#: what ``--format`` accepts; "folder" is the bag itself, unpacked
FORMATS: tuple[Format, ...] = ("folder", "zip", "tar", "tar.gz")
#: name endings that choose an archive format, longest first
_SUFFIXES: tuple[tuple[str, Format], ...] = (
    (".tar.gz", "tar.gz"),
    (".tgz", "tar.gz"),
    (".zip", "zip"),
    (".tar", "tar"),
)
_CHUNK = 1 << 20
_FILE_MODE = 0o644
_DIR_MODE = 0o755


@dataclass(frozen=True)
class SerialisedBag:
    """An archive written by :func:`serialise_bag`."""

    path: Path
    format: Format
    #: the top-level folder inside the archive
    name: str
    #: size of the archive file
    bytes: int
    #: files in the archive (payload and tag files; folders not counted)
    members: int


def _suffix(name: str) -> tuple[str, Format] | None:
    lower = name.lower()
    for suffix, fmt in _SUFFIXES:
        if lower.endswith(suffix) and len(name) > len(suffix):
            return suffix, fmt
    return None


def choose_format(dest: Path, given: str | None = None) -> Format:
    """The format to write ``dest`` in: ``given``, else the one its name ends in (``.zip``,
    ``.tar``, ``.tar.gz``, ``.tgz``), else a folder. A name ending that contradicts ``given``
    is refused (``out.tar`` written as a zip would mislead whoever receives it)."""
    by_name = _suffix(Path(dest).name)
    if given is None:
        return by_name[1] if by_name else "folder"
    if given not in FORMATS:
        raise InvalidInput(f"unknown format {given!r}: choose one of {', '.join(FORMATS)}")
    fmt = cast(Format, given)
    if by_name is not None and by_name[1] != fmt:
        raise InvalidInput(
            f"{dest}: the name ends in {by_name[0]} but the format asked for is {fmt}; "
            "rename the destination or leave the format out"
        )
    return fmt


def bag_name(dest: Path, fmt: Format) -> str:
    """The bag's name: the destination's name without its archive ending (``out.tar.gz``:
    ``out``); the top-level folder of the archive."""
    name = Path(dest).name
    found = _suffix(name)
    if fmt != "folder" and found is not None:
        name = name[: -len(found[0])]
    if not name or name in (".", ".."):
        raise InvalidInput(f"{dest}: no name left for the bag once the ending is taken off")
    return name


# ------------------------------------------------------------ temporary names
#
# Work in progress is written as ``.<name>.partial-<host>-<pid>-<start>-<token>`` next to the
# destination and renamed at the end. A killed process (kill -9, power loss) leaves it behind;
# its name says which process owned it, so the next run into the same folder removes it once
# that process is gone. The start time of the process tells a reused pid apart.

PARTIAL = re.compile(
    r"\.(?P<name>.*)\.partial-(?P<host>[A-Za-z0-9_.-]+)-(?P<pid>[0-9]+)"
    r"-(?P<start>[0-9]+\.[0-9]+|unknown)-(?P<token>[0-9a-f]{12})",
    re.DOTALL,
)
_NAME_BYTES = 100  # of the destination's name kept in the temporary name (names max 255 bytes)


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname())[:64] or "_"


def owner_tag() -> str:
    """This process as ``<host>-<pid>-<start time>``."""
    started = process_start_time(os.getpid())
    start = "unknown" if started is None else f"{started:.2f}"
    return f"{_host()}-{os.getpid()}-{start}"


def partial_name(name: str, owner: str | None = None) -> str:
    """A temporary name for work on ``name`` by ``owner`` (this process by default)."""
    short = os.fsencode(name)[:_NAME_BYTES].decode("utf-8", "ignore")
    return f".{short}.partial-{owner or owner_tag()}-{uuid.uuid4().hex[:12]}"


def remove_abandoned(folder: Path, what: str = "an export") -> list[Path]:
    """Remove the temporary files and folders that processes killed on this host left in
    ``folder`` (their process is gone, or its pid now belongs to another process). Those of
    running processes, of other hosts and anything else are left alone. Returns what was
    removed; ``what`` names the kind of work in the log."""
    removed: list[Path] = []
    host = _host()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = PARTIAL.fullmatch(entry.name)
        if m is None or m["host"] != host:
            continue
        start = None if m["start"] == "unknown" else float(m["start"])
        if process_alive(int(m["pid"]), start):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            elif entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
            else:
                continue
        except OSError:
            pass
        if os.path.lexists(entry.path):
            log.warning("could not remove %s, left by %s that was killed", entry.path, what)
            continue
        log.info("removed %s, left by %s that was killed (process %s)", entry.path, what, m["pid"])
        removed.append(Path(entry.path))
    return removed


def make_parents(folder: Path) -> list[Path]:
    """Make ``folder`` and its missing parents; returns those made, outermost first, so that
    a run that fails can remove them again (:func:`remove_folders`)."""
    folder = Path(folder)
    missing = []
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    missing.reverse()
    for made, candidate in enumerate(missing):
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            remove_folders(missing[:made])
            raise InvalidInput(f"{candidate}: cannot be made: {exc.strerror or exc}") from exc
    return missing


def remove_folders(folders: Sequence[Path]) -> None:
    """Remove folders made by :func:`make_parents`, innermost first, while they are empty."""
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            return


def check_parents(dest: Path) -> None:
    """The folder of ``dest`` may be missing (it will be made), but nothing on its way may be
    a file."""
    for folder in Path(dest).absolute().parents:
        if folder.exists():
            if not folder.is_dir():
                raise InvalidInput(f"{dest}: {folder} is not a folder")
            return


# ------------------------------------------------------------ writing


def _ordered(bag: Path) -> list[tuple[str, Path, bool]]:
    """(path in the bag, path, is a folder) for every member: the files of a folder by name
    (``bagit.txt`` first at the top), then each of its folders by name followed by its own
    members. Anything but regular files and folders is refused: a bag holds nothing else."""
    out: list[tuple[str, Path, bool]] = []
    stack: list[tuple[str, Path]] = [("", bag)]  # folders still to list, the next one last
    while stack:
        rel, folder = stack.pop()
        if rel:
            out.append((rel, folder, True))
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
        folders = []
        files = []
        for entry in entries:
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISREG(mode):
                files.append((rel + entry.name, Path(entry.path), False))
            elif stat.S_ISDIR(mode):
                folders.append((rel + entry.name + "/", Path(entry.path)))
            else:
                raise InvalidInput(f"{entry.path}: not a regular file or folder; not packed")
        if not rel:
            files.sort(key=lambda f: f[0] != "bagit.txt")
        out.extend(files)
        stack.extend(reversed(folders))
    return out


def _copy(source: Path, out: IO[bytes]) -> str:
    """Stream ``source`` into ``out``; the SHA-256 of what was written."""
    digest = hashlib.sha256()
    with open(source, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _write_zip(
    raw: IO[bytes], bag: Path, name: str, members: list[tuple[str, Path, bool]]
) -> dict[str, str]:
    written: dict[str, str] = {}
    # deflate, zip64 wherever a size needs it (ZipInfo.from_file gives the size up front)
    with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for rel, path, is_dir in [("", bag, True), *members]:
            arcname = f"{name}/{rel}"
            try:
                info = zipfile.ZipInfo.from_file(path, arcname, strict_timestamps=False)
            except UnicodeError:
                raise InvalidInput(
                    f"{path}: the name is not UTF-8 and cannot go in a zip"
                ) from None
            if is_dir:
                info.external_attr = (stat.S_IFDIR | _DIR_MODE) << 16 | 0x10  # MS-DOS folder bit
                zf.writestr(info, b"")
                continue
            info.external_attr = (stat.S_IFREG | _FILE_MODE) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w") as out:
                written[arcname] = _copy(path, out)
    return written


def _tar_info(tf: tarfile.TarFile, path: Path, arcname: str, is_dir: bool) -> tarfile.TarInfo:
    info = tf.gettarinfo(str(path), arcname)
    info.mode = _DIR_MODE if is_dir else _FILE_MODE
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _write_tar(
    raw: IO[bytes],
    bag: Path,
    name: str,
    members: list[tuple[str, Path, bool]],
    archive_name: str,
    gz: bool,
) -> dict[str, str]:
    written: dict[str, str] = {}
    stream: IO[bytes] = raw
    zipped = None
    if gz:
        # the gzip header names the tar inside, not the temporary file being written
        zipped = gzip.GzipFile(filename=archive_name, mode="wb", fileobj=raw, compresslevel=6)
        stream = cast(IO[bytes], zipped)
    try:
        with tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT) as tf:
            for rel, path, is_dir in [("", bag, True), *members]:
                arcname = f"{name}/{rel}".rstrip("/")
                info = _tar_info(tf, path, arcname, is_dir)
                if is_dir:
                    tf.addfile(info)
                    continue
                digest = hashlib.sha256()
                with open(path, "rb") as f:
                    tf.addfile(info, _Hashing(f, digest))
                written[arcname] = digest.hexdigest()
    finally:
        if zipped is not None:
            zipped.close()
    return written


class _Hashing:
    """A file object that hashes what is read from it (tarfile reads members through it)."""

    def __init__(self, f: IO[bytes], digest: hashlib._Hash) -> None:
        self._f = f
        self._digest = digest

    def read(self, size: int = -1) -> bytes:
        data = self._f.read(size)
        self._digest.update(data)
        return data


def _read_back(path: Path, fmt: Format, written: dict[str, str]) -> None:
    """Read the whole archive back: every file written must be there once, with the same bytes
    (SHA-256 of what was packed), and nothing else."""
    found: dict[str, str] = {}

    def take(arcname: str, f: IO[bytes]) -> None:
        digest = hashlib.sha256()
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
        if arcname in found:
            raise StorageError(f"{path}: reading it back, {arcname} is in it twice")
        found[arcname] = digest.hexdigest()

    try:
        if fmt == "zip":
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist():
                    if not info.is_dir():
                        with zf.open(info) as f:
                            take(info.filename, f)
        else:
            with tarfile.open(path, "r:gz" if fmt == "tar.gz" else "r:") as tf:
                for member in tf:
                    if member.isfile():
                        extracted = tf.extractfile(member)
                        assert extracted is not None
                        with extracted:
                            take(member.name, extracted)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, gzip.BadGzipFile) as exc:
        raise StorageError(f"{path}: the archive just written cannot be read back: {exc}") from exc
    if found != written:
        missing = sorted(set(written) - set(found))
        differ = sorted(k for k in written.keys() & found.keys() if written[k] != found[k])
        extra = sorted(set(found) - set(written))
        detail = "; ".join(
            f"{label}: {', '.join(items[:5])}"
            for label, items in (("missing", missing), ("different", differ), ("extra", extra))
            if items
        )
        raise StorageError(
            f"{path}: the archive just written does not read back as packed ({detail})"
        )


def _publish(partial: Path, dest: Path) -> None:
    """Give the finished archive its final name, which must still be free (a hard link fails if
    something took the name meanwhile; where links are not supported, check then rename)."""
    try:
        os.link(partial, dest)
    except FileExistsError:
        raise InvalidInput(f"{dest}: already exists (created by someone else meanwhile)") from None
    except OSError as exc:
        if exc.errno not in (
            errno.EPERM,
            errno.ENOTSUP,
            errno.EOPNOTSUPP,
            errno.EXDEV,
            errno.EMLINK,
        ):
            raise
        if os.path.lexists(dest):
            raise InvalidInput(
                f"{dest}: already exists (created by someone else meanwhile)"
            ) from None
        os.rename(partial, dest)
        return
    os.unlink(partial)


def serialise_bag(bag: Path, dest: Path, fmt: Format, *, name: str | None = None) -> SerialisedBag:
    """Pack the bag folder ``bag`` into a new archive ``dest`` (zip, tar or tar.gz) whose one
    top-level folder is ``name`` (default: the bag's name taken from ``dest``). ``dest`` must
    not exist. The archive is read back before it gets its name; on any failure (Ctrl-C too)
    the temporary file is removed and ``dest`` is left as it was."""
    if fmt == "folder":
        raise ValueError("a folder is not an archive format")
    bag, dest = Path(bag), Path(dest)
    name = name or bag_name(dest, fmt)
    if os.path.lexists(dest):
        raise InvalidInput(f"{dest}: already exists")
    parent = dest.absolute().parent
    if not parent.is_dir():
        raise InvalidInput(f"{dest.parent}: no such folder")
    members = _ordered(bag)
    if not members or members[0][0] != "bagit.txt":
        raise InvalidInput(f"{bag}: not a bag (no bagit.txt)")
    partial = parent / partial_name(dest.name)
    try:
        with open(partial, "xb") as raw:
            if fmt == "zip":
                written = _write_zip(raw, bag, name, members)
            else:
                inner = (
                    dest.name[: -len(".gz")] if dest.name.lower().endswith(".gz") else name + ".tar"
                )
                written = _write_tar(raw, bag, name, members, inner, gz=fmt == "tar.gz")
            raw.flush()
            os.fsync(raw.fileno())
        _read_back(partial, fmt, written)
        size = partial.stat().st_size
        _publish(partial, dest)
    except BaseException as exc:
        with critical():
            partial.unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, FileExistsError):
            if exc.errno in NO_SPACE:
                raise StorageFull(f"{dest}: no space left writing the archive") from exc
            raise StorageError(
                f"{dest}: the archive cannot be written: {exc.strerror or exc}"
            ) from exc
        raise
    log.info(
        "%s written: %s of bag %s, %s, %s",
        dest,
        fmt,
        name,
        plural(len(written), "file"),
        plural(size, "byte"),
    )
    return SerialisedBag(dest, fmt, name, size, len(written))


def make_bag_file(
    src: Path,
    dest: Path,
    fmt: Format,
    *,
    algorithms: Sequence[str],
    bag_info: Sequence[tuple[str, str]] = (),
    add_sha512: bool = True,
    tag_files: Sequence[tuple[str, Path]] = (),
) -> tuple[BagSummary, SerialisedBag]:
    """Copy the folder ``src`` into a new bag and pack it as ``dest``; returns the bag's
    :class:`~preserve.bagit.writer.BagSummary` (its path is the folder it was made in, now
    gone) and the archive. The bag is made in a temporary folder next to ``dest``; missing
    parent folders of ``dest`` are made (and removed again on failure). ``add_sha512`` and
    ``tag_files`` are as :func:`~preserve.bagit.writer.make_bag` takes them."""
    src, dest = Path(src), Path(dest)
    name = bag_name(dest, fmt)
    if not src.is_dir():
        raise InvalidInput(f"{src}: no such folder")
    if os.path.lexists(dest):
        raise InvalidInput(f"{dest}: already exists")
    check_parents(dest)
    parent = dest.absolute().parent
    src_real = os.path.realpath(src)
    if os.path.commonpath([src_real, os.path.realpath(parent)]) == src_real:
        raise InvalidInput(f"{dest}: the bag cannot be inside the folder it copies")
    created = make_parents(parent)
    work = parent / partial_name(dest.name)
    try:
        remove_abandoned(parent, "a bag make")
        summary = make_bag(
            src,
            work / name,
            algorithms=algorithms,
            bag_info=bag_info,
            add_sha512=add_sha512,
            tag_files=tag_files,
        )
        archive = serialise_bag(work / name, dest, fmt, name=name)
    except BaseException:
        with critical():
            shutil.rmtree(work, ignore_errors=True)
            remove_folders(created)
        raise
    with critical():
        shutil.rmtree(work, ignore_errors=True)
    return summary, archive


# ------------------------------------------------------------ reading


@dataclass(frozen=True)
class ArchivedBagReport:
    """The verdict on a bag received as one file (:func:`validate_bag_file`)."""

    #: paths of problems as members of the archive (``glasplaten/data/a.tif``)
    report: ValidationReport
    #: "zip" or "tar" (plain or compressed)
    kind: str
    #: the archive's top-level folder holding the bag; "" when the bag is at its top
    name: str


_ARCHIVE_HEADS = (b"PK\x03\x04", b"PK\x05\x06", b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")
#: left by macOS's Finder when it makes a zip: never part of a bag
_MACOS_FOLDER = "__MACOSX"


def _looks_like_archive(path: Path) -> bool:
    """Whether a file that cannot be read as an archive was meant to be one (its name or its
    first bytes say so): then it is damaged, not something else."""
    if _suffix(path.name) is not None:
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return False
    return head.startswith(_ARCHIVE_HEADS)


def _bag_root(archive: Path, unpacked: Path) -> tuple[Path, str, list[Problem]]:
    """The folder of ``unpacked`` that is the bag, its name in the archive, and warnings about
    what lies beside it. A serialised bag holds one top-level folder (RFC 8493 §4.3, BagIt
    profiles, bagit-python, DART); a bag at the archive's top is accepted with a warning."""
    entries = sorted(unpacked.iterdir(), key=lambda p: p.name)
    warnings = [
        Problem(
            "archive-extra",
            e.name + "/",
            "folder made by macOS when zipping; not part of the bag, ignored",
            "warning",
        )
        for e in entries
        if e.name == _MACOS_FOLDER and e.is_dir()
    ]
    entries = [e for e in entries if not (e.name == _MACOS_FOLDER and e.is_dir())]
    if (unpacked / "bagit.txt").is_file():
        warnings.append(
            Problem(
                "archive-no-folder",
                "",
                "the bag is at the top of the archive, not in one folder named after it as "
                "bagit-python, BDBag and DART expect",
                "warning",
            )
        )
        return unpacked, "", warnings
    folders = [e for e in entries if e.is_dir() and not e.is_symlink()]
    if not entries:
        raise InvalidInput(f"{archive}: the archive is empty: no bag in it")
    if len(folders) != 1:
        shown = ", ".join(f.name for f in folders[:5]) + (", ..." if len(folders) > 5 else "")
        raise InvalidInput(
            f"{archive}: not one bag: a zip or tar of a bag holds one folder (with bagit.txt) "
            + (
                f"but this one holds {len(folders)} ({shown})"
                if folders
                else "but this one holds no folder"
            )
        )
    bag = folders[0]
    if not (bag / "bagit.txt").is_file():
        raise InvalidInput(f"{archive}: not a bag: its folder {bag.name}/ has no bagit.txt")
    warnings.extend(
        Problem("archive-extra", e.name, "beside the bag's folder: not part of the bag", "warning")
        for e in entries
        if e != bag
    )
    return bag, bag.name, warnings


def _in_archive(problem: Problem, name: str) -> Problem:
    if not name:
        return problem
    return dataclasses.replace(problem, path=f"{name}/{problem.path}" if problem.path else name)


def validate_bag_file(
    archive: Path,
    *,
    max_total_bytes: int,
    max_ratio: int,
    completeness_only: bool = False,
    processes: int = 1,
    work_folder: Path | None = None,
    also: Callable[[Path], Sequence[Problem]] | None = None,
) -> ArchivedBagReport:
    """Validate the bag inside the zip or tar ``archive`` (judged by content, as ingest does):
    it is unpacked safely (:func:`preserve.archives.unpack`, with ingest's limits) into a
    temporary folder under ``work_folder`` (the system's temporary folder by default), which is
    removed afterwards, also on Ctrl-C or SIGTERM; one left by a killed run is removed by the
    next. Problems name the files as members of the archive; the report's path is the archive.

    ``also`` checks the unpacked bag further (its folder is given); its problems are errors.

    Raises :class:`InvalidInput` for a file that is not an archive ("not a bag folder or a
    zip/tar archive of one"), a damaged or unsafe archive, or one that does not hold one bag.
    """
    from preserve import archives

    archive = Path(archive)
    kind, unreadable = archives.examine(archive)
    if unreadable:
        claimed = archives.claimed_kind(archive) or kind or "zip or tar"
        raise archives.unreadable(archive, claimed, unreadable)
    if kind is None:
        if _looks_like_archive(archive):
            raise archives.unreadable(archive, "zip or tar", "it cannot be read as one")
        raise InvalidInput(f"{archive}: not a bag folder or a zip/tar archive of one")
    folder = Path(work_folder) if work_folder is not None else Path(tempfile.gettempdir())
    remove_abandoned(folder, "a bag validate")
    work = folder / partial_name(archive.name)
    try:
        unpacked = work / "unpacked"
        try:
            work.mkdir(mode=0o700)
        except OSError as exc:
            raise InvalidInput(
                f"{archive}: cannot unpack it under {folder}: {exc.strerror or exc}"
            ) from exc
        notes = archives.unpack(
            archive, unpacked, max_total_bytes=max_total_bytes, max_ratio=max_ratio
        )
        # the validator warns about empty payload folders itself
        notes = [n for n in notes if n.code != "empty-directory"]
        root, name, beside = _bag_root(archive, unpacked)
        report = validate_bag(root, completeness_only=completeness_only, processes=processes)
        if also is not None:  # more checks of the unpacked bag (a BagIt profile's): errors
            report = dataclasses.replace(report, errors=(*report.errors, *also(root)))
    finally:
        with critical():
            shutil.rmtree(work, ignore_errors=True)
    report = dataclasses.replace(
        report,
        path=str(archive),
        errors=tuple(_in_archive(p, name) for p in report.errors),
        warnings=(*notes, *beside, *(_in_archive(p, name) for p in report.warnings)),
    )
    return ArchivedBagReport(report, kind, name)
