"""The hold pages (issue 12, point 5) and what the package page shows of its agreement and holds:
placing a hold on a package or a collection, refused input as a 422 form error with nothing
placed, lifting per target and whole with a reason, who may do it (403, 404); the package page
names its governing agreement (reference, version, state, retention due) and its holds, and
shows no download button that would answer 403, but the reason. SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest

from preserve.services import holds
from tests.agreement_setup import make_active
from tests.web.agreements_support import add_parties, form, person, spec
from tests.web.api_support import delivery
from tests.web.conftest import Site


def text(response: Any) -> str:
    return html.unescape(re.sub(r"\s+", " ", response.get_data(as_text=True)))


@pytest.fixture
def world(site_any: Site, tmp_path: Path) -> tuple[Site, str]:
    add_parties(site_any)
    site_any.repo.run(
        "ingest",
        delivery(tmp_path / "d", "Harbour"),
        "--collection",
        "photos",
        "--organisation",
        "museum",
    )
    package = site_any.repo.packages()[0]
    return site_any, str(package["id"])


def test_a_hold_is_placed_shown_and_lifted_through_the_pages(world: tuple[Site, str]) -> None:
    site, pid = world
    mia = site.client("mia")
    start = mia.get(f"/holds/new?package={pid}")
    assert start.status_code == 200 and pid in text(start)  # prefilled from the package page
    placed = form(
        mia,
        "/holds/new",
        {
            "kind": "legal",
            "title": "Court case 17",
            "reason": "keep for the court",
            "packages": pid,
            "collections": "museum/photos",
        },
    )
    assert placed.status_code == 302
    hold = holds.list_holds(site.application, None)[0]
    page = text(mia.get(f"/holds/{hold.id}"))
    assert "Court case 17" in page and "legal" in page and "collection museum/photos" in page
    assert "Court case 17" in text(mia.get("/holds"))
    package_page = text(mia.get(f"/packages/{pid}"))
    assert f"hold {hold.id}" in package_page and "Court case 17" in package_page
    # a viewer sees it but may not lift it; another organisation does not see it
    assert "Court case 17" in text(site.client("vera").get("/holds"))
    vera = form(site.client("vera"), f"/holds/{hold.id}/lift", {"reason": "mine"})
    assert vera.status_code == 403
    assert site.client("arno").get(f"/holds/{hold.id}").status_code == 404
    assert "Court case 17" not in text(site.client("arno").get("/holds"))
    # lift one target, then the whole hold; a reason is required
    no_reason = form(mia, f"/holds/{hold.id}/lift", {"reason": "", "target": f"package:{pid}"})
    assert no_reason.status_code == 422 and "a reason" in text(no_reason)
    one = form(
        mia, f"/holds/{hold.id}/lift", {"reason": "not this one", "target": f"package:{pid}"}
    )
    assert one.status_code == 302
    assert holds.show(site.application, None, hold.id).state == "active"
    whole = form(mia, f"/holds/{hold.id}/lift", {"reason": "the case is closed"})
    assert whole.status_code == 302
    assert holds.show(site.application, None, hold.id).state == "lifted"
    lifted = text(mia.get("/holds?state=lifted"))
    assert "Court case 17" in lifted
    assert "Court case 17" not in text(mia.get("/holds"))
    again = form(mia, f"/holds/{hold.id}/lift", {"reason": "again"})
    assert again.status_code == 422 and "already lifted" in text(again)


def test_refused_holds_are_form_errors_and_nothing_is_placed(world: tuple[Site, str]) -> None:
    site, pid = world
    mia = site.client("mia")
    for data, message in (
        ({"kind": "legal", "title": "t", "reason": "r"}, "at least one package"),
        ({"kind": "whim", "title": "t", "reason": "r", "packages": pid}, "unknown kind"),
        ({"kind": "legal", "title": "t", "reason": "", "packages": pid}, "a reason"),
        ({"kind": "legal", "title": "t", "reason": "r", "collections": "museum/none"}, None),
    ):
        refused = form(mia, "/holds/new", data)
        if message is None:
            assert refused.status_code == 404
            continue
        assert refused.status_code == 422, data
        page = text(refused)
        assert message in page and 'id="form-error"' in page
        assert f'value="{data["title"]}"' in page  # what was typed is kept
    viewer = form(
        site.client("vera"),
        "/holds/new",
        {"kind": "legal", "title": "t", "reason": "r", "packages": pid},
    )
    assert viewer.status_code == 403
    assert holds.list_holds(site.application, None, state="all") == []
    assert site.client("mia").get("/holds?state=lost").status_code == 422


def test_the_package_page_shows_its_agreement_and_gates_downloads(
    world: tuple[Site, str],
) -> None:
    site, pid = world
    before = text(site.client("vera").get(f"/packages/{pid}"))
    assert "No agreement governs this package." in before and "Download the bag" in before
    make_active(
        site.application,
        spec(
            reference="PKG-2026-001",
            access=[{"action": "download", "group": "parties", "embargo_until": "2099-01-01"}],
            rights=[
                {"act": "replicate", "restriction": "allow"},
                {"act": "disseminate", "restriction": "allow"},
            ],
        ),
    )
    viewer = site.client("vera")
    page = text(viewer.get(f"/packages/{pid}"))
    assert "PKG-2026-001 v1" in page and "(active)" in page
    assert 'href="/agreements/PKG-2026-001/v1"' in page
    assert "Download the bag" not in page and f"/packages/{pid}/files/" in page
    assert '/download"' not in page  # no file download links either
    assert "Downloads are not open to you:" in page and "2099-01-01" in page
    # the buttons are gone exactly where the download would be refused
    assert viewer.get(f"/packages/{pid}/bag.zip").status_code == 403
    staff = text(site.client("mia").get(f"/packages/{pid}"))
    assert "Download the bag" in staff and "Downloads are not open" not in staff
    assert "Place a hold on this package" in staff
    # the agreement's page counts and lists its packages, a page at a time
    under = text(viewer.get("/agreements/PKG-2026-001/v1"))
    assert "1 package" in under and f'href="/packages/{pid}"' in under
    second = text(viewer.get("/agreements/PKG-2026-001/v1?page=2"))
    assert f'href="/packages/{pid}"' not in second and 'rel="prev"' in second
    assert viewer.get("/agreements/PKG-2026-001/v1?page=0").status_code == 422
    person(site.application, "mia")  # the people of the agreement exist


def test_the_custodian_sees_a_hold_on_the_collection_of_a_package_it_keeps(
    world: tuple[Site, str],
) -> None:
    """A new-user trial: the holds page told the custodian's archivist "There are no holds here
    that you can see" while the owner's hold on the whole collection held the package."""
    site, pid = world
    make_active(site.application, spec())
    placed = holds.place(
        site.application,
        person(site.application, "mia"),
        kind="dispute",
        title="Ownership dispute",
        reason="the heirs contest the deposit",
        collections=["museum/photos"],
    )
    cas = site.client("cas")
    for url in ("/holds", f"/holds?package={pid}", "/holds?collection=museum/photos"):
        page = text(cas.get(url))
        assert f"{placed.id}: Ownership dispute" in page, url
        assert "There are no holds here that you can see." not in page
    shown = cas.get(f"/holds/{placed.id}")
    assert shown.status_code == 200 and "collection museum/photos" in text(shown)
    # a misspelt collection: "did you mean" among those the person may see
    misspelt = cas.get("/holds?collection=museum/photso")
    assert misspelt.status_code == 404
    assert "did you mean 'museum/photos'?" in text(misspelt)
