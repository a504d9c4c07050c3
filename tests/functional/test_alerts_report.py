"""The daily report (issue 10, point 8) on a real repository (packages ingested and checked
through the command line, on SQLite and PostgreSQL): its numbers (coverage and backlog as
``preserve fixity report`` counts them, checks, alerts by kind, damaged packages, failed jobs,
open alerts), the e-mail and JSON POST that carry it, a failing channel recorded, and the
``report`` job run by the real job runner."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from preserve.config.settings import Settings

from preserve.bootstrap import Application, bootstrap
from preserve.catalogue.models import Package
from preserve.services import alerts, jobs, runner
from tests.functional.cli import Repo
from tests.smtpserver import SmtpServer, WebhookReceiver, free_port


@pytest.fixture
def stocked(tmp_path: Path, database_url: str) -> Iterator[tuple[Repo, list[str]]]:
    """A repository with two packages, both checked once."""
    repo = Repo(home=tmp_path / "home", database_url=database_url)
    repo.run("init")
    repo.run("collections", "add", "photos")
    ids = []
    for name in ("one", "two"):
        delivery = tmp_path / name
        delivery.mkdir()
        (delivery / "a.bin").write_bytes(os.urandom(5000))
        ids.append(
            repo.json("ingest", delivery, "--collection", "photos")["packages"][0]["package_id"]
        )
    repo.run("fixity", "--all")
    yield repo, ids


def _app(repo: Repo, **env: str) -> Application:
    return bootstrap(Settings.from_env({**repo.env, **env}), actor="tester")


def test_the_daily_report(
    stocked: tuple[Repo, list[str]], smtp_server: SmtpServer, webhook: WebhookReceiver
) -> None:
    repo, (one, two) = stocked
    now = datetime.now(UTC) + timedelta(minutes=1)
    app = _app(
        repo,
        PRESERVE_SMTP_URL=smtp_server.url(),
        PRESERVE_ALERT_TO="keeper@example.org",
        PRESERVE_ALERT_FROM="preserve@example.org",
        PRESERVE_WEBHOOK_URL=webhook.url,
    )
    try:
        with app.uow() as uow:
            alerts.record(uow, "fixity_failure", "one fails", package_id=one, now=now)
            alerts.record(uow, "repaired", "one repaired", package_id=one, now=now)
            alerts.record(uow, "damaged", "two damaged", package_id=two, now=now)
            old = alerts.record(uow, "backlog", "an old backlog", now=now - timedelta(days=3))
            assert old is not None
            old_id = old.id
            uow.session.execute(
                sa.update(Package)
                .where(Package.id == two)
                .values(
                    damaged_at=now,
                    damage=[{"version": 1, "path": "data/a.bin", "reason": "no good copy"}],
                )
            )
            job = jobs.enqueue(uow, "noop", {}, requested_by="tester", max_attempts=1, now=now)
            uow.commit()
        assert jobs.claim(app, job.id, "w", timedelta(minutes=5), now=now) is not None
        failed = jobs.fail(app, job.id, "w", "it broke", retryable=False, now=now)
        assert failed is not None and failed.state == "failed"
        alerts.acknowledge(app, old_id, "ann", now=now)
        with app.uow() as uow:
            alerts.record(uow, "backlog", "a new backlog", now=now - timedelta(days=2))
            uow.commit()

        report = alerts.daily_report(app, now=now)

        assert (report.email, report.webhook, report.errors) == ("sent", "sent", ())
        c = report.coverage
        assert (c.copies, c.checked_within_interval, c.never_checked, c.overdue, c.failures) == (
            2,
            2,
            0,
            0,
            0,
        )
        assert [x.name for x in report.locations] == ["default"]
        assert report.checks == {"ok": 2}
        # the failed job made its own alert
        kinds = {"fixity_failure": 1, "repaired": 1, "damaged": 1, "job_failed": 1}
        assert report.alerts_by_kind == kinds
        assert report.damaged_packages == (two,)
        assert report.failed_jobs == (job.id,)
        assert (report.open_alerts, report.open_critical) == (5, 0)
        [mail] = smtp_server.messages
        assert mail.mail_from == "preserve@example.org"
        assert mail.rcpt_tos == ["keeper@example.org"]
        assert mail.subject == (
            f"[preserve] daily report {now:%Y-%m-%d}: needs attention, coverage 100.0%"
        )
        body = mail.body
        assert (
            "2 of 2 copies verified within their interval (100.0%; default interval 90 days)"
            in (body)
        )
        assert "checked      2 copies in the last day: 2 ok" in body
        assert "  fixity failure   1\n  copy repaired    1\n  package damaged  1\n" in body
        assert "  job failed       1\n" in body
        assert "  fixity backlog   0\n" in body  # three and two days ago: not the last day
        assert "Open alerts: 5 (0 critical)" in body
        assert f"Damaged packages: 1\n  preserve show {two}\n" in body
        assert f"Jobs failed in the last day: 1\n  preserve jobs show {job.id}\n" in body
        [hook] = webhook.requests
        document = hook.body
        assert document["type"] == "daily_report"
        assert document["fixity"]["copies"] == 2 and document["fixity"]["coverage"] == 1.0
        assert document["fixity"]["locations"][0]["name"] == "default"
        assert document["damaged_packages"] == [two]
        assert document["failed_jobs"] == [job.id]
        assert document["alerts_last_day"] == kinds

        # 100 days later nothing was checked again: every copy is past its interval
        later = alerts.gather_daily_report(app, now=now + timedelta(days=100))
        c = later.coverage
        assert (c.copies, c.checked_within_interval, c.backlog) == (2, 0, 2)
        assert later.checks == {} and later.failed_jobs == ()
        assert later.subject.endswith("coverage 0.0%")
    finally:
        app.close()


def test_a_failing_channel_is_reported_not_raised(stocked: tuple[Repo, list[str]]) -> None:
    repo, _ = stocked
    port = free_port()
    app = _app(repo, PRESERVE_SMTP_URL=f"smtp://127.0.0.1:{port}", PRESERVE_ALERT_TO="k@e.org")
    try:
        report = alerts.daily_report(app)
    finally:
        app.close()
    assert (report.email, report.webhook) == ("failed", "off")
    assert report.errors == (
        f"e-mail: cannot connect to the SMTP server 127.0.0.1:{port}: connection refused "
        "(is it running?)",
    )
    assert report.subject.endswith("all well, coverage 100.0%")


def test_the_report_job(
    stocked: tuple[Repo, list[str]], smtp_server: SmtpServer, webhook: WebhookReceiver
) -> None:
    repo, _ = stocked
    app = _app(
        repo,
        PRESERVE_SMTP_URL=smtp_server.url(),
        PRESERVE_ALERT_TO="keeper@example.org",
        PRESERVE_WEBHOOK_URL=webhook.url,
    )
    try:
        job = jobs.submit(app, "report", {}, publish=lambda job_id: None)
        assert runner.run_job(app, job.id, "test-worker") == "succeeded"
        done = jobs.show(app, job.id)
    finally:
        app.close()
    assert done.result is not None
    assert (done.result["email"], done.result["webhook"], done.result["errors"]) == (
        "sent",
        "sent",
        [],
    )
    assert done.result["fixity"]["copies"] == 2
    [mail] = smtp_server.messages
    assert mail.subject.startswith("[preserve] daily report ")
    assert [h.body["type"] for h in webhook.requests] == ["daily_report"]


def test_the_report_job_run_again_sends_only_what_was_not_sent(
    stocked: tuple[Repo, list[str]], smtp_server: SmtpServer, webhook: WebhookReceiver
) -> None:
    """A worker sent the e-mail, saved that in the job's checkpoint and died: the next attempt
    reports on the same day and only POSTs to the webhook."""
    repo, _ = stocked
    app = _app(
        repo,
        PRESERVE_SMTP_URL=smtp_server.url(),
        PRESERVE_ALERT_TO="keeper@example.org",
        PRESERVE_WEBHOOK_URL=webhook.url,
    )
    until = datetime.now(UTC) - timedelta(hours=1)
    try:
        job = jobs.submit(app, "report", {}, publish=lambda job_id: None)
        dead = jobs.claim(app, job.id, "dead-worker", timedelta(minutes=1), now=until)
        assert dead is not None
        saved = {"until": until.isoformat(), "sent": ["email"]}
        assert jobs.save_checkpoint(app, job.id, "dead-worker", saved)
        assert runner.run_job(app, job.id, "test-worker") == "succeeded"
        done = jobs.show(app, job.id)
    finally:
        app.close()
    assert smtp_server.messages == []  # not again
    [hook] = webhook.requests
    assert hook.body["until"] == until.isoformat()
    assert done.result is not None
    assert (done.result["email"], done.result["webhook"]) == ("sent", "sent")
    assert done.attempts == 2


def test_the_report_command(stocked: tuple[Repo, list[str]], smtp_server: SmtpServer) -> None:
    repo, _ = stocked
    shown = repo.run("alerts", "report").stdout.splitlines()
    assert shown[0].startswith("[preserve] daily report ")
    assert shown[0].endswith(": all well, coverage 100.0%")
    assert "  checked      2 copies in the last day: 2 ok" in shown
    assert "Open alerts: 0 (0 critical)" in shown
    data = repo.json("alerts", "report")
    assert data["type"] == "daily_report"
    assert (data["fixity"]["copies"], data["fixity"]["checked_within_interval"]) == (2, 2)
    assert "email" not in data  # nothing was sent

    repo.extra_env.update(
        {"PRESERVE_SMTP_URL": smtp_server.url(), "PRESERVE_ALERT_TO": "keeper@example.org"}
    )
    sent = repo.run("alerts", "report", "--send")
    assert sent.stdout.splitlines()[-2:] == ["e-mail: sent", "webhook: off"]
    [mail] = smtp_server.messages
    assert mail.subject == sent.stdout.splitlines()[0]

    port = free_port()
    repo.extra_env["PRESERVE_SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    failed = repo.run("alerts", "report", "--send", "--json", ok=False)
    assert failed.exit_code == 1
    data = json.loads(failed.stdout)
    assert (data["email"], data["webhook"]) == ("failed", "off")
    assert data["errors"] == [
        f"e-mail: cannot connect to the SMTP server 127.0.0.1:{port}: connection refused "
        "(is it running?)"
    ]
    assert len(smtp_server.messages) == 1
