"""The compliance dashboard (issue 12, retention-agreements.md 5.3): the overview, one agreement
(its figures, its exit and its restore tests) and one organisation as tables, the CSV export
(parsed) and the printable page (with its print stylesheet); /api/v1 compliance, exit status and
restore tests; who may see what (404 otherwise); refused parameters 422. SQLite and
PostgreSQL."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from preserve.services import agreements as agreements_service
from preserve.services import exits, restore_tests
from tests.agreement_setup import make_active
from tests.web.agreements_support import add_parties, person, spec, token
from tests.web.api_support import delivery
from tests.web.conftest import Site

REF = "ENF-2026-001"


def text(response: Any) -> str:
    return html.unescape(re.sub(r"\s+", " ", response.get_data(as_text=True)))


@pytest.fixture
def world(site_any: Site, tmp_path: Path) -> tuple[Site, str]:
    add_parties(site_any)
    make_active(site_any.application, spec(service_level={"restore_test_interval_days": 30}))
    site_any.repo.run(
        "ingest", delivery(tmp_path / "d", "Harbour"), "--collection", "photos",
        "--organisation", "museum",
    )  # fmt: skip
    package = str(site_any.repo.packages()[0]["id"])
    restore_tests.run(site_any.application, package=package)
    return site_any, package


def test_the_dashboard_its_csv_and_its_printable_page(world: tuple[Site, str]) -> None:
    site, pid = world
    mia = site.client("mia")
    page = text(mia.get("/compliance"))
    assert "Agreements in force" in page and f"{REF} v1" in page and "museum" in page
    assert 'href="/compliance/agreements/ENF-2026-001"' in mia.get("/compliance").get_data(
        as_text=True
    )

    one = mia.get(f"/compliance/agreements/{REF}")
    assert one.status_code == 200
    shown = text(one)
    assert "Restore tests" in shown and pid[:8] in shown and "Nothing was exported" in shown
    assert "May be closed" in shown

    exported = mia.get(f"/compliance.csv?agreement={REF}")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert "attachment" in exported.headers["Content-Disposition"]
    [row] = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert (row["name"], row["packages"], row["last_restore_test_outcome"]) == (
        f"{REF} v1",
        "1",
        "ok",
    )

    printable = mia.get("/compliance/print?organisation=museum")
    assert printable.status_code == 200
    body = printable.get_data(as_text=True)
    assert "css/compliance.css" in body and "Compliance report" in body
    stylesheet = mia.get("/static/css/compliance.css")
    assert "@media print" in stylesheet.get_data(as_text=True)
    stylesheet.close()

    museum = text(mia.get("/compliance/organisations/museum"))
    assert "Compliance of museum" in museum


def test_the_custodian_row_and_the_legend_of_the_columns(world: tuple[Site, str]) -> None:
    """The archive service keeps the museum's package: its row says so (not 0 packages), and
    every page of the report explains its columns, FORMATS included, in English and Dutch."""
    site, _pid = world
    cas = site.client("cas")
    page = text(cas.get("/compliance"))
    assert "archive" in page and "0 owned, 1 kept" in page
    assert "What the columns mean" in page
    assert (
        "PRONOM format identifier (PUID) on the agreement's list of accepted or preferred" in page
    )
    assert "the packages it keeps as the custodian of an agreement in force" in page
    museum = text(site.client("mia").get("/compliance"))
    assert "1 owned, 0 kept" in museum
    for url in (f"/compliance/agreements/{REF}", "/compliance/organisations/archive"):
        assert "What the columns mean" in text(cas.get(url)), url
    printable = cas.get("/compliance/print").get_data(as_text=True)
    assert '<details class="compliance-legend" id="compliance-legend" open>' in printable

    dutch = text(cas.get("/compliance", headers={"Accept-Language": "nl"}))
    assert "Wat de kolommen betekenen" in dutch and "0 in eigendom, 1 in bewaring" in dutch
    assert "PRONOM-formaatidentificatie (PUID)" in dutch
    assert "What the columns mean" not in dutch and "0 owned" not in dutch
    french = text(cas.get("/compliance", headers={"Accept-Language": "fr"}))
    assert "Ce que signifient les colonnes" in french and "identifiant de format PRONOM" in french

    api = site.app.test_client().get("/api/v1/compliance", headers=token(site, "cas"))
    [archive] = api.get_json()["organisations"]
    assert (archive["name"], archive["packages"]) == ("archive", 1)
    assert (archive["packages_owned"], archive["packages_kept"]) == (0, 1)


def test_exit_status_on_the_page(world: tuple[Site, str], tmp_path: Path) -> None:
    site, _pid = world
    app = site.application
    mia, cas = person(app, "mia"), person(app, "cas")
    agreements_service.give_notice(app, mia, REF, "museum", "merger")
    agreements_service.start_exit(app, cas, REF, now=datetime.now(UTC) + timedelta(days=120))
    exits.export(app, cas, REF, tmp_path / "exit")
    shown = text(site.client("mia").get(f"/compliance/agreements/{REF}"))
    assert "waiting for the receiving party's confirmation" in shown
    assert "has not confirmed the checksums" in shown


def test_who_may_see_what_and_refused_parameters(world: tuple[Site, str]) -> None:
    site, _pid = world
    arno = site.client("arno")  # admin of the artist: a party, not the owner
    assert arno.get(f"/compliance/agreements/{REF}").status_code == 200
    assert arno.get("/compliance/organisations/museum").status_code == 404
    assert arno.get("/compliance/agreements/NOPE-1").status_code == 404
    both = arno.get(f"/compliance.csv?agreement={REF}&organisation=artist")
    assert both.status_code == 422
    assert site.app.test_client().get("/compliance").status_code == 302  # sign in first


def test_the_api(world: tuple[Site, str]) -> None:
    site, pid = world
    client = site.app.test_client()
    headers = token(site, "mia")
    report = client.get("/api/v1/compliance", headers=headers)
    assert report.status_code == 200
    data = report.get_json()
    [agreement] = data["agreements"]
    assert (agreement["name"], agreement["packages"]) == (f"{REF} v1", 1)
    assert agreement["last_restore_test_outcome"] == "ok"
    assert [o["name"] for o in data["organisations"]] == ["museum"]
    status = client.get(f"/api/v1/agreements/{REF}/exit", headers=headers).get_json()
    assert (status["state"], status["recipient"], status["exports"]) == ("active", "museum", [])
    tests = client.get(f"/api/v1/agreements/{REF}/restore-tests", headers=headers).get_json()
    assert [(t["package_id"], t["outcome"]) for t in tests["items"]] == [(pid, "ok")]
    bad = client.get(f"/api/v1/compliance?agreement={REF}&organisation=museum", headers=headers)
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json"
    other = token(site, "arno")
    assert client.get("/api/v1/compliance?organisation=museum", headers=other).status_code == 404
    assert client.get("/api/v1/agreements/NOPE-1/exit", headers=other).status_code == 404
    assert client.get("/api/v1/agreements/NOPE-1/restore-tests", headers=other).status_code == 404


def test_an_ended_agreement_shows_its_state_and_no_next_dates(
    site_any: Site, tmp_path: Path
) -> None:
    """Trial findings 10/11: the page of an agreement that is over said "Next review
    2031-11-01" and showed no state. Its state is shown under its name, and an agreement no
    longer in force has no next restore test and no next review; a reference in another case
    finds it."""
    add_parties(site_any)
    make_active(
        site_any.application,
        spec(effective_until="2026-11-30", service_level={"restore_test_interval_days": 30}),
    )
    site_any.repo.run(
        "ingest", delivery(tmp_path / "d", "Harbour"), "--collection", "photos",
        "--organisation", "museum",
    )  # fmt: skip
    mia = site_any.client("mia")

    def cells(reference: str) -> list[str]:
        page = mia.get(f"/compliance/agreements/{reference}")
        assert page.status_code == 200
        body = page.get_data(as_text=True)
        row = re.search(r"<tbody>\s*<tr>(.*?)</tr>", body, re.S)
        assert row is not None
        parts = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row.group(1), re.S)
        return [
            re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", p))).strip() for p in parts
        ]

    running = cells(REF)
    assert "active" in running[0]
    assert running[8] != "–" and running[9] != "–"  # next restore test, next review

    agreements_service.advance(site_any.application, datetime(2026, 12, 2, tzinfo=UTC))
    ended = cells(REF.lower())
    assert ended[0].startswith(f"{REF} v1") and "expired" in ended[0]
    assert (ended[8], ended[9]) == ("–", "–")
    assert ended[7] == "never"  # a package was in scope and never tested
