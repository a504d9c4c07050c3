"""Transfers (preserve/services/transfers.py) on SQLite and PostgreSQL: who may open one, what a
completion builds and queues (one job, however often and however concurrently it is asked
for), retry and discard, expiry, the person's unfinished transfers, server-side folders."""

from __future__ import annotations

import csv
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from preserve.errors import InvalidInput, NotFound, PermissionDenied, UnsafePath
from preserve.services import jobs, transfers
from tests.web.conftest import Site
from tests.web.uploads_support import app_with, open_transfer, principal


@pytest.fixture
def people(site_any: Site) -> Site:
    site_any.user("ann")
    site_any.user("tom", organisation="theirs")
    site_any.user("vic", role="viewer")
    return site_any


def put(site: Site, transfer_id: str, path: str, data: bytes, who: str = "ann") -> None:
    """One whole file through the service (what a tus POST and PATCH do)."""
    app, person = site.application, principal(site, who)
    record = transfers.create_upload(
        app, person, transfer_id=transfer_id, relative_path=path, length=len(data)
    )
    if data:
        pieces = [data]
        transfers.append(
            app,
            person,
            record.id,
            offset=0,
            read=lambda n: pieces.pop(0) if pieces else b"",
            content_length=len(data),
        )


def test_who_may_open_a_transfer(people: Site) -> None:
    app = people.application
    choices = transfers.collections_for_ingest(app, principal(people, "ann"))
    assert [c.key for c in choices] == ["ours/photos"]
    assert transfers.collections_for_ingest(app, principal(people, "vic")) == []
    with pytest.raises(NotFound):
        open_transfer(people, "tom")  # ours/photos is not theirs: as if it did not exist
    with pytest.raises(PermissionDenied):
        open_transfer(people, "vic")
    with pytest.raises(NotFound):
        open_transfer(people, collection="ours/nope")
    with pytest.raises(InvalidInput, match="name"):
        open_transfer(people, name=" ")
    with pytest.raises(InvalidInput, match="not a Dublin Core element"):
        open_transfer(people, description={"titel": "x"})
    with pytest.raises(transfers.TooLarge):
        open_transfer(people, expected_bytes=people.settings.transfer_max_size + 1)
    found = open_transfer(people, collection="photos", description={"subject": "a\nb\n"})
    assert found.collection == "photos" and found.description == {"subject": ["a", "b"]}
    assert found.state == "open" and found.expires_at is not None


def test_another_organisation_sees_nothing(people: Site) -> None:
    transfer = open_transfer(people)
    put(people, transfer.id, "photos-1923/a.txt", b"abc")
    tom = principal(people, "tom")
    for call in (
        lambda: transfers.get_transfer(people.application, tom, transfer.id),
        lambda: transfers.complete(people.application, tom, transfer.id),
        lambda: transfers.discard_transfer(people.application, tom, transfer.id),
        lambda: transfers.status(people.application, tom, transfer.id),
    ):
        with pytest.raises(NotFound, match="transfer"):
            call()
    upload = transfers.get_transfer(people.application, principal(people, "ann"), transfer.id)
    with pytest.raises(NotFound):
        transfers.upload_info(people.application, tom, upload.uploads[0].id)
    assert transfers.open_transfers(people.application, tom) == []


def test_complete_builds_the_delivery_and_queues_one_job(people: Site) -> None:
    app, ann = people.application, principal(people, "ann")
    transfer = open_transfer(
        people, description={"title": "Glass plates", "creator": "Ann\nBob", "rights": "CC0"}
    )
    put(people, transfer.id, "photos-1923/scan-001.txt", b"one")
    put(people, transfer.id, "photos-1923/sub/scan-002.txt", b"two")
    done = transfers.complete(app, ann, transfer.id)
    assert done.state == "queued" and done.job_id
    job = jobs.show(app, done.job_id)
    assert job.kind == "ingest" and job.state == "queued"
    assert job.requested_by == "ann"
    assert job.payload["collection"] == "photos" and job.payload["organisation"] == "ours"
    delivery = Path(job.payload["paths"][0])
    assert delivery.name == "photos-1923"
    assert (delivery / "scan-001.txt").read_bytes() == b"one"
    assert (delivery / "sub" / "scan-002.txt").read_bytes() == b"two"
    folder = Path(people.settings.upload_dir) / transfer.id
    assert sorted(p.name for p in folder.iterdir()) == ["delivery"]  # moved, not copied
    with open(job.payload["metadata_csv"], newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows == [
        ["path", "title", "creator", "creator", "rights"],
        ["photos-1923", "Glass plates", "Ann", "Bob", "CC0"],
    ]
    # again (a re-sent request, a double click): the same job, nothing more
    again = transfers.complete(app, ann, transfer.id)
    assert again.job_id == done.job_id
    assert [j.id for j in jobs.list_jobs(app) if j.kind == "ingest"] == [done.job_id]
    status = transfers.status(app, ann, transfer.id)
    assert status.phase == "queued" and status.job is not None
    with pytest.raises(transfers.OffsetConflict):
        transfers.append(
            app, ann, done.uploads[0].id, offset=3, read=lambda n: b"", content_length=0
        )


def test_concurrent_completions_queue_one_job(people: Site) -> None:
    app, ann = people.application, principal(people, "ann")
    transfer = open_transfer(people)
    for i in range(5):
        put(people, transfer.id, f"photos-1923/f{i}.txt", os.urandom(100))
    results: list[str | None] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def finish() -> None:
        barrier.wait()
        try:
            results.append(transfers.complete(app, ann, transfer.id).job_id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=finish) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ingest_jobs = [j for j in jobs.list_jobs(app) if j.kind == "ingest"]
    assert len(ingest_jobs) == 1
    # every caller got that job (none failed: a lost race reads the winner's job)
    assert not errors, errors
    assert set(results) == {ingest_jobs[0].id}


def test_the_same_request_id_opens_one_transfer_even_at_the_same_moment(people: Site) -> None:
    """A double click on "Upload and ingest" (trial F9) sends the form's request id twice,
    here at the same moment: one transfer, the same for every request."""
    app, ann = people.application, principal(people, "ann")
    results: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def create() -> None:
        barrier.wait()
        try:
            results.append(open_transfer(people, request_id="form-1").id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(set(results)) == 1
    assert [t.id for t in transfers.open_transfers(app, ann)] == results[:1]
    # another submission (another id) is another transfer; another person's same id too
    assert open_transfer(people, request_id="form-2").id != results[0]
    people.user("eve")
    assert open_transfer(people, "eve", request_id="form-1").id != results[0]
    assert open_transfer(people).id != open_transfer(people).id  # no id: no idempotency
    with pytest.raises(InvalidInput):
        open_transfer(people, request_id="x" * 101)


def test_completion_needs_every_file_whole(people: Site) -> None:
    app, ann = people.application, principal(people, "ann")
    transfer = open_transfer(people, expected_files=2)
    with pytest.raises(InvalidInput, match="no files"):
        transfers.complete(app, ann, transfer.id)
    put(people, transfer.id, "d/a.txt", b"abc")
    record = transfers.create_upload(
        app, ann, transfer_id=transfer.id, relative_path="d/b.txt", length=10
    )
    with pytest.raises(InvalidInput, match=r"1 file\(s\) have not arrived whole yet \('d/b.txt'\)"):
        transfers.complete(app, ann, transfer.id)
    transfers.delete_upload(app, ann, record.id)
    with pytest.raises(InvalidInput, match="2 files were announced and 1 arrived"):
        transfers.complete(app, ann, transfer.id)
    assert transfers.get_transfer(app, ann, transfer.id).state == "open"
    assert jobs.list_jobs(app) == []


def test_a_whole_file_with_the_wrong_sha256_is_refused(people: Site) -> None:
    app, ann = people.application, principal(people, "ann")
    transfer = open_transfer(people)
    record = transfers.create_upload(
        app, ann, transfer_id=transfer.id, relative_path="d/a.txt", length=3, sha256="0" * 64
    )
    pieces = [b"abc"]
    with pytest.raises(transfers.ChecksumMismatch, match="not the one announced"):
        transfers.append(
            app,
            ann,
            record.id,
            offset=0,
            read=lambda n: pieces.pop(0) if pieces else b"",
            content_length=3,
        )
    assert transfers.upload_info(app, ann, record.id).offset == 0


def test_loose_files_and_a_metadata_csv(people: Site) -> None:
    app, ann = people.application, principal(people, "ann")
    transfer = open_transfer(people, name="Letters 1950")
    put(people, transfer.id, "a.txt", b"a")
    put(people, transfer.id, "b.txt", b"b")
    table = b"path,title\nLetters 1950,From the CSV\n"
    record = transfers.create_upload(
        app,
        ann,
        transfer_id=transfer.id,
        relative_path="_metadata/delivery.csv",
        length=len(table),
        metadata={"role": "metadata"},
    )
    pieces = [table]
    transfers.append(
        app,
        ann,
        record.id,
        offset=0,
        read=lambda n: pieces.pop(0) if pieces else b"",
        content_length=len(table),
    )
    done = transfers.complete(app, ann, transfer.id)
    job = jobs.show(app, done.job_id or "")
    delivery = Path(job.payload["paths"][0])
    assert delivery.name == "Letters 1950"
    assert sorted(p.name for p in delivery.iterdir()) == ["a.txt", "b.txt"]
    assert Path(job.payload["metadata_csv"]).read_bytes() == table


def test_discard_and_open_transfers(people: Site) -> None:
    app, ann = people.application, principal(people, "ann")
    first = open_transfer(people, name="first")
    second = open_transfer(people, name="second")
    put(people, first.id, "first/a.txt", b"abc")
    listed = transfers.open_transfers(app, ann)
    assert {t.name for t in listed} == {"first", "second"}
    assert next(t for t in listed if t.name == "first").bytes_received == 3
    transfers.discard_transfer(app, ann, first.id)
    assert not (Path(people.settings.upload_dir) / first.id).exists()
    assert [t.name for t in transfers.open_transfers(app, ann)] == ["second"]
    with pytest.raises(transfers.UploadGone):
        transfers.complete(app, ann, first.id)
    with pytest.raises(PermissionDenied):
        transfers.discard_transfer(app, principal(people, "vic"), second.id)


def test_queued_ingest_cannot_be_discarded_and_only_a_failed_one_retried(people: Site) -> None:
    app, ann = people.application, principal(people, "ann")
    transfer = open_transfer(people)
    put(people, transfer.id, "photos-1923/a.txt", b"abc")
    done = transfers.complete(app, ann, transfer.id)
    with pytest.raises(InvalidInput, match="under way"):
        transfers.discard_transfer(app, ann, transfer.id)
    with pytest.raises(InvalidInput, match="nothing to try again"):
        transfers.retry(app, ann, transfer.id)
    # the job fails for good (as a worker would record it) with its problems per file
    job_id = done.job_id or ""
    assert jobs.claim(app, job_id, "w", timedelta(minutes=1)) is not None
    failure = {
        "failures": [
            {
                "source": "/x/photos-1923",
                "code": "invalid-bag",
                "message": "the delivery is not valid",
                "problems": [
                    {
                        "code": "unreadable",
                        "path": "a.txt",
                        "message": "cannot be read",
                        "severity": "error",
                    }
                ],
            }
        ]
    }
    jobs.fail(app, job_id, "w", "1 of 1 deliveries failed", retryable=False, result=failure)
    status = transfers.status(app, ann, transfer.id)
    assert status.phase == "failed"
    assert [(p.path, p.message) for p in status.problems] == [("a.txt", "cannot be read")]
    assert [t.id for t in transfers.open_transfers(app, ann)] == [transfer.id]
    retried = transfers.retry(app, ann, transfer.id)
    assert retried.job_id == job_id and jobs.show(app, job_id).state == "queued"
    assert jobs.claim(app, job_id, "w", timedelta(minutes=1)) is not None
    jobs.fail(app, job_id, "w", "again", retryable=False)
    transfers.discard_transfer(app, ann, transfer.id)
    assert not (Path(people.settings.upload_dir) / transfer.id).exists()


def test_an_ingested_transfer_loses_its_files(people: Site) -> None:
    app, ann = people.application, principal(people, "ann")
    transfer = open_transfer(people)
    put(people, transfer.id, "photos-1923/a.txt", b"abc")
    done = transfers.complete(app, ann, transfer.id)
    job_id = done.job_id or ""
    jobs.claim(app, job_id, "w", timedelta(minutes=1))
    jobs.succeed(app, job_id, "w", {"packages": [{"package_id": "p-1", "status": "stored"}]})
    folder = Path(people.settings.upload_dir) / transfer.id
    assert folder.exists()
    assert transfers.expire_abandoned(app, datetime.now(UTC)) == []
    assert not folder.exists()
    status = transfers.status(app, ann, transfer.id)
    assert status.phase == "succeeded" and status.package_ids == ("p-1",)
    with pytest.raises(InvalidInput, match="was ingested"):
        transfers.discard_transfer(app, ann, transfer.id)


def test_expiry_counts_from_the_last_activity(people: Site) -> None:
    app = people.application
    start = datetime.now(UTC)
    transfer = open_transfer(people, now=start)
    hours = people.settings.upload_expiry_hours
    record = transfers.create_upload(
        app,
        principal(people, "ann"),
        transfer_id=transfer.id,
        relative_path="d/a.txt",
        length=4,
        now=start + timedelta(hours=hours - 1),
    )
    assert record.expires_at == start + timedelta(hours=2 * hours - 1)
    assert transfers.expire_abandoned(app, start + timedelta(hours=hours + 1)) == []
    assert transfers.expire_abandoned(app, start + timedelta(hours=2 * hours)) == [transfer.id]
    assert transfers.get_transfer(app, principal(people, "ann"), transfer.id).state == "expired"


# ----------------------------------------------------------------------------- server folders


@pytest.fixture
def folders(people: Site, tmp_path: Path) -> tuple[Site, Path]:
    root = tmp_path / "incoming"
    (root / "batch-1" / "sub").mkdir(parents=True)
    (root / "batch-1" / "a.txt").write_text("a")
    (root / "batch-1" / "sub" / "b.txt").write_text("b")
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "key.txt").write_text("k")
    (root / "escape").symlink_to(tmp_path / "secret")
    app_with(people, ingest_folders=(f"incoming={root}", f"gone={tmp_path / 'nowhere'}"))
    return people, root


def test_server_folders_list_one_level_and_stay_inside(folders: tuple[Site, Path]) -> None:
    site, _root = folders
    app, ann = site.application, principal(site, "ann")
    assert transfers.ingest_folders(app, ann) == ["gone", "incoming"]
    assert transfers.ingest_folders(app, principal(site, "vic")) == []
    top = transfers.list_folder(app, ann, "incoming")
    assert [(e.name, e.is_dir) for e in top.entries] == [("batch-1", True)]  # no escape link
    inner = transfers.list_folder(app, ann, "incoming", "batch-1")
    assert [(e.name, e.is_dir, e.size) for e in inner.entries] == [
        ("sub", True, None),
        ("a.txt", False, 1),
    ]
    with pytest.raises(NotFound, match="no server folder 'other'"):
        transfers.list_folder(app, ann, "other")
    with pytest.raises(NotFound, match="does not exist"):
        transfers.list_folder(app, ann, "gone")
    with pytest.raises(UnsafePath):
        transfers.list_folder(app, ann, "incoming", "../secret")
    with pytest.raises(UnsafePath, match="outside"):
        transfers.list_folder(app, ann, "incoming", "escape")
    with pytest.raises(NotFound, match="no folder"):
        transfers.list_folder(app, ann, "incoming", "batch-2")
    with pytest.raises(PermissionDenied):
        transfers.list_folder(app, principal(site, "vic"), "incoming")


def test_ingest_from_a_server_folder_queues_one_job(folders: tuple[Site, Path]) -> None:
    site, root = folders
    app, ann = site.application, principal(site, "ann")
    job = transfers.ingest_from_folder(
        app,
        ann,
        folder="incoming",
        path="batch-1",
        collection="ours/photos",
        description={"title": "Batch one"},
        request_id="abc123",
    )
    assert job.kind == "ingest" and job.requested_by == "ann"
    assert job.payload["paths"] == [str(root / "batch-1")]
    again = transfers.ingest_from_folder(
        app,
        ann,
        folder="incoming",
        path="batch-1",
        collection="ours/photos",
        description={"title": "Batch one"},
        request_id="abc123",
    )
    assert again.id == job.id
    with pytest.raises(InvalidInput, match="inside the server folder"):
        transfers.ingest_from_folder(app, ann, folder="incoming", path="", collection="photos")
    with pytest.raises(NotFound):
        transfers.ingest_from_folder(
            app, principal(site, "tom"), folder="incoming", path="batch-1", collection="ours/photos"
        )


def test_a_bad_metadata_csv_is_refused_at_completion_and_nothing_is_queued(people: Site) -> None:
    app, ann = people.application, principal(people, "ann")
    transfer = open_transfer(people)
    put(people, transfer.id, "photos-1923/a.txt", b"abc")
    table = b"path,titel\nphotos-1923,Typo in the header\n"
    record = transfers.create_upload(
        app,
        ann,
        transfer_id=transfer.id,
        relative_path="_metadata/delivery.csv",
        length=len(table),
        metadata={"role": "metadata"},
    )
    pieces = [table]
    transfers.append(
        app,
        ann,
        record.id,
        offset=0,
        read=lambda n: pieces.pop(0) if pieces else b"",
        content_length=len(table),
    )
    with pytest.raises(InvalidInput, match="titel"):
        transfers.complete(app, ann, transfer.id)
    assert transfers.get_transfer(app, ann, transfer.id).state == "open"
    assert jobs.list_jobs(app) == []
    transfers.discard_transfer(app, ann, transfer.id)
    assert not (Path(people.settings.upload_dir) / transfer.id).exists()
