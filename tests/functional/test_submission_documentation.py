"""An incoming bag's own tag files are kept in the AIP as submission documentation (issue 8)."""

from __future__ import annotations

import shutil
from pathlib import Path

import bagit

from tests.functional.cli import Repo


def producer_bag(tmp_path: Path) -> Path:
    """A bag made by bagit-python (BagIt 0.97, sha256 and sha512), with a producer's tag file."""
    bag_dir = tmp_path / "delivery-bag"
    (bag_dir / "scans").mkdir(parents=True)
    (bag_dir / "scans" / "scan-001.tif").write_bytes(b"II*\x00" + bytes(500))
    (bag_dir / "readme.txt").write_text("two scans\n", encoding="utf-8")
    bagit.make_bag(
        str(bag_dir),
        {
            "Source-Organization": "Stad Gent",
            "External-Identifier": "GENT-2024-17",
            "Contact-Email": "archief@example.org",
        },
        checksums=["sha256", "sha512"],
    )
    (bag_dir / "producer-notes").mkdir()
    (bag_dir / "producer-notes" / "checklist.txt").write_text("checked\n", encoding="utf-8")
    bag = bagit.Bag(str(bag_dir))
    bag.save()  # lists the extra tag file in the tag manifests
    bag.validate()
    return bag_dir


def test_incoming_bag_tag_files_are_kept(repo: Repo, tmp_path: Path) -> None:
    bag_dir = producer_bag(tmp_path)
    received = {
        p.relative_to(bag_dir).as_posix(): p.read_bytes()
        for p in bag_dir.rglob("*")
        if p.is_file() and p.relative_to(bag_dir).parts[0] != "data"
    }
    assert {"bagit.txt", "bag-info.txt", "manifest-sha256.txt", "tagmanifest-sha512.txt"} <= set(
        received
    )
    result = repo.json("ingest", bag_dir, "--collection", "photos")
    (package,) = result["packages"]
    (aip,) = list(repo.storage_root.glob(f"*/*/{package['package_id']}/v1"))

    # every tag file of the producer's bag, byte for byte, under metadata/submission/
    kept = aip / "metadata" / "submission"
    assert {
        p.relative_to(kept).as_posix(): p.read_bytes() for p in kept.rglob("*") if p.is_file()
    } == received
    # listed in the AIP's tag manifests
    tagmanifest = (aip / "tagmanifest-sha512.txt").read_text(encoding="utf-8")
    for name in received:
        assert f"  metadata/submission/{name}\n" in tagmanifest
    # the AIP's own bag-info is ours, the producer's elements carried over
    ours = (aip / "bag-info.txt").read_text(encoding="utf-8")
    assert "Bag-Software-Agent: preserve" in ours
    assert "External-Identifier: GENT-2024-17" in ours
    assert "Source-Organization: Stad Gent" in ours
    assert (aip / "bagit.txt").read_text() == (
        "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    )
    # payload as the producer's bag had it
    assert (aip / "data" / "scans" / "scan-001.tif").read_bytes() == b"II*\x00" + bytes(500)

    # the AIP still validates: by bagit-python and by preserve
    bagit.Bag(str(aip)).validate()
    assert repo.run("bag", "validate", aip).exit_code == 0

    # and PREMIS says what was kept
    detail = repo.json("show", package["package_id"])
    validation = [e for e in detail["events"] if e["event_type"] == "validation"]
    assert any(
        f"its {len(received)} tag files kept under metadata/submission/" in e["detail"]
        for e in validation
    )


def test_a_folder_delivery_has_no_submission_folder(repo: Repo, tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "a.txt").write_text("a\n", encoding="utf-8")
    result = repo.json("ingest", folder, "--collection", "photos")
    (aip,) = list(repo.storage_root.glob(f"*/*/{result['packages'][0]['package_id']}/v1"))
    assert not (aip / "metadata" / "submission").exists()


def test_item_rows_in_a_bag_name_files_with_or_without_data(repo: Repo, tmp_path: Path) -> None:
    bag_dir = producer_bag(tmp_path)
    csv_path = tmp_path / "delivery.csv"
    csv_path.write_text(
        "path,title\n"
        "delivery-bag,A producer's bag\n"
        "delivery-bag/data/scans/scan-001.tif,First scan\n"
        "delivery-bag/readme.txt,Read me\n",
        encoding="utf-8",
    )
    result = repo.json("ingest", bag_dir, "--collection", "photos", "--metadata", csv_path)
    detail = repo.json("show", result["packages"][0]["package_id"])
    described = {f["path"]: f["description"] for f in detail["files"] if f["description"]}
    assert described == {
        "data/scans/scan-001.tif": {"title": ["First scan"]},
        "data/readme.txt": {"title": ["Read me"]},
    }


def test_an_item_row_for_a_file_missing_from_a_zipped_bag(repo: Repo, tmp_path: Path) -> None:
    bag_dir = producer_bag(tmp_path)
    archive = Path(shutil.make_archive(str(tmp_path / "delivery"), "zip", tmp_path, bag_dir.name))
    shutil.rmtree(bag_dir)
    csv_path = tmp_path / "delivery.csv"
    csv_path.write_text(
        "path,title\ndelivery.zip,Zipped\ndelivery.zip/scans/nope.tif,Missing\n", encoding="utf-8"
    )
    result = repo.run("ingest", archive, "--collection", "photos", "--metadata", csv_path, ok=False)
    assert result.exit_code == 2
    assert (
        f"error: row names a file that is not in the delivery {archive}: {csv_path}, line 3 "
        "('delivery.zip/scans/nope.tif') (a row for one file gives the delivery's path, then / "
        "or \\, then the file's path inside it, e.g. delivery.zip\\sub\\a.txt)\n"
    ) in result.stderr
    assert repo.packages() == [] and repo.staging_entries() == []
