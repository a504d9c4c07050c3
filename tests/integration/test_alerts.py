"""Alert delivery (issue 10) against a real SMTP server and a real webhook receiver on
loopback ports (``tests/smtpserver.py``), on SQLite and PostgreSQL, with an injected clock:
what arrives, the back-off of failed attempts, an SMTP server down then up, wrong credentials,
channels switched off, and deliverers racing for the same alerts without sending one twice."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from preserve.config.settings import Settings

from preserve.bootstrap import Application, bootstrap
from preserve.catalogue.database import upgrade
from preserve.catalogue.models import Alert
from preserve.services import alerts
from tests.smtpserver import SMTP_PASSWORD, SMTP_USER, SmtpServer, WebhookReceiver, free_port

T0 = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
SENDER = "preserve@archive.example.org"
RECIPIENTS = ("keeper@archive.example.org", "oncall@archive.example.org")
PACKAGE = "3f2a9c1e-0000-4000-8000-000000000001"

MakeApp = Callable[..., Application]


@pytest.fixture
def make_app(tmp_path: Path, database_url: str) -> Iterator[MakeApp]:
    """Applications on one migrated catalogue, each with the alert settings given."""
    upgrade(database_url)
    made: list[Application] = []

    def make(**overrides: object) -> Application:
        settings = Settings.from_env(
            {
                "PRESERVE_HOME": str(tmp_path),
                "PRESERVE_DATABASE_URL": database_url,
                "PRESERVE_ALERT_FROM": SENDER,
                "PRESERVE_ALERT_TO": ",".join(RECIPIENTS),
            }
        ).with_overrides(**overrides)
        application = bootstrap(settings, actor="tester")
        made.append(application)
        return application

    yield make
    for application in made:
        application.close()


def _record(app: Application, n: int = 1, **kw: object) -> list[int]:
    ids = []
    with app.uow() as uow:
        for i in range(n):
            alert = alerts.record(
                uow,
                str(kw.get("kind", "fixity_failure")),
                f"copy of package {PACKAGE} on location default fails its fixity check ({i})",
                "data/photo.tif no longer matches its SHA-256 (flipped bytes).",
                severity="critical",
                package_id=PACKAGE,
                details={"files": ["data/photo.tif"], "outcome": "mismatch"},
                now=T0,
            )
            assert alert is not None
            ids.append(alert.id)
        uow.commit()
    return ids


def test_an_alert_arrives_by_email_and_webhook(
    make_app: MakeApp, smtp_server: SmtpServer, webhook: WebhookReceiver
) -> None:
    app = make_app(smtp_url=smtp_server.url(), webhook_url=webhook.url)
    [alert_id] = _record(app)

    report = alerts.deliver_pending(app, now=T0)

    assert [(d.alert_id, d.channel, d.outcome) for d in report.deliveries] == [
        (alert_id, "email", "sent"),
        (alert_id, "webhook", "sent"),
    ]
    [mail] = smtp_server.messages
    assert mail.mail_from == SENDER
    assert sorted(mail.rcpt_tos) == sorted(RECIPIENTS)
    assert mail.message["From"] == SENDER
    assert mail.message["To"] == ", ".join(RECIPIENTS)
    assert mail.subject.startswith("[preserve CRITICAL] fixity failure: copy of package")
    body = mail.body
    assert "data/photo.tif no longer matches its SHA-256" in body  # what happened
    assert f"preserve show {PACKAGE}" in body  # what to do
    assert f"preserve fixity --package {PACKAGE} --repair" in body
    assert f"preserve alerts ack {alert_id}" in body
    [hook] = webhook.requests
    assert hook.path == "/hooks/preserve"
    assert hook.headers["Content-Type"].startswith("application/json")
    assert hook.body["type"] == "alert"
    assert (hook.body["id"], hook.body["kind"], hook.body["severity"]) == (
        alert_id,
        "fixity_failure",
        "critical",
    )
    assert hook.body["package_id"] == PACKAGE
    assert hook.body["details"] == {"files": ["data/photo.tif"], "outcome": "mismatch"}
    assert hook.body["created_at"] == T0.isoformat()
    shown = alerts.show(app, alert_id)
    assert (shown.email_state, shown.webhook_state, shown.attempts) == ("sent", "sent", 1)
    assert shown.sent_at == T0 and shown.last_error is None and shown.next_attempt_at is None
    # delivered once: another round sends nothing
    assert alerts.deliver_pending(app, now=T0 + timedelta(days=1)).deliveries == ()
    assert len(smtp_server.messages) == 1 and len(webhook.requests) == 1


def test_a_failing_webhook_is_retried_after_its_back_off(
    make_app: MakeApp, smtp_server: SmtpServer, webhook: WebhookReceiver
) -> None:
    app = make_app(smtp_url=smtp_server.url(), webhook_url=webhook.url)
    [alert_id] = _record(app)
    webhook.fail_next(2)

    first = alerts.deliver_pending(app, now=T0)
    assert [(d.channel, d.outcome) for d in first.deliveries] == [
        ("email", "sent"),
        ("webhook", "retry"),
    ]
    failed = first.retrying[0]
    assert failed.error is not None and "answered HTTP 500" in failed.error
    assert failed.next_attempt_at == T0 + alerts.backoff(1) == T0 + timedelta(minutes=1)
    a = alerts.show(app, alert_id)
    assert (a.email_state, a.webhook_state, a.attempts) == ("sent", "pending", 1)
    assert a.last_error is not None and a.last_error.startswith("webhook: the webhook http://")
    assert a.next_attempt_at == T0 + timedelta(minutes=1)

    # not before the back-off has passed
    assert alerts.deliver_pending(app, now=T0 + timedelta(seconds=59)).deliveries == ()
    assert len(webhook.requests) == 1
    second = alerts.deliver_pending(app, now=T0 + timedelta(minutes=1))
    assert [(d.channel, d.outcome, d.attempt) for d in second.deliveries] == [
        ("webhook", "retry", 2)
    ]
    t2 = T0 + timedelta(minutes=1)
    assert second.deliveries[0].next_attempt_at == t2 + timedelta(minutes=4)
    assert alerts.deliver_pending(app, now=t2 + timedelta(minutes=3)).deliveries == ()
    third = alerts.deliver_pending(app, now=t2 + timedelta(minutes=4))
    assert [(d.channel, d.outcome, d.attempt) for d in third.deliveries] == [("webhook", "sent", 3)]
    assert [r.status for r in webhook.requests] == [500, 500, 204]
    assert all(r.body["id"] == alert_id for r in webhook.requests)
    assert len(smtp_server.messages) == 1  # the e-mail went once, in the first round
    a = alerts.show(app, alert_id)
    assert (a.email_state, a.webhook_state, a.attempts, a.last_error) == (
        "sent",
        "sent",
        3,
        None,
    )
    assert a.next_attempt_at is None


def test_smtp_down_then_up(make_app: MakeApp) -> None:
    port = free_port()
    app = make_app(smtp_url=f"smtp://127.0.0.1:{port}")
    [alert_id] = _record(app)

    down = alerts.deliver_pending(app, now=T0)
    [d] = down.deliveries
    assert (d.channel, d.outcome) == ("email", "retry")
    assert d.error == (
        f"cannot connect to the SMTP server 127.0.0.1:{port}: connection refused (is it running?)"
    )
    a = alerts.show(app, alert_id)
    assert a.email_state == "pending" and a.webhook_state == "pending"  # not configured here
    assert a.last_error == f"e-mail: {d.error}"

    server = SmtpServer(port).start()
    try:
        up = alerts.deliver_pending(app, now=T0 + timedelta(minutes=1))
        assert [(x.channel, x.outcome, x.attempt) for x in up.deliveries] == [("email", "sent", 2)]
        [mail] = server.messages
        assert mail.subject.startswith("[preserve CRITICAL] fixity failure")
    finally:
        server.stop()
    assert alerts.show(app, alert_id).email_state == "sent"


def test_wrong_smtp_credentials_are_recorded_clearly(
    make_app: MakeApp, smtp_auth_server: SmtpServer
) -> None:
    wrong = make_app(smtp_url=smtp_auth_server.url(SMTP_USER, "not-the-password"))
    [alert_id] = _record(wrong)
    [d] = alerts.deliver_pending(wrong, now=T0).deliveries
    assert d.outcome == "retry" and d.error is not None
    assert d.error.startswith(
        f"the SMTP server 127.0.0.1:{smtp_auth_server.port} refused the login of user 'alerts' (535"
    )
    assert "check the user and password in PRESERVE_SMTP_URL" in d.error
    assert "not-the-password" not in d.error
    assert smtp_auth_server.messages == []

    # no credentials at all: the server wants AUTH before mail
    anonymous = make_app(smtp_url=smtp_auth_server.url())
    [d] = alerts.deliver_pending(anonymous, now=T0 + timedelta(minutes=1)).deliveries
    assert d.outcome == "retry" and d.error is not None
    assert d.error == (
        f"the SMTP server 127.0.0.1:{smtp_auth_server.port} wants a login first (530 5.7.0 "
        "Authentication required): put USER:PASSWORD in PRESERVE_SMTP_URL"
    )
    assert smtp_auth_server.messages == []

    right = make_app(smtp_url=smtp_auth_server.url(SMTP_USER, SMTP_PASSWORD))
    [d] = alerts.deliver_pending(right, now=T0 + timedelta(minutes=5)).deliveries
    assert (d.outcome, d.attempt) == ("sent", 3)
    assert len(smtp_auth_server.messages) == 1
    assert alerts.show(right, alert_id).email_state == "sent"


def test_a_delivery_out_of_attempts_fails_for_good(
    make_app: MakeApp, smtp_server: SmtpServer, webhook: WebhookReceiver
) -> None:
    app = make_app(smtp_url=smtp_server.url(), webhook_url=webhook.url)
    [alert_id] = _record(app)
    webhook.fail_next(1000, status=503)
    at = T0
    outcomes = []
    for attempt in range(1, alerts.MAX_ATTEMPTS + 1):
        report = alerts.deliver_pending(app, now=at)
        outcomes += [(d.channel, d.outcome) for d in report.deliveries]
        at += alerts.backoff(attempt)
    assert outcomes == [("email", "sent")] + [("webhook", "retry")] * (alerts.MAX_ATTEMPTS - 1) + [
        ("webhook", "failed")
    ]
    a = alerts.show(app, alert_id)
    assert (a.email_state, a.webhook_state, a.attempts) == ("sent", "failed", alerts.MAX_ATTEMPTS)
    assert a.next_attempt_at is None
    assert a.last_error is not None and "answered HTTP 503" in a.last_error
    # nothing more is tried, however late
    assert alerts.deliver_pending(app, now=at + timedelta(days=30)).deliveries == ()
    assert len(webhook.requests) == alerts.MAX_ATTEMPTS


def test_both_channels_off(make_app: MakeApp) -> None:
    app = make_app()  # no PRESERVE_SMTP_URL, no PRESERVE_WEBHOOK_URL
    ids = _record(app, 2)
    # for a day another process (a worker with the settings) may still send them
    report = alerts.deliver_pending(app, now=T0 + alerts.OFF_AFTER - timedelta(seconds=1))
    assert (report.deliveries, report.switched_off) == ((), {})
    for alert_id in ids:
        a = alerts.show(app, alert_id)
        assert (a.email_state, a.webhook_state, a.attempts) == ("pending", "pending", 0)
    report = alerts.deliver_pending(app, now=T0 + alerts.OFF_AFTER)
    assert report.deliveries == ()
    assert report.switched_off == {"email": 2, "webhook": 2}
    for alert_id in ids:
        a = alerts.show(app, alert_id)
        assert (a.email_state, a.webhook_state, a.attempts) == ("off", "off", 0)
    assert alerts.deliver_pending(app, now=T0 + alerts.OFF_AFTER).switched_off == {}


def test_one_channel_off_the_other_delivered(make_app: MakeApp, webhook: WebhookReceiver) -> None:
    app = make_app(webhook_url=webhook.url)
    [alert_id] = _record(app)
    report = alerts.deliver_pending(app, now=T0)
    assert report.switched_off == {}
    assert [(d.channel, d.outcome) for d in report.deliveries] == [("webhook", "sent")]
    a = alerts.show(app, alert_id)
    assert (a.email_state, a.webhook_state) == ("pending", "sent")
    assert a.next_attempt_at is None
    assert alerts.deliver_pending(app, now=T0 + timedelta(hours=1)).deliveries == ()
    report = alerts.deliver_pending(app, now=T0 + alerts.OFF_AFTER)
    assert (report.deliveries, report.switched_off) == ((), {"email": 1})
    a = alerts.show(app, alert_id)
    assert (a.email_state, a.webhook_state) == ("off", "sent")
    assert len(webhook.requests) == 1


def test_a_deliverer_without_smtp_leaves_the_email_to_one_with_it(
    make_app: MakeApp, smtp_server: SmtpServer, webhook: WebhookReceiver
) -> None:
    """A command run where only the webhook is configured (an archivist's laptop) sends the
    webhook and leaves the e-mail pending for a worker that has PRESERVE_SMTP_URL."""
    laptop = make_app(webhook_url=webhook.url)
    worker = make_app(smtp_url=smtp_server.url(), webhook_url=webhook.url)
    [alert_id] = _record(laptop)
    assert [d.channel for d in alerts.deliver_pending(laptop, now=T0).sent] == ["webhook"]
    assert smtp_server.messages == []
    later = alerts.deliver_pending(worker, now=T0 + timedelta(minutes=1))
    assert [(d.channel, d.outcome) for d in later.deliveries] == [("email", "sent")]
    assert len(smtp_server.messages) == 1 and len(webhook.requests) == 1
    a = alerts.show(worker, alert_id)
    assert (a.email_state, a.webhook_state, a.attempts) == ("sent", "sent", 2)


def test_no_recipients_is_a_recorded_failure(make_app: MakeApp, smtp_server: SmtpServer) -> None:
    app = make_app(smtp_url=smtp_server.url(), alert_to=())
    _record(app)
    [d] = alerts.deliver_pending(app, now=T0).deliveries
    assert d.outcome == "retry"
    assert d.error == "PRESERVE_ALERT_TO is empty: no one to send the e-mail to"
    assert smtp_server.messages == []


def test_concurrent_deliverers_never_send_an_alert_twice(
    make_app: MakeApp, smtp_server: SmtpServer, webhook: WebhookReceiver
) -> None:
    apps = [make_app(smtp_url=smtp_server.url(), webhook_url=webhook.url) for _ in range(4)]
    ids = _record(apps[0], 12)
    start = threading.Barrier(len(apps))
    reports: list[alerts.DeliveryReport] = []
    errors: list[BaseException] = []

    def deliver(app: Application) -> None:
        try:
            start.wait()
            reports.append(alerts.deliver_pending(app, now=T0))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(a,)) for a in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    sent = sorted(d.alert_id for r in reports for d in r.deliveries if d.channel == "email")
    assert sent == ids  # each alert by exactly one deliverer
    mailed = sorted(int(m.message["X-Preserve-Alert"].split()[0]) for m in smtp_server.messages)
    assert mailed == ids
    posted = sorted(r.body["id"] for r in webhook.requests)
    assert posted == ids
    with apps[0].uow() as uow:
        attempts = uow.session.scalars(sa.select(Alert.attempts)).all()
    assert sorted(attempts) == [1] * len(ids)


def test_a_claim_left_by_a_dead_deliverer_runs_out(
    make_app: MakeApp, smtp_server: SmtpServer
) -> None:
    app = make_app(smtp_url=smtp_server.url())
    [alert_id] = _record(app)
    # a deliverer claims the alert and dies before sending
    claimed = alerts._claim(app, alert_id, 0, T0)
    assert claimed is not None and claimed.attempts == 1
    assert alerts._claim(app, alert_id, 0, T0) is None  # a second claimant loses
    assert alerts.deliver_pending(app, now=T0 + timedelta(minutes=1)).deliveries == ()
    assert smtp_server.messages == []
    late = alerts.deliver_pending(app, now=T0 + alerts.CLAIM)
    assert [(d.outcome, d.attempt) for d in late.deliveries] == [("sent", 2)]
    assert len(smtp_server.messages) == 1


def test_a_server_down_costs_one_time_out_per_round(make_app: MakeApp) -> None:
    """With the SMTP server down, the first alert of a round records the error and the others
    wait for the next round without an attempt counted against them."""
    port = free_port()
    app = make_app(smtp_url=f"smtp://127.0.0.1:{port}")
    ids = _record(app, 3)
    report = alerts.deliver_pending(app, now=T0)
    assert [(d.alert_id, d.outcome) for d in report.deliveries] == [(ids[0], "retry")]
    assert [alerts.show(app, i).attempts for i in ids] == [1, 0, 0]
    server = SmtpServer(port).start()
    try:
        report = alerts.deliver_pending(app, now=T0 + timedelta(minutes=1))
        assert sorted(d.alert_id for d in report.sent) == ids
        assert len(server.messages) == 3
    finally:
        server.stop()


def test_acknowledge_once(make_app: MakeApp) -> None:
    app = make_app()
    first, second = _record(app, 2)
    done = alerts.acknowledge(app, first, "ann", now=T0 + timedelta(hours=1))
    assert (done.acknowledged_by, done.acknowledged_at, done.open) == (
        "ann",
        T0 + timedelta(hours=1),
        False,
    )
    with pytest.raises(alerts.InvalidInput, match="already acknowledged by ann at 2026-11-29"):
        alerts.acknowledge(app, first, "bob")
    assert alerts.show(app, first).acknowledged_by == "ann"
    assert [a.id for a in alerts.list_alerts(app)] == [second]
    assert [a.id for a in alerts.list_alerts(app, include_acknowledged=True)] == [second, first]
    with pytest.raises(alerts.NotFound, match="no alert 999"):
        alerts.acknowledge(app, 999, "ann")
    with pytest.raises(alerts.InvalidInput, match="no alert kind 'bogus'"):
        alerts.list_alerts(app, kind="bogus")


def test_check_channels_says_what_went_wrong(
    make_app: MakeApp, smtp_auth_server: SmtpServer, webhook: WebhookReceiver
) -> None:
    ok = make_app(smtp_url=smtp_auth_server.url(SMTP_USER, SMTP_PASSWORD), webhook_url=webhook.url)
    checks = alerts.check_channels(ok, now=T0)
    assert [(c.channel, c.outcome) for c in checks] == [("email", "sent"), ("webhook", "sent")]
    [mail] = smtp_auth_server.messages
    assert mail.subject == "[preserve] test: alerts reach you by e-mail"
    assert webhook.requests[0].body["type"] == "test"
    webhook.fail_next(1, status=404)
    bad = make_app(smtp_url=smtp_auth_server.url(SMTP_USER, "wrong"), webhook_url=webhook.url)
    checks = alerts.check_channels(bad, now=T0)
    assert [(c.channel, c.outcome) for c in checks] == [("email", "failed"), ("webhook", "failed")]
    assert "refused the login of user 'alerts'" in checks[0].detail
    assert checks[1].detail == f"the webhook {webhook.url} answered HTTP 404 Not Found"
    assert [(c.channel, c.outcome) for c in alerts.check_channels(make_app())] == [
        ("email", "off"),
        ("webhook", "off"),
    ]
