"""The Library of Congress BagIt conformance suite, scored as tests/data/README.md says.

valid/ must validate; invalid/, linux-only/ and windows-only/ must fail (on every OS); warning/
must validate with at least one warning. Corrections for a case-sensitive filesystem: the
upstream special-system-files bag lacks its empty data/.DS_Store (created in the copy), and
duplicate-file-with-different-case is invalid here (data/HELLO.txt does not exist). Every bag is
validated in a temporary copy, with the network cut off and every opened path recorded: nothing
outside the bag may be opened, whatever its manifests or fetch.txt say.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from preserve.bagit import validate_bag
from preserve.values import ValidationReport

SUITE = Path(__file__).resolve().parents[1] / "data" / "bagit-conformance-suite"

EXPECTED_BY_CATEGORY = {
    "valid": "valid",
    "invalid": "invalid",
    "linux-only": "invalid",
    "windows-only": "invalid",
    "warning": "warning",
}
# the documented case-sensitivity exception: data/HELLO.txt is absent on Linux and S3
EXPECTED_EXCEPTIONS = {"v0.97/warning/duplicate-file-with-different-case": "invalid"}

# (severity, code, path) that must be among the findings: the reason, not only the verdict
REASONS: dict[str, set[tuple[str, str, str]]] = {
    "v0.97/invalid/corrupt-data-file": {("error", "checksum-mismatch", "data/bare-filename")},
    "v0.97/invalid/corrupt-tag-file": {
        ("error", "checksum-mismatch", "bag-info.txt"),
        ("error", "checksum-mismatch", "bagit.txt"),
        ("error", "checksum-mismatch", "manifest-md5.txt"),
    },
    "v0.97/invalid/baginfo-missing-encoding": {("error", "bagit-txt-invalid", "bagit.txt")},
    "v0.97/invalid/bom-in-bagit.txt": {("error", "bagit-txt-bom", "bagit.txt")},
    "v0.97/invalid/extra-file-in-bag": {("error", "file-not-in-manifest", "data/bar")},
    "v0.97/invalid/invalid-version-number": {("error", "version-invalid", "bagit.txt")},
    "v0.97/invalid/missing-baginfo": {("error", "tag-file-missing", "bag-info.txt")},
    "v0.97/invalid/missing-bagit.txt": {("error", "bagit-txt-missing", "bagit.txt")},
    "v0.97/invalid/same-filename-listed-twice-with-different-hashes": {
        ("error", "duplicate-entry", "data/README")
    },
    "v0.97/invalid/out-of-scope-file-paths-using-dot-notation": {
        ("error", "unsafe-path", "../../../README.md"),
        ("error", "unsafe-path", "\\.\\./\\.\\./\\.\\./README.md"),
    },
    "v0.97/invalid/out-of-scope-file-paths-using-dot-notation-for-fetch": {
        ("error", "unsafe-path", "../../../README.md")
    },
    "v0.97/linux-only/out-of-scope-file-paths-using-absolute-path": {
        ("error", "unsafe-path", "/tmp/foo")
    },
    "v0.97/linux-only/out-of-scope-file-paths-using-absolute-path-for-fetch": {
        ("error", "unsafe-path", "/tmp/test.txt")
    },
    "v0.97/linux-only/out-of-scope-file-paths-using-shortcut": {("error", "unsafe-path", "~/foo")},
    "v0.97/linux-only/out-of-scope-file-paths-using-shortcut-for-fetch": {
        ("error", "unsafe-path", "~/test.txt")
    },
    "v0.97/linux-only/out-of-scope-file-paths-using-shortcut-username": {
        ("error", "unsafe-path", "~root/foo")
    },
    "v0.97/linux-only/out-of-scope-file-paths-using-shortcut-username-for-fetch": {
        ("error", "unsafe-path", "~root/foo")
    },
    "v0.97/windows-only/out-of-scope-file-paths-using-absolute-path": {
        ("error", "unsafe-path", "C:\\Windows\\System32\\setx.exe")
    },
    "v0.97/windows-only/out-of-scope-file-paths-using-absolute-path-for-fetch": {
        ("error", "unsafe-path", "C:\\Windows\\System32\\setx.exe")
    },
    "v0.97/windows-only/out-of-scope-file-paths-using-shortcut": {
        ("error", "unsafe-path", "%HomeDrive%\\Windows\\System32\\setx.exe")
    },
    "v0.97/windows-only/out-of-scope-file-paths-using-shortcut-for-fetch": {
        ("error", "unsafe-path", "%HomeDrive%\\Windows\\System32\\setx.exe")
    },
    "v0.97/windows-only/out-of-scope-file-paths-using-unc": {
        ("error", "unsafe-path", "\\\\?\\UNC\\server\\Windows\\System32\\setx.exe")
    },
    "v0.97/windows-only/out-of-scope-file-paths-using-unc-for-fetch": {
        ("error", "unsafe-path", "\\\\?\\UNC\\server\\Windows\\System32\\setx.exe")
    },
    "v0.97/warning/duplicate-file-with-different-case": {
        ("error", "file-missing", "data/HELLO.txt"),
        ("warning", "case-collision", "data/HELLO.txt"),
    },
    "v0.97/warning/made-with-md5sum-tools": {
        ("warning", "md5sum-style", "manifest-md5.txt"),
        ("warning", "md5sum-style", "tagmanifest-md5.txt"),
    },
    "v0.97/warning/relative-path": {("warning", "md5sum-style", "manifest-sha512.txt")},
    "v0.97/warning/same-filename-listed-twice-with-the-same-hash": {
        ("warning", "duplicate-entry", "data/README")
    },
    "v0.97/warning/special-system-files": {
        ("warning", "system-file", "data/.DS_Store"),
        ("warning", "system-file", "data/Thumbs.db"),
    },
    "v1.0/invalid/bagit-with-invalid-whitespace": {("error", "bagit-txt-invalid", "bagit.txt")},
    "v1.0/invalid/notAllManifestsListAllFiles": {
        ("error", "file-not-in-manifest", "data/missingFromManifest.txt")
    },
    "v1.0/invalid/same-filename-listed-twice-with-different-hashes": {
        ("error", "duplicate-entry", "data/README"),
        ("error", "bagit-txt-invalid", "bagit.txt"),  # "BagIt-Version: 1.0 " (trailing space)
    },
    "v1.0/invalid/same-filename-listed-twice-with-the-same-hash": {
        ("error", "duplicate-entry", "data/README")
    },
}


def discover() -> list[str]:
    """Every bag of the suite as "vX/category/name" (folders only, the suite's files skipped)."""
    return sorted(
        f"{version.name}/{category.name}/{bag.name}"
        for version in SUITE.glob("v*")
        if version.is_dir()
        for category in version.iterdir()
        if category.is_dir()
        for bag in category.iterdir()
        if bag.is_dir()
    )


BAGS = discover() if SUITE.is_dir() else []


def expected(bag_id: str) -> str:
    return EXPECTED_EXCEPTIONS.get(bag_id, EXPECTED_BY_CATEGORY[bag_id.split("/")[1]])


def copy_bag(bag_id: str, tmp_path: Path) -> Path:
    """A writable copy three folders deep: the suite's "../../../README.md" is tmp_path/a/..."""
    dest = tmp_path / "a" / "b" / "c" / bag_id.split("/")[-1]
    shutil.copytree(SUITE / bag_id, dest, symlinks=True)
    for dirpath, _dirs, files in os.walk(dest):
        os.chmod(dirpath, 0o755)
        for name in files:
            if not os.path.islink(os.path.join(dirpath, name)):
                os.chmod(os.path.join(dirpath, name), 0o644)
    if bag_id == "v0.97/warning/special-system-files":
        (dest / "data" / ".DS_Store").write_bytes(b"")  # named by its manifest and Payload-Oxum
    return dest


@pytest.fixture
def guarded(monkeypatch: pytest.MonkeyPatch, opened: list[str]) -> Iterator[list[str]]:
    """No network at all, and a record of every path opened or listed."""

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"validation tried to use the network: {args!r}")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    yield opened


def findings(report: ValidationReport) -> set[tuple[str, str, str]]:
    return {(p.severity, p.code, p.path) for p in (*report.errors, *report.warnings)}


def test_the_whole_suite_is_found() -> None:
    assert SUITE.is_dir(), f"conformance suite not found at {SUITE}"
    assert len(BAGS) == 60
    assert {b.split("/")[1] for b in BAGS} == set(EXPECTED_BY_CATEGORY)
    assert set(REASONS) <= set(BAGS)
    assert set(EXPECTED_EXCEPTIONS) <= set(BAGS)


@pytest.mark.parametrize("bag_id", BAGS)
def test_conformance(bag_id: str, tmp_path: Path, guarded: list[str]) -> None:
    bag = copy_bag(bag_id, tmp_path)
    sentinel = tmp_path / "a" / "README.md"  # where "../../../README.md" points from the bag
    sentinel.write_bytes(b"outside the bag")
    mtime = sentinel.stat().st_mtime_ns
    os.utime(sentinel, ns=(0, mtime))  # an old atime: any read would move it (relatime)
    guarded.clear()

    report = validate_bag(bag)

    outcome = expected(bag_id)
    if outcome == "valid":
        assert report.valid, report.errors
    elif outcome == "warning":
        assert report.valid, report.errors
        assert report.warnings, "a warning/ bag must produce at least one warning"
    else:
        assert not report.valid, "an invalid bag was reported valid"

    assert REASONS.get(bag_id, set()) <= findings(report), (report.errors, report.warnings)
    if "out-of-scope" in bag_id:
        codes = {p.code for p in report.errors}
        assert "unsafe-path" in codes
        assert not codes & {"file-missing", "fetch-unfetched", "tag-file-missing"}

    # nothing outside the bag was opened or listed, and the sentinel was never read
    root = os.path.realpath(bag)
    assert guarded, "the recorder saw nothing"
    outside = [p for p in guarded if os.path.commonpath([os.path.realpath(p), root]) != root]
    assert outside == []
    assert sentinel.stat().st_atime_ns == 0


def test_normalization_bag_is_matched_after_nfc(tmp_path: Path) -> None:
    """Manifest lists NFD and NFC spellings; the disk has one NFC file: valid, with warnings."""
    bag_id = "v0.97/warning/same-filename-listed-twice-with-different-normalization"
    report = validate_bag(copy_bag(bag_id, tmp_path))
    assert report.valid, report.errors
    assert {"normalization-duplicate", "normalization-mismatch"} <= {
        p.code for p in report.warnings
    }


def test_holey_bag_with_holes_is_reported_unfetched(tmp_path: Path, guarded: list[str]) -> None:
    bag = copy_bag("v0.97/valid/holey-bag", tmp_path)
    (bag / "data" / "test2.txt").unlink()
    (bag / "data" / "test 1.txt").unlink()
    report = validate_bag(bag)
    assert not report.valid
    assert {(p.code, p.path) for p in report.errors} == {
        ("fetch-unfetched", "data/test2.txt"),
        ("fetch-unfetched", "data/test 1.txt"),
    }


def test_parallel_hashing_gives_the_same_verdicts(tmp_path: Path) -> None:
    for n, bag_id in enumerate(BAGS):
        bag = copy_bag(bag_id, tmp_path / str(n))
        one, many = validate_bag(bag), validate_bag(bag, processes=3)
        assert one == many, bag_id
