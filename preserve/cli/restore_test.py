"""``preserve restore-test``: read a sample package back from a storage location and validate
it as a bag (issue 12, E7). Exit 0 when the test passed, 1 when it failed (the result is
recorded either way), 2 for bad input, 3 for an unknown agreement, package or location."""

from __future__ import annotations

import sys
from typing import Any

import click

from preserve.cli.base import GIVEN, app, as_option, cli, say
from preserve.cli.output import as_dict, count, emit_json, human_bytes, table


def _line(t: Any) -> str:
    under = f" (agreement {t.agreement})" if t.agreement else ""
    return (
        f"restore test {t.id}: package {t.package_id} v{t.version}{under} from location "
        f"{t.location}: {t.outcome.upper()}"
    )


@cli.command("restore-test")
@click.option(
    "--agreement",
    default=None,
    type=GIVEN,
    metavar="AGREEMENT",
    help="Test a package of this agreement (the one not tested for the longest time, small "
    "ones first).",
)
@click.option(
    "--package",
    "package_id",
    default=None,
    type=GIVEN,
    metavar="PACKAGE",
    help="Test this package (its id, a unique prefix or its identifier).",
)
@click.option(
    "--location",
    default=None,
    type=GIVEN,
    metavar="NAME",
    help="Read from this location (default: the one tested least recently, in turn).",
)
@click.option(
    "--history", is_flag=True, help="List the latest restore tests instead of running one."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@as_option
def restore_test(
    agreement: str | None,
    package_id: str | None,
    location: str | None,
    history: bool,
    as_json: bool,
) -> None:
    """Restore test: read a package back from a storage location into a temporary folder,
    check every file against the catalogue, validate it as a bag, record the result (and a
    PREMIS validation event), and remove the folder. Exit 1 when the test fails.

    \b
    Examples:
      preserve restore-test --agreement CRA-2026-001
      preserve restore-test --package 3f2a9c1e --location s3-brussel --json
      preserve restore-test --history --agreement CRA-2026-001
    """
    from preserve.services import restore_tests as service

    if history:
        if location is not None:
            raise click.UsageError("--location does not go with --history")
        found = service.history(app(), agreement=agreement, package=package_id)
        if as_json:
            emit_json([as_dict(t) for t in found])
            return
        if not found:
            say("no restore tests")
            return
        rows = [
            (
                str(t.id),
                f"{t.started_at:%Y-%m-%d %H:%M}",
                t.outcome,
                t.package_id[:8],
                t.location,
                t.agreement or "-",
                human_bytes(t.bytes),
            )
            for t in found
        ]
        for line in table(
            ("ID", "STARTED", "OUTCOME", "PACKAGE", "LOCATION", "AGREEMENT", "BYTES"), rows, (0,)
        ):
            say(line)
        return
    t = service.run(app(), agreement=agreement, package=package_id, location=location)
    if as_json:
        emit_json(as_dict(t))
    else:
        say(_line(t))
        if t.ok:
            say(
                f"  {count(t.files, 'payload file')} ({human_bytes(t.bytes)}) read back and "
                f"validated in {t.seconds:.1f} s"
            )
        for p in t.problems:
            say(f"  {p.code}: {p.path + ': ' if p.path else ''}{p.message}")
    if not t.ok:
        sys.exit(1)
