"""``python -m bench.workers``: what background jobs cost, with real ``preserve worker`` processes.

Two measurements (``make bench`` runs both and puts them in the "Workers" section of
docs/benchmarks.md; this module alone runs just these):

1. **Queue overhead**: ``noop`` jobs (the empty job) submitted with
   :func:`preserve.services.jobs.submit` and run by one real worker (``preserve worker
   --concurrency 1``), on the embedded filesystem transport, Redis and RabbitMQ. One at a time
   (submit, wait until the row says ``succeeded``, next): the latency of a job end to end and
   where it goes (the submitting transaction, the publish, the wait until a worker claims it,
   the run). Then a burst (all submitted at once): jobs per second.
2. **Fixity throughput**: a corpus of stored packages (ingested first, untimed) checked by
   ``fixity`` jobs, one per package (:func:`preserve.services.schedule.queue_check`, as
   ``preserve fixity --package ID --async`` queues them), run by one worker process
   (``--concurrency 1``), one worker with two processes (``--concurrency 2``) and two worker
   processes, against the foreground ``preserve fixity --all`` on the same corpus; on the local
   location and on an S3 location (a moto server in a subprocess). The page cache is dropped
   before every timed run (as root on Linux; otherwise it is said).

    python -m bench.workers                      # the full section, printed
    python -m bench.workers --merge docs/benchmarks.md   # ... and put into the document
    python -m bench.workers --tiny               # seconds: tiny sizes (the tests)
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

from bench.corpus import CorpusSpec, corpus_files, ensure_corpus
from bench.run import (
    DEFAULT_WORKDIR,
    MB,
    REPO,
    S3_ENV,
    BenchError,
    Caches,
    S3Endpoint,
    _clean_env,
    _loadavg,
    _tail,
    _version,
    descendants,
    log,
    preserve_command,
    run_measured,
)

SECTION = "## Workers"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
DEFAULT_RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"
#: where the PostgreSQL rows create (and drop) a database of their own
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
POSTGRES_LABEL = "local, PostgreSQL catalogue"
BROKERS = ("filesystem", "redis", "rabbitmq")
LOCATIONS = ("local", "s3")
ENDED = ("succeeded", "failed", "cancelled")
#: How long anything is waited for before the benchmark gives up (never a measured bound).
PATIENCE = 300.0
POLL = 0.01  # seconds between two looks at a job row

# how the fixity checks run, in table order
FOREGROUND = "foreground `preserve fixity --all`"
ONE = "1 worker process (`--concurrency 1`)"
POOL2 = "1 worker, 2 processes (`--concurrency 2`)"
TWO = "2 worker processes (`--concurrency 1` each)"
MODES = (FOREGROUND, ONE, POOL2, TWO)
#: mode -> the ``--concurrency`` of each worker started
WORKER_LAYOUT: dict[str, list[int]] = {ONE: [1], POOL2: [2], TWO: [1, 1]}


@dataclass(frozen=True)
class Sizes:
    noop_jobs: int  # the burst
    noop_sequential: int  # one at a time
    #: the same on the embedded transport, which a worker polls once a second (1 job/s)
    noop_jobs_embedded: int
    noop_sequential_embedded: int
    packages: int
    files: int  # per package
    file_size: int
    runs: int

    def spec(self, n: int) -> CorpusSpec:
        return CorpusSpec(
            "W",
            f"workers-{self.files}x{self.file_size}-{n:03d}",
            self.files,
            self.file_size,
            0,
            f"package {n}",
        )

    @property
    def corpus_bytes(self) -> int:
        return self.packages * self.files * self.file_size

    def describe(self) -> str:
        return (
            f"{self.packages} packages of {self.files} files of {self.file_size / MB:g} MB "
            f"(random bytes): {self.packages * self.files:,} files, "
            f"{self.corpus_bytes / MB:,.0f} MB"
        )


FULL = Sizes(
    noop_jobs=200,
    noop_sequential=100,
    noop_jobs_embedded=40,
    noop_sequential_embedded=20,
    packages=8,
    files=16,
    file_size=8 * MB,
    runs=3,
)
TINY = Sizes(
    noop_jobs=10,
    noop_sequential=5,
    noop_jobs_embedded=4,
    noop_sequential_embedded=3,
    packages=3,
    files=2,
    file_size=100_000,
    runs=1,
)


# ----------------------------------------------------------------------------- results


@dataclass
class QueueRow:
    broker: str
    #: one job at a time: seconds from submit to the row's finished_at, and its parts
    latency: list[float] = field(default_factory=list)
    submit: list[float] = field(default_factory=list)  # the submit call (transaction + publish)
    publish: list[float] = field(default_factory=list)  # of which the publish
    wait: list[float] = field(default_factory=list)  # submit returned -> claimed (started_at)
    run: list[float] = field(default_factory=list)  # started_at -> finished_at
    burst_jobs: int = 0
    burst_seconds: float = 0.0
    burst_latency: list[float] = field(default_factory=list)
    skipped: str = ""  # why the broker was not measured

    @property
    def jobs_per_s(self) -> float:
        return self.burst_jobs / self.burst_seconds if self.burst_seconds else 0.0


@dataclass
class FixityRow:
    location: str
    mode: str
    packages: int
    files: int
    nbytes: int
    jobs: int
    samples: list[float] = field(default_factory=list)
    dropped: list[bool] = field(default_factory=list)
    broker: str = ""
    #: CPU seconds used during each run by the worker processes (with their pools) and by the
    #: moto S3 server process
    worker_cpu: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)
    #: seconds from claim to end (started_at to finished_at) of every job of every run
    job_seconds: list[float] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return statistics.median(self.samples)

    @property
    def mb_per_s(self) -> float:
        return self.nbytes / MB / self.seconds

    @property
    def files_per_s(self) -> float:
        return self.files / self.seconds


@dataclass
class Section:
    sizes: Sizes
    queue: list[QueueRow]
    fixity: list[FixityRow]
    fixity_broker: str
    notes: list[str]
    run: dict[str, str]


def percentile(values: Sequence[float], share: float) -> float:
    """The ``share`` quantile (0..1) of ``values``, by linear interpolation between ranks."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = share * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# ----------------------------------------------------------------------------- a repository


class Repository:
    """A fresh PRESERVE_HOME (embedded SQLite catalogue, local location), its environment for
    the command line and the workers, and an Application in this process to submit jobs and
    read their rows."""

    def __init__(self, folder: Path, broker_url: str, s3: bool, postgres: str = "") -> None:
        self.home = folder
        self.queue = f"preserve-bench-{uuid.uuid4().hex[:12]}"
        self.broker_url = broker_url
        self.env = _clean_env()
        self.env["PRESERVE_HOME"] = str(folder)
        self.env["PRESERVE_BROKER_QUEUE"] = self.queue
        if broker_url:
            self.env["PRESERVE_BROKER_URL"] = broker_url
        if s3:
            self.env.update(S3_ENV)
        self._app: Any = None
        self._postgres = (postgres, "")
        folder.mkdir(parents=True)
        if postgres:
            database = create_database(postgres)
            self._postgres = (postgres, database)
            self.env["PRESERVE_DATABASE_URL"] = database
        self.preserve("init")

    def preserve(self, *args: str) -> str:
        done = subprocess.run(
            [*preserve_command(), *args],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise BenchError(
                f"preserve {' '.join(args)} exited {done.returncode}: {_tail(done.stderr)}"
            )
        return done.stdout

    @property
    def app(self) -> Any:
        if self._app is None:
            from preserve.config.settings import Settings

            from preserve.bootstrap import bootstrap
            from preserve.services.runner import load_handlers

            load_handlers()
            self._app = bootstrap(Settings.from_env(self.env), actor="bench")
        return self._app

    def jobs(self, ids: Sequence[str]) -> list[Any]:
        """The rows of jobs ``ids`` (JobRecords)."""
        from preserve.services import jobs

        return [jobs.show(self.app, i) for i in ids]

    def count_ended(self, ids: Sequence[str]) -> int:
        import sqlalchemy as sa

        from preserve.catalogue.models import Job

        with self.app.uow() as uow:
            return int(
                uow.session.execute(
                    sa.select(sa.func.count())
                    .select_from(Job)
                    .where(Job.id.in_(list(ids)), Job.state.in_(ENDED))
                ).scalar_one()
            )

    def wait_ended(self, ids: Sequence[str], workers: Sequence[Worker], poll: float) -> None:
        """Until every job of ``ids`` has ended (a worker that exits is an error)."""
        deadline = time.monotonic() + PATIENCE
        while self.count_ended(ids) < len(ids):
            for w in workers:
                w.check_alive()
            if time.monotonic() > deadline:
                raise BenchError(f"jobs not ended after {PATIENCE:.0f} s: {ids[:3]}...")
            time.sleep(poll)

    def close(self) -> None:
        if self._app is not None:
            with contextlib.suppress(Exception):
                self._app.close()
        if self.broker_url:
            with contextlib.suppress(Exception):
                remove_queue(self.broker_url, self.queue)
        admin, database = self._postgres
        if database:
            drop_database(admin, database)


def create_database(admin_url: str) -> str:
    """A new, empty PostgreSQL database on the server of ``admin_url``; its URL."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    name = f"preserve_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, url: str) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    name = make_url(url).database
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def postgres_answers(admin_url: str) -> str:
    """'' when the PostgreSQL server answers, else why not."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    try:
        engine = create_engine(admin_url, poolclass=NullPool, connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        finally:
            engine.dispose()
    except Exception as exc:
        return " ".join(str(exc).split())[:200] or type(exc).__name__
    return ""


def remove_queue(url: str, name: str) -> None:
    """Delete the benchmark's queue (and its exchange) from a shared broker."""
    from kombu import Connection, Exchange, Queue

    with Connection(url, connect_timeout=3) as conn:
        channel = conn.channel()
        try:
            Queue(name, Exchange(name, type="direct"), name).bind(channel).delete()
            if url.startswith("amqp"):
                Exchange(name, type="direct").bind(channel).delete()
        finally:
            channel.close()


def broker_answers(url: str) -> str:
    """'' when the broker at ``url`` answers, else why not."""
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
    except Exception as exc:
        return " ".join(str(exc).split()) or type(exc).__name__
    return ""


# ----------------------------------------------------------------------------- workers


class Worker:
    """A ``preserve worker`` process in a process group of its own (its pool with it)."""

    def __init__(self, repo: Repository, concurrency: int, log_path: Path) -> None:
        self.log_path = log_path
        with open(log_path, "wb") as out:
            self.process = subprocess.Popen(
                [*preserve_command(), "worker", "--concurrency", str(concurrency)],
                env=repo.env,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            text = self.log_path.read_text(errors="replace")
            raise BenchError(f"a worker exited {self.process.returncode}: {_tail(text)}")

    def stop(self) -> None:
        """SIGTERM to the group (the worker's warm shutdown), SIGKILL if it lingers."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        else:  # the pool may outlive a main process that died
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)


@contextlib.contextmanager
def running_workers(
    repo: Repository, layout: Sequence[int], folder: Path, warm_up: int
) -> Iterator[list[Worker]]:
    """Start a worker per entry of ``layout`` (its concurrency), wait until they run jobs:
    ``warm_up`` noop jobs submitted at once have all succeeded (each pool process that took
    one has built its application and loaded its handlers). Untimed; stopped at the end."""
    from preserve.services import jobs

    started: list[Worker] = []
    try:
        for concurrency in layout:
            name = f"worker-{uuid.uuid4().hex[:6]}.log"
            started.append(Worker(repo, concurrency, folder / name))
        ids = [jobs.submit(repo.app, "noop", {}, requested_by="bench").id for _ in range(warm_up)]
        repo.wait_ended(ids, started, 0.05)
        bad = [j for j in repo.jobs(ids) if j.state != "succeeded"]
        if bad:
            raise BenchError(f"warm-up job {bad[0].id} {bad[0].state}: {bad[0].error}")
        yield started
    finally:
        for w in started:
            w.stop()


# ----------------------------------------------------------------------------- queue overhead


def _seconds(later: datetime.datetime, earlier: datetime.datetime) -> float:
    return (_aware(later) - _aware(earlier)).total_seconds()


def _aware(value: datetime.datetime) -> datetime.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def measure_queue(broker: str, url: str, sizes: Sizes, scratch: Path) -> QueueRow:
    """Noop jobs on one broker through one worker (``--concurrency 1``): one at a time, then a
    burst."""
    from preserve.services import jobs
    from preserve.services.runner import publisher

    row = QueueRow(broker)
    repo = Repository(scratch / f"queue-{broker}-{uuid.uuid4().hex[:6]}", url, s3=False)
    try:
        with running_workers(repo, [1], scratch, warm_up=1) as workers:
            app = repo.app
            publish = publisher(app)
            published: list[float] = []

            def timed_publish(job_id: str) -> None:
                start = time.perf_counter()
                publish(job_id)
                published.append(time.perf_counter() - start)

            embedded = broker == "filesystem"
            sequential = sizes.noop_sequential_embedded if embedded else sizes.noop_sequential
            burst = sizes.noop_jobs_embedded if embedded else sizes.noop_jobs
            for _ in range(sequential):
                before = datetime.datetime.now(UTC)
                start = time.perf_counter()
                job = jobs.submit(app, "noop", {}, requested_by="bench", publish=timed_publish)
                submitted = time.perf_counter() - start
                repo.wait_ended([job.id], workers, POLL)
                (done,) = repo.jobs([job.id])
                if done.state != "succeeded" or done.started_at is None:
                    raise BenchError(f"noop job {done.id} {done.state}: {done.error}")
                assert done.finished_at is not None
                row.latency.append(_seconds(done.finished_at, before))
                row.submit.append(submitted)
                row.publish.append(published[-1])
                row.wait.append(_seconds(done.started_at, before) - submitted)
                row.run.append(_seconds(done.finished_at, done.started_at))

            before = datetime.datetime.now(UTC)
            ids = [jobs.submit(app, "noop", {}, requested_by="bench").id for _ in range(burst)]
            repo.wait_ended(ids, workers, 0.05)
            rows = repo.jobs(ids)
            bad = [j for j in rows if j.state != "succeeded"]
            if bad:
                raise BenchError(f"noop job {bad[0].id} {bad[0].state}: {bad[0].error}")
            last = max(_aware(j.finished_at) for j in rows)
            row.burst_jobs = len(ids)
            row.burst_seconds = _seconds(last, before)
            row.burst_latency = [_seconds(j.finished_at, j.created_at) for j in rows]
    finally:
        repo.close()
        shutil.rmtree(repo.home, ignore_errors=True)
    log(
        f"  {broker}: latency median {statistics.median(row.latency) * 1000:.1f} ms, "
        f"p95 {percentile(row.latency, 0.95) * 1000:.1f} ms; burst {row.jobs_per_s:.1f} jobs/s"
    )
    return row


# ----------------------------------------------------------------------------- fixity


@dataclass
class Corpus:
    folders: list[Path]
    files: int
    nbytes: int


def ensure_fixity_corpus(workdir: Path, sizes: Sizes) -> Corpus:
    folders = []
    for n in range(sizes.packages):
        path, _ = ensure_corpus(workdir, sizes.spec(n))
        folders.append(path)
    files = [f for p in folders for f in corpus_files(p)]
    return Corpus(folders, len(files), sum(f.stat().st_size for f in files))


def stored_repository(
    scratch: Path, corpus: Corpus, broker_url: str, s3: S3Endpoint | None, postgres: str = ""
) -> tuple[Repository, list[str]]:
    """A fresh repository holding the corpus, one package per folder (ingested untimed, on the
    local location or on a fresh bucket of ``s3``); returns it and the package ids."""
    repo = Repository(
        scratch / f"fixity-{uuid.uuid4().hex[:6]}", broker_url, s3 is not None, postgres
    )
    if s3 is None:
        collection = "bench"
        repo.preserve("collections", "add", collection)
    else:
        _, url = s3.new_bucket()
        collection = "bench-s3"
        repo.preserve("locations", "add", "s3", url)
        repo.preserve("collections", "add", collection, "--location", "s3")
    out = repo.preserve(
        "ingest", *[str(f) for f in corpus.folders], "--collection", collection, "--json"
    )
    report = json.loads(out)
    if (report["stored"], report["files"], report["bytes"]) != (
        len(corpus.folders),
        corpus.files,
        corpus.nbytes,
    ):
        raise BenchError(f"ingest stored {report['stored']} packages, {report['files']} files")
    ids = [p["package_id"] for p in report["packages"]]
    return repo, ids


def run_foreground(repo: Repository, scratch: Path, caches: Caches) -> tuple[float, bool]:
    dropped = caches.drop()
    out = scratch / f"fixity-{uuid.uuid4().hex[:6]}.json"
    try:
        done = run_measured([*preserve_command(), "fixity", "--all", "--json"], repo.env, out)
        if done.returncode != 0:
            raise BenchError(f"preserve fixity --all exited {done.returncode}: {done.stderr}")
        checked = json.loads(out.read_text(encoding="utf-8"))
    finally:
        out.unlink(missing_ok=True)
    if not checked["ok"]:
        raise BenchError(f"preserve fixity --all did not pass: {_tail(json.dumps(checked))}")
    return done.sample.seconds, dropped


def cpu_seconds(pids: Sequence[int]) -> float:
    """CPU time (user + system) used so far by ``pids`` and every live descendant of them
    (with the children they have reaped), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for root in pids:
        for pid in [root, *descendants(root)]:
            try:
                with open(f"/proc/{pid}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[-1].split()
            except OSError:
                continue
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / tick


def run_jobs(
    repo: Repository, package_ids: Sequence[str], workers: Sequence[Worker], caches: Caches
) -> tuple[float, bool, list[float]]:
    """One fixity job per package, queued as ``preserve fixity --package ID --async`` queues
    it, from before the first is queued until the last has ended (its row's finished_at).
    Returns that time, whether the cache was dropped, and each job's time from claim to end."""
    from preserve.services.schedule import queue_check

    dropped = caches.drop()
    before = datetime.datetime.now(UTC)
    ids = [queue_check(repo.app, package_id=p).id for p in package_ids]
    repo.wait_ended(ids, workers, 0.02)
    rows = repo.jobs(ids)
    for job in rows:
        result = job.result or {}
        if job.state != "succeeded" or result.get("outcomes") != {"ok": 1}:
            raise BenchError(f"fixity job {job.id} {job.state}: {job.error} {result}")
    durations = [_seconds(j.finished_at, j.started_at) for j in rows]
    return max(_seconds(j.finished_at, before) for j in rows), dropped, durations


def measure_fixity(
    location: str,
    corpus: Corpus,
    sizes: Sizes,
    scratch: Path,
    broker_url: str,
    s3: S3Endpoint | None,
    caches: Caches,
    modes: Sequence[str] = MODES,
    postgres: str = "",
) -> list[FixityRow]:
    """The rows of one location (labelled ``location``); ``postgres``: the catalogue is a new
    database on that server instead of the embedded SQLite."""
    log(f"  {location}: ingesting {len(corpus.folders)} packages (untimed)")
    repo, package_ids = stored_repository(scratch, corpus, broker_url, s3, postgres)
    rows = []
    try:
        for mode in modes:
            jobs = 0 if mode == FOREGROUND else len(package_ids)
            row = FixityRow(location, mode, len(package_ids), corpus.files, corpus.nbytes, jobs)
            server = [s3.pid] if s3 is not None else []
            if mode == FOREGROUND:
                for _ in range(sizes.runs):
                    cpu = cpu_seconds(server)
                    seconds, dropped = run_foreground(repo, scratch, caches)
                    row.samples.append(seconds)
                    row.dropped.append(dropped)
                    if server:
                        row.server_cpu.append(cpu_seconds(server) - cpu)
            else:
                row.broker = broker_url or "filesystem://"
                layout = WORKER_LAYOUT[mode]
                with running_workers(repo, layout, scratch, warm_up=2 * sum(layout)) as workers:
                    pids = [w.process.pid for w in workers]
                    # untimed: each pool process's first fixity job imports what a check needs
                    run_jobs(repo, package_ids[: 2 * sum(layout)], workers, Caches(False))
                    for _ in range(sizes.runs):
                        cpu, server_cpu = cpu_seconds(pids), cpu_seconds(server)
                        seconds, dropped, durations = run_jobs(repo, package_ids, workers, caches)
                        row.job_seconds += durations
                        row.samples.append(seconds)
                        row.dropped.append(dropped)
                        row.worker_cpu.append(cpu_seconds(pids) - cpu)
                        if server:
                            row.server_cpu.append(cpu_seconds(server) - server_cpu)
            log(
                f"  {location}, {mode}: {row.seconds:.3f} s, {row.mb_per_s:,.0f} MB/s, "
                f"{row.files_per_s:,.0f} files/s"
            )
            rows.append(row)
    finally:
        repo.close()
        shutil.rmtree(repo.home, ignore_errors=True)
        if s3 is not None:
            s3.cleanup()
    return rows


# ----------------------------------------------------------------------------- the section


def measure(
    *,
    sizes: Sizes,
    workdir: Path,
    scratch: Path,
    caches: Caches,
    brokers: Sequence[str] = BROKERS,
    locations: Sequence[str] = LOCATIONS,
    urls: dict[str, str] | None = None,
    fixity_broker: str = "redis",
    command: str = "",
    postgres: str | None = DEFAULT_POSTGRES,
) -> Section:
    """Every measurement of the section; brokers that do not answer are skipped and said so."""
    urls = {"filesystem": "", "redis": DEFAULT_REDIS, "rabbitmq": DEFAULT_RABBITMQ, **(urls or {})}
    load_before = _loadavg()
    notes: list[str] = []
    unreachable: dict[str, str] = {}
    for name in {*brokers, fixity_broker} - {"filesystem"}:
        why = broker_answers(urls[name])
        if why:
            unreachable[name] = why
            notes.append(f"{name} at {urls[name]} did not answer ({why}): not measured.")
    queue_rows = []
    log("workers: queue overhead (noop jobs)")
    for name in brokers:
        if name in unreachable:
            queue_rows.append(QueueRow(name, skipped=unreachable[name]))
            continue
        queue_rows.append(measure_queue(name, urls[name], sizes, scratch))
    if fixity_broker in unreachable:
        notes.append(f"fixity jobs ran on the embedded filesystem transport ({fixity_broker} did "
                     "not answer).")  # fmt: skip
        fixity_broker = "filesystem"
    fixity_rows: list[FixityRow] = []
    if locations:
        log(f"workers: fixity throughput ({sizes.describe()})")
        corpus = ensure_fixity_corpus(workdir, sizes)
        for location in locations:
            s3 = S3Endpoint() if location == "s3" else None
            try:
                fixity_rows += measure_fixity(
                    location, corpus, sizes, scratch, urls[fixity_broker], s3, caches
                )
            finally:
                if s3 is not None:
                    s3.close()
        if "local" in locations and postgres:
            why = postgres_answers(postgres)
            if why:
                notes.append(
                    f"PostgreSQL did not answer ({why}): no rows on a PostgreSQL catalogue."
                )
            else:
                fixity_rows += measure_fixity(
                    POSTGRES_LABEL,
                    corpus,
                    sizes,
                    scratch,
                    urls[fixity_broker],
                    None,
                    caches,
                    postgres=postgres,
                )
    run = {
        "command": command or "python -m bench.workers",
        "date": datetime.datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load average (1, 5, 15 min)": f"{load_before} at the start, {_loadavg()} at the end",
        "versions": f"celery {_version('celery')}, kombu {_version('kombu')}, redis-py "
        f"{_version('redis')}, moto {_version('moto')}",
    }
    return Section(sizes, queue_rows, fixity_rows, fixity_broker, notes, run)


def _ms(values: Sequence[float], share: float | None = None) -> str:
    if not values:
        return "—"
    value = statistics.median(values) if share is None else percentile(values, share)
    return f"{value * 1000:,.1f}"


BROKER_NAMES = {
    "filesystem": "embedded (kombu `filesystem://` under the home)",
    "redis": "Redis",
    "rabbitmq": "RabbitMQ",
}


def queue_table(rows: Sequence[QueueRow]) -> list[str]:
    lines = [
        "| broker | jobs one at a time | latency median ms | p95 ms | submit ms (of which "
        "publish) | wait for a worker ms | run ms | burst: jobs | jobs/s | burst latency "
        "median / p95 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        name = BROKER_NAMES.get(r.broker, r.broker)
        if r.skipped:
            lines.append(f"| {name} | not measured ({r.skipped}) | | | | | | | | |")
            continue
        lines.append(
            f"| {name} | {len(r.latency)} | {_ms(r.latency)} | {_ms(r.latency, 0.95)} "
            f"| {_ms(r.submit)} ({_ms(r.publish)}) | {_ms(r.wait)} | {_ms(r.run)} "
            f"| {r.burst_jobs} | {r.jobs_per_s:,.1f} "
            f"| {_ms(r.burst_latency)} / {_ms(r.burst_latency, 0.95)} |"
        )
    return lines


def _cpu(values: Sequence[float], digits: int = 2) -> str:
    return f"{statistics.median(values):.{digits}f}" if values else "—"


def fixity_table(rows: Sequence[FixityRow]) -> list[str]:
    lines = [
        "| location | how | jobs | runs | seconds (median) | MB/s | files/s | × foreground "
        "| a job, claim to end: median s | CPU s: workers / S3 server | cache |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        fg = next((x for x in rows if x.location == r.location and x.mode == FOREGROUND), None)
        vs = "—" if fg is None or r.mode == FOREGROUND else f"{fg.seconds / r.seconds:.2f}"
        if r.location.startswith("s3"):
            cache = "objects in moto's memory"
        else:
            cache = "dropped" if all(r.dropped) else "**not dropped**"
        cpu = f"{_cpu(r.worker_cpu)} / {_cpu(r.server_cpu)}"
        lines.append(
            f"| {r.location} | {r.mode} | {r.jobs or '—'} | {len(r.samples)} | {r.seconds:.3f} "
            f"| {r.mb_per_s:,.1f} | {r.files_per_s:,.0f} | {vs} | {_cpu(r.job_seconds, 3)} "
            f"| {cpu} | {cache} |"
        )
    return lines


def findings(section: Section) -> list[str]:
    """What the numbers say, computed from them (no claim the run does not show)."""
    out = []
    for r in section.queue:
        if r.skipped or not r.latency:
            continue
        parts = {
            "the submitting transaction": statistics.median(r.submit)
            - statistics.median(r.publish),
            "the publish": statistics.median(r.publish),
            "the wait until a worker claims it": statistics.median(r.wait),
            "the run (claim to finish)": statistics.median(r.run),
        }
        total = sum(parts.values())
        top = max(parts, key=lambda k: parts[k])
        out.append(
            f"{BROKER_NAMES.get(r.broker, r.broker)}: of a median job's "
            f"{statistics.median(r.latency) * 1000:,.1f} ms, {top} takes the most "
            f"({parts[top] * 1000:,.1f} ms, {parts[top] / total:.0%} of the medians' sum)."
        )
    for location in dict.fromkeys(r.location for r in section.fixity):
        rows = {r.mode: r for r in section.fixity if r.location == location}
        one = rows.get(ONE)
        if one is None:
            continue
        said = [
            f"{label} {one.seconds / rows[mode].seconds:.2f} × as fast as one worker process"
            for mode, label in (
                (TWO, "two worker processes checked"),
                (POOL2, "one worker with two pool processes"),
                (FOREGROUND, "the foreground `preserve fixity --all`"),
            )
            if mode in rows
        ]
        if said:
            out.append(f"{location}: " + "; ".join(said) + ".")
        busy = [
            f"{mode.split(' (')[0]} {statistics.median(r.worker_cpu) / r.seconds:.2f}"
            for mode, r in rows.items()
            if r.worker_cpu
        ]
        if busy:
            out.append(
                f"{location}: cores kept busy by the workers (CPU seconds over the run's "
                f"seconds, of {os.cpu_count()}): " + ", ".join(busy) + "."
            )
        server = [
            f"{mode.split(' (')[0]} {statistics.median(r.server_cpu) / r.seconds:.2f}"
            for mode, r in rows.items()
            if r.server_cpu
        ]
        if server:
            out.append(
                f"{location}: cores kept busy by the moto S3 server (one Python process): "
                + ", ".join(server)
                + "."
            )
    return out


METHOD = """\
- **Processes.** Every worker is a real `preserve worker --concurrency N` process (Celery's
  prefork pool, acks late, prefetch 1; its own process group, stopped with SIGTERM after its
  measurement), started on a fresh `PRESERVE_HOME` (embedded SQLite catalogue) with a queue of
  its own on the broker (`PRESERVE_BROKER_QUEUE`, removed afterwards). Before anything is timed
  the workers have run a few `noop` jobs (so each pool process has built its application and
  loaded the job handlers). Jobs are submitted from the benchmark process with the services
  (`preserve.services.jobs.submit`, `preserve.services.schedule.queue_check`), as the command
  line does, and their end is read from their rows in the catalogue. Before the timed fixity
  runs of a worker layout, an untimed round of fixity jobs (two per pool process) lets each
  pool process import what a check needs.
- **Queue overhead**: `noop` jobs (the empty job: claim, one lease check, succeed) through one
  worker (`--concurrency 1`). *One at a time*: submit, then wait for the row to end before the
  next; **latency** is from just before `submit` to the row's `finished_at` (the worker's clock,
  the same machine). It splits into **submit** (the job's transaction and, after its commit, the
  publish of its message; the **publish** alone in brackets), **wait for a worker** (from the
  end of submit to the row's `started_at`, set by the worker's claim: broker delivery, Celery
  handing the message to its pool process, the claim's transaction) and **run** (`started_at` to
  `finished_at`: the handler and the lease bookkeeping). *Burst*: all the jobs submitted at once,
  one after another; **jobs/s** is their number over the time from before the first submit to
  the last `finished_at`, and the burst latency is `created_at` to `finished_at` of each (mostly
  waiting behind the others). The embedded transport runs fewer jobs (see the table): Celery's
  worker reads kombu's virtual transports by polling, every `polling_interval` seconds (kombu's
  default, 1 s; preserve does not set it), so one worker takes about one job a second there.
- **Fixity throughput**: the corpus is ingested untimed, one package per folder, into a fresh
  home (the local location, or a collection on a fresh bucket of a moto S3 server in its own
  process). *Foreground*: `preserve fixity --all --json` end to end as a subprocess (start-up
  included). *Workers*: one `fixity` job per package, queued as `preserve fixity --package ID
  --async` queues it (`queue_check`: the selection is claimed by the job when it runs), timed
  from before the first is queued to the last job's `finished_at`; every job must succeed with
  its copy `ok`. The scheduler's own dispatch (`dispatch_due`) would put up to 100 copies or
  4 GiB into one job, so a corpus this small would be a single job and a second worker would
  have nothing to do; one job per package is how the work is spread here. **MB/s** and
  **files/s** are corpus (payload) bytes and files over the median time; **× foreground** is
  the foreground run's time over the row's. **A job, claim to end**: the median over the
  jobs of all runs of `finished_at - started_at` (a package's check, its records and event
  file, and the job's own bookkeeping). **CPU s** (medians): the user + system time the
  worker processes (main process and pool, from `/proc/<pid>/stat`, before and after the run)
  and the moto server process used during a run; with 2 cores, twice the run's seconds is all
  the machine has.
- **Catalogue**: embedded SQLite (one writer at a time, which is why `preserve worker` runs
  one process on it by default), except the rows *local, PostgreSQL catalogue*: the same local
  corpus with the catalogue in a new database on the machine's PostgreSQL server (created
  before, dropped after), as workers on several machines share it.
- **Cache**: before every timed fixity run, `sync` and (as root on Linux) `echo 1 >
  /proc/sys/vm/drop_caches`, so the local checks read the device; the workers and their
  interpreters stay in memory, as a running worker's would. The S3 location's objects live in
  moto's memory, so those rows measure the S3 code path and the HTTP round trips, not a disk.
"""


def render_section(section: Section) -> list[str]:
    fixity_broker = BROKER_NAMES.get(section.fixity_broker, section.fixity_broker)
    out = [
        SECTION,
        "",
        "Background jobs through real `preserve worker` processes (`python -m bench.workers`; "
        "`make bench` runs it too). Method below.",
        "",
        *[f"- **{k}**: {v}" for k, v in section.run.items()],
        "",
        "### Queue overhead per job (the empty `noop` job, one worker)",
        "",
        *queue_table(section.queue),
        "",
    ]
    if section.fixity:
        out += [
            "### Fixity throughput",
            "",
            f"Corpus: {section.sizes.describe()}; fixity jobs on {fixity_broker}; times are "
            f"medians of {section.sizes.runs} run(s).",
            "",
            *fixity_table(section.fixity),
            "",
        ]
    found = findings(section)
    if found or section.notes:
        out += ["### What dominates", "", *[f"- {x}" for x in [*found, *section.notes]], ""]
    out += ["### Method (workers)", "", METHOD]
    return out


def merge_section(document: str, lines: Sequence[str]) -> str:
    """``document`` with its Workers section replaced by ``lines`` (or inserted before its
    "## Method" heading, else at the end)."""
    text = "\n".join(lines).rstrip("\n") + "\n"
    parts = document.split("\n")
    try:
        start = parts.index(SECTION)
    except ValueError:
        start = -1
    if start >= 0:
        end = next(
            (i for i in range(start + 1, len(parts)) if parts[i].startswith("## ")), len(parts)
        )
        rest = "\n".join(parts[end:])
        return "\n".join(parts[:start]) + "\n" + text + ("\n" + rest if rest else "")
    if "## Method" in parts:
        i = parts.index("## Method")
        return "\n".join(parts[:i]) + "\n" + text + "\n" + "\n".join(parts[i:])
    return document.rstrip("\n") + "\n\n" + text


# ----------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.workers",
        description="Measure the queue overhead per job and fixity throughput with real "
        "preserve worker processes; print the Workers section (Markdown).",
    )
    p.add_argument("--tiny", action="store_true", help="tiny sizes, one run (for the tests)")
    p.add_argument("--runs", type=int, default=None, help="timed runs per fixity row (3)")
    p.add_argument("--jobs", type=int, default=None, help="noop jobs in the burst (200)")
    p.add_argument(
        "--brokers", default=",".join(BROKERS), help="comma-separated, of " + ", ".join(BROKERS)
    )
    p.add_argument(
        "--locations", default=",".join(LOCATIONS), help="comma-separated: local, s3 (or none)"
    )
    p.add_argument("--redis", default=DEFAULT_REDIS, help=f"Redis URL ({DEFAULT_REDIS})")
    p.add_argument("--rabbitmq", default=DEFAULT_RABBITMQ, help="RabbitMQ URL")
    p.add_argument(
        "--fixity-broker", default="redis", choices=BROKERS, help="broker of the fixity jobs"
    )
    p.add_argument(
        "--postgres",
        default=DEFAULT_POSTGRES,
        help="PostgreSQL server (a URL whose user may CREATE DATABASE) for the local rows on a "
        f"PostgreSQL catalogue; 'none' leaves them out (default {DEFAULT_POSTGRES})",
    )
    p.add_argument("--workdir", type=Path, default=None, help=f"default {DEFAULT_WORKDIR}")
    p.add_argument("--output", type=Path, default=None, help="write the section to this file")
    p.add_argument(
        "--merge", type=Path, default=None, help="replace the Workers section of this document"
    )
    p.add_argument("--no-drop-caches", action="store_true", help="never drop the page cache")
    args = p.parse_args(argv)

    def names(text: str, allowed: Sequence[str], option: str) -> list[str]:
        found = [x.strip().lower() for x in text.split(",") if x.strip()]
        if found == ["none"]:
            return []
        bad = [x for x in found if x not in allowed]
        if bad:
            p.error(f"{option}: unknown {', '.join(bad)} (choose from {', '.join(allowed)})")
        return list(dict.fromkeys(found))

    args.broker_list = names(args.brokers, BROKERS, "--brokers")
    args.location_list = names(args.locations, LOCATIONS, "--locations")
    if args.runs is not None and args.runs < 1:
        p.error("--runs must be at least 1")
    if args.jobs is not None and args.jobs < 1:
        p.error("--jobs must be at least 1")
    return args


def sizes_of(args: argparse.Namespace) -> Sizes:
    sizes = TINY if args.tiny else FULL
    if args.runs is not None or args.jobs is not None:
        sizes = dataclasses.replace(
            sizes, noop_jobs=args.jobs or sizes.noop_jobs, runs=args.runs or sizes.runs
        )
    return sizes


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = (args.workdir or DEFAULT_WORKDIR).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    scratch = workdir / f"workers-runs-{uuid.uuid4().hex[:8]}"
    scratch.mkdir()

    def terminate(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    command = " ".join(["python -m bench.workers", *(argv if argv is not None else sys.argv[1:])])
    try:
        section = measure(
            sizes=sizes_of(args),
            workdir=workdir,
            scratch=scratch,
            caches=Caches(enabled=not args.no_drop_caches),
            brokers=args.broker_list,
            locations=args.location_list,
            urls={"redis": args.redis, "rabbitmq": args.rabbitmq},
            fixity_broker=args.fixity_broker,
            command=command,
            postgres=None if args.postgres.lower() == "none" else args.postgres,
        )
    except BenchError as exc:
        log(f"bench: error: {exc}")
        return 1
    except KeyboardInterrupt:
        log("bench: interrupted")
        return 130
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    lines = render_section(section)
    print("\n".join(lines))
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text("\n".join(lines), encoding="utf-8")
    if args.merge is not None:
        old = args.merge.read_text(encoding="utf-8") if args.merge.exists() else "# Benchmarks\n"
        args.merge.write_text(merge_section(old, lines), encoding="utf-8")
        log(f"merged into {args.merge}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
