"""`preserve config` shows every setting in force, its value (passwords and secrets hidden) and
where it came from, and ends with one line on the catalogue; it works before `preserve init` and
creates nothing (issue 8)."""

from __future__ import annotations

import json
import socket
from dataclasses import fields
from pathlib import Path

import pytest
from preserve.config.settings import Settings, variable

from preserve.catalogue.database import head_revision
from tests.functional.cli import Repo


def new_repo(tmp_path: Path, database_url: str | None = None, **env: str) -> Repo:
    home = tmp_path / "home"
    return Repo(
        home=home,
        database_url=database_url or f"sqlite:///{home / 'catalogue.sqlite3'}",
        # the user's own settings file never leaks into a test
        extra_env={"XDG_CONFIG_HOME": str(tmp_path / "xdg-config"), **env},
    )


def rows(stdout: str) -> dict[str, list[str]]:
    """The table's rows by setting: [value, source], split on the column boundaries."""
    lines = stdout.splitlines()
    header = lines[0]
    value_at, source_at = header.index("value"), header.index("source")
    table = {}
    for line in lines[1:]:
        if not line.startswith("PRESERVE_"):
            break
        table[line[:value_at].strip()] = [
            line[value_at:source_at].strip(),
            line[source_at:].strip(),
        ]
    return table


def test_before_init_it_shows_the_settings_and_says_there_is_no_catalogue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    repo = new_repo(tmp_path)
    result = repo.run("config")
    home = tmp_path / "home"
    table = rows(result.stdout)
    assert table["PRESERVE_HOME"] == [str(home), "environment"]
    assert table["PRESERVE_STAGING_DIR"] == [str(home / "staging"), "default"]
    assert table["PRESERVE_S3_PART_SIZE"] == ["16777216 (16 MiB)", "default"]
    assert table["PRESERVE_BROKER_URL"] == ["(none)", "default"]
    # every setting, each once (a new setting shows without changing this test)
    names = {f.name for f in fields(Settings)} - {"sources", "settings_file"}
    assert set(table) == {variable(name) for name in names}
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["setting", "value", "source"]
    # aligned: every row's value and source start under their headers
    assert {line.index(str(home)) for line in lines if line.startswith("PRESERVE_HOME")} == {
        lines[0].index("value")
    }
    assert lines[-2] == (
        f"settings file: none ({tmp_path / 'xdg-config' / 'preserve' / 'preserve.toml'} does "
        "not exist; it is optional)"
    )
    assert lines[-1] == (
        f"no catalogue at {home / 'catalogue.sqlite3'}: run `preserve init` to make a new "
        "repository there, or set PRESERVE_HOME (or PRESERVE_DATABASE_URL) to the one you mean"
    )
    assert result.stderr == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing created


def test_after_init_it_says_the_catalogue_answers(database_url: str, tmp_path: Path) -> None:
    repo = new_repo(tmp_path, database_url)
    repo.run("init")
    last = repo.run("config").stdout.splitlines()[-1]
    assert last.startswith("catalogue ")
    assert last.endswith(f" answers, schema {head_revision()} (up to date)")
    data = repo.json("config")
    assert data["catalogue"]["state"] == "ok"
    assert data["catalogue"]["revision"] == data["catalogue"]["head"] == head_revision()


def test_an_empty_database_is_not_set_up(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "empty.sqlite3"
    sqlite3.connect(path).close()
    repo = new_repo(tmp_path, f"sqlite:///{path}")
    assert repo.run("config").stdout.splitlines()[-1] == (
        f"catalogue {path} answers, but it is empty: the catalogue has not been set up; run "
        "`preserve init` (a new repository) or `preserve db upgrade` (an existing database)"
    )
    assert repo.json("config")["catalogue"]["state"] == "not-set-up"


def test_sources_file_and_environment_with_secrets_hidden(tmp_path: Path) -> None:
    settings_file = tmp_path / "etc" / "preserve.toml"
    settings_file.parent.mkdir()
    settings_file.write_text(
        's3_part_size = "32MiB"\nsecret_key = "very-secret"\norganisation = "kmska"\n'
        'broker_url = "redis://:hunter2@broker:6379/0"\n'
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+psycopg://preserve:s3cret@127.0.0.1:{port}/catalogue"
    repo = new_repo(
        tmp_path,
        url,
        PRESERVE_CONFIG=str(settings_file),
        PRESERVE_ORGANISATION="meemoo",
        PRESERVE_MAX_UNPACK_BYTES="2TiB",
    )
    result = repo.run("config")
    table = rows(result.stdout)
    in_file = f"file {settings_file}"
    assert table["PRESERVE_S3_PART_SIZE"] == ["33554432 (32 MiB)", in_file]
    assert table["PRESERVE_SECRET_KEY"] == ["***", in_file]
    assert table["PRESERVE_BROKER_URL"] == ["redis://:***@broker:6379/0", in_file]
    assert table["PRESERVE_ORGANISATION"] == ["meemoo", "environment"]  # the environment wins
    assert table["PRESERVE_MAX_UNPACK_BYTES"] == ["2199023255552 (2 TiB)", "environment"]
    assert table["PRESERVE_DATABASE_URL"] == [
        f"postgresql+psycopg://preserve:***@127.0.0.1:{port}/catalogue",
        "environment",
    ]
    for secret in ("very-secret", "hunter2", "s3cret"):
        assert secret not in result.stdout
    lines = result.stdout.splitlines()
    assert lines[-2] == f"settings file: {settings_file}"
    assert lines[-1] == (
        f"cannot connect to the catalogue at postgresql+psycopg://preserve:***@127.0.0.1:{port}"
        "/catalogue (connection refused): is PostgreSQL running, and are the host and port in "
        "PRESERVE_DATABASE_URL right?"
    )
    assert result.exit_code == 0

    data = repo.json("config")
    by_name = {s["name"]: s for s in data["settings"]}
    assert by_name["s3_part_size"] == {
        "name": "s3_part_size",
        "variable": "PRESERVE_S3_PART_SIZE",
        "value": 33554432,
        "source": "file",
        "file": str(settings_file),
    }
    assert by_name["algorithms"]["value"] == ["sha512", "sha256"]
    assert by_name["organisation"]["source"] == "environment"
    assert by_name["organisation"]["file"] is None
    assert data["settings_file"] == {
        "path": str(settings_file),
        "read": True,
        "named_by": "PRESERVE_CONFIG",
    }
    assert data["catalogue"]["state"] == "unreachable"
    assert "s3cret" not in json.dumps(data) and "hunter2" not in json.dumps(data)


def test_invalid_settings_are_listed_with_exit_2(tmp_path: Path) -> None:
    settings_file = tmp_path / "preserve.toml"
    settings_file.write_text('s3_partsize = "16MiB"\n')
    repo = new_repo(tmp_path, PRESERVE_CONFIG=str(settings_file), PRESERVE_S3_PART_SIZE="16 MiBs")
    result = repo.run("config", ok=False)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: invalid configuration: {settings_file}: unknown setting 's3_partsize' (did you "
        "mean 's3_part_size'?); PRESERVE_S3_PART_SIZE='16 MiBs' is not a size: give a byte "
        "count, or a number with a unit: B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, "
        "TiB (powers of 1024), e.g. 16MiB or 1.5 GB\n"
    )
    assert result.stdout == ""


def test_a_missing_settings_file_named_by_preserve_config(tmp_path: Path) -> None:
    repo = new_repo(tmp_path, PRESERVE_CONFIG=str(tmp_path / "nope.toml"))
    for args in (("config",), ("packages", "list")):
        result = repo.run(*args, ok=False)
        assert result.exit_code == 2
        assert result.stderr == (
            f"error: PRESERVE_CONFIG names the settings file {tmp_path / 'nope.toml'}, which "
            "does not exist\n"
        )


def test_the_settings_file_is_used_by_every_command(tmp_path: Path) -> None:
    """home from the file (a relative PRESERVE_HOME is not needed): init makes the repository
    there."""
    settings_file = tmp_path / "preserve.toml"
    settings_file.write_text(f'home = "{tmp_path / "from-file"}"\n')
    repo = Repo(
        home=tmp_path / "unused",
        database_url="",
        extra_env={"PRESERVE_CONFIG": str(settings_file), "PRESERVE_HOME": ""},
    )
    repo.run("init")
    assert (tmp_path / "from-file" / "catalogue.sqlite3").is_file()
    assert not (tmp_path / "unused").exists()
    table = rows(repo.run("config").stdout)
    assert table["PRESERVE_HOME"] == [str(tmp_path / "from-file"), f"file {settings_file}"]


@pytest.mark.parametrize(
    ("key", "shown", "source"),
    [
        (
            "",
            "*** (the development default: set PRESERVE_SECRET_KEY in production)",
            "default",
        ),
        ("a-long-random-key", "***", "environment"),
        (
            "dev-only-not-secret",
            "*** (the development default: set PRESERVE_SECRET_KEY in production)",
            "environment",
        ),
    ],
)
def test_the_secret_key_is_never_shown(tmp_path: Path, key: str, shown: str, source: str) -> None:
    """The README says it is hidden: also the development default (issue 8, new-user trial)."""
    repo = new_repo(tmp_path, PRESERVE_SECRET_KEY=key)
    result = repo.run("config")
    assert rows(result.stdout)["PRESERVE_SECRET_KEY"] == [shown, source]
    for secret in {"dev-only-not-secret", key} - {""}:
        assert secret not in result.stdout
    data = repo.json("config")
    secret = next(s for s in data["settings"] if s["name"] == "secret_key")
    assert secret["value"] == "***"
