"""The dashboard's numbers, for what one person sees: holdings per organisation and collection,
copies per location, fixity coverage and failures, damaged packages, bytes kept over time,
formats by share, recent ingests, running jobs and open alerts.

What a person sees is what /packages lists (:mod:`preserve.services.search`): the packages of
their organisations' collections, and those shared with them as a party of an agreement in force
(:func:`preserve.services.sharing.shared_agreements`: the custodian's staff see what it keeps).

The aggregates (everything but recent ingests, jobs and alerts) read every package, copy and
file the person sees; at 100,000 packages and 1,000,000 files the formats alone take about half
a second on PostgreSQL, too slow for each request. They are kept in the process for
:data:`SUMMARY_TTL` seconds per set of visible organisations and shared agreements (a small
dict; no table, no worker): a dashboard is at most that much behind, which the page says.
Recent ingests, running jobs and alerts are read on every request (indexed, a few rows each).
"""

from __future__ import annotations

# SQL here is put together from constants of this module only; every value is a bound parameter
# ruff: noqa: S608
import threading
import time as clock
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from preserve.catalogue.fixity import AGREEMENT_JOINS, COLLECTION_DAYS, shorter_sql

if TYPE_CHECKING:
    from preserve.bootstrap import Application
    from preserve.services.access import Principal
    from preserve.services.job_view import AlertView, JobView

#: How long the aggregates are reused (seconds).
SUMMARY_TTL = 60.0
#: Formats shown by name in the chart; the others are summed as "other".
TOP_FORMATS = 10
RECENT = 10


@dataclass(frozen=True)
class Holding:
    organisation: str
    collection: str  # "" for an organisation's total line
    title: str
    packages: int
    files: int
    bytes: int


@dataclass(frozen=True)
class LocationCopies:
    location: str
    copies: int
    bytes: int
    verified: int
    failed: int
    #: copies checked within their interval
    checked_in_time: int
    #: packages with a copy here (a copy above is one version's folder: a described package
    #: has two)
    packages: int = 0


@dataclass(frozen=True)
class MonthBytes:
    month: str  # YYYY-MM
    bytes: int  # ingested that month
    total: int  # kept at the end of that month (cumulative)


@dataclass(frozen=True)
class FormatShare:
    name: str  # format name, or "" for "unidentified", "*" for "other"
    puid: str
    files: int
    bytes: int


@dataclass(frozen=True)
class RecentPackage:
    id: str
    title: str
    organisation: str
    collection: str
    created_at: datetime
    status: str
    files: int
    bytes: int


@dataclass(frozen=True)
class Summary:
    """The aggregates, computed at ``computed_at``."""

    computed_at: datetime
    holdings: tuple[Holding, ...]
    totals: Holding
    locations: tuple[LocationCopies, ...]
    copies: int
    checked_in_time: int
    never_checked: int
    #: copies of packages (one per package and location, whatever its versions): the figure a
    #: person reads as "how many copies do we keep"
    package_copies: int
    failures: int
    damaged: int
    months: tuple[MonthBytes, ...]
    formats: tuple[FormatShare, ...]

    @property
    def coverage(self) -> float | None:
        """Share of copies checked within their interval (None: no copies)."""
        return self.checked_in_time / self.copies if self.copies else None


@dataclass(frozen=True)
class Dashboard:
    summary: Summary
    recent: tuple[RecentPackage, ...]
    running_jobs: tuple[JobView, ...]
    alerts: tuple[AlertView, ...]


_cache: dict[tuple[tuple[int, ...] | None, tuple[int, ...]], tuple[float, Summary]] = {}
_lock = threading.Lock()


def clear_cache() -> None:
    """Forget the aggregates (tests, and after a large change)."""
    with _lock:
        _cache.clear()


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


#: A package ``p`` shared with the person: linked to one of the agreement versions ``:shared``
#: (as /packages decides it, :mod:`preserve.services.search`).
_SHARED = (
    "EXISTS (SELECT 1 FROM package_retention AS pr WHERE pr.package_id = p.id "
    "AND pr.agreement_id IN :shared)"
)


def _scope(
    visible: frozenset[int] | None, shared: Sequence[int] = ()
) -> tuple[str, dict[str, Any]]:
    """The condition on ``p`` (a package) and ``c`` (its collection) that the person sees it:
    of one of the organisations ``visible`` (None: all), or shared with them through one of the
    agreement versions ``shared``."""
    if visible is None:
        return "1 = 1", {}
    params: dict[str, Any] = {"orgs": sorted(visible) or [-1]}
    if not shared:
        return "c.organisation_id IN :orgs", params
    params["shared"] = sorted(shared)
    return f"(c.organisation_id IN :orgs OR {_SHARED})", params


def _text(sql: str, params: dict[str, Any]) -> sa.TextClause:
    text = sa.text(sql)
    for name in ("orgs", "shared"):
        if name in params:
            text = text.bindparams(sa.bindparam(name, expanding=True))
    return text


def _shared(app: Application, principal: Principal) -> tuple[int, ...]:
    """The agreement versions whose packages the person sees as a party (as /packages)."""
    from preserve.services.sharing import shared_agreements

    if principal.visible_organisations() is None:
        return ()
    with app.uow() as uow:
        return tuple(shared_agreements(uow.session, principal))


def compute_summary(
    app: Application,
    visible: frozenset[int] | None,
    now: datetime | None = None,
    *,
    shared: Sequence[int] = (),
) -> Summary:
    """The aggregates for the organisations ``visible`` (None: all) and the packages shared
    through the agreement versions ``shared``, read now."""
    now = now or datetime.now(UTC)
    scope, params = _scope(visible, shared)
    default_days = app.settings.fixity_interval_days
    with app.uow() as uow:
        s = uow.session
        dialect = s.get_bind().dialect.name
        # every collection of the person's organisations (empty ones too), and those of other
        # organisations holding a package shared with them (counting only those packages)
        if "shared" in params:
            collections = (
                "(c.organisation_id IN :orgs OR c.id IN (SELECT p.collection_id FROM packages "
                f"AS p WHERE p.status = 'stored' AND {_SHARED}))"
            )
        else:
            collections = scope
        holdings_rows = s.execute(
            _text(
                "SELECT o.slug, c.slug, c.title, count(p.id), coalesce(sum(p.file_count), 0), "
                "coalesce(sum(p.size), 0) FROM collections AS c "
                "JOIN organisations AS o ON o.id = c.organisation_id "
                "LEFT JOIN packages AS p ON p.collection_id = c.id AND p.status = 'stored' "
                f"AND {scope} "
                f"WHERE {collections} GROUP BY o.slug, c.slug, c.title ORDER BY o.slug, c.slug",
                params,
            ),
            params,
        ).all()
        # a copy's interval: the shortest of its collection's, its agreements' (over the
        # collection, or selecting the package by a metadata rule) and its location's, else the
        # setting's (as services/schedule.py reckons it)
        days = shorter_sql(COLLECTION_DAYS.replace("co.", "c."), "l.fixity_interval_days")
        days = f"coalesce({days}, :default_days)"
        if dialect == "postgresql":
            threshold = f"CAST(:now AS timestamptz) - ({days}) * interval '1 day'"
            month = "to_char(p.created_at AT TIME ZONE 'UTC', 'YYYY-MM')"
        else:
            threshold = f"datetime(:now, '-' || ({days}) || ' days')"
            month = "strftime('%Y-%m', p.created_at)"
        now_param = now if dialect == "postgresql" else now.strftime("%Y-%m-%d %H:%M:%S")
        copy_rows = s.execute(
            _text(
                "SELECT l.name, count(*), coalesce(sum(cp.size_bytes), 0), "
                "sum(CASE WHEN cp.status = 'verified' THEN 1 ELSE 0 END), "
                "sum(CASE WHEN cp.status IN ('failed', 'quarantined') OR "
                "(cp.last_outcome IS NOT NULL AND cp.last_outcome <> 'ok') THEN 1 ELSE 0 END), "
                f"sum(CASE WHEN cp.last_checked_at >= {threshold} THEN 1 ELSE 0 END), "
                "sum(CASE WHEN cp.last_checked_at IS NULL THEN 1 ELSE 0 END), "
                "count(DISTINCT cp.package_id) "
                "FROM copies AS cp JOIN packages AS p ON p.id = cp.package_id "
                "JOIN collections AS c ON c.id = p.collection_id "
                "JOIN storage_locations AS l ON l.id = cp.location_id "
                f"{AGREEMENT_JOINS.replace('co.id', 'c.id')} "
                f"WHERE {scope} AND l.retired_at IS NULL AND p.status = 'stored' "
                "AND cp.status <> 'pending' GROUP BY l.name ORDER BY l.name",
                params,
            ),
            {**params, "now": now_param, "default_days": default_days},
        ).all()
        damaged = s.execute(
            _text(
                "SELECT count(*) FROM packages AS p JOIN collections AS c "
                f"ON c.id = p.collection_id WHERE {scope} AND p.damaged_at IS NOT NULL",
                params,
            ),
            params,
        ).scalar_one()
        month_rows = s.execute(
            _text(
                f"SELECT {month} AS m, coalesce(sum(p.size), 0) FROM packages AS p "
                f"JOIN collections AS c ON c.id = p.collection_id "
                f"WHERE {scope} AND p.status = 'stored' GROUP BY m ORDER BY m",
                params,
            ),
            params,
        ).all()
        format_rows = s.execute(
            _text(
                "SELECT f.format_name, f.puid, count(*), coalesce(sum(f.size), 0) "
                "FROM files AS f JOIN packages AS p ON p.id = f.package_id "
                "JOIN collections AS c ON c.id = p.collection_id "
                f"WHERE {scope} AND p.status = 'stored' AND f.role = 'payload' "
                "AND f.version = p.version GROUP BY f.format_name, f.puid "
                "ORDER BY count(*) DESC",
                params,
            ),
            params,
        ).all()
    holdings = []
    orgs: dict[str, list[int]] = {}
    for org, coll, title, n, files, size in holdings_rows:
        holdings.append(Holding(org, coll, title, int(n), int(files), int(size)))
        t = orgs.setdefault(org, [0, 0, 0])
        t[0] += int(n)
        t[1] += int(files)
        t[2] += int(size)
    totals = Holding(
        "",
        "",
        "",
        sum(h.packages for h in holdings),
        sum(h.files for h in holdings),
        sum(h.bytes for h in holdings),
    )
    locations = tuple(
        LocationCopies(
            r[0], int(r[1]), int(r[2]), int(r[3] or 0), int(r[4] or 0), int(r[5] or 0), int(r[7])
        )
        for r in copy_rows
    )
    running = 0
    months = []
    for m, size in month_rows:
        running += int(size)
        months.append(MonthBytes(str(m), int(size), running))
    formats = [
        FormatShare(r[0] or "", r[1] or "", int(r[2]), int(r[3] or 0))
        for r in format_rows[:TOP_FORMATS]
    ]
    rest = format_rows[TOP_FORMATS:]
    if rest:
        formats.append(
            FormatShare("*", "", sum(int(r[2]) for r in rest), sum(int(r[3] or 0) for r in rest))
        )
    return Summary(
        computed_at=now,
        holdings=tuple(holdings),
        totals=totals,
        locations=locations,
        copies=sum(x.copies for x in locations),
        package_copies=sum(x.packages for x in locations),
        checked_in_time=sum(x.checked_in_time for x in locations),
        never_checked=sum(int(r[6] or 0) for r in copy_rows),
        failures=sum(x.failed for x in locations),
        damaged=int(damaged),
        months=tuple(months),
        formats=tuple(formats),
    )


def summary(app: Application, principal: Principal) -> Summary:
    """The aggregates for what the person sees, reused for :data:`SUMMARY_TTL` seconds."""
    visible = principal.visible_organisations()
    shared = _shared(app, principal)
    key = (None if visible is None else tuple(sorted(visible)), shared)
    now = clock.monotonic()
    with _lock:
        found = _cache.get(key)
    if found is not None and now - found[0] < SUMMARY_TTL:
        return found[1]
    fresh = compute_summary(app, visible, shared=shared)
    with _lock:
        _cache[key] = (now, fresh)
        if len(_cache) > 256:  # many different people: drop the oldest
            oldest = min(_cache, key=lambda k: _cache[k][0])
            del _cache[oldest]
    return fresh


def recent_ingests(app: Application, principal: Principal) -> tuple[RecentPackage, ...]:
    scope, params = _scope(principal.visible_organisations(), _shared(app, principal))
    with app.uow() as uow:
        rows = uow.session.execute(
            _text(
                "SELECT p.id, p.title, o.slug, c.slug, p.created_at, p.status, p.file_count, "
                "p.size FROM packages AS p JOIN collections AS c ON c.id = p.collection_id "
                f"JOIN organisations AS o ON o.id = c.organisation_id WHERE {scope} "
                "ORDER BY p.created_at DESC LIMIT :limit",
                params,
            ),
            {**params, "limit": RECENT},
        ).all()
    return tuple(
        RecentPackage(r[0], r[1] or "", r[2], r[3], _aware(r[4]), r[5], int(r[6]), int(r[7]))
        for r in rows
    )


def dashboard(app: Application, principal: Principal) -> Dashboard:
    """Everything the dashboard shows, for the person."""
    from preserve.services import job_view

    running = job_view.list_jobs(app, principal, state="running", page_size=RECENT)
    alerts = job_view.list_alerts(app, principal, show="open", page_size=RECENT)
    return Dashboard(
        summary=summary(app, principal),
        recent=recent_ingests(app, principal),
        running_jobs=running.jobs,
        alerts=alerts.alerts,
    )
