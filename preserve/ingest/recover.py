"""Recovery: what an interrupted or failed ingest left behind is removed before new work.

A package row is committed as ``ingesting`` before any byte reaches storage, naming its key
prefix on every location; staging folders carry an ``owner.json``. The owner of either is a
process: its host, pid and start time (a pid alone could since have been given to another
process). An ingest whose owner is gone (same host: no process with that pid *and* start time;
another host: older than a day) has its objects, row and staging folder removed, and the
temporary files a killed process left on a local location are removed too.

A location that does not answer is not retried by every later ingest: it is marked unreachable
in the catalogue (``unreachable_at``), and the clean-ups on it wait :data:`RETRY_UNREACHABLE_AFTER`
seconds; until then recovery does not contact it at all, so it slows no unrelated ingest.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from preserve.bootstrap import Application
from preserve.errors import PreserveError, StorageError, StorageUnavailable
from preserve.interrupts import critical
from preserve.processes import process_alive, process_start_time
from preserve.storage.local import LocalStorage

log = logging.getLogger(__name__)

STALE_AFTER_SECONDS = 24 * 3600  # an ingest owned by another host is presumed dead after this
OWNERLESS_GRACE_SECONDS = 60  # a staging folder gets its owner file microseconds after mkdir
#: Clean-ups on a location found unreachable are postponed this long.
RETRY_UNREACHABLE_AFTER = timedelta(minutes=5)


def this_process() -> tuple[str, int, float | None]:
    """(host, pid, start time) of this process: what an ingest records as its owner."""
    pid = os.getpid()
    return socket.gethostname(), pid, process_start_time(pid)


def owner_gone(
    host: str | None, pid: int | None, process_started: float | None, started: datetime | None
) -> bool:
    """True when the ingest started by process ``pid`` (started at ``process_started``) on
    ``host`` at ``started`` is no longer running."""
    if host == socket.gethostname() and pid is not None:
        return pid == os.getpid() or not process_alive(pid, process_started)
    if started is None:
        return True
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    return (datetime.now(UTC) - started).total_seconds() > STALE_AFTER_SECONDS


def write_owner(staging: Path, started: datetime) -> None:
    """Mark a staging folder as this process's."""
    host, pid, process_started = this_process()
    (staging / "owner.json").write_text(
        json.dumps(
            {
                "host": host,
                "pid": pid,
                "process_started": process_started,
                "started": started.isoformat(),
            }
        )
    )


def mark_unreachable(app: Application, urls: Iterable[str], error: BaseException) -> None:
    """Record that the locations at ``urls`` did not answer (clean-ups on them wait a while)."""
    urls = set(urls)
    if not urls:
        return
    try:
        with app.uow() as uow:
            for location in uow.locations.list():
                if location.url in urls:
                    location.unreachable_at = datetime.now(UTC)
                    location.unreachable_error = str(error)[:2000]
            uow.commit()
    except PreserveError as exc:  # the catalogue is what failed: nothing to record it in
        log.warning("could not record that %s is unreachable: %s", ", ".join(sorted(urls)), exc)


def _postponed(app: Application) -> set[str]:
    """URLs of the locations found unreachable recently enough to leave alone for now."""
    now = datetime.now(UTC)
    with app.uow() as uow:
        return {
            loc.url
            for loc in uow.locations.list()
            if loc.unreachable_at is not None and now - loc.unreachable_at < RETRY_UNREACHABLE_AFTER
        }


def recover_interrupted(app: Application) -> list[str]:
    """Remove what interrupted ingests left behind: their objects on every location, their
    staging folders, their ``ingesting`` rows, and the temporary files of dead processes on
    local locations. Returns the package ids cleaned up."""
    with app.uow() as uow:
        stale = [
            p.id
            for p in uow.packages.list_interrupted()
            if p.status == "failed"
            or owner_gone(p.ingest_host, p.ingest_pid, p.ingest_process_started, p.created_at)
        ]
        local = [loc.url for loc in uow.locations.list() if loc.url.startswith("file:")]
    cleaned: list[str] = []
    if stale:
        postponed = _postponed(app)
        for package_id in stale:
            if remove_package(app, package_id, postponed):
                cleaned.append(package_id)
    for url in local:
        storage = app.storage(url)
        if not isinstance(storage, LocalStorage):
            continue
        try:
            storage.remove_abandoned()
        except PreserveError as exc:
            log.warning("could not remove abandoned temporary files on %s: %s", url, exc)
    _remove_orphan_staging(app)
    return cleaned


def remove_package(
    app: Application, package_id: str, postponed: set[str] | None = None, *, quiet: bool = False
) -> bool:
    """Remove an interrupted ingest: its objects on every location, then its row and staging.

    Locations in ``postponed`` (found unreachable a moment ago) are not contacted; a location
    that fails now is marked unreachable. The row stays, with the copies still to clean, until
    every location is clean, marked ``failed``: it no longer holds its content's place in the
    collection, so the same delivery can be ingested again meanwhile. A package that is stored
    (the interruption came after the final commit) is never touched. True when nothing is left
    to clean up. ``quiet``: a failure to clean is logged at debug level only (the caller reports the
    error that caused the clean-up, which is usually the same)."""
    postponed = postponed if postponed is not None else _postponed(app)
    with app.uow() as uow:
        package = uow.packages.get(package_id)
        if package is None:
            return True
        if package.status not in ("ingesting", "failed"):
            # stored: an interruption that lands after the final commit must not undo it
            log.info("package %s is %s: nothing to undo", package_id, package.status)
            return True
        copies = [(c.id, c.location.url, c.key_prefix) for c in uow.copies.for_package(package_id)]
    cleaned: list[int] = []
    unreachable: list[str] = []
    failure: StorageError | None = None
    for copy_id, url, prefix in copies:
        if url in postponed:
            log.info(
                "interrupted ingest %s: clean-up on %s postponed (it did not answer a moment ago)",
                package_id,
                url,
            )
            continue
        try:
            removed = app.storage(url).delete_prefix(prefix)
        except StorageError as exc:
            (log.debug if quiet else log.warning)(
                "could not clean up interrupted ingest %s on %s yet: %s", package_id, url, exc
            )
            if isinstance(exc, StorageUnavailable):
                unreachable.append(url)
            failure = failure or exc
            continue
        log.info("removed %d objects of interrupted ingest %s from %s", removed, package_id, url)
        cleaned.append(copy_id)
    if unreachable and failure is not None:
        mark_unreachable(app, unreachable, failure)
    with app.uow() as uow:
        package = uow.packages.get(package_id)
        if package is None or package.status not in ("ingesting", "failed"):
            return package is None
        if len(cleaned) == len(copies):
            uow.packages.delete(package)
        else:  # what is clean is forgotten; the rest waits for the location to answer again
            for copy in uow.copies.for_package(package_id):
                if copy.id in cleaned:
                    uow.session.delete(copy)
            package.status = "failed"
            package.ingest_pid = None
        uow.commit()
    if len(cleaned) != len(copies):
        return False
    shutil.rmtree(app.settings.staging_dir / package_id, ignore_errors=True)
    return True


def _remove_orphan_staging(app: Application) -> None:
    """Staging folders whose owner died before the package row was committed."""
    staging = app.settings.staging_dir
    if not staging.is_dir():
        return
    for entry in staging.iterdir():
        owner = entry / "owner.json"
        try:
            info = json.loads(owner.read_text())
        except (OSError, ValueError):
            info = {}
        if info.get("started"):
            gone = owner_gone(
                info.get("host"),
                info.get("pid"),
                info.get("process_started"),
                datetime.fromisoformat(info["started"]),
            )
        else:  # no owner file: killed right after mkdir, or a live ingest that just made it
            try:
                gone = time.time() - entry.stat().st_mtime > OWNERLESS_GRACE_SECONDS
            except OSError:
                continue
        if gone:
            with app.uow() as uow:
                package = uow.packages.get(entry.name)
                busy = package is not None and package.status == "ingesting"
            if not busy:
                shutil.rmtree(entry, ignore_errors=True)
                log.info("removed orphan staging folder %s", entry)


def abandon(app: Application, package_id: str, staging: Path, registered: bool) -> None:
    """Undo a failed ingest: objects, row and staging. What cannot be undone now (a location
    that does not answer) is left for :func:`recover_interrupted`: the row stays ``ingesting``
    or becomes ``failed``, with the copies still to clean. Never raises (the caller is handling
    the error that made it abandon), and a second Ctrl-C or SIGTERM waits until it is done."""
    with critical():
        try:
            if registered and not remove_package(app, package_id, quiet=True):
                log.info("what failed ingest %s wrote is left for recovery to remove", package_id)
        except Exception as exc:  # the catalogue or a location failed too: recovery retries
            log.debug("could not undo failed ingest %s: %s", package_id, exc, exc_info=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
