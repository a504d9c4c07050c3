"""The command group, its error handling and what every command shares: the application,
argument types that refuse empty values, and how an error is printed."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from click.shell_completion import CompletionItem

from preserve import __version__
from preserve.config.settings import Settings
from preserve.errors import FrozenVersion, InvalidBag, PreserveError
from preserve.interrupts import Terminated

log = logging.getLogger("preserve")
F = TypeVar("F", bound=Callable[..., Any])

EXIT_BUG = 70


def _examples(*lines: str) -> str:
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines) + "\n"


#: The examples at the end of the --help of the commands that have no longer text of their own.
EXAMPLES = {
    "init": _examples(
        "preserve init",
        "PRESERVE_HOME=/srv/preserve preserve init",
        "PRESERVE_DATABASE_URL=postgresql+psycopg://preserve@db/preserve preserve init",
    ),
    "db upgrade": _examples("preserve db upgrade", "preserve db upgrade --revision 0002"),
    "db current": _examples("preserve db current"),
    "sample": _examples(
        "preserve sample /tmp/sample-delivery",
        "preserve ingest /tmp/sample-delivery/* --collection sample \\",
        "    --metadata /tmp/sample-delivery.csv",
    ),
    "collections list": _examples(
        "preserve collections list", "preserve collections list --organisation museum --json"
    ),
    "locations add": _examples(
        "preserve locations add nas file:///mnt/nas/preserve --region Gent",
        "preserve locations add s3-brussel \\",
        "    's3://aips/prefix?endpoint_url=https://s3.example.org&region=eu-west-1' \\",
        "    --region Brussel --storage-type object",
    ),
    "locations list": _examples("preserve locations list", "preserve locations list --json"),
    "organisations list": _examples(
        "preserve organisations list", "preserve organisations list --json"
    ),
    "organisations show": _examples(
        "preserve organisations show museum", "preserve organisations show museum --json"
    ),
}


def app() -> Any:
    from preserve.bootstrap import bootstrap

    ctx = click.get_current_context()
    root = ctx.find_root()
    if "app" not in root.meta:
        root.meta["app"] = bootstrap(Settings.from_env(), actor=root.meta.get("actor"))
        root.call_on_close(root.meta["app"].close)
    return root.meta["app"]


def _remember_actor(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        if not value.strip():
            raise click.BadParameter(_UNSET, ctx, param)
        ctx.find_root().meta["actor"] = value.strip()


def as_option(f: F) -> F:
    """``--as NAME``: the person on whose behalf the command runs (recorded in PREMIS)."""
    return click.option(
        "--as",
        "actor",
        default=None,
        expose_value=False,
        is_eager=True,
        callback=_remember_actor,
        metavar="NAME",
        help="Who runs this, recorded as the PREMIS agent (default: your login name).",
    )(f)


_UNSET = "an empty value was given (an unset variable in a script?)"


class GivenPath(click.Path):
    """A path argument: an empty one (an unset variable in a script) would mean the current
    folder, so it is refused."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str | bytes) and not value:
            self.fail(
                f"{_UNSET}; name the folder or file, e.g. '.' for the current folder", param, ctx
            )
        return super().convert(value, param, ctx)


class GivenText(click.ParamType):
    """A name, slug or id: an empty or blank one is refused."""

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail(_UNSET, param, ctx)
        return value

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        """Names from the catalogue for the parameters that name something kept there."""
        from preserve.cli import completion

        kind = _COMPLETED.get(param.name or "")
        if param.name == "slug" and ctx.parent is not None:  # the SLUG of `<group> edit|show`
            kind = {"collections": "collections", "organisations": "organisations"}.get(
                ctx.parent.info_name or ""
            )
            if ctx.info_name == "add":  # a new name: nothing to offer
                kind = None
        if kind is None:
            return []
        # a collection of the organisation the command will use: --organisation if given
        # already, else the default one (completion.complete reads it from the settings)
        organisation = ctx.params.get("organisation") if kind == "collections" else None
        return completion.complete(kind, incomplete, organisation=organisation)


#: The parameters whose values shell completion takes from the catalogue, and what they name.
_COMPLETED = {
    "collection": "collections",
    "organisation": "organisations",
    "location": "locations",
    "locations": "locations",
    "add_locations": "locations",
    "remove_locations": "locations",
    "package_id": "packages",
}

GIVEN = GivenText()


class OneLineUsageError(click.UsageError):
    """A usage error of click (bad or missing option or argument, unknown option or command)
    shown as every other error is: one line ``error: ...``, ending with where the usage is
    described, instead of click's usage text followed by ``Error: ...``. The exit code stays 2;
    click's own message, with its "Did you mean ...?", is kept word for word."""

    def __init__(self, original: click.UsageError) -> None:
        super().__init__(original.format_message(), original.ctx)
        self.original = original

    def format_message(self) -> str:
        return " ".join(self.message.split("\n"))

    def show(self, file: Any = None) -> None:
        ctx = self.ctx
        command = ctx.command_path if ctx is not None else "preserve"
        if isinstance(self.original, click.exceptions.NoSuchCommand):
            where = f"{command} --help lists the commands"
        elif isinstance(self.original, click.NoSuchOption | click.BadOptionUsage) or (
            isinstance(self.original, click.BadParameter)
            and isinstance(self.original.param, click.Option)
        ):
            where = f"{command} --help shows the options"
        else:
            where = f"{command} --help shows how to use it"
        click.echo(f"error: {self.format_message()} ({where})", err=True, file=file)


class PreserveGroup(click.Group):
    """Turns a PreserveError into one line on stderr and its exit code; a bug into one line too
    (PRESERVE_DEBUG=1 shows the traceback). Each error is printed here once: the services log
    what they also raise at debug level only (-vv), with its cause. The command line and its
    outcome (exit status) go to the ``--log-file``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["argv"] = list(args)
        return super().parse_args(ctx, args)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        # the group's own options (`preserve --bogus`) are parsed here, outside invoke()
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:
            raise OneLineUsageError(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        status: int | str = 1
        try:
            result = self._invoke(ctx)
            status = 0
            return result
        except click.exceptions.Exit as exc:
            status = exc.exit_code
            raise
        except click.exceptions.NoArgsIsHelpError:
            status = 2
            raise
        except click.UsageError as exc:
            # a subcommand's usage error (they all pass here): one line, like every other error
            status = exc.exit_code
            _log_error(ctx, exc.format_message())
            if isinstance(exc, OneLineUsageError):
                raise
            raise OneLineUsageError(exc) from None
        except click.exceptions.ClickException as exc:
            status = exc.exit_code
            _log_error(ctx, exc.format_message())
            raise
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else 1
            raise
        finally:
            _log_outcome(ctx, status)

    def _invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PreserveError as exc:
            log.debug("%s failed", ctx.invoked_subcommand, exc_info=True)
            print_error(exc)
            raise click.exceptions.Exit(exc.exit_code) from None
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Terminated:
            log.error("terminated", extra=_ECHOED)
            click.echo("terminated", err=True)
            raise click.exceptions.Exit(143) from None
        except KeyboardInterrupt:
            log.error("interrupted", extra=_ECHOED)
            click.echo("interrupted", err=True)
            raise click.exceptions.Exit(130) from None
        except BrokenPipeError:
            if not _stdout_reader_gone():
                raise
            # the reader of the output left (`preserve packages list | head`): end quietly, as
            # shell tools do (128 + SIGPIPE); what the command did is done and recorded
            log.info("output closed by its reader", extra=_ECHOED)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # the interpreter's last flush stays quiet
            raise click.exceptions.Exit(141) from None
        except Exception as exc:
            error = _catalogue_error(ctx, exc)
            if error is not None:
                log.debug("%s failed", ctx.invoked_subcommand, exc_info=True)
                print_error(error)
                raise click.exceptions.Exit(error.exit_code) from None
            if os.environ.get("PRESERVE_DEBUG"):
                raise
            log.debug("unexpected error", exc_info=True)
            # one line: a library's message may go on with details (SQLAlchemy's: the statement)
            first_line = next(iter(str(exc).strip().splitlines()), "")
            message = (
                f"internal error (a bug in preserve): {type(exc).__name__}: {first_line}; "
                "set PRESERVE_DEBUG=1 for the traceback"
            )
            log.error("%s", message, extra=_ECHOED)
            click.echo(message, err=True)
            raise click.exceptions.Exit(EXIT_BUG) from None


def _log_error(ctx: click.Context, message: str) -> None:
    """An error click prints itself, into the log file; not before logging is set up (an
    unknown command or a contradiction among the global options): Python would print it once
    more on stderr."""
    if "log_handlers" in ctx.meta:
        log.error("%s", message, extra=_ECHOED)


def _stdout_reader_gone() -> bool:
    """Whether standard output is a pipe whose reading end is closed."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _fd, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # no real stdout (captured by a test runner)
        return False


def _catalogue_error(ctx: click.Context, exc: Exception) -> PreserveError | None:
    """A database driver's error that escaped outside a unit of work (migrating, fixity's plain
    SQL) as the CatalogueError it amounts to (a full disk ...), or None."""
    app = ctx.find_root().meta.get("app")
    if app is None or not ({"sqlite3", "sqlalchemy"} & sys.modules.keys()):
        return None
    from preserve.catalogue.database import catalogue_error

    return catalogue_error(exc, app.settings.database_url)


def _log_file(ctx: click.Context, param: click.Parameter, given: str | None) -> Path | None:
    """``--log-file FILE``: checked before anything runs; appended to, never truncated."""
    if given is None:
        return None
    if not given.strip():
        raise click.BadParameter(_UNSET, ctx, param)
    value = Path(given)
    folder = value.absolute().parent
    if not folder.is_dir():
        raise click.BadParameter(
            f"{value}: the folder {folder} does not exist (create it first)", ctx, param
        )
    if value.is_dir():
        raise click.BadParameter(f"{value}: is a folder, not a file", ctx, param)
    try:
        with open(value, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise click.BadParameter(
            f"{value}: cannot write: {exc.strerror or exc}", ctx, param
        ) from None
    return value


@click.group(
    "preserve", cls=PreserveGroup, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(__version__, prog_name="preserve")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="Only errors on stderr: no progress bar, no warnings (they still go to --log-file "
    "and into --json).",
)
@click.option(
    "--log-file",
    callback=_log_file,
    metavar="FILE",
    help="Append what the command does (INFO and above, with ISO 8601 times), its warnings, "
    "its outcome and any error to FILE; its folder must exist.",
)
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool, log_file: Path | None) -> None:
    """preserve: keep digital creations as verified BagIt packages, with fixity you can trust."""
    if quiet and verbose:
        raise click.UsageError("--quiet and --verbose contradict each other: give one of them")
    ctx.meta["quiet"] = quiet
    _configure_logging(ctx, verbose, quiet, log_file)


# ---------------------------------------------------------------------------- logging

#: marks a record the command line has printed itself: it goes to the log file, not to stderr
_ECHOED = {"echoed": True}


class _Stderr(logging.StreamHandler):
    """Log records on whatever ``sys.stderr`` is now (click's test runner swaps it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


class _StderrFormat(logging.Formatter):
    """Warnings and errors in the style of the command's own lines (``warning: ...``); the
    chatter of -v and -vv with its level and logger."""

    def format(self, record: logging.LogRecord) -> str:
        if record.levelno >= logging.WARNING:
            return f"{record.levelname.lower()}: {record.getMessage()}"
        return f"{record.levelname} {record.name}: {record.getMessage()}"


class _FileFormat(logging.Formatter):
    """``2026-03-01T14:03:07.123+01:00 INFO preserve.ingest.pipeline: ...``: local time with
    its offset, so lines from several machines and seasons sort and compare."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        when = datetime.fromtimestamp(record.created).astimezone()
        return when.isoformat(timespec="milliseconds")

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")


def _ours_or_warning(record: logging.LogRecord) -> bool:
    """The log file takes preserve's INFO lines, but only warnings from libraries (boto3 ...)."""
    return record.name.startswith("preserve") or record.levelno >= logging.WARNING


class _Collected(logging.Handler):
    """Keeps the warnings logged during the command, for its --json output."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno == logging.WARNING and not getattr(record, "echoed", False):
            self.messages.append(record.getMessage())


def _configure_logging(
    ctx: click.Context, verbose: int, quiet: bool, log_file: Path | None
) -> None:
    root_logger = logging.getLogger()
    stderr = _Stderr()
    stderr.setLevel(logging.ERROR if quiet else logging.WARNING - 10 * min(verbose, 2))
    stderr.setFormatter(_StderrFormat())
    stderr.addFilter(lambda record: not getattr(record, "echoed", False))
    collected = _Collected()
    handlers: list[logging.Handler] = [stderr, collected]
    if log_file is not None:
        to_file = logging.FileHandler(log_file, mode="a", encoding="utf-8")
        to_file.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO)
        to_file.setFormatter(_FileFormat())
        to_file.addFilter(_ours_or_warning)
        handlers.append(to_file)
    # a previous command in the same process (a test) may have left its handlers: replace them
    for old in ctx.meta.get("log_handlers", ()):
        root_logger.removeHandler(old)
    for handler in handlers:
        root_logger.addHandler(handler)
    root_logger.setLevel(min(h.level for h in handlers))
    ctx.meta["log_handlers"] = handlers
    ctx.meta["logged_warnings"] = collected.messages
    if log_file is not None:
        argv = ctx.meta.get("argv")
        shown = " ".join(argv) if argv is not None else ctx.invoked_subcommand
        log.info("preserve %s (version %s, pid %d)", shown, __version__, os.getpid())

    def remove() -> None:
        for handler in handlers:
            root_logger.removeHandler(handler)
            handler.close()

    ctx.call_on_close(remove)


def _log_outcome(ctx: click.Context, status: int | str) -> None:
    if status == 0:
        log.info("preserve %s: done (exit 0)", ctx.invoked_subcommand or "")
    else:
        log.info("preserve %s: ended with exit status %s", ctx.invoked_subcommand or "", status)


def quiet() -> bool:
    """Whether the command runs with ``--quiet``."""
    return bool(click.get_current_context().find_root().meta.get("quiet"))


def logged_warnings() -> list[str]:
    """The warnings the services logged during this command (for --json)."""
    return list(click.get_current_context().find_root().meta.get("logged_warnings", ()))


def warn(text: str) -> None:
    """``warning: TEXT`` on stderr (not with --quiet), and into the log file."""
    log.warning("%s", text, extra=_ECHOED)
    if not quiet():
        click.echo(f"warning: {text}", err=True)


def note(text: str) -> None:
    """A remark on stderr (not with --quiet), also into the log file."""
    log.info("%s", text, extra=_ECHOED)
    if not quiet():
        click.echo(text, err=True)


def say(text: str) -> None:
    """A line of the command's result on stdout, also written to the log file."""
    log.info("%s", text, extra=_ECHOED)
    click.echo(text)


def print_error(exc: PreserveError, prefix: str = "") -> None:
    """One ``error: ...`` line (also into the log file); the problems of an invalid bag that
    its message does not already name follow, indented, each once. A frozen agreement
    version names the command that amends it."""
    if isinstance(exc, FrozenVersion):
        exc = exc.told(f"preserve agreements amend {exc.reference}")
    message = f"{prefix}{exc}".replace("\n", " ")
    log.error("%s", message, extra=_ECHOED)
    click.echo(f"error: {message}", err=True)
    if isinstance(exc, InvalidBag):
        for p in exc.problems:
            if str(p) not in message:
                log.error("  %s", p, extra=_ECHOED)
                click.echo(f"  {p}", err=True)
