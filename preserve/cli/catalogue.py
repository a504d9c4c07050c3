"""preserve catalogue rebuild: the catalogue recreated from storage alone."""

from __future__ import annotations

import sys

import click

from preserve.cli.base import GIVEN, app, cli, log, say
from preserve.cli.output import count, emit_json


@cli.group("catalogue")
def catalogue_group() -> None:
    """The catalogue as a whole: recreate it from storage if it is lost."""


@catalogue_group.command(
    "rebuild",
    epilog="\b\nExamples:\n"
    "  PRESERVE_HOME=/srv/preserve-new preserve init\n"
    "  PRESERVE_HOME=/srv/preserve-new preserve catalogue rebuild --from-location default\n"
    "  preserve locations add offsite 's3://aips/preserve?endpoint_url=https://s3.example.org'\n"
    "  preserve catalogue rebuild --from-location offsite --json",
)
@click.option(
    "--from-location",
    "location",
    required=True,
    type=GIVEN,
    metavar="NAME",
    help="The storage location to read: registered in this catalogue under the name it had "
    "(preserve init registers the default one; preserve locations add NAME URL another).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable report.")
def rebuild(location: str, as_json: bool) -> None:
    """Recreate a lost catalogue from what a storage location holds, into an empty catalogue.

    Reads every package folder on the location: each version's bag (bag-info.txt, manifests,
    fetch.txt, dc.xml, premis.xml), the event files written after ingest, and the
    organisation and collection descriptors beside them. Recreates organisations, collections,
    packages with every version, files with their digests and formats, the copies on that
    location and every event with its agents, in one transaction, and reports what storage
    does not say. Exit status 1 when something was damaged or incomplete (the rest is
    recovered).

    The rebuilt catalogue writes its events to the location as the original did (fixity,
    export, describe, ingest): for a drill while the original is in use, rebuild from a copy
    of the storage.
    """
    from preserve.services.rebuild import rebuild_catalogue

    report = rebuild_catalogue(app(), location)
    if as_json:
        emit_json(
            {
                "location": report.location,
                "url": report.url,
                "complete": report.complete,
                "organisations": report.organisations,
                "collections": report.collections,
                "packages": report.packages,
                "versions": report.versions,
                "files": report.files,
                "copies": report.copies,
                "events": report.events,
                "event_files": report.event_files,
                "agreement_links": report.agreement_links,
                "holds": report.holds,
                "not_recovered": [
                    {"kind": f.kind, "subject": f.subject, "message": f.message}
                    for f in report.findings
                ],
                "not_in_storage": list(report.not_in_storage),
                "caution": report.caution,
            }
        )
    else:
        say(
            f"rebuilt the catalogue from location {report.location} ({report.url}): "
            f"{count(report.organisations, 'organisation')}, "
            f"{count(report.collections, 'collection')}, "
            f"{count(report.packages, 'package')} ({count(report.versions, 'version')}), "
            f"{count(report.files, 'file')}, {count(report.copies, 'copy', 'copies')}, "
            f"{count(report.events, 'event')} ({count(report.event_files, 'event file')}), "
            f"{count(report.agreement_links, 'package')} linked to its agreement, "
            f"{count(report.holds, 'hold')}"
        )
        if report.findings:
            say("not recovered:")
            for f in report.findings:
                say(f"  {f.kind}: {f}")
        say("never kept in storage, so not recovered:")
        for line in report.not_in_storage:
            say(f"  {line}")
        say(f"caution: {report.caution}")
    if not report.complete:
        damaged = sum(f.kind in ("damaged", "incomplete") for f in report.findings)
        message = (
            f"catalogue rebuilt, but {count(damaged, 'object')} of location {report.location} "
            "were damaged or incomplete (listed in the report); run preserve fixity --all "
            f"--location {report.location} to check every copy"
        )
        log.error("%s", message, extra={"echoed": True})
        click.echo(message, err=True)
        sys.exit(1)
