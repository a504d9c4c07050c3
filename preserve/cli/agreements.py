"""``preserve agreements``: collective retention agreements from draft to closed (issue 12).

Each command is one call of :mod:`preserve.services.agreements`; a person names who they are
with ``--as USER`` and the same rules apply as on the web (who may act for which party). A
refused transition exits 4 (HTTP 409 on the API), bad input 2, an unknown agreement or user 3,
a person who may not do it 77.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import click

from preserve.cli.base import GIVEN, GivenPath, app, cli
from preserve.cli.output import as_dict, count, emit_json, table
from preserve.errors import InvalidInput

_AS = click.option(
    "--as",
    "username",
    required=True,
    type=GIVEN,
    metavar="USER",
    help="The person acting (a user name of `preserve users create`).",
)
_AS_OPTIONAL = click.option(
    "--as",
    "username",
    default=None,
    type=GIVEN,
    metavar="USER",
    help="Show only what USER may see (default: everything, as the repository's operator).",
)
_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
_IDENT = click.argument("ident", metavar="AGREEMENT", type=GIVEN)
_PARTY = click.option(
    "--party",
    required=True,
    type=GIVEN,
    metavar="ORG",
    help="The party (organisation slug) the person acts for.",
)


@cli.group()
def agreements() -> None:
    """Collective retention agreements between owners, creators and the archive service:
    parties and roles, scope, retention rule, service level, rights and exit terms, from draft
    through agreement and signatures to active, amended, suspended and closed. An AGREEMENT is
    its reference (the newest version, e.g. CRA-2026-001) or one version (CRA-2026-001/v2)."""


def _service() -> Any:
    from preserve.services import agreements as service

    return service


def _who(username: str | None) -> Any:
    if username is None:
        return None
    return _service().principal_for_cli(app(), username)


def _audit(who: Any, action: str, label: str, **detail: Any) -> None:
    """The change in the audit log too (channel "cli"), beside the agreement's own history."""
    from preserve.services import audit

    audit.record(
        app(),
        who,
        f"agreement.{action}",
        object_type="agreement",
        object_id=label,
        remote_addr="cli",
        channel="cli",
        detail=detail,
    )


def _read_spec(path: Path) -> dict[str, Any]:
    """A JSON (or, with PyYAML installed, YAML) description of a draft."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read: {exc}") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise InvalidInput(
                f"{path}: reading YAML needs PyYAML, which is not installed; give JSON"
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidInput(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            ) from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: the description must be a mapping (a JSON object)")
    return data


_FIELD_OPTIONS: tuple[tuple[str, str, Any, str], ...] = (
    ("--reference", "reference", GIVEN, "Reference shared by the versions, e.g. CRA-2026-001."),
    ("--kind", "kind", GIVEN, "collaboration, service, management, deposit, submission, ..."),
    ("--title", "title", GIVEN, "Title."),
    ("--summary", "summary", str, "A short summary."),
    ("--component", "component", GIVEN, "main, annex or addendum."),
    ("--parent", "parent", GIVEN, "The main agreement of an annex or addendum."),
    ("--effective-from", "effective_from", GIVEN, "Start date (YYYY-MM-DD)."),
    ("--effective-until", "effective_until", str, "End date, the last day in force ('' clears)."),
    ("--review-interval-months", "review_interval_months", str, "Months between reviews."),
    ("--next-review-on", "next_review_on", str, "Next review date (YYYY-MM-DD)."),
    ("--notice-period-days", "notice_period_days", str, "Notice period in days."),
    ("--legal-basis", "legal_basis", str, "Legal basis or mandate."),
    ("--rights-statement", "rights_statement", str, "A RightsStatements.org URI."),
    ("--licence", "licence", str, "A Creative Commons licence or tool URI."),
)


def _field_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for flag, name, kind, text in reversed(_FIELD_OPTIONS):
        f = click.option(flag, name, type=kind, default=None, help=text)(f)
    f = click.option(
        "--min-copies", type=click.IntRange(min=1), default=None, help="Service level: copies."
    )(f)
    f = click.option(
        "--fixity-interval-days",
        type=click.IntRange(min=1),
        default=None,
        help="Service level: days between fixity checks of each copy.",
    )(f)
    f = click.option(
        "--add-collection",
        "add_collections",
        multiple=True,
        type=GIVEN,
        metavar="ORG/COLLECTION",
        help="Add a collection to the scope (repeatable).",
    )(f)
    f = click.option(
        "--add-party",
        "add_parties",
        multiple=True,
        type=GIVEN,
        metavar="ORG=ROLE[,ROLE]",
        help="Add a party with its roles (repeatable), e.g. museum=owner_depositor.",
    )(f)
    f = click.option(
        "--remove-party",
        "remove_parties",
        multiple=True,
        type=GIVEN,
        metavar="ORG",
        help="Remove a party (repeatable).",
    )(f)
    f = click.option(
        "--from",
        "from_file",
        type=GivenPath(exists=True, dir_okay=False, path_type=Path),
        default=None,
        metavar="FILE",
        help="A JSON (or YAML) file describing the draft; options given override it.",
    )(f)
    return f


def _party_spec(p: Any) -> dict[str, Any]:
    return {
        "organisation": p.organisation,
        "roles": list(p.roles),
        "authorities": list(p.authorities),
        "required_signatures": p.required_signatures,
        "represented_by": p.represented_by,
    }


def _scope_spec(s: Any) -> dict[str, Any]:
    if s.selector == "collection":
        return {"collection": s.collection}
    return {"metadata": {"element": s.element, "operator": s.operator, "value": s.value}}


def _compose(
    current: Any,
    from_file: Path | None,
    fields: dict[str, Any],
    add_parties: tuple[str, ...],
    remove_parties: tuple[str, ...],
    add_collections: tuple[str, ...],
) -> dict[str, Any]:
    spec: dict[str, Any] = _read_spec(from_file) if from_file else {}
    level = {k: fields.pop(k) for k in ("min_copies", "fixity_interval_days") if k in fields}
    for name, value in fields.items():
        if value is not None:
            spec[name] = value
    if any(v is not None for v in level.values()):
        service_level = spec.get("service_level")
        if service_level is None:
            sl = current.service_level if current else None
            service_level = as_dict(sl) if sl is not None else {}
            service_level.pop("agreement", None)
        if not isinstance(service_level, dict):
            raise InvalidInput("service_level: must be a mapping")
        service_level.update({k: v for k, v in level.items() if v is not None})
        spec["service_level"] = service_level
    if add_parties or remove_parties:
        parties = spec.get("parties")
        if parties is None:
            parties = [_party_spec(p) for p in current.parties] if current else []
        if not isinstance(parties, list):
            raise InvalidInput("parties: must be a list")
        for given in add_parties:
            org, _, roles = given.partition("=")
            if not org.strip() or not roles.strip():
                raise InvalidInput(
                    f"--add-party {given!r}: give ORG=ROLE[,ROLE], e.g. museum=owner_depositor"
                )
            parties.append(
                {"organisation": org.strip(), "roles": [r.strip() for r in roles.split(",")]}
            )
        for org in remove_parties:
            kept = [
                p for p in parties if not (isinstance(p, dict) and p.get("organisation") == org)
            ]
            if len(kept) == len(parties):
                raise InvalidInput(f"--remove-party {org!r}: not a party of this agreement")
            parties = kept
        spec["parties"] = parties
    if add_collections:
        scope = spec.get("scope")
        if scope is None:
            scope = [_scope_spec(s) for s in current.scope] if current else []
        if not isinstance(scope, list):
            raise InvalidInput("scope: must be a list")
        scope.extend({"collection": c} for c in add_collections)
        spec["scope"] = scope
    return spec


# ---------------------------------------------------------------------------- output


def _when(value: datetime | date | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M} UTC"
    return value.isoformat()


def _detail_json(d: Any) -> dict[str, Any]:
    data: dict[str, Any] = as_dict(d)
    data["label"] = d.label
    return data


def _echo_detail(d: Any) -> None:
    echo = click.echo
    echo(f"{d.label}: {d.title}")
    echo(f"  state:        {d.state.replace('_', ' ')}")
    echo(f"  kind:         {d.kind} ({d.component}" + (f" of {d.parent})" if d.parent else ")"))
    if d.supersedes:
        echo(f"  supersedes:   {d.supersedes}")
    if d.summary:
        echo(f"  summary:      {d.summary}")
    echo(f"  in force:     {_when(d.effective_from)} to {_when(d.effective_until)}")
    if d.review_interval_months or d.next_review_on:
        echo(
            f"  review:       every {d.review_interval_months or '-'} months, "
            f"next {_when(d.next_review_on)}"
        )
    if d.notice_period_days:
        echo(
            f"  notice:       {d.notice_period_days} days"
            + (f", given {_when(d.notice_given_on)}" if d.notice_given_on else "")
        )
    if d.legal_basis:
        echo(f"  legal basis:  {d.legal_basis}")
    echo("parties:")
    if not d.parties:
        echo("  (none)")
    for p in d.parties:
        signed = f"{len(p.signatures)}/{p.required_signatures} signatures"
        decision = {"agree": "agreed", "send_back": "sent back", None: "waiting"}[p.decision]
        if d.state in ("draft", "withdrawn") and p.decision is None:
            decision = "-"
        line = f"  {p.organisation} ({p.organisation_name}): {', '.join(p.roles) or 'no role'}"
        echo(line)
        if p.authorities:
            echo(f"    may {', '.join(a.replace('_', ' ') for a in p.authorities)}")
        if p.represented_by:
            echo(f"    represented by {p.represented_by}")
        status = f"    decision: {decision}" + (f" by {p.decided_by}" if p.decided_by else "")
        echo(status + f"; {signed}")
        for s in p.signatures:
            echo(f"    signed by {s.signatory} ({s.capacity}, {s.method}) {_when(s.signed_at)}")
    echo("scope:")
    if not d.scope:
        echo("  (none)")
    for s in d.scope:
        if s.selector == "collection":
            echo(f"  collection {s.collection}")
        else:
            echo(f"  packages whose {s.element} {s.operator.replace('_', ' ')} {s.value!r}")
    r = d.retention
    if r is None:
        echo("retention: (none)")
    else:
        period = f"{r.period_value} {r.period_unit}" if r.period_value else "no period"
        echo(f"retention: {r.action.replace('_', ' ')} after {period} from {r.trigger} ({r.bound})")
        echo(f"  motivation:  {r.motivation}")
        echo(f"  legal basis: {r.legal_basis}")
    sl = d.service_level
    if sl is None:
        echo("service level: (none)")
    else:
        echo(
            f"service level: {count(sl.min_copies, 'copy', 'copies')} on "
            f"{count(sl.min_distinct_sites, 'site')}"
            f" in {', '.join(sl.allowed_regions) or 'any region'}"
            + (", an offline copy" if sl.offline_copy_required else "")
            + f"; fixity every {sl.fixity_interval_days} days"
            + (
                f"; restore test every {sl.restore_test_interval_days} days"
                if sl.restore_test_interval_days
                else ""
            )
        )
    if d.accepted_formats or d.preferred_formats:
        echo(
            f"formats: accepted {', '.join(d.accepted_formats) or '-'}; "
            f"preferred {', '.join(d.preferred_formats) or '-'}"
        )
    echo("rights granted to the custodian:" + ("" if d.rights else " (none)"))
    for g in d.rights:
        term = ""
        if g.start_date or g.end_date:
            term = f" ({_when(g.start_date)} to {_when(g.end_date)})"
        echo(f"  {g.act}: {g.restriction}{term}" + (f" - {g.note}" if g.note else ""))
    if d.rights_statement or d.licence:
        echo(f"rights statement: {d.rights_statement or '-'}; licence: {d.licence or '-'}")
    for c in d.access:
        who = c.organisation if c.group == "organisation" else c.group
        embargo = f" after {_when(c.embargo_until)}" if c.embargo_until else ""
        echo(f"access: {who} may {c.action}{embargo}" + (f" - {c.note}" if c.note else ""))
    ex = d.exit
    if ex is None:
        echo("exit: (none)")
    else:
        echo(
            f"exit: {ex.package_format} packages to {ex.recipient} within {ex.deadline_days} days,"
            f" then {ex.post_exit_action.replace('_', ' ')}"
            + (f" {_when(ex.retain_until)}" if ex.retain_until else "")
        )
    if d.documents:
        echo("documents:")
        for doc in d.documents:
            echo(
                f"  {doc.name} ({doc.kind}, {doc.media_type}, {doc.size} bytes) sha256 {doc.sha256}"
            )
    if d.content_hash:
        echo(f"signed {_when(d.signed_at)}; content sha256 {d.content_hash}")
    if d.missing:
        echo("missing before it can be proposed:")
        for item in d.missing:
            echo(f"  {item}")
    echo("history:")
    for e in d.history:
        moved = (
            f"{e.from_state} -> {e.to_state}"
            if e.from_state is not None and e.from_state != e.to_state
            else e.to_state
        )
        party = f" for {e.party}" if e.party else ""
        comment = f": {e.comment}" if e.comment else ""
        echo(f"  {_when(e.occurred_at)} {e.action} by {e.actor}{party} ({moved}){comment}")


def _unsigned(d: Any) -> list[str]:
    return [p.organisation for p in d.parties if len(p.signatures) < p.required_signatures]


def _report(detail: Any, as_json: bool, message: str) -> None:
    if as_json:
        emit_json(_detail_json(detail))
    else:
        click.echo(message)


# ---------------------------------------------------------------------------- commands


@agreements.command("list")
@click.option("--state", default=None, type=GIVEN, help="Only agreements in this state.")
@click.option("--organisation", default=None, type=GIVEN, help="Only agreements with this party.")
@click.option("--all-versions", is_flag=True, help="Every version, not only the newest.")
@_AS_OPTIONAL
@_JSON
def agreements_list(
    state: str | None,
    organisation: str | None,
    all_versions: bool,
    username: str | None,
    as_json: bool,
) -> None:
    """The agreements (the newest version of each), with their state and parties.

    \b
    Examples:
      preserve agreements list
      preserve agreements list --organisation museum --state active --json
      preserve agreements list --all-versions --as mia
    """
    found = _service().list_agreements(
        app(), _who(username), state=state, organisation=organisation, all_versions=all_versions
    )
    if as_json:
        emit_json([{**as_dict(a), "label": a.label} for a in found])
        return
    if not found:
        click.echo("no agreements")
        return
    rows = [
        (
            a.reference,
            str(a.version_no),
            a.state,
            a.kind,
            _when(a.effective_from),
            ",".join(a.parties),
            a.title,
        )
        for a in found
    ]
    for line in table(
        ("REFERENCE", "V", "STATE", "KIND", "FROM", "PARTIES", "TITLE"), rows, right=(1,)
    ):
        click.echo(line)


@agreements.command("show")
@_IDENT
@_AS_OPTIONAL
@_JSON
def agreements_show(ident: str, username: str | None, as_json: bool) -> None:
    """An agreement version: parties with their roles, decisions and signatures, scope,
    retention rule, service level, rights, exit terms and history.

    \b
    Examples:
      preserve agreements show CRA-2026-001
      preserve agreements show CRA-2026-001/v1 --json
    """
    detail = _service().show(app(), ident, _who(username))
    if as_json:
        emit_json(_detail_json(detail))
    else:
        _echo_detail(detail)


@agreements.command("create")
@_field_options
@_AS
@_JSON
def agreements_create(
    from_file: Path | None,
    add_parties: tuple[str, ...],
    remove_parties: tuple[str, ...],
    add_collections: tuple[str, ...],
    username: str,
    as_json: bool,
    **fields: Any,
) -> None:
    """A new draft agreement, from a JSON (or YAML) description and/or options. The file may
    hold everything at once: parties, scope, retention, service_level, formats, rights,
    access and exit (see `preserve agreements show --json` for the shape).

    \b
    Examples:
      preserve agreements create --from agreement.json --as mia
      preserve agreements create --reference CRA-2026-002 --kind service \\
          --title "Storage for the films" --add-party museum=owner_depositor \\
          --add-party archive=custodian --add-collection museum/films --as mia
    """
    if remove_parties:
        raise click.UsageError("--remove-party is for `preserve agreements edit`")
    spec = _compose(None, from_file, fields, add_parties, (), add_collections)
    who = _who(username)
    detail = _service().create_draft(app(), who, spec)
    _audit(who, "create", detail.label, state=detail.state)
    _report(detail, as_json, f"{detail.label} created as a draft: {detail.title}")
    if not as_json and detail.missing:
        click.echo(f"before it can be proposed it needs: {'; '.join(detail.missing)}")


@agreements.command("edit")
@_IDENT
@_field_options
@_AS
@_JSON
def agreements_edit(
    ident: str,
    from_file: Path | None,
    add_parties: tuple[str, ...],
    remove_parties: tuple[str, ...],
    add_collections: tuple[str, ...],
    username: str,
    as_json: bool,
    **fields: Any,
) -> None:
    """Change a draft: the sections in --from FILE replace those of the draft, options change
    one field each. Only a draft can change; a signed version is frozen (amend it instead).

    \b
    Examples:
      preserve agreements edit CRA-2026-001 --effective-from 2027-01-01 --as mia
      preserve agreements edit CRA-2026-001 --from terms.json --as mia
      preserve agreements edit CRA-2026-001 --add-party artist=creator_rights_holder --as mia
      preserve agreements edit CRA-2026-001 --min-copies 3 --fixity-interval-days 90 --as mia
    """
    who = _who(username)
    service = _service()
    needs_current = bool(add_parties or remove_parties or add_collections) or any(
        fields.get(k) is not None for k in ("min_copies", "fixity_interval_days")
    )
    current = service.show(app(), ident, who) if needs_current else None
    spec = _compose(current, from_file, fields, add_parties, remove_parties, add_collections)
    if not spec:
        raise click.UsageError("nothing to change: give --from FILE or a field option")
    detail = service.edit_draft(app(), who, ident, spec)
    _audit(who, "edit", detail.label, sections=sorted(spec))
    changed = sorted(k for k in spec if not (k == "reference" and spec[k] == detail.reference))
    _report(detail, as_json, f"{detail.label} changed: {', '.join(changed)}")
    if not as_json and detail.missing:
        click.echo(f"before it can be proposed it needs: {'; '.join(detail.missing)}")


def _simple(
    name: str,
    call: Callable[..., Any],
    doc: str,
    message: Callable[[Any], str],
    *extra: Callable[[Callable[..., Any]], Callable[..., Any]],
) -> None:
    def command(ident: str, username: str, as_json: bool, **kwargs: Any) -> None:
        who = _who(username)
        detail = call(_service())(app(), who, ident, **kwargs)
        _audit(who, name.replace("-", "_"), detail.label, state=detail.state, **kwargs)
        _report(detail, as_json, message(detail))

    command.__doc__ = doc
    command.__name__ = f"agreements_{name.replace('-', '_')}"
    decorated: Callable[..., Any] = command
    options: tuple[Callable[[Callable[..., Any]], Callable[..., Any]], ...] = (
        _IDENT,
        *extra,
        _AS,
        _JSON,
    )
    for option in reversed(options):
        decorated = option(decorated)
    agreements.command(name)(decorated)


_simple(
    "propose",
    lambda s: s.propose,
    """Propose a complete draft to its parties (refused with every missing item otherwise).

    \b
    Examples:
      preserve agreements propose CRA-2026-001 --as mia
    """,
    lambda d: f"{d.label} proposed to {', '.join(p.organisation for p in d.parties)}",
)
_simple(
    "agree",
    lambda s: s.agree,
    """Agree to a proposal for a party; when every party has agreed it awaits signatures.

    \b
    Examples:
      preserve agreements agree CRA-2026-001 --party museum --as mia
    """,
    lambda d: (
        f"{d.label} is {d.state.replace('_', ' ')}"
        + (
            f" (waiting for {', '.join(p.organisation for p in d.parties if p.decision is None)})"
            if d.state == "proposed"
            else ""
        )
    ),
    _PARTY,
    click.option("--comment", default="", help="A remark with the agreement."),
)
_simple(
    "send-back",
    lambda s: s.send_back,
    """Do not agree: send the proposal back to draft, with a comment saying what to change.

    \b
    Examples:
      preserve agreements send-back CRA-2026-001 --party artist \\
          --comment "Name the portrait rights" --as arno
    """,
    lambda d: f"{d.label} is a draft again",
    _PARTY,
    click.option("--comment", required=True, type=GIVEN, help="What should change."),
)
_simple(
    "sign",
    lambda s: s.sign,
    """Sign for a party; when every party has its signatures the version is signed and frozen.

    \b
    Examples:
      preserve agreements sign CRA-2026-001 --party museum --capacity director --as mia
      preserve agreements sign CRA-2026-001 --party archive --capacity "head of archive" \\
          --method paper --document-sha256 0a1b... --as cas
    """,
    lambda d: (
        f"{d.label} is {d.state.replace('_', ' ')}"
        + (f"; content sha256 {d.content_hash}" if d.content_hash else "")
        + (f" (waiting for {', '.join(_unsigned(d))})" if d.state == "pending_signature" else "")
    ),
    _PARTY,
    click.option("--capacity", required=True, type=GIVEN, help="The capacity the person signs in."),
    click.option(
        "--method",
        type=click.Choice(["digital", "paper"]),
        default="digital",
        show_default=True,
        help="How it was signed.",
    ),
    click.option(
        "--document-sha256",
        default=None,
        type=GIVEN,
        help="The SHA-256 of the attached document signed (default: the version's content).",
    ),
)
_simple(
    "activate",
    lambda s: s.activate,
    """Put a signed version in force (not before its start date).

    \b
    Examples:
      preserve agreements activate CRA-2026-001 --as cas
    """,
    lambda d: f"{d.label} is active" + (f"; it supersedes {d.supersedes}" if d.supersedes else ""),
)
_simple(
    "suspend",
    lambda s: s.suspend,
    """Suspend an active agreement: new ingest is refused, preservation goes on.

    \b
    Examples:
      preserve agreements suspend CRA-2026-001 --reason "rights challenge" --as cas
    """,
    lambda d: f"{d.label} is suspended: new ingest into its collections is refused",
    click.option("--reason", required=True, type=GIVEN, help="Why."),
)
_simple(
    "resume",
    lambda s: s.resume,
    """Resume a suspended agreement.

    \b
    Examples:
      preserve agreements resume CRA-2026-001 --as cas
    """,
    lambda d: f"{d.label} is active again",
    click.option("--comment", default="", help="How it was resolved."),
)
_simple(
    "amend",
    lambda s: s.amend,
    """Start an amendment: a new draft version with the current terms, which supersedes the
    current version once it is signed and activated.

    \b
    Examples:
      preserve agreements amend CRA-2026-001 --reason "three sites" --as mia
    """,
    lambda d: f"{d.label} drafted (amends {d.supersedes})",
    click.option("--reason", default="", help="Why it changes."),
)
_simple(
    "give-notice",
    lambda s: s.give_notice,
    """Give notice of termination for a party; the exit starts when the notice period ends.

    \b
    Examples:
      preserve agreements give-notice CRA-2026-001 --party museum --reason merger --as mia
    """,
    lambda d: (
        f"{d.label}: notice given on {_when(d.notice_given_on)}"
        + (f" ({d.notice_period_days} days)" if d.notice_period_days else "")
    ),
    _PARTY,
    click.option("--reason", required=True, type=GIVEN, help="Why."),
)
_simple(
    "start-exit",
    lambda s: s.start_exit,
    """Start the exit of an expired agreement (or one whose notice period is over).

    \b
    Examples:
      preserve agreements start-exit CRA-2026-001 --as cas
    """,
    lambda d: f"{d.label} is exiting",
)
_simple(
    "close",
    lambda s: s.close,
    """Close an exiting agreement once its exit obligations are met.

    \b
    Examples:
      preserve agreements close CRA-2026-001 --evidence "returned, certificate 17" --as cas
    """,
    lambda d: f"{d.label} is closed",
    click.option("--evidence", required=True, type=GIVEN, help="How the exit was fulfilled."),
)
_simple(
    "confirm-review",
    lambda s: s.confirm_review,
    """Confirm the review of an agreement under review: active again until the next review.

    \b
    Examples:
      preserve agreements confirm-review CRA-2026-001 --as cas
    """,
    lambda d: f"{d.label} is active; next review {_when(d.next_review_on)}",
)
_simple(
    "withdraw",
    lambda s: s.withdraw,
    """Withdraw a draft or proposed version.

    \b
    Examples:
      preserve agreements withdraw CRA-2026-001 --reason "replaced" --as mia
    """,
    lambda d: f"{d.label} is withdrawn",
    click.option("--reason", default="", help="Why."),
)


@agreements.command("attach")
@_IDENT
@click.argument("path", metavar="FILE", type=GivenPath(dir_okay=False, path_type=Path))
@click.option(
    "--kind",
    type=click.Choice(["main_text", "annex", "addendum", "signed_copy", "other"]),
    default="main_text",
    show_default=True,
    help="What the document is (a signed copy may be added after signing).",
)
@_AS
@_JSON
def agreements_attach(ident: str, path: Path, kind: str, username: str, as_json: bool) -> None:
    """Attach a document (PDF, plain text, ODT or DOCX, at most 25 MiB) and record its SHA-256.

    \b
    Examples:
      preserve agreements attach CRA-2026-001 agreement.pdf --as mia
      preserve agreements attach CRA-2026-001 signed.pdf --kind signed_copy --as cas
    """
    who = _who(username)
    doc = _service().attach_document(app(), who, ident, path, kind=kind)
    _audit(who, "attach", ident, name=doc.name, kind=doc.kind, sha256=doc.sha256)
    if as_json:
        emit_json(as_dict(doc))
    else:
        click.echo(f"{doc.name} attached ({doc.media_type}, {doc.size} bytes) sha256 {doc.sha256}")


@agreements.command("advance")
@click.option(
    "--date",
    "on",
    default=None,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Rehearse this later day: list what would move, mark packages due as of it.",
)
@_JSON
def agreements_advance(on: datetime | None, as_json: bool) -> None:
    """Move what is due, as the workers' daily task does: signed versions become active at
    their start date, active ones go under review at their review date and expire after their
    end date, notices end in exit; then packages whose retention is reached become due (under
    review for the action review) and those of an expired agreement are flagged for review.

    With --date you rehearse a later day: no agreement moves (agreements move on the real
    day); the command lists what would move, and when. Packages are marked due as of that
    day, so a disposal can be proposed, but a disposal is only executed once the real day has
    come. A day before today is refused. --json gives "agreements" (moved), "packages"
    (marked), and when rehearsing "would_move" and "rehearsal" (the day).

    \b
    Examples:
      preserve agreements advance
      preserve agreements advance --date 2027-01-01 --json
    """
    from preserve.services import retention

    today = datetime.now(UTC).date()
    day = on.date() if on else None
    if day is not None and day < today:
        raise InvalidInput(
            f"--date {day.isoformat()} is before today ({today.isoformat()}): agreements move "
            "on the real day; leave --date out to move what is due now"
        )
    rehearsal = day is not None and day > today
    now = datetime.combine(day, time(12), tzinfo=UTC) if day is not None and rehearsal else None
    moved = _service().advance(app(), now, dry_run=rehearsal)
    marked = retention.mark_due(app(), now)
    if as_json:
        data: dict[str, Any] = {
            "agreements": [] if rehearsal else [as_dict(t) for t in moved],
            "packages": [m.as_json() for m in marked],
        }
        if rehearsal and day is not None:
            data["would_move"] = [as_dict(t) for t in moved]
            data["rehearsal"] = day.isoformat()
        emit_json(data)
        return
    for t in moved:
        line = f"{t.reference} v{t.version_no}: {t.from_state} -> {t.to_state}"
        if rehearsal:
            line += f" on {t.due_on} (rehearsal: agreements move on the real day)"
        click.echo(line)
    for m in marked:
        click.echo(
            f"package {m.package_id[:8]} ({m.agreement}): {m.state}"
            + (f", due {m.retention_due.isoformat()}" if m.retention_due else "")
        )
    due = sum(m.state == "due" for m in marked)
    review = sum(m.state == "under_review" for m in marked)
    if rehearsal:
        agreements_part = (
            "no agreement would move"
            if not moved
            else f"{len(moved)} agreement(s) would move on the real day, none moved"
        )
    else:
        agreements_part = "no agreement moved" if not moved else f"{len(moved)} agreement(s) moved"
    click.echo(
        agreements_part
        + f", {due} package{'' if due == 1 else 's'} due"
        + (f", {review} under review" if review else "")
        + (f" (as of {day.isoformat()})" if rehearsal and day is not None else "")
    )


@agreements.command("reminders")
@click.option(
    "--date",
    "on",
    default=None,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Act as on this day (default: today).",
)
@click.option(
    "--days",
    "days",
    default=None,
    metavar="N[,N...]",
    help="Remind this many days before a review, an end date or an embargo's end (default: 30,7).",
)
@click.option("--dry-run", is_flag=True, help="Only say who would be told what.")
@_JSON
def agreements_reminders(
    on: datetime | None, days: str | None, dry_run: bool, as_json: bool
) -> None:
    """Tell the parties' people (archivists and admins, by e-mail) what awaits them: an
    agreement to agree on or sign, one sent back (to its proposer), activated, suspended or
    given notice, a review, an end date or an embargo's end coming (30 and 7 days before),
    a disposal request to approve. Each person is told each thing once: running it again
    sends nothing twice; e-mails that failed are tried again. The workers run it daily.
    Needs PRESERVE_SMTP_URL (exit status 2 without it, except with --dry-run).

    \b
    Examples:
      preserve agreements reminders --dry-run
      preserve agreements reminders --json
      preserve agreements reminders --days 60,14,1
    """
    from preserve.services import notifications

    reminder_days = notifications.REMINDER_DAYS
    if days is not None:
        try:
            reminder_days = tuple(int(d) for d in days.split(",") if d.strip())
        except ValueError:
            raise InvalidInput(f"--days {days!r}: give numbers of days, such as 30,7") from None
    now = datetime.combine(on.date(), time(12), tzinfo=UTC) if on else None
    report = notifications.send_due(app(), now=now, reminder_days=reminder_days, dry_run=dry_run)
    if as_json:
        emit_json(report.as_json())
    else:
        verb = "would tell" if dry_run else "told"
        for n in report.recorded:
            click.echo(f"{verb} {n.username} <{n.email}>: {n.subject}")
        for name in report.no_address:
            click.echo(f"warning: {name} has no e-mail address: not told", err=True)
        for error in report.errors:
            click.echo(f"warning: {error}", err=True)
        if not report.recorded:
            click.echo("nothing new to tell anyone")
        if not dry_run:
            click.echo(
                f"{report.sent} e-mail(s) sent"
                + (f", {report.retrying} to retry" if report.retrying else "")
                + (f", {report.failed} failed" if report.failed else "")
            )
    if report.failed or report.retrying:
        raise SystemExit(1)
