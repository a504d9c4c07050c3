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


def table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def schema_differences(url: str) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
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
                if "duplicates_constraint" not in i  # PostgreSQL lists unique constraints too
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
