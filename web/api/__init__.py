"""The JSON API under ``/api/v1`` for scripts, with personal tokens (issue 11).

Every route needs ``Authorization: Bearer <token>`` (a token from ``/account/tokens`` or
``preserve tokens create``); the session cookie is not accepted here, so the API needs no CSRF
token. Errors are ``application/problem+json`` (RFC 9457), with the fields at fault for bad
parameters. The OpenAPI 3.1 document at ``/api/v1/openapi.json`` is generated from the routes
and their marshmallow schemas by flask-smorest; it is public, as it describes only the shape of
the API, so tools (client generators, the test that checks it) can read it without a token.

flask-smorest's :class:`Api` documents a blueprint when it is registered: ``create_app`` calls
:func:`init_app` (which builds the ``Api``) and then registers :data:`bp`, whose last deferred
setup function adds its routes to that app's document.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, g, request, url_for
from flask.blueprints import BlueprintSetupState
from flask_babel import gettext as _
from flask_smorest import Api
from preserve.web.api.base import PROBLEM, ApiBlueprint, ProblemSchema
from preserve.web.errors import problem
from preserve.web.security import csrf
from werkzeug.exceptions import HTTPException

from preserve.errors import FrozenVersion
from preserve.services import tokens

bp = ApiBlueprint(
    "api",
    __name__,
    url_prefix="/api/v1",
    description="Packages, ingests, jobs and fixity for scripts (personal tokens).",
)
csrf.exempt(bp)

#: Where the document is served (public).
OPENAPI_PATH = "/api/v1/openapi.json"


class PreserveApi(Api):
    """flask-smorest's Api with our errors: it leaves error handling to ``web.errors``
    (problem+json under ``/api/``, pages elsewhere) and documents every error response as
    ``application/problem+json``."""

    ERROR_SCHEMA = ProblemSchema
    DEFAULT_ERROR_RESPONSE_NAME = None

    def _register_error_handlers(self) -> None:
        """Nothing: smorest's handler would answer every error of the whole site in JSON."""

    def _register_pagination_header(self) -> None:
        """Nothing: pages are ``page``/``per_page`` with ``next``/``prev`` and ``Link`` here, not
        smorest's pagination (whose schema would otherwise sit unused in the document)."""

    def _register_responses(self) -> None:
        import http

        for status in http.HTTPStatus:
            if status < 400:
                continue
            self.spec.components.response(
                status.name,
                {
                    "description": status.phrase,
                    "content": {PROBLEM: {"schema": "Problem"}},
                },
                lazy=True,
            )


def init_app(app: Flask) -> None:
    app.config.update(
        API_TITLE="preserve",
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {
                "description": (
                    "The preserve repository's API for scripts. Every operation needs a "
                    "personal token (Authorization: Bearer pst_...); errors are "
                    "application/problem+json (RFC 9457). Export: download the bag "
                    "(GET /packages/{package_id}/bag)."
                ),
            },
            "components": {
                "securitySchemes": {
                    "bearerAuth": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "A personal token made at /account/tokens or with "
                        "`preserve tokens create`.",
                    }
                }
            },
            "security": [{"bearerAuth": []}],
        },
    )
    api = PreserveApi(app)
    api.spec.components.schema("Problem", schema=ProblemSchema)
    app.extensions["preserve.api"] = api


@bp.before_request
def authenticate() -> Response | None:
    """Who the token acts for; 401 without a valid token (the session cookie is ignored)."""
    from preserve.web.context import application

    header = request.headers.get("Authorization", "")
    scheme, _sep, token = header.partition(" ")
    if not header:
        return unauthorised(_("This request needs a personal token: Authorization: Bearer …"))
    if scheme.lower() != "bearer" or not token.strip():
        return unauthorised(_("Send the token as Authorization: Bearer <token>."))
    found = tokens.principal_for_token(application(), token.strip())
    if found is None:
        return unauthorised(_("The token is unknown, revoked or expired."))
    g.principal = found
    g.channel = "api"
    has_body = request.method in ("POST", "PUT", "PATCH") and request.content_length
    if has_body and not request.is_json:
        return problem(
            415,
            _("Send JSON"),
            _("The request body must be JSON (Content-Type: application/json)."),
        )
    return None


def unauthorised(detail: str) -> Response:
    response = problem(401, _("A valid token is needed"), detail)
    response.headers["WWW-Authenticate"] = 'Bearer realm="preserve"'
    return response


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException) -> Response:
    """Bad parameters (webargs' validation errors) name each field at fault."""
    data: dict[str, Any] = getattr(error, "data", None) or {}
    messages = data.get("messages")
    status = error.code or 500
    if not messages:
        return problem(status, error.name, error.description or "")
    fields: dict[str, list[str]] = {}
    for found_there in messages.values():
        if not isinstance(found_there, dict):  # the body as a whole: not JSON, not an object
            fields["body"] = _flatten(found_there)
            continue
        for field, found in found_there.items():
            fields["body" if field == "_schema" else field] = _flatten(found)
    detail = "; ".join(f"{f}: {' '.join(m)}" for f, m in fields.items())
    return problem(status, _("The request is not valid"), detail, errors=fields)


@bp.errorhandler(FrozenVersion)
def frozen_version(error: FrozenVersion) -> Response:
    """A signed (or otherwise frozen) agreement version: 409, naming the route that amends it
    (the service's message names no adapter's way; the command line names its command)."""
    route = url_for("api.agreement_amend", reference=error.reference, version=error.version)
    return problem(409, _("Not possible now"), str(error.told(f"POST {route}")))


def _flatten(found: Any) -> list[str]:
    if isinstance(found, dict):
        return [f"{k}: {m}" for k, v in found.items() for m in _flatten(v)]
    if isinstance(found, list):
        return [str(m) for m in found]
    return [str(found)]


# the routes, then (last) the deferred function that documents them
from preserve.web.api import routes  # noqa: E402,F401


@bp.record
def _document(state: BlueprintSetupState) -> None:
    api: PreserveApi = state.app.extensions["preserve.api"]
    state.app.extensions["flask-smorest"]["blp_name_to_api"][bp.name] = api
    bp.register_views_in_doc(api, state.app, api.spec, name=bp.name, parameters=None)
    api.spec.tag({"name": bp.name, "description": bp.description})
