"""Replication against real storage (issue 10, point 5): a local location and the S3 test
endpoint, on SQLite and PostgreSQL. A package of two versions (the second holds one file of
its own and names the others in fetch.txt) is copied to a location added later, from S3 back
to a local location after a copy was lost, past a source whose bytes turn out wrong, and again
after being killed half-way; each ends with one verified copy row and one replication event,
and the new copies pass fixity."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from preserve.config.settings import Settings

from preserve import premis
from preserve.bootstrap import Application, bootstrap
from preserve.catalogue.models import Agent, Alert, Copy, Event, EventAgent, File, Job
from preserve.errors import InvalidInput, NotFound, StorageUnavailable
from preserve.ingest import ingest
from preserve.services import admin, jobs, replication
from preserve.services.fixity import check_fixity
from tests.s3server import corrupt_object

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@dataclass
class World:
    app: Application
    package_id: str
    home: Path
    second_url: str

    def copy(self, location: str, version: int) -> Copy | None:
        with self.app.uow() as uow:
            loc = uow.locations.get_by_name(location)
            found = uow.copies.get(self.package_id, loc.id, version)
            if found is not None:
                uow.session.expunge(found)
            return found

    def replication_events(self, location: str, version: int) -> list[Event]:
        with self.app.uow() as uow:
            loc = uow.locations.get_by_name(location)
            rows = uow.session.scalars(
                sa.select(Event)
                .join(Copy, Copy.id == Event.copy_id)
                .where(
                    Event.package_id == self.package_id,
                    Event.event_type == premis.REPLICATION,
                    Copy.location_id == loc.id,
                    Copy.version == version,
                )
            ).all()
            for r in rows:
                uow.session.expunge(r)
            return list(rows)

    def copy_rows(self, location: str) -> int:
        with self.app.uow() as uow:
            loc = uow.locations.get_by_name(location)
            return (
                uow.session.scalar(
                    sa.select(sa.func.count())
                    .select_from(Copy)
                    .where(Copy.package_id == self.package_id, Copy.location_id == loc.id)
                )
                or 0
            )

    def objects(self, version: int) -> list[str]:
        """The keys of what version ``version``'s folder holds (relative to a location)."""
        with self.app.uow() as uow:
            copy = uow.copies.for_package(self.package_id, version)[0]
            rows = uow.session.scalars(
                sa.select(File).where(
                    File.package_id == self.package_id,
                    File.version == version,
                    File.stored_version == version,
                )
            ).all()
            return sorted(copy.key_prefix + (f.stored_path or f.path) for f in rows)


def _settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings.from_env(
        {
            "PRESERVE_HOME": str(tmp_path / "home"),
            "PRESERVE_DATABASE_URL": database_url,
            "PRESERVE_STORAGE_RETRIES": "2",
            "PRESERVE_STORAGE_BACKOFF": "0.01",
            "PRESERVE_WORKERS": "2",
        }
    )


@pytest.fixture
def world(tmp_path: Path, database_url: str, storage_url: str) -> Iterator[World]:
    """Collection 'photos' on 'default' (local) with one package of two versions; location
    'second' (local or S3) registered but not yet required."""
    app = bootstrap(_settings(tmp_path, database_url), actor="archivist")
    admin.initialise(app)
    admin.add_location(app, "second", storage_url)
    admin.add_collection(app, "photos", locations=("default",))
    delivery = tmp_path / "delivery"
    delivery.mkdir()
    (delivery / "a.bin").write_bytes(os.urandom(300_000))
    (delivery / "b.txt").write_text("bee\n")
    (delivery / "c.bin").write_bytes(os.urandom(70_000))
    report = ingest(app, [delivery], collection="photos")
    package_id = report.results[0].package_id
    (delivery / "d.txt").write_text("a file of version 2\n")
    again = ingest(app, [delivery], collection="photos", new_version_of=package_id)
    assert not again.failures, again.failures
    yield World(app, package_id, tmp_path / "home", storage_url)
    app.close()


def _require_second(w: World) -> admin.CollectionEdit:
    return admin.edit_collection(w.app, "photos", add_locations=("second",))


def test_a_location_added_gets_every_version_verified(world: World) -> None:
    w = world
    assert replication.shortfalls(w.app) == []  # 'second' is not required yet
    edit = _require_second(w)
    # one replicate job per version, recorded with the change
    assert sorted((q[2], q[3]) for q in edit.queued) == [(1, "second"), (2, "second")]
    with w.app.uow() as uow:
        queued = uow.session.scalars(sa.select(Job).where(Job.kind == "replicate")).all()
        assert sorted(j.payload["version"] for j in queued) == [1, 2]
        assert {j.requested_by for j in queued} == {"archivist"}
    gaps = replication.shortfalls(w.app)
    assert [(s.version, s.location, s.status) for s in gaps] == [
        (1, "second", "none"),
        (2, "second", "none"),
    ]
    assert replication.shortfalls(w.app, location="default") == []
    results = [replication.replicate(w.app, w.package_id, v, "second", now=NOW) for v in (1, 2)]
    assert all(not r.already and r.sources == ("default",) for r in results)
    # version 2 holds only its own file and its tag files: the rest is in v1 (fetch.txt)
    assert results[1].files == len(w.objects(2)) and results[0].files == len(w.objects(1))
    assert not any("/v2/data/a.bin" in k for k in w.objects(2))
    storage = w.app.storage(w.second_url)
    for version in (1, 2):
        assert sorted(k for k in storage.iter_keys() if f"/v{version}/" in k) == w.objects(version)
        copy = w.copy("second", version)
        assert copy is not None and copy.status == "verified"
        assert copy.next_check_at is None  # scheduled fixity checks it first
        assert copy.size_bytes == results[version - 1].size_bytes > 0
        events = w.replication_events("second", version)
        assert len(events) == 1 and events[0].outcome == "success"
        with w.app.uow() as uow:
            names = dict(
                uow.session.execute(
                    sa.select(EventAgent.role, Agent.name)
                    .join(Agent, Agent.id == EventAgent.agent_id)
                    .where(EventAgent.event_id == events[0].id)
                ).all()
            )
        assert names.get("implementer") == "archivist"
    assert replication.shortfalls(w.app) == []
    # the event files journal: the replication events are on storage, on both locations
    with w.app.uow() as uow:
        unstored = uow.session.scalar(
            sa.select(sa.func.count())
            .select_from(Event)
            .where(Event.package_id == w.package_id, Event.stored_in.is_(None))
        )
    assert unstored == 0
    assert any("/events/" in k for k in storage.iter_keys())
    report = check_fixity(w.app, package_id=w.package_id)
    assert report.ok, [(c.location, c.outcome, c.problems) for c in report.checks]
    assert sorted((c.location, c.version) for c in report.checks) == [
        ("default", 1),
        ("default", 2),
        ("second", 1),
        ("second", 2),
    ]
    # run again: nothing to do, nothing recorded twice
    again = replication.replicate(w.app, w.package_id, 2, "second")
    assert again.already and again.copied == 0
    assert len(w.replication_events("second", 2)) == 1 and w.copy_rows("second") == 2


@pytest.mark.parametrize("how", ["row deleted", "status missing"])
def test_a_lost_copy_is_made_again_from_the_other_location(world: World, how: str) -> None:
    """Copies on 'default' lost (bytes gone; the row deleted, or marked missing by fixity):
    made again from 'second' (S3 -> local when 'second' is S3)."""
    w = world
    _require_second(w)
    for v in (1, 2):
        replication.replicate(w.app, w.package_id, v, "second")
    default_url = w.app.settings.storage_url
    w.app.storage(default_url).delete_prefix(w.objects(1)[0].split("/v1/")[0] + "/")
    with w.app.uow() as uow:
        loc = uow.locations.get_by_name("default")
        for copy in uow.copies.for_package(w.package_id):
            if copy.location_id == loc.id:
                if how == "row deleted":
                    uow.session.delete(copy)
                else:
                    copy.status = "missing"
        uow.commit()
    gaps = replication.shortfalls(w.app, collection="photos")
    expected = "none" if how == "row deleted" else "missing"
    assert [(s.version, s.location, s.status) for s in gaps] == [
        (1, "default", expected),
        (2, "default", expected),
    ]
    for v in (1, 2):
        r = replication.replicate(w.app, w.package_id, v, "default")
        assert r.sources == ("second",) and r.copied == r.files
    assert replication.shortfalls(w.app) == []
    assert w.copy_rows("default") == 2
    events = w.replication_events("default", 1)
    # the ingest's event keeps the copy when the row survived; a new one names the new copy
    assert len([e for e in events if "replicated to location default" in e.detail]) == 1
    report = check_fixity(w.app, package_id=w.package_id)
    assert report.ok, [(c.location, c.outcome, c.problems) for c in report.checks]


def test_a_damaged_source_is_not_used(world: World, tmp_path: Path) -> None:
    """'default' (tried first) holds a flipped byte in a.bin: the file comes from 'second';
    an alert says the source is damaged. With no good copy left the job fails clearly."""
    w = world
    _require_second(w)
    replication.replicate(w.app, w.package_id, 1, "second")
    third = tmp_path / "third"
    third.mkdir()
    admin.add_location(w.app, "third", third.as_uri())
    admin.edit_collection(w.app, "photos", add_locations=("third",))
    key = next(k for k in w.objects(1) if k.endswith("data/a.bin"))

    def flip(data: bytes) -> bytes:
        return data[:1000] + bytes([data[1000] ^ 1]) + data[1001:]

    corrupt_object(w.app.settings.storage_url, key, flip)
    r = replication.replicate(w.app, w.package_id, 1, "third")
    assert set(r.sources) == {"default", "second"}  # the good files of each
    with open(third / key, "rb") as f, w.app.storage(w.second_url).open(key) as good:
        assert f.read() == good.read()
    with w.app.uow() as uow:
        alerts = uow.session.scalars(sa.select(Alert).where(Alert.kind == "replication")).all()
        assert len(alerts) == 1 and "a.bin" in alerts[0].body
    # now only 'default' (damaged) can give version 1 to a fourth location
    fourth = tmp_path / "fourth"
    fourth.mkdir()
    admin.add_location(w.app, "fourth", fourth.as_uri())
    corrupt_object(w.second_url, key, flip)
    corrupt_object(third.as_uri(), key, flip)
    with pytest.raises(replication.NoGoodSource, match=r"data/a\.bin.*catalogue") as caught:
        replication.replicate(w.app, w.package_id, 1, "fourth")
    assert "preserve fixity" in str(caught.value)
    copy = w.copy("fourth", 1)
    assert copy is not None and copy.status == "pending"  # never verified
    assert w.replication_events("fourth", 1) == []


class Killed(Exception):
    pass


class KillAfter:
    """A progress that stops the run after ``n`` objects, as a SIGKILL would."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.done = 0

    def begin(self, label: str, files: int, nbytes: int, stage: object = None) -> None:
        pass

    def advance(self, files: int, nbytes: int) -> None:
        self.done += files
        if self.done >= self.n:
            raise Killed

    def end(self) -> None:
        pass


def test_killed_mid_way_and_run_again_ends_with_one_copy_and_one_event(world: World) -> None:
    w = world
    _require_second(w)
    total = len(w.objects(1))
    with pytest.raises(Killed):
        replication.replicate(w.app, w.package_id, 1, "second", progress=KillAfter(3))
    copy = w.copy("second", 1)
    assert copy is not None and copy.status == "pending"
    assert w.replication_events("second", 1) == []
    with pytest.raises(Killed):  # killed again, later
        replication.replicate(w.app, w.package_id, 1, "second", progress=KillAfter(6))
    r = replication.replicate(w.app, w.package_id, 1, "second")
    assert r.copied == total - 6, r  # 3 objects put by the first run, 3 more by the second
    assert w.copy_rows("second") == 1
    assert len(w.replication_events("second", 1)) == 1
    assert w.copy("second", 1).status == "verified"  # type: ignore[union-attr]
    assert replication.replicate(w.app, w.package_id, 1, "second").already


def _no_one_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials for an S3 endpoint nothing listens on (the local variants have none)."""
    for name, value in (("AWS_ACCESS_KEY_ID", "x"), ("AWS_SECRET_ACCESS_KEY", "x")):
        monkeypatch.setenv(name, os.environ.get(name, value))


def test_an_unreachable_source_is_a_retryable_error(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = world
    _no_one_listens(monkeypatch)
    with w.app.uow() as uow:  # 'default' moved to an endpoint nothing listens on
        loc = uow.locations.get_by_name("default")
        loc.url = "s3://gone/prefix?endpoint_url=http://127.0.0.1:9&addressing_style=path"
        uow.commit()
    _require_second(w)
    with pytest.raises(StorageUnavailable, match="no verified copy answers"):
        replication.replicate(w.app, w.package_id, 1, "second")
    assert StorageUnavailable in jobs.RETRYABLE
    assert w.replication_events("second", 1) == []


def test_bad_input(world: World) -> None:
    w = world
    with pytest.raises(NotFound, match="did you mean 'second'"):
        replication.replicate(w.app, w.package_id, 1, "secnd")
    with pytest.raises(NotFound, match="no package"):
        replication.replicate(w.app, "not-a-package", 1, "second")
    with pytest.raises(InvalidInput, match="version 9 does not exist"):
        replication.replicate(w.app, w.package_id, 9, "second")
    with pytest.raises(NotFound, match="did you mean 'photos'"):
        replication.shortfalls(w.app, collection="foto")
    with pytest.raises(NotFound, match="did you mean 'second'"):
        replication.shortfalls(w.app, location="secnd")
    with pytest.raises(NotFound, match="did you mean 'default'"):
        replication.shortfalls(w.app, organisation="defualt")
    _require_second(w)
    assert len(replication.shortfalls(w.app, organisation="default")) == 2
    admin.add_organisation(w.app, "other", name="Other")
    assert replication.shortfalls(w.app, organisation="other") == []


class FakeWork:
    """The runner's Work for a handler called directly: progress recorded, never stopped."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.files = 0

    def begin(self, label: str, files: int, nbytes: int, stage: object = None) -> None:
        pass

    def advance(self, files: int, nbytes: int) -> None:
        self.files += files

    def end(self) -> None:
        pass

    def check(self) -> None:
        pass


def test_the_job_handlers_run_twice_change_nothing_more(world: World) -> None:
    w = world
    edit = _require_second(w)
    # a sync job while the replicate jobs are queued: it queues nothing more
    with w.app.uow() as uow:
        sync = jobs.enqueue(uow, "sync", {}, requested_by="archivist")
        uow.commit()
    result = jobs.HANDLERS["sync"](w.app, sync, FakeWork(sync.id))
    assert result["queued"] == [] and sorted(result["already_queued"]) == sorted(
        q[0] for q in edit.queued
    )
    for job_id, *_ in edit.queued:
        job = jobs.show(w.app, job_id)
        first = jobs.HANDLERS["replicate"](w.app, job, FakeWork(job.id))
        second = jobs.HANDLERS["replicate"](w.app, job, FakeWork(job.id))  # a redelivery
        assert not first["already"] and second["already"]
    for v in (1, 2):
        assert len(w.replication_events("second", v)) == 1
    assert w.copy_rows("second") == 2
    # once those jobs ended and a copy is lost again, sync queues a new job for it
    with w.app.uow() as uow:
        uow.session.execute(sa.update(Job).values(state="succeeded"))
        loc = uow.locations.get_by_name("second")
        uow.copies.get(w.package_id, loc.id, 1).status = "missing"
        uow.commit()
    queued = replication.queue_sync(w.app, publish=lambda _id: None)
    assert [(q.version, q.new) for q in queued] == [(1, True)]
    assert queued[0].job_id not in {q[0] for q in edit.queued}


def test_retiring(world: World, tmp_path: Path) -> None:
    w = world
    with pytest.raises(InvalidInput, match="only location of collection default/photos"):
        replication.retire_location(w.app, "default")
    with pytest.raises(NotFound, match="did you mean 'second'"):
        replication.retire_location(w.app, "secnd")
    _require_second(w)
    # 'default' cannot go: 'second' lacks version 1, and version 1's only copy is damaged
    key = next(k for k in w.objects(1) if k.endswith("data/b.txt"))
    corrupt_object(w.app.settings.storage_url, key, lambda data: b"wasp\n")
    with pytest.raises(replication.RetireRefused, match=r"not retired.*v1 to second"):
        replication.retire_location(w.app, "default")
    with w.app.uow() as uow:
        assert uow.locations.get_by_name("default").retired_at is None
    assert w.copy("second", 2).status == "verified"  # type: ignore[union-attr]
    assert w.copy("second", 1).status == "pending"  # type: ignore[union-attr]
    corrupt_object(w.app.settings.storage_url, key, lambda data: b"bee\n")  # repaired
    done = replication.retire_location(w.app, "default", now=NOW)
    # version 2 was replicated by the refused attempt already; only version 1 was left
    assert [r.version for r in done.replicated] == [1]
    assert done.copies_kept == 2
    # the bytes stay; nothing is required there; nothing new goes there
    assert w.app.storage(w.app.settings.storage_url).exists(w.objects(1)[0])
    with w.app.uow() as uow:
        loc = uow.locations.get_by_name("default")
        assert loc.retired_at == NOW and not loc.is_default
        coll = uow.collections.get("default", "photos")
        assert [x.name for x in admin.collection_locations(uow, coll)] == ["second"]
    assert replication.shortfalls(w.app) == []
    [summary] = [x for x in admin.list_locations(w.app) if x.name == "default"]
    assert summary.retired_at == NOW
    with pytest.raises(InvalidInput, match="retired already"):
        replication.retire_location(w.app, "default")
    with pytest.raises(InvalidInput, match="is retired"):
        admin.edit_collection(w.app, "photos", add_locations=("default",))
    with pytest.raises(InvalidInput, match="is retired"):
        replication.replicate(w.app, w.package_id, 1, "default")
    delivery = tmp_path / "later"
    delivery.mkdir()
    (delivery / "e.txt").write_text("after the retirement\n")
    later = ingest(w.app, [delivery], collection="photos").results[0]
    assert later.copies == ("second",)


def test_what_a_killed_replication_left_in_staging_is_removed(world: World) -> None:
    """A replication killed while a file waited in the staging area left its folder there: the
    next replication on this host removes it, and never the folder of a live one."""
    import socket

    w = world
    _require_second(w)
    staging = w.app.settings.staging_dir
    host = socket.gethostname()
    dead = staging / f"replicate-{host}-{2**22 + 7}-1000-abcd"  # no such process
    alive = staging / f"replicate-{host}-{os.getpid()}-0-efgh"  # this very process
    for folder in (dead, alive):
        folder.mkdir(parents=True)
        (folder / "0").write_bytes(b"half a file")
    replication.replicate(w.app, w.package_id, 1, "second")
    assert not dead.exists() and alive.exists()
    assert not [p for p in staging.iterdir() if p.name.startswith("replicate-") and p != alive]


def test_killed_after_recording_the_copy_its_event_reaches_storage_on_the_next_run(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy recorded, then killed before its event was written to the event files: the
    run again finds the copy verified, records nothing more, and writes the event."""
    from preserve.services import journal

    w = world
    _require_second(w)

    def killed(*_a: object, **_k: object) -> None:
        raise Killed

    with monkeypatch.context() as patched:
        patched.setattr(journal, "flush_events", killed)
        with pytest.raises(Killed):
            replication.replicate(w.app, w.package_id, 1, "second")
    [event] = w.replication_events("second", 1)
    assert event.stored_in is None
    assert replication.replicate(w.app, w.package_id, 1, "second").already
    [event] = w.replication_events("second", 1)
    assert event.stored_in is not None and event.stored_in.startswith("events/")


def test_replicate_jobs_run_by_the_runner(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The jobs `collections edit --add-location` queued, run as a worker runs them: they
    succeed with their result; a job whose package has no good copy left fails for good with
    a clear error, one whose sources do not answer is queued again."""
    from preserve.services import runner

    w = world
    edit = _require_second(w)
    for job_id, *_ in edit.queued:
        assert runner.run_job(w.app, job_id, "worker-1") == "succeeded"
        done = jobs.show(w.app, job_id)
        assert done.result is not None and done.result["location"] == "second"
        assert done.result["copied"] == done.result["files"] > 0
        assert runner.run_job(w.app, job_id, "worker-2") == "skipped"  # a duplicate message
    assert replication.shortfalls(w.app) == []
    # both copies of version 1 lose a.bin's bytes; 'third' is added: its job cannot succeed
    key = next(k for k in w.objects(1) if k.endswith("data/a.bin"))
    corrupt_object(w.app.settings.storage_url, key, lambda data: data[:-1])
    corrupt_object(w.second_url, key, lambda data: data[:-1])
    third = w.home.parent / "third"
    third.mkdir()
    admin.add_location(w.app, "third", third.as_uri())
    queued = admin.edit_collection(w.app, "photos", add_locations=("third",)).queued
    by_version = {version: job_id for job_id, _p, version, _l in queued}
    assert runner.run_job(w.app, by_version[1], "worker-1") == "failed"
    failed = jobs.show(w.app, by_version[1])
    assert failed.state == "failed" and "data/a.bin" in (failed.error or "")
    assert "no verified copy gives" in (failed.error or "")
    assert runner.run_job(w.app, by_version[2], "worker-1") == "succeeded"
    # the sources stop answering: a new attempt later
    _no_one_listens(monkeypatch)
    with w.app.uow() as uow:
        for name in ("default", "second"):
            loc = uow.locations.get_by_name(name)
            loc.url = f"s3://gone-{name}/p?endpoint_url=http://127.0.0.1:9&addressing_style=path"
        uow.commit()
    jobs.retry(w.app, by_version[1])
    assert runner.run_job(w.app, by_version[1], "worker-1") == "retrying"
    again = jobs.show(w.app, by_version[1])
    assert again.state == "queued" and "no verified copy answers" in (again.error or "")


def test_two_replications_of_one_copy_at_once_record_it_once(world: World) -> None:
    """Two workers given the same copy (two jobs, a redelivery) run at the same time, each
    with its own sessions: one copy row, one replication event."""
    import threading

    w = world
    _require_second(w)
    results: list[object] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run() -> None:
        try:
            start.wait()
            results.append(replication.replicate(w.app, w.package_id, 1, "second"))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(results) == 2
    assert w.copy_rows("second") == 1
    assert len(w.replication_events("second", 1)) == 1
    assert w.copy("second", 1).status == "verified"  # type: ignore[union-attr]
    report = check_fixity(w.app, package_id=w.package_id, location="second")
    assert report.ok, [(c.location, c.outcome, c.problems) for c in report.checks]


def test_a_damaged_copy_is_repaired_never_replicated_over(world: World) -> None:
    """Fixity finds a flipped byte in the copy on 'second': replication refuses to write over
    it (the damaged bytes are evidence); sync queues a repair job for it, and in the
    foreground it is repaired, the damaged object set aside. An object with other bytes under
    a copy marked missing is not overwritten either."""
    w = world
    _require_second(w)
    for v in (1, 2):
        replication.replicate(w.app, w.package_id, v, "second")
    key = next(k for k in w.objects(1) if k.endswith("data/c.bin"))

    def flip(data: bytes) -> bytes:
        return bytes([data[0] ^ 0x80]) + data[1:]

    corrupt_object(w.second_url, key, flip)
    report = check_fixity(w.app, package_id=w.package_id, location="second")
    assert not report.ok
    status = w.copy("second", 1).status  # type: ignore[union-attr]
    assert status in replication.DAMAGED
    [gap] = replication.shortfalls(w.app)
    assert (gap.version, gap.location, gap.status) == (1, "second", status)
    with pytest.raises(replication.DamagedCopy, match="repaired, not replicated over"):
        replication.replicate(w.app, w.package_id, 1, "second")
    assert w.copy("second", 1).status == status  # type: ignore[union-attr]
    [queued] = replication.queue_sync(w.app, publish=lambda _id: None)
    job = jobs.show(w.app, queued.job_id)
    assert (job.kind, job.payload) == ("repair", {"copy_id": gap.copy_id})
    repaired = replication.fix(w.app, gap)
    assert repaired.repaired and repaired.files_repaired == 1
    assert [q[0] for q in repaired.quarantined] == ["data/c.bin"]
    assert replication.shortfalls(w.app) == []
    # a copy marked missing whose folder holds an object with other bytes: refused, kept
    corrupt_object(w.second_url, key, flip)
    with w.app.uow() as uow:
        loc = uow.locations.get_by_name("second")
        uow.copies.get(w.package_id, loc.id, 1).status = "missing"
        uow.commit()
    with pytest.raises(replication.DamagedCopy, match="never overwrites"):
        replication.replicate(w.app, w.package_id, 1, "second")
    with (
        w.app.storage(w.second_url).open(key) as stream,
        w.app.storage(w.app.settings.storage_url).open(key) as good,
    ):
        assert stream.read() == flip(good.read())
    assert len(w.replication_events("second", 1)) == 1  # the first replication's only
