"""preserve ingest."""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from preserve.cli.base import (
    GIVEN,
    GivenPath,
    app,
    as_option,
    cli,
    log,
    logged_warnings,
    note,
    print_error,
    say,
    warn,
)
from preserve.cli.output import as_dict, count, emit_json, human_bytes, problem_json
from preserve.cli.progress import progress
from preserve.interrupts import Terminated

if TYPE_CHECKING:
    from preserve.ingest.model import IngestFailure, IngestReport, IngestResult
    from preserve.values import Problem


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=GivenPath(path_type=Path))
@click.option(
    "--collection",
    default=None,
    type=GIVEN,
    help="Collection slug (required, except with --new-version-of).",
)
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
    help="CSV describing each PATH (column 'path') and, optionally, files inside it, in Dublin "
    "Core (title, dc:creator, dcterms:created, ...; several values separated by '|').",
)
@click.option(
    "--metadata-encoding",
    metavar="ENCODING",
    default=None,
    help="Encoding of the --metadata CSV (default: UTF-8, with or without BOM; Excel on "
    "Windows in Belgium writes cp1252). Never guessed: other bytes are refused.",
)
@click.option(
    "--new-version-of",
    "new_version_of",
    metavar="PACKAGE_ID",
    default=None,
    type=GIVEN,
    help="Make PATH the next version of this package (its id, a prefix of it, or the "
    "producer's identifier): only what changed is stored.",
)
@click.option(
    "--async",
    "queued",
    is_flag=True,
    help="Queue the ingest as a job for the workers and print its id, instead of running it "
    "here (the input is checked first; follow it with `preserve jobs wait ID`).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable result.")
@as_option
def ingest(
    paths: tuple[Path, ...],
    collection: str | None,
    organisation: str | None,
    title: str | None,
    metadata: Path | None,
    metadata_encoding: str | None,
    new_version_of: str | None,
    queued: bool,
    as_json: bool,
) -> None:
    """Ingest each PATH (folder, file, bag, zip or tar) as one package.

    \b
    With --new-version-of PACKAGE_ID, PATH (the whole changed delivery) becomes
    the package's next version: what was added, modified, removed or renamed
    is recorded, and only new content is stored (the rest is named in the
    version's fetch.txt). Identical content makes no version.

    \b
    The --metadata CSV has a header row: 'path', then Dublin Core columns
    (title, dc:creator, dcterms:created, dcterms:spatial, ...). One row per
    PATH (relative to the CSV's folder, or absolute); a row whose path is
    PATH/FILE describes that one file. Comma, semicolon or tab separated.
    The producer's identifier becomes the External-Identifier.
    See "Describing a delivery: the metadata CSV" in the README.

    \b
    \b
    With --async the ingest becomes a job that a worker (`preserve worker`) runs:
    the command checks its input, queues the job and prints its id.

    \b
    Examples:
      preserve ingest photos-1923 --collection photos --metadata delivery.csv
      preserve ingest photos-1923 --collection photos --async
      preserve ingest photos-1923-rescan --new-version-of 3f2a9c1e
      preserve ingest photos-1923 --collection photos --metadata delivery.csv \\
          --metadata-encoding cp1252
    """
    from preserve.errors import InvalidInput
    from preserve.ingest import ingest as run
    from preserve.ingest.model import IngestFailure, IngestReport
    from preserve.services.journal import flush_events

    if metadata_encoding is not None and metadata is None:
        raise InvalidInput("--metadata-encoding applies to a --metadata CSV, and none is given")
    if collection is None and new_version_of is None:
        ctx = click.get_current_context()
        option = next(p for p in ctx.command.params if p.name == "collection")
        raise click.MissingParameter(ctx=ctx, param=option)
    if queued:
        queue_ingest(
            paths,
            collection,
            organisation,
            title,
            metadata,
            metadata_encoding,
            new_version_of,
            as_json,
        )
        return

    done: list[IngestResult] = []
    failed: list[IngestFailure] = []

    def report_outcome(outcome: IngestResult | IngestFailure) -> None:
        """Each delivery's warnings and result (or error) as soon as it is done: an
        interruption later loses none of it."""
        if isinstance(outcome, IngestFailure):
            failed.append(outcome)
            print_failure(outcome)
            return
        done.append(outcome)
        for w in outcome.warnings:
            warn(delivery_warning(outcome.source, w))
        if not as_json:
            say(result_line(outcome, metadata))

    shown = progress()
    try:
        report = run(
            app(),
            list(paths),
            collection=collection,
            organisation=organisation,
            title=title,
            metadata_csv=metadata,
            metadata_encoding=metadata_encoding,
            progress=shown,
            on_result=report_outcome,
            new_version_of=new_version_of,
        )
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: say what became of the packages
        if shown is not None:
            shown.end()  # the stage under way ends "stopped" (if it has not already)
        message = interruption_message(exc)
        log.error("%s", message, extra={"echoed": True})
        click.echo(message, err=True)
        if as_json:  # what was done before, for a script to act on
            partial = IngestReport(tuple(done), tuple(failed))
            emit_json({**ingest_json(partial, metadata), "interrupted": True, "message": message})
        raise click.exceptions.Exit(143 if isinstance(exc, Terminated) else 130) from None
    # the replication and ingestion-end events, recorded after the bags: to storage too
    flush_events(app(), [r.package_id for r in report.results])
    for line in not_accepted_summary(w for r in report.results for w in r.warnings):
        warn(line)
    for line in service_level_summary(app(), report):
        warn(line)
    summary = ingest_summary(report)
    if as_json:
        emit_json(ingest_json(report, metadata))
    for package_id in report.recovered:
        if ".v" in package_id:  # "<package>.v<N>": a version an interrupted run left unfinished
            package, _, number = package_id.partition(".v")
            note(
                f"cleaned up the unfinished version {number} of package {package} that an "
                "interrupted run left"
            )
        else:
            note(f"cleaned up interrupted ingest {package_id}")
    if as_json:
        log.info("%s", summary)
    else:
        say(summary)
    if report.failures:
        sys.exit(max(f.error.exit_code for f in report.failures))


def queue_ingest(
    paths: tuple[Path, ...],
    collection: str | None,
    organisation: str | None,
    title: str | None,
    metadata: Path | None,
    metadata_encoding: str | None,
    new_version_of: str | None,
    as_json: bool,
) -> None:
    """``--async``: check the input as the foreground ingest does, queue one job (``version``
    for --new-version-of), print its id."""
    from preserve.services.jobs import submit
    from preserve.services.runner import check_ingest, ingest_payload

    application = app()
    payload = ingest_payload(
        paths,
        collection=collection,
        organisation=organisation,
        title=title,
        metadata_csv=metadata,
        metadata_encoding=metadata_encoding,
        new_version_of=new_version_of,
    )
    check_ingest(application, payload)
    job = submit(application, "version" if new_version_of else "ingest", payload)
    if as_json:
        emit_json({"job_id": job.id})
    else:
        say(f"queued job {job.id} ({job.kind} of {count(len(paths), 'delivery', 'deliveries')})")


def result_line(r: IngestResult, metadata: Path | None = None) -> str:
    """``stored <id>  9 files, 1.2 MB  org/coll  copies: default  "title" (title from
    folder name)``, or the duplicate's ``already preserved: ...``."""
    if r.status == "duplicate":
        return (
            f"already preserved: {r.source} is identical to package {r.package_id} "
            f"({r.title}); not ingested again"
        )
    if r.status == "unchanged":
        return (
            f"unchanged: {r.source} is identical to version {r.version} of package "
            f"{r.package_id}; no new version made (to correct the description only: "
            f"preserve describe {r.package_id[:8]} --title ...)"
        )
    if r.changes is not None:
        c = r.changes
        return (
            f"stored version {r.version} of {r.package_id}  {count(r.files, 'file')}, "
            f"{human_bytes(r.bytes)}: {len(c['added'])} added, {len(c['modified'])} modified, "
            f"{len(c['removed'])} removed, {len(c['renamed'])} renamed, "
            f"{c['unchanged']} unchanged; {human_bytes(r.stored_bytes or 0)} new stored  "
            f"copies: {', '.join(r.copies)}  "
            f'"{r.title}"' + (f" (title from {title_from(r, metadata)})" if r.title_source else "")
        )
    return (
        f"stored {r.package_id}  {count(r.files, 'file')}, {human_bytes(r.bytes)}  "
        f"{r.organisation}/{r.collection}  copies: {', '.join(r.copies)}  "
        f'"{r.title}"' + (f" (title from {title_from(r, metadata)})" if r.title_source else "")
    )


def title_from(r: IngestResult, metadata: Path | None) -> str:
    """Where the title came from, the metadata CSV named: ``metadata CSV delivery.csv``."""
    if r.title_source == "metadata CSV" and metadata is not None:
        return f"metadata CSV {metadata}"
    return r.title_source


def print_failure(f: IngestFailure) -> None:
    print_error(f.error, prefix=f"{f.source}: " if f.source not in str(f.error) else "")


def ingest_json(report: IngestReport, metadata: Path | None = None) -> dict[str, Any]:
    """The ``--json`` document of an ingest (of what it did before an interruption)."""
    return {
        "packages": [
            {
                "source": r.source,
                "status": r.status,
                "package_id": r.package_id,
                "duplicate_of": r.duplicate_of,
                "organisation": r.organisation,
                "collection": r.collection,
                "title": r.title,
                "title_source": title_from(r, metadata),
                "version": r.version,
                "changes": r.changes,
                "stored_bytes": r.stored_bytes,
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
        "unchanged": sum(r.status == "unchanged" for r in report.results),
        "files": sum(r.files for r in report.results if r.status == "stored"),
        "bytes": sum(r.bytes for r in report.results if r.status == "stored"),
        "logged_warnings": logged_warnings(),
        "summary": ingest_summary(report),
    }


def interruption_message(exc: KeyboardInterrupt) -> str:
    """``interrupted: nothing was stored; the partial package was removed``: what an
    interrupted ingest leaves, as the pipeline found it after undoing the delivery under way
    (``terminated: ...`` for SIGTERM)."""
    from preserve.ingest.pipeline import interruption

    word = "terminated" if isinstance(exc, Terminated) else "interrupted"
    what = interruption(exc)
    if what is None:  # before or after the deliveries' work (checking the arguments ...)
        return word
    name = Path(what.source).name if what.source else ""
    stored = [Path(r.source).name for r in what.results if r.status == "stored"]
    if what.fate == "stored" and what.source:
        stored.append(f"{name}, package {what.package_id}")
    parts = []
    if stored:
        parts.append(f"{count(len(stored), 'package')} stored ({'; '.join(stored)})")
    elif what.fate != "unknown":
        parts.append("nothing was stored")
    of = f" of {name}" if len(what.results) + what.remaining > 0 else ""
    partial = f"the partial package{of}"
    if what.version > 1:  # a new version of a stored package: that package is untouched
        partial = f"the partial version {what.version} of package {what.package_id}"
    if what.source and what.fate == "removed":
        parts.append(f"{partial} was removed")
        if what.version > 1:
            parts.append(f"version {what.version - 1} is unchanged and current")
    elif what.source and what.fate == "left":
        parts.append(
            f"{partial} could not be removed now (a storage location or the catalogue did not "
            "answer): the next ingest removes it"
        )
    elif what.source and what.fate == "unknown":
        parts.append(f"{name} was not finished: the next ingest removes what is left of it")
    if what.remaining:
        parts.append(f"{count(what.remaining, 'delivery', 'deliveries')} not started")
    return f"{word}: {'; '.join(parts)}"


#: The message :func:`preserve.services.retention.format_warnings` gives a file whose format the
#: agreement does not accept: the PUID and the agreement's label are read back from it.
_NOT_ACCEPTED = re.compile(
    r"^format (?P<puid>\S+)(?: \(.*\))? is not among the formats agreement (?P<agreement>.+) "
    r"accepts$",
    re.DOTALL,
)


def not_accepted_summary(problems: Iterable[Problem]) -> list[str]:
    """One closing line after the per-file warnings of formats an agreement does not accept
    (``61 files in 2 formats agreement CRA-2026-001 v1 does not accept: fmt/18 ×60, x-fmt/111
    ×1``), most frequent first, one line per agreement; none for fewer than two such files."""
    counts: dict[str, Counter[str]] = {}
    for problem in problems:
        m = _NOT_ACCEPTED.match(problem.message) if problem.code == "format-not-accepted" else None
        if m is not None:
            counts.setdefault(m["agreement"], Counter())[m["puid"]] += 1
    lines = []
    for agreement, puids in counts.items():
        files = sum(puids.values())
        if files < 2:
            continue
        shown = ", ".join(f"{puid} \u00d7{n}" for puid, n in puids.most_common())
        lines.append(
            f"{count(files, 'file')} in {count(len(puids), 'format')} agreement {agreement} "
            f"does not accept: {shown}"
        )
    return lines


def service_level_summary(application: Any, report: IngestReport) -> list[str]:
    """One line per agreement and shortfall over the packages just stored whose agreement asks
    more copies, sites or an offline copy than the locations there are can give (what
    ``preserve locations sync`` finds and alerts on): ``agreement CRA-2026-001 v1 asks 3
    copies on 2 sites with one offline; this location set gives 1 copy on 1 site, none
    offline (package ...; see: preserve locations sync, preserve alerts list)``."""
    from preserve.errors import PreserveError
    from preserve.services.replication import unmet_requirements

    stored = {(r.package_id, r.version) for r in report.results if r.status == "stored"}
    if not stored:
        return []
    try:
        unmet = unmet_requirements(application, package_ids={p for p, _v in stored})
    except PreserveError as exc:  # the packages are stored: a summary never fails the ingest
        log.warning("the agreements' copies were not checked: %s", exc)
        return []
    groups: dict[tuple[str, str, str], list[str]] = {}
    for u in unmet:
        if (u.package_id, u.version) in stored and u.plan is not None and u.plan.unmet:
            req = u.requirement
            groups.setdefault((req.agreement, req.asks(), u.plan.gives(req)), []).append(
                u.package_id
            )
    return [
        f"agreement {agreement} asks {asks}; this location set gives {gives} ("
        + (f"package {ids[0]}" if len(ids) == 1 else count(len(ids), "package"))
        + "; see: preserve locations sync, preserve alerts list)"
        for (agreement, asks, gives), ids in groups.items()
    ]


def delivery_warning(source: str, problem: Problem) -> str:
    """``<delivery name>/<path in the delivery>: <message>`` (the delivery's name alone for a
    problem of the whole delivery or of a delivery that is one file)."""
    from preserve.bagit.paths import printable

    name = Path(source).name
    where = name if problem.path in ("", name) else f"{name}/{problem.path}"
    return f"{printable(where)}: {problem.message}"


def ingest_summary(report: IngestReport) -> str:
    """``3 packages stored (42 files, 1.2 GB), 1 already preserved, 1 failed``."""
    stored = [r for r in report.results if r.status == "stored"]
    duplicates = sum(r.status == "duplicate" for r in report.results)
    versions = sum(r.changes is not None for r in stored)
    if versions and versions == len(stored):
        text = f"{count(versions, 'new version')} stored"
    else:
        text = f"{count(len(stored), 'package')} stored"
    if stored:
        files = count(sum(r.files for r in stored), "file")
        text += f" ({files}, {human_bytes(sum(r.bytes for r in stored))})"
    if duplicates:
        text += f", {duplicates} already preserved"
    unchanged = sum(r.status == "unchanged" for r in report.results)
    if unchanged:
        text += f", {unchanged} unchanged (no new version)"
    if report.failures:
        text += f", {len(report.failures)} failed"
    return text
