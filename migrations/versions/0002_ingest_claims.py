"""One live package per content and collection; the ingest process's start time; unreachable locations.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 00:00:00+00:00

- ``uq_packages_live_fingerprint``: at most one package of a collection with a given payload
  fingerprint is ``ingesting`` or ``stored``. Two ingests of the same content at the same moment
  both passed the duplicate check before; now the second one's insert fails and it reports the
  first as the original (a partial unique index: SQLite and PostgreSQL both have them).
- ``packages.ingest_process_started``: the start time of the process that runs the ingest, so that
  recovery does not take a live process that reused a dead ingest's pid for its owner.
- ``storage_locations.unreachable_at`` / ``unreachable_error``: when a location last failed to
  answer and why; recovery postpones clean-ups on it for a while instead of making every later
  ingest wait for its time-outs.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from preserve.errors import CatalogueError

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = "status IN ('ingesting', 'stored')"


def upgrade() -> None:
    duplicates = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT collection_id, payload_fingerprint, COUNT(*) FROM packages "
                "WHERE status IN ('ingesting', 'stored') AND payload_fingerprint IS NOT NULL "
                "GROUP BY collection_id, payload_fingerprint HAVING COUNT(*) > 1"
            )
        )
        .all()
    )
    if duplicates:
        listed = ", ".join(
            f"collection {c}: {n} packages with payload {f}" for c, f, n in duplicates
        )
        raise CatalogueError(
            "cannot upgrade the catalogue to revision 0002: it holds the same content more "
            f"than once in a collection (concurrent ingests before 0002 could do that): {listed}. "
            "Each copy is complete; keep the oldest package of each (preserve packages list "
            "--json shows them) and delete the others' rows and objects, then upgrade again."
        )
    with op.batch_alter_table("packages") as batch:
        batch.add_column(sa.Column("ingest_process_started", sa.Float(), nullable=True))
    op.create_index(
        "uq_packages_live_fingerprint",
        "packages",
        ["collection_id", "payload_fingerprint"],
        unique=True,
        sqlite_where=sa.text(LIVE),
        postgresql_where=sa.text(LIVE),
    )
    with op.batch_alter_table("storage_locations") as batch:
        batch.add_column(sa.Column("unreachable_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("unreachable_error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("storage_locations") as batch:
        batch.drop_column("unreachable_error")
        batch.drop_column("unreachable_at")
    op.drop_index("uq_packages_live_fingerprint", table_name="packages")
    with op.batch_alter_table("packages") as batch:
        batch.drop_column("ingest_process_started")
