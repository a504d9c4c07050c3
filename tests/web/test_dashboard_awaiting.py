"""The dashboard's 'Awaiting you' panel (issue 12, E15): an agreement proposed shows, for each
party's archivists and admins, the step awaiting them (not for a viewer), in English, Dutch
and French; SQLite and PostgreSQL."""

from __future__ import annotations

import re

from preserve.services import agreements as service
from tests.web.agreements_support import add_parties, person, spec
from tests.web.conftest import Site


def _panel(html: str) -> str:
    found = re.search(r'<section aria-labelledby="h-awaiting".*?</section>', html, re.S)
    assert found, "no 'Awaiting you' panel on the dashboard"
    return found.group(0)


def test_the_panel_shows_what_awaits_the_person(site_any: Site) -> None:
    site = site_any
    add_parties(site)
    app = site.application
    panel = _panel(site.client("arno").get("/").get_data(as_text=True))
    assert "Nothing awaits you." in panel
    service.create_draft(app, person(app, "mia"), spec())
    service.propose(app, person(app, "mia"), "ENF-2026-001/v1")
    panel = _panel(site.client("arno").get("/").get_data(as_text=True))
    assert 'href="/agreements/ENF-2026-001/v1"' in panel
    assert "agree or send back for artist" in panel
    assert "Nothing awaits you." in _panel(site.client("vera").get("/").get_data(as_text=True))
    dutch = site.client("arno")
    nl = _panel(dutch.get("/", headers={"Accept-Language": "nl"}).get_data(as_text=True))
    assert "Wacht op u" in nl and "akkoord gaan of terugsturen voor artist" in nl
    french = _panel(
        site.client("cas").get("/", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    )
    assert "En attente de vous" in french and "accepter ou renvoyer pour archive" in french
