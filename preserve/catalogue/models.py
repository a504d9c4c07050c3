"""The catalogue's tables as SQLAlchemy 2 typed declarative models.

The migrations in ``migrations/versions`` create these tables explicitly; a test checks that both
agree. Constraint names follow :data:`NAMING_CONVENTION` so later migrations can drop them by name.
Every timestamp is timezone-aware UTC, also on SQLite, which stores no offset
(see :class:`UTCDateTime`).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The vocabularies below are enforced by CHECK constraints; changing one needs a migration.
PROVIDERS = ("local", "s3")
PACKAGE_STATUSES = ("ingesting", "stored", "failed")
#: A package (not a version) may also be ``disposed``: its objects are gone (to the restore bin
#: of preserve.services.disposal, then for good) and the row is its tombstone.
PACKAGE_ROW_STATUSES = (*PACKAGE_STATUSES, "disposed")
#: A version made from a changed delivery, or one that corrects the description only.
VERSION_KINDS = ("content", "metadata")
FILE_ROLES = ("payload", "tag")
COPY_STATUSES = ("pending", "verified", "failed", "missing", "quarantined")
CHECK_OUTCOMES = ("ok", "mismatch", "missing", "error")
#: Packages that hold their content's place in a collection (see uq_packages_live_fingerprint).
LIVE_STATUSES = "status IN ('ingesting', 'stored')"
#: The PREMIS agentType vocabulary of the Library of Congress, spelled as premis.py writes it.
AGENT_TYPES = ("software", "person", "organization", "hardware")
EVENT_OUTCOMES = ("success", "failure", "warning")


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def new_uuid() -> str:
    return str(uuid.uuid4())


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UTCDateTime(sa.TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that refuses naive datetimes and always returns UTC.

    PostgreSQL keeps the instant in ``timestamptz``; SQLite keeps text without an offset, so values
    are converted to UTC before they are written and marked as UTC when they are read.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} given; use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: sa.JSON(),
    }


# File ids grow with every file of every package; SQLite only autoincrements INTEGER primary keys.
BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(100), unique=True)
    #: The full name: Source-Organization in bag-info.txt, the owning agent in PREMIS.
    name: Mapped[str] = mapped_column(sa.String(255))
    #: Organization-Address, Contact-Name and Contact-Email in bag-info.txt ("" when not given).
    address: Mapped[str] = mapped_column(sa.Text, default="")
    contact_name: Mapped[str] = mapped_column(sa.String(255), default="")
    contact_email: Mapped[str] = mapped_column(sa.String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<Organisation {self.slug}>"


class Collection(Base):
    __tablename__ = "collections"
    __table_args__ = (sa.UniqueConstraint("organisation_id", "slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"))
    slug: Mapped[str] = mapped_column(sa.String(100))
    title: Mapped[str] = mapped_column(sa.String(255))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    #: The BagIt profile (its JSON document) every delivery to this collection must conform to.
    bagit_profile: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON(none_as_null=True))
    #: How often each copy of the collection's packages is re-verified, in days (None: the
    #: location's interval, else the PRESERVE_FIXITY_INTERVAL_DAYS setting); the shortest wins.
    fixity_interval_days: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organisation: Mapped[Organisation] = relationship()

    def __repr__(self) -> str:
        return f"<Collection {self.organisation_id}/{self.slug}>"


class StorageLocation(Base):
    __tablename__ = "storage_locations"
    __table_args__ = (sa.CheckConstraint(_in("provider", PROVIDERS), name="provider"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    url: Mapped[str] = mapped_column(sa.String(1024), unique=True)
    provider: Mapped[str] = mapped_column(sa.String(20))
    region: Mapped[str | None] = mapped_column(sa.String(100))
    storage_type: Mapped[str] = mapped_column(sa.String(50), default="filesystem")
    offline: Mapped[bool] = mapped_column(default=False)
    is_default: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: When the location last failed to answer (connection refused, time-out) and why; cleared
    #: when it answers again. Recovery postpones clean-ups on it for a while.
    unreachable_at: Mapped[datetime | None] = mapped_column()
    unreachable_error: Mapped[str | None] = mapped_column(sa.Text)
    #: How often each copy on this location is re-verified, in days (None: the setting).
    fixity_interval_days: Mapped[int | None] = mapped_column()
    #: The most bytes an hour scheduled fixity may read from this location (None: no limit).
    fixity_bytes_per_hour: Mapped[int | None] = mapped_column(sa.BigInteger)
    #: When the location was retired (every package on it had its required copies elsewhere):
    #: nothing new is stored on it and its copies are no longer scheduled.
    retired_at: Mapped[datetime | None] = mapped_column()
    #: The site (building, data centre) it is at: one site counts once towards an agreement's
    #: distinct sites (None: not known, counts as no site).
    site: Mapped[str | None] = mapped_column(sa.String(100))
    #: Where it is for an agreement's allowed regions: ISO 3166-1 alpha-2 or ``EU`` (None: not
    #: known, so outside any restricted set). ``region`` is the S3 region or free text.
    jurisdiction: Mapped[str | None] = mapped_column(sa.String(2))
    #: Who runs it: ``own`` (the archive service) or ``storage_node`` (a third party).
    operator: Mapped[str | None] = mapped_column(sa.String(20))

    def __repr__(self) -> str:
        return f"<StorageLocation {self.name} {self.url}>"


class CollectionLocation(Base):
    """A location on which a collection's packages are stored."""

    __tablename__ = "collection_locations"

    collection_id: Mapped[int] = mapped_column(
        sa.ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True
    )
    location_id: Mapped[int] = mapped_column(
        sa.ForeignKey("storage_locations.id"), primary_key=True
    )


class Package(Base):
    __tablename__ = "packages"
    __table_args__ = (
        sa.Index(None, "collection_id", "payload_fingerprint"),
        # one live package per content and collection: concurrent ingests of the same delivery
        # cannot both store it (the second one's insert fails and it reports a duplicate)
        sa.Index(
            "uq_packages_live_fingerprint",
            "collection_id",
            "payload_fingerprint",
            unique=True,
            sqlite_where=sa.text(LIVE_STATUSES),
            postgresql_where=sa.text(LIVE_STATUSES),
        ),
        sa.CheckConstraint(_in("status", PACKAGE_ROW_STATUSES), name="status"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_uuid)
    collection_id: Mapped[int] = mapped_column(sa.ForeignKey("collections.id"))
    # title, description, size, file_count, payload_fingerprint and bag_info are those of the
    # current version (``version``); every version keeps its own in ``package_versions``
    external_identifier: Mapped[str | None] = mapped_column(sa.String(255))
    title: Mapped[str] = mapped_column(sa.Text, default="")
    #: Dublin Core: element name -> list of values.
    description: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    status: Mapped[str] = mapped_column(sa.String(20), default="ingesting")
    version: Mapped[int] = mapped_column(default=1)
    size: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    file_count: Mapped[int] = mapped_column(default=0)
    #: sha256 hex of the sorted payload manifest: identical content re-ingested into a collection.
    payload_fingerprint: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    #: bag-info.txt as a list of [label, value] pairs (labels repeat and order matters).
    bag_info: Mapped[list[Any]] = mapped_column(sa.JSON, default=list)
    #: The path the delivery came from.
    source: Mapped[str] = mapped_column(sa.Text, default="")
    ingest_host: Mapped[str | None] = mapped_column(sa.String(255))
    ingest_pid: Mapped[int | None] = mapped_column()
    #: The ingest process's start time (seconds since the epoch): a reused pid is not the owner.
    ingest_process_started: Mapped[float | None] = mapped_column(sa.Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    stored_at: Mapped[datetime | None] = mapped_column()
    #: Set when a file has no good copy left on any location (repair found none): when, and
    #: which files ([{"version": N, "path": "data/...", "reason": "..."}]); cleared when every
    #: file is whole again.
    damaged_at: Mapped[datetime | None] = mapped_column()
    damage: Mapped[list[Any] | None] = mapped_column(sa.JSON(none_as_null=True))

    collection: Mapped[Collection] = relationship()

    def __repr__(self) -> str:
        return f"<Package {self.id} v{self.version} {self.status}>"


class PackageVersion(Base):
    """One version of a package: a complete BagIt bag under ``v<number>/`` on every location of
    its copies, whose unchanged payload files are named in its ``fetch.txt`` and stored once, in
    the version that brought them (``files.stored_version``).

    Version 1 is the first ingest. A version being made is ``ingesting`` (owned by a process,
    like a package being ingested) while the package stays ``stored`` at its current version;
    only the final transaction makes it current."""

    __tablename__ = "package_versions"
    __table_args__ = (
        # every ingest asks whether an earlier version holds its content, and its recovery
        # which versions were left unfinished: neither may scan every version
        sa.Index(None, "payload_fingerprint"),
        sa.Index(None, "status"),
        sa.CheckConstraint(_in("status", PACKAGE_STATUSES), name="status"),
        sa.CheckConstraint(_in("kind", VERSION_KINDS), name="kind"),
    )

    package_id: Mapped[str] = mapped_column(
        sa.ForeignKey("packages.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(sa.String(20), default="content")
    status: Mapped[str] = mapped_column(sa.String(20), default="ingesting")
    title: Mapped[str] = mapped_column(sa.Text, default="")
    description: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    bag_info: Mapped[list[Any]] = mapped_column(sa.JSON, default=list)
    payload_fingerprint: Mapped[str | None] = mapped_column(sa.String(64))
    #: The version's complete payload (files it stores and files it names in fetch.txt) ...
    file_count: Mapped[int] = mapped_column(default=0)
    size: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    #: ... and what it stored itself (a metadata-only version stores no payload).
    stored_files: Mapped[int] = mapped_column(default=0)
    stored_bytes: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    #: What changed from the version before, by digest: {"added": [path], "modified": [path],
    #: "removed": [path], "renamed": [[old, new]], "unchanged": count}; {} for version 1.
    changes: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    #: The path the delivery came from ("" for a metadata-only version).
    source: Mapped[str] = mapped_column(sa.Text, default="")
    #: What the delivery was ("folder", "bag", "meemoo-sip", "eark-sip" ...; "" when not
    #: recorded) and the profile and version it declared.
    delivery_kind: Mapped[str] = mapped_column(sa.String(50), default="")
    delivery_profile: Mapped[str] = mapped_column(sa.String(255), default="")
    #: Who asked for it (the person or system account).
    actor: Mapped[str] = mapped_column(sa.String(255), default="")
    ingest_host: Mapped[str | None] = mapped_column(sa.String(255))
    ingest_pid: Mapped[int | None] = mapped_column()
    ingest_process_started: Mapped[float | None] = mapped_column(sa.Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    stored_at: Mapped[datetime | None] = mapped_column()

    def __repr__(self) -> str:
        return f"<PackageVersion {self.package_id} v{self.number} {self.status}>"


class File(Base):
    __tablename__ = "files"
    __table_args__ = (
        sa.UniqueConstraint("package_id", "version", "path"),
        # the compliance report's formats: each package version's PUIDs, read in order from
        # the index alone (migration 0015)
        sa.Index(None, "package_id", "version", "role", "puid"),
        sa.CheckConstraint(_in("role", FILE_ROLES), name="role"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    package_id: Mapped[str] = mapped_column(sa.ForeignKey("packages.id", ondelete="CASCADE"))
    #: The version this row belongs to: every version has a row for each of its files.
    version: Mapped[int] = mapped_column(default=1)
    #: The version whose folder (``v<N>/``) holds the bytes: ``version`` for a file the version
    #: stored, an earlier one for a file its fetch.txt names. Tag files are always stored.
    stored_version: Mapped[int] = mapped_column(default=1)
    #: The file's path in that version's bag when it differs (a file renamed since): the object
    #: is ``v<stored_version>/<stored_path or path>``.
    stored_path: Mapped[str | None] = mapped_column(sa.Text)
    #: The path in the bag exactly as stored (never normalised), e.g. "data/photos/img 1.jpg".
    path: Mapped[str] = mapped_column(sa.Text)
    path_nfc: Mapped[str] = mapped_column(sa.Text, index=True)
    role: Mapped[str] = mapped_column(sa.String(10), default="payload")
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha512: Mapped[str | None] = mapped_column(sa.String(128))
    sha256: Mapped[str | None] = mapped_column(sa.String(64))
    #: Other algorithms: BagIt token -> hex digest.
    digests: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    puid: Mapped[str | None] = mapped_column(sa.String(50))
    format_name: Mapped[str | None] = mapped_column(sa.String(255))
    format_version: Mapped[str | None] = mapped_column(sa.String(100))
    mime: Mapped[str | None] = mapped_column(sa.String(255))
    basis: Mapped[str | None] = mapped_column(sa.Text)
    #: Every match, warnings, tool and signature version.
    identification: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON(none_as_null=True))
    image: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON(none_as_null=True))
    #: Dublin Core given for this file alone (an item-level row of a --metadata CSV).
    description: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON(none_as_null=True))

    def __repr__(self) -> str:
        return f"<File {self.package_id} {self.path!r}>"


class Copy(Base):
    """One stored copy of a package version on one location."""

    __tablename__ = "copies"
    __table_args__ = (
        sa.UniqueConstraint("package_id", "version", "location_id"),
        sa.Index(None, "status", "last_checked_at"),
        sa.Index(None, "location_id", "next_check_at"),
        sa.CheckConstraint(_in("status", COPY_STATUSES), name="status"),
        sa.CheckConstraint(
            f"last_outcome IS NULL OR {_in('last_outcome', CHECK_OUTCOMES)}", name="last_outcome"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    package_id: Mapped[str] = mapped_column(sa.ForeignKey("packages.id", ondelete="CASCADE"))
    location_id: Mapped[int] = mapped_column(sa.ForeignKey("storage_locations.id"), index=True)
    #: The package version this copy holds (a copy is one version's folder on one location).
    version: Mapped[int] = mapped_column(default=1)
    #: e.g. "org/coll/<uuid>/v1/"
    key_prefix: Mapped[str] = mapped_column(sa.String(1024))
    status: Mapped[str] = mapped_column(sa.String(20), default="pending")
    verified_by: Mapped[str | None] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    verified_at: Mapped[datetime | None] = mapped_column()
    last_checked_at: Mapped[datetime | None] = mapped_column()
    last_outcome: Mapped[str | None] = mapped_column(sa.String(20))
    #: When the copy is next due for a scheduled fixity check (None: never checked, so first).
    next_check_at: Mapped[datetime | None] = mapped_column()
    #: The bytes of the copy (what a check reads), for spreading the checks by bytes.
    size_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    #: The fixity job that has claimed the copy, and until when the claim holds (a claim whose
    #: job was lost runs out, and the copy is due again).
    fixity_job_id: Mapped[str | None] = mapped_column(sa.String(36))
    claimed_until: Mapped[datetime | None] = mapped_column()

    package: Mapped[Package] = relationship()
    location: Mapped[StorageLocation] = relationship()

    def __repr__(self) -> str:
        return f"<Copy {self.package_id} @{self.location_id} {self.status}>"


class Agent(Base):
    __tablename__ = "agents"
    __table_args__ = (
        sa.UniqueConstraint("name", "version", "agent_type"),
        sa.CheckConstraint(_in("agent_type", AGENT_TYPES), name="agent_type"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(255))
    version: Mapped[str] = mapped_column(sa.String(100), default="")
    agent_type: Mapped[str] = mapped_column(sa.String(20), default="software")

    def __repr__(self) -> str:
        return f"<Agent {self.agent_type} {self.name} {self.version}>"


class Event(Base):
    """A PREMIS event; ``event_type`` is the Library of Congress vocabulary label."""

    __tablename__ = "events"
    __table_args__ = (
        sa.Index(None, "package_id", "occurred_at"),
        # the events not yet written to storage: few at any time, found without a scan
        sa.Index(
            "ix_events_unstored",
            "package_id",
            sqlite_where=sa.text("stored_in IS NULL"),
            postgresql_where=sa.text("stored_in IS NULL"),
        ),
        sa.CheckConstraint(_in("outcome", EVENT_OUTCOMES), name="outcome"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_uuid)
    event_type: Mapped[str] = mapped_column(sa.String(100))
    event_type_uri: Mapped[str | None] = mapped_column(sa.String(255))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    outcome: Mapped[str] = mapped_column(sa.String(20))
    detail: Mapped[str] = mapped_column(sa.Text, default="")
    outcome_detail: Mapped[str] = mapped_column(sa.Text, default="")
    agent_id: Mapped[int] = mapped_column(sa.ForeignKey("agents.id"))
    package_id: Mapped[str | None] = mapped_column(sa.ForeignKey("packages.id", ondelete="CASCADE"))
    # An event outlives the copy or file row it concerned: the history is kept, the link cleared.
    # Both are indexed, or deleting a package with 100,000 files scans the events once per file.
    copy_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("copies.id", ondelete="SET NULL"), index=True
    )
    file_id: Mapped[int | None] = mapped_column(
        BigIntId, sa.ForeignKey("files.id", ondelete="SET NULL"), index=True
    )
    #: The package version the event concerns, where it concerns one.
    version: Mapped[int | None] = mapped_column()
    #: Where storage holds this event, relative to the package's folder: "v1/metadata/premis.xml"
    #: for events written into a version's bag, "events/..." for the event files written
    #: later; NULL until it is written (see ``event_files``).
    stored_in: Mapped[str | None] = mapped_column(sa.Text)

    agent: Mapped[Agent] = relationship()

    def __repr__(self) -> str:
        return f"<Event {self.event_type} {self.outcome} {self.package_id}>"


class EventAgent(Base):
    """An agent linked to an event besides its executing program, with its PREMIS role
    (``implementer``: the person who ran the command; ``owner``: the owning organisation)."""

    __tablename__ = "event_agents"

    event_id: Mapped[str] = mapped_column(
        sa.ForeignKey("events.id", ondelete="CASCADE"), primary_key=True
    )
    agent_id: Mapped[int] = mapped_column(sa.ForeignKey("agents.id"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(sa.String(50), primary_key=True)

    agent: Mapped[Agent] = relationship()


class EventFile(Base):
    """A PREMIS event file written to storage after a package's ingest: the events recorded
    since (fixity checks, replications, repairs, exports, metadata corrections), appended as
    new dated objects under ``<package>/events/`` beside its versions and never rewritten, so
    storage alone holds the package's whole history. Its digests are the reference for fixity;
    it is written on every location that holds a copy of the package."""

    __tablename__ = "event_files"
    __table_args__ = (sa.UniqueConstraint("package_id", "path"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    package_id: Mapped[str] = mapped_column(sa.ForeignKey("packages.id", ondelete="CASCADE"))
    #: Relative to the package's folder, e.g. "events/2026/11/20261129T091500Z-<uuid>.xml".
    path: Mapped[str] = mapped_column(sa.Text)
    size: Mapped[int] = mapped_column(sa.BigInteger)
    sha512: Mapped[str] = mapped_column(sa.String(128))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    event_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<EventFile {self.package_id} {self.path!r}>"


#: What a job can be (issue 10 adds the tasks that run them) and the states it goes through.
JOB_KINDS = (
    "ingest",
    "version",
    "describe",
    "replicate",
    "verify",
    "repair",
    "fixity",
    "report",
    "sync",
    "retire",
    "noop",
    # issue 11: thumbnails and previews of a package's images; a bag exported to a server folder
    "derive",
    "export",
    # issue 12: a disposal request's execution (preserve.services.disposal)
    "dispose",
)
JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")


class Job(Base):
    """A piece of background work, and the truth about it: a task message carries only the
    job's id, and whoever runs it must hold its lease (``lease_owner`` until ``lease_until``),
    renewed while it works. A job whose lease ran out is queued again by the reaper, so a lost
    message or a killed worker costs a delay, never the job; a duplicate message finds the
    lease held and does nothing."""

    __tablename__ = "jobs"
    __table_args__ = (
        sa.CheckConstraint(_in("kind", JOB_KINDS), name="kind"),
        sa.CheckConstraint(_in("state", JOB_STATES), name="state"),
        sa.Index(None, "state", "not_before"),
        sa.Index(None, "lease_until"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_uuid)
    kind: Mapped[str] = mapped_column(sa.String(20))
    state: Mapped[str] = mapped_column(sa.String(20), default="queued")
    #: The arguments of the work (plain JSON: paths, ids, names).
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    #: The same request made twice (a re-sent form, a retried API call) makes one job.
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    #: The package the job concerns, once known (no foreign key: a job outlives a package).
    package_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    requested_by: Mapped[str] = mapped_column(sa.String(255), default="")
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=5)
    #: Not to be started before (the back-off after a failed attempt).
    not_before: Mapped[datetime | None] = mapped_column()
    lease_owner: Mapped[str | None] = mapped_column(sa.String(255))
    lease_until: Mapped[datetime | None] = mapped_column()
    heartbeat_at: Mapped[datetime | None] = mapped_column()
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    files_done: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    files_total: Mapped[int | None] = mapped_column(sa.BigInteger)
    bytes_done: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    bytes_total: Mapped[int | None] = mapped_column(sa.BigInteger)
    result: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON(none_as_null=True))
    #: Where a resumable job had got to (saved by its handler as it works, read back by the
    #: next attempt, so a restart continues rather than starts over).
    checkpoint: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON(none_as_null=True))
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.kind} {self.state}>"


class QuarantinedObject(Base):
    """A stored object found damaged (mismatch) or foreign, moved aside before the good bytes
    were restored in its place: kept, never silently deleted."""

    __tablename__ = "quarantined_objects"

    id: Mapped[int] = mapped_column(primary_key=True)
    # the history outlives the copy row (a retired location, a deleted package)
    copy_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("copies.id", ondelete="SET NULL"), index=True
    )
    package_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    version: Mapped[int | None] = mapped_column()
    location_id: Mapped[int] = mapped_column(sa.ForeignKey("storage_locations.id"))
    #: The file's path in the bag ("data/...", "manifest-sha512.txt") and the key it was found at.
    path: Mapped[str] = mapped_column(sa.Text)
    original_key: Mapped[str] = mapped_column(sa.Text)
    #: Where the damaged bytes now are, on the same location.
    quarantine_key: Mapped[str] = mapped_column(sa.Text)
    size: Mapped[int | None] = mapped_column(sa.BigInteger)
    sha256: Mapped[str | None] = mapped_column(sa.String(64))
    #: What the check found: mismatch, missing (nothing to keep aside: size None) or foreign.
    reason: Mapped[str] = mapped_column(sa.String(20))
    detail: Mapped[str] = mapped_column(sa.Text, default="")
    event_id: Mapped[str | None] = mapped_column(sa.String(36))
    quarantined_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: When good bytes were restored at ``original_key`` and verified (the recovery event
    #: recorded with it); None while the file is still damaged.
    restored_at: Mapped[datetime | None] = mapped_column()


#: What raises an alert, and how grave it is.
ALERT_KINDS = (
    "fixity_failure",
    "repaired",
    "damaged",
    "job_failed",
    "backlog",
    "replication",
    "object_lock",
)
ALERT_SEVERITIES = ("info", "warning", "critical")
#: Where a delivery (e-mail, webhook) stands.
DELIVERY_STATES = ("pending", "sent", "failed", "off")


class Alert(Base):
    """Something people must know (a fixity failure, a repair, a damaged package, a failed job,
    a fixity backlog): recorded in the transaction that found it, then sent by e-mail and to
    the webhook, each retried until it is delivered or its attempts are used up."""

    __tablename__ = "alerts"
    __table_args__ = (
        sa.CheckConstraint(_in("kind", ALERT_KINDS), name="kind"),
        sa.CheckConstraint(_in("severity", ALERT_SEVERITIES), name="severity"),
        sa.CheckConstraint(_in("email_state", DELIVERY_STATES), name="email_state"),
        sa.CheckConstraint(_in("webhook_state", DELIVERY_STATES), name="webhook_state"),
        sa.Index(None, "email_state", "webhook_state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(30))
    severity: Mapped[str] = mapped_column(sa.String(20))
    subject: Mapped[str] = mapped_column(sa.String(255))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    #: The same condition found again (a backlog seen by every tick) makes no second alert.
    dedup_key: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    package_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    location_id: Mapped[int | None] = mapped_column()
    job_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    #: Structured facts for the webhook (files, copies, counts).
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    email_state: Mapped[str] = mapped_column(sa.String(20), default="pending")
    webhook_state: Mapped[str] = mapped_column(sa.String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    acknowledged_at: Mapped[datetime | None] = mapped_column()
    acknowledged_by: Mapped[str | None] = mapped_column(sa.String(255))

    def __repr__(self) -> str:
        return f"<Alert {self.id} {self.kind} {self.subject!r}>"


# --- the web catalogue (issue 11) ---------------------------------------------------------------

#: A person's role in an organisation, weakest first: viewers see, archivists also ingest,
#: describe and start checks, admins also manage the organisation's collections and people.
ROLES = ("viewer", "archivist", "admin")
LOCALES = ("en", "nl", "fr")
TRANSFER_STATES = ("open", "queued", "discarded", "expired")


class User(Base):
    """A person who signs in to the web catalogue (or acts with ``--as`` on the command line)."""

    __tablename__ = "users"
    __table_args__ = (
        sa.CheckConstraint("locale IS NULL OR " + _in("locale", LOCALES), name="locale"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The sign-in name, lower case; also the person's PREMIS agent name.
    username: Mapped[str] = mapped_column(sa.String(100), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(255), default="")
    email: Mapped[str] = mapped_column(sa.String(255), default="")
    #: argon2id hash (argon2-cffi's encoded form); None: the person cannot sign in with a password.
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    #: A repository administrator: every organisation, storage locations, people, the audit log.
    is_admin: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    #: The preferred language (None: the browser's).
    locale: Mapped[str | None] = mapped_column(sa.String(5))
    #: Raised to sign the person out everywhere (a changed password, a deactivated account):
    #: sessions carry the epoch they were made in.
    session_epoch: Mapped[int] = mapped_column(default=0)
    #: Failed sign-ins in a row, and until when sign-in is refused after too many.
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column()
    #: A one-time password (made by ``users create`` or a reset) must be changed at sign-in.
    must_change_password: Mapped[bool] = mapped_column(default=False)
    last_login_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<User {self.username}>"


class Membership(Base):
    """A person's role in an organisation."""

    __tablename__ = "memberships"
    __table_args__ = (sa.CheckConstraint(_in("role", ROLES), name="role"),)

    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    organisation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(sa.String(20))


class ApiToken(Base):
    """A personal token for ``/api/v1``: only its SHA-256 is kept; it acts as its person."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    #: sha256 hex of the whole token.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: The token's first characters, shown so a person can tell tokens apart.
    prefix: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    expires_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class AuditEntry(Base):
    """Who did what, when, from where: sign-ins (also failed ones), ingests, downloads, edits,
    deletions, changes to people and settings. Never updated; the person's name is copied so
    the entry outlives the account."""

    __tablename__ = "audit_log"
    __table_args__ = (
        sa.Index(None, "occurred_at"),
        sa.Index(None, "user_id", "occurred_at"),
        sa.Index(None, "organisation_id"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    username: Mapped[str] = mapped_column(sa.String(100), default="")
    #: What was done, a dotted name: "sign_in", "sign_in.failed", "package.download", ...
    action: Mapped[str] = mapped_column(sa.String(50))
    #: What it was done to: ("package", id), ("collection", "org/slug"), ("user", name), ...
    object_type: Mapped[str | None] = mapped_column(sa.String(30))
    object_id: Mapped[str | None] = mapped_column(sa.String(255))
    organisation_id: Mapped[int | None] = mapped_column()
    #: The request's address (or "cli"), and how: "web", "api", "cli".
    remote_addr: Mapped[str | None] = mapped_column(sa.String(64))
    channel: Mapped[str] = mapped_column(sa.String(10), default="web")
    detail: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)


class Transfer(Base):
    """One upload of a delivery (files or a whole folder) through the web catalogue: its files
    arrive as tus uploads; completing it queues exactly one ingest job (``job_id``), however
    often completion is asked for."""

    __tablename__ = "transfers"
    __table_args__ = (
        sa.CheckConstraint(_in("state", TRANSFER_STATES), name="state"),
        sa.Index(None, "state", "expires_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_uuid)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"))
    collection_id: Mapped[int] = mapped_column(sa.ForeignKey("collections.id"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    #: The delivery's name (the dropped folder's name, or one the person gave).
    name: Mapped[str] = mapped_column(sa.String(255))
    state: Mapped[str] = mapped_column(sa.String(20), default="open")
    #: Dublin Core from the form (element -> list of values), applied to the package.
    description: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    #: A metadata CSV uploaded with the transfer (its relative path among the uploads).
    metadata_path: Mapped[str | None] = mapped_column(sa.Text)
    #: What the browser announced (to tell when everything has arrived), if it did.
    expected_files: Mapped[int | None] = mapped_column()
    expected_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    #: When the existing package is to get a new version rather than a new package.
    new_version_of: Mapped[str | None] = mapped_column(sa.String(36))
    job_id: Mapped[str | None] = mapped_column(sa.String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: An open transfer untouched until then is discarded with its uploads.
    expires_at: Mapped[datetime | None] = mapped_column()
    completed_at: Mapped[datetime | None] = mapped_column()


class Upload(Base):
    """One file of a transfer, received by the tus server: ``offset`` counts the bytes that are
    on disk (written and fsynced before the offset is committed)."""

    __tablename__ = "uploads"
    __table_args__ = (sa.UniqueConstraint("transfer_id", "relative_path"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_uuid)
    transfer_id: Mapped[str] = mapped_column(
        sa.ForeignKey("transfers.id", ondelete="CASCADE"), index=True
    )
    #: The file's path inside the delivery, checked (relative POSIX, no "..", no control
    #: characters, no backslashes) before it names anything on disk.
    relative_path: Mapped[str] = mapped_column(sa.Text)
    length: Mapped[int] = mapped_column(sa.BigInteger)
    offset: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    #: The rest of the Upload-Metadata the client sent (file type, last modified ...).
    upload_metadata: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    #: The SHA-256 the client announced for the whole file, checked on completion, if given.
    sha256: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column()


DERIVATIVE_KINDS = ("thumbnail", "preview")


class Derivative(Base):
    """A thumbnail or preview of an image file, made by a worker and kept apart from the AIP
    (under the derivatives folder, never on a storage location): it can always be made again."""

    __tablename__ = "derivatives"
    __table_args__ = (
        sa.UniqueConstraint("file_id", "kind"),
        sa.CheckConstraint(_in("kind", DERIVATIVE_KINDS), name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    package_id: Mapped[str] = mapped_column(
        sa.ForeignKey("packages.id", ondelete="CASCADE"), index=True
    )
    file_id: Mapped[int] = mapped_column(BigIntId, sa.ForeignKey("files.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(20))
    #: Relative path under the derivatives folder (None when it could not be made: ``error``).
    path: Mapped[str | None] = mapped_column(sa.Text)
    mime_type: Mapped[str] = mapped_column(sa.String(100), default="image/jpeg")
    width: Mapped[int | None] = mapped_column()
    height: Mapped[int | None] = mapped_column()
    size: Mapped[int | None] = mapped_column(sa.BigInteger)
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


from preserve.catalogue import agreements as _agreements  # noqa: E402,F401 (models of agreements)
from preserve.catalogue import disposal as _disposal  # noqa: E402,F401 (models of disposal)
from preserve.catalogue import exits as _exits  # noqa: E402,F401 (models of exits, restore tests)
from preserve.catalogue import holds as _holds  # noqa: E402,F401 (models of holds)
from preserve.catalogue import notifications as _notifications  # noqa: E402,F401 (notifications)
from preserve.catalogue import object_locks as _object_locks  # noqa: E402,F401 (S3 Object Lock)
from preserve.catalogue import retention as _retention  # noqa: E402,F401 (models of package retention)
