"""In the browser: a search or filter form sends only the fields that were filled in."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from playwright.sync_api import expect

from tests.browser.conftest import Served, sign_in


def test_a_search_from_the_keyboard_leaves_out_the_empty_fields(served: Served, page: Any) -> None:
    """Trial 11, F15: Tab to the box, type, Enter gave
    /packages?q=liege&creator=&date_from=&...&per_page=25."""
    served.user("fien")
    sign_in(page, "fien")
    page.goto("/packages")
    page.locator("#q").fill("liege")
    page.locator("#q").press("Enter")
    expect(page).to_have_url(re.compile(r"/packages\?q=liege"))
    sent = parse_qsl(urlsplit(page.url).query, keep_blank_values=True)
    assert ("q", "liege") in sent
    assert [name for name, value in sent if value == ""] == []
    # back in history the form is whole again (no field left disabled)
    page.go_back()
    expect(page.locator("form.search [disabled]")).to_have_count(0)
