"""Every long command ends with a one-line summary, singular forms right: ingest ("2 packages
stored (3 files, 9 B), 1 already preserved, 1 failed") and fixity ("2 copies ok, 1 failed")."""

from __future__ import annotations

from pathlib import Path

from tests.functional.cli import Repo


def _repo(tmp_path: Path, database_url: str) -> Repo:
    repo = Repo(home=tmp_path / "home", database_url=database_url)
    repo.run("init")
    repo.run("collections", "add", "photos")
    return repo


def _folder(path: Path, *contents: str) -> Path:
    path.mkdir()
    for i, text in enumerate(contents):
        (path / f"f{i}.txt").write_text(text)
    return path


def test_ingest_ends_with_a_summary(tmp_path: Path, database_url: str) -> None:
    repo = _repo(tmp_path, database_url)
    one = _folder(tmp_path / "one", "abc")
    result = repo.run("ingest", one, "--collection", "photos")
    assert result.stdout.splitlines()[-1] == "1 package stored (1 file, 3 B)"

    two = _folder(tmp_path / "two", "abcd", "ef")
    three = _folder(tmp_path / "three", "xyz")
    empty = _folder(tmp_path / "empty")
    result = repo.run("ingest", two, one, empty, three, "--collection", "photos", ok=False)
    assert result.exit_code == 2, result.stderr
    assert result.stdout.splitlines()[-1] == (
        "2 packages stored (3 files, 9 B), 1 already preserved, 1 failed"
    )
    assert result.stderr == f"error: {empty}: nothing to ingest (no regular files)\n"

    result = repo.run("ingest", one, two, "--collection", "photos")
    assert result.stdout.splitlines()[-1] == "0 packages stored, 2 already preserved"
    # --json: the same summary inside the JSON, and stdout is the JSON alone
    assert repo.json("ingest", one, "--collection", "photos")["summary"] == (
        "0 packages stored, 1 already preserved"
    )


def test_fixity_ends_with_a_summary(tmp_path: Path, database_url: str) -> None:
    repo = _repo(tmp_path, database_url)
    repo.run("ingest", _folder(tmp_path / "a", "aaa"), "--collection", "photos")
    assert repo.run("fixity", "--all").stdout.splitlines()[-1] == "1 copy ok"
    repo.run("ingest", _folder(tmp_path / "b", "bbb"), "--collection", "photos")
    repo.run("ingest", _folder(tmp_path / "c", "ccc"), "--collection", "photos")
    assert repo.run("fixity", "--all").stdout.splitlines()[-1] == "3 copies ok"

    stored = sorted(repo.storage_root.rglob("f0.txt"))  # one payload file of each package
    assert len(stored) == 3
    stored[0].chmod(0o644)
    stored[0].write_text("bbx")
    result = repo.run("fixity", "--all", ok=False)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1] == "2 copies ok, 1 failed"
    assert sum(line.startswith("FAILED ") for line in result.stderr.splitlines()) == 1
    stored[1].chmod(0o644)
    stored[1].write_text("xxx")
    stored[2].chmod(0o644)
    stored[2].unlink()
    result = repo.run("fixity", "--all", ok=False)
    assert result.stdout.splitlines()[-1] == "0 copies ok, 3 failed"


def test_no_summary_when_there_is_nothing_to_check(tmp_path: Path, database_url: str) -> None:
    repo = _repo(tmp_path, database_url)
    assert repo.run("fixity", "--all").stdout == "no stored copies to check\n"
