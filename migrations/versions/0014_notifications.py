"""S3 Object Lock applied by itself (object_lock_intents, alert kind object_lock); notifications.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29 22:00:00+00:00

- ``object_lock_intents``: per package, the retention and legal hold S3 Object Lock must hold
  (from its agreement's rule and the holds covering it), what was applied, and whether
  something is still pending (retried daily).
- ``alerts.kind`` also takes ``object_lock`` (a lock that could not be applied).

Additive: no existing row changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_ALERT_KINDS = "'fixity_failure', 'repaired', 'damaged', 'job_failed', 'backlog', 'replication'"
NEW_ALERT_KINDS = OLD_ALERT_KINDS + ", 'object_lock'"


def _set_alert_kinds(kinds: str) -> None:
    with op.batch_alter_table("alerts", recreate="always") as batch:
        batch.drop_constraint("ck_alerts_kind", type_="check")
        batch.create_check_constraint("ck_alerts_kind", f"kind IN ({kinds})")


def upgrade() -> None:
    op.create_table(
        "object_lock_intents",
        sa.Column("package_id", sa.String(length=36), nullable=False),
        sa.Column("retain_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retain_reason", sa.String(length=255), nullable=False),
        sa.Column("legal_hold", sa.Boolean(), nullable=False),
        sa.Column("applied_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("applied_hold", sa.Boolean(), nullable=True),
        sa.Column("applied_copies", sa.Integer(), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pending", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["packages.id"],
            name="fk_object_lock_intents_package_id_packages",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("package_id", name="pk_object_lock_intents"),
    )
    op.create_index("ix_object_lock_intents_pending", "object_lock_intents", ["pending"])
    _set_alert_kinds(NEW_ALERT_KINDS)


def downgrade() -> None:
    op.execute("DELETE FROM alerts WHERE kind = 'object_lock'")
    _set_alert_kinds(OLD_ALERT_KINDS)
    op.drop_index("ix_object_lock_intents_pending", table_name="object_lock_intents")
    op.drop_table("object_lock_intents")
