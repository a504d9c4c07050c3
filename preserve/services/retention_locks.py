"""S3 Object Lock applied by itself from retention and holds (issue 12; retention-agreements.md
5.1 E11, 3.10, 4.5).

:mod:`preserve.services.object_lock` locks every object of a package's copies when asked; this
module decides *what* must be locked and makes sure it is, even when a location does not
answer at that moment:

- **Retention.** A package whose agreement's rule has a ``minimum`` bound is retained until its
  due date (00:00 UTC) on every copy on a location that can lock objects (COMPLIANCE mode: no
  one can shorten it). ``keep_permanently`` has no due date: it gets a *rolling* retention of
  :data:`ROLLING_DAYS`, renewed by the daily task once fewer than :data:`RENEW_WITHIN_DAYS`
  remain, while the package is ``in_retention``. A fixed date decades ahead would outlive the
  agreement itself: a COMPLIANCE retention cannot be shortened, so an exit that returns the
  packages and deletes them with a certificate, or a later amendment, would be blocked for
  decades; the rolling year keeps a stolen credential from deleting anything while the
  agreement holds, and lets go at most a year after it stops (an expired agreement puts its
  packages under review: the renewals stop). A ``maximum`` bound is a date by which the
  package must *go*: it is never locked. Retention only extends: a due date that moves earlier
  (a corrected description) keeps the later one, as S3 does.
- **Holds.** A package under an active hold (on the package or its collection, also one
  ingested after a collection hold was placed) gets a legal hold on every object; lifting the
  last hold that covers it clears it.
- **New objects.** A copy made later (replication, a new version, a repair) gets the package's
  retention and legal hold too.

Each wish is recorded in ``object_lock_intents`` (:func:`note`) in the transaction that makes it
(a hold placed or lifted) or right after (an ingest, a copy), then applied (:func:`apply`);
what could not be applied (a location unreachable, an object missing) stays ``pending`` with its
error, raises one ``object_lock`` alert, and is tried again by the daily task (:func:`sweep`),
which also renews rolling retentions. Applying is idempotent: what is applied is not applied
again, so running the daily task twice records nothing twice. A package whose copies are all on
locations that cannot lock objects (local folders, buckets without Object Lock) is noted as
such without an event; one PREMIS event is recorded per application where a location can lock.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from preserve.bootstrap import Application
from preserve.catalogue.agreements import RetentionRule
from preserve.catalogue.holds import Hold, HoldTarget
from preserve.catalogue.models import Copy, Package, StorageLocation
from preserve.catalogue.object_locks import ObjectLockIntent
from preserve.catalogue.retention import PackageRetention
from preserve.errors import NotFound, PreserveError, StorageError
from preserve.services.holds import holds_on

log = logging.getLogger(__name__)

#: The rolling retention of a package kept permanently, and when it is renewed.
ROLLING_DAYS = 365
RENEW_WITHIN_DAYS = 90
#: Package ids per statement (SQLite's variable limit).
_BATCH = 500

#: What :func:`apply` did to a package.
APPLIED, NOTHING_TO_LOCK, FAILED = "applied", "nothing to lock", "failed"


@dataclass(frozen=True)
class Wanted:
    """What S3 Object Lock must hold for a package."""

    until: datetime | None
    reason: str
    hold: bool


@dataclass(frozen=True)
class PackageLock:
    """What one application did: ``status`` applied (every lockable copy holds it),
    nothing to lock (no copy on a location that can lock objects) or failed (``error``)."""

    package_id: str
    status: str
    retain_until: datetime | None
    legal_hold: bool
    done: tuple[str, ...] = ()  # "retention COMPLIANCE until ...", "legal hold on"
    error: str | None = None
    event_ids: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "package_id": self.package_id,
            "status": self.status,
            "retain_until": self.retain_until.isoformat() if self.retain_until else None,
            "legal_hold": self.legal_hold,
            "done": list(self.done),
            "error": self.error,
            "event_ids": list(self.event_ids),
        }


@dataclass(frozen=True)
class LockRun:
    """What :func:`apply` or :func:`sweep` did."""

    packages: tuple[PackageLock, ...] = ()
    #: Packages whose wish was (re)recorded as pending by the sweep.
    noted: int = 0

    @property
    def failed(self) -> tuple[PackageLock, ...]:
        return tuple(p for p in self.packages if p.status == FAILED)

    @property
    def ok(self) -> bool:
        return not self.failed

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "noted": self.noted,
            "applied": sum(p.status == APPLIED for p in self.packages),
            "nothing_to_lock": sum(p.status == NOTHING_TO_LOCK for p in self.packages),
            "failed": len(self.failed),
            "packages": [p.as_json() for p in self.packages],
        }


@dataclass(frozen=True)
class IntentInfo:
    """A package's wanted and applied lock, as ``preserve retention locks`` lists it."""

    package_id: str
    retain_until: datetime | None
    retain_reason: str
    legal_hold: bool
    applied_until: datetime | None
    applied_hold: bool | None
    applied_at: datetime | None
    pending: bool
    attempts: int
    last_error: str | None

    def as_json(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "package_id": self.package_id,
            "retain_until": iso(self.retain_until),
            "retain_reason": self.retain_reason,
            "legal_hold": self.legal_hold,
            "applied_until": iso(self.applied_until),
            "applied_hold": self.applied_hold,
            "applied_at": iso(self.applied_at),
            "pending": self.pending,
            "attempts": self.attempts,
            "last_error": self.last_error,
        }


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), _BATCH):
        yield values[start : start + _BATCH]


# ----------------------------------------------------------------------------- the wish


def _midnight(day: Any) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def wanted(
    session: Session,
    package_ids: Iterable[str],
    *,
    now: datetime | None = None,
    current: dict[str, ObjectLockIntent] | None = None,
) -> dict[str, Wanted]:
    """What S3 Object Lock must hold for each of ``package_ids`` (see the module's text);
    ``current`` intents make a retention only grow and a rolling one renew late."""
    at = _now(now)
    ids = sorted(set(package_ids))
    current = current or {}
    rules: dict[str, tuple[str, str, Any, str, str, int]] = {}
    held: set[str] = set()
    for chunk in _chunks(ids):
        for pid, state, due, action, bound, reference, version_no in session.execute(
            sa.select(
                PackageRetention.package_id,
                PackageRetention.state,
                PackageRetention.retention_due,
                RetentionRule.action,
                RetentionRule.bound,
                PackageRetention.reference,
                PackageRetention.version_no,
            )
            .join(RetentionRule, RetentionRule.agreement_id == PackageRetention.agreement_id)
            .where(PackageRetention.package_id.in_(chunk))
        ):
            rules[pid] = (state, action, due, bound, reference, version_no)
        held.update(holds_on(session, chunk))
    out: dict[str, Wanted] = {}
    for pid in ids:
        cur = current.get(pid)
        before = cur.retain_until if cur is not None else None
        until: datetime | None = None
        reason = cur.retain_reason if cur is not None else ""
        rule = rules.get(pid)
        if rule is not None and rule[0] == "in_retention":
            state, action, due, bound, reference, version_no = rule
            if action == "keep_permanently":
                if before is not None and before - at > timedelta(days=RENEW_WITHIN_DAYS):
                    until = before
                else:
                    until = _midnight((at + timedelta(days=ROLLING_DAYS)).date())
                reason = f"keep permanently under {reference} v{version_no} (rolling)"
            elif bound == "minimum" and due is not None and _midnight(due) > at:
                until = _midnight(due)
                reason = f"minimum retention of {reference} v{version_no}"
        if before is not None and (until is None or before > until):
            until = before  # retention only grows (S3 would refuse a shorter one anyway)
        out[pid] = Wanted(until, reason[:255], pid in held)
    return out


def _live(w: Wanted, at: datetime) -> bool:
    return w.hold or (w.until is not None and w.until > at)


def note(
    session: Session,
    package_ids: Iterable[str],
    *,
    now: datetime | None = None,
    new_objects: bool = False,
) -> list[str]:
    """Record, in the caller's transaction, what S3 Object Lock must hold for the packages;
    returns those with something left to apply (pending). ``new_objects``: the packages got
    new objects (a copy, a version, a repair), so what holds for them is applied again. The
    caller commits (then calls :func:`apply`, or leaves it to the daily task)."""
    at = _now(now)
    ids = sorted(set(package_ids))
    pending: list[str] = []
    for chunk in _chunks(ids):
        rows = {
            r.package_id: r
            for r in session.scalars(
                sa.select(ObjectLockIntent).where(ObjectLockIntent.package_id.in_(chunk))
            )
        }
        wishes = wanted(session, chunk, now=at, current=rows)
        for pid in chunk:
            w = wishes[pid]
            row = rows.get(pid)
            if row is None:
                if not _live(w, at):
                    continue  # nothing to lock, nothing locked: no row
                row = ObjectLockIntent(
                    package_id=pid,
                    retain_reason="",
                    legal_hold=False,
                    applied_copies=0,
                    pending=True,
                    attempts=0,
                    updated_at=at,
                )
                session.add(row)
            changed = row.retain_until != w.until or row.legal_hold != w.hold
            differs = (
                w.until is not None and w.until > at and row.applied_until != w.until
            ) or bool(row.applied_hold) != w.hold
            live = _live(w, at) or bool(row.applied_hold)
            if changed:
                row.retain_until, row.legal_hold = w.until, w.hold
            row.retain_reason = w.reason
            if differs or (new_objects and live):
                # what _settle compares to see a wish that changed while it was applied
                row.updated_at = datetime.now(UTC)
                row.pending = True
            if row.pending:
                pending.append(pid)
    session.flush()
    return pending


# ----------------------------------------------------------------------------- applying


def apply(
    app: Application,
    package_ids: Iterable[str] | None = None,
    *,
    now: datetime | None = None,
    limit: int | None = None,
) -> LockRun:
    """Apply what is pending (for ``package_ids``, or every package), each package on its own;
    never raises for a storage problem: a failure is kept pending with its error, and one
    ``object_lock`` alert names what failed."""
    at = _now(now)
    with app.uow() as uow:
        query = (
            sa.select(ObjectLockIntent.package_id)
            .where(ObjectLockIntent.pending.is_(True))
            .order_by(ObjectLockIntent.package_id)
        )
        if package_ids is not None:
            wanted_ids = sorted(set(package_ids))
            if not wanted_ids:
                return LockRun()
            ids: list[str] = []
            for chunk in _chunks(wanted_ids):
                ids += uow.session.scalars(
                    query.where(ObjectLockIntent.package_id.in_(chunk))
                ).all()
        else:
            ids = list(uow.session.scalars(query.limit(limit) if limit else query))
    asked: dict[str, bool | str] = {}
    results: list[PackageLock] = []
    for pid in ids:
        try:
            result = _apply_one(app, pid, at, asked)
        except NotFound:
            continue  # the package went meanwhile (its intent with it)
        if result is not None:
            results.append(result)
    run = LockRun(tuple(results))
    if run.failed:
        _alert(app, run.failed, at)
    return run


def _apply_one(
    app: Application, package_id: str, at: datetime, asked: dict[str, bool | str]
) -> PackageLock | None:
    from preserve.services import object_lock

    with app.uow() as uow:
        s = uow.session
        row = s.get(ObjectLockIntent, package_id)
        if row is None or not row.pending:
            return None  # applied meanwhile by another run
        stamp = row.updated_at
        until, hold = row.retain_until, row.legal_hold
        applied_until, applied_hold = row.applied_until, row.applied_hold
        again = row.last_error is not None
        copies = s.execute(
            sa.select(StorageLocation.name, StorageLocation.url)
            .join(Copy, Copy.location_id == StorageLocation.id)
            .where(Copy.package_id == package_id, Copy.status != "pending")
        ).all()
    urls = {url: name for name, url in copies}
    unknown: list[str] = []
    lockable = False
    for url, name in sorted(urls.items()):
        if url not in asked:
            try:
                asked[url] = app.storage(url).supports_object_lock()
            except StorageError as exc:
                asked[url] = f"location {name} could not be asked whether it can lock: {exc}"
        answer = asked[url]
        if answer is True:
            lockable = True
        elif isinstance(answer, str):
            unknown.append(answer)
    retain = until is not None and until > at
    if not lockable:
        if unknown:
            return _settle(app, package_id, stamp, at, until, hold, len(copies), (), (), unknown[0])
        return _settle(app, package_id, stamp, at, until, hold, len(copies), (), (), None)
    # nothing differs, yet pending: new objects (a copy, a version, a repair) or a retry
    refresh = again or (applied_until == until and bool(applied_hold) == hold)
    done: list[str] = []
    events: list[str] = []
    errors: list[str] = []
    try:
        if retain and until is not None and (refresh or applied_until != until):
            report = object_lock.apply_retention(app, package_id, until, now=at)
            done.append(report.what)
            events += [report.event_id] if report.event_id else []
            errors += _failures(report)
        if hold != bool(applied_hold) or (hold and refresh):
            report = object_lock.apply_legal_hold(app, package_id, hold)
            done.append(report.what)
            events += [report.event_id] if report.event_id else []
            errors += _failures(report)
    except NotFound:
        raise
    except PreserveError as exc:
        errors.append(str(exc))
    error = "; ".join(errors) if errors else (unknown[0] if unknown else None)
    return _settle(app, package_id, stamp, at, until, hold, len(copies), done, events, error)


def _failures(report: Any) -> list[str]:
    return [
        f"{c.location} {'v' + str(c.version) if c.version is not None else 'event files'}: "
        f"{c.reason}"
        for c in report.copies
        if c.status == "failed"
    ]


def _settle(
    app: Application,
    package_id: str,
    stamp: datetime,
    at: datetime,
    until: datetime | None,
    hold: bool,
    copies: int,
    done: Sequence[str],
    events: Sequence[str],
    error: str | None,
) -> PackageLock:
    """Write the outcome; a wish that changed while it was applied stays pending."""
    with app.uow() as uow:
        row = uow.session.get(ObjectLockIntent, package_id, with_for_update=True)
        if row is not None:
            row.last_attempt_at = at
            if error is None:
                row.applied_until = until if until is not None and until > at else None
                row.applied_hold = hold
                row.applied_copies = copies
                row.applied_at = at
                row.attempts, row.last_error = 0, None
                if row.updated_at == stamp:
                    row.pending = False
            else:
                row.attempts += 1
                row.last_error = error[:2000]
            uow.commit()
    if error is not None:
        log.warning("package %s: S3 Object Lock not applied: %s", package_id, error)
        status = FAILED
    else:
        status = APPLIED if done else NOTHING_TO_LOCK
        if done:
            log.info("package %s: S3 Object Lock %s", package_id, ", ".join(done))
    return PackageLock(package_id, status, until, hold, tuple(done), error, tuple(events))


def _alert(app: Application, failed: Sequence[PackageLock], at: datetime) -> None:
    """One alert per run that failed (the same failures on the same day alert once)."""
    from preserve.services import alerts

    ids = sorted(p.package_id for p in failed)
    digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]
    first = failed[0]
    subject = (
        f"S3 Object Lock not applied to package {first.package_id}"
        if len(failed) == 1
        else f"S3 Object Lock not applied to {len(failed)} packages"
    )
    body = (
        f"{first.package_id}: {first.error}. The retention and legal hold they need are kept "
        "in the catalogue and tried again each day (preserve retention locks --apply tries "
        "now)."
    )
    with app.uow() as uow:
        alerts.record(
            uow,
            "object_lock",
            subject,
            body,
            severity="warning",
            dedup_key=f"object-lock:{at:%Y-%m-%d}:{digest}",
            package_id=first.package_id if len(failed) == 1 else None,
            details={"packages": {p.package_id: p.error for p in failed[:50]}},
            now=at,
        )
        uow.commit()


# ----------------------------------------------------------------------------- entry points


def protect(
    app: Application,
    package_ids: Iterable[str],
    *,
    new_objects: bool = False,
    now: datetime | None = None,
) -> LockRun:
    """Note and apply at once what the packages need (after an ingest, a new version, a copy
    or a repair). Never raises: what fails stays pending for the daily task."""
    ids = sorted(set(package_ids))
    if not ids:
        return LockRun()
    at = _now(now)
    try:
        with app.uow() as uow:
            pending = note(uow.session, ids, now=at, new_objects=new_objects)
            uow.commit()
        return apply(app, pending, now=at) if pending else LockRun()
    except Exception:
        log.exception("packages %s: S3 Object Lock not applied now (the daily task will)", ids)
        return LockRun()


def apply_after_commit(app: Application, package_ids: Iterable[str]) -> LockRun:
    """Apply what a committed change (a hold placed or lifted) noted; never raises."""
    try:
        return apply(app, package_ids)
    except Exception:
        log.exception("S3 Object Lock not applied now (the daily task will)")
        return LockRun()


def sweep(app: Application, *, now: datetime | None = None) -> LockRun:
    """Daily: record again what every package under a retention rule or a hold needs (a
    rolling retention renewed, a hold missed), then apply everything pending, failures of
    earlier days included. Idempotent: a second run the same day applies nothing."""
    at = _now(now)
    with app.uow() as uow:
        s = uow.session
        ids: set[str] = set(
            s.scalars(
                sa.select(PackageRetention.package_id).where(
                    PackageRetention.state == "in_retention"
                )
            )
        )
        active = sa.and_(HoldTarget.lifted_at.is_(None), Hold.state == "active")
        ids.update(
            s.scalars(
                sa.select(HoldTarget.package_id)
                .join(Hold, Hold.id == HoldTarget.hold_id)
                .where(active, HoldTarget.package_id.is_not(None))
            )
        )
        ids.update(
            s.scalars(
                sa.select(Package.id)
                .join(HoldTarget, HoldTarget.collection_id == Package.collection_id)
                .join(Hold, Hold.id == HoldTarget.hold_id)
                .where(active)
            )
        )
        ids.update(s.scalars(sa.select(ObjectLockIntent.package_id)))
        # packages whose copies changed since their lock was applied (a copy made while the
        # hook could not run): what holds for them is applied again
        grown = set(
            s.scalars(
                sa.select(Copy.package_id)
                .join(ObjectLockIntent, ObjectLockIntent.package_id == Copy.package_id)
                .where(Copy.status != "pending", ObjectLockIntent.pending.is_(False))
                .group_by(Copy.package_id, ObjectLockIntent.applied_copies)
                .having(sa.func.count() != ObjectLockIntent.applied_copies)
            )
        )
        noted = 0
        ordered = sorted(i for i in ids if i)
        for chunk in _chunks(ordered):
            noted += len(note(s, chunk, now=at))
            uow.commit()
        if grown:
            noted += len(note(s, sorted(grown), now=at, new_objects=True))
            uow.commit()
    run = apply(app, now=at)
    return LockRun(run.packages, noted)


def intents(app: Application, *, pending_only: bool = False) -> list[IntentInfo]:
    """Every package's wanted and applied lock (the pending ones only)."""
    with app.uow() as uow:
        query = sa.select(ObjectLockIntent).order_by(ObjectLockIntent.package_id)
        if pending_only:
            query = query.where(ObjectLockIntent.pending.is_(True))
        return [
            IntentInfo(
                r.package_id,
                r.retain_until,
                r.retain_reason,
                r.legal_hold,
                r.applied_until,
                r.applied_hold,
                r.applied_at,
                r.pending,
                r.attempts,
                r.last_error,
            )
            for r in uow.session.scalars(query)
        ]


__all__ = [
    "APPLIED",
    "FAILED",
    "NOTHING_TO_LOCK",
    "RENEW_WITHIN_DAYS",
    "ROLLING_DAYS",
    "IntentInfo",
    "LockRun",
    "PackageLock",
    "Wanted",
    "apply",
    "apply_after_commit",
    "intents",
    "note",
    "protect",
    "sweep",
    "wanted",
]
