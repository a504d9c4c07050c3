"""Ingest warns once for each problem of a file, the same problems ``preserve show`` marks and
``preserve identify`` reports (one shared check), on stderr and in the JSON ``warnings``; every
warning names the file by its path inside the delivery, never with the bag's ``data/``
(issue 8, new-user trial points 2 and 3)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

from PIL import Image

from tests.functional.cli import Repo


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((256, 192), 60).convert("RGB").save(buffer, "JPEG")
    return buffer.getvalue()


def _delivery(root: Path) -> Path:
    (root / "scans").mkdir(parents=True)
    data = _jpeg()
    (root / "scans" / "scan-001.jpg").write_bytes(data)
    (root / "scans" / "scan-005.jpg").write_bytes(data[: len(data) // 2])  # cut short
    (root / "blob.qqq").write_bytes(os.urandom(4096))
    (root / "lijst.csv").write_text("naam,jaar\nGent,1923\n")
    (root / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(100))
    return root


def test_ingest_warns_for_what_show_marks(repo: Repo, tmp_path: Path) -> None:
    delivery = _delivery(tmp_path / "glasplaten-1923")
    result = repo.run("ingest", delivery, "--collection", "photos", "--json")
    package = json.loads(result.stdout)["packages"][0]
    warned = {(w["path"], w["message"]) for w in package["warnings"]}

    shown = repo.json("show", package["package_id"])
    marked = {
        (f["path"].removeprefix("data/"), problem)
        for f in shown["files"]
        if f["role"] == "payload"
        for problem in f["problems"]
    }
    # the same files for the same reasons: everything show marks was warned about at ingest
    assert marked <= warned, (marked, warned)
    assert {path for path, _ in marked} == {"scans/scan-005.jpg", "blob.qqq", "lijst.csv"}
    assert ("lijst.csv", "identification warning: match on extension only") in warned
    assert any(p == "scans/scan-005.jpg" and m.startswith("image does not decode completely: ")
               for p, m in warned)  # fmt: skip
    assert any(p == "blob.qqq" and m.startswith("format not identified (no PRONOM match)")
               for p, m in warned)  # fmt: skip
    # what ingest warns of beyond show's marks is about the delivery, not a file's format
    assert {p for p, _ in warned - marked} == {".DS_Store"}

    # and preserve identify reports the same problems of the same files
    found = [
        json.loads(line) for line in repo.run("identify", delivery, "--json").stdout.splitlines()
    ]
    identified = {
        (Path(f["path"]).relative_to(delivery).as_posix(), problem["message"])
        for f in found
        for problem in f["problems"]
    }
    assert identified == marked

    # on stderr: once per problem, each file by its path inside the delivery
    lines = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(lines) == len(set(lines)) == len(warned)
    assert all(line.startswith("warning: glasplaten-1923/") for line in lines), lines
    assert not any("/data/" in line for line in lines), lines
    assert any(line.startswith("warning: glasplaten-1923/scans/scan-005.jpg: image does not ")
               for line in lines)  # fmt: skip
    assert any(line.startswith("warning: glasplaten-1923/.DS_Store: ") for line in lines)


def test_a_single_file_delivery_is_warned_about_by_its_name(repo: Repo, tmp_path: Path) -> None:
    blob = tmp_path / "blob.qqq"
    blob.write_bytes(os.urandom(4096))
    result = repo.run("ingest", blob, "--collection", "photos")
    assert [line for line in result.stderr.splitlines() if line.startswith("warning: ")] == [
        "warning: blob.qqq: format not identified (no PRONOM match): no match"
    ]


def test_a_bag_names_its_files_with_data(repo: Repo, tmp_path: Path) -> None:
    """In an incoming bag a file is at data/... inside the delivery: its warnings say so."""
    folder = _delivery(tmp_path / "bron")
    (folder / ".DS_Store").unlink()
    bag = tmp_path / "zak"
    repo.run("bag", "make", folder, bag)
    result = repo.run("ingest", bag, "--collection", "photos")
    lines = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert sorted(line.split(":")[1] for line in lines) == [
        " zak/data/blob.qqq",
        " zak/data/lijst.csv",
        " zak/data/scans/scan-005.jpg",
        " zak/data/scans/scan-005.jpg",
    ], lines
