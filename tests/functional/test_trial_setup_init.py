"""A second `preserve init` says what it found (issue 8, new-user trial): the catalogue already
initialised and up to date, or migrated from an older schema; the organisation and the location
already there. It changes nothing else and exits 0, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from preserve.catalogue.database import catalogue_name, downgrade, head_revision
from tests.functional.cli import Repo


def new_repo(tmp_path: Path, database_url: str) -> Repo:
    return Repo(home=tmp_path / "home", database_url=database_url)


def test_init_then_init_again(tmp_path: Path, database_url: str) -> None:
    repo = new_repo(tmp_path, database_url)
    where = catalogue_name(database_url)
    storage = (tmp_path / "home" / "storage").as_uri()
    assert repo.run("init").stdout.splitlines() == [
        f"catalogue    set up at {where} (schema {head_revision()})",
        "organisation default (registered)",
        f"location     default: {storage} (registered)",
    ]
    before = (repo.json("organisations", "list"), repo.json("locations", "list"))
    again = repo.run("init")
    assert (again.exit_code, again.stderr) == (0, "")
    assert again.stdout.splitlines() == [
        f"catalogue    already initialised at {where} (schema {head_revision()}, up to date)",
        "organisation default (already there)",
        f"location     default: {storage} (already registered)",
    ]
    assert (repo.json("organisations", "list"), repo.json("locations", "list")) == before


def test_init_migrates_an_older_catalogue_and_says_so(tmp_path: Path, database_url: str) -> None:
    repo = new_repo(tmp_path, database_url)
    repo.run("init")
    downgrade(database_url, "0002")
    assert repo.run("init").stdout.splitlines()[0] == (
        f"catalogue    already initialised at {catalogue_name(database_url)}, migrated from 0002 "
        f"to {head_revision()}"
    )
    assert repo.json("config")["catalogue"]["revision"] == head_revision()
