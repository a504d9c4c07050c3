"""What a view needs from the request: the application, the signed-in person, the audit log."""

from __future__ import annotations

from typing import Any

from flask import current_app, g, request
from flask_login import current_user
from preserve.config.settings import Settings

from preserve.bootstrap import Application
from preserve.services import audit as audit_service
from preserve.services.access import Principal


def application() -> Application:
    """The process's application (engine, sessions, storage), built once by ``create_app``."""
    return current_app.extensions["preserve"]


def settings() -> Settings:
    return current_app.extensions["preserve.settings"]


def principal() -> Principal:
    """The signed-in person (views behind ``login_required``; API views set ``g.principal``)."""
    found: Principal | None = g.get("principal")
    if found is not None:
        return found
    if current_user.is_authenticated:
        return current_user.principal
    raise RuntimeError("principal() outside a signed-in request")


def principal_or_none() -> Principal | None:
    if g.get("principal") is not None:
        return g.principal
    return current_user.principal if current_user.is_authenticated else None


def audit(
    action: str,
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    organisation_id: int | None = None,
    username: str | None = None,
    **detail: Any,
) -> None:
    """Record what the signed-in person (or, before sign-in, ``username``) did."""
    audit_service.record(
        application(),
        principal_or_none(),
        action,
        object_type=object_type,
        object_id=object_id,
        organisation_id=organisation_id,
        remote_addr=request.remote_addr,
        channel=g.get("channel", "web"),
        username=username,
        detail=detail,
    )


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/uploads/")
