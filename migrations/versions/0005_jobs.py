"""Jobs, the fixity schedule, quarantine and alerts: background work (issue 10).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 10:45:00+00:00

- ``jobs``: one row per piece of background work (ingest, version, replication, fixity ...):
  its kind, arguments, state (queued, running, succeeded, failed, cancelled), attempts and
  back-off, the lease of whoever runs it, progress in files and bytes, result or error, and who
  asked. A task message carries only the job id; the row is the truth.
- ``copies``: ``next_check_at`` (the schedule is data: NULL is never checked, so first),
  ``size_bytes`` (to spread checks by bytes), ``fixity_job_id`` and ``claimed_until`` (the claim
  of a fixity job, so two schedulers never take the same copy).
- ``storage_locations``: ``fixity_interval_days``, ``fixity_bytes_per_hour`` (the throughput
  budget of scheduled fixity) and ``retired_at``; ``collections``: ``fixity_interval_days``.
- ``packages``: ``damaged_at`` and ``damage`` (files with no good copy left anywhere).
- ``quarantined_objects``: damaged objects moved aside before a repair, kept.
- ``alerts``: what people must be told, with the state of its e-mail and webhook delivery.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = (
    "'ingest', 'version', 'describe', 'replicate', 'verify', 'repair', 'fixity', 'report', "
    "'sync', 'retire', 'noop'"
)
ALERT_KINDS = "'fixity_failure', 'repaired', 'damaged', 'job_failed', 'backlog', 'replication'"
SEVERITIES = "'info', 'warning', 'critical'"
DELIVERY = "'pending', 'sent', 'failed', 'off'"
STATES = "'queued', 'running', 'succeeded', 'failed', 'cancelled'"


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=True),
        sa.Column("package_id", sa.String(length=36), nullable=True),
        sa.Column("requested_by", sa.String(length=255), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=255), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("files_done", sa.BigInteger(), nullable=False),
        sa.Column("files_total", sa.BigInteger(), nullable=True),
        sa.Column("bytes_done", sa.BigInteger(), nullable=False),
        sa.Column("bytes_total", sa.BigInteger(), nullable=True),
        sa.Column("result", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("checkpoint", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f"kind IN ({KINDS})", name="ck_jobs_kind"),
        sa.CheckConstraint(f"state IN ({STATES})", name="ck_jobs_state"),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
        sa.UniqueConstraint("idempotency_key", name="uq_jobs_idempotency_key"),
    )
    op.create_index("ix_jobs_state_not_before", "jobs", ["state", "not_before"])
    op.create_index("ix_jobs_lease_until", "jobs", ["lease_until"])
    op.create_index("ix_jobs_package_id", "jobs", ["package_id"])

    with op.batch_alter_table("copies") as batch:
        batch.add_column(sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("size_bytes", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("fixity_job_id", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_copies_location_id_next_check_at", ["location_id", "next_check_at"])
    # what each copy holds: the stored bytes of its version (a check reads them all)
    op.execute(
        "UPDATE copies SET size_bytes = (SELECT v.stored_bytes FROM package_versions v "
        "WHERE v.package_id = copies.package_id AND v.number = copies.version)"
    )
    with op.batch_alter_table("storage_locations") as batch:
        batch.add_column(sa.Column("fixity_interval_days", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("fixity_bytes_per_hour", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("collections") as batch:
        batch.add_column(sa.Column("fixity_interval_days", sa.Integer(), nullable=True))
    with op.batch_alter_table("packages") as batch:
        batch.add_column(sa.Column("damaged_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("damage", sa.JSON(none_as_null=True), nullable=True))

    op.create_table(
        "quarantined_objects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("copy_id", sa.Integer(), nullable=True),
        sa.Column("package_id", sa.String(length=36), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("original_key", sa.Text(), nullable=False),
        sa.Column("quarantine_key", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=True),
        sa.Column("quarantined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("restored_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["copy_id"],
            ["copies.id"],
            name="fk_quarantined_objects_copy_id_copies",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["storage_locations.id"],
            name="fk_quarantined_objects_location_id_storage_locations",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_quarantined_objects"),
    )
    op.create_index("ix_quarantined_objects_copy_id", "quarantined_objects", ["copy_id"])
    op.create_index("ix_quarantined_objects_package_id", "quarantined_objects", ["package_id"])

    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("severity", sa.String(length=20), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("dedup_key", sa.String(length=255), nullable=True),
        sa.Column("package_id", sa.String(length=36), nullable=True),
        sa.Column("location_id", sa.Integer(), nullable=True),
        sa.Column("job_id", sa.String(length=36), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("email_state", sa.String(length=20), nullable=False),
        sa.Column("webhook_state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=255), nullable=True),
        sa.CheckConstraint(f"kind IN ({ALERT_KINDS})", name="ck_alerts_kind"),
        sa.CheckConstraint(f"severity IN ({SEVERITIES})", name="ck_alerts_severity"),
        sa.CheckConstraint(f"email_state IN ({DELIVERY})", name="ck_alerts_email_state"),
        sa.CheckConstraint(f"webhook_state IN ({DELIVERY})", name="ck_alerts_webhook_state"),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
        sa.UniqueConstraint("dedup_key", name="uq_alerts_dedup_key"),
    )
    op.create_index(
        "ix_alerts_email_state_webhook_state_next_attempt_at",
        "alerts",
        ["email_state", "webhook_state", "next_attempt_at"],
    )
    op.create_index("ix_alerts_package_id", "alerts", ["package_id"])


def downgrade() -> None:
    op.drop_index("ix_alerts_package_id", table_name="alerts")
    op.drop_index("ix_alerts_email_state_webhook_state_next_attempt_at", table_name="alerts")
    op.drop_table("alerts")
    op.drop_index("ix_quarantined_objects_package_id", table_name="quarantined_objects")
    op.drop_index("ix_quarantined_objects_copy_id", table_name="quarantined_objects")
    op.drop_table("quarantined_objects")
    with op.batch_alter_table("packages") as batch:
        batch.drop_column("damage")
        batch.drop_column("damaged_at")
    with op.batch_alter_table("collections") as batch:
        batch.drop_column("fixity_interval_days")
    with op.batch_alter_table("storage_locations") as batch:
        batch.drop_column("retired_at")
        batch.drop_column("fixity_bytes_per_hour")
        batch.drop_column("fixity_interval_days")
    with op.batch_alter_table("copies") as batch:
        batch.drop_index("ix_copies_location_id_next_check_at")
        batch.drop_column("claimed_until")
        batch.drop_column("fixity_job_id")
        batch.drop_column("size_bytes")
        batch.drop_column("next_check_at")

    op.drop_index("ix_jobs_package_id", table_name="jobs")
    op.drop_index("ix_jobs_lease_until", table_name="jobs")
    op.drop_index("ix_jobs_state_not_before", table_name="jobs")
    op.drop_table("jobs")
