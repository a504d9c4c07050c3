"""Disposal: proposals, approvals per party, execution, tombstones, declarations, restore window; ad-hoc deletion requests.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 21:45:00+00:00

- ``disposal_requests``: one batch (kind scheduled, adhoc or exit; state pending, approved,
  rejected, executing, executed, execution_failed, restored, permanently_deleted), the
  governing agreement version and a snapshot of its rule, the parties whose approval is needed,
  who asked, the execution, the restore window and the dated declaration with its SHA-256.
- ``disposal_packages``: its packages, each with its own state, the retention state it had
  before the proposal, why it failed and its tombstone.
- ``disposal_approvals``: one decision per party (approve or reject; who, when, comment).
- ``disposal_copies``: the copies a soft deletion took out of ``copies`` and where their
  objects wait (``disposed/<package folder>``) until restored or deleted for good.
- ``package_retention.state`` also allows disposal_approved, disposing, disposed,
  disposal_failed, restored and permanently_deleted; ``packages.status`` also ``disposed`` (the
  row is the tombstone); ``jobs.kind`` also ``dispose``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_RETENTION = (
    "'unscheduled', 'scheduled', 'retention_error', 'in_retention', 'due', 'under_review',"
    " 'disposal_proposed'"
)
NEW_RETENTION = (
    OLD_RETENTION + ", 'disposal_approved', 'disposing', 'disposed', 'disposal_failed',"
    " 'restored', 'permanently_deleted'"
)
OLD_STATUSES = "'ingesting', 'stored', 'failed'"
NEW_STATUSES = OLD_STATUSES + ", 'disposed'"
OLD_KINDS = (
    "'ingest', 'version', 'describe', 'replicate', 'verify', 'repair', 'fixity', 'report', "
    "'sync', 'retire', 'noop', 'derive', 'export'"
)
NEW_KINDS = OLD_KINDS + ", 'dispose'"


def _set_check(table: str, name: str, condition: str) -> None:
    """SQLite: copy the table with the new CHECK. Copying drops the table's triggers (those of
    ``packages`` keep the search index, migration 0007), so they are read first and made again."""
    triggers = (
        op.get_bind()
        .execute(
            sa.text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"),
            {"t": table},
        )
        .scalars()
        .all()
    )
    with op.batch_alter_table(table, recreate="always") as batch:
        batch.drop_constraint(name, type_="check")
        batch.create_check_constraint(name, condition)
    for sql in triggers:
        op.execute(sql)


def _set_check_in_place(table: str, name: str, condition: str) -> None:
    """PostgreSQL changes a CHECK in place; SQLite copies the table (batch mode)."""
    if op.get_bind().dialect.name == "sqlite":
        _set_check(table, name, condition)
    else:
        op.drop_constraint(name, table, type_="check")
        op.create_check_constraint(name, table, condition)


def upgrade() -> None:
    op.create_table(
        "disposal_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=True),
        sa.Column("reference", sa.String(length=50), nullable=True),
        sa.Column("version_no", sa.Integer(), nullable=True),
        sa.Column("rule", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("required", sa.JSON(), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("executed_by", sa.String(length=100), nullable=True),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("executed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("restore_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("restored_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("restored_by", sa.String(length=100), nullable=True),
        sa.Column("permanently_deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("declaration_json", sa.Text(), nullable=True),
        sa.Column("declaration_text", sa.Text(), nullable=True),
        sa.Column("declaration_sha256", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "kind IN ('scheduled', 'adhoc', 'exit')", name="ck_disposal_requests_kind"
        ),
        sa.CheckConstraint(
            "state IN ('pending', 'approved', 'rejected', 'executing', 'executed', "
            "'execution_failed', 'restored', 'permanently_deleted')",
            name="ck_disposal_requests_state",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name="fk_disposal_requests_organisation_id_organisations",
        ),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.id"],
            name="fk_disposal_requests_agreement_id_agreements",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"], ["users.id"], name="fk_disposal_requests_requested_by_id_users"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_disposal_requests"),
    )
    op.create_index(
        "ix_disposal_requests_organisation_id", "disposal_requests", ["organisation_id"]
    )
    op.create_index("ix_disposal_requests_agreement_id", "disposal_requests", ["agreement_id"])
    op.create_index(
        "ix_disposal_requests_state_restore_until", "disposal_requests", ["state", "restore_until"]
    )
    op.create_table(
        "disposal_packages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("package_id", sa.String(length=36), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("previous_state", sa.String(length=20), nullable=True),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("disposed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tombstone", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "state IN ('proposed', 'rejected', 'disposed', 'failed', 'restored', "
            "'permanently_deleted')",
            name="ck_disposal_packages_state",
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["disposal_requests.id"],
            name="fk_disposal_packages_request_id_disposal_requests",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_disposal_packages"),
        sa.UniqueConstraint(
            "request_id", "package_id", name="uq_disposal_packages_request_id_package_id"
        ),
    )
    op.create_index("ix_disposal_packages_package_id", "disposal_packages", ["package_id"])
    op.create_table(
        "disposal_approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("party", sa.String(length=100), nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "decision IN ('approve', 'reject')", name="ck_disposal_approvals_decision"
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["disposal_requests.id"],
            name="fk_disposal_approvals_request_id_disposal_requests",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name="fk_disposal_approvals_organisation_id_organisations",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_disposal_approvals_user_id_users"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_disposal_approvals"),
        sa.UniqueConstraint(
            "request_id",
            "organisation_id",
            name="uq_disposal_approvals_request_id_organisation_id",
        ),
    )
    op.create_table(
        "disposal_copies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("key_prefix", sa.String(length=1024), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("verified_by", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_outcome", sa.String(length=20), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("restore_prefix", sa.String(length=1100), nullable=False),
        sa.Column("objects", sa.Integer(), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["disposal_packages.id"],
            name="fk_disposal_copies_item_id_disposal_packages",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["storage_locations.id"],
            name="fk_disposal_copies_location_id_storage_locations",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_disposal_copies"),
        sa.UniqueConstraint(
            "item_id",
            "location_id",
            "version",
            name="uq_disposal_copies_item_id_location_id_version",
        ),
    )
    _set_check_in_place(
        "package_retention", "ck_package_retention_state", f"state IN ({NEW_RETENTION})"
    )
    _set_check_in_place("packages", "ck_packages_status", f"status IN ({NEW_STATUSES})")
    _set_check_in_place("jobs", "ck_jobs_kind", f"kind IN ({NEW_KINDS})")


def downgrade() -> None:
    op.execute("DELETE FROM jobs WHERE kind = 'dispose'")
    _set_check_in_place("jobs", "ck_jobs_kind", f"kind IN ({OLD_KINDS})")
    # before 0012 a package whose objects are gone can only be 'failed' (not live; row kept)
    op.execute("UPDATE packages SET status = 'failed' WHERE status = 'disposed'")
    _set_check_in_place("packages", "ck_packages_status", f"status IN ({OLD_STATUSES})")
    later = f"state NOT IN ({OLD_RETENTION})"
    op.execute(sa.text("UPDATE package_retention SET state = 'disposal_proposed' WHERE " + later))  # noqa: S608
    _set_check_in_place(
        "package_retention", "ck_package_retention_state", f"state IN ({OLD_RETENTION})"
    )
    op.drop_table("disposal_copies")
    op.drop_table("disposal_approvals")
    op.drop_index("ix_disposal_packages_package_id", table_name="disposal_packages")
    op.drop_table("disposal_packages")
    op.drop_index("ix_disposal_requests_state_restore_until", table_name="disposal_requests")
    op.drop_index("ix_disposal_requests_agreement_id", table_name="disposal_requests")
    op.drop_index("ix_disposal_requests_organisation_id", table_name="disposal_requests")
    op.drop_table("disposal_requests")
