"""An S3 location that is down fails an ingest fast and leaves nothing behind that recovery does
not account for; while it stays down, ingests into other collections are not slowed by it.

Two outages: an endpoint that refuses connections, and one that accepts them and never answers
(a frozen server or a black-holing firewall). The bound stated in the README: an ingest fails
within ``retries × backoff`` (refused) or ``2 × (connect_timeout + read_timeout)`` (frozen) of
the first request, however many files it has, because the location counts as unreachable after
the first request that failed. The time bounds below are generous limits against minutes-long
regressions, not benchmarks.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.functional.cli import Repo

pytestmark = pytest.mark.s3

AWS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")


@pytest.fixture
def frozen_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:<port>`` of a server that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(256)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(conn)  # held open, never read from or answered

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        server.close()


def refused_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there any more


@pytest.fixture
def repo(tmp_path: Path, s3_bucket_url: str) -> Repo:
    r = Repo(
        home=tmp_path / "home",
        database_url=f"sqlite:///{tmp_path / 'catalogue.sqlite3'}",
        # the default retries (5) and backoff, as an operator has them
        extra_env={
            **{k: os.environ[k] for k in AWS if k in os.environ},
            "PRESERVE_STORAGE_RETRIES": "5",
            "PRESERVE_STORAGE_BACKOFF": "0.5",
        },
    )
    r.run("init")
    r.run("locations", "add", "offsite", s3_bucket_url)
    r.run("collections", "add", "both", "--location", "default", "--location", "offsite")
    r.run("collections", "add", "local-only", "--location", "default")
    return r


def _retarget(repo: Repo, endpoint: str, **query: str) -> None:
    """The offsite location goes down behind preserve's back."""
    engine = sa.create_engine(repo.database_url)
    try:
        with engine.begin() as conn:
            url = conn.execute(
                sa.text("SELECT url FROM storage_locations WHERE name = 'offsite'")
            ).scalar_one()
            base = url.split("endpoint_url=")[0]
            extra = "".join(f"&{k}={v}" for k, v in query.items())
            conn.execute(
                sa.text("UPDATE storage_locations SET url = :u WHERE name = 'offsite'"),
                {"u": f"{base}endpoint_url={endpoint}&addressing_style=path{extra}"},
            )
    finally:
        engine.dispose()


def _delivery(folder: Path, files: int) -> Path:
    folder.mkdir(parents=True)
    for i in range(files):
        (folder / f"f{i:04d}.txt").write_text(f"file {i}\n" * 20)
    return folder


def _ingest_fails_fast(repo: Repo, delivery: Path, limit: float, *needles: str) -> float:
    before = {p["id"] for p in repo.packages()}
    keys_before = repo.stored_keys()
    started = time.monotonic()
    result = repo.run("ingest", delivery, "--collection", "both", ok=False)
    took = time.monotonic() - started
    assert result.exit_code != 0, result.stdout
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr
    assert took < limit, f"the ingest took {took:.1f} s to fail (limit {limit} s)"
    # nothing is stored and nothing is left on the local location; the package whose objects
    # may have reached the location is kept, failed, for recovery
    assert [p["status"] for p in repo.packages() if p["id"] not in before] in ([], ["failed"])
    assert repo.stored_keys() == keys_before
    assert repo.staging_entries() == []
    return took


def test_a_location_that_refuses_connections_fails_a_large_delivery_in_seconds(
    repo: Repo, tmp_path: Path
) -> None:
    endpoint = refused_endpoint()
    _retarget(repo, endpoint)
    delivery = _delivery(tmp_path / "many", files=300)

    # 5 attempts with 0.5 s backoff per request, once: before, about 6 s per file
    _ingest_fails_fast(repo, delivery, 30, endpoint.split("//")[1], "cannot reach")


def test_a_location_that_never_answers_fails_within_its_time_outs(
    repo: Repo, tmp_path: Path, frozen_endpoint: str
) -> None:
    _retarget(repo, frozen_endpoint, connect_timeout="1", read_timeout="2")
    delivery = _delivery(tmp_path / "many", files=100)

    # 2 × (1 + 2) s and a backoff; before: read_timeout × retries per file, one after another
    _ingest_fails_fast(repo, delivery, 30, frozen_endpoint.split("//")[1])


def test_a_down_location_does_not_slow_ingests_elsewhere_and_is_cleaned_later(
    repo: Repo, tmp_path: Path, s3_bucket_url: str, frozen_endpoint: str
) -> None:
    """Recovery contacts a location that just failed only after a pause: unrelated ingests
    meanwhile do not wait for its time-outs. Once it answers, recovery removes what the
    failed ingest left on it."""
    (tmp_path / "first").mkdir()
    (tmp_path / "first" / "a.txt").write_text("a")
    # the location answers the first writes, then freezes: objects reach it before the failure
    repo.run("ingest", tmp_path / "first", "--collection", "both")
    _retarget(repo, frozen_endpoint, connect_timeout="1", read_timeout="2")
    _ingest_fails_fast(repo, _delivery(tmp_path / "second", files=20), 30)
    failed = [p for p in repo.packages() if p["status"] == "failed"]
    assert failed
    shown = repo.run("show", failed[0]["id"]).stdout
    assert "failed" in shown and "never stored" in shown

    for n in range(3):
        other = tmp_path / f"other{n}"
        other.mkdir()
        (other / "b.txt").write_text(f"b{n}")
        started = time.monotonic()
        repo.run("ingest", other, "--collection", "local-only")
        # a frozen location would cost 2 × 3 s per attempt to clean; recovery waits instead
        assert time.monotonic() - started < 5

    # the location is back: once the pause is over, recovery cleans what was left
    engine = sa.create_engine(repo.database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE storage_locations SET url = :u WHERE name = 'offsite'"),
                {"u": s3_bucket_url},
            )
            conn.execute(sa.text("UPDATE storage_locations SET unreachable_at = NULL"))
    finally:
        engine.dispose()
    (tmp_path / "later").mkdir()
    (tmp_path / "later" / "c.txt").write_text("c")
    result = repo.json("ingest", tmp_path / "later", "--collection", "both")
    assert sorted(result["recovered"]) == sorted(p["id"] for p in failed)
    assert all(p["status"] == "stored" for p in repo.packages())
    assert repo.json("fixity", "--all")["ok"] is True
