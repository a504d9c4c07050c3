"""What every API route shares: the blueprint class, the problem document, error responses in
the OpenAPI document, pagination."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import marshmallow as ma
from flask import Response, request, url_for
from flask_smorest import Blueprint
from webargs.flaskparser import FlaskParser

PROBLEM = "application/problem+json"
F = TypeVar("F", bound=Callable[..., Any])

#: Most items on one page of a list.
MAX_PER_PAGE = 100
PER_PAGE = 20


class Parser(FlaskParser):
    """Bad parameters are a 400 (with the fields at fault), not webargs' default 422."""

    DEFAULT_VALIDATION_STATUS = 400
    DEFAULT_UNKNOWN_BY_LOCATION = {  # noqa: RUF012 (webargs reads it as a class attribute)
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": ma.RAISE,
        "json": ma.RAISE,
    }


class ApiBlueprint(Blueprint):
    ARGUMENTS_PARSER = Parser()


class ProblemSchema(ma.Schema):
    """An RFC 9457 problem document."""

    type = ma.fields.String(required=True, metadata={"description": "about:blank"})
    title = ma.fields.String(required=True, metadata={"description": "What went wrong, short."})
    status = ma.fields.Integer(required=True, metadata={"description": "The HTTP status."})
    detail = ma.fields.String(metadata={"description": "What went wrong and what to do."})
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        metadata={"description": "Bad parameters: each field at fault and its messages."},
    )
    problems = ma.fields.List(
        ma.fields.String(),
        metadata={
            "description": "A refused step with several reasons: each of them (what an "
            "agreement lacks before it can be proposed)."
        },
    )


def problems(*statuses: int) -> Callable[[F], F]:
    """Document the error responses (problem+json) an operation can give; 401 always."""
    import http

    def decorate(f: F) -> F:
        from preserve.web.api import bp

        for status in sorted({401, *statuses}):
            f = bp.alt_response(status, response=http.HTTPStatus(status).name)(f)
        return f

    return decorate


class PageArgs(ma.Schema):
    page = ma.fields.Integer(
        load_default=1,
        validate=ma.validate.Range(min=1, max=1_000_000),
        metadata={"description": "Page number, from 1."},
    )
    per_page = ma.fields.Integer(
        load_default=PER_PAGE,
        validate=ma.validate.Range(min=1, max=MAX_PER_PAGE),
        metadata={"description": f"Items per page (1 to {MAX_PER_PAGE})."},
    )


LINK_HEADER = {
    "Link": {
        "description": 'Links to the next and previous pages (rel="next", rel="prev").',
        "schema": {"type": "string"},
    }
}


def page_link(endpoint: str, page: int, **values: Any) -> str:
    args = {k: v for k, v in request.args.items() if k != "page"}
    args.update(values)
    return url_for(endpoint, page=page, _external=True, **args)


def paginated(
    body: dict[str, Any], endpoint: str, page: int, has_next: bool, **values: Any
) -> tuple[dict[str, Any], dict[str, str]]:
    """The body with ``next``/``prev`` URLs and the same as a ``Link`` header."""
    links = []
    body["next"] = page_link(endpoint, page + 1, **values) if has_next else None
    body["prev"] = page_link(endpoint, page - 1, **values) if page > 1 else None
    if body["next"]:
        links.append(f'<{body["next"]}>; rel="next"')
    if body["prev"]:
        links.append(f'<{body["prev"]}>; rel="prev"')
    return body, ({"Link": ", ".join(links)} if links else {})


def job_location(response: Response, job_id: str) -> Response:
    response.headers["Location"] = url_for("api.job", job_id=job_id)
    return response
