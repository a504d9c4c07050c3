"""Scheduled fixity with an injected clock: ``dispatch_due`` runs for real against the catalogue
(SQLite, and a smaller PostgreSQL variant) tick after simulated tick, and every copy it claims
is marked checked by the recording code the fixity job uses (no storage is read).

Proven: 100,000 copies of varied sizes with a 90-day interval are all checked within 90 days,
the never-checked first; after the first interval the daily load in bytes varies by less than
1.5x between days; a flood of never-checked copies beyond a location's budget never starves the
oldest copies (and the backlog is alerted once a day); two schedulers running at once never
claim the same copy; retired locations are not scheduled; size_bytes is backfilled."""

from __future__ import annotations

import itertools
import random
import shutil
import tempfile
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from preserve.config.settings import Settings

from preserve.bootstrap import Application, bootstrap
from preserve.catalogue.database import upgrade
from preserve.catalogue.models import (
    Alert,
    Collection,
    Copy,
    File,
    Job,
    Organisation,
    Package,
    StorageLocation,
)
from preserve.errors import InvalidInput, NotFound
from preserve.services import schedule
from preserve.services.fixity import CopyCheck, open_catalogue, record_checks

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> Iterator[Application]:
    upgrade(database_url)
    application = bootstrap(
        Settings.from_env({"PRESERVE_HOME": str(tmp_path), "PRESERVE_DATABASE_URL": database_url}),
        actor="tester",
    )
    yield application
    application.close()


def _is_postgres(app: Application) -> bool:
    return app.engine.dialect.name == "postgresql"


def _setup(app: Application, locations: int = 1, **location: object) -> tuple[int, list[int]]:
    """An organisation, a collection and ``locations`` locations: (collection id, location ids)."""
    with app.uow() as uow:
        org = Organisation(slug="museum", name="Museum")
        uow.session.add(org)
        uow.session.flush()
        coll = Collection(organisation_id=org.id, slug="photos", title="Photos")
        uow.session.add(coll)
        locs = [
            StorageLocation(name=f"loc{n}", url=f"file:///srv/loc{n}", provider="local", **location)
            for n in range(locations)
        ]
        uow.session.add_all(locs)
        uow.commit()
        return coll.id, [loc.id for loc in locs]


def _add_copies(
    app: Application,
    collection_id: int,
    location_id: int,
    sizes: list[int],
    *,
    created: datetime = T0,
    next_check: datetime | None = None,
) -> list[int]:
    """Stored packages with one verified copy each (made at ``created``, verified then by their
    ingest, never checked since unless ``next_check`` is given); their copy ids."""
    packages = [str(uuid.uuid4()) for _ in sizes]
    with app.engine.begin() as conn:
        conn.execute(
            sa.insert(Package),
            [
                {"id": p, "collection_id": collection_id, "status": "stored", "created_at": created}
                for p in packages
            ],
        )
        conn.execute(
            sa.insert(Copy),
            [
                {
                    "package_id": p,
                    "location_id": location_id,
                    "version": 1,
                    "key_prefix": f"museum/photos/{p}/v1/",
                    "status": "verified",
                    "size_bytes": size,
                    "created_at": created,
                    "last_checked_at": created if next_check is None else next_check - 90 * DAY,
                    "last_outcome": "ok",
                    "next_check_at": next_check,
                }
                for p, size in zip(packages, sizes, strict=True)
            ],
        )
        ids = conn.execute(
            sa.select(Copy.id).where(Copy.package_id.in_(packages)).order_by(Copy.id)
        ).scalars()
        return list(ids)


def _sizes(n: int, seed: int = 1) -> list[int]:
    """Varied copy sizes, log-uniform from 1 KB to 1 GB."""
    rnd = random.Random(seed)
    return [int(10 ** rnd.uniform(3, 9)) for _ in range(n)]


class Simulation:
    """Ticks of the beat against the catalogue; each claimed copy checked (ok) at once."""

    def __init__(self, app: Application, tick: timedelta) -> None:
        self.app = app
        self.tick = tick
        self.checks: dict[int, list[datetime]] = defaultdict(list)
        self.daily_bytes: dict[int, int] = defaultdict(int)
        self.published: list[str] = []

    def run(self, start: datetime, ticks: int) -> None:
        for step in range(ticks):
            now = start + step * self.tick
            queued = schedule.dispatch_due(
                self.app, now=now, publish=self.published.append, tick=self.tick
            )
            self.mark_checked(queued, now)

    def mark_checked(self, job_ids: list[str], now: datetime) -> None:
        if not job_ids:
            return
        with self.app.uow() as uow:
            payloads = {
                j.id: j.payload
                for j in uow.session.scalars(sa.select(Job).where(Job.id.in_(job_ids)))
            }
        with open_catalogue(self.app) as catalogue, catalogue.batch():
            for job_id in job_ids:
                copies = catalogue.copies(copy_ids=payloads[job_id]["copies"])
                sizes = self._sizes([c.copy_id for c in copies])
                checks = [
                    (
                        copy,
                        CopyCheck(
                            copy.package_id, copy.location, copy.url, copy.key_prefix, "ok",
                            1, sizes[copy.copy_id], (), now,
                        ),
                    )
                    for copy in copies
                    if copy.claimed_by == job_id
                ]  # fmt: skip
                assert len(checks) == len(copies)
                recorded = record_checks(
                    catalogue, checks, now=now, reading="", digests="sha256",
                    scope="simulated", claimed_by=job_id,
                )  # fmt: skip
                assert all(recorded)
                # recording the same claims again is refused: a job run again after a kill
                # never records a copy twice
                assert not any(
                    record_checks(
                        catalogue, checks[:3], now=now, reading="", digests="sha256",
                        scope="simulated", claimed_by=job_id,
                    )
                )  # fmt: skip
                for copy, _check in checks:
                    self.checks[copy.copy_id].append(now)
                    self.daily_bytes[(now - T0) // DAY] += sizes[copy.copy_id]

    def _sizes(self, ids: list[int]) -> dict[int, int]:
        with self.app.engine.connect() as conn:
            rows = conn.execute(sa.select(Copy.id, Copy.size_bytes).where(Copy.id.in_(ids)))
            return {r[0]: r[1] for r in rows}


def _scheduling_proof(app: Application, copies: int, tick: timedelta, days: int) -> None:
    collection_id, (location_id,) = _setup(app)
    ids = _add_copies(app, collection_id, location_id, _sizes(copies))
    sim = Simulation(app, tick)
    sim.run(T0, int(days * DAY / tick))

    # every copy checked within 90 days of its making, and again within 90 days of that
    firsts = {copy_id: sim.checks[copy_id][0] for copy_id in ids if sim.checks[copy_id]}
    assert len(firsts) == copies
    assert max(firsts.values()) < T0 + 90 * DAY
    for copy_id in ids:
        times = sim.checks[copy_id]
        assert all(b - a <= 90 * DAY for a, b in itertools.pairwise(times))
        assert T0 + days * DAY - times[-1] <= 90 * DAY
    # never checked first: no copy was checked a second time before every copy once
    seconds = [times[1] for times in sim.checks.values() if len(times) > 1]
    assert seconds and min(seconds) >= max(firsts.values())
    # after the first interval, the daily load in bytes is even (varied sizes)
    after = [sim.daily_bytes[d] for d in range(91, days - 1)]
    assert min(after) > 0
    assert max(after) / min(after) < 1.5, (min(after), max(after))
    # each check a PREMIS event, recorded once; the copies' schedule is what the checks say
    with app.engine.connect() as conn:
        events = conn.scalar(sa.text("SELECT COUNT(*) FROM events"))
        assert events == sum(len(t) for t in sim.checks.values())
        unclaimed = conn.scalar(sa.select(sa.func.count()).where(Copy.fixity_job_id.is_not(None)))
        assert unclaimed == 0  # the checks released every claim
        last = dict(conn.execute(sa.select(Copy.id, Copy.next_check_at)).all())
    some = ids[:: max(1, copies // 50)]
    for copy_id in some:
        want = sim.checks[copy_id][-1] + 90 * DAY
        assert last[copy_id].replace(tzinfo=UTC) == want


def test_100000_copies_are_all_checked_within_their_interval_sqlite(tmp_path: Path) -> None:
    # the catalogue on a memory-backed file system when there is one: the same SQLite, without
    # waiting for the disk at each of the simulation's commits
    shm = Path("/dev/shm")
    folder = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else tmp_path
    url = f"sqlite:///{folder / 'catalogue.sqlite3'}"
    upgrade(url)
    app = bootstrap(
        Settings.from_env({"PRESERVE_HOME": str(tmp_path), "PRESERVE_DATABASE_URL": url}),
        actor="tester",
    )
    try:
        _scheduling_proof(app, 100_000, DAY, 100)
    finally:
        app.close()
        if folder != tmp_path:
            shutil.rmtree(folder)


@pytest.mark.postgres
def test_the_schedule_keeps_up_on_postgresql(tmp_path: Path) -> None:
    # the SQLite half is the 100,000-copy test above
    from tests.dbfixtures import POSTGRES_SKIP_REASON, postgres_admin_url, postgres_database

    admin = postgres_admin_url()
    if admin is None:
        pytest.skip(POSTGRES_SKIP_REASON)
    with postgres_database(admin) as url:
        upgrade(url)
        settings = Settings.from_env({"PRESERVE_HOME": str(tmp_path), "PRESERVE_DATABASE_URL": url})
        application = bootstrap(settings, actor="tester")
        try:
            assert _is_postgres(application)
            _scheduling_proof(application, 2_000, DAY, 125)
        finally:
            application.close()


def test_a_flood_of_never_checked_copies_never_starves_the_oldest(app: Application) -> None:
    budget = 20 * 10**6  # bytes an hour
    collection_id, (location_id,) = _setup(app, fixity_bytes_per_hour=budget)
    # 200 copies of 1 MB, checked long ago and ten days overdue
    old = _add_copies(
        app, collection_id, location_id, [10**6] * 200, created=T0 - 200 * DAY,
        next_check=T0 - 10 * DAY,
    )  # fmt: skip
    # and a flood of 5,000 never-checked copies, past their interval too (an outage, a
    # location added late): 5 GB, 250 hours of the location's budget, all of it first in line
    flood = _add_copies(app, collection_id, location_id, [10**6] * 5000, created=T0 - 100 * DAY)
    sim = Simulation(app, timedelta(hours=1))
    sim.run(T0, 48)
    # the oldest still had their share of every hour: all checked within two days
    assert all(sim.checks[c] for c in old)
    assert max(sim.checks[c][0] for c in old) < T0 + 48 * timedelta(hours=1)
    # the flood went first with the rest, within the budget, and is still a backlog
    checked_flood = sum(1 for c in flood if sim.checks[c])
    assert checked_flood > 500
    assert checked_flood < len(flood) // 2
    assert sum(sim.daily_bytes.values()) <= budget * 48 + 10**6 * 48
    # the backlog (copies past their interval) is alerted once a day per location
    with app.uow() as uow:
        alerts = uow.session.scalars(sa.select(Alert).where(Alert.kind == "backlog")).all()
        assert len(alerts) == 2  # day one and day two
        assert {a.location_id for a in alerts} == {location_id}
        assert "overdue" in alerts[0].subject and alerts[0].details["overdue_copies"] == 5200


def test_two_schedulers_at_once_never_claim_the_same_copy(
    app: Application, database_url: str, tmp_path: Path
) -> None:
    collection_id, locations = _setup(app, locations=4)
    for location_id in locations:
        _add_copies(app, collection_id, location_id, _sizes(2_000, seed=location_id))
    other = bootstrap(
        Settings.from_env({"PRESERVE_HOME": str(tmp_path), "PRESERVE_DATABASE_URL": database_url}),
        actor="tester",
    )
    barrier = threading.Barrier(2)
    results: dict[str, list[str]] = {}
    errors: list[BaseException] = []

    def dispatcher(name: str, application: Application) -> None:
        try:
            barrier.wait()
            results[name] = schedule.dispatch_due(
                application, now=T0, publish=lambda _id: None, tick=timedelta(days=1)
            )
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=dispatcher, args=(n, a)) for n, a in (("a", app), ("b", other))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.close()
    assert not errors
    with app.uow() as uow:
        jobs = uow.session.scalars(sa.select(Job).where(Job.kind == "fixity")).all()
        claimed = [c for j in jobs for c in j.payload["copies"]]
        assert claimed and len(claimed) == len(set(claimed))
        # each copy's claim names the job that has it in its payload
        owner = {c: j.id for j in jobs for c in j.payload["copies"]}
        rows = uow.session.execute(
            sa.select(Copy.id, Copy.fixity_job_id).where(Copy.fixity_job_id.is_not(None))
        ).all()
        assert dict(rows) == owner
    # together they took one tick's share, not two: a day's share of 90 days, with headroom
    per_location = defaultdict(int)
    with app.engine.connect() as conn:
        for location_id, size in conn.execute(
            sa.select(Copy.location_id, Copy.size_bytes).where(Copy.fixity_job_id.is_not(None))
        ):
            per_location[location_id] += int(size)
        totals = dict(
            conn.execute(
                sa.select(Copy.location_id, sa.func.sum(Copy.size_bytes)).group_by(Copy.location_id)
            ).all()
        )
    for location_id in locations:
        share = int(totals[location_id]) * schedule.HEADROOM / 90
        assert per_location[location_id] <= share + 10**9  # at most one copy over


def test_jobs_are_byte_bounded_and_retired_locations_are_not_scheduled(
    app: Application,
) -> None:
    collection_id, (live, retired) = _setup(app, locations=2)
    big = 3 * schedule.JOB_BYTES // 2
    _add_copies(app, collection_id, live, [big, big, 10, 10])
    _add_copies(app, collection_id, retired, [10, 10])
    with app.uow() as uow:
        uow.session.get(StorageLocation, retired).retired_at = T0  # type: ignore[union-attr]
        uow.commit()
    published: list[str] = []
    queued = schedule.dispatch_due(app, now=T0, publish=published.append, tick=90 * DAY)
    assert published == queued  # published after the commit, one message a job
    with app.uow() as uow:
        jobs = [uow.session.get(Job, j) for j in queued]
        payloads = [j.payload for j in jobs if j is not None]
        sizes = dict(uow.session.execute(sa.select(Copy.id, Copy.size_bytes)).all())
        on_retired = uow.session.scalars(
            sa.select(Copy.id).where(Copy.location_id == retired)
        ).all()
    assert {p["location"] for p in payloads} == {"loc0"}
    assert not {c for p in payloads for c in p["copies"]} & set(on_retired)
    for p in payloads:  # a copy larger than a job's bound has a job of its own
        total = sum(sizes[c] for c in p["copies"])
        assert total <= schedule.JOB_BYTES or len(p["copies"]) == 1
    assert len({c for p in payloads for c in p["copies"]}) == 4
    # claimed now: the next tick takes nothing of them
    soon = T0 + timedelta(hours=1)
    assert schedule.dispatch_due(app, now=soon, publish=published.append, tick=DAY) == []


def test_a_lost_jobs_claim_runs_out(app: Application) -> None:
    collection_id, (location_id,) = _setup(app)
    ids = _add_copies(app, collection_id, location_id, [1000])
    first = schedule.dispatch_due(app, now=T0, publish=lambda _: None, tick=90 * DAY)
    assert len(first) == 1
    # the job was lost: until its claim runs out the copy stays with it, then it is due again
    later = T0 + schedule.CLAIM - timedelta(minutes=1)
    assert schedule.dispatch_due(app, now=later, publish=lambda _: None, tick=90 * DAY) == []
    again = schedule.dispatch_due(
        app, now=T0 + schedule.CLAIM + timedelta(minutes=1), publish=lambda _: None,
        tick=90 * DAY,
    )  # fmt: skip
    assert len(again) == 1
    with app.uow() as uow:
        copy = uow.session.get(Copy, ids[0])
        assert copy is not None and copy.fixity_job_id == again[0]
        assert uow.session.get(Job, again[0]).payload["copies"] == ids  # type: ignore[union-attr]


def test_size_bytes_is_backfilled_from_the_files(app: Application) -> None:
    collection_id, (location_id,) = _setup(app)
    (copy_id,) = _add_copies(app, collection_id, location_id, [0])
    with app.uow() as uow:
        copy = uow.session.get(Copy, copy_id)
        assert copy is not None
        copy.size_bytes = None
        for n, size in enumerate((100, 250)):
            uow.session.add(
                File(
                    package_id=copy.package_id,
                    path=f"data/{n}.bin",
                    path_nfc=f"data/{n}.bin",
                    size=size,
                    version=1,
                )
            )
        uow.commit()
    schedule.dispatch_due(app, now=T0, publish=lambda _: None)
    with app.uow() as uow:
        copy = uow.session.get(Copy, copy_id)
        assert copy is not None and copy.size_bytes == 350


def test_intervals_and_budgets_are_set_and_refused_when_bad(app: Application) -> None:
    _setup(app)
    set_ = schedule.set_location_schedule(app, "loc0", interval_days=30, bytes_per_hour=10**9)
    assert (set_.interval_days, set_.bytes_per_hour) == (30, 10**9)
    kept = schedule.set_location_schedule(app, "loc0", bytes_per_hour=None)
    assert (kept.interval_days, kept.bytes_per_hour) == (30, None)
    coll = schedule.set_collection_schedule(app, "museum", "photos", interval_days=7)
    assert (coll.name, coll.interval_days) == ("museum/photos", 7)
    with pytest.raises(InvalidInput, match="at least 1 day"):
        schedule.set_location_schedule(app, "loc0", interval_days=-5)
    with pytest.raises(InvalidInput, match="at least one byte"):
        schedule.set_location_schedule(app, "loc0", bytes_per_hour=-1)
    with pytest.raises(NotFound, match="loc1"):
        schedule.set_location_schedule(app, "loc1", interval_days=5)
    with pytest.raises(NotFound, match="photo"):
        schedule.set_collection_schedule(app, "museum", "photo", interval_days=5)
    with pytest.raises(NotFound):
        schedule.set_collection_schedule(app, "musem", "photos", interval_days=5)
    with pytest.raises(InvalidInput, match="not a size"):
        schedule.parse_size("lots")
    assert schedule.parse_size("1.5GB") == 1_500_000_000
    with pytest.raises(InvalidInput, match="longer than nothing"):
        schedule.dispatch_due(app, now=T0, publish=lambda _: None, tick=timedelta(0))
    # nothing half-written by the refusals
    with app.uow() as uow:
        loc = uow.session.scalar(sa.select(StorageLocation).where(StorageLocation.name == "loc0"))
        assert loc is not None and (loc.fixity_interval_days, loc.fixity_bytes_per_hour) == (
            30,
            None,
        )


def test_the_shortest_interval_schedules_the_copy(app: Application) -> None:
    collection_id, (location_id,) = _setup(app)
    ids = _add_copies(app, collection_id, location_id, [1000, 2000])
    schedule.set_location_schedule(app, "loc0", interval_days=30)
    schedule.set_collection_schedule(app, "museum", "photos", interval_days=10)
    queued = schedule.dispatch_due(app, now=T0, publish=lambda _: None, tick=30 * DAY)
    sim = Simulation(app, DAY)
    sim.mark_checked(queued, T0)
    with app.uow() as uow:
        due = uow.session.scalars(sa.select(Copy.next_check_at).where(Copy.id.in_(ids))).all()
    assert due == [T0 + 10 * DAY, T0 + 10 * DAY]


def test_the_report_counts_damaged_copies_as_failures(app: Application) -> None:
    collection_id, (location,) = _setup(app)
    ok, quarantined, failed = _add_copies(app, collection_id, location, [10, 20, 30])
    with app.uow() as uow:
        for copy_id, status in ((quarantined, "quarantined"), (failed, "failed")):
            copy = uow.session.get(Copy, copy_id)
            assert copy is not None
            copy.status, copy.last_outcome, copy.next_check_at = status, "mismatch", None
        uow.commit()
    report = schedule.fixity_report(app, now=T0 + DAY)
    assert [line.name for line in report.collections] == ["museum/photos"]
    for line in (report.total, *report.locations, *report.collections):
        assert (line.copies, line.bytes, line.failures) == (3, 60, 2), line
        assert line.never_checked == 1 and line.overdue == 0  # only the healthy copy
    assert ok not in (quarantined, failed)
