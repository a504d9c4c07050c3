"""Finding and reading packages: packages list, show, export."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from preserve.cli.base import GIVEN, GivenPath, app, as_option, cli, note, warn
from preserve.cli.output import count, emit_json, human_bytes

F = TypeVar("F", bound=Callable[..., Any])
#: Package statuses (preserve.services.packages.STATUSES, which imports the catalogue)
STATUSES = ("stored", "ingesting", "failed")


@cli.command()
@click.argument("package_id", type=GIVEN)
@click.argument("dest", type=GivenPath(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["folder", "zip", "tar", "tar.gz"]),
    help="Write a folder or an archive (default: by the ending of DEST: .zip, .tar, "
    ".tar.gz or .tgz; else a folder).",
)
@click.option("--json", "as_json", is_flag=True)
@as_option
def export(package_id: str, dest: Path, fmt: str | None, as_json: bool) -> None:
    """Write package PACKAGE_ID out as a bag at DEST and validate it.

    DEST is a new folder (missing parent folders are made), or a zip or tar file holding one
    folder named after the bag: the bag is validated first, then packed, read back and only
    then given its name. DEST must not exist (a folder may exist if empty).

    \b
    Examples:
      preserve export 1f0c2a exports/1f0c2a
      preserve export 1f0c2a exports/1f0c2a.zip
      preserve export 1f0c2a transfer/box-12.tar.gz --json
    """
    from preserve.services.export import export_package
    from preserve.services.packages import package_id as resolve

    result = export_package(app(), resolve(app(), package_id), dest, fmt)
    for line in result.damaged:
        warn(line)
    for folder in result.removed_leftovers:
        note(f"removed {folder}, left by a killed run")
    if as_json:
        emit_json(
            {
                "package_id": result.package_id,
                "destination": result.destination,
                "location": result.location,
                "files": result.files,
                "bytes": result.bytes,
                "validation": result.report.to_json(),
                "damaged": list(result.damaged),
                "removed_leftovers": list(result.removed_leftovers),
                "format": result.format,
                "algorithms": list(result.algorithms),
                "archive_bytes": result.archive_bytes,
                "created_folders": list(result.created_folders),
            }
        )
    else:
        click.echo(
            f"exported {result.package_id} from {result.location} to {result.destination}: "
            f"{count(result.files, 'file')}, {human_bytes(result.bytes)}, "
            f"{' + '.join(result.algorithms)}, bag valid"
            + (
                ""
                if result.archive_bytes is None
                else f" ({result.format} of {human_bytes(result.archive_bytes)})"
            )
        )


@cli.command(
    epilog="\b\nExamples:\n  preserve show 3f2a9c1e\n  preserve show MUS-2024-0017 --summary\n"
    "  preserve show urn:uuid:3f2a9c1e-... --json"
)
@click.argument("package_id", metavar="PACKAGE", type=GIVEN)
@click.option(
    "--summary",
    is_flag=True,
    help="Leave the file list out (for large packages); formats and problems are still counted.",
)
@click.option("--json", "as_json", is_flag=True)
def show(package_id: str, summary: bool, as_json: bool) -> None:
    """Show a package: description, files with formats and problems, copies and PREMIS events.

    PACKAGE is the package's UUID, a unique prefix of it (at least 4 hex digits, any case,
    as `preserve packages list` shows it), its urn:uuid: form, or the producer's identifier
    (External-Identifier or dc:identifier).

    Files with problems are marked "!" with the reason: a format that was not identified, a
    warning of the identification, an image that does not decode completely.

    """
    from preserve.services.packages import show_package

    d = show_package(app(), package_id, files=not summary)
    if as_json:
        emit_json(d)
        return
    s = d.summary
    click.echo(f"package      {s.id} (version {s.version}, {s.status})")
    if s.status == "failed":
        click.echo(
            "             its ingest failed and it was never stored; what it wrote on the "
            "copies below is removed by the next ingest once their location answers"
        )
    elif s.status == "ingesting":
        click.echo(
            "             being ingested, or its ingest was interrupted (the next ingest "
            "cleans up an interrupted one)"
        )
    click.echo(f"title        {s.title}")
    click.echo(f"collection   {s.organisation}/{s.collection}")
    click.echo(f"source       {d.source}")
    click.echo(f"size         {count(s.files, 'file')}, {human_bytes(s.bytes)}")
    if d.files_with_problems:
        click.echo(f"             {count(d.files_with_problems, 'file')} with problems")
    elif summary:
        click.echo("             no files with problems")
    for element, values in d.description.items():
        term = element if element.startswith("dcterms:") else f"dc:{element}"  # dcterms: as is
        for v in values:
            click.echo(f"{term:<12} {v}")
    if summary:
        click.echo("formats:")
        for fc in d.formats:
            click.echo(f"  {fc.files} × {fc.puid} {fc.format_name}".rstrip())
    click.echo("copies:")
    for c in d.copies:
        checked = c.last_checked_at.isoformat(timespec="seconds") if c.last_checked_at else "never"
        click.echo(f"  {c.location:<12} {c.status:<9} last checked {checked} ({c.last_outcome})")
    if not summary:
        click.echo("files:")
        for f in d.files:
            if f.role != "payload":
                continue
            extra = ""
            if f.image:
                extra = f"  {f.image.get('width')}x{f.image.get('height')} {f.image.get('mode')}"
            marker = "!" if f.problems else " "
            reasons = f"  ({'; '.join(f.problems)})" if f.problems else ""
            click.echo(
                f"  {marker} {f.path}  {human_bytes(f.size)}  {f.puid}  {f.mime}{extra}{reasons}"
            )
    click.echo("events:")
    for e in d.events:
        click.echo(
            f"  {e.occurred_at.isoformat(timespec='seconds')}  {e.event_type:<28} {e.outcome:<8} "
            f"{e.detail}" + (f" ({e.by})" if e.by else "")
        )


@cli.group()
def packages() -> None:
    """Packages in the catalogue."""


def _filter_options(f: F) -> F:
    """The filters packages list and packages search share."""
    for option in reversed(
        (
            click.option(
                "--organisation", default=None, type=GIVEN, help="Only this organisation's."
            ),
            click.option(
                "--collection",
                default=None,
                type=GIVEN,
                help="Only this collection's (of --organisation, else the default organisation).",
            ),
            click.option(
                "--status",
                type=click.Choice(STATUSES),
                default=None,
                help="Only packages with this status (default: every status).",
            ),
            click.option(
                "--since",
                metavar="DATE",
                default=None,
                help="Only packages ingested on or after DATE (ISO: 2024-03-31; UTC).",
            ),
            click.option(
                "--until",
                metavar="DATE",
                default=None,
                help="Only packages ingested on or before DATE (that whole day included).",
            ),
            click.option("--json", "as_json", is_flag=True, help="The full records as JSON."),
        )
    ):
        f = option(f)
    return f


def _dates(since: str | None, until: str | None) -> dict[str, Any]:
    from preserve.services.packages import parse_date

    return {
        "since": parse_date(since, "--since") if since is not None else None,
        "until": parse_date(until, "--until") if until is not None else None,
    }


def _print_listing(listing: Any, as_json: bool, empty: str) -> None:
    if as_json:
        emit_json(listing.packages)
        return
    if not listing.packages:
        click.echo(empty)
        return
    n = listing.id_length
    rows = [
        (
            p.id[:n],
            p.created_at.date().isoformat(),
            p.status,
            f"{p.organisation}/{p.collection}",
            count(p.files, "file"),
            human_bytes(p.bytes),
            f"{p.verified_copies}/{p.copies}",
            p.title,
        )
        for p in listing.packages
    ]
    header = ("ID", "INGESTED", "STATUS", "COLLECTION", "FILES", "SIZE", "VERIFIED", "TITLE")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    right = {4, 5, 6}  # numbers are right-aligned
    for r in [header, *rows]:
        cells = [r[i].rjust(w) if i in right else r[i].ljust(w) for i, w in enumerate(widths)]
        click.echo("  ".join([*cells, r[-1]]).rstrip())


@packages.command(
    "list",
    epilog="\b\nExamples:\n  preserve packages list --organisation museum --status stored\n"
    "  preserve packages list --since 2024-01-01 --until 2024-03-31 --json",
)
@_filter_options
def packages_list(
    collection: str | None,
    organisation: str | None,
    status: str | None,
    since: str | None,
    until: str | None,
    as_json: bool,
) -> None:
    """List packages, oldest first: id (as `preserve show` accepts it), ingest date, status,
    organisation/collection, files, size, verified copies out of all copies, title."""
    from preserve.services.packages import list_packages

    listing = list_packages(app(), collection, organisation, status=status, **_dates(since, until))
    _print_listing(listing, as_json, "no packages")


@packages.command(
    "search",
    epilog="\b\nExamples:\n  preserve packages search 'harbour'\n"
    "  preserve packages search fmt/353 --organisation museum\n"
    "  preserve packages search MUS-2024 --status stored --json",
)
@click.argument("text", type=GIVEN)
@_filter_options
def packages_search(
    text: str,
    collection: str | None,
    organisation: str | None,
    status: str | None,
    since: str | None,
    until: str | None,
    as_json: bool,
) -> None:
    """Find packages whose title, description, identifiers (External-Identifier,
    dc:identifier), file names, PUIDs or format names contain TEXT (any case; a whole PUID
    such as fmt/43 matches only that format)."""
    from preserve.services.packages import search_packages

    listing = search_packages(
        app(), text, collection, organisation, status=status, **_dates(since, until)
    )
    _print_listing(listing, as_json, f"no packages match {text!r}")
