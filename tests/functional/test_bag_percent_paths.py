"""A BagIt 1.0 bag whose manifests hold a raw '%' (few tools encode it; see LibraryOfCongress/
bagit-python#157): `preserve bag validate` shows the percent-not-encoded warning and exits 0,
ingest accepts the bag with that warning, and the bag we store encodes the '%' as RFC 8493
§2.1.3 requires. bagit-python writes 0.97 bags, where a raw '%' is right: no warning there."""

from __future__ import annotations

import hashlib
from pathlib import Path

import bagit
import pytest

from tests.functional.cli import Repo

CONTENT = {"100%.txt": b"one hundred percent\n", "plain.txt": b"plain\n"}


@pytest.fixture
def raw_percent_bag(tmp_path: Path) -> Path:
    """A 1.0 bag written the way most tools write it: the '%' of data/100%.txt left raw."""
    bag = tmp_path / "incoming"
    (bag / "data").mkdir(parents=True)
    for name, data in CONTENT.items():
        (bag / "data" / name).write_bytes(data)
    (bag / "bagit.txt").write_text("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    size = sum(len(d) for d in CONTENT.values())
    (bag / "bag-info.txt").write_text(f"Payload-Oxum: {size}.{len(CONTENT)}\n")
    for alg in ("sha256", "sha512"):
        (bag / f"manifest-{alg}.txt").write_text(
            "".join(f"{hashlib.new(alg, d).hexdigest()}  data/{n}\n" for n, d in CONTENT.items())
        )
    tags = ("bagit.txt", "bag-info.txt", "manifest-sha256.txt", "manifest-sha512.txt")
    (bag / "tagmanifest-sha256.txt").write_text(
        "".join(f"{hashlib.sha256((bag / t).read_bytes()).hexdigest()}  {t}\n" for t in tags)
    )
    assert "data/100%.txt" in (bag / "manifest-sha256.txt").read_text()
    return bag


def test_bag_validate_shows_the_warning_and_exits_0(repo: Repo, raw_percent_bag: Path) -> None:
    result = repo.run("bag", "validate", raw_percent_bag)
    assert result.exit_code == 0
    assert "valid" in result.stdout
    warnings = [line for line in result.stderr.splitlines() if "[percent-not-encoded]" in line]
    assert len(warnings) == 2, result.stderr  # one per payload manifest
    assert all(line.startswith("warning: data/100%.txt: manifest-sha") for line in warnings)
    report = repo.json("bag", "validate", raw_percent_bag)
    assert report["valid"] is True


def test_ingest_accepts_the_bag_and_stores_the_percent_encoded(
    repo: Repo, raw_percent_bag: Path
) -> None:
    result = repo.json("ingest", raw_percent_bag, "--collection", "photos")
    assert result["failures"] == [], result
    package = result["packages"][0]
    assert package["status"] == "stored"
    assert {f["path"] for f in package["file_details"]} == {"data/100%.txt", "data/plain.txt"}
    assert any(
        w["code"] == "percent-not-encoded" and w["path"] == "data/100%.txt"
        for w in package["warnings"]
    ), package["warnings"]
    stored = next(repo.storage_root.rglob(f"{package['package_id']}/v1"))
    manifest = (stored / "manifest-sha256.txt").read_text()
    digest = hashlib.sha256(b"one hundred percent\n").hexdigest()
    assert f"{digest}  data/100%25.txt\n" in manifest
    report = repo.json("bag", "validate", stored)
    assert report["valid"] is True
    assert report["warnings"] == []


def test_a_bagit_python_bag_with_a_percent_name_gets_no_warning(repo: Repo, tmp_path: Path) -> None:
    bag = tmp_path / "bagit-python"
    bag.mkdir()
    (bag / "100%.txt").write_bytes(CONTENT["100%.txt"])
    bagit.make_bag(str(bag), checksums=["sha256"])
    assert (bag / "bagit.txt").read_text().startswith("BagIt-Version: 0.97\n")
    result = repo.run("bag", "validate", bag)
    assert "percent-not-encoded" not in result.stderr
    assert result.stdout.strip().endswith("valid")
