"""S3 Object Lock for kept packages (issue 12): a package's minimum retention applied as object
retention, and a hold as a legal hold, on every object of every copy on a location that can
lock objects, so that not even a stolen credential can delete a kept package early.

The objects of a copy are those the catalogue says its version's folder holds (the files of the
version it stored itself and its tag files, as fixity reads them) and the package's event files
(``<package>/events/``) on that location. A location that cannot lock objects (a local folder,
a bucket without Object Lock) is reported as such per copy, never silently skipped. Each
application is one PREMIS ``policy assignment`` event on the package; the event file it is
written into is then locked too, so the record of a retention or hold is kept with the package
(event files written later are covered by the next application, or a bucket default retention).

The agreements and holds services decide *when* to call these; this module only does it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from preserve import __version__, premis
from preserve.bootstrap import Application
from preserve.errors import NotFound, ObjectNotFound, StorageError
from preserve.services.admin import link_actor_and_owner, require_location
from preserve.services.journal import flush_events, package_folder
from preserve.storage import Storage
from preserve.storage.base import (
    RETENTION_MODES,
    ObjectLockUnsupported,
    ObjectRetention,
    RetentionNotExtended,
    retention_request,
)
from preserve.text import plural

log = logging.getLogger(__name__)

#: Objects locked at once on one location (each is a HEAD and a PUT).
PARALLEL_REQUESTS = 8

#: What happened to a copy: every object locked (or already so), the location cannot lock
#: objects, or at least one object could not be locked (``failures`` say which and why).
APPLIED, NOT_SUPPORTED, FAILED = "applied", "not supported", "failed"


@dataclass(frozen=True)
class KeyFailure:
    key: str
    reason: str


@dataclass(frozen=True)
class CopyLock:
    """What was done to one copy: ``version`` is None for the package's event files on the
    location (``prefix`` is then ``<package>/events/``)."""

    location: str
    version: int | None
    prefix: str
    status: str
    #: objects changed now / already locked as asked (or longer) / not on the location
    applied: int = 0
    already: int = 0
    missing: int = 0
    failures: tuple[KeyFailure, ...] = ()
    reason: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "version": self.version,
            "prefix": self.prefix,
            "status": self.status,
            "applied": self.applied,
            "already": self.already,
            "missing": self.missing,
            "failures": [{"key": f.key, "reason": f.reason} for f in self.failures],
            "reason": self.reason,
        }


@dataclass(frozen=True)
class LockReport:
    """The outcome of one application to a package, per copy, and its PREMIS event."""

    package_id: str
    action: str  # "retention" or "legal hold"
    what: str  # e.g. "retention COMPLIANCE until 2040-01-01T00:00:00Z", "legal hold on"
    copies: tuple[CopyLock, ...] = field(default_factory=tuple)
    event_id: str | None = None
    outcome: str = "success"

    @property
    def ok(self) -> bool:
        """No object failed (locations without object lock are not failures, but are said)."""
        return all(c.status != FAILED for c in self.copies)

    def as_json(self) -> dict[str, Any]:
        return {
            "package_id": self.package_id,
            "action": self.action,
            "what": self.what,
            "outcome": self.outcome,
            "ok": self.ok,
            "event_id": self.event_id,
            "copies": [c.as_json() for c in self.copies],
        }


@dataclass(frozen=True)
class _Target:
    location: str
    url: str
    version: int | None
    prefix: str
    keys: tuple[str, ...]
    #: keys that may be absent (event files written before the location held a copy)
    optional: bool = False


def apply_retention(
    app: Application,
    package_id: str,
    until: datetime,
    *,
    mode: str = "COMPLIANCE",
    now: datetime | None = None,
) -> LockReport:
    """Retain every object of every copy of the package until ``until`` (timezone-aware, in
    the future) in ``mode`` (COMPLIANCE: no one can shorten it; GOVERNANCE: a holder of
    s3:BypassGovernanceRetention can), on each location that can lock objects. Retention is
    only ever extended: an object already retained longer counts as ``already``. Records one
    PREMIS event; :class:`NotFound` for an unknown package, :class:`InvalidInput` for a bad
    date or mode."""
    until, mode = retention_request(until, mode, location=f"package {package_id}", now=now)
    stamp = f"{until:%Y-%m-%dT%H:%M:%SZ}"

    def one(storage: Storage, key: str) -> bool:
        try:
            return storage.set_retention(key, until, mode)
        except RetentionNotExtended as exc:
            if exc.current is not None and _at_least(exc.current, until, mode):
                return False  # kept longer already: the minimum holds
            raise

    return _apply(
        app,
        package_id,
        action="retention",
        what=f"retention {mode} until {stamp}",
        one=one,
    )


def apply_legal_hold(app: Application, package_id: str, on: bool) -> LockReport:
    """Put every object of every copy of the package under a legal hold (``on``), or lift it,
    on each location that can lock objects; records one PREMIS event."""

    def one(storage: Storage, key: str) -> bool:
        if storage.get_legal_hold(key) == on:
            return False
        storage.set_legal_hold(key, on)
        return True

    return _apply(
        app,
        package_id,
        action="legal hold",
        what=f"legal hold {'on' if on else 'off'}",
        one=one,
    )


@dataclass(frozen=True)
class LocationLock:
    """A registered location and whether it can lock objects: ``supported`` is None when the
    location could not be asked (``reason`` says why)."""

    name: str
    url: str
    provider: str
    region: str | None
    storage_type: str
    is_default: bool
    offline: bool
    retired_at: datetime | None
    supported: bool | None
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "provider": self.provider,
            "region": self.region,
            "storage_type": self.storage_type,
            "is_default": self.is_default,
            "offline": self.offline,
            "retired_at": self.retired_at.isoformat() if self.retired_at else None,
            "object_lock": self.supported,
            "object_lock_reason": self.reason,
        }


def location_object_lock(app: Application, name: str) -> LocationLock:
    """The registered location ``name`` and whether it can lock objects (asked of it: S3's
    GetObjectLockConfiguration); :class:`NotFound` (with "did you mean") for an unknown name.
    A location that cannot be asked is reported with ``supported=None``, not raised."""
    with app.uow() as uow:
        loc = require_location(uow, name)
        fields = (
            loc.name,
            loc.url,
            loc.provider,
            loc.region,
            loc.storage_type,
            loc.is_default,
            loc.offline,
            loc.retired_at,
        )
    storage = app.storage(fields[1])
    supported: bool | None
    try:
        supported = storage.supports_object_lock()
    except StorageError as exc:
        supported, reason = None, f"could not be asked: {exc}"
    else:
        reason = "the bucket has S3 Object Lock enabled" if supported else _kind(storage)
    return LocationLock(*fields, supported=supported, reason=reason)


def location_supports_object_lock(app: Application, name: str) -> bool:
    """Whether the registered location ``name`` can lock objects (asked of it);
    :class:`NotFound` for an unknown name, a :class:`StorageError` when it cannot be asked."""
    with app.uow() as uow:
        url = require_location(uow, name).url
    return app.storage(url).supports_object_lock()


def _at_least(current: ObjectRetention, until: datetime, mode: str) -> bool:
    """Whether ``current`` keeps an object at least until ``until`` at least as strictly."""
    stronger = current.mode == mode or current.mode == "COMPLIANCE"
    return stronger and current.until.replace(microsecond=0) >= until


def _apply(
    app: Application,
    package_id: str,
    *,
    action: str,
    what: str,
    one: Callable[[Storage, str], bool],
) -> LockReport:
    targets = _targets(app, package_id)
    results: list[CopyLock] = []
    supported: dict[str, bool | str] = {}
    for target in targets:
        storage = app.storage(target.url)
        if target.url not in supported:
            try:
                supported[target.url] = storage.supports_object_lock()
            except StorageError as exc:
                supported[target.url] = str(exc)
        answer = supported[target.url]
        if answer is False:
            results.append(
                CopyLock(
                    target.location,
                    target.version,
                    target.prefix,
                    NOT_SUPPORTED,
                    reason=f"location {target.location}: {_kind(storage)}",
                )
            )
            continue
        if isinstance(answer, str):
            results.append(
                CopyLock(
                    target.location,
                    target.version,
                    target.prefix,
                    FAILED,
                    reason=f"could not ask whether it can lock objects: {answer}",
                )
            )
            continue
        results.append(_lock_target(storage, target, one))
    report = _record(app, LockReport(package_id, action, what, tuple(results)))
    return _lock_own_record(app, report, targets, supported, one)


def _lock_own_record(
    app: Application,
    report: LockReport,
    targets: list[_Target],
    supported: dict[str, bool | str],
    one: Callable[[Storage, str], bool],
) -> LockReport:
    """Lock the event files the application's own event was just written into (on each
    location that locks), so that the record of a retention or hold is kept with it; their
    counts join the location's event-file row."""
    with app.uow() as uow:
        events = [e.path for e in uow.journal.files_of(report.package_id)]
    folders: dict[tuple[str, str], str] = {}
    done: set[tuple[str, str]] = set()
    for t in targets:
        if t.version is not None:
            folders.setdefault((t.location, t.url), package_folder(t.prefix))
        else:
            done.update((t.url, key) for key in t.keys)
    rows = list(report.copies)
    for (name, url), folder in folders.items():
        fresh = tuple(folder + p for p in events if (url, folder + p) not in done)
        if supported.get(url) is not True or not fresh:
            continue
        late = _lock_target(
            app.storage(url), _Target(name, url, None, folder + "events/", fresh, True), one
        )
        at = next((i for i, c in enumerate(rows) if c.location == name and c.version is None), None)
        if at is None:
            rows.append(late)
            continue
        was = rows[at]
        failures = was.failures + late.failures
        rows[at] = CopyLock(
            name,
            None,
            was.prefix,
            FAILED if failures else APPLIED,
            applied=was.applied + late.applied,
            already=was.already + late.already,
            missing=was.missing + late.missing,
            failures=failures,
            reason=was.reason or late.reason,
        )
    return dataclasses.replace(report, copies=tuple(rows))


def _lock_target(
    storage: Storage, target: _Target, one: Callable[[Storage, str], bool]
) -> CopyLock:
    applied = already = missing = 0
    failures: list[KeyFailure] = []

    def attempt(key: str) -> tuple[str, str | None]:
        try:
            return ("applied" if one(storage, key) else "already"), None
        except ObjectNotFound:
            return "missing", "no such object"
        except ObjectLockUnsupported as exc:
            return "failed", str(exc)
        except StorageError as exc:
            return "failed", str(exc)

    with ThreadPoolExecutor(max_workers=PARALLEL_REQUESTS) as pool:
        for key, (outcome, reason) in zip(target.keys, pool.map(attempt, target.keys), strict=True):
            if outcome == "applied":
                applied += 1
            elif outcome == "already":
                already += 1
            elif outcome == "missing" and target.optional:
                missing += 1
            else:
                failures.append(KeyFailure(key, reason or outcome))
    status = FAILED if failures else APPLIED
    reason = ""
    if failures:
        reason = f"{plural(len(failures), 'object')} not locked: {failures[0].reason}"
    return CopyLock(
        target.location,
        target.version,
        target.prefix,
        status,
        applied=applied,
        already=already,
        missing=missing,
        failures=tuple(failures),
        reason=reason,
    )


def _kind(storage: Storage) -> str:
    if getattr(storage, "provider", "") == "s3":
        return "its bucket does not have S3 Object Lock enabled"
    return "a local folder cannot lock objects"


def _targets(app: Application, package_id: str) -> list[_Target]:
    """Every copy of the package with the keys of its objects, and per location holding one the
    package's event files."""
    with app.uow() as uow:
        package = uow.packages.get(package_id)
        if package is None:
            raise NotFound(f"package {package_id} does not exist")
        copies = [
            (c.location.name, c.location.url, c.version, c.key_prefix)
            for c in uow.copies.for_package(package_id)
            if c.status != "pending"  # being written: the write itself may still fail
        ]
        stored: dict[int, list[str]] = {}
        for version in sorted({c[2] for c in copies}):
            stored[version] = [
                f.stored_path or f.path
                for f in uow.files.iter_for_package(package_id, version=version)
                if f.stored_version == version
            ]
        events = [e.path for e in uow.journal.files_of(package_id)]
    targets: list[_Target] = []
    folders: dict[tuple[str, str], str] = {}
    for name, url, version, prefix in copies:
        targets.append(
            _Target(name, url, version, prefix, tuple(prefix + p for p in stored[version]))
        )
        folders.setdefault((name, url), package_folder(prefix))
    for (name, url), folder in folders.items():
        if events:
            targets.append(
                _Target(
                    name,
                    url,
                    None,
                    folder + "events/",
                    tuple(folder + p for p in events),
                    optional=True,
                )
            )
    return targets


def _record(app: Application, report: LockReport) -> LockReport:
    """One PREMIS policy assignment event for the application; its outcome is failure when an
    object could not be locked, warning when a copy is on a location that cannot lock."""
    copies = report.copies
    applied = sum(c.applied for c in copies)
    already = sum(c.already for c in copies)
    failed = [c for c in copies if c.status == FAILED]
    unsupported = sorted({c.location for c in copies if c.status == NOT_SUPPORTED})
    locked_on = sorted({c.location for c in copies if c.status == APPLIED})
    outcome = "failure" if failed else "warning" if unsupported or not copies else "success"
    detail = (
        f"S3 Object Lock {report.what}: every object of the package's copies "
        f"on {', '.join(locked_on) or 'no location'}"
    )
    parts = [f"{plural(applied, 'object')} set, {already} already so"]
    if unsupported:
        parts.append(f"not supported by {', '.join(unsupported)} (no object lock there)")
    for c in failed:
        where = f"v{c.version}" if c.version is not None else "event files"
        parts.append(f"{c.location} {where}: {c.reason}")
    if not copies:
        parts.append("the package has no stored copy")
    with app.uow() as uow:
        agent = uow.agents.get_or_create("preserve", __version__, "software")
        event = uow.events.add(
            premis.POLICY_ASSIGNMENT,
            outcome,
            agent=agent,
            package_id=report.package_id,
            detail=detail,
            outcome_detail="; ".join(parts),
            occurred_at=datetime.now(UTC),
        )
        link_actor_and_owner(uow, app.actor, event)
        uow.commit()
        event_id = event.id
    flush_events(app, [report.package_id], catch_up=0)
    log.info("package %s: %s: %s (%s)", report.package_id, detail, "; ".join(parts), outcome)
    return LockReport(report.package_id, report.action, report.what, copies, event_id, outcome)


__all__ = [
    "APPLIED",
    "FAILED",
    "NOT_SUPPORTED",
    "RETENTION_MODES",
    "CopyLock",
    "KeyFailure",
    "LocationLock",
    "LockReport",
    "apply_legal_hold",
    "apply_retention",
    "location_object_lock",
    "location_supports_object_lock",
]
