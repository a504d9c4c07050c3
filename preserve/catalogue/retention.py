"""Each package's retention under the agreement it was ingested under (issue 12).

``package_retention`` has one row per package ingested into a collection that an agreement
governs: the agreement version in force at ingest (its id, and its reference and version number as
they were), how the link was made (``basis``: the collection's governing ``rule``, ``manual``, or
the SIP's own ``sip_reference``, a meemoo ``SUBMISSIONAGREEMENT``), the retention start and due
dates computed from the version's retention rule (``preserve.services.retention``), and the
package's retention state (retention-agreements.md 4.2):

``unscheduled -> scheduled -> in_retention -> due -> under_review`` (action ``review``), with
``retention_error`` when the rule's trigger value is missing or unparsable (``error`` says why;
never a guessed date) and ``disposal_proposed`` reserved for the disposal requests that follow a
due package whose action is to destroy, transfer, return or sample it, followed by the disposal
states (``disposal_approved``, ``disposing``, ``disposed``, ``disposal_failed``, ``restored``,
``permanently_deleted``) that preserve.services.disposal sets.

Files whose format the agreement does not accept are listed in ``format_warnings`` (never a
refusal). Migration ``0010`` creates the table.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from preserve.catalogue.models import Base, _in, utcnow

#: How a package came under its agreement.
RETENTION_BASES = ("rule", "manual", "sip_reference")
#: The retention states of retention-agreements.md 4.2; those from ``disposal_proposed`` on are
#: set by preserve.services.disposal (migration 0012 widens the CHECK constraint).
RETENTION_STATES = (
    "unscheduled",
    "scheduled",
    "retention_error",
    "in_retention",
    "due",
    "under_review",
    "disposal_proposed",
    "disposal_approved",
    "disposing",
    "disposed",
    "disposal_failed",
    "restored",
    "permanently_deleted",
)


class PackageRetention(Base):
    """One package's link to the agreement version it was ingested under, and its retention."""

    __tablename__ = "package_retention"
    __table_args__ = (
        sa.CheckConstraint(_in("basis", RETENTION_BASES), name="basis"),
        sa.CheckConstraint(_in("state", RETENTION_STATES), name="state"),
        sa.CheckConstraint(
            "(state = 'retention_error') = (error IS NOT NULL)", name="error_when_in_error"
        ),
        sa.Index(None, "state", "retention_due"),
    )

    #: The package (its row goes with the package).
    package_id: Mapped[str] = mapped_column(
        sa.String(36), sa.ForeignKey("packages.id", ondelete="CASCADE"), primary_key=True
    )
    #: The agreement version in force when the package was ingested (a version is never deleted
    #: once it was in force, so no cascade).
    agreement_id: Mapped[int] = mapped_column(sa.ForeignKey("agreements.id"), index=True)
    #: The agreement's reference and version number as written into the AIP's bag-info.
    reference: Mapped[str] = mapped_column(sa.String(50))
    version_no: Mapped[int] = mapped_column()
    basis: Mapped[str] = mapped_column(sa.String(20), default="rule")
    #: The SIP's own SUBMISSIONAGREEMENT value, as given (also when it named another agreement).
    sip_reference: Mapped[str | None] = mapped_column(sa.String(255))
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)
    assigned_by: Mapped[str] = mapped_column(sa.String(100), default="")
    #: The trigger's date (start of the retention period) and start + period (the due date:
    #: earliest disposal for a minimum bound, latest for a maximum bound). None: not computed,
    #: or kept permanently (no due date).
    retention_start: Mapped[date | None] = mapped_column(sa.Date)
    retention_due: Mapped[date | None] = mapped_column(sa.Date)
    state: Mapped[str] = mapped_column(sa.String(20), default="unscheduled")
    #: Why the retention could not be computed (only in ``retention_error``).
    error: Mapped[str | None] = mapped_column(sa.Text)
    computed_at: Mapped[datetime | None] = mapped_column()
    #: Files whose PUID the agreement does not accept: [{"path", "puid", "format"}].
    format_warnings: Mapped[list[Any]] = mapped_column(sa.JSON, default=list)

    def __repr__(self) -> str:
        return (
            f"<PackageRetention {self.package_id} {self.reference} v{self.version_no} {self.state}>"
        )
