"""The dashboard and the jobs page say so when jobs have been queued for over a minute and no
worker of the embedded broker is alive (trial of issue 11, F17: the worker had died, and the
catalogue showed "No job is running" while an ingest waited for ever)."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from preserve import broker
from preserve.catalogue.models import Job
from preserve.services import jobs
from tests.web.conftest import Site
from tests.web.jobs_support import no_publish

NOTICE = "No worker is running: queued jobs wait."


def _queue(site: Site, minutes_ago: float) -> str:
    app = site.application
    job_id = jobs.submit(app, "report", {}, requested_by="web", publish=no_publish).id
    with app.uow() as uow:
        job = uow.session.get(Job, job_id)
        assert job is not None
        job.created_at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
        uow.commit()
    return job_id


def _pages(site: Site) -> list[str]:
    client = site.client("boss")
    return [client.get(path).get_data(as_text=True) for path in ("/", "/jobs")]


def test_queued_jobs_and_no_worker_give_a_notice(site: Site) -> None:
    site.user("boss", None, admin=True)
    _queue(site, minutes_ago=0)
    assert all(NOTICE not in page for page in _pages(site))  # just queued: no alarm yet
    _queue(site, minutes_ago=2)
    assert all(NOTICE in page for page in _pages(site))


def test_a_live_worker_means_no_notice(site: Site) -> None:
    site.user("boss", None, admin=True)
    _queue(site, minutes_ago=2)
    settings = site.application.settings
    folder = broker.heartbeat_folder(settings)
    stale = folder / "gone-1"
    stale.touch()
    old = time.time() - broker.HEARTBEAT_STALE - 5
    os.utime(stale, (old, old))
    assert all(NOTICE in page for page in _pages(site))  # a worker silent for long is gone
    with broker.heartbeat(settings):
        assert any(Path(p).name != "gone-1" for p in folder.iterdir())
        assert all(NOTICE not in page for page in _pages(site))
    assert [p.name for p in folder.iterdir()] == ["gone-1"]  # its file goes with it
