"""One exception hierarchy for the whole application.

Adapters (CLI, web, workers) catch :class:`PreserveError` and turn it into an exit code, an HTTP
status or a task state; anything else escaping is a bug. Every message names the problem and the
file, package or location it concerns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from preserve.values import Problem


class PreserveError(Exception):
    """Base class: a failure a person can understand and act on."""

    exit_code = 1
    code = "error"


class ConfigError(PreserveError):
    """A setting is missing or invalid (every problem is listed in the message)."""

    exit_code = 2
    code = "config-invalid"


class InvalidInput(PreserveError):
    """What the user handed over cannot be used (missing path, unreadable file, bad CSV ...)."""

    exit_code = 2
    code = "invalid-input"


class UnsafePath(InvalidInput):
    """A path would read or write outside its root (`..`, absolute, `~`, backslash, drive)."""

    code = "unsafe-path"


class NameCollision(InvalidInput):
    """Two payload names become the same after Unicode (NFC) normalisation."""

    code = "name-collision"


class UnsafeArchive(InvalidInput):
    """A zip or tar is unsafe to unpack (traversal, links, a decompression bomb)."""

    code = "unsafe-archive"


class InvalidBag(PreserveError):
    """A BagIt bag failed validation; ``problems`` lists every error found, not only the first."""

    code = "invalid-bag"

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems)


class NotFound(PreserveError):
    """A package, collection, organisation or location that does not exist."""

    exit_code = 3
    code = "not-found"


class PermissionDenied(PreserveError):
    """The person may see the object but not do this to it (an object they may not even see is
    :class:`NotFound`, so that its existence does not leak)."""

    exit_code = 77  # EX_NOPERM


class OnHold(PermissionDenied):
    """A package is under an active hold (legal, audit ...): no disposal or deletion until it
    is lifted; the message names each hold, its kind and title."""

    code = "on-hold"


class Conflict(PreserveError):
    """The request cannot be done in the object's current state (a refused lifecycle
    transition, an edit of a signed agreement version): HTTP 409. The message names the guard
    that failed; ``problems`` lists every item when there are several (what a proposal lacks)."""

    exit_code = 4
    code = "conflict"

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems)


class FrozenVersion(Conflict):
    """A change to the terms of an agreement version that is no longer a draft. The message
    says why, the same for every adapter; where amending is the way to change the terms
    (:attr:`amendable`), each adapter names its own way with :meth:`told` (the command line its
    command, the API its route)."""

    def __init__(self, reference: str, version: int, state: str, how: str = "") -> None:
        self.reference = reference
        self.version = version
        self.state = state
        label = f"{reference} v{version}"
        if not self.amendable:
            message = (
                f"{label} is {state.replace('_', ' ')}: its terms can change only as a draft "
                "(a party sends it back first)"
            )
        else:
            message = (
                f"{label} is {state.replace('_', ' ')}: a version that is not a draft is "
                f"frozen; amend it{f' ({how})' if how else ''} to make a new draft version"
            )
        super().__init__(message)

    @property
    def amendable(self) -> bool:
        """Whether the message tells to amend the version (a proposal is sent back instead)."""
        return self.state not in ("proposed", "pending_signature")

    def told(self, how: str) -> FrozenVersion:
        """The same refusal naming ``how`` to amend (a command, a route)."""
        return FrozenVersion(self.reference, self.version, self.state, how)


class SignInRefused(PreserveError):
    """Wrong name or password, a locked or deactivated account (one message for all)."""

    exit_code = 77


class AlreadyExists(PreserveError):
    """Creating something that already exists under that identifier."""

    code = "already-exists"


class StorageError(PreserveError):
    """A storage location failed; callers never see botocore or OSError directly."""

    code = "storage-error"


class ObjectNotFound(StorageError):
    """The key does not exist in the storage location."""

    code = "object-not-found"


class StorageUnavailable(StorageError):
    """The location could not be reached, even after retrying with backoff."""

    code = "storage-unavailable"


class StorageFull(StorageError):
    """The location has no space left (ENOSPC, quota, file size limit)."""

    code = "storage-full"


class VerificationFailed(StorageError):
    """A copy was written but what the location holds differs from what was sent."""

    code = "verification-failed"


class FixityMismatch(PreserveError):
    """Stored bytes no longer match their reference digests."""

    code = "fixity-mismatch"


class CatalogueError(PreserveError):
    """The catalogue database cannot be used: it cannot be opened or reached, is not a database,
    or is damaged. Drivers' errors are translated in one place
    (:func:`preserve.catalogue.database.catalogue_error`), so callers never see them."""

    code = "catalogue-error"


class NoCatalogue(CatalogueError):
    """There is no catalogue where the settings point: ``preserve init`` was never run there, or
    the settings point somewhere else than meant. Nothing is created on the way."""

    code = "no-catalogue"

    @classmethod
    def at(cls, where: str) -> NoCatalogue:
        return cls(
            f"no catalogue at {where}: run `preserve init` to make a new repository there, or "
            "set PRESERVE_HOME (or PRESERVE_DATABASE_URL) to the one you mean"
        )


class CatalogueUnreachable(CatalogueError):
    """The catalogue's database server cannot be reached or refuses the connection: it is not
    running, the host is unknown, the database does not exist, or the user or password is wrong.
    Exit code 69 (``EX_UNAVAILABLE`` of sysexits.h), so a script can tell it from a failure of
    the work itself. Nothing is created on the way."""

    exit_code = 69
    code = "catalogue-unreachable"


class CatalogueFull(CatalogueError):
    """The catalogue's disk is full (SQLite's SQLITE_FULL, PostgreSQL's SQLSTATE 53100)."""

    code = "catalogue-full"


class CatalogueIOError(CatalogueError):
    """The catalogue's disk failed to read or write (SQLITE_IOERR, SQLSTATE 58030)."""

    code = "catalogue-io-error"


class CatalogueReadOnly(CatalogueError):
    """The catalogue cannot be written: read-only file or file system, or a standby server."""

    code = "catalogue-read-only"


class BrokerUnreachable(PreserveError):
    """The workers' message broker (Redis, RabbitMQ) cannot be reached or refuses the
    connection. Exit code 69 (``EX_UNAVAILABLE``), like an unreachable catalogue."""

    exit_code = 69
    code = "broker-unreachable"
