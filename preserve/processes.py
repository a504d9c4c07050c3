"""Whether a process that left work behind (an ingest, an export) is still running.

A process id alone is not enough: once the owner is gone its pid can be given to an unrelated
process, which would then look like the owner for ever. So an owner is recorded as a pid and
the start time of that process, and it is alive only while a process with that pid *and* that
start time exists.

On Linux the start time is read from ``/proc/<pid>/stat`` (field 22, clock ticks after boot)
plus the boot time in ``/proc/stat`` (``btime``), giving seconds since the epoch. Elsewhere it
is unknown (``None``) and liveness falls back to whether the pid exists.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")

# The boot time the kernel reports is whole seconds and is known to move by one second between
# reads on some systems; two readings of the same process's start time can differ that much.
# A pid reused within this window of its first owner's start is not a practical concern.
START_TIME_TOLERANCE = 1.5


def _boot_time() -> float | None:
    try:
        for line in (PROC / "stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (field 3 onwards)."""
    try:
        raw = (PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may itself hold spaces or ')'.
    end = raw.rfind(b")")
    if end < 0:
        return None
    return raw[end + 1 :].decode("ascii", "replace").split()


def process_start_time(pid: int) -> float | None:
    """When process ``pid`` started, in seconds since the epoch; ``None`` when there is no
    such process or the platform does not tell."""
    if pid <= 0:
        return None
    fields = _stat_fields(pid)
    boot = _boot_time()
    if fields is None or boot is None or len(fields) < 20:
        return None
    try:
        ticks = int(fields[19])  # field 22: starttime
        hertz = os.sysconf("SC_CLK_TCK")
    except (ValueError, OSError):
        return None
    return boot + ticks / hertz


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def process_alive(pid: int, start_time: float | None) -> bool:
    """True while the process ``pid`` that started at ``start_time`` (as returned by
    :func:`process_start_time`) still runs on this host.

    A process with that pid but another start time is a different process (the pid was
    reused), so the owner is gone. A zombie (exited, not yet reaped) is gone too. With no
    recorded start time, or on a platform that cannot tell start times, the pid's existence
    decides: that errs towards "alive", which only ever delays a cleanup.
    """
    if pid <= 0:  # 0 and negative pids name process groups for os.kill
        return False
    fields = _stat_fields(pid)
    if fields is not None:
        if fields and fields[0] in ("Z", "X"):  # zombie or dead
            return False
        if start_time is not None:
            current = process_start_time(pid)
            if current is not None:
                return abs(current - start_time) <= START_TIME_TOLERANCE
        return True
    # No /proc entry: not Linux, the pid is gone, or /proc hides other users' processes
    # (hidepid); the kernel's answer to a null signal tells these apart.
    return _pid_exists(pid)
