"""``python -m bench.soak`` (``make soak``): kill ``preserve ingest`` at random moments, many times
in a row, and check after each re-run that nothing is wrong; writes docs/reliability.md.

For each configuration (catalogue SQLite or PostgreSQL, storage local or S3) a repository is set
up once and reset to that state before every iteration. An iteration starts the real ``preserve``
command on a delivery of a few hundred small files and a few large ones, sends it SIGKILL (mostly),
SIGTERM or SIGINT after a random delay drawn from the duration of an uninterrupted ingest, runs
the same ingest again to completion and checks the invariants (:meth:`Trial.check`): nothing left
``ingesting``, exactly one stored package, fully registered, every catalogued file on every
location with its digest (``preserve fixity --all`` and a hash of our own), no object or
temporary file that no catalogue row accounts for, staging empty. Every violation is recorded
with the iteration, the signal, the kill moment and the stage the ingest was in.

The test suite runs a few iterations per configuration (tests/reliability/test_kill.py); this
script runs many and writes the figures. PostgreSQL comes from ``PRESERVE_TEST_DATABASE_URL``
(an account that may create databases); S3 is a moto server in a process of its own, or
``PRESERVE_TEST_S3_ENDPOINT_URL``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.run import S3_ENV, S3Endpoint, _clean_env, describe_machine, preserve_command

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO / "docs" / "reliability.md"
POSTGRES_URL_VARIABLE = "PRESERVE_TEST_DATABASE_URL"
S3_ENDPOINT_VARIABLE = "PRESERVE_TEST_S3_ENDPOINT_URL"
COLLECTION = "c"
MB = 1_000_000
MIB = 1 << 20

#: the signals sent, with their weights: kill -9 mostly, and the two a clean stop must handle
SIGNALS: tuple[tuple[signal.Signals, int], ...] = (
    (signal.SIGKILL, 70),
    (signal.SIGTERM, 15),
    (signal.SIGINT, 15),
)
#: exit statuses a signalled ingest may end with: its own (143, 130), death by the signal itself
#: when it lands while the interpreter starts or ends, or 0 when it lands after the work was done
ACCEPTED_EXITS = {
    signal.SIGKILL: {0, -signal.SIGKILL},
    signal.SIGTERM: {0, 143, -signal.SIGTERM},
    signal.SIGINT: {0, 130, -signal.SIGINT},
}
STOP_TIMEOUT = 60.0  # seconds a SIGTERM'ed or SIGINT'ed ingest may take to stop
HELPER_GRACE = 10.0  # seconds the processes an ingest started may outlive it
RUN_TIMEOUT = 900.0  # seconds for an uninterrupted ingest, a re-run or a fixity check
RECENT = 9  # kill moments are drawn from the median duration of this many recent ingests

#: the stage an ingest was in when the signal was sent, told from what it had left so far
START_UP = "start-up"  # no staging folder yet: interpreter, imports, recovery, checks
STAGING = "receive/stage"  # a staging folder, no package row
STORE_PAYLOAD = "store payload"  # the package row is `ingesting`, payload objects arriving
DESCRIBE = "identify/describe"  # every payload object stored, no tag file yet
STORE_TAGS = "store tags/register"  # tag files arriving; the final transaction
FINISH = "finish"  # the package is `stored`: removing staging, printing, exiting
EXITED = "exited first"  # the ingest had finished before the signal was due
STAGES = (START_UP, STAGING, STORE_PAYLOAD, DESCRIBE, STORE_TAGS, FINISH, EXITED)
#: stages far enough from the end that an ingest exiting 0 after SIGTERM or SIGINT there ignored
#: the signal (in the final transaction, the signal may land just after the commit)
UNFINISHED = (START_UP, STAGING, STORE_PAYLOAD, DESCRIBE)
FRACTION_BINS = (0.2, 0.4, 0.6, 0.8, 1.0)


class SoakError(Exception):
    """The harness itself could not run (set-up failed): not a violation of an invariant."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- the delivery


@dataclass(frozen=True)
class DeliverySpec:
    """Random small files in a few folders, a few large files, and the sample delivery's real
    formats (JPEG, TIFF, PDF, text, WAV) so that identification has something to do."""

    small_files: int
    small_min: int
    small_max: int
    large_files: int
    large_size: int
    folders: int = 8

    def describe(self) -> str:
        return (
            f"{self.small_files} files of {self.small_min / 1000:g}–{self.small_max / 1000:g} "
            f"KB in {self.folders} folders, {self.large_files} files of "
            f"{self.large_size / MB:g} MB, and the files of `preserve sample`"
        )


#: make soak: every stage takes long enough to be hit often
SOAK_DELIVERY = DeliverySpec(400, 1_000, 40_000, 4, 12 * MB)
#: the test suite: still above the identification helpers' threshold (200 files), 2 multipart files
TEST_DELIVERY = DeliverySpec(210, 1_000, 20_000, 2, 6 * MB)


@dataclass(frozen=True)
class Delivery:
    path: Path
    spec: DeliverySpec
    #: relative POSIX path -> (size, sha256), as the harness wrote or read them
    files: Mapping[str, tuple[int, str]]

    @property
    def nbytes(self) -> int:
        return sum(size for size, _ in self.files.values())

    def describe(self) -> str:
        return f"{len(self.files)} files, {self.nbytes / MB:.1f} MB ({self.spec.describe()})"


def make_delivery(folder: Path, spec: DeliverySpec, seed: int = 0) -> Delivery:
    """Write the delivery under ``folder`` (which must not exist) and hash every file."""
    from preserve.sample import write_sample_delivery

    rng = random.Random(seed)
    folder.mkdir(parents=True)
    for i in range(spec.small_files):
        sub = folder / f"folder-{i % spec.folders}"
        sub.mkdir(exist_ok=True)
        (sub / f"file-{i:04d}.bin").write_bytes(
            rng.randbytes(rng.randint(spec.small_min, spec.small_max))
        )
    for i in range(spec.large_files):
        with open(folder / f"large-{i}.bin", "wb") as f:
            left = spec.large_size
            while left:
                chunk = min(left, 4 * MIB)
                f.write(rng.randbytes(chunk))
                left -= chunk
    write_sample_delivery(folder / "sample")  # its CSV lands in the delivery too
    files: dict[str, tuple[int, str]] = {}
    for dirpath, _dirnames, filenames in os.walk(folder):
        for name in filenames:
            path = Path(dirpath, name)
            files[path.relative_to(folder).as_posix()] = _hash_path(path)
    return Delivery(folder, spec, files)


def _hash_path(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(MIB):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


# ----------------------------------------------------------------------------- configurations


@dataclass(frozen=True)
class Configuration:
    catalogue: str  # "sqlite" or "postgresql"
    storage: str  # "local" or "s3"

    @property
    def name(self) -> str:
        return f"{self.catalogue}/{self.storage}"

    @property
    def slug(self) -> str:
        return f"{self.catalogue}-{self.storage}"

    @classmethod
    def parse(cls, text: str) -> Configuration:
        catalogue, _, storage = text.partition("/")
        if catalogue not in ("sqlite", "postgresql") or storage not in ("local", "s3"):
            raise ValueError(
                f"{text!r}: a configuration is CATALOGUE/STORAGE with CATALOGUE sqlite or "
                "postgresql and STORAGE local or s3"
            )
        return cls(catalogue, storage)


CONFIGURATIONS = tuple(
    Configuration(c, s) for c in ("sqlite", "postgresql") for s in ("local", "s3")
)


@dataclass
class S3Access:
    """An S3 endpoint for the trials: its URL, a boto3 client to make, inspect and empty buckets,
    and the environment the ``preserve`` subprocesses need to reach it (credentials)."""

    endpoint: str
    client: Any
    env: Mapping[str, str] = field(default_factory=dict)


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Violation:
    configuration: str
    iteration: int  # 0 for an uninterrupted run
    signal: str  # "SIGKILL", ..., or "none"
    delay: float  # seconds after the start
    fraction: float  # of the median uninterrupted ingest
    stage: str
    kind: str
    detail: str
    output: str = ""  # what the signalled run and the re-run printed on stderr

    def describe(self, output: bool = False) -> str:
        when = (
            "uninterrupted run"
            if self.signal == "none"
            else f"{self.signal} after {self.delay:.2f} s ({self.fraction:.0%}), {self.stage}"
        )
        text = f"{self.configuration} #{self.iteration} ({when}): {self.kind}: {self.detail}"
        return f"{text}\n    {self.output}" if output and self.output else text


@dataclass
class Iteration:
    number: int
    signal: str  # "none" for an uninterrupted run
    delay: float = 0.0
    fraction: float = 0.0
    stage: str = ""
    signalled: bool = False  # False when the ingest finished before the signal was due
    exit_status: int | None = None  # of the signalled run
    rerun: str = ""  # "stored", "duplicate", or what went wrong
    recovered: int = 0  # interrupted ingests the re-run cleaned up
    output: str = ""  # the stderr of the signalled run and of the re-run, shortened
    #: the duration of the complete ingest in this iteration (the uninterrupted run, or a re-run
    #: that stored the package), 0 when there was none
    seconds: float = 0.0
    violations: list[Violation] = field(default_factory=list)


@dataclass
class TrialResult:
    configuration: Configuration
    delivery: str = ""
    baseline: list[Iteration] = field(default_factory=list)
    iterations: list[Iteration] = field(default_factory=list)
    skipped: str = ""  # why the configuration did not run

    def durations(self) -> list[float]:
        """Every complete ingest's duration, in order."""
        return [i.seconds for i in (*self.baseline, *self.iterations) if i.seconds]

    @property
    def duration(self) -> float:
        """The median duration of a complete ingest over the whole trial."""
        durations = self.durations()
        return statistics.median(durations) if durations else 0.0

    @property
    def violations(self) -> list[Violation]:
        return [v for i in (*self.baseline, *self.iterations) for v in i.violations]

    def kills(self) -> Counter[str]:
        return Counter(i.signal for i in self.iterations if i.signalled)

    def stages(self) -> Counter[str]:
        return Counter(i.stage for i in self.iterations)

    def reruns(self) -> Counter[str]:
        return Counter(i.rerun for i in self.iterations)


# ----------------------------------------------------------------------------- processes


def _process_group(pgid: int) -> list[tuple[int, str]]:
    """Live (not zombie) processes of process group ``pgid``: (pid, command line)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            if fields[0] == b"Z" or int(fields[2]) != pgid:
                continue
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, IndexError, ValueError):
            continue
        found.append((int(entry.name), cmdline))
    return found


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


_PRESERVE_FRAME = re.compile(r'File "[^"]*/preserve/[^"]*"')


def traceback_of_preserve(stderr: str) -> bool:
    """A traceback (or fatal error) printed once preserve's own code ran. A signal that lands
    while the interpreter itself starts (its ``site`` imports, a few ms before the first line of
    preserve runs and can install a handler) makes Python print its own traceback, or exit 1
    with "Failed to import the site module": nothing of preserve ran, so there is nothing to
    roll back, and the invariants still hold. That is no violation of preserve's; every frame of
    it is the interpreter's."""
    if "Traceback" not in stderr and "Fatal Python error" not in stderr:
        return False
    return _PRESERVE_FRAME.search(stderr) is not None


def _tail(text: str, limit: int = 600) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else "..." + text[-limit:]


@dataclass
class Finished:
    status: int
    stdout: str
    stderr: str
    seconds: float


# ----------------------------------------------------------------------------- one configuration


class Trial:
    """One configuration's repository, set up once and reset before every iteration.

    Set-up runs ``preserve init`` and ``preserve collections add`` once; the resulting home (and
    SQLite catalogue) is kept as a template and copied back before each iteration, a PostgreSQL
    catalogue is re-created from a template database, and the bucket is emptied. So every
    iteration starts from the same empty repository and a violation belongs to one kill.
    """

    def __init__(
        self,
        configuration: Configuration,
        workdir: Path,
        delivery: Delivery,
        *,
        postgres_admin_url: str | None = None,
        s3: S3Access | None = None,
        workers: int | None = None,
        read_back_s3: bool = True,
    ) -> None:
        self.configuration = configuration
        #: read every S3 object back and hash it (besides fixity); else compare listed sizes
        self.read_back_s3 = read_back_s3
        self.workdir = workdir
        self.delivery = delivery
        self.home = workdir / "home"
        self.template = workdir / "template-home"
        self.staging = self.home / "staging"
        self.preserve = preserve_command()
        self._s3 = s3
        self._admin_url = postgres_admin_url
        self._admin: Any = None
        self._engine: Any = None
        self._databases: list[str] = []
        self._bucket = ""
        self._iteration_db = ""
        self._template_db = ""
        self._resets = 0
        self._token = uuid.uuid4().hex[:12]
        self.env = _clean_env()
        self.env.update(
            {
                "PRESERVE_HOME": str(self.home),
                # objects above 5 MiB go in 5 MiB parts: the multipart path is killed too
                "PRESERVE_S3_MULTIPART_THRESHOLD": str(5 * MIB),
                "PRESERVE_S3_PART_SIZE": str(5 * MIB),
            }
        )
        if workers is not None:
            self.env["PRESERVE_WORKERS"] = str(workers)
        if configuration.catalogue == "postgresql" and not postgres_admin_url:
            raise SoakError(f"{configuration.name} needs {POSTGRES_URL_VARIABLE}")
        if configuration.storage == "s3" and s3 is None:
            raise SoakError(f"{configuration.name} needs an S3 endpoint")
        if configuration.storage == "local":
            self._s3 = None  # the default location under PRESERVE_HOME

    # ------------------------------------------------------------------ set-up and reset

    def __enter__(self) -> Trial:
        try:
            self.setup()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def setup(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.configuration.catalogue == "postgresql":
            from sqlalchemy import create_engine
            from sqlalchemy.pool import NullPool

            self._admin = create_engine(
                self._admin_url or "", isolation_level="AUTOCOMMIT", poolclass=NullPool
            )
            self._template_db = self._create_database("template")
            self.env["PRESERVE_DATABASE_URL"] = self._database_url(self._template_db)
        else:
            self.env["PRESERVE_DATABASE_URL"] = f"sqlite:///{self.home / 'catalogue.sqlite3'}"
        if self._s3 is not None:
            self.env.update(self._s3.env)
            self._bucket = f"preserve-soak-{uuid.uuid4().hex[:16]}"
            self._s3.client.create_bucket(Bucket=self._bucket)
            self.env["PRESERVE_STORAGE_URL"] = (
                f"s3://{self._bucket}/soak?endpoint_url={self._s3.endpoint}&addressing_style=path"
            )
        self._setup_command("init")
        self._setup_command("collections", "add", COLLECTION)
        self.home.rename(self.template)

    def _setup_command(self, *args: str) -> None:
        done = subprocess.run(
            [*self.preserve, *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            raise SoakError(
                f"{self.configuration.name}: preserve {' '.join(args)} exited "
                f"{done.returncode}: {_tail(done.stderr)}"
            )

    def _database_url(self, name: str) -> str:
        from sqlalchemy.engine import make_url

        url = make_url(self._admin_url or "").set(database=name)
        return url.render_as_string(hide_password=False)

    def _create_database(self, suffix: str, template: str | None = None) -> str:
        name = f"preserve_soak_{self._token}_{suffix}"
        sql = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
        with self._admin.connect() as connection:
            connection.exec_driver_sql(sql)
        self._databases.append(name)
        return name

    def _drop_database(self, name: str) -> None:
        with self._admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._databases.remove(name)

    def reset(self) -> None:
        """The repository as set-up left it: home, catalogue and bucket."""
        self._resets += 1
        self._dispose_engine()
        shutil.rmtree(self.home, ignore_errors=True)
        shutil.copytree(self.template, self.home, symlinks=True)
        if self._admin is not None:
            if self._iteration_db:
                self._drop_database(self._iteration_db)
            self._iteration_db = self._create_database(
                f"r{self._resets}", template=self._template_db
            )
            self.env["PRESERVE_DATABASE_URL"] = self._database_url(self._iteration_db)
        if self._s3 is not None:
            self._empty_bucket()

    def _empty_bucket(self) -> None:
        client = self._s3.client if self._s3 is not None else None
        if client is None:
            return
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self._bucket):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=self._bucket, Delete={"Objects": keys, "Quiet": True})
        for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=self._bucket):
            for upload in page.get("Uploads", []):
                client.abort_multipart_upload(
                    Bucket=self._bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                )

    def close(self) -> None:
        self._dispose_engine()
        if self._admin is not None:
            for name in list(self._databases):
                with contextlib.suppress(Exception):
                    self._drop_database(name)
            self._admin.dispose()
            self._admin = None
        if self._s3 is not None and self._bucket:
            with contextlib.suppress(Exception):
                self._empty_bucket()
                self._s3.client.delete_bucket(Bucket=self._bucket)
            self._bucket = ""
        shutil.rmtree(self.home, ignore_errors=True)
        shutil.rmtree(self.template, ignore_errors=True)

    # ------------------------------------------------------------------ the catalogue

    @property
    def engine(self) -> Any:
        if self._engine is None:
            from sqlalchemy import create_engine
            from sqlalchemy.pool import NullPool

            self._engine = create_engine(self.env["PRESERVE_DATABASE_URL"], poolclass=NullPool)
        return self._engine

    def _dispose_engine(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def query(self, sql: str, **params: Any) -> list[Any]:
        """The rows of one read of the catalogue (this iteration's)."""
        from sqlalchemy import text

        with self.engine.connect() as connection:
            return list(connection.execute(text(sql), params))

    def execute(self, sql: str, **params: Any) -> None:
        """One committed change to the catalogue, behind preserve's back (tests of the checks)."""
        from sqlalchemy import text

        with self.engine.begin() as connection:
            connection.execute(text(sql), params)

    # ------------------------------------------------------------------ running preserve

    def _start(self, *args: str, out: Path) -> tuple[subprocess.Popen[bytes], Any, Any]:
        stdout = open(out.with_suffix(".out"), "w+b")  # noqa: SIM115 - closed by _finish
        stderr = open(out.with_suffix(".err"), "w+b")  # noqa: SIM115 - closed by _finish
        proc = subprocess.Popen(
            [*self.preserve, *args],
            env=self.env,
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,  # its own process group: helpers can be found and killed
        )
        return proc, stdout, stderr

    @staticmethod
    def _finish(proc: subprocess.Popen[bytes], stdout: Any, stderr: Any, t0: float) -> Finished:
        status = proc.wait()
        seconds = time.monotonic() - t0
        texts = []
        for f in (stdout, stderr):
            f.seek(0)
            texts.append(f.read().decode("utf-8", errors="replace"))
            f.close()
        return Finished(status, texts[0], texts[1], seconds)

    def run(self, *args: str, name: str) -> Finished:
        """Run preserve to its end (killed after RUN_TIMEOUT: status -9)."""
        t0 = time.monotonic()
        proc, out, err = self._start(*args, out=self.workdir / name)
        try:
            proc.wait(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
        finished = self._finish(proc, out, err, t0)
        # nothing it started may run on into the checks (while a member of its group lives, the
        # group's id cannot be reused by another process)
        if _process_group(proc.pid):
            _kill_group(proc.pid)
        return finished

    def ingest_args(self) -> tuple[str, ...]:
        return ("ingest", str(self.delivery.path), "--collection", COLLECTION, "--json")

    # ------------------------------------------------------------------ iterations

    def uninterrupted(self) -> Iteration:
        """An ingest left alone: its duration, and the invariants after it."""
        self.reset()
        it = Iteration(number=0, signal="none")
        done = self.run(*self.ingest_args(), name="uninterrupted")
        it.seconds = done.seconds
        problems = self._rerun_problems(done, it)
        problems += self.check()
        it.violations = [self._violation(it, kind, detail) for kind, detail in problems]
        return it

    def killed(self, number: int, delay: float, sig: signal.Signals, duration: float) -> Iteration:
        """Start an ingest, send ``sig`` after ``delay`` seconds, run it again, check."""
        self.reset()
        it = Iteration(
            number=number,
            signal=sig.name,
            delay=delay,
            fraction=delay / duration if duration else 0.0,
        )
        problems: list[tuple[str, str]] = []
        t0 = time.monotonic()
        proc, out, err = self._start(*self.ingest_args(), out=self.workdir / "killed")
        try:
            proc.wait(timeout=delay)
            it.stage = EXITED
        except subprocess.TimeoutExpired:
            it.signalled = True
            if sig == signal.SIGKILL:
                if proc.poll() is None:
                    os.kill(proc.pid, sig)  # kill -9 <pid>
                    proc.wait()
                    it.stage = self.stage()  # everything stopped where it was
                else:
                    it.signalled, it.stage = False, EXITED
            else:
                it.stage = self.stage()  # it cleans up after the signal: look first
                if proc.poll() is not None:  # it ended while we looked
                    it.signalled, it.stage = False, EXITED
                elif sig == signal.SIGINT:
                    os.killpg(proc.pid, sig)  # Ctrl-C in a terminal reaches the whole group
                else:
                    os.kill(proc.pid, sig)  # kill <pid>, systemd, docker stop
                try:
                    proc.wait(timeout=STOP_TIMEOUT if it.signalled else None)
                except subprocess.TimeoutExpired:
                    problems.append(
                        ("no stop", f"still running {STOP_TIMEOUT:.0f} s after {sig.name}")
                    )
                    _kill_group(proc.pid)
        finished = self._finish(proc, out, err, t0)
        it.exit_status = finished.status
        if it.signalled:
            problems += self._signal_problems(sig, finished, it.stage)
        problems += self._survivors(proc.pid)
        rerun = self.run(*self.ingest_args(), name="rerun")
        problems += self._rerun_problems(rerun, it)
        it.output = (
            f"signalled run: exit {finished.status}, stderr: {_tail(finished.stderr, 400)!r}; "
            f"re-run: exit {rerun.status}, stderr: {_tail(rerun.stderr, 400)!r}"
        )
        if it.rerun == "stored":
            it.seconds = rerun.seconds
        problems += self.check()
        it.violations = [self._violation(it, kind, detail) for kind, detail in problems]
        return it

    def _violation(self, it: Iteration, kind: str, detail: str) -> Violation:
        return Violation(
            self.configuration.name,
            it.number,
            it.signal,
            it.delay,
            it.fraction,
            it.stage or "-",
            kind,
            detail,
            it.output,
        )

    @staticmethod
    def _signal_problems(
        sig: signal.Signals, finished: Finished, stage: str
    ) -> list[tuple[str, str]]:
        problems = []
        if finished.status == 0 and stage in UNFINISHED:
            problems.append(
                (
                    f"{sig.name} ignored",
                    f"sent during {stage}, yet the ingest went on and exited 0",
                )
            )
        in_start_up = (
            "Traceback" in finished.stderr or "Fatal Python error" in finished.stderr
        ) and not traceback_of_preserve(finished.stderr)
        if finished.status not in ACCEPTED_EXITS[sig] and not (
            in_start_up and finished.status == 1
        ):
            expected = ", ".join(str(s) for s in sorted(ACCEPTED_EXITS[sig]))
            problems.append(
                (
                    f"exit status after {sig.name}",
                    f"{finished.status} (expected one of {expected}); "
                    f"stderr: {_tail(finished.stderr)}",
                )
            )
        if traceback_of_preserve(finished.stderr):
            problems.append((f"traceback after {sig.name}", _tail(finished.stderr, 1500)))
        return problems

    @staticmethod
    def _survivors(pgid: int) -> list[tuple[str, str]]:
        deadline = time.monotonic() + HELPER_GRACE
        while (left := _process_group(pgid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not left:
            return []
        _kill_group(pgid)
        shown = "; ".join(f"{pid}: {cmd[:120]}" for pid, cmd in left[:5])
        return [
            (
                "processes outlived the ingest",
                f"{len(left)} still running {HELPER_GRACE:.0f} s after it ended: {shown}",
            )
        ]

    @staticmethod
    def _rerun_problems(done: Finished, it: Iteration) -> list[tuple[str, str]]:
        what = "ingest" if it.signal == "none" else "re-run"
        if done.status != 0:
            it.rerun = f"exit {done.status}"
            return [(f"{what} failed", f"exit status {done.status}; stderr: {_tail(done.stderr)}")]
        try:
            report = json.loads(done.stdout)
            outcome = [p["status"] for p in report["packages"]]
            it.recovered = len(report.get("recovered", []))
        except (ValueError, KeyError, TypeError) as exc:
            it.rerun = "unreadable output"
            return [(f"{what} output", f"not the JSON report ({exc}): {_tail(done.stdout)}")]
        it.rerun = ", ".join(outcome) or "nothing"
        if outcome not in (["stored"], ["duplicate"]) or report.get("failures"):
            return [(f"{what} outcome", f"{outcome}, failures {report.get('failures')}")]
        return []

    # ------------------------------------------------------------------ where the ingest was

    def stage(self) -> str:
        """The stage of the running (or just killed) ingest, from what it has left so far."""
        try:
            rows = self.query("SELECT id, status FROM packages")
        except Exception:  # the catalogue is being written: say so rather than guess
            return "unknown"
        statuses = {status for _id, status in rows}
        if "stored" in statuses:
            return FINISH
        if "ingesting" in statuses:
            payload = tags = 0
            ids = {package_id for package_id, status in rows if status == "ingesting"}
            for _url, keys in self._objects_by_location().items():
                for key in keys:
                    parts = key.split("/")
                    if len(parts) >= 5 and parts[2] in ids:
                        if parts[4] == "data":
                            payload += 1
                        else:
                            tags += 1
            copies = self.query(
                "SELECT count(*) FROM copies cp JOIN packages p ON p.id = cp.package_id "
                "WHERE p.status = 'ingesting'"
            )[0][0]
            if tags:
                return STORE_TAGS
            if payload >= copies * len(self.delivery.files):
                return DESCRIBE
            return STORE_PAYLOAD
        if self.staging.is_dir() and any(self.staging.iterdir()):
            return STAGING
        return START_UP

    # ------------------------------------------------------------------ storage

    def _locations(self) -> dict[int, str]:
        return {row[0]: row[1] for row in self.query("SELECT id, url FROM storage_locations")}

    def _objects_by_location(self) -> dict[str, dict[str, int]]:
        """Every object on every location, as location URL -> key -> size (keys relative to the
        location; temporary files of a local location under ``.preserve-tmp/...``)."""
        return {url: self._objects(url) for url in self._locations().values()}

    def _objects(self, url: str) -> dict[str, int]:
        if url.startswith("file:"):
            from preserve.storage.local import parse_file_url

            root = Path(parse_file_url(url))
            found = {}
            for dirpath, _dirnames, filenames in os.walk(root):
                for name in filenames:
                    path = Path(dirpath, name)
                    with contextlib.suppress(OSError):
                        found[path.relative_to(root).as_posix()] = path.lstat().st_size
            return found
        bucket, prefix = self.s3_location(url)
        found = {}
        client = self._client()
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                key = item["Key"]
                # an object outside the location's prefix is shown with its full key after '/'
                found[key[len(prefix) :] if key.startswith(prefix) else "/" + key] = item["Size"]
        return found

    def _client(self) -> Any:
        if self._s3 is None:
            raise SoakError("an s3:// location but no S3 endpoint")
        return self._s3.client

    @staticmethod
    def s3_location(url: str) -> tuple[str, str]:
        """The bucket and key prefix of an ``s3://`` location URL."""
        from preserve.storage.s3 import parse_s3_url

        loc = parse_s3_url(url)
        return loc.bucket, loc.prefix

    def _read(self, url: str, key: str) -> tuple[int, str]:
        if url.startswith("file:"):
            from preserve.storage.local import parse_file_url

            path = Path(parse_file_url(url), *key.split("/"))
            if path.is_symlink():
                raise OSError(f"{path} is a symbolic link")
            return _hash_path(path)
        bucket, prefix = self.s3_location(url)
        body = self._client().get_object(Bucket=bucket, Key=prefix + key)["Body"]
        digest = hashlib.sha256()
        size = 0
        try:
            while chunk := body.read(MIB):
                digest.update(chunk)
                size += len(chunk)
        finally:
            body.close()
        return size, digest.hexdigest()

    # ------------------------------------------------------------------ the invariants

    def check(self) -> list[tuple[str, str]]:
        """Every invariant, as (kind, detail) for each one broken."""
        problems = self._check_catalogue()
        fixity = self.run("fixity", "--all", "--json", name="fixity")
        try:
            ok = json.loads(fixity.stdout).get("ok") is True
        except ValueError:
            ok = False
        if fixity.status != 0 or not ok:
            problems.append(
                (
                    "fixity failed",
                    f"preserve fixity --all exited {fixity.status}: "
                    f"{_tail(fixity.stderr or fixity.stdout)}",
                )
            )
        problems += self._check_storage()
        if self.staging.is_dir():
            left = sorted(p.name for p in self.staging.iterdir())
            if left:
                problems.append(
                    ("staging not empty", f"{len(left)} entries in {self.staging}: {left[:5]}")
                )
        return problems

    def _check_catalogue(self) -> list[tuple[str, str]]:
        problems = []
        packages = self.query(
            "SELECT p.id, p.status, c.slug, p.file_count, p.size FROM packages p "
            "JOIN collections c ON c.id = p.collection_id"
        )
        for package_id, status, _slug, _n, _size in packages:
            if status != "stored":
                problems.append((f"package left {status}", package_id))
        stored = [p for p in packages if p[1] == "stored" and p[2] == COLLECTION]
        if len(stored) != 1:
            kind = "stored twice" if stored else "not stored"
            problems.append((kind, f"{len(stored)} stored packages: {[p[0] for p in stored]}"))
        expected = {f"data/{path}": value for path, value in self.delivery.files.items()}
        for package_id, _status, _slug, file_count, size in stored:
            files = self.query(
                "SELECT path, role, size, sha256 FROM files WHERE package_id = :p", p=package_id
            )
            payload = {path: (size, sha) for path, role, size, sha in files if role == "payload"}
            tags = {path for path, role, _size, _sha in files if role == "tag"}
            missing = sorted(set(expected) - set(payload))
            extra = sorted(set(payload) - set(expected))
            wrong = sorted(p for p in set(expected) & set(payload) if expected[p] != payload[p])
            if missing or extra or wrong:
                problems.append(
                    (
                        "half-registered",
                        f"package {package_id}: payload rows missing {len(missing)} "
                        f"{missing[:3]}, extra {len(extra)} {extra[:3]}, with other size or "
                        f"digest {len(wrong)} {wrong[:3]}",
                    )
                )
            if "bagit.txt" not in tags or "manifest-sha512.txt" not in tags:
                problems.append(
                    ("half-registered", f"package {package_id}: tag rows {sorted(tags)[:8]}")
                )
            if (file_count, size) != (len(expected), self.delivery.nbytes):
                problems.append(
                    (
                        "half-registered",
                        f"package {package_id}: {file_count} files, {size} bytes recorded; "
                        f"the delivery has {len(expected)}, {self.delivery.nbytes}",
                    )
                )
            copies = self.query(
                "SELECT l.name, cp.status FROM copies cp "
                "JOIN storage_locations l ON l.id = cp.location_id WHERE cp.package_id = :p",
                p=package_id,
            )
            wanted = {
                row[0]
                for row in self.query(
                    "SELECT l.name FROM collection_locations cl "
                    "JOIN storage_locations l ON l.id = cl.location_id "
                    "JOIN collections c ON c.id = cl.collection_id WHERE c.slug = :c",
                    c=COLLECTION,
                )
            }
            if not wanted:  # a collection naming no location uses the default ones
                wanted = {
                    row[0]
                    for row in self.query("SELECT name FROM storage_locations WHERE is_default")
                }
            have = {name: status for name, status in copies}
            if set(have) != wanted or any(s != "verified" for s in have.values()):
                problems.append(
                    (
                        "half-registered",
                        f"package {package_id}: copies {have}, expected a verified copy on "
                        f"each of {sorted(wanted)}",
                    )
                )
            events = self.query("SELECT count(*) FROM events WHERE package_id = :p", p=package_id)[
                0
            ][0]
            if not events:
                problems.append(("half-registered", f"package {package_id}: no PREMIS events"))
        return problems

    def _check_storage(self) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        locations = self._locations()
        catalogued: dict[str, dict[str, tuple[int, str]]] = {url: {} for url in locations.values()}
        # each copy holds the files its version stored itself (the others are in fetch.txt)
        for url, prefix, path, size, sha in self.query(
            "SELECT l.url, cp.key_prefix, f.path, f.size, f.sha256 FROM copies cp "
            "JOIN storage_locations l ON l.id = cp.location_id "
            "JOIN files f ON f.package_id = cp.package_id AND f.version = cp.version "
            "AND f.stored_version = cp.version"
        ):
            catalogued[url][prefix + path] = (size, sha)
        # the event files written beside the versions, on every location of a copy
        for url, prefix, path, size, sha in self.query(
            "SELECT DISTINCT l.url, cp.key_prefix, e.path, e.size, e.sha256 FROM event_files e "
            "JOIN copies cp ON cp.package_id = e.package_id "
            "JOIN storage_locations l ON l.id = cp.location_id"
        ):
            folder = prefix.rstrip("/").rsplit("/", 1)[0] + "/"
            catalogued[url][folder + path] = (size, sha)
        for url, expected in catalogued.items():
            found = self._objects(url)
            temporary = sorted(k for k in found if k.split("/")[0] == ".preserve-tmp")
            # what an organisation and a collection are, written beside their packages
            descriptors = {
                k
                for k in found
                if k.rsplit("/", 1)[-1] in ("_organisation.json", "_collection.json")
            }
            unaccounted = sorted(
                k
                for k in found
                if k not in expected and k not in temporary and k not in descriptors
            )
            missing = sorted(k for k in expected if k not in found)
            if temporary:
                total = sum(found[k] for k in temporary)
                problems.append(
                    (
                        "temporary files left",
                        f"{len(temporary)} files, {total:,} bytes on {url}: {temporary[:3]}",
                    )
                )
            if unaccounted:
                total = sum(found[k] for k in unaccounted)
                problems.append(
                    (
                        "objects no catalogue row accounts for",
                        f"{len(unaccounted)} objects, {total:,} bytes on {url}: {unaccounted[:3]}",
                    )
                )
            if missing:
                problems.append(
                    ("catalogued files missing", f"{len(missing)} on {url}: {missing[:3]}")
                )
            present = [k for k in expected if k in found]
            if url.startswith("file:") or self.read_back_s3:
                with ThreadPoolExecutor(8) as pool:
                    read = list(pool.map(lambda k, u=url: (k, self._safe_read(u, k)), present))
                wrong = sorted(k for k, got in read if got != expected[k])
            else:  # the sizes listed; the digests are fixity's to check
                wrong = sorted(k for k in present if found[k] != expected[k][0])
            if wrong:
                problems.append(
                    (
                        "catalogued files differ",
                        f"{len(wrong)} on {url} (size or SHA-256 not the catalogue's): {wrong[:3]}",
                    )
                )
            if url.startswith("file:"):
                problems += self._empty_folders(url)
            else:
                problems += self._unfinished_uploads(url)
        return problems

    def _safe_read(self, url: str, key: str) -> tuple[int, str] | str:
        try:
            return self._read(url, key)
        except Exception as exc:  # reported as a difference, with the reason
            return f"unreadable: {exc}"

    @staticmethod
    def _empty_folders(url: str) -> list[tuple[str, str]]:
        from preserve.storage.local import parse_file_url

        root = Path(parse_file_url(url))
        empty = []
        for dirpath, dirnames, filenames in os.walk(root):
            path = Path(dirpath)
            rel = path.relative_to(root).as_posix()
            # the temporary area is preserve's own scratch space: files there count (above),
            # its folders do not
            if rel == "." or rel.split("/")[0] == ".preserve-tmp" or dirnames or filenames:
                continue
            empty.append(rel)
        if not empty:
            return []
        return [("empty folders left", f"{len(empty)} under {url}: {sorted(empty)[:3]}")]

    def _unfinished_uploads(self, url: str) -> list[tuple[str, str]]:
        bucket, _prefix = self.s3_location(url)
        uploads = [
            upload["Key"]
            for page in self._client()
            .get_paginator("list_multipart_uploads")
            .paginate(Bucket=bucket)
            for upload in page.get("Uploads", [])
        ]
        if not uploads:
            return []
        return [
            (
                "unfinished multipart uploads left",
                f"{len(uploads)} on {url}: {sorted(uploads)[:3]}",
            )
        ]


def run_trial(
    configuration: Configuration,
    workdir: Path,
    delivery: Delivery,
    *,
    iterations: int,
    seed: int,
    baseline_runs: int = 1,
    postgres_admin_url: str | None = None,
    s3: S3Access | None = None,
    workers: int | None = None,
    read_back_s3: bool = True,
    signals: Sequence[signal.Signals] = (),
    window: tuple[float, float] = (0.0, 1.0),
    progress: Callable[[str], None] | None = None,
) -> TrialResult:
    """``baseline_runs`` uninterrupted ingests (their median duration sets the range of kill
    moments), then ``iterations`` killed ones, each re-run and checked.

    ``signals`` restricts the signals sent (default: :data:`SIGNALS`, weighted); ``window``
    the kill moments, as fractions of the duration of a complete ingest (to aim at a stage)."""
    say = progress or (lambda _message: None)
    rng = random.Random(f"{seed}/{configuration.name}")
    result = TrialResult(configuration, delivery=delivery.describe())
    choices = list(signals) or [s for s, _ in SIGNALS]
    weights = [1] * len(choices) if signals else [w for _, w in SIGNALS]
    with Trial(
        configuration,
        workdir,
        delivery,
        postgres_admin_url=postgres_admin_url,
        s3=s3,
        workers=workers,
        read_back_s3=read_back_s3,
    ) as trial:
        for run in range(baseline_runs):
            it = trial.uninterrupted()
            result.baseline.append(it)
            say(
                f"[{configuration.name}] uninterrupted ingest {run + 1}/{baseline_runs}: "
                f"{it.seconds:.2f} s, {_verdict(it)}"
            )
        for number in range(1, iterations + 1):
            # the recent complete ingests (the uninterrupted runs, then the re-runs that stored
            # the package) follow the machine's load as it changes
            duration = statistics.median(result.durations()[-RECENT:])
            sig = rng.choices(choices, weights)[0]
            delay = rng.uniform(window[0] * duration, window[1] * duration)
            it = trial.killed(number, delay, sig, duration)
            result.iterations.append(it)
            sent = f"{sig.name} at {delay:.2f} s ({it.fraction:.0%})"
            say(
                f"[{configuration.name}] {number}/{iterations} {sent} in {it.stage}, exit "
                f"{it.exit_status}, re-run {it.rerun}: {_verdict(it)}"
            )
    return result


def _verdict(it: Iteration) -> str:
    if not it.violations:
        return "ok"
    return f"{_count(len(it.violations), 'violation')}: " + "; ".join(
        f"{v.kind}: {v.detail}" for v in it.violations
    )


# ----------------------------------------------------------------------------- the report


WHAT_IT_CHECKS = """\
## What the kill test checks

Each configuration (catalogue: SQLite or PostgreSQL; storage: a local folder or an S3 bucket, here a
moto server) gets one repository (`preserve init`, `preserve collections add c`), reset to that
state before every iteration. An iteration starts the real `preserve ingest DELIVERY --collection c`
and signals it at a moment drawn uniformly between 0 and the median duration of the recent complete
ingests of the same delivery: SIGKILL 70 % of the time (`kill -9` of the process), SIGTERM 15 %
(`kill`, systemd, `docker stop`), SIGINT 15 % (Ctrl-C: the whole process group). After SIGTERM or
SIGINT the ingest must stop within a minute with status 143 or 130 (death by the signal itself
passes too, and 0 when the signal came in the final transaction or later) and print no traceback;
whatever it started must be gone within 10 s. The same ingest then runs again and must exit 0,
stored or duplicate. Then every invariant is checked: no package left `ingesting`; exactly one
package stored in the collection, fully registered (a payload row with the delivery's own size and
SHA-256 for every file, the tag files, a verified copy on each of the collection's locations, PREMIS
events); `preserve fixity --all` passes and every catalogued file, read back by the harness itself,
has its size and SHA-256 on every location; no object, temporary file (`.preserve-tmp/...`), empty
folder (outside `.preserve-tmp`) or unfinished multipart upload that no catalogue row accounts for;
staging empty.

The stage is told from what the ingest had left when the signal was sent (for SIGKILL, right after
it): nothing yet (start-up: interpreter, recovery, checks), a staging folder (receive/stage), an
`ingesting` row with payload objects arriving (store payload), every payload object but no tag file
(identify/describe), tag files arriving (store tags/register), the package `stored` (finish). Large
files are uploaded to S3 in 5 MiB parts, so multipart uploads are killed too. `make test` runs 3
iterations per configuration on a smaller delivery (tests/reliability/test_kill.py; there the
harness compares the sizes of S3 objects and leaves their digests to fixity); `make soak` runs 50
(`make soak SOAK_ITERATIONS=200` for more).
"""


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _fraction_bin(fraction: float) -> int:
    for i, upper in enumerate(FRACTION_BINS):
        if fraction < upper:
            return i
    return len(FRACTION_BINS) - 1


def render_report(results: Sequence[TrialResult], info: Mapping[str, str], command: str) -> str:
    ran = [r for r in results if not r.skipped]
    total = sum(len(r.violations) for r in ran)
    kills = sum(sum(r.kills().values()) for r in ran)
    lines = [
        "# Reliability: ingest killed at random moments",
        "",
        "Written by `make soak` (bench/soak.py); what it checks is at the end.",
        "",
        f"**{_count(sum(len(r.iterations) for r in ran), 'iteration')}, "
        f"{_count(kills, 'kill')}, {_count(total, 'violation')}.**",
        "",
    ]
    lines += [f"- **{key}**: {value}" for key, value in info.items()]
    lines += [f"- **command**: `{command}`", "", "## Results", ""]
    signal_names = [s.name for s, _ in SIGNALS]
    rows: list[list[object]] = []
    for r in results:
        if r.skipped:
            rows.append([r.configuration.name, "not run: " + r.skipped, *[""] * 8])
            continue
        kills_by = r.kills()
        reruns = r.reruns()
        ok = sum(1 for i in r.iterations if i.rerun in ("stored", "duplicate"))
        rows.append(
            [
                r.configuration.name,
                len(r.iterations),
                *(kills_by.get(name, 0) for name in signal_names),
                sum(1 for i in r.iterations if not i.signalled),
                f"{ok} ({reruns.get('stored', 0)} stored, {reruns.get('duplicate', 0)} duplicate)",
                sum(1 for i in r.iterations if i.recovered),
                f"{r.duration:.2f} s ({_count(len(r.durations()), 'ingest')})",
                len(r.violations),
            ]
        )
    lines += _table(
        [
            "configuration",
            "iterations",
            *signal_names,
            "finished before the signal",
            "re-runs ok",
            "re-runs that cleaned up",
            "complete ingest (median)",
            "violations",
        ],
        rows,
    )
    lines += ["", "### Kills by stage", ""]
    lines += _table(
        ["configuration", *STAGES],
        [[r.configuration.name, *(r.stages().get(s, 0) for s in STAGES)] for r in ran],
    )
    lines += ["", "### Kill moments, as a fraction of an uninterrupted ingest", ""]
    lows = (0.0, *FRACTION_BINS[:-1])
    bins = [f"{lo:.0%}–{hi:.0%}" for lo, hi in zip(lows, FRACTION_BINS, strict=True)]
    fraction_rows = []
    for r in ran:
        counts = Counter(_fraction_bin(i.fraction) for i in r.iterations)
        fraction_rows.append([r.configuration.name, *(counts.get(i, 0) for i in range(len(bins)))])
    lines += _table(["configuration", *bins], fraction_rows)
    lines += ["", "## Violations", ""]
    violations = [v for r in ran for v in r.violations]
    if not violations:
        lines.append("None.")
    else:
        lines += _table(
            ["configuration", "iteration", "signal", "after", "stage", "what was wrong"],
            [
                [
                    v.configuration,
                    v.iteration or "uninterrupted",
                    v.signal,
                    f"{v.delay:.2f} s ({v.fraction:.0%})" if v.signal != "none" else "",
                    v.stage,
                    f"**{v.kind}**: {v.detail}".replace("|", "\\|"),
                ]
                for v in violations
            ],
        )
        outputs = dict.fromkeys(
            (v.configuration, v.iteration, v.output) for v in violations if v.output
        )
        if outputs:
            lines += ["", "What the signalled runs and their re-runs printed:", ""]
            lines += [f"- {c} #{i}: {out}" for c, i, out in outputs]
    lines += ["", WHAT_IT_CHECKS.rstrip()]
    return "\n".join(lines) + "\n"


def _commit() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "?"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "preserve", "config")
    return commit + (" (with uncommitted changes to preserve/ or config/)" if dirty else "")


# ----------------------------------------------------------------------------- command line


def _signal(text: str) -> signal.Signals:
    name = text.upper()
    name = name if name.startswith("SIG") else "SIG" + name
    allowed = [s for s, _ in SIGNALS]
    if name not in {s.name for s in allowed}:
        raise argparse.ArgumentTypeError(f"{text!r}: one of {', '.join(s.name for s in allowed)}")
    return signal.Signals[name]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description="Kill preserve ingest at random moments and check the invariants after "
        "each re-run; writes docs/reliability.md.",
    )
    parser.add_argument(
        "--iterations", type=int, default=50, help="killed ingests per configuration (50)"
    )
    parser.add_argument(
        "--config",
        dest="configs",
        action="append",
        type=Configuration.parse,
        help="CATALOGUE/STORAGE, e.g. sqlite/local (repeatable; default: all four)",
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    parser.add_argument(
        "--baseline-runs",
        type=int,
        default=3,
        help="uninterrupted ingests per configuration, whose median sets the kill moments (3)",
    )
    parser.add_argument(
        "--signal",
        dest="signals",
        action="append",
        type=_signal,
        help="send only this signal (KILL, TERM or INT; repeatable; default: the weighted mix)",
    )
    parser.add_argument(
        "--window",
        nargs=2,
        type=float,
        default=(0.0, 1.0),
        metavar=("FROM", "TO"),
        help="kill moments between these fractions of a complete ingest (default 0 1)",
    )
    parser.add_argument(
        "--small", action="store_true", help="the test suite's smaller delivery (a quick look)"
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="PRESERVE_WORKERS (default: preserve's own)"
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="scratch folder (default: a temporary one)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="the report (default docs/reliability.md)",
    )
    args = parser.parse_args(argv)
    if args.iterations < 1 or args.baseline_runs < 1:
        parser.error("--iterations and --baseline-runs must be at least 1")
    if not 0 <= args.window[0] <= args.window[1]:
        parser.error("--window FROM TO needs 0 <= FROM <= TO")
    return args


@contextlib.contextmanager
def _s3_access() -> Iterator[S3Access]:
    external = os.environ.get(S3_ENDPOINT_VARIABLE)
    if external:
        import boto3
        from botocore.config import Config

        client = boto3.client(
            "s3", endpoint_url=external, config=Config(s3={"addressing_style": "path"})
        )
        try:
            yield S3Access(external.rstrip("/"), client, {})
        finally:
            client.close()
        return
    server = S3Endpoint()
    try:
        yield S3Access(server.endpoint, server.client, dict(S3_ENV))
    finally:
        server.close()


def run(args: argparse.Namespace) -> int:
    configs: list[Configuration] = args.configs or list(CONFIGURATIONS)
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    admin_url = os.environ.get(POSTGRES_URL_VARIABLE) or None
    with contextlib.ExitStack() as stack:
        if args.workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="soak-")))
        else:
            workdir = args.workdir.absolute()
            workdir.mkdir(parents=True, exist_ok=True)
        spec = TEST_DELIVERY if args.small else SOAK_DELIVERY
        delivery_path = workdir / "delivery"
        shutil.rmtree(delivery_path, ignore_errors=True)
        delivery = make_delivery(delivery_path, spec, seed)
        log(f"soak: seed {seed}; delivery {delivery.describe()}")
        s3 = stack.enter_context(_s3_access()) if any(c.storage == "s3" for c in configs) else None
        info = {
            key: value
            for key, value in describe_machine(workdir).items()
            if key in ("date", "CPU", "cores", "RAM", "OS", "Python", "work folder")
        }
        info["commit"] = _commit()
        info["delivery"] = delivery.describe()
        info["seed"] = str(seed)
        results = []
        for config in configs:
            if config.catalogue == "postgresql" and admin_url is None:
                reason = f"{POSTGRES_URL_VARIABLE} is not set"
                log(f"soak: {config.name} NOT RUN: {reason}")
                results.append(TrialResult(config, skipped=reason))
                continue
            results.append(
                run_trial(
                    config,
                    workdir / config.slug,
                    delivery,
                    iterations=args.iterations,
                    seed=seed,
                    baseline_runs=args.baseline_runs,
                    postgres_admin_url=admin_url,
                    s3=s3 if config.storage == "s3" else None,
                    workers=args.workers,
                    signals=args.signals or (),
                    window=tuple(args.window),
                    progress=log,
                )
            )
    argv = " ".join(shlex.quote(a) for a in args.argv)
    report = render_report(results, info, f"python -m bench.soak {argv}".strip())
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report, encoding="utf-8")
    violations = [v for r in results for v in r.violations]
    log(f"soak: {_count(len(violations), 'violation')}; report written to {args.output}")
    for v in violations:
        log(f"  {v.describe(output=True)}")
    for r in results:
        if r.skipped:
            log(f"soak: WARNING: {r.configuration.name} was not run ({r.skipped})")
    return 1 if violations else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]

    def terminate(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")  # runs the clean-up of the trial under way

    signal.signal(signal.SIGTERM, terminate)
    try:
        return run(args)
    except SoakError as exc:
        log(f"soak: error: {exc}")
        return 2
    except KeyboardInterrupt:
        log("soak: interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
