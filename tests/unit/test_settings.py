from __future__ import annotations

from pathlib import Path

import pytest

from preserve.config.settings import Settings
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
