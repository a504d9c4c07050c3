"""``preserve serve``: the web catalogue (gunicorn, or waitress), with the embedded workers
when no broker is configured."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import click

from preserve.cli.base import app, cli


@cli.command()
@click.option(
    "--bind",
    default=None,
    metavar="HOST:PORT",
    help="Where to listen (default PRESERVE_WEB_BIND, 127.0.0.1:8000; 0.0.0.0:8000 for every "
    "address: put HTTPS in front).",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1, max=256),
    default=None,
    metavar="N",
    help="Request threads (default PRESERVE_WEB_THREADS, 8); each upload under way holds one.",
)
@click.option(
    "--no-workers",
    is_flag=True,
    help="Do not start the embedded workers (run `preserve worker` yourself).",
)
@click.option(
    "--server",
    type=click.Choice(["gunicorn", "waitress"]),
    default=None,
    help="The WSGI server (default gunicorn; waitress where gunicorn cannot run, as on Windows).",
)
def serve(bind: str | None, threads: int | None, no_workers: bool, server: str | None) -> None:
    """Run the web catalogue in the foreground until Ctrl-C or SIGTERM (requests under way
    may finish first).

    \b
    With no broker configured (PRESERVE_BROKER_URL empty: the embedded transport) it also runs
    a worker with the scheduler, so ingests, fixity checks and exports queued from the web run;
    its log is PRESERVE_HOME/serve-worker.log. A worker that ends is started again (and the
    server says so). With a broker, run `preserve worker` apart.
    Sign in with an account made by `preserve users create`.

    \b
    Examples:
      preserve serve
      preserve serve --bind 0.0.0.0:8080 --threads 16
      PRESERVE_BROKER_URL=redis://broker:6379/0 preserve serve --no-workers
    """
    from preserve.services.runner import check_catalogue
    from preserve.web import serve as web_serve

    application = app()
    settings = application.settings
    address = web_serve.parse_bind(bind or settings.web_bind)
    check_catalogue(application)  # no catalogue: "run preserve init", before anything starts
    web_serve.check_address(address)
    if server is None:
        server = "gunicorn" if web_serve.gunicorn_available() else "waitress"
    elif server == "gunicorn" and not web_serve.gunicorn_available():
        raise click.UsageError("gunicorn cannot run here (Windows?): use --server waitress")
    count = threads or settings.web_threads
    with_workers = not no_workers and not settings.broker_url
    worker_log = settings.home / "serve-worker.log"
    workers: Any = (
        web_serve.embedded_worker(settings, worker_log) if with_workers else nullcontext()
    )
    with workers as child:
        if child is not None:
            click.echo(f"embedded worker started (pid {child.pid}, log {worker_log})")
        click.echo(
            f"serving the catalogue at {address.url} ({server}, {count} threads); Ctrl-C stops it",
            err=False,
        )
        import sys

        sys.stdout.flush()
        if server == "gunicorn":
            web_serve.run_gunicorn(settings, address, count)
        else:
            web_serve.run_waitress(settings, address, count)
    click.echo("stopped")
