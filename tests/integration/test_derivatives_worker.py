"""Derivatives made by a real ``preserve worker``: an ingest job that stores images queues a
``derive`` job, which the worker runs (thumbnails and previews of PNG, JPEG and TIFF, recorded
in the catalogue); and a large TIFF master (8000 x 8000 pixels, 183 MiB of pixels) is made into
a thumbnail without being read whole: the process's peak memory stays well under its size."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import pyvips

from tests.functional.cli import Repo
from tests.web.package_support import image_folder
from tests.workers.conftest import (  # noqa: F401 -- fixtures
    Workers,
    broker,
    catalogue_rows,
    job,
    wait_until,
    worker_repo,
    workers,
)

pytestmark = pytest.mark.slow


def test_a_worker_makes_the_derivatives_after_an_ingest(
    worker_repo: Repo,  # noqa: F811 -- the fixture imported above
    workers: Workers,  # noqa: F811
    tmp_path: Path,
) -> None:
    delivery = image_folder(tmp_path, html=False)
    job_id = str(
        worker_repo.json("ingest", delivery, "--collection", "photos", "--async")["job_id"]
    )
    workers.start()
    worker_repo.run("jobs", "wait", job_id, "--timeout", "120")
    (package,) = worker_repo.packages()

    def derive_done() -> list[tuple[object, ...]]:
        rows = catalogue_rows(
            worker_repo,
            "SELECT id, state FROM jobs WHERE kind = 'derive' AND package_id = ?",
            package["id"],
        )
        return [r for r in rows if r[1] in ("succeeded", "failed")]

    ((derive_id, state),) = wait_until(derive_done, "the derive job")
    assert state == "succeeded", job(worker_repo, str(derive_id))
    result = job(worker_repo, str(derive_id))["result"]
    assert (result["images"], result["made"], result["failed"]) == (3, 3, 0)
    rows = catalogue_rows(
        worker_repo,
        "SELECT kind, path, width, height, error FROM derivatives WHERE package_id = ?",
        package["id"],
    )
    assert sorted(r[0] for r in rows) == ["preview"] * 3 + ["thumbnail"] * 3
    assert all(r[1] and r[4] is None for r in rows)
    home = worker_repo.home
    for _kind, path, width, height, _error in rows:
        made = pyvips.Image.new_from_file(str(home / "derivatives" / str(path)))
        assert (made.width, made.height) == (width, height)


#: The derivatives made in a process of their own; its peak memory is VmHWM (ru_maxrss would
#: count the parent's peak too: Linux carries it across exec).
_MEASURE = """
import json, re, sys
from pathlib import Path
from preserve.bootstrap import bootstrap
from preserve.services.derivatives import make_derivatives
report = make_derivatives(bootstrap(), sys.argv[1])
status = Path("/proc/self/status").read_text()
peak = int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) * 1024
print(json.dumps({"made": report.made, "failed": report.failed, "peak": peak}))
"""


def test_a_large_tiff_master_is_made_small_without_being_read_whole(
    tmp_path: Path,
) -> None:
    repo = Repo(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'c.sqlite3'}")
    repo.run("init")
    repo.run("collections", "add", "photos")
    delivery = tmp_path / "master"
    delivery.mkdir()
    side = 8000
    # a gradient, so the TIFF is not all one colour; uncompressed RGB, in strips
    gradient = pyvips.Image.xyz(side, side)[0].linear(255 / side, 0).cast("uchar")
    image = gradient.bandjoin([gradient, gradient])
    image.tiffsave(str(delivery / "master.tif"), compression="none")
    pixel_bytes = side * side * 3
    assert (delivery / "master.tif").stat().st_size >= pixel_bytes
    repo.run("ingest", delivery, "--collection", "photos")
    (package,) = repo.packages()
    measured = subprocess.run(
        [sys.executable, "-c", _MEASURE, package["id"]],
        env={**repo.env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(measured.stdout.strip().splitlines()[-1])
    assert (found["made"], found["failed"]) == (1, 0)
    # decoding the master whole would take at least its 183 MiB of pixels
    assert found["peak"] < pixel_bytes, found
    print(f"peak RSS {found['peak'] / 2**20:.0f} MiB for a {pixel_bytes / 2**20:.0f} MiB master")
