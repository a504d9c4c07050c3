"""The API's routes: each turns a request into one service call and its result into JSON."""

from __future__ import annotations

from typing import Any

from flask import Response, request, url_for
from marshmallow import INCLUDE
from preserve.web.api import bp
from preserve.web.api.base import LINK_HEADER, page_link, paginated, problems
from preserve.web.api.schemas import (
    AgreementListArgs,
    AgreementListSchema,
    AgreementSchema,
    AgreementSpecSchema,
    AgreementStepSchema,
    AwaitingListSchema,
    BagArgs,
    CollectionArgs,
    CollectionListSchema,
    ComplianceArgs,
    ComplianceSchema,
    DeclarationArgs,
    DisposalArgs,
    DisposalDecisionSchema,
    DisposalExecuteSchema,
    DisposalListSchema,
    DisposalProposeSchema,
    DisposalSchema,
    DisposalWithdrawSchema,
    DocumentSchema,
    DocumentUploadSchema,
    ExitStatusSchema,
    FileArgs,
    HoldArgs,
    HoldCreateSchema,
    HoldLiftSchema,
    HoldListSchema,
    HoldSchema,
    IngestRequestSchema,
    JobArgs,
    JobListSchema,
    JobSchema,
    MeSchema,
    PackageArgs,
    PackageListSchema,
    PackageSchema,
    PackageSearchArgs,
    RestoreTestListSchema,
    TransferCreateSchema,
    TransferSchema,
)
from preserve.web.context import application, audit, principal

from preserve.services import downloads, job_view, package_view, scripting, search, transfers

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


# ------------------------------------------------------------------------------- packages


def _package_url(package_id: str) -> str:
    return url_for("api.package", package_id=package_id, _external=True)


@bp.route("/packages", methods=["GET"])
@bp.arguments(PackageSearchArgs, location="query")
@bp.response(200, PackageListSchema, headers=LINK_HEADER)
@problems(400)
def packages(args: dict[str, Any]) -> Any:
    """Find packages of your organisations: free text and filters (combined), newest first or
    by relevance when ``q`` is given."""
    found = search.search_packages(
        application(),
        principal(),
        search.PackageQuery(
            text=args.get("q", ""),
            organisation=args.get("organisation"),
            collection=args.get("collection"),
            puid=args.get("puid"),
            format_name=args.get("format"),
            mime=args.get("mime"),
            creator=args.get("creator"),
            date_from=args.get("date_from"),
            date_to=args.get("date_to"),
            ingested_from=args.get("ingested_from"),
            ingested_to=args.get("ingested_to"),
            status=args.get("status"),
            page=args["page"],
            per_page=args["per_page"],
            sort=args.get("sort"),
            exact_count=args["exact_count"],
        ),
    )
    body = {
        "items": [{**vars(h), "url": _package_url(h.id)} for h in found.items],
        "total": found.total,
        "total_exact": found.exact,
        "page": found.page,
        "per_page": found.per_page,
    }
    return paginated(body, "api.packages", found.page, found.has_next)


@bp.route("/packages/<package_id>", methods=["GET"])
@bp.arguments(PackageArgs, location="query")
@bp.response(200, PackageSchema)
@problems(400, 404)
def package(args: dict[str, Any], package_id: str) -> Any:
    """A package: its description, versions, copies, the latest events (all with
    ``all_events``) and one page of the files of the version asked for (under ``folder``)."""
    d = package_view.package_detail(
        application(),
        principal(),
        package_id,
        args.get("version"),
        folder=args.get("folder"),
        page=args["page"],
        per_page=args["per_page"],
        all_events=args["all_events"],
    )
    s, fp = d.summary, d.files
    has_next = fp.page < fp.pages
    return {
        "id": d.id,
        "organisation": d.organisation,
        "collection": d.collection,
        "title": s.title,
        "status": s.status,
        "damaged": s.is_damaged,
        "external_identifier": d.external_identifier,
        "version": d.version,
        "current_version": d.current_version,
        "files_count": s.files,
        "bytes": s.bytes,
        "created_at": s.created_at,
        "stored_at": s.stored_at,
        "description": d.description,
        "versions": [vars(v) for v in d.versions],
        "files": {
            "folder": fp.folder,
            "items": [
                {
                    **{k: getattr(e, k) for k in _FILE_FIELDS},
                    "download": url_for(
                        "api.package_file",
                        package_id=d.id,
                        path=e.path,
                        version=d.version,
                        _external=True,
                    ),
                }
                for e in fp.entries
            ],
            "page": fp.page,
            "per_page": fp.per_page,
            "total": fp.total,
            "next": page_link("api.package", fp.page + 1, package_id=d.id) if has_next else None,
        },
        "copies": [vars(c) for c in d.copies],
        "events": [vars(e) for e in d.events],
        "events_total": d.events_total,
        "bag": url_for("api.package_bag", package_id=d.id, version=d.version, _external=True),
    }


_FILE_FIELDS = (
    "id",
    "path",
    "role",
    "size",
    "format_name",
    "format_version",
    "puid",
    "mime",
    "sha256",
    "sha512",
    "image",
    "problems",
)


def _send(found: downloads.Download, package_id: str, what: str, **detail: Any) -> Response:
    audit(
        "download",
        object_type="package",
        object_id=package_id,
        organisation_id=getattr(found, "organisation_id", None),
        what=what,
        **detail,
    )
    response = Response(found.chunks, mimetype=found.mime, direct_passthrough=True)
    response.content_length = found.size
    response.headers["Content-Disposition"] = found.disposition
    response.headers["Cache-Control"] = "private, no-store"
    response.call_on_close(found.close)
    return response


BAG = (
    "The version as a complete BagIt bag (one folder) in a zip or tar archive, streamed. "
    "This is also how a package is exported."
)
FILE = "The file's bytes, with the MIME type recorded at ingest."
BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}


@bp.route("/packages/<package_id>/bag", methods=["GET"])
@bp.arguments(BagArgs, location="query")
@bp.response(200, description=BAG, content_type="application/zip")
@bp.doc(
    responses={
        "200": {
            "description": BAG,
            "content": {
                "application/zip": {"schema": {"type": "string", "format": "binary"}},
                "application/x-tar": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    }
)
@problems(400, 403, 404, 503)
def package_bag(args: dict[str, Any], package_id: str) -> Any:
    """Download (export) a version of the package as a bag; a PREMIS dissemination event."""
    found = downloads.download_bag(
        application(), principal(), package_id, args.get("version"), args["format"]
    )
    return _send(
        found,
        package_id,
        f"bag ({args['format']})",
        version=args.get("version"),
        filename=found.filename,
    )


@bp.route("/packages/<package_id>/files/<path:path>", methods=["GET"])
@bp.arguments(FileArgs, location="query")
@bp.response(200, description=FILE, content_type="application/octet-stream")
@bp.doc(responses={"200": {"description": FILE, "content": BINARY}})
@problems(400, 403, 404, 503)
def package_file(args: dict[str, Any], path: str, package_id: str) -> Any:
    """Download one file of a version of the package by its path in the bag (e.g.
    ``data/photo.tif``); a PREMIS dissemination event."""
    found = downloads.download_file(
        application(), principal(), package_id, path=path, version=args.get("version")
    )
    return _send(found, package_id, "file", path=path, version=args.get("version"))


# ------------------------------------------------------------------------------- fixity


@bp.route("/packages/<package_id>/fixity", methods=["POST"])
@bp.response(202, JobSchema, headers={"Location": {"schema": {"type": "string"}}})
@bp.doc(parameters=[IDEMPOTENCY_KEY])
@problems(400, 403, 404, 415)
def fixity(package_id: str) -> Any:
    """Queue a fixity check of every copy of the package now (archivist or more in its
    organisation). Answers 202 with the job; poll it at ``Location``. While a check of the
    package waits or runs, that job is given instead of a second one."""
    app, who = application(), principal()
    record = scripting.queue_package_fixity(app, who, package_id, client_key=idempotency_key())
    audit("package.fixity", object_type="package", object_id=package_id, job=record.id)
    return queued(job_view.get_job(app, who, record.id))


# ------------------------------------------------------------------------------- ingest


def _collection(organisation: str | None, collection: str) -> str:
    return f"{organisation}/{collection}" if organisation else collection


def transfer_body(status: transfers.TransferStatus) -> dict[str, Any]:
    t = status.transfer
    return {
        "id": t.id,
        "organisation": t.organisation,
        "collection": t.collection,
        "name": t.name,
        "state": t.state,
        "phase": status.phase,
        "files": t.files,
        "files_complete": t.files_complete,
        "bytes_received": t.bytes_received,
        "bytes_total": t.bytes_total,
        "created_at": t.created_at,
        "expires_at": t.expires_at,
        "job": url_for("api.job", job_id=t.job_id, _external=True) if t.job_id else None,
        "package_ids": list(status.package_ids),
        "problems": [vars(p) for p in status.problems],
        "upload_url": url_for("tus.create", _external=True),
        "url": url_for("api.transfer", transfer_id=t.id, _external=True),
    }


@bp.route("/transfers", methods=["POST"])
@bp.arguments(TransferCreateSchema)
@bp.response(201, TransferSchema, headers={"Location": {"schema": {"type": "string"}}})
@problems(400, 403, 404, 413, 415)
def create_transfer(args: dict[str, Any]) -> Any:
    """Open a transfer into a collection (archivist or more): upload its files with tus to
    ``upload_url`` (``Upload-Metadata``: ``transfer_id``, ``relativePath``), then start the
    ingest with ``POST /ingests``."""
    app, who = application(), principal()
    record = transfers.create_transfer(
        app,
        who,
        collection=_collection(args.get("organisation"), args["collection"]),
        name=args["name"],
        description=args.get("description"),
        expected_files=args.get("expected_files"),
        expected_bytes=args.get("expected_bytes"),
        new_version_of=args.get("new_version_of"),
    )
    audit(
        "transfer.create",
        object_type="transfer",
        object_id=record.id,
        organisation_id=record.organisation_id,
    )
    body = transfer_body(transfers.status(app, who, record.id))
    return body, 201, {"Location": body["url"]}


@bp.route("/transfers/<transfer_id>", methods=["GET"])
@bp.response(200, TransferSchema)
@problems(404)
def transfer(transfer_id: str) -> Any:
    """A transfer of yours: its uploads so far, its ingest job, the package it made or the
    problems per file."""
    return transfer_body(transfers.status(application(), principal(), transfer_id))


@bp.route("/ingests", methods=["POST"])
@bp.arguments(IngestRequestSchema)
@bp.response(202, JobSchema, headers={"Location": {"schema": {"type": "string"}}})
@bp.doc(parameters=[IDEMPOTENCY_KEY])
@problems(400, 403, 404, 409, 415, 422)
def ingest(args: dict[str, Any]) -> Any:
    """Start an ingest (archivist or more): of a transfer whose uploads are complete
    (``transfer_id``; asking again gives the same job), or of a folder or file inside a server
    folder the administrators allowed (``folder``, ``path``, ``collection``; the same
    ``Idempotency-Key`` again gives the same job). Answers 202 with the job."""
    app, who = application(), principal()
    if "transfer_id" in args:
        record = transfers.complete(app, who, args["transfer_id"])
        assert record.job_id is not None
        job_id = record.job_id
        audit(
            "ingest",
            object_type="transfer",
            object_id=record.id,
            organisation_id=record.organisation_id,
            job=job_id,
        )
    else:
        described = dict(args.get("description") or {})
        if args.get("title"):
            described["title"] = [args["title"]]
        request_id = scripting.request_id(who, "ingest-folder", idempotency_key())
        job = transfers.ingest_from_folder(
            app,
            who,
            folder=args["folder"],
            path=args["path"],
            collection=_collection(args.get("organisation"), args["collection"]),
            description=described,
            request_id=request_id,
        )
        job_id = job.id
        audit(
            "ingest", object_type="folder", object_id=f"{args['folder']}:{args['path']}", job=job_id
        )
    return queued(job_view.get_job(app, who, job_id))


# ------------------------------------------------------------------ agreements and holds (issue 12)
# Each route is one call of preserve.services.agreements or .holds (and agreement_view for what a
# page shows); a refused step is 409 naming the guard (a refused proposal lists every missing
# item in ``problems``), refused input 422, no right 403, an agreement one may not see 404.


def _agreement_ident(reference: str, version: int | None = None) -> str:
    return reference if version is None else f"{reference}/v{version}"


def _agreement_url(reference: str, version: int) -> str:
    return url_for("api.agreement_version", reference=reference, version=version, _external=True)


def agreement_body(detail: Any) -> dict[str, Any]:
    from dataclasses import asdict

    from preserve.services import agreement_view

    app, who = application(), principal()
    name = _agreement_ident(detail.reference, detail.version_no)
    steps = agreement_view.actions(app, who, name)
    body = asdict(detail)
    body["label"] = detail.label
    body["packages"] = agreement_view.packages_under(app, who, name, limit=0).total
    body["your_steps"] = {
        "steps": sorted(steps.steps),
        "agree": list(steps.agree),
        "sign": list(steps.sign),
        "give_notice": list(steps.give_notice),
    }
    for doc in body["documents"]:
        doc["url"] = url_for(
            "api.agreement_document",
            reference=detail.reference,
            version=detail.version_no,
            document_id=doc["id"],
            _external=True,
        )
    body["url"] = _agreement_url(detail.reference, detail.version_no)
    return body


def _audit_agreement(action: str, detail: Any, **extra: Any) -> None:
    audit(f"agreement.{action}", object_type="agreement", object_id=detail.label, **extra)


@bp.route("/agreements", methods=["GET"])
@bp.arguments(AgreementListArgs, location="query")
@bp.response(200, AgreementListSchema)
@problems(400)
def agreements(args: dict[str, Any]) -> Any:
    """The agreements whose parties include one of your organisations (a repository admin:
    all), the newest version of each unless ``all_versions``."""
    from preserve.services import agreements as service

    found = service.list_agreements(
        application(),
        principal(),
        state=args.get("state"),
        organisation=args.get("organisation"),
        all_versions=args["all_versions"],
    )
    items = [
        {
            **vars(a),
            "parties": list(a.parties),
            "label": a.label,
            "url": _agreement_url(a.reference, a.version_no),
        }
        for a in found
    ]
    return {"items": items}


@bp.route("/agreements/awaiting", methods=["GET"])
@bp.response(200, AwaitingListSchema)
@problems()
def agreements_awaiting() -> Any:
    """The agreement versions where a party you may act for still has to agree (proposed) or
    sign (pending signature)."""
    from preserve.services import agreement_view

    found = agreement_view.awaiting(application(), principal())
    return {"items": [{**vars(w), "parties": list(w.parties)} for w in found]}


@bp.route("/agreements", methods=["POST"])
@bp.arguments(AgreementSpecSchema, unknown=INCLUDE)
@bp.response(201, AgreementSchema, headers={"Location": {"schema": {"type": "string"}}})
@problems(400, 403, 409, 415, 422)
def agreement_create(spec: dict[str, Any]) -> Any:
    """Create a draft (version 1) from its description (``reference``, ``kind``, ``title`` and
    any sections); you need the archivist or admin role in one of its parties (or in an
    organisation while it names none), or to be a repository admin."""
    from preserve.services import agreements as service

    detail = service.create_draft(application(), principal(), spec)
    _audit_agreement("create", detail, state=detail.state)
    body = agreement_body(detail)
    return body, 201, {"Location": body["url"]}


@bp.route("/agreements/<reference>", methods=["GET"])
@bp.response(200, AgreementSchema)
@problems(404)
def agreement(reference: str) -> Any:
    """The newest version of an agreement: parties with decisions and signatures, terms,
    documents, history, the number of packages under it and the steps you may take."""
    from preserve.services import agreements as service

    return agreement_body(service.show(application(), reference, principal()))


@bp.route("/agreements/<reference>/versions/<int:version>", methods=["GET"])
@bp.response(200, AgreementSchema)
@problems(404)
def agreement_version(reference: str, version: int) -> Any:
    """One version of an agreement (superseded and amended versions are kept)."""
    from preserve.services import agreements as service

    ident = _agreement_ident(reference, version)
    return agreement_body(service.show(application(), ident, principal()))


@bp.route("/agreements/<reference>/versions/<int:version>", methods=["PATCH"])
@bp.arguments(AgreementSpecSchema, unknown=INCLUDE)
@bp.response(200, AgreementSchema)
@problems(400, 403, 404, 409, 415, 422)
def agreement_edit(spec: dict[str, Any], reference: str, version: int) -> Any:
    """Change a draft: each section given replaces the draft's. Any other state is refused
    with 409 (a signed version is frozen: amend it, with the ``amend`` step its detail names)."""
    from preserve.services import agreements as service

    if not spec:
        from preserve.errors import InvalidInput

        raise InvalidInput("nothing to change: give at least one section of the agreement")
    ident = _agreement_ident(reference, version)
    detail = service.edit_draft(application(), principal(), ident, spec)
    _audit_agreement("edit", detail, sections=sorted(spec))
    return agreement_body(detail)


#: step -> (the fields it reads, the service call)
_STEPS: dict[str, tuple[tuple[str, ...], Any]] = {
    "propose": ((), lambda s, app, who, i, a: s.propose(app, who, i)),
    "agree": (
        ("party", "comment"),
        lambda s, app, who, i, a: s.agree(
            app, who, i, a.get("party", ""), comment=a.get("comment", "")
        ),
    ),
    "send-back": (
        ("party", "comment"),
        lambda s, app, who, i, a: s.send_back(
            app, who, i, a.get("party", ""), a.get("comment", "")
        ),
    ),
    "sign": (
        ("party", "capacity", "method", "document_sha256"),
        lambda s, app, who, i, a: s.sign(
            app,
            who,
            i,
            a.get("party", ""),
            capacity=a.get("capacity", ""),
            method=a.get("method", "digital"),
            document_sha256=a.get("document_sha256"),
        ),
    ),
    "activate": ((), lambda s, app, who, i, a: s.activate(app, who, i)),
    "suspend": (("reason",), lambda s, app, who, i, a: s.suspend(app, who, i, a.get("reason", ""))),
    "resume": (
        ("comment",),
        lambda s, app, who, i, a: s.resume(app, who, i, comment=a.get("comment", "")),
    ),
    "amend": (("reason",), lambda s, app, who, i, a: s.amend(app, who, i, a.get("reason", ""))),
    "give-notice": (
        ("party", "reason"),
        lambda s, app, who, i, a: s.give_notice(
            app, who, i, a.get("party", ""), a.get("reason", "")
        ),
    ),
    "start-exit": ((), lambda s, app, who, i, a: s.start_exit(app, who, i)),
    "close": (("evidence",), lambda s, app, who, i, a: s.close(app, who, i, a.get("evidence", ""))),
    "withdraw": (
        ("reason",),
        lambda s, app, who, i, a: s.withdraw(app, who, i, a.get("reason", "")),
    ),
    "confirm-review": ((), lambda s, app, who, i, a: s.confirm_review(app, who, i)),
}
_STEP_TEXT = {
    "propose": "Propose a complete draft to its parties (409 listing every missing item).",
    "agree": "Agree to a proposal for ``party``; when every party agreed it awaits signatures.",
    "send-back": "Send a proposal back to draft for ``party``, with a ``comment`` (required).",
    "sign": "Sign for ``party`` in ``capacity``; the last signature freezes the version.",
    "activate": "Put a signed version in force (custodian staff; not before its start date).",
    "suspend": "Suspend an active version (``reason``): new ingest is refused.",
    "resume": "Resume a suspended version.",
    "amend": "Start an amendment: a new draft version with the current terms (201).",
    "give-notice": "Give notice of termination for ``party`` (``reason``).",
    "start-exit": "Start the exit of an expired version, or one whose notice period is over.",
    "close": "Close an exiting version (``evidence`` of the exit).",
    "withdraw": "Withdraw a draft or proposed version.",
    "confirm-review": "Confirm the review of a version under review.",
}


def _step_route(step: str) -> None:
    fields, call = _STEPS[step]

    def view(args: dict[str, Any], reference: str, version: int) -> Any:
        from preserve.errors import InvalidInput
        from preserve.services import agreements as service

        extra = sorted(set(args) - set(fields))
        if extra:
            raise InvalidInput(
                f"{step} does not take {', '.join(extra)} (it takes: {', '.join(fields) or '-'})"
            )
        ident = _agreement_ident(reference, version)
        detail = call(service, application(), principal(), ident, args)
        _audit_agreement(
            step.replace("-", "_"),
            detail,
            state=detail.state,
            **{k: args[k] for k in ("party", "capacity") if k in args},
        )
        if step == "amend":
            body = agreement_body(detail)
            return body, 201, {"Location": body["url"]}
        return agreement_body(detail)

    endpoint = "agreement_" + step.replace("-", "_")
    view.__name__ = endpoint
    view.__doc__ = _STEP_TEXT[step]
    decorated: Any = view
    decorated = problems(400, 403, 404, 409, 415, 422)(decorated)
    if step == "amend":
        decorated = bp.response(
            201, AgreementSchema, headers={"Location": {"schema": {"type": "string"}}}
        )(decorated)
    else:
        decorated = bp.response(200, AgreementSchema)(decorated)
    decorated = bp.arguments(AgreementStepSchema, required=False)(decorated)
    bp.route(
        f"/agreements/<reference>/versions/<int:version>/{step}",
        methods=["POST"],
        endpoint=endpoint,
    )(decorated)


for _step in _STEPS:
    _step_route(_step)


@bp.route("/agreements/<reference>/versions/<int:version>/documents", methods=["POST"])
@bp.arguments(DocumentUploadSchema)
@bp.response(201, DocumentSchema, headers={"Location": {"schema": {"type": "string"}}})
@problems(400, 403, 404, 409, 415, 422)
def agreement_attach(args: dict[str, Any], reference: str, version: int) -> Any:
    """Attach a document to a draft (any kind) or a signed copy to a version past drafting:
    PDF, plain text, ODT or DOCX, at most 25 MiB; its SHA-256 is recorded. HTML, SVG, XML and
    macros are refused (422)."""
    import base64
    import binascii
    import tempfile
    from dataclasses import asdict
    from pathlib import Path

    from preserve.errors import InvalidInput
    from preserve.services import agreements as service

    try:
        data = base64.b64decode(args["content_base64"], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("content_base64: not valid base64") from None
    name = Path(args["name"].replace("\\", "/")).name
    if not name:
        raise InvalidInput("name: give the document's file name, e.g. agreement.pdf")
    ident = _agreement_ident(reference, version)
    with tempfile.TemporaryDirectory(prefix="preserve-agreement-") as folder:
        target = Path(folder) / "upload"
        target.write_bytes(data)
        doc = service.attach_document(
            application(), principal(), ident, target, kind=args["kind"], name=name
        )
    audit(
        "agreement.attach",
        object_type="agreement",
        object_id=ident,
        name=doc.name,
        kind=doc.kind,
        sha256=doc.sha256,
    )
    body = asdict(doc)
    body["url"] = url_for(
        "api.agreement_document",
        reference=reference,
        version=version,
        document_id=doc.id,
        _external=True,
    )
    return body, 201, {"Location": body["url"]}


@bp.route("/agreements/<reference>/versions/<int:version>/documents/<int:document_id>")
@bp.response(200, description="The document, as an attachment.", content_type="application/pdf")
@bp.doc(
    responses={
        "200": {
            "description": "The document (PDF, plain text, ODT or DOCX), as an attachment.",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    }
)
@problems(404)
def agreement_document(reference: str, version: int, document_id: int) -> Any:
    """Download a document of an agreement version (always an attachment, never rendered)."""
    from preserve.web.views.agreements import document_response

    from preserve.services import agreement_view

    found = agreement_view.document_file(
        application(), principal(), _agreement_ident(reference, version), document_id
    )
    return document_response(found)


def hold_body(info: Any) -> dict[str, Any]:
    from dataclasses import asdict

    body = asdict(info)
    body["url"] = url_for("api.hold", hold_id=info.id, _external=True)
    return body


@bp.route("/holds", methods=["GET"])
@bp.arguments(HoldArgs, location="query")
@bp.response(200, HoldListSchema)
@problems(400, 404, 422)
def holds(args: dict[str, Any]) -> Any:
    """Holds with a target in one of your organisations, newest first (``state`` active,
    lifted or all)."""
    from preserve.services import holds as service

    found = service.list_holds(
        application(),
        principal(),
        state=args["state"],
        package=args.get("package"),
        collection=args.get("collection"),
        organisation=args.get("organisation"),
    )
    return {"items": [hold_body(h) for h in found]}


@bp.route("/holds", methods=["POST"])
@bp.arguments(HoldCreateSchema)
@bp.response(201, HoldSchema, headers={"Location": {"schema": {"type": "string"}}})
@problems(400, 403, 404, 415, 422)
def hold_place(args: dict[str, Any]) -> Any:
    """Place a hold on packages and collections (the archivist role in each target's
    organisation): no disposal or deletion of what it covers until it is lifted."""
    from flask import request as req

    from preserve.services import holds as service

    made = service.place(
        application(),
        principal(),
        kind=args["kind"],
        title=args["title"],
        reason=args["reason"],
        mandate=args.get("mandate"),
        packages=args["packages"],
        collections=args["collections"],
        channel="api",
        remote_addr=req.remote_addr,
    )
    audit("hold.place", object_type="hold", object_id=str(made.id), kind=made.kind)
    body = hold_body(made)
    return body, 201, {"Location": body["url"]}


@bp.route("/holds/<int:hold_id>", methods=["GET"])
@bp.response(200, HoldSchema)
@problems(404)
def hold(hold_id: int) -> Any:
    """A hold with the targets you may see."""
    from preserve.services import holds as service

    return hold_body(service.show(application(), principal(), hold_id))


@bp.route("/holds/<int:hold_id>/lift", methods=["POST"])
@bp.arguments(HoldLiftSchema)
@bp.response(200, HoldSchema)
@problems(400, 403, 404, 415, 422)
def hold_lift(args: dict[str, Any], hold_id: int) -> Any:
    """Lift a whole hold, or one target (``package`` or ``collection``), with a reason."""
    from flask import request as req

    from preserve.services import holds as service

    lifted = service.lift(
        application(),
        principal(),
        hold_id,
        reason=args["reason"],
        package=args.get("package"),
        collection=args.get("collection"),
        channel="api",
        remote_addr=req.remote_addr,
    )
    audit(
        "hold.lift",
        object_type="hold",
        object_id=str(hold_id),
        target=args.get("package") or args.get("collection") or "all",
    )
    return hold_body(lifted)


# ------------------------------------------------------------------ disposal (issue 12)
# Each route is one call of preserve.services.disposal: a refused step is 409 with the reason (a
# missing approval, the request's state, a suspended agreement, a hold), refused input 422, no
# right 403, a request one may not see 404. The service writes the audit log (channel "api").


def disposal_body(info: Any) -> dict[str, Any]:
    body = info.as_json(iso=False)
    body["url"] = url_for("api.disposal", request_id=info.id, _external=True)
    return body


@bp.route("/disposals", methods=["GET"])
@bp.arguments(DisposalArgs, location="query")
@bp.response(200, DisposalListSchema)
@problems(400, 422)
def disposals(args: dict[str, Any]) -> Any:
    """Disposal requests of your organisations and of the agreements you are a party to,
    newest first, each with the parties that still have to approve it (``waiting_for``)."""
    from preserve.services import disposal as service

    found = service.list_requests(application(), principal(), state=args.get("state"))
    return {"items": [disposal_body(d) for d in found]}


@bp.route("/disposals", methods=["POST"])
@bp.arguments(DisposalProposeSchema)
@bp.response(201, DisposalListSchema, headers={"Location": {"schema": {"type": "string"}}})
@problems(400, 403, 404, 409, 415, 422)
def disposal_propose(args: dict[str, Any]) -> Any:
    """Propose a disposal: ``due`` (every due package whose rule disposes of it; one request
    per agreement and organisation) or ``packages`` with a ``reason`` (an ad-hoc deletion)."""
    from preserve.errors import InvalidInput
    from preserve.services import disposal as service

    app, who = application(), principal()
    if args["due"] == bool(args["packages"]):
        raise InvalidInput("give either due: true, or packages (with a reason)")
    if args["due"]:
        made = service.propose_due(
            app,
            who,
            agreement=args.get("agreement"),
            channel="api",
            remote_addr=request.remote_addr,
        )
    else:
        made = [
            service.propose(
                app,
                who,
                args["packages"],
                kind="adhoc",
                reason=args["reason"],
                channel="api",
                remote_addr=request.remote_addr,
            )
        ]
    items = [disposal_body(d) for d in made]
    return {"items": items}, 201, {"Location": items[0]["url"]}


@bp.route("/disposals/<int:request_id>", methods=["GET"])
@bp.response(200, DisposalSchema)
@problems(404)
def disposal(request_id: int) -> Any:
    """A disposal request: its agreement and rule, each party's decision, its packages."""
    from preserve.services import disposal as service

    return disposal_body(service.show(application(), principal(), request_id))


@bp.route("/disposals/<int:request_id>/approve", methods=["POST"])
@bp.arguments(DisposalDecisionSchema)
@bp.response(200, DisposalSchema)
@problems(400, 403, 404, 409, 415, 422)
def disposal_approve(args: dict[str, Any], request_id: int) -> Any:
    """Approve for ``party`` (one of its own people; not whoever asked for the disposal)."""
    from preserve.services import disposal as service

    return disposal_body(
        service.approve(
            application(),
            principal(),
            request_id,
            args["party"],
            comment=args["comment"],
            channel="api",
            remote_addr=request.remote_addr,
        )
    )


@bp.route("/disposals/<int:request_id>/reject", methods=["POST"])
@bp.arguments(DisposalDecisionSchema)
@bp.response(200, DisposalSchema)
@problems(400, 403, 404, 409, 415, 422)
def disposal_reject(args: dict[str, Any], request_id: int) -> Any:
    """Reject for ``party`` with a ``comment``: the packages go back to their retention state."""
    from preserve.services import disposal as service

    return disposal_body(
        service.reject(
            application(),
            principal(),
            request_id,
            args["party"],
            args["comment"],
            channel="api",
            remote_addr=request.remote_addr,
        )
    )


@bp.route("/disposals/<int:request_id>/withdraw", methods=["POST"])
@bp.arguments(DisposalWithdrawSchema)
@bp.response(200, DisposalSchema)
@problems(400, 403, 404, 409, 415, 422)
def disposal_withdraw(args: dict[str, Any], request_id: int) -> Any:
    """Withdraw a pending or approved disposal with a ``reason`` (its requester, the
    custodian's archivists or a repository administrator): its packages go back to their
    retention state (the way out when a package was put on hold after the approval)."""
    from preserve.services import disposal as service

    return disposal_body(
        service.withdraw(
            application(),
            principal(),
            request_id,
            args["reason"],
            channel="api",
            remote_addr=request.remote_addr,
        )
    )


@bp.route("/disposals/<int:request_id>/execute", methods=["POST"])
@bp.arguments(DisposalExecuteSchema)
@bp.response(202, DisposalSchema)
@bp.alt_response(200, schema=DisposalSchema, description="Executed (with wait: true).")
@problems(400, 403, 404, 409, 415, 422)
def disposal_execute(args: dict[str, Any], request_id: int) -> Any:
    """Execute an approved disposal: queued as a ``dispose`` job (202, ``job_id``), or within
    the request with ``wait``. Holds, the agreement and its rights are checked again."""
    from preserve.services import disposal as service

    app, who = application(), principal()
    if args["wait"]:
        done = service.execute(app, who, request_id, channel="api", remote_addr=request.remote_addr)
        return disposal_body(done), 200
    queued = service.queue_execution(
        app, who, request_id, channel="api", remote_addr=request.remote_addr
    )
    return disposal_body(queued), 202


@bp.route("/disposals/<int:request_id>/restore", methods=["POST"])
@bp.response(200, DisposalSchema)
@problems(403, 404, 409)
def disposal_restore(request_id: int) -> Any:
    """Put every package of an executed disposal back, within its restore window."""
    from preserve.services import disposal as service

    return disposal_body(
        service.restore(
            application(), principal(), request_id, channel="api", remote_addr=request.remote_addr
        )
    )


@bp.route("/disposals/<int:request_id>/declaration", methods=["GET"])
@bp.arguments(DeclarationArgs, location="query")
@bp.response(200, description="The dated disposal declaration.", content_type="application/json")
@bp.doc(
    responses={
        "200": {
            "description": "The declaration: its JSON (whose SHA-256 is in the "
            "X-Declaration-SHA256 header and the disposal's declaration_sha256) or, with "
            "format=text, its Markdown rendering.",
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "text/markdown": {"schema": {"type": "string"}},
            },
        }
    }
)
@problems(400, 404, 422)
def disposal_declaration(args: dict[str, Any], request_id: int) -> Any:
    """The declaration of an executed disposal (404 before it was executed)."""
    from preserve.services import disposal as service

    doc = service.declaration(application(), principal(), request_id)
    if args["format"] == "text":
        body, mime = doc.text, "text/markdown; charset=utf-8"
    else:
        body, mime = doc.json + "\n", "application/json"
    return Response(body, mimetype=mime, headers={"X-Declaration-SHA256": doc.sha256})


# ------------------------------------------------------- compliance, exit, restore tests (issue 12)
# Each route is one call of preserve.services.compliance, .exits or .restore_tests; what the
# person may not see is 404, a bad parameter 422.


@bp.route("/compliance", methods=["GET"])
@bp.arguments(ComplianceArgs, location="query")
@bp.response(200, ComplianceSchema)
@problems(404, 422)
def compliance(args: dict[str, Any]) -> Any:
    """Compliance per agreement in force and per organisation (what you may see), or of one
    agreement or one organisation: packages, the shares meeting copies/sites/regions, fixity
    within interval and accepted formats, open incidents, restore tests, retention due within
    30/90/365 days, retention errors, pending disposals, packages on hold."""
    from preserve.services import compliance as service

    return service.report(
        application(),
        principal(),
        agreement=args.get("agreement"),
        organisation=args.get("organisation"),
    )


@bp.route("/agreements/<reference>/exit", methods=["GET"])
@bp.response(200, ExitStatusSchema)
@problems(404)
def agreement_exit(reference: str) -> Any:
    """Where the exit of an agreement stands: its exports (each item with the SHA-256 the
    receiving party confirms), the confirmation, the post-exit action, and why it cannot be
    closed yet."""
    from preserve.services import exits

    return exits.status(application(), principal(), reference)


@bp.route("/agreements/<reference>/restore-tests", methods=["GET"])
@bp.response(200, RestoreTestListSchema)
@problems(404)
def agreement_restore_tests(reference: str) -> Any:
    """The latest restore tests of an agreement's packages, newest first."""
    from preserve.services import agreements as agreements_service
    from preserve.services import restore_tests

    agreements_service.show(application(), reference, principal())  # 404 unless you see it
    return {"items": restore_tests.history(application(), agreement=reference)}
