"""Ctrl-C and SIGTERM are held during critical steps (a commit, a rollback, an undo) and raised
right after them; outside, they stop the command at once."""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from preserve import interrupts
from preserve.interrupts import Terminated, critical


@pytest.fixture
def installed() -> Iterator[None]:
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    interrupts.install()
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def test_a_signal_outside_a_critical_step_stops_at_once(installed: None) -> None:
    with pytest.raises(Terminated):
        os.kill(os.getpid(), signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt) as caught:
        os.kill(os.getpid(), signal.SIGINT)
    assert not isinstance(caught.value, Terminated)


def test_a_signal_inside_is_held_until_the_outermost_critical_step_ends(installed: None) -> None:
    done: list[str] = []
    with pytest.raises(Terminated), critical():
        with critical():
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGINT)  # a second signal: one exception
            done.append("inner")
        done.append("outer")  # still inside the outer section
    assert done == ["inner", "outer"]
    with critical():  # nothing is left pending
        pass


def test_without_install_critical_changes_nothing() -> None:
    with critical():
        value = 1
    assert value == 1


def test_a_signal_during_an_import_is_raised_once_the_import_is_over(
    installed: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Raised inside importlib's bookkeeping, the exception could leave the module's import lock
    held: another thread importing the module would wait for ever (a SIGTERM'ed ingest hung so,
    its main thread joining a staging thread stuck in ``from awscrt import checksums``)."""
    (tmp_path / "slow_module_for_interrupts.py").write_text(
        "import os, signal, time\n"
        "os.kill(os.getpid(), signal.SIGTERM)  # arrives while this module is being imported\n"
        "time.sleep(0.2)\n"
        "LOADED = True\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(Terminated):
        import slow_module_for_interrupts  # noqa: F401

        time.sleep(5)  # the signal comes back within milliseconds of the import's end
    module = sys.modules["slow_module_for_interrupts"]
    assert module.LOADED
    # another thread imports it at once: no lock was left held
    imported: list[object] = []
    worker = threading.Thread(
        target=lambda: imported.append(importlib.import_module("slow_module_for_interrupts"))
    )
    worker.start()
    worker.join(timeout=5)
    assert imported == [module]
    del sys.modules["slow_module_for_interrupts"]
