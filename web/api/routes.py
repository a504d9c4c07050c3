"""The API's routes: each turns a request into one service call and its result into JSON."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from preserve.web.api import bp
from preserve.web.api.base import LINK_HEADER, paginated, problems
from preserve.web.api.schemas import (
    CollectionArgs,
    CollectionListSchema,
    FixityRequestSchema,
    JobArgs,
    JobListSchema,
    JobSchema,
    MeSchema,
)
from preserve.web.context import application, audit, principal

from preserve.services import job_view, scripting

IDEMPOTENCY_KEY = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "schema": {"type": "string", "maxLength": scripting.MAX_IDEMPOTENCY_KEY},
    "description": "Send the same key again (a retried request) to get the job the first "
    "request made instead of a second one.",
}


def idempotency_key() -> str | None:
    return request.headers.get("Idempotency-Key")


# ------------------------------------------------------------------------------- who am I


@bp.route("/me", methods=["GET"])
@bp.response(200, MeSchema)
@problems()
def me() -> Any:
    """The person the token acts for, with their role in each organisation."""
    return scripting.me(application(), principal())


@bp.route("/collections", methods=["GET"])
@bp.arguments(CollectionArgs, location="query")
@bp.response(200, CollectionListSchema)
@problems(400, 404)
def collections(args: dict[str, Any]) -> Any:
    """The collections of your organisations."""
    found = scripting.visible_collections(application(), principal(), args.get("organisation"))
    return {"items": found}


# ------------------------------------------------------------------------------- jobs


def job_body(view: job_view.JobView) -> dict[str, Any]:
    job = view.job
    progress = None
    if job.state == "succeeded":
        progress = 1.0
    elif job.bytes_total:
        progress = min(1.0, job.bytes_done / job.bytes_total)
    elif job.files_total:
        progress = min(1.0, job.files_done / job.files_total)
    return {
        "id": job.id,
        "kind": job.kind,
        "state": job.state,
        "package_id": job.package_id,
        "organisation": view.organisation,
        "requested_by": job.requested_by,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "cancel_requested": job.cancel_requested,
        "files_done": job.files_done,
        "files_total": job.files_total,
        "bytes_done": job.bytes_done,
        "bytes_total": job.bytes_total,
        "progress": progress,
        "result": job.result,
        "error": job.error,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "url": url_for("api.job", job_id=job.id, _external=True),
    }


def queued(view: job_view.JobView) -> tuple[dict[str, Any], int, dict[str, str]]:
    """A 202 with the job and its URL in ``Location``."""
    body = job_body(view)
    return body, 202, {"Location": body["url"]}


@bp.route("/jobs", methods=["GET"])
@bp.arguments(JobArgs, location="query")
@bp.response(200, JobListSchema, headers=LINK_HEADER)
@problems(400)
def jobs(args: dict[str, Any]) -> Any:
    """Jobs you may see, newest first: those of your organisations' packages and those you
    asked for (a repository admin: all)."""
    found = job_view.list_jobs(
        application(),
        principal(),
        state=args.get("state"),
        kind=args.get("kind"),
        package_id=args.get("package"),
        page=args["page"],
        page_size=args["per_page"],
    )
    body = {
        "items": [job_body(v) for v in found.jobs],
        "page": found.page,
        "per_page": args["per_page"],
    }
    return paginated(body, "api.jobs", found.page, found.has_next)


@bp.route("/jobs/<job_id>", methods=["GET"])
@bp.response(200, JobSchema)
@problems(404)
def job(job_id: str) -> Any:
    """A job's state and progress (poll it until ``state`` is succeeded, failed or
    cancelled)."""
    return job_body(job_view.get_job(application(), principal(), job_id))


# ------------------------------------------------------------------------------- fixity


@bp.route("/packages/<package_id>/fixity", methods=["POST"])
@bp.arguments(FixityRequestSchema, required=False)
@bp.response(202, JobSchema, headers={"Location": {"schema": {"type": "string"}}})
@bp.doc(parameters=[IDEMPOTENCY_KEY])
@problems(400, 403, 404)
def fixity(args: dict[str, Any], package_id: str) -> Any:
    """Queue a fixity check of every copy of the package (archivist or more in its
    organisation). Answers 202 with the job; poll it at ``Location``."""
    app, who = application(), principal()
    record = scripting.queue_package_fixity(
        app,
        who,
        package_id,
        all_digests=args.get("all_digests", False),
        client_key=idempotency_key(),
    )
    audit("package.fixity", object_type="package", object_id=package_id, job=record.id)
    return queued(job_view.get_job(app, who, record.id))
