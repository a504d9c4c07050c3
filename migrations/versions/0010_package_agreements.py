"""Packages linked to the agreement version they were ingested under, with their retention.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 19:30:00+00:00

- ``package_retention``: one row per package ingested under an agreement: the version in force at
  ingest (id, reference, version number), the basis of the link (``rule``, ``manual`` or the
  SIP's ``sip_reference``), who assigned it and when, the retention start and due dates computed
  from the version's retention rule, the retention state of retention-agreements.md 4.2 (up to
  ``disposal_proposed``) with the reason of a ``retention_error``, and the files whose format
  the agreement does not accept.

Additive: no existing table changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATES = (
    "'unscheduled', 'scheduled', 'retention_error', 'in_retention', 'due', 'under_review',"
    " 'disposal_proposed'"
)


def upgrade() -> None:
    op.create_table(
        "package_retention",
        sa.Column("package_id", sa.String(length=36), nullable=False),
        sa.Column("agreement_id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=50), nullable=False),
        sa.Column("version_no", sa.Integer(), nullable=False),
        sa.Column("basis", sa.String(length=20), nullable=False),
        sa.Column("sip_reference", sa.String(length=255), nullable=True),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("assigned_by", sa.String(length=100), nullable=False),
        sa.Column("retention_start", sa.Date(), nullable=True),
        sa.Column("retention_due", sa.Date(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("format_warnings", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "basis IN ('rule', 'manual', 'sip_reference')", name="ck_package_retention_basis"
        ),
        sa.CheckConstraint(f"state IN ({STATES})", name="ck_package_retention_state"),
        sa.CheckConstraint(
            "(state = 'retention_error') = (error IS NOT NULL)",
            name="ck_package_retention_error_when_in_error",
        ),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["packages.id"],
            name="fk_package_retention_package_id_packages",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["agreements.id"],
            name="fk_package_retention_agreement_id_agreements",
        ),
        sa.PrimaryKeyConstraint("package_id", name="pk_package_retention"),
    )
    op.create_index("ix_package_retention_agreement_id", "package_retention", ["agreement_id"])
    op.create_index(
        "ix_package_retention_state_retention_due",
        "package_retention",
        ["state", "retention_due"],
    )


def downgrade() -> None:
    op.drop_index("ix_package_retention_state_retention_due", table_name="package_retention")
    op.drop_index("ix_package_retention_agreement_id", table_name="package_retention")
    op.drop_table("package_retention")
