"""preserve fixity."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from preserve.cli.base import GIVEN, app, as_option, cli, log, say
from preserve.cli.output import count, emit_json, human_bytes
from preserve.cli.progress import progress


@cli.group(
    invoke_without_command=True,
    epilog="\b\nExamples:\n  preserve fixity --package 3f2a9c1e\n"
    "  preserve fixity --all --older-than 90d --limit 500\n"
    "  preserve fixity --organisation museum --location offsite --older-than 2w\n"
    "  preserve fixity --all --async\n"
    "  preserve fixity --collection photos --repair\n"
    "  preserve fixity report\n"
    "  preserve fixity schedule --location offsite --interval-days 30 --bytes-per-hour 200GB",
)
@click.option(
    "--package",
    "package_id",
    default=None,
    type=GIVEN,
    metavar="PACKAGE",
    help="Check one package: its UUID, a unique prefix (4+ hex digits), urn:uuid:..., or the "
    "producer's identifier (External-Identifier, dc:identifier).",
)
@click.option(
    "--collection",
    default=None,
    type=GIVEN,
    help="Check every stored package of a collection (of --organisation, else the default one).",
)
@click.option(
    "--organisation",
    default=None,
    type=GIVEN,
    help="Check only this organisation's stored packages (alone, or with --all or --collection).",
)
@click.option("--all", "all_packages", is_flag=True, help="Check every stored package.")
@click.option(
    "--older-than",
    "older_than",
    default=None,
    metavar="DURATION",
    help="Only copies never checked or last checked longer ago than DURATION: 30d, 12h, 90m "
    "(minutes), 2w, 1d12h.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Check at most N copies, the never and least recently checked first.",
)
@click.option(
    "--location",
    default=None,
    type=GIVEN,
    metavar="NAME",
    help="Only the copies on this storage location.",
)
@click.option(
    "--all-digests",
    is_flag=True,
    help="Verify every digest the catalogue holds (default: PRESERVE_FIXITY_ALGORITHMS, sha256).",
)
@click.option(
    "--async",
    "run_async",
    is_flag=True,
    help="Queue the check as a background job (a worker runs it) and print the job's id.",
)
@click.option(
    "--repair",
    is_flag=True,
    help="Repair every copy found damaged from good copies (quarantining the damaged files); "
    "exit 0 only if everything found was repaired.",
)
@click.option("--json", "as_json", is_flag=True)
@as_option
@click.pass_context
def fixity(
    ctx: click.Context,
    package_id: str | None,
    collection: str | None,
    organisation: str | None,
    all_packages: bool,
    older_than: str | None,
    limit: int | None,
    location: str | None,
    all_digests: bool,
    run_async: bool,
    repair: bool,
    as_json: bool,
) -> None:
    """Re-read every copy (from the device, not the page cache) and compare its sizes and digests
    with the catalogue, and the bag manifests with the catalogue.

    A copy is one version of a package on one location. The files a version's fetch.txt names
    (unchanged since an earlier version, which holds them) are checked against the catalogue;
    the earlier version's copy reads their bytes, so every byte is read once per location.

    Spread the work over time with --older-than, --limit and --location, e.g. a nightly
    `preserve fixity --all --older-than 90d --limit 1000`. Workers check every copy on a
    schedule of their own (see `preserve fixity report` and `preserve fixity schedule`).
    """
    from preserve.errors import InvalidInput
    from preserve.services.fixity import check_fixity, parse_duration

    given = package_id, collection, organisation, all_packages, older_than, limit, location
    if ctx.invoked_subcommand is not None:
        if any(x not in (None, False) for x in given) or all_digests or run_async or repair:
            raise InvalidInput(
                f"'preserve fixity {ctx.invoked_subcommand}' takes its own options: give them "
                "after it"
            )
        return
    chosen = sum(bool(x) for x in (package_id, collection, all_packages))
    if chosen != 1 and not (chosen == 0 and organisation):
        raise InvalidInput(
            "give exactly one of --package PACKAGE, --collection SLUG, --organisation SLUG or --all"
        )
    if run_async and repair:
        raise InvalidInput(
            "--repair runs in the foreground; a background check (--async) repairs what it "
            "finds by itself"
        )
    age = parse_duration(older_than) if older_than is not None else None
    if run_async:
        from preserve.services.schedule import queue_check

        job = queue_check(
            app(),
            package_id=package_id,
            collection=collection,
            organisation=organisation,
            all_packages=all_packages,
            all_digests=all_digests,
            older_than=age,
            limit=limit,
            location=location,
        )
        if as_json:
            emit_json({"job_id": job.id})
        else:
            click.echo(job.id)
        return
    report = check_fixity(
        app(),
        package_id=package_id,
        collection=collection,
        organisation=organisation,
        all_packages=all_packages,
        all_digests=all_digests,
        progress=progress(),
        older_than=age,
        limit=limit,
        location=location,
    )
    from preserve.services.journal import flush_events

    flush_events(app(), {c.package_id for c in report.checks})  # the run's events, to storage
    if not as_json:
        for c in report.checks:
            digests = ", ".join(c.digests_checked) or "no digest"
            tags = c.files_checked - c.payload_files
            fetched = (
                f"; {count(c.fetched_files, 'file')} held by earlier versions, checked in the "
                "catalogue"
                if c.fetched_files
                else ""
            )
            affected = (
                f"; damage also affects version {', '.join(map(str, c.affected_versions))}"
                if c.affected_versions
                else ""
            )
            events = (
                f" and {count(c.event_files_checked, 'event file')}"
                if c.event_files_checked
                else ""
            )
            click.echo(
                f"{c.outcome:8} {c.name} on {c.location}: {checked_counts(c)} "
                f"(and {count(tags, 'tag file')}{fetched}){events}, {digests}{affected}"
            )
        if not report.checks:
            click.echo(
                "no copies due for checking" if age is not None else "no stored copies to check"
            )
    for c in report.checks:
        for p in c.problems:
            version = f" version {c.version}" if c.current_version > 1 else ""
            click.echo(
                f"FAILED {p.outcome}: {p.path or '(copy)'} in package {c.package_id}{version}, "
                f"copy on location {c.location} ({c.url}): {p.message}",
                err=True,
            )
    if report.checks:
        summary = fixity_summary(report.checks)
        if as_json:
            log.info("%s", summary)
        else:
            say(summary)
    repaired_all, repairs = True, list[Any]()
    if repair and not report.ok:
        repaired_all, repairs = _repair(report.checks, as_json)
    if as_json:
        # one document: the checks, and with --repair what was repaired ("ok": all whole now)
        document: dict[str, Any] = {
            "ok": report.ok or (repair and repaired_all),
            "copies": report.checks,
        }
        if repair:
            document["repairs"] = repairs
        emit_json(document)
    if not report.ok:
        _deliver_alerts()
    if not report.ok and not (repair and repaired_all):
        sys.exit(1)


def _repair(checks: Sequence[Any], as_json: bool) -> tuple[bool, list[Any]]:
    """Repair every damaged copy of the run: True when each is whole again (a copy that could
    not be checked cannot be repaired: False), and the repairs' results."""
    from preserve.services.repair import repair_copy

    whole = True
    results = []
    for c in checks:
        if c.outcome == "ok":
            continue
        if c.outcome == "error" or c.copy_id is None:
            whole = False
            click.echo(
                f"NOT REPAIRED: package {c.name} on {c.location} could not be checked, so it "
                "cannot be repaired; check it again once the location answers",
                err=True,
            )
            continue
        result = repair_copy(app(), c.copy_id, problems=c.problems, progress=progress())
        results.append(result)
        whole = whole and bool(result.repaired)
        if not as_json:
            click.echo(
                f"{'repaired' if result.repaired else 'DAMAGED':8} {c.name} on {c.location}: "
                f"{count(result.files_repaired, 'file')} restored"
                + (
                    f", {count(len(result.unrepairable), 'file')} could not be"
                    if result.unrepairable
                    else ""
                )
            )
        for path, reason in result.unrepairable:
            click.echo(
                f"UNREPAIRABLE: {path} in package {c.name}, copy on {c.location}: {reason}",
                err=True,
            )
    return whole, results


def _deliver_alerts() -> None:
    """Send the alerts the run recorded now (e-mail, webhook), when delivery is built in."""
    from preserve.services import alerts

    deliver = getattr(alerts, "deliver_pending", None)
    if deliver is not None:
        deliver(app())


def checked_counts(c: Any) -> str:
    """The payload files and bytes checked: ``2 files, 284 B``, or, when not every file the
    package holds could be read, ``1 of 2 files, 59 B of 284 B``."""
    if (c.payload_files, c.payload_bytes) == (c.payload_files_expected, c.payload_bytes_expected):
        return f"{count(c.payload_files, 'file')}, {human_bytes(c.payload_bytes)}"
    return (
        f"{c.payload_files} of {count(c.payload_files_expected, 'file')}, "
        f"{human_bytes(c.payload_bytes)} of {human_bytes(c.payload_bytes_expected)}"
    )


def fixity_summary(checks: Sequence[Any]) -> str:
    """``13 copies ok, 2 failed`` (mismatch, missing or could not be checked)."""
    ok = sum(c.outcome == "ok" for c in checks)
    failed = len(checks) - ok
    return f"{count(ok, 'copy', 'copies')} ok" + (f", {failed} failed" if failed else "")


@fixity.command("report")
@click.option("--json", "as_json", is_flag=True)
def fixity_report_command(as_json: bool) -> None:
    """How well scheduled fixity keeps up: coverage (copies verified within their interval),
    copies never checked, the backlog (copies past their interval, and their bytes) and
    failures (last check not ok), overall, per location and per collection.

    \b
    Examples:
      preserve fixity report
      preserve fixity report --json
    """
    from preserve.services.schedule import fixity_report

    report = fixity_report(app())
    if as_json:
        emit_json(
            {
                "checked_at": report.checked_at,
                "total": _report_line(report.total),
                "locations": [_report_line(x) for x in report.locations],
                "collections": [_report_line(x) for x in report.collections],
            }
        )
        return
    from preserve.cli.output import table

    def row(x: Any) -> list[str]:
        return [
            x.name,
            str(x.copies),
            f"{x.coverage:.1%}",
            str(x.never_checked),
            f"{x.overdue} ({human_bytes(x.overdue_bytes)})",
            str(x.failures),
        ]

    headers = ["", "copies", "coverage", "never checked", "backlog", "failures"]
    for title, lines in (("location", report.locations), ("collection", report.collections)):
        click.echo(f"per {title}:")
        for line in table([title, *headers[1:]], [row(x) for x in lines], right=(1, 2, 3, 5)):
            click.echo(f"  {line}")
    t = report.total
    say(
        f"{count(t.copies, 'copy', 'copies')}: {t.coverage:.1%} verified within their interval, "
        f"{t.never_checked} never checked, {t.overdue} overdue ({human_bytes(t.overdue_bytes)}), "
        f"{t.failures} failed"
    )


def _report_line(x: Any) -> dict[str, Any]:
    return {
        "name": x.name,
        "copies": x.copies,
        "bytes": x.bytes,
        "coverage": round(x.coverage, 6),
        "within_interval": x.within_interval,
        "never_checked": x.never_checked,
        "backlog": {"copies": x.overdue, "bytes": x.overdue_bytes},
        "failures": x.failures,
        "in_progress": x.in_progress,
    }


@fixity.command("schedule")
@click.option("--location", default=None, type=GIVEN, metavar="NAME", help="Set this location's.")
@click.option(
    "--collection", default=None, type=GIVEN, metavar="SLUG", help="Set this collection's."
)
@click.option(
    "--organisation",
    default=None,
    type=GIVEN,
    help="The collection's organisation (default: the default organisation).",
)
@click.option(
    "--interval-days",
    default=None,
    metavar="DAYS|default",
    help="Check every copy at least this often (the shortest of collection's and location's "
    "wins; 'default': PRESERVE_FIXITY_INTERVAL_DAYS).",
)
@click.option(
    "--bytes-per-hour",
    default=None,
    metavar="SIZE|unlimited",
    help="A location's budget: at most this much read an hour by scheduled checks (500GB, "
    "1.5TB, 200MiB).",
)
@click.option("--json", "as_json", is_flag=True)
def fixity_schedule(
    location: str | None,
    collection: str | None,
    organisation: str | None,
    interval_days: str | None,
    bytes_per_hour: str | None,
    as_json: bool,
) -> None:
    """Set the fixity interval of a location or a collection, or a location's budget.

    \b
    Examples:
      preserve fixity schedule --location offsite --interval-days 30 --bytes-per-hour 200GB
      preserve fixity schedule --collection photos --interval-days 14
      preserve fixity schedule --location offsite --bytes-per-hour unlimited
    """
    from preserve.errors import InvalidInput
    from preserve.services import schedule

    if (location is None) == (collection is None):
        raise InvalidInput("give one of --location NAME or --collection SLUG")
    if interval_days is None and bytes_per_hour is None:
        raise InvalidInput("give --interval-days DAYS or --bytes-per-hour SIZE (or both)")
    days: int | bool | None = False
    if interval_days is not None:
        days = None if interval_days.strip().lower() == "default" else _days(interval_days)
    if collection is not None:
        if bytes_per_hour is not None:
            raise InvalidInput("--bytes-per-hour is a location's budget: give --location")
        if days is False:
            raise InvalidInput("give --interval-days DAYS for a collection")
        setting = schedule.set_collection_schedule(
            app(), organisation, collection, interval_days=days if days is not False else None
        )
    else:
        if organisation is not None:
            raise InvalidInput("--organisation goes with --collection")
        budget: int | bool | None = False
        if bytes_per_hour is not None:
            budget = (
                None
                if bytes_per_hour.strip().lower() == "unlimited"
                else schedule.parse_size(bytes_per_hour)
            )
        assert location is not None
        setting = schedule.set_location_schedule(
            app(), location, interval_days=days, bytes_per_hour=budget
        )
    if as_json:
        emit_json(setting)
        return
    interval = (
        f"every {count(setting.interval_days, 'day')}"
        if setting.interval_days is not None
        else "the default interval"
    )
    text = f"{setting.kind} {setting.name}: fixity {interval}"
    if setting.kind == "location":
        text += ", budget " + (
            f"{human_bytes(setting.bytes_per_hour)} an hour"
            if setting.bytes_per_hour is not None
            else "unlimited"
        )
    click.echo(text)


def _days(text: str) -> int:
    from preserve.errors import InvalidInput

    try:
        value = int(text.strip())
    except ValueError:
        raise InvalidInput(
            f"--interval-days {text!r} is not a number of days (or 'default')"
        ) from None
    if value < 1:
        raise InvalidInput(f"--interval-days must be at least 1, not {value}")
    return value
