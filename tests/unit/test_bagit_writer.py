"""The bag writer: every bag it writes validates with our validator and with bagit-python."""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import bagit
import pytest

from preserve import SOFTWARE_AGENT
from preserve.bagit import BagWriter, make_bag, read_bag, validate_bag
from preserve.bagit import writer as writer_module
from preserve.errors import InvalidInput, NameCollision, UnsafePath

NFC = unicodedata.normalize("NFC", "Núñez")
NFD = unicodedata.normalize("NFD", "Núñez")


def tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, content in files.items():
        path = root.joinpath(*rel.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


def snapshot(root: Path) -> dict[str, tuple[str, bytes | str, int]]:
    """Everything under ``root``: kind, content (or link target) and mtime, links not followed."""
    out: dict[str, tuple[str, bytes | str, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p), st.st_mtime_ns)
            elif p.is_dir():
                out[rel] = ("dir", b"", st.st_mtime_ns)
            else:
                out[rel] = ("file", p.read_bytes(), st.st_mtime_ns)
    return out


def assert_valid_both(bag: Path) -> None:
    """Our validator, and bagit-python as a second opinion (names without '%': its known bug)."""
    report = validate_bag(bag)
    assert report.valid, report.errors
    bagit.Bag(str(bag)).validate()


def manifest_lines(bag: Path, name: str) -> list[str]:
    return (bag / name).read_text(encoding="utf-8").splitlines(keepends=True)


SAMPLE = {
    "a.txt": b"hello\n",
    "sub dir/b c.bin": os.urandom(3000),
    "sub dir/deeper/z.txt": b"z",
    f"{NFC}.txt": b"accents",
    "empty-file": b"",
    "~tilde.txt": b"~",
    "~$draft.docx": b"word lock file",
    "C:colon": b"a legal name on POSIX",
}


def test_make_bag_copies_without_touching_the_source(tmp_path: Path) -> None:
    src = tree(tmp_path / "src", SAMPLE)
    before = snapshot(src)
    summary = make_bag(src, tmp_path / "bag", bag_info=[("Source-Organization", "Example Org")])
    assert snapshot(src) == before
    bag = tmp_path / "bag"
    assert summary.path == bag
    assert summary.payload_files == len(SAMPLE)
    assert summary.payload_bytes == sum(len(v) for v in SAMPLE.values())
    assert summary.algorithms == ("sha512", "sha256")
    for rel, content in SAMPLE.items():
        assert (bag / "data" / rel).read_bytes() == content
        assert (bag / "data" / rel).stat().st_mtime_ns == (src / rel).stat().st_mtime_ns
    assert_valid_both(bag)


def test_layout_bagit_txt_manifests_and_tag_manifests(tmp_path: Path) -> None:
    bag = tmp_path / "bag"
    summary = make_bag(tree(tmp_path / "src", SAMPLE), bag)
    assert (
        bag / "bagit.txt"
    ).read_bytes() == b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    for alg in ("sha512", "sha256"):
        lines = manifest_lines(bag, f"manifest-{alg}.txt")
        paths = [line.split("  ", 1)[1].rstrip("\n") for line in lines]
        assert paths == sorted(paths) == sorted(f"data/{rel}" for rel in SAMPLE)
        for line in lines:
            m = re.fullmatch(r"([0-9a-f]+)  (data/.+)\n", line)
            assert m is not None, line
            content = SAMPLE[m.group(2)[len("data/") :]]
            assert m.group(1) == hashlib.new(alg, content).hexdigest()
        tag_lines = manifest_lines(bag, f"tagmanifest-{alg}.txt")
        listed = [line.split("  ", 1)[1].rstrip("\n") for line in tag_lines]
        assert listed == ["bag-info.txt", "bagit.txt", "manifest-sha256.txt", "manifest-sha512.txt"]
    assert summary.tag_files == (
        "bag-info.txt",
        "bagit.txt",
        "manifest-sha256.txt",
        "manifest-sha512.txt",
        "tagmanifest-sha256.txt",
        "tagmanifest-sha512.txt",
    )
    assert sorted(p.name for p in bag.iterdir()) == sorted([*summary.tag_files, "data"])


def test_bag_info_order_repeats_and_computed_elements(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_module, "_today", lambda: "2031-02-03")
    src = tree(tmp_path / "src", {"a": b"12345", "b/c": b"678"})
    given = [
        ("Source-Organization", "Org A"),
        ("Contact-Name", "Ann"),
        ("Payload-Oxum", "1.1"),  # always recomputed: dropped
        ("Contact-Name", "Bob"),
        ("bag-size", "9 TB"),  # reserved labels are case-insensitive
        ("Bagging-Date", "1999-01-01"),
        ("Internal-Sender-Identifier", "x:y"),
    ]
    summary = make_bag(src, tmp_path / "bag", bag_info=given)
    expected = (  # what the writer computes first, then the elements given, in their order
        ("Bagging-Date", "2031-02-03"),
        ("Payload-Oxum", "8.2"),
        ("Bag-Size", "8 B"),
        ("Bag-Software-Agent", SOFTWARE_AGENT),
        ("Source-Organization", "Org A"),
        ("Contact-Name", "Ann"),
        ("Contact-Name", "Bob"),
        ("Internal-Sender-Identifier", "x:y"),
    )
    assert summary.bag_info == expected
    text = (tmp_path / "bag" / "bag-info.txt").read_text(encoding="utf-8")
    assert text == "".join(f"{k}: {v}\n" for k, v in expected)
    assert read_bag(tmp_path / "bag").bag_info == expected
    assert_valid_both(tmp_path / "bag")


def test_bagging_date_is_today_in_utc(tmp_path: Path) -> None:
    summary = make_bag(tree(tmp_path / "src", {"a": b"a"}), tmp_path / "bag")
    dates = [v for k, v in summary.bag_info if k == "Bagging-Date"]
    assert dates in ([datetime.now(UTC).date().isoformat()], [datetime.now(UTC).date().isoformat()])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", dates[0])


def test_caller_software_agent_is_kept(tmp_path: Path) -> None:
    summary = make_bag(
        tree(tmp_path / "src", {"a": b"a"}),
        tmp_path / "bag",
        bag_info=[("Bag-Software-Agent", "other 2.0")],
    )
    assert [v for k, v in summary.bag_info if k.lower() == "bag-software-agent"] == ["other 2.0"]


@pytest.mark.parametrize(
    ("size", "human"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1.0 KB"),
        (42_600_000, "42.6 MB"),
        (999_999, "1.0 MB"),
        (3 * 10**12, "3.0 TB"),
    ],
)
def test_bag_size_is_human(size: int, human: str) -> None:
    from preserve.bagit.taginfo import human_size

    assert human_size(size) == human


def test_long_and_multiline_values_are_folded(tmp_path: Path) -> None:
    long_value = " ".join(f"word{i}" for i in range(60))
    given = [
        ("External-Description", long_value),
        ("Note", "first\nsecond\r\nthird"),
        ("Empty", ""),
    ]
    bag = tmp_path / "bag"
    make_bag(tree(tmp_path / "src", {"a": b"a"}), bag, bag_info=given)
    lines = (bag / "bag-info.txt").read_text(encoding="utf-8").splitlines()
    assert all(len(line) <= 79 for line in lines)
    first = next(i for i, line in enumerate(lines) if line.startswith("External-Description:"))
    assert lines[first].startswith("External-Description: word0 ")
    assert lines[first + 1].startswith("  word")
    assert "Note: first" in lines and "  second" in lines and "  third" in lines
    assert "Empty: " in lines
    info = dict(read_bag(bag).bag_info)
    # §2.2.2: the padding is not part of the value, the line break is
    assert info["External-Description"].replace("\n", " ") == long_value
    assert info["Note"] == "first\nsecond\nthird"
    assert info["Empty"] == ""
    assert_valid_both(bag)


@pytest.mark.parametrize("label", ["", " Lead", "Trail ", "Co:lon", "Line\nBreak"])
def test_invalid_bag_info_labels_are_refused(tmp_path: Path, label: str) -> None:
    writer = BagWriter(tmp_path / "bag")
    with pytest.raises(ValueError, match="label"):
        writer.finish([(label, "v")])


@pytest.mark.parametrize(
    "names",
    [
        ["100%.txt", "%25 literal", "%0A literal.txt"],
        ["100%.txt", "a%0Ab", "a%0ab", "%", "%%25%0D"],
        ["line\nbreak.txt", "carriage\rreturn.txt", "Icon\r", "both\r\n.txt"],
        ["mix %\n\r.txt"],
    ],
)
def test_percent_cr_lf_names_round_trip(tmp_path: Path, names: list[str]) -> None:
    src = tree(tmp_path / "src", {n: n.encode() for n in names})
    bag = tmp_path / "bag"
    make_bag(src, bag)
    text = (bag / "manifest-sha512.txt").read_text(encoding="utf-8")
    for n in names:
        encoded = n.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        assert f"  data/{encoded}\n" in text
    assert "\r" not in text and text.count("\n") == len(names)
    report = validate_bag(bag)
    assert report.valid, report.errors
    assert "percent-not-encoded" not in {p.code for p in report.warnings}
    contents = read_bag(bag)
    assert sorted(contents.payload) == sorted(f"data/{n}" for n in names)
    assert all(contents.real_names[f"data/{n}"] == f"data/{n}" for n in names)
    if not any("%" in n for n in names):  # bagit-python does not decode %25 (its issue #157)
        bagit.Bag(str(bag)).validate()


def test_percent_in_payload_and_tag_file_names_is_always_encoded(tmp_path: Path) -> None:
    src = tree(tmp_path / "src", {"100%.txt": b"percent", "a%0Ab": b"literal", "plain": b"p"})
    bag = tmp_path / "bag"
    writer = BagWriter(bag)
    for name in ("100%.txt", "a%0Ab", "plain"):
        writer.add_payload_file(name, src / name)
    writer.add_tag_file("metadata/50%.xml", b"<dc/>")
    writer.finish()
    for alg in ("sha512", "sha256"):
        paths = [line.split("  ", 1)[1] for line in manifest_lines(bag, f"manifest-{alg}.txt")]
        assert paths == ["data/100%25.txt\n", "data/a%250Ab\n", "data/plain\n"]
        tags = [line.split("  ", 1)[1] for line in manifest_lines(bag, f"tagmanifest-{alg}.txt")]
        assert "metadata/50%25.xml\n" in tags
    report = validate_bag(bag)
    assert report.valid, report.errors
    assert report.warnings == ()  # in particular no percent-not-encoded
    assert read_bag(bag).real_names == {
        "data/100%.txt": "data/100%.txt",
        "data/a%0Ab": "data/a%0Ab",
        "data/plain": "data/plain",
    }


def test_bagit_python_reads_our_percent_names_only_once_it_decodes_them(tmp_path: Path) -> None:
    """bagit-python 1.9 neither writes nor reads %25 (its issue #157), so it cannot find a file
    whose name holds '%' in an RFC 8493 manifest; every other file of the same bag it verifies."""
    src = tree(tmp_path / "src", {"100%.txt": b"percent", "a%0Ab": b"literal", "plain": b"p"})
    bag = tmp_path / "bag"
    make_bag(src, bag)
    assert validate_bag(bag).valid
    try:
        bagit.Bag(str(bag)).validate()
    except bagit.BagValidationError as exc:
        complaints = {str(d) for d in exc.details}
        assert complaints == {
            "data/100%25.txt exists in manifest but was not found on filesystem",
            "data/a%250Ab exists in manifest but was not found on filesystem",
            "data/100%.txt exists on filesystem but is not in the manifest",
            "data/a%0Ab exists on filesystem but is not in the manifest",
        }, complaints
    # without the '%' names, the same writer's bag passes bagit-python
    (src / "100%.txt").unlink()
    (src / "a%0Ab").unlink()
    make_bag(src, tmp_path / "bag2")
    bagit.Bag(str(tmp_path / "bag2")).validate()


def test_nfc_collision_raises_naming_both_and_leaves_nothing(tmp_path: Path) -> None:
    src = tree(
        tmp_path / "src", {f"{NFC}.txt": b"composed", f"{NFD}.txt": b"decomposed", "z.txt": b"z"}
    )
    dest = tmp_path / "bag"
    with pytest.raises(NameCollision) as caught:
        make_bag(src, dest)
    assert f"{NFC}.txt" in str(caught.value) and f"{NFD}.txt" in str(caught.value)
    assert not dest.exists()


def test_failure_in_an_existing_empty_dest_leaves_it_empty(tmp_path: Path) -> None:
    src = tree(tmp_path / "src", {f"d/{NFC}/a": b"a", f"d/{NFD}/b": b"b"})
    dest = tmp_path / "bag"
    dest.mkdir()
    with pytest.raises(NameCollision, match="folder"):
        make_bag(src, dest)
    assert dest.is_dir() and list(dest.iterdir()) == []


def test_writer_nfc_collision_in_payload_path_and_add_entry(tmp_path: Path) -> None:
    writer = BagWriter(tmp_path / "bag")
    writer.add_payload_file(f"{NFC}.txt", tree(tmp_path / "src", {"x": b"x"}) / "x")
    with pytest.raises(NameCollision, match="NFC"):
        writer.payload_path(f"{NFD}.txt")
    digests = {
        "sha512": hashlib.sha512(b"y").hexdigest(),
        "sha256": hashlib.sha256(b"y").hexdigest(),
    }
    with pytest.raises(NameCollision) as caught:
        writer.add_payload_entry(f"{NFD}.txt", 1, digests)
    assert f"data/{NFC}.txt" in str(caught.value) and f"data/{NFD}.txt" in str(caught.value)
    with pytest.raises(NameCollision, match="twice"):
        writer.add_payload_entry(f"{NFC}.txt", 1, digests)
    writer.close()


def test_case_collisions_and_junk_are_warnings(tmp_path: Path) -> None:
    src = tree(
        tmp_path / "src",
        {"Report.txt": b"1", "report.txt": b"2", ".DS_Store": b"", "Thumbs.db": b""},
    )
    summary = make_bag(src, tmp_path / "bag")
    codes = sorted((p.code, p.path) for p in summary.warnings)
    assert codes == [
        ("case-collision", "data/report.txt"),
        ("system-file", "data/.DS_Store"),
        ("system-file", "data/Thumbs.db"),
    ]
    assert_valid_both(tmp_path / "bag")


def test_symlinks_are_skipped_and_empty_folders_warned(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    src = tree(tmp_path / "src", {"keep.txt": b"k", "real/inner.txt": b"i"})
    (src / "link-out").symlink_to(outside)
    (src / "link-in").symlink_to(src / "keep.txt")
    (src / "link-dir").symlink_to(src / "real", target_is_directory=True)
    (src / "broken").symlink_to(tmp_path / "nowhere")
    (src / "empty" / "nested").mkdir(parents=True)
    (src / "only-link").mkdir()
    (src / "only-link" / "l").symlink_to(outside)
    summary = make_bag(src, tmp_path / "bag")
    warned = {(p.code, p.path) for p in summary.warnings}
    assert {
        ("symlink-skipped", "data/link-out"),
        ("symlink-skipped", "data/link-in"),
        ("symlink-skipped", "data/link-dir"),
        ("symlink-skipped", "data/broken"),
        ("symlink-skipped", "data/only-link/l"),
        ("empty-directory", "data/empty"),
        ("empty-directory", "data/empty/nested"),
        ("empty-directory", "data/only-link"),
    } <= warned
    assert summary.payload_files == 2
    data = tmp_path / "bag" / "data"
    assert sorted(p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file()) == [
        "keep.txt",
        "real/inner.txt",
    ]
    assert not any(p.is_symlink() for p in data.rglob("*"))
    assert_valid_both(tmp_path / "bag")


def test_empty_payload_gives_a_valid_bag_with_empty_manifests(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    summary = make_bag(tmp_path / "src", tmp_path / "bag")
    bag = tmp_path / "bag"
    assert summary.payload_files == 0 and summary.payload_bytes == 0
    assert (bag / "manifest-sha512.txt").read_bytes() == b""
    assert (bag / "manifest-sha256.txt").read_bytes() == b""
    assert (bag / "data").is_dir()
    assert ("Payload-Oxum", "0.0") in summary.bag_info
    assert_valid_both(bag)


def test_dest_must_be_new_or_empty_and_outside_src(tmp_path: Path) -> None:
    src = tree(tmp_path / "src", {"a": b"a"})
    full = tmp_path / "full"
    full.mkdir()
    (full / "precious.txt").write_text("keep me")
    with pytest.raises(InvalidInput, match="not empty"):
        make_bag(src, full)
    assert (full / "precious.txt").read_text() == "keep me"
    with pytest.raises(InvalidInput, match="inside"):
        make_bag(src, src / "bag")
    assert not (src / "bag").exists()
    with pytest.raises(InvalidInput, match="no such folder"):
        make_bag(tmp_path / "missing", tmp_path / "bag")
    assert not (tmp_path / "bag").exists()


def test_algorithms_sha512_always_and_rfc_tokens(tmp_path: Path) -> None:
    src = tree(tmp_path / "src", {"a": b"a"})
    summary = make_bag(src, tmp_path / "bag", algorithms=("SHA3-256", "md5"))
    assert summary.algorithms == ("sha512", "sha3256", "md5")
    bag = tmp_path / "bag"
    line = manifest_lines(bag, "manifest-sha3256.txt")[0]
    assert line == f"{hashlib.sha3_256(b'a').hexdigest()}  data/a\n"
    assert (bag / "tagmanifest-sha3256.txt").is_file()
    report = validate_bag(bag)
    assert report.valid, report.errors
    assert sorted(report.algorithms) == ["md5", "sha3256", "sha512"]
    with pytest.raises(ValueError, match="unsupported"):
        BagWriter(tmp_path / "other", ("nosuchhash",))
    assert not (tmp_path / "other").exists()


def test_without_add_sha512_exactly_the_algorithms_given(tmp_path: Path) -> None:
    src = tree(tmp_path / "src", {"a": b"a"})
    summary = make_bag(src, tmp_path / "bag", algorithms=("md5", "sha256"), add_sha512=False)
    assert summary.algorithms == ("md5", "sha256")
    bag = tmp_path / "bag"
    assert sorted(p.name for p in bag.glob("*manifest-*")) == [
        "manifest-md5.txt",
        "manifest-sha256.txt",
        "tagmanifest-md5.txt",
        "tagmanifest-sha256.txt",
    ]
    assert validate_bag(bag).valid
    writer = BagWriter(tmp_path / "aip", ("sha256",))  # an AIP's writer adds SHA-512
    assert writer.algorithms == ("sha512", "sha256")
    writer.close()
    with pytest.raises(ValueError, match="at least one"):
        BagWriter(tmp_path / "none", (), add_sha512=False)


def test_make_bag_copies_tag_files_into_the_tag_manifests(tmp_path: Path) -> None:
    src = tree(tmp_path / "src", {"a": b"a"})
    info = tmp_path / "info.txt"
    info.write_bytes(b"Title: Box 12\nAccess: Institution\n")
    bag = tmp_path / "bag"
    summary = make_bag(src, bag, tag_files=[("aptrust-info.txt", info), ("extra/notes.txt", info)])
    assert (bag / "aptrust-info.txt").read_bytes() == info.read_bytes()
    assert {"aptrust-info.txt", "extra/notes.txt"} <= set(summary.tag_files)
    listed = (bag / "tagmanifest-sha512.txt").read_text()
    assert "  aptrust-info.txt\n" in listed and "  extra/notes.txt\n" in listed
    assert validate_bag(bag).valid
    bagit.Bag(str(bag)).validate()


@pytest.mark.parametrize(
    ("name", "path", "message"),
    [
        ("bag-info.txt", "info", "tag file bag-info.txt: reserved BagIt file name"),
        ("TagManifest-md5.txt", "info", "tag file TagManifest-md5.txt: reserved BagIt file"),
        ("data/x.txt", "info", "tag file data/x.txt: tag files cannot be in the payload"),
        ("/etc/x.txt", "info", "tag file /etc/x.txt: "),
        ("x.txt", "missing", "missing: no such file (for tag file x.txt)"),
    ],
)
def test_make_bag_refuses_a_bad_tag_file_and_makes_nothing(
    tmp_path: Path, name: str, path: str, message: str
) -> None:
    src = tree(tmp_path / "src", {"a": b"a"})
    (tmp_path / "info").write_text("x")
    with pytest.raises(InvalidInput, match=re.escape(message)):
        make_bag(src, tmp_path / "bag", tag_files=[(name, tmp_path / path)])
    assert not (tmp_path / "bag").exists()


def test_make_bag_refuses_a_tag_file_given_twice(tmp_path: Path) -> None:
    src = tree(tmp_path / "src", {"a": b"a"})
    (tmp_path / "info").write_text("x")
    twice = [("a.txt", tmp_path / "info"), ("A.txt", tmp_path / "info")]
    with pytest.raises(InvalidInput, match=re.escape("tag file A.txt: given twice")):
        make_bag(src, tmp_path / "bag", tag_files=twice)
    assert not (tmp_path / "bag").exists()


def test_tag_algorithms_can_differ(tmp_path: Path) -> None:
    writer = BagWriter(tmp_path / "bag", ("sha256",), tag_algorithms=("sha256",))
    writer.add_payload_file("a", tree(tmp_path / "src", {"a": b"a"}) / "a")
    summary = writer.finish()
    assert summary.algorithms == ("sha512", "sha256")
    assert [n for n in summary.tag_files if n.startswith("tagmanifest")] == [
        "tagmanifest-sha256.txt"
    ]
    assert_valid_both(tmp_path / "bag")


def test_tag_files_are_listed_and_reserved_names_refused(tmp_path: Path) -> None:
    writer = BagWriter(tmp_path / "bag")
    writer.add_tag_file("metadata/premis.xml", b"<premis/>")
    writer.add_tag_file("notes.txt", b"hello")
    for reserved in (
        "bagit.txt",
        "bag-info.txt",
        "BAG-INFO.TXT",
        "manifest-md5.txt",
        "tagmanifest-sha256.txt",
        "fetch.txt",
    ):
        with pytest.raises(ValueError, match="reserved"):
            writer.add_tag_file(reserved, b"x")
    for payload in ("data/x.xml", "Data/x.xml", "data"):
        with pytest.raises(ValueError, match="payload"):
            writer.add_tag_file(payload, b"x")
    for unsafe in ("../escape.xml", "/abs.xml", "~/x", "meta\\x.xml"):
        with pytest.raises(UnsafePath):
            writer.add_tag_file(unsafe, b"x")
    with pytest.raises(ValueError, match="twice"):
        writer.add_tag_file("metadata/premis.xml", b"again")
    summary = writer.finish()
    assert "metadata/premis.xml" in summary.tag_files
    listed = [
        line.split("  ", 1)[1].rstrip("\n")
        for line in manifest_lines(tmp_path / "bag", "tagmanifest-sha512.txt")
    ]
    assert listed == sorted(
        [
            "bag-info.txt",
            "bagit.txt",
            "manifest-sha256.txt",
            "manifest-sha512.txt",
            "metadata/premis.xml",
            "notes.txt",
        ]
    )
    assert (tmp_path / "bag" / "metadata" / "premis.xml").read_bytes() == b"<premis/>"
    assert_valid_both(tmp_path / "bag")


@pytest.mark.parametrize(
    "relpath", ["../x", "a/../../x", "/etc/x", "a\\b", "a//b", "a/./b", "a/", "", "a\x00b"]
)
def test_unsafe_payload_paths_are_refused(tmp_path: Path, relpath: str) -> None:
    writer = BagWriter(tmp_path / "bag")
    with pytest.raises(UnsafePath):
        writer.payload_path(relpath)
    digests = {"sha512": "0" * 128, "sha256": "0" * 64}
    with pytest.raises(UnsafePath):
        writer.add_payload_entry(relpath, 0, digests)
    writer.close()


def test_add_payload_entry_checks_the_digests(tmp_path: Path) -> None:
    writer = BagWriter(tmp_path / "bag")
    path = writer.payload_path("a.txt")
    path.write_bytes(b"a")
    with pytest.raises(ValueError, match="sha256"):
        writer.add_payload_entry("a.txt", 1, {"sha512": hashlib.sha512(b"a").hexdigest()})
    with pytest.raises(ValueError, match="hex"):
        writer.add_payload_entry(
            "a.txt", 1, {"sha512": "xyz", "sha256": hashlib.sha256(b"a").hexdigest()}
        )
    with pytest.raises(ValueError, match="size"):
        writer.add_payload_entry("a.txt", -1, {"sha512": "0" * 128, "sha256": "0" * 64})
    # hashlib spellings and upper-case hex are accepted; extra algorithms are ignored
    writer.add_payload_entry(
        "a.txt",
        1,
        {
            "SHA-512": hashlib.sha512(b"a").hexdigest().upper(),
            "sha_256": hashlib.sha256(b"a").hexdigest(),
            "md5": hashlib.md5(b"a").hexdigest(),
        },
    )
    writer.finish()
    assert_valid_both(tmp_path / "bag")


def test_caller_written_payload_like_ingest(tmp_path: Path) -> None:
    """Ingest writes the bytes itself at payload_path from worker threads, then adds entries."""
    contents = {f"dir{i % 5}/file{i:03d}.bin": os.urandom(i * 7) for i in range(60)}
    writer = BagWriter(tmp_path / "bag", ("sha512", "sha256"))

    def write(item: tuple[str, bytes]) -> tuple[str, int, dict[str, str]]:
        rel, data = item
        writer.payload_path(rel).write_bytes(data)
        return (
            rel,
            len(data),
            {
                "sha512": hashlib.sha512(data).hexdigest(),
                "sha256": hashlib.sha256(data).hexdigest(),
            },
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        for rel, size, digests in pool.map(write, contents.items()):
            writer.add_payload_entry(rel, size, digests)
    summary = writer.finish([("Source-Organization", "Org")])
    assert summary.payload_files == 60
    assert summary.payload_bytes == sum(len(v) for v in contents.values())
    assert_valid_both(tmp_path / "bag")


def test_manifests_are_sorted_by_an_external_merge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(BagWriter, "_SORT_RUN", 3)
    names = [f"n{(i * 7919) % 101:03d}/f.txt" for i in range(40)]
    writer = BagWriter(tmp_path / "bag")
    src = tmp_path / "src"
    for name in names:
        tree(src, {name: name.encode()})
        writer.add_payload_file(name, src / name)
    writer.finish()
    paths = [
        line.split("  ", 1)[1].rstrip("\n")
        for line in manifest_lines(tmp_path / "bag", "manifest-sha512.txt")
    ]
    assert paths == sorted(f"data/{n}" for n in names)
    assert_valid_both(tmp_path / "bag")


def test_finish_refuses_unrecorded_or_missing_payload(tmp_path: Path) -> None:
    writer = BagWriter(tmp_path / "bag")
    writer.payload_path("stray.txt").write_bytes(b"never added")
    with pytest.raises(InvalidInput, match=r"stray\.txt"):
        writer.finish()

    writer = BagWriter(tmp_path / "bag2")
    digests = {"sha512": hashlib.sha512(b"").hexdigest(), "sha256": hashlib.sha256(b"").hexdigest()}
    writer.add_payload_entry("ghost.txt", 0, digests)  # never written
    with pytest.raises(InvalidInput, match="missing"):
        writer.finish()


def test_finish_only_once(tmp_path: Path) -> None:
    writer = BagWriter(tmp_path / "bag")
    writer.finish()
    with pytest.raises(RuntimeError):
        writer.finish()
    with pytest.raises(RuntimeError):
        writer.payload_path("late.txt")


def test_spool_is_removed(tmp_path: Path) -> None:
    writer = BagWriter(tmp_path / "bag")
    spool = Path(writer._spool_dir)
    assert spool.is_dir() and spool.parent == tmp_path / "bag"
    with pytest.raises(ValueError, match="reserved"):
        writer.add_tag_file(".preserve-spool/x", b"x")
    writer.finish()
    assert not spool.exists()
    assert validate_bag(tmp_path / "bag").warnings == ()  # no stray tag folder left behind
    with BagWriter(tmp_path / "abandoned") as abandoned:
        spool = Path(abandoned._spool_dir)
    assert not spool.exists()


def test_add_payload_file_returns_size_and_digests(tmp_path: Path) -> None:
    data = os.urandom((1 << 20) * 2 + 123)  # more than one 1 MiB chunk
    src = tree(tmp_path / "src", {"big.bin": data})
    writer = BagWriter(tmp_path / "bag", ("sha512", "sha1"))
    size, digests = writer.add_payload_file("big.bin", src / "big.bin")
    assert size == len(data)
    assert digests == {
        "sha512": hashlib.sha512(data).hexdigest(),
        "sha1": hashlib.sha1(data).hexdigest(),
    }
    writer.finish()
    assert_valid_both(tmp_path / "bag")


def test_streamed_tag_file_is_listed_and_a_failed_one_removed(tmp_path):  # type: ignore[no-untyped-def]
    from preserve.bagit import BagWriter, validate_bag

    writer = BagWriter(tmp_path / "bag")
    with writer.open_tag_file("metadata/big.xml") as f:
        for _ in range(100):
            f.write(b"<x/>\n")
    try:
        with writer.open_tag_file("metadata/broken.xml") as f:
            f.write(b"half")
            raise RuntimeError("serialisation failed")
    except RuntimeError:
        pass
    summary = writer.finish()
    assert "metadata/big.xml" in summary.tag_files
    assert not (tmp_path / "bag" / "metadata" / "broken.xml").exists()
    report = validate_bag(tmp_path / "bag")
    assert report.valid, report.errors
    assert "metadata/big.xml" in (tmp_path / "bag" / "tagmanifest-sha512.txt").read_text()
