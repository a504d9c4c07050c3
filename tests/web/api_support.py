"""What the API tests share: people with tokens, a package in each organisation, calls."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from preserve.services import tokens
from preserve.services.accounts import principal_for
from tests.web.conftest import Site

PROBLEM = "application/problem+json"


def delivery(root: Path, title: str) -> Path:
    root.mkdir(parents=True)
    (root / "readme.txt").write_text(f"{title}\n", encoding="utf-8")
    (root / "sub").mkdir()
    (root / "sub" / "notes.txt").write_text(f"notes of {title}\n", encoding="utf-8")
    return root


def token_for(site: Site, name: str) -> str:
    text, _ = tokens.create_token(
        site.application, principal_for(site.application, site.users[name]), f"test {name}"
    )
    return text


@dataclass
class ApiSite:
    site: Site
    client: FlaskClient
    tokens: dict[str, str]
    packages: dict[str, dict[str, Any]]

    def call(self, method: str, url: str, who: str | None = "archivist", **kw: Any) -> TestResponse:
        headers = dict(kw.pop("headers", {}))
        if who is not None:
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        return self.client.open(url, method=method, headers=headers, **kw)

    def get(self, url: str, who: str | None = "archivist", **kw: Any) -> TestResponse:
        return self.call("GET", url, who, **kw)

    def post(self, url: str, who: str | None = "archivist", **kw: Any) -> TestResponse:
        return self.call("POST", url, who, **kw)


def api_site(site: Site, tmp_path: Path, *, packages: bool = True) -> ApiSite:
    """People: viewer, archivist and admin of ``ours``, an archivist of ``theirs``
    (``outsider``), a repository admin (``root``); a package in each organisation."""
    site.user("viewer", "viewer")
    site.user("archivist", "archivist")
    site.user("orgadmin", "admin")
    site.user("outsider", "archivist", "theirs")
    site.user("root", None, admin=True)
    found = {}
    if packages:
        found = {
            "ours": site.ingest(delivery(tmp_path / "d-ours", "Harbour"), "photos",
                                "--title", "Harbour photographs"),
            "theirs": site.ingest(delivery(tmp_path / "d-theirs", "Letters"), "letters",
                                  "--title", "Secret letters"),
        }  # fmt: skip
    return ApiSite(
        site=site,
        client=site.app.test_client(),
        tokens={name: token_for(site, name) for name in site.users},
        packages=found,
    )


def assert_problem(response: TestResponse, status: int, *needles: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM, response.mimetype
    body = response.get_json(force=True)
    assert body["status"] == status and body["title"]
    for needle in needles:
        assert needle in response.get_data(as_text=True), (needle, body)
    return body
