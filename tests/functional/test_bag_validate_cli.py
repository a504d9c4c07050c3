"""`preserve bag validate` on a zip or tar holding a bag, as `bag make` and `export` write them
(issue 8): unpacked safely into a temporary folder that is always removed, problems named as
members of the archive, and a clear error for what is not a bag or is damaged."""

from __future__ import annotations

import io
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest

from preserve.bagit import serialise
from tests.functional.cli import Repo


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary folder the command unpacks into (to see that nothing stays there)."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def src(tmp_path: Path) -> Path:
    folder = tmp_path / "glasplaten"
    (folder / "doos 1").mkdir(parents=True)
    (folder / "plaat-001.txt").write_text("glass plate one\n")
    (folder / "doos 1" / "plaat-002.txt").write_text("glass plate two\n")
    return folder


def _make(repo: Repo, src: Path, dest: Path) -> Path:
    repo.run("bag", "make", src, dest)
    return dest


@pytest.mark.parametrize("ending", [".zip", ".tar", ".tar.gz", ".tgz"])
def test_an_archive_from_bag_make_is_valid(
    repo: Repo, src: Path, tmp_path: Path, scratch: Path, ending: str
) -> None:
    archive = _make(repo, src, tmp_path / "out" / "bags" / f"glasplaten{ending}")
    result = repo.run("bag", "validate", archive)
    assert (result.stdout, result.stderr) == (f"{archive}: valid\n", "")
    report = repo.json("bag", "validate", archive)
    assert (report["valid"], report["path"], report["payload_files"]) == (True, str(archive), 2)
    assert list(scratch.iterdir()) == []


def _rewrite_zip(archive: Path, dest: Path, change: dict[str, bytes | None]) -> Path:
    """A copy of the zip ``archive`` with members replaced (or left out, for None)."""
    with zipfile.ZipFile(archive) as zin, zipfile.ZipFile(dest, "w") as zout:
        for info in zin.infolist():
            data = change.get(info.filename, zin.read(info))
            if data is not None:
                zout.writestr(info, data)
        for name, data in change.items():
            if data is not None and name not in zin.namelist():
                zout.writestr(name, data)
    return dest


def test_a_changed_member_makes_it_invalid_and_is_named(
    repo: Repo, src: Path, tmp_path: Path, scratch: Path
) -> None:
    good = _make(repo, src, tmp_path / "glasplaten.zip")
    bad = _rewrite_zip(
        good, tmp_path / "bad.zip", {"glasplaten/data/plaat-001.txt": b"glass plate ONE\n"}
    )
    result = repo.run("bag", "validate", bad, ok=False)
    assert result.exit_code == 1
    assert result.stdout == f"{bad}: INVALID (2 errors)\n"
    lines = result.stderr.splitlines()
    assert len(lines) == 2
    for line, alg in zip(lines, ["sha256", "sha512"], strict=True):
        assert line.startswith(
            f"error: glasplaten/data/plaat-001.txt: {alg} checksum in manifest-{alg}.txt is "
        )
        assert line.endswith("[checksum-mismatch]")
    report = repo.json("bag", "validate", bad, ok=False)
    assert report["valid"] is False
    assert {(e["code"], e["path"]) for e in report["errors"]} == {
        ("checksum-mismatch", "glasplaten/data/plaat-001.txt")
    }
    assert list(scratch.iterdir()) == []


def test_a_missing_member_makes_it_invalid(
    repo: Repo, src: Path, tmp_path: Path, scratch: Path
) -> None:
    good = _make(repo, src, tmp_path / "glasplaten.zip")
    bad = _rewrite_zip(good, tmp_path / "bad.zip", {"glasplaten/data/doos 1/plaat-002.txt": None})
    report = repo.json("bag", "validate", bad, ok=False)
    assert [(e["code"], e["path"]) for e in report["errors"]][:1] == [
        ("file-missing", "glasplaten/data/doos 1/plaat-002.txt")
    ]
    result = repo.run("bag", "validate", bad, "--completeness-only", ok=False)
    assert result.exit_code == 1
    assert "glasplaten/data/doos 1/plaat-002.txt" in result.stderr


def test_a_damaged_archive_is_an_error(
    repo: Repo, src: Path, tmp_path: Path, scratch: Path
) -> None:
    good = _make(repo, src, tmp_path / "glasplaten.zip")
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(good.read_bytes()[:300])
    result = repo.run("bag", "validate", truncated, ok=False)
    assert (result.exit_code, result.stdout, result.stderr) == (
        2,
        "",
        f"error: {truncated}: not a readable zip archive (truncated or damaged: its central "
        "directory was not found)\n",
    )
    # a flipped byte inside a member's compressed data: the zip's CRC catches it
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as zf:
        info = zf.getinfo("glasplaten/data/plaat-001.txt")
    at = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 2
    data[at] ^= 0xFF
    flipped = tmp_path / "flipped.zip"
    flipped.write_bytes(bytes(data))
    result = repo.run("bag", "validate", flipped, ok=False)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(
        f"error: {flipped}: damaged zip archive: member 'glasplaten/data/plaat-001.txt': "
    )
    assert result.stderr.count("\n") == 1
    # a gzip stream cut short
    tgz = _make(repo, src, tmp_path / "glasplaten.tar.gz")
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(tgz.read_bytes()[:-40])
    result = repo.run("bag", "validate", cut, ok=False)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {cut}: not a readable tar archive (truncated: the compressed data ends early)\n"
    )
    assert result.stderr.count("\n") == 1
    assert list(scratch.iterdir()) == []


def test_what_is_not_a_bag_or_not_there(repo: Repo, tmp_path: Path, scratch: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a bag\n")
    result = repo.run("bag", "validate", text, ok=False)
    assert (result.exit_code, result.stdout, result.stderr) == (
        2,
        "",
        f"error: {text}: not a bag folder or a zip/tar archive of one\n",
    )
    missing = tmp_path / "out" / "bags" / "glasplaten.tar.gz"
    result = repo.run("bag", "validate", missing, ok=False)
    assert (result.exit_code, result.stdout, result.stderr) == (
        2,
        "",
        f"error: {missing}: no such file or folder\n",
    )


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_an_archive_must_hold_one_bag(repo: Repo, tmp_path: Path, scratch: Path) -> None:
    two = _zip(tmp_path / "two.zip", {"a/bagit.txt": b"x", "b/bagit.txt": b"x"})
    result = repo.run("bag", "validate", two, ok=False)
    assert (result.exit_code, result.stderr) == (
        2,
        f"error: {two}: not one bag: a zip or tar of a bag holds one folder (with bagit.txt) "
        "but this one holds 2 (a, b)\n",
    )
    loose = _zip(tmp_path / "loose.zip", {"a.txt": b"x"})
    result = repo.run("bag", "validate", loose, ok=False)
    assert (result.exit_code, result.stderr) == (
        2,
        f"error: {loose}: not one bag: a zip or tar of a bag holds one folder (with bagit.txt) "
        "but this one holds no folder\n",
    )
    # one folder without bagit.txt: not a bag at all, like a folder without one
    nobag = _zip(tmp_path / "nobag.zip", {"scans/a.txt": b"x"})
    result = repo.run("bag", "validate", nobag, ok=False)
    assert (result.exit_code, result.stderr) == (
        2,
        f"error: {nobag}: not a bag: its folder scans/ has no bagit.txt\n",
    )
    assert list(scratch.iterdir()) == []


def test_an_unsafe_archive_is_refused(repo: Repo, tmp_path: Path, scratch: Path) -> None:
    evil = _zip(tmp_path / "evil.zip", {"bag/bagit.txt": b"x", "../escape.txt": b"x"})
    result = repo.run("bag", "validate", evil, ok=False)
    assert (result.exit_code, result.stdout, result.stderr) == (
        2,
        "",
        f"error: {evil}: member '../escape.txt': '..' segment (path traversal)\n",
    )
    assert not (tmp_path / "escape.txt").exists()
    assert not (scratch.parent / "escape.txt").exists()
    assert list(scratch.iterdir()) == []


def test_a_macos_folder_and_a_bag_at_the_top_are_warned_about(
    repo: Repo, src: Path, tmp_path: Path, scratch: Path
) -> None:
    good = _make(repo, src, tmp_path / "glasplaten.zip")
    mac = _rewrite_zip(good, tmp_path / "mac.zip", {"__MACOSX/glasplaten/._bagit.txt": b"x"})
    result = repo.run("bag", "validate", mac)
    assert result.stdout == f"{mac}: valid\n"
    assert result.stderr == (
        "warning: __MACOSX/: folder made by macOS when zipping; not part of the bag, ignored "
        "[archive-extra]\n"
    )
    # the bag's files at the top of the archive (no folder): valid, with a warning
    top = tmp_path / "top.tar"
    with zipfile.ZipFile(good) as zin, tarfile.open(top, "w") as tout:
        for info in zin.infolist():
            if info.is_dir():
                continue
            data = zin.read(info)
            member = tarfile.TarInfo(info.filename.removeprefix("glasplaten/"))
            member.size = len(data)
            tout.addfile(member, io.BytesIO(data))
    result = repo.run("bag", "validate", top)
    assert result.stdout == f"{top}: valid\n"
    assert result.stderr == (
        "warning: the bag is at the top of the archive, not in one folder named after it as "
        "bagit-python, BDBag and DART expect [archive-no-folder]\n"
    )


def test_the_temporary_folder_goes_on_ctrl_c(
    repo: Repo, src: Path, tmp_path: Path, scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = _make(repo, src, tmp_path / "glasplaten.tar.gz")
    seen: list[Path] = []

    def interrupted(root: Path, **_: object) -> None:
        seen.append(root)
        assert (root / "bagit.txt").is_file()
        raise KeyboardInterrupt

    monkeypatch.setattr(serialise, "validate_bag", interrupted)
    result = repo.run("bag", "validate", archive, ok=False)
    assert (result.exit_code, result.stderr) == (130, "interrupted\n")
    assert seen and not seen[0].exists()
    assert list(scratch.iterdir()) == []


def test_a_folder_left_by_a_killed_run_is_removed(
    repo: Repo, src: Path, tmp_path: Path, scratch: Path
) -> None:
    archive = _make(repo, src, tmp_path / "glasplaten.zip")
    # a process that is gone: pid 0 is never a user process
    left = scratch / serialise.partial_name("glasplaten.zip", f"{serialise._host()}-0-1.00")
    (left / "unpacked").mkdir(parents=True)
    other = scratch / "someone-elses-file"
    other.write_text("keep")
    repo.run("bag", "validate", archive)
    assert sorted(p.name for p in scratch.iterdir()) == ["someone-elses-file"]
