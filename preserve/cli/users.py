"""People of the web catalogue: ``preserve users create|list|set-role|deactivate|reactivate|
reset-password``. Whoever runs these on the server may do anything (like a repository admin);
each change is written to the audit log with channel "cli" and the login name (or ``--as``)."""

from __future__ import annotations

import sys
from typing import Any

import click

from preserve.cli.base import GIVEN, app, as_option, cli
from preserve.cli.output import emit_json, table
from preserve.errors import InvalidInput


def _audit(application: Any, action: str, username: str, **detail: Any) -> None:
    from preserve.services import audit

    organisation_id = detail.pop("organisation_id", None)
    audit.record(
        application,
        None,
        action,
        object_type="user",
        object_id=username,
        organisation_id=organisation_id,
        remote_addr="cli",
        channel="cli",
        username=application.actor,
        detail=detail,
    )


def _organisation_id(application: Any, slug: str) -> int:
    with application.uow() as uow:
        org = uow.organisations.get_by_slug(slug)
        if org is None:
            from preserve.errors import NotFound

            raise NotFound(
                f"no organisation {slug!r} (list them with: preserve organisations list)"
            )
        return int(org.id)


@cli.group()
def users() -> None:
    """People who sign in to the web catalogue (preserve serve), with their role in each
    organisation: viewer (see, download), archivist (also ingest, describe, fixity, export),
    admin (also the organisation's collections and people). A repository administrator
    (--admin) manages everything."""


@users.command("create")
@click.argument("username", type=GIVEN)
@click.option("--admin", "is_admin", is_flag=True, help="A repository administrator.")
@click.option("--organisation", type=GIVEN, default=None, help="Make them a member of ORG.")
@click.option(
    "--role",
    type=click.Choice(["viewer", "archivist", "admin"]),
    default=None,
    help="Their role in --organisation (default: archivist).",
)
@click.option("--display-name", default="", help="The name shown in the catalogue.")
@click.option("--email", default="", help="Their e-mail address.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input (one line) instead of making a one-time one.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@as_option
def users_create(
    username: str,
    is_admin: bool,
    organisation: str | None,
    role: str | None,
    display_name: str,
    email: str,
    password_stdin: bool,
    as_json: bool,
) -> None:
    """Make an account USERNAME. Without --password-stdin a one-time password is made and
    printed once; the person chooses their own at the first sign-in.

    \b
    Examples:
      preserve users create admin --admin
      preserve users create ann --organisation museum --role archivist --display-name "Ann Claes"
      printf '%s\\n' "$PASSWORD" | \\
        preserve users create robot --organisation museum --password-stdin
    """
    from preserve.services import accounts

    if role is not None and organisation is None:
        raise click.UsageError("--role needs --organisation: the organisation the role is in")
    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise InvalidInput("no password on standard input (--password-stdin reads one line)")
    application = app()
    memberships = {organisation: role or "archivist"} if organisation else {}
    created = accounts.create_user(
        application,
        username,
        password=password,
        display_name=display_name,
        email=email,
        is_admin=is_admin,
        memberships=memberships,
    )
    _audit(
        application,
        "user.create",
        created.username,
        organisation_id=_organisation_id(application, organisation) if organisation else None,
        is_admin=is_admin,
        role=memberships.get(organisation or ""),
    )
    if as_json:
        emit_json(
            {
                "user_id": created.user_id,
                "username": created.username,
                "is_admin": is_admin,
                "memberships": memberships,
                "one_time_password": created.one_time_password,
            }
        )
        return
    what = "repository administrator" if is_admin else "user"
    where = f", {memberships[organisation]} in {organisation}" if organisation else ""
    click.echo(f"{what} {created.username} created{where}")
    if created.one_time_password:
        click.echo(f"one-time password: {created.one_time_password}")
        click.echo("(shown once: they choose their own password at the first sign-in)")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def users_list(as_json: bool) -> None:
    """List the accounts with their organisations and roles.

    \b
    Examples:
      preserve users list
      preserve users list --json
    """
    from preserve.services import accounts
    from preserve.services.access import Principal

    application = app()
    everyone = Principal(user_id=0, username=application.actor, is_admin=True)
    rows = accounts.list_users(application, everyone)
    if as_json:
        emit_json(
            [
                {
                    "user_id": u.user_id,
                    "username": u.username,
                    "display_name": u.display_name,
                    "email": u.email,
                    "is_admin": u.is_admin,
                    "active": u.active,
                    "locked": u.locked,
                    "must_change_password": u.must_change_password,
                    "last_login_at": u.last_login_at,
                    "memberships": {m.organisation_slug: m.role for m in u.memberships},
                }
                for u in rows
            ]
        )
        return
    if not rows:
        click.echo("no users (make the first with: preserve users create admin --admin)")
        return
    for line in table(
        ("USER", "STATE", "ROLES", "NAME"),
        [
            (
                u.username,
                "deactivated" if not u.active else "locked" if u.locked else "active",
                ", ".join(
                    (["repository admin"] if u.is_admin else [])
                    + [f"{m.organisation_slug}:{m.role}" for m in u.memberships]
                )
                or "-",
                u.display_name,
            )
            for u in rows
        ],
    ):
        click.echo(line)


@users.command("set-role")
@click.argument("username", type=GIVEN)
@click.argument("organisation", type=GIVEN)
@click.argument("role", type=click.Choice(["viewer", "archivist", "admin", "none"]))
@as_option
def users_set_role(username: str, organisation: str, role: str) -> None:
    """Give USERNAME the ROLE in ORGANISATION (none: take them out of it).

    \b
    Examples:
      preserve users set-role ann museum admin
      preserve users set-role ann museum none
    """
    from preserve.services import accounts

    application = app()
    accounts.set_membership(application, username, organisation, None if role == "none" else role)
    name = accounts.normalise_username(username)
    _audit(
        application,
        "user.role",
        name,
        organisation_id=_organisation_id(application, organisation),
        after=None if role == "none" else role,
    )
    if role == "none":
        click.echo(f"{name} is no longer a member of {organisation}")
    else:
        click.echo(f"{name} is {role} in {organisation}")


def _set_active(username: str, active: bool) -> None:
    from preserve.services import accounts

    application = app()
    user_id = accounts.find_user_id(application, username)
    name = accounts.normalise_username(username)
    changed = accounts.set_active(application, None, user_id, active)
    if changed:
        _audit(application, "user.reactivate" if active else "user.deactivate", name)
    state = "active" if active else "deactivated (every session ended, API tokens revoked)"
    click.echo(f"{name} is {state}" if changed else f"{name} was {state.split(' ')[0]} already")


@users.command("deactivate")
@click.argument("username", type=GIVEN)
@as_option
def users_deactivate(username: str) -> None:
    """Stop USERNAME signing in, end their sessions and revoke their API tokens (a
    reactivation does not bring them back); the account and its history stay.

    \b
    Example:
      preserve users deactivate ann
    """
    _set_active(username, False)


@users.command("reactivate")
@click.argument("username", type=GIVEN)
@as_option
def users_reactivate(username: str) -> None:
    """Let a deactivated USERNAME sign in again.

    \b
    Example:
      preserve users reactivate ann
    """
    _set_active(username, True)


@users.command("reset-password")
@click.argument("username", type=GIVEN)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@as_option
def users_reset_password(username: str, as_json: bool) -> None:
    """Make a new one-time password for USERNAME (printed once): the old one stops working,
    their sessions end, their API tokens are revoked and a lockout is lifted; they choose their
    own at the next sign-in.

    \b
    Example:
      preserve users reset-password admin
    """
    from preserve.services import accounts

    application = app()
    user_id = accounts.find_user_id(application, username)
    name = accounts.normalise_username(username)
    password = accounts.reset_password(application, None, user_id)
    _audit(application, "user.password_reset", name)
    if as_json:
        emit_json({"username": name, "one_time_password": password})
        return
    click.echo(f"one-time password for {name}: {password}")
    click.echo("(shown once: they choose their own password at the next sign-in)")
    click.echo("their sessions are ended and their API tokens revoked")
