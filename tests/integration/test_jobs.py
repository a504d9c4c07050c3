"""Jobs in the catalogue (issue 10's foundation): leases, renewal, back-off, cancellation,
retry and the reaper, on SQLite and PostgreSQL, with an injected clock; two claimants racing
for one job, from threads with sessions of their own, never both win."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from preserve.config.settings import Settings

from preserve.bootstrap import Application, bootstrap
from preserve.catalogue.database import upgrade
from preserve.errors import InvalidInput, NotFound
from preserve.services import jobs

T0 = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> Iterator[Application]:
    upgrade(database_url)
    application = bootstrap(
        Settings.from_env({"PRESERVE_HOME": str(tmp_path), "PRESERVE_DATABASE_URL": database_url}),
        actor="tester",
    )
    yield application
    application.close()


def _enqueue(app: Application, **kw: object) -> jobs.JobRecord:
    published: list[str] = []
    with app.uow() as uow:
        job = jobs.enqueue(
            uow,
            "fixity",
            {"package": "p"},
            requested_by="tester",
            publish=published.append,
            now=T0,
            **kw,  # type: ignore[arg-type]
        )
        assert published == []  # not before the commit
        uow.commit()
    assert published == [job.id]  # the message carries the job id alone
    return job


def test_a_job_runs_once_under_a_lease(app: Application) -> None:
    job = _enqueue(app)
    assert job.state == "queued" and job.attempts == 0
    claimed = jobs.claim(app, job.id, "worker-a", LEASE, now=T0)
    assert claimed is not None and claimed.state == "running" and claimed.attempts == 1
    # a duplicate message, another worker: the lease is held
    assert jobs.claim(app, job.id, "worker-b", LEASE, now=T0 + timedelta(seconds=30)) is None
    assert jobs.renew(
        app, job.id, "worker-a", LEASE, files_done=3, bytes_done=300, now=T0 + timedelta(seconds=50)
    )
    # the lease now runs to T0 + 110 s: still held at T0 + 100 s
    assert jobs.claim(app, job.id, "worker-b", LEASE, now=T0 + timedelta(seconds=100)) is None
    assert jobs.succeed(app, job.id, "worker-a", {"copies": 2}, now=T0 + timedelta(seconds=105))
    done = jobs.show(app, job.id)
    assert (done.state, done.result, done.files_done, done.bytes_done) == (
        "succeeded",
        {"copies": 2},
        3,
        300,
    )
    assert done.lease_owner is None and done.finished_at == T0 + timedelta(seconds=105)
    # once ended, nothing more: no claim, no renewal, no second ending
    assert jobs.claim(app, job.id, "worker-b", LEASE, now=T0 + timedelta(hours=1)) is None
    assert not jobs.renew(app, job.id, "worker-a", LEASE, now=T0 + timedelta(seconds=106))
    assert not jobs.succeed(app, job.id, "worker-a", now=T0 + timedelta(seconds=107))


def test_a_killed_worker_costs_a_delay_never_the_job(app: Application) -> None:
    job = _enqueue(app)
    assert jobs.claim(app, job.id, "worker-a", LEASE, now=T0) is not None
    # worker-a is killed: no renewal. Before the lease runs out the reaper leaves it alone
    assert jobs.reap(app, now=T0 + timedelta(seconds=59)) == []
    assert jobs.reap(app, now=T0 + timedelta(seconds=61)) == [job.id]
    requeued = jobs.show(app, job.id)
    assert requeued.state == "queued" and "ran out" in (requeued.error or "")
    claimed = jobs.claim(app, job.id, "worker-b", LEASE, now=T0 + timedelta(seconds=62))
    assert claimed is not None and claimed.attempts == 2
    # worker-a comes back to life: it holds nothing any more, and says so
    assert not jobs.renew(app, job.id, "worker-a", LEASE, now=T0 + timedelta(seconds=63))
    assert not jobs.succeed(app, job.id, "worker-a", now=T0 + timedelta(seconds=64))
    assert jobs.succeed(app, job.id, "worker-b", now=T0 + timedelta(seconds=65))
    assert jobs.show(app, job.id).state == "succeeded"


def test_an_expired_lease_may_also_be_claimed_directly(app: Application) -> None:
    job = _enqueue(app)
    jobs.claim(app, job.id, "worker-a", LEASE, now=T0)
    taken = jobs.claim(app, job.id, "worker-b", LEASE, now=T0 + timedelta(seconds=61))
    assert taken is not None and taken.lease_owner == "worker-b"


def test_failures_back_off_then_fail_for_good(app: Application) -> None:
    job = _enqueue(app, max_attempts=3)
    at = T0
    for attempt in (1, 2):
        assert jobs.claim(app, job.id, "w", LEASE, now=at) is not None
        after = jobs.fail(app, job.id, "w", "S3 endpoint did not answer", retryable=True, now=at)
        assert after is not None and after.state == "queued"
        assert after.not_before == at + jobs.backoff(attempt)
        # not before its back-off
        assert (
            jobs.claim(app, job.id, "w", LEASE, now=after.not_before - timedelta(seconds=1)) is None
        )
        at = after.not_before
    assert jobs.claim(app, job.id, "w", LEASE, now=at) is not None
    final = jobs.fail(app, job.id, "w", "S3 endpoint did not answer", retryable=True, now=at)
    assert final is not None and (final.state, final.attempts) == ("failed", 3)
    # failed for good: an alert, recorded with the failure (the back-offs raised none)
    assert _alerts(app) == [(job.id, "job_failed", f"job {job.id[:8]} (fixity) failed")]
    # an error not worth retrying fails at once
    other = _enqueue(app)
    jobs.claim(app, other.id, "w", LEASE, now=T0)
    ended = jobs.fail(app, other.id, "w", "no such collection", retryable=False, now=T0)
    assert ended is not None and ended.state == "failed" and ended.attempts == 1
    # retried by a person: queued now, attempts counted afresh
    again = jobs.retry(app, other.id)
    assert (again.state, again.attempts, again.error) == ("queued", 0, None)
    assert jobs.backoff(1) == timedelta(seconds=30) and jobs.backoff(10) == timedelta(hours=1)


def test_the_reaper_fails_a_job_whose_attempts_are_used(app: Application) -> None:
    job = _enqueue(app, max_attempts=1)
    jobs.claim(app, job.id, "w", LEASE, now=T0)
    assert jobs.reap(app, now=T0 + timedelta(minutes=5)) == []
    ended = jobs.show(app, job.id)
    assert ended.state == "failed" and "attempt 1 of 1" in (ended.error or "")
    assert _alerts(app) == [(job.id, "job_failed", f"job {job.id[:8]} (fixity) failed")]


def test_a_retried_job_that_succeeds_resolves_its_failure_alerts(app: Application) -> None:
    from preserve.services import alerts

    job = _enqueue(app, max_attempts=1)
    other = _enqueue(app, max_attempts=1)
    for j in (job, other):
        assert jobs.claim(app, j.id, "w", LEASE, now=T0) is not None
        assert jobs.fail(app, j.id, "w", "storage down", retryable=False, now=T0) is not None
    # retried, it fails once more: a second alert of the same job
    jobs.retry(app, job.id)
    at = T0 + timedelta(minutes=5)
    assert jobs.claim(app, job.id, "w", LEASE, now=at) is not None
    assert jobs.fail(app, job.id, "w", "storage down", retryable=False, now=at) is not None
    opened = {a.id: a.job_id for a in alerts.list_alerts(app, kind="job_failed")}
    assert sorted(opened.values()) == sorted([job.id, job.id, other.id])
    # someone acknowledges the other job's alert meanwhile
    (others,) = [i for i, j in opened.items() if j == other.id]
    alerts.acknowledge(app, others, "ann", now=at)
    # retried again, it succeeds: both alerts of the job are resolved, saying by what
    jobs.retry(app, job.id)
    done_at = T0 + timedelta(minutes=10)
    assert jobs.claim(app, job.id, "w", LEASE, now=done_at) is not None
    assert jobs.succeed(app, job.id, "w", now=done_at)
    assert alerts.list_alerts(app, kind="job_failed") == []
    for alert_id in (i for i, j in opened.items() if j == job.id):
        resolved = alerts.show(app, alert_id)
        assert resolved.acknowledged_at == done_at
        assert resolved.acknowledged_by == f"preserve (job {job.id[:8]} succeeded)"
        assert resolved.details["resolved"] == (
            f"job {job.id} succeeded at 2026-11-29 10:10:00 UTC (retried, attempt 1)"
        )
        assert resolved.details["error"] == "storage down"  # what it reported is kept
    # the other job's alert: still the person's acknowledgement, untouched
    kept = alerts.show(app, others)
    assert (kept.acknowledged_by, kept.acknowledged_at) == ("ann", at)
    assert "resolved" not in kept.details


def test_a_success_leaves_the_failure_alerts_of_other_jobs_open(app: Application) -> None:
    from preserve.services import alerts

    failed = _enqueue(app, max_attempts=1)
    jobs.claim(app, failed.id, "w", LEASE, now=T0)
    jobs.fail(app, failed.id, "w", "no such collection", retryable=False, now=T0)
    # another job of the same kind and payload succeeds: not the failed job, whose alert stays
    fine = _enqueue(app)
    jobs.claim(app, fine.id, "w", LEASE, now=T0)
    assert jobs.succeed(app, fine.id, "w", now=T0 + timedelta(seconds=5))
    (still,) = alerts.list_alerts(app, kind="job_failed")
    assert still.job_id == failed.id and still.open and "resolved" not in still.details


def _alerts(app: Application) -> list[tuple[str | None, str, str]]:
    from preserve.catalogue.models import Alert

    with app.uow() as uow:
        return [
            (a.job_id, a.kind, a.subject) for a in uow.session.query(Alert).order_by(Alert.id).all()
        ]


def test_cancel_a_queued_job_and_a_running_one(app: Application) -> None:
    queued = _enqueue(app)
    assert jobs.cancel(app, queued.id).state == "cancelled"
    assert jobs.claim(app, queued.id, "w", LEASE, now=T0) is None
    running = _enqueue(app)
    jobs.claim(app, running.id, "w", LEASE, now=T0)
    asked = jobs.cancel(app, running.id[:8])  # a prefix of the id will do
    assert asked.state == "running" and asked.cancel_requested
    # the worker learns it at its next renewal, and ends the job as cancelled
    assert not jobs.renew(app, running.id, "w", LEASE, now=T0 + timedelta(seconds=10))
    assert jobs.stopped_for_cancellation(app, running.id, "w", now=T0 + timedelta(seconds=11))
    assert jobs.show(app, running.id).state == "cancelled"
    with pytest.raises(InvalidInput, match="has ended"):
        jobs.cancel(app, running.id)
    # a running job asked to stop whose worker died meanwhile: the reaper ends it as cancelled
    gone = _enqueue(app)
    jobs.claim(app, gone.id, "w", LEASE, now=T0)
    jobs.cancel(app, gone.id)
    assert jobs.reap(app, now=T0 + timedelta(minutes=5)) == []
    assert jobs.show(app, gone.id).state == "cancelled"
    with pytest.raises(InvalidInput, match="only a failed or cancelled job"):
        jobs.retry(app, _enqueue(app).id)


def test_the_same_request_twice_makes_one_job(app: Application) -> None:
    first = _enqueue(app, idempotency_key="upload-7f3a")
    with app.uow() as uow:
        again = jobs.enqueue(
            uow, "fixity", {}, requested_by="tester", idempotency_key="upload-7f3a"
        )
        uow.commit()
    assert again.id == first.id
    assert [j.id for j in jobs.list_jobs(app)] == [first.id]


def test_bad_requests_are_refused(app: Application) -> None:
    with app.uow() as uow:
        with pytest.raises(InvalidInput, match="no job kind 'dance'"):
            jobs.enqueue(uow, "dance", {}, requested_by="t")
        with pytest.raises(InvalidInput, match="at least one attempt"):
            jobs.enqueue(uow, "fixity", {}, requested_by="t", max_attempts=0)
    with pytest.raises(NotFound, match="no job"):
        jobs.show(app, "0f0f0f0f")
    with pytest.raises(InvalidInput, match="no job state 'done'"):
        jobs.list_jobs(app, "done")


def test_two_claimants_racing_never_both_win(app: Application) -> None:
    """Twenty rounds of two threads, each with its own session, claiming the same job at the
    same instant: exactly one wins each time."""
    for _ in range(20):
        job = _enqueue(app)
        barrier = threading.Barrier(2)
        won: list[str] = []

        def take(
            name: str,
            job_id: str = job.id,
            barrier: threading.Barrier = barrier,
            won: list[str] = won,
        ) -> None:
            barrier.wait()
            if jobs.claim(app, job_id, name, LEASE, now=T0) is not None:
                won.append(name)

        threads = [threading.Thread(target=take, args=(n,)) for n in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(won) == 1


def test_the_reaper_tick_publishes_lost_and_requeued_jobs_once_a_lease(
    app: Application, tmp_path: Path
) -> None:
    """tick_reaper on the embedded broker (its messages are files under <home>/broker/queue):
    a queued job that waited longer than a lease is published again, then not again before
    another lease has passed; a running job whose lease ran out is queued again and published."""
    from preserve.services.runner import tick_reaper

    lease = timedelta(seconds=app.settings.job_lease)
    queue = tmp_path / "broker" / "queue"

    def messages() -> int:
        return len(list(queue.iterdir())) if queue.exists() else 0

    lost = _enqueue(app)  # its message (the test's list) never reached a broker
    assert tick_reaper(app, now=T0 + lease / 2) == [] and messages() == 0
    assert tick_reaper(app, now=T0 + lease + timedelta(seconds=1)) == [lost.id]
    assert messages() == 1
    assert tick_reaper(app, now=T0 + lease + timedelta(seconds=2)) == []  # just published
    assert tick_reaper(app, now=T0 + 2 * lease + timedelta(seconds=2)) == [lost.id]
    assert messages() == 2
    # a worker took it and died: after its lease, queued again and published at once
    at = T0 + 3 * lease
    assert jobs.claim(app, lost.id, "dead-worker", lease, now=at) is not None
    assert tick_reaper(app, now=at + lease / 2) == []
    assert tick_reaper(app, now=at + lease + timedelta(seconds=1)) == [lost.id]
    assert messages() == 3
    again = jobs.show(app, lost.id)
    assert again.state == "queued" and "the lease of dead-worker ran out" in (again.error or "")
    # a job in its back-off is not published before it is due
    backing = _enqueue(app)
    jobs.claim(app, backing.id, "w", lease, now=T0)
    failed = jobs.fail(app, backing.id, "w", "S3 did not answer", retryable=True, now=T0)
    assert failed is not None and failed.not_before is not None
    assert backing.id not in tick_reaper(app, now=failed.not_before - timedelta(seconds=1))
    assert backing.id in tick_reaper(app, now=failed.not_before + lease + timedelta(seconds=1))
