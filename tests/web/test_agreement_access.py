"""The agreement gates downloads (issue 12, retention-agreements.md 5.1 E8/E9): an embargo running
blocks a download for a viewer of the owner organisation and for a viewer who is also in another
party, on the web and through the API, and not for the owner's archivist nor a repository admin;
a refused download is a 403 naming the agreement and the embargo's end, and records no
dissemination; the package page stays visible. The rules themselves (no disseminate grant,
groups, an embargo that has ended) through the service. SQLite and PostgreSQL."""

from __future__ import annotations

import html
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from preserve import premis
from preserve.catalogue.models import Event
from preserve.services import accounts
from preserve.services import agreements as service
from preserve.services.accounts import principal_for
from preserve.services.dissemination import download_refusal
from tests.web.api_support import delivery, token_for
from tests.web.conftest import PASSWORD, Site

T0 = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
EMBARGO = "2099-01-01"


def _spec(access: list[dict[str, Any]], disseminate: str = "allow") -> dict[str, Any]:
    return {
        "reference": "ACC-2026-001",
        "kind": "deposit",
        "title": "Photos under embargo",
        "effective_from": "2026-11-29",
        "parties": [
            {"organisation": "ours", "roles": ["owner_depositor"]},
            {"organisation": "theirs", "roles": ["custodian"]},
        ],
        "scope": [{"collection": "ours/photos"}],
        "retention": {
            "action": "keep_permanently",
            "trigger": "ingest_date",
            "period": {"value": 0, "unit": "years"},
            "bound": "minimum",
            "motivation": "Kept.",
            "legal_basis": "Deposit",
        },
        "service_level": {"min_copies": 1, "fixity_interval_days": 90},
        "rights": [
            {"act": "replicate", "restriction": "allow"},
            {"act": "disseminate", "restriction": disseminate, "note": "approved per request"},
        ],
        "access": access,
        "exit": {
            "recipient": "ours",
            "package_format": "bagit",
            "deadline_days": 30,
            "post_exit_action": "delete_with_certificate",
        },
    }


def _activate(site: Site, spec: dict[str, Any]) -> None:
    app = site.application
    keeper = principal_for(app, site.users["keeper"])
    custodian = principal_for(app, site.users["custodian"])
    assert keeper is not None and custodian is not None
    ref = spec["reference"]
    service.create_draft(app, keeper, spec, now=T0)
    service.propose(app, keeper, ref, now=T0)
    for who, party in ((keeper, "ours"), (custodian, "theirs")):
        service.agree(app, who, ref, party, now=T0)
    for who, party in ((keeper, "ours"), (custodian, "theirs")):
        service.sign(app, who, ref, party, capacity="director", now=T0)
    service.activate(app, custodian, ref, now=T0)


def _people(site: Site) -> None:
    site.user("keeper", "archivist")  # the owner's staff
    site.user("vera", "viewer")  # a viewer of the owner
    site.user("custodian", "archivist", "theirs")
    site.user("root", None, admin=True)
    # a viewer of the owner who is also in the other party
    made = accounts.create_user(
        site.application,
        "pia",
        password=PASSWORD,
        memberships={"ours": "viewer", "theirs": "viewer"},
    )
    site.users["pia"] = made.user_id


def _disseminations(site: Site, package_id: str) -> int:
    with site.application.uow() as uow:
        return (
            uow.session.scalar(
                sa.select(sa.func.count())
                .select_from(Event)
                .where(Event.package_id == package_id, Event.event_type == premis.DISSEMINATION)
            )
            or 0
        )


@pytest.fixture
def embargoed(site_any: Site, tmp_path: Path) -> tuple[Site, str]:
    site = site_any
    _people(site)
    package = site.ingest(delivery(tmp_path / "d", "Harbour"), "photos")
    _activate(
        site,
        _spec([{"action": "download", "group": "parties", "embargo_until": EMBARGO}]),
    )
    return site, package["id"]


def test_an_embargo_blocks_downloads_on_the_web_but_not_for_the_owner(
    embargoed: tuple[Site, str],
) -> None:
    site, pid = embargoed
    urls = [f"/packages/{pid}/bag.zip", f"/packages/{pid}/download?path=data/readme.txt"]
    for who in ("vera", "pia"):
        client = site.client(who)
        assert client.get(f"/packages/{pid}").status_code == 200  # the page stays visible
        for url in urls:
            response = client.get(url)
            assert response.status_code == 403, (who, url)
            text = html.unescape(response.get_data(as_text=True))
            assert "ACC-2026-001 v1" in text and EMBARGO in text
    assert _disseminations(site, pid) == 0
    for who in ("keeper", "root"):
        client = site.client(who)
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, (who, url, response.get_data(as_text=True))
            response.get_data()  # streamed to the end: the dissemination is recorded
    assert _disseminations(site, pid) == 4


def test_an_embargo_blocks_downloads_through_the_api(embargoed: tuple[Site, str]) -> None:
    site, pid = embargoed
    client = site.app.test_client()
    urls = [
        f"/api/v1/packages/{pid}/bag?format=zip",
        f"/api/v1/packages/{pid}/files/data/readme.txt",
    ]
    for who in ("vera", "pia"):
        headers = {"Authorization": f"Bearer {token_for(site, who)}"}
        for url in urls:
            response = client.get(url, headers=headers)
            assert response.status_code == 403, (who, url, response.get_data(as_text=True))
            body = response.get_json(force=True)
            assert "ACC-2026-001 v1" in body["detail"] and EMBARGO in body["detail"]
    assert _disseminations(site, pid) == 0
    headers = {"Authorization": f"Bearer {token_for(site, 'keeper')}"}
    for url in urls:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, (url, response.get_data(as_text=True))
        response.get_data()
    assert _disseminations(site, pid) == 2
    # the OpenAPI document says these operations may answer 403
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/api/v1/packages/{package_id}/bag", "/api/v1/packages/{package_id}/files/{path}"):
        assert "403" in paths[path]["get"]["responses"], path


@pytest.mark.parametrize(
    ("access", "disseminate", "vera", "pia"),
    [
        # no download conditions: disseminate decides
        ([], "allow", None, None),
        ([], "disallow", "does not grant 'disseminate'", "does not grant 'disseminate'"),
        ([], "conditional", "only on conditions", "only on conditions"),
        # the public: any signed-in person, once the embargo has ended
        ([{"action": "download", "group": "public", "embargo_until": "2026-12-31"}], "allow",
         "under embargo until 2026-12-31", "under embargo until 2026-12-31"),
        # parties: the viewer who is also in the other party
        ([{"action": "download", "group": "parties"}], "allow", None, None),
        # one organisation named
        ([{"action": "download", "group": "organisation", "organisation": "theirs"}], "allow",
         "allows downloads only to: theirs", None),
        # consulting conditions do not gate downloads
        ([{"action": "consult", "group": "organisation", "organisation": "theirs"}], "allow",
         None, None),
    ],
)  # fmt: skip
def test_the_rules(
    site_any: Site,
    tmp_path: Path,
    access: list[dict[str, Any]],
    disseminate: str,
    vera: str | None,
    pia: str | None,
) -> None:
    site = site_any
    _people(site)
    package = site.ingest(delivery(tmp_path / "d", "Harbour"), "photos")
    _activate(site, _spec(access, disseminate))
    app = site.application
    with app.uow() as uow:
        owner = uow.packages.get(package["id"]).collection.organisation_id
        for who, expected in (("vera", vera), ("pia", pia), ("keeper", None), ("root", None)):
            person = principal_for(app, site.users[who])
            assert person is not None
            why = download_refusal(uow.session, person, package["id"], owner, date(2026, 12, 1))
            if expected is None:
                assert why is None, (who, why)
            else:
                assert why is not None and expected in why, (who, why)
                assert "ACC-2026-001 v1" in why
        if access and access[0].get("embargo_until"):  # the embargo lifts by itself at its end
            person = principal_for(app, site.users["vera"])
            assert person is not None
            assert (
                download_refusal(uow.session, person, package["id"], owner, date(2027, 1, 1))
                is None
            )


def test_without_an_agreement_nothing_changes(site_any: Site, tmp_path: Path) -> None:
    site = site_any
    _people(site)
    package = site.ingest(delivery(tmp_path / "d", "Harbour"), "photos")
    response = site.client("vera").get(f"/packages/{package['id']}/bag.zip")
    assert response.status_code == 200
