"""Languages: sizes, numbers and dates formatted for the locale; the switcher; translated
pages chosen by preference, cookie or browser."""

from __future__ import annotations

from datetime import UTC, datetime

from flask_babel import force_locale
from preserve.web.i18n import format_size

from tests.web.conftest import Site, csrf_token


def test_sizes_numbers_and_dates_follow_the_locale(site: Site) -> None:
    env = site.app.jinja_env
    moment = datetime(2026, 3, 1, 14, 3, tzinfo=UTC)
    with site.app.test_request_context("/"):
        with force_locale("nl"):
            assert format_size(1536) == "1,5\u00a0KiB"
            assert env.filters["number"](1234567) == "1.234.567"
            assert "maart" in env.filters["when"](moment, "long")
        with force_locale("fr"):
            assert format_size(3 * 1024**3 // 2) == "1,5\u00a0GiB"
            assert env.filters["number"](1234567) == "1\u202f234\u202f567"
            assert "mars" in env.filters["when"](moment, "long")
        with force_locale("en"):
            # a no-break space: "527.5 KiB" never wraps between number and unit (trial 11, F3)
            assert format_size(540160) == "527.5\u00a0KiB" and format_size(None) == "–"
            assert format_size(1019) == "1,019\u00a0B"
            assert env.filters["number"](1234567) == "1,234,567"


def test_switcher_on_every_page_offers_the_three_languages(site: Site) -> None:
    page = site.app.test_client().get("/sign-in").get_data(as_text=True)
    assert 'action="/language"' in page and 'for="language-choice"' in page
    for code, name in (("en", "English"), ("nl", "Nederlands"), ("fr", "Français")):
        assert f'<option value="{code}" lang="{code}"' in page and name in page


def test_language_switch_needs_the_csrf_token(site: Site) -> None:
    client = site.app.test_client()
    assert client.post("/language", data={"language": "nl"}).status_code == 400
    response = client.post("/language", data={"language": "xx", "csrf_token": csrf_token(client)})
    assert response.status_code == 302  # an unknown language: back to the browser's
    assert "preserve_lang=;" in response.headers["Set-Cookie"]


def test_pages_in_dutch_and_french(site: Site) -> None:
    site.user("anna", locale="nl")
    nl = site.client("anna").get("/account").get_data(as_text=True)
    assert "Uw account" in nl and "Overal afmelden" in nl and "Afmelden" in nl
    site.user("zoe", locale="fr")
    fr = site.client("zoe").get("/account").get_data(as_text=True)
    assert "Votre compte" in fr and "Se déconnecter partout" in fr
    site.app.config["SIGN_IN_LIMIT"] = "1 per minute"
    client = site.app.test_client()
    for _ in range(2):
        response = client.post(
            "/sign-in",
            data={"username": "x", "password": "y" * 12, "csrf_token": csrf_token(client)},
            headers={"Accept-Language": "nl"},
        )
    assert response.status_code == 429
    assert "Te veel aanmeldpogingen" in response.get_data(as_text=True)
