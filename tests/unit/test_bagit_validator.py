"""The strict validator on BagIt 1.0 bags built here (RFC 8493 §2 to §6) and older bags by hand."""

from __future__ import annotations

import json
import os
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest

from preserve.bagit import BagWriter, read_bag, validate_bag
from preserve.checksums import new_hasher
from preserve.errors import InvalidBag
from preserve.values import ValidationReport

NFC = unicodedata.normalize("NFC", "Núñez.txt")
NFD = unicodedata.normalize("NFD", "Núñez.txt")
BOM = b"\xef\xbb\xbf"
BASE = {"a.txt": b"alpha", "dir/b.txt": b"bravo", "c.bin": bytes(range(256))}


# --------------------------------------------------------------------------- helpers


def tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, content in files.items():
        path = root.joinpath(*rel.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


def digest(alg: str, data: bytes) -> str:
    h = new_hasher(alg)
    h.update(data)
    return h.hexdigest()


def writer_bag(tmp_path: Path, files: dict[str, bytes] | None = None) -> Path:
    """A BagIt 1.0 bag from our writer: sha512 + sha256, a custom tag file, bag-info."""
    files = BASE if files is None else files
    src = tree(tmp_path / "src", files)
    bag = tmp_path / "bag"
    writer = BagWriter(bag)
    for rel in files:
        writer.add_payload_file(rel, src / rel)
    writer.add_tag_file("metadata/dc.xml", b"<dc/>")
    writer.finish([("Source-Organization", "Org"), ("Contact-Name", "Ann")])
    return bag


def tag_files(bag: Path) -> list[str]:
    out = []
    for p in bag.rglob("*"):
        rel = p.relative_to(bag)
        if rel.parts[0] == "data" or p.is_dir() or p.is_symlink():
            continue
        if len(rel.parts) == 1 and p.name.startswith("tagmanifest-"):
            continue
        out.append(rel.as_posix())
    return sorted(out)


def retag(bag: Path) -> None:
    """Recompute every tag manifest over every other tag file, as the writer does."""
    for tm in bag.glob("tagmanifest-*.txt"):
        alg = tm.name[len("tagmanifest-") : -len(".txt")]
        tm.write_text(
            "".join(f"{digest(alg, (bag / rel).read_bytes())}  {rel}\n" for rel in tag_files(bag)),
            encoding="utf-8",
        )


def edit(bag: Path, name: str, fn: Callable[[str], str]) -> None:
    path = bag / name
    path.write_bytes(fn(path.read_bytes().decode("utf-8")).encode("utf-8"))


def append(bag: Path, name: str, text: str) -> None:
    edit(bag, name, lambda s: s + text)


def drop_lines(bag: Path, name: str, needle: str) -> None:
    edit(bag, name, lambda s: "".join(line for line in s.splitlines(True) if needle not in line))


def error_codes(report: ValidationReport) -> set[str]:
    return {p.code for p in report.errors}


def warning_codes(report: ValidationReport) -> set[str]:
    return {p.code for p in report.warnings}


def assert_inside(paths: list[str], bag: Path) -> None:
    root = os.path.realpath(bag)
    for p in paths:
        assert os.path.commonpath([os.path.realpath(p), root]) == root, (
            f"opened outside the bag: {p}"
        )


# --------------------------------------------------------------------------- the 1.0 cases


def _one_manifest_misses_a_file(bag: Path) -> None:
    drop_lines(bag, "manifest-sha256.txt", "data/dir/b.txt")


def _unknown_algorithm(bag: Path) -> None:
    (bag / "manifest-foo256.txt").write_bytes((bag / "manifest-sha256.txt").read_bytes())


def _rfc_token_sha3(bag: Path) -> None:
    (bag / "manifest-sha3256.txt").write_text(
        "".join(f"{digest('sha3_256', v)}  data/{k}\n" for k, v in BASE.items()), encoding="utf-8"
    )


def _md5sum_isms(bag: Path) -> None:
    edit(bag, "manifest-sha512.txt", lambda s: s.replace("  data/a.txt", " *data/a.txt"))
    edit(bag, "manifest-sha256.txt", lambda s: s.replace("  data/a.txt", "  ./data/a.txt"))


def _upper_hex_and_tabs(bag: Path) -> None:
    edit(
        bag,
        "manifest-sha512.txt",
        lambda s: "".join(
            h.upper() + "\t \t" + p for h, p in (line.split("  ", 1) for line in s.splitlines(True))
        ),
    )


def _line_endings(ending: str) -> Callable[[Path], None]:
    def mutate(bag: Path) -> None:
        for name in tag_files(bag):
            if name.endswith(".txt"):
                edit(bag, name, lambda s: s.replace("\n", ending))

    return mutate


def _no_final_newline(bag: Path) -> None:
    edit(bag, "bagit.txt", lambda s: s.rstrip("\n"))
    edit(bag, "bag-info.txt", lambda s: s.rstrip("\n"))


def _set_oxum(bag: Path, value: str) -> None:
    edit(
        bag,
        "bag-info.txt",
        lambda s: "".join(
            f"Payload-Oxum: {value}\n" if line.startswith("Payload-Oxum:") else line
            for line in s.splitlines(True)
        ),
    )


def _wrong_oxum_right_hashes(bag: Path) -> None:
    _set_oxum(bag, "999.3")


def _right_oxum_wrong_hash(bag: Path) -> None:
    (bag / "data" / "a.txt").write_bytes(b"ALPHA")  # same length


def _wrong_oxum_and_wrong_hash(bag: Path) -> None:
    (bag / "data" / "a.txt").write_bytes(b"alpha and more")


def _repeated_oxum(bag: Path) -> None:
    line = next(
        x
        for x in (bag / "bag-info.txt").read_text().splitlines(True)
        if x.startswith("Payload-Oxum")
    )
    append(bag, "bag-info.txt", line)


def _tag_manifest_lists_payload(bag: Path) -> None:
    append(bag, "tagmanifest-sha256.txt", f"{digest('sha256', BASE['a.txt'])}  data/a.txt\n")


def _tag_manifest_lists_tag_manifest(bag: Path) -> None:
    tm = (bag / "tagmanifest-sha512.txt").read_bytes()
    append(bag, "tagmanifest-sha256.txt", f"{digest('sha256', tm)}  tagmanifest-sha512.txt\n")


def _tag_manifest_misses_payload_manifest(bag: Path) -> None:
    drop_lines(bag, "tagmanifest-sha512.txt", "manifest-sha256.txt")


def _tampered_bag_info(bag: Path) -> None:
    edit(bag, "bag-info.txt", lambda s: s.replace("Org", "Evil Org"))


def _tampered_custom_tag_file(bag: Path) -> None:
    (bag / "metadata" / "dc.xml").write_bytes(b"<dc>changed</dc>")


def _missing_payload_file(bag: Path) -> None:
    (bag / "data" / "c.bin").unlink()


def _extra_payload_file(bag: Path) -> None:
    (bag / "data" / "dir" / "extra.txt").write_bytes(b"extra")


def _missing_tag_file(bag: Path) -> None:
    (bag / "metadata" / "dc.xml").unlink()


def _duplicate_same_hash(bag: Path) -> None:
    line = (bag / "manifest-sha256.txt").read_text().splitlines(True)[0]
    append(bag, "manifest-sha256.txt", line)


def _duplicate_different_hash(bag: Path) -> None:
    append(bag, "manifest-sha256.txt", f"{'0' * 64}  data/a.txt\n")


def _unsafe_manifest_paths(bag: Path) -> None:
    append(bag, "manifest-sha256.txt", f"{'0' * 64}  data/../../secret\n{'1' * 64}  /etc/passwd\n")


def _manifest_path_outside_data(bag: Path) -> None:
    append(
        bag,
        "manifest-sha256.txt",
        f"{digest('sha256', (bag / 'bagit.txt').read_bytes())}  bagit.txt\n",
    )


def _label_space_colon(bag: Path) -> None:
    append(bag, "bag-info.txt", "Contact-Email : ann@example.org\n")


def _no_space_after_colon(bag: Path) -> None:
    append(bag, "bag-info.txt", "Contact-Email:ann@example.org\n")


def _no_colon(bag: Path) -> None:
    append(bag, "bag-info.txt", "just some words\n")


def _bom_in_bagit_txt(bag: Path) -> None:
    (bag / "bagit.txt").write_bytes(BOM + (bag / "bagit.txt").read_bytes())


def _bom_in_bag_info(bag: Path) -> None:
    (bag / "bag-info.txt").write_bytes(BOM + (bag / "bag-info.txt").read_bytes())


def _undecodable_bag_info(bag: Path) -> None:
    (bag / "bag-info.txt").write_bytes((bag / "bag-info.txt").read_bytes() + b"Note: caf\xe9\n")


def _fetch_unfetched(bag: Path) -> None:
    (bag / "fetch.txt").write_text("https://example.org/c.bin 256 data/c.bin\n", encoding="utf-8")
    (bag / "data" / "c.bin").unlink()


def _fetch_complete(bag: Path) -> None:
    (bag / "fetch.txt").write_text("https://example.org/c.bin - data/c.bin\n", encoding="utf-8")


def _fetch_unsafe(bag: Path) -> None:
    (bag / "fetch.txt").write_text("https://example.org/x - ../../etc/passwd\n", encoding="utf-8")


def _fetch_not_in_manifest(bag: Path) -> None:
    (bag / "fetch.txt").write_text("https://example.org/z 1 data/zzz.txt\n", encoding="utf-8")


def _fetch_bad_line(bag: Path) -> None:
    (bag / "fetch.txt").write_text("not-a-url 12 data/c.bin\nonlytwo fields\n", encoding="utf-8")


def _fifo_in_payload(bag: Path) -> None:
    os.mkfifo(bag / "data" / "pipe")


def _symlink_inside_bag(bag: Path) -> None:
    (bag / "extra").mkdir()
    os.replace(bag / "data" / "a.txt", bag / "extra" / "a.txt")
    (bag / "data" / "a.txt").symlink_to(Path("..") / "extra" / "a.txt")


def _no_manifests(bag: Path) -> None:
    for m in bag.glob("manifest-*.txt"):
        m.unlink()


def _no_bagit_txt(bag: Path) -> None:
    (bag / "bagit.txt").unlink()


def _nfd_in_manifest_nfc_on_disk(bag: Path) -> None:
    for m in bag.glob("manifest-*.txt"):
        edit(bag, m.name, lambda s: s.replace(NFC, NFD))


def _nfc_in_manifest_nfd_on_disk(bag: Path) -> None:
    os.rename(bag / "data" / NFC, bag / "data" / NFD)


def _both_forms_listed_for_one_file(bag: Path) -> None:
    for m in bag.glob("manifest-*.txt"):
        line = next(x for x in (bag / m.name).read_text().splitlines(True) if NFC in x)
        append(bag, m.name, line.replace(NFC, NFD))


def _add_nfd_twin(bag: Path) -> None:
    """Two real files whose names differ only by normalisation (possible on Linux), both listed."""
    (bag / "data" / NFD).write_bytes(b"decomposed")
    for alg in ("sha512", "sha256"):
        append(bag, f"manifest-{alg}.txt", f"{digest(alg, b'decomposed')}  data/{NFD}\n")
    _set_oxum(bag, f"{len(b'composed') + len(b'decomposed')}.2")


def _unencoded_percent(bag: Path) -> None:
    """Manifests as most other tools write them: '%' left as it is (RFC 8493 wants %25)."""
    for m in bag.glob("manifest-*.txt"):
        edit(bag, m.name, lambda s: s.replace("%25", "%"))


# (id, files of the base bag or None for BASE, mutation, retag after it, errors, warnings expected)
CASES: list[
    tuple[str, dict[str, bytes] | None, Callable[[Path], None], bool, set[str], set[str]]
] = [
    ("untouched", None, lambda bag: None, False, set(), set()),
    (
        "one-manifest-misses-a-file",
        None,
        _one_manifest_misses_a_file,
        True,
        {"file-not-in-manifest"},
        set(),
    ),
    ("unknown-algorithm", None, _unknown_algorithm, True, {"unsupported-algorithm"}, set()),
    ("rfc-token-sha3256", None, _rfc_token_sha3, True, set(), set()),
    ("md5sum-isms", None, _md5sum_isms, True, set(), {"md5sum-style"}),
    ("upper-hex-and-tabs", None, _upper_hex_and_tabs, True, set(), set()),
    ("crlf-tag-files", None, _line_endings("\r\n"), True, set(), set()),
    ("cr-tag-files", None, _line_endings("\r"), True, set(), set()),
    ("no-final-newline", None, _no_final_newline, True, set(), set()),
    (
        "wrong-oxum-right-hashes",
        None,
        _wrong_oxum_right_hashes,
        True,
        {"payload-oxum-mismatch"},
        set(),
    ),
    ("right-oxum-wrong-hash", None, _right_oxum_wrong_hash, False, {"checksum-mismatch"}, set()),
    (
        "wrong-oxum-and-wrong-hash",
        None,
        _wrong_oxum_and_wrong_hash,
        False,
        {"payload-oxum-mismatch", "checksum-mismatch"},
        set(),
    ),
    ("repeated-payload-oxum", None, _repeated_oxum, True, {"payload-oxum-repeated"}, set()),
    ("label-space-colon", None, _label_space_colon, True, {"bag-info-invalid"}, set()),
    ("no-space-after-colon", None, _no_space_after_colon, True, {"bag-info-invalid"}, set()),
    ("bag-info-line-without-colon", None, _no_colon, True, {"bag-info-invalid"}, set()),
    ("bom-in-bagit-txt", None, _bom_in_bagit_txt, True, {"bagit-txt-bom"}, set()),
    ("bom-in-bag-info", None, _bom_in_bag_info, True, {"tag-file-bom"}, set()),
    ("undecodable-bag-info", None, _undecodable_bag_info, True, {"tag-file-undecodable"}, set()),
    (
        "tag-manifest-lists-payload",
        None,
        _tag_manifest_lists_payload,
        False,
        {"tag-manifest-lists-payload"},
        set(),
    ),
    (
        "tag-manifest-lists-tag-manifest",
        None,
        _tag_manifest_lists_tag_manifest,
        False,
        {"tag-manifest-lists-tag-manifest"},
        set(),
    ),
    (
        "tag-manifest-misses-payload-manifest",
        None,
        _tag_manifest_misses_payload_manifest,
        False,
        {"tag-manifest-incomplete"},
        {"tag-manifests-differ"},
    ),
    ("tampered-bag-info", None, _tampered_bag_info, False, {"checksum-mismatch"}, set()),
    (
        "tampered-custom-tag-file",
        None,
        _tampered_custom_tag_file,
        False,
        {"checksum-mismatch"},
        set(),
    ),
    (
        "missing-payload-file",
        None,
        _missing_payload_file,
        False,
        {"file-missing", "payload-oxum-mismatch"},
        set(),
    ),
    (
        "extra-payload-file",
        None,
        _extra_payload_file,
        False,
        {"file-not-in-manifest", "payload-oxum-mismatch"},
        set(),
    ),
    ("missing-tag-file", None, _missing_tag_file, False, {"tag-file-missing"}, set()),
    ("duplicate-entry-same-hash", None, _duplicate_same_hash, True, {"duplicate-entry"}, set()),
    (
        "duplicate-entry-different-hash",
        None,
        _duplicate_different_hash,
        True,
        {"duplicate-entry"},
        set(),
    ),
    ("unsafe-manifest-paths", None, _unsafe_manifest_paths, True, {"unsafe-path"}, set()),
    (
        "manifest-path-outside-data",
        None,
        _manifest_path_outside_data,
        True,
        {"manifest-path-not-payload"},
        set(),
    ),
    ("fetch-unfetched", None, _fetch_unfetched, True, {"fetch-unfetched"}, {"fetch-txt-present"}),
    ("fetch-complete", None, _fetch_complete, True, set(), {"fetch-txt-present"}),
    ("fetch-unsafe-path", None, _fetch_unsafe, True, {"unsafe-path"}, {"fetch-txt-present"}),
    ("fetch-not-in-manifest", None, _fetch_not_in_manifest, True, {"fetch-not-in-manifest"}, set()),
    ("fetch-bad-lines", None, _fetch_bad_line, True, {"fetch-line-invalid"}, set()),
    ("fifo-in-payload", None, _fifo_in_payload, False, {"special-file"}, set()),
    (
        "symlink-inside-bag",
        None,
        _symlink_inside_bag,
        False,
        set(),
        {"symlink", "tag-file-not-in-tag-manifest"},
    ),
    (
        "no-payload-manifest",
        None,
        _no_manifests,
        True,
        {"manifest-missing", "file-not-in-manifest"},
        set(),
    ),
    ("no-bagit-txt", None, _no_bagit_txt, False, {"bagit-txt-missing", "tag-file-missing"}, set()),
    (
        "nfd-in-manifest-nfc-on-disk",
        {NFC: b"n"},
        _nfd_in_manifest_nfc_on_disk,
        True,
        set(),
        {"normalization-mismatch"},
    ),
    (
        "nfc-in-manifest-nfd-on-disk",
        {NFC: b"n"},
        _nfc_in_manifest_nfd_on_disk,
        False,
        set(),
        {"normalization-mismatch"},
    ),
    (
        "both-forms-listed-for-one-file",
        {NFC: b"n"},
        _both_forms_listed_for_one_file,
        True,
        set(),
        {"normalization-duplicate", "normalization-mismatch"},
    ),
    (
        "nfc-and-nfd-files-both-listed",
        {NFC: b"composed"},
        _add_nfd_twin,
        True,
        set(),
        {"normalization-collision", "normalization-duplicate"},
    ),
    (
        "case-collision",
        {"Read.me": b"1", "READ.ME": b"2"},
        lambda bag: None,
        False,
        set(),
        {"case-collision"},
    ),
    (
        "unencoded-percent",
        {"100%.txt": b"percent", "a.txt": b"a"},
        _unencoded_percent,
        True,
        set(),
        {"percent-not-encoded"},
    ),
    (
        "os-junk",
        {".DS_Store": b"", "Thumbs.db": b"x"},
        lambda bag: None,
        False,
        set(),
        {"system-file"},
    ),
]


@pytest.mark.parametrize(
    ("files", "mutate", "retag_after", "errors", "warnings"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bagit_1_0_cases(
    tmp_path: Path,
    files: dict[str, bytes] | None,
    mutate: Callable[[Path], None],
    retag_after: bool,
    errors: set[str],
    warnings: set[str],
) -> None:
    bag = writer_bag(tmp_path, files)
    mutate(bag)
    if retag_after:
        retag(bag)
    report = validate_bag(bag)
    assert error_codes(report) == errors, report.errors
    assert warnings <= warning_codes(report), report.warnings
    assert report.valid is (not errors)
    assert report.version == (None if "bagit-txt-missing" in errors else "1.0")
    json.dumps(report.to_json())


def test_missing_from_one_manifest_names_file_and_manifest(tmp_path: Path) -> None:
    bag = writer_bag(tmp_path)
    _one_manifest_misses_a_file(bag)
    retag(bag)
    (problem,) = validate_bag(bag).errors
    assert problem.path == "data/dir/b.txt"
    assert "manifest-sha256.txt" in problem.message


def test_oxum_mismatch_does_not_stop_hashing(tmp_path: Path) -> None:
    bag = writer_bag(tmp_path)
    _wrong_oxum_and_wrong_hash(bag)
    report = validate_bag(bag)
    mismatches = sorted(
        (p.path, p.message.split()[0]) for p in report.errors if p.code == "checksum-mismatch"
    )
    assert mismatches == [("data/a.txt", "sha256"), ("data/a.txt", "sha512")]
    assert any(
        p.code == "payload-oxum-mismatch" and p.path == "bag-info.txt" for p in report.errors
    )


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    bag = writer_bag(tmp_path)
    _missing_payload_file(bag)
    _right_oxum_wrong_hash(bag)
    _extra_payload_file(bag)
    _unsafe_manifest_paths(bag)
    _tampered_custom_tag_file(bag)
    report = validate_bag(bag)
    assert error_codes(report) == {
        "file-missing",
        "file-not-in-manifest",
        "checksum-mismatch",
        "unsafe-path",
        "payload-oxum-mismatch",
    }
    paths = {(p.code, p.path) for p in report.errors}
    assert ("file-missing", "data/c.bin") in paths
    assert ("file-not-in-manifest", "data/dir/extra.txt") in paths
    assert ("checksum-mismatch", "data/a.txt") in paths
    assert ("checksum-mismatch", "metadata/dc.xml") in paths
    assert ("checksum-mismatch", "manifest-sha256.txt") in paths  # it was edited after tagging


def test_unsafe_entries_are_never_reported_as_missing(tmp_path: Path) -> None:
    bag = writer_bag(tmp_path)
    _unsafe_manifest_paths(bag)
    retag(bag)
    report = validate_bag(bag)
    assert {(p.code, p.path) for p in report.errors} == {
        ("unsafe-path", "data/../../secret"),
        ("unsafe-path", "/etc/passwd"),
    }


def test_symlink_leaving_the_bag_is_never_followed(tmp_path: Path, opened: list[str]) -> None:
    bag = writer_bag(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_bytes(BASE["a.txt"])  # the very bytes the manifest expects
    (bag / "data" / "a.txt").unlink()
    (bag / "data" / "a.txt").symlink_to(secret)
    (bag / "data" / "dir2").symlink_to(tmp_path, target_is_directory=True)
    (bag / "data" / "relative").symlink_to(Path("..") / ".." / "secret.txt")
    opened.clear()
    report = validate_bag(bag)
    assert not report.valid
    unsafe = {p.path for p in report.errors if p.code == "unsafe-path"}
    assert unsafe == {"data/a.txt", "data/dir2", "data/relative"}
    assert "file-missing" not in error_codes(report)
    assert "checksum-mismatch" not in error_codes(report)
    assert opened, "the recorder saw nothing"
    assert_inside(opened, bag)


def test_unsafe_manifest_and_fetch_paths_are_never_opened(
    tmp_path: Path, opened: list[str]
) -> None:
    bag = writer_bag(tmp_path / "a" / "b")
    sentinel = tmp_path / "a" / "sentinel.txt"
    sentinel.write_bytes(b"outside")
    append(bag, "manifest-sha256.txt", f"{digest('sha256', b'outside')}  ../../sentinel.txt\n")
    append(
        bag, "manifest-sha512.txt", f"{digest('sha512', b'outside')}  data/../../../sentinel.txt\n"
    )
    (bag / "fetch.txt").write_text("https://example.org/x - ../../sentinel.txt\n", encoding="utf-8")
    retag(bag)
    opened.clear()
    report = validate_bag(bag)
    assert error_codes(report) == {"unsafe-path"}
    assert_inside(opened, bag)


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (
            b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\nExtra: line\n",
            "bagit-txt-invalid",
        ),
        (b"Tag-File-Character-Encoding: UTF-8\nBagIt-Version: 1.0\n", "bagit-txt-invalid"),
        (b"BagIt-Version : 1.0\nTag-File-Character-Encoding: UTF-8\n", "bagit-txt-invalid"),
        (b"BagIt-Version:  1.0\nTag-File-Character-Encoding: UTF-8\n", "bagit-txt-invalid"),
        (b"BagIt-Version: 1.0 \nTag-File-Character-Encoding: UTF-8\n", "bagit-txt-invalid"),
        (b"BagIt-Version: 1.0\n\nTag-File-Character-Encoding: UTF-8\n", "bagit-txt-invalid"),
        (b"BagIt-Version: 1.0\n", "bagit-txt-invalid"),
        (b"BagIt-Version: .97\nTag-File-Character-Encoding: UTF-8\n", "version-invalid"),
        (b"BagIt-Version: 1\nTag-File-Character-Encoding: UTF-8\n", "version-invalid"),
        (b"BagIt-Version: v1.0\nTag-File-Character-Encoding: UTF-8\n", "version-invalid"),
        (b"BagIt-Version: 2.0\nTag-File-Character-Encoding: UTF-8\n", "version-unsupported"),
        (b"BagIt-Version: 0.92\nTag-File-Character-Encoding: UTF-8\n", "version-unsupported"),
        (
            b"BagIt-Version: 1.0\nTag-File-Character-Encoding: NO-SUCH-CHARSET\n",
            "encoding-unsupported",
        ),
        (BOM + b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n", "bagit-txt-bom"),
        (b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\xff\n", "bagit-txt-invalid"),
    ],
)
def test_bagit_txt_is_exactly_two_lines(tmp_path: Path, content: bytes, code: str) -> None:
    bag = writer_bag(tmp_path)
    (bag / "bagit.txt").write_bytes(content)
    retag(bag)
    report = validate_bag(bag)
    assert code in error_codes(report), report.errors


def test_completeness_only_skips_checksums_but_not_presence(tmp_path: Path) -> None:
    bag = writer_bag(tmp_path)
    _right_oxum_wrong_hash(bag)
    _tampered_custom_tag_file(bag)
    assert validate_bag(bag, completeness_only=True).errors == ()
    _missing_payload_file(bag)
    assert error_codes(validate_bag(bag, completeness_only=True)) == {
        "file-missing",
        "payload-oxum-mismatch",
    }


def test_processes_give_the_same_report(tmp_path: Path) -> None:
    files = {f"f{i:02d}.bin": os.urandom(i * 1000) for i in range(30)}
    bag = writer_bag(tmp_path, files)
    (bag / "data" / "f07.bin").write_bytes(b"corrupt")
    (bag / "data" / "f21.bin").unlink()
    one = validate_bag(bag, processes=1)
    four = validate_bag(bag, processes=4)
    assert one == four
    assert {p.path for p in one.errors if p.code == "checksum-mismatch"} == {"data/f07.bin"}
    with pytest.raises(ValueError):
        validate_bag(bag, processes=0)


def test_report_counts_and_algorithms(tmp_path: Path) -> None:
    report = validate_bag(writer_bag(tmp_path))
    assert report.valid
    assert report.payload_files == 3
    assert report.payload_bytes == sum(len(v) for v in BASE.values())
    assert sorted(report.algorithms) == ["sha256", "sha512"]


def test_not_a_bag_folder(tmp_path: Path) -> None:
    report = validate_bag(tmp_path / "nothing")
    assert error_codes(report) == {"bag-not-found"}
    (tmp_path / "empty").mkdir()
    assert {"bagit-txt-missing", "payload-dir-missing", "manifest-missing"} <= error_codes(
        validate_bag(tmp_path / "empty")
    )


def test_missing_data_dir(tmp_path: Path) -> None:
    bag = writer_bag(tmp_path, {})
    (bag / "data").rmdir()
    assert error_codes(validate_bag(bag)) == {"payload-dir-missing"}


def test_undecodable_file_names_are_reported_safely(tmp_path: Path) -> None:
    bag = writer_bag(tmp_path)
    with open(os.fsencode(bag / "data") + b"/caf\xe9.txt", "wb") as f:
        f.write(b"latin-1 name")
    report = validate_bag(bag)
    (problem,) = [p for p in report.errors if p.code == "file-not-in-manifest"]
    assert problem.path == "data/caf\\xe9.txt"
    json.dumps(report.to_json())


# --------------------------------------------------------------------------- '%' in paths


def percent_problems(report: ValidationReport) -> list[tuple[str, str, str]]:
    return sorted(
        (p.severity, p.path, p.message) for p in report.warnings if p.code == "percent-not-encoded"
    ) + sorted(
        (p.severity, p.path, p.message) for p in report.errors if p.code == "percent-not-encoded"
    )


def test_unencoded_percent_is_a_warning_naming_manifest_line_and_file(tmp_path: Path) -> None:
    """RFC 8493 §2.1.3: '%' MUST be encoded. bagit-python and most other tools do not, and the
    name is unambiguous (a '%' not followed by 25, 0A or 0D is a literal '%'), so it is a
    warning of its own: the bag stays valid and every file is still verified."""
    bag = writer_bag(tmp_path, {"100%.txt": b"percent", "a.txt": b"a", "ok %25.txt": b"k"})
    for m in ("manifest-sha512.txt", "manifest-sha256.txt"):
        edit(bag, m, lambda s: s.replace("data/100%25.txt", "data/100%.txt"))
    retag(bag)
    report = validate_bag(bag)
    assert report.valid, report.errors
    problems = percent_problems(report)
    assert [(severity, path) for severity, path, _ in problems] == [
        ("warning", "data/100%.txt"),
        ("warning", "data/100%.txt"),
    ]
    for manifest, (_, _, message) in zip(
        ("manifest-sha256.txt", "manifest-sha512.txt"), problems, strict=True
    ):
        assert message.startswith(f"{manifest}: line 1: 'data/100%.txt'")
        assert "%25" in message and "RFC 8493" in message
    # the file is matched and verified, not reported missing
    assert read_bag(bag).real_names["data/100%.txt"] == "data/100%.txt"
    (bag / "data" / "100%.txt").write_bytes(b"PERCENT")
    assert "checksum-mismatch" in error_codes(validate_bag(bag))


def test_unencoded_percent_in_a_tag_manifest_and_fetch_txt(tmp_path: Path) -> None:
    src = tree(tmp_path / "src", {"100%.txt": b"percent"})
    bag = tmp_path / "bag"
    writer = BagWriter(bag)
    writer.add_payload_file("100%.txt", src / "100%.txt")
    writer.add_tag_file("metadata/50%.xml", b"<dc/>")
    writer.finish()
    assert validate_bag(bag).warnings == ()
    (bag / "fetch.txt").write_text(
        "https://example.org/100%25.txt - data/100%.txt\n", encoding="utf-8"
    )
    retag(bag)  # lists the tag files as they are named: 'metadata/50%.xml', not encoded
    report = validate_bag(bag)
    assert report.valid, report.errors
    found = {
        (p.path, p.message.split(":", 1)[0])
        for p in report.warnings
        if p.code == "percent-not-encoded"
    }
    assert found == {
        ("metadata/50%.xml", "tagmanifest-sha256.txt"),
        ("metadata/50%.xml", "tagmanifest-sha512.txt"),
        ("data/100%.txt", "fetch.txt line 1"),
    }


@pytest.mark.parametrize(
    "written",
    [
        "data/100%25.txt",  # encoded: '100%.txt'
        "data/a%250Ab",  # encoded: 'a%0Ab'
        "data/a%0Ab",  # a line break, encoded
        "data/a%0ab",  # lower-case hex digits are still an escape
    ],
)
def test_encoded_percent_and_line_breaks_give_no_warning(tmp_path: Path, written: str) -> None:
    from preserve.bagit import decode_manifest_path

    name = decode_manifest_path(written, (1, 0))[len("data/") :]
    bag = writer_bag(tmp_path, {name: b"x"})
    for m in bag.glob("manifest-*.txt"):
        edit(bag, m.name, lambda s: s.replace("data/a%0Ab", written))
    retag(bag)
    report = validate_bag(bag)
    assert report.valid, report.errors
    assert percent_problems(report) == []


def test_empty_payload_folder_warning(tmp_path: Path) -> None:
    bag = writer_bag(tmp_path)
    (bag / "data" / "hollow").mkdir()
    report = validate_bag(bag)
    assert report.valid
    assert ("empty-directory", "data/hollow") in {(p.code, p.path) for p in report.warnings}


# --------------------------------------------------------------------------- read_bag


def test_exact_names_win_over_normalised_matches(tmp_path: Path) -> None:
    bag = writer_bag(tmp_path, {NFC: b"composed"})
    _add_nfd_twin(bag)
    retag(bag)
    contents = read_bag(bag)
    assert contents.real_names == {f"data/{NFC}": f"data/{NFC}", f"data/{NFD}": f"data/{NFD}"}


def test_read_bag_keeps_bag_info_order_and_maps_real_names(tmp_path: Path) -> None:
    bag = writer_bag(tmp_path, {NFC: b"n", "plain.txt": b"p"})
    _nfd_in_manifest_nfc_on_disk(bag)
    retag(bag)
    contents = read_bag(bag)
    assert contents.version == (1, 0)
    assert contents.encoding == "UTF-8"
    assert [k for k, _ in contents.bag_info][-2:] == ["Source-Organization", "Contact-Name"]
    assert set(contents.payload) == {f"data/{NFD}", "data/plain.txt"}
    assert contents.real_names[f"data/{NFD}"] == f"data/{NFC}"
    assert contents.payload["data/plain.txt"] == {
        "sha512": digest("sha512", b"p"),
        "sha256": digest("sha256", b"p"),
    }


def test_read_bag_refuses_an_incomplete_bag(tmp_path: Path) -> None:
    bag = writer_bag(tmp_path)
    _missing_payload_file(bag)
    with pytest.raises(InvalidBag) as caught:
        read_bag(bag)
    assert "file-missing" in {p.code for p in caught.value.problems}


# -------------------------------------------------------------------------- older versions, by hand


def handmade(
    bag: Path,
    *,
    version: str,
    payload: dict[str, bytes],
    algorithms: tuple[str, ...] = ("md5",),
    info: str | None = None,
    info_name: str = "bag-info.txt",
    encoding: str = "UTF-8",
    manifest_paths: dict[str, str] | None = None,
    tagmanifest: bool = True,
) -> Path:
    """A bag written the way older tools wrote them: no encoding of '%', lenient bag-info."""
    tree(bag / "data", payload)
    if not payload:
        (bag / "data").mkdir(parents=True, exist_ok=True)
    (bag / "bagit.txt").write_bytes(
        f"BagIt-Version: {version}\nTag-File-Character-Encoding: {encoding}\n".encode()
    )
    names = manifest_paths or {k: k for k in payload}
    for alg in algorithms:
        text = "".join(f"{digest(alg, payload[k])}  data/{names[k]}\n" for k in payload)
        (bag / f"manifest-{alg}.txt").write_bytes(text.encode(encoding))
    if info is not None:
        (bag / info_name).write_bytes(info.encode(encoding))
    if tagmanifest:
        for alg in algorithms:
            (bag / f"tagmanifest-{alg}.txt").write_text("", encoding="utf-8")
        retag(bag)
        if encoding.upper() != "UTF-8":
            for alg in algorithms:
                tm = bag / f"tagmanifest-{alg}.txt"
                tm.write_bytes(tm.read_text(encoding="utf-8").encode(encoding))
    return bag


def test_0_97_lenient_label_whitespace(tmp_path: Path) -> None:
    info = "Payload-Oxum: 5.1\nTest-Tag : 3\nTest-Tag    :   5\nTest-Tag:\t6\n"
    bag = handmade(tmp_path / "bag", version="0.97", payload={"a": b"alpha"}, info=info)
    report = validate_bag(bag)
    assert report.valid, report.errors
    assert [v for k, v in read_bag(bag).bag_info if k == "Test-Tag"] == ["3", "5", "6"]


def test_0_97_repeated_oxum_is_a_warning(tmp_path: Path) -> None:
    info = "Payload-Oxum: 5.1\nPayload-Oxum: 5.1\n"
    report = validate_bag(
        handmade(tmp_path / "bag", version="0.97", payload={"a": b"alpha"}, info=info)
    )
    assert report.valid
    assert "payload-oxum-repeated" in warning_codes(report)


def test_0_97_duplicate_entries(tmp_path: Path) -> None:
    bag = handmade(
        tmp_path / "bag", version="0.97", payload={"a": b"alpha"}, algorithms=("sha256",)
    )
    append(bag, "manifest-sha256.txt", f"{digest('sha256', b'alpha')}  data/a\n")
    retag(bag)
    report = validate_bag(bag)
    assert report.valid and "duplicate-entry" in warning_codes(report)
    append(bag, "manifest-sha256.txt", f"{'0' * 64}  data/a\n")
    retag(bag)
    assert "duplicate-entry" in error_codes(validate_bag(bag))


def test_0_97_a_file_in_one_of_two_manifests_is_enough(tmp_path: Path) -> None:
    bag = handmade(
        tmp_path / "bag",
        version="0.97",
        payload={"a": b"alpha", "b": b"b"},
        algorithms=("md5", "sha256"),
    )
    drop_lines(bag, "manifest-sha256.txt", "data/b")
    retag(bag)
    assert validate_bag(bag).valid
    (bag / "bagit.txt").write_text("BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    retag(bag)
    assert error_codes(validate_bag(bag)) == {"file-not-in-manifest"}


def test_0_96_literal_percent_names(tmp_path: Path) -> None:
    payload = {
        "%7Etest1.txt": b"1",
        "%test2.txt": b"2",
        "100%25.txt": b"3",
        "dir1/~test3.txt": b"4",
    }
    bag = handmade(tmp_path / "bag", version="0.96", payload=payload)
    report = validate_bag(bag)
    assert report.valid, report.errors
    assert "percent-not-encoded" not in warning_codes(report)  # '%' was never encoded before 1.0
    assert set(read_bag(bag).payload) == {f"data/{k}" for k in payload}


def test_0_93_package_info(tmp_path: Path) -> None:
    info = "Packing-Date: 2009-10-14\nPackage-Size: 0.7 KB\nPayload-Oxum: 5.1\n"
    bag = handmade(
        tmp_path / "bag",
        version="0.93",
        payload={"a": b"alpha"},
        info=info,
        info_name="package-info.txt",
    )
    assert validate_bag(bag).valid
    assert ("Packing-Date", "2009-10-14") in read_bag(bag).bag_info
    edit(bag, "package-info.txt", lambda s: s.replace("5.1", "6.1"))
    retag(bag)
    assert error_codes(validate_bag(bag)) == {"payload-oxum-mismatch"}


@pytest.mark.parametrize("encoding", ["ISO-8859-1", "UTF-16"])
def test_declared_encoding_is_used_for_tag_files(tmp_path: Path, encoding: str) -> None:
    payload = {"café.txt": b"coffee"}
    info = "Contact-Name: José Núñez\nPayload-Oxum: 6.1\n"
    bag = handmade(
        tmp_path / "bag",
        version="1.0",
        payload=payload,
        info=info,
        encoding=encoding,
        algorithms=("sha256",),
    )
    report = validate_bag(bag)
    assert report.valid, report.errors
    contents = read_bag(bag)
    assert ("Contact-Name", "José Núñez") in contents.bag_info
    assert set(contents.payload) == {"data/café.txt"}
