"""Security headers, cookie flags from the settings, and CSRF on the pages of this part."""

from __future__ import annotations

import dataclasses

from preserve.web import create_app

from tests.web.conftest import PASSWORD, Site, csrf_token


def test_headers_on_pages_and_errors(site: Site) -> None:
    site.user("anna")
    client = site.client("anna")
    for url in ("/sign-in", "/account", "/no-such-page", "/admin/people"):
        response = client.get(url)
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"], url
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in response.headers  # plain http in development
        assert "<script>" not in response.get_data(as_text=True)


def test_secure_cookies_and_hsts_when_configured(site: Site) -> None:
    settings = dataclasses.replace(site.settings, secure_cookies="true")
    app = create_app(settings)
    site.user("anna")
    client = app.test_client()
    token = csrf_token_over_https(client)
    response = client.post(
        "/sign-in",
        data={"username": "anna", "password": PASSWORD, "csrf_token": token},
        base_url="https://localhost",
        headers={"Referer": "https://localhost/sign-in"},  # Flask-WTF checks it over HTTPS
    )
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie
    assert "max-age=31536000" in response.headers["Strict-Transport-Security"]
    app.extensions["preserve"].close()


def csrf_token_over_https(client) -> str:
    import re

    page = client.get("/sign-in", base_url="https://localhost").get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def test_every_post_of_this_part_needs_the_token(site: Site) -> None:
    site.user("root", None, admin=True)
    client = site.client("root")
    site.user("anna")
    anna = site.users["anna"]
    for url, data in (
        ("/sign-out", {}),
        ("/account", {"display_name": "x"}),
        ("/account/password", {"current": PASSWORD, "new": "x" * 20, "repeat": "x" * 20}),
        ("/account/sign-out-everywhere", {}),
        ("/language", {"language": "nl"}),
        ("/admin/people/new", {"username": "eve"}),
        (f"/admin/people/{anna}/password", {}),
        (f"/admin/people/{anna}/active", {"active": "0"}),
        (f"/admin/people/{anna}/role", {"organisation": "1", "role": "admin"}),
        (f"/admin/people/{anna}/edit", {"display_name": "x"}),
        ("/admin/organisations", {"slug": "x", "name": "X"}),
    ):
        assert client.post(url, data=data).status_code == 400, url
        wrong = client.post(url, data={**data, "csrf_token": "forged"})
        assert wrong.status_code == 400, url
    assert client.get("/account").status_code == 200  # nothing happened: still signed in
    assert site.client("anna").get("/account").status_code == 200
    assert csrf_token(client)
