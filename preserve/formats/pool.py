"""Many files: this process plus a persistent pool of spawned helper processes.

siegfried (pygfried) holds the GIL for the whole of each call, so threads cannot share its work;
helper processes can. :func:`identify_files` lets this process identify chunks too (from the end
of the list) while the helpers take chunks from the front, so a cold pool costs no waiting: the
helpers join in when they are up. :func:`submit_identification` hands a batch to a helper and
returns at once. The pool is kept for later calls and shut down at exit; a helper leaves as soon
as its parent is gone, and work a dead helper held is done again in this process.

Results travel back in a compact wire form (plain tuples, the first match's fields not
repeated), and paths travel as strings: little to pickle.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from preserve.errors import InvalidInput
from preserve.formats.identify import Identifier, raise_first
from preserve.formats.mediatypes import UNKNOWN
from preserve.values import FormatInfo, FormatMatch

PARALLEL_THRESHOLD = 200  # below this, starting processes costs more than it saves
_CHUNK = 64  # at most this many files per task sent to a helper process

# One outcome on the wire: an error message, or
# (matches, warnings, mime, mime_source, charset, magic_description, tool, signature_version)
# with each match a tuple of FormatMatch's fields; puid, format name and version and basis are
# the first match's (or UNKNOWN and "" without one), so they are not sent twice.
_Wire = str | tuple[Any, ...]

_local = threading.local()
_pool_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_pool_size = 0

# the Identifiers of a helper process, by ``describe`` (set up by the pool initializer)
_WORKER: dict[bool, Identifier] = {}


def _local_identifier(describe: bool = False) -> Identifier:
    """This thread's Identifier (created once: loading the signatures takes ~20 ms)."""
    name = "describing" if describe else "identifier"
    identifier: Identifier | None = getattr(_local, name, None)
    if identifier is None:
        identifier = Identifier(describe=describe)
        setattr(_local, name, identifier)
    return identifier


def _exit_with_parent(parent: int) -> None:
    """A helper's queue keeps its pipe open, so it would outlive a killed ingest (kill -9):
    poll the parent and leave as soon as it is gone."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def _init_worker() -> None:
    # Ctrl-C reaches the whole process group: the parent handles it (and stops the pool); a
    # helper ignores it instead of printing a KeyboardInterrupt traceback. SIGINT was blocked
    # while the parent spawned us (see _spawning), so none arrived during start-up.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    # the pid recorded when the ingest spawned us: it may have died before this runs
    parent = multiprocessing.parent_process()
    watchdog = threading.Thread(
        target=_exit_with_parent,
        args=(parent.pid if parent is not None else os.getppid(),),
        name="parent-watchdog",
        daemon=True,
    )
    watchdog.start()
    identifier = _WORKER[False] = Identifier()
    # siegfried's first scan in a process takes ~0.15 s (lazy set-up): pay it during start-up
    identifier.identify_outcomes([Path(__file__)])


@contextmanager
def _spawning() -> Iterator[None]:
    """Block SIGINT and SIGTERM in this thread while it may spawn helpers (ProcessPoolExecutor
    starts them, and its manager thread, inside ``submit``): they inherit the mask, so an early
    Ctrl-C cannot break their start-up, and a signal cannot leave the pool half started (its
    shutdown at exit then failed with "cannot join thread before it is started"). A signal
    that arrives meanwhile is delivered when the mask is restored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _ready() -> bool:
    return bool(_WORKER)


def _identify_chunk(names: list[str], describe: bool = False) -> list[_Wire]:
    identifier = _WORKER.get(describe)
    if identifier is None:
        identifier = _WORKER[describe] = Identifier(describe=describe)
    return [to_wire(o) for o in identifier.identify_outcomes([Path(n) for n in names])]


def to_wire(outcome: FormatInfo | InvalidInput) -> _Wire:
    """The compact form of one outcome, cheap to pickle."""
    if isinstance(outcome, InvalidInput):
        return str(outcome)
    i = outcome
    matches = tuple(
        (m.puid, m.format_name, m.format_version, m.mime, m.basis, m.warning) for m in i.matches
    )
    return (
        matches,
        i.warnings,
        i.mime,
        i.mime_source,
        i.charset,
        i.magic_description,
        i.tool,
        i.signature_version,
    )


def from_wires(wires: list[_Wire]) -> list[FormatInfo | InvalidInput]:
    """The outcomes of a chunk. Files of one format in one chunk usually have equal wire forms:
    they share one (immutable) FormatInfo, built once."""
    built: dict[_Wire, FormatInfo | InvalidInput] = {}
    out: list[FormatInfo | InvalidInput] = []
    for wire in wires:
        if isinstance(wire, str):  # an error: its own exception object
            out.append(InvalidInput(wire))
            continue
        outcome = built.get(wire)
        if outcome is None:
            outcome = built[wire] = from_wire(wire)
        out.append(outcome)
    return out


def from_wire(wire: _Wire) -> FormatInfo | InvalidInput:
    """The outcome :func:`to_wire` encoded."""
    if isinstance(wire, str):
        return InvalidInput(wire)
    raw, warnings, mime, source, charset, description, tool, signature = wire
    matches = tuple(FormatMatch(*m) for m in raw)
    first = matches[0] if matches else None
    return FormatInfo(
        puid=first.puid if first else UNKNOWN,
        format_name=first.format_name if first else "",
        format_version=first.format_version if first else "",
        basis=first.basis if first else "",
        warnings=warnings,
        matches=matches,
        mime=mime,
        tool=tool,
        signature_version=signature,
        mime_source=source,
        charset=charset,
        magic_description=description,
    )


def start_pool(workers: int = 2, *, helpers: int | None = None) -> None:
    """Start the helper processes for ``identify_files(paths, workers=workers)`` now.

    Optional: :func:`identify_files` starts them itself when it first needs them. Calling this
    early (e.g. at the start of an ingest, before files are hashed and copied) lets their start-up
    (a spawned interpreter importing siegfried and libmagic, ~0.2-1 s) overlap that other work.
    Returns at once; the pool is reused by every later call and shut down at exit (or by
    :func:`shutdown_pool`). ``workers`` counts the calling process: ``workers=2`` starts one
    helper; ``workers <= 1`` starts nothing. ``helpers`` asks for that many helpers instead: a
    caller whose own work mostly waits on the disk (ingest) keeps every core busy with one
    helper per core.
    """
    pool = _get_pool(workers, helpers)
    if pool is not None:
        with _spawning():
            for _ in range(_pool_size):  # one task per helper: each submit spawns one process
                pool.submit(_ready)


def shutdown_pool() -> None:
    """Stop the helper processes (they are started again when needed)."""
    global _pool, _pool_size
    with _pool_lock:
        pool, _pool, _pool_size = _pool, None, 0
    if pool is not None:
        try:
            pool.shutdown(wait=True, cancel_futures=True)
        except RuntimeError:  # a pool whose start was cut short: nothing of it runs
            pool.shutdown(wait=False, cancel_futures=True)


atexit.register(shutdown_pool)


def _helpers(workers: int) -> int:
    return max(0, min(workers, os.cpu_count() or workers) - 1)


def _get_pool(workers: int, helpers: int | None = None) -> ProcessPoolExecutor | None:
    """The persistent pool, with at least ``workers - 1`` (or ``helpers``) helpers; None when
    none is needed."""
    global _pool, _pool_size
    helpers = _helpers(workers) if helpers is None else max(0, helpers)
    if helpers == 0:
        return None
    old: ProcessPoolExecutor | None = None
    with _pool_lock:
        if _pool is None or _pool_size < helpers:
            old = _pool
            _pool = ProcessPoolExecutor(
                max_workers=helpers, mp_context=get_context("spawn"), initializer=_init_worker
            )
            _pool_size = helpers
        pool = _pool
    if old is not None:
        old.shutdown(wait=False)  # calls already running on it finish
    return pool


def _drop_pool(pool: ProcessPoolExecutor) -> None:
    global _pool, _pool_size
    with _pool_lock:
        if _pool is pool:
            _pool, _pool_size = None, 0
    pool.shutdown(wait=False, cancel_futures=True)


def identify_files(
    paths: Sequence[Path], *, workers: int = 1, describe: bool = False
) -> list[FormatInfo]:
    """Identify ``paths``; results in the same order.

    With ``workers > 1`` and at least :data:`PARALLEL_THRESHOLD` files, this process and
    ``workers - 1`` helper processes (spawned once, kept for later calls: see :func:`start_pool`)
    share the work in chunks; otherwise everything runs in this process. Raises the
    :class:`InvalidInput` of the first path (in order) that cannot be identified.
    ``describe=True`` adds libmagic's description to every result (one more libmagic call each).
    """
    paths = [Path(p) for p in paths]
    if not paths:
        return []
    pool = _get_pool(workers) if len(paths) >= PARALLEL_THRESHOLD else None
    if pool is None:
        return _local_identifier(describe).identify_many(paths)
    return raise_first(_shared(paths, pool, _pool_size, describe))


def _shared(
    paths: list[Path], pool: ProcessPoolExecutor, helpers: int, describe: bool
) -> list[FormatInfo | InvalidInput]:
    """Helpers take chunks from the front, this process from the back, until they meet."""
    size = max(8, min(_CHUNK, len(paths) // ((helpers + 1) * 8)))
    chunks = [paths[i : i + size] for i in range(0, len(paths), size)]
    done: list[list[FormatInfo | InvalidInput] | None] = [None] * len(chunks)
    running: dict[int, Future[list[_Wire]]] = {}
    front, back = 0, len(chunks) - 1
    identifier = _local_identifier(describe)
    broken = False
    while front <= back:
        # keep every helper fed with up to two chunks queued behind the one it works on
        while not broken and front <= back and _unfinished(running) < helpers * 3:
            names = [os.fspath(p) for p in chunks[front]]
            try:
                with _spawning():
                    running[front] = pool.submit(_identify_chunk, names, describe)
            except (BrokenProcessPool, RuntimeError):  # the pool died or was shut down
                broken = True
                break
            front += 1
        if front <= back:
            done[back] = identifier.identify_outcomes(chunks[back])
            back -= 1
    for index, future in running.items():
        try:
            done[index] = from_wires(future.result())
        except BrokenProcessPool:  # a helper died (killed, out of memory): do it here
            broken = True
            done[index] = identifier.identify_outcomes(chunks[index])
    if broken:
        _drop_pool(pool)
    return [outcome for part in done for outcome in part or ()]


class PendingIdentification:
    """Identification of some files under way in a helper process (see
    :func:`submit_identification`); :meth:`result` waits for it, or does it here when no helper
    has started on it yet."""

    def __init__(
        self, paths: list[str], future: Future[list[_Wire]] | None, describe: bool = False
    ) -> None:
        self._paths = paths
        self._future = future
        self._describe = describe

    def cancel(self) -> None:
        """The results are no longer wanted (a helper already on it finishes in vain)."""
        if self._future is not None:
            self._future.cancel()

    def result(self) -> list[FormatInfo]:
        """The results in the order of the paths; raises the first path's :class:`InvalidInput`."""
        future = self._future
        if future is None or future.cancel():  # not started yet: this process is free now
            return _local_identifier(self._describe).identify_many(self._local_paths())
        try:
            wires = future.result()
        except BrokenProcessPool:  # a helper died (killed, out of memory): do it here
            return _local_identifier(self._describe).identify_many(self._local_paths())
        return raise_first(from_wires(wires))

    def _local_paths(self) -> list[Path]:
        return [Path(p) for p in self._paths]


def submit_identification(
    paths: Sequence[str | os.PathLike[str]], *, workers: int = 2, describe: bool = False
) -> PendingIdentification:
    """Start identifying ``paths`` in a helper process and return at once, so identification
    overlaps whatever this process does next (the ingest hashes and stores meanwhile).

    Helpers are those of :func:`start_pool`; with ``workers <= 1`` (or one core) nothing runs
    in the background and :meth:`PendingIdentification.result` does the work itself. Batches of
    some 64 files keep the cost per call low.
    """
    names = [os.fspath(p) for p in paths]
    pool = _get_pool(workers)
    future: Future[list[_Wire]] | None = None
    if pool is not None and names:
        try:
            with _spawning():
                future = pool.submit(_identify_chunk, names, describe)
        except (BrokenProcessPool, RuntimeError):  # the pool died or was shut down
            _drop_pool(pool)
    return PendingIdentification(names, future, describe)


def _unfinished(running: dict[int, Future[list[_Wire]]]) -> int:
    return sum(1 for f in running.values() if not f.done())
