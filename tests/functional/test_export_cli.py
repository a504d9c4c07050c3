"""`preserve export` against damaged copies and after killed exports (issue 7).

Damage that an export finds must be recorded as a fixity check of that copy would record it,
and the temporary folders of a killed export must not stay next to the destination for good."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from preserve.bagit import serialise
from tests.functional.cli import Repo, two_location_package
from tests.s3server import corrupt_object


@pytest.fixture
def stored(tmp_path: Path, database_url: str, storage_url: str) -> tuple[Repo, dict[str, Any]]:
    """A package stored on the default local location (read first by export) and on a second
    location (local or S3); returns the repository and ``preserve show`` of the package."""
    repo = Repo(home=tmp_path / "home", database_url=database_url)
    package_id = two_location_package(repo, tmp_path / "delivery", storage_url)["package_id"]
    return repo, repo.json("show", package_id)


def _copy(show: dict[str, Any], location: str) -> dict[str, Any]:
    return next(c for c in show["copies"] if c["location"] == location)


def _damage(show: dict[str, Any], location: str, mutate: Callable[[bytes], bytes | None]) -> None:
    copy = _copy(show, location)
    corrupt_object(copy["url"], copy["key_prefix"] + "data/a.bin", mutate)


def _flip(data: bytes) -> bytes:
    return data[:100] + bytes([data[100] ^ 0x01]) + data[101:]


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_damaged_copy_is_skipped_and_recorded_as_a_failed_fixity_check(
    stored: tuple[Repo, dict[str, Any]], tmp_path: Path
) -> None:
    repo, show = stored
    package_id = show["summary"]["id"]
    original = (tmp_path / "delivery" / "a.bin").read_bytes()
    expected = hashlib.sha256(original).hexdigest()
    found = hashlib.sha256(_flip(original)).hexdigest()
    _damage(show, "default", _flip)

    out = tmp_path / "exports" / "bag"
    out.parent.mkdir()
    result = repo.run("export", package_id, out)
    assert result.exit_code == 0  # the export is whole and valid; the damage is recorded
    assert f"from second to {out}" in result.stdout
    # one warning that says what was found, what was done and what to do
    assert result.stderr == (
        f"warning: copy on location default is damaged: data/a.bin: sha256 is {found}, "
        f"expected {expected}; recorded as a failed fixity check (mismatch); exported from "
        f"location second instead; run preserve fixity --package {package_id} to check every "
        "copy in full; the damaged copy is not repaired yet\n"
    )
    assert (out / "data" / "a.bin").read_bytes() == original  # from the good copy
    assert _hidden(out.parent) == []

    after = repo.json("show", package_id)
    damaged = _copy(after, "default")
    assert (damaged["status"], damaged["last_outcome"]) == ("failed", "mismatch")
    assert damaged["last_checked_at"] is not None
    assert (_copy(after, "second")["status"], _copy(after, "second")["last_outcome"]) == (
        "verified",
        "ok",
    )
    failed = [
        e
        for e in after["events"]
        if e["event_type"] == "fixity check" and e["outcome"] == "failure"
    ]
    assert len(failed) == 1
    assert failed[0]["outcome_detail"] == (
        f"mismatch: data/a.bin: sha256 is {found}, expected {expected}"
    )
    assert "of location default while exporting the package to" in failed[0]["detail"]
    assert "digests verified (sha256, sha512)" in failed[0]["detail"]
    text = repo.run("show", package_id).stdout
    assert "default      failed    last checked" in text
    assert [p["verified_copies"] for p in repo.packages()] == [1]

    # fixity agrees: the copy is damaged, and says so on its own
    fixity = repo.json("fixity", "--package", package_id, ok=False)
    assert {c["location"]: c["outcome"] for c in fixity["copies"]} == {
        "default": "mismatch",
        "second": "ok",
    }

    # a later export no longer tries the failed copy, and warns of nothing
    again = repo.run("export", package_id, tmp_path / "exports" / "again")
    assert "from second" in again.stdout
    assert again.stderr == ""


@pytest.mark.parametrize(
    ("mutate", "outcome", "status", "message"),
    [
        (lambda d: d[: len(d) // 2], "mismatch", "failed", "size is 100000 bytes, expected 200000"),
        (lambda d: None, "missing", "missing", "object is missing"),
    ],
    ids=["truncated", "deleted"],
)
def test_a_truncated_or_missing_object_is_recorded_like_fixity_records_it(
    stored: tuple[Repo, dict[str, Any]],
    tmp_path: Path,
    mutate: Callable[[bytes], bytes | None],
    outcome: str,
    status: str,
    message: str,
) -> None:
    repo, show = stored
    package_id = show["summary"]["id"]
    _damage(show, "default", mutate)
    exported = repo.json("export", package_id, tmp_path / "bag")
    assert exported["location"] == "second"
    assert len(exported["damaged"]) == 1 and message in exported["damaged"][0]
    after = repo.json("show", package_id)
    damaged = _copy(after, "default")
    assert (damaged["status"], damaged["last_outcome"]) == (status, outcome)
    event = after["events"][-2]  # then the dissemination
    assert (event["event_type"], event["outcome"]) == ("fixity check", "failure")
    assert event["outcome_detail"].startswith(f"{outcome}: data/a.bin: {message}")
    assert after["events"][-1]["event_type"] == "dissemination"


def test_every_copy_damaged_fails_and_leaves_nothing(
    stored: tuple[Repo, dict[str, Any]], tmp_path: Path
) -> None:
    repo, show = stored
    package_id = show["summary"]["id"]
    _damage(show, "default", _flip)
    _damage(show, "second", lambda d: d[:1000])
    out = tmp_path / "exports" / "bag"
    out.parent.mkdir()
    result = repo.run("export", package_id, out, ok=False)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert f"package {package_id} could not be exported: every copy is damaged" in result.stderr
    assert "copy on location default is damaged: data/a.bin: sha256 is" in result.stderr
    assert "copy on location second is damaged: data/a.bin: size is 1000 bytes" in result.stderr
    assert result.stderr.endswith(
        f"; run preserve fixity --package {package_id} to check every copy in full; "
        "the damaged copy is not repaired yet\n"
    )
    assert result.stderr.count("\n") == 1
    assert list(out.parent.iterdir()) == []  # no bag, no hidden partial folder

    after = repo.json("show", package_id)
    assert {c["location"]: c["status"] for c in after["copies"]} == {
        "default": "failed",
        "second": "failed",
    }
    assert [e["event_type"] for e in after["events"] if e["outcome"] == "failure"] == [
        "fixity check",
        "fixity check",
    ]
    assert "dissemination" not in [e["event_type"] for e in after["events"]]

    # with no verified copy left, export says so and which copies there are
    result = repo.run("export", package_id, out, ok=False)
    assert result.exit_code == 1
    assert "no verified copy to export from (copies: default failed, second failed)" in (
        result.stderr
    )
    assert list(out.parent.iterdir()) == []


# ------------------------------------------------------------------ killed exports

OWNED_BY_CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from preserve.bagit.serialise import partial_name
    folder = Path(sys.argv[1]) / partial_name("bag")
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "half.bin").write_bytes(b"x" * 1000)
    print(folder.name, flush=True)
    if sys.argv[2] == "wait":
        sys.stdin.read()
    """
)


def _partial_left_by_dead_process(parent: Path) -> str:
    """A temporary export folder made with export's own naming by a process that then exited
    (as if killed) and was reaped: its pid names no process now."""
    done = subprocess.run(
        [sys.executable, "-c", OWNED_BY_CHILD, str(parent), "exit"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def _partial_of_running_process(parent: Path) -> tuple[str, subprocess.Popen[str]]:
    """The same, by a process still running (until its stdin is closed)."""
    child = subprocess.Popen(
        [sys.executable, "-c", OWNED_BY_CHILD, str(parent), "wait"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    return child.stdout.readline().strip(), child


@pytest.fixture
def one_copy(tmp_path: Path) -> tuple[Repo, str]:
    repo = Repo(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'catalogue.sqlite3'}")
    repo.run("init")
    repo.run("collections", "add", "photos")
    d = tmp_path / "delivery"
    d.mkdir()
    (d / "a.txt").write_text("a\n")
    package_id = repo.json("ingest", d, "--collection", "photos")["packages"][0]["package_id"]
    return repo, package_id


def test_the_next_export_removes_what_killed_exports_left(
    one_copy: tuple[Repo, str], tmp_path: Path
) -> None:
    repo, package_id = one_copy
    parent = tmp_path / "exports"
    parent.mkdir()
    dead = _partial_left_by_dead_process(parent)
    running, live_child = _partial_of_running_process(parent)
    try:
        host, pid, start = serialise.owner_tag().rsplit("-", 2)
        # this test's own pid with another start time: the pid was reused by a new process
        reused = f".bag.partial-{host}-{pid}-{float(start) - 600:.2f}-0123456789ab"
        mine = f".bag.partial-{host}-{pid}-{start}-0123456789ab"  # this very process: alive
        elsewhere = f".bag.partial-another-host.example-{pid}-1.00-0123456789ab"
        old_style = ".bag.partial-" + "0" * 32  # unnamed owner: cannot tell, so left alone
        unrelated = ".cache"
        for name in (reused, mine, elsewhere, old_style, unrelated):
            (parent / name).mkdir()
            (parent / name / "file").write_text("x")
        assert dead and running and dead != running

        result = repo.run("export", package_id, parent / "bag")
        assert f"removed {parent / dead}, left by a killed run" in result.stderr
        assert f"removed {parent / reused}, left by a killed run" in result.stderr
        assert sorted(p.name for p in parent.iterdir()) == sorted(
            ["bag", running, mine, elsewhere, old_style, unrelated]
        )
        assert (parent / running / "data" / "half.bin").stat().st_size == 1000
    finally:
        live_child.communicate()

    # once the running one has ended, the next export removes its folder too
    exported = repo.json("export", package_id, parent / "bag2")
    assert exported["removed_leftovers"] == [str(parent / running)]
    assert not (parent / running).exists()


def test_an_export_elsewhere_leaves_other_folders_alone(
    one_copy: tuple[Repo, str], tmp_path: Path
) -> None:
    repo, package_id = one_copy
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    dead = _partial_left_by_dead_process(tmp_path / "a")
    repo.run("export", package_id, tmp_path / "b" / "bag")
    assert (tmp_path / "a" / dead).is_dir()  # only the destination's own folder is cleaned


def test_temporary_names_say_who_owns_them() -> None:
    owner = serialise.owner_tag()
    long_name = "é" * 200  # 400 bytes: more than a file name may hold
    for name in ("bag", "my-bag.2024-01", long_name, ".partial-x"):
        partial = serialise.partial_name(name, owner)
        assert len(os.fsencode(partial)) <= 255
        m = serialise.PARTIAL.fullmatch(partial)
        assert m is not None, partial
        assert f"{m['host']}-{m['pid']}-{m['start']}" == owner
        assert int(m["pid"]) == os.getpid()
    host = "build-7.example-2"
    m = serialise.PARTIAL.fullmatch(f".x.partial-{host}-42-1700000000.25-0123456789ab")
    assert m is not None
    assert (m["host"], m["pid"], m["start"]) == (host, "42", "1700000000.25")
