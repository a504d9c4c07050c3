"""The audit log: who did what, when, from where (sign-ins, ingests, downloads, edits ...)."""

from __future__ import annotations

import logging
from typing import Any

from preserve.bootstrap import Application
from preserve.catalogue.models import AuditEntry
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
