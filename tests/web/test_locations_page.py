"""The storage locations page (repository admins): each location with its copies, bytes,
verified and failed copies, fixity coverage and schedule; the schedule changed through the
same service as ``preserve fixity schedule``, with a message per field for bad input."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from preserve.catalogue.models import StorageLocation
from tests.web.conftest import Site, csrf_token
from tests.web.jobs_support import delivery


def test_admins_see_each_location(site_any: Site, tmp_path: Path) -> None:
    site = site_any
    site.ingest(delivery(tmp_path / "d", "Harbour photographs"), "photos")
    site.repo.run("locations", "add", "second", f"file://{tmp_path / 'second'}")
    site.user("boss", None, admin=True)
    page = site.client("boss").get("/locations")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "<h2" in text and "default" in text and "second" in text
    assert "Fixity coverage" in text
    assert "reachable" in text
    # the default location holds the package's copy, the new one nothing yet
    default = text[text.index('id="loc-default"') : text.index('id="loc-second"')]
    assert "<dt>Copies</dt><dd>1</dd>" in default
    assert "<dt>Verified</dt><dd>1</dd>" in default
    # trial 11, F18: not "100% checked" and "1 never checked" at once
    assert "never checked" not in default
    assert "100% verified within their interval (at ingest or by a fixity check)" in default
    assert "1 copy verified only at its ingest so far" in default
    # a location that stopped answering, and one retired
    from datetime import UTC, datetime

    with site.application.uow() as uow:
        default_row = uow.session.scalar(
            sa.select(StorageLocation).where(StorageLocation.name == "default")
        )
        default_row.unreachable_at = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
        default_row.unreachable_error = "connection refused"
        uow.commit()
    site.repo.run("locations", "retire", "second")
    text = site.client("boss").get("/locations").get_data(as_text=True)
    default = text[text.index('id="loc-default"') : text.index('id="loc-second"')]
    second = text[text.index('id="loc-second"') :]
    assert "unreachable" in default and "connection refused" in default
    assert "retired" in second and "Retired" in second
    assert "Fixity coverage" not in second  # off the schedule


def test_only_repository_admins(site: Site) -> None:
    site.user("orgboss", "admin", "ours")
    client = site.client("orgboss")
    assert client.get("/locations").status_code == 403
    response = client.post(
        "/locations/default/schedule",
        data={"interval_days": "10", "bytes_per_hour": "", "csrf_token": csrf_token(client)},
    )
    assert response.status_code == 403
    assert site.client().get("/locations").status_code == 302


def test_edit_the_schedule(site: Site) -> None:
    site.user("boss", None, admin=True)
    client = site.client("boss")
    token = csrf_token(client)
    done = client.post(
        "/locations/default/schedule",
        data={"interval_days": "45", "bytes_per_hour": "500GB", "csrf_token": token},
        follow_redirects=True,
    )
    assert done.status_code == 200
    text = done.get_data(as_text=True)
    assert "The fixity schedule of default was saved." in text
    assert "every 45 days" in text
    with site.application.uow() as uow:
        location = uow.session.scalar(
            sa.select(StorageLocation).where(StorageLocation.name == "default")
        )
        assert (location.fixity_interval_days, location.fixity_bytes_per_hour) == (45, 500 * 10**9)
    # empty fields: back to the repository's interval and no budget
    cleared = client.post(
        "/locations/default/schedule",
        data={"interval_days": "", "bytes_per_hour": "", "csrf_token": token},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "no hourly budget" in cleared


def test_bad_schedule_input(site: Site) -> None:
    site.user("boss", None, admin=True)
    client = site.client("boss")
    token = csrf_token(client)
    for interval, budget, field, said in (
        ("0", "", "interval_days", "between 1 and 36500"),
        ("ten", "", "interval_days", "whole number of days"),
        ("-3", "", "interval_days", "whole number of days"),
        ("", "lots", "bytes_per_hour", "such as 500GB"),
        ("", "-1GB", "bytes_per_hour", "such as 500GB"),
    ):
        response = client.post(
            "/locations/default/schedule",
            data={"interval_days": interval, "bytes_per_hour": budget, "csrf_token": token},
        )
        assert response.status_code == 400, (interval, budget)
        text = response.get_data(as_text=True)
        assert said in text
        prefix = "interval" if field == "interval_days" else "budget"
        assert f'aria-describedby="{prefix}-default-error"' in text
        assert "was not changed" in text
    assert "every 45 days" not in client.get("/locations").get_data(as_text=True)
    unknown = client.post(
        "/locations/nowhere/schedule",
        data={"interval_days": "5", "bytes_per_hour": "", "csrf_token": token},
    )
    assert unknown.status_code == 404
    assert (
        client.post("/locations/default/schedule", data={"interval_days": "5"}).status_code == 400
    )
