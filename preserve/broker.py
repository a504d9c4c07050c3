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

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
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
AGREEMENTS_DAILY = "preserve.agreements_daily"

#: Seconds between two looks of a worker in the embedded broker's queue folder.
EMBEDDED_POLLING_INTERVAL = 0.2
#: Seconds to wait for a broker before calling it unreachable (publishing, and checking).
CONNECT_TIMEOUT = 3.0
#: Redis redelivers a message not acked within this time: longer than the longest task (about
#: ten minutes, work is cut into pieces) and than the longest back-off (one hour, published
#: with a countdown the worker waits out while holding the message).
REDIS_VISIBILITY_TIMEOUT = 2 * 3600
#: Seconds between two signs of life of a worker on the embedded broker (a file it touches).
HEARTBEAT_EVERY = 5.0
#: A worker whose file is older than this is taken for gone.
HEARTBEAT_STALE = 30.0
#: The kombu scheme of our own filesystem transport (:class:`FilesystemTransport`).
EMBEDDED_SCHEME = "preservefs"


def broker_url(settings: Settings) -> str:
    """The broker's URL: ``PRESERVE_BROKER_URL``, else the embedded filesystem transport."""
    return settings.broker_url or "filesystem://"


def kombu_url(settings: Settings) -> str:
    """The URL kombu and Celery connect to: the embedded broker is kombu's filesystem
    transport with atomic publishing (:class:`FilesystemTransport`)."""
    url = broker_url(settings)
    if url.startswith("filesystem://"):
        _register_transport()
        return EMBEDDED_SCHEME + url[len("filesystem") :]
    return url


def _register_transport() -> None:
    from kombu.transport import TRANSPORT_ALIASES

    TRANSPORT_ALIASES.setdefault(EMBEDDED_SCHEME, "preserve.broker:FilesystemTransport")


def _filesystem_transport() -> type:
    """kombu's filesystem transport, with a message that appears whole and a bad one set aside.

    kombu writes a message file in place under its final name: a worker polling the folder
    could take it while it was still empty and die on the JSON error (trial of issue 11, F17).
    Here the file is written under a name the consumers do not list (``….msg.part``) and
    renamed into place, which is atomic on one filesystem; and a message file that cannot be
    read as JSON anyway (written by an older publisher, or damaged) is logged and moved to
    ``<broker>/rejected`` instead of stopping the worker."""
    import shutil
    import tempfile
    from queue import Empty

    from kombu.exceptions import ChannelError
    from kombu.transport import filesystem
    from kombu.utils.encoding import bytes_to_str, str_to_bytes
    from kombu.utils.json import dumps, loads

    class Channel(filesystem.Channel):
        def _put(self, queue: Any, message: Any, **kwargs: Any) -> Any:  # type: ignore[override]
            name = f"{round(time.monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
            final = os.path.join(self.data_folder_out, name)
            part = final + ".part"  # not "<queue>.msg": no consumer lists it
            try:
                with open(part, "wb") as f:
                    f.write(str_to_bytes(dumps(message)))
                os.replace(part, final)
            except OSError as exc:
                with _suppress():
                    os.unlink(part)
                raise ChannelError(f"Cannot add file {final!r} to directory") from exc

        def _get(self, queue: Any, timeout: Any = None) -> Any:
            wanted = f"{queue}.msg"
            for filename in sorted(os.listdir(self.data_folder_in)):
                if filename.partition(".")[2] != wanted:
                    continue
                folder = self.processed_folder if self.store_processed else tempfile.gettempdir()
                try:
                    shutil.move(os.path.join(self.data_folder_in, filename), folder)
                except OSError:
                    continue  # taken by another worker meanwhile
                path = os.path.join(folder, filename)
                try:
                    with open(path, "rb") as f:
                        payload = f.read()
                    if not self.store_processed:
                        os.remove(path)
                except OSError as exc:
                    raise ChannelError(f"Cannot read file {path!r} from queue.") from exc
                try:
                    return loads(bytes_to_str(payload))
                except ValueError as exc:
                    _reject(Path(self.data_folder_in), filename, payload, exc)
            raise Empty()

    class Transport(filesystem.Transport):
        pass

    Transport.Channel = Channel
    return Transport


def _suppress() -> Any:
    import contextlib

    return contextlib.suppress(OSError)


def _reject(queue_folder: Path, filename: str, payload: bytes, exc: Exception) -> None:
    """Keep an unreadable message file in ``<broker>/rejected`` and say so in the log."""
    folder = queue_folder.parent / "rejected"
    with _suppress():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / filename).write_bytes(payload)
    log.error(
        "broker: message %s is not readable (%d bytes: %s): set aside in %s",
        filename,
        len(payload),
        exc,
        folder,
    )


def __getattr__(name: str) -> Any:
    # ``FilesystemTransport``: built on first use, so importing this module needs no kombu
    if name == "FilesystemTransport":
        transport = _filesystem_transport()
        globals()[name] = transport
        return transport
    raise AttributeError(name)


def is_embedded(settings: Settings) -> bool:
    return broker_url(settings).startswith("filesystem://")


def broker_folders(settings: Settings) -> dict[str, Path]:
    """The filesystem transport's folders under ``<home>/broker`` (created when missing)."""
    root = Path(settings.home) / "broker"
    folders = {name: root / name for name in ("queue", "processed", "control")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    return folders


def heartbeat_folder(settings: Settings) -> Path:
    """``<home>/broker/workers``: a file per worker of the embedded broker, touched every
    :data:`HEARTBEAT_EVERY` seconds while it runs."""
    folder = Path(settings.home) / "broker" / "workers"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextlib.contextmanager
def heartbeat(settings: Settings) -> Iterator[None]:
    """While the block runs, this process shows it is alive (embedded broker only: workers of
    a real broker may be on other machines)."""
    if not is_embedded(settings):
        yield
        return
    path = heartbeat_folder(settings) / f"{socket.gethostname()}-{os.getpid()}"
    stop = threading.Event()

    def beat() -> None:
        while True:
            with contextlib.suppress(OSError):
                path.touch()
            if stop.wait(HEARTBEAT_EVERY):
                return

    with contextlib.suppress(OSError):
        path.touch()  # alive from the moment the block starts, not the thread's first beat
    thread = threading.Thread(target=beat, name="heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
        with contextlib.suppress(OSError):
            path.unlink()


def workers_alive(settings: Settings) -> bool | None:
    """Whether a worker of the embedded broker showed it is alive lately; None with a real
    broker (its workers may be anywhere: not known here)."""
    if not is_embedded(settings):
        return None
    limit = time.time() - HEARTBEAT_STALE
    try:
        return any(p.stat().st_mtime >= limit for p in heartbeat_folder(settings).iterdir())
    except OSError:
        return False


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
        kombu_url(settings),
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
