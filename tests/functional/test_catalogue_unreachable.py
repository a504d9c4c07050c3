"""With the catalogue's server unreachable (not running, unknown host, database missing, user or
password wrong), every command prints one line naming the catalogue (password hidden) and what to
do, exits 69, and creates nothing on the way (issue 8)."""

from __future__ import annotations

import socket
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import exc
from sqlalchemy.engine import make_url

from preserve.catalogue.database import catalogue_error
from preserve.errors import CatalogueUnreachable
from tests.dbfixtures import POSTGRES_SKIP_REASON, postgres_admin_url
from tests.functional.cli import Repo

COMMANDS = [
    ("init",),
    ("db", "upgrade"),
    ("db", "current"),
    ("packages", "list"),
    ("collections", "list"),
    ("collections", "add", "photos"),
    ("show", "0123"),
    ("export", "0123", "{tmp}/out"),
    ("ingest", "{tmp}/a.txt", "--collection", "photos"),
    ("fixity", "--all"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def run_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str, expected: str
) -> None:
    """Every command, run from an empty folder, fails with ``expected`` on stderr and exit 69
    and leaves nothing behind: no home, no ./var, no export target."""
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "a.txt").write_text("a")
    monkeypatch.chdir(work)
    home = tmp_path / "home"
    repo = Repo(home=home, database_url=database_url)
    for args in COMMANDS:
        result = repo.run(*(a.format(tmp=tmp_path) for a in args), ok=False)
        assert result.stderr == f"error: {expected}\n", args
        assert result.exit_code == 69, args
        assert result.stdout == "", args
    assert not home.exists()
    assert list(work.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "work"]


def test_server_not_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    url = f"postgresql+psycopg://preserve:s3cret@127.0.0.1:{port}/catalogue"
    run_everywhere(
        tmp_path,
        monkeypatch,
        url,
        f"cannot connect to the catalogue at postgresql+psycopg://preserve:***@127.0.0.1:{port}"
        "/catalogue (connection refused): is PostgreSQL running, and are the host and port in "
        "PRESERVE_DATABASE_URL right?",
    )


def test_unknown_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql+psycopg://preserve@db.nosuchhost.invalid:5432/catalogue"
    run_everywhere(
        tmp_path,
        monkeypatch,
        url,
        f"cannot connect to the catalogue at {url} (unknown host db.nosuchhost.invalid): "
        "check the host name in PRESERVE_DATABASE_URL",
    )


@pytest.fixture
def postgres_url() -> str:
    url = postgres_admin_url()
    if url is None:
        pytest.skip(POSTGRES_SKIP_REASON)
    return url


@pytest.mark.postgres
def test_database_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    url = make_url(postgres_url).set(database="preserve_nonexistent_db")
    run_everywhere(
        tmp_path,
        monkeypatch,
        url.render_as_string(hide_password=False),
        f"cannot connect to the catalogue at {url.render_as_string(hide_password=True)} "
        '(database "preserve_nonexistent_db" does not exist): create it (`createdb '
        "preserve_nonexistent_db`) and run `preserve init`, or correct the database name in "
        "PRESERVE_DATABASE_URL",
    )
    with psycopg.connect(
        make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)
    ) as connection:
        found = connection.execute(
            "SELECT count(*) FROM pg_database WHERE datname = 'preserve_nonexistent_db'"
        ).fetchone()
    assert found == (0,)  # not created on the way


@pytest.mark.postgres
def test_user_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str) -> None:
    url = make_url(postgres_url).set(username="preserve_nosuchuser", password=None)
    run_everywhere(
        tmp_path,
        monkeypatch,
        url.render_as_string(hide_password=False),
        f"cannot connect to the catalogue at {url.render_as_string(hide_password=True)} "
        '(user "preserve_nosuchuser" does not exist on the server): correct the user name in '
        "PRESERVE_DATABASE_URL, or create the user on the server",
    )


URL = "postgresql+psycopg://preserve:s3cret@db.example:5432/catalogue"
SHOWN = "postgresql+psycopg://preserve:***@db.example:5432/catalogue"


@pytest.mark.parametrize(
    ("driver_message", "expected"),
    [
        # what libpq says for the cases this machine's trusting server cannot produce
        (
            'connection failed: connection to server at "10.0.0.5", port 5432 failed: FATAL:  '
            'password authentication failed for user "preserve"',
            '(authentication failed for user "preserve"): check the user and password '
            "(PRESERVE_DATABASE_URL, PGPASSWORD or ~/.pgpass)",
        ),
        (
            'connection failed: connection to server at "10.0.0.5", port 5432 failed: '
            "fe_sendauth: no password supplied",
            "(the server asks for a password and none was given): give it in "
            "PRESERVE_DATABASE_URL, PGPASSWORD or ~/.pgpass",
        ),
        (
            'connection failed: connection to server at "10.0.0.5", port 5432 failed: FATAL:  '
            'no pg_hba.conf entry for host "10.0.0.9", user "preserve", database "catalogue", '
            "no encryption",
            "(the server does not accept this user, database or host (pg_hba.conf)): ask its "
            "administrator to allow them, or check PRESERVE_DATABASE_URL",
        ),
        (
            'connection failed: connection to server at "10.0.0.5", port 5432 failed: '
            "timeout expired",
            "(connection timed out): is the server reachable from here (network, firewall), and "
            "is PRESERVE_DATABASE_URL right?",
        ),
        (
            'connection failed: connection to server at "10.0.0.5", port 5432 failed: FATAL:  '
            "the database system is starting up",
            "(the server is starting up or shutting down): try again in a moment",
        ),
        (
            'connection failed: connection to server at "10.0.0.5", port 5432 failed: FATAL:  '
            "sorry, too many clients already",
            "(the server has no free connection slots): try again later, or ask its "
            "administrator to raise max_connections",
        ),
        (  # psycopg 2 and older libpq words
            'could not translate host name "db.example" to address: Name or service not known',
            "(unknown host db.example): check the host name in PRESERVE_DATABASE_URL",
        ),
        (  # anything else libpq says about a failed connection
            'connection failed: connection to server at "10.0.0.5", port 5432 failed: '
            "SSL error: certificate verify failed",
            "(SSL error: certificate verify failed): is PostgreSQL running, and is "
            "PRESERVE_DATABASE_URL right?",
        ),
    ],
)
def test_other_connection_failures_say_what_to_do(driver_message: str, expected: str) -> None:
    error = catalogue_error(
        exc.OperationalError(None, None, psycopg.OperationalError(driver_message)), URL
    )
    assert isinstance(error, CatalogueUnreachable)
    assert str(error) == f"cannot connect to the catalogue at {SHOWN} {expected}"
    assert error.exit_code == 69


def test_a_failure_after_connecting_is_not_called_unreachable() -> None:
    """The server answered (a SQLSTATE): the connection was made."""
    driver = psycopg.errors.AdminShutdown("terminating connection due to administrator command")
    error = catalogue_error(exc.OperationalError("SELECT 1", {}, driver), URL)
    assert error is not None and not isinstance(error, CatalogueUnreachable)
