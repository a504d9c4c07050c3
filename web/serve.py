"""``preserve serve``: the web catalogue under a production WSGI server.

gunicorn with the ``gthread`` worker class (one process, ``threads`` request threads: an upload
chunk holds a thread while it streams to disk, a page a few milliseconds), started
programmatically through :class:`gunicorn.app.base.BaseApplication`; waitress where gunicorn
cannot be imported (Windows) or when asked for. With no broker configured (the embedded
filesystem transport) the embedded workers run beside it: a child ``preserve worker
--with-scheduler`` process, started before the server and stopped with it, so jobs queued from
the web run.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from preserve.config.settings import Settings

from preserve.errors import InvalidInput, PreserveError

log = logging.getLogger(__name__)

#: Seconds a request may take before gunicorn restarts its worker: an upload chunk on a slow
#: line (tus chunks are bounded; a whole download streams without a limit under gthread).
TIMEOUT = 600
#: Seconds a stopping server gives requests under way (an upload chunk) to finish.
GRACEFUL_TIMEOUT = 30


class AddressInUse(PreserveError):
    """The address to listen on is taken (another ``preserve serve``?)."""

    exit_code = 69  # EX_UNAVAILABLE
    code = "address-in-use"


@dataclass(frozen=True)
class Bind:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host  # noqa: S104
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"


def parse_bind(value: str) -> Bind:
    """``HOST:PORT`` (``[::1]:8000`` for IPv6)."""
    text = value.strip()
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidInput(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:8000 or 0.0.0.0:8080)")
    return Bind(host, int(port))


def check_address(bind: Bind) -> None:
    """Fail at once, in one line, when the address is taken or cannot be used (gunicorn would
    retry for five seconds and then log a traceback-like message)."""
    family = socket.AF_INET6 if ":" in bind.host else socket.AF_INET
    probe = socket.socket(family, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((bind.host, bind.port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise AddressInUse(
                f"{bind} is in use (is preserve serve running already?): stop that program or "
                "choose another address with --bind HOST:PORT"
            ) from None
        raise AddressInUse(f"cannot listen on {bind}: {exc.strerror or exc}") from None
    finally:
        probe.close()


# ---------------------------------------------------------------------------- embedded workers


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """On Linux the worker gets SIGTERM when the server dies, even by SIGKILL."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


#: A worker that ends within this many seconds of its start has failed quickly.
QUICK_FAILURE = 60.0
#: After this many quick failures in a row the server stops starting its worker again.
MAX_QUICK_FAILURES = 5
#: Seconds between two looks at the embedded worker.
SUPERVISE_EVERY = 1.0


class EmbeddedWorker:
    """The server's ``preserve worker --with-scheduler`` child, started again when it ends
    (after 1, 2, 4 … up to 30 seconds when it keeps failing soon after its start; given up,
    with a line in the log, after :data:`MAX_QUICK_FAILURES` such failures in a row). A worker
    that died used to leave the catalogue accepting jobs nothing ran (trial of issue 11, F17).

    The child is in a process group of its own: Ctrl-C in the terminal stops the server, which
    stops the worker (SIGTERM: its job under way finishes); a worker killed outright is
    replaced, and what it left (its pool, its scheduler) is killed with its group."""

    def __init__(self, settings: Settings, log_file: Path) -> None:
        self.settings = settings
        self.log_file = log_file
        self.child: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.restarts = 0
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._watch, name="embedded-worker", daemon=True)

    @property
    def pid(self) -> int | None:
        return self.child.pid if self.child is not None else None

    def start(self) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self._spawn()
        self._thread.start()

    def _spawn(self) -> None:
        with open(self.log_file, "ab") as out:
            self.child = subprocess.Popen(
                [
                    sys.executable,
                    *("-m", "preserve.cli", "worker", "--with-scheduler", "--concurrency", "1"),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                process_group=0,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        self.started_at = time.monotonic()

    def _say(self, message: str) -> None:
        line = f"preserve serve: {message}"
        print(line, file=sys.stderr, flush=True)
        with contextlib.suppress(OSError), open(self.log_file, "a") as out:
            out.write(f"[{datetime.now(UTC):%Y-%m-%d %H:%M:%S}] {line}\n")

    def _watch(self) -> None:
        quick_failures = 0
        while not self._stopping.wait(SUPERVISE_EVERY):
            child = self.child
            if child is None or child.poll() is None:
                continue
            # what the dead worker left behind (its pool, its scheduler) goes with it
            with contextlib.suppress(OSError):
                os.killpg(child.pid, signal.SIGKILL)
            ran = time.monotonic() - self.started_at
            quick_failures = quick_failures + 1 if ran < QUICK_FAILURE else 1
            if quick_failures > MAX_QUICK_FAILURES:
                self._say(
                    f"the embedded worker ended {MAX_QUICK_FAILURES} times in a row within "
                    f"{QUICK_FAILURE:.0f} s of its start: not started again (see "
                    f"{self.log_file}); queued jobs wait until a worker runs (restart "
                    "preserve serve, or run preserve worker)"
                )
                return
            delay = min(30.0, 2.0 ** (quick_failures - 1))
            self._say(
                f"the embedded worker (pid {child.pid}) ended after {ran:.0f} s (see "
                f"{self.log_file}): starting it again in {delay:.0f} s"
            )
            if self._stopping.wait(delay):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self._spawn()
                self.restarts += 1
            self._say(f"embedded worker started again (pid {self.pid})")

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            child = self.child
        if child is not None:
            stop_worker(child)
            with contextlib.suppress(OSError):  # its pool and scheduler, if any were left
                os.killpg(child.pid, signal.SIGKILL)
        if self._thread.is_alive():
            self._thread.join(timeout=10)


@contextmanager
def embedded_worker(settings: Settings, log_file: Path) -> Iterator[EmbeddedWorker]:
    """The embedded worker, supervised, stopped (SIGTERM, then waited for: its job under way
    finishes) when the block ends."""
    worker = EmbeddedWorker(settings, log_file)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


def stop_worker(child: subprocess.Popen[bytes], timeout: float = GRACEFUL_TIMEOUT + 30) -> None:
    if child.poll() is not None:
        return
    try:
        child.send_signal(signal.SIGTERM)
        child.wait(timeout)
    except subprocess.TimeoutExpired:
        log.warning("the embedded worker (pid %s) did not stop in %s s: killed", child.pid, timeout)
        child.kill()
        child.wait()
    except ProcessLookupError:  # already gone (reaped by the server's SIGCHLD handler)
        pass


# ---------------------------------------------------------------------------- servers


def gunicorn_available() -> bool:
    try:
        import gunicorn.app.base  # noqa: F401
    except ImportError:  # Windows: gunicorn needs fcntl
        return False
    return True


def run_gunicorn(settings: Settings, bind: Bind, threads: int) -> None:
    """Serve in the foreground until SIGTERM (graceful: requests under way may finish) or
    Ctrl-C (quick)."""
    from gunicorn.app.base import BaseApplication

    class Catalogue(BaseApplication):
        def __init__(self) -> None:
            self.options = {
                "bind": str(bind),
                "workers": 1,
                "worker_class": "gthread",
                "threads": threads,
                "timeout": TIMEOUT,
                "graceful_timeout": GRACEFUL_TIMEOUT,
                "keepalive": 5,
                "accesslog": "-",
                "errorlog": "-",
                "loglevel": "info",
                "proc_name": "preserve-serve",
                # no control socket (~/.gunicorn/gunicorn.ctl, shared by every server of a user)
                "control_socket_disable": True,
                # the app is made in the worker process: no catalogue connection crosses a fork
                "preload_app": False,
                "forwarded_allow_ips": os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
            }
            super().__init__()

        def load_config(self) -> None:
            for key, value in self.options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            from preserve.web import create_app

            return create_app(settings)

    master = os.getpid()
    try:
        Catalogue().run()
    except SystemExit as exc:
        if os.getpid() != master:
            # a request process gunicorn forked, ending (after its own clean-up): it must not
            # run the master's clean-up on its way out (stopping the embedded worker)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(exc.code if isinstance(exc.code, int) else 0)
        if exc.code not in (0, None):
            raise PreserveError(
                f"the web server stopped with status {exc.code} (its log above says why)"
            ) from None


def run_waitress(settings: Settings, bind: Bind, threads: int) -> None:
    import waitress
    from preserve.web import create_app

    waitress.serve(
        create_app(settings),
        host=bind.host,
        port=bind.port,
        threads=threads,
        channel_timeout=TIMEOUT,
        ident="preserve",
    )
