"""Setting up: init, the schema, the sample delivery."""

from __future__ import annotations

from pathlib import Path

import click

from preserve.cli.base import EXAMPLES, GivenPath, app, cli


@cli.command(epilog=EXAMPLES["init"])
def init() -> None:
    """Create the catalogue (migrated to the latest schema), the default organisation and the
    default storage location. Safe to run again: it says what was there already, and migrates
    an older catalogue to the latest schema."""
    from preserve.services.admin import initialise

    r = initialise(app())
    if r.revision_before is None:
        catalogue = f"set up at {r.catalogue} (schema {r.revision})"
    elif r.revision_before == r.revision:
        catalogue = f"already initialised at {r.catalogue} (schema {r.revision}, up to date)"
    else:
        catalogue = (
            f"already initialised at {r.catalogue}, migrated from {r.revision_before} to "
            f"{r.revision}"
        )
    click.echo(f"catalogue    {catalogue}")
    click.echo(
        f"organisation {r.organisation} "
        f"({'registered' if r.organisation_created else 'already there'})"
    )
    click.echo(
        f"location     {r.location.name}: {r.location.url} "
        f"({'registered' if r.location_created else 'already registered'})"
    )


@cli.group()
def db() -> None:
    """Catalogue schema migrations."""


@db.command("upgrade", epilog=EXAMPLES["db upgrade"])
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Migrate the catalogue to REVISION."""
    from preserve.catalogue.database import current_revision, upgrade

    application = app()
    upgrade(application.new_catalogue_engine(), revision)
    click.echo(f"catalogue at revision {current_revision(application.engine)}")


@db.command("current", epilog=EXAMPLES["db current"])
def db_current() -> None:
    """Show the catalogue's schema revision and the newest one available."""
    from preserve.catalogue.database import current_revision, head_revision

    application = app()
    current = current_revision(application.engine)
    head = head_revision()
    state = "up to date" if current == head else f"behind (head is {head}): run preserve db upgrade"
    click.echo(f"{current or 'empty'} ({state})")


@cli.command("sample", epilog=EXAMPLES["sample"])
@click.argument("dest", type=GivenPath(path_type=Path))
def sample(dest: Path) -> None:
    """Write the sample delivery (photographs, texts, a PDF, a WAV) and its metadata CSV."""
    from preserve.sample import write_sample_delivery

    for path in write_sample_delivery(dest):
        click.echo(str(path))
