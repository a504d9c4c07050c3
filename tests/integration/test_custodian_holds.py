"""The archive service keeps the packages of an agreement in force: its archivists (the custodian
party) may place and lift holds on them, see those holds, and propose an ad-hoc deletion of a
package they keep is still refused while it is held (trial 12 finding 7: a GDPR request or a
court order often reaches the archive service first, which could dispose of a package but not
hold it). A viewer of the custodian, or a party that is not the custodian, may not; on SQLite
and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from preserve.errors import NotFound, OnHold, PermissionDenied
from preserve.services import accounts, disposal, holds
from tests.integration.disposal_world import World, make_world


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    w = make_world(tmp_path, database_url)
    accounts.create_user(w.app, "vic", memberships={"archive": "viewer"})
    yield w
    w.app.close()


def test_the_custodian_places_sees_and_lifts_a_hold_on_a_package_it_keeps(world: World) -> None:
    package_id = world.ingest("letters")

    placed = holds.place(
        world.app,
        world.who("cas"),
        kind="gdpr_request",
        title="Erasure request 12",
        reason="a person asked to be erased",
        packages=[package_id[:8]],
        channel="cli",
    )

    assert [t.package_id for t in placed.targets] == [package_id]
    assert [h.id for h in holds.list_holds(world.app, world.who("cas"))] == [placed.id]
    assert holds.show(world.app, world.who("cas"), placed.id).targets[0].package_id == package_id
    # the owner sees it too, and the package is held for everyone
    assert [h.id for h in holds.list_holds(world.app, world.who("mia"))] == [placed.id]
    with pytest.raises(OnHold, match="Erasure request 12"):
        disposal.propose(
            world.app, world.who("mia"), [package_id], kind="adhoc", reason="a duplicate"
        )

    lifted = holds.lift(
        world.app, world.who("carl"), placed.id, reason="the request was withdrawn", channel="cli"
    )
    assert lifted.state == "lifted"


def test_who_may_not_hold_a_package_under_the_agreement(world: World) -> None:
    package_id = world.ingest("letters")
    kw = {"kind": "legal", "title": "Court case", "reason": "seized", "packages": [package_id]}

    # a viewer of the custodian sees the package (a party) but may not hold it
    with pytest.raises(PermissionDenied, match="archivist role"):
        holds.place(world.app, world.who("vic"), **kw)
    # the artist's admin is a party, not the custodian: it sees, it may not hold
    with pytest.raises(PermissionDenied, match="archivist role"):
        holds.place(world.app, world.who("arno"), **kw)

    placed = holds.place(world.app, world.who("mia"), **kw)
    with pytest.raises(PermissionDenied):
        holds.lift(world.app, world.who("vic"), placed.id, reason="no")
    assert holds.show(world.app, world.who("mia"), placed.id).state == "active"


def test_a_package_outside_any_agreement_stays_the_owners_alone(world: World) -> None:
    from preserve.services import admin

    admin.add_collection(world.app, "private", organisation="museum", locations=("default",))
    package_id = world.ingest("diary", collection="private")

    with pytest.raises(NotFound, match="that you may see"):
        holds.place(
            world.app,
            world.who("cas"),
            kind="legal",
            title="Court case",
            reason="seized",
            packages=[package_id],
        )
