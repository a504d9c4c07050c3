"""Disposal requests (issue 12; retention-agreements.md 3.5, 4.2-4.4, 5.1 E11, after RODA's
DisposalConfirmation and APTrust's deletion requests): the only way a package is ever deleted.

``disposal_requests`` holds one batch: its kind (``scheduled``: packages whose retention is due
under a rule that destroys, transfers, returns or samples them; ``adhoc``: a deletion outside
any schedule, with a motivation; ``exit``: the post-exit deletion with a certificate), the
agreement version that governs it and a snapshot of its rule, the parties whose approval it
needs, and its state::

    pending -> approved -> executing -> executed (soft: the objects wait in a restore bin)
            -> permanently_deleted (after the restore window)
    pending -> rejected; executed -> restored (within the window);
    pending, approved -> withdrawn (by its requester, the custodian or an administrator);
    executing -> execution_failed (no package could be disposed of)

``disposal_packages`` is one row per package in the batch (its state of its own, the retention
state it had before the proposal, why it failed, and its tombstone: title, identifiers,
collection, dates, size, files); ``disposal_approvals`` one decision per party (approve or
reject, who, when, comment; unique per request and party, so two people deciding for one party
at once cannot both count); ``disposal_copies`` the copies a soft deletion took out of
``copies`` (so fixity, replication and repair never see them) and where their objects went,
for the restore and the permanent deletion. Migration ``0012`` creates the tables; ``0016``
adds the state ``withdrawn`` and who withdrew a request, when and why.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from preserve.catalogue.models import Base, _in, utcnow

DISPOSAL_KINDS = ("scheduled", "adhoc", "exit")
DISPOSAL_STATES = (
    "pending",
    "approved",
    "rejected",
    "executing",
    "executed",
    "execution_failed",
    "restored",
    "permanently_deleted",
    "withdrawn",
)
#: A package's own state within its request.
ITEM_STATES = (
    "proposed",
    "rejected",
    "disposed",
    "failed",
    "restored",
    "permanently_deleted",
    "withdrawn",
)
APPROVAL_DECISIONS = ("approve", "reject")


class DisposalRequest(Base):
    """One disposal (a batch of packages), its approvals, execution and declaration."""

    __tablename__ = "disposal_requests"
    __table_args__ = (
        sa.CheckConstraint(_in("kind", DISPOSAL_KINDS), name="kind"),
        sa.CheckConstraint(_in("state", DISPOSAL_STATES), name="state"),
        sa.Index(None, "state", "restore_until"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    state: Mapped[str] = mapped_column(sa.String(20), default="pending")
    #: The organisation owning the packages (one per request).
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    #: The governing agreement version (None: an ad-hoc deletion under no agreement).
    agreement_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agreements.id"), index=True)
    reference: Mapped[str | None] = mapped_column(sa.String(50))
    version_no: Mapped[int | None] = mapped_column()
    #: The rule as it was when proposed: {"id", "action", "trigger", "period_value",
    #: "period_unit", "bound", "motivation", "legal_basis"} ({} without an agreement).
    rule: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    #: Why (required for an ad-hoc deletion; optional otherwise).
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    #: The parties whose approval is needed: [{"organisation_id", "organisation", "name",
    #: "party_id"}], fixed when proposed.
    required: Mapped[list[Any]] = mapped_column(sa.JSON, default=list)
    requested_by: Mapped[str] = mapped_column(sa.String(100))
    requested_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()
    #: Execution: who asked, the job that runs it, when it ended, why it failed.
    executed_by: Mapped[str | None] = mapped_column(sa.String(100))
    job_id: Mapped[str | None] = mapped_column(sa.String(36))
    executed_at: Mapped[datetime | None] = mapped_column()
    failure: Mapped[str | None] = mapped_column(sa.Text)
    #: The soft deletion can be undone until then; the daily task deletes for good after.
    restore_until: Mapped[datetime | None] = mapped_column()
    restored_at: Mapped[datetime | None] = mapped_column()
    restored_by: Mapped[str | None] = mapped_column(sa.String(100))
    permanently_deleted_at: Mapped[datetime | None] = mapped_column()
    #: Withdrawn before it was executed (a hold on one of its packages, a mistake): by whom,
    #: when and why.
    withdrawn_at: Mapped[datetime | None] = mapped_column()
    withdrawn_by: Mapped[str | None] = mapped_column(sa.String(100))
    withdrawal_reason: Mapped[str | None] = mapped_column(sa.Text)
    #: The dated disposal declaration: the JSON document (canonical, what the SHA-256 is of)
    #: and its Markdown rendering.
    declaration_json: Mapped[str | None] = mapped_column(sa.Text)
    declaration_text: Mapped[str | None] = mapped_column(sa.Text)
    declaration_sha256: Mapped[str | None] = mapped_column(sa.String(64))

    items: Mapped[list[DisposalPackage]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="DisposalPackage.id"
    )
    approvals: Mapped[list[DisposalApproval]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="DisposalApproval.id"
    )

    def __repr__(self) -> str:
        return f"<DisposalRequest {self.id} {self.kind} {self.state}>"


class DisposalPackage(Base):
    """One package of a request, with its tombstone once disposed of."""

    __tablename__ = "disposal_packages"
    __table_args__ = (
        sa.UniqueConstraint("request_id", "package_id"),
        sa.CheckConstraint(_in("state", ITEM_STATES), name="state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("disposal_requests.id", ondelete="CASCADE")
    )
    #: No foreign key: the record outlives anything that might remove the package row.
    package_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    state: Mapped[str] = mapped_column(sa.String(20), default="proposed")
    #: The package's retention state before the proposal (None: under no agreement).
    previous_state: Mapped[str | None] = mapped_column(sa.String(20))
    failure: Mapped[str | None] = mapped_column(sa.Text)
    disposed_at: Mapped[datetime | None] = mapped_column()
    #: What is kept of the package: title, identifiers, collection, dates, size, files.
    tombstone: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)

    request: Mapped[DisposalRequest] = relationship(back_populates="items")


class DisposalApproval(Base):
    """One party's decision on a request (append-only)."""

    __tablename__ = "disposal_approvals"
    __table_args__ = (
        sa.UniqueConstraint("request_id", "organisation_id"),
        sa.CheckConstraint(_in("decision", APPROVAL_DECISIONS), name="decision"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("disposal_requests.id", ondelete="CASCADE")
    )
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"))
    #: The party's organisation slug, as shown.
    party: Mapped[str] = mapped_column(sa.String(100))
    decision: Mapped[str] = mapped_column(sa.String(10))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_by: Mapped[str] = mapped_column(sa.String(100))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
    comment: Mapped[str] = mapped_column(sa.Text, default="")

    request: Mapped[DisposalRequest] = relationship(back_populates="approvals")


class DisposalCopy(Base):
    """A copy taken out of ``copies`` by a soft deletion: what it was (to put it back on a
    restore) and the key prefix its objects were moved under on its location."""

    __tablename__ = "disposal_copies"
    __table_args__ = (sa.UniqueConstraint("item_id", "location_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("disposal_packages.id", ondelete="CASCADE"))
    location_id: Mapped[int] = mapped_column(sa.ForeignKey("storage_locations.id"))
    version: Mapped[int] = mapped_column()
    key_prefix: Mapped[str] = mapped_column(sa.String(1024))
    status: Mapped[str] = mapped_column(sa.String(20))
    verified_by: Mapped[str | None] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column()
    verified_at: Mapped[datetime | None] = mapped_column()
    last_checked_at: Mapped[datetime | None] = mapped_column()
    last_outcome: Mapped[str | None] = mapped_column(sa.String(20))
    size_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    #: Where the package's objects on this location wait: ``disposed/<package folder>``.
    restore_prefix: Mapped[str] = mapped_column(sa.String(1100))
    #: How many objects were moved there, and when they were deleted for good.
    objects: Mapped[int] = mapped_column(default=0)
    purged_at: Mapped[datetime | None] = mapped_column()
