"""The number of files of a package is its payload files (not its tag files) in every command
that prints it: ingest, packages list, show, fixity and export, as text and as JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.functional.cli import Repo


def test_every_command_prints_the_same_number_of_files(tmp_path: Path, database_url: str) -> None:
    repo = Repo(home=tmp_path / "home", database_url=database_url)
    repo.run("init")
    repo.run("collections", "add", "photos")
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_text("a" * 1000)
    (d / "b.txt").write_text("b" * 2000)
    (d / "sub" / "c.txt").write_text("c" * 3000)

    ingest = repo.run("ingest", d, "--collection", "photos").stdout
    assert re.search(r"^stored \S+  3 files, 6\.0 KB  ", ingest, re.M), ingest
    package_id = repo.packages()[0]["id"]
    assert repo.packages()[0]["files"] == 3 and repo.packages()[0]["bytes"] == 6000

    listed = repo.run("packages", "list").stdout
    assert re.search(r"  3 files  6\.0 KB  ", listed), listed

    shown = repo.run("show", package_id).stdout
    assert re.search(r"^size\s+3 files, 6\.0 KB$", shown, re.M), shown
    summary = json.loads(repo.run("show", package_id, "--json").stdout)["summary"]
    assert (summary["files"], summary["bytes"]) == (3, 6000)

    fixity = repo.run("fixity", "--package", package_id).stdout
    assert re.search(r"^ok\s+\S+ on default: 3 files, 6\.0 KB \(and \d+ tag files\)", fixity, re.M)
    copy = repo.json("fixity", "--package", package_id)["copies"][0]
    assert (copy["payload_files"], copy["payload_bytes"]) == (3, 6000)
    assert copy["files_checked"] > 3  # the tag files are checked too, and said apart

    exported = repo.run("export", package_id, tmp_path / "out").stdout
    assert ": 3 files, 6.0 KB" in exported, exported
    result = repo.json("export", package_id, tmp_path / "out2")
    assert (result["files"], result["bytes"]) == (3, 6000)


def test_one_file_is_singular_everywhere(tmp_path: Path, database_url: str) -> None:
    repo = Repo(home=tmp_path / "home", database_url=database_url)
    repo.run("init")
    repo.run("collections", "add", "photos")
    (tmp_path / "one.txt").write_text("x" * 10)
    assert (
        " 1 file, 10 B  "
        in repo.run("ingest", tmp_path / "one.txt", "--collection", "photos").stdout
    )
    package_id = repo.packages()[0]["id"]
    assert "  1 file  " in repo.run("packages", "list").stdout
    assert re.search(r"^size\s+1 file, 10 B$", repo.run("show", package_id).stdout, re.M)
    assert ": 1 file, 10 B (and " in repo.run("fixity", "--all").stdout
    assert ": 1 file, 10 B" in repo.run("export", package_id, tmp_path / "out").stdout
