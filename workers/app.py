"""The Celery app, built from settings: broker, queue and reliability options, beat schedule.

Reliability does not rest on the broker: the jobs table is the truth and a message is only a
doorbell (``preserve/broker.py``). The options below make every broker do its best anyway:
acks late and reject on a lost worker (a message is redelivered where the broker can), one
message prefetched per process (no job waits behind a long one on a busy worker), no result
backend (the job row is the result), and on Redis a visibility timeout longer than any task.
Beat has four static entries; the schedule of fixity checks is data in the catalogue.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from celery import Celery
from celery.schedules import crontab
from celery.signals import worker_process_init
from preserve.config.settings import Settings

from preserve.broker import (
    AGREEMENTS_DAILY,
    DAILY_REPORT,
    DISPATCH_FIXITY,
    REAP,
    connection_options,
    is_embedded,
    kombu_url,
    task_queue,
)

#: How often beat asks for due fixity checks (the per-copy schedule is in the catalogue).
DISPATCH_FIXITY_EVERY = timedelta(minutes=5)
#: When the daily report is made (UTC).
DAILY_REPORT_AT = crontab(hour=6, minute=0)
#: When agreements advance (start dates, reviews, expiry, notice) and due packages are marked.
AGREEMENTS_DAILY_AT = crontab(hour=5, minute=30)


def reap_every(settings: Settings) -> timedelta:
    """The reaper's tick: every minute, sooner when leases are shorter (tests)."""
    return timedelta(seconds=min(60.0, max(1.0, settings.job_lease / 3)))


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        "reap": {"task": REAP, "schedule": reap_every(settings)},
        "dispatch-fixity": {"task": DISPATCH_FIXITY, "schedule": DISPATCH_FIXITY_EVERY},
        "daily-report": {"task": DAILY_REPORT, "schedule": DAILY_REPORT_AT},
        "agreements-daily": {"task": AGREEMENTS_DAILY, "schedule": AGREEMENTS_DAILY_AT},
    }


def schedule_file(settings: Settings) -> Path:
    """Where beat keeps the times its entries last ran: ``<home>/beat/schedule``."""
    folder = Path(settings.home) / "beat"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "schedule"


@worker_process_init.connect
def _may_have_children(**_: Any) -> None:
    """A pool process is marked daemonic, and multiprocessing refuses to start children from
    a daemonic process; an ingest starts its identification helpers. They end with it: a
    killed worker's process group goes as a whole, and the helpers stop when their pipe to a
    dead parent breaks."""
    import multiprocessing
    import multiprocessing.process
    import os

    config = multiprocessing.current_process()._config  # type: ignore[attr-defined]
    config.pop("daemon", None)
    # billiard's own key type, which multiprocessing's spawn cannot pass on
    config["authkey"] = multiprocessing.process.AuthenticationString(os.urandom(32))  # type: ignore[attr-defined]


def make_celery(settings: Settings) -> Celery:
    """The Celery app of ``settings``, with the tasks of :mod:`preserve.workers.tasks`."""
    from preserve.workers import tasks

    app = Celery("preserve", broker=kombu_url(settings), set_as_current=False)
    queue = task_queue(settings)
    app.conf.update(
        broker_transport_options=connection_options(settings),
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        task_queues=[queue],
        task_default_queue=queue.name,
        task_default_exchange=queue.name,
        task_default_routing_key=queue.name,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        task_store_errors_even_if_ignored=False,
        result_backend=None,
        worker_prefetch_multiplier=1,
        worker_send_task_events=False,
        # the embedded transport has no need of remote control (and would fill its folder)
        worker_enable_remote_control=not is_embedded(settings),
        worker_hijack_root_logger=True,
        task_serializer="json",
        accept_content=["json"],
        enable_utc=True,
        timezone="UTC",
        beat_schedule=beat_schedule(settings),
        beat_schedule_filename=str(schedule_file(settings)),
    )
    tasks.register(app)
    return app
