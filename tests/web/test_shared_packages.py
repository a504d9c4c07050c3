"""Packages shared through an agreement (issue 12): the people of every party of an agreement in
force over a package see it, read-only, in the web list, the search, its page, the API and
``preserve show --as``; a person of no party does not; describing it and a fixity request stay
with the owner's archivists (403), downloads are decided by the agreement's rights (403 here:
it grants no disseminate); SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from preserve.errors import PermissionDenied
from preserve.services import accounts, package_view
from tests.agreement_setup import make_active
from tests.web.agreements_support import PASSWORD, add_parties, form, person, spec, token
from tests.web.conftest import Site


@pytest.fixture
def shared(site_any: Site, tmp_path: Path) -> tuple[Site, str]:
    """The museum's package 'Harbour 1920' in museum/photos, under an active agreement with the
    artist and the archive; 'ada' a viewer of the artist (a party), 'otto' an admin of an
    organisation that is no party."""
    site = site_any
    add_parties(site)
    site.repo.run("organisations", "add", "other", "--name", "Another Organisation")
    for username, memberships in (("ada", {"artist": "viewer"}), ("otto", {"other": "admin"})):
        made = accounts.create_user(
            site.application, username, password=PASSWORD, memberships=memberships
        )
        site.users[username] = made.user_id
    make_active(site.application, spec())
    delivery = tmp_path / "harbour"
    delivery.mkdir()
    (delivery / "a.txt").write_text("the harbour in 1920\n")
    site.repo.run(
        "ingest", delivery, "--collection", "photos", "--organisation", "museum",
        "--title", "Harbour 1920",
    )  # fmt: skip
    package_id = site.repo.packages()[0]["id"]
    return site, package_id


def test_a_party_sees_a_shared_package_and_a_non_party_does_not(
    shared: tuple[Site, str],
) -> None:
    site, package_id = shared
    ada, otto = site.client("ada"), site.client("otto")
    # the web list and the search (filters go through the same query as words)
    search = "/packages?status=stored&sort=title&format=Plain+Text+File"
    assert "Harbour 1920" in ada.get("/packages").get_data(as_text=True)
    assert "Harbour 1920" in ada.get(search).get_data(as_text=True)
    assert "Harbour 1920" not in otto.get("/packages").get_data(as_text=True)
    assert "Harbour 1920" not in otto.get(search).get_data(as_text=True)
    # its page (read-only: no describe link), and a file's thumbnail route answers
    page = ada.get(f"/packages/{package_id}")
    assert page.status_code == 200 and "Harbour 1920" in page.get_data(as_text=True)
    assert f"/packages/{package_id}/describe" not in page.get_data(as_text=True)
    assert otto.get(f"/packages/{package_id}").status_code == 404
    # the API
    listed = ada.get("/api/v1/packages", headers=token(site, "ada")).get_json()
    assert [p["id"] for p in listed["items"]] == [package_id]
    assert otto.get("/api/v1/packages", headers=token(site, "otto")).get_json()["items"] == []
    assert ada.get(f"/api/v1/packages/{package_id}", headers=token(site, "ada")).status_code == 200
    assert (
        otto.get(f"/api/v1/packages/{package_id}", headers=token(site, "otto")).status_code == 404
    )
    # the owner's viewer still sees it; the owner's archivist may describe it
    assert site.client("vera").get(f"/packages/{package_id}").status_code == 200
    assert site.client("mia").get(f"/packages/{package_id}/describe").status_code == 200


def test_a_party_may_not_change_or_download_a_shared_package(shared: tuple[Site, str]) -> None:
    site, package_id = shared
    ada = site.client("ada")
    assert ada.get(f"/packages/{package_id}/describe").status_code == 403
    assert form(ada, f"/packages/{package_id}/fixity").status_code == 403
    with pytest.raises(PermissionDenied, match="shared with you through an agreement"):
        package_view.run_fixity(site.application, person(site.application, "ada"), package_id)
    # the agreement grants no disseminate: the download is refused, with the reason
    refused = ada.get(f"/packages/{package_id}/download")
    assert refused.status_code == 403
    assert site.client("otto").get(f"/packages/{package_id}/download").status_code == 404


def test_preserve_show_as_a_party_and_as_a_non_party(shared: tuple[Site, str]) -> None:
    site, package_id = shared
    shown = site.repo.json("show", package_id[:8], "--as", "ada")
    assert shown["summary"]["id"] == package_id
    refused = site.repo.run("show", package_id[:8], "--as", "otto", ok=False)
    assert refused.exit_code == 3
    assert refused.stderr.strip() == f"error: no package {package_id[:8]!r} that you may see"
    unknown = site.repo.run("show", package_id[:8], "--as", "nobody", ok=False)
    assert unknown.exit_code == 3 and "no user 'nobody'" in unknown.stderr
    assert site.repo.run("show", package_id[:8]).exit_code == 0  # the operator sees all
