"""The JSON API (/api/v1): tokens only (never the session cookie), problem+json errors with
the fields at fault, each endpoint for own and other organisations and each role, idempotent
POSTs, downloads."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from preserve.services import search, tokens
from preserve.services.accounts import principal_for
from tests.web.api_support import api_site, assert_problem
from tests.web.conftest import Site


def test_every_route_needs_a_valid_token_and_the_session_cookie_is_not_enough(
    site: Site, tmp_path: Path
) -> None:
    api = api_site(site, tmp_path, packages=False)
    # no header, another scheme, an unknown token, an empty bearer
    for headers in (
        {},
        {"Authorization": "Basic YW5uOnB3"},
        {"Authorization": "Bearer pst_" + "A" * 40},
        {"Authorization": "Bearer "},
    ):
        response = api.client.get("/api/v1/me", headers=headers)
        assert_problem(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    # signed in through the form: the API still wants a token
    browser = site.client("archivist")
    assert browser.get("/").status_code == 200
    assert_problem(browser.get("/api/v1/me"), 401, "token")
    assert_problem(browser.post("/api/v1/packages/x/fixity"), 401)
    # and an API response never sets a cookie
    assert "Set-Cookie" not in api.get("/api/v1/me", "archivist").headers
    # a revoked token stops at once
    who = principal_for(site.application, site.users["viewer"])
    info = next(t for t in tokens.list_tokens(site.application, who))
    tokens.revoke_token(site.application, who, info.id)
    assert_problem(api.get("/api/v1/me", "viewer"), 401, "revoked")
    # the document describing the API is public
    assert api.client.get("/api/v1/openapi.json").status_code == 200


def test_me_and_collections_show_only_ones_own_organisations(site: Site, tmp_path: Path) -> None:
    api = api_site(site, tmp_path, packages=False)
    me = api.get("/api/v1/me", "viewer").get_json()
    assert me["username"] == "viewer" and not me["is_admin"]
    assert me["organisations"] == [{"organisation": "ours", "name": "Our Museum", "role": "viewer"}]
    assert [c["slug"] for c in api.get("/api/v1/collections").get_json()["items"]] == ["photos"]
    assert [c["slug"] for c in api.get("/api/v1/collections", "outsider").get_json()["items"]] == [
        "letters"
    ]
    everything = api.get("/api/v1/collections", "root").get_json()["items"]
    assert sorted(c["slug"] for c in everything) == ["letters", "photos"]
    assert {c["role"] for c in everything} == {"admin"}
    assert_problem(api.get("/api/v1/collections?organisation=theirs"), 404, "theirs")
    assert_problem(api.get("/api/v1/collections?organisation=nowhere"), 404)
    body = assert_problem(api.get("/api/v1/collections?colour=red"), 400, "colour")
    assert "colour" in body["errors"]


def test_packages_list_detail_and_downloads_for_own_and_other_organisations(
    site_any: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = api_site(site_any, tmp_path)
    ours, theirs = api.packages["ours"]["id"], api.packages["theirs"]["id"]
    listed = api.get("/api/v1/packages", "viewer").get_json()
    assert [p["id"] for p in listed["items"]] == [ours] and listed["total"] == 1
    assert listed["items"][0]["url"].endswith(f"/api/v1/packages/{ours}")
    assert [p["id"] for p in api.get("/api/v1/packages", "outsider").get_json()["items"]] == [
        theirs
    ]
    assert api.get("/api/v1/packages", "root").get_json()["total"] == 2
    assert api.get("/api/v1/packages?q=harbour").get_json()["total"] == 1
    assert api.get("/api/v1/packages?q=letters").get_json()["total"] == 0  # theirs: not shown
    assert api.get("/api/v1/packages", "root").get_json()["total_exact"] is True
    monkeypatch.setattr(search, "COUNT_LIMIT", 1)  # more than 1: a lower bound, said so
    capped = api.get("/api/v1/packages?per_page=1", "root").get_json()
    assert (capped["total"], capped["total_exact"], bool(capped["next"])) == (1, False, True)
    every = api.get("/api/v1/packages?per_page=1&exact_count=true", "root").get_json()
    assert (every["total"], every["total_exact"]) == (2, True)
    assert_problem(api.get("/api/v1/packages?exact_count=maybe"), 400, "exact_count")
    monkeypatch.undo()
    # pages: one per page, a next link in the body and the Link header
    first = api.get("/api/v1/packages?per_page=1", "root")
    assert first.get_json()["next"] and 'rel="next"' in first.headers["Link"]
    second = api.get(first.get_json()["next"], "root").get_json()
    assert second["next"] is None and second["prev"]
    assert {first.get_json()["items"][0]["id"], second["items"][0]["id"]} == {ours, theirs}

    detail = api.get(f"/api/v1/packages/{ours}", "viewer").get_json()
    assert detail["title"] == "Harbour photographs" and detail["organisation"] == "ours"
    paths = {f["path"] for f in detail["files"]["items"]}
    assert paths >= {"data/readme.txt", "data/sub/notes.txt"}
    assert [v["number"] for v in detail["versions"]] == [1]
    assert "ingestion end" in {e["event_type"] for e in detail["events"]}
    assert detail["events_total"] >= len(detail["events"])
    assert detail["copies"] and all("url" not in c for c in detail["copies"])
    paged = api.get(f"/api/v1/packages/{ours}?per_page=1&folder=data/").get_json()["files"]
    assert len(paged["items"]) == 1 and paged["total"] >= 2 and paged["next"]
    for who, package in (("viewer", theirs), ("outsider", ours), ("viewer", "no-such-package")):
        body = assert_problem(api.get(f"/api/v1/packages/{package}", who), 404)
        assert "Secret" not in str(body) and "Harbour" not in str(body)
    assert_problem(api.get(f"/api/v1/packages/{ours}?version=7"), 404, "version")
    assert_problem(api.get(f"/api/v1/packages/{ours}?folder=../etc"), 400)

    # one file by its path, the bag as zip and tar
    readme = next(f for f in detail["files"]["items"] if f["path"] == "data/readme.txt")
    got = api.get(readme["download"], "viewer")
    assert got.status_code == 200 and got.data == b"Harbour\n"
    assert "attachment" in got.headers["Content-Disposition"]
    bag = api.get(f"/api/v1/packages/{ours}/bag", "viewer")
    assert bag.status_code == 200 and bag.mimetype == "application/zip"
    assert int(bag.headers["Content-Length"]) == len(bag.data)
    names = zipfile.ZipFile(io.BytesIO(bag.data)).namelist()
    assert any(n.endswith("/bagit.txt") for n in names)
    assert any(n.endswith("/data/sub/notes.txt") for n in names)
    tar = api.get(f"/api/v1/packages/{ours}/bag?format=tar&version=1", "viewer")
    assert tar.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(tar.data)) as archive:
        assert any(n.endswith("/bagit.txt") for n in archive.getnames())
    assert_problem(api.get(f"/api/v1/packages/{ours}/bag?format=rar"), 400, "format")
    assert_problem(api.get(f"/api/v1/packages/{theirs}/bag"), 404)
    assert_problem(api.get(f"/api/v1/packages/{theirs}/files/data/readme.txt"), 404)
    assert_problem(api.get(f"/api/v1/packages/{ours}/files/data/nothing.txt"), 404)
    assert api.get(f"/api/v1/packages/{ours}/files/data/../bagit.txt").status_code in (400, 404)


def test_bad_search_parameters_name_the_field(site: Site, tmp_path: Path) -> None:
    api = api_site(site, tmp_path, packages=False)
    for query, field in (
        ("per_page=0", "per_page"),
        ("per_page=101", "per_page"),
        ("page=0", "page"),
        ("page=two", "page"),
        ("ingested_from=yesterday", "ingested_from"),
        ("sort=colour", "sort"),
        ("status=lost", "status"),
        ("q=" + "x" * 501, "q"),
        ("shape=round", "shape"),
    ):
        body = assert_problem(api.get(f"/api/v1/packages?{query}"), 400, field)
        assert field in body["errors"], body
    # the search service's own checks come back as 400 too
    assert_problem(api.get("/api/v1/packages?date_from=1923-13"), 400, "1923-13")
    for text in ('"', "NEAR(", "a* -b", "(("):  # plain text or a clear 400, never a 500
        response = api.get("/api/v1/packages", query_string={"q": text})
        if response.status_code != 200:
            assert_problem(response, 400)
    assert_problem(api.get("/api/v1/nothing-here"), 404)


def test_fixity_is_queued_once_per_key_as_the_person_and_only_by_archivists(
    site_any: Site, tmp_path: Path
) -> None:
    api = api_site(site_any, tmp_path)
    ours, theirs = api.packages["ours"]["id"], api.packages["theirs"]["id"]
    url = f"/api/v1/packages/{ours}/fixity"
    assert_problem(api.post(url, "viewer"), 403, "archivist")
    assert_problem(api.post(f"/api/v1/packages/{theirs}/fixity"), 404)
    assert_problem(api.post("/api/v1/packages/nothing/fixity"), 404)
    # no CSRF token needed: the API takes no cookies
    first = api.post(url, headers={"Idempotency-Key": "run-1"})
    assert first.status_code == 202, first.get_data(as_text=True)
    job = first.get_json()
    assert job["kind"] == "fixity" and job["state"] == "queued"
    assert job["requested_by"] == "archivist" and job["package_id"] == ours
    assert first.headers["Location"] == job["url"]
    again = api.post(url, headers={"Idempotency-Key": "run-1"})
    assert again.status_code == 202 and again.get_json()["id"] == job["id"]
    # while it waits, asking without a key gives that job too
    assert api.post(url, "orgadmin").get_json()["id"] == job["id"]
    assert_problem(api.post(url, headers={"Idempotency-Key": "x" * 201}), 400, "Idempotency-Key")

    # the job: its URL, the list, who sees it
    assert api.get(job["url"], "viewer").get_json()["id"] == job["id"]
    assert_problem(api.get(job["url"], "outsider"), 404)
    listed = api.get("/api/v1/jobs?kind=fixity").get_json()["items"]
    assert [j["id"] for j in listed] == [job["id"]]
    assert api.get("/api/v1/jobs?kind=fixity", "outsider").get_json()["items"] == []
    assert_problem(api.get("/api/v1/jobs/nothing"), 404)
    body = assert_problem(api.get("/api/v1/jobs?state=lost&per_page=500"), 400, "state")
    assert set(body["errors"]) == {"state", "per_page"}
