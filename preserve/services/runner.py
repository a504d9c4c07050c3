"""Running jobs: what a worker does with a task message, and the reaper's tick.

A message carries a job id. :func:`run_job` claims the job's lease (a duplicate message, or a
job that runs elsewhere, ended or was cancelled, does nothing), runs the handler of its kind
with a :class:`LeasedWork` (progress that renews the lease and stops the job once renewal
fails), and ends it: succeeded, stopped (cancelled, or its lease lost to the reaper), queued
again after a back-off (a storage or network error), or failed for good (with an alert).
:func:`tick_reaper` queues again the jobs whose worker died and re-publishes every queued job
whose message may have been lost. Handlers of ``ingest``, ``version`` and ``noop`` are here;
the other kinds' live in their services (:data:`HANDLER_MODULES`).
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from preserve.bootstrap import Application
from preserve.errors import (
    BrokerUnreachable,
    CatalogueUnreachable,
    PreserveError,
    StorageUnavailable,
)
from preserve.progress import Stage
from preserve.services import jobs
from preserve.services.jobs import HANDLERS, RETRYABLE, JobRecord, JobStopped, Work, handles

log = logging.getLogger(__name__)

for _error in (StorageUnavailable, CatalogueUnreachable):
    if _error not in RETRYABLE:
        RETRYABLE.append(_error)

#: The services whose modules register handlers of the other job kinds.
HANDLER_MODULES = (
    "preserve.services.schedule",  # fixity
    "preserve.services.repair",  # repair, verify
    "preserve.services.replication",  # replicate, sync, retire
    "preserve.services.alerts",  # report
    "preserve.services.derivatives",  # derive (thumbnails and previews)
    "preserve.services.transfers",  # what a browser upload's ingest needs
    "preserve.services.disposal",  # dispose (a disposal request's execution)
)

#: The longest countdown a retry's message is published with (seconds): a worker holds such a
#: message unacknowledged until it is due, and RabbitMQ closes a channel whose ack is later than
#: its consumer_timeout (30 min by default). A longer back-off is published by the reaper once
#: it has passed.
MAX_COUNTDOWN = 600
#: Seconds between two recordings of a job's progress (with its lease) at most.
PROGRESS_EVERY = 5.0
#: How many queued jobs one reaper tick re-publishes at most.
REPUBLISH_LIMIT = 500


def load_handlers() -> None:
    """Import every module that registers job handlers (each kind has one)."""
    for name in HANDLER_MODULES:
        importlib.import_module(name)


def check_catalogue(app: Application) -> None:
    """Raise the clear error of a catalogue a worker cannot use: none there (``preserve init``
    never ran), not set up, or unreachable."""
    with app.uow() as uow:
        uow.jobs.list(None, 1)


#: A job queued this long while no worker runs gets a notice in the web catalogue.
UNATTENDED_AFTER = timedelta(minutes=1)


def no_worker_running(app: Application, *, now: datetime | None = None) -> bool:
    """True when jobs have been queued for more than :data:`UNATTENDED_AFTER` and no worker of
    the embedded broker is alive (its heartbeat file): queued jobs wait. False when a worker
    runs, nothing waits, or the broker is a real one (its workers are not known here)."""
    from preserve.broker import workers_alive

    if workers_alive(app.settings) is not False:
        return False
    return bool(jobs.waiting(app, now or datetime.now(UTC), UNATTENDED_AFTER, limit=1))


def worker_name() -> str:
    """Who holds a lease: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


# ----------------------------------------------------------------------------- publishing


def publisher(app: Application) -> Callable[[str], None]:
    """The doorbell: a function that sends the message of a job (its id alone) to the
    broker. A broker that does not answer is logged, not raised: the job's row has landed, and
    the reaper publishes it again."""

    def publish(job_id: str) -> None:
        publish_job(app, job_id)

    return publish


def publish_job(app: Application, job_id: str, *, countdown: float | None = None) -> bool:
    """Publish job ``job_id``'s message (after ``countdown`` seconds); False, logged, when the
    broker did not answer."""
    from preserve.broker import publish_run_job

    try:
        publish_run_job(app.settings, job_id, countdown=countdown)
    except BrokerUnreachable as exc:
        log.warning("%s; the reaper will publish it again", exc)
        return False
    log.debug("published job %s (countdown %s)", job_id, countdown)
    return True


# ----------------------------------------------------------------------------- the work


class LeasedWork:
    """What a handler reports its progress to. Each call records progress and renews the lease
    once a third of it has passed; a heartbeat thread renews it too while a long single step
    runs. Once a renewal fails (the job was cancelled, or the reaper gave it away) every later
    call raises :class:`JobStopped`. Calls may come from several threads."""

    def __init__(self, app: Application, job: JobRecord, owner: str) -> None:
        self.app = app
        self.job_id = job.id
        self.job = job
        self.owner = owner
        self.lease = timedelta(seconds=app.settings.job_lease)
        self._lock = threading.Lock()
        self._renewed = time.monotonic()
        self._stopped = False
        # progress as people see it (``jobs show``): the parts of a run (the copies of a fixity
        # run) add up; the stages of one piece of work (an ingest's hashing, storing,
        # identifying ...) each go over the same files, so the largest one stands for the job
        self._parts = False
        self._before_files = self._before_bytes = 0  # the parts already done, whole
        self._files_done = self._bytes_done = 0  # the current stage or part
        self._files_total: int | None = None
        self._bytes_total: int | None = None
        self._largest: tuple[int, int] | None = None  # (bytes, files) of the largest stage ended
        self._heartbeat: threading.Thread | None = None
        self._finished = threading.Event()

    # Progress
    def begin(self, label: str, files: int, nbytes: int, stage: Stage | None = None) -> None:
        with self._lock:
            if self._files_total is not None:  # the previous stage or part is over
                if self._parts:
                    self._before_files += self._files_total
                    self._before_bytes += self._bytes_total or 0
                else:
                    ended = (self._bytes_total or 0, self._files_total)
                    self._largest = max(self._largest or ended, ended)
            self._parts = stage is not None and stage.noun != "stage"
            self._files_total, self._bytes_total = files, nbytes
            self._files_done = self._bytes_done = 0
        self.check(force=True)

    def advance(self, files: int, nbytes: int) -> None:
        with self._lock:
            self._files_done += files
            self._bytes_done += nbytes
        self.check()

    def end(self) -> None:
        with self._lock:  # the stage is done: all of it
            if self._files_total is not None:
                self._files_done = max(self._files_done, self._files_total)
            if self._bytes_total is not None:
                self._bytes_done = max(self._bytes_done, self._bytes_total)
        self.check()

    def progress(self) -> dict[str, int | None]:
        """Files and bytes done and to do, as recorded on the job (call with the lock held)."""
        if self._parts:
            return {
                "files_done": self._before_files + self._files_done,
                "bytes_done": self._before_bytes + self._bytes_done,
                "files_total": self._before_files + (self._files_total or 0),
                "bytes_total": self._before_bytes + (self._bytes_total or 0),
            }
        current = (self._bytes_total or 0, self._files_total or 0)
        if self._largest is not None and self._largest > current:
            nbytes, files = self._largest  # a smaller stage after the largest: that one is done
            return {
                "files_done": files,
                "bytes_done": nbytes,
                "files_total": files,
                "bytes_total": nbytes,
            }
        return {
            "files_done": self._files_done,
            "bytes_done": self._bytes_done,
            "files_total": self._files_total,
            "bytes_total": self._bytes_total,
        }

    def check(self, force: bool = False) -> None:
        """Renew the lease now if a third of it has passed (or ``force``); raise
        :class:`JobStopped` if the job must stop."""
        if self._stopped:
            raise JobStopped(self.job_id)
        every = min(self.lease.total_seconds() / 3, PROGRESS_EVERY)
        if force or time.monotonic() - self._renewed >= every:
            self._renew()
        if self._stopped:
            raise JobStopped(self.job_id)

    def _renew(self) -> None:
        with self._lock:
            if self._stopped:
                return
            shown = self.progress()
            held = jobs.renew(
                self.app,
                self.job_id,
                self.owner,
                self.lease,
                files_done=shown["files_done"],
                bytes_done=shown["bytes_done"],
                files_total=shown["files_total"],
                bytes_total=shown["bytes_total"],
            )
            self._renewed = time.monotonic()
            if not held:
                log.info("job %s: lease lost or cancellation asked; stopping", self.job_id)
                self._stopped = True

    @property
    def stopped(self) -> bool:
        return self._stopped

    def checkpoint(self, data: Mapping[str, Any]) -> None:
        """Save where a resumable handler has got to; the next attempt finds it in
        ``job.checkpoint``. Raises :class:`JobStopped` when the job is no longer this worker's."""
        if self._stopped or not jobs.save_checkpoint(self.app, self.job_id, self.owner, data):
            self._stopped = True
            raise JobStopped(self.job_id)
        self.job = dataclasses.replace(self.job, checkpoint=dict(data))

    # the heartbeat
    def start_heartbeat(self) -> None:
        self._heartbeat = threading.Thread(
            target=self._beat, name=f"heartbeat-{self.job_id[:8]}", daemon=True
        )
        self._heartbeat.start()

    def _beat(self) -> None:
        interval = max(self.lease.total_seconds() / 3, 0.2)
        while not self._finished.wait(interval):
            try:
                self._renew()
            except Exception:  # the catalogue hiccuped: the next beat tries again
                log.warning("job %s: heartbeat failed", self.job_id, exc_info=True)
            if self._stopped:
                return

    def stop_heartbeat(self) -> None:
        self._finished.set()
        if self._heartbeat is not None:
            self._heartbeat.join()


# ----------------------------------------------------------------------------- running a job


def run_job(app: Application, job_id: str, owner: str | None = None) -> str:
    """Run job ``job_id`` if its lease can be claimed. The outcome: ``succeeded``,
    ``retrying``, ``failed``, ``cancelled``, ``stopped`` (its lease was lost), or ``skipped``
    (not claimed: a duplicate message, a job that runs elsewhere, has ended or is not due)."""
    owner = owner or worker_name()
    lease = timedelta(seconds=app.settings.job_lease)
    job = jobs.claim(app, job_id, owner, lease)
    if job is None:
        log.info("job %s not claimed (running elsewhere, ended, or not due): nothing to do", job_id)
        return "skipped"
    log.info("job %s (%s) claimed by %s, attempt %d", job.id, job.kind, owner, job.attempts)
    # the work is done for whoever asked for it: they are the implementer of its PREMIS
    # events, as if they had run the command themselves (`--as`, or their login name)
    worker_actor = app.actor
    app.actor = job.requested_by or worker_actor
    try:
        return _run(app, job, owner)
    finally:
        app.actor = worker_actor


def _run(app: Application, job: JobRecord, owner: str) -> str:
    work = LeasedWork(app, job, owner)
    handler = HANDLERS.get(job.kind)
    work.start_heartbeat()
    try:
        if handler is None:
            raise PreserveError(f"no handler for jobs of kind {job.kind!r} in this worker")
        result = handler(app, job, work)
        work.check(force=True)  # the last progress; a cancellation of the last moments counts
    except JobStopped:
        work.stop_heartbeat()
        return _stopped(app, job, owner)
    except BaseException as exc:
        work.stop_heartbeat()
        if not isinstance(exc, Exception):  # the worker itself is stopping: the lease runs out
            raise
        return _failed(app, job, owner, exc)
    work.stop_heartbeat()
    if jobs.succeed(app, job.id, owner, result):
        log.info("job %s (%s) succeeded", job.id, job.kind)
        return "succeeded"
    return _stopped(app, job, owner)


def _stopped(app: Application, job: JobRecord, owner: str) -> str:
    now = jobs.show(app, job.id)
    if now.cancel_requested and now.state == "running" and now.lease_owner == owner:
        jobs.stopped_for_cancellation(app, job.id, owner)
        log.info("job %s (%s) cancelled on request", job.id, job.kind)
        return "cancelled"
    log.info("job %s (%s) stopped: its lease is no longer %s's", job.id, job.kind, owner)
    return "stopped"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, PreserveError):
        return text or exc.code
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _failed(app: Application, job: JobRecord, owner: str, exc: Exception) -> str:
    retryable = isinstance(exc, tuple(RETRYABLE))
    error = _one_line(exc)
    if retryable:
        log.warning("job %s (%s) attempt %d failed: %s", job.id, job.kind, job.attempts, error)
    elif isinstance(exc, PreserveError):
        log.error("job %s (%s) failed: %s", job.id, job.kind, error, exc_info=exc)
    else:
        log.error("job %s (%s) failed with a bug: %s", job.id, job.kind, error, exc_info=exc)
    record = jobs.fail(
        app, job.id, owner, error, retryable=retryable, result=getattr(exc, "result", None)
    )
    if record is None:
        return "stopped"
    if record.state == "queued":
        delay = (
            max(0.0, (record.not_before - datetime.now(UTC)).total_seconds())
            if record.not_before is not None
            else None
        )
        if delay is None or delay <= MAX_COUNTDOWN:
            publish_job(app, job.id, countdown=delay)
        return "retrying"
    if record.state == "cancelled":
        return "cancelled"
    return "failed"  # with its alert, recorded in the same transaction


# ----------------------------------------------------------------------------- the reaper


def tick_reaper(app: Application, *, now: datetime | None = None) -> list[str]:
    """Queue again the running jobs whose lease ran out, and publish them and every queued,
    due job that has waited longer than a lease (its message may have been lost: the
    filesystem transport loses a killed worker's message). A duplicate message is harmless.
    Returns the ids published."""
    at = now or datetime.now(UTC)
    lease = timedelta(seconds=app.settings.job_lease)
    requeued = jobs.reap(app, now=at)
    _expire_transfers(app, at)
    waiting = jobs.waiting(app, at, lease, limit=REPUBLISH_LIMIT)
    published = list(dict.fromkeys([*requeued, *waiting]))
    done = [job_id for job_id in published if publish_job(app, job_id)]
    jobs.mark_published(app, done, now=at)
    if requeued:
        log.info("reaper: %d job(s) queued again after their lease ran out", len(requeued))
    if waiting:
        log.info("reaper: %d queued job(s) published again", len(set(waiting) & set(done)))
    return done


def _expire_transfers(app: Application, at: datetime) -> None:
    """Web uploads abandoned longer than ``upload_expiry_hours`` lose their files (a failure
    here never stops the reaper)."""
    from preserve.services.transfers import expire_abandoned

    try:
        expire_abandoned(app, at)
    except Exception:
        log.warning("reaper: expiring abandoned uploads failed", exc_info=True)


# ----------------------------------------------------------------------------- handlers


@handles("noop")
def run_noop(app: Application, job: JobRecord, work: Work) -> Mapping[str, Any]:
    """An empty job: the queue's own overhead (benchmark), and a worker's smoke test."""
    work.check()
    return {}


def ingest_payload(
    paths: Sequence[Path],
    *,
    collection: str | None,
    organisation: str | None,
    title: str | None,
    metadata_csv: Path | None,
    metadata_encoding: str | None,
    new_version_of: str | None,
) -> dict[str, Any]:
    """The payload of an ``ingest`` (or ``version``) job: absolute paths, as the workers
    (which may run elsewhere, on the same shared folders) must find them."""
    return {
        "paths": [str(Path(p).absolute()) for p in paths],
        "collection": collection,
        "organisation": organisation,
        "title": title,
        "metadata_csv": str(Path(metadata_csv).absolute()) if metadata_csv else None,
        "metadata_encoding": metadata_encoding,
        "new_version_of": new_version_of,
    }


def check_ingest(app: Application, payload: Mapping[str, Any]) -> None:
    """Refuse, before anything is queued, what the foreground ingest would refuse before
    starting: the collection or package, the paths, the metadata CSV."""
    from preserve.ingest.pipeline import check_request

    check_request(
        app,
        [Path(p) for p in payload["paths"]],
        collection=payload.get("collection"),
        organisation=payload.get("organisation"),
        metadata_csv=Path(payload["metadata_csv"]) if payload.get("metadata_csv") else None,
        metadata_encoding=payload.get("metadata_encoding"),
        new_version_of=payload.get("new_version_of"),
    )


def _problem(p: Any) -> dict[str, Any]:
    return {"code": p.code, "path": p.path, "message": p.message, "severity": p.severity}


def _failure_json(f: Any) -> dict[str, Any]:
    """A failed delivery for the job's result: its error, and each problem with its file
    (an invalid bag's or delivery's problems), so a page can show them per file."""
    return {
        "source": str(Path(f.source).absolute()),
        "code": f.error.code,
        "message": " ".join(str(f.error).split()),
        "problems": [_problem(p) for p in getattr(f.error, "problems", ())],
    }


def _result_json(r: Any) -> dict[str, Any]:
    return {
        "source": r.source,
        "status": r.status,
        "package_id": r.package_id,
        "duplicate_of": r.duplicate_of,
        "organisation": r.organisation,
        "collection": r.collection,
        "title": r.title,
        "title_source": r.title_source,
        "version": r.version,
        "changes": r.changes,
        "stored_bytes": r.stored_bytes,
        "files": r.files,
        "bytes": r.bytes,
        "copies": list(r.copies),
        "key_prefix": r.key_prefix,
        "warnings": [_problem(w) for w in r.warnings],
    }


class IngestFailed(PreserveError):
    """Deliveries of an ingest job failed (the message names each with its error)."""

    code = "ingest-failed"

    def __init__(
        self, message: str, exit_code: int, result: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        #: the failed job's result: each failed delivery with its problems per file
        self.result = result


@handles("ingest")
@handles("version")
def run_ingest(app: Application, job: JobRecord, work: Work) -> Mapping[str, Any]:
    """Ingest the job's deliveries as ``preserve ingest`` does. Resumable: each delivery's
    result is saved as it ends (the job's checkpoint), so the next attempt after a crash or a
    storage outage goes on with the deliveries not yet done."""
    from preserve.ingest import ingest
    from preserve.ingest.model import IngestFailure
    from preserve.services.journal import flush_events

    payload = job.payload
    saved = dict(job.checkpoint or {})
    done: list[dict[str, Any]] = list(saved.get("packages", []))
    finished = {d["source"] for d in done}
    todo = [Path(p) for p in payload["paths"] if str(Path(p).absolute()) not in finished]
    failures: list[IngestFailure] = []
    recovered: list[str] = list(saved.get("recovered", []))

    def on_result(outcome: Any) -> None:
        if isinstance(outcome, IngestFailure):
            failures.append(outcome)
            return
        entry = _result_json(outcome)
        entry["source"] = str(Path(outcome.source).absolute())
        done.append(entry)
        work.checkpoint({"packages": done, "recovered": recovered})

    if todo:
        report = ingest(
            app,
            todo,
            collection=payload.get("collection"),
            organisation=payload.get("organisation"),
            title=payload.get("title"),
            metadata_csv=Path(payload["metadata_csv"]) if payload.get("metadata_csv") else None,
            metadata_encoding=payload.get("metadata_encoding"),
            progress=work,
            on_result=on_result,
            new_version_of=payload.get("new_version_of"),
        )
        recovered.extend(report.recovered)
        flush_events(app, [r.package_id for r in report.results])
        from preserve.services.derivatives import queue_after_ingest

        # thumbnails and previews of the images stored (a derive job each; never fails this)
        queue_after_ingest(app, [r.package_id for r in report.results if r.status == "stored"])
    _earlier_attempts(app, job, done)
    if failures:
        retryable = [f for f in failures if isinstance(f.error, tuple(RETRYABLE))]
        if retryable and len(retryable) == len(failures):
            raise retryable[0].error  # another attempt goes on with what is not done
        stored = sum(d["status"] == "stored" for d in done)
        text = "; ".join(
            f"{Path(f.source).name}: {' '.join(str(f.error).split())}" for f in failures
        )
        raise IngestFailed(
            f"{len(failures)} of {len(payload['paths'])} deliveries failed ({text}); "
            f"{stored} stored",
            max(f.error.exit_code for f in failures),
            {"packages": done, "failures": [_failure_json(f) for f in failures]},
        )
    return {
        "packages": done,
        "failures": [],
        "recovered": recovered,
        "stored": sum(d["status"] == "stored" for d in done),
        "duplicates": sum(d["status"] == "duplicate" for d in done),
        "unchanged": sum(d["status"] == "unchanged" for d in done),
    }


def _earlier_attempts(app: Application, job: JobRecord, done: list[dict[str, Any]]) -> None:
    """A delivery an earlier attempt of this job stored, but was killed before it could save
    its checkpoint, comes back as a duplicate of that package: it was stored by this job."""
    if job.attempts <= 1 or job.started_at is None:
        return
    duplicates = [d for d in done if d["status"] == "duplicate" and d.get("duplicate_of")]
    if not duplicates:
        return
    with app.uow() as uow:
        for d in duplicates:
            package = uow.packages.get(d["duplicate_of"])
            if package is not None and package.created_at >= job.started_at:
                d["status"] = "stored"
                d["package_id"] = package.id
                d["stored_by_earlier_attempt"] = True
