"""Repositories and the unit of work against real SQLite and PostgreSQL catalogues."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from preserve.catalogue.models import (
    Agent,
    Collection,
    Copy,
    Event,
    File,
    Organisation,
    Package,
    StorageLocation,
)
from preserve.uow import UnitOfWork

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SHA = "a" * 64


@pytest.fixture
def seeded(session_factory: sessionmaker[Session]) -> dict[str, int]:
    """One organisation with two collections and two locations; returns their ids."""
    with UnitOfWork(session_factory) as uow:
        org = uow.organisations.add(Organisation(slug="meemoo", name="meemoo"))
        photos = uow.collections.add(Collection(organisation=org, slug="photos", title="Photos"))
        films = uow.collections.add(Collection(organisation=org, slug="films", title="Films"))
        disk = uow.locations.add(
            StorageLocation(
                name="disk", url="file:///srv/preserve", provider="local", is_default=True
            )
        )
        s3 = uow.locations.add(
            StorageLocation(
                name="s3-eu",
                url="s3://bucket/preserve",
                provider="s3",
                region="eu-west-1",
                storage_type="object",
            )
        )
        uow.commit()
        return {
            "org": org.id,
            "photos": photos.id,
            "films": films.id,
            "disk": disk.id,
            "s3": s3.id,
        }


def add_package(uow: UnitOfWork, collection_id: int, **fields: object) -> Package:
    values: dict[str, object] = {"collection_id": collection_id, "title": "A package"}
    values.update(fields)
    return uow.packages.add(Package(**values))


def file_rows(count: int, prefix: str = "data/f") -> Iterator[dict[str, object]]:
    for i in range(count):
        yield {"path": f"{prefix}{i:06d}.txt", "size": i, "sha512": "0" * 128, "sha256": SHA}


def count_rows(session_factory: sessionmaker[Session], model: type, **where: object) -> int:
    with session_factory() as session:
        stmt = select(func.count()).select_from(model)
        for column, value in where.items():
            stmt = stmt.where(getattr(model, column) == value)
        return session.scalar(stmt) or 0


# --- round trips -----------------------------------------------------------------------------


def test_organisations_collections_and_locations_round_trip(
    session_factory: sessionmaker[Session], seeded: dict[str, int]
) -> None:
    with UnitOfWork(session_factory) as uow:
        org = uow.organisations.get_by_slug("meemoo")
        assert org is not None and org.id == seeded["org"]
        assert org.created_at.tzinfo is not None and org.created_at.utcoffset() == timedelta(0)
        assert [o.slug for o in uow.organisations.list()] == ["meemoo"]
        assert uow.organisations.get_by_slug("nobody") is None

        photos = uow.collections.get("meemoo", "photos")
        assert photos is not None and photos.title == "Photos" and photos.description == ""
        assert photos.organisation.slug == "meemoo"
        assert uow.collections.get("other", "photos") is None
        assert [c.slug for c in uow.collections.list()] == ["films", "photos"]
        assert [c.slug for c in uow.collections.list(org_slug="meemoo")] == ["films", "photos"]
        assert uow.collections.list(org_slug="other") == []

        s3 = uow.locations.get_by_name("s3-eu")
        assert s3 is not None
        assert (s3.provider, s3.region, s3.storage_type, s3.offline, s3.is_default) == (
            "s3",
            "eu-west-1",
            "object",
            False,
            False,
        )
        assert uow.locations.get_by_url("file:///srv/preserve") is not None
        assert [loc.name for loc in uow.locations.list()] == ["disk", "s3-eu"]
        assert [loc.name for loc in uow.locations.defaults()] == ["disk"]


def test_collection_locations_are_replaced(
    session_factory: sessionmaker[Session], seeded: dict[str, int]
) -> None:
    with UnitOfWork(session_factory) as uow:
        photos = uow.collections.get("meemoo", "photos")
        assert photos is not None
        disk, s3 = uow.locations.list()
        assert uow.collections.locations(photos) == []

        uow.collections.set_locations(photos, [s3, disk, s3])
        uow.commit()
        assert [loc.name for loc in uow.collections.locations(photos)] == ["disk", "s3-eu"]

        uow.collections.set_locations(photos, [s3])
        uow.commit()
        assert [loc.name for loc in uow.collections.locations(photos)] == ["s3-eu"]
        films = uow.collections.get("meemoo", "films")
        assert films is not None and uow.collections.locations(films) == []


def test_package_round_trip_keeps_json_and_utc_times(
    session_factory: sessionmaker[Session], seeded: dict[str, int]
) -> None:
    stored_at = datetime(2025, 5, 1, 14, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    description = {"title": ["Zomer 1976"], "creator": ["Ann", "Bert"], "date": ["1976"]}
    bag_info = [["Source-Organization", "meemoo"], ["Contact-Name", "A"], ["Contact-Name", "B"]]
    with UnitOfWork(session_factory) as uow:
        new = add_package(
            uow,
            seeded["photos"],
            external_identifier="INV-1",
            description=description,
            status="stored",
            size=2**40,
            file_count=3,
            payload_fingerprint=SHA,
            bag_info=bag_info,
            source="/deliveries/zomer 1976",
            ingest_host="host-1",
            ingest_pid=4242,
            stored_at=stored_at,
        )
        package_id = new.id
        uow.commit()

    assert len(package_id) == 36
    with UnitOfWork(session_factory) as uow:
        package = uow.packages.get(package_id)
        assert package is not None
        assert package.description == description
        assert package.bag_info == bag_info
        assert package.size == 2**40
        assert package.version == 1
        assert package.stored_at == stored_at
        assert package.stored_at is not None and package.stored_at.tzinfo == UTC
        assert package.created_at.tzinfo == UTC
        assert package.collection.slug == "photos"
        assert uow.packages.get("00000000-0000-0000-0000-000000000000") is None


def test_naive_datetimes_are_refused(
    session_factory: sessionmaker[Session], seeded: dict[str, int]
) -> None:
    with UnitOfWork(session_factory) as uow, pytest.raises(StatementError, match="naive"):
        add_package(uow, seeded["photos"], stored_at=datetime(2025, 1, 1))


def test_package_lists_and_interrupted_ingests(
    session_factory: sessionmaker[Session], seeded: dict[str, int]
) -> None:
    with UnitOfWork(session_factory) as uow:
        first = add_package(uow, seeded["photos"], status="stored", created_at=NOW)
        second = add_package(
            uow, seeded["photos"], created_at=NOW + timedelta(seconds=1), ingest_pid=99
        )
        third = add_package(uow, seeded["films"], status="failed", created_at=NOW)
        uow.commit()

        assert [p.id for p in uow.packages.list(collection_id=seeded["photos"])] == [
            first.id,
            second.id,
        ]
        assert [p.id for p in uow.packages.list(status="failed")] == [third.id]
        assert len(uow.packages.list()) == 3
        # ingesting ones (recovery checks their owner) and failed ones (whose clean-up waits)
        assert [(p.id, p.ingest_pid) for p in uow.packages.list_interrupted()] == [
            (third.id, None),
            (second.id, 99),
        ]


def test_files_keep_their_exact_path_and_an_nfc_form(
    session_factory: sessionmaker[Session], seeded: dict[str, int]
) -> None:
    nfd = unicodedata.normalize("NFD", "data/café/Ångström 1.tif")
    identification = {"matches": [{"puid": "fmt/353"}], "warnings": [], "tool": "siegfried"}
    with UnitOfWork(session_factory) as uow:
        package = add_package(uow, seeded["photos"])
        added = uow.files.add_many(
            package.id,
            [
                {
                    "path": nfd,
                    "size": 10,
                    "sha512": "1" * 128,
                    "sha256": "2" * 64,
                    "digests": {"md5": "3" * 32},
                    "puid": "fmt/353",
                    "format_name": "Tagged Image File Format",
                    "mime": "image/tiff",
                    "identification": identification,
                    "image": {"width": 10, "height": 20},
                },
                {"path": "bag-info.txt", "size": 5, "role": "tag"},
            ],
        )
        uow.commit()
        package_id = package.id
    assert added == 2

    with UnitOfWork(session_factory) as uow:
        payload = list(uow.files.iter_for_package(package_id, role="payload"))
        assert len(payload) == 1
        (file,) = payload
        assert file.path == nfd and file.path != unicodedata.normalize("NFC", nfd)
        assert file.path_nfc == unicodedata.normalize("NFC", nfd)
        assert (file.role, file.size, file.puid, file.mime) == (
            "payload",
            10,
            "fmt/353",
            "image/tiff",
        )
        assert file.digests == {"md5": "3" * 32}
        assert file.identification == identification
        assert file.image == {"width": 10, "height": 20}
        tag = uow.files.get_by_path(package_id, "bag-info.txt")
        assert tag is not None and tag.role == "tag" and tag.image is None and tag.digests == {}
        assert uow.files.get_by_path(package_id, unicodedata.normalize("NFC", nfd)) is None
        assert uow.files.count(package_id) == 2
        assert uow.files.count(package_id, role="tag") == 1


def test_file_rows_are_checked_before_they_are_written(
    session_factory: sessionmaker[Session], seeded: dict[str, int]
) -> None:
    with UnitOfWork(session_factory) as uow:
        package = add_package(uow, seeded["photos"])
        with pytest.raises(ValueError, match="unknown file columns: sha1"):
            uow.files.add_many(package.id, [{"path": "data/a", "size": 1, "sha1": "x"}])
        with pytest.raises(ValueError, match="path and a size"):
            uow.files.add_many(package.id, [{"path": "data/a"}])
        assert uow.files.count(package.id) == 0


def test_add_many_inserts_twenty_thousand_rows_from_a_generator(
    session_factory: sessionmaker[Session], seeded: dict[str, int]
) -> None:
    inserts: list[int] = []  # the rows each INSERT statement sent carries

    def count_inserts(
        _c: object, _cur: object, sql: str, _p: object, _x: object, many: bool
    ) -> None:
        if sql.lstrip().upper().startswith("INSERT INTO FILES"):
            inserts.append(sql.count("), (") + 1)

    with UnitOfWork(session_factory) as uow:
        package = add_package(uow, seeded["photos"])
        engine = uow.session.get_bind()
        event.listen(engine, "before_cursor_execute", count_inserts)
        try:
            assert uow.files.add_many(package.id, file_rows(20_000)) == 20_000
        finally:
            event.remove(engine, "before_cursor_execute", count_inserts)
        # Bulk inserts build no ORM objects.
        assert not any(isinstance(obj, File) for obj in uow.session.identity_map.values())
        uow.commit()
        package_id = package.id
    # multi-row statements, never an executemany a driver may send a row at a time: on
    # PostgreSQL each statement runs the search trigger, which rewrites the package's document
    # (a statement per row took 226 s for these 20,000 rows)
    assert sum(inserts) == 20_000 and min(inserts) >= 100, inserts

    with UnitOfWork(session_factory) as uow:
        assert uow.files.count(package_id) == 20_000
        streamed = 0
        previous = ""
        for file in uow.files.iter_for_package(package_id):
            assert file.path > previous and file.package_id == package_id
            previous = file.path
            streamed += 1
        assert streamed == 20_000
        assert previous == "data/f019999.txt"


def test_agents_are_created_once(session_factory: sessionmaker[Session]) -> None:
    with UnitOfWork(session_factory) as uow:
        first = uow.agents.get_or_create("preserve", "0.1.0")
        again = uow.agents.get_or_create("preserve", "0.1.0")
        person = uow.agents.get_or_create("Ann Archivist", "", agent_type="person")
        archive = uow.agents.get_or_create("meemoo", "", agent_type="organization")
        newer = uow.agents.get_or_create("preserve", "0.2.0")
        uow.commit()
        assert first.id == again.id
        assert len({first.id, person.id, archive.id, newer.id}) == 4
        assert (person.agent_type, first.agent_type) == ("person", "software")

    with UnitOfWork(session_factory) as uow:
        assert uow.agents.get_or_create("preserve", "0.1.0").id == first.id
    assert count_rows(session_factory, Agent) == 4


def test_events_and_copies_round_trip(
    session_factory: sessionmaker[Session], seeded: dict[str, int]
) -> None:
    with UnitOfWork(session_factory) as uow:
        agent = uow.agents.get_or_create("preserve", "0.1.0")
        package = add_package(uow, seeded["photos"])
        uow.files.add_many(package.id, file_rows(2))
        file = uow.files.get_by_path(package.id, "data/f000001.txt")
        assert file is not None
        copy = uow.copies.add(package_id=package.id, location_id=seeded["s3"], key_prefix="m/v1/")
        uow.events.add(
            "fixity check",
            "failure",
            agent=agent,
            package_id=package.id,
            copy_id=copy.id,
            file_id=file.id,
            detail="scheduled check",
            outcome_detail="sha512 mismatch",
            occurred_at=NOW + timedelta(minutes=1),
            event_type_uri="http://id.loc.gov/vocabulary/preservation/eventType/fix",
        )
        uow.events.add(
            "ingestion start",
            "success",
            agent=agent,
            package_id=package.id,
            occurred_at=NOW,
            event_id="2f1c3b9e-1111-4c2d-9a7e-000000000001",
        )
        uow.events.add("replication", "success", agent=agent)
        uow.commit()
        package_id = package.id

    with UnitOfWork(session_factory) as uow:
        events = uow.events.for_package(package_id)
        assert [e.event_type for e in events] == ["ingestion start", "fixity check"]
        fixity = events[1]
        assert (fixity.outcome, fixity.detail, fixity.outcome_detail) == (
            "failure",
            "scheduled check",
            "sha512 mismatch",
        )
        assert fixity.occurred_at == NOW + timedelta(minutes=1)
        assert fixity.agent.name == "preserve" and fixity.file_id is not None
        assert events[0].event_type_uri is None and events[0].detail == ""
        assert events[0].id == "2f1c3b9e-1111-4c2d-9a7e-000000000001"
        assert len(fixity.id) == 36

        (copy,) = uow.copies.for_package(package_id)
        assert copy.status == "pending" and copy.last_outcome is None
        assert copy.location.name == "s3-eu" and copy.package.id == package_id
        assert uow.copies.get(package_id, seeded["s3"]) is not None
        assert uow.copies.get(package_id, seeded["disk"]) is None


# --- constraints -----------------------------------------------------------------------------


def assert_refused(session_factory: sessionmaker[Session], *objects: object) -> None:
    """Adding these objects in one unit of work breaks a constraint."""
    with UnitOfWork(session_factory) as uow, pytest.raises(IntegrityError):
        for obj in objects:
            uow.session.add(obj)
        uow.flush()


def test_unique_constraints(session_factory: sessionmaker[Session], seeded: dict[str, int]) -> None:
    assert_refused(session_factory, Organisation(slug="meemoo", name="again"))
    assert_refused(
        session_factory, Collection(organisation_id=seeded["org"], slug="photos", title="Again")
    )
    assert_refused(
        session_factory, StorageLocation(name="disk", url="file:///elsewhere", provider="local")
    )
    assert_refused(
        session_factory, StorageLocation(name="other", url="file:///srv/preserve", provider="local")
    )
    assert_refused(session_factory, Agent(name="x", version="1"), Agent(name="x", version="1"))

    with UnitOfWork(session_factory) as uow:
        other = uow.organisations.add(Organisation(slug="other", name="Other"))
        # The same collection slug under another organisation is fine.
        uow.collections.add(Collection(organisation=other, slug="photos", title="Photos"))
        package = add_package(uow, seeded["photos"])
        uow.copies.add(Copy(package_id=package.id, location_id=seeded["disk"], key_prefix="p/"))
        uow.files.add_many(package.id, [{"path": "data/a", "size": 1}])
        uow.commit()
        package_id = package.id

    assert_refused(
        session_factory, Copy(package_id=package_id, location_id=seeded["disk"], key_prefix="q/")
    )
    with UnitOfWork(session_factory) as uow, pytest.raises(IntegrityError):
        uow.files.add_many(package_id, [{"path": "data/a", "size": 2}])


def test_vocabularies_and_foreign_keys_are_enforced(
    session_factory: sessionmaker[Session], seeded: dict[str, int]
) -> None:
    assert_refused(session_factory, Package(collection_id=seeded["photos"], status="lost"))
    assert_refused(session_factory, StorageLocation(name="x", url="ftp://x", provider="ftp"))
    assert_refused(session_factory, Agent(name="x", version="1", agent_type="robot"))
    # A collection that does not exist: SQLite enforces this only with PRAGMA foreign_keys=ON.
    assert_refused(session_factory, Package(collection_id=987654))
    with UnitOfWork(session_factory) as uow:
        package = add_package(uow, seeded["photos"])
        uow.commit()
    assert_refused(
        session_factory,
        Copy(package_id=package.id, location_id=seeded["disk"], key_prefix="p/", status="rotten"),
    )
    assert_refused(
        session_factory,
        Copy(
            package_id=package.id, location_id=seeded["disk"], key_prefix="p/", last_outcome="meh"
        ),
    )


# --- unit of work ----------------------------------------------------------------------------


def test_exception_rolls_back(session_factory: sessionmaker[Session]) -> None:
    with pytest.raises(RuntimeError, match="boom"), UnitOfWork(session_factory) as uow:
        uow.organisations.add(Organisation(slug="gone", name="Gone"))
        raise RuntimeError("boom")
    assert count_rows(session_factory, Organisation) == 0


def test_leaving_without_commit_rolls_back(session_factory: sessionmaker[Session]) -> None:
    with UnitOfWork(session_factory) as uow:
        uow.organisations.add(Organisation(slug="kept", name="Kept"))
        uow.commit()
        uow.organisations.add(Organisation(slug="dropped", name="Dropped"))
    with UnitOfWork(session_factory) as uow:
        assert [o.slug for o in uow.organisations.list()] == ["kept"]


def test_objects_stay_readable_after_commit_and_close(
    session_factory: sessionmaker[Session],
) -> None:
    with UnitOfWork(session_factory) as uow:
        org = uow.organisations.add(Organisation(slug="kept", name="Kept"))
        uow.commit()
    assert (org.slug, org.name) == ("kept", "Kept")


def test_callbacks_run_only_after_the_commit_landed(session_factory: sessionmaker[Session]) -> None:
    seen: list[str] = []

    def committed_row_is_visible() -> None:
        # A callback may hand work to another process: the row must already be committed.
        seen.append(f"visible={count_rows(session_factory, Organisation)}")

    with UnitOfWork(session_factory) as uow:
        uow.organisations.add(Organisation(slug="a", name="A"))
        uow.on_commit(committed_row_is_visible)
        uow.on_commit(lambda: seen.append("second"))
        assert seen == []
        uow.commit()
        assert seen == ["visible=1", "second"]
        uow.commit()
    assert seen == ["visible=1", "second"]


def test_callbacks_do_not_run_after_a_rollback(session_factory: sessionmaker[Session]) -> None:
    seen: list[str] = []
    with pytest.raises(RuntimeError), UnitOfWork(session_factory) as uow:
        uow.on_commit(lambda: seen.append("exception"))
        raise RuntimeError("before commit")
    with UnitOfWork(session_factory) as uow:
        uow.on_commit(lambda: seen.append("no commit"))
    with UnitOfWork(session_factory) as uow:
        uow.on_commit(lambda: seen.append("rolled back"))
        uow.rollback()
        uow.commit()
    assert seen == []


def test_callbacks_do_not_run_when_the_commit_fails(
    session_factory: sessionmaker[Session], seeded: dict[str, int]
) -> None:
    seen: list[str] = []
    with UnitOfWork(session_factory) as uow:
        uow.session.add(Organisation(slug="meemoo", name="duplicate"))
        uow.on_commit(lambda: seen.append("committed"))
        with pytest.raises(IntegrityError):
            uow.commit()
    assert seen == []


def test_a_failing_callback_does_not_stop_the_others(
    session_factory: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []
    caplog.set_level("DEBUG", logger="preserve.uow")  # the raised failure is logged at debug

    def fail() -> None:
        raise OSError("staging folder busy")

    with UnitOfWork(session_factory) as uow:
        uow.organisations.add(Organisation(slug="a", name="A"))
        uow.on_commit(fail)
        uow.on_commit(lambda: seen.append("ran"))
        with pytest.raises(OSError, match="staging folder busy"):
            uow.commit()
    assert seen == ["ran"]
    assert "after-commit callback" in caplog.text
    assert count_rows(session_factory, Organisation) == 1


def test_a_unit_of_work_is_not_reentrant(session_factory: sessionmaker[Session]) -> None:
    uow = UnitOfWork(session_factory)
    with uow, pytest.raises(RuntimeError, match="already in use"), uow:
        pass
    with uow:  # usable again once closed
        assert uow.organisations.list() == []


# --- deletion ---------------------------------------------------------------------------------


def test_deleting_a_package_cascades_to_files_copies_and_events(
    session_factory: sessionmaker[Session], seeded: dict[str, int]
) -> None:
    with UnitOfWork(session_factory) as uow:
        agent = uow.agents.get_or_create("preserve", "0.1.0")
        doomed = add_package(uow, seeded["photos"])
        kept = add_package(uow, seeded["photos"])
        for package in (doomed, kept):
            uow.files.add_many(package.id, file_rows(3))
            copy = uow.copies.add(
                Copy(package_id=package.id, location_id=seeded["disk"], key_prefix=f"{package.id}/")
            )
            file = uow.files.get_by_path(package.id, "data/f000000.txt")
            assert file is not None
            uow.events.add(
                "fixity check",
                "success",
                agent=agent,
                package_id=package.id,
                copy_id=copy.id,
                file_id=file.id,
            )
        uow.events.add("replication", "success", agent=agent)  # concerns no package
        uow.commit()
        doomed_id, kept_id = doomed.id, kept.id

    with UnitOfWork(session_factory) as uow:
        loaded = uow.packages.get(doomed_id)
        assert loaded is not None
        uow.packages.delete(loaded)
        uow.commit()

    for model in (File, Copy, Event):
        assert count_rows(session_factory, model, package_id=doomed_id) == 0
        assert count_rows(session_factory, model, package_id=kept_id) > 0
    assert count_rows(session_factory, Event) == 2
    assert count_rows(session_factory, Package) == 1
    assert count_rows(session_factory, StorageLocation) == 2
    assert count_rows(session_factory, Agent) == 1


# --- queries the services rely on --------------------------------------------------------------


def test_one_live_package_per_content_and_collection(
    session_factory: sessionmaker[Session], seeded: dict[str, int]
) -> None:
    """uq_packages_live_fingerprint: the duplicate check of concurrent ingests is the database's."""
    with UnitOfWork(session_factory) as uow:
        failed = add_package(uow, seeded["photos"], payload_fingerprint=SHA, status="failed")
        add_package(uow, seeded["films"], payload_fingerprint=SHA, status="stored")
        add_package(uow, seeded["photos"], payload_fingerprint="b" * 64, status="stored")
        uow.commit()
        assert uow.packages.find_live_by_fingerprint(seeded["photos"], SHA) is None

        ingesting = add_package(uow, seeded["photos"], payload_fingerprint=SHA)
        uow.commit()
        found = uow.packages.find_live_by_fingerprint(seeded["photos"], SHA)
        assert found is not None and found.id == ingesting.id
        films = uow.packages.find_live_by_fingerprint(seeded["films"], SHA)
        assert films is not None and films.collection_id == seeded["films"]

        for status in ("ingesting", "stored"):
            with pytest.raises(IntegrityError, match=r"payload_fingerprint|live_fingerprint"):
                add_package(uow, seeded["photos"], payload_fingerprint=SHA, status=status)
                uow.flush()
            uow.rollback()
        # failed packages (whose clean-up waits) and packages without a fingerprint never clash
        add_package(uow, seeded["photos"], payload_fingerprint=SHA, status="failed")
        add_package(uow, seeded["photos"])
        add_package(uow, seeded["photos"])
        uow.commit()
        assert failed.status == "failed"


def add_copies(
    session_factory: sessionmaker[Session],
    seeded: dict[str, int],
    specs: dict[str, dict[str, object]],
) -> dict[str, int]:
    """One package per spec with one copy on disk; returns copy ids by spec name."""
    ids = {}
    with UnitOfWork(session_factory) as uow:
        for name, fields in specs.items():
            package = add_package(uow, seeded["photos"], status="stored")
            values: dict[str, object] = {
                "status": "verified",
                "created_at": NOW - timedelta(days=365),
            }
            values.update(fields)
            copy = uow.copies.add(
                Copy(
                    package_id=package.id,
                    location_id=seeded["disk"],
                    key_prefix=f"{name}/",
                    **values,
                )
            )
            ids[name] = copy.id
        uow.commit()
    return ids


def test_due_copies_come_never_checked_first_then_oldest(
    session_factory: sessionmaker[Session], seeded: dict[str, int]
) -> None:
    interval = timedelta(days=90)
    ids = add_copies(
        session_factory,
        seeded,
        {
            "checked-100-days-ago": {"last_checked_at": NOW - timedelta(days=100)},
            "never-checked-new": {"created_at": NOW - timedelta(days=1)},
            "checked-200-days-ago": {"last_checked_at": NOW - timedelta(days=200)},
            "checked-yesterday": {"last_checked_at": NOW - timedelta(days=1)},
            "never-checked-old": {"created_at": NOW - timedelta(days=30)},
            "exactly-due": {"last_checked_at": NOW - interval},
            "pending": {"status": "pending"},
            "quarantined": {"status": "quarantined", "last_checked_at": NOW - timedelta(days=300)},
        },
    )
    names = {copy_id: name for name, copy_id in ids.items()}

    with UnitOfWork(session_factory) as uow:
        due = uow.copies.iter_due_for_fixity(NOW, interval, limit=10)
        assert [names[c.id] for c in due] == [
            "never-checked-old",
            "never-checked-new",
            "checked-200-days-ago",
            "checked-100-days-ago",
            "exactly-due",
        ]
        assert due[0].package.status == "stored" and due[0].location.name == "disk"

        assert [names[c.id] for c in uow.copies.iter_due_for_fixity(NOW, interval, limit=2)] == [
            "never-checked-old",
            "never-checked-new",
        ]
        later = uow.copies.iter_due_for_fixity(NOW + timedelta(days=365), interval, limit=10)
        assert len(later) == 6
        quarantined = uow.copies.iter_due_for_fixity(
            NOW, interval, limit=10, statuses=("quarantined",)
        )
        assert [names[c.id] for c in quarantined] == ["quarantined"]


# Row locks exist on PostgreSQL only: SQLite serialises writers and ignores FOR UPDATE.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_schedulers_never_claim_the_same_copy(
    session_factory: sessionmaker[Session], seeded: dict[str, int]
) -> None:
    add_copies(session_factory, seeded, {f"copy-{i}": {} for i in range(5)})

    with UnitOfWork(session_factory) as first, UnitOfWork(session_factory) as second:
        claimed_first = {c.id for c in first.copies.iter_due_for_fixity(NOW, timedelta(days=90), 2)}
        claimed_second = {
            c.id for c in second.copies.iter_due_for_fixity(NOW, timedelta(days=90), 10)
        }
        assert len(claimed_first) == 2 and len(claimed_second) == 3
        assert not claimed_first & claimed_second
        first.commit()
        # Once the first transaction ends its rows may be claimed again.
        second.rollback()
        again = {c.id for c in second.copies.iter_due_for_fixity(NOW, timedelta(days=90), 10)}
        assert again == claimed_first | claimed_second
