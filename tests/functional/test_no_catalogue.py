"""Before `preserve init`, or pointed at an empty database, every command says what is wrong and
what to do, with exit 1, and creates nothing on the way (issue 8)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.functional.cli import Repo

COMMANDS = [
    ("packages", "list"),
    ("fixity", "--all"),
    ("show", "0123"),
    ("collections", "list"),
    ("ingest", "{file}", "--collection", "photos"),
]


@pytest.mark.parametrize("args", COMMANDS)
def test_a_command_before_init_says_run_init_and_creates_nothing(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    home = tmp_path / "home"
    repo = Repo(home=home, database_url=f"sqlite:///{home / 'catalogue.sqlite3'}")
    (tmp_path / "a.txt").write_text("a")
    result = repo.run(*(a.format(file=tmp_path / "a.txt") for a in args), ok=False)
    assert result.exit_code == 1, result.stderr
    assert result.stderr.count(f"no catalogue at {home / 'catalogue.sqlite3'}") == 1
    assert "run `preserve init`" in result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert not home.exists()  # nothing created on the way

    repo.run("init")  # and then it works
    assert repo.run("packages", "list").exit_code == 0


def test_an_empty_database_says_it_is_not_set_up(database_url: str, tmp_path: Path) -> None:
    """An empty PostgreSQL database (or SQLite file) that was never migrated."""
    if database_url.startswith("sqlite"):
        import sqlite3

        sqlite3.connect(database_url.removeprefix("sqlite:///")).close()
    repo = Repo(home=tmp_path / "home", database_url=database_url)
    result = repo.run("packages", "list", ok=False)
    assert result.exit_code == 1, result.stderr
    assert "has not been set up; run `preserve init`" in result.stderr
    assert "internal error" not in result.stderr


def test_without_preserve_home_the_user_data_folder_is_used_and_nothing_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default home no longer depends on the current folder (no stray ./var)."""
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "xdg-data"
    repo = Repo(
        home=tmp_path / "unused",
        database_url="",
        extra_env={
            "PRESERVE_HOME": "",
            "XDG_DATA_HOME": str(data),
            "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        },
    )
    result = repo.run("packages", "list", ok=False)
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: no catalogue at {data / 'preserve' / 'catalogue.sqlite3'}: run `preserve init` "
        "to make a new repository there, or set PRESERVE_HOME (or PRESERVE_DATABASE_URL) to the "
        "one you mean\n"
    )
    assert list(tmp_path.iterdir()) == []
    repo.run("init")
    assert (data / "preserve" / "catalogue.sqlite3").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["xdg-data"]
