"""The tus 1.0 server (web/tus.py) spoken to by a real client (tuspy) over real HTTP: creation,
chunks, HEAD offsets, resuming after a kill at each step, checksums, offsets, sizes, paths,
other organisations, CSRF, room on disk, expiry."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from tusclient.exceptions import TusCommunicationError

from preserve.services import transfers
from tests.web.conftest import Site, csrf_token
from tests.web.uploads_support import (
    MemoryStorage,
    Served,
    Sha256Uploader,
    Stream,
    app_with,
    client,
    metadata,
    open_transfer,
    principal,
    serve,
    token,
)

MiB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0"}


@pytest.fixture
def people(site: Site) -> Site:
    site.user("ann")  # archivist of ours
    site.user("tom", organisation="theirs")  # archivist of theirs
    site.user("vic", role="viewer")  # viewer of ours
    return site


def source(tmp_path: Path, size: int, name: str = "scan.tif") -> Path:
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return path


def head(url: str, bearer: str) -> requests.Response:
    return requests.head(url, headers={**TUS, "Authorization": f"Bearer {bearer}"}, timeout=30)


def create(
    served_uploads: str, bearer: str, transfer_id: str, path: str, length: int
) -> requests.Response:
    encoded = ",".join(
        f"{k} {base64.b64encode(v.encode()).decode()}"
        for k, v in metadata(transfer_id, path).items()
    )
    return requests.post(
        served_uploads,
        headers={
            **TUS,
            "Authorization": f"Bearer {bearer}",
            "Upload-Length": str(length),
            "Upload-Metadata": encoded,
        },
        timeout=30,
    )


def new_upload(served: Served, bearer: str, transfer_id: str, path: str, length: int) -> str:
    """The URL of a new upload."""
    created = create(served.uploads, bearer, transfer_id, path, length)
    assert created.status_code == 201, created.text
    return f"{served.url}{created.headers['Location']}"


def delete(url: str, bearer: str) -> requests.Response:
    return requests.delete(url, headers={**TUS, "Authorization": f"Bearer {bearer}"}, timeout=30)


def patch(url: str, bearer: str, offset: int, body: bytes, **headers: str) -> requests.Response:
    return requests.patch(
        url,
        data=body,
        headers={
            **TUS,
            "Authorization": f"Bearer {bearer}",
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
            **headers,
        },
        timeout=30,
    )


def stored(site: Site, transfer_id: str, upload_url: str) -> Path:
    return Path(site.settings.upload_dir) / transfer_id / upload_url.rstrip("/").rsplit("/", 1)[1]


def test_options_advertise_the_protocol(people: Site) -> None:
    with serve(people.app) as served:
        response = requests.options(served.uploads, timeout=30)
    assert response.status_code == 204
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert response.headers["Tus-Version"] == "1.0.0"
    assert set(response.headers["Tus-Extension"].split(",")) == {
        "creation",
        "creation-with-upload",
        "termination",
        "expiration",
        "checksum",
    }
    assert response.headers["Tus-Max-Size"] == str(people.settings.upload_max_size)
    assert response.headers["Tus-Checksum-Algorithm"] == "sha256"


def test_upload_in_chunks_with_tuspy_and_head_offsets(people: Site, tmp_path: Path) -> None:
    data = source(tmp_path, 5 * MiB + 123)
    transfer = open_transfer(people)
    bearer = token(people, "ann")
    with serve(people.app) as served, Stream(data.read_bytes()) as stream:
        uploader = Sha256Uploader(
            file_stream=stream,
            client=client(served, bearer),
            chunk_size=2 * MiB,
            metadata=metadata(transfer.id, "photos-1923/scans/scan.tif"),
            upload_checksum=True,
        )
        uploader.upload(stop_at=2 * MiB)
        assert int(head(uploader.url, bearer).headers["Upload-Offset"]) == 2 * MiB
        uploader.upload()
        answer = head(uploader.url, bearer)
    assert answer.status_code == 200
    assert (
        answer.headers["Upload-Offset"]
        == answer.headers["Upload-Length"]
        == str(data.stat().st_size)
    )
    assert answer.headers["Cache-Control"] == "no-store"
    assert "Upload-Expires" in answer.headers
    assert stored(people, transfer.id, uploader.url).read_bytes() == data.read_bytes()
    found = transfers.get_transfer(people.application, principal(people, "ann"), transfer.id)
    assert [u.relative_path for u in found.uploads] == ["photos-1923/scans/scan.tif"]
    assert found.uploads[0].complete


def test_killed_after_creation_resumes_from_the_stored_url(people: Site, tmp_path: Path) -> None:
    data = source(tmp_path, 3 * MiB)
    transfer = open_transfer(people)
    bearer = token(people, "ann")
    storage = MemoryStorage()
    with serve(people.app) as served, Stream(data.read_bytes()) as stream:
        first = Sha256Uploader(
            file_stream=stream,
            client=client(served, bearer),
            chunk_size=MiB,
            metadata=metadata(transfer.id, "photos-1923/a.tif"),
            store_url=True,
            url_storage=storage,
        )
        first.set_url(first.create_url())  # created (and recorded), no byte sent: "killed"
        url = first.url
        assert head(url, bearer).headers["Upload-Offset"] == "0"
        again = Sha256Uploader(
            file_stream=stream,
            client=client(served, bearer),
            chunk_size=MiB,
            metadata=metadata(transfer.id, "photos-1923/a.tif"),
            store_url=True,
            url_storage=storage,
        )
        assert again.url == url and again.offset == 0
        again.upload(stop_at=2 * MiB)  # killed between two chunks
        third = Sha256Uploader(
            file_stream=stream,
            client=client(served, bearer),
            chunk_size=MiB,
            metadata=metadata(transfer.id, "photos-1923/a.tif"),
            store_url=True,
            url_storage=storage,
        )
        assert third.url == url and third.offset == 2 * MiB
        third.upload()
    assert stored(people, transfer.id, url).read_bytes() == data.read_bytes()


def test_connection_closed_halfway_through_a_chunk_keeps_what_arrived(
    people: Site, tmp_path: Path
) -> None:
    data = source(tmp_path, 4 * MiB)
    transfer = open_transfer(people)
    bearer = token(people, "ann")
    with serve(people.app) as served:
        created = create(served.uploads, bearer, transfer.id, "photos-1923/b.tif", 4 * MiB)
        assert created.status_code == 201
        url = f"{served.url}{created.headers['Location']}"
        # a PATCH announcing 4 MiB whose connection drops after 1.5 MiB
        parts = urlsplit(url)
        with socket.create_connection((parts.hostname, parts.port)) as conn:
            conn.sendall(
                (
                    f"PATCH {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                    f"Tus-Resumable: 1.0.0\r\nAuthorization: Bearer {bearer}\r\n"
                    "Content-Type: application/offset+octet-stream\r\n"
                    f"Upload-Offset: 0\r\nContent-Length: {4 * MiB}\r\n\r\n"
                ).encode()
            )
            conn.sendall(data.read_bytes()[: 3 * MiB // 2])
        # the server keeps the bytes that arrived (fsynced), and says so
        offset = None
        for _attempt in range(200):
            offset = int(head(url, bearer).headers["Upload-Offset"])
            if offset:
                break
            time.sleep(0.05)
        assert offset == 3 * MiB // 2
        with Stream(data.read_bytes()) as stream:
            uploader = Sha256Uploader(
                file_stream=stream, url=url, client=client(served, bearer), chunk_size=MiB
            )
            assert uploader.offset == 3 * MiB // 2
            uploader.upload()
    assert stored(people, transfer.id, url).read_bytes() == data.read_bytes()


def test_bytes_beyond_the_committed_offset_are_cut_off(people: Site, tmp_path: Path) -> None:
    """A crash after the write and before the commit left bytes on disk that the catalogue
    never claimed: the offset stays the committed one, and the next chunk overwrites them."""
    data = source(tmp_path, 2 * MiB)
    transfer = open_transfer(people)
    bearer = token(people, "ann")
    with serve(people.app) as served:
        url = new_upload(served, bearer, transfer.id, "x/c.tif", 2 * MiB)
        assert patch(url, bearer, 0, data.read_bytes()[:MiB]).status_code == 204
        with open(stored(people, transfer.id, url), "ab") as f:
            f.write(b"garbage the catalogue never claimed")
        assert head(url, bearer).headers["Upload-Offset"] == str(MiB)
        assert patch(url, bearer, MiB, data.read_bytes()[MiB:]).status_code == 204
    assert stored(people, transfer.id, url).read_bytes() == data.read_bytes()


def test_checksum_mismatch_is_460_and_keeps_nothing(people: Site, tmp_path: Path) -> None:
    transfer = open_transfer(people)
    bearer = token(people, "ann")
    body = os.urandom(1000)
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    right = base64.b64encode(hashlib.sha256(body).digest()).decode()
    with serve(people.app) as served:
        url = new_upload(served, bearer, transfer.id, "x/d.bin", 1000)
        refused = patch(url, bearer, 0, body, **{"Upload-Checksum": f"sha256 {wrong}"})
        assert refused.status_code == 460
        assert refused.headers["Content-Type"] == "application/problem+json"
        assert "SHA-256" in refused.json()["detail"]
        assert head(url, bearer).headers["Upload-Offset"] == "0"
        sha1 = base64.b64encode(hashlib.sha1(body).digest()).decode()
        other = patch(url, bearer, 0, body, **{"Upload-Checksum": f"sha1 {sha1}"})
        assert other.status_code == 400 and "sha256" in other.json()["detail"]
        assert (
            patch(url, bearer, 0, body, **{"Upload-Checksum": f"sha256 {right}"}).status_code == 204
        )


def test_wrong_offset_409_wrong_type_415_longer_than_announced_413(people: Site) -> None:
    transfer = open_transfer(people)
    bearer = token(people, "ann")
    with serve(people.app) as served:
        url = new_upload(served, bearer, transfer.id, "x/e.bin", 100)
        conflict = patch(url, bearer, 10, b"x" * 10)
        assert conflict.status_code == 409
        assert "stands at byte 0" in conflict.json()["detail"]
        wrong_type = patch(url, bearer, 0, b"x" * 10, **{"Content-Type": "text/plain"})
        assert wrong_type.status_code == 415
        too_long = patch(url, bearer, 0, b"x" * 101)
        assert too_long.status_code == 413
        assert "announced length" in too_long.json()["detail"]
        no_offset = requests.patch(
            url,
            data=b"x",
            headers={
                **TUS,
                "Authorization": f"Bearer {bearer}",
                "Content-Type": "application/offset+octet-stream",
            },
            timeout=30,
        )
        assert no_offset.status_code == 400 and "Upload-Offset" in no_offset.json()["detail"]
        old = requests.patch(
            url, data=b"x", headers={"Authorization": f"Bearer {bearer}"}, timeout=30
        )
        assert old.status_code == 412
        assert head(url, bearer).headers["Upload-Offset"] == "0"


def test_files_and_transfers_too_large_are_refused_before_any_byte(people: Site) -> None:
    app = app_with(people, upload_max_size=1000, transfer_max_size=1500)
    transfer = open_transfer(people)
    bearer = token(people, "ann")
    with serve(app) as served:
        big = create(served.uploads, bearer, transfer.id, "x/big.bin", 1001)
        assert big.status_code == 413
        assert "at most 1,000 bytes" in big.json()["detail"]
        assert create(served.uploads, bearer, transfer.id, "x/one.bin", 1000).status_code == 201
        second = create(served.uploads, bearer, transfer.id, "x/two.bin", 600)
        assert second.status_code == 413
        assert "PRESERVE_TRANSFER_MAX_SIZE" in second.json()["detail"]
    files = sorted(p.name for p in (Path(people.settings.upload_dir) / transfer.id).iterdir())
    assert len(files) == 1  # only the accepted upload has a file


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/etc/passwd", "absolute path"),
        ("photos/../../etc/passwd", "'..'"),
        ("photos/a\x00b.tif", "NUL"),
        ("photos/a\x07b.tif", "control character"),
        ("photos/a\nb.tif", "control character"),
        ("photos\\a.tif", "backslash"),
        ("photos//a.tif", "empty segment"),
        ("photos/a.tif/", "empty segment"),
        ("photos/./a.tif", "'.' segment"),
        ("C:/photos/a.tif", "drive letter"),
        ("~/a.tif", "'~'"),
    ],
)
def test_unsafe_paths_are_refused(people: Site, path: str, reason: str) -> None:
    transfer = open_transfer(people)
    with pytest.raises(transfers.UnsafePath, match=reason):
        transfers.create_upload(
            people.application,
            principal(people, "ann"),
            transfer_id=transfer.id,
            relative_path=path,
            length=1,
        )
    assert not (Path(people.settings.upload_dir) / transfer.id).exists()


def test_unsafe_path_over_http_is_a_problem_document(people: Site) -> None:
    transfer = open_transfer(people)
    bearer = token(people, "ann")
    with serve(people.app) as served:
        refused = create(served.uploads, bearer, transfer.id, "../outside.txt", 5)
    assert refused.status_code == 400
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert "'..'" in refused.json()["detail"]


def test_duplicates_and_collisions_within_a_transfer(people: Site) -> None:
    app, ann = people.application, principal(people, "ann")
    transfer = open_transfer(people)

    def add(path: str, length: int = 0) -> transfers.UploadRecord:
        return transfers.create_upload(
            app, ann, transfer_id=transfer.id, relative_path=path, length=length
        )

    add("f/Núñez.txt")  # NFC; empty, so complete at once
    with pytest.raises(transfers.InvalidInput, match="already in this transfer"):
        add("f/Núñez.txt")
    with pytest.raises(transfers.InvalidInput, match="NFC"):
        add("f/Nu\u0301n\u0303ez.txt")
    with pytest.raises(transfers.InvalidInput, match="a file and a folder"):
        add("f/Núñez.txt/inside.txt")
    # an unfinished upload announced again (a browser that lost its record) is replaced
    first = add("f/big.bin", 10)
    second = add("f/big.bin", 10)
    assert first.id != second.id
    found = transfers.get_transfer(app, ann, transfer.id)
    assert sorted(u.relative_path for u in found.uploads) == ["f/Núñez.txt", "f/big.bin"]


def test_another_organisations_upload_is_404_and_a_viewer_is_refused(people: Site) -> None:
    transfer = open_transfer(people)
    ann, tom, vic = token(people, "ann"), token(people, "tom"), token(people, "vic")
    with serve(people.app) as served:
        url = new_upload(served, ann, transfer.id, "x/f.bin", 10)
        unknown = f"{served.uploads}00000000-0000-0000-0000-000000000000"
        for other in (url, unknown):
            assert head(other, tom).status_code == 404
            assert patch(other, tom, 0, b"x" * 10).status_code == 404
        assert head(url, tom).status_code == head(unknown, tom).status_code
        assert create(served.uploads, tom, transfer.id, "x/g.bin", 1).status_code == 404
        assert (
            requests.delete(
                url, headers={**TUS, "Authorization": f"Bearer {tom}"}, timeout=30
            ).status_code
            == 404
        )
        assert patch(url, vic, 0, b"x" * 10).status_code == 403
        assert requests.head(url, headers=TUS, timeout=30).status_code == 401
        assert head(url, "pst_not-a-token").status_code == 401
        assert head(url, ann).headers["Upload-Offset"] == "0"


def test_the_browser_session_needs_its_csrf_header(people: Site) -> None:
    transfer = open_transfer(people)
    browser = people.client("ann")
    token_text = csrf_token(browser)
    headers = {
        **TUS,
        "Upload-Length": "3",
        "Upload-Metadata": f"transfer_id {base64.b64encode(transfer.id.encode()).decode()},"
        f"relativePath {base64.b64encode(b'x/h.txt').decode()}",
    }
    missing = browser.post("/uploads/", headers=headers)
    assert missing.status_code == 400
    assert "X-CSRFToken" in missing.get_json()["detail"]
    wrong = browser.post("/uploads/", headers={**headers, "X-CSRFToken": "forged"})
    assert wrong.status_code == 403
    created = browser.post("/uploads/", headers={**headers, "X-CSRFToken": token_text})
    assert created.status_code == 201
    url = created.headers["Location"]
    chunk = {**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    assert browser.patch(url, data=b"abc", headers=chunk).status_code == 400
    done = browser.patch(url, data=b"abc", headers={**chunk, "X-CSRFToken": token_text})
    assert done.status_code == 204 and done.headers["Upload-Offset"] == "3"
    assert browser.delete(url, headers=TUS).status_code == 400
    assert browser.delete(url, headers={**TUS, "X-CSRFToken": token_text}).status_code == 204
    assert browser.head(url, headers=TUS).status_code == 404


def test_creation_with_upload_and_termination(people: Site) -> None:
    transfer = open_transfer(people)
    bearer = token(people, "ann")
    encoded = ",".join(
        f"{k} {base64.b64encode(v.encode()).decode()}"
        for k, v in metadata(transfer.id, "x/i.txt").items()
    )
    with serve(people.app) as served:
        created = requests.post(
            served.uploads,
            data=b"hello",
            headers={
                **TUS,
                "Authorization": f"Bearer {bearer}",
                "Upload-Length": "11",
                "Upload-Metadata": encoded,
                "Content-Type": "application/offset+octet-stream",
            },
            timeout=30,
        )
        assert created.status_code == 201 and created.headers["Upload-Offset"] == "5"
        url = f"{served.url}{created.headers['Location']}"
        gone = requests.delete(
            url, headers={**TUS, "Authorization": f"Bearer {bearer}"}, timeout=30
        )
        assert gone.status_code == 204
        assert head(url, bearer).status_code == 404
    assert list((Path(people.settings.upload_dir) / transfer.id).iterdir()) == []


def test_no_room_on_disk_is_507_before_any_byte(people: Site) -> None:
    transfer = open_transfer(people)
    with pytest.raises(transfers.InsufficientStorage, match="needs 2,000"):
        transfers.create_upload(
            people.application,
            principal(people, "ann"),
            transfer_id=transfer.id,
            relative_path="x/j.bin",
            length=2000,
            free=lambda _path: 1999,
        )
    assert (
        transfers.get_transfer(people.application, principal(people, "ann"), transfer.id).files == 0
    )
    with people.app.test_request_context("/uploads/"):
        from preserve.web.tus import STATUSES

        assert STATUSES[transfers.InsufficientStorage] == 507


def test_abandoned_transfers_expire(people: Site, tmp_path: Path) -> None:
    transfer = open_transfer(people)
    bearer = token(people, "ann")
    with serve(people.app) as served:
        url = new_upload(served, bearer, transfer.id, "x/k.bin", 10)
        assert patch(url, bearer, 0, b"12345").status_code == 204
        folder = Path(people.settings.upload_dir) / transfer.id
        assert folder.exists()
        hours = people.settings.upload_expiry_hours
        soon = datetime.now(UTC) + timedelta(hours=hours - 1)
        assert transfers.expire_abandoned(people.application, soon) == []
        later = datetime.now(UTC) + timedelta(hours=hours, minutes=1)
        assert transfers.expire_abandoned(people.application, later) == [transfer.id]
        assert not folder.exists()
        assert head(url, bearer).status_code == 410
        assert patch(url, bearer, 5, b"67890").status_code == 410
    found = transfers.get_transfer(people.application, principal(people, "ann"), transfer.id)
    assert found.state == "expired"


def test_tuspy_reports_refusals(people: Site, tmp_path: Path) -> None:
    data = source(tmp_path, 10)
    bearer = token(people, "ann")
    with (
        serve(people.app) as served,
        Stream(data.read_bytes()) as stream,
        pytest.raises(TusCommunicationError),
    ):
        Sha256Uploader(
            file_stream=stream,
            client=client(served, bearer),
            metadata=metadata("no-such-transfer", "x/l.bin"),
        ).upload()
