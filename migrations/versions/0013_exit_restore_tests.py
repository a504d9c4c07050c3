"""Exit exports with the receiving party's confirmation; restore tests.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 21:45:00+00:00

- ``agreement_exits``: one export of an exiting agreement (where, who, when, counts, the
  SHA-256 of its manifest), the receiving party's confirmation and the post-exit action's state
  (waiting, pending, done).
- ``agreement_exit_items``: what the receiver confirms, per bag (its tag manifest) and per
  document, with its SHA-256.
- ``restore_tests``: a package read back from one location and validated as a bag.

Additive: no existing table changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agreement_exits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=50), nullable=False),
        sa.Column("version_no", sa.Integer(), nullable=False),
        sa.Column("destination", sa.Text(), nullable=False),
        sa.Column("exported_by", sa.String(length=100), nullable=False),
        sa.Column("exported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("packages", sa.Integer(), nullable=False),
        sa.Column("documents", sa.Integer(), nullable=False),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=False),
        sa.Column("confirmed_party", sa.String(length=100), nullable=True),
        sa.Column("confirmed_by", sa.String(length=100), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("receipt_sha256", sa.String(length=64), nullable=True),
        sa.Column("post_exit_action", sa.String(length=30), nullable=False),
        sa.Column("post_exit_state", sa.String(length=10), nullable=False),
        sa.Column("post_exit_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("post_exit_detail", sa.Text(), nullable=False),
        sa.Column("retain_until", sa.Date(), nullable=True),
        sa.CheckConstraint(
            "post_exit_state IN ('waiting', 'pending', 'done')",
            name="ck_agreement_exits_post_exit_state",
        ),
        sa.CheckConstraint(
            "(confirmed_at IS NULL) = (post_exit_state = 'waiting')",
            name="ck_agreement_exits_confirmed",
        ),
        sa.ForeignKeyConstraint(
            ["agreement_id"], ["agreements.id"], name="fk_agreement_exits_agreement_id_agreements"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_agreement_exits"),
    )
    op.create_index("ix_agreement_exits_agreement_id", "agreement_exits", ["agreement_id"])
    op.create_table(
        "agreement_exit_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("exit_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("package_id", sa.String(length=36), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("kind IN ('bag', 'document')", name="ck_agreement_exit_items_kind"),
        sa.ForeignKeyConstraint(
            ["exit_id"],
            ["agreement_exits.id"],
            name="fk_agreement_exit_items_exit_id_agreement_exits",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_agreement_exit_items"),
        sa.UniqueConstraint("exit_id", "path", name="uq_agreement_exit_items_exit_id_path"),
    )
    op.create_index("ix_agreement_exit_items_package_id", "agreement_exit_items", ["package_id"])
    op.create_table(
        "restore_tests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("package_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=True),
        sa.Column("reference", sa.String(length=50), nullable=True),
        sa.Column("location_id", sa.Integer(), nullable=True),
        sa.Column("location", sa.String(length=100), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.CheckConstraint("outcome IN ('ok', 'failed')", name="ck_restore_tests_outcome"),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.id"],
            name="fk_restore_tests_agreement_id_agreements",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["storage_locations.id"],
            name="fk_restore_tests_location_id_storage_locations",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_restore_tests"),
    )
    op.create_index("ix_restore_tests_location_id", "restore_tests", ["location_id"])
    op.create_index(
        "ix_restore_tests_package_id_started_at", "restore_tests", ["package_id", "started_at"]
    )
    op.create_index(
        "ix_restore_tests_reference_started_at", "restore_tests", ["reference", "started_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_restore_tests_reference_started_at", table_name="restore_tests")
    op.drop_index("ix_restore_tests_package_id_started_at", table_name="restore_tests")
    op.drop_index("ix_restore_tests_location_id", table_name="restore_tests")
    op.drop_table("restore_tests")
    op.drop_index("ix_agreement_exit_items_package_id", table_name="agreement_exit_items")
    op.drop_table("agreement_exit_items")
    op.drop_index("ix_agreement_exits_agreement_id", table_name="agreement_exits")
    op.drop_table("agreement_exits")
