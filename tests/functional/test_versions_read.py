"""Reading a package that has versions, through the real command line (issue 9): export of any
version as a complete bag, fixity of every copy (a copy is one version on one location), show
and packages list/search; on a local and an S3 location.

The package: version 1 from a delivery, version 2 from a changed delivery (a file added, one
modified, one removed, one renamed: version 2 stores only the added and modified ones and names
the rest in its fetch.txt), version 3 a metadata-only correction (stores no payload at all)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bagit
import pytest

from tests.functional.cli import AWS_VARS, Repo
from tests.s3server import corrupt_object


@dataclass
class Versioned:
    repo: Repo
    url: str
    package_id: str
    #: the deliveries of versions 1 and 2 (version 3 has the payload of version 2)
    deliveries: dict[int, Path]
    #: the show --json of the package at version 3
    show: dict[str, Any]


def _payload(folder: Path) -> dict[str, bytes]:
    """A delivery's files as a bag's payload: data/<path> -> bytes."""
    return {
        "data/" + p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def versioned(tmp_path: Path, storage_url: str, database_url: str) -> Versioned:
    """Collection 'docs' on one location (local or S3) and a package with three versions."""
    return _versioned(tmp_path, storage_url, database_url)


@pytest.fixture
def local_versioned(tmp_path: Path, database_url: str) -> Versioned:
    """The same on a local location only, for what reads stored folders or changes the
    catalogue along with the object (one backend is enough there)."""
    root = tmp_path / "store"
    root.mkdir()
    return _versioned(tmp_path, root.as_uri(), database_url)


def _versioned(tmp_path: Path, storage_url: str, database_url: str) -> Versioned:
    repo = Repo(home=tmp_path / "home", database_url=database_url)
    repo.extra_env.update({k: os.environ[k] for k in AWS_VARS if k in os.environ})
    repo.run("init")
    repo.run("locations", "add", "store", storage_url)
    repo.run("collections", "add", "docs", "--location", "store")
    v1 = tmp_path / "letters"
    (v1 / "scans").mkdir(parents=True)
    (v1 / "scans" / "p1.bin").write_bytes(os.urandom(30_000))
    (v1 / "scans" / "p2.bin").write_bytes(os.urandom(20_000))
    (v1 / "notes.txt").write_text("first notes\n")
    (v1 / "old-name.bin").write_bytes(os.urandom(10_000))
    package_id = repo.json("ingest", v1, "--collection", "docs")["packages"][0]["package_id"]
    v2 = tmp_path / "letters-2"
    shutil.copytree(v1, v2)
    (v2 / "notes.txt").write_text("corrected notes, longer than before\n")  # modified
    (v2 / "scans" / "p2.bin").unlink()  # removed
    (v2 / "old-name.bin").rename(v2 / "new-name.bin")  # renamed
    (v2 / "scans" / "p3.bin").write_bytes(os.urandom(5_000))  # added
    repo.run("ingest", v2, "--new-version-of", package_id)
    repo.run("describe", package_id, "--title", "Letters from the harbour")
    return Versioned(repo, storage_url, package_id, {1: v1, 2: v2}, repo.json("show", package_id))


def _copy(show: dict[str, Any], version: int) -> dict[str, Any]:
    return next(c for c in show["copies"] if c["version"] == version)


def test_every_version_exports_as_a_complete_valid_bag(
    versioned: Versioned, tmp_path: Path
) -> None:
    repo, package_id = versioned.repo, versioned.package_id
    for number, delivery in ((1, 1), (2, 2), (3, 2)):
        out = tmp_path / "exports" / f"v{number}"
        result = repo.json("export", package_id, out, "--version", str(number))
        assert (result["version"], result["validation"]["valid"]) == (number, True)
        # every payload file, byte for byte, whichever version's folder stores it
        assert _payload(out / "data") == {
            f"data/{k[5:]}": v for k, v in _payload(versioned.deliveries[delivery]).items()
        }
        # a complete bag: no fetch.txt, and the tag manifests do not name it
        assert not (out / "fetch.txt").exists()
        for manifest in out.glob("tagmanifest-*.txt"):
            names = [line.split("  ", 1)[1] for line in manifest.read_text().splitlines()]
            assert "fetch.txt" not in names
            # the package's event files, written to storage after each command, are included
            events = [n for n in names if n.startswith("metadata/events/")]
            assert events and all((out / n).is_file() for n in events)
        # bagit-python agrees, and so does preserve bag validate (and the AIP profile)
        bag = bagit.Bag(str(out))
        bag.validate()
        assert len(list(bag.payload_files())) == 4
        checked = repo.run("bag", "validate", out, "--profile", "preserve-aip")
        assert checked.stdout.startswith(f"{out}: valid; conforms to profile")
        info = (out / "bag-info.txt").read_text()
        assert f"Payload-Oxum: {sum(map(len, _payload(out / 'data').values()))}.4" in info
        if number > 1:  # the first version's bag-info says nothing of versions
            assert f"Package-Version: {number}" in info

    # the title of each version is its own: version 3 corrected it
    assert "Letters from the harbour" in (tmp_path / "exports/v3/metadata/dc.xml").read_text()
    assert "Letters from the harbour" not in (tmp_path / "exports/v2/metadata/dc.xml").read_text()

    # by default the current version, here as a zip that validates once unpacked
    archive = tmp_path / "exports" / "current.zip"
    text = repo.run("export", package_id, archive).stdout
    assert text.startswith(f"exported {package_id} version 3 from store to {archive}: 4 files")
    assert repo.run("bag", "validate", archive).exit_code == 0

    # each export is a dissemination event of the version it wrote
    show = repo.json("show", package_id)
    exported = [e["version"] for e in show["events"] if e["event_type"] == "dissemination"]
    assert exported == [1, 2, 3, 3]


def test_fixity_reads_every_stored_byte_once_and_checks_fetch_txt(versioned: Versioned) -> None:
    repo, package_id = versioned.repo, versioned.package_id
    result = repo.run("fixity", "--package", package_id, "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["ok"] is True
    checks = {c["version"]: c for c in report["copies"]}
    assert sorted(checks) == [1, 2, 3]
    versions = {v["number"]: v for v in versioned.show["versions"]}
    for number, check in checks.items():
        assert (check["outcome"], check["location"]) == ("ok", "store")
        # a copy reads what its version stored itself, nothing it names in fetch.txt
        assert check["payload_files"] == versions[number]["stored_files"]
        assert check["payload_bytes"] == versions[number]["stored_bytes"]
        assert check["fetched_files"] == 4 - versions[number]["stored_files"]
    assert (checks[2]["payload_files"], checks[2]["fetched_files"]) == (2, 2)
    assert (checks[3]["payload_files"], checks[3]["fetched_files"]) == (0, 4)
    # every byte of the payload of every version, once: what the versions stored
    delivered = sum(len(b) for b in _payload(versioned.deliveries[1]).values())
    added = len(b"corrected notes, longer than before\n") + 5_000
    assert sum(c["payload_bytes"] for c in checks.values()) == delivered + added
    # the event files of the package are checked with the copy of the latest version
    assert checks[3]["event_files_checked"] >= 3
    assert checks[1]["event_files_checked"] == checks[2]["event_files_checked"] == 0

    text = repo.run("fixity", "--package", package_id).stdout.splitlines()
    assert text[1].startswith(f"ok       {package_id} v2 on store: 2 files, ")
    assert "2 files held by earlier versions, checked in the catalogue" in text[1]
    assert text[3] == "3 copies ok"
    events = [
        e["version"]
        for e in repo.json("show", package_id)["events"]
        if e["event_type"] == "fixity check"
    ]
    assert sorted(events) == [1, 1, 2, 2, 3, 3]  # one per copy and run


def test_a_damaged_file_of_version_1_fails_its_copy_and_names_the_later_versions(
    versioned: Versioned, tmp_path: Path
) -> None:
    repo, package_id = versioned.repo, versioned.package_id
    v1 = _copy(versioned.show, 1)
    # old-name.bin: stored by version 1 only, renamed new-name.bin in versions 2 and 3
    corrupt_object(v1["url"], v1["key_prefix"] + "data/old-name.bin", lambda b: b"x" + b[1:])

    result = repo.run("fixity", "--package", package_id, ok=False)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"mismatch {package_id} v1 on store: ")
    assert lines[0].endswith("; damage also affects version 2, 3")
    assert lines[1].startswith(f"ok       {package_id} v2 on store: ")
    assert lines[2].startswith(f"ok       {package_id} v3 on store: ")
    assert lines[3] == "2 copies ok, 1 failed"
    original = (versioned.deliveries[1] / "old-name.bin").read_bytes()
    found = hashlib.sha256(b"x" + original[1:]).hexdigest()
    assert result.stderr.splitlines() == [
        f"FAILED mismatch: data/old-name.bin in package {package_id} version 1, copy on "
        f"location store ({v1['url']}): sha256 is {found}, expected "
        f"{hashlib.sha256(original).hexdigest()}; later versions hold it too: "
        "2 (as data/new-name.bin), 3 (as data/new-name.bin)"
    ]
    report = repo.json("fixity", "--package", package_id, ok=False)
    assert [c["affected_versions"] for c in report["copies"]] == [[2, 3], [], []]
    show = repo.json("show", package_id)
    assert [(c["version"], c["status"]) for c in show["copies"]] == [
        (1, "failed"),
        (2, "verified"),
        (3, "verified"),
    ]
    (event,) = [e for e in show["events"] if e["outcome"] == "failure"][-1:]
    assert (event["event_type"], event["version"]) == ("fixity check", 1)
    assert "later versions holding a damaged file: 2, 3" in event["detail"]

    # version 2 reads version 1's copy, which is no longer verified: nothing to export from
    out = tmp_path / "exports" / "v2"
    refused = repo.run("export", package_id, out, "--version", "2", ok=False)
    assert refused.exit_code != 0
    assert refused.stderr == (
        f"error: version 2 of {package_id} has no verified copy to export from (it reads "
        "versions 1, 2) (copies: store failed (v1), store verified (v2)); data/old-name.bin (of "
        "version 1) has no good copy on any location (damaged on store); "
        f"preserve fixity --package {package_id} names what is damaged\n"
    )
    assert not (tmp_path / "exports").exists()


def test_an_export_finds_damage_in_the_version_that_stores_the_file(
    versioned: Versioned, tmp_path: Path
) -> None:
    """The copy of version 1 is still verified when the export of version 3 reads its damaged
    object: the damage is recorded on version 1's copy, as a fixity check would."""
    repo, package_id = versioned.repo, versioned.package_id
    v1 = _copy(versioned.show, 1)
    corrupt_object(v1["url"], v1["key_prefix"] + "data/scans/p1.bin", lambda b: b[:-1])
    out = tmp_path / "exports" / "v3"
    result = repo.run("export", package_id, out, ok=False)
    assert result.exit_code != 0
    assert result.stderr.startswith(
        f"error: package {package_id} could not be exported: every copy is damaged: copy of "
        "version 1 on location store is damaged: data/scans/p1.bin: size is 29999 bytes, "
        "expected 30000; recorded as a failed fixity check (mismatch)"
    )
    assert not out.exists()
    show = repo.json("show", package_id)
    assert [(c["version"], c["status"], c["last_outcome"]) for c in show["copies"]] == [
        (1, "failed", "mismatch"),
        (2, "verified", "ok"),
        (3, "verified", "ok"),
    ]


def test_a_fetch_txt_changed_in_storage_fails_its_copy(versioned: Versioned) -> None:
    repo, package_id = versioned.repo, versioned.package_id
    v2 = _copy(versioned.show, 2)
    # point the renamed file at another object of version 1
    corrupt_object(
        v2["url"],
        v2["key_prefix"] + "fetch.txt",
        lambda b: b.replace(b"/v1/data/old-name.bin", b"/v1/data/scans/p1.bin"),
    )
    result = repo.run("fixity", "--package", package_id, ok=False)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[1].startswith(f"mismatch {package_id} v2 on store: ")
    assert "FAILED mismatch: fetch.txt in package" in result.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            (b"/v1/data/old-name.bin", b"/v1/data/scans/p1.bin"),
            "names v1/data/scans/p1.bin; the catalogue says v1/data/old-name.bin holds it",
        ),
        ((b"/v1/data/old-name.bin", b"/v2/data/notes.txt"), "not an earlier version than 2"),
        ((b"/v1/data/old-name.bin", b"/v1/bag-info.txt"), "does not name a payload file"),
        ((b" 10000 data/new-name.bin", b" 9999 data/new-name.bin"), "gives 9999 bytes"),
        ((b" data/new-name.bin\n", b" data/other.bin\n"), "listed in fetch.txt only"),
    ],
)
def test_a_fetch_txt_that_disagrees_with_the_catalogue_fails_its_copy(
    local_versioned: Versioned, change: tuple[bytes, bytes], message: str
) -> None:
    """A fetch.txt whose bytes are what the catalogue recorded (no damage) but whose entries do
    not name what the catalogue says (a bug that wrote both): each entry is checked."""
    versioned = local_versioned
    import sqlalchemy as sa

    repo, package_id = versioned.repo, versioned.package_id
    v2 = _copy(versioned.show, 2)
    fetch = Path(versioned.url.removeprefix("file://")) / v2["key_prefix"] / "fetch.txt"
    data = fetch.read_bytes()
    assert change[0] in data
    data = data.replace(*change)
    fetch.write_bytes(data)
    engine = sa.create_engine(repo.database_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE files SET size = :size, sha256 = :sha256, sha512 = :sha512 "
                "WHERE package_id = :id AND version = 2 AND path = 'fetch.txt'"
            ),
            {
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "sha512": hashlib.sha512(data).hexdigest(),
                "id": package_id,
            },
        )
    engine.dispose()
    result = repo.run("fixity", "--package", package_id, ok=False)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("ok ") and lines[2].startswith("ok ")
    assert lines[1].startswith(f"mismatch {package_id} v2 on store: ")
    assert message in result.stderr
    if b"other.bin" in change[1]:  # the file it should have named is then missing from it
        assert "data/new-name.bin in package" in result.stderr
        assert "not in fetch.txt, though version 1 holds it" in result.stderr


def test_show_lists_the_versions(versioned: Versioned) -> None:
    repo, package_id = versioned.repo, versioned.package_id
    show = versioned.show
    assert (show["summary"]["version"], show["current_version"]) == (3, 3)
    assert show["summary"]["title"] == "Letters from the harbour"
    versions = show["versions"]
    assert [(v["number"], v["kind"], v["status"]) for v in versions] == [
        (1, "content", "stored"),
        (2, "content", "stored"),
        (3, "metadata", "stored"),
    ]
    assert [(v["files"], v["stored_files"]) for v in versions] == [(4, 4), (4, 2), (4, 0)]
    assert versions[1]["changes"] == {
        "added": ["data/scans/p3.bin"],
        "modified": ["data/notes.txt"],
        "removed": ["data/scans/p2.bin"],
        "renamed": [["data/old-name.bin", "data/new-name.bin"]],
        "unchanged": 1,
    }
    assert versions[1]["changes_summary"] == (
        "1 added, 1 modified, 1 removed, 1 renamed, 1 unchanged"
    )
    assert versions[0]["changes_summary"] == ""
    assert all(v["delivery_kind"] == "folder" for v in versions[:2])
    assert all(v["actor"] for v in versions)
    assert [c["version"] for c in show["copies"]] == [1, 2, 3]
    assert sorted(f["path"] for f in show["files"] if f["role"] == "payload") == [
        "data/new-name.bin",
        "data/notes.txt",
        "data/scans/p1.bin",
        "data/scans/p3.bin",
    ]

    lines = repo.run("show", package_id).stdout.splitlines()
    assert lines[0].endswith(f"{package_id} (version 3, stored)")
    at = lines.index("versions (* current):")
    assert lines[at + 1].startswith("  v1   ")
    assert "content   4 files, " in lines[at + 1] and "stored 4 files, " in lines[at + 1]
    assert lines[at + 2].startswith("  v2   ") and "stored 2 files, " in lines[at + 2]
    assert lines[at + 3].strip() == "1 added, 1 modified, 1 removed, 1 renamed, 1 unchanged"
    assert lines[at + 4].startswith("  v3*  ") and "metadata  4 files" in lines[at + 4]
    assert "stored no payload" in lines[at + 4]
    copies = lines[lines.index("copies:") + 1 : lines.index("copies:") + 4]
    assert [c.split()[:3] for c in copies] == [
        ["v1", "store", "verified"],
        ["v2", "store", "verified"],
        ["v3", "store", "verified"],
    ]

    # an earlier version: its own title and files
    first = repo.json("show", package_id, "--version", "1")
    assert (first["summary"]["version"], first["summary"]["title"]) == (1, "letters")
    assert sorted(f["path"] for f in first["files"] if f["role"] == "payload") == [
        "data/notes.txt",
        "data/old-name.bin",
        "data/scans/p1.bin",
        "data/scans/p2.bin",
    ]
    text = repo.run("show", package_id, "--version", "1").stdout
    assert text.splitlines()[0].endswith(f"{package_id} (version 1 of 3, stored)")


def test_an_unknown_version_is_one_line_naming_the_versions(
    versioned: Versioned, tmp_path: Path
) -> None:
    repo, package_id = versioned.repo, versioned.package_id
    expected = f"error: package {package_id} has no version 4; its versions: 1, 2, 3\n"
    shown = repo.run("show", package_id, "--version", "4", ok=False)
    assert (shown.exit_code, shown.stdout, shown.stderr) == (3, "", expected)
    out = tmp_path / "exports" / "v4"
    exported = repo.run("export", package_id, out, "--version", "4", ok=False)
    assert (exported.exit_code, exported.stdout, exported.stderr) == (3, "", expected)
    assert not (tmp_path / "exports").exists()  # no parent folder made either
    zero = repo.run("export", package_id, out, "--version", "0", ok=False)
    assert zero.exit_code == 2 and "--version" in zero.stderr


def test_packages_list_and_search_show_the_current_version(versioned: Versioned) -> None:
    repo, package_id = versioned.repo, versioned.package_id
    (listed,) = repo.packages()
    assert (listed["id"], listed["version"], listed["title"]) == (
        package_id,
        3,
        "Letters from the harbour",
    )
    # the copies of the current version (one location), not one per version
    assert (listed["files"], listed["copies"], listed["verified_copies"]) == (4, 1, 1)
    # the files of the current version are searched: p2 was removed in version 2
    assert [p["id"] for p in repo.json("packages", "search", "p3.bin")] == [package_id]
    assert repo.json("packages", "search", "p2.bin") == []
    assert [p["id"] for p in repo.json("packages", "search", "harbour")] == [package_id]


def test_a_stored_version_validates_with_what_its_fetch_txt_names(
    local_versioned: Versioned,
) -> None:
    """On a local location, the stored folder of each version is a bag that validates once its
    fetch.txt entries are resolved to the earlier versions' files (never downloaded); without
    that, it is incomplete, as RFC 8493 says (the S3 variant is covered by fixity)."""
    versioned = local_versioned
    from preserve.bagit import validate_bag
    from preserve.bagit.fetch import local_resolver

    root = Path(versioned.url.removeprefix("file://"))
    prefix = _copy(versioned.show, 1)["key_prefix"]
    folder = prefix.rsplit("/", 2)[0] + "/"
    for number in (1, 2, 3):
        bag = root / folder / f"v{number}"
        report = validate_bag(bag, resolve_fetch=local_resolver(root, folder, number))
        assert report.valid, report.errors
        assert (report.payload_files, report.warnings) == (4, ())
    plain = validate_bag(root / folder / "v2")
    assert sorted(p.code for p in plain.errors) == ["fetch-unfetched", "fetch-unfetched"]


def test_a_version_being_made_is_neither_checked_nor_exported(
    versioned: Versioned, tmp_path: Path
) -> None:
    """Version 4 as an interrupted `--new-version-of` leaves it: `ingesting`, with a pending
    copy and a few of its objects on the location. Fixity checks only the stored versions'
    copies, show lists it with its status, export refuses it naming the stored versions."""
    import sqlalchemy as sa

    repo, package_id = versioned.repo, versioned.package_id
    v3 = _copy(versioned.show, 3)
    engine = sa.create_engine(repo.database_url)
    with engine.begin() as conn:
        location = conn.execute(sa.text("SELECT id FROM storage_locations WHERE name = 'store'"))
        location_id = location.scalar_one()
        now = "2026-01-01 00:00:00.000000" if engine.dialect.name == "sqlite" else "2026-01-01"
        conn.execute(
            sa.text(
                "INSERT INTO package_versions (package_id, number, kind, status, title, "
                "description, bag_info, file_count, size, stored_files, stored_bytes, changes, "
                "source, delivery_kind, delivery_profile, actor, created_at) VALUES (:id, 4, "
                "'content', 'ingesting', 't', '{}', '[]', 0, 0, 0, 0, '{}', '', '', '', 'x', "
                ":now)"
            ),
            {"id": package_id, "now": now},
        )
        conn.execute(
            sa.text(
                "INSERT INTO copies (package_id, location_id, version, key_prefix, status, "
                "created_at) VALUES (:id, :location, 4, :prefix, 'pending', :now)"
            ),
            {
                "id": package_id,
                "location": location_id,
                "prefix": v3["key_prefix"].replace("/v3/", "/v4/"),
                "now": now,
            },
        )
    engine.dispose()

    report = repo.json("fixity", "--package", package_id)
    assert [c["version"] for c in report["copies"]] == [1, 2, 3]
    # the copy of version 3 is still the one that checks the event files on the location
    assert report["copies"][2]["event_files_checked"] >= 3
    show = repo.json("show", package_id)
    assert [(v["number"], v["status"]) for v in show["versions"]][-1] == (4, "ingesting")
    assert show["summary"]["version"] == 3
    text = repo.run("show", package_id).stdout
    assert "status ingesting" in text
    out = tmp_path / "exports" / "v4"
    refused = repo.run("export", package_id, out, "--version", "4", ok=False)
    assert (refused.exit_code, refused.stderr) == (
        2,
        f"error: version 4 of package {package_id} is not stored (status ingesting); its "
        "stored versions: 1, 2, 3\n",
    )
    assert not (tmp_path / "exports").exists()
