"""Writing BagIt 1.0 bags into a new folder, never in place (RFC 8493).

:class:`BagWriter` assembles a bag file by file: the caller (ingest) writes each payload file at
:meth:`BagWriter.payload_path` while hashing it, then records it with
:meth:`BagWriter.add_payload_entry`. Manifest lines are spooled to a temporary file and sorted
externally at :meth:`BagWriter.finish`, so memory holds only the names the collision checks need,
even for hundreds of thousands of files. :func:`make_bag` copies a folder into a new bag.

What is written: ``bagit.txt`` (1.0, UTF-8), one payload manifest per algorithm (sha512 always
included unless the caller says ``add_sha512=False``: an AIP always has it, a bag made to send
elsewhere has exactly the manifests asked for), ``bag-info.txt`` with Bagging-Date,
Payload-Oxum, Bag-Size and Bag-Software-Agent followed by the caller's elements, and one tag
manifest per tag algorithm listing every other tag file. Paths encode ``%``, CR and LF.
"""

from __future__ import annotations

import heapq
import logging
import os
import re
import shutil
import stat
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import IO, BinaryIO

from preserve import SOFTWARE_AGENT
from preserve.bagit.manifest import MANIFEST_NAME, TAGMANIFEST_NAME, manifest_line
from preserve.bagit.paths import NameIndex, encode_manifest_path, printable, unsafe_reason
from preserve.bagit.taginfo import check_label, format_bag_info, format_bagit_txt, human_size
from preserve.checksums import (
    CHUNK_SIZE,
    MultiHasher,
    bagit_token,
    hash_file,
    is_supported,
    new_hasher,
)
from preserve.errors import InvalidInput, NameCollision, StorageError, StorageFull, UnsafePath
from preserve.fsio import NO_SPACE
from preserve.text import plural
from preserve.values import Problem

__all__ = ["BagSummary", "BagWriter", "make_bag", "tag_file_problem"]

log = logging.getLogger(__name__)

DEFAULT_ALGORITHMS: tuple[str, ...] = ("sha512", "sha256")
_RECOMPUTED = ("bagging-date", "payload-oxum", "bag-size")
_RESERVED_TAG_FILES = frozenset({"bagit.txt", "bag-info.txt", "fetch.txt", "package-info.txt"})
_SPOOL = ".preserve-spool"


@dataclass(frozen=True)
class BagSummary:
    """What :meth:`BagWriter.finish` wrote. ``bag_info`` holds the elements in file order, with the
    values as given (line breaks as LF; folding of long lines is not shown)."""

    path: Path
    payload_files: int
    payload_bytes: int
    algorithms: tuple[str, ...]
    bag_info: tuple[tuple[str, str], ...]
    tag_files: tuple[str, ...]
    warnings: tuple[Problem, ...] = ()


def _today() -> str:
    """Bagging-Date: the UTC date (a function, so tests can pin it)."""
    return datetime.now(UTC).date().isoformat()


def _algorithms(names: Sequence[str], *, add_sha512: bool) -> tuple[str, ...]:
    if isinstance(names, str):
        names = (names,)
    tokens = [bagit_token(n) for n in names]
    if add_sha512 and "sha512" not in tokens:
        tokens.insert(0, "sha512")
    for alg in tokens:
        # crc64nvme is a transport check (S3), never a fixity reference
        if not alg or not is_supported(alg) or alg == "crc64nvme":
            raise ValueError(f"unsupported manifest algorithm: {alg!r}")
    return tuple(dict.fromkeys(tokens))


def tag_file_problem(relpath: str) -> str | None:
    """Why ``relpath`` cannot be the path of a tag file a caller adds, or None: it must be a
    safe relative path (as payload paths are), outside ``data/``, and not a file the writer
    makes itself (bagit.txt, bag-info.txt, fetch.txt, package-info.txt, the manifests)."""
    reason = unsafe_reason(relpath)
    if reason is not None:
        return reason
    lower = relpath.casefold()
    top = lower.split("/", 1)[0]
    if top == "data":
        return "tag files cannot be in the payload folder data/"
    if top == _SPOOL:
        return "reserved for the writer's temporary files"
    if (
        lower in _RESERVED_TAG_FILES
        or MANIFEST_NAME.fullmatch(lower)
        or TAGMANIFEST_NAME.fullmatch(lower)
    ):
        return "reserved BagIt file name; the writer makes it itself"
    return None


def _drop_spool(spool: IO[str], folder: str) -> None:
    spool.close()
    shutil.rmtree(folder, ignore_errors=True)


def _record_key(record: str) -> str:
    return record.split("\0", 1)[0]


class BagWriter:
    """Assembles a BagIt 1.0 bag at ``dest`` (must not exist, or be an empty dir). Never in place.

    ``payload_path`` may be called from several threads; the other methods from one thread.
    A SHA-512 payload manifest is added to ``algorithms`` (preserve's rule for its AIPs) unless
    ``add_sha512`` is False.
    """

    _SORT_RUN = 100_000  # manifest records sorted in memory at a time

    def __init__(
        self,
        dest: Path,
        algorithms: Sequence[str] = DEFAULT_ALGORITHMS,
        *,
        tag_algorithms: Sequence[str] | None = None,
        add_sha512: bool = True,
    ) -> None:
        self.path = Path(dest)
        self.algorithms = _algorithms(algorithms, add_sha512=add_sha512)
        if not self.algorithms:
            raise ValueError("a bag needs at least one manifest algorithm")
        self.tag_algorithms = (
            self.algorithms
            if tag_algorithms is None
            else _algorithms(tag_algorithms, add_sha512=False)
        )
        self._hex_length = {a: len(new_hasher(a).hexdigest()) for a in self.algorithms}
        self.warnings: list[Problem] = []
        self._lock = threading.Lock()
        self._names = NameIndex(prefix="data/")
        self._tag_files: list[str] = []
        self._tag_folded: set[str] = set()
        self._count = 0
        self._bytes = 0
        #: fetch.txt lines (url, size, relpath), and the entries of files absent from data/
        self._fetch: list[tuple[str, int, str]] = []
        self._absent = 0
        self._absent_bytes = 0
        self._finished = False

        if self.path.is_symlink() or (self.path.exists() and not self.path.is_dir()):
            raise InvalidInput(f"{self.path}: exists and is not a folder")
        if self.path.exists():
            if any(self.path.iterdir()):
                raise InvalidInput(
                    f"{self.path}: already exists and is not empty (bags are never made in place)"
                )
        else:
            try:
                self.path.mkdir(parents=True)
            except FileExistsError:
                raise InvalidInput(f"{self.path}: created by someone else meanwhile") from None
        self.data_dir.mkdir()
        self._data = str(self.data_dir)
        self._folders: set[str] = {""}  # folders under data/ known to exist
        # the spool lives and dies with the bag being assembled (removed with a failed dest or an
        # ingest staging folder), and is gone before the tag manifests are written
        self._spool_dir = str(self.path / _SPOOL)
        os.mkdir(self._spool_dir, 0o700)
        self._spool: IO[str] = open(  # noqa: SIM115 - closed in finish() / close() / finalizer
            os.path.join(self._spool_dir, "entries"), "w", encoding="utf-8", newline="\n"
        )
        self._cleanup = weakref.finalize(self, _drop_spool, self._spool, self._spool_dir)

    @property
    def data_dir(self) -> Path:
        return self.path / "data"

    # ------------------------------------------------------------------ payload

    def _check_open(self) -> None:
        if self._finished:
            raise RuntimeError(f"{self.path}: the bag is already finished")

    @staticmethod
    def _check_relpath(relpath: str) -> None:
        # checked as the bag-relative path: "~$draft.docx" or "C:x" are fine names under data/
        reason = unsafe_reason(f"data/{relpath}") if isinstance(relpath, str) else "not a str"
        if reason is not None:
            raise UnsafePath(f"payload path '{printable(str(relpath))}': {reason}")

    def payload_path(self, relpath: str) -> Path:
        """Where the payload file ``relpath`` (relative to data/) goes; creates its folders.

        The caller writes the bytes there, then calls :meth:`add_payload_entry`.
        """
        self._check_open()
        self._check_relpath(relpath)
        with self._lock:
            collision = self._names.collision(relpath)
        if collision is not None:
            raise NameCollision(collision.message)
        return Path(self._target(relpath))

    def payload_file(self, relpath: str) -> str:
        """:meth:`payload_path` as a plain string, for callers that stage many files. The name
        is checked for collisions when it is recorded (:meth:`add_payload_entry`): the caller
        creates the file exclusively (``O_EXCL``), so nothing is overwritten meanwhile."""
        self._check_open()
        self._check_relpath(relpath)
        return self._target(relpath)

    def _target(self, relpath: str) -> str:
        """The file's path under data/; its folders are created once per folder."""
        folder, _, _name = relpath.rpartition("/")
        target = os.path.join(self._data, *relpath.split("/"))
        if folder not in self._folders:
            try:
                os.makedirs(os.path.dirname(target), exist_ok=True)
            except (FileExistsError, NotADirectoryError):
                raise InvalidInput(
                    f"data/{printable(relpath)}: a file is in the way of its folder"
                ) from None
            with self._lock:
                self._folders.add(folder)
        return target

    def add_payload_entry(self, relpath: str, size: int, digests: Mapping[str, str]) -> None:
        """Record a payload file written at ``payload_path(relpath)``: its size and a digest for
        every algorithm of this writer (others are ignored)."""
        self._check_open()
        self._check_relpath(relpath)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(
                f"data/{printable(relpath)}: size must be a non-negative int, not {size!r}"
            )
        given = {bagit_token(alg): value for alg, value in digests.items()}
        missing = [a for a in self.algorithms if a not in given]
        if missing:
            raise ValueError(f"data/{printable(relpath)}: no {', '.join(missing)} digest given")
        hexes = []
        for alg in self.algorithms:
            value = str(given[alg]).lower()
            if not re.fullmatch(f"[0-9a-f]{{{self._hex_length[alg]}}}", value):
                raise ValueError(f"data/{printable(relpath)}: {value!r} is not a {alg} hex digest")
            hexes.append(value)
        with self._lock:
            error, warnings = self._names.add(relpath)
            if error is not None:
                raise NameCollision(error.message)
            self.warnings.extend(warnings)
            self._spool.write("\0".join((encode_manifest_path(relpath), *hexes)) + "\n")
            self._count += 1
            self._bytes += size

    def add_fetch_entry(
        self, relpath: str, size: int, digests: Mapping[str, str], url: str, *, present: bool
    ) -> None:
        """List ``data/relpath`` in ``fetch.txt`` as held at ``url`` (an absolute URL). A file
        not ``present`` in data/ gets its manifest entry here; a present one (staged, and
        recorded with :meth:`add_payload_entry`) only its fetch line."""
        self._check_open()
        self._check_relpath(relpath)
        if not re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", url) or any(c in url for c in " \t\r\n"):
            raise ValueError(f"fetch URL {url!r}: not an absolute URL without spaces")
        if not present:
            self.add_payload_entry(relpath, size, digests)
            with self._lock:
                self._absent += 1
                self._absent_bytes += size
        self._fetch.append((url, size, relpath))

    def add_payload_file(self, relpath: str, source: Path) -> tuple[int, dict[str, str]]:
        """Copy ``source`` to ``payload_path(relpath)`` while hashing it (one read); returns
        (size, digests) and records the entry."""
        target = self.payload_path(relpath)
        hasher = MultiHasher(self.algorithms)
        buf = bytearray(CHUNK_SIZE)
        view = memoryview(buf)
        try:
            fin = open(source, "rb", buffering=0)  # noqa: SIM115 - closed below
        except OSError as exc:
            raise InvalidInput(f"{source}: cannot be read: {exc.strerror or exc}") from exc
        with fin:
            st = os.fstat(fin.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise InvalidInput(f"{source}: not a regular file")
            try:
                fout = open(target, "xb", buffering=0)  # noqa: SIM115 - closed below
            except FileExistsError:
                raise InvalidInput(f"data/{printable(relpath)}: already written") from None
            with fout:
                while True:
                    try:
                        n = fin.readinto(buf)
                    except OSError as exc:
                        raise InvalidInput(
                            f"{source}: cannot be read: {exc.strerror or exc}"
                        ) from exc
                    if not n:
                        break
                    hasher.update(view[:n])
                    try:
                        fout.write(view[:n])
                    except OSError as exc:
                        if exc.errno in NO_SPACE:
                            raise StorageFull(
                                f"{self.path}: no space left writing {source}"
                            ) from exc
                        raise StorageError(
                            f"{target}: cannot be written: {exc.strerror or exc}"
                        ) from exc
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
        digests = hasher.hexdigests()
        self.add_payload_entry(relpath, hasher.size, digests)
        return hasher.size, digests

    # ------------------------------------------------------------------ tag files

    def add_tag_file(self, relpath: str, content: bytes) -> None:
        """Write a tag file such as ``metadata/premis.xml``; it is listed in the tag manifests."""
        if not isinstance(content, bytes | bytearray | memoryview):
            raise TypeError("tag file content must be bytes")
        with self.open_tag_file(relpath) as f:
            f.write(content)

    @contextmanager
    def open_tag_file(self, relpath: str) -> Iterator[BinaryIO]:
        """Stream a tag file too large to hold in memory; listed in the tag manifests once the
        block completes (a failure removes the partial file)."""
        self._check_open()
        reason = unsafe_reason(relpath)
        if reason is not None:
            raise UnsafePath(f"tag file path '{printable(relpath)}': {reason}")
        reason = tag_file_problem(relpath)
        if reason is not None:
            raise ValueError(f"{relpath}: {reason}")
        lower = relpath.casefold()
        if lower in self._tag_folded:
            raise ValueError(f"{relpath}: tag file added twice")
        target = self.path.joinpath(*relpath.split("/"))
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            f = open(target, "xb")  # noqa: SIM115 - closed below
        except (FileExistsError, NotADirectoryError):
            raise InvalidInput(f"{relpath}: something is already in the way in the bag") from None
        try:
            with f:
                yield f
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        self._tag_folded.add(lower)
        self._tag_files.append(relpath)

    # ------------------------------------------------------------------ finishing

    def _check_payload_tree(self) -> None:
        """Everything under data/ must be a recorded regular file: no more, no less."""
        found = 0
        total = 0
        strays: list[str] = []
        stack = [(str(self.data_dir), "")]
        while stack:
            folder, rel = stack.pop()
            with os.scandir(folder) as it:
                entries = list(it)
            if not entries and rel:
                self.warnings.append(
                    Problem(
                        "empty-directory",
                        f"data/{rel[:-1]}",
                        "empty folder: BagIt cannot record it, validators will not see it",
                        "warning",
                    )
                )
            for entry in entries:
                relpath = rel + entry.name
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    stack.append((entry.path, relpath + "/"))
                elif stat.S_ISREG(st.st_mode) and relpath in self._names:
                    found += 1
                    total += st.st_size
                else:
                    strays.append(relpath)
        if strays:
            listed = ", ".join(f"data/{printable(s)}" for s in sorted(strays)[:10])
            raise InvalidInput(
                f"{self.path}: {len(strays)} item(s) in data/ were never added as payload entries "
                f"(or are not regular files): {listed}"
            )
        if found != self._count - self._absent or total != self._bytes - self._absent_bytes:
            raise InvalidInput(
                f"{self.path}: the entries added ({self._count} files, {self._bytes} bytes) do "
                f"not match data/ ({found} files, {total} bytes): a file is missing or its size "
                "is wrong"
            )

    def _sorted_records(self) -> Iterator[str]:
        """The spooled records sorted by manifest path: runs sorted in memory, then merged."""
        self._spool.close()
        runs: list[str] = []
        with open(os.path.join(self._spool_dir, "entries"), encoding="utf-8", newline="\n") as f:
            while chunk := list(islice(f, self._SORT_RUN)):
                chunk.sort(key=_record_key)
                if not runs and len(chunk) < self._SORT_RUN:
                    yield from chunk
                    return
                run = os.path.join(self._spool_dir, f"run{len(runs)}")
                with open(run, "w", encoding="utf-8", newline="\n") as out:
                    out.writelines(chunk)
                runs.append(run)
        files = [open(r, encoding="utf-8", newline="\n") for r in runs]  # noqa: SIM115
        try:
            yield from heapq.merge(*files, key=_record_key)
        finally:
            for f in files:
                f.close()

    def _write_text(self, name: str, text: str) -> None:
        with open(self.path / name, "x", encoding="utf-8", newline="\n") as f:
            f.write(text)

    def finish(self, bag_info: Sequence[tuple[str, str]] = ()) -> BagSummary:
        """Write bagit.txt, the manifests, bag-info.txt and the tag manifests; returns a summary.

        ``bag-info.txt`` starts with what the writer computes: Bagging-Date, Payload-Oxum and
        Bag-Size (given values for these are dropped) and Bag-Software-Agent (unless given); the
        ``bag_info`` elements follow in the order given (repeats allowed).
        """
        self._check_open()
        given: list[tuple[str, str]] = []
        for label, value in bag_info:
            check_label(label)
            if label.lower() not in _RECOMPUTED:
                given.append((label, str(value).replace("\r\n", "\n").replace("\r", "\n")))
        info = [
            ("Bagging-Date", _today()),
            ("Payload-Oxum", f"{self._bytes}.{self._count}"),
            ("Bag-Size", human_size(self._bytes)),
        ]
        if not any(label.lower() == "bag-software-agent" for label, _ in given):
            info.append(("Bag-Software-Agent", SOFTWARE_AGENT))
        info += given
        bag_info_text = format_bag_info(info)
        self._finished = True
        try:
            self._check_payload_tree()
            self._write_text("bagit.txt", format_bagit_txt())
            manifests = [f"manifest-{alg}.txt" for alg in self.algorithms]
            outs = [open(self.path / m, "x", encoding="utf-8", newline="\n") for m in manifests]  # noqa: SIM115
            try:
                for record in self._sorted_records():
                    path, *hexes = record.rstrip("\n").split("\0")
                    for out, digest in zip(outs, hexes, strict=True):
                        out.write(f"{digest}  data/{path}\n")
            finally:
                for out in outs:
                    out.close()
                self._cleanup()  # the spool is not part of the bag
            self._write_text("bag-info.txt", bag_info_text)
            tag_files = ["bagit.txt", "bag-info.txt", *manifests, *self._tag_files]
            if self._fetch:
                self._write_text(
                    "fetch.txt",
                    "".join(
                        f"{url} {size} data/{encode_manifest_path(relpath)}\n"
                        for url, size, relpath in sorted(self._fetch, key=lambda e: e[2])
                    ),
                )
                tag_files.append("fetch.txt")
            tagmanifests = [f"tagmanifest-{alg}.txt" for alg in self.tag_algorithms]
            if tagmanifests:
                lines: dict[str, list[str]] = {alg: [] for alg in self.tag_algorithms}
                for name in sorted(tag_files):
                    _, digests = hash_file(
                        self.path.joinpath(*name.split("/")), self.tag_algorithms
                    )
                    for alg in self.tag_algorithms:
                        lines[alg].append(manifest_line(digests[alg], name))
                for alg, name in zip(self.tag_algorithms, tagmanifests, strict=True):
                    self._write_text(name, "".join(lines[alg]))
        finally:
            self.close()
        log.info(
            "bag %s written: %s, %s",
            self.path,
            plural(self._count, "payload file"),
            plural(self._bytes, "byte"),
        )
        return BagSummary(
            path=self.path,
            payload_files=self._count,
            payload_bytes=self._bytes,
            algorithms=self.algorithms,
            bag_info=tuple(info),
            tag_files=tuple(sorted([*tag_files, *tagmanifests])),
            warnings=tuple(self.warnings),
        )

    def close(self) -> None:
        """Drop the manifest spool (finish() does this; call it when abandoning a bag)."""
        self._finished = True
        self._cleanup()

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _within(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:
        return False


def make_bag(
    src: Path,
    dest: Path,
    *,
    algorithms: Sequence[str] = DEFAULT_ALGORITHMS,
    bag_info: Sequence[tuple[str, str]] = (),
    add_sha512: bool = True,
    tag_files: Sequence[tuple[str, Path]] = (),
) -> BagSummary:
    """Copy the folder ``src`` into a new bag at ``dest``; ``src`` is never changed.

    ``algorithms`` are the payload and tag manifests, with SHA-512 added unless ``add_sha512``
    is False. ``tag_files`` are (path in the bag, file to copy) pairs, such as
    ``("aptrust-info.txt", Path("info.txt"))``, listed in the tag manifests; a path
    :func:`tag_file_problem` refuses, or a file that cannot be read, is an
    :class:`~preserve.errors.InvalidInput` and nothing is made.

    Symbolic links are not followed (warning ``symlink-skipped``), nor are other special files
    (``special-file-skipped``); folders left empty are warned about (``empty-directory``). If
    anything fails, ``dest`` is removed (or emptied again if it was an empty folder before).
    """
    src, dest = Path(src), Path(dest)
    if not src.is_dir():
        raise InvalidInput(f"{src}: no such folder")
    src_real, dest_real = os.path.realpath(src), os.path.realpath(dest)
    if _within(dest_real, src_real) or _within(src_real, dest_real):
        raise InvalidInput(f"{dest}: the bag cannot be inside the folder it copies, nor around it")
    named: set[str] = set()
    for name, path in tag_files:
        reason = tag_file_problem(name)
        if reason is None and name.casefold() in named:
            reason = "given twice"
        if reason is not None:
            raise InvalidInput(f"tag file {printable(name)}: {reason}")
        named.add(name.casefold())
        if not Path(path).is_file():
            raise InvalidInput(f"{path}: no such file (for tag file {printable(name)})")
    existed = dest.exists()
    writer = BagWriter(dest, algorithms, add_sha512=add_sha512)
    skipped: list[Problem] = []

    def copy_tree(folder: str, rel: str) -> bool:
        """Copy one folder; True if anything was copied beneath it."""
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
        copied = False
        for entry in entries:
            relpath = rel + entry.name
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                skipped.append(
                    Problem(
                        "symlink-skipped",
                        f"data/{relpath}",
                        "symbolic link not followed, left out",
                        "warning",
                    )
                )
            elif stat.S_ISDIR(st.st_mode):
                if copy_tree(entry.path, relpath + "/"):
                    copied = True
                else:
                    skipped.append(
                        Problem(
                            "empty-directory",
                            f"data/{relpath}",
                            "folder with no files left out: BagIt cannot record empty folders",
                            "warning",
                        )
                    )
            elif stat.S_ISREG(st.st_mode):
                writer.add_payload_file(relpath, Path(entry.path))
                copied = True
            else:
                skipped.append(
                    Problem(
                        "special-file-skipped",
                        f"data/{relpath}",
                        "not a regular file, left out",
                        "warning",
                    )
                )
        return copied

    try:
        copy_tree(str(src), "")
        for name, path in tag_files:
            try:
                source = open(path, "rb")  # noqa: SIM115 - closed below
            except OSError as exc:
                raise InvalidInput(
                    f"{path}: cannot be read: {exc.strerror or exc} (for tag file "
                    f"{printable(name)})"
                ) from None
            with source, writer.open_tag_file(name) as target:
                shutil.copyfileobj(source, target, CHUNK_SIZE)
        summary = writer.finish(bag_info)
    except BaseException:
        writer.close()
        if existed:
            for child in dest.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        else:
            shutil.rmtree(dest, ignore_errors=True)
        raise
    for problem in skipped:
        log.warning("%s: %s", problem.path, problem.message)
    return replace(summary, warnings=(*skipped, *summary.warnings))
