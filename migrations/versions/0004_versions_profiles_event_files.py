"""Package versions, the BagIt profile a collection requires, events written to storage.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 09:00:00+00:00

- ``package_versions``: one row per version of a package (its title, description, bag-info,
  payload fingerprint, totals, what changed, the kind and profile of its delivery, and the
  owner of a version being made). Every existing package becomes its version 1.
- ``files.version`` and ``files.stored_version``: the version a file row belongs to, and the
  version whose folder holds its bytes (an earlier one for a file its ``fetch.txt`` names),
  and its path there when it was renamed since (``files.stored_path``).
  The unique path is per version now.
- ``copies.version``: a copy is one version's folder on one location.
- ``events.version``: the version an event concerns; ``events.stored_in``: where storage holds
  the event (``v1/metadata/premis.xml`` or an event file), NULL until written.
- ``event_files``: the dated PREMIS event files written under ``<package>/events/``.
- ``collections.bagit_profile``: the BagIt profile a collection's deliveries must conform to.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STATUSES = "status IN ('ingesting', 'stored', 'failed')"
UNSTORED = sa.text("stored_in IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("collections") as batch:
        batch.add_column(sa.Column("bagit_profile", sa.JSON(none_as_null=True), nullable=True))

    op.create_table(
        "package_versions",
        sa.Column("package_id", sa.String(length=36), nullable=False),
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.JSON(), nullable=False),
        sa.Column("bag_info", sa.JSON(), nullable=False),
        sa.Column("payload_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("file_count", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("stored_files", sa.Integer(), nullable=False),
        sa.Column("stored_bytes", sa.BigInteger(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("delivery_kind", sa.String(length=50), nullable=False),
        sa.Column("delivery_profile", sa.String(length=255), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("ingest_host", sa.String(length=255), nullable=True),
        sa.Column("ingest_pid", sa.Integer(), nullable=True),
        sa.Column("ingest_process_started", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(STATUSES, name="ck_package_versions_status"),
        sa.CheckConstraint("kind IN ('content', 'metadata')", name="ck_package_versions_kind"),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["packages.id"],
            name="fk_package_versions_package_id_packages",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("package_id", "number", name="pk_package_versions"),
    )
    op.create_index(
        "ix_package_versions_payload_fingerprint", "package_versions", ["payload_fingerprint"]
    )
    op.create_index("ix_package_versions_status", "package_versions", ["status"])
    # every package so far is its own version 1
    op.execute(
        "INSERT INTO package_versions (package_id, number, kind, status, title, description, "
        "bag_info, payload_fingerprint, file_count, size, stored_files, stored_bytes, changes, "
        "source, delivery_kind, delivery_profile, actor, ingest_host, ingest_pid, "
        "ingest_process_started, created_at, stored_at) "
        "SELECT id, version, 'content', status, title, description, bag_info, "
        "payload_fingerprint, file_count, size, file_count, size, '{}', source, '', '', '', "
        "ingest_host, ingest_pid, ingest_process_started, created_at, stored_at FROM packages"
    )

    with op.batch_alter_table("files") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(
            sa.Column("stored_version", sa.Integer(), nullable=False, server_default="1")
        )
        batch.add_column(sa.Column("stored_path", sa.Text(), nullable=True))
        batch.drop_constraint("uq_files_package_id_path", type_="unique")
        batch.create_unique_constraint(
            "uq_files_package_id_version_path", ["package_id", "version", "path"]
        )
    with op.batch_alter_table("files") as batch:  # the models give the default
        batch.alter_column("version", server_default=None)
        batch.alter_column("stored_version", server_default=None)

    with op.batch_alter_table("copies") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch.drop_constraint("uq_copies_package_id_location_id", type_="unique")
        batch.create_unique_constraint(
            "uq_copies_package_id_version_location_id", ["package_id", "version", "location_id"]
        )
    with op.batch_alter_table("copies") as batch:
        batch.alter_column("version", server_default=None)

    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("stored_in", sa.Text(), nullable=True))
    # every package so far is at version 1; the events of its making are in that bag's
    # premis.xml (those before its first replication, on no copy): the others (replications,
    # ingestion ends, fixity checks) are written to storage by the next event flush
    op.execute("UPDATE events SET version = 1 WHERE package_id IS NOT NULL")
    op.execute(
        "UPDATE events SET stored_in = 'v1/metadata/premis.xml' "
        "WHERE package_id IS NOT NULL AND copy_id IS NULL AND occurred_at < "
        "(SELECT MIN(r.occurred_at) FROM events r WHERE r.package_id = events.package_id "
        "AND r.event_type = 'replication')"
    )
    op.create_index(
        "ix_events_unstored",
        "events",
        ["package_id"],
        sqlite_where=UNSTORED,
        postgresql_where=UNSTORED,
    )

    op.create_table(
        "event_files",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("package_id", sa.String(length=36), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha512", sa.String(length=128), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["packages.id"],
            name="fk_event_files_package_id_packages",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_event_files"),
        sa.UniqueConstraint("package_id", "path", name="uq_event_files_package_id_path"),
    )


def downgrade() -> None:
    op.drop_table("event_files")
    op.drop_index("ix_events_unstored", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("stored_in")
        batch.drop_column("version")
    # only the current version survives a downgrade: earlier versions' rows go
    op.execute(
        "DELETE FROM copies WHERE version <> "
        "(SELECT p.version FROM packages p WHERE p.id = copies.package_id)"
    )
    with op.batch_alter_table("copies") as batch:
        batch.drop_constraint("uq_copies_package_id_version_location_id", type_="unique")
        batch.create_unique_constraint(
            "uq_copies_package_id_location_id", ["package_id", "location_id"]
        )
        batch.drop_column("version")
    op.execute(
        "DELETE FROM files WHERE version <> "
        "(SELECT p.version FROM packages p WHERE p.id = files.package_id)"
    )
    with op.batch_alter_table("files") as batch:
        batch.drop_constraint("uq_files_package_id_version_path", type_="unique")
        batch.create_unique_constraint("uq_files_package_id_path", ["package_id", "path"])
        batch.drop_column("stored_path")
        batch.drop_column("stored_version")
        batch.drop_column("version")
    op.drop_index("ix_package_versions_status", table_name="package_versions")
    op.drop_index("ix_package_versions_payload_fingerprint", table_name="package_versions")
    op.drop_table("package_versions")
    with op.batch_alter_table("collections") as batch:
        batch.drop_column("bagit_profile")
