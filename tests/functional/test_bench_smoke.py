"""The benchmark script runs end to end on tiny corpora, so `make bench` does not rot.

No timing is asserted: only that every measured operation produced its row and the targets
section lists the goals. The S3 part (a moto server and boto3's TransferManager) is checked on
its own, on three small files, since a whole ``--tiny --s3`` run takes half a minute."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import run as bench
from bench import workers
from bench.corpus import TINY, CorpusSpec, ensure_corpus

REPO = Path(__file__).resolve().parents[2]

OPERATIONS = (
    "hashing limit",
    "SHA-256 limit",
    "cold parallel read",
    "durable copy limit (copy + sync)",
    "baseline (bagit + siegfried + copy)",
    "preserve ingest",
    "preserve fixity",
)
TARGETS = (
    "corpus A: ingest ≥ 1.2 × the composed baseline's speed",
    "corpus A: ingest ≥ 0.6 × the hashing limit (SHA-512 + SHA-256, all cores)",
    "corpus B: ingest ≥ 1.5 × the composed baseline's speed",
    "corpus A: fixity ≥ 0.8 × the slower of the SHA-256 limit (all cores) and the cold parallel "
    "read (page cache dropped)",
    "corpus B: fixity ≥ 5,000 files/s, page cache dropped first",
    "S3: ingest into the S3 test endpoint ≥ 0.8 × boto3's TransferManager uploading the same "
    "files to the same endpoint | not measured (run with --s3)",
    "corpus C: peak RSS of ingest < 300 MB",
    "corpus D: peak RSS of fixity < 1 GB",
    "start-up: `preserve --help` well under a second (judged as < 0.5 s)",
    "start-up: `preserve fixity --package <id>` of one small package well under a second",
)


@pytest.mark.slow
def test_bench_tiny_writes_a_row_per_operation(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESERVE_")}
    # --no-drop-caches: a test must not empty the page cache of the whole machine
    cmd = [sys.executable, "-m", "bench.run", "--tiny", "--no-drop-caches"]
    result = subprocess.run(
        [*cmd, "--workdir", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"stdout: {result.stdout}\nstderr: {result.stderr}"

    output = tmp_path / "benchmarks.md"
    assert output.is_file(), "with --tiny and no --output the report goes to the workdir"
    text = output.read_text(encoding="utf-8")
    for corpus in ("A", "B"):
        for operation in OPERATIONS:
            assert f"| {corpus} | {operation} | 1 |" in text, (corpus, operation, text)
    for command in ("preserve --help", "preserve fixity --package <id>"):
        assert f"| `{command}` | 1 |" in text, (command, text)
    for heading in ("## Machine", "## Results", "## Targets", "## Method"):
        assert heading in text
    for target in TARGETS:
        assert target in text, (target, text)
    assert "1,500 files/s" not in text  # the old targets are gone
    # the Workers section (bench.workers, tiny: the embedded transport, the local location)
    assert text.index("## Targets") < text.index("## Workers") < text.index("## Method")
    embedded = "| embedded (kombu `filesystem://` under the home) | 3 |"
    assert embedded in text, text  # 3 noop jobs one at a time, then the burst
    for mode in workers.MODES:
        assert f"| local | {mode} | " in text, (mode, text)
    assert "| local | 2 worker processes (`--concurrency 1` each) | 3 | 1 |" in text  # 3 jobs
    assert "### Method (workers)" in text
    assert "not judged (tiny corpus)" in text
    assert "**cache not dropped**" in text and "--no-drop-caches was given" in text
    # the same tables went to stdout, and the per-run preserve homes were cleaned up
    assert "| A | preserve ingest | 1 |" in result.stdout
    assert "| `preserve --help` | 1 |" in result.stdout
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("runs-")]


def test_transfer_manager_reference_uploads_every_file(tmp_path: Path) -> None:
    """The S3 reference row: a moto server in its own process, boto3's TransferManager in a
    subprocess into a fresh bucket, checked and removed afterwards."""
    spec = CorpusSpec("A", "s3-tiny", 3, 10_000, 0, "3 files of 10 KB")
    corpus, _ = ensure_corpus(tmp_path, spec)
    s3 = bench.S3Endpoint()
    try:
        sample, info = bench.measure_transfer(spec, corpus, tmp_path, s3)
        assert sample.seconds > 0 and info["files"] == 3
        assert info["manager"].endswith("TransferManager")
        assert s3.client.list_buckets()["Buckets"] == []  # the server was reset after the run
    finally:
        s3.close()
    assert s3._proc.returncode is not None  # the server process ended


def _row(spec: CorpusSpec, operation: str, seconds: float) -> bench.Row:
    row = bench.Row(spec, operation, spec.files, spec.total_bytes, [bench.Sample(seconds)])
    if operation in bench.COLD_OPERATIONS:
        row.cache_dropped = True
    return row


def test_targets_show_every_ratio_met_or_not() -> None:
    a, b = TINY["A"], TINY["B"]
    rows = [
        _row(a, bench.HASHING, 1.0),
        _row(a, bench.SHA256_LIMIT, 0.5),
        _row(a, bench.COLD_READ, 2.0),
        _row(a, bench.BASELINE, 6.0),
        _row(a, bench.INGEST, 4.0),  # 1.5 × the baseline's speed, 0.25 × the hashing limit
        _row(a, bench.FIXITY, 2.4),  # 0.83 × the cold read, the slower reference
        _row(a, bench.TRANSFER, 3.0),
        _row(a, bench.INGEST_S3, 5.0),  # 0.6 × the TransferManager
        _row(b, bench.BASELINE, 1.0),
        _row(b, bench.INGEST, 1.0),
        _row(b, bench.FIXITY, 1.0),  # 200 files/s
    ]
    rows[5].cache_dropped = True
    startup = [
        bench.StartupRow(bench.STARTUP_HELP, [bench.Sample(0.2)]),
        bench.StartupRow(bench.STARTUP_FIXITY, [bench.Sample(0.7)]),
    ]
    targets = {t.description.split(" (")[0]: t for t in bench.evaluate_targets(rows, startup)}
    expect = {
        "corpus A: ingest ≥ 1.2 × the composed baseline's speed": (True, "1.50 ×"),
        "corpus A: ingest ≥ 0.6 × the hashing limit": (False, "0.25 ×"),
        "corpus B: ingest ≥ 1.5 × the composed baseline's speed": (False, "1.00 ×"),
        "corpus A: fixity ≥ 0.8 × the slower of the SHA-256 limit": (True, "0.83 ×"),
        "corpus B: fixity ≥ 5,000 files/s, page cache dropped first": (False, "200 files/s"),
        "corpus A: ingest into the S3 test endpoint ≥ 0.8 × boto3's TransferManager uploading "
        "the same files to the same endpoint": (False, "0.60 ×"),
        "start-up: `preserve --help` well under a second": (True, "0.200 s"),
        "start-up: `preserve fixity --package <id>` of one small package well under a second": (
            False,
            "0.700 s",
        ),
    }
    for description, (met, shown) in expect.items():
        target = targets[description]
        assert target.met is met and not target.unjudged, (description, target)
        assert target.measured.startswith(shown), (description, target)
    assert "corpus B: ingest into the S3 test endpoint" not in " ".join(targets)

    rows[5].cache_dropped = False  # fixity read a warm cache: measured, but not judged
    fixity_a = next(
        t for t in bench.evaluate_targets(rows, startup) if "fixity ≥ 0.8" in t.description
    )
    assert fixity_a.unjudged == "cache not dropped"
    assert "not judged (cache not dropped)" in "\n".join(bench.targets_table([fixity_a]))


def test_bench_versions_runs_and_reports_what_a_version_stores(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESERVE_")}
    env["TMPDIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "bench.versions", "--files", "30", "--size", "2000"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "(29 unchanged, 4,000 payload bytes stored)" in result.stdout
    assert "4,000 of new content" in result.stdout


def test_workers_fixity_on_s3_checks_every_package_through_a_worker(tmp_path: Path) -> None:
    """The S3 rows of the Workers section: tiny packages ingested into a moto server in its own
    process, then checked by the foreground command and by one real worker's fixity jobs (one
    per package, each succeeded with its copy ok, or the measurement raises)."""
    sizes = workers.TINY
    corpus = workers.ensure_fixity_corpus(tmp_path / "corpus", sizes)
    assert (len(corpus.folders), corpus.files) == (3, 6)
    s3 = bench.S3Endpoint()
    try:
        rows = workers.measure_fixity(
            "s3",
            corpus,
            sizes,
            tmp_path,
            "",  # the embedded transport
            s3,
            bench.Caches(enabled=False),
            modes=(workers.FOREGROUND, workers.ONE),
        )
        assert s3.client.list_buckets()["Buckets"] == []  # the server was reset afterwards
    finally:
        s3.close()
    assert [(r.location, r.mode, r.jobs, r.files) for r in rows] == [
        ("s3", workers.FOREGROUND, 0, 6),
        ("s3", workers.ONE, 3, 6),
    ]
    assert all(r.seconds > 0 for r in rows)
    table = "\n".join(workers.fixity_table(rows))
    assert "| s3 | 1 worker process (`--concurrency 1`) | 3 | 1 |" in table
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("fixity-")]  # home removed


def test_workers_section_numbers_and_merge() -> None:
    assert workers.percentile([5.0, 1.0, 3.0, 2.0, 4.0], 0.5) == 3.0
    assert workers.percentile([1.0, 2.0], 0.95) == pytest.approx(1.95)
    queue = workers.QueueRow(
        "redis",
        latency=[0.010, 0.012, 0.030],
        submit=[0.004, 0.004, 0.005],
        publish=[0.001, 0.001, 0.002],
        wait=[0.002, 0.003, 0.020],
        run=[0.003, 0.004, 0.004],
        burst_jobs=200,
        burst_seconds=4.0,
        burst_latency=[1.0, 2.0],
    )
    skipped = workers.QueueRow("rabbitmq", skipped="connection refused")
    fixity = [
        workers.FixityRow("local", workers.FOREGROUND, 2, 10, 100 * bench.MB, 0, [2.0]),
        workers.FixityRow("local", workers.ONE, 2, 10, 100 * bench.MB, 2, [4.0]),
        workers.FixityRow("local", workers.TWO, 2, 10, 100 * bench.MB, 2, [2.5]),
    ]
    for row in fixity:
        row.dropped = [True]
    fixity[2].job_seconds, fixity[2].worker_cpu = [1.0, 2.0, 1.5], [3.0]
    section = workers.Section(
        workers.TINY, [queue, skipped], fixity, "redis", [], {"command": "test"}
    )
    lines = workers.render_section(section)
    text = "\n".join(lines)
    assert (
        "| Redis | 3 | 12.0 | 28.2 | 4.0 (1.0) | 3.0 | 4.0 | 200 | 50.0 | 1,500.0 / 1,950.0 |"
        in text
    )
    assert "| RabbitMQ | not measured (connection refused) |" in text
    assert (
        "| local | 2 worker processes (`--concurrency 1` each) | 2 | 1 | 2.500 | 40.0 | 4 | 0.80 "
        "| 1.500 | 3.00 / — | dropped |" in text
    )
    assert "Redis: of a median job's 12.0 ms, the run (claim to finish) takes the most" in text
    assert (
        "local: two worker processes checked 1.60 × as fast as one worker process; the foreground"
        " `preserve fixity --all` 2.00 × as fast as one worker process." in text
    )
    assert "local: cores kept busy by the workers (CPU seconds over the run's seconds" in text
    assert "): 2 worker processes 1.20." in text

    document = "# Benchmarks\n\n## Targets\n\nt\n\n## Method\n\nm\n"
    merged = workers.merge_section(document, lines)
    assert merged.index("## Targets") < merged.index("## Workers") < merged.index("## Method")
    again = workers.merge_section(merged, ["## Workers", "", "new rows"])
    assert "new rows" in again and "| Redis |" not in again  # replaced, not added twice
    assert again.count("## Workers") == 1 and again.rstrip().endswith("m")
