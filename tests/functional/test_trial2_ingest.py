"""Second new-user trial (issue 8): what an ingest tells, and leaves, as each delivery is done.

- an interrupted multi-delivery ingest has already shown (and logged) each finished delivery's
  warnings and ``stored`` line; with --json it still prints the document of what was done;
- a name warning says its path once;
- a local location keeps no empty temporary folder after a run.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from tests.functional.cli import Repo
from tests.functional.test_progress_tty import SLOW_DISK, _run_on_a_terminal, frames

SYSTEM_FILE = "an operating-system file, not content; kept as payload"


def _repo(tmp_path: Path, database_url: str) -> Repo:
    repo = Repo(home=tmp_path / "home", database_url=database_url)
    repo.run("init")
    repo.run("collections", "add", "photos")
    return repo


def _two_deliveries(tmp_path: Path) -> tuple[Path, Path]:
    """``first`` (a scan and a Thumbs.db: one warning) and ``second`` (six files, slow to
    store under SLOW_DISK)."""
    first = tmp_path / "first"
    first.mkdir()
    (first / "scan.bin").write_bytes(os.urandom(1000))
    (first / "Thumbs.db").write_bytes(b"\0" * 10)
    second = tmp_path / "second"
    second.mkdir()
    for i in range(6):
        (second / f"f{i}.bin").write_bytes(os.urandom(100_000))
    return first, second


@pytest.mark.parametrize(
    ("signum", "word", "status"),
    [(signal.SIGINT, "interrupted", 130), (signal.SIGTERM, "terminated", 143)],
)
def test_an_interrupted_ingest_has_shown_what_it_stored_before(
    tmp_path: Path, signum: int, word: str, status: int
) -> None:
    repo = _repo(tmp_path, f"sqlite:///{tmp_path / 'c.sqlite3'}")
    first, second = _two_deliveries(tmp_path)
    log = tmp_path / "preserve.log"
    code, screen, _ = _run_on_a_terminal(
        repo,
        "--log-file",
        log,
        "ingest",
        first,
        second,
        "--collection",
        "photos",
        code=SLOW_DISK,
        signal_when=("second (2/2): stage 2/4 storing payload", signum),
    )
    assert code == status, screen
    shown = frames(screen)
    warning = f"warning: first/Thumbs.db: {SYSTEM_FILE}"
    (package,) = repo.packages()
    stored = [line for line in shown if line.startswith(f"stored {package['id']}  2 files, ")]
    assert warning in shown and stored, shown
    assert shown.index(warning) < shown.index(stored[0])  # its warnings, then its result
    assert shown[-1] == (
        f"{word}: 1 package stored (first); the partial package of second was removed"
    ), shown
    logged = log.read_text()
    assert f"first/Thumbs.db: {SYSTEM_FILE}" in logged and f"stored {package['id']}" in logged


def test_an_interrupted_ingest_with_json_prints_what_it_did(tmp_path: Path) -> None:
    repo = _repo(tmp_path, f"sqlite:///{tmp_path / 'c.sqlite3'}")
    first, second = _two_deliveries(tmp_path)
    code, screen, stdout = _run_on_a_terminal(
        repo,
        "ingest",
        first,
        second,
        "--collection",
        "photos",
        "--json",
        code=SLOW_DISK,
        json_stdout=True,
        signal_when=("second (2/2): stage 2/4 storing payload", signal.SIGINT),
    )
    assert code == 130, screen
    message = "interrupted: 1 package stored (first); the partial package of second was removed"
    assert frames(screen)[-1] == message
    assert f"warning: first/Thumbs.db: {SYSTEM_FILE}" in frames(screen)
    result = json.loads(stdout)
    assert result["interrupted"] is True and result["message"] == message
    assert result["stored"] == 1 and result["files"] == 2 and result["failures"] == []
    (package,) = result["packages"]
    assert package["source"] == str(first) and package["status"] == "stored"
    assert package["package_id"] == repo.packages()[0]["id"]
    assert {"code": "system-file", "path": "Thumbs.db"}.items() <= package["warnings"][0].items()
    assert result["summary"] == "1 package stored (2 files, 1.0 KB)"


def test_a_system_file_warning_says_its_path_once(tmp_path: Path, database_url: str) -> None:
    repo = _repo(tmp_path, database_url)
    delivery = tmp_path / "deliv"
    (delivery / "sub").mkdir(parents=True)
    (delivery / "scan.txt").write_text("scan")
    (delivery / "sub" / "Thumbs.db").write_bytes(b"\0")
    result = repo.run("ingest", delivery, "--collection", "photos")
    # (a second warning says its format is not identified)
    assert result.stderr.splitlines()[0] == f"warning: deliv/sub/Thumbs.db: {SYSTEM_FILE}"
    # bag make prints the file as it is in the bag, then the same message
    result = repo.run("bag", "make", delivery, tmp_path / "bag")
    assert result.stderr == f"warning: data/sub/Thumbs.db: {SYSTEM_FILE}\n"


def test_no_temporary_folder_is_left_on_the_location(tmp_path: Path, database_url: str) -> None:
    repo = _repo(tmp_path, database_url)
    first, second = _two_deliveries(tmp_path)
    repo.run("ingest", first, second, "--collection", "photos")
    assert repo.json("fixity", "--all")["ok"] is True
    tmp = repo.storage_root / ".preserve-tmp"
    assert not tmp.exists(), sorted(tmp.rglob("*"))
    # another process's folder (one writing now) is left alone, and .preserve-tmp with it
    other = tmp / "1-1@another-host.example"
    other.mkdir(parents=True)
    repo.run("ingest", tmp_path / "first" / "scan.bin", "--collection", "photos")
    assert sorted(p.name for p in tmp.iterdir()) == [other.name]
