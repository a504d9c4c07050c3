"""A site whose collection ours/photos is under an agreement whose rule destroys after a year,
approved by ``ours`` (the owner) and ``theirs`` (the custodian), with a package that is due:
for the disposal pages, the API, the authorisation matrix and the browser test."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from preserve.services import agreements
from preserve.services.accounts import principal_for
from tests.integration.disposal_world import make_due
from tests.web.conftest import Site

T0 = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
#: Long after any package of the tests was ingested: its retention is due.
LATER = datetime(2099, 1, 1, 9, tzinfo=UTC)

SPEC: dict[str, Any] = {
    "reference": "DSP-2026-001",
    "kind": "deposit",
    "title": "Working photographs",
    "effective_from": "2026-11-29",
    "parties": [
        {"organisation": "ours", "roles": ["owner_depositor"], "authorities": ["approve_disposal"]},
        {
            "organisation": "theirs",
            "roles": ["custodian"],
            "authorities": ["approve_disposal", "approve_deletion"],
        },
    ],
    "scope": [{"collection": "ours/photos"}],
    "retention": {
        "action": "destroy",
        "trigger": "ingest_date",
        "period": {"value": 1, "unit": "years"},
        "bound": "minimum",
        "motivation": "Working copies are kept one year.",
        "legal_basis": "Selection list item 12",
    },
    "service_level": {"min_copies": 1, "min_distinct_sites": 1, "fixity_interval_days": 90},
    "rights": [{"act": "replicate", "restriction": "allow"}],
    "exit": {
        "recipient": "ours",
        "package_format": "bagit_premis",
        "deadline_days": 90,
        "post_exit_action": "delete_with_certificate",
    },
}


def people(site: Site) -> None:
    """ann and ben (archivists of ours), vic (viewer of ours), carl (archivist of theirs),
    root (a repository admin)."""
    site.user("ann")
    site.user("ben")
    site.user("vic", "viewer")
    site.user("carl", "archivist", "theirs")
    site.user("root", None, admin=True)


def activate(site: Site) -> None:
    """The agreement, agreed and signed by both parties and active."""
    app = site.application

    def who(name: str) -> Any:
        return principal_for(app, site.users[name])

    agreements.create_draft(app, who("ann"), SPEC, now=T0)
    ident = "DSP-2026-001/v1"
    agreements.propose(app, who("ann"), ident, now=T0)
    for name, party in (("ann", "ours"), ("carl", "theirs")):
        agreements.agree(app, who(name), ident, party, now=T0)
    for name, party in (("ann", "ours"), ("carl", "theirs")):
        agreements.sign(app, who(name), ident, party, capacity="director", now=T0)
    agreements.activate(app, who("carl"), ident, now=T0)


def due_package(site: Site, root: Path, title: str = "Harbour") -> str:
    """A package ingested into ours/photos whose retention is due."""
    folder = root / title.lower()
    folder.mkdir(parents=True)
    (folder / "photo.txt").write_text(f"{title}\n", encoding="utf-8")
    made = site.ingest(folder)
    make_due(site.application)
    return str(made["id"])


def setup(site: Site, root: Path) -> str:
    people(site)
    activate(site)
    return due_package(site, root)
