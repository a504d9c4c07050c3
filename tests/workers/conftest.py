"""Real Celery workers for tests: ``preserve worker`` subprocesses on a real broker.

``broker`` runs a test on each broker: the embedded filesystem transport (always), Redis
(``PRESERVE_TEST_BROKER_URL``) and RabbitMQ (``PRESERVE_TEST_RABBITMQ_URL``). A broker whose
variable is unset is skipped, and says so; with ``PRESERVE_TEST_REQUIRE_SERVICES=1`` (CI) that is
a failure instead. Tests share Redis and RabbitMQ and run in parallel: each test gets a queue
of its own (``PRESERVE_BROKER_QUEUE``), removed afterwards.

``workers`` starts workers (``workers.start()``) on the test's repository and broker, with a
short lease (``PRESERVE_JOB_LEASE``) so the reaper acts within seconds; ``Worker.kill()``
sends SIGKILL to the whole worker (its process group: main process, pool and beat), as a power
cut or the OOM killer would. Every worker is stopped at the end of the test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.functional.cli import Repo

BROKER_VARIABLES = {
    "redis": "PRESERVE_TEST_BROKER_URL",
    "rabbitmq": "PRESERVE_TEST_RABBITMQ_URL",
}
#: The lease of jobs in these tests (seconds): the reaper ticks every third of it.
LEASE = 3
#: A generous bound for things that take a second or two (never a measured time).
PATIENCE = 120.0


def pytest_report_header(config: pytest.Config) -> str:
    parts = []
    for name, variable in BROKER_VARIABLES.items():
        url = os.environ.get(variable)
        parts.append(f"{name}: {'yes' if url else f'skipped ({variable} is not set)'}")
    return "worker brokers: filesystem: yes; " + "; ".join(parts)


@dataclass(frozen=True)
class Broker:
    name: str
    url: str  # "" for the embedded transport
    queue: str


def _require(name: str) -> str:
    variable = BROKER_VARIABLES[name]
    url = os.environ.get(variable)
    if not url:
        message = f"{variable} is not set: worker tests on {name} skipped"
        if os.environ.get("PRESERVE_TEST_REQUIRE_SERVICES"):
            pytest.fail(f"{message}, but PRESERVE_TEST_REQUIRE_SERVICES is set")
        pytest.skip(message)
    return url


def _remove_queue(broker: Broker) -> None:
    """Delete the test's queue (and its exchange) from a shared broker."""
    from kombu import Connection, Exchange, Queue

    with Connection(broker.url, connect_timeout=3) as conn:
        channel = conn.channel()
        try:
            queue = Queue(broker.queue, Exchange(broker.queue, type="direct"), broker.queue)
            queue.bind(channel).delete()
            if broker.name == "rabbitmq":
                Exchange(broker.queue, type="direct").bind(channel).delete()
        finally:
            channel.close()


@pytest.fixture(params=["filesystem", "redis", "rabbitmq"])
def broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    """A broker for one test, with a queue of its own."""
    url = "" if request.param == "filesystem" else _require(request.param)
    found = Broker(request.param, url, f"preserve-test-{uuid.uuid4().hex[:12]}")
    yield found
    if found.url:
        _remove_queue(found)


@dataclass
class Worker:
    """A ``preserve worker`` process (and its pool and beat, in its process group)."""

    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for(self, needle: str, timeout: float = PATIENCE) -> None:
        """Wait until the worker's log says ``needle`` (or fail, showing the log)."""
        deadline = time.monotonic() + timeout
        while needle not in self.text():
            if self.process.poll() is not None:
                pytest.fail(f"worker exited {self.process.returncode}:\n{self.text()[-4000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"the worker never logged {needle!r}:\n{self.text()[-4000:]}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the whole worker: main process, pool processes, beat."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM (a warm shutdown: the job under way ends first); the exit status."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode


@dataclass
class Workers:
    """Starts workers for a repository on a broker; stops them all at the end."""

    repo: Repo
    broker: Broker
    folder: Path
    started: list[Worker] = field(default_factory=list)

    def start(self, *args: str, scheduler: bool = True, ready: bool = True) -> Worker:
        log = self.folder / f"worker-{len(self.started) + 1}.log"
        command = [sys.executable, "-m", "preserve.cli", "worker", "--concurrency", "1"]
        if scheduler:
            command.append("--with-scheduler")
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [*command, *args],
                env={**os.environ, **self.repo.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, to kill as a whole
            )
        worker = Worker(process, log)
        self.started.append(worker)
        if ready:
            worker.wait_for(" ready.")
        return worker

    def stop_all(self) -> None:
        for worker in self.started:
            if worker.process.poll() is None:
                worker.kill()


def broker_env(broker: Broker) -> dict[str, str]:
    env = {"PRESERVE_BROKER_QUEUE": broker.queue, "PRESERVE_JOB_LEASE": str(LEASE)}
    if broker.url:
        env["PRESERVE_BROKER_URL"] = broker.url
    return env


@pytest.fixture
def worker_repo(tmp_path: Path, broker: Broker) -> Repo:
    """A repository (SQLite) with a collection 'photos', whose workers use ``broker``."""
    r = Repo(
        home=tmp_path / "home",
        database_url=f"sqlite:///{tmp_path / 'catalogue.sqlite3'}",
        extra_env=broker_env(broker),
    )
    r.run("init")
    r.run("collections", "add", "photos")
    return r


@pytest.fixture
def workers(worker_repo: Repo, broker: Broker, tmp_path: Path) -> Iterator[Workers]:
    found = Workers(worker_repo, broker, tmp_path)
    yield found
    found.stop_all()


def job(repo: Repo, job_id: str) -> dict[str, Any]:
    return repo.json("jobs", "show", job_id)  # type: ignore[no-any-return]


def wait_until(
    condition: Callable[[], Any], what: str, timeout: float = PATIENCE, worker: Worker | None = None
) -> Any:
    """Poll ``condition`` until it returns something true (returned); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            log = worker.text()[-4000:] if worker is not None else ""
            pytest.fail(f"timed out waiting for {what}\n{log}")
        time.sleep(0.02)


def catalogue_rows(repo: Repo, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of the test's SQLite catalogue, read directly (no ORM, no lock held after)."""
    path = repo.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path, timeout=30) as conn:
        return list(conn.execute(sql, params))
