"""fetch.txt of a stored package version (preserve.bagit.fetch) and the validator's
``resolve_fetch``: a later version names the files an earlier version stores; our tools resolve
those entries on the location they read, never over the network, and refuse anything else."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from preserve.bagit import BagWriter, validate_bag
from preserve.bagit.fetch import FetchRefused, local_resolver, parse_fetch, stored_object

PACKAGE = "museum/photos/3f2a9c1e-0000-4000-8000-000000000001/"


# --------------------------------------------------------------------------- parse_fetch


def test_parse_fetch_decodes_paths_and_lengths() -> None:
    entries, errors = parse_fetch(
        "file:///srv/a%20b/v1/data/x.txt 12 data/x.txt\n"
        "s3://bucket/v1/data/100%25.txt - data/100%25.txt\r\n"
        "\n"
        "s3://bucket/k\t7\tdata/with space.txt\n"
    )
    assert errors == []
    assert [(e.url, e.length, e.path, e.line) for e in entries] == [
        ("file:///srv/a%20b/v1/data/x.txt", 12, "data/x.txt", 1),
        ("s3://bucket/v1/data/100%25.txt", None, "data/100%.txt", 2),
        ("s3://bucket/k", 7, "data/with space.txt", 4),
    ]


def test_parse_fetch_names_each_bad_line() -> None:
    entries, errors = parse_fetch("just-a-url\ns3://b/k twelve data/a\ns3://b/k 1 data/ok\n")
    assert [e.path for e in entries] == ["data/ok"]
    assert errors == [
        "fetch.txt line 1 is not 'url length path'",
        "fetch.txt line 2 is not 'url length path'",
    ]


# --------------------------------------------------------------------------- stored_object


@pytest.mark.parametrize(
    "url",
    [
        f"s3://bucket/prefix/{PACKAGE}v1/data/scans/p%201.tif",
        f"s3://bucket/{PACKAGE}v1/data/scans/p%201.tif",
        f"file:///srv/preserve/storage/{PACKAGE}v1/data/scans/p%201.tif",
    ],
)
def test_an_entry_names_a_payload_file_of_an_earlier_version(url: str) -> None:
    """Whatever the location's root (another bucket, prefix or folder than the one read):
    the part from the package's folder on is what counts."""
    assert stored_object(url, PACKAGE, 3) == (1, "data/scans/p 1.tif")


def test_percent_encoded_names_decode_to_the_stored_name() -> None:
    url = f"file:///r/{PACKAGE}v2/data/caf%C3%A9%25%20%E2%82%AC.txt"
    assert stored_object(url, PACKAGE, 3) == (2, "data/café% €.txt")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        (f"https://example.org/{PACKAGE}v1/data/a.txt", "not a file:// or s3:// URL"),
        (f"s3://bucket/{PACKAGE}v1/data/a.txt?versionId=3", "no query or fragment"),
        (f"s3://bucket/{PACKAGE}v1/data/a.txt#x", "no query or fragment"),
        (
            "s3://bucket/museum/photos/3f2a9c1e-0000-4000-8000-000000000002/v1/data/a.txt",
            "does not name a file of this package",
        ),
        (f"s3://bucket/{PACKAGE}v1/bag-info.txt", "does not name a payload file"),
        (f"s3://bucket/{PACKAGE}events/2026/01/x.xml", "does not name a payload file"),
        (f"s3://bucket/{PACKAGE}v0/data/a.txt", "does not name a payload file"),
        (f"s3://bucket/{PACKAGE}v3/data/a.txt", "names version 3, not an earlier version than 3"),
        (f"s3://bucket/{PACKAGE}v4/data/a.txt", "names version 4"),
        (f"s3://bucket/{PACKAGE}v1/data/../../v3/data/a.txt", "unsafe path"),
        (f"s3://bucket/{PACKAGE}v1/data/%2E%2E/x", "unsafe path"),
    ],
)
def test_anything_else_is_refused(url: str, reason: str) -> None:
    with pytest.raises(FetchRefused, match=reason.replace("?", r"\?")):
        stored_object(url, PACKAGE, 3)


# --------------------------------------------------------------------------- the validator


def _sha(alg: str, data: bytes) -> str:
    return hashlib.new(alg, data).hexdigest()


def _versions(tmp_path: Path, url_root: str | None = None) -> tuple[Path, str]:
    """A location root holding version 1 (a.txt, b.txt) and version 2 (b.txt changed; a.txt
    named in fetch.txt) of a package, as preserve stores them; (root, package folder)."""
    root = tmp_path / "storage"
    folder = PACKAGE
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_bytes(b"alpha\n")
    (src / "b.txt").write_bytes(b"bravo\n")
    (src / "b2.txt").write_bytes(b"bravo, corrected\n")
    v1 = BagWriter(root / folder / "v1")
    v1.add_payload_file("a.txt", src / "a.txt")
    v1.add_payload_file("b.txt", src / "b.txt")
    v1.finish()
    v2 = BagWriter(root / folder / "v2")
    v2.add_payload_file("b.txt", src / "b2.txt")
    data = b"alpha\n"
    digests = {alg: _sha(alg, data) for alg in ("sha512", "sha256")}
    base = url_root or f"file://{root}"
    v2.add_fetch_entry("a.txt", len(data), digests, f"{base}/{folder}v1/data/a.txt", present=False)
    v2.finish()
    return root, folder


def test_a_stored_version_validates_once_its_fetch_entries_are_resolved(tmp_path: Path) -> None:
    root, folder = _versions(tmp_path)
    report = validate_bag(root / folder / "v2", resolve_fetch=local_resolver(root, folder, 2))
    assert report.valid, report.errors
    assert (report.payload_files, report.warnings) == (2, ())


def test_by_default_fetch_txt_is_never_resolved(tmp_path: Path) -> None:
    """Ingest refuses such a bag: it is incomplete (RFC 8493 §3)."""
    root, folder = _versions(tmp_path)
    report = validate_bag(root / folder / "v2")
    assert [p.code for p in report.errors] == ["fetch-unfetched"]
    assert [p.code for p in report.warnings] == ["fetch-txt-present"]


def test_an_entry_written_for_another_location_resolves_on_this_one(tmp_path: Path) -> None:
    root, folder = _versions(tmp_path, url_root="s3://other-bucket/copies")
    report = validate_bag(root / folder / "v2", resolve_fetch=local_resolver(root, folder, 2))
    assert report.valid, report.errors


def test_a_refused_entry_is_reported_and_nothing_else_is_read(tmp_path: Path) -> None:
    root, folder = _versions(tmp_path, url_root="https://example.org")
    opened: list[str] = []

    def resolver(url: str, path: str) -> Path:
        opened.append(url)
        return local_resolver(root, folder, 2)(url, path)

    report = validate_bag(root / folder / "v2", resolve_fetch=resolver)
    assert [(p.code, p.path) for p in report.errors] == [("fetch-unresolved", "data/a.txt")]
    assert "not a file:// or s3:// URL" in report.errors[0].message
    assert len(opened) == 1


def test_a_resolved_file_that_changed_is_caught(tmp_path: Path) -> None:
    root, folder = _versions(tmp_path)
    (root / folder / "v1" / "data" / "a.txt").write_bytes(b"alpha!\n")
    report = validate_bag(root / folder / "v2", resolve_fetch=local_resolver(root, folder, 2))
    codes = sorted(p.code for p in report.errors)
    assert codes == [
        "checksum-mismatch",
        "checksum-mismatch",
        "fetch-length-mismatch",
        "payload-oxum-mismatch",
    ]
    assert all(p.path in ("data/a.txt", "bag-info.txt") for p in report.errors)


def test_a_missing_earlier_file_is_unresolved(tmp_path: Path) -> None:
    root, folder = _versions(tmp_path)
    (root / folder / "v1" / "data" / "a.txt").unlink()
    report = validate_bag(root / folder / "v2", resolve_fetch=local_resolver(root, folder, 2))
    assert [(p.code, p.path) for p in report.errors] == [("fetch-unresolved", "data/a.txt")]
    assert "cannot be read where it resolves to" in report.errors[0].message


def test_a_version_storing_no_payload_needs_no_data_folder(tmp_path: Path) -> None:
    """A metadata-only version: object storage keeps no empty data/ folder."""
    root, folder = _versions(tmp_path)
    v3 = BagWriter(root / folder / "v3")
    for name, data, stored in (("a.txt", b"alpha\n", 1), ("b.txt", b"bravo, corrected\n", 2)):
        digests = {alg: _sha(alg, data) for alg in ("sha512", "sha256")}
        url = f"file://{root}/{folder}v{stored}/data/{name}"
        v3.add_fetch_entry(name, len(data), digests, url, present=False)
    v3.finish()
    (root / folder / "v3" / "data").rmdir()
    report = validate_bag(root / folder / "v3", resolve_fetch=local_resolver(root, folder, 3))
    assert report.valid, report.errors
    assert validate_bag(root / folder / "v3").errors[0].code == "payload-dir-missing"
