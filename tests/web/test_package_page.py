"""The package page: what each role sees, another organisation's package (404), versions, the
file list a page at a time, a damaged package, editing the description, fixity now."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from preserve.services import package_view
from preserve.services.access import Principal
from tests.web.conftest import Site, csrf_token
from tests.web.package_support import image_folder


@pytest.fixture
def package(site_any: Site, tmp_path: Path) -> dict:
    return site_any.ingest(image_folder(tmp_path), "photos", "--title", "Harbour scans")


def _principal(site: Site, name: str) -> Principal:
    from preserve.services.accounts import principal_for

    return principal_for(site.application, site.users[name])


@pytest.mark.parametrize("role", ["viewer", "archivist", "admin"])
def test_each_role_of_the_organisation_sees_the_page(site: Site, tmp_path: Path, role: str) -> None:
    p = site.ingest(image_folder(tmp_path), "photos", "--title", "Harbour scans")
    client = site.client(site.user(f"u-{role}", role))
    page = client.get(f"/packages/{p['id']}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Harbour scans" in html
    assert "harbour.png" in html and "fmt/11" in html  # the file list with its PUID
    assert "320 × 200 px" in html  # image properties recorded at ingest
    assert "ingestion" in html or "ingest" in html  # the PREMIS timeline
    assert f"/packages/{p['id']}/bag.zip" in html
    can_edit = role != "viewer"
    assert ("Edit the description" in html) is can_edit
    assert ("Run a fixity check now" in html) is can_edit


def test_another_organisation_sees_404_like_an_unknown_package(
    site_any: Site, package: dict
) -> None:
    client = site_any.client(site_any.user("stranger", "admin", organisation="theirs"))
    for url in (
        f"/packages/{package['id']}",
        f"/packages/{package['id']}/describe",
        f"/packages/{package['id']}/bag.zip",
        "/packages/00000000-0000-0000-0000-000000000000",
        "/packages/not-a-uuid",
    ):
        assert client.get(url).status_code == 404, url
    token = csrf_token(client)
    answer = client.post(f"/packages/{package['id']}/fixity", data={"csrf_token": token})
    assert answer.status_code == 404
    # and a repository admin sees every organisation's packages
    admin = site_any.client(site_any.user("root", None, admin=True))
    assert admin.get(f"/packages/{package['id']}").status_code == 200


def test_a_short_id_in_the_address_leads_to_the_package_seen(site_any: Site, package: dict) -> None:
    """Trial 11, F13: the 8 characters a list shows, pasted after /packages/, gave a 404."""
    pid = package["id"]
    client = site_any.client(site_any.user("vera", "viewer"))
    for short in (pid[:8], pid[:8].upper(), pid[:13]):
        answer = client.get(f"/packages/{short}?events=all")
        assert answer.status_code == 302, short
        assert answer.headers["Location"] == f"/packages/{pid}?events=all"
    assert client.get(f"/packages/{pid[:7]}").status_code == 404  # shorter than a list shows
    # another organisation's package: exactly as a prefix that names nothing
    stranger = site_any.client(site_any.user("stranger", "admin", organisation="theirs"))
    assert stranger.get(f"/packages/{pid[:8]}").status_code == 404
    assert stranger.get("/packages/00000000").status_code == 404


def test_anonymous_is_sent_to_sign_in(site: Site, tmp_path: Path) -> None:
    p = site.ingest(image_folder(tmp_path), "photos")
    answer = site.app.test_client().get(f"/packages/{p['id']}")
    assert answer.status_code in (302, 401)


def test_the_file_list_is_paginated_and_browsed_by_folder(site_any: Site, package: dict) -> None:
    name = site_any.user("ann")
    detail = package_view.package_detail(
        site_any.application, _principal(site_any, name), package["id"], per_page=2
    )
    payload = detail.files.total
    assert detail.files.pages == -(-payload // 2) and len(detail.files.entries) == 2
    scans = package_view.package_detail(
        site_any.application, _principal(site_any, name), package["id"], folder="data/scans/"
    )
    assert [e.name for e in scans.files.entries] == ["harbour.png", "quay.jpg", "ship.tif"]
    assert scans.files.breadcrumbs == (("data", "data/"), ("scans", "data/scans/"))
    client = site_any.client(name)
    html = client.get(f"/packages/{package['id']}?folder=data/scans/").get_data(as_text=True)
    assert "quay.jpg" in html and "notes.txt" not in html
    second = client.get(f"/packages/{package['id']}?folder=data/&page=2").status_code
    assert second == 200
    for bad in ("../etc/", "/etc/", "data/%00/"):
        assert client.get(f"/packages/{package['id']}?folder={bad}").status_code == 400, bad
    for bad in ("0", "x", "-1"):
        assert client.get(f"/packages/{package['id']}?page={bad}").status_code == 400, bad


def test_the_file_list_counts_the_package_files_as_the_header_and_lists_bag_files_apart(
    site_any: Site, package: dict
) -> None:
    """Trial 11, F2: the header said "39 files", the list "47 files here" with the BagIt tag
    files among the payload, format "unknown"."""
    client = site_any.client(site_any.user("ann"))
    html = client.get(f"/packages/{package['id']}").get_data(as_text=True)
    files = 5  # image_folder: three images, a text file, an HTML page
    assert f"{files} files ·" in html  # the header
    assert f"{files} files here" in html
    listed = html.split('<table class="files">')[1].split("</table>")[0]
    assert "bagit.txt" not in listed and "bag-info.txt" not in listed
    assert "bag files (BagIt manifests" in html and "files=bag" in html
    bag = client.get(f"/packages/{package['id']}?files=bag").get_data(as_text=True)
    listed = bag.split('<table class="files">')[1].split("</table>")[0]
    assert "bagit.txt" in listed and "bag-info.txt" in listed and "harbour.png" not in listed
    assert ">unknown" not in listed
    assert re.search(r"\d+ bag files here", bag)
    assert "Show the package&#39;s files" in bag or "Show the package's files" in bag


def test_the_description_edit_makes_a_metadata_version_with_an_event(
    site_any: Site, package: dict
) -> None:
    client = site_any.client(site_any.user("ann"))
    form = client.get(f"/packages/{package['id']}/describe")
    assert form.status_code == 200
    html = form.get_data(as_text=True)
    assert 'for="dc-title"' in html and "Harbour scans" in html
    token = csrf_token(client)
    # nothing changed: a message, no version
    unchanged = {"csrf_token": token, "title": "Harbour scans", "text_language": ""}
    answer = client.post(f"/packages/{package['id']}/describe", data=unchanged)
    assert answer.status_code == 302
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Nothing to change" in page
    assert len(site_any.repo.json("show", package["id"])["versions"]) == 1
    # a change: version 2, a metadata modification event naming the person
    changed = {
        "csrf_token": token,
        "title": "Harbour scans, 1930",
        "creator": "Jan Peeters\nAnn Smet",
        "description": "Photographs of the quay",
        "text_language": "en",
    }
    answer = client.post(f"/packages/{package['id']}/describe", data=changed)
    assert answer.status_code == 302
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "version 2" in page
    shown = site_any.repo.json("show", package["id"])
    assert [v["number"] for v in shown["versions"]] == [1, 2]
    assert shown["versions"][1]["kind"] == "metadata"
    assert shown["summary"]["title"] == "Harbour scans, 1930"
    assert shown["description"]["creator"] == ["Jan Peeters", "Ann Smet"]
    modification = [e for e in shown["events"] if e["event_type"] == "metadata modification"]
    assert modification and "ann" in str(modification[-1])
    # the earlier version still shows its own description
    old = client.get(f"/packages/{package['id']}?version=1").get_data(as_text=True)
    assert old.split("<h1>")[1].split("</h1>")[0] == "Harbour scans"
    described = old.split('id="description"')[1].split('id="versions"')[0]
    assert "Version 1 of 2" in old and "Jan Peeters" not in described
    new = client.get(f"/packages/{package['id']}").get_data(as_text=True)
    assert new.split("<h1>")[1].split("</h1>")[0] == "Harbour scans, 1930"
    assert "Version 2 of 2" in new and "description corrected" in new
    assert '<dd lang="en">Photographs of the quay' in new
    assert "<dd>Jan Peeters" in new  # names are not text in a language
    assert client.get(f"/packages/{package['id']}?version=9").status_code == 404


def test_invalid_description_input_is_refused_per_field(site_any: Site, package: dict) -> None:
    client = site_any.client(site_any.user("ann"))
    token = csrf_token(client)
    bad = {"csrf_token": token, "title": "", "creator": "a\x07b", "text_language": "not a tag!"}
    answer = client.post(f"/packages/{package['id']}/describe", data=bad)
    assert answer.status_code == 400
    html = answer.get_data(as_text=True)
    assert 'id="dc-title-error"' in html and "needs a title" in html
    assert 'id="dc-creator-error"' in html and "control characters" in html
    assert 'aria-invalid="true"' in html
    assert 'id="dc-language-tag-error"' in html
    assert 'id="dc-language-error"' not in html  # the Dublin Core Language element is fine
    assert len(site_any.repo.json("show", package["id"])["versions"]) == 1


def _form_values(html: str) -> dict[str, str]:
    """The describe form's fields as the browser would send them back unchanged."""
    import html as html_module

    out = {
        m.group(1): html_module.unescape(m.group(2))
        for m in re.finditer(
            r'<textarea id="dc-[a-z]+" name="([a-z_]+)"[^>]*>(.*?)</textarea>', html, re.S
        )
    }
    tag = re.search(r'name="text_language" value="([^"]*)"', html)
    assert tag is not None
    out["text_language"] = tag.group(1)
    return out


def test_a_description_in_two_languages_is_edited_without_retagging_or_duplicates(
    site_any: Site, package: dict
) -> None:
    """Trial 11, F5: the Dublin Core Language ("nl", "fr") and the language of the text typed
    had one field name, so no save got through; a description saved with a language given
    tagged every value (identifiers, dates, names) and doubled the urn:uuid identifier."""
    site_any.repo.run(
        "describe",
        package["id"],
        "--set",
        "language=nl",
        "--set",
        "language=fr",
        "--set",
        "identifier=BE-MSKG-1923-a",
        "--set",
        "date=1923",
    )
    before = site_any.repo.json("show", package["id"])
    client = site_any.client(site_any.user("ann"))
    html = client.get(f"/packages/{package['id']}/describe").get_data(as_text=True)
    form = html.split('<form method="post" class="form"')[1].split("</form>")[0]
    assert form.count('name="language"') == 1 and form.count('name="text_language"') == 1
    # each multi-value box is as tall as its values and one line more
    assert re.search(r'id="dc-language" name="language" rows="3"', html)
    fields = _form_values(html)
    assert fields["language"] == "nl\nfr"
    data = {"csrf_token": csrf_token(client), **fields}
    answer = client.post(f"/packages/{package['id']}/describe", data=data)
    assert answer.status_code == 302
    assert "Nothing to change" in client.get(answer.headers["Location"]).get_data(as_text=True)
    assert len(site_any.repo.json("show", package["id"])["versions"]) == len(before["versions"])
    # a changed description with the text language "nl": only the typed text is tagged
    data |= {"description": "Zicht op de kaai", "text_language": "nl"}
    answer = client.post(f"/packages/{package['id']}/describe", data=data)
    assert answer.status_code == 302
    after = site_any.repo.json("show", package["id"])
    assert len(after["versions"]) == len(before["versions"]) + 1
    description = after["description"]
    assert description["description"] == ["Zicht op de kaai"]
    assert description["language"] == ["nl", "fr"]
    assert description["date"] == ["1923"]
    identifiers = description["identifier"]
    assert identifiers == before["description"]["identifier"]
    assert len([i for i in identifiers if i.startswith("urn:uuid:")]) == 1
    assert description.get("_lang") == {"description": ["nl"]}


def test_a_viewer_may_not_edit_nor_run_fixity(site: Site, tmp_path: Path) -> None:
    p = site.ingest(image_folder(tmp_path), "photos")
    client = site.client(site.user("vera", "viewer"))
    token = csrf_token(client)
    assert client.get(f"/packages/{p['id']}/describe").status_code == 403
    data = {"csrf_token": token, "title": "Changed"}
    assert client.post(f"/packages/{p['id']}/describe", data=data).status_code == 403
    assert client.post(f"/packages/{p['id']}/fixity", data={"csrf_token": token}).status_code == 403
    # without the CSRF token, nothing at all
    archivist = site.client(site.user("ann"))
    assert archivist.post(f"/packages/{p['id']}/fixity").status_code == 400


def test_fixity_now_queues_one_job_even_when_asked_twice(site_any: Site, package: dict) -> None:
    client = site_any.client(site_any.user("ann"))
    token = csrf_token(client)
    first = client.post(f"/packages/{package['id']}/fixity", data={"csrf_token": token})
    assert first.status_code == 302
    job = re.search(r"job=([0-9a-f-]+)", first.headers["Location"])
    assert job
    second = client.post(f"/packages/{package['id']}/fixity", data={"csrf_token": token})
    assert re.search(r"job=([0-9a-f-]+)", second.headers["Location"]).group(1) == job.group(1)
    page = client.get(second.headers["Location"]).get_data(as_text=True)
    assert "already waiting or running" in page
    jobs = [j for j in site_any.repo.json("jobs", "list") if j["kind"] == "fixity"]
    assert len(jobs) == 1 and jobs[0]["requested_by"] == "ann"


def test_a_damaged_package_says_so(site: Site, tmp_path: Path) -> None:
    from preserve.catalogue.models import Package

    p = site.ingest(image_folder(tmp_path), "photos")
    with site.application.uow() as uow:
        row = uow.session.get(Package, p["id"])
        from datetime import UTC, datetime

        row.damaged_at = datetime.now(UTC)
        row.damage = [{"version": 1, "path": "data/scans/quay.jpg", "reason": "no good copy"}]
        uow.commit()
    html = site.client(site.user("ann")).get(f"/packages/{p['id']}").get_data(as_text=True)
    assert "damaged" in html and "data/scans/quay.jpg" in html
    assert "DAMAGED, no good copy anywhere" in html


def test_many_events_are_capped_with_show_all(site: Site, tmp_path: Path) -> None:
    from preserve import premis

    p = site.ingest(image_folder(tmp_path), "photos")
    with site.application.uow() as uow:
        agent = uow.agents.get_or_create("preserve", "test", "software")
        for i in range(package_view.EVENTS_SHOWN + 5):
            uow.events.add(
                premis.FIXITY_CHECK, "success", agent=agent, package_id=p["id"], detail=f"n{i}"
            )
        uow.commit()
    client = site.client(site.user("ann"))
    html = client.get(f"/packages/{p['id']}").get_data(as_text=True)
    assert "Show all" in html
    assert f"n{package_view.EVENTS_SHOWN + 4}<" in html  # the latest is shown
    everything = client.get(f"/packages/{p['id']}?events=all").get_data(as_text=True)
    assert "Show all" not in everything and "n0<" in everything


def test_a_file_page_shows_a_preview_placeholder_until_made(site: Site, tmp_path: Path) -> None:
    p = site.ingest(image_folder(tmp_path), "photos")
    name = site.user("ann")
    detail = package_view.package_detail(
        site.application, _principal(site, name), p["id"], folder="data/scans/"
    )
    png = next(e for e in detail.files.entries if e.name == "harbour.png")
    client = site.client(name)
    page = client.get(f"/packages/{p['id']}/files/{png.id}")
    assert page.status_code == 200 and "not made yet" in page.get_data(as_text=True)
    thumb = client.get(f"/packages/{p['id']}/files/{png.id}/thumbnail")
    assert thumb.status_code == 200 and thumb.mimetype == "image/svg+xml"
    assert client.get(f"/packages/{p['id']}/files/999999").status_code == 404


def test_a_package_of_many_files_is_shown_a_page_at_a_time(site: Site, tmp_path: Path) -> None:
    delivery = tmp_path / "many"
    (delivery / "a").mkdir(parents=True)
    for i in range(230):
        (delivery / "a" / f"f{i:04d}.txt").write_text(f"{i}\n", encoding="utf-8")
    p = site.ingest(delivery, "photos")
    client = site.client(site.user("ann"))
    first = client.get(f"/packages/{p['id']}?folder=data/a/").get_data(as_text=True)
    assert "page 1 of 3" in first and first.count('/download"') == package_view.FILES_PER_PAGE
    assert "f0000.txt" in first and "f0100.txt" not in first
    assert f"/packages/{p['id']}?version=1&amp;folder=data/a/&amp;page=2#files" in first
    last = client.get(f"/packages/{p['id']}?folder=data/a/&page=3").get_data(as_text=True)
    assert "f0229.txt" in last and "f0199.txt" not in last and 'rel="next"' not in last
    beyond = client.get(f"/packages/{p['id']}?folder=data/a/&page=9").get_data(as_text=True)
    assert "No files here." in beyond


def test_past_the_count_limit_the_pages_go_on_without_a_total(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    delivery = tmp_path / "some"
    delivery.mkdir()
    for i in range(12):
        (delivery / f"f{i:02d}.txt").write_text(f"{i}\n", encoding="utf-8")
    p = site.ingest(delivery, "photos")
    monkeypatch.setattr(package_view, "COUNT_LIMIT", 5)
    name = site.user("ann")
    detail = package_view.package_detail(
        site.application, _principal(site, name), p["id"], folder="data/", per_page=5
    )
    assert not detail.files.exact and detail.files.has_next
    html = site.client(name).get(f"/packages/{p['id']}?folder=data/").get_data(as_text=True)
    assert "More than 5 files here" in html


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("nl", ("begin van de ingest", "formaatidentificatie", "door ann (persoon)")),
        ("fr", ("début de l’ingestion", "identification du format", "par ann (personne)")),
    ],
)
def test_the_history_reads_in_the_persons_language(
    site: Site, tmp_path: Path, language: str, words: tuple[str, ...]
) -> None:
    """Trial 11, F12: the PREMIS event types, outcomes and agents stayed English on Dutch and
    French pages; the stored event type stays the LoC label."""
    p = site.ingest(image_folder(tmp_path), "photos", "--title", "Harbour scans")
    client = site.client(site.user("ann"))
    client.post("/language", data={"language": language, "csrf_token": csrf_token(client)})
    changed = {"csrf_token": csrf_token(client), "title": "Harbour scans, 1930"}
    assert client.post(f"/packages/{p['id']}/describe", data=changed).status_code == 302
    html = client.get(f"/packages/{p['id']}").get_data(as_text=True)
    history = html.split('id="events"')[1]
    for word in words:
        assert word in history, word
    assert "ingestion start" not in history and "format identification" not in history
    events = {e["event_type"] for e in site.repo.json("show", p["id"])["events"]}
    assert "ingestion start" in events
