"""Ctrl-C and SIGTERM stop a command, but never in the middle of a critical step.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be when SIGINT arrives.
Most places are fine: the step under way is rolled back and what it wrote is removed. A few are
not: halfway through a database commit, a rollback or the closing of a connection, or while a
failed step's leftovers are being removed. :func:`critical` marks those: a signal arriving inside
is held and raised as soon as the outermost critical section ends.

:func:`install` (called by the command line) makes SIGINT raise ``KeyboardInterrupt`` and SIGTERM
raise :class:`Terminated` (systemd, ``docker stop`` and Kubernetes send SIGTERM). Without it, as in
a library or under a test runner, :func:`critical` only counts and nothing changes.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_local = threading.local()
_pending: list[int] = []  # signals held while the main thread was in a critical section


class Terminated(KeyboardInterrupt):
    """SIGTERM stops a command the way Ctrl-C does: the step under way is rolled back, what it
    wrote is removed, and the exit status is 143."""


def _raise_for(signum: int) -> None:
    if signum == signal.SIGTERM:
        raise Terminated()
    raise KeyboardInterrupt()


#: How soon a signal that arrived during an import is delivered again (seconds).
_IMPORT_RETRY = 0.01


def _importing(frame: Any) -> bool:
    """Whether ``frame`` or a caller runs in importlib's bootstrap (an import is under way)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def _handler(signum: int, frame: Any) -> None:
    if getattr(_local, "depth", 0) > 0:
        _pending.append(signum)  # raised when the critical section ends
        return
    if _importing(frame):
        # An exception raised inside importlib's own bookkeeping can leave a module's import
        # lock held for ever: a worker thread importing the same module then waits for it,
        # and the main thread waits for the worker (a SIGTERM'ed ingest never ended). So the
        # signal is sent again a moment later, until it arrives outside any import.
        timer = threading.Timer(
            _IMPORT_RETRY, signal.pthread_kill, (threading.main_thread().ident, signum)
        )
        timer.daemon = True
        timer.start()
        return
    _raise_for(signum)


def install() -> None:
    """Route SIGINT and SIGTERM through :func:`critical` (main thread only)."""
    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)


@contextmanager
def critical() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block has finished (nests; cheap)."""
    depth = getattr(_local, "depth", 0)
    _local.depth = depth + 1
    try:
        yield
    finally:
        _local.depth = depth
        if depth == 0 and _pending and threading.current_thread() is threading.main_thread():
            signum = _pending[0]
            _pending.clear()
            _raise_for(signum)
