"""Our tus 1.0.0 server (https://tus.io/protocols/resumable-upload) under ``/uploads/``.

Extensions: creation, creation-with-upload, termination, expiration, checksum (sha256). Each
file of a transfer is one upload: ``POST`` announces it (``Upload-Length``; ``Upload-Metadata``
with ``transfer_id``, ``relativePath`` or ``filename``, optionally ``filetype``, ``sha256`` of
the whole file, ``role`` = ``metadata`` for a metadata CSV), ``HEAD`` tells the committed
offset, ``PATCH`` appends a chunk (read from ``request.stream`` a MiB at a time, never the whole
body), ``DELETE`` discards it. The work is :mod:`preserve.services.transfers`; this module turns
HTTP into its calls and its errors into ``application/problem+json`` with the status tus
expects (409 offset, 413 too large, 415 content type, 460 checksum, 507 no room).

Who: the signed-in browser session, with the ``X-CSRFToken`` header on POST, PATCH and DELETE,
or a script's personal token (``Authorization: Bearer ...``, no CSRF token needed).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable

from flask import Blueprint, Flask, Response, g, request
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError, validate_csrf
from preserve.web.context import application, settings
from preserve.web.errors import problem
from preserve.web.security import csrf
from werkzeug.exceptions import ClientDisconnected
from wtforms.validators import ValidationError

from preserve.errors import InvalidInput
from preserve.services import transfers
from preserve.services.access import Principal

bp = Blueprint("tus", __name__, url_prefix="/uploads")
csrf.exempt(bp)  # checked here: a session needs X-CSRFToken, a token does not

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,termination,expiration,checksum"
CHUNK_TYPE = "application/offset+octet-stream"

#: The statuses of the upload service's errors (tus's own where it has one).
STATUSES: dict[type[Exception], int] = {
    transfers.OffsetConflict: 409,
    transfers.TooLarge: 413,
    transfers.ChecksumMismatch: 460,
    transfers.InsufficientStorage: 507,
    transfers.UploadGone: 410,
}


def init_app(app: Flask) -> None:
    for cls, status in STATUSES.items():
        app.register_error_handler(cls, _handler(status))


def _handler(status: int) -> Callable[[Exception], Response]:
    titles = {
        409: _("The upload is not where the request expects it"),
        413: _("Too large"),
        460: _("Checksum mismatch"),
        507: _("Not enough room on the server"),
        410: _("The upload is gone"),
    }

    def handle(error: Exception) -> Response:
        response = problem(status, titles[status], str(error))
        if status == 409 and isinstance(error, transfers.UploadLocked):
            response.headers["Retry-After"] = "1"
        return response

    return handle


@bp.after_request
def tus_headers(response: Response) -> Response:
    response.headers["Tus-Resumable"] = TUS_VERSION
    response.headers["Cache-Control"] = "no-store"
    return response


def _principal() -> Principal | None:
    """Who makes the request: a personal token, or the signed-in session (which must send
    its CSRF token on every change)."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        from preserve.services.tokens import principal_for_token

        found = principal_for_token(application(), header[len("Bearer ") :].strip())
        if found is not None:
            g.principal = found
            g.channel = "api"
        return found
    if not current_user.is_authenticated:
        return None
    if request.method in ("POST", "PATCH", "DELETE"):
        token = request.headers.get("X-CSRFToken") or request.headers.get("X-CSRF-Token")
        if not token:
            raise CSRFError(_("The X-CSRFToken header is missing: reload the page."))
        try:
            validate_csrf(token)
        except ValidationError as exc:
            raise CSRFError(str(exc)) from None
    principal: Principal = current_user.principal
    return principal


@bp.before_request
def authenticate() -> Response | None:
    if request.method == "OPTIONS":
        return None
    if request.method != "HEAD":
        version = request.headers.get("Tus-Resumable")
        if version != TUS_VERSION:
            response = problem(
                412,
                _("Unsupported tus version"),
                _(
                    "This server speaks tus %(version)s (the Tus-Resumable header).",
                    version=TUS_VERSION,
                ),
            )
            response.headers["Tus-Version"] = TUS_VERSION
            return response
    try:
        found = _principal()
    except CSRFError as exc:
        return problem(
            403 if request.headers.get("X-CSRFToken") else 400,
            _("CSRF check failed"),
            str(exc.description),
        )
    if found is None:
        response = problem(
            401,
            _("Sign-in needed"),
            _("Sign in, or send a personal token as Authorization: Bearer <token>."),
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="preserve"'
        return response
    g.principal = found
    return None


def _expires(record: transfers.UploadRecord, response: Response) -> None:
    if record.expires_at is not None:
        response.headers["Upload-Expires"] = record.expires_at.strftime("%a, %d %b %Y %H:%M:%S GMT")


def parse_metadata(header: str) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64(value)`` pairs (a value may be
    absent); keys unique; values UTF-8."""
    found: dict[str, str] = {}
    if not header.strip():
        return found
    for pair in header.split(","):
        parts = pair.strip().split(" ")
        if not parts[0] or len(parts) > 2:
            raise InvalidInput(_("Upload-Metadata is not a list of 'key base64value' pairs"))
        key = parts[0]
        if key in found:
            raise InvalidInput(_("Upload-Metadata names %(key)s twice", key=key))
        try:
            value = (
                base64.b64decode(parts[1], validate=True).decode("utf-8") if len(parts) == 2 else ""
            )
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidInput(
                _("the Upload-Metadata value of %(key)s is not base64-encoded UTF-8", key=key)
            ) from None
        found[key] = value
    return found


def _int_header(name: str) -> int:
    raw = request.headers.get(name)
    if raw is None:
        raise InvalidInput(_("the %(name)s header is missing", name=name))
    if not raw.isdigit():
        raise InvalidInput(_("the %(name)s header must be a whole number, 0 or more", name=name))
    return int(raw)


def _checksum() -> tuple[str, bytes] | None:
    raw = request.headers.get("Upload-Checksum")
    if raw is None:
        return None
    algorithm, _sep, value = raw.strip().partition(" ")
    if algorithm != "sha256":
        raise InvalidInput(
            _("checksum algorithm %(name)s is not supported: use sha256", name=algorithm)
        )
    try:
        digest = base64.b64decode(value, validate=True)
    except binascii.Error:
        raise InvalidInput(_("the Upload-Checksum value is not base64")) from None
    if len(digest) != 32:
        raise InvalidInput(_("the Upload-Checksum value is not a SHA-256 digest"))
    return algorithm, digest


def _reader() -> Callable[[int], bytes]:
    """The request body a piece at a time; a dropped connection reads as the body's end."""
    stream = request.stream

    def read(size: int) -> bytes:
        try:
            return stream.read(size)
        except (ClientDisconnected, OSError):
            return b""

    return read


def _chunk(upload_id: str) -> transfers.UploadRecord:
    if request.mimetype != CHUNK_TYPE:
        raise _UnsupportedType()
    return transfers.append(
        application(),
        g.principal,
        upload_id,
        offset=_int_header("Upload-Offset"),
        read=_reader(),
        content_length=request.content_length,
        checksum=_checksum(),
    )


class _UnsupportedType(Exception):
    pass


@bp.errorhandler(_UnsupportedType)
def unsupported_type(error: Exception) -> Response:
    return problem(
        415,
        _("Unsupported content type"),
        _("A chunk is sent as Content-Type: %(type)s.", type=CHUNK_TYPE),
    )


@bp.route("/", methods=["OPTIONS"], strict_slashes=False)
def options() -> Response:
    response = Response(status=204)
    response.headers["Tus-Version"] = TUS_VERSION
    response.headers["Tus-Extension"] = EXTENSIONS
    response.headers["Tus-Max-Size"] = str(settings().upload_max_size)
    response.headers["Tus-Checksum-Algorithm"] = "sha256"
    return response


@bp.route("/", methods=["POST"], strict_slashes=False)
def create() -> Response:
    if request.headers.get("Upload-Defer-Length"):
        raise InvalidInput(_("Upload-Defer-Length is not supported: announce Upload-Length"))
    length = _int_header("Upload-Length")
    metadata = parse_metadata(request.headers.get("Upload-Metadata", ""))
    transfer_id = metadata.get("transfer_id") or request.args.get("transfer") or ""
    if not transfer_id:
        raise InvalidInput(
            _("Upload-Metadata needs transfer_id: the transfer this file belongs to")
        )
    path = metadata.get("relativePath") or ""
    if path in ("", "null", "undefined"):
        path = metadata.get("filename") or metadata.get("name") or ""
    if not path:
        raise InvalidInput(_("Upload-Metadata needs relativePath (or filename): the file's path"))
    has_body = bool(request.content_length) and request.mimetype == CHUNK_TYPE
    if request.content_length and not has_body:
        raise _UnsupportedType()
    record = transfers.create_upload(
        application(),
        g.principal,
        transfer_id=transfer_id,
        relative_path=path,
        length=length,
        metadata={k: v for k, v in metadata.items() if k not in ("sha256",)},
        sha256=metadata.get("sha256") or None,
    )
    if has_body:
        record = transfers.append(
            application(),
            g.principal,
            record.id,
            offset=0,
            read=_reader(),
            content_length=request.content_length,
            checksum=_checksum(),
        )
    response = Response(status=201)
    response.headers["Location"] = f"{request.script_root}/uploads/{record.id}"
    response.headers["Upload-Offset"] = str(record.offset)
    _expires(record, response)
    return response


@bp.route("/<upload_id>", methods=["HEAD"])
def head(upload_id: str) -> Response:
    record = transfers.upload_info(application(), g.principal, upload_id)
    response = Response(status=200)
    response.headers["Upload-Offset"] = str(record.offset)
    response.headers["Upload-Length"] = str(record.length)
    _expires(record, response)
    return response


@bp.route("/<upload_id>", methods=["PATCH"])
def patch(upload_id: str) -> Response:
    record = _chunk(upload_id)
    response = Response(status=204)
    response.headers["Upload-Offset"] = str(record.offset)
    _expires(record, response)
    return response


@bp.route("/<upload_id>", methods=["DELETE"])
def delete(upload_id: str) -> Response:
    transfers.delete_upload(application(), g.principal, upload_id)
    return Response(status=204)
