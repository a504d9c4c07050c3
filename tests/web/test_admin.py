"""Admin pages: people, organisations, the audit log; who may use them (repository admins,
organisation admins for their own organisation) and what each change writes to the audit log."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from preserve.catalogue.models import AuditEntry, Organisation, User, utcnow
from preserve.services import audit as audit_service
from tests.web.conftest import PASSWORD, Site, csrf_token

SECRET = re.compile(r'<output class="secret"[^>]*>([^<]+)</output>')


def post(client: FlaskClient, url: str, **data: str):
    return client.post(url, data={"csrf_token": csrf_token(client), **data})


def sign_in(client: FlaskClient, name: str, password: str):
    return client.post(
        "/sign-in",
        data={"username": name, "password": password, "csrf_token": csrf_token(client)},
    )


def org_id(site: Site, slug: str) -> int:
    with site.application.uow() as uow:
        return uow.session.scalar(sa.select(Organisation.id).where(Organisation.slug == slug))


def user_row(site: Site, name: str) -> User:
    with site.application.uow() as uow:
        user = uow.session.scalar(sa.select(User).where(User.username == name))
        assert user is not None
        uow.session.expunge(user)
        return user


def entries(site: Site, action: str) -> list[AuditEntry]:
    with site.application.uow() as uow:
        found = list(uow.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)))
        for e in found:
            uow.session.expunge(e)
        return found


@pytest.fixture
def people(site: Site) -> Site:
    site.user("root", None, admin=True)
    site.user("boss", "admin", "ours")
    site.user("anna", "archivist", "ours")
    site.user("vic", "viewer", "ours")
    site.user("theo", "archivist", "theirs")
    return site


def test_repository_admin_creates_a_person_who_signs_in_with_the_one_time_password(
    people: Site,
) -> None:
    site = people
    root = site.client("root")
    form = root.get("/admin/people/new").get_data(as_text=True)
    assert 'for="username"' in form and 'for="is_admin"' in form
    response = post(
        root,
        "/admin/people/new",
        username="Nina",
        display_name="Nina Jacobs",
        email="nina@example.org",
        organisation=str(org_id(site, "ours")),
        role="viewer",
    )
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    password = SECRET.search(response.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    nina = user_row(site, "nina")
    assert nina.must_change_password and nina.display_name == "Nina Jacobs"
    created = entries(site, "user.create")
    assert [(e.username, e.object_id, e.organisation_id) for e in created] == [
        ("root", "nina", org_id(site, "ours"))
    ]
    client = site.app.test_client()
    signed = client.post(
        "/sign-in",
        data={"username": "nina", "password": password, "csrf_token": csrf_token(client)},
    )
    assert signed.headers["Location"].endswith("/account/password")
    listing = root.get("/admin/people").get_data(as_text=True)
    assert "nina" in listing and "Nina Jacobs" in listing


def test_create_person_bad_input_has_a_message_per_field(people: Site) -> None:
    root = people.client("root")
    response = post(
        root,
        "/admin/people/new",
        username="no spaces allowed",
        email="not-an-address",
        organisation="999999",
        role="emperor",
    )
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "Use 1 to 100 lower-case letters" in text
    assert "Enter an e-mail address" in text
    assert "Choose one of the organisations offered." in text
    taken = post(root, "/admin/people/new", username="anna", organisation="", role="viewer")
    assert taken.status_code == 400
    assert "Someone has this user name already." in taken.get_data(as_text=True)
    assert entries(people, "user.create") == []


def test_organisation_admin_manages_only_their_own_people(people: Site) -> None:
    site = people
    boss = site.client("boss")
    listing = boss.get("/admin/people")
    assert listing.status_code == 200
    text = listing.get_data(as_text=True)
    assert "anna" in text and "vic" in text and "theo" not in text and "root" not in text
    theo = site.users["theo"]
    assert boss.get(f"/admin/people/{theo}").status_code == 404
    assert post(boss, f"/admin/people/{theo}/password").status_code == 404
    assert post(boss, f"/admin/people/{theo}/active", active="0").status_code == 404
    assert boss.get("/admin/people/999999").status_code == 404
    # a repository admin is out of an organisation admin's reach, even as a member
    site.user("root2", "viewer", "ours", admin=True)
    assert post(boss, f"/admin/people/{site.users['root2']}/password").status_code == 403
    assert not entries(site, "user.password_reset")
    # a new person must go into their organisation, and cannot be a repository admin
    response = post(boss, "/admin/people/new", username="newbie", organisation="", role="viewer")
    assert response.status_code == 400
    assert "Choose the organisation the person belongs to." in response.get_data(as_text=True)
    response = post(
        boss,
        "/admin/people/new",
        username="newbie",
        organisation=str(org_id(site, "theirs")),
        role="viewer",
    )
    assert response.status_code == 400
    made = post(
        boss,
        "/admin/people/new",
        username="newbie",
        organisation=str(org_id(site, "ours")),
        role="viewer",
        is_admin="on",
    )
    assert made.status_code == 200 and not user_row(site, "newbie").is_admin
    # roles: in their organisation yes, in another no
    anna = site.users["anna"]
    assert (
        post(
            boss,
            f"/admin/people/{anna}/role",
            organisation=str(org_id(site, "ours")),
            role="viewer",
        ).status_code
        == 302
    )
    assert (
        post(
            boss,
            f"/admin/people/{anna}/role",
            organisation=str(org_id(site, "theirs")),
            role="viewer",
        ).status_code
        == 404
    )
    assert [e.detail for e in entries(site, "user.role")] == [
        {"before": "archivist", "after": "viewer"}
    ]


@pytest.mark.parametrize("who", ["anna", "vic"])
def test_archivists_and_viewers_get_403_on_admin_pages(people: Site, who: str) -> None:
    client = people.client(who)
    for url in ("/admin/people", "/admin/people/new", "/admin/organisations", "/admin/audit"):
        assert client.get(url).status_code == 403, url
    anna = people.users["anna"]
    assert client.get(f"/admin/people/{anna}").status_code == 403
    assert post(client, f"/admin/people/{anna}/password").status_code == 403
    assert post(client, "/admin/organisations", slug="x", name="X").status_code == 403
    page = client.get("/account").get_data(as_text=True)
    assert "/admin/people" not in page  # not in the nav either


def test_anonymous_is_sent_to_sign_in(people: Site) -> None:
    response = people.app.test_client().get("/admin/people")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]


def test_edit_deactivate_reactivate_and_reset(people: Site) -> None:
    site = people
    root = site.client("root")
    anna_id = site.users["anna"]
    anna = site.client("anna")
    bad = post(root, f"/admin/people/{anna_id}/edit", display_name="A", email="nope")
    assert bad.status_code == 400 and "Enter an e-mail address" in bad.get_data(True)
    ok = post(root, f"/admin/people/{anna_id}/edit", display_name="Anna P", email="a@example.org")
    assert ok.status_code == 302
    assert user_row(site, "anna").email == "a@example.org"
    # deactivate: her session ends and she cannot sign in
    assert post(root, f"/admin/people/{anna_id}/active", active="0").status_code == 302
    assert anna.get("/account").status_code == 302
    client = site.app.test_client()
    refused = sign_in(client, "anna", PASSWORD)
    assert refused.status_code == 401
    assert post(root, f"/admin/people/{anna_id}/active", active="1").status_code == 302
    assert site.client("anna").get("/account").status_code == 200
    # a reset: a new one-time password, the old one refused
    reset = post(root, f"/admin/people/{anna_id}/password")
    password = SECRET.search(reset.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    assert reset.headers["Cache-Control"] == "no-store"
    client = site.app.test_client()
    old = sign_in(client, "anna", PASSWORD)
    assert old.status_code == 401
    new = sign_in(client, "anna", password)
    assert new.headers["Location"].endswith("/account/password")
    actions = [e.action for e in entries(site, "user.edit")]
    actions += [e.action for e in entries(site, "user.deactivate")]
    actions += [e.action for e in entries(site, "user.reactivate")]
    actions += [e.action for e in entries(site, "user.password_reset")]
    assert actions == ["user.edit", "user.deactivate", "user.reactivate", "user.password_reset"]
    # an admin cannot lock themselves out
    root_id = site.users["root"]
    own = post(root, f"/admin/people/{root_id}/active", active="0")
    assert own.status_code == 400
    assert "You cannot deactivate your own account." in own.get_data(as_text=True)
    assert user_row(site, "root").active


def test_repository_admin_grants_and_revokes_admin(people: Site) -> None:
    site = people
    root = site.client("root")
    anna_id = site.users["anna"]
    anna = site.client("anna")
    post(root, f"/admin/people/{anna_id}/edit", display_name="Anna", email="", is_admin="on")
    assert user_row(site, "anna").is_admin
    assert anna.get("/account").status_code == 302  # her rights changed: sign in again
    root_id = site.users["root"]
    own = post(root, f"/admin/people/{root_id}/edit", display_name="Root", email="")
    assert own.status_code == 400
    assert "You cannot take away your own administrator rights." in own.get_data(True)
    assert user_row(site, "root").is_admin


def test_organisations_pages(people: Site) -> None:
    site = people
    root = site.client("root")
    page = root.get("/admin/organisations").get_data(as_text=True)
    assert "Our Museum" in page and "Their Archive" in page
    bad = post(root, "/admin/organisations", slug="Bad Slug", name="", contact_email="x")
    assert bad.status_code == 400
    text = bad.get_data(as_text=True)
    assert "Use 1 to 63 lower-case letters" in text and "Enter the organisation" in text
    assert "Enter an e-mail address" in text
    dup = post(root, "/admin/organisations", slug="ours", name="Something Else")
    assert dup.status_code == 400 and "short name already" in dup.get_data(True)
    made = post(root, "/admin/organisations", slug="kbr", name="KBR", contact_email="a@kbr.be")
    assert made.status_code == 302
    assert [e.object_id for e in entries(site, "organisation.create")] == ["kbr"]
    # an organisation admin sees and edits their own only
    boss = site.client("boss")
    listing = boss.get("/admin/organisations").get_data(as_text=True)
    assert "Our Museum" in listing and "Their Archive" not in listing and "KBR" not in listing
    assert boss.get(f"/admin/organisations/{org_id(site, 'theirs')}").status_code == 404
    assert (
        post(boss, f"/admin/organisations/{org_id(site, 'theirs')}", name="Taken Over").status_code
        == 404
    )
    assert post(boss, "/admin/organisations", slug="mine", name="Mine").status_code == 403
    ours = org_id(site, "ours")
    members = boss.get(f"/admin/organisations/{ours}").get_data(as_text=True)
    assert "anna" in members and "theo" not in members
    edited = post(
        boss, f"/admin/organisations/{ours}", name="Our Museum", contact_name="An Peeters"
    )
    assert edited.status_code == 302
    assert [e.detail for e in entries(site, "organisation.edit")] == [{"fields": ["contact name"]}]
    assert boss.get("/admin/organisations/999999").status_code == 404


def _audit_rows(response: Any) -> str:
    """The audit page's table rows only: every page also carries its random CSRF token, which
    now and then contains "p6" (a CI run failed so)."""
    text = response.get_data(as_text=True)
    return text.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in text else ""


def test_audit_log_filters_and_pages(site_any: Site) -> None:
    site = site_any
    site.user("root", None, admin=True)
    site.user("boss", "admin", "ours")
    site.user("theo", "archivist", "theirs")
    ours, theirs = org_id(site, "ours"), org_id(site, "theirs")
    app = site.application
    for i in range(7):
        audit_service.record(
            app,
            None,
            "package.download",
            username="anna",
            object_type="package",
            object_id=f"p{i}",
            organisation_id=ours,
        )
    audit_service.record(
        app,
        None,
        "package.download",
        username="theo",
        object_type="package",
        object_id="secret",
        organisation_id=theirs,
    )
    root = site.client("root")
    page = _audit_rows(root.get("/admin/audit"))
    assert "p6" in page and "secret" in page and "sign_in" in page
    assert page.index("p6") < page.index("p5")  # newest first
    only = _audit_rows(root.get("/admin/audit?person=theo&action=package"))
    assert "secret" in only and "p6" not in only
    sign_ins = root.get("/admin/audit?action=sign_in").get_data(as_text=True)
    assert "package.download" not in sign_ins.split("<tbody>")[1]
    by_org = _audit_rows(root.get(f"/admin/audit?organisation={theirs}"))
    assert "secret" in by_org and "p6" not in by_org
    today = utcnow().date()
    future = (today + timedelta(days=2)).isoformat()
    assert "No entries match." in root.get(f"/admin/audit?from={future}").get_data(True)
    within = root.get(f"/admin/audit?from={today.isoformat()}&to={today.isoformat()}")
    assert "p6" in _audit_rows(within)
    # pages of entries
    found = audit_service.entries(app, _principal(site, "root"), per_page=3, page=2)
    assert found.total >= 8 and len(found.entries) == 3 and found.page == 2
    # bad filters: a message, a 400
    bad = root.get("/admin/audit?from=yesterday&to=2020-13-01&organisation=x")
    assert bad.status_code == 400
    assert bad.get_data(as_text=True).count("Enter a date as YYYY-MM-DD.") == 2
    backwards = root.get("/admin/audit?from=2026-02-01&to=2026-01-01")
    assert backwards.status_code == 400
    assert "The end of the period must come after its start." in backwards.get_data(True)
    # an organisation admin sees their organisation's entries only
    boss = site.client("boss")
    theirs_page = _audit_rows(boss.get("/admin/audit"))
    assert "p6" in theirs_page and "secret" not in theirs_page
    assert boss.get(f"/admin/audit?organisation={theirs}").status_code == 404


def _principal(site: Site, name: str):
    from preserve.services import accounts

    return accounts.principal_for(site.application, site.users[name])


def test_nav_marks_only_the_current_admin_page(people: Site) -> None:
    root = people.client("root")
    page = root.get(f"/admin/people/{people.users['anna']}").get_data(as_text=True)
    current = re.findall(r'<a href="([^"]+)" aria-current="page">', page)
    assert current == ["/admin/people"]
    page = root.get("/admin/audit").get_data(as_text=True)
    assert re.findall(r'<a href="([^"]+)" aria-current="page">', page) == ["/admin/audit"]
