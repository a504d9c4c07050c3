"""`preserve export` writes a zip or tar to send, and makes the folders it is asked to write in
(issue 8). The bag is validated before it is packed; the archive is read back before it gets its
name; a failed or interrupted export leaves nothing, not even the folders made for it."""

from __future__ import annotations

import os
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import bagit
import pytest

from preserve.bagit import serialise, validate_bag
from tests.functional.cli import Repo


@pytest.fixture
def stored(tmp_path: Path, database_url: str) -> tuple[Repo, str, Path]:
    """A repository (SQLite or PostgreSQL) with one package of three files; returns the
    repository, the package id and the delivery."""
    repo = Repo(home=tmp_path / "home", database_url=database_url)
    repo.run("init")
    repo.run("collections", "add", "photos")
    delivery = tmp_path / "delivery"
    (delivery / "plates").mkdir(parents=True)
    (delivery / "plates" / "p1.bin").write_bytes(os.urandom(300_000))
    (delivery / "plates" / "p2.bin").write_bytes(os.urandom(1_000))
    (delivery / "readme.txt").write_text("three files\n")
    package = repo.json("ingest", delivery, "--collection", "photos")["packages"][0]
    return repo, package["package_id"], delivery


def _unpack(archive: Path, into: Path) -> list[str]:
    """Unpack ``archive`` into ``into``; returns its member names."""
    into.mkdir()
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(into)
            return zf.namelist()
    with tarfile.open(archive) as tf:
        tf.extractall(into, filter="data")
        return tf.getnames()


def _events(repo: Repo, package_id: str, event_type: str) -> list[dict[str, Any]]:
    return [e for e in repo.json("show", package_id)["events"] if e["event_type"] == event_type]


@pytest.mark.parametrize(
    ("name", "option", "kind"),
    [("box-12.zip", None, "zip"), ("box-12.tar", None, "tar"), ("box-12.tar.gz", None, "tar.gz"),
     ("box-12", "zip", "zip")],
)  # fmt: skip
def test_export_as_an_archive_into_folders_that_do_not_exist_yet(
    stored: tuple[Repo, str, Path], tmp_path: Path, name: str, option: str | None, kind: str
) -> None:
    repo, package_id, delivery = stored
    dest = tmp_path / "exports" / "2024" / name
    args: list[str | Path] = ["export", package_id, dest]
    if option:
        args += ["--format", option]
    exported = repo.json(*args)
    assert exported["destination"] == str(dest)
    assert (exported["format"], exported["files"], exported["bytes"]) == (kind, 3, 301_012)
    assert exported["algorithms"] == ["sha512", "sha256"]
    assert exported["archive_bytes"] == dest.stat().st_size
    assert exported["created_folders"] == [str(tmp_path / "exports"), str(dest.parent)]
    assert exported["validation"]["valid"] is True
    # the bag as it now is: the archive, not the temporary folder it was checked in
    assert exported["validation"]["path"] == str(dest)
    assert sorted(p.name for p in dest.parent.iterdir()) == [name]  # no temporary folder left
    # and what was sent can be checked again on arrival
    assert repo.run("bag", "validate", dest).stdout == f"{dest}: valid\n"

    unpacked = tmp_path / "unpacked"
    names = _unpack(dest, unpacked)
    assert {n.split("/", 1)[0] for n in names} == {"box-12"}
    bag = unpacked / "box-12"
    bagit.Bag(str(bag)).validate()
    assert validate_bag(bag).valid
    for f in ("plates/p1.bin", "plates/p2.bin", "readme.txt"):
        assert (bag / "data" / f).read_bytes() == (delivery / f).read_bytes()

    [event] = _events(repo, package_id, "dissemination")
    assert event["detail"] == (
        f"package exported as a bag in a {kind} archive to {dest} from location default"
    )
    assert event["outcome_detail"].endswith("; the archive read back as packed")


def test_the_json_names_the_exported_folder(stored: tuple[Repo, str, Path], tmp_path: Path) -> None:
    repo, package_id, _ = stored
    dest = tmp_path / "exports" / "box-12"
    exported = repo.json("export", package_id, dest)
    assert exported["validation"]["path"] == str(dest)
    assert exported["validation"]["valid"] is True
    assert repo.json("bag", "validate", dest) == exported["validation"]


def test_the_summary_line_says_what_was_written(
    stored: tuple[Repo, str, Path], tmp_path: Path
) -> None:
    repo, package_id, _ = stored
    dest = tmp_path / "out.zip"
    line = repo.run("export", package_id, dest).stdout
    size = dest.stat().st_size
    assert line == (
        f"exported {package_id} from default to {dest}: 3 files, 301.0 KB, sha512 + sha256, "
        f"bag valid (zip of {size / 1000:.1f} KB)\n"
    )
    folder = tmp_path / "new" / "folder"
    line = repo.run("export", package_id, folder).stdout
    assert line == (
        f"exported {package_id} from default to {folder}: 3 files, 301.0 KB, sha512 + sha256, "
        "bag valid\n"
    )
    assert validate_bag(folder).valid


def test_an_existing_destination_or_a_contradiction_is_refused(
    stored: tuple[Repo, str, Path], tmp_path: Path
) -> None:
    repo, package_id, _ = stored
    existing = tmp_path / "out.tar.gz"
    existing.write_bytes(b"someone's file")
    result = repo.run("export", package_id, existing, ok=False)
    assert (result.exit_code, result.stderr) == (2, f"error: {existing}: already exists\n")
    assert existing.read_bytes() == b"someone's file"

    result = repo.run("export", package_id, tmp_path / "out.tar", "--format", "zip", ok=False)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {tmp_path / 'out.tar'}: the name ends in .tar but the format asked for is zip; "
        "rename the destination or leave the format out\n"
    )
    (tmp_path / "plain").write_text("x")
    result = repo.run("export", package_id, tmp_path / "plain" / "sub" / "out.zip", ok=False)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {tmp_path / 'plain' / 'sub' / 'out.zip'}: {tmp_path / 'plain'} is not a folder\n"
    )
    result = repo.run("export", package_id, tmp_path / "x", "--format", "7z", ok=False)
    assert result.exit_code == 2
    assert result.stderr == (
        "error: Invalid value for '--format': '7z' is not one of 'folder', 'zip', 'tar', "
        "'tar.gz'. (preserve export --help shows the options)\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "delivery",
        "home",
        "out.tar.gz",
        "plain",
    ]
    assert _events(repo, package_id, "dissemination") == []


def test_a_failed_export_removes_the_folders_it_made(
    stored: tuple[Repo, str, Path], tmp_path: Path
) -> None:
    repo, package_id, _ = stored
    stored_file = next(p for p in repo.storage_root.rglob("p1.bin"))
    data = stored_file.read_bytes()
    stored_file.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    result = repo.run("export", package_id, tmp_path / "exports" / "2024" / "out.zip", ok=False)
    assert result.exit_code == 1
    assert f"package {package_id} could not be exported: every copy is damaged" in result.stderr
    assert not (tmp_path / "exports").exists()
    assert _events(repo, package_id, "dissemination") == []


def test_ctrl_c_while_packing_leaves_nothing(
    stored: tuple[Repo, str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, package_id, _ = stored
    real_copy = serialise._copy
    copied: list[Path] = []

    def interrupted(source: Path, out: Any) -> str:
        copied.append(source)
        if len(copied) == 9:  # the tag files, then into the payload
            raise KeyboardInterrupt
        return real_copy(source, out)

    monkeypatch.setattr(serialise, "_copy", interrupted)
    result = repo.run("export", package_id, tmp_path / "exports" / "out.zip", ok=False)
    assert (result.exit_code, result.stderr) == (130, "interrupted\n")
    assert len(copied) == 9
    assert not (tmp_path / "exports").exists()
    assert _events(repo, package_id, "dissemination") == []
