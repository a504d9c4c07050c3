"""Collections pages: the list with holdings; creating and editing by admins of the
organisation only (viewers and archivists read), through the same services as the command line
(a location added queues replication jobs), with a message per field."""

from __future__ import annotations

from pathlib import Path

from tests.web.conftest import csrf_token
from tests.web.search_support import ingest


def _post(client, url: str, **data):
    return client.post(url, data={"csrf_token": csrf_token(client), **data})


def test_list_shows_own_collections_with_holdings(site, tmp_path: Path) -> None:
    package = ingest(site, tmp_path, "harbour", title="Haven")
    client = site.client(site.user("vera", role="viewer"))
    page = client.get("/collections").get_data(as_text=True)
    assert "Photographs" in page and "Letters" not in page
    assert f'<td class="num">{package["files"]}</td>' in page
    assert "New collection" not in page and "/edit" not in page
    assert client.get("/collections/new").status_code == 403
    assert client.get("/collections/ours/photos/edit").status_code == 403
    assert client.get("/collections/theirs/letters/edit").status_code == 404
    archivist = site.client(site.user("archie", role="archivist"))
    refused = _post(archivist, "/collections/new", organisation="ours", slug="x", title="X")
    assert refused.status_code == 403
    assert _post(archivist, "/collections/ours/photos/edit", title="X").status_code == 403


def test_admin_creates_and_edits_with_per_field_messages(site) -> None:
    site.repo.run("locations", "add", "second", f"file://{site.repo.home / 'second'}")
    client = site.client(site.user("ada", role="admin"))
    assert "New collection" in client.get("/collections").get_data(as_text=True)
    form = client.get("/collections/new").get_data(as_text=True)
    assert '<label for="slug">' in form and 'name="csrf_token"' in form
    assert "Their Archive" not in form  # only organisations where ada is admin

    bad = _post(
        client, "/collections/new", organisation="theirs", slug="Bad Slug!", title="",
        locations="nowhere", fixity_interval_days="soon",
    )  # fmt: skip
    assert bad.status_code == 400
    body = bad.get_data(as_text=True)
    for message in ("use lower-case letters", "choose one of your organisations", "give a title",
                    "no location &#39;nowhere&#39;", "is not a whole number of days"):  # fmt: skip
        assert message in body, message
    assert 'aria-invalid="true"' in body
    assert "bad slug" not in site.repo.run("collections", "list").stdout.lower()
    assert _post(
        client, "/collections/new", organisation="ours", slug="maps", title="Maps",
        fixity_interval_days="0",
    ).status_code == 400  # fmt: skip
    assert (
        _post(
            client, "/collections/new", organisation="ours", slug="photos", title="Again"
        ).status_code
        == 400
    )

    made = _post(
        client, "/collections/new", organisation="ours", slug="maps", title="Maps",
        description="Kaarten", locations="second", fixity_interval_days="30",
    )  # fmt: skip
    assert made.status_code == 302
    listed = {c["slug"]: c for c in site.repo.json("collections", "list", "--json")}
    assert listed["maps"]["title"] == "Maps" and listed["maps"]["locations"] == ["second"]
    page = client.get("/collections").get_data(as_text=True)
    assert "Maps" in page and "30 days" in page

    edit = client.get("/collections/ours/maps/edit").get_data(as_text=True)
    assert 'value="Maps"' in edit
    edit_url = "/collections/ours/maps/edit"
    assert _post(client, edit_url, title="", locations="second").status_code == 400
    assert _post(client, edit_url, title="Maps", locations=[]).status_code == 400
    changed = _post(
        client, "/collections/ours/maps/edit", title="Kaarten", description="",
        locations=["second", "default"], fixity_interval_days="",
    )  # fmt: skip
    assert changed.status_code == 302
    listed = {c["slug"]: c for c in site.repo.json("collections", "list", "--json")}
    assert listed["maps"]["title"] == "Kaarten"
    assert sorted(listed["maps"]["locations"]) == ["default", "second"]
    assert "default" in client.get("/collections").get_data(as_text=True)
    from preserve.catalogue.models import AuditEntry

    with site.application.uow() as uow:
        actions = [e.action for e in uow.session.query(AuditEntry).filter_by(username="ada")]
    assert actions.count("collection.create") == 1 and actions.count("collection.edit") == 1
    assert client.get("/collections/theirs/letters/edit").status_code == 404


def test_a_location_added_queues_replication_as_the_command_does(site, tmp_path: Path) -> None:
    ingest(site, tmp_path, "harbour", title="Haven")
    site.repo.run("locations", "add", "second", f"file://{site.repo.home / 'second'}")
    client = site.client(site.user("ada", role="admin"))
    response = _post(
        client, "/collections/ours/photos/edit", title="Photographs",
        locations=["default", "second"], fixity_interval_days="",
    )  # fmt: skip
    assert response.status_code == 302
    page = client.get("/collections").get_data(as_text=True)
    assert "1 copy to make on the new locations was queued" in page
    jobs = site.repo.json("jobs", "list", "--json")
    assert [j["kind"] for j in jobs] == ["replicate"]
    import sqlalchemy as sa

    from preserve.catalogue.models import AuditEntry

    with site.application.uow() as uow:
        entries = uow.session.execute(
            sa.select(AuditEntry.username, AuditEntry.action, AuditEntry.object_id)
        ).all()
    assert ("ada", "collection.edit", "ours/photos") in entries
