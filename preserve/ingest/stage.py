"""Stage 2, stage and hash: copy every payload file into the staging bag, computing every digest
in the same single read of its bytes.

Small files are read whole and written on the calling thread (a thread per 4 KB file would only
pass the GIL around); large files are copied on a pool of threads (hashlib releases the GIL),
written past the page cache (``O_DIRECT``), flushed to the device and read back from it, so the
staged copy is already *durable and verified*: a local location that hard-links it needs no
second read. Each finished batch is handed to ``on_staged`` at once, so identification runs in
helper processes while staging goes on.

A delivery folder may still be written to while it is ingested. Each file's size, modification and
change time are taken from its open descriptor before the first read and after the last; a file
that changed meanwhile (its copy could mix old and new bytes) is read again, and refused if it keeps
changing. Files unpacked from an archive are ours and cannot change; the check costs them nothing
worth sparing (two ``fstat`` calls).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import mmap
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from preserve.bagit import BagWriter
from preserve.checksums import MultiHasher, digest_bytes
from preserve.errors import InvalidBag, InvalidInput, StorageError, StorageFull
from preserve.fsio import NO_SPACE, drop_cache, start_writeback
from preserve.ingest.model import TRANSPORT_ALGORITHM, Delivery, StagedFile
from preserve.progress import Progress, Stage
from preserve.values import Problem

SMALL_FILE = 1 << 20  # read whole and hashed on the calling thread
BLOCK = 8 << 20  # bytes per read and direct write of a large file
HASH_SLICE = 1 << 20  # bytes per hash update: every algorithm reads the slice from the CPU cache
ALIGN = 4096  # O_DIRECT alignment of buffer address, file offset and length
BATCH_FILES = 256  # small files per identification batch
BATCH_BYTES = 64 << 20
WRITEBACK_EVERY = 8 << 20  # buffered fallback: start the disk writing every 8 MiB
READ_ATTEMPTS = 3  # reads of a file that changes while it is read, before it is refused
CHANGED_PAUSE = 0.1  # seconds (times the attempt) before a changed file is read again

_O_DIRECT = getattr(os, "O_DIRECT", 0)
_readv = os.readv  # reads of a delivery's large files (the tests change the file in between)
_local = threading.local()
log = logging.getLogger(__name__)


def stage_payload(
    delivery: Delivery,
    writer: BagWriter,
    algorithms: Sequence[str],
    *,
    workers: int,
    progress: Progress,
    on_staged: Callable[[list[StagedFile]], None],
    stage: Stage | None = None,
) -> None:
    """Copy and hash every file of ``delivery`` into ``writer``'s payload; record its manifest
    entries; call ``on_staged`` with each batch of files as it is staged."""
    files = delivery.files
    total = sum(f.size for f in files)
    progress.begin("hashing and copying", len(files), total, stage)
    manifest_algorithms = tuple(a for a in algorithms if a != TRANSPORT_ALGORITHM)
    large = [f for f in files if f.size > SMALL_FILE]
    small = [f for f in files if f.size <= SMALL_FILE]

    # progress within a large file: half of each block once copied (the read-back from the
    # device takes about as long), the rest when the file is recorded
    credited: dict[str, int] = {}
    credit_lock = threading.Lock()

    def credit(f: StagedFile, nbytes: int) -> None:
        with credit_lock:
            done = credited.get(f.relpath, 0)
            nbytes = min(nbytes, f.size // 2 - done)  # a file read again is not counted twice
            if nbytes <= 0:
                return
            credited[f.relpath] = done + nbytes
        progress.advance(0, nbytes)

    def record(done: Sequence[StagedFile]) -> None:
        for f in done:
            check_producer(delivery.producer_digests, f)
            writer.add_payload_entry(
                f.relpath, f.size, {a: f.digests[a] for a in manifest_algorithms}
            )
        with credit_lock:
            nbytes = sum(f.size - credited.pop(f.relpath, 0) for f in done)
        progress.advance(len(done), nbytes)
        on_staged(list(done))

    futures: list[Future[StagedFile] | None] = []
    stop = threading.Event()  # set on failure or interruption: large copies under way give up
    try:
        # direct writes and read-backs wait on the disk: two copies per core in flight (and one
        # more) keep the cores hashing meanwhile (measured: 5 threads 2.1-2.4 s for corpus A on
        # 2 cores, 3 threads 2.9 s, 2 threads 3.4 s)
        with ThreadPoolExecutor(max_workers=2 * max(1, workers) + 1) as pool:
            try:
                # large files go to the pool first; this thread stages the small files meanwhile
                split = len(large) < workers  # fewer large files than cores: split each one
                for f in large:
                    f.staged = writer.payload_file(f.relpath)
                    futures.append(pool.submit(_stage_large, f, algorithms, split, stop, credit))
                batch: list[StagedFile] = []
                nbytes = 0
                for f in small:
                    f.staged = writer.payload_file(f.relpath)
                    _stage_small(f, algorithms)
                    batch.append(f)
                    nbytes += f.size
                    if len(batch) >= BATCH_FILES or nbytes >= BATCH_BYTES:
                        record(batch)
                        batch, nbytes = [], 0
                        _record_done(futures, record)
                if batch:
                    record(batch)
                for future in futures:
                    if future is not None:
                        record([future.result()])
            except BaseException:
                stop.set()
                for future in futures:
                    if future is not None:
                        future.cancel()
                raise
    finally:
        progress.end()


def _record_done(
    futures: list[Future[StagedFile] | None], record: Callable[[Sequence[StagedFile]], None]
) -> None:
    """Record the large files finished so far (in order), so identification starts on them."""
    done = []
    for i, future in enumerate(futures):
        if future is None:
            continue
        if not future.done():
            break
        done.append(future.result())
        futures[i] = None
    if done:
        record(done)


def check_producer(producer: Mapping[str, Mapping[str, str]], f: StagedFile) -> None:
    for alg, expected in producer.get(f.relpath, {}).items():
        if alg in f.digests and f.digests[alg].lower() != expected.lower():
            raise InvalidBag(
                f"{f.source}: {alg} checksum does not match the producer's manifest",
                [Problem("checksum-mismatch", f.bag_path, f"{alg} mismatch")],
            )


def fingerprint(files: Sequence[StagedFile]) -> str:
    """Identity of a payload: names and SHA-512s, independent of order."""
    h = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.relpath):
        h.update(f"{f.digests['sha512']}  {f.relpath}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


# --------------------------------------------------------------------------- small files


def _stage_small(f: StagedFile, algorithms: Sequence[str]) -> None:
    """Read a small file whole, hash it, write it: a handful of system calls."""
    data = _read_small(f)
    f.digests = digest_bytes(data, algorithms)
    assert f.staged is not None
    try:
        out = os.open(f.staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        _raise_staging(exc, f)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(out, view) :]
    except OSError as exc:
        _raise_staging(exc, f)
    finally:
        os.close(out)


def _read_small(f: StagedFile) -> bytes:
    """The bytes of a small file in one read, read again if the file changed meanwhile."""
    for attempt in range(READ_ATTEMPTS):
        if attempt:
            time.sleep(CHANGED_PAUSE * attempt)
        try:
            fd = os.open(f.source, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise InvalidInput(f"{f.source}: cannot be read: {exc.strerror or exc}") from exc
        try:
            before = os.fstat(fd)
            data = _read_all(fd, f.size + 1, f.source)
            after = os.fstat(fd)
        except OSError as exc:
            raise InvalidInput(f"{f.source}: cannot be read: {exc.strerror or exc}") from exc
        finally:
            os.close(fd)
        if _unchanged(before, after):
            _check_listed_size(f, after.st_size, len(data))
            return data
        log.info("%s changed while it was being read: reading it again", f.source)
    raise _changed(f)


def _unchanged(before: os.stat_result, after: os.stat_result) -> bool:
    """Neither written (size, modification time) nor touched otherwise (change time)."""
    return (
        before.st_mtime_ns == after.st_mtime_ns
        and before.st_ctime_ns == after.st_ctime_ns
        and before.st_size == after.st_size
    )


def _changed(f: StagedFile, detail: str = "") -> InvalidInput:
    return InvalidInput(
        f"{f.source}: changed while it was being read{detail}; "
        "ingest it again once it is no longer being written"
    )


def _check_listed_size(f: StagedFile, size: int, read: int) -> None:
    """The file read whole and unchanged must still be the size it had when it was listed."""
    if size != f.size or read != f.size:
        raise _changed(f, f" ({f.size} bytes when listed, {size} now)")


def _read_all(fd: int, limit: int, name: str) -> bytes:
    try:
        data = os.read(fd, limit)
        if len(data) < limit and data:  # a short read of a regular file is rare; keep reading
            parts = [data]
            while more := os.read(fd, limit - sum(len(p) for p in parts)):
                parts.append(more)
            data = b"".join(parts)
    except OSError as exc:
        raise InvalidInput(f"{name}: cannot be read: {exc.strerror or exc}") from exc
    return data


def _raise_staging(exc: OSError, f: StagedFile) -> None:
    if exc.errno in NO_SPACE:
        raise StorageFull(f"staging area is full while copying {f.source}: {exc.strerror}") from exc
    raise StorageError(f"staging: cannot write {f.staged}: {exc.strerror or exc}") from exc


# --------------------------------------------------------------------------- large files


def _buffer(index: int = 0) -> mmap.mmap:
    """One of this thread's page-aligned block buffers (O_DIRECT needs aligned memory)."""
    buffers: list[mmap.mmap] | None = getattr(_local, "buffers", None)
    if buffers is None:
        buffers = _local.buffers = []
    while len(buffers) <= index:
        buffers.append(mmap.mmap(-1, BLOCK))
    return buffers[index]


def _sliced(update: Callable[[memoryview], None], chunk: memoryview) -> None:
    for start in range(0, len(chunk), HASH_SLICE):  # each slice hashed while in the L2 cache
        update(chunk[start : start + HASH_SLICE])


class _Hashing:
    """Every digest of one large file. With ``split``, SHA-512 (the slowest) runs on a second
    thread over the same block while this thread computes the others: one file keeps two cores
    busy (a delivery of one 5 GB video is hashed about twice as fast)."""

    def __init__(self, algorithms: Sequence[str], split: bool) -> None:
        self.algorithms = tuple(algorithms)
        self.split = split and "sha512" in self.algorithms and len(self.algorithms) > 1
        self._side = hashlib.sha512()
        self._main = MultiHasher(
            [a for a in self.algorithms if a != "sha512"] if self.split else self.algorithms
        )
        self._pool = ThreadPoolExecutor(1) if self.split else None
        self._pending: Future[None] | None = None

    @property
    def size(self) -> int:
        return self._main.size

    def update(self, chunk: memoryview) -> None:
        if self._pool is not None:
            self.wait()  # the previous block (in the other buffer) is done
            self._pending = self._pool.submit(_sliced, self._side.update, chunk)
        _sliced(self._main.update, chunk)

    def wait(self) -> None:
        if self._pending is not None:
            self._pending.result()
            self._pending = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def hexdigests(self) -> dict[str, str]:
        self.wait()
        digests = self._main.hexdigests()
        if self.split:
            digests["sha512"] = self._side.hexdigest()
        return {a: digests[a] for a in self.algorithms}


class _Stopped(Exception):
    """The staging of a large file was abandoned (another file failed, or an interruption)."""


def _stage_large(
    f: StagedFile,
    algorithms: Sequence[str],
    split: bool = False,
    stop: threading.Event | None = None,
    on_copied: Callable[[StagedFile, int], None] | None = None,
) -> StagedFile:
    """Copy, hash, flush and read back one large file. The read-back goes to the device (O_DIRECT,
    or after the page cache was told to drop the file) and its crc64nvme must match. ``split``
    spreads the hashing of this one file over two threads; ``stop`` abandons the copy. A file
    that changed while it was copied is copied again."""
    assert f.staged is not None
    stop = stop or threading.Event()
    for attempt in range(READ_ATTEMPTS):
        if attempt:
            try:
                os.unlink(f.staged)  # the copy of a changing file: old and new bytes mixed
            except OSError as exc:
                _raise_staging(exc, f)
            if stop.wait(CHANGED_PAUSE * attempt):
                raise _Stopped(f.source)
        hasher, unchanged, size = _copy_large(f, algorithms, split, stop, on_copied)
        if unchanged:
            break
        log.info("%s changed while it was being read: reading it again", f.source)
    else:
        raise _changed(f)
    f.digests = hasher.hexdigests()
    _check_listed_size(f, size, hasher.size)
    size, crc = _read_back(f.staged)
    if size != hasher.size or crc != f.digests[TRANSPORT_ALGORITHM]:
        raise StorageError(
            f"staging: {f.staged} reads back differently from what was written "
            f"({size} bytes, crc64nvme {crc}; wrote {hasher.size} bytes, "
            f"{f.digests[TRANSPORT_ALGORITHM]})"
        )
    f.durable = True
    return f


def _copy_large(
    f: StagedFile,
    algorithms: Sequence[str],
    split: bool,
    stop: threading.Event,
    on_copied: Callable[[StagedFile, int], None] | None = None,
) -> tuple[_Hashing, bool, int]:
    """One copy of a large file to its staged path, flushed; the hashes of what was read,
    whether the file stayed unchanged (size, modification and change time) while it was read,
    and its size after the read. ``on_copied`` is told half of each block's bytes (progress)."""
    assert f.staged is not None
    hasher = _Hashing(algorithms, split)
    # split: blocks alternate between two buffers, one read while the other is still hashed
    buffers = [_buffer(0), _buffer(1)] if hasher.split else [_buffer(0)]
    views = [memoryview(b) for b in buffers]
    turn = 0
    try:
        fin = os.open(f.source, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        hasher.close()
        raise InvalidInput(f"{f.source}: cannot be read: {exc.strerror or exc}") from exc
    try:
        try:
            before = os.fstat(fin)
        except OSError as exc:
            raise InvalidInput(f"{f.source}: cannot be read: {exc.strerror or exc}") from exc
        out, direct = _create(f)
        try:
            written = 0
            while True:
                buf = buffers[turn]
                try:
                    n = _readv(fin, [buf])
                except OSError as exc:
                    raise InvalidInput(
                        f"{f.source}: cannot be read: {exc.strerror or exc}"
                    ) from exc
                if not n:
                    break
                if stop.is_set():
                    raise _Stopped(f.source)
                chunk = views[turn][:n]
                turn = (turn + 1) % len(buffers)
                hasher.update(chunk)
                if direct and n % ALIGN:
                    direct = _buffered(out)  # the unaligned tail of the file
                try:
                    while chunk:
                        sent = os.write(out, chunk)
                        chunk = chunk[sent:]
                        if chunk and direct:
                            direct = _buffered(out)  # a short direct write: finish buffered
                except OSError as exc:
                    _raise_staging(exc, f)
                if not direct and (written + n) // WRITEBACK_EVERY != written // WRITEBACK_EVERY:
                    start_writeback(out, 0, 0)
                written += n
                if on_copied is not None:
                    on_copied(f, n // 2)
            try:
                after = os.fstat(fin)
            except OSError as exc:
                raise InvalidInput(f"{f.source}: cannot be read: {exc.strerror or exc}") from exc
            unchanged = _unchanged(before, after)
            if unchanged:  # a copy of a file that changed meanwhile is not kept: no need to flush
                try:
                    os.fdatasync(out)
                except OSError as exc:
                    _raise_staging(exc, f)
        finally:
            os.close(out)
    finally:
        os.close(fin)
        hasher.wait()
        hasher.close()
    return hasher, unchanged, after.st_size


def _create(f: StagedFile) -> tuple[int, bool]:
    """Open the staged file for writing, past the page cache where the filesystem allows."""
    assert f.staged is not None
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    if _O_DIRECT:
        try:
            return os.open(f.staged, flags | _O_DIRECT, 0o644), True
        except OSError as exc:
            if exc.errno != errno.EINVAL:  # EINVAL: this filesystem has no direct I/O (tmpfs)
                _raise_staging(exc, f)
    try:
        return os.open(f.staged, flags, 0o644), False
    except OSError as exc:
        _raise_staging(exc, f)
        raise  # unreachable: _raise_staging raises


def _buffered(fd: int) -> bool:
    """Switch a file descriptor from direct to buffered I/O; returns the new 'direct' state."""
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~_O_DIRECT)
    return False


def _read_back(path: str) -> tuple[int, str]:
    """Size and crc64nvme of a flushed file, read from the device, not from the page cache."""
    from awscrt import checksums

    buf = _buffer()
    view = memoryview(buf)
    crc = 0
    size = 0
    fd = -1
    if _O_DIRECT:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | _O_DIRECT)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise StorageError(f"staging: cannot read back {path}: {exc.strerror}") from exc
    if fd < 0:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        drop_cache(fd)
    try:
        while n := os.readv(fd, [buf]):
            crc = checksums.crc64nvme(view[:n], crc)
            size += n
    except OSError as exc:
        raise StorageError(f"staging: cannot read back {path}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    return size, f"{crc:016x}"
