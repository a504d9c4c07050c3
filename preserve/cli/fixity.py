"""preserve fixity."""

from __future__ import annotations

import sys

import click

from preserve.cli.base import GIVEN, app, as_option, cli
from preserve.cli.output import count, emit_json, human_bytes
from preserve.cli.progress import progress


@cli.command()
@click.option("--package", "package_id", default=None, type=GIVEN, help="Check one package.")
@click.option("--collection", default=None, type=GIVEN, help="Check every package of a collection.")
@click.option("--organisation", default=None, type=GIVEN)
@click.option("--all", "all_packages", is_flag=True, help="Check every stored package.")
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
    all_digests: bool,
    as_json: bool,
) -> None:
    """Re-read every copy (from the device, not the page cache) and compare its sizes and digests
    with the catalogue, and the bag manifests with the catalogue."""
    from preserve.errors import InvalidInput
    from preserve.services.fixity import check_fixity

    if sum(bool(x) for x in (package_id, collection, all_packages)) != 1:
        raise InvalidInput("give exactly one of --package ID, --collection SLUG or --all")
    report = check_fixity(
        app(),
        package_id=package_id,
        collection=collection,
        organisation=organisation,
        all_packages=all_packages,
        all_digests=all_digests,
        progress=progress(as_json),
    )
    if as_json:
        emit_json({"ok": report.ok, "copies": report.checks})
    else:
        for c in report.checks:
            digests = ", ".join(c.digests_checked) or "no digest"
            click.echo(
                f"{c.outcome:8} {c.package_id} on {c.location}: {count(c.files_checked, 'file')}, "
                f"{human_bytes(c.bytes_checked)}, {digests}"
            )
        if not report.checks:
            click.echo("no stored copies to check")
    for c in report.checks:
        for p in c.problems:
            click.echo(
                f"FAILED {p.outcome}: {p.path or '(copy)'} in package {c.package_id}, copy on "
                f"location {c.location} ({c.url}): {p.message}",
                err=True,
            )
    if not report.ok:
        sys.exit(1)
