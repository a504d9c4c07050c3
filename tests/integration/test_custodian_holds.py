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


def test_the_parties_see_a_hold_on_the_collection_of_a_package_they_keep(world: World) -> None:
    """A new-user trial: the owner's archivist held the whole collection; the custodian's
    archivist, who sees its packages through the agreement, was told "no active holds" (in
    the list, for the package, and on the web) while a disposal was refused because of it."""
    from preserve.services import admin

    package_id = world.ingest("letters")
    admin.add_collection(world.app, "private", organisation="museum", locations=("default",))
    world.ingest("diary", collection="private")
    placed = holds.place(
        world.app,
        world.who("mia"),
        kind="dispute",
        title="Ownership dispute",
        reason="the heirs contest the deposit",
        collections=["museum/photos"],
        channel="cli",
    )
    private = holds.place(
        world.app,
        world.who("mia"),
        kind="audit",
        title="Internal audit",
        reason="annual",
        collections=["museum/private"],
        channel="cli",
    )

    for name in ("cas", "vic", "arno"):  # the custodian's people, and another party
        who = world.who(name)
        assert [h.id for h in holds.list_holds(world.app, who)] == [placed.id], name
        by_package = holds.list_holds(world.app, who, package=package_id[:8])
        assert [h.id for h in by_package] == [placed.id], name
        in_collection = holds.list_holds(world.app, who, collection="museum/photos")
        assert [h.id for h in in_collection] == [placed.id], name
        shown = holds.show(world.app, who, placed.id)
        assert [(t.type, t.collection) for t in shown.targets] == [("collection", "museum/photos")]
        assert shown.hidden_targets == 0
        # a collection none of whose packages they see stays hidden, as if it did not exist
        with pytest.raises(NotFound, match=f"no hold {private.id}"):
            holds.show(world.app, who, private.id)
        with pytest.raises(NotFound, match="no collection 'museum/private'"):
            holds.list_holds(world.app, who, collection="museum/private")
    # the owner sees both; the package is held for everyone
    assert [h.id for h in holds.list_holds(world.app, world.who("mia"))] == [private.id, placed.id]
    with pytest.raises(OnHold, match="Ownership dispute"):
        disposal.propose(world.app, world.who("mia"), [package_id], kind="adhoc", reason="dup")
    # seeing is not holding: the collection's hold is lifted by the owner's archivists only
    with pytest.raises(NotFound):
        holds.lift(world.app, world.who("cas"), placed.id, reason="no", collection="museum/photos")
    # lifted whole, it says who may lift it (a new-user trial was told to lift its targets one
    # by one, which led to the NotFound above)
    with pytest.raises(
        PermissionDenied,
        match=rf"^cas may not lift hold {placed.id}: a hold is lifted by an archivist of the "
        r"organisation owning what it covers \(custodian staff lift the holds placed on "
        r"packages they keep\)$",
    ):
        holds.lift(world.app, world.who("cas"), placed.id, reason="no")
    assert holds.show(world.app, world.who("mia"), placed.id).state == "active"
