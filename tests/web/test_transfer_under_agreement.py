"""A web transfer into a collection whose agreement refuses new ingest (issue 12, E1): completing
it is refused with the agreement's reason and nothing is queued; a transfer queued before the
suspension fails with that reason, which the transfer's status shows; on SQLite and PostgreSQL.

The agreement's rows are written directly (its lifecycle is tested in
tests/integration/test_agreements_model.py): only the gate is under test here."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from preserve.catalogue.agreements import Agreement, AgreementScope
from preserve.catalogue.models import Collection, Organisation
from preserve.errors import Conflict
from preserve.services import jobs, transfers
from preserve.services.runner import run_job
from tests.web.conftest import Site
from tests.web.test_transfers import put
from tests.web.uploads_support import open_transfer, principal

REASON = (
    "ingest refused: agreement DEP-2026-007 v1 over ours/photos is suspended: new ingest is "
    "refused until it is resumed (preservation goes on)"
)


@pytest.fixture
def people(site_any: Site) -> Site:
    site_any.user("ann")
    return site_any


def _agreement(site: Site, state: str) -> None:
    """DEP-2026-007 v1 over ours/photos in ``state`` (core statements: the frozen-version guard
    of the ORM is for edits, this writes the state a lifecycle would have reached)."""
    with site.application.uow() as uow:
        s = uow.session
        collection_id = s.scalar(
            sa.select(Collection.id)
            .join(Organisation, Organisation.id == Collection.organisation_id)
            .where(Organisation.slug == "ours", Collection.slug == "photos")
        )
        existing = s.scalar(sa.select(Agreement.id).where(Agreement.reference == "DEP-2026-007"))
        if existing is None:
            s.add(
                Agreement(
                    reference="DEP-2026-007",
                    kind="deposit",
                    title="Deposit of the photos",
                    scopes=[AgreementScope(selector="collection", collection_id=collection_id)],
                )
            )
            s.flush()
        s.execute(
            sa.update(Agreement).where(Agreement.reference == "DEP-2026-007").values(state=state)
        )
        uow.commit()


def test_completing_a_transfer_under_a_suspended_agreement_is_refused(people: Site) -> None:
    app, ann = people.application, principal(people, "ann")
    _agreement(people, "suspended")
    transfer = open_transfer(people)
    put(people, transfer.id, "photos-1923/scan-001.txt", b"one")
    with pytest.raises(Conflict) as refused:
        transfers.complete(app, ann, transfer.id)
    assert str(refused.value) == REASON
    assert transfers.get_transfer(app, ann, transfer.id).state == "open"  # may be retried later
    assert [j for j in jobs.list_jobs(app) if j.kind == "ingest"] == []
    # resumed (active again): the same transfer completes
    _agreement(people, "active")
    done = transfers.complete(app, ann, transfer.id)
    assert done.state == "queued" and done.job_id


def test_a_transfer_queued_before_the_suspension_shows_the_reason(people: Site) -> None:
    app, ann = people.application, principal(people, "ann")
    _agreement(people, "active")
    transfer = open_transfer(people)
    put(people, transfer.id, "photos-1923/scan-001.txt", b"one")
    done = transfers.complete(app, ann, transfer.id)
    assert done.job_id is not None
    _agreement(people, "suspended")
    run_job(app, done.job_id)
    status = transfers.status(app, ann, transfer.id)
    assert status.phase == "failed"
    assert any(REASON in p.message for p in status.problems), status.problems
    assert people.repo.packages() == []
