"""BagIt profiles (bagit-profiles 1.1.0-1.4.0): loading a profile, and every breach a bag can
commit against one, each with its code and the file it concerns."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import bagit
import pytest

from preserve.bagit import make_bag
from preserve.bagit.profiles import (
    AIP_PROFILE_IDENTIFIER,
    BUNDLED,
    InvalidProfile,
    Profile,
    bundled_text,
    check_profile,
    load_profile,
    parse_profile,
    resolve_profile,
)

APTRUST_ID = "https://raw.githubusercontent.com/APTrust/preservation-services/master/profiles/aptrust-v2.2.json"
BTR_ID = "https://github.com/dpscollaborative/btr_bagit_profile/releases/download/1.0/btr-bagit-profile.json"


def _codes(problems: list[Any]) -> list[tuple[str, str]]:
    return [(p.code, p.path) for p in problems]


# ------------------------------------------------------------------ loading


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_every_bundled_profile_loads(name: str) -> None:
    profile = resolve_profile(name)
    assert profile.source == f"bundled profile {name}"
    assert profile.accept_bagit_version
    assert json.loads(bundled_text(name)) == dict(profile.document)


def test_the_bundled_profiles_say_what_they_are() -> None:
    aip = resolve_profile("preserve-aip")
    assert (aip.identifier, aip.version, aip.spec_version) == (
        AIP_PROFILE_IDENTIFIER,
        "1.0",
        "1.4.0",
    )
    assert aip.manifests_required == ("sha512",) and aip.tag_manifests_required == ("sha512",)
    assert aip.tag_files_required == ("metadata/dc.xml", "metadata/premis.xml")
    assert aip.allow_fetch and aip.accept_bagit_version == ("1.0",)
    aptrust = resolve_profile("aptrust")
    assert (aptrust.identifier, aptrust.spec_version) == (APTRUST_ID, "1.3.0")
    assert aptrust.serialization == "required" and aptrust.accept_serialization == (
        "application/tar",
    )
    assert aptrust.manifests_required == ("md5",) and aptrust.tag_files_required == (
        "aptrust-info.txt",
    )
    btr = resolve_profile("btr")
    assert (btr.identifier, btr.spec_version, btr.allow_fetch) == (BTR_ID, "1.3.0", False)
    assert [r.name for r in btr.bag_info if r.required] == [
        "Source-Organization",
        "Bagging-Date",
        "Payload-Oxum",
    ]


def _minimal(**fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "BagIt-Profile-Info": {
            "BagIt-Profile-Identifier": "https://example.org/profiles/test-v1.json",
            "BagIt-Profile-Version": "1.4.0",
            "Source-Organization": "Example archive",
            "External-Description": "A profile for tests",
            "Version": "1",
        },
        "Accept-BagIt-Version": ["1.0"],
    }
    doc.update(fields)
    return doc


def _write(tmp_path: Path, document: Any, name: str = "profile.json") -> Path:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"BagIt-Profile-Info": {', "not a BagIt profile: not valid JSON (line 1, column 25"),
        ("", "not a BagIt profile: not valid JSON (line 1, column 1"),
        ("[1, 2]", "not a BagIt profile: the JSON is list, not an object"),
        ("{}", "not a BagIt profile: no BagIt-Profile-Info object"),
        (
            '{"bagItProfileInfo": {}, "tags": []}',
            "no BagIt-Profile-Info object (this looks like a DART profile",
        ),
    ],
)
def test_a_file_that_is_not_a_profile_is_one_line_naming_it(
    tmp_path: Path, content: str, message: str
) -> None:
    path = _write(tmp_path, content)
    with pytest.raises(InvalidProfile) as info:
        load_profile(path)
    text = str(info.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text
    assert info.value.exit_code == 2


def test_bytes_that_are_not_utf8_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"x": "caf\xe9"}')
    with pytest.raises(InvalidProfile, match=r"latin1\.json: not a BagIt profile: not UTF-8"):
        load_profile(path)


@pytest.mark.parametrize("version", ["2.0.0", "1.5.0", "1.3", 1.3, ""])
def test_an_unknown_spec_version_is_refused(tmp_path: Path, version: Any) -> None:
    doc = _minimal()
    doc["BagIt-Profile-Info"]["BagIt-Profile-Version"] = version
    path = _write(tmp_path, doc)
    with pytest.raises(InvalidProfile) as info:
        load_profile(path)
    assert str(info.value) == (
        f"{path}: BagIt-Profile-Version {json.dumps(version)} is not a version of the BagIt "
        "profiles specification preserve reads (1.1.0, 1.2.0, 1.3.0, 1.4.0)"
    )


def test_a_profile_without_a_spec_version_follows_1_1_0(tmp_path: Path) -> None:
    doc = _minimal()
    del doc["BagIt-Profile-Info"]["BagIt-Profile-Version"]
    assert load_profile(_write(tmp_path, doc)).spec_version == "1.1.0"


@pytest.mark.parametrize("version", ["1.1.0", "1.2.0", "1.3.0", "1.4.0"])
def test_each_spec_version_loads(tmp_path: Path, version: str) -> None:
    doc = _minimal()
    doc["BagIt-Profile-Info"]["BagIt-Profile-Version"] = version
    assert load_profile(_write(tmp_path, doc)).spec_version == version


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"Accept-BagIt-Version": []}, "Accept-BagIt-Version must list at least one"),
        ({"Accept-BagIt-Version": ["one"]}, "'one' is not a version number"),
        ({"Manifests-Required": "md5"}, 'Manifests-Required must be a list of strings, not "md5"'),
        ({"Allow-Fetch.txt": "no"}, 'Allow-Fetch.txt must be true or false, not "no"'),
        ({"Serialization": "sometimes"}, "Serialization must be forbidden, required or optional"),
        (
            {"Serialization": "required"},
            "Serialization is required but Accept-Serialization names no MIME type",
        ),
        (
            {"Manifests-Required": ["sha512"], "Manifests-Allowed": ["md5"]},
            "Manifests-Required names sha512, which Manifests-Allowed does not allow",
        ),
        (
            {"Tag-Files-Required": ["meta/a"], "Tag-Files-Allowed": ["meta/*/*"]},
            "Tag-Files-Required names meta/a, which no pattern of Tag-Files-Allowed covers",
        ),
        (
            {"Allow-Fetch.txt": False, "Fetch.txt-Required": True},
            "Fetch.txt-Required is true but Allow-Fetch.txt is false",
        ),
        ({"Bag-Info": {"Source-Organization": True}}, "Bag-Info: Source-Organization must be"),
        ({"Bag-Info": {"X": {"repeatable": 0}}}, "repeatable must be true or false, not 0"),
    ],
)
def test_a_profile_with_wrong_fields_is_refused(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    path = _write(tmp_path, _minimal(**change))
    with pytest.raises(InvalidProfile) as info:
        load_profile(path)
    assert str(info.value).startswith(f"{path}: not a usable BagIt profile: ")
    assert message in str(info.value)


def test_profile_info_needs_its_identifier_and_version(tmp_path: Path) -> None:
    for key in ("BagIt-Profile-Identifier", "Version", "Source-Organization"):
        doc = _minimal()
        del doc["BagIt-Profile-Info"][key]
        with pytest.raises(InvalidProfile, match=f"BagIt-Profile-Info: {key} is missing"):
            load_profile(_write(tmp_path, doc))


def test_missing_file_folder_and_url_are_clear(tmp_path: Path) -> None:
    with pytest.raises(InvalidProfile, match=r"nope\.json: no such profile file"):
        resolve_profile(str(tmp_path / "nope.json"))
    with pytest.raises(InvalidProfile, match="is a folder, not a profile file"):
        resolve_profile(str(tmp_path))
    with pytest.raises(InvalidProfile, match="never fetched"):
        resolve_profile(BTR_ID)
    with pytest.raises(InvalidProfile, match=r"aptrus: no such profile file, nor a bundled"):
        resolve_profile("aptrus")


def test_quoted_booleans_of_the_spec_abnf_are_read(tmp_path: Path) -> None:
    profile = load_profile(_write(tmp_path, _minimal(**{"Allow-Fetch.txt": "false"})))
    assert profile.allow_fetch is False


# ------------------------------------------------------------------ bags


def _aptrust_bag(tmp_path: Path, name: str = "example.edu.bag") -> Path:
    """A bag as an APTrust depositor makes it: md5 and sha256 manifests, aptrust-info.txt,
    BagIt-Profile-Identifier naming APTrust's profile (bagit-python, as DART-like tools do)."""
    folder = tmp_path / name
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "plate-001.txt").write_text("glass plate one\n")
    (folder / "notes.txt").write_text("notes\n")
    bag = bagit.make_bag(
        str(folder),
        {
            "Source-Organization": "Example University",
            "BagIt-Profile-Identifier": APTRUST_ID,
            "Internal-Sender-Identifier": "box-12",
        },
        checksums=["md5", "sha256"],
    )
    (folder / "aptrust-info.txt").write_text(
        "Title: Glass plates\nAccess: Institution\nStorage-Option: Standard\n"
    )
    bag.save()
    return folder


def test_an_aptrust_like_bag_conforms(tmp_path: Path) -> None:
    folder = _aptrust_bag(tmp_path)
    assert check_profile(folder, resolve_profile("aptrust"), serialised="tar") == []


def test_an_aptrust_like_bag_breaks_each_rule_and_all_are_reported(tmp_path: Path) -> None:
    folder = _aptrust_bag(tmp_path)
    (folder / "aptrust-info.txt").unlink()
    (folder / "fetch.txt").write_text("https://example.org/x 5 data/x.txt\n")
    info = folder / "bag-info.txt"
    info.write_text(
        info.read_text()
        .replace("Source-Organization: Example University\n", "")
        .replace(APTRUST_ID, BTR_ID)
    )
    # the md5 manifest (required) becomes a sha512 one (not allowed); likewise a tag manifest
    (folder / "manifest-md5.txt").rename(folder / "manifest-sha512.txt")
    (folder / "tagmanifest-md5.txt").rename(folder / "tagmanifest-sha1.txt")
    problems = check_profile(folder, resolve_profile("aptrust"), serialised="zip")
    assert _codes(problems) == [
        ("profile-serialization-type", ""),
        ("profile-identifier", "bag-info.txt"),
        ("profile-tag-required", "bag-info.txt"),
        ("profile-manifest-required", "manifest-md5.txt"),
        ("profile-manifest-not-allowed", "manifest-sha512.txt"),
        ("profile-tag-manifest-not-allowed", "tagmanifest-sha1.txt"),
        ("profile-tag-file-required", "aptrust-info.txt"),
        ("profile-fetch-not-allowed", "fetch.txt"),
    ]
    messages = [p.message for p in problems]
    assert "a zip archive (application/zip) is not accepted by the profile" in messages[0]
    assert messages[1] == f"BagIt-Profile-Identifier is {BTR_ID}, not this profile's {APTRUST_ID}"
    assert messages[2] == "Source-Organization is required by the profile and missing"
    assert all(p.severity == "error" for p in problems)


def test_serialisation_required_and_a_folder(tmp_path: Path) -> None:
    folder = _aptrust_bag(tmp_path)
    problems = check_profile(folder, resolve_profile("aptrust"))
    assert _codes(problems) == [("profile-serialization", "")]
    assert problems[0].message == (
        "the profile requires the bag as one file (application/tar), not as a folder"
    )


def test_serialisation_forbidden_and_a_zip(tmp_path: Path) -> None:
    folder = _aptrust_bag(tmp_path)
    profile = parse_profile(
        _minimal(
            **{
                "Serialization": "forbidden",
                "Accept-BagIt-Version": ["0.97", "1.0"],  # bagit-python writes 0.97
                "BagIt-Profile-Info": {
                    **_minimal()["BagIt-Profile-Info"],
                    "BagIt-Profile-Identifier": APTRUST_ID,
                },
            }
        ),
        "test",
    )
    assert _codes(check_profile(folder, profile, serialised="zip")) == [
        ("profile-serialization", "")
    ]
    assert check_profile(folder, profile) == []


def _bag(tmp_path: Path, identifier: str, **info: str) -> Path:
    src = tmp_path / "src"
    (src / "scans").mkdir(parents=True)
    (src / "scans" / "a.tif").write_bytes(b"II*\x00 not really a tiff")
    (src / "readme.txt").write_text("read me\n")
    dest = tmp_path / "bag"
    bag_info = [("BagIt-Profile-Identifier", identifier), *info.items()]
    make_bag(src, dest, algorithms=("sha512", "sha256"), bag_info=bag_info)
    return dest


def test_a_btr_bag_conforms_and_one_with_fetch_txt_does_not(tmp_path: Path) -> None:
    folder = _bag(tmp_path, BTR_ID, **{"Source-Organization": "Example University"})
    btr = resolve_profile("btr")
    assert check_profile(folder, btr) == []
    assert check_profile(folder, btr, serialised="gzip") == []
    (folder / "fetch.txt").write_text("https://example.org/b 3 data/b.txt\n")
    assert _codes(check_profile(folder, btr)) == [("profile-fetch-not-allowed", "fetch.txt")]


def test_btr_requires_source_organization(tmp_path: Path) -> None:
    folder = _bag(tmp_path, BTR_ID)
    assert _codes(check_profile(folder, resolve_profile("btr"))) == [
        ("profile-tag-required", "bag-info.txt")
    ]


def _profile_1_4(**fields: Any) -> Profile:
    doc = _minimal(**fields)
    doc["BagIt-Profile-Info"]["BagIt-Profile-Identifier"] = "https://example.org/p-1.4.json"
    return parse_profile(doc, "test profile")


def test_values_repeatable_and_case_insensitive_labels(tmp_path: Path) -> None:
    folder = _bag(
        tmp_path,
        "https://example.org/p-1.4.json",
        **{"source-organization": "Elsewhere", "Contact-Name": "Ann"},
    )
    info = folder / "bag-info.txt"
    info.write_text(info.read_text() + "Contact-Name: Bob\n")
    profile = _profile_1_4(
        **{
            "Bag-Info": {
                "Source-Organization": {"required": True, "values": ["Here", "There"]},
                "Contact-Name": {"repeatable": False, "values": ["Ann", "Bob"]},
                "Contact-Email": {"required": True, "values": []},
            }
        }
    )
    problems = check_profile(folder, profile)
    assert _codes(problems) == [
        ("profile-tag-value", "bag-info.txt"),
        ("profile-tag-repeated", "bag-info.txt"),
        ("profile-tag-required", "bag-info.txt"),
    ]
    assert problems[0].message == (
        "Source-Organization: 'Elsewhere' is not one of the values the profile allows (Here, There)"
    )
    assert problems[1].message == (
        "Contact-Name appears 2 times; the profile says it does not repeat"
    )


def test_bagit_version_not_accepted(tmp_path: Path) -> None:
    folder = _bag(tmp_path, "https://example.org/p-1.4.json")
    (folder / "bagit.txt").write_text("BagIt-Version: 0.97\nTag-File-Character-Encoding: UTF-8\n")
    problems = check_profile(folder, _profile_1_4())
    assert _codes(problems) == [("profile-bagit-version", "bagit.txt")]
    assert (
        problems[0].message == "BagIt-Version 0.97 is not accepted by the profile (it accepts 1.0)"
    )
    assert check_profile(folder, _profile_1_4(**{"Accept-BagIt-Version": ["0.97", "1.0"]})) == []


def test_tag_and_payload_file_patterns_of_1_4(tmp_path: Path) -> None:
    folder = _bag(tmp_path, "https://example.org/p-1.4.json")
    (folder / "metadata" / "sub").mkdir(parents=True)
    (folder / "metadata" / "sub" / "mods.xml").write_text("<mods/>")
    (folder / "extra.txt").write_text("?")
    profile = _profile_1_4(
        **{
            "Tag-Files-Required": ["metadata/", "metadata/*.xml", "docs/readme.md"],
            "Tag-Files-Allowed": ["metadata/*", "docs/*"],
            "Payload-Files-Required": ["data/scans/", "data/*.pdf"],
            "Payload-Files-Allowed": ["data/scans/*", "data/*.pdf"],
        }
    )
    assert _codes(check_profile(folder, profile)) == [
        ("profile-tag-file-required", "docs/readme.md"),
        ("profile-tag-file-not-allowed", "extra.txt"),
        ("profile-payload-file-required", "data/*.pdf"),
        ("profile-payload-file-not-allowed", "data/readme.txt"),
    ]


def test_manifests_and_tag_manifests_1_3(tmp_path: Path) -> None:
    folder = _bag(tmp_path, "https://example.org/p-1.4.json")
    doc = _minimal(
        **{
            "Manifests-Required": ["sha-512", "md5"],
            "Manifests-Allowed": ["SHA512", "md5"],
            "Tag-Manifests-Required": ["sha1"],
        }
    )
    doc["BagIt-Profile-Info"]["BagIt-Profile-Version"] = "1.3.0"
    doc["BagIt-Profile-Info"]["BagIt-Profile-Identifier"] = "https://example.org/p-1.4.json"
    assert _codes(check_profile(folder, parse_profile(doc, "p"))) == [
        ("profile-manifest-required", "manifest-md5.txt"),
        ("profile-manifest-not-allowed", "manifest-sha256.txt"),
        ("profile-tag-manifest-required", "tagmanifest-sha1.txt"),
    ]


def test_fetch_txt_required_and_data_empty(tmp_path: Path) -> None:
    folder = _bag(tmp_path, "https://example.org/p-1.4.json")
    profile = _profile_1_4(**{"Fetch.txt-Required": True, "Data-Empty": True})
    problems = check_profile(folder, profile)
    assert _codes(problems) == [
        ("profile-fetch-required", "fetch.txt"),
        ("profile-data-not-empty", "data"),
    ]
    assert "data/ holds 2 files" in problems[1].message
    empty_src = tmp_path / "empty-src"
    empty_src.mkdir()
    (empty_src / "placeholder").write_bytes(b"")
    empty = tmp_path / "empty-bag"
    make_bag(
        empty_src, empty, bag_info=[("BagIt-Profile-Identifier", "https://example.org/p-1.4.json")]
    )
    (empty / "fetch.txt").write_text("")
    assert check_profile(empty, profile) == []


def test_a_bag_without_bag_info_misses_its_identifier(tmp_path: Path) -> None:
    folder = _bag(tmp_path, "https://example.org/p-1.4.json")
    (folder / "bag-info.txt").unlink()
    problems = check_profile(folder, _profile_1_4())
    assert _codes(problems) == [("profile-identifier", "bag-info.txt")]
    assert problems[0].message.startswith("BagIt-Profile-Identifier is missing")


def test_the_profile_document_is_kept_as_given(tmp_path: Path) -> None:
    doc = _minimal(**{"X-Extension": {"anything": [1, 2]}})
    profile = parse_profile(copy.deepcopy(doc), "p")
    assert dict(profile.document) == doc


def test_a_value_folded_over_lines_still_matches(tmp_path: Path) -> None:
    folder = _bag(tmp_path, "https://example.org/p-1.4.json")
    info = folder / "bag-info.txt"
    text = info.read_text().replace(
        "BagIt-Profile-Identifier: https://example.org/p-1.4.json",
        "BagIt-Profile-Identifier:\n  https://example.org/p-1.4.json",
    )
    info.write_text(text + "Access: Open to\n  everyone\n")
    profile = _profile_1_4(**{"Bag-Info": {"Access": {"values": ["Open to everyone"]}}})
    assert check_profile(folder, profile) == []
