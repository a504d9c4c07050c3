"""The initial catalogue: organisations, collections, locations, packages, files, copies, events.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 00:00:00+00:00

Written out by hand (not from the models) so this revision keeps its meaning when the models move
on; tests/integration/test_migrations.py checks that head and the models agree.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# File ids grow with every file of every package; SQLite only autoincrements INTEGER primary keys.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_organisations"),
        sa.UniqueConstraint("slug", name="uq_organisations_slug"),
    )
    op.create_table(
        "collections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        _timestamp("created_at"),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name="fk_collections_organisation_id_organisations",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_collections"),
        sa.UniqueConstraint("organisation_id", "slug", name="uq_collections_organisation_id_slug"),
    )
    op.create_table(
        "storage_locations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("url", sa.String(length=1024), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("region", sa.String(length=100), nullable=True),
        sa.Column("storage_type", sa.String(length=50), nullable=False),
        sa.Column("offline", sa.Boolean(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        _timestamp("created_at"),
        sa.CheckConstraint("provider IN ('local', 's3')", name="ck_storage_locations_provider"),
        sa.PrimaryKeyConstraint("id", name="pk_storage_locations"),
        sa.UniqueConstraint("name", name="uq_storage_locations_name"),
        sa.UniqueConstraint("url", name="uq_storage_locations_url"),
    )
    op.create_table(
        "collection_locations",
        sa.Column("collection_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["collections.id"],
            name="fk_collection_locations_collection_id_collections",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["storage_locations.id"],
            name="fk_collection_locations_location_id_storage_locations",
        ),
        sa.PrimaryKeyConstraint("collection_id", "location_id", name="pk_collection_locations"),
    )
    op.create_table(
        "packages",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("collection_id", sa.Integer(), nullable=False),
        sa.Column("external_identifier", sa.String(length=255), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("file_count", sa.Integer(), nullable=False),
        sa.Column("payload_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("bag_info", sa.JSON(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("ingest_host", sa.String(length=255), nullable=True),
        sa.Column("ingest_pid", sa.Integer(), nullable=True),
        _timestamp("created_at"),
        _timestamp("stored_at", nullable=True),
        sa.CheckConstraint(
            "status IN ('ingesting', 'stored', 'failed')", name="ck_packages_status"
        ),
        sa.ForeignKeyConstraint(
            ["collection_id"], ["collections.id"], name="fk_packages_collection_id_collections"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_packages"),
    )
    op.create_index(
        "ix_packages_collection_id_payload_fingerprint",
        "packages",
        ["collection_id", "payload_fingerprint"],
    )
    op.create_index("ix_packages_payload_fingerprint", "packages", ["payload_fingerprint"])
    op.create_table(
        "files",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("package_id", sa.String(length=36), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("path_nfc", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha512", sa.String(length=128), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("digests", sa.JSON(), nullable=False),
        sa.Column("puid", sa.String(length=50), nullable=True),
        sa.Column("format_name", sa.String(length=255), nullable=True),
        sa.Column("format_version", sa.String(length=100), nullable=True),
        sa.Column("mime", sa.String(length=255), nullable=True),
        sa.Column("basis", sa.Text(), nullable=True),
        sa.Column("identification", sa.JSON(), nullable=True),
        sa.Column("image", sa.JSON(), nullable=True),
        sa.CheckConstraint("role IN ('payload', 'tag')", name="ck_files_role"),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["packages.id"],
            name="fk_files_package_id_packages",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_files"),
        sa.UniqueConstraint("package_id", "path", name="uq_files_package_id_path"),
    )
    op.create_index("ix_files_path_nfc", "files", ["path_nfc"])
    op.create_table(
        "copies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("package_id", sa.String(length=36), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("key_prefix", sa.String(length=1024), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("verified_by", sa.String(length=255), nullable=True),
        _timestamp("created_at"),
        _timestamp("verified_at", nullable=True),
        _timestamp("last_checked_at", nullable=True),
        sa.Column("last_outcome", sa.String(length=20), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'verified', 'failed', 'missing', 'quarantined')",
            name="ck_copies_status",
        ),
        sa.CheckConstraint(
            "last_outcome IS NULL OR last_outcome IN ('ok', 'mismatch', 'missing', 'error')",
            name="ck_copies_last_outcome",
        ),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["packages.id"],
            name="fk_copies_package_id_packages",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["storage_locations.id"],
            name="fk_copies_location_id_storage_locations",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_copies"),
        sa.UniqueConstraint("package_id", "location_id", name="uq_copies_package_id_location_id"),
    )
    op.create_index("ix_copies_location_id", "copies", ["location_id"])
    op.create_index("ix_copies_status_last_checked_at", "copies", ["status", "last_checked_at"])
    op.create_table(
        "agents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("agent_type", sa.String(length=20), nullable=False),
        sa.CheckConstraint(
            "agent_type IN ('software', 'person', 'organization', 'hardware')",
            name="ck_agents_agent_type",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_agents"),
        sa.UniqueConstraint(
            "name", "version", "agent_type", name="uq_agents_name_version_agent_type"
        ),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("event_type_uri", sa.String(length=255), nullable=True),
        _timestamp("occurred_at"),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("outcome_detail", sa.Text(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("package_id", sa.String(length=36), nullable=True),
        sa.Column("copy_id", sa.Integer(), nullable=True),
        sa.Column("file_id", BIG_ID, nullable=True),
        sa.CheckConstraint(
            "outcome IN ('success', 'failure', 'warning')", name="ck_events_outcome"
        ),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name="fk_events_agent_id_agents"),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["packages.id"],
            name="fk_events_package_id_packages",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["copy_id"], ["copies.id"], name="fk_events_copy_id_copies", ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["file_id"], ["files.id"], name="fk_events_file_id_files", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_index("ix_events_package_id_occurred_at", "events", ["package_id", "occurred_at"])
    op.create_index("ix_events_copy_id", "events", ["copy_id"])
    op.create_index("ix_events_file_id", "events", ["file_id"])


def downgrade() -> None:
    # Dependants first; dropping a table drops its indexes and constraints with it.
    for table in (
        "events",
        "agents",
        "copies",
        "files",
        "packages",
        "collection_locations",
        "storage_locations",
        "collections",
        "organisations",
    ):
        op.drop_table(table)
