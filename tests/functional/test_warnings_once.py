"""One warning per problem, in one style: ``warning: <delivery>/<path in it>: <message>``, on
stderr exactly once (the bag writer's second look at the names used to repeat them, with the
AIP's data/ paths); a failed package is one ``error:`` line naming each problem once. These
run the real command line in a subprocess, where logging goes to stderr as for an operator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import bagit

from tests.functional.cli import Repo

REPO_ROOT = Path(__file__).resolve().parents[2]
SYSTEM_FILE = "an operating-system file, not content; kept as payload"
UNKNOWN = "format not identified (no PRONOM match): no match"


def run(repo: Repo, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "preserve.cli", *map(str, args)],
        env={**os.environ, **repo.env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _delivery(path: Path) -> Path:
    (path / "sub").mkdir(parents=True)
    (path / "photo.txt").write_text("a photo\n")
    (path / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (path / "sub" / "Thumbs.db").write_bytes(b"thumbs")
    (path / "sub" / "empty.txt").write_bytes(b"")
    return path


def test_each_warning_once_with_the_path_in_the_delivery(repo: Repo, tmp_path: Path) -> None:
    result = run(repo, "ingest", _delivery(tmp_path / "delivery"), "--collection", "photos")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[:3] == [
        "warning: delivery/sub/empty.txt: zero-byte file",
        "warning: delivery/.DS_Store: " + SYSTEM_FILE,
        "warning: delivery/sub/Thumbs.db: " + SYSTEM_FILE,
    ]
    # what show marks as well: siegfried knows neither system file's format
    assert len(lines) == 5
    assert lines[3].startswith("warning: delivery/.DS_Store: " + UNKNOWN)
    assert lines[4].startswith("warning: delivery/sub/Thumbs.db: " + UNKNOWN)
    # the same problems, each once, in the JSON (and on stderr)
    (tmp_path / "again").mkdir()
    _delivery(tmp_path / "again" / "delivery2")
    result = run(
        repo, "ingest", tmp_path / "again" / "delivery2", "--collection", "photos", "--json"
    )
    warnings = json.loads(result.stdout)["packages"][0]["warnings"]
    assert sorted((w["code"], w["path"]) for w in warnings) == [
        ("empty-file", "sub/empty.txt"),
        ("system-file", ".DS_Store"),
        ("system-file", "sub/Thumbs.db"),
    ]
    assert len(result.stderr.splitlines()) == 3 and result.stderr.count("warning: ") == 3


def test_a_bag_delivery_names_its_files_as_the_bag_has_them(repo: Repo, tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    bag.mkdir()
    (bag / "photo.txt").write_text("a photo\n")
    (bag / "Thumbs.db").write_bytes(b"thumbs")
    bagit.make_bag(str(bag), checksums=["sha256"])
    result = run(repo, "ingest", bag, "--collection", "photos")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == "warning: bag/data/Thumbs.db: " + SYSTEM_FILE
    assert len(lines) == 2 and lines[1].startswith("warning: bag/data/Thumbs.db: " + UNKNOWN)


def test_quiet_prints_no_warning(repo: Repo, tmp_path: Path) -> None:
    result = run(repo, "-q", "ingest", _delivery(tmp_path / "d"), "--collection", "photos")
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.splitlines()[-1] == "1 package stored (4 files, 22 B)"


def test_a_failed_package_is_one_error_line(repo: Repo, tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    bag.mkdir()
    (bag / "a.txt").write_text("a\n")
    bagit.make_bag(str(bag), checksums=["sha256"])
    (bag / "data" / "a.txt").write_text("changed\n")
    (bag / "data" / "extra.txt").write_text("extra\n")
    good = _delivery(tmp_path / "good")
    result = run(repo, "ingest", bag, good, "--collection", "photos")
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {bag}: invalid bag"), result.stderr
    for problem in ("data/extra.txt", "data/a.txt"):
        assert result.stderr.count(problem) == 1, result.stderr
    assert result.stderr.count("warning: ") == 5
    assert "WARNING " not in result.stderr and "ERROR " not in result.stderr
    assert result.stdout.splitlines()[-1] == "1 package stored (4 files, 22 B), 1 failed"
