"""The package list: browse and search (``/packages``), a GET form that works without
JavaScript. One call of :func:`preserve.services.search.search_packages`; its refusals (a bad
date, page 0, an unknown collection) are shown above the form with status 400."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from preserve.web.context import application, principal

from preserve.errors import InvalidInput
from preserve.services import collections_view
from preserve.services.search import (
    DEFAULT_PER_PAGE,
    SORTS,
    STATUSES,
    PackageQuery,
    parse_day,
    parse_int,
    search_packages,
)

bp = Blueprint("packages", __name__)

#: the form's fields (query string names) and the PackageQuery fields they fill
TEXT_FIELDS = {
    "q": "text",
    "organisation": "organisation",
    "collection": "collection",
    "puid": "puid",
    "format": "format_name",
    "mime": "mime",
    "creator": "creator",
    "date_from": "date_from",
    "date_to": "date_to",
    "status": "status",
    "sort": "sort",
}


def _query(args: Any) -> PackageQuery:
    values: dict[str, Any] = {
        field: (args.get(name) or "").strip() or None for name, field in TEXT_FIELDS.items()
    }
    values["text"] = values["text"] or ""
    if values["collection"] and "/" in values["collection"]:  # "organisation/collection"
        org, _sep, coll = values["collection"].partition("/")
        values["organisation"] = values["organisation"] or org
        values["collection"] = coll
    return PackageQuery(
        **values,
        ingested_from=parse_day(args.get("ingested_from"), _("ingested from")),
        ingested_to=parse_day(args.get("ingested_to"), _("ingested to")),
        page=parse_int(args.get("page"), "page", 1),
        per_page=parse_int(args.get("per_page"), "per_page", DEFAULT_PER_PAGE),
        exact_count=_exact_count(args.get("count")),
    )


def _exact_count(value: str | None) -> bool:
    """``count=exact``: count every match (else counting stops at a thousand)."""
    if not value:
        return False
    if value != "exact":
        raise InvalidInput(
            _(
                "there is no count %(value)s: give count=exact to count every match",
                value=repr(value[:50]),
            )
        )
    return True


@bp.route("/packages")
@login_required
def index() -> Any:
    app, who = application(), principal()
    error = None
    result = None
    try:
        query = _query(request.args)
        result = search_packages(app, who, query)
    except InvalidInput as exc:
        error = str(exc)
    collections = collections_view.list_collections(app, who, holdings=False)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    count_all: dict[str, Any] = {**args, "count": "exact"}
    body = render_template(
        "packages/index.html",
        result=result,
        error=error,
        args=args,
        form=request.args,
        count_all_url=url_for("packages.index", **count_all),
        collections=collections,
        statuses=STATUSES,
        sorts=SORTS,
        searched=bool((request.args.get("q") or "").strip()),
    )
    return (body, 400) if error else body
