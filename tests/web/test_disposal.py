"""The disposal pages and ``/api/v1/disposals`` (issue 12), on SQLite and PostgreSQL: a due
package proposed, approved per party, executed, its declaration shown and downloaded, restored;
what each party still has to approve; the refusals with their status (403 the requester or the
operator approving, 409 a refused step, 422 refused input, 404 not visible) and no form without
its CSRF token."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.web.api_support import token_for
from tests.web.conftest import Site, csrf_token, make_site
from tests.web.disposal_support import setup


@pytest.fixture
def site(tmp_path: Path, database_url: str) -> Iterator[tuple[Site, str]]:
    s = make_site(tmp_path, database_url)
    pid = setup(s, tmp_path / "deliveries")
    yield s, pid
    s.application.close()


def _post(client: FlaskClient, url: str, **data: str) -> Any:
    return client.post(url, data={"csrf_token": csrf_token(client), **data})


def test_a_due_package_through_the_pages(site: tuple[Site, str]) -> None:
    s, pid = site
    carl, ann, root = s.client("carl"), s.client("ann"), s.client("root")
    assert "Propose a disposal" in carl.get("/disposal").get_data(as_text=True)
    response = _post(carl, "/disposal/new", kind="due")
    assert response.status_code == 302 and response.headers["Location"].endswith("/disposal/1")
    listing = ann.get("/disposal").get_data(as_text=True)
    assert "Disposal 1" in listing and "ours, theirs" in listing  # still to approve
    page = ann.get("/disposal/1").get_data(as_text=True)
    assert "Approve for ours" in page and "Selection list item 12" in page and pid in page

    # the requester may not approve; an administrator never for the owner
    refused = _post(carl, "/disposal/1/approve", party="theirs")
    assert refused.status_code == 403
    assert "carl asked for disposal 1" in refused.get_data(as_text=True)
    assert _post(root, "/disposal/1/approve", party="ours").status_code == 403
    # not approved yet: execution is refused with the reason
    early = _post(carl, "/disposal/1/execute", mode="now")
    assert early.status_code == 409 and "every party must approve" in early.get_data(as_text=True)
    assert _post(ann, "/disposal/1/approve", party="ours", comment="fine").status_code == 302
    again = _post(s.client("ben"), "/disposal/1/approve", party="ours")
    assert again.status_code == 409 and "has already decided" in again.get_data(as_text=True)
    assert _post(root, "/disposal/1/approve", party="theirs").status_code == 302
    assert "Execute now" in carl.get("/disposal/1").get_data(as_text=True)

    assert _post(carl, "/disposal/1/execute", mode="now").status_code == 302
    page = carl.get("/disposal/1").get_data(as_text=True)
    assert "executed" in page and "Disposal declaration" in page and "Restorable until" in page
    declaration = ann.get("/disposal/1/declaration").get_data(as_text=True)
    assert "Disposal declaration 1" in declaration and "DSP-2026-001 version 1" in declaration
    assert "Selection list item 12" in declaration and "data/photo.txt" in declaration
    download = ann.get("/disposal/1/declaration?download=json")
    assert download.headers["Content-Disposition"].startswith("attachment;")
    body = download.get_data(as_text=True)
    sha = hashlib.sha256(body.rstrip("\n").encode()).hexdigest()
    assert sha in declaration and json.loads(body)["packages"][0]["id"] == pid
    text = ann.get("/disposal/1/declaration?download=text")
    assert text.mimetype == "text/markdown" and text.get_data(as_text=True).startswith("# Disp")
    assert ann.get("/disposal/1/declaration?download=pdf").status_code == 422

    assert _post(ann, "/disposal/1/restore").status_code == 403  # not the custodian
    assert _post(carl, "/disposal/1/restore").status_code == 302
    assert "restored" in carl.get("/disposal/1").get_data(as_text=True)


def test_refusals_on_the_pages(site: tuple[Site, str]) -> None:
    s, pid = site
    ann = s.client("ann")
    bad = _post(ann, "/disposal/new", kind="adhoc", packages=pid, reason=" ")
    assert bad.status_code == 422 and "needs a motivation" in bad.get_data(as_text=True)
    assert ann.get("/disposal?state=done").status_code == 422
    assert ann.post("/disposal/new", data={"kind": "due"}).status_code == 400  # no CSRF token
    made = _post(ann, "/disposal/new", kind="adhoc", packages=pid, reason="a duplicate")
    assert made.status_code == 302
    reject = _post(s.client("ben"), "/disposal/1/reject", party="ours", comment="")
    assert reject.status_code == 422 and "needs a comment" in reject.get_data(as_text=True)
    assert _post(s.client("vic"), "/disposal/1/approve", party="ours").status_code == 403
    assert s.client("carl").get("/disposal/1").status_code == 200  # the custodian party
    s.user("zoe", None)
    assert s.client("zoe").get("/disposal/1").status_code == 404
    assert s.client("zoe").get("/disposal/1/declaration").status_code == 404
    assert ann.get("/disposal/1/declaration").status_code == 404  # not executed
    assert (
        _post(s.client("ben"), "/disposal/1/reject", party="ours", comment="no").status_code == 302
    )
    assert "rejected" in ann.get("/disposal/1").get_data(as_text=True)


def _api(s: Site, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(s, name)}"}


def test_the_api(site: tuple[Site, str]) -> None:
    s, pid = site
    c = s.app.test_client()
    carl, ann, root = _api(s, "carl"), _api(s, "ann"), _api(s, "root")
    assert c.get("/api/v1/disposals").status_code == 401
    bad = c.post("/api/v1/disposals", json={}, headers=carl)
    assert bad.status_code == 422 and "give either due" in bad.json["detail"]
    bad = c.post("/api/v1/disposals", json={"due": "maybe"}, headers=carl)
    assert bad.status_code == 400  # a malformed body, as everywhere in the API
    made = c.post("/api/v1/disposals", json={"due": True}, headers=carl)
    assert made.status_code == 201, made.json
    [d] = made.json["items"]
    assert made.headers["Location"] == d["url"] and d["waiting_for"] == ["ours", "theirs"]
    assert (d["cause"], d["exit"], d["rule"]["action"]) == ("retention_rule", None, "destroy")
    listed = c.get("/api/v1/disposals?state=pending", headers=ann).json["items"]
    assert [x["id"] for x in listed] == [d["id"]]
    assert c.get("/api/v1/disposals?state=done", headers=ann).status_code == 400

    url = f"/api/v1/disposals/{d['id']}"
    refused = c.post(f"{url}/approve", json={"party": "theirs"}, headers=carl)
    assert refused.status_code == 403 and "asked for" in refused.json["detail"]
    early = c.post(f"{url}/execute", json={}, headers=carl)
    assert early.status_code == 409 and "every party must approve" in early.json["detail"]
    assert c.post(f"{url}/approve", json={"party": "ours"}, headers=ann).status_code == 200
    assert c.post(f"{url}/approve", json={"party": "ours"}, headers=ann).status_code == 409
    assert c.post(f"{url}/approve", json={"party": "nobody"}, headers=ann).status_code == 422
    assert c.post(f"{url}/reject", json={"party": "theirs"}, headers=root).status_code == 422
    done = c.post(f"{url}/approve", json={"party": "theirs"}, headers=root)
    assert done.json["state"] == "approved"
    assert c.get(f"{url}/declaration", headers=ann).status_code == 404

    queued = c.post(f"{url}/execute", json={}, headers=carl)
    assert queued.status_code == 202 and queued.json["job_id"]
    assert c.get(f"/api/v1/jobs/{queued.json['job_id']}", headers=carl).json["kind"] == "dispose"
    executed = c.post(f"{url}/execute", json={"wait": True}, headers=carl)
    assert executed.status_code == 200 and executed.json["state"] == "executed"
    declaration = c.get(f"{url}/declaration", headers=ann)
    sha = declaration.headers["X-Declaration-SHA256"]
    assert hashlib.sha256(declaration.get_data().rstrip(b"\n")).hexdigest() == sha
    assert declaration.json["packages"][0]["id"] == pid
    text = c.get(f"{url}/declaration?format=text", headers=ann)
    assert text.mimetype == "text/markdown" and sha in text.get_data(as_text=True)
    assert c.post(f"{url}/restore", headers=ann).status_code == 403
    restored = c.post(f"{url}/restore", headers=carl)
    assert restored.status_code == 200 and restored.json["state"] == "restored"
    assert c.post(f"{url}/restore", headers=carl).status_code == 409
    assert c.get("/api/v1/disposals/99", headers=carl).status_code == 404


def test_api_responses_validate_against_the_openapi_document(site: tuple[Site, str]) -> None:
    """Every status the disposal routes answer with is documented, and each body validates
    against its documented schema (the check of tests/web/test_openapi.py)."""
    from tests.web.test_openapi import check, document

    s, _pid = site
    doc = document(s)
    c = s.app.test_client()
    people = {name: _api(s, name) for name in ("carl", "ann", "root")}
    base = "/api/v1/disposals"

    def post(path: str, who: str, body: dict[str, Any] | None = None) -> Any:
        return c.post(base + path, json=body if body is not None else {}, headers=people[who])

    def get(path: str, who: str = "ann") -> Any:
        return c.get(base + path, headers=people[who])

    one = "/disposals/{request_id}"
    calls = [
        ("/disposals", "post", post("", "carl")),
        ("/disposals", "post", post("", "carl", {"due": True})),
        ("/disposals", "get", get("")),
        ("/disposals", "get", get("?state=x")),
        (one, "get", get("/1")),
        (one, "get", get("/7")),
        (one + "/approve", "post", post("/1/approve", "carl", {"party": "theirs"})),
        (one + "/approve", "post", post("/1/approve", "ann", {"party": "ours"})),
        (one + "/approve", "post", post("/1/approve", "ann", {"party": "ours"})),
        (one + "/approve", "post", post("/1/approve", "ann", {"party": "x"})),
        (one + "/reject", "post", post("/1/reject", "root", {"party": "theirs"})),
        (one + "/declaration", "get", get("/1/declaration")),
        (one + "/approve", "post", post("/1/approve", "root", {"party": "theirs"})),
        (one + "/execute", "post", post("/1/execute", "ann")),
        (one + "/execute", "post", post("/1/execute", "carl")),
        (one + "/execute", "post", post("/1/execute", "carl", {"wait": True})),
        (one + "/declaration", "get", get("/1/declaration")),
        (one + "/declaration", "get", get("/1/declaration?format=text")),
        (one + "/declaration", "get", get("/1/declaration?format=pdf")),
        (one + "/restore", "post", post("/1/restore", "carl")),
        (one + "/restore", "post", post("/1/restore", "carl")),
    ]
    seen = set()
    for path, method, response in calls:
        check(doc, path, method, response)
        seen.add((path, response.status_code))
    assert {s for _, s in seen} >= {200, 201, 202, 400, 403, 404, 409, 422}


def test_an_exit_disposal_names_the_exit_terms_as_its_cause(
    site: tuple[Site, str], tmp_path: Path
) -> None:
    """An exit disposal comes from the agreement's exit terms, not its retention rule: the page
    says so (no rule, legal basis or motivation) and the API gives ``cause`` and ``exit``; a
    scheduled one gives ``cause`` retention_rule and no ``exit`` (test_the_api)."""
    import subprocess

    from preserve.services import agreements, exits
    from preserve.services.accounts import principal_for
    from tests.web.disposal_support import LATER, T0

    s, pid = site
    app = s.application

    def who(name: str) -> Any:
        return principal_for(app, s.users[name])

    agreements.give_notice(app, who("ann"), "DSP-2026-001", "ours", "ours merges", now=T0)
    agreements.start_exit(app, who("carl"), "DSP-2026-001", now=LATER)
    out = tmp_path / "exit"
    exits.export(app, who("carl"), "DSP-2026-001", out)
    receipt = subprocess.run(
        "sha256sum bags/*/tagmanifest-sha256.txt",
        shell=True,
        cwd=out,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    done = exits.confirm(app, who("ann"), "DSP-2026-001", receipt, "ours")
    assert done.post_exit_detail == "disposal 1 pending", done.post_exit_detail

    page = s.client("ann").get("/disposal/1").get_data(as_text=True)
    assert "Cause" in page and "exit terms: post-exit action delete with a certificate" in page
    assert "after export 1 to ours (confirmed by ann on " in page
    assert "Selection list item 12" not in page and "Motivation" not in page
    c = s.app.test_client()
    body = c.get("/api/v1/disposals/1", headers=_api(s, "ann")).json
    assert (body["kind"], body["cause"], body["rule"]) == ("exit", "exit_terms", {})
    assert body["exit"]["post_exit_action"] == "delete_with_certificate"
    assert (body["exit"]["recipient"], body["exit"]["export"]) == ("ours", 1)
    assert body["exit"]["confirmed_by"] == "ann" and body["exit"]["confirmed_at"]
    assert [p["id"] for p in body["packages"]] == [pid]

    # approved by both parties and executed: the declaration names the same cause
    ann, carl = s.client("ann"), s.client("carl")
    assert _post(ann, "/disposal/1/approve", party="ours").status_code == 302
    assert _post(s.client("root"), "/disposal/1/approve", party="theirs").status_code == 302
    assert _post(carl, "/disposal/1/execute", mode="now").status_code == 302
    declaration = ann.get("/disposal/1/declaration").get_data(as_text=True)
    assert "exit terms: post-exit action delete with a certificate" in declaration
    assert "after export 1 to ours (confirmed by ann on " in declaration
    assert "Selection list item 12" not in declaration


def test_a_held_package_is_marked_and_the_disposal_withdrawn(site: tuple[Site, str]) -> None:
    """A hold placed after the approval: the page marks the package held, execution is refused
    (409) naming it and the ways out, and the withdraw form (page) and route (API) take the
    disposal back; the declaration page shows the rule without its database id."""
    from preserve.services import holds
    from preserve.services.accounts import principal_for

    s, pid = site
    carl, ann, root = s.client("carl"), s.client("ann"), s.client("root")
    assert _post(carl, "/disposal/new", kind="due").status_code == 302
    assert "Withdraw the disposal" in carl.get("/disposal/1").get_data(as_text=True)
    assert _post(ann, "/disposal/1/approve", party="ours").status_code == 302
    assert _post(root, "/disposal/1/approve", party="theirs").status_code == 302
    hold = holds.place(
        s.application,
        principal_for(s.application, s.users["ann"]),
        kind="gdpr_request",
        title="Erasure",
        reason="r",
        packages=[pid],
    )
    page = carl.get("/disposal/1").get_data(as_text=True)
    assert 'class="badge warn held"' in page and f"hold {hold.id} (gdpr_request)" in page
    refused = _post(carl, "/disposal/1/execute", mode="now")
    text = refused.get_data(as_text=True)
    assert refused.status_code == 409 and f"package {pid} is on hold" in text
    assert "preserve disposal withdraw 1" in text
    bad = _post(carl, "/disposal/1/withdraw", reason=" ")
    assert bad.status_code == 422 and "needs a reason" in bad.get_data(as_text=True)
    assert _post(s.client("vic"), "/disposal/1/withdraw", reason="x").status_code == 403
    assert _post(carl, "/disposal/1/withdraw", reason="GDPR hold").status_code == 302
    page = carl.get("/disposal/1").get_data(as_text=True)
    assert 'id="disposal-withdrawn"' in page and "GDPR hold" in page
    assert "Withdraw the disposal" not in page
    assert _post(carl, "/disposal/1/withdraw", reason="again").status_code == 409

    # the API: withdraw a pending one (its requester), refused again (409), 404 unseen
    holds.lift(s.application, principal_for(s.application, s.users["ann"]), hold.id, reason="ok")
    c = s.app.test_client()
    made = c.post("/api/v1/disposals", json={"due": True}, headers=_api(s, "carl"))
    url = made.json["items"][0]["url"]
    assert c.post(f"{url}/withdraw", json={}, headers=_api(s, "carl")).status_code == 422
    done = c.post(f"{url}/withdraw", json={"reason": "not now"}, headers=_api(s, "carl"))
    assert done.status_code == 200, done.json
    assert (done.json["state"], done.json["withdrawn_by"]) == ("withdrawn", "carl")
    assert done.json["packages"][0]["state"] == "withdrawn"
    again = c.post(f"{url}/withdraw", json={"reason": "x"}, headers=_api(s, "carl"))
    assert again.status_code == 409
    missing = c.post("/api/v1/disposals/99/withdraw", json={"reason": "x"}, headers=_api(s, "ann"))
    assert missing.status_code == 404 and "that you may see" in missing.json["detail"]

    # the declaration page: the rule without its database id
    made = c.post("/api/v1/disposals", json={"due": True}, headers=_api(s, "carl")).json
    url = made["items"][0]["url"]
    c.post(f"{url}/approve", json={"party": "ours"}, headers=_api(s, "ann"))
    c.post(f"{url}/approve", json={"party": "theirs"}, headers=_api(s, "root"))
    rid = made["items"][0]["id"]
    assert c.post(f"{url}/execute", json={"wait": True}, headers=_api(s, "carl")).status_code == 200
    rule_id = c.get(f"{url}/declaration", headers=_api(s, "ann")).json["rule"]["id"]
    declaration = ann.get(f"/disposal/{rid}/declaration").get_data(as_text=True)
    [rule] = [line for line in declaration.splitlines() if "<dt>Rule</dt>" in line]
    assert f"<dd>{rule_id}: " not in rule and "<dd>destroy, 1 year (" in rule, rule
