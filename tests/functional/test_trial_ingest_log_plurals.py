"""Counts in the log file are in the right number: ``1 object``, ``1 payload file``, ``1 file,
1 byte`` for a one-file delivery, never ``1 objects`` or ``1 files`` (issue 8, new-user trial)."""

from __future__ import annotations

import re
from pathlib import Path

from preserve.text import plural
from tests.functional.cli import Repo


def test_plural() -> None:
    assert [plural(n, "file") for n in (0, 1, 2)] == ["0 files", "1 file", "2 files"]
    assert plural(1, "copy", "copies") == "1 copy"
    assert plural(3, "copy", "copies") == "3 copies"


def test_a_one_file_delivery_is_logged_in_the_singular(tmp_path: Path, database_url: str) -> None:
    repo = Repo(home=tmp_path / "home", database_url=database_url)
    repo.run("init")
    repo.run("collections", "add", "photos")
    log = tmp_path / "preserve.log"
    delivery = tmp_path / "d"
    delivery.mkdir()
    (delivery / "one.txt").write_bytes(b"x")  # one file of one byte
    repo.run("--log-file", log, "ingest", delivery, "--collection", "photos")
    repo.run("--log-file", log, "fixity", "--all")
    text = log.read_text(encoding="utf-8")
    package_id = repo.packages()[0]["id"]

    assert f"package {package_id} stored from {delivery}: 1 file, 1 byte, copies on default" in text
    assert re.search(r"bag written: 1 payload file, 1 byte\n", text), text
    assert re.search(r"payload stored and verified on default \(1 object, 1 byte\)", text), text
    assert re.search(r"metadata stored and verified on default \(\d+ objects, \d+ bytes\)", text)
    assert re.search(
        rf"fixity of package {package_id} on default: "
        r"ok \(\d+ files, \d+ bytes checked, 0 problems\)",
        text,
    ), text
    for wrong in ("1 objects", "1 files", "1 payload files", "1 bytes", "1 problems"):
        assert f" {wrong}" not in text and f"({wrong}" not in text, (wrong, text)
