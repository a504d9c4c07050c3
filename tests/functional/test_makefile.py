"""`make clean` never deletes preserved data; `make clean-data` does, only once confirmed."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_and_serve(home: Path, port: int, wait: float = 300) -> str:
    """`make run` in a process group of its own until the catalogue answers at ``port`` (or
    make ends), then stopped with SIGTERM as CI stops it; its output."""
    # -o: never reinstall the virtual environment from inside a test
    process = subprocess.Popen(
        [
            "make",
            "-s",
            "-C",
            str(REPO_ROOT),
            "-o",
            ".venv/bin/.installed",
            "run",
            f"PRESERVE_HOME={home}",
            f"RUN_BIND=127.0.0.1:{port}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    served = False
    try:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/sign-in", timeout=5) as r:
                    served = r.status == 200
                    break
            except OSError:
                time.sleep(0.5)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        output, _ = process.communicate(timeout=120)
    assert served, output
    assert process.returncode is not None
    # nothing of the group is left running (an exited child of the worker may wait as a
    # zombie for this machine's init to reap it)
    left = subprocess.run(
        ["ps", "-o", "stat=,pid=,args=", "-g", str(process.pid)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    assert not [line for line in left.splitlines() if not line.startswith("Z")], left
    return output


@pytest.mark.slow
def test_run_ingests_the_sample_through_a_worker_then_serves(tmp_path: Path) -> None:
    """`make run` (as CI runs it, twice): the sample ingest is a job that a real worker on the
    embedded broker runs, then the catalogue is served with a local admin to sign in as (its
    one-time password printed the first time only); the second run reports the sample as
    already preserved; no worker is left running after either."""
    home = tmp_path / "var"
    outputs = []
    for _ in range(2):
        output = run_and_serve(home, free_port())
        outputs.append(output)
        started = [line for line in output.splitlines() if line.startswith("worker started")]
        assert len(started) == 1, output
        pid = int(started[0].split("(pid ")[1].split(",")[0])
        assert not Path(f"/proc/{pid}").exists()  # stopped, and waited for
        assert "queued job " in output
        assert "serving the catalogue at http://127.0.0.1:" in output
    first, second = outputs
    assert "3 packages stored" in first
    assert "repository administrator admin created" in first
    assert "one-time password: " in first
    assert "already preserved" in second and "0 packages stored, 3 already preserved" in second
    assert "the account admin exists already" in second
    assert "preserve users reset-password admin" in second
    assert "one-time password: " not in second
    log = (home / "worker.log").read_text()
    assert "(ingest) succeeded" in log and "Traceback" not in log
