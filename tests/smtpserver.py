"""A real SMTP server and a real webhook receiver on loopback ports, for the alert tests (a
pytest plugin, loaded by ``tests/conftest.py``).

``smtp_server``: aiosmtpd in a thread, keeping every message it accepts (sender, recipients,
the parsed message); ``smtp_auth_server`` refuses mail until the client logs in as
``alerts``/``s3cret``. A server can be stopped and started again on the same port (an outage).
``webhook``: ``http.server`` in a thread, keeping every request (path, headers, JSON body),
and told to fail the next N requests with a status of choice.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import socket
import ssl
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

# aiosmtpd's own chatter (its AUTH-without-TLS warning): not for the stderr of the commands
# under test, which log everything to the root logger's handlers
logging.getLogger("mail.log").propagate = False

SMTP_USER = "alerts"
SMTP_PASSWORD = "s3cret"


def free_port() -> int:
    """A loopback port free right now (for a server that must come up on a known port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Received:
    """One message as the server received it."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def body(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None
        # as a mail reader shows it: the CRLF line ends of the wire made newlines
        return str(part.get_content()).replace("\r\n", "\n")  # type: ignore[attr-defined]


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.lock:
            self.messages.append(
                Received(str(envelope.mail_from), [str(r) for r in envelope.rcpt_tos], parsed)
            )
        return "250 Message accepted for delivery"


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == SMTP_USER.encode()
        and auth_data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


class _Controller(Controller):
    def factory(self) -> SMTP:
        with warnings.catch_warnings():  # AUTH without TLS: wanted here, on loopback
            warnings.simplefilter("ignore")
            return super().factory()


class SmtpServer:
    """A local SMTP server on ``port``; with ``auth`` it requires AUTH. ``tls``: None (plain),
    ``"starttls"`` (offers and requires STARTTLS) or ``"implicit"`` (TLS from the first byte,
    as smtps://), with the certificate and key of ``certificate``."""

    def __init__(
        self,
        port: int | None = None,
        *,
        auth: bool = False,
        tls: str | None = None,
        certificate: TlsFiles | None = None,
    ) -> None:
        self.port = port or free_port()
        self.auth = auth
        self.tls = tls
        self.certificate = certificate
        self.inbox = _Inbox()
        self._controller: _Controller | None = None

    @property
    def messages(self) -> list[Received]:
        with self.inbox.lock:
            return list(self.inbox.messages)

    def url(self, user: str | None = None, password: str | None = None) -> str:
        credentials = f"{user}:{password}@" if user is not None else ""
        return f"smtp://{credentials}127.0.0.1:{self.port}"

    def start(self) -> SmtpServer:
        kwargs: dict[str, Any] = {}
        if self.auth:
            kwargs = {
                "authenticator": _authenticate,
                "auth_required": True,
                "auth_require_tls": self.tls == "starttls",  # smtps: TLS already
            }
        if self.tls is not None:
            assert self.certificate is not None
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.certificate.cert, self.certificate.key)
            if self.tls == "starttls":
                kwargs.update(tls_context=context, require_starttls=True)
            else:
                kwargs["ssl_context"] = context
        self._controller = _Controller(self.inbox, hostname="127.0.0.1", port=self.port, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@dataclass(frozen=True)
class TlsFiles:
    """A certificate authority of the tests and a server certificate it signed for
    127.0.0.1 and localhost (PEM files)."""

    ca: Path
    cert: Path
    key: Path


def _make_tls_files(folder: Path) -> TlsFiles:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("preserve tests CA"))
        .issuer_name(name("preserve tests CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A test CA and a server certificate for 127.0.0.1 (trust it with ``SSL_CERT_FILE``)."""
    return _make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A running SMTP server that takes mail from anyone."""
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def smtp_auth_server() -> Iterator[SmtpServer]:
    """A running SMTP server that wants ``alerts``/``s3cret`` first."""
    server = SmtpServer(auth=True).start()
    yield server
    server.stop()


@dataclass
class Hook:
    """One request the webhook receiver got, and what it answered."""

    path: str
    headers: dict[str, str]
    body: Any
    status: int


@dataclass
class WebhookReceiver:
    """The state of the receiver: what it got, and how many requests are still to fail."""

    port: int = 0
    requests: list[Hook] = field(default_factory=list)
    failures_left: int = 0
    failure_status: int = 500
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/preserve"

    def fail_next(self, n: int, status: int = 500) -> None:
        """Answer the next ``n`` requests with ``status`` instead of 204."""
        with self.lock:
            self.failures_left, self.failure_status = n, status

    @property
    def delivered(self) -> list[Hook]:
        """The requests answered with a 2xx status."""
        with self.lock:
            return [r for r in self.requests if 200 <= r.status < 300]


def _handler(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = raw
            with receiver.lock:
                if receiver.failures_left > 0:
                    receiver.failures_left -= 1
                    status = receiver.failure_status
                else:
                    status = 204
                receiver.requests.append(Hook(self.path, dict(self.headers), body, status))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    """A running webhook receiver (204 to every POST unless told to fail)."""
    receiver = WebhookReceiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    receiver.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()
    thread.join()
