"""Settings: the only code that reads ``PRESERVE_*`` environment variables.

Embedded defaults (SQLite and a local storage location under ``PRESERVE_HOME``) let a fresh
checkout run with no services; production points the same variables at PostgreSQL and S3.
``from_env`` reports every missing or invalid variable at once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

from preserve.errors import ConfigError


@dataclass(frozen=True)
class Settings:
    """Typed configuration; each field documents its environment variable."""

    #: PRESERVE_HOME: where the embedded catalogue, staging area and default location live.
    home: Path = Path("var")
    #: PRESERVE_DATABASE_URL: SQLAlchemy URL; default ``sqlite:///<home>/catalogue.sqlite3``.
    database_url: str = ""
    #: PRESERVE_STORAGE_URL: the default storage location made by ``preserve init``
    #: (``file:///...`` or ``s3://bucket/prefix?endpoint_url=...``); default ``<home>/storage``.
    storage_url: str = ""
    #: PRESERVE_STAGING_DIR: where bags are assembled before they are stored;
    #: default ``<home>/staging``.
    staging_dir: Path = Path()
    #: PRESERVE_ORGANISATION: organisation slug used when a command names none.
    organisation: str = "default"
    #: PRESERVE_ALGORITHMS: payload manifest algorithms, comma separated; sha512 is always included.
    algorithms: tuple[str, ...] = ("sha512", "sha256")
    #: PRESERVE_STORAGE_RETRIES: attempts against an unreachable location before giving up.
    storage_retries: int = 5
    #: PRESERVE_STORAGE_BACKOFF: first backoff delay in seconds (doubles each attempt).
    storage_backoff: float = 0.5
    #: PRESERVE_S3_MULTIPART_THRESHOLD: objects above this many bytes are uploaded in parts.
    s3_multipart_threshold: int = 64 * 1024 * 1024
    #: PRESERVE_S3_PART_SIZE: multipart part size in bytes (recorded with each copy).
    s3_part_size: int = 16 * 1024 * 1024
    #: PRESERVE_WORKERS: processes/threads for hashing and identification (0 = one per core).
    workers: int = 0
    #: PRESERVE_MAX_UNPACK_BYTES: the most a zip/tar delivery may unpack to.
    max_unpack_bytes: int = 1024**4
    #: PRESERVE_MAX_UNPACK_RATIO: the largest uncompressed/compressed ratio accepted.
    max_unpack_ratio: int = 200
    #: PRESERVE_FIXITY_INTERVAL_DAYS: how often every copy should be re-verified.
    fixity_interval_days: int = 90
    #: PRESERVE_FIXITY_ALGORITHMS: the digests a fixity check verifies per file, comma separated
    #: (each one the catalogue holds for the file; every one it holds when it holds none of
    #: them). SHA-256 alone by default: one strong digest proves the bytes, and it is the fastest
    #: strong one on CPUs with SHA extensions. ``preserve fixity --all-digests`` checks them all.
    fixity_algorithms: tuple[str, ...] = ("sha256",)
    #: PRESERVE_SECRET_KEY: web session key (required in production).
    secret_key: str = "dev-only-not-secret"  # refused in production
    #: PRESERVE_BROKER_URL: Celery broker for the workers.
    broker_url: str = ""
    #: PRESERVE_ENV: "development" (embedded defaults allowed) or "production".
    env: str = "development"

    def __post_init__(self) -> None:
        home = Path(self.home)
        object.__setattr__(self, "home", home)
        if not self.database_url:
            object.__setattr__(
                self, "database_url", f"sqlite:///{(home / 'catalogue.sqlite3').absolute()}"
            )
        if not self.storage_url:
            object.__setattr__(self, "storage_url", (home / "storage").absolute().as_uri())
        if self.staging_dir == Path():
            object.__setattr__(self, "staging_dir", home / "staging")
        algorithms = tuple(dict.fromkeys(("sha512", *self.algorithms)))
        object.__setattr__(self, "algorithms", algorithms)

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``PRESERVE_*`` variables, listing every invalid one at once."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        problems: list[str] = []
        names = {f.name: f for f in fields(cls)}

        def get(name: str) -> str | None:
            raw = env.get(f"PRESERVE_{name.upper()}")
            return raw if raw not in (None, "") else None

        for name in ("database_url", "storage_url", "organisation", "secret_key", "broker_url"):
            if (raw := get(name)) is not None:
                values[name] = raw
        for name in ("home", "staging_dir"):
            if (raw := get(name)) is not None:
                values[name] = Path(raw)
        for name in (
            "storage_retries",
            "s3_multipart_threshold",
            "s3_part_size",
            "workers",
            "max_unpack_bytes",
            "max_unpack_ratio",
            "fixity_interval_days",
        ):
            if (raw := get(name)) is not None:
                try:
                    number = int(raw)
                    if number < 0:
                        raise ValueError
                    values[name] = number
                except ValueError:
                    problems.append(f"PRESERVE_{name.upper()}={raw!r} is not a whole number >= 0")
        if (raw := get("storage_backoff")) is not None:
            try:
                values["storage_backoff"] = float(raw)
            except ValueError:
                problems.append(f"PRESERVE_STORAGE_BACKOFF={raw!r} is not a number")
        if (raw := get("algorithms")) is not None:
            from preserve.checksums import bagit_token, is_supported

            algs = tuple(bagit_token(a) for a in raw.split(",") if a.strip())
            bad = [a for a in algs if not is_supported(a) or a == "crc64nvme"]
            if bad:
                problems.append(
                    f"PRESERVE_ALGORITHMS names unsupported algorithms: {', '.join(bad)}"
                )
            values["algorithms"] = algs
        if (raw := get("fixity_algorithms")) is not None:
            from preserve.checksums import bagit_token, is_supported

            algs = tuple(dict.fromkeys(bagit_token(a) for a in raw.split(",") if a.strip()))
            bad = [a for a in algs if not is_supported(a) or a == "crc64nvme"]
            if bad:
                problems.append(
                    "PRESERVE_FIXITY_ALGORITHMS names algorithms that cannot serve as fixity "
                    f"references: {', '.join(bad)}"
                )
            elif not algs:
                problems.append("PRESERVE_FIXITY_ALGORITHMS names no algorithm")
            values["fixity_algorithms"] = algs
        if (raw := get("env")) is not None:
            if raw not in ("development", "production"):
                problems.append(f"PRESERVE_ENV={raw!r} must be 'development' or 'production'")
            values["env"] = raw
        s3_part = values.get("s3_part_size")
        if isinstance(s3_part, int) and s3_part < 5 * 1024 * 1024:
            problems.append("PRESERVE_S3_PART_SIZE must be at least 5 MiB (the S3 minimum)")
        if values.get("env") == "production":
            for required in ("database_url", "storage_url", "secret_key"):
                if required not in values:
                    problems.append(f"PRESERVE_{required.upper()} is required in production")
        if problems:
            raise ConfigError("invalid configuration: " + "; ".join(problems))
        assert set(values) <= set(names)
        return cls(**values)  # type: ignore[arg-type]
