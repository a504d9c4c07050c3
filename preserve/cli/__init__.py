"""The ``preserve`` command line: a thin adapter that turns arguments into one service call and its
result or error into text, JSON and an exit code. Errors are one line on stderr, never a traceback.

``base`` holds the command group and its error handling, ``output`` and ``progress`` what the
commands print; each other module holds the commands of one subject.
"""

# ruff: noqa: E402 - the signal handlers below are set before the slow imports
from __future__ import annotations

import _signal  # the C module, loaded at once (``signal`` first builds its enums)
import os
import sys


def _interrupted_while_starting(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # quietly: nothing has been done yet


if sys.argv and (sys.argv[0] == "-m" or os.path.basename(sys.argv[0]) == "preserve"):
    # Ctrl-C or SIGTERM while the modules below load (a few hundred milliseconds) ends the
    # command quietly instead of with a traceback from inside an import; main() hands the
    # signals to the command's own handling once it runs. (Before this line only the
    # interpreter's own start-up runs, where nothing of preserve can be interrupted.)
    # ``python -m preserve.cli`` imports this package while sys.argv[0] is still "-m".
    _signal.signal(_signal.SIGINT, _interrupted_while_starting)
    _signal.signal(_signal.SIGTERM, _interrupted_while_starting)

import signal
from collections.abc import Sequence

from preserve.cli import (  # noqa: F401 (commands)
    admin,
    agreements,
    alerts,
    bags,
    catalogue,
    collections,
    compliance,
    derivatives,
    disposal,
    exits,
    fixity,
    holds,
    ingest,
    jobs,
    locations,
    organisations,
    packages,
    restore_test,
    retention,
    serve,
    settings,
    tokens,
    users,
    versions,
    workers,
)
from preserve.cli.base import cli

__all__ = ["cli", "main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point."""
    from preserve import interrupts

    # Ctrl-C: KeyboardInterrupt, SIGTERM: Terminated, both held during critical steps
    interrupts.install()
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="preserve")
    finally:
        # the command is over (its outcome printed, its exit code chosen): a Ctrl-C now would
        # only print a traceback from the interpreter's clean-up, and SIGTERM ends it at once
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, _exit_now)


def _exit_now(signum: int, frame: object) -> None:
    os._exit(128 + signum)
