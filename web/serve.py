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

import errno
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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


@contextmanager
def embedded_worker(settings: Settings, log_file: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A ``preserve worker --with-scheduler`` child for the embedded broker, stopped (SIGTERM,
    then waited for: its job under way finishes) when the block ends."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    out = open(log_file, "ab")  # noqa: SIM115 - handed to the child, closed below
    child = subprocess.Popen(
        [sys.executable, "-m", "preserve.cli", "worker", "--with-scheduler", "--concurrency", "1"],
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
    )
    try:
        yield child
    finally:
        out.close()
        stop_worker(child)


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
