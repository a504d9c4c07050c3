"""`make clean` never deletes preserved data; `make clean-data` does, only once confirmed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def make(*args: str, answer: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "-s", "-C", str(REPO_ROOT), *args],
        input=answer,
        capture_output=True,
        text=True,
        check=False,
    )


def test_clean_leaves_the_repository_alone(tmp_path: Path) -> None:
    home = tmp_path / "var"
    planned = make("-n", "clean", f"PRESERVE_HOME={home}").stdout
    assert "rm -rf" in planned
    assert " var" not in planned and str(home) not in planned


def test_clean_data_asks_and_deletes_only_when_confirmed(tmp_path: Path) -> None:
    home = tmp_path / "repository"
    (home / "storage").mkdir(parents=True)
    (home / "catalogue.sqlite3").write_text("x")

    refused = make("clean-data", f"PRESERVE_HOME={home}", answer="yes\n")
    assert refused.returncode != 0 and "not deleted" in refused.stderr
    assert (home / "catalogue.sqlite3").exists()

    confirmed = make("clean-data", f"PRESERVE_HOME={home}", answer="repository\n")
    assert confirmed.returncode == 0, confirmed.stderr
    assert not home.exists()
