"""Every failure is reported once on stderr at the default verbosity (the CLI prints it; the
services log what they also raise at debug level only), whatever failed: bad input, one package of
a multi-path ingest, a storage location, a fixity check, an export, the catalogue's disk, or a
bug. These run the real command line in a subprocess, where logging goes to stderr as it does for
an operator."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.functional.cli import Repo

REPO_ROOT = Path(__file__).resolve().parents[2]

# The catalogue's disk fills up: every connection the application opens may grow the SQLite
# database only to the page count given as the first argument (SQLITE_FULL beyond it).
LIMITED_CATALOGUE = """
import sys
from sqlalchemy import event
from sqlalchemy.engine import Engine

limit = int(sys.argv.pop(1))


@event.listens_for(Engine, "connect")
def _limit(dbapi_connection, _record):
    dbapi_connection.execute(f"PRAGMA max_page_count={limit}")


from preserve.cli import main

main(sys.argv[1:])
"""

# A bug: a service raises something that is not a PreserveError.
BUGGY_SERVICE = """
import sys
import preserve.services.packages as packages


def list_packages(*args, **kwargs):
    raise RuntimeError("an unexpected state in list_packages")


packages.list_packages = list_packages
from preserve.cli import main

main(sys.argv[1:])
"""


def run(
    repo: Repo,
    *args: str | Path,
    code: str | None = None,
    extra: tuple[str, ...] = (),
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``preserve ARGS`` in a subprocess (or the driver ``code`` with ``extra`` arguments first)."""
    env = {**os.environ, **repo.env}
    env.pop("PRESERVE_DEBUG", None)
    program = ["-c", code, *extra] if code else ["-m", "preserve.cli"]
    return subprocess.run(
        [sys.executable, *program, *map(str, args)],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        preexec_fn=preexec_fn,
    )


def assert_reported_once(
    result: subprocess.CompletedProcess[str], *needles: str, code: int, errors: int = 1
) -> None:
    """Exit status ``code``; ``errors`` lines starting with 'error:' (or 'FAILED'); each needle
    (a piece of the error's text) exactly once in stderr; no log line, no traceback."""
    err = result.stderr
    assert result.returncode == code, (result.returncode, result.stdout, err)
    assert "Traceback" not in err, err
    reported = [line for line in err.splitlines() if line.startswith(("error:", "FAILED"))]
    assert len(reported) == errors, err
    for needle in needles:
        assert err.count(needle) == 1, f"{needle!r} is not printed exactly once:\n{err}"
    logged = [line for line in err.splitlines() if line.startswith(("ERROR ", "WARNING "))]
    assert logged == [], err


def _folder(path: Path, files: int = 1) -> Path:
    path.mkdir(parents=True)
    for i in range(files):
        (path / f"file-{i:04}.txt").write_text(f"{path.name} {i}\n" * 20)
    return path


def test_bad_input_is_reported_once(repo: Repo, tmp_path: Path) -> None:
    result = run(repo, "ingest", tmp_path / "missing", "--collection", "photos")
    assert_reported_once(result, "missing: no such file or folder", code=2)
    result = run(repo, "ingest", _folder(tmp_path / "a"), "--collection", "nope")
    assert_reported_once(result, "no collection 'nope' in organisation 'default'", code=3)
    repo.extra_env["PRESERVE_WORKERS"] = "many"
    result = run(repo, "packages", "list")
    assert_reported_once(result, "PRESERVE_WORKERS", code=2)


def test_a_failed_package_of_a_multi_path_ingest_is_reported_once(
    repo: Repo, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    good = _folder(tmp_path / "good")
    result = run(repo, "ingest", empty, good, "--collection", "photos")
    assert_reported_once(result, "nothing to ingest", code=2)
    assert "stored " in result.stdout
    # -v and -vv say more: at -vv the failure is logged with its cause, at debug level
    (tmp_path / "good2").mkdir()
    (tmp_path / "good2" / "x.txt").write_text("x")
    verbose = run(repo, "-vv", "ingest", empty, tmp_path / "good2", "--collection", "photos")
    assert verbose.returncode == 2
    assert verbose.stderr.count("nothing to ingest") > 1
    assert "DEBUG " in verbose.stderr and len(verbose.stderr) > len(result.stderr)


def test_a_storage_error_is_reported_once(repo: Repo, tmp_path: Path) -> None:
    """The location cannot write the package's objects (a file where its folder should be)."""
    delivery = _folder(tmp_path / "d")
    (repo.storage_root / "default").mkdir(parents=True, exist_ok=True)
    (repo.storage_root / "default" / "photos").write_text("not a folder")
    result = run(repo, "ingest", delivery, "--collection", "photos")
    assert_reported_once(result, "default/photos exists and is not a folder", code=1)
    assert repo.packages() == []


def test_an_unreachable_location_is_reported_once(repo: Repo, tmp_path: Path) -> None:
    delivery = _folder(tmp_path / "d")
    repo.storage_root.rename(tmp_path / "unmounted")
    result = run(repo, "ingest", delivery, "--collection", "photos")
    assert_reported_once(result, "does not exist or is not a folder", code=1)


def test_a_full_staging_disk_is_reported_once(repo: Repo, tmp_path: Path) -> None:
    """A file-size limit makes writes beyond 64 KiB fail like a full disk (EFBIG)."""
    import resource
    import signal

    d = tmp_path / "big"
    d.mkdir()
    (d / "big.bin").write_bytes(os.urandom(1 << 20))

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 16, 1 << 16))

    result = run(repo, "ingest", d, "--collection", "photos", preexec_fn=limit)
    assert_reported_once(result, "is full", code=1)


def test_fixity_failures_are_reported_once(repo: Repo, tmp_path: Path) -> None:
    repo.run("ingest", _folder(tmp_path / "d"), "--collection", "photos")
    package_id = repo.packages()[0]["id"]
    repo.storage_root.rename(tmp_path / "unmounted")
    result = run(repo, "fixity", "--package", package_id)
    assert_reported_once(result, "does not exist or is not a folder", code=1)


def test_an_export_failure_is_reported_once(repo: Repo, tmp_path: Path) -> None:
    repo.run("ingest", _folder(tmp_path / "d"), "--collection", "photos")
    package_id = repo.packages()[0]["id"]
    stored = next(repo.storage_root.rglob("file-0000.txt"))
    stored.chmod(0o644)
    stored.write_text("changed\n")
    result = run(repo, "export", package_id, tmp_path / "out")
    assert_reported_once(result, "could not be exported", code=1)
    assert "data/file-0000.txt has no good copy on any location" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_bug_is_reported_once(repo: Repo) -> None:
    result = run(repo, "packages", "list", code=BUGGY_SERVICE)
    assert_reported_once(result, "an unexpected state in list_packages", code=70, errors=0)
    assert result.stderr.startswith("internal error (a bug in preserve)"), result.stderr


def _page_count(database: Path) -> int:
    with sqlite3.connect(database) as conn:
        return int(conn.execute("PRAGMA page_count").fetchone()[0])


def test_a_full_catalogue_disk_is_reported_as_such_for_each_package(
    repo: Repo, tmp_path: Path
) -> None:
    """The catalogue's disk fills up at the final commit of each package: each is rolled back and
    reported as a full catalogue (its path named), the next path is still tried, exit 1."""
    first = _folder(tmp_path / "first", files=300)
    second = _folder(tmp_path / "second", files=300)
    database = tmp_path / "catalogue.sqlite3"
    # room for the 'ingesting' record of a package, not for its 300 file rows and events
    limit = _page_count(database) + 4
    result = run(
        repo,
        "ingest",
        first,
        second,
        "--collection",
        "photos",
        code=LIMITED_CATALOGUE,
        extra=(str(limit),),
    )
    message = f"catalogue {database}: database or disk is full"
    assert_reported_once(result, f"{first}: {message}", f"{second}: {message}", code=1, errors=2)
    assert "internal error" not in result.stderr
    assert repo.packages() == []
    assert repo.stored_keys() == []
    assert repo.staging_entries() == []
    # with room again, the same deliveries are stored
    repo.run("ingest", first, second, "--collection", "photos")
    assert [p["status"] for p in repo.packages()] == ["stored", "stored"]


def test_an_unusable_catalogue_is_reported_once_not_as_a_bug(tmp_path: Path) -> None:
    """Outside a unit of work too (migrating; fixity reads the catalogue with plain SQL)."""
    folder = tmp_path / "a-folder"
    folder.mkdir()
    repo = Repo(home=tmp_path / "home", database_url=f"sqlite:///{folder}")
    result = run(repo, "init")
    assert_reported_once(result, f"catalogue {folder}: unable to open database file", code=1)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n" * 500)
    repo = Repo(home=tmp_path / "home", database_url=f"sqlite:///{notes}")
    for command in (("init",), ("fixity", "--all"), ("packages", "list")):
        result = run(repo, *command)
        assert_reported_once(result, f"catalogue {notes}: file is not a database", code=1)
