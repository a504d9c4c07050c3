"""The repository most functional tests start from."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.functional.cli import Repo


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """A new repository on SQLite with its default local location and a collection 'photos'."""
    r = Repo(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'catalogue.sqlite3'}")
    r.run("init")
    r.run("collections", "add", "photos")
    return r
