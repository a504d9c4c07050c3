"""Manifest path encoding, path safety and payload name checks (RFC 8493 §2.1.3, §5, §6.1)."""

from __future__ import annotations

import unicodedata

import pytest

from preserve.bagit import (
    check_payload_names,
    decode_manifest_path,
    encode_manifest_path,
    unsafe_reason,
)
from preserve.bagit.paths import unencoded_percent

NFC = unicodedata.normalize("NFC", "Núñez")
NFD = unicodedata.normalize("NFD", "Núñez")
assert NFC != NFD


@pytest.mark.parametrize(
    ("name", "encoded"),
    [
        ("data/plain.txt", "data/plain.txt"),
        ("data/100%.txt", "data/100%25.txt"),
        ("data/line\nbreak", "data/line%0Abreak"),
        ("data/Icon\r", "data/Icon%0D"),
        ("data/crlf\r\n", "data/crlf%0D%0A"),
        ("data/%0A literal", "data/%250A literal"),
        ("data/%25", "data/%2525"),
        # nothing else is encoded: spaces, tabs, ~, #, ?, non-ASCII stay as they are
        ("data/a b\tc~#?&=+.txt", "data/a b\tc~#?&=+.txt"),
        (f"data/{NFD}/é", f"data/{NFD}/é"),
    ],
)
def test_encode_only_cr_lf_and_percent(name: str, encoded: str) -> None:
    assert encode_manifest_path(name) == encoded
    assert decode_manifest_path(encoded, (1, 0)) == name


@pytest.mark.parametrize(
    ("written", "name"),
    [
        ("data/%0a%0A%0d%0D", "data/\n\n\r\r"),
        ("data/%25", "data/%"),
        ("data/%250A", "data/%0A"),  # one pass: %25 then a literal "0A"
        ("data/%7Etest1.txt", "data/%7Etest1.txt"),  # only the three codes are decoded
        ("data/%test2.txt", "data/%test2.txt"),
        ("data/%2", "data/%2"),
        ("data/%20", "data/%20"),
    ],
)
def test_decode_1_0(written: str, name: str) -> None:
    assert decode_manifest_path(written, (1, 0)) == name


@pytest.mark.parametrize(
    ("written", "raw"),
    [
        ("data/100%.txt", True),  # RFC 8493 §2.1.3: '%' must be written %25
        ("data/%7Etest1.txt", True),  # other escapes are not BagIt's: a literal '%'
        ("data/%", True),
        ("data/%2", True),
        ("data/50%%25", True),  # one raw, one encoded
        ("data/100%25.txt", False),
        ("data/a%250Ab", False),
        ("data/%0a%0A%0d%0D", False),  # either case of hex digit
        ("data/plain.txt", False),
    ],
)
def test_unencoded_percent(written: str, raw: bool) -> None:
    assert unencoded_percent(written) is raw


@pytest.mark.parametrize(
    "name", ["data/100%.txt", "data/a%0Ab", "data/%25", "data/%%%", "data/x\r%\n%0D"]
)
def test_encoded_names_never_hold_an_unencoded_percent(name: str) -> None:
    assert not unencoded_percent(encode_manifest_path(name))


@pytest.mark.parametrize("version", [(0, 93), (0, 96), (0, 97)])
@pytest.mark.parametrize(
    ("written", "name"),
    [
        # the suite's bag-with-encoded-names has literal "%7E" and "%" names on disk
        ("data/%7Etest1.txt", "data/%7Etest1.txt"),
        ("data/%7Edir2/dir3/test5.txt", "data/%7Edir2/dir3/test5.txt"),
        ("data/%test2.txt", "data/%test2.txt"),
        ("data/%25", "data/%25"),  # % was never encoded before 1.0
        ("data/a%0Ab%0dc", "data/a\nb\rc"),
    ],
)
def test_decode_before_1_0(version: tuple[int, int], written: str, name: str) -> None:
    assert decode_manifest_path(written, version) == name


@pytest.mark.parametrize(
    "path",
    [
        "data/a.txt",
        "bagit.txt",
        "metadata/premis.xml",
        "data/dir1/~test3.txt",  # '~' only matters at the start
        "data/%7Edir2/dir3/test5.txt",
        "data/%test2.txt",
        "data/100%done%.txt",  # %VAR% only matters at the start
        "data/a b/c d.txt",
        f"data/{NFD}",
        "data/...",
        "data/..hidden",
        "data/line\nbreak",
        "data/C:/x",  # a drive letter only counts at the start
    ],
)
def test_safe_paths(path: str) -> None:
    assert unsafe_reason(path) is None


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("", "empty"),
        ("/tmp/foo", "absolute"),
        ("/etc/passwd", "absolute"),
        ("../../../README.md", ".."),
        ("data/../../x", ".."),
        ("data/..", ".."),
        ("~/foo", "~"),
        ("~root/foo", "~"),
        ("C:\\Windows\\System32\\setx.exe", "backslash"),
        ("c:foo", "drive letter"),
        ("C:/Windows", "drive letter"),
        ("\\\\?\\UNC\\server\\share", "backslash"),
        ("%HomeDrive%\\Windows", "backslash"),
        ("%HOMEDRIVE%/Windows", "%"),
        ("\\.\\./\\.\\./README.md", "backslash"),
        ("data/x\\y", "backslash"),
        ("data//x", "empty segment"),
        ("data/x/", "empty segment"),
        ("data/./x", "'.'"),
        ("./data/x", "'.'"),
        ("data/nul\x00byte", "NUL"),
        ("data/\udcffbytes", "UTF-8"),
    ],
)
def test_unsafe_paths(path: str, reason: str) -> None:
    found = unsafe_reason(path)
    assert found is not None
    assert reason in found


def test_normalization_collision_is_an_error_naming_both() -> None:
    errors, _ = check_payload_names([f"{NFC}.txt", "other.txt", f"{NFD}.txt"])
    assert [p.code for p in errors] == ["normalization-collision"]
    assert errors[0].path == f"{NFD}.txt"
    assert f"'{NFC}.txt'" in errors[0].message and f"'{NFD}.txt'" in errors[0].message
    assert errors[0].severity == "error"


def test_normalization_collision_between_folders() -> None:
    errors, _ = check_payload_names([f"{NFC}/a.txt", f"{NFD}/b.txt"])
    assert [p.code for p in errors] == ["normalization-collision"]
    assert "folder" in errors[0].message


def test_case_collision_is_a_warning() -> None:
    errors, warnings = check_payload_names(
        ["Report.pdf", "report.PDF", "Photos/a.jpg", "photos/b.jpg"]
    )
    assert errors == []
    collisions = [p for p in warnings if p.code == "case-collision"]
    assert {p.path for p in collisions} == {"report.PDF", "photos"}
    assert all(p.severity == "warning" for p in collisions)
    assert "'Report.pdf'" in collisions[0].message


@pytest.mark.parametrize(
    ("name", "code"),
    [
        (".DS_Store", "system-file"),
        ("sub/Thumbs.db", "system-file"),
        ("DESKTOP.INI", "system-file"),
        ("Icon\r", "system-file"),
        ("._photo.jpg", "system-file"),
        ("__MACOSX/x.txt", "system-file"),
        ("CON", "windows-reserved-name"),
        ("nul.txt", "windows-reserved-name"),
        ("dir/LPT1.log", "windows-reserved-name"),
        ("aux/file.txt", "windows-reserved-name"),
        ("what?.txt", "windows-incompatible-name"),
        ("trailing.", "windows-incompatible-name"),
    ],
)
def test_odd_names_are_warnings(name: str, code: str) -> None:
    errors, warnings = check_payload_names([name])
    assert errors == []
    assert code in [p.code for p in warnings]


def test_ordinary_names_give_nothing_and_repeats_are_ignored() -> None:
    names = ["a.txt", "dir/b.txt", "dir/c.txt", "dir/sub/d.txt", "a.txt", "console.log", "CONFIG"]
    assert check_payload_names(names) == ([], [])
