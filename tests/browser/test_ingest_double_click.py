"""Trial F9: a double click on "Upload and ingest" opened two transfers; the files went into
one and "complete" to the other, empty one, so nothing was ingested. The page now disables the
button at the first click and sends one request id per form submission (the server opens one
transfer per id): one transfer, one ingest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from preserve.services import accounts, transfers
from tests.browser.conftest import PATIENCE_MS, Served, delivery, sign_in


def test_a_double_click_opens_one_transfer_and_ingests_it(
    served: Served, page: Any, tmp_path: Path
) -> None:
    served.user("dirk")
    folder = delivery(tmp_path / "dubbel-klik", images=2, pdf=False)
    sign_in(page, "dirk")
    opened: list[str] = []
    page.on(
        "request",
        lambda r: (
            opened.append(r.url)
            if r.method == "POST" and r.url.endswith("/ingest/transfers")
            else None
        ),
    )
    page.goto("/ingest")
    page.locator("#collection").select_option(label="Photographs (Our Museum)")
    page.locator("#dc-title").fill("Test dbl")
    page.locator("#pick-folder").set_input_files(folder)
    expect(page.locator("#picked-list")).to_contain_text("scans/plate-1.png")
    page.get_by_role("button", name="Upload and ingest").dblclick()

    package_link = page.locator("#upload-result a").first
    expect(package_link).to_be_visible(timeout=PATIENCE_MS)
    assert len(opened) == 1, opened
    # nothing is left unfinished
    app = served.site.application
    dirk = accounts.principal_for(app, served.site.users["dirk"])
    assert dirk is not None
    assert transfers.open_transfers(app, dirk) == []
