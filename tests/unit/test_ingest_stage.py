"""The staging stage: one read of every byte computes every digest; large files are flushed and read
back from the device while staging (durable), small files are written with a few system calls."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from preserve.bagit import BagWriter
from preserve.errors import InvalidInput, StorageError
from preserve.ingest import stage
from preserve.ingest.model import Delivery, StagedFile
from preserve.progress import NoProgress
from tests.changing_files import rewrite_during_read

ALGORITHMS = ("sha512", "sha256", "crc64nvme")


def _delivery(
    files: list[StagedFile], producer: dict[str, dict[str, str]] | None = None
) -> Delivery:
    return Delivery(Path("/src"), None, files, [], [], producer or {}, [], "x")


def _make(tmp_path: Path, sizes: dict[str, int]) -> list[StagedFile]:
    src = tmp_path / "src"
    files = []
    for name, size in sizes.items():
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
        files.append(StagedFile(name, str(path), size))
    return files


def _stage(
    tmp_path: Path, files: list[StagedFile], producer: dict[str, dict[str, str]] | None = None
) -> tuple[BagWriter, list[list[StagedFile]]]:
    writer = BagWriter(tmp_path / "bag", ("sha512", "sha256"))
    batches: list[list[StagedFile]] = []
    stage.stage_payload(
        _delivery(files, producer),
        writer,
        ALGORITHMS,
        workers=2,
        progress=NoProgress(),
        on_staged=batches.append,
    )
    return writer, batches


@pytest.fixture
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files over 64 KiB count as large, so the large-file path runs on small test data."""
    monkeypatch.setattr(stage, "SMALL_FILE", 64 << 10)


# sizes around the O_DIRECT alignment: exact blocks, an unaligned tail, several 8 MiB blocks
LARGE_SIZES = {
    "a/exact.bin": 16 * 4096,
    "a/tail.bin": 20 * 4096 + 17,
    "b/multi.bin": (8 << 20) * 2 + 4095,
    "small.txt": 5000,
    "empty.bin": 0,
}


@pytest.mark.usefixtures("small_threshold")
@pytest.mark.parametrize("direct", [True, False], ids=["o_direct", "buffered"])
def test_every_file_is_staged_hashed_and_handed_on_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, direct: bool
) -> None:
    if not direct:
        monkeypatch.setattr(stage, "_O_DIRECT", 0)  # a system or filesystem without direct I/O
    files = _make(tmp_path, LARGE_SIZES)
    writer, batches = _stage(tmp_path, files)
    handed = [f.relpath for batch in batches for f in batch]
    assert sorted(handed) == sorted(LARGE_SIZES)
    for f in files:
        data = Path(f.source).read_bytes()
        assert f.staged is not None and Path(f.staged).read_bytes() == data
        assert f.digests["sha512"] == hashlib.sha512(data).hexdigest()
        assert f.digests["sha256"] == hashlib.sha256(data).hexdigest()
        assert len(f.digests["crc64nvme"]) == 16
        assert f.durable == (f.size > stage.SMALL_FILE)
    summary = writer.finish([("Source-Organization", "test")])
    assert summary.payload_files == len(LARGE_SIZES)
    assert summary.payload_bytes == sum(LARGE_SIZES.values())
    manifest = (summary.path / "manifest-sha256.txt").read_text()
    for f in files:
        assert f"{f.digests['sha256']}  data/{f.relpath}\n" in manifest


@pytest.mark.usefixtures("small_threshold")
def test_staging_on_a_filesystem_without_direct_io(tmp_path: Path) -> None:
    """tmpfs refuses O_DIRECT (EINVAL): the copy is still flushed, dropped and read back."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or not os.access(shm, os.W_OK):
        pytest.skip("no writable /dev/shm (tmpfs) on this machine")
    import tempfile

    with tempfile.TemporaryDirectory(dir=shm) as tmp:
        files = _make(Path(tmp), {"big.bin": (1 << 20) + 3})
        _stage(Path(tmp), files)
        assert files[0].durable
        assert Path(files[0].staged or "").read_bytes() == Path(files[0].source).read_bytes()


@pytest.mark.usefixtures("small_threshold")
@pytest.mark.parametrize("size", [100, 200_000], ids=["small", "large"])
def test_a_file_that_changes_while_it_is_read_is_refused(tmp_path: Path, size: int) -> None:
    files = _make(tmp_path, {"f.bin": size})
    files[0].size = size - 1  # the scan saw another size than the read finds
    with pytest.raises(InvalidInput, match="changed while it was being read"):
        _stage(tmp_path, files)


@pytest.mark.usefixtures("small_threshold")
def test_a_copy_that_reads_back_differently_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _make(tmp_path, {"f.bin": 300_000})
    monkeypatch.setattr(stage, "_read_back", lambda path: (300_000, "0" * 16))
    with pytest.raises(StorageError, match="reads back differently"):
        _stage(tmp_path, files)


@pytest.mark.usefixtures("small_threshold")
@pytest.mark.parametrize("size", [100, 200_000], ids=["small", "large"])
def test_producer_checksums_are_checked_in_the_same_read(tmp_path: Path, size: int) -> None:
    from preserve.errors import InvalidBag

    files = _make(tmp_path, {"f.bin": size})
    with pytest.raises(InvalidBag, match="does not match the producer"):
        _stage(tmp_path, files, {"f.bin": {"sha256": "0" * 64}})


def test_an_unreadable_source_is_a_clear_error(tmp_path: Path) -> None:
    files = [StagedFile("gone.bin", str(tmp_path / "gone.bin"), 10)]
    with pytest.raises(InvalidInput, match=r"gone\.bin: cannot be read"):
        _stage(tmp_path, files)


def test_fingerprint_ignores_order(tmp_path: Path) -> None:
    a = StagedFile("a", "/a", 1, digests={"sha512": "1" * 128})
    b = StagedFile("b", "/b", 1, digests={"sha512": "2" * 128})
    assert stage.fingerprint([a, b]) == stage.fingerprint([b, a])
    c = StagedFile("c", "/b", 1, digests={"sha512": "2" * 128})
    assert stage.fingerprint([a, b]) != stage.fingerprint([a, c])


@pytest.mark.usefixtures("small_threshold")
@pytest.mark.parametrize("size", [(8 << 20) * 3 + 5, 200_000, 8 << 20])
def test_a_lone_large_file_is_hashed_on_two_threads(tmp_path: Path, size: int) -> None:
    """Fewer large files than cores: SHA-512 of each block runs beside the other digests, over
    two alternating buffers; the digests are those of the whole file all the same."""
    files = _make(tmp_path, {"video.mov": size, "note.txt": 10})
    _stage(tmp_path, files)
    data = Path(files[0].source).read_bytes()
    assert files[0].digests["sha512"] == hashlib.sha512(data).hexdigest()
    assert files[0].digests["sha256"] == hashlib.sha256(data).hexdigest()
    assert list(files[0].digests) == list(ALGORITHMS)
    assert files[0].durable and Path(files[0].staged or "").read_bytes() == data


def test_split_hashing_matches_single_thread() -> None:
    data = memoryview(os.urandom(3 * stage.HASH_SLICE + 7))
    one, two = stage._Hashing(ALGORITHMS, False), stage._Hashing(ALGORITHMS, True)
    assert two.split and not one.split
    for h in (one, two):
        h.update(data[:1000])
        h.update(data[1000:])
        h.close()
    assert one.hexdigests() == two.hexdigests()
    assert one.size == two.size == len(data)


@pytest.mark.usefixtures("small_threshold")
def test_a_failure_abandons_the_large_copies_under_way(tmp_path: Path) -> None:
    """A small file that cannot be read fails the staging at once: the large files queued or
    being copied give up instead of being copied to the end first."""
    sizes = {f"big{i}.bin": 4 << 20 for i in range(8)}
    files = _make(tmp_path, sizes)
    files.append(StagedFile("gone.txt", str(tmp_path / "gone.txt"), 10))
    with pytest.raises(InvalidInput, match="gone"):
        _stage(tmp_path, files)
    staged = [f for f in files[:-1] if f.durable]
    assert len(staged) < 8  # not every large file was copied before the failure surfaced


# ------------------------------------------------------------- a source rewritten during the read


SMALL_AND_LARGE = pytest.mark.parametrize(
    "size", [5000, (3 << 20) + 17], ids=["small", "large (over 1 MiB)"]
)


@SMALL_AND_LARGE
def test_a_file_rewritten_once_during_the_read_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """Rewritten in place at the same size while being read: without a check the staged copy
    would be old bytes followed by new ones; the change is seen and the file read again."""
    files = _make(tmp_path, {"f.bin": size, "other.txt": 100})
    rewriter = rewrite_during_read(monkeypatch, files[0].source, times=1)
    _stage(tmp_path, files)
    assert rewriter.count == 1
    final = rewriter.content
    assert Path(files[0].source).read_bytes() == final
    assert files[0].digests["sha512"] == hashlib.sha512(final).hexdigest()
    assert files[0].digests["sha256"] == hashlib.sha256(final).hexdigest()
    assert Path(files[0].staged or "").read_bytes() == final
    assert files[0].durable == (size > stage.SMALL_FILE)


@SMALL_AND_LARGE
def test_a_file_that_changes_on_every_read_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    files = _make(tmp_path, {"f.bin": size, "other.txt": 100})
    rewriter = rewrite_during_read(monkeypatch, files[0].source, times=1000)
    with pytest.raises(InvalidInput) as raised:
        _stage(tmp_path, files)
    assert str(raised.value) == (
        f"{files[0].source}: changed while it was being read; "
        "ingest it again once it is no longer being written"
    )
    assert rewriter.count == stage.READ_ATTEMPTS  # read a couple of times, then given up


class _Recorded:
    """A progress that keeps every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    def begin(self, label: str, files: int, nbytes: int, stage: object = None) -> None:
        self.calls.append(("begin", files, nbytes))

    def advance(self, files: int, nbytes: int) -> None:
        self.calls.append(("advance", files, nbytes))

    def end(self) -> None:
        self.calls.append(("end",))


@pytest.mark.usefixtures("small_threshold")
def test_progress_moves_within_a_large_file_and_adds_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large file is counted as its blocks are copied, not only once it is done (issue 8: one
    large file sat at 0 until the end); every byte counted once, and each file once."""
    monkeypatch.setattr(stage, "BLOCK", 64 << 10)
    files = _make(tmp_path, {"big.bin": 1 << 20, "small.txt": 100})
    recorded = _Recorded()
    stage.stage_payload(
        _delivery(files),
        BagWriter(tmp_path / "bag", ("sha512", "sha256")),
        ALGORITHMS,
        workers=2,
        progress=recorded,
        on_staged=lambda batch: None,
    )
    assert recorded.calls[0] == ("begin", 2, (1 << 20) + 100) and recorded.calls[-1] == ("end",)
    advances = [c for c in recorded.calls if c[0] == "advance"]
    assert sum(c[1] for c in advances) == 2  # type: ignore[misc]
    assert sum(c[2] for c in advances) == (1 << 20) + 100  # type: ignore[misc]
    partial = [c for c in advances if c[1] == 0]
    assert len(partial) >= 8 and sum(c[2] for c in partial) == 1 << 19  # type: ignore[misc]
