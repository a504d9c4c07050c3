"""A disposal executed by a real worker (``preserve worker`` on each broker, as in
tests/workers): ``preserve disposal execute --async`` queues a ``dispose`` job, the worker runs
it, the package's objects move to the restore bin and the declaration is made."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from preserve.config.settings import Settings

from preserve.bootstrap import bootstrap
from tests.agreement_setup import add_people, make_active, spec
from tests.functional.cli import Repo
from tests.integration.disposal_world import DESTROY, PARTIES, make_due
from tests.workers.conftest import (  # noqa: F401 (the broker fixture)
    Broker,
    Workers,
    broker,
    broker_env,
    job,
    wait_until,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def repo(tmp_path: Path, broker: Broker) -> Iterator[Repo]:  # noqa: F811
    r = Repo(
        home=tmp_path / "home",
        database_url=f"sqlite:///{tmp_path / 'catalogue.sqlite3'}",
        extra_env=broker_env(broker),
    )
    r.run("init")
    app = bootstrap(Settings.from_env(r.env))
    add_people(app)
    r.run("collections", "add", "photos", "--organisation", "museum")
    make_active(app, spec(parties=PARTIES, retention=DESTROY))
    delivery = tmp_path / "harbour"
    delivery.mkdir()
    (delivery / "note.txt").write_text("a note\n", encoding="utf-8")
    r.run("ingest", delivery, "--collection", "photos", "--organisation", "museum")
    make_due(app)
    app.close()
    yield r


def test_a_worker_executes_the_disposal(
    repo: Repo,
    broker: Broker,  # noqa: F811
    tmp_path: Path,
) -> None:
    r = repo
    [package] = r.packages()
    r.run("disposal", "propose", "--due", "--as", "cas")
    r.run("disposal", "approve", "1", "--party", "museum", "--as", "mia")
    r.run("disposal", "approve", "1", "--party", "archive", "--as", "root")
    queued = r.json("disposal", "execute", "1", "--async", "--as", "cas")
    job_id = queued["job_id"]
    assert job(r, job_id)["kind"] == "dispose"
    workers = Workers(r, broker, tmp_path)
    try:
        worker = workers.start()
        done = wait_until(
            lambda: (j := job(r, job_id))["state"] in ("succeeded", "failed") and j,
            "the dispose job to end",
            worker=worker,
        )
    finally:
        workers.stop_all()
    assert done["state"] == "succeeded", done
    assert done["result"]["disposed"] == 1 and done["result"]["state"] == "executed"
    shown = r.json("disposal", "show", "1")
    assert shown["state"] == "executed" and shown["executed_by"] == "cas"
    assert shown["declaration_sha256"] == done["result"]["declaration_sha256"]
    keys = [k for k in r.stored_keys() if f"/{package['id']}/" in k]
    assert keys and all(k.startswith("disposed/") for k in keys)
