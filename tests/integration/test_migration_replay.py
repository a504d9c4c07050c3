"""The suite's replayed migrations (tests/migration_replay.py) make the same catalogue as Alembic.

Most of the suite gets its catalogues from the replay; this is what lets it: on SQLite and on
PostgreSQL, a catalogue migrated by Alembic and one made by replaying have the same tables,
columns, indexes, constraints, triggers, functions and rows (the search index's among them),
and the replayed one is then used like any other: a package can be found by its words.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from preserve.catalogue.database import current_revision, head_revision, make_engine, upgrade
from tests import migration_replay
from tests.dbfixtures import postgres_admin_url, postgres_database


def _sqlite_schema(connection: sa.Connection) -> list[tuple[Any, ...]]:
    """Each object's statement, its lines sorted: Alembic's batch mode, which rebuilds a table
    to change it, writes the constraints in no fixed order (two real migrations differ too)."""
    return [
        (kind, name, table, sorted(line.strip().rstrip(",") for line in (sql or "").splitlines()))
        for kind, name, table, sql in connection.exec_driver_sql(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        )
    ]


def _postgres_schema(connection: sa.Connection) -> list[tuple[Any, ...]]:
    queries = {
        "column": """SELECT table_name, column_name, data_type, column_default, is_nullable,
                     character_maximum_length, numeric_precision, collation_name
                     FROM information_schema.columns WHERE table_schema = 'public'""",
        "index": """SELECT tablename, indexname, indexdef FROM pg_indexes
                    WHERE schemaname = 'public'""",
        "constraint": """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(c.oid)
                         FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
                         WHERE n.nspname = 'public'""",
        "trigger": """SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(t.oid)
                      FROM pg_trigger t WHERE NOT tgisinternal""",
        "function": """SELECT proname, pg_get_function_identity_arguments(p.oid), prosrc
                       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                       WHERE n.nspname = 'public'""",
        "type": """SELECT typname, typtype FROM pg_type t JOIN pg_namespace n
                   ON n.oid = t.typnamespace WHERE n.nspname = 'public'""",
        "extension": "SELECT extname FROM pg_extension",
        "sequence": """SELECT sequencename, data_type::text, start_value, increment_by
                       FROM pg_sequences WHERE schemaname = 'public'""",
        "ts config": "SELECT cfgname FROM pg_ts_config",
    }
    rows: list[tuple[Any, ...]] = []
    for kind, query in queries.items():
        rows += sorted((kind, *map(str, row)) for row in connection.exec_driver_sql(query))
    return rows


def _describe(url: str) -> tuple[list[tuple[Any, ...]], dict[str, list[tuple[Any, ...]]]]:
    """The schema and every table's rows, in an order that does not depend on how they came."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            schema = _sqlite_schema(connection) if sqlite else _postgres_schema(connection)
            rows = {}
            for table in sorted(sa.inspect(connection).get_table_names()):
                rows[table] = sorted(
                    (
                        tuple(map(repr, row))
                        for row in connection.exec_driver_sql(f'SELECT * FROM "{table}"')
                    ),
                )
            return schema, rows
    finally:
        engine.dispose()


@pytest.mark.real_migrations
def test_alembic_migrates_when_real_migrations_are_asked_for(database_url: str) -> None:
    before = dict(migration_replay.stats)
    upgrade(database_url)
    assert migration_replay.stats["real"] == before["real"] + 1
    assert migration_replay.stats["replayed"] == before["replayed"]


@contextmanager
def _another_catalogue(database_url: str) -> Iterator[str]:
    """An empty catalogue of the same kind as ``database_url``'s."""
    if database_url.startswith("sqlite"):
        yield database_url.replace("catalogue.sqlite3", "migrated.sqlite3")
        return
    admin = postgres_admin_url()
    assert admin is not None
    with postgres_database(admin) as url:
        yield url


def _migrate_for_real(url: str) -> None:
    before = migration_replay.stats["real"]
    os.environ[migration_replay.REAL_MIGRATIONS_VARIABLE] = "1"
    try:
        upgrade(url)
    finally:
        del os.environ[migration_replay.REAL_MIGRATIONS_VARIABLE]
    assert migration_replay.stats["real"] == before + 1


def test_a_replayed_catalogue_is_the_migrated_one(database_url: str) -> None:
    before = dict(migration_replay.stats)
    upgrade(database_url)  # empty: replayed
    assert migration_replay.stats["replayed"] == before["replayed"] + 1
    assert current_revision(database_url) == head_revision()
    replayed = _describe(database_url)
    assert replayed[1]["alembic_version"] == [(repr(head_revision()),)]
    assert len(replayed[1]) > 40  # the whole catalogue, not a part of it

    with _another_catalogue(database_url) as migrated_url:
        _migrate_for_real(migrated_url)
        migrated = _describe(migrated_url)
    assert replayed[0] == migrated[0]
    assert replayed[1] == migrated[1]

    # a catalogue at head is not empty: Alembic's, which finds nothing to do
    before = dict(migration_replay.stats)
    upgrade(database_url)
    assert migration_replay.stats == {**before, "real": before["real"] + 1}
    assert _describe(database_url) == replayed
