"""``preserve users``: accounts from the command line, their one-time passwords, roles,
deactivation and resets; bad input as one line with the exit codes of preserve.errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from preserve.config.settings import Settings

from preserve.bootstrap import bootstrap
from preserve.cli import cli
from preserve.services import accounts, audit
from tests.functional.cli import Repo


@pytest.fixture
def repo(tmp_path: Path, database_url: str) -> Repo:
    r = Repo(home=tmp_path / "home", database_url=database_url)
    r.run("init")
    r.run("organisations", "add", "museum", "--name", "The Museum")
    return r


def sign_in(repo: Repo, name: str, password: str) -> accounts.SignIn:
    app = bootstrap(Settings.from_env(repo.env))
    try:
        return accounts.authenticate(app, name, password)
    finally:
        app.close()


def test_create_list_role_deactivate_reset(repo: Repo) -> None:
    made = repo.run("users", "create", "admin", "--admin")
    lines = made.stdout.splitlines()
    assert lines[0] == "repository administrator admin created"
    password = lines[1].removeprefix("one-time password: ")
    assert len(password) >= 12
    first = sign_in(repo, "admin", password)
    assert first.principal is not None and first.principal.is_admin
    assert first.must_change_password

    ann = repo.json(
        "users",
        "create",
        "Ann",
        "--organisation",
        "museum",
        "--role",
        "viewer",
        "--display-name",
        "Ann Claes",
        "--email",
        "ann@example.org",
    )
    assert ann["username"] == "ann" and ann["memberships"] == {"museum": "viewer"}
    assert ann["one_time_password"]

    listed = {u["username"]: u for u in repo.json("users", "list")}
    assert listed["ann"]["memberships"] == {"museum": "viewer"}
    assert listed["admin"]["is_admin"] and listed["ann"]["display_name"] == "Ann Claes"
    text = repo.run("users", "list").stdout
    assert "museum:viewer" in text and "repository admin" in text

    assert repo.run("users", "set-role", "ann", "museum", "admin").stdout.strip() == (
        "ann is admin in museum"
    )
    assert repo.json("users", "list")[1]["memberships"] == {"museum": "admin"}
    repo.run("users", "set-role", "ann", "museum", "none")
    assert repo.json("users", "list")[1]["memberships"] == {}

    assert "deactivated" in repo.run("users", "deactivate", "ann").stdout
    assert "already" in repo.run("users", "deactivate", "ann").stdout
    assert sign_in(repo, "ann", ann["one_time_password"]).principal is None
    repo.run("users", "reactivate", "ann")
    assert sign_in(repo, "ann", ann["one_time_password"]).principal is not None

    reset = repo.json("users", "reset-password", "ann")
    assert sign_in(repo, "ann", ann["one_time_password"]).principal is None
    again = sign_in(repo, "ann", reset["one_time_password"])
    assert again.principal is not None and again.must_change_password

    app = bootstrap(Settings.from_env(repo.env))
    from preserve.services.access import Principal

    log = audit.entries(app, Principal(user_id=0, username="x", is_admin=True), per_page=100)
    app.close()
    actions = [e.action for e in reversed(log.entries) if e.channel == "cli"]
    assert actions == [
        "user.create",
        "user.create",
        "user.role",
        "user.role",
        "user.deactivate",
        "user.reactivate",
        "user.password_reset",
    ]


def test_password_from_stdin(repo: Repo) -> None:
    result = CliRunner().invoke(
        cli,
        ["users", "create", "robot", "--password-stdin"],
        input="a long enough password\n",
        env=repo.env,
    )
    assert result.exit_code == 0, result.stderr
    assert "one-time password" not in result.stdout
    signed = sign_in(repo, "robot", "a long enough password")
    assert signed.principal is not None and not signed.must_change_password


@pytest.mark.parametrize(
    ("args", "stdin", "code", "message"),
    [
        (["create", "Bad Name"], "", 2, "is not a valid user name"),
        (["create", "ann", "--organisation", "nowhere"], "", 3, "no organisation 'nowhere'"),
        (["create", "ann", "--role", "admin"], "", 2, "--role needs --organisation"),
        (["create", "ann", "--role", "king", "--organisation", "museum"], "", 2, "king"),
        (["create", "ann", "--email", "nope"], "", 2, "is not an e-mail address"),
        (["create", "ann", "--password-stdin"], "short\n", 2, "at least 12 characters"),
        (["create", "ann", "--password-stdin"], "\n", 2, "no password on standard input"),
        (["create", "taken"], "", 1, "already exists"),
        (["set-role", "ghost", "museum", "viewer"], "", 3, "no user 'ghost'"),
        (["set-role", "taken", "nowhere", "viewer"], "", 3, "no organisation 'nowhere'"),
        (["set-role", "taken", "museum", "emperor"], "", 2, "emperor"),
        (["deactivate", "ghost"], "", 3, "no user 'ghost'"),
        (["reset-password", "ghost"], "", 3, "no user 'ghost'"),
        (["reset-password", ""], "", 2, "empty value"),
    ],
)
def test_bad_input(repo: Repo, args: list[str], stdin: str, code: int, message: str) -> None:
    repo.run("users", "create", "taken")
    before = repo.json("users", "list")
    result = CliRunner().invoke(cli, ["users", *args], input=stdin, env=repo.env)
    assert result.exit_code == code, result.stdout + result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert repo.json("users", "list") == before  # nothing half-made


def test_list_without_users(repo: Repo) -> None:
    assert "no users" in repo.run("users", "list").stdout
    assert repo.json("users", "list") == []
