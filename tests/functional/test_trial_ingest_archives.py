"""A delivery that says it is a zip or a tar (by its name or its first bytes) but cannot be read
as one is refused as unreadable (exit 2), naming what is wrong, with nothing stored and nothing
left behind; before, it was stored as an ordinary file with exit 0, or a truncated tar.gz was
unpacked as fewer files (issue 8, new-user trial point 1)."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.functional.cli import Repo

HINT = "; to keep the file itself as it is, put it in a folder and ingest the folder"
ZIP_CUT = "not a readable zip archive (truncated or damaged: its central directory was not found)"


def _zip(path: Path) -> bytes:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(3):
            zf.writestr(f"brieven/brief-{i}.txt", os.urandom(2000))
    return path.read_bytes()


def _tar(path: Path, mode: str = "w:gz") -> bytes:
    with tarfile.open(path, mode) as tf:
        for i in range(3):
            data = os.urandom(3000)
            info = tarfile.TarInfo(f"brieven/brief-{i}.txt")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path.read_bytes()


def _refused(repo: Repo, path: Path, message: str) -> None:
    result = repo.run("ingest", path, "--collection", "photos", ok=False)
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [f"error: {path}: {message}{HINT}"]
    assert result.stdout == "0 packages stored, 1 failed\n"
    assert repo.packages() == []
    assert repo.stored_keys() == []
    assert repo.staging_entries() == []


def test_a_truncated_zip_is_refused(repo: Repo, tmp_path: Path) -> None:
    whole = _zip(tmp_path / "whole.zip")
    trunc = tmp_path / "trunc.zip"
    trunc.write_bytes(whole[:-30])
    _refused(repo, trunc, ZIP_CUT)


def test_a_zip_header_followed_by_garbage_is_refused(repo: Repo, tmp_path: Path) -> None:
    kapot = tmp_path / "kapot.zip"
    kapot.write_bytes(b"PK\x03\x04" + os.urandom(600))
    _refused(repo, kapot, ZIP_CUT)


def test_a_zip_signature_without_a_zip_name_is_refused(repo: Repo, tmp_path: Path) -> None:
    whole = _zip(tmp_path / "whole.zip")
    delivery = tmp_path / "levering"  # no extension: the first bytes say zip
    delivery.write_bytes(whole[: len(whole) // 2])
    _refused(repo, delivery, ZIP_CUT)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("notes.zip", b"these are notes, not a zip\n", "zip archive (no zip signature)"),
        ("leeg.zip", b"", "zip archive (empty file)"),
        ("notes.tar", b"these are notes, not a tar\n" * 40, "tar archive (invalid header)"),
        ("zeros.tar", bytes(10240), "tar archive (no members (an empty tar))"),
    ],
)
def test_a_file_named_as_an_archive_that_is_none_is_refused(
    repo: Repo, tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    _refused(repo, path, f"not a readable {reason}")


@pytest.mark.parametrize("mode", ["w:gz", "w:bz2", "w:xz"])
def test_a_truncated_compressed_tar_is_refused(repo: Repo, tmp_path: Path, mode: str) -> None:
    suffix = {"w:gz": ".tar.gz", "w:bz2": ".tar.bz2", "w:xz": ".tar.xz"}[mode]
    whole = _tar(tmp_path / f"whole{suffix}", mode)
    trunc = tmp_path / f"trunc{suffix}"
    trunc.write_bytes(whole[: len(whole) * 2 // 3])
    _refused(repo, trunc, "not a readable tar archive (truncated: the compressed data ends early)")


def test_a_truncated_plain_tar_is_refused(repo: Repo, tmp_path: Path) -> None:
    whole = _tar(tmp_path / "whole.tar", "w")
    # cut inside the last member's data, and exactly after it (no end-of-archive marker)
    inside = tmp_path / "inside.tar"
    inside.write_bytes(whole[: 512 + 3072 + 512 + 3072 + 512 + 1000])
    _refused(
        repo,
        inside,
        "not a readable tar archive (truncated: the data of its last member is cut off)",
    )
    after = tmp_path / "after.tar"
    after.write_bytes(whole[: 3 * (512 + 3072)])
    _refused(
        repo,
        after,
        "not a readable tar archive (truncated after member 3: no end-of-archive marker)",
    )
    damaged = tmp_path / "damaged.tar"
    damaged.write_bytes(whole[: 512 + 3072] + b"x" * 512 + whole[2 * 512 + 3072 :])
    _refused(
        repo,
        damaged,
        "not a readable tar archive (damaged: the header after member 1 cannot be read)",
    )


def test_whole_archives_are_still_unpacked(repo: Repo, tmp_path: Path) -> None:
    _zip(tmp_path / "a.zip")
    _tar(tmp_path / "b.tar.gz")
    report = repo.json(
        "ingest", tmp_path / "a.zip", tmp_path / "b.tar.gz", "--collection", "photos"
    )
    assert [p["files"] for p in report["packages"]] == [3, 3]
    assert report["failures"] == []


def test_a_zip_based_document_is_kept_as_one_file(repo: Repo, tmp_path: Path) -> None:
    """An office document is a zip inside: kept as it is, not unpacked (and a damaged one is
    stored as a file too, for identification to judge)."""
    docx = tmp_path / "verslag.docx"
    with zipfile.ZipFile(docx, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", "<document/>")
    broken = tmp_path / "kapot.odt"
    broken.write_bytes(docx.read_bytes()[:-30])
    report = repo.json("ingest", docx, broken, "--collection", "photos")
    assert [(p["files"], [f["path"] for f in p["file_details"]]) for p in report["packages"]] == [
        (1, ["data/verslag.docx"]),
        (1, ["data/kapot.odt"]),
    ]
