"""``--log-file FILE`` appends timestamped, levelled lines (ISO 8601 with the UTC offset) of
what the command did at INFO and above, its warnings, its outcome and its error; ``--quiet``
leaves only errors on stderr while the log file and --json still get the warnings."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

from tests.functional.cli import Repo

LINE = re.compile(
    r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d) (DEBUG|INFO|WARNING|ERROR) "
    r"(preserve[\w.]*): (.*)$"
)


def _lines(log: Path) -> list[tuple[str, str, str]]:
    """(level, logger, message) of every line, checking each line's form and time."""
    out = []
    for line in log.read_text(encoding="utf-8").splitlines():
        found = LINE.match(line)
        assert found, f"not a log line: {line!r}"
        assert datetime.fromisoformat(found.group(1)).tzinfo is not None
        out.append((found.group(2), found.group(3), found.group(4)))
    return out


def _delivery(path: Path) -> Path:
    path.mkdir()
    (path / "photo.txt").write_text("a photo\n")
    (path / "Thumbs.db").write_bytes(b"thumbs")
    return path


def test_an_ingest_and_a_fixity_run_are_logged(tmp_path: Path, database_url: str) -> None:
    repo = Repo(home=tmp_path / "home", database_url=database_url)
    repo.run("init")
    repo.run("collections", "add", "photos")
    log = tmp_path / "preserve.log"
    d = _delivery(tmp_path / "d")
    result = repo.run("--log-file", log, "ingest", d, "--collection", "photos")
    package_id = repo.packages()[0]["id"]
    lines = _lines(log)
    messages = [m for _, _, m in lines]
    assert messages[0].startswith(f"preserve --log-file {log} ingest {d} --collection photos")
    assert ("WARNING", "preserve", "d/Thumbs.db: an operating-system file, "
            "not content; kept as payload") in lines  # fmt: skip
    assert any(
        level == "INFO" and m.startswith(f"default/photos/{package_id}/v1: payload stored and "
                                         "verified on default (2 objects, 14 bytes)")
        for level, _, m in lines
    ), messages  # fmt: skip
    assert any(m.startswith(f"package {package_id} stored from {d}: 2 files") for m in messages)
    assert messages[-2:] == ["1 package stored (2 files, 14 B)", "preserve ingest: done (exit 0)"]
    # each warning on stderr too, once: the system file, and its unidentified format
    logged = [m for level, _, m in lines if level == "WARNING"]
    assert [line.removeprefix("warning: ") for line in result.stderr.splitlines()] == logged
    assert len(logged) == 2

    before = len(lines)
    repo.run("--log-file", log, "fixity", "--all")
    lines = _lines(log)
    assert len(lines) > before  # appended, not truncated
    messages = [m for _, _, m in lines[before:]]
    assert any(m.startswith(f"fixity of package {package_id} on default: ok (") for m in messages)
    assert messages[-2:] == ["1 copy ok", "preserve fixity: done (exit 0)"]


def test_errors_and_the_exit_status_are_logged(repo: Repo, tmp_path: Path) -> None:
    log = tmp_path / "preserve.log"
    missing = tmp_path / "missing"
    result = repo.run("--log-file", log, "ingest", missing, "--collection", "photos", ok=False)
    assert result.exit_code == 2
    assert result.stderr == f"error: {missing}: no such file or folder\n"
    assert _lines(log)[-2:] == [
        ("ERROR", "preserve", f"{missing}: no such file or folder"),
        ("INFO", "preserve", "preserve ingest: ended with exit status 2"),
    ]
    # a usage error of the command is logged too
    result = repo.run("--log-file", log, "ingest", tmp_path, ok=False)
    assert result.exit_code == 2
    assert _lines(log)[-2:] == [
        ("ERROR", "preserve", "Missing option '--collection'."),
        ("INFO", "preserve", "preserve ingest: ended with exit status 2"),
    ]


def test_quiet_leaves_only_errors_on_stderr(repo: Repo, tmp_path: Path) -> None:
    log = tmp_path / "preserve.log"
    d = _delivery(tmp_path / "d")
    result = repo.run("-q", "--log-file", log, "ingest", d, "--collection", "photos", "--json")
    assert result.stderr == ""
    package = json.loads(result.stdout)["packages"][0]
    assert [(w["code"], w["path"]) for w in package["warnings"]] == [
        ("system-file", "Thumbs.db"),
        ("format-unknown", "Thumbs.db"),
    ]
    assert any(level == "WARNING" and "d/Thumbs.db" in m for level, _, m in _lines(log))
    # errors still show
    result = repo.run("--quiet", "ingest", tmp_path / "nope", "--collection", "photos", ok=False)
    assert (result.exit_code, result.stderr) == (
        2,
        f"error: {tmp_path / 'nope'}: no such file or folder\n",
    )


def test_bad_log_file_and_options(repo: Repo, tmp_path: Path) -> None:
    nowhere = tmp_path / "no-such-folder" / "preserve.log"
    result = repo.run("--log-file", nowhere, "packages", "list", ok=False)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: Invalid value for '--log-file': {nowhere}: the folder {nowhere.parent} does "
        "not exist (create it first) (preserve --help shows the options)\n"
    )
    assert not nowhere.parent.exists()
    result = repo.run("--log-file", tmp_path, "packages", "list", ok=False)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: Invalid value for '--log-file': {tmp_path}: is a folder, not a file "
        "(preserve --help shows the options)\n"
    )
    result = repo.run("--log-file", "", "packages", "list", ok=False)
    assert result.exit_code == 2
    assert result.stderr == (
        "error: Invalid value for '--log-file': an empty value was given (an unset variable in "
        "a script?) (preserve --help shows the options)\n"
    )
    result = repo.run("-q", "-v", "packages", "list", ok=False)
    assert result.exit_code == 2
    assert result.stderr == (
        "error: --quiet and --verbose contradict each other: give one of them "
        "(preserve --help shows how to use it)\n"
    )


def test_a_warning_the_services_log_goes_to_json_and_the_log_file_when_quiet(
    repo: Repo, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "a.txt").write_text("a\n")
    csv = tmp_path / "meta.csv"
    csv.write_text("path,title\na,The A\nb,The B\n")
    expected = f"metadata CSV lists {tmp_path / 'b'}, which is not being ingested"
    result = repo.run("ingest", tmp_path / "a", "--collection", "photos", "--metadata", csv)
    assert result.stderr == f"warning: {expected}\n"  # the style of every warning, once
    log = tmp_path / "preserve.log"
    result = repo.run(
        "-q", "--log-file", log, "ingest", tmp_path / "a", "--collection", "photos",
        "--metadata", csv, "--json",
    )  # fmt: skip
    assert result.stderr == ""
    assert json.loads(result.stdout)["logged_warnings"] == [expected]
    assert ("WARNING", "preserve.ingest.pipeline", expected) in _lines(log)
