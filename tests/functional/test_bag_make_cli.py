"""`preserve bag make` as bagit.py users know it: bag-info options, `--info LABEL=VALUE`, and a
bag written as one zip or tar file to send (issue 8)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import bagit
import pytest

from preserve.bagit import serialise, validate_bag
from tests.functional.cli import Repo

NAMED = [
    ("--source-organization", "Source-Organization", "Stadsarchief Gent"),
    ("--organization-address", "Organization-Address", "Abdijstraat 1, 9000 Gent"),
    ("--contact-name", "Contact-Name", "Ann Peeters"),
    ("--contact-phone", "Contact-Phone", "+32 9 000 00 00"),
    ("--contact-email", "Contact-Email", "archief@example.org"),
    ("--external-description", "External-Description", "Glass plate negatives, box 12"),
    ("--external-identifier", "External-Identifier", "SAG-2024-012"),
    ("--bag-group-identifier", "Bag-Group-Identifier", "SAG-2024"),
    ("--bag-count", "Bag-Count", "2 of 5"),
    ("--internal-sender-identifier", "Internal-Sender-Identifier", "box-12"),
    ("--internal-sender-description", "Internal-Sender-Description", "scanned in 2024"),
    ("--bagit-profile-identifier", "BagIt-Profile-Identifier", "https://example.org/profile"),
]


@pytest.fixture
def tool(tmp_path: Path) -> Repo:
    """The command line without a catalogue: bag make needs none."""
    return Repo(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'none.sqlite3'}")


@pytest.fixture
def src(tmp_path: Path) -> Path:
    folder = tmp_path / "scans"
    (folder / "box 12").mkdir(parents=True)
    (folder / "notes.txt").write_text("négatifs sur verre\n", encoding="utf-8")
    (folder / "box 12" / "plate-001.bin").write_bytes(os.urandom(70_000))
    (folder / "box 12" / "plate-002.bin").write_bytes(b"")
    (folder / "notes.txt").chmod(0o600)  # modes in the archive are 0644 whatever the source
    return folder


def _bag_info_lines(bag: Path) -> list[str]:
    return (bag / "bag-info.txt").read_text(encoding="utf-8").splitlines()


def test_bag_info_options_then_info_elements_in_the_order_given(
    tool: Repo, src: Path, tmp_path: Path
) -> None:
    bag = tmp_path / "bag"
    args: list[str | Path] = ["bag", "make", src, bag, "--info", "Project=Glass plates"]
    for option, _label, value in reversed(NAMED):  # the options' own order decides
        args += [option, value]
    args += ["--info", "Contact-Name=Bert Janssens", "--info", "Note=a=b: c"]
    result = tool.run(*args)
    assert result.stdout == f"bag {bag}: 3 files, 70.0 KB, sha512 + sha256\n"
    lines = _bag_info_lines(bag)
    assert [line.split(":", 1)[0] for line in lines[:4]] == [
        "Bagging-Date",
        "Payload-Oxum",
        "Bag-Size",
        "Bag-Software-Agent",
    ]
    assert lines[1] == "Payload-Oxum: 70020.3"
    assert lines[4:] == [f"{label}: {value}" for _o, label, value in NAMED] + [
        "Project: Glass plates",
        "Contact-Name: Bert Janssens",
        "Note: a=b: c",
    ]
    assert validate_bag(bag).valid
    checked = bagit.Bag(str(bag))
    checked.validate()
    assert checked.info["Contact-Name"] == ["Ann Peeters", "Bert Janssens"]
    assert checked.info["Bag-Count"] == "2 of 5"


def test_json_gives_the_same_facts(tool: Repo, src: Path, tmp_path: Path) -> None:
    made = tool.json(
        "bag", "make", src, tmp_path / "out.zip", "--algorithm", "md5", "--contact-name", "Ann"
    )
    archive = tmp_path / "out.zip"
    assert made["bag"] == str(archive)
    assert (made["format"], made["name"]) == ("zip", "out")
    assert (made["files"], made["bytes"]) == (3, 70_020)
    assert made["algorithms"] == ["md5"]  # exactly what was asked: no SHA-512 added
    assert made["archive_bytes"] == archive.stat().st_size
    assert made["bag_info"][1] == {"label": "Payload-Oxum", "value": "70020.3"}
    assert made["bag_info"][-1] == {"label": "Contact-Name", "value": "Ann"}
    assert made["warnings"] == []
    text = tool.run("bag", "make", src, tmp_path / "again.zip").stdout
    size = (tmp_path / "again.zip").stat().st_size
    assert text == (
        f"bag {tmp_path / 'again.zip'}: 3 files, 70.0 KB, sha512 + sha256 "
        f"(zip of {size / 1000:.1f} KB)\n"
    )


def test_one_file_is_singular(tool: Repo, tmp_path: Path) -> None:
    one = tmp_path / "one"
    one.mkdir()
    (one / "a.txt").write_text("a")
    result = tool.run("bag", "make", one, tmp_path / "one.tar")
    assert result.stdout.startswith(f"bag {tmp_path / 'one.tar'}: 1 file, 1 B, sha512 + sha256 (")


def _unpack(archive: Path, into: Path) -> None:
    into.mkdir()
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(into)
    else:
        with tarfile.open(archive) as tf:
            tf.extractall(into, filter="data")


def _members(archive: Path) -> list[tuple[str, int]]:
    """(name, permission bits) of every member, in archive order."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            return [
                (i.filename.rstrip("/"), (i.external_attr >> 16) & 0o7777) for i in zf.infolist()
            ]
    with tarfile.open(archive) as tf:
        return [(m.name, m.mode) for m in tf.getmembers()]


@pytest.mark.parametrize(
    ("name", "option", "kind"),
    [
        ("delivery.zip", None, "zip"),
        ("delivery.tar", None, "tar"),
        ("delivery.tar.gz", None, "tar.gz"),
        ("delivery.tgz", None, "tar.gz"),
        ("delivery", "zip", "zip"),
        ("delivery", "tar.gz", "tar.gz"),
    ],
)
def test_an_archive_holds_one_folder_named_after_the_bag_and_reads_back(
    repo: Repo, src: Path, tmp_path: Path, name: str, option: str | None, kind: str
) -> None:
    out = tmp_path / "outbox" / name
    out.parent.mkdir()
    args: list[str | Path] = ["bag", "make", src, out, "--source-organization", "SAG"]
    if option:
        args += ["--format", option]
    made = repo.json(*args)
    assert (made["format"], made["name"]) == (kind, "delivery")
    assert sorted(p.name for p in out.parent.iterdir()) == [name]  # no temporary left
    members = _members(out)
    assert members[:2] == [("delivery", 0o755), ("delivery/bagit.txt", 0o644)]
    assert {n.split("/", 1)[0] for n, _ in members} == {"delivery"}
    assert {mode for n, mode in members if n.endswith((".txt", ".bin"))} == {0o644}
    assert [n for n, _ in members if n.startswith("delivery/data/")] == [
        "delivery/data/notes.txt",
        "delivery/data/box 12",
        "delivery/data/box 12/plate-001.bin",
        "delivery/data/box 12/plate-002.bin",
    ]
    if kind == "tar.gz":
        with open(out, "rb") as f:  # the gzip header names the tar, not a temporary file
            head = f.read(64)
        assert b"delivery.tar\x00" in head and b"partial" not in head

    unpacked = tmp_path / "unpacked"
    _unpack(out, unpacked)
    assert os.listdir(unpacked) == ["delivery"]
    bagit.Bag(str(unpacked / "delivery")).validate()
    assert validate_bag(unpacked / "delivery").valid
    assert (unpacked / "delivery" / "data" / "box 12" / "plate-001.bin").read_bytes() == (
        src / "box 12" / "plate-001.bin"
    ).read_bytes()

    ingested = repo.json("ingest", out, "--collection", "photos")["packages"]
    assert [p["files"] for p in ingested] == [3]


# ------------------------------------------------------------------ bad input


def _usage_error(result: Any, option: str, message: str) -> None:
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: Invalid value for '{option}': {message} "
        "(preserve bag make --help shows the options)\n"
    )
    assert "Traceback" not in result.output


LABEL_RULE = (
    "a bag-info label cannot hold ':' or a line break, nor begin or end with a space "
    "(RFC 8493 §2.2.2)"
)
EMPTY = "the value is empty (an unset variable?)"
BAG_COUNT = (
    "Bag-Count is 'N of T' (this bag's number and the total, e.g. '2 of 5', or '2 of ?' "
    "when the total is unknown)"
)
COMPUTED = "is computed when the bag is made"
BAD_INFO = {
    "no-equals": (
        ["--info", "Contact-Name"],
        "--info",
        "'Contact-Name': expected LABEL=VALUE, e.g. --info 'Contact-Name=Ann Peeters'",
    ),
    "empty-label": (["--info", "=Ann"], "--info", "'=Ann': the label before '=' is empty"),
    "colon": (["--info", "Con:tact=Ann"], "--info", f"'Con:tact=Ann': {LABEL_RULE}"),
    "newline": (["--info", "Con\ntact=Ann"], "--info", f"'Con\\ntact=Ann': {LABEL_RULE}"),
    "outer-space": (["--info", " Contact=Ann"], "--info", f"' Contact=Ann': {LABEL_RULE}"),
    "empty-value": (["--info", "Project="], "--info", f"'Project=': {EMPTY}"),
    "payload-oxum": (
        ["--info", "Payload-Oxum=1.1"],
        "--info",
        f"'Payload-Oxum=1.1': Payload-Oxum {COMPUTED}",
    ),
    "bagging-date": (
        ["--info", "bagging-date=2020-01-01"],
        "--info",
        f"'bagging-date=2020-01-01': bagging-date {COMPUTED}",
    ),
    "bag-size": (["--info", "Bag-Size=1 GB"], "--info", f"'Bag-Size=1 GB': Bag-Size {COMPUTED}"),
    "blank-option": (["--contact-name", " "], "--contact-name", f"' ': {EMPTY}"),
    "bag-count": (["--bag-count", "3 of 2"], "--bag-count", f"'3 of 2': {BAG_COUNT}"),
    "bag-count-zero": (["--bag-count", "0 of 2"], "--bag-count", f"'0 of 2': {BAG_COUNT}"),
    "bag-count-info": (["--info", "Bag-Count=two"], "--info", f"'Bag-Count=two': {BAG_COUNT}"),
    "format": (
        ["--format", "rar"],
        "--format",
        "'rar' is not one of 'folder', 'zip', 'tar', 'tar.gz'.",
    ),
    "tag-file-no-equals": (
        ["--tag-file", "aptrust-info.txt"],
        "--tag-file",
        "'aptrust-info.txt': expected NAME=PATH, e.g. --tag-file aptrust-info.txt=aptrust-info.txt",
    ),
    "tag-file-missing": (
        ["--tag-file", "aptrust-info.txt=/nonexistent/info.txt"],
        "--tag-file",
        "'aptrust-info.txt=/nonexistent/info.txt': /nonexistent/info.txt: no such file",
    ),
    "tag-file-folder": (
        ["--tag-file", "aptrust-info.txt=/"],
        "--tag-file",
        "'aptrust-info.txt=/': /: not a regular file",
    ),
    "tag-file-reserved": (
        ["--tag-file", "Bag-Info.txt=x"],
        "--tag-file",
        "'Bag-Info.txt=x': tag file Bag-Info.txt: reserved BagIt file name; the writer makes "
        "it itself",
    ),
    "tag-file-manifest": (
        ["--tag-file", "manifest-md5.txt=x"],
        "--tag-file",
        "'manifest-md5.txt=x': tag file manifest-md5.txt: reserved BagIt file name; the "
        "writer makes it itself",
    ),
    "tag-file-payload": (
        ["--tag-file", "data/info.txt=x"],
        "--tag-file",
        "'data/info.txt=x': tag file data/info.txt: tag files cannot be in the payload "
        "folder data/",
    ),
    "tag-file-outside": (
        ["--tag-file", "../info.txt=x"],
        "--tag-file",
        "'../info.txt=x': tag file ../info.txt: contains a '..' segment",
    ),
}


@pytest.mark.parametrize(("args", "option", "message"), BAD_INFO.values(), ids=BAD_INFO.keys())
def test_bad_bag_info_is_refused_before_anything_is_written(
    tool: Repo, src: Path, tmp_path: Path, args: list[str], option: str, message: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = tool.run("bag", "make", src, out / "bag.zip", *args, ok=False)
    _usage_error(result, option, message)
    assert list(out.iterdir()) == []


def test_a_tag_file_given_twice_is_refused(tool: Repo, src: Path, tmp_path: Path) -> None:
    info = tmp_path / "info.txt"
    info.write_text("Title: Box 12\n")
    out = tmp_path / "out"
    out.mkdir()
    result = tool.run(
        "bag", "make", src, out / "bag.tar", "--tag-file", f"a.txt={info}",
        "--tag-file", f"A.TXT={info}", ok=False,
    )  # fmt: skip
    _usage_error(result, "--tag-file", f"'A.TXT={info}': tag file A.TXT: given twice")
    assert list(out.iterdir()) == []


APTRUST = (
    "https://raw.githubusercontent.com/APTrust/preservation-services/master/profiles/"
    "aptrust-v2.2.json"
)


def test_exactly_the_manifests_asked_and_a_tag_file_meet_the_aptrust_profile(
    tool: Repo, src: Path, tmp_path: Path
) -> None:
    """APTrust allows MD5 and SHA-256 manifests only and requires aptrust-info.txt: a bag made
    with those algorithms and that tag file conforms (SHA-512 is added only to AIPs)."""
    info = tmp_path / "aptrust-info.txt"
    info.write_text("Title: Glass plates, box 12\nAccess: Institution\n", encoding="utf-8")
    made = tool.json(
        "bag", "make", src, tmp_path / "box-12.tar", "--algorithm", "md5", "--algorithm",
        "SHA-256", "--tag-file", f"aptrust-info.txt={info}", "--source-organization",
        "Stadsarchief Gent", "--bagit-profile-identifier", APTRUST,
    )  # fmt: skip
    assert made["algorithms"] == ["md5", "sha256"]
    with tarfile.open(tmp_path / "box-12.tar") as tar:
        names = sorted(n for n in tar.getnames() if "/data" not in n and n != "box-12")
        held = tar.extractfile("box-12/aptrust-info.txt")
        assert held is not None and held.read() == info.read_bytes()
    assert names == [
        "box-12/aptrust-info.txt",
        "box-12/bag-info.txt",
        "box-12/bagit.txt",
        "box-12/manifest-md5.txt",
        "box-12/manifest-sha256.txt",
        "box-12/tagmanifest-md5.txt",
        "box-12/tagmanifest-sha256.txt",
    ]
    result = tool.run("bag", "validate", tmp_path / "box-12.tar", "--profile", "aptrust")
    assert result.stdout == (
        f"{tmp_path / 'box-12.tar'}: valid; conforms to profile {APTRUST} (version 2.2)\n"
    )
    # the same as a folder: the tag file is in both tag manifests; bagit-python agrees
    tool.run("bag", "make", src, tmp_path / "box-12", "--algorithm", "md5",
             "--tag-file", f"aptrust-info.txt={info}")  # fmt: skip
    assert "aptrust-info.txt" in (tmp_path / "box-12" / "tagmanifest-md5.txt").read_text()
    assert sorted(p.name for p in (tmp_path / "box-12").glob("*manifest-*")) == [
        "manifest-md5.txt",
        "tagmanifest-md5.txt",
    ]
    bagit.Bag(str(tmp_path / "box-12")).validate()


def test_without_algorithm_sha512_and_sha256(tool: Repo, src: Path, tmp_path: Path) -> None:
    made = tool.json("bag", "make", src, tmp_path / "b")
    assert made["algorithms"] == ["sha512", "sha256"]


def test_good_bag_counts_are_accepted(tool: Repo, src: Path, tmp_path: Path) -> None:
    tool.run("bag", "make", src, tmp_path / "a", "--bag-count", "1 of ?")
    tool.run("bag", "make", src, tmp_path / "b", "--bag-count", "5 of 5")
    assert "Bag-Count: 1 of ?" in _bag_info_lines(tmp_path / "a")
    assert "Bag-Count: 5 of 5" in _bag_info_lines(tmp_path / "b")


NAME_CONTRADICTS = (
    "error: {dest}: the name ends in .{end} but the format asked for is {fmt}; "
    "rename the destination or leave the format out"
)
CONTRADICTIONS = {
    "tar-as-zip": (
        "out.tar",
        ["--format", "zip"],
        NAME_CONTRADICTS.replace("{end}", "tar").replace("{fmt}", "zip"),
    ),
    "zip-as-folder": (
        "out.zip",
        ["--format", "folder"],
        NAME_CONTRADICTS.replace("{end}", "zip").replace("{fmt}", "folder"),
    ),
    "algorithm": (
        "out.zip",
        ["--algorithm", "sha-999"],
        "error: --algorithm 'sha-999': not a manifest algorithm preserve can write "
        "(e.g. sha512, sha256, sha1, md5)",
    ),
}


@pytest.mark.parametrize(
    ("dest", "args", "message"), CONTRADICTIONS.values(), ids=CONTRADICTIONS.keys()
)
def test_contradictions_are_refused(
    tool: Repo, src: Path, tmp_path: Path, dest: str, args: list[str], message: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = tool.run("bag", "make", src, out / dest, *args, ok=False)
    assert result.exit_code == 2
    assert result.stderr == message.format(dest=out / dest) + "\n"
    assert list(out.iterdir()) == []


def test_an_existing_destination_is_never_overwritten(
    tool: Repo, src: Path, tmp_path: Path
) -> None:
    for name in ("out.zip", "out.tar.gz"):
        existing = tmp_path / name
        existing.write_bytes(b"someone's file")
        result = tool.run("bag", "make", src, existing, ok=False)
        assert result.exit_code == 2
        assert result.stderr == f"error: {existing}: already exists\n"
        assert existing.read_bytes() == b"someone's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tar.gz", "out.zip", "scans"]


def test_an_archive_inside_its_source_is_refused(tool: Repo, src: Path) -> None:
    result = tool.run("bag", "make", src, src / "inside.zip", ok=False)
    assert result.exit_code == 2
    inside = src / "inside.zip"
    assert result.stderr == f"error: {inside}: the bag cannot be inside the folder it copies\n"
    assert not (src / "inside.zip").exists()


def test_missing_parent_folders_are_made_but_not_through_a_file(
    tool: Repo, src: Path, tmp_path: Path
) -> None:
    tool.run("bag", "make", src, tmp_path / "new" / "deeper" / "out.zip")
    assert (tmp_path / "new" / "deeper" / "out.zip").is_file()
    (tmp_path / "plain").write_text("x")
    result = tool.run("bag", "make", src, tmp_path / "plain" / "out.zip", ok=False)
    assert result.exit_code == 2
    plain = tmp_path / "plain"
    assert result.stderr == f"error: {plain / 'out.zip'}: {plain} is not a folder\n"


def test_ctrl_c_while_packing_leaves_nothing(
    tool: Repo, src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_copy = serialise._copy
    copied: list[Path] = []

    def interrupted(source: Path, out: Any) -> str:
        copied.append(source)
        if len(copied) == 5:  # bagit.txt ... some way into the payload
            raise KeyboardInterrupt
        return real_copy(source, out)

    monkeypatch.setattr(serialise, "_copy", interrupted)
    out = tmp_path / "new" / "out.zip"
    result = tool.run("bag", "make", src, out, ok=False)
    assert (result.exit_code, result.stderr) == (130, "interrupted\n")
    assert len(copied) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scans"]  # "new" was made for it

    # a tar is streamed through tarfile, which reads each file itself
    reads: list[int] = []
    real_read = serialise._Hashing.read

    def read(self: Any, size: int = -1) -> bytes:
        reads.append(size)
        if len(reads) == 8:
            raise KeyboardInterrupt
        return real_read(self, size)

    monkeypatch.setattr(serialise._Hashing, "read", read)
    result = tool.run("bag", "make", src, tmp_path / "new" / "out.tar.gz", ok=False)
    assert (result.exit_code, result.stderr) == (130, "interrupted\n")
    assert len(reads) == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scans"]


def test_a_destination_taken_meanwhile_is_left_alone(
    tool: Repo, src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out.tar"
    real_read_back = serialise._read_back

    def someone_else(path: Path, fmt: Any, written: dict[str, str]) -> None:
        real_read_back(path, fmt, written)
        out.write_bytes(b"theirs")

    monkeypatch.setattr(serialise, "_read_back", someone_else)
    result = tool.run("bag", "make", src, out, ok=False)
    assert result.exit_code == 2
    assert result.stderr == f"error: {out}: already exists (created by someone else meanwhile)\n"
    assert out.read_bytes() == b"theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tar", "scans"]


KILLED = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from preserve.bagit.serialise import partial_name
    left = Path(sys.argv[1]) / partial_name("out.zip")
    left.write_bytes(b"PK half an archive")
    print(left.name)
    """
)


def test_what_a_killed_bag_make_left_is_removed_next_time(
    tool: Repo, src: Path, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", KILLED, str(outbox)], capture_output=True, text=True, check=True
    )
    left = outbox / done.stdout.strip()
    assert left.is_file()
    tool.run("bag", "make", src, outbox / "out.zip")
    assert sorted(p.name for p in outbox.iterdir()) == ["out.zip"]


def test_the_archive_order_is_deterministic(tool: Repo, src: Path, tmp_path: Path) -> None:
    tool.run("bag", "make", src, tmp_path / "one.tar")
    tool.run("bag", "make", src, tmp_path / "two.tar")
    one, two = _members(tmp_path / "one.tar"), _members(tmp_path / "two.tar")
    assert [n.partition("/")[2] for n, _ in one] == [n.partition("/")[2] for n, _ in two]
    assert [n for n, _ in one][:8] == [
        "one",
        "one/bagit.txt",
        "one/bag-info.txt",
        "one/manifest-sha256.txt",
        "one/manifest-sha512.txt",
        "one/tagmanifest-sha256.txt",
        "one/tagmanifest-sha512.txt",
        "one/data",
    ]
    assert stat.S_IMODE((src / "notes.txt").stat().st_mode) == 0o600  # the source is untouched


def test_the_writers_warnings_are_shown_once_and_not_with_quiet(tool: Repo, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "scan.txt").write_text("x")
    (src / ".DS_Store").write_bytes(b"\0")
    result = tool.run("bag", "make", src, tmp_path / "bag")
    assert result.stderr == (
        "warning: data/.DS_Store: an operating-system file, not content; kept as payload\n"
    )
    assert tool.run("-q", "bag", "make", src, tmp_path / "bag2").stderr == ""
