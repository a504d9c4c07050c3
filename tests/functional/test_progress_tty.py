"""On a terminal, ingest and fixity draw a progress bar with files, bytes and MB/s."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from tests.functional.cli import Repo

REPO_ROOT = Path(__file__).resolve().parents[2]


def _run_on_a_terminal(repo: Repo, *args: str | Path) -> tuple[int, str]:
    primary, secondary = pty.openpty()
    env = {**os.environ, **repo.env, "COLUMNS": "160", "TERM": "xterm"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "preserve.cli", *map(str, args)],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=env,
        cwd=REPO_ROOT,
        close_fds=True,
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(primary, 65536)
        except OSError:  # EIO once the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(primary)
    return proc.wait(timeout=120), b"".join(chunks).decode("utf-8", "replace")


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    repo = Repo(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'c.sqlite3'}")
    repo.run("init")
    repo.run("collections", "add", "photos")
    d = tmp_path / "d"
    d.mkdir()
    for i in range(5):
        (d / f"f{i}.bin").write_bytes(os.urandom(500_000))
    code, screen = _run_on_a_terminal(repo, "ingest", d, "--collection", "photos")
    assert code == 0, screen
    assert "hashing and copying" in screen
    assert "5/5 files" in screen
    assert "MB/s" in screen
    assert "storing payload on default" in screen
    code, screen = _run_on_a_terminal(repo, "fixity", "--all")
    assert code == 0, screen
    assert "checking" in screen and "MB/s" in screen


def test_no_progress_bar_when_not_a_terminal(tmp_path: Path) -> None:
    repo = Repo(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'c.sqlite3'}")
    repo.run("init")
    repo.run("collections", "add", "photos")
    (tmp_path / "a.txt").write_text("a")
    result = repo.run("ingest", tmp_path / "a.txt", "--collection", "photos")
    assert "MB/s" not in result.stderr and "MB/s" not in result.stdout
