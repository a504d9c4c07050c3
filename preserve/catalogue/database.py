"""Engines, sessions and programmatic Alembic migrations for the catalogue.

SQLite (the embedded default) and PostgreSQL (production) are both supported. Every SQLite
connection enforces foreign keys (the cascades depend on it), uses WAL so readers do not block the
writer, and waits up to 30 s for a lock instead of failing at once.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

import preserve.migrations as migrations
from preserve.errors import (
    CatalogueError,
    CatalogueFull,
    CatalogueIOError,
    CatalogueReadOnly,
    CatalogueUnreachable,
    NoCatalogue,
)

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000


def make_engine(url: str, *, create: bool = True) -> Engine:
    """An engine for ``url``, configured for the catalogue's needs on SQLite or PostgreSQL.

    A SQLite file that does not exist is made (with its folder) only when ``create``; otherwise
    :class:`NoCatalogue` is raised, and nothing is created on the way."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        in_memory = database in ("", ":memory:") or database.startswith("file:")
        if not in_memory:
            path = Path(database).expanduser().absolute()
            if not create and not path.exists():
                raise NoCatalogue.at(str(path))
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed)
        event.listen(engine, "connect", _configure_sqlite_connection)
        return engine
    return create_engine(parsed, pool_pre_ping=True)


def _configure_sqlite_connection(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()
    from preserve.catalogue.folding import register_sqlite_functions

    register_sqlite_functions(dbapi_connection)  # fold(), for accent-insensitive search


def catalogue_name(url: str | URL) -> str:
    """How messages name the catalogue: the absolute path of a SQLite file, or the URL of a
    server without its password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ":memory:"
        if database == ":memory:" or database.startswith("file:"):
            return database
        return str(Path(database).expanduser().absolute())
    return parsed.render_as_string(hide_password=True)


# SQLite's primary result codes (the low byte of an extended code)
_SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL = 8, 10, 11, 13
_SQLITE_CANTOPEN, _SQLITE_NOTADB = 14, 26
# PostgreSQL's SQLSTATEs
_PG_DISK_FULL, _PG_IO_ERROR, _PG_READ_ONLY = "53100", "58030", "25006"


_SQLITE_ERROR = 1
_PG_UNDEFINED_TABLE = "42P01"
_NOT_SET_UP = (
    "{reason}: the catalogue has not been set up; run `preserve init` (a new repository) or "
    "`preserve db upgrade` (an existing database)"
)


def catalogue_error(error: BaseException, url: str | URL) -> CatalogueError | None:
    """The :class:`CatalogueError` that a database driver's ``error`` amounts to (a full disk, an
    I/O error, a read-only, unreadable or unreachable catalogue), or None for any other error.

    This is the one place where SQLite's result codes and PostgreSQL's SQLSTATEs are read, for
    errors raised through SQLAlchemy (the driver's error is its ``orig``) or by ``sqlite3``.
    """
    orig = getattr(error, "orig", None) or error  # SQLAlchemy's DBAPIError wraps the driver's
    if (unreachable := connect_failure(orig)) is not None:
        what, advice = unreachable
        return CatalogueUnreachable(
            f"cannot connect to the catalogue at {catalogue_name(url)} ({what}): {advice}"
        )
    found = _sqlite_error(orig) if hasattr(orig, "sqlite_errorcode") else _postgres_error(orig)
    if found is None:
        return None
    cls, explain = found
    lines = str(orig).strip().splitlines()
    reason = lines[0] if lines else type(orig).__name__
    return cls(f"catalogue {catalogue_name(url)}: {explain.format(reason=reason)}")


_URL = "PRESERVE_DATABASE_URL"
# libpq's (and psycopg's) words for a connection that could not be made, the first match wins:
# (pattern, what went wrong, what to do); a named group <name> is put into both
_CONNECT_FAILURES: tuple[tuple[re.Pattern[str], str, str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), what, advice)
    for pattern, what, advice in (
        (
            r"connection refused",
            "connection refused",
            f"is PostgreSQL running, and are the host and port in {_URL} right?",
        ),
        (
            r'database "(?P<name>[^"]+)" does not exist',
            'database "{name}" does not exist',
            "create it (`createdb {name}`) and run `preserve init`, or correct the database name "
            f"in {_URL}",
        ),
        (
            r'role "(?P<name>[^"]+)" does not exist',
            'user "{name}" does not exist on the server',
            f"correct the user name in {_URL}, or create the user on the server",
        ),
        (
            r'authentication failed for user "(?P<name>[^"]+)"',
            'authentication failed for user "{name}"',
            f"check the user and password ({_URL}, PGPASSWORD or ~/.pgpass)",
        ),
        (
            r"no password supplied",
            "the server asks for a password and none was given",
            f"give it in {_URL}, PGPASSWORD or ~/.pgpass",
        ),
        (
            r"no pg_hba\.conf entry",
            "the server does not accept this user, database or host (pg_hba.conf)",
            f"ask its administrator to allow them, or check {_URL}",
        ),
        (
            r"(?:failed to resolve host|could not translate host name) "
            r"['\"](?P<name>[^'\"]+)['\"]",
            "unknown host {name}",
            f"check the host name in {_URL}",
        ),
        (
            r"timeout expired|timed out",
            "connection timed out",
            f"is the server reachable from here (network, firewall), and is {_URL} right?",
        ),
        (
            r"no route to host|network is unreachable",
            "no route to the server",
            f"is the server reachable from here (network, firewall), and is {_URL} right?",
        ),
        (
            r"the database system is (?:starting up|shutting down|in recovery mode)",
            "the server is starting up or shutting down",
            "try again in a moment",
        ),
        (
            r"too many clients|remaining connection slots are reserved",
            "the server has no free connection slots",
            "try again later, or ask its administrator to raise max_connections",
        ),
    )
)


def connect_failure(orig: BaseException) -> tuple[str, str] | None:
    """What went wrong and what to do when a PostgreSQL driver could not open a connection
    (server down, unknown host, missing database, login refused), or None for any other error.

    libpq reports these without a SQLSTATE, in words; psycopg 3 starts them with "connection
    failed:" (or "failed to resolve host"), psycopg 2 passes libpq's text on."""
    if not type(orig).__module__.startswith("psycopg"):
        return None
    if not any(cls.__name__ == "OperationalError" for cls in type(orig).__mro__):
        return None
    if (getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)) is not None:
        return None  # the server answered a statement: the connection was made
    text = " ".join(str(orig).split())
    for pattern, what, advice in _CONNECT_FAILURES:
        if (match := pattern.search(text)) is not None:
            name = match.groupdict().get("name") or ""
            return what.format(name=name), advice.format(name=name)
    if text.startswith("connection failed:"):  # psycopg 3: libpq's words for any other case
        reason = text.removeprefix("connection failed:").strip()
        reason = re.sub(r'^connection to server at "[^"]*",? (?:port \d+ )?failed:\s*', "", reason)
        return reason.removeprefix("FATAL:").strip() or "connection failed", (
            f"is PostgreSQL running, and is {_URL} right?"
        )
    return None


def _sqlite_error(orig: BaseException) -> tuple[type[CatalogueError], str] | None:
    code = getattr(orig, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None  # the extended code's low byte
    if primary == _SQLITE_FULL:
        return CatalogueFull, (
            "{reason} (no space left for the catalogue: free space on its disk, then run the "
            "command again)"
        )
    if primary == _SQLITE_IOERR:
        return CatalogueIOError, (
            "{reason} (the catalogue's disk failed to read or write: check the disk and the "
            "kernel log)"
        )
    if primary == _SQLITE_READONLY:
        return CatalogueReadOnly, (
            "{reason} (check that the file, its folder and its -wal and -shm files are writable "
            "and that the file system is not mounted read-only)"
        )
    if primary == _SQLITE_CANTOPEN:
        return CatalogueError, (
            "{reason} (check that the path names a file in a folder this user may write to; "
            "PRESERVE_DATABASE_URL)"
        )
    if primary == _SQLITE_ERROR and "no such table" in str(orig):
        return CatalogueError, _NOT_SET_UP
    if primary in (_SQLITE_NOTADB, _SQLITE_CORRUPT):
        return CatalogueError, (
            "{reason} (the file is not a SQLite database, or it is damaged; PRESERVE_DATABASE_URL)"
        )
    return None


def _postgres_error(orig: BaseException) -> tuple[type[CatalogueError], str] | None:
    if not type(orig).__module__.startswith("psycopg"):  # psycopg 3 and psycopg2
        return None
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate == _PG_UNDEFINED_TABLE:
        return CatalogueError, _NOT_SET_UP
    if sqlstate == _PG_DISK_FULL:
        return CatalogueFull, (
            "the database server's disk is full (SQLSTATE 53100: {reason}); free space on it, "
            "then run the command again"
        )
    if sqlstate == _PG_IO_ERROR:
        return CatalogueIOError, (
            "the database server failed to read or write its disk (SQLSTATE 58030: {reason})"
        )
    if sqlstate == _PG_READ_ONLY:
        return CatalogueReadOnly, (
            "the database is read-only (SQLSTATE 25006: {reason}); is this a standby server?"
        )
    # no SQLSTATE: libpq's own failure (refused, reset, timed out); 08: connection exceptions;
    # 57P0x: the server shutting down or starting up
    operational = any(cls.__name__ == "OperationalError" for cls in type(orig).__mro__)
    if operational and (sqlstate is None or sqlstate.startswith(("08", "57P0"))):
        return CatalogueError, "cannot use the database server: {reason}"
    return None


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (services copy them into dataclasses)."""
    from sqlalchemy.orm import sessionmaker  # the ORM only for the commands that use it

    return sessionmaker(bind=engine, expire_on_commit=False)


def alembic_config() -> Config:
    """An Alembic configuration pointing at the installed ``migrations`` package."""
    from alembic.config import Config  # imported when needed: most commands never migrate

    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    return config


# Alembic's ``context`` and ``op`` are module-global proxies: one migration at a time per process.
_ALEMBIC_LOCK = threading.Lock()

# Any constant will do: it only has to be the same for every process migrating this database.
_MIGRATION_LOCK_ID = 0x7072657365727665  # "preserve"


@contextmanager
def _engine(engine_or_url: Engine | str) -> Iterator[Engine]:
    """The engine given, or one made from a URL and disposed afterwards."""
    if not isinstance(engine_or_url, str):
        yield engine_or_url
        return
    engine = make_engine(engine_or_url)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def migration_connection(engine_or_url: Engine | str) -> Iterator[Connection]:
    """A connection in a transaction, made safe for running migrations.

    On SQLite foreign keys are switched off while migrating: Alembic's batch mode rebuilds a table
    by copying and dropping it, and with foreign keys on, dropping ``packages`` would cascade into
    ``files``, ``copies`` and ``events``. ``PRAGMA foreign_key_check`` runs before the commit, and
    foreign keys are switched back on before the connection returns to the pool. Processes that
    migrate at the same time (a web server and a worker starting together) wait for each other:
    SQLite through ``BEGIN IMMEDIATE``, PostgreSQL through an advisory lock.
    """
    with _engine(engine_or_url) as engine, engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # PRAGMA foreign_keys is ignored inside a transaction, so it is set before one begins.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                if sqlite:
                    # pysqlite would leave DDL outside any transaction; an immediate transaction
                    # makes the migration atomic and makes a second migrating process wait.
                    connection.exec_driver_sql("BEGIN IMMEDIATE")
                elif connection.dialect.name == "postgresql":
                    connection.exec_driver_sql(
                        f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_ID})"
                    )
                yield connection
                if sqlite:
                    violations = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if violations:
                        raise RuntimeError(
                            f"migration left {len(violations)} rows violating foreign keys, "
                            f"first: {tuple(violations[0])}"
                        )
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


def upgrade(engine_or_url: Engine | str, revision: str = "head") -> None:
    """Migrate the catalogue up to ``revision``."""
    with _ALEMBIC_LOCK, migration_connection(engine_or_url) as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        from alembic import command

        command.upgrade(config, revision)
    log.info("catalogue upgraded to %s", revision)


def downgrade(engine_or_url: Engine | str, revision: str = "base") -> None:
    """Migrate the catalogue down to ``revision`` (``base`` drops every table)."""
    with _ALEMBIC_LOCK, migration_connection(engine_or_url) as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        from alembic import command

        command.downgrade(config, revision)
    log.info("catalogue downgraded to %s", revision)


def current_revision(engine_or_url: Engine | str) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    with _engine(engine_or_url) as engine, engine.connect() as connection:
        from alembic.runtime.migration import MigrationContext

        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The newest revision the code knows."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("the migrations package has no revisions")
    return head


@dataclass(frozen=True)
class CatalogueStatus:
    """Whether the catalogue exists, answers and is at the newest schema (``preserve config``)."""

    #: "ok", "behind" (older schema), "unknown-schema" (a newer preserve's), "not-set-up",
    #: "missing" (no SQLite file), "unreachable" or "error"
    state: str
    where: str
    revision: str | None
    head: str
    message: str


def catalogue_status(url: str) -> CatalogueStatus:
    """Look at the catalogue at ``url`` without creating or changing anything in it."""
    where = catalogue_name(url)
    head = head_revision()

    def status(state: str, message: str, revision: str | None = None) -> CatalogueStatus:
        return CatalogueStatus(state, where, revision, head, message)

    try:
        engine = make_engine(url, create=False)
    except NoCatalogue as error:
        return status("missing", str(error))
    try:
        revision = current_revision(engine)
    except Exception as error:
        translated = catalogue_error(error, url)
        if translated is None:
            raise
        if isinstance(translated, CatalogueUnreachable):
            return status("unreachable", str(translated))
        return status("error", str(translated))
    finally:
        engine.dispose()
    if revision is None:
        return status(
            "not-set-up", _NOT_SET_UP.format(reason=f"catalogue {where} answers, but it is empty")
        )
    if revision == head:
        return status("ok", f"catalogue {where} answers, schema {revision} (up to date)", revision)
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        known = ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        known = False
    if known:
        return status(
            "behind",
            f"catalogue {where} answers, schema {revision}, behind {head}: run "
            "`preserve db upgrade`",
            revision,
        )
    return status(
        "unknown-schema",
        f"catalogue {where} answers, schema {revision}, which this version of preserve does not "
        f"know (its newest is {head}): was it upgraded by a newer preserve?",
        revision,
    )
