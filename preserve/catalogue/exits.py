"""Exit exports with the receiving party's confirmation, and restore tests (issue 12;
retention-agreements.md 3.6, 3.11 and 5.1 E7/E13).

``agreement_exits`` has one row per export of an exiting agreement: where it was written, by
whom, what it holds (packages as bags, the agreement's documents), the SHA-256 of its
``manifest-sha256.txt``; then the receiving party's confirmation (who, for which party, when,
the SHA-256 of the receipt) and the post-exit action (``delete_with_certificate``,
``retain_until``, ``transfer``) with its state: ``waiting`` (no confirmation yet), ``pending``
(confirmed, the action not done yet) or ``done``. ``agreement_exit_items`` lists what the
receiver confirms: per bag its ``tagmanifest-sha256.txt`` (which pins every other file of the
bag), per document its bytes. Items name the package by id without a foreign key: the record
outlives the packages a disposal removes after the exit.

``restore_tests`` has one row per restore test: a package read back from one location into a
temporary folder and validated as a bag (ok or failed, with the problems), kept after the
package is gone for the same reason.

Migration ``0013`` creates these tables.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from preserve.catalogue.models import Base, _in, utcnow

#: waiting: exported, no confirmation yet; pending: confirmed, the post-exit action not done;
#: done: confirmed and the post-exit action done (the agreement may be closed).
POST_EXIT_STATES = ("waiting", "pending", "done")
EXIT_ITEM_KINDS = ("bag", "document")
RESTORE_OUTCOMES = ("ok", "failed")


class AgreementExit(Base):
    """One exit export of an agreement version, its confirmation and its post-exit action."""

    __tablename__ = "agreement_exits"
    __table_args__ = (
        sa.CheckConstraint(_in("post_exit_state", POST_EXIT_STATES), name="post_exit_state"),
        sa.CheckConstraint(
            "(confirmed_at IS NULL) = (post_exit_state = 'waiting')", name="confirmed"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(sa.ForeignKey("agreements.id"), index=True)
    #: The agreement's reference and version number as written into the exit manifest.
    reference: Mapped[str] = mapped_column(sa.String(50))
    version_no: Mapped[int] = mapped_column()
    #: The folder the export was written to (absolute).
    destination: Mapped[str] = mapped_column(sa.Text)
    exported_by: Mapped[str] = mapped_column(sa.String(100))
    exported_at: Mapped[datetime] = mapped_column(default=utcnow)
    packages: Mapped[int] = mapped_column(default=0)
    documents: Mapped[int] = mapped_column(default=0)
    #: Every file of the export and their bytes (manifest-sha256.txt apart).
    files: Mapped[int] = mapped_column(default=0)
    bytes: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    #: sha256 hex of the export's manifest-sha256.txt (which lists every other file).
    manifest_sha256: Mapped[str] = mapped_column(sa.String(64))
    #: The receiving party (organisation slug), the person who confirmed, when, and the
    #: sha256 of the receipt they gave.
    confirmed_party: Mapped[str | None] = mapped_column(sa.String(100))
    confirmed_by: Mapped[str | None] = mapped_column(sa.String(100))
    confirmed_at: Mapped[datetime | None] = mapped_column()
    receipt_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    #: The exit terms' post-exit action as it was at export, and how far it got.
    post_exit_action: Mapped[str] = mapped_column(sa.String(30))
    post_exit_state: Mapped[str] = mapped_column(sa.String(10), default="waiting")
    post_exit_at: Mapped[datetime | None] = mapped_column()
    #: What was done or what waits (a disposal request's id, the date kept until, the party
    #: the packages were transferred to).
    post_exit_detail: Mapped[str] = mapped_column(sa.Text, default="")
    retain_until: Mapped[date | None] = mapped_column(sa.Date)

    items: Mapped[list[AgreementExitItem]] = relationship(
        cascade="all, delete-orphan", order_by="AgreementExitItem.id"
    )

    def __repr__(self) -> str:
        return (
            f"<AgreementExit {self.id} {self.reference} v{self.version_no} {self.post_exit_state}>"
        )


class AgreementExitItem(Base):
    """One line of an exit manifest: a bag (by its tag manifest) or a document."""

    __tablename__ = "agreement_exit_items"
    __table_args__ = (
        sa.UniqueConstraint("exit_id", "path"),
        sa.CheckConstraint(_in("kind", EXIT_ITEM_KINDS), name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    exit_id: Mapped[int] = mapped_column(sa.ForeignKey("agreement_exits.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(10))
    #: The package a bag holds (no foreign key: the record outlives the package).
    package_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    #: The bag's folder name, or the document's name.
    name: Mapped[str] = mapped_column(sa.String(255))
    #: The file the receiver checks, relative to the export's folder
    #: (``bags/<name>/tagmanifest-sha256.txt``, ``documents/v1/<name>``).
    path: Mapped[str] = mapped_column(sa.Text)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    #: The bag's bytes (every file), or the document's.
    size: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class RestoreTest(Base):
    """A package read back from one location, validated as a bag in a temporary folder."""

    __tablename__ = "restore_tests"
    __table_args__ = (
        sa.CheckConstraint(_in("outcome", RESTORE_OUTCOMES), name="outcome"),
        sa.Index(None, "package_id", "started_at"),
        sa.Index(None, "reference", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The package (no foreign key: the result outlives the package).
    package_id: Mapped[str] = mapped_column(sa.String(36))
    version: Mapped[int] = mapped_column(default=1)
    #: The agreement the test was made for (its reference; None: none governs the package).
    agreement_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("agreements.id", ondelete="SET NULL")
    )
    reference: Mapped[str | None] = mapped_column(sa.String(50))
    location_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("storage_locations.id", ondelete="SET NULL"), index=True
    )
    location: Mapped[str] = mapped_column(sa.String(100))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Payload files and bytes read back (0 when the read failed at once).
    files: Mapped[int] = mapped_column(default=0)
    bytes: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    outcome: Mapped[str] = mapped_column(sa.String(10))
    #: What went wrong: [{"code", "path", "message"}] (empty when ok).
    problems: Mapped[list[Any]] = mapped_column(sa.JSON, default=list)
    actor: Mapped[str] = mapped_column(sa.String(100), default="")

    def __repr__(self) -> str:
        return f"<RestoreTest {self.id} {self.package_id} @{self.location} {self.outcome}>"
