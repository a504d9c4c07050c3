"""Agreements and holds through /api/v1 (issue 12, point 5): the same reads and steps as the
pages, with 409 for a refused step (a refused proposal lists every missing item), 422 for
refused input, 403 for no right and 404 for what one may not see; every response validates
against the OpenAPI document. SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from preserve.services import agreements as service
from tests.web.agreements_support import add_parties, spec, token
from tests.web.conftest import Site
from tests.web.test_openapi import check, document

REF = "API-2026-001"
BASE = "/api/v1/agreements"
V1 = f"{BASE}/{REF}/versions/1"
VERSION = "/agreements/{reference}/versions/{version}"


class Api:
    def __init__(self, site: Site) -> None:
        self.site = site
        self.client = site.app.test_client()
        self.headers = {u: token(site, u) for u in ("mia", "vera", "arno", "cas", "root")}
        self.doc = document(site)

    def call(self, method: str, url: str, who: str, path: str, **kw: Any) -> Any:
        response = self.client.open(url, method=method, headers=self.headers[who], **kw)
        check(self.doc, path, method.lower(), response)
        return response


@pytest.fixture
def api(site_any: Site) -> Api:
    add_parties(site_any)
    return Api(site_any)


def test_an_agreement_from_draft_to_active_through_the_api(api: Api) -> None:
    made = api.call("POST", BASE, "mia", "/agreements", json=spec(reference=REF))
    assert made.status_code == 201 and made.headers["Location"].endswith("/versions/1")
    body = made.get_json()
    assert body["state"] == "draft" and body["missing"] == []
    assert body["your_steps"]["steps"] == ["edit", "propose", "withdraw"]
    edited = api.call(
        "PATCH",
        V1,
        "mia",
        VERSION,
        json={
            "service_level": {"min_copies": 3, "min_distinct_sites": 2, "fixity_interval_days": 30}
        },
    )
    assert edited.status_code == 200 and edited.get_json()["service_level"]["min_copies"] == 3
    text = base64.b64encode(b"The terms, in words.\n").decode()
    doc = api.call(
        "POST",
        f"{V1}/documents",
        "mia",
        VERSION + "/documents",
        json={"name": "terms.txt", "content_base64": text},
    )
    assert doc.status_code == 201 and doc.get_json()["media_type"] == "text/plain"
    got = api.call("GET", doc.get_json()["url"], "vera", VERSION + "/documents/{document_id}")
    assert got.data == b"The terms, in words.\n"
    assert got.headers["Content-Disposition"].startswith("attachment")
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert api.call("POST", f"{V1}/propose", "mia", VERSION + "/propose").status_code == 200
    waiting = api.call("GET", f"{BASE}/awaiting", "arno", "/agreements/awaiting").get_json()
    assert waiting["items"] == [
        {
            "reference": REF,
            "version_no": 1,
            "title": body["title"],
            "state": "proposed",
            "step": "agree",
            "parties": ["artist"],
        }
    ]
    for who, party in (("mia", "museum"), ("arno", "artist"), ("cas", "archive")):
        done = api.call("POST", f"{V1}/agree", who, VERSION + "/agree", json={"party": party})
        assert done.status_code == 200, done.get_json()
    for who, party in (("mia", "museum"), ("arno", "artist"), ("cas", "archive")):
        done = api.call(
            "POST",
            f"{V1}/sign",
            who,
            VERSION + "/sign",
            json={"party": party, "capacity": "director"},
        )
        assert done.status_code == 200, done.get_json()
    assert done.get_json()["state"] == "signed" and done.get_json()["content_hash"]
    active = api.call("POST", f"{V1}/activate", "cas", VERSION + "/activate")
    assert active.status_code == 200 and active.get_json()["state"] == "active"
    listed = api.call("GET", f"{BASE}?state=active", "vera", "/agreements").get_json()["items"]
    assert [a["label"] for a in listed] == [f"{REF} v1"]
    amended = api.call("POST", f"{V1}/amend", "mia", VERSION + "/amend", json={"reason": "more"})
    assert amended.status_code == 201 and amended.get_json()["version_no"] == 2
    newest = api.call("GET", f"{BASE}/{REF}", "vera", "/agreements/{reference}").get_json()
    assert newest["version_no"] == 2 and newest["supersedes"] == f"{REF} v1"


def test_refusals_through_the_api(api: Api) -> None:
    incomplete = spec(reference=REF, scope=[], exit=None, rights=[])
    assert api.call("POST", BASE, "mia", "/agreements", json=incomplete).status_code == 201
    refused = api.call("POST", f"{V1}/propose", "mia", VERSION + "/propose")
    problem = refused.get_json()
    assert refused.status_code == 409 and refused.mimetype == "application/problem+json"
    assert problem["problems"] == [
        "scope: no collection or metadata rule",
        "rights: no rights granted to the custodian",
        "exit: no exit terms",
    ]
    bad = api.call(
        "POST",
        BASE,
        "mia",
        "/agreements",
        json={"reference": "X 1", "kind": "nope", "title": "", "colour": "red"},
    )
    detail = bad.get_json()["detail"]
    assert bad.status_code == 422
    for part in (
        "reference: 'X 1' must be",
        "kind: 'nope' is not one of",
        "title: must not be",
        "agreement.colour: unknown field",
    ):
        assert part in detail, part
    assert api.call("PATCH", V1, "mia", VERSION, json={}).status_code == 422
    not_base64 = api.call(
        "POST",
        f"{V1}/documents",
        "mia",
        VERSION + "/documents",
        json={"name": "a.txt", "content_base64": "***"},
    )
    assert not_base64.status_code == 422 and "not valid base64" in not_base64.get_json()["detail"]
    svg = base64.b64encode(b"<svg onload='alert(1)'/>").decode()
    html = api.call(
        "POST",
        f"{V1}/documents",
        "mia",
        VERSION + "/documents",
        json={"name": "a.txt", "content_base64": svg},
    )
    assert html.status_code == 422 and "HTML, SVG or XML is refused" in html.get_json()["detail"]
    viewer = api.call("PATCH", V1, "vera", VERSION, json={"title": "Mine"})
    assert viewer.status_code == 403
    wrong_field = api.call(
        "POST", f"{V1}/propose", "mia", VERSION + "/propose", json={"capacity": "x"}
    )
    assert (
        wrong_field.status_code == 422
        and "propose does not take capacity" in (wrong_field.get_json()["detail"])
    )
    missing = api.call("GET", f"{BASE}/NOPE", "mia", "/agreements/{reference}")
    assert missing.status_code == 404
    bad_state = api.call("GET", f"{BASE}?state=lost", "mia", "/agreements")
    assert bad_state.status_code == 400
    assert service.show(api.site.application, REF).title == incomplete["title"]


def test_a_signed_version_cannot_be_changed_through_the_api(api: Api) -> None:
    from tests.agreement_setup import make_active

    make_active(api.site.application, spec(reference=REF))
    before = service.show(api.site.application, REF)
    for body in (
        {"title": "Changed"},
        {"service_level": {"min_copies": 9, "fixity_interval_days": 1}},
        {"parties": []},
    ):
        refused = api.call("PATCH", V1, "mia", VERSION, json=body)
        assert refused.status_code == 409
        detail = refused.get_json()["detail"]
        assert "a version that is not a draft is frozen" in detail
        # the way to amend it through the API, not the command line's
        assert f"amend it (POST {V1}/amend) to make a new draft version" in detail
        assert "preserve agreements" not in detail
    text = base64.b64encode(b"annex").decode()
    annex = api.call(
        "POST",
        f"{V1}/documents",
        "mia",
        VERSION + "/documents",
        json={"name": "annex.txt", "kind": "annex", "content_base64": text},
    )
    assert annex.status_code == 409
    for step in ("propose", "withdraw"):
        assert api.call("POST", f"{V1}/{step}", "mia", VERSION + "/" + step).status_code == 409
    assert service.show(api.site.application, REF) == before
    # the route the 409 names makes the new draft version
    amended = api.call("POST", f"{V1}/amend", "mia", VERSION + "/amend", json={"reason": "x"})
    assert amended.status_code == 201 and amended.headers["Location"].endswith("/versions/2")


def test_holds_through_the_api(api: Api) -> None:
    placed = api.call(
        "POST",
        "/api/v1/holds",
        "mia",
        "/holds",
        json={
            "kind": "legal",
            "title": "Court case 17",
            "reason": "keep for the court",
            "collections": ["museum/photos"],
        },
    )
    assert placed.status_code == 201
    hold = placed.get_json()
    assert hold["state"] == "active" and hold["targets"][0]["collection"] == "museum/photos"
    url = f"/api/v1/holds/{hold['id']}"
    assert api.call("GET", url, "vera", "/holds/{hold_id}").get_json()["title"] == "Court case 17"
    assert api.call("GET", url, "arno", "/holds/{hold_id}").status_code == 404
    listed = api.call("GET", "/api/v1/holds", "vera", "/holds").get_json()["items"]
    assert [h["id"] for h in listed] == [hold["id"]]
    viewer = api.call(
        "POST",
        "/api/v1/holds",
        "vera",
        "/holds",
        json={"kind": "legal", "title": "t", "reason": "r", "collections": ["museum/photos"]},
    )
    assert viewer.status_code == 403
    bad = api.call(
        "POST", "/api/v1/holds", "mia", "/holds", json={"kind": "whim", "title": "t", "reason": "r"}
    )
    assert bad.status_code == 422 and "unknown kind of hold 'whim'" in bad.get_json()["detail"]
    no_reason = api.call(
        "POST", url + "/lift", "mia", "/holds/{hold_id}/lift", json={"reason": " "}
    )
    assert no_reason.status_code == 422
    lifted = api.call(
        "POST", url + "/lift", "mia", "/holds/{hold_id}/lift", json={"reason": "the case is closed"}
    )
    assert lifted.status_code == 200 and lifted.get_json()["state"] == "lifted"
    again = api.call("POST", url + "/lift", "mia", "/holds/{hold_id}/lift", json={"reason": "x"})
    assert again.status_code == 422 and "already lifted" in again.get_json()["detail"]
    assert api.call("GET", "/api/v1/holds?state=lifted", "mia", "/holds").get_json()["items"]
