"""preserve collections edit --add-location, locations sync and locations retire through the
real command line, on SQLite and PostgreSQL, with real files: adding a location queues the
replication of what the collection holds; sync reports (--dry-run), queues (--async) or does
it in the foreground; retire replicates what is missing first, refuses when it cannot, and
never deletes a byte."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.functional.cli import Repo
from tests.s3server import corrupt_object


@pytest.fixture
def repo(tmp_path: Path, database_url: str) -> Repo:
    """Collection 'photos' on 'default' with one package of two versions; location 'second'
    registered, not used yet."""
    r = Repo(home=tmp_path / "home", database_url=database_url)
    r.run("init")
    r.run("locations", "add", "second", (tmp_path / "second").as_uri())
    r.run("collections", "add", "photos")
    delivery = tmp_path / "delivery"
    delivery.mkdir()
    (delivery / "a.bin").write_bytes(os.urandom(120_000))
    (delivery / "b.txt").write_text("bee\n")
    package = r.json("ingest", delivery, "--collection", "photos")["packages"][0]["package_id"]
    (delivery / "c.txt").write_text("sea\n")
    r.run("ingest", delivery, "--new-version-of", package)
    r.extra_env["PACKAGE"] = package
    return r


def _replicate_jobs(repo: Repo) -> list[dict[str, Any]]:
    return [j for j in repo.json("jobs", "list") if j["kind"] == "replicate"]


def test_add_location_queues_and_sync_replicates(repo: Repo, tmp_path: Path) -> None:
    package = repo.extra_env["PACKAGE"]
    assert repo.run("locations", "sync", "--dry-run").stdout.splitlines() == [
        "no shortfalls: every package version has a verified copy where required"
    ]
    edited = repo.run("collections", "edit", "photos", "--add-location", "second")
    assert edited.stdout.splitlines()[1:] == [
        "new ingests into photos are stored on default, second",
        "2 package versions queued for replication to second; `preserve locations sync` does "
        "it in the foreground",
    ]
    queued = _replicate_jobs(repo)
    assert sorted(j["payload"]["version"] for j in queued) == [1, 2]
    assert {j["state"] for j in queued} == {"queued"}
    dry = repo.run("locations", "sync", "--dry-run", ok=False)
    assert dry.exit_code == 1
    lines = dry.stdout.splitlines()
    assert lines[0].startswith(f"{package} v1  default/photos  on second: no copy")
    assert lines[1].startswith(f"{package} v2  default/photos  on second: no copy")
    assert lines[2].startswith("2 package versions to replicate")
    shortfalls = repo.json("locations", "sync", "--dry-run", ok=False)["shortfalls"]
    assert [(s["version"], s["location"], s["status"]) for s in shortfalls] == [
        (1, "second", "none"),
        (2, "second", "none"),
    ]
    # --async: the jobs queued already are the ones (no second set)
    again = repo.json("locations", "sync", "--async")
    assert sorted(again["job_ids"]) == sorted(j["id"] for j in queued)
    assert len(_replicate_jobs(repo)) == 2
    # in the foreground
    done = repo.json("locations", "sync")
    assert done["ok"] is True and done["failed"] == []
    assert [(r["version"], r["location"], r["sources"]) for r in done["replicated"]] == [
        (1, "second", ["default"]),
        (2, "second", ["default"]),
    ]
    second = tmp_path / "second"
    keys = sorted(p.relative_to(second).as_posix() for p in second.rglob("*") if p.is_file())
    assert any(k.endswith("/v1/data/a.bin") for k in keys)
    assert not any(k.endswith("/v2/data/a.bin") for k in keys)  # v2 names it in fetch.txt
    assert any(k.endswith("/v2/fetch.txt") for k in keys)
    assert repo.run("locations", "sync").stdout.splitlines() == [
        "no shortfalls: every package version has a verified copy where required"
    ]
    fixity = repo.json("fixity", "--all")
    assert fixity["ok"] is True
    assert sorted((c["location"], c["version"]) for c in fixity["copies"]) == [
        ("default", 1),
        ("default", 2),
        ("second", 1),
        ("second", 2),
    ]
    events = repo.json("show", package)["events"]
    replications = [
        e for e in events if e["event_type"] == "replication" and "second" in e["detail"]
    ]
    assert len(replications) == 2


def test_sync_in_the_foreground_prints_what_it_did(repo: Repo) -> None:
    package = repo.extra_env["PACKAGE"]
    repo.run("collections", "edit", "photos", "--add-location", "second")
    out = repo.run("locations", "sync", "--collection", "photos").stdout.splitlines()
    assert out[0].startswith(f"{package} v1 replicated to second from default: ")
    assert out[0].endswith(", verified")
    assert out[-1] == "2 package versions replicated"


def test_retire(repo: Repo, tmp_path: Path) -> None:
    repo.run("collections", "edit", "photos", "--add-location", "second")
    retired = repo.run("locations", "retire", "default")
    assert retired.stdout.startswith("location default retired at ")
    assert "2 package versions replicated elsewhere first; 2 copies kept on it" in retired.stdout
    assert "replicated to second" in retired.stderr  # each replication, as it is done
    listed = repo.run("locations", "list").stdout.splitlines()
    assert [line.split()[0:5:4] for line in listed[1:]] == [
        ["default", "retired"],
        ["second", "-"],
    ]
    [default] = [x for x in repo.json("locations", "list") if x["name"] == "default"]
    assert default["retired_at"] is not None
    assert any(p.is_file() for p in repo.storage_root.rglob("*"))  # no byte deleted
    assert repo.json("collections", "list")[0]["locations"] == ["second"]


def test_fixity_leaves_a_retired_location_out_unless_named(repo: Repo) -> None:
    package = repo.extra_env["PACKAGE"]
    repo.run("collections", "edit", "photos", "--add-location", "second")
    repo.run("locations", "retire", "default")
    for scope in (("--all",), ("--collection", "photos"), ("--package", package)):
        checked = repo.json("fixity", *scope)
        assert checked["ok"] is True
        assert sorted((c["location"], c["version"]) for c in checked["copies"]) == [
            ("second", 1),
            ("second", 2),
        ], scope
    named = repo.json("fixity", "--all", "--location", "default")
    assert sorted((c["location"], c["version"]) for c in named["copies"]) == [
        ("default", 1),
        ("default", 2),
    ]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ("locations", "retire", "secnd"),
            3,
            "error: no storage location 'secnd'; did you mean 'second'?",
        ),
        (
            ("locations", "retire", "default"),
            2,
            "error: location 'default' is the only location of collection default/photos: "
            "add another first (preserve collections edit photos --add-location OTHER), then "
            "retire default",
        ),
        (
            ("locations", "sync", "--dry-run", "--async"),
            2,
            "error: --dry-run and --async contradict each other: give one",
        ),
        (
            ("locations", "sync", "--collection", "foto"),
            3,
            "error: no collection 'foto' in organisation 'default'; did you mean 'photos'?",
        ),
        (
            ("locations", "sync", "--location", "secnd"),
            3,
            "error: no storage location 'secnd'; did you mean 'second'?",
        ),
    ],
)
def test_bad_input(repo: Repo, args: tuple[str, ...], code: int, message: str) -> None:
    before = repo.json("locations", "list")
    result = repo.run(*args, ok=False)
    assert (result.exit_code, result.stderr) == (code, message + "\n")
    assert repo.json("locations", "list") == before
    assert _replicate_jobs(repo) == []


def test_retiring_twice_and_adding_a_retired_location(repo: Repo) -> None:
    repo.run("collections", "edit", "photos", "--add-location", "second")
    repo.run("locations", "retire", "default")
    twice = repo.run("locations", "retire", "default", ok=False)
    assert twice.exit_code == 2
    assert twice.stderr.startswith("error: location 'default' is retired already (since ")
    back = repo.run("collections", "edit", "photos", "--add-location", "default", ok=False)
    assert back.exit_code == 2
    assert back.stderr.startswith("error: location 'default' is retired (since ")
    assert "nothing new is stored there" in back.stderr
    new = repo.run("collections", "add", "films", "--location", "default", ok=False)
    assert new.exit_code == 2 and new.stderr.startswith("error: location 'default' is retired")
    assert [c["slug"] for c in repo.json("collections", "list")] == ["photos"]
    replicated = repo.run("locations", "sync", "--location", "default", ok=False)
    assert replicated.exit_code == 2
    assert replicated.stderr == (
        "error: location 'default' is retired: nothing is required there\n"
    )


def test_retire_refuses_when_a_copy_cannot_be_made(repo: Repo) -> None:
    """Version 1's only copy has a damaged file: it cannot be replicated to 'second', so
    'default' is not retired, and the command says what is missing."""
    package = repo.extra_env["PACKAGE"]
    repo.run("collections", "edit", "photos", "--add-location", "second")
    [key] = [
        p.relative_to(repo.storage_root).as_posix()
        for p in repo.storage_root.rglob("b.txt")
        if "/v1/data/" in p.as_posix()
    ]
    corrupt_object(repo.storage_root.as_uri(), key, lambda data: b"wasp\n")
    refused = repo.run("locations", "retire", "default", ok=False)
    assert refused.exit_code == 1
    # version 2 was replicated (said as it was done); the refusal names what is missing
    said = refused.stderr.splitlines()
    assert said[0].startswith(f"{package} v2 replicated to second from default: ")
    assert len(said) == 2 and said[1].startswith(
        "error: location 'default' not retired: 1 package version lacks its required copies"
    )
    assert f"{package} v1 to second" in said[1] and "data/b.txt" in said[1]
    [default] = [x for x in repo.json("locations", "list") if x["name"] == "default"]
    assert default["retired_at"] is None
    assert repo.json("collections", "list")[0]["locations"] == ["default", "second"]
