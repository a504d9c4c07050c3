"""Fixity must catch every kind of damage, on every backend: flipped byte, truncation, deletion,
swapped objects, an extra object and a tampered manifest. A checker that reports success for
everything is the failure mode peers shipped for years, so each case is damaged for real."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.functional.cli import Repo, two_location_package
from tests.s3server import corrupt_object


@pytest.fixture
def stored(tmp_path: Path, storage_url: str) -> tuple[Repo, str, str]:
    """A package stored on the default local location and on a second location (local or S3)."""
    repo = Repo(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'catalogue.sqlite3'}")
    package = two_location_package(repo, tmp_path / "delivery", storage_url)
    assert sorted(package["copies"]) == ["default", "second"]
    return repo, storage_url, package["key_prefix"]


def flip(data: bytes) -> bytes:
    return data[:100] + bytes([data[100] ^ 0x01]) + data[101:]


def test_fresh_package_passes_on_both_copies(stored: tuple[Repo, str, str]) -> None:
    repo, _url, _prefix = stored
    report = repo.json("fixity", "--collection", "photos")
    assert report["ok"] is True
    assert sorted(c["location"] for c in report["copies"]) == ["default", "second"]
    assert all(c["files_checked"] > 3 for c in report["copies"])


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (flip, "mismatch"),
        (lambda data: data[: len(data) // 2], "mismatch"),
        (lambda data: None, "missing"),
    ],
    ids=["flipped-byte", "truncated", "deleted"],
)
def test_damage_is_caught_and_named(
    stored: tuple[Repo, str, str], damage: Callable[[bytes], bytes | None], expected: str
) -> None:
    repo, url, prefix = stored
    corrupt_object(url, prefix + "data/a.bin", damage)
    result = repo.run("fixity", "--all", ok=False)
    assert result.exit_code == 1
    assert "data/a.bin" in result.stderr
    assert "second" in result.stderr
    assert f"FAILED {expected}" in result.stderr
    report = repo.json("fixity", "--all", ok=False)
    outcomes = {c["location"]: c["outcome"] for c in report["copies"]}
    assert outcomes == {"default": "ok", "second": expected}
    show = repo.json("show", report["copies"][0]["package_id"])
    copies = {c["location"]: c for c in show["copies"]}
    assert copies["second"]["last_outcome"] == expected
    assert copies["default"]["last_outcome"] == "ok"
    failed = [
        e for e in show["events"] if e["event_type"] == "fixity check" and e["outcome"] == "failure"
    ]
    assert failed and "data/a.bin" in failed[-1]["outcome_detail"]


def test_swapped_objects_are_caught(stored: tuple[Repo, str, str]) -> None:
    repo, url, prefix = stored
    contents: dict[str, bytes] = {}

    def grab(name: str) -> Callable[[bytes], bytes]:
        def keep(data: bytes) -> bytes:
            contents[name] = data
            return data

        return keep

    corrupt_object(url, prefix + "data/a.bin", grab("a"))
    corrupt_object(url, prefix + "data/b.bin", grab("b"))
    corrupt_object(url, prefix + "data/a.bin", lambda _: contents["b"])
    corrupt_object(url, prefix + "data/b.bin", lambda _: contents["a"])
    result = repo.run("fixity", "--all", ok=False)
    assert result.exit_code == 1
    assert "data/a.bin" in result.stderr and "data/b.bin" in result.stderr


def test_tampered_manifest_is_caught(stored: tuple[Repo, str, str]) -> None:
    repo, url, prefix = stored
    corrupt_object(url, prefix + "manifest-sha256.txt", lambda d: d.replace(b"a", b"b", 1))
    result = repo.run("fixity", "--all", ok=False)
    assert result.exit_code == 1
    assert "manifest-sha256.txt" in result.stderr


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("ingesting", "not stored yet (status ingesting)"),
        ("failed", "never stored (status failed)"),
    ],
)
def test_a_package_not_stored_is_refused_not_marked_failed(
    stored: tuple[Repo, str, str], tmp_path: Path, status: str, message: str
) -> None:
    """After a kill, a package stays ``ingesting`` until the ingest is re-run; a failed ingest
    whose objects wait for a location to answer is ``failed``: fixity must not check their
    partial copies and mark them failed."""
    import sqlite3

    repo, _url, _prefix = stored
    package_id = repo.packages()[0]["id"]
    with sqlite3.connect(tmp_path / "catalogue.sqlite3") as db:
        db.execute("UPDATE packages SET status = ? WHERE id = ?", (status, package_id))
    result = repo.run("fixity", "--package", package_id, ok=False)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    with sqlite3.connect(tmp_path / "catalogue.sqlite3") as db:
        outcomes = db.execute(
            "SELECT last_outcome FROM copies WHERE package_id = ?", (package_id,)
        ).fetchall()
    assert all(o[0] == "ok" for o in outcomes)  # left as the ingest verified them


@pytest.fixture
def delivered(tmp_path: Path, database_url: str) -> tuple[Repo, str, Path]:
    """A package of twelve small text files and a 200-byte scan, stored on the default local
    location (SQLite or PostgreSQL); its id and the folder of its stored copy."""
    repo = Repo(home=tmp_path / "home", database_url=database_url)
    repo.run("init")
    repo.run("collections", "add", "photos")
    delivery = tmp_path / "delivery"
    delivery.mkdir()
    (delivery / "scan-001.tif").write_bytes(bytes(range(200)))
    for n in range(12):
        (delivery / f"notes-{n:02d}.txt").write_text(f"note {n:02d}\n")  # 8 bytes each
    package = repo.json("ingest", delivery, "--collection", "photos")["packages"][0]
    return repo, package["package_id"], repo.storage_root / package["key_prefix"]


def fixity_event(repo: Repo, package_id: str) -> dict[str, Any]:
    events = repo.json("show", package_id)["events"]
    return [e for e in events if e["event_type"] == "fixity check"][-1]  # type: ignore[no-any-return]


def test_a_failed_check_names_its_files_and_counts_what_was_checked(
    delivered: tuple[Repo, str, Path],
) -> None:
    repo, package_id, stored = delivered
    scan = stored / "data" / "scan-001.tif"
    expected = hashlib.sha256(scan.read_bytes()).hexdigest()
    scan.write_bytes(flip(scan.read_bytes()))
    found = hashlib.sha256(scan.read_bytes()).hexdigest()
    (stored / "data" / "notes-03.txt").unlink()

    result = repo.run("fixity", "--package", package_id, ok=False)
    assert result.exit_code == 1
    # 12 of the 13 payload files could be read (the scan, damaged, among them)
    assert result.stdout.startswith(
        f"mismatch {package_id} on default: 12 of 13 files, 288 B of 296 B (and "
    )
    report = repo.json("fixity", "--package", package_id, ok=False)["copies"][0]
    assert (report["payload_files"], report["payload_files_expected"]) == (12, 13)
    assert (report["payload_bytes"], report["payload_bytes_expected"]) == (288, 296)

    event = fixity_event(repo, package_id)
    listing = (
        f"mismatch: data/scan-001.tif (sha256 is {found}, expected {expected}); "
        "missing: data/notes-03.txt; re-read "
    )
    assert event["outcome"] == "failure"
    assert event["detail"].startswith(listing)
    shown = repo.run("show", package_id).stdout.splitlines()
    failed = [line for line in shown if "  fixity check  " in line and " failure " in line]
    assert len(failed) == 2  # both runs above
    assert f"  fixity check                  failure  {listing}" in failed[-1]


def test_a_failed_check_lists_ten_files_and_counts_the_rest(
    delivered: tuple[Repo, str, Path],
) -> None:
    repo, package_id, stored = delivered
    for n in range(12):
        (stored / "data" / f"notes-{n:02d}.txt").unlink()
    result = repo.run("fixity", "--package", package_id, ok=False)
    assert result.stdout.startswith(
        f"missing  {package_id} on default: 1 of 13 files, 200 B of 296 B (and "
    )
    names = ", ".join(f"data/notes-{n:02d}.txt" for n in range(10))
    event = fixity_event(repo, package_id)
    assert event["detail"].startswith(f"missing: {names}; and 2 more; re-read ")


def test_a_passed_check_counts_every_file_and_lists_nothing(
    delivered: tuple[Repo, str, Path],
) -> None:
    repo, package_id, _stored = delivered
    result = repo.run("fixity", "--package", package_id)
    assert result.stdout.startswith(f"ok       {package_id} on default: 13 files, 296 B (and ")
    event = fixity_event(repo, package_id)
    assert event["outcome"] == "success"
    assert event["detail"].startswith("re-read ")
