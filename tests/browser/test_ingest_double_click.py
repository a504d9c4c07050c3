"""Trial F9: a double click on "Upload and ingest" opened two transfers; the files went into
one and "complete" to the other, empty one, so nothing was ingested. The page now disables the
button at the first click and sends one request id per form submission (the server opens one
transfer per id): one transfer, one ingest."""

from __future__ import annotations

import re
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
    # binary units like the rest of the catalogue (trial F4)
    expect(page.locator("#picked")).to_contain_text(re.compile(r"^3 files, [\d.,]+\u00a0KiB"))
    page.get_by_role("button", name="Upload and ingest").dblclick()

    package_link = page.locator("#upload-result a").first
    expect(package_link).to_be_visible(timeout=PATIENCE_MS)
    assert len(opened) == 1, opened
    # nothing is left unfinished
    app = served.site.application
    dirk = accounts.principal_for(app, served.site.users["dirk"])
    assert dirk is not None
    assert transfers.open_transfers(app, dirk) == []


def test_a_refused_file_name_is_named_with_the_reason_and_left_out(
    served: Served, page: Any, tmp_path: Path
) -> None:
    """Trial F10: a name the server refuses (a TAB in it) was reported as "Check your
    connection… Retry". Now the file is named with the server's reason and left out, and the
    other files can be ingested without it."""
    served.user("wim")
    folder = delivery(tmp_path / "Weigering", images=1, pdf=False)
    (folder / "tab\there.txt").write_text("refused\n", encoding="utf-8")
    sign_in(page, "wim")
    page.goto("/ingest")
    page.locator("#collection").select_option(label="Photographs (Our Museum)")
    page.locator("#pick-folder").set_input_files(folder)
    expect(page.locator("#picked-list")).to_contain_text("scans/plate-1.png")
    page.get_by_role("button", name="Upload and ingest").click()

    message = page.locator("#upload-message")
    expect(message).to_contain_text("refused", timeout=PATIENCE_MS)
    expect(message).not_to_contain_text("connection")
    expect(page.locator("#upload-result li")).to_contain_text("Weigering/tab\there.txt: ")
    expect(page.locator("#upload-result li")).to_contain_text("control character")
    retry = page.locator("#status-bar").get_by_role("button", name="Retry")
    expect(retry).to_have_count(0, timeout=10_000)

    # going on without it ingests the rest
    page.get_by_role("button", name="Upload and ingest").click()
    expect(page.locator("#upload-result a").first).to_be_visible(timeout=PATIENCE_MS)


def test_names_that_cannot_be_restored_on_windows_are_warned_about_before_upload(
    served: Served, page: Any, tmp_path: Path
) -> None:
    """Trial F11: CON, a:b*?.txt, a trailing space and .DS_Store were accepted without a word.
    They are kept (preserve ingest only warns about them too), but the page says so per file."""
    served.user("lies")
    folder = delivery(tmp_path / "Windows", images=1, pdf=False)
    for name in ("CON", "naam:met*teken?.txt", "trailing space .txt ", ".DS_Store"):
        (folder / name).write_text("x\n", encoding="utf-8")
    sign_in(page, "lies")
    page.goto("/ingest")
    page.locator("#pick-folder").set_input_files(folder)
    warnings = page.locator("#name-warnings li")
    expect(warnings).to_have_count(4)
    expect(page.locator("#name-warnings")).to_contain_text("Windows/CON: a reserved Windows")
    expect(page.locator("#name-warnings")).to_contain_text("naam:met*teken?.txt: characters")
    expect(page.locator("#name-warnings")).to_contain_text("Windows/.DS_Store: an operating")
    expect(page.locator("#name-warnings")).not_to_contain_text("plate-1.png")
