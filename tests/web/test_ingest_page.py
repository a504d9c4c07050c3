"""The ingest page and its JSON endpoints (web/views/ingest.py), through the Flask test client;
and the whole way with a real worker: a folder of images and a PDF uploaded with tuspy,
completed, ingested, the package holding the files under their folder paths with the form's
title."""

from __future__ import annotations

import base64
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from PIL import Image

from preserve.services import jobs, transfers
from tests.web.conftest import Site, csrf_token
from tests.web.uploads_support import (
    Sha256Uploader,
    Stream,
    app_with,
    client,
    metadata,
    principal,
    serve,
    token,
)
from tests.workers.conftest import PATIENCE, Broker, Workers, wait_until


@pytest.fixture
def people(site: Site) -> Site:
    site.user("ann")
    site.user("tom", organisation="theirs")
    site.user("vic", role="viewer")
    return site


def json_post(browser: FlaskClient, url: str, body: Any) -> Any:
    return browser.post(url, json=body, headers={"X-CSRFToken": csrf_token(browser)})


def test_the_page_offers_only_collections_the_person_may_ingest_into(people: Site) -> None:
    page = people.client("ann").get("/ingest")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'value="ours/photos"' in html and "letters" not in html
    assert "needs JavaScript" in html  # shown until the script hides it
    assert 'id="upload-form" class="form" hidden' in html
    assert "vendor/uppy/uppy.min.css" in html and "js/ingest.js" in html
    assert "<script>" not in html and "style=" not in html  # CSP: no inline script or style
    for field in ("dc-title", "dc-creator", "dc-date", "dc-description", "dc-subject", "dc-rights"):
        assert f'<label for="{field}">' in html
    viewer = people.client("vic").get("/ingest").get_data(as_text=True)
    assert "archivist role" in viewer and "upload-form" not in viewer
    assert people.client().get("/ingest").status_code == 302  # sign in first


def test_the_page_speaks_dutch_and_loads_uppys_dutch_strings(people: Site) -> None:
    people.user("noor", locale="nl")
    html = people.client("noor").get("/ingest").get_data(as_text=True)
    assert '<html lang="nl">' in html
    assert "vendor/uppy/nl_NL.min.js" in html and "fr_FR" not in html


def test_transfer_json_endpoints(people: Site) -> None:
    browser = people.client("ann")
    refused = browser.post("/ingest/transfers", json={"collection": "ours/photos", "name": "x"})
    assert refused.status_code == 400  # no CSRF header
    bad = json_post(browser, "/ingest/transfers", {"collection": "ours/photos", "name": ""})
    assert bad.status_code == 400 and "name" in bad.get_json()["detail"]
    theirs = json_post(browser, "/ingest/transfers", {"collection": "theirs/letters", "name": "x"})
    assert theirs.status_code == 404
    created = json_post(
        browser,
        "/ingest/transfers",
        {"collection": "ours/photos", "name": "photos-1923", "description": {"title": "T"}},
    )
    assert created.status_code == 201
    transfer = created.get_json()
    assert transfer["state"] == "open" and transfer["description"] == {"title": ["T"]}
    assert browser.get(transfer["status_url"]).get_json()["phase"] == "uploading"
    assert people.client("tom").get(f"/ingest/transfers/{transfer['id']}").status_code == 404
    early = json_post(browser, transfer["complete_url"], {})
    assert early.status_code == 400 and "no files" in early.get_json()["detail"]
    # a file through the tus endpoint with the session's CSRF header
    tus = {"Tus-Resumable": "1.0.0", "X-CSRFToken": csrf_token(browser)}
    meta = ",".join(
        f"{k} {base64.b64encode(v.encode()).decode()}"
        for k, v in metadata(transfer["id"], "photos-1923/a.txt").items()
    )
    url = browser.post(
        "/uploads/", headers={**tus, "Upload-Length": "3", "Upload-Metadata": meta}
    ).headers["Location"]
    browser.patch(
        url,
        data=b"abc",
        headers={**tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
    )
    listed = browser.get(f"/ingest/transfers/{transfer['id']}").get_json()
    assert listed["uploads"][0]["complete"] and listed["bytes_received"] == 3
    html = browser.get("/ingest").get_data(as_text=True)
    assert "Your unfinished uploads" in html and f'data-transfer-id="{transfer["id"]}"' in html
    done = json_post(browser, transfer["complete_url"], {})
    assert done.status_code == 202
    again = json_post(browser, transfer["complete_url"], {})
    assert again.get_json()["job_id"] == done.get_json()["job_id"]
    status = browser.get(transfer["status_url"]).get_json()
    assert status["phase"] == "queued" and status["job"]["id"] == done.get_json()["job_id"]
    page = browser.get(transfer["page_url"])
    assert page.status_code == 200
    discard = browser.post(
        f"/ingest/transfers/{transfer['id']}/discard", data={"csrf_token": csrf_token(browser)}
    )
    assert discard.status_code == 400  # its ingest is queued


def test_a_double_submission_opens_one_transfer(people: Site) -> None:
    """Trial F9: the page sends its form's request id with each POST; twice is one transfer."""
    browser = people.client("ann")
    body = {"collection": "ours/photos", "name": "Dubbel klik", "request_id": "r-123"}
    first = json_post(browser, "/ingest/transfers", body)
    second = json_post(browser, "/ingest/transfers", body)
    assert first.status_code == second.status_code == 201
    assert second.get_json()["id"] == first.get_json()["id"]
    app = people.application
    listed = transfers.open_transfers(app, principal(people, "ann"))
    assert [t.id for t in listed] == [first.get_json()["id"]]


def test_a_delivery_already_preserved_says_so_and_that_the_description_was_not_applied(
    people: Site,
) -> None:
    """Trial F8: the same folder again said "Ingested."; the job's result says it was a
    duplicate of a package, and the status now says so (and that the title was not applied)."""
    browser = people.client("ann")
    app, ann = people.application, principal(people, "ann")
    body = {"collection": "ours/photos", "name": "again", "description": {"title": "New title"}}
    transfer_id = json_post(browser, "/ingest/transfers", body).get_json()["id"]
    transfers.create_upload(app, ann, transfer_id=transfer_id, relative_path="a.txt", length=0)
    job_id = transfers.complete(app, ann, transfer_id).job_id or ""
    jobs.claim(app, job_id, "w", timedelta(minutes=1))
    result = {"packages": [{"package_id": None, "status": "duplicate", "duplicate_of": "p-1"}]}
    jobs.succeed(app, job_id, "w", result)
    status = browser.get(f"/ingest/transfers/{transfer_id}/status").get_json()
    assert status["phase"] == "succeeded"
    assert status["packages"] == [{"id": "p-1", "url": "/packages/p-1", "duplicate": True}]
    assert status["description_not_applied"] is True
    page = browser.get("/ingest").get_data(as_text=True)
    assert "already preserved" in page and "Edit the description" in page


def test_the_page_script_gets_plurals_and_a_row_per_unfinished_upload(people: Site) -> None:
    """Trial F4/F6: "1 files" and "file(s)": the script gets ngettext's singular and plural;
    the chosen-folder list ends in "and N more"; a resumed upload's row can be removed."""
    browser = people.client("ann")
    transfer_id = json_post(
        browser, "/ingest/transfers", {"collection": "ours/photos", "name": "half"}
    ).get_json()["id"]
    page = browser.get("/ingest").get_data(as_text=True)
    assert "%(count)s file, %(size)s" in page and "%(count)s files, %(size)s" in page
    assert "file(s)" not in page
    assert "and %(count)s more" in page
    assert f'id="unfinished-{transfer_id}"' in page


def test_discard_from_the_page(people: Site) -> None:
    browser = people.client("ann")
    created = json_post(browser, "/ingest/transfers", {"collection": "photos", "name": "old"})
    transfer_id = created.get_json()["id"]
    gone = browser.post(
        f"/ingest/transfers/{transfer_id}/discard", data={"csrf_token": csrf_token(browser)}
    )
    assert gone.status_code == 302
    assert "Your unfinished uploads" not in browser.get("/ingest").get_data(as_text=True)


def test_server_folder_form(people: Site, tmp_path: Path) -> None:
    root = tmp_path / "incoming"
    (root / "batch-1").mkdir(parents=True)
    (root / "batch-1" / "a.txt").write_text("a")
    app_with(people, ingest_folders=(f"incoming={root}",))
    browser = people.client("ann")
    html = browser.get("/ingest?folder=incoming").get_data(as_text=True)
    assert "From a server folder" in html and "batch-1/" in html
    inner = browser.get("/ingest?folder=incoming&path=batch-1").get_data(as_text=True)
    assert "a.txt" in inner and 'name="request_id"' in inner
    assert browser.get("/ingest?folder=nope").status_code == 404
    assert browser.get("/ingest?folder=incoming&path=../..").status_code == 400
    form = {
        "csrf_token": csrf_token(browser),
        "folder": "incoming",
        "path": "batch-1",
        "collection": "ours/photos",
        "title": "Batch one",
        "request_id": "r1",
    }
    queued = browser.post("/ingest/folder", data=form)
    assert queued.status_code == 302
    again = browser.post("/ingest/folder", data=form)
    assert again.status_code == 302
    assert len([j for j in jobs.list_jobs(people.application) if j.kind == "ingest"]) == 1
    escape = browser.post("/ingest/folder", data={**form, "path": "../x", "request_id": "r2"})
    assert escape.status_code == 400
    viewer = people.client("vic")
    refused = viewer.post(
        "/ingest/folder", data={**form, "csrf_token": csrf_token(viewer), "request_id": "r3"}
    )
    assert refused.status_code == 403


def png(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), colour).save(out, "PNG")
    return out.getvalue()


PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 10 10]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def test_upload_a_folder_and_a_worker_ingests_it(people: Site, tmp_path: Path) -> None:
    files = {
        "photos-1923/plates/plate-01.png": png((200, 10, 10)),
        "photos-1923/plates/plate-02.png": png((10, 200, 10)),
        "photos-1923/notes.pdf": PDF,
    }
    browser = people.client("ann")
    created = json_post(
        browser,
        "/ingest/transfers",
        {
            "collection": "ours/photos",
            "name": "photos-1923",
            "description": {"title": "Glass plates of Ghent", "creator": "Unknown"},
        },
    ).get_json()
    bearer = token(people, "ann")
    with serve(people.app) as served:
        for path, data in files.items():
            with Stream(data) as stream:
                Sha256Uploader(
                    file_stream=stream,
                    client=client(served, bearer),
                    chunk_size=1000,
                    metadata=metadata(created["id"], path),
                    upload_checksum=True,
                ).upload()
    done = json_post(browser, created["complete_url"], {})
    assert done.status_code == 202
    workers = Workers(people.repo, Broker("filesystem", "", ""), tmp_path)
    try:
        worker = workers.start()

        def finished() -> Any:
            status = browser.get(created["status_url"]).get_json()
            return status if status["phase"] in ("succeeded", "failed") else None

        status = wait_until(finished, "the ingest job", PATIENCE, worker)
    finally:
        workers.stop_all()
    assert status["phase"] == "succeeded", status
    package_id = status["packages"][0]["id"]
    assert status["packages"][0]["url"].endswith(f"/packages/{package_id}")
    shown = people.repo.json("show", package_id, "--json")
    assert shown["summary"]["title"] == "Glass plates of Ghent"
    assert shown["description"]["creator"] == ["Unknown"]
    assert shown["external_identifier"] == "photos-1923"
    payload = sorted(f["path"] for f in shown["files"] if f["role"] == "payload")
    assert payload == ["data/notes.pdf", "data/plates/plate-01.png", "data/plates/plate-02.png"]
    # the package is in storage: the uploaded files are gone
    assert not (Path(people.settings.upload_dir) / created["id"]).exists()
    assert transfers.open_transfers(people.application, principal(people, "ann")) == []
