"""A delivery file rewritten in place (same size) while ingest reads it is never stored as a
mixture of old and new bytes: a passing change is read again; a file that keeps changing is
refused with one clear line, exit 2, and nothing is left behind.

The CLI runs in this process (click's CliRunner), so the change is made deterministically by
wrapping staging's read function (tests/changing_files.py), not by racing a writer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from preserve.ingest import stage
from tests.changing_files import rewrite_during_read
from tests.functional.cli import Repo

SIZES = pytest.mark.parametrize("size", [5000, (3 << 20) + 17], ids=["small", "large"])


def _delivery(tmp_path: Path, size: int) -> tuple[Path, Path]:
    d = tmp_path / "delivery"
    d.mkdir()
    (d / "notes.txt").write_text("unchanged")
    changing = d / "changing.bin"
    changing.write_bytes(os.urandom(size))
    return d, changing


@SIZES
def test_a_file_that_keeps_changing_is_refused_and_nothing_is_left(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    d, changing = _delivery(tmp_path, size)
    rewriter = rewrite_during_read(monkeypatch, changing, times=1000)
    result = repo.run("ingest", d, "--collection", "photos", ok=False)
    assert result.exit_code == 2, result.stderr  # bad input, not an internal error (70)
    message = (
        f"{changing}: changed while it was being read; "
        "ingest it again once it is no longer being written"
    )
    assert message in result.stderr, result.stderr
    assert result.stderr.count("changed while it was being read") == 1
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert rewriter.count == stage.READ_ATTEMPTS
    assert repo.packages() == []
    assert repo.stored_keys() == []
    assert repo.staging_entries() == []


@SIZES
def test_a_passing_change_is_read_again_and_the_final_bytes_stored(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    d, changing = _delivery(tmp_path, size)
    rewriter = rewrite_during_read(monkeypatch, changing, times=1)
    package = repo.json("ingest", d, "--collection", "photos")["packages"][0]
    assert rewriter.count == 1
    stored = [k for k in repo.stored_keys() if k.endswith("/data/changing.bin")]
    assert len(stored) == 1
    assert (repo.storage_root / stored[0]).read_bytes() == rewriter.content
    assert repo.json("fixity", "--package", package["package_id"])["ok"] is True
    out = tmp_path / "out"
    repo.run("export", package["package_id"], out)
    assert (out / "data" / "changing.bin").read_bytes() == rewriter.content
    assert repo.staging_entries() == []
