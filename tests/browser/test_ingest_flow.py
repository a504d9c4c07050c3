"""The issue's browser flow, as an archivist does it: sign in; upload a folder of images and a
PDF with its folder structure; the upload is interrupted and the page reloaded, then resumed;
the ingest is followed until it ends; the package is found by search and opened; its thumbnail
shows; a file and the bag are downloaded; the catalogue is switched to Dutch and French."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Served, axe_violations, delivery, sign_in

TITLE = "Glass plates of the harbour"


def _start_upload(page: Any, folder: Path) -> None:
    page.locator("#collection").select_option(label="Photographs (Our Museum)")
    page.locator("#dc-title").fill(TITLE)
    page.locator("#pick-folder").set_input_files(folder)
    expect(page.locator("#picked-list")).to_contain_text("scans/plate-1.png")
    page.get_by_role("button", name="Upload and ingest").click()


def test_upload_a_folder_interrupted_reload_resume_and_follow_the_ingest(
    served: Served, page: Any, tmp_path: Path
) -> None:
    served.user("dora")
    folder = delivery(tmp_path / "harbour", images=3, pdf=True)
    sign_in(page, "dora")

    # --- upload, interrupted after the first file: later chunks are refused by the network
    page.goto("/ingest")
    assert axe_violations(page) == []
    passed: list[str] = []

    def flaky(route: Any) -> None:
        if route.request.method == "PATCH" and len(passed) >= 1:
            route.abort("connectionreset")
            return
        if route.request.method == "PATCH":
            passed.append(route.request.url)
        route.continue_()

    page.route("**/uploads/**", flaky)
    with page.expect_event(
        "requestfailed", predicate=lambda r: "/uploads/" in r.url and r.method == "PATCH"
    ):
        _start_upload(page, folder)
    assert passed, "no chunk reached the server before the interruption"
    page.unroute("**/uploads/**")

    # --- reload: the unfinished upload is listed; resume it with the same folder
    page.reload()
    unfinished = page.get_by_role("heading", name="Your unfinished uploads")
    expect(unfinished).to_be_visible()
    page.get_by_role("button", name="Resume").first.click()
    expect(page.locator("#upload-message")).to_contain_text("harbour")
    expect(page.locator("#dc-title")).to_have_value(TITLE)  # kept after Resume (trial F6)
    page.locator("#pick-folder").set_input_files(folder)
    page.get_by_role("button", name="Upload and ingest").click()

    # --- the ingest runs in the worker; the page follows it and links the new package
    package_link = page.locator("#upload-result a").first
    expect(package_link).to_be_visible()
    package_url = package_link.get_attribute("href")
    # the finished upload is no longer listed as unfinished (trial F6)
    expect(page.locator("#unfinished-heading + table tbody tr")).to_have_count(0)
    assert package_url and package_url.startswith("/packages/")
    page.goto(package_url)
    expect(page.get_by_role("heading", level=1)).to_contain_text(TITLE)
    expect(page.get_by_text("plate-3.png").first).to_be_visible()
    expect(page.get_by_text("inventory.pdf").first).to_be_visible()


def test_find_open_see_a_thumbnail_download_and_switch_language(
    served: Served, page: Any, tmp_path: Path
) -> None:
    """The second half of the flow on a package ingested by the worker (so this half is
    checked even while the upload half is not)."""
    served.user("emil")
    folder = delivery(tmp_path / "harbour", images=3, pdf=True)
    out = served.repo.json(
        "ingest", folder, "--collection", "photos", "--organisation", "ours",
        "--title", TITLE + " (second)", "--async", "--json",
    )  # fmt: skip
    served.repo.run("jobs", "wait", out["job_id"], "--timeout", "300")
    package_id = next(p["id"] for p in served.repo.packages() if p["title"] == TITLE + " (second)")
    package_url = f"/packages/{package_id}"
    sign_in(page, "emil")

    # --- find it by search, open it
    page.goto("/packages")
    page.locator("#q").fill("harbour")
    page.get_by_role("button", name="Search").first.click()
    result = page.get_by_role("link", name=TITLE + " (second)")
    expect(result).to_be_visible()
    result.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(TITLE + " (second)")
    assert page.url.endswith(package_url)
    assert axe_violations(page) == []

    # --- a thumbnail: made by the derive job after the ingest; reload until it is the JPEG
    thumbnail = page.locator("img.thumb").first
    src = thumbnail.get_attribute("src")
    assert src
    for _attempt in range(120):
        response = page.request.get(src)
        if response.headers.get("content-type", "").startswith("image/jpeg"):
            break
        page.wait_for_timeout(1000)
    else:
        raise AssertionError("the thumbnail was never made")
    page.reload()
    expect(thumbnail).to_be_visible()
    assert page.evaluate(
        "(img) => img.complete && img.naturalWidth > 0", thumbnail.element_handle()
    )

    # --- download one file and the bag
    with page.expect_download() as first:
        page.get_by_role("link", name=re.compile(r"Download\s+inventory\.pdf")).click()
    pdf = Path(first.value.path()).read_bytes()
    assert pdf == (folder / "inventory.pdf").read_bytes()
    with page.expect_download() as second:
        page.get_by_role("link", name="Download the bag (zip)").click()
    bag = zipfile.ZipFile(io.BytesIO(Path(second.value.path()).read_bytes()))
    names = bag.namelist()
    assert any(n.endswith("bagit.txt") for n in names)
    assert any(n.endswith("scans/plate-2.png") for n in names), names[:20]

    # --- Dutch, then French: the page itself (and its navigation) in that language
    words = {
        "nl": ("Taken", "De bag downloaden (zip)"),
        "fr": ("Tâches", "Télécharger le bag (zip)"),
    }
    for code, (jobs, bag) in words.items():
        page.locator("#language-choice").select_option(code)
        page.locator("form.language button[type=submit]").click()
        expect(page.locator("html")).to_have_attribute("lang", code)
        assert page.url.endswith(package_url)
        expect(page.get_by_role("navigation").get_by_role("link", name=jobs)).to_be_visible()
        expect(page.get_by_role("link", name=bag)).to_be_visible()
