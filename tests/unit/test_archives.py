"""Safe unpacking of zip and tar deliveries."""

from __future__ import annotations

import io
import os
import re
import stat
import struct
import tarfile
import unicodedata
import zipfile
from pathlib import Path

import pytest

from preserve.archives import archive_kind, is_archive, unpack
from preserve.errors import InvalidInput, UnsafeArchive

LIMITS = {"max_total_bytes": 100 << 20, "max_ratio": 100}


def files_under(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


CONTENT = {
    "package/readme.txt": b"hello\n",
    "package/images/scan 001.tif": bytes(range(256)) * 40,
    "package/caf\u00e9.txt": "Ceci n'est pas un café.\n".encode(),
    "top.bin": os.urandom(3000),
}


def make_zip(path: Path, members: dict[str, bytes], *, dirs: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for d in dirs:
            zf.writestr(zipfile.ZipInfo(d.rstrip("/") + "/"), b"")
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def tar_file(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 1_600_000_000
    tf.addfile(info, io.BytesIO(data))


def make_tar(
    path: Path, members: dict[str, bytes], *, mode: str = "w:gz", extra: tuple = ()
) -> Path:
    with tarfile.open(path, mode) as tf:
        for name, data in members.items():
            tar_file(tf, name, data)
        for info in extra:
            tf.addfile(info)
    return path


def refused(archive: Path, dest: Path, error: type[Exception], match: str, **limits: int) -> str:
    with pytest.raises(error, match=match) as caught:
        unpack(archive, dest, **{**LIMITS, **limits})
    assert not dest.exists(), "a failed unpack must leave nothing behind"
    message = str(caught.value)
    assert str(archive) in message
    return message


# -- detection ----------------------------------------------------------------------------


def test_is_archive_by_content_not_by_name(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "delivery.dat", CONTENT)
    assert is_archive(z) and archive_kind(z) == "zip"
    for mode, name in [("w", "a.bin"), ("w:gz", "b"), ("w:bz2", "c.tar.bz2"), ("w:xz", "d.txz")]:
        t = make_tar(tmp_path / name, CONTENT, mode=mode)
        assert is_archive(t) and archive_kind(t) == "tar", name
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"not a zip at all\n")
    assert not is_archive(fake)
    zeros = tmp_path / "zeros.tar"
    zeros.write_bytes(bytes(10240))  # tarfile opens this as an empty tar: not a delivery
    assert not is_archive(zeros)
    assert not is_archive(tmp_path / "missing.zip")
    assert not is_archive(tmp_path)


# -- round trips ----------------------------------------------------------------------------


def test_zip_round_trip(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "good.zip", CONTENT, dirs=("package/", "empty/"))
    dest = tmp_path / "out"
    problems = unpack(archive, dest, **LIMITS)
    assert files_under(dest) == CONTENT
    assert [(p.code, p.path, p.severity) for p in problems] == [
        ("empty-directory", "empty", "warning")
    ]


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_tar_round_trip(tmp_path: Path, mode: str) -> None:
    archive = make_tar(tmp_path / "good.tar.x", CONTENT, mode=mode)
    dest = tmp_path / "out"
    assert unpack(archive, dest, **LIMITS) == []
    assert files_under(dest) == CONTENT
    assert (dest / "top.bin").stat().st_mtime == 1_600_000_000


def test_tar_with_dot_slash_names_and_root_entry(tmp_path: Path) -> None:
    archive = tmp_path / "dot.tar"
    with tarfile.open(archive, "w") as tf:
        root = tarfile.TarInfo(".")
        root.type = tarfile.DIRTYPE
        tf.addfile(root)
        tar_file(tf, "./a/b.txt", b"b")
    unpack(archive, tmp_path / "out", **LIMITS)
    assert files_under(tmp_path / "out") == {"a/b.txt": b"b"}


def test_names_are_preserved_byte_exact(tmp_path: Path) -> None:
    nfd = unicodedata.normalize("NFD", "café.txt")
    archive = make_tar(tmp_path / "names.tar", {nfd: b"nfd"}, mode="w")
    unpack(archive, tmp_path / "out", **LIMITS)
    assert os.listdir(tmp_path / "out") == [nfd]  # not normalised to NFC


def test_non_utf8_tar_name_is_preserved(tmp_path: Path) -> None:
    raw = b"caf\xe9.txt"  # Latin-1, not valid UTF-8
    archive = tmp_path / "latin1.tar"
    with tarfile.open(archive, "w", format=tarfile.GNU_FORMAT, encoding="latin-1") as tf:
        tar_file(tf, raw.decode("latin-1"), b"x")
    dest = tmp_path / "out"
    try:
        unpack(archive, dest, **LIMITS)
    except InvalidInput as exc:  # a file system that refuses non-UTF-8 names
        pytest.skip(str(exc))
    assert os.listdir(os.fsencode(dest)) == [raw]


def test_zip_name_without_utf8_flag_is_read_as_cp437(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "dos.zip", {"cafX.txt": b"dos"})
    data = archive.read_bytes()
    assert data.count(b"cafX.txt") == 2  # local header and central directory
    archive.write_bytes(data.replace(b"cafX.txt", b"caf\x82.txt"))  # 0x82 is "é" in cp437
    unpack(archive, tmp_path / "out", **LIMITS)
    assert files_under(tmp_path / "out") == {"café.txt": b"dos"}


# -- unsafe names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../evil", "traversal"),
        ("package/../../evil", "traversal"),
        ("/etc/x", "absolute"),
        ("package\\..\\evil", "backslash"),
        ("C:/Windows/evil", "drive letter"),
    ],
)
def test_unsafe_zip_names(tmp_path: Path, name: str, reason: str) -> None:
    archive = make_zip(tmp_path / "bad.zip", {"ok.txt": b"fine", name: b"evil"})
    message = refused(archive, tmp_path / "out", UnsafeArchive, reason)
    assert repr(name) in message
    assert not (tmp_path / "evil").exists()


@pytest.mark.parametrize(("name", "reason"), [("../evil", "traversal"), ("/etc/x", "absolute")])
def test_unsafe_tar_names(tmp_path: Path, name: str, reason: str) -> None:
    archive = make_tar(tmp_path / "bad.tar.gz", {"ok.txt": b"fine", name: b"evil"})
    message = refused(archive, tmp_path / "out", UnsafeArchive, reason)
    assert repr(name) in message
    assert not (tmp_path / "evil").exists()


def test_nfc_collision_is_refused(tmp_path: Path) -> None:
    nfc, nfd = "café.txt", unicodedata.normalize("NFD", "café.txt")
    archive = make_zip(tmp_path / "clash.zip", {nfc: b"1", nfd: b"2"})
    refused(archive, tmp_path / "out", UnsafeArchive, "collides after NFC")


def test_nfc_collision_between_directories_is_refused(tmp_path: Path) -> None:
    nfd = unicodedata.normalize("NFD", "café")
    archive = make_tar(tmp_path / "clash.tar", {"café/a": b"1", f"{nfd}/b": b"2"}, mode="w")
    refused(archive, tmp_path / "out", UnsafeArchive, "collides after NFC")


def test_duplicate_and_file_directory_clashes_are_refused(tmp_path: Path) -> None:
    dup = tmp_path / "dup.tar"
    with tarfile.open(dup, "w") as tf:
        tar_file(tf, "a.txt", b"1")
        tar_file(tf, "a.txt", b"2")
    refused(dup, tmp_path / "out1", UnsafeArchive, "duplicate member")
    clash = make_zip(tmp_path / "clash.zip", {"a": b"file", "a/b": b"below a file"})
    refused(clash, tmp_path / "out2", UnsafeArchive, "collides with the file")


# -- links and special members ----------------------------------------------------------------


def link(name: str, target: str, kind: bytes = tarfile.LNKTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    info.mtime = 1_600_000_000
    return info


def test_tar_symlink_member_is_skipped_with_a_warning_naming_it(tmp_path: Path) -> None:
    sym = link("package/passwd", "/etc/passwd", tarfile.SYMTYPE)
    archive = make_tar(tmp_path / "sym.tar.gz", {"package/readme.txt": b"hello"}, extra=(sym,))
    dest = tmp_path / "out"
    problems = unpack(archive, dest, **LIMITS)
    assert [(p.code, p.path, p.severity) for p in problems] == [
        ("symlink-skipped", "package/passwd", "warning")
    ]
    assert "symbolic link" in problems[0].message and "'/etc/passwd'" in problems[0].message
    assert "hard link" not in problems[0].message
    assert not os.path.lexists(dest / "package" / "passwd")
    assert files_under(dest) == {"package/readme.txt": b"hello"}


def test_tar_hard_link_becomes_a_file_with_its_targets_content(tmp_path: Path) -> None:
    data = os.urandom(5000)
    hard = link("package/copy.bin", "package/original.bin")
    archive = make_tar(tmp_path / "hard.tar.gz", {"package/original.bin": data}, extra=(hard,))
    dest = tmp_path / "out"
    assert unpack(archive, dest, **LIMITS) == []
    assert files_under(dest) == {"package/original.bin": data, "package/copy.bin": data}
    copy = dest / "package" / "copy.bin"
    assert not copy.is_symlink()
    assert copy.stat().st_nlink == 1  # a file of its own, not a link to the original
    assert copy.stat().st_mtime == 1_600_000_000


def test_tar_hard_links_made_by_tar_itself(tmp_path: Path) -> None:
    """tarfile, like GNU tar, stores the second name of a linked file as a link member."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_bytes(b"shared content\n")
    os.link(src / "a.txt", src / "sub" / "b.txt")
    archive = tmp_path / "real.tar"
    with tarfile.open(archive, "w") as tf:
        tf.add(src, arcname="./src")
        assert sum(m.islnk() for m in tf.getmembers()) == 1
    dest = tmp_path / "out"
    assert unpack(archive, dest, **LIMITS) == []
    assert files_under(dest) == {
        "src/a.txt": b"shared content\n",
        "src/sub/b.txt": b"shared content\n",
    }


def test_tar_hard_link_before_its_target_and_chains_resolve(tmp_path: Path) -> None:
    archive = tmp_path / "order.tar"
    with tarfile.open(archive, "w") as tf:
        tf.addfile(link("first.txt", "./later.txt"))  # names a member further on
        tf.addfile(link("chain/second.txt", "first.txt"))  # a link to a link
        tar_file(tf, "later.txt", b"the content")
    dest = tmp_path / "out"
    assert unpack(archive, dest, **LIMITS) == []
    assert files_under(dest) == {
        "first.txt": b"the content",
        "chain/second.txt": b"the content",
        "later.txt": b"the content",
    }


def test_tar_hard_link_to_a_symlink_member_is_skipped_as_a_link(tmp_path: Path) -> None:
    sym = link("sym", "/etc/passwd", tarfile.SYMTYPE)
    hard = link("hard", "sym")
    archive = make_tar(tmp_path / "l.tar", {"ok.txt": b"ok"}, mode="w", extra=(sym, hard))
    problems = unpack(archive, tmp_path / "out", **LIMITS)
    assert [(p.code, p.path) for p in problems] == [
        ("symlink-skipped", "sym"),
        ("symlink-skipped", "hard"),
    ]
    assert "hard link to 'sym' (a symbolic link)" in problems[1].message
    assert files_under(tmp_path / "out") == {"ok.txt": b"ok"}


@pytest.mark.parametrize(
    ("target", "error", "reason"),
    [
        ("missing.txt", InvalidInput, "hard link to 'missing.txt', which is not in the archive"),
        ("/etc/passwd", UnsafeArchive, "hard link to '/etc/passwd': absolute path"),
        ("package", InvalidInput, "hard link to 'package', which is a directory"),
        ("../outside.txt", UnsafeArchive, "hard link to '../outside.txt': '..' segment"),
        ("dir", InvalidInput, "hard link to 'dir', which is a directory"),
        ("loop", InvalidInput, "hard link to 'loop', which is a loop of hard links"),
        ("", UnsafeArchive, "hard link to '': empty name"),
    ],
)
def test_tar_hard_link_to_nothing_in_the_archive_is_refused(
    tmp_path: Path, target: str, error: type[Exception], reason: str
) -> None:
    directory = tarfile.TarInfo("dir")
    directory.type = tarfile.DIRTYPE
    extra = (directory, link("package/hard", target), link("loop", "package/hard"))
    archive = make_tar(tmp_path / "h.tar", {"package/a.txt": b"a"}, mode="w", extra=extra)
    message = refused(archive, tmp_path / "out", error, re.escape(reason))
    assert "member 'package/hard'" in message


def test_tar_hard_links_count_towards_the_unpack_limits(tmp_path: Path) -> None:
    """A small file linked many times would otherwise unpack to far more than its archive."""
    links = tuple(link(f"copy{i}.bin", "zeros.bin") for i in range(200))
    archive = make_tar(tmp_path / "many.tar.gz", {"zeros.bin": bytes(64 << 10)}, extra=links)
    assert archive.stat().st_size < 20_000
    refused(archive, tmp_path / "o1", UnsafeArchive, "compression ratio")
    refused(
        archive,
        tmp_path / "o2",
        UnsafeArchive,
        "declared total size",
        max_ratio=100_000,
        max_total_bytes=5 << 20,
    )
    problems = unpack(archive, tmp_path / "o3", max_total_bytes=100 << 20, max_ratio=100_000)
    assert problems == []
    assert len(files_under(tmp_path / "o3")) == 201


def test_tar_hard_link_name_colliding_with_a_member_is_refused(tmp_path: Path) -> None:
    archive = make_tar(
        tmp_path / "c.tar",
        {"a.txt": b"a", "b.txt": b"b"},
        mode="w",
        extra=(link("a.txt", "b.txt"),),
    )
    refused(archive, tmp_path / "out", UnsafeArchive, "duplicate member")


def test_zip_symlink_member_is_skipped(tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        link = zipfile.ZipInfo("escape")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "../../../etc/passwd")
        zf.writestr("ok.txt", b"ok")
    problems = unpack(archive, tmp_path / "out", **LIMITS)
    assert [p.code for p in problems] == ["symlink-skipped"]
    assert not os.path.lexists(tmp_path / "out" / "escape")
    assert files_under(tmp_path / "out") == {"ok.txt": b"ok"}


def test_file_through_a_symlink_member_is_refused(tmp_path: Path) -> None:
    sym = tarfile.TarInfo("etc")
    sym.type, sym.linkname = tarfile.SYMTYPE, "/etc"
    archive = tmp_path / "through.tar"
    with tarfile.open(archive, "w") as tf:
        tf.addfile(sym)
        tar_file(tf, "etc/evil.conf", b"owned")
    refused(archive, tmp_path / "out", UnsafeArchive, "collides with the file")


@pytest.mark.parametrize("kind", [tarfile.FIFOTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE])
def test_device_and_fifo_members_are_refused(tmp_path: Path, kind: bytes) -> None:
    special = tarfile.TarInfo("dev/thing")
    special.type = kind
    archive = make_tar(tmp_path / "dev.tar", {"a.txt": b"a"}, mode="w", extra=(special,))
    refused(archive, tmp_path / "out", UnsafeArchive, "device or fifo")


# -- sizes, ratios, counts --------------------------------------------------------------------


def write_zip_bomb(path: Path, megabytes: int = 50) -> Path:
    chunk = bytes(1 << 20)
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf,
        zf.open("zeros.bin", "w", force_zip64=True) as out,
    ):
        for _ in range(megabytes):
            out.write(chunk)
    return path


def test_zip_bomb_is_refused_by_ratio(tmp_path: Path) -> None:
    archive = write_zip_bomb(tmp_path / "bomb.zip")
    assert archive.stat().st_size < 1 << 20
    message = refused(archive, tmp_path / "out", UnsafeArchive, "compression ratio")
    assert "'zeros.bin'" in message


def test_zip_bomb_is_refused_by_total_size(tmp_path: Path) -> None:
    archive = write_zip_bomb(tmp_path / "bomb.zip", megabytes=5)
    refused(
        archive,
        tmp_path / "out",
        UnsafeArchive,
        "declared total size",
        max_ratio=10_000,
        max_total_bytes=1 << 20,
    )


def test_tar_gz_bomb_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.tar.gz"
    with tarfile.open(archive, "w:gz", compresslevel=1) as tf:
        info = tarfile.TarInfo("zeros.bin")
        info.size = 20 << 20

        class Zeros(io.RawIOBase):
            def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
                b[:] = bytes(len(b))
                return len(b)

        tf.addfile(info, Zeros())
    refused(archive, tmp_path / "out", UnsafeArchive, "compression ratio")


def test_lying_declared_size_is_caught_while_extracting(tmp_path: Path) -> None:
    """Headers that claim 1,000 bytes for a member holding 1 MiB of zeros."""
    real, claimed = 1 << 20, 1000
    archive = tmp_path / "liar.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("first.txt", b"written before the liar")
        zf.writestr("liar.bin", bytes(real))
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        liar = zf.getinfo("liar.bin")
    # local header: uncompressed size at +22; central directory entry: at +24
    local = liar.header_offset
    assert struct.unpack_from("<I", data, local + 22)[0] == real
    struct.pack_into("<I", data, local + 22, claimed)
    cd_offset = struct.unpack_from("<I", data, len(data) - 22 + 16)[0]
    entry = data.index(b"liar.bin", cd_offset) - 46  # the name follows the 46-byte entry header
    assert data[entry : entry + 4] == b"PK\x01\x02"
    assert struct.unpack_from("<I", data, entry + 24)[0] == real
    struct.pack_into("<I", data, entry + 24, claimed)
    archive.write_bytes(bytes(data))
    with zipfile.ZipFile(archive) as zf:
        assert zf.getinfo("liar.bin").file_size == claimed  # the lie passes the up-front checks

    message = refused(archive, tmp_path / "out", UnsafeArchive, "more data than its declared size")
    assert "'liar.bin'" in message


def test_too_many_members(tmp_path: Path) -> None:
    members = {f"f{i}.txt": b"x" for i in range(5)}
    refused(
        make_zip(tmp_path / "many.zip", members),
        tmp_path / "o1",
        UnsafeArchive,
        "more than 4 members",
        max_members=4,
    )
    refused(
        make_tar(tmp_path / "many.tar", members, mode="w"),
        tmp_path / "o2",
        UnsafeArchive,
        "more than 4 members",
        max_members=4,
    )
    assert unpack(tmp_path / "many.zip", tmp_path / "o3", **LIMITS, max_members=5) == []


# -- corrupt input and the destination ---------------------------------------------------------


def test_corrupt_zip_is_invalid_input(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "c.zip", {"a.txt": os.urandom(5000), "b.txt": b"b"})
    data = bytearray(archive.read_bytes())
    data[100:140] = bytes(40)  # inside a.txt's compressed data
    archive.write_bytes(bytes(data))
    with pytest.raises(InvalidInput, match="c\\.zip") as caught:
        unpack(archive, tmp_path / "out", **LIMITS)
    assert not isinstance(caught.value, UnsafeArchive)
    assert not (tmp_path / "out").exists()


def test_truncated_archives_are_invalid_input(tmp_path: Path) -> None:
    big = {f"f{i}.bin": os.urandom(20_000) for i in range(5)}
    tgz = make_tar(tmp_path / "cut.tar.gz", big)
    tgz.write_bytes(tgz.read_bytes()[: tgz.stat().st_size // 2])
    refused(tgz, tmp_path / "o1", InvalidInput, r"cut\.tar\.gz: not a readable tar archive \(")
    z = make_zip(tmp_path / "cut.zip", big)
    z.write_bytes(z.read_bytes()[: z.stat().st_size // 2])
    refused(z, tmp_path / "o2", InvalidInput, r"cut\.zip: not a readable zip archive \(")


def test_not_an_archive_and_missing_archive(tmp_path: Path) -> None:
    text = tmp_path / "notes.zip"
    text.write_text("hello")
    refused(text, tmp_path / "o1", InvalidInput, r"notes\.zip: not a readable zip archive \(")
    with pytest.raises(InvalidInput, match="missing\\.zip"):
        unpack(tmp_path / "missing.zip", tmp_path / "o2", **LIMITS)


def test_existing_destination_is_refused_and_left_alone(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "good.zip", CONTENT)
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(InvalidInput, match="already exists"):
        unpack(archive, dest, **LIMITS)
    assert (dest / "keep.txt").read_text() == "mine"


def test_failure_after_writing_removes_everything(tmp_path: Path) -> None:
    # a.txt is written before b.txt turns out to be corrupt: nothing may remain
    archive = make_zip(tmp_path / "late.zip", {"a.txt": b"a" * 1000, "b.txt": os.urandom(4000)})
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        b = zf.getinfo("b.txt")
    start = b.header_offset + 30 + len("b.txt")
    data[start + 50 : start + 80] = bytes(30)
    archive.write_bytes(bytes(data))
    refused(archive, tmp_path / "out", InvalidInput, "b.txt")


# -------------------------------------------------------------------------- writing (issue 8)


def _bag(root: Path) -> Path:
    from preserve.bagit import make_bag

    src = root / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("a\n")
    (src / "sub" / "b.bin").write_bytes(os.urandom(5000))
    make_bag(src, root / "bag")
    return root / "bag"


@pytest.mark.parametrize(
    ("name", "given", "expected"),
    [
        ("out.zip", None, "zip"),
        ("OUT.ZIP", None, "zip"),
        ("out.tar", None, "tar"),
        ("out.tar.gz", None, "tar.gz"),
        ("out.tgz", None, "tar.gz"),
        ("out", None, "folder"),
        (".zip", None, "folder"),  # a name that is only an ending is no archive name
        ("out", "tar", "tar"),
        ("out.zip", "zip", "zip"),
    ],
)
def test_the_format_comes_from_the_option_or_the_name(
    name: str, given: str | None, expected: str
) -> None:
    from preserve.bagit.serialise import choose_format

    assert choose_format(Path(name), given) == expected


def test_the_bag_is_named_after_the_destination_without_its_ending() -> None:
    from preserve.bagit.serialise import bag_name

    assert bag_name(Path("x/box-12.tar.gz"), "tar.gz") == "box-12"
    assert bag_name(Path("box.12.zip"), "zip") == "box.12"
    assert bag_name(Path("box-12"), "zip") == "box-12"
    assert bag_name(Path("box-12.zip"), "folder") == "box-12.zip"


def test_a_folder_that_is_not_a_bag_is_not_packed(tmp_path: Path) -> None:
    from preserve.bagit.serialise import serialise_bag

    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "a.txt").write_text("a")
    with pytest.raises(InvalidInput, match=r"plain: not a bag \(no bagit.txt\)"):
        serialise_bag(tmp_path / "plain", tmp_path / "out.zip", "zip")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain"]


def test_a_special_file_in_a_bag_is_refused(tmp_path: Path) -> None:
    from preserve.bagit.serialise import serialise_bag

    bag = _bag(tmp_path)
    os.symlink("a.txt", bag / "data" / "link")
    with pytest.raises(InvalidInput, match=r"data/link: not a regular file or folder; not packed"):
        serialise_bag(bag, tmp_path / "out.tar", "tar")
    assert not (tmp_path / "out.tar").exists()
    assert [p for p in tmp_path.iterdir() if ".partial-" in p.name] == []


@pytest.mark.parametrize("fmt", ["zip", "tar", "tar.gz"])
def test_an_archive_that_does_not_read_back_as_packed_is_not_published(
    tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read-back compares every member with what was packed: a member whose bytes differ
    (here: the record of what was packed is made to disagree) keeps the archive unpublished."""
    from preserve.bagit import serialise
    from preserve.errors import StorageError

    bag = _bag(tmp_path)
    real = serialise._read_back

    def tampered(path: Path, kind: str, written: dict[str, str]) -> None:
        key = next(k for k in written if k.endswith("b.bin"))
        real(path, kind, {**written, key: "0" * 64})  # type: ignore[arg-type]

    monkeypatch.setattr(serialise, "_read_back", tampered)
    dest = tmp_path / f"out.{fmt}"
    with pytest.raises(
        StorageError, match=r"does not read back as packed \(different: out/data/sub/b.bin\)"
    ):
        serialise.serialise_bag(bag, dest, fmt)  # type: ignore[arg-type]
    assert not dest.exists()
    assert [p for p in tmp_path.iterdir() if ".partial-" in p.name] == []


def test_leftovers_of_dead_processes_are_removed_files_and_folders(tmp_path: Path) -> None:
    from preserve.bagit.serialise import owner_tag, partial_name, remove_abandoned

    host = owner_tag().rsplit("-", 2)[0]
    dead_file = tmp_path / f".out.zip.partial-{host}-999999999-1.00-0123456789ab"
    dead_folder = tmp_path / f".bag.partial-{host}-999999999-1.00-0123456789ac"
    mine = tmp_path / partial_name("out.zip")
    dead_file.write_bytes(b"PK")
    dead_folder.mkdir()
    mine.write_bytes(b"PK")
    assert sorted(remove_abandoned(tmp_path)) == sorted([dead_file, dead_folder])
    assert [p.name for p in tmp_path.iterdir()] == [mine.name]


def test_zip64_is_used_where_a_file_needs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sizes are given to zipfile up front, so it writes zip64 records for a file too large for
    the classic fields (the limit lowered here: a 4 GiB file is too slow for a unit test)."""
    import bagit

    from preserve.bagit import serialise

    bag = _bag(tmp_path)
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 4000)
    made = serialise.serialise_bag(bag, tmp_path / "out.zip", "zip")
    assert made.members == 8
    with zipfile.ZipFile(tmp_path / "out.zip") as zf:
        big = zf.getinfo("out/data/sub/b.bin")
        small = zf.getinfo("out/data/a.txt")
        assert struct.unpack("<H", big.extra[:2]) == (1,)  # the zip64 extra field
        assert small.extra == b""
        zf.extractall(tmp_path / "unpacked")
    bagit.Bag(str(tmp_path / "unpacked" / "out")).validate()
