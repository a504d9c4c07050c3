"""Recovery: what an interrupted or failed ingest left behind is removed before new work.

A package row is committed as ``ingesting`` before any byte reaches storage, naming its key
prefix on every location; staging folders carry an ``owner.json``. The owner of either is a
process: its host, pid and start time (a pid alone could since have been given to another
process). An ingest whose owner is gone (same host: no process with that pid *and* start time;
another host: older than a day) has its objects, row and staging folder removed, and the
temporary files a killed process left on a local location are removed too.

Recovery runs beside the ingest (:func:`start_recovery`, a thread) and asks each location with
something to clean whether it answers, once and with short time-outs, before cleaning on it: a
location that is down costs it seconds at most, and the ingest does not wait for that. A location
that does not answer is marked in the catalogue (``unreachable_at``, ``unreachable_error``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from preserve.bootstrap import Application
from preserve.catalogue.models import Package
from preserve.errors import PreserveError, StorageError, StorageUnavailable
from preserve.interrupts import critical
from preserve.processes import process_alive, process_start_time
from preserve.storage.local import LocalStorage
from preserve.text import plural

log = logging.getLogger(__name__)

STALE_AFTER_SECONDS = 24 * 3600  # an ingest owned by another host is presumed dead after this
OWNERLESS_GRACE_SECONDS = 60  # a staging folder gets its owner file microseconds after mkdir
#: Packages this process is ingesting right now: never someone else's leftovers.
ACTIVE: set[str] = set()


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


def mark_unreachable(app: Application, reasons: Mapping[str, str]) -> None:
    """Record that the locations at these URLs did not answer, and why."""
    if not reasons:
        return
    try:
        with app.uow() as uow:
            for location in uow.locations.list():
                if location.url in reasons:
                    location.unreachable_at = datetime.now(UTC)
                    location.unreachable_error = reasons[location.url][:2000]
            uow.commit()
    except PreserveError as exc:  # the catalogue is what failed: nothing to record it in
        log.warning("could not record that %s is unreachable: %s", ", ".join(sorted(reasons)), exc)


def abandoned(package: Package) -> bool:
    """Whether ``package`` (ingesting or failed) was left by an ingest that no longer runs."""
    if package.status == "failed":
        return True
    if package.id in ACTIVE:
        return False
    return owner_gone(
        package.ingest_host, package.ingest_pid, package.ingest_process_started, package.created_at
    )


class Recovery:
    """:func:`recover_interrupted` in a thread beside the work of the command."""

    def __init__(self, app: Application) -> None:
        self._cleaned: list[str] = []
        self._thread = threading.Thread(
            target=self._run, args=(app,), name="preserve-recovery", daemon=True
        )
        self._thread.start()

    def _run(self, app: Application) -> None:
        try:
            self._cleaned = recover_interrupted(app)
        except Exception as exc:  # recovery is retried by the next command
            log.warning("recovery of interrupted ingests failed: %s", exc)
            log.debug("recovery failed", exc_info=exc)

    def result(self) -> list[str]:
        """Wait for it (bounded: every location is asked quickly first) and return the package
        ids cleaned up."""
        self._thread.join()
        return self._cleaned


def start_recovery(app: Application) -> Recovery:
    """Start recovering what interrupted ingests left, beside the caller's own work."""
    return Recovery(app)


def recover_interrupted(app: Application) -> list[str]:
    """Remove what interrupted ingests left behind: their objects on every location, their
    staging folders, their ``ingesting`` rows, and the temporary files of dead processes on
    local locations. Returns the package ids cleaned up."""
    with app.uow() as uow:
        stale = [p.id for p in uow.packages.list_interrupted() if abandoned(p)]
        urls = {c.location.url for pid in stale for c in uow.copies.for_package(pid)}
        local = [loc.url for loc in uow.locations.list() if loc.url.startswith("file:")]
    cleaned: list[str] = []
    if stale:
        down: dict[str, str] = {}
        for url in sorted(urls):
            reason = app.storage(url).answers()
            if reason is not None:
                down[url] = reason
                log.info("clean-ups on %s wait until it answers: %s", url, reason)
        if down:
            mark_unreachable(app, down)
        for package_id in stale:
            if remove_package(app, package_id, set(down)):
                cleaned.append(package_id)
    from preserve.ingest.versions import recover_versions  # it builds on this module

    cleaned.extend(recover_versions(app))
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


def package_folder(key_prefix: str) -> str:
    """``org/coll/<package>/`` of a version's key prefix ``org/coll/<package>/v<N>/``."""
    trimmed = key_prefix.rstrip("/")
    return trimmed[: trimmed.rfind("/") + 1] if "/" in trimmed else key_prefix


def remove_package(
    app: Application, package_id: str, down: set[str] | None = None, *, quiet: bool = False
) -> bool:
    """Remove an interrupted ingest: its objects on every location, then its row and staging.

    Locations in ``down`` (found not answering a moment ago) are not contacted; a location that
    fails now is marked unreachable. The row stays, with the copies still to clean, until
    every location is clean, marked ``failed``: it no longer holds its content's place in the
    collection, so the same delivery can be ingested again meanwhile. A package that is stored
    (the interruption came after the final commit) is never touched. True when nothing is left
    to clean up. ``quiet``: a failure to clean is logged at debug level only (the caller reports the
    error that caused the clean-up, which is usually the same)."""
    down = down or set()
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
        if url in down:
            continue
        try:
            # the package's whole folder: its version and anything written beside it
            removed = app.storage(url).delete_prefix(package_folder(prefix))
        except StorageError as exc:
            (log.debug if quiet else log.warning)(
                "could not clean up interrupted ingest %s on %s yet: %s", package_id, url, exc
            )
            if isinstance(exc, StorageUnavailable):
                unreachable.append(url)
            failure = failure or exc
            continue
        log.info(
            "removed %s of interrupted ingest %s from %s",
            plural(removed, "object"),
            package_id,
            url,
        )
        cleaned.append(copy_id)
    if unreachable and failure is not None:
        mark_unreachable(app, dict.fromkeys(unreachable, str(failure)))
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
        if entry.name in ACTIVE:
            continue
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
