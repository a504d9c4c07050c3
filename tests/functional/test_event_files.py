"""Storage that tells its own story (issue 9): the events recorded after a version's bag was
written reach storage as dated, immutable PREMIS event files on every location of the package,
verified, recorded in ``event_files``; a location that does not answer leaves them for later,
and an interrupted flush is completed by the next one."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from preserve.config.settings import Settings

from preserve import premis
from preserve.bootstrap import Application, bootstrap
from preserve.services import journal
from preserve.storage import open_location
from tests.functional.cli import Repo, two_location_package

EVENT_FILE = r"events/\d{4}/\d{2}/\d{8}T\d{6}Z-[0-9a-f-]{36}\.xml"


def rows(repo: Repo, sql: str, **params: Any) -> list[Any]:
    engine = sa.create_engine(repo.database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(sql), params))
    finally:
        engine.dispose()


@pytest.fixture
def application(tmp_path: Path, database_url: str) -> Iterator[tuple[Repo, Application]]:
    """A repository driven through the CLI, and the same repository as an Application for the
    calls a test makes to the journal service itself (SQLite and PostgreSQL)."""
    repo = Repo(home=tmp_path / "home", database_url=database_url)
    app = bootstrap(Settings.from_env(repo.env), actor="tester")
    yield repo, app
    app.close()


def folder_of(key_prefix: str) -> str:
    return journal.package_folder(key_prefix)


def stored_event_files(url: str, folder: str) -> list[str]:
    storage = open_location(url)
    return [k[len(folder) :] for k in storage.iter_keys(folder + "events/")]


def read(url: str, key: str) -> bytes:
    with open_location(url).open(key) as stream:
        return stream.read()


def test_ingest_writes_its_last_events_to_every_location(
    tmp_path: Path, database_url: str, storage_url: str
) -> None:
    repo = Repo(home=tmp_path / "home", database_url=database_url)
    package = two_location_package(repo, tmp_path / "delivery", storage_url)
    package_id = package["package_id"]
    folder = folder_of(package["key_prefix"])

    # every event is held by storage: in the bag's premis.xml or in an event file
    events = rows(
        repo, "SELECT event_type, stored_in FROM events WHERE package_id = :p", p=package_id
    )
    assert all(stored_in for _type, stored_in in events), events
    after = {t: s for t, s in events if not s.startswith("v1/")}
    assert sorted(after) == ["ingestion end", "replication"]
    files = rows(
        repo,
        "SELECT path, size, sha512, sha256, event_count FROM event_files WHERE package_id = :p",
        p=package_id,
    )
    assert len(files) == 1
    path, size, sha512, sha256, event_count = files[0]
    assert set(after.values()) == {path}
    assert event_count == 3  # a replication per location and the ingestion end

    urls = {"default": (repo.storage_root).as_uri(), "second": storage_url}
    for location, url in urls.items():
        assert stored_event_files(url, folder) == [path], location
        data = read(url, folder + path)
        assert len(data) == size
        assert hashlib.sha512(data).hexdigest() == sha512
        assert hashlib.sha256(data).hexdigest() == sha256
        parsed = premis.parse_events(data)
        assert [e.event_type for e in parsed] == ["replication", "replication", "ingestion end"]
        copies = {o for e in parsed for o in e.objects if o.endswith(":v1/")}
        assert copies == {"default:v1/", "second:v1/"}
        assert all(package_id in e.objects and "v1/" in e.objects for e in parsed)
        assert {(a.name, role) for e in parsed for a, role in e.linked_agents} >= {
            ("default", "owner")
        }
        collection = json.loads(read(url, "default/photos/_collection.json"))
        assert collection["slug"] == "photos" and collection["title"] == "photos"
        organisation = json.loads(read(url, "default/_organisation.json"))
        assert organisation["slug"] == "default"
    assert re.fullmatch(EVENT_FILE, path)


def test_describe_writes_the_events_after_its_bag(tmp_path: Path, repo: Repo) -> None:
    delivery = tmp_path / "delivery"
    delivery.mkdir()
    (delivery / "a.txt").write_text("a\n")
    package = repo.json("ingest", delivery, "--collection", "photos")["packages"][0]
    package_id = package["package_id"]
    repo.run("describe", package_id, "--title", "Corrected")
    files = rows(
        repo,
        "SELECT path, event_count FROM event_files WHERE package_id = :p ORDER BY id",
        p=package_id,
    )
    assert len(files) == 2
    v2 = rows(
        repo,
        "SELECT event_type, stored_in FROM events WHERE package_id = :p AND version = 2",
        p=package_id,
    )
    in_bag = {t for t, s in v2 if s == "v2/metadata/premis.xml"}
    assert in_bag == {"metadata modification", "information package creation"}
    assert {t for t, s in v2 if s == files[1][0]} == {"replication", "ingestion end"}
    assert not rows(repo, "SELECT id FROM events WHERE stored_in IS NULL")


def _fixity_event(app: Application, package_id: str) -> None:
    """Record an event after ingest the way fixity does, without writing it to storage."""
    with app.fixity_catalogue() as catalogue:
        copy = catalogue.copies(package_id=package_id)[0]
        catalogue.record_check(
            copy,
            outcome="ok",
            occurred_at=datetime.now(UTC),
            event_type="fixity check",
            event_outcome="success",
            detail="a check",
            outcome_detail="ok",
            agent=("preserve", "test", "software"),
        )


def test_a_location_that_does_not_answer_leaves_the_events_for_the_next_flush(
    tmp_path: Path, application: tuple[Repo, Application], caplog: pytest.LogCaptureFixture
) -> None:
    repo, app = application
    second = tmp_path / "second"
    package = two_location_package(repo, tmp_path / "delivery", second.as_uri())
    package_id = package["package_id"]
    folder = folder_of(package["key_prefix"])
    _fixity_event(app, package_id)

    hidden = tmp_path / "second-unmounted"
    second.rename(hidden)  # the NAS is gone
    with caplog.at_level(logging.WARNING, logger="preserve.services.journal"):
        report = journal.flush_events(app, [package_id])
    assert report.written == ()
    assert [p.package_id for p in report.postponed] == [package_id]
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert f"1 event of package {package_id} not written to storage yet" in warning
    assert "location second" in warning and "next command" in warning
    # nothing half-written: the file is not on the location that answered either
    assert len(stored_event_files(repo.storage_root.as_uri(), folder)) == 1
    pending = rows(repo, "SELECT id FROM events WHERE stored_in IS NULL")
    assert len(pending) == 1

    hidden.rename(second)  # back
    # the next command that records events of any package writes them (catch-up)
    other = tmp_path / "other"
    other.mkdir()
    (other / "b.txt").write_text("b\n")
    repo.run("collections", "add", "texts", "--location", "default")
    repo.run("ingest", other, "--collection", "texts")
    assert rows(repo, "SELECT id FROM events WHERE stored_in IS NULL") == []
    recorded = rows(repo, "SELECT path FROM event_files WHERE package_id = :p", p=package_id)
    assert len(recorded) == 2
    for url in (repo.storage_root.as_uri(), second.as_uri()):
        assert sorted(stored_event_files(url, folder)) == sorted(r[0] for r in recorded)


def test_an_interrupted_flush_is_completed_by_the_next_and_its_leftover_is_reported(
    tmp_path: Path, application: tuple[Repo, Application], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, app = application
    repo.run("init")
    repo.run("collections", "add", "photos")
    delivery = tmp_path / "delivery"
    delivery.mkdir()
    (delivery / "a.txt").write_text("a\n")
    package = repo.json("ingest", delivery, "--collection", "photos")["packages"][0]
    package_id = package["package_id"]
    folder = folder_of(package["key_prefix"])
    _fixity_event(app, package_id)

    def killed(*args: Any) -> Any:
        raise KeyboardInterrupt  # the process dies after writing, before recording

    monkeypatch.setattr(journal, "_record", killed)
    with pytest.raises(KeyboardInterrupt):
        journal.flush_events(app, [package_id])
    monkeypatch.undo()
    url = repo.storage_root.as_uri()
    assert len(stored_event_files(url, folder)) == 2  # written, not recorded
    assert len(rows(repo, "SELECT id FROM events WHERE stored_in IS NULL")) == 1

    report = journal.flush_events(app, [package_id])
    assert report.events == 1
    assert rows(repo, "SELECT id FROM events WHERE stored_in IS NULL") == []
    recorded = {r[0] for r in rows(repo, "SELECT path FROM event_files")}
    leftover = [p for p in stored_event_files(url, folder) if p not in recorded]
    assert len(leftover) == 1
    problems = journal.check_event_files(app, package_id, "default")
    assert [(p.path, p.outcome) for p in problems] == [(leftover[0], "unexpected")]
    assert "interrupted flush" in problems[0].message


def test_events_stored_meanwhile_by_another_process_are_not_written_twice(
    tmp_path: Path, application: tuple[Repo, Application], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, app = application
    repo.run("init")
    repo.run("collections", "add", "photos")
    delivery = tmp_path / "delivery"
    delivery.mkdir()
    (delivery / "a.txt").write_text("a\n")
    package = repo.json("ingest", delivery, "--collection", "photos")["packages"][0]
    package_id = package["package_id"]
    folder = folder_of(package["key_prefix"])
    _fixity_event(app, package_id)
    real = journal._record

    def racing(app_: Application, catalogue: Any, ready: list[Any]) -> Any:
        # another process writes and records the same event while this one writes its file
        engine = sa.create_engine(repo.database_url)
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "UPDATE events SET stored_in = 'events/elsewhere.xml' WHERE stored_in IS NULL"
                )
            )
        engine.dispose()
        return real(app_, catalogue, ready)

    monkeypatch.setattr(journal, "_record", racing)
    report = journal.flush_events(app, [package_id])
    assert report.written == ()
    # its own file was removed again: no duplicate on storage, nothing recorded
    assert len(stored_event_files(repo.storage_root.as_uri(), folder)) == 1
    assert len(rows(repo, "SELECT id FROM event_files")) == 1


def test_an_event_premis_cannot_carry_waits_with_a_warning(
    tmp_path: Path, application: tuple[Repo, Application], caplog: pytest.LogCaptureFixture
) -> None:
    repo, app = application
    repo.run("init")
    repo.run("collections", "add", "photos")
    delivery = tmp_path / "delivery"
    delivery.mkdir()
    (delivery / "a.txt").write_text("a\n")
    package_id = repo.json("ingest", delivery, "--collection", "photos")["packages"][0][
        "package_id"
    ]
    engine = sa.create_engine(repo.database_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO events (id, event_type, occurred_at, outcome, detail, "
                "outcome_detail, agent_id, package_id) SELECT 'not-a-uuid', 'party', "
                "occurred_at, 'success', '', '', agent_id, package_id FROM events LIMIT 1"
            )
        )
    engine.dispose()
    with caplog.at_level(logging.WARNING, logger="preserve.services.journal"):
        report = journal.flush_events(app)
    assert report.written == ()
    assert "cannot be written as PREMIS" in caplog.text
    assert package_id in caplog.text


def test_a_fixity_run_writes_one_event_file_per_package(
    tmp_path: Path, application: tuple[Repo, Application]
) -> None:
    """However many events a run records for a package (one per copy), it writes one file."""
    repo, app = application
    second = tmp_path / "second"
    two_location_package(repo, tmp_path / "delivery", second.as_uri())
    for n in range(3):
        d = tmp_path / f"d{n}"
        d.mkdir()
        (d / "x.txt").write_text(f"{n}\n")
        repo.run("ingest", d, "--collection", "photos")
    before = len(rows(repo, "SELECT id FROM event_files"))
    with app.fixity_catalogue() as catalogue:
        copies = catalogue.copies(collection=("default", "photos"))
    assert len(copies) == 8  # 4 packages on 2 locations
    for package_id in {c.package_id for c in copies}:
        _fixity_event(app, package_id)
        _fixity_event(app, package_id)
    report = journal.flush_events(app, [c.package_id for c in copies])
    assert len(report.written) == 4 and report.events == 8
    assert len(rows(repo, "SELECT id FROM event_files")) == before + 4


def test_descriptors_follow_an_edit_of_the_collection(tmp_path: Path, repo: Repo) -> None:
    delivery = tmp_path / "delivery"
    delivery.mkdir()
    (delivery / "a.txt").write_text("a\n")
    repo.run("ingest", delivery, "--collection", "photos")
    repo.run("collections", "edit", "photos", "--title", "Photographs", "--description", "Glass")
    repo.run("organisations", "edit", "default", "--name", "Museum of the City")
    descriptor = repo.storage_root / "default" / "photos" / "_collection.json"
    collection = json.loads(descriptor.read_text())
    assert (collection["title"], collection["description"]) == ("Photographs", "Glass")
    organisation = json.loads((repo.storage_root / "default" / "_organisation.json").read_text())
    assert organisation["name"] == "Museum of the City"


def test_fixity_warns_when_a_location_of_the_package_does_not_answer(tmp_path: Path) -> None:
    """Through the command line: the check of the copy that answers succeeds, the events wait
    with a warning, and the next run writes them all, on both locations."""
    repo = Repo(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'catalogue.sqlite3'}")
    second = tmp_path / "second"
    package = two_location_package(repo, tmp_path / "delivery", second.as_uri())
    package_id = package["package_id"]
    folder = folder_of(package["key_prefix"])
    hidden = tmp_path / "second-unmounted"
    second.rename(hidden)
    result = repo.run("fixity", "--package", package_id, "--location", "default")
    assert result.stdout.startswith("ok ")
    assert (
        f"warning: 1 event of package {package_id} not written to storage yet (location "
        "second does not answer)" in result.stderr
    )
    assert "the next command that records events writes them" in result.stderr
    hidden.rename(second)
    repo.run("fixity", "--package", package_id, "--location", "default")
    assert rows(repo, "SELECT id FROM events WHERE stored_in IS NULL") == []
    counts = rows(repo, "SELECT event_count FROM event_files ORDER BY id")
    assert [c for (c,) in counts] == [3, 2]  # the ingest's, then both fixity checks in one
    for url in (repo.storage_root.as_uri(), second.as_uri()):
        assert len(stored_event_files(url, folder)) == 2


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda data: data[:100] + bytes([data[100] ^ 1]) + data[101:], "mismatch"),
        (lambda data: data[:-10], "mismatch"),
        (lambda data: None, "missing"),
    ],
    ids=["flipped-byte", "truncated", "deleted"],
)
def test_fixity_catches_damage_to_an_event_file(
    tmp_path: Path, storage_url: str, damage: Any, expected: str
) -> None:
    from tests.s3server import corrupt_object

    repo = Repo(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'catalogue.sqlite3'}")
    package = two_location_package(repo, tmp_path / "delivery", storage_url)
    folder = folder_of(package["key_prefix"])
    (path,) = stored_event_files(storage_url, folder)
    corrupt_object(storage_url, folder + path, damage)
    result = repo.run("fixity", "--all", ok=False)
    assert result.exit_code == 1
    assert f"FAILED {expected}: {path} in package {package['package_id']}" in result.stderr
    assert "location second" in result.stderr and "location default" not in result.stderr


def test_fixity_reports_an_unknown_object_among_the_event_files(tmp_path: Path) -> None:
    repo = Repo(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'catalogue.sqlite3'}")
    second = tmp_path / "second"
    package = two_location_package(repo, tmp_path / "delivery", second.as_uri())
    forged = second / folder_of(package["key_prefix"]) / "events" / "2026" / "11" / "forged.xml"
    forged.parent.mkdir(parents=True, exist_ok=True)
    forged.write_text("<premis/>")
    result = repo.run("fixity", "--all", ok=False)
    assert result.exit_code == 1
    assert "FAILED unexpected: events/2026/11/forged.xml" in result.stderr


def test_an_export_carries_every_event_recorded_before_it(
    tmp_path: Path, application: tuple[Repo, Application]
) -> None:
    """Events an earlier flush left in the catalogue are written first, so the exported bag
    has them; the export's own dissemination event is written after it."""
    repo, app = application
    repo.run("init")
    repo.run("collections", "add", "photos")
    delivery = tmp_path / "delivery"
    delivery.mkdir()
    (delivery / "a.txt").write_text("a\n")
    package_id = repo.json("ingest", delivery, "--collection", "photos")["packages"][0][
        "package_id"
    ]
    _fixity_event(app, package_id)  # recorded, not yet written to storage
    (pending,) = rows(repo, "SELECT id FROM events WHERE stored_in IS NULL")
    out = tmp_path / "out"
    assert repo.json("export", package_id, out)["event_files"] == 2
    exported = [
        e.identifier
        for f in sorted((out / "metadata" / "events").rglob("*.xml"))
        for e in premis.parse_events(f.read_bytes())
    ]
    assert pending[0] in exported
    dissemination = rows(repo, "SELECT stored_in FROM events WHERE event_type = 'dissemination'")
    assert dissemination[0][0].startswith("events/")
