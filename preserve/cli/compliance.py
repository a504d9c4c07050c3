"""``preserve compliance``: compliance per agreement and per organisation (issue 12; the
dashboards of retention-agreements.md 5.3) as a table, JSON or CSV."""

from __future__ import annotations

from typing import Any

import click

from preserve.cli.base import GIVEN, app, cli, say
from preserve.cli.output import emit_json, table

#: What each column of the table means: printed under it, and in ``--help``.
LEGEND = (
    "STATE: the agreement's state (no next test or review once closed, withdrawn, expired or"
    " superseded)",
    "PACKAGES: stored packages; an agreement's: those in its scope; an organisation's: those it"
    " owns (its collections) and those it keeps as the custodian of an agreement in force, each"
    " once (OWN/KEPT: the two counts)",
    "COPIES: share meeting the copies, distinct sites, allowed regions and offline copy the"
    " agreements ask",
    "FIXITY: share whose every copy was checked within its fixity interval;"
    " INCIDENTS: open fixity incidents (copies failed, quarantined or whose last check failed)",
    "FORMATS: share whose every payload file has a PRONOM format identifier (PUID) on the"
    " agreement's list of accepted or preferred formats (an organisation: the list of the"
    " agreement each package was ingested under); - when there is no list",
    "RESTORE TEST: the outcome and date of the last restore test (never: none yet; - when there"
    " is nothing to test: no package, or no agreement); NEXT TEST: when the next is due",
    "DUE 30/90/365: packages whose retention falls due within 30, 90 and 365 days;"
    " ERRORS: retention errors",
    "DISPOSALS: pending or approved disposal requests; HOLD: packages under an active hold",
    "-: nothing assessed (or not applicable)",
)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def _when(value: Any) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d}"


#: ``preserve compliance --help``: what it shows, then the legend of every column (the
#: same text as under the table: one source).
HELP = (
    "Compliance of every agreement in force and every organisation (ROW), as a table "
    "(followed by the legend of its columns), JSON or CSV (packages_owned and packages_kept "
    "are OWN/KEPT there).\n\nColumns:\n\n"
    + "\n\n".join(LEGEND)
    + "\n\n\b\nExamples:\n  preserve compliance\n"
    "  preserve compliance --agreement CRA-2026-001 --json\n"
    "  preserve compliance --organisation museum --csv > museum.csv"
)


@cli.command("compliance", help=HELP)
@click.option(
    "--organisation",
    default=None,
    type=GIVEN,
    metavar="ORG",
    help="One organisation: its row and those of the agreements in force it is a party to.",
)
@click.option("--agreement", default=None, type=GIVEN, metavar="AGREEMENT", help="One agreement.")
@click.option(
    "--as",
    "username",
    default=None,
    type=GIVEN,
    metavar="USER",
    help="Show only what USER may see (default: everything, as the repository's operator).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (one line per row).")
def compliance(
    organisation: str | None,
    agreement: str | None,
    username: str | None,
    as_json: bool,
    as_csv: bool,
) -> None:
    from preserve.services import compliance as service

    if as_json and as_csv:
        raise click.UsageError("give --json or --csv, not both")
    application = app()
    who = None
    if username is not None:
        from preserve.services.agreements import principal_for_cli

        who = principal_for_cli(application, username)
    rep = service.report(application, who, organisation=organisation, agreement=agreement)
    if as_json:
        emit_json(service.to_json(rep))
        return
    if as_csv:
        click.echo(service.to_csv(rep), nl=False)
        return
    headers = ("ROW", "STATE", "PACKAGES", "OWN/KEPT", "COPIES", "FIXITY", "INCIDENTS", "FORMATS",
               "RESTORE TEST", "NEXT TEST", "DUE 30/90/365", "ERRORS", "DISPOSALS",
               "HOLD")  # fmt: skip
    rows = []
    for r in rep.rows:
        if r.last_restore_test_outcome:
            restore = f"{r.last_restore_test_outcome} {_when(r.last_restore_test_at)}"
        else:  # "never" only where there is something to test
            restore = "never" if r.restore_testable else "-"
        rows.append(
            (
                f"{r.kind} {r.name}",
                r.state or "-",
                str(r.packages),
                "-" if r.packages_owned is None else f"{r.packages_owned}/{r.packages_kept}",
                _pct(r.placement_share),
                _pct(r.fixity_share),
                str(r.open_incidents),
                _pct(r.formats_share),
                restore,
                _when(r.next_restore_test_due),
                "/".join(str(n) for n in r.retention_due),
                str(r.retention_errors),
                "-" if r.pending_disposals is None else str(r.pending_disposals),
                str(r.packages_on_hold),
            )
        )
    if not rows:
        say("no agreement in force and no organisation to show")
    else:
        for line in table(headers, rows, (2, 3, 6, 11, 12, 13)):
            say(line)
        say("")
        for line in LEGEND:
            say(line)
    for note in rep.notes:
        say(f"note: {note}")
