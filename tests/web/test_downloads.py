"""Downloads through the web catalogue, on a local and an S3 (moto) location: one file (bytes
identical, its type, a safe Content-Disposition, HTML as an attachment), a whole version as a
zip or tar bag (extracted and validated with bagit-python: complete and valid, versions 1 and 2,
Content-Length equal to the bytes sent), dissemination events, bad paths, a copy that cannot be
read."""

from __future__ import annotations

import io
import shutil
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bagit
import pytest
from preserve.config.settings import Settings
from preserve.web import create_app

from preserve.services import package_view
from preserve.services.accounts import principal_for
from preserve.services.downloads import content_disposition
from tests.functional.cli import Repo
from tests.web.conftest import Site
from tests.web.package_support import image_folder


def _site(tmp_path: Path, storage_url: str | None) -> Site:
    extra = {"PRESERVE_STORAGE_URL": storage_url} if storage_url else {}
    repo = Repo(
        home=tmp_path / "home",
        database_url=f"sqlite:///{tmp_path / 'catalogue.sqlite3'}",
        extra_env=extra,
    )
    repo.run("init")
    repo.run("organisations", "add", "ours", "--name", "Our Museum")
    repo.run("organisations", "add", "theirs", "--name", "Their Archive")
    repo.run("collections", "add", "photos", "--organisation", "ours")
    repo.run("collections", "add", "letters", "--organisation", "theirs")
    settings = Settings.from_env(repo.env)
    app = create_app(settings)
    app.config["TESTING"] = True
    return Site(repo=repo, settings=settings, app=app)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def dsite(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    url = None if request.param == "local" else request.getfixturevalue("s3_bucket_url")
    s = _site(tmp_path, url)
    yield s
    s.application.close()


@pytest.fixture
def two_versions(dsite: Site, tmp_path: Path) -> dict[str, Any]:
    """A package in two versions: v2 changes notes.txt and adds a file (so v2's bag needs
    files stored by v1: its fetch.txt)."""
    first = image_folder(tmp_path, "v1")
    p = dsite.ingest(first, "photos", "--title", "Harbour scans")
    second = tmp_path / "v2"
    shutil.copytree(first, second)
    (second / "notes.txt").write_text("Notes, corrected.\n", encoding="utf-8")
    (second / "added.txt").write_text("A later addition.\n", encoding="utf-8")
    dsite.repo.run("ingest", second, "--new-version-of", p["id"])
    return {"id": p["id"], "v1": first, "v2": second}


def _entries(site: Site, name: str, package_id: str, version: int | None = None) -> dict:
    principal = principal_for(site.application, site.users[name])
    detail = package_view.package_detail(
        site.application, principal, package_id, version, per_page=1000
    )
    return {e.path: e for e in detail.files.entries}


def _events(site: Site, package_id: str) -> list[dict[str, Any]]:
    shown = site.repo.json("show", package_id)
    return [e for e in shown["events"] if e["event_type"] == "dissemination"]


def test_a_file_downloads_with_identical_bytes_and_safe_headers(
    dsite: Site, two_versions: dict[str, Any]
) -> None:
    name = dsite.user("vera", "viewer")
    client = dsite.client(name)
    pid = two_versions["id"]
    files = _entries(dsite, name, pid)
    png = files["data/scans/harbour.png"]
    answer = client.get(f"/packages/{pid}/files/{png.id}/download")
    assert answer.status_code == 200
    assert answer.data == (two_versions["v2"] / "scans" / "harbour.png").read_bytes()
    assert answer.mimetype == "image/png"
    assert answer.content_length == len(answer.data)
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Content-Disposition"].startswith('attachment; filename="harbour.png"')
    # an HTML file is an attachment, never shown inline
    html = files["data/page.html"]
    page = client.get(f"/packages/{pid}/files/{html.id}/download")
    assert page.headers["Content-Disposition"].startswith("attachment;")
    assert b"<script>" in page.data
    # by path, of an earlier version: that version's bytes (v1's notes)
    old = client.get(f"/packages/{pid}/download?path=data/notes.txt&version=1")
    assert old.data == (two_versions["v1"] / "notes.txt").read_bytes()
    new = client.get(f"/packages/{pid}/download?path=data/notes.txt")
    assert new.data == b"Notes, corrected.\n"
    # each download is a dissemination event naming the person, and an audit entry
    events = _events(dsite, pid)
    assert len(events) == 4
    assert all("vera" in e["detail"] for e in events)
    assert any("data/scans/harbour.png" in e["detail"] for e in events)
    from preserve.catalogue.models import AuditEntry

    with dsite.application.uow() as uow:
        audited = [
            e
            for e in uow.session.query(AuditEntry).filter_by(action="download").all()
            if e.object_id == pid
        ]
        assert len(audited) == 4 and all(e.username == "vera" for e in audited)


def test_bad_paths_and_unknown_files(dsite: Site, two_versions: dict[str, Any]) -> None:
    client = dsite.client(dsite.user("ann"))
    pid = two_versions["id"]
    for bad in ("../etc/passwd", "/etc/passwd", "data/%00x", "data\\notes.txt", "data//x", ""):
        answer = client.get(f"/packages/{pid}/download?path={bad}")
        assert answer.status_code == 400, bad
    assert client.get(f"/packages/{pid}/download?path=data/nothing.txt").status_code == 404
    # added.txt is a file of version 2, not of version 1
    assert client.get(f"/packages/{pid}/download?path=data/added.txt&version=1").status_code == 404
    assert client.get(f"/packages/{pid}/download?path=data/added.txt&version=9").status_code == 404
    assert client.get(f"/packages/{pid}/files/99999999/download").status_code == 404
    assert client.get(f"/packages/{pid}/bag.rar").status_code == 400
    # a file of another package is not found through this one
    other = dsite.ingest(image_folder(dsite.repo.home.parent, "other", html=False), "photos")
    theirs = _entries(dsite, "ann", other["id"])["data/notes.txt"]
    assert client.get(f"/packages/{pid}/files/{theirs.id}/download").status_code == 404
    # and another organisation's package is not found at all
    stranger = dsite.client(dsite.user("sam", "admin", organisation="theirs"))
    assert stranger.get(f"/packages/{pid}/files/{theirs.id}/download").status_code == 404
    assert stranger.get(f"/packages/{pid}/bag.zip").status_code == 404


def _validate(folder: Path) -> bagit.Bag:
    bag = bagit.Bag(str(folder))
    bag.validate(completeness_only=False)
    return bag


@pytest.mark.parametrize("fmt", ["zip", "tar"])
@pytest.mark.parametrize("version", [1, 2])
def test_a_whole_version_downloads_as_a_complete_valid_bag(
    dsite: Site, two_versions: dict[str, Any], tmp_path: Path, fmt: str, version: int
) -> None:
    client = dsite.client(dsite.user("ann"))
    pid = two_versions["id"]
    answer = client.get(f"/packages/{pid}/bag.{fmt}?version={version}")
    assert answer.status_code == 200
    body = answer.data
    assert answer.content_length == len(body)  # the length announced is the length sent
    assert answer.headers["Content-Disposition"].startswith(
        f'attachment; filename="{pid}-v{version}.{fmt}"'
    )
    out = tmp_path / "out"
    if fmt == "zip":
        with zipfile.ZipFile(io.BytesIO(body)) as z:
            z.extractall(out)
    else:
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:") as t:
            t.extractall(out, filter="data")
    bag_folder = out / f"{pid}-v{version}"
    bag = _validate(bag_folder)
    source = two_versions[f"v{version}"]
    payload = sorted(p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file())
    assert sorted(p.removeprefix("data/") for p in bag.payload_files()) == payload
    for path in payload:
        assert (bag_folder / "data" / path).read_bytes() == (source / path).read_bytes()
    assert not (bag_folder / "fetch.txt").exists()  # resolved: every file is in the bag
    events = _events(dsite, pid)
    assert any(f"version {version}" in e["detail"] and fmt in e["detail"] for e in events)
    # the next bag holds that dissemination event too, in an event file under metadata/events/
    again = client.get(f"/packages/{pid}/bag.{fmt}?version={version}").data
    out2 = tmp_path / "again"
    if fmt == "zip":
        with zipfile.ZipFile(io.BytesIO(again)) as z:
            z.extractall(out2)
    else:
        with tarfile.open(fileobj=io.BytesIO(again), mode="r:") as t:
            t.extractall(out2, filter="data")
    _validate(out2 / f"{pid}-v{version}")
    written = list((out2 / f"{pid}-v{version}" / "metadata" / "events").rglob("*"))
    assert any(
        b"dissemination" in f.read_bytes() and b"ann" in f.read_bytes()
        for f in written
        if f.is_file()
    )


def test_content_disposition_is_safe_for_any_name() -> None:
    value = content_disposition('café "quoted"; x.pdf')
    assert value.startswith('attachment; filename="cafe _quoted__ x.pdf"')
    assert "filename*=UTF-8''caf%C3%A9%20%22quoted%22%3B%20x.pdf" in value
    assert "\n" not in content_disposition("a\nb.txt")


def test_an_unreadable_copy_gives_503_not_a_cut_short_200(site: Site, tmp_path: Path) -> None:
    p = site.ingest(image_folder(tmp_path), "photos")
    name = site.user("ann")
    entry = _entries(site, name, p["id"])["data/notes.txt"]
    stored = [f for f in site.repo.storage_root.rglob("notes.txt") if "data" in f.parts]
    assert stored
    for f in stored:
        f.unlink()
    client = site.client(name)
    answer = client.get(f"/packages/{p['id']}/files/{entry.id}/download")
    assert answer.status_code == 503
    assert "no copy of this file can be read" in answer.get_data(as_text=True)
    assert _events(site, p["id"]) == []


def test_a_second_location_serves_when_the_first_cannot(site: Site, tmp_path: Path) -> None:
    second = tmp_path / "second"
    site.repo.run("locations", "add", "second", second.as_uri())
    site.repo.run(
        "collections", "edit", "photos", "--organisation", "ours", "--add-location", "second"
    )
    p = site.ingest(image_folder(tmp_path), "photos")
    shown = site.repo.json("show", p["id"])
    assert len({c["location"] for c in shown["copies"]}) == 2
    name = site.user("ann")
    entry = _entries(site, name, p["id"])["data/notes.txt"]
    for f in site.repo.storage_root.rglob("notes.txt"):
        f.unlink()  # gone from the default location; the copy on "second" is whole
    answer = site.client(name).get(f"/packages/{p['id']}/files/{entry.id}/download")
    assert answer.status_code == 200 and answer.data == b"Notes on the harbour.\n"
