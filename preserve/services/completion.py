"""Names for shell completion: collections, organisations, locations and package ids.

Completion runs on every press of Tab, often before ``preserve init`` or with the catalogue out
of reach: it answers with what it can find in one short query and never raises.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from preserve.bootstrap import Application
from preserve.catalogue.models import Collection, Organisation, Package, StorageLocation

log = logging.getLogger(__name__)

#: The most names offered at once (a shell lists them all).
LIMIT = 200


def _like(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def _query(app: Application, statement: Callable[[str], sa.Select[Any]], prefix: str) -> list[str]:
    try:
        with app.engine.connect() as connection:
            return list(connection.execute(statement(_like(prefix)).limit(LIMIT)).scalars())
    except Exception:  # no catalogue, not migrated, unreachable: offer nothing
        log.debug("no completion from the catalogue", exc_info=True)
        return []


def collection_names(app: Application, prefix: str, organisation: str | None = None) -> list[str]:
    """Collection slugs starting with ``prefix``: of ``organisation`` (a slug), or of every
    organisation when it is None."""

    def statement(like: str) -> sa.Select[Any]:
        stmt = sa.select(Collection.slug).where(Collection.slug.like(like, escape="\\"))
        if organisation is not None:
            stmt = stmt.join(Organisation, Organisation.id == Collection.organisation_id).where(
                Organisation.slug == organisation
            )
        return stmt

    return sorted(set(_query(app, statement, prefix)))


def organisation_names(app: Application, prefix: str) -> list[str]:
    return _query(
        app,
        lambda like: (
            sa.select(Organisation.slug)
            .where(Organisation.slug.like(like, escape="\\"))
            .order_by(Organisation.slug)
        ),
        prefix,
    )


def location_names(app: Application, prefix: str) -> list[str]:
    return _query(
        app,
        lambda like: (
            sa.select(StorageLocation.name)
            .where(StorageLocation.name.like(like, escape="\\"))
            .order_by(StorageLocation.name)
        ),
        prefix,
    )


def package_ids(app: Application, prefix: str) -> list[str]:
    """Ids of packages (newest first) starting with ``prefix`` (lower case, as stored)."""
    return _query(
        app,
        lambda like: (
            sa.select(Package.id)
            .where(Package.id.like(like.lower(), escape="\\"))
            .order_by(Package.created_at.desc())
        ),
        prefix,
    )
