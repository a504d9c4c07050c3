"""Alerts: what people must be told (issue 10).

A fixity failure, a repair, a damaged package, a failed job or a fixity backlog is recorded as
an :class:`preserve.catalogue.models.Alert` in the same transaction as the finding
(:func:`record`), so it can never be lost; it is then delivered by e-mail and to the webhook
(:func:`deliver_pending`), each retried with a back-off until delivered or out of attempts.

Delivery never holds a transaction open across the network: an alert is first *claimed* by a
conditional update (its attempt count goes up by one and its next attempt moves past the
claim's lease), committed, then sent, and the outcome written by a second conditional update.
Two deliverers running at once therefore never both send one alert; a deliverer killed
mid-way leaves an alert that is taken again once the claim's lease has run out.

:func:`daily_report` sums up the last day (fixity coverage and backlog, failures, repairs,
damaged packages, failed jobs, open alerts) and sends it the same two ways; the ``report`` job
runs it. Times come from ``now`` arguments (UTC), so tests control the clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from preserve.catalogue.models import (
    ALERT_KINDS,
    ALERT_SEVERITIES,
    Alert,
    Copy,
    Job,
    Package,
    StorageLocation,
)
from preserve.channels import ChannelError, Mailer, build_email, post_json
from preserve.errors import InvalidInput, NotFound
from preserve.services.jobs import JobRecord, Work, handles
from preserve.uow import UnitOfWork

if TYPE_CHECKING:
    from preserve.bootstrap import Application
    from preserve.config.settings import Settings

log = logging.getLogger(__name__)

#: Delivery attempts per alert (one attempt tries every channel still pending) before the
#: channels not yet delivered are marked ``failed``.
MAX_ATTEMPTS = 6
#: The wait after failed attempt N: 1 min, 4 min, 16 min, 64 min, 4 h 16 min (at most 6 h).
BACKOFF_BASE_SECONDS = 60
BACKOFF_FACTOR = 4
BACKOFF_MAX_SECONDS = 6 * 3600
#: How long a claim keeps other deliverers off an alert: longer than any send can take (the
#: SMTP and webhook time-outs), so only a deliverer that died loses its claim.
CLAIM = timedelta(minutes=5)
#: A channel this deliverer has no settings for is left ``pending`` this long (another
#: process, a worker with PRESERVE_SMTP_URL, may have them: a command run on a laptop must not
#: take its e-mail away), then marked ``off``.
OFF_AFTER = timedelta(days=1)

CHANNELS = ("email", "webhook")
CHANNEL_LABELS = {"email": "e-mail", "webhook": "webhook"}

KIND_LABELS = {
    "fixity_failure": "fixity failure",
    "repaired": "copy repaired",
    "damaged": "package damaged",
    "job_failed": "job failed",
    "backlog": "fixity backlog",
    "replication": "replication",
    "object_lock": "object lock not applied",
}

#: What people should do, by kind of alert.
ADVICE = {
    "fixity_failure": (
        "A stored copy no longer matches the checksums recorded at ingest, or is missing. "
        "Workers quarantine it and restore it from a verified good copy; an alert 'copy "
        "repaired' follows when that worked. If none follows, check and repair the package "
        "yourself:"
    ),
    "repaired": (
        "Nothing is lost: the damaged copy was set aside (quarantined), restored from a "
        "verified good copy and verified again. If the same location keeps failing, look at "
        "its hardware or provider."
    ),
    "damaged": (
        "No good copy is left of the files named above: the package is damaged. Find those "
        "files elsewhere (the producer, an older backup) and store them as a new version of "
        "the package; until then, exports of the package leave them out or refuse."
    ),
    "job_failed": (
        "The job used all its attempts. Read its error, fix the cause (storage down, disk "
        "full, bad input), then queue it again (once it succeeds, this alert is resolved by "
        "itself):"
    ),
    "backlog": (
        "Fixity checks are falling behind: some copies were not checked within their interval. "
        "Add workers, or raise the location's throughput budget, and watch the report:"
    ),
    "replication": (
        "A package lacks a verified copy on a location its collection requires. See which "
        "packages fall short and make the copies:"
    ),
    "object_lock": (
        "S3 Object Lock could not be applied to the package's copies (its location did not "
        "answer, or an object is missing): the catalogue still keeps it, and the daily task "
        "tries again. Once the location is back, apply what is pending now:"
    ),
}


# ---------------------------------------------------------------------------- record


def record(
    uow: UnitOfWork,
    kind: str,
    subject: str,
    body: str = "",
    *,
    severity: str = "warning",
    dedup_key: str | None = None,
    package_id: str | None = None,
    location_id: int | None = None,
    job_id: str | None = None,
    details: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> Alert | None:
    """Record an alert in ``uow``'s transaction (the caller commits it with its finding).
    With ``dedup_key``, the same condition found again records nothing (None)."""
    if kind not in ALERT_KINDS:
        raise ValueError(f"no alert kind {kind!r}")
    if severity not in ALERT_SEVERITIES:
        raise ValueError(f"no alert severity {severity!r}")
    if dedup_key is not None:
        found = uow.session.scalar(sa.select(Alert.id).where(Alert.dedup_key == dedup_key))
        if found is not None:
            return None
    alert = Alert(
        kind=kind,
        severity=severity,
        subject=subject[:255],
        body=body,
        dedup_key=dedup_key,
        package_id=package_id,
        location_id=location_id,
        job_id=job_id,
        details=dict(details or {}),
        created_at=now or datetime.now(UTC),
        email_state="pending",
        webhook_state="pending",
        attempts=0,
    )
    uow.session.add(alert)
    uow.session.flush()
    return alert


#: Who closed an alert that closed itself (see :func:`resolve_job_failed`).
RESOLVED_BY = "preserve"


def resolve_job_failed(
    uow: UnitOfWork, job_id: str, note: str, *, now: datetime | None = None
) -> list[int]:
    """Close the open ``job_failed`` alerts of job ``job_id`` in ``uow``'s transaction (the
    one that ends the job as succeeded): each is acknowledged by ``preserve (job ...
    succeeded)`` and keeps ``note`` in its details (``resolved``), so people see why it left
    the open list. Alerts of other jobs, and those someone acknowledged already, are left as
    they are. Returns the ids closed."""
    at = _now(now)
    found = uow.session.execute(
        sa.select(Alert.id, Alert.details).where(
            Alert.kind == "job_failed",
            Alert.job_id == job_id,
            Alert.acknowledged_at.is_(None),
        )
    ).all()
    closed: list[int] = []
    for alert_id, details in found:
        done = uow.session.execute(
            sa.update(Alert)
            .where(Alert.id == alert_id, Alert.acknowledged_at.is_(None))
            .values(
                acknowledged_at=at,
                acknowledged_by=f"{RESOLVED_BY} (job {job_id[:8]} succeeded)",
                details={**(details or {}), "resolved": note},
            )
            .execution_options(synchronize_session=False)
        )
        if done.rowcount == 1:  # type: ignore[attr-defined]
            closed.append(alert_id)
    if closed:
        log.info("job %s succeeded: alert(s) %s resolved", job_id, ", ".join(map(str, closed)))
    return closed


# ---------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class AlertRecord:
    """An alert as people and adapters see it."""

    id: int
    kind: str
    severity: str
    subject: str
    body: str
    package_id: str | None
    location_id: int | None
    location: str | None
    job_id: str | None
    details: dict[str, Any]
    created_at: datetime
    email_state: str
    webhook_state: str
    attempts: int
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None

    @property
    def open(self) -> bool:
        """Not yet acknowledged by anyone."""
        return self.acknowledged_at is None


def _record(alert: Alert, location: str | None) -> AlertRecord:
    return AlertRecord(
        id=alert.id,
        kind=alert.kind,
        severity=alert.severity,
        subject=alert.subject,
        body=alert.body or "",
        package_id=alert.package_id,
        location_id=alert.location_id,
        location=location,
        job_id=alert.job_id,
        details=dict(alert.details or {}),
        created_at=alert.created_at,
        email_state=alert.email_state,
        webhook_state=alert.webhook_state,
        attempts=alert.attempts,
        next_attempt_at=alert.next_attempt_at,
        sent_at=alert.sent_at,
        last_error=alert.last_error,
        acknowledged_at=alert.acknowledged_at,
        acknowledged_by=alert.acknowledged_by,
    )


def _records(uow: UnitOfWork, alerts: Sequence[Alert]) -> list[AlertRecord]:
    ids = {a.location_id for a in alerts if a.location_id is not None}
    names: dict[int, str] = {}
    if ids:
        names = dict(
            uow.session.execute(
                sa.select(StorageLocation.id, StorageLocation.name).where(
                    StorageLocation.id.in_(ids)
                )
            ).all()
        )
    return [
        _record(a, names.get(a.location_id) if a.location_id is not None else None) for a in alerts
    ]


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware UTC")
    return now


def list_alerts(
    app: Application,
    *,
    include_acknowledged: bool = False,
    kind: str | None = None,
    limit: int | None = None,
) -> list[AlertRecord]:
    """Alerts, the latest first: only the open (unacknowledged) ones unless
    ``include_acknowledged``; of one ``kind`` if given."""
    if kind is not None and kind not in ALERT_KINDS:
        raise InvalidInput(f"no alert kind {kind!r}: one of {', '.join(ALERT_KINDS)}")
    query = sa.select(Alert).order_by(Alert.created_at.desc(), Alert.id.desc())
    if not include_acknowledged:
        query = query.where(Alert.acknowledged_at.is_(None))
    if kind is not None:
        query = query.where(Alert.kind == kind)
    if limit is not None:
        query = query.limit(limit)
    with app.uow() as uow:
        return _records(uow, uow.session.scalars(query).all())


def _get(uow: UnitOfWork, alert_id: int) -> Alert:
    alert = uow.session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"no alert {alert_id} (preserve alerts list --all lists them)")
    return alert


def show(app: Application, alert_id: int) -> AlertRecord:
    """The alert ``alert_id``, or :class:`NotFound`."""
    with app.uow() as uow:
        return _records(uow, [_get(uow, alert_id)])[0]


def acknowledge(
    app: Application, alert_id: int, by: str, *, now: datetime | None = None
) -> AlertRecord:
    """Mark the alert as seen and taken care of by ``by``; an alert acknowledged already is
    refused (saying by whom and when), so two people never both think they took it."""
    at = _now(now)
    with app.uow() as uow:
        alert = _get(uow, alert_id)
        done = uow.session.execute(
            sa.update(Alert)
            .where(Alert.id == alert_id, Alert.acknowledged_at.is_(None))
            .values(acknowledged_at=at, acknowledged_by=by)
            .execution_options(synchronize_session=False)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            uow.rollback()
            uow.session.expire_all()
            alert = _get(uow, alert_id)
            raise InvalidInput(
                f"alert {alert_id} was already acknowledged by {alert.acknowledged_by or '?'} "
                f"at {alert.acknowledged_at:%Y-%m-%d %H:%M:%S}Z: nothing to do"
            )
        uow.commit()
        uow.session.expire_all()
        return _records(uow, [_get(uow, alert_id)])[0]


# ---------------------------------------------------------------------------- messages


def commands(alert: AlertRecord) -> list[tuple[str, str]]:
    """The commands that show or settle what the alert is about, with what each does."""
    out: list[tuple[str, str]] = []
    if alert.package_id:
        out.append((f"preserve show {alert.package_id}", "see the package, its copies and events"))
        if alert.kind in ("fixity_failure", "damaged", "repaired"):
            out.append(
                (
                    f"preserve fixity --package {alert.package_id} --repair",
                    "check every copy again and repair what can be repaired",
                )
            )
    if alert.job_id:
        out.append(
            (f"preserve jobs show {alert.job_id}", "see the job, its attempts and its error")
        )
        if alert.kind == "job_failed":
            out.append((f"preserve jobs retry {alert.job_id}", "queue it again"))
    if alert.kind == "backlog":
        out.append(
            ("preserve fixity report", "see coverage and backlog per location and collection")
        )
    if alert.kind == "replication":
        out.append(("preserve locations sync", "see and make the missing copies"))
    if alert.kind == "object_lock":
        out.append(("preserve retention locks --apply", "apply the pending object locks now"))
    out.append((f"preserve alerts show {alert.id}", "see this alert"))
    out.append(
        (
            f"preserve alerts ack {alert.id} --as NAME",
            "acknowledge it once it has been taken care of",
        )
    )
    return out


def email_subject(alert: AlertRecord) -> str:
    tag = "[preserve CRITICAL]" if alert.severity == "critical" else "[preserve]"
    return f"{tag} {KIND_LABELS.get(alert.kind, alert.kind)}: {alert.subject}"


def email_body(alert: AlertRecord) -> str:
    """What happened, the facts, and what to do (the commands), in plain text."""
    lines = [*_wrap(alert.body.strip() or alert.subject, ""), "", "What happened"]
    facts: list[tuple[str, list[str]]] = [
        ("alert", [f"{alert.id} ({KIND_LABELS.get(alert.kind, alert.kind)}, {alert.severity})"]),
        ("when", [f"{alert.created_at:%Y-%m-%d %H:%M:%S} UTC"]),
    ]
    if alert.package_id:
        facts.append(("package", [alert.package_id]))
    if alert.location_id is not None:
        facts.append(("location", [alert.location or str(alert.location_id)]))
    if alert.job_id:
        facts.append(("job", [alert.job_id]))
    for key, value in sorted(alert.details.items()):
        facts.append((key.replace("_", " "), fact_lines(value)))
    width = max(len(k) for k, _ in facts)
    for key, values in facts:
        for i, value in enumerate(values[:MAX_FACT_LINES]):
            lines.append(f"  {key if i == 0 else '':<{width}}  {value}".rstrip())
        if len(values) > MAX_FACT_LINES:
            lines.append(f"  {'':<{width}}  ... and {len(values) - MAX_FACT_LINES} more")
    lines += ["", "What to do", *_wrap(ADVICE.get(alert.kind, ""), "  "), ""]
    for command, what in commands(alert):
        lines += [f"  {what[0].upper()}{what[1:]}:", f"    {command}"]
    lines += ["", "-- ", "preserve, the digital preservation repository"]
    return "\n".join(lines) + "\n"


#: Lines of one fact (a list of damaged files ...) shown in an e-mail; the webhook has them all.
MAX_FACT_LINES = 20


def _wrap(text: str, indent: str) -> list[str]:
    import textwrap

    out: list[str] = []
    for paragraph in text.splitlines() or [""]:
        out += textwrap.wrap(
            paragraph,
            width=76,
            initial_indent=indent,
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
        ) or [""]
    return out


def fact_lines(value: Any) -> list[str]:
    """A detail as lines: a list or a mapping one item a line, a file's record as
    ``path: outcome, message``."""
    if isinstance(value, list):
        return [_fact(v) for v in value] or ["-"]
    if isinstance(value, dict) and value and "path" not in value:
        return [f"{k}: {_fact(v)}" for k, v in value.items()]
    return [_fact(value)]


def _fact(value: Any) -> str:
    if isinstance(value, list):
        return "; ".join(_fact(v) for v in value) if value else "-"
    if isinstance(value, dict):
        rest = ", ".join(f"{k} {_fact(v)}" for k, v in value.items() if k != "path")
        if "path" in value:
            return f"{value['path']}: {rest}" if rest else str(value["path"])
        return rest
    return str(value)


def webhook_document(alert: AlertRecord) -> dict[str, Any]:
    """The JSON body POSTed for an alert: its fields, details and the commands to act on it."""
    return {
        "type": "alert",
        "id": alert.id,
        "kind": alert.kind,
        "severity": alert.severity,
        "subject": alert.subject,
        "body": alert.body,
        "created_at": alert.created_at.isoformat(),
        "package_id": alert.package_id,
        "location_id": alert.location_id,
        "location": alert.location,
        "job_id": alert.job_id,
        "details": alert.details,
        "attempt": alert.attempts,
        "commands": [c for c, _ in commands(alert)],
    }


# ---------------------------------------------------------------------------- delivery


@dataclass(frozen=True)
class Delivery:
    """One channel of one alert in one round: ``sent``, ``retry`` (failed; tried again at
    ``next_attempt_at``) or ``failed`` (out of attempts)."""

    alert_id: int
    channel: str
    outcome: str
    attempt: int
    error: str | None = None
    next_attempt_at: datetime | None = None


@dataclass(frozen=True)
class DeliveryReport:
    """What :func:`deliver_pending` did."""

    deliveries: tuple[Delivery, ...] = ()
    #: Alerts whose channel was switched ``off`` because it is not configured, by channel.
    switched_off: dict[str, int] = field(default_factory=dict)

    @property
    def sent(self) -> tuple[Delivery, ...]:
        return tuple(d for d in self.deliveries if d.outcome == "sent")

    @property
    def retrying(self) -> tuple[Delivery, ...]:
        return tuple(d for d in self.deliveries if d.outcome == "retry")

    @property
    def failed(self) -> tuple[Delivery, ...]:
        return tuple(d for d in self.deliveries if d.outcome == "failed")

    @property
    def ok(self) -> bool:
        return all(d.outcome == "sent" for d in self.deliveries)


def backoff(attempt: int) -> timedelta:
    """How long to wait after failed delivery attempt ``attempt`` (1, 2, ...)."""
    seconds = BACKOFF_BASE_SECONDS * BACKOFF_FACTOR ** max(0, attempt - 1)
    return timedelta(seconds=min(seconds, BACKOFF_MAX_SECONDS))


def configured(settings: Settings) -> dict[str, bool]:
    """Which channels are configured: e-mail needs PRESERVE_SMTP_URL, the webhook
    PRESERVE_WEBHOOK_URL."""
    return {"email": bool(settings.smtp_url), "webhook": bool(settings.webhook_url)}


_STATE = {"email": Alert.email_state, "webhook": Alert.webhook_state}


def _pending() -> sa.ColumnElement[bool]:
    return sa.or_(Alert.email_state == "pending", Alert.webhook_state == "pending")


def _due(at: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(Alert.next_attempt_at.is_(None), Alert.next_attempt_at <= at)


def _sendable(on: Mapping[str, bool]) -> sa.ColumnElement[bool]:
    """Alerts with a pending channel this deliverer can send."""
    wanted = [_STATE[c] == "pending" for c in CHANNELS if on[c]]
    return sa.or_(*wanted) if wanted else sa.false()


def _switch_off(app: Application, on: Mapping[str, bool], at: datetime) -> dict[str, int]:
    """Pending deliveries over a channel that is not configured, older than
    :data:`OFF_AFTER`, become ``off``."""
    switched: dict[str, int] = {}
    off = [c for c in CHANNELS if not on[c]]
    if not off:
        return switched
    with app.uow() as uow:
        for channel in off:
            column = _STATE[channel]
            result = uow.session.execute(
                sa.update(Alert)
                .where(column == "pending", Alert.created_at <= at - OFF_AFTER)
                .values({column: "off"})
                .execution_options(synchronize_session=False)
            )
            if result.rowcount:  # type: ignore[attr-defined]
                switched[channel] = result.rowcount  # type: ignore[attr-defined]
        if switched:  # an alert left with nothing to deliver needs no next attempt
            uow.session.execute(
                sa.update(Alert)
                .where(~_pending(), Alert.next_attempt_at.is_not(None))
                .values(next_attempt_at=None)
                .execution_options(synchronize_session=False)
            )
        uow.commit()
    return switched


def _claim(
    app: Application,
    alert_id: int,
    seen: int,
    at: datetime,
    on: Mapping[str, bool] | None = None,
) -> AlertRecord | None:
    """Take ``alert_id`` for one delivery attempt if no one else took it since it was seen
    with ``seen`` attempts and it still has a channel to send (of those ``on``, default
    any): the alert (its attempts counted up), or None."""
    sendable = _pending() if on is None else _sendable(on)
    with app.uow() as uow:
        result = uow.session.execute(
            sa.update(Alert)
            .where(Alert.id == alert_id, Alert.attempts == seen, sendable, _due(at))
            .values(attempts=seen + 1, next_attempt_at=at + CLAIM)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            uow.rollback()
            return None
        uow.commit()
        return _records(uow, [_get(uow, alert_id)])[0]


def _settle(
    app: Application, alert: AlertRecord, results: Mapping[str, str | None], at: datetime
) -> list[Delivery]:
    """Write what this attempt achieved, if the claim is still ours."""
    values: dict[str, Any] = {}
    deliveries: list[Delivery] = []
    still_pending = False
    errors: list[str] = []
    # the errors of channels that failed for good in an earlier attempt stay on record
    for line in (alert.last_error or "").splitlines():
        label = line.partition(":")[0]
        channel = next((c for c, lab in CHANNEL_LABELS.items() if lab == label), None)
        if channel is not None and channel not in results and _state(alert, channel) == "failed":
            errors.append(line)
    for channel, error in results.items():
        label = CHANNEL_LABELS[channel]
        if error is None:
            values[_STATE[channel].key] = "sent"
            deliveries.append(Delivery(alert.id, channel, "sent", alert.attempts))
            continue
        errors.append(f"{label}: {error}")
        if alert.attempts >= MAX_ATTEMPTS:
            values[_STATE[channel].key] = "failed"
            deliveries.append(Delivery(alert.id, channel, "failed", alert.attempts, error))
        else:
            still_pending = True
            deliveries.append(
                Delivery(
                    alert.id,
                    channel,
                    "retry",
                    alert.attempts,
                    error,
                    at + backoff(alert.attempts),
                )
            )
    values["next_attempt_at"] = at + backoff(alert.attempts) if still_pending else None
    values["last_error"] = "\n".join(errors) or None
    if alert.sent_at is None and any(e is None for e in results.values()):
        values["sent_at"] = at
    with app.uow() as uow:
        result = uow.session.execute(
            sa.update(Alert)
            .where(Alert.id == alert.id, Alert.attempts == alert.attempts)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        uow.commit()
    if result.rowcount != 1:  # type: ignore[attr-defined]
        # the claim ran out while sending and another deliverer took the alert: its outcome
        # is the one on record
        log.warning(
            "alert %d: the claim ran out during delivery; outcome left to the next", alert.id
        )
    for d in deliveries:
        if d.outcome == "sent":
            log.info("alert %d sent by %s", d.alert_id, CHANNEL_LABELS[d.channel])
        else:
            log.warning(
                "alert %d: %s attempt %d of %d failed%s: %s",
                d.alert_id,
                CHANNEL_LABELS[d.channel],
                d.attempt,
                MAX_ATTEMPTS,
                "" if d.outcome == "retry" else " (no attempts left)",
                d.error,
            )
    return deliveries


def _state(alert: AlertRecord, channel: str) -> str:
    return alert.email_state if channel == "email" else alert.webhook_state


def deliver_pending(
    app: Application, *, now: datetime | None = None, limit: int = 100
) -> DeliveryReport:
    """Send every alert (at most ``limit``) whose e-mail or webhook is pending and due, the
    oldest first. Never raises for a delivery problem: each is recorded on its alert
    (``last_error``, ``attempts``, ``next_attempt_at``) and in the report."""
    at = _now(now)
    settings = app.settings
    on = configured(settings)
    switched = _switch_off(app, on, at)
    with app.uow() as uow:
        due = uow.session.execute(
            sa.select(Alert.id, Alert.attempts, Alert.email_state, Alert.webhook_state)
            .where(_sendable(on), _due(at))
            .order_by(Alert.created_at, Alert.id)
            .limit(limit)
        ).all()
    deliveries: list[Delivery] = []
    #: a channel whose server could not be reached in this round is not tried again for the
    #: alerts after it (a server down would cost each its time-out): an alert waiting only on
    #: such channels waits for the next round, unclaimed
    down: dict[str, str] = {}
    mailer: Mailer | None = None
    try:
        for alert_id, seen, email_state, webhook_state in due:
            wanted = {
                c
                for c, state in (("email", email_state), ("webhook", webhook_state))
                if state == "pending" and on[c]
            }
            if wanted <= down.keys():
                continue
            alert = _claim(app, alert_id, seen, at, on)
            if alert is None:  # another deliverer took it
                continue
            results: dict[str, str | None] = {}
            for channel in CHANNELS:
                if _state(alert, channel) != "pending" or not on[channel]:
                    continue  # done, or another process's to send (see OFF_AFTER)
                if channel in down:
                    results[channel] = f"not tried in this round: {down[channel]}"
                    continue
                error: ChannelError | None
                try:
                    if channel == "email":
                        if mailer is None:
                            mailer = Mailer(settings.smtp_url)
                        error = _send_email(settings, mailer, alert)
                    else:
                        error = _post(settings.webhook_url, alert)
                except ChannelError as exc:
                    error = exc
                except Exception as exc:  # a bug: recorded on the alert all the same
                    log.exception("alert %d: %s delivery failed", alert.id, channel)
                    error = ChannelError(f"unexpected error: {type(exc).__name__}: {exc}")
                results[channel] = None if error is None else str(error)
                if error is not None and error.unreachable:
                    down[channel] = f"{error} (alert {alert.id})"
            deliveries += _settle(app, alert, results, at)
    finally:
        if mailer is not None:
            mailer.close()
    return DeliveryReport(tuple(deliveries), switched)


def _send_email(settings: Settings, mailer: Mailer, alert: AlertRecord) -> ChannelError | None:
    """None when sent, else why not."""
    if not settings.alert_to:
        return ChannelError("PRESERVE_ALERT_TO is empty: no one to send the e-mail to")
    message = build_email(
        settings.alert_from,
        settings.alert_to,
        email_subject(alert),
        email_body(alert),
        {"X-Preserve-Alert": f"{alert.id} {alert.kind}"},
    )
    try:
        mailer.send(message)
    except ChannelError as exc:
        return exc
    return None


def _post(url: str, alert: AlertRecord) -> ChannelError | None:
    try:
        post_json(url, webhook_document(alert))
    except ChannelError as exc:
        return exc
    return None


# ---------------------------------------------------------------------------- test


@dataclass(frozen=True)
class ChannelCheck:
    """How a channel fared in ``preserve alerts test``: ``sent``, ``off`` or ``failed``."""

    channel: str
    outcome: str
    detail: str


def check_channels(app: Application, *, now: datetime | None = None) -> list[ChannelCheck]:
    """Send a test e-mail and a test webhook POST with the current settings (nothing is
    recorded); each channel's outcome says exactly what went wrong."""
    at = _now(now)
    settings = app.settings
    on = configured(settings)
    checks: list[ChannelCheck] = []
    text = (
        "This is a test message from preserve (preserve alerts test).\n\n"
        "If you read it, alerts about fixity failures, repairs, damaged packages, failed jobs "
        "and fixity backlogs will reach you this way.\n"
    )
    if not on["email"]:
        checks.append(ChannelCheck("email", "off", "PRESERVE_SMTP_URL is not set: no e-mail"))
    elif not settings.alert_to:
        checks.append(
            ChannelCheck(
                "email", "failed", "PRESERVE_ALERT_TO is empty: no one to send the e-mail to"
            )
        )
    else:
        recipients = ", ".join(settings.alert_to)
        try:
            with Mailer(settings.smtp_url) as mailer:
                mailer.send(
                    build_email(
                        settings.alert_from,
                        settings.alert_to,
                        "[preserve] test: alerts reach you by e-mail",
                        text,
                        {"X-Preserve-Alert": "test"},
                    )
                )
                where = mailer.server.where
        except ChannelError as exc:
            checks.append(ChannelCheck("email", "failed", str(exc)))
        else:
            checks.append(
                ChannelCheck(
                    "email", "sent", f"from {settings.alert_from} to {recipients} via {where}"
                )
            )
    if not on["webhook"]:
        checks.append(ChannelCheck("webhook", "off", "PRESERVE_WEBHOOK_URL is not set: no webhook"))
    else:
        from preserve.channels import _redacted

        try:
            status = post_json(
                settings.webhook_url,
                {"type": "test", "subject": "preserve alerts test", "sent_at": at.isoformat()},
            )
        except ChannelError as exc:
            checks.append(ChannelCheck("webhook", "failed", str(exc)))
        else:
            checks.append(
                ChannelCheck(
                    "webhook", "sent", f"{_redacted(settings.webhook_url)} answered HTTP {status}"
                )
            )
    return checks


# ---------------------------------------------------------------------------- daily report


@dataclass(frozen=True)
class Coverage:
    """Fixity coverage of everything or of one location: copies verified within their interval,
    never checked, past their interval (the backlog), whose last check failed."""

    name: str
    copies: int
    checked_within_interval: int
    never_checked: int
    overdue: int
    failures: int

    @property
    def share(self) -> float:
        """The share of copies verified within their interval (1.0 with no copies)."""
        return self.checked_within_interval / self.copies if self.copies else 1.0

    @property
    def backlog(self) -> int:
        """Copies past their interval."""
        return self.overdue


@dataclass(frozen=True)
class DailyReport:
    """The last day in numbers, and how sending it went."""

    since: datetime
    until: datetime
    coverage: Coverage
    locations: tuple[Coverage, ...]
    checks: dict[str, int]
    alerts_by_kind: dict[str, int]
    damaged_packages: tuple[str, ...]
    failed_jobs: tuple[str, ...]
    open_alerts: int
    open_critical: int
    subject: str
    text: str
    email: str
    webhook: str
    errors: tuple[str, ...] = ()


def fixity_coverage(app: Application, at: datetime) -> tuple[Coverage, tuple[Coverage, ...]]:
    """Coverage overall and per location, as ``preserve fixity report`` counts it
    (:func:`preserve.services.schedule.fixity_report`)."""
    from preserve.services.schedule import fixity_report

    report = fixity_report(app, now=at)

    def line(x: Any) -> Coverage:
        return Coverage(x.name, x.copies, x.within_interval, x.never_checked, x.overdue, x.failures)

    return line(report.total), tuple(line(x) for x in report.locations)


def gather_daily_report(app: Application, *, now: datetime | None = None) -> DailyReport:
    """The report of the day before ``now``, not sent."""
    until = _now(now)
    since = until - timedelta(days=1)
    coverage, locations = fixity_coverage(app, until)
    with app.uow() as uow:
        s = uow.session
        checks = dict(
            s.execute(
                sa.select(Copy.last_outcome, sa.func.count())
                .where(Copy.last_checked_at > since, Copy.last_checked_at <= until)
                .where(Copy.last_outcome.is_not(None))
                .group_by(Copy.last_outcome)
            ).all()
        )
        by_kind = dict(
            s.execute(
                sa.select(Alert.kind, sa.func.count())
                .where(Alert.created_at > since, Alert.created_at <= until)
                .group_by(Alert.kind)
            ).all()
        )
        damaged = tuple(
            s.scalars(
                sa.select(Package.id).where(Package.damaged_at.is_not(None)).order_by(Package.id)
            ).all()
        )
        failed_jobs = tuple(
            s.scalars(
                sa.select(Job.id)
                .where(Job.state == "failed", Job.finished_at > since, Job.finished_at <= until)
                .order_by(Job.finished_at)
            ).all()
        )
        open_alerts = s.scalar(
            sa.select(sa.func.count()).select_from(Alert).where(Alert.acknowledged_at.is_(None))
        )
        open_critical = s.scalar(
            sa.select(sa.func.count())
            .select_from(Alert)
            .where(Alert.acknowledged_at.is_(None), Alert.severity == "critical")
        )
    failures = sum(n for outcome, n in checks.items() if outcome != "ok")
    trouble = failures or coverage.failures or damaged or failed_jobs or open_critical
    subject = (
        f"[preserve] daily report {until:%Y-%m-%d}: "
        + ("needs attention" if trouble else "all well")
        + f", coverage {coverage.share:.1%}"
    )
    report = DailyReport(
        since=since,
        until=until,
        coverage=coverage,
        locations=locations,
        checks={str(k): int(v) for k, v in checks.items()},
        alerts_by_kind={str(k): int(v) for k, v in by_kind.items()},
        damaged_packages=damaged,
        failed_jobs=failed_jobs,
        open_alerts=int(open_alerts or 0),
        open_critical=int(open_critical or 0),
        subject=subject,
        text="",
        email="off",
        webhook="off",
    )
    return _with_text(report, app.settings.fixity_interval_days)


def _with_text(r: DailyReport, default_days: int) -> DailyReport:
    from dataclasses import replace

    c = r.coverage
    checked = sum(r.checks.values())
    lines = [
        f"preserve: the day from {r.since:%Y-%m-%d %H:%M} to {r.until:%Y-%m-%d %H:%M} UTC",
        "",
        "Fixity",
        f"  coverage     {c.checked_within_interval} of {c.copies} copies verified within their "
        f"interval ({c.share:.1%}; default interval {default_days} days)",
        f"  backlog      {c.backlog} copies past their interval; {c.never_checked} never "
        "checked yet",
        f"  failing      {c.failures} copies whose last check failed",
        f"  checked      {checked} copies in the last day: "
        + (", ".join(f"{n} {k}" for k, n in sorted(r.checks.items())) or "none"),
    ]
    lines += [
        f"  location {x.name}: {x.share:.1%} covered, {x.backlog} past their interval, "
        f"{x.failures} failing ({x.copies} copies)"
        for x in r.locations
    ]
    lines += [
        "  (preserve fixity report shows it per location and collection)",
        "",
        "Alerts of the last day",
    ]
    lines += [
        f"  {KIND_LABELS.get(kind, kind):<16} {r.alerts_by_kind.get(kind, 0)}"
        for kind in ALERT_KINDS
    ]
    lines += [
        "",
        f"Open alerts: {r.open_alerts} ({r.open_critical} critical)"
        + ("  -> preserve alerts list" if r.open_alerts else ""),
        f"Damaged packages: {len(r.damaged_packages)}",
    ]
    lines += [f"  preserve show {p}" for p in r.damaged_packages[:50]]
    if len(r.damaged_packages) > 50:
        lines.append(f"  ... and {len(r.damaged_packages) - 50} more")
    lines.append(f"Jobs failed in the last day: {len(r.failed_jobs)}")
    lines += [f"  preserve jobs show {j}" for j in r.failed_jobs[:50]]
    if len(r.failed_jobs) > 50:
        lines.append(f"  ... and {len(r.failed_jobs) - 50} more")
    return replace(r, text="\n".join(lines) + "\n")


def report_document(r: DailyReport) -> dict[str, Any]:
    """The JSON body POSTed for the daily report."""
    c = r.coverage
    return {
        "type": "daily_report",
        "since": r.since.isoformat(),
        "until": r.until.isoformat(),
        "subject": r.subject,
        "fixity": {
            "copies": c.copies,
            "checked_within_interval": c.checked_within_interval,
            "coverage": round(c.share, 6),
            "never_checked": c.never_checked,
            "overdue": c.overdue,
            "failures": c.failures,
            "checks_last_day": r.checks,
            "locations": [
                {
                    "name": x.name,
                    "copies": x.copies,
                    "checked_within_interval": x.checked_within_interval,
                    "coverage": round(x.share, 6),
                    "never_checked": x.never_checked,
                    "overdue": x.overdue,
                    "failures": x.failures,
                }
                for x in r.locations
            ],
        },
        "alerts_last_day": r.alerts_by_kind,
        "open_alerts": r.open_alerts,
        "open_critical_alerts": r.open_critical,
        "damaged_packages": list(r.damaged_packages),
        "failed_jobs": list(r.failed_jobs),
    }


def daily_report(
    app: Application,
    *,
    now: datetime | None = None,
    already_sent: Collection[str] = (),
    on_sent: Callable[[str], None] | None = None,
) -> DailyReport:
    """Gather the report of the last day and send it by e-mail and to the webhook (each
    ``sent``, ``off`` or ``failed`` in the result, with the errors); never raises for a
    delivery problem. Not retried: tomorrow's report follows. A channel in ``already_sent``
    (by an earlier attempt of the same job) is not sent again; ``on_sent(channel)`` is called
    as soon as one has gone."""
    from dataclasses import replace

    r = gather_daily_report(app, now=now)
    settings = app.settings
    on = configured(settings)
    errors: list[str] = []
    state = {"email": "off", "webhook": "off"}

    def send(channel: str, deliver: Callable[[], None]) -> None:
        if channel in already_sent:
            state[channel] = "sent"
            return
        try:
            deliver()
        except ChannelError as exc:
            state[channel] = "failed"
            errors.append(f"{CHANNEL_LABELS[channel]}: {exc}")
            return
        state[channel] = "sent"
        if on_sent is not None:
            on_sent(channel)

    def mail() -> None:
        if not settings.alert_to:
            raise ChannelError("PRESERVE_ALERT_TO is empty: no one to send the e-mail to")
        with Mailer(settings.smtp_url) as mailer:
            mailer.send(
                build_email(
                    settings.alert_from,
                    settings.alert_to,
                    r.subject,
                    r.text,
                    {"X-Preserve-Alert": "daily-report"},
                )
            )

    def hook() -> None:
        post_json(settings.webhook_url, report_document(r))

    if on["email"]:
        send("email", mail)
    if on["webhook"]:
        send("webhook", hook)
    for error in errors:
        log.warning("daily report: %s", error)
    return replace(r, email=state["email"], webhook=state["webhook"], errors=tuple(errors))


@handles("report")
def run_report(app: Application, job: JobRecord, work: Work) -> dict[str, Any]:
    """The ``report`` job: the daily report, sent. Run again after a crash, it reports on the
    same day and does not send again what an earlier attempt sent (the job's checkpoint)."""
    work.check()
    saved = dict(job.checkpoint or {})
    until = datetime.fromisoformat(saved["until"]) if "until" in saved else _now(None)
    sent: list[str] = list(saved.get("sent", []))
    checkpoint = getattr(work, "checkpoint", None)

    def remember(channel: str) -> None:
        sent.append(channel)
        if checkpoint is not None:
            checkpoint({"until": until.isoformat(), "sent": sent})

    if checkpoint is not None and "until" not in saved:
        checkpoint({"until": until.isoformat(), "sent": sent})
    r = daily_report(app, now=until, already_sent=tuple(sent), on_sent=remember)
    return {**report_document(r), "email": r.email, "webhook": r.webhook, "errors": list(r.errors)}
