"""The task wrappers of workers/tasks.py called as a worker calls them (settings from the
environment, the Application built once per process), on a real repository with the embedded
broker, and the Celery app's reliability options for each broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from preserve.config.settings import Settings
from preserve.workers import tasks
from preserve.workers.app import make_celery

from tests.functional.cli import Repo


@pytest.fixture
def env_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Repo]:
    """A repository with a collection 'photos', its settings in this process's environment
    (as a worker process has them)."""
    repo = Repo(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'cat.sqlite3'}")
    repo.run("init")
    repo.run("collections", "add", "photos")
    for name, value in repo.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(tasks, "_application", None)
    yield repo
    if tasks._application is not None:
        tasks._application[1].close()


def test_beat_tasks_queue_fixity_reap_and_report(env_repo: Repo, tmp_path: Path) -> None:
    delivery = tmp_path / "box"
    delivery.mkdir()
    (delivery / "a.txt").write_text("a")
    env_repo.run("ingest", delivery, "--collection", "photos")
    queue = env_repo.home / "broker" / "queue"

    queued = tasks.dispatch_fixity()  # the copy was never checked: due first
    assert len(queued) == 1
    (listed,) = env_repo.json("jobs", "list")
    assert (listed["id"], listed["kind"], listed["state"]) == (queued[0], "fixity", "queued")
    assert len(list(queue.iterdir())) == 1  # its message, published after the commit
    assert tasks.dispatch_fixity() == []  # claimed: not queued twice

    assert tasks.reap() == []  # nothing lost yet (it waited less than a lease)
    report = tasks.daily_report()  # the day's report, queued as a job ...
    assert tasks.daily_report() == report  # ... once, however many schedulers tick
    reports = [j for j in env_repo.json("jobs", "list") if j["kind"] == "report"]
    assert [(j["id"], j["state"]) for j in reports] == [(report, "queued")]
    assert tasks.application() is tasks.application()  # one per process


@pytest.mark.parametrize(
    ("url", "options"),
    [
        ("", {"data_folder_in", "data_folder_out", "control_folder", "polling_interval"}),
        ("redis://127.0.0.1:6379/0", {"visibility_timeout"}),
        ("amqp://guest:guest@127.0.0.1:5672//", set()),
    ],
)
def test_the_celery_app_is_set_for_reliability(url: str, options: set[str], tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"PRESERVE_HOME": str(tmp_path), "PRESERVE_BROKER_URL": url, "PRESERVE_BROKER_QUEUE": "q"}
    )
    conf = make_celery(settings).conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost and conf.task_ignore_result
    assert conf.worker_prefetch_multiplier == 1 and not conf.task_always_eager
    assert conf.result_backend is None
    assert options <= set(conf.broker_transport_options)
    if url.startswith("redis"):  # longer than any task (10 min) and any published countdown
        assert conf.broker_transport_options["visibility_timeout"] > 3600
    (queue,) = conf.task_queues
    assert (queue.name, queue.durable, conf.task_default_queue) == ("q", True, "q")
    assert (queue.queue_arguments or {}).get("x-queue-type") == (
        "quorum" if url.startswith("amqp") else None
    )
    assert sorted(conf.beat_schedule) == [
        "agreements-daily",
        "daily-report",
        "dispatch-fixity",
        "reap",
    ]
    if not url:
        assert (tmp_path / "broker" / "queue").is_dir()


def test_messages_to_two_embedded_brokers_from_one_process_both_arrive(tmp_path: Path) -> None:
    """kombu's filesystem transport keeps bindings in a state shared by the process; each
    repository's queue must still get its message (a test process, a tool over several homes)."""
    from preserve.broker import publish_run_job

    for name in ("one", "two", "one"):
        settings = Settings.from_env({"PRESERVE_HOME": str(tmp_path / name)})
        publish_run_job(settings, f"job-{name}")
    assert len(list((tmp_path / "one" / "broker" / "queue").iterdir())) == 2
    assert len(list((tmp_path / "two" / "broker" / "queue").iterdir())) == 1
