"""What scripts ask of the repository through ``/api/v1`` that no other service answers for
a person: who am I, which collections do I see, and "check this package's fixity now",
queued as the person with an idempotency key so a retried request makes one job."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from preserve.bootstrap import Application
from preserve.catalogue.models import Job, Organisation
from preserve.errors import InvalidInput, NotFound
from preserve.services import jobs
from preserve.services.access import Principal
from preserve.services.admin import list_collections

#: Longest ``Idempotency-Key`` a client may send (the key is hashed into the job's own key).
MAX_IDEMPOTENCY_KEY = 200


@dataclass(frozen=True)
class Membership:
    organisation: str
    name: str
    role: str


@dataclass(frozen=True)
class Me:
    username: str
    display_name: str
    is_admin: bool
    locale: str | None
    organisations: tuple[Membership, ...]


@dataclass(frozen=True)
class VisibleCollection:
    organisation: str
    slug: str
    title: str
    description: str
    locations: tuple[str, ...]
    packages: int
    #: the person's role in the collection's organisation
    role: str


def me(app: Application, principal: Principal) -> Me:
    """The person and their role in each organisation (a repository admin: in every one)."""
    with app.uow() as uow:
        orgs = uow.session.execute(
            sa.select(Organisation.id, Organisation.slug, Organisation.name).order_by(
                Organisation.slug
            )
        ).all()
    memberships = tuple(
        Membership(slug, name, role)
        for org_id, slug, name in orgs
        if (role := principal.role_in(org_id)) is not None
    )
    return Me(
        username=principal.username,
        display_name=principal.display_name,
        is_admin=principal.is_admin,
        locale=principal.locale,
        organisations=memberships,
    )


def visible_collections(
    app: Application, principal: Principal, organisation: str | None = None
) -> list[VisibleCollection]:
    """The collections of the person's organisations (an organisation they do not belong to,
    or an unknown one: NotFound)."""
    roles = {m.organisation: m.role for m in me(app, principal).organisations}
    if organisation is not None and organisation not in roles:
        raise NotFound(f"no organisation {organisation!r}")
    return [
        VisibleCollection(
            organisation=c.organisation,
            slug=c.slug,
            title=c.title,
            description=c.description,
            locations=tuple(c.locations),
            packages=c.packages,
            role=roles[c.organisation],
        )
        for c in list_collections(app, organisation)
        if c.organisation in roles
    ]


def idempotency_key(principal: Principal, action: str, client_key: str | None) -> str | None:
    """The job's idempotency key for a client's ``Idempotency-Key``: per person and action, so
    two people (or two actions) using the same key never share a job."""
    if client_key is None:
        return None
    key = client_key.strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise InvalidInput(
            f"the Idempotency-Key header must be 1 to {MAX_IDEMPOTENCY_KEY} printable characters"
        )
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    return f"api:{principal.user_id}:{action}:{digest}"


def request_id(principal: Principal, action: str, client_key: str | None) -> str | None:
    """A short id of the client's ``Idempotency-Key`` (per person and action) for services
    that take a request id rather than a job key (a server-folder ingest)."""
    key = idempotency_key(principal, action, client_key)
    return hashlib.sha256(key.encode()).hexdigest()[:32] if key else None


def queue_package_fixity(
    app: Application,
    principal: Principal,
    package_id: str,
    *,
    client_key: str | None = None,
    now: datetime | None = None,
) -> jobs.JobRecord:
    """Queue a fixity check of every copy of one package as ``principal`` (archivist or more in
    its organisation: :func:`preserve.services.package_view.run_fixity`, which gives the waiting
    job while one waits or runs). The same ``client_key`` again returns the job it first gave,
    even once that job has ended."""
    from preserve.services.package_view import run_fixity

    key = idempotency_key(principal, f"fixity:{package_id}", client_key)
    if key is not None:
        with app.uow() as uow:
            known = uow.jobs.by_idempotency_key(key)
            if known is not None:
                return jobs._record(known)
    queued = run_fixity(app, principal, package_id, now=now)
    if key is not None:
        with app.uow() as uow:
            job = uow.session.get(Job, queued.job_id)
            if job is not None and job.idempotency_key is None:
                job.idempotency_key = key
                try:
                    uow.commit()
                except sa.exc.IntegrityError:  # the same key sent twice at once: the other won
                    uow.rollback()
                    known = uow.jobs.by_idempotency_key(key)
                    if known is not None:
                        return jobs._record(known)
    return jobs.show(app, queued.job_id)
