"""The embedded broker (kombu's filesystem transport, ``preserve/broker.py``): a message file
appears whole or not at all, an unreadable one is set aside instead of stopping the worker,
and a worker consuming while many messages are published keeps running every job (trial of
issue 11, F17: a worker read a message still being written and died)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from preserve.config.settings import Settings

from preserve import broker as embedded
from tests.functional.cli import Repo
from tests.workers.conftest import Workers, job


def _settings(home: Path) -> Settings:
    return Settings.from_env({"PRESERVE_HOME": str(home)})


def _receive(settings: Settings) -> Any:
    with (
        embedded.connection(settings) as conn,
        conn.SimpleQueue(embedded.task_queue(settings)) as queue,
    ):
        message = queue.get(timeout=2)
        message.ack()
        return message.payload


def test_a_message_being_written_is_not_visible_to_a_consumer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path / "home")
    queue_folder = embedded.broker_folders(settings)["queue"]
    seen: list[list[str]] = []
    rename = os.replace

    def looking_replace(src: Any, dst: Any) -> None:
        # the moment before the message gets its name: written, not yet listed
        seen.append(sorted(os.listdir(queue_folder)))
        rename(src, dst)

    monkeypatch.setattr(os, "replace", looking_replace)
    embedded.publish_run_job(settings, "job-1")
    assert seen, "the message was written in place, under the name consumers take"
    assert all(not name.endswith(".msg") for name in seen[-1])
    monkeypatch.setattr(os, "replace", rename)
    assert _receive(settings)[0] == ["job-1"]


def test_an_unreadable_message_is_set_aside_and_the_next_one_is_delivered(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path / "home")
    folders = embedded.broker_folders(settings)
    # an empty message file, as an older publisher left it half-written, first in the queue
    (folders["queue"] / f"0_bad.{settings.broker_queue}.msg").write_bytes(b"")
    embedded.publish_run_job(settings, "job-2")
    assert _receive(settings)[0] == ["job-2"]
    rejected = folders["queue"].parent / "rejected"
    assert [p.name for p in rejected.iterdir()] == [f"0_bad.{settings.broker_queue}.msg"]


@pytest.mark.slow
@pytest.mark.parametrize("broker", ["filesystem"], indirect=True)
def test_a_worker_survives_many_messages_published_while_it_consumes(
    worker_repo: Repo, workers: Workers, tmp_path: Path
) -> None:
    settings = Settings.from_env(worker_repo.env)
    worker = workers.start()
    job_ids = []
    for i in range(3):
        delivery = tmp_path / f"box-{i}"
        delivery.mkdir()
        (delivery / "a.txt").write_bytes(os.urandom(500))
        job_ids.append(
            str(worker_repo.json("ingest", delivery, "--collection", "photos", "--async")["job_id"])
        )
    errors: list[BaseException] = []

    def publish(count: int) -> None:
        try:
            for _ in range(count):  # doorbells for a job that is done: "not claimed"
                embedded.publish_run_job(settings, job_ids[0])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=publish, args=(50,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for job_id in job_ids:
        worker_repo.run("jobs", "wait", job_id, "--timeout", "120")
        assert job(worker_repo, job_id)["state"] == "succeeded"
    # the last doorbell rang too, and the worker is still there
    queue_folder = embedded.broker_folders(settings)["queue"]
    deadline = time.monotonic() + 120
    while any(p.name.endswith(".msg") for p in queue_folder.iterdir()) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.2)
    assert worker.process.poll() is None, worker.text()[-4000:]
    assert "Unrecoverable error" not in worker.text()
    assert "not readable" not in worker.text()
