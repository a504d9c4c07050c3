"""The ingest page: upload a folder (or files) with a description, follow its ingest, resume or
discard an unfinished upload; or ingest from a server-side folder an administrator allowed.

The files travel through the tus server (``web/tus.py``); the page's script (``ingest.js``)
opens a transfer here, uploads into it, completes it and polls its status. Each route is one
call of :mod:`preserve.services.transfers`.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required
from preserve.web.context import application, audit, principal, settings
from preserve.web.errors import error_page, problem, status_of
from werkzeug.wrappers import Response

from preserve.errors import InvalidInput, PreserveError
from preserve.services import transfers

bp = Blueprint("ingest", __name__)

#: The endpoints the page's script calls: their errors are problem+json documents.
JSON_ENDPOINTS = frozenset(
    {"ingest.create_transfer", "ingest.transfer_json", "ingest.transfer_status"}
)


@bp.errorhandler(PreserveError)
def errors(error: PreserveError) -> Response:
    """The script's calls get ``application/problem+json``; pages get the error page."""
    status = status_of(error)
    titles = {
        400: _("The request is not valid"),
        403: _("Not allowed"),
        404: _("Not found"),
        409: _("Already exists"),
        410: _("The upload is gone"),
        413: _("Too large"),
        503: _("A service is unavailable"),
    }
    title = titles.get(status, _("Something went wrong"))
    wants = (
        request.endpoint in JSON_ENDPOINTS
        or request.is_json
        or request.accept_mimetypes.best == "application/json"
    )
    if wants:
        return problem(status, title, str(error))
    return error_page(status, title, str(error))


def fields() -> list[dict[str, Any]]:
    """The description form's fields, labelled in the person's language."""
    return [
        {
            "name": "title",
            "label": _("Title"),
            "help": _("What the delivery is called, e.g. Glass plates of Ghent, 1923."),
            "many": False,
        },
        {
            "name": "creator",
            "label": _("Creator"),
            "help": _("Who made it: a person or an organisation. One per line."),
            "many": True,
        },
        {
            "name": "date",
            "label": _("Date"),
            "help": _("When it was made: a year (1923), a date (1923-05-01) or a range."),
            "many": False,
        },
        {
            "name": "description",
            "label": _("Description"),
            "help": _("A few sentences about the content."),
            "many": False,
        },
        {
            "name": "subject",
            "label": _("Subjects"),
            "help": _("Keywords, one per line."),
            "many": True,
        },
        {
            "name": "identifier",
            "label": _("Identifier"),
            "help": _("Your own reference number, e.g. BE-GNT-1923."),
            "many": False,
        },
        {
            "name": "language",
            "label": _("Language"),
            "help": _("The language of the material, e.g. nl or fr. One per line."),
            "many": True,
        },
        {
            "name": "rights",
            "label": _("Rights"),
            "help": _("Copyright or licence, e.g. CC BY 4.0 or In copyright."),
            "many": False,
        },
    ]


def _description(form: Any) -> dict[str, str]:
    names = {f["name"] for f in fields()}
    return {name: str(form.get(name) or "") for name in names if form.get(name)}


def _transfer_json(t: transfers.TransferRecord) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "state": t.state,
        "organisation": t.organisation,
        "collection": t.collection,
        "description": t.description,
        "metadata_path": t.metadata_path,
        "job_id": t.job_id,
        "files": t.files,
        "bytes_received": t.bytes_received,
        "bytes_total": t.bytes_total,
        "created_at": t.created_at.isoformat(),
        "updated_at": t.updated_at.isoformat(),
        "expires_at": t.expires_at.isoformat() if t.expires_at else None,
        "uploads": [
            {
                "id": u.id,
                "relative_path": u.relative_path,
                "length": u.length,
                "offset": u.offset,
                "complete": u.complete,
            }
            for u in t.uploads
        ],
        "status_url": url_for("ingest.transfer_status", transfer_id=t.id),
        "complete_url": url_for("ingest.complete", transfer_id=t.id),
        "page_url": url_for("ingest.transfer_page", transfer_id=t.id),
    }


def _status_json(s: transfers.TransferStatus) -> dict[str, Any]:
    job = s.job
    return {
        "transfer": _transfer_json(s.transfer),
        "phase": s.phase,
        "job": None
        if job is None
        else {
            "id": job.id,
            "state": job.state,
            "files_done": job.files_done,
            "files_total": job.files_total,
            "bytes_done": job.bytes_done,
            "bytes_total": job.bytes_total,
            "attempts": job.attempts,
            "error": job.error,
        },
        "packages": [
            {"id": p, "url": _package_url(p), "duplicate": p in s.duplicate_ids}
            for p in s.package_ids
        ],
        "description_not_applied": s.description_not_applied,
        "problems": [{"path": p.path, "message": p.message, "code": p.code} for p in s.problems],
    }


def _package_url(package_id: str) -> str:
    if _has("package.show"):
        return url_for("package.show", package_id=package_id)
    return f"/packages/{package_id}"


def _has(endpoint: str) -> bool:
    from flask import current_app

    return endpoint in current_app.view_functions


def _int_or_none(value: Any, name: str) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise InvalidInput(_("%(name)s must be a whole number", name=name))


@bp.route("/ingest")
@login_required
def index() -> Any:
    app, who = application(), principal()
    folder_names = transfers.ingest_folders(app, who)
    listing = None
    folder = request.args.get("folder")
    if folder:
        listing = transfers.list_folder(app, who, folder, request.args.get("path", ""))
    return render_template(
        "ingest/index.html",
        collections=transfers.collections_for_ingest(app, who),
        fields=fields(),
        unfinished=transfers.open_transfers(app, who),
        folders=folder_names,
        listing=listing,
        request_id=uuid.uuid4().hex,
        chunk_size=32 * 1024 * 1024,
        max_size=settings().upload_max_size,
    )


@bp.route("/ingest/transfers", methods=["POST"])
@login_required
def create_transfer() -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput(_("Send the transfer as a JSON object."))
    description = body.get("description") or {}
    if not isinstance(description, dict):
        raise InvalidInput(_("The description must be an object of Dublin Core fields."))
    record = transfers.create_transfer(
        application(),
        principal(),
        collection=str(body.get("collection") or ""),
        name=str(body.get("name") or ""),
        description=description,
        metadata_path=body.get("metadata_path") or None,
        expected_files=_int_or_none(body.get("expected_files"), "expected_files"),
        expected_bytes=_int_or_none(body.get("expected_bytes"), "expected_bytes"),
        new_version_of=body.get("new_version_of") or None,
        request_id=str(body.get("request_id") or "") or None,
    )
    audit(
        "transfer.create",
        object_type="transfer",
        object_id=record.id,
        organisation_id=record.organisation_id,
        collection=record.collection,
        name=record.name,
    )
    return jsonify(_transfer_json(record)), 201


@bp.route("/ingest/transfers/<transfer_id>")
@login_required
def transfer_json(transfer_id: str) -> Any:
    return jsonify(_transfer_json(transfers.get_transfer(application(), principal(), transfer_id)))


@bp.route("/ingest/transfers/<transfer_id>/status")
@login_required
def transfer_status(transfer_id: str) -> Any:
    return jsonify(_status_json(transfers.status(application(), principal(), transfer_id)))


@bp.route("/ingest/transfers/<transfer_id>/complete", methods=["POST"])
@login_required
def complete(transfer_id: str) -> Any:
    record = transfers.complete(application(), principal(), transfer_id)
    audit(
        "transfer.complete",
        object_type="transfer",
        object_id=record.id,
        organisation_id=record.organisation_id,
        job_id=record.job_id,
        files=record.files,
        bytes=record.bytes_total,
    )
    if request.is_json or request.accept_mimetypes.best == "application/json":
        return jsonify(_transfer_json(record)), 202
    return redirect(url_for("ingest.transfer_page", transfer_id=record.id))


@bp.route("/ingest/transfers/<transfer_id>/retry", methods=["POST"])
@login_required
def retry(transfer_id: str) -> Response:
    record = transfers.retry(application(), principal(), transfer_id)
    audit("transfer.retry", object_type="transfer", object_id=record.id, job_id=record.job_id)
    flash(_("The ingest will be tried again."), "success")
    return redirect(url_for("ingest.transfer_page", transfer_id=record.id))


@bp.route("/ingest/transfers/<transfer_id>/discard", methods=["POST"])
@login_required
def discard(transfer_id: str) -> Any:
    record = transfers.discard_transfer(application(), principal(), transfer_id)
    audit(
        "transfer.discard",
        object_type="transfer",
        object_id=record.id,
        organisation_id=record.organisation_id,
    )
    if request.is_json:
        return jsonify(_transfer_json(record))
    flash(
        _("The transfer %(name)s was discarded and its files removed.", name=record.name), "success"
    )
    return redirect(url_for("ingest.index"))


@bp.route("/ingest/transfers/<transfer_id>/page")
@login_required
def transfer_page(transfer_id: str) -> Any:
    found = transfers.status(application(), principal(), transfer_id)
    return render_template("ingest/transfer.html", status=found)


@bp.route("/ingest/folder", methods=["POST"])
@login_required
def from_folder() -> Response:
    form = request.form
    job = transfers.ingest_from_folder(
        application(),
        principal(),
        folder=form.get("folder", ""),
        path=form.get("path", ""),
        collection=form.get("collection", ""),
        description=_description(form),
        request_id=form.get("request_id") or None,
    )
    audit(
        "ingest.folder",
        object_type="job",
        object_id=job.id,
        folder=form.get("folder", ""),
        path=form.get("path", ""),
    )
    flash(_("The ingest was queued as job %(id)s.", id=job.id[:8]), "success")
    if _has("jobs.show"):
        return redirect(url_for("jobs.show", job_id=job.id))
    return redirect(url_for("ingest.index"))
