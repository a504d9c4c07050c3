"""A site with a package, a job and an alert in each organisation (``ours`` and ``theirs``),
plus a job and an alert that belong to no organisation: for the jobs, alerts and
authorisation-matrix tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preserve.services import alerts, jobs
from tests.web.conftest import Site


@dataclass(frozen=True)
class Objects:
    """Identifiers and titles of the seeded objects, per organisation (``ours``, ``theirs``)."""

    packages: dict[str, dict[str, Any]]
    jobs: dict[str, str]
    failed_jobs: dict[str, str]
    alerts: dict[str, int]
    repository_job: str
    repository_alert: int


def delivery(root: Path, title: str) -> Path:
    root.mkdir(parents=True)
    (root / "readme.txt").write_text(f"{title}\n", encoding="utf-8")
    (root / "sub").mkdir()
    (root / "sub" / "notes.txt").write_text(f"notes of {title}\n", encoding="utf-8")
    return root


def no_publish(job_id: str) -> None:
    """No worker runs in these tests: the job stays queued, as a person would see it."""


def seed(site: Site, tmp_path: Path) -> Objects:
    app = site.application
    packages = {
        "ours": site.ingest(delivery(tmp_path / "d-ours", "Harbour photographs"), "photos",
                            "--title", "Harbour photographs"),
        "theirs": site.ingest(delivery(tmp_path / "d-theirs", "Secret letters"), "letters",
                              "--title", "Secret letters"),
    }  # fmt: skip
    job_ids: dict[str, str] = {}
    failed: dict[str, str] = {}
    alert_ids: dict[str, int] = {}
    for org, package in packages.items():
        job_ids[org] = jobs.submit(
            app, "fixity", {"selection": {"package": package["id"]}},
            requested_by="cli-" + org, package_id=package["id"], publish=no_publish,
        ).id  # fmt: skip
        failed_job = jobs.submit(
            app, "export", {"package": package["id"]},
            requested_by="cli-" + org, package_id=package["id"], publish=no_publish,
        )  # fmt: skip
        jobs.cancel(app, failed_job.id)
        failed[org] = failed_job.id
        with app.uow() as uow:
            alert = alerts.record(
                uow, "fixity_failure", f"fixity failure in {package['title']}",
                "a copy did not match", severity="critical", package_id=package["id"],
            )  # fmt: skip
            assert alert is not None
            alert_ids[org] = alert.id
            uow.commit()
    repository_job = jobs.submit(app, "report", {}, requested_by="beat", publish=no_publish).id
    with app.uow() as uow:
        alert = alerts.record(uow, "backlog", "fixity backlog on default", severity="warning")
        assert alert is not None
        repository_alert = alert.id
        uow.commit()
    return Objects(packages, job_ids, failed, alert_ids, repository_job, repository_alert)
