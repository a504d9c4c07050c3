"""`preserve fixity ... --repair` (issue 10, point 7): in the foreground, damage found is
quarantined, repaired from a good copy and re-verified, and the command exits 0 only when
everything found was repaired."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from preserve.storage import open_location
from tests.functional.cli import Repo, two_location_package
from tests.s3server import corrupt_object


@pytest.fixture
def stored(tmp_path: Path, database_url: str, storage_url: str) -> tuple[Repo, dict[str, Any]]:
    """A package on the default local location and on 'second' (local or S3)."""
    repo = Repo(home=tmp_path / "home", database_url=database_url)
    package_id = two_location_package(repo, tmp_path / "delivery", storage_url)["package_id"]
    return repo, repo.json("show", package_id)


def _copy(show: dict[str, Any], location: str) -> dict[str, Any]:
    return next(c for c in show["copies"] if c["location"] == location)


def _damage(
    show: dict[str, Any], location: str, path: str, mutate: Callable[[bytes], bytes | None]
) -> None:
    copy = _copy(show, location)
    corrupt_object(copy["url"], copy["key_prefix"] + path, mutate)


def _flip(data: bytes) -> bytes:
    return data[:100] + bytes([data[100] ^ 0x01]) + data[101:]


def _types(show: dict[str, Any], since: int) -> list[tuple[str, str]]:
    return [(e["event_type"], e["outcome"]) for e in show["events"][since:]]


def test_repair_exits_0_when_everything_found_was_repaired(
    stored: tuple[Repo, dict[str, Any]], tmp_path: Path
) -> None:
    repo, show = stored
    package_id = show["summary"]["id"]
    _damage(show, "second", "data/a.bin", _flip)
    _damage(show, "default", "data/b.bin", lambda d: None)
    before = len(show["events"])

    result = repo.run("fixity", "--package", package_id, "--repair")

    assert result.exit_code == 0 and "Traceback" not in result.output
    assert "data/a.bin" in result.output and "data/b.bin" in result.output
    after = repo.json("show", package_id)
    assert {c["location"]: c["status"] for c in after["copies"]} == {
        "default": "verified",
        "second": "verified",
    }
    story = _types(after, before)
    assert story.count(("quarantine", "success")) == 2
    assert story.count(("recovery", "success")) == 2
    assert story[-1] == ("fixity check", "success")
    delivery = tmp_path / "delivery"
    for location in ("default", "second"):  # both copies hold the original bytes again
        copy = _copy(after, location)
        storage = open_location(copy["url"], retries=2, backoff=0.01)
        for name in ("a.bin", "b.bin"):
            with storage.open(copy["key_prefix"] + "data/" + name) as f:
                assert f.read() == (delivery / name).read_bytes()
    # checked again: nothing to repair, still exit 0
    assert repo.run("fixity", "--package", package_id, "--repair").exit_code == 0
    assert repo.run("fixity", "--package", package_id).exit_code == 0


def test_repair_exits_non_zero_and_names_the_file_when_no_good_copy_exists(
    stored: tuple[Repo, dict[str, Any]], tmp_path: Path
) -> None:
    repo, show = stored
    package_id = show["summary"]["id"]
    _damage(show, "default", "data/a.bin", _flip)
    _damage(show, "second", "data/a.bin", lambda d: d[:1000])
    _damage(show, "second", "data/b.bin", _flip)  # repairable from default

    result = repo.run("fixity", "--package", package_id, "--repair", ok=False)

    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "data/a.bin" in result.output
    after = repo.json("show", package_id)
    second = _copy(after, "second")
    assert second["status"] == "quarantined"
    # b.bin was repaired all the same, from the default location
    storage = open_location(second["url"], retries=2, backoff=0.01)
    with storage.open(second["key_prefix"] + "data/b.bin") as f:
        assert f.read() == (tmp_path / "delivery" / "b.bin").read_bytes()
    # the package is marked damaged, and export refuses naming the file
    refused = repo.run("export", package_id, tmp_path / "out", ok=False)
    assert refused.exit_code == 1
    assert "data/a.bin has no good copy on any location" in refused.stderr
    assert not (tmp_path / "out").exists()


def test_repair_without_a_selection_is_refused(repo: Repo) -> None:
    result = repo.run("fixity", "--repair", ok=False)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.stderr.startswith("error: ")


def test_repair_with_json_prints_one_document_saying_whether_all_is_whole(
    stored: tuple[Repo, dict[str, Any]],
) -> None:
    repo, show = stored
    package_id = show["summary"]["id"]
    _damage(show, "second", "data/a.bin", _flip)

    result = repo.run("fixity", "--package", package_id, "--repair", "--json")

    assert result.exit_code == 0
    document = json.loads(result.stdout)  # one JSON document, not two
    assert document["ok"] is True  # whole again, as the exit code says
    assert [c["outcome"] for c in document["copies"] if c["location"] == "second"] == ["mismatch"]
    assert len(document["repairs"]) == 1 and document["repairs"][0]["repaired"] is True
