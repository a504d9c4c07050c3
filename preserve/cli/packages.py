"""Finding and reading packages: packages list, show, export."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from preserve.cli.base import GIVEN, GivenPath, app, as_option, cli, note, warn
from preserve.cli.output import count, emit_json, human_bytes

F = TypeVar("F", bound=Callable[..., Any])
#: Package statuses (preserve.services.packages.STATUSES, which imports the catalogue)
STATUSES = ("stored", "ingesting", "failed")
#: What a delivery can have been (preserve.services.packages.DELIVERY_KINDS, likewise)
DELIVERY_KINDS = ("folder", "file", "bag", "meemoo-sip", "eark-sip")


@cli.command()
@click.argument("package_id", type=GIVEN)
@click.argument("dest", type=GivenPath(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["folder", "zip", "tar", "tar.gz"]),
    help="Write a folder or an archive (default: by the ending of DEST: .zip, .tar, "
    ".tar.gz or .tgz; else a folder).",
)
@click.option(
    "--version",
    "version",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Export version N of the package (default: its current version).",
)
@click.option("--json", "as_json", is_flag=True)
@as_option
def export(
    package_id: str, dest: Path, fmt: str | None, version: int | None, as_json: bool
) -> None:
    """Write package PACKAGE_ID out as a bag at DEST and validate it.

    DEST is a new folder (missing parent folders are made), or a zip or tar file holding one
    folder named after the bag: the bag is validated first, then packed, read back and only
    then given its name. DEST must not exist (a folder may exist if empty).

    Any version can be exported as a complete bag: the files it shares with earlier versions
    (named in its fetch.txt in storage) are read from where they are stored, and the bag has
    no fetch.txt. The package's event files go under metadata/events/.

    \b
    Examples:
      preserve export 1f0c2a exports/1f0c2a
      preserve export 1f0c2a exports/1f0c2a-v1 --version 1
      preserve export 1f0c2a exports/1f0c2a.zip
      preserve export 1f0c2a transfer/box-12.tar.gz --json
    """
    from preserve.services.export import export_package
    from preserve.services.journal import flush_events
    from preserve.services.packages import package_id as resolve

    chosen = resolve(app(), package_id)
    flush_events(app(), [chosen], catch_up=0)  # what happened until now goes into the bag too
    result = export_package(app(), chosen, dest, fmt, version)
    flush_events(app(), [result.package_id])  # the dissemination event, to storage too
    for line in result.damaged:
        warn(line)
    for folder in result.removed_leftovers:
        note(f"removed {folder}, left by a killed run")
    if as_json:
        emit_json(
            {
                "package_id": result.package_id,
                "version": result.version,
                "destination": result.destination,
                "location": result.location,
                "files": result.files,
                "bytes": result.bytes,
                "validation": result.report.to_json(),
                "damaged": list(result.damaged),
                "removed_leftovers": list(result.removed_leftovers),
                "format": result.format,
                "algorithms": list(result.algorithms),
                "archive_bytes": result.archive_bytes,
                "created_folders": list(result.created_folders),
                "event_files": result.event_files,
            }
        )
    else:
        which = (
            result.package_id
            if result.current_version == 1
            else f"{result.package_id} version {result.version}"
        )
        click.echo(
            f"exported {which} from {result.location} to {result.destination}: "
            f"{count(result.files, 'file')}, {human_bytes(result.bytes)}, "
            f"{' + '.join(result.algorithms)}, bag valid"
            + (
                ""
                if result.archive_bytes is None
                else f" ({result.format} of {human_bytes(result.archive_bytes)})"
            )
        )


@cli.command(
    epilog="\b\nExamples:\n  preserve show 3f2a9c1e\n  preserve show MUS-2024-0017 --summary\n"
    "  preserve show 3f2a9c1e --version 1\n  preserve show urn:uuid:3f2a9c1e-... --json\n"
    "  preserve show 3f2a9c1e --as vera"
)
@click.argument("package_id", metavar="PACKAGE", type=GIVEN)
@click.option(
    "--summary",
    is_flag=True,
    help="Leave the file list out (for large packages); formats and problems are still counted.",
)
@click.option(
    "--version",
    "version",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Show the title, description and files of version N (default: the current version).",
)
@click.option(
    "--as",
    "username",
    type=GIVEN,
    default=None,
    metavar="USER",
    help="Show it as this catalogue user sees it: a package they may not see (of another "
    "organisation, not shared with theirs through an agreement in force) is not found.",
)
@click.option("--json", "as_json", is_flag=True)
def show(
    package_id: str, summary: bool, version: int | None, username: str | None, as_json: bool
) -> None:
    """Show a package: description, versions, files with formats and problems, copies and
    PREMIS events.

    PACKAGE is the package's UUID, a unique prefix of it (at least 4 hex digits, any case,
    as `preserve packages list` shows it), its urn:uuid: form, or the producer's identifier
    (External-Identifier or dc:identifier).

    A package with several versions lists each one (date, kind, files and size, what it
    stored itself, what changed, the delivery, who made it) and the copies of each; the
    title, description and files are those of the current version, or of --version N.

    Files with problems are marked "!" with the reason: a format that was not identified, a
    warning of the identification, an image that does not decode completely.

    """
    from preserve.services.packages import show_package

    if username is not None:
        from preserve.services.holds import principal_for_cli
        from preserve.services.sharing import visible_package

        package_id = visible_package(app(), principal_for_cli(app(), username), package_id)
    d = show_package(app(), package_id, files=not summary, version=version)
    if as_json:
        emit_json(d)
        return
    for line in show_lines(d, summary):
        click.echo(line)


#: The narrowest the label column of `preserve show` gets.
_LABEL_WIDTH = 12
#: Item-level description elements shown first under a file.
_FIRST_TERMS = ("title", "identifier")


def _term(element: str) -> str:
    """A description element as show names it: dc:title, dcterms:spatial."""
    return element if ":" in element else f"dc:{element}"


def _values(values: Any) -> list[str]:
    return [values] if isinstance(values, str) else [str(v) for v in values or ()]


def show_lines(d: Any, summary: bool) -> list[str]:
    """The text of `preserve show` for the package detail ``d``: labels in a column as wide as
    the longest, files with their own description under them, events in aligned columns (with
    ``summary``: the last event of each type and how many there are)."""
    s = d.summary
    of = f" of {d.current_version}" if s.version != d.current_version else ""
    status = f"{s.status}, damaged" if s.is_damaged else s.status
    rows: list[tuple[str, str]] = [("package", f"{s.id} (version {s.version}{of}, {status})")]
    rows += _damage_rows(s)
    if s.status == "failed":
        rows.append(
            (
                "",
                "its ingest failed and it was never stored; what it wrote on the copies below "
                "is removed by the next ingest once their location answers",
            )
        )
    elif s.status == "ingesting":
        rows.append(
            (
                "",
                "being ingested, or its ingest was interrupted (the next ingest cleans up an "
                "interrupted one)",
            )
        )
    rows += [
        ("title", s.title),
        ("collection", f"{s.organisation}/{s.collection}"),
    ]
    if d.source:
        rows.append(("source", d.source))
    rows += _retention_rows(d.retention)
    shown = next((v for v in d.versions if v.number == s.version), None)
    if shown is not None and shown.delivery_kind:  # what the producer delivered, and its profile
        rows.append(("delivered as", shown.delivery_profile or shown.delivery_kind))
    rows.append(("size", f"{count(s.files, 'file')}, {human_bytes(s.bytes)}"))
    if d.files_with_problems:
        rows.append(("", f"{count(d.files_with_problems, 'file')} with problems"))
    elif summary:
        rows.append(("", "no files with problems"))
    languages = d.description.get("_lang") or {}  # element -> the language of each value
    for element, values in d.description.items():
        if element.startswith("_"):
            continue
        langs = list(languages.get(element) or ())
        for i, v in enumerate(_values(values)):
            rows.append((_term(element), f"{v} [{langs[i]}]" if i < len(langs) and langs[i] else v))
    width = max([_LABEL_WIDTH, *(len(label) for label, _ in rows)])
    lines = [f"{label:<{width}} {value}".rstrip() for label, value in rows]
    if summary:
        lines.append("formats:")
        for fc in d.formats:
            lines.append(f"  {fc.files} × {fc.puid} {fc.format_name}".rstrip())
    several = len(d.versions) > 1 or d.current_version > 1
    if several:
        lines += _version_lines(d.versions, d.current_version)
    lines.append("copies:")
    for c in d.copies:
        checked = (
            f"{c.last_checked_at.isoformat(timespec='seconds')} ({c.last_outcome})"
            if c.last_checked_at
            else "never"
        )
        version = f"v{c.version:<3} " if several else ""
        lines.append(f"  {version}{c.location:<12} {c.status:<9} last checked {checked}")
    if not summary:
        lines.append("files:")
        lines += _file_lines([f for f in d.files if f.role == "payload"])
    lines += _event_lines(d.events, summary, several)
    return lines


def _retention_rows(r: Any) -> list[tuple[str, str]]:
    """The agreement the package was ingested under and its retention (none: no rows)."""
    if r is None:
        return []
    basis = {"rule": "its collection's agreement", "manual": "assigned by hand"}.get(
        r.basis, f"named by the SIP ({r.sip_reference})"
    )
    if r.agreement_state == "superseded":
        # a superseded version is never "its collection's agreement" (the version in force is)
        basis = "superseded" + (f" by {r.superseded_by}" if r.superseded_by else "")
        if r.state == "under_review":
            basis += ", which does not cover this package: under review"
        elif r.superseded_by:
            basis += f"; preserve retention recompute puts it under {r.superseded_by}"
    rows = [("agreement", f"{r.agreement} ({basis})"), ("retention", f"{r.state}: {r.rule}")]
    if r.state == "retention_error":
        rows.append(("", f"{r.error}; correct it (preserve describe), then it is recomputed"))
    elif r.retention_start is not None:
        due = "" if r.retention_due is None else f", due {r.retention_due.isoformat()}"
        by = " (to be disposed of by then)" if r.bound == "maximum" and r.retention_due else ""
        rows.append(("", f"from {r.retention_start.isoformat()}{due}{by}"))
    for w in r.format_warnings:
        rows.append(("format", f"{w.get('path')}: {w.get('message')}"))
    return rows


def _damage_rows(s: Any) -> list[tuple[str, str]]:
    """What makes the package summary ``s`` damaged: each file a repair found with no good copy
    anywhere, or every copy of the version shown found damaged by fixity and not repaired."""
    rows = [
        (
            "DAMAGED",
            f"{d.get('path')} (version {d.get('version')}) has no good copy anywhere"
            + _why(d.get("reason")),
        )
        for d in s.damage
    ]
    if s.damaged_at is not None:
        when = s.damaged_at.isoformat(timespec="seconds")
        rows.append(("", f"marked damaged at {when}; see `preserve alerts list`"))
    elif s.copies and s.damaged_copies == s.copies:
        rows.append(
            (
                "DAMAGED",
                f"every copy of version {s.version} failed its fixity check and is not repaired "
                f"yet; run `preserve fixity --package {s.id} --repair`",
            )
        )
    return rows


def _why(reason: Any) -> str:
    """`` (reason)`` for a damaged file, unless the reason only says there is no good copy."""
    return f" ({reason})" if reason and "no good copy" not in str(reason) else ""


def _version_lines(versions: Any, current: int) -> list[str]:
    """The versions in aligned columns: number, date, kind, files and size, what it stored
    itself, the delivery, who; what changed on the line under it (and its status when it is
    not stored)."""
    if not versions:
        return []
    rows = []
    for v in versions:
        when = (v.stored_at or v.created_at).isoformat(timespec="seconds")
        stored = (
            f"stored {count(v.stored_files, 'file')}, {human_bytes(v.stored_bytes)}"
            if v.stored_files
            else "stored no payload"
        )
        delivery = " ".join(x for x in (v.delivery_kind, v.delivery_profile) if x)
        rows.append(
            (
                f"v{v.number}" + ("*" if v.number == current else ""),
                when,
                v.kind,
                f"{count(v.files, 'file')}, {human_bytes(v.bytes)}",
                stored,
                delivery,
                f"by {v.actor}" if v.actor else "",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["versions (* current):"]
    for v, r in zip(versions, rows, strict=True):
        cells = [cell.ljust(w) for cell, w in zip(r, widths, strict=False)]
        lines.append(("  " + "  ".join([*cells, r[-1]])).rstrip())
        notes = [x for x in (v.changes_summary,) if x]
        if v.status != "stored":
            notes.append(f"status {v.status}")
        if notes:
            lines.append("  " + " " * (widths[0] + 2) + "; ".join(notes))
    return lines


#: The widest the path column of show's file list gets; a longer path pushes its line only.
_PATH_WIDTH = 60


def _file_lines(files: Any) -> list[str]:
    """Payload files in aligned columns (path, size right-aligned, PUID, MIME type, then image
    properties and problems), "!" before a file with problems, its own description under it."""
    if not files:
        return []
    sizes = [human_bytes(f.size) for f in files]
    path_w = min(_PATH_WIDTH, max(len(f.path) for f in files))
    size_w = max(len(size) for size in sizes)
    puid_w = max(len(f.puid or "") for f in files)
    mime_w = max(len(f.mime or "") for f in files)
    lines = []
    for f, size in zip(files, sizes, strict=True):
        rest = []
        if f.image:
            rest.append(f"{f.image.get('width')}x{f.image.get('height')} {f.image.get('mode')}")
        if f.problems:
            rest.append(f"({'; '.join(f.problems)})")
        lines.append(
            f"  {'!' if f.problems else ' '} {f.path:<{path_w}}  {size:>{size_w}}  "
            f"{f.puid or '':<{puid_w}}  {f.mime or '':<{mime_w}}  {'  '.join(rest)}".rstrip()
        )
        lines += _item_description(f.description)
    return lines


def _item_description(description: Any) -> list[str]:
    """A file's own description, under it: title and identifier first, one line per value (a
    repeated element repeats its label, as the package's description does)."""
    if not isinstance(description, dict) or not description:
        return []
    elements = [e for e in _FIRST_TERMS if e in description]
    elements += [e for e in description if e not in _FIRST_TERMS]
    shown = [(_term(e), v) for e in elements for v in _values(description[e]) if v]
    width = max((len(term) for term, _ in shown), default=0)
    return [f"      {term:<{width}} {value}" for term, value in shown]


def _event_lines(events: Any, summary: bool, versions: bool = False) -> list[str]:
    """Events in aligned columns: time, (with ``versions``: the version it concerns,) type,
    outcome, detail (and who). With ``summary`` the last event of each type, with the number
    of events of that type, in the order the types first occurred."""
    if not events:
        return ["events:", "  none"]
    type_width = max(len(e.event_type) for e in events)
    outcome_width = max(len(e.outcome) for e in events)

    def tail(e: Any) -> str:
        return f"{e.outcome:<{outcome_width}}  {e.detail}" + (f" ({e.by})" if e.by else "")

    def version(e: Any) -> str:
        if not versions:
            return ""
        return f"{'v' + str(e.version) if e.version is not None else '':<4}  "

    if not summary:
        return ["events:"] + [
            f"  {e.occurred_at.isoformat(timespec='seconds')}  {version(e)}"
            f"{e.event_type:<{type_width}}  {tail(e)}".rstrip()
            for e in events
        ]
    last: dict[str, Any] = {}
    numbers: dict[str, int] = {}
    for e in events:
        last[e.event_type] = e
        numbers[e.event_type] = numbers.get(e.event_type, 0) + 1
    counted = {t: count(n, "event") for t, n in numbers.items()}
    count_width = max(len(c) for c in counted.values())
    lines = ["events (the last of each type):"]
    for event_type, e in last.items():
        lines.append(
            f"  {event_type:<{type_width}}  {counted[event_type]:>{count_width}}, last "
            f"{e.occurred_at.isoformat(timespec='seconds')}  {tail(e)}".rstrip()
        )
    return lines


@cli.group()
def packages() -> None:
    """Packages in the catalogue."""


def _filter_options(f: F) -> F:
    """The filters packages list and packages search share."""
    for option in reversed(
        (
            click.option(
                "--organisation", default=None, type=GIVEN, help="Only this organisation's."
            ),
            click.option(
                "--collection",
                default=None,
                type=GIVEN,
                help="Only this collection's (of --organisation, else the default organisation).",
            ),
            click.option(
                "--status",
                type=click.Choice(STATUSES),
                default=None,
                help="Only packages with this status (default: every status).",
            ),
            click.option(
                "--since",
                metavar="DATE",
                default=None,
                help="Only packages ingested on or after DATE (ISO: 2024-03-31; UTC).",
            ),
            click.option(
                "--until",
                metavar="DATE",
                default=None,
                help="Only packages ingested on or before DATE (that whole day included).",
            ),
            click.option(
                "--delivered-as",
                "delivered_as",
                type=click.Choice(DELIVERY_KINDS),
                default=None,
                help="Only packages whose current version was delivered as this.",
            ),
            click.option("--json", "as_json", is_flag=True, help="The full records as JSON."),
        )
    ):
        f = option(f)
    return f


def _dates(since: str | None, until: str | None) -> dict[str, Any]:
    from preserve.services.packages import parse_date

    return {
        "since": parse_date(since, "--since") if since is not None else None,
        "until": parse_date(until, "--until") if until is not None else None,
    }


def _print_listing(listing: Any, as_json: bool, empty: str) -> None:
    if as_json:
        emit_json(listing.packages)
        return
    if not listing.packages:
        click.echo(empty)
        return
    n = listing.id_length
    rows = [
        (
            p.id[:n],
            p.created_at.date().isoformat(),
            f"{p.status}, damaged" if p.is_damaged else p.status,
            f"{p.organisation}/{p.collection}",
            count(p.files, "file"),
            human_bytes(p.bytes),
            f"{p.verified_copies}/{p.copies}",
            p.title,
        )
        for p in listing.packages
    ]
    header = ("ID", "INGESTED", "STATUS", "COLLECTION", "FILES", "SIZE", "VERIFIED", "TITLE")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    right = {4, 5, 6}  # numbers are right-aligned
    for r in [header, *rows]:
        cells = [r[i].rjust(w) if i in right else r[i].ljust(w) for i, w in enumerate(widths)]
        click.echo("  ".join([*cells, r[-1]]).rstrip())


@packages.command(
    "list",
    epilog="\b\nExamples:\n  preserve packages list --organisation museum --status stored\n"
    "  preserve packages list --since 2024-01-01 --until 2024-03-31 --json\n"
    "  preserve packages list --delivered-as meemoo-sip",
)
@_filter_options
def packages_list(
    collection: str | None,
    organisation: str | None,
    status: str | None,
    since: str | None,
    until: str | None,
    delivered_as: str | None,
    as_json: bool,
) -> None:
    """List packages, oldest first: id (as `preserve show` accepts it), ingest date, status,
    organisation/collection, files, size, verified copies out of all copies, title (of each
    package's current version)."""
    from preserve.services.packages import list_packages

    listing = list_packages(
        app(),
        collection,
        organisation,
        status=status,
        delivered_as=delivered_as,
        **_dates(since, until),
    )
    _print_listing(listing, as_json, "no packages")


@packages.command(
    "search",
    epilog="\b\nExamples:\n  preserve packages search 'harbour'\n"
    "  preserve packages search fmt/353 --organisation museum\n"
    "  preserve packages search MUS-2024 --status stored --json",
)
@click.argument("text", type=GIVEN)
@_filter_options
def packages_search(
    text: str,
    collection: str | None,
    organisation: str | None,
    status: str | None,
    since: str | None,
    until: str | None,
    delivered_as: str | None,
    as_json: bool,
) -> None:
    """Find packages whose title, description, identifiers (External-Identifier,
    dc:identifier), file names, PUIDs or format names contain TEXT (any case; a whole PUID
    such as fmt/43 matches only that format); of a package with versions, the current one."""
    from preserve.services.packages import search_packages

    listing = search_packages(
        app(),
        text,
        collection,
        organisation,
        status=status,
        delivered_as=delivered_as,
        **_dates(since, until),
    )
    _print_listing(listing, as_json, f"no packages match {text!r}")
