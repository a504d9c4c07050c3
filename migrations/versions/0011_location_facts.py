"""Storage locations say where they are and who runs them, so an agreement can judge them.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 19:40:00+00:00

- ``storage_locations.site``: the site (building, data centre) the location is at; copies on
  locations of one site count as one site towards an agreement's distinct sites.
- ``storage_locations.jurisdiction``: the region it is in, an ISO 3166-1 alpha-2 country code or
  ``EU``, judged against an agreement's allowed regions. The existing ``region`` column keeps
  what it held (the S3 region name such as ``eu-west-1``, or free text).
- ``storage_locations.operator``: ``own`` (run by the archive service) or ``storage_node`` (a
  third party's storage node, which needs the agreement's ``replicate`` grant).

Additive: three nullable columns; the values are checked by the service.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("storage_locations", sa.Column("site", sa.String(length=100), nullable=True))
    op.add_column(
        "storage_locations", sa.Column("jurisdiction", sa.String(length=2), nullable=True)
    )
    op.add_column("storage_locations", sa.Column("operator", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("storage_locations") as batch:
        batch.drop_column("operator")
        batch.drop_column("jurisdiction")
        batch.drop_column("site")
