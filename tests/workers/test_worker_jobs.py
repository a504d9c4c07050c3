"""Jobs run by real ``preserve worker`` processes, on the embedded filesystem transport, Redis
and RabbitMQ: an ingest end to end, a worker killed with SIGKILL mid-ingest (the job finishes
exactly once under a new worker), a duplicate message, a cancelled running job, back-off,
failure and its alert."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from preserve.config.settings import Settings

from preserve.bootstrap import bootstrap
from preserve.services import jobs
from preserve.services.runner import publish_job
from tests.functional.cli import Repo
from tests.workers.conftest import (
    Workers,
    catalogue_rows,
    job,
    wait_until,
)

pytestmark = pytest.mark.slow


def _delivery(folder: Path, files: int, size: int) -> Path:
    folder.mkdir(parents=True)
    for i in range(files):
        (folder / f"f{i:03d}.bin").write_bytes(os.urandom(size))
    return folder


def _queue(repo: Repo, *args: str | Path) -> str:
    return str(repo.json("ingest", *args, "--async")["job_id"])


def _ended(repo: Repo, job_id: str) -> dict[str, object] | None:
    found = job(repo, job_id)
    return found if found["state"] in ("succeeded", "failed", "cancelled") else None


def test_an_ingest_job_runs_end_to_end(worker_repo: Repo, workers: Workers, tmp_path: Path) -> None:
    delivery = _delivery(tmp_path / "box-1", files=3, size=10_000)
    job_id = _queue(worker_repo, delivery, "--collection", "photos", "--as", "an archivist")
    queued = job(worker_repo, job_id)
    assert (queued["state"], queued["kind"], queued["requested_by"]) == (
        "queued",
        "ingest",
        "an archivist",
    )
    assert worker_repo.packages() == []  # nothing runs without a worker
    workers.start()
    waited = worker_repo.run("jobs", "wait", job_id, "--timeout", "120")
    assert waited.stdout.startswith("stored ") and "3 files" in waited.stdout
    assert waited.stdout.splitlines()[-1] == "1 package stored (3 files, 30.0 KB)"
    done = job(worker_repo, job_id)
    assert done["state"] == "succeeded" and done["attempts"] == 1 and done["error"] is None
    (package,) = worker_repo.packages()
    assert done["result"]["packages"][0]["package_id"] == package["id"]
    assert package["status"] == "stored"
    # the same delivery again: already preserved, as the foreground command says it
    again = _queue(worker_repo, delivery, "--collection", "photos")
    second = worker_repo.run("jobs", "wait", again, "--timeout", "120").stdout
    assert second.startswith(f"already preserved: {delivery} is identical to package")
    assert len(worker_repo.packages()) == 1


def test_a_worker_killed_mid_ingest_leaves_a_job_a_new_worker_finishes_once(
    worker_repo: Repo, workers: Workers, tmp_path: Path
) -> None:
    delivery = _delivery(tmp_path / "box-2", files=300, size=200_000)
    job_id = _queue(worker_repo, delivery, "--collection", "photos")
    first = workers.start()
    # mid-ingest: the package is recorded as being ingested (before any byte reaches storage)
    wait_until(
        lambda: catalogue_rows(worker_repo, "SELECT status FROM packages") == [("ingesting",)],
        "the package row of the ingest under way",
        worker=first,
    )
    first.kill()
    at_kill = job(worker_repo, job_id)
    assert at_kill["state"] == "running" and at_kill["attempts"] == 1
    assert catalogue_rows(worker_repo, "SELECT status FROM packages") == [("ingesting",)]

    second = workers.start()
    done = wait_until(lambda: _ended(worker_repo, job_id), "the job to end", worker=second)
    assert done["state"] == "succeeded", done
    assert done["attempts"] == 2  # the reaper gave it to the new worker after the lease ran out
    # exactly once: one package, one copy, one set of events, one set of stored objects
    (package,) = worker_repo.packages()
    assert package["status"] == "stored" and package["files"] == 300
    assert catalogue_rows(worker_repo, "SELECT count(*) FROM copies") == [(1,)]
    events = catalogue_rows(
        worker_repo,
        "SELECT event_type, count(*) FROM events WHERE package_id = ? AND file_id IS NULL "
        "GROUP BY event_type",
        package["id"],
    )
    assert events and all(n == 1 for _, n in events), events
    payload = [k for k in worker_repo.stored_keys() if "/data/" in k]
    assert len(payload) == 300 and all(f"/{package['id']}/v1/data/" in k for k in payload)


def test_a_duplicate_message_does_nothing(
    worker_repo: Repo, workers: Workers, tmp_path: Path
) -> None:
    delivery = _delivery(tmp_path / "box-3", files=1, size=1000)
    job_id = _queue(worker_repo, delivery, "--collection", "photos")
    worker = workers.start()
    worker_repo.run("jobs", "wait", job_id, "--timeout", "120")
    before = job(worker_repo, job_id)
    app = bootstrap(Settings.from_env(worker_repo.env))
    try:
        assert publish_job(app, job_id)  # the broker delivers the message once more
    finally:
        app.close()
    worker.wait_for(f"job {job_id} not claimed")
    assert job(worker_repo, job_id) == before
    assert len(worker_repo.packages()) == 1


def test_a_cancelled_running_job_stops(worker_repo: Repo, workers: Workers, tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.mkdir()
    with open(big / "sparse.bin", "wb") as f:  # reads fast, but takes a few seconds to hash
        f.truncate(3 * 1024**3)
    job_id = _queue(worker_repo, big, "--collection", "photos")
    worker = workers.start()
    wait_until(lambda: job(worker_repo, job_id)["bytes_done"] > 0, "progress", worker=worker)
    said = worker_repo.run("jobs", "cancel", job_id).stdout
    assert "asked to stop at its next step" in said
    done = wait_until(lambda: _ended(worker_repo, job_id), "the job to stop", worker=worker)
    assert done["state"] == "cancelled" and done["error"] == "cancelled on request"
    assert worker_repo.packages() == []  # what it had begun is removed
    assert [k for k in worker_repo.stored_keys() if "/data/" in k] == []
    waited = worker_repo.run("jobs", "wait", job_id, ok=False)
    assert waited.exit_code == 1 and "cancelled" in waited.stderr


def test_a_job_that_cannot_start_fails_for_good_with_an_alert(
    worker_repo: Repo, workers: Workers, tmp_path: Path
) -> None:
    delivery = _delivery(tmp_path / "box-4", files=1, size=100)
    job_id = _queue(worker_repo, delivery, "--collection", "photos")
    (delivery / "f000.bin").unlink()
    delivery.rmdir()  # gone before a worker took it: not worth another attempt
    workers.start()
    done = wait_until(lambda: _ended(worker_repo, job_id), "the job to end")
    assert done["state"] == "failed" and done["attempts"] == 1
    assert "no such file or folder" in done["error"]
    alerts = catalogue_rows(worker_repo, "SELECT kind, job_id, subject FROM alerts")
    assert alerts == [("job_failed", job_id, f"job {job_id[:8]} (ingest) failed")]
    waited = worker_repo.run("jobs", "wait", job_id, ok=False)
    assert waited.exit_code == 1 and "no such file or folder" in waited.stderr


def test_a_failed_job_retried_until_it_succeeds_resolves_its_alert(
    worker_repo: Repo, workers: Workers, tmp_path: Path
) -> None:
    folder = tmp_path / "box-5"
    job_id = _queue(worker_repo, _delivery(folder, files=2, size=100), "--collection", "photos")
    kept = tmp_path / "kept"
    folder.rename(kept)  # gone before a worker took it: the job fails for good
    worker = workers.start()
    assert wait_until(lambda: _ended(worker_repo, job_id), "the job to fail")["state"] == "failed"
    opened = worker_repo.json("alerts", "list", "--kind", "job_failed")
    assert [a["job_id"] for a in opened] == [job_id]
    kept.rename(folder)  # the cause fixed, a person queues it again
    assert f"queued job {job_id} again" in worker_repo.run("jobs", "retry", job_id).stdout
    done = wait_until(lambda: _ended(worker_repo, job_id), "the retried job", worker=worker)
    assert done["state"] == "succeeded"
    assert worker_repo.json("alerts", "list", "--kind", "job_failed") == []
    (resolved,) = worker_repo.json("alerts", "list", "--all", "--kind", "job_failed")
    assert resolved["acknowledged_by"] == f"preserve (job {job_id[:8]} succeeded)"
    assert resolved["details"]["resolved"].startswith(f"job {job_id} succeeded at ")


def test_a_worker_stops_cleanly_on_sigterm(workers: Workers) -> None:
    worker = workers.start()
    os.kill(worker.pid, signal.SIGTERM)
    assert worker.process.wait(timeout=60) == 0
    assert "Traceback" not in worker.text()


def test_the_reaper_publishes_a_job_whose_message_was_lost(
    worker_repo: Repo, workers: Workers
) -> None:
    app = bootstrap(Settings.from_env(worker_repo.env), actor="tester")
    try:
        record = jobs.submit(app, "noop", {}, publish=lambda job_id: None)  # no message at all
    finally:
        app.close()
    worker = workers.start()
    done = wait_until(lambda: _ended(worker_repo, record.id), "the reaper", worker=worker)
    assert done["state"] == "succeeded" and done["attempts"] == 1
    assert "reaper: 1 queued job(s) published again" in worker.text()


@pytest.mark.s3
def test_a_storage_outage_backs_off_and_the_next_attempt_succeeds(
    worker_repo: Repo, workers: Workers, tmp_path: Path, s3_bucket_url: str
) -> None:
    import socket

    import sqlalchemy as sa

    worker_repo.run("locations", "add", "offsite", s3_bucket_url)
    worker_repo.run("collections", "add", "both", "--location", "default", "--location", "offsite")
    engine = sa.create_engine(worker_repo.database_url)

    def set_url(url: str) -> None:
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE storage_locations SET url = :u WHERE name = 'offsite'"), {"u": url}
            )

    with engine.connect() as conn:
        good = conn.execute(
            sa.text("SELECT url FROM storage_locations WHERE name = 'offsite'")
        ).scalar_one()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    set_url(f"{good.split('endpoint_url=')[0]}endpoint_url=http://127.0.0.1:{port}")
    delivery = _delivery(tmp_path / "box-5", files=2, size=1000)
    job_id = _queue(worker_repo, delivery, "--collection", "both")
    worker = workers.start()
    retrying = wait_until(
        lambda: (j := job(worker_repo, job_id))["attempts"] == 1 and j["state"] == "queued" and j,
        "the first attempt to fail",
        worker=worker,
    )
    assert retrying["error"] and retrying["not_before"] > retrying["created_at"]
    assert "attempt 1 failed" in worker.text()
    assert [p["status"] for p in worker_repo.packages()] in ([], ["failed"])
    # the location answers again, and the back-off (30 s) has passed: moved back in time, the
    # job is published again by the reaper
    set_url(good)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE jobs SET not_before = :t WHERE id = :id"),
            {"t": "2000-01-01 00:00:00.000000", "id": job_id},
        )
    engine.dispose()
    done = wait_until(lambda: _ended(worker_repo, job_id), "the second attempt", worker=worker)
    assert done["state"] == "succeeded" and done["attempts"] == 2, done
    stored = [p for p in worker_repo.packages() if p["status"] == "stored"]
    assert len(stored) == 1
    assert catalogue_rows(
        worker_repo,
        "SELECT count(*) FROM copies WHERE package_id = ? AND status = 'verified'",
        stored[0]["id"],
    ) == [(2,)]
    assert catalogue_rows(worker_repo, "SELECT kind FROM alerts") == []


def test_a_killed_ingest_of_several_deliveries_resumes_where_it_was(
    worker_repo: Repo, workers: Workers, tmp_path: Path
) -> None:
    """Each delivery's result is the job's checkpoint as soon as it is stored: the next attempt
    goes on with the deliveries not yet done, and reports the first as stored, not as a
    duplicate of itself."""
    small = _delivery(tmp_path / "a-small", files=2, size=1000)
    large = _delivery(tmp_path / "b-large", files=300, size=200_000)
    job_id = _queue(worker_repo, small, large, "--collection", "photos")
    first = workers.start()
    wait_until(
        lambda: (
            sorted(catalogue_rows(worker_repo, "SELECT status FROM packages"))
            == [("ingesting",), ("stored",)]
        ),
        "the second delivery under way",
        worker=first,
    )
    first.kill()
    saved = job(worker_repo, job_id)["checkpoint"]
    assert [p["source"] for p in saved["packages"]] == [str(small)]

    second = workers.start()
    done = wait_until(lambda: _ended(worker_repo, job_id), "the job to end", worker=second)
    assert done["state"] == "succeeded" and done["attempts"] == 2, done
    result = done["result"]
    assert [(p["source"], p["status"]) for p in result["packages"]] == [
        (str(small), "stored"),
        (str(large), "stored"),
    ]
    assert result["stored"] == 2 and result["duplicates"] == 0
    assert sorted(p["status"] for p in worker_repo.packages()) == ["stored", "stored"]
    # the second attempt did not ingest the first delivery again
    assert f"{small} is identical to package" not in second.text()
