"""A package from due to disposed in the browser (issue 12): the custodian's archivist proposes
the due packages of an agreement; the owner and the custodian each approve through their own
people, signed in as themselves (the requester is not offered a way round the four eyes: the
page refuses with the reason); the custodian executes it, and the dated declaration is shown
as a printable page whose SHA-256 is the one the catalogue keeps. Each page is checked by
axe-core and runs with no script error or CSP refusal. With ``PRESERVE_TEST_SCREENSHOTS=<folder>``
the disposal pages are saved there as ``disposal-*.png``."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, Served, axe_violations, sign_in
from tests.integration.disposal_world import make_due

REF = "DSP-WEB-001"
#: people of this test: user name -> (organisation, role)
PEOPLE = {
    "dsp-ann": ("ours", "archivist"),
    "dsp-carl": ("theirs", "archivist"),
    "dsp-tess": ("theirs", "archivist"),
}
LATER = datetime(2099, 1, 1, 9, tzinfo=UTC)


def _setup(served: Served, tmp: Path) -> str:
    """People, an active agreement over ours/doomed whose rule destroys after a year, approved
    by ours (owner) and theirs (custodian), and a package in it that is due."""
    from preserve.services import accounts, agreements
    from preserve.services.accounts import principal_for

    app = served.site.application
    served.repo.run(
        "collections", "add", "doomed", "--organisation", "ours", "--title", "Working copies"
    )
    for username, (org, role) in PEOPLE.items():
        made = accounts.create_user(
            app,
            username,
            password=PASSWORD,
            display_name=username[4:].title(),
            memberships={org: role},
        )
        served.site.users[username] = made.user_id

    def who(name: str) -> Any:
        return principal_for(app, served.site.users[name])

    spec = {
        "reference": REF,
        "kind": "deposit",
        "title": "Working copies of the museum",
        "effective_from": date.today().isoformat(),
        "parties": [
            {
                "organisation": "ours",
                "roles": ["owner_depositor"],
                "authorities": ["approve_disposal"],
            },
            {"organisation": "theirs", "roles": ["custodian"], "authorities": ["approve_disposal"]},
        ],
        "scope": [{"collection": "ours/doomed"}],
        "retention": {
            "action": "destroy",
            "trigger": "ingest_date",
            "period": {"value": 1, "unit": "years"},
            "bound": "minimum",
            "motivation": "Working copies are kept one year.",
            "legal_basis": "Selection list item 12",
        },
        "service_level": {"min_copies": 1, "min_distinct_sites": 1, "fixity_interval_days": 90},
        "rights": [{"act": "replicate", "restriction": "allow"}],
        "exit": {
            "recipient": "ours",
            "package_format": "bagit_premis",
            "deadline_days": 90,
            "post_exit_action": "delete_with_certificate",
        },
    }
    agreements.create_draft(app, who("dsp-ann"), spec)
    agreements.propose(app, who("dsp-ann"), REF)
    for name, party in (("dsp-ann", "ours"), ("dsp-carl", "theirs")):
        agreements.agree(app, who(name), REF, party)
    for name, party in (("dsp-ann", "ours"), ("dsp-carl", "theirs")):
        agreements.sign(app, who(name), REF, party, capacity="director")
    agreements.activate(app, who("dsp-carl"), REF)
    folder = tmp / "working-copy"
    folder.mkdir(parents=True)
    (folder / "draft-scan.txt").write_text("a working copy of plate 7\n", encoding="utf-8")
    before = {p["id"] for p in served.repo.packages()}
    served.repo.run(
        "ingest", folder, "--collection", "doomed", "--organisation", "ours",
        "--title", "Working copy of plate 7",
    )  # fmt: skip
    [package_id] = [p["id"] for p in served.repo.packages() if p["id"] not in before]
    make_due(app)
    return str(package_id)


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
            self.page.screenshot(path=str(self.shots / f"disposal-{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()
        refused = [e for e in self.errors if "Content Security Policy" in e or "Refused" in e]
        assert not refused, refused
        # the refused step answers 403 on purpose: the browser logs that status, nothing else
        assert not [e for e in self.errors if "403" not in e and "404" not in e], self.errors
        assert not self.problems, "\n".join(self.problems)


def test_a_due_package_is_disposed_of_with_both_approvals_and_its_declaration(
    served: Served, browser: Any, tmp_path: Path
) -> None:
    package_id = _setup(served, tmp_path)
    folder = os.environ.get("PRESERVE_TEST_SCREENSHOTS")
    shots = Path(folder) if folder else None
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)

    # --- the custodian's archivist proposes the due packages of the agreement
    carl = Walk(browser, served, "dsp-carl", shots)
    page = carl.page
    page.goto("/disposal")
    page.get_by_role("link", name="Propose a disposal").click()
    carl.check("new")
    page.get_by_label("Only of this agreement (optional)").fill(REF)
    page.get_by_role("button", name="Propose the due packages").click()
    expect(page.locator(".flash-success")).to_contain_text("was proposed")
    expect(page.locator("#disposal-state")).to_have_text("pending")
    expect(page.locator("#packages")).to_contain_text("Working copy of plate 7")
    request_url = page.url
    carl.check("proposed")
    # the requester may not approve for their own party: refused with the reason
    page.get_by_role("button", name="Approve for theirs").click()
    expect(page.locator("#step-error")).to_contain_text("may not approve or reject it")

    # --- the owner approves, through its own archivist
    ann = Walk(browser, served, "dsp-ann", shots)
    p = ann.page
    p.goto("/disposal")
    row = p.locator("#disposals tbody tr").filter(has_text=REF)
    expect(row).to_contain_text("ours, theirs")  # still to approve
    ann.check("list")
    row.get_by_role("link").click()
    p.fill("#comment-ours", "checked against the inventory")
    p.get_by_role("button", name="Approve for ours").click()
    expect(p.locator(".flash-success")).to_contain_text("ours approved disposal")
    expect(p.locator("#approvals")).to_contain_text("checked against the inventory")

    # --- the custodian approves, through another of its people
    tess = Walk(browser, served, "dsp-tess", shots)
    tess.page.goto(request_url)
    tess.page.get_by_role("button", name="Approve for theirs").click()
    expect(tess.page.locator("#disposal-state")).to_have_text("approved")
    tess.check("approved")

    # --- the custodian's archivist executes it
    page.goto(request_url)
    page.get_by_role("button", name="Execute now").click()
    expect(page.locator(".flash-success")).to_contain_text("was executed")
    expect(page.locator("#disposal-state")).to_have_text("executed")
    expect(page.locator("#packages")).to_contain_text("disposed")
    carl.check("executed")

    # --- the declaration, as a printable page
    p.goto(request_url)
    p.get_by_role("link", name="Disposal declaration").click()
    declaration = p.locator("#declaration")
    expect(declaration).to_contain_text(f"{REF} version 1")
    expect(declaration).to_contain_text("Selection list item 12")
    expect(declaration).to_contain_text("Working copy of plate 7")
    expect(declaration).to_contain_text("data/draft-scan.txt")
    expect(declaration).to_contain_text("checked against the inventory")
    ann.check("declaration")
    shown_sha = p.locator("#declaration-sha256").inner_text()
    for walk in (carl, ann, tess):
        walk.close()

    from preserve.services import disposal

    app = served.site.application
    [done] = [d for d in disposal.list_requests(app, None) if d.agreement == f"{REF} v1"]
    assert done.state == "executed" and shown_sha == done.declaration_sha256
    assert [i.package_id for i in done.items] == [package_id]
    assert [i.state for i in done.items] == ["disposed"]
    assert [p.decided_by for p in done.parties] == ["dsp-ann", "dsp-tess"]
