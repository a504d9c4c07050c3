"""Composition root: builds the engine, session factory and storage locations from settings.

The CLI, the web app and the workers all call :func:`bootstrap`; nothing else constructs engines
or storage clients. Everything is built on first use: a command that never touches the ORM (the
fixity check on the embedded SQLite catalogue, ``--help``) never imports SQLAlchemy.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from preserve.config.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from preserve.catalogue.fixity import FixityCatalogue
    from preserve.storage import Storage
    from preserve.uow import UnitOfWork

log = logging.getLogger(__name__)


class Application:
    """Everything a service needs, built once per process (each part when first used)."""

    def __init__(self, settings: Settings, *, actor: str | None = None) -> None:
        self.settings = settings
        #: The person or account on whose behalf this process acts (``--as NAME``, else the
        #: login name): recorded as the implementing agent of the PREMIS events it causes.
        self.actor = actor or login_name()
        self._engine: Engine | None = None
        self._session_factory: sessionmaker[Session] | None = None
        self._locations: dict[str, Storage] = {}

    @property
    def engine(self) -> Engine:
        """The catalogue's engine; a SQLite catalogue that does not exist is an error
        (:class:`preserve.errors.NoCatalogue`), not a new empty file."""
        if self._engine is None:
            from preserve.catalogue.database import make_engine

            self._engine = make_engine(self.settings.database_url, create=False)
        return self._engine

    def new_catalogue_engine(self) -> Engine:
        """The engine, creating the SQLite catalogue file if need be (``init``, ``db upgrade``)."""
        if self._engine is None:
            from preserve.catalogue.database import make_engine

            self._engine = make_engine(self.settings.database_url, create=True)
        return self._engine

    @property
    def session_factory(self) -> sessionmaker[Session]:
        if self._session_factory is None:
            from preserve.catalogue.database import make_session_factory

            self._session_factory = make_session_factory(self.engine)
        return self._session_factory

    def uow(self) -> UnitOfWork:
        """A new unit of work (its own session)."""
        from preserve.uow import UnitOfWork

        return UnitOfWork(self.session_factory)

    def fixity_catalogue(self) -> FixityCatalogue:
        """The catalogue as fixity checks read and write it (plain SQL, no ORM); close it after."""
        from preserve.catalogue.fixity import open_fixity_catalogue

        return open_fixity_catalogue(self.settings.database_url, lambda: self.engine)

    def storage(self, url: str) -> Storage:
        """The storage backend for a location URL, opened once and reused."""
        if url not in self._locations:
            from preserve.storage import open_location

            s = self.settings
            self._locations[url] = open_location(
                url,
                retries=s.storage_retries,
                backoff=s.storage_backoff,
                multipart_threshold=s.s3_multipart_threshold,
                part_size=s.s3_part_size,
            )
        return self._locations[url]

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def login_name() -> str:
    """The name of the account running this process (``getpass.getuser``), or "unknown"."""
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no USER/LOGNAME and a uid without a passwd entry (containers)
        return "unknown"


def bootstrap(settings: Settings | None = None, *, actor: str | None = None) -> Application:
    """Build the application from ``settings`` (default: from the environment)."""
    return Application(settings or Settings.from_env(), actor=actor)
