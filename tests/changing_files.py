"""A delivery file rewritten in place while ingest reads it, deterministically (no timing): the
read function staging uses for the file is wrapped so that each read attempt reads the first
bytes, then the file is rewritten (same size, other bytes, a later modification time), then the
rest is read. Without a check the staged copy mixes old and new bytes."""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import pytest

from preserve.ingest import stage

HEAD = 64 << 10  # bytes read before the rewrite (a multiple of the O_DIRECT alignment)


class Rewriter:
    """Rewrites a file in place as an editor saving over it would: the same size, other bytes
    and a later modification time (one second later each time, so the change shows whatever the
    filesystem's timestamp granularity)."""

    def __init__(self, path: str | Path, times: int) -> None:
        self.path = str(path)
        self.times = times  # how many read attempts see a change
        self.count = 0
        self.content = Path(path).read_bytes()

    def rewrite(self) -> None:
        if self.count >= self.times:
            return
        self.count += 1
        self.content = os.urandom(len(self.content))
        with open(self.path, "r+b") as fh:
            fh.write(self.content)
        st = os.stat(self.path)
        os.utime(self.path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def rewrite_during_read(monkeypatch: pytest.MonkeyPatch, path: str | Path, times: int) -> Rewriter:
    """The first ``times`` read attempts of ``path`` see it rewritten part way; its final content
    is ``Rewriter.content``. No pause before a changed file is read again."""
    rewriter = Rewriter(path, times)
    size = len(rewriter.content)
    monkeypatch.setattr(stage, "CHANGED_PAUSE", 0.0)
    if size <= stage.SMALL_FILE:
        read_all = stage._read_all

        def reading_small(fd: int, limit: int, name: str) -> bytes:
            if name != rewriter.path:
                return read_all(fd, limit, name)
            head = os.read(fd, min(HEAD, size // 2))
            rewriter.rewrite()
            return head + read_all(fd, limit - len(head), name)

        monkeypatch.setattr(stage, "_read_all", reading_small)
    else:
        readv = stage._readv

        def reading_large(fd: int, buffers: list[mmap.mmap]) -> int:
            if os.lseek(fd, 0, os.SEEK_CUR) != 0 or not os.path.samestat(
                os.fstat(fd), os.stat(rewriter.path)
            ):  # not the first read of an attempt on this file
                return readv(fd, buffers)
            n = readv(fd, [memoryview(buffers[0])[:HEAD]])
            rewriter.rewrite()
            return n

        monkeypatch.setattr(stage, "_readv", reading_large)
    return rewriter
