"""Filesystem durability primitives the standard library lacks (Linux system calls through libc).

``start_writeback`` lets the disk write a file's pages while the next chunk is being hashed, so
the final sync of a large ingest does not start from gigabytes of dirty pages; ``syncfs``
flushes one filesystem instead of all of them; ``drop_cache`` makes a re-read come from the
device. Each degrades to a portable equivalent (or to nothing: they are optimisations or advice)
where the call is missing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
from contextlib import suppress

log = logging.getLogger(__name__)

#: errno values that mean "no room left": full disk, quota, file size limit
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})

_SYNC_FILE_RANGE_WRITE = 2  # <linux/fs.h>: start write-out of dirty pages, do not wait


def _load_libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


_LIBC = _load_libc()
_SYNC_FILE_RANGE = getattr(_LIBC, "sync_file_range", None)
_SYNCFS = getattr(_LIBC, "syncfs", None)
if _SYNC_FILE_RANGE is not None:
    _SYNC_FILE_RANGE.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing ``length`` bytes at ``offset`` to the device (async)."""
    if _SYNC_FILE_RANGE is not None:
        _SYNC_FILE_RANGE(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


def syncfs(path: str) -> None:
    """Flush everything written to the filesystem holding ``path`` (``sync`` where unknown)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _SYNCFS is not None and _SYNCFS(fd) == 0:
            return
        os.sync()
    finally:
        os.close(fd)


def drop_cache(fd: int) -> None:
    """Ask the kernel to forget the file's clean pages, so a re-read comes from the device."""
    advise = getattr(os, "posix_fadvise", None)
    if advise is not None:
        with suppress(OSError):  # advice only
            advise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
