"""Ingest through the API: transfers (create, follow), starting an ingest from a completed
transfer or a server folder (202 with the job, once per transfer or Idempotency-Key), and the
whole scripted flow with a real worker: create a transfer, upload with tuspy using the token,
POST the ingest, poll the job until it succeeds, find the package, download its bag."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from preserve.catalogue.models import AuditEntry
from tests.web.api_support import api_site, assert_problem
from tests.web.conftest import Site, make_site
from tests.web.uploads_support import Stream, client, metadata, serve

PATIENCE = 120.0


def test_transfers_and_ingests_check_roles_and_input(site_any: Site, tmp_path: Path) -> None:
    api = api_site(site_any, tmp_path, packages=False)
    body = {"collection": "photos", "name": "photos-1923", "description": {"title": ["Docks"]}}
    assert_problem(api.post("/api/v1/transfers", "viewer", json={**body, "organisation": "ours"}),
                   403)  # fmt: skip
    assert_problem(api.post("/api/v1/transfers", "viewer", json=body), 404)  # none to ingest into
    assert_problem(
        api.post("/api/v1/transfers", "outsider", json={**body, "organisation": "ours"}), 404
    )
    for bad, field in (
        ({"name": "x"}, "collection"),
        ({**body, "name": ""}, "name"),
        ({**body, "colour": "red"}, "colour"),
        ({**body, "expected_bytes": -1}, "expected_bytes"),
    ):
        problem = assert_problem(api.post("/api/v1/transfers", json=bad), 400, field)
        assert field in problem["errors"]
    # a body that is not JSON, or not an object
    bad_json = api.post("/api/v1/transfers", data="{name", content_type="application/json")
    assert assert_problem(bad_json, 400, "JSON")["errors"] == {"body": ["Invalid JSON body."]}
    assert "body" in assert_problem(api.post("/api/v1/transfers", json=[1]), 400)["errors"]
    assert_problem(api.post("/api/v1/transfers", data={"name": "x"}), 415, "application/json")
    made = api.post("/api/v1/transfers", json=body)
    assert made.status_code == 201, made.get_data(as_text=True)
    transfer = made.get_json()
    assert made.headers["Location"] == transfer["url"]
    assert transfer["phase"] == "uploading" and transfer["upload_url"].endswith("/uploads/")
    assert api.get(transfer["url"]).get_json()["id"] == transfer["id"]
    # the audit log says it came through the API, by whom
    with site_any.application.uow() as uow:
        entry = uow.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "transfer.create")
        ).one()
        assert (entry.channel, entry.username, entry.object_id) == (
            "api",
            "archivist",
            transfer["id"],
        )
    assert_problem(api.get(transfer["url"], "outsider"), 404)
    assert_problem(api.get("/api/v1/transfers/nothing"), 404)

    for bad, field in (
        ({}, "transfer_id"),
        ({"transfer_id": transfer["id"], "folder": "scans"}, "transfer_id"),
        ({"transfer_id": transfer["id"], "title": "x"}, "title"),
        ({"folder": "scans", "collection": "photos"}, "path"),
    ):
        problem = assert_problem(api.post("/api/v1/ingests", json=bad), 400, field)
        assert field in problem["errors"]
    # nothing uploaded yet: not ready; another's transfer: not found
    assert api.post("/api/v1/ingests", json={"transfer_id": transfer["id"]}).status_code == 400
    assert_problem(api.post("/api/v1/ingests", "outsider", json={"transfer_id": transfer["id"]}),
                   404)  # fmt: skip
    # no server folders configured
    folder = {"folder": "scans", "path": "a", "collection": "photos"}
    assert_problem(api.post("/api/v1/ingests", json=folder), 404, "PRESERVE_INGEST_FOLDERS")


def test_a_server_folder_ingest_is_queued_once_per_idempotency_key(tmp_path: Path) -> None:
    scans = tmp_path / "scans"
    (scans / "box-1").mkdir(parents=True)
    (scans / "box-1" / "page.txt").write_text("page 1\n")
    site = make_site(tmp_path / "site", f"sqlite:///{tmp_path / 'c.sqlite3'}")
    try:
        site.app.extensions["preserve"].settings = site.settings = site.settings.with_overrides(
            ingest_folders=(f"scans={scans}",)
        )
        api = api_site(site, tmp_path, packages=False)
        body = {"folder": "scans", "path": "box-1", "collection": "photos", "title": "Box 1"}
        assert_problem(api.post("/api/v1/ingests", "viewer", json=body), 403)
        assert_problem(api.post("/api/v1/ingests", json={**body, "path": "../etc"}), 400)
        assert_problem(api.post("/api/v1/ingests", json={**body, "path": "box-9"}), 404, "box-9")
        first = api.post("/api/v1/ingests", json=body, headers={"Idempotency-Key": "box-1"})
        assert first.status_code == 202, first.get_data(as_text=True)
        job = first.get_json()
        assert job["kind"] == "ingest" and job["requested_by"] == "archivist"
        assert first.headers["Location"] == job["url"]
        again = api.post("/api/v1/ingests", json=body, headers={"Idempotency-Key": "box-1"})
        assert again.get_json()["id"] == job["id"]
        # the same key from another person is another request
        other = api.post("/api/v1/ingests", "orgadmin", json=body,
                         headers={"Idempotency-Key": "box-1"})  # fmt: skip
        assert other.status_code == 202 and other.get_json()["id"] != job["id"]
    finally:
        site.application.close()


def _start_worker(site: Site, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "preserve.cli", "worker", "--concurrency", "1"],
            env={**os.environ, **site.repo.env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + PATIENCE
    while " ready." not in log.read_text(errors="replace"):
        if worker.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the worker did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)
    return worker


def test_a_script_uploads_ingests_waits_finds_and_downloads(site_any: Site, tmp_path: Path) -> None:
    site = site_any
    api = api_site(site, tmp_path, packages=False)
    token = api.tokens["archivist"]
    files = {"docks/quay.txt": b"the quay in 1923\n", "docks/ships/list.txt": b"ships\n" * 1000}
    with serve(site.app) as served:
        transfer = api.post(
            "/api/v1/transfers",
            json={"collection": "photos", "name": "docks-1923",
                  "description": {"title": ["Docks of Antwerp"], "creator": ["Ann"]}},
        ).get_json()  # fmt: skip
        tus = client(served, token)
        for path, data in files.items():
            uploader = tus.uploader(
                file_stream=Stream(data),
                chunk_size=4096,
                metadata=metadata(transfer["id"], path),
            )
            uploader.upload()
        status = api.get(transfer["url"]).get_json()
        assert status["files_complete"] == 2 and status["bytes_received"] == 6017
    worker = _start_worker(site, tmp_path / "worker.log")
    try:
        started = api.post("/api/v1/ingests", json={"transfer_id": transfer["id"]})
        assert started.status_code == 202, started.get_data(as_text=True)
        job = started.get_json()
        # completing again (a re-sent request) gives the same job
        again = api.post("/api/v1/ingests", json={"transfer_id": transfer["id"]})
        assert again.get_json()["id"] == job["id"]
        deadline = time.monotonic() + PATIENCE
        while job["state"] in ("queued", "running"):
            assert time.monotonic() < deadline, (job, (tmp_path / "worker.log").read_text())
            time.sleep(0.3)
            job = api.get(started.headers["Location"]).get_json()
        assert job["state"] == "succeeded", job
        assert job["progress"] == 1.0
    finally:
        os.killpg(worker.pid, 9)
        worker.wait(timeout=30)
    done = api.get(transfer["url"]).get_json()
    assert done["phase"] == "succeeded" and len(done["package_ids"]) == 1
    found = api.get("/api/v1/packages?q=antwerp").get_json()
    assert [p["id"] for p in found["items"]] == done["package_ids"]
    bag = api.get(f"/api/v1/packages/{done['package_ids'][0]}/bag")
    assert bag.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(bag.data))
    names = {n.split("/", 1)[1]: n for n in archive.namelist()}
    assert "bagit.txt" in names
    # the folder the files were picked in ("docks/") is the delivery: its content is the payload
    for path, data in files.items():
        assert archive.read(names["data/" + path.removeprefix("docks/")]) == data
