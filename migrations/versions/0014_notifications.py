"""S3 Object Lock applied by itself (object_lock_intents, alert kind object_lock); notifications.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29 22:00:00+00:00

- ``object_lock_intents``: per package, the retention and legal hold S3 Object Lock must hold
  (from its agreement's rule and the holds covering it), what was applied, and whether
  something is still pending (retried daily).
- ``alerts.kind`` also takes ``object_lock`` (a lock that could not be applied).
- ``notifications``: one message per person and thing that awaits them (an agreement to agree
  on or sign, a review or expiry coming, a disposal to approve), unique per (user, key) so a
  reminder is never sent twice, with its e-mail's state.

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
NOTIFICATION_KINDS = (
    "'agree', 'sign', 'sent_back', 'activated', 'suspended', 'notice_given', 'review_due', "
    "'expiry_due', 'embargo_ending', 'disposal_approval'"
)


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
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("email_state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f"kind IN ({NOTIFICATION_KINDS})", name="ck_notifications_kind"),
        sa.CheckConstraint(
            "email_state IN ('pending', 'sent', 'failed')", name="ck_notifications_email_state"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_notifications_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.UniqueConstraint("user_id", "key", name="uq_notifications_user_id_key"),
    )
    op.create_index("ix_notifications_email_state", "notifications", ["email_state"])


def downgrade() -> None:
    op.drop_index("ix_notifications_email_state", table_name="notifications")
    op.drop_table("notifications")
    op.execute("DELETE FROM alerts WHERE kind = 'object_lock'")
    _set_alert_kinds(OLD_ALERT_KINDS)
    op.drop_index("ix_object_lock_intents_pending", table_name="object_lock_intents")
    op.drop_table("object_lock_intents")
