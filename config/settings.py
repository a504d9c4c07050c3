"""Settings: the only code that reads configuration (``PRESERVE_*`` environment variables and the
optional settings file).

Embedded defaults (SQLite and a local storage location under ``PRESERVE_HOME``, by default the
platform's user data folder) let a fresh install run with no services; production points the same
settings at PostgreSQL and S3. Each setting is read from, in order of precedence: its environment
variable ``PRESERVE_<NAME>``, the settings file (TOML, key ``<name>``: ``$PRESERVE_CONFIG``, else
``preserve.toml`` in the platform's user config folder if there is one), its default.
:meth:`Settings.from_env` reports every missing or invalid setting at once, and records where
each value came from (:attr:`Settings.sources`, shown by ``preserve config``).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from preserve.errors import ConfigError

#: The name of the settings file in the user config folder.
SETTINGS_FILE_NAME = "preserve.toml"
#: The environment variable naming another settings file (an error when it does not exist).
CONFIG_VARIABLE = "PRESERVE_CONFIG"
#: The web session key of a development install: never shown, refused in production.
DEVELOPMENT_SECRET_KEY = "dev-only-not-secret"


def default_home() -> Path:
    """The platform's user data folder for preserve (``~/.local/share/preserve`` on Linux,
    ``$XDG_DATA_HOME/preserve`` when that is set)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("preserve", appauthor=False))


def default_settings_file() -> Path:
    """Where the settings file is looked for when ``PRESERVE_CONFIG`` is not set
    (``~/.config/preserve/preserve.toml`` on Linux, under ``$XDG_CONFIG_HOME`` when set)."""
    import platformdirs

    return Path(platformdirs.user_config_dir("preserve", appauthor=False)) / SETTINGS_FILE_NAME


@dataclass(frozen=True)
class Settings:
    """Typed configuration; each field documents its environment variable (the settings file's
    key is the field name)."""

    #: PRESERVE_HOME: where the embedded catalogue, staging area and default location live;
    #: default the platform's user data folder (``~/.local/share/preserve`` on Linux).
    home: Path = field(default_factory=default_home)
    #: PRESERVE_DATABASE_URL: the catalogue, ``postgresql+psycopg://USER@HOST:PORT/DATABASE``
    #: (``postgres://`` and ``postgresql://``, as hosting providers hand them out, are read as
    #: that) or ``sqlite:///PATH``; default ``sqlite:///<home>/catalogue.sqlite3``.
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
    #: PRESERVE_S3_MULTIPART_THRESHOLD: objects above this size are uploaded in parts (a size:
    #: bytes, or a number with a unit such as ``64MiB``).
    s3_multipart_threshold: int = 64 * 1024 * 1024
    #: PRESERVE_S3_PART_SIZE: multipart part size (recorded with each copy); 5 MiB to 5 GiB.
    s3_part_size: int = 16 * 1024 * 1024
    #: PRESERVE_WORKERS: processes/threads for hashing and identification (0 = one per core).
    workers: int = 0
    #: PRESERVE_MAX_UNPACK_BYTES: the most a zip/tar delivery may unpack to (a size).
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
    secret_key: str = DEVELOPMENT_SECRET_KEY  # refused in production
    #: PRESERVE_BROKER_URL: the Celery broker of the workers, ``redis://HOST:6379/0`` or
    #: ``amqp://USER:PASSWORD@HOST:5672//``; default the embedded ``filesystem://`` transport
    #: under ``<home>/broker`` (one machine, no service).
    broker_url: str = ""
    #: PRESERVE_BROKER_QUEUE: the name of the workers' task queue on the broker (several
    #: repositories, or test runs, may share one Redis or RabbitMQ under different names).
    broker_queue: str = "preserve"
    #: PRESERVE_JOB_LEASE: seconds a worker holds a job without renewing its lease; a job whose
    #: lease ran out (its worker died) is queued again by the reaper.
    job_lease: int = 300
    #: PRESERVE_SMTP_URL: the mail server for alerts, ``smtp://[USER:PASSWORD@]HOST[:PORT]``
    #: (``smtps://`` for TLS from the start, ``?starttls=true`` to upgrade); empty: no e-mail.
    smtp_url: str = ""
    #: PRESERVE_ALERT_FROM: the sender of alert e-mails.
    alert_from: str = "preserve@localhost"
    #: PRESERVE_ALERT_TO: who receives alert e-mails, comma separated.
    alert_to: tuple[str, ...] = ()
    #: PRESERVE_WEBHOOK_URL: where alerts are also POSTed as JSON (retried); empty: none.
    webhook_url: str = ""
    #: PRESERVE_WEB_BIND: where ``preserve serve`` listens, ``HOST:PORT``.
    web_bind: str = "127.0.0.1:8000"
    #: PRESERVE_WEB_THREADS: request threads of ``preserve serve`` (each upload chunk holds one).
    web_threads: int = 8
    #: PRESERVE_PUBLIC_URL: the catalogue's address as people reach it (links in e-mails);
    #: default ``http://<web_bind>``.
    public_url: str = ""
    #: PRESERVE_SECURE_COOKIES: send the session cookie over HTTPS only ("true"/"false");
    #: default on in production, off in development (http://127.0.0.1).
    secure_cookies: str = ""
    #: PRESERVE_UPLOAD_DIR: where browser uploads are received before their ingest;
    #: default ``<home>/uploads``.
    upload_dir: Path = Path()
    #: PRESERVE_UPLOAD_MAX_SIZE: the largest single file an upload may hold (a size).
    upload_max_size: int = 100 * 1024**3
    #: PRESERVE_TRANSFER_MAX_SIZE: the most one transfer (a folder upload) may hold (a size).
    transfer_max_size: int = 1024**4
    #: PRESERVE_UPLOAD_EXPIRY_HOURS: an unfinished transfer untouched this long is discarded.
    upload_expiry_hours: int = 72
    #: PRESERVE_INGEST_FOLDERS: server-side folders the web catalogue may ingest from, as
    #: ``NAME=PATH`` pairs, comma separated (none by default).
    ingest_folders: tuple[str, ...] = ()
    #: PRESERVE_DERIVATIVES_DIR: thumbnails and previews (never part of an AIP);
    #: default ``<home>/derivatives``.
    derivatives_dir: Path = Path()
    #: PRESERVE_RATELIMIT_STORAGE_URL: where sign-in rate limits are counted: ``memory://``
    #: (one server process) or ``redis://HOST:6379/N`` (several).
    ratelimit_storage_url: str = "memory://"
    #: PRESERVE_LOGIN_ATTEMPTS: failed sign-ins in a row before the account is locked.
    login_attempts: int = 5
    #: PRESERVE_LOCKOUT_MINUTES: how long a locked account refuses sign-in.
    lockout_minutes: int = 15
    #: PRESERVE_DISPOSAL_RESTORE_DAYS: how many days a disposed package's objects wait in the
    #: restore bin (``preserve disposal restore`` puts them back) before the daily task deletes
    #: them for good.
    disposal_restore_days: int = 30
    #: PRESERVE_ENV: "development" (embedded defaults allowed) or "production".
    env: str = "development"
    #: Where each setting came from: "environment", "file" or "default" (by field name).
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    #: The settings file that was read, if any.
    settings_file: Path | None = field(default=None, compare=False, repr=False)

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
        if self.upload_dir == Path():
            object.__setattr__(self, "upload_dir", home / "uploads")
        if self.derivatives_dir == Path():
            object.__setattr__(self, "derivatives_dir", home / "derivatives")
        if not self.public_url:
            object.__setattr__(self, "public_url", f"http://{self.web_bind}")
        algorithms = tuple(dict.fromkeys(("sha512", *self.algorithms)))
        object.__setattr__(self, "algorithms", algorithms)

    @property
    def cookies_secure(self) -> bool:
        """Whether the session cookie is sent over HTTPS only."""
        if self.secure_cookies:
            return self.secure_cookies == "true"
        return self.env == "production"

    def ingest_folder_map(self) -> dict[str, Path]:
        """The server-side folders the web catalogue may ingest from, by name."""
        return {
            name: Path(path).expanduser()
            for name, _, path in (pair.partition("=") for pair in self.ingest_folders)
        }

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``PRESERVE_*`` variables and the settings file, listing every
        invalid one at once (each named by its variable, or by the file and its key)."""
        env = os.environ if environ is None else environ
        settings_file, document = _read_settings_file(env)
        values: dict[str, object] = {}
        sources: dict[str, str] = {}
        problems: list[str] = []
        known = [f.name for f in fields(cls) if f.name not in ("sources", "settings_file")]

        for key in document:
            if key not in known:
                problems.append(f"{settings_file}: unknown setting {key!r}{_did_you_mean(key)}")

        for name in known:
            raw: object = env.get(variable(name))
            if raw not in (None, ""):
                label, source = f"{variable(name)}={_shown(raw)}", "environment"
            elif name in document:
                raw = document[name]
                label, source = f"{settings_file}: {name} = {_shown(raw)}", "file"
            else:
                continue
            try:
                values[name] = _PARSERS.get(name, _text)(raw)
            except ValueError as error:
                problems.append(f"{label} {error}")
                continue
            sources[name] = source

        def where(name: str) -> str:
            return f"{settings_file}: {name}" if sources.get(name) == "file" else variable(name)

        s3_part = values.get("s3_part_size")
        if isinstance(s3_part, int) and not 5 * 1024**2 <= s3_part <= 5 * 1024**3:
            problems.append(
                f"{where('s3_part_size')} must be at least 5 MiB and at most 5 GiB (the S3 limits)"
            )
        if values.get("web_threads") == 0:
            problems.append(f"{where('web_threads')} must be at least 1")
        if values.get("login_attempts") == 0:
            problems.append(f"{where('login_attempts')} must be at least 1")
        if values.get("job_lease") == 0:
            problems.append(f"{where('job_lease')} must be at least 1 (seconds)")
        smtp = values.get("smtp_url")
        if isinstance(smtp, str) and smtp and urlsplit(smtp).scheme not in ("smtp", "smtps"):
            problems.append(
                f"{where('smtp_url')} must be smtp://[USER:PASSWORD@]HOST[:PORT] or smtps://..."
            )
        webhook = values.get("webhook_url")
        if isinstance(webhook, str) and webhook and urlsplit(webhook).scheme not in HTTP:
            problems.append(f"{where('webhook_url')} must be an http:// or https:// URL")
        if values.get("env") == "production":
            for required in ("database_url", "storage_url", "secret_key"):
                if required not in values:
                    problems.append(
                        f"{variable(required)} is required in production (or {required} in the "
                        "settings file)"
                    )
            if values.get("secret_key") == DEVELOPMENT_SECRET_KEY:
                problems.append(
                    f"{where('secret_key')} is the development default, which is not a secret: "
                    "set a long random value in production"
                )
        if problems:
            raise ConfigError("invalid configuration: " + "; ".join(problems))
        return cls(**values, sources=sources, settings_file=settings_file)  # type: ignore[arg-type]

    def report(self) -> list[SettingShown]:
        """Every setting in force, its value as it may be shown (passwords and secrets hidden)
        and where it came from, in the order of the fields."""
        shown = []
        for f in fields(self):
            if f.name in ("sources", "settings_file"):
                continue
            source = self.sources.get(f.name, "default")
            value = getattr(self, f.name)
            data: object = value
            if f.name == "secret_key":
                # never the value, whatever it is: only whether it is the development default
                data = text = "***"
                if value == DEVELOPMENT_SECRET_KEY:
                    text = "*** (the development default: set PRESERVE_SECRET_KEY in production)"
            elif isinstance(value, tuple):
                data, text = list(value), ",".join(value)
            elif f.name in _SIZES:
                text = f"{value} ({format_size(value)})"
            elif isinstance(value, str):
                data = text = redact_url(value)
            else:
                data = text = str(value) if isinstance(value, Path) else value
                text = str(value)
            shown.append(
                SettingShown(
                    name=f.name,
                    variable=variable(f.name),
                    value=text,
                    data=data,
                    source=source,
                    file=str(self.settings_file) if source == "file" else None,
                )
            )
        return shown


@dataclass(frozen=True)
class SettingShown:
    """One setting as ``preserve config`` shows it."""

    name: str
    variable: str
    value: str  # as text, sizes also with their unit
    data: object  # as JSON shows it: a number, a string or a list of strings
    source: str  # "environment", "file" or "default"
    file: str | None  # the settings file, when it came from there


def variable(name: str) -> str:
    """The environment variable of setting ``name``."""
    return f"PRESERVE_{name.upper()}"


def settings_file_location(environ: Mapping[str, str] | None = None) -> tuple[Path, bool]:
    """The settings file in force (``$PRESERVE_CONFIG`` or the default location) and whether it
    was named by ``PRESERVE_CONFIG``."""
    env = os.environ if environ is None else environ
    named = env.get(CONFIG_VARIABLE) or ""
    if named:
        return Path(named).expanduser(), True
    return default_settings_file(), False


def _read_settings_file(env: Mapping[str, str]) -> tuple[Path | None, dict[str, Any]]:
    path, named = settings_file_location(env)
    if not path.is_file():
        if named:
            what = "is not a file" if path.exists() else "does not exist"
            raise ConfigError(f"{CONFIG_VARIABLE} names the settings file {path}, which {what}")
        return None, {}
    try:
        with path.open("rb") as stream:
            return path, tomllib.load(stream)
    except OSError as error:
        raise ConfigError(f"cannot read the settings file {path}: {error.strerror}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"the settings file {path} is not valid TOML: {error}") from error


def _did_you_mean(key: str) -> str:
    import difflib

    names = [f.name for f in fields(Settings) if f.name not in ("sources", "settings_file")]
    close = difflib.get_close_matches(key.lower(), names, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else f" (the settings: {', '.join(names)})"


# parsers: each takes a value from the environment (a string) or from the file (any TOML value)
# and returns the setting's value, or raises ValueError with what is wrong ("is not ...")


def _text(raw: object) -> str:
    if not isinstance(raw, str):
        raise ValueError("is not a string")
    return raw


def _path(raw: object) -> Path:
    return Path(_text(raw)).expanduser()


def _whole(raw: object) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise ValueError("is not a whole number >= 0")
    try:
        number = int(raw)
    except ValueError:
        raise ValueError("is not a whole number >= 0") from None
    if number < 0:
        raise ValueError("is not a whole number >= 0")
    return number


def _number(raw: object) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError("is not a number")
    try:
        return float(raw)
    except ValueError:
        raise ValueError("is not a number") from None


_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", re.IGNORECASE)
SIZE_HELP = (
    "a byte count, or a number with a unit: B, KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, "
    "TiB (powers of 1024), e.g. 16MiB or 1.5 GB"
)


def parse_size(raw: object) -> int:
    """A size in bytes from a byte count or a number with a unit (``16MiB``, ``64 MB``,
    ``1TiB``; case-insensitive); ValueError says what is accepted."""
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return raw
    match = _SIZE.fullmatch(raw) if isinstance(raw, str) else None
    if match is None or (match[2] and match[2].lower() not in _UNITS):
        raise ValueError(f"is not a size: give {SIZE_HELP}")
    try:
        size = Decimal(match[1]) * _UNITS[match[2].lower() or "b"]
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimal numbers
        raise ValueError(f"is not a size: give {SIZE_HELP}") from None
    if size != size.to_integral_value():
        raise ValueError("is not a whole number of bytes")
    return int(size)


def format_size(size: int) -> str:
    """``size`` bytes with the largest binary unit that divides it into at least 1 (16 MiB)."""
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        factor = _UNITS[unit.lower()]
        if size >= factor:
            amount = size / factor
            return f"{amount:g} {unit}" if amount == int(amount) else f"{amount:.1f} {unit}"
    return f"{size} B"


def _algorithms(raw: object) -> tuple[str, ...]:
    from preserve.checksums import bagit_token, is_supported

    names = _names(raw)
    algs = tuple(bagit_token(a) for a in names)
    bad = [a for a in algs if not is_supported(a) or a == "crc64nvme"]
    if bad:
        raise ValueError(f"names unsupported algorithms: {', '.join(bad)}")
    return algs


def _fixity_algorithms(raw: object) -> tuple[str, ...]:
    from preserve.checksums import bagit_token, is_supported

    algs = tuple(dict.fromkeys(bagit_token(a) for a in _names(raw)))
    bad = [a for a in algs if not is_supported(a) or a == "crc64nvme"]
    if bad:
        raise ValueError(
            f"names algorithms that cannot serve as fixity references: {', '.join(bad)}"
        )
    if not algs:
        raise ValueError("names no algorithm")
    return algs


def _names(raw: object) -> list[str]:
    """A comma-separated string, or (in the settings file) a list of strings."""
    if isinstance(raw, str):
        return [a.strip() for a in raw.split(",") if a.strip()]
    if isinstance(raw, list) and all(isinstance(a, str) for a in raw):
        return [a.strip() for a in raw if a.strip()]
    raise ValueError("is not a comma-separated string or a list of strings")


def _bool(raw: object) -> str:
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return "true"
    if text in ("0", "false", "no", "off"):
        return "false"
    raise ValueError("must be true or false")


def _bind(raw: object) -> str:
    text = _text(raw).strip()
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("must be HOST:PORT, such as 127.0.0.1:8000")
    return text


def _ingest_folders(raw: object) -> tuple[str, ...]:
    pairs = []
    for item in _names(raw):
        name, sep, path = item.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name.strip()):
            raise ValueError(f"entry {item!r} is not NAME=PATH (a name of letters, digits, -_.)")
        if not Path(path.strip()).expanduser().is_absolute():
            raise ValueError(f"entry {item!r}: the path must be absolute")
        pairs.append(f"{name.strip()}={path.strip()}")
    return tuple(pairs)


def _public_url(raw: object) -> str:
    text = _text(raw).strip().rstrip("/")
    if urlsplit(text).scheme not in HTTP or not urlsplit(text).netloc:
        raise ValueError("must be an http:// or https:// URL")
    return text


def _ratelimit_url(raw: object) -> str:
    text = _text(raw).strip()
    if urlsplit(text).scheme not in ("memory", "redis", "rediss"):
        raise ValueError("must be memory:// or redis://HOST:PORT/N")
    return text


def _env(raw: object) -> str:
    if raw not in ("development", "production"):
        raise ValueError("must be 'development' or 'production'")
    return str(raw)


_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<rest>.*)", re.DOTALL)
#: The catalogue's SQLAlchemy dialect and driver on PostgreSQL, and the schemes read as it.
POSTGRES_SCHEME = "postgresql+psycopg"
_POSTGRES_ALIASES = ("postgres", "postgresql")
_DATABASE_FORMS = "use postgresql+psycopg://USER@HOST:PORT/DATABASE or sqlite:///PATH"


def _database_url(raw: object) -> str:
    """A catalogue URL: PostgreSQL through psycopg 3 (``postgres://`` and ``postgresql://``
    normalised to it) or a SQLite file. Checked here, without SQLAlchemy, so that a mistyped URL
    is a configuration error and not a failure deep inside the database layer."""
    text = _text(raw).strip()
    match = _URL.fullmatch(text)
    scheme = match["scheme"].lower() if match else ""
    if scheme == "sqlite":
        path = match["rest"] if match else ""
        if not path.startswith("/") or path == "/":
            raise ValueError("names no SQLite file: use sqlite:///PATH")
        return text
    if scheme in _POSTGRES_ALIASES:
        scheme = POSTGRES_SCHEME
    if scheme != POSTGRES_SCHEME or match is None:
        raise ValueError(f"is not a supported catalogue URL: {_DATABASE_FORMS}")
    url = f"{POSTGRES_SCHEME}://{match['rest']}"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is no number
    except ValueError:
        raise ValueError(f"has a port that is not a number 0-65535: {_DATABASE_FORMS}") from None
    # without a database name libpq falls back to the login name's database over the local
    # socket: a catalogue URL that "answers" from wherever it runs; refuse it
    if not parts.path.strip("/") and not parse_qs(parts.query).get("dbname"):
        raise ValueError(f"names no database: {_DATABASE_FORMS}")
    return url


_STORAGE_FORMS = (
    "use file:///ABSOLUTE/PATH or s3://BUCKET/PREFIX (with ?endpoint_url=https://HOST:PORT for "
    "an S3-compatible server other than AWS)"
)


def _storage_url(raw: object) -> str:
    """The default location's URL, checked for its form only (scheme, bucket, absolute path);
    ``preserve init`` checks the rest before it creates anything."""
    text = _text(raw).strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        raise ValueError(f"is not a storage URL: {_STORAGE_FORMS}") from None
    scheme = parts.scheme.lower()
    if scheme == "s3":
        if not parts.netloc:
            raise ValueError(f"names no bucket: {_STORAGE_FORMS}")
    elif scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ValueError(f"does not name an absolute path: {_STORAGE_FORMS}")
    else:
        raise ValueError(f"is not a supported storage URL: {_STORAGE_FORMS}")
    return text


#: The brokers the workers can use (kombu transports); ``sqla+`` loses tasks and is refused.
BROKER_SCHEMES = ("redis", "rediss", "amqp", "amqps", "pyamqp", "filesystem")
_BROKER_FORMS = (
    "use redis://HOST:6379/0, amqp://USER:PASSWORD@HOST:5672// or filesystem:// (or leave it "
    "unset for the embedded filesystem transport under PRESERVE_HOME)"
)


def _broker_url(raw: object) -> str:
    """The Celery broker's URL: Redis, RabbitMQ or kombu's filesystem transport."""
    text = _text(raw).strip()
    scheme = text.partition("://")[0].lower() if "://" in text else ""
    if scheme.startswith("sqla") or scheme.startswith("sqlalchemy"):
        raise ValueError(
            "is kombu's SQLAlchemy transport, which loses tasks when a worker is killed: "
            + _BROKER_FORMS
        )
    if scheme not in BROKER_SCHEMES:
        raise ValueError(f"is not a supported broker URL: {_BROKER_FORMS}")
    return text


def _queue_name(raw: object) -> str:
    text = _text(raw).strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", text):
        raise ValueError("must be letters, digits, '.', '_' or '-' (at most 100)")
    return text


def _addresses(raw: object) -> tuple[str, ...]:
    """E-mail addresses, comma separated (or a list in the settings file)."""
    items = raw if isinstance(raw, list) else str(raw).split(",")
    addresses = tuple(str(item).strip() for item in items if str(item).strip())
    for address in addresses:
        if not re.fullmatch(r"[^@\s,]+@[^@\s,]+", address):
            raise ValueError(f"{address!r} is not an e-mail address")
    return addresses


HTTP = ("http", "https")
_SIZES = (
    "s3_multipart_threshold",
    "s3_part_size",
    "max_unpack_bytes",
    "upload_max_size",
    "transfer_max_size",
)
_PARSERS: dict[str, Callable[[object], object]] = {
    "home": _path,
    "staging_dir": _path,
    "storage_retries": _whole,
    "workers": _whole,
    "max_unpack_ratio": _whole,
    "fixity_interval_days": _whole,
    "job_lease": _whole,
    "web_threads": _whole,
    "upload_expiry_hours": _whole,
    "login_attempts": _whole,
    "lockout_minutes": _whole,
    "disposal_restore_days": _whole,
    "upload_dir": _path,
    "derivatives_dir": _path,
    "web_bind": _bind,
    "public_url": _public_url,
    "secure_cookies": _bool,
    "ingest_folders": _ingest_folders,
    "ratelimit_storage_url": _ratelimit_url,
    "alert_to": _addresses,
    "storage_backoff": _number,
    **{name: parse_size for name in _SIZES},
    "algorithms": _algorithms,
    "fixity_algorithms": _fixity_algorithms,
    "env": _env,
    "database_url": _database_url,
    "storage_url": _storage_url,
    "broker_url": _broker_url,
    "broker_queue": _queue_name,
}


def _shown(raw: object) -> str:
    """A value as a problem quotes it: its repr, with a URL's password hidden."""
    return redact_url(repr(raw)) if isinstance(raw, str) else repr(raw)


def redact_url(value: str) -> str:
    """``value`` with the password of a URL in it replaced by ``***``."""
    return re.sub(r"(//[^:/@\s]*):[^@/\s]*@", r"\1:***@", value)
