"""Engines, sessions and programmatic Alembic migrations for the catalogue.

SQLite (the embedded default) and PostgreSQL (production) are both supported. Every SQLite
connection enforces foreign keys (the cascades depend on it), uses WAL so readers do not block the
writer, and waits up to 30 s for a lock instead of failing at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

import migrations

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000


def make_engine(url: str) -> Engine:
    """An engine for ``url``, configured for the catalogue's needs on SQLite or PostgreSQL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        in_memory = database in ("", ":memory:") or database.startswith("file:")
        if not in_memory:
            Path(database).expanduser().absolute().parent.mkdir(parents=True, exist_ok=True)
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
