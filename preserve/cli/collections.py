"""Collections and storage locations."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from preserve.cli.base import EXAMPLES, GIVEN, app, cli
from preserve.cli.output import emit_json, table


def collection_rows(rows: Sequence[Any]) -> list[str]:
    """Collections as aligned columns with headers (a PROFILE column when one requires a
    BagIt profile)."""
    if any(getattr(c, "profile", "") for c in rows):
        return table(
            ("COLLECTION", "PACKAGES", "LOCATIONS", "PROFILE", "TITLE"),
            [
                (
                    f"{c.organisation}/{c.slug}",
                    str(c.packages),
                    ",".join(c.locations),
                    f"{c.profile} {c.profile_version}" if c.profile else "-",
                    c.title,
                )
                for c in rows
            ],
            right=(1,),
        )
    return table(
        ("COLLECTION", "PACKAGES", "LOCATIONS", "TITLE"),
        [
            (f"{c.organisation}/{c.slug}", str(c.packages), ",".join(c.locations), c.title)
            for c in rows
        ],
        right=(1,),
    )


def echo_changes(what: str, changes: Sequence[Any]) -> None:
    """ "what: field 'old' -> 'new'" per change, or that nothing changed."""
    if not changes:
        click.echo(f"{what}: nothing changed (the values given are the current ones)")
    for c in changes:
        click.echo(f"{what}: {c.field} {_shown(c.old)} -> {_shown(c.new)}")


def _shown(value: str) -> str:
    return repr(value) if value else "(empty)"


@cli.group()
def collections() -> None:
    """Collections: where packages are grouped and which locations they are stored on."""


@collections.command("add")
@click.argument("slug", type=GIVEN)
@click.option("--title", default="", help="Title (default: the slug).")
@click.option("--description", default="")
@click.option(
    "--organisation",
    default=None,
    type=GIVEN,
    help="Organisation slug (default PRESERVE_ORGANISATION); it must exist.",
)
@click.option(
    "--location",
    "locations",
    multiple=True,
    type=GIVEN,
    help="Storage location name (repeatable; default: the default locations).",
)
@click.option(
    "--exist-ok",
    is_flag=True,
    help="Succeed if the collection exists already with the options given.",
)
@click.option(
    "--profile",
    metavar="FILE_OR_NAME",
    default=None,
    help="Accept only deliveries that are bags conforming to this BagIt profile: a local JSON "
    "file or a bundled profile (preserve-aip, aptrust, btr); the profile itself is kept in "
    "the catalogue.",
)
def collections_add(
    slug: str,
    title: str,
    description: str,
    organisation: str | None,
    locations: tuple[str, ...],
    exist_ok: bool,
    profile: str | None,
) -> None:
    """Create collection SLUG in an organisation.

    \b
    Examples:
      preserve collections add photos --title "Photographs"
      preserve collections add films --organisation meemoo --location default --location s3
      preserve collections add deposits --profile btr
    """
    from preserve.services.admin import add_collection

    c = add_collection(
        app(),
        slug,
        title=title,
        description=description,
        organisation=organisation,
        locations=locations,
        exist_ok=exist_ok,
        profile=profile,
    )
    click.echo(f"collection {c.organisation}/{c.slug} on {', '.join(c.locations) or '(none)'}")
    if c.profile:
        click.echo(
            f"deliveries must be bags conforming to BagIt profile {c.profile} "
            f"(version {c.profile_version})"
        )


@collections.command("edit")
@click.argument("slug", type=GIVEN)
@click.option(
    "--organisation",
    default=None,
    type=GIVEN,
    help="The collection's organisation (default PRESERVE_ORGANISATION).",
)
@click.option("--title", default=None, help="New title.")
@click.option("--description", default=None, help='New description ("" clears it).')
@click.option(
    "--add-location",
    "add_locations",
    multiple=True,
    type=GIVEN,
    metavar="NAME",
    help="Store new ingests on location NAME too, and replicate the packages stored already "
    "there (queued as jobs; repeatable).",
)
@click.option(
    "--remove-location",
    "remove_locations",
    multiple=True,
    type=GIVEN,
    metavar="NAME",
    help="Store new ingests no longer on location NAME (repeatable).",
)
@click.option(
    "--profile",
    metavar="FILE_OR_NAME",
    default=None,
    help="Accept only deliveries conforming to this BagIt profile from now on (a local JSON "
    "file or a bundled profile: preserve-aip, aptrust, btr).",
)
@click.option("--no-profile", is_flag=True, help="Require no BagIt profile any more.")
def collections_edit(
    slug: str,
    organisation: str | None,
    title: str | None,
    description: str | None,
    add_locations: tuple[str, ...],
    remove_locations: tuple[str, ...],
    profile: str | None,
    no_profile: bool,
) -> None:
    """Change collection SLUG: title, description, storage locations, BagIt profile.

    A location added gets the packages stored already: a replicate job per package version
    is queued with the change (`preserve locations sync` does it in the foreground). A
    location removed keeps the copies it has; new ingests no longer go there. The last
    location cannot be removed. A new profile applies to new ingests; packages stored
    already are not checked again.

    \b
    Examples:
      preserve collections edit photos --add-location s3 --remove-location default
      preserve collections edit deposits --profile aptrust
    """
    from preserve.services.admin import edit_collection

    result = edit_collection(
        app(),
        slug,
        organisation=organisation,
        title=title,
        description=description,
        add_locations=add_locations,
        remove_locations=remove_locations,
        profile=profile,
        no_profile=no_profile,
    )
    c = result.collection
    echo_changes(f"collection {c.organisation}/{c.slug}", result.changes)
    if any(change.field == "locations" for change in result.changes):
        click.echo(f"new ingests into {c.slug} are stored on {', '.join(c.locations)}")
        by_location: dict[str, int] = {}
        for _job, _package, _version, where in result.queued:
            by_location[where] = by_location.get(where, 0) + 1
        for where, n in sorted(by_location.items()):
            click.echo(
                f"{n} package version{'' if n == 1 else 's'} queued for replication to "
                f"{where}; `preserve locations sync` does it in the foreground"
            )
        for name in sorted(set(add_locations) - set(by_location)):
            click.echo(f"no package of {c.slug} to replicate to {name}")


@collections.command("list", epilog=EXAMPLES["collections list"])
@click.option("--organisation", default=None, type=GIVEN, help="Only this organisation's.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def collections_list(organisation: str | None, as_json: bool) -> None:
    """List collections with their stored packages and storage locations."""
    from preserve.services.admin import list_collections

    rows = list_collections(app(), organisation)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        where = f" in organisation {organisation}" if organisation else ""
        click.echo(f"no collections{where} (add one with: preserve collections add SLUG)")
        return
    for line in collection_rows(rows):
        click.echo(line)


@cli.group()
def locations() -> None:
    """Storage locations (local folders and S3-compatible buckets)."""


@locations.command("add", epilog=EXAMPLES["locations add"])
@click.argument("name", type=GIVEN)
@click.argument("url", type=GIVEN)
@click.option(
    "--region",
    default=None,
    help="Geographic region; an ISO 3166-1 code (BE, NL) or EU is what agreements' allowed "
    "regions are judged against.",
)
@click.option("--storage-type", default=None, help="e.g. filesystem, object, tape.")
@click.option("--offline", is_flag=True, help="Offline or cold storage.")
@click.option("--default", "is_default", is_flag=True, help="Use for collections naming none.")
@click.option("--site", default=None, help="The site it is at (distinct sites of agreements).")
@click.option(
    "--operator",
    default=None,
    help="own (the archive service) or storage-node (a third party: needs a replicate grant).",
)
def locations_add(
    name: str,
    url: str,
    region: str | None,
    storage_type: str | None,
    offline: bool,
    is_default: bool,
    site: str | None,
    operator: str | None,
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
        site=site,
        operator=operator,
    )
    click.echo(f"location {loc.name}: {loc.url} ({loc.provider}, {loc.storage_type})")


@locations.command("list", epilog=EXAMPLES["locations list"])
@click.option("--json", "as_json", is_flag=True)
def locations_list(as_json: bool) -> None:
    """List storage locations."""
    from preserve.services.admin import list_locations

    rows = list_locations(app())
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no locations (add one with: preserve locations add NAME URL)")
        return
    for line in table(
        ("NAME", "PROVIDER", "REGION", "TYPE", "FLAGS", "URL"),
        [
            (
                loc.name,
                loc.provider,
                loc.region or "-",
                loc.storage_type,
                ",".join(
                    f
                    for f, on in (
                        ("default", loc.is_default),
                        ("offline", loc.offline),
                        ("retired", loc.retired_at is not None),
                    )
                    if on
                )
                or "-",
                loc.url,
            )
            for loc in rows
        ],
    ):
        click.echo(line)
