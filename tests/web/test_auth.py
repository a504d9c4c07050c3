"""Sign-in, sign-out, lockout, the rate limit, one-time passwords, the account page and the
language switch, through the Flask test client over a real repository (argon2 for real)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from preserve.catalogue.models import AuditEntry, User, utcnow
from preserve.services import accounts
from tests.web.conftest import PASSWORD, Site, csrf_token

LOCKED_MESSAGE = (
    "Wrong user name or password, or the account is locked for a while after too many"
    " attempts: wait"
)


def sign_in(client: FlaskClient, name: str, password: str, **extra: str):
    return client.post(
        "/sign-in",
        data={"username": name, "password": password, "csrf_token": csrf_token(client), **extra},
    )


def audit_actions(site: Site, username: str | None = None) -> list[str]:
    with site.application.uow() as uow:
        stmt = sa.select(AuditEntry.action).order_by(AuditEntry.id)
        if username is not None:
            stmt = stmt.where(AuditEntry.username == username)
        return list(uow.session.scalars(stmt))


def user_row(site: Site, name: str) -> User:
    with site.application.uow() as uow:
        user = uow.session.scalar(sa.select(User).where(User.username == name))
        assert user is not None
        uow.session.expunge(user)
        return user


def test_sign_in_and_out(site: Site) -> None:
    site.user("anna")
    client = site.app.test_client()
    response = sign_in(client, "anna", PASSWORD)
    assert response.status_code == 302
    assert client.get("/account").status_code == 200
    out = client.post("/sign-out", data={"csrf_token": csrf_token(client)})
    assert out.status_code == 302 and out.headers["Location"].endswith("/sign-in")
    assert client.get("/account").status_code == 302  # back to the sign-in page
    assert audit_actions(site, "anna") == ["sign_in", "sign_out"]


def test_every_refusal_says_the_same(site: Site) -> None:
    site.user("anna")
    client = site.app.test_client()
    wrong_password = sign_in(client, "anna", "not the password at all")
    unknown_name = sign_in(client, "nobody", PASSWORD)
    bad_name = sign_in(client, "NO SUCH/NAME", PASSWORD)
    bodies = set()
    for response in (wrong_password, unknown_name, bad_name):
        assert response.status_code == 401
        text = response.get_data(as_text=True)
        assert LOCKED_MESSAGE in text
        bodies.add(text.replace('value="anna"', "").replace('value="nobody"', ""))
    assert audit_actions(site).count("sign_in.failed") == 3


def test_lockout_after_failures_in_a_row_and_its_expiry(site_any: Site) -> None:
    site = site_any
    site.user("anna")
    attempts = site.settings.login_attempts
    client = site.app.test_client()
    for _ in range(attempts - 1):
        assert sign_in(client, "anna", "wrong password!!").status_code == 401
    assert user_row(site, "anna").failed_logins == attempts - 1
    assert sign_in(client, "anna", "wrong password!!").status_code == 401  # locks it
    locked = user_row(site, "anna")
    assert locked.locked_until is not None and locked.locked_until > utcnow()
    # the right password is refused while locked, with the same message
    refused = sign_in(client, "anna", PASSWORD)
    assert refused.status_code == 401
    assert LOCKED_MESSAGE in refused.get_data(True)
    assert audit_actions(site, "anna").count("sign_in.locked") == 2
    # trial 11, F19: one row per try, naming the account tried
    assert audit_actions(site, "anna").count("sign_in.failed") == attempts - 1
    with site.application.uow() as uow:
        rows = uow.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action.like("sign_in.%"))
        ).all()
        assert rows and {(r.object_type, r.object_id) for r in rows} == {("user", "anna")}
    minutes = site.settings.lockout_minutes
    assert f"wait {minutes} minute" in refused.get_data(True)
    # the unknown name is told exactly the same
    unknown = sign_in(client, "nobody", PASSWORD).get_data(True)
    assert f"wait {minutes} minute" in unknown and LOCKED_MESSAGE in unknown
    # the lock runs out (its time set in the past): the right password lets her in
    with site.application.uow() as uow:
        uow.session.execute(
            sa.update(User)
            .where(User.username == "anna")
            .values(locked_until=utcnow() - timedelta(seconds=1))
        )
        uow.commit()
    assert sign_in(client, "anna", PASSWORD).status_code == 302
    after = user_row(site, "anna")
    assert after.failed_logins == 0 and after.locked_until is None


def test_lockout_holds_across_processes_and_time_is_injected(site: Site) -> None:
    """The counter lives in the catalogue: a second application (another server process)
    sees the lock; injected time shows the expiry without waiting."""
    site.user("anna")
    other = site.application.__class__(site.settings)
    now = utcnow()
    for _ in range(site.settings.login_attempts):
        result = accounts.authenticate(site.application, "anna", "wrong password!!", now=now)
    assert result.reason == "locked"
    still = accounts.authenticate(other, "anna", PASSWORD, now=now + timedelta(minutes=1))
    assert still.principal is None and still.reason == "locked"
    later = now + timedelta(minutes=site.settings.lockout_minutes, seconds=1)
    assert accounts.authenticate(other, "anna", PASSWORD, now=later).principal is not None
    other.close()


def test_a_success_resets_the_count(site: Site) -> None:
    site.user("anna")
    for _ in range(site.settings.login_attempts - 1):
        accounts.authenticate(site.application, "anna", "wrong password!!")
    assert accounts.authenticate(site.application, "anna", PASSWORD).principal is not None
    assert user_row(site, "anna").failed_logins == 0


def test_rate_limit_per_address_answers_429(site: Site) -> None:
    site.app.config["SIGN_IN_LIMIT"] = "3 per minute"
    site.user("anna")
    client = site.app.test_client()
    for name in ("x1", "x2", "x3"):  # different names: no lockout involved
        assert sign_in(client, name, "wrong password!!").status_code == 401
    limited = sign_in(client, "anna", PASSWORD)
    assert limited.status_code == 429
    text = limited.get_data(as_text=True)
    assert "Too many sign-in attempts" in text and "Traceback" not in text
    # another address is not limited
    other = site.app.test_client()
    response = other.post(
        "/sign-in",
        data={"username": "anna", "password": PASSWORD, "csrf_token": csrf_token(other)},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    assert response.status_code == 302


def test_successful_sign_ins_are_not_rate_limited(site: Site) -> None:
    site.app.config["SIGN_IN_LIMIT"] = "2 per minute"
    site.user("anna")
    for _ in range(4):
        assert sign_in(site.app.test_client(), "anna", PASSWORD).status_code == 302


def test_one_time_password_must_be_changed_first(site: Site) -> None:
    created = accounts.create_user(site.application, "newbie", memberships={"ours": "viewer"})
    assert created.one_time_password
    client = site.app.test_client()
    response = sign_in(client, "newbie", created.one_time_password)
    assert response.status_code == 302 and response.headers["Location"].endswith(
        "/account/password"
    )
    # every other page sends them back to the password page
    assert client.get("/account").headers["Location"].endswith("/account/password")
    token = csrf_token(client)
    bad = client.post(
        "/account/password",
        data={
            "current": created.one_time_password,
            "new": "short",
            "repeat": "short",
            "csrf_token": token,
        },
    )
    assert bad.status_code == 400
    assert "Use at least 12 characters." in bad.get_data(as_text=True)
    differ = client.post(
        "/account/password",
        data={
            "current": created.one_time_password,
            "new": "a long new password",
            "repeat": "another long password",
            "csrf_token": token,
        },
    )
    assert differ.status_code == 400 and "The two new passwords differ." in differ.get_data(True)
    wrong = client.post(
        "/account/password",
        data={
            "current": "not the current one",
            "new": "a long new password",
            "repeat": "a long new password",
            "csrf_token": token,
        },
    )
    assert wrong.status_code == 400
    assert "The current password is not right." in wrong.get_data(as_text=True)
    done = client.post(
        "/account/password",
        data={
            "current": created.one_time_password,
            "new": "a long new password",
            "repeat": "a long new password",
            "csrf_token": token,
        },
    )
    assert done.status_code == 302
    assert client.get("/account").status_code == 200  # this session goes on
    assert not user_row(site, "newbie").must_change_password
    assert "password.change" in audit_actions(site, "newbie")
    # the one-time password no longer works; the new one does
    assert sign_in(site.app.test_client(), "newbie", created.one_time_password).status_code == 401
    assert sign_in(site.app.test_client(), "newbie", "a long new password").status_code == 302


def test_changing_the_password_ends_other_sessions(site: Site) -> None:
    site.user("anna")
    here, elsewhere = site.client("anna"), site.client("anna")
    response = here.post(
        "/account/password",
        data={
            "current": PASSWORD,
            "new": "a brand new password",
            "repeat": "a brand new password",
            "csrf_token": csrf_token(here),
        },
    )
    assert response.status_code == 302
    assert here.get("/account").status_code == 200
    assert elsewhere.get("/account").status_code == 302


def test_sign_out_everywhere(site: Site) -> None:
    site.user("anna")
    here, elsewhere = site.client("anna"), site.client("anna")
    assert elsewhere.get("/account").status_code == 200
    response = here.post("/account/sign-out-everywhere", data={"csrf_token": csrf_token(here)})
    assert response.status_code == 302
    assert here.get("/account").status_code == 302
    assert elsewhere.get("/account").status_code == 302
    assert "sign_out.everywhere" in audit_actions(site, "anna")
    assert site.client("anna").get("/account").status_code == 200  # a new sign-in works


def test_next_goes_only_to_local_paths(site: Site) -> None:
    site.user("anna")
    for target, expected in (
        ("/account", "/account"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
    ):
        client = site.app.test_client()
        response = sign_in(client, "anna", PASSWORD, next=target)
        assert response.status_code == 302
        location = response.headers["Location"]
        assert "evil" not in location and "javascript" not in location
        if expected == "/account":
            assert location.endswith("/account")


def test_post_without_csrf_token_is_refused(site: Site) -> None:
    site.user("anna")
    client = site.app.test_client()
    response = client.post("/sign-in", data={"username": "anna", "password": PASSWORD})
    assert response.status_code == 400
    signed_in = site.client("anna")
    assert signed_in.post("/sign-out").status_code == 400
    assert signed_in.post("/account", data={"display_name": "x"}).status_code == 400
    assert signed_in.get("/account").status_code == 200  # still signed in


@pytest.mark.real_password_hashing
def test_argon2_hash_is_upgraded_on_sign_in(site: Site) -> None:
    from argon2 import PasswordHasher

    site.user("anna")
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    with site.application.uow() as uow:
        uow.session.execute(
            sa.update(User).where(User.username == "anna").values(password_hash=weak)
        )
        uow.commit()
    assert sign_in(site.app.test_client(), "anna", PASSWORD).status_code == 302
    upgraded = user_row(site, "anna").password_hash
    assert upgraded != weak and not PasswordHasher().check_needs_rehash(upgraded or "")


def test_session_cookie_flags(site: Site) -> None:
    site.user("anna")
    client = site.app.test_client()
    response = sign_in(client, "anna", PASSWORD)
    cookie = response.headers.get("Set-Cookie", "")
    assert "preserve_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # development over http://127.0.0.1


def test_account_page_saves_details_with_per_field_messages(site: Site) -> None:
    site.user("anna")
    client = site.client("anna")
    page = client.get("/account").get_data(as_text=True)
    assert 'for="display_name"' in page and 'for="email"' in page and 'for="locale"' in page
    bad = client.post(
        "/account",
        data={
            "display_name": "x" * 300,
            "email": "not-an-address",
            "locale": "de",
            "csrf_token": csrf_token(client),
        },
    )
    assert bad.status_code == 400
    text = bad.get_data(as_text=True)
    assert "Use at most 255 characters" in text
    assert "Enter an e-mail address" in text
    assert "Choose one of the languages offered." in text
    assert user_row(site, "anna").email == ""  # nothing half-saved
    good = client.post(
        "/account",
        data={
            "display_name": "Anna Peeters",
            "email": "anna@example.org",
            "locale": "nl",
            "csrf_token": csrf_token(client),
        },
    )
    assert good.status_code == 302
    row = user_row(site, "anna")
    assert (row.display_name, row.email, row.locale) == ("Anna Peeters", "anna@example.org", "nl")
    assert '<html lang="nl">' in client.get("/account").get_data(as_text=True)
    assert "account.edit" in audit_actions(site, "anna")


def test_language_from_browser_cookie_and_preference(site: Site) -> None:
    client = site.app.test_client()
    page = client.get("/sign-in", headers={"Accept-Language": "fr-BE,fr;q=0.9"})
    assert '<html lang="fr">' in page.get_data(as_text=True)
    page = client.get("/sign-in", headers={"Accept-Language": "de,nl;q=0.5"})
    assert '<html lang="nl">' in page.get_data(as_text=True)
    # the switch sets a cookie for an anonymous visitor, which wins over the browser
    response = client.post(
        "/language", data={"language": "nl", "next": "/sign-in", "csrf_token": csrf_token(client)}
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("/sign-in")
    assert "preserve_lang=nl" in response.headers["Set-Cookie"]
    page = client.get("/sign-in", headers={"Accept-Language": "fr"})
    assert '<html lang="nl">' in page.get_data(as_text=True)
    # the switch refuses to send anyone elsewhere
    away = client.post(
        "/language",
        data={"language": "fr", "next": "https://evil.example/", "csrf_token": csrf_token(client)},
    )
    assert "evil" not in away.headers["Location"]
    # signed in: the choice is saved as the preference
    site.user("anna")
    signed_in = site.client("anna")
    signed_in.post("/language", data={"language": "fr", "csrf_token": csrf_token(signed_in)})
    assert user_row(site, "anna").locale == "fr"
    page = site.client("anna").get("/account", headers={"Accept-Language": "nl"})
    assert '<html lang="fr">' in page.get_data(as_text=True)
    signed_in.post("/language", data={"language": "browser", "csrf_token": csrf_token(signed_in)})
    assert user_row(site, "anna").locale is None


def test_translated_sign_in_page(site: Site) -> None:
    client = site.app.test_client()
    nl = client.get("/sign-in", headers={"Accept-Language": "nl"}).get_data(as_text=True)
    fr = client.get("/sign-in", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Aanmelden" in nl and "Gebruikersnaam" in nl
    assert "Se connecter" in fr and "Mot de passe" in fr


def test_security_headers_and_csp(site: Site) -> None:
    response = site.app.test_client().get("/sign-in")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "style=" not in response.get_data(as_text=True)


def test_the_favicon_is_there_signed_in_or_not(site: Site) -> None:
    """Trial 11, F7: /favicon.ico answered 404 on every page."""
    anonymous = site.app.test_client()
    response = anonymous.get("/favicon.ico")
    assert response.status_code == 301
    icon = anonymous.get(response.headers["Location"])
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    assert b"<svg" in icon.get_data()
    icon.close()
    site.user("anna")
    page = site.client("anna").get("/account").get_data(as_text=True)
    assert 'rel="icon"' in page and "img/favicon.svg" in page
    assert site.client("anna").get("/favicon.ico").status_code == 301
