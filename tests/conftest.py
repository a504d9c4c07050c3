"""Shared fixtures: the S3 endpoint (moto server over HTTP), databases, and an assembled app."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["tests.s3server", "tests.dbfixtures"]

REPO = Path(__file__).resolve().parents[1]
SHARED_TESTDATA = REPO.parent / "shared" / "testdata"


@pytest.fixture(scope="session")
def testdata() -> Path:
    """The read-only shared test data (Library of Congress BagIt conformance suite)."""
    if not SHARED_TESTDATA.is_dir():
        pytest.fail(f"shared test data not found at {SHARED_TESTDATA}")
    return SHARED_TESTDATA
