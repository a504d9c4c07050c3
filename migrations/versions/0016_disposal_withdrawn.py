"""A disposal can be withdrawn before it is executed.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 09:00:00+00:00

- ``disposal_requests.state`` and ``disposal_packages.state`` also allow ``withdrawn``: an
  approved disposal whose package was put on hold afterwards could neither run nor be rejected.
- ``disposal_requests``: ``withdrawn_at``, ``withdrawn_by`` and ``withdrawal_reason``.

Downgrade: a withdrawn request becomes ``rejected`` (its packages went back the same way).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_REQUEST = (
    "'pending', 'approved', 'rejected', 'executing', 'executed', 'execution_failed', "
    "'restored', 'permanently_deleted'"
)
OLD_ITEM = "'proposed', 'rejected', 'disposed', 'failed', 'restored', 'permanently_deleted'"


def _set_check(table: str, name: str, condition: str) -> None:
    """PostgreSQL changes a CHECK in place; SQLite copies the table (batch mode; these tables
    have no triggers)."""
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table(table, recreate="always") as batch:
            batch.drop_constraint(name, type_="check")
            batch.create_check_constraint(name, condition)
    else:
        op.drop_constraint(name, table, type_="check")
        op.create_check_constraint(name, table, condition)


def upgrade() -> None:
    with op.batch_alter_table("disposal_requests") as batch:
        batch.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("withdrawn_by", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("withdrawal_reason", sa.Text(), nullable=True))
    _set_check(
        "disposal_requests", "ck_disposal_requests_state", f"state IN ({OLD_REQUEST}, 'withdrawn')"
    )
    _set_check(
        "disposal_packages", "ck_disposal_packages_state", f"state IN ({OLD_ITEM}, 'withdrawn')"
    )


def downgrade() -> None:
    op.execute("UPDATE disposal_packages SET state = 'rejected' WHERE state = 'withdrawn'")
    op.execute("UPDATE disposal_requests SET state = 'rejected' WHERE state = 'withdrawn'")
    _set_check("disposal_packages", "ck_disposal_packages_state", f"state IN ({OLD_ITEM})")
    _set_check("disposal_requests", "ck_disposal_requests_state", f"state IN ({OLD_REQUEST})")
    with op.batch_alter_table("disposal_requests") as batch:
        batch.drop_column("withdrawal_reason")
        batch.drop_column("withdrawn_by")
        batch.drop_column("withdrawn_at")
