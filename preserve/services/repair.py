"""Self-repair: a damaged copy made whole again, file by file, from the good files of the others.

A copy (one version of a package on one location) that a fixity check found damaged is repaired
one file at a time (payload and tag files, and the package's event files on that location):

1. the object is re-read (never trust a report alone: a file already whole is left alone);
2. a good source is found: the same file on another copy of the version, or any object of the
   package the catalogue says holds the same bytes (an identical file elsewhere in the bag, on
   any location). A source is never trusted unread: it is streamed into a temporary file while
   its size and digests are compared with the catalogue, and the next one is tried when they
   differ;
3. the damaged object is moved aside, on the same location, under
   ``quarantine/<original key>/<sha256 of its bytes>`` (kept, never silently deleted) and a
   :class:`~preserve.catalogue.models.QuarantinedObject` row and a PREMIS ``quarantine`` event
   record it; an object that is missing is recorded the same way with nothing to keep;
4. the good bytes are written in its place, verified as they are written and then re-read, and
   a PREMIS ``recovery`` event records it (with ``restored_at`` on the quarantine row).

The copy is ``quarantined`` while damaged; a last fixity check re-reads it all and records the
``fixity check`` event that makes it ``verified`` again. A file with no good copy anywhere is
left where it is, the package is marked damaged (``packages.damaged_at``, ``damage``) and an
alert names the file; the mark goes once every file is whole again.

Idempotent: every step is recorded in its own short transaction after its storage I/O (none is
held open across it), and each is recognised when run again (a file found whole is not touched;
a quarantine key is named after the bytes it keeps, and an object there that no row records is
recorded; a restored file with a quarantine row not yet marked restored gets its recovery event
then). Run twice, or killed mid-way and run again, a repair ends with one quarantined object per
damaged file, one quarantine and one recovery event per file, and the copy whole.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from preserve import __version__, premis
from preserve.checksums import MultiHasher
from preserve.errors import (
    InvalidInput,
    NotFound,
    ObjectNotFound,
    StorageError,
    StorageUnavailable,
)
from preserve.progress import NoProgress, Progress
from preserve.services.fixity import FileProblem
from preserve.services.jobs import JobRecord, Work, handles
from preserve.storage.keys import MAX_KEY_BYTES
from preserve.text import plural

if TYPE_CHECKING:
    from preserve.bootstrap import Application
    from preserve.services.fixity import CopyCheck
    from preserve.storage import Storage
    from preserve.uow import UnitOfWork

log = logging.getLogger(__name__)

#: The folder, at the root of each location, that keeps the damaged objects set aside.
QUARANTINE_PREFIX = "quarantine/"
#: What a check found that repair acts on (an "error" is a check that could not read: the
#: object is re-read here and repaired only if it proves damaged).
REPAIRABLE = ("mismatch", "missing", "error")


@dataclass(frozen=True)
class RepairedEvent:
    """A PREMIS event the repair recorded."""

    id: str
    event_type: str
    outcome: str
    path: str = ""


@dataclass(frozen=True)
class RepairResult:
    copy_id: int
    package_id: str
    version: int
    location: str
    #: the copy is whole: its last fixity check found nothing wrong
    repaired: bool
    #: files whose good bytes were written back (and verified)
    files_repaired: int
    #: objects set aside: (path, quarantine key, reason); the key is empty for a missing object
    quarantined: tuple[tuple[str, str, str], ...]
    #: files that could not be repaired: (path, reason)
    unrepairable: list[tuple[str, str]]
    #: the events recorded, in order (the fixity checks included)
    events: tuple[RepairedEvent, ...]
    #: the outcome of the check that found the damage (None: problems were handed over),
    #: and of the last check
    outcome_before: str | None
    outcome_after: str
    #: the problems the last check still found, one line each
    remaining: tuple[str, ...] = ()
    #: files with no good copy anywhere: the package is marked damaged
    damaged: tuple[str, ...] = ()
    #: copies that were whole already (nothing found)
    nothing_to_do: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "copy_id": self.copy_id,
            "package_id": self.package_id,
            "version": self.version,
            "location": self.location,
            "repaired": self.repaired,
            "files_repaired": self.files_repaired,
            "quarantined": [
                {"path": p, "quarantine_key": k, "reason": r} for p, k, r in self.quarantined
            ],
            "unrepairable": [{"path": p, "reason": r} for p, r in self.unrepairable],
            "events": [
                {"id": e.id, "type": e.event_type, "outcome": e.outcome, "path": e.path}
                for e in self.events
            ],
            "outcome_before": self.outcome_before,
            "outcome_after": self.outcome_after,
            "remaining": list(self.remaining),
            "damaged": list(self.damaged),
        }


@dataclass(frozen=True)
class _Copy:
    id: int
    package_id: str
    version: int
    current_version: int
    location_id: int
    location: str
    url: str
    key_prefix: str

    @property
    def package_folder(self) -> str:
        return self.key_prefix.rstrip("/").rsplit("/", 1)[0] + "/"


@dataclass(frozen=True)
class _Expected:
    """A file the copy must hold: its path (relative to the copy's folder, or ``events/...``
    relative to the package's folder for an event file), its key, size and digests."""

    path: str
    key: str
    size: int
    digests: Mapping[str, str]
    event_file: bool = False


@dataclass
class _Clock:
    """Event times: the injected ``now`` a microsecond further at each event, so the story's
    order is kept; the real clock otherwise."""

    start: datetime | None
    ticks: int = 0

    def __call__(self) -> datetime:
        if self.start is None:
            return datetime.now(UTC)
        self.ticks += 1
        return self.start + timedelta(microseconds=self.ticks)


@dataclass
class _Run:
    copy: _Copy
    clock: _Clock
    events: list[RepairedEvent] = field(default_factory=list)
    quarantined: list[tuple[str, str, str]] = field(default_factory=list)
    unrepairable: list[tuple[str, str]] = field(default_factory=list)
    damaged: list[tuple[str, str]] = field(default_factory=list)
    repaired: int = 0
    whole: list[str] = field(default_factory=list)


def repair_copy(
    app: Application,
    copy_id: int,
    problems: Sequence[FileProblem] | None = None,
    *,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> RepairResult:
    """Repair the copy ``copy_id`` file by file (see the module's description). With
    ``problems=None`` the copy is checked first (a fixity check, recorded as any other);
    otherwise ``problems`` (what a check of it just found) say which files to look at. Ends
    with a fixity check of the whole copy. :class:`NotFound` for an unknown copy."""
    progress = progress or NoProgress()
    clock = _Clock(now)
    copy = _load_copy(app, copy_id)
    run = _Run(copy, clock)
    outcome_before: str | None = None
    if problems is None:
        check = _check(app, copy, progress, clock())
        run.events.extend(_new_check_event(app, copy))
        outcome_before = check.outcome
        problems = check.problems
        if check.outcome == "ok":
            _clear_damage(app, copy)
            _flush(app, copy)
            return _result(run, check, outcome_before, nothing_to_do=True)
    problems = list(problems)
    expected, foreign = _targets(app, copy, problems)
    storage = app.storage(copy.url)
    if expected or foreign:
        _mark(app, copy, "quarantined")
    total = sum(e.size for e in expected)
    progress.begin(f"repairing {copy.package_id} on {copy.location}", len(expected), total)
    try:
        for item in expected:
            _repair_file(app, run, storage, item)
            progress.advance(1, item.size)
        for path in foreign:
            _set_aside_foreign(app, run, storage, path)
    finally:
        progress.end()
    check = _check(app, copy, progress, clock())
    run.events.extend(_new_check_event(app, copy))
    _conclude(app, run, check, clock())
    _flush(app, copy)
    if expected:  # objects written again: the package's retention and legal hold on them
        from preserve.services.retention_locks import protect

        protect(app, [copy.package_id], new_objects=True)
    return _result(run, check, outcome_before)


def _flush(app: Application, copy: _Copy) -> None:
    """The events recorded, written to storage too (the event-file journal)."""
    from preserve.services.journal import flush_events

    flush_events(app, [copy.package_id], catch_up=0)


# ----------------------------------------------------------------------------- one file


def _repair_file(app: Application, run: _Run, storage: Storage, item: _Expected) -> None:
    copy = run.copy
    try:
        state = _read_state(storage, item)
    except StorageError as exc:
        run.unrepairable.append((item.path, f"could not be read: {exc}"))
        return
    if state is None:  # whole: perhaps restored by a run that was killed before recording it
        if _record_recovery(app, run, item, source=None):
            run.repaired += 1
        run.whole.append(item.path)
        return
    with _spool(app) as spool:
        source = _fetch_good(app, run, item, spool)
        if source is None:
            reason = "no good copy on any location"
            run.unrepairable.append((item.path, reason))
            run.damaged.append((item.path, reason))
            return
        if isinstance(state, str):  # missing
            _record_missing(app, run, storage, item)
        else:
            size, sha256 = state
            qkey = _quarantine_key(item.key, sha256)
            storage.move(item.key, qkey, sha256=sha256)
            _record_quarantine(app, run, item, qkey, size, sha256, "mismatch")
        stored = storage.put(item.key, spool, digests=item.digests)
        log.debug("repair: wrote %s (%s) on %s", item.key, stored.size, copy.location)
        problem = _read_state(storage, item)  # re-verified by reading it back
        if problem is not None:
            run.unrepairable.append((item.path, f"still wrong after writing it back: {problem}"))
            return
        _record_recovery(app, run, item, source=source)
        run.repaired += 1
        run.whole.append(item.path)


def _read_state(storage: Storage, item: _Expected) -> tuple[int, str] | str | None:
    """None when the object holds the catalogued bytes; "missing"; else (size, sha256) of what
    it holds."""
    algorithms = tuple(dict.fromkeys(("sha256", *item.digests)))
    hasher = MultiHasher(algorithms)
    try:
        with storage.open(item.key) as stream:
            while chunk := stream.read(1 << 20):
                hasher.update(chunk)
    except ObjectNotFound:
        return "missing"
    got = hasher.hexdigests()
    if hasher.size == item.size and all(got[a] == v for a, v in item.digests.items()):
        return None
    return hasher.size, got["sha256"]


def _quarantine_key(key: str, sha256: str) -> str:
    """Where a damaged object is set aside: named after the bytes it keeps, so a second run
    finds the same key (and two different damages of one file get two)."""
    qkey = f"{QUARANTINE_PREFIX}{key}/{sha256}"
    if len(qkey.encode("utf-8")) > MAX_KEY_BYTES:  # the row keeps the original key
        qkey = f"{QUARANTINE_PREFIX}long-keys/{hashlib.sha256(key.encode()).hexdigest()}/{sha256}"
    return qkey


@contextmanager
def _spool(app: Application) -> Iterator[Path]:
    """A temporary file for a source's bytes, in the staging area (beside the catalogue's
    home, sized for packages), removed afterwards."""
    staging = app.settings.staging_dir
    staging.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".repair-", dir=staging)
    os.close(fd)
    try:
        yield Path(name)
    finally:
        with suppress(FileNotFoundError):
            os.unlink(name)


def _fetch_good(app: Application, run: _Run, item: _Expected, spool: Path) -> str | None:
    """Stream the first source whose bytes match the catalogue into ``spool``; where it came
    from (location and key), or None when no source is good."""
    for location, url, key in _sources(app, run.copy, item):
        try:
            storage = app.storage(url)
            hasher = MultiHasher(tuple(item.digests) or ("sha256",))
            with storage.open(key) as stream, open(spool, "wb") as out:
                while chunk := stream.read(1 << 20):
                    hasher.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        except (StorageError, InvalidInput) as exc:
            log.info("repair: source %s on %s unusable: %s", key, location, exc)
            continue
        got = hasher.hexdigests()
        if hasher.size != item.size or any(got[a] != v for a, v in item.digests.items()):
            log.info("repair: source %s on %s is damaged too", key, location)
            continue
        return f"{key} on location {location}"
    return None


def _sources(app: Application, copy: _Copy, item: _Expected) -> list[tuple[str, str, str]]:
    """Where the bytes of ``item`` may be found: (location name, URL, key), the same file on
    the package's other locations first (verified copies first), then any object of the
    package the catalogue says holds the same bytes."""
    from preserve.catalogue.models import Copy, EventFile, File, StorageLocation

    found: list[tuple[int, str, str, str]] = []
    with app.uow() as uow:
        s = uow.session
        copies = s.execute(
            sa.select(
                Copy.version,
                Copy.key_prefix,
                Copy.status,
                StorageLocation.name,
                StorageLocation.url,
                StorageLocation.id,
            )
            .join(StorageLocation, StorageLocation.id == Copy.location_id)
            .where(Copy.package_id == copy.package_id, Copy.status != "pending")
            .order_by(Copy.status != "verified", StorageLocation.offline, Copy.id)
        ).all()
        if item.event_file:
            known = s.scalar(
                sa.select(EventFile.id).where(
                    EventFile.package_id == copy.package_id, EventFile.path == item.path
                )
            )
            seen: set[str] = set()
            for _v, prefix, status, name, url, loc in copies:
                if loc == copy.location_id or url in seen or known is None:
                    continue
                seen.add(url)
                folder = prefix.rstrip("/").rsplit("/", 1)[0] + "/"
                found.append((status != "verified", name, url, folder + item.path))
            return [(n, u, k) for _o, n, u, k in found]
        sha256 = item.digests.get("sha256")
        same = sa.and_(File.size == item.size, File.stored_version == File.version)
        if sha256:
            same = sa.and_(same, sa.func.lower(File.sha256) == sha256)
        else:
            same = sa.and_(same, File.path == item.path, File.version == copy.version)
        holders = s.execute(
            sa.select(File.version, File.path)
            .where(File.package_id == copy.package_id, same)
            .order_by(File.version != copy.version, File.path != item.path, File.id)
        ).all()
        for version, path in holders:
            for v, prefix, _status, name, url, _loc in copies:
                if v != version:
                    continue
                key = prefix + path
                if url == copy.url and key == item.key:
                    continue  # the damaged object itself
                same_file = path == item.path and version == copy.version
                found.append((0 if same_file else 1, name, url, key))
    return [(n, u, k) for _o, n, u, k in sorted(found, key=lambda f: f[0])]


def _set_aside_foreign(app: Application, run: _Run, storage: Storage, path: str) -> None:
    """An object in the copy's folder that the catalogue does not know: set aside."""
    key = run.copy.key_prefix + path
    hasher = MultiHasher(("sha256",))
    try:
        with storage.open(key) as stream:
            while chunk := stream.read(1 << 20):
                hasher.update(chunk)
    except ObjectNotFound:
        return  # set aside already
    except StorageError as exc:
        run.unrepairable.append((path, f"unknown object could not be read: {exc}"))
        return
    sha256 = hasher.hexdigests()["sha256"]
    qkey = _quarantine_key(key, sha256)
    storage.move(key, qkey, sha256=sha256)
    item = _Expected(path, key, hasher.size, {})
    _record_quarantine(app, run, item, qkey, hasher.size, sha256, "foreign")


# ----------------------------------------------------------------------------- the record


def _event(
    uow: UnitOfWork, app: Application, copy: _Copy, event_type: str, when: datetime, **kw: Any
) -> Any:
    from preserve.services.admin import link_actor_and_owner

    agent = uow.agents.get_or_create("preserve", __version__, "software")
    event = uow.events.add(
        event_type,
        kw.pop("outcome", "success"),
        agent=agent,
        package_id=copy.package_id,
        copy_id=copy.id,
        occurred_at=when,
        version=copy.version,
        **kw,
    )
    uow.flush()
    link_actor_and_owner(uow, app.actor, event)
    return event


def _record_quarantine(
    app: Application,
    run: _Run,
    item: _Expected,
    qkey: str,
    size: int | None,
    sha256: str | None,
    reason: str,
) -> None:
    """The quarantine row and event of an object set aside at ``qkey`` ("" for a missing
    object), once: a second run finds the row."""
    from preserve.catalogue.models import QuarantinedObject

    copy = run.copy
    with app.uow() as uow:
        s = uow.session
        existing = s.scalar(
            sa.select(QuarantinedObject.id).where(
                QuarantinedObject.location_id == copy.location_id,
                QuarantinedObject.original_key == item.key,
                QuarantinedObject.quarantine_key == qkey,
                QuarantinedObject.restored_at.is_(None),
            )
        )
        if existing is not None:
            return
        when = run.clock()
        what = {
            "mismatch": f"its bytes differ from the catalogue ({plural(size or 0, 'byte')}, "
            f"sha256 {sha256}; expected {plural(item.size, 'byte')}"
            + (f", sha256 {item.digests['sha256']}" if "sha256" in item.digests else "")
            + ")",
            "missing": "it is missing",
            "foreign": f"the catalogue does not know it ({plural(size or 0, 'byte')}, "
            f"sha256 {sha256})",
        }[reason]
        where = f"set aside as {qkey}" if qkey else "nothing to set aside"
        event = _event(
            uow,
            app,
            copy,
            premis.QUARANTINE,
            when,
            detail=f"{item.path} of location {copy.location} ({item.key}): {what}; {where} on "
            "the same location, kept",
            outcome_detail=f"{reason}: {item.path}",
        )
        s.add(
            QuarantinedObject(
                copy_id=copy.id,
                package_id=copy.package_id,
                version=copy.version,
                location_id=copy.location_id,
                path=item.path,
                original_key=item.key,
                quarantine_key=qkey,
                size=size,
                sha256=sha256,
                reason=reason,
                detail=what,
                event_id=event.id,
                quarantined_at=when,
                # an unknown object is not restored: nothing belongs in its place
                restored_at=when if reason == "foreign" else None,
            )
        )
        uow.commit()
        run.events.append(RepairedEvent(event.id, premis.QUARANTINE, "success", item.path))
        run.quarantined.append((item.path, qkey, reason))


def _record_missing(app: Application, run: _Run, storage: Storage, item: _Expected) -> None:
    """A missing object: either an earlier run set it aside and was killed before recording
    it (its bytes are under the quarantine folder: recorded now), or it is missing."""
    from preserve.catalogue.models import QuarantinedObject

    folder = _quarantine_key(item.key, "0" * 64).rsplit("/", 1)[0] + "/"
    with app.uow() as uow:
        rows = uow.session.execute(
            sa.select(QuarantinedObject.quarantine_key).where(
                QuarantinedObject.location_id == run.copy.location_id,
                QuarantinedObject.original_key == item.key,
            )
        ).all()
        recorded = {r[0] for r in rows}
        pending = uow.session.scalar(
            sa.select(sa.func.count(QuarantinedObject.id)).where(
                QuarantinedObject.location_id == run.copy.location_id,
                QuarantinedObject.original_key == item.key,
                QuarantinedObject.restored_at.is_(None),
            )
        )
    if pending:
        return  # recorded by the run that was killed: only the restoring is left
    for qkey in storage.iter_keys(folder):
        if qkey not in recorded:
            sha256 = qkey[len(folder) :]
            size = storage.stat(qkey).size
            _record_quarantine(app, run, item, qkey, size, sha256, "mismatch")
            return
    _record_quarantine(app, run, item, "", None, None, "missing")


def _record_recovery(app: Application, run: _Run, item: _Expected, source: str | None) -> bool:
    """The recovery event of a file whose good bytes are back (and its quarantine rows marked
    restored), once. False when nothing was waiting for it (a file that was never damaged)."""
    from preserve.catalogue.models import QuarantinedObject

    copy = run.copy
    with app.uow() as uow:
        rows = uow.session.scalars(
            sa.select(QuarantinedObject).where(
                QuarantinedObject.location_id == copy.location_id,
                QuarantinedObject.original_key == item.key,
                QuarantinedObject.restored_at.is_(None),
            )
        ).all()
        if not rows:
            return False
        when = run.clock()
        origin = f" from {source}" if source else ""
        kept = ", ".join(r.quarantine_key for r in rows if r.quarantine_key)
        event = _event(
            uow,
            app,
            copy,
            premis.RECOVERY,
            when,
            detail=f"{item.path} of location {copy.location} ({item.key}) restored{origin}, "
            "the source verified against the catalogue as it was read, the object verified "
            f"as it was written and re-read"
            + (f"; the damaged bytes are kept at {kept}" if kept else ""),
            outcome_detail=f"{item.path}: {plural(item.size, 'byte')}"
            + (f", sha256 {item.digests['sha256']}" if "sha256" in item.digests else ""),
        )
        for r in rows:
            r.restored_at = when
        uow.commit()
        run.events.append(RepairedEvent(event.id, premis.RECOVERY, "success", item.path))
    return True


def _mark(app: Application, copy: _Copy, status: str) -> None:
    from preserve.catalogue.models import Copy

    with app.uow() as uow:
        uow.session.execute(sa.update(Copy).where(Copy.id == copy.id).values(status=status))
        uow.commit()


def _conclude(app: Application, run: _Run, check: CopyCheck, when: datetime) -> None:
    """After the last check: the copy's status, the package's damage mark and the alerts."""
    from preserve.catalogue.models import Package
    from preserve.services import alerts

    copy = run.copy
    if check.outcome != "ok":
        _mark(app, copy, "quarantined")
    with app.uow() as uow:
        package = uow.session.get(Package, copy.package_id)
        if package is None:
            return
        damage = [dict(d) for d in (package.damage or [])]
        if check.outcome == "ok":
            damage = [d for d in damage if d.get("version") != copy.version]
        else:
            whole = set(run.whole)
            damage = [
                d
                for d in damage
                if not (d.get("version") == copy.version and d.get("path") in whole)
            ]
        known = {(d.get("version"), d.get("path")) for d in damage}
        new = [(p, r) for p, r in run.damaged if (copy.version, p) not in known]
        for path, reason in new:
            damage.append({"version": copy.version, "path": path, "reason": reason})
        package.damage = damage or None
        if damage and package.damaged_at is None:
            package.damaged_at = when
        elif not damage:
            package.damaged_at = None
        version = f" version {copy.version}" if copy.current_version > 1 else ""
        for path, reason in new:
            alerts.record(
                uow,
                "damaged",
                f"package {copy.package_id}{version} is damaged: {path} has no good copy",
                f"{path} of package {copy.package_id}{version} is damaged on location "
                f"{copy.location} and {reason}: it cannot be repaired. The damaged object is "
                "left where it is.",
                severity="critical",
                package_id=copy.package_id,
                location_id=copy.location_id,
                details={"version": copy.version, "path": path, "reason": reason},
                now=when,
            )
        if run.repaired and check.outcome == "ok":
            files = [p for p, _k, _r in run.quarantined]
            alerts.record(
                uow,
                "repaired",
                f"package {copy.package_id}{version} repaired on location {copy.location}: "
                f"{plural(run.repaired, 'file')}",
                f"{', '.join(files)} of package {copy.package_id}{version} on location "
                f"{copy.location} were damaged; they were set aside under {QUARANTINE_PREFIX} "
                "and restored from good copies, and the copy verified again.",
                severity="info",
                package_id=copy.package_id,
                location_id=copy.location_id,
                details={"version": copy.version, "files": files},
                now=when,
            )
        uow.commit()


def _clear_damage(app: Application, copy: _Copy) -> None:
    """The package's damage mark for this version goes once the copy is whole."""
    from preserve.catalogue.models import Package

    with app.uow() as uow:
        package = uow.session.get(Package, copy.package_id)
        if package is None or not package.damage:
            return
        damage = [d for d in package.damage if d.get("version") != copy.version]
        package.damage = damage or None
        if not damage:
            package.damaged_at = None
        uow.commit()


# ----------------------------------------------------------------------------- the check


def _load_copy(app: Application, copy_id: int) -> _Copy:
    from preserve.catalogue.models import Copy

    with app.uow() as uow:
        c = uow.session.get(Copy, copy_id)
        if c is None:
            raise NotFound(f"copy {copy_id} does not exist")
        return _Copy(
            c.id,
            c.package_id,
            c.version,
            c.package.version,
            c.location_id,
            c.location.name,
            c.location.url,
            c.key_prefix,
        )


def _check(app: Application, copy: _Copy, progress: Progress, now: datetime) -> CopyCheck:
    """A fixity check of the copy, recorded as any other (:mod:`preserve.services.fixity`:
    the copy's outcome and next check, a PREMIS event, a ``fixity_failure`` alert for
    damage)."""
    from preserve.services import fixity

    with fixity.open_catalogue(app) as catalogue:
        rows = [c for c in catalogue.copies(package_id=copy.package_id) if c.copy_id == copy.id]
        check = None
        if rows:
            chooser = fixity.digest_chooser(app)
            check = fixity.check_and_record(app, catalogue, rows[0], chooser, progress, now=now)
    if check is None:
        raise NotFound(f"copy {copy.id} of package {copy.package_id} no longer exists")
    return check


def _new_check_event(app: Application, copy: _Copy) -> list[RepairedEvent]:
    """The fixity check event just recorded for the copy."""
    from preserve.catalogue.models import Event

    with app.uow() as uow:
        e = uow.session.execute(
            sa.select(Event.id, Event.outcome)
            .where(Event.copy_id == copy.id, Event.event_type == premis.FIXITY_CHECK)
            .order_by(Event.occurred_at.desc(), Event.id.desc())
            .limit(1)
        ).first()
    return [] if e is None else [RepairedEvent(e[0], premis.FIXITY_CHECK, e[1])]


def _targets(
    app: Application, copy: _Copy, problems: Sequence[FileProblem]
) -> tuple[list[_Expected], list[str]]:
    """The files to look at for the problems found: those the copy itself holds (its own
    payload, its tag files, the package's event files on its location), and the unknown
    objects in its folder."""
    from preserve.catalogue.models import EventFile, File

    paths = {p.path for p in problems if p.outcome in REPAIRABLE and p.path}
    foreign = sorted(
        {p.path for p in problems if p.outcome == "unexpected" and p.path} - {p for p in paths}
    )
    expected: list[_Expected] = []
    with app.uow() as uow:
        rows = uow.session.execute(
            sa.select(File.path, File.size, File.sha256, File.sha512, File.stored_version).where(
                File.package_id == copy.package_id, File.version == copy.version
            )
        ).all()
        catalogued = {r[0]: r for r in rows}
        events = {
            e[0]: e
            for e in uow.session.execute(
                sa.select(EventFile.path, EventFile.size, EventFile.sha256, EventFile.sha512).where(
                    EventFile.package_id == copy.package_id
                )
            )
        }
    for path in sorted(paths):
        row = catalogued.get(path)
        if row is not None and row[4] == copy.version:
            digests = {a: v.lower() for a, v in (("sha256", row[2]), ("sha512", row[3])) if v}
            expected.append(_Expected(path, copy.key_prefix + path, row[1], digests))
        elif path in events:
            _path, size, sha256, sha512 = events[path]
            digests = {"sha256": sha256.lower(), "sha512": sha512.lower()}
            expected.append(
                _Expected(path, copy.package_folder + path, size, digests, event_file=True)
            )
    # unknown objects among the event files may be another catalogue's: left alone
    foreign = [p for p in foreign if not p.startswith("events/")]
    return expected, foreign


def _result(
    run: _Run, check: CopyCheck, outcome_before: str | None, *, nothing_to_do: bool = False
) -> RepairResult:
    copy = run.copy
    from preserve.services.fixity import problem_listing

    remaining = tuple(f"{p.path}: {p.message}" for p in check.problems)
    unrepairable = list(run.unrepairable)
    if check.outcome != "ok" and not unrepairable:
        unrepairable = [(p.path, p.message) for p in check.problems]
    if remaining:
        log.info("repair of copy %s: still %s", copy.id, problem_listing(check.problems))
    return RepairResult(
        copy.id,
        copy.package_id,
        copy.version,
        copy.location,
        check.outcome == "ok",
        run.repaired,
        tuple(run.quarantined),
        unrepairable,
        tuple(run.events),
        outcome_before,
        check.outcome,
        remaining,
        tuple(p for p, _r in run.damaged),
        nothing_to_do,
    )


# ----------------------------------------------------------------------------- jobs


def _payload_copy_id(payload: Mapping[str, Any]) -> int:
    value = payload.get("copy_id")
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"the job's payload names no copy (copy_id): {dict(payload)!r}")
    return value


@handles("repair")
def repair_job(app: Application, job: JobRecord, work: Work) -> Mapping[str, Any]:
    """A ``repair`` job (payload ``{"copy_id": N}``): check the copy and repair what is
    damaged (:func:`repair_copy`), reporting progress through ``work``."""
    result = repair_copy(app, _payload_copy_id(job.payload), progress=work)
    return result.as_json()


@handles("verify")
def verify_job(app: Application, job: JobRecord, work: Work) -> Mapping[str, Any]:
    """A ``verify`` job (payload ``{"copy_id": N}``): re-read and verify the copy now, and
    repair it when it is damaged. A copy that could not be read at all is an error worth
    another attempt (:class:`StorageUnavailable`)."""
    copy = _load_copy(app, _payload_copy_id(job.payload))
    check = _check(app, copy, work, datetime.now(UTC))
    if check.outcome == "ok":
        _clear_damage(app, copy)
        _flush(app, copy)
        return {
            "copy_id": copy.id,
            "outcome": "ok",
            "repaired": False,
            "files": check.files_checked,
        }
    if check.outcome == "error":
        _flush(app, copy)
        from preserve.services.fixity import problem_listing

        raise StorageUnavailable(
            f"copy {copy.id} of package {copy.package_id} on {copy.location} could not be "
            f"checked: {problem_listing(check.problems)}"
        )
    result = repair_copy(app, copy.id, check.problems, progress=work)
    return {**result.as_json(), "outcome_before": check.outcome}
