"""Errors as people and scripts see them: a page in their language for the browser,
``application/problem+json`` (RFC 9457) under ``/api/``; never a traceback."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, has_request_context, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from preserve.web.context import wants_json
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from preserve import errors as e

log = logging.getLogger(__name__)

#: The HTTP status of each kind of service error (the first match in the class's MRO wins).
STATUS: dict[type[e.PreserveError], int] = {
    e.NotFound: 404,
    e.PermissionDenied: 403,
    e.SignInRefused: 401,
    e.AlreadyExists: 409,
    e.OnHold: 409,  # a hold blocks it for now: the state of the package, not who asks
    e.Conflict: 409,
    e.InvalidInput: 400,
    e.InvalidBag: 422,
    e.ConfigError: 500,
    e.CatalogueUnreachable: 503,
    e.StorageUnavailable: 503,
    e.BrokerUnreachable: 503,
}


#: Endpoints (prefixes) whose refused input is 422 Unprocessable Content, as issue 12 asks of
#: the agreements and holds (pages and API): the request was understood but its values are
#: refused. Other routes keep 400, which their clients already expect.
UNPROCESSABLE_ENDPOINTS = (
    "agreements.",
    "holds.",
    "disposal.",
    "api.agreement",
    "api.hold",
    "api.disposal",
    "compliance.",
    "api.compliance",
)


def status_of(error: e.PreserveError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            status = STATUS[cls]
            break
    else:
        return 500
    if status == 400 and isinstance(error, e.InvalidInput):
        endpoint = (request.endpoint or "") if has_request_context() else ""
        if endpoint.startswith(UNPROCESSABLE_ENDPOINTS):
            return 422
    return status


def problem(status: int, title: str, detail: str = "", **extra: Any) -> Response:
    """An RFC 9457 problem document."""
    body = {"type": "about:blank", "title": title, "status": status, **extra}
    if detail:
        body["detail"] = detail
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def error_page(status: int, title: str, detail: str = "", *, back: bool = False) -> Response:
    if wants_json():
        return problem(status, title, detail)
    html = render_template("error.html", status=status, title=title, detail=detail, back=back)
    return Response(html, status=status, mimetype="text/html")


def _http_texts() -> dict[int, tuple[str, str]]:
    """Werkzeug's errors in the person's language (its own texts are English only)."""
    return {
        400: (_("The request is not valid"), _("The request could not be understood.")),
        401: (_("Sign-in needed"), _("Sign in, or send a valid API token.")),
        403: (_("Not allowed"), _("You may not do this.")),
        404: (
            _("Not found"),
            _("There is nothing at this address, or you may not see it."),
        ),
        405: (_("Method not allowed"), _("This address does not accept that method.")),
        409: (_("Conflict"), _("The request conflicts with the current state.")),
        413: (_("Too large"), _("The request is larger than this server accepts.")),
        415: (_("Unsupported content type"), _("The request's content type is not accepted.")),
        429: (_("Too many requests"), _("Wait a moment before trying again.")),
        500: (_("Something went wrong"), _("The error was logged for the administrators.")),
    }


def init_app(app: Flask) -> None:
    @app.errorhandler(e.PreserveError)
    def preserve_error(error: e.PreserveError) -> Response:
        status = status_of(error)
        if status >= 500:
            log.error("%s %s: %s", request.method, request.path, error)
        titles = {
            400: _("The request is not valid"),
            401: _("Sign-in refused"),
            403: _("Not allowed"),
            404: _("Not found"),
            409: _("Already exists"),
            422: _("The delivery is not valid"),
            503: _("A service is unavailable"),
        }
        title = titles.get(status, _("Something went wrong"))
        if isinstance(error, e.Conflict):
            title = _("Not possible now")
        elif status == 422 and isinstance(error, e.InvalidInput):
            title = _("The input is not valid")
        problems = [p for p in getattr(error, "problems", ()) if isinstance(p, str)]
        if problems and wants_json():
            return problem(status, title, str(error), problems=problems)
        return error_page(status, title, str(error))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        title, default = _http_texts().get(status, (error.name, ""))
        back = isinstance(error, CSRFError)
        if back:  # a stale form: back to it, the typed values kept, to send it again
            title = _("The form has expired")
            detail = _(
                "Your session changed since the page was opened (for example you signed out and "
                "in again in another tab), so the form was not sent. Go back to the form: what "
                "you typed is normally kept by the browser; check it and send it again."
            )
        elif error.description and error.description != type(error).description:
            detail = error.description  # a view's own (translated) explanation
        else:
            detail = default
        response = error_page(status, title, detail, back=back)
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        log.exception("%s %s failed", request.method, request.path)
        return error_page(
            500,
            _("Something went wrong"),
            _("The error was logged for the administrators."),
        )
