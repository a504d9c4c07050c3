"""Self-repair against real storage (issue 10, point 7): damage done behind the backend's back on
a local folder and on the S3 endpoint (flip one byte, truncate, delete, replace with another
object's bytes, swap two objects, damage a tag file) is detected, set aside in quarantine,
repaired from the other copy, re-verified, and the PREMIS events tell the story; on SQLite and
PostgreSQL."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from preserve.config.settings import Settings

from preserve.bootstrap import Application, bootstrap
from preserve.catalogue.models import Alert, Copy, Event, Package, QuarantinedObject
from preserve.errors import FixityMismatch
from preserve.services import jobs, runner
from preserve.services.export import export_package
from preserve.services.repair import QUARANTINE_PREFIX, repair_copy
from preserve.storage import Storage
from tests.functional.cli import Repo, two_location_package
from tests.s3server import corrupt_object


@dataclass
class Stored:
    repo: Repo
    app: Application
    package_id: str
    delivery: Path
    #: location name -> (copy id, url, key prefix)
    copies: dict[str, tuple[int, str, str]]

    def storage(self, location: str) -> Storage:
        return self.app.storage(self.copies[location][1])

    def key(self, location: str, path: str) -> str:
        return self.copies[location][2] + path

    def read(self, location: str, key: str) -> bytes:
        with self.storage(location).open(key) as f:
            return f.read()

    def damage(
        self, location: str, path: str, mutate: Callable[[bytes], bytes | None]
    ) -> bytes | None:
        """Damage the object behind the backend's back; what it now holds."""
        _id, url, prefix = self.copies[location]
        corrupt_object(url, prefix + path, mutate)
        try:
            return self.read(location, prefix + path)
        except Exception:
            return None

    def rows(self, model: Any, **where: Any) -> list[Any]:
        with self.app.uow() as uow:
            stmt = sa.select(model).filter_by(**where).order_by(model.id)
            found = list(uow.session.scalars(stmt))
            uow.session.expunge_all()
            return found


@pytest.fixture
def stored(tmp_path: Path, database_url: str, storage_url: str) -> Iterator[Stored]:
    """A package of two random files and a note on the default local location and on a second
    location (local or S3: the one damaged and repaired in these tests)."""
    repo = Repo(home=tmp_path / "home", database_url=database_url)
    delivery = tmp_path / "delivery"
    package_id = two_location_package(repo, delivery, storage_url)["package_id"]
    app = bootstrap(Settings.from_env(repo.env), actor="tester")
    with app.uow() as uow:
        copies = {
            c.location.name: (c.id, c.location.url, c.key_prefix)
            for c in uow.copies.for_package(package_id)
        }
    yield Stored(repo, app, package_id, delivery, copies)
    app.close()


def _flip(data: bytes) -> bytes:
    return data[:100] + bytes([data[100] ^ 0x01]) + data[101:]


def _story(s: Stored, event_ids: list[str]) -> list[tuple[str, str]]:
    """The events, as recorded in the catalogue, in the order they occurred."""
    with s.app.uow() as uow:
        rows = uow.session.execute(
            sa.select(Event.event_type, Event.outcome)
            .where(Event.id.in_(event_ids))
            .order_by(Event.occurred_at, Event.id)
        ).all()
    return [(t, o) for t, o in rows]


DAMAGES: dict[str, tuple[list[str], Callable[[Stored], None]]] = {}


def _damage(name: str, paths: list[str]) -> Callable[..., Any]:
    def register(fn: Callable[[Stored], None]) -> Callable[[Stored], None]:
        DAMAGES[name] = (paths, fn)
        return fn

    return register


@_damage("flip-one-byte", ["data/a.bin"])
def _flip_a(s: Stored) -> None:
    s.damage("second", "data/a.bin", _flip)


@_damage("truncate", ["data/a.bin"])
def _truncate_a(s: Stored) -> None:
    s.damage("second", "data/a.bin", lambda d: d[: len(d) // 3])


@_damage("delete", ["data/a.bin"])
def _delete_a(s: Stored) -> None:
    s.damage("second", "data/a.bin", lambda d: None)


@_damage("replace-with-another-object", ["data/a.bin"])
def _replace_a(s: Stored) -> None:
    other = s.read("second", s.key("second", "data/b.bin"))
    s.damage("second", "data/a.bin", lambda d: other)


@_damage("swap-two-objects", ["data/a.bin", "data/b.bin"])
def _swap(s: Stored) -> None:
    a = s.read("second", s.key("second", "data/a.bin"))
    b = s.read("second", s.key("second", "data/b.bin"))
    s.damage("second", "data/a.bin", lambda d: b)
    s.damage("second", "data/b.bin", lambda d: a)


@_damage("tag-file", ["bag-info.txt"])
def _tag(s: Stored) -> None:
    s.damage("second", "bag-info.txt", lambda d: d + b"Extra: rot\n")


@pytest.mark.parametrize("kind", list(DAMAGES))
def test_damage_is_detected_quarantined_repaired_and_told(stored: Stored, kind: str) -> None:
    s = stored
    paths, damage = DAMAGES[kind]
    good = {p: s.read("default", s.key("default", p)) for p in paths}
    copy_id = s.copies["second"][0]
    before = {p: _held(s, p) for p in paths}
    damage(s)
    damaged = {p: _held(s, p) for p in paths}
    assert damaged != before

    result = repair_copy(s.app, copy_id)

    assert result.repaired and result.outcome_before in ("mismatch", "missing")
    assert result.outcome_after == "ok"
    assert result.files_repaired == len(paths)
    assert result.unrepairable == []
    # the story: the check that found it, each file set aside and restored, the check that
    # found the copy whole again
    story = [("fixity check", "failure")]
    for _ in paths:
        story += [("quarantine", "success"), ("recovery", "success")]
    story += [("fixity check", "success")]
    assert [(e.event_type, e.outcome) for e in result.events] == story
    assert _story(s, [e.id for e in result.events]) == story
    assert sorted(e.path for e in result.events if e.event_type == "recovery") == sorted(paths)
    # every event has the implementer and the owner, and reached the event-file journal
    with s.app.uow() as uow:
        for e in result.events:
            event = uow.session.get(Event, e.id)
            assert event is not None and event.copy_id == copy_id
            assert event.stored_in is not None and event.stored_in.startswith("events/")
        linked = uow.events.linked_agents(s.package_id)
        assert all(
            {(a.name, role) for a, role in linked[e.id]} >= {("tester", "implementer")}
            for e in result.events
            if e.event_type != "fixity check"
        )
    # the good bytes are back; the damaged ones are kept aside, on the same location
    for p in paths:
        assert s.read("second", s.key("second", p)) == good[p]
    rows = s.rows(QuarantinedObject, copy_id=copy_id)
    assert sorted(r.path for r in rows) == sorted(paths)
    for r in rows:
        assert r.restored_at is not None and r.original_key == s.key("second", r.path)
        if damaged[r.path] is None:
            assert (r.reason, r.quarantine_key, r.size) == ("missing", "", None)
        else:
            assert r.reason == "mismatch"
            assert r.quarantine_key.startswith(QUARANTINE_PREFIX + r.original_key + "/")
            assert s.read("second", r.quarantine_key) == damaged[r.path]
            assert r.sha256 == hashlib.sha256(damaged[r.path] or b"").hexdigest()
    (copy,) = s.rows(Copy, id=copy_id)
    assert (copy.status, copy.last_outcome) == ("verified", "ok")
    alerts = s.rows(Alert, package_id=s.package_id)
    assert [a.kind for a in alerts] == ["fixity_failure", "repaired"]
    assert all(p in alerts[0].body and p in alerts[1].body for p in paths)
    # a later check agrees, and a later repair finds nothing to do
    again = repair_copy(s.app, copy_id)
    assert again.nothing_to_do and again.repaired
    assert [e.event_type for e in again.events] == ["fixity check"]
    assert len(s.rows(QuarantinedObject, copy_id=copy_id)) == len(paths)


def _held(s: Stored, path: str) -> bytes | None:
    try:
        return s.read("second", s.key("second", path))
    except Exception:
        return None


def test_two_copies_damaged_in_different_files_are_both_made_whole(stored: Stored) -> None:
    s = stored
    a = s.read("default", s.key("default", "data/a.bin"))
    b = s.read("second", s.key("second", "data/b.bin"))
    s.damage("default", "data/a.bin", _flip)
    s.damage("second", "data/b.bin", lambda d: d[:10])

    first = repair_copy(s.app, s.copies["default"][0])
    second = repair_copy(s.app, s.copies["second"][0])

    assert first.repaired and second.repaired
    assert [e.path for e in first.events if e.event_type == "recovery"] == ["data/a.bin"]
    assert [e.path for e in second.events if e.event_type == "recovery"] == ["data/b.bin"]
    for location in ("default", "second"):
        assert s.read(location, s.key(location, "data/a.bin")) == a
        assert s.read(location, s.key(location, "data/b.bin")) == b
    assert {c.status for c in s.rows(Copy, package_id=s.package_id)} == {"verified"}
    (package,) = s.rows(Package, id=s.package_id)
    assert package.damaged_at is None and package.damage is None


def test_no_good_copy_marks_the_package_damaged_and_names_the_file(stored: Stored) -> None:
    s = stored
    s.damage("default", "data/a.bin", _flip)
    held = s.damage("second", "data/a.bin", lambda d: d[:1000])
    copy_id = s.copies["second"][0]

    result = repair_copy(s.app, copy_id)

    assert not result.repaired and result.files_repaired == 0
    assert result.unrepairable == [("data/a.bin", "no good copy on any location")]
    assert result.damaged == ("data/a.bin",)
    # nothing better to put in its place: the damaged object stays where it is
    assert s.read("second", s.key("second", "data/a.bin")) == held
    assert s.rows(QuarantinedObject, copy_id=copy_id) == []
    (package,) = s.rows(Package, id=s.package_id)
    assert package.damaged_at is not None
    assert package.damage == [
        {"version": 1, "path": "data/a.bin", "reason": "no good copy on any location"}
    ]
    (alert,) = s.rows(Alert, kind="damaged")
    assert "data/a.bin" in alert.subject and alert.package_id == s.package_id
    assert alert.severity == "critical"
    (copy,) = s.rows(Copy, id=copy_id)
    assert copy.status == "quarantined"
    assert [(e.event_type, e.outcome) for e in result.events] == [
        ("fixity check", "failure"),
        ("fixity check", "failure"),
    ]
    # found again: no second alert, the same mark
    repair_copy(s.app, copy_id)
    assert len(s.rows(Alert, kind="damaged")) == 1
    (package,) = s.rows(Package, id=s.package_id)
    assert len(package.damage) == 1

    # export refuses, naming the file
    with pytest.raises(FixityMismatch, match=r"data/a\.bin has no good copy on any location"):
        export_package(s.app, s.package_id, s.delivery.parent / "out")
    assert not (s.delivery.parent / "out").exists()

    # the good bytes come back (from the producer, say): the mark goes
    original = (s.delivery / "a.bin").read_bytes()
    s.damage("default", "data/a.bin", lambda d: original)
    assert repair_copy(s.app, copy_id).repaired
    (package,) = s.rows(Package, id=s.package_id)
    assert package.damaged_at is None and package.damage is None


def test_a_repair_stopped_midway_and_run_again_ends_with_one_set_of_events(
    stored: Stored,
) -> None:
    """Stopped after the first of two files (a job's lease lost: its progress raises), then
    run again: each file quarantined once, one quarantine and one recovery event each."""
    s = stored
    a = s.read("second", s.key("second", "data/a.bin"))
    b = s.read("second", s.key("second", "data/b.bin"))
    s.damage("second", "data/a.bin", lambda d: b)
    s.damage("second", "data/b.bin", lambda d: a)
    copy_id = s.copies["second"][0]

    class Stop(Exception):
        pass

    class StopAfterOne:
        def begin(self, label: str, files: int, nbytes: int, stage: Any = None) -> None:
            self.repairing = label.startswith("repairing")

        def advance(self, files: int, nbytes: int) -> None:
            if self.repairing:
                raise Stop

        def end(self) -> None:
            pass

    with pytest.raises(Stop):
        repair_copy(s.app, copy_id, progress=StopAfterOne())
    (copy,) = s.rows(Copy, id=copy_id)
    assert copy.status == "quarantined"  # damaged still

    result = repair_copy(s.app, copy_id)
    assert result.repaired
    with s.app.uow() as uow:
        types = [
            e.event_type
            for e in uow.events.for_package(s.package_id)
            if e.copy_id == copy_id and e.event_type in ("quarantine", "recovery")
        ]
    assert sorted(types) == ["quarantine", "quarantine", "recovery", "recovery"]
    rows = s.rows(QuarantinedObject, copy_id=copy_id)
    assert sorted(r.path for r in rows) == ["data/a.bin", "data/b.bin"]
    assert s.read("second", s.key("second", "data/a.bin")) == a
    assert s.read("second", s.key("second", "data/b.bin")) == b


def test_an_object_set_aside_by_a_killed_run_is_recorded_once(stored: Stored) -> None:
    """Killed after moving the damaged object aside, before recording it: the next run finds
    it under the quarantine folder and records it, instead of calling the file missing."""
    s = stored
    damaged = s.damage("second", "data/a.bin", _flip)
    assert damaged is not None
    key = s.key("second", "data/a.bin")
    digest = hashlib.sha256(damaged).hexdigest()
    s.storage("second").move(key, f"{QUARANTINE_PREFIX}{key}/{digest}", sha256=digest)

    result = repair_copy(s.app, s.copies["second"][0])

    assert result.repaired
    (row,) = s.rows(QuarantinedObject, copy_id=s.copies["second"][0])
    assert (row.reason, row.quarantine_key, row.sha256) == (
        "mismatch",
        f"{QUARANTINE_PREFIX}{key}/{digest}",
        digest,
    )
    assert s.read("second", row.quarantine_key) == damaged


def test_an_unknown_object_in_the_copy_is_set_aside(stored: Stored) -> None:
    s = stored
    key = s.key("second", "data/stray.txt")
    s.storage("second").put_bytes(key, b"not ours")

    result = repair_copy(s.app, s.copies["second"][0])

    assert result.repaired and result.files_repaired == 0
    assert [(e.event_type, e.path) for e in result.events[1:-1]] == [
        ("quarantine", "data/stray.txt")
    ]
    (row,) = s.rows(QuarantinedObject, copy_id=s.copies["second"][0])
    assert (row.reason, row.path) == ("foreign", "data/stray.txt")
    assert not s.storage("second").exists(key)
    assert s.read("second", row.quarantine_key) == b"not ours"


def _run(s: Stored, kind: str, payload: dict[str, Any]) -> tuple[str, jobs.JobRecord]:
    published: list[str] = []
    job = jobs.submit(s.app, kind, payload, publish=published.append)
    assert published == [job.id]
    outcome = runner.run_job(s.app, job.id, "test-worker")
    return outcome, jobs.show(s.app, job.id)


def test_the_repair_job_repairs_the_copy(stored: Stored) -> None:
    s = stored
    good = s.read("default", s.key("default", "data/a.bin"))
    s.damage("second", "data/a.bin", _flip)
    copy_id = s.copies["second"][0]

    outcome, job = _run(s, "repair", {"copy_id": copy_id})

    assert (outcome, job.state) == ("succeeded", "succeeded")
    assert job.result is not None and job.result["repaired"] is True
    assert job.result["files_repaired"] == 1
    assert [e["type"] for e in job.result["events"]] == [
        "fixity check",
        "quarantine",
        "recovery",
        "fixity check",
    ]
    # progress went through the job's work (each stage's beginning renews the lease with it)
    assert job.files_total is not None and job.files_total > 1
    assert s.read("second", s.key("second", "data/a.bin")) == good
    with s.app.uow() as uow:
        implementers = {
            a.name
            for e in job.result["events"]
            for a, role in uow.events.linked_agents(s.package_id)[e["id"]]
            if role == "implementer"
        }
    assert implementers == {"tester"}  # the application's actor


def test_the_verify_job_checks_now_and_repairs_when_damaged(stored: Stored) -> None:
    s = stored
    copy_id = s.copies["second"][0]
    outcome, job = _run(s, "verify", {"copy_id": copy_id})
    assert outcome == "succeeded" and job.result is not None
    assert (job.result["outcome"], job.result["repaired"]) == ("ok", False)
    assert s.rows(QuarantinedObject, copy_id=copy_id) == []

    s.damage("second", "data/note.txt", lambda d: b"")
    outcome, job = _run(s, "verify", {"copy_id": copy_id})
    assert outcome == "succeeded" and job.result is not None
    assert (job.result["outcome_before"], job.result["repaired"]) == ("mismatch", True)
    assert [e["type"] for e in job.result["events"]] == ["quarantine", "recovery", "fixity check"]
    (row,) = s.rows(QuarantinedObject, copy_id=copy_id)
    assert (row.path, row.size) == ("data/note.txt", 0)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "the job's payload names no copy (copy_id)"),
        ({"copy_id": "7"}, "the job's payload names no copy (copy_id)"),
        ({"copy_id": 999_999}, "copy 999999 does not exist"),
    ],
)
def test_a_repair_job_for_no_copy_fails_with_a_clear_error(
    stored: Stored, payload: dict[str, Any], message: str
) -> None:
    outcome, job = _run(stored, "repair", payload)
    assert (outcome, job.state) == ("failed", "failed")
    assert job.error is not None and message in job.error


def test_a_damaged_event_file_is_restored_from_another_location(stored: Stored) -> None:
    s = stored
    s.repo.run("fixity", "--package", s.package_id)  # its events go to an event file on both
    folder = s.copies["second"][2].rstrip("/").rsplit("/", 1)[0] + "/"
    key = list(s.storage("second").iter_keys(folder + "events/"))[-1]
    good = s.read("second", key)
    corrupt_object(s.copies["second"][1], key, _flip)
    path = key[len(folder) :]

    result = repair_copy(s.app, s.copies["second"][0])

    assert result.repaired
    assert [(e.event_type, e.path) for e in result.events[1:-1]] == [
        ("quarantine", path),
        ("recovery", path),
    ]
    assert s.read("second", key) == good
    (row,) = s.rows(QuarantinedObject, copy_id=s.copies["second"][0])
    assert (row.path, row.original_key, row.reason) == (path, key, "mismatch")
    assert s.read("second", row.quarantine_key) == _flip(good)


def test_the_same_bytes_elsewhere_in_the_package_are_a_source(
    tmp_path: Path, database_url: str
) -> None:
    """One location only, but the bag holds the damaged file's bytes twice: the other object,
    verified as it is read, repairs it."""
    repo = Repo(home=tmp_path / "home", database_url=database_url)
    repo.run("init")
    repo.run("collections", "add", "photos")
    delivery = tmp_path / "delivery"
    delivery.mkdir()
    same = b"the same bytes twice\n" * 5000
    (delivery / "scan.tif").write_bytes(same)
    (delivery / "scan-copy.tif").write_bytes(same)
    (delivery / "other.txt").write_text("other\n")
    package_id = repo.json("ingest", delivery, "--collection", "photos")["packages"][0][
        "package_id"
    ]
    app = bootstrap(Settings.from_env(repo.env), actor="tester")
    try:
        with app.uow() as uow:
            (copy,) = uow.copies.for_package(package_id)
            copy_id, url, prefix = copy.id, copy.location.url, copy.key_prefix
        corrupt_object(url, prefix + "data/scan.tif", lambda d: d[:-1] + b"?")

        result = repair_copy(app, copy_id)

        assert result.repaired and result.files_repaired == 1
        (recovery,) = [e for e in result.events if e.event_type == "recovery"]
        with app.uow() as uow:
            event = uow.session.get(Event, recovery.id)
            assert event is not None
            assert f"restored from {prefix}data/scan-copy.tif on location default" in event.detail
        with app.storage(url).open(prefix + "data/scan.tif") as f:
            assert f.read() == same
    finally:
        app.close()
