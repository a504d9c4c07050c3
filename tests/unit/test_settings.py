from __future__ import annotations

from pathlib import Path

import pytest
from preserve.config.settings import Settings, parse_size

from preserve.errors import ConfigError


def test_embedded_defaults_live_under_home(tmp_path: Path) -> None:
    s = Settings.from_env({"PRESERVE_HOME": str(tmp_path)})
    assert s.database_url == f"sqlite:///{tmp_path / 'catalogue.sqlite3'}"
    assert s.storage_url == (tmp_path / "storage").as_uri()
    assert s.staging_dir == tmp_path / "staging"
    assert s.algorithms == ("sha512", "sha256")


def test_sha512_is_always_included() -> None:
    s = Settings.from_env({"PRESERVE_ALGORITHMS": "sha256,md5"})
    assert s.algorithms == ("sha512", "sha256", "md5")


def test_every_invalid_variable_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(
            {
                "PRESERVE_STORAGE_RETRIES": "many",
                "PRESERVE_ALGORITHMS": "sha256,rot13",
                "PRESERVE_ENV": "staging",
                "PRESERVE_S3_PART_SIZE": "1024",
            }
        )
    message = str(info.value)
    for fragment in ("PRESERVE_STORAGE_RETRIES", "rot13", "PRESERVE_ENV", "5 MiB"):
        assert fragment in message


def test_production_requires_explicit_settings_and_secret() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"PRESERVE_ENV": "production"})
    for name in ("PRESERVE_DATABASE_URL", "PRESERVE_STORAGE_URL", "PRESERVE_SECRET_KEY"):
        assert name in str(info.value)


# ----------------------------------------------------------------------------- PRESERVE_HOME


def test_home_defaults_to_the_user_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    s = Settings.from_env({})
    assert s.home == tmp_path / "data" / "preserve"
    assert s.database_url == f"sqlite:///{tmp_path / 'data' / 'preserve' / 'catalogue.sqlite3'}"
    assert s.sources == {}
    assert not (tmp_path / "data").exists()  # reading settings creates nothing


# ----------------------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("16MiB", 16 * 1024**2),
        ("64MB", 64 * 1000**2),
        ("1TiB", 1024**4),
        ("16 mib", 16 * 1024**2),
        ("1.5 GB", 1_500_000_000),
        ("2kib", 2048),
        ("5242880", 5242880),
        ("100 B", 100),
        (" 3 TB ", 3 * 1000**4),
    ],
)
def test_sizes_accept_units(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_every_size_setting_takes_units() -> None:
    s = Settings.from_env(
        {
            "PRESERVE_S3_PART_SIZE": "16MiB",
            "PRESERVE_S3_MULTIPART_THRESHOLD": "64MB",
            "PRESERVE_MAX_UNPACK_BYTES": "1TiB",
        }
    )
    assert (s.s3_part_size, s.s3_multipart_threshold, s.max_unpack_bytes) == (
        16 * 1024**2,
        64 * 1000**2,
        1024**4,
    )
    assert s.sources["s3_part_size"] == "environment"


ACCEPTED = (
    "a byte count, or a number with a unit: B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, "
    "GiB, TiB (powers of 1024), e.g. 16MiB or 1.5 GB"
)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("16MiBs", f"is not a size: give {ACCEPTED}"),
        ("16 megabytes", f"is not a size: give {ACCEPTED}"),
        ("-1", f"is not a size: give {ACCEPTED}"),
        ("MiB", f"is not a size: give {ACCEPTED}"),
        ("1.5B", "is not a whole number of bytes"),
    ],
)
def test_a_bad_size_says_what_is_accepted(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"PRESERVE_MAX_UNPACK_BYTES": text})
    assert str(info.value) == f"invalid configuration: PRESERVE_MAX_UNPACK_BYTES={text!r} {problem}"


def test_the_s3_part_size_stays_within_s3_limits() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"PRESERVE_S3_PART_SIZE": "6GiB"})
    assert str(info.value) == (
        "invalid configuration: PRESERVE_S3_PART_SIZE must be at least 5 MiB and at most 5 GiB "
        "(the S3 limits)"
    )


# ----------------------------------------------------------------------------- the settings file


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_the_settings_file_named_by_preserve_config(tmp_path: Path) -> None:
    file = write(
        tmp_path / "preserve.toml",
        'home = "/srv/preserve"\n'
        'database_url = "postgresql+psycopg://preserve:secret@db/preserve"\n'
        's3_part_size = "32MiB"\n'
        "storage_retries = 7\n"
        'algorithms = ["sha256", "md5"]\n',
    )
    s = Settings.from_env({"PRESERVE_CONFIG": str(file), "PRESERVE_STORAGE_RETRIES": "3"})
    assert s.home == Path("/srv/preserve")
    assert s.staging_dir == Path("/srv/preserve/staging")
    assert s.database_url == "postgresql+psycopg://preserve:secret@db/preserve"
    assert s.s3_part_size == 32 * 1024**2
    assert s.storage_retries == 3  # the environment wins over the file
    assert s.algorithms == ("sha512", "sha256", "md5")
    assert s.settings_file == file
    assert s.sources == {
        "home": "file",
        "database_url": "file",
        "s3_part_size": "file",
        "storage_retries": "environment",
        "algorithms": "file",
    }


def test_the_settings_file_in_the_user_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    file = write(tmp_path / "config" / "preserve" / "preserve.toml", 'organisation = "kmska"\n')
    s = Settings.from_env({})
    assert s.organisation == "kmska"
    assert s.settings_file == file
    assert s.sources == {"organisation": "file"}


def test_no_settings_file_is_fine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert Settings.from_env({}).settings_file is None


def test_a_missing_file_named_by_preserve_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"PRESERVE_CONFIG": str(tmp_path / "nope.toml")})
    assert str(info.value) == (
        f"PRESERVE_CONFIG names the settings file {tmp_path / 'nope.toml'}, which does not exist"
    )
    assert info.value.exit_code == 2


def test_a_settings_file_that_is_not_toml(tmp_path: Path) -> None:
    file = write(tmp_path / "preserve.toml", "home = /srv/preserve\n")
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"PRESERVE_CONFIG": str(file)})
    assert str(info.value) == (
        f"the settings file {file} is not valid TOML: Invalid value (at line 1, column 8)"
    )


def test_unknown_keys_and_bad_values_in_the_file_are_reported_at_once(tmp_path: Path) -> None:
    file = write(
        tmp_path / "preserve.toml",
        's3_partsize = "16MiB"\n'
        "colour = 3\n"
        's3_part_size = "lots"\n'
        "workers = -2\n"
        "storage_backoff = true\n"
        'env = "staging"\n'
        "algorithms = 5\n",
    )
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"PRESERVE_CONFIG": str(file), "PRESERVE_STORAGE_RETRIES": "many"})
    assert str(info.value) == (
        "invalid configuration: "
        f"{file}: unknown setting 's3_partsize' (did you mean 's3_part_size'?); "
        f"{file}: unknown setting 'colour' (the settings: home, database_url, storage_url, "
        "staging_dir, organisation, algorithms, storage_retries, storage_backoff, "
        "s3_multipart_threshold, s3_part_size, workers, max_unpack_bytes, max_unpack_ratio, "
        "fixity_interval_days, fixity_algorithms, secret_key, broker_url, broker_queue, job_lease, "
        "smtp_url, alert_from, alert_to, webhook_url, web_bind, web_threads, public_url, "
        "secure_cookies, upload_dir, upload_max_size, transfer_max_size, upload_expiry_hours, "
        "ingest_folders, derivatives_dir, ratelimit_storage_url, login_attempts, "
        "lockout_minutes, disposal_restore_days, env); "
        f"{file}: algorithms = 5 is not a comma-separated string or a list of strings; "
        "PRESERVE_STORAGE_RETRIES='many' is not a whole number >= 0; "
        f"{file}: storage_backoff = True is not a number; "
        f"{file}: s3_part_size = 'lots' is not a size: give {ACCEPTED}; "
        f"{file}: workers = -2 is not a whole number >= 0; "
        f"{file}: env = 'staging' must be 'development' or 'production'"
    )


def test_production_settings_may_come_from_the_file(tmp_path: Path) -> None:
    file = write(
        tmp_path / "preserve.toml",
        'env = "production"\ndatabase_url = "postgresql+psycopg://db/preserve"\n'
        'storage_url = "s3://bucket/aips"\nsecret_key = "k"\n',
    )
    assert Settings.from_env({"PRESERVE_CONFIG": str(file)}).env == "production"


def test_report_hides_passwords_and_secrets(tmp_path: Path) -> None:
    s = Settings.from_env(
        {
            "PRESERVE_HOME": str(tmp_path),
            "PRESERVE_DATABASE_URL": "postgresql+psycopg://preserve:secret@db/preserve",
            "PRESERVE_BROKER_URL": "redis://:hunter2@broker:6379/0",
            "PRESERVE_SECRET_KEY": "k3y",
        }
    )
    shown = {row.name: row for row in s.report()}
    assert shown["database_url"].value == "postgresql+psycopg://preserve:***@db/preserve"
    assert shown["broker_url"].value == "redis://:***@broker:6379/0"
    assert shown["secret_key"].value == "***"
    assert shown["s3_part_size"].value == "16777216 (16 MiB)"
    assert shown["s3_part_size"].data == 16777216
    assert shown["home"].source == "environment" and shown["env"].source == "default"
    assert not any("secret" in r.value or "hunter2" in r.value for r in shown.values())


# ------------------------------------------------------------ PRESERVE_DATABASE_URL, STORAGE_URL

DATABASE_FORMS = "use postgresql+psycopg://USER@HOST:PORT/DATABASE or sqlite:///PATH"
STORAGE_FORMS = (
    "use file:///ABSOLUTE/PATH or s3://BUCKET/PREFIX (with ?endpoint_url=https://HOST:PORT for "
    "an S3-compatible server other than AWS)"
)


@pytest.mark.parametrize(
    ("given", "read"),
    [
        ("sqlite:////srv/preserve/catalogue.sqlite3", "sqlite:////srv/preserve/catalogue.sqlite3"),
        ("sqlite:///var/catalogue.sqlite3", "sqlite:///var/catalogue.sqlite3"),
        ("postgresql+psycopg://archive@db:5432/aip", "postgresql+psycopg://archive@db:5432/aip"),
        ("postgres://archive:pw@db:5432/aip", "postgresql+psycopg://archive:pw@db:5432/aip"),
        (
            "postgresql://archive@db/aip?sslmode=require",
            "postgresql+psycopg://archive@db/aip?sslmode=require",
        ),
        ("POSTGRES://archive@db/aip", "postgresql+psycopg://archive@db/aip"),
        ("postgresql+psycopg:///aip", "postgresql+psycopg:///aip"),
        ("postgres://archive@db?dbname=aip", "postgresql+psycopg://archive@db?dbname=aip"),
    ],
)
def test_catalogue_urls_accepted_and_normalised(given: str, read: str) -> None:
    s = Settings.from_env({"PRESERVE_DATABASE_URL": given})
    assert s.database_url == read
    assert s.sources["database_url"] == "environment"


UNSUPPORTED = f"is not a supported catalogue URL: {DATABASE_FORMS}"


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("mysql://x@y/z", f"'mysql://x@y/z' {UNSUPPORTED}"),
        ("mysql://x:hunter2@y/z", f"'mysql://x:***@y/z' {UNSUPPORTED}"),
        ("notaurl", f"'notaurl' {UNSUPPORTED}"),
        ("postgresql+psycopg2://x@y/z", f"'postgresql+psycopg2://x@y/z' {UNSUPPORTED}"),
        ("sqlite://", "'sqlite://' names no SQLite file: use sqlite:///PATH"),
        (
            "postgres://x@y:port/z",
            f"'postgres://x@y:port/z' has a port that is not a number 0-65535: {DATABASE_FORMS}",
        ),
        # no database name: libpq would take the login name's over the local socket
        ("postgres://", f"'postgres://' names no database: {DATABASE_FORMS}"),
        (
            "postgresql://archive@db",
            f"'postgresql://archive@db' names no database: {DATABASE_FORMS}",
        ),
        ("postgres://db:5432/", f"'postgres://db:5432/' names no database: {DATABASE_FORMS}"),
        ("postgresql+psycopg://", f"'postgresql+psycopg://' names no database: {DATABASE_FORMS}"),
    ],
)
def test_other_catalogue_urls_are_refused(given: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"PRESERVE_DATABASE_URL": given})
    assert str(info.value) == f"invalid configuration: PRESERVE_DATABASE_URL={problem}"


@pytest.mark.parametrize(
    ("given", "what"),
    [
        ("ftp://x", "is not a supported storage URL"),
        ("notaurl", "is not a supported storage URL"),
        ("s3://", "names no bucket"),
        ("s3:///prefix", "names no bucket"),
        ("file://storage/aips", "does not name an absolute path"),
    ],
)
def test_bad_storage_urls_are_refused(given: str, what: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"PRESERVE_STORAGE_URL": given})
    assert str(info.value) == (
        f"invalid configuration: PRESERVE_STORAGE_URL={given!r} {what}: {STORAGE_FORMS}"
    )


def test_url_problems_in_the_file_are_listed_with_the_others(tmp_path: Path) -> None:
    file = write(
        tmp_path / "preserve.toml",
        'database_url = "mysql://archive:s3cret@db/preserve"\nstorage_url = "ftp://nas/aips"\n',
    )
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"PRESERVE_CONFIG": str(file), "PRESERVE_WORKERS": "-1"})
    assert str(info.value) == (
        "invalid configuration: "
        f"{file}: database_url = 'mysql://archive:***@db/preserve' is not a supported catalogue "
        f"URL: {DATABASE_FORMS}; "
        f"{file}: storage_url = 'ftp://nas/aips' is not a supported storage URL: {STORAGE_FORMS}; "
        "PRESERVE_WORKERS='-1' is not a whole number >= 0"
    )
    assert "s3cret" not in str(info.value)


def test_a_postgres_url_in_the_file_is_normalised(tmp_path: Path) -> None:
    file = write(tmp_path / "preserve.toml", 'database_url = "postgres://archive@db/preserve"\n')
    s = Settings.from_env({"PRESERVE_CONFIG": str(file)})
    assert s.database_url == "postgresql+psycopg://archive@db/preserve"
    assert s.sources["database_url"] == "file"


def test_the_secret_key_is_never_shown(tmp_path: Path) -> None:
    default = {r.name: r for r in Settings.from_env({"PRESERVE_HOME": str(tmp_path)}).report()}
    assert default["secret_key"].value == (
        "*** (the development default: set PRESERVE_SECRET_KEY in production)"
    )
    assert default["secret_key"].data == "***"
    for key in ("k3y", "dev-only-not-secret"):
        shown = {r.name: r for r in Settings.from_env({"PRESERVE_SECRET_KEY": key}).report()}
        assert key not in shown["secret_key"].value
        assert shown["secret_key"].data == "***"


def test_production_refuses_the_development_secret_key() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(
            {
                "PRESERVE_ENV": "production",
                "PRESERVE_DATABASE_URL": "postgresql+psycopg://db/preserve",
                "PRESERVE_STORAGE_URL": "s3://bucket/aips",
                "PRESERVE_SECRET_KEY": "dev-only-not-secret",
            }
        )
    assert str(info.value) == (
        "invalid configuration: PRESERVE_SECRET_KEY is the development default, which is not a "
        "secret: set a long random value in production"
    )


def test_a_postgres_url_without_a_database_is_an_exit_2_error_on_the_command_line(
    tmp_path: Path,
) -> None:
    from click.testing import CliRunner

    from preserve.cli import cli

    env = {"PRESERVE_HOME": str(tmp_path / "home"), "PRESERVE_DATABASE_URL": "postgres://"}
    result = CliRunner().invoke(cli, ["packages", "list"], env=env)
    assert result.exit_code == 2
    assert result.output == (
        f"error: invalid configuration: PRESERVE_DATABASE_URL='postgres://' names no database: "
        f"{DATABASE_FORMS}\n"
    )
    assert not (tmp_path / "home").exists()


def test_worker_and_alert_settings_are_checked() -> None:
    settings = Settings.from_env(
        {
            "PRESERVE_JOB_LEASE": "30",
            "PRESERVE_ALERT_TO": "archivist@example.org, ops@example.org",
            "PRESERVE_SMTP_URL": "smtp://mail.example.org:2525",
            "PRESERVE_WEBHOOK_URL": "https://hooks.example.org/preserve",
        }
    )
    assert settings.job_lease == 30
    assert settings.alert_to == ("archivist@example.org", "ops@example.org")
    with pytest.raises(ConfigError) as info:
        Settings.from_env(
            {
                "PRESERVE_JOB_LEASE": "0",
                "PRESERVE_ALERT_TO": "archivist",
                "PRESERVE_SMTP_URL": "mail.example.org",
                "PRESERVE_WEBHOOK_URL": "ftp://x",
            }
        )
    message = str(info.value)
    assert "PRESERVE_ALERT_TO='archivist' 'archivist' is not an e-mail address" in message
    assert "PRESERVE_JOB_LEASE must be at least 1 (seconds)" in message
    assert "PRESERVE_SMTP_URL must be smtp://" in message
    assert "PRESERVE_WEBHOOK_URL must be an http:// or https:// URL" in message
