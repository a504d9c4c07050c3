"""Organisations as agents: full name, address and contact; the agents of an event; item-level
description of files.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 06:00:00+00:00

- ``organisations.address``, ``contact_name``, ``contact_email``: what goes into ``bag-info.txt``
  (Organization-Address, Contact-Name, Contact-Email; ``name`` is Source-Organization) and into
  PREMIS as the owning agent. Existing organisations keep empty values until edited.
- ``event_agents``: the agents linked to an event besides its executing program (the person who
  ran the command, the organisation that owns the package), each with its PREMIS role.
- ``files.description``: Dublin Core given for a single file of a delivery (item-level rows of
  a ``--metadata`` CSV), element -> list of values.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organisations") as batch:
        batch.add_column(sa.Column("address", sa.Text(), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("contact_name", sa.String(length=255), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("contact_email", sa.String(length=255), nullable=False, server_default="")
        )
    with op.batch_alter_table("organisations") as batch:  # the models give the default
        for column in ("address", "contact_name", "contact_email"):
            batch.alter_column(column, server_default=None)
    op.create_table(
        "event_agents",
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=50), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["events.id"],
            name="fk_event_agents_event_id_events",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name="fk_event_agents_agent_id_agents"
        ),
        sa.PrimaryKeyConstraint("event_id", "agent_id", "role", name="pk_event_agents"),
    )
    op.create_index("ix_event_agents_agent_id", "event_agents", ["agent_id"])
    with op.batch_alter_table("files") as batch:
        batch.add_column(sa.Column("description", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.drop_column("description")
    op.drop_index("ix_event_agents_agent_id", table_name="event_agents")
    op.drop_table("event_agents")
    with op.batch_alter_table("organisations") as batch:
        batch.drop_column("contact_email")
        batch.drop_column("contact_name")
        batch.drop_column("address")
