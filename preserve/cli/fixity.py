"""preserve fixity."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from preserve.cli.base import GIVEN, app, as_option, cli, log, say
from preserve.cli.output import count, emit_json, human_bytes
from preserve.cli.progress import progress


@cli.command(
    epilog="\b\nExamples:\n  preserve fixity --package 3f2a9c1e\n"
    "  preserve fixity --all --older-than 90d --limit 500\n"
    "  preserve fixity --organisation museum --location offsite --older-than 2w"
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
@click.option("--json", "as_json", is_flag=True)
@as_option
def fixity(
    package_id: str | None,
    collection: str | None,
    organisation: str | None,
    all_packages: bool,
    older_than: str | None,
    limit: int | None,
    location: str | None,
    all_digests: bool,
    as_json: bool,
) -> None:
    """Re-read every copy (from the device, not the page cache) and compare its sizes and digests
    with the catalogue, and the bag manifests with the catalogue.

    A copy is one version of a package on one location. The files a version's fetch.txt names
    (unchanged since an earlier version, which holds them) are checked against the catalogue;
    the earlier version's copy reads their bytes, so every byte is read once per location.

    Spread the work over time with --older-than, --limit and --location, e.g. a nightly
    `preserve fixity --all --older-than 90d --limit 1000`.
    """
    from preserve.errors import InvalidInput
    from preserve.services.fixity import check_fixity, parse_duration

    chosen = sum(bool(x) for x in (package_id, collection, all_packages))
    if chosen != 1 and not (chosen == 0 and organisation):
        raise InvalidInput(
            "give exactly one of --package PACKAGE, --collection SLUG, --organisation SLUG or --all"
        )
    age = parse_duration(older_than) if older_than is not None else None
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
    if as_json:
        emit_json({"ok": report.ok, "copies": report.checks})
    else:
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
    if not report.ok:
        sys.exit(1)


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
