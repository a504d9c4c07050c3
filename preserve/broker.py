"""The workers' message broker (adapter over kombu): where task messages go, and how.

A message is only a doorbell: it carries a job id, and the job's row in the catalogue is the
truth (:mod:`preserve.services.jobs`). The broker is Redis or RabbitMQ (``PRESERVE_BROKER_URL``),
or, with none configured, kombu's ``filesystem://`` transport in ``<home>/broker/{queue,
processed,control}`` (one machine, no service). That transport loses the message of a worker
killed with SIGKILL; the reaper re-publishes such jobs, so it costs a delay, never the job.

Services publish through :func:`publish_run_job` without importing Celery: the message is
Celery's task protocol 2, written with kombu, the library Celery itself sends with. The
Celery app in ``workers/`` declares its queue with :func:`task_queue` and connects with
:func:`connection_options`, so both sides always agree.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from preserve.config.settings import Settings, redact_url
from preserve.errors import BrokerUnreachable

if TYPE_CHECKING:
    from kombu import Connection, Queue

log = logging.getLogger(__name__)

#: The names of the Celery tasks (``workers/tasks.py``).
RUN_JOB = "preserve.run_job"
REAP = "preserve.reap"
DISPATCH_FIXITY = "preserve.dispatch_fixity"
DAILY_REPORT = "preserve.daily_report"

#: Seconds between two looks of a worker in the embedded broker's queue folder.
EMBEDDED_POLLING_INTERVAL = 0.2
#: Seconds to wait for a broker before calling it unreachable (publishing, and checking).
CONNECT_TIMEOUT = 3.0
#: Redis redelivers a message not acked within this time: longer than the longest task (about
#: ten minutes, work is cut into pieces) and than the longest back-off (one hour, published
#: with a countdown the worker waits out while holding the message).
REDIS_VISIBILITY_TIMEOUT = 2 * 3600


def broker_url(settings: Settings) -> str:
    """The broker's URL: ``PRESERVE_BROKER_URL``, else the embedded filesystem transport."""
    return settings.broker_url or "filesystem://"


def is_embedded(settings: Settings) -> bool:
    return broker_url(settings).startswith("filesystem://")


def broker_folders(settings: Settings) -> dict[str, Path]:
    """The filesystem transport's folders under ``<home>/broker`` (created when missing)."""
    root = Path(settings.home) / "broker"
    folders = {name: root / name for name in ("queue", "processed", "control")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    return folders


def connection_options(settings: Settings) -> dict[str, Any]:
    """kombu's transport options for the broker (also Celery's ``broker_transport_options``)."""
    url = broker_url(settings)
    if url.startswith("filesystem://"):
        folders = broker_folders(settings)
        return {
            "data_folder_in": str(folders["queue"]),
            "data_folder_out": str(folders["queue"]),
            "processed_folder": str(folders["processed"]),
            "store_processed": False,
            "control_folder": str(folders["control"]),
            # how often a worker looks in the queue folder: kombu's default (1 s) made every job
            # wait about a second for its worker (measured: docs/benchmarks.md, Workers); a
            # listing of a few files 5 times a second costs an idle worker next to nothing
            "polling_interval": EMBEDDED_POLLING_INTERVAL,
        }
    if url.startswith(("redis://", "rediss://")):
        return {
            "visibility_timeout": REDIS_VISIBILITY_TIMEOUT,
            "socket_connect_timeout": CONNECT_TIMEOUT,
            "socket_timeout": 30,
            "max_retries": 1,
        }
    return {"max_retries": 1}


def is_rabbitmq(settings: Settings) -> bool:
    return broker_url(settings).startswith(("amqp://", "amqps://", "pyamqp://"))


def task_queue(settings: Settings) -> Queue:
    """The workers' queue (``PRESERVE_BROKER_QUEUE``): durable, on a direct exchange of the
    same name, as Celery declares its default queue; on RabbitMQ a quorum queue (replicated,
    and its messages survive a broker node's loss)."""
    from kombu import Exchange, Queue

    name = settings.broker_queue
    arguments = {"x-queue-type": "quorum"} if is_rabbitmq(settings) else None
    return Queue(
        name,
        Exchange(name, type="direct", durable=True),
        routing_key=name,
        durable=True,
        queue_arguments=arguments,
    )


def connection(settings: Settings) -> Connection:
    from kombu import Connection

    return Connection(
        broker_url(settings),
        connect_timeout=CONNECT_TIMEOUT,
        transport_options=connection_options(settings),
    )


def check_broker(settings: Settings) -> None:
    """Raise :class:`BrokerUnreachable` when the broker does not answer within seconds."""
    conn = connection(settings)
    try:
        conn.ensure_connection(max_retries=1, timeout=CONNECT_TIMEOUT)
    except Exception as exc:
        raise BrokerUnreachable(
            f"the broker at {redact_url(broker_url(settings))} does not answer: "
            f"{_reason(exc)} (is it running? PRESERVE_BROKER_URL names it)"
        ) from exc
    finally:
        conn.release()


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return redact_url(text)


def task_message(
    task: str, args: list[Any], *, countdown: float | None = None
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """(body, headers, properties) of a Celery task message (protocol 2)."""
    task_id = str(uuid.uuid4())
    eta = None
    if countdown:
        eta = (datetime.now(UTC) + timedelta(seconds=countdown)).isoformat()
    headers = {
        "lang": "py",
        "task": task,
        "id": task_id,
        "shadow": None,
        "eta": eta,
        "expires": None,
        "group": None,
        "group_index": None,
        "retries": 0,
        "timelimit": [None, None],
        "root_id": task_id,
        "parent_id": None,
        "argsrepr": repr(args),
        "kwargsrepr": "{}",
        "origin": f"{os.getpid()}@{socket.gethostname()}",
        "ignore_result": True,
    }
    body: tuple[Any, ...] = (
        args,
        {},
        {"callbacks": None, "errbacks": None, "chain": None, "chord": None},
    )
    properties = {"correlation_id": task_id, "reply_to": ""}
    return body, headers, properties


def publish_run_job(settings: Settings, job_id: str, *, countdown: float | None = None) -> None:
    """Send the message that asks a worker to run job ``job_id`` (after ``countdown``
    seconds). Raises :class:`BrokerUnreachable` when the broker does not answer."""
    queue = task_queue(settings)
    body, headers, properties = task_message(RUN_JOB, [job_id], countdown=countdown)
    conn = connection(settings)
    try:
        if is_embedded(settings):
            # kombu's filesystem transport remembers declared bindings in a state shared by
            # the whole process, and then skips writing them into *this* broker's control
            # folder: a message to another home's queue (a second repository in one
            # process) would find no route and be dropped without a word
            from kombu.transport.virtual import BrokerState

            conn.transport.state = BrokerState()
        producer = conn.Producer(serializer="json")
        producer.publish(
            body,
            exchange=queue.exchange,
            routing_key=queue.routing_key,
            declare=[queue],
            headers=headers,
            delivery_mode=2,
            retry=True,
            retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.5},
            **properties,
        )
    except Exception as exc:
        raise BrokerUnreachable(
            f"could not publish job {job_id} to {redact_url(broker_url(settings))}: {_reason(exc)}"
        ) from exc
    finally:
        conn.release()
