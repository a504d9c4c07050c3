"""Notifications to the parties: what awaits them, and reminders before it is due (issue 12;
retention-agreements.md 5.1 E15).

The people of a party are its organisation's members with the archivist or admin role (those of
an umbrella organisation that represents it too): the ones who may agree, sign or approve for
it. Each of them is told, by e-mail, once per *thing*:

- an agreement proposed (agree or send it back), one awaiting their party's signature;
- an agreement sent back (to the person who proposed it), activated, suspended, or given
  notice (every party's people; transitions of the last :data:`EVENT_WINDOW_DAYS` days, so a
  first run does not recount history);
- a review coming (``next_review_on``), the end of the agreement (``effective_until``) and the
  end of an embargo (an access condition's ``embargo_until``), each :data:`REMINDER_DAYS`
  before (30 and 7 days: the nearest threshold reached, so a late first run sends one);
- a disposal request awaiting their party's approval (not to the person who asked for it).

:func:`due` works out what is owed now; :func:`send_due` records each as a ``notifications`` row
(unique per person and key, so running it twice sends nothing twice, also two runs at once)
and sends the e-mails still pending, each retried up to :data:`MAX_ATTEMPTS` times.
:func:`awaiting` lists what awaits one person now (the dashboard's panel).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from preserve.bootstrap import Application
from preserve.catalogue.agreements import Agreement, AgreementEvent, AgreementParty
from preserve.catalogue.models import Membership, Organisation, User
from preserve.catalogue.notifications import Notification
from preserve.channels import ChannelError, Mailer, build_email
from preserve.errors import InvalidInput
from preserve.services.access import Principal

log = logging.getLogger(__name__)

#: Days before a review, an end date or an embargo's end when people are reminded.
REMINDER_DAYS: tuple[int, ...] = (30, 7)
#: Transitions older than this are not announced (a first run does not recount history).
EVENT_WINDOW_DAYS = 7
#: E-mail attempts per notification before it is marked ``failed``.
MAX_ATTEMPTS = 5
#: Agreement states in force (reviews, end dates and embargoes matter only then).
IN_FORCE = ("active", "under_review", "suspended", "notice_given")
#: The transitions announced to every party's people, and how.
ANNOUNCED = {
    "activate": ("activated", "is active"),
    "suspend": ("suspended", "is suspended: new ingest into its collections is refused"),
    "give_notice": ("notice_given", "was given notice"),
}
STAFF_ROLES = ("archivist", "admin")


@dataclass(frozen=True)
class Notice:
    """One message owed to one person."""

    user_id: int
    username: str
    email: str
    key: str
    kind: str
    subject: str
    body: str
    link: str

    def as_json(self) -> dict[str, Any]:
        return {
            "user": self.username,
            "email": self.email,
            "key": self.key,
            "kind": self.kind,
            "subject": self.subject,
            "body": self.body,
            "link": self.link,
        }


@dataclass(frozen=True)
class SendReport:
    """What :func:`send_due` did: notices recorded now, e-mails sent, retried and failed, and
    notices left out because the person has no e-mail address."""

    recorded: tuple[Notice, ...] = ()
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    no_address: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "recorded": [n.as_json() for n in self.recorded],
            "sent": self.sent,
            "retrying": self.retrying,
            "failed": self.failed,
            "no_address": list(self.no_address),
            "errors": list(self.errors),
        }


@dataclass(frozen=True)
class AwaitingItem:
    """Something that awaits a person: ``kind`` agree, sign, review (``under_review``, or due
    on ``due_on``) or disposal_approval, for ``parties`` (organisation slugs); ``detail`` says
    it in English (the pages compose their own words from the fields)."""

    kind: str
    title: str
    detail: str
    link: str
    parties: tuple[str, ...] = ()
    due_on: date | None = None
    under_review: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "detail": self.detail,
            "link": self.link,
            "parties": list(self.parties),
            "due_on": self.due_on.isoformat() if self.due_on else None,
            "under_review": self.under_review,
        }


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def _label(a: Agreement) -> str:
    return f"{a.reference} v{a.version_no}"


def _link(a: Agreement) -> str:
    return f"/agreements/{a.reference}/v{a.version_no}"


# ----------------------------------------------------------------------------- who


@dataclass(frozen=True)
class _Person:
    user_id: int
    username: str
    email: str


def _staff(session: Session, organisation_ids: Iterable[int]) -> dict[int, list[_Person]]:
    """The active archivists and admins of each organisation."""
    ids = sorted(set(organisation_ids))
    out: dict[int, list[_Person]] = {i: [] for i in ids}
    if not ids:
        return out
    for org_id, user_id, username, email in session.execute(
        sa.select(Membership.organisation_id, User.id, User.username, User.email)
        .join(User, User.id == Membership.user_id)
        .where(
            Membership.organisation_id.in_(ids),
            Membership.role.in_(STAFF_ROLES),
            User.active.is_(True),
        )
        .order_by(User.username)
    ):
        out[org_id].append(_Person(user_id, username, email or ""))
    return out


def _party_orgs(party: AgreementParty) -> list[int]:
    orgs = [party.organisation_id]
    if party.represented_by is not None:
        orgs.append(party.represented_by.organisation_id)
    return orgs


# ----------------------------------------------------------------------------- what is due


def _threshold(days_left: int, thresholds: Sequence[int]) -> int | None:
    """The nearest reminder threshold reached (None: not yet, or the day is past)."""
    if days_left < 0:
        return None
    for t in sorted(thresholds):
        if days_left <= t:
            return t
    return None


class _Collector:
    """Notices by (user, key): a person in two parties of one thing gets one message."""

    def __init__(self) -> None:
        self.by_key: dict[tuple[int, str], Notice] = {}

    def add(
        self, people: Iterable[_Person], key: str, kind: str, subject: str, body: str, link: str
    ) -> None:
        for p in people:
            self.by_key.setdefault(
                (p.user_id, key),
                Notice(p.user_id, p.username, p.email, key, kind, subject, body, link),
            )


def due(
    app: Application,
    *,
    now: datetime | None = None,
    reminder_days: Sequence[int] = REMINDER_DAYS,
) -> list[Notice]:
    """Every notice owed now (recorded or not: :func:`send_due` leaves out those already
    recorded), by person and key."""
    if not reminder_days or any(d < 0 for d in reminder_days):
        raise InvalidInput("reminder days must be one or more numbers of days, 0 or more")
    at = _now(now)
    today = at.date()
    out = _Collector()
    with app.uow() as uow:
        s = uow.session
        agreements = list(
            s.scalars(
                sa.select(Agreement)
                .where(
                    Agreement.state.in_(
                        ("draft", "proposed", "pending_signature", "signed", *IN_FORCE)
                    )
                )
                .order_by(Agreement.reference, Agreement.version_no)
            )
        )
        orgs: set[int] = set()
        for a in agreements:
            for party in a.parties:
                orgs.update(_party_orgs(party))
        staff = _staff(s, orgs)

        def people(parties: Iterable[AgreementParty]) -> list[_Person]:
            found: dict[int, _Person] = {}
            for party in parties:
                for org in _party_orgs(party):
                    for p in staff.get(org, []):
                        found.setdefault(p.user_id, p)
            return list(found.values())

        for a in agreements:
            _agreement_notices(s, a, people, out, at, today, reminder_days)
        _disposal_notices(s, out)
    return sorted(out.by_key.values(), key=lambda n: (n.username, n.key))


def _agreement_notices(
    s: Session,
    a: Agreement,
    people: Any,
    out: _Collector,
    at: datetime,
    today: date,
    reminder_days: Sequence[int],
) -> None:
    label, link = _label(a), _link(a)
    if a.state == "proposed":
        waiting = [
            p
            for p in a.parties
            if not any(d.proposal_round == a.proposal_round for d in p.decisions)
        ]
        if waiting:
            names = ", ".join(p.organisation.name for p in waiting)
            out.add(
                people(waiting),
                f"agreement:{a.id}:r{a.proposal_round}:agree",
                "agree",
                f"{label} awaits your decision: agree or send it back",
                f"Agreement {label} ({a.title}) was proposed. {names} still has to agree to it "
                f"or send it back with a comment.\n\n"
                f"  preserve agreements agree {a.reference}/v{a.version_no} --party ORG --as YOU\n"
                f"  preserve agreements send-back {a.reference}/v{a.version_no} --party ORG "
                "--comment ... --as YOU",
                link,
            )
    if a.state == "pending_signature":
        waiting = [p for p in a.parties if len(p.signatures) < p.required_signatures]
        if waiting:
            names = ", ".join(p.organisation.name for p in waiting)
            out.add(
                people(waiting),
                f"agreement:{a.id}:sign",
                "sign",
                f"{label} awaits your signature",
                f"Every party agreed to {label} ({a.title}). {names} still has to sign it.\n\n"
                f"  preserve agreements sign {a.reference}/v{a.version_no} --party ORG "
                "--capacity ... --as YOU",
                link,
            )
    since = at - timedelta(days=EVENT_WINDOW_DAYS)
    events = [e for e in a.events if _aware(e.occurred_at) >= since]
    for e in events:
        if e.action == "send_back":
            proposer = _proposer(s, a, e)
            if proposer is not None:
                out.add(
                    [proposer],
                    f"agreement-event:{e.id}",
                    "sent_back",
                    f"{label} was sent back by {e.party or e.actor}",
                    f"{e.actor} sent {label} ({a.title}) back to draft for "
                    f"{e.party or 'their party'}: {e.comment or '(no comment)'}\n\n"
                    f"Edit it and propose it again:\n"
                    f"  preserve agreements edit {a.reference}/v{a.version_no} ... --as YOU\n"
                    f"  preserve agreements propose {a.reference}/v{a.version_no} --as YOU",
                    link,
                )
        elif e.action in ANNOUNCED and e.to_state == a.state:
            kind, what = ANNOUNCED[e.action]
            out.add(
                people(a.parties),
                f"agreement-event:{e.id}",
                kind,
                f"{label} {what.split(':')[0]}",
                f"Agreement {label} ({a.title}) {what} since {_aware(e.occurred_at):%Y-%m-%d} "
                f"({e.actor})" + (f": {e.comment}" if e.comment else "") + ".",
                link,
            )
    if a.state not in IN_FORCE:
        return
    for on, kind, key, what in (
        (a.next_review_on, "review_due", "review", "is due for review"),
        (a.effective_until, "expiry_due", "expiry", "ends"),
    ):
        if on is None:
            continue
        t = _threshold((on - today).days, reminder_days)
        if t is not None:
            out.add(
                people(a.parties),
                f"agreement:{a.id}:{key}:{on.isoformat()}:{t}",
                kind,
                f"{label} {what} on {on.isoformat()}",
                f"Agreement {label} ({a.title}) {what} on {on.isoformat()} "
                f"({(on - today).days} days from now)."
                + (
                    f"\n\n  preserve agreements confirm-review {a.reference}/v{a.version_no} "
                    "--as YOU\n  preserve agreements amend ... (to change its terms)"
                    if kind == "review_due"
                    else ""
                ),
                link,
            )
    for cond in a.access_conditions:
        if cond.embargo_until is None:
            continue
        t = _threshold((cond.embargo_until - today).days, reminder_days)
        if t is not None:
            out.add(
                people(a.parties),
                f"agreement:{a.id}:embargo:{cond.id}:{cond.embargo_until.isoformat()}:{t}",
                "embargo_ending",
                f"{label}: the embargo on {cond.action} ends on {cond.embargo_until.isoformat()}",
                f"The embargo of agreement {label} ({a.title}) on {cond.action} for "
                f"{cond.access_group} ends on {cond.embargo_until.isoformat()}: from then on "
                "its content may be given out as the agreement says.",
                link,
            )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _proposer(s: Session, a: Agreement, sent_back: AgreementEvent) -> _Person | None:
    """The person whose proposal was sent back (the last proposal before it)."""
    proposals = [
        e
        for e in a.events
        if e.action == "propose" and e.id < sent_back.id and e.user_id is not None
    ]
    if not proposals:
        return None
    user = s.get(User, proposals[-1].user_id)
    if user is None or not user.active:
        return None
    return _Person(user.id, user.username, user.email or "")


def _disposal_notices(s: Session, out: _Collector) -> None:
    """Disposal requests awaiting a party's approval: its people (not the requester)."""
    try:
        from preserve.catalogue.disposal import DisposalRequest
    except ImportError:  # the disposal model not installed
        return
    for r in s.scalars(
        sa.select(DisposalRequest)
        .where(DisposalRequest.state == "pending")
        .order_by(DisposalRequest.id)
    ):
        decided = {ap.organisation_id for ap in r.approvals}
        waiting = [
            int(entry["organisation_id"])
            for entry in (r.required or [])
            if isinstance(entry, Mapping) and entry.get("organisation_id") not in decided
        ]
        if not waiting:
            continue
        staff = _staff(s, waiting)
        names = ", ".join(
            o.name
            for o in s.scalars(
                sa.select(Organisation)
                .where(Organisation.id.in_(waiting))
                .order_by(Organisation.name)
            )
        )
        people = [p for org in waiting for p in staff[org] if p.user_id != r.requested_by_id]
        count = len(r.items)
        out.add(
            people,
            f"disposal:{r.id}:approve",
            "disposal_approval",
            f"disposal request {r.id} awaits your approval ({count} package"
            f"{'s' if count != 1 else ''})",
            f"{r.requested_by} asked to dispose of {count} package{'s' if count != 1 else ''}"
            + (f" under {r.reference} v{r.version_no}" if r.reference else "")
            + f": {r.reason or '(no reason given)'}. Still to approve: {names}.\n\n"
            f"  preserve disposal show {r.id}\n"
            f"  preserve disposal approve {r.id} --party ORG --as YOU\n"
            f"  preserve disposal reject {r.id} --party ORG --comment ... --as YOU",
            f"/disposal/{r.id}",
        )


# ----------------------------------------------------------------------------- sending


def send_due(
    app: Application,
    *,
    now: datetime | None = None,
    reminder_days: Sequence[int] = REMINDER_DAYS,
    dry_run: bool = False,
) -> SendReport:
    """Record every notice owed now that was not recorded yet, then send the e-mails still
    pending (those of earlier runs that failed too). ``dry_run``: only say what would be
    recorded. :class:`InvalidInput` when no mail server is configured (PRESERVE_SMTP_URL)."""
    at = _now(now)
    owed = due(app, now=at, reminder_days=reminder_days)
    with app.uow() as uow:
        rows = uow.session.execute(sa.select(Notification.user_id, Notification.key)).all()
        known = {(user_id, key) for user_id, key in rows}
    fresh = [n for n in owed if (n.user_id, n.key) not in known]
    no_address = tuple(sorted({n.username for n in fresh if not n.email}))
    fresh = [n for n in fresh if n.email]
    if dry_run:
        return SendReport(tuple(fresh), no_address=no_address)
    if not app.settings.smtp_url:
        raise InvalidInput(
            "no mail server is configured (PRESERVE_SMTP_URL): nothing can be sent; "
            "--dry-run shows what would be"
        )
    recorded = [n for n in fresh if _record(app, n, at)]
    sent, retrying, failed, errors = _deliver(app, at)
    for n in recorded:
        log.info("notification %s to %s recorded", n.key, n.username)
    return SendReport(tuple(recorded), sent, retrying, failed, no_address, tuple(errors))


def _record(app: Application, n: Notice, at: datetime) -> bool:
    """Insert the notification; False when another run recorded it first."""
    with app.uow() as uow:
        uow.session.add(
            Notification(
                user_id=n.user_id,
                key=n.key,
                kind=n.kind,
                subject=n.subject[:255],
                body=n.body,
                link=n.link[:255],
                email=n.email[:255],
                created_at=at,
                email_state="pending",
                attempts=0,
            )
        )
        try:
            uow.commit()
        except sa_exc.IntegrityError:
            uow.rollback()
            return False
    return True


def _deliver(app: Application, at: datetime) -> tuple[int, int, int, list[str]]:
    """Send every pending notification, claiming each by a conditional update first (two
    senders at once never send one twice)."""
    sent = retrying = failed = 0
    errors: list[str] = []
    with app.uow() as uow:
        rows = uow.session.execute(
            sa.select(Notification.id, Notification.attempts)
            .where(Notification.email_state == "pending")
            .order_by(Notification.id)
        ).all()
    settings = app.settings
    with Mailer(settings.smtp_url) as mailer:
        for nid, seen in rows:
            with app.uow() as uow:
                claimed: Any = uow.session.execute(
                    sa.update(Notification)
                    .where(
                        Notification.id == nid,
                        Notification.attempts == seen,
                        Notification.email_state == "pending",
                    )
                    .values(attempts=seen + 1)
                    .execution_options(synchronize_session=False)
                )
                if claimed.rowcount != 1:
                    uow.rollback()
                    continue
                row = uow.session.get_one(Notification, nid)
                message = build_email(
                    settings.alert_from,
                    [row.email],
                    f"[preserve] {row.subject}",
                    _body(settings.public_url, row),
                    {"X-Preserve-Notification": f"{row.id} {row.kind}"},
                )
                uow.commit()
            error: str | None = None
            try:
                mailer.send(message)
            except ChannelError as exc:
                error = str(exc)
            with app.uow() as uow:
                row = uow.session.get_one(Notification, nid)
                if error is None:
                    row.email_state, row.sent_at, row.last_error = "sent", at, None
                    sent += 1
                else:
                    row.last_error = error
                    if row.attempts >= MAX_ATTEMPTS:
                        row.email_state = "failed"
                        failed += 1
                    else:
                        retrying += 1
                    errors.append(f"notification {nid} to {row.email}: {error}")
                uow.commit()
    return sent, retrying, failed, errors


def _body(public_url: str, row: Notification) -> str:
    link = f"{public_url.rstrip('/')}{row.link}" if row.link else ""
    return (
        f"{row.body}\n"
        + (f"\nIn the catalogue: {link}\n" if link else "")
        + "\n-- \npreserve: you are told because you are an archivist or admin of a party "
        "concerned.\n"
    )


# ----------------------------------------------------------------------------- awaiting


def awaiting(
    app: Application, principal: Principal, *, now: datetime | None = None
) -> list[AwaitingItem]:
    """What awaits the person now: agreements to agree on or sign for a party they may act
    for, reviews due (or coming within the largest reminder period) of agreements of their
    organisations, and disposal requests awaiting their organisation's approval."""
    from preserve.services import agreement_view

    today = _now(now).date()
    out = [
        AwaitingItem(
            w.step,
            f"{w.label}: {w.title}",
            f"{'agree or send back' if w.step == 'agree' else 'sign'} for {', '.join(w.parties)}",
            f"/agreements/{w.reference}/v{w.version_no}",
            tuple(w.parties),
        )
        for w in agreement_view.awaiting(app, principal)
    ]
    horizon = today + timedelta(days=max(REMINDER_DAYS))
    staff_of = principal.organisations_where("archivist")
    with app.uow() as uow:
        s = uow.session
        query = (
            sa.select(Agreement)
            .where(
                Agreement.state.in_(IN_FORCE),
                sa.or_(Agreement.state == "under_review", Agreement.next_review_on <= horizon),
            )
            .order_by(Agreement.next_review_on, Agreement.reference)
        )
        for a in s.scalars(query):
            mine = [
                p
                for p in a.parties
                if staff_of is None or any(o in staff_of for o in _party_orgs(p))
            ]
            if not mine:
                continue
            on = a.next_review_on
            out.append(
                AwaitingItem(
                    "review",
                    f"{_label(a)}: {a.title}",
                    "under review" if a.state == "under_review" else f"review due on {on}",
                    _link(a),
                    tuple(p.organisation.slug for p in mine),
                    on,
                    a.state == "under_review",
                )
            )
        out += _disposals_awaiting(s, principal, staff_of)
    return out


def _disposals_awaiting(
    s: Session, principal: Principal, staff_of: frozenset[int] | None
) -> list[AwaitingItem]:
    try:
        from preserve.catalogue.disposal import DisposalRequest
    except ImportError:
        return []
    out = []
    for r in s.scalars(
        sa.select(DisposalRequest)
        .where(DisposalRequest.state == "pending")
        .order_by(DisposalRequest.id)
    ):
        if r.requested_by_id == principal.user_id:
            continue
        decided = {ap.organisation_id for ap in r.approvals}
        waiting = [
            entry
            for entry in (r.required or [])
            if isinstance(entry, Mapping)
            and entry.get("organisation_id") not in decided
            and (staff_of is None or entry.get("organisation_id") in staff_of)
        ]
        if principal.is_admin:  # an administrator approves only as a party's own person
            waiting = [e for e in waiting if e.get("organisation_id") in principal.roles]
        if not waiting:
            continue
        out.append(
            AwaitingItem(
                "disposal_approval",
                f"disposal request {r.id}",
                f"approve or reject for {', '.join(str(e.get('organisation')) for e in waiting)}",
                f"/disposal/{r.id}",
                tuple(str(e.get("organisation")) for e in waiting),
            )
        )
    return out


__all__ = [
    "EVENT_WINDOW_DAYS",
    "MAX_ATTEMPTS",
    "REMINDER_DAYS",
    "AwaitingItem",
    "Notice",
    "SendReport",
    "awaiting",
    "due",
    "send_due",
]
