"""What S3 Object Lock must hold for each package, and what was applied (issue 12, E11).

``object_lock_intents`` has a row for each package that has (or had) something to lock: the
retention its agreement's rule asks for (``retain_until``: the due date of a ``minimum`` bound,
or a rolling date for ``keep_permanently``; it only ever grows, as S3 retention does) and
whether a hold covers it (``legal_hold``). Beside them, what was last applied to every object
of every copy on the locations that can lock objects (``applied_until``, ``applied_hold``),
how many copies that covered, and whether something is still to do (``pending``): the wish is
recorded in the transaction that makes it (a hold placed, a retention computed, a copy made),
so a location that cannot be reached loses nothing: the daily task applies what is pending.

Migration ``0014`` creates the table.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from preserve.catalogue.models import Base, utcnow


class ObjectLockIntent(Base):
    """One package's wanted and applied object lock."""

    __tablename__ = "object_lock_intents"
    __table_args__ = (sa.Index(None, "pending"),)

    #: The package (its row goes with the package: a package that could be deleted is no
    #: longer locked, or its storage refused the deletion).
    package_id: Mapped[str] = mapped_column(
        sa.String(36), sa.ForeignKey("packages.id", ondelete="CASCADE"), primary_key=True
    )
    #: The retention wanted (None: none); never moved earlier.
    retain_until: Mapped[datetime | None] = mapped_column()
    #: Why: "minimum retention of CRA-2026-001 v1", "keep permanently (rolling) under ...".
    retain_reason: Mapped[str] = mapped_column(sa.String(255), default="")
    #: Whether an active hold covers the package.
    legal_hold: Mapped[bool] = mapped_column(default=False)
    #: The retention applied to every object of every lockable copy (None: none yet).
    applied_until: Mapped[datetime | None] = mapped_column()
    #: The legal hold applied (None: never set).
    applied_hold: Mapped[bool | None] = mapped_column()
    #: The package's stored copies when it was last applied (a new copy makes it pending).
    applied_copies: Mapped[int] = mapped_column(default=0)
    applied_at: Mapped[datetime | None] = mapped_column()
    #: Something is still to be applied (a new wish, a new copy, or a failed attempt).
    pending: Mapped[bool] = mapped_column(default=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return (
            f"<ObjectLockIntent {self.package_id} until={self.retain_until} "
            f"hold={self.legal_hold} pending={self.pending}>"
        )
