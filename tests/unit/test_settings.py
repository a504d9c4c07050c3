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
        "fixity_interval_days, fixity_algorithms, secret_key, broker_url, env); "
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
