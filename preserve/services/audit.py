"""The audit log: who did what, when, from where (sign-ins, ingests, downloads, edits ...)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from preserve.bootstrap import Application
from preserve.catalogue.models import AuditEntry, Organisation
from preserve.errors import InvalidInput, NotFound, PermissionDenied
from preserve.services.access import Principal

log = logging.getLogger(__name__)


def record(
    app: Application,
    principal: Principal | None,
    action: str,
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    organisation_id: int | None = None,
    remote_addr: str | None = None,
    channel: str = "web",
    username: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add one entry to the audit log in its own transaction (``username`` names who tried
    when nobody is signed in, as on a failed sign-in)."""
    with app.uow() as uow:
        uow.session.add(
            AuditEntry(
                user_id=principal.user_id if principal else None,
                username=principal.username if principal else (username or ""),
                action=action,
                object_type=object_type,
                object_id=object_id,
                organisation_id=organisation_id,
                remote_addr=remote_addr,
                channel=channel,
                detail=detail or {},
            )
        )
        uow.commit()
    log.info(
        "audit: %s by %s on %s %s",
        action,
        principal.username if principal else username,
        object_type,
        object_id,
    )


@dataclass(frozen=True)
class Entry:
    id: int
    occurred_at: datetime
    username: str
    action: str
    object_type: str | None
    object_id: str | None
    organisation_id: int | None
    organisation: str | None
    remote_addr: str | None
    channel: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class EntryPage:
    entries: tuple[Entry, ...]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def entries(
    app: Application,
    principal: Principal,
    *,
    person: str = "",
    action: str = "",
    organisation_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: int = 1,
    per_page: int = 50,
) -> EntryPage:
    """The audit log, newest first, filtered and a page at a time. A repository admin sees
    every entry; an organisation admin those of the organisations where they are admin;
    anyone else is refused. ``action`` matches the action and its sub-actions (``sign_in``
    also finds ``sign_in.failed``); ``until`` is exclusive."""
    managed = principal.organisations_where("admin")
    if managed is not None and not managed:
        raise PermissionDenied("only an administrator may read the audit log")
    if page < 1:
        raise InvalidInput("the page number must be 1 or more")
    if not 1 <= per_page <= 500:
        raise InvalidInput("a page holds 1 to 500 entries")
    if since is not None and until is not None and until <= since:
        raise InvalidInput("the end of the period must come after its start")
    conditions: list[Any] = []
    if managed is not None:
        if organisation_id is not None and organisation_id not in managed:
            raise NotFound("organisation not found")
        conditions.append(AuditEntry.organisation_id.in_(managed))
    if organisation_id is not None:
        conditions.append(AuditEntry.organisation_id == organisation_id)
    if person.strip():
        conditions.append(AuditEntry.username == person.strip().lower())
    if action.strip():
        a = action.strip()
        conditions.append(sa.or_(AuditEntry.action == a, AuditEntry.action.startswith(a + ".")))
    if since is not None:
        conditions.append(AuditEntry.occurred_at >= since)
    if until is not None:
        conditions.append(AuditEntry.occurred_at < until)
    with app.uow() as uow:
        s = uow.session
        total = s.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(*conditions))
        rows = s.execute(
            sa.select(AuditEntry, Organisation.slug)
            .outerjoin(Organisation, Organisation.id == AuditEntry.organisation_id)
            .where(*conditions)
            .order_by(AuditEntry.occurred_at.desc(), AuditEntry.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).all()
        return EntryPage(
            tuple(
                Entry(
                    e.id,
                    e.occurred_at,
                    e.username,
                    e.action,
                    e.object_type,
                    e.object_id,
                    e.organisation_id,
                    slug,
                    e.remote_addr,
                    e.channel,
                    dict(e.detail or {}),
                )
                for e, slug in rows
            ),
            page,
            per_page,
            total or 0,
        )


def actions(app: Application) -> list[str]:
    """The actions found in the log, for the filter's choices."""
    with app.uow() as uow:
        return list(
            uow.session.scalars(
                sa.select(AuditEntry.action).distinct().order_by(AuditEntry.action)
            ).all()
        )
