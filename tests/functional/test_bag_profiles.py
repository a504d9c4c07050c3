"""BagIt profiles through the command line (issue 9): bag validate --profile, bag profile,
preserve's own AIPs conforming to the profile they declare (stored, exported as a folder and as
a zip), and a collection that requires a profile of its deliveries."""

from __future__ import annotations

import json
import tarfile
import tempfile
from pathlib import Path

import bagit
import pytest

from preserve.bagit.profiles import AIP_PROFILE_IDENTIFIER
from preserve.bagit.taginfo import parse_bag_info
from tests.functional.cli import Repo

APTRUST_ID = "https://raw.githubusercontent.com/APTrust/preservation-services/master/profiles/aptrust-v2.2.json"
BTR_ID = "https://github.com/dpscollaborative/btr_bagit_profile/releases/download/1.0/btr-bagit-profile.json"


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temporary folder bag validate unpacks archives into (to see it left empty)."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def src(tmp_path: Path) -> Path:
    folder = tmp_path / "glasplaten"
    (folder / "doos 1").mkdir(parents=True)
    (folder / "plaat-001.txt").write_text("glass plate one\n")
    (folder / "doos 1" / "plaat-002.txt").write_text("glass plate two\n")
    return folder


def _btr_bag(repo: Repo, src: Path, dest: Path) -> Path:
    repo.run(
        "bag",
        "make",
        src,
        dest,
        "--source-organization",
        "Stadsarchief Gent",
        "--bagit-profile-identifier",
        BTR_ID,
    )
    return dest


def _profile_file(tmp_path: Path, name: str = "profile.json", **fields: object) -> Path:
    doc: dict[str, object] = {
        "BagIt-Profile-Info": {
            "BagIt-Profile-Identifier": BTR_ID,
            "BagIt-Profile-Version": "1.4.0",
            "Source-Organization": "Test",
            "External-Description": "BTR's identifier, other rules",
            "Version": "1",
        },
        "Accept-BagIt-Version": ["1.0"],
        **fields,
    }
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


# ------------------------------------------------------------------ bag validate --profile


def test_a_folder_bag_conforming_to_btr(repo: Repo, src: Path, tmp_path: Path) -> None:
    bag = _btr_bag(repo, src, tmp_path / "bag")
    result = repo.run("bag", "validate", bag, "--profile", "btr")
    assert result.stdout == f"{bag}: valid; conforms to profile {BTR_ID} (version 0.1)\n"
    report = repo.json("bag", "validate", bag, "--profile", "btr")
    assert report["valid"] and report["profile"] == {
        "identifier": BTR_ID,
        "version": "0.1",
        "spec_version": "1.3.0",
        "source": "bundled profile btr",
        "conforms": True,
        "breaches": 0,
    }


def test_every_breach_is_listed_with_its_code_and_exit_1(
    repo: Repo, src: Path, tmp_path: Path
) -> None:
    bag = tmp_path / "bag"
    repo.run("bag", "make", src, bag)  # no Source-Organization, no profile identifier
    (bag / "fetch.txt").write_text("")
    result = repo.run("bag", "validate", bag, "--profile", "btr", ok=False)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: bag-info.txt: BagIt-Profile-Identifier is missing: a bag that follows the "
        f"profile names it ({BTR_ID}) [profile-identifier]",
        "error: bag-info.txt: Source-Organization is required by the profile and missing "
        "[profile-tag-required]",
        "error: fetch.txt: the profile does not allow fetch.txt [profile-fetch-not-allowed]",
    ]
    assert result.stdout == (
        f"{bag}: INVALID (3 errors); 3 breaches of profile {BTR_ID} (version 0.1)\n"
    )
    report = repo.json("bag", "validate", bag, "--profile", "btr", ok=False)
    assert [e["code"] for e in report["errors"]] == [
        "profile-identifier",
        "profile-tag-required",
        "profile-fetch-not-allowed",
    ]
    assert report["profile"]["conforms"] is False and report["profile"]["breaches"] == 3


def test_rfc_problems_and_profile_breaches_together(repo: Repo, src: Path, tmp_path: Path) -> None:
    bag = _btr_bag(repo, src, tmp_path / "bag")
    (bag / "data" / "plaat-001.txt").write_text("changed after bagging\n")
    (bag / "bag-info.txt").write_text(
        (bag / "bag-info.txt").read_text().replace(BTR_ID, "https://example.org/other.json")
    )
    report = repo.json("bag", "validate", bag, "--profile", "btr", ok=False)
    codes = [e["code"] for e in report["errors"]]
    assert "checksum-mismatch" in codes and "profile-identifier" in codes


def test_a_zip_bag_under_serialization_forbidden(
    repo: Repo, src: Path, tmp_path: Path, scratch: Path
) -> None:
    archive = _btr_bag(repo, src, tmp_path / "glasplaten.zip")
    forbidden = _profile_file(tmp_path, **{"Serialization": "forbidden"})
    result = repo.run("bag", "validate", archive, "--profile", forbidden, ok=False)
    assert result.exit_code == 1
    assert (
        "error: glasplaten: the profile forbids serialised bags: this one is a zip archive "
        "(application/zip); send the bag as a folder [profile-serialization]"
    ) in result.stderr
    assert list(scratch.iterdir()) == []
    # the same bag as a folder conforms
    folder = _btr_bag(repo, src, tmp_path / "as-folder")
    assert repo.run("bag", "validate", folder, "--profile", forbidden).exit_code == 0


def test_a_tar_bag_conforming_to_aptrust(repo: Repo, tmp_path: Path, scratch: Path) -> None:
    folder = tmp_path / "example.edu.plates"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.txt").write_text("a\n")
    made = bagit.make_bag(
        str(folder),
        {"Source-Organization": "Example University", "BagIt-Profile-Identifier": APTRUST_ID},
        checksums=["md5", "sha256"],
    )
    (folder / "aptrust-info.txt").write_text("Title: Plates\nAccess: Institution\n")
    made.save()
    archive = tmp_path / "example.edu.plates.tar"
    with tarfile.open(archive, "w") as tf:
        tf.add(folder, arcname=folder.name)
    result = repo.run("bag", "validate", archive, "--profile", "aptrust")
    assert result.stdout.startswith(f"{archive}: valid; conforms to profile {APTRUST_ID}")
    # as a folder it breaks Serialization: required
    result = repo.run("bag", "validate", folder, "--profile", "aptrust", ok=False)
    assert "[profile-serialization]" in result.stderr
    assert list(scratch.iterdir()) == []


def test_a_profile_file_that_is_not_json(repo: Repo, src: Path, tmp_path: Path) -> None:
    bag = _btr_bag(repo, src, tmp_path / "bag")
    bad = tmp_path / "profile.json"
    bad.write_text("{'BagIt-Profile-Info': {}}")
    result = repo.run("bag", "validate", bag, "--profile", bad, ok=False)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {bad}: not a BagIt profile: not valid JSON (line 1, column 2: Expecting "
        "property name enclosed in double quotes)\n"
    )
    assert result.stdout == ""


def test_a_profile_of_an_unknown_version(repo: Repo, src: Path, tmp_path: Path) -> None:
    bag = _btr_bag(repo, src, tmp_path / "bag")
    profile = _profile_file(tmp_path)
    doc = json.loads(profile.read_text())
    doc["BagIt-Profile-Info"]["BagIt-Profile-Version"] = "2.0.0"
    profile.write_text(json.dumps(doc))
    result = repo.run("bag", "validate", bag, "--profile", profile, ok=False)
    assert result.exit_code == 2
    assert result.stderr == (
        f'error: {profile}: BagIt-Profile-Version "2.0.0" is not a version of the BagIt '
        "profiles specification preserve reads (1.1.0, 1.2.0, 1.3.0, 1.4.0)\n"
    )


def test_a_missing_profile_and_a_url(repo: Repo, src: Path, tmp_path: Path) -> None:
    bag = _btr_bag(repo, src, tmp_path / "bag")
    result = repo.run("bag", "validate", bag, "--profile", tmp_path / "nope.json", ok=False)
    assert (result.exit_code, result.stderr) == (
        2,
        f"error: {tmp_path / 'nope.json'}: no such profile file\n",
    )
    result = repo.run("bag", "validate", bag, "--profile", BTR_ID, ok=False)
    assert result.exit_code == 2 and "never fetched" in result.stderr


# ------------------------------------------------------------------ bag profile


def test_bag_profile_prints_preserves_own_by_default(repo: Repo) -> None:
    doc = json.loads(repo.run("bag", "profile").stdout)
    assert doc["BagIt-Profile-Info"]["BagIt-Profile-Identifier"] == AIP_PROFILE_IDENTIFIER
    assert json.loads(repo.run("bag", "profile", "btr").stdout)["Allow-Fetch.txt"] is False


def test_bag_profile_output_writes_a_new_file_only(repo: Repo, tmp_path: Path) -> None:
    out = tmp_path / "aptrust.json"
    result = repo.run("bag", "profile", "aptrust", "--output", out)
    assert result.stdout == "" and f"profile aptrust written to {out}" in result.stderr
    assert json.loads(out.read_text())["Serialization"] == "required"
    out.write_text("mine")
    result = repo.run("bag", "profile", "btr", "--output", out, ok=False)
    assert (result.exit_code, result.stderr) == (2, f"error: {out}: already exists\n")
    assert out.read_text() == "mine"
    result = repo.run("bag", "profile", "dpn", ok=False)
    assert result.exit_code == 2
    assert "'dpn': no bundled profile of that name (bundled: preserve-aip, aptrust, btr)" in (
        result.stderr
    )
    result = repo.run("bag", "profile", "btrr", ok=False)
    assert result.exit_code == 2
    assert "'btrr': no bundled profile of that name; did you mean 'btr'? (bundled: " in (
        result.stderr
    )


def test_a_misspelt_bundled_profile_gets_a_suggestion(repo: Repo, tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("a")
    repo.run("bag", "make", tmp_path / "src", bag)
    result = repo.run("bag", "validate", bag, "--profile", "aptrus", ok=False)
    assert (result.exit_code, result.stderr) == (
        2,
        "error: aptrus: no such profile file, nor a bundled profile; did you mean 'aptrust'? "
        "(bundled: preserve-aip, aptrust, btr)\n",
    )


# ------------------------------------------------------------------ preserve's own AIPs


def _aip(repo: Repo, package_id: str) -> Path:
    found = [
        p.parent
        for p in repo.storage_root.rglob("bagit.txt")
        if p.parent.parent.name == package_id  # not a producer's, kept in metadata/submission
    ]
    assert len(found) == 1, found
    return found[0]


def test_an_ingested_aip_and_its_exports_conform_to_preserve_aip(
    repo: Repo, src: Path, tmp_path: Path, scratch: Path
) -> None:
    package_id = repo.json("ingest", src, "--collection", "photos")["packages"][0]["package_id"]
    aip = _aip(repo, package_id)
    assert f"BagIt-Profile-Identifier: {AIP_PROFILE_IDENTIFIER}\n" in (
        (aip / "bag-info.txt").read_text()
    )
    result = repo.run("bag", "validate", aip, "--profile", "preserve-aip")
    assert "; conforms to profile urn:preserve:bagit-profile:preserve-aip:1.0" in result.stdout
    folder = tmp_path / "exports" / "folder"
    repo.run("export", package_id, folder)
    repo.run("bag", "validate", folder, "--profile", "preserve-aip")
    archive = tmp_path / "exports" / "package.zip"
    repo.run("export", package_id, archive)
    report = repo.json("bag", "validate", archive, "--profile", "preserve-aip")
    assert report["valid"] and report["profile"]["conforms"]
    assert list(scratch.iterdir()) == []


def test_a_producer_bags_own_profile_is_kept_as_a_description(
    repo: Repo, src: Path, tmp_path: Path
) -> None:
    bag = _btr_bag(repo, src, tmp_path / "incoming")
    package_id = repo.json("ingest", bag, "--collection", "photos")["packages"][0]["package_id"]
    text = (_aip(repo, package_id) / "bag-info.txt").read_text()
    info = [(k, " ".join(v.split())) for k, v in parse_bag_info(text, (1, 0))[0]]
    assert (
        "Internal-Sender-Description",
        f"producer's BagIt-Profile-Identifier: {BTR_ID}",
    ) in info
    assert [v for k, v in info if k == "BagIt-Profile-Identifier"] == [AIP_PROFILE_IDENTIFIER]
    repo.run("bag", "validate", _aip(repo, package_id), "--profile", "preserve-aip")


# ------------------------------------------------------------------ collections


def test_a_collection_that_requires_a_profile(repo: Repo, src: Path, tmp_path: Path) -> None:
    result = repo.run("collections", "add", "deposits", "--profile", "btr")
    assert result.stdout == (
        "collection default/deposits on default\n"
        f"deliveries must be bags conforming to BagIt profile {BTR_ID} (version 0.1)\n"
    )
    listed = {c["slug"]: c for c in repo.json("collections", "list")}
    assert (listed["deposits"]["profile"], listed["deposits"]["profile_version"]) == (BTR_ID, "0.1")
    assert listed["photos"]["profile"] == ""
    lines = repo.run("collections", "list").stdout.splitlines()
    assert lines[0].split() == ["COLLECTION", "PACKAGES", "LOCATIONS", "PROFILE", "TITLE"]
    assert f"{BTR_ID} 0.1" in lines[1] and lines[2].split()[3] == "-"

    # a plain folder is refused before anything is stored
    result = repo.run("ingest", src, "--collection", "deposits", ok=False)
    assert result.exit_code == 1
    assert (
        f"error: {src}: not a BagIt bag, and collection default/deposits takes only bags that "
        f"follow BagIt profile {BTR_ID} (version 0.1)"
    ) in result.stderr
    # a bag that breaks the profile: every breach listed
    plain_bag = tmp_path / "plain-bag"
    repo.run("bag", "make", src, plain_bag)
    result = repo.run("ingest", plain_bag, "--collection", "deposits", ok=False)
    assert result.exit_code == 1
    assert (
        f"error: {plain_bag}: does not conform to BagIt profile {BTR_ID} (version 0.1), which "
        "collection default/deposits requires (2 breaches)"
    ) in result.stderr
    assert "  bag-info.txt: Source-Organization is required by the profile and missing" in (
        result.stderr
    )
    assert repo.stored_keys() == [] and repo.packages() == [] and repo.staging_entries() == []

    # a conforming bag, as a tar.gz, is accepted, and the check is a PREMIS event
    archive = _btr_bag(repo, src, tmp_path / "deposit.tar.gz")
    result = repo.json("ingest", archive, "--collection", "deposits")
    assert result["failures"] == []
    package = repo.json("show", result["packages"][0]["package_id"])
    assert any(e["event_type"] == "validation" and BTR_ID in e["detail"] for e in package["events"])

    # --no-profile: a plain folder is taken again
    result = repo.run("collections", "edit", "deposits", "--no-profile")
    assert result.stdout == (
        f"collection default/deposits: BagIt profile '{BTR_ID} (version 0.1)' -> (empty)\n"
    )
    repo.run("ingest", src, "--collection", "deposits")


@pytest.mark.parametrize("form", ["folder", "tar"])
def test_an_invalid_bag_is_refused_with_every_breach_of_the_collections_profile(
    repo: Repo, src: Path, tmp_path: Path, form: str
) -> None:
    """The producer fixes the bag once: its RFC 8493 problems and every breach of the profile
    its collection requires, in one error."""
    repo.run("collections", "add", "deposits", "--profile", "btr")
    bag = tmp_path / "bag"
    repo.run("bag", "make", src, bag)  # no Source-Organization, no BagIt-Profile-Identifier
    (bag / "data" / "plaat-001.txt").write_text("GLASS PLATE ONE\n")  # same size, other bytes
    delivery = bag
    if form == "tar":
        delivery = tmp_path / "bag.tar"
        with tarfile.open(delivery, "w") as tar:
            tar.add(bag, arcname="bag")
    result = repo.run("ingest", delivery, "--collection", "deposits", ok=False)
    assert result.exit_code == 1
    first, *rest = result.stderr.splitlines()
    assert first.startswith(
        f"error: {delivery}: invalid bag (2 problems; 2 breaches of BagIt profile {BTR_ID} "
        "(version 0.1), which collection default/deposits requires): data/plaat-001.txt: "
    )
    assert first.count("[checksum-mismatch]") == 2  # sha512 and sha256
    assert sorted(rest) == [
        f"  bag-info.txt: BagIt-Profile-Identifier is missing: a bag that follows the profile "
        f"names it ({BTR_ID}) [profile-identifier]",
        "  bag-info.txt: Source-Organization is required by the profile and missing "
        "[profile-tag-required]",
    ]
    failure = repo.json("ingest", delivery, "--collection", "deposits", ok=False)["failures"][0]
    assert failure["code"] == "invalid-bag"
    assert repo.stored_keys() == [] and repo.packages() == [] and repo.staging_entries() == []
    # without a profile, the bag's own problems only, counted in words
    result = repo.run("ingest", delivery, "--collection", "photos", ok=False)
    assert result.stderr.startswith(f"error: {delivery}: invalid bag (2 problems): ")


def test_collection_profile_options_refuse_bad_input(repo: Repo, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    result = repo.run("collections", "add", "deposits", "--profile", bad, ok=False)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {bad}: not a BagIt profile: not valid JSON")
    assert [c["slug"] for c in repo.json("collections", "list")] == ["photos"]  # not created
    result = repo.run("collections", "edit", "photos", "--profile", bad, ok=False)
    assert result.exit_code == 2
    result = repo.run("collections", "edit", "photos", "--profile", "btr", "--no-profile", ok=False)
    assert (result.exit_code, result.stderr) == (
        2,
        "error: --profile and --no-profile contradict each other: give one\n",
    )
    assert repo.json("collections", "list")[0]["profile"] == ""
    profile = _profile_file(tmp_path, "mine.json")
    result = repo.run("collections", "edit", "photos", "--profile", profile)
    assert f"BagIt profile (empty) -> '{BTR_ID} (version 1)'" in result.stdout
    result = repo.run("collections", "add", "photos", "--exist-ok", "--profile", "btr", ok=False)
    assert result.exit_code == 1
    assert f"BagIt profile is {BTR_ID} (version 1)" in result.stderr


def test_a_collections_profile_is_kept_on_sqlite_and_postgresql(
    tmp_path: Path, database_url: str, src: Path
) -> None:
    """The profile document lives in collections.bagit_profile (JSON) on either database."""
    repo = Repo(home=tmp_path / "home", database_url=database_url)
    repo.run("init")
    mine = _profile_file(tmp_path, **{"Bag-Info": {"Source-Organization": {"required": True}}})
    repo.run("collections", "add", "deposits", "--profile", mine)
    assert repo.json("collections", "list")[0]["profile"] == BTR_ID
    plain_bag = tmp_path / "plain-bag"
    repo.run("bag", "make", src, plain_bag, "--bagit-profile-identifier", BTR_ID)
    result = repo.run("ingest", plain_bag, "--collection", "deposits", ok=False)
    assert "Source-Organization is required by the profile and missing" in result.stderr
    mine.unlink()  # the catalogue keeps the document itself, not the file's name
    bag = _btr_bag(repo, src, tmp_path / "bag")
    assert repo.json("ingest", bag, "--collection", "deposits")["failures"] == []
