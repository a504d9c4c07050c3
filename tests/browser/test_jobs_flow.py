"""In the browser: sign in, follow a job live on its page until it ends, the jobs list and the
alerts; keyboard and axe-core checks on those pages."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Served, axe_violations, delivery, sign_in


def test_sign_in_refuses_a_wrong_password_then_lets_the_person_in(
    served: Served, page: Any
) -> None:
    served.user("ana")
    sign_in_page = page.goto("/sign-in")
    assert sign_in_page.status == 200
    page.get_by_label("User name").fill("ana")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong user name or password")
    sign_in(page, "ana")
    page.goto("/jobs")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_a_job_is_followed_live_until_it_ends(served: Served, page: Any) -> None:
    served.user("bert")
    folder = delivery(served.tmp / "live-job", images=2, pdf=False)
    out = served.repo.json(
        "ingest", folder, "--collection", "photos", "--organisation", "ours", "--async", "--json"
    )
    sign_in(page, "bert")
    page.goto(f"/jobs/{out['job_id']}")
    live = page.locator("#job-live")
    # jobs.js polls the JSON twin and reloads the page once the job has ended
    expect(live).to_have_attribute("data-active", "false")
    expect(live.locator(".badge")).to_have_text("succeeded")
    expect(live).to_contain_text(re.compile(r"(\d+) of \1 files"))
    page.get_by_role("link", name="All jobs").click()
    expect(page.get_by_role("heading", name="Jobs", level=1)).to_be_visible()
    expect(page.locator("table.jobs")).to_contain_text(out["job_id"][:8])
    page.get_by_label("State").select_option("failed")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"state=failed"))
    expect(page.get_by_text("No jobs to show.")).to_be_visible()


def test_jobs_and_alerts_pages_pass_axe_and_the_keyboard(served: Served, page: Any) -> None:
    served.user("cora", None, admin=True)
    sign_in(page, "cora")
    for path in ("/jobs", "/alerts", "/locations"):
        page.goto(path)
        assert axe_violations(page) == [], path
    page.goto("/jobs")
    # the first Tab reaches the skip link, and focus is visible
    page.keyboard.press("Tab")
    focused = page.evaluate("() => document.activeElement.className")
    assert "skip-link" in focused
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    # the filter form is reachable by keyboard
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == "filter-state":
            break
    else:
        raise AssertionError("the state filter cannot be reached with Tab")
