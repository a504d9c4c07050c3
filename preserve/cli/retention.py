"""``preserve retention due|recompute``: the retention each package's agreement gives it
(issue 12; retention-agreements.md 4.2 and 5.1 E10)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from preserve.cli.base import app, cli, say
from preserve.cli.holds import COLLECTION
from preserve.cli.output import emit_json, table


@cli.group()
def retention() -> None:
    """Retention under the agreements: each package ingested under an agreement gets its
    retention start from the agreement's trigger (ingest date, creation date, a metadata
    field or an event) and its due date from the period. A missing or unparsable trigger
    value puts it in retention_error (correct the description: preserve describe). Due
    packages go under review (action review) or wait for a disposal proposal; nothing is
    ever deleted here."""


def _date(value: Any) -> str:
    return value.isoformat() if value is not None else "-"


def _lines(rows: list[Any]) -> list[str]:
    return table(
        ("PACKAGE", "COLLECTION", "AGREEMENT", "STATE", "START", "DUE", "RULE"),
        (
            (
                r.package_id[:8],
                r.collection,
                r.agreement,
                r.state,
                _date(r.retention_start),
                _date(r.retention_due),
                r.error if r.state == "retention_error" else r.rule,
            )
            for r in rows
        ),
    )


@retention.command("due")
@click.option(
    "--within",
    "within_days",
    type=click.IntRange(min=0),
    default=None,
    metavar="DAYS",
    help="Also the packages whose due date falls within DAYS days from today.",
)
@click.option(
    "--date",
    "on",
    default=None,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="What is due by this day (default: today); --within counts from it.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def due(within_days: int | None, on: datetime | None, as_json: bool) -> None:
    """List the packages that are due, under review or in retention_error, each with its
    agreement and rule (the earliest due date first). With --date, also those whose due date
    is reached by that day (preserve agreements advance --date marks them due).

    \b
    Examples:
      preserve retention due
      preserve retention due --within 90
      preserve retention due --date 2027-01-05 --json
    """
    from preserve.services import retention as service

    day = on.date() if on else None
    rows = service.due(app(), within_days=within_days, on=day)
    if as_json:
        emit_json([r.as_json() for r in rows])
        return
    if not rows:
        say(
            "no package is due"
            + (f" by {day.isoformat()}" if day else "")
            + (f" within {within_days} days" if within_days else "")
        )
        return
    for line in _lines(rows):
        say(line)


@retention.command("recompute")
@click.option(
    "--collection",
    type=COLLECTION,
    default=None,
    metavar="ORG/SLUG",
    help="Only the packages of this collection (default: every package under an agreement).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def recompute(collection: str | None, as_json: bool) -> None:
    """Compute the retention of the packages again from their agreement's rule and their
    description; packages in a collection an agreement in force covers that were not linked
    yet are linked to it. Packages under review or proposed for disposal are left as they are.

    \b
    Examples:
      preserve retention recompute
      preserve retention recompute --collection museum/photos --json
    """
    from preserve.services import retention as service

    rows = service.recompute(app(), collection=collection)
    if as_json:
        emit_json([r.as_json() for r in rows])
        return
    errors = sum(r.state == "retention_error" for r in rows)
    say(
        f"{len(rows)} package(s) under an agreement"
        + (f", {errors} in retention_error" if errors else "")
    )
    for line in _lines(rows) if rows else []:
        say(line)


def _stamp(value: Any) -> str:
    return f"{value:%Y-%m-%d}" if value is not None else "-"


@retention.command("locks")
@click.option("--pending", "pending_only", is_flag=True, help="Only what is still to apply.")
@click.option(
    "--apply",
    "apply_now",
    is_flag=True,
    help="Record again what every package needs and apply what is pending now (what the "
    "daily task does).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def locks(pending_only: bool, apply_now: bool, as_json: bool) -> None:
    """S3 Object Lock that retention and holds ask for: per package the retention date (the
    due date of a minimum retention, a rolling year for keep permanently) and the legal hold
    (a hold covers it), what was applied to its copies on locations that can lock objects,
    and what is pending (a location that did not answer; retried daily). Exit status 1 when
    --apply left failures.

    \b
    Examples:
      preserve retention locks
      preserve retention locks --pending
      preserve retention locks --apply --json
    """
    from preserve.services import retention_locks as service

    if apply_now:
        run = service.sweep(app())
        if as_json:
            emit_json(run.as_json())
        else:
            for p in run.packages:
                what = ", ".join(p.done) or p.status
                say(f"{p.package_id}  {p.error if p.error else what}")
            say(
                f"{len(run.packages)} package(s) applied"
                + (f", {len(run.failed)} failed (kept pending)" if run.failed else "")
            )
        if run.failed:
            raise SystemExit(1)
        return
    rows = service.intents(app(), pending_only=pending_only)
    if as_json:
        emit_json([r.as_json() for r in rows])
        return
    if not rows:
        say("no package needs an object lock" + (" still to apply" if pending_only else ""))
        return
    for line in table(
        ("PACKAGE", "RETAIN UNTIL", "HOLD", "APPLIED UNTIL", "HOLD SET", "STATE", "WHY"),
        (
            (
                r.package_id[:8],
                _stamp(r.retain_until),
                "yes" if r.legal_hold else "no",
                _stamp(r.applied_until),
                "-" if r.applied_hold is None else ("yes" if r.applied_hold else "no"),
                f"pending ({r.last_error})"
                if r.pending and r.last_error
                else ("pending" if r.pending else "applied"),
                r.retain_reason,
            )
            for r in rows
        ),
    ):
        say(line)
