"""A three-party agreement walked from draft to active in the browser (issue 12): the museum's
archivist creates the draft and fills in every section with the editor's forms, proposes it;
the museum (owner), the artist (creator) and the archive service (custodian) each agree and
sign through their own people, signed in as themselves; the archive service activates it. Each
page is checked by axe-core and runs with no script error or CSP refusal. With
``PRESERVE_TEST_SCREENSHOTS=<folder>`` the main agreement pages are saved there as
``agreement-*.png``."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, Served, axe_violations, sign_in

REF = "CRA-WEB-001"
#: people of this test: user name -> (organisation, role)
PEOPLE = {
    "ag-mia": ("museum", "archivist"),
    "ag-arno": ("artist", "admin"),
    "ag-cas": ("archive", "archivist"),
}
PARTIES = {"ag-mia": "museum", "ag-arno": "artist", "ag-cas": "archive"}


def _setup(served: Served) -> None:
    from preserve.services import accounts

    for slug, name in (
        ("museum", "The Museum"),
        ("artist", "Studio An Artist"),
        ("archive", "The Archive Service"),
    ):
        served.repo.run("organisations", "add", slug, "--name", name, ok=False)  # may exist
    served.repo.run(
        "collections", "add", "photos", "--organisation", "museum", "--title", "Photos", ok=False
    )
    for username, (org, role) in PEOPLE.items():
        if username not in served.site.users:
            made = accounts.create_user(
                served.site.application,
                username,
                password=PASSWORD,
                display_name=username[3:].title(),
                memberships={org: role},
            )
            served.site.users[username] = made.user_id


class Walk:
    """One person's browser tab, checked on every page it shows."""

    def __init__(self, browser: Any, served: Served, username: str, shots: Path | None) -> None:
        self.context = browser.new_context(
            base_url=served.url, locale="en-GB", viewport={"width": 1280, "height": 900}
        )
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.shots = shots
        self.problems: list[str] = []
        sign_in(self.page, username)

    def check(self, name: str) -> None:
        found = axe_violations(self.page)
        if found:
            self.problems.append(f"{name}: {found}")
        if self.shots is not None:
            self.page.screenshot(path=str(self.shots / f"agreement-{name}.png"), full_page=True)

    def save(self, section: str) -> None:
        self.page.locator(f"section#{section} form button[type=submit]").click()
        expect(self.page.locator(".flash-success")).to_contain_text("the changes were saved")

    def close(self) -> None:
        self.context.close()
        refused = [e for e in self.errors if "Content Security Policy" in e or "Refused" in e]
        assert not refused, refused
        assert not [e for e in self.errors if "404" not in e], self.errors
        assert not self.problems, "\n".join(self.problems)


def test_a_three_party_agreement_from_draft_to_active(served: Served, browser: Any) -> None:
    _setup(served)
    folder = os.environ.get("PRESERVE_TEST_SCREENSHOTS")
    shots = Path(folder) if folder else None
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
    mia = Walk(browser, served, "ag-mia", shots)
    page = mia.page
    # --- the draft
    page.goto("/agreements")
    page.get_by_role("link", name="New agreement").click()
    page.get_by_label("Reference").fill(REF)
    page.get_by_label("Title").fill("Born-digital works of the studio")
    page.get_by_label("Kind").select_option("deposit")
    page.get_by_label("In force from").fill(date.today().isoformat())
    mia.check("new")
    page.get_by_role("button", name="Create the draft").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Edit {REF} v1")
    # --- every section, with ordinary forms
    for n, (org, role) in enumerate(
        (
            ("museum", "owner_depositor"),
            ("artist", "creator_rights_holder"),
            ("archive", "custodian"),
        ),
        start=1,
    ):
        page.select_option(f"#p{n}_organisation", org)
        page.check(f"#p{n}_role_{role}")
    page.check("#p1_auth_approve_disposal")
    mia.save("parties")
    page.fill("#collections", "museum/photos")
    mia.save("scope")
    page.select_option("#action", "keep_permanently")
    page.fill("#trigger", "ingest_date")
    page.fill("#motivation", "Works of lasting cultural value")
    page.fill("#retention_legal_basis", "Deposit agreement")
    mia.save("retention")
    page.fill("#min_copies", "2")
    page.fill("#fixity_interval_days", "90")
    page.fill("#allowed_regions", "BE EU")
    mia.save("service_level")
    page.fill("#accepted", "fmt/353 fmt/276")
    page.fill("#preferred", "fmt/353")
    mia.save("formats")
    page.select_option("#r_replicate_restriction", "allow")
    page.select_option("#r_disseminate_restriction", "allow")
    mia.save("rights")
    page.select_option("#a1_action", "download")
    page.select_option("#a1_group", "parties")
    mia.save("access")
    page.select_option("#recipient", "museum")
    page.fill("#deadline_days", "90")
    page.select_option("#post_exit_action", "delete_with_certificate")
    mia.save("exit")
    expect(page.get_by_text("The draft is complete.")).to_be_visible()
    mia.check("edit")
    page.get_by_role("button", name="Propose to the parties").first.click()
    expect(page.locator("#agreement-state")).to_have_text("proposed")
    # --- each party agrees, through its own people
    walks = {"ag-mia": mia}
    for username in ("ag-mia", "ag-arno", "ag-cas"):
        walk = walks.get(username) or Walk(browser, served, username, shots)
        walks[username] = walk
        p = walk.page
        p.goto("/agreements")
        panel = p.locator("section.awaiting")
        expect(panel).to_contain_text(REF)
        if username == "ag-arno":
            walk.check("list")
        panel.get_by_role("link", name=f"{REF} v1").click()
        if username == "ag-arno":
            walk.check("proposed")
        p.get_by_role("button", name=f"Agree for {PARTIES[username]}").click()
        expect(p.locator(".flash-success")).to_contain_text("Agreed.")
    expect(walks["ag-cas"].page.locator("#agreement-state")).to_have_text("pending signature")
    # --- each party signs
    for username in ("ag-mia", "ag-arno", "ag-cas"):
        p = walks[username].page
        p.goto(f"/agreements/{REF}/v1")
        party = PARTIES[username]
        if username == "ag-mia":
            walks[username].check("pending-signature")
        p.fill(f"#capacity-{party}", "director")
        p.get_by_role("button", name=f"Sign for {party}").click()
        expect(p.locator(".flash-success")).to_contain_text("Signed.")
    cas = walks["ag-cas"].page
    cas.goto(f"/agreements/{REF}/v1")
    expect(cas.locator("#agreement-state")).to_have_text("signed")
    # only the custodian's staff is offered the activation
    expect(walks["ag-arno"].page.get_by_role("button", name="Activate")).to_have_count(0)
    cas.get_by_role("button", name="Activate").click()
    expect(cas.locator("#agreement-state")).to_have_text("active")
    expect(cas.get_by_text("content SHA-256")).to_be_visible()
    walks["ag-cas"].check("active")
    for walk in walks.values():
        walk.close()
    from preserve.services import agreements

    detail = agreements.show(served.site.application, REF)
    assert detail.state == "active"
    assert [len(p.signatures) for p in detail.parties] == [1, 1, 1]
    assert agreements.verify_frozen(served.site.application, REF)
