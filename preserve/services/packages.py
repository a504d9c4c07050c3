"""Packages: list and show what is kept (exporting one is :mod:`preserve.services.export`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from preserve.bootstrap import Application
from preserve.errors import (
    NotFound,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackageSummary:
    id: str
    organisation: str
    collection: str
    title: str
    status: str
    version: int
    files: int
    bytes: int
    copies: int
    verified_copies: int
    created_at: datetime
    stored_at: datetime | None


@dataclass(frozen=True)
class FileDetail:
    path: str
    role: str
    size: int
    sha512: str | None
    sha256: str | None
    puid: str | None
    mime: str | None
    format_name: str | None
    format_version: str | None
    image: dict[str, Any] | None


@dataclass(frozen=True)
class CopyDetail:
    location: str
    url: str
    key_prefix: str
    status: str
    verified_by: str | None
    verified_at: datetime | None
    last_checked_at: datetime | None
    last_outcome: str | None


@dataclass(frozen=True)
class EventDetail:
    id: str
    event_type: str
    occurred_at: datetime
    outcome: str
    detail: str
    outcome_detail: str
    agent: str


@dataclass(frozen=True)
class PackageDetail:
    summary: PackageSummary
    external_identifier: str | None
    source: str | None
    description: dict[str, list[str]]
    bag_info: tuple[tuple[str, str], ...]
    files: tuple[FileDetail, ...]
    copies: tuple[CopyDetail, ...]
    events: tuple[EventDetail, ...]


def _summary(uow: Any, p: Any) -> PackageSummary:
    copies = uow.copies.for_package(p.id)
    coll = p.collection
    return PackageSummary(
        id=p.id,
        organisation=coll.organisation.slug,
        collection=coll.slug,
        title=p.title,
        status=p.status,
        version=p.version,
        files=p.file_count,
        bytes=p.size,
        copies=len(copies),
        verified_copies=sum(c.status == "verified" for c in copies),
        created_at=p.created_at,
        stored_at=p.stored_at,
    )


def list_packages(
    app: Application, collection: str | None = None, organisation: str | None = None
) -> list[PackageSummary]:
    with app.uow() as uow:
        if collection is not None:
            org = organisation or app.settings.organisation
            coll = uow.collections.get(org, collection)
            if coll is None:
                raise NotFound(f"collection {collection!r} does not exist in {org!r}")
            packages = uow.packages.list(collection_id=coll.id)
        else:
            packages = uow.packages.list()
        return [_summary(uow, p) for p in packages]


def show_package(app: Application, package_id: str) -> PackageDetail:
    with app.uow() as uow:
        p = uow.packages.get(package_id)
        if p is None:
            raise NotFound(f"package {package_id} does not exist")
        files = tuple(
            FileDetail(
                f.path,
                f.role,
                f.size,
                f.sha512,
                f.sha256,
                f.puid,
                f.mime,
                f.format_name,
                f.format_version,
                f.image,
            )
            for f in uow.files.iter_for_package(p.id)
        )
        copies = tuple(
            CopyDetail(
                c.location.name,
                c.location.url,
                c.key_prefix,
                c.status,
                c.verified_by,
                c.verified_at,
                c.last_checked_at,
                c.last_outcome,
            )
            for c in uow.copies.for_package(p.id)
        )
        events = tuple(
            EventDetail(
                e.id,
                e.event_type,
                e.occurred_at,
                e.outcome,
                e.detail or "",
                e.outcome_detail or "",
                f"{e.agent.name} {e.agent.version}",
            )
            for e in uow.events.for_package(p.id)
        )
        return PackageDetail(
            summary=_summary(uow, p),
            external_identifier=p.external_identifier,
            source=p.source,
            description=dict(p.description or {}),
            bag_info=tuple((k, v) for k, v in (p.bag_info or [])),
            files=files,
            copies=copies,
            events=events,
        )
