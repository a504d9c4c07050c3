"""A fresh catalogue at the newest revision in a fraction of the time, for the suite only.

More than two thousand tests start from an empty catalogue that ``preserve init`` (or the app's
bootstrap) migrates. Running the Alembic migrations costs 0.3-0.8 s each time, most of it in
Python (loading the revisions, building and compiling the DDL), for the same statements every
time. This plugin migrates one scratch catalogue per dialect for real, once per test process,
records every statement the migrations send to the database, and afterwards answers
"upgrade an *empty* catalogue to head" by sending the recorded statements again, on the caller's
own connection and inside its transaction and lock (:func:`migration_connection`).

Anything else goes to Alembic untouched: another revision, a catalogue with any table in it, a
downgrade, and every test that asks for ``real_migrations`` (``tests/integration/
test_migrations.py`` does, for the whole module). ``test_migration_replay.py`` checks that a
replayed catalogue is the same, table for table, index for index and row for row, as a migrated
one, on SQLite and PostgreSQL. ``PRESERVE_TEST_REAL_MIGRATIONS=1`` switches the replay off for a
whole run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Connection, event, inspect

from preserve.catalogue.database import alembic_config, make_engine, migration_connection

REAL_MIGRATIONS_VARIABLE = "PRESERVE_TEST_REAL_MIGRATIONS"


@dataclass(frozen=True)
class Statement:
    sql: str
    parameters: Any
    many: bool
    no_parameters: bool


_real_upgrade: Callable[..., Any] | None = None
_recorded: dict[str, list[Statement]] = {}
_record_lock = threading.Lock()
stats = {"replayed": 0, "real": 0}


def replay_enabled() -> bool:
    return _real_upgrade is not None and not os.environ.get(REAL_MIGRATIONS_VARIABLE)


@contextmanager
def _scratch_url(dialect: str) -> Iterator[str | None]:
    """A scratch catalogue of ``dialect``, removed afterwards (None: no PostgreSQL server)."""
    if dialect == "sqlite":
        folder = tempfile.mkdtemp(prefix="preserve-replay-")
        try:
            yield f"sqlite:///{folder}/catalogue.sqlite3"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    from tests.dbfixtures import postgres_admin_url, postgres_database

    admin = postgres_admin_url()
    if admin is None:
        yield None
        return
    with postgres_database(admin) as url:
        yield url


def _record(dialect: str) -> list[Statement] | None:
    """The statements migrating an empty catalogue of ``dialect`` to head sends, recorded from a
    real migration of a scratch catalogue (made once per process)."""
    with _record_lock:
        if dialect in _recorded:
            return _recorded[dialect]
        assert _real_upgrade is not None
        with _scratch_url(dialect) as url:
            if url is None:
                return None  # no PostgreSQL server to record on: Alembic migrates each time
            statements: list[Statement] = []
            engine = make_engine(url)
            try:
                with migration_connection(engine) as connection:

                    def keep(
                        _conn: Any,
                        _cursor: Any,
                        sql: str,
                        parameters: Any,
                        context: Any,
                        many: bool,
                    ) -> None:
                        statements.append(
                            Statement(
                                sql,
                                parameters,
                                many,
                                context is not None and bool(context.no_parameters),
                            )
                        )

                    event.listen(connection, "before_cursor_execute", keep)
                    try:
                        config = alembic_config()
                        config.attributes["connection"] = connection
                        _real_upgrade(config, "head")
                    finally:
                        event.remove(connection, "before_cursor_execute", keep)
            finally:
                engine.dispose()
        _recorded[dialect] = statements
        return statements


def _is_empty(connection: Connection) -> bool:
    return not inspect(connection).get_table_names()


def _replay(connection: Connection, statements: list[Statement]) -> None:
    cursor = connection.connection.cursor()  # the DBAPI cursor, as SQLAlchemy used it
    try:
        for s in statements:
            if s.many:
                cursor.executemany(s.sql, s.parameters)
            elif s.no_parameters:
                cursor.execute(s.sql)
            else:
                cursor.execute(s.sql, s.parameters)
    finally:
        cursor.close()


def upgrade(config: Any, revision: str, *args: Any, **kwargs: Any) -> Any:
    """Stands in for ``alembic.command.upgrade``: replays for an empty catalogue to head."""
    assert _real_upgrade is not None
    connection = config.attributes.get("connection")
    if (
        replay_enabled()
        and revision == "head"
        and not args
        and not kwargs
        and isinstance(connection, Connection)
        and _is_empty(connection)
    ):
        statements = _record(connection.dialect.name)
        if statements is not None:
            _replay(connection, statements)
            stats["replayed"] += 1
            return None
    stats["real"] += 1
    return _real_upgrade(config, revision, *args, **kwargs)


def pytest_configure(config: pytest.Config) -> None:
    global _real_upgrade
    from alembic import command

    if _real_upgrade is None:
        _real_upgrade = command.upgrade
        command.upgrade = upgrade  # type: ignore[assignment]
    config.addinivalue_line(
        "markers", "real_migrations: migrate with Alembic, never by replaying recorded statements"
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    global _real_upgrade
    from alembic import command

    if _real_upgrade is not None:
        command.upgrade = _real_upgrade  # type: ignore[assignment]
        _real_upgrade = None
        _recorded.clear()


@pytest.fixture(autouse=True)
def _real_migrations_when_marked(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests marked ``real_migrations`` migrate with Alembic: the replay is switched off for the
    whole process while they run (their fixtures and threads included)."""
    if request.node.get_closest_marker("real_migrations") is None:
        yield
        return
    previous = os.environ.get(REAL_MIGRATIONS_VARIABLE)
    os.environ[REAL_MIGRATIONS_VARIABLE] = "1"
    try:
        yield
    finally:
        if previous is None:
            del os.environ[REAL_MIGRATIONS_VARIABLE]
        else:
            os.environ[REAL_MIGRATIONS_VARIABLE] = previous
