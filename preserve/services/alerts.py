"""Alerts: what people must be told (issue 10).

A fixity failure, a repair, a damaged package, a failed job or a fixity backlog is recorded as
an :class:`preserve.catalogue.models.Alert` in the same transaction as the finding
(:func:`record`), so it can never be lost; it is then delivered by e-mail and to the webhook,
each retried until delivered or out of attempts.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from preserve.catalogue.models import ALERT_KINDS, ALERT_SEVERITIES, Alert
from preserve.uow import UnitOfWork


def record(
    uow: UnitOfWork,
    kind: str,
    subject: str,
    body: str = "",
    *,
    severity: str = "warning",
    dedup_key: str | None = None,
    package_id: str | None = None,
    location_id: int | None = None,
    job_id: str | None = None,
    details: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> Alert | None:
    """Record an alert in ``uow``'s transaction (the caller commits it with its finding).
    With ``dedup_key``, the same condition found again records nothing (None)."""
    if kind not in ALERT_KINDS:
        raise ValueError(f"no alert kind {kind!r}")
    if severity not in ALERT_SEVERITIES:
        raise ValueError(f"no alert severity {severity!r}")
    if dedup_key is not None:
        found = uow.session.scalar(sa.select(Alert.id).where(Alert.dedup_key == dedup_key))
        if found is not None:
            return None
    alert = Alert(
        kind=kind,
        severity=severity,
        subject=subject[:255],
        body=body,
        dedup_key=dedup_key,
        package_id=package_id,
        location_id=location_id,
        job_id=job_id,
        details=dict(details or {}),
        created_at=now or datetime.now(UTC),
        email_state="pending",
        webhook_state="pending",
        attempts=0,
    )
    uow.session.add(alert)
    uow.session.flush()
    return alert
