"""Process liveness by pid and start time (preserve/processes.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from preserve import processes
from preserve.processes import process_alive, process_start_time

linux_only = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@linux_only
def test_start_time_of_this_process_is_in_the_past_and_stable() -> None:
    started = process_start_time(os.getpid())
    assert started is not None
    assert started <= time.time()
    again = process_start_time(os.getpid())
    assert again is not None
    assert abs(again - started) <= processes.START_TIME_TOLERANCE


@linux_only
def test_a_child_started_later_has_a_later_start_time() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    ) as child:
        try:
            mine = process_start_time(os.getpid())
            theirs = process_start_time(child.pid)
            assert mine is not None and theirs is not None
            assert theirs >= mine - processes.START_TIME_TOLERANCE
        finally:
            child.communicate()


def test_no_start_time_for_a_process_that_is_gone() -> None:
    assert process_start_time(_dead_pid()) is None
    assert process_start_time(0) is None
    assert process_start_time(-1) is None


def test_this_process_is_alive() -> None:
    assert process_alive(os.getpid(), process_start_time(os.getpid()))
    assert process_alive(os.getpid(), None)


def test_a_reaped_process_is_gone() -> None:
    pid = _dead_pid()
    assert not process_alive(pid, None)
    assert not process_alive(pid, time.time())


@linux_only
def test_a_reused_pid_is_not_the_owner() -> None:
    """A live process with the recorded pid but another start time is someone else."""
    started = process_start_time(os.getpid())
    assert started is not None
    assert not process_alive(os.getpid(), started - 3600)
    assert not process_alive(os.getpid(), started + 3600)


@linux_only
def test_a_zombie_is_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        # Not reaped yet: wait until the kernel shows it as a zombie.
        for _ in range(1000):
            state = Path(f"/proc/{child.pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
            if state == b"Z":
                break
            time.sleep(0.01)
        assert state == b"Z"
        assert not process_alive(child.pid, None)
    finally:
        child.wait()


def test_pid_zero_and_negative_pids_are_never_alive() -> None:
    assert not process_alive(0, None)
    assert not process_alive(-1, None)


def test_without_proc_the_pid_decides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(processes, "PROC", tmp_path)  # a platform with no /proc
    assert process_start_time(os.getpid()) is None
    assert process_alive(os.getpid(), 12345.0)  # start time unknown: err towards alive
    assert not process_alive(_dead_pid(), 12345.0)


def test_a_command_name_with_spaces_and_parentheses(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "stat").write_text("cpu 1 2 3\nbtime 1000\n")
    (tmp_path / "4242").mkdir()
    rest = " ".join(["S"] + ["0"] * 18 + [str(50 * os.sysconf("SC_CLK_TCK"))] + ["0"] * 30)
    (tmp_path / "4242" / "stat").write_text(f"4242 (a) b (c)) {rest}\n")
    monkeypatch.setattr(processes, "PROC", tmp_path)
    assert process_start_time(4242) == 1050.0
