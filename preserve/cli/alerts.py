"""``preserve alerts``: list, show, acknowledge and send the alerts (issue 10), and test the
e-mail and webhook settings."""

from __future__ import annotations

import sys
from typing import Any

import click

from preserve.cli.base import app, as_option, cli, say
from preserve.cli.output import as_dict, emit_json

#: Alert kinds (preserve.catalogue.models.ALERT_KINDS, which imports SQLAlchemy)
KINDS = ("fixity_failure", "repaired", "damaged", "job_failed", "backlog", "replication")
CHANNEL_LABELS = {"email": "e-mail", "webhook": "webhook"}

ALERT_ID = click.IntRange(min=1)


@cli.group()
def alerts() -> None:
    """What people must be told (fixity failures, repairs, damaged packages, failed jobs, a
    fixity backlog): each alert is recorded, then sent by e-mail (PRESERVE_SMTP_URL to
    PRESERVE_ALERT_TO) and to PRESERVE_WEBHOOK_URL, retried until delivered."""


def _json(a: Any) -> dict[str, Any]:
    data: dict[str, Any] = as_dict(a)
    data["open"] = a.open
    return data


def _delivery(a: Any) -> str:
    return f"e-mail {a.email_state}, webhook {a.webhook_state}"


@alerts.command("list")
@click.option("--all", "show_all", is_flag=True, help="Acknowledged alerts too.")
@click.option("--kind", type=click.Choice(KINDS), default=None, help="Only alerts of this kind.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def alerts_list(show_all: bool, kind: str | None, limit: int, as_json: bool) -> None:
    """List the open (unacknowledged) alerts, the latest first: id, when, severity, kind,
    delivery, subject.

    \b
    Examples:
      preserve alerts list
      preserve alerts list --all --kind fixity_failure --json
    """
    from preserve.services.alerts import list_alerts

    found = list_alerts(app(), include_acknowledged=show_all, kind=kind, limit=limit)
    if as_json:
        emit_json([_json(a) for a in found])
        return
    if not found:
        what = f"{kind} alerts" if kind else "alerts"
        say(f"no {what}" if show_all else f"no open {what}")
        return
    for a in found:
        acked = "" if a.open else f"  (acknowledged by {a.acknowledged_by})"
        say(
            f"{a.id:>5}  {a.created_at:%Y-%m-%d %H:%M}  {a.severity:<8}  {a.kind:<14}  "
            f"{_delivery(a)}  {a.subject}{acked}"
        )


@alerts.command("show")
@click.argument("alert_id", type=ALERT_ID)
@click.option("--json", "as_json", is_flag=True)
def alerts_show(alert_id: int, as_json: bool) -> None:
    """Show one alert: what happened, its delivery, and the commands to act on it.

    \b
    Examples:
      preserve alerts show 12
      preserve alerts show 12 --json
    """
    from preserve.services.alerts import KIND_LABELS, MAX_ATTEMPTS, commands, fact_lines, show

    a = show(app(), alert_id)
    if as_json:
        data = _json(a)
        data["commands"] = [c for c, _ in commands(a)]
        emit_json(data)
        return
    rows = [
        ("alert", f"{a.id} ({KIND_LABELS.get(a.kind, a.kind)}, {a.severity})"),
        ("subject", a.subject),
        ("created", a.created_at.isoformat()),
    ]
    if a.package_id:
        rows.append(("package", a.package_id))
    if a.location_id is not None:
        rows.append(("location", a.location or str(a.location_id)))
    if a.job_id:
        rows.append(("job", a.job_id))
    for key, value in sorted(a.details.items()):
        for i, line in enumerate(fact_lines(value)):
            rows.append((key.replace("_", " ") if i == 0 else "", line))
    rows.append(("delivery", f"{_delivery(a)}, attempt {a.attempts} of {MAX_ATTEMPTS}"))
    if a.sent_at:
        rows.append(("sent", a.sent_at.isoformat()))
    if a.next_attempt_at and "pending" in (a.email_state, a.webhook_state):
        rows.append(("next attempt", a.next_attempt_at.isoformat()))
    for line in (a.last_error or "").splitlines():
        rows.append(("error", line))
    if a.acknowledged_at:
        rows.append(("acknowledged", f"{a.acknowledged_at.isoformat()} by {a.acknowledged_by}"))
    else:
        rows.append(("acknowledged", "no (open)"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        say(f"{key:<{width}}  {value}".rstrip())
    if a.body.strip():
        say("")
        for line in a.body.strip().splitlines():
            say(line)
    say("")
    shown = commands(a)
    cwidth = max(len(c) for c, _ in shown)
    for command, what in shown:
        say(f"  {command:<{cwidth}}   {what}")


@alerts.command("ack")
@click.argument("alert_id", type=ALERT_ID)
@as_option
def alerts_ack(alert_id: int) -> None:
    """Acknowledge an alert: someone has seen it and takes care of it (it leaves the open
    list; a second acknowledgement is refused, naming who came first).

    \b
    Examples:
      preserve alerts ack 12
      preserve alerts ack 12 --as 'Ann Archivist'
    """
    from preserve.services.alerts import acknowledge

    application = app()
    a = acknowledge(application, alert_id, application.actor)
    say(f"acknowledged alert {a.id} ({a.subject}) as {a.acknowledged_by}")


@alerts.command("send")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def alerts_send(limit: int, as_json: bool) -> None:
    """Deliver the pending alerts now (the workers do it too) and say what was sent and what
    failed; exit 1 when a delivery failed (it is retried later, up to its last attempt).

    \b
    Examples:
      preserve alerts send
      preserve alerts send --json
    """
    from preserve.services.alerts import MAX_ATTEMPTS, deliver_pending

    report = deliver_pending(app(), limit=limit)
    if as_json:
        emit_json(
            {
                "deliveries": [as_dict(d) for d in report.deliveries],
                "sent": len(report.sent),
                "retrying": len(report.retrying),
                "failed": len(report.failed),
                "switched_off": report.switched_off,
            }
        )
    else:
        for channel, n in sorted(report.switched_off.items()):
            what = {"email": "PRESERVE_SMTP_URL", "webhook": "PRESERVE_WEBHOOK_URL"}[channel]
            say(f"{CHANNEL_LABELS[channel]} off for {n} alert(s): {what} is not set")
        for d in report.deliveries:
            label = CHANNEL_LABELS[d.channel]
            if d.outcome == "sent":
                say(f"sent alert {d.alert_id} by {label}")
            elif d.outcome == "retry":
                say(
                    f"FAILED alert {d.alert_id} by {label} (attempt {d.attempt} of "
                    f"{MAX_ATTEMPTS}, next at {d.next_attempt_at:%Y-%m-%d %H:%M:%S}Z): {d.error}"
                )
            else:
                say(
                    f"FAILED alert {d.alert_id} by {label} for good (attempt {d.attempt} of "
                    f"{MAX_ATTEMPTS}): {d.error}"
                )
        if not report.deliveries:
            say("nothing to send")
        else:
            say(
                f"{len(report.sent)} sent, {len(report.retrying)} to retry, "
                f"{len(report.failed)} failed for good"
            )
    if not report.ok:
        sys.exit(1)


@alerts.command("test")
@click.option("--json", "as_json", is_flag=True)
def alerts_test(as_json: bool) -> None:
    """Send a test e-mail and a test webhook POST with the current settings and say exactly
    what went wrong; exit 1 when a configured channel fails, 2 when none is configured.

    \b
    Examples:
      preserve alerts test
      PRESERVE_SMTP_URL='smtp://user:password@mail.example.org:587?starttls=true' \\
        PRESERVE_ALERT_TO=archive@example.org preserve alerts test
    """
    from preserve.errors import ConfigError
    from preserve.services.alerts import check_channels

    checks = check_channels(app())
    if as_json:
        emit_json([as_dict(c) for c in checks])
    else:
        for c in checks:
            label = CHANNEL_LABELS[c.channel]
            if c.outcome == "failed":
                click.echo(f"error: {label}: {c.detail}", err=True)
            else:
                say(f"{label}: {c.outcome}: {c.detail}")
    if any(c.outcome == "failed" for c in checks):
        sys.exit(1)
    if all(c.outcome == "off" for c in checks):
        raise ConfigError(
            "no alert channel is configured: set PRESERVE_SMTP_URL and PRESERVE_ALERT_TO for "
            "e-mail, PRESERVE_WEBHOOK_URL for the webhook"
        )


@alerts.command("report")
@click.option(
    "--send",
    is_flag=True,
    help="Also send it by e-mail and to the webhook, as the workers' daily report job does.",
)
@click.option("--json", "as_json", is_flag=True)
def alerts_report(send: bool, as_json: bool) -> None:
    """Show the report of the last day: fixity coverage and backlog, checks, alerts by kind,
    damaged packages, failed jobs, open alerts. With --send, send it too (exit 1 when a
    configured channel fails).

    \b
    Examples:
      preserve alerts report
      preserve alerts report --send
      preserve alerts report --json
    """
    from preserve.services.alerts import daily_report, gather_daily_report, report_document

    application = app()
    r = daily_report(application) if send else gather_daily_report(application)
    if as_json:
        data = report_document(r)
        if send:
            data.update(email=r.email, webhook=r.webhook, errors=list(r.errors))
        emit_json(data)
    else:
        say(r.subject)
        say("")
        for line in r.text.rstrip("\n").splitlines():
            say(line)
        if send:
            say("")
            for channel in ("email", "webhook"):
                state = r.email if channel == "email" else r.webhook
                if state != "failed":
                    say(f"{CHANNEL_LABELS[channel]}: {state}")
            for error in r.errors:
                click.echo(f"error: {error}", err=True)
    if send and r.errors:
        sys.exit(1)
