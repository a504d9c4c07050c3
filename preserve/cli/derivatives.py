"""``preserve derivatives make PACKAGE|--all``: thumbnails and previews of a package's images in
the foreground (a worker makes them after each ingest job; this makes them for packages
ingested in the foreground, or again)."""

from __future__ import annotations

from typing import Any

import click

from preserve.cli.base import GIVEN, app, cli
from preserve.cli.output import as_dict, emit_json


@cli.group()
def derivatives() -> None:
    """Thumbnails and previews of images, kept apart from the packages (under
    PRESERVE_DERIVATIVES_DIR) for the web catalogue; they can always be made again."""


@derivatives.command("make")
@click.argument("package", required=False, type=GIVEN)
@click.option("--all", "every", is_flag=True, help="Every stored package.")
@click.option("--again", is_flag=True, help="Make them again even where they are made.")
@click.option("--json", "as_json", is_flag=True)
def derivatives_make(package: str | None, every: bool, again: bool, as_json: bool) -> None:
    """Make the thumbnail and preview of each image of PACKAGE (or of every package) that has
    none yet.

    \b
    Examples:
      preserve derivatives make 3f2a9c1e
      preserve derivatives make --all
    """
    from preserve.services.derivatives import make_derivatives
    from preserve.services.packages import list_packages, package_id

    if bool(package) == every:
        raise click.UsageError("give a PACKAGE or --all (not both)")
    application = app()
    if every:
        ids = [p.id for p in list_packages(application, status="stored").packages]
    else:
        ids = [package_id(application, str(package))]
    reports: list[Any] = []
    for pid in ids:
        report = make_derivatives(application, pid, again=again)
        reports.append(report)
        if not as_json:
            click.echo(
                f"{pid}  {report.images} images: {report.made} made, {report.reused} reused, "
                f"{report.skipped} already made, {report.failed} failed"
            )
    if as_json:
        emit_json([as_dict(r) for r in reports])
