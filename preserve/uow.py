"""The unit of work: one session, its repositories, and what to do once the commit has landed.

::

    with UnitOfWork(session_factory) as uow:
        package = uow.packages.add(Package(...))
        uow.on_commit(lambda: enqueue_replication(package_id))
        uow.commit()

Leaving the block rolls back whatever was not committed. Callbacks registered with
:meth:`UnitOfWork.on_commit` (enqueue a follow-up task, remove a staging folder) run only after the
commit succeeded, never after a rollback, so a worker never looks for rows that do not exist.

A database failure a person can act on (a full disk, an I/O error, a read-only catalogue) leaves
the block as a :class:`~preserve.errors.CatalogueError`, so callers handle it like any other
:class:`~preserve.errors.PreserveError` (an ingest rolls back that package and goes on).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType

from sqlalchemy.orm import Session, sessionmaker

from preserve.catalogue.repositories import (
    AgentRepository,
    CollectionRepository,
    CopyRepository,
    EventRepository,
    FileRepository,
    JobRepository,
    JournalRepository,
    LocationRepository,
    OrganisationRepository,
    PackageRepository,
    VersionRepository,
)
from preserve.interrupts import critical

log = logging.getLogger(__name__)


class UnitOfWork:
    """A session and its repositories, used as a context manager (not re-entrant)."""

    session: Session
    organisations: OrganisationRepository
    collections: CollectionRepository
    locations: LocationRepository
    packages: PackageRepository
    versions: VersionRepository
    files: FileRepository
    copies: CopyRepository
    events: EventRepository
    agents: AgentRepository
    journal: JournalRepository
    jobs: JobRepository

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._session_factory = session_factory
        self._callbacks: list[Callable[[], None]] = []
        self._open = False

    def __enter__(self) -> UnitOfWork:
        if self._open:
            raise RuntimeError("this unit of work is already in use")
        self.session = self._session_factory()
        self.organisations = OrganisationRepository(self.session)
        self.collections = CollectionRepository(self.session)
        self.locations = LocationRepository(self.session)
        self.packages = PackageRepository(self.session)
        self.versions = VersionRepository(self.session)
        self.files = FileRepository(self.session)
        self.copies = CopyRepository(self.session)
        self.events = EventRepository(self.session)
        self.agents = AgentRepository(self.session)
        self.journal = JournalRepository(self.session)
        self.jobs = JobRepository(self.session)
        self._callbacks = []
        self._open = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            with critical():  # a signal never lands halfway through a rollback or a close
                try:
                    self.rollback()
                finally:
                    self.session.close()
                    self._open = False
        except Exception as error:  # the rollback failed too: the disk, most likely
            if isinstance(exc, Exception):
                self._raise_catalogue_error(exc)
            self._raise_catalogue_error(error)
            raise
        if isinstance(exc, Exception):
            self._raise_catalogue_error(exc)

    def _raise_catalogue_error(self, error: Exception) -> None:
        """Raise the CatalogueError ``error`` amounts to, if it is one (see
        :func:`preserve.catalogue.database.catalogue_error`)."""
        from preserve.catalogue.database import catalogue_error

        bind = self._session_factory.kw.get("bind")
        translated = catalogue_error(error, bind.engine.url) if bind is not None else None
        if translated is not None:
            raise translated from error

    def commit(self) -> None:
        """Commit, then run the callbacks registered since the last commit or rollback.

        Every callback runs even when an earlier one fails; the first failure is raised afterwards
        (its adapter reports it) and the others are logged. The transaction has landed by then: an
        error here concerns a follow-up. Ctrl-C or SIGTERM during the commit is held until it has
        landed (:func:`preserve.interrupts.critical`).
        """
        with critical():
            self.session.commit()
        callbacks, self._callbacks = self._callbacks, []
        first_error: Exception | None = None
        for callback in callbacks:
            try:
                callback()
            except Exception as error:
                if first_error is None:
                    log.debug("after-commit callback %r failed", callback, exc_info=True)
                    first_error = error
                else:
                    log.exception("after-commit callback %r failed", callback)
        if first_error is not None:
            raise first_error

    def rollback(self) -> None:
        """Undo everything since the last commit and forget its callbacks."""
        self._callbacks.clear()
        self.session.rollback()

    def flush(self) -> None:
        self.session.flush()

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the current transaction has been committed (never on rollback)."""
        self._callbacks.append(callback)
