"""Second new-user trial (issue 8): `ingest` and `bag validate` speak of a damaged archive in
one wording family (`X: not a readable zip archive (…)`, `X: damaged zip archive: member 'm':
…`), ingest always adding how to keep the file as it is; a zip with bytes before its first
member or after its end is read with a warning naming how many bytes were ignored; a folder
without bagit.txt is not a bag (exit 2), not an invalid one."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from tests.functional.cli import Repo

HINT = "; to keep the file itself as it is, put it in a folder and ingest the folder"
ZIP_CUT = "not a readable zip archive (truncated or damaged: its central directory was not found)"
TGZ_CUT = "not a readable tar archive (truncated: the compressed data ends early)"


@pytest.fixture
def bag_zip(repo: Repo, tmp_path: Path) -> Path:
    """A zip of a bag holding two photographs, as `bag make` writes it."""
    src = tmp_path / "p1"
    src.mkdir()
    (src / "scan-001.tif").write_bytes(os.urandom(4000))
    (src / "scan-002.tif").write_bytes(os.urandom(4000))
    repo.run("bag", "make", src, tmp_path / "p1.zip")
    return tmp_path / "p1.zip"


@pytest.fixture
def bag_tgz(repo: Repo, tmp_path: Path) -> Path:
    src = tmp_path / "p2"
    src.mkdir()
    (src / "scan-001.tif").write_bytes(os.urandom(4000))
    repo.run("bag", "make", src, tmp_path / "p2.tar.gz")
    return tmp_path / "p2.tar.gz"


def _flipped(good: Path, dest: Path) -> tuple[Path, str]:
    """A copy of the zip ``good`` with one byte flipped in its first payload file's data."""
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith(".tif"))
    at = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 100
    data[at] ^= 0xFF
    dest.write_bytes(bytes(data))
    return dest, info.filename


def _ingest_refused(repo: Repo, path: Path, message: str) -> None:
    result = repo.run("ingest", path, "--collection", "photos", ok=False)
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [f"error: {path}: {message}{HINT}"]
    assert repo.packages() == []
    assert repo.stored_keys() == []
    assert repo.staging_entries() == []


def _validate_refused(repo: Repo, path: Path, message: str) -> None:
    result = repo.run("bag", "validate", path, ok=False)
    assert (result.exit_code, result.stdout, result.stderr) == (
        2,
        "",
        f"error: {path}: {message}\n",
    )


def test_a_truncated_zip(repo: Repo, bag_zip: Path, tmp_path: Path) -> None:
    cut = tmp_path / "bt.zip"
    cut.write_bytes(bag_zip.read_bytes()[:-100])
    _validate_refused(repo, cut, ZIP_CUT)
    _ingest_refused(repo, cut, ZIP_CUT)


def test_a_truncated_tar_gz(repo: Repo, bag_tgz: Path, tmp_path: Path) -> None:
    cut = tmp_path / "bt.tar.gz"
    cut.write_bytes(bag_tgz.read_bytes()[:-40])
    _validate_refused(repo, cut, TGZ_CUT)
    _ingest_refused(repo, cut, TGZ_CUT)


def test_a_flipped_byte_in_a_zip_member(repo: Repo, bag_zip: Path, tmp_path: Path) -> None:
    flip, member = _flipped(bag_zip, tmp_path / "flip.zip")
    damaged = f"damaged zip archive: member {member!r}: Bad CRC-32 for file {member!r}"
    _validate_refused(repo, flip, damaged)
    _ingest_refused(repo, flip, damaged)


def _with_extra(good: Path, dest: Path, before: bytes = b"", after: bytes = b"") -> Path:
    dest.write_bytes(before + good.read_bytes() + after)
    return dest


def test_data_after_the_end_of_a_zip_is_a_warning(
    repo: Repo, bag_zip: Path, tmp_path: Path
) -> None:
    trailing = _with_extra(bag_zip, tmp_path / "trailing.zip", after=os.urandom(1000))
    result = repo.run("ingest", trailing, "--collection", "photos")
    assert (
        "warning: trailing.zip: 1,000 bytes after the end of the zip archive were ignored"
        in result.stderr.splitlines()
    ), result.stderr
    assert len(repo.packages()) == 1
    result = repo.run("bag", "validate", trailing)
    assert result.stdout == f"{trailing}: valid\n"
    assert "trailing.zip: 1,000 bytes after the end of the zip archive were ignored" in (
        result.stderr
    )


def test_one_byte_after_the_end_is_singular(repo: Repo, bag_zip: Path, tmp_path: Path) -> None:
    trailing = _with_extra(bag_zip, tmp_path / "one.zip", after=b"\n")
    result = repo.run("bag", "validate", trailing)
    assert "one.zip: 1 byte after the end of the zip archive was ignored" in result.stderr


def test_data_before_the_first_member_is_a_warning(
    repo: Repo, bag_zip: Path, tmp_path: Path
) -> None:
    sfx = _with_extra(bag_zip, tmp_path / "sfx.zip", before=b"MZ" + os.urandom(2498))
    result = repo.run("ingest", sfx, "--collection", "photos")
    assert (
        "warning: sfx.zip: 2,500 bytes before the first member of the zip archive were ignored "
        "(a self-extracting program?)" in result.stderr.splitlines()
    ), result.stderr
    assert len(repo.packages()) == 1


def test_a_whole_zip_has_no_such_warning(repo: Repo, bag_zip: Path) -> None:
    result = repo.run("ingest", bag_zip, "--collection", "photos")
    assert "ignored" not in result.stderr
    assert len(repo.packages()) == 1


def test_a_folder_without_bagit_txt_is_not_a_bag(repo: Repo, tmp_path: Path) -> None:
    folder = tmp_path / "photographs-1932"
    folder.mkdir()
    (folder / "scan-001.tif").write_bytes(b"II*\x00")
    result = repo.run("bag", "validate", folder, ok=False)
    assert (result.exit_code, result.stdout, result.stderr) == (
        2,
        "",
        f"error: {folder}: not a bag (no bagit.txt); make one with: "
        f"preserve bag make {folder} BAG\n",
    )


def test_a_folder_with_bagit_txt_but_problems_is_invalid(repo: Repo, tmp_path: Path) -> None:
    folder = tmp_path / "half-bag"
    folder.mkdir()
    (folder / "bagit.txt").write_text("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    result = repo.run("bag", "validate", folder, ok=False)
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{folder}: INVALID (")


def test_a_zip_whose_folder_has_no_bagit_txt_is_not_a_bag(repo: Repo, tmp_path: Path) -> None:
    nobag = tmp_path / "nobag.zip"
    with zipfile.ZipFile(nobag, "w") as zf:
        zf.writestr("scans/a.txt", b"x")
    _validate_refused(repo, nobag, "not a bag: its folder scans/ has no bagit.txt")
