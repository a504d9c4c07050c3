"""The dashboard (``/``): holdings, copies, fixity coverage and failures, damaged packages,
charts, recent ingests, running jobs and open alerts, for what the person sees
(:func:`preserve.services.dashboard.dashboard`). The charts' numbers are also tables; their
data reach ``dashboard.js`` as JSON in a ``<script type="application/json">`` element (the
Content-Security-Policy allows no inline script)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from preserve.web.context import application, principal

from preserve.services import dashboard as dashboard_service
from preserve.services import notifications
from preserve.services.runner import no_worker_running

bp = Blueprint("dashboard", __name__)


def _charts(summary: dashboard_service.Summary) -> dict[str, Any]:
    """What dashboard.js draws (labels already in the person's language)."""
    formats = [
        {
            "label": (
                _("other formats")
                if f.name == "*"
                else (f.name or _("unidentified")) + (f" ({f.puid})" if f.puid else "")
            ),
            "files": f.files,
            "bytes": f.bytes,
        }
        for f in summary.formats
    ]
    return {
        "months": {
            "labels": [m.month for m in summary.months],
            "total": [m.total for m in summary.months],
            "label": _("Bytes kept"),
        },
        "formats": {
            "labels": [f["label"] for f in formats],
            "files": [f["files"] for f in formats],
            "label": _("Files"),
        },
        "coverage": {
            "labels": [_("Checked within their interval"), _("Not checked in time")],
            "values": [summary.checked_in_time, summary.copies - summary.checked_in_time],
        },
    }


@bp.route("/")
def index() -> Any:
    if not current_user.is_authenticated:
        return redirect(url_for("auth.sign_in"))
    data = dashboard_service.dashboard(application(), principal())
    return render_template(
        "dashboard/index.html",
        d=data,
        s=data.summary,
        charts=_charts(data.summary),
        ttl=int(dashboard_service.SUMMARY_TTL),
        no_worker=no_worker_running(application()),
        awaiting=notifications.awaiting(application(), principal()),
    )
