"""The web catalogue's fixtures: a repository (through the real CLI), the app over it, people
with roles in two organisations, and signed-in test clients.

``site`` is on SQLite; ``site_any`` runs a test on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from preserve.config.settings import Settings
from preserve.web import create_app

from preserve.bootstrap import bootstrap
from preserve.services import accounts
from tests.functional.cli import Repo

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@dataclass
class Site:
    """A repository with organisations ``ours`` (collection ``photos``) and ``theirs``
    (collection ``letters``), and the web app over it."""

    repo: Repo
    settings: Settings
    app: Flask
    users: dict[str, int] = field(default_factory=dict)

    @property
    def application(self) -> Any:
        return self.app.extensions["preserve"]

    def user(
        self,
        name: str,
        role: str | None = "archivist",
        organisation: str = "ours",
        *,
        admin: bool = False,
        locale: str | None = None,
    ) -> str:
        """Make (once) a person with ``role`` in ``organisation``; returns the user name."""
        if name not in self.users:
            created = accounts.create_user(
                self.application,
                name,
                password=PASSWORD,
                is_admin=admin,
                locale=locale,
                memberships={organisation: role} if role else {},
            )
            self.users[name] = created.user_id
        return name

    def client(self, name: str | None = None) -> FlaskClient:
        """A test client, signed in as ``name`` through the real sign-in form (anonymous
        without a name)."""
        client = self.app.test_client()
        if name is not None:
            response = client.post(
                "/sign-in",
                data={"username": name, "password": PASSWORD, "csrf_token": csrf_token(client)},
            )
            assert response.status_code == 302, response.get_data(as_text=True)
        return client

    def ingest(self, delivery: Path, collection: str = "photos", *args: str) -> dict[str, Any]:
        """Ingest a delivery through the CLI (foreground); the new package as ``packages list
        --json`` shows it."""
        before = {p["id"] for p in self.repo.packages()}
        organisation = "ours" if collection == "photos" else "theirs"
        self.repo.run(
            "ingest", delivery, "--collection", collection, "--organisation", organisation, *args
        )
        return next(p for p in self.repo.packages() if p["id"] not in before)


def csrf_token(client: FlaskClient) -> str:
    """The CSRF token of the client's session, read from a page's ``<meta name=csrf-token>``."""
    page = client.get("/sign-in").get_data(as_text=True)
    found = CSRF.search(page)
    assert found, "no csrf-token meta element on /sign-in"
    return found.group(1)


def make_site(tmp_path: Path, database_url: str) -> Site:
    repo = Repo(home=tmp_path / "home", database_url=database_url)
    repo.run("init")
    repo.run("organisations", "add", "ours", "--name", "Our Museum")
    repo.run("organisations", "add", "theirs", "--name", "Their Archive")
    repo.run("collections", "add", "photos", "--organisation", "ours", "--title", "Photographs")
    repo.run("collections", "add", "letters", "--organisation", "theirs", "--title", "Letters")
    settings = Settings.from_env(repo.env)
    app = create_app(settings)
    app.config["TESTING"] = True
    return Site(repo=repo, settings=settings, app=app)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    s = make_site(tmp_path, f"sqlite:///{tmp_path / 'catalogue.sqlite3'}")
    yield s
    s.application.close()


@pytest.fixture
def site_any(tmp_path: Path, database_url: str) -> Iterator[Site]:
    """``site`` on SQLite and on PostgreSQL."""
    s = make_site(tmp_path, database_url)
    yield s
    s.application.close()


__all__ = ["PASSWORD", "Site", "bootstrap", "csrf_token"]
