"""Every main page in the browser, with realistic sample content: it renders with no error,
nothing refused by the Content-Security-Policy and no script error, axe-core finds no serious
or critical violation, and the keyboard reaches the main action with visible focus. With
``PRESERVE_TEST_SCREENSHOTS=<folder>`` (``python -m tests.browser.screenshots`` sets it to
``docs/screenshots``) each page is also saved there as a PNG for the README."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import Served, axe_violations, delivery, sign_in

#: (file name, path, what the page's h1 says, the main action reached with Tab)
PAGES = [
    ("sign-in", "/sign-in", "Sign in", "#username"),
    ("dashboard", "/", None, None),
    ("packages", "/packages", "Packages", "#q"),
    ("package", "PACKAGE", None, None),
    ("ingest", "/ingest", None, "#collection"),
    ("jobs", "/jobs", "Jobs", "#filter-state"),
    ("alerts", "/alerts", "Alerts", None),
    ("locations", "/locations", "Storage locations", None),
]


@pytest.fixture(scope="module")
def sample(served: Served) -> dict[str, Any]:
    """Three packages of photographs with thumbnails, a letters package of the other
    organisation, a fixity job, as an archive would have after its first week."""
    made = []
    for n, title in enumerate(
        ("Glass plates of the harbour, 1923", "Shipyard workers, 1951", "Quay at night")
    ):
        folder = delivery(served.tmp / f"sample-{n}", images=2 + n, pdf=n == 0)
        out = served.repo.json(
            "ingest", folder, "--collection", "photos", "--organisation", "ours",
            "--title", title, "--async", "--json",
        )  # fmt: skip
        made.append(out["job_id"])
    letters = delivery(served.tmp / "sample-letters", images=1, pdf=True)
    out = served.repo.json(
        "ingest", letters, "--collection", "letters", "--organisation", "theirs",
        "--title", "Letters of the harbour master", "--async", "--json",
    )  # fmt: skip
    made.append(out["job_id"])
    for job_id in made:
        served.repo.run("jobs", "wait", job_id, "--timeout", "300")
    packages = [p for p in served.repo.packages() if p["title"].startswith("Glass plates")]
    served.repo.run("fixity", "--package", packages[0]["id"])
    from preserve.services import alerts

    with served.site.application.uow() as uow:
        alerts.record(
            uow, "repaired", "a copy of Glass plates of the harbour, 1923 was repaired",
            "The copy on default of data/scans/plate-2.png did not match its checksum; it was "
            "replaced from a good copy and verified.",
            severity="info", package_id=packages[0]["id"],
        )  # fmt: skip
        uow.commit()
    served.user("screens", None, admin=True)
    return {"package": packages[0]["id"]}


def _watch(page: Any) -> list[str]:
    """Console errors (a CSP refusal is one) and uncaught script errors of the page."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def test_main_pages(served: Served, sample: dict[str, Any], browser: Any) -> None:
    folder = os.environ.get("PRESERVE_TEST_SCREENSHOTS")
    target = Path(folder) if folder else None
    if target:
        target.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(
        base_url=served.url, locale="en-GB", viewport={"width": 1280, "height": 860}
    )
    try:
        page = context.new_page()
        errors = _watch(page)
        problems: list[str] = []
        for name, path, heading, action in PAGES:
            if name == "sign-in":
                page.goto(path)
            else:
                if "/sign-in" in page.url or page.url == "about:blank":
                    sign_in(page, "screens")
                page.goto(path.replace("PACKAGE", f"/packages/{sample['package']}"))
            response_ok = page.evaluate("() => document.title") != ""
            assert response_ok, name
            if heading:
                expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
            found = axe_violations(page)
            if found:
                problems.append(f"{name}: {found}")
            if action:
                for _ in range(60):
                    page.keyboard.press("Tab")
                    if page.evaluate(f"() => document.activeElement.matches('{action}')"):
                        break
                else:
                    problems.append(f"{name}: Tab never reaches {action}")
                style = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
                if style == "none":
                    problems.append(f"{name}: no visible focus on {action}")
                page.evaluate("() => document.activeElement.blur()")
            if target:
                page.screenshot(path=str(target / f"{name}.png"), full_page=True)
        # a tablet: no page is wider than the screen (wide tables scroll in their own box)
        page.set_viewport_size({"width": 768, "height": 1024})
        for name, path, _heading, _action in PAGES[1:]:
            page.goto(path.replace("PACKAGE", f"/packages/{sample['package']}"))
            wide = page.evaluate("() => document.documentElement.scrollWidth - innerWidth")
            if wide > 0:
                problems.append(f"{name}: {wide} px wider than a 768 px tablet")
        refused = [e for e in errors if "Content Security Policy" in e or "Refused" in e]
        assert not refused, refused
        assert not problems, "\n".join(problems)
        script_errors = [e for e in errors if e not in refused and "404" not in e]
        assert not script_errors, script_errors
    finally:
        context.close()


def test_browsing_works_without_javascript(
    served: Served, sample: dict[str, Any], browser: Any
) -> None:
    """Browsing needs no script: sign in, search, open a package, the jobs and alerts; the
    ingest page says uploading needs JavaScript."""
    context = browser.new_context(base_url=served.url, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, "screens")
        page.goto("/packages?q=harbour")
        page.get_by_role("link", name="Glass plates of the harbour, 1923").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Glass plates")
        page.goto("/jobs")
        expect(page.locator("table.jobs")).to_be_visible()
        page.goto("/alerts")
        expect(page.get_by_text("was repaired")).to_be_visible()
        page.goto("/ingest")
        expect(page.locator("#upload-needs-js")).to_be_visible()
    finally:
        context.close()


def test_the_other_pages_pass_axe(served: Served, sample: dict[str, Any], browser: Any) -> None:
    """axe-core on the remaining pages (forms, admin, account), error pages included."""
    context = browser.new_context(base_url=served.url)
    try:
        page = context.new_page()
        sign_in(page, "screens")
        problems = []
        for path in (
            "/collections",
            "/collections/new",
            "/collections/ours/photos/edit",
            "/admin/people",
            "/admin/people/new",
            "/admin/organisations",
            "/admin/audit",
            "/account",
            "/account/password",
            "/account/tokens",
            f"/packages/{sample['package']}/describe",
            "/packages?q=nothing-matches-this",
            "/jobs?state=lost",
            "/jobs/00000000-0000-0000-0000-000000000000",
        ):
            page.goto(path)
            found = axe_violations(page)
            if found:
                problems.append(f"{path}: {found}")
        assert not problems, "\n".join(problems)
    finally:
        context.close()
