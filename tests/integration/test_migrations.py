"""The migrations build the schema the models describe, and undo it, on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from preserve.catalogue.database import (
    current_revision,
    downgrade,
    head_revision,
    make_engine,
    migration_connection,
    upgrade,
)
from preserve.catalogue.models import Base

#: what these tests check is Alembic's work: never the suite's replay (tests/migration_replay.py)
pytestmark = pytest.mark.real_migrations

#: The search index (migration 0007): functions of the database (PostgreSQL) or FTS5 tables and
#: triggers (SQLite), not models; left out of the comparison.
SEARCH_PREFIXES = ("search_", "ix_search_")


def _not_search(name: Any) -> bool:
    return not str(name or "").startswith(SEARCH_PREFIXES)


def table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(filter(_not_search, sa.inspect(engine).get_table_names()))
    finally:
        engine.dispose()


def schema_differences(url: str) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "compare_type": True,
                    "compare_server_default": True,
                    "include_name": lambda name, *_: _not_search(name),
                },
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def declared_constraints(metadata: sa.MetaData) -> dict[str, dict[str, Any]]:
    """Named constraints and their options, which Alembic's comparison does not look at.

    Alembic ignores CHECK constraints and foreign key ON DELETE rules; the cascades and the
    vocabularies depend on both, so they are compared here by name.
    """
    return {
        table.name: {
            "checks": {str(c.name) for c in table.constraints if isinstance(c, sa.CheckConstraint)},
            "foreign_keys": {
                (str(fk.name), tuple(fk.column_keys), fk.referred_table.name, fk.ondelete)
                for fk in table.foreign_key_constraints
            },
            "uniques": {
                str(c.name) for c in table.constraints if isinstance(c, sa.UniqueConstraint)
            },
            "indexes": {str(i.name) for i in table.indexes},
            "primary_key": str(table.primary_key.name),
        }
        for table in metadata.sorted_tables
    }


def reflected_constraints(inspector: sa.Inspector, tables: Any) -> dict[str, dict[str, Any]]:
    return {
        name: {
            "checks": {str(c["name"]) for c in inspector.get_check_constraints(name)},
            "foreign_keys": {
                (
                    str(fk["name"]),
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    fk["options"].get("ondelete"),
                )
                for fk in inspector.get_foreign_keys(name)
            },
            "uniques": {str(c["name"]) for c in inspector.get_unique_constraints(name)},
            "indexes": {
                str(i["name"])
                for i in inspector.get_indexes(name)
                # PostgreSQL lists unique constraints too
                if "duplicates_constraint" not in i and _not_search(i["name"])
            },
            "primary_key": str(inspector.get_pk_constraint(name)["name"]),
        }
        for name in tables
    }


def test_upgrade_empty_database_to_head(database_url: str) -> None:
    assert current_revision(database_url) is None

    upgrade(database_url)

    assert current_revision(database_url) == head_revision()
    assert table_names(database_url) == set(Base.metadata.tables) | {"alembic_version"}


def test_models_and_migrations_agree(migrated_url: str) -> None:
    assert schema_differences(migrated_url) == []


def test_constraint_names_and_delete_rules_agree(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    try:
        reflected = reflected_constraints(sa.inspect(engine), Base.metadata.tables)
    finally:
        engine.dispose()

    declared = declared_constraints(Base.metadata)
    if engine.dialect.name == "sqlite":
        # SQLite keeps no name for a primary key, however it was declared.
        for constraints in (*reflected.values(), *declared.values()):
            constraints.pop("primary_key")
    assert reflected == declared


def test_downgrade_to_base_leaves_no_tables_and_upgrade_again_works(migrated_url: str) -> None:
    downgrade(migrated_url)

    assert table_names(migrated_url) <= {"alembic_version"}
    assert current_revision(migrated_url) is None

    upgrade(migrated_url)

    assert current_revision(migrated_url) == head_revision()
    assert schema_differences(migrated_url) == []


def test_upgrade_at_head_is_a_no_op(migrated_url: str) -> None:
    upgrade(migrated_url)

    assert current_revision(migrated_url) == head_revision()


def test_concurrent_upgrades_wait_for_each_other(database_url: str) -> None:
    """A web server and workers starting together on a new catalogue all migrate it safely."""
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=3, mp_context=spawn) as pool:
        outcomes = [pool.submit(upgrade, database_url) for _ in range(3)]
        for outcome in outcomes:
            outcome.result(timeout=120)

    assert current_revision(database_url) == head_revision()
    assert schema_differences(database_url) == []


def test_upgrade_accepts_an_engine(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        downgrade(engine)
        assert current_revision(engine) is None
    finally:
        engine.dispose()


def test_sqlite_foreign_keys_are_back_on_after_migrating(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    url = f"sqlite:///{tmp_path_factory.mktemp('fk') / 'catalogue.sqlite3'}"
    engine = make_engine(url)
    try:
        with migration_connection(engine) as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 0
        upgrade(engine)
        with engine.connect() as connection:
            # The same pooled connection that ran the migrations.
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_env_refuses_sqlite_with_foreign_keys_on(tmp_path_factory: pytest.TempPathFactory) -> None:
    from alembic import command

    from preserve.catalogue.database import alembic_config

    url = f"sqlite:///{tmp_path_factory.mktemp('fk') / 'catalogue.sqlite3'}"
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            with pytest.raises(RuntimeError, match="foreign keys on"):
                command.upgrade(config, "head")
        assert current_revision(engine) is None
    finally:
        engine.dispose()


def test_0002_refuses_a_catalogue_holding_the_same_content_twice(database_url: str) -> None:
    """Concurrent ingests before 0002 could store the same content twice in a collection; the
    unique index cannot be built then, and the upgrade says what to do instead of failing on
    the index."""
    upgrade(database_url, "0001")
    engine = make_engine(database_url)
    now = "2026-11-01 00:00:00"
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO organisations (id, slug, name, created_at) "
                                 f"VALUES (1, 'o', 'O', '{now}')")  # fmt: skip
            conn.exec_driver_sql(
                "INSERT INTO collections (id, organisation_id, slug, title, description, "
                f"created_at) VALUES (1, 1, 'c', 'C', '', '{now}')"
            )
            for n, status in enumerate(("stored", "stored", "failed")):
                conn.exec_driver_sql(
                    "INSERT INTO packages (id, collection_id, title, description, status, "
                    "version, size, file_count, payload_fingerprint, bag_info, source, "
                    f"created_at) VALUES ('p{n}', 1, 't', '{{}}', '{status}', 1, 0, 0, "
                    f"'{'a' * 64}', '[]', '', '{now}')"
                )
    finally:
        engine.dispose()

    from preserve.errors import CatalogueError

    with pytest.raises(CatalogueError, match="more than once in a collection"):
        upgrade(database_url)
    assert current_revision(database_url) == "0001"

    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM packages WHERE id = 'p1'")
    finally:
        engine.dispose()
    upgrade(database_url)
    assert current_revision(database_url) == head_revision()


def test_0004_makes_every_package_its_version_1(database_url: str) -> None:
    """Packages stored before versions become version 1 of themselves: a version row with
    their title, totals and fingerprint, their files and copies of version 1, and their events
    of version 1; the events of their making are known to be in v1/metadata/premis.xml, the
    others (replication, fixity) are left for the next event flush to write to storage."""
    upgrade(database_url, "0003")
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            sql = conn.exec_driver_sql
            sql("INSERT INTO organisations (id, slug, name, address, contact_name, contact_email,"
                " created_at) VALUES (1, 'o', 'O', '', '', '', '2026-11-01 00:00:00')")  # fmt: skip
            sql("INSERT INTO collections (id, organisation_id, slug, title, description, "
                "created_at) VALUES (1, 1, 'c', 'C', '', '2026-11-01 00:00:00')")  # fmt: skip
            sql("INSERT INTO storage_locations (id, name, url, provider, storage_type, offline, "
                "is_default, created_at) VALUES (1, 'default', 'file:///x', 'local', "
                "'filesystem', false, true, '2026-11-01 00:00:00')")  # fmt: skip
            sql("INSERT INTO packages (id, collection_id, title, description, status, version, "
                "size, file_count, payload_fingerprint, bag_info, source, created_at, stored_at) "
                f"VALUES ('p', 1, 'Letters', '{{}}', 'stored', 1, 12, 2, '{'a' * 64}', '[]', "
                "'/in/letters', '2026-11-01 00:00:00', '2026-11-01 00:00:05')")  # fmt: skip
            sql("INSERT INTO files (package_id, path, path_nfc, role, size, digests) VALUES "
                "('p', 'data/a', 'data/a', 'payload', 5, '{}'), "
                "('p', 'data/b', 'data/b', 'payload', 7, '{}')")  # fmt: skip
            sql("INSERT INTO copies (id, package_id, location_id, key_prefix, status, created_at)"
                " VALUES (1, 'p', 1, 'o/c/p/v1/', 'verified', '2026-11-01 00:00:05')")  # fmt: skip
            sql("INSERT INTO agents (id, name, version, agent_type) "
                "VALUES (1, 'preserve', '0.1', 'software')")  # fmt: skip
            for event_id, kind, at, copy in (
                ("e1", "ingestion start", "2026-11-01 00:00:01", "NULL"),
                ("e2", "information package creation", "2026-11-01 00:00:03", "NULL"),
                ("e3", "replication", "2026-11-01 00:00:05", "1"),
                ("e4", "ingestion end", "2026-11-01 00:00:06", "NULL"),
                ("e5", "fixity check", "2026-11-02 00:00:00", "1"),
            ):
                values = f"('{event_id}', '{kind}', '{at}', 'success', '', '', 1, 'p', {copy})"
                sql("INSERT INTO events (id, event_type, occurred_at, outcome, detail, "
                    f"outcome_detail, agent_id, package_id, copy_id) VALUES {values}")  # fmt: skip
    finally:
        engine.dispose()
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            version = conn.exec_driver_sql(
                "SELECT number, kind, status, title, file_count, size, stored_files, "
                "payload_fingerprint, source FROM package_versions WHERE package_id = 'p'"
            ).all()
            assert [tuple(r) for r in version] == [
                (1, "content", "stored", "Letters", 2, 12, 2, "a" * 64, "/in/letters")
            ]
            files = conn.exec_driver_sql(
                "SELECT path, version, stored_version, stored_path FROM files ORDER BY path"
            ).all()
            assert [tuple(r) for r in files] == [("data/a", 1, 1, None), ("data/b", 1, 1, None)]
            assert conn.exec_driver_sql("SELECT version FROM copies").scalar_one() == 1
            events = dict(
                conn.exec_driver_sql("SELECT id, stored_in FROM events WHERE version = 1").all()
            )
            assert events == {
                "e1": "v1/metadata/premis.xml",
                "e2": "v1/metadata/premis.xml",
                "e3": None,
                "e4": None,
                "e5": None,
            }
    finally:
        engine.dispose()


def _triggers(url: str) -> set[tuple[str, str]]:
    """The database's triggers: (table, name)."""
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            if engine.dialect.name == "sqlite":
                sql = "SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'"
            else:
                sql = (
                    "SELECT c.relname, t.tgname FROM pg_trigger AS t JOIN pg_class AS c "
                    "ON c.oid = t.tgrelid WHERE NOT t.tgisinternal"
                )
            return {(str(r[0]), str(r[1])) for r in c.execute(sa.text(sql))}
    finally:
        engine.dispose()


def test_later_migrations_keep_the_search_triggers(database_url: str) -> None:
    """On SQLite a migration that changes a CHECK copies the table (batch mode), which drops
    its triggers: 0012 did so to ``packages`` and every search by words found nothing. The
    triggers that keep the search index (0007) must all be there at head."""
    upgrade(database_url, "0007")
    search_triggers = _triggers(database_url)
    assert search_triggers, "0007 makes the search index's triggers"

    upgrade(database_url)

    assert search_triggers <= _triggers(database_url)
