"""The authorisation matrix (issue 11, "Bad input and safety"): every route of the app × every
kind of person × an object of their own and of the other organisation.

A site with organisations ``ours`` and ``theirs``, a package, a job and an alert in each; people:
anonymous, a viewer, an archivist and an admin of ``ours``, a repository admin, and an archivist
of ``theirs``. Each rule of ``app.url_map`` (static files aside) must have a row in ``TABLE``
saying who may use it; a route added later without a decision fails
:func:`test_every_route_is_classified`. For each row the expected status is worked out from the
person and the object's organisation:

- anonymous: 302 to the sign-in page (pages) or 401 (``/api/`` and ``/uploads/``);
- an object of an organisation the person does not belong to: 404, exactly like a missing one,
  and the response never carries that object's title or id;
- a role too weak (or not a repository admin where one is needed): 403;
- otherwise: 2xx or 3xx.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from preserve.services import jobs, tokens
from preserve.services.access import ROLE_ORDER
from tests.web import matrix_agreements as ma
from tests.web import matrix_disposal as md
from tests.web.conftest import Site, csrf_token, make_site
from tests.web.jobs_support import Objects, no_publish, seed

#: Who is who: name -> (role in ``ours`` or ``theirs``, organisation, repository admin).
PEOPLE: dict[str, tuple[str | None, str, bool]] = {
    "anonymous": (None, "", False),
    "viewer": ("viewer", "ours", False),
    "archivist": ("archivist", "ours", False),
    "orgadmin": ("admin", "ours", False),
    "root": (None, "ours", True),
    "stranger": ("archivist", "theirs", False),
}

ORGS = ("ours", "theirs")
TITLES = {"ours": "Harbour photographs", "theirs": "Secret letters"}


COLLECTIONS = {"ours": "ours/photos", "theirs": "theirs/letters"}


@dataclass
class World:
    site: Site
    objects: Objects
    clients: dict[str, FlaskClient]
    tokens: dict[str, str] = field(default_factory=dict)
    tmp: Path = Path()
    #: per organisation: its id, a payload file of its package, a member (user id)
    organisation_ids: dict[str, int] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)
    members: dict[str, int] = field(default_factory=dict)

    @property
    def app(self) -> Any:
        return self.site.application

    def principal(self, name: str) -> Any:
        from preserve.services import accounts

        found = accounts.principal_for(self.app, self.site.users[name])
        assert found is not None
        return found

    def package(self, org: str) -> str:
        return str(self.objects.packages[org]["id"])

    def job(self, org: str, *, cancelled: bool = False) -> str:
        """A fresh job of ``org``'s package (queued, or cancelled to be retried)."""
        made = jobs.submit(
            self.app,
            "fixity",
            {"selection": {"package": self.package(org)}},
            requested_by="cli",
            package_id=self.package(org),
            publish=no_publish,
        )
        if cancelled:
            jobs.cancel(self.app, made.id)
        return made.id

    def alert(self, org: str) -> int:
        from preserve.services import alerts

        with self.app.uow() as uow:
            made = alerts.record(
                uow, "damaged", f"damage in {TITLES[org]}", package_id=self.package(org)
            )
            assert made is not None
            uow.commit()
            return made.id

    def transfer(self, org: str) -> str:
        """A fresh open transfer into ``org``'s collection, opened by its archivist."""
        from preserve.services import transfers

        return transfers.create_transfer(
            self.app,
            self.principal("archivist" if org == "ours" else "stranger"),
            collection=COLLECTIONS[org],
            name=f"delivery of {org}",
        ).id

    def upload(self, org: str) -> str:
        """A fresh announced (empty) upload of a transfer of ``org``."""
        from preserve.services import transfers

        return transfers.create_upload(
            self.app,
            self.principal("archivist" if org == "ours" else "stranger"),
            transfer_id=self.transfer(org),
            relative_path="scans/a.txt",
            length=5,
        ).id

    def token_id(self, person: str) -> int:
        """A fresh token of ``person``."""
        return tokens.create_token(self.app, self.principal(person), "to revoke")[1].id


#: A path for a route: (world, organisation of the object or None, person asking) -> URL.
PathFor = Callable[[World, str | None, str], str]
Body = Callable[[World, str | None, str], dict[str, Any]]


@dataclass(frozen=True)
class Row:
    """Who may use a route: ``need`` is ``public``, ``signed_in``, a role (``viewer``,
    ``archivist``, ``admin``: in the object's organisation, or in any for a route without an
    object) or ``repository_admin``."""

    need: str
    path: PathFor
    #: the route addresses one organisation's object (run for ``ours`` and ``theirs``)
    scoped: bool = False
    #: form fields (POST); the CSRF token is added
    data: Body | None = None
    #: a JSON body (sent with the X-CSRFToken header outside /api)
    json: Body | None = None
    #: more request headers
    headers: dict[str, str] = field(default_factory=dict)
    #: statuses that count as allowed besides 2xx/3xx (say why in the table)
    also_allowed: tuple[int, ...] = ()
    #: the request changes the client itself (signing out): use a client of its own
    own_client: bool = False
    #: the request signs the person out everywhere: a person of their own, same roles
    own_person: bool = False
    #: a person who holds ``need`` in no organisation is refused (403) before any object is
    #: looked up: nothing to leak, as they are refused whatever the object
    gated: bool = False


def fixed(path: str) -> PathFor:
    return lambda w, org, person: path


def of_org(make: Callable[[World, str], str]) -> PathFor:
    def path(w: World, org: str | None, person: str) -> str:
        assert org is not None
        return make(w, org)

    return path


def scoped(need: str, make: Callable[[World, str], str], **kw: Any) -> Row:
    return Row(need, of_org(make), scoped=True, **kw)


def admin(make: Callable[[World, str], str], **kw: Any) -> Row:
    """An organisation admin's page about one organisation's person or details."""
    return Row("admin", of_org(make), scoped=True, gated=True, **kw)


def pkg(suffix: str = "") -> Callable[[World, str], str]:
    return lambda w, org: f"/packages/{w.package(org)}{suffix}"


def api_pkg(suffix: str = "") -> Callable[[World, str], str]:
    return lambda w, org: f"/api/v1/packages/{w.package(org)}{suffix}"


TUS = {"Tus-Resumable": "1.0.0"}
DESCRIPTION = {"title": "A new title", "language": "en"}

#: (endpoint, method) -> row. Every rule of the app but ``static`` must be here.
TABLE: dict[tuple[str, str], Row] = {
    # --- sign-in, account, language -------------------------------------------------------
    ("auth.sign_in", "GET"): Row("public", fixed("/sign-in")),
    # browsers ask for it on every page, signed in or not: a redirect to the static icon
    ("auth.favicon", "GET"): Row("public", fixed("/favicon.ico")),
    ("auth.sign_in", "POST"): Row(
        "public",
        fixed("/sign-in"),
        data=lambda w, org, person: {"username": "nobody", "password": "wrong"},
        also_allowed=(401,),  # a wrong password is refused with 401, for everyone
    ),
    ("auth.sign_out", "POST"): Row("signed_in", fixed("/sign-out"), own_client=True),
    ("auth.sign_out_everywhere", "POST"): Row(
        "signed_in", fixed("/account/sign-out-everywhere"), own_person=True
    ),
    ("auth.language", "POST"): Row(
        "public", fixed("/language"), data=lambda w, org, person: {"language": "en", "next": "/"}
    ),
    ("auth.account", "GET"): Row("signed_in", fixed("/account")),
    ("auth.account", "POST"): Row(
        "signed_in",
        fixed("/account"),
        data=lambda w, org, person: {"display_name": person, "email": "", "locale": "browser"},
    ),
    ("auth.change_password", "GET"): Row("signed_in", fixed("/account/password")),
    ("auth.change_password", "POST"): Row(
        "signed_in",
        fixed("/account/password"),
        data=lambda w, org, person: {"current": "wrong", "new": "x", "repeat": "y"},
        also_allowed=(400,),  # a wrong current password: refused, nothing changed
    ),
    ("tokens.index", "GET"): Row("signed_in", fixed("/account/tokens")),
    ("tokens.create", "POST"): Row(
        "signed_in", fixed("/account/tokens"), data=lambda w, org, person: {"name": "matrix"}
    ),
    ("tokens.revoke", "POST"): Row(
        "signed_in",
        lambda w, org, person: (
            f"/account/tokens/{w.token_id(person) if person != 'anonymous' else 1}/revoke"
        ),
    ),
    # --- dashboard, collections, packages, package page ------------------------------------
    ("dashboard.index", "GET"): Row("signed_in", fixed("/")),
    ("packages.index", "GET"): Row("signed_in", fixed("/packages?q=photographs")),
    ("collections.index", "GET"): Row("signed_in", fixed("/collections")),
    ("collections.create", "GET"): Row("admin", fixed("/collections/new")),
    ("collections.create", "POST"): Row(
        "admin",
        fixed("/collections/new"),
        data=lambda w, org, person: {
            "slug": f"new-{person}",
            "title": f"New of {person}",
            "organisation": PEOPLE[person][1] or "ours",
            "locations": "default",
        },
    ),
    ("collections.edit", "GET"): scoped(
        "admin", lambda w, org: f"/collections/{COLLECTIONS[org]}/edit"
    ),
    ("collections.edit", "POST"): scoped(
        "admin",
        lambda w, org: f"/collections/{COLLECTIONS[org]}/edit",
        data=lambda w, org, person: {
            "slug": COLLECTIONS[org or "ours"].split("/")[1],
            "title": "Edited",
            "organisation": org or "ours",
            "locations": "default",
        },
    ),
    ("package.show", "GET"): scoped("viewer", pkg()),
    ("package.file", "GET"): scoped(
        "viewer", lambda w, org: f"/packages/{w.package(org)}/files/{w.files[org]}"
    ),
    ("package.download_file", "GET"): scoped(
        "viewer", lambda w, org: f"/packages/{w.package(org)}/files/{w.files[org]}/download"
    ),
    ("package.derivative", "GET"): scoped(
        "viewer", lambda w, org: f"/packages/{w.package(org)}/files/{w.files[org]}/thumbnail"
    ),
    ("package.download_path", "GET"): scoped("viewer", pkg("/download?path=data/readme.txt")),
    ("package.download_bag", "GET"): scoped("viewer", pkg("/bag.zip")),
    ("package.describe", "GET"): scoped("archivist", pkg("/describe")),
    ("package.describe", "POST"): scoped(
        "archivist", pkg("/describe"), data=lambda w, org, person: DESCRIPTION
    ),
    ("package.fixity", "POST"): scoped("archivist", pkg("/fixity")),
    # --- ingest and uploads ---------------------------------------------------------------
    ("ingest.index", "GET"): Row("signed_in", fixed("/ingest")),
    ("ingest.create_transfer", "POST"): scoped(
        "archivist",
        lambda w, org: "/ingest/transfers",
        json=lambda w, org, person: {"collection": COLLECTIONS[org or "ours"], "name": "d"},
    ),
    ("ingest.transfer_json", "GET"): scoped(
        "archivist", lambda w, org: f"/ingest/transfers/{w.transfer(org)}"
    ),
    ("ingest.transfer_status", "GET"): scoped(
        "archivist", lambda w, org: f"/ingest/transfers/{w.transfer(org)}/status"
    ),
    ("ingest.transfer_page", "GET"): scoped(
        "archivist", lambda w, org: f"/ingest/transfers/{w.transfer(org)}/page"
    ),
    ("ingest.complete", "POST"): scoped(
        "archivist",
        lambda w, org: f"/ingest/transfers/{w.transfer(org)}/complete",
        also_allowed=(400,),  # an empty transfer cannot be completed: said in words
    ),
    ("ingest.retry", "POST"): scoped(
        "archivist",
        lambda w, org: f"/ingest/transfers/{w.transfer(org)}/retry",
        also_allowed=(400,),  # an open transfer has nothing to retry: said in words
    ),
    ("ingest.discard", "POST"): scoped(
        "archivist", lambda w, org: f"/ingest/transfers/{w.transfer(org)}/discard"
    ),
    ("ingest.from_folder", "POST"): Row(
        "archivist",
        fixed("/ingest/folder"),
        data=lambda w, org, person: {"folder": "none", "path": "", "collection": "ours/photos"},
        also_allowed=(400, 404),  # no server folders are configured: refused in words
    ),
    ("tus.options", "OPTIONS"): Row("public", fixed("/uploads/"), headers=TUS),
    ("tus.create", "POST"): scoped(
        "archivist",
        lambda w, org: "/uploads/",
        headers=TUS,
    ),
    ("tus.head", "HEAD"): scoped(
        "archivist", lambda w, org: f"/uploads/{w.upload(org)}", headers=TUS
    ),
    ("tus.patch", "PATCH"): scoped(
        "archivist", lambda w, org: f"/uploads/{w.upload(org)}", headers=TUS
    ),
    ("tus.delete", "DELETE"): scoped(
        "archivist", lambda w, org: f"/uploads/{w.upload(org)}", headers=TUS
    ),
    # --- jobs and alerts ----------------------------------------------------------------
    ("jobs.index", "GET"): Row("signed_in", fixed("/jobs")),
    ("jobs.show", "GET"): scoped("viewer", lambda w, org: f"/jobs/{w.objects.jobs[org]}"),
    ("jobs.show_json", "GET"): scoped("viewer", lambda w, org: f"/jobs/{w.objects.jobs[org]}.json"),
    ("jobs.cancel", "POST"): scoped("archivist", lambda w, org: f"/jobs/{w.job(org)}/cancel"),
    ("jobs.retry", "POST"): scoped(
        "archivist", lambda w, org: f"/jobs/{w.job(org, cancelled=True)}/retry"
    ),
    ("jobs.alerts", "GET"): Row("signed_in", fixed("/alerts")),
    ("jobs.acknowledge", "POST"): scoped(
        "archivist", lambda w, org: f"/alerts/{w.alert(org)}/acknowledge"
    ),
    # --- storage locations (repository admins) --------------------------------------------
    ("locations.index", "GET"): Row("repository_admin", fixed("/locations")),
    ("locations.schedule", "POST"): Row(
        "repository_admin",
        fixed("/locations/default/schedule"),
        data=lambda w, org, person: {"interval_days": "400", "bytes_per_hour": ""},
    ),
    # --- people, organisations, audit (organisation admins; repository admins) ------------
    ("admin.users", "GET"): Row("admin", fixed("/admin/people")),
    ("admin.user_new", "GET"): Row("admin", fixed("/admin/people/new")),
    # the organisation is a choice of the form (another one is refused as a field error)
    ("admin.user_new", "POST"): Row(
        "admin",
        fixed("/admin/people/new"),
        data=lambda w, org, person: {
            "username": f"new-{person}".lower(),
            "organisation": str(w.organisation_ids[PEOPLE[person][1] or "ours"]),
            "role": "viewer",
        },
    ),
    ("admin.user", "GET"): admin(lambda w, org: f"/admin/people/{w.members[org]}"),
    ("admin.user_edit", "POST"): admin(
        lambda w, org: f"/admin/people/{w.members[org]}/edit",
        data=lambda w, org, person: {"display_name": "Member", "email": ""},
    ),
    ("admin.user_role", "POST"): admin(
        lambda w, org: f"/admin/people/{w.members[org]}/role",
        data=lambda w, org, person: {
            "organisation": str(w.organisation_ids[org or "ours"]),
            "role": "viewer",
        },
    ),
    ("admin.user_active", "POST"): admin(
        lambda w, org: f"/admin/people/{w.members[org]}/active",
        data=lambda w, org, person: {"active": "1"},
    ),
    ("admin.user_password", "POST"): admin(
        lambda w, org: f"/admin/people/{w.members[org]}/password"
    ),
    ("admin.organisations", "GET"): Row("admin", fixed("/admin/organisations")),
    ("admin.organisations", "POST"): Row(
        "repository_admin",
        fixed("/admin/organisations"),
        data=lambda w, org, person: {"slug": f"org-{person}", "name": f"Org of {person}"},
    ),
    ("admin.organisation", "GET"): admin(
        lambda w, org: f"/admin/organisations/{w.organisation_ids[org]}"
    ),
    ("admin.organisation", "POST"): admin(
        lambda w, org: f"/admin/organisations/{w.organisation_ids[org]}",
        # not a package title: organisation names are no secret (an agreement's editor offers
        # every organisation as a party), titles are
        data=lambda w, org, person: {"name": f"Organisation {org or 'ours'}, renamed"},
    ),
    ("admin.audit", "GET"): Row("admin", fixed("/admin/audit")),
    # --- the JSON API (bearer tokens) -----------------------------------------------------
    ("api-docs.openapi_json", "GET"): Row("public", fixed("/api/v1/openapi.json")),
    ("api.me", "GET"): Row("signed_in", fixed("/api/v1/me")),
    ("api.collections", "GET"): Row("signed_in", fixed("/api/v1/collections")),
    ("api.jobs", "GET"): Row("signed_in", fixed("/api/v1/jobs")),
    ("api.job", "GET"): scoped("viewer", lambda w, org: f"/api/v1/jobs/{w.objects.jobs[org]}"),
    ("api.packages", "GET"): Row("signed_in", fixed("/api/v1/packages")),
    ("api.package", "GET"): scoped("viewer", api_pkg()),
    ("api.package_bag", "GET"): scoped("viewer", api_pkg("/bag?format=zip")),
    ("api.package_file", "GET"): scoped("viewer", api_pkg("/files/data/readme.txt")),
    ("api.fixity", "POST"): scoped("archivist", api_pkg("/fixity")),
    ("api.create_transfer", "POST"): scoped(
        "archivist",
        lambda w, org: "/api/v1/transfers",
        json=lambda w, org, person: {
            "collection": COLLECTIONS[org or "ours"].split("/")[1],
            "organisation": org or "ours",
            "name": "d",
        },
    ),
    ("api.transfer", "GET"): scoped(
        "archivist", lambda w, org: f"/api/v1/transfers/{w.transfer(org)}"
    ),
    ("api.ingest", "POST"): scoped(
        "archivist",
        lambda w, org: "/api/v1/ingests",
        json=lambda w, org, person: {"transfer_id": w.transfer(org or "ours")},
        also_allowed=(400,),  # an empty transfer cannot be ingested: said in words
    ),
}


# --- agreements and holds (issue 12; objects from tests/web/matrix_agreements.py) ----------
# A step is sent to a fresh agreement of the organisation in the state the step needs; the
# person acts for their own organisation (the custodian party, for which a repository admin may
# act as custodian staff). Viewers are refused (403) by the service's own guards.


def agr(state: str = "draft", suffix: str = "") -> Callable[[World, str], str]:
    return lambda w, org: f"/agreements/{ma.agreement(w, org, state)}/v1{suffix}"


def api_agr(state: str = "draft", suffix: str = "") -> Callable[[World, str], str]:
    return lambda w, org: f"/api/v1/agreements/{ma.agreement(w, org, state)}/versions/1{suffix}"


def acting(**fields: str) -> Body:
    """The body of a step: ``party`` is the person's own organisation."""
    return lambda w, org, person: {
        **fields,
        **({"party": ma.party(org, person)} if "party" in fields else {}),
    }


#: step endpoint -> (state it needs, body fields)
STEPS: dict[str, tuple[str, dict[str, str]]] = {
    "propose": ("draft", {}),
    "agree": ("proposed", {"party": ""}),
    "send_back": ("proposed", {"party": "", "comment": "change it"}),
    "sign": ("pending_signature", {"party": "", "capacity": "director"}),
    "activate": ("signed", {}),
    "suspend": ("active", {"reason": "matrix"}),
    "resume": ("suspended", {}),
    "amend": ("active", {"reason": "matrix"}),
    "give_notice": ("active", {"party": "", "reason": "matrix"}),
    "start_exit": ("notice_given", {}),
    "close": ("exiting", {"evidence": "returned"}),
    "withdraw": ("draft", {}),
    "confirm_review": ("under_review", {}),
}


def _stepped(state: str, suffix: str, api: bool) -> Callable[[World, str], str]:
    def make(w: World, org: str) -> str:
        if state == "under_review":
            ref = ma.under_review(w, org)
        else:
            ref = ma.agreement(w, org, "proposed" if state == "pending_signature" else state)
            if state == "pending_signature":
                import preserve.services.agreements as service

                service.agree(w.app, ma.preparer(w, org), ref, org)
                service.agree(w.app, w.principal(ma.NODE_KEEPER), ref, ma.NODE)
        if api:
            return f"/api/v1/agreements/{ref}/versions/1/{suffix}"
        return f"/agreements/{ref}/v1/{suffix}"

    return make


TABLE.update(
    {
        ("agreements.index", "GET"): Row("signed_in", fixed("/agreements?state=draft")),
        ("agreements.create", "GET"): Row("archivist", fixed("/agreements/new"), gated=True),
        ("agreements.create", "POST"): Row(
            "archivist",
            fixed("/agreements/new"),
            gated=True,
            data=lambda w, org, person: {
                "reference": f"NEW-{person}-{next(ma._numbers)}",
                "title": f"New of {person}",
                "kind": "deposit",
            },
        ),
        ("agreements.newest", "GET"): scoped(
            "viewer", lambda w, org: f"/agreements/{ma.agreement(w, org)}"
        ),
        ("agreements.show", "GET"): scoped("viewer", agr()),
        ("agreements.edit", "GET"): scoped("archivist", agr(suffix="/edit")),
        ("agreements.edit_section", "POST"): scoped(
            "archivist",
            agr(suffix="/edit/general"),
            data=lambda w, org, person: {"title": "Edited in the matrix"},
        ),
        ("agreements.attach", "POST"): scoped(
            "archivist",
            agr(suffix="/documents"),
            data=lambda w, org, person: {"kind": "annex", "document": ma.upload()},
        ),
        ("agreements.document", "GET"): scoped(
            "viewer",
            lambda w, org: "/agreements/{}/v1/documents/{}".format(*ma.document(w, org)),
        ),
        **{
            (f"agreements.{step}", "POST"): scoped(
                "archivist",
                _stepped(state, step.replace("_", "-"), api=False),
                data=acting(**fields),
            )
            for step, (state, fields) in STEPS.items()
        },
        ("holds.index", "GET"): Row("signed_in", fixed("/holds?state=all")),
        ("holds.create", "GET"): Row("signed_in", fixed("/holds/new")),
        ("holds.create", "POST"): scoped(
            "archivist",
            lambda w, org: "/holds/new",
            data=lambda w, org, person: {
                "kind": "audit",
                "title": "matrix",
                "reason": "matrix",
                "collections": ma.held_collection(w, org or "ours"),
            },
        ),
        ("holds.show", "GET"): scoped("viewer", lambda w, org: f"/holds/{ma.hold(w, org)}"),
        ("holds.lift", "POST"): scoped(
            "archivist",
            lambda w, org: f"/holds/{ma.hold(w, org)}/lift",
            data=lambda w, org, person: {"reason": "matrix"},
        ),
        # the API
        ("api.agreements", "GET"): Row("signed_in", fixed("/api/v1/agreements")),
        ("api.agreements_awaiting", "GET"): Row("signed_in", fixed("/api/v1/agreements/awaiting")),
        ("api.agreement_create", "POST"): Row(
            "archivist",
            fixed("/api/v1/agreements"),
            gated=True,
            json=lambda w, org, person: ma.spec(PEOPLE[person][1] or "ours", parties=[], exit=None),
        ),
        ("api.agreement", "GET"): scoped(
            "viewer", lambda w, org: f"/api/v1/agreements/{ma.agreement(w, org)}"
        ),
        ("api.agreement_version", "GET"): scoped("viewer", api_agr()),
        ("api.agreement_edit", "PATCH"): scoped(
            "archivist", api_agr(), json=lambda w, org, person: {"title": "Edited"}
        ),
        ("api.agreement_attach", "POST"): scoped(
            "archivist",
            api_agr(suffix="/documents"),
            json=lambda w, org, person: {"name": "terms.txt", "content_base64": "dGVybXMK"},
        ),
        ("api.agreement_document", "GET"): scoped(
            "viewer",
            lambda w, org: "/api/v1/agreements/{}/versions/1/documents/{}".format(
                *ma.document(w, org)
            ),
        ),
        **{
            (f"api.agreement_{step}", "POST"): scoped(
                "archivist",
                _stepped(state, step.replace("_", "-"), api=True),
                json=acting(**fields),
            )
            for step, (state, fields) in STEPS.items()
        },
        ("api.holds", "GET"): Row("signed_in", fixed("/api/v1/holds")),
        ("api.hold_place", "POST"): scoped(
            "archivist",
            lambda w, org: "/api/v1/holds",
            json=lambda w, org, person: {
                "kind": "audit",
                "title": "matrix",
                "reason": "matrix",
                "collections": [ma.held_collection(w, org or "ours")],
            },
        ),
        ("api.hold", "GET"): scoped("viewer", lambda w, org: f"/api/v1/holds/{ma.hold(w, org)}"),
        ("api.hold_lift", "POST"): scoped(
            "archivist",
            lambda w, org: f"/api/v1/holds/{ma.hold(w, org)}/lift",
            json=lambda w, org, person: {"reason": "matrix"},
        ),
    }
)


# --- disposal (issue 12; objects from tests/web/matrix_disposal.py) ------------------------
# Each step is sent to a fresh disposal of the organisation in the state it needs, asked for by
# someone outside the matrix; the person decides for their own organisation (owner and
# custodian of its agreement, so a repository admin may act as custodian staff).


def dsp(state: str, suffix: str = "", api: bool = False) -> Callable[[World, str], str]:
    prefix = "/api/v1/disposals" if api else "/disposal"
    return lambda w, org: f"{prefix}/{md.request(w, org, state)}{suffix}"


def _decision(comment: str = "") -> Body:
    return lambda w, org, person: {"party": org or "ours", "comment": comment or "matrix"}


TABLE.update(
    {
        ("disposal.index", "GET"): Row("signed_in", fixed("/disposal?state=all")),
        ("disposal.create", "GET"): Row("signed_in", fixed("/disposal/new")),
        ("disposal.create", "POST"): scoped(
            "archivist",
            lambda w, org: "/disposal/new",
            data=lambda w, org, person: {
                "kind": "adhoc",
                "packages": md.package(w, org or "ours"),
                "reason": "matrix",
            },
        ),
        ("disposal.show", "GET"): scoped("viewer", dsp("pending")),
        ("disposal.approve", "POST"): scoped(
            "archivist", dsp("pending", "/approve"), data=_decision()
        ),
        ("disposal.reject", "POST"): scoped(
            "archivist", dsp("pending", "/reject"), data=_decision("keep")
        ),
        ("disposal.execute", "POST"): scoped(
            "archivist", dsp("approved", "/execute"), data=lambda w, org, person: {"mode": "now"}
        ),
        ("disposal.restore", "POST"): scoped("archivist", dsp("executed", "/restore")),
        # the requester (outside the matrix), the custodian's staff, an administrator
        ("disposal.withdraw", "POST"): scoped(
            "archivist",
            dsp("approved", "/withdraw"),
            data=lambda w, org, person: {"reason": "matrix"},
        ),
        ("disposal.declaration", "GET"): scoped("viewer", dsp("executed", "/declaration")),
        ("api.disposals", "GET"): Row("signed_in", fixed("/api/v1/disposals")),
        ("api.disposal_propose", "POST"): scoped(
            "archivist",
            lambda w, org: "/api/v1/disposals",
            json=lambda w, org, person: {
                "packages": [md.package(w, org or "ours")],
                "reason": "matrix",
            },
        ),
        ("api.disposal", "GET"): scoped("viewer", dsp("pending", api=True)),
        ("api.disposal_approve", "POST"): scoped(
            "archivist", dsp("pending", "/approve", api=True), json=_decision()
        ),
        ("api.disposal_reject", "POST"): scoped(
            "archivist", dsp("pending", "/reject", api=True), json=_decision("keep")
        ),
        ("api.disposal_execute", "POST"): scoped(
            "archivist",
            dsp("approved", "/execute", api=True),
            json=lambda w, org, person: {"wait": True},
        ),
        ("api.disposal_restore", "POST"): scoped(
            "archivist", dsp("executed", "/restore", api=True)
        ),
        ("api.disposal_withdraw", "POST"): scoped(
            "archivist",
            dsp("approved", "/withdraw", api=True),
            json=lambda w, org, person: {"reason": "matrix"},
        ),
        ("api.disposal_declaration", "GET"): scoped(
            "viewer", dsp("executed", "/declaration", api=True)
        ),
    }
)


# --- compliance, exit status, restore tests (issue 12) --------------------------------------
# Read-only: the overview shows what the person sees; an agreement's page needs it to be visible
# (a party of theirs), an organisation's page a role in it.
TABLE.update(
    {
        ("compliance.index", "GET"): Row("signed_in", fixed("/compliance")),
        ("compliance.agreement", "GET"): scoped(
            "viewer", lambda w, org: f"/compliance/agreements/{ma.agreement(w, org)}"
        ),
        ("compliance.organisation", "GET"): scoped(
            "viewer", lambda w, org: f"/compliance/organisations/{org}"
        ),
        ("compliance.export_csv", "GET"): Row("signed_in", fixed("/compliance.csv")),
        ("compliance.printable", "GET"): Row("signed_in", fixed("/compliance/print")),
        ("api.compliance", "GET"): Row("signed_in", fixed("/api/v1/compliance")),
        ("api.agreement_exit", "GET"): scoped(
            "viewer", lambda w, org: f"/api/v1/agreements/{ma.agreement(w, org)}/exit"
        ),
        ("api.agreement_restore_tests", "GET"): scoped(
            "viewer", lambda w, org: f"/api/v1/agreements/{ma.agreement(w, org)}/restore-tests"
        ),
    }
)


def rules(site: Site) -> Iterator[tuple[str, str, str]]:
    """(endpoint, method, rule) of every route but static files: HEAD and OPTIONS only where a
    route declares them itself (Flask and werkzeug add them to every route)."""
    for rule in site.app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        methods = set(rule.methods or ())
        own = methods - {"HEAD", "OPTIONS"}
        if not own:
            own = methods - ({"OPTIONS"} if "HEAD" in methods else set())
        for method in sorted(own):
            yield rule.endpoint, method, rule.rule


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    import sqlalchemy as sa

    from preserve.catalogue.models import File, Organisation

    tmp = tmp_path_factory.mktemp("matrix")
    site = make_site(tmp, f"sqlite:///{tmp / 'catalogue.sqlite3'}")
    objects = seed(site, tmp)
    clients: dict[str, FlaskClient] = {}
    made: dict[str, str] = {}
    w = World(site, objects, clients, made, tmp)
    for name, (role, org, admin) in PEOPLE.items():
        if name == "anonymous":
            clients[name] = site.client()
            continue
        site.user(name, role, org, admin=admin)
        clients[name] = site.client(name)
        made[name] = tokens.create_token(site.application, w.principal(name), "matrix")[0]
    for org in ORGS:
        site.user(f"member-{org}", "viewer", org)
        w.members[org] = site.users[f"member-{org}"]
    with site.application.uow() as uow:
        for org in ORGS:
            w.organisation_ids[org] = uow.session.scalar(
                sa.select(Organisation.id).where(Organisation.slug == org)
            )
            w.files[org] = uow.session.scalar(
                sa.select(File.id).where(
                    File.package_id == w.package(org), File.path == "data/readme.txt"
                )
            )
    yield w
    site.application.close()


def test_every_route_is_classified(world: World) -> None:
    missing = sorted(
        f"{method} {rule} ({endpoint})"
        for endpoint, method, rule in rules(world.site)
        if (endpoint, method) not in TABLE
    )
    assert not missing, "routes without a row in the authorisation matrix:\n" + "\n".join(missing)
    stale = sorted(
        f"{method} {endpoint}"
        for endpoint, method in TABLE
        if (endpoint, method) not in {(e, m) for e, m, _r in rules(world.site)}
    )
    assert not stale, "rows for routes that no longer exist:\n" + "\n".join(stale)


def expected(row: Row, person: str, org: str | None) -> str:
    """``allowed``, ``sign-in``, ``404`` or ``403``."""
    role, home, admin = PEOPLE[person]
    if row.need == "public":
        return "allowed"
    if person == "anonymous":
        return "sign-in"
    if row.gated and not admin and (role is None or ROLE_ORDER[role] < ROLE_ORDER[row.need]):
        return "403"
    if row.scoped and org is not None and not admin and org != home:
        return "404"
    if row.need == "signed_in":
        return "allowed"
    if row.need == "repository_admin":
        return "allowed" if admin else "403"
    if admin:
        return "allowed"
    assert role is not None
    return "allowed" if ROLE_ORDER[role] >= ROLE_ORDER[row.need] else "403"


def is_api(path: str) -> bool:
    return path.startswith("/api/") or path.startswith("/uploads")


def send(world: World, row: Row, person: str, method: str, org: str | None) -> tuple[str, Any]:
    client = world.clients[person]
    if row.own_client:
        client = world.site.client(None if person == "anonymous" else person)
    if row.own_person and person != "anonymous":
        role, home, admin = PEOPLE[person]
        double = world.site.user(f"{person}-double", role, home, admin=admin)
        client = world.site.client(double)
    path = row.path(world, org, person)
    headers = dict(row.headers)
    if path.startswith("/api/") and person != "anonymous":
        headers["Authorization"] = f"Bearer {world.tokens[person]}"
    if method not in ("GET", "HEAD", "OPTIONS") and not path.startswith("/api/"):
        headers["X-CSRFToken"] = csrf_token(client)
    if (endpoint_of(row) == "tus.create") and org is not None:
        transfer = world.transfer(org)
        headers["Upload-Length"] = "5"
        headers["Upload-Metadata"] = (
            f"transfer_id {b64(transfer)},relativePath {b64('scans/b.txt')}"
        )
    if method == "PATCH" and row.json is None:  # a tus chunk (a JSON PATCH edits an agreement)
        headers["Upload-Offset"] = "0"
        headers["Content-Type"] = "application/offset+octet-stream"
        return path, client.open(path, method=method, data=b"hello", headers=headers)
    if row.json is not None:
        return path, client.open(path, method=method, json=row.json(world, org, person),
                                 headers=headers)  # fmt: skip
    data = row.data(world, org, person) if row.data else {}
    if method != "GET" and "X-CSRFToken" in headers and not path.startswith("/uploads"):
        data = {**data, "csrf_token": headers["X-CSRFToken"]}
    return path, client.open(path, method=method, data=data or None, headers=headers)


def b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


def endpoint_of(row: Row) -> str:
    return next(e for (e, _m), r in TABLE.items() if r is row)


def check(world: World, endpoint: str, method: str) -> list[str]:
    """The differences between what the table expects and what the app does, for every person
    and organisation."""
    row = TABLE[(endpoint, method)]
    problems: list[str] = []
    for person in PEOPLE:
        for org in ORGS if row.scoped else (None,):
            path, response = send(world, row, person, method, org)
            want = expected(row, person, org)
            got = response.status_code
            # a page may name its own address (the language switcher's return path)
            body = response.get_data().decode("utf-8", "replace").replace(path, "")
            label = f"{method} {path} as {person}"
            if want == "sign-in":
                if is_api(path):
                    ok = got == 401
                else:
                    ok = got == 302 and "/sign-in" in response.headers.get("Location", "")
            elif want == "allowed":
                ok = 200 <= got < 400 or got in row.also_allowed
            else:
                ok = got == int(want)
            if not ok:
                problems.append(f"{label}: {got}, expected {want}: {body[:300]!r}")
            # never another organisation's title or identifiers
            if person != "anonymous" and not PEOPLE[person][2]:
                other = "theirs" if PEOPLE[person][1] == "ours" else "ours"
                secrets = [TITLES[other], world.package(other), world.objects.jobs[other]]
                # naming the id that was asked for is no leak: a missing one is named too
                leaked = [s for s in secrets if s in body and s not in path]
                if leaked:
                    problems.append(f"{label}: shows {leaked} of {other}")
    return problems


@pytest.mark.parametrize("endpoint,method", sorted(TABLE), ids=lambda v: str(v))
def test_route(world: World, endpoint: str, method: str) -> None:
    if (endpoint, method) not in {(e, m) for e, m, _r in rules(world.site)}:
        pytest.fail(f"{method} {endpoint} is in the table but not in the app")
    problems = check(world, endpoint, method)
    assert not problems, "\n".join(problems)
