"""The agreement, disposal, package and hold pages in Dutch and French (issue 12, trial finding
10), on SQLite and PostgreSQL: a package disposed of and restored under a two-party agreement,
then every page that shows its rule, its events, the agreement's history and the hold on it is
read in nl and fr, and none says the English words the services store (rule fields, history
steps, agent roles, event details built from known parts, "copies on sites", "package ...");
sizes use the locale's decimal comma; French says "accord", never "convention"."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from preserve.services import holds
from preserve.services.accounts import principal_for
from tests.web.conftest import Site, csrf_token, make_site
from tests.web.disposal_support import setup

#: What the pages said in English in both languages before (trial finding 10).
ENGLISH = (
    "destroy, 1 years",
    "(ingest_date, minimum)",
    "after ingest_date",
    "approver:",
    "requester:",
    ">all signed<",
    ">edit<",
    ">create<",
    "restored within its restore window",
    "moved to the restore bin",
    "objects moved back",
    "copies on",
    "1 sites",
    "no agreement",
)


@pytest.fixture
def site(tmp_path: Path, database_url: str) -> Iterator[tuple[Site, str]]:
    s = make_site(tmp_path, database_url)
    pid = setup(s, tmp_path / "deliveries")
    yield s, pid
    s.application.close()


def _post(client: FlaskClient, url: str, **data: str) -> Any:
    return client.post(url, data={"csrf_token": csrf_token(client), **data})


def _pages(s: Site, pid: str, lang: str) -> dict[str, str]:
    headers = {"Accept-Language": lang}
    pages = {}
    for who, url in (
        ("ann", "/disposal/1"),
        ("ann", "/disposal/1/declaration"),
        ("ann", f"/packages/{pid}"),
        ("ann", "/agreements/DSP-2026-001"),
        ("ann", "/holds"),
        ("root", "/compliance"),
    ):
        response = s.client(who).get(url, headers=headers, follow_redirects=True)
        assert response.status_code == 200, (url, response.status_code)
        pages[url] = response.get_data(as_text=True)
    return pages


def test_the_pages_say_the_stored_words_in_dutch_and_french(site: tuple[Site, str]) -> None:
    s, pid = site
    carl, ann, root = s.client("carl"), s.client("ann"), s.client("root")
    assert _post(carl, "/disposal/new", kind="due").status_code == 302
    assert _post(ann, "/disposal/1/approve", party="ours").status_code == 302
    assert _post(root, "/disposal/1/approve", party="theirs").status_code == 302
    assert _post(carl, "/disposal/1/execute", mode="now").status_code == 302
    assert _post(carl, "/disposal/1/restore").status_code == 302
    holds.place(
        s.application,
        principal_for(s.application, s.users["ann"]),
        kind="audit",
        title="Audit 2026",
        reason="annual audit",
        packages=[pid],
    )

    english = _pages(s, pid, "en")
    # the English pages do show them: the words below are the ones that were left untranslated
    assert "approver: ann" in english[f"/packages/{pid}"]
    assert "1 copy on 1 site" in english["/agreements/DSP-2026-001"]
    assert f"package {pid}" in english["/holds"]

    for lang, words in (
        ("nl", ("vernietigen, 1 jaar", "goedkeurder: ann", "aanvrager: carl",
                "door allen ondertekend", "hersteld binnen de herstelperiode",
                "1 kopie op 1 site", f"pakket {pid}")),
        ("fr", ("détruire, 1 an", "approbateur : ann", "demandeur : carl", "signé par tous",
                "restaurée dans son délai de restauration", "1 copie sur 1 site",
                f"paquet {pid}")),
    ):  # fmt: skip
        pages = _pages(s, pid, lang)
        everything = "\n".join(pages.values())
        for english_words in ENGLISH:
            assert english_words not in everything, (lang, english_words)
        assert f"package {pid}" not in pages["/holds"]
        for translated in words:
            assert translated in everything, (lang, translated)
        # sizes with the locale's decimal separator, never Jinja's "5 Bytes"
        assert "Bytes" not in everything
        if lang == "fr":
            assert not re.search(r"\bconventions?\b", everything, re.IGNORECASE)
