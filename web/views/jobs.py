"""Jobs and alerts: the list, a job's page (with a JSON twin its script polls for live
progress), cancel and retry; the alerts and their acknowledgement. Who sees and may do what is
decided by :mod:`preserve.services.job_view`."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from preserve.web.context import application, audit, principal
from werkzeug.wrappers import Response

from preserve.catalogue.models import ALERT_KINDS, JOB_KINDS, JOB_STATES
from preserve.errors import InvalidInput
from preserve.services import job_view
from preserve.services.runner import no_worker_running

bp = Blueprint("jobs", __name__)


def _page_number() -> int:
    text = request.args.get("page", "1")
    if not text.isdigit() or not 1 <= int(text) <= 1_000_000:
        raise InvalidInput(_("Page %(page)s does not exist.", page=text[:20]))
    return int(text)


def _choice(name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.args.get(name) or None
    if value is not None and value not in allowed:
        raise InvalidInput(_("There is no %(name)s %(value)s.", name=name, value=repr(value[:40])))
    return value


@bp.route("/jobs")
@login_required
def index() -> Any:
    state = _choice("state", JOB_STATES)
    kind = _choice("kind", JOB_KINDS)
    page = job_view.list_jobs(
        application(), principal(), state=state, kind=kind, page=_page_number()
    )
    return render_template(
        "jobs/index.html",
        page=page,
        states=JOB_STATES,
        kinds=JOB_KINDS,
        no_worker=no_worker_running(application()),
    )


def _job_json(view: job_view.JobView) -> dict[str, Any]:
    j = view.job
    return {
        "id": j.id,
        "kind": j.kind,
        "state": j.state,
        "package_id": j.package_id,
        "organisation": view.organisation,
        "requested_by": j.requested_by,
        "attempts": j.attempts,
        "max_attempts": j.max_attempts,
        "cancel_requested": j.cancel_requested,
        "files_done": j.files_done,
        "files_total": j.files_total,
        "bytes_done": j.bytes_done,
        "bytes_total": j.bytes_total,
        "error": j.error,
        "result": j.result,
        "created_at": j.created_at.isoformat(),
        "started_at": j.started_at.isoformat() if j.started_at else None,
        "finished_at": j.finished_at.isoformat() if j.finished_at else None,
        "active": view.active,
    }


@bp.route("/jobs/<job_id>")
@login_required
def show(job_id: str) -> Any:
    view = job_view.get_job(application(), principal(), job_id)
    return render_template("jobs/show.html", view=view, job=view.job)


@bp.route("/jobs/<job_id>.json")
@login_required
def show_json(job_id: str) -> Response:
    """The job's state and progress, polled by ``jobs.js`` while the job runs."""
    view = job_view.get_job(application(), principal(), job_id)
    data = _job_json(view)
    data["progress_html"] = render_template("jobs/_progress.html", job=view.job, view=view)
    response = jsonify(data)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/jobs/<job_id>/cancel", methods=["POST"])
@login_required
def cancel(job_id: str) -> Response:
    view = job_view.cancel_job(application(), principal(), job_id)
    audit("job.cancel", object_type="job", object_id=view.job.id)
    if view.job.state == "cancelled":
        flash(_("The job was cancelled."), "success")
    else:
        flash(_("The job was asked to stop: it stops at its next step."), "success")
    return redirect(url_for("jobs.show", job_id=view.job.id))


@bp.route("/jobs/<job_id>/retry", methods=["POST"])
@login_required
def retry(job_id: str) -> Response:
    view = job_view.retry_job(application(), principal(), job_id)
    audit("job.retry", object_type="job", object_id=view.job.id)
    flash(_("The job was queued again."), "success")
    return redirect(url_for("jobs.show", job_id=view.job.id))


@bp.route("/alerts")
@login_required
def alerts() -> Any:
    show_what = request.args.get("show", "open")
    if show_what not in ("open", "acknowledged", "all"):
        raise InvalidInput(_("Show open, acknowledged or all alerts."))
    kind = _choice("kind", ALERT_KINDS)
    page = job_view.list_alerts(
        application(), principal(), show=show_what, kind=kind, page=_page_number()
    )
    return render_template("jobs/alerts.html", page=page, kinds=ALERT_KINDS)


@bp.route("/alerts/<int:alert_id>/acknowledge", methods=["POST"])
@login_required
def acknowledge(alert_id: int) -> Response:
    if alert_id > 2**62:
        abort(404)
    view = job_view.acknowledge_alert(application(), principal(), alert_id)
    audit("alert.acknowledge", object_type="alert", object_id=str(view.alert.id))
    flash(_("Alert acknowledged."), "success")
    return redirect(url_for("jobs.alerts"))
