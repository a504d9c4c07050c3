"""Versions: preserve describe (a metadata-only version). New versions from a changed delivery
are made by ``preserve ingest PATH --new-version-of ID``."""

from __future__ import annotations

from pathlib import Path

import click

from preserve.cli.base import GIVEN, GivenPath, app, as_option, cli, say
from preserve.cli.output import emit_json
from preserve.cli.progress import progress


@cli.command()
@click.argument("package", type=GIVEN)
@click.option(
    "--title",
    default=None,
    help="The corrected main title (its language kept; titles in other languages stay).",
)
@click.option(
    "--metadata",
    type=GivenPath(path_type=Path),
    default=None,
    help="A CSV with the corrected Dublin Core (one row, or a row for the folder the package "
    "was ingested from); its elements replace the package's.",
)
@click.option(
    "--metadata-encoding",
    metavar="ENCODING",
    default=None,
    help="Encoding of the --metadata CSV (default UTF-8).",
)
@click.option(
    "--set",
    "assignments",
    metavar="ELEMENT=VALUE",
    multiple=True,
    help="Set a Dublin Core element (repeat for several values; ELEMENT= clears it), e.g. "
    "--set dcterms:subject=Harbour --set dcterms:subject=Antwerp; ELEMENT@LANGUAGE=VALUE sets "
    "the values of one language only (--set title@en='Harbour of Antwerp').",
)
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable result.")
@as_option
def describe(
    package: str,
    title: str | None,
    metadata: Path | None,
    metadata_encoding: str | None,
    assignments: tuple[str, ...],
    as_json: bool,
) -> None:
    """Correct the description of PACKAGE without touching its payload.

    \b
    Makes a metadata-only version: new dc.xml, premis.xml (with a metadata
    modification event) and bag-info.txt, while every payload file stays
    where it is stored (named in the version's fetch.txt, never copied).
    Earlier versions keep their description. Order: the CSV, then --set,
    then --title. Values in several languages are kept: --title replaces the
    main title only, --set title@en=... the English values only.

    \b
    Examples:
      preserve describe 3f2a9c1e --title "Harbour of Antwerp, 1923"
      preserve describe 3f2a9c1e --set dcterms:subject=Harbour --set dcterms:subject=Antwerp
      preserve describe 3f2a9c1e --set title@en="Harbour of Antwerp"
      preserve describe 3f2a9c1e --metadata corrected.csv
    """
    from preserve.errors import InvalidInput
    from preserve.services.journal import flush_events
    from preserve.services.versions import describe as run

    if metadata_encoding is not None and metadata is None:
        raise InvalidInput("--metadata-encoding applies to a --metadata CSV, and none is given")
    result = run(
        app(),
        package,
        title=title,
        metadata_csv=metadata,
        metadata_encoding=metadata_encoding,
        assignments=assignments,
        progress=progress(),
    )
    flush_events(app(), [result.package_id])  # the events after the bag, to storage too
    if as_json:
        emit_json(
            {
                "package_id": result.package_id,
                "status": result.status,
                "version": result.version,
                "title": result.title,
                "changed": {k: {"before": a, "after": b} for k, (a, b) in result.changed.items()},
                "copies": list(result.copies),
            }
        )
        return
    if result.status == "unchanged":
        say(
            f"unchanged: the description of {result.package_id} (version {result.version}) "
            "already says that; no version made"
        )
        return
    say(f"stored version {result.version} of {result.package_id}: description corrected")
    for key, (before, after) in result.changed.items():
        say(f"  {key}: {' | '.join(before) or '(none)'} -> {' | '.join(after) or '(none)'}")
