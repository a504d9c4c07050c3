"""In the browser: a form sent after the session changed (signed out and in again in another
tab) is not lost: the page says so in plain words, "Back to the form" shows it again with what
was typed, and sending it again works."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Served, sign_in


def test_a_stale_form_keeps_what_was_typed(served: Served, context: Any) -> None:
    """Trial 11, F16: the typed text was gone behind a bare 'CSRF' error page."""
    served.user("hanne")
    tab_a = context.new_page()
    sign_in(tab_a, "hanne")
    tab_a.goto("/account")
    tab_a.get_by_label("Display name").fill("Hanne from tab A")
    tab_b = context.new_page()
    tab_b.goto("/account")
    tab_b.get_by_role("button", name="Sign out", exact=True).click()
    sign_in(tab_b, "hanne")
    tab_a.get_by_role("button", name="Save").click()
    expect(tab_a.get_by_role("heading", level=1)).to_have_text("The form has expired")
    assert "CSRF" not in tab_a.content()
    tab_a.get_by_role("link", name="Back to the form").click()
    expect(tab_a.get_by_label("Display name")).to_have_value("Hanne from tab A")
    tab_a.get_by_role("button", name="Save").click()
    expect(tab_a.get_by_label("Display name")).to_have_value("Hanne from tab A")
    tab_a.reload()
    expect(tab_a.get_by_label("Display name")).to_have_value("Hanne from tab A")
