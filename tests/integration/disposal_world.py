"""The repository the disposal tests share: a museum, an artist and an archive service, an
agreement over museum/photos whose rule destroys after a year and gives ``approve_disposal`` to
the museum and the archive, and packages ingested for real onto local folders (and an S3
bucket when a test asks), so their objects can be seen to move."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from preserve.config.settings import Settings

from preserve.bootstrap import Application, bootstrap
from preserve.catalogue.models import Copy, Package, StorageLocation
from preserve.catalogue.retention import PackageRetention
from preserve.ingest import ingest
from preserve.services import accounts, admin, disposal, retention
from preserve.services.access import Principal
from tests.agreement_setup import add_people, make_active, person, spec

#: When the packages are due (a year after their ingest, whatever day the tests run).
LATER = datetime(2099, 1, 1, 9, tzinfo=UTC)

PARTIES: list[dict[str, Any]] = [
    {"organisation": "museum", "roles": ["owner_depositor"], "authorities": ["approve_disposal"]},
    {"organisation": "artist", "roles": ["creator_rights_holder"], "authorities": []},
    {
        "organisation": "archive",
        "roles": ["custodian"],
        "authorities": ["approve_disposal", "approve_deletion"],
    },
]
DESTROY: dict[str, Any] = {
    "action": "destroy",
    "trigger": "ingest_date",
    "period": {"value": 1, "unit": "years"},
    "bound": "minimum",
    "motivation": "Working copies are kept one year.",
    "legal_basis": "Selection list item 12",
}


def make_due(app: Application) -> None:
    """Make every stored package under an agreement due today for real: its ingest is moved
    two years back (the rules here destroy a year after ingest), its retention computed again
    and marked due as the daily task does. A disposal executes only once the due date has
    really come (marking due as of a later day only rehearses)."""
    with app.uow() as uow:
        s = uow.session
        for p in s.scalars(
            sa.select(Package)
            .join(PackageRetention, PackageRetention.package_id == Package.id)
            .where(Package.status == "stored")
        ):
            p.created_at = p.created_at - timedelta(days=731)
        uow.commit()
    retention.recompute(app)
    retention.mark_due(app)


@dataclass
class World:
    app: Application
    tmp: Path
    packages: list[str] = field(default_factory=list)

    def who(self, name: str) -> Principal:
        return person(self.app, name)

    def ingest(self, name: str, files: int = 2, collection: str = "photos") -> str:
        delivery = self.tmp / "deliveries" / name
        delivery.mkdir(parents=True)
        for i in range(files):
            (delivery / f"file{i}.bin").write_bytes(os.urandom(2_000 + i))
        report = ingest(self.app, [delivery], collection=collection, organisation="museum")
        assert not report.failures, report.failures
        pid = report.results[0].package_id
        self.packages.append(pid)
        return pid

    def due(self) -> None:
        retention.mark_due(self.app, now=LATER)

    def retention_state(self, package_id: str) -> str | None:
        with self.app.uow() as uow:
            row = uow.session.get(PackageRetention, package_id)
            return row.state if row else None

    def status(self, package_id: str) -> str:
        with self.app.uow() as uow:
            return uow.session.get_one(Package, package_id).status

    def copies(self, package_id: str) -> list[tuple[str, int]]:
        with self.app.uow() as uow:
            return sorted(
                (name, version)
                for name, version in uow.session.execute(
                    sa.select(StorageLocation.name, Copy.version)
                    .join(StorageLocation, StorageLocation.id == Copy.location_id)
                    .where(Copy.package_id == package_id)
                )
            )

    def keys(self, location: str, prefix: str = "") -> list[str]:
        with self.app.uow() as uow:
            url = uow.session.scalars(
                sa.select(StorageLocation.url).where(StorageLocation.name == location)
            ).one()
        return list(self.app.storage(url).iter_keys(prefix))

    def package_keys(self, location: str, package_id: str) -> list[str]:
        return [k for k in self.keys(location) if f"/{package_id}/" in k]

    def approve_all(self, request_id: int) -> disposal.DisposalInfo:
        disposal.approve(self.app, self.who("mia"), request_id, "museum", comment="fine")
        return disposal.approve(self.app, self.who("root"), request_id, "archive")

    def location(self, name: str, url: str) -> None:
        admin.add_location(self.app, name, url)


def make_world(tmp: Path, database_url: str, **agreement: Any) -> World:
    """Collection museum/photos on 'default' (local) under an active agreement whose rule
    destroys; people of tests/agreement_setup.py plus ``max`` (a second museum archivist)
    and ``carl`` (a second archive archivist)."""
    app = bootstrap(
        Settings.from_env(
            {
                "PRESERVE_HOME": str(tmp / "home"),
                "PRESERVE_DATABASE_URL": database_url,
                "PRESERVE_STORAGE_RETRIES": "1",
                "PRESERVE_STORAGE_BACKOFF": "0.01",
            }
        ),
        actor="archivist",
    )
    admin.initialise(app)
    add_people(app)
    accounts.create_user(app, "max", memberships={"museum": "archivist"})
    accounts.create_user(app, "carl", memberships={"archive": "archivist"})
    admin.add_collection(app, "photos", organisation="museum", locations=("default",))
    make_active(
        app,
        spec(
            parties=agreement.pop("parties", PARTIES),
            retention=agreement.pop("retention", DESTROY),
            **agreement,
        ),
    )
    return World(app, tmp)
