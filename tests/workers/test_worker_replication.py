"""Replication run by real workers: a worker killed with SIGKILL mid-replication (its process
group: main process, pool, beat), then a new worker: the replicate job finishes exactly once,
with one verified copy and one PREMIS replication event, on every broker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.functional.cli import Repo
from tests.workers.conftest import Workers, catalogue_rows, job, wait_until

pytestmark = pytest.mark.slow


def _payload_objects(root: Path) -> list[str]:
    """The payload objects in place on a filesystem location, relative to its root.

    ``os.walk`` rather than ``Path.rglob``: the worker removes its emptied ``.preserve-tmp``
    folders while we look, and ``rglob`` raises ``FileNotFoundError`` for a folder that vanishes
    under it (a CI run failed so); ``os.walk`` skips it. Folders under ``.preserve-tmp`` hold
    writes not yet renamed into place, so they are not walked."""
    found = []
    for folder, subfolders, files in os.walk(root):
        if folder == str(root):
            subfolders[:] = [d for d in subfolders if d != ".preserve-tmp"]
        relative = Path(folder).relative_to(root)
        if "data" in relative.parts:
            found.extend((relative / name).as_posix() for name in files)
    return found


def test_a_worker_killed_mid_replication_leaves_a_job_a_new_worker_finishes_once(
    worker_repo: Repo, workers: Workers, tmp_path: Path
) -> None:
    delivery = tmp_path / "box"
    delivery.mkdir()
    for i in range(300):
        (delivery / f"f{i:03d}.bin").write_bytes(os.urandom(200_000))
    worker_repo.run("ingest", delivery, "--collection", "photos")  # in the foreground
    (package,) = worker_repo.packages()
    second = tmp_path / "second"
    worker_repo.run("locations", "add", "second", second.as_uri())
    worker_repo.run("collections", "edit", "photos", "--add-location", "second")
    (queued,) = worker_repo.json("jobs", "list")
    assert (queued["kind"], queued["state"]) == ("replicate", "queued")
    job_id = queued["id"]

    first = workers.start()
    # mid-replication: the first payload objects are on the new location
    wait_until(
        lambda: bool(_payload_objects(second)),
        "the first replicated object",
        worker=first,
    )
    first.kill()
    at_kill = job(worker_repo, job_id)
    assert at_kill["state"] == "running", at_kill

    workers.start()
    done = wait_until(
        lambda: (j := job(worker_repo, job_id))["state"] in ("succeeded", "failed") and j,
        "the replicate job to end",
    )
    assert done["state"] == "succeeded" and done["attempts"] == 2, done
    copies = catalogue_rows(
        worker_repo,
        "SELECT l.name, c.status FROM copies c JOIN storage_locations l ON l.id = c.location_id "
        "ORDER BY l.name",
    )
    assert copies == [("default", "verified"), ("second", "verified")]
    events = catalogue_rows(
        worker_repo,
        "SELECT count(*) FROM events WHERE package_id = ? AND event_type = 'replication' "
        "AND file_id IS NULL",
        package["id"],
    )
    # one replication event at ingest (the copy on default), one for the copy on second
    assert events == [(2,)]
    payload = _payload_objects(second)
    assert len(payload) == 300, sorted(payload)[:5]
    fixity = worker_repo.run("fixity", "--package", package["id"])
    assert "2 copies ok" in fixity.stdout, fixity.stdout
