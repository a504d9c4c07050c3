"""Alembic environment for the preserve catalogue.

The application hands over its own connection in ``config.attributes["connection"]``
(``preserve.catalogue.database.upgrade``); the alembic command line gets one from
``PRESERVE_DATABASE_URL`` via :class:`preserve.config.settings.Settings`. The models are never imported:
every revision writes its tables out, so an old revision keeps meaning what it meant.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

config = context.config


def _configure(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        (enabled,) = connection.exec_driver_sql("PRAGMA foreign_keys").one()
        if enabled:
            # Batch mode copies and drops tables; with foreign keys on, the drop cascades deletes.
            raise RuntimeError(
                "refusing to migrate SQLite with foreign keys on: "
                "use preserve.catalogue.database.migration_connection()"
            )
    context.configure(
        connection=connection,
        target_metadata=None,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def _database_url() -> str:
    from preserve.config.settings import Settings

    return Settings.from_env().database_url


def run_migrations_offline() -> None:
    """Write the SQL to stdout (``alembic upgrade head --sql``) instead of running it."""
    url = _database_url()
    context.configure(
        url=url,
        target_metadata=None,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return

    from preserve.catalogue.database import migration_connection

    with migration_connection(_database_url()) as connection:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()


if config.config_file_name is not None and "connection" not in config.attributes:
    # Only the command line configures logging; the application keeps its own.
    fileConfig(config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
