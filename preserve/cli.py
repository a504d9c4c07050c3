"""The ``preserve`` command line: a thin adapter that turns arguments into one service call and its
result or error into text, JSON and an exit code. Errors are one line on stderr, never a traceback.
"""

# ruff: noqa: E402 - the signal handlers below are set before the slow imports
from __future__ import annotations

import _signal  # the C module, loaded at once (``signal`` first builds its enums)
import os
import sys


def _interrupted_while_starting(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # quietly: nothing has been done yet


if __name__ == "__main__" or os.path.basename(sys.argv[0]) == "preserve":
    # Ctrl-C or SIGTERM while the modules below load (a few hundred milliseconds) ends the
    # command quietly instead of with a traceback from inside an import; main() hands the
    # signals to the command's own handling once it runs. (Before this line only the
    # interpreter's own start-up runs, where nothing of preserve can be interrupted.)
    _signal.signal(_signal.SIGINT, _interrupted_while_starting)
    _signal.signal(_signal.SIGTERM, _interrupted_while_starting)

import json
import logging
import signal
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from config.settings import Settings
from preserve import __version__
from preserve.errors import InvalidBag, PreserveError
from preserve.interrupts import Terminated

log = logging.getLogger("preserve")
F = TypeVar("F", bound=Callable[..., Any])

EXIT_BUG = 70


def _app() -> Any:
    from preserve.bootstrap import bootstrap

    ctx = click.get_current_context()
    root = ctx.find_root()
    if "app" not in root.meta:
        root.meta["app"] = bootstrap(Settings.from_env())
        root.call_on_close(root.meta["app"].close)
    return root.meta["app"]


def as_dict(value: Any) -> Any:
    """:func:`preserve.values.as_dict`, imported on first use (not every command prints JSON)."""
    from preserve.values import as_dict as convert

    return convert(value)


def _emit_json(data: Any) -> None:
    click.echo(_json_text(data))


def _json_default(value: Any) -> Any:
    converted = as_dict(value)
    return str(value) if converted is value else converted


def _json_text(value: Any, level: int = 0) -> str:
    """JSON indented by two spaces, except that the items of a long list (the files of a large
    package) sit one per line: json's C encoder renders them, so 100,000 files take a moment."""
    if isinstance(value, dict) and value:
        pad = "  " * (level + 1)
        items = [
            f"{pad}{json.dumps(str(k), ensure_ascii=False)}: {_json_text(v, level + 1)}"
            for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + "\n" + "  " * level + "}"
    if isinstance(value, list | tuple) and value:
        pad = "  " * (level + 1)
        if len(value) > _COMPACT_LIST:
            items = [pad + json.dumps(v, ensure_ascii=False, default=_json_default) for v in value]
        else:
            items = [pad + _json_text(v, level + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + "  " * level + "]"
    if not isinstance(value, str | int | float | bool | type(None) | dict | list | tuple):
        converted = as_dict(value)
        if converted is not value:
            return _json_text(converted, level)
    return json.dumps(value, ensure_ascii=False, default=str)


_COMPACT_LIST = 100  # longer lists in JSON output get one item per line


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"


class TerminalProgress:
    """A progress bar on stderr with files, bytes and MB/s (only on a terminal)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[files]} files"),
            DownloadColumn(binary_units=False),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
        self._mofn = MofNCompleteColumn
        self._progress_cls = Progress
        self._console = Console(stderr=True)
        self._progress: Any = None
        self._task: Any = None
        self._files = 0
        self._total_files = 0

    def begin(self, label: str, files: int, nbytes: int) -> None:
        self._progress = self._progress_cls(*self._columns, console=self._console, transient=False)
        self._progress.start()
        self._files, self._total_files = 0, files
        total = nbytes if nbytes else files
        self._by_files = not nbytes
        self._task = self._progress.add_task(label, total=total, files=f"0/{files}")

    def advance(self, files: int, nbytes: int) -> None:
        self._files += files
        step = files if self._by_files else nbytes
        self._progress.update(self._task, advance=step, files=f"{self._files}/{self._total_files}")

    def end(self) -> None:
        if self._progress is not None:
            # the speed shown at the end is what was done over the whole run: results may
            # arrive in bursts (a batch of small files at once), which rich's estimate overstates
            for task in self._progress.tasks:
                if task.id == self._task and task.elapsed:
                    task.finished_speed = task.completed / task.elapsed
            self._progress.stop()
            self._progress = None


def _progress(json_output: bool) -> Any:
    if not json_output and sys.stderr.isatty():
        return TerminalProgress()
    return None


_UNSET = "an empty value was given (an unset variable in a script?)"


class _GivenPath(click.Path):
    """A path argument: an empty one (an unset variable in a script) would mean the current
    folder, so it is refused."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str | bytes) and not value:
            self.fail(
                f"{_UNSET}; name the folder or file, e.g. '.' for the current folder", param, ctx
            )
        return super().convert(value, param, ctx)


class _GivenText(click.ParamType):
    """A name, slug or id: an empty or blank one is refused."""

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail(_UNSET, param, ctx)
        return value


GIVEN = _GivenText()


class PreserveGroup(click.Group):
    """Turns a PreserveError into one line on stderr and its exit code; a bug into one line too
    (PRESERVE_DEBUG=1 shows the traceback). Each error is printed here once: the services log
    what they also raise at debug level only (-vv), with its cause."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PreserveError as exc:
            log.debug("%s failed", ctx.invoked_subcommand, exc_info=True)
            _print_error(exc)
            ctx.exit(exc.exit_code)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Terminated:
            click.echo("terminated", err=True)
            ctx.exit(143)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)
        except Exception as exc:
            error = _catalogue_error(ctx, exc)
            if error is not None:
                log.debug("%s failed", ctx.invoked_subcommand, exc_info=True)
                _print_error(error)
                ctx.exit(error.exit_code)
            if os.environ.get("PRESERVE_DEBUG"):
                raise
            log.debug("unexpected error", exc_info=True)
            # one line: a library's message may go on with details (SQLAlchemy's: the statement)
            first_line = next(iter(str(exc).strip().splitlines()), "")
            click.echo(
                f"internal error (a bug in preserve): {type(exc).__name__}: {first_line}; "
                "set PRESERVE_DEBUG=1 for the traceback",
                err=True,
            )
            ctx.exit(EXIT_BUG)


def _catalogue_error(ctx: click.Context, exc: Exception) -> PreserveError | None:
    """A database driver's error that escaped outside a unit of work (migrating, fixity's plain
    SQL) as the CatalogueError it amounts to (a full disk ...), or None."""
    app = ctx.find_root().meta.get("app")
    if app is None or not ({"sqlite3", "sqlalchemy"} & sys.modules.keys()):
        return None
    from preserve.catalogue.database import catalogue_error

    return catalogue_error(exc, app.settings.database_url)


@click.group(cls=PreserveGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="preserve")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def cli(verbose: int) -> None:
    """preserve: keep digital creations as verified BagIt packages, with fixity you can trust."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(
        level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


# ------------------------------------------------------------------ set-up


@cli.command()
def init() -> None:
    """Create the catalogue (migrated to the latest schema) and the default storage location."""
    from preserve.services.admin import initialise

    result = initialise(_app())
    click.echo(f"catalogue    {result.database_url} (schema {result.revision})")
    click.echo(f"organisation {result.organisation}")
    click.echo(f"location     {result.location.name}: {result.location.url}")


@cli.group()
def db() -> None:
    """Catalogue schema migrations."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Migrate the catalogue to REVISION."""
    from preserve.catalogue.database import current_revision, upgrade

    app = _app()
    upgrade(app.new_catalogue_engine(), revision)
    click.echo(f"catalogue at revision {current_revision(app.engine)}")


@db.command("current")
def db_current() -> None:
    """Show the catalogue's schema revision and the newest one available."""
    from preserve.catalogue.database import current_revision, head_revision

    app = _app()
    current = current_revision(app.engine)
    head = head_revision()
    state = "up to date" if current == head else f"behind (head is {head}): run preserve db upgrade"
    click.echo(f"{current or 'empty'} ({state})")


@cli.command("sample", hidden=False)
@click.argument("dest", type=_GivenPath(path_type=Path))
def sample(dest: Path) -> None:
    """Write the sample delivery (photographs, texts, a PDF, a WAV) and its metadata CSV."""
    from preserve.sample import write_sample_delivery

    for path in write_sample_delivery(dest):
        click.echo(str(path))


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
        _app(),
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

    rows = list_collections(_app(), organisation)
    if as_json:
        _emit_json(rows)
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
        _app(),
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

    rows = list_locations(_app())
    if as_json:
        _emit_json(rows)
        return
    for loc in rows:
        flags = ",".join(
            f for f, on in (("default", loc.is_default), ("offline", loc.offline)) if on
        )
        click.echo(f"{loc.name}\t{loc.provider}\t{loc.region or '-'}\t{loc.url}\t{flags}")


# ------------------------------------------------------------------ ingest


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=_GivenPath(path_type=Path))
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
    type=_GivenPath(path_type=Path),
    default=None,
    help="CSV mapping each PATH (column 'path') to Dublin Core fields.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable result.")
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
        _app(),
        list(paths),
        collection=collection,
        organisation=organisation,
        title=title,
        metadata_csv=metadata,
        progress=_progress(as_json),
    )
    if as_json:
        _emit_json(
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
                        "warnings": [_problem_json(w) for w in r.warnings],
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
                    f"stored {r.package_id}  {_count(r.files, 'file')}, {_human_bytes(r.bytes)}  "
                    f"{r.organisation}/{r.collection}  copies: {', '.join(r.copies)}  "
                    f'"{r.title}"'
                )
    for f in report.failures:
        _print_error(f.error, prefix=f"{f.source}: " if f.source not in str(f.error) else "")
    if report.failures:
        sys.exit(max(f.error.exit_code for f in report.failures))


def _problem_json(p: Any) -> dict[str, str]:
    return {"code": p.code, "path": p.path, "message": p.message}


# ------------------------------------------------------------------ bags and formats


@cli.group()
def bag() -> None:
    """Make and validate BagIt bags (RFC 8493)."""


@bag.command("make")
@click.argument("src", type=_GivenPath(path_type=Path))
@click.argument("dest", type=_GivenPath(path_type=Path))
@click.option("--algorithm", "algorithms", multiple=True, help="Manifest algorithm (repeatable).")
def bag_make(src: Path, dest: Path, algorithms: tuple[str, ...]) -> None:
    """Copy the folder SRC into a new BagIt 1.0 bag at DEST (SRC is never changed)."""
    from preserve.bagit import make_bag
    from preserve.errors import InvalidInput

    if not src.is_dir():
        raise InvalidInput(f"{src}: no such folder")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InvalidInput(f"{dest}: already exists and is not an empty folder")
    algs = tuple(dict.fromkeys(("sha512", *algorithms))) if algorithms else ("sha512", "sha256")
    summary = make_bag(src, dest, algorithms=algs)
    click.echo(
        f"bag {summary.path}: {summary.payload_files} files, "
        f"{_human_bytes(summary.payload_bytes)}, {', '.join(summary.algorithms)}"
    )


@bag.command("validate")
@click.argument("path", type=_GivenPath(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@click.option("--completeness-only", is_flag=True, help="Skip checksums (NOT a validity check).")
def bag_validate(path: Path, as_json: bool, completeness_only: bool) -> None:
    """Validate the bag at PATH; exit 0 if valid, 1 if not. Every problem is listed."""
    from preserve.bagit import validate_bag
    from preserve.errors import InvalidInput

    if not path.is_dir():
        raise InvalidInput(f"{path}: no such folder")
    report = validate_bag(path, completeness_only=completeness_only)
    for w in report.warnings:
        click.echo(f"warning: {w}", err=True)
    if as_json:
        _emit_json(report.to_json())
    else:
        for e in report.errors:
            click.echo(f"error: {e}", err=True)
        verdict = "valid" if report.valid else f"INVALID ({len(report.errors)} errors)"
        click.echo(f"{path}: {verdict}")
    if not report.valid:
        sys.exit(1)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=_GivenPath(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file (JSON lines).")
@click.option("--describe", is_flag=True, help="Add libmagic's description of each file.")
def identify(paths: tuple[Path, ...], as_json: bool, describe: bool) -> None:
    """Identify the format of each file: PRONOM PUID via siegfried; MIME type from PRONOM, or
    from libmagic where PRONOM has none; character set of text files."""
    from preserve.errors import InvalidInput
    from preserve.formats import identify_files

    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.is_file() and not f.is_symlink()))
        elif p.is_file():
            files.append(p)
        else:
            raise InvalidInput(f"{p}: no such file or folder")
    infos = identify_files(files, workers=os.cpu_count() or 1, describe=describe)
    for path, info in zip(files, infos, strict=True):
        record: dict[str, Any] = {
            "path": str(path),
            "puid": info.puid,
            "mime": info.mime,
            "mime_source": info.mime_source,
            "charset": info.charset,
            "format_name": info.format_name,
            "format_version": info.format_version,
            "basis": info.basis,
            "warnings": list(info.warnings),
        }
        if describe:
            record["description"] = info.magic_description
        if as_json:
            click.echo(json.dumps(record, ensure_ascii=False))
        else:
            name = f"{info.format_name} {info.format_version}".strip()
            mime = f"{info.mime}; charset={info.charset}" if info.charset else info.mime
            extra = f"\t{info.magic_description}" if describe else ""
            click.echo(f"{path}\t{info.puid}\t{mime}\t{name}{extra}")


# ------------------------------------------------------------------ fixity, packages


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
        _app(),
        package_id=package_id,
        collection=collection,
        organisation=organisation,
        all_packages=all_packages,
        all_digests=all_digests,
        progress=_progress(as_json),
    )
    if as_json:
        _emit_json({"ok": report.ok, "copies": report.checks})
    else:
        for c in report.checks:
            digests = ", ".join(c.digests_checked) or "no digest"
            click.echo(
                f"{c.outcome:8} {c.package_id} on {c.location}: {_count(c.files_checked, 'file')}, "
                f"{_human_bytes(c.bytes_checked)}, {digests}"
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


@cli.command()
@click.argument("package_id", type=GIVEN)
@click.argument("dest", type=_GivenPath(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def export(package_id: str, dest: Path, as_json: bool) -> None:
    """Write package PACKAGE_ID out as a bag at DEST and validate it."""
    from preserve.services.packages import export_package

    result = export_package(_app(), package_id, dest)
    for line in result.damaged:
        click.echo(f"warning: {line}", err=True)
    for folder in result.removed_leftovers:
        click.echo(f"removed {folder}, left by a killed export", err=True)
    if as_json:
        _emit_json(
            {
                "package_id": result.package_id,
                "destination": result.destination,
                "location": result.location,
                "files": result.files,
                "bytes": result.bytes,
                "validation": result.report.to_json(),
                "damaged": list(result.damaged),
                "removed_leftovers": list(result.removed_leftovers),
            }
        )
    else:
        click.echo(
            f"exported {result.package_id} from {result.location} to {result.destination}: "
            f"{result.files} files, {_human_bytes(result.bytes)}, bag valid"
        )


@cli.command()
@click.argument("package_id", type=GIVEN)
@click.option("--json", "as_json", is_flag=True)
def show(package_id: str, as_json: bool) -> None:
    """Show a package: description, files with formats, copies and PREMIS events."""
    from preserve.services.packages import show_package

    d = show_package(_app(), package_id)
    if as_json:
        _emit_json(d)
        return
    s = d.summary
    click.echo(f"package      {s.id} (version {s.version}, {s.status})")
    if s.status == "failed":
        click.echo(
            "             its ingest failed and it was never stored; what it wrote on the "
            "copies below is removed by the next ingest once their location answers"
        )
    elif s.status == "ingesting":
        click.echo(
            "             being ingested, or its ingest was interrupted (the next ingest "
            "cleans up an interrupted one)"
        )
    click.echo(f"title        {s.title}")
    click.echo(f"collection   {s.organisation}/{s.collection}")
    click.echo(f"source       {d.source}")
    click.echo(f"size         {_count(s.files, 'file')}, {_human_bytes(s.bytes)}")
    for element, values in d.description.items():
        for v in values:
            click.echo(f"dc:{element:<9} {v}")
    click.echo("copies:")
    for c in d.copies:
        checked = c.last_checked_at.isoformat(timespec="seconds") if c.last_checked_at else "never"
        click.echo(f"  {c.location:<12} {c.status:<9} last checked {checked} ({c.last_outcome})")
    click.echo("files:")
    for f in d.files:
        if f.role != "payload":
            continue
        extra = ""
        if f.image:
            extra = f"  {f.image.get('width')}x{f.image.get('height')} {f.image.get('mode')}"
        click.echo(f"  {f.path}  {_human_bytes(f.size)}  {f.puid}  {f.mime}{extra}")
    click.echo("events:")
    for e in d.events:
        click.echo(
            f"  {e.occurred_at.isoformat(timespec='seconds')}  {e.event_type:<28} {e.outcome:<8} "
            f"{e.detail}"
        )


@cli.group()
def packages() -> None:
    """Packages in the catalogue."""


@packages.command("list")
@click.option("--collection", default=None, type=GIVEN)
@click.option("--organisation", default=None, type=GIVEN)
@click.option("--json", "as_json", is_flag=True)
def packages_list(collection: str | None, organisation: str | None, as_json: bool) -> None:
    """List packages."""
    from preserve.services.packages import list_packages

    rows = list_packages(_app(), collection, organisation)
    if as_json:
        _emit_json(rows)
        return
    for p in rows:
        click.echo(
            f"{p.id}  {p.status:<9} {p.organisation}/{p.collection}  {_count(p.files, 'file'):>11} "
            f"{_human_bytes(p.bytes):>9}  {p.verified_copies}/{p.copies} copies verified  {p.title}"
        )


# ------------------------------------------------------------------ entry point


def _print_error(exc: PreserveError, prefix: str = "") -> None:
    message = f"{prefix}{exc}".replace("\n", " ")
    click.echo(f"error: {message}", err=True)
    if isinstance(exc, InvalidBag):
        for p in exc.problems:
            click.echo(f"  {p}", err=True)


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point."""
    from preserve import interrupts

    # Ctrl-C: KeyboardInterrupt, SIGTERM: Terminated, both held during critical steps
    interrupts.install()
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="preserve")
    finally:
        # the command is over (its outcome printed, its exit code chosen): a Ctrl-C now would
        # only print a traceback from the interpreter's clean-up, and SIGTERM ends it at once
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, _exit_now)


def _exit_now(signum: int, frame: object) -> None:
    os._exit(128 + signum)


if __name__ == "__main__":
    main()
