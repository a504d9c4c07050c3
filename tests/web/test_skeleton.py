"""The app boots, refuses the anonymous, signs a person in and out (the rest: per subject)."""

from __future__ import annotations

from tests.web.conftest import PASSWORD, Site, csrf_token


def test_anonymous_is_sent_to_sign_in(site: Site) -> None:
    response = site.client().get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in")


def test_sign_in_and_out(site: Site) -> None:
    site.user("ann")
    client = site.client("ann")
    assert client.get("/").status_code == 200
    response = client.post("/sign-out", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_wrong_password_is_refused_without_saying_which_part(site: Site) -> None:
    site.user("ann")
    client = site.client()
    for name, password in (("ann", "wrong password!"), ("nobody", PASSWORD)):
        response = client.post(
            "/sign-in",
            data={"username": name, "password": password, "csrf_token": csrf_token(client)},
        )
        assert response.status_code == 401
        assert "Wrong user name or password" in response.get_data(as_text=True)


def test_a_form_without_csrf_token_is_refused(site: Site) -> None:
    site.user("ann")
    response = site.client().post("/sign-in", data={"username": "ann", "password": PASSWORD})
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    # plain words, and a way back to the form (trial 11, F16)
    assert "The form has expired" in text and "Back to the form" in text


def test_security_headers(site: Site) -> None:
    response = site.client().get("/sign-in")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
