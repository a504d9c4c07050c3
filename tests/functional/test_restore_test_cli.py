"""``preserve restore-test`` through the real command line (issue 12, E7): ok (exit 0), a
damaged copy (exit 1, the problem shown), the history, JSON; bad input one line with its exit
code; the daily beat task runs the test that is due. SQLite and PostgreSQL."""

# ruff: noqa: F811 - ``repo`` is the fixture of test_agreements_cli, imported, not redefined
from __future__ import annotations

from pathlib import Path

import pytest

from tests.functional.cli import Repo
from tests.functional.test_agreements_cli import (  # noqa: F401 (the repo fixture)
    description,
    fails,
    repo,
)
from tests.functional.test_ingest_under_agreement import _active, _delivery, _ingest
from tests.s3server import corrupt_object

REF = "CRA-2026-001"


def _level() -> dict[str, object]:
    level = dict(description()["service_level"], restore_test_interval_days=30)
    level.update(min_copies=1, min_distinct_sites=1, allowed_regions=[])
    return level


def test_restore_test_ok_failed_and_history(repo: Repo, tmp_path: Path) -> None:
    _active(repo, tmp_path, service_level=_level())
    repo.run("locations", "edit", "default", "--region", "BE", "--site", "Gent")
    pid = _ingest(repo, _delivery(tmp_path))["package_id"]
    ok = repo.json("restore-test", "--agreement", REF)
    assert (ok["package_id"], ok["location"], ok["outcome"]) == (pid, "default", "ok")
    assert ok["files"] == 2 and ok["problems"] == []
    text = repo.run("restore-test", "--package", pid[:8]).stdout
    assert f"package {pid} v1 (agreement {REF} v1) from location default: OK" in text

    [copy] = repo.json("show", pid)["copies"]
    url = repo.json("locations", "list")[0]["url"]
    corrupt_object(url, copy["key_prefix"] + "data/note-0.txt", lambda data: data + b"!")
    result = repo.run("restore-test", "--package", pid, ok=False)
    assert result.exit_code == 1, result.stdout
    assert "FAILED" in result.stdout and "note-0.txt" in result.stdout
    failed = repo.run("restore-test", "--package", pid, "--json", ok=False)
    assert failed.exit_code == 1, (failed.stdout, failed.stderr)
    history = repo.json("restore-test", "--history", "--agreement", REF)
    assert [h["outcome"] for h in history] == ["failed", "failed", "ok", "ok"]
    assert "failed" in repo.run("restore-test", "--history").stdout


def test_bad_input(repo: Repo, tmp_path: Path) -> None:
    _active(repo, tmp_path)
    repo.run("locations", "edit", "default", "--region", "BE", "--site", "Gent")
    pid = _ingest(repo, _delivery(tmp_path))["package_id"]
    fails(repo, 2, "restore-test", "--agreement", REF, "--package", pid)
    fails(repo, 3, "restore-test", "--package", pid, "--location", "nowhere")
    fails(repo, 3, "restore-test", "--package", "ffffffff")
    fails(repo, 3, "restore-test", "--agreement", "NOPE-1")
    fails(repo, 2, "restore-test", "--history", "--location", "default")
    fails(repo, 2, "restore-test", "--package", "")
    assert repo.json("restore-test", "--history") == []


def test_the_daily_task_runs_the_due_restore_test(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from preserve.workers import tasks

    _active(repo, tmp_path, service_level=_level())
    repo.run("locations", "edit", "default", "--region", "BE", "--site", "Gent")
    pid = _ingest(repo, _delivery(tmp_path))["package_id"]
    for name, value in repo.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(tasks, "_application", None)
    try:
        assert tasks.agreements_daily()["restore_tests"] == 1
        assert tasks.agreements_daily()["restore_tests"] == 0  # not due again for 30 days
    finally:
        if tasks._application is not None:
            tasks._application[1].close()
    [test] = repo.json("restore-test", "--history")
    assert (test["package_id"], test["outcome"], test["agreement"]) == (pid, "ok", f"{REF} v1")
