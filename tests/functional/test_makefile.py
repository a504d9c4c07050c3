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


@pytest.mark.slow
def test_run_ingests_the_sample_through_a_worker_and_stops_it(tmp_path: Path) -> None:
    """`make run` (as CI runs it, twice): the sample ingest is a job that a real worker on the
    embedded broker runs; the second run reports the sample as already preserved; no worker is
    left running after either."""
    home = tmp_path / "var"
    # -o: never reinstall the virtual environment from inside a test
    args = ("-o", ".venv/bin/.installed", "run", f"PRESERVE_HOME={home}")
    outputs = []
    for _ in range(2):
        result = make(*args)
        assert result.returncode == 0, result.stdout + result.stderr
        outputs.append(result.stdout)
        started = [line for line in result.stdout.splitlines() if line.startswith("worker started")]
        assert len(started) == 1, result.stdout
        pid = int(started[0].split("(pid ")[1].split(",")[0])
        assert not Path(f"/proc/{pid}").exists()  # stopped, and waited for
        assert "queued job " in result.stdout
    first, second = outputs
    assert "3 packages stored" in first
    assert "already preserved" in second and "0 packages stored, 3 already preserved" in second
    log = (home / "worker.log").read_text()
    assert "(ingest) succeeded" in log and "Traceback" not in log
