"""Storage locations (repository admins): what each holds, how well it is kept checked,
whether it answers; its fixity interval and hourly budget (the service behind
``preserve fixity schedule --location``)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from preserve.web.context import application, audit, principal

from preserve.services import location_view

bp = Blueprint("locations", __name__)

FIELD_MESSAGES = {
    "interval_days": lambda: _(
        "Give a whole number of days between 1 and 36500, or leave it empty."
    ),
    "bytes_per_hour": lambda: _("Give a size such as 500GB, 1.5TB or 200MiB, or leave it empty."),
}


def _page(errors: dict[str, dict[str, str]] | None = None, status: int = 200) -> Any:
    overview = location_view.overview(application(), principal())
    return render_template(
        "locations/index.html", overview=overview, errors=errors or {}, form=request.form
    ), status


@bp.route("/locations")
@login_required
def index() -> Any:
    return _page()


@bp.route("/locations/<name>/schedule", methods=["POST"])
@login_required
def schedule(name: str) -> Any:
    try:
        setting = location_view.set_schedule(
            application(),
            principal(),
            name,
            interval_days=request.form.get("interval_days", ""),
            bytes_per_hour=request.form.get("bytes_per_hour", ""),
        )
    except location_view.InvalidSchedule as exc:
        fields = {k: FIELD_MESSAGES[k]() for k in exc.fields}
        flash(_("The schedule of %(name)s was not changed.", name=name), "error")
        return _page({name: fields}, 400)
    audit(
        "location.schedule",
        object_type="location",
        object_id=name,
        interval_days=setting.interval_days,
        bytes_per_hour=setting.bytes_per_hour,
    )
    flash(_("The fixity schedule of %(name)s was saved.", name=name), "success")
    return redirect(url_for("locations.index"))
