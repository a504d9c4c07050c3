"""Which digests a fixity check verifies: SHA-256 by default, PRESERVE_FIXITY_ALGORITHMS, every
digest with --all-digests, and a fallback to whatever the catalogue holds, so a package catalogued
with SHA-512 only (or SHA-256 only) is still checked. Whatever is hashed, the stored manifests of
every algorithm must still agree with the catalogue, and damage must still be caught. The checks
are recorded as PREMIS events that name the digests, on SQLite (read and written through sqlite3)
and PostgreSQL (through SQLAlchemy Core), and read back through the ORM."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.functional.cli import Repo
from tests.s3server import corrupt_object

AWS_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")
PAYLOAD = ("data/a.bin", "data/b.bin", "data/sub/note.txt")


def _ingest(repo: Repo, tmp_path: Path, *locations: str) -> tuple[str, str]:
    repo.run("init")
    args = [a for loc in locations for a in ("--location", loc)]
    repo.run("collections", "add", "photos", *args)
    d = tmp_path / "delivery"
    (d / "sub").mkdir(parents=True)
    (d / "a.bin").write_bytes(os.urandom(2_500_000))  # hashed on its own, in large reads
    (d / "b.bin").write_bytes(os.urandom(150_000))
    (d / "sub" / "note.txt").write_text("a note\n")
    package = repo.json("ingest", d, "--collection", "photos")["packages"][0]
    return package["package_id"], package["key_prefix"]


@pytest.fixture
def stored(tmp_path: Path, storage_url: str) -> tuple[Repo, str, str, str]:
    """A package on the default local location and on a second location (local or S3)."""
    repo = Repo(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'catalogue.sqlite3'}")
    repo.extra_env.update({k: os.environ[k] for k in AWS_VARS if k in os.environ})
    repo.run("init")
    repo.run("locations", "add", "second", storage_url)
    package_id, prefix = _ingest(repo, tmp_path, "default", "second")
    return repo, storage_url, package_id, prefix


@pytest.fixture
def on_database(tmp_path: Path, database_url: str) -> tuple[Repo, str, str]:
    """A package on the default local location, catalogued on SQLite or PostgreSQL."""
    repo = Repo(home=tmp_path / "home", database_url=database_url)
    package_id, prefix = _ingest(repo, tmp_path)
    return repo, package_id, prefix


@pytest.fixture
def catalogue(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Run SQL against a test's catalogue behind preserve's back (as damage or old data would)."""
    engines: list[Any] = []

    def run(repo: Repo, sql: str, **params: Any) -> None:
        engine = create_engine(repo.database_url)
        engines.append(engine)
        with engine.begin() as conn:
            conn.execute(text(sql), params)

    yield run
    for engine in engines:
        engine.dispose()


def _files_in_package(repo: Repo, package_id: str) -> int:
    return sum(1 for _ in repo.json("show", package_id)["files"])


def _fixity_events(repo: Repo, package_id: str) -> list[dict[str, Any]]:
    return [e for e in repo.json("show", package_id)["events"] if e["event_type"] == "fixity check"]


def test_sha256_alone_by_default_and_said_so(stored: tuple[Repo, str, str, str]) -> None:
    repo, _url, package_id, _prefix = stored
    files = _files_in_package(repo, package_id)
    report = repo.json("fixity", "--package", package_id)
    assert report["ok"] is True
    for copy in report["copies"]:
        assert copy["digests_checked"] == {"sha256": files}
        assert copy["manifests_compared"] == ["manifest-sha256.txt", "manifest-sha512.txt"]
    by_location = {c["location"]: c for c in report["copies"]}
    assert by_location["default"]["from_device"] is True
    events = _fixity_events(repo, package_id)[-2:]
    for event in events:
        assert f"digests verified (sha256): sha256 of {files} files" in event["detail"]
        assert "sha512 of" not in event["detail"]
        assert "manifest-sha512.txt" in event["detail"]
    text_output = repo.run("fixity", "--package", package_id).stdout
    assert text_output.count(", sha256\n") == 2


def test_all_digests_verifies_every_digest(stored: tuple[Repo, str, str, str]) -> None:
    repo, _url, package_id, _prefix = stored
    files = _files_in_package(repo, package_id)
    report = repo.json("fixity", "--all", "--all-digests")
    assert report["ok"] is True
    for copy in report["copies"]:
        assert copy["digests_checked"] == {"sha256": files, "sha512": files}
    detail = _fixity_events(repo, package_id)[-1]["detail"]
    assert "every digest the catalogue holds" in detail
    assert f"sha256 of {files} files, sha512 of {files} files" in detail


def test_the_setting_chooses_the_digest(stored: tuple[Repo, str, str, str]) -> None:
    repo, url, package_id, prefix = stored
    files = _files_in_package(repo, package_id)
    repo.extra_env["PRESERVE_FIXITY_ALGORITHMS"] = "SHA-512"
    report = repo.json("fixity", "--package", package_id)
    assert all(c["digests_checked"] == {"sha512": files} for c in report["copies"])
    assert "digests verified (sha512)" in _fixity_events(repo, package_id)[-1]["detail"]
    corrupt_object(url, prefix + "data/b.bin", lambda d: d[:-1] + bytes([d[-1] ^ 0x80]))
    result = repo.run("fixity", "--package", package_id, ok=False)
    assert result.exit_code == 1
    assert "FAILED mismatch: data/b.bin" in result.stderr
    assert "sha512 is" in result.stderr


def test_invalid_setting_is_refused(stored: tuple[Repo, str, str, str]) -> None:
    repo, _url, package_id, _prefix = stored
    for value in ("crc64nvme", "sha256,nonsense", " , "):
        repo.extra_env["PRESERVE_FIXITY_ALGORITHMS"] = value
        result = repo.run("fixity", "--package", package_id, ok=False)
        assert result.exit_code != 0
        assert "PRESERVE_FIXITY_ALGORITHMS" in result.stderr


@pytest.mark.parametrize(
    ("cleared", "setting", "used"),
    [("sha256", None, "sha512"), ("sha512", "sha512", "sha256")],
    ids=["only-sha512-held", "only-sha256-held"],
)
def test_a_file_without_the_chosen_digest_is_checked_with_what_is_held(
    stored: tuple[Repo, str, str, str],
    catalogue: Any,
    cleared: str,
    setting: str | None,
    used: str,
) -> None:
    repo, url, package_id, prefix = stored
    files = _files_in_package(repo, package_id)
    if setting:
        repo.extra_env["PRESERVE_FIXITY_ALGORITHMS"] = setting
    # an older catalogue: the chosen digest is missing for every file (the manifests of that
    # algorithm then disagree with the catalogue, which is right: those are checked separately)
    catalogue(repo, f"UPDATE files SET {cleared} = NULL WHERE package_id = :p", p=package_id)
    report = repo.json("fixity", "--package", package_id, ok=False)
    for copy in report["copies"]:
        assert copy["digests_checked"] == {used: files}
        assert copy["files_checked"] == files
        disagreements = {p["path"] for p in copy["problems"]}
        assert disagreements == set(PAYLOAD)
        assert all(f"manifest-{cleared}.txt disagrees" in p["message"] for p in copy["problems"])
    # the digests that are held still catch damage
    corrupt_object(url, prefix + "data/a.bin", lambda d: d[:100] + bytes([d[100] ^ 1]) + d[101:])
    report = repo.json("fixity", "--package", package_id, ok=False)
    second = next(c for c in report["copies"] if c["location"] == "second")
    assert any(
        p["path"] == "data/a.bin" and p["message"].startswith(f"{used} is ")
        for p in second["problems"]
    )


def test_manifests_of_digests_not_hashed_still_agree_with_the_catalogue(
    stored: tuple[Repo, str, str, str], catalogue: Any
) -> None:
    """Only SHA-256 is recomputed, yet a catalogue SHA-512 that the stored manifest contradicts
    is reported: every manifest is compared with the catalogue entry by entry."""
    repo, _url, package_id, _prefix = stored
    catalogue(
        repo,
        "UPDATE files SET sha512 = :d WHERE package_id = :p AND path = 'data/b.bin'",
        d="0" * 128,
        p=package_id,
    )
    result = repo.run("fixity", "--package", package_id, ok=False)
    assert result.exit_code == 1
    assert "FAILED mismatch: data/b.bin" in result.stderr
    assert "manifest-sha512.txt disagrees with the catalogue" in result.stderr
    assert "data/a.bin" not in result.stderr


def test_extra_algorithms_are_verified_with_all_digests(tmp_path: Path) -> None:
    repo = Repo(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'catalogue.sqlite3'}")
    repo.extra_env["PRESERVE_ALGORITHMS"] = "sha512,sha256,md5"
    package_id, prefix = _ingest(repo, tmp_path)
    files = len(PAYLOAD)  # tag files have no md5 (tag manifests are sha512 and sha256)
    report = repo.json("fixity", "--package", package_id, "--all-digests")
    copy = report["copies"][0]
    assert report["ok"] is True
    assert copy["digests_checked"]["md5"] >= files
    assert "manifest-md5.txt" in copy["manifests_compared"]
    # the md5 manifest is compared with the catalogue's md5 digests too
    corrupt_object(
        (repo.home / "storage").as_uri(),
        prefix + "manifest-md5.txt",
        lambda d: d.replace(b"data/b.bin", b"data/c.bin"),
    )
    result = repo.run("fixity", "--package", package_id, ok=False)
    assert "FAILED mismatch: manifest-md5.txt" in result.stderr  # its own digests differ


def test_events_recorded_without_the_orm_read_back_through_it(
    on_database: tuple[Repo, str, str],
) -> None:
    repo, package_id, prefix = on_database
    repo.run("fixity", "--package", package_id)
    assert len(repo.json("fixity", "--collection", "photos")["copies"]) == 1
    missing = repo.run("fixity", "--collection", "nonesuch", ok=False)
    assert missing.exit_code == 3
    assert "no collection 'nonesuch' in organisation 'default'" in missing.stderr
    corrupt_object(
        (repo.home / "storage").as_uri(), prefix + "data/b.bin", lambda d: d[: len(d) // 2]
    )
    assert repo.json("fixity", "--all", ok=False)["ok"] is False
    show = repo.json("show", package_id)
    events = [e for e in show["events"] if e["event_type"] == "fixity check"]
    assert [e["outcome"] for e in events[-3:]] == ["success", "success", "failure"]
    assert events[-1]["occurred_at"] > events[-2]["occurred_at"]
    assert events[-1]["occurred_at"].endswith("+00:00")
    assert "data/b.bin: size is 75000 bytes, expected 150000" in events[-1]["outcome_detail"]
    (copy,) = show["copies"]
    assert (copy["status"], copy["last_outcome"]) == ("failed", "mismatch")
    assert copy["last_checked_at"] == events[-1]["occurred_at"]
    agents = {e["agent"] for e in events}
    assert len(agents) == 1  # one agent row for preserve, reused


def test_object_replaced_by_a_link_or_a_fifo_is_missing(tmp_path: Path) -> None:
    repo = Repo(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'catalogue.sqlite3'}")
    package_id, prefix = _ingest(repo, tmp_path)
    folder = repo.storage_root / prefix
    outside = tmp_path / "outside.bin"
    (folder / "data" / "a.bin").rename(outside)
    (folder / "data" / "a.bin").symlink_to(outside)  # the same bytes, but not in the location
    (folder / "data" / "b.bin").unlink()
    os.mkfifo(folder / "data" / "b.bin")  # must not hang the check
    result = repo.run("fixity", "--package", package_id, ok=False)
    assert result.exit_code == 1
    assert "FAILED missing: data/a.bin" in result.stderr
    assert "FAILED missing: data/b.bin" in result.stderr


def test_a_catalogue_that_does_not_exist_is_not_created(tmp_path: Path) -> None:
    repo = Repo(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'nowhere.sqlite3'}")
    result = repo.run("fixity", "--all", ok=False)
    assert result.exit_code != 0
    assert "no catalogue at" in result.stderr and "run `preserve init`" in result.stderr
    assert not (tmp_path / "nowhere.sqlite3").exists()


def test_unsafe_paths_in_the_catalogue_are_never_read(tmp_path: Path, catalogue: Any) -> None:
    """A tampered catalogue cannot make a check read outside the location, nor crash it."""
    repo = Repo(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'catalogue.sqlite3'}")
    package_id, _prefix = _ingest(repo, tmp_path)
    catalogue(
        repo,
        "UPDATE files SET path = 'data/../../../../etc/hostname' "
        "WHERE package_id = :p AND path = 'data/b.bin'",
        p=package_id,
    )
    report = repo.json("fixity", "--package", package_id, ok=False)
    problems = {(p["path"], p["outcome"]) for p in report["copies"][0]["problems"]}
    assert ("data/../../../../etc/hostname", "missing") in problems
    assert ("data/b.bin", "unexpected") in problems
    catalogue(repo, "UPDATE copies SET key_prefix = '../outside/'")
    result = repo.run("fixity", "--package", package_id, ok=False)
    assert result.exit_code == 1
    assert "FAILED error: (copy)" in result.stderr and "unsafe" in result.stderr
    assert repo.json("show", package_id)["copies"][0]["last_outcome"] == "error"


def test_a_failing_manifest_comparison_fails_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What goes wrong while the manifests are compared must surface, never pass silently."""
    import preserve.services.fixity as fixity

    repo = Repo(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'catalogue.sqlite3'}")
    package_id, _prefix = _ingest(repo, tmp_path)

    def broken(*args: object) -> list[object]:
        raise RuntimeError("the comparison broke")

    monkeypatch.setattr(fixity, "_compare_manifest", broken)
    monkeypatch.setenv("PRESERVE_DEBUG", "1")
    with pytest.raises(RuntimeError, match="the comparison broke"):
        repo.run("fixity", "--package", package_id, ok=False)
