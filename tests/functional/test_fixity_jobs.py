"""The fixity job against real storage (local and the S3 test endpoint): scheduled by
``dispatch_due`` or queued by ``preserve fixity ... --async``, it re-reads every claimed copy,
records each check once (a job run again after a kill records nothing twice), raises a
``fixity_failure`` alert and queues one repair job for damage, and retries a check that could
not be made before recording the error. Also ``preserve fixity --repair``, ``preserve fixity
report``, ``preserve fixity schedule`` and their refusals of bad input."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from preserve.config.settings import Settings

from preserve.bootstrap import Application, bootstrap
from preserve.catalogue.models import Alert, Copy, Event, Job, StorageLocation
from preserve.services import jobs, runner, schedule
from tests.functional.cli import Repo, two_location_package
from tests.s3server import corrupt_object


@pytest.fixture
def stored(tmp_path: Path, storage_url: str) -> Iterator[tuple[Repo, Application, str, str]]:
    """A package on the default local location and on 'second' (local or S3), and the
    application (in this process) over the same catalogue."""
    repo = Repo(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'catalogue.sqlite3'}")
    package = two_location_package(repo, tmp_path / "delivery", storage_url)
    app = bootstrap(Settings.from_env({**os.environ, **repo.env}), actor="tester")
    yield repo, app, storage_url, package["key_prefix"]
    app.close()


def flip(data: bytes) -> bytes:
    return data[:100] + bytes([data[100] ^ 0x01]) + data[101:]


def _fixity_events(app: Application) -> list[Any]:
    """(copy id, outcome, outcome detail) of every fixity check event, oldest first."""
    with app.uow() as uow:
        return list(
            uow.session.execute(
                sa.select(Event.copy_id, Event.outcome, Event.outcome_detail)
                .where(Event.event_type == "fixity check")
                .order_by(Event.occurred_at)
            ).all()
        )


def _copies(app: Application) -> dict[str, Copy]:
    with app.uow() as uow:
        rows = uow.session.execute(
            sa.select(Copy, StorageLocation.name).join(
                StorageLocation, StorageLocation.id == Copy.location_id
            )
        ).all()
        uow.session.expunge_all()
        return {name: copy for copy, name in rows}


def _dispatch(app: Application, now: datetime) -> list[str]:
    published: list[str] = []
    queued = schedule.dispatch_due(app, now=now, publish=published.append, tick=timedelta(days=90))
    assert published == queued
    return queued


def test_scheduled_jobs_check_every_copy_once(stored: tuple[Repo, Application, str, str]) -> None:
    _repo, app, _url, _prefix = stored
    before = len(_fixity_events(app))
    now = datetime.now(UTC)
    queued = _dispatch(app, now)
    assert queued
    with app.uow() as uow:
        claimed = {c for j in queued for c in uow.session.get(Job, j).payload["copies"]}  # type: ignore[union-attr]
    assert claimed == {c.id for c in _copies(app).values()}
    # each copy's size was recorded by its ingest: the payload and the tag files it stored
    assert all(c.size_bytes is not None and c.size_bytes > 350_000 for c in _copies(app).values())
    for job_id in queued:
        assert runner.run_job(app, job_id, "worker-a") == "succeeded"
        result = jobs.show(app, job_id).result
        assert result is not None and result["outcomes"] == {"ok": result["checked"]}
    events = _fixity_events(app)
    assert len(events) == before + 2 and all(e.outcome == "success" for e in events[before:])
    for copy in _copies(app).values():
        assert copy.last_outcome == "ok" and copy.fixity_job_id is None
        assert copy.next_check_at is not None and copy.last_checked_at is not None
        assert copy.next_check_at - copy.last_checked_at == timedelta(days=90)
    # run again (a duplicate delivery after the job ended, or a kill and a retry): nothing twice
    for job_id in queued:
        job = jobs.show(app, job_id)
        result = schedule.run_fixity_job(app, job, _Work(job_id))
        assert result["checked"] == 0 and result["skipped"] == result["copies"]
    assert len(_fixity_events(app)) == before + 2
    # checked just now, far beyond a day's share of the 90-day rate: the next tick waits
    later = now + timedelta(minutes=5)
    assert schedule.dispatch_due(app, now=later, publish=lambda _: None) == []


class _Work:
    """Progress for a handler run directly (as a worker re-running a job would)."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id

    def begin(self, label: str, files: int, nbytes: int, stage: Any = None) -> None:
        pass

    def advance(self, files: int, nbytes: int) -> None:
        pass

    def end(self) -> None:
        pass

    def check(self) -> None:
        pass


def test_damage_found_by_a_job_alerts_and_queues_one_repair(
    stored: tuple[Repo, Application, str, str],
) -> None:
    _repo, app, url, prefix = stored
    corrupt_object(url, prefix + "data/a.bin", flip)
    second = _copies(app)["second"]
    queued = _dispatch(app, datetime.now(UTC))
    job_of_second = next(j for j in queued if second.id in jobs.show(app, j).payload["copies"])
    job = jobs.claim(app, job_of_second, "worker-a", timedelta(minutes=5))
    assert job is not None
    before = len(_fixity_events(app))
    result = schedule.run_fixity_job(app, job, _Work(job.id))
    assert result["failed"] == [
        {"copy_id": second.id, "package_id": second.package_id, "location": "second",
         "outcome": "mismatch"}
    ]  # fmt: skip
    # the kill came after the check was recorded but before the job ended: run it again
    again = schedule.run_fixity_job(app, job, _Work(job.id))
    assert again["checked"] == 0
    events = _fixity_events(app)[before:]
    assert [e.outcome for e in events if e.copy_id == second.id] == ["failure"]
    assert "data/a.bin" in (events[-1].outcome_detail or "")
    with app.uow() as uow:
        alerts = uow.session.scalars(sa.select(Alert).where(Alert.kind == "fixity_failure")).all()
        repairs = uow.session.scalars(sa.select(Job).where(Job.kind == "repair")).all()
        assert len(alerts) == 1 and alerts[0].package_id == second.package_id
        assert alerts[0].details["copy_id"] == second.id
        assert "data/a.bin" in alerts[0].body
        assert [r.payload for r in repairs] == [{"copy_id": second.id}]
        assert repairs[0].idempotency_key and str(second.id) in repairs[0].idempotency_key
    assert _copies(app)["second"].status == "failed"


def test_a_check_that_cannot_be_made_is_retried_then_recorded_as_an_error(
    stored: tuple[Repo, Application, str, str],
) -> None:
    _repo, app, _url, _prefix = stored
    second = _copies(app)["second"]
    # the location stops answering: its URL now names a port where nothing listens
    with app.uow() as uow:
        location = uow.session.get(StorageLocation, second.location_id)
        assert location is not None
        location.url = "s3://gone/prefix?endpoint_url=http://127.0.0.1:9&addressing_style=path"
        uow.commit()
    job = jobs.submit(app, "fixity", {"copies": [second.id]}, publish=lambda _: None)
    with app.uow() as uow:
        copy = uow.session.get(Copy, second.id)
        assert copy is not None
        copy.fixity_job_id, copy.claimed_until = job.id, datetime.now(UTC) + timedelta(hours=1)
        uow.commit()
    slept: list[float] = []
    result = schedule.run_fixity_job(
        app, job, _Work(job.id), retry_delays=(0.5, 2.0), sleep=slept.append
    )
    assert slept == [0.5, 2.0]  # two more attempts, with back-off, before the error counts
    assert result["outcomes"] == {"error": 1}
    copy = _copies(app)["second"]
    assert copy.last_outcome == "error" and copy.fixity_job_id is None
    assert copy.status == "verified"  # could not be checked is not damage
    with app.uow() as uow:  # no repair for a copy that could not be read
        assert uow.session.scalars(sa.select(Job).where(Job.kind == "repair")).all() == []


def test_async_queues_a_job_that_a_worker_runs(stored: tuple[Repo, Application, str, str]) -> None:
    repo, app, _url, _prefix = stored
    queued = repo.json("fixity", "--collection", "photos", "--async")
    job_id = queued["job_id"]
    plain = repo.run("fixity", "--all", "--async")
    assert plain.stdout.strip() != job_id and len(plain.stdout.strip()) == 36
    job = jobs.show(app, job_id)
    assert job.kind == "fixity" and job.state == "queued"
    assert job.payload["selection"]["collection"] == "photos"
    before = len(_fixity_events(app))
    assert runner.run_job(app, job_id, "worker-a") == "succeeded"
    result = jobs.show(app, job_id).result
    assert result is not None and result["checked"] == 2
    assert len(_fixity_events(app)) == before + 2
    # the selection was claimed and saved with the claim: a run again checks nothing twice
    again = schedule.run_fixity_job(app, jobs.show(app, job_id), _Work(job_id))
    assert again["checked"] == 0 and again["copies"] == 2
    assert len(_fixity_events(app)) == before + 2


def test_waiting_for_a_fixity_job_that_found_damage_fails_like_the_foreground_check(
    stored: tuple[Repo, Application, str, str],
) -> None:
    repo, app, url, prefix = stored
    corrupt_object(url, prefix + "data/a.bin", flip)
    job_id = repo.json("fixity", "--collection", "photos", "--async")["job_id"]
    assert runner.run_job(app, job_id, "worker-a") == "succeeded"  # the check was made

    waited = repo.run("jobs", "wait", job_id, ok=False)

    assert waited.exit_code == 1 and "Traceback" not in waited.output
    assert "(fixity) succeeded: 2 copies checked (1 mismatch, 1 ok)" in waited.stdout
    assert "FAILED mismatch: package " in waited.stderr
    assert "copy on location second (a repair job was queued" in waited.stderr
    assert "{" not in waited.output  # words, not the result's raw data


def test_repair_restores_what_the_check_found(stored: tuple[Repo, Application, str, str]) -> None:
    repo, app, url, prefix = stored
    corrupt_object(url, prefix + "data/a.bin", flip)
    result = repo.run("fixity", "--all", "--repair")
    assert result.exit_code == 0, result.stderr
    assert "repaired" in result.stdout and "second" in result.stdout
    assert "FAILED mismatch: data/a.bin" in result.stderr  # what was found is still said
    after = repo.json("fixity", "--all")
    assert after["ok"] is True
    with app.uow() as uow:
        assert uow.session.scalars(sa.select(Alert).where(Alert.kind == "fixity_failure")).all()


def test_repair_fails_when_no_good_copy_is_left(
    stored: tuple[Repo, Application, str, str],
) -> None:
    repo, _app, url, prefix = stored
    corrupt_object(url, prefix + "data/a.bin", flip)
    local = repo.storage_root / "default" / prefix / "data" / "a.bin"
    if not local.exists():  # the default location's layout
        local = next(repo.home.rglob("data/a.bin"))
    local.write_bytes(flip(local.read_bytes()))
    result = repo.run("fixity", "--all", "--repair", ok=False)
    assert result.exit_code == 1
    assert "data/a.bin" in result.stderr


def test_report_says_coverage_backlog_and_failures(
    stored: tuple[Repo, Application, str, str],
) -> None:
    repo, _app, url, prefix = stored
    report = repo.json("fixity", "report")
    total = report["total"]
    # verified by their ingest just now, never checked by fixity since
    assert (total["copies"], total["never_checked"], total["coverage"]) == (2, 2, 1.0)
    assert total["backlog"] == {"copies": 0, "bytes": 0} and total["failures"] == 0
    assert [x["name"] for x in report["locations"]] == ["default", "second"]
    assert [x["name"] for x in report["collections"]] == ["default/photos"]
    corrupt_object(url, prefix + "data/a.bin", lambda data: None)
    repo.run("fixity", "--all", ok=False)
    report = repo.json("fixity", "report")
    assert report["total"]["never_checked"] == 0 and report["total"]["failures"] == 1
    second = next(x for x in report["locations"] if x["name"] == "second")
    assert second["failures"] == 1
    text = repo.run("fixity", "report")
    assert "per location:" in text.stdout and "coverage" in text.stdout
    assert "2 copies: 100.0% verified within their interval" in text.stderr + text.stdout


def test_schedule_sets_intervals_and_budgets(stored: tuple[Repo, Application, str, str]) -> None:
    repo, app, _url, _prefix = stored
    out = repo.run(
        "fixity", "schedule", "--location", "second", "--interval-days", "30",
        "--bytes-per-hour", "200GB",
    )  # fmt: skip
    assert out.stdout.strip() == "location second: fixity every 30 days, budget 200.0 GB an hour"
    coll = repo.json("fixity", "schedule", "--collection", "photos", "--interval-days", "7")
    assert coll == {
        "kind": "collection", "name": "default/photos", "interval_days": 7,
        "bytes_per_hour": None,
    }  # fmt: skip
    repo.run("fixity", "--all")
    for copy in _copies(app).values():  # the shortest interval wins: the collection's
        assert copy.next_check_at - copy.last_checked_at == timedelta(days=7)  # type: ignore[operator]
    reset = repo.run("fixity", "schedule", "--location", "second", "--bytes-per-hour", "unlimited")
    assert reset.stdout.strip() == "location second: fixity every 30 days, budget unlimited"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["schedule", "--location", "nowhere", "--interval-days", "5"], "location"),
        (["schedule", "--location", "second", "--interval-days", "-3"], "at least 1"),
        (["schedule", "--location", "second", "--interval-days", "soon"], "not a number"),
        (["schedule", "--location", "second", "--bytes-per-hour", "lots"], "not a size"),
        (["schedule", "--location", "second", "--bytes-per-hour", "-5GB"], "not a size"),
        (["schedule", "--collection", "nope", "--interval-days", "5"], "nope"),
        (["schedule", "--collection", "photos", "--bytes-per-hour", "1GB"], "--location"),
        (["schedule", "--interval-days", "5"], "--location NAME or --collection"),
        (["schedule", "--location", "second"], "--interval-days"),
        (["--all", "--async", "--repair"], "--repair"),
        (["--all", "report"], "after it"),
        (["--collection", "nope", "--async"], "nope"),
        (["--location", "nowhere", "--all", "--async"], "nowhere"),
    ],
)
def test_bad_input_is_refused_with_nothing_changed(
    stored: tuple[Repo, Application, str, str], args: list[str], message: str
) -> None:
    repo, app, _url, _prefix = stored
    result = repo.run("fixity", *args, ok=False)
    assert result.exit_code in (1, 2, 3)
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    with app.uow() as uow:
        assert uow.session.scalars(sa.select(Job)).all() == []
        assert all(
            (loc.fixity_interval_days, loc.fixity_bytes_per_hour) == (None, None)
            for loc in uow.session.scalars(sa.select(StorageLocation))
        )
