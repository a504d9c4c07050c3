"""Shell completion (click's, as set up in the README) offers names from the catalogue."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.functional.cli import Repo


def complete(repo: Repo | None, line: str, env: dict[str, str] | None = None) -> list[str]:
    """What bash completion offers for the last word of ``line`` (a whole command line)."""
    words = line.split(" ")
    environment = {
        **os.environ,
        **(repo.env if repo else {}),
        **(env or {}),
        "_PRESERVE_COMPLETE": "bash_complete",
        "COMP_WORDS": line,
        "COMP_CWORD": str(len(words) - 1),
    }
    result = subprocess.run(
        [sys.executable, "-c", "from preserve.cli import main; main()"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return [item.split(",", 1)[1] for item in result.stdout.splitlines() if item]


def test_names_are_completed_from_the_catalogue(repo: Repo, tmp_path: Path) -> None:
    repo.run("collections", "add", "posters")
    repo.run("organisations", "add", "museum", "--name", "Het Museum")
    delivery = tmp_path / "letters"
    delivery.mkdir()
    (delivery / "a.txt").write_text("a letter\n")
    package_id = repo.json("ingest", delivery, "--collection", "photos")["packages"][0][
        "package_id"
    ]

    assert complete(repo, "preserve ingest x --collection p") == ["photos", "posters"]
    assert complete(repo, "preserve ingest x --collection ph") == ["photos"]
    assert complete(repo, "preserve packages list --organisation m") == ["museum"]
    assert complete(repo, "preserve fixity --location d") == ["default"]
    assert complete(repo, "preserve collections edit pos") == ["posters"]
    assert complete(repo, "preserve organisations show ") == ["default", "museum"]
    assert complete(repo, f"preserve show {package_id[:3]}") == [package_id]
    assert complete(repo, f"preserve fixity --package {package_id[:5]}") == [package_id]
    assert complete(repo, "preserve export ") == [package_id]
    # a new name is not completed, and nothing matches an unknown prefix
    assert complete(repo, "preserve collections add p") == []
    assert complete(repo, "preserve ingest x --collection zz") == []


def test_commands_and_options_are_completed() -> None:
    assert "ingest" in complete(None, "preserve i")
    assert "--collection" in complete(None, "preserve ingest --co")


def test_completion_without_a_catalogue_offers_nothing_and_creates_nothing(
    tmp_path: Path,
) -> None:
    home = tmp_path / "nothing-here"
    env = {"PRESERVE_HOME": str(home)}
    assert complete(None, "preserve ingest x --collection p", env) == []
    assert not home.exists()
    # nor with invalid settings, or a catalogue that cannot be reached
    assert complete(None, "preserve show ab", {"PRESERVE_WORKERS": "many"}) == []
    unreachable = {"PRESERVE_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/none"}
    assert complete(None, "preserve show ab", unreachable) == []


def test_collections_are_those_of_the_organisation_the_command_uses(repo: Repo) -> None:
    """ingest, packages list and fixity take --collection of --organisation, else of the
    default organisation: completion offers only what the command would accept."""
    repo.run("collections", "add", "posters")
    repo.run("organisations", "add", "museum", "--name", "Het Museum")
    repo.run("collections", "add", "maps", "--organisation", "museum")
    repo.run("collections", "add", "paintings", "--organisation", "museum")

    assert complete(repo, "preserve ingest scans/ --collection ") == ["photos", "posters"]
    assert complete(repo, "preserve ingest scans/ --collection p") == ["photos", "posters"]
    # maps is museum's: without --organisation museum the command would refuse it
    assert complete(repo, "preserve ingest scans/ --collection m") == []
    assert complete(repo, "preserve ingest scans/ --organisation museum --collection ") == [
        "maps",
        "paintings",
    ]
    assert complete(repo, "preserve ingest scans/ --organisation museum --collection p") == [
        "paintings"
    ]
    assert complete(repo, "preserve packages list --organisation museum --collection m") == ["maps"]
    assert complete(repo, "preserve fixity --organisation museum --collection ") == [
        "maps",
        "paintings",
    ]
    # the default organisation as the settings name it
    assert complete(
        repo, "preserve ingest scans/ --collection ", {"PRESERVE_ORGANISATION": "museum"}
    ) == ["maps", "paintings"]
    # an unknown organisation has no collections to offer
    assert complete(repo, "preserve ingest scans/ --organisation nope --collection ") == []
