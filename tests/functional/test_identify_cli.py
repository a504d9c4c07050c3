"""`preserve identify` runs ingest's checks and shows problems per file; text files carry their
character set in the MIME type the catalogue and PREMIS record (issue 8)."""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

import pytest
from PIL import Image

from tests.functional.cli import Repo


def jpeg(width: int = 200, height: int = 150) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (120, 80, 40)).save(out, "JPEG", quality=90)
    return out.getvalue()


@pytest.fixture
def files(tmp_path: Path) -> Path:
    d = tmp_path / "check"
    d.mkdir()
    (d / "good.jpg").write_bytes(jpeg())
    whole = jpeg(400, 300)
    (d / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    (d / "empty.txt").write_bytes(b"")
    (d / "latin1.txt").write_bytes("Één café, één été.\n".encode("latin-1"))
    (d / "noise").write_bytes(random.Random(7).randbytes(4096))
    return d


def test_identify_shows_problems_per_file_and_exits_0(repo: Repo, files: Path) -> None:
    result = repo.run("identify", files)
    lines = result.stdout.splitlines()
    assert lines[0] == f"{files / 'empty.txt'}\tUNKNOWN\tapplication/x-empty\t"
    assert lines[1] == "  problem: zero-byte file [empty-file]"
    assert lines[2].startswith(f"{files / 'good.jpg'}\tfmt/")
    assert (
        lines[3]
        == f"{files / 'latin1.txt'}\tx-fmt/111\ttext/plain; charset=iso-8859-1\tPlain Text File"
    )
    assert lines[4] == f"{files / 'noise'}\tUNKNOWN\tapplication/octet-stream\t"
    assert lines[5] == (
        "  problem: format not identified (no PRONOM match): no match [format-unknown]"
    )
    # a truncated JPEG: PRONOM's signature wants the end marker; Pillow cannot decode it whole
    assert lines[6] == f"{files / 'truncated.jpg'}\tUNKNOWN\timage/jpeg\t"
    assert lines[7].startswith("  problem: format not identified (no PRONOM match): ")
    assert lines[8].startswith("  problem: image does not decode completely: ")
    assert lines[8].endswith("[image-incomplete]")
    assert len(lines) == 9
    assert result.stderr == "5 files identified, 3 files with problems\n"


def test_identify_json_has_problems_and_image(repo: Repo, files: Path) -> None:
    out = repo.run("identify", files / "truncated.jpg", files / "good.jpg", "--json").stdout
    truncated, good = (json.loads(line) for line in out.splitlines())
    assert [p["code"] for p in truncated["problems"]] == ["format-unknown", "image-incomplete"]
    assert {p["path"] for p in truncated["problems"]} == {str(files / "truncated.jpg")}
    assert truncated["problems"][1]["message"].startswith("image does not decode completely")
    assert truncated["image"]["complete"] is False
    assert good["problems"] == [] and good["image"]["complete"] is True
    assert (good["image"]["width"], good["image"]["height"]) == (200, 150)


def test_identify_one_good_file_says_no_problems(repo: Repo, files: Path) -> None:
    result = repo.run("identify", files / "good.jpg")
    assert result.stderr == "1 file identified, no problems\n"


def test_identify_missing_path_exits_2(repo: Repo, files: Path) -> None:
    missing = files / "nope.tif"
    result = repo.run("identify", files / "good.jpg", missing, ok=False)
    assert (result.exit_code, result.stderr) == (2, f"error: {missing}: no such file or folder\n")
    assert result.stdout == ""


def test_help_documents_the_exit_codes(repo: Repo) -> None:
    out = repo.run("identify", "--help").stdout
    assert "Exit codes: 0 when every file was identified, also when problems were" in out
    assert "image-incomplete" in out


def test_text_charset_recorded_in_catalogue_and_premis(
    tmp_path: Path, files: Path, database_url: str
) -> None:
    repo = Repo(home=tmp_path / "home", database_url=database_url)
    repo.run("init")
    repo.run("collections", "add", "photos")
    result = repo.json("ingest", files, "--collection", "photos")
    (package,) = result["packages"]
    details = {Path(f["path"]).name: f for f in package["file_details"]}
    assert details["latin1.txt"]["mime"] == "text/plain; charset=iso-8859-1"
    shown = {Path(f["path"]).name: f for f in repo.json("show", package["package_id"])["files"]}
    assert shown["latin1.txt"]["mime"] == "text/plain; charset=iso-8859-1"
    assert shown["good.jpg"]["mime"] == "image/jpeg"
    (aip,) = list(repo.storage_root.glob(f"*/*/{package['package_id']}/v1"))
    premis = (aip / "metadata" / "premis.xml").read_text(encoding="utf-8")
    assert "text/plain; charset=iso-8859-1" in premis


def test_identify_a_file_given_twice_once_where_first_given(repo: Repo, tmp_path: Path) -> None:
    deliv = tmp_path / "deliv"
    (deliv / "sub").mkdir(parents=True)
    (deliv / "a.txt").write_text("first\n")
    (deliv / "sub" / "b.txt").write_text("second\n")
    # as a shell expands `identify deliv/sub/b.txt deliv/* deliv/sub/*`: the folder deliv/sub
    # holds b.txt again, and so does the last pattern; ./ and .. name the same file too
    result = repo.run(
        "identify",
        deliv / "sub" / "b.txt",
        deliv / "a.txt",
        deliv / "sub",
        deliv / "sub" / ".." / "sub" / "b.txt",
    )
    paths = [line.split("\t")[0] for line in result.stdout.splitlines()]
    assert paths == [str(deliv / "sub" / "b.txt"), str(deliv / "a.txt")]
    assert result.stderr == "2 files identified, no problems\n"
