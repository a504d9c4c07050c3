"""Composition root: builds the engine, session factory and storage locations from settings.

The CLI, the web app and the workers all call :func:`bootstrap`; nothing else constructs engines
or storage clients.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from preserve.catalogue.database import make_engine, make_session_factory
from preserve.storage import Storage, open_location
from preserve.uow import UnitOfWork

log = logging.getLogger(__name__)


@dataclass
class Application:
    """Everything a service needs, built once per process."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    _locations: dict[str, Storage] = field(default_factory=dict)

    def uow(self) -> UnitOfWork:
        """A new unit of work (its own session)."""
        return UnitOfWork(self.session_factory)

    def storage(self, url: str) -> Storage:
        """The storage backend for a location URL, opened once and reused."""
        if url not in self._locations:
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
        self.engine.dispose()


def bootstrap(settings: Settings | None = None) -> Application:
    """Build the application from ``settings`` (default: from the environment)."""
    settings = settings or Settings.from_env()
    engine = make_engine(settings.database_url)
    return Application(
        settings=settings, engine=engine, session_factory=make_session_factory(engine)
    )
