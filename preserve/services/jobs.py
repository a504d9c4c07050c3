"""Jobs: background work whose truth is its row in the catalogue (issue 10).

A job is recorded (``queued``) in the same transaction as the change that needs it; a task
message, published only once that transaction has landed, carries nothing but the job id. To
run it, a worker must *claim* its lease; while it works it *renews* the lease (recording its
progress) and stops when renewing fails (the lease was lost, or a person cancelled the job);
it ends the job as ``succeeded``, or ``failed`` (queued again with a back-off while attempts
are left, for errors worth retrying). The *reaper* queues again every running job whose lease
ran out, so a worker killed with SIGKILL, or a message a broker lost, costs a delay and never
the job; a duplicate message finds the lease held and does nothing. Every change is a
conditional update of the row (see :class:`preserve.catalogue.repositories.JobRepository`).

Times come from ``now`` arguments (UTC), so tests control the clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from preserve.bootstrap import Application
from preserve.catalogue.models import JOB_KINDS, JOB_STATES, Job
from preserve.errors import InvalidInput, NotFound
from preserve.uow import UnitOfWork

#: The back-off before attempt N+1 after a failed attempt N: 30 s, 2 min, 8 min ... at most 1 h.
BACKOFF_BASE_SECONDS = 30
BACKOFF_FACTOR = 4
BACKOFF_MAX_SECONDS = 3600


@dataclass(frozen=True)
class JobRecord:
    """A job as people and adapters see it."""

    id: str
    kind: str
    state: str
    payload: dict[str, Any]
    package_id: str | None
    requested_by: str
    attempts: int
    max_attempts: int
    not_before: datetime | None
    lease_owner: str | None
    lease_until: datetime | None
    cancel_requested: bool
    files_done: int
    files_total: int | None
    bytes_done: int
    bytes_total: int | None
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    #: where a resumable job had got to (saved by its handler; None before it saved any)
    checkpoint: dict[str, Any] | None = None


class JobStopped(Exception):
    """The running job lost its lease (the reaper gave it to another worker) or a person
    cancelled it: stop at once and record nothing more."""


class Work(Protocol):
    """What a job's handler is given besides its job: who it acts for, and a way to report
    progress that also renews the lease (it raises :class:`JobStopped` when the job must stop).
    The services take it as their :class:`preserve.progress.Progress`."""

    job_id: str

    def begin(self, label: str, files: int, nbytes: int, stage: Any = None) -> None: ...
    def advance(self, files: int, nbytes: int) -> None: ...
    def end(self) -> None: ...
    def check(self) -> None:
        """Renew the lease now if it is due; raise :class:`JobStopped` if it was lost."""

    def checkpoint(self, data: Mapping[str, Any]) -> None:
        """Save where a resumable handler has got to (plain JSON); the next attempt finds it
        in ``job.checkpoint``. Raises :class:`JobStopped` if the job is no longer this
        worker's."""


#: What runs a job of a kind: (application, the job, its work) -> the job's result (JSON).
Handler = Callable[[Application, "JobRecord", Work], Mapping[str, Any]]
HANDLERS: dict[str, Handler] = {}
#: Errors worth another attempt after a back-off (storage or network trouble); others fail
#: the job at once. Modules add theirs.
RETRYABLE: list[type[BaseException]] = []


def handles(kind: str) -> Callable[[Handler], Handler]:
    """Register the handler of the jobs of ``kind`` (one per kind)."""
    if kind not in JOB_KINDS:
        raise ValueError(f"no job kind {kind!r}")

    def register(handler: Handler) -> Handler:
        if kind in HANDLERS and HANDLERS[kind] is not handler:
            raise ValueError(f"jobs of kind {kind!r} already have a handler")
        HANDLERS[kind] = handler
        return handler

    return register


def _record(job: Job) -> JobRecord:
    return JobRecord(
        id=job.id,
        kind=job.kind,
        state=job.state,
        payload=dict(job.payload or {}),
        package_id=job.package_id,
        requested_by=job.requested_by,
        attempts=job.attempts,
        max_attempts=job.max_attempts,
        not_before=job.not_before,
        lease_owner=job.lease_owner,
        lease_until=job.lease_until,
        cancel_requested=job.cancel_requested,
        files_done=job.files_done,
        files_total=job.files_total,
        bytes_done=job.bytes_done,
        bytes_total=job.bytes_total,
        result=job.result,
        error=job.error,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        checkpoint=dict(job.checkpoint) if job.checkpoint is not None else None,
    )


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware UTC")
    return now


def backoff(attempt: int) -> timedelta:
    """How long to wait after failed attempt ``attempt`` (1, 2, ...)."""
    seconds = BACKOFF_BASE_SECONDS * BACKOFF_FACTOR ** max(0, attempt - 1)
    return timedelta(seconds=min(seconds, BACKOFF_MAX_SECONDS))


def enqueue(
    uow: UnitOfWork,
    kind: str,
    payload: Mapping[str, Any],
    *,
    requested_by: str,
    package_id: str | None = None,
    idempotency_key: str | None = None,
    max_attempts: int = 5,
    publish: Callable[[str], None] | None = None,
    now: datetime | None = None,
) -> JobRecord:
    """Record a queued job in ``uow``'s transaction (the caller commits it with the change that
    needs it); ``publish`` (the task message: the job id alone) runs only once that commit has
    landed. The same ``idempotency_key`` again returns the job it made, and publishes nothing."""
    if kind not in JOB_KINDS:
        raise InvalidInput(f"no job kind {kind!r}: one of {', '.join(JOB_KINDS)}")
    if max_attempts < 1:
        raise InvalidInput("a job needs at least one attempt")
    if idempotency_key is not None:
        existing = uow.jobs.by_idempotency_key(idempotency_key)
        if existing is not None:
            return _record(existing)
    job = uow.jobs.add(
        Job(
            kind=kind,
            state="queued",
            payload=dict(payload),
            package_id=package_id,
            requested_by=requested_by,
            idempotency_key=idempotency_key,
            attempts=0,
            max_attempts=max_attempts,
            cancel_requested=False,
            files_done=0,
            bytes_done=0,
            created_at=_now(now),
        )
    )
    uow.flush()
    if publish is not None:
        job_id = job.id
        uow.on_commit(lambda: publish(job_id))
    return _record(job)


def claim(
    app: Application, job_id: str, owner: str, lease: timedelta, *, now: datetime | None = None
) -> JobRecord | None:
    """Take the lease of ``job_id`` for ``owner`` (a worker's name) until now + ``lease``: the
    job, running, when it was queued and due or its previous lease ran out; None otherwise (it
    runs elsewhere, it ended, it was cancelled, or its back-off has not passed)."""
    at = _now(now)
    with app.uow() as uow:
        if not uow.jobs.claim(job_id, owner, at, at + lease):
            uow.rollback()
            return None
        uow.commit()
        job = uow.jobs.get(job_id)
        assert job is not None
        return _record(job)


def renew(
    app: Application,
    job_id: str,
    owner: str,
    lease: timedelta,
    *,
    files_done: int | None = None,
    bytes_done: int | None = None,
    files_total: int | None = None,
    bytes_total: int | None = None,
    now: datetime | None = None,
) -> bool:
    """Extend ``owner``'s lease and record progress. False: stop working at once (the lease
    was lost to the reaper, or the job was cancelled); nothing the worker does is recorded."""
    at = _now(now)
    progress = {
        k: v
        for k, v in (
            ("files_done", files_done),
            ("bytes_done", bytes_done),
            ("files_total", files_total),
            ("bytes_total", bytes_total),
        )
        if v is not None
    }
    with app.uow() as uow:
        held = uow.jobs.renew(job_id, owner, at, at + lease, **progress)
        uow.commit()
    return held


def succeed(
    app: Application,
    job_id: str,
    owner: str,
    result: Mapping[str, Any] | None = None,
    *,
    now: datetime | None = None,
) -> bool:
    """End the job as succeeded; False when ``owner`` no longer held it. The ``job_failed``
    alerts of the job's earlier failures (it was retried) are resolved with it, in the same
    transaction: the failure they report is fixed."""
    at = _now(now)
    with app.uow() as uow:
        done = uow.jobs.finish(
            job_id, owner, at, "succeeded", result=dict(result or {}), error=None
        )
        if done:
            _resolve_failed(uow, job_id, at)
        uow.commit()
    return done


def _resolve_failed(uow: UnitOfWork, job_id: str, at: datetime) -> None:
    """Close the open alerts of the job's earlier failures, saying which success closed them."""
    from preserve.services import alerts

    job = uow.jobs.get(job_id)
    attempt = f", attempt {job.attempts}" if job is not None else ""
    note = f"job {job_id} succeeded at {at:%Y-%m-%d %H:%M:%S} UTC (retried{attempt})"
    alerts.resolve_job_failed(uow, job_id, note, now=at)


def fail(
    app: Application,
    job_id: str,
    owner: str,
    error: str,
    *,
    retryable: bool,
    result: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> JobRecord | None:
    """An attempt failed with ``error``: queued again after a back-off while attempts are left
    and the error is worth retrying (a storage or network error), else failed for good (with
    ``result``, if given: what the failure was in detail, e.g. an ingest's problems per file).
    None when ``owner`` no longer held the job."""
    at = _now(now)
    with app.uow() as uow:
        job = uow.jobs.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id}")
        if retryable and job.attempts < job.max_attempts and not job.cancel_requested:
            changed = uow.jobs.requeue(job_id, owner, at + backoff(job.attempts), error=error)
        elif job.cancel_requested:
            changed = uow.jobs.finish(job_id, owner, at, "cancelled", error=error)
        else:
            detail = {"result": dict(result)} if result is not None else {}
            changed = uow.jobs.finish(job_id, owner, at, "failed", error=error, **detail)
            if changed:
                _alert_failed(uow, job, error, job.attempts, at)
        uow.commit()
        if not changed:
            return None
        uow.session.refresh(job)
        return _record(job)


def _alert_failed(uow: UnitOfWork, job: Job, error: str, attempts: int, at: datetime) -> None:
    """The alert of a job that failed for good, in the transaction that fails it."""
    from preserve.services import alerts

    alerts.record(
        uow,
        "job_failed",
        f"job {job.id[:8]} ({job.kind}) failed",
        f"Job {job.id} ({job.kind}, asked by {job.requested_by or '-'}) failed after "
        f"{attempts} attempt(s): {error}",
        severity="warning",
        dedup_key=f"job_failed:{job.id}:{at.isoformat()}",
        package_id=job.package_id,
        job_id=job.id,
        details={"kind": job.kind, "attempts": attempts, "error": error},
        now=at,
    )


def save_checkpoint(app: Application, job_id: str, owner: str, data: Mapping[str, Any]) -> bool:
    """Save where ``owner``'s running job has got to (read back by its next attempt); False
    when ``owner`` no longer holds it or a cancellation was asked for (stop)."""
    with app.uow() as uow:
        held = uow.jobs.save_checkpoint(job_id, owner, dict(data))
        uow.commit()
    return held


def waiting(
    app: Application, now: datetime, older_than: timedelta, *, limit: int = 500
) -> list[str]:
    """Queued jobs that are due and have waited (since queued, due, or last published) longer
    than ``older_than``: their message may have been lost. Oldest first."""
    at = _now(now)
    with app.uow() as uow:
        return list(uow.jobs.waiting(at, at - older_than, limit))


def mark_published(
    app: Application, job_ids: Sequence[str], *, now: datetime | None = None
) -> None:
    """Note that the messages of these queued jobs were just published again, so the next
    tick waits another lease before publishing them once more."""
    if not job_ids:
        return
    with app.uow() as uow:
        uow.jobs.mark_published(list(job_ids), _now(now))
        uow.commit()


def stopped_for_cancellation(
    app: Application, job_id: str, owner: str, *, now: datetime | None = None
) -> bool:
    """A worker that found its job cancelled (renew returned False) ends it as cancelled."""
    with app.uow() as uow:
        done = uow.jobs.finish(job_id, owner, _now(now), "cancelled", error="cancelled on request")
        uow.commit()
    return done


def cancel(app: Application, job_id: str, *, now: datetime | None = None) -> JobRecord:
    """Cancel a job: a queued one at once; a running one is asked to stop (its worker finds
    out when it next renews its lease). An ended job is refused."""
    at = _now(now)
    with app.uow() as uow:
        job = _get(uow, job_id)
        if job.state in ("succeeded", "failed", "cancelled"):
            raise InvalidInput(f"job {job.id} has ended ({job.state}): nothing to cancel")
        if job.state == "queued":
            job.state = "cancelled"
            job.finished_at = at
            job.error = "cancelled on request"
        job.cancel_requested = True
        uow.commit()
        return _record(job)


def retry(app: Application, job_id: str, *, now: datetime | None = None) -> JobRecord:
    """Queue a failed or cancelled job again, now, with its attempts counted afresh."""
    with app.uow() as uow:
        job = _get(uow, job_id)
        if job.state not in ("failed", "cancelled"):
            raise InvalidInput(
                f"job {job.id} is {job.state}: only a failed or cancelled job can be retried"
            )
        job.state = "queued"
        job.attempts = 0
        job.not_before = None
        job.cancel_requested = False
        job.finished_at = None
        job.error = None
        uow.commit()
        return _record(job)


def reap(app: Application, *, now: datetime | None = None, limit: int = 1000) -> list[str]:
    """Queue again every running job whose lease ran out (its worker died, or its message was
    lost); a job that has used all its attempts fails instead. Returns the ids queued again,
    for the caller to publish."""
    at = _now(now)
    requeued: list[str] = []
    with app.uow() as uow:
        for job in uow.jobs.expired(at, limit):
            owner = job.lease_owner
            note = f"the lease of {owner} ran out at {job.lease_until:%Y-%m-%dT%H:%M:%SZ}"
            if job.cancel_requested:  # asked to stop, and its worker is gone: it has stopped
                if owner is not None:
                    uow.jobs.finish(
                        job.id, owner, at, "cancelled", error=f"cancelled on request; {note}"
                    )
                continue
            if job.attempts >= job.max_attempts:
                error = f"{note}, attempt {job.attempts} of {job.max_attempts}"
                if owner is not None and uow.jobs.finish(job.id, owner, at, "failed", error=error):
                    _alert_failed(uow, job, error, job.attempts, at)
                    continue
            elif uow.jobs.requeue(job.id, None, None, error=note):
                requeued.append(job.id)
        uow.commit()
    return requeued


def _get(uow: UnitOfWork, job_id: str) -> Job:
    job = uow.jobs.get(job_id)
    if job is None:
        found = uow.jobs.with_id_prefix(job_id) if len(job_id) >= 4 else []
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise InvalidInput(f"{job_id!r} names more than one job: give more of its id")
        raise NotFound(f"no job {job_id!r}")
    return job


def show(app: Application, job_id: str) -> JobRecord:
    """The job ``job_id`` names (its id, or a prefix of at least 4 characters)."""
    with app.uow() as uow:
        return _record(_get(uow, job_id))


def list_jobs(app: Application, state: str | None = None, limit: int = 100) -> Sequence[JobRecord]:
    """The latest jobs first, of one state if given."""
    if state is not None and state not in JOB_STATES:
        raise InvalidInput(f"no job state {state!r}: one of {', '.join(JOB_STATES)}")
    with app.uow() as uow:
        return [_record(j) for j in uow.jobs.list(state, limit)]


def submit(
    app: Application,
    kind: str,
    payload: Mapping[str, Any],
    *,
    requested_by: str | None = None,
    package_id: str | None = None,
    idempotency_key: str | None = None,
    max_attempts: int = 5,
    publish: Callable[[str], None] | None = None,
    now: datetime | None = None,
) -> JobRecord:
    """Queue a job on its own (no other change goes with it) and ring the workers' doorbell:
    ``publish`` (default: the Celery message of :func:`preserve.services.runner.publish_job`)
    once the job row has landed."""
    if publish is None:
        from preserve.services.runner import publisher

        publish = publisher(app)
    with app.uow() as uow:
        record = enqueue(
            uow,
            kind,
            payload,
            requested_by=requested_by if requested_by is not None else app.actor,
            package_id=package_id,
            idempotency_key=idempotency_key,
            max_attempts=max_attempts,
            publish=publish,
            now=now,
        )
        uow.commit()
    return record
