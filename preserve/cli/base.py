"""The command group, its error handling and what every command shares: the application,
argument types that refuse empty values, and how an error is printed."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from preserve import __version__
from preserve.config.settings import Settings
from preserve.errors import InvalidBag, PreserveError
from preserve.interrupts import Terminated

log = logging.getLogger("preserve")
F = TypeVar("F", bound=Callable[..., Any])

EXIT_BUG = 70


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


GIVEN = GivenText()


class PreserveGroup(click.Group):
    """Turns a PreserveError into one line on stderr and its exit code; a bug into one line too
    (PRESERVE_DEBUG=1 shows the traceback). Each error is printed here once: the services log
    what they also raise at debug level only (-vv), with its cause."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PreserveError as exc:
            log.debug("%s failed", ctx.invoked_subcommand, exc_info=True)
            print_error(exc)
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
                print_error(error)
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


def print_error(exc: PreserveError, prefix: str = "") -> None:
    message = f"{prefix}{exc}".replace("\n", " ")
    click.echo(f"error: {message}", err=True)
    if isinstance(exc, InvalidBag):
        for p in exc.problems:
            click.echo(f"  {p}", err=True)
