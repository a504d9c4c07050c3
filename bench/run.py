"""``python -m bench.run``: measure preserve ingest and fixity against what the machine allows
(hashing limits, a cold parallel read, a durable copy), against a composed bagit-python +
siegfried baseline and, with ``--s3``, against boto3's own TransferManager; print the tables and
write them to docs/benchmarks.md.

Every measurement runs in the same invocation on the same machine. Ingest and the CPU limits run
on a warm page cache (one untimed read of the corpus comes first); the cold parallel read and
preserve fixity run right after ``sync`` and dropping the page cache (root on Linux). Times are
medians of ``--runs`` runs; peak memory is the highest of the runs. preserve runs as its real
command line in a subprocess, with a fresh PRESERVE_HOME (embedded SQLite catalogue, local storage
location) per run.

The Workers section (queue overhead per job, fixity throughput of one and two worker processes
on a local and an S3 location) comes from :mod:`bench.workers`, run at the end (``--skip-workers``
leaves it out; ``python -m bench.workers`` runs it alone).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import importlib.metadata
import json
import logging
import multiprocessing
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.corpus import FULL, TINY, CorpusSpec, corpus_files, ensure_corpus

REPO = Path(__file__).resolve().parents[1]
DEFAULT_WORKDIR = REPO / "bench" / "corpus"
DEFAULT_OUTPUT = REPO / "docs" / "benchmarks.md"
ALGORITHMS = ("sha512", "sha256")
FIXITY_ALGORITHMS = ("sha256",)  # the one strong digest a fixity check needs per file
READ_CHUNK = 1 << 20  # hashing limits and cold read: bytes per read for many files
SPLIT_CHUNK = 8 << 20  # hashing limit: bytes per read when one file is split by algorithm
SAMPLE_INTERVAL = 0.05  # seconds between two samples of a process tree's memory
STARTUP_RUNS = 5  # timed runs of each start-up command (median)
STARTUP_LIMIT = 0.5  # seconds: "well under a second", as judged here
DROP_CACHES = "/proc/sys/vm/drop_caches"
MB = 1_000_000

# operations, in table order
HASHING = "hashing limit"
SHA256_LIMIT = "SHA-256 limit"
COLD_READ = "cold parallel read"
DURABLE = "durable copy limit (copy + sync)"
BASELINE = "baseline (bagit + siegfried + copy)"
INGEST = "preserve ingest"
FIXITY = "preserve fixity"
TRANSFER = "boto3 TransferManager (S3)"
INGEST_S3 = "preserve ingest (S3)"
FIXITY_S3 = "preserve fixity (S3)"
OPERATIONS = (
    HASHING,
    SHA256_LIMIT,
    COLD_READ,
    DURABLE,
    BASELINE,
    INGEST,
    FIXITY,
    TRANSFER,
    INGEST_S3,
    FIXITY_S3,
)
COLD_OPERATIONS = (COLD_READ, FIXITY, FIXITY_S3)  # measured right after dropping the page cache

# settings that would point a preserve run at something other than its own fresh home
_AWS_ISOLATE = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_REQUEST_CHECKSUM_CALCULATION",
    "AWS_RESPONSE_CHECKSUM_VALIDATION",
)
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
# botocore's checksum settings as preserve's S3 client sets them (preserve/storage/s3.py), so
# the TransferManager reference does not pay for a CRC32 per request that preserve does not
S3_CHECKSUM_SETTINGS: dict[str, Any] = {
    "request_checksum_calculation": "when_required",
    "response_checksum_validation": "when_required",
}


class BenchError(Exception):
    """A step of the benchmark failed (the message says which and why)."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- measurements


@dataclass
class Sample:
    """One timed run. Memory in bytes: ``rss_max`` is the exact peak RSS of the largest single
    process (the kernel's ru_maxrss of the child and its reaped descendants); ``rss_tree`` the
    highest sampled sum of the proportional set sizes of the child and all its descendants."""

    seconds: float
    rss_max: int | None = None
    rss_tree: int | None = None
    device_read: int | None = None  # bytes read from the block device (not the page cache)

    @property
    def peak_rss(self) -> int | None:
        values = [v for v in (self.rss_max, self.rss_tree) if v is not None]
        return max(values) if values else None


@dataclass
class Row:
    spec: CorpusSpec
    operation: str
    files: int
    nbytes: int
    samples: list[Sample] = field(default_factory=list)
    cache_dropped: bool | None = None  # cold rows: whether the page cache was dropped every run

    @property
    def seconds(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def mb_per_s(self) -> float:
        return self.nbytes / MB / self.seconds

    @property
    def files_per_s(self) -> float:
        return self.files / self.seconds

    @property
    def rss_max(self) -> int | None:
        values = [s.rss_max for s in self.samples if s.rss_max is not None]
        return max(values) if values else None

    @property
    def rss_tree(self) -> int | None:
        values = [s.rss_tree for s in self.samples if s.rss_tree is not None]
        return max(values) if values else None

    @property
    def peak_rss(self) -> int | None:
        values = [s.peak_rss for s in self.samples if s.peak_rss is not None]
        return max(values) if values else None

    @property
    def device_read(self) -> int | None:
        return _median_device_read(self.samples)


def _median_device_read(samples: list[Sample]) -> int | None:
    values = [s.device_read for s in samples if s.device_read is not None]
    return int(statistics.median(values)) if values else None


def _process_parents(newer_than: int = 0) -> dict[int, int]:
    """pid -> parent pid of the processes in /proc (only pids above ``newer_than``: the
    descendants of a process have higher pids, short of a wrap-around of the pid counter)."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) <= newer_than:
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # the command name in parentheses may contain spaces: the fields follow the last ')'
        fields = stat.rsplit(b")", 1)[-1].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def _children(pid: int) -> dict[int, list[int]]:
    """parent pid -> child pids, for the processes that may descend from ``pid``."""
    children: dict[int, list[int]] = {}
    for child, parent in _process_parents(newer_than=pid).items():
        children.setdefault(parent, []).append(child)
    return children


def descendants(pid: int) -> list[int]:
    """The pids of every descendant of ``pid``, parents before their children."""
    children = _children(pid)
    out, todo = [], list(children.get(pid, ()))
    while todo:
        p = todo.pop(0)
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and everything it started (used when a measured run is interrupted)."""
    for p in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError):
            os.kill(p, signal.SIGKILL)


def _pss(pid: int) -> int | None:
    """Proportional set size of ``pid`` in bytes (shared pages divided among their users)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def tree_rss(pid: int, include_root: bool = True) -> int:
    """Memory of ``pid`` and all its descendants right now: the sum of their proportional set
    sizes (their RSS where /proc/<pid>/smaps_rollup is missing); 0 when the process is gone."""
    children = _children(pid)
    page = os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [pid] if include_root else list(children.get(pid, ()))
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, ()))
        pss = _pss(p)
        if pss is not None:
            total += pss
            continue
        try:
            with open(f"/proc/{p}/statm", "rb") as f:
                total += int(f.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            pass
    return total


class TreeSampler(threading.Thread):
    """Samples the memory of the descendants of ``pid`` until stopped; ``peak`` is the highest
    sum seen (``pid`` itself, the small launcher, is left out)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while True:
            self.peak = max(self.peak, tree_rss(self.pid, include_root=False))
            if self._stop_event.wait(SAMPLE_INTERVAL):
                return

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


# Runs the measured command as its child and reports its wall time, the kernel's ru_maxrss
# (the command's peak RSS and that of its reaped descendants) and ru_inblock (the blocks of 512
# bytes they read from the device rather than the page cache). A fresh, small interpreter does
# this rather than the benchmark process itself, because Linux folds the peak RSS of the memory
# a process had before exec() into its ru_maxrss: a child forked by the (large) benchmark
# process would report at least the benchmark's own size.
LAUNCHER = """
import json, os, sys, time
result, argv = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - start
with open(result, "w") as f:
    json.dump({"seconds": seconds, "maxrss_kib": usage.ru_maxrss, "inblock": usage.ru_inblock,
               "returncode": os.waitstatus_to_exitcode(status)}, f)
"""


@dataclass
class Finished:
    sample: Sample
    returncode: int
    stdout: Path
    stderr: str


def run_measured(cmd: Sequence[str], env: dict[str, str], stdout_path: Path) -> Finished:
    """Run ``cmd`` to completion, its stdout into a file: wall time from its start to its exit,
    its exact peak RSS (largest process) and the sampled peak memory of its process tree."""
    result_path = stdout_path.with_name(stdout_path.name + ".launcher.json")
    launcher = [sys.executable, "-S", "-c", LAUNCHER, str(result_path), *cmd]
    with open(stdout_path, "wb") as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(launcher, env=env, stdout=out, stderr=err, cwd=REPO)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        try:
            proc.wait()
        except BaseException:
            kill_tree(proc.pid)
            proc.wait()
            raise
        finally:
            sampler.stop()
        err.seek(0)
        stderr = err.read().decode("utf-8", errors="replace")
    if proc.returncode != 0:
        raise BenchError(f"the launcher of {cmd[0]} exited {proc.returncode}: {_tail(stderr)}")
    result = json.loads(result_path.read_text(encoding="utf-8"))
    result_path.unlink()
    sample = Sample(
        float(result["seconds"]),
        rss_max=int(result["maxrss_kib"]) * 1024,
        rss_tree=sampler.peak or None,
        device_read=int(result["inblock"]) * 512,
    )
    return Finished(sample, int(result["returncode"]), stdout_path, stderr)


# ----------------------------------------------------------------------------- the limits


def _hash_files(paths: list[str], algorithms: Sequence[str]) -> int:
    """``algorithms`` of each file, read once; returns the bytes hashed."""
    buf = bytearray(READ_CHUNK)
    view = memoryview(buf)
    total = 0
    for path in paths:
        digests = [hashlib.new(a) for a in algorithms]
        with open(path, "rb", buffering=0) as f:
            while n := f.readinto(buf):
                chunk = view[:n]
                for d in digests:
                    d.update(chunk)
                total += n
        for d in digests:
            d.digest()
    return total


def _hash_one_file_split(path: str, workers: int) -> int:
    """One file on two cores: SHA-512 on a helper thread, SHA-256 on this one, over the same
    buffer (hashlib releases the GIL), while the next buffer is read."""
    sha512, sha256 = hashlib.sha512(), hashlib.sha256()
    bufs = [bytearray(SPLIT_CHUNK), bytearray(SPLIT_CHUNK)]
    views = [memoryview(b) for b in bufs]
    total = 0
    with ThreadPoolExecutor(max(workers - 1, 1)) as pool, open(path, "rb", buffering=0) as f:
        i = 0
        n = f.readinto(bufs[i])
        while n:
            chunk = views[i][:n]
            future = pool.submit(sha512.update, chunk)
            sha256.update(chunk)
            i ^= 1
            following = f.readinto(bufs[i])
            future.result()
            total += n
            n = following
    sha512.digest()
    sha256.digest()
    return total


def _device_read_bytes() -> int | None:
    """Bytes this process has had read from the block device so far (/proc/self/io)."""
    try:
        with open("/proc/self/io", "rb") as f:
            for line in f:
                if line.startswith(b"read_bytes:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _read_ranges(ranges: list[tuple[str, int, int]]) -> tuple[int, int | None]:
    """Read each (path, offset, length) range in 1 MiB blocks, no hashing; returns the bytes
    read and how many of them came from the device."""
    before = _device_read_bytes()
    buf = bytearray(READ_CHUNK)
    view = memoryview(buf)
    total = 0
    for path, offset, length in ranges:
        with open(path, "rb", buffering=0) as f:
            f.seek(offset)
            left = length
            while left > 0:
                n = f.readinto(view[: min(left, READ_CHUNK)])
                if not n:
                    break
                left -= n
                total += n
    after = _device_read_bytes()
    return total, None if before is None or after is None else after - before


def _split_by_bytes(files: list[Path], parts: int) -> list[list[str]]:
    """``files`` in ``parts`` groups of about equal total size."""
    groups: list[list[str]] = [[] for _ in range(parts)]
    loads = [0] * parts
    for f in sorted(files, key=lambda p: p.stat().st_size, reverse=True):
        i = loads.index(min(loads))
        groups[i].append(str(f))
        loads[i] += f.stat().st_size
    return groups


def _split_ranges(files: list[Path], parts: int) -> list[list[tuple[str, int, int]]]:
    """The bytes of ``files`` in ``parts`` groups of about equal size: whole files when there are
    at least ``parts`` of them, otherwise each file cut into ``parts`` contiguous ranges."""
    if len(files) >= parts:
        return [
            [(path, 0, os.path.getsize(path)) for path in group]
            for group in _split_by_bytes(files, parts)
        ]
    groups: list[list[tuple[str, int, int]]] = [[] for _ in range(parts)]
    for f in files:
        size = f.stat().st_size
        step = -(-size // parts)
        for i in range(parts):
            start = min(i * step, size)
            groups[i].append((str(f), start, min(step, size - start)))
    return groups


def _sync_and_drop_caches() -> None:
    os.sync()
    with open(DROP_CACHES, "w", encoding="ascii") as f:
        f.write("1\n")


def drop_caches() -> bool:
    """``sync``, then drop the clean page cache (``echo 1 > /proc/sys/vm/drop_caches``), so the
    next read of any file comes from the device. Returns whether it could (root on Linux only);
    the sync happens either way."""
    if not sys.platform.startswith("linux"):
        os.sync()
        return False
    try:
        _sync_and_drop_caches()
    except OSError:
        return False
    return True


def why_caches_stay() -> str:
    """Why :func:`drop_caches` cannot drop the page cache here."""
    if not sys.platform.startswith("linux"):
        return f"not Linux ({sys.platform})"
    if os.geteuid() != 0:
        return f"not root: {DROP_CACHES} is writable by root only"
    return f"writing {DROP_CACHES} failed"


@dataclass
class Caches:
    """Drops the page cache before each cold measurement (unless ``--no-drop-caches``) and
    remembers what happened."""

    enabled: bool = True
    dropped: int = 0
    kept: int = 0

    def drop(self) -> bool:
        if self.enabled:
            done = drop_caches()
        else:
            os.sync()
            done = False
        if done:
            self.dropped += 1
        else:
            self.kept += 1
        return done

    @property
    def reason(self) -> str:
        return "--no-drop-caches was given" if not self.enabled else why_caches_stay()

    def describe(self) -> str:
        warm = "warm (one untimed read of each corpus before its measurements)"
        if not self.dropped and not self.kept:
            return warm
        how = f"`sync`, then `echo 1 > {DROP_CACHES}`"
        if not self.kept:
            return (
                f"{warm}, except before each cold parallel read and each preserve fixity run: "
                f"page cache dropped ({how}; {self.dropped} times)"
            )
        return (
            f"{warm}; **cache not dropped** before the cold parallel read and preserve fixity "
            f"({self.reason}), so those read a warm cache"
            + (
                f" ({self.dropped} of {self.dropped + self.kept} drops worked)"
                if self.dropped
                else ""
            )
        )


class Limits:
    """What the machine allows, on every core: Python's hashlib over the corpus (SHA-512 +
    SHA-256: the hashing limit; SHA-256 alone: the SHA-256 limit) and a cold read of the corpus
    without hashing. One process per core, each working on its share of the files (a pool
    started before timing); a single file is split by algorithm over two threads (hashing limit),
    hashed on one thread (SHA-256 limit: one digest cannot be split) or read in one range per core
    (cold read)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: Any = None

    def __enter__(self) -> Limits:
        ctx = multiprocessing.get_context("spawn")
        self._pool = ctx.Pool(self.workers)
        self._pool.map(time.sleep, [0.3] * self.workers, chunksize=1)  # every worker is up
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.terminate()
        self._pool.join()

    def _few(self, files: list[Path]) -> bool:
        return len(files) < self.workers

    def method(self, operation: str, files: list[Path]) -> str:
        half = "half" if self.workers == 2 else f"1/{self.workers}"
        if operation == HASHING:
            if self._few(files):
                return "one file: SHA-512 and SHA-256 on two threads over the same buffers"
            return f"{self.workers} processes, each hashing {half} of the files"
        if operation == SHA256_LIMIT:
            if self._few(files):
                return "one file: SHA-256 on one thread (one digest cannot be split)"
            return f"{self.workers} processes, each hashing {half} of the files"
        if self._few(files):
            return f"{self.workers} processes, each reading one range of each file"
        return f"{self.workers} processes, each reading {half} of the files"

    def _check(self, what: str, done: int, files: list[Path]) -> None:
        expected = sum(f.stat().st_size for f in files)
        if done != expected:
            raise BenchError(f"{what} read {done} bytes, expected {expected}")

    def hashing(self, files: list[Path]) -> Sample:
        """SHA-512 and SHA-256 of every file."""
        start = time.perf_counter()
        if self._few(files):
            hashed = sum(_hash_one_file_split(str(f), self.workers) for f in files)
        else:
            groups = _split_by_bytes(files, self.workers)
            hashed = sum(self._pool.starmap(_hash_files, [(g, ALGORITHMS) for g in groups], 1))
        elapsed = time.perf_counter() - start
        self._check(HASHING, hashed, files)
        return Sample(elapsed)

    def sha256(self, files: list[Path]) -> Sample:
        """SHA-256 alone of every file."""
        start = time.perf_counter()
        if self._few(files):
            hashed = _hash_files([str(f) for f in files], FIXITY_ALGORITHMS)
        else:
            groups = _split_by_bytes(files, self.workers)
            tasks = [(g, FIXITY_ALGORITHMS) for g in groups]
            hashed = sum(self._pool.starmap(_hash_files, tasks, 1))
        elapsed = time.perf_counter() - start
        self._check(SHA256_LIMIT, hashed, files)
        return Sample(elapsed)

    def cold_read(self, files: list[Path], caches: Caches) -> tuple[Sample, bool]:
        """Every byte of every file read on every core right after dropping the page cache; no
        hashing. Returns the sample and whether the cache was dropped."""
        groups = _split_ranges(files, self.workers)
        dropped = caches.drop()
        start = time.perf_counter()
        results = self._pool.map(_read_ranges, groups, 1)
        elapsed = time.perf_counter() - start
        self._check(COLD_READ, sum(r[0] for r in results), files)
        device = [r[1] for r in results]
        device_read = None if None in device else sum(d for d in device if d is not None)
        return Sample(elapsed, device_read=device_read), dropped


def _copy_files(paths: list[str], dest: str) -> int:
    """Copy each file into ``dest`` in 1 MiB blocks; returns the bytes written."""
    buf = bytearray(READ_CHUNK)
    view = memoryview(buf)
    total = 0
    for i, path in enumerate(paths):
        with (
            open(path, "rb", buffering=0) as src,
            open(os.path.join(dest, f"{i}.bin"), "wb", buffering=0) as out,
        ):
            while n := src.readinto(buf):
                out.write(view[:n])
                total += n
    return total


def measure_durable_copy(files: list[Path], scratch: Path, workers: int) -> Sample:
    """The disk's share of the work: copy the corpus on every core and sync it to the device,
    as any ingest that keeps a safe copy must at least do (no hashing, no identification)."""
    groups = _split_by_bytes(files, workers)
    dirs = [scratch / f"durable-{uuid.uuid4().hex}-{i}" for i in range(len(groups))]
    for d in dirs:
        d.mkdir(parents=True)
    os.sync()
    try:
        start = time.perf_counter()
        with ThreadPoolExecutor(len(groups)) as pool:
            written = sum(pool.map(_copy_files, groups, [str(d) for d in dirs]))
        os.sync()
        elapsed = time.perf_counter() - start
    finally:
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)
    expected = sum(f.stat().st_size for f in files)
    if written != expected:
        raise BenchError(f"durable copy wrote {written} bytes, expected {expected}")
    return Sample(elapsed)


def warm_cache(files: list[Path]) -> None:
    """Read every file once (untimed), so every measurement starts from the page cache."""
    buf = bytearray(8 << 20)
    for path in files:
        with open(path, "rb", buffering=0) as f:
            while f.readinto(buf):
                pass


# ----------------------------------------------------------------------------- the baseline


def baseline_worker(bag_dir: Path, storage: Path, workers: int) -> dict[str, float]:
    """What a user would otherwise script: bag in place with bagit-python, identify every payload
    file with siegfried, copy the bag into a storage folder. Returns the timings in seconds."""
    import bagit

    logging.getLogger("bagit").setLevel(logging.WARNING)
    start = time.perf_counter()
    bagit.make_bag(str(bag_dir), checksums=list(ALGORITHMS), processes=workers)
    bagged = time.perf_counter()
    import pygfried  # imported after make_bag has forked its pool

    payload = [str(p) for p in corpus_files(bag_dir / "data")]
    result = pygfried.identify_many(payload, workers=workers)
    identified = time.perf_counter()
    shutil.copytree(bag_dir, storage / bag_dir.name)
    copied = time.perf_counter()
    if len(result.get("files", [])) != len(payload):
        raise BenchError(
            f"siegfried identified {len(result.get('files', []))} of {len(payload)} files"
        )
    return {
        "seconds": copied - start,
        "make_bag": bagged - start,
        "identify": identified - bagged,
        "copy": copied - identified,
        "files": len(payload),
    }


def measure_baseline(corpus: Path, scratch: Path, workers: int) -> tuple[Sample, dict[str, Any]]:
    """Copy the corpus (untimed), then run :func:`baseline_worker` in a subprocess; the time is
    the worker's own (make_bag + identification + copy, without interpreter start-up)."""
    run_dir = scratch / f"baseline-{uuid.uuid4().hex[:8]}"
    bag = run_dir / "bag"
    storage = run_dir / "storage"
    try:
        shutil.copytree(corpus, bag)
        storage.mkdir()
        warm_cache(corpus_files(bag))
        os.sync()  # the untimed copy's writes are not flushed during the timed run
        cmd = [sys.executable, "-m", "bench.run", "--baseline-worker", str(bag), str(storage)]
        cmd += ["--workers", str(workers)]
        done = run_measured(cmd, _clean_env(), run_dir / "baseline.json")
        if done.returncode != 0:
            raise BenchError(f"baseline exited {done.returncode}: {_tail(done.stderr)}")
        timings = json.loads(done.stdout.read_text(encoding="utf-8"))
        sample = done.sample
        sample.seconds = float(timings["seconds"])  # the worker's own time
        return sample, timings
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


# ----------------------------------------------------------------------------- preserve


def preserve_command() -> list[str]:
    exe = Path(sys.executable).parent / "preserve"
    if exe.is_file() and os.access(exe, os.X_OK):
        return [str(exe)]
    return [sys.executable, "-m", "preserve.cli"]


def _clean_env() -> dict[str, str]:
    """This environment without any PRESERVE_* or AWS profile setting."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PRESERVE_") and k not in _AWS_ISOLATE
    }


def _tail(text: str, limit: int = 2000) -> str:
    text = text.strip()
    return text if len(text) <= limit else "..." + text[-limit:]


# A moto S3 server in a process of its own (not in the benchmark process, whose GIL it would
# otherwise share with the harness): prints its endpoint, serves until its stdin is closed.
MOTO_SERVER = """
import logging, sys
logging.getLogger("werkzeug").setLevel(logging.ERROR)
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
host, port = server.get_host_and_port()
print(f"http://{host}:{port}", flush=True)
sys.stdin.read()
server.stop()
"""


def s3_client(endpoint: str) -> Any:
    """A boto3 client for the benchmark's endpoint, with preserve's checksum settings."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
        region_name=S3_ENV["AWS_DEFAULT_REGION"],
        config=Config(
            s3={"addressing_style": "path"},
            request_checksum_calculation=S3_CHECKSUM_SETTINGS["request_checksum_calculation"],
            response_checksum_validation=S3_CHECKSUM_SETTINGS["response_checksum_validation"],
        ),
    )


class S3Endpoint:
    """A moto S3 server in a subprocess on a free loopback port; one fresh bucket per run, and the
    server reset after it."""

    def __init__(self) -> None:
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        env = _clean_env()
        env.update(S3_ENV)
        self._proc = subprocess.Popen(
            [sys.executable, "-c", MOTO_SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            cwd=REPO,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().decode("ascii", errors="replace").strip()
        if not line.startswith("http://"):
            self.close()
            self._stderr.seek(0)
            err = self._stderr.read().decode("utf-8", errors="replace")
            raise BenchError(f"the moto S3 server did not start: {_tail(err)}")
        self.endpoint = line
        self.client = s3_client(self.endpoint)

    @property
    def pid(self) -> int:
        return self._proc.pid

    def new_bucket(self) -> tuple[str, str]:
        bucket = f"preserve-bench-{uuid.uuid4().hex[:16]}"
        self.client.create_bucket(Bucket=bucket)
        url = f"s3://{bucket}/bench?endpoint_url={self.endpoint}&addressing_style=path"
        return bucket, url

    def contents(self, bucket: str) -> tuple[int, int]:
        """(objects, bytes) in ``bucket``."""
        objects = total = 0
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                objects += 1
                total += obj["Size"]
        return objects, total

    def reset(self) -> None:
        """Forget every bucket and object (moto's own reset API; only this benchmark uses the
        server). Much faster than deleting thousands of objects, and it frees their memory."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=60) as answer:
            answer.read()

    def cleanup(self) -> None:
        """:meth:`reset` at the end of a run; a failure is logged, not raised, so it does not hide
        the error of the run itself."""
        try:
            self.reset()
        except OSError as exc:
            log(f"  (could not reset the moto server: {exc})")

    def close(self) -> None:
        with contextlib.suppress(AttributeError):
            self.client.close()
        with contextlib.suppress(OSError):
            if self._proc.stdin is not None:
                self._proc.stdin.close()  # the server stops at the end of its stdin
        try:
            self._proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            kill_tree(self._proc.pid)
            self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._stderr.close()


def transfer_worker(corpus: Path, endpoint: str, bucket: str) -> dict[str, Any]:
    """boto3's own managed upload of every corpus file (one TransferManager with a default
    TransferConfig, every file submitted at once), keys ``bench/<relative path>``. Returns the
    time in seconds (client creation to the last upload done; imports excluded) and what ran."""
    from boto3.s3.transfer import TransferConfig, create_transfer_manager

    logging.getLogger("botocore").setLevel(logging.WARNING)
    files = corpus_files(corpus)
    config = TransferConfig()
    start = time.perf_counter()
    client = s3_client(endpoint)
    with create_transfer_manager(client, config) as manager:
        futures = [
            manager.upload(str(f), bucket, "bench/" + f.relative_to(corpus).as_posix())
            for f in files
        ]
        for future in futures:
            future.result()
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "files": len(files),
        "manager": f"{type(manager).__module__}.{type(manager).__qualname__}",
        "multipart_threshold": config.multipart_threshold,
        "multipart_chunksize": config.multipart_chunksize,
        "max_concurrency": config.max_request_concurrency,
    }


def measure_transfer(
    spec: CorpusSpec, corpus: Path, scratch: Path, s3: S3Endpoint
) -> tuple[Sample, dict[str, Any]]:
    """One run of :func:`transfer_worker` in a subprocess into a fresh bucket (the corpus read
    from a warm cache); the time is the worker's own. The bucket's contents are checked, then it
    is removed."""
    warm_cache(corpus_files(corpus))
    bucket, _ = s3.new_bucket()
    out = scratch / f"transfer-{uuid.uuid4().hex[:8]}.json"
    try:
        env = _clean_env()
        env.update(S3_ENV)
        os.sync()
        cmd = [sys.executable, "-m", "bench.run", "--transfer-worker", str(corpus)]
        cmd += [s3.endpoint, bucket]
        done = run_measured(cmd, env, out)
        if done.returncode != 0:
            raise BenchError(f"TransferManager exited {done.returncode}: {_tail(done.stderr)}")
        timings = json.loads(out.read_text(encoding="utf-8"))
        stored = s3.contents(bucket)
        if stored != (spec.files, spec.total_bytes):
            raise BenchError(
                f"TransferManager stored {stored[0]} objects of {stored[1]} bytes; expected "
                f"{spec.files} of {spec.total_bytes}"
            )
        sample = done.sample
        sample.seconds = float(timings["seconds"])  # the worker's own time
        return sample, timings
    finally:
        out.unlink(missing_ok=True)
        s3.cleanup()


@dataclass
class PreserveRun:
    ingest: Sample
    fixity: Sample
    cache_dropped: bool


def _setup(preserve: list[str], env: dict[str, str], *args: str) -> str:
    """Run an untimed preserve command; returns its stdout."""
    done = subprocess.run(
        [*preserve, *args], env=env, cwd=REPO, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BenchError(
            f"preserve {' '.join(args)} exited {done.returncode}: {_tail(done.stderr)}"
        )
    return done.stdout


def measure_preserve(
    spec: CorpusSpec, corpus: Path, scratch: Path, s3: S3Endpoint | None, caches: Caches
) -> PreserveRun:
    """One ingest of ``corpus`` (read from a warm cache) into a fresh home (local location, or
    S3), then fixity of the package it stored, right after dropping the page cache."""
    home = scratch / f"home-{uuid.uuid4().hex[:8]}"
    env = _clean_env()
    env["PRESERVE_HOME"] = str(home)
    if s3 is not None:
        env.update(S3_ENV)
    preserve = preserve_command()
    bucket = None

    try:
        home.mkdir(parents=True)
        _setup(preserve, env, "init")
        if s3 is None:
            collection = "bench"
            _setup(preserve, env, "collections", "add", collection)
        else:
            bucket, url = s3.new_bucket()
            collection = "bench-s3"
            _setup(preserve, env, "locations", "add", "s3", url)
            _setup(preserve, env, "collections", "add", collection, "--location", "s3")

        warm_cache(corpus_files(corpus))  # a cold measurement before may have evicted it
        os.sync()
        cmd = [*preserve, "ingest", str(corpus), "--collection", collection, "--json"]
        ingest = run_measured(cmd, env, scratch / "ingest.json")
        if ingest.returncode != 0:
            raise BenchError(f"preserve ingest exited {ingest.returncode}: {_tail(ingest.stderr)}")
        report = json.loads(ingest.stdout.read_text(encoding="utf-8"))
        if (report["stored"], report["files"], report["bytes"]) != (
            1,
            spec.files,
            spec.total_bytes,
        ):
            raise BenchError(
                f"preserve ingest stored {report['stored']} packages, {report['files']} files, "
                f"{report['bytes']} bytes; expected 1, {spec.files}, {spec.total_bytes}"
            )

        dropped = caches.drop()  # syncs first: ingest's writes are not flushed during fixity
        cmd = [*preserve, "fixity", "--collection", collection, "--json"]
        fixity = run_measured(cmd, env, scratch / "fixity.json")
        if fixity.returncode != 0:
            raise BenchError(f"preserve fixity exited {fixity.returncode}: {_tail(fixity.stderr)}")
        checked = json.loads(fixity.stdout.read_text(encoding="utf-8"))
        copies = checked["copies"]
        if not checked["ok"] or len(copies) != 1 or copies[0]["files_checked"] < spec.files:
            raise BenchError(f"preserve fixity did not check the package: {checked}")
        return PreserveRun(ingest.sample, fixity.sample, dropped)
    finally:
        shutil.rmtree(home, ignore_errors=True)
        for name in ("ingest.json", "fixity.json"):
            (scratch / name).unlink(missing_ok=True)
        if s3 is not None and bucket is not None:
            s3.cleanup()


# ----------------------------------------------------------------------------- start-up

STARTUP_FILES = 3  # files of the small package whose fixity is timed
STARTUP_FILE_SIZE = 4_000


@dataclass
class StartupRow:
    command: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def rss_max(self) -> int | None:
        values = [s.rss_max for s in self.samples if s.rss_max is not None]
        return max(values) if values else None

    @property
    def device_read(self) -> int | None:
        return _median_device_read(self.samples)


STARTUP_HELP = "preserve --help"
STARTUP_FIXITY = "preserve fixity --package <id>"


def measure_startup(scratch: Path, runs: int) -> tuple[list[StartupRow], str]:
    """``preserve --help`` and ``preserve fixity --package <id>`` of one small package (a
    delivery of a few small files, ingested untimed into a fresh home), end to end as
    subprocesses on a warm cache: one untimed run of each first (it also brings the package,
    which ingest left out of the cache, into it), then ``runs`` timed ones."""
    home = scratch / f"startup-{uuid.uuid4().hex[:8]}"
    delivery = home.with_name(home.name + "-delivery")
    env = _clean_env()
    env["PRESERVE_HOME"] = str(home)
    preserve = preserve_command()
    try:
        delivery.mkdir(parents=True)
        for i in range(STARTUP_FILES):
            (delivery / f"file-{i}.bin").write_bytes(os.urandom(STARTUP_FILE_SIZE))
        home.mkdir()
        _setup(preserve, env, "init")
        _setup(preserve, env, "collections", "add", "startup")
        out = _setup(preserve, env, "ingest", str(delivery), "--collection", "startup", "--json")
        package_id = json.loads(out)["packages"][0]["package_id"]
        commands = {
            STARTUP_HELP: [*preserve, "--help"],
            STARTUP_FIXITY: [*preserve, "fixity", "--package", package_id],
        }
        rows = []
        for label, cmd in commands.items():
            row = StartupRow(label)
            for i in range(runs + 1):
                os.sync()
                done = run_measured(cmd, env, scratch / "startup.out")
                if done.returncode != 0:
                    raise BenchError(
                        f"{label} exited {done.returncode}: {_tail(done.stderr)}"
                        f"{_tail(done.stdout.read_text(encoding='utf-8', errors='replace'))}"
                    )
                if i:  # the first run only warms the cache
                    row.samples.append(done.sample)
            log(f"  {label}: {row.seconds:.3f} s (median of {runs})")
            rows.append(row)
        description = (
            f"a package of {STARTUP_FILES} files of {STARTUP_FILE_SIZE / 1000:,.0f} KB on the "
            "local storage location"
        )
        return rows, description
    finally:
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(delivery, ignore_errors=True)
        (scratch / "startup.out").unlink(missing_ok=True)


# ----------------------------------------------------------------------------- the machine


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _loadavg() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _filesystem(path: Path) -> str:
    best, fstype, device = "", "?", "?"
    target = str(path.resolve())
    for line in _read("/proc/mounts").splitlines():
        parts = line.split()
        if len(parts) >= 3:
            mount = parts[1]
            inside = target == mount or target.startswith(mount.rstrip("/") + "/")
            if inside and len(mount) >= len(best):
                best, device, fstype = mount, parts[0], parts[2]
    return f"{fstype} on {device} (mounted at {best or '?'})"


def describe_machine(workdir: Path) -> dict[str, str]:
    cpuinfo = _read("/proc/cpuinfo")
    models = [
        line.split(":", 1)[1].strip()
        for line in cpuinfo.splitlines()
        if line.startswith("model name")
    ]
    flags = next((line for line in cpuinfo.splitlines() if line.startswith("flags")), "")
    meminfo = {
        line.split(":")[0]: line.split(":")[1].strip()
        for line in _read("/proc/meminfo").splitlines()
    }
    mem_kb = int(meminfo.get("MemTotal", "0 kB").split()[0])
    usage = shutil.disk_usage(workdir)
    try:
        import pygfried

        siegfried = pygfried.version()
    except Exception as exc:  # report what is there; the runs will fail loudly if it is missing
        siegfried = f"unavailable ({exc})"
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "CPU": f"{models[0] if models else platform.processor() or '?'}"
        f" (SHA extensions: {'yes' if ' sha_ni' in flags else 'no'})",
        "cores": f"{os.cpu_count()} logical, {len(os.sched_getaffinity(0))} usable by this process",
        "RAM": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "OS": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "work folder": f"{workdir} — {_filesystem(workdir)}",
        "disk free": f"{usage.free / 1e9:.0f} GB of {usage.total / 1e9:.0f} GB (at start)",
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "preserve": f"{_version('preserve')} (commit {commit or '?'}; uncommitted changes "
        "possible)",
        "siegfried": f"{siegfried} (pygfried {_version('pygfried')})",
        "bagit-python": _version("bagit"),
    }


# ----------------------------------------------------------------------------- the report


def _fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _mb(value: int | None) -> str:
    return "—" if value is None else f"{value / MB:,.0f}"


def _find(rows: list[Row], key: str, operation: str) -> Row | None:
    return next((r for r in rows if r.spec.key == key and r.operation == operation), None)


def results_table(rows: list[Row]) -> list[str]:
    lines = [
        "| corpus | operation | runs | seconds (median) | MB/s | files/s | × hashing limit "
        "| × baseline speed | peak MB: RSS of largest process / PSS of process tree |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        limit = _find(rows, r.spec.key, HASHING)
        baseline = _find(rows, r.spec.key, BASELINE)
        vs_limit = r.mb_per_s / limit.mb_per_s if limit and r.operation not in (HASHING,) else None
        speed_up = (
            baseline.seconds / r.seconds
            if baseline and r.operation in (INGEST, INGEST_S3)
            else None
        )
        rss = "—" if r.peak_rss is None else f"{_mb(r.rss_max)} / {_mb(r.rss_tree)}"
        lines.append(
            f"| {r.spec.key} | {r.operation} | {len(r.samples)} | {r.seconds:.3f} "
            f"| {_fmt(r.mb_per_s)} | {_fmt(r.files_per_s, 0)} | {_fmt(vs_limit, 2)} "
            f"| {_fmt(speed_up, 2)} | {rss} |"
        )
    return lines


def startup_table(rows: list[StartupRow]) -> list[str]:
    lines = [
        "| command | runs | seconds (median) | fastest | slowest | peak MB: RSS of largest "
        "process | KB read from the device (median) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        times = [s.seconds for s in r.samples]
        device = "—" if r.device_read is None else f"{r.device_read / 1000:,.0f}"
        lines.append(
            f"| `{r.command}` | {len(times)} | {r.seconds:.3f} | {min(times):.3f} "
            f"| {max(times):.3f} | {_mb(r.rss_max)} | {device} |"
        )
    return lines


@dataclass
class Target:
    description: str
    measured: str
    met: bool | None  # None: not measured in this run
    unjudged: str = ""  # why the numbers say nothing about the target (tiny corpus, warm cache)


def _not_measured(description: str, why: str) -> Target:
    return Target(description, f"not measured ({why})", None)


def evaluate_targets(rows: list[Row], startup: list[StartupRow]) -> list[Target]:
    """The issue's goals, each with its ratio shown whether met or not."""
    targets: list[Target] = []

    def speed_up_target(key: str, goal: float, description: str) -> None:
        ingest, baseline = _find(rows, key, INGEST), _find(rows, key, BASELINE)
        if ingest is None or baseline is None:
            targets.append(_not_measured(description, f"corpus {key} not run"))
            return
        ratio = baseline.seconds / ingest.seconds
        measured = (
            f"{ratio:.2f} × (ingest {ingest.seconds:.2f} s vs baseline {baseline.seconds:.2f} s)"
        )
        targets.append(Target(description, measured, ratio >= goal))

    speed_up_target("A", 1.2, "corpus A: ingest ≥ 1.2 × the composed baseline's speed")
    description = "corpus A: ingest ≥ 0.6 × the hashing limit (SHA-512 + SHA-256, all cores)"
    ingest, limit = _find(rows, "A", INGEST), _find(rows, "A", HASHING)
    if ingest is None or limit is None:
        targets.append(_not_measured(description, "corpus A not run"))
    else:
        ratio = ingest.mb_per_s / limit.mb_per_s
        measured = f"{ratio:.2f} × ({ingest.mb_per_s:,.0f} vs {limit.mb_per_s:,.0f} MB/s)"
        targets.append(Target(description, measured, ratio >= 0.6))
    speed_up_target(
        "B",
        1.5,
        "corpus B: ingest ≥ 1.5 × the composed baseline's speed (siegfried alone costs about "
        "0.45 ms of CPU per small file, which bounds this)",
    )

    description = (
        "corpus A: fixity ≥ 0.8 × the slower of the SHA-256 limit (all cores) and the cold "
        "parallel read (page cache dropped)"
    )
    fixity = _find(rows, "A", FIXITY)
    references = [r for r in (_find(rows, "A", SHA256_LIMIT), _find(rows, "A", COLD_READ)) if r]
    if fixity is None or len(references) < 2:
        targets.append(_not_measured(description, "corpus A not run"))
    else:
        slower, faster = sorted(references, key=lambda r: r.mb_per_s)
        ratio = fixity.mb_per_s / slower.mb_per_s
        measured = (
            f"{ratio:.2f} × ({fixity.mb_per_s:,.0f} MB/s vs {slower.mb_per_s:,.0f} MB/s of the "
            f"{slower.operation}; {faster.operation}: {faster.mb_per_s:,.0f} MB/s)"
        )
        cold = all(r.cache_dropped for r in (fixity, *references) if r.operation in COLD_OPERATIONS)
        targets.append(
            Target(description, measured, ratio >= 0.8, "" if cold else "cache not dropped")
        )

    description = "corpus B: fixity ≥ 5,000 files/s, page cache dropped first"
    fixity = _find(rows, "B", FIXITY)
    if fixity is None:
        targets.append(_not_measured(description, "corpus B not run"))
    else:
        fps = fixity.files_per_s
        measured = f"{fps:,.0f} files/s ({fps / 5000:.2f} × 5,000)"
        unjudged = "" if fixity.cache_dropped else "cache not dropped"
        targets.append(Target(description, measured, fps >= 5000, unjudged))

    goal = "ingest into the S3 test endpoint ≥ 0.8 × boto3's TransferManager uploading the same "
    goal += "files to the same endpoint"
    pairs = [
        (key, _find(rows, key, INGEST_S3), _find(rows, key, TRANSFER))
        for key in sorted({r.spec.key for r in rows})
    ]
    pairs = [(key, i, t) for key, i, t in pairs if i is not None and t is not None]
    if not pairs:
        targets.append(_not_measured(f"S3: {goal}", "run with --s3"))
    for key, ingest_s3, transfer in pairs:
        assert ingest_s3 is not None and transfer is not None
        ratio = transfer.seconds / ingest_s3.seconds
        measured = (
            f"{ratio:.2f} × (preserve {ingest_s3.seconds:.2f} s vs TransferManager "
            f"{transfer.seconds:.2f} s)"
        )
        targets.append(Target(f"corpus {key}: {goal}", measured, ratio >= 0.8))

    for key, limit_mb, label, flag in (
        ("C", 300, "300 MB", "--large"),
        ("D", 1000, "1 GB", "--large or --many"),
    ):
        for operation in (INGEST, FIXITY):
            row = _find(rows, key, operation)
            name = operation.removeprefix("preserve ")
            description = f"corpus {key}: peak RSS of {name} < {label}"
            if row is None or row.peak_rss is None:
                targets.append(_not_measured(description, f"run with {flag}"))
                continue
            peak = row.peak_rss / MB
            measured = f"{peak:,.0f} MB ({peak / limit_mb:.2f} × {label})"
            targets.append(Target(description, measured, peak < limit_mb))

    for label in (STARTUP_HELP, STARTUP_FIXITY):
        description = f"start-up: `{label}` well under a second (judged as < {STARTUP_LIMIT} s)"
        if label == STARTUP_FIXITY:
            description = (
                f"start-up: `{label}` of one small package well under a second (judged as "
                f"< {STARTUP_LIMIT} s)"
            )
        found = next((r for r in startup if r.command == label), None)
        if found is None:
            targets.append(_not_measured(description, "start-up not run"))
            continue
        seconds = found.seconds
        measured = (
            f"{seconds:.3f} s, median of {len(found.samples)} "
            f"({seconds / STARTUP_LIMIT:.2f} × {STARTUP_LIMIT} s)"
        )
        targets.append(Target(description, measured, seconds < STARTUP_LIMIT))
    return targets


def targets_table(targets: list[Target]) -> list[str]:
    lines = ["| target | measured | result |", "| --- | --- | --- |"]
    for t in targets:
        if t.met is None:
            result = "not measured"
        elif t.unjudged:
            result = f"not judged ({t.unjudged})"
        else:
            result = "**met**" if t.met else "**not met**"
        lines.append(f"| {t.description} | {t.measured} | {result} |")
    return lines


METHOD = """\
- **Page cache.** Warm unless stated: before any timing, every file of the corpus is read once
  (untimed), so the limits, the baseline (on its own fresh copy, read once too) and ingest read
  from the page cache; the corpus is read again (untimed) before every ingest and every
  TransferManager run, since a cold measurement before may have evicted it. The **cold parallel
  read** and every **preserve fixity** run come right after dropping the page cache: the benchmark
  runs `sync` (so every cached page is clean and can go), then, as root on Linux, writes `1` to
  `/proc/sys/vm/drop_caches` (`sync; echo 1 > /proc/sys/vm/drop_caches`), which empties the page
  cache of the whole machine, so the next read of any file comes from the device. Where it cannot
  (not root, not Linux, or `--no-drop-caches`), the run carries on: **cache not dropped** is said
  under Run and in the Notes, those rows read a warm cache and the fixity targets are not judged.
  Dropping the cache also evicts the interpreter's and preserve's own files, so a fixity run
  includes a start-up from the disk, as a scheduled check would. On a virtual machine the host
  may still cache the virtual disk below the guest, which the guest cannot drop.
{production}
- **Times** are medians of the runs; **MB/s** is payload (corpus) bytes, 10⁶ bytes per
  MB, divided by that time; **files/s** is corpus files divided by that time. Memory is
  in MB of 10⁶ bytes too.
- **Hashing limit**: Python's hashlib computing SHA-512 and SHA-256 over the corpus
  files, read once in 1 MiB blocks, using every core: a pool of one process per core,
  started before the clock, each hashing about half of the bytes (for a single file,
  SHA-512 on a second thread and SHA-256 on the first over the same 8 MiB buffers). No
  copying, no writing, no identification: the ceiling for anything that reads and hashes
  the corpus with hashlib.
- **SHA-256 limit**: the same pool and the same split, hashlib's SHA-256 alone (the one strong
  digest a fixity check needs per file); a single file is hashed on one thread, since one digest
  cannot be split across cores. Warm cache: the CPU's share of a fixity check.
- **Cold parallel read**: the same pool of one process per core, started before the clock; the
  page cache is dropped, then each process reads its share of the corpus files (about half of the
  bytes; a single file is cut into one contiguous range per core) in 1 MiB blocks, with no
  hashing: what the device delivers to a parallel reader, the disk's share of a fixity check.
  The fixity target of corpus A compares preserve fixity with the slower of this and the SHA-256
  limit.
- **Durable copy limit**: the same files copied on every core into a scratch folder on
  the same disk and flushed to the device (`os.sync()`), timed together. No hashing: the
  disk's share of any ingest that keeps a safe copy. Where it is slower than the hashing
  limit, the disk, not the CPU, bounds what ingest can reach.
- **Baseline** (what a user would otherwise script), in a subprocess, on a fresh untimed
  copy of the corpus: `bagit.make_bag(copy, checksums=['sha512', 'sha256'],
  processes=<cores>)` (bags in place), then `pygfried.identify_many(<payload files>,
  workers=<cores>)`, then `shutil.copytree(bag, <storage folder>)`, timed together inside
  the process (interpreter start-up and imports excluded, in the baseline's favour).
- **preserve ingest**: the real command line (`preserve ingest <corpus> --collection
  bench --json`) in a subprocess, with a fresh `PRESERVE_HOME` per run (embedded SQLite
  catalogue, the default local storage location under that home, on the same disk as the
  corpus); `preserve init` and `preserve collections add` run first, untimed. The time is
  end to end, from process start to exit, including interpreter start-up. Any
  `PRESERVE_*` setting of the calling environment is removed, so preserve runs with its
  defaults (one worker per core).
- **preserve fixity**: `preserve fixity --collection bench --json` right after each
  ingest, in the same home, after `sync` and dropping the page cache: it re-reads and re-hashes
  the stored copy, from the device. End to end like ingest.
- **S3** (with `--s3`): a moto S3 server (`ThreadedMotoServer` on 127.0.0.1) in a Python
  process of its own, started once before the corpora, so that it shares a GIL with neither the
  benchmark process nor the measured uploads; moto keeps objects in memory and accepts checksums
  without verifying them (AWS rejects wrong ones), and it shares the cores with the client, so
  this compares S3 code paths, not a real object store. After each run the server is reset
  (moto's `/moto-api/reset`, untimed), which drops every bucket and frees their memory.
  - **preserve ingest (S3)** and **preserve fixity (S3)**: as above, into a fresh bucket of
    that server (`preserve locations add s3 's3://<bucket>/bench?endpoint_url=...&
    addressing_style=path'`, collection `bench-s3` on that location only); fixity runs after
    dropping the page cache too, though the objects it reads live in moto's memory. preserve
    does more than upload (it hashes each file, sends a checksum with each object and checks
    what the server reports back); the TransferManager only uploads. The × baseline column
    compares with the baseline, which copies to a local folder.
  - **boto3 TransferManager (S3)**: boto3's own managed upload of the same corpus files to a
    fresh bucket of the same server, in a subprocess like the baseline:
    `boto3.s3.transfer.create_transfer_manager(client, TransferConfig())`, the manager behind
    `client.upload_file`, with a default `TransferConfig` (the Notes give the manager and its
    settings), every file submitted at once under `bench/<relative path>` and all awaited.
    Timed inside the process from the creation of the client to the last upload's end
    (interpreter start-up and imports excluded, in its favour); the bucket's object count and
    bytes are checked afterwards, untimed. Its client has preserve's botocore settings
    (`request_checksum_calculation` and `response_checksum_validation` `when_required`,
    path-style addressing), so neither adds botocore's default CRC32 to each upload; over plain
    HTTP both sign every payload with SHA-256 (SigV4). The S3 target compares preserve ingest
    (S3) with this row, same corpus, same run.
- **Start-up**: `preserve --help`, and `preserve fixity --package <id>` of one small package
  ingested untimed into a fresh home, each end to end as a subprocess (through the same launcher
  as the other runs) on a warm cache: one untimed run of each first, then the timed runs. "Well
  under a second" is judged as a median under {limit} s.
- **Read from the device**: for the measured subprocesses, the kernel's count of blocks read
  from the device rather than the page cache (`ru_inblock` from `wait4`, 512 bytes each, the
  process and its reaped descendants); for the cold parallel read, the growth of `read_bytes` in
  `/proc/self/io` of each reading process. Medians of the runs, in the Notes and the start-up
  table: with the cache dropped, a cold read or a fixity run must read at least the payload.
- **Peak memory** of each preserve run (and of the baseline and TransferManager processes) is the
  highest of its runs, two ways: the RSS of the largest single process, exact (the kernel's
  `ru_maxrss` from `wait4`, which covers the process and its reaped descendants such as
  the identification helper processes; taken by a small launcher process, since a child
  forked by the benchmark process would inherit the benchmark's own peak), and the
  memory of the whole process tree: the
  sum of the proportional set sizes (PSS, `/proc/<pid>/smaps_rollup`; shared pages are
  divided among the processes sharing them) of the process and all its descendants,
  sampled every {interval} ms. The memory targets use the larger of
  the two. Before each timed step the page cache is flushed to disk (`sync`), so one
  step's writes are not written back during the next.
"""


def production_paragraph(startup: list[StartupRow]) -> str:
    """How fixity avoids a warm cache in production, with what this run saw of it: the check of
    the small start-up package runs on a warm cache, so it reads the package from the device only
    if preserve drops the files' cached pages before reading them."""
    payload = STARTUP_FILES * STARTUP_FILE_SIZE

    def claim(verb: str) -> str:
        return (
            f"preserve fixity {verb} the kernel to drop each stored file's cached pages "
            "(`posix_fadvise(POSIX_FADV_DONTNEED)`; they are clean, since ingest fsyncs every "
            "copy) before reading it, so that the bytes it hashes come from the device, not from "
            "memory left by ingest or an earlier check"
        )

    row = next((r for r in startup if r.command == STARTUP_FIXITY), None)
    if row is None or row.device_read is None:
        return (
            f"- **In production** a warm cache must not fool a check either: {claim('should ask')}"
            ". Not checked in this run (no start-up measurement)."
        )
    seen = (
        f"`{STARTUP_FIXITY}` of the small start-up package, run on a warm cache, read "
        f"{row.device_read / 1000:,.0f} KB from the device (median; its payload is "
        f"{payload / 1000:,.0f} KB)"
    )
    if row.device_read >= payload:
        return (
            f"- **In production** a warm cache cannot fool a check either: {claim('asks')}. In "
            f"this run {seen}."
        )
    return (
        f"- **In production** a warm cache must not fool a check either: {claim('should ask')}. "
        f"**Not seen in this run**: {seen}, so a warm cache served it."
    )


def render_document(
    rows: list[Row],
    startup: list[StartupRow],
    startup_package: str,
    targets: list[Target],
    machine: dict[str, str],
    options: dict[str, str],
    notes: list[str],
    workers: Sequence[str] = (),
) -> str:
    specs = sorted({r.spec.key: r.spec for r in rows}.values(), key=lambda s: s.key)
    method = METHOD.format(
        limit=STARTUP_LIMIT,
        interval=f"{SAMPLE_INTERVAL * 1000:.0f}",
        production=production_paragraph(startup),
    )
    out = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m bench.run`); do not edit by hand. Every number below",
        "comes from one invocation on one machine.",
        "",
        "## Machine",
        "",
        *[f"- **{k}**: {v}" for k, v in machine.items()],
        "",
        "## Run",
        "",
        *[f"- **{k}**: {v}" for k, v in options.items()],
        "",
        "Corpora (random bytes, so nothing compresses and siegfried matches on extension only):",
        "",
        *[
            f"- **{s.key}**: {s.description} — {s.total_bytes / MB:,.0f} MB "
            f"in `{s.name}/` of the work folder"
            for s in specs
        ],
        "",
        "## Results",
        "",
        *results_table(rows),
        "",
    ]
    if startup:
        out += [f"Start-up (the package: {startup_package}):", "", *startup_table(startup), ""]
    out += [
        "## Targets",
        "",
        *targets_table(targets),
        "",
        *([*workers, ""] if workers else []),
        "## Method",
        "",
        method,
    ]
    if notes:
        out += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    return "\n".join(out)


# ----------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Measure preserve ingest and fixity against hashing limits, a cold read and "
        "a bagit-python + siegfried baseline (and boto3's TransferManager with --s3); print the "
        "tables and write them as Markdown.",
    )
    p.add_argument("--corpus", default="A,B", help="corpora to run, comma-separated (default A,B)")
    p.add_argument("--large", action="store_true", help="also corpus C (5 GB) and D (100k files)")
    p.add_argument("--many", action="store_true", help="also corpus D (100,000 files)")
    p.add_argument(
        "--s3",
        action="store_true",
        help="also ingest into a moto S3 endpoint, and boto3's TransferManager for reference",
    )
    p.add_argument("--runs", type=int, default=None, help="timed runs per measurement (3)")
    p.add_argument("--workdir", type=Path, default=None, help=f"default {DEFAULT_WORKDIR}")
    p.add_argument("--tiny", action="store_true", help="tiny corpora, 1 run (for the tests)")
    p.add_argument("--output", type=Path, default=None, help="Markdown file to write")
    p.add_argument(
        "--no-drop-caches",
        action="store_true",
        help="never drop the page cache (the cold read and fixity then read a warm cache, and "
        "the fixity targets are not judged)",
    )
    p.add_argument(
        "--skip-workers",
        action="store_true",
        help="leave out the Workers section (python -m bench.workers: queue overhead per job, "
        "fixity throughput of worker processes)",
    )
    p.add_argument("--workers", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--baseline-worker", nargs=2, type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument("--transfer-worker", nargs=3, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.runs is not None and args.runs < 1:
        p.error("--runs must be at least 1")
    keys = [k.strip().upper() for k in args.corpus.split(",") if k.strip()]
    unknown = [k for k in keys if k not in FULL]
    if unknown:
        p.error(f"unknown corpus {', '.join(unknown)} (choose from {', '.join(FULL)})")
    if args.large:
        keys += ["C", "D"]
    if args.many:
        keys += ["D"]
    args.keys = sorted(set(keys))
    return args


def bench_corpus(
    spec: CorpusSpec,
    corpus: Path,
    scratch: Path,
    runs: int,
    workers: int,
    limits: Limits,
    s3: S3Endpoint | None,
    caches: Caches,
) -> tuple[list[Row], list[str]]:
    """Every measurement of one corpus: the limits, the cold read, the baseline, preserve (local),
    then with S3 the TransferManager and preserve (S3)."""
    files = corpus_files(corpus)
    warm_cache(files)
    rows: list[Row] = []

    def row(operation: str) -> Row:
        return Row(spec, operation, spec.files, spec.total_bytes)

    hashing, sha256, cold = row(HASHING), row(SHA256_LIMIT), row(COLD_READ)
    durable, baseline = row(DURABLE), row(BASELINE)
    parts: list[dict[str, Any]] = []
    for i in range(runs):
        os.sync()
        hashing.samples.append(limits.hashing(files))
        log(f"  {HASHING} run {i + 1}/{runs}: {hashing.samples[-1].seconds:.3f} s")
    for i in range(runs):
        os.sync()
        sha256.samples.append(limits.sha256(files))
        log(f"  {SHA256_LIMIT} run {i + 1}/{runs}: {sha256.samples[-1].seconds:.3f} s")
    for i in range(runs):
        durable.samples.append(measure_durable_copy(files, scratch, workers))
        log(f"  {DURABLE} run {i + 1}/{runs}: {durable.samples[-1].seconds:.3f} s")
    for i in range(runs):
        sample, timings = measure_baseline(corpus, scratch, workers)
        baseline.samples.append(sample)
        parts.append(timings)
        log(f"  baseline run {i + 1}/{runs}: {sample.seconds:.3f} s")
    dropped = []
    for i in range(runs):
        sample, was_dropped = limits.cold_read(files, caches)
        cold.samples.append(sample)
        dropped.append(was_dropped)
        state = "cache dropped" if was_dropped else "CACHE NOT DROPPED"
        log(f"  {COLD_READ} run {i + 1}/{runs}: {sample.seconds:.3f} s ({state})")
    cold.cache_dropped = all(dropped)
    rows += [hashing, sha256, cold, durable, baseline]
    notes = [
        f"corpus {spec.key}: {HASHING} with {limits.method(HASHING, files)}; {SHA256_LIMIT} "
        f"with {limits.method(SHA256_LIMIT, files)}; {COLD_READ} with "
        f"{limits.method(COLD_READ, files)}.",
        f"corpus {spec.key}: baseline split (medians): make_bag "
        f"{statistics.median(p['make_bag'] for p in parts):.2f} s, identify_many "
        f"{statistics.median(p['identify'] for p in parts):.2f} s, copytree "
        f"{statistics.median(p['copy'] for p in parts):.2f} s.",
    ]

    def preserve_rows(endpoint: S3Endpoint | None) -> list[Row]:
        ingest = row(INGEST if endpoint is None else INGEST_S3)
        fixity = row(FIXITY if endpoint is None else FIXITY_S3)
        dropped = []
        for i in range(runs):
            done = measure_preserve(spec, corpus, scratch, endpoint, caches)
            ingest.samples.append(done.ingest)
            fixity.samples.append(done.fixity)
            dropped.append(done.cache_dropped)
            state = "cache dropped" if done.cache_dropped else "CACHE NOT DROPPED"
            log(
                f"  {ingest.operation} run {i + 1}/{runs}: {done.ingest.seconds:.3f} s, "
                f"fixity {done.fixity.seconds:.3f} s ({state})"
            )
        fixity.cache_dropped = all(dropped)
        return [ingest, fixity]

    rows += preserve_rows(None)
    if s3 is not None:
        transfer = row(TRANSFER)
        for i in range(runs):
            sample, info = measure_transfer(spec, corpus, scratch, s3)
            transfer.samples.append(sample)
            log(f"  {TRANSFER} run {i + 1}/{runs}: {sample.seconds:.3f} s")
        rows.append(transfer)
        notes.append(
            f"corpus {spec.key}: TransferManager: {info['manager']}, multipart threshold "
            f"{info['multipart_threshold'] / 2**20:g} MiB, parts of "
            f"{info['multipart_chunksize'] / 2**20:g} MiB, {info['max_concurrency']} threads."
        )
        rows += preserve_rows(s3)
    device = [
        f"{r.operation} {r.device_read / MB:,.0f} MB ({r.device_read / spec.total_bytes:.2f} × "
        "the payload)"
        for r in rows
        if r.operation in COLD_OPERATIONS and r.device_read is not None
    ]
    if device:
        notes.append(f"corpus {spec.key}: read from the device (median): {'; '.join(device)}.")
    not_dropped = [r.operation for r in rows if r.cache_dropped is False]
    if not_dropped:
        notes.append(
            f"corpus {spec.key}: **cache not dropped** before {', '.join(not_dropped)} "
            f"({caches.reason}): those rows read a warm cache."
        )
    return rows, notes


def measure_workers(args: argparse.Namespace, workdir: Path, scratch: Path) -> list[str]:
    """The Workers section (:mod:`bench.workers`): in full, every broker and both locations;
    with ``--tiny``, the embedded transport and the local location (and S3 with ``--s3``)."""
    from bench import workers

    tiny = bool(args.tiny)
    command = " ".join(["python -m bench.run", *args.argv])
    section = workers.measure(
        sizes=workers.TINY if tiny else workers.FULL,
        workdir=workdir,
        scratch=scratch,
        caches=Caches(enabled=not args.no_drop_caches),  # its own count of drops
        brokers=("filesystem",) if tiny else workers.BROKERS,
        locations=("local", "s3") if args.s3 or not tiny else ("local",),
        command=f"{command} (its Workers part)",
        postgres=None if tiny else workers.DEFAULT_POSTGRES,
    )
    return workers.render_section(section)


def run(args: argparse.Namespace) -> int:
    specs = TINY if args.tiny else FULL
    runs = args.runs or (1 if args.tiny else 3)
    startup_runs = 1 if args.tiny else max(STARTUP_RUNS, runs)
    workdir = (args.workdir or DEFAULT_WORKDIR).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    if args.output is not None:
        output = args.output.resolve()
    else:
        output = workdir / "benchmarks.md" if args.tiny else DEFAULT_OUTPUT
    workers = len(os.sched_getaffinity(0))
    machine = describe_machine(workdir)
    load_before = _loadavg()
    scratch = workdir / f"runs-{uuid.uuid4().hex[:8]}"
    scratch.mkdir()
    rows: list[Row] = []
    notes: list[str] = []
    caches = Caches(enabled=not args.no_drop_caches)
    s3: S3Endpoint | None = None
    workers_section: list[str] = []
    try:
        log("start-up")
        startup, startup_package = measure_startup(scratch, startup_runs)
        if args.s3:
            s3 = S3Endpoint()
            log(f"moto S3 server (pid {s3.pid}) at {s3.endpoint}")
        with Limits(workers) as limits:
            for key in args.keys:
                spec = specs[key]
                log(f"corpus {key}: {spec.description}")
                corpus, generated = ensure_corpus(workdir, spec)
                log(f"  {'generated' if generated else 'reusing'} {corpus}")
                more_rows, more_notes = bench_corpus(
                    spec, corpus, scratch, runs, workers, limits, s3, caches
                )
                rows += more_rows
                notes += more_notes
        if not args.skip_workers:
            workers_section = measure_workers(args, workdir, scratch)
    finally:
        if s3 is not None:
            s3.close()
        shutil.rmtree(scratch, ignore_errors=True)

    rows.sort(key=lambda r: (r.spec.key, OPERATIONS.index(r.operation)))
    targets = evaluate_targets(rows, startup)
    if args.tiny:
        for t in targets:
            t.unjudged = "tiny corpus"
    options = {
        "command": " ".join(["python -m bench.run", *args.argv]),
        "corpora": ", ".join(args.keys) + (" (tiny)" if args.tiny else ""),
        "runs per measurement": f"{runs} (times are medians)"
        + (" — fewer than the 3 the targets call for" if runs < 3 else "")
        + f"; start-up: {startup_runs}",
        "cache": caches.describe(),
        "load average (1, 5, 15 min)": f"{load_before} at the start, {_loadavg()} at the end "
        "(other processes on the machine compete for the same cores)",
        "workers": f"{workers} (limit and cold read processes, bagit processes, siegfried workers)",
    }
    if args.s3:
        options["S3 endpoint"] = (
            f"moto {_version('moto')} server in its own process on 127.0.0.1; boto3 "
            f"{_version('boto3')}, s3transfer {_version('s3transfer')}"
        )
    document = render_document(
        rows, startup, startup_package, targets, machine, options, notes, workers_section
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(document, encoding="utf-8")

    print("\n".join(results_table(rows)))
    print()
    print("\n".join(startup_table(startup)))
    print()
    print("\n".join(targets_table(targets)))
    if workers_section:
        print()
        print("\n".join(workers_section))
    print(f"\nwritten to {output}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    if args.baseline_worker is not None:
        bag, storage = args.baseline_worker
        timings = baseline_worker(bag, storage, args.workers or len(os.sched_getaffinity(0)))
        print(json.dumps(timings))
        return 0
    if args.transfer_worker is not None:
        corpus, endpoint, bucket = args.transfer_worker
        print(json.dumps(transfer_worker(Path(corpus), endpoint, bucket)))
        return 0

    def terminate(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")  # runs the clean-up of the runs under way

    signal.signal(signal.SIGTERM, terminate)
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # started in the background by a shell
        signal.signal(signal.SIGINT, terminate)
    try:
        return run(args)
    except BenchError as exc:
        log(f"bench: error: {exc}")
        return 1
    except KeyboardInterrupt:
        log("bench: interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
