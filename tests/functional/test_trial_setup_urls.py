"""A mistyped catalogue or storage URL is a configuration error (exit 2) that says which forms
are accepted, for every command, `preserve config` included; never "a bug in preserve" (exit
70). `postgres://` and `postgresql://`, as hosting providers hand them out, are read as
`postgresql+psycopg://` (issue 8, new-user trial)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.dbfixtures import postgres_admin_url, postgres_database
from tests.functional.cli import Repo

COMMANDS = (("config",), ("init",), ("packages", "list"), ("config", "--json"))
DATABASE_FORMS = "use postgresql+psycopg://USER@HOST:PORT/DATABASE or sqlite:///PATH"
STORAGE_FORMS = (
    "use file:///ABSOLUTE/PATH or s3://BUCKET/PREFIX (with ?endpoint_url=https://HOST:PORT for "
    "an S3-compatible server other than AWS)"
)


def new_repo(tmp_path: Path, database_url: str = "", **env: str) -> Repo:
    home = tmp_path / "home"
    return Repo(
        home=home,
        database_url=database_url or f"sqlite:///{home / 'catalogue.sqlite3'}",
        extra_env={"XDG_CONFIG_HOME": str(tmp_path / "xdg-config"), **env},
    )


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (
            "mysql://x@y/z",
            f"PRESERVE_DATABASE_URL='mysql://x@y/z' is not a supported catalogue URL: "
            f"{DATABASE_FORMS}",
        ),
        (
            "mysql://archive:hunter2@db/preserve",
            "PRESERVE_DATABASE_URL='mysql://archive:***@db/preserve' is not a supported "
            f"catalogue URL: {DATABASE_FORMS}",
        ),
        (
            "notaurl",
            f"PRESERVE_DATABASE_URL='notaurl' is not a supported catalogue URL: {DATABASE_FORMS}",
        ),
        (
            "postgres://postgres@127.0.0.1:port/trial",
            "PRESERVE_DATABASE_URL='postgres://postgres@127.0.0.1:port/trial' has a port that "
            f"is not a number 0-65535: {DATABASE_FORMS}",
        ),
    ],
)
def test_an_unsupported_catalogue_url_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, problem: str
) -> None:
    monkeypatch.chdir(tmp_path)
    repo = new_repo(tmp_path, url)
    for args in COMMANDS:
        result = repo.run(*args, ok=False)
        assert (result.exit_code, result.stdout, result.stderr) == (
            2,
            "",
            f"error: invalid configuration: {problem}\n",
        ), args
    assert "hunter2" not in problem
    assert sorted(tmp_path.iterdir()) == []  # nothing created, not even the home folder


def test_url_problems_are_listed_with_all_the_others(tmp_path: Path) -> None:
    repo = new_repo(
        tmp_path, "mysql://x@y/z", PRESERVE_STORAGE_URL="ftp://nas", PRESERVE_WORKERS="many"
    )
    result = repo.run("config", ok=False)
    assert (result.exit_code, result.stderr) == (
        2,
        f"error: invalid configuration: PRESERVE_DATABASE_URL='mysql://x@y/z' is not a "
        f"supported catalogue URL: {DATABASE_FORMS}; PRESERVE_STORAGE_URL='ftp://nas' is not a "
        f"supported storage URL: {STORAGE_FORMS}; PRESERVE_WORKERS='many' is not a whole "
        "number >= 0\n",
    )


def test_a_bad_url_in_the_settings_file(tmp_path: Path) -> None:
    settings_file = tmp_path / "preserve.toml"
    settings_file.write_text('database_url = "mysql://x:s3cret@y/z"\n')
    repo = new_repo(tmp_path, PRESERVE_CONFIG=str(settings_file))
    repo.extra_env["PRESERVE_DATABASE_URL"] = ""  # not set: the file's value counts
    result = repo.run("config", ok=False)
    assert (result.exit_code, result.stderr) == (
        2,
        f"error: invalid configuration: {settings_file}: database_url = 'mysql://x:***@y/z' is "
        f"not a supported catalogue URL: {DATABASE_FORMS}\n",
    )


def test_config_shows_a_postgres_url_normalised(tmp_path: Path) -> None:
    repo = new_repo(tmp_path, "postgres://archive:s3cret@127.0.0.1:1/trial")
    result = repo.run("config")
    assert (
        "PRESERVE_DATABASE_URL",
        "postgresql+psycopg://archive:***@127.0.0.1:1/trial",
        "environment",
    ) in [tuple(line.split()) for line in result.stdout.splitlines()]
    assert "s3cret" not in result.stdout
    assert "bug" not in result.stdout + result.stderr
    # the catalogue's state is reported in the last line, as for any unreachable server
    assert result.stdout.splitlines()[-1].startswith(
        "cannot connect to the catalogue at postgresql+psycopg://archive:***@127.0.0.1:1/trial"
    )


@pytest.mark.postgres
@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_a_hosting_providers_url_works_end_to_end(tmp_path: Path, scheme: str) -> None:
    admin_url = postgres_admin_url()
    if admin_url is None:
        pytest.skip("PRESERVE_TEST_DATABASE_URL is not set: PostgreSQL tests skipped")
    with postgres_database(admin_url) as url:
        given = make_url(url).set(drivername=scheme).render_as_string(hide_password=False)
        repo = new_repo(tmp_path, given)
        assert repo.run("init").stdout.splitlines()[0].startswith("catalogue    set up at ")
        repo.run("collections", "add", "photos")
        assert repo.run("packages", "list").stdout == "no packages\n"
        assert repo.json("config")["catalogue"]["state"] == "ok"


@pytest.mark.parametrize(
    ("url", "what"),
    [
        ("ftp://x", "is not a supported storage URL"),
        ("notaurl", "is not a supported storage URL"),
        ("s3://", "names no bucket"),
        ("file://aips", "does not name an absolute path"),
    ],
)
def test_a_bad_storage_url_is_a_configuration_error(tmp_path: Path, url: str, what: str) -> None:
    repo = new_repo(tmp_path, PRESERVE_STORAGE_URL=url)
    for args in COMMANDS:
        result = repo.run(*args, ok=False)
        assert (result.exit_code, result.stderr) == (
            2,
            f"error: invalid configuration: PRESERVE_STORAGE_URL={url!r} {what}: {STORAGE_FORMS}\n",
        ), args
    assert sorted(tmp_path.iterdir()) == []


def test_init_checks_the_whole_storage_url_before_it_creates_anything(tmp_path: Path) -> None:
    repo = new_repo(tmp_path, PRESERVE_STORAGE_URL="s3://aips?endpoint=http://minio:9000")
    result = repo.run("init", ok=False)
    assert (result.exit_code, result.stderr) == (
        2,
        "error: the default storage location (PRESERVE_STORAGE_URL): storage location URL "
        "'s3://aips?endpoint=http://minio:9000': unknown parameter 'endpoint' (known: "
        "endpoint_url, region, addressing_style, verification, request_checksum_calculation, "
        "response_checksum_validation, connect_timeout, read_timeout)\n",
    )
    assert sorted(tmp_path.iterdir()) == []
