"""Holds on packages and whole collections that block disposal and deletion (issue 12).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 19:00:00+00:00

- ``holds``: kind (legal, dispute, audit, gdpr_request, rights_challenge, other), title,
  reason, mandate (legal basis, optional), state active or lifted, who placed it and when, who
  lifted it, when and why.
- ``hold_targets``: what a hold covers, exactly one of a package or a collection (a collection
  covers its later packages too), when and by whom it was added, and its own lifting.

Additive: no existing table changes (the search triggers of 0007 are untouched).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = "'legal', 'dispute', 'audit', 'gdpr_request', 'rights_challenge', 'other'"


def upgrade() -> None:
    op.create_table(
        "holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("mandate", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_by", sa.String(length=100), nullable=True),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lift_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(f"kind IN ({KINDS})", name="ck_holds_kind"),
        sa.CheckConstraint("state IN ('active', 'lifted')", name="ck_holds_state"),
        sa.CheckConstraint(
            "(state = 'active' AND lifted_at IS NULL AND lifted_by IS NULL"
            " AND lift_reason IS NULL) OR (state = 'lifted' AND lifted_at IS NOT NULL"
            " AND lifted_by IS NOT NULL AND lift_reason IS NOT NULL)",
            name="ck_holds_lifted",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_holds"),
    )
    op.create_index("ix_holds_state", "holds", ["state"])
    op.create_table(
        "hold_targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hold_id", sa.Integer(), nullable=False),
        sa.Column("package_id", sa.String(length=36), nullable=True),
        sa.Column("collection_id", sa.Integer(), nullable=True),
        sa.Column("added_by", sa.String(length=100), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_by", sa.String(length=100), nullable=True),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lift_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "(package_id IS NOT NULL AND collection_id IS NULL)"
            " OR (package_id IS NULL AND collection_id IS NOT NULL)",
            name="ck_hold_targets_one_target",
        ),
        sa.CheckConstraint(
            "(lifted_at IS NULL AND lifted_by IS NULL AND lift_reason IS NULL)"
            " OR (lifted_at IS NOT NULL AND lifted_by IS NOT NULL AND lift_reason IS NOT NULL)",
            name="ck_hold_targets_lifted",
        ),
        sa.ForeignKeyConstraint(
            ["hold_id"], ["holds.id"], name="fk_hold_targets_hold_id_holds", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["packages.id"],
            name="fk_hold_targets_package_id_packages",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["collections.id"],
            name="fk_hold_targets_collection_id_collections",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_hold_targets"),
        sa.UniqueConstraint("hold_id", "package_id", name="uq_hold_targets_hold_id_package_id"),
        sa.UniqueConstraint(
            "hold_id", "collection_id", name="uq_hold_targets_hold_id_collection_id"
        ),
    )
    op.create_index("ix_hold_targets_package_id", "hold_targets", ["package_id"])
    op.create_index("ix_hold_targets_collection_id", "hold_targets", ["collection_id"])


def downgrade() -> None:
    op.drop_index("ix_hold_targets_collection_id", table_name="hold_targets")
    op.drop_index("ix_hold_targets_package_id", table_name="hold_targets")
    op.drop_table("hold_targets")
    op.drop_index("ix_holds_state", table_name="holds")
    op.drop_table("holds")
