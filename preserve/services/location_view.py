"""Storage locations as a repository admin sees them on the web (issue 11): what each holds,
how well it is kept checked, whether it answers; and its fixity schedule changed through the
same service as ``preserve fixity schedule``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from preserve.bootstrap import Application
from preserve.catalogue.models import Copy, StorageLocation
from preserve.errors import InvalidInput
from preserve.services import schedule
from preserve.services.access import Principal, require_admin


@dataclass(frozen=True)
class LocationOverview:
    name: str
    url: str
    provider: str
    storage_type: str
    is_default: bool
    offline: bool
    retired_at: datetime | None
    unreachable_at: datetime | None
    unreachable_error: str | None
    #: days between checks (None: the repository's setting, ``default_interval_days``)
    fixity_interval_days: int | None
    #: bytes a fixity run may read an hour (None: unlimited)
    fixity_bytes_per_hour: int | None
    copies: int
    bytes: int
    verified: int
    failed: int
    last_checked_at: datetime | None
    #: the schedule's view (None for a retired location: off the schedule)
    fixity: schedule.ScheduleLine | None


@dataclass(frozen=True)
class Locations:
    locations: tuple[LocationOverview, ...]
    default_interval_days: int
    checked_at: datetime


def overview(app: Application, principal: Principal) -> Locations:
    """Every location with its copies, bytes, verified and failed copies, last check, fixity
    coverage and schedule (repository admins only)."""
    require_admin(principal)
    report = schedule.fixity_report(app)
    lines = {line.name: line for line in report.locations}
    failed = sa.func.sum(
        sa.case(
            (
                sa.or_(
                    Copy.status.in_(("failed", "quarantined")),
                    sa.and_(Copy.last_outcome.is_not(None), Copy.last_outcome != "ok"),
                ),
                1,
            ),
            else_=0,
        )
    )
    counts = (
        sa.select(
            Copy.location_id,
            sa.func.count(Copy.id),
            sa.func.coalesce(sa.func.sum(Copy.size_bytes), 0),
            sa.func.sum(sa.case((Copy.status == "verified", 1), else_=0)),
            failed,
            sa.func.max(Copy.last_checked_at),
        )
        .where(Copy.status != "pending")
        .group_by(Copy.location_id)
    )
    with app.uow() as uow:
        by_location = {row[0]: row[1:] for row in uow.session.execute(counts)}
        found = uow.session.scalars(sa.select(StorageLocation).order_by(StorageLocation.name))
        result = []
        for loc in found:
            copies, nbytes, verified, bad, last = by_location.get(loc.id, (0, 0, 0, 0, None))
            result.append(
                LocationOverview(
                    name=loc.name,
                    url=_redact(loc.url),
                    provider=loc.provider,
                    storage_type=loc.storage_type,
                    is_default=loc.is_default,
                    offline=loc.offline,
                    retired_at=loc.retired_at,
                    unreachable_at=loc.unreachable_at,
                    unreachable_error=loc.unreachable_error,
                    fixity_interval_days=loc.fixity_interval_days,
                    fixity_bytes_per_hour=loc.fixity_bytes_per_hour,
                    copies=int(copies or 0),
                    bytes=int(nbytes or 0),
                    # a retired location's copies are kept, no longer verified by any check
                    verified=0 if loc.retired_at is not None else int(verified or 0),
                    failed=int(bad or 0),
                    last_checked_at=_utc(last),
                    fixity=None if loc.retired_at is not None else lines.get(loc.name),
                )
            )
    return Locations(tuple(result), app.settings.fixity_interval_days, report.checked_at)


def _utc(value: datetime | str | None) -> datetime | None:
    """An aggregate (MAX) comes back from SQLite as text, not through the column's type."""
    if value is None or isinstance(value, datetime):
        return value
    from datetime import UTC

    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _redact(url: str) -> str:
    from preserve.services.admin import _redact as redact

    return redact(url)


class InvalidSchedule(InvalidInput):
    """A schedule form with errors: ``fields`` maps each field to its message."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(fields.values()))
        self.fields = fields


def set_schedule(
    app: Application,
    principal: Principal,
    name: str,
    *,
    interval_days: str,
    bytes_per_hour: str,
) -> schedule.ScheduleSetting:
    """Set a location's fixity interval and hourly budget from a form's text: empty means the
    repository's interval and no budget. Raises :class:`InvalidSchedule` naming each field."""
    require_admin(principal)
    errors: dict[str, str] = {}
    days: int | None = None
    text = interval_days.strip()
    if text:
        if not text.isdigit() or len(text) > 6:
            errors["interval_days"] = f"{text!r} is not a whole number of days"
        elif not 1 <= int(text) <= 36_500:
            errors["interval_days"] = "give between 1 and 36500 days"
        else:
            days = int(text)
    budget: int | None = None
    if bytes_per_hour.strip():
        try:
            budget = schedule.parse_size(bytes_per_hour.strip()[:50], "budget")
        except InvalidInput as exc:
            errors["bytes_per_hour"] = str(exc)
    if errors:
        raise InvalidSchedule(errors)
    return schedule.set_location_schedule(app, name, interval_days=days, bytes_per_hour=budget)
