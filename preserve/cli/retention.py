"""``preserve retention due|recompute``: the retention each package's agreement gives it
(issue 12; retention-agreements.md 4.2 and 5.1 E10)."""

from __future__ import annotations

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
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def due(within_days: int | None, as_json: bool) -> None:
    """List the packages that are due, under review or in retention_error, each with its
    agreement and rule (the earliest due date first).

    \b
    Examples:
      preserve retention due
      preserve retention due --within 90
      preserve retention due --json
    """
    from preserve.services import retention as service

    rows = service.due(app(), within_days=within_days)
    if as_json:
        emit_json([r.as_json() for r in rows])
        return
    if not rows:
        say("no package is due" + (f" within {within_days} days" if within_days else ""))
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
