"""``preserve alerts`` list, show, ack, send and test through the real command line, with a
real SMTP server and webhook receiver on loopback ports; bad input (an unknown alert, an
alert acknowledged twice, an id that is no number, no channel configured) gets one clear line
and its exit code."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from preserve.config.settings import Settings

from preserve.bootstrap import bootstrap
from preserve.services import alerts
from tests.functional.cli import Repo
from tests.smtpserver import SMTP_PASSWORD, SMTP_USER, SmtpServer, WebhookReceiver, free_port

#: when the alerts of these tests were found: two days ago (a channel not configured is
#: switched off after a day)
T0 = (datetime.now(UTC) - timedelta(days=2)).replace(microsecond=0)
PACKAGE = "3f2a9c1e-0000-4000-8000-000000000001"
JOB = "7f3a9c1e-0000-4000-8000-000000000002"


def _record(repo: Repo) -> tuple[int, int]:
    app = bootstrap(Settings.from_env(repo.env), actor="tester")
    try:
        with app.uow() as uow:
            fixity = alerts.record(
                uow,
                "fixity_failure",
                f"copy of package {PACKAGE} on location default fails its fixity check",
                "data/a.bin no longer matches its SHA-256.",
                severity="critical",
                package_id=PACKAGE,
                details={"files": ["data/a.bin"]},
                now=T0,
            )
            job = alerts.record(
                uow,
                "job_failed",
                f"job {JOB[:8]} (replicate) failed after 5 attempts",
                "storage location offsite unavailable",
                job_id=JOB,
                now=T0,
            )
            assert fixity is not None and job is not None
            ids = (fixity.id, job.id)
            uow.commit()
    finally:
        app.close()
    return ids


def test_list_show_and_ack(repo: Repo) -> None:
    assert repo.run("alerts", "list").stdout == "no open alerts\n"
    assert repo.json("alerts", "list") == []
    fixity, job = _record(repo)

    lines = repo.run("alerts", "list").stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].split()[0] == str(job)  # the latest first (same time: higher id)
    assert "job_failed" in lines[0] and "e-mail pending, webhook pending" in lines[0]
    assert "critical" in lines[1] and f"copy of package {PACKAGE}" in lines[1]
    listed = repo.json("alerts", "list", "--kind", "fixity_failure")
    assert [(a["id"], a["kind"], a["open"], a["package_id"]) for a in listed] == [
        (fixity, "fixity_failure", True, PACKAGE)
    ]
    assert listed[0]["details"] == {"files": ["data/a.bin"]}

    shown = repo.run("alerts", "show", str(job)).stdout
    assert f"alert         {job} (job failed, warning)" in shown
    assert f"job           {JOB}" in shown
    assert "acknowledged  no (open)" in shown
    assert "storage location offsite unavailable" in shown
    assert f"preserve jobs retry {JOB}" in shown
    data = repo.json("alerts", "show", str(fixity))
    assert data["id"] == fixity and data["severity"] == "critical"
    assert f"preserve fixity --package {PACKAGE} --repair" in data["commands"]

    acked = repo.run("alerts", "ack", str(fixity), "--as", "Ann Archivist")
    assert acked.stdout == (
        f"acknowledged alert {fixity} (copy of package {PACKAGE} on location default fails its "
        "fixity check) as Ann Archivist\n"
    )
    assert [a["id"] for a in repo.json("alerts", "list")] == [job]
    everything = repo.json("alerts", "list", "--all")
    assert [(a["id"], a["open"], a["acknowledged_by"]) for a in everything] == [
        (job, True, None),
        (fixity, False, "Ann Archivist"),
    ]
    assert "(acknowledged by Ann Archivist)" in repo.run("alerts", "list", "--all").stdout
    assert "acknowledged  20" in repo.run("alerts", "show", str(fixity)).stdout


def test_bad_input(repo: Repo) -> None:
    fixity, _job = _record(repo)
    unknown = repo.run("alerts", "show", "999", ok=False)
    assert unknown.exit_code == 3
    assert unknown.stderr == "error: no alert 999 (preserve alerts list --all lists them)\n"
    assert repo.run("alerts", "ack", "999", ok=False).exit_code == 3

    repo.run("alerts", "ack", str(fixity), "--as", "ann")
    twice = repo.run("alerts", "ack", str(fixity), "--as", "bob", ok=False)
    assert twice.exit_code == 2
    assert twice.stderr.startswith(f"error: alert {fixity} was already acknowledged by ann at ")
    assert twice.stderr.endswith(": nothing to do\n")
    assert twice.stdout == ""
    assert repo.json("alerts", "show", str(fixity))["acknowledged_by"] == "ann"

    for bad in ("abc", "0", ""):
        result = repo.run("alerts", "show", bad, ok=False)
        assert result.exit_code == 2, bad
        assert result.stderr.startswith("error: "), result.stderr
        assert "Traceback" not in result.output
    kind = repo.run("alerts", "list", "--kind", "bogus", ok=False)
    assert kind.exit_code == 2 and "'bogus' is not one of" in kind.stderr


def test_send(repo: Repo, smtp_server: SmtpServer, webhook: WebhookReceiver) -> None:
    fixity, job = _record(repo)
    repo.extra_env.update(
        {
            "PRESERVE_SMTP_URL": smtp_server.url(),
            "PRESERVE_ALERT_TO": "keeper@example.org",
            "PRESERVE_ALERT_FROM": "preserve@example.org",
            "PRESERVE_WEBHOOK_URL": webhook.url,
        }
    )
    webhook.fail_next(1)
    result = repo.run("alerts", "send", ok=False)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"sent alert {fixity} by e-mail"
    assert lines[1].startswith(f"FAILED alert {fixity} by webhook (attempt 1 of 6, next at ")
    assert lines[1].endswith(
        f"): the webhook {webhook.url} answered HTTP 500 Internal Server Error"
    )
    assert lines[2:] == [
        f"sent alert {job} by e-mail",
        f"sent alert {job} by webhook",
        "3 sent, 1 to retry, 0 failed for good",
    ]
    assert sorted(m.subject for m in smtp_server.messages) == [
        f"[preserve CRITICAL] fixity failure: copy of package {PACKAGE} on location default "
        "fails its fixity check",
        f"[preserve] job failed: job {JOB[:8]} (replicate) failed after 5 attempts",
    ]
    assert {m.mail_from for m in smtp_server.messages} == {"preserve@example.org"}
    shown = repo.run("alerts", "show", str(fixity)).stdout
    assert "e-mail sent, webhook pending, attempt 1 of 6" in shown
    assert "error         webhook: the webhook" in shown
    # the back-off has not passed: nothing is due
    assert repo.run("alerts", "send").stdout == "nothing to send\n"
    assert repo.json("alerts", "send") == {
        "deliveries": [],
        "sent": 0,
        "retrying": 0,
        "failed": 0,
        "switched_off": {},
    }


def test_send_with_no_channel_configured(repo: Repo) -> None:
    _record(repo)
    result = repo.run("alerts", "send")
    assert result.stdout.splitlines() == [
        "e-mail off for 2 alert(s): PRESERVE_SMTP_URL is not set",
        "webhook off for 2 alert(s): PRESERVE_WEBHOOK_URL is not set",
        "nothing to send",
    ]
    assert "e-mail off, webhook off" in repo.run("alerts", "list").stdout


def test_test_command(repo: Repo, smtp_auth_server: SmtpServer, webhook: WebhookReceiver) -> None:
    none = repo.run("alerts", "test", ok=False)
    assert none.exit_code == 2
    assert none.stdout.splitlines() == [
        "e-mail: off: PRESERVE_SMTP_URL is not set: no e-mail",
        "webhook: off: PRESERVE_WEBHOOK_URL is not set: no webhook",
    ]
    assert none.stderr == (
        "error: no alert channel is configured: set PRESERVE_SMTP_URL and PRESERVE_ALERT_TO for "
        "e-mail, PRESERVE_WEBHOOK_URL for the webhook\n"
    )

    repo.extra_env.update(
        {
            "PRESERVE_SMTP_URL": smtp_auth_server.url(SMTP_USER, SMTP_PASSWORD),
            "PRESERVE_ALERT_TO": "keeper@example.org",
            "PRESERVE_WEBHOOK_URL": webhook.url,
        }
    )
    good = repo.run("alerts", "test")
    assert good.stdout.splitlines() == [
        "e-mail: sent: from preserve@localhost to keeper@example.org via "
        f"127.0.0.1:{smtp_auth_server.port}",
        f"webhook: sent: {webhook.url} answered HTTP 204",
    ]
    [mail] = smtp_auth_server.messages
    assert mail.rcpt_tos == ["keeper@example.org"]
    assert [r.body["type"] for r in webhook.requests] == ["test"]

    repo.extra_env["PRESERVE_SMTP_URL"] = smtp_auth_server.url(SMTP_USER, "wrong")
    webhook.fail_next(1, status=500)
    bad = repo.run("alerts", "test", ok=False)
    assert bad.exit_code == 1
    assert bad.stderr.splitlines() == [
        f"error: e-mail: the SMTP server 127.0.0.1:{smtp_auth_server.port} refused the login of "
        "user 'alerts' (535 5.7.8 Authentication credentials invalid): check the user and "
        "password in PRESERVE_SMTP_URL",
        f"error: webhook: the webhook {webhook.url} answered HTTP 500 Internal Server Error",
    ]
    assert "wrong" not in bad.output

    port = free_port()
    repo.extra_env["PRESERVE_SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    del repo.extra_env["PRESERVE_WEBHOOK_URL"]
    down = repo.run("alerts", "test", "--json", ok=False)
    assert down.exit_code == 1
    assert json.loads(down.stdout) == [
        {
            "channel": "email",
            "outcome": "failed",
            "detail": f"cannot connect to the SMTP server 127.0.0.1:{port}: connection refused "
            "(is it running?)",
        },
        {
            "channel": "webhook",
            "outcome": "off",
            "detail": "PRESERVE_WEBHOOK_URL is not set: no webhook",
        },
    ]


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9/", "smtp://"],
    ids=["not-smtp", "no-host"],
)
def test_a_bad_smtp_url(repo: Repo, url: str) -> None:
    repo.extra_env.update({"PRESERVE_SMTP_URL": url, "PRESERVE_ALERT_TO": "a@example.org"})
    result = repo.run("alerts", "test", ok=False)
    assert result.exit_code in (1, 2)
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.output


def test_a_flipped_byte_reaches_the_keeper(
    repo: Repo, tmp_path: Path, smtp_server: SmtpServer, webhook: WebhookReceiver
) -> None:
    """End to end: a byte flipped on the storage, found by `preserve fixity`, is an alert
    mailed (naming the package, the file and the command that repairs it) and POSTed by the
    time the command ends; it stays open until acknowledged."""
    delivery = tmp_path / "delivery"
    delivery.mkdir()
    (delivery / "photo.bin").write_bytes(b"\x00" * 4096)
    package = repo.json("ingest", delivery, "--collection", "photos")["packages"][0]["package_id"]
    [stored] = [k for k in repo.stored_keys() if k.endswith("data/photo.bin")]
    target = repo.storage_root / stored
    data = bytearray(target.read_bytes())
    data[100] ^= 0xFF
    target.write_bytes(bytes(data))
    repo.extra_env.update(
        {
            "PRESERVE_SMTP_URL": smtp_server.url(),
            "PRESERVE_ALERT_TO": "keeper@example.org",
            "PRESERVE_WEBHOOK_URL": webhook.url,
        }
    )
    assert repo.run("fixity", "--package", package, ok=False).exit_code == 1

    [listed] = repo.json("alerts", "list")
    assert (listed["kind"], listed["severity"], listed["package_id"]) == (
        "fixity_failure",
        "critical",
        package,
    )
    assert (listed["email_state"], listed["webhook_state"]) == ("sent", "sent")
    [mail] = smtp_server.messages
    assert mail.subject.startswith("[preserve CRITICAL] fixity failure: fixity mismatch: package")
    assert "data/photo.bin" in mail.body
    assert f"preserve fixity --package {package} --repair" in mail.body
    [hook] = webhook.requests
    assert hook.body["id"] == listed["id"] and hook.body["package_id"] == package
    assert [p["path"] for p in hook.body["details"]["problems"]] == ["data/photo.bin"]
    assert repo.run("alerts", "send").stdout == "nothing to send\n"  # sent once
