"""Usage errors (a bad or missing option or argument, an unknown option or command) are shown as
every other error is: one line ``error: ...`` naming where the usage is described, exit 2, and
not click's usage text followed by ``Error: ...`` (issue 8)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.functional.cli import Repo

CASES = {
    "bad option value": (
        ["fixity", "--all", "--limit", "0"],
        "error: Invalid value for '--limit': 0 is not in the range x>=1. "
        "(preserve fixity --help shows the options)",
    ),
    "bad choice": (
        ["packages", "list", "--status", "lost"],
        "error: Invalid value for '--status': 'lost' is not one of 'stored', 'ingesting', "
        "'failed'. (preserve packages list --help shows the options)",
    ),
    "missing required option": (
        ["ingest", "somewhere"],
        "error: Missing option '--collection'. (preserve ingest --help shows the options)",
    ),
    "missing argument": (
        ["bag", "validate"],
        "error: Missing argument 'PATH'. (preserve bag validate --help shows how to use it)",
    ),
    "unknown option, with a suggestion": (
        ["packages", "list", "--colection", "photos"],
        "error: No such option '--colection'. Did you mean '--collection'? "
        "(preserve packages list --help shows the options)",
    ),
    "unknown global option": (
        ["--verbos", "packages", "list"],
        "error: No such option '--verbos'. (Did you mean one of: '--verbose', '--version'?) "
        "(preserve --help shows the options)",
    ),
    "unknown command, with a suggestion": (
        ["fixty"],
        "error: No such command 'fixty'. Did you mean 'fixity'? "
        "(preserve --help lists the commands)",
    ),
    "unknown subcommand": (
        ["bag", "mak", "a", "b"],
        "error: No such command 'mak'. Did you mean 'make'? "
        "(preserve bag --help lists the commands)",
    ),
    "extra argument": (
        ["bag", "validate", "a", "b"],
        "error: Got unexpected extra argument (b) (preserve bag validate --help shows how to "
        "use it)",
    ),
    "contradicting global options": (
        ["-q", "-v", "packages", "list"],
        "error: --quiet and --verbose contradict each other: give one of them "
        "(preserve --help shows how to use it)",
    ),
}


@pytest.mark.parametrize(("args", "line"), CASES.values(), ids=CASES.keys())
def test_a_usage_error_is_one_line(repo: Repo, args: list[str], line: str) -> None:
    result = repo.run(*args, ok=False)
    assert (result.exit_code, result.stderr, result.stdout) == (2, line + "\n", "")


def test_a_usage_error_goes_to_the_log_file_once(repo: Repo, tmp_path: Path) -> None:
    log = tmp_path / "preserve.log"
    result = repo.run("--log-file", log, "fixity", "--all", "--limit", "0", ok=False)
    assert result.exit_code == 2
    errors = [line for line in log.read_text().splitlines() if " ERROR " in line]
    assert [line.split(" ERROR ", 1)[1] for line in errors] == [
        "preserve: Invalid value for '--limit': 0 is not in the range x>=1."
    ]


def test_the_installed_command_shows_one_line(tmp_path: Path) -> None:
    """The real program, as a shell runs it: its name is the one shown."""
    result = subprocess.run(
        [Path(sys.executable).parent / "preserve", "fixity", "--limit", "many"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert (result.returncode, result.stdout, result.stderr) == (
        2,
        "",
        "error: Invalid value for '--limit': 'many' is not a valid integer range. "
        "(preserve fixity --help shows the options)\n",
    )


def test_help_is_still_help(repo: Repo) -> None:
    result = repo.run("fixity", "--help")
    assert result.stdout.startswith("Usage: preserve fixity [OPTIONS]")
    assert result.stderr == ""
