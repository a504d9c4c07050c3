"""Ctrl-C and SIGTERM are held during critical steps (a commit, a rollback, an undo) and raised
right after them; outside, they stop the command at once."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

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
