"""A catalogue with the three organisations of ``tests/agreement_setup.py`` (museum, artist,
archive; the museum's collection ``photos``) and its people, who can sign in, for the agreement
and hold pages and API."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from preserve.services import accounts, tokens
from tests.agreement_setup import PEOPLE, person, spec
from tests.web.conftest import PASSWORD, Site, csrf_token

__all__ = ["PASSWORD", "add_parties", "form", "person", "spec", "token"]


def add_parties(site: Site) -> None:
    """Organisations museum, artist and archive, the collection museum/photos, and the people
    of :data:`tests.agreement_setup.PEOPLE` (with the test password)."""
    for slug, name in (
        ("museum", "The Museum"),
        ("artist", "Studio An Artist"),
        ("archive", "The Archive Service"),
    ):
        site.repo.run("organisations", "add", slug, "--name", name)
    site.repo.run("collections", "add", "photos", "--organisation", "museum", "--title", "Photos")
    for username, (memberships, admin) in PEOPLE.items():
        made = accounts.create_user(
            site.application,
            username,
            password=PASSWORD,
            display_name=username.title(),
            is_admin=admin,
            memberships=dict(memberships),
        )
        site.users[username] = made.user_id


def form(client: FlaskClient, url: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
    """POST a form with the client's CSRF token."""
    return client.post(url, data={**(data or {}), "csrf_token": csrf_token(client)}, **kw)


def token(site: Site, username: str) -> dict[str, str]:
    """The Authorization header of a fresh personal token of ``username``."""
    secret = tokens.create_token(site.application, person(site.application, username), "t")[0]
    return {"Authorization": f"Bearer {secret}"}
