"""Personal API tokens for scripts: ``preserve tokens create|list|revoke --as USER``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click

from preserve.cli.base import GIVEN, app, cli
from preserve.cli.output import as_dict, emit_json, table

_AS = click.option(
    "--as",
    "username",
    required=True,
    type=GIVEN,
    metavar="USER",
    help="The person whose tokens these are (a user name).",
)


@cli.group()
def tokens() -> None:
    """Personal API tokens: a script sends one as 'Authorization: Bearer <token>' to use the
    API (/api/v1) and the uploads as that person, with that person's roles. Only a fingerprint
    of a token is kept: it is printed once, when it is made."""


@tokens.command("create")
@click.argument("name", type=GIVEN)
@_AS
@click.option(
    "--expires-days",
    type=click.IntRange(1, 3650),
    default=None,
    help="Days until the token stops working (default: it does not expire).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the token included).")
def tokens_create(name: str, username: str, expires_days: int | None, as_json: bool) -> None:
    """Make a token NAME for USER and print it (once: it cannot be shown again).

    \b
    Examples:
      preserve tokens create "nightly ingest" --as ann
      preserve tokens create scanner-2 --as ann --expires-days 90
    """
    from preserve.services import tokens as service

    application = app()
    who = service.principal_for_username(application, username)
    expires = datetime.now(UTC) + timedelta(days=expires_days) if expires_days else None
    text, info = service.create_token(application, who, name, expires)
    if as_json:
        emit_json({"token": text, **as_dict(info)})
        return
    click.echo(text)
    click.echo(
        f"token {info.id} {info.name!r} for {who.username}"
        + (f", expires {info.expires_at:%Y-%m-%d %H:%M} UTC" if info.expires_at else "")
        + ": keep it now, it is not shown again",
        err=True,
    )


@tokens.command("list")
@_AS
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def tokens_list(username: str, as_json: bool) -> None:
    """The tokens of USER (revoked and expired ones too), newest first.

    \b
    Examples:
      preserve tokens list --as ann
      preserve tokens list --as ann --json
    """
    from preserve.services import tokens as service

    application = app()
    found = service.list_tokens(application, service.principal_for_username(application, username))
    now = datetime.now(UTC)
    if as_json:
        emit_json([{**as_dict(t), "state": t.state(now)} for t in found])
        return
    if not found:
        click.echo(f"{username} has no tokens")
        return

    def when(value: datetime | None) -> str:
        return f"{value:%Y-%m-%d %H:%M}" if value else "never"

    rows = [
        (
            str(t.id),
            t.prefix + "…",
            t.state(now),
            when(t.created_at),
            when(t.last_used_at),
            when(t.expires_at),
            t.name,
        )
        for t in found
    ]
    headers = ("ID", "STARTS WITH", "STATE", "MADE", "LAST USED", "EXPIRES", "NAME")
    for line in table(headers, rows, right=(0,)):
        click.echo(line)


@tokens.command("revoke")
@click.argument("token_id", type=int, metavar="ID")
@_AS
def tokens_revoke(token_id: int, username: str) -> None:
    """Revoke USER's token ID (see `preserve tokens list`): it stops working at once.

    \b
    Examples:
      preserve tokens revoke 3 --as ann
    """
    from preserve.services import tokens as service

    application = app()
    info = service.revoke_token(
        application, service.principal_for_username(application, username), token_id
    )
    click.echo(f"token {info.id} {info.name!r} of {username} is revoked")
