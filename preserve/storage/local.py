"""A storage location on a local or mounted filesystem (``file:///abs/path``).

Writes are atomic and durable: the bytes go to ``<root>/.preserve-tmp/<owner>/<uuid>``, are
fsynced, dropped from the page cache and read back, and only a verified copy is renamed into place
(followed by an fsync of its directory). Readers therefore never see a partial object, and an
interrupted write leaves at most a temporary file, which :meth:`iter_keys` never lists. The
``<owner>`` folder names the writing process (pid, start time, host), so that
:meth:`LocalStorage.remove_abandoned` can tell what a killed process left behind from what a live
one is still writing.

Every key is resolved under the root and refused when it would leave it or pass through a
symbolic link.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import re
import shutil
import socket
import stat as statmod
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, NoReturn, cast
from urllib.parse import unquote_to_bytes, urlsplit

from preserve.checksums import MultiHasher, chunk_buffer, digest_bytes, new_hasher
from preserve.errors import (
    ConfigError,
    ObjectNotFound,
    PreserveError,
    StorageError,
    StorageFull,
    StorageUnavailable,
    UnsafePath,
    VerificationFailed,
)
from preserve.fsio import NO_SPACE, drop_cache, prefetch, read_sequentially, syncfs
from preserve.processes import process_alive, process_start_time
from preserve.storage.base import (
    REREAD_ALGORITHM,
    ObjectLockUnsupported,
    ObjectReader,
    ObjectRetention,
    PutItem,
    check_digests,
    moved_object_problem,
    put_algorithms,
)
from preserve.storage.keys import validate_key, validate_prefix
from preserve.text import plural
from preserve.values import ObjectStat, StoredObject

log = logging.getLogger(__name__)

LARGE_AVERAGE = 1 << 20  # batches of files this large on average use two threads
VERIFY_THREADS = 8  # reads in flight while small copies are read back from the device
SMALL_READ = 1 << 20  # copies up to this size are read back in one call
TMP_DIR = ".preserve-tmp"  # inside the root, so a rename into place never crosses filesystems
#: A temporary folder of another host (a location shared over NFS) is abandoned after this long.
ABANDONED_AFTER_SECONDS = 24 * 3600
_OWNER_DIR = re.compile(r"^(\d+)-(\d+)@(.+)$")  # <pid>-<start, whole seconds>@<host>

HASH_LARGE = 1 << 20  # objects this large are hashed one per thread, in HASH_CHUNK reads
HASH_CHUNK = 1 << 20  # small enough to be hashed while it is still in the CPU's cache
HASH_BATCH = 128  # smaller objects per thread task
#: ``hash_objects`` requests (key, expected size, algorithms) and results (key, size, digests,
#: or the error that kept the object from being read)
HashRequest = tuple[str, int, tuple[str, ...]]
HashResult = tuple[str, int, "dict[str, str] | None", "PreserveError | None"]
_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO put in an object's place must not hang the check (no effect on files)
_OBJECT_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_hash_local = threading.local()


def _hash_buffer() -> bytearray:
    """This thread's HASH_CHUNK read buffer (allocated once per thread)."""
    buf = getattr(_hash_local, "buf", None)
    if buf is None:
        buf = _hash_local.buf = bytearray(HASH_CHUNK)
    return buf


@functools.lru_cache(maxsize=64)
def _hasher_factories(algorithms: tuple[str, ...]) -> tuple[Callable[[], Any], ...]:
    """A fast constructor of an empty hasher per algorithm (``copy`` of a fresh one)."""
    factories: list[Callable[[], Any]] = []
    for algorithm in algorithms:
        empty = new_hasher(algorithm)
        copy = getattr(empty, "copy", None)
        factories.append(copy if copy is not None else functools.partial(new_hasher, algorithm))
    return tuple(factories)


@functools.cache
def _owner_dir(pid: int) -> str:
    """The temporary folder name of process ``pid`` (this one): ``<pid>-<start>@<host>``."""
    started = process_start_time(pid)
    return f"{pid}-{int(started or time.time())}@{socket.gethostname()}"


def _abandoned(name: str, mtime: float) -> bool:
    """Whether the temporary entry ``name`` (modified at ``mtime``) belongs to no live process."""
    match = _OWNER_DIR.match(name)
    if match is None:  # a file of an older version, or a stray: old enough means abandoned
        return time.time() - mtime > ABANDONED_AFTER_SECONDS
    pid, started, host = int(match[1]), float(match[2]), match[3]
    if host == socket.gethostname():
        return pid != os.getpid() and not process_alive(pid, started)
    return time.time() - mtime > ABANDONED_AFTER_SECONDS


def parse_file_url(url: str) -> str:
    """The absolute, normalised root path of a ``file://`` URL; :class:`ConfigError` otherwise."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ConfigError(f"storage location URL {url!r} is malformed: {exc}") from None
    if parts.scheme.lower() != "file":
        raise ConfigError(f"storage location URL {url!r} is not a file:// URL")
    if parts.netloc not in ("", "localhost"):
        raise ConfigError(
            f"storage location URL {url!r} names host {parts.netloc!r}: only local paths "
            "(file:///absolute/path) are supported"
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"storage location URL {url!r} must not have a query or fragment")
    path = os.fsdecode(unquote_to_bytes(parts.path))
    if not path.startswith("/"):
        raise ConfigError(f"storage location URL {url!r} must name an absolute path")
    if "\x00" in path:
        raise ConfigError(f"storage location URL {url!r} contains a NUL character")
    return os.path.normpath(path)


class LocalStorage:
    """Objects as files under a root directory."""

    provider = "local"

    def __init__(self, url: str) -> None:
        self.url = url
        self.root = parse_file_url(url)

    def __repr__(self) -> str:
        return f"LocalStorage({self.url!r})"

    # ------------------------------------------------------------------ location

    def ensure(self) -> None:
        """Create the root (and its temporary area) and check that it can be written."""
        try:
            os.makedirs(self.root, exist_ok=True)
            os.makedirs(os.path.join(self.root, TMP_DIR), exist_ok=True)
        except OSError as exc:
            self._raise(exc, f"cannot create the location root {self.root}")
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageError(f"{self.url}: the location root {self.root} is not writable")
        log.debug("local location %s is ready", self.url)

    def answers(self, timeout: float = 0.0) -> str | None:
        """Whether the location can be used (its root is there): ``None`` when it can."""
        if os.path.isdir(self.root):
            return None
        return f"the location root {self.root} does not exist or is not a folder"

    def remove_abandoned(self) -> int:
        """Remove the temporary files of processes that are gone (killed while writing): on this
        host, those whose process no longer runs; of another host, those untouched for a day.
        Returns the number of files removed. Cheap when there is nothing to do (one listing)."""
        tmp = os.path.join(self.root, TMP_DIR)
        try:
            entries = list(os.scandir(tmp))
        except FileNotFoundError:
            return 0
        except OSError as exc:
            self._raise(exc, f"cannot list {tmp}")
        removed = 0
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if not _abandoned(entry.name, st.st_mtime):
                continue
            if statmod.S_ISDIR(st.st_mode):
                count = sum(len(files) for _, _, files in os.walk(entry.path))
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                count = 1
                _unlink_quietly(entry.path)
            if count:
                log.info(
                    "%s: removed %s left by %s (no longer running)",
                    self.url,
                    plural(count, "temporary file"),
                    entry.name,
                )
            removed += count
        return removed

    @contextmanager
    def _tmpdir(self, root: str, key: str | None = None) -> Iterator[str]:
        """This process's temporary folder under ``root`` while a write uses it: created if
        need be, and removed when the last write of this process leaves it empty, with
        ``.preserve-tmp`` itself when no other process has a folder there (see
        :func:`_leave_tmpdir`), so a finished run leaves nothing behind."""
        tmpdir = os.path.join(root, TMP_DIR, _owner_dir(os.getpid()))
        with _TMP_LOCK:
            _TMP_USERS[tmpdir] = _TMP_USERS.get(tmpdir, 0) + 1
            try:
                _make_tmpdir(tmpdir)
            except OSError as exc:
                _TMP_USERS[tmpdir] -= 1
                self._raise(exc, f"cannot create {tmpdir}", key=key)
        try:
            yield tmpdir
        finally:
            _leave_tmpdir(tmpdir)

    # ------------------------------------------------------------------ writing

    def put(
        self,
        key: str,
        source: Path,
        *,
        digests: Mapping[str, str] | None = None,
        consume: bool = False,
    ) -> StoredObject:
        key = self._check_key(key)
        root = self._real_root()
        target = self._resolve(root, key)
        algorithms = put_algorithms(digests)
        with self._tmpdir(root, key) as tmpdir:
            return self._put(key, source, digests, consume, root, target, algorithms, tmpdir)

    def _put(
        self,
        key: str,
        source: Path,
        digests: Mapping[str, str] | None,
        consume: bool,
        root: str,
        target: str,
        algorithms: tuple[str, ...],
        tmpdir: str,
    ) -> StoredObject:
        tmp = os.path.join(tmpdir, uuid.uuid4().hex)
        moved = False
        try:
            if consume and self._move(Path(source), tmp):
                moved = True
                # nothing was copied: the one read of the bytes is the verification
                _fsync_path(tmp)
                size, computed = self._hash_copy(tmp, algorithms, key)
                check_digests(digests, computed, location=self.url, key=key, what="the file")
            else:
                size, computed = self._copy(Path(source), tmp, algorithms, key)
                check_digests(digests, computed, location=self.url, key=key)
                reread_size, reread = self._hash_copy(tmp, (REREAD_ALGORITHM,), key)
                if reread_size != size or reread[REREAD_ALGORITHM] != computed[REREAD_ALGORITHM]:
                    raise VerificationFailed(
                        f"{self.url}: {key}: the written copy reads back differently "
                        f"({reread_size} bytes, {REREAD_ALGORITHM} {reread[REREAD_ALGORITHM]}; "
                        f"sent {size} bytes, {computed[REREAD_ALGORITHM]})"
                    )
            self._place(root, tmp, target, key)
        except OSError as exc:
            self._discard(tmp, Path(source) if moved else None)
            self._raise(exc, "cannot store", key=key)
        except BaseException:
            self._discard(tmp, Path(source) if moved else None)
            raise
        if consume and not moved:
            # the caller no longer needs the staging file; the verified copy replaces it
            try:
                os.unlink(source)
            except OSError as exc:
                log.warning("%s: could not remove consumed source %s: %s", self.url, source, exc)
        log.debug(
            "stored %s on %s (%s, verified by re-reading%s)",
            key,
            self.url,
            plural(size, "byte"),
            ", moved" if moved else "",
        )
        return StoredObject(key=key, size=size, digests=computed, verified_by="reread")

    def put_many(
        self,
        items: Sequence[PutItem],
        *,
        consume: bool = False,
        link: bool = False,
        on_stored: Callable[[StoredObject], None] | None = None,
        on_written: Callable[[str, int], None] | None = None,
    ) -> list[StoredObject]:
        """Store a batch: move (``consume``), hard-link (``link``) or copy every file into the
        temporary area, sync the filesystem once, re-read each copy from the device to verify
        it, then rename all into place and sync each folder once. The same guarantees as
        :meth:`put` at a fraction of the system calls for many small files.

        ``link=True`` is for a staging file the caller keeps reading for a while and then
        deletes (it must not change it): the stored copy shares its bytes without a copy."""
        root = self._real_root()
        with self._tmpdir(root) as tmpdir:
            return self._put_many(
                root,
                tmpdir,
                items,
                consume=consume,
                link=link,
                on_stored=on_stored,
                on_written=on_written,
            )

    def _put_many(
        self,
        root: str,
        tmpdir: str,
        items: Sequence[PutItem],
        *,
        consume: bool,
        link: bool,
        on_stored: Callable[[StoredObject], None] | None,
        on_written: Callable[[str, int], None] | None,
    ) -> list[StoredObject]:
        checked_dirs: set[str] = set()
        plans: list[_Planned] = []
        batch = os.path.join(tmpdir, uuid.uuid4().hex + "-")  # one name per batch, numbered
        for item in items:
            key = self._check_key(item.key)
            target = os.path.join(root, *key.split("/"))
            parent = os.path.dirname(target)
            if parent not in checked_dirs:
                self._makedirs(root, parent, key)  # refuses links on the way
                checked_dirs.add(parent)
            try:
                st = os.lstat(target)
            except FileNotFoundError:
                pass
            except OSError as exc:
                self._raise(exc, "cannot inspect the target", key=key)
            else:
                if statmod.S_ISLNK(st.st_mode):
                    raise UnsafePath(f"{self.url}: {key} is a symbolic link")
                if statmod.S_ISDIR(st.st_mode):
                    raise StorageError(f"{self.url}: {key}: a folder of that name exists")
            plans.append(_Planned(item, key, target, f"{batch}{len(plans)}"))

        def stage(plan: _Planned) -> None:
            digests = plan.item.digests
            if consume and self._move(plan.item.source, plan.tmp):
                plan.moved = True
                return  # verified after the sync, by re-reading
            if link and self._link(plan.item.source, plan.tmp):
                plan.linked = True
                return  # verified after the sync, by re-reading
            size, computed = self._copy_unsynced(
                Path(plan.item.source), plan.tmp, digests, plan.key
            )
            check_digests(digests, computed, location=self.url, key=plan.key)
            plan.size, plan.digests = size, computed
            if on_written is not None:
                on_written(plan.key, size)

        def verify(plan: _Planned) -> StoredObject:
            expected = plan.item.digests or plan.digests
            if plan.linked and plan.item.durable and expected:
                # the same inode, read back from the device when it was written: no second read
                size = os.stat(plan.tmp, follow_symlinks=False).st_size
                return StoredObject(
                    key=plan.key, size=size, digests=dict(expected), verified_by="reread"
                )
            algorithms = (
                (REREAD_ALGORITHM,) if expected and REREAD_ALGORITHM in expected
                else put_algorithms(expected)
            )  # fmt: skip
            size, computed = self._hash_copy(plan.tmp, algorithms, plan.key)
            if plan.moved or plan.linked:
                check_digests(expected, computed, location=self.url, key=plan.key, what="the file")
            elif size != plan.size or any(plan.digests.get(a) != v for a, v in computed.items()):
                raise VerificationFailed(
                    f"{self.url}: {plan.key}: the written copy reads back differently"
                )
            return StoredObject(key=plan.key, size=size, digests=computed, verified_by="reread")

        stored: list[StoredObject] = []
        # threads pay off when hashing releases the GIL for long; small files only pass it around
        total = 0
        for plan in plans:
            with suppress(OSError):
                total += os.stat(plan.item.source).st_size
        large = bool(plans) and total >= LARGE_AVERAGE * len(plans)

        def verify_chunk(chunk: list[_Planned]) -> list[StoredObject]:
            verified = []
            for plan in chunk:
                obj = verify(plan)
                if on_stored is not None:
                    on_stored(obj)  # as each copy is verified, not once the batch is placed
                verified.append(obj)
            return verified

        try:
            if large:
                with ThreadPoolExecutor(max_workers=2) as pool:
                    list(pool.map(stage, plans))
            else:  # links and small copies: a thread each would only pass the GIL around
                for plan in plans:
                    stage(plan)
            syncfs(root)
            # re-reading small files from the device waits on the disk, not the CPU: keep
            # several reads in flight, a chunk of files per task
            size = 1 if large else 32
            with ThreadPoolExecutor(max_workers=2 if large else VERIFY_THREADS) as pool:
                for done in pool.map(verify_chunk, _chunks(plans, size)):
                    stored.extend(done)
            parents: set[str] = set()
            for plan in plans:
                os.replace(plan.tmp, plan.target)
                plan.placed = True
                parents.add(os.path.dirname(plan.target))
            for parent in sorted(parents):
                _fsync_dir(parent)
        except BaseException as exc:
            for plan in plans:
                if plan.placed:
                    _unlink_quietly(plan.target)
                else:
                    self._discard(plan.tmp, Path(plan.item.source) if plan.moved else None)
            if isinstance(exc, OSError):
                self._raise(exc, "cannot store")
            raise
        if consume:
            for plan in plans:
                if not plan.moved:
                    with suppress(OSError):
                        os.unlink(plan.item.source)
        log.debug("stored %s on %s", plural(len(stored), "object"), self.url)
        return stored

    def _copy_unsynced(
        self, source: Path, tmp: str, digests: Mapping[str, str] | None, key: str
    ) -> tuple[int, dict[str, str]]:
        """Copy and hash without an fsync of its own (the batch syncs once)."""
        hasher = MultiHasher(put_algorithms(digests))
        try:
            with open(source, "rb", buffering=0) as src, open(tmp, "xb", buffering=0) as dst:
                buf = chunk_buffer()
                view = memoryview(buf)
                while n := src.readinto(buf):
                    hasher.update(view[:n])
                    chunk = view[:n]
                    while chunk:
                        chunk = chunk[dst.write(chunk) :]
        except OSError as exc:
            self._raise(exc, f"cannot copy {source}", key=key)
        return hasher.size, hasher.hexdigests()

    def put_bytes(self, key: str, data: bytes) -> StoredObject:
        key = self._check_key(key)
        root = self._real_root()
        hasher = MultiHasher(put_algorithms(None))
        hasher.update(data)
        # staged in the location's own temporary area, then moved into place by put(): the
        # copy is verified against the digests of the bytes in memory
        with self._tmpdir(root, key) as tmpdir:
            staging = os.path.join(tmpdir, f"{uuid.uuid4().hex}.bytes")
            try:
                try:
                    with open(staging, "xb") as f:
                        f.write(data)
                except OSError as exc:
                    self._raise(exc, "cannot write", key=key)
                return self.put(key, Path(staging), digests=hasher.hexdigests(), consume=True)
            finally:
                _unlink_quietly(staging)

    def _copy(
        self, source: Path, tmp: str, algorithms: tuple[str, ...], key: str
    ) -> tuple[int, dict[str, str]]:
        """Copy ``source`` to ``tmp`` in 1 MiB chunks, hashing what is written; fsync it."""
        hasher = MultiHasher(algorithms)
        buf = chunk_buffer()
        view = memoryview(buf)
        try:
            src = open(source, "rb", buffering=0)  # noqa: SIM115 - closed below
        except OSError as exc:
            raise StorageError(
                f"{self.url}: cannot read {source} to store it as {key}: {exc.strerror or exc}"
            ) from exc
        with src:
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                self._raise(exc, "cannot create a temporary file", key=key)
            try:
                while True:
                    try:
                        n = src.readinto(buf)
                    except OSError as exc:
                        raise StorageError(
                            f"{self.url}: cannot read {source} to store it as {key}: "
                            f"{exc.strerror or exc}"
                        ) from exc
                    if not n:
                        break
                    chunk = view[:n]
                    hasher.update(chunk)
                    while chunk:  # os.write may write less than asked (e.g. at a size limit)
                        chunk = chunk[os.write(fd, chunk) :]
                os.fsync(fd)
                drop_cache(fd)
            except OSError as exc:
                self._raise(exc, "cannot write", key=key)
            finally:
                os.close(fd)
        return hasher.size, hasher.hexdigests()

    def _hash_copy(
        self, path: str, algorithms: tuple[str, ...], key: str
    ) -> tuple[int, dict[str, str]]:
        """Read a written (fsynced) file back from the device and hash it."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            self._raise(exc, "cannot read back the written copy", key=key)
        try:
            drop_cache(fd)
            data = os.read(fd, SMALL_READ + 1)
            if len(data) <= SMALL_READ:
                rest = os.read(fd, SMALL_READ)
                if not rest:  # the whole file in one read: the common case of small files
                    return len(data), digest_bytes(data, algorithms)
        except OSError as exc:
            self._raise(exc, "cannot read back the written copy", key=key)
        finally:
            os.close(fd)
        hasher = MultiHasher(algorithms)
        buf = chunk_buffer()
        view = memoryview(buf)
        try:
            with open(path, "rb", buffering=0) as f:
                drop_cache(f.fileno())
                while n := f.readinto(buf):
                    hasher.update(view[:n])
        except OSError as exc:
            self._raise(exc, "cannot read back the written copy", key=key)
        return hasher.size, hasher.hexdigests()

    def _link(self, source: str | os.PathLike[str], tmp: str) -> bool:
        """Hard-link ``source`` (a regular file) to ``tmp``; False means "copy instead"."""
        try:
            if not statmod.S_ISREG(os.lstat(source).st_mode):
                return False
            os.link(source, tmp, follow_symlinks=False)
        except OSError:
            return False  # another filesystem, or links not supported: copy
        return True

    def _move(self, source: str | os.PathLike[str], tmp: str) -> bool:
        """Rename ``source`` to ``tmp`` when that is safe; False means "copy instead"."""
        try:
            st = os.lstat(source)
        except OSError:
            return False  # _copy reports the problem
        if not statmod.S_ISREG(st.st_mode) or st.st_nlink != 1:
            # a symlink or a second hard link would leave the stored copy changeable from outside
            return False
        try:
            os.rename(source, tmp)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EACCES):
                log.debug("%s: cannot move %s (%s); copying instead", self.url, source, exc)
            return False
        return True

    def _place(self, root: str, tmp: str, target: str, key: str) -> None:
        """Rename the verified temporary file to ``target``; fsync the directory."""
        parent = os.path.dirname(target)
        for attempt in (1, 2):
            try:
                self._makedirs(root, parent, key)
                if os.path.isdir(target) and not os.path.islink(target):
                    raise StorageError(f"{self.url}: {key}: a folder of that name exists")
                os.replace(tmp, target)
                _fsync_dir(parent)
                return
            except FileNotFoundError:
                if attempt == 2:
                    raise StorageError(
                        f"{self.url}: {key}: its folder disappeared while storing it"
                    ) from None
                # a concurrent delete pruned the (empty) parent between mkdir and rename
            except OSError as exc:
                self._raise(exc, "cannot move the verified copy into place", key=key)

    def _makedirs(self, root: str, directory: str, key: str) -> None:
        """Create ``directory`` (under ``root``) one level at a time, refusing links."""
        rel = os.path.relpath(directory, root)
        if rel == ".":
            return
        for attempt in range(5):
            try:
                self._makedirs_once(root, rel, key)
                return
            except FileNotFoundError:
                # an empty parent was just removed by someone else's clean-up (recovery prunes
                # the empty folders a deleted package leaves): make the path again
                if attempt == 4:
                    raise

    def _makedirs_once(self, root: str, rel: str, key: str) -> None:
        current = root
        for part in rel.split(os.sep):
            current = os.path.join(current, part)
            try:
                os.mkdir(current, 0o755)
            except FileExistsError:
                st = os.lstat(current)
                if statmod.S_ISLNK(st.st_mode):
                    raise UnsafePath(
                        f"{self.url}: {key}: {os.path.relpath(current, root)} is a symbolic link"
                    ) from None
                if not statmod.S_ISDIR(st.st_mode):
                    raise StorageError(
                        f"{self.url}: {key}: {os.path.relpath(current, root)} exists and is "
                        "not a folder"
                    ) from None
            else:
                _fsync_dir(os.path.dirname(current))

    def _discard(self, tmp: str, source: Path | None) -> None:
        """After a failure: give a consumed source back, or remove the temporary file."""
        if source is not None:
            try:
                os.rename(tmp, source)
                return
            except OSError as exc:
                log.warning("%s: could not move %s back to %s: %s", self.url, tmp, source, exc)
        _unlink_quietly(tmp)

    # ------------------------------------------------------------------ reading

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        key = self._check_key(key)
        path = self._resolve(self._real_root(), key)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            self._raise(exc, "cannot open", key=key, missing_ok=True)
        try:
            if not statmod.S_ISREG(os.fstat(fd).st_mode):
                raise ObjectNotFound(f"{self.url}: no object {key} (it is a folder)")
            raw = os.fdopen(fd, "rb", buffering=0)
        except BaseException:
            os.close(fd)
            raise

        def translate(exc: BaseException) -> BaseException:
            if isinstance(exc, OSError):
                return StorageError(f"{self.url}: cannot read {key}: {exc.strerror or exc}")
            return exc

        return cast(AbstractContextManager[BinaryIO], ObjectReader(raw, translate))

    def stat(self, key: str) -> ObjectStat:
        key = self._check_key(key)
        path = self._resolve(self._real_root(), key)
        try:
            st = os.stat(path, follow_symlinks=False)
        except OSError as exc:
            self._raise(exc, "cannot stat", key=key, missing_ok=True)
        if not statmod.S_ISREG(st.st_mode):
            raise ObjectNotFound(f"{self.url}: no object {key} (not a regular file)")
        return ObjectStat(
            key=key,
            size=st.st_size,
            modified=datetime.fromtimestamp(st.st_mtime, tz=UTC),
        )

    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
        except ObjectNotFound:
            return False
        return True

    def hash_objects(
        self, requests: Sequence[HashRequest], *, threads: int = 2
    ) -> Iterator[HashResult]:
        """Read each requested object from the device and hash it; yield ``(key, size, digests,
        None)`` per object, or ``(key, bytes read, None, error)`` when it could not be read
        (:class:`ObjectNotFound` when it is gone or not a regular file), in no set order.

        This is the fixity read: the object's clean pages are dropped from the page cache before
        it is read (``POSIX_FADV_DONTNEED``), so the bytes hashed come from the device and not
        from memory, and dropped again once hashed, so a check does not evict the hot working
        set. Large objects are hashed one per thread while the kernel reads ahead
        (``POSIX_FADV_SEQUENTIAL``): several threads per core keep several streams coming from
        the device. Small ones are hashed in batches, every read of a batch requested at once
        (``POSIX_FADV_WILLNEED``), so a thread pays for a task once per batch, not per object,
        and few threads keep many reads in flight. Every path is opened below the root one
        folder at a time without following a link (``openat`` with ``O_NOFOLLOW``).
        """
        root = self._real_root()
        for key, _size, _algorithms in requests:
            self._check_key(key)
        tasks: list[list[HashRequest]] = []
        small: list[HashRequest] = []
        for request in requests:
            if request[1] >= HASH_LARGE:
                tasks.append([request])  # a large object is a task of its own
            else:
                small.append(request)
                if len(small) == HASH_BATCH:
                    tasks.append(small)
                    small = []
        if small:
            tasks.append(small)
        if not tasks:
            return
        pool = ThreadPoolExecutor(max_workers=max(1, min(threads, len(tasks))))
        try:
            futures = [pool.submit(self._hash_batch, root, task) for task in tasks]
            for future in as_completed(futures):
                yield from future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _hash_batch(self, root: str, batch: list[HashRequest]) -> list[HashResult]:
        """Hash a batch of objects on this thread (see :meth:`hash_objects`): open them all and
        ask the device for every small one at once, then read and hash them one by one."""
        buf = _hash_buffer()
        view = memoryview(buf)
        results: list[HashResult] = []
        folders: dict[str, int] = {}  # folder key -> an open descriptor of it
        opened: list[tuple[str, int, tuple[str, ...], int]] = []
        done = 0
        try:
            for key, size, algorithms in batch:
                folder, _, name = key.rpartition("/")
                try:
                    dir_fd = folders.get(folder)
                    if dir_fd is None:
                        dir_fd = folders[folder] = self._open_folder(root, folder)
                    fd = self._open_object(dir_fd, name, key)
                except StorageError as exc:
                    results.append((key, 0, None, exc))
                    continue
                opened.append((key, size, algorithms, fd))
                if size < HASH_LARGE:
                    drop_cache(fd)  # what is read next comes from the device ...
                    prefetch(fd, 0, 0)  # ... and every object of the batch is on its way
            for key, size, algorithms, fd in opened:
                results.append(self._hash_open(fd, key, size, algorithms, buf, view))
                done += 1
                os.close(fd)
        finally:
            for _key, _size, _algorithms, fd in opened[done:]:
                os.close(fd)
            for fd in folders.values():
                os.close(fd)
        return results

    def _open_folder(self, root: str, folder: str) -> int:
        """A descriptor of ``folder`` (a key prefix without its '/'), opened one segment at a
        time from ``root`` without following links."""
        try:
            fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            self._raise(exc, "cannot open the location root")
        try:
            for part in folder.split("/") if folder else ():
                try:
                    child = os.open(part, _FOLDER_FLAGS, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                        raise ObjectNotFound(
                            f"{self.url}: no folder {folder}/ (or a part of it is a link)"
                        ) from None
                    self._raise(exc, f"cannot open the folder {folder}/")
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _open_object(self, dir_fd: int, name: str, key: str) -> int:
        """A descriptor of the regular file ``name`` in ``dir_fd`` (never through a link)."""
        try:
            fd = os.open(name, _OBJECT_FLAGS, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                raise ObjectNotFound(f"{self.url}: no object {key}") from None
            if exc.errno == errno.ELOOP:
                raise ObjectNotFound(f"{self.url}: {key} is a symbolic link") from None
            raise StorageError(f"{self.url}: cannot open {key}: {exc.strerror}") from None
        try:
            mode = os.fstat(fd).st_mode
        except OSError as exc:
            os.close(fd)
            raise StorageError(f"{self.url}: cannot open {key}: {exc.strerror}") from None
        if not statmod.S_ISREG(mode):
            os.close(fd)
            raise ObjectNotFound(f"{self.url}: {key} is not a regular file")
        return fd

    def _hash_open(
        self,
        fd: int,
        key: str,
        size: int,
        algorithms: tuple[str, ...],
        buf: bytearray,
        view: memoryview,
    ) -> HashResult:
        """Read the open object to its end and hash it (the caller closes ``fd``)."""
        hashers = [new() for new in _hasher_factories(algorithms)]
        total = 0
        large = size >= HASH_LARGE
        try:
            if large:
                drop_cache(fd)  # what is read next comes from the device
                # the kernel's own read-ahead, doubled, keeps the device busy while a chunk is
                # hashed (asking for more with POSIX_FADV_WILLNEED measured slower: it blocks)
                read_sequentially(fd)
            while n := os.readv(fd, (buf,)):
                chunk = view[:n] if n < len(buf) else view
                for h in hashers:
                    h.update(chunk)
                if large:
                    drop_cache(fd, total, n)  # hashed: no need to keep it in memory
                total += n
            drop_cache(fd)  # leave the page cache as it was
        except OSError as exc:
            error = StorageError(f"{self.url}: cannot read {key}: {exc.strerror or exc}")
            return key, total, None, error
        digests = {a: h.hexdigest() for a, h in zip(algorithms, hashers, strict=True)}
        return key, total, digests, None

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        prefix = validate_prefix(prefix)
        root = self._real_root()
        base = prefix.rpartition("/")[0]  # the deepest folder the prefix names in full
        if base:
            self._resolve(root, base)
        start = os.path.join(root, *base.split("/")) if base else root
        yield from self._walk(start, f"{base}/" if base else "", prefix, top=not base)

    def _walk(self, directory: str, rel: str, prefix: str, *, top: bool) -> Iterator[str]:
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            self._raise(exc, f"cannot list {rel or '/'}")
        # a folder sorts as "name/" so the walk yields keys in plain string (UTF-8 byte) order
        items = []
        for entry in entries:
            if top and entry.name == TMP_DIR:
                continue
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
                is_file = entry.is_file(follow_symlinks=False)
            except OSError as exc:
                self._raise(exc, f"cannot list {rel}{entry.name}")
            if not (is_dir or is_file):
                log.warning("%s: ignoring %s%s: not a file or folder", self.url, rel, entry.name)
                continue
            try:
                entry.name.encode("utf-8")
            except UnicodeEncodeError:
                log.warning("%s: ignoring %r: its name is not valid UTF-8", self.url, entry.name)
                continue
            items.append((entry.name + "/" if is_dir else entry.name, entry))
        items.sort(key=lambda item: item[0])
        for name, entry in items:
            key = rel + name
            if name.endswith("/"):
                if key.startswith(prefix) or prefix.startswith(key):
                    yield from self._walk(entry.path, key, prefix, top=False)
            elif key.startswith(prefix):
                yield key

    # ------------------------------------------------------------------ moving

    def move(self, src_key: str, dst_key: str, *, sha256: str | None = None) -> int:
        """See :meth:`preserve.storage.base.Storage.move`: the object gets a second name (a hard
        link; a rename where links are refused), is verified under it, and loses the first."""
        src_key = self._check_key(src_key)
        dst_key = self._check_key(dst_key)
        root = self._real_root()
        src = self._resolve(root, src_key)
        dst = self._resolve(root, dst_key)
        try:
            st = os.stat(src, follow_symlinks=False)
        except OSError as exc:
            self._raise(exc, "cannot move", key=src_key, missing_ok=True)
        if not statmod.S_ISREG(st.st_mode):
            raise ObjectNotFound(f"{self.url}: no object {src_key} (not a regular file)")
        size = st.st_size
        if os.path.lexists(dst):
            problem = moved_object_problem(self, dst_key, size, sha256)
            if problem is not None:
                raise VerificationFailed(
                    f"{self.url}: cannot move {src_key} to {dst_key}: another object is there "
                    f"({problem})"
                )
            self.delete(src_key)  # an earlier move was interrupted after the copy
            return size
        self._makedirs(root, os.path.dirname(dst), dst_key)
        renamed = False
        try:
            os.link(src, dst, follow_symlinks=False)
        except FileExistsError:
            raise VerificationFailed(
                f"{self.url}: cannot move {src_key} to {dst_key}: an object appeared there"
            ) from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                self._raise(exc, f"cannot move to {dst_key}", key=src_key)
            try:
                os.rename(src, dst)
            except OSError as again:
                self._raise(again, f"cannot move to {dst_key}", key=src_key)
            renamed = True
        _fsync_dir(os.path.dirname(dst))
        problem = moved_object_problem(self, dst_key, size, sha256)
        if problem is not None:
            if renamed:
                with suppress(OSError):
                    os.rename(dst, src)
            else:
                _unlink_quietly(dst)
            raise VerificationFailed(
                f"{self.url}: {src_key} changed while it was moved to {dst_key}: {problem}"
            )
        if not renamed:
            try:
                os.unlink(src)
            except FileNotFoundError:
                pass
            except OSError as exc:
                self._raise(exc, "cannot remove after moving", key=src_key)
        _fsync_dir(os.path.dirname(src))
        log.debug("moved %s to %s on %s", src_key, dst_key, self.url)
        return size

    # ------------------------------------------------------------------ object lock

    # A folder cannot refuse its own administrator (or a stolen account) a deletion, so a local
    # location says it cannot lock objects and every lock request is refused, rather than
    # quietly doing nothing: a caller must never record a protection that is not there.

    def supports_object_lock(self) -> bool:
        return False

    def _no_object_lock(self) -> ObjectLockUnsupported:
        return ObjectLockUnsupported(
            f"{self.url}: object lock is not supported by this location (a local folder cannot "
            "refuse a deletion); only an S3 bucket with Object Lock enabled can"
        )

    def set_retention(self, key: str, until: datetime, mode: str = "COMPLIANCE") -> bool:
        raise self._no_object_lock()

    def get_retention(self, key: str) -> ObjectRetention | None:
        raise self._no_object_lock()

    def set_legal_hold(self, key: str, on: bool) -> None:
        raise self._no_object_lock()

    def get_legal_hold(self, key: str) -> bool:
        raise self._no_object_lock()

    # ------------------------------------------------------------------ deleting

    def delete(self, key: str) -> None:
        key = self._check_key(key)
        root = self._real_root()
        path = self._resolve(root, key)
        try:
            os.unlink(path)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return
        except OSError as exc:
            if exc.errno == errno.EISDIR or (exc.errno == errno.EPERM and os.path.isdir(path)):
                return  # a folder is not an object
            self._raise(exc, "cannot delete", key=key)
        log.debug("deleted %s from %s", key, self.url)
        self._prune(root, os.path.dirname(path))

    def delete_prefix(self, prefix: str) -> int:
        prefix = _folder_prefix(prefix, self.url)
        root = self._real_root()
        count = 0
        for key in list(self.iter_keys(prefix)):
            path = self._resolve(root, key)
            try:
                os.unlink(path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                self._raise(exc, "cannot delete", key=key)
            count += 1
        folder = self._resolve(root, prefix[:-1])
        self._prune_tree(folder)
        self._prune(root, os.path.dirname(folder))
        log.info("deleted %s under %s from %s", plural(count, "object"), prefix, self.url)
        return count

    def _prune(self, root: str, directory: str) -> None:
        """Remove empty folders from ``directory`` up to (not including) the root."""
        while os.path.commonpath([root, directory]) == root and directory != root:
            try:
                os.rmdir(directory)
            except OSError:
                return
            directory = os.path.dirname(directory)

    def _prune_tree(self, folder: str) -> None:
        """Remove every empty folder inside ``folder`` and then ``folder`` itself."""
        for dirpath, _dirnames, _files in os.walk(folder, topdown=False):
            with suppress(OSError):  # not empty: something else lives there
                os.rmdir(dirpath)

    # ------------------------------------------------------------------ paths and errors

    def _check_key(self, key: str) -> str:
        key = validate_key(key)
        if key.split("/", 1)[0] == TMP_DIR:
            raise UnsafePath(
                f"unsafe object key {key!r}: {TMP_DIR} is reserved for temporary files"
            )
        return key

    def _real_root(self) -> str:
        """The root with links resolved; StorageUnavailable when it is missing (not mounted?)."""
        root = os.path.realpath(self.root)
        if not os.path.isdir(root):
            raise StorageUnavailable(
                f"{self.url}: the location root {self.root} does not exist or is not a folder "
                "(not mounted, or the location was never initialised)"
            )
        return root

    def _resolve(self, root: str, key: str) -> str:
        """The path of ``key`` under ``root``, refusing any way out (links, '..')."""
        path = os.path.join(root, *key.split("/"))
        real = os.path.realpath(path)
        if os.path.commonpath([root, real]) != root:
            raise UnsafePath(f"{self.url}: {key} would resolve outside the location root")
        if real != path:
            raise UnsafePath(f"{self.url}: {key} passes through a symbolic link")
        return path

    def _raise(
        self, exc: OSError, doing: str, *, key: str | None = None, missing_ok: bool = False
    ) -> NoReturn:
        where = f"{self.url}: {key}" if key else self.url
        reason = exc.strerror or str(exc)
        if missing_ok and isinstance(exc, FileNotFoundError | NotADirectoryError):
            raise ObjectNotFound(f"{where}: no such object") from None
        if missing_ok and exc.errno == errno.ELOOP:
            raise UnsafePath(f"{where}: the object is a symbolic link") from None
        if exc.errno in NO_SPACE:
            raise StorageFull(f"{where}: {doing}: {reason} (the location is full)") from exc
        raise StorageError(f"{where}: {doing}: {reason}") from exc


@dataclass
class _Planned:
    item: PutItem
    key: str
    target: str
    tmp: str
    moved: bool = False
    linked: bool = False
    placed: bool = False
    size: int = 0
    digests: dict[str, str] = field(default_factory=dict)


def _chunks(items: list[_Planned], size: int) -> Iterator[list[_Planned]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _folder_prefix(prefix: str, url: str) -> str:
    prefix = validate_prefix(prefix)
    if not prefix or not prefix.endswith("/"):
        raise UnsafePath(
            f"{url}: refusing to delete under prefix {prefix!r}: it must name a folder and end "
            "with '/'"
        )
    return prefix


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
        drop_cache(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


#: writes of this process under way, per temporary folder: the last one out removes it
_TMP_USERS: dict[str, int] = {}
_TMP_LOCK = threading.Lock()
#: a concurrent process may remove an empty ``.preserve-tmp`` between our creating it and our
#: folder in it: create again, this many times
_TMP_ATTEMPTS = 5


def _make_tmpdir(tmpdir: str) -> None:
    """Create this process's temporary folder (and ``.preserve-tmp``), again if another
    process removed the empty ``.preserve-tmp`` in between."""
    for attempt in range(_TMP_ATTEMPTS):
        try:
            os.makedirs(tmpdir, exist_ok=True)
            return
        except FileNotFoundError:
            if attempt == _TMP_ATTEMPTS - 1:
                raise


def _leave_tmpdir(tmpdir: str) -> None:
    """One write of this process is done with ``tmpdir``: the last one removes the folder if
    it is empty, then ``.preserve-tmp`` if no other process has a folder in it. ``rmdir``
    removes only an empty folder, so another process's folder (or a file a killed writer left,
    which :meth:`LocalStorage.remove_abandoned` handles) is never touched."""
    with _TMP_LOCK:
        _TMP_USERS[tmpdir] -= 1
        if _TMP_USERS[tmpdir]:
            return
        del _TMP_USERS[tmpdir]
        for folder in (tmpdir, os.path.dirname(tmpdir)):
            try:
                os.rmdir(folder)
            except OSError as exc:  # not empty, already gone, or not ours to remove
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                    log.debug("could not remove the empty temporary folder %s: %s", folder, exc)
                return


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not remove temporary file %s: %s", path, exc)


__all__ = ["TMP_DIR", "LocalStorage", "parse_file_url"]
