"""Indexes for the compliance report and for alerts by job.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 05:00:00+00:00

- ``files (package_id, version, role, puid)``: the compliance report reads each package
  version's payload PUIDs in package order from this index alone (an index-only scan, no sort of
  1,000,000 rows: preserve/services/compliance.py).
- ``alerts (job_id)``: a retried job that succeeds resolves its open ``job_failed`` alerts by job
  id (preserve/services/alerts.py), which read the whole table.

Additive: no row changes.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_files_package_id_version_role_puid", "files", ["package_id", "version", "role", "puid"]
    )
    op.create_index("ix_alerts_job_id", "alerts", ["job_id"])


def downgrade() -> None:
    op.drop_index("ix_alerts_job_id", table_name="alerts")
    op.drop_index("ix_files_package_id_version_role_puid", table_name="files")
