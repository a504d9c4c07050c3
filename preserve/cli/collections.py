"""Collections and storage locations."""

from __future__ import annotations

import sys

import click

from preserve.cli.base import GIVEN, app, cli
from preserve.cli.output import emit_json


@cli.group()
def collections() -> None:
    """Collections: where packages are grouped and which locations they are stored on."""


@collections.command("add")
@click.argument("slug", type=GIVEN)
@click.option("--title", default="")
@click.option("--description", default="")
@click.option(
    "--organisation",
    default=None,
    type=GIVEN,
    help="Organisation slug (default PRESERVE_ORGANISATION).",
)
@click.option("--location", "locations", multiple=True, help="Storage location name (repeatable).")
@click.option("--exist-ok", is_flag=True, help="Succeed if the collection exists already.")
def collections_add(
    slug: str,
    title: str,
    description: str,
    organisation: str | None,
    locations: tuple[str, ...],
    exist_ok: bool,
) -> None:
    """Create collection SLUG."""
    from preserve.services.admin import add_collection

    c = add_collection(
        app(),
        slug,
        title=title,
        description=description,
        organisation=organisation,
        locations=locations,
        exist_ok=exist_ok,
    )
    click.echo(f"collection {c.organisation}/{c.slug} on {', '.join(c.locations) or '(none)'}")


@collections.command("list")
@click.option("--organisation", default=None, type=GIVEN)
@click.option("--json", "as_json", is_flag=True)
def collections_list(organisation: str | None, as_json: bool) -> None:
    """List collections."""
    from preserve.services.admin import list_collections

    rows = list_collections(app(), organisation)
    if as_json:
        emit_json(rows)
        return
    for c in rows:
        click.echo(
            f"{c.organisation}/{c.slug}\t{c.packages} packages\t{','.join(c.locations)}\t{c.title}"
        )


@cli.group()
def locations() -> None:
    """Storage locations (local folders and S3-compatible buckets)."""


@locations.command("add")
@click.argument("name", type=GIVEN)
@click.argument("url", type=GIVEN)
@click.option("--region", default=None, help="Geographic region (for the NDSA levels).")
@click.option("--storage-type", default=None, help="e.g. filesystem, object, tape.")
@click.option("--offline", is_flag=True, help="Offline or cold storage.")
@click.option("--default", "is_default", is_flag=True, help="Use for collections naming none.")
def locations_add(
    name: str,
    url: str,
    region: str | None,
    storage_type: str | None,
    offline: bool,
    is_default: bool,
) -> None:
    """Register storage location NAME at URL (file:///path or s3://bucket/prefix?endpoint_url=...)."""
    from preserve.services.admin import add_location

    if url.startswith("s3:") and sys.stderr.isatty():
        # a location that accepts connections but never answers takes the time-outs to judge
        click.echo(f"checking that {url.split('?')[0]} answers ...", err=True)
    loc = add_location(
        app(),
        name,
        url,
        region=region,
        storage_type=storage_type,
        offline=offline,
        default=is_default,
    )
    click.echo(f"location {loc.name}: {loc.url} ({loc.provider}, {loc.storage_type})")


@locations.command("list")
@click.option("--json", "as_json", is_flag=True)
def locations_list(as_json: bool) -> None:
    """List storage locations."""
    from preserve.services.admin import list_locations

    rows = list_locations(app())
    if as_json:
        emit_json(rows)
        return
    for loc in rows:
        flags = ",".join(
            f for f, on in (("default", loc.is_default), ("offline", loc.offline)) if on
        )
        click.echo(f"{loc.name}\t{loc.provider}\t{loc.region or '-'}\t{loc.url}\t{flags}")
