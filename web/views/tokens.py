"""The personal API tokens page (``/account/tokens``): list, make (the token is shown once,
on the page that answers the form, and never again), revoke."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from preserve.web.context import application, audit, principal
from werkzeug.wrappers import Response

from preserve.errors import InvalidInput
from preserve.services import tokens

bp = Blueprint("tokens", __name__)

#: Longest expiry offered (about ten years).
MAX_EXPIRY_DAYS = 3650


def _form_errors(name: str, days: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    try:
        tokens.check_name(name)
    except InvalidInput:
        errors["name"] = _(
            "Give the token a name of 1 to 100 characters, e.g. the script that will use it."
        )
    wanted = days.strip()
    if wanted and (not wanted.isdigit() or not 1 <= int(wanted) <= MAX_EXPIRY_DAYS):
        errors["expires_days"] = _(
            "Enter a number of days from 1 to %(most)s, or nothing for no expiry.",
            most=MAX_EXPIRY_DAYS,
        )
    return errors


def _page(
    errors: dict[str, str] | None = None,
    values: Any = None,
    created: tuple[str, tokens.TokenInfo] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    me = principal()
    found = tokens.list_tokens(application(), me)
    now = datetime.now(UTC)
    html = render_template(
        "tokens/index.html",
        tokens=[(t, t.state(now)) for t in found],
        errors=errors or {},
        values=values or {},
        created=created,
        max_days=MAX_EXPIRY_DAYS,
    )
    return html, status


@bp.route("/account/tokens", methods=["GET"])
@login_required
def index() -> Any:
    return _page()


@bp.route("/account/tokens", methods=["POST"])
@login_required
def create() -> Any:
    name = request.form.get("name", "")
    days = request.form.get("expires_days", "")
    errors = _form_errors(name, days)
    if errors:
        return _page(errors, request.form, status=400)
    expires = datetime.now(UTC) + timedelta(days=int(days)) if days.strip() else None
    text, info = tokens.create_token(application(), principal(), name, expires)
    audit("token.create", object_type="token", object_id=str(info.id), prefix=info.prefix)
    response = _page(created=(text, info), status=201)
    return response[0], 201, {"Cache-Control": "no-store"}


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke(token_id: int) -> Response:
    info = tokens.revoke_token(application(), principal(), token_id)
    audit("token.revoke", object_type="token", object_id=str(info.id), prefix=info.prefix)
    flash(_("The token “%(name)s” is revoked: it no longer works.", name=info.name), "success")
    return redirect(url_for("tokens.index"))
