"""PRESERVE_BROKER_URL and PRESERVE_BROKER_QUEUE: the brokers the workers can use, checked when
the settings are read (a URL of another scheme, or kombu's SQLAlchemy transport, is refused
with the forms that work)."""

from __future__ import annotations

import pytest
from preserve.config.settings import Settings

from preserve.errors import ConfigError


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "rediss://:secret@redis.example.org:6380/2",
        "amqp://guest:guest@127.0.0.1:5672//",
        "pyamqp://guest@rabbit//",
        "filesystem://",
    ],
)
def test_redis_rabbitmq_and_the_filesystem_transport_are_accepted(url: str) -> None:
    settings = Settings.from_env({"PRESERVE_BROKER_URL": url, "PRESERVE_BROKER_QUEUE": "a.b-c_1"})
    assert (settings.broker_url, settings.broker_queue) == (url, "a.b-c_1")


def test_the_defaults_are_the_embedded_transport_and_the_preserve_queue() -> None:
    settings = Settings.from_env({})
    assert (settings.broker_url, settings.broker_queue) == ("", "preserve")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PRESERVE_BROKER_URL", "sqla+sqlite:///x.db", "SQLAlchemy transport, which loses tasks"),
        ("PRESERVE_BROKER_URL", "kafka://broker:9092", "is not a supported broker URL"),
        ("PRESERVE_BROKER_URL", "127.0.0.1:6379", "is not a supported broker URL"),
        ("PRESERVE_BROKER_QUEUE", "two words", "must be letters, digits"),
    ],
)
def test_bad_broker_settings_are_refused(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({variable: value})
    assert f"{variable}={value!r} " in str(info.value) and message in str(info.value)


def test_a_refused_broker_url_does_not_show_its_password() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"PRESERVE_BROKER_URL": "kafka://user:hunter2@broker"})
    assert "hunter2" not in str(info.value) and "***" in str(info.value)
