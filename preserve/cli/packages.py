"""Finding and reading packages: packages list, show, export."""

from __future__ import annotations

from pathlib import Path

import click

from preserve.cli.base import GIVEN, GivenPath, app, as_option, cli
from preserve.cli.output import count, emit_json, human_bytes


@cli.command()
@click.argument("package_id", type=GIVEN)
@click.argument("dest", type=GivenPath(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@as_option
def export(package_id: str, dest: Path, as_json: bool) -> None:
    """Write package PACKAGE_ID out as a bag at DEST and validate it."""
    from preserve.services.export import export_package

    result = export_package(app(), package_id, dest)
    for line in result.damaged:
        click.echo(f"warning: {line}", err=True)
    for folder in result.removed_leftovers:
        click.echo(f"removed {folder}, left by a killed export", err=True)
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
            }
        )
    else:
        click.echo(
            f"exported {result.package_id} from {result.location} to {result.destination}: "
            f"{result.files} files, {human_bytes(result.bytes)}, bag valid"
        )


@cli.command()
@click.argument("package_id", type=GIVEN)
@click.option("--json", "as_json", is_flag=True)
def show(package_id: str, as_json: bool) -> None:
    """Show a package: description, files with formats, copies and PREMIS events."""
    from preserve.services.packages import show_package

    d = show_package(app(), package_id)
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
    for element, values in d.description.items():
        for v in values:
            click.echo(f"dc:{element:<9} {v}")
    click.echo("copies:")
    for c in d.copies:
        checked = c.last_checked_at.isoformat(timespec="seconds") if c.last_checked_at else "never"
        click.echo(f"  {c.location:<12} {c.status:<9} last checked {checked} ({c.last_outcome})")
    click.echo("files:")
    for f in d.files:
        if f.role != "payload":
            continue
        extra = ""
        if f.image:
            extra = f"  {f.image.get('width')}x{f.image.get('height')} {f.image.get('mode')}"
        click.echo(f"  {f.path}  {human_bytes(f.size)}  {f.puid}  {f.mime}{extra}")
    click.echo("events:")
    for e in d.events:
        click.echo(
            f"  {e.occurred_at.isoformat(timespec='seconds')}  {e.event_type:<28} {e.outcome:<8} "
            f"{e.detail}"
        )


@cli.group()
def packages() -> None:
    """Packages in the catalogue."""


@packages.command("list")
@click.option("--collection", default=None, type=GIVEN)
@click.option("--organisation", default=None, type=GIVEN)
@click.option("--json", "as_json", is_flag=True)
def packages_list(collection: str | None, organisation: str | None, as_json: bool) -> None:
    """List packages."""
    from preserve.services.packages import list_packages

    rows = list_packages(app(), collection, organisation)
    if as_json:
        emit_json(rows)
        return
    for p in rows:
        click.echo(
            f"{p.id}  {p.status:<9} {p.organisation}/{p.collection}  {count(p.files, 'file'):>11} "
            f"{human_bytes(p.bytes):>9}  {p.verified_copies}/{p.copies} copies verified  {p.title}"
        )
