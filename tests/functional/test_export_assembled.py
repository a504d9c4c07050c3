"""`preserve export` of a package no single copy holds whole (issue 10, point 7): the bag is
assembled from the good files of each copy, every file verified as it is read; a file with no
good copy anywhere is named in the refusal."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from preserve.bagit import validate_bag
from tests.functional.cli import Repo, two_location_package
from tests.s3server import corrupt_object


@pytest.fixture
def stored(tmp_path: Path, database_url: str, storage_url: str) -> tuple[Repo, dict[str, Any]]:
    repo = Repo(home=tmp_path / "home", database_url=database_url)
    package_id = two_location_package(repo, tmp_path / "delivery", storage_url)["package_id"]
    return repo, repo.json("show", package_id)


def _damage(show: dict[str, Any], location: str, path: str, mutate: Callable[[bytes], Any]) -> None:
    copy = next(c for c in show["copies"] if c["location"] == location)
    corrupt_object(copy["url"], copy["key_prefix"] + path, mutate)


def _flip(data: bytes) -> bytes:
    return data[:100] + bytes([data[100] ^ 0x01]) + data[101:]


def test_two_copies_damaged_in_different_files_still_export_whole(
    stored: tuple[Repo, dict[str, Any]], tmp_path: Path
) -> None:
    repo, show = stored
    package_id = show["summary"]["id"]
    _damage(show, "default", "data/a.bin", _flip)
    _damage(show, "second", "data/b.bin", lambda d: d[:10])
    delivery = tmp_path / "delivery"

    out = tmp_path / "bag"
    exported = repo.json("export", package_id, out)

    assert exported["location"] == "default and second"
    assert validate_bag(out).valid
    for name in ("a.bin", "b.bin", "note.txt"):
        assert (out / "data" / name).read_bytes() == (delivery / name).read_bytes()
    # both copies' damage found on the way is recorded, once each
    assert len(exported["damaged"]) == 2
    assert "copy on location default is damaged: data/a.bin" in exported["damaged"][0]
    assert "copy on location second is damaged: data/b.bin" in exported["damaged"][1]
    assert all(
        "exported from locations default and second instead" in d for d in exported["damaged"]
    )
    after = repo.json("show", package_id)
    assert {c["location"]: c["status"] for c in after["copies"]} == {
        "default": "failed",
        "second": "failed",
    }
    dissemination = [e for e in after["events"] if e["event_type"] == "dissemination"]
    assert len(dissemination) == 1
    assert dissemination[0]["detail"].endswith(f"to {out} from locations default and second")

    # no copy is verified any more: the next export assembles the bag again, recording nothing
    again = repo.json("export", package_id, tmp_path / "again.zip")
    assert again["location"] == "default and second" and again["damaged"] == []
    failures = [e for e in repo.json("show", package_id)["events"] if e["outcome"] == "failure"]
    assert len(failures) == 2


def test_a_file_with_no_good_copy_is_named_and_nothing_is_left(
    stored: tuple[Repo, dict[str, Any]], tmp_path: Path
) -> None:
    repo, show = stored
    package_id = show["summary"]["id"]
    _damage(show, "default", "data/a.bin", _flip)
    _damage(show, "second", "data/a.bin", lambda d: None)
    _damage(show, "second", "data/b.bin", _flip)  # b.bin is good on default
    out = tmp_path / "exports" / "bag"

    result = repo.run("export", package_id, out, ok=False)

    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.count("\n") == 1
    assert (
        "data/a.bin has no good copy on any location (damaged on default, damaged on second)"
        in result.stderr
    )
    assert "data/b.bin has no good copy" not in result.stderr  # good on default
    assert not (tmp_path / "exports").exists()

    # the same once fixity has marked both copies failed
    repo.run("fixity", "--package", package_id, ok=False)
    again = repo.run("export", package_id, out, ok=False)
    assert again.exit_code == 1
    assert "has no verified copy to export from (copies: default failed, second" in again.stderr
    assert "data/a.bin has no good copy on any location" in again.stderr
    assert not (tmp_path / "exports").exists()
