"""The tasks: each builds the Application from settings (once per worker process) and calls a
service. They carry job ids only; the jobs table is the truth."""

from __future__ import annotations

import logging
import os

from celery import Celery
from preserve.config.settings import Settings

from preserve.bootstrap import Application, bootstrap
from preserve.broker import AGREEMENTS_DAILY, DAILY_REPORT, DISPATCH_FIXITY, REAP, RUN_JOB

log = logging.getLogger(__name__)

_application: tuple[int, Application] | None = None


def application() -> Application:
    """This worker process's Application (a forked pool process builds its own)."""
    global _application
    if _application is None or _application[0] != os.getpid():
        from preserve.services.runner import load_handlers

        load_handlers()
        _application = (os.getpid(), bootstrap(Settings.from_env(), actor="preserve-worker"))
    return _application[1]


def run_job(job_id: str) -> str:
    """Run one job (its lease decides whether this worker may)."""
    from preserve.services.runner import run_job as run

    return run(application(), job_id)


def reap() -> list[str]:
    """Queue again the jobs whose worker died, publish those whose message may be lost, then
    deliver the alerts still pending (e-mail, webhook)."""
    from preserve.services import alerts
    from preserve.services.runner import tick_reaper

    app = application()
    published = tick_reaper(app)
    alerts.deliver_pending(app)
    _remind(app)
    return published


#: How often the reaper also tells the parties what awaits them (a proposal, a signature, a
#: disposal to approve), so that they need not wait for the daily run.
REMIND_EVERY_SECONDS = 15 * 60
_last_reminded: float | None = None


def _remind(app: Application, *, force: bool = False) -> int:
    """Send the notifications owed now (at most every REMIND_EVERY_SECONDS per process, unless
    ``force``); never raises: what could not be sent is tried again the next time."""
    import time

    global _last_reminded
    if not app.settings.smtp_url:
        return 0
    recent = _last_reminded is not None and time.monotonic() - _last_reminded < REMIND_EVERY_SECONDS
    if recent and not force:
        return 0
    _last_reminded = time.monotonic()
    from preserve.services import notifications

    try:
        return len(notifications.send_due(app).recorded)
    except Exception:
        log.exception("notifications not sent (tried again later)")
        return 0


def dispatch_fixity() -> list[str]:
    """Queue the fixity checks that are due (the schedule is data in the catalogue); the
    service publishes the jobs it queues once they have landed."""
    from preserve.workers.app import DISPATCH_FIXITY_EVERY

    from preserve.services import schedule

    return list(schedule.dispatch_due(application(), tick=DISPATCH_FIXITY_EVERY))


def daily_report() -> str:
    """Queue the daily report (coverage, backlog and failures, by e-mail and webhook) as a
    ``report`` job, one per day: a second scheduler, or this tick delivered twice, finds the
    day's job already queued and sends nothing more."""
    from datetime import UTC, datetime

    from preserve.services import jobs

    day = datetime.now(UTC).date().isoformat()
    job = jobs.submit(
        application(), "report", {"day": day}, idempotency_key=f"report:{day}", max_attempts=3
    )
    return job.id


def agreements_daily() -> dict[str, int]:
    """Daily: agreements move on their dates (signed -> active, reviews, expiry, the end of a
    notice), then packages whose retention is reached become due (under review for the action
    review) and those of an expired agreement are flagged for review (never deleted). Both
    are idempotent: a second scheduler, or this tick delivered twice, changes nothing more."""
    from preserve.services import agreements, retention, retention_locks

    app = application()
    moved = agreements.advance(app)
    marked = retention.mark_due(app)
    # S3 Object Lock: rolling retentions renewed, what failed before applied (idempotent)
    locks = retention_locks.sweep(app)
    from preserve.services import disposal  # restore windows that ended: delete for good

    purged = disposal.purge_expired(app)
    # restore tests due at the agreements' intervals: a package each, read back and validated
    from preserve.services import restore_tests

    tested = restore_tests.run_due(app)
    # the parties told what awaits them: reviews, end dates and embargoes coming
    reminded = _remind(app, force=True)
    return {
        "notifications": reminded,
        "purged": len(purged),
        "restore_tests": sum(1 for t in tested if t.result is not None),
        "agreements": len(moved),
        "packages": len(marked),
        "object_locks": len(locks.packages),
        "object_locks_failed": len(locks.failed),
    }


def register(app: Celery) -> None:
    """Register the tasks on ``app`` under their names in :mod:`preserve.broker`."""
    app.task(name=RUN_JOB, ignore_result=True, acks_late=True)(run_job)
    app.task(name=REAP, ignore_result=True)(reap)
    app.task(name=DISPATCH_FIXITY, ignore_result=True)(dispatch_fixity)
    app.task(name=DAILY_REPORT, ignore_result=True)(daily_report)
    app.task(name=AGREEMENTS_DAILY, ignore_result=True)(agreements_daily)
