"""``preserve serve``: the catalogue really served over HTTP by gunicorn (and waitress) in a
child process on a free port, with the embedded worker running a job queued meanwhile; stopped
by SIGTERM with nothing left running; clear one-line start-up errors."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.functional.cli import Repo


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    r = Repo(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'catalogue.sqlite3'}")
    r.run("init")
    r.run("collections", "add", "photos", "--title", "Photographs")
    return r


def preserve(repo: Repo, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "preserve.cli", *args],
        env={**os.environ, **repo.env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        **kwargs,  # type: ignore[arg-type]
    )


@dataclass
class Served:
    process: subprocess.Popen[str]
    url: str

    def get(self, path: str) -> tuple[int, dict[str, str], str]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as r:
                return r.status, dict(r.headers), r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read().decode()

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        output, _ = self.process.communicate(timeout=120)
        return output


@pytest.fixture
def serve(repo: Repo) -> Iterator[callable]:  # type: ignore[valid-type]
    started: list[Served] = []

    def start(*args: str) -> Served:
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "preserve.cli", "serve", "--bind", f"127.0.0.1:{port}", *args],
            env={**os.environ, **repo.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        served = Served(process, f"http://127.0.0.1:{port}")
        started.append(served)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(process.communicate()[0])
            try:
                if served.get("/sign-in")[0] == 200:
                    return served
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError("preserve serve did not answer within 120 s")

    yield start
    for served in started:  # never leave a server or worker behind
        if served.process.poll() is None:
            os.killpg(served.process.pid, signal.SIGKILL)
            served.process.wait()


def test_serves_over_http_with_the_embedded_worker_running_a_job(
    repo: Repo,
    serve: callable,
    tmp_path: Path,  # type: ignore[valid-type]
) -> None:
    served = serve()
    status, headers, page = served.get("/sign-in")
    assert status == 200 and 'name="csrf-token"' in page
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert served.get("/no-such-page")[0] == 404
    assert served.get("/static/css/preserve.css")[0] == 200
    # a job queued now is run by the worker that preserve serve started
    delivery = tmp_path / "delivery"
    delivery.mkdir()
    (delivery / "note.txt").write_text("kept by the served worker\n")
    queued = preserve(repo, "ingest", str(delivery), "--collection", "photos", "--async", "--json")
    assert queued.returncode == 0, queued.stderr
    job = re.search(r'"job_id": "([^"]+)"', queued.stdout).group(1)  # type: ignore[union-attr]
    waited = preserve(repo, "jobs", "wait", job, "--timeout", "100")
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert len(repo.packages()) == 1
    output = served.stop()
    assert served.process.returncode == 0, output
    assert "(gunicorn, " in output and "stopped" in output
    worker = re.search(r"embedded worker started \(pid (\d+)", output)
    assert worker, output
    assert not Path(f"/proc/{worker.group(1)}").exists()  # stopped and waited for
    left = subprocess.run(
        ["ps", "-o", "pid,stat,args", "--no-headers", "-g", str(served.process.pid)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    # nothing left running (an exited child of the worker may wait as a zombie for this
    # machine's init to reap it)
    running = [line for line in left.splitlines() if line.split()[1][0] != "Z"]
    assert not running, left
    assert "Traceback" not in output


def test_waitress_without_workers(repo: Repo, serve: callable) -> None:  # type: ignore[valid-type]
    served = serve("--server", "waitress", "--no-workers")
    assert served.get("/sign-in")[0] == 200
    output = served.stop()
    assert "(waitress, " in output and "embedded worker" not in output
    assert "Traceback" not in output


def test_port_in_use_is_one_line_and_exit_69(repo: Repo) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = preserve(repo, "serve", "--bind", f"127.0.0.1:{port}")
    assert result.returncode == 69
    assert result.stderr.strip().splitlines() == [
        f"error: 127.0.0.1:{port} is in use (is preserve serve running already?): stop that "
        "program or choose another address with --bind HOST:PORT"
    ]
    assert "embedded worker" not in result.stdout  # nothing was started


def test_no_catalogue_says_run_init(tmp_path: Path) -> None:
    repo = Repo(home=tmp_path / "empty", database_url=f"sqlite:///{tmp_path / 'none.sqlite3'}")
    result = preserve(repo, "serve", "--bind", f"127.0.0.1:{free_port()}")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "preserve init" in lines[0]
    assert not (tmp_path / "none.sqlite3").exists()


@pytest.mark.parametrize("bind", ["8000", "localhost:http", "127.0.0.1:70000", ":8000"])
def test_bad_bind(repo: Repo, bind: str) -> None:
    result = preserve(repo, "serve", "--bind", bind)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: {bind!r} is not HOST:PORT (e.g. 127.0.0.1:8000 or 0.0.0.0:8080)"
    )


def test_a_killed_embedded_worker_is_started_again_and_runs_the_queued_job(
    repo: Repo,
    serve: callable,  # type: ignore[valid-type]
    tmp_path: Path,
) -> None:
    served = serve()
    log = repo.home / "serve-worker.log"
    deadline = time.monotonic() + 120
    while " ready." not in log.read_text(errors="replace"):
        assert time.monotonic() < deadline, log.read_text(errors="replace")
        time.sleep(0.2)
    # the worker is the server's child in a process group of its own
    children = subprocess.run(
        ["ps", "-o", "pid=,pgid=", "--ppid", str(served.process.pid)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    first = next(
        int(pid) for pid, pgid in zip(children[::2], children[1::2], strict=True) if pid == pgid
    )
    os.kill(first, signal.SIGKILL)
    # a job queued while no worker runs is run by the next one
    delivery = tmp_path / "delivery"
    delivery.mkdir()
    (delivery / "note.txt").write_text("kept by the restarted worker\n")
    queued = preserve(repo, "ingest", str(delivery), "--collection", "photos", "--async", "--json")
    assert queued.returncode == 0, queued.stderr
    job = re.search(r'"job_id": "([^"]+)"', queued.stdout).group(1)  # type: ignore[union-attr]
    waited = preserve(repo, "jobs", "wait", job, "--timeout", "100")
    assert waited.returncode == 0, waited.stdout + waited.stderr + log.read_text(errors="replace")
    assert len(repo.packages()) == 1
    output = served.stop()
    assert f"the embedded worker (pid {first}) ended" in output, output
    again = re.search(r"embedded worker started again \(pid (\d+)\)", output)
    assert again, output
    assert not Path(f"/proc/{again.group(1)}").exists()  # stopped with the server
    assert "started again" in log.read_text(errors="replace")
