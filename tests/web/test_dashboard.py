"""The dashboard (/): its numbers match the catalogue for what the person sees, the charts'
data are JSON in a non-executable script element (CSP: no inline script) and also tables."""

from __future__ import annotations

import json
import re
from pathlib import Path

from preserve.services import accounts
from preserve.services import dashboard as dashboard_service
from tests.web.search_support import ingest


def test_numbers_match_the_catalogue(site_any, tmp_path: Path) -> None:
    site = site_any
    dashboard_service.clear_cache()
    ours = [
        ingest(site, tmp_path, "harbour", title="Haven", image="scans/a.png"),
        ingest(site, tmp_path, "station", title="Station", files={"a.txt": "x" * 100}),
    ]
    theirs = ingest(site, tmp_path, "letters", "letters", title="Brieven", image="b.png")
    site.repo.run("fixity", "--all")
    site.user("vera", role="viewer")
    vera = accounts.principal_for(site.application, site.users["vera"])
    summary = dashboard_service.compute_summary(site.application, vera.visible_organisations())

    assert summary.totals.packages == 2
    assert summary.totals.files == sum(p["files"] for p in ours)
    assert summary.totals.bytes == sum(p["bytes"] for p in ours)
    assert [(h.organisation, h.collection, h.packages) for h in summary.holdings] == [
        ("ours", "photos", 2)
    ]
    assert sum(loc.copies for loc in summary.locations) == summary.copies >= 2
    assert summary.checked_in_time == summary.copies  # all just checked
    assert summary.coverage == 1.0 and summary.failures == 0 and summary.damaged == 0
    assert summary.months[-1].total == summary.totals.bytes
    names = {f.name: f.files for f in summary.formats}
    assert names == {"Portable Network Graphics": 1, "Plain Text File": 2}

    root = site.user("root", role=None, admin=True)
    admin = accounts.principal_for(site.application, site.users[root])
    everything = dashboard_service.compute_summary(site.application, admin.visible_organisations())
    assert everything.totals.packages == 3
    assert everything.totals.bytes == summary.totals.bytes + theirs["bytes"]

    page = site.client("vera").get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Haven" in html and "Station" in html and "Brieven" not in html
    assert "letters" not in html.lower().replace("bytes", "")
    data = re.search(
        r'<script type="application/json" id="dashboard-data">(.*?)</script>', html, re.S
    )
    assert data is not None
    charts = json.loads(data.group(1))
    assert charts["coverage"]["values"] == [summary.copies, 0]
    assert sorted(charts["formats"]["files"]) == [1, 2]
    assert charts["months"]["total"][-1] == summary.totals.bytes
    # no inline script: every other script element has a src in /static
    for tag in re.findall(r"<script[^>]*>", html):
        assert 'type="application/json"' in tag or 'src="/static/' in tag, tag
    assert "onclick" not in html and "style=" not in html
    assert "<table" in html and "Formats by share of files" in html


def test_a_person_of_no_organisation_sees_nothing_and_signed_out_goes_to_sign_in(site) -> None:
    dashboard_service.clear_cache()
    assert site.client().get("/").status_code == 302
    page = site.client(site.user("nobody", role=None)).get("/")
    assert page.status_code == 200
    assert "Photographs" not in page.get_data(as_text=True)


def test_a_described_package_is_still_one_copy(site_any, tmp_path: Path) -> None:
    """Trial 11, F14: after a description version, 3 packages on one location showed
    '4 copies' (each version's folder was counted as a copy)."""
    site = site_any
    dashboard_service.clear_cache()
    package = ingest(site, tmp_path, "harbour", title="Haven", image="scans/a.png")
    ingest(site, tmp_path, "station", title="Station", files={"a.txt": "x" * 100})
    site.repo.run("describe", package["id"], "--title", "Nieuwe kaai")
    site.user("vera", role="viewer")
    vera = accounts.principal_for(site.application, site.users["vera"])
    summary = dashboard_service.compute_summary(site.application, vera.visible_organisations())
    assert summary.totals.packages == 2
    assert summary.package_copies == 2 * len(summary.locations) == 2
    assert summary.copies >= 3  # the versions' folders, as fixity checks them
    dashboard_service.clear_cache()
    html = site.client("vera").get("/").get_data(as_text=True)
    assert re.search(r'class="figure">2</span><span class="label">package copies<', html)


def test_the_custodian_sees_what_it_keeps(site_any, tmp_path: Path) -> None:
    """Trial finding 9: the archive service's archivist saw "0 packages stored" on the
    dashboard while /packages listed the museum's packages the archive keeps under their
    agreement. The dashboard counts what /packages lists: owned, and shared as a party."""
    from tests.agreement_setup import make_active
    from tests.web.agreements_support import add_parties, spec
    from tests.web.api_support import delivery

    site = site_any
    dashboard_service.clear_cache()
    add_parties(site)
    site.repo.run("collections", "add", "loose", "--organisation", "museum")
    for name, collection in (("Harbour", "photos"), ("Station", "photos"), ("Dock", "loose")):
        site.repo.run(
            "ingest", delivery(tmp_path / name, name), "--collection", collection,
            "--organisation", "museum",
        )  # fmt: skip
    make_active(site.application, spec())  # over museum/photos, the archive as custodian
    cas = site.client("cas")
    listed = cas.get("/packages").get_data(as_text=True)
    assert "Harbour" in listed and "Station" in listed and "Dock" not in listed

    page = cas.get("/")
    html = page.get_data(as_text=True)
    figure = re.search(
        r'<span class="figure">([^<]*)</span><span class="label">packages stored', html
    )
    assert figure is not None and figure.group(1).strip() == "2"
    assert "Harbour" in html and "Station" in html and "Dock" not in html  # recent ingests
    kept = dashboard_service.summary(site.application, accounts.principal_for(
        site.application, site.users["cas"]))  # fmt: skip
    assert [(h.organisation, h.collection, h.packages) for h in kept.holdings] == [
        ("museum", "photos", 2)
    ]
    # the owner sees its own collections, empty ones too
    mine = dashboard_service.summary(site.application, accounts.principal_for(
        site.application, site.users["mia"]))  # fmt: skip
    assert [(h.collection, h.packages) for h in mine.holdings] == [("loose", 1), ("photos", 2)]
    assert mine.totals.packages == 3
