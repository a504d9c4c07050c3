"""Catalogue fixtures, loaded as a pytest plugin (``pytest_plugins = ["tests.dbfixtures"]``).

``database_url`` runs each test on SQLite and on PostgreSQL. The PostgreSQL half needs
``PRESERVE_TEST_DATABASE_URL`` (an account that may create databases) and gives every test a fresh
database of its own, dropped afterwards, so parallel xdist workers never share state. Without the
variable those tests are skipped, and the report header and skip reason say so.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from preserve.catalogue.database import make_engine, make_session_factory, upgrade

POSTGRES_URL_VARIABLE = "PRESERVE_TEST_DATABASE_URL"
POSTGRES_SKIP_REASON = f"{POSTGRES_URL_VARIABLE} is not set: PostgreSQL tests skipped"


def postgres_admin_url() -> str | None:
    return os.environ.get(POSTGRES_URL_VARIABLE) or None


def pytest_report_header(config: pytest.Config) -> str:
    url = postgres_admin_url()
    if url is None:
        return f"catalogue: SQLite only; {POSTGRES_SKIP_REASON}"
    return (
        f"catalogue: SQLite and PostgreSQL ({make_url(url).render_as_string(hide_password=True)})"
    )


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for one test; dropped afterwards even if still connected."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"preserve_test_{worker}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The URL of an empty catalogue: a SQLite file, or a PostgreSQL database of its own.

    The SQLite file lives outside ``tmp_path`` so tests may check that nothing was left there.
    """
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("catalogue") / "catalogue.sqlite3"
        yield f"sqlite:///{path}"
        return
    admin_url = postgres_admin_url()
    if admin_url is None:
        pytest.skip(POSTGRES_SKIP_REASON)
    with postgres_database(admin_url) as url:
        yield url


@pytest.fixture
def migrated_url(database_url: str) -> str:
    """``database_url`` migrated to the newest revision."""
    upgrade(database_url)
    return database_url


@pytest.fixture
def db_engine(migrated_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(db_engine: Engine) -> sessionmaker[Session]:
    """Sessions on a migrated catalogue, as the application makes them."""
    return make_session_factory(db_engine)
