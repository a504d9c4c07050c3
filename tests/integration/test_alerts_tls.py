"""Alert e-mail over TLS (``?starttls=true`` and ``smtps://``) to a real local SMTP server
whose certificate a test CA signed (trusted through ``SSL_CERT_FILE``, which OpenSSL reads
when the client builds its default context): delivered, and each way it can go wrong said
plainly (an untrusted certificate, a login offered only after STARTTLS)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from preserve.config.settings import Settings

from preserve.bootstrap import Application, bootstrap
from preserve.services import alerts
from tests.smtpserver import SMTP_PASSWORD, SMTP_USER, SmtpServer, TlsFiles


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(
        {"PRESERVE_HOME": str(tmp_path), "PRESERVE_ALERT_TO": "keeper@example.org"}
    )


def _app(settings: Settings, smtp_url: str) -> Application:
    return bootstrap(settings.with_overrides(smtp_url=smtp_url), actor="tester")


@pytest.fixture
def starttls_server(tls_files: TlsFiles) -> Iterator[SmtpServer]:
    server = SmtpServer(auth=True, tls="starttls", certificate=tls_files).start()
    yield server
    server.stop()


@pytest.fixture
def smtps_server(tls_files: TlsFiles) -> Iterator[SmtpServer]:
    server = SmtpServer(auth=True, tls="implicit", certificate=tls_files).start()
    yield server
    server.stop()


def test_starttls_with_login(
    settings: Settings,
    starttls_server: SmtpServer,
    tls_files: TlsFiles,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.ca))
    url = starttls_server.url(SMTP_USER, SMTP_PASSWORD) + "?starttls=true"
    [email, _webhook] = alerts.check_channels(_app(settings, url))
    assert (email.outcome, email.detail) == (
        "sent",
        f"from preserve@localhost to keeper@example.org via 127.0.0.1:{starttls_server.port}",
    )
    [mail] = starttls_server.messages
    assert mail.rcpt_tos == ["keeper@example.org"]


def test_a_login_offered_only_after_starttls(
    settings: Settings, starttls_server: SmtpServer
) -> None:
    url = starttls_server.url(SMTP_USER, SMTP_PASSWORD)  # no ?starttls=true
    [email, _webhook] = alerts.check_channels(_app(settings, url))
    assert (email.outcome, email.detail) == (
        "failed",
        f"the SMTP server 127.0.0.1:{starttls_server.port} does not offer AUTH, so the user "
        "'alerts' cannot log in (does it only after STARTTLS?)",
    )
    assert starttls_server.messages == []


def test_smtps(
    settings: Settings,
    smtps_server: SmtpServer,
    tls_files: TlsFiles,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.ca))
    url = smtps_server.url(SMTP_USER, SMTP_PASSWORD).replace("smtp://", "smtps://")
    [email, _webhook] = alerts.check_channels(_app(settings, url))
    assert email.outcome == "sent", email.detail
    assert len(smtps_server.messages) == 1


def test_an_untrusted_certificate(
    settings: Settings, smtps_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    url = smtps_server.url(SMTP_USER, SMTP_PASSWORD).replace("smtp://", "smtps://")
    [email, _webhook] = alerts.check_channels(_app(settings, url))
    assert email.outcome == "failed"
    assert email.detail == (
        f"TLS with the SMTP server 127.0.0.1:{smtps_server.port} failed: CERTIFICATE_VERIFY_FAILED"
    )
    assert smtps_server.messages == []
