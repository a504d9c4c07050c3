"""The package page: description (and its editing), versions, the file tree a page at a time,
copies, the PREMIS timeline; downloads of a file or the whole bag; thumbnails and previews;
fixity now. Each view is one call of :mod:`preserve.services.package_view`,
:mod:`preserve.services.downloads` or :mod:`preserve.services.derivatives`."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import login_required
from preserve.web.context import application, audit, principal

from preserve.errors import InvalidInput
from preserve.services import agreement_view, derivatives, downloads, package_view

bp = Blueprint("package", __name__)

#: Derivatives are made once and never change: browsers may keep them a day.
DERIVATIVE_MAX_AGE = 86400


@bp.app_template_filter("package_image")
def image_summary(image: Any) -> str:
    """What ingest recorded of an image, in a few words: ``320 × 200 px, RGB, 8-bit, sRGB``."""
    if not isinstance(image, dict) or not image.get("width"):
        return ""
    parts = [_("%(width)s × %(height)s px", width=image["width"], height=image.get("height"))]
    if image.get("mode"):
        parts.append(str(image["mode"]))
    if image.get("bit_depth"):
        parts.append(_("%(bits)s-bit", bits=image["bit_depth"]))
    if image.get("icc_profile"):
        parts.append(str(image["icc_profile"]))
    return ", ".join(parts)


def _int_arg(name: str, default: int | None = None) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(_("%(name)s must be a whole number", name=name)) from None
    if value < 1:
        raise InvalidInput(_("%(name)s must be 1 or more", name=name))
    return value


@bp.route("/packages/<package_id>")
@login_required
def show(package_id: str) -> Any:
    # a short id (the first 8 characters that lists show) pasted into the address: the package
    # it names, if the person sees exactly one
    whole = package_view.short_id_target(application(), principal(), package_id)
    if whole is not None:
        query: dict[str, Any] = request.args.to_dict()
        return redirect(url_for("package.show", package_id=whole, **query))
    detail = package_view.package_detail(
        application(),
        principal(),
        package_id,
        _int_arg("version"),
        folder=request.args.get("folder"),
        page=_int_arg("page", 1) or 1,
        all_events=request.args.get("events") == "all",
        bag_files=request.args.get("files") == "bag",
    )
    return render_template(
        "package/show.html",
        p=detail,
        elements=package_view.FORM_ELEMENTS,
        args=request.args,
        event_labels=event_labels(),
        agent_words=agent_words(),
        governance=agreement_view.governance(application(), principal(), detail.id),
    )


def event_labels() -> dict[str, str]:
    """The PREMIS event types (the Library of Congress vocabulary's labels, as stored) in the
    person's language; the stored value is not changed."""
    return {
        "accession": _("accession"),
        "appraisal": _("appraisal"),
        "capture": _("capture"),
        "compiling": _("compiling"),
        "compression": _("compression"),
        "creation": _("creation"),
        "deaccession": _("deaccession"),
        "decompression": _("decompression"),
        "decryption": _("decryption"),
        "deletion": _("deletion"),
        "digital signature generation": _("digital signature generation"),
        "digital signature validation": _("digital signature validation"),
        "displaying": _("displaying"),
        "dissemination": _("dissemination"),
        "encryption": _("encryption"),
        "execution": _("execution"),
        "exporting": _("exporting"),
        "extraction": _("extraction"),
        "filename change": _("filename change"),
        "fixity check": _("fixity check"),
        "forensic feature analysis": _("forensic feature analysis"),
        "format identification": _("format identification"),
        "imaging": _("imaging"),
        "information package creation": _("information package creation"),
        "information package merging": _("information package merging"),
        "information package splitting": _("information package splitting"),
        "ingestion": _("ingestion"),
        "ingestion end": _("ingestion end"),
        "ingestion start": _("ingestion start"),
        "interpreting": _("interpreting"),
        "message digest calculation": _("message digest calculation"),
        "metadata extraction": _("metadata extraction"),
        "metadata modification": _("metadata modification"),
        "migration": _("migration"),
        "modification": _("modification"),
        "normalization": _("normalization"),
        "packing": _("packing"),
        "policy assignment": _("policy assignment"),
        "printing": _("printing"),
        "quarantine": _("quarantine"),
        "recovery": _("recovery"),
        "redaction": _("redaction"),
        "refreshment": _("refreshment"),
        "rendering": _("rendering"),
        "replication": _("replication"),
        "transfer": _("transfer"),
        "unpacking": _("unpacking"),
        "unquarantine": _("unquarantine"),
        "validation": _("validation"),
        "virus check": _("virus check"),
    }


def agent_words() -> dict[str, str]:
    """The PREMIS agent types and roles of the history's "Who" column, translated."""
    return {
        "person": _("person"),
        "software": _("software"),
        "organization": _("organisation"),
        "hardware": _("hardware"),
        "owner": _("owner"),
        "implementer": _("implementer"),
        "executing program": _("executing program"),
        "validator": _("validator"),
        "authorizer": _("authorizer"),
        # the roles of a disposal's deletion event (preserve.services.disposal)
        "requester": _("requester"),
        "approver": _("approver"),
    }


@bp.route("/packages/<package_id>/files/<int:file_id>")
@login_required
def file(package_id: str, file_id: int) -> Any:
    pid, version, entry = package_view.file_entry(application(), principal(), package_id, file_id)
    governance = agreement_view.governance(application(), principal(), pid)
    return render_template(
        "package/file.html", package_id=pid, version=version, f=entry, governance=governance
    )


def _send(download: downloads.Download, what: str, package_id: str, **detail: Any) -> Response:
    audit(
        "download",
        object_type="package",
        object_id=package_id,
        organisation_id=download.organisation_id,
        what=what,
        **detail,
    )
    response = Response(download.chunks, mimetype=download.mime, direct_passthrough=True)
    response.content_length = download.size
    response.headers["Content-Disposition"] = download.disposition
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    response.call_on_close(download.close)
    return response


@bp.route("/packages/<package_id>/files/<int:file_id>/download")
@login_required
def download_file(package_id: str, file_id: int) -> Response:
    found = downloads.download_file(application(), principal(), package_id, file_id=file_id)
    return _send(found, "file", package_id, file_id=file_id, filename=found.filename)


@bp.route("/packages/<package_id>/download")
@login_required
def download_path(package_id: str) -> Response:
    path = request.args.get("path", "")
    version = _int_arg("version")
    found = downloads.download_file(
        application(), principal(), package_id, path=path, version=version
    )
    return _send(found, "file", package_id, path=path, version=version)


@bp.route("/packages/<package_id>/bag.<fmt>")
@login_required
def download_bag(package_id: str, fmt: str) -> Response:
    version = _int_arg("version")
    found = downloads.download_bag(application(), principal(), package_id, version, fmt)
    return _send(found, f"bag ({fmt})", package_id, version=version, filename=found.filename)


@bp.route("/packages/<package_id>/files/<int:file_id>/<any(thumbnail, preview):kind>")
@login_required
def derivative(package_id: str, file_id: int, kind: str) -> Response:
    found = derivatives.derivative_file(application(), principal(), package_id, file_id, kind)
    if found is None:
        response = Response(_placeholder(), mimetype="image/svg+xml")
        response.headers["Cache-Control"] = "private, max-age=300"
    else:
        response = send_file(
            found.path, mimetype=found.mime, etag=found.etag, max_age=DERIVATIVE_MAX_AGE
        )
        response.headers["Cache-Control"] = f"private, max-age={DERIVATIVE_MAX_AGE}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _placeholder() -> bytes:
    """The neutral picture shown where a thumbnail or preview is not made (yet)."""
    from flask import current_app

    return _read_placeholder(str(current_app.static_folder))


@functools.lru_cache(maxsize=4)
def _read_placeholder(static_folder: str) -> bytes:
    """Read once per static folder (a page of 100 images asks for it 100 times)."""
    return (Path(static_folder) / "img" / "no-thumbnail.svg").read_bytes()


@bp.route("/packages/<package_id>/describe", methods=["GET", "POST"])
@login_required
def describe(package_id: str) -> Any:
    detail = package_view.package_detail(application(), principal(), package_id, per_page=1)
    errors: dict[str, str] = {}
    values = {e: "\n".join(detail.description.get(e, [])) for e in package_view.FORM_ELEMENTS}
    language = ""
    if not detail.can_edit:
        from preserve.errors import PermissionDenied

        raise PermissionDenied(_("You need the archivist role to edit the description."))
    if request.method == "POST":
        values = {e: request.form.get(e, "") for e in package_view.FORM_ELEMENTS}
        language = request.form.get("text_language", "")
        try:
            result = package_view.edit_description(
                application(), principal(), package_id, values, language
            )
        except package_view.FormErrors as exc:
            errors = {field: _problem(code) for field, code in exc.errors.items()}
        else:
            if result.status == "unchanged":
                flash(_("Nothing to change: the description is already so."), "success")
            else:
                audit(
                    "describe",
                    object_type="package",
                    object_id=result.package_id,
                    organisation_id=detail.organisation_id,
                    version=result.version,
                    changed=list(result.changed),
                )
                flash(
                    _(
                        "The description was saved as version %(version)s.",
                        version=result.version,
                    ),
                    "success",
                )
            return redirect(url_for("package.show", package_id=result.package_id))
    status = 400 if errors else 200
    return (
        render_template(
            "package/describe.html",
            p=detail,
            elements=package_view.FORM_ELEMENTS,
            values=values,
            language=language,
            errors=errors,
        ),
        status,
    )


def _problem(code: str) -> str:
    """A description form problem (:data:`package_view.FORM_PROBLEMS`) in the person's
    language."""
    messages = {
        "language": _("Not a language tag: write nl, en, fr, nl-BE …"),
        "unknown": _("Not a Dublin Core element."),
        "control": _("Contains control characters; remove them."),
        "too_long": _("A value is longer than %(max)s characters.", max=package_view.MAX_VALUE),
        "required": _("A package needs a title."),
    }
    return messages.get(code, code)


@bp.route("/packages/<package_id>/fixity", methods=["POST"])
@login_required
def fixity(package_id: str) -> Any:
    queued = package_view.run_fixity(application(), principal(), package_id)
    audit("fixity", object_type="package", object_id=package_id, job=queued.job_id)
    if queued.new:
        flash(_("A fixity check of every copy was queued."), "success")
    else:
        flash(_("A fixity check of this package is already waiting or running."), "success")
    return redirect(url_for("package.show", package_id=package_id, job=queued.job_id))
