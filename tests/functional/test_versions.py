"""Versions of a package through the real command line (issue 9): `preserve ingest PATH
--new-version-of ID` and `preserve describe ID`, on a local and an S3 location, with what the
location holds counted to prove that unchanged content is neither sent nor stored twice."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.functional.cli import AWS_VARS, Repo


def _s3(url: str) -> tuple[Any, str, str]:
    """A plain boto3 client for the S3 location at ``url``, its bucket and its key prefix
    (read with boto3 directly, not through preserve's storage layer)."""
    import boto3
    from botocore.config import Config

    parts = urlsplit(url)
    client = boto3.client(
        "s3",
        endpoint_url=parse_qs(parts.query)["endpoint_url"][0],
        config=Config(s3={"addressing_style": "path"}),
    )
    return client, parts.netloc, parts.path.strip("/") + "/"


def stored_objects(url: str) -> dict[str, int]:
    """Every object on the location at ``url`` (key below the location's root -> size)."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        root = Path(parts.path)
        return {
            p.relative_to(root).as_posix(): p.stat().st_size
            for p in root.rglob("*")
            if p.is_file() and ".preserve-tmp" not in p.parts
        }
    client, bucket, prefix = _s3(url)
    out: dict[str, int] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            out[obj["Key"][len(prefix) :]] = obj["Size"]
    client.close()
    return out


@pytest.fixture
def versioned(tmp_path: Path, storage_url: str, database_url: str) -> tuple[Repo, str, Path]:
    """A repository (SQLite or PostgreSQL) whose collection 'docs' lives on one location
    (local or S3) only, and the delivery of version 1: (repo, location URL, delivery)."""
    repo = Repo(home=tmp_path / "home", database_url=database_url)
    repo.extra_env.update({k: os.environ[k] for k in AWS_VARS if k in os.environ})
    repo.run("init")
    repo.run("locations", "add", "store", storage_url)
    repo.run("collections", "add", "docs", "--location", "store")
    delivery = tmp_path / "letters"
    (delivery / "scans").mkdir(parents=True)
    (delivery / "scans" / "p1.bin").write_bytes(os.urandom(300_000))
    (delivery / "scans" / "p2.bin").write_bytes(os.urandom(200_000))
    (delivery / "notes.txt").write_text("first notes\n")
    (delivery / "old-name.bin").write_bytes(os.urandom(100_000))
    return repo, storage_url, delivery


def _change(delivery: Path, dest: Path) -> dict[str, int]:
    """Version 2 of the delivery: one file added, one modified, one removed, one renamed."""
    shutil.copytree(delivery, dest)
    (dest / "notes.txt").write_text("corrected notes, longer than before\n")  # modified
    (dest / "scans" / "p2.bin").unlink()  # removed
    (dest / "old-name.bin").rename(dest / "new-name.bin")  # renamed
    (dest / "scans" / "p3.bin").write_bytes(os.urandom(50_000))  # added
    return {"notes.txt": (dest / "notes.txt").stat().st_size, "p3": 50_000}


def _payload_bytes(objects: dict[str, int], package_id: str) -> int:
    return sum(size for key, size in objects.items() if package_id in key and "/data/" in key)


def test_a_new_version_stores_only_what_changed(
    versioned: tuple[Repo, str, Path], tmp_path: Path
) -> None:
    repo, url, delivery = versioned
    v1 = repo.json("ingest", delivery, "--collection", "docs")["packages"][0]
    package_id = v1["package_id"]
    before = stored_objects(url)
    assert _payload_bytes(before, package_id) == 600_000 + len("first notes\n")

    changed = tmp_path / "letters-2"
    sizes = _change(delivery, changed)
    result = repo.json("ingest", changed, "--new-version-of", package_id[:8])
    v2 = result["packages"][0]
    assert (v2["status"], v2["package_id"], v2["version"]) == ("stored", package_id, 2)
    assert v2["changes"] == {
        "added": ["data/scans/p3.bin"],
        "modified": ["data/notes.txt"],
        "removed": ["data/scans/p2.bin"],
        "renamed": [["data/old-name.bin", "data/new-name.bin"]],
        "unchanged": 1,
    }
    new_bytes = sizes["notes.txt"] + sizes["p3"]
    assert v2["stored_bytes"] == new_bytes
    # the location holds each content once: the new version's data/ has only the new files
    after = stored_objects(url)
    assert _payload_bytes(after, package_id) - _payload_bytes(before, package_id) == new_bytes
    v2_data = sorted(k.split("/v2/", 1)[1] for k in after if "/v2/data/" in k)
    assert v2_data == ["data/notes.txt", "data/scans/p3.bin"]
    # the version names the rest in its fetch.txt, at absolute URLs of version 1's objects
    fetch_key = next(k for k in after if k.endswith("/v2/fetch.txt"))
    assert after[fetch_key] > 0
    bag_root = url.split("?", 1)[0].rstrip("/")
    fetch = _read(url, fetch_key).splitlines()
    assert sorted(line.split(" ")[2] for line in fetch) == [
        "data/new-name.bin",
        "data/scans/p1.bin",
    ]
    for line in fetch:
        target, size, _path = line.split(" ")
        assert target.startswith(f"{bag_root}/") and "/v1/data/" in target
        assert int(size) > 0
    assert any(
        line.endswith(" data/new-name.bin") and "/v1/data/old-name.bin" in line for line in fetch
    )
    # its manifests list the whole payload of version 2
    manifest = _read(url, next(k for k in after if k.endswith("/v2/manifest-sha512.txt")))
    assert sorted(line.split("  ", 1)[1] for line in manifest.splitlines()) == [
        "data/new-name.bin",
        "data/notes.txt",
        "data/scans/p1.bin",
        "data/scans/p3.bin",
    ]
    info = _read(url, next(k for k in after if k.endswith("/v2/bag-info.txt")))
    assert "Package-Version: 2" in info
    assert f"Payload-Oxum: {300_000 + 100_000 + sizes['notes.txt'] + 50_000}.4" in info

    # the package is at version 2 now, with the title it had (the delivery gave none)
    show = repo.json("show", package_id)
    assert show["summary"]["version"] == 2
    assert show["summary"]["title"] == "letters"
    assert v2["title_source"] == "version 1"

    # the same content again makes no version
    again = repo.json("ingest", changed, "--new-version-of", package_id)
    assert again["packages"][0]["status"] == "unchanged"
    assert again["stored"] == 0 and again["unchanged"] == 1
    assert stored_objects(url) == after
    text = repo.run("ingest", changed, "--new-version-of", package_id).stdout
    assert f"is identical to version 2 of package {package_id}; no new version made" in text


def test_a_metadata_correction_is_a_version_without_payload(
    versioned: tuple[Repo, str, Path], tmp_path: Path
) -> None:
    repo, url, delivery = versioned
    package_id = repo.json("ingest", delivery, "--collection", "docs")["packages"][0]["package_id"]
    before = stored_objects(url)
    csv = tmp_path / "corrected.csv"
    csv.write_text("path,dc:creator,dcterms:created\nletters,Jan Peeters,1923\n")
    out = repo.json(
        "describe",
        package_id,
        "--metadata",
        csv,
        "--set",
        "dcterms:subject=Harbour",
        "--set",
        "subject=Antwerp",
        "--title",
        "Letters from the harbour",
    )
    assert (out["status"], out["version"]) == ("stored", 2)
    assert out["changed"]["title"] == {"before": ["letters"], "after": ["Letters from the harbour"]}
    assert out["changed"]["subject"]["after"] == ["Harbour", "Antwerp"]
    assert out["changed"]["creator"]["after"] == ["Jan Peeters"]
    after = stored_objects(url)
    new = {k: v for k, v in after.items() if k not in before}
    # only tag files: no payload byte sent or stored again
    assert new and not [k for k in new if "/data/" in k]
    assert _payload_bytes(after, package_id) == _payload_bytes(before, package_id)
    fetch = _read(url, next(k for k in new if k.endswith("/v2/fetch.txt"))).splitlines()
    assert len(fetch) == 4 and all("/v1/data/" in line for line in fetch)
    dc = _read(url, next(k for k in new if k.endswith("/v2/metadata/dc.xml")))
    assert "Letters from the harbour" in dc and "Antwerp" in dc
    premis = _read(url, next(k for k in new if k.endswith("/v2/metadata/premis.xml")))
    assert "metadata modification" in premis
    # the first version's description is still what it was, in its own bag
    assert "Letters from the harbour" not in _read(
        url, next(k for k in before if k.endswith("/v1/metadata/dc.xml"))
    )
    show = repo.json("show", package_id)
    assert show["summary"]["title"] == "Letters from the harbour"
    assert show["summary"]["version"] == 2

    # the same correction again changes nothing and makes no version
    same = repo.json("describe", package_id, "--title", "Letters from the harbour")
    assert same["status"] == "unchanged" and same["version"] == 2


def _read(url: str, key: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "file":
        return (Path(parts.path) / key).read_text(encoding="utf-8")
    client, bucket, prefix = _s3(url)
    body = client.get_object(Bucket=bucket, Key=prefix + key)["Body"].read()
    client.close()
    return body.decode("utf-8")


# --------------------------------------------------------------------------- bad input


@pytest.fixture
def one(repo: Repo, tmp_path: Path) -> tuple[Repo, str, Path]:
    delivery = tmp_path / "delivery"
    delivery.mkdir()
    (delivery / "a.txt").write_text("a\n")
    package_id = repo.json("ingest", delivery, "--collection", "photos")["packages"][0][
        "package_id"
    ]
    return repo, package_id, delivery


def test_a_new_version_of_a_package_that_does_not_exist(one: tuple[Repo, str, Path]) -> None:
    repo, _package_id, delivery = one
    result = repo.run("ingest", delivery, "--new-version-of", "0f0f0f0f", ok=False)
    assert result.exit_code != 0
    assert result.stderr.startswith("error: ") and "0f0f0f0f" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_a_new_version_names_the_package_collection_only(
    one: tuple[Repo, str, Path], tmp_path: Path
) -> None:
    repo, package_id, delivery = one
    repo.run("collections", "add", "other")
    result = repo.run(
        "ingest", delivery, "--collection", "other", "--new-version-of", package_id, ok=False
    )
    assert result.exit_code == 2
    assert "is in collection 'photos', not 'other'" in result.stderr
    second = tmp_path / "second"
    second.mkdir()
    (second / "b.txt").write_text("b\n")
    result = repo.run("ingest", delivery, second, "--new-version-of", package_id, ok=False)
    assert result.exit_code == 2
    assert "one new version from one delivery; 2 were given" in result.stderr
    result = repo.run("ingest", delivery, ok=False)
    assert result.exit_code == 2 and "--collection" in result.stderr
    assert repo.json("show", package_id)["summary"]["version"] == 1


def test_describe_refuses_what_it_cannot_do(one: tuple[Repo, str, Path], tmp_path: Path) -> None:
    repo, package_id, _delivery = one
    cases = [
        (["describe", package_id], "nothing to correct"),
        (["describe", package_id, "--set", "subject"], "write ELEMENT=VALUE"),
        (["describe", package_id, "--set", "colour=red"], "'colour' is not a Dublin Core"),
        (["describe", package_id, "--title", "  "], "--title is empty"),
        (["describe", package_id, "--set", "title="], "without a title"),
        (["describe", "0f0f0f0f", "--title", "x"], "0f0f0f0f"),
    ]
    for args, expected in cases:
        result = repo.run(*args, ok=False)
        assert result.exit_code != 0, args
        assert expected in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    csv = tmp_path / "two.csv"
    csv.write_text("path,title\na,One\nb,Two\n")
    result = repo.run("describe", package_id, "--metadata", csv, ok=False)
    assert result.exit_code == 2 and "2 rows and none for" in result.stderr
    assert repo.json("show", package_id)["summary"]["version"] == 1


def test_a_new_version_of_a_package_still_being_ingested_is_refused(
    repo: Repo, tmp_path: Path
) -> None:
    """An ingest killed with SIGKILL leaves its package 'ingesting': no version of it."""
    many = tmp_path / "many"
    many.mkdir()
    for i in range(300):
        (many / f"f{i}.bin").write_bytes(os.urandom(30_000))
    proc = _preserve(repo, "ingest", many, "--collection", "photos")
    package_id = _wait_for_package(repo, proc)
    proc.kill()
    proc.communicate()
    result = repo.run("ingest", many, "--new-version-of", package_id, ok=False)
    assert result.exit_code != 0
    assert "still being ingested" in result.stderr or "no package" in result.stderr


def _preserve(repo: Repo, *args: str | Path) -> subprocess.Popen[str]:
    env = {**os.environ, **repo.env}
    return subprocess.Popen(
        [sys.executable, "-m", "preserve.cli", *map(str, args)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_package(repo: Repo, proc: subprocess.Popen[str], timeout: float = 60) -> str:
    """The id of the package the running ingest recorded, once its row exists."""
    import sqlite3

    db = repo.database_url.removeprefix("sqlite:///")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            with sqlite3.connect(db) as conn:
                row = conn.execute("SELECT id FROM packages WHERE status = 'ingesting'").fetchone()
        except sqlite3.OperationalError:
            row = None
        if row:
            return str(row[0])
        time.sleep(0.05)
    raise AssertionError("the ingest recorded no package")


def _version_row(repo: Repo, package_id: str) -> bool:
    import sqlite3

    db = repo.database_url.removeprefix("sqlite:///")
    try:
        with sqlite3.connect(db, timeout=0.1) as conn:
            row = conn.execute(
                "SELECT 1 FROM package_versions WHERE package_id = ? AND number = 2",
                (package_id,),
            ).fetchone()
    except sqlite3.OperationalError:  # locked by the writer for a moment
        return False
    return row is not None


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["staging", "claimed", "storing"])
def test_kill_9_during_a_new_version_leaves_the_previous_one_current(
    repo: Repo, tmp_path: Path, moment: str
) -> None:
    """SIGKILL at each stage of --new-version-of, told by what the run has left so far (its
    staging folder; its version row; its first stored object): version 1 stays intact and
    current; running the command again removes what the killed run left and makes version 2."""
    delivery = tmp_path / "v1"
    delivery.mkdir()
    for i in range(200):
        (delivery / f"f{i}.bin").write_bytes(os.urandom(20_000))
    package_id = repo.json("ingest", delivery, "--collection", "photos")["packages"][0][
        "package_id"
    ]
    before = repo.json("show", package_id)
    changed = tmp_path / "v2"
    shutil.copytree(delivery, changed)
    for i in range(0, 200, 2):  # the modified half: 40 MB to stage and store
        (changed / f"f{i}.bin").write_bytes(os.urandom(400_000))
    v2_data = repo.storage_root / "default" / "photos" / package_id / "v2" / "data"
    reached = {
        # (a folder killed in the microseconds before its owner file is written waits out a
        # grace period before a later run removes it: see recover.OWNERLESS_GRACE_SECONDS)
        "staging": lambda: any(
            p.name.startswith(f"{package_id}.v2.") and (p / "owner.json").exists()
            for p in repo.staging_entries()
        ),
        "claimed": lambda: _version_row(repo, package_id),
        "storing": lambda: v2_data.is_dir() and any(v2_data.iterdir()),
    }[moment]
    proc = _preserve(repo, "ingest", changed, "--new-version-of", package_id)
    deadline = time.monotonic() + 60
    while proc.poll() is None and not reached() and time.monotonic() < deadline:
        time.sleep(0.002)
    assert proc.poll() is None, f"the version was made before it reached {moment}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    after = repo.json("show", package_id)
    assert after["summary"] == before["summary"]
    # version 1 is whole: every copy passes a fixity check
    assert repo.run("fixity", "--package", package_id).exit_code == 0
    # the command again: what the killed run left is removed, version 2 made
    again = repo.json("ingest", changed, "--new-version-of", package_id)
    assert again["packages"][0]["version"] == 2
    v2_keys = [k for k in repo.stored_keys() if f"{package_id}/v2/data/" in k]
    assert len(v2_keys) == 100  # the modified half only, once
    assert repo.run("fixity", "--package", package_id).exit_code == 0
    assert repo.staging_entries() == []


def test_a_changed_delivery_ingested_as_a_new_package_is_pointed_at_versions(
    one: tuple[Repo, str, Path],
) -> None:
    """Today's trap: one file added, ingested again without --new-version-of. It still
    becomes a package of its own (the person may mean that), with a warning naming the way."""
    repo, package_id, delivery = one
    (delivery / "added.txt").write_text("added\n")
    result = repo.run("ingest", delivery, "--collection", "photos")
    assert result.exit_code == 0
    assert (
        f"warning: delivery: package {package_id[:8]} was ingested from the same folder or "
        f"carries the same identifier; this delivery becomes a package of its own: if it "
        f"replaces that one, ingest it with --new-version-of {package_id[:8]} instead"
    ) in result.stderr


def test_a_corrected_description_on_a_duplicate_is_not_dropped_silently(
    one: tuple[Repo, str, Path], tmp_path: Path
) -> None:
    repo, package_id, delivery = one
    csv = tmp_path / "corrected.csv"
    csv.write_text(f"path,title\n{delivery},The right title\n")
    result = repo.run("ingest", delivery, "--collection", "photos", "--metadata", csv)
    assert "already preserved" in result.stdout
    assert (
        f"the description given differs from package {package_id[:8]}'s and was not applied "
        f"(the content is preserved already); to correct it: preserve describe "
        f"{package_id[:8]} --metadata CSV"
    ) in result.stderr
    # the same description as stored: nothing to say
    again = repo.run("ingest", delivery, "--collection", "photos", "--title", "delivery")
    assert "differs" not in again.stderr


def test_two_runs_racing_for_the_next_version_make_exactly_one(repo: Repo, tmp_path: Path) -> None:
    """Two --new-version-of of the same package at once: one makes version 2; the other is
    refused with a clear error (another run is making it, or the package moved on), and
    leaves nothing behind."""
    base = tmp_path / "base"
    base.mkdir()
    for i in range(150):
        (base / f"f{i}.bin").write_bytes(os.urandom(10_000))
    package_id = repo.json("ingest", base, "--collection", "photos")["packages"][0]["package_id"]
    runs = []
    for name in ("one", "two"):
        changed = tmp_path / name
        shutil.copytree(base, changed)
        for i in range(0, 150, 3):
            (changed / f"f{i}.bin").write_bytes(os.urandom(10_000))
        runs.append(_preserve(repo, "ingest", changed, "--new-version-of", package_id))
    outcomes = [(p.wait(timeout=120), p.communicate()) for p in runs]
    codes = sorted(code for code, _ in outcomes)
    assert codes == [0, 2], outcomes
    refused = next(err for code, (_out, err) in outcomes if code == 2)
    assert "is being made right now" in refused or "became version 2 while" in refused, refused
    assert "Traceback" not in refused and len(refused.strip().splitlines()) == 1
    show = repo.json("show", package_id)
    assert show["summary"]["version"] == 2
    versions = {k.split("/")[3] for k in repo.stored_keys() if package_id in k and "/v" in k}
    assert versions == {"v1", "v2"}
    assert repo.staging_entries() == []


@pytest.mark.slow
def test_ctrl_c_during_a_new_version_says_the_package_is_unchanged(
    repo: Repo, tmp_path: Path
) -> None:
    delivery = tmp_path / "v1"
    delivery.mkdir()
    for i in range(300):
        (delivery / f"f{i}.bin").write_bytes(os.urandom(20_000))
    package_id = repo.json("ingest", delivery, "--collection", "photos")["packages"][0][
        "package_id"
    ]
    changed = tmp_path / "v2"
    shutil.copytree(delivery, changed)
    for i in range(300):
        (changed / f"new{i}.bin").write_bytes(os.urandom(20_000))
    proc = _preserve(repo, "ingest", changed, "--new-version-of", package_id)
    # interrupted once the version is being made (its staging folder exists), however slowly
    # the machine starts the command (a fixed delay came too early on a loaded machine)
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        if any(e.name.startswith(f"{package_id}.v2") for e in repo.staging_entries()):
            time.sleep(0.2)  # into the version's work
            break
        time.sleep(0.01)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    if proc.returncode == 0 or "1 new version stored" in err:
        pytest.skip("the version was made before the interruption")
    assert proc.returncode == 130, err
    assert (
        f"interrupted: nothing was stored; the partial version 2 of package {package_id} was "
        "removed; version 1 is unchanged and current"
    ) in err
    assert repo.json("show", package_id)["summary"]["version"] == 1


# --------------------------------------------------------------------------- languages


def test_corrections_keep_the_other_languages(repo: Repo, tmp_path: Path) -> None:
    """A bilingual meemoo SIP: --title at ingest and describe --title replace the main title
    and keep the English one; --set title@en=... corrects the English one alone; a plain
    --set ELEMENT=... replaces every language of the element."""
    from tests import sipbuilder as b

    root = b.meemoo_2(tmp_path / "in")
    result = repo.json("ingest", root, "--collection", "photos", "--title", "Haven (1923)")
    package_id = result["packages"][0]["package_id"]
    description = repo.json("show", package_id)["description"]
    assert description["title"] == ["Haven (1923)", "Harbour of Antwerp"]
    assert description["_lang"]["title"] == ["nl", "en"]

    repo.run("describe", package_id, "--title", "Haven van Antwerpen (1923)")
    repo.run("describe", package_id, "--set", "title@en=Port of Antwerp (1923)")
    description = repo.json("show", package_id)["description"]
    assert description["title"] == ["Haven van Antwerpen (1923)", "Port of Antwerp (1923)"]
    assert description["_lang"]["title"] == ["nl", "en"]
    assert "nl" in description["_lang"]["description"]  # untouched elements keep theirs

    repo.run("describe", package_id, "--set", "description=One text for all")
    description = repo.json("show", package_id)["description"]
    assert description["description"] == ["One text for all"]
    assert "description" not in description["_lang"]

    # one language corrected keeps its place (the main title stays first), whatever its case
    repo.run("describe", package_id, "--set", "title@NL=Haven van Antwerpen, 1923")
    description = repo.json("show", package_id)["description"]
    assert description["title"] == ["Haven van Antwerpen, 1923", "Port of Antwerp (1923)"]
    assert description["_lang"]["title"] == ["nl", "en"]
    assert repo.json("show", package_id)["summary"]["title"] == "Haven van Antwerpen, 1923"

    bad = repo.run("describe", package_id, "--set", "title@=x", ok=False)
    assert bad.exit_code == 2 and "is not a language tag" in bad.stderr


def test_a_new_delivery_keeps_corrections_unless_it_describes_itself(
    repo: Repo, tmp_path: Path
) -> None:
    """A plain folder as a new version keeps the corrected description (with --title only
    the main title changes); a SIP that brings its own description replaces it, with a
    warning naming the version whose correction is replaced."""
    from tests import sipbuilder as b

    root = b.meemoo_2(tmp_path / "in")
    package_id = repo.json("ingest", root, "--collection", "photos")["packages"][0]["package_id"]
    repo.run("describe", package_id, "--set", "subject=Scheldt")
    again = b.meemoo_2(tmp_path / "again", name=root.name)
    result = repo.run("ingest", again, "--new-version-of", package_id)
    assert result.exit_code == 0
    assert (
        f"the description corrected in version 2 (preserve describe) is replaced by the one "
        f"this delivery gives; to correct it again: preserve describe {package_id[:8]}"
    ) in result.stderr

    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "scan.bin").write_bytes(os.urandom(1000))
    other = repo.json("ingest", plain, "--collection", "photos")["packages"][0]["package_id"]
    repo.run("describe", other, "--set", "subject=Scheldt", "--set", "title@en=Scan")
    (plain / "scan-2.bin").write_bytes(os.urandom(1000))
    v3 = repo.json("ingest", plain, "--new-version-of", other, "--title", "Scans")
    assert v3["packages"][0]["title_source"] == "--title"
    description = repo.json("show", other)["description"]
    assert description["subject"] == ["Scheldt"]
    assert description["title"] == ["Scans", "Scan"]


def test_a_stored_version_validates_with_the_versions_it_names(
    one: tuple[Repo, str, Path],
) -> None:
    repo, package_id, delivery = one
    (delivery / "b.txt").write_text("b\n")
    repo.run("ingest", delivery, "--new-version-of", package_id)
    repo.run("describe", package_id, "--title", "Corrected")
    folder = repo.storage_root / "default" / "photos" / package_id
    for version in ("v1", "v2", "v3"):
        result = repo.run(
            "bag",
            "validate",
            folder / version,
            "--with-earlier-versions",
            "--profile",
            "preserve-aip",
        )
        assert result.stdout.startswith(f"{folder / version}: valid; conforms to profile")
    # alone, a version that names earlier content is incomplete, as RFC 8493 says
    alone = repo.run("bag", "validate", folder / "v2", ok=False)
    assert alone.exit_code == 1 and "[fetch-unfetched]" in alone.stderr
    wrong = repo.run("bag", "validate", delivery, "--with-earlier-versions", ok=False)
    assert wrong.exit_code == 2


def test_a_delivery_identical_to_an_earlier_version_says_so(
    one: tuple[Repo, str, Path], tmp_path: Path
) -> None:
    repo, package_id, delivery = one
    earlier = tmp_path / "earlier"
    shutil.copytree(delivery, earlier)
    (delivery / "a.txt").write_text("changed\n")
    repo.run("ingest", delivery, "--new-version-of", package_id)
    result = repo.run("ingest", earlier, "--collection", "photos")
    assert (
        f"warning: earlier: identical to version 1 of package {package_id[:8]} (now at version "
        f"2); this delivery becomes a package of its own: to make it that package's current "
        f"content again, ingest it with --new-version-of {package_id[:8]}"
    ) in result.stderr


def test_an_earlier_version_made_current_again_stores_nothing(
    one: tuple[Repo, str, Path], tmp_path: Path
) -> None:
    repo, package_id, delivery = one
    earlier = tmp_path / "earlier"
    shutil.copytree(delivery, earlier)
    (delivery / "a.txt").write_text("changed\n")
    repo.run("ingest", delivery, "--new-version-of", package_id)
    back = repo.json("ingest", earlier, "--new-version-of", package_id)["packages"][0]
    assert (back["version"], back["stored_bytes"]) == (3, 0)
    assert back["changes"]["modified"] == ["data/a.txt"]


def test_packages_are_listed_by_what_was_delivered(repo: Repo, tmp_path: Path) -> None:
    from tests import sipbuilder as b

    sip = repo.json("ingest", b.meemoo_2(tmp_path / "in"), "--collection", "photos")
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "a.txt").write_text("a\n")
    plain = repo.json("ingest", folder, "--collection", "photos")
    listed = repo.json("packages", "list", "--delivered-as", "meemoo-sip")
    assert [p["id"] for p in listed] == [sip["packages"][0]["package_id"]]
    listed = repo.json("packages", "list", "--delivered-as", "folder")
    assert [p["id"] for p in listed] == [plain["packages"][0]["package_id"]]
    found = repo.json("packages", "search", "Antwerpen", "--delivered-as", "folder")
    assert found == []
    bad = repo.run("packages", "list", "--delivered-as", "zipfile", ok=False)
    assert bad.exit_code == 2 and "'zipfile' is not one of" in bad.stderr
    shown = repo.run("show", sip["packages"][0]["package_id"]).stdout
    assert re.search(r"^delivered as\s+meemoo SIP 2\.1 https://data\.hetarchief\.be/", shown, re.M)
