"""The jobs and alerts pages: who sees which jobs and alerts, filters and pages, a job's page
and its JSON twin, cancel and retry, acknowledging an alert; bad input gives a 4xx with a
message. On SQLite and PostgreSQL (the visibility is a query)."""

from __future__ import annotations

from pathlib import Path

import pytest

from preserve.services import jobs
from tests.web.conftest import Site, csrf_token
from tests.web.jobs_support import Objects, no_publish, seed


@pytest.fixture
def seeded(site_any: Site, tmp_path: Path) -> tuple[Site, Objects]:
    objects = seed(site_any, tmp_path)
    site_any.user("arch", "archivist", "ours")
    site_any.user("view", "viewer", "ours")
    site_any.user("boss", None, admin=True)
    return site_any, objects


def test_jobs_list_shows_only_the_persons_organisations(seeded: tuple[Site, Objects]) -> None:
    site, o = seeded
    page = site.client("arch").get("/jobs")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert o.jobs["ours"][:8] in text
    assert "Harbour photographs" in text
    assert o.jobs["theirs"][:8] not in text
    assert "Secret letters" not in text
    assert o.repository_job[:8] not in text  # no organisation: admins only
    everything = site.client("boss").get("/jobs").get_data(as_text=True)
    for job_id in (o.jobs["ours"], o.jobs["theirs"], o.repository_job):
        assert job_id[:8] in everything


def test_jobs_filters_and_pages(seeded: tuple[Site, Objects]) -> None:
    site, o = seeded
    client = site.client("arch")
    cancelled = client.get("/jobs?state=cancelled").get_data(as_text=True)
    assert o.failed_jobs["ours"][:8] in cancelled
    assert o.jobs["ours"][:8] not in cancelled
    fixity = client.get("/jobs?kind=fixity").get_data(as_text=True)
    assert o.jobs["ours"][:8] in fixity
    assert o.failed_jobs["ours"][:8] not in fixity
    assert client.get("/jobs?page=2").status_code == 200
    for bad, said in (("state=lost", "no state"), ("kind=dance", "no kind"), ("page=0", "Page 0"),
                      ("page=x", "Page x")):  # fmt: skip
        response = client.get(f"/jobs?{bad}")
        assert response.status_code == 400, bad
        assert said in response.get_data(as_text=True)


def test_a_job_requested_by_the_person_is_theirs_even_without_a_role(
    seeded: tuple[Site, Objects],
) -> None:
    site, _o = seeded
    site.user("visitor", "viewer", "theirs")
    mine = jobs.submit(site.application, "fixity", {}, requested_by="visitor", publish=no_publish)
    client = site.client("visitor")
    assert mine.id[:8] in client.get("/jobs").get_data(as_text=True)
    response = client.post(f"/jobs/{mine.id}/cancel", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 302
    assert jobs.show(site.application, mine.id).state == "cancelled"


def test_job_page_and_its_json_twin(seeded: tuple[Site, Objects]) -> None:
    site, o = seeded
    client = site.client("view")
    page = client.get(f"/jobs/{o.jobs['ours']}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert o.jobs["ours"] in text
    assert "js/jobs.js" in text
    assert 'data-active="true"' in text
    assert "Cancel this job" not in text  # a viewer may not
    data = client.get(f"/jobs/{o.jobs['ours']}.json").get_json()
    assert data["id"] == o.jobs["ours"]
    assert data["state"] == "queued"
    assert data["active"] is True
    assert "progress_html" in data
    for job_id in (o.jobs["theirs"], o.repository_job, "0" * 36, "nope"):
        assert client.get(f"/jobs/{job_id}").status_code == 404
        missing = client.get(f"/jobs/{job_id}.json")
        assert missing.status_code == 404
        # the page names its own address (the language switcher's return path), nothing more
        body = missing.get_data(as_text=True).replace(f"/jobs/{job_id}.json", "")
        assert job_id not in body


def test_cancel_and_retry(seeded: tuple[Site, Objects]) -> None:
    site, o = seeded
    viewer = site.client("view")
    token = csrf_token(viewer)
    refused = viewer.post(f"/jobs/{o.jobs['ours']}/cancel", data={"csrf_token": token})
    assert refused.status_code == 403
    assert "archivist" in refused.get_data(as_text=True)
    client = site.client("arch")
    token = csrf_token(client)
    assert (
        client.post(f"/jobs/{o.jobs['theirs']}/cancel", data={"csrf_token": token}).status_code
        == 404
    )
    assert client.post(f"/jobs/{o.jobs['ours']}/cancel").status_code == 400  # no CSRF token
    done = client.post(
        f"/jobs/{o.jobs['ours']}/cancel", data={"csrf_token": token}, follow_redirects=True
    )
    assert done.status_code == 200
    assert "The job was cancelled." in done.get_data(as_text=True)
    assert jobs.show(site.application, o.jobs["ours"]).state == "cancelled"
    again = client.post(f"/jobs/{o.jobs['ours']}/cancel", data={"csrf_token": token})
    assert again.status_code == 400
    assert "nothing to cancel" in again.get_data(as_text=True)
    retried = client.post(
        f"/jobs/{o.jobs['ours']}/retry", data={"csrf_token": token}, follow_redirects=True
    )
    assert "The job was queued again." in retried.get_data(as_text=True)
    assert jobs.show(site.application, o.jobs["ours"]).state == "queued"
    twice = client.post(f"/jobs/{o.jobs['ours']}/retry", data={"csrf_token": token})
    assert twice.status_code == 400
    assert "only a failed or cancelled job can be retried" in twice.get_data(as_text=True)


def test_alerts_visibility_and_acknowledge(seeded: tuple[Site, Objects]) -> None:
    site, o = seeded
    client = site.client("arch")
    text = client.get("/alerts").get_data(as_text=True)
    assert "fixity failure in Harbour photographs" in text
    assert "Secret letters" not in text
    assert "fixity backlog" not in text  # no package: admins only
    admin_text = site.client("boss").get("/alerts").get_data(as_text=True)
    assert "fixity backlog" in admin_text and "Secret letters" in admin_text
    viewer = site.client("view")
    assert "Acknowledge" not in viewer.get("/alerts").get_data(as_text=True)
    refused = viewer.post(
        f"/alerts/{o.alerts['ours']}/acknowledge", data={"csrf_token": csrf_token(viewer)}
    )
    assert refused.status_code == 403
    token = csrf_token(client)
    for other in (o.alerts["theirs"], o.repository_alert, 999999):
        assert (
            client.post(f"/alerts/{other}/acknowledge", data={"csrf_token": token}).status_code
            == 404
        )
    done = client.post(
        f"/alerts/{o.alerts['ours']}/acknowledge", data={"csrf_token": token}, follow_redirects=True
    )
    assert "Alert acknowledged." in done.get_data(as_text=True)
    assert "Harbour" not in client.get("/alerts").get_data(as_text=True)  # open ones only
    shown = client.get("/alerts?show=acknowledged").get_data(as_text=True)
    assert "acknowledged by arch" in shown
    again = client.post(f"/alerts/{o.alerts['ours']}/acknowledge", data={"csrf_token": token})
    assert again.status_code == 400
    assert "already acknowledged by arch" in again.get_data(as_text=True)
    for bad in ("show=some", "kind=fire", "page=-1"):
        assert client.get(f"/alerts?{bad}").status_code == 400


def test_sign_in_needed(seeded: tuple[Site, Objects]) -> None:
    site, o = seeded
    anonymous = site.client()
    for path in ("/jobs", f"/jobs/{o.jobs['ours']}", f"/jobs/{o.jobs['ours']}.json", "/alerts"):
        response = anonymous.get(path)
        assert response.status_code == 302
        assert "/sign-in" in response.headers["Location"]


def test_an_ingest_jobs_page_links_the_package_it_stored(site: Site, tmp_path: Path) -> None:
    from preserve.services import runner
    from tests.web.jobs_support import delivery

    site.user("arch", "archivist", "ours")
    folder = delivery(tmp_path / "plates", "Plates of the quay")
    out = site.repo.json(
        "ingest", folder, "--collection", "photos", "--organisation", "ours",
        "--title", "Plates of the quay", "--async", "--json",
    )  # fmt: skip
    assert runner.run_job(site.application, out["job_id"]) == "succeeded"
    text = site.client("arch").get(f"/jobs/{out['job_id']}").get_data(as_text=True)
    assert "Package stored" in text
    package = next(p for p in site.repo.packages() if p["title"] == "Plates of the quay")
    assert f'href="/packages/{package["id"]}"' in text
    assert "Technical details of the result" in text
    # the list shows the ingest as the person's organisation's job
    listed = site.client("arch").get("/jobs?kind=ingest").get_data(as_text=True)
    assert out["job_id"][:8] in listed
    assert f'href="/packages/{package["id"]}"' in listed
