"""The kill test: ``preserve ingest`` killed at random moments (SIGKILL mostly, SIGTERM, SIGINT),
then run again, on SQLite and PostgreSQL, local and S3 storage; after every re-run nothing may be
left ``ingesting``, stored twice, half-registered, missing, unaccounted for or in staging.

The harness is bench/soak.py, which ``make soak`` runs for many iterations; here a few per
configuration on a smaller delivery. The seed is printed with any violation; ``python -m
bench.soak --small --baseline-runs 1 --iterations 3 --seed N --config CATALOGUE/STORAGE`` sends
the same signals at the same fractions of an ingest's duration (the machine's timing still varies).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from bench import soak
from tests.dbfixtures import POSTGRES_SKIP_REASON, postgres_admin_url

ITERATIONS = 3
AWS_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")


@pytest.fixture(scope="session")
def kill_delivery(tmp_path_factory: pytest.TempPathFactory) -> soak.Delivery:
    """The delivery every kill test ingests, made once per session (per xdist worker)."""
    folder = tmp_path_factory.mktemp("kill-delivery") / "delivery"
    return soak.make_delivery(folder, soak.TEST_DELIVERY, seed=7)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("catalogue", "storage"),
    [
        pytest.param("sqlite", "local", id="sqlite-local"),
        pytest.param("sqlite", "s3", marks=pytest.mark.s3, id="sqlite-s3"),
        pytest.param("postgresql", "local", marks=pytest.mark.postgres, id="postgresql-local"),
        pytest.param(
            "postgresql", "s3", marks=[pytest.mark.postgres, pytest.mark.s3], id="postgresql-s3"
        ),
    ],
)
def test_an_ingest_killed_at_any_moment_leaves_nothing_wrong(
    catalogue: str,
    storage: str,
    kill_delivery: soak.Delivery,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    admin_url = None
    if catalogue == "postgresql":
        admin_url = postgres_admin_url()
        if admin_url is None:
            pytest.skip(POSTGRES_SKIP_REASON)
    s3 = _s3_access(request) if storage == "s3" else None
    seed = random.randrange(1 << 32)
    result = soak.run_trial(
        soak.Configuration(catalogue, storage),
        tmp_path / "trial",
        kill_delivery,
        iterations=ITERATIONS,
        seed=seed,
        postgres_admin_url=admin_url,
        s3=s3,
        workers=2,
        read_back_s3=False,  # fixity reads them; the in-process moto server is slow to serve twice
    )
    assert len(result.iterations) == ITERATIONS
    assert result.violations == [], f"seed {seed}: " + "\n".join(
        v.describe(output=True) for v in result.violations
    )


@pytest.mark.parametrize("storage", ["local", pytest.param("s3", marks=pytest.mark.s3)])
def test_the_checks_find_what_an_interrupted_ingest_can_leave(
    storage: str, kill_delivery: soak.Delivery, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The harness is not vacuous: after a clean ingest it reports nothing, and each kind of
    damage planted behind preserve's back afterwards is reported."""
    s3 = _s3_access(request) if storage == "s3" else None
    config = soak.Configuration("sqlite", storage)
    with soak.Trial(
        config, tmp_path / "trial", kill_delivery, s3=s3, workers=2, read_back_s3=False
    ) as trial:
        clean = trial.uninterrupted()
        assert clean.violations == [] and clean.rerun == "stored"
        [(package_id, prefix, url)] = trial.query(
            "SELECT cp.package_id, cp.key_prefix, l.url FROM copies cp "
            "JOIN storage_locations l ON l.id = cp.location_id"
        )
        lost, rotten = f"{prefix}data/large-0.bin", f"{prefix}data/folder-0/file-0000.bin"
        if s3 is None:
            root = trial.home / "storage"
            (root / lost).unlink()
            (root / rotten).write_bytes(b"rot")
            (root / prefix / "stray.bin").write_bytes(b"x")
            (root / ".preserve-tmp" / "4242-1@elsewhere").mkdir(parents=True)
            (root / ".preserve-tmp" / "4242-1@elsewhere" / "partial").write_bytes(b"x")
            (root / "default" / "c" / "empty").mkdir()
        else:
            bucket, under = trial.s3_location(url)
            s3.client.delete_object(Bucket=bucket, Key=under + lost)
            s3.client.put_object(Bucket=bucket, Key=under + rotten, Body=b"rot")
            s3.client.put_object(Bucket=bucket, Key=f"{under}{prefix}stray.bin", Body=b"")
            s3.client.create_multipart_upload(Bucket=bucket, Key=f"{under}{prefix}big")
        (trial.staging / package_id).mkdir(parents=True)
        for first, status in (("x", "ingesting"), ("y", "stored")):  # rows without objects
            trial.execute(
                "INSERT INTO packages (id, collection_id, title, description, status, version, "
                "size, file_count, bag_info, source, created_at) SELECT :id, collection_id, "
                "title, description, :status, version, size, file_count, bag_info, source, "
                "created_at FROM packages WHERE id = :p",
                id=first + package_id[1:],
                status=status,
                p=package_id,
            )

        kinds = {kind for kind, _detail in trial.check()}

    expected = {
        "package left ingesting",
        "stored twice",
        "half-registered",
        "fixity failed",
        "catalogued files missing",
        "catalogued files differ",
        "objects no catalogue row accounts for",
        "staging not empty",
    }
    if s3 is None:
        expected |= {"temporary files left", "empty folders left"}
    else:
        expected |= {"unfinished multipart uploads left"}
    assert kinds == expected


def _s3_access(request: pytest.FixtureRequest) -> soak.S3Access:
    """The session's S3 endpoint, with the credentials the preserve subprocesses need."""
    return soak.S3Access(
        request.getfixturevalue("s3_endpoint"),
        request.getfixturevalue("s3_admin"),
        {k: os.environ[k] for k in AWS_CREDENTIALS if k in os.environ},
    )


def test_the_report_shows_the_figures_and_every_violation() -> None:
    """What `make soak` writes to docs/reliability.md, from results made up here."""
    config = soak.Configuration("sqlite", "local")
    clean = soak.Iteration(1, "SIGKILL", 0.5, 0.25, soak.STORE_PAYLOAD, True, -9, "stored")
    clean.seconds = 2.0
    late = soak.Iteration(2, "SIGINT", 1.9, 0.95, soak.FINISH, True, 130, "duplicate")
    late.violations = [
        soak.Violation(
            config.name, 2, "SIGINT", 1.9, 0.95, soak.FINISH, "catalogued files missing", "228",
            "signalled run: exit 130",
        )
    ]  # fmt: skip
    early = soak.Iteration(3, "SIGTERM", 2.5, 1.0, soak.EXITED, False, 0, "duplicate")
    baseline = soak.Iteration(0, "none", seconds=2.0)
    results = [
        soak.TrialResult(config, "a delivery", [baseline], [clean, late, early]),
        soak.TrialResult(soak.Configuration("postgresql", "s3"), skipped="no PostgreSQL"),
    ]
    text = soak.render_report(results, {"cores": "2"}, "python -m bench.soak --iterations 3")

    assert "**3 iterations, 2 kills, 1 violation.**" in text
    assert "- **cores**: 2" in text and "`python -m bench.soak --iterations 3`" in text
    assert "| sqlite/local | 3 | 1 | 0 | 1 | 1 | 3 (1 stored, 2 duplicate) | 0 | 2.00 s" in text
    assert "| postgresql/s3 | not run: no PostgreSQL |" in text
    assert "| sqlite/local | 0 | 0 | 1 | 0 | 0 | 1 | 1 |" in text  # by stage
    assert "| sqlite/local | 0 | 1 | 0 | 0 | 2 |" in text  # by moment
    assert (
        "| sqlite/local | 2 | SIGINT | 1.90 s (95%) | finish | **catalogued files missing**" in text
    )
    assert "- sqlite/local #2: signalled run: exit 130" in text
    assert "## What the kill test checks" in text
