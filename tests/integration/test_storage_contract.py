"""One contract, every backend: the same behaviour tests run on the local filesystem and on a
real S3 HTTP endpoint (moto server), plus the checks that only make sense for one of them."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from preserve.checksums import hash_file
from preserve.errors import (
    ObjectNotFound,
    StorageError,
    StorageUnavailable,
    UnsafePath,
    VerificationFailed,
)
from preserve.storage import Storage, open_location
from preserve.storage.local import TMP_DIR
from tests.s3server import corrupt_object

MiB = 1024 * 1024
UNSAFE_KEYS = [
    "",
    "/abs",
    "../up",
    "a/../../b",
    "a//b",
    "a/./b",
    "a/",
    "a\\b",
    "nul\x00",
    "x" * 1025,
]
# payload names are kept byte for byte: spaces, non-ASCII, a decomposed "é", control
# characters, URL syntax. (A line feed is tested on the local backend only: moto's router answers
# 404 to a key with one, which real S3 accepts.)
ODD_KEYS = [
    "odd/dir with space/file name.txt",
    "odd/ünïcødé/Ωmega.txt",
    "odd/e\u0301.txt",  # NFD; its NFC twin below is a different object
    "odd/\u00e9.txt",
    "odd/carriage\rreturn\ttab\x01.txt",
    "odd/percent%20plus+question?hash#amp&.txt",
]


@pytest.fixture
def storage(storage_url: str) -> Storage:
    s = open_location(storage_url, retries=2, backoff=0.01)
    s.ensure()
    return s


@pytest.fixture
def big_storage(storage_url: str) -> Storage:
    s = open_location(
        storage_url, retries=2, backoff=0.01, multipart_threshold=5 * MiB, part_size=5 * MiB
    )
    s.ensure()
    return s


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def read(storage: Storage, key: str) -> bytes:
    with storage.open(key) as f:
        return f.read()


def temporary_files(root: Path) -> list[Path]:
    """Files in a local location's temporary area (its per-process folders may stay)."""
    return [p for p in (root / TMP_DIR).rglob("*") if not p.is_dir()]


def is_s3(storage: Storage) -> bool:
    return storage.url.startswith("s3:")


def b64(hexdigest: str) -> str:
    return base64.b64encode(bytes.fromhex(hexdigest)).decode()


def s3_client(storage: Storage) -> Any:
    return storage._client  # type: ignore[attr-defined]


# ------------------------------------------------------------------------- the round trip


def test_put_open_stat_exists_delete_round_trip(storage: Storage, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    source = write(tmp_path / "src.bin", data)
    _, expected = hash_file(source, ("sha256", "crc64nvme", "sha512"))

    obj = storage.put("pkg/v1/data/a.bin", source, digests=expected)

    assert obj.key == "pkg/v1/data/a.bin"
    assert obj.size == len(data)
    assert obj.digests["sha256"] == hashlib.sha256(data).hexdigest()
    assert obj.digests["sha512"] == expected["sha512"]  # an expected algorithm is computed too
    assert obj.digests["crc64nvme"] == expected["crc64nvme"]
    assert obj.verified_by == ("server-sha256" if is_s3(storage) else "reread")
    assert obj.part_size is None
    assert source.read_bytes() == data  # put copies unless told to consume
    assert read(storage, "pkg/v1/data/a.bin") == data
    st = storage.stat("pkg/v1/data/a.bin")
    assert st.key == "pkg/v1/data/a.bin" and st.size == len(data)
    assert st.modified is not None and st.modified.tzinfo is not None
    if is_s3(storage):
        assert st.checksum_sha256 == b64(obj.digests["sha256"])
        assert st.etag == hashlib.md5(data).hexdigest()  # a single PUT's ETag is the MD5
    assert storage.exists("pkg/v1/data/a.bin")
    assert not storage.exists("pkg/v1/data/b.bin")
    assert list(storage.iter_keys()) == ["pkg/v1/data/a.bin"]

    storage.delete("pkg/v1/data/a.bin")
    assert not storage.exists("pkg/v1/data/a.bin")
    storage.delete("pkg/v1/data/a.bin")  # idempotent
    assert list(storage.iter_keys()) == []


def test_put_bytes_and_overwrite(storage: Storage) -> None:
    obj = storage.put_bytes("pkg/bagit.txt", b"BagIt-Version: 1.0\n")
    assert (
        obj.size == 19
        and obj.digests["sha256"] == hashlib.sha256(b"BagIt-Version: 1.0\n").hexdigest()
    )
    assert obj.verified_by in ("reread", "server-sha256")
    assert read(storage, "pkg/bagit.txt") == b"BagIt-Version: 1.0\n"
    storage.put_bytes("pkg/bagit.txt", b"")
    assert read(storage, "pkg/bagit.txt") == b""
    assert storage.stat("pkg/bagit.txt").size == 0


def test_streaming_reads_in_chunks(storage: Storage, tmp_path: Path) -> None:
    data = os.urandom(3 * MiB + 7)
    storage.put("s/big.bin", write(tmp_path / "big", data))
    with storage.open("s/big.bin") as f:
        chunks = []
        while chunk := f.read(MiB):
            assert len(chunk) <= MiB
            chunks.append(chunk)
        buf = bytearray(10)
        assert f.readinto(buf) == 0  # at the end
    assert b"".join(chunks) == data


def test_keys_are_kept_byte_for_byte(storage: Storage) -> None:
    for i, key in enumerate(ODD_KEYS):
        storage.put_bytes(key, f"object {i}".encode())
    assert list(storage.iter_keys("odd/")) == sorted(ODD_KEYS)
    for i, key in enumerate(ODD_KEYS):
        assert read(storage, key) == f"object {i}".encode()
    assert read(storage, "odd/e\u0301.txt") != read(storage, "odd/\u00e9.txt")


def test_iter_keys_sorted_by_plain_string_order_with_prefixes(storage: Storage) -> None:
    keys = ["a-c", "a/b", "a/b/c", "a.txt", "ab", "b/x/y/z", "\u00e9", "A"]
    keys.remove("a/b")  # a key cannot also be a folder on a filesystem
    for key in keys:
        storage.put_bytes(key, key.encode())
    assert list(storage.iter_keys()) == sorted(keys)
    assert list(storage.iter_keys("a")) == ["a-c", "a.txt", "a/b/c", "ab"]
    assert list(storage.iter_keys("a/")) == ["a/b/c"]
    assert list(storage.iter_keys("a/b/")) == ["a/b/c"]
    assert list(storage.iter_keys("b/x")) == ["b/x/y/z"]
    assert list(storage.iter_keys("nothing/")) == []


def test_delete_prefix_removes_exactly_the_folder(storage: Storage) -> None:
    for key in ["pkg1/a", "pkg1/sub/b", "pkg1/sub/deeper/c", "pkg10/a", "pkg2/a", "pkg1.txt"]:
        storage.put_bytes(key, b"x")
    assert storage.delete_prefix("pkg1/") == 3
    assert list(storage.iter_keys()) == ["pkg1.txt", "pkg10/a", "pkg2/a"]
    assert storage.delete_prefix("pkg1/") == 0  # again: nothing left, no error
    if not is_s3(storage):
        root = Path(storage.root)  # type: ignore[attr-defined]
        assert not (root / "pkg1").exists()  # empty folders are pruned too


@pytest.mark.parametrize("prefix", ["", "pkg1", "../", "/pkg1/"])
def test_delete_prefix_refuses_anything_but_a_folder(storage: Storage, prefix: str) -> None:
    storage.put_bytes("pkg1/a", b"x")
    with pytest.raises(UnsafePath):
        storage.delete_prefix(prefix)
    assert storage.exists("pkg1/a")


def test_concurrent_puts(storage: Storage, tmp_path: Path) -> None:
    sources = {f"c/{i:02d}": write(tmp_path / f"s{i}", os.urandom(50_000 + i)) for i in range(12)}
    with ThreadPoolExecutor(max_workers=4) as pool:
        stored = list(pool.map(lambda kv: storage.put(kv[0], kv[1]), sources.items()))
    assert [o.key for o in stored] == sorted(sources)
    for key, source in sources.items():
        assert read(storage, key) == source.read_bytes()


# ------------------------------------------------------------------------- verification


@pytest.mark.parametrize("algorithm", ["sha256", "crc64nvme", "sha512"])
def test_wrong_expected_digest_fails_and_leaves_nothing(
    storage: Storage, tmp_path: Path, algorithm: str
) -> None:
    source = write(tmp_path / "src", os.urandom(10_000))
    _, digests = hash_file(source, ("sha256", "crc64nvme", "sha512"))
    good = digests[algorithm]
    digests[algorithm] = good[:-1] + ("0" if good[-1] != "0" else "1")
    with pytest.raises(VerificationFailed) as caught:
        storage.put("pkg/data/f.bin", source, digests=digests)
    assert "pkg/data/f.bin" in str(caught.value) and algorithm in str(caught.value)
    assert not storage.exists("pkg/data/f.bin")
    assert list(storage.iter_keys()) == []
    assert source.exists()


def test_digests_may_be_upper_case_and_partial(storage: Storage, tmp_path: Path) -> None:
    source = write(tmp_path / "src", b"payload")
    sha256 = hashlib.sha256(b"payload").hexdigest().upper()
    md5 = hashlib.md5(b"payload").hexdigest()
    obj = storage.put("k", source, digests={"SHA-256": sha256, "md5": md5})
    assert obj.digests["sha256"] == sha256.lower()
    assert "md5" in obj.digests


def test_missing_key(storage: Storage) -> None:
    with pytest.raises(ObjectNotFound) as caught:
        storage.open("no/such/key")
    assert "no/such/key" in str(caught.value)
    with pytest.raises(ObjectNotFound):
        storage.stat("no/such/key")
    assert not storage.exists("no/such/key")
    storage.delete("no/such/key")


def test_a_folder_is_not_an_object(storage: Storage) -> None:
    storage.put_bytes("dir/file", b"x")
    with pytest.raises(ObjectNotFound):
        storage.open("dir")
    with pytest.raises(ObjectNotFound):
        storage.stat("dir")
    assert not storage.exists("dir")


@pytest.mark.parametrize("key", UNSAFE_KEYS, ids=repr)
def test_unsafe_keys_are_refused(storage: Storage, tmp_path: Path, key: str) -> None:
    source = write(tmp_path / "src", b"x")
    with pytest.raises(UnsafePath):
        storage.put(key, source)
    with pytest.raises(UnsafePath):
        storage.put_bytes(key, b"x")
    with pytest.raises(UnsafePath):
        storage.open(key)
    with pytest.raises(UnsafePath):
        storage.stat(key)
    with pytest.raises(UnsafePath):
        storage.delete(key)
    assert list(storage.iter_keys()) == []


def test_unreadable_source_is_a_storage_error(storage: Storage, tmp_path: Path) -> None:
    with pytest.raises(StorageError) as caught:
        storage.put("k", tmp_path / "does-not-exist")
    assert "does-not-exist" in str(caught.value)
    assert not isinstance(caught.value, ObjectNotFound)
    assert list(storage.iter_keys()) == []


def test_large_file_goes_in_parts(big_storage: Storage, tmp_path: Path) -> None:
    data = os.urandom(12 * MiB + 12345)
    source = write(tmp_path / "large.bin", data)
    _, expected = hash_file(source, ("sha256", "crc64nvme"))
    obj = big_storage.put("pkg/data/large.bin", source, digests=expected)
    assert obj.size == len(data) and obj.digests == expected
    if is_s3(big_storage):
        assert obj.verified_by == "server-crc64nvme"
        assert obj.part_size == 5 * MiB
        st = big_storage.stat("pkg/data/large.bin")
        assert st.checksum_crc64nvme == b64(expected["crc64nvme"])
        assert st.etag is not None and st.etag.endswith("-3")  # not an MD5 of the object
    else:
        assert obj.verified_by == "reread"
    with big_storage.open("pkg/data/large.bin") as f:
        assert hashlib.sha256(f.read()).hexdigest() == expected["sha256"]


def test_at_the_threshold_is_one_put(big_storage: Storage, tmp_path: Path) -> None:
    obj = big_storage.put("t", write(tmp_path / "t", os.urandom(5 * MiB)))
    assert obj.part_size is None
    assert obj.verified_by == ("server-sha256" if is_s3(big_storage) else "reread")


# ------------------------------------------------------------------------- corrupt_object


def flip(data: bytes) -> bytes:
    return data[:10] + bytes([data[10] ^ 0x01]) + data[11:]


def test_corrupt_object_flips_truncates_deletes_and_swaps(storage: Storage, tmp_path: Path) -> None:
    a, b = os.urandom(40_000), os.urandom(30_000)
    storage.put("p/a", write(tmp_path / "a", a))
    storage.put("p/b", write(tmp_path / "b", b))
    before = storage.stat("p/a")

    corrupt_object(storage.url, "p/a", flip)
    assert read(storage, "p/a") == flip(a)
    after = storage.stat("p/a")
    assert after.size == len(a)
    # behind the backend's back: what the location reports about the object is unchanged
    assert after.modified == before.modified
    assert after.checksum_sha256 == before.checksum_sha256
    assert after.etag == before.etag

    corrupt_object(storage.url, "p/a", lambda d: d[:100])
    assert read(storage, "p/a") == flip(a)[:100]
    assert storage.stat("p/a").size == 100

    seen: dict[str, bytes] = {}
    corrupt_object(storage.url, "p/a", lambda d: seen.setdefault("a", d))
    corrupt_object(storage.url, "p/b", lambda d: seen.setdefault("b", d))
    corrupt_object(storage.url, "p/a", lambda _: seen["b"])
    corrupt_object(storage.url, "p/b", lambda _: seen["a"])
    assert read(storage, "p/a") == b and read(storage, "p/b") == flip(a)[:100]

    corrupt_object(storage.url, "p/a", lambda _: None)
    assert not storage.exists("p/a")
    with pytest.raises(ObjectNotFound):
        storage.open("p/a")
    with pytest.raises(LookupError):
        corrupt_object(storage.url, "p/a", flip)


def test_bit_rot_is_visible_to_a_reader_that_hashes(storage: Storage, tmp_path: Path) -> None:
    data = os.urandom(100_000)
    obj = storage.put("r/x", write(tmp_path / "x", data))
    corrupt_object(storage.url, "r/x", flip)
    with storage.open("r/x") as f:
        assert hashlib.sha256(f.read()).hexdigest() != obj.digests["sha256"]


# ------------------------------------------------------------------------- consume


def test_consume(storage: Storage, tmp_path: Path) -> None:
    data = os.urandom(70_000)
    source = write(tmp_path / "staged.bin", data)
    inode = source.stat().st_ino
    digests = {"sha256": hashlib.sha256(data).hexdigest()}
    obj = storage.put("c/staged.bin", source, digests=digests, consume=True)
    assert read(storage, "c/staged.bin") == data
    assert obj.verified_by in ("reread", "server-sha256")
    if is_s3(storage):
        assert source.exists()  # an upload copies; S3 ignores consume
    else:
        assert not source.exists()
        root = Path(storage.root)  # type: ignore[attr-defined]
        assert (root / "c" / "staged.bin").stat().st_ino == inode  # moved, not copied
        assert temporary_files(root) == []


# ------------------------------------------------------------------------- errors


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends


@pytest.mark.s3
def test_unreachable_endpoint_fails_quickly(s3_endpoint: str, tmp_path: Path) -> None:
    port = closed_port()
    url = f"s3://bucket-x/p?endpoint_url=http://127.0.0.1:{port}&addressing_style=path"
    storage = open_location(url, retries=2, backoff=0.01)
    source = write(tmp_path / "src", b"x")
    started = time.monotonic()
    for call in (
        storage.ensure,
        lambda: storage.put("k", source),
        lambda: storage.open("k"),
        lambda: storage.stat("k"),
        lambda: list(storage.iter_keys()),
        lambda: storage.delete("k"),
        lambda: storage.delete_prefix("p/"),
    ):
        with pytest.raises(StorageUnavailable) as caught:
            call()
        assert f"127.0.0.1:{port}" in str(caught.value)
    # a loose bound against retrying for minutes, not a benchmark
    assert time.monotonic() - started < 20


@pytest.mark.s3
def test_retries_are_bounded_and_counted(s3_endpoint: str) -> None:
    port = closed_port()
    url = f"s3://bucket-x?endpoint_url=http://127.0.0.1:{port}&addressing_style=path"
    storage = open_location(url, retries=3, backoff=0.01)
    attempts: list[str] = []
    s3_client(storage).meta.events.register("before-send.s3", lambda **kw: attempts.append("x"))
    with pytest.raises(StorageUnavailable) as caught:
        storage.stat("k")
    assert len(attempts) == 3
    assert "after 3 attempts" in str(caught.value)


@pytest.mark.s3
def test_missing_bucket(s3_endpoint: str) -> None:
    url = f"s3://no-such-bucket-here/p?endpoint_url={s3_endpoint}&addressing_style=path"
    storage = open_location(url, retries=1)
    with pytest.raises(StorageError, match="does not exist"):
        storage.ensure()
    with pytest.raises(StorageError, match="does not exist") as caught:
        storage.put_bytes("k", b"x")
    assert not isinstance(caught.value, ObjectNotFound)
    with pytest.raises(StorageError, match="does not exist"):
        list(storage.iter_keys())


# ------------------------------------------------------------------------- S3 only


@pytest.mark.s3
def test_s3_keys_live_under_the_url_prefix(s3_bucket_url: str, s3_admin: Any) -> None:
    storage = open_location(s3_bucket_url)
    storage.put_bytes("k/v", b"x")
    loc = storage.location  # type: ignore[attr-defined]
    client = s3_admin
    listed = client.list_objects_v2(Bucket=loc.bucket)["Contents"]
    assert [o["Key"] for o in listed] == ["prefix/k/v"]
    client.put_object(Bucket=loc.bucket, Key="outside", Body=b"y")
    assert list(storage.iter_keys()) == ["k/v"]


@pytest.mark.s3
def test_s3_verification_reread_when_asked(s3_bucket_url: str, tmp_path: Path) -> None:
    storage = open_location(s3_bucket_url + "&verification=reread")
    obj = storage.put("k", write(tmp_path / "k", os.urandom(1000)))
    assert obj.verified_by == "reread"


@pytest.mark.s3
def test_s3_rereads_when_the_server_reports_no_checksum(s3_bucket_url: str, tmp_path: Path) -> None:
    """A server that keeps no SHA-256 for the object: the copy is read back instead."""
    storage = open_location(s3_bucket_url)

    def send_no_checksum(request: Any, **_: Any) -> None:
        del request.headers["x-amz-sdk-checksum-algorithm"]
        del request.headers["x-amz-checksum-sha256"]

    s3_client(storage).meta.events.register("before-sign.s3.PutObject", send_no_checksum)
    data = os.urandom(2000)
    obj = storage.put("k", write(tmp_path / "k", data))
    assert obj.verified_by == "reread"
    assert storage.stat("k").checksum_sha256 is None
    assert read(storage, "k") == data


@pytest.mark.s3
def test_s3_a_server_reporting_another_checksum_fails_verification(
    s3_bucket_url: str, tmp_path: Path
) -> None:
    """moto stores whatever checksum it is told; S3 answers BadDigest. Either way: fail."""
    storage = open_location(s3_bucket_url)
    wrong = b64(hashlib.sha256(b"something else").hexdigest())

    def lie(request: Any, **_: Any) -> None:
        request.headers.replace_header("x-amz-checksum-sha256", wrong)

    s3_client(storage).meta.events.register("before-sign.s3.PutObject", lie)
    with pytest.raises(VerificationFailed, match=r"SHA-?256"):
        storage.put("k", write(tmp_path / "k", b"data"))
    assert not storage.exists("k")


@pytest.mark.s3
def test_s3_reread_catches_damage_after_the_upload(s3_bucket_url: str, tmp_path: Path) -> None:
    storage = open_location(s3_bucket_url + "&verification=reread")

    def damage(**_: Any) -> None:
        corrupt_object(storage.url, "k", flip)

    s3_client(storage).meta.events.register("after-call.s3.PutObject", damage)
    with pytest.raises(VerificationFailed, match="reads back"):
        storage.put("k", write(tmp_path / "k", os.urandom(1000)))
    assert not storage.exists("k")


@pytest.mark.s3
def test_s3_multipart_server_checksum_must_match(s3_bucket_url: str, tmp_path: Path) -> None:
    """The full-object CRC64NVME the server reports must be the one computed from the file."""
    storage = open_location(s3_bucket_url, multipart_threshold=5 * MiB, part_size=5 * MiB)

    def other_object(parsed: dict[str, Any], **_: Any) -> None:
        parsed["ChecksumCRC64NVME"] = b64("0123456789abcdef")

    s3_client(storage).meta.events.register("after-call.s3.HeadObject", other_object)
    with pytest.raises(VerificationFailed, match="CRC64NVME"):
        storage.put("k", write(tmp_path / "k", os.urandom(11 * MiB)))
    s3_client(storage).meta.events.unregister("after-call.s3.HeadObject", other_object)
    assert not storage.exists("k")


# ------------------------------------------------------------------------- local only


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Any]:
    s = open_location((tmp_path / "root").as_uri())
    s.ensure()
    yield s


def test_local_never_lists_or_accepts_temporary_files(local: Any) -> None:
    (Path(local.root) / TMP_DIR / "leftover").write_bytes(b"partial")
    local.put_bytes("a", b"x")
    assert list(local.iter_keys()) == ["a"]
    with pytest.raises(UnsafePath):
        local.put_bytes(f"{TMP_DIR}/x", b"x")
    with pytest.raises(UnsafePath):
        local.open(f"{TMP_DIR}/leftover")


def test_local_temporary_files_are_named_after_their_process(local: Any, tmp_path: Path) -> None:
    """A write in progress sits in ``<pid>-<start>@<host>``: recovery can tell whose it is;
    once the writes are done, the empty folder and ``.preserve-tmp`` are gone (issue 8)."""
    from preserve.storage.base import PutItem

    (tmp_path / "a").write_bytes(b"x")
    seen: list[Path] = []
    local.put_many(
        [PutItem("a", tmp_path / "a")],
        on_written=lambda key, size: seen.extend((Path(local.root) / TMP_DIR).iterdir()),
    )
    (owner,) = seen
    assert not (Path(local.root) / TMP_DIR).exists()
    pid, _, rest = owner.name.partition("-")
    started, _, host = rest.partition("@")
    assert (pid, host) == (str(os.getpid()), socket.gethostname())
    assert abs(int(started) - time.time()) < 24 * 3600


def test_local_removes_what_dead_processes_left_and_keeps_the_living(local: Any) -> None:
    tmp = Path(local.root) / TMP_DIR
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead_dir = tmp / f"{dead.stdout.strip()}-{int(time.time())}@{socket.gethostname()}"
    (dead_dir / "x").mkdir(parents=True)
    (dead_dir / "x" / "partial-1").write_bytes(b"a" * 100)
    (dead_dir / "partial-2").write_bytes(b"b")
    # pid 1 runs, but did not start at this time: a reused pid is not the owner
    reused = tmp / f"1-{int(time.time()) - 5}@{socket.gethostname()}"
    reused.mkdir()
    (reused / "partial").write_bytes(b"c")
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        from preserve.processes import process_start_time

        started = process_start_time(alive.pid)
        living = tmp / f"{alive.pid}-{int(started or 0)}@{socket.gethostname()}"
        living.mkdir()
        (living / "busy").write_bytes(b"d")
        other_host = tmp / "123-456@another-host.example"
        other_host.mkdir()
        (other_host / "busy").write_bytes(b"e")
        old = tmp / "0123abcd-0"  # an older version's name: kept for a day
        old.write_bytes(b"f")
        local.put_bytes("ours", b"g")  # this process's own folder

        assert local.remove_abandoned() == 3

        left = sorted(p.name for p in tmp.iterdir())
        assert dead_dir.name not in left and reused.name not in left
        assert living.name in left and other_host.name in left and old.name in left
        day = 24 * 3600 + 60
        os.utime(old, (time.time() - day, time.time() - day))
        os.utime(other_host, (time.time() - day, time.time() - day))
        assert local.remove_abandoned() == 2
        assert (living / "busy").exists()
        assert local.exists("ours")
    finally:
        alive.kill()
        alive.wait()


def test_local_refuses_symbolic_links(local: Any, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    root = Path(local.root)
    (root / "linkdir").symlink_to(outside)
    (root / "linkfile").symlink_to(outside / "secret")
    with pytest.raises(UnsafePath):
        local.put_bytes("linkdir/new", b"x")
    assert not (outside / "new").exists()
    with pytest.raises(UnsafePath):
        local.open("linkdir/secret")
    with pytest.raises(UnsafePath):
        local.open("linkfile")
    with pytest.raises(UnsafePath):
        local.put_bytes("linkfile", b"x")
    assert (outside / "secret").read_bytes() == b"secret"
    assert list(local.iter_keys()) == []


def test_local_missing_root_is_unavailable_not_empty(tmp_path: Path) -> None:
    storage = open_location((tmp_path / "not-mounted").as_uri())
    with pytest.raises(StorageUnavailable, match="not-mounted"):
        storage.open("k")
    with pytest.raises(StorageUnavailable):
        list(storage.iter_keys())
    with pytest.raises(StorageUnavailable):
        storage.put_bytes("k", b"x")
    assert not (tmp_path / "not-mounted").exists()  # never created behind an unmounted volume
    storage.ensure()
    storage.put_bytes("k", b"x")


def test_local_consume_keeps_a_hard_linked_source_separate(local: Any, tmp_path: Path) -> None:
    source = write(tmp_path / "staged", b"shared inode")
    os.link(source, tmp_path / "original")
    local.put("k", source, consume=True)
    stored = Path(local.root) / "k"
    assert stored.stat().st_ino != (tmp_path / "original").stat().st_ino
    assert not source.exists() and (tmp_path / "original").read_bytes() == b"shared inode"


def test_local_consume_gives_the_source_back_on_failure(local: Any, tmp_path: Path) -> None:
    source = write(tmp_path / "staged", b"content")
    with pytest.raises(VerificationFailed):
        local.put("k", source, digests={"sha256": "00" * 32}, consume=True)
    assert source.read_bytes() == b"content"
    assert not local.exists("k")
    assert temporary_files(Path(local.root)) == []


def test_local_key_with_a_line_feed(local: Any) -> None:
    local.put_bytes("line\nfeed", b"x")
    assert list(local.iter_keys()) == ["line\nfeed"]
    assert read(local, "line\nfeed") == b"x"


def test_local_a_file_in_the_way_of_a_folder(local: Any) -> None:
    local.put_bytes("a", b"x")
    with pytest.raises(StorageError):
        local.put_bytes("a/b", b"y")
    with pytest.raises(ObjectNotFound):
        local.open("a/b")
    assert list(local.iter_keys()) == ["a"]


FULL_DISK_SCRIPT = """
import json, resource, signal, sys
from pathlib import Path
from preserve.errors import StorageFull
from preserve.storage import open_location

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (1024 * 1024, 1024 * 1024))
storage = open_location(sys.argv[1])
try:
    storage.put("pkg/data/big.bin", Path(sys.argv[2]))
except StorageFull as exc:
    print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
else:
    print(json.dumps({"error": None}))
"""


def test_local_full_disk_is_storage_full_and_leaves_nothing(local: Any, tmp_path: Path) -> None:
    source = write(tmp_path / "big.bin", os.urandom(3 * MiB))
    result = subprocess.run(
        [sys.executable, "-c", FULL_DISK_SCRIPT, local.url, str(source)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["error"] == "StorageFull"
    assert "pkg/data/big.bin" in outcome["message"] and local.url in outcome["message"]
    assert temporary_files(Path(local.root)) == []
    assert list(local.iter_keys()) == []


@pytest.mark.s3
def test_s3_keys_xml_cannot_carry_are_deleted_one_by_one(s3_bucket_url: str) -> None:
    """DeleteObjects is an XML 1.0 request: a key with U+0001 cannot be named in it (a strict
    server such as LocalStack answers 500). Such keys go through DeleteObject; the rest still
    in batches."""
    storage = open_location(s3_bucket_url)
    keys = ["pkg/data/plain.txt", "pkg/data/bell\x07.txt", "pkg/data/ctrl\x01.txt", "pkg/a\rb"]
    for key in keys:
        storage.put_bytes(key, key.encode())
    operations: list[tuple[str, list[str]]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "DeleteObjects":
            named = [o["Key"] for o in params["Delete"]["Objects"]]
        elif model.name == "DeleteObject":
            named = [params["Key"]]
        else:
            return
        # a strict server's verdict on the XML request body
        if model.name == "DeleteObjects":
            assert not any(c in k for k in named for c in "\x01\x07\r"), named
        operations.append((model.name, named))

    s3_client(storage).meta.events.register("provide-client-params.s3", record)
    assert storage.delete_prefix("pkg/") == 4
    assert list(storage.iter_keys("pkg/")) == []
    singles = sorted(
        k.rsplit("/", 1)[-1] for op, ks in operations if op == "DeleteObject" for k in ks
    )
    assert singles == sorted(["bell\x07.txt", "ctrl\x01.txt", "a\rb"])
    assert [len(ks) for op, ks in operations if op == "DeleteObjects"] == [1]


def test_local_writes_survive_a_clean_up_pruning_the_same_folders(local: Any) -> None:
    """Recovery removing a dead ingest's package prunes the empty folders above it, while an
    ingest is creating its own package folder next to it (the kill test found the ingest then
    failing with FileNotFoundError): writing makes its folders again."""
    import threading

    stop = threading.Event()
    errors: list[BaseException] = []

    def clean_up() -> None:
        n = 0
        while not stop.is_set():
            try:
                local.put_bytes(f"org/coll/dead{n}/v1/x", b"x")
                local.delete_prefix(f"org/coll/dead{n}/")  # prunes org/coll/ when it is empty
            except BaseException as exc:
                errors.append(exc)
                return
            n += 1

    cleaner = threading.Thread(target=clean_up)
    cleaner.start()
    try:
        for n in range(300):
            local.put_bytes(f"org/coll/live{n}/v1/data/f", b"f")
            local.delete_prefix(f"org/coll/live{n}/")
    finally:
        stop.set()
        cleaner.join()
    assert errors == []
