"""``preserve disposal list|show|propose|approve|reject|withdraw|execute|restore|declaration``:
the only way a package is ever deleted (issue 12): a request, the approval of every party that
must approve it (or its withdrawal before it runs), its execution (a soft deletion, restorable
for ``PRESERVE_DISPOSAL_RESTORE_DAYS``) and its dated declaration.

``--as USER`` names the catalogue user whose roles apply, exactly as on the web; every command
that changes something requires it. ``list``, ``show`` and ``declaration`` without it read as
the operator of the server (everything).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import click

from preserve.cli.base import GIVEN, app, cli, say
from preserve.cli.output import count, emit_json, table

REQUEST_ID = click.IntRange(min=1)
#: preserve.catalogue.disposal.DISPOSAL_STATES (which imports SQLAlchemy), and "open".
STATES = (
    "open",
    "pending",
    "approved",
    "rejected",
    "executing",
    "executed",
    "execution_failed",
    "restored",
    "permanently_deleted",
    "withdrawn",
)


def _as(required: bool, doing: str = "") -> Any:
    if required:
        text = (
            f"The catalogue user (made with `preserve users create`) who {doing}. Required: "
            "your login name is not enough."
        )
    else:
        text = "Show what this catalogue user may see (default: everything, as the operator)."
    return click.option(
        "--as", "username", type=GIVEN, required=required, metavar="USER", help=text
    )


def _principal(application: Any, username: str | None) -> Any:
    if username is None:
        return None
    from preserve.services.holds import principal_for_cli

    return principal_for_cli(application, username)


@cli.group()
def disposal() -> None:
    """Disposal: the only way packages are deleted. A request names packages that are due
    under their agreement's rule (--due) or, with a motivation, packages to delete outside
    any schedule (--adhoc); every party holding the authority approves it (not whoever asked
    for it); its execution re-checks holds, the agreement and its rights, moves every copy to
    a restore bin and writes a dated disposal declaration. Within the restore window
    (PRESERVE_DISPOSAL_RESTORE_DAYS, 30 days) `restore` puts everything back; after it the
    daily task deletes the objects for good. A pending or approved disposal can be withdrawn
    (a package put on hold after the approval blocks it). Exit status: 2 bad input, 3 unknown
    request or package, 4 refused (state, agreement, rights, a hold), 77 not allowed."""


def _when(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value is not None else "-"


def _waiting(d: Any) -> str:
    if d.state != "pending":
        return "-"
    return ",".join(d.waiting_for) or "-"


def _summary(d: Any) -> str:
    return f"disposal {d.id} ({d.kind}) is {d.state.replace('_', ' ')}" + (
        f" (waiting for {', '.join(d.waiting_for)})" if d.state == "pending" else ""
    )


def _show(d: Any) -> None:
    from preserve.services.disposal import rule_text

    rows = [
        ("disposal", f"{d.id} ({d.kind}, {d.state.replace('_', ' ')})"),
        ("organisation", d.organisation),
        ("agreement", d.agreement or "none"),
    ]
    if d.exit is not None:
        # an exit's deletion comes from the exit terms, not from the agreement's retention rule
        rows.append(("cause", d.exit.describe()))
    else:
        rows.append(("rule", rule_text(d.rule)))
    if d.rule:
        rows += [("legal basis", d.rule["legal_basis"]), ("motivation", d.rule["motivation"])]
    if d.reason:
        rows.append(("reason", d.reason))
    rows.append(("requested", f"{_when(d.requested_at)} by {d.requested_by}"))
    if d.executed_at:
        rows.append(("executed", f"{_when(d.executed_at)} by {d.executed_by}"))
    elif d.job_id:
        rows.append(("job", d.job_id))
    if d.restore_until and d.state == "executed":
        rows.append(("restorable until", _when(d.restore_until)))
    if d.restored_at:
        rows.append(("restored", f"{_when(d.restored_at)} by {d.restored_by}"))
    if d.withdrawn_at:
        rows.append(
            ("withdrawn", f"{_when(d.withdrawn_at)} by {d.withdrawn_by}: {d.withdrawal_reason}")
        )
    if d.permanently_deleted_at:
        rows.append(("deleted for good", _when(d.permanently_deleted_at)))
    if d.failure:
        rows.append(("failure", d.failure))
    if d.declaration_sha256:
        rows.append(("declaration", f"sha256 {d.declaration_sha256}"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        say(f"{key:<{width}}  {value}".rstrip())
    say("")
    say("approvals:")
    decisions = [
        (
            p.party,
            p.decision or "waiting",
            p.decided_by or "-",
            _when(p.decided_at),
            p.comment or "",
        )
        for p in d.parties
    ]
    for line in table(("PARTY", "DECISION", "BY", "ON", "COMMENT"), decisions):
        say(f"  {line}")
    say("")
    say(f"packages ({count(len(d.items), 'package')}):")
    for i in d.items:
        say(
            f"  {i.package_id}  {i.state:<19}  {i.collection}  {i.title!r}"
            + (f"  ({i.failure})" if i.failure else "")
            + (f"  held: {'; '.join(i.on_hold)}" if i.on_hold else "")
        )
    held = sum(1 for i in d.items if i.on_hold)
    if held:
        say(
            f"{count(held, 'package')} on hold: lift the hold (preserve holds lift ID --reason "
            f"...) or withdraw the disposal (preserve disposal withdraw {d.id} --reason ...) "
            "and propose again without " + ("it" if held == 1 else "them")
        )


@disposal.command("list")
@click.option(
    "--state",
    type=click.Choice(STATES),
    default=None,
    help="Only requests in this state (open: pending, approved, executing or executed).",
)
@_as(required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def disposal_list(state: str | None, username: str | None, as_json: bool) -> None:
    """List disposal requests, newest first, with the parties that still have to approve.

    \b
    Examples:
      preserve disposal list
      preserve disposal list --state pending --as mia --json
    """
    from preserve.services import disposal as service

    application = app()
    found = service.list_requests(application, _principal(application, username), state=state)
    if as_json:
        emit_json([d.as_json() for d in found])
        return
    if not found:
        say("no disposal requests" + (f" {state.replace('_', ' ')}" if state else ""))
        return
    rows = [
        (
            str(d.id),
            d.kind,
            d.state,
            d.agreement or "-",
            str(len(d.items)),
            f"{d.requested_at:%Y-%m-%d}",
            d.requested_by,
            _waiting(d),
        )
        for d in found
    ]
    headers = ("ID", "KIND", "STATE", "AGREEMENT", "PACKAGES", "REQUESTED", "BY", "WAITING FOR")
    for line in table(headers, rows, (0, 4)):
        say(line)


@disposal.command("show")
@click.argument("request_id", type=REQUEST_ID, metavar="ID")
@_as(required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def disposal_show(request_id: int, username: str | None, as_json: bool) -> None:
    """Show disposal ID: its agreement and what it comes from (the retention rule, the exit
    terms of an exit, or the reason of an ad-hoc deletion), who asked, each party's decision,
    its packages and what happened to them.

    \b
    Examples:
      preserve disposal show 4
      preserve disposal show 4 --as mia --json
    """
    from preserve.services import disposal as service

    application = app()
    d = service.show(application, _principal(application, username), request_id)
    if as_json:
        emit_json(d.as_json())
        return
    _show(d)


@disposal.command("propose")
@click.argument("packages", nargs=-1, type=GIVEN, metavar="[PACKAGE]...")
@click.option(
    "--due",
    is_flag=True,
    help="Propose every package that is due under a rule that disposes of it (one request "
    "per agreement and organisation).",
)
@click.option(
    "--agreement",
    type=GIVEN,
    default=None,
    metavar="REF",
    help="With --due: only the packages of this agreement.",
)
@click.option(
    "--adhoc",
    is_flag=True,
    help="Delete PACKAGE... outside any schedule (needs --reason).",
)
@click.option("--reason", type=str, default=None, help="Why (required with --adhoc).")
@_as(required=True, doing="proposes the disposal")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def disposal_propose(
    packages: tuple[str, ...],
    due: bool,
    agreement: str | None,
    adhoc: bool,
    reason: str | None,
    username: str,
    as_json: bool,
) -> None:
    """Propose a disposal: of the packages that are due (--due), or of PACKAGE... outside
    any schedule (--adhoc --reason). Packages on hold are never proposed.

    \b
    Examples:
      preserve disposal propose --due --as cas
      preserve disposal propose --due --agreement CRA-2026-001 --as cas
      preserve disposal propose 3f2a9c1e --adhoc --reason "a duplicate of 77b1e0c2" --as mia
    """
    if due and (packages or adhoc):
        raise click.UsageError("--due proposes the due packages: name no package and no --adhoc")
    if not due and not packages:
        raise click.UsageError("say what to propose: --due, or PACKAGE... --adhoc --reason TEXT")
    if packages and not adhoc:
        raise click.UsageError(
            "naming packages proposes an ad-hoc deletion: add --adhoc --reason TEXT "
            "(or use --due for the packages whose retention is due)"
        )
    if agreement is not None and not due:
        raise click.UsageError("--agreement goes with --due")
    from preserve.services import disposal as service

    application = app()
    who = _principal(application, username)
    if due:
        made = service.propose_due(application, who, agreement=agreement)
    else:
        made = [
            service.propose(
                application, who, packages, kind="adhoc", reason=reason or "", channel="cli"
            )
        ]
    if as_json:
        emit_json([d.as_json() for d in made])
        return
    for d in made:
        say(
            f"disposal {d.id} proposed ({d.kind}, {count(len(d.items), 'package')}"
            + (f", agreement {d.agreement}" if d.agreement else "")
            + f"): waiting for {', '.join(d.waiting_for)}"
        )


def _decided(d: Any, as_json: bool) -> None:
    if as_json:
        emit_json(d.as_json())
    else:
        say(_summary(d))


@disposal.command("approve")
@click.argument("request_id", type=REQUEST_ID, metavar="ID")
@click.option("--party", type=GIVEN, required=True, metavar="ORG", help="The party approving.")
@click.option("--comment", type=str, default="", help="A comment kept with the approval.")
@_as(required=True, doing="approves for the party (one of its own archivists or admins)")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def disposal_approve(
    request_id: int, party: str, comment: str, username: str, as_json: bool
) -> None:
    """Approve disposal ID for a party; once every party that must has approved, it can be
    executed. Whoever asked for it may not approve it.

    \b
    Examples:
      preserve disposal approve 4 --party museum --as mia
      preserve disposal approve 4 --party archive --comment "checked" --as cas
    """
    from preserve.services import disposal as service

    application = app()
    d = service.approve(
        application, _principal(application, username), request_id, party, comment=comment
    )
    _decided(d, as_json)


@disposal.command("reject")
@click.argument("request_id", type=REQUEST_ID, metavar="ID")
@click.option("--party", type=GIVEN, required=True, metavar="ORG", help="The party rejecting.")
@click.option("--comment", type=str, required=True, help="Why the packages must be kept.")
@_as(required=True, doing="rejects for the party (one of its own archivists or admins)")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def disposal_reject(
    request_id: int, party: str, comment: str, username: str, as_json: bool
) -> None:
    """Reject disposal ID for a party: the request ends and its packages go back to the
    retention state they had.

    \b
    Example:
      preserve disposal reject 4 --party museum --comment "still on loan" --as mia
    """
    from preserve.services import disposal as service

    application = app()
    d = service.reject(application, _principal(application, username), request_id, party, comment)
    _decided(d, as_json)


@disposal.command("withdraw")
@click.argument("request_id", type=REQUEST_ID, metavar="ID")
@click.option("--reason", type=str, required=True, help="Why it is taken back (kept).")
@_as(
    required=True,
    doing="withdraws it (whoever asked for it, the custodian's archivists or a repository admin)",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def disposal_withdraw(request_id: int, reason: str, username: str, as_json: bool) -> None:
    """Withdraw pending or approved disposal ID: it ends as withdrawn and its packages go
    back to the retention state they had (not once it is executing or executed). The way out
    when a package was put on hold after the approval: withdraw, then propose again without it.

    \b
    Example:
      preserve disposal withdraw 4 --reason "package 3f2a9c1e is under a GDPR hold" --as cas
    """
    from preserve.services import disposal as service

    application = app()
    d = service.withdraw(application, _principal(application, username), request_id, reason)
    if as_json:
        emit_json(d.as_json())
        return
    say(f"{_summary(d)}: {count(len(d.items), 'package')} back under their retention")


@disposal.command("execute")
@click.argument("request_id", type=REQUEST_ID, metavar="ID")
@click.option(
    "--async",
    "run_async",
    is_flag=True,
    help="Queue it for the workers instead of running it here.",
)
@_as(required=True, doing="executes it (the custodian's archivists, or a repository admin)")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def disposal_execute(request_id: int, run_async: bool, username: str, as_json: bool) -> None:
    """Execute approved disposal ID: holds, the agreement and its rights are checked again,
    then every copy of each package moves to the restore bin and the declaration is made.

    \b
    Examples:
      preserve disposal execute 4 --as cas
      preserve disposal execute 4 --async --as cas --json
    """
    from preserve.services import disposal as service

    application = app()
    who = _principal(application, username)
    if run_async:
        d = service.queue_execution(application, who, request_id)
        if as_json:
            emit_json(d.as_json())
        else:
            say(f"disposal {d.id} queued as job {d.job_id}")
        return
    d = service.execute(application, who, request_id)
    left_out = any(i.state == "failed" for i in d.items)
    if as_json:
        emit_json(d.as_json())
        if left_out:
            raise SystemExit(1)
        return
    disposed = sum(1 for i in d.items if i.state == "disposed")
    say(f"{_summary(d)}: {count(disposed, 'package')} disposed of")
    for i in d.items:
        if i.state == "failed":
            say(f"  not disposed of: {i.package_id}: {i.failure}")
    if d.restore_until:
        say(f"restorable until {_when(d.restore_until)} (preserve disposal restore {d.id})")
    if d.declaration_sha256:
        say(f"declaration sha256 {d.declaration_sha256} (preserve disposal declaration {d.id})")
    if left_out:
        # some packages were not disposed of (a lock, not due yet, moved by an amendment):
        # a script must not take the disposal for done
        raise SystemExit(1)


@disposal.command("restore")
@click.argument("request_id", type=REQUEST_ID, metavar="ID")
@_as(required=True, doing="restores it (the custodian's archivists, or a repository admin)")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def disposal_restore(request_id: int, username: str, as_json: bool) -> None:
    """Put back every package of executed disposal ID, within its restore window.

    \b
    Example:
      preserve disposal restore 4 --as cas
    """
    from preserve.services import disposal as service

    application = app()
    d = service.restore(application, _principal(application, username), request_id)
    if as_json:
        emit_json(d.as_json())
        return
    say(f"{_summary(d)}: {count(sum(1 for i in d.items if i.state == 'restored'), 'package')} back")


@disposal.command("declaration")
@click.argument("request_id", type=REQUEST_ID, metavar="ID")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("text", "json")),
    default="text",
    help="Markdown text (default) or the JSON whose SHA-256 is kept.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write it to this file instead of printing it.",
)
@_as(required=False)
def disposal_declaration(
    request_id: int, fmt: str, output: Path | None, username: str | None
) -> None:
    """Print (or write) the dated disposal declaration of executed disposal ID.

    \b
    Examples:
      preserve disposal declaration 4
      preserve disposal declaration 4 --format json -o disposal-4.json
    """
    from preserve.services import disposal as service

    application = app()
    doc = service.declaration(application, _principal(application, username), request_id)
    body = doc.json + "\n" if fmt == "json" else doc.text
    if output is None:
        click.echo(body, nl=False)
        return
    _write(output, body)
    say(f"declaration of disposal {request_id} written to {output} (sha256 {doc.sha256})")


def _write(path: Path, body: str) -> None:
    """Write the whole file or nothing (a temporary file renamed into place)."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise click.BadParameter(f"no folder {str(folder)!r}", param_hint="-o/--output")
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(body)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from None
