"""preserve jobs list/show/cancel/retry/wait and preserve ingest --async through the command
line, and what preserve worker and scheduler refuse before they start (the workers themselves
run in tests/workers)."""

from __future__ import annotations

import json
from pathlib import Path

from preserve.config.settings import Settings

from preserve.bootstrap import bootstrap
from preserve.services import jobs
from tests.functional.cli import Repo


def _queued(repo: Repo, kind: str = "fixity") -> str:
    app = bootstrap(Settings.from_env(repo.env), actor="tester")
    try:
        with app.uow() as uow:
            job = jobs.enqueue(uow, kind, {"package": "3f2a9c1e"}, requested_by="an archivist")
            uow.commit()
        return job.id
    finally:
        app.close()


def test_jobs_are_listed_shown_cancelled_and_retried(repo: Repo) -> None:
    assert repo.run("jobs", "list").stdout == "no jobs\n"
    job_id = _queued(repo)
    listed = repo.run("jobs", "list").stdout.splitlines()
    assert len(listed) == 1 and listed[0].startswith(job_id[:8])
    assert "fixity" in listed[0] and "queued" in listed[0] and "by an archivist" in listed[0]
    shown = repo.json("jobs", "show", job_id[:6])
    assert (shown["id"], shown["state"], shown["payload"]) == (
        job_id,
        "queued",
        {"package": "3f2a9c1e"},
    )
    assert repo.run("jobs", "cancel", job_id).stdout == f"cancelled job {job_id}\n"
    assert repo.json("jobs", "list", "--state", "cancelled")[0]["id"] == job_id
    assert repo.run("jobs", "retry", job_id).stdout == f"queued job {job_id} again\n"
    text = repo.run("jobs", "show", job_id).stdout
    assert "(fixity, queued)" in text and "attempts  0 of 5" in text


def test_jobs_bad_input(repo: Repo) -> None:
    job_id = _queued(repo)
    cases = [
        (["jobs", "show", "0f0f0f0f"], 3, "error: no job '0f0f0f0f'"),
        (["jobs", "retry", job_id], 2, "only a failed or cancelled job can be retried"),
        (["jobs", "list", "--state", "done"], 2, "'done' is not one of"),
    ]
    for args, code, message in cases:
        result = repo.run(*args, ok=False)
        assert result.exit_code == code, (args, result.stderr)
        assert message in result.stderr and len(result.stderr.splitlines()) == 1
    repo.run("jobs", "cancel", job_id)
    again = repo.run("jobs", "cancel", job_id, ok=False)
    assert again.exit_code == 2 and "has ended (cancelled)" in again.stderr


def _refused_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_ingest_async_queues_one_job_and_prints_its_id(repo: Repo, tmp_path: Path) -> None:
    delivery = tmp_path / "box"
    delivery.mkdir()
    (delivery / "a.txt").write_text("a")
    printed = repo.json("ingest", delivery, "--collection", "photos", "--async", "--as", "ann")
    assert list(printed) == ["job_id"]
    (listed,) = repo.json("jobs", "list")
    assert (listed["id"], listed["kind"], listed["state"]) == (
        printed["job_id"],
        "ingest",
        "queued",
    )
    assert listed["requested_by"] == "ann"
    assert listed["payload"]["paths"] == [str(delivery)]
    assert listed["payload"]["collection"] == "photos"
    text = repo.run("ingest", delivery, "--collection", "photos", "--async").stdout
    assert text.startswith("queued job ") and text.endswith("(ingest of 1 delivery)\n")
    assert repo.packages() == []  # queued, not run: that is a worker's job
    # nothing waits for ever: --timeout
    waited = repo.run("jobs", "wait", printed["job_id"], "--timeout", "0", ok=False)
    assert waited.exit_code == 75
    assert (
        waited.stderr
        == f"error: job {printed['job_id']} is still queued after 0 s (0 files, 0 B)\n"
    )


def test_ingest_async_refuses_bad_input_before_queueing(repo: Repo, tmp_path: Path) -> None:
    delivery = tmp_path / "box"
    delivery.mkdir()
    (delivery / "a.txt").write_text("a")
    csv = tmp_path / "delivery.csv"
    csv.write_text("path,title\nother,Other\n")
    cases = [
        ([tmp_path / "missing", "--collection", "photos"], 2, "no such file or folder"),
        ([delivery, "--collection", "fotos"], 3, "did you mean 'photos'"),
        ([delivery, "--collection", "photos", "--metadata", csv], 2, "no row for"),
        ([delivery, "--new-version-of", "0f0f0f0f"], 3, "0f0f0f0f"),
        ([delivery], 2, "Missing option '--collection'"),
    ]
    for args, code, message in cases:
        result = repo.run("ingest", *args, "--async", ok=False)
        assert result.exit_code == code, (args, result.stderr)
        assert message in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr
    assert repo.run("jobs", "list").stdout == "no jobs\n"


def test_ingest_async_with_a_broker_down_still_queues_the_job(repo: Repo, tmp_path: Path) -> None:
    """The job's row is the truth: the message that could not be sent is sent again by the
    reaper; the command says so and succeeds."""
    delivery = tmp_path / "box"
    delivery.mkdir()
    (delivery / "a.txt").write_text("a")
    repo.extra_env["PRESERVE_BROKER_URL"] = f"redis://127.0.0.1:{_refused_port()}/0"
    result = repo.run("ingest", delivery, "--collection", "photos", "--async", "--json")
    job_id = json.loads(result.stdout)["job_id"]
    assert "could not publish job" in result.stderr and "the reaper will publish it again" in (
        result.stderr
    )
    assert repo.json("jobs", "show", job_id)["state"] == "queued"


def test_jobs_wait_bad_input(repo: Repo) -> None:
    missing = repo.run("jobs", "wait", "0f0f0f0f", ok=False)
    assert missing.exit_code == 3 and missing.stderr == "error: no job '0f0f0f0f'\n"
    negative = repo.run("jobs", "wait", "0f0f0f0f", "--timeout", "-1", ok=False)
    assert negative.exit_code == 2 and "--timeout" in negative.stderr


def test_worker_bad_input(repo: Repo, tmp_path: Path) -> None:
    # a broker URL of a scheme that is not a broker (or the SQLAlchemy one, which loses tasks)
    for url, message in (
        ("kafka://broker:9092", "is not a supported broker URL"),
        ("sqla+sqlite:///broker.db", "loses tasks"),
    ):
        repo.extra_env["PRESERVE_BROKER_URL"] = url
        for command in ("worker", "scheduler"):
            result = repo.run(command, ok=False)
            assert result.exit_code == 2 and message in result.stderr, result.stderr
            assert len(result.stderr.splitlines()) == 1
    # a broker that does not answer: exit 69, at once, one line
    repo.extra_env["PRESERVE_BROKER_URL"] = f"redis://127.0.0.1:{_refused_port()}/0"
    down = repo.run("worker", ok=False)
    assert down.exit_code == 69, down.stderr
    assert down.stderr.startswith("error: the broker at redis://127.0.0.1:")
    assert "does not answer" in down.stderr and len(down.stderr.splitlines()) == 1
    # before `preserve init`
    fresh = Repo(home=tmp_path / "nowhere", database_url=f"sqlite:///{tmp_path / 'none.sqlite3'}")
    for command in ("worker", "scheduler"):
        result = fresh.run(command, ok=False)
        assert result.exit_code != 0 and "run `preserve init`" in result.stderr, result.stderr
        assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "none.sqlite3").exists()
