"""The OpenAPI 3.1 document at /api/v1/openapi.json is valid, matches the code (every /api/v1
rule with its methods, and nothing else), documents the bearer token and the problem+json
errors, and real responses validate against the schemas it gives."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
from openapi_spec_validator import validate as validate_spec
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.web.api_support import ApiSite, api_site
from tests.web.conftest import Site

PREFIX = "/api/v1"
DOCUMENT = f"{PREFIX}/openapi.json"
METHODS = {"get", "post", "put", "patch", "delete"}


def document(site: Site) -> dict[str, Any]:
    response = site.app.test_client().get(DOCUMENT)
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()


def test_the_document_is_valid_openapi_3_1(site: Site) -> None:
    doc = document(site)
    assert doc["openapi"].startswith("3.1")
    validate_spec(doc)


def test_every_api_rule_is_documented_with_its_methods_and_nothing_else(site: Site) -> None:
    doc = document(site)
    in_code: dict[str, set[str]] = {}
    for rule in site.app.url_map.iter_rules():
        if not rule.rule.startswith(PREFIX + "/") or rule.rule == DOCUMENT:
            continue
        # /packages/<package_id>/files/<path:path> -> /packages/{package_id}/files/{path}
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule[len(PREFIX) :])
        in_code.setdefault(path, set()).update(
            m.lower() for m in rule.methods or () if m.lower() in METHODS
        )
    documented = {
        path[len(PREFIX) :] if path.startswith(PREFIX) else path: {
            m for m in operations if m in METHODS
        }
        for path, operations in doc["paths"].items()
    }
    assert documented == in_code


def test_every_operation_has_the_bearer_scheme_and_problem_json_errors(site: Site) -> None:
    doc = document(site)
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        **doc["components"]["securitySchemes"]["bearerAuth"],
        "type": "http",
        "scheme": "bearer",
    }
    assert doc["security"] == [{"bearerAuth": []}]
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            where = f"{method.upper()} {path}"
            assert operation.get("summary") or operation.get("description"), where
            responses = operation["responses"]
            assert "401" in responses, where
            assert any(code.startswith("2") for code in responses), where
            for code, response in responses.items():
                if int(code) >= 400:
                    ref = response["$ref"].rsplit("/", 1)[-1]
                    content = doc["components"]["responses"][ref]["content"]
                    assert list(content) == ["application/problem+json"], where
            for parameter in operation.get("parameters", []):
                assert parameter.get("schema") or parameter.get("content"), (where, parameter)


# ----------------------------------------------------------------------------- real responses


def _validator(doc: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    registry: Registry = Registry().with_resource(
        "urn:openapi", Resource(contents=doc, specification=DRAFT202012)
    )
    return jsonschema.Draft202012Validator(
        _rebase(schema), registry=registry, format_checker=jsonschema.FormatChecker()
    )


def _rebase(schema: Any) -> Any:
    """``#/components/...`` references point into the whole document (``urn:openapi``)."""
    if isinstance(schema, dict):
        return {
            k: ("urn:openapi" + v if k == "$ref" and v.startswith("#") else _rebase(v))
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [_rebase(v) for v in schema]
    return schema


def _response_schema(
    doc: dict[str, Any], path: str, method: str, status: int, mimetype: str
) -> tuple[str, Any]:
    response = doc["paths"][path][method]["responses"][str(status)]
    if "$ref" in response:
        response = doc["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    content = response["content"]
    if mimetype in content:
        return mimetype, content[mimetype]["schema"]
    ((content_type, media),) = content.items()  # one documented type: it must be that one
    return content_type, media["schema"]


def check(doc: dict[str, Any], path: str, method: str, response: Any) -> None:
    """The response's status is documented for the operation, and its body (JSON) validates
    against the documented schema with the documented content type."""
    documented = doc["paths"][PREFIX + path][method]["responses"]
    assert str(response.status_code) in documented, (path, method, response.status_code)
    content_type, schema = _response_schema(
        doc, PREFIX + path, method, response.status_code, response.mimetype
    )
    if content_type == "application/octet-stream":  # any file's own type
        return
    assert response.mimetype == content_type, (path, response.mimetype, content_type)
    if not content_type.endswith("json"):
        return
    errors = sorted(
        _validator(doc, schema).iter_errors(response.get_json()), key=lambda e: list(e.path)
    )
    assert not errors, (path, method, [f"{list(e.path)}: {e.message}" for e in errors])


def test_real_responses_validate_against_the_documented_schemas(site: Site, tmp_path: Path) -> None:
    api: ApiSite = api_site(site, tmp_path)
    doc = document(site)
    ours, theirs = api.packages["ours"]["id"], api.packages["theirs"]["id"]
    pkg = "/packages/{package_id}"
    calls = [
        ("/me", "get", f"{PREFIX}/me", "viewer"),
        ("/collections", "get", f"{PREFIX}/collections", "viewer"),
        ("/collections", "get", f"{PREFIX}/collections?organisation=theirs", "viewer"),
        ("/collections", "get", f"{PREFIX}/collections?x=1", "viewer"),
        ("/packages", "get", f"{PREFIX}/packages?per_page=1", "root"),
        ("/packages", "get", f"{PREFIX}/packages?per_page=0", "root"),
        (pkg, "get", f"{PREFIX}/packages/{ours}", "viewer"),
        (pkg, "get", f"{PREFIX}/packages/{theirs}", "viewer"),
        (pkg, "get", f"{PREFIX}/packages/{ours}?page=0", "viewer"),
        (pkg + "/fixity", "post", f"{PREFIX}/packages/{ours}/fixity", "archivist"),
        (pkg + "/fixity", "post", f"{PREFIX}/packages/{ours}/fixity", "viewer"),
        (pkg + "/bag", "get", f"{PREFIX}/packages/{ours}/bag?format=tar", "viewer"),
        (pkg + "/bag", "get", f"{PREFIX}/packages/{ours}/bag?format=rar", "viewer"),
        (pkg + "/files/{path}", "get", f"{PREFIX}/packages/{ours}/files/data/readme.txt", "viewer"),
        (pkg + "/files/{path}", "get", f"{PREFIX}/packages/{ours}/files/data/no.txt", "viewer"),
        ("/jobs", "get", f"{PREFIX}/jobs", "archivist"),
        ("/jobs", "get", f"{PREFIX}/jobs?state=lost", "archivist"),
        ("/me", "get", f"{PREFIX}/me", None),
    ]
    for path, method, url, who in calls:
        check(doc, path, method, api.call(method.upper(), url, who))
    transfer = {"collection": "photos", "name": "box-1", "description": {"title": ["Box"]}}
    made = api.post(f"{PREFIX}/transfers", "archivist", json=transfer)
    for path, method, response in (
        ("/transfers", "post", made),
        ("/transfers", "post", api.post(f"{PREFIX}/transfers", "archivist", json={})),
        ("/transfers", "post", api.post(f"{PREFIX}/transfers", "archivist", data={"a": "b"})),
        ("/transfers/{transfer_id}", "get", api.get(made.get_json()["url"], "archivist")),
        ("/transfers/{transfer_id}", "get", api.get(made.get_json()["url"], "outsider")),
        ("/ingests", "post", api.post(f"{PREFIX}/ingests", "archivist", json={})),
        ("/ingests", "post", api.post(f"{PREFIX}/ingests", "viewer", json={
            "folder": "scans", "path": "a", "collection": "photos"})),
    ):  # fmt: skip
        check(doc, path, method, response)
    job = api.get(f"{PREFIX}/jobs", "archivist").get_json()["items"][0]
    check(doc, "/jobs/{job_id}", "get", api.get(f"{PREFIX}/jobs/{job['id']}", "archivist"))
    check(doc, "/jobs/{job_id}", "get", api.get(f"{PREFIX}/jobs/{job['id']}", "outsider"))
