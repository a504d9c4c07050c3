"""Jobs and alerts as a person sees them (the web catalogue and the API of issue 11).

A person sees the jobs of packages in their organisations (an ingest that has no package yet
counts for the organisation it ingests into) and the jobs they asked for; jobs that belong to
no organisation (a location's fixity batch, the daily report) and alerts without a package are
for repository admins only. Cancelling or retrying a job needs the archivist role in its
organisation, or to be the person who asked for it, or to be an admin. What a person may not see
is reported as missing (:class:`NotFound`), exactly like an unknown id.

The state changes themselves are :mod:`preserve.services.jobs` and
:mod:`preserve.services.alerts`; this module only decides who sees and may do what.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from preserve.bootstrap import Application
from preserve.catalogue.models import (
    ALERT_KINDS,
    JOB_KINDS,
    JOB_STATES,
    Alert,
    Collection,
    Job,
    Organisation,
    Package,
)
from preserve.errors import InvalidInput, NotFound, PermissionDenied
from preserve.services import alerts as alert_service
from preserve.services import jobs as job_service
from preserve.services.access import Principal

#: A select statement (SQLAlchemy's Select is generic over its row's columns).
Query = Any

#: Jobs and alerts on one page of a list.
PAGE_SIZE = 50


@dataclass(frozen=True)
class JobView:
    """A job with what a person needs around it: its organisation and package, and whether
    this person may cancel or retry it."""

    job: job_service.JobRecord
    organisation: str | None
    package_title: str | None
    can_manage: bool
    #: packages an ingest or new version stored: (id, title), those the person may see
    made: tuple[tuple[str, str], ...] = ()

    @property
    def active(self) -> bool:
        return self.job.state in ("queued", "running")

    @property
    def can_cancel(self) -> bool:
        return self.can_manage and self.active and not self.job.cancel_requested

    @property
    def can_retry(self) -> bool:
        return self.can_manage and self.job.state in ("failed", "cancelled")


@dataclass(frozen=True)
class JobPage:
    jobs: tuple[JobView, ...]
    page: int
    has_next: bool
    state: str | None
    kind: str | None


@dataclass(frozen=True)
class AlertView:
    alert: alert_service.AlertRecord
    organisation: str | None
    package_title: str | None
    can_acknowledge: bool


@dataclass(frozen=True)
class AlertPage:
    alerts: tuple[AlertView, ...]
    page: int
    has_next: bool
    show: str  # "open", "acknowledged" or "all"


_package_org = aliased(Collection)
_payload_org = aliased(Organisation)
_alert_package = aliased(Package)
_alert_collection = aliased(Collection)
_alert_org = aliased(Organisation)


def _job_query(app: Application) -> Query:
    """Jobs with the id and slug of their organisation (None: no organisation) and their
    package's title: through their package (or, for a new version, the package it extends),
    else through the organisation an ingest names."""
    package_id = sa.func.coalesce(Job.package_id, Job.payload["new_version_of"].as_string())
    payload_org = sa.func.coalesce(
        Job.payload["organisation"].as_string(), sa.literal(app.settings.organisation)
    )
    package_org = aliased(Organisation)
    return (
        sa.select(
            Job,
            sa.func.coalesce(_package_org.organisation_id, _payload_org.id).label("org_id"),
            sa.func.coalesce(package_org.slug, _payload_org.slug).label("org_slug"),
            Package.title,
        )
        .outerjoin(Package, Package.id == package_id)
        .outerjoin(_package_org, _package_org.id == Package.collection_id)
        .outerjoin(package_org, package_org.id == _package_org.organisation_id)
        .outerjoin(
            _payload_org,
            sa.and_(
                Package.id.is_(None),
                Job.kind.in_(("ingest", "version")),
                Job.payload["collection"].as_string().is_not(None),
                _payload_org.slug == payload_org,
            ),
        )
    )


def _visible_jobs(query: Query, principal: Principal) -> Query:
    orgs = principal.visible_organisations()
    if orgs is None:
        return query
    org_id = sa.func.coalesce(_package_org.organisation_id, _payload_org.id)
    mine = Job.requested_by == principal.username
    if not orgs:
        return query.where(mine)
    return query.where(sa.or_(mine, org_id.in_(sorted(orgs))))


def _may_manage(principal: Principal, job: Job | job_service.JobRecord, org_id: int | None) -> bool:
    if principal.is_admin or job.requested_by == principal.username:
        return True
    return org_id is not None and principal.can(org_id, "archivist")


def _view(principal: Principal, row: Any) -> JobView:
    job, org_id, org_slug, title = row
    return JobView(
        job=job_service._record(job),
        organisation=org_slug,
        package_title=title,
        can_manage=_may_manage(principal, job, org_id),
    )


def _page(page: int) -> int:
    if page < 1:
        raise InvalidInput(f"page {page} does not exist: pages start at 1")
    return page


def list_jobs(
    app: Application,
    principal: Principal,
    *,
    state: str | None = None,
    kind: str | None = None,
    package_id: str | None = None,
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> JobPage:
    """The jobs ``principal`` sees, newest first, of one state and kind if given."""
    if state is not None and state not in JOB_STATES:
        raise InvalidInput(f"no job state {state!r}: one of {', '.join(JOB_STATES)}")
    if kind is not None and kind not in JOB_KINDS:
        raise InvalidInput(f"no job kind {kind!r}: one of {', '.join(JOB_KINDS)}")
    page = _page(page)
    query = _visible_jobs(_job_query(app), principal)
    if state is not None:
        query = query.where(Job.state == state)
    if kind is not None:
        query = query.where(Job.kind == kind)
    if package_id is not None:
        query = query.where(Job.package_id == package_id)
    query = (
        query.order_by(Job.created_at.desc(), Job.id.desc())
        .offset((page - 1) * page_size)
        .limit(page_size + 1)
    )
    with app.uow() as uow:
        rows = uow.session.execute(query).all()
        views = _with_made(uow, principal, [_view(principal, r) for r in rows[:page_size]])
    return JobPage(views, page, len(rows) > page_size, state, kind)


def _stored_ids(view: JobView) -> list[str]:
    if view.job.kind not in ("ingest", "version"):
        return []
    entries = (view.job.result or {}).get("packages") or []
    return [
        e["package_id"]
        for e in entries
        if isinstance(e, dict) and e.get("status") == "stored" and e.get("package_id")
    ][:100]


def _with_made(uow: Any, principal: Principal, views: Sequence[JobView]) -> tuple[JobView, ...]:
    """The views with the packages their ingest stored (titles; those ``principal`` may
    see), found in one query."""
    wanted = {pid for v in views for pid in _stored_ids(v)}
    if not wanted:
        return tuple(views)
    query = (
        sa.select(Package.id, Package.title, Collection.organisation_id)
        .join(Collection, Collection.id == Package.collection_id)
        .where(Package.id.in_(sorted(wanted)))
    )
    found = {pid: (title, org) for pid, title, org in uow.session.execute(query)}
    return tuple(
        replace(
            v,
            made=tuple(
                (pid, found[pid][0])
                for pid in _stored_ids(v)
                if pid in found and principal.can_view(found[pid][1])
            ),
        )
        for v in views
    )


def _find_job(app: Application, principal: Principal, job_id: str) -> JobView:
    if not job_id or len(job_id) > 36:
        raise NotFound("job not found")
    query = _visible_jobs(_job_query(app), principal)
    with app.uow() as uow:
        row = uow.session.execute(query.where(Job.id == job_id)).first()
        if row is None:
            raise NotFound("job not found")
        return _with_made(uow, principal, [_view(principal, row)])[0]


def get_job(app: Application, principal: Principal, job_id: str) -> JobView:
    """The job ``job_id`` (its full id), or :class:`NotFound` when it does not exist or
    ``principal`` may not see it."""
    return _find_job(app, principal, job_id)


def _require_manage(view: JobView) -> None:
    if not view.can_manage:
        raise PermissionDenied(
            "only an archivist of the job's organisation, the person who asked for it or an "
            "administrator may cancel or retry it"
        )


def cancel_job(app: Application, principal: Principal, job_id: str) -> JobView:
    """Cancel the job (see :func:`preserve.services.jobs.cancel`) if ``principal`` may."""
    view = _find_job(app, principal, job_id)
    _require_manage(view)
    job_service.cancel(app, view.job.id)
    return _find_job(app, principal, job_id)


def retry_job(app: Application, principal: Principal, job_id: str) -> JobView:
    """Queue a failed or cancelled job again (and ring the workers' doorbell) if
    ``principal`` may."""
    from preserve.services.runner import publisher

    view = _find_job(app, principal, job_id)
    _require_manage(view)
    record = job_service.retry(app, view.job.id)
    publisher(app)(record.id)
    return _find_job(app, principal, job_id)


# ---------------------------------------------------------------------------- alerts


def _alert_query() -> Query:
    return (
        sa.select(Alert, _alert_collection.organisation_id, _alert_org.slug, _alert_package.title)
        .select_from(Alert)  # the left side of the joins, said (the columns name four FROMs)
        .outerjoin(_alert_package, _alert_package.id == Alert.package_id)
        .outerjoin(_alert_collection, _alert_collection.id == _alert_package.collection_id)
        .outerjoin(_alert_org, _alert_org.id == _alert_collection.organisation_id)
    )


def _visible_alerts(query: Query, principal: Principal) -> Query:
    orgs = principal.visible_organisations()
    if orgs is None:
        return query
    if not orgs:
        return query.where(sa.false())
    return query.where(_alert_collection.organisation_id.in_(sorted(orgs)))


def _alert_views(uow: Any, principal: Principal, rows: Sequence[Any]) -> tuple[AlertView, ...]:
    records = alert_service._records(uow, [r[0] for r in rows])
    return tuple(
        AlertView(
            alert=record,
            organisation=slug,
            package_title=title,
            can_acknowledge=record.open
            and (principal.is_admin or (org_id is not None and principal.can(org_id, "archivist"))),
        )
        for record, (_alert, org_id, slug, title) in zip(records, rows, strict=True)
    )


def list_alerts(
    app: Application,
    principal: Principal,
    *,
    show: str = "open",
    kind: str | None = None,
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> AlertPage:
    """The alerts ``principal`` sees, newest first: ``open`` (not acknowledged),
    ``acknowledged`` or ``all``; of one kind if given."""
    if show not in ("open", "acknowledged", "all"):
        raise InvalidInput(f"show {show!r}: one of open, acknowledged, all")
    if kind is not None and kind not in ALERT_KINDS:
        raise InvalidInput(f"no alert kind {kind!r}: one of {', '.join(ALERT_KINDS)}")
    page = _page(page)
    query = _visible_alerts(_alert_query(), principal)
    if show == "open":
        query = query.where(Alert.acknowledged_at.is_(None))
    elif show == "acknowledged":
        query = query.where(Alert.acknowledged_at.is_not(None))
    if kind is not None:
        query = query.where(Alert.kind == kind)
    query = (
        query.order_by(Alert.created_at.desc(), Alert.id.desc())
        .offset((page - 1) * page_size)
        .limit(page_size + 1)
    )
    with app.uow() as uow:
        rows = uow.session.execute(query).all()
        views = _alert_views(uow, principal, rows[:page_size])
    return AlertPage(views, page, len(rows) > page_size, show)


def get_alert(app: Application, principal: Principal, alert_id: int) -> AlertView:
    query = _visible_alerts(_alert_query(), principal).where(Alert.id == alert_id)
    with app.uow() as uow:
        row = uow.session.execute(query).first()
        if row is None:
            raise NotFound("alert not found")
        return _alert_views(uow, principal, [row])[0]


def acknowledge_alert(app: Application, principal: Principal, alert_id: int) -> AlertView:
    """Acknowledge the alert (an archivist of its package's organisation, or an admin)."""
    view = get_alert(app, principal, alert_id)
    if not view.alert.open:
        # the service says by whom and when
        alert_service.acknowledge(app, alert_id, principal.username)
    if not view.can_acknowledge:
        raise PermissionDenied(
            "only an archivist of the package's organisation or an administrator may "
            "acknowledge this alert"
        )
    alert_service.acknowledge(app, alert_id, principal.username)
    return get_alert(app, principal, alert_id)
