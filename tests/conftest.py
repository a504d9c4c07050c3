"""Shared fixtures: the S3 endpoint (moto server over HTTP), databases, and an assembled app."""

from __future__ import annotations

import builtins
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = [
    "tests.s3server",
    "tests.dbfixtures",
    "tests.migration_replay",
    "tests.smtpserver",
]

REPO = Path(__file__).resolve().parents[1]
TESTDATA = REPO / "tests" / "data"


def pytest_configure(config: pytest.Config) -> None:
    """Isolate the suite from the person running it: their ``PRESERVE_*`` settings (apart from
    the ``PRESERVE_TEST_*`` ones meant for the suite) and their settings file
    (``~/.config/preserve/preserve.toml``) would otherwise reach every command the tests run,
    in this process and in the subprocesses that inherit its environment."""
    kept = ("PRESERVE_TEST_", "PRESERVE_DEBUG")
    for name in list(os.environ):
        if name.startswith("PRESERVE_") and not name.startswith(kept):
            del os.environ[name]
    _light_password_hashing(config)
    if not hasattr(config, "workerinput"):  # xdist workers inherit the controller's folders
        import tempfile

        # nor their data folder (the default PRESERVE_HOME)
        os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="preserve-tests-config-")
        os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="preserve-tests-data-")


#: argon2id at its lowest cost, for the people the suite makes by the thousand: at argon2-cffi's
#: recommended parameters each password costs 0.19 s of CPU (60 % of a test that makes three
#: people). The hashes stay argon2id and are checked the same way; tests marked
#: ``real_password_hashing`` (the re-hash on sign-in) use the recommended parameters.
LIGHT_ARGON2 = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}


def _light_password_hashing(config: pytest.Config) -> None:
    from argon2 import PasswordHasher

    from preserve.services import accounts

    config.addinivalue_line(
        "markers", "real_password_hashing: argon2id at its recommended parameters, as in use"
    )
    light = PasswordHasher(**LIGHT_ARGON2)  # type: ignore[arg-type]
    accounts._hasher = lambda: light  # type: ignore[assignment]


@pytest.fixture(autouse=True)
def _real_password_hashing_when_marked(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if request.node.get_closest_marker("real_password_hashing") is not None:
        from argon2 import PasswordHasher

        from preserve.services import accounts

        monkeypatch.setattr(accounts, "_hasher", PasswordHasher)


@pytest.fixture(scope="session")
def testdata() -> Path:
    """The test data vendored in the repository (Library of Congress BagIt conformance suite,
    CC0: see tests/data/bagit-conformance-suite/LICENSE.md). Read-only: tests copy from it."""
    if not TESTDATA.is_dir():
        pytest.fail(f"test data not found at {TESTDATA}")
    return TESTDATA


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Records every path opened (os.open, open, os.scandir) while the test runs."""
    paths: list[str] = []
    real_os_open, real_open, real_scandir = os.open, builtins.open, os.scandir

    def record(path: object, dir_fd: object = None) -> None:
        # file descriptors and dir_fd-relative names are shutil's business, not the validator's
        if isinstance(path, str | bytes | os.PathLike) and dir_fd is None:
            paths.append(os.path.abspath(os.fsdecode(path)))

    def os_open(path: Any, *args: Any, **kwargs: Any) -> Any:
        record(path, kwargs.get("dir_fd"))
        return real_os_open(path, *args, **kwargs)

    def py_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        record(file)
        return real_open(file, *args, **kwargs)

    def scandir(path: Any = ".") -> Any:
        record(path)
        return real_scandir(path)

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(builtins, "open", py_open)
    monkeypatch.setattr(os, "scandir", scandir)
    yield paths
