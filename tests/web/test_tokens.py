"""Personal API tokens: made once and shown once, kept only as a hash, revoked, expiring, and
dead with a deactivated person (the service, the CLI and the page)."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from preserve.catalogue.models import ApiToken, User
from preserve.errors import InvalidInput, NotFound
from preserve.services import tokens
from preserve.services.accounts import principal_for
from tests.web.conftest import Site


def _principal(site: Site, name: str):  # type: ignore[no-untyped-def]
    return principal_for(site.application, site.users[name])


def test_a_token_acts_as_its_person_and_only_its_hash_is_kept(site_any: Site) -> None:
    site = site_any
    site.user("ann")
    ann = _principal(site, "ann")
    text, info = tokens.create_token(site.application, ann, "nightly script")
    assert text.startswith("pst_") and len(text) == 44
    assert info.prefix == text[:12] and info.name == "nightly script"
    with site.application.uow() as uow:
        stored = uow.session.scalars(sa.select(ApiToken)).one()
        assert stored.token_hash == hashlib.sha256(text.encode()).hexdigest()
        # the token itself is nowhere in the row
        assert text not in repr([getattr(stored, c.key) for c in ApiToken.__table__.columns])
    found = tokens.principal_for_token(site.application, text)
    assert found is not None and found.username == "ann" and found.roles == ann.roles
    listed = tokens.list_tokens(site.application, ann)
    assert [t.id for t in listed] == [info.id]
    assert listed[0].last_used_at is not None and listed[0].state() == "active"


def test_unknown_malformed_revoked_expired_and_deactivated_tokens_act_for_nobody(
    site_any: Site,
) -> None:
    site = site_any
    site.user("ann")
    app = site.application
    ann = _principal(site, "ann")
    for bad in ("", "pst_", "pst_" + "x" * 40, "bearer", "pst_" + "x" * 400):
        assert tokens.principal_for_token(app, bad) is None
    now = datetime.now(UTC)
    soon, _ = tokens.create_token(app, ann, "soon", expires_at=now + timedelta(hours=1))
    assert tokens.principal_for_token(app, soon, now=now) is not None
    assert tokens.principal_for_token(app, soon, now=now + timedelta(hours=2)) is None
    revoked, info = tokens.create_token(app, ann, "revoked")
    tokens.revoke_token(app, ann, info.id)
    tokens.revoke_token(app, ann, info.id)  # twice: still revoked, no error
    assert tokens.principal_for_token(app, revoked) is None
    assert {t.name: t.state() for t in tokens.list_tokens(app, ann)}["revoked"] == "revoked"
    live, _ = tokens.create_token(app, ann, "live")
    with app.uow() as uow:
        uow.session.execute(sa.update(User).where(User.username == "ann").values(active=False))
        uow.commit()
    assert tokens.principal_for_token(app, live) is None


def test_bad_names_expiries_and_other_peoples_tokens(site: Site) -> None:
    site.user("ann")
    site.user("bob")
    app = site.application
    ann, bob = _principal(site, "ann"), _principal(site, "bob")
    for name, message in (("", "name"), ("x" * 101, "at most 100"), ("a\x00b", "control")):
        with pytest.raises(InvalidInput, match=message):
            tokens.create_token(app, ann, name)
    with pytest.raises(InvalidInput, match="future"):
        tokens.create_token(app, ann, "past", expires_at=datetime.now(UTC) - timedelta(days=1))
    _, info = tokens.create_token(app, ann, "mine")
    with pytest.raises(NotFound):
        tokens.revoke_token(app, bob, info.id)
    with pytest.raises(NotFound):
        tokens.revoke_token(app, ann, 999999)
    assert tokens.list_tokens(app, bob) == []


# ----------------------------------------------------------------------------- the page


def test_the_page_makes_a_token_shows_it_once_and_revokes_it(site: Site) -> None:
    from tests.web.conftest import csrf_token

    site.user("ann")
    client = site.client("ann")
    page = client.get("/account/tokens")
    assert page.status_code == 200 and "You have no tokens yet" in page.get_data(as_text=True)
    assert "/account/tokens" in client.get("/account").get_data(as_text=True)
    made = client.post(
        "/account/tokens",
        data={"name": "scanner-2", "expires_days": "30", "csrf_token": csrf_token(client)},
    )
    assert made.status_code == 201 and made.headers["Cache-Control"] == "no-store"
    html = made.get_data(as_text=True)
    shown = re.search(r'value="(pst_[A-Za-z0-9_-]{40})"', html)
    assert shown, html
    text = shown.group(1)
    assert tokens.principal_for_token(site.application, text).username == "ann"  # type: ignore[union-attr]
    # shown once: the list afterwards has its prefix only
    listed = client.get("/account/tokens").get_data(as_text=True)
    assert text not in listed and text[:12] in listed and "scanner-2" in listed
    (info,) = tokens.list_tokens(site.application, _principal(site, "ann"))
    assert info.expires_at is not None
    revoked = client.post(
        f"/account/tokens/{info.id}/revoke", data={"csrf_token": csrf_token(client)}
    )
    assert revoked.status_code == 302
    assert "revoked" in client.get("/account/tokens").get_data(as_text=True)
    assert tokens.principal_for_token(site.application, text) is None


def test_the_page_refuses_bad_input_per_field_and_other_peoples_tokens(site: Site) -> None:
    from tests.web.conftest import csrf_token

    site.user("ann")
    site.user("bob")
    client = site.client("ann")
    for data, field in (
        ({"name": ""}, "name"),
        ({"name": "x", "expires_days": "0"}, "expires_days"),
        ({"name": "x", "expires_days": "soon"}, "expires_days"),
        ({"name": "y" * 101}, "name"),
    ):
        response = client.post("/account/tokens", data={**data, "csrf_token": csrf_token(client)})
        assert response.status_code == 400
        assert f'id="{field}-error"' in response.get_data(as_text=True)
    assert tokens.list_tokens(site.application, _principal(site, "ann")) == []
    # without the CSRF token: refused
    assert client.post("/account/tokens", data={"name": "x"}).status_code == 400
    _, info = tokens.create_token(site.application, _principal(site, "bob"), "bob's")
    response = client.post(
        f"/account/tokens/{info.id}/revoke", data={"csrf_token": csrf_token(client)}
    )
    assert response.status_code == 404
    assert tokens.list_tokens(site.application, _principal(site, "bob"))[0].revoked_at is None
    # signed out: sent to sign in
    assert site.client().get("/account/tokens").status_code == 302


# ----------------------------------------------------------------------------- the CLI


def test_the_cli_makes_lists_and_revokes_tokens(site: Site) -> None:
    site.user("ann")
    made = site.repo.run("tokens", "create", "nightly ingest", "--as", "ann", "--expires-days", "3")
    text = made.output.splitlines()[0]  # the token first; what it is follows on stderr
    assert text.startswith("pst_") and len(text) == 44
    assert tokens.principal_for_token(site.application, text) is not None
    listed = site.repo.json("tokens", "list", "--as", "ann", "--json")
    assert [(t["name"], t["state"], t["prefix"]) for t in listed] == [
        ("nightly ingest", "active", text[:12])
    ]
    assert text not in site.repo.run("tokens", "list", "--as", "ann").output
    site.repo.run("tokens", "revoke", str(listed[0]["id"]), "--as", "ann")
    assert tokens.principal_for_token(site.application, text) is None
    for args, message in (
        (("create", "x", "--as", "nobody"), "no user 'nobody'"),
        (("create", "x", "--as", "ann", "--expires-days", "0"), "--expires-days"),
        (("create", "", "--as", "ann"), "empty"),
        (("revoke", "999", "--as", "ann"), "no token 999"),
    ):
        failed = site.repo.run("tokens", *args, ok=False)
        assert failed.exit_code != 0 and message in failed.output, failed.output


def _form(client, url: str, **data: str):  # type: ignore[no-untyped-def]
    from tests.web.conftest import csrf_token

    return client.post(url, data={"csrf_token": csrf_token(client), **data})


def test_a_password_reset_a_password_change_and_a_deactivation_revoke_the_tokens(
    site_any: Site,
) -> None:
    """Trial 11, F21: after an admin reset ann's password, the token made with the old one
    still worked. A reset (page and CLI), her own change and a deactivation revoke them all,
    and a reactivation does not bring them back."""
    from tests.web.conftest import PASSWORD

    site = site_any
    site.user("root", admin=True)
    site.user("ann")
    app = site.application
    ann_id = site.users["ann"]
    root = site.client("root")

    first, _ = tokens.create_token(app, _principal(site, "ann"), "nightly")
    page = _form(root, f"/admin/people/{ann_id}/password")
    assert page.status_code == 200
    assert "API tokens are revoked" in page.get_data(as_text=True)
    assert tokens.principal_for_token(app, first) is None
    listed = tokens.list_tokens(app, _principal(site, "ann"))
    assert [t.state() for t in listed] == ["revoked"]

    second, _ = tokens.create_token(app, _principal(site, "ann"), "second")
    out = site.repo.run("users", "reset-password", "ann").stdout
    assert "API tokens revoked" in out
    assert tokens.principal_for_token(app, second) is None

    # her own change (the one-time password is replaced by her own)
    password = out.split(": ", 1)[1].split()[0]
    from preserve.services import accounts

    third, _ = tokens.create_token(app, _principal(site, "ann"), "third")
    accounts.change_password(app, ann_id, password, PASSWORD + "x")
    assert tokens.principal_for_token(app, third) is None

    fourth, _ = tokens.create_token(app, _principal(site, "ann"), "fourth")
    assert _form(root, f"/admin/people/{ann_id}/active", active="0").status_code == 302
    assert _form(root, f"/admin/people/{ann_id}/active", active="1").status_code == 302
    assert tokens.principal_for_token(app, fourth) is None
    assert {t.state() for t in tokens.list_tokens(app, _principal(site, "ann"))} == {"revoked"}
