"""Recovery: what an interrupted or failed ingest left behind is removed before new work.

A package row is committed as ``ingesting`` before any byte reaches storage, naming its key
prefix on every location; staging folders carry an ``owner.json`` (host, pid, start). An ingest
whose owner is gone (same host: the process no longer exists; another host: older than a day)
has its objects, row and staging folder removed.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

from preserve.bootstrap import Application
from preserve.errors import PreserveError, StorageError

log = logging.getLogger(__name__)

STALE_AFTER_SECONDS = 24 * 3600  # an ingest owned by another host is presumed dead after this
OWNERLESS_GRACE_SECONDS = 60  # a staging folder gets its owner file microseconds after mkdir


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_gone(host: str | None, pid: int | None, started: datetime | None) -> bool:
    """True when the ingest started by ``pid`` on ``host`` at ``started`` is no longer running."""
    if host == socket.gethostname() and pid is not None:
        return pid == os.getpid() or not _pid_alive(pid)
    if started is None:
        return True
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    return (datetime.now(UTC) - started).total_seconds() > STALE_AFTER_SECONDS


def write_owner(staging: Path, started: datetime) -> None:
    """Mark a staging folder as this process's."""
    (staging / "owner.json").write_text(
        json.dumps(
            {"host": socket.gethostname(), "pid": os.getpid(), "started": started.isoformat()}
        )
    )


def recover_interrupted(app: Application) -> list[str]:
    """Remove what interrupted ingests left behind: their objects on every location, their
    staging folders and their ``ingesting`` rows. Returns the package ids cleaned up."""
    cleaned: list[str] = []
    with app.uow() as uow:
        stale = [
            (p.id, [(c.location.url, c.key_prefix) for c in uow.copies.for_package(p.id)])
            for p in uow.packages.list_interrupted()
            if owner_gone(p.ingest_host, p.ingest_pid, p.created_at)
        ]
    for package_id, copies in stale:
        try:
            for url, prefix in copies:
                removed = app.storage(url).delete_prefix(prefix)
                log.info(
                    "removed %d objects of interrupted ingest %s from %s", removed, package_id, url
                )
        except StorageError as exc:
            log.warning("could not clean up interrupted ingest %s yet: %s", package_id, exc)
            continue
        with app.uow() as uow:
            package = uow.packages.get(package_id)
            if package is not None and package.status == "ingesting":
                uow.packages.delete(package)
                uow.commit()
        shutil.rmtree(app.settings.staging_dir / package_id, ignore_errors=True)
        cleaned.append(package_id)
    _remove_orphan_staging(app)
    return cleaned


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
                info.get("host"), info.get("pid"), datetime.fromisoformat(info["started"])
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
    """Undo a failed ingest: objects, row and staging. What cannot be undone now is left for
    :func:`recover_interrupted` (the row stays ``ingesting``)."""
    if registered:
        clean = True
        try:
            with app.uow() as uow:
                copies = [
                    (c.location.url, c.key_prefix) for c in uow.copies.for_package(package_id)
                ]
            for url, prefix in copies:
                app.storage(url).delete_prefix(prefix)
        except PreserveError as exc:
            clean = False
            log.warning("could not remove the copies of failed ingest %s: %s", package_id, exc)
        if clean:
            with app.uow() as uow:
                package = uow.packages.get(package_id)
                if package is not None:
                    uow.packages.delete(package)
                    uow.commit()
    shutil.rmtree(staging, ignore_errors=True)
