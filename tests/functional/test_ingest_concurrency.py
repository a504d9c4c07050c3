"""Several ``preserve ingest`` at once, as scripts and colleagues start them: the same content
is stored once (the others report it as a duplicate), different content is all stored, on SQLite
and PostgreSQL, and nothing is left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.functional.cli import Repo

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo(tmp_path: Path, database_url: str) -> Repo:
    r = Repo(home=tmp_path / "home", database_url=database_url)
    r.run("init")
    r.run("collections", "add", "photos")
    r.run("collections", "add", "films")
    return r


def _delivery(folder: Path, seed: int, files: int = 40) -> Path:
    """A delivery with some bulk, so concurrent ingests overlap for a while."""
    for i in range(files):
        sub = folder / f"part{i % 3}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i}.txt").write_text(f"delivery {seed} file {i}\n" * (50 + i))
    (folder / "large.bin").write_bytes(seed.to_bytes(4, "big") * (600_000 + seed))
    return folder


def _start(repo: Repo, *args: str | Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "preserve.cli", *map(str, args), "--json"],
        env={**os.environ, **repo.env},
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(procs: list[subprocess.Popen[str]]) -> list[dict]:  # type: ignore[type-arg]
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert "Traceback" not in err, err
        outcomes.append(json.loads(out))
    return outcomes


def _assert_consistent(repo: Repo) -> None:
    packages = repo.packages()
    assert all(p["status"] == "stored" for p in packages), packages
    stored = {key.split("/")[2] for key in repo.stored_keys()}
    assert stored == {p["id"] for p in packages}, "objects of a package that is not catalogued"
    assert repo.staging_entries() == []
    assert repo.json("fixity", "--all")["ok"] is True
    tmp = repo.storage_root / ".preserve-tmp"
    assert [p for p in tmp.rglob("*") if p.is_file()] == [] if tmp.exists() else True


def test_the_same_content_ingested_at_once_is_stored_once(repo: Repo, tmp_path: Path) -> None:
    copies = [_delivery(tmp_path / f"copy{n}" / "reel", seed=1) for n in range(4)]

    outcomes = _finish([_start(repo, "ingest", c, "--collection", "photos") for c in copies])

    results = [o["packages"][0] for o in outcomes]
    stored = [r for r in results if r["status"] == "stored"]
    duplicates = [r for r in results if r["status"] == "duplicate"]
    assert len(stored) == 1, results
    assert len(duplicates) == 3
    assert {d["duplicate_of"] for d in duplicates} == {stored[0]["package_id"]}
    assert len(repo.packages()) == 1
    _assert_consistent(repo)


def test_same_and_different_content_at_once_in_two_collections(repo: Repo, tmp_path: Path) -> None:
    jobs = [
        ("photos", _delivery(tmp_path / "a1" / "d", seed=1)),
        ("photos", _delivery(tmp_path / "a2" / "d", seed=1)),
        ("photos", _delivery(tmp_path / "b" / "d", seed=2)),
        ("films", _delivery(tmp_path / "a3" / "d", seed=1)),  # same content, other collection
        ("films", _delivery(tmp_path / "c" / "d", seed=3)),
    ]

    outcomes = _finish([_start(repo, "ingest", d, "--collection", c) for c, d in jobs])

    statuses = [o["packages"][0]["status"] for o in outcomes]
    assert sorted(statuses[:2]) == ["duplicate", "stored"]
    assert statuses[2:] == ["stored", "stored", "stored"]
    by_collection: dict[str, int] = {}
    for p in repo.packages():
        by_collection[p["collection"]] = by_collection.get(p["collection"], 0) + 1
    assert by_collection == {"photos": 2, "films": 2}
    _assert_consistent(repo)


def test_a_duplicate_waits_for_the_ingest_under_way_then_reports_it(
    repo: Repo, tmp_path: Path
) -> None:
    """The second ingest meets the first one's ``ingesting`` row: it waits, says so once, and
    reports the first package when it is stored (never a package of its own)."""
    first_copy = _delivery(tmp_path / "one" / "d", seed=5, files=300)
    second_copy = _delivery(tmp_path / "two" / "d", seed=5, files=300)
    first = _start(repo, "ingest", first_copy, "--collection", "photos")
    # start the second once the first holds the content (its row is ingesting)
    import sqlalchemy as sa

    engine = sa.create_engine(repo.database_url)
    try:
        for _ in range(600):
            with engine.connect() as conn:
                if conn.execute(sa.text("SELECT count(*) FROM packages")).scalar():
                    break
            if first.poll() is not None:
                break
            import time

            time.sleep(0.05)
    finally:
        engine.dispose()
    second = _start(repo, "ingest", second_copy, "--collection", "photos")
    out1, err1 = first.communicate(timeout=300)
    out2, err2 = second.communicate(timeout=300)
    assert first.returncode == 0 and second.returncode == 0, (err1, err2)
    one, two = json.loads(out1)["packages"][0], json.loads(out2)["packages"][0]
    assert one["status"] == "stored"
    assert two["status"] == "duplicate" and two["duplicate_of"] == one["package_id"]
    if "waiting" in err2:  # when the first was still ingesting as the second looked
        assert err2.count("is being ingested") == 1, err2
    _assert_consistent(repo)


def test_a_claim_lost_between_the_look_and_the_insert_is_a_duplicate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other ingest commits between our duplicate look-up and our insert: the unique index
    refuses the insert, and the ingest looks again and reports the original (a new user's trial
    hit an internal error here, 2 rounds in 12)."""
    from preserve.catalogue.repositories import PackageRepository

    repo = Repo(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'c.sqlite3'}")
    repo.run("init")
    repo.run("collections", "add", "photos")
    first = _delivery(tmp_path / "one" / "d", seed=9, files=3)
    stored = repo.json("ingest", first, "--collection", "photos")["packages"][0]
    real = PackageRepository.find_live_by_fingerprint
    looks: list[str] = []

    def miss_once(self: PackageRepository, collection_id: int, fingerprint: str) -> object:
        looks.append(fingerprint)
        return None if len(looks) == 1 else real(self, collection_id, fingerprint)

    monkeypatch.setattr(PackageRepository, "find_live_by_fingerprint", miss_once)
    second = _delivery(tmp_path / "two" / "d", seed=9, files=3)
    result = repo.json("ingest", second, "--collection", "photos")["packages"][0]
    assert len(looks) == 2
    assert result["status"] == "duplicate" and result["duplicate_of"] == stored["package_id"]
    assert len(repo.packages()) == 1
    assert repo.staging_entries() == []
