"""Second new-user trial (issue 8): a collection named without its organisation is pointed at
the organisation that has it, by every command that takes --collection, on SQLite and
PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.functional.cli import Repo

HINT = (
    "error: no collection 'films' in organisation 'default'; it exists in meemoo: add "
    "--organisation meemoo\n"
)


@pytest.fixture
def repo(tmp_path: Path, database_url: str) -> Repo:
    """Collections brieven and photos in the default organisation, films in meemoo."""
    r = Repo(home=tmp_path / "home", database_url=database_url)
    r.run("init")
    r.run("organisations", "add", "meemoo", "--name", "meemoo")
    r.run("collections", "add", "films", "--organisation", "meemoo")
    r.run("collections", "add", "brieven")
    r.run("collections", "add", "photos")
    return r


@pytest.mark.parametrize(
    "command",
    [
        ("fixity", "--collection", "films"),
        ("packages", "list", "--collection", "films"),
        ("packages", "search", "x", "--collection", "films"),
    ],
    ids=["fixity", "packages-list", "packages-search"],
)
def test_a_collection_of_another_organisation_is_pointed_at(
    repo: Repo, command: tuple[str, ...]
) -> None:
    result = repo.run(*command, ok=False)
    assert (result.exit_code, result.stdout, result.stderr) == (3, "", HINT)
    # with the organisation named, the same command finds it
    assert repo.run(*command, "--organisation", "meemoo").exit_code == 0


@pytest.mark.parametrize(
    "command",
    [
        ("fixity", "--collection", "photo"),
        ("packages", "list", "--collection", "photo"),
        ("packages", "search", "x", "--collection", "photo"),
    ],
    ids=["fixity", "packages-list", "packages-search"],
)
def test_a_collection_nowhere_gets_did_you_mean(repo: Repo, command: tuple[str, ...]) -> None:
    result = repo.run(*command, ok=False)
    assert (result.exit_code, result.stderr) == (
        3,
        "error: no collection 'photo' in organisation 'default'; did you mean 'photos'?\n",
    )
