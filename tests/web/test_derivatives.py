"""Thumbnails and previews (the derivatives service and its route): made for PNG, JPEG and TIFF
from a local or an S3 master, stored under the derivatives folder, recorded once (running
again makes no duplicates), served with caching headers only to people who may see the
package, a placeholder where none is made, an unreadable image recorded with its error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import pyvips
from sqlalchemy import func, select

from preserve.catalogue.models import Derivative
from preserve.services import derivatives, package_view
from preserve.services.accounts import principal_for
from tests.web.conftest import Site
from tests.web.package_support import image_folder
from tests.web.test_downloads import _site


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def any_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    url = None if request.param == "local" else request.getfixturevalue("s3_bucket_url")
    s = _site(tmp_path, url)
    yield s
    s.application.close()


def _count(site: Site, package_id: str) -> int:
    with site.application.uow() as uow:
        return int(
            uow.session.scalar(
                select(func.count())
                .select_from(Derivative)
                .where(Derivative.package_id == package_id)
            )
        )


def _files(site: Site, name: str, package_id: str) -> dict[str, package_view.FileEntry]:
    principal = principal_for(site.application, site.users[name])
    detail = package_view.package_detail(site.application, principal, package_id, per_page=1000)
    return {e.path: e for e in detail.files.entries}


def test_thumbnails_and_previews_are_made_once_and_served(
    any_storage: Site, tmp_path: Path
) -> None:
    site = any_storage
    p = site.ingest(image_folder(tmp_path), "photos")
    report = derivatives.make_derivatives(site.application, p["id"])
    assert (report.images, report.made, report.failed) == (3, 3, 0)
    assert _count(site, p["id"]) == 6  # a thumbnail and a preview of each image
    made = sorted(site.settings.derivatives_dir.rglob("*.jpg"))
    assert len(made) == 6
    for path in made:
        image = pyvips.Image.new_from_file(str(path))
        assert max(image.width, image.height) <= 1600
        if path.name.endswith("-thumbnail.jpg"):
            assert max(image.width, image.height) <= 256
    # nothing is written to the storage location (not in the AIP)
    if site.repo.storage_root.exists():
        assert not [f for f in site.repo.storage_root.rglob("*.jpg") if "derivatives" in str(f)]
    # running again: nothing made, no duplicates
    again = derivatives.make_derivatives(site.application, p["id"])
    assert (again.made, again.skipped) == (0, 3)
    assert _count(site, p["id"]) == 6
    # served as JPEG with caching headers, to people of the organisation
    name = site.user("vera", "viewer")
    files = _files(site, name, p["id"])
    tif = files["data/scans/ship.tif"]
    assert tif.thumbnail is not None and tif.thumbnail.width == 256
    client = site.client(name)
    thumb = client.get(f"/packages/{p['id']}/files/{tif.id}/thumbnail")
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert thumb.data[:3] == b"\xff\xd8\xff"
    assert "max-age" in thumb.headers["Cache-Control"] and thumb.headers.get("ETag")
    thumb.close()
    preview = client.get(f"/packages/{p['id']}/files/{tif.id}/preview")
    assert preview.status_code == 200 and preview.mimetype == "image/jpeg"
    preview.close()
    page = client.get(f"/packages/{p['id']}").get_data(as_text=True)
    assert f"/files/{tif.id}/thumbnail" in page
    # not to another organisation, nor for another kind
    stranger = site.client(site.user("sam", "admin", organisation="theirs"))
    assert stranger.get(f"/packages/{p['id']}/files/{tif.id}/thumbnail").status_code == 404
    assert client.get(f"/packages/{p['id']}/files/{tif.id}/original").status_code == 404


def test_an_image_that_cannot_be_read_is_recorded_with_its_error(
    site_any: Site, tmp_path: Path
) -> None:
    folder = image_folder(tmp_path, html=False)
    good = (folder / "scans" / "quay.jpg").read_bytes()
    (folder / "scans" / "broken.jpg").write_bytes(good[: len(good) // 3])  # cut short
    p = site_any.ingest(folder, "photos")
    report = derivatives.make_derivatives(site_any.application, p["id"])
    assert report.images == 4
    with site_any.application.uow() as uow:
        rows = uow.session.scalars(select(Derivative).where(Derivative.package_id == p["id"])).all()
        assert len(rows) == 8
        errors = [r for r in rows if r.error]
        paths = {r.path for r in rows if r.path}
    # libvips may still make a picture of a truncated JPEG; either way one row per kind
    assert len(paths) + len(errors) == 8


def test_queueing_is_once_per_package_version(site: Site, tmp_path: Path) -> None:
    p = site.ingest(image_folder(tmp_path), "photos")
    job = derivatives.queue_derivatives(site.application, p["id"])
    again = derivatives.queue_derivatives(site.application, p["id"])
    assert job is not None and job == again
    text_only = tmp_path / "texts"
    text_only.mkdir()
    (text_only / "a.txt").write_text("no images\n", encoding="utf-8")
    q = site.ingest(text_only, "photos")
    assert derivatives.queue_derivatives(site.application, q["id"]) is None


def test_the_command_makes_them_for_a_package_or_all(site: Site, tmp_path: Path) -> None:
    p = site.ingest(image_folder(tmp_path), "photos")
    out = site.repo.run("derivatives", "make", p["id"][:8]).stdout
    assert "3 images: 3 made" in out
    again = site.repo.json("derivatives", "make", "--all")
    assert [(r["package_id"], r["skipped"]) for r in again] == [(p["id"], 3)]
    assert site.repo.run("derivatives", "make", ok=False).exit_code == 2
