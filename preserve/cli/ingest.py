"""preserve ingest."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from preserve.cli.base import GIVEN, GivenPath, app, as_option, cli, print_error
from preserve.cli.output import as_dict, count, emit_json, human_bytes, problem_json
from preserve.cli.progress import progress


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=GivenPath(path_type=Path))
@click.option("--collection", required=True, type=GIVEN, help="Collection slug.")
@click.option(
    "--organisation",
    default=None,
    type=GIVEN,
    help="Organisation slug (default PRESERVE_ORGANISATION).",
)
@click.option("--title", default=None, help="Title of the package(s).")
@click.option(
    "--metadata",
    type=GivenPath(path_type=Path),
    default=None,
    help="CSV mapping each PATH (column 'path') to Dublin Core fields.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable result.")
@as_option
def ingest(
    paths: tuple[Path, ...],
    collection: str,
    organisation: str | None,
    title: str | None,
    metadata: Path | None,
    as_json: bool,
) -> None:
    """Ingest each PATH (folder, file, bag, zip or tar) as one package."""
    from preserve.ingest import ingest as run

    report = run(
        app(),
        list(paths),
        collection=collection,
        organisation=organisation,
        title=title,
        metadata_csv=metadata,
        progress=progress(as_json),
    )
    if as_json:
        emit_json(
            {
                "packages": [
                    {
                        "source": r.source,
                        "status": r.status,
                        "package_id": r.package_id,
                        "duplicate_of": r.duplicate_of,
                        "organisation": r.organisation,
                        "collection": r.collection,
                        "title": r.title,
                        "version": r.version,
                        "files": r.files,
                        "bytes": r.bytes,
                        "copies": list(r.copies),
                        "key_prefix": r.key_prefix,
                        "warnings": [problem_json(w) for w in r.warnings],
                        "file_details": [as_dict(f) for f in r.file_details],
                    }
                    for r in report.results
                ],
                "failures": [
                    {"source": f.source, "code": f.error.code, "message": str(f.error)}
                    for f in report.failures
                ],
                "recovered": list(report.recovered),
                "stored": sum(r.status == "stored" for r in report.results),
                "duplicates": sum(r.status == "duplicate" for r in report.results),
                "files": sum(r.files for r in report.results if r.status == "stored"),
                "bytes": sum(r.bytes for r in report.results if r.status == "stored"),
            }
        )
    else:
        for package_id in report.recovered:
            click.echo(f"cleaned up interrupted ingest {package_id}", err=True)
        for r in report.results:
            for w in r.warnings:
                click.echo(f"warning: {r.source}: {w}", err=True)
            if r.status == "duplicate":
                click.echo(
                    f"already preserved: {r.source} is identical to package {r.package_id} "
                    f"({r.title}); not ingested again"
                )
            else:
                click.echo(
                    f"stored {r.package_id}  {count(r.files, 'file')}, {human_bytes(r.bytes)}  "
                    f"{r.organisation}/{r.collection}  copies: {', '.join(r.copies)}  "
                    f'"{r.title}"'
                )
    for f in report.failures:
        print_error(f.error, prefix=f"{f.source}: " if f.source not in str(f.error) else "")
    if report.failures:
        sys.exit(max(f.error.exit_code for f in report.failures))
