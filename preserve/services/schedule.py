"""Scheduled fixity (issue 10): the schedule is data, a beat tick only dispatches what is due.

Every copy holds when it is next due (``copies.next_check_at``; NULL: never checked). Every
check, in the foreground or in a job, sets it to the check's time plus the copy's interval: the
shortest of its collection's and its location's ``fixity_interval_days``, else the
``PRESERVE_FIXITY_INTERVAL_DAYS`` setting (90). Copies on a retired location are not scheduled.

:func:`dispatch_due` runs on every beat tick (every 5 minutes). For each location it works out
the rate that checks every copy within its interval, spread by bytes: the sum over its copies of
size / interval, with a little headroom, plus a week's share of any overdue bytes, capped by the
location's budget (``fixity_bytes_per_hour``). A tick claims that rate times the tick's length
in bytes, less what the location already read in the last day beyond that rate (checks made
since, claims not yet checked): so a second scheduler, a late tick or a foreground run never
makes the location read more than its rate, and a location whose copies are all larger than a
tick's share still gets one copy a day. Of each tick, a quarter goes first to the most overdue
checked copies, so a flood of never-checked copies cannot starve them; the rest to the copies
never checked, then the earliest due (not yet due ones too: the load stays even from day to
day instead of following the ingests of one interval ago). Claimed copies are queued as
``fixity`` jobs of at most a few GB each, in the same transaction as the claim
(``fixity_job_id``, ``claimed_until``: a lost job's claim runs out, and the copy is due again);
two schedulers never claim the same copy (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the
single writer on SQLite). A location with copies overdue beyond their interval records one
``backlog`` alert a day.

:func:`run_fixity_job` is the ``fixity`` job: it checks the copies it claimed (or a selection
like the command line's, which it first claims) with :func:`preserve.services.fixity
.check_and_record`, which retries a check that could not be made, records each copy once (only
while the job still holds its claim) and raises an alert and a repair job for damage.

:func:`fixity_report` says how well the schedule keeps up: coverage, never checked, backlog and
failures, per location and per collection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from preserve.catalogue.fixity import (
    AGREEMENT_INTERVALS,
    AGREEMENT_JOINS,
    COLLECTION_DAYS,
    PACKAGE_AGREEMENT_INTERVALS,
)
from preserve.errors import InvalidInput, NotFound
from preserve.services import jobs
from preserve.text import plural

if TYPE_CHECKING:
    from preserve.bootstrap import Application
    from preserve.uow import UnitOfWork

log = logging.getLogger(__name__)

#: How often the beat dispatches (the tick the budget is shared over).
DEFAULT_TICK = timedelta(minutes=5)
#: The rate is this much above the bare need, so that rounding never makes a copy late.
HEADROOM = 1.05
#: Overdue bytes are caught up over this long, on top of the steady rate (within the budget).
CATCH_UP = timedelta(days=7)
#: What a location read beyond its rate within this window is held against later ticks.
WINDOW = timedelta(days=1)
#: The share of each tick reserved for the most overdue copies checked before.
OLDEST_SHARE = 0.25
#: A fixity job checks at most this many bytes (a larger copy gets a job of its own) and copies.
JOB_BYTES = 4 * 1024**3
JOB_COPIES = 100
#: How long a claim holds: a job lost before it ran releases its copies after this long.
CLAIM = timedelta(hours=12)

# the copies on schedule: of stored versions of stored packages, on locations not retired
_SCHEDULED = f"""
FROM copies c
JOIN packages p ON p.id = c.package_id
JOIN collections co ON co.id = p.collection_id
JOIN storage_locations l ON l.id = c.location_id
{AGREEMENT_JOINS}
WHERE l.retired_at IS NULL AND p.status = 'stored'
AND c.status NOT IN ('pending', 'quarantined')
AND NOT EXISTS (SELECT 1 FROM package_versions v WHERE v.package_id = c.package_id
                AND v.number = c.version AND v.status <> 'stored')
"""  # noqa: S608 (constants only)
_ANY_AGREEMENT_INTERVAL = f"SELECT 1 FROM {AGREEMENT_INTERVALS} x LIMIT 1"  # noqa: S608
_ANY_PACKAGE_INTERVAL = f"SELECT 1 FROM {PACKAGE_AGREEMENT_INTERVALS} x LIMIT 1"  # noqa: S608
# the copy's interval: the shortest of its collection's (or its agreements': ag), and its
# location's, else the setting
_INTERVAL = """
CASE WHEN co.fixity_interval_days IS NULL THEN COALESCE(l.fixity_interval_days, :default_days)
     WHEN l.fixity_interval_days IS NULL THEN co.fixity_interval_days
     WHEN co.fixity_interval_days < l.fixity_interval_days THEN co.fixity_interval_days
     ELSE l.fixity_interval_days END
""".replace("co.fixity_interval_days", f"({COLLECTION_DAYS})")
# per location and interval: the bytes, the bytes overdue, read recently and claimed now,
# and the earliest start of the copies never checked
_SUMS = """
SELECT c.location_id, {interval} AS days,
       COUNT(*), COALESCE(SUM(c.size_bytes), 0),
       COALESCE(SUM(CASE WHEN c.next_check_at < :now THEN c.size_bytes ELSE 0 END), 0),
       COALESCE(SUM(CASE WHEN c.next_check_at < :now THEN 1 ELSE 0 END), 0),
       COALESCE(SUM(CASE WHEN c.claimed_until > :now THEN c.size_bytes
                         WHEN c.last_checked_at > :window_start
                              AND c.next_check_at IS NOT NULL THEN c.size_bytes
                         ELSE 0 END), 0),
       MIN(CASE WHEN c.next_check_at IS NULL THEN COALESCE(c.last_checked_at, c.created_at) END)
"""
_LOAD = _SUMS.format(interval=_INTERVAL) + _SCHEDULED + f"GROUP BY c.location_id, {_INTERVAL}"
# the same when no collection sets an interval (the usual case): the copies alone are read, not
# their packages (a copy is pending until its package or version is stored)
_LOAD_BY_LOCATION = (
    _SUMS.format(interval="COALESCE(l.fixity_interval_days, :default_days)")
    + """FROM copies c JOIN storage_locations l ON l.id = c.location_id
WHERE l.retired_at IS NULL AND c.status NOT IN ('pending', 'quarantined')
GROUP BY c.location_id, COALESCE(l.fixity_interval_days, :default_days)
"""
)
# never-checked copies past their interval since they were made (counted only when some are)
_NEVER_OVERDUE = f"""
SELECT COUNT(*), COALESCE(SUM(c.size_bytes), 0)
{_SCHEDULED}
AND c.location_id = :location_id AND c.next_check_at IS NULL AND {_INTERVAL} = :days
AND COALESCE(c.last_checked_at, c.created_at) < :cut
"""
_NEVER_OVERDUE_BY_LOCATION = """
SELECT COUNT(*), COALESCE(SUM(c.size_bytes), 0)
FROM copies c JOIN storage_locations l ON l.id = c.location_id
WHERE c.location_id = :location_id AND c.next_check_at IS NULL
AND c.status NOT IN ('pending', 'quarantined')
AND COALESCE(l.fixity_interval_days, :default_days) = :days
AND COALESCE(c.last_checked_at, c.created_at) < :cut
"""
# the copies of a location (not retired: the load came from it) a tick may claim; a copy is
# pending until its package or version is stored (one transaction), so the copy's own status
# says whether it is on schedule, and the (location, next check) index orders them
_CANDIDATES = """
SELECT c.id, COALESCE(c.size_bytes, 0), c.package_id
FROM copies c
WHERE c.location_id = :location_id AND c.status NOT IN ('pending', 'quarantined')
AND (c.claimed_until IS NULL OR c.claimed_until <= :now)
{extra}
ORDER BY {order}
LIMIT :limit
"""
_BY_ID = "c.id"
_BY_DUE = "c.next_check_at, c.id"
# size_bytes of copies made before it was recorded: the bytes their version's folder holds
_BACKFILL = """
UPDATE copies SET size_bytes = (
    SELECT COALESCE(SUM(f.size), 0) FROM files f
    WHERE f.package_id = copies.package_id AND f.version = copies.version
    AND f.stored_version = f.version)
WHERE id IN (SELECT id FROM copies WHERE size_bytes IS NULL AND status <> 'pending' LIMIT 5000)
"""


@dataclass(frozen=True)
class LocationLoad:
    """What one location's copies need, as a tick sees it."""

    location_id: int
    copies: int = 0
    size: int = 0
    #: bytes a second every copy within its interval needs
    need: float = 0.0
    overdue_copies: int = 0
    overdue_bytes: int = 0
    #: bytes checked by fixity within the window, or claimed and not yet checked (an ingest's
    #: verification is not counted)
    used: int = 0
    budget_per_hour: int | None = None
    name: str = ""

    def rate(self) -> float:
        """Bytes a second to check at: the need with headroom, plus catching up, in budget."""
        rate = self.need * HEADROOM + self.overdue_bytes / CATCH_UP.total_seconds()
        if self.budget_per_hour is not None:
            rate = min(rate, self.budget_per_hour / 3600)
        return rate


def dispatch_due(
    app: Application,
    *,
    now: datetime | None = None,
    publish: Callable[[str], None] | None = None,
    tick: timedelta = DEFAULT_TICK,
) -> list[str]:
    """Claim the copies due in this tick (of length ``tick``) and queue ``fixity`` jobs for
    them, in one transaction; ``publish`` (default: the workers' doorbell) gets each job id
    once it has landed. Returns the ids of the jobs queued."""
    now = _utc(now)
    if tick <= timedelta(0):
        raise InvalidInput("a tick must be longer than nothing")
    if publish is None:
        from preserve.services.runner import publisher

        publish = publisher(app)
    queued: list[str] = []
    with app.uow() as uow:
        session = uow.session
        postgres = session.get_bind().dialect.name == "postgresql"
        # a write first: on SQLite the single writer is now this tick's (a second scheduler
        # waits for it and then sees its claims)
        session.execute(sa.text(_BACKFILL))
        held: set[int] = set()
        if postgres:
            # the locations' rows first, then their loads: a load read before the lock could
            # predate the claims of a scheduler that held the lock and has just committed, and
            # this one would claim a second share of the tick (CI of 9dc4811: 3.6 GB claimed
            # where 1.8 GB was the share)
            ids = session.scalars(
                sa.text("SELECT id FROM storage_locations WHERE retired_at IS NULL ORDER BY id")
            ).all()
            held = {i for i in ids if _lock_location(uow, i)}
        loads = _loads(uow, app.settings.fixity_interval_days, now, tick)
        for load in loads.values():
            if postgres and load.location_id not in held:
                log.info("fixity: location %s is being dispatched by another scheduler", load.name)
                continue
            claimed = _claim(uow, load, now, tick, postgres)
            for batch in _batches(claimed):
                job = jobs.enqueue(
                    uow,
                    "fixity",
                    {"copies": [c[0] for c in batch], "location": load.name},
                    requested_by="scheduler",
                    publish=publish,
                    now=now,
                )
                _set_claim(uow, [c[0] for c in batch], job.id, now + CLAIM)
                queued.append(job.id)
            if load.overdue_copies:
                _backlog_alert(uow, load, now)
        uow.commit()
    if queued:
        log.info("fixity: %s queued", plural(len(queued), "job"))
    return queued


def _sql(statement: str, *times: str) -> sa.TextClause:
    """``statement`` with its parameters ``times`` bound as the catalogue's UTC timestamps (on
    SQLite, text in the form the columns hold)."""
    from preserve.catalogue.models import UTCDateTime

    return sa.text(statement).bindparams(*(sa.bindparam(t, type_=UTCDateTime()) for t in times))


def _utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware UTC")
    return now


def _loads(
    uow: UnitOfWork, default_days: int, now: datetime, tick: timedelta
) -> dict[int, LocationLoad]:
    session = uow.session
    locations = session.execute(
        sa.text(
            "SELECT id, name, fixity_bytes_per_hour FROM storage_locations "
            "WHERE retired_at IS NULL ORDER BY id"
        )
    ).all()
    acc: dict[int, dict[str, Any]] = {
        row[0]: {"name": row[1], "budget": row[2], "copies": 0, "size": 0, "need": 0.0,
                 "overdue_copies": 0, "overdue_bytes": 0, "used": 0}
        for row in locations
    }  # fmt: skip
    params = {"default_days": default_days, "now": now, "window_start": now - max(WINDOW, tick)}
    by_collection = (
        session.execute(
            sa.text("SELECT 1 FROM collections WHERE fixity_interval_days IS NOT NULL LIMIT 1")
        ).first()
        or session.execute(sa.text(_ANY_AGREEMENT_INTERVAL)).first()
        or session.execute(sa.text(_ANY_PACKAGE_INTERVAL)).first()
    )
    load = _LOAD if by_collection is not None else _LOAD_BY_LOCATION
    for row in session.execute(_sql(load, "now", "window_start"), params):
        location_id, days, count, size, overdue_bytes, overdue, used, never_since = row
        a = acc.get(location_id)
        if a is None:
            continue
        days = max(int(days), 1)
        a["copies"] += count
        a["size"] += int(size)
        a["need"] += int(size) / timedelta(days=days).total_seconds()
        a["overdue_copies"] += int(overdue)
        a["overdue_bytes"] += int(overdue_bytes)
        a["used"] += int(used)
        cut = now - timedelta(days=days)
        if never_since is not None and _as_utc(never_since) < cut:
            late = session.execute(
                _sql(_NEVER_OVERDUE if by_collection else _NEVER_OVERDUE_BY_LOCATION, "cut"),
                {"default_days": default_days, "location_id": location_id, "days": days,
                 "cut": cut},
            ).one()  # fmt: skip
            a["overdue_copies"] += int(late[0])
            a["overdue_bytes"] += int(late[1])
    return {
        location_id: LocationLoad(
            location_id,
            copies=a["copies"],
            size=a["size"],
            need=a["need"],
            overdue_copies=a["overdue_copies"],
            overdue_bytes=a["overdue_bytes"],
            used=a["used"],
            budget_per_hour=a["budget"],
            name=a["name"],
        )
        for location_id, a in acc.items()
        if a["copies"]
    }


def _as_utc(value: Any) -> datetime:
    """A timestamp as a driver returns it from an expression (SQLite: text, naive UTC)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _lock_location(uow: UnitOfWork, location_id: int) -> bool:
    """Hold the location's row for this tick; False when another scheduler holds it."""
    found = uow.session.execute(
        sa.text("SELECT id FROM storage_locations WHERE id = :id FOR UPDATE SKIP LOCKED"),
        {"id": location_id},
    ).first()
    return found is not None


def _claim(
    uow: UnitOfWork, load: LocationLoad, now: datetime, tick: timedelta, postgres: bool
) -> list[tuple[int, int]]:
    """The copies of this tick on the location, (id, size), most overdue share first."""
    rate = load.rate()
    window = max(WINDOW, tick)
    quota = min(rate * tick.total_seconds(), rate * window.total_seconds() - load.used)
    if quota <= 0:
        return []
    average = max(load.size / max(load.copies, 1), 1)
    taken: list[tuple[int, int]] = []
    total = 0

    def take(order: str, extra: str, until: float) -> None:
        nonlocal total
        sql = _CANDIDATES.format(order=order, extra=extra)
        if postgres:
            sql += " FOR UPDATE OF c SKIP LOCKED"
        limit = min(int(2 * (until - total) / average) + 10, 20_000)
        while total < until:
            ids = {c[0] for c in taken}
            rows = uow.session.execute(
                _sql(sql, "now"), {"location_id": load.location_id, "now": now, "limit": limit}
            ).all()
            for copy_id, size, _package in rows:
                if total >= until:
                    break
                if copy_id not in ids:
                    taken.append((copy_id, int(size)))
                    total += int(size)
            if len(rows) < limit:
                break  # none left of this kind
            limit *= 4

    # a share for the most overdue copies checked before, so that never-checked ones (a large
    # ingest, a new location) cannot starve them; then never checked first, then earliest due
    take(_BY_DUE, "AND c.next_check_at <= :now", quota * OLDEST_SHARE)
    take(_BY_ID, "AND c.next_check_at IS NULL", quota)
    take(_BY_DUE, "AND c.next_check_at IS NOT NULL", quota)
    return taken


def _batches(claimed: Sequence[tuple[int, int]]) -> Iterator[list[tuple[int, int]]]:
    """The claimed copies in jobs of at most JOB_BYTES and JOB_COPIES (a larger copy alone)."""
    batch: list[tuple[int, int]] = []
    size = 0
    for copy in claimed:
        if batch and (size + copy[1] > JOB_BYTES or len(batch) >= JOB_COPIES):
            yield batch
            batch, size = [], 0
        batch.append(copy)
        size += copy[1]
    if batch:
        yield batch


def _set_claim(uow: UnitOfWork, copy_ids: Sequence[int], job_id: str, until: datetime) -> None:
    from preserve.catalogue.models import Copy

    uow.session.execute(
        sa.update(Copy)
        .where(Copy.id.in_(copy_ids))
        .values(fixity_job_id=job_id, claimed_until=until)
        .execution_options(synchronize_session=False)
    )


def _backlog_alert(uow: UnitOfWork, load: LocationLoad, now: datetime) -> None:
    from preserve.services import alerts

    alerts.record(
        uow,
        "backlog",
        f"fixity backlog on {load.name}: {plural(load.overdue_copies, 'copy', 'copies')} overdue",
        f"{plural(load.overdue_copies, 'copy', 'copies')} ({_size(load.overdue_bytes)}) on "
        f"location {load.name} were not checked within their interval. The location's budget "
        "is "
        + (
            f"{_size(load.budget_per_hour)} an hour"
            if load.budget_per_hour is not None
            else "unlimited"
        )
        + f"; checking every copy within its interval needs {_size(int(load.need * 3600))}"
        " an hour.",
        severity="warning",
        dedup_key=f"fixity backlog location {load.location_id} {now:%Y-%m-%d}",
        location_id=load.location_id,
        details={
            "location": load.name,
            "overdue_copies": load.overdue_copies,
            "overdue_bytes": load.overdue_bytes,
            "needed_bytes_per_hour": int(load.need * 3600),
            "budget_bytes_per_hour": load.budget_per_hour,
        },
        now=now,
    )


def _size(n: float) -> str:
    """``1.5 GB``: bytes for people (as the command line shows them)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"


# ----------------------------------------------------------------------------- the fixity job


def queue_check(
    app: Application,
    *,
    package_id: str | None = None,
    collection: str | None = None,
    organisation: str | None = None,
    all_packages: bool = False,
    all_digests: bool = False,
    older_than: timedelta | None = None,
    limit: int | None = None,
    location: str | None = None,
    publish: Callable[[str], None] | None = None,
    now: datetime | None = None,
) -> jobs.JobRecord:
    """Queue a ``fixity`` job for a selection as :func:`preserve.services.fixity.check_fixity`
    takes it (``preserve fixity ... --async``); the selection is checked now, so a bad name is
    refused here rather than failing in a worker."""
    from preserve.services.fixity import open_catalogue, select_copies, validate_selection

    validate_selection(package_id, collection, organisation, all_packages, limit, older_than)
    now = _utc(now)
    with open_catalogue(app) as catalogue:  # unknown names, packages not stored: refused now
        select_copies(
            app,
            catalogue,
            package_id=package_id,
            collection=collection,
            organisation=organisation,
            older_than=older_than,
            limit=limit,
            location=location,
            now=now,
        )
    selection = {
        "package": package_id,
        "collection": collection,
        "organisation": organisation,
        "older_than_seconds": older_than.total_seconds() if older_than is not None else None,
        "limit": limit,
        "location": location,
        "all_digests": all_digests,
    }
    return jobs.submit(app, "fixity", {"selection": selection}, publish=publish, now=now)


@jobs.handles("fixity")
def fixity_job(app: Application, job: jobs.JobRecord, work: jobs.Work) -> dict[str, Any]:
    """The ``fixity`` job: see :func:`run_fixity_job`."""
    from preserve.services.fixity import RETRY_DELAYS

    return run_fixity_job(app, job, work, retry_delays=RETRY_DELAYS)


def run_fixity_job(
    app: Application,
    job: jobs.JobRecord,
    work: jobs.Work,
    *,
    retry_delays: Sequence[float] = (),
    sleep: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Check the copies the job claimed (payload ``{"copies": [ids]}``), or first claim the
    copies of its selection (payload ``{"selection": {...}}``, saved as the job's checkpoint
    with the claim, so a run again after a kill checks the same copies). Each copy is checked
    and recorded once: one the job no longer holds (recorded by an earlier run of it, or
    claimed by another job since) is skipped."""
    from preserve.progress import Stage
    from preserve.services.fixity import check_and_record, digest_chooser, open_catalogue
    from preserve.services.journal import flush_events

    payload = job.payload
    all_digests = False
    if "selection" in payload:
        selection = dict(payload["selection"] or {})
        all_digests = bool(selection.get("all_digests"))
        copy_ids = _claim_selection(app, job.id, selection)
    else:
        copy_ids = [int(i) for i in payload.get("copies") or []]
    chooser = digest_chooser(app, all_digests)
    outcomes: dict[str, int] = {}
    failed: list[dict[str, Any]] = []
    skipped = 0
    checked_packages: set[str] = set()
    with open_catalogue(app) as catalogue:
        copies = catalogue.copies(copy_ids=copy_ids)
        for number, copy in enumerate(copies, start=1):
            work.check()  # stop here if the job was cancelled or its lease lost
            if copy.claimed_by != job.id:
                skipped += 1
                continue
            share = (number - 1) / len(copies), number / len(copies)
            stage = Stage(number, len(copies), *share, noun="copy")
            check = check_and_record(
                app,
                catalogue,
                copy,
                chooser,
                work,
                stage,
                job_id=job.id,
                retry_delays=retry_delays,
                sleep=sleep,
            )
            if check is None:
                skipped += 1
                continue
            checked_packages.add(copy.package_id)
            outcomes[check.outcome] = outcomes.get(check.outcome, 0) + 1
            if check.outcome != "ok":
                failed.append(
                    {"copy_id": copy.copy_id, "package_id": copy.package_id,
                     "location": copy.location, "outcome": check.outcome}
                )  # fmt: skip
    skipped += len(set(copy_ids)) - len(copies)  # copies removed since they were claimed
    if checked_packages:
        flush_events(app, checked_packages)  # the checks' events, to storage
    return {
        "copies": len(set(copy_ids)),
        "checked": sum(outcomes.values()),
        "outcomes": outcomes,
        "failed": failed,
        "skipped": skipped,
    }


def _claim_selection(app: Application, job_id: str, selection: Mapping[str, Any]) -> list[int]:
    """The copies of a selection job: claimed for it, with the list saved as its checkpoint, in
    one transaction; read back from the checkpoint when the job runs again."""
    from preserve.catalogue.models import Job
    from preserve.services.fixity import open_catalogue, select_copies

    with app.uow() as uow:
        row = uow.session.get(Job, job_id)
        if row is not None and row.checkpoint and "copies" in row.checkpoint:
            return [int(i) for i in row.checkpoint["copies"]]
    now = datetime.now(UTC)
    older = selection.get("older_than_seconds")
    with open_catalogue(app) as catalogue:
        copies = select_copies(
            app,
            catalogue,
            package_id=selection.get("package"),
            collection=selection.get("collection"),
            organisation=selection.get("organisation"),
            older_than=timedelta(seconds=older) if older is not None else None,
            limit=selection.get("limit"),
            location=selection.get("location"),
            now=now,
        )
    ids = [c.copy_id for c in copies]
    with app.uow() as uow:
        row = uow.session.get(Job, job_id)
        if row is None:
            raise NotFound(f"no job {job_id}")
        if row.checkpoint and "copies" in row.checkpoint:  # another run got here first
            return [int(i) for i in row.checkpoint["copies"]]
        if ids:
            _set_claim(uow, ids, job_id, now + CLAIM)
        row.checkpoint = {"copies": ids}
        uow.commit()
    return ids


# ----------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class ScheduleLine:
    """How well one location, one collection or everything is kept checked."""

    name: str
    copies: int = 0
    bytes: int = 0
    #: copies whose bytes were verified within their interval (by a check or their ingest)
    within_interval: int = 0
    #: copies no fixity check has read yet (next_check_at NULL)
    never_checked: int = 0
    #: copies past their interval: the backlog
    overdue: int = 0
    overdue_bytes: int = 0
    #: copies whose last check was not ok (mismatch, missing, could not be checked)
    failures: int = 0
    #: copies claimed by a fixity job that has not recorded them yet
    in_progress: int = 0

    @property
    def coverage(self) -> float:
        """The share of copies verified within their interval (1.0 with no copies)."""
        return self.within_interval / self.copies if self.copies else 1.0


@dataclass(frozen=True)
class ScheduleReport:
    checked_at: datetime
    total: ScheduleLine
    locations: tuple[ScheduleLine, ...]
    collections: tuple[ScheduleLine, ...]


def fixity_report(app: Application, *, now: datetime | None = None) -> ScheduleReport:
    """Coverage, never checked, backlog and failures of the copies on schedule (locations not
    retired), overall, per location and per collection (``organisation/collection``). A copy
    found damaged (failed, or quarantined and waiting for its repair) is off the schedule but
    still counted: as a failure, never as never checked or overdue."""
    from preserve.catalogue.models import (
        Collection,
        Copy,
        Organisation,
        Package,
        PackageVersion,
        StorageLocation,
    )

    now = _utc(now)
    default = app.settings.fixity_interval_days
    agreed = agreement_intervals()
    own = package_agreement_intervals()
    pending = sa.exists().where(
        PackageVersion.package_id == Copy.package_id,
        PackageVersion.number == Copy.version,
        PackageVersion.status != "stored",
    )
    stmt = (
        sa.select(
            Copy.size_bytes,
            Copy.created_at,
            Copy.last_checked_at,
            Copy.next_check_at,
            Copy.last_outcome,
            Copy.claimed_until,
            Copy.status,
            StorageLocation.name,
            StorageLocation.fixity_interval_days,
            Organisation.slug,
            Collection.slug,
            Collection.fixity_interval_days,
            agreed.c.days,
            own.c.days,
        )
        .join(Package, Package.id == Copy.package_id)
        .join(Collection, Collection.id == Package.collection_id)
        .outerjoin(agreed, agreed.c.collection_id == Collection.id)
        .outerjoin(own, own.c.package_id == Package.id)
        .join(Organisation, Organisation.id == Collection.organisation_id)
        .join(StorageLocation, StorageLocation.id == Copy.location_id)
        .where(
            StorageLocation.retired_at.is_(None),
            Package.status == "stored",
            Copy.status != "pending",
            ~pending,
        )
        .execution_options(yield_per=5000)
    )
    keys = ("copies", "bytes", "within_interval", "never_checked", "overdue", "overdue_bytes",
            "failures", "in_progress")  # fmt: skip
    total = dict.fromkeys(keys, 0)
    locations: dict[str, dict[str, int]] = {}
    collections: dict[str, dict[str, int]] = {}
    with app.uow() as uow:
        for (name,) in uow.session.execute(
            sa.select(StorageLocation.name).where(StorageLocation.retired_at.is_(None))
        ):
            locations[name] = dict.fromkeys(keys, 0)
        for row in uow.session.execute(stmt):
            size, created, last, due, outcome, claimed, status, location, loc_days = row[:9]
            org, coll, coll_days, agreed_days, own_days = row[9:]
            given = [d for d in (coll_days, loc_days, agreed_days, own_days) if d is not None]
            interval = timedelta(days=min(given) if given else default)
            size = size or 0
            damaged = status in ("failed", "quarantined")
            never = due is None and not damaged
            late = not damaged and (
                due < now if due is not None else (last or created) < now - interval
            )
            counts = {
                "copies": 1,
                "bytes": size,
                "within_interval": int(last is not None and last >= now - interval),
                "never_checked": int(never),
                "overdue": int(late),
                "overdue_bytes": size if late else 0,
                "failures": int(damaged or (outcome is not None and outcome != "ok")),
                "in_progress": int(claimed is not None and claimed > now),
            }
            for target in (
                total,
                locations.setdefault(location, dict.fromkeys(keys, 0)),
                collections.setdefault(f"{org}/{coll}", dict.fromkeys(keys, 0)),
            ):
                for k, v in counts.items():
                    target[k] += v
    return ScheduleReport(
        now,
        ScheduleLine("all", **total),
        tuple(ScheduleLine(n, **c) for n, c in sorted(locations.items())),
        tuple(ScheduleLine(n, **c) for n, c in sorted(collections.items())),
    )


# ----------------------------------------------------------------------------- settings


def agreement_intervals() -> Any:
    """Per collection (``collection_id``), the shortest fixity interval (``days``) of the
    agreements in force over it: :data:`preserve.catalogue.fixity.AGREEMENT_INTERVALS` as a
    subquery."""
    from preserve.catalogue.agreements import Agreement, AgreementScope, ServiceLevel
    from preserve.catalogue.fixity import AGREEMENT_IN_FORCE

    return (
        sa.select(
            AgreementScope.collection_id.label("collection_id"),
            sa.func.min(ServiceLevel.fixity_interval_days).label("days"),
        )
        .join(Agreement, Agreement.id == AgreementScope.agreement_id)
        .join(ServiceLevel, ServiceLevel.agreement_id == Agreement.id)
        .where(
            AgreementScope.selector == "collection",
            Agreement.component == "main",
            Agreement.state.in_(AGREEMENT_IN_FORCE),
        )
        .group_by(AgreementScope.collection_id)
        .subquery("ag")
    )


def package_agreement_intervals() -> Any:
    """Per package (``package_id``), the shortest fixity interval (``days``) of the agreement
    in force it is linked to when that agreement selects packages by a metadata rule:
    :data:`preserve.catalogue.fixity.PACKAGE_AGREEMENT_INTERVALS` as a subquery."""
    from preserve.catalogue.agreements import Agreement, AgreementScope, ServiceLevel
    from preserve.catalogue.fixity import AGREEMENT_IN_FORCE
    from preserve.catalogue.retention import PackageRetention

    by_rule = (
        sa.select(AgreementScope.id)
        .where(AgreementScope.agreement_id == Agreement.id, AgreementScope.selector == "metadata")
        .exists()
    )
    return (
        sa.select(
            PackageRetention.package_id.label("package_id"),
            sa.func.min(ServiceLevel.fixity_interval_days).label("days"),
        )
        .join(Agreement, Agreement.reference == PackageRetention.reference)
        .join(ServiceLevel, ServiceLevel.agreement_id == Agreement.id)
        .where(
            Agreement.component == "main",
            Agreement.state.in_(AGREEMENT_IN_FORCE),
            by_rule,
        )
        .group_by(PackageRetention.package_id)
        .subquery("pag")
    )


def reschedule(
    session: Any,
    collection_ids: Sequence[int],
    default_days: int | None = None,
    *,
    package_ids: Sequence[str] = (),
    copy_ids: Sequence[int] | None = None,
) -> int:
    """Set ``next_check_at`` of the checked copies of the collections' packages (and of
    ``package_ids``; of those only ``copy_ids`` when given) again from their last check and
    their interval as it is now (the shortest of the collection's, its agreements', the
    package's metadata-rule agreement's and the location's; else ``default_days``; copies with
    none of them and no default keep theirs), after an interval changed or an agreement
    stopped governing them. Copies never checked stay first in line (NULL). Returns how many
    copies changed. Runs in the caller's transaction."""
    from preserve.catalogue.models import Collection, Copy, Package, StorageLocation

    ids = sorted(set(collection_ids))
    packages = sorted(set(package_ids))
    if not ids and not packages:
        return 0
    session.flush()
    agreed = agreement_intervals()
    own = package_agreement_intervals()
    chosen = [Collection.id.in_(ids)] if ids else []
    chosen += [Package.id.in_(packages)] if packages else []
    query = (
        sa.select(
            Copy.id,
            Copy.last_checked_at,
            Copy.next_check_at,
            Collection.fixity_interval_days,
            StorageLocation.fixity_interval_days,
            agreed.c.days,
            own.c.days,
        )
        .join(Package, Package.id == Copy.package_id)
        .join(Collection, Collection.id == Package.collection_id)
        .join(StorageLocation, StorageLocation.id == Copy.location_id)
        .outerjoin(agreed, agreed.c.collection_id == Collection.id)
        .outerjoin(own, own.c.package_id == Package.id)
        .where(
            sa.or_(*chosen),
            Copy.last_checked_at.is_not(None),
            Copy.status.not_in(("pending", "quarantined")),
        )
    )
    if copy_ids is not None:
        query = query.where(Copy.id.in_(sorted(set(copy_ids))))
    rows = session.execute(query).all()
    changes = []
    for copy_id, last, due, *days in rows:
        given = [d for d in days if d is not None]
        interval = min(given) if given else default_days
        if interval is None:
            continue
        wanted = _as_utc(last) + timedelta(days=interval)
        if due is None or _as_utc(due) != wanted:
            changes.append({"id": copy_id, "next_check_at": wanted})
    if changes:
        session.execute(sa.update(Copy), changes)
    return len(changes)


@dataclass(frozen=True)
class ScheduleSetting:
    kind: str  # "location" or "collection"
    name: str
    interval_days: int | None
    bytes_per_hour: int | None = None


_SIZE_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "pb": 10**15,
               "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}  # fmt: skip


def parse_size(text: str, option: str = "--bytes-per-hour") -> int:
    """``500GB``, ``1.5TB``, ``200MiB`` or a number of bytes; :class:`InvalidInput` otherwise
    (nothing negative, nothing less than one byte)."""
    import re

    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    if m is None or m.group(2).lower() not in _SIZE_UNITS:
        raise InvalidInput(
            f"{option} {text!r} is not a size: give a number of bytes or a number and a unit, "
            "such as 500GB, 1.5TB or 200MiB"
        )
    value = int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])
    if value < 1:
        raise InvalidInput(f"{option} {text!r} must be at least one byte")
    return value


def set_location_schedule(
    app: Application,
    name: str,
    *,
    interval_days: int | bool | None = False,
    bytes_per_hour: int | bool | None = False,
) -> ScheduleSetting:
    """Set a location's fixity interval (days; None: the setting's) and budget (bytes an
    hour; None: unlimited). ``False`` leaves a value as it is."""
    from preserve.catalogue.models import StorageLocation

    _check_interval(interval_days)
    if bytes_per_hour is not False and bytes_per_hour is not None and bytes_per_hour < 1:
        raise InvalidInput(f"a budget must be at least one byte an hour, not {bytes_per_hour}")
    with app.uow() as uow:
        location = uow.session.scalar(
            sa.select(StorageLocation).where(StorageLocation.name == name)
        )
        if location is None:
            from preserve.names import unknown

            names = uow.session.scalars(sa.select(StorageLocation.name)).all()
            raise unknown("location", name, list(names))
        if interval_days is not False:
            location.fixity_interval_days = interval_days
        if bytes_per_hour is not False:
            location.fixity_bytes_per_hour = bytes_per_hour
        uow.commit()
        return ScheduleSetting(
            "location", name, location.fixity_interval_days, location.fixity_bytes_per_hour
        )


def set_collection_schedule(
    app: Application, organisation: str | None, slug: str, *, interval_days: int | None
) -> ScheduleSetting:
    """Set a collection's fixity interval (days; None: its locations' or the setting's)."""
    from preserve.catalogue.models import Collection, Organisation

    _check_interval(interval_days)
    org_slug = organisation or app.settings.organisation
    with app.uow() as uow:
        coll = uow.session.scalar(
            sa.select(Collection)
            .join(Organisation, Organisation.id == Collection.organisation_id)
            .where(Organisation.slug == org_slug, Collection.slug == slug)
        )
        if coll is None:
            from preserve.names import collection_not_found, unknown

            orgs = uow.session.scalars(sa.select(Organisation.slug)).all()
            if org_slug not in orgs:
                raise unknown("organisation", org_slug, list(orgs))
            names = uow.session.scalars(
                sa.select(Collection.slug)
                .join(Organisation, Organisation.id == Collection.organisation_id)
                .where(Organisation.slug == org_slug)
            ).all()
            elsewhere = uow.session.scalars(
                sa.select(Organisation.slug)
                .join(Collection, Collection.organisation_id == Organisation.id)
                .where(Collection.slug == slug)
            ).all()
            raise collection_not_found(slug, org_slug, list(names), list(elsewhere))
        coll.fixity_interval_days = interval_days
        reschedule(uow.session, [coll.id], app.settings.fixity_interval_days)
        uow.commit()
        return ScheduleSetting("collection", f"{org_slug}/{slug}", coll.fixity_interval_days)


def _check_interval(days: int | bool | None) -> None:
    if days is False or days is None:
        return
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise InvalidInput(f"a fixity interval must be at least 1 day, not {days}")
    if days > 36_500:
        raise InvalidInput(f"a fixity interval of {days} days is more than 100 years")
