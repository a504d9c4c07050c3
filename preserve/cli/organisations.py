"""Organisations: who the packages belong to (Source-Organization in bag-info.txt, the owning
agent in PREMIS)."""

from __future__ import annotations

from typing import Any

import click

from preserve.cli.base import EXAMPLES, GIVEN, app, cli
from preserve.cli.collections import collection_rows, echo_changes
from preserve.cli.output import count, emit_json, table

_CONTACT_OPTIONS = (
    click.option("--address", default=None, help="Postal address (Organization-Address)."),
    click.option("--contact-name", default=None, help="Contact person (Contact-Name)."),
    click.option("--contact-email", default=None, help="Contact e-mail (Contact-Email)."),
)


def _contact_options(f: Any) -> Any:
    for option in reversed(_CONTACT_OPTIONS):
        f = option(f)
    return f


@cli.group()
def organisations() -> None:
    """Organisations: who owns the packages. Their full name, address and contact go into
    bag-info.txt of every new package and into its PREMIS metadata as the owning agent."""


@organisations.command("add")
@click.argument("slug", type=GIVEN)
@click.option("--name", required=True, type=GIVEN, help="Full name (Source-Organization).")
@_contact_options
@click.option(
    "--exist-ok",
    is_flag=True,
    help="Succeed if the organisation exists already with the values given.",
)
def organisations_add(
    slug: str,
    name: str,
    address: str | None,
    contact_name: str | None,
    contact_email: str | None,
    exist_ok: bool,
) -> None:
    """Register organisation SLUG.

    With --exist-ok an organisation that exists already is fine when the values given are its
    own (a script may run again); when they differ, the error names each difference.

    \b
    Examples:
      preserve organisations add meemoo --name "meemoo, Vlaams Instituut voor het Archief" \\
        --address "Kunstlaan 1, 1000 Brussel" --contact-email archief@meemoo.be
      preserve organisations add kbr --name "KBR" --exist-ok
    """
    from preserve.services.admin import add_organisation

    added = add_organisation(
        app(),
        slug,
        name=name,
        address=address,
        contact_name=contact_name,
        contact_email=contact_email,
        exist_ok=exist_ok,
    )
    o = added.organisation
    if added.created:
        click.echo(f"organisation {o.slug}: {o.name}")
    else:
        click.echo(f"organisation {o.slug} exists already with these details")


@organisations.command("list", epilog=EXAMPLES["organisations list"])
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def organisations_list(as_json: bool) -> None:
    """List organisations with their number of collections and stored packages."""
    from preserve.services.admin import list_organisations

    rows = list_organisations(app())
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no organisations (add one with: preserve organisations add SLUG --name ...)")
        return
    for line in table(
        ("ORGANISATION", "COLLECTIONS", "PACKAGES", "NAME", "CONTACT"),
        [
            (
                o.slug,
                str(o.collections),
                str(o.packages),
                o.name,
                " ".join(v for v in (o.contact_name, f"<{o.contact_email}>") if v != "<>"),
            )
            for o in rows
        ],
        right=(1, 2),
    ):
        click.echo(line)


@organisations.command("show", epilog=EXAMPLES["organisations show"])
@click.argument("slug", type=GIVEN)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def organisations_show(slug: str, as_json: bool) -> None:
    """Show organisation SLUG: its details and its collections with their package counts."""
    from preserve.services.admin import show_organisation

    d = show_organisation(app(), slug)
    if as_json:
        emit_json(d)
        return
    o = d.organisation
    click.echo(f"organisation  {o.slug}")
    click.echo(f"name          {o.name}")
    click.echo(f"address       {o.address or '-'}")
    click.echo(f"contact       {o.contact_name or '-'}")
    click.echo(f"e-mail        {o.contact_email or '-'}")
    click.echo(
        f"holds         {count(o.collections, 'collection')}, {count(o.packages, 'stored package')}"
    )
    if d.collections:
        click.echo("")
        for line in collection_rows(d.collections):
            click.echo(line)


@organisations.command("edit")
@click.argument("slug", type=GIVEN)
@click.option("--name", default=None, type=GIVEN, help="Full name (Source-Organization).")
@_contact_options
def organisations_edit(
    slug: str,
    name: str | None,
    address: str | None,
    contact_name: str | None,
    contact_email: str | None,
) -> None:
    """Change organisation SLUG: full name, address, contact.

    Give at least one option; "" clears the address or a contact field. Packages stored
    already keep their bag-info.txt; new ingests use the new values.

    \b
    Example:
      preserve organisations edit meemoo --contact-name "An Peeters"
    """
    from preserve.services.admin import edit_organisation

    result = edit_organisation(
        app(),
        slug,
        name=name,
        address=address,
        contact_name=contact_name,
        contact_email=contact_email,
    )
    echo_changes(f"organisation {slug}", result.changes)
    if result.changes:
        click.echo(
            "packages stored already keep their bag-info.txt; new ingests use the new values"
        )
