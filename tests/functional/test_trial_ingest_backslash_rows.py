"""A metadata CSV row written with Windows backslashes (``brieven-1950\\brief-01.txt``, as
Excel users on Windows write it) describes that file instead of being dropped with a warning;
a row inside a delivery that names no file of it is refused with every such row at once, and
nothing is ingested (issue 8, new-user trial point 4)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from tests.functional.cli import Repo


def _delivery(tmp_path: Path) -> Path:
    folder = tmp_path / "brieven-1950"
    (folder / "map").mkdir(parents=True)
    (folder / "brief-01.txt").write_text("Beste,\n")
    (folder / "map" / "brief-02.txt").write_text("Geachte,\n")
    return folder


def _descriptions(repo: Repo, package_id: str) -> dict[str, object]:
    shown = repo.json("show", package_id)
    return {f["path"]: f.get("description") for f in shown["files"] if f["role"] == "payload"}


def test_backslash_rows_describe_their_files(repo: Repo, tmp_path: Path) -> None:
    folder = _delivery(tmp_path)
    csv = tmp_path / "levering.csv"
    csv.write_text(
        "path,title\n"
        "brieven-1950,Brieven\n"
        "brieven-1950\\brief-01.txt,Eerste brief\n"
        "brieven-1950\\map\\brief-02.txt,Tweede brief\n",
        encoding="utf-8",
    )
    result = repo.run("ingest", folder, "--collection", "photos", "--metadata", csv)
    assert "not being ingested" not in result.stderr, result.stderr
    package_id = repo.packages()[0]["id"]
    assert _descriptions(repo, package_id) == {
        "data/brief-01.txt": {"title": ["Eerste brief"]},
        "data/map/brief-02.txt": {"title": ["Tweede brief"]},
    }


def test_backslash_rows_naming_no_file_are_all_refused(repo: Repo, tmp_path: Path) -> None:
    folder = _delivery(tmp_path)
    csv = tmp_path / "levering.csv"
    csv.write_text(
        "path,title\n"
        "brieven-1950,Brieven\n"
        "brieven-1950\\brief-09.txt,Negende brief\n"
        "brieven-1950\\map\\brief-01.txt,Verkeerde map\n"
    )
    result = repo.run("ingest", folder, "--collection", "photos", "--metadata", csv, ok=False)
    assert result.exit_code == 2
    # the paths as the CSV writes them: backslashes single, not doubled as Python would show
    assert result.stderr == (
        f"error: 2 rows name files that are not in the delivery {folder}: "
        f"{csv}, line 3 ('brieven-1950\\brief-09.txt'); "
        f"{csv}, line 4 ('brieven-1950\\map\\brief-01.txt') (a row for one file gives the "
        "delivery's path, then / or \\, then the file's path inside it, e.g. "
        "brieven-1950\\sub\\a.txt)\n"
    )
    assert "\\\\" not in result.stderr
    assert repo.packages() == []
    assert repo.stored_keys() == []
    assert repo.staging_entries() == []


def test_a_row_naming_a_folder_inside_the_delivery_is_refused(repo: Repo, tmp_path: Path) -> None:
    folder = _delivery(tmp_path)
    csv = tmp_path / "levering.csv"
    csv.write_text("path,title\nbrieven-1950,Brieven\nbrieven-1950\\map,Een map\n")
    result = repo.run("ingest", folder, "--collection", "photos", "--metadata", csv, ok=False)
    assert (result.exit_code, result.stderr) == (
        2,
        "error: row names a folder, not a file: item rows describe single files: "
        f"{csv}, line 3 ('brieven-1950\\map')\n",
    )
    assert repo.packages() == []
    assert repo.stored_keys() == []


def test_a_row_naming_a_folder_inside_a_zip_is_refused(repo: Repo, tmp_path: Path) -> None:
    folder = _delivery(tmp_path)
    archive = tmp_path / "brieven-1950.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*.txt")):
            zf.write(path, path.relative_to(tmp_path).as_posix())
    csv = tmp_path / "levering.csv"
    csv.write_text(
        "path,title\nbrieven-1950.zip,Brieven\nbrieven-1950.zip\\map,Een map\n"
        "brieven-1950.zip\\nope.txt,Geen brief\n"
    )
    result = repo.run("ingest", archive, "--collection", "photos", "--metadata", csv, ok=False)
    assert (result.exit_code, result.stderr.splitlines()[-1]) == (
        2,
        "error: row names a folder, not a file: item rows describe single files: "
        f"{csv}, line 3 ('brieven-1950.zip\\map'); and row names a file that is not in the "
        f"delivery {archive}: {csv}, line 4 ('brieven-1950.zip\\nope.txt') (a row for one file "
        "gives the delivery's path, then / or \\, then the file's path inside it, e.g. "
        "brieven-1950.zip\\sub\\a.txt)",
    )
    assert repo.packages() == []
    assert repo.staging_entries() == []
