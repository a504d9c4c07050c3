"""``python -m bench.run``: measure preserve ingest and fixity against the hashing limit and a
composed bagit-python + siegfried baseline, print the table and write it to docs/benchmarks.md.

Every measurement runs in the same invocation on the same machine, on a warm page cache (one
untimed read of the corpus comes first). Times are medians of ``--runs`` runs; peak memory is
the highest of the runs. preserve runs as its real command line in a subprocess, with a fresh
PRESERVE_HOME (embedded SQLite catalogue, local storage location) per run.
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
READ_CHUNK = 1 << 20  # hashing limit: bytes per read for many files
SPLIT_CHUNK = 8 << 20  # hashing limit: bytes per read when one file is split by algorithm
SAMPLE_INTERVAL = 0.05  # seconds between two samples of a process tree's memory
MB = 1_000_000

# operations, in table order
HASHING = "hashing limit"
DURABLE = "durable copy limit (copy + sync)"
BASELINE = "baseline (bagit + siegfried + copy)"
INGEST = "preserve ingest"
FIXITY = "preserve fixity"
INGEST_S3 = "preserve ingest (S3)"
FIXITY_S3 = "preserve fixity (S3)"
OPERATIONS = (HASHING, DURABLE, BASELINE, INGEST, FIXITY, INGEST_S3, FIXITY_S3)

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
)
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
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
    note: str = ""

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


# Runs the measured command as its child and reports its wall time and the kernel's ru_maxrss
# (the command's peak RSS and that of its reaped descendants). A fresh, small interpreter does
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
    json.dump({"seconds": seconds, "maxrss_kib": usage.ru_maxrss,
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
    )
    return Finished(sample, int(result["returncode"]), stdout_path, stderr)


# ----------------------------------------------------------------------------- the hashing limit


def _hash_files(paths: list[str]) -> int:
    """SHA-512 and SHA-256 of each file, read once; returns the bytes hashed."""
    buf = bytearray(READ_CHUNK)
    view = memoryview(buf)
    total = 0
    for path in paths:
        digests = [hashlib.new(a) for a in ALGORITHMS]
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


def _split_by_bytes(files: list[Path], parts: int) -> list[list[str]]:
    """``files`` in ``parts`` groups of about equal total size."""
    groups: list[list[str]] = [[] for _ in range(parts)]
    loads = [0] * parts
    for f in sorted(files, key=lambda p: p.stat().st_size, reverse=True):
        i = loads.index(min(loads))
        groups[i].append(str(f))
        loads[i] += f.stat().st_size
    return groups


class HashingLimit:
    """Python's hashlib computing SHA-512 + SHA-256 over the corpus on every core: one process per
    core, each hashing its share of the files (a pool started before timing); a single file is
    split by algorithm over two threads instead."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: Any = None

    def __enter__(self) -> HashingLimit:
        ctx = multiprocessing.get_context("spawn")
        self._pool = ctx.Pool(self.workers)
        self._pool.map(time.sleep, [0.3] * self.workers, chunksize=1)  # every worker is up
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.terminate()
        self._pool.join()

    def method(self, files: list[Path]) -> str:
        if len(files) < self.workers:
            return "1 file: SHA-512 and SHA-256 on two threads over the same buffers"
        return f"{self.workers} processes, each hashing half of the files"

    def measure(self, files: list[Path]) -> Sample:
        start = time.perf_counter()
        if len(files) < self.workers:
            hashed = sum(_hash_one_file_split(str(f), self.workers) for f in files)
        else:
            groups = _split_by_bytes(files, self.workers)
            hashed = sum(self._pool.map(_hash_files, groups, chunksize=1))
        elapsed = time.perf_counter() - start
        expected = sum(f.stat().st_size for f in files)
        if hashed != expected:
            raise BenchError(f"hashing limit read {hashed} bytes, expected {expected}")
        return Sample(elapsed)


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
        sample = Sample(float(timings["seconds"]), done.sample.rss_max, done.sample.rss_tree)
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


class S3Endpoint:
    """A moto S3 server in this process on a free loopback port; one fresh bucket per run."""

    def __init__(self) -> None:
        import boto3
        from botocore.config import Config
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
            region_name=S3_ENV["AWS_DEFAULT_REGION"],
            config=Config(s3={"addressing_style": "path"}),
        )

    def new_bucket(self) -> tuple[str, str]:
        bucket = f"preserve-bench-{uuid.uuid4().hex[:16]}"
        self.client.create_bucket(Bucket=bucket)
        url = f"s3://{bucket}/bench?endpoint_url={self.endpoint}&addressing_style=path"
        return bucket, url

    def remove_bucket(self, bucket: str) -> None:
        paginator = self.client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=bucket):
            doomed: list[Any] = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            if doomed:
                self.client.delete_objects(Bucket=bucket, Delete={"Objects": doomed})
        self.client.delete_bucket(Bucket=bucket)

    def close(self) -> None:
        self.client.close()
        self._server.stop()


def measure_preserve(
    spec: CorpusSpec, corpus: Path, scratch: Path, s3: S3Endpoint | None
) -> tuple[Sample, Sample]:
    """One ingest of ``corpus`` into a fresh home (local location, or S3), then fixity of the
    package it stored. Returns (ingest, fixity)."""
    home = scratch / f"home-{uuid.uuid4().hex[:8]}"
    env = _clean_env()
    env["PRESERVE_HOME"] = str(home)
    if s3 is not None:
        env.update(S3_ENV)
    preserve = preserve_command()
    bucket = None

    def setup(*args: str) -> None:
        done = subprocess.run(
            [*preserve, *args], env=env, cwd=REPO, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise BenchError(
                f"preserve {' '.join(args)} exited {done.returncode}: {_tail(done.stderr)}"
            )

    try:
        home.mkdir(parents=True)
        setup("init")
        if s3 is None:
            collection = "bench"
            setup("collections", "add", collection)
        else:
            bucket, url = s3.new_bucket()
            collection = "bench-s3"
            setup("locations", "add", "s3", url)
            setup("collections", "add", collection, "--location", "s3")

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

        os.sync()  # ingest's writes are not flushed during fixity
        cmd = [*preserve, "fixity", "--collection", collection, "--json"]
        fixity = run_measured(cmd, env, scratch / "fixity.json")
        if fixity.returncode != 0:
            raise BenchError(f"preserve fixity exited {fixity.returncode}: {_tail(fixity.stderr)}")
        checked = json.loads(fixity.stdout.read_text(encoding="utf-8"))
        copies = checked["copies"]
        if not checked["ok"] or len(copies) != 1 or copies[0]["files_checked"] < spec.files:
            raise BenchError(f"preserve fixity did not check the package: {checked}")
        return ingest.sample, fixity.sample
    finally:
        shutil.rmtree(home, ignore_errors=True)
        for name in ("ingest.json", "fixity.json"):
            (scratch / name).unlink(missing_ok=True)
        if s3 is not None and bucket is not None:
            s3.remove_bucket(bucket)


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


@dataclass
class Target:
    description: str
    measured: str
    met: bool | None  # None: not measured in this run
    judged: bool = True  # False for the tiny corpora, whose numbers say nothing about targets


def evaluate_targets(rows: list[Row]) -> list[Target]:
    targets: list[Target] = []

    def ratio_target(key: str, operation: str, label: str) -> None:
        row, limit = _find(rows, key, operation), _find(rows, key, HASHING)
        description = f"corpus {key}: {label} ≥ 0.8 × hashing limit"
        if row is None or limit is None:
            targets.append(Target(description, f"not measured (corpus {key} not run)", None))
            return
        ratio = row.mb_per_s / limit.mb_per_s
        targets.append(
            Target(
                description,
                f"{ratio:.2f} × ({row.mb_per_s:,.0f} vs {limit.mb_per_s:,.0f} MB/s)",
                ratio >= 0.8,
            )
        )

    ratio_target("A", INGEST, "ingest")
    ratio_target("A", FIXITY, "fixity")

    ingest_b, baseline_b = _find(rows, "B", INGEST), _find(rows, "B", BASELINE)
    description = "corpus B: ingest ≥ 1,500 files/s end to end"
    if ingest_b is None:
        targets.append(Target(description, "not measured (corpus B not run)", None))
    else:
        fps = ingest_b.files_per_s
        targets.append(Target(description, f"{fps:,.0f} files/s", fps >= 1500))
    description = "corpus B: ingest ≥ 2 × faster than the composed baseline"
    if ingest_b is None or baseline_b is None:
        targets.append(Target(description, "not measured (corpus B not run)", None))
    else:
        speed_up = baseline_b.seconds / ingest_b.seconds
        targets.append(
            Target(
                description,
                f"{speed_up:.2f} × ({baseline_b.seconds:.2f} s vs {ingest_b.seconds:.2f} s)",
                speed_up >= 2,
            )
        )

    for key, limit_mib, label, flag in (
        ("C", 300, "300 MB", "--large"),
        ("D", 1000, "1 GB", "--large or --many"),
    ):
        for operation in (INGEST, FIXITY):
            row = _find(rows, key, operation)
            name = operation.removeprefix("preserve ")
            description = f"corpus {key}: peak RSS of {name} < {label}"
            if row is None or row.peak_rss is None:
                targets.append(Target(description, f"not measured (run with {flag})", None))
                continue
            peak = row.peak_rss / MB
            targets.append(Target(description, f"{peak:,.0f} MB", peak < limit_mib))
    return targets


def targets_table(targets: list[Target]) -> list[str]:
    lines = ["| target | measured | result |", "| --- | --- | --- |"]
    for t in targets:
        if t.met is None:
            result = "not measured"
        elif not t.judged:
            result = "not judged (tiny corpus)"
        else:
            result = "**met**" if t.met else "**not met**"
        lines.append(f"| {t.description} | {t.measured} | {result} |")
    return lines


def render_document(
    rows: list[Row],
    targets: list[Target],
    machine: dict[str, str],
    options: dict[str, str],
    notes: list[str],
) -> str:
    specs = sorted({r.spec.key: r.spec for r in rows}.values(), key=lambda s: s.key)
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
        "## Targets",
        "",
        *targets_table(targets),
        "",
        "## Method",
        "",
        "- **Warm cache.** Before any timing, every file of the corpus is read once (untimed), so",
        "  all runs read from the page cache; so does the baseline, on its own fresh copy.",
        "- **Times** are medians of the runs; **MB/s** is payload (corpus) bytes, 10⁶ bytes per",
        "  MB, divided by that time; **files/s** is corpus files divided by that time. Memory is",
        "  in MB of 10⁶ bytes too.",
        "- **Hashing limit**: Python's hashlib computing SHA-512 and SHA-256 over the corpus",
        "  files, read once in 1 MiB blocks, using every core: a pool of one process per core,",
        "  started before the clock, each hashing about half of the bytes (for a single file,",
        "  SHA-512 on a second thread and SHA-256 on the first over the same 8 MiB buffers). No",
        "  copying, no writing, no identification: the ceiling for anything that reads and hashes",
        "  the corpus with hashlib.",
        "- **Durable copy limit**: the same files copied on every core into a scratch folder on",
        "  the same disk and flushed to the device (`os.sync()`), timed together. No hashing: the",
        "  disk's share of any ingest that keeps a safe copy. Where it is slower than the hashing",
        "  limit, the disk, not the CPU, bounds what ingest can reach.",
        "- **Baseline** (what a user would otherwise script), in a subprocess, on a fresh untimed",
        "  copy of the corpus: `bagit.make_bag(copy, checksums=['sha512', 'sha256'],",
        "  processes=<cores>)` (bags in place), then `pygfried.identify_many(<payload files>,",
        "  workers=<cores>)`, then `shutil.copytree(bag, <storage folder>)`, timed together inside",
        "  the process (interpreter start-up and imports excluded, in the baseline's favour).",
        "- **preserve ingest**: the real command line (`preserve ingest <corpus> --collection",
        "  bench --json`) in a subprocess, with a fresh `PRESERVE_HOME` per run (embedded SQLite",
        "  catalogue, the default local storage location under that home, on the same disk as the",
        "  corpus); `preserve init` and `preserve collections add` run first, untimed. The time is",
        "  end to end, from process start to exit, including interpreter start-up. Any",
        "  `PRESERVE_*` setting of the calling environment is removed, so preserve runs with its",
        "  defaults (one worker per core).",
        "- **preserve fixity**: `preserve fixity --collection bench --json` right after each",
        "  ingest, in the same home: it re-reads and re-hashes the stored copy (compared with the",
        "  hashing limit over the corpus). The copy was just written, so it is likely cached.",
        "- **S3** (with `--s3`): the same, into a fresh bucket of a moto server running inside the",
        "  benchmark process on 127.0.0.1 (`preserve locations add s3 's3://<bucket>/bench?",
        "  endpoint_url=...&addressing_style=path'`, collection `bench-s3` on that location only).",
        "  moto keeps objects in memory and shares the two cores, so this measures preserve's S3",
        "  code path, not a real object store. The × baseline column compares with a baseline",
        "  that copies to a local folder.",
        "- **Peak memory** of each preserve run (and of the baseline process) is the highest of",
        "  its runs, two ways: the RSS of the largest single process, exact (the kernel's",
        "  `ru_maxrss` from `wait4`, which covers the process and its reaped descendants such as",
        "  the identification helper processes; taken by a small launcher process, since a child",
        "  forked by the benchmark process would inherit the benchmark's own peak), and the",
        "  memory of the whole process tree: the",
        "  sum of the proportional set sizes (PSS, `/proc/<pid>/smaps_rollup`; shared pages are",
        "  divided among the processes sharing them) of the process and all its descendants,",
        f"  sampled every {SAMPLE_INTERVAL * 1000:.0f} ms. The memory targets use the larger of",
        "  the two. Before each timed step the page cache is flushed to disk (`sync`), so one",
        "  step's writes are not written back during the next.",
        "",
    ]
    if notes:
        out += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    return "\n".join(out)


# ----------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Measure preserve ingest and fixity against the hashing limit and a "
        "bagit-python + siegfried baseline; print the table and write it as Markdown.",
    )
    p.add_argument("--corpus", default="A,B", help="corpora to run, comma-separated (default A,B)")
    p.add_argument("--large", action="store_true", help="also corpus C (5 GB) and D (100k files)")
    p.add_argument("--many", action="store_true", help="also corpus D (100,000 files)")
    p.add_argument("--s3", action="store_true", help="also ingest into a moto S3 endpoint")
    p.add_argument("--runs", type=int, default=None, help="timed runs per measurement (3)")
    p.add_argument("--workdir", type=Path, default=None, help=f"default {DEFAULT_WORKDIR}")
    p.add_argument("--tiny", action="store_true", help="tiny corpora, 1 run (for the tests)")
    p.add_argument("--output", type=Path, default=None, help="Markdown file to write")
    p.add_argument("--workers", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--baseline-worker", nargs=2, type=Path, default=None, help=argparse.SUPPRESS)
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
    limit: HashingLimit,
    s3: S3Endpoint | None,
) -> tuple[list[Row], list[str]]:
    """Every measurement of one corpus: hashing limit, baseline, preserve (local, then S3)."""
    files = corpus_files(corpus)
    warm_cache(files)
    rows: list[Row] = []

    hashing = Row(spec, HASHING, spec.files, spec.total_bytes)
    durable = Row(spec, DURABLE, spec.files, spec.total_bytes)
    baseline = Row(spec, BASELINE, spec.files, spec.total_bytes)
    parts: list[dict[str, Any]] = []
    for i in range(runs):
        os.sync()
        hashing.samples.append(limit.measure(files))
        log(f"  {HASHING} run {i + 1}/{runs}: {hashing.samples[-1].seconds:.3f} s")
    for i in range(runs):
        durable.samples.append(measure_durable_copy(files, scratch, workers))
        log(f"  {DURABLE} run {i + 1}/{runs}: {durable.samples[-1].seconds:.3f} s")
    for i in range(runs):
        sample, timings = measure_baseline(corpus, scratch, workers)
        baseline.samples.append(sample)
        parts.append(timings)
        log(f"  baseline run {i + 1}/{runs}: {sample.seconds:.3f} s")
    rows += [hashing, durable, baseline]
    notes = [
        f"corpus {spec.key}: hashing limit with {limit.method(files)}.",
        f"corpus {spec.key}: baseline split (medians): make_bag "
        f"{statistics.median(p['make_bag'] for p in parts):.2f} s, identify_many "
        f"{statistics.median(p['identify'] for p in parts):.2f} s, copytree "
        f"{statistics.median(p['copy'] for p in parts):.2f} s.",
    ]

    for endpoint in (None, s3) if s3 is not None else (None,):
        ingest = Row(spec, INGEST if endpoint is None else INGEST_S3, spec.files, spec.total_bytes)
        fixity = Row(spec, FIXITY if endpoint is None else FIXITY_S3, spec.files, spec.total_bytes)
        for i in range(runs):
            a, b = measure_preserve(spec, corpus, scratch, endpoint)
            ingest.samples.append(a)
            fixity.samples.append(b)
            log(
                f"  {ingest.operation} run {i + 1}/{runs}: {a.seconds:.3f} s, "
                f"fixity {b.seconds:.3f} s"
            )
        rows += [ingest, fixity]
    return rows, notes


def run(args: argparse.Namespace) -> int:
    specs = TINY if args.tiny else FULL
    runs = args.runs or (1 if args.tiny else 3)
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
    s3: S3Endpoint | None = None
    try:
        if args.s3:
            s3 = S3Endpoint()
        with HashingLimit(workers) as limit:
            for key in args.keys:
                spec = specs[key]
                log(f"corpus {key}: {spec.description}")
                corpus, generated = ensure_corpus(workdir, spec)
                log(f"  {'generated' if generated else 'reusing'} {corpus}")
                more_rows, more_notes = bench_corpus(
                    spec, corpus, scratch, runs, workers, limit, s3
                )
                rows += more_rows
                notes += more_notes
    finally:
        if s3 is not None:
            s3.close()
        shutil.rmtree(scratch, ignore_errors=True)

    rows.sort(key=lambda r: (r.spec.key, OPERATIONS.index(r.operation)))
    targets = evaluate_targets(rows)
    if args.tiny:
        for t in targets:
            t.judged = False
    options = {
        "command": " ".join(["python -m bench.run", *args.argv]),
        "corpora": ", ".join(args.keys) + (" (tiny)" if args.tiny else ""),
        "runs per measurement": f"{runs} (times are medians)"
        + (" — fewer than the 3 the targets call for" if runs < 3 else ""),
        "cache": "warm (one untimed read of each corpus before its measurements)",
        "load average (1, 5, 15 min)": f"{load_before} at the start, {_loadavg()} at the end "
        "(other processes on the machine compete for the same cores)",
        "workers": f"{workers} (hashing limit processes, bagit processes, siegfried workers)",
    }
    document = render_document(rows, targets, machine, options, notes)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(document, encoding="utf-8")

    print("\n".join(results_table(rows)))
    print()
    print("\n".join(targets_table(targets)))
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
