"""Output piped into a reader that leaves early (`preserve packages list | head`) ends quietly."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.functional.cli import Repo


def test_a_closed_pipe_ends_the_command_quietly_with_141(repo: Repo) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line is written
    try:
        result = subprocess.run(
            [sys.executable, "-m", "preserve.cli", "collections", "list"],
            env={**os.environ, **repo.env},
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert result.stderr == ""
    assert result.returncode == 141
