"""Holds: legal, dispute, audit, GDPR request, rights challenge (issue 12; RODA's disposal holds).

A hold names why packages must not go away (a court order, a dispute, an audit, a person's GDPR
request, a challenge of the rights) and, in ``hold_targets``, what it covers: single packages or
whole collections. A hold on a collection covers every package in it, also those ingested after
it was placed. While a hold is active and its target is not lifted, no disposal and no ad-hoc
deletion may remove a covered package (``preserve.services.holds.require_no_hold``).

A hold goes ``active -> lifted`` (with who, when and why); each target can also be lifted on its
own. Rows are never deleted: a lifted hold is the record of why a package was kept.

Migration ``0008`` creates these tables.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from preserve.catalogue.models import Base, _in, utcnow

#: The kinds of hold (RODA's hold types and the reference model, section 3.10).
HOLD_KINDS = ("legal", "dispute", "audit", "gdpr_request", "rights_challenge", "other")
HOLD_STATES = ("active", "lifted")


class Hold(Base):
    """One hold: its kind, title, reason and mandate (the legal basis), who placed it and when,
    and, once lifted, who lifted it, when and why."""

    __tablename__ = "holds"
    __table_args__ = (
        sa.CheckConstraint(_in("kind", HOLD_KINDS), name="kind"),
        sa.CheckConstraint(_in("state", HOLD_STATES), name="state"),
        # lifted exactly when it says so, and then with who, when and why
        sa.CheckConstraint(
            "(state = 'active' AND lifted_at IS NULL AND lifted_by IS NULL"
            " AND lift_reason IS NULL) OR (state = 'lifted' AND lifted_at IS NOT NULL"
            " AND lifted_by IS NOT NULL AND lift_reason IS NOT NULL)",
            name="lifted",
        ),
        sa.Index(None, "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    title: Mapped[str] = mapped_column(sa.String(255))
    #: Why the packages must be kept (free text, required).
    reason: Mapped[str] = mapped_column(sa.Text)
    #: The mandate or legal basis (a court order's reference, an article of law), if any.
    mandate: Mapped[str | None] = mapped_column(sa.Text)
    state: Mapped[str] = mapped_column(sa.String(10), default="active")
    #: The person's user name (or the PREMIS agent's name) that placed it.
    created_by: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    lifted_by: Mapped[str | None] = mapped_column(sa.String(100))
    lifted_at: Mapped[datetime | None] = mapped_column()
    lift_reason: Mapped[str | None] = mapped_column(sa.Text)

    targets: Mapped[list[HoldTarget]] = relationship(
        back_populates="hold", order_by="HoldTarget.id"
    )

    def __repr__(self) -> str:
        return f"<Hold {self.id} {self.kind} {self.state}>"


class HoldTarget(Base):
    """What a hold covers: one package or one whole collection (exactly one of the two), when
    and by whom it was added, and when and by whom it was lifted on its own (the hold itself
    may stay active for its other targets)."""

    __tablename__ = "hold_targets"
    __table_args__ = (
        sa.CheckConstraint(
            "(package_id IS NOT NULL AND collection_id IS NULL)"
            " OR (package_id IS NULL AND collection_id IS NOT NULL)",
            name="one_target",
        ),
        sa.CheckConstraint(
            "(lifted_at IS NULL AND lifted_by IS NULL AND lift_reason IS NULL)"
            " OR (lifted_at IS NOT NULL AND lifted_by IS NOT NULL AND lift_reason IS NOT NULL)",
            name="lifted",
        ),
        sa.UniqueConstraint("hold_id", "package_id"),
        sa.UniqueConstraint("hold_id", "collection_id"),
        sa.Index(None, "package_id"),
        sa.Index(None, "collection_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    hold_id: Mapped[int] = mapped_column(sa.ForeignKey("holds.id", ondelete="CASCADE"))
    #: A package (cascade: a package that could be deleted had no active hold on it; its
    #: lifted targets go with it, the hold and its events and audit entries stay).
    package_id: Mapped[str | None] = mapped_column(
        sa.String(36), sa.ForeignKey("packages.id", ondelete="CASCADE")
    )
    #: A whole collection: every package in it, also those ingested later.
    collection_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("collections.id", ondelete="CASCADE")
    )
    added_by: Mapped[str] = mapped_column(sa.String(100))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    lifted_by: Mapped[str | None] = mapped_column(sa.String(100))
    lifted_at: Mapped[datetime | None] = mapped_column()
    lift_reason: Mapped[str | None] = mapped_column(sa.Text)

    hold: Mapped[Hold] = relationship(back_populates="targets")

    def __repr__(self) -> str:
        what = (
            f"package {self.package_id}" if self.package_id else f"collection {self.collection_id}"
        )
        return f"<HoldTarget {self.hold_id} {what}>"
