"""``preserve holds add|lift|list|show``: holds (legal, dispute, audit, GDPR request, rights
challenge) that keep packages and whole collections from disposal and deletion (issue 12).

``--as USER`` names the catalogue user (``preserve users create``) whose roles apply, exactly
as on the web. Placing and lifting require it: the login name of whoever runs the command is
not trusted to change what may be deleted. Listing and showing without ``--as`` read as the
operator of the server, who sees every hold (as ``preserve packages list`` sees every package).
"""

from __future__ import annotations

from typing import Any

import click
from click.shell_completion import CompletionItem

from preserve.cli.base import GIVEN, GivenText, app, cli, say
from preserve.cli.output import as_dict, count, emit_json, table

#: The kinds of hold (preserve.catalogue.holds.HOLD_KINDS, which imports SQLAlchemy).
KINDS = ("legal", "dispute", "audit", "gdpr_request", "rights_challenge", "other")

HOLD_ID = click.IntRange(min=1)


class _Kind(click.Choice):
    """A kind of hold: ``gdpr-request`` and any case are taken; a misspelt one is refused with
    every kind and the closest ("did you mean")."""

    def __init__(self) -> None:
        super().__init__(KINDS, case_sensitive=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = value.strip().replace("-", "_") if isinstance(value, str) else value
        try:
            return super().convert(text, param, ctx)
        except click.BadParameter:
            from preserve.names import suggestions

            close = suggestions(str(text), KINDS, partial=True)
            self.fail(
                f"{value!r} is not a kind of hold: one of {', '.join(KINDS)}"
                + ("; did you mean " + " or ".join(repr(c) for c in close) + "?" if close else ""),
                param,
                ctx,
            )


class CollectionPath(GivenText):
    """ORG/SLUG; shell completion offers the organisations, then their collections."""

    name = "org/slug"

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        from preserve.cli import completion

        org, sep, slug = incomplete.partition("/")
        if not sep:
            return [
                CompletionItem(f"{o.value}/")
                for o in completion.complete("organisations", incomplete)
            ]
        return [
            CompletionItem(f"{org}/{c.value}")
            for c in completion.complete("collections", slug, organisation=org)
        ]


COLLECTION = CollectionPath()


def _as(required: bool) -> Any:
    if required:
        text = (
            "The catalogue user (made with `preserve users create`) placing or lifting the "
            "hold; they need the archivist or admin role in the organisation of every package "
            "and collection concerned. Required: your login name is not enough."
        )
    else:
        text = (
            "Show what this catalogue user may see (default: every hold, as the operator of "
            "the server)."
        )
    return click.option(
        "--as", "username", type=GIVEN, required=required, metavar="USER", help=text
    )


def _principal(application: Any, username: str | None) -> Any:
    if username is None:
        return None
    from preserve.services.holds import principal_for_cli

    return principal_for_cli(application, username)


@cli.group()
def holds() -> None:
    """Holds keep packages from disposal and deletion until they are lifted: a court case
    (legal), a dispute, an audit, a person's GDPR request, a challenge of the rights, or
    other. A hold is placed on packages and on whole collections (covering every package in
    them, also those ingested later); it is lifted as a whole or one package or collection at
    a time, always with a reason. Every change is a PREMIS event on each package concerned
    and an entry in the audit log."""


def _json(h: Any) -> dict[str, Any]:
    data: dict[str, Any] = as_dict(h)
    for target, shown in zip(h.targets, data["targets"], strict=True):
        shown["active"] = target.active
    return data


def _when(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC"


def _targets(h: Any) -> str:
    """What the hold covers now ("1 package, 2 collections"); a lifted hold, what it did."""
    active = [t for t in h.targets if t.active]
    chosen = active if active or h.state == "active" else list(h.targets)
    packages = sum(1 for t in chosen if t.type == "package")
    collections = len(chosen) - packages
    parts = []
    if packages:
        parts.append(count(packages, "package"))
    if collections:
        parts.append(count(collections, "collection"))
    return ", ".join(parts) or "nothing you may see"


def _show(h: Any) -> None:
    rows = [
        ("hold", f"{h.id} ({h.kind}, {h.state})"),
        ("title", h.title),
        ("reason", h.reason),
    ]
    if h.mandate:
        rows.append(("mandate", h.mandate))
    rows.append(("placed", f"{_when(h.created_at)} by {h.created_by}"))
    if h.lifted_at:
        rows.append(("lifted", f"{_when(h.lifted_at)} by {h.lifted_by}: {h.lift_reason}"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        for i, line in enumerate(str(value).splitlines() or [""]):
            say(f"{key if i == 0 else '':<{width}}  {line}".rstrip())
    say("")
    lines = []
    for t in h.targets:
        what = (
            f"package {t.package_id} ({t.collection}, {t.package_title!r})"
            if t.type == "package"
            else f"collection {t.collection} (every package in it)"
        )
        state = (
            f"lifted {_when(t.lifted_at)} by {t.lifted_by}: {t.lift_reason}"
            if t.lifted_at
            else f"active since {_when(t.added_at)}"
        )
        lines.append((what, state))
    say(f"covers ({count(len(h.targets), 'target')}):")
    for what, state in lines:
        say(f"  {what}  {state}")
    if h.hidden_targets:
        say(f"  and {count(h.hidden_targets, 'target')} of organisations you do not belong to")


@holds.command("add")
@click.option(
    "--kind",
    type=_Kind(),
    required=True,
    help="What kind of hold.",
)
@click.option("--title", type=str, required=True, help="A short title (one line).")
@click.option("--reason", type=str, required=True, help="Why the packages must be kept.")
@click.option(
    "--mandate", type=str, default=None, help="The mandate or legal basis (a court order ...)."
)
@click.option(
    "--package",
    "package_id",
    type=GIVEN,
    multiple=True,
    metavar="ID",
    help="A package to hold (its id, 8-character prefix or identifier); repeatable.",
)
@click.option(
    "--collection",
    "collections",
    type=COLLECTION,
    multiple=True,
    metavar="ORG/SLUG",
    help="A whole collection to hold, also its later packages; repeatable.",
)
@_as(required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the hold as JSON.")
def holds_add(
    kind: str,
    title: str,
    reason: str,
    mandate: str | None,
    package_id: tuple[str, ...],
    collections: tuple[str, ...],
    username: str,
    as_json: bool,
) -> None:
    """Place a hold on packages and/or collections: from now on none of them can be disposed
    of or deleted until the hold is lifted.

    \b
    Examples:
      preserve holds add --kind legal --title "Court case 2026/17" \\
          --reason "seized by order of the court" --mandate "AR 2026/17" \\
          --package 3f2a9c1e --as ann
      preserve holds add --kind audit --title "Audit 2026" --reason "annual audit" \\
          --collection museum/photos --as ann --json
    """
    from preserve.services import holds as service

    application = app()
    who = _principal(application, username)
    h = service.place(
        application,
        who,
        kind=kind,
        title=title,
        reason=reason,
        mandate=mandate,
        packages=package_id,
        collections=collections,
        channel="cli",
        remote_addr="cli",
    )
    if as_json:
        emit_json(_json(h))
        return
    say(f"hold {h.id} placed ({h.kind}) {h.title!r} on {_targets(h)}")
    for t in h.targets:
        say(f"  {t.label}")


@holds.command("lift")
@click.argument("hold_id", type=HOLD_ID, metavar="HOLD_ID")
@click.option("--reason", type=str, required=True, help="Why the packages may go now.")
@click.option(
    "--package",
    "package_id",
    type=GIVEN,
    default=None,
    metavar="ID",
    help="Lift the hold from this package only (the rest stays held).",
)
@click.option(
    "--collection",
    type=COLLECTION,
    default=None,
    metavar="ORG/SLUG",
    help="Lift the hold from this collection only.",
)
@_as(required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the hold as JSON.")
def holds_lift(
    hold_id: int,
    reason: str,
    package_id: str | None,
    collection: str | None,
    username: str,
    as_json: bool,
) -> None:
    """Lift hold HOLD_ID, or only one of its packages or collections (lifting its last one
    lifts the hold). Lifting a whole hold that also covers another organisation's packages
    is done target by target, by people of each organisation (or a repository admin).

    \b
    Examples:
      preserve holds lift 3 --reason "the case was dismissed" --as ann
      preserve holds lift 3 --reason "not part of the case" --package 3f2a9c1e --as ann
    """
    from preserve.services import holds as service

    application = app()
    who = _principal(application, username)
    h = service.lift(
        application,
        who,
        hold_id,
        reason=reason,
        package=package_id,
        collection=collection,
        channel="cli",
        remote_addr="cli",
    )
    if as_json:
        emit_json(_json(h))
        return
    if h.state == "lifted":
        say(f"hold {h.id} ({h.kind}) {h.title!r} lifted")
    else:
        done = [(t.lifted_at, t.id, t.label) for t in h.targets if t.lifted_at is not None]
        lifted = max(done)[2] if done else package_id or collection
        say(f"hold {h.id} lifted from {lifted}; it still covers {_targets(h)}")


@holds.command("list")
@click.option(
    "--active", "state", flag_value="active", default=True, help="Active holds (the default)."
)
@click.option("--lifted", "state", flag_value="lifted", help="Lifted holds only.")
@click.option("--all", "state", flag_value="all", help="Active and lifted holds.")
@click.option(
    "--package",
    "package_id",
    type=GIVEN,
    default=None,
    metavar="ID",
    help="The holds covering this package.",
)
@click.option(
    "--collection",
    type=COLLECTION,
    default=None,
    metavar="ORG/SLUG",
    help="The holds on this collection or on packages in it.",
)
@click.option("--organisation", type=GIVEN, default=None, metavar="ORG", help="The holds in ORG.")
@_as(required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def holds_list(
    state: str,
    package_id: str | None,
    collection: str | None,
    organisation: str | None,
    username: str | None,
    as_json: bool,
) -> None:
    """List holds, newest first: id, state, kind, when placed and by whom, what they cover,
    title.

    \b
    Examples:
      preserve holds list
      preserve holds list --all --collection museum/photos
      preserve holds list --package 3f2a9c1e --as ann --json
    """
    from preserve.services import holds as service

    application = app()
    found = service.list_holds(
        application,
        _principal(application, username),
        state=state,
        package=package_id,
        collection=collection,
        organisation=organisation,
    )
    if as_json:
        emit_json([_json(h) for h in found])
        return
    if not found:
        say("no holds" if state == "all" else f"no {state} holds")
        return
    rows = [
        (
            str(h.id),
            h.state,
            h.kind,
            f"{h.created_at:%Y-%m-%d}",
            h.created_by,
            _targets(h),
            h.title,
        )
        for h in found
    ]
    for line in table(("ID", "STATE", "KIND", "PLACED", "BY", "COVERS", "TITLE"), rows, (0,)):
        say(line)


@holds.command("show")
@click.argument("hold_id", type=HOLD_ID, metavar="HOLD_ID")
@_as(required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def holds_show(hold_id: int, username: str | None, as_json: bool) -> None:
    """Show hold HOLD_ID: kind, title, reason, mandate, who placed (and lifted) it, and every
    package and collection it covers.

    \b
    Examples:
      preserve holds show 3
      preserve holds show 3 --as ann --json
    """
    from preserve.services import holds as service

    application = app()
    h = service.show(application, _principal(application, username), hold_id)
    if as_json:
        emit_json(_json(h))
        return
    _show(h)
