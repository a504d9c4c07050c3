"""``preserve worker`` and ``preserve scheduler``: the Celery worker and beat (issue 10)."""

from __future__ import annotations

import os
from typing import Any

import click

from preserve.cli.base import app, cli


def _ready(application: Any) -> None:
    """Refuse to start before ``preserve init`` (no catalogue, or one without the jobs table)
    or with a broker that does not answer (exit 69): one line, not a traceback loop."""
    from preserve.broker import check_broker
    from preserve.services.runner import check_catalogue

    check_catalogue(application)
    check_broker(application.settings)


def _loglevel() -> str:
    ctx = click.get_current_context().find_root()
    verbose = ctx.params.get("verbose") or 0
    if ctx.params.get("quiet"):
        return "WARNING"
    return "DEBUG" if verbose >= 2 else "INFO"


def default_concurrency(settings: Any) -> int:
    """One process per core on PostgreSQL; one on SQLite (a single writer)."""
    if settings.database_url.startswith("sqlite"):
        return 1
    return os.cpu_count() or 1


@cli.command()
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Jobs run at once, each in a process of its own (default: one per core on "
    "PostgreSQL, one on SQLite).",
)
@click.option(
    "--with-scheduler",
    is_flag=True,
    help="Also run the scheduler (beat) in this worker: for one machine. With several "
    "machines, run `preserve scheduler` once instead.",
)
def worker(concurrency: int | None, with_scheduler: bool) -> None:
    """Run a worker: it takes jobs (ingests, versions, replication, fixity, repairs) from the
    broker and runs them, until stopped with Ctrl-C or SIGTERM (the job under way is finished
    first; a second Ctrl-C stops at once, and the job runs again elsewhere once its lease runs
    out).

    \b
    The broker is PRESERVE_BROKER_URL (Redis or RabbitMQ: any number of workers on any number
    of machines sharing the catalogue and storage), else the embedded filesystem transport
    under PRESERVE_HOME/broker (one machine).

    \b
    Examples:
      preserve worker --with-scheduler
      PRESERVE_BROKER_URL=redis://broker:6379/0 preserve worker --concurrency 4
    """
    application = app()
    settings = application.settings
    _ready(application)
    from preserve.workers.app import make_celery, schedule_file

    celery = make_celery(settings)
    argv = [
        "worker",
        f"--loglevel={_loglevel()}",
        f"--concurrency={concurrency or default_concurrency(settings)}",
        f"--queues={settings.broker_queue}",
        f"--hostname=preserve-{os.getpid()}@%h",
        "--without-mingle",
        "--without-gossip",
    ]
    if with_scheduler:
        argv += ["--beat", f"--schedule={schedule_file(settings)}"]
    from preserve.broker import heartbeat

    with heartbeat(settings):  # the web catalogue's "no worker is running" notice
        _run(celery, argv)


@cli.command()
def scheduler() -> None:
    """Run the scheduler (Celery beat), once for the whole installation: it asks every minute
    for the jobs whose worker died, every 5 minutes for the fixity checks that are due (the
    schedule is data in the catalogue), and daily for the report. Its state is kept under
    PRESERVE_HOME/beat.

    \b
    Example:
      PRESERVE_BROKER_URL=redis://broker:6379/0 preserve scheduler
    """
    application = app()
    settings = application.settings
    _ready(application)
    from preserve.workers.app import make_celery, schedule_file

    celery = make_celery(settings)
    _run(celery, ["beat", f"--loglevel={_loglevel()}", f"--schedule={schedule_file(settings)}"])


def _run(celery: Any, argv: list[str]) -> None:
    """Run a Celery command in this process; its exit status becomes ours."""
    try:
        celery.start(argv=argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if code:
            raise click.exceptions.Exit(code) from None
