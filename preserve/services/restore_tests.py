"""Restore tests (issue 12; retention-agreements.md 3.6 ``restore_test_interval_days`` and 5.1
E7, after APTrust's spot tests): a sample package is read back from one storage location into
a temporary folder, validated there as a bag, the result recorded, the folder removed.

- *Which package*: the one given; else, of the agreement given (its scope:
  :func:`preserve.services.exits.packages_in_scope`) or of every stored package, the one not
  restore-tested for the longest time (never tested first), the smallest among equals.
- *Which location*: the one given (it must hold a copy of the package); else, of the locations
  holding a verified copy of its current version (S3 ones included), the one the agreement's
  (or, without one, any) restore tests used least recently: each location in turn over
  successive tests.
- *The test*: :func:`preserve.services.export.export_package` restricted to that location (no
  other location stands in for a damaged copy; every file is checked against the catalogue
  while it is read, and a damaged copy is recorded as a failed fixity check as an export
  records it), then the repository's bag validator. No dissemination is recorded: a PREMIS
  ``validation`` event says what was tested, where, and the outcome.
- :func:`run_due` runs, once a day from the workers, one test for each agreement in force whose
  service level has a restore-test interval and whose last test is older than it.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from preserve import __version__, premis
from preserve.bootstrap import Application
from preserve.catalogue.agreements import Agreement
from preserve.catalogue.exits import RestoreTest
from preserve.catalogue.models import Copy, Package, StorageLocation
from preserve.errors import InvalidBag, InvalidInput, NotFound, PreserveError
from preserve.services import agreements as ag
from preserve.services.exits import packages_in_scope
from preserve.text import plural

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RestoreProblem:
    code: str
    path: str
    message: str


@dataclass(frozen=True)
class RestoreTestInfo:
    id: int
    package_id: str
    version: int
    agreement: str | None
    location: str
    started_at: datetime
    ended_at: datetime
    files: int
    bytes: int
    outcome: str
    problems: tuple[RestoreProblem, ...]
    actor: str

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    @property
    def seconds(self) -> float:
        return (self.ended_at - self.started_at).total_seconds()


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def _agreement(session: Session, ident: str) -> Agreement:
    a = ag._find(session, ident)
    if a.state not in ag.TOOK_EFFECT:
        raise InvalidInput(
            f"agreement {a.reference} v{a.version_no} is {a.state.replace('_', ' ')}: it has "
            "no packages to test yet"
        )
    return a


def _package(uow: Any, given: str) -> Package:
    """A package as ``preserve show`` names it (id, unique prefix, identifier); stored."""
    from preserve.services.packages import resolve_package

    p = uow.session.get_one(Package, resolve_package(uow, given))
    if p.status != "stored":
        raise InvalidInput(f"package {p.id} is not stored (status {p.status})")
    return p


def _last_tested() -> Any:
    return (
        sa.select(RestoreTest.package_id, sa.func.max(RestoreTest.started_at).label("at"))
        .group_by(RestoreTest.package_id)
        .subquery("rt")
    )


def _choose_package(session: Session, a: Agreement | None) -> Package:
    """The package not restore-tested for the longest time (never first), small ones first."""
    last = _last_tested()
    query = (
        sa.select(Package)
        .outerjoin(last, last.c.package_id == Package.id)
        .where(Package.status == "stored" if a is None else packages_in_scope(a))
        .where(sa.exists().where(Copy.package_id == Package.id, Copy.status == "verified"))
        .order_by(last.c.at.is_not(None), last.c.at, Package.size, Package.id)
        .limit(1)
    )
    p = session.scalars(query).first()
    if p is None:
        where = "" if a is None else f" under agreement {a.reference} v{a.version_no}"
        raise NotFound(f"no stored package with a verified copy{where} to test")
    return p


def _choose_location(
    session: Session, p: Package, given: str | None, reference: str | None
) -> StorageLocation:
    """The location given (holding a copy of the package's current version), else the one of
    those with a verified copy that this reference's tests used least recently (with no
    verified copy left, of those with a copy found damaged: the test then says it fails)."""
    copies = list(
        session.execute(
            sa.select(StorageLocation, Copy.status)
            .join(Copy, Copy.location_id == StorageLocation.id)
            .where(Copy.package_id == p.id, Copy.version == p.version)
            .order_by(StorageLocation.name)
        ).all()
    )
    holding = [loc for loc, status in copies if given is not None or status == "verified"]
    if not holding:
        holding = [loc for loc, status in copies if status != "pending"]
    if given is not None:
        for loc in holding:
            if loc.name == given:
                return loc
        known = session.scalar(sa.select(StorageLocation.id).where(StorageLocation.name == given))
        if known is None:
            from preserve.names import unknown

            names = session.scalars(sa.select(StorageLocation.name)).all()
            raise unknown("location", given, list(names))
        held = ", ".join(loc.name for loc in holding) or "none"
        raise InvalidInput(
            f"location {given} holds no copy of package {p.id} (version {p.version}); "
            f"its copies are on: {held}"
        )
    if not holding:
        raise InvalidInput(f"package {p.id} has no stored copy to read back")
    used = sa.select(RestoreTest.location_id, sa.func.max(RestoreTest.started_at)).group_by(
        RestoreTest.location_id
    )
    if reference is not None:
        used = used.where(RestoreTest.reference == reference)
    last = dict(session.execute(used).all())
    never = datetime.min.replace(tzinfo=UTC)
    return min(holding, key=lambda loc: (loc.id in last, last.get(loc.id) or never, loc.name))


def run(
    app: Application,
    *,
    agreement: str | None = None,
    package: str | None = None,
    location: str | None = None,
    now: datetime | None = None,
) -> RestoreTestInfo:
    """One restore test (see the module's description); its result, ok or failed. Bad input
    (an unknown agreement, package or location; a location without a copy) raises and records
    nothing."""
    if agreement is not None and package is not None:
        raise InvalidInput("give --agreement or --package, not both")
    with app.uow() as uow:
        s = uow.session
        a = _agreement(s, agreement) if agreement is not None else None
        p = _package(uow, package) if package is not None else _choose_package(s, a)
        if a is None:
            a = ag._governing(s, p.id, None)
        loc = _choose_location(s, p, location, a.reference if a is not None else None)
        target = (p.id, p.version, p.size, loc.id, loc.name)
        governing = (a.id, a.reference, a.version_no) if a is not None else None
    package_id, version, _size, location_id, location_name = target
    started = _now(now)
    clock = time.monotonic()
    problems: list[RestoreProblem] = []
    files = nbytes = 0
    from preserve.services.export import export_package

    with tempfile.TemporaryDirectory(prefix="preserve-restore-test-") as folder:
        try:
            result = export_package(
                app, package_id, Path(folder) / "bag", location=location_name, record=False
            )
            files, nbytes = result.files, result.bytes
        except InvalidBag as exc:
            problems = [RestoreProblem(p.code, p.path, p.message) for p in exc.problems] or [
                RestoreProblem(exc.code, "", str(exc))
            ]
        except PreserveError as exc:
            problems = [RestoreProblem(exc.code, "", str(exc))]
    ended = started + timedelta(seconds=time.monotonic() - clock)
    outcome = "failed" if problems else "ok"
    label = f"{governing[1]} v{governing[2]}" if governing else None
    with app.uow() as uow:
        row = RestoreTest(
            package_id=package_id,
            version=version,
            agreement_id=governing[0] if governing else None,
            reference=governing[1] if governing else None,
            location_id=location_id,
            location=location_name,
            started_at=started,
            ended_at=ended,
            files=files,
            bytes=nbytes,
            outcome=outcome,
            problems=[{"code": p.code, "path": p.path, "message": p.message} for p in problems],
            actor=app.actor,
        )
        uow.session.add(row)
        software = uow.agents.get_or_create("preserve", __version__, "software")
        under = f" for agreement {label}" if label else ""
        event = uow.events.add(
            premis.VALIDATION,
            "success" if outcome == "ok" else "failure",
            agent=software,
            package_id=package_id,
            detail=f"restore test{under}: version {version} read back from location "
            f"{location_name} into a temporary folder and validated as a bag",
            outcome_detail=(
                f"{plural(files, 'payload file')} ({nbytes} bytes) read back; every file matched "
                "its reference digests and the bag validated"
                if outcome == "ok"
                else "; ".join(p.message for p in problems[:10])
            ),
            occurred_at=ended,
            version=version,
        )
        from preserve.services.admin import link_actor_and_owner

        link_actor_and_owner(uow, app.actor, event)
        uow.commit()
        info = _info(row, label)
    from preserve.services.journal import flush_events

    flush_events(app, [package_id], catch_up=0)
    log.info(
        "restore test of %s from %s: %s%s",
        package_id,
        location_name,
        outcome,
        "" if outcome == "ok" else f" ({problems[0].message})",
    )
    return info


def _info(row: RestoreTest, agreement: str | None) -> RestoreTestInfo:
    return RestoreTestInfo(
        id=row.id,
        package_id=row.package_id,
        version=row.version,
        agreement=agreement,
        location=row.location,
        started_at=row.started_at,
        ended_at=row.ended_at,
        files=row.files,
        bytes=row.bytes,
        outcome=row.outcome,
        problems=tuple(RestoreProblem(**p) for p in row.problems),
        actor=row.actor,
    )


def history(
    app: Application,
    *,
    agreement: str | None = None,
    package: str | None = None,
    limit: int = 50,
) -> list[RestoreTestInfo]:
    """The latest restore tests, newest first: of an agreement (its reference), of a package,
    or all."""
    with app.uow() as uow:
        s = uow.session
        query = sa.select(RestoreTest).order_by(
            RestoreTest.started_at.desc(), RestoreTest.id.desc()
        )
        if agreement is not None:
            a = ag._find(s, agreement)
            query = query.where(RestoreTest.reference == a.reference)
        if package is not None:
            query = query.where(RestoreTest.package_id == _package(uow, package).id)
        rows = list(s.scalars(query.limit(limit)))
        versions = _labels(s, [r.agreement_id for r in rows])
        return [_info(r, versions.get(r.agreement_id or 0)) for r in rows]


def _labels(session: Session, ids: list[int | None]) -> dict[int, str]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    return {
        i: f"{ref} v{v}"
        for i, ref, v in session.execute(
            sa.select(Agreement.id, Agreement.reference, Agreement.version_no).where(
                Agreement.id.in_(wanted)
            )
        )
    }


@dataclass(frozen=True)
class DueTest:
    """An agreement whose restore test was due, and the test made (None: nothing to test)."""

    agreement: str
    result: RestoreTestInfo | None
    error: str | None = None


def due_agreements(session: Session, now: datetime) -> list[tuple[Agreement, int]]:
    """The agreements in force (main, newest version of each reference) with a restore-test
    interval whose last restore test is older than it (or that never had one)."""
    found = session.scalars(
        sa.select(Agreement)
        .where(Agreement.component == "main", Agreement.state.in_(ag.IN_FORCE))
        .order_by(Agreement.reference, Agreement.version_no)
    ).all()
    latest: dict[str, Agreement] = {}
    for a in found:
        latest[a.reference] = a
    last = dict(
        session.execute(
            sa.select(RestoreTest.reference, sa.func.max(RestoreTest.started_at)).group_by(
                RestoreTest.reference
            )
        ).all()
    )
    due = []
    for ref, a in sorted(latest.items()):
        level = a.service_level
        if level is None or level.restore_test_interval_days is None:
            continue
        interval = timedelta(days=level.restore_test_interval_days)
        previous = last.get(ref)
        if previous is None or previous + interval <= now:
            due.append((a, level.restore_test_interval_days))
    return due


def run_due(app: Application, now: datetime | None = None) -> list[DueTest]:
    """One restore test per agreement whose interval has run out since its last test (daily,
    from the workers). A test that fails is recorded as failed; an agreement without a package
    to test is skipped and said so."""
    at = _now(now)
    with app.uow() as uow:
        due = [
            (a.reference, f"{a.reference} v{a.version_no}")
            for a, _d in due_agreements(uow.session, at)
        ]
    done: list[DueTest] = []
    for reference, label in due:
        try:
            done.append(DueTest(label, run(app, agreement=reference, now=now)))
        except (NotFound, InvalidInput) as exc:
            log.info("restore test of %s skipped: %s", label, exc)
            done.append(DueTest(label, None, str(exc)))
    return done


def next_due(interval_days: int | None, last: datetime | None, now: datetime) -> datetime | None:
    """When the next restore test is due (None: no interval); ``now`` when never tested."""
    if interval_days is None:
        return None
    return now if last is None else last + timedelta(days=interval_days)


__all__ = [
    "DueTest",
    "RestoreProblem",
    "RestoreTestInfo",
    "due_agreements",
    "history",
    "next_due",
    "run",
    "run_due",
]
