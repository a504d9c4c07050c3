"""``preserve agreements reminders``: the parties' people told by e-mail what awaits them, through
the real command line and a real SMTP server on loopback; --dry-run, --json, once per thing,
and bad input (no mail server, bad --days) as one line with exit status 2; SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.functional.cli import Repo
from tests.functional.test_agreements_cli import description, fails, write
from tests.smtpserver import SmtpServer


@pytest.fixture
def repo(tmp_path: Path, database_url: str, smtp_server: SmtpServer) -> Repo:
    r = Repo(
        home=tmp_path / "home",
        database_url=database_url,
        extra_env={"PRESERVE_SMTP_URL": smtp_server.url()},
    )
    r.run("init")
    for slug in ("museum", "artist", "archive"):
        r.run("organisations", "add", slug, "--name", slug.title())
    r.run("collections", "add", "photos", "--organisation", "museum")
    for user, org, role in (
        ("mia", "museum", "archivist"),
        ("vera", "museum", "viewer"),
        ("an", "artist", "admin"),
        ("cas", "archive", "archivist"),
    ):
        r.run(
            "users", "create", user, "--organisation", org, "--role", role,
            "--email", f"{user}@example.org",
        )  # fmt: skip
    return r


def test_reminders_tell_each_party_once(
    repo: Repo, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    repo.run("agreements", "create", "--from", write(tmp_path, description()), "--as", "mia")
    assert "nothing new to tell anyone" in repo.run("agreements", "reminders").stdout
    repo.run("agreements", "propose", "CRA-2026-001", "--as", "mia")
    dry = repo.json("agreements", "reminders", "--dry-run")
    assert sorted(n["user"] for n in dry["recorded"]) == ["an", "cas", "mia"]
    assert smtp_server.messages == []
    out = repo.run("agreements", "reminders").stdout
    assert "told an <an@example.org>: CRA-2026-001 v1 awaits your decision" in out
    assert "3 e-mail(s) sent" in out
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == [
        "an@example.org",
        "cas@example.org",
        "mia@example.org",
    ]
    again = repo.json("agreements", "reminders")
    assert (again["recorded"], again["sent"]) == ([], 0)
    assert len(smtp_server.messages) == 3


def test_reminders_bad_input(repo: Repo, tmp_path: Path) -> None:
    err = fails(repo, 2, "agreements", "reminders", "--days", "30,soon")
    assert "--days '30,soon': give numbers of days" in err
    err = fails(repo, 2, "agreements", "reminders", "--days", "30,-7")
    assert "reminder days" in err
    plain = Repo(home=repo.home, database_url=repo.database_url)  # no PRESERVE_SMTP_URL
    err = fails(plain, 2, "agreements", "reminders")
    assert "no mail server is configured (PRESERVE_SMTP_URL)" in err
    assert json.loads(plain.run("agreements", "reminders", "--dry-run", "--json").stdout) == {
        "recorded": [],
        "sent": 0,
        "retrying": 0,
        "failed": 0,
        "no_address": [],
        "errors": [],
    }
