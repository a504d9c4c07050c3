"""The agreement pages (issue 12, point 5): the list with its filters and the "awaiting you"
panel, a version's page, the draft editor section by section, documents (refused ones as form
errors with 422; a download is an attachment with nosniff, never HTML), each step shown only to
whom it applies and refused with the service's reason otherwise (409 for the state, 422 for
input, 403 for no right), and a signed version that no route can change. SQLite and
PostgreSQL."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from preserve.services import agreements as service
from tests.agreement_setup import T0, make_active
from tests.web.agreements_support import add_parties, form, person, spec
from tests.web.conftest import Site

REF = "CRA-2026-001"
V1 = f"/agreements/{REF}/v1"


@pytest.fixture
def world(site_any: Site) -> Site:
    add_parties(site_any)
    return site_any


def text(response: Any) -> str:
    return html.unescape(re.sub(r"\s+", " ", response.get_data(as_text=True)))


def draft(site: Site, **changes: Any) -> service.AgreementDetail:
    return service.create_draft(
        site.application, person(site.application, "mia"), spec(reference=REF, **changes), now=T0
    )


def proposed(site: Site) -> None:
    draft(site)
    service.propose(site.application, person(site.application, "mia"), REF, now=T0)


def signed(site: Site) -> None:
    app = site.application
    proposed(site)
    for who, party in (("mia", "museum"), ("arno", "artist"), ("cas", "archive")):
        service.agree(app, person(app, who), REF, party, now=T0)
    for who, party in (("mia", "museum"), ("arno", "artist"), ("cas", "archive")):
        service.sign(app, person(app, who), REF, party, capacity="director", now=T0)


# ---------------------------------------------------------------------------- list and page


def test_the_list_shows_what_each_person_may_see_with_filters(world: Site) -> None:
    draft(world)
    service.create_draft(
        world.application,
        person(world.application, "cas"),
        spec(
            reference="CRA-ARCHIVE",
            exit=None,
            parties=[{"organisation": "archive", "roles": ["custodian"]}],
        ),
    )
    mia = text(world.client("mia").get("/agreements"))
    assert REF in mia and "CRA-ARCHIVE" not in mia  # only agreements her museum is party to
    root = text(world.client("root").get("/agreements"))
    assert REF in root and "CRA-ARCHIVE" in root
    only_drafts = text(world.client("root").get("/agreements?state=active"))
    assert REF not in only_drafts.split("<table")[-1]
    by_party = text(world.client("root").get("/agreements?organisation=artist"))
    assert ">CRA-ARCHIVE v1<" not in by_party and f">{REF} v1<" in by_party
    bad = world.client("root").get("/agreements?state=lost")
    assert bad.status_code == 422 and "Unknown state lost" in text(bad)


def test_a_version_page_shows_parties_terms_history_and_versions(world: Site) -> None:
    make_active(world.application, spec(reference=REF))
    service.amend(world.application, person(world.application, "mia"), REF, "three sites")
    page = text(world.client("vera").get(V1))
    for expected in (
        "The Museum",
        "Studio An Artist",
        "The Archive Service",
        "custodian",
        "active",
        "collection museum/photos",
        "keep permanently",
        "2 copies on 1 site",
        "fixity every 90 days",
        "replicate: allow",
        "delete with a certificate",
        "v2 (draft)",
        "director",
        "content SHA-256",
        "all signed",
        "Packages under",
    ):
        assert expected in page, expected
    # a viewer takes no step: no buttons
    assert "Your steps" not in page
    newest = world.client("vera").get(f"/agreements/{REF}")
    assert newest.status_code == 302 and newest.headers["Location"].endswith(f"/{REF}/v2")


def test_an_agreement_of_other_organisations_is_not_found(world: Site) -> None:
    draft(world)
    world.user("outsider", "archivist", "ours")
    client = world.client("outsider")
    for url in (V1, f"{V1}/edit", f"/agreements/{REF}"):
        assert client.get(url).status_code == 404, url
    assert form(client, f"{V1}/propose").status_code == 404
    assert REF not in text(client.get("/agreements"))


# ---------------------------------------------------------------------------- the editor


def test_a_draft_is_created_and_every_section_edited_through_forms(world: Site) -> None:
    client = world.client("mia")
    made = form(
        client,
        "/agreements/new",
        {
            "reference": REF,
            "title": "Photos of the museum",
            "kind": "deposit",
            "effective_from": "2026-11-29",
        },
    )
    assert made.status_code == 302 and made.headers["Location"].endswith(f"{V1}/edit")
    sections = {
        "parties": {
            "p1_organisation": "museum",
            "p1_roles": "owner_depositor",
            "p1_authorities": "approve_disposal",
            "p1_required_signatures": "1",
            "p2_organisation": "artist",
            "p2_roles": "creator_rights_holder",
            "p2_required_signatures": "1",
            "p3_organisation": "archive",
            "p3_roles": "custodian",
            "p3_required_signatures": "1",
        },
        "scope": {
            "collections": "museum/photos\n",
            "m1_element": "subject",
            "m1_operator": "contains",
            "m1_value": "harbour",
        },
        "retention": {
            "retention_action": "destroy",
            "trigger": "ingest_date",
            "period_value": "10",
            "period_unit": "years",
            "bound": "minimum",
            "motivation": "Useful 10 years",
            "legal_basis": "Archives Decree",
        },
        "service_level": {
            "min_copies": "3",
            "min_distinct_sites": "2",
            "allowed_regions": "BE, NL",
            "fixity_interval_days": "60",
            "restore_test_interval_days": "365",
        },
        "formats": {"accepted": "fmt/353 fmt/43", "preferred": "fmt/353"},
        "rights": {
            "r_replicate_restriction": "allow",
            "r_disseminate_restriction": "conditional",
            "r_disseminate_note": "on request",
        },
        "access": {"a1_action": "download", "a1_group": "owner", "a1_embargo_until": "2030-01-01"},
        "exit": {
            "recipient": "museum",
            "package_format": "bagit",
            "deadline_days": "30",
            "post_exit_action": "delete_with_certificate",
        },
        "general": {
            "title": "Photos of the museum",
            "kind": "deposit",
            "component": "main",
            "effective_from": "2026-11-29",
            "review_interval_months": "60",
            "notice_period_days": "90",
            "licence": "https://creativecommons.org/licenses/by/4.0",
        },
    }
    for section, data in sections.items():
        saved = form(client, f"{V1}/edit/{section}", data)
        assert saved.status_code == 302, (section, text(saved)[-800:])
    d = service.show(world.application, REF)
    assert [p.organisation for p in d.parties] == ["museum", "artist", "archive"]
    assert d.parties[0].authorities == ("approve_disposal",)
    assert [(s.selector, s.collection, s.value) for s in d.scope] == [
        ("collection", "museum/photos", None),
        ("metadata", None, "harbour"),
    ]
    assert d.retention is not None and (d.retention.action, d.retention.period_value) == (
        "destroy",
        10,
    )
    assert d.service_level is not None and d.service_level.allowed_regions == ("BE", "NL")
    assert d.service_level.restore_test_interval_days == 365
    assert set(d.accepted_formats) == {"fmt/353", "fmt/43"} and d.preferred_formats == ("fmt/353",)
    assert {(g.act, g.restriction) for g in d.rights} == {
        ("replicate", "allow"),
        ("disseminate", "conditional"),
    }
    assert d.access[0].group == "owner" and str(d.access[0].embargo_until) == "2030-01-01"
    assert d.exit is not None and d.exit.package_format == "bagit"
    assert d.licence == "http://creativecommons.org/licenses/by/4.0/"
    assert d.missing == ()
    page = text(client.get(f"{V1}/edit"))
    assert "The draft is complete." in page
    assert 'value="fmt/43"' in page or "fmt/43" in page


def test_refused_input_in_the_editor_is_a_422_form_error_and_nothing_changes(
    world: Site,
) -> None:
    draft(world)
    client = world.client("mia")
    before = service.show(world.application, REF)
    cases = {
        "service_level": (
            {"min_copies": "0", "fixity_interval_days": "abc"},
            [
                "service_level.min_copies: must be at least 1",
                "service_level.fixity_interval_days: 'abc' is not a whole number",
            ],
        ),
        "general": (
            {"title": "", "effective_from": "2026-13-01"},
            ["title: must not be empty", "is not a date"],
        ),
        "parties": (
            {"p1_organisation": "nobody", "p1_roles": "custodian"},
            ["no organisation 'nobody'"],
        ),
        "formats": ({"accepted": "tiff"}, ["'tiff' is not a PRONOM PUID"]),
        "exit": (
            {"recipient": "museum", "deadline_days": "30", "post_exit_action": "retain_until"},
            ["exit.retain_until: required"],
        ),
        "rights": ({"r_use_restriction": "conditional"}, ["a conditional grant says"]),
    }
    for section, (data, messages) in cases.items():
        refused = form(client, f"{V1}/edit/{section}", data)
        page = text(refused)
        assert refused.status_code == 422, section
        assert f'id="{section}-error"' in page
        for message in messages:
            assert message in page, (section, message)
    # the values sent are shown again in the refused section
    refused = form(client, f"{V1}/edit/service_level", {"min_copies": "0"})
    assert 'id="min_copies" name="min_copies" inputmode="numeric" value="0"' in text(refused)
    after = service.show(world.application, REF)
    assert after.service_level == before.service_level and after.title == before.title
    assert [e.action for e in after.history] == ["create"]
    bad_new = form(client, "/agreements/new", {"reference": "no spaces", "title": "x"})
    assert bad_new.status_code == 422 and "reference: 'no spaces' must be" in text(bad_new)
    exists = form(client, "/agreements/new", {"reference": REF, "title": "x", "kind": "deposit"})
    assert exists.status_code == 409 and "exists already" in text(exists)


def test_a_viewer_may_not_edit_and_an_unknown_section_is_not_found(world: Site) -> None:
    draft(world)
    vera = world.client("vera")
    assert form(vera, f"{V1}/edit/general", {"title": "Mine"}).status_code == 403
    assert vera.get("/agreements/new").status_code == 403
    assert form(world.client("mia"), f"{V1}/edit/nothing", {}).status_code == 404
    assert service.show(world.application, REF).title == "Deposit of the museum's photos"


# ---------------------------------------------------------------------------- documents


def test_documents_are_checked_and_downloaded_as_attachments(world: Site) -> None:
    draft(world)
    client = world.client("mia")
    ok = form(
        client,
        f"{V1}/documents",
        {
            "kind": "main_text",
            "back": "edit",
            "document": (__import__("io").BytesIO(b"The terms.\n"), "terms.txt"),
        },
        content_type="multipart/form-data",
    )
    assert ok.status_code == 302
    doc = service.show(world.application, REF).documents[0]
    got = client.get(f"{V1}/documents/{doc.id}")
    assert got.status_code == 200 and got.data == b"The terms.\n"
    assert got.headers["Content-Disposition"].startswith("attachment")
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert got.mimetype == "text/plain"
    import io

    for name, data, message in (
        ("page.html", b"<!doctype html><script>alert(1)</script>", "HTML, SVG or XML is refused"),
        ("terms.pdf", b"plain words", "the content is text/plain but the name ends in .pdf"),
        ("empty.txt", b"", "the file is empty"),
    ):
        refused = form(
            client,
            f"{V1}/documents",
            {"kind": "annex", "back": "edit", "document": (io.BytesIO(data), name)},
            content_type="multipart/form-data",
        )
        assert refused.status_code == 422, name
        assert message in text(refused) and 'id="documents-error"' in text(refused)
    nothing = form(client, f"{V1}/documents", {"kind": "annex"})
    assert nothing.status_code == 422 and "Choose a document" in text(nothing)
    assert len(service.show(world.application, REF).documents) == 1
    assert client.get(f"{V1}/documents/999").status_code == 404


# ---------------------------------------------------------------------------- the steps


def test_each_button_is_shown_only_to_whom_it_applies(world: Site) -> None:
    proposed(world)
    mia, arno, cas, vera, root = (
        text(world.client(n).get(V1)) for n in ("mia", "arno", "cas", "vera", "root")
    )
    assert "Agree for museum" in mia and "Agree for artist" not in mia
    assert "Agree for artist" in arno and "Send back for artist" in arno
    assert "Agree for archive" in cas
    assert "Agree for" not in vera and "Your steps" not in vera
    # a repository admin may act as custodian staff, never for another organisation
    assert "Agree for archive" in root and "Agree for museum" not in root
    assert "Withdraw" in mia and "Withdraw" in arno and "Withdraw" not in vera
    # the awaiting panel
    panel = text(world.client("arno").get("/agreements")).split("Awaiting you")[1][:600]
    assert REF in panel and "agree or send back for artist" in panel
    assert "Nothing awaits" in text(world.client("vera").get("/agreements"))


def test_refusals_show_the_services_reason_with_their_status(world: Site) -> None:
    draft(world, scope=[], exit=None)
    mia = world.client("mia")
    incomplete = form(mia, f"{V1}/propose")
    page = text(incomplete)
    assert incomplete.status_code == 409
    assert "scope: no collection or metadata rule" in page and "exit: no exit terms" in page
    service.edit_draft(
        world.application,
        person(world.application, "mia"),
        REF,
        {"scope": [{"collection": "museum/photos"}], "exit": spec()["exit"]},
    )
    assert form(mia, f"{V1}/propose").status_code == 302
    wrong_party = form(world.client("arno"), f"{V1}/agree", {"party": "museum"})
    assert wrong_party.status_code == 403 and "may not agree for museum" in text(wrong_party)
    root = form(world.client("root"), f"{V1}/agree", {"party": "museum"})
    assert root.status_code == 403 and "never agree for another organisation" in text(root)
    no_comment = form(world.client("arno"), f"{V1}/send-back", {"party": "artist"})
    assert no_comment.status_code == 422 and "needs a comment" in text(no_comment)
    too_early = form(world.client("cas"), f"{V1}/activate")
    assert too_early.status_code == 409 and "it is proposed, not signed" in text(too_early)
    back = form(
        world.client("arno"),
        f"{V1}/send-back",
        {"party": "artist", "comment": "Name the portrait rights"},
    )
    assert back.status_code == 302
    page = text(world.client("mia").get(V1))
    assert "Name the portrait rights" in page and "draft" in page


def test_a_signed_version_cannot_be_changed_by_any_route(world: Site) -> None:
    signed(world)
    import io

    mia = world.client("mia")
    before = service.show(world.application, REF)
    assert before.state == "signed"
    assert "Edit the draft" not in text(mia.get(V1))
    assert mia.get(f"{V1}/edit").status_code == 409
    for section in (
        "general",
        "parties",
        "scope",
        "retention",
        "service_level",
        "formats",
        "rights",
        "access",
        "exit",
    ):
        refused = form(mia, f"{V1}/edit/{section}", {"title": "Changed", "min_copies": "9"})
        assert refused.status_code == 409, section
        assert "signed: a version that is not a draft is frozen" in text(refused)
    annex = form(
        mia,
        f"{V1}/documents",
        {"kind": "annex", "document": (io.BytesIO(b"more terms"), "annex.txt")},
        content_type="multipart/form-data",
    )
    assert annex.status_code == 409
    for step in ("propose", "withdraw", "agree", "send-back"):
        assert form(mia, f"{V1}/{step}", {"party": "museum", "comment": "x"}).status_code == 409
    after = service.show(world.application, REF)
    assert after == before
    assert service.verify_frozen(world.application, REF)


def test_the_whole_lifecycle_through_the_pages(world: Site) -> None:
    proposed(world)
    for who, party in (("mia", "museum"), ("arno", "artist"), ("cas", "archive")):
        assert form(world.client(who), f"{V1}/agree", {"party": party}).status_code == 302
    assert service.show(world.application, REF).state == "pending_signature"
    panel = text(world.client("arno").get("/agreements")).split("Awaiting you")[1][:600]
    assert "sign for artist" in panel
    for who, party in (("mia", "museum"), ("arno", "artist"), ("cas", "archive")):
        done = form(
            world.client(who),
            f"{V1}/sign",
            {"party": party, "capacity": "director", "signature_method": "paper"},
        )
        assert done.status_code == 302
    cas = world.client("cas")
    assert "Activate" in text(cas.get(V1)) and "Activate" not in text(world.client("arno").get(V1))
    assert form(cas, f"{V1}/activate").status_code == 302
    assert form(cas, f"{V1}/suspend", {"reason": ""}).status_code == 422
    assert form(cas, f"{V1}/suspend", {"reason": "rights challenge"}).status_code == 302
    assert form(cas, f"{V1}/resume").status_code == 302
    amended = form(world.client("mia"), f"{V1}/amend", {"reason": "three sites"})
    assert amended.status_code == 302 and amended.headers["Location"].endswith(f"/{REF}/v2/edit")
    assert form(world.client("mia"), f"{V1}/amend").status_code == 409  # v2 already prepared
    notice = form(world.client("mia"), f"{V1}/give-notice", {"party": "museum", "reason": "merger"})
    assert notice.status_code == 302
    events = [e.action for e in service.show(world.application, REF + "/v1").history]
    assert events[-3:] == ["resume", "amendment_started", "give_notice"]
    early = form(cas, f"{V1}/start-exit")
    assert early.status_code == 409 and "notice period runs until" in text(early)
