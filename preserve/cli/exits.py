"""``preserve exit export|confirm|status``: the exit of an agreement (issue 12, E13).

Each command is one call of :mod:`preserve.services.exits`. ``--as USER`` names the person: the
custodian's staff export, a person of the receiving party confirms. A receipt that does not
match exits 4 and lists every mismatch and missing item; bad input exits 2, an unknown
agreement or user 3, a person who may not do it 77.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from preserve.cli.base import GIVEN, GivenPath, app, cli, say
from preserve.cli.output import as_dict, count, emit_json, human_bytes
from preserve.errors import InvalidInput

_IDENT = click.argument("ident", metavar="AGREEMENT", type=GIVEN)
_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _who(username: str | None) -> Any:
    if username is None:
        return None
    from preserve.services.agreements import principal_for_cli

    return principal_for_cli(app(), username)


def _when(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC"


@cli.group("exit")
def exit_group() -> None:
    """The exit of an agreement that is exiting: export everything in its scope as BagIt bags
    with their PREMIS metadata and the agreement's documents, record the receiving party's
    confirmation of the checksums, then the post-exit action (delete with a certificate, keep
    until a date, transfer). `preserve agreements close` is refused until all of it is done."""


@exit_group.command("export")
@_IDENT
@click.option(
    "--to",
    "destination",
    required=True,
    type=GivenPath(path_type=Path),
    metavar="DIR",
    help="A new (or empty) folder to write the export into.",
)
@click.option(
    "--as",
    "username",
    required=True,
    type=GIVEN,
    metavar="USER",
    help="The person exporting: the custodian's archivist or admin (or a repository admin).",
)
@_JSON
def exit_export(ident: str, destination: Path, username: str, as_json: bool) -> None:
    """Export every package in the scope of AGREEMENT (exiting) into DIR as BagIt bags, with the
    agreement's documents, exit-manifest.tsv (one line per bag and document: the SHA-256 the
    receiving party confirms) and manifest-sha256.txt (every file, for sha256sum -c).

    \b
    Examples:
      preserve exit export CRA-2026-001 --to /srv/exit/CRA-2026-001 --as cas
      preserve exit export CRA-2026-001 --to /srv/exit/CRA-2026-001 --as cas --json
    """
    from preserve.services import exits as service

    info = service.export(app(), _who(username), ident, destination)
    if as_json:
        emit_json(as_dict(info))
        return
    say(
        f"exit of {info.agreement}: {count(info.packages, 'package')} and "
        f"{count(info.documents, 'document')} exported to {info.destination} "
        f"({count(info.files, 'file')}, {human_bytes(info.bytes)})"
    )
    say(f"manifest-sha256.txt sha256 {info.manifest_sha256}")
    say(
        "the receiving party confirms with: "
        f"preserve exit confirm {ident} --receipt FILE --party ORG --as USER"
    )


@exit_group.command("confirm")
@_IDENT
@click.option(
    "--receipt",
    required=True,
    type=GivenPath(path_type=Path, dir_okay=False),
    metavar="FILE",
    help="The checksums the receiving party computed, as sha256sum writes them.",
)
@click.option(
    "--party",
    required=True,
    type=GIVEN,
    metavar="ORG",
    help="The receiving party (organisation slug) the person confirms for.",
)
@click.option(
    "--as",
    "username",
    required=True,
    type=GIVEN,
    metavar="USER",
    help="The person confirming: an archivist or admin of the receiving party.",
)
@_JSON
def exit_confirm(ident: str, receipt: Path, party: str, username: str, as_json: bool) -> None:
    """Record that the receiving party checked the export of AGREEMENT: every checksum in the
    receipt must match an item of exit-manifest.tsv and every item must be in it, otherwise
    nothing is recorded and every mismatch and missing item is listed (exit 4). Then the
    post-exit action runs. The receipt lists the SHA-256 of the file each line of
    exit-manifest.tsv names (column 4: a bag's tag manifest, a document); the example below
    writes it for any export, with or without documents.

    \b
    Examples:
      cd /srv/exit/CRA-2026-001 && sha256sum -c --quiet manifest-sha256.txt
      grep -v '^#' exit-manifest.tsv | cut -f4 | xargs -d '\\n' sha256sum > /tmp/receipt.txt
      preserve exit confirm CRA-2026-001 --receipt /tmp/receipt.txt --party museum --as mia
    """
    from preserve.services import exits as service

    try:
        text = receipt.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{receipt}: cannot read: {exc}") from None
    info = service.confirm(app(), _who(username), ident, text, party)
    if as_json:
        emit_json(as_dict(info))
        return
    say(
        f"exit of {info.agreement} confirmed by {info.confirmed_by} for {info.confirmed_party}: "
        f"{count(len(info.items), 'checksum')} match"
    )
    say(
        f"post-exit action {info.post_exit_action}: {info.post_exit_state}, {info.post_exit_detail}"
    )


@exit_group.command("status")
@_IDENT
@click.option(
    "--as",
    "username",
    default=None,
    type=GIVEN,
    metavar="USER",
    help="Show it as USER may see it (default: as the repository's operator).",
)
@_JSON
def exit_status(ident: str, username: str | None, as_json: bool) -> None:
    """Where the exit of AGREEMENT stands: its exports, the receiving party's confirmation, the
    post-exit action, and whether it may be closed.

    \b
    Examples:
      preserve exit status CRA-2026-001
      preserve exit status CRA-2026-001 --json
    """
    from preserve.services import exits as service

    st = service.status(app(), _who(username), ident)
    if as_json:
        emit_json(as_dict(st))
        return
    rows = [
        ("agreement", f"{st.agreement} ({st.state.replace('_', ' ')})"),
        ("recipient", st.recipient or "-"),
        ("post-exit", st.post_exit_action or "-"),
        ("in scope", count(st.packages_in_scope, "package")),
    ]
    if st.exiting_since is not None:
        rows.append(("exiting", f"since {_when(st.exiting_since)}, deadline {st.deadline}"))
    rows.append(("close", "may be closed" if st.close_refusal is None else st.close_refusal))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        say(f"{key:<{width}}  {value}")
    if not st.exports:
        say("no export yet")
    for e in st.exports:
        say("")
        say(
            f"export {e.id}: {_when(e.exported_at)} by {e.exported_by} to {e.destination}: "
            f"{count(e.packages, 'package')}, {count(e.documents, 'document')}, "
            f"manifest sha256 {e.manifest_sha256}"
        )
        if e.confirmed_at is None:
            say("  waiting for the receiving party's confirmation")
        else:
            say(
                f"  confirmed {_when(e.confirmed_at)} by {e.confirmed_by} "
                f"({e.confirmed_party}), receipt sha256 {e.receipt_sha256}"
            )
            say(f"  post-exit {e.post_exit_action}: {e.post_exit_state}, {e.post_exit_detail}")


@exit_group.command("dispose")
@_IDENT
@click.option(
    "--as",
    "username",
    required=True,
    type=GIVEN,
    metavar="USER",
    help="The person proposing: an archivist or admin of the owner (or of the custodian).",
)
@_JSON
def exit_dispose(ident: str, username: str, as_json: bool) -> None:
    """Propose the post-exit deletion (a disposal of kind exit) of the packages of AGREEMENT
    not proposed yet, when its exit was confirmed and its post-exit action is
    delete_with_certificate (the confirmation proposes it already; this is for what it could
    not). The parties then approve and execute it with `preserve disposal`. It says what this
    run did (the disposal it proposed, or that there was nothing new to propose), then where
    the post-exit action stands; when a hold keeps every package out, nothing is proposed
    (exit 4) and it names the `preserve holds lift` to run first.

    \b
    Examples:
      preserve exit dispose CRA-2026-001 --as mia
    """
    from preserve.services import exits as service

    run = service.propose_disposal(app(), _who(username), ident)
    info = run.export
    if as_json:
        emit_json(
            {
                **as_dict(info),
                "proposed_now": [{"disposal": d, "packages": list(p)} for d, p in run.proposed],
            }
        )
        return
    for disposal_id, packages in run.proposed:
        say(f"disposal {disposal_id} proposed ({_packages(packages)})")
    if not run.proposed:
        say(f"nothing new to propose: {_nothing_new(run)}")
    say(
        f"post-exit action {info.post_exit_action}: {info.post_exit_state}, {info.post_exit_detail}"
    )


#: ``exit dispose`` names this many proposed packages (short ids), then counts the rest.
_NAMED = 10


def _packages(ids: tuple[str, ...]) -> str:
    named = ", ".join(pid[:8] for pid in ids[:_NAMED])
    more = f" and {len(ids) - _NAMED} more" if len(ids) > _NAMED else ""
    return f"{count(len(ids), 'package')}: {named}{more}"


def _nothing_new(run: Any) -> str:
    """Why this run of ``exit dispose`` proposed nothing (it was not refused): the exported
    packages in an exit disposal already, and whether that is every one of them."""
    which = ", ".join(str(d) for d in run.disposals_before)
    if run.exported and run.in_disposal_before == run.exported:
        return f"every exported package is in a disposal already (disposal {which})"
    if run.in_disposal_before:
        return (
            f"{run.in_disposal_before} of the {count(run.exported, 'exported package')} "
            f"{'is' if run.in_disposal_before == 1 else 'are'} in a disposal already "
            f"(disposal {which}); none of the others can be proposed"
        )
    if run.exported == 1:
        return "the exported package cannot be proposed"
    return f"none of the {count(run.exported, 'exported package')} can be proposed"
