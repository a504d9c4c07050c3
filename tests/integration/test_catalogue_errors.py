"""A catalogue that cannot be written (full disk, I/O error, read-only, not a database, server
gone) fails the unit of work with a CatalogueError naming the catalogue, never with the driver's
error: real SQLite failures, and PostgreSQL's errors as psycopg raises them."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, event, exc, select
from sqlalchemy.orm import Session, sessionmaker

from preserve.catalogue.database import (
    catalogue_error,
    make_engine,
    make_session_factory,
    upgrade,
)
from preserve.catalogue.models import Organisation
from preserve.errors import (
    CatalogueError,
    CatalogueFull,
    CatalogueIOError,
    CatalogueReadOnly,
    PreserveError,
)
from preserve.uow import UnitOfWork

PG_URL = "postgresql+psycopg://preserve:secret@db.example:5432/catalogue"


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    path = tmp_path / "catalogue.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def full_engine(sqlite_path: Path) -> Iterator[Engine]:
    """An engine whose connections may not grow the database (as if its disk were full)."""
    engine = make_engine(f"sqlite:///{sqlite_path}")

    @event.listens_for(engine, "connect")
    def _no_room(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        dbapi_connection.execute(f"PRAGMA max_page_count={pages}")

    yield engine
    engine.dispose()


def _organisations(session_factory: sessionmaker[Session]) -> list[str]:
    with UnitOfWork(session_factory) as uow:
        return list(uow.session.scalars(select(Organisation.slug)))


def test_a_full_sqlite_disk_fails_the_unit_of_work_as_a_full_catalogue(
    full_engine: Engine, sqlite_path: Path
) -> None:
    factory = make_session_factory(full_engine)
    with pytest.raises(CatalogueFull) as raised, UnitOfWork(factory) as uow:
        uow.organisations.add(Organisation(slug="big", name="x" * 255))
        for i in range(200):
            uow.organisations.add(Organisation(slug=f"org-{i}", name="y" * 255))
        uow.commit()
    assert str(raised.value).startswith(f"catalogue {sqlite_path}: database or disk is full")
    assert raised.value.code == "catalogue-full" and raised.value.exit_code == 1
    assert isinstance(raised.value.__cause__, exc.OperationalError)
    assert _organisations(make_session_factory(make_engine(f"sqlite:///{sqlite_path}"))) == []


def test_a_read_only_sqlite_catalogue(sqlite_path: Path) -> None:
    engine = make_engine(f"sqlite:///file:{sqlite_path}?mode=ro&uri=true")
    try:
        with (
            pytest.raises(CatalogueReadOnly, match="readonly database") as raised,
            UnitOfWork(make_session_factory(engine)) as uow,
        ):
            uow.organisations.add(Organisation(slug="x", name="x"))
            uow.commit()
        assert str(sqlite_path) in str(raised.value)
        assert raised.value.code == "catalogue-read-only"
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda tmp: tmp, "unable to open database file"),  # a folder
        (lambda tmp: _garbage(tmp / "notes.txt"), "file is not a database"),
    ],
)
def test_a_catalogue_that_is_not_a_database(tmp_path: Path, make, needle: str) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path)
    engine = make_engine(f"sqlite:///{path}")
    try:
        with (
            pytest.raises(CatalogueError, match=needle) as raised,
            UnitOfWork(make_session_factory(engine)) as uow,
        ):
            uow.session.scalars(select(Organisation.slug)).all()
        assert str(raised.value).startswith(f"catalogue {path}: {needle}")
    finally:
        engine.dispose()


def _garbage(path: Path) -> Path:
    path.write_text("not a database\n" * 500)
    return path


def test_a_sqlite_disk_io_error_is_translated(sqlite_path: Path) -> None:
    driver = sqlite3.OperationalError("disk I/O error")
    driver.sqlite_errorcode = 10 | (3 << 8)  # type: ignore[attr-defined]  # SQLITE_IOERR_WRITE
    error = catalogue_error(exc.OperationalError("COMMIT", {}, driver), f"sqlite:///{sqlite_path}")
    assert isinstance(error, CatalogueIOError)
    assert str(error).startswith(f"catalogue {sqlite_path}: disk I/O error")


def test_postgres_disk_full_is_a_full_catalogue() -> None:
    driver = psycopg.errors.DiskFull(
        'could not extend file "base/16384/16397": No space left on device\n'
        "HINT:  Check free disk space."
    )
    wrapped = exc.OperationalError("INSERT INTO files ...", {}, driver)
    error = catalogue_error(wrapped, PG_URL)
    assert isinstance(error, CatalogueFull)
    assert str(error) == (
        "catalogue postgresql+psycopg://preserve:***@db.example:5432/catalogue: the database "
        'server\'s disk is full (SQLSTATE 53100: could not extend file "base/16384/16397": No '
        "space left on device); free space on it, then run the command again"
    )
    assert "secret" not in str(error)


@pytest.mark.parametrize(
    ("driver", "expected", "needle"),
    [
        (psycopg.errors.IoError("could not read block 7"), CatalogueIOError, "58030"),
        (
            psycopg.errors.ReadOnlySqlTransaction(
                "cannot execute INSERT in a read-only transaction"
            ),
            CatalogueReadOnly,
            "read-only",
        ),
        (
            psycopg.OperationalError('connection to server at "db.example" failed: refused'),
            CatalogueError,
            "cannot use the database server",
        ),
        (psycopg.errors.AdminShutdown("terminating connection"), CatalogueError, "terminating"),
    ],
)
def test_other_postgres_failures_a_person_can_act_on(
    driver: Exception, expected: type[PreserveError], needle: str
) -> None:
    error = catalogue_error(exc.OperationalError("SELECT 1", {}, driver), PG_URL)
    assert type(error) is expected
    assert needle in str(error)


@pytest.mark.parametrize(
    "error",
    [
        exc.IntegrityError("INSERT", {}, psycopg.errors.UniqueViolation("duplicate key")),
        exc.IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed")),
        exc.OperationalError("SELECT", {}, psycopg.errors.SerializationFailure("retry")),
        RuntimeError("a bug"),
    ],
)
def test_errors_that_are_not_the_catalogues_state_are_left_alone(error: Exception) -> None:
    assert catalogue_error(error, PG_URL) is None


def test_other_errors_leave_the_unit_of_work_unchanged(
    session_factory: sessionmaker[Session],
) -> None:
    with pytest.raises(exc.IntegrityError), UnitOfWork(session_factory) as uow:
        uow.organisations.add(Organisation(slug="same", name="a"))
        uow.organisations.add(Organisation(slug="same", name="b"))
        uow.commit()


def test_a_failed_after_commit_callback_is_raised_not_also_logged(
    session_factory: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    """The adapter reports the raised error; a second failure, which nobody raises, is logged."""

    def first() -> None:
        raise ValueError("the first follow-up failed")

    def second() -> None:
        raise ValueError("the second follow-up failed")

    caplog.set_level(logging.WARNING)
    with pytest.raises(ValueError, match="first"), UnitOfWork(session_factory) as uow:
        uow.organisations.add(Organisation(slug="o", name="o"))
        uow.on_commit(first)
        uow.on_commit(second)
        uow.commit()
    assert "the first follow-up failed" not in caplog.text
    assert "the second follow-up failed" in caplog.text
    assert _organisations(session_factory) == ["o"]
