"""Filesystem durability primitives the standard library lacks (Linux system calls through libc).

``start_writeback`` lets the disk write a file's pages while the next chunk is being hashed, so
the final sync of a large ingest does not start from gigabytes of dirty pages; ``syncfs``
flushes one filesystem instead of all of them; ``drop_cache`` makes a re-read come from the
device; ``prefetch`` and ``read_sequentially`` let the device read ahead while the previous
chunk is hashed. Each degrades to a portable equivalent (or to nothing: they are optimisations
or advice) where the call is missing.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
from contextlib import suppress
from typing import Any

log = logging.getLogger(__name__)

#: errno values that mean "no room left": full disk, quota, file size limit
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})

_SYNC_FILE_RANGE_WRITE = 2  # <linux/fs.h>: start write-out of dirty pages, do not wait


@functools.cache
def _libc_calls() -> tuple[Any, Any]:
    """libc's ``sync_file_range`` and ``syncfs`` (None where missing), loaded on first use:
    ctypes and its library search cost more than a short command takes to start."""
    import ctypes

    libc: ctypes.CDLL | None
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        import ctypes.util

        name = ctypes.util.find_library("c")
        try:
            libc = ctypes.CDLL(name, use_errno=True) if name else None
        except OSError:
            libc = None
    sync_file_range = getattr(libc, "sync_file_range", None)
    if sync_file_range is not None:
        sync_file_range.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    return sync_file_range, getattr(libc, "syncfs", None)


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing ``length`` bytes at ``offset`` to the device (async)."""
    sync_file_range = _libc_calls()[0]
    if sync_file_range is not None:
        sync_file_range(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


def syncfs(path: str) -> None:
    """Flush everything written to the filesystem holding ``path`` (``sync`` where unknown)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        call = _libc_calls()[1]
        if call is not None and call(fd) == 0:
            return
        os.sync()
    finally:
        os.close(fd)


_ADVISE = getattr(os, "posix_fadvise", None)


def drop_cache(fd: int, offset: int = 0, length: int = 0) -> None:
    """Ask the kernel to forget the file's clean pages (``length`` 0: to the end of the file), so
    a re-read comes from the device. Pages not yet written back (dirty) stay."""
    if _ADVISE is not None:
        with suppress(OSError):  # advice only
            _ADVISE(fd, offset, length, os.POSIX_FADV_DONTNEED)


def prefetch(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start reading ``length`` bytes at ``offset`` now (it does not wait)."""
    if _ADVISE is not None:
        with suppress(OSError):
            _ADVISE(fd, offset, length, os.POSIX_FADV_WILLNEED)


def read_sequentially(fd: int) -> None:
    """Tell the kernel the file will be read from start to end (a larger read-ahead window)."""
    if _ADVISE is not None:
        with suppress(OSError):
            _ADVISE(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
