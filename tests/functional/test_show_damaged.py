"""A package whose only copy is damaged, through the real command line on SQLite and PostgreSQL
with real files: `preserve show` (text, --summary, --json) and `preserve packages list` say it is
damaged, first when fixity found every copy damaged (not repaired yet), then when a repair found
a file with no good copy anywhere (packages.damaged_at / damage)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.functional.cli import Repo


@pytest.fixture
def repo(tmp_path: Path, database_url: str) -> Repo:
    """One package in 'photos', stored on 'default' only; its id in extra_env["PACKAGE"]."""
    r = Repo(home=tmp_path / "home", database_url=database_url)
    r.run("init")
    r.run("collections", "add", "photos")
    delivery = tmp_path / "delivery"
    delivery.mkdir()
    (delivery / "a.bin").write_bytes(os.urandom(20_000))
    (delivery / "b.txt").write_text("bee\n")
    package = r.json("ingest", delivery, "--collection", "photos")["packages"][0]["package_id"]
    r.extra_env["PACKAGE"] = package
    return r


def _damage_the_only_copy(repo: Repo) -> None:
    [stored] = [p for p in repo.storage_root.rglob("data/a.bin") if p.is_file()]
    data = stored.read_bytes()
    stored.write_bytes(data[:100] + bytes([data[100] ^ 0x01]) + data[101:])


def _listed_status(repo: Repo) -> str:
    header, row = repo.run("packages", "list").stdout.splitlines()
    start = header.index("STATUS")
    return row[start : header.index("COLLECTION")].strip()


def test_a_healthy_package_is_not_damaged(repo: Repo) -> None:
    package = repo.extra_env["PACKAGE"]
    assert "DAMAGED" not in repo.run("show", package).stdout
    assert _listed_status(repo) == "stored"
    [listed] = repo.json("packages", "list")
    assert (listed["damaged_at"], listed["damage"]) == (None, [])


def test_show_and_list_say_the_package_is_damaged(repo: Repo) -> None:
    package = repo.extra_env["PACKAGE"]
    _damage_the_only_copy(repo)
    # found damaged by fixity, not repaired yet: every copy failed
    assert repo.run("fixity", "--package", package, ok=False).exit_code == 1
    shown = repo.run("show", package, "--summary").stdout.splitlines()
    assert shown[0].endswith("(version 1, stored, damaged)")
    assert any(
        line.startswith("DAMAGED") and "every copy of version 1 failed its fixity check" in line
        for line in shown
    )
    assert _listed_status(repo) == "stored, damaged"
    [listed] = repo.json("packages", "list")
    assert (listed["damaged_at"], listed["damaged_copies"], listed["copies"]) == (None, 1, 1)
    # a repair finds no good copy anywhere: the package is marked damaged
    assert repo.run("fixity", "--package", package, "--repair", ok=False).exit_code == 1
    text = repo.run("show", package).stdout.splitlines()
    assert text[0].endswith("(version 1, stored, damaged)")
    damaged = [line for line in text if line.startswith("DAMAGED")]
    assert len(damaged) == 1
    assert "data/a.bin (version 1) has no good copy anywhere" in damaged[0]
    files = text[text.index("files:") + 1 :]
    [marked] = [line for line in files if line.startswith("  ! data/a.bin")]
    assert "no good copy anywhere" in marked
    summary = repo.run("show", package, "--summary").stdout
    assert "1 file with problems" in summary and "no files with problems" not in summary
    detail = repo.json("show", package)
    assert detail["summary"]["damaged_at"] is not None
    assert [(d["version"], d["path"]) for d in detail["summary"]["damage"]] == [(1, "data/a.bin")]
    [a_bin] = [f for f in detail["files"] if f["path"] == "data/a.bin"]
    assert a_bin["problems"][0].startswith("DAMAGED, no good copy anywhere")
    assert _listed_status(repo) == "stored, damaged"
    [listed] = repo.json("packages", "list")
    assert listed["damaged_at"] is not None
    assert [d["path"] for d in listed["damage"]] == ["data/a.bin"]
