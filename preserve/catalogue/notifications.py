"""Notifications to the people of the parties: what awaits them (issue 12, retention-agreements.md
5.1 E15).

``notifications`` has one row per person and *thing* (``key``: an agreement's proposal round to
agree on, its signature, a review due within 30 days, a disposal request awaiting a party's
approval, a transition such as a suspension): the unique ``(user_id, key)`` makes every run of
the reminders send nothing twice. Each row keeps the message as sent (subject, body, the page it
points to), the address it went to, and the state of its e-mail (``pending`` until sent, retried
until ``failed``).

Migration ``0014`` creates the table.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from preserve.catalogue.models import Base, _in, utcnow

#: What a notification is about.
NOTIFICATION_KINDS = (
    "agree",
    "sign",
    "sent_back",
    "activated",
    "suspended",
    "notice_given",
    "review_due",
    "expiry_due",
    "embargo_ending",
    "disposal_approval",
)
#: Where its e-mail stands.
NOTIFICATION_STATES = ("pending", "sent", "failed")


class Notification(Base):
    """One message to one person about one thing that awaits them."""

    __tablename__ = "notifications"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "key"),
        sa.CheckConstraint(_in("kind", NOTIFICATION_KINDS), name="kind"),
        sa.CheckConstraint(_in("email_state", NOTIFICATION_STATES), name="email_state"),
        sa.Index(None, "email_state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    #: The thing, e.g. ``agreement:12:r2:agree``, ``agreement:12:review:2031-11-01:7``.
    key: Mapped[str] = mapped_column(sa.String(255))
    kind: Mapped[str] = mapped_column(sa.String(30))
    subject: Mapped[str] = mapped_column(sa.String(255))
    body: Mapped[str] = mapped_column(sa.Text)
    #: The page of the catalogue it points to (a path such as ``/agreements/CRA-2026-001/v1``).
    link: Mapped[str] = mapped_column(sa.String(255), default="")
    #: The address it was sent to (as it was then).
    email: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    email_state: Mapped[str] = mapped_column(sa.String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    sent_at: Mapped[datetime | None] = mapped_column()

    def __repr__(self) -> str:
        return f"<Notification {self.id} user {self.user_id} {self.key} {self.email_state}>"
