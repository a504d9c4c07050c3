"""The transports of alerts (``preserve.channels``) against a real local SMTP server and
webhook receiver: a connection the server closed between two messages is opened again, the
SMTP URL is read or refused with its reason, and a webhook's failures are said without its
password or query."""

from __future__ import annotations

import pytest

from preserve.channels import ChannelError, Mailer, SmtpServer, build_email, post_json
from tests.smtpserver import SmtpServer as LocalSmtp
from tests.smtpserver import WebhookReceiver, free_port


def _message(n: int) -> object:
    return build_email("a@example.org", ["b@example.org"], f"message {n}", "text")


def test_a_connection_closed_between_messages_is_opened_again() -> None:
    server = LocalSmtp().start()
    try:
        with Mailer(server.url()) as mailer:
            mailer.send(_message(1))  # type: ignore[arg-type]
            server.stop()  # the server goes away, and comes back on the same port
            server.start()
            mailer.send(_message(2))  # type: ignore[arg-type]
        assert [m.subject for m in server.messages] == ["message 1", "message 2"]
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("url", "host", "port", "tls", "starttls", "user", "password"),
    [
        ("smtp://mail.example.org", "mail.example.org", 25, False, False, None, None),
        ("smtps://mail.example.org", "mail.example.org", 465, True, False, None, None),
        (
            "smtp://us%40er:p%3Ass@mail.example.org:587?starttls=true",
            "mail.example.org",
            587,
            False,
            True,
            "us@er",
            "p:ss",
        ),
    ],
)
def test_smtp_urls(
    url: str,
    host: str,
    port: int,
    tls: bool,
    starttls: bool,
    user: str | None,
    password: str | None,
) -> None:
    assert SmtpServer.from_url(url) == SmtpServer(host, port, tls, starttls, user, password)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://mail.example.org", "the SMTP URL must start with smtp:// or smtps://, not http"),
        ("smtp://", "the SMTP URL names no host: smtp://[USER:PASSWORD@]HOST[:PORT]"),
        ("smtp://mail.example.org:port", "the SMTP URL has a port that is not a number"),
    ],
)
def test_bad_smtp_urls(url: str, message: str) -> None:
    with pytest.raises(ChannelError) as caught:
        Mailer(url)
    assert str(caught.value) == message


def test_webhook_failures_hide_secrets(webhook: WebhookReceiver) -> None:
    port = free_port()
    with pytest.raises(ChannelError) as caught:
        post_json(f"http://bot:hunter2@127.0.0.1:{port}/hook?token=abc", {"a": 1})
    assert str(caught.value) == (
        f"cannot reach the webhook http://bot:***@127.0.0.1:{port}/hook: connection refused "
        "(is it running?)"
    )
    assert caught.value.unreachable
    webhook.fail_next(1, status=502)
    with pytest.raises(ChannelError) as caught:
        post_json(webhook.url + "?token=abc", {"a": 1})
    assert str(caught.value) == f"the webhook {webhook.url} answered HTTP 502 Bad Gateway"
    assert not caught.value.unreachable
    with_login = webhook.url.replace("http://", "http://bot:hunter2@")
    assert post_json(with_login, {"a": 1}) == 204
    assert [r.body for r in webhook.requests] == [{"a": 1}, {"a": 1}]
    assert "Authorization" not in webhook.requests[0].headers
    assert webhook.requests[1].headers["Authorization"] == "Basic Ym90Omh1bnRlcjI="  # bot:hunter2
