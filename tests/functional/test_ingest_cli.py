"""The assembled application through its command line: ingest, show, fixity, export."""

from __future__ import annotations

import json
import os
import tarfile
import zipfile
from pathlib import Path

import bagit
import pytest

from tests.functional.cli import Repo


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    r = Repo(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'catalogue.sqlite3'}")
    r.run("init")
    r.run("collections", "add", "photos", "--title", "Photographs")
    return r


@pytest.fixture
def delivery(tmp_path: Path) -> Path:
    d = tmp_path / "delivery"
    (d / "sub").mkdir(parents=True)
    (d / "readme.txt").write_text("A born-digital note.\n", encoding="utf-8")
    (d / "sub" / "data.bin").write_bytes(os.urandom(300_000))
    (d / "sub" / "Café.txt").write_text("accents\n", encoding="utf-8")
    return d


def test_make_run_sequence_end_to_end(tmp_path: Path, database_url: str) -> None:
    """What `make run` does, on SQLite and PostgreSQL: sample, ingest, fixity, show, export."""
    repo = Repo(home=tmp_path / "home", database_url=database_url)
    repo.run("init")
    repo.run("init")  # idempotent
    repo.run("collections", "add", "sample", "--title", "Sample collection", "--exist-ok")
    repo.run("collections", "add", "sample", "--exist-ok")
    sample = tmp_path / "sample-delivery"
    paths = repo.run("sample", sample).stdout.split()
    assert len(paths) == 3
    csv = tmp_path / "sample-delivery.csv"
    assert csv.exists()

    result = repo.json("ingest", *paths, "--collection", "sample", "--metadata", csv)
    assert result["failures"] == []
    assert result["stored"] == 3
    by_source = {Path(p["source"]).name: p for p in result["packages"]}
    photos = by_source["photographs-1932"]
    puids = {Path(f["path"]).suffix: f["puid"] for f in photos["file_details"]}
    assert all(p.startswith("fmt/") for p in puids.values()), puids
    assert by_source["radio-interview.wav"]["file_details"][0]["mime"].startswith("audio/")

    # every package: bag keys laid out readably, titled from the CSV
    for p in result["packages"]:
        detail = repo.json("show", p["package_id"])
        assert detail["summary"]["status"] == "stored"
        assert detail["description"]["title"], detail["description"]
        assert {c["status"] for c in detail["copies"]} == {"verified"}
        types = [e["event_type"] for e in detail["events"]]
        for expected in (
            "ingestion start",
            "message digest calculation",
            "format identification",
            "information package creation",
            "replication",
            "ingestion end",
        ):
            assert expected in types
    keys = repo.stored_keys()
    prefix = f"default/sample/{photos['package_id']}/v1/"
    assert prefix + "bagit.txt" in keys
    assert prefix + "metadata/premis.xml" in keys
    assert prefix + "manifest-sha512.txt" in keys
    assert repo.staging_entries() == []

    fixity = repo.json("fixity", "--all")
    assert fixity["ok"] is True
    assert len(fixity["copies"]) == 3

    # the same delivery again: reported, not duplicated
    again = repo.json("ingest", *paths, "--collection", "sample", "--metadata", csv)
    assert again["stored"] == 0 and again["duplicates"] == 3
    assert len(repo.packages()) == 3

    out = tmp_path / "exported"
    exported = repo.json("export", photos["package_id"], out)
    assert exported["validation"]["valid"] is True
    assert (
        out / "bagit.txt"
    ).read_text() == "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    bagit.Bag(str(out)).validate()  # second opinion
    assert repo.run("bag", "validate", out).exit_code == 0


def test_ingest_prints_summary_and_show_lists_formats(repo: Repo, delivery: Path) -> None:
    out = repo.run("ingest", delivery, "--collection", "photos", "--title", "Notes").stdout
    assert out.startswith("stored ")
    package_id = out.split()[1]
    shown = repo.run("show", package_id).stdout
    assert "Notes" in shown
    assert "x-fmt/111" in shown  # plain text
    assert "data/sub/Café.txt" in shown
    listed = repo.run("packages", "list").stdout.splitlines()
    assert listed[0].split() == [
        "ID",
        "INGESTED",
        "STATUS",
        "COLLECTION",
        "FILES",
        "SIZE",
        "VERIFIED",
        "TITLE",
    ]
    assert listed[1].startswith(package_id[:8]) and "  1/1  Notes" in listed[1]


def test_single_file_and_archives_become_packages(
    repo: Repo, delivery: Path, tmp_path: Path
) -> None:
    single = tmp_path / "interview.txt"
    single.write_text("one file\n")
    archive_zip = tmp_path / "delivery.zip"
    with zipfile.ZipFile(archive_zip, "w") as zf:
        for f in delivery.rglob("*"):
            if f.is_file():
                zf.write(f, Path("delivery") / f.relative_to(delivery))
    archive_tar = tmp_path / "delivery2.tar.gz"
    (delivery / "extra.txt").write_text("makes the tar differ from the zip\n")
    with tarfile.open(archive_tar, "w:gz") as tf:
        tf.add(delivery, arcname="delivery2")
    result = repo.json("ingest", single, archive_zip, archive_tar, "--collection", "photos")
    assert result["failures"] == []
    files = {Path(p["source"]).name: sorted(f["path"] for f in p["file_details"])
             for p in result["packages"]}  # fmt: skip
    assert files["interview.txt"] == ["data/interview.txt"]
    assert files["delivery.zip"] == ["data/readme.txt", "data/sub/Café.txt", "data/sub/data.bin"]
    assert "data/extra.txt" in files["delivery2.tar.gz"]


def test_incoming_bag_is_validated_and_its_bag_info_kept(
    repo: Repo, delivery: Path, tmp_path: Path
) -> None:
    incoming = tmp_path / "incoming"
    repo.run("bag", "make", delivery, incoming)
    info = incoming / "bag-info.txt"
    info.write_text(info.read_text() + "Contact-Name: Jan Peeters\n")
    # bag-info changed: the tag manifests now disagree -> rebuild with bagit-python's save
    b = bagit.Bag(str(incoming))
    b.info["Contact-Name"] = "Jan Peeters"
    b.info["Bag-Group-Identifier"] = "delivery-2026-11"
    b.save()
    result = repo.json("ingest", incoming, "--collection", "photos")
    assert result["failures"] == [], result
    package = repo.json("show", result["packages"][0]["package_id"])
    assert ["Contact-Name", "Jan Peeters"] in package["bag_info"]
    groups = [v for k, v in package["bag_info"] if k == "Bag-Group-Identifier"]
    assert groups == ["photos"]  # must not repeat: ours names the collection
    assert [
        "Internal-Sender-Description",
        "producer's Bag-Group-Identifier: delivery-2026-11",
    ] in package["bag_info"]
    types = [e["event_type"] for e in package["events"]]
    assert "validation" in types and "fixity check" in types  # fixity on receipt


def test_export_refuses_non_empty_destination(repo: Repo, delivery: Path, tmp_path: Path) -> None:
    package_id = repo.json("ingest", delivery, "--collection", "photos")["packages"][0][
        "package_id"
    ]
    dest = tmp_path / "full"
    dest.mkdir()
    (dest / "x").write_text("x")
    result = repo.run("export", package_id, dest, ok=False)
    assert result.exit_code != 0
    assert "not an empty folder" in result.stderr
    assert sorted(p.name for p in dest.iterdir()) == ["x"]


def test_fixity_requires_exactly_one_selector(repo: Repo) -> None:
    result = repo.run("fixity", ok=False)
    assert result.exit_code == 2
    assert "exactly one" in result.stderr
    result = repo.run("fixity", "--package", "00000000-0000-0000-0000-000000000000", ok=False)
    assert result.exit_code == 3 and "no package '00000000-0000-0000" in result.stderr


def test_identify_json_lines(repo: Repo, delivery: Path) -> None:
    out = repo.run("identify", delivery / "readme.txt", delivery / "sub" / "data.bin", "--json")
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert records[0]["puid"] == "x-fmt/111"
    assert set(records[0]) == {"path", "puid", "mime", "mime_source", "charset", "format_name",
                               "format_version", "basis", "warnings", "image",
                               "problems"}  # fmt: skip


def test_bag_validate_json_lists_every_problem(repo: Repo, delivery: Path, tmp_path: Path) -> None:
    bag_dir = tmp_path / "bag"
    repo.run("bag", "make", delivery, bag_dir)
    (bag_dir / "data" / "readme.txt").write_text("tampered\n")
    (bag_dir / "data" / "sub" / "data.bin").unlink()
    result = repo.run("bag", "validate", bag_dir, "--json", ok=False)
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    paths = {e["path"] for e in report["errors"]}
    assert "data/readme.txt" in paths and "data/sub/data.bin" in paths
    assert all({"code", "path", "message"} <= set(e) for e in report["errors"])


def test_db_current_and_upgrade(repo: Repo) -> None:
    assert "up to date" in repo.run("db", "current").stdout
    assert "revision" in repo.run("db", "upgrade").stdout
