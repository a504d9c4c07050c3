"""preserve jobs list/show/cancel/retry through the command line, on jobs recorded by the
service (the workers that run them are issue 10's)."""

from __future__ import annotations

from preserve.config.settings import Settings

from preserve.bootstrap import bootstrap
from preserve.services import jobs
from tests.functional.cli import Repo


def _queued(repo: Repo, kind: str = "fixity") -> str:
    app = bootstrap(Settings.from_env(repo.env), actor="tester")
    try:
        with app.uow() as uow:
            job = jobs.enqueue(uow, kind, {"package": "3f2a9c1e"}, requested_by="an archivist")
            uow.commit()
        return job.id
    finally:
        app.close()


def test_jobs_are_listed_shown_cancelled_and_retried(repo: Repo) -> None:
    assert repo.run("jobs", "list").stdout == "no jobs\n"
    job_id = _queued(repo)
    listed = repo.run("jobs", "list").stdout.splitlines()
    assert len(listed) == 1 and listed[0].startswith(job_id[:8])
    assert "fixity" in listed[0] and "queued" in listed[0] and "by an archivist" in listed[0]
    shown = repo.json("jobs", "show", job_id[:6])
    assert (shown["id"], shown["state"], shown["payload"]) == (
        job_id,
        "queued",
        {"package": "3f2a9c1e"},
    )
    assert repo.run("jobs", "cancel", job_id).stdout == f"cancelled job {job_id}\n"
    assert repo.json("jobs", "list", "--state", "cancelled")[0]["id"] == job_id
    assert repo.run("jobs", "retry", job_id).stdout == f"queued job {job_id} again\n"
    text = repo.run("jobs", "show", job_id).stdout
    assert "(fixity, queued)" in text and "attempts  0 of 5" in text


def test_jobs_bad_input(repo: Repo) -> None:
    job_id = _queued(repo)
    cases = [
        (["jobs", "show", "0f0f0f0f"], 3, "error: no job '0f0f0f0f'"),
        (["jobs", "retry", job_id], 2, "only a failed or cancelled job can be retried"),
        (["jobs", "list", "--state", "done"], 2, "'done' is not one of"),
    ]
    for args, code, message in cases:
        result = repo.run(*args, ok=False)
        assert result.exit_code == code, (args, result.stderr)
        assert message in result.stderr and len(result.stderr.splitlines()) == 1
    repo.run("jobs", "cancel", job_id)
    again = repo.run("jobs", "cancel", job_id, ok=False)
    assert again.exit_code == 2 and "has ended (cancelled)" in again.stderr
