"""Object keys and location URLs: what is accepted, what is refused, and the messages."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from preserve.errors import ConfigError, UnsafePath
from preserve.storage import describe_location, open_location, validate_key, validate_prefix
from preserve.storage.local import LocalStorage, parse_file_url
from preserve.storage.s3 import parse_s3_url

# ------------------------------------------------------------------------- keys


@pytest.mark.parametrize(
    "key",
    [
        "a",
        "org/coll/pkg/v1/data/photo.tif",
        "data/dir with spaces/file (1).txt",
        "data/ünïcødé/Ωmega",
        "data/e\u0301",  # NFD stays NFD: payload names are kept byte for byte
        "data/line\nfeed\rreturn\ttab",
        "data/.hidden/..dots/...",
        "data/~user/C:drive",
        "data/percent%20+plus?q#h&amp",
        "x" * 1024,
        "é" * 512,  # 1024 bytes in UTF-8
    ],
)
def test_safe_keys_come_back_unchanged(key: str) -> None:
    assert validate_key(key) is key


def test_non_nfc_keys_are_not_normalised() -> None:
    nfd = unicodedata.normalize("NFD", "café.txt")
    assert validate_key(nfd) == nfd != unicodedata.normalize("NFC", nfd)


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "empty"),
        ("/etc/passwd", "absolute"),
        ("../outside", "'..'"),
        ("a/../../b", "'..'"),
        ("a/./b", "'.'"),
        (".", "'.'"),
        ("a//b", "empty path segment"),
        ("a/", "empty path segment"),
        ("a\\b", "backslash"),
        ("..\\windows", "backslash"),
        ("a\x00b", "NUL"),
        ("bad\udcffsurrogate", "surrogate"),
        ("x" * 1025, "1025 bytes"),
        ("é" * 513, "1026 bytes"),
    ],
)
def test_unsafe_keys_are_refused_with_the_key_named(key: str, reason: str) -> None:
    with pytest.raises(UnsafePath) as caught:
        validate_key(key)
    assert reason in str(caught.value)
    assert repr(key)[:40] in str(caught.value)


def test_a_key_must_be_text() -> None:
    with pytest.raises(UnsafePath):
        validate_key(b"bytes")  # type: ignore[arg-type]


@pytest.mark.parametrize("prefix", ["", "a", "a/", "a/b/", "org/coll/pkg/v1/", "a/.h"])
def test_prefixes(prefix: str) -> None:
    assert validate_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["/", "/a/", "a//", "../", "a/../", "a\\", "a\x00/"])
def test_unsafe_prefixes(prefix: str) -> None:
    with pytest.raises(UnsafePath):
        validate_prefix(prefix)


# ------------------------------------------------------------------------- location URLs


def test_file_url(tmp_path: Path) -> None:
    url = (tmp_path / "my store" / "ü").as_uri()
    assert "%20" in url
    assert parse_file_url(url) == str(tmp_path / "my store" / "ü")
    storage = open_location(url)
    assert isinstance(storage, LocalStorage)
    assert storage.url == url
    assert describe_location(url) == {
        "provider": "local",
        "region": None,
        "path": str(tmp_path / "my store" / "ü"),
    }
    assert parse_file_url("file://localhost/srv/store/") == "/srv/store"


def test_s3_url_with_every_option() -> None:
    url = (
        "s3://my-bucket/some/prefix?endpoint_url=http://127.0.0.1:9000&region=eu-west-1"
        "&addressing_style=path&verification=reread&request_checksum_calculation=when_supported"
        "&response_checksum_validation=when_supported&connect_timeout=2&read_timeout=30.5"
    )
    loc = parse_s3_url(url)
    assert loc.bucket == "my-bucket" and loc.prefix == "some/prefix/"
    assert loc.endpoint_url == "http://127.0.0.1:9000" and loc.region == "eu-west-1"
    assert loc.addressing_style == "path" and loc.verification == "reread"
    assert loc.request_checksum_calculation == "when_supported"
    assert loc.response_checksum_validation == "when_supported"
    assert (loc.connect_timeout, loc.read_timeout) == (2.0, 30.5)
    described = describe_location(url)
    assert described["provider"] == "s3"
    assert described["bucket"] == "my-bucket" and described["prefix"] == "some/prefix"
    assert described["region"] == "eu-west-1"
    assert described["endpoint_url"] == "http://127.0.0.1:9000"


def test_s3_url_defaults() -> None:
    loc = parse_s3_url("s3://bucket")
    assert loc.prefix == "" and loc.endpoint_url is None and loc.region is None
    assert loc.addressing_style == "auto" and loc.verification == "server"
    assert loc.request_checksum_calculation == "when_required"
    assert loc.response_checksum_validation == "when_required"
    assert parse_s3_url("s3://bucket/").prefix == ""
    assert parse_s3_url("s3://bucket/a%20b/").prefix == "a b/"


def test_s3_client_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    storage = open_location(
        "s3://bucket/p?endpoint_url=http://127.0.0.1:1&region=eu-west-1&addressing_style=path"
        "&connect_timeout=3",
        retries=4,
        backoff=0.1,
    )
    config = storage._client.meta.config  # type: ignore[attr-defined]
    assert config.request_checksum_calculation == "when_required"
    assert config.response_checksum_validation == "when_required"
    assert config.s3["addressing_style"] == "path"
    assert config.connect_timeout == 3.0
    assert config.region_name == "eu-west-1"
    assert storage.retries == 4  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("/srv/store", "scheme"),
        ("relative/store", "scheme"),
        ("ftp://host/store", "unsupported scheme 'ftp'"),
        ("gs://bucket", "unsupported scheme 'gs'"),
        ("file:relative/path", "absolute"),
        ("file://otherhost/srv/store", "otherhost"),
        ("file:///srv/store?x=1", "query"),
        ("s3://", "no bucket"),
        ("s3:///prefix", "no bucket"),
        ("s3://b", "not a valid bucket name"),
        ("s3://bucket name/x", "not a valid bucket name"),
        ("s3://AKIA:secret@bucket/x", "credentials"),
        ("s3://bucket?aws_secret_access_key=x", "credentials"),
        ("s3://bucket?aws_access_key_id=x", "credentials"),
        ("s3://bucket?session_token=x", "credentials"),
        ("s3://bucket?endpoint=http://x", "unknown parameter 'endpoint'"),
        ("s3://bucket?region=a&region=b", "twice"),
        ("s3://bucket?addressing_style=sideways", "addressing_style"),
        ("s3://bucket?verification=trust-me", "verification"),
        ("s3://bucket?request_checksum_calculation=always", "request_checksum_calculation"),
        ("s3://bucket?connect_timeout=soon", "connect_timeout"),
        ("s3://bucket?read_timeout=0", "read_timeout"),
        ("s3://bucket?endpoint_url=ftp://host", "http(s)"),
        ("s3://bucket?endpoint_url=http://", "http(s)"),
        ("s3://bucket?endpoint_url=http://u:p@host", "credentials"),
        ("s3://bucket?endpoint_url=http://host:notaport", "malformed"),
        ("s3://bucket?endpoint_url=http://host/path", "path"),
        ("s3://bucket/../up", "unsafe"),
        ("s3://bucket/a//b", "unsafe"),
        ("s3://bucket/x#frag", "fragment"),
    ],
)
def test_bad_location_urls_are_config_errors_naming_the_url(url: str, problem: str) -> None:
    for make in (open_location, describe_location):
        with pytest.raises(ConfigError) as caught:
            make(url)
        message = str(caught.value)
        assert problem in message
        assert repr(url) in message


def test_part_size_below_the_s3_minimum_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="part size"):
        open_location("s3://bucket", part_size=1024)
