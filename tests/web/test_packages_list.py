"""The package list (/packages): the search form works without JavaScript, results are linked,
counted and paged with accessible links, bad input gets a 400 with the reason, other
organisations' packages never show."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from preserve.services import search
from tests.web.search_support import ingest


def test_list_search_and_pages(site_any, tmp_path: Path) -> None:
    site = site_any
    ids = [
        ingest(site, tmp_path, f"kaart-{n}", title=f"Kaart van Brussel {n}")["id"] for n in range(3)
    ]
    theirs = ingest(site, tmp_path, "brief", "letters", title="Brief uit Brussel")["id"]
    client = site.client(site.user("vera", role="viewer"))

    page = client.get("/packages").get_data(as_text=True)
    assert '<form method="get" action="/packages"' in page
    assert 'role="search"' in page and '<label for="q">' in page
    assert "3 packages" in page
    for package_id in ids:
        assert f'href="/packages/{package_id}"' in page
    assert theirs not in page and "Brief uit Brussel" not in page
    assert "Photographs (Our Museum)" in page and "Their Archive" not in page

    found = client.get("/packages?q=brussel+1").get_data(as_text=True)
    assert "1 package" in found and "Kaart van Brussel 1" in found
    assert "Kaart van Brussel 2" not in found

    first = client.get("/packages?q=kaart&per_page=2").get_data(as_text=True)
    assert "3 packages" in first and "showing 1 to 2" in first
    assert 'nav class="pagination pages" aria-label="Pages of results"' in first
    assert re.search(r'<a aria-current="page" href="[^"]*page=1[^"]*">1</a>', first)
    assert "q=kaart" in re.search(r'<a rel="next" href="([^"]+)"', first).group(1)
    second = client.get("/packages?q=kaart&per_page=2&page=2").get_data(as_text=True)
    assert "showing 3 to 3" in second and 'rel="prev"' in second

    filtered = client.get("/packages?collection=ours/photos&sort=title").get_data(as_text=True)
    assert "3 packages" in filtered
    assert client.get("/packages?collection=theirs/letters").status_code == 400


def test_more_than_the_count_limit_says_so_and_counts_all_on_request(
    site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "COUNT_LIMIT", 2)
    for n in range(4):
        ingest(site, tmp_path, f"kaart-{n}", title=f"Kaart van Brussel {n}")
    client = site.client(site.user("vera", role="viewer"))
    page = client.get("/packages?q=kaart&per_page=1").get_data(as_text=True)
    assert "More than 2 packages" in page and "showing 1 to 1" in page
    link = re.search(r'<a href="([^"]+)">count them all</a>', page).group(1)
    assert "count=exact" in link and "q=kaart" in link and "per_page=1" in link
    assert re.search(r'<a rel="next" href="[^"]*page=2', page)
    counted = client.get(link.replace("&amp;", "&")).get_data(as_text=True)
    assert "4 packages" in counted and "count them all" not in counted
    assert re.search(r'aria-label="Page 4"[^>]*>4</a>|href="[^"]*page=4[^"]*"', counted)
    assert "4 packages" in client.get("/packages?q=kaart").get_data(as_text=True)  # 25 a page
    bad = client.get("/packages?count=all")
    assert bad.status_code == 400 and "give count=exact" in bad.get_data(as_text=True)


def test_bad_input_gets_a_400_with_the_reason(site) -> None:
    client = site.client(site.user("vera", role="viewer"))
    cases = {
        "page=0": "page 0 does not exist",
        "page=abc": "page &#39;abc&#39; is not a whole number",
        "per_page=10000": "per_page 10000 is out of range",
        "date_from=yesterday": "is not a date",
        "ingested_from=2024-13-01": "is not a date",
        "collection=nowhere": "no collection &#39;nowhere&#39;",
        "status=lost": "no status",
        "sort=evil": "no sort order",
        "q=" + "a" * 2000: "2000 characters",
    }
    for query, message in cases.items():
        response = client.get(f"/packages?{query}")
        assert response.status_code == 400, query
        body = response.get_data(as_text=True)
        assert message in body, (query, body[:2000])
        assert 'role="alert"' in body and '<input type="search" id="q"' in body
    for text in ('"', "*", "(", "NEAR", "-", "a OR (b"):
        assert client.get("/packages", query_string={"q": text}).status_code in (200, 400)


def test_signed_out_is_sent_to_sign_in(site) -> None:
    response = site.client().get("/packages")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]
