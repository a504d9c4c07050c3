"""Jobs: preserve jobs list, show, cancel, retry (the background work of issue 10)."""

from __future__ import annotations

from typing import Any

import click

from preserve.cli.base import GIVEN, app, cli, say
from preserve.cli.output import as_dict, count, emit_json, human_bytes

#: Job states (preserve.catalogue.models.JOB_STATES, which imports SQLAlchemy)
STATES = ("queued", "running", "succeeded", "failed", "cancelled")


@cli.group()
def jobs() -> None:
    """Background work (ingests, versions, replication, fixity ...) and its state."""


def _progress(j: Any) -> str:
    files = f"{j.files_done}/{j.files_total}" if j.files_total is not None else str(j.files_done)
    size = human_bytes(j.bytes_done)
    if j.bytes_total is not None:
        size += f"/{human_bytes(j.bytes_total)}"
    return f"{files} files, {size}"


def _line(j: Any) -> str:
    return (
        f"{j.id[:8]}  {j.created_at:%Y-%m-%d %H:%M}  {j.kind:<9}  {j.state:<9}  "
        f"attempt {j.attempts}/{j.max_attempts}  {_progress(j)}  by {j.requested_by or '-'}"
    ).rstrip()


@jobs.command("list")
@click.option("--state", type=click.Choice(STATES), default=None, help="Only jobs in this state.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def jobs_list(state: str | None, limit: int, as_json: bool) -> None:
    """List jobs, the latest first: id, when, kind, state, attempts, progress, who asked.

    \b
    Examples:
      preserve jobs list
      preserve jobs list --state failed --json
    """
    from preserve.services.jobs import list_jobs

    found = list_jobs(app(), state, limit)
    if as_json:
        emit_json([as_dict(j) for j in found])
        return
    if not found:
        say("no jobs" + (f" {state}" if state else ""))
    for j in found:
        say(_line(j))


@jobs.command("show")
@click.argument("job_id", type=GIVEN)
@click.option("--json", "as_json", is_flag=True)
def jobs_show(job_id: str, as_json: bool) -> None:
    """Show one job (its id, or the first 4 or more characters of it).

    \b
    Examples:
      preserve jobs show 7f3a9c1e
      preserve jobs show 7f3a9c1e --json
    """
    from preserve.services.jobs import show

    j = show(app(), job_id)
    if as_json:
        emit_json(as_dict(j))
        return
    rows = [
        ("job", f"{j.id} ({j.kind}, {j.state})"),
        ("asked by", j.requested_by or "-"),
        ("created", j.created_at.isoformat()),
        ("attempts", f"{j.attempts} of {j.max_attempts}"),
        ("progress", _progress(j)),
    ]
    if j.package_id:
        rows.append(("package", j.package_id))
    if j.lease_owner:
        rows.append(("running on", f"{j.lease_owner} (lease until {j.lease_until:%H:%M:%S})"))
    if j.not_before and j.state == "queued":
        rows.append(("not before", j.not_before.isoformat()))
    if j.cancel_requested and j.state == "running":
        rows.append(("", "cancellation asked: it stops at its next step"))
    if j.finished_at:
        rows.append(("finished", j.finished_at.isoformat()))
    if j.error:
        rows.append(("error", j.error))
    for key, value in sorted(j.payload.items()):
        rows.append((key, str(value)))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        say(f"{key:<{width}}  {value}".rstrip())


@jobs.command("cancel")
@click.argument("job_id", type=GIVEN)
def jobs_cancel(job_id: str) -> None:
    """Cancel a job: a queued one at once, a running one at its next step.

    \b
    Example:
      preserve jobs cancel 7f3a9c1e
    """
    from preserve.services.jobs import cancel

    j = cancel(app(), job_id)
    if j.state == "cancelled":
        say(f"cancelled job {j.id}")
    else:
        say(f"job {j.id} is running on {j.lease_owner}: asked to stop at its next step")


@jobs.command("retry")
@click.argument("job_id", type=GIVEN)
def jobs_retry(job_id: str) -> None:
    """Queue a failed or cancelled job again, its attempts counted afresh.

    \b
    Example:
      preserve jobs retry 7f3a9c1e
    """
    from preserve.services.jobs import retry
    from preserve.services.runner import publisher

    application = app()
    j = retry(application, job_id)
    publisher(application)(j.id)
    say(f"queued job {j.id} again")


#: Exit status of `jobs wait` when the time given ran out first (EX_TEMPFAIL of sysexits.h).
EXIT_STILL_RUNNING = 75


@jobs.command("wait")
@click.argument("job_id", type=GIVEN)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=None,
    metavar="SECONDS",
    help="Give up waiting after this long (exit 75); default: wait until the job ends.",
)
@click.option("--json", "as_json", is_flag=True)
def jobs_wait(job_id: str, timeout: float | None, as_json: bool) -> None:
    """Wait for a job to end, then print its outcome and result. Exit 0 only when it
    succeeded (1 when it failed or was cancelled, or a fixity job found a copy damaged; 75
    when --timeout ran out first).

    \b
    Examples:
      preserve jobs wait 7f3a9c1e
      preserve jobs wait "$(preserve ingest box-12 --collection photos --async --json \\
          | jq -r .job_id)" --timeout 600
    """
    import time

    from preserve.services.jobs import show

    application = app()
    started = time.monotonic()
    pause = 0.1
    j = show(application, job_id)
    while j.state in ("queued", "running"):
        if timeout is not None and time.monotonic() - started >= timeout:
            if as_json:
                emit_json(as_dict(j))
            click.echo(
                f"error: job {j.id} is still {j.state} after {timeout:g} s ({_progress(j)})",
                err=True,
            )
            raise click.exceptions.Exit(EXIT_STILL_RUNNING)
        time.sleep(pause)
        pause = min(pause * 1.5, 1.0)
        j = show(application, j.id)
    if as_json:
        emit_json(as_dict(j))
    else:
        _print_outcome(j)
    if j.state != "succeeded":
        if not as_json:
            click.echo(f"error: job {j.id} {j.state}: {j.error or 'no reason recorded'}", err=True)
        raise click.exceptions.Exit(1)
    if j.kind == "fixity" and (j.result or {}).get("failed"):
        raise click.exceptions.Exit(1)  # as the foreground check: damage found is a failure


def _print_outcome(j: Any) -> None:
    """What the job did: for an ingest, the lines the foreground command prints."""
    if j.kind in ("ingest", "version") and j.result:
        from preserve.cli.base import warn
        from preserve.cli.ingest import delivery_warning, ingest_summary, result_line
        from preserve.ingest.model import IngestReport, IngestResult
        from preserve.values import Problem

        results = []
        for p in j.result.get("packages", []):
            fields = {k: v for k, v in p.items() if k in IngestResult.__dataclass_fields__}
            fields["copies"] = tuple(fields.get("copies", ()))
            fields["warnings"] = tuple(Problem(**w) for w in fields.get("warnings", ()))
            results.append(IngestResult(**fields))
        for r in results:
            for w in r.warnings:
                warn(delivery_warning(r.source, w))
            say(result_line(r))
        say(ingest_summary(IngestReport(tuple(results), ())))
        return
    if j.kind == "fixity" and j.result is not None and "outcomes" in j.result:
        r = j.result
        outcomes = ", ".join(f"{n} {o}" for o, n in sorted(r["outcomes"].items())) or "none"
        checked = count(r.get("checked", 0), "copy", "copies")
        say(f"job {j.id} (fixity) {j.state}: {checked} checked ({outcomes})")
        for f in r.get("failed", []):
            click.echo(
                f"FAILED {f['outcome']}: package {f['package_id']}, copy on location "
                f"{f['location']} (a repair job was queued; preserve show {f['package_id']})",
                err=True,
            )
        return
    say(f"job {j.id} ({j.kind}) {j.state}")
    for key, value in sorted((j.result or {}).items()):
        say(f"  {key}: {'none' if value is None else value}")
