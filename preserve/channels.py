"""The two ways alerts leave the repository: e-mail through an SMTP server (``smtplib``) and a
JSON POST to a webhook (``urllib``). Standard library only; every failure becomes one
:class:`ChannelError` whose message says what went wrong and where, in words a person can act
on (a refused connection, a wrong password, an HTTP 500), with passwords never shown."""

from __future__ import annotations

import email.policy
import json
import smtplib
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

#: Seconds to wait for the mail server or the webhook before giving up on this attempt.
SMTP_TIMEOUT = 10.0
WEBHOOK_TIMEOUT = 5.0

_TRUE = ("1", "true", "yes", "on")


class ChannelError(Exception):
    """A message could not be delivered; ``str()`` says why, naming the server.
    ``unreachable``: the server could not be reached at all (refused, unknown host, no answer,
    TLS failed), so the next message would fare no better right now."""

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to send mail, from ``smtp://[USER:PASSWORD@]HOST[:PORT][?starttls=true]``
    or ``smtps://...`` (TLS from the first byte)."""

    host: str
    port: int
    tls: bool
    starttls: bool
    user: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ChannelError(
                f"the SMTP URL must start with smtp:// or smtps://, not {parts.scheme or '(none)'}"
            )
        if not parts.hostname:
            raise ChannelError("the SMTP URL names no host: smtp://[USER:PASSWORD@]HOST[:PORT]")
        query = {k.lower(): v[-1] for k, v in parse_qs(parts.query).items()}
        tls = parts.scheme == "smtps"
        try:
            port = parts.port or (465 if tls else 25)
        except ValueError:
            raise ChannelError("the SMTP URL has a port that is not a number") from None
        return cls(
            host=parts.hostname,
            port=port,
            tls=tls,
            starttls=query.get("starttls", "").lower() in _TRUE,
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
        )

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def build_email(
    sender: str,
    recipients: Sequence[str],
    subject: str,
    body: str,
    headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    """A plain-text message with the headers every mail reader expects."""
    # long header lines are kept whole (up to RFC 5322's 998 characters): the email package's
    # folding breaks a subject that opens with "[preserve]" before its first word
    message = EmailMessage(policy=email.policy.SMTP.clone(max_line_length=998))
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    domain = sender.rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    return message


class Mailer:
    """One connection to the SMTP server, opened on the first message and reused for the next
    ones of a batch; any failure closes it (the next message opens a new one)."""

    def __init__(self, url: str, timeout: float = SMTP_TIMEOUT) -> None:
        self.server = SmtpServer.from_url(url)
        self.timeout = timeout
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

    def _connect(self) -> smtplib.SMTP:
        s = self.server
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if s.tls:
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=self.timeout)
        try:
            smtp.ehlo()
            if s.starttls:
                if not smtp.has_extn("starttls"):
                    raise ChannelError(
                        f"the SMTP server {s.where} does not offer STARTTLS (?starttls=true "
                        "was asked for)"
                    )
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.user is not None:
                if not smtp.has_extn("auth"):
                    raise ChannelError(
                        f"the SMTP server {s.where} does not offer AUTH, so the user "
                        f"{s.user!r} cannot log in"
                        + ("" if s.tls or s.starttls else " (does it only after STARTTLS?)")
                    )
                smtp.login(s.user, s.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message: EmailMessage) -> None:
        """Send ``message`` to its To addresses, or raise :class:`ChannelError`."""
        try:
            if self._smtp is not None:
                try:  # the connection of an earlier message: the server may have closed it
                    self._smtp.noop()
                except (smtplib.SMTPException, OSError):
                    self._drop()
            if self._smtp is None:
                self._smtp = self._connect()
            refused = self._smtp.send_message(message)
        except ChannelError:
            self._drop()
            raise
        except Exception as exc:  # smtplib, ssl and socket errors alike: one clear line
            self._drop()
            unreachable = isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException)
            raise ChannelError(self._explain(exc), unreachable=unreachable) from exc
        if refused:
            who = ", ".join(
                f"{addr} ({code} {_text(reply)})" for addr, (code, reply) in refused.items()
            )
            raise ChannelError(
                f"the SMTP server {self.server.where} refused some recipients: {who}"
            )

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def _explain(self, exc: BaseException) -> str:
        s = self.server
        where = f"the SMTP server {s.where}"
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return (
                f"{where} refused the login of user {s.user!r} ({exc.smtp_code} "
                f"{_text(exc.smtp_error)}): check the user and password in PRESERVE_SMTP_URL"
            )
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            who = ", ".join(
                f"{addr} ({code} {_text(reply)})" for addr, (code, reply) in exc.recipients.items()
            )
            return f"{where} refused every recipient: {who}"
        if isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code == 530:
            return (
                f"{where} wants a login first ({exc.smtp_code} {_text(exc.smtp_error)}): put "
                "USER:PASSWORD in PRESERVE_SMTP_URL"
            )
        if isinstance(exc, smtplib.SMTPSenderRefused):
            return (
                f"{where} refused the sender {exc.sender} ({exc.smtp_code} {_text(exc.smtp_error)})"
            )
        if isinstance(exc, smtplib.SMTPResponseException):
            return f"{where} answered {exc.smtp_code} {_text(exc.smtp_error)}"
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            return f"{where} closed the connection ({exc or 'no reason given'})"
        if isinstance(exc, ConnectionRefusedError):
            return f"cannot connect to {where}: connection refused (is it running?)"
        if isinstance(exc, socket.gaierror):
            return f"cannot connect to {where}: unknown host {s.host!r}"
        if isinstance(exc, TimeoutError):
            return f"{where} did not answer within {self.timeout:g} s"
        if isinstance(exc, ssl.SSLError):
            return f"TLS with {where} failed: {exc.reason or exc}"
        if isinstance(exc, OSError):
            return f"cannot connect to {where}: {exc.strerror or exc}"
        return f"sending through {where} failed: {type(exc).__name__}: {exc}"


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())


def post_json(url: str, document: Mapping[str, Any], timeout: float = WEBHOOK_TIMEOUT) -> int:
    """POST ``document`` as JSON to ``url``; the HTTP status when it is 2xx, else
    :class:`ChannelError` (another status, no answer in ``timeout`` seconds, no connection)."""
    shown = _redacted(url)
    body = json.dumps(document, ensure_ascii=False, default=str).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "preserve"}
    parts = urlsplit(url)
    if parts.username is not None:  # USER:PASSWORD@ in the URL: HTTP basic authentication
        import base64

        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
        netloc = parts.netloc.rpartition("@")[2]
        url = parts._replace(netloc=netloc).geturl()
    request = urllib.request.Request(  # noqa: S310 (http and https only: checked in settings)
        url, data=body, method="POST", headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()  # its response's connection
        raise ChannelError(f"the webhook {shown} answered HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ConnectionRefusedError):
            why = "connection refused (is it running?)"
        elif isinstance(reason, socket.gaierror):
            why = f"unknown host {urlsplit(url).hostname!r}"
        elif isinstance(reason, TimeoutError):
            why = f"no answer within {timeout:g} s"
        else:
            why = str(getattr(reason, "strerror", None) or reason)
        raise ChannelError(f"cannot reach the webhook {shown}: {why}", unreachable=True) from None
    except TimeoutError:
        raise ChannelError(
            f"the webhook {shown} did not answer within {timeout:g} s", unreachable=True
        ) from None
    except (OSError, ValueError) as exc:
        raise ChannelError(f"cannot reach the webhook {shown}: {exc}", unreachable=True) from None
    if not 200 <= status < 300:
        raise ChannelError(f"the webhook {shown} answered HTTP {status}")
    return status


def _redacted(url: str) -> str:
    """``url`` without its query (tokens often travel there) and with any password hidden."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        credentials, _, host = netloc.rpartition("@")
        user = credentials.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in credentials else f"{user}@{host}"
    return f"{parts.scheme}://{netloc}{parts.path}"
